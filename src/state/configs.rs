//! The config projection: every config's current value and all its past versions.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::events::{Actor, ConfigKind, Envelope, Event};

/// What one version of a config did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    Created,
    Updated,
    Deleted,
}

/// One entry of a config's history. Deletions are versions too, so a name that
/// was deleted and created again keeps one continuous history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigVersion {
    /// 1-based position in this config's history.
    pub version: u32,
    pub seq: u64,
    pub at: u64,
    pub actor: Actor,
    pub change: Change,
    /// The text in force after this version; `None` once deleted.
    pub input: Option<String>,
    /// Seq of the version this one restored, when it was a revert.
    pub restored_from: Option<u64>,
}

/// A config's kind and full history, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigHistory {
    pub kind: ConfigKind,
    pub versions: Vec<ConfigVersion>,
}

impl ConfigHistory {
    /// The newest version, if it is not a deletion.
    pub fn current(&self) -> Option<&ConfigVersion> {
        self.versions.last().filter(|v| v.input.is_some())
    }

    /// The version in force right after `seq` was applied, if the config existed then.
    pub fn as_of(&self, seq: u64) -> Option<&ConfigVersion> {
        let n = self.versions.partition_point(|v| v.seq <= seq);
        n.checked_sub(1)
            .map(|i| &self.versions[i])
            .filter(|v| v.input.is_some())
    }

    pub fn version(&self, version: u32) -> Option<&ConfigVersion> {
        version
            .checked_sub(1)
            .and_then(|i| self.versions.get(i as usize))
    }
}

/// A config as the API and the executors see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigView<'a> {
    pub name: &'a str,
    pub kind: ConfigKind,
    pub input: &'a str,
    pub version: &'a ConfigVersion,
}

/// All configs ever created, by name (including deleted ones, for their history).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Configs {
    by_name: BTreeMap<String, ConfigHistory>,
}

impl Configs {
    pub fn history(&self, name: &str) -> Option<&ConfigHistory> {
        self.by_name.get(name)
    }

    /// Every config ever created, deleted ones included, ordered by name.
    pub fn histories(&self) -> impl Iterator<Item = (&str, &ConfigHistory)> {
        self.by_name.iter().map(|(name, h)| (name.as_str(), h))
    }

    pub fn current(&self, name: &str) -> Option<ConfigView<'_>> {
        let (name, history) = self.by_name.get_key_value(name)?;
        view(name, history, history.current()?)
    }

    /// Configs in force now, ordered by name.
    pub fn live(&self) -> impl Iterator<Item = ConfigView<'_>> {
        self.by_name
            .iter()
            .filter_map(|(name, h)| view(name, h, h.current()?))
    }

    /// Configs in force right after the event `seq` was applied, ordered by name.
    pub fn as_of(&self, seq: u64) -> impl Iterator<Item = ConfigView<'_>> {
        self.by_name
            .iter()
            .filter_map(move |(name, h)| view(name, h, h.as_of(seq)?))
    }

    pub(super) fn apply(&mut self, env: &Envelope) {
        let (name, kind, change, input, restored_from) = match &env.event {
            Event::ConfigCreated { name, kind, input } => (
                name,
                Some(*kind),
                Change::Created,
                Some(input.clone()),
                None,
            ),
            Event::ConfigUpdated {
                name,
                input,
                restored_from,
            } => (
                name,
                None,
                Change::Updated,
                Some(input.clone()),
                *restored_from,
            ),
            Event::ConfigDeleted { name } => (name, None, Change::Deleted, None, None),
            _ => return,
        };
        let history = self
            .by_name
            .entry(name.clone())
            .or_insert_with(|| ConfigHistory {
                kind: kind.unwrap_or_default(),
                versions: Vec::new(),
            });
        if let Some(kind) = kind {
            history.kind = kind;
        }
        let version = u32::try_from(history.versions.len() + 1).unwrap_or(u32::MAX);
        history.versions.push(ConfigVersion {
            version,
            seq: env.seq,
            at: env.at,
            actor: env.actor.clone(),
            change,
            input,
            restored_from,
        });
    }
}

fn view<'a>(
    name: &'a str,
    history: &'a ConfigHistory,
    version: &'a ConfigVersion,
) -> Option<ConfigView<'a>> {
    Some(ConfigView {
        name,
        kind: history.kind,
        input: version.input.as_deref()?,
        version,
    })
}

//! Projections of the event log and the decider.
//!
//! Everything here is pure: [`decide`] turns a command into events against the
//! current [`State`], [`State::apply`] folds one event into the projections. The
//! journal owns the IO around them; the API, the GUI and the offer logic read
//! the projections. [`reports`] maps an executor's report to the commands it
//! causes, [`State::config_set`] is what executors receive. Imports only
//! `events` and `logstash` (for validation).

mod audit;
mod cluster;
mod configs;
mod decide;
pub mod ports;
mod rejection;
pub mod reports;
mod validate;

pub use audit::{AuditIndex, EventFilter};
pub use cluster::{Agent, Cluster, Framework, Leader, Stream, Task};
pub use configs::{Change, ConfigHistory, ConfigVersion, ConfigView, Configs};
pub use decide::decide;
pub use rejection::Rejection;
pub use validate::{
    HostPathPolicy, MAX_ACTOR_CHARS, MAX_NAME_CHARS, RULES_VERSION, validate, validate_actor,
    validate_input, validate_name,
};

use serde::{Deserialize, Serialize};

use crate::events::messages::{ConfigEntry, ConfigSet};
use crate::events::{Actor, ConfigKind, Envelope, ExecutorSettings, Proposal};

/// Everything the log says, folded into the shapes readers need.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Seq of the last applied event (0 for an empty log).
    pub last_seq: u64,
    /// Time of the last applied event (unix ms).
    pub last_at: u64,
    /// Version of the config set: the seq of the last config event.
    pub config_version: u64,
    pub configs: Configs,
    pub settings: Option<ExecutorSettings>,
    pub cluster: Cluster,
    pub audit: AuditIndex,
}

impl State {
    /// The config set executors receive: every live config, at the current
    /// version.
    pub fn config_set(&self) -> ConfigSet {
        ConfigSet {
            version: self.config_version,
            configs: self
                .configs
                .live()
                .map(|c| ConfigEntry {
                    name: c.name.to_owned(),
                    kind: c.kind,
                    input: c.input.to_owned(),
                })
                .collect(),
        }
    }

    /// Folds one event into every projection. Events must come in seq order.
    pub fn apply(&mut self, env: &Envelope) {
        self.apply_projections(env);
        self.audit.apply(env);
    }

    /// Folds one event into every projection but the audit index, whose
    /// size grows with the log: for readers that replay long histories and
    /// do not query the audit trail (the event tools).
    pub fn apply_projections(&mut self, env: &Envelope) {
        debug_assert_eq!(env.seq, self.last_seq + 1, "events applied out of order");
        self.last_seq = env.seq;
        self.last_at = self.last_at.max(env.at);
        if env.event.changes_config_set() {
            self.config_version = env.seq;
        }
        if let crate::events::Event::SettingsChanged { settings } = &env.event {
            self.settings = Some(settings.clone());
        }
        self.configs.apply(env);
        self.cluster.apply(env);
    }

    /// Builds the state from a whole history.
    pub fn replay<'a>(events: impl IntoIterator<Item = &'a Envelope>) -> State {
        let mut state = State::default();
        for env in events {
            state.apply(env);
        }
        state
    }

    /// Decides `proposal` and stamps the resulting events with their seqs and
    /// time, without applying them: the journal makes them durable first.
    ///
    /// Time never goes backwards along the log, even when replicas' clocks
    /// disagree, so a time range always maps to one seq range.
    pub fn envelopes(&self, proposal: &Proposal) -> Result<Vec<Envelope>, Rejection> {
        if proposal.command.rules() >= 2 {
            validate_actor(&proposal.actor)?;
        }
        self.check_source(proposal)?;
        let events = decide(self, &proposal.command)?;
        let at = proposal.at.max(self.last_at);
        Ok(events
            .into_iter()
            .zip(self.last_seq + 1..)
            .map(|(event, seq)| Envelope {
                seq,
                at,
                actor: proposal.actor.clone(),
                event,
            })
            .collect())
    }
}

impl State {
    /// A config the configuration directory put in force is changed only
    /// through its file, so the directory and the API never fight over it.
    fn check_source(&self, proposal: &Proposal) -> Result<(), Rejection> {
        if proposal.actor == Actor::ConfigDir {
            return Ok(());
        }
        let Some(name) = proposal.command.config_name() else {
            return Ok(());
        };
        match self.configs.current(name) {
            Some(c) if c.version.actor == Actor::ConfigDir => Err(Rejection::ManagedByConfigDir {
                name: name.to_owned(),
                file: config_dir_file(c.kind, name),
            }),
            _ => Ok(()),
        }
    }
}

/// The file below the configuration directory that holds a config.
pub fn config_dir_file(kind: ConfigKind, name: &str) -> String {
    match kind {
        ConfigKind::Docker => format!("docker/{name}.conf"),
        ConfigKind::Host => format!("host/{name}.conf"),
    }
}

#[cfg(test)]
mod tests;

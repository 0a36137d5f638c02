//! The audit index: which events concern which type, config and actor, so audit
//! queries read only the events they return.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::events::{Actor, Envelope, EventType};

/// Seqs of events by type, config name and actor, each list ascending.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditIndex {
    by_type: BTreeMap<EventType, Vec<u64>>,
    by_config: BTreeMap<String, Vec<u64>>,
    by_actor: BTreeMap<Actor, Vec<u64>>,
}

impl AuditIndex {
    pub(super) fn apply(&mut self, env: &Envelope) {
        self.by_type
            .entry(env.event.event_type())
            .or_default()
            .push(env.seq);
        if let Some(name) = env.event.config_name() {
            self.by_config
                .entry(name.to_owned())
                .or_default()
                .push(env.seq);
        }
        self.by_actor
            .entry(env.actor.clone())
            .or_default()
            .push(env.seq);
    }

    pub fn by_type(&self, t: EventType) -> &[u64] {
        self.by_type.get(&t).map_or(&[], Vec::as_slice)
    }

    pub fn by_config(&self, name: &str) -> &[u64] {
        self.by_config.get(name).map_or(&[], Vec::as_slice)
    }

    pub fn by_actor(&self, actor: &Actor) -> &[u64] {
        self.by_actor.get(actor).map_or(&[], Vec::as_slice)
    }

    /// Event counts per type, for statistics.
    pub fn type_counts(&self) -> impl Iterator<Item = (EventType, usize)> + '_ {
        self.by_type.iter().map(|(t, seqs)| (*t, seqs.len()))
    }

    /// Event counts per actor, for statistics.
    pub fn actor_counts(&self) -> impl Iterator<Item = (&Actor, usize)> + '_ {
        self.by_actor.iter().map(|(a, seqs)| (a, seqs.len()))
    }
}

/// Which events an audit query wants. Empty lists and `None` mean "any".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    pub types: Vec<EventType>,
    pub config: Option<String>,
    pub actor: Option<Actor>,
}

impl EventFilter {
    pub fn matches(&self, env: &Envelope) -> bool {
        (self.types.is_empty() || self.types.contains(&env.event.event_type()))
            && self
                .config
                .as_deref()
                .is_none_or(|c| env.event.config_name() == Some(c))
            && self.actor.as_ref().is_none_or(|a| &env.actor == a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{ConfigKind, Event};

    fn env(seq: u64, actor: &str, event: Event) -> Envelope {
        Envelope {
            seq,
            at: seq,
            actor: Actor::Api(actor.into()),
            event,
        }
    }

    #[test]
    fn the_index_lists_seqs_by_config_and_actor() {
        let mut index = AuditIndex::default();
        let created = |name: &str| Event::ConfigCreated {
            name: name.into(),
            kind: ConfigKind::Docker,
            input: String::new(),
        };
        let deleted = |name: &str| Event::ConfigDeleted { name: name.into() };
        let log = [
            env(1, "a", created("x")),
            env(2, "a", created("y")),
            env(3, "b", deleted("x")),
            env(4, "a", created("x")),
        ];
        for e in &log {
            index.apply(e);
        }
        assert_eq!(index.by_config("x"), [1, 3, 4]);
        assert_eq!(index.by_actor(&Actor::Api("a".into())), [1, 2, 4]);
        assert_eq!(index.by_type(EventType::ConfigDeleted), [3]);
        let by_config = EventFilter {
            config: Some("x".into()),
            actor: Some(Actor::Api("a".into())),
            ..EventFilter::default()
        };
        let matched: Vec<u64> = log
            .iter()
            .filter(|e| by_config.matches(e))
            .map(|e| e.seq)
            .collect();
        assert_eq!(matched, [1, 4]);
    }
}

//! Counts by type and actor, the first and last event.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use logstash_mesos::events::Envelope;
use logstash_mesos::events::time::to_rfc3339;
use serde::Serialize;

#[derive(Debug, Default, Serialize)]
pub struct Stats {
    pub events: u64,
    pub by_type: BTreeMap<String, u64>,
    pub by_actor: BTreeMap<String, u64>,
    pub first: Option<Edge>,
    pub last: Option<Edge>,
    /// Bytes of the journal on disk, for a data directory.
    pub size_on_disk: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Edge {
    pub seq: u64,
    pub at: String,
    pub actor: String,
    #[serde(rename = "type")]
    pub event_type: String,
}

impl Stats {
    pub fn add(&mut self, env: &Envelope) {
        self.events += 1;
        *self
            .by_type
            .entry(env.event.event_type().as_str().to_owned())
            .or_default() += 1;
        let actor = env.actor.to_string();
        match self.by_actor.get_mut(&actor) {
            Some(n) => *n += 1,
            None => {
                self.by_actor.insert(actor, 1);
            }
        }
        let edge = Edge {
            seq: env.seq,
            at: to_rfc3339(env.at),
            actor: env.actor.to_string(),
            event_type: env.event.event_type().as_str().to_owned(),
        };
        if self.first.is_none() {
            self.first = Some(edge.clone());
        }
        self.last = Some(edge);
    }

    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "Events: {}", self.events);
        let edge = |e: &Option<Edge>| match e {
            Some(e) => format!("{} at {} by {} ({})", e.seq, e.at, e.actor, e.event_type),
            None => "none".to_owned(),
        };
        let _ = writeln!(out, "First:  {}", edge(&self.first));
        let _ = writeln!(out, "Last:   {}", edge(&self.last));
        match self.size_on_disk {
            Some(bytes) => {
                let _ = writeln!(
                    out,
                    "Size on disk: {bytes} bytes ({:.1} MiB)",
                    bytes as f64 / (1024.0 * 1024.0)
                );
            }
            None => {
                let _ = writeln!(out, "Size on disk: unknown (read through the API)");
            }
        }
        let _ = writeln!(out, "\nBy type:");
        for (t, n) in &self.by_type {
            let _ = writeln!(out, "  {n:>10}  {t}");
        }
        let _ = writeln!(out, "\nBy actor:");
        for (a, n) in &self.by_actor {
            let _ = writeln!(out, "  {n:>10}  {a}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logstash_mesos::events::{Actor, Event};

    #[test]
    fn counts_by_type_and_actor() {
        let mut stats = Stats::default();
        for (seq, actor) in (1..).zip([Actor::System, Actor::Replica(1), Actor::Replica(1)]) {
            stats.add(&Envelope {
                seq,
                at: seq * 1000,
                actor,
                event: Event::ConfigDeleted { name: "x".into() },
            });
        }
        assert_eq!(stats.events, 3);
        assert_eq!(stats.by_type["ConfigDeleted"], 3);
        assert_eq!(stats.by_actor["replica:1"], 2);
        assert_eq!(stats.first.as_ref().unwrap().seq, 1);
        assert_eq!(stats.last.as_ref().unwrap().at, "1970-01-01T00:00:03.000Z");
        assert!(stats.to_text().contains("         2  replica:1"));
    }
}

//! What the projections say at one point of the history, in the shapes the
//! API uses: what `replay` prints, `diff` compares and `verify` checks.

use std::fmt::Write as _;

use std::collections::BTreeMap;

use logstash_mesos::events::ExecutorSettings;
use logstash_mesos::events::time::to_rfc3339;
use logstash_mesos::state::State;
use logstash_mesos::views::{ConfigJson, ExecutorJson, ExecutorsJson, HistoryJson, TaskJson};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
pub struct Summary {
    /// The last event included.
    pub seq: u64,
    /// Its time.
    pub at: Option<String>,
    /// The config set version: the seq of the last config event.
    pub config_version: u64,
    /// The configs in force (per-image and host), by name.
    pub configs: Vec<ConfigJson>,
    /// Every config created so far, deleted ones included, with all versions.
    pub histories: Vec<HistoryJson>,
    pub settings: Option<ExecutorSettings>,
    pub settings_fingerprint: Option<String>,
    pub framework: Option<FrameworkSummary>,
    pub leader: Option<LeaderSummary>,
    /// Every agent the framework knows, by agent id.
    pub executors: Vec<ExecutorJson>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameworkSummary {
    pub framework_id: String,
    pub master: String,
    pub replica: u64,
    pub subscribed_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaderSummary {
    pub replica: u64,
    pub term: u64,
}

impl Summary {
    /// The summary of `state`, which holds the events up to `state.last_seq`.
    pub fn of(state: &State) -> Summary {
        let cluster = &state.cluster;
        Summary {
            seq: state.last_seq,
            at: (state.last_seq > 0).then(|| to_rfc3339(state.last_at)),
            config_version: state.config_version,
            configs: state.configs.live().map(ConfigJson::from).collect(),
            histories: state
                .configs
                .histories()
                .map(|(name, h)| HistoryJson::new(name, h))
                .collect(),
            settings: state.settings.clone(),
            settings_fingerprint: state.settings.as_ref().map(ExecutorSettings::fingerprint),
            framework: cluster.framework.as_ref().map(|f| FrameworkSummary {
                framework_id: f.framework_id.clone(),
                master: f.master.clone(),
                replica: f.replica,
                subscribed_at: to_rfc3339(f.subscribed_at),
            }),
            leader: cluster.leader.as_ref().map(|l| LeaderSummary {
                replica: l.replica,
                term: l.term,
            }),
            executors: ExecutorsJson::of(state, &BTreeMap::new()).executors,
        }
    }

    /// The summary as readable text.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = self.write_text(&mut out);
        out
    }

    fn write_text(&self, out: &mut String) -> std::fmt::Result {
        match &self.at {
            Some(at) => writeln!(out, "As of event {} ({at})", self.seq)?,
            None => writeln!(out, "As of event 0 (the empty history)")?,
        }
        writeln!(
            out,
            "\nConfigs in force: {} (config set version {})",
            self.configs.len(),
            self.config_version
        )?;
        for c in &self.configs {
            writeln!(
                out,
                "  {} [{}] version {}, event {}, {} by {}",
                c.name, c.kind, c.version, c.seq, c.updated_at, c.updated_by
            )?;
            for line in c.input.lines() {
                writeln!(out, "  | {line}")?;
            }
        }
        let deleted: Vec<&HistoryJson> = self
            .histories
            .iter()
            .filter(|h| h.versions.last().is_some_and(|v| v.input.is_none()))
            .collect();
        if !deleted.is_empty() {
            writeln!(out, "\nDeleted configs: {}", deleted.len())?;
            for h in deleted {
                if let Some(v) = h.versions.last() {
                    writeln!(
                        out,
                        "  {} [{}] deleted in version {}, event {}, {} by {}",
                        h.name, h.kind, v.version, v.seq, v.at, v.actor
                    )?;
                }
            }
        }
        writeln!(out)?;
        match (&self.settings, &self.settings_fingerprint) {
            (Some(s), Some(f)) => writeln!(
                out,
                "Executor settings: {} cpus, {} MiB memory, {} MiB disk, Logstash heap {} MiB, {:?} (fingerprint {f})",
                f64::from(s.cpus_milli) / 1000.0,
                s.mem_mib,
                s.disk_mib,
                s.logstash_heap_mib,
                s.command
            )?,
            _ => writeln!(out, "Executor settings: not recorded")?,
        }
        match &self.framework {
            Some(f) => writeln!(
                out,
                "Framework: {} (master {}, subscribed {} by replica {})",
                f.framework_id, f.master, f.subscribed_at, f.replica
            )?,
            None => writeln!(out, "Framework: not subscribed")?,
        }
        match &self.leader {
            Some(l) => writeln!(out, "Leader: replica {} (term {})", l.replica, l.term)?,
            None => writeln!(out, "Leader: none recorded")?,
        }
        writeln!(out, "\nExecutors: {}", self.executors.len())?;
        for e in &self.executors {
            let version = match e.applied_version {
                Some(v) if e.up_to_date => format!("config version {v} (up to date)"),
                Some(v) => format!("config version {v} (behind)"),
                None => "no config applied".to_owned(),
            };
            writeln!(out, "  {} ({}): {version}", e.agent_id, e.hostname)?;
            match &e.task {
                Some(t) => writeln!(out, "    task {}: {}", t.task_id, describe(t))?,
                None => writeln!(out, "    no live task")?,
            }
            if let Some(t) = &e.last_ended_task {
                writeln!(out, "    last ended task {}: {}", t.task_id, describe(t))?;
            }
            for s in &e.streams {
                writeln!(
                    out,
                    "    stream {} {} in {} ({}) since {}{}",
                    s.state,
                    s.path,
                    s.container_id,
                    s.image,
                    s.since,
                    s.reason
                        .as_deref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                )?;
            }
        }
        Ok(())
    }
}

/// A task's state, why, and since when.
pub fn describe(t: &TaskJson) -> String {
    let mut s = format!("{} since {}", t.state, t.updated_at);
    if let Some(reason) = &t.reason {
        let _ = write!(s, " ({reason})");
    }
    if let Some(message) = &t.message {
        let _ = write!(s, ": {message}");
    }
    s
}

//! Framework messages between the scheduler and its executors.
//!
//! Mesos passes them as opaque bytes, at most once. The scheduler sends the
//! whole versioned config set and resends it until the executor reports that
//! version, so a lost message only delays delivery. Encoded with [`super::codec`]
//! (schema version in front), so both sides can tell a message from a newer build.

use serde::{Deserialize, Serialize};

use super::ConfigKind;
use super::codec::{self, CodecError};

/// Scheduler → executor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ToExecutor {
    /// The complete config set at `version` (the seq of the last config event).
    Configs(ConfigSet),
    /// Ask for a report now.
    RequestReport,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigSet {
    pub version: u64,
    pub configs: Vec<ConfigEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigEntry {
    pub name: String,
    pub kind: ConfigKind,
    pub input: String,
}

/// Executor → scheduler: what the executor runs now, sent on every change and
/// periodically.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutorReport {
    /// The config set version the executor applied, if it got one.
    pub config_version: Option<u64>,
    pub streams: Vec<StreamReport>,
    pub logstash: LogstashHealth,
    pub totals: Totals,
    /// Recent errors, newest last, for the operator.
    pub errors: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamReport {
    pub container_id: String,
    pub image: String,
    pub path: String,
    pub state: StreamState,
    /// Why the stream failed or stopped, if it did.
    pub reason: Option<String>,
    pub lines: u64,
    pub bytes: u64,
    pub dropped_bytes: u64,
    pub rotations: u64,
    /// Lines written to the spool twice: after an executor crash, those
    /// written after the last checkpoint are read again.
    pub duplicate_lines: u64,
    /// How the file is read (`None` until the stream first ran).
    pub reader: Option<StreamReader>,
    /// How the reader follows the file, or why it is not the direct one.
    pub reader_note: Option<String>,
    /// Files gone before they were read to their end (renamed away or
    /// deleted while the executor was down): a loss of unknown size each.
    pub lost_files: u64,
}

/// The two ways a stream reads its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StreamReader {
    /// Through `/proc/<pid>/root`, nothing run in the container.
    Direct,
    /// `docker exec` of `sh` and `tail -F` in the container.
    Exec,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StreamState {
    Streaming,
    Draining,
    Failed,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogstashHealth {
    /// No Logstash is configured or installed on the agent.
    #[default]
    NotInstalled,
    Starting,
    Running,
    Restarting,
    Failed,
}

/// Counters since the executor started.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub lines: u64,
    pub bytes: u64,
    pub dropped_bytes: u64,
    pub duplicate_lines: u64,
    pub rotations: u64,
}

impl ToExecutor {
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        codec::decode(bytes)
    }
}

impl ExecutorReport {
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        codec::decode(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let set = ToExecutor::Configs(ConfigSet {
            version: 42,
            configs: vec![ConfigEntry {
                name: "nginx".into(),
                kind: ConfigKind::Docker,
                input: "input { file { docker-path => \"/var/log/a\" } }".into(),
            }],
        });
        assert_eq!(ToExecutor::decode(&set.encode()).unwrap(), set);
        let report = ExecutorReport {
            config_version: Some(42),
            streams: vec![StreamReport {
                container_id: "c".into(),
                image: "nginx".into(),
                path: "/var/log/a".into(),
                state: StreamState::Streaming,
                reason: None,
                lines: 3,
                bytes: 30,
                dropped_bytes: 0,
                rotations: 1,
                duplicate_lines: 0,
                reader: Some(StreamReader::Direct),
                reader_note: Some("inotify".into()),
                lost_files: 0,
            }],
            logstash: LogstashHealth::Running,
            totals: Totals::default(),
            errors: vec![],
        };
        assert_eq!(ExecutorReport::decode(&report.encode()).unwrap(), report);
        assert!(ExecutorReport::decode(b"garbage").is_err());
    }
}

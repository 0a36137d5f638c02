//! Framework messages between the scheduler and its executors.
//!
//! Mesos passes them as opaque bytes, at most once. The scheduler sends the
//! whole versioned config set and resends it until the executor reports that
//! version, so a lost message only delays delivery. Encoded with [`super::codec`]
//! (schema version in front), so both sides can tell a message from a newer build.

use serde::{Deserialize, Serialize};

use super::ConfigKind;

/// An executor reports to the scheduler at least this often, besides on
/// every change; the scheduler's live view counts a report overdue by it.
pub const REPORT_EVERY: std::time::Duration = std::time::Duration::from_secs(30);
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
    /// Each config's Logstash pipeline on the agent, from Logstash's
    /// monitoring API; empty from executors older than this field.
    pub pipelines: Vec<PipelineHealth>,
}

/// The reports of executors built before [`ExecutorReport::pipelines`] and
/// the streams' readers (the encoding is not self-describing, so the old
/// shape is decoded apart): schedulers and executors are upgraded one after
/// the other, not together.
#[derive(Serialize, Deserialize)]
struct ExecutorReportV1 {
    config_version: Option<u64>,
    streams: Vec<StreamReportV1>,
    logstash: LogstashHealth,
    totals: Totals,
    errors: Vec<String>,
}

/// [`StreamReport`] before `reader`, `reader_note` and `lost_files`.
#[derive(Serialize, Deserialize)]
struct StreamReportV1 {
    container_id: String,
    image: String,
    path: String,
    state: StreamState,
    reason: Option<String>,
    lines: u64,
    bytes: u64,
    dropped_bytes: u64,
    rotations: u64,
    duplicate_lines: u64,
}

impl From<StreamReportV1> for StreamReport {
    fn from(old: StreamReportV1) -> Self {
        StreamReport {
            container_id: old.container_id,
            image: old.image,
            path: old.path,
            state: old.state,
            reason: old.reason,
            lines: old.lines,
            bytes: old.bytes,
            dropped_bytes: old.dropped_bytes,
            rotations: old.rotations,
            duplicate_lines: old.duplicate_lines,
            reader: None,
            reader_note: None,
            lost_files: 0,
        }
    }
}

/// One config's pipeline in the agent's Logstash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineHealth {
    /// The config's name.
    pub config: String,
    /// Logstash's `pipeline.id`.
    pub id: String,
    pub state: PipelineState,
    /// `events.in` / `events.out` of `_node/stats/pipelines`.
    pub events_in: u64,
    pub events_out: u64,
    /// `reloads.failures`.
    pub reload_failures: u64,
    /// `reloads.last_error.message`, while the last load or reload failed.
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PipelineState {
    /// Written, not yet seen by Logstash (or its API is not up).
    Starting,
    /// Running; with `last_error`, the previous config runs since the
    /// reload of the new one failed.
    Running,
    /// Failed to start: this config ships nothing, the others run on.
    Failed,
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
        codec::decode(bytes).or_else(|e| match codec::decode::<ExecutorReportV1>(bytes) {
            Ok(old) => Ok(ExecutorReport {
                config_version: old.config_version,
                streams: old.streams.into_iter().map(StreamReport::from).collect(),
                logstash: old.logstash,
                totals: old.totals,
                errors: old.errors,
                pipelines: Vec::new(),
            }),
            Err(_) => Err(e),
        })
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
            pipelines: vec![PipelineHealth {
                config: "nginx".into(),
                id: "nginx-1234abcd".into(),
                state: PipelineState::Failed,
                events_in: 0,
                events_out: 0,
                reload_failures: 2,
                last_error: Some("File paths must be absolute".into()),
            }],
        };
        assert_eq!(ExecutorReport::decode(&report.encode()).unwrap(), report);
        assert!(ExecutorReport::decode(b"garbage").is_err());
    }

    #[test]
    fn reports_of_older_executors_still_decode() {
        let old = codec::encode(&ExecutorReportV1 {
            config_version: Some(7),
            streams: vec![StreamReportV1 {
                container_id: "c1".into(),
                image: "nginx".into(),
                path: "/var/log/x.log".into(),
                state: StreamState::Streaming,
                reason: None,
                lines: 10,
                bytes: 100,
                dropped_bytes: 0,
                rotations: 1,
                duplicate_lines: 2,
            }],
            logstash: LogstashHealth::Running,
            totals: Totals::default(),
            errors: vec!["e".into()],
        });
        let report = ExecutorReport::decode(&old).unwrap();
        assert_eq!(report.config_version, Some(7));
        assert_eq!(report.errors, ["e"]);
        assert!(report.pipelines.is_empty());
        let stream = &report.streams[0];
        assert_eq!((stream.path.as_str(), stream.lines), ("/var/log/x.log", 10));
        assert_eq!(stream.duplicate_lines, 2);
        assert_eq!((stream.reader, stream.lost_files), (None, 0));
    }
}

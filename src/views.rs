//! The JSON shapes of the API, built from the projections and the live view,
//! shared with the offline tools (`logstash-mesos-events`) that read the
//! same shapes. Must not import `api`, `journal` or `scheduler`, so the tools
//! do not depend on the HTTP layer.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use std::collections::BTreeMap;

use crate::events::messages::StreamReport;
use crate::events::time::to_rfc3339;
use crate::events::{ConfigKind, Envelope};
use crate::live::Report;
use crate::live::history::RatePoint;
use crate::live::node_query::Page;
use crate::live::nodes::{self, Node};
use crate::state::{Change, ConfigHistory, ConfigVersion, ConfigView, State, Task};

/// Characters left as they are in a config name inside a URL path.
const NAME_IN_PATH: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A config name as one segment of a URL path (the API's and the tools'):
/// names may hold slashes, spaces and unicode.
pub fn name_in_path(name: &str) -> String {
    percent_encoding::utf8_percent_encode(name, NAME_IN_PATH).to_string()
}

/// A config as the seed API returned it (`name`, `input`), plus its version.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConfigJson {
    /// The Docker image the config applies to (or a glob such as `myorg/*`).
    pub name: String,
    /// The Logstash config snippet.
    pub input: String,
    /// `docker` (per image) or `host` (every agent).
    pub kind: String,
    /// Position of this version in the config's history (1-based).
    pub version: u32,
    /// Seq of the event that made this version.
    pub seq: u64,
    pub updated_at: String,
    pub updated_by: String,
}

impl From<ConfigView<'_>> for ConfigJson {
    fn from(view: ConfigView<'_>) -> Self {
        ConfigJson {
            name: view.name.to_owned(),
            input: view.input.to_owned(),
            kind: kind_name(view.kind).to_owned(),
            version: view.version.version,
            seq: view.version.seq,
            updated_at: to_rfc3339(view.version.at),
            updated_by: view.version.actor.to_string(),
        }
    }
}

pub fn kind_name(kind: ConfigKind) -> &'static str {
    match kind {
        ConfigKind::Docker => "docker",
        ConfigKind::Host => "host",
    }
}

/// Body of `POST /api/configs`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewConfig {
    pub name: String,
    pub input: String,
}

/// Body of `PUT /api/configs/{name}`. A `name`, if given, must equal the one in
/// the URL: configs are not renamed.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ConfigUpdate {
    pub name: Option<String>,
    pub input: String,
}

/// Body of `POST /api/configs/{name}/revert`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RevertRequest {
    /// The version to make current again.
    pub version: u32,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Deleted {
    pub name: String,
    pub deleted: bool,
    pub seq: u64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VersionJson {
    pub version: u32,
    pub seq: u64,
    pub at: String,
    pub actor: String,
    /// `created`, `updated` or `deleted`.
    pub change: String,
    /// The config text after this version; absent for a deletion.
    pub input: Option<String>,
    /// Seq of the version this one restored, for a revert.
    pub restored_from: Option<u64>,
}

impl From<&ConfigVersion> for VersionJson {
    fn from(v: &ConfigVersion) -> Self {
        VersionJson {
            version: v.version,
            seq: v.seq,
            at: to_rfc3339(v.at),
            actor: v.actor.to_string(),
            change: match v.change {
                Change::Created => "created",
                Change::Updated => "updated",
                Change::Deleted => "deleted",
            }
            .to_owned(),
            input: v.input.clone(),
            restored_from: v.restored_from,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct HistoryJson {
    pub name: String,
    pub kind: String,
    /// Every version, oldest first.
    pub versions: Vec<VersionJson>,
}

impl HistoryJson {
    pub fn new(name: &str, history: &ConfigHistory) -> Self {
        HistoryJson {
            name: name.to_owned(),
            kind: kind_name(history.kind).to_owned(),
            versions: history.versions.iter().map(VersionJson::from).collect(),
        }
    }
}

/// One event of the audit history.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventJson {
    pub seq: u64,
    /// RFC 3339, UTC.
    pub at: String,
    /// Unix milliseconds.
    pub at_ms: u64,
    /// Who caused it: `api:<token label>`, `config-dir`, `replica:<id>`,
    /// `executor:<agent id>` or `system`.
    pub actor: String,
    #[serde(rename = "type")]
    pub event_type: String,
    /// The config the event is about, if any.
    pub config: Option<String>,
    /// The event's fields.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

impl From<&Envelope> for EventJson {
    fn from(env: &Envelope) -> Self {
        // Events serialize externally tagged: {"Type": {fields}}; keep the fields.
        let data = match serde_json::to_value(&env.event) {
            Ok(serde_json::Value::Object(map)) => {
                map.into_iter().next().map(|(_, v)| v).unwrap_or_default()
            }
            Ok(other) => other,
            Err(_) => serde_json::Value::Null,
        };
        EventJson {
            seq: env.seq,
            at: to_rfc3339(env.at),
            at_ms: env.at,
            actor: env.actor.to_string(),
            event_type: env.event.event_type().as_str().to_owned(),
            config: env.event.config_name().map(str::to_owned),
            data,
        }
    }
}

impl EventJson {
    /// The envelope this was made from: the tools read the API's events and
    /// exports in this shape, and an import must give back the same history.
    pub fn to_envelope(&self) -> Result<Envelope, String> {
        let actor = self.actor.parse().map_err(|e| format!("{e}"))?;
        let tagged = serde_json::json!({ self.event_type.as_str(): self.data });
        let event = serde_json::from_value(tagged)
            .map_err(|e| format!("{} event does not decode: {e}", self.event_type))?;
        Ok(Envelope {
            seq: self.seq,
            at: self.at_ms,
            actor,
            event,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ExecutorsJson {
    /// The current config set version; executors that applied it are up to date.
    pub config_version: u64,
    pub executors: Vec<ExecutorJson>,
    /// Executors that pass the filters, on all pages.
    #[serde(default)]
    pub total: usize,
    /// Pass as `cursor` (with the same sort and filters) for the next page;
    /// absent on the last page.
    #[serde(default)]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ExecutorJson {
    pub agent_id: String,
    pub hostname: String,
    /// Our live task on the agent, if any.
    pub task: Option<TaskJson>,
    /// The last of our tasks on the agent that ended.
    pub last_ended_task: Option<TaskJson>,
    pub applied_version: Option<u64>,
    pub up_to_date: bool,
    /// Empty when asked for without streams (`streams=false`).
    pub streams: Vec<StreamJson>,
    /// Streams on the agent, failed ones included.
    #[serde(default)]
    pub stream_count: usize,
    #[serde(default)]
    pub failed_streams: usize,
    /// From the latest report; absent until the executor reported.
    pub report: Option<ReportJson>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TaskJson {
    pub task_id: String,
    pub executor_id: String,
    pub state: String,
    pub reason: Option<String>,
    pub message: Option<String>,
    /// Whether the executor runs with the current settings.
    pub current_settings: bool,
    pub launched_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StreamJson {
    pub container_id: String,
    pub image: String,
    pub path: String,
    /// `started` or `failed`.
    pub state: String,
    pub reason: Option<String>,
    pub since: String,
    pub lines: Option<u64>,
    pub bytes: Option<u64>,
    pub dropped_bytes: Option<u64>,
    pub rotations: Option<u64>,
    /// `direct` or `exec`, as the executor last reported.
    #[serde(default)]
    pub reader: Option<String>,
    /// How the reader follows the file, or why it is the exec reader.
    #[serde(default)]
    pub reader_note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReportJson {
    pub received_at: String,
    /// `NotInstalled`, `Starting`, `Running`, `Restarting`, `Failed`.
    pub logstash: String,
    pub lines: u64,
    pub bytes: u64,
    pub dropped_bytes: u64,
    pub duplicate_lines: u64,
    pub rotations: u64,
    pub errors: Vec<String>,
    /// Since the executor's previous report; null until it reported twice.
    #[serde(default)]
    pub lines_per_second: Option<f64>,
    #[serde(default)]
    pub bytes_per_second: Option<f64>,
    #[serde(default)]
    pub dropped_bytes_per_second: Option<f64>,
    /// Each config's Logstash pipeline on the agent.
    #[serde(default)]
    pub pipelines: Vec<PipelineJson>,
}

/// One config's pipeline in an agent's Logstash, from its monitoring API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PipelineJson {
    pub config: String,
    /// Logstash's `pipeline.id`.
    pub id: String,
    /// `Starting`, `Running` or `Failed`.
    pub state: String,
    pub events_in: u64,
    pub events_out: u64,
    pub reload_failures: u64,
    /// Why the last load or reload failed, while it did.
    pub last_error: Option<String>,
}

impl ExecutorsJson {
    /// The executors as the projections say, with the live counters of the
    /// latest `reports` (by agent id); without reports, what the log alone says.
    pub fn of(s: &State, reports: &BTreeMap<String, Report>) -> ExecutorsJson {
        let no_rates = BTreeMap::new();
        let nodes = nodes::nodes(s, reports, &no_rates, 0);
        let all = Page {
            indices: (0..nodes.len()).collect(),
            total: nodes.len(),
            next_cursor: None,
        };
        ExecutorsJson::page(s, &nodes, all, true)
    }

    /// The `page` of `nodes`, in its order, with or without each one's
    /// `streams`.
    pub fn page(s: &State, nodes: &[Node<'_>], page: Page, streams: bool) -> ExecutorsJson {
        let current = s.launch_fingerprint();
        let executors = page
            .indices
            .iter()
            .filter_map(|i| nodes.get(*i))
            .map(|node| ExecutorJson::of(node, s, current.as_deref(), streams))
            .collect();
        ExecutorsJson {
            config_version: s.config_version,
            executors,
            total: page.total,
            next_cursor: page.next_cursor,
        }
    }

    /// Without what only the latest reports add: what a replay of the log
    /// can be compared with.
    pub fn without_live_counters(mut self) -> ExecutorsJson {
        for e in &mut self.executors {
            e.report = None;
            for st in &mut e.streams {
                st.lines = None;
                st.bytes = None;
                st.dropped_bytes = None;
                st.rotations = None;
                st.reader = None;
                st.reader_note = None;
            }
        }
        self
    }
}

impl ExecutorJson {
    /// `node` in JSON; `current` is the fingerprint of the current settings.
    pub fn of(node: &Node<'_>, s: &State, current: Option<&str>, streams: bool) -> ExecutorJson {
        let task_json = |t: &Task| TaskJson {
            task_id: t.task_id.clone(),
            executor_id: t.executor_id.clone(),
            state: format!("{:?}", t.state),
            reason: t.reason.clone(),
            message: t.message.clone(),
            current_settings: current.is_none_or(|f| f == t.fingerprint),
            launched_at: to_rfc3339(t.launched_at),
            updated_at: to_rfc3339(t.updated_at),
        };
        let reported = |container: &str, path: &str| -> Option<&StreamReport> {
            node.report.and_then(|r| {
                r.report
                    .streams
                    .iter()
                    .find(|st| st.container_id == container && st.path == path)
            })
        };
        let agent = node.agent;
        ExecutorJson {
            agent_id: node.agent_id.to_owned(),
            hostname: agent.hostname.clone(),
            task: node.task.map(task_json),
            last_ended_task: agent.last_ended_task.as_ref().map(task_json),
            applied_version: agent.applied_version,
            up_to_date: agent.applied_version == Some(s.config_version),
            streams: agent
                .streams
                .iter()
                .filter(|_| streams)
                .map(|((container_id, path), st)| {
                    let r = reported(container_id, path);
                    StreamJson {
                        container_id: container_id.clone(),
                        image: st.image.clone(),
                        path: path.clone(),
                        state: format!("{:?}", st.state).to_lowercase(),
                        reason: st.reason.clone(),
                        since: to_rfc3339(st.since),
                        lines: r.map(|r| r.lines),
                        bytes: r.map(|r| r.bytes),
                        dropped_bytes: r.map(|r| r.dropped_bytes),
                        rotations: r.map(|r| r.rotations),
                        reader: r
                            .and_then(|r| r.reader)
                            .map(|k| format!("{k:?}").to_lowercase()),
                        reader_note: r.and_then(|r| r.reader_note.clone()),
                    }
                })
                .collect(),
            stream_count: node.streams(),
            failed_streams: node.failed_streams(),
            report: node.report.map(|r| report_json(r, node.rates)),
        }
    }
}

fn report_json(r: &Report, rates: Option<&RatePoint>) -> ReportJson {
    let t = &r.report.totals;
    ReportJson {
        received_at: to_rfc3339(r.received_at),
        logstash: format!("{:?}", r.report.logstash),
        lines: t.lines,
        bytes: t.bytes,
        dropped_bytes: t.dropped_bytes,
        duplicate_lines: t.duplicate_lines,
        rotations: t.rotations,
        errors: r.report.errors.clone(),
        lines_per_second: rates.and_then(|p| p.lines_per_second),
        bytes_per_second: rates.and_then(|p| p.bytes_per_second),
        dropped_bytes_per_second: rates.and_then(|p| p.dropped_bytes_per_second),
        pipelines: r
            .report
            .pipelines
            .iter()
            .map(|p| PipelineJson {
                config: p.config.clone(),
                id: p.id.clone(),
                state: format!("{:?}", p.state),
                events_in: p.events_in,
                events_out: p.events_out,
                reload_failures: p.reload_failures,
                last_error: p.last_error.clone(),
            })
            .collect(),
    }
}

/// A page of the audit history.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventPage {
    pub events: Vec<EventJson>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
    /// Seq of the newest event in the log when the page was read.
    pub last_seq: u64,
}

/// Body of `POST /api/configs/validate`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ValidateRequest {
    /// The Logstash config text to check.
    pub input: String,
    /// A config name to check as well, if given.
    pub name: Option<String>,
    /// `docker` (a per-image config, the default) or `host` (the host config).
    pub kind: Option<String>,
}

/// Answer of `POST /api/configs/validate` for a config that would be accepted.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Validated {
    pub valid: bool,
    /// Number of lines of the input.
    pub lines: usize,
    /// The `docker-path` settings: the files streamed out of matching containers.
    pub docker_paths: Vec<String>,
    /// The `host-path` settings: files on the agents themselves (host config).
    pub host_paths: Vec<String>,
    /// The plugins used, in order of appearance (codecs included).
    pub plugins: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Actor, Event, ExecutorCommand, ExecutorSettings, StreamChange};

    #[test]
    fn events_round_trip_through_their_json() {
        let events = [
            Event::ConfigUpdated {
                name: "my/app:1 ü".into(),
                input: "input {\n}\n".into(),
                restored_from: Some(3),
            },
            Event::SettingsChanged {
                settings: ExecutorSettings {
                    cpus_milli: 200,
                    mem_mib: 256,
                    disk_mib: 0,
                    logstash_heap_mib: 128,
                    command: ExecutorCommand::Binary {
                        path: "/usr/bin/x".into(),
                        uri: None,
                    },
                },
            },
            Event::StreamsChanged {
                agent_id: "a".into(),
                container_id: "c".into(),
                image: "i".into(),
                path: "/p".into(),
                change: StreamChange::Failed,
                reason: Some("gone".into()),
            },
        ];
        for (seq, event) in (1..).zip(events) {
            let env = Envelope {
                seq,
                at: 1_700_000_000_123,
                actor: Actor::Executor("agent:1".into()),
                event,
            };
            let json = serde_json::to_string(&EventJson::from(&env)).unwrap();
            let back: EventJson = serde_json::from_str(&json).unwrap();
            assert_eq!(back.to_envelope().unwrap(), env);
        }
        let mut bad = EventJson::from(&Envelope {
            seq: 1,
            at: 0,
            actor: Actor::System,
            event: Event::ConfigDeleted { name: "x".into() },
        });
        bad.event_type = "NoSuchEvent".into();
        assert!(bad.to_envelope().unwrap_err().contains("NoSuchEvent"));
    }
}

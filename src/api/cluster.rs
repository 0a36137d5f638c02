//! The framework's registration and the executors: `GET /api/framework`,
//! `GET /api/executors`. The projections say what runs where; the latest
//! executor reports add the live counters.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::events::messages::{LogstashHealth, StreamReport};
use crate::events::time::to_rfc3339;
use crate::scheduler::fingerprint::fingerprint;
use crate::scheduler::live::Report;
use crate::state::Task;

use super::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct FrameworkJson {
    /// The FrameworkID Mesos assigned, once subscribed.
    pub framework_id: Option<String>,
    /// The master of the last recorded subscription.
    pub master: Option<String>,
    pub subscribed_at: Option<String>,
    /// The replica that recorded the last subscription.
    pub replica: Option<u64>,
    pub connection: ConnectionJson,
    /// Fingerprint of the current executor settings.
    pub settings_fingerprint: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionJson {
    /// `inactive`, `connecting`, `subscribed`, `disconnected`, `failed_over`, `removed`.
    pub state: String,
    pub master: Option<String>,
    pub since: Option<String>,
    pub last_error: Option<String>,
    pub suppressed: bool,
}

/// The framework's registration with Mesos and this replica's connection.
#[utoipa::path(get, path = "/api/framework", responses((status = 200, body = FrameworkJson)))]
pub async fn framework(State(app): State<AppState>) -> Json<FrameworkJson> {
    let connection = app.live.connection();
    let (framework, fingerprint) = app.journal.read(|s| {
        (
            s.cluster.framework.clone(),
            s.settings.as_ref().map(fingerprint),
        )
    });
    Json(FrameworkJson {
        framework_id: framework.as_ref().map(|f| f.framework_id.clone()),
        master: framework.as_ref().map(|f| f.master.clone()),
        subscribed_at: framework.as_ref().map(|f| to_rfc3339(f.subscribed_at)),
        replica: framework.as_ref().map(|f| f.replica),
        connection: ConnectionJson {
            state: serde_json::to_value(connection.state)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            master: connection.master,
            since: (connection.since > 0).then(|| to_rfc3339(connection.since)),
            last_error: connection.last_error,
            suppressed: connection.suppressed,
        },
        settings_fingerprint: fingerprint,
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExecutorsJson {
    /// The current config set version; executors that applied it are up to date.
    pub config_version: u64,
    pub executors: Vec<ExecutorJson>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExecutorJson {
    pub agent_id: String,
    pub hostname: String,
    /// Our live task on the agent, if any.
    pub task: Option<TaskJson>,
    /// The last of our tasks on the agent that ended.
    pub last_ended_task: Option<TaskJson>,
    pub applied_version: Option<u64>,
    pub up_to_date: bool,
    pub streams: Vec<StreamJson>,
    /// From the latest report; absent until the executor reported.
    pub report: Option<ReportJson>,
}

#[derive(Debug, Serialize, ToSchema)]
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

#[derive(Debug, Serialize, ToSchema)]
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
}

#[derive(Debug, Serialize, ToSchema)]
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
}

/// Every agent we know of: our task there, its config version and its streams.
#[utoipa::path(get, path = "/api/executors", responses((status = 200, body = ExecutorsJson)))]
pub async fn executors(State(app): State<AppState>) -> Json<ExecutorsJson> {
    let reports = app.live.reports();
    Json(app.journal.read(|s| {
        let current = s.settings.as_ref().map(fingerprint);
        let task_json = |t: &Task| TaskJson {
            task_id: t.task_id.clone(),
            executor_id: t.executor_id.clone(),
            state: format!("{:?}", t.state),
            reason: t.reason.clone(),
            message: t.message.clone(),
            current_settings: current.as_deref().is_none_or(|f| f == t.fingerprint),
            launched_at: to_rfc3339(t.launched_at),
            updated_at: to_rfc3339(t.updated_at),
        };
        let executors = s
            .cluster
            .agents
            .iter()
            .map(|(agent_id, agent)| {
                let report = reports.get(agent_id);
                let reported = |container: &str, path: &str| -> Option<&StreamReport> {
                    report.and_then(|r| {
                        r.report
                            .streams
                            .iter()
                            .find(|st| st.container_id == container && st.path == path)
                    })
                };
                ExecutorJson {
                    agent_id: agent_id.clone(),
                    hostname: agent.hostname.clone(),
                    task: s.cluster.tasks_on(agent_id).last().map(task_json),
                    last_ended_task: agent.last_ended_task.as_ref().map(task_json),
                    applied_version: agent.applied_version,
                    up_to_date: agent.applied_version == Some(s.config_version),
                    streams: agent
                        .streams
                        .iter()
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
                            }
                        })
                        .collect(),
                    report: report.map(report_json),
                }
            })
            .collect();
        ExecutorsJson {
            config_version: s.config_version,
            executors,
        }
    }))
}

fn report_json(r: &Report) -> ReportJson {
    let t = &r.report.totals;
    ReportJson {
        received_at: to_rfc3339(r.received_at),
        logstash: match r.report.logstash {
            LogstashHealth::NotInstalled => "NotInstalled",
            LogstashHealth::Starting => "Starting",
            LogstashHealth::Running => "Running",
            LogstashHealth::Restarting => "Restarting",
            LogstashHealth::Failed => "Failed",
        }
        .to_owned(),
        lines: t.lines,
        bytes: t.bytes,
        dropped_bytes: t.dropped_bytes,
        duplicate_lines: t.duplicate_lines,
        rotations: t.rotations,
        errors: r.report.errors.clone(),
    }
}

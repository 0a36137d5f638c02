//! The framework's registration and the executors: `GET /api/framework`,
//! `GET /api/executors` (filtered, sorted, paged) and
//! `GET /api/executors/summary`. The projections say what runs where; the
//! latest executor reports and their history add the live counters.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Serialize;
use utoipa::ToSchema;

use crate::events::ExecutorSettings;
use crate::events::time::now_millis;
use crate::events::time::to_rfc3339;
use crate::live::Report;
use crate::live::history::RatePoint;
use crate::live::node_query::{self, Params};
use crate::live::nodes::{Node, nodes};
use crate::live::summary::{Summary, summarize};
use crate::state::State as Projections;

use super::AppState;
use super::conditional;
use super::error::ApiError;
use super::extract::QueryParams;
use crate::views::ExecutorsJson;

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

/// Where the configs listen: `GET /api/endpoints`.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointsJson {
    pub endpoints: Vec<EndpointJson>,
}

/// One config that listens on the network.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointJson {
    pub config: String,
    pub ports: Vec<ListenPortJson>,
    /// Agents whose running executor holds the config's ports.
    pub agents: Vec<EndpointAgentJson>,
    /// Agents that get no executor because their offers lack some of the
    /// config's ports.
    pub unavailable: Vec<UnavailableJson>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UnavailableJson {
    pub agent_id: String,
    pub hostname: String,
    /// Why, e.g. `the agent's offers do not hold port 40000`.
    pub reason: String,
    /// When the last such offer was declined.
    pub since: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ListenPortJson {
    pub port: u16,
    /// `tcp` or `udp`.
    pub protocol: String,
    /// The input plugin that listens.
    pub plugin: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointAgentJson {
    pub agent_id: String,
    pub hostname: String,
    /// `host:port`, one per port.
    pub addresses: Vec<String>,
}

/// Per config that listens on a port (`port =>` of a network input), the
/// agents where it listens and at which `host:port`: those whose executor
/// runs with the current ports reserved from Mesos.
#[utoipa::path(get, path = "/api/endpoints", responses((status = 200, body = EndpointsJson)))]
pub async fn endpoints(State(app): State<AppState>) -> Json<EndpointsJson> {
    let unavailable = app.live.ports_unavailable();
    Json(app.journal.read(|s| endpoints_of(s, &unavailable)))
}

fn endpoints_of(
    s: &Projections,
    unavailable: &BTreeMap<String, crate::live::PortsUnavailable>,
) -> EndpointsJson {
    use crate::events::TaskState;
    use crate::state::ports;
    let declared = ports::declared(&s.config_set());
    let current = s.launch_fingerprint();
    let holding: Vec<(&String, &str)> = s
        .cluster
        .tasks
        .values()
        .filter(|t| t.state == TaskState::Running)
        .filter(|t| current.as_deref().is_none_or(|f| f == t.fingerprint))
        .filter_map(|t| {
            let agent = s.cluster.agents.get(&t.agent_id)?;
            Some((&t.agent_id, agent.hostname.as_str()))
        })
        .collect();
    let mut by_config: BTreeMap<&str, Vec<&ports::Declared>> = BTreeMap::new();
    for d in &declared {
        by_config.entry(d.config.as_str()).or_default().push(d);
    }
    EndpointsJson {
        endpoints: by_config
            .into_iter()
            .map(|(config, ports)| {
                let numbers =
                    ports::numbers(&ports.iter().map(|d| (*d).clone()).collect::<Vec<_>>());
                EndpointJson {
                    config: config.to_owned(),
                    ports: ports
                        .iter()
                        .map(|d| ListenPortJson {
                            port: d.port,
                            protocol: d.protocol.to_owned(),
                            plugin: d.plugin.clone(),
                        })
                        .collect(),
                    agents: holding
                        .iter()
                        .map(|(agent_id, hostname)| EndpointAgentJson {
                            agent_id: (*agent_id).clone(),
                            hostname: (*hostname).to_owned(),
                            addresses: numbers.iter().map(|p| format!("{hostname}:{p}")).collect(),
                        })
                        .collect(),
                    unavailable: unavailable
                        .iter()
                        .filter_map(|(agent_id, u)| {
                            let missing: Vec<String> = u
                                .missing
                                .iter()
                                .filter(|p| numbers.contains(p))
                                .map(u16::to_string)
                                .collect();
                            (!missing.is_empty()).then(|| UnavailableJson {
                                agent_id: agent_id.clone(),
                                hostname: u.hostname.clone(),
                                reason: format!(
                                    "the agent's offers do not hold port {} (Mesos agents offer ports:[31000-32000] unless their --resources say otherwise)",
                                    missing.join(", ")
                                ),
                                since: to_rfc3339(u.at),
                            })
                        })
                        .collect(),
                }
            })
            .collect(),
    }
}

/// The framework's registration with Mesos and this replica's connection.
#[utoipa::path(get, path = "/api/framework", responses((status = 200, body = FrameworkJson)))]
pub async fn framework(State(app): State<AppState>) -> Json<FrameworkJson> {
    let connection = app.live.connection();
    let (framework, fingerprint) = app.journal.read(|s| {
        (
            s.cluster.framework.clone(),
            s.settings.as_ref().map(ExecutorSettings::fingerprint),
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

/// The agents we know of: our task there, its config version, its streams
/// and its latest report. Without parameters, every agent in agent id order
/// (as before paging existed); with any, filtered and sorted (problems first
/// by default), `limit` at a time. Answers 304 to an `If-None-Match` with the
/// current `ETag`.
#[utoipa::path(get, path = "/api/executors", params(Params), responses(
    (status = 200, body = ExecutorsJson),
    (status = 304, description = "unchanged since the ETag given in If-None-Match"),
    (status = 400, body = super::error::ErrorBody)))]
pub async fn executors(
    State(app): State<AppState>,
    QueryParams(params): QueryParams<Params>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let query = node_query::Query::parse(&params)
        .map_err(|e| ApiError::bad_request("invalid_query", e.to_string()))?;
    let everything = query.is_everything();
    let page = with_nodes(&app, |s, nodes| {
        let page = if everything {
            node_query::Page {
                indices: (0..nodes.len()).collect(),
                total: nodes.len(),
                next_cursor: None,
            }
        } else {
            node_query::select(nodes, &query)
        };
        ExecutorsJson::page(s, nodes, page, !query.without_streams)
    });
    Ok(conditional::json(&headers, &page))
}

/// Counts, totals, the cluster's current rates, the Mesos connection and the
/// problems grouped by kind and message: a few KB whatever the cluster's
/// size, for dashboards to poll. Answers 304 to an `If-None-Match` with the
/// current `ETag`.
#[utoipa::path(get, path = "/api/executors/summary", responses(
    (status = 200, body = Summary),
    (status = 304, description = "unchanged since the ETag given in If-None-Match")))]
pub async fn summary(State(app): State<AppState>, headers: HeaderMap) -> Response {
    let rates = app.live.history(|h| h.latest(None, now_millis()));
    let connection = app.live.connection();
    let summary = with_nodes(&app, |s, nodes| {
        summarize(nodes, s.config_version, rates, connection)
    });
    conditional::json(&headers, &summary)
}

/// Runs `f` on every agent as the projections, the latest reports and the
/// history see it now.
fn with_nodes<R>(app: &AppState, f: impl FnOnce(&Projections, &[Node<'_>]) -> R) -> R {
    let reports: BTreeMap<String, Report> = app.live.reports();
    let rates: BTreeMap<String, RatePoint> = app.live.history(|h| h.latest_by_agent());
    let now = now_millis();
    app.journal.read(|s| f(s, &nodes(s, &reports, &rates, now)))
}

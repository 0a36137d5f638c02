//! `GET /api/metrics/history`: the executors' counters over the last hour,
//! for the cluster or one agent, with their rates, from the scheduler's
//! in-memory history.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::events::time::now_millis;
use crate::live::history::RatePoint;

use super::AppState;
use super::conditional;
use super::error::ApiError;
use super::extract::QueryParams;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// An agent id; the whole cluster when absent.
    agent: Option<String>,
    /// How far back: `1h` (the default and the most kept), `15m`, `90s`, or a
    /// number of seconds.
    window: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MetricsHistory {
    /// The agent, or null for the whole cluster.
    pub agent: Option<String>,
    pub window_seconds: u64,
    /// At most one point per step; an executor reports about this often.
    pub step_seconds: u64,
    /// Oldest first. The counters only grow: a restarted executor's counts
    /// are added to what it counted before.
    pub points: Vec<RatePoint>,
}

/// The counters' history of the cluster or of one agent. Live data kept in
/// memory (an hour at the report interval), not events: it starts empty on a
/// new leader. Answers 304 to an `If-None-Match` with the current `ETag`.
#[utoipa::path(get, path = "/api/metrics/history", operation_id = "metrics_history", params(HistoryQuery), responses(
    (status = 200, body = MetricsHistory),
    (status = 304, description = "unchanged since the ETag given in If-None-Match"),
    (status = 400, body = super::error::ErrorBody),
    (status = 404, body = super::error::ErrorBody)))]
pub async fn history(
    State(app): State<AppState>,
    QueryParams(query): QueryParams<HistoryQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let limits = app.live.history(|h| h.limits());
    let window_ms = match query.window.as_deref().map(str::trim) {
        None | Some("") => limits.window_ms,
        Some(text) => window(text)?.min(limits.window_ms),
    };
    let agent = query.agent.as_deref().filter(|a| !a.is_empty());
    let now = now_millis();
    let points = match app.live.history(|h| h.series(agent, window_ms, now)) {
        Some(points) => points,
        None => {
            let known =
                agent.is_some_and(|a| app.journal.read(|s| s.cluster.agents.contains_key(a)));
            if !known {
                return Err(ApiError::not_found(format!(
                    "no agent {:?} is known",
                    agent.unwrap_or_default()
                )));
            }
            Vec::new()
        }
    };
    let body = MetricsHistory {
        agent: agent.map(str::to_owned),
        window_seconds: window_ms / 1000,
        step_seconds: limits.step_ms / 1000,
        points,
    };
    Ok(conditional::json(&headers, &body))
}

fn window(text: &str) -> Result<u64, ApiError> {
    let ms = match text.parse::<u64>() {
        Ok(seconds) => seconds.saturating_mul(1000),
        Err(_) => humantime::parse_duration(text)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .map_err(|e| {
                ApiError::bad_request(
                    "invalid_query",
                    format!("window {text:?} is not a duration such as 1h, 15m or 90s: {e}"),
                )
            })?,
    };
    if ms == 0 {
        return Err(ApiError::bad_request(
            "invalid_query",
            "window must be longer than zero",
        ));
    }
    Ok(ms)
}

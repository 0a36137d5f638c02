//! Operations endpoints: liveness, readiness, Prometheus metrics, and request
//! accounting.

use std::time::Instant;

use axum::Json;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use crate::events::messages::LogstashHealth;

#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
    /// Seq of the last applied event.
    pub last_seq: u64,
}

/// Liveness: the process serves requests.
#[utoipa::path(get, path = "/health", responses((status = 200, body = Health)))]
pub async fn health(State(app): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok",
        last_seq: app.journal.last_seq(),
    })
}

/// Readiness: the journal is open and the projections are rebuilt, so answers
/// reflect the whole log.
#[utoipa::path(get, path = "/ready", responses((status = 200, body = Health)))]
pub async fn ready(State(app): State<AppState>) -> Response {
    if app.shutdown.is_cancelled() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health {
                status: "shutting down",
                last_seq: app.journal.last_seq(),
            }),
        )
            .into_response();
    }
    Json(Health {
        status: "ready",
        last_seq: app.journal.last_seq(),
    })
    .into_response()
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", responses((status = 200, content_type = "text/plain")))]
pub async fn metrics(State(app): State<AppState>) -> Response {
    let state = &app.journal;
    metrics::gauge!("logstash_mesos_journal_last_seq").set(state.last_seq() as f64);
    metrics::gauge!("logstash_mesos_journal_disk_bytes").set(state.size_on_disk() as f64);
    let leadership = state.leadership().borrow().clone();
    metrics::gauge!("logstash_mesos_raft_term").set(leadership.term as f64);
    metrics::gauge!("logstash_mesos_raft_leader").set(f64::from(u8::from(leadership.leading)));
    metrics::gauge!("logstash_mesos_raft_quorum_lost")
        .set(f64::from(u8::from(leadership.quorum_lost)));
    let connection = app.live.connection();
    metrics::gauge!("logstash_mesos_mesos_subscribed").set(f64::from(u8::from(
        connection.state == crate::live::ConnectionState::Subscribed,
    )));
    metrics::gauge!("logstash_mesos_mesos_offers_suppressed")
        .set(f64::from(u8::from(connection.suppressed)));
    metrics::gauge!("logstash_mesos_history_bytes")
        .set(app.live.history(|h| h.heap_bytes()) as f64);
    for (agent, report) in app.live.reports() {
        let totals = &report.report.totals;
        let gauge = |name: &'static str, value: u64| {
            metrics::gauge!(name, "agent" => agent.clone()).set(value as f64);
        };
        // Counters of the executor since it started, as its last report said.
        gauge("logstash_mesos_executor_lines", totals.lines);
        gauge("logstash_mesos_executor_bytes", totals.bytes);
        gauge(
            "logstash_mesos_executor_dropped_bytes",
            totals.dropped_bytes,
        );
        gauge(
            "logstash_mesos_executor_duplicate_lines",
            totals.duplicate_lines,
        );
        gauge("logstash_mesos_executor_rotations", totals.rotations);
        gauge(
            "logstash_mesos_executor_streams",
            report.report.streams.len() as u64,
        );
        gauge(
            "logstash_mesos_executor_logstash_running",
            u64::from(report.report.logstash == LogstashHealth::Running),
        );
        gauge(
            "logstash_mesos_executor_report_age_seconds",
            crate::events::time::now_millis().saturating_sub(report.received_at) / 1000,
        );
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics.render(),
    )
        .into_response()
}

/// The method as a metric label: one of a closed set, so invented methods
/// cannot grow `/metrics` without bound.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Counts every request by method, route template (never the raw path) and
/// status, and times it.
pub async fn track(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("logstash_mesos_http_requests_total",
        "method" => method, "route" => route.clone(), "status" => status)
    .increment(1);
    metrics::histogram!("logstash_mesos_http_request_duration_seconds",
        "method" => method, "route" => route)
    .record(started.elapsed().as_secs_f64());
    response
}

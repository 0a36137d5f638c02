//! The framework's registration and the executors: `GET /api/framework`,
//! `GET /api/executors`. The projections say what runs where; the latest
//! executor reports add the live counters.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::events::time::to_rfc3339;
use crate::scheduler::fingerprint::fingerprint;

use super::AppState;
use super::views::ExecutorsJson;

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

/// Every agent we know of: our task there, its config version and its streams.
#[utoipa::path(get, path = "/api/executors", responses((status = 200, body = ExecutorsJson)))]
pub async fn executors(State(app): State<AppState>) -> Json<ExecutorsJson> {
    let reports = app.live.reports();
    Json(app.journal.read(|s| ExecutorsJson::of(s, &reports)))
}

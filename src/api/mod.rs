//! The REST API: the seed-compatible config routes (with and without the `/api`
//! prefix), the audit history and its live stream, and the operations endpoints.
//!
//! Handlers read the projections through the journal and write only through
//! [`Journal::submit`], so the API never needs to know how the log is stored or
//! replicated. Its JSON shapes live in [`crate::views`] and the live view in
//! [`crate::live`]. Must not import `scheduler`, `executor`, `mesos`, `server`
//! or `cli`.

mod auth;
mod browser;
mod cluster;
mod conditional;
mod configs;
mod error;
mod events;
mod extract;
mod history;
mod host_config;
mod listener;
mod openapi;
mod ops;
mod replicas;
mod ui;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio_util::sync::CancellationToken;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use auth::{ANONYMOUS, Role, TokenError, Tokens};
pub use browser::{BadUrl, BrowserPolicy};
pub use configs::SEQ_HEADER;
pub use error::ApiError;
pub use extract::MAX_BODY_BYTES;
pub use listener::ConnectionLimits;
pub use openapi::ApiDoc;

use crate::configdir::SharedStatus;
use crate::journal::Journal;
use crate::live::Live;
use crate::state::HostPathPolicy;

/// Longest time a request may take to produce its response head.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How the API meets its clients: bounds on connections and live streams,
/// and the names browsers may reach it by.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub connections: ConnectionLimits,
    /// Open `/api/events/stream` streams; more get 429.
    pub max_event_streams: usize,
    pub browser: BrowserPolicy,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            connections: ConnectionLimits::default(),
            max_event_streams: 64,
            browser: BrowserPolicy::default(),
        }
    }
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub journal: Arc<Journal>,
    pub tokens: Arc<Tokens>,
    pub metrics: PrometheusHandle,
    /// The Mesos connection and the latest executor reports.
    pub live: Arc<Live>,
    /// Where host-level configs may read files on the agents.
    pub host_paths: Arc<HostPathPolicy>,
    /// The configuration directory's files and their state.
    pub config_dir: SharedStatus,
    /// Cancelled when the process shuts down; ends long-lived streams.
    pub shutdown: CancellationToken,
    /// Serve the web GUI at `/` (off with `--no-ui`; the API stays on).
    pub ui: bool,
    pub http: Arc<HttpSettings>,
    /// One permit per open event stream.
    pub event_streams: Arc<tokio::sync::Semaphore>,
}

pub fn router(app: AppState) -> Router {
    let config_routes = Router::new()
        .route(
            "/configs",
            get(configs::list)
                .post(configs::create)
                .put(configs::update_by_query)
                .delete(configs::delete_by_query),
        )
        .route(
            "/configs/{*rest}",
            get(configs::get_one)
                .put(configs::put_one)
                .delete(configs::delete_one)
                .post(configs::post_one),
        );
    let api_routes = config_routes
        .clone()
        .route("/events", get(events::list))
        .route("/events/stream", get(events::stream))
        .route(
            "/host-config",
            get(host_config::get)
                .put(host_config::put)
                .post(host_config::put),
        )
        .route("/config-dir", get(host_config::config_dir))
        .route("/framework", get(cluster::framework))
        .route("/endpoints", get(cluster::endpoints))
        .route("/executors", get(cluster::executors))
        .route("/executors/summary", get(cluster::summary))
        .route("/metrics/history", get(history::history))
        .route("/whoami", get(auth::whoami))
        .route("/cluster", get(replicas::status))
        .route("/cluster/members", axum::routing::post(replicas::add))
        .route(
            "/cluster/members/{id}",
            axum::routing::delete(replicas::remove),
        );
    let authenticated = Router::new()
        .nest("/api", api_routes)
        .merge(config_routes)
        .layer(from_fn_with_state(app.clone(), replicas::consistent_reads))
        .layer(from_fn_with_state(app.tokens.clone(), auth::authenticate));
    let gui = if app.ui {
        Router::new()
            .route("/", get(ui::index))
            .route("/ui/{*path}", get(ui::asset))
    } else {
        Router::new().route("/", get(ui::disabled))
    };
    // What a browser reaches; monitoring (`/health`, `/ready`, `/metrics`)
    // and replication answer whatever name they are called by.
    let browser_facing = Router::new()
        .merge(authenticated)
        .merge(gui)
        .route("/api/openapi.json", get(openapi::serve))
        .layer(from_fn_with_state(
            Arc::new(app.http.browser.clone()),
            browser::guard,
        ));
    Router::new()
        .merge(browser_facing)
        .route("/health", get(ops::health))
        .route("/ready", get(ops::ready))
        .route("/metrics", get(ops::metrics))
        .fallback(|| async { ApiError::not_found("no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this method is not allowed on this route",
            )
        })
        .layer(from_fn(ops::track))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(app)
}

/// Serves the API, and the `extra` routes beside it (the replica's `/raft/`
/// routes, with their own limits and authentication), on `listener` until
/// `app.shutdown` is cancelled.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: AppState,
    extra: Router,
) -> std::io::Result<()> {
    let shutdown = app.shutdown.clone();
    let limits = app.http.connections;
    listener::serve(listener, extra.merge(router(app)), limits, shutdown).await
}

/// Serves only `routes` (a replica's `/raft/` routes on `--raft-listen`) with
/// the same connection caps and header timeout as the API, so no listener
/// of the process is unbounded.
pub async fn serve_routes(
    listener: tokio::net::TcpListener,
    routes: Router,
    limits: ConnectionLimits,
    shutdown: tokio_util::sync::CancellationToken,
) -> std::io::Result<()> {
    listener::serve(listener, routes, limits, shutdown).await
}

//! A scheduler process on one node: the journal, the config directory and the
//! API, started together and stopped together. Wiring only: must not import
//! `scheduler`, `executor`, `mesos` or `cli`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::api::{self, AppState, HttpSettings, Tokens};
use crate::configdir::{self, SharedStatus};
use crate::journal::{Admission, ClusterConfig, Journal, JournalError};
use crate::state::HostPathPolicy;

/// The configuration directory is re-read this often even without file events.
const CONFIG_DIR_RESCAN: std::time::Duration = std::time::Duration::from_secs(5);
use crate::live::Live;
use crate::telemetry;

#[derive(Debug)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub tokens: Tokens,
    /// This replica's place in the Raft cluster; `advertise`, `admission`
    /// and `api_on_member_addresses` are filled in at start from the
    /// listeners and the rest of this config.
    pub cluster: ClusterConfig,
    /// Serve `/raft/` here instead of on the API's address, so API clients
    /// cannot starve replication; the other replicas then know this replica
    /// by it.
    pub raft_listen: Option<SocketAddr>,
    /// The configuration directory to follow, if any.
    pub config_dir: Option<PathBuf>,
    pub host_paths: HostPathPolicy,
    /// Serve the web GUI at `/`.
    pub ui: bool,
    /// Connection and stream bounds, and the names browsers may use.
    pub http: HttpSettings,
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the API server failed: {0}")]
    Serve(std::io::Error),
    #[error("the Raft listener failed: {0}")]
    ServeRaft(std::io::Error),
}

/// A started server: its address, and the handle to stop it.
pub struct Server {
    pub addr: SocketAddr,
    pub journal: Arc<Journal>,
    pub live: Arc<Live>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), ServerError>>,
}

impl Server {
    /// Binds the listeners, opens the journal as a replica reachable at the
    /// bound Raft address, and serves the API and the `/raft/` routes: on
    /// one listener, or on two with `raft_listen`.
    pub async fn start(config: ServerConfig) -> Result<Server, ServerError> {
        let bind = |addr: SocketAddr| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|source| ServerError::Listen { addr, source })
        };
        let listener = bind(config.listen).await?;
        let addr = listener.local_addr().map_err(ServerError::Serve)?;
        let raft_listener = match config.raft_listen {
            Some(raft_addr) => Some(bind(raft_addr).await?),
            None => None,
        };
        let advertise = match &raft_listener {
            Some(l) => l.local_addr().map_err(ServerError::ServeRaft)?,
            None => addr,
        };
        let cluster = ClusterConfig {
            advertise: advertise.to_string(),
            admission: Admission {
                api_labels: Some(config.tokens.actor_labels()),
                host_paths: Some(config.host_paths.clone()),
            },
            api_on_member_addresses: raft_listener.is_none(),
            ..config.cluster
        };
        let journal = Arc::new(Journal::open_with(&config.data_dir, cluster).await?);
        let raft_routes = crate::journal::raft_router(journal.clone());
        let shutdown = CancellationToken::new();
        let live = Arc::new(Live::default());
        let config_dir = SharedStatus::default();
        if let Some(dir) = config.config_dir {
            tokio::spawn(configdir::follow_while_leading(
                dir,
                journal.clone(),
                config.host_paths.clone(),
                config_dir.clone(),
                CONFIG_DIR_RESCAN,
                shutdown.clone(),
            ));
        }
        let app = AppState {
            journal: journal.clone(),
            tokens: Arc::new(config.tokens),
            metrics: telemetry::metrics(),
            live: live.clone(),
            host_paths: Arc::new(config.host_paths),
            config_dir,
            shutdown: shutdown.clone(),
            ui: config.ui,
            event_streams: Arc::new(tokio::sync::Semaphore::new(config.http.max_event_streams)),
            http: Arc::new(config.http),
        };
        let closing = journal.clone();
        let stop = shutdown.clone();
        let limits = app.http.connections;
        let task = tokio::spawn(async move {
            match raft_listener {
                None => api::serve(listener, app, raft_routes)
                    .await
                    .map_err(ServerError::Serve)?,
                Some(raft_listener) => {
                    // Either server failing stops the other too.
                    let raft = async {
                        let served =
                            api::serve_routes(raft_listener, raft_routes, limits, stop.clone())
                                .await;
                        stop.cancel();
                        served
                    };
                    let api = async {
                        let served = api::serve(listener, app, axum::Router::new()).await;
                        stop.cancel();
                        served
                    };
                    let (api, raft) = tokio::join!(api, raft);
                    api.map_err(ServerError::Serve)?;
                    raft.map_err(ServerError::ServeRaft)?;
                }
            }
            closing.close().await?;
            Ok(())
        });
        Ok(Server {
            addr,
            journal,
            live,
            shutdown,
            task,
        })
    }

    /// Asks the server to stop: open streams end, in-flight requests finish.
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }

    /// Waits until the server has stopped and the journal is closed.
    pub async fn wait(self) -> Result<(), ServerError> {
        match self.task.await {
            Ok(result) => result,
            Err(e) => Err(ServerError::Serve(std::io::Error::other(e))),
        }
    }
}

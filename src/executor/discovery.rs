//! The running containers of this agent, kept current from Docker.
//!
//! An initial list, then Docker's event stream (start, die, destroy,
//! rename), plus a full re-list every [`DiscoverySettings::relist_every`] as
//! a safety net for missed events. When the daemon goes away (restart,
//! upgrade) the loop reconnects with capped backoff and re-lists; events
//! since just before the list are replayed, so nothing that happened during
//! the list is missed. The result is published through a `watch` channel:
//! consumers only ever need the latest set.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bollard::Docker;
use bollard::query_parameters::{EventsOptions, ListContainersOptions};
use futures::StreamExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::matching::Container;
use crate::mesos::backoff::Backoff;

/// Why Docker could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("cannot set up a Docker client (DOCKER_HOST={host:?}): {source}")]
    Client {
        host: Option<String>,
        source: bollard::errors::Error,
    },
    #[error("cannot reach the Docker daemon: {0}")]
    Unreachable(bollard::errors::Error),
    #[error("the Docker daemon did not answer within {0:?}")]
    Timeout(Duration),
}

/// Connects to the Docker daemon: `DOCKER_HOST` if set (`unix://`,
/// `tcp://`, `http://`), else `/var/run/docker.sock`; and negotiates the API
/// version, since bollard speaks 1.53 by default and an older daemon (20.10
/// serves 1.41) rejects requests for a newer version.
pub async fn connect(timeout: Duration) -> Result<Docker, DockerError> {
    let docker = Docker::connect_with_defaults().map_err(|source| DockerError::Client {
        host: std::env::var("DOCKER_HOST").ok(),
        source,
    })?;
    match tokio::time::timeout(timeout, docker.negotiate_version()).await {
        Ok(Ok(docker)) => Ok(docker),
        Ok(Err(e)) => Err(DockerError::Unreachable(e)),
        Err(_) => Err(DockerError::Timeout(timeout)),
    }
}

/// Like [`connect`], retrying with capped exponential backoff until it works
/// or `cancel` fires (`None`), for an executor that starts before Docker.
pub async fn connect_retrying(
    timeout: Duration,
    backoff_max: Duration,
    cancel: &CancellationToken,
) -> Option<Docker> {
    let backoff = Backoff::new(Duration::from_millis(200), backoff_max);
    let mut attempt = 0;
    loop {
        match connect(timeout).await {
            Ok(docker) => return Some(docker),
            Err(e) => tracing::warn!(error = %e, "Docker is not reachable; retrying"),
        }
        let delay = backoff.delay(attempt);
        attempt += 1;
        tokio::select! {
            _ = cancel.cancelled() => return None,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

/// Tunables of the discovery loop.
#[derive(Debug, Clone)]
pub struct DiscoverySettings {
    /// Full re-list period, the safety net for missed events.
    pub relist_every: Duration,
    /// Longest wait between reconnection attempts.
    pub backoff_max: Duration,
}

impl Default for DiscoverySettings {
    fn default() -> Self {
        DiscoverySettings {
            relist_every: Duration::from_secs(30),
            backoff_max: Duration::from_secs(30),
        }
    }
}

/// What discovery knows right now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Running containers, sorted by id.
    pub containers: Vec<Container>,
    /// Whether the last contact with Docker worked; while it does not, the
    /// last known containers are kept (streams drain on their own when the
    /// containers really stop).
    pub connected: bool,
}

/// Starts the discovery loop; it runs until `cancel` fires.
pub fn spawn(
    docker: Docker,
    settings: DiscoverySettings,
    cancel: CancellationToken,
) -> (watch::Receiver<Snapshot>, JoinHandle<()>) {
    let (tx, rx) = watch::channel(Snapshot::default());
    let handle = tokio::spawn(run(docker, settings, tx, cancel));
    (rx, handle)
}

async fn run(
    docker: Docker,
    settings: DiscoverySettings,
    tx: watch::Sender<Snapshot>,
    cancel: CancellationToken,
) {
    let mut known: BTreeMap<String, Container> = BTreeMap::new();
    let backoff = Backoff::new(Duration::from_millis(200), settings.backoff_max);
    let mut attempt = 0;
    while !cancel.is_cancelled() {
        let since = unix_now().saturating_sub(1);
        let listed = tokio::select! {
            _ = cancel.cancelled() => return,
            listed = list(&docker, &known) => listed,
        };
        match listed {
            Ok(list) => {
                known = list;
                publish(&tx, &known, true);
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot list containers; retrying");
                publish(&tx, &known, false);
                let delay = backoff.delay(attempt);
                attempt += 1;
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(delay) => {}
                }
                continue;
            }
        }
        let mut filters = HashMap::new();
        filters.insert("type".to_owned(), vec!["container".to_owned()]);
        filters.insert(
            "event".to_owned(),
            ["start", "die", "destroy", "rename"]
                .map(str::to_owned)
                .to_vec(),
        );
        let mut events = docker.events(Some(EventsOptions {
            since: Some(since.to_string()),
            until: None,
            filters: Some(filters),
        }));
        let mut relist = tokio::time::interval(settings.relist_every);
        relist.tick().await;
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = relist.tick() => match list(&docker, &known).await {
                    Ok(list) => {
                        known = list;
                        publish(&tx, &known, true);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "re-list failed; reconnecting");
                        break;
                    }
                },
                event = events.next() => match event {
                    Some(Ok(event)) => {
                        attempt = 0;
                        let action = event.action.unwrap_or_default();
                        let Some(id) = event.actor.and_then(|a| a.id) else { continue };
                        match action.as_str() {
                            "die" | "destroy" => {
                                known.remove(&id);
                            }
                            _ => match inspect(&docker, &id).await {
                                Ok(Some(container)) => {
                                    known.insert(id, container);
                                }
                                Ok(None) => {
                                    known.remove(&id);
                                }
                                Err(e) => {
                                    tracing::warn!(error = %e, "inspect failed; reconnecting");
                                    break;
                                }
                            },
                        }
                        publish(&tx, &known, true);
                    }
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "Docker event stream failed; reconnecting");
                        break;
                    }
                    None => {
                        tracing::warn!("Docker event stream ended; reconnecting");
                        break;
                    }
                },
            }
        }
        publish(&tx, &known, false);
        let delay = backoff.delay(attempt);
        attempt += 1;
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

fn publish(tx: &watch::Sender<Snapshot>, known: &BTreeMap<String, Container>, connected: bool) {
    let snapshot = Snapshot {
        containers: known.values().cloned().collect(),
        connected,
    };
    tx.send_if_modified(|current| {
        if *current == snapshot {
            false
        } else {
            *current = snapshot;
            true
        }
    });
}

/// Lists the running containers. The start time is not in the list, so
/// containers seen for the first time are inspected; known ones keep theirs
/// (a restart between two lists is also seen as `start` event).
async fn list(
    docker: &Docker,
    known: &BTreeMap<String, Container>,
) -> Result<BTreeMap<String, Container>, bollard::errors::Error> {
    let summaries = docker
        .list_containers(Some(ListContainersOptions::default()))
        .await?;
    let mut now = BTreeMap::new();
    for summary in summaries {
        let Some(id) = summary.id else { continue };
        let name = summary
            .names
            .and_then(|names| names.into_iter().next())
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_owned();
        let started_at = match known.get(&id) {
            Some(c) => c.started_at.clone(),
            None => match inspect(docker, &id).await? {
                Some(c) => c.started_at,
                None => continue,
            },
        };
        now.insert(
            id.clone(),
            Container {
                id,
                name,
                image: summary.image.unwrap_or_default(),
                labels: summary.labels.unwrap_or_default().into_iter().collect(),
                started_at,
            },
        );
    }
    Ok(now)
}

/// The container if it is running; `None` if it is gone or stopped.
async fn inspect(docker: &Docker, id: &str) -> Result<Option<Container>, bollard::errors::Error> {
    let info = match docker.inspect_container(id, None).await {
        Ok(info) => info,
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let state = info.state.unwrap_or_default();
    if state.running != Some(true) {
        return Ok(None);
    }
    let config = info.config.unwrap_or_default();
    Ok(Some(Container {
        id: info.id.unwrap_or_else(|| id.to_owned()),
        name: info
            .name
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_owned(),
        image: config.image.unwrap_or_default(),
        labels: config.labels.unwrap_or_default().into_iter().collect(),
        started_at: state.started_at.unwrap_or_default(),
    }))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

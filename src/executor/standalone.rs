//! The Docker half on its own: discovery, matching and streams driven by a
//! config-set file instead of the scheduler. The hidden `executor-streams`
//! subcommand runs it, so the streaming can be tested in a process that is
//! killed with SIGKILL, and benchmarked, without Mesos.
//!
//! This is also the loop the full executor runs, with its config set coming
//! from framework messages instead of a file.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::discovery::{self, DiscoverySettings};
use super::matching::{self, RequiredLabel};
use super::stream::StreamSettings;
use super::streams::StreamManager;
use crate::events::messages::{ConfigSet, StreamReport, Totals};

/// What [`run`] needs.
#[derive(Debug, Clone)]
pub struct Options {
    /// A JSON [`ConfigSet`]; re-read when it changes.
    pub configs: PathBuf,
    pub require_label: Option<RequiredLabel>,
    pub streams: StreamSettings,
    pub discovery: DiscoverySettings,
    /// Where to write the reports as JSON (atomically), twice a second.
    pub report: Option<PathBuf>,
    /// How long a graceful stop may take.
    pub grace: Duration,
}

/// The report file's content.
#[derive(Debug, Clone, Serialize)]
pub struct ReportFile {
    pub streams: Vec<StreamReport>,
    pub totals: Totals,
    pub skipped: Vec<String>,
}

/// Runs until `cancel` fires, then shuts the streams down gracefully.
pub async fn run(options: Options, cancel: CancellationToken) -> anyhow::Result<()> {
    let Some(docker) =
        discovery::connect_retrying(Duration::from_secs(10), Duration::from_secs(10), &cancel)
            .await
    else {
        return Ok(());
    };
    let (mut containers, discovery_task) =
        discovery::spawn(docker.clone(), options.discovery.clone(), cancel.clone());
    let mut manager = StreamManager::new(docker, options.streams.clone());
    let mut configs = ConfigSet::default();
    let mut configs_seen: Option<SystemTime> = None;
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let mut skipped = Vec::new();
    loop {
        let mut changed = false;
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tick.tick() => {}
            result = containers.changed() => {
                if result.is_err() {
                    break;
                }
                changed = true;
            }
        }
        let modified = std::fs::metadata(&options.configs)
            .and_then(|m| m.modified())
            .ok();
        if modified != configs_seen {
            match std::fs::read(&options.configs)
                .map_err(anyhow::Error::from)
                .and_then(|b| Ok(serde_json::from_slice::<ConfigSet>(&b)?))
            {
                Ok(set) => {
                    configs = set;
                    configs_seen = modified;
                    changed = true;
                }
                Err(e) => tracing::warn!(error = %e, "cannot read the config set"),
            }
        }
        if changed {
            let snapshot = containers.borrow_and_update().clone();
            let desired = matching::desired_streams(
                &configs,
                &snapshot.containers,
                options.require_label.as_ref(),
            );
            skipped = desired
                .skipped
                .iter()
                .map(|s| format!("{}: {}", s.name, s.reason))
                .collect();
            manager.apply(&desired);
        }
        if let Some(path) = &options.report {
            let (streams, totals) = manager.reports();
            write_report(
                path,
                &ReportFile {
                    streams,
                    totals,
                    skipped: skipped.clone(),
                },
            );
        }
    }
    let (streams, totals) = manager.shutdown(options.grace).await;
    if let Some(path) = &options.report {
        write_report(
            path,
            &ReportFile {
                streams,
                totals,
                skipped,
            },
        );
    }
    let _ = discovery_task.await;
    Ok(())
}

fn write_report(path: &std::path::Path, report: &ReportFile) {
    let tmp = path.with_extension("tmp");
    let body = serde_json::to_vec_pretty(report).expect("serializable");
    if std::fs::write(&tmp, body)
        .and_then(|()| std::fs::rename(&tmp, path))
        .is_err()
    {
        tracing::warn!(path = %path.display(), "cannot write the report");
    }
}

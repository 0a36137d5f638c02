//! Following the directory: a file watcher for prompt changes plus a periodic
//! rescan as a safety net (watchers miss events on some file systems).

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use serde::Serialize;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::events::Actor;
use crate::journal::{Journal, SubmitError, now_millis};
use crate::state::HostPathPolicy;

use super::plan::{FileState, FileStatus, plan};
use super::scan::scan;

/// How long to let a burst of file events settle (editors write in steps).
const SETTLE: Duration = Duration::from_millis(150);

/// What `GET /api/config-dir` shows.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DirStatus {
    /// The directory, when one is configured.
    pub dir: Option<String>,
    /// When it was last read (unix ms).
    pub last_scan: Option<u64>,
    /// Why the directory could not be read, if it could not.
    pub error: Option<String>,
    pub files: Vec<FileStatus>,
}

pub type SharedStatus = Arc<RwLock<DirStatus>>;

/// Reads `dir` now, on every change and every `rescan`, and records the
/// differences as events by `config-dir`, until `cancel`.
pub async fn follow(
    dir: PathBuf,
    journal: Arc<Journal>,
    policy: HostPathPolicy,
    status: SharedStatus,
    rescan: Duration,
    cancel: CancellationToken,
) {
    for sub in ["docker", "host"] {
        if let Err(e) = std::fs::create_dir_all(dir.join(sub)) {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot create the config directory");
        }
    }
    let changed = Arc::new(Notify::new());
    let _watcher = watch(&dir, changed.clone());
    write_status(&status, |s| s.dir = Some(dir.display().to_string()));
    loop {
        sync_once(&dir, &journal, &policy, &status).await;
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = changed.notified() => tokio::time::sleep(SETTLE).await,
            _ = tokio::time::sleep(rescan) => {}
        }
    }
}

/// Follows the directory only while this replica leads, so replicas never
/// race to record the same file change; the new leader reads it anew.
pub async fn follow_while_leading(
    dir: PathBuf,
    journal: Arc<Journal>,
    policy: HostPathPolicy,
    status: SharedStatus,
    rescan: Duration,
    shutdown: CancellationToken,
) {
    let mut leadership = journal.leadership();
    loop {
        if !leadership.borrow_and_update().leading {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                changed = leadership.changed() => if changed.is_err() { return },
            }
            continue;
        }
        let term = shutdown.child_token();
        let following = tokio::spawn(follow(
            dir.clone(),
            journal.clone(),
            policy.clone(),
            status.clone(),
            rescan,
            term.clone(),
        ));
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                changed = leadership.changed() => {
                    if changed.is_err() || !leadership.borrow_and_update().leading {
                        break;
                    }
                }
            }
        }
        term.cancel();
        let _ = following.await;
        if shutdown.is_cancelled() {
            return;
        }
    }
}

fn watch(dir: &std::path::Path, changed: Arc<Notify>) -> Option<RecommendedWatcher> {
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok() {
            changed.notify_one();
        }
    })
    .inspect_err(|e| tracing::warn!(error = %e, "no file watcher; relying on the periodic rescan"))
    .ok()?;
    match watcher.watch(dir, RecursiveMode::Recursive) {
        Ok(()) => Some(watcher),
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot watch the config directory; relying on the periodic rescan");
            None
        }
    }
}

/// One pass: scan, plan, submit, publish the status.
pub async fn sync_once(
    dir: &std::path::Path,
    journal: &Journal,
    policy: &HostPathPolicy,
    status: &SharedStatus,
) {
    let scanned = {
        let dir = dir.to_path_buf();
        tokio::task::spawn_blocking(move || scan(&dir)).await
    };
    let files = match scanned {
        Ok(Ok(files)) => files,
        Ok(Err(e)) => {
            report_dir_error(status, e.to_string());
            return;
        }
        Err(e) => {
            report_dir_error(status, e.to_string());
            return;
        }
    };
    let mut planned = journal.read(|s| plan(&files, s, policy));
    for command in planned.commands {
        let name = command.config_name().map(str::to_owned).unwrap_or_default();
        match journal.submit(Actor::ConfigDir, command).await {
            Ok(events) if !events.is_empty() => {
                tracing::info!(config = %name, "applied a change from the config directory");
            }
            Ok(_) => {}
            Err(SubmitError::Rejected(r)) => {
                if let Some(f) = planned.files.iter_mut().find(|f| f.name == name) {
                    f.state = FileState::Invalid;
                    f.error = Some(r.to_string());
                }
            }
            Err(e) => {
                tracing::warn!(config = %name, error = %e, "cannot apply a change from the config directory now");
            }
        }
    }
    let previous = status.read().map(|s| s.files.clone()).unwrap_or_default();
    for f in planned
        .files
        .iter()
        .filter(|f| f.state == FileState::Invalid)
    {
        if !previous.contains(f) {
            tracing::error!(file = %f.file, line = ?f.line, column = ?f.column, error = ?f.error, "invalid file in the config directory; the last good version stays in force");
        }
    }
    write_status(status, |s| {
        s.last_scan = Some(now_millis());
        s.error = None;
        s.files = planned.files;
    });
}

fn report_dir_error(status: &SharedStatus, error: String) {
    tracing::warn!(%error, "cannot read the config directory");
    write_status(status, |s| {
        s.last_scan = Some(now_millis());
        s.error = Some(error);
    });
}

fn write_status(status: &SharedStatus, f: impl FnOnce(&mut DirStatus)) {
    f(&mut status.write().unwrap_or_else(|e| e.into_inner()));
}

//! Following the directory: a file watcher for prompt changes plus a periodic
//! rescan as a safety net (watchers miss events on some file systems).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use serde::Serialize;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::events::Actor;
use crate::events::time::now_millis;
use crate::journal::{Journal, SubmitError};
use crate::state::HostPathPolicy;

use super::plan::{FileState, FileStatus, missing_folder, plan};
use super::scan::{Listing, scan};

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
    let changed = Arc::new(Notify::new());
    let mut watcher = watch(&dir, changed.clone());
    write_status(&status, |s| s.dir = Some(dir.display().to_string()));
    let scanner = Scanner::default();
    loop {
        if watcher.is_none() && dir.is_dir() {
            // The directory appeared since: watch it from now on.
            watcher = watch(&dir, changed.clone());
        }
        sync_once(&dir, &journal, &policy, &status, &scanner, &cancel).await;
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

fn watch(dir: &Path, changed: Arc<Notify>) -> Option<RecommendedWatcher> {
    // Symlinked folders are not walked by the scan, nor watched: one to `/`
    // would otherwise watch the whole file system.
    let config = notify::Config::default().with_follow_symlinks(false);
    let mut watcher = RecommendedWatcher::new(
        move |event: notify::Result<notify::Event>| {
            if event.is_ok() {
                changed.notify_one();
            }
        },
        config,
    )
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

/// Longest a scan may take before it counts as failed (a hung file system).
const SCAN_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs scans off the runtime, one at a time, each on a thread of its own
/// that nothing waits for: a scan stuck in the kernel can neither stall the
/// follower past [`SCAN_TIMEOUT`] nor keep the process from exiting.
#[derive(Default)]
pub struct Scanner {
    busy: Arc<AtomicBool>,
}

impl Scanner {
    async fn scan(&self, dir: &Path, cancel: &CancellationToken) -> Result<Listing, String> {
        if self.busy.swap(true, Ordering::SeqCst) {
            return Err("the previous scan has not finished (is the file system hung?)".into());
        }
        let (sender, answer) = tokio::sync::oneshot::channel();
        let busy = self.busy.clone();
        let path = dir.to_path_buf();
        let spawned = std::thread::Builder::new()
            .name("config-dir-scan".into())
            .spawn(move || {
                let result = scan(&path);
                busy.store(false, Ordering::SeqCst);
                let _ = sender.send(result);
            });
        if let Err(e) = spawned {
            self.busy.store(false, Ordering::SeqCst);
            return Err(format!("cannot start a scan: {e}"));
        }
        tokio::select! {
            _ = cancel.cancelled() => Err("shutting down".into()),
            answer = tokio::time::timeout(SCAN_TIMEOUT, answer) => match answer {
                Ok(Ok(Ok(listing))) => Ok(listing),
                Ok(Ok(Err(e))) => Err(e.to_string()),
                Ok(Err(_)) => Err("the scan stopped without an answer".into()),
                Err(_) => Err(format!("the scan took longer than {SCAN_TIMEOUT:?}")),
            },
        }
    }
}

/// One pass: scan, plan, submit, publish the status. A directory that
/// cannot be read, or a kind's folder gone missing while configs came from
/// it, is reported and changes nothing.
pub async fn sync_once(
    dir: &Path,
    journal: &Journal,
    policy: &HostPathPolicy,
    status: &SharedStatus,
    scanner: &Scanner,
    cancel: &CancellationToken,
) {
    let listing = match scanner.scan(dir, cancel).await {
        Ok(listing) => listing,
        Err(_) if cancel.is_cancelled() => return,
        Err(e) => {
            report_dir_error(status, e);
            return;
        }
    };
    if let Some(problem) = journal.read(|s| missing_folder(&listing, s)) {
        report_dir_error(status, problem);
        return;
    }
    let files = listing.files();
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
    let repeated = status
        .read()
        .map(|s| s.error.as_deref() == Some(error.as_str()))
        .unwrap_or(false);
    if !repeated {
        tracing::warn!(%error, "cannot read the config directory; nothing changes");
    }
    write_status(status, |s| {
        s.last_scan = Some(now_millis());
        s.error = Some(error);
    });
}

fn write_status(status: &SharedStatus, f: impl FnOnce(&mut DirStatus)) {
    f(&mut status.write().unwrap_or_else(|e| e.into_inner()));
}

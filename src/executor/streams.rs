//! The stream manager: runs exactly the streams the desired set names.
//!
//! Given a [`Desired`] set (from [`super::matching::desired_streams`]) it
//! starts the streams that are missing, lets those no longer wanted drain
//! and stop, keeps per-stream counters for the reports, enforces the spool
//! budget in the background, and shuts everything down gracefully: stop the
//! streams, flush and fsync the spool, write the checkpoints.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bollard::Docker;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::layout;
use super::matching::{Desired, DesiredStream, StreamKey};
use super::retention;
use super::spool;
use super::state_root::{self, StateLock};
use super::stream::{self, StreamSettings, StreamStatus};
use crate::events::messages::{StreamReport, Totals};

struct Entry {
    status: Arc<StreamStatus>,
    task: JoinHandle<()>,
    /// The last wish, for reports once the stream is no longer wanted.
    last: DesiredStream,
}

/// Streams by spool directory name, for attributing budget drops.
type Registry = Arc<Mutex<HashMap<String, Arc<StreamStatus>>>>;

/// Owns all stream tasks of the executor.
pub struct StreamManager {
    docker: Docker,
    settings: Arc<StreamSettings>,
    streams: HashMap<StreamKey, Entry>,
    registry: Registry,
    /// Counters of streams that ended and were forgotten.
    closed: Arc<Mutex<Totals>>,
    hard_stop: CancellationToken,
    budget_stop: CancellationToken,
    budget_task: JoinHandle<()>,
}

impl StreamManager {
    /// Creates the manager and starts the spool budget loop. Call from
    /// within a Tokio runtime.
    pub fn new(docker: Docker, settings: StreamSettings) -> Self {
        let settings = Arc::new(settings);
        let registry: Registry = Arc::default();
        let closed: Arc<Mutex<Totals>> = Arc::default();
        let budget_stop = CancellationToken::new();
        let budget_task = tokio::spawn(budget_loop(
            settings.clone(),
            registry.clone(),
            closed.clone(),
            budget_stop.clone(),
        ));
        if let Some(root) = settings.state_root.clone() {
            tokio::spawn(state_root_loop(settings.clone(), root, budget_stop.clone()));
        }
        StreamManager {
            docker,
            settings,
            streams: HashMap::new(),
            registry,
            closed,
            hard_stop: CancellationToken::new(),
            budget_stop,
            budget_task,
        }
    }

    /// Makes the running streams equal the desired set: starts the missing
    /// ones (resuming from their checkpoints), tells the ones no longer
    /// wanted to drain and stop. A stream that is still draining when it is
    /// wanted again simply carries on, so one (container, file) never has two
    /// writers.
    pub fn apply(&mut self, desired: &Desired) {
        self.forget_finished();
        for (key, want) in &desired.streams {
            match self.streams.get(key) {
                Some(entry) => {
                    if !entry.status.want(Some(want.clone())) {
                        // The task is ending: start a new one once it has
                        // (it may still be flushing the spool).
                        entry.status.revive(want.clone());
                        let status = entry.status.clone();
                        let entry = self.streams.get_mut(key).expect("present");
                        let old = std::mem::replace(&mut entry.task, tokio::spawn(async {}));
                        let next = stream::run(
                            self.docker.clone(),
                            self.settings.clone(),
                            key.clone(),
                            status,
                            self.hard_stop.clone(),
                        );
                        entry.task = tokio::spawn(async move {
                            let _ = old.await;
                            next.await;
                        });
                    }
                    self.streams.get_mut(key).expect("present").last = want.clone();
                }
                None => {
                    let status = Arc::new(StreamStatus::new(want.clone()));
                    let task = self.spawn(key, status.clone());
                    self.registry
                        .lock()
                        .expect("poisoned")
                        .insert(layout::stream_id(key), status.clone());
                    self.streams.insert(
                        key.clone(),
                        Entry {
                            status,
                            task,
                            last: want.clone(),
                        },
                    );
                }
            }
        }
        for (key, entry) in &self.streams {
            if !desired.streams.contains_key(key) {
                entry.status.want(None);
            }
        }
    }

    fn spawn(&self, key: &StreamKey, status: Arc<StreamStatus>) -> JoinHandle<()> {
        tokio::spawn(stream::run(
            self.docker.clone(),
            self.settings.clone(),
            key.clone(),
            status,
            self.hard_stop.clone(),
        ))
    }

    /// Drops streams that have stopped for good, keeping their counters in
    /// the totals.
    fn forget_finished(&mut self) {
        let done: Vec<StreamKey> = self
            .streams
            .iter()
            .filter(|(_, e)| e.task.is_finished() && e.status.wanted().is_none())
            .map(|(k, _)| k.clone())
            .collect();
        for key in done {
            if let Some(entry) = self.streams.remove(&key) {
                self.registry
                    .lock()
                    .expect("poisoned")
                    .remove(&layout::stream_id(&key));
                let report = report(&entry);
                let mut closed = self.closed.lock().expect("poisoned");
                closed.lines += report.lines;
                closed.bytes += report.bytes;
                closed.dropped_bytes += report.dropped_bytes;
                closed.duplicate_lines += report.duplicate_lines;
                closed.rotations += report.rotations;
            }
        }
    }

    /// One report per known stream (running, draining or failed), sorted,
    /// and the totals since the executor started (including streams that
    /// ended, and drops from spool directories of earlier runs).
    pub fn reports(&mut self) -> (Vec<StreamReport>, Totals) {
        self.forget_finished();
        let mut reports: Vec<StreamReport> = self.streams.values().map(report).collect();
        reports.sort_by(|a, b| (&a.container_id, &a.path).cmp(&(&b.container_id, &b.path)));
        let mut totals = self.closed.lock().expect("poisoned").clone();
        for r in &reports {
            totals.lines += r.lines;
            totals.bytes += r.bytes;
            totals.dropped_bytes += r.dropped_bytes;
            totals.duplicate_lines += r.duplicate_lines;
            totals.rotations += r.rotations;
        }
        (reports, totals)
    }

    /// The glob covering a stream's spool segments: the Logstash `path =>`.
    pub fn spool_glob(&self, key: &StreamKey) -> String {
        layout::spool_glob(&self.settings.spool_dir, key)
    }

    /// The sincedb the Logstash file input of this stream must use.
    pub fn sincedb_path(&self, key: &StreamKey) -> PathBuf {
        layout::sincedb_path(&self.settings.state_dir, key)
    }

    /// Stops every stream: asks each to kill its processes and drain, waits
    /// up to `grace`, then stops what is left (each still flushes, fsyncs and
    /// checkpoints what it has). Returns the final reports.
    pub async fn shutdown(mut self, grace: Duration) -> (Vec<StreamReport>, Totals) {
        for entry in self.streams.values() {
            entry.status.want(None);
        }
        {
            let tasks: Vec<&mut JoinHandle<()>> =
                self.streams.values_mut().map(|e| &mut e.task).collect();
            let all = futures::future::join_all(tasks);
            tokio::pin!(all);
            if tokio::time::timeout(grace, &mut all).await.is_err() {
                tracing::warn!(?grace, "streams did not drain in time; stopping them");
                self.hard_stop.cancel();
                let _ = tokio::time::timeout(Duration::from_secs(10), &mut all).await;
            }
        }
        self.budget_stop.cancel();
        let _ = (&mut self.budget_task).await;
        // Give the detached kill execs a moment to be sent.
        tokio::time::sleep(Duration::from_millis(100)).await;
        self.reports()
    }
}

impl Drop for StreamManager {
    /// Dropped without [`StreamManager::shutdown`]: stop the tasks anyway;
    /// the checkpoints on disk stay consistent (they trail the spool).
    fn drop(&mut self) {
        self.hard_stop.cancel();
        self.budget_stop.cancel();
    }
}

fn report(entry: &Entry) -> StreamReport {
    let s = &entry.status;
    let (state, reason) = s.state();
    let (reader, reader_note) = s.reader();
    StreamReport {
        container_id: entry.last.key.container_id.clone(),
        image: entry.last.image.clone(),
        path: entry.last.key.path.clone(),
        state,
        reason,
        lines: s.lines.load(Ordering::Relaxed),
        bytes: s.bytes.load(Ordering::Relaxed),
        dropped_bytes: s.dropped_bytes.load(Ordering::Relaxed),
        rotations: s.rotations.load(Ordering::Relaxed),
        duplicate_lines: s.duplicate_lines.load(Ordering::Relaxed),
        reader,
        reader_note,
        lost_files: s.lost_files.load(Ordering::Relaxed),
    }
}

/// Enforces the spool budget every `budget_every`, attributing dropped
/// bytes to their streams (or to the totals, for streams no longer known).
async fn budget_loop(
    settings: Arc<StreamSettings>,
    registry: Registry,
    closed: Arc<Mutex<Totals>>,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(settings.budget_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut warned = false;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let active: HashSet<String> = registry.lock().expect("poisoned").keys().cloned().collect();
        let s = settings.clone();
        let pass = tokio::task::spawn_blocking(move || {
            spool::enforce_budget(
                &s.spool_dir,
                &s.state_dir.join("sincedb"),
                s.budget,
                &active,
            )
        })
        .await;
        match pass {
            Ok(Ok(pass)) => {
                let registry = registry.lock().expect("poisoned");
                for (stream, dropped) in pass.dropped {
                    tracing::warn!(%stream, dropped, "spool over budget: deleted unread bytes");
                    match registry.get(&stream) {
                        Some(status) => {
                            status.dropped_bytes.fetch_add(dropped, Ordering::Relaxed);
                        }
                        None => closed.lock().expect("poisoned").dropped_bytes += dropped,
                    }
                }
                if pass.over_budget && !warned {
                    tracing::warn!(
                        total = pass.total,
                        budget = settings.budget,
                        "the live spool segments alone exceed the budget"
                    );
                }
                warned = pass.over_budget;
            }
            Ok(Err(e)) => tracing::error!(error = %e, "spool budget pass failed"),
            Err(e) => tracing::error!(error = %e, "spool budget task failed"),
        }
        if let Some(retention) = settings.state_retention {
            let s = settings.clone();
            let active: HashSet<String> =
                registry.lock().expect("poisoned").keys().cloned().collect();
            let pass = tokio::task::spawn_blocking(move || {
                retention::expire(
                    &s.spool_dir,
                    &s.state_dir,
                    &active,
                    std::time::SystemTime::now(),
                    retention,
                )
            })
            .await;
            match pass {
                Ok(Ok(pass)) => {
                    for stream in &pass.streams {
                        tracing::info!(%stream, ?retention, "removed the state of a stream gone for longer than the retention");
                    }
                    let dropped: u64 = pass.dropped.values().sum();
                    if dropped > 0 {
                        tracing::warn!(dropped, "expired spool held unread bytes");
                        closed.lock().expect("poisoned").dropped_bytes += dropped;
                    }
                }
                Ok(Err(e)) => tracing::error!(error = %e, "state retention pass failed"),
                Err(e) => tracing::error!(error = %e, "state retention task failed"),
            }
        }
    }
}

/// How often the other state directories under the state root are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(3600);

/// Holds the lock of the state directory, retrying while another process
/// has it, and sweeps the state root at start and every [`SWEEP_EVERY`].
async fn state_root_loop(settings: Arc<StreamSettings>, root: PathBuf, stop: CancellationToken) {
    let mut lock: Option<StateLock> = None;
    let mut warned = false;
    let mut next_sweep = tokio::time::Instant::now();
    loop {
        if lock.is_none() {
            let dir = settings.state_dir.clone();
            match tokio::task::spawn_blocking(move || StateLock::try_acquire(&dir)).await {
                Ok(Ok(Some(held))) => lock = Some(held),
                Ok(Ok(None)) if !warned => {
                    warned = true;
                    tracing::warn!(dir = %settings.state_dir.display(), "another process holds the state directory's lock; retrying");
                }
                Ok(Ok(None)) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "cannot lock the state directory"),
                Err(e) => tracing::error!(error = %e, "state directory lock task failed"),
            }
        }
        if let Some(retention) = settings.state_retention
            && tokio::time::Instant::now() >= next_sweep
        {
            next_sweep += SWEEP_EVERY;
            let (root, own) = (root.clone(), settings.state_dir.clone());
            let pass = tokio::task::spawn_blocking(move || {
                state_root::sweep(&root, &own, std::time::SystemTime::now(), retention)
            })
            .await;
            match pass {
                Ok(Ok(swept)) => {
                    for gone in swept {
                        tracing::warn!(
                            dir = %gone.dir.display(),
                            unread_bytes = gone.unread,
                            ?retention,
                            "removed the state directory of a framework or agent whose executor is gone"
                        );
                    }
                }
                Ok(Err(e)) => tracing::error!(error = %e, "state root sweep failed"),
                Err(e) => tracing::error!(error = %e, "state root sweep task failed"),
            }
        }
        let wait = match (&lock, settings.state_retention) {
            (None, _) => Duration::from_secs(1),
            (Some(_), None) => SWEEP_EVERY,
            (Some(_), Some(_)) => next_sweep.saturating_duration_since(tokio::time::Instant::now()),
        };
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

//! The durable event journal and the one write interface of the system.
//!
//! Every change goes through [`Journal::submit`]: the command is validated,
//! decided against the current state (`state::decide`), the resulting events are
//! made durable, then applied to the projections, and only then is the caller
//! answered. Readers see the projections through [`Journal::read`] and never see
//! an event that is not on disk.
//!
//! This build keeps the log on one node. Replication puts consensus between
//! "decided" and "durable" without changing this interface: callers already
//! handle [`SubmitError::Unavailable`] for the moment no leader is reachable.

mod store;

use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::{Mutex, watch};

use crate::events::{Actor, Command, Envelope, Proposal};
use crate::state::{self, Rejection, State};

use store::EventStore;

/// How many events may pass between two projection snapshots; the tail after
/// the last snapshot is replayed at start-up.
const SNAPSHOT_EVERY: u64 = 4096;

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("the data directory {0} is in use by another process")]
    Locked(String),
    #[error("cannot create {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("storage error: {0}")]
    Storage(#[from] sled::Error),
    #[error("event {seq} cannot be read: {reason}")]
    Corrupt { seq: u64, reason: String },
    #[error("projection snapshot cannot be read: {0}")]
    CorruptSnapshot(String),
}

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// No replica can accept writes right now; retry later, at the hinted leader if any.
    #[error("no leader is available to accept writes")]
    Unavailable { leader_hint: Option<String> },
    #[error(transparent)]
    Storage(#[from] JournalError),
}

pub struct Journal {
    dir: PathBuf,
    store: EventStore,
    state: RwLock<State>,
    /// Serializes writers, so seqs are assigned and made durable in order.
    writer: Mutex<u64>,
    last_seq: watch::Sender<u64>,
    snapshot_every: u64,
}

impl Journal {
    /// Opens (or creates) the journal in `dir` and rebuilds the projections:
    /// the last snapshot plus the events after it, or the whole log when the
    /// snapshot is missing or unreadable.
    pub fn open(dir: &Path) -> Result<Journal, JournalError> {
        Journal::open_with(dir, SNAPSHOT_EVERY)
    }

    /// [`Journal::open`] with the number of events between projection snapshots.
    pub fn open_with(dir: &Path, snapshot_every: u64) -> Result<Journal, JournalError> {
        let store = EventStore::open(dir)?;
        let last_seq = store.last_seq()?;
        let snapshot = match store.load_snapshot() {
            Ok(Some(s)) if s.last_seq <= last_seq => s,
            Ok(Some(s)) => {
                tracing::warn!(
                    snapshot_seq = s.last_seq,
                    last_seq,
                    "projection snapshot is ahead of the log; rebuilding from the log"
                );
                State::default()
            }
            Ok(None) => State::default(),
            Err(e) => {
                tracing::warn!(error = %e, "rebuilding projections from the log");
                State::default()
            }
        };
        let mut state = snapshot;
        let from = state.last_seq + 1;
        for env in store.range(from, last_seq, true) {
            let env = env?;
            if env.seq != state.last_seq + 1 {
                return Err(JournalError::Corrupt {
                    seq: state.last_seq + 1,
                    reason: format!("missing; the next stored event is {}", env.seq),
                });
            }
            state.apply(&env);
        }
        tracing::info!(dir = %dir.display(), last_seq, "journal opened");
        let (last_seq_tx, _) = watch::channel(state.last_seq);
        Ok(Journal {
            dir: dir.to_path_buf(),
            store,
            writer: Mutex::new(state.last_seq),
            state: RwLock::new(state),
            last_seq: last_seq_tx,
            snapshot_every: snapshot_every.max(1),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Validates, decides and durably appends a command; returns the events it
    /// produced (none when it changed nothing).
    pub async fn submit(
        &self,
        actor: Actor,
        command: Command,
    ) -> Result<Vec<Envelope>, SubmitError> {
        state::validate(&command)?;
        let proposal = Proposal {
            at: now_millis(),
            actor,
            command,
        };
        let mut last_snapshot = self.writer.lock().await;
        let envelopes = self.read(|s| s.envelopes(&proposal))?;
        if envelopes.is_empty() {
            return Ok(envelopes);
        }
        self.store.append_durably(&envelopes).await?;
        let last = {
            let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
            for env in &envelopes {
                state.apply(env);
            }
            state.last_seq
        };
        for env in &envelopes {
            metrics::counter!("logstash_mesos_events_appended_total", "type" => env.event.event_type().as_str())
                .increment(1);
        }
        self.last_seq.send_replace(last);
        if last - *last_snapshot >= self.snapshot_every {
            let snapshot = self.read(State::clone);
            self.store.save_snapshot(&snapshot).await?;
            *last_snapshot = last;
        }
        Ok(envelopes)
    }

    /// Runs `f` on the current projections. Keep `f` short: writers wait for it.
    pub fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        f(&self.state.read().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn last_seq(&self) -> u64 {
        *self.last_seq.borrow()
    }

    /// Follows the seq of the last applied event, for streaming readers.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.last_seq.subscribe()
    }

    pub fn event(&self, seq: u64) -> Result<Option<Envelope>, JournalError> {
        self.store.get(seq)
    }

    /// Applied events with `from <= seq <= to`, oldest or newest first.
    pub fn events(
        &self,
        from: u64,
        to: u64,
        ascending: bool,
    ) -> impl Iterator<Item = Result<Envelope, JournalError>> + '_ {
        // Only what is applied, even while a writer is between append and apply.
        let to = to.min(self.last_seq());
        self.store.range(from.max(1), to, ascending)
    }

    /// The seq of the last event at or before `time_ms` (0 if none): event times
    /// never decrease along the log, so this is a binary search by seq.
    pub fn seq_at_time(&self, time_ms: u64) -> Result<u64, JournalError> {
        let (mut lo, mut hi) = (0u64, self.last_seq());
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            let at = self
                .store
                .get(mid)?
                .ok_or_else(|| JournalError::Corrupt {
                    seq: mid,
                    reason: "missing".into(),
                })?
                .at;
            if at <= time_ms {
                lo = mid
            } else {
                hi = mid - 1
            }
        }
        Ok(lo)
    }

    pub fn size_on_disk(&self) -> u64 {
        self.store.size_on_disk()
    }

    /// Saves a projection snapshot so the next start replays nothing.
    pub async fn close(&self) -> Result<(), JournalError> {
        let _writer = self.writer.lock().await;
        let snapshot = self.read(State::clone);
        self.store.save_snapshot(&snapshot).await
    }
}

pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests;

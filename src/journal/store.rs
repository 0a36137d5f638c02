//! The on-disk event history and projection snapshot, in sled.
//!
//! Trees: `events` maps the big-endian seq to an encoded [`Envelope`], so key
//! order is seq order; `meta` holds the latest projection snapshot. Nothing
//! here fsyncs: the Raft log is the durable record, and the state machine
//! rebuilds whatever a crash took from these trees (see `machine`).

use std::path::Path;

use crate::events::Envelope;
use crate::events::codec::{self, CodecError};
use crate::state::State;

use super::JournalError;

const SNAPSHOT_KEY: &[u8] = b"projection";

/// Opens (or creates) the one sled database of a data directory.
pub fn open_db(dir: &Path) -> Result<sled::Db, JournalError> {
    std::fs::create_dir_all(dir).map_err(|e| JournalError::Io {
        path: dir.display().to_string(),
        source: e,
    })?;
    sled::Config::new()
        .path(dir.join("journal"))
        .cache_capacity(64 * 1024 * 1024)
        // The Raft log is fsynced explicitly; the background flush only
        // bounds how much of the rebuildable trees a crash can take.
        .flush_every_ms(Some(1000))
        .open()
        .map_err(|e| open_error(dir, e))
}

#[derive(Clone)]
pub struct EventStore {
    db: sled::Db,
    events: sled::Tree,
    meta: sled::Tree,
}

impl EventStore {
    pub fn open(db: &sled::Db) -> Result<EventStore, JournalError> {
        let events = db.open_tree("events").map_err(JournalError::Storage)?;
        let meta = db.open_tree("meta").map_err(JournalError::Storage)?;
        Ok(EventStore {
            db: db.clone(),
            events,
            meta,
        })
    }

    /// Writes the envelopes (readable at once, durable with the next fsync).
    pub fn append(&self, envelopes: &[Envelope]) -> Result<(), JournalError> {
        let mut batch = sled::Batch::default();
        for env in envelopes {
            batch.insert(&env.seq.to_be_bytes(), codec::encode_envelope(env));
        }
        self.events
            .apply_batch(batch)
            .map_err(JournalError::Storage)
    }

    /// Removes every event after `seq`.
    pub fn truncate_after(&self, seq: u64) -> Result<(), JournalError> {
        let Some(from) = seq.checked_add(1) else {
            return Ok(());
        };
        let mut batch = sled::Batch::default();
        for item in self.events.range(from.to_be_bytes()..) {
            let (key, _) = item.map_err(JournalError::Storage)?;
            batch.remove(key);
        }
        self.events
            .apply_batch(batch)
            .map_err(JournalError::Storage)
    }

    pub fn last_seq(&self) -> Result<u64, JournalError> {
        match self.events.last().map_err(JournalError::Storage)? {
            None => Ok(0),
            Some((key, _)) => seq_of(&key),
        }
    }

    pub fn get(&self, seq: u64) -> Result<Option<Envelope>, JournalError> {
        self.events
            .get(seq.to_be_bytes())
            .map_err(JournalError::Storage)?
            .map(|bytes| decode_at(seq, &bytes))
            .transpose()
    }

    /// Events with `from <= seq <= to`, in the given order.
    pub fn range(
        &self,
        from: u64,
        to: u64,
        ascending: bool,
    ) -> impl Iterator<Item = Result<Envelope, JournalError>> + '_ {
        let iter = self.events.range(from.to_be_bytes()..=to.to_be_bytes());
        let iter: Box<dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>> = if ascending {
            Box::new(iter)
        } else {
            Box::new(iter.rev())
        };
        iter.map(|item| {
            let (key, value) = item.map_err(JournalError::Storage)?;
            decode_at(seq_of(&key)?, &value)
        })
    }

    pub fn load_snapshot(&self) -> Result<Option<State>, JournalError> {
        match self.meta.get(SNAPSHOT_KEY).map_err(JournalError::Storage)? {
            None => Ok(None),
            Some(bytes) => codec::decode(&bytes)
                .map(Some)
                .map_err(|e| JournalError::CorruptSnapshot(e.to_string())),
        }
    }

    /// Stores a projection snapshot, so a restart replays only the events after it.
    pub fn save_snapshot(&self, state: &State) -> Result<(), JournalError> {
        self.meta
            .insert(SNAPSHOT_KEY, codec::encode(state))
            .map_err(JournalError::Storage)?;
        Ok(())
    }

    /// Rebuilds the projections of the events up to `last_seq`: the projection
    /// snapshot plus the events after it, or the whole history when the
    /// snapshot is missing, unreadable or ahead.
    pub fn rebuild(&self, last_seq: u64) -> Result<State, JournalError> {
        let mut state = match self.load_snapshot() {
            Ok(Some(s)) if s.last_seq <= last_seq => s,
            Ok(Some(s)) => {
                tracing::warn!(
                    snapshot_seq = s.last_seq,
                    last_seq,
                    "projection snapshot is ahead of the history; rebuilding from the history"
                );
                State::default()
            }
            Ok(None) => State::default(),
            Err(e) => {
                tracing::warn!(error = %e, "rebuilding projections from the history");
                State::default()
            }
        };
        for env in self.dense(state.last_seq + 1, last_seq) {
            state.apply(&env?);
        }
        Ok(state)
    }

    /// Events `from..=to`, oldest first, every one of them: a gap or an
    /// undecodable record ends the iteration with an error naming the seq.
    pub fn dense(
        &self,
        from: u64,
        to: u64,
    ) -> impl Iterator<Item = Result<Envelope, JournalError>> + '_ {
        let mut expected = from.max(1);
        let mut stored = self.range(expected, to, true);
        let mut ended = false;
        std::iter::from_fn(move || {
            if ended {
                return None;
            }
            let item = match stored.next() {
                Some(Ok(env)) if env.seq == expected => {
                    expected += 1;
                    return Some(Ok(env));
                }
                Some(Ok(env)) => Err(JournalError::Corrupt {
                    seq: expected,
                    reason: format!("missing; the next stored event is {}", env.seq),
                }),
                Some(Err(e)) => Err(e),
                None if expected <= to => Err(JournalError::Corrupt {
                    seq: expected,
                    reason: format!("missing; the history should end at {to}"),
                }),
                None => return None,
            };
            ended = true;
            Some(item)
        })
    }

    /// The seq of the last event at or before `time_ms` among `1..=last_seq`
    /// (0 when none is): times never decrease along the log, so a binary
    /// search finds it.
    pub fn seq_at_time(&self, last_seq: u64, time_ms: u64) -> Result<u64, JournalError> {
        let (mut lo, mut hi) = (0u64, last_seq);
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            let at = self
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

    /// Makes everything written so far durable.
    pub async fn flush(&self) -> Result<(), JournalError> {
        self.db.flush_async().await.map_err(JournalError::Storage)?;
        Ok(())
    }

    /// Bytes the database occupies on disk.
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }
}

fn seq_of(key: &[u8]) -> Result<u64, JournalError> {
    let bytes: [u8; 8] = key.try_into().map_err(|_| JournalError::Corrupt {
        seq: 0,
        reason: format!("event key of {} bytes", key.len()),
    })?;
    Ok(u64::from_be_bytes(bytes))
}

fn decode_at(seq: u64, bytes: &[u8]) -> Result<Envelope, JournalError> {
    let env = codec::decode_envelope(bytes).map_err(|e: CodecError| JournalError::Corrupt {
        seq,
        reason: e.to_string(),
    })?;
    if env.seq != seq {
        return Err(JournalError::Corrupt {
            seq,
            reason: format!("record holds seq {}", env.seq),
        });
    }
    Ok(env)
}

fn open_error(dir: &Path, e: sled::Error) -> JournalError {
    match &e {
        sled::Error::Io(io) if io.kind() == std::io::ErrorKind::WouldBlock => {
            JournalError::Locked(dir.display().to_string())
        }
        sled::Error::Io(io) if io.to_string().contains("lock") => {
            JournalError::Locked(dir.display().to_string())
        }
        _ => JournalError::Storage(e),
    }
}

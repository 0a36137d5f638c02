//! The Raft log and vote in sled.
//!
//! Trees: `raft_log` maps the big-endian index to an encoded entry (key order
//! is index order), `raft_meta` holds `vote`, `committed` and `last_purged`.
//!
//! Durability: `save_vote` returns only after an fsync. Appends are written to
//! sled at once (so they are readable) and handed to one flusher thread,
//! which fsyncs once for every append that queued up meanwhile and only then
//! tells openraft they are durable. openraft 0.9 waits for each append to be
//! durable before it starts the next, so on a leader an fsync covers one
//! entry; entries carry batches of writes for that reason (`types::Batch`).
//!
//! Entries written before batches (schema version 1) carry one request;
//! they are read as a batch of one.

// openraft's traits fix the error type (`StorageError`, 224 bytes); the
// helpers return it as the traits do.
#![allow(clippy::result_large_err)]

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};

use openraft::storage::{LogFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::{RaftLogId, StorageIOError, Vote};
use tokio::sync::mpsc;

use crate::events::codec;

use super::types::{Entry, LogId, NodeId, StorageError, TypeConfig};

const LOG_TREE: &str = "raft_log";
const META_TREE: &str = "raft_meta";
const VOTE: &[u8] = b"vote";
const COMMITTED: &[u8] = b"committed";
const LAST_PURGED: &[u8] = b"last_purged";

/// How long the flusher waits for more appends while writes arrive in bursts.
const GATHER: std::time::Duration = std::time::Duration::from_micros(500);

/// Whether `db` holds any Raft state (a vote, log entries): every replica
/// that ever started does, a journal from before replication does not.
pub fn holds_raft_state(db: &sled::Db) -> Result<bool, sled::Error> {
    Ok(!db.open_tree(LOG_TREE)?.is_empty() || !db.open_tree(META_TREE)?.is_empty())
}

#[derive(Clone)]
pub struct LogStore {
    db: sled::Db,
    log: sled::Tree,
    meta: sled::Tree,
    flusher: mpsc::UnboundedSender<LogFlushed<TypeConfig>>,
}

impl LogStore {
    /// Opens the log trees of `db` and starts the flusher; needs a tokio runtime.
    pub fn open(db: &sled::Db) -> Result<LogStore, sled::Error> {
        let log = db.open_tree(LOG_TREE)?;
        let meta = db.open_tree(META_TREE)?;
        let (flusher, pending) = mpsc::unbounded_channel();
        let flushing = db.clone();
        std::thread::Builder::new()
            .name("raft-log-flush".into())
            .spawn(move || flush_loop(flushing, pending))
            .map_err(sled::Error::Io)?;
        Ok(LogStore {
            db: db.clone(),
            log,
            meta,
            flusher,
        })
    }

    fn read_meta<T: serde::de::DeserializeOwned>(
        &self,
        key: &[u8],
    ) -> Result<Option<T>, StorageError> {
        let bytes = self.meta.get(key).map_err(|e| read_err(&e))?;
        bytes
            .map(|b| codec::decode(&b).map_err(|e| read_err(&e)))
            .transpose()
    }

    /// The id of the last entry, or of the last purged one when the log is empty.
    pub fn last_log_id(&self) -> Option<LogId> {
        let purged: Option<LogId> = self.read_meta(LAST_PURGED).ok().flatten();
        self.last_entry_id().ok().flatten().or(purged)
    }

    fn last_entry_id(&self) -> Result<Option<LogId>, StorageError> {
        match self.log.last().map_err(|e| read_err(&e))? {
            None => Ok(None),
            Some((_, bytes)) => Ok(Some(decode_entry(&bytes)?.log_id)),
        }
    }
}

/// Completes queued append callbacks after one fsync for all of them.
///
/// A thread of its own: a flush is blocking IO, and sled's `flush_async`
/// would hop through its thread pool for each one. Under load (the last
/// flush covered several appends) it waits a moment for more appends to
/// arrive, so one fsync covers more of them; an isolated write is flushed
/// at once.
fn flush_loop(db: sled::Db, mut pending: mpsc::UnboundedReceiver<LogFlushed<TypeConfig>>) {
    let mut busy = false;
    while let Some(first) = pending.blocking_recv() {
        if busy {
            std::thread::sleep(GATHER);
        }
        let mut waiting = vec![first];
        while let Ok(more) = pending.try_recv() {
            waiting.push(more);
        }
        busy = waiting.len() > 1;
        let result = db.flush().map(|_| ()).map_err(|e| e.to_string());
        metrics::histogram!("logstash_mesos_raft_appends_per_fsync").record(waiting.len() as f64);
        for callback in waiting {
            callback.log_io_completed(result.clone().map_err(std::io::Error::other));
        }
    }
}

fn key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

fn read_err(e: &(impl std::error::Error + 'static)) -> StorageError {
    StorageIOError::read_logs(openraft::AnyError::new(e)).into()
}

fn write_err(e: &(impl std::error::Error + 'static)) -> StorageError {
    StorageIOError::write_logs(openraft::AnyError::new(e)).into()
}

fn decode_entry(bytes: &[u8]) -> Result<Entry, StorageError> {
    if codec::version_of(bytes).map_err(|e| read_err(&e))? < BATCHES_SINCE {
        let old: legacy::Entry = codec::decode(bytes).map_err(|e| read_err(&e))?;
        return Ok(legacy::batch_of_one(old));
    }
    codec::decode(bytes).map_err(|e| read_err(&e))
}

/// The schema version from which entries carry a [`Batch`](super::types::Batch).
const BATCHES_SINCE: u16 = 2;

/// Entries as written before batches: one request each.
mod legacy {
    use std::io::Cursor;

    use openraft::EntryPayload;

    use super::super::types::{self, Batch, Request, Response};

    openraft::declare_raft_types!(
        pub Config:
            D = Request,
            R = Response,
            NodeId = u64,
            Node = openraft::BasicNode,
            Entry = openraft::Entry<Config>,
            SnapshotData = Cursor<Vec<u8>>,
            AsyncRuntime = openraft::TokioRuntime,
    );

    pub type Entry = openraft::Entry<Config>;

    pub fn batch_of_one(old: Entry) -> types::Entry {
        types::Entry {
            log_id: old.log_id,
            payload: match old.payload {
                EntryPayload::Blank => EntryPayload::Blank,
                EntryPayload::Normal(request) => EntryPayload::Normal(Batch(vec![request])),
                EntryPayload::Membership(membership) => EntryPayload::Membership(membership),
            },
        }
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let start = match range.start_bound() {
            Bound::Included(i) => Bound::Included(key(*i)),
            Bound::Excluded(i) => Bound::Excluded(key(*i)),
            Bound::Unbounded => Bound::Unbounded,
        };
        let end = match range.end_bound() {
            Bound::Included(i) => Bound::Included(key(*i)),
            Bound::Excluded(i) => Bound::Excluded(key(*i)),
            Bound::Unbounded => Bound::Unbounded,
        };
        self.log
            .range::<[u8; 8], _>((start, end))
            .map(|item| {
                let (_, bytes) = item.map_err(|e| read_err(&e))?;
                decode_entry(&bytes)
            })
            .collect()
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged_log_id: Option<LogId> = self.read_meta(LAST_PURGED)?;
        let last_log_id = self.last_entry_id()?.or(last_purged_log_id);
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError> {
        self.meta
            .insert(VOTE, codec::encode(vote))
            .map_err(|e| StorageError::from(StorageIOError::write_vote(&e)))?;
        // A vote must never be forgotten: granting two in one term after a
        // crash could elect two leaders.
        self.db
            .flush_async()
            .await
            .map_err(|e| StorageError::from(StorageIOError::write_vote(&e)))?;
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError> {
        self.read_meta(VOTE)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        // Made durable by the next fsync; losing it only means re-applying
        // from the state machine's own marker, which is always behind it.
        self.meta
            .insert(COMMITTED, codec::encode(&committed))
            .map_err(|e| write_err(&e))?;
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.read_meta::<Option<LogId>>(COMMITTED)?.flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        // A sled batch writes the log out twice to be atomic; one entry (as
        // a leader appends them) is atomic by itself.
        let mut entries = entries.into_iter();
        match (entries.next(), entries.next()) {
            (None, _) => {}
            (Some(only), None) => {
                self.log
                    .insert(key(only.get_log_id().index), codec::encode(&only))
                    .map_err(|e| write_err(&e))?;
            }
            (Some(first), Some(second)) => {
                let mut batch = sled::Batch::default();
                for entry in [first, second].into_iter().chain(entries) {
                    batch.insert(&key(entry.get_log_id().index), codec::encode(&entry));
                }
                self.log.apply_batch(batch).map_err(|e| write_err(&e))?;
            }
        }
        // The flusher calls back after the fsync; if it is gone the process is
        // shutting down and openraft learns it from the dropped callback.
        let _ = self.flusher.send(callback);
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let mut batch = sled::Batch::default();
        for item in self.log.range(key(log_id.index)..) {
            let (k, _) = item.map_err(|e| write_err(&e))?;
            batch.remove(k);
        }
        self.log.apply_batch(batch).map_err(|e| write_err(&e))?;
        self.db.flush_async().await.map_err(|e| write_err(&e))?;
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        // The purge point first: a crash between the two leaves entries that
        // are ignored, never a hole that is not accounted for.
        self.meta
            .insert(LAST_PURGED, codec::encode(&log_id))
            .map_err(|e| write_err(&e))?;
        self.db.flush_async().await.map_err(|e| write_err(&e))?;
        let mut batch = sled::Batch::default();
        for item in self.log.range(..=key(log_id.index)) {
            let (k, _) = item.map_err(|e| write_err(&e))?;
            batch.remove(k);
        }
        self.log.apply_batch(batch).map_err(|e| write_err(&e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use openraft::{CommittedLeaderId, EntryPayload};

    use super::*;
    use crate::events::{Actor, Command, Proposal};
    use crate::journal::types::{Batch, Request};

    /// A log written before batches (schema version 1, one request per
    /// entry) reads back as batches of one, so such a replica restarts
    /// with its log whole.
    #[test]
    fn entries_from_before_batches_read_as_batches_of_one() {
        let request = Request {
            id: 7,
            proposal: Proposal {
                at: 1_700_000_000_000,
                actor: Actor::System,
                command: Command::DeleteConfig { name: "a".into() },
            },
        };
        let log_id = LogId::new(CommittedLeaderId::new(3, 1), 9);
        let old = legacy::Entry {
            log_id,
            payload: EntryPayload::Normal(request.clone()),
        };
        let mut bytes = codec::encode(&old);
        bytes[..2].copy_from_slice(&1u16.to_be_bytes());
        let read = decode_entry(&bytes).unwrap();
        assert_eq!(read.log_id, log_id);
        assert!(matches!(read.payload, EntryPayload::Normal(Batch(ref r)) if *r == vec![request]));

        let blank = legacy::Entry {
            log_id,
            payload: EntryPayload::Blank,
        };
        let mut bytes = codec::encode(&blank);
        bytes[..2].copy_from_slice(&1u16.to_be_bytes());
        assert!(matches!(
            decode_entry(&bytes).unwrap().payload,
            EntryPayload::Blank
        ));

        // Current entries decode as they are.
        let new = Entry {
            log_id,
            payload: EntryPayload::Normal(Batch(vec![])),
        };
        assert_eq!(decode_entry(&codec::encode(&new)).unwrap().log_id, log_id);
    }
}

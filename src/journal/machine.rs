//! The Raft state machine: every committed [`Request`] is decided against the
//! projections (`State::envelopes`), its events appended to the history and
//! folded into the projections. Every replica runs the same code on the same
//! entries in the same order, so every replica holds the same history.
//!
//! What is kept where, and why a crash cannot leave it inconsistent:
//! * `events` (the history) and the projection snapshot: see `store`;
//! * tree `sm`: the marker (last applied log id, membership, last seq, the
//!   request clock) and the outcome of every recent request id, written in
//!   one atomic batch *after* the events of the same entries. After a crash,
//!   events beyond the marker's `last_seq` are dropped at open and the entries
//!   after the marker are applied again from the Raft log;
//! * tree `snapshot`: the last Raft snapshot (meta plus body). openraft 0.9
//!   does not restore it at start-up, so [`Machine::open`] does, when it is
//!   newer than the marker (a crash while installing one, or a log purged
//!   past the marker).
//!
//! A snapshot body carries the projections, the whole event history and the
//! request outcomes, so a replica that installs one is identical to the
//! leader, history included.

// openraft's traits fix the error type (`StorageError`, 224 bytes); the
// helpers return it as the traits do.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Cursor;
use std::sync::{Arc, RwLock};

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{EntryPayload, RaftSnapshotBuilder, StorageIOError};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::events::Envelope;
use crate::events::codec;
use crate::state::Rejection;
use crate::state::State;

use super::JournalError;
use super::store::EventStore;
use super::types::{
    Answers, Batch, LogId, Request, Response, SnapshotMeta, StorageError, StoredMembership,
    TypeConfig,
};

const MARKER: &[u8] = b"marker";
const REQUEST_PREFIX: u8 = b'r';
const CURRENT_SNAPSHOT: &[u8] = b"current";
/// Present while the history holds events from before replication that no
/// Raft snapshot covers yet: no other replica can get them until one does.
const LEGACY: &[u8] = b"legacy";

/// How long a request id is remembered, in the leader's time. A forwarded
/// write is retried for seconds at most; this leaves a wide margin.
pub const REQUEST_WINDOW_MS: u64 = 120_000;

/// How many request ids are remembered at most, whatever the times say (a
/// leader's clock that jumped, or a history from before leaders stamped the
/// time): far more than the writes of the seconds a retry can take.
pub const REQUEST_MEMORY: usize = 100_000;

/// How many events may pass between two projection snapshots.
pub const PROJECTION_EVERY: u64 = 4096;

/// What readers share with the state machine.
pub struct Shared {
    pub state: RwLock<State>,
    pub store: EventStore,
    pub last_seq: watch::Sender<u64>,
    sm: sled::Tree,
}

impl Shared {
    /// Whether the history still holds events from before replication that
    /// no snapshot covers (see [`LEGACY`]).
    pub fn legacy_pending(&self) -> bool {
        self.sm.contains_key(LEGACY).unwrap_or(true)
    }

    pub fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        f(&self.state.read().unwrap_or_else(|e| e.into_inner()))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Marker {
    applied: Option<LogId>,
    membership: StoredMembership,
    last_seq: u64,
    /// The time the leader stamped on the last request; request ids older
    /// than the window before it are forgotten. Deterministic, so every
    /// replica forgets the same ids at the same entry. It is the last time,
    /// not the greatest: one entry stamped far ahead (by a leader whose
    /// clock jumped, or in a history from before leaders stamped the time)
    /// does not make every later request id expire at once.
    clock: u64,
}

/// How a request ended the first time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Done {
    at: u64,
    outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum Outcome {
    Applied { first: u64, count: u64 },
    Rejected(Rejection),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Requests {
    done: BTreeMap<u128, Done>,
    by_time: BTreeSet<(u64, u128)>,
}

impl Requests {
    fn insert(&mut self, id: u128, done: Done) {
        self.by_time.insert((done.at, id));
        self.done.insert(id, done);
    }

    /// Forgets requests older than the window, and the oldest beyond
    /// [`REQUEST_MEMORY`]; returns their ids.
    fn expire(&mut self, clock: u64) -> Vec<u128> {
        let mut gone = Vec::new();
        while let Some(&(at, id)) = self.by_time.first() {
            if at.saturating_add(REQUEST_WINDOW_MS) >= clock && self.done.len() <= REQUEST_MEMORY {
                break;
            }
            self.by_time.pop_first();
            self.done.remove(&id);
            gone.push(id);
        }
        gone
    }
}

/// The body of a Raft snapshot.
#[derive(Debug, Serialize, Deserialize)]
struct Body {
    state: State,
    events: Vec<Envelope>,
    requests: Vec<(u128, Done)>,
    clock: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta,
    data: Vec<u8>,
}

/// The seq of the last event the state machine applied, as its marker
/// records it: events stored beyond it are leftovers of a crash. `None` for
/// a data directory from before replication (no marker; all events count).
pub(super) fn applied_last_seq(db: &sled::Db) -> Result<Option<u64>, JournalError> {
    let sm = db.open_tree("sm").map_err(JournalError::Storage)?;
    match sm.get(MARKER).map_err(JournalError::Storage)? {
        None => Ok(None),
        Some(bytes) => codec::decode::<Marker>(&bytes)
            .map(|m| Some(m.last_seq))
            .map_err(|e| JournalError::CorruptSnapshot(format!("state marker: {e}"))),
    }
}

/// The projections and the history the last Raft snapshot carries.
pub(super) fn raft_snapshot(db: &sled::Db) -> Result<Option<(State, Vec<Envelope>)>, JournalError> {
    let snapshots = db.open_tree("snapshot").map_err(JournalError::Storage)?;
    let Some(bytes) = snapshots
        .get(CURRENT_SNAPSHOT)
        .map_err(JournalError::Storage)?
    else {
        return Ok(None);
    };
    let stored: StoredSnapshot = codec::decode(&bytes)
        .map_err(|e| JournalError::CorruptSnapshot(format!("raft snapshot: {e}")))?;
    let body: Body = codec::decode(&stored.data)
        .map_err(|e| JournalError::CorruptSnapshot(format!("raft snapshot body: {e}")))?;
    Ok(Some((body.state, body.events)))
}

pub struct Machine {
    shared: Arc<Shared>,
    db: sled::Db,
    sm: sled::Tree,
    snapshots: sled::Tree,
    marker: Marker,
    requests: Requests,
    since_projection: u64,
}

fn request_key(id: u128) -> [u8; 17] {
    let mut key = [0u8; 17];
    key[0] = REQUEST_PREFIX;
    key[1..].copy_from_slice(&id.to_be_bytes());
    key
}

fn sm_err(e: impl std::fmt::Display) -> StorageError {
    StorageIOError::write_state_machine(openraft::AnyError::error(e.to_string())).into()
}

fn snap_err(e: impl std::fmt::Display) -> StorageError {
    StorageIOError::read_snapshot(None, openraft::AnyError::error(e.to_string())).into()
}

impl Machine {
    /// Opens the state machine of `db`: drops events a crash left beyond the
    /// marker, rebuilds the projections, and installs the stored snapshot
    /// when it is newer than what was applied.
    pub async fn open(db: &sled::Db) -> Result<Machine, JournalError> {
        let store = EventStore::open(db)?;
        let sm = db.open_tree("sm").map_err(JournalError::Storage)?;
        let snapshots = db.open_tree("snapshot").map_err(JournalError::Storage)?;
        let marker = match sm.get(MARKER).map_err(JournalError::Storage)? {
            Some(bytes) => codec::decode::<Marker>(&bytes)
                .map_err(|e| JournalError::CorruptSnapshot(format!("state marker: {e}")))?,
            // A data directory from before replication: its history is the
            // state machine's, and the Raft log starts after it.
            None => {
                let last_seq = store.last_seq()?;
                if last_seq > 0 {
                    sm.insert(LEGACY, &[]).map_err(JournalError::Storage)?;
                }
                Marker {
                    last_seq,
                    ..Marker::default()
                }
            }
        };
        store.truncate_after(marker.last_seq)?;
        let state = store.rebuild(marker.last_seq)?;
        let mut requests = Requests::default();
        for item in sm.scan_prefix([REQUEST_PREFIX]) {
            let (key, value) = item.map_err(JournalError::Storage)?;
            let id: [u8; 16] = key[1..]
                .try_into()
                .map_err(|_| JournalError::CorruptSnapshot("request key".into()))?;
            let done: Done = codec::decode(&value)
                .map_err(|e| JournalError::CorruptSnapshot(format!("request record: {e}")))?;
            requests.insert(u128::from_be_bytes(id), done);
        }
        let (last_seq, _) = watch::channel(state.last_seq);
        let shared = Arc::new(Shared {
            state: RwLock::new(state),
            store,
            last_seq,
            sm: sm.clone(),
        });
        let mut machine = Machine {
            shared,
            db: db.clone(),
            sm,
            snapshots,
            marker,
            requests,
            since_projection: 0,
        };
        if let Some(stored) = machine.stored_snapshot().map_err(storage)?
            && stored.meta.last_log_id > machine.marker.applied
        {
            {
                tracing::info!(snapshot = ?stored.meta.last_log_id, applied = ?machine.marker.applied,
                    "restoring the state machine from its last snapshot");
                machine
                    .install(&stored.meta, &stored.data)
                    .await
                    .map_err(storage)?;
            }
        }
        Ok(machine)
    }

    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    fn stored_snapshot(&self) -> Result<Option<StoredSnapshot>, StorageError> {
        match self.snapshots.get(CURRENT_SNAPSHOT).map_err(snap_err)? {
            None => Ok(None),
            Some(bytes) => codec::decode(&bytes).map(Some).map_err(snap_err),
        }
    }

    /// Decides and applies one request to `state`, or answers a repeated one
    /// with its first outcome. Its events join `pending`, which the caller
    /// stores before it releases `state`.
    fn apply_request(
        &mut self,
        state: &mut State,
        request: Request,
        batch: &mut sled::Batch,
        pending: &mut Vec<Envelope>,
    ) -> Result<Response, StorageError> {
        if let Some(done) = self.requests.done.get(&request.id) {
            return self.replay(&done.outcome, pending);
        }
        let proposal = &request.proposal;
        let rules = proposal.command.rules();
        if rules > crate::state::RULES_VERSION {
            // Deciding it with other rules than the leader's could give
            // another history than the other replicas': stop instead.
            return Err(sm_err(format!(
                "the log holds a command checked with validation rules version {rules}; this build \
                 knows up to version {}: upgrade this replica",
                crate::state::RULES_VERSION
            )));
        }
        self.marker.clock = proposal.at;
        let (outcome, response) = match state.envelopes(proposal) {
            Ok(envelopes) => {
                let first = self.marker.last_seq + 1;
                for env in &envelopes {
                    state.apply(env);
                    metrics::counter!("logstash_mesos_events_appended_total",
                        "type" => env.event.event_type().as_str())
                    .increment(1);
                }
                self.marker.last_seq = state.last_seq;
                self.since_projection += envelopes.len() as u64;
                pending.extend(envelopes.iter().cloned());
                let count = envelopes.len() as u64;
                (Outcome::Applied { first, count }, Response(Ok(envelopes)))
            }
            Err(rejection) => (
                Outcome::Rejected(rejection.clone()),
                Response(Err(rejection)),
            ),
        };
        let done = Done {
            at: proposal.at,
            outcome,
        };
        batch.insert(&request_key(request.id), codec::encode(&done));
        self.requests.insert(request.id, done);
        for id in self.requests.expire(self.marker.clock) {
            batch.remove(&request_key(id));
        }
        Ok(response)
    }

    /// The first answer to a repeated request: its events are in `pending`
    /// when the first one was applied in the same call, else in the store.
    fn replay(&self, outcome: &Outcome, pending: &[Envelope]) -> Result<Response, StorageError> {
        match outcome {
            Outcome::Rejected(r) => Ok(Response(Err(r.clone()))),
            Outcome::Applied { count: 0, .. } => Ok(Response(Ok(Vec::new()))),
            Outcome::Applied { first, count } => {
                let last = first + count - 1;
                if pending.first().is_some_and(|e| e.seq <= *first) {
                    let envelopes = pending
                        .iter()
                        .filter(|e| (*first..=last).contains(&e.seq))
                        .cloned()
                        .collect();
                    return Ok(Response(Ok(envelopes)));
                }
                let envelopes = self
                    .shared
                    .store
                    .range(*first, last, true)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(sm_err)?;
                Ok(Response(Ok(envelopes)))
            }
        }
    }

    /// Replaces everything with a snapshot's content.
    async fn install(&mut self, meta: &SnapshotMeta, data: &[u8]) -> Result<(), StorageError> {
        let body: Body = codec::decode(data).map_err(snap_err)?;
        let last_seq = body.state.last_seq;
        let dense = body.events.len() as u64 == last_seq
            && body.events.iter().zip(1..).all(|(env, seq)| env.seq == seq);
        if !dense {
            return Err(snap_err(format!(
                "snapshot history is not 1..={last_seq} ({} events)",
                body.events.len()
            )));
        }
        let store = &self.shared.store;
        store.truncate_after(last_seq).map_err(sm_err)?;
        for chunk in body.events.chunks(1024) {
            store.append(chunk).map_err(sm_err)?;
        }
        let mut requests = Requests::default();
        for (id, done) in body.requests {
            requests.insert(id, done);
        }
        let marker = Marker {
            applied: meta.last_log_id,
            membership: meta.last_membership.clone(),
            last_seq,
            clock: body.clock,
        };
        let mut batch = sled::Batch::default();
        for item in self.sm.scan_prefix([REQUEST_PREFIX]) {
            let (key, _) = item.map_err(sm_err)?;
            batch.remove(key);
        }
        for (id, done) in &requests.done {
            batch.insert(&request_key(*id), codec::encode(done));
        }
        batch.insert(MARKER, codec::encode(&marker));
        batch.remove(LEGACY);
        self.sm.apply_batch(batch).map_err(sm_err)?;
        store.save_snapshot(&body.state).map_err(sm_err)?;
        self.snapshots
            .insert(
                CURRENT_SNAPSHOT,
                codec::encode(&StoredSnapshot {
                    meta: meta.clone(),
                    data: data.to_vec(),
                }),
            )
            .map_err(sm_err)?;
        self.db.flush_async().await.map_err(sm_err)?;
        *self.shared.state.write().unwrap_or_else(|e| e.into_inner()) = body.state;
        self.shared.last_seq.send_replace(last_seq);
        self.marker = marker;
        self.requests = requests;
        self.since_projection = 0;
        Ok(())
    }
}

fn storage(e: StorageError) -> JournalError {
    JournalError::CorruptSnapshot(e.to_string())
}

impl RaftStateMachine<TypeConfig> for Machine {
    type SnapshotBuilder = Builder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        Ok((self.marker.applied, self.marker.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Answers>, StorageError>
    where
        I: IntoIterator<Item = openraft::Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let mut batch = sled::Batch::default();
        let mut responses = Vec::new();
        {
            // Readers see none of these entries until their events are
            // stored (a reader never sees a seq it cannot read back), and
            // the events of all of them are stored in one write.
            let shared = self.shared.clone();
            let mut state = shared.state.write().unwrap_or_else(|e| e.into_inner());
            let mut pending = Vec::new();
            for entry in entries {
                self.marker.applied = Some(entry.log_id);
                match entry.payload {
                    EntryPayload::Blank => responses.push(Answers(Vec::new())),
                    EntryPayload::Membership(membership) => {
                        self.marker.membership =
                            StoredMembership::new(Some(entry.log_id), membership);
                        responses.push(Answers(Vec::new()));
                    }
                    EntryPayload::Normal(Batch(requests)) => {
                        let answers = requests
                            .into_iter()
                            .map(|request| {
                                self.apply_request(&mut state, request, &mut batch, &mut pending)
                            })
                            .collect::<Result<_, _>>()?;
                        responses.push(Answers(answers));
                    }
                }
            }
            if !pending.is_empty() {
                self.shared.store.append(&pending).map_err(sm_err)?;
            }
        }
        batch.insert(MARKER, codec::encode(&self.marker));
        self.sm.apply_batch(batch).map_err(sm_err)?;
        self.shared.last_seq.send_if_modified(|seq| {
            let changed = *seq != self.marker.last_seq;
            *seq = self.marker.last_seq;
            changed
        });
        if self.since_projection >= PROJECTION_EVERY {
            self.since_projection = 0;
            // Encoded under the read lock rather than cloned first: this is
            // the only writer, and readers share the lock meanwhile.
            let shared = self.shared.clone();
            shared
                .read(|state| shared.store.save_snapshot(state))
                .map_err(sm_err)?;
        }
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> Builder {
        Builder {
            sm: self.sm.clone(),
            store: self.shared.store.clone(),
            db: self.db.clone(),
            snapshots: self.snapshots.clone(),
            state: self.shared.read(State::clone),
            marker: self.marker.clone(),
            requests: self
                .requests
                .done
                .iter()
                .map(|(id, done)| (*id, done.clone()))
                .collect(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        tracing::info!(snapshot = ?meta.last_log_id, bytes = snapshot.get_ref().len(), "installing a snapshot");
        self.install(meta, snapshot.get_ref()).await
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        Ok(self.stored_snapshot()?.map(|stored| Snapshot {
            meta: stored.meta,
            snapshot: Box::new(Cursor::new(stored.data)),
        }))
    }
}

/// A point-in-time copy of the state machine, turned into a snapshot off the
/// apply path. Events up to the copy's last seq never change, so reading them
/// later from the store gives exactly the history of the copy.
pub struct Builder {
    sm: sled::Tree,
    store: EventStore,
    db: sled::Db,
    snapshots: sled::Tree,
    state: State,
    marker: Marker,
    requests: Vec<(u128, Done)>,
}

impl RaftSnapshotBuilder<TypeConfig> for Builder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let events = self
            .store
            .range(1, self.state.last_seq, true)
            .collect::<Result<Vec<_>, _>>()
            .map_err(snap_err)?;
        let body = Body {
            state: self.state.clone(),
            events,
            requests: std::mem::take(&mut self.requests),
            clock: self.marker.clock,
        };
        let data = codec::encode(&body);
        let snapshot_id = match self.marker.applied {
            Some(id) => format!("{}-{}-{}", id.leader_id.term, id.index, body.state.last_seq),
            None => format!("0-0-{}", body.state.last_seq),
        };
        let meta = SnapshotMeta {
            last_log_id: self.marker.applied,
            last_membership: self.marker.membership.clone(),
            snapshot_id,
        };
        // An installed snapshot may have overtaken this build meanwhile.
        let newer_stored = match self.snapshots.get(CURRENT_SNAPSHOT).map_err(snap_err)? {
            Some(bytes) => codec::decode::<StoredSnapshot>(&bytes)
                .is_ok_and(|s| s.meta.last_log_id > meta.last_log_id),
            None => false,
        };
        if !newer_stored {
            self.snapshots
                .insert(
                    CURRENT_SNAPSHOT,
                    codec::encode(&StoredSnapshot {
                        meta: meta.clone(),
                        data: data.clone(),
                    }),
                )
                .map_err(sm_err)?;
            self.store.save_snapshot(&self.state).map_err(sm_err)?;
        }
        // The snapshot holds the whole history, from before replication too.
        self.sm.remove(LEGACY).map_err(sm_err)?;
        self.db.flush_async().await.map_err(sm_err)?;
        tracing::debug!(snapshot = %meta.snapshot_id, bytes = data.len(), "snapshot built");
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use openraft::{CommittedLeaderId, Membership};

    use super::*;
    use crate::events::{Actor, Command, ConfigKind, Proposal};

    fn entry(index: u64, payload: EntryPayload<TypeConfig>) -> openraft::Entry<TypeConfig> {
        openraft::Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
            payload,
        }
    }

    fn done(at: u64) -> Done {
        Done {
            at,
            outcome: Outcome::Applied { first: 1, count: 0 },
        }
    }

    /// The requests of one entry are decided one after the other, each
    /// against the state the ones before it left, and answered in order.
    #[tokio::test]
    async fn a_batch_is_decided_in_order_and_answered_per_request() {
        let dir = tempfile::tempdir().unwrap();
        let db = super::super::store::open_db(dir.path()).unwrap();
        let mut machine = Machine::open(&db).await.unwrap();
        let request = |id: u128, command: Command| Request {
            id,
            proposal: Proposal {
                at: 1_700_000_000_000,
                actor: Actor::System,
                command,
            },
        };
        let create = |name: &str| Command::CreateConfig {
            name: name.into(),
            kind: ConfigKind::Docker,
            input: String::new(),
        };
        let answers = machine
            .apply(vec![
                entry(
                    1,
                    EntryPayload::Membership(Membership::new(vec![BTreeSet::from([1])], None)),
                ),
                entry(
                    2,
                    EntryPayload::Normal(Batch(vec![
                        request(1, create("a")),
                        request(2, create("a")),
                        request(3, Command::DeleteConfig { name: "a".into() }),
                        // A repeated id inside the batch: the first answer.
                        request(1, create("a")),
                    ])),
                ),
            ])
            .await
            .unwrap();
        assert_eq!(answers[0], Answers(Vec::new()));
        let seqs: Vec<_> = answers[1]
            .0
            .iter()
            .map(|r| {
                r.0.as_ref()
                    .map(|e| e.iter().map(|e| e.seq).collect::<Vec<_>>())
            })
            .collect();
        assert_eq!(seqs[0], Ok(vec![1]));
        assert!(matches!(seqs[1], Err(Rejection::AlreadyExists { .. })));
        assert_eq!(seqs[2], Ok(vec![2]));
        assert_eq!(seqs[3], Ok(vec![1]));
        assert_eq!(machine.shared.read(|s| s.last_seq), 2);
    }

    #[test]
    fn request_ids_expire_by_the_last_leader_time_and_by_count() {
        let now = 1_800_000_000_000;
        // An entry stamped far ahead (a history from before leaders stamped
        // the time) does not make the requests after it expire at once.
        let mut requests = Requests::default();
        requests.insert(2, done(4_102_444_800_000));
        requests.insert(1, done(now));
        assert_eq!(requests.expire(now), Vec::<u128>::new());
        requests.insert(3, done(now + REQUEST_WINDOW_MS + 1));
        assert_eq!(requests.expire(now + REQUEST_WINDOW_MS + 1), vec![1]);
        // However the times go, no more than REQUEST_MEMORY ids are kept.
        let mut requests = Requests::default();
        for id in 0..(REQUEST_MEMORY as u128 + 10) {
            requests.insert(id, done(now));
        }
        assert_eq!(requests.expire(now).len(), 10);
        assert_eq!(requests.done.len(), REQUEST_MEMORY);
    }

    /// A crash can leave the state machine's own marker behind its last
    /// snapshot (openraft 0.9 does not install it at start-up): opening
    /// restores the snapshot, and the history and projections are whole.
    #[tokio::test]
    async fn open_restores_a_snapshot_newer_than_what_was_applied() {
        let dir = tempfile::tempdir().unwrap();
        let db = super::super::store::open_db(dir.path()).unwrap();
        let mut machine = Machine::open(&db).await.unwrap();
        let mut entries = vec![entry(
            1,
            EntryPayload::Membership(Membership::new(vec![BTreeSet::from([1])], None)),
        )];
        for i in 0..5u64 {
            entries.push(entry(
                i + 2,
                EntryPayload::Normal(Batch(vec![Request {
                    id: u128::from(i),
                    proposal: Proposal {
                        at: 1_700_000_000_000 + i,
                        actor: Actor::System,
                        command: Command::CreateConfig {
                            name: format!("c{i}"),
                            kind: ConfigKind::Docker,
                            input: String::new(),
                        },
                    },
                }])),
            ));
        }
        machine.apply(entries).await.unwrap();
        let snapshot = machine
            .get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .unwrap();
        let state = machine.shared.read(State::clone);
        let applied = machine.applied_state().await.unwrap();
        drop(machine);

        // As after a crash that lost the state machine's writes since seq 2.
        let sm = db.open_tree("sm").unwrap();
        let old = Marker {
            last_seq: 2,
            ..Marker::default()
        };
        sm.insert(MARKER, codec::encode(&old)).unwrap();
        EventStore::open(&db).unwrap().truncate_after(2).unwrap();

        let mut reopened = Machine::open(&db).await.unwrap();
        assert_eq!(reopened.shared.read(State::clone), state);
        assert_eq!(reopened.applied_state().await.unwrap(), applied);
        assert_eq!(
            reopened.applied_state().await.unwrap().0,
            snapshot.meta.last_log_id
        );
        let history: Vec<_> = reopened
            .shared
            .store
            .range(1, u64::MAX, true)
            .map(Result::unwrap)
            .collect();
        assert_eq!(history.len(), 5);
        assert_eq!(State::replay(&history), state);
        // The request ids came back too: a repeat is answered, not applied.
        let again = reopened
            .apply(vec![entry(
                7,
                EntryPayload::Normal(Batch(vec![Request {
                    id: 3,
                    proposal: Proposal {
                        at: 1_700_000_000_010,
                        actor: Actor::System,
                        command: Command::DeleteConfig { name: "c0".into() },
                    },
                }])),
            )])
            .await
            .unwrap();
        assert_eq!(again[0].0[0].0.as_ref().map(|e| e[0].seq), Ok(4));
        assert_eq!(reopened.shared.read(|s| s.last_seq), 5);
    }
}

//! The durable, replicated event journal and the one write interface of the
//! system.
//!
//! Every change goes through [`Journal::submit`]: the command reaches the
//! leader, which admits it (checks it against the validation rules and its
//! own configuration, and stamps the rules version) and proposes it with the
//! other writes of the moment as one Raft entry (openraft over sled), with
//! its own time; once committed every replica's state machine checks and
//! decides each request against its projections (`state::decide`), appends
//! the events to its history and applies them. The caller gets the events,
//! or the typed [`Rejection`], from the leader. Readers see the projections
//! through [`Journal::read`].
//!
//! A write that arrives at a follower is forwarded to the leader; with no
//! leader reachable, [`SubmitError::Unavailable`] says so. A single replica is
//! a cluster of one, initialized on first start. Replicas authenticate each
//! other with the cluster secret, which never leaves a replica (`signing`).
//!
//! This file opens the journal and serves reads. The rest, by role:
//! `routing` (where writes and consistent reads go, admission, the one
//! retry loop), `proposer` (batching at the leader), `membership`, `status`,
//! `leadership`, `machine` (the state machine), `log_store` and `store`
//! (sled), `network`, `routes` and `signing` (Raft calls between replicas),
//! `prevote`, `offline` (a stopped replica's data directory). Nothing here
//! knows HTTP routes of the API or Mesos: must not import `api`, `scheduler`,
//! `executor`, `mesos`, `live`, `server` or `cli`.

mod leadership;
mod log_store;
mod machine;
mod membership;
mod network;
pub mod offline;
mod prevote;
mod proposer;
mod routes;
mod routing;
pub mod signing;
mod status;
mod store;
pub mod types;

use crate::events::time::now_millis;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::error::RaftError;
use openraft::{BasicNode, ServerState, SnapshotPolicy};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::events::Envelope;
use crate::state::{Rejection, State};

use machine::{Machine, Shared};
use membership::Members;
use network::Peers;
use proposer::Proposer;
use signing::{Key, NONCE_MEMORY, Nonces, Refusal};
use types::{NodeId, Raft};

pub use leadership::Leadership;
pub use routes::router as raft_router;
pub use routing::Admission;
pub use status::{ClusterStatus, Member};

/// How long a write may wait for a leader (an election, a forward) before
/// the caller is told to retry: longer than a failover takes.
const WRITE_DEADLINE: Duration = Duration::from_secs(5);
/// How long a removal may take, forwarded to the leader.
const REMOVE_DEADLINE: Duration = Duration::from_secs(15);

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
    #[error("{0} is not a data directory: it has no journal/ below it")]
    NotADataDir(String),
    #[error("the journal's files are damaged: {0}")]
    Damaged(String),
    #[error("projection snapshot cannot be read: {0}")]
    CorruptSnapshot(String),
    #[error("invalid cluster settings: {0}")]
    Config(String),
    #[error("raft failed: {0}")]
    Raft(String),
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

/// Why a membership change did not happen.
#[derive(Debug, thiserror::Error)]
pub enum MembershipError {
    #[error("no leader is available to change the membership")]
    Unavailable { leader_hint: Option<String> },
    #[error("{0}")]
    Refused(String),
}

/// Raft timing. The defaults suit a loaded 2-core machine: four to eight
/// heartbeats per election timeout, so a busy moment does not look like a
/// dead leader, and 250 ms for an append to be written and fsynced on a
/// follower (openraft times an append out after one heartbeat interval). A follower that saw a leader does not vote for anyone else
/// within the leader lease (`election_max_ms`); the pre-vote gate starts the
/// election right after it, so a failover takes under two and a half seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub heartbeat_ms: u64,
    pub election_min_ms: u64,
    pub election_max_ms: u64,
    /// Per snapshot chunk; openraft resends a chunk that times out forever,
    /// so this is generous.
    pub install_snapshot_timeout_ms: u64,
    /// How long a replica being added has to catch up before it is removed
    /// again (see `membership`).
    pub catch_up_ms: u64,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            heartbeat_ms: 250,
            election_min_ms: 1000,
            election_max_ms: 2000,
            install_snapshot_timeout_ms: 10_000,
            catch_up_ms: 20_000,
        }
    }
}

/// When the state machine is snapshotted and the log purged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compaction {
    /// Log entries between two snapshots.
    pub snapshot_every: u64,
    /// Log entries kept behind the last snapshot, for followers that lag a little.
    pub keep_logs: u64,
}

impl Default for Compaction {
    fn default() -> Self {
        Compaction {
            snapshot_every: 5000,
            keep_logs: 1000,
        }
    }
}

/// Who this replica is and which replicas form the cluster.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    pub node_id: NodeId,
    /// `host:port` at which the other replicas reach this one: the address
    /// its Raft routes are served on (the server sets it to the address it
    /// bound).
    pub advertise: String,
    /// The replicas that form the cluster on first start (id → `host:port`),
    /// this one included; empty for a cluster of one.
    pub peers: BTreeMap<NodeId, String>,
    /// Shared by all replicas; required when there is more than one.
    pub secret: Option<String>,
    pub timing: Timing,
    pub compaction: Compaction,
    /// What the leader admits into the log.
    pub admission: Admission,
    /// Whether a member's address serves the API too (no `--raft-listen`),
    /// so that it makes a useful leader hint for clients.
    pub api_on_member_addresses: bool,
}

impl Default for ClusterConfig {
    /// Replica 1, alone.
    fn default() -> Self {
        ClusterConfig::single(1, "127.0.0.1:0")
    }
}

impl ClusterConfig {
    /// A cluster of one, as `local` and tests use it.
    pub fn single(node_id: NodeId, advertise: impl Into<String>) -> ClusterConfig {
        ClusterConfig {
            node_id,
            advertise: advertise.into(),
            peers: BTreeMap::new(),
            secret: None,
            timing: Timing::default(),
            compaction: Compaction::default(),
            admission: Admission::default(),
            api_on_member_addresses: true,
        }
    }
}

pub struct Journal {
    dir: PathBuf,
    id: NodeId,
    raft: Raft,
    shared: Arc<Shared>,
    peers: Peers,
    key: Option<Key>,
    /// Nonces of the Raft calls accepted lately (replays are refused).
    nonces: Mutex<Nonces>,
    members: Members,
    admission: Admission,
    api_on_member_addresses: bool,
    leadership: watch::Receiver<Leadership>,
    /// Read-only view of the Raft log, for pre-vote answers.
    log: log_store::LogStore,
    proposer: Proposer,
    stop: CancellationToken,
}

impl Journal {
    /// Opens (or creates) a single-replica journal in `dir`.
    pub async fn open(dir: &Path) -> Result<Journal, JournalError> {
        Journal::open_with(dir, ClusterConfig::single(1, "127.0.0.1:0")).await
    }

    /// Opens (or creates) the journal in `dir` as a replica of the cluster
    /// `config` describes. The lowest id of the initial members forms the
    /// cluster when its log is empty; on every later start the members'
    /// logs say who they are, and nothing is initialized again.
    pub async fn open_with(dir: &Path, config: ClusterConfig) -> Result<Journal, JournalError> {
        if config.peers.len() > 1 && config.secret.is_none() {
            return Err(JournalError::Config(
                "a cluster of several replicas needs a cluster secret".into(),
            ));
        }
        if !config.peers.is_empty() && !config.peers.contains_key(&config.node_id) {
            return Err(JournalError::Config(format!(
                "the initial members do not include this replica ({})",
                config.node_id
            )));
        }
        let timing = config.timing;
        let raft_config = openraft::Config {
            cluster_name: "logstash-mesos".into(),
            heartbeat_interval: timing.heartbeat_ms,
            election_timeout_min: timing.election_min_ms,
            election_timeout_max: timing.election_max_ms,
            install_snapshot_timeout: timing.install_snapshot_timeout_ms,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(config.compaction.snapshot_every.max(1)),
            max_in_snapshot_log_to_keep: config.compaction.keep_logs,
            snapshot_max_chunk_size: 1024 * 1024,
            max_payload_entries: 1000,
            ..openraft::Config::default()
        }
        .validate()
        .map_err(|e| JournalError::Config(e.to_string()))?;

        let db = store::open_db(dir)?;
        let log = log_store::LogStore::open(&db)?;
        let log_view = log.clone();
        let machine = Machine::open(&db).await?;
        let shared = machine.shared();
        let legacy = shared.legacy_pending();
        if legacy && config.peers.len() > 1 {
            return Err(JournalError::Config(
                "this data directory holds a journal from before replication: start it once as a \
                 single replica (without --peers) to convert it, then add the other replicas \
                 with POST /api/cluster/members"
                    .into(),
            ));
        }
        let key = config.secret.as_deref().map(Key::new);
        let peers = Peers::new(config.node_id, key.clone());
        let raft = Raft::new(
            config.node_id,
            Arc::new(raft_config),
            peers.clone(),
            log,
            machine,
        )
        .await
        .map_err(|e| JournalError::Raft(e.to_string()))?;

        let members: BTreeMap<NodeId, BasicNode> = if config.peers.is_empty() {
            BTreeMap::from([(config.node_id, BasicNode::new(&config.advertise))])
        } else {
            config
                .peers
                .iter()
                .map(|(id, addr)| (*id, BasicNode::new(addr)))
                .collect()
        };
        let lowest = members.keys().next().copied();
        let initialized = raft
            .is_initialized()
            .await
            .map_err(|e| JournalError::Raft(e.to_string()))?;
        if lowest == Some(config.node_id) && !initialized {
            tracing::info!(members = ?members.keys().collect::<Vec<_>>(), "forming the cluster");
            match raft.initialize(members).await {
                Ok(())
                | Err(RaftError::APIError(openraft::error::InitializeError::NotAllowed(_))) => {}
                Err(e) => return Err(JournalError::Raft(e.to_string())),
            }
        }

        if legacy {
            convert_legacy(&raft).await;
        }

        let stop = CancellationToken::new();
        let proposer = Proposer::spawn(raft.clone(), WRITE_DEADLINE, stop.clone());
        let leadership = leadership::spawn_leadership_watch(&raft, config.node_id, stop.clone());
        prevote::spawn(
            raft.clone(),
            log_view.clone(),
            peers.clone(),
            config.node_id,
            stop.clone(),
        );
        tracing::info!(dir = %dir.display(), node_id = config.node_id, last_seq = *shared.last_seq.borrow(), "journal opened");
        let members = Members::new(
            raft.clone(),
            peers.clone(),
            Duration::from_millis(timing.catch_up_ms),
        );
        Ok(Journal {
            dir: dir.to_path_buf(),
            id: config.node_id,
            raft,
            shared,
            peers,
            key,
            nonces: Mutex::new(Nonces::new(NONCE_MEMORY)),
            members,
            admission: config.admission,
            api_on_member_addresses: config.api_on_member_addresses,
            leadership,
            log: log_view,
            proposer,
            stop,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn node_id(&self) -> NodeId {
        self.id
    }

    /// Runs `f` on the current projections. Keep `f` short: the state
    /// machine waits for it.
    pub fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        self.shared.read(f)
    }

    pub fn last_seq(&self) -> u64 {
        *self.shared.last_seq.borrow()
    }

    /// Follows the seq of the last applied event, for streaming readers.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.shared.last_seq.subscribe()
    }

    pub fn event(&self, seq: u64) -> Result<Option<Envelope>, JournalError> {
        if seq > self.last_seq() {
            return Ok(None);
        }
        self.shared.store.get(seq)
    }

    /// Applied events with `from <= seq <= to`, oldest or newest first.
    pub fn events(
        &self,
        from: u64,
        to: u64,
        ascending: bool,
    ) -> impl Iterator<Item = Result<Envelope, JournalError>> + '_ {
        let to = to.min(self.last_seq());
        self.shared.store.range(from.max(1), to, ascending)
    }

    /// The seq of the last event at or before `time_ms` (0 if none): event times
    /// never decrease along the log, so this is a binary search by seq.
    pub fn seq_at_time(&self, time_ms: u64) -> Result<u64, JournalError> {
        self.shared.store.seq_at_time(self.last_seq(), time_ms)
    }

    pub fn size_on_disk(&self) -> u64 {
        self.shared.store.size_on_disk()
    }

    /// Stops Raft and saves a projection snapshot, so the next start replays
    /// nothing.
    pub async fn close(&self) -> Result<(), JournalError> {
        self.stop.cancel();
        if let Err(e) = self.raft.shutdown().await {
            tracing::warn!(error = %e, "raft did not stop cleanly");
        }
        self.read(|state| self.shared.store.save_snapshot(state))?;
        self.shared.store.flush().await
    }

    fn raft(&self) -> &Raft {
        &self.raft
    }

    fn key(&self) -> Option<&Key> {
        self.key.as_ref()
    }

    /// Accepts a signed Raft call's time and nonce once (see `signing`).
    fn accept_nonce(&self, time_ms: u64, nonce: u128) -> Result<(), Refusal> {
        self.nonces
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .accept(now_millis(), time_ms, nonce)
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A single replica whose history predates replication puts it into a
/// snapshot and purges the log behind it, so replicas added later receive
/// the whole history (the snapshot) before any entry. Failing that, the
/// replica keeps working alone and refuses new members until it succeeds on
/// a later start.
async fn convert_legacy(raft: &Raft) {
    let converted = async {
        raft.wait(Some(Duration::from_secs(10)))
            .state(ServerState::Leader, "leading alone")
            .await
            .map_err(|e| e.to_string())?;
        raft.trigger().snapshot().await.map_err(|e| e.to_string())?;
        let metrics = raft
            .wait(Some(Duration::from_secs(60)))
            .metrics(|m| m.snapshot.is_some(), "the first snapshot")
            .await
            .map_err(|e| e.to_string())?;
        if let Some(snapshot) = metrics.snapshot {
            raft.trigger()
                .purge_log(snapshot.index)
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok::<_, String>(())
    };
    match converted.await {
        Ok(()) => tracing::info!("the history from before replication is now in a snapshot"),
        Err(e) => {
            tracing::warn!(error = %e, "cannot snapshot the history from before replication yet")
        }
    }
}

#[cfg(test)]
mod tests;

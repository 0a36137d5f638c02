//! The durable, replicated event journal and the one write interface of the
//! system.
//!
//! Every change goes through [`Journal::submit`]: the command reaches the
//! leader, which admits it (checks it, stamps its own time and the version
//! of the validation rules: [`Journal::admit`]) and replicates it with Raft
//! (openraft over sled); once committed every replica's state machine checks
//! and decides it against its projections (`state::decide`), appends the
//! events to its history and applies them. The caller gets the events, or
//! the typed [`Rejection`], from the leader. Readers see the projections
//! through [`Journal::read`].
//!
//! A write that arrives at a follower is forwarded to the leader; with no
//! leader reachable, [`SubmitError::Unavailable`] says so. A single replica is
//! a cluster of one, initialized on first start. Replicas authenticate each
//! other with the cluster secret, which never leaves a replica (`signing`).

mod log_store;
mod machine;
mod membership;
mod network;
pub mod offline;
mod prevote;
mod proposer;
mod routes;
pub mod signing;
mod store;
pub mod types;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use openraft::error::RaftError;
use openraft::{BasicNode, ServerState, SnapshotPolicy};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::events::{Actor, Command, Envelope, Proposal};
use crate::state::{self, HostPathPolicy, Rejection, State};

use machine::{Machine, Shared};
use membership::Members;
use network::{FORWARD_PATH, PeerError, Peers};
use proposer::{Proposed, Proposer};
use signing::{Key, NONCE_MEMORY, Nonces, Refusal};
use types::{Forward, ForwardAnswer, NodeId, Raft, Request, Response};

pub use routes::router as raft_router;

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
    /// `host:port` at which the other replicas reach this one (its
    /// `--raft-listen`, or its `--listen`).
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

/// What the leader checks, beyond the validation rules every replica
/// applies, before it proposes a write: things that depend on its own
/// configuration, which the decide step must not read.
#[derive(Debug, Clone, Default)]
pub struct Admission {
    /// The labels of the API tokens (only `anonymous` when the API runs
    /// without tokens): an `api:` actor must be one of them. Followers
    /// authenticate API clients and forward the label; the leader accepts
    /// only labels its own tokens have, so every replica needs the same
    /// tokens. `None` admits any well-formed label (a journal without an API).
    pub api_labels: Option<BTreeSet<String>>,
    /// Where host configs may read files on the agents (`--host-path-allow`).
    pub host_paths: Option<HostPathPolicy>,
}

/// This replica's view of who leads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Leadership {
    /// The leader this replica knows of.
    pub leader: Option<NodeId>,
    pub term: u64,
    /// This replica is the leader and heard from a quorum recently, so no
    /// other replica can have been elected meanwhile.
    pub leading: bool,
    /// This replica is the leader but has not heard from a quorum for longer
    /// than an election timeout: writes here cannot commit.
    pub quorum_lost: bool,
}

/// The cluster as one replica sees it (`GET /api/cluster`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterStatus {
    pub id: NodeId,
    /// `Leader`, `Follower`, `Candidate`, `Learner` or `Shutdown`.
    pub state: String,
    pub leader: Option<NodeId>,
    pub term: u64,
    pub last_log_index: Option<u64>,
    pub commit_index: Option<u64>,
    pub applied_index: Option<u64>,
    pub snapshot_index: Option<u64>,
    pub purged_index: Option<u64>,
    /// Seq of the last event in this replica's history.
    pub last_seq: u64,
    pub members: Vec<Member>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Member {
    pub id: NodeId,
    pub addr: String,
    pub voter: bool,
    /// Highest log index known to be on the member (known on the leader only).
    pub matched_index: Option<u64>,
    /// Log entries the member is behind the leader (known on the leader only).
    pub lag: Option<u64>,
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
                "a cluster of several replicas needs a cluster secret (--cluster-secret-file)"
                    .into(),
            ));
        }
        if !config.peers.is_empty() && !config.peers.contains_key(&config.node_id) {
            return Err(JournalError::Config(format!(
                "--peers does not name this replica's --node-id {}",
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
        let leadership = spawn_leadership_watch(&raft, config.node_id, stop.clone());
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

    /// Has the leader admit a command, replicates it and returns the events
    /// it produced (none when it changed nothing), or why it was rejected.
    pub async fn submit(
        &self,
        actor: Actor,
        command: Command,
    ) -> Result<Vec<Envelope>, SubmitError> {
        let request = Request {
            id: rand::random(),
            proposal: Proposal {
                at: now_millis(),
                actor,
                command,
            },
        };
        let Response(result) = self.propose(request).await?;
        result.map_err(SubmitError::Rejected)
    }

    /// Writes through the leader: locally when this replica leads, else
    /// forwarded, retrying with the same request id (the state machine
    /// answers a repeat with the first outcome) until the deadline.
    async fn propose(&self, request: Request) -> Result<Response, SubmitError> {
        let deadline = Instant::now() + WRITE_DEADLINE;
        let mut hint = None;
        let mut pause = Duration::from_millis(20);
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(SubmitError::Unavailable { leader_hint: hint });
            }
            match self.known_leader() {
                Some((leader, addr)) if leader == self.id => {
                    if self.leadership.borrow().quorum_lost {
                        // Leader without a quorum: the others are gone or
                        // electing; waiting would only delay the answer.
                        return Err(SubmitError::Unavailable { leader_hint: None });
                    }
                    let admitted = self.admit(request.clone())?;
                    let proposed =
                        tokio::time::timeout(remaining, self.proposer.propose(admitted)).await;
                    match proposed {
                        Ok(Proposed::Written { response, .. }) => return Ok(response),
                        Ok(Proposed::NotLeader) => {}
                        Ok(Proposed::Unavailable(_)) => {
                            return Err(SubmitError::Unavailable { leader_hint: None });
                        }
                        Err(_) => {
                            return Err(SubmitError::Unavailable {
                                leader_hint: self.hint(&addr),
                            });
                        }
                    }
                }
                Some((leader, addr)) => {
                    hint = self.hint(&addr);
                    let answer = self
                        .forward(leader, &addr, &Forward::Write(request.clone()), remaining)
                        .await;
                    match answer {
                        Ok(ForwardAnswer::Written(response, index)) => {
                            // Read your writes: the caller reads this
                            // replica's projections next.
                            let remaining = deadline.saturating_duration_since(Instant::now());
                            let applied = self
                                .raft
                                .wait(Some(remaining.max(Duration::from_secs(1))))
                                .applied_index_at_least(Some(index), "forwarded write")
                                .await;
                            if applied.is_err() {
                                tracing::warn!(
                                    index,
                                    "a forwarded write is committed but not yet applied here"
                                );
                            }
                            return Ok(response);
                        }
                        Ok(ForwardAnswer::Rejected(rejection)) => {
                            return Err(SubmitError::Rejected(rejection));
                        }
                        Ok(other) => tracing::debug!(?other, "forwarded write not done; retrying"),
                        Err(e) => {
                            tracing::debug!(error = %e, "forwarding a write failed; retrying")
                        }
                    }
                }
                None => {}
            }
            tokio::time::sleep(pause.min(remaining)).await;
            pause = (pause * 2).min(Duration::from_millis(250));
        }
    }

    async fn forward(
        &self,
        leader: NodeId,
        addr: &str,
        call: &Forward,
        timeout: Duration,
    ) -> Result<ForwardAnswer, PeerError> {
        self.peers
            .call(leader, addr, FORWARD_PATH, call, timeout)
            .await
    }

    /// What the leader proposes for a request, or why it refuses it: the
    /// proposer's command checked with this build's validation rules (and
    /// wrapped with their version, whatever wrapping the proposer sent), its
    /// actor and host paths checked against the leader's configuration. The
    /// leader's own time replaces the proposer's when it is proposed (see
    /// `proposer`). A refused request never enters the Raft log; the decide
    /// step on every replica checks the admitted one again.
    fn admit(&self, mut request: Request) -> Result<Request, Rejection> {
        let command = request.proposal.command.unchecked().clone();
        let actor = &request.proposal.actor;
        state::validate_actor(actor)?;
        self.admit_actor(actor)?;
        state::validate(&command)?;
        if let Some(policy) = &self.admission.host_paths {
            let checked = match &command {
                Command::CreateConfig { kind, input, .. } => Some((*kind, input)),
                Command::UpdateConfig { name, input } => self
                    .read(|s| s.configs.current(name).map(|c| c.kind))
                    .map(|kind| (kind, input)),
                _ => None,
            };
            if let Some((kind, input)) = checked {
                policy.check(kind, input)?;
            }
        }
        request.proposal.command = Command::Checked {
            rules: state::RULES_VERSION,
            command: Box::new(command),
        };
        Ok(request)
    }

    fn admit_actor(&self, actor: &Actor) -> Result<(), Rejection> {
        let refuse = |reason: String| {
            Err(Rejection::ActorNotAllowed {
                actor: actor.to_string(),
                reason,
            })
        };
        match actor {
            Actor::Api(label) => match &self.admission.api_labels {
                Some(labels) if !labels.contains(label) => refuse(format!(
                    "no API token of the leader (replica {}) has this label; every replica needs \
                     the same API tokens",
                    self.id
                )),
                _ => Ok(()),
            },
            Actor::Replica(id) => {
                let member = {
                    let metrics = self.raft.metrics();
                    let m = metrics.borrow();
                    m.membership_config.membership().get_node(id).is_some()
                };
                if member {
                    Ok(())
                } else {
                    refuse(format!("replica {id} is not a member of this cluster"))
                }
            }
            Actor::ConfigDir | Actor::Executor(_) | Actor::System => Ok(()),
        }
    }

    /// The leader's answer to a call forwarded by a follower.
    async fn answer_forward(&self, call: Forward) -> ForwardAnswer {
        let not_leader = || ForwardAnswer::NotLeader {
            leader: self.known_leader(),
        };
        let leading = self.known_leader().map(|(id, _)| id) == Some(self.id);
        match call {
            // Any replica answers these two.
            Forward::PreVote => {
                let quiet_after = Duration::from_millis(self.raft.config().election_timeout_min);
                ForwardAnswer::PreVote(prevote::view(&self.raft, &self.log, quiet_after).await)
            }
            Forward::Status => ForwardAnswer::Status(self.local_status().await),
            _ if !leading => not_leader(),
            Forward::Write(request) => {
                let request = match self.admit(request) {
                    Ok(request) => request,
                    Err(rejection) => return ForwardAnswer::Rejected(rejection),
                };
                match self.proposer.propose(request).await {
                    Proposed::Written { response, index } => {
                        ForwardAnswer::Written(response, index)
                    }
                    Proposed::NotLeader => not_leader(),
                    Proposed::Unavailable(why) => ForwardAnswer::Unavailable(why),
                }
            }
            Forward::ReadIndex => {
                match tokio::time::timeout(WRITE_DEADLINE, self.raft.get_read_log_id()).await {
                    Ok(Ok((read, _))) => ForwardAnswer::ReadIndex(read.map_or(0, |l| l.index)),
                    Ok(Err(e)) => ForwardAnswer::Unavailable(e.to_string()),
                    Err(_) => {
                        ForwardAnswer::Unavailable("no quorum confirmed the leadership".into())
                    }
                }
            }
            Forward::AddMember { id, addr } => match self.members.add(id, addr).await {
                Ok(()) => ForwardAnswer::Done,
                Err(MembershipError::Refused(e)) => ForwardAnswer::Refused(e),
                Err(e) => ForwardAnswer::Unavailable(e.to_string()),
            },
            Forward::RemoveMember { id } => match self.members.remove(id).await {
                Ok(()) => ForwardAnswer::Done,
                Err(MembershipError::Refused(e)) => ForwardAnswer::Refused(e),
                Err(e) => ForwardAnswer::Unavailable(e.to_string()),
            },
        }
    }

    /// The leader this replica knows of, with its address.
    fn known_leader(&self) -> Option<(NodeId, String)> {
        let metrics = self.raft.metrics();
        let m = metrics.borrow();
        let leader = m.current_leader?;
        let addr = m
            .membership_config
            .membership()
            .get_node(&leader)
            .map(|n| n.addr.clone())?;
        Some((leader, addr))
    }

    /// Waits until this replica's projections include every write
    /// acknowledged before the call (a linearizable read barrier): the
    /// leader confirms its leadership with a quorum and names its commit
    /// index, and this replica waits until it applied that far.
    pub async fn linearize(&self) -> Result<(), SubmitError> {
        let deadline = Instant::now() + WRITE_DEADLINE;
        let mut hint = None;
        let mut pause = Duration::from_millis(20);
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(SubmitError::Unavailable { leader_hint: hint });
            }
            let index = match self.known_leader() {
                Some((leader, _)) if leader == self.id && self.leadership.borrow().quorum_lost => {
                    return Err(SubmitError::Unavailable { leader_hint: None });
                }
                Some((leader, _)) if leader == self.id => {
                    match tokio::time::timeout(remaining, self.raft.get_read_log_id()).await {
                        Ok(Ok((read, _))) => Some(read.map_or(0, |l| l.index)),
                        _ => None,
                    }
                }
                Some((leader, addr)) => {
                    hint = self.hint(&addr);
                    match self
                        .forward(leader, &addr, &Forward::ReadIndex, remaining)
                        .await
                    {
                        Ok(ForwardAnswer::ReadIndex(index)) => Some(index),
                        _ => None,
                    }
                }
                None => None,
            };
            if let Some(index) = index {
                let remaining = deadline.saturating_duration_since(Instant::now());
                return self
                    .raft
                    .wait(Some(remaining))
                    .applied_index_at_least(Some(index), "consistent read")
                    .await
                    .map(|_| ())
                    .map_err(|_| SubmitError::Unavailable { leader_hint: hint });
            }
            tokio::time::sleep(pause.min(remaining)).await;
            pause = (pause * 2).min(Duration::from_millis(250));
        }
    }

    /// Follows who leads; see [`Leadership`].
    pub fn leadership(&self) -> watch::Receiver<Leadership> {
        self.leadership.clone()
    }

    /// Adds a replica: it must hold the cluster secret and answer as `id`
    /// at `addr`, joins as a learner and becomes a voter once it caught up
    /// (see `membership`). Runs on the leader; a follower forwards it.
    pub async fn add_member(&self, id: NodeId, addr: String) -> Result<(), MembershipError> {
        if self.key.is_none() {
            return Err(MembershipError::Refused(
                "this cluster runs without a cluster secret; restart its replicas with --cluster-secret-file first".into(),
            ));
        }
        if self.shared.legacy_pending() {
            return Err(MembershipError::Refused(
                "the history from before replication is not in a snapshot yet; restart this replica alone to convert it".into(),
            ));
        }
        let deadline = self.members.add_deadline();
        self.membership_call(Forward::AddMember { id, addr }, deadline)
            .await
    }

    /// Removes a replica (voter or learner), also while it is unreachable.
    pub async fn remove_member(&self, id: NodeId) -> Result<(), MembershipError> {
        self.membership_call(Forward::RemoveMember { id }, REMOVE_DEADLINE)
            .await
    }

    async fn membership_call(
        &self,
        call: Forward,
        deadline: Duration,
    ) -> Result<(), MembershipError> {
        let answer = match self.known_leader() {
            None => {
                return Err(MembershipError::Unavailable { leader_hint: None });
            }
            Some((leader, _)) if leader == self.id => self.answer_forward(call).await,
            Some((leader, addr)) => {
                self.forward(leader, &addr, &call, deadline)
                    .await
                    .map_err(|_| MembershipError::Unavailable {
                        leader_hint: self.hint(&addr),
                    })?
            }
        };
        match answer {
            ForwardAnswer::Done => Ok(()),
            ForwardAnswer::Refused(reason) => Err(MembershipError::Refused(reason)),
            ForwardAnswer::NotLeader { leader } => Err(MembershipError::Unavailable {
                leader_hint: leader.and_then(|(_, addr)| self.hint(&addr)),
            }),
            _ => Err(MembershipError::Unavailable { leader_hint: None }),
        }
    }

    /// This replica's view of the cluster, with the member lags from the
    /// leader (only it tracks them) when it answers within a second.
    pub async fn cluster_status(&self) -> ClusterStatus {
        let mut status = self.local_status().await;
        if let Some((leader, addr)) = self.known_leader()
            && leader != self.id
            && let Ok(ForwardAnswer::Status(view)) = self
                .forward(leader, &addr, &Forward::Status, Duration::from_secs(1))
                .await
        {
            status.members = view.members;
        }
        status
    }

    async fn local_status(&self) -> ClusterStatus {
        let committed = self
            .raft
            .with_raft_state(|s| s.committed.map(|l| l.index))
            .await
            .ok()
            .flatten();
        let metrics = self.raft.metrics();
        let m = metrics.borrow().clone();
        let membership = m.membership_config.membership();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let last = m.last_log_index;
        let members = membership
            .nodes()
            .map(|(id, node)| {
                let matched = match &m.replication {
                    Some(replication) if *id != m.id => {
                        replication.get(id).map(|l| l.map_or(0, |l| l.index))
                    }
                    Some(_) => last,
                    None => None,
                };
                Member {
                    id: *id,
                    addr: node.addr.clone(),
                    voter: voters.contains(id),
                    matched_index: matched,
                    lag: matched.map(|i| last.unwrap_or(0).saturating_sub(i)),
                }
            })
            .collect();
        ClusterStatus {
            id: m.id,
            state: format!("{:?}", m.state),
            leader: m.current_leader,
            term: m.current_term,
            last_log_index: m.last_log_index,
            commit_index: committed,
            applied_index: m.last_applied.map(|l| l.index),
            snapshot_index: m.snapshot.map(|l| l.index),
            purged_index: m.purged.map(|l| l.index),
            last_seq: self.last_seq(),
            members,
        }
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

    /// The API URL of the replica at member address `addr`, for clients to
    /// retry at; unknown when Raft has its own listener.
    fn hint(&self, addr: &str) -> Option<String> {
        self.api_on_member_addresses
            .then(|| format!("http://{addr}/"))
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

/// Maps Raft metrics to [`Leadership`]. A leader that has not heard from a
/// quorum for the leader lease less one heartbeat stops `leading`: the
/// followers it lost grant no vote before their lease (counted from their
/// last heartbeat, which is older than the leader's last acknowledgement)
/// has passed, so it stands down before another can be elected.
fn spawn_leadership_watch(
    raft: &Raft,
    id: NodeId,
    stop: CancellationToken,
) -> watch::Receiver<Leadership> {
    let mut metrics = raft.metrics();
    let stale_after = Duration::from_millis(
        raft.config()
            .election_timeout_max
            .saturating_sub(raft.config().heartbeat_interval),
    );
    let (tx, rx) = watch::channel(Leadership::default());
    tokio::spawn(async move {
        let mut quorum_at: Option<Instant> = None;
        let mut leader_since: Option<Instant> = None;
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                changed = metrics.changed() => if changed.is_err() { return },
                _ = tick.tick() => {}
            }
            let now = Instant::now();
            let m = metrics.borrow_and_update().clone();
            let is_leader = m.state == ServerState::Leader && m.current_leader == Some(id);
            let single = m.membership_config.membership().voter_ids().count() <= 1;
            if let (true, Some(ms)) = (is_leader, m.millis_since_quorum_ack) {
                let at = now.checked_sub(Duration::from_millis(ms)).unwrap_or(now);
                quorum_at = Some(quorum_at.map_or(at, |q| q.max(at)));
            }
            if is_leader {
                leader_since.get_or_insert(now);
            } else {
                quorum_at = None;
                leader_since = None;
            }
            let fresh = quorum_at.is_some_and(|q| now.duration_since(q) <= stale_after);
            let heard = quorum_at.max(leader_since);
            let next = Leadership {
                leader: m.current_leader,
                term: m.current_term,
                leading: is_leader && (single || fresh),
                quorum_lost: is_leader
                    && !single
                    && heard.is_some_and(|h| now.duration_since(h) > stale_after),
            };
            tx.send_if_modified(|current| {
                if (current.leader, current.term) != (next.leader, next.term) {
                    tracing::info!(leader = ?next.leader, term = next.term, "raft leader");
                }
                if current.quorum_lost != next.quorum_lost {
                    tracing::warn!(quorum_lost = next.quorum_lost, "leader's quorum");
                }
                let changed = *current != next;
                *current = next;
                changed
            });
        }
    });
    rx
}

pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests;

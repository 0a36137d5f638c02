//! What the Raft log carries and answers: the openraft type configuration, the
//! replicated [`Batch`] of [`Request`]s (each a [`Proposal`] with a request
//! id), and the [`Answers`] the state machine gives for them.

use std::io::Cursor;

use serde::{Deserialize, Serialize};

use crate::events::{Envelope, Proposal};
use crate::state::Rejection;

openraft::declare_raft_types!(
    /// The openraft type configuration of the journal.
    pub TypeConfig:
        D = Batch,
        R = Answers,
        NodeId = u64,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

pub type NodeId = u64;
pub type Node = openraft::BasicNode;
pub type LogId = openraft::LogId<NodeId>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type StoredMembership = openraft::StoredMembership<NodeId, Node>;
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, Node>;
pub type StorageError = openraft::StorageError<NodeId>;
pub type Raft = openraft::Raft<TypeConfig>;

/// One replicated write: the proposal, and an id that makes it safe to
/// submit again.
///
/// A follower forwards writes to the leader; when the answer is lost (the
/// leader died after committing, a timeout) the follower retries with the same
/// id, and the state machine answers a repeated id with the first outcome
/// instead of applying the proposal twice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub id: u128,
    pub proposal: Proposal,
}

/// What applying one request gave: the events it appended, or why the
/// command was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response(pub Result<Vec<Envelope>, Rejection>);

/// What one Raft entry carries: the requests the leader proposed together,
/// applied in this order.
///
/// openraft 0.9 appends, fsyncs and replicates every `client_write` on its
/// own before it takes the next one, so a write per entry costs a write an
/// fsync on every replica. Writes that arrive while an entry is on its way
/// share the next one instead (see `proposer`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch(pub Vec<Request>);

/// The state machine's answers to a [`Batch`], one per request, in its
/// order. Blank and membership entries have none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answers(pub Vec<Response>);

/// Replica-to-replica calls that are not Raft's own: a write or a membership
/// change forwarded to the leader, and the read index for a consistent read
/// on a follower.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Forward {
    Write(Request),
    AddMember {
        id: NodeId,
        addr: String,
    },
    RemoveMember {
        id: NodeId,
    },
    ReadIndex,
    /// The leader's view of the cluster, for the member lags only it knows.
    Status,
    /// Would the receiver vote in an election now, i.e. has it lost its
    /// leader too? (See `prevote`.)
    PreVote,
}

/// The leader's answer to a [`Forward`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ForwardAnswer {
    /// The state machine's answer, and the log index of the entry.
    Written(Response, u64),
    /// Membership changed.
    Done,
    /// The log index a consistent read must wait for.
    ReadIndex(u64),
    Status(super::ClusterStatus),
    PreVote(super::prevote::View),
    /// The receiver is not the leader; it names the one it knows.
    NotLeader {
        leader: Option<(NodeId, String)>,
    },
    /// The leader could not complete it in time (no quorum).
    Unavailable(String),
    /// Refused for good (e.g. an invalid membership change).
    Refused(String),
    /// The leader did not admit the write (see `Journal::admit`); nothing
    /// was proposed.
    Rejected(Rejection),
}

/// The answer to `/raft/hello`: which replica holds the address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub id: NodeId,
}

//! What happened: the events of the log, who caused them, and the commands that
//! ask for them.
//!
//! Pure data, no IO. Every other module may depend on this one; it imports
//! nothing else of the crate. The log is the
//! system's memory and its audit trail, so every type here is part of the on-disk
//! format: grow enums by appending variants, and bump [`SCHEMA_VERSION`] (with a
//! decoder for the old shape in [`codec`]) when an existing variant changes.

mod actor;
pub mod codec;
mod command;
mod event;
mod fingerprint;
pub mod messages;
pub mod time;

pub use actor::{Actor, ActorParseError};
pub use command::{Command, Proposal};
pub use event::{
    ConfigKind, Event, EventType, ExecutorCommand, ExecutorSettings, StreamChange, TaskState,
};

use serde::{Deserialize, Serialize};

/// Version of the encoding written by this build.
///
/// Stored with every encoded value so that logs written by an older build
/// still decode after the types change. 2: a Raft log entry carries a batch
/// of requests (`journal::types::Batch`) instead of one; envelopes and
/// events are as in 1.
pub const SCHEMA_VERSION: u16 = 2;

/// One entry of the event history.
///
/// `seq` is the position in the history (1-based, dense), `at` the time the
/// command was proposed (unix milliseconds, never decreasing along the log), so
/// every replica holds byte-identical histories.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub seq: u64,
    pub at: u64,
    pub actor: Actor,
    pub event: Event,
}

//! The event log tooling of logstash-mesos (`logstash-mesos-events`): read,
//! replay, verify, export and import a replica's history. The events, the
//! projections and the storage are the main crate's own code.

pub mod api;
pub mod changes;
pub mod dump;
pub mod exchange;
pub mod progress;
pub mod replay;
pub mod source;
pub mod stats;
pub mod summary;
pub mod verify;

//! logstash-mesos: a Mesos framework that runs one log-shipping executor on every
//! agent, with an event-sourced scheduler.
//!
//! Module map (dependencies point one way, towards `events`):
//!
//! * [`events`]: what happened (events, envelopes, commands, codec); pure data.
//! * [`state`]: projections of the log and the decider; pure.
//! * [`executor`]: the executor's Docker discovery, streams and spool.
//! * [`logstash`]: the Logstash config language (parser, path extraction); pure.
//! * [`journal`]: the durable event journal and its one write interface.
//! * [`mesos`]: the Mesos v1 scheduler and executor HTTP APIs; no business logic.
//! * [`scheduler`]: leader duties (offer, rollout and report decisions, the Mesos driver loop).
//! * [`api`]: the REST API (axum) over the journal.
//! * [`server`]: wiring a journal and the API into a running scheduler process.
//! * [`telemetry`]: logging and metrics set-up.

pub mod api;
pub mod configdir;
pub mod events;
pub mod executor;
pub mod journal;
pub mod local;
pub mod logstash;
pub mod mesos;
pub mod scheduler;
pub mod server;
pub mod state;
pub mod telemetry;

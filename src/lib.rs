//! logstash-mesos: a Mesos framework that runs one log-shipping executor on every
//! agent, with an event-sourced scheduler.
//!
//! Module map (dependencies point one way, towards `events`; each module's
//! doc says what it must not import, and `tests/it/layering.rs` checks it):
//!
//! * [`events`]: what happened (events, envelopes, commands, codec); pure data.
//! * [`state`]: projections of the log, the decider, validation; pure.
//! * [`logstash`]: the Logstash config language (parser, path extraction); pure.
//! * [`backoff`]: the one retry policy.
//! * [`journal`]: the durable event journal and its one write interface.
//! * [`mesos`]: the Mesos v1 scheduler and executor HTTP APIs; no business logic.
//! * [`live`]: what a running scheduler knows outside the log, and its views.
//! * [`views`]: the JSON shapes of the API, shared with the offline tools.
//! * [`scheduler`]: leader duties (offer and rollout decisions, the Mesos driver loop).
//! * [`executor`]: the executor's Docker discovery, streams and spool.
//! * [`configdir`]: configs supplied as files.
//! * [`api`]: the REST API (axum) over the journal.
//! * [`local`]: `local` mode's in-process executor.
//! * [`server`]: wiring a journal and the API into a running scheduler process.
//! * [`telemetry`]: logging and metrics set-up.
//! * [`cli`]: the flags, their checks and the subcommands' runners; imported by nothing else.

pub mod api;
pub mod backoff;
pub mod cli;
pub mod configdir;
pub mod events;
pub mod executor;
pub mod journal;
pub mod live;
pub mod local;
pub mod logstash;
pub mod mesos;
pub mod scheduler;
pub mod server;
pub mod state;
pub mod telemetry;
pub mod views;

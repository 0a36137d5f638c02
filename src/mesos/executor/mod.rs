//! The executor side of the Mesos v1 HTTP API, for the custom executor that
//! runs on every agent.
//!
//! [`ExecutorEnv`] reads what the agent hands over; [`ExecutorDriver`]
//! subscribes to the agent, surfaces LAUNCH / KILL / SHUTDOWN / MESSAGE /
//! ACKNOWLEDGED / ERROR as [`ExecutorIncoming`] values, keeps unacknowledged
//! tasks and updates, and re-subscribes with them after an agent restart
//! (checkpointing frameworks only); [`ExecutorHandle`] sends UPDATE and
//! MESSAGE.

mod client;
mod env;

pub use client::{
    ExecutorCallError, ExecutorConfig, ExecutorDriver, ExecutorDriverHandle, ExecutorExit,
    ExecutorHandle, ExecutorIncoming,
};
pub use env::{
    DEFAULT_RECOVERY_TIMEOUT, DEFAULT_SUBSCRIPTION_BACKOFF_MAX, DurationError, EnvError,
    ExecutorEnv, parse_mesos_duration, parse_pid,
};

//! The command line: the flags (each also read from `LOGSTASH_MESOS_<FLAG>`),
//! their checks, their conversion into the settings the library runs with,
//! and the runners of the subcommands.
//!
//! Owns every flag name: library errors describe a problem, and this layer
//! says which flag caused it. A value that can never work is refused here, at
//! start, with exit code 2. Nothing else in the crate imports this module.

mod cluster;
mod common;
mod mesos;
mod run;
mod workload;

use clap::{Parser, Subcommand};

pub use cluster::ClusterArgs;
pub use common::CommonArgs;
pub use mesos::MesosArgs;
pub use run::{executor, executor_streams, local, scheduler};
pub use workload::{ExecutorStreamsArgs, WorkloadArgs};

use crate::telemetry::LogFormat;

#[derive(Debug, Parser)]
#[command(
    name = "logstash-mesos",
    version,
    about = "A Mesos framework that runs one log-shipping executor on every agent",
    long_about = "A Mesos framework that runs one log-shipping executor on every Mesos agent. \
        The executor streams the configured log files out of the agent's Docker containers \
        into a Logstash it supervises. Every flag can also be set through an environment \
        variable LOGSTASH_MESOS_<FLAG> (e.g. LOGSTASH_MESOS_DATA_DIR)."
)]
pub struct Cli {
    /// Format of the log lines written to stderr (`RUST_LOG` sets the level).
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "text",
        env = "LOGSTASH_MESOS_LOG_FORMAT"
    )]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one scheduler replica: REST API, event journal, and (as leader) the Mesos framework.
    Scheduler(Box<SchedulerArgs>),
    /// Run the executor; started by the Mesos agent and configured from its MESOS_* environment.
    Executor(WorkloadArgs),
    /// Run everything on one machine without Mesos, for trying it out and development.
    Local(LocalArgs),
    /// Run only the executor's Docker streaming, driven by a config-set file
    /// (for tests and benchmarks).
    #[command(hide = true)]
    ExecutorStreams(ExecutorStreamsArgs),
}

#[derive(Debug, clap::Args)]
pub struct SchedulerArgs {
    /// Address the REST API (and GUI) listens on.
    #[arg(long, default_value = "0.0.0.0:9092", env = "LOGSTASH_MESOS_LISTEN")]
    pub listen: std::net::SocketAddr,

    #[command(flatten)]
    pub common: CommonArgs,

    #[command(flatten)]
    pub cluster: ClusterArgs,

    #[command(flatten)]
    pub mesos: MesosArgs,

    /// Tear the framework down (every executor is stopped and the framework id
    /// can never be used again), record it in the log, and exit.
    #[arg(long, env = "LOGSTASH_MESOS_TEARDOWN")]
    pub teardown: bool,
}

#[derive(Debug, clap::Args)]
pub struct LocalArgs {
    /// Address the REST API (and GUI) listens on.
    #[arg(long, default_value = "127.0.0.1:9092", env = "LOGSTASH_MESOS_LISTEN")]
    pub listen: std::net::SocketAddr,

    #[command(flatten)]
    pub common: CommonArgs,

    #[command(flatten)]
    pub workload: WorkloadArgs,

    /// Serve the API only, without the in-process executor (no Docker needed).
    #[arg(long, env = "LOGSTASH_MESOS_NO_EXECUTOR")]
    pub no_executor: bool,
}

/// A flag value that can never work. The binary reports it like clap's own
/// errors: the flag, the problem, exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{flag}: {problem}")]
pub struct UsageError {
    pub flag: &'static str,
    pub problem: String,
}

impl UsageError {
    pub fn new(flag: &'static str, problem: impl std::fmt::Display) -> UsageError {
        UsageError {
            flag,
            problem: problem.to_string(),
        }
    }
}

/// `Err(UsageError)` with the flag named.
fn usage<T>(flag: &'static str, problem: impl std::fmt::Display) -> Result<T, UsageError> {
    Err(UsageError::new(flag, problem))
}

//! The `logstash-mesos` binary: parses the flags and runs one subcommand
//! (everything else is in the library's `cli` module).

use std::process::ExitCode;

use clap::Parser;
use logstash_mesos::cli::{self, Cli, Command, UsageError};
use logstash_mesos::telemetry;

fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init_logging(cli.log_format);
    let result = match cli.command {
        Command::Scheduler(args) => cli::scheduler(*args),
        Command::Executor(args) => cli::executor(args),
        Command::Local(args) => cli::local(args),
        Command::ExecutorStreams(args) => cli::executor_streams(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("logstash-mesos: {e:#}");
            // A flag value that can never work exits like clap's own errors.
            if e.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

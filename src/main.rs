//! The `logstash-mesos` binary: parses flags (each also read from an env var
//! `LOGSTASH_MESOS_<FLAG>`) and runs one subcommand.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use logstash_mesos::api::Tokens;
use logstash_mesos::server::{Server, ServerConfig};
use logstash_mesos::telemetry::{self, LogFormat};

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
struct Cli {
    /// Format of the log lines written to stderr (`RUST_LOG` sets the level).
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "text",
        env = "LOGSTASH_MESOS_LOG_FORMAT"
    )]
    log_format: LogFormat,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run one scheduler replica: REST API, event journal, and (as leader) the Mesos framework.
    Scheduler(SchedulerArgs),
    /// Run the executor; started by the Mesos agent and configured from its MESOS_* environment.
    Executor,
    /// Run everything on one machine without Mesos, for trying it out and development.
    Local(LocalArgs),
    /// Run only the executor's Docker streaming, driven by a config-set file
    /// (for tests and benchmarks).
    #[command(hide = true)]
    ExecutorStreams(ExecutorStreamsArgs),
}

#[derive(Debug, Args)]
struct ExecutorStreamsArgs {
    /// A JSON config set (`{"version": N, "configs": [{"name", "kind", "input"}]}`); re-read on change.
    #[arg(long)]
    configs: PathBuf,
    /// Spool directory (default: `$MESOS_SANDBOX/spool`).
    #[arg(long, env = "LOGSTASH_MESOS_SPOOL_DIR")]
    spool_dir: Option<PathBuf>,
    /// Executor state: checkpoints and sincedbs.
    #[arg(long)]
    state_dir: PathBuf,
    /// Size at which a spool segment is rotated, in bytes.
    #[arg(long, default_value_t = 10 * 1024 * 1024)]
    spool_file_size: u64,
    /// Total spool size over which the oldest segments are deleted, in bytes.
    #[arg(long, default_value_t = 512 * 1024 * 1024)]
    spool_budget: u64,
    /// Where a stream without a checkpoint starts.
    #[arg(long, value_enum, default_value = "beginning")]
    start_position: logstash_mesos::executor::stream::StartPosition,
    /// Only containers carrying this label (KEY=VALUE) are touched.
    #[arg(long)]
    require_label: Option<String>,
    /// Write the stream reports here as JSON.
    #[arg(long)]
    report: Option<PathBuf>,
    /// How long the old file must be quiet after a rotation, in milliseconds.
    #[arg(long, default_value_t = 2500)]
    rotate_quiet_ms: u64,
    /// How often the spool is fsynced and offsets checkpointed, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    flush_every_ms: u64,
    /// Period of the full container re-list, in seconds.
    #[arg(long, default_value_t = 30)]
    relist_every_secs: u64,
}

#[derive(Debug, Args)]
struct SchedulerArgs {
    /// Address the REST API (and GUI) listens on.
    #[arg(long, default_value = "0.0.0.0:9092", env = "LOGSTASH_MESOS_LISTEN")]
    listen: SocketAddr,

    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Debug, Args)]
struct LocalArgs {
    /// Address the REST API (and GUI) listens on.
    #[arg(long, default_value = "127.0.0.1:9092", env = "LOGSTASH_MESOS_LISTEN")]
    listen: SocketAddr,

    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Debug, Args)]
struct CommonArgs {
    /// Directory holding the event journal; created if missing.
    #[arg(
        long,
        default_value = "./logstash-mesos-data",
        env = "LOGSTASH_MESOS_DATA_DIR"
    )]
    data_dir: PathBuf,

    /// An API token `label:secret`; repeat for several (comma separated in the env var).
    /// With any token set, writes need `Authorization: Bearer <secret>`; the label is
    /// recorded as the actor of the events the request causes.
    #[arg(
        long = "api-token",
        value_name = "LABEL:SECRET",
        env = "LOGSTASH_MESOS_API_TOKEN",
        hide_env_values = true,
        value_delimiter = ','
    )]
    api_tokens: Vec<String>,

    /// A file of API tokens, one `label:secret` per line (`#` starts a comment);
    /// keeps secrets out of the process list. Repeatable.
    #[arg(
        long = "api-token-file",
        value_name = "PATH",
        env = "LOGSTASH_MESOS_API_TOKEN_FILE",
        value_delimiter = ','
    )]
    api_token_files: Vec<PathBuf>,

    /// Require a token for reads too, not only for writes.
    #[arg(long, env = "LOGSTASH_MESOS_API_AUTH_READS")]
    api_auth_reads: bool,
}

impl CommonArgs {
    fn server_config(&self, listen: SocketAddr) -> anyhow::Result<ServerConfig> {
        let tokens = Tokens::load(&self.api_tokens, &self.api_token_files, self.api_auth_reads)?;
        if !tokens.is_enabled() && !listen.ip().is_loopback() {
            tracing::warn!(%listen, "the API accepts writes without a token; set --api-token-file");
        }
        Ok(ServerConfig {
            listen,
            data_dir: self.data_dir.clone(),
            tokens,
        })
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init_logging(cli.log_format);
    let result = match cli.command {
        Command::Local(args) => args
            .common
            .server_config(args.listen)
            .and_then(|config| run(config, "local")),
        Command::Scheduler(_) => {
            not_built("scheduler", "the Mesos scheduler (issue: Mesos scheduler)")
        }
        Command::Executor => not_built("executor", "the executor"),
        Command::ExecutorStreams(args) => run_executor_streams(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("logstash-mesos: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_executor_streams(args: ExecutorStreamsArgs) -> anyhow::Result<()> {
    use logstash_mesos::executor::{discovery, standalone, stream};
    let spool_dir = match args.spool_dir {
        Some(dir) => dir,
        None => std::env::var_os("MESOS_SANDBOX")
            .map(|sandbox| PathBuf::from(sandbox).join("spool"))
            .context("--spool-dir or MESOS_SANDBOX is required")?,
    };
    let mut streams = stream::StreamSettings::new(spool_dir, args.state_dir);
    streams.segment_size = args.spool_file_size;
    streams.budget = args.spool_budget;
    streams.start_position = args.start_position;
    streams.rotate_quiet = std::time::Duration::from_millis(args.rotate_quiet_ms);
    streams.flush_every = std::time::Duration::from_millis(args.flush_every_ms.max(10));
    let options = standalone::Options {
        configs: args.configs,
        require_label: args.require_label.map(|l| l.parse()).transpose()?,
        streams,
        discovery: discovery::DiscoverySettings {
            relist_every: std::time::Duration::from_secs(args.relist_every_secs.max(1)),
            ..Default::default()
        },
        report: args.report,
        grace: std::time::Duration::from_secs(10),
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let cancel = tokio_util::sync::CancellationToken::new();
        let stop = cancel.clone();
        tokio::spawn(async move {
            shutdown_signal().await;
            stop.cancel();
        });
        standalone::run(options, cancel).await
    })
}

fn not_built(subcommand: &str, part: &str) -> anyhow::Result<()> {
    anyhow::bail!(
        "`{subcommand}` is not available in this build: {part} is not built yet. \
         `logstash-mesos local` runs the scheduler's API and journal on one machine."
    )
}

fn run(config: ServerConfig, mode: &str) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let data_dir = config.data_dir.clone();
        let server = Server::start(config).await?;
        println!(
            "logstash-mesos {mode}: listening on http://{}/",
            server.addr
        );
        tracing::info!(addr = %server.addr, data_dir = %data_dir.display(), "{mode} started");
        shutdown_signal().await;
        tracing::info!("shutting down");
        server.shutdown();
        server.wait().await?;
        Ok(())
    })
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

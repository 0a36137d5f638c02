//! The `logstash-mesos` binary: parses flags (each also read from an env var
//! `LOGSTASH_MESOS_<FLAG>`) and runs one subcommand.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use logstash_mesos::api::Tokens;
use logstash_mesos::events::{ExecutorCommand, ExecutorSettings};
use logstash_mesos::executor::agent::{self, ConfigHolder};
use logstash_mesos::journal::{Compaction, Timing};
use logstash_mesos::mesos::executor::ExecutorEnv;
use logstash_mesos::mesos::scheduler::SchedulerConfig;
use logstash_mesos::scheduler::constraints::Constraint;
use logstash_mesos::scheduler::driver::{Leader, Outcome};
use logstash_mesos::scheduler::leadership;
use logstash_mesos::scheduler::settings::{FrameworkSettings, LaunchSettings};
use logstash_mesos::server::{ClusterSettings, Server, ServerConfig};
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
    Scheduler(Box<SchedulerArgs>),
    /// Run the executor; started by the Mesos agent and configured from its MESOS_* environment.
    Executor,
    /// Run everything on one machine without Mesos, for trying it out and development.
    Local(LocalArgs),
}

#[derive(Debug, Args)]
struct SchedulerArgs {
    /// Address the REST API (and GUI) listens on.
    #[arg(long, default_value = "0.0.0.0:9092", env = "LOGSTASH_MESOS_LISTEN")]
    listen: SocketAddr,

    #[command(flatten)]
    common: CommonArgs,

    #[command(flatten)]
    cluster: ClusterArgs,

    #[command(flatten)]
    mesos: MesosArgs,

    /// Tear the framework down (every executor is stopped and the framework id
    /// can never be used again), record it in the log, and exit.
    #[arg(long, env = "LOGSTASH_MESOS_TEARDOWN")]
    teardown: bool,
}

#[derive(Debug, Args)]
struct MesosArgs {
    /// Mesos master URLs, comma separated (e.g. http://m1:5050,http://m2:5050); a
    /// non-leading master redirects to the leader.
    #[arg(long, value_name = "URLS", env = "LOGSTASH_MESOS_MASTER")]
    master: String,

    /// Principal for HTTP Basic authentication with the master, and the framework's principal.
    #[arg(long, env = "LOGSTASH_MESOS_MESOS_PRINCIPAL")]
    mesos_principal: Option<String>,

    /// File holding the secret for --mesos-principal (keeps it out of the process list).
    #[arg(long, value_name = "PATH", env = "LOGSTASH_MESOS_MESOS_SECRET_FILE")]
    mesos_secret_file: Option<PathBuf>,

    /// Framework name shown by Mesos.
    #[arg(
        long,
        default_value = "logstash",
        env = "LOGSTASH_MESOS_FRAMEWORK_NAME"
    )]
    framework_name: String,

    /// Mesos role the framework subscribes as; offers reserved for it are used.
    #[arg(long, default_value = "*", env = "LOGSTASH_MESOS_ROLE")]
    role: String,

    /// Unix user the executors run as on the agents (needs access to the Docker socket).
    #[arg(long, default_value = "root", env = "LOGSTASH_MESOS_MESOS_USER")]
    mesos_user: String,

    /// How long Mesos keeps the executors running while no scheduler is connected
    /// (e.g. `1week`, `2days`, `12h`); after that it tears the framework down.
    #[arg(long, default_value = "1week", value_parser = humantime::parse_duration, env = "LOGSTASH_MESOS_FAILOVER_TIMEOUT")]
    failover_timeout: std::time::Duration,

    /// URL of this scheduler's GUI, linked from the Mesos UI (default: http://<hostname>:<port>/).
    #[arg(long, env = "LOGSTASH_MESOS_WEBUI_URL")]
    webui_url: Option<String>,

    /// Path of the logstash-mesos binary on the agents, run as `<path> executor`
    /// (default: this binary's own path), or its name in the sandbox with --executor-uri.
    #[arg(long, value_name = "PATH", env = "LOGSTASH_MESOS_EXECUTOR_BINARY")]
    executor_binary: Option<String>,

    /// URI the Mesos fetcher downloads the executor binary from into the sandbox.
    #[arg(
        long,
        value_name = "URI",
        env = "LOGSTASH_MESOS_EXECUTOR_URI",
        conflicts_with = "executor_image"
    )]
    executor_uri: Option<String>,

    /// Run the executor from this Docker image instead (the Docker socket is mounted into it).
    #[arg(
        long,
        value_name = "IMAGE",
        env = "LOGSTASH_MESOS_EXECUTOR_IMAGE",
        conflicts_with = "executor_binary"
    )]
    executor_image: Option<String>,

    /// CPUs per executor (including Logstash).
    #[arg(long, default_value = "0.2", env = "LOGSTASH_MESOS_EXECUTOR_CPUS")]
    executor_cpus: f64,

    /// Memory per executor in MiB (include the Logstash heap when Logstash runs on the agents).
    #[arg(long, default_value = "256", env = "LOGSTASH_MESOS_EXECUTOR_MEM")]
    executor_mem: u32,

    /// Disk per executor in MiB, for the spool (0: none requested).
    #[arg(long, default_value = "0", env = "LOGSTASH_MESOS_EXECUTOR_DISK")]
    executor_disk: u32,

    /// Logstash heap in MiB, passed to the executors.
    #[arg(long, default_value = "512", env = "LOGSTASH_MESOS_LOGSTASH_HEAP")]
    logstash_heap: u32,

    /// Placement constraint on agents, repeatable: `hostname:LIKE:<regex>`,
    /// `<attribute>:<value>`, `<field>:UNLIKE:<regex>`, `<field>:CLUSTER:<value>`.
    #[arg(
        long = "constraint",
        value_name = "CONSTRAINT",
        env = "LOGSTASH_MESOS_CONSTRAINT",
        value_delimiter = ';'
    )]
    constraints: Vec<String>,

    /// Docker socket on the agents, mounted into the executor image.
    #[arg(
        long,
        default_value = "/var/run/docker.sock",
        env = "LOGSTASH_MESOS_DOCKER_SOCKET"
    )]
    docker_socket: String,

    /// Extra environment for the executors, `NAME=VALUE`, repeatable (e.g. RUST_LOG=debug).
    #[arg(
        long = "executor-env",
        value_name = "NAME=VALUE",
        env = "LOGSTASH_MESOS_EXECUTOR_ENV",
        value_delimiter = ';'
    )]
    executor_env: Vec<String>,
}

#[derive(Debug, Args)]
struct ClusterArgs {
    /// This replica's id in the Raft cluster, also recorded as the actor of its leader duties.
    #[arg(long, default_value = "1", env = "LOGSTASH_MESOS_NODE_ID")]
    node_id: u64,

    /// The replicas that form the cluster on first start, `ID=HOST:PORT` comma separated,
    /// this one included; each address is that replica's --listen as the others reach it.
    /// Omitted: a cluster of this one replica. Later changes go through /api/cluster/members.
    #[arg(
        long,
        value_name = "ID=HOST:PORT,...",
        env = "LOGSTASH_MESOS_PEERS",
        value_delimiter = ','
    )]
    peers: Vec<String>,

    /// File holding the secret the replicas authenticate each other's Raft calls with;
    /// required with more than one replica.
    #[arg(long, value_name = "PATH", env = "LOGSTASH_MESOS_CLUSTER_SECRET_FILE")]
    cluster_secret_file: Option<PathBuf>,

    /// Raft log entries between two snapshots (tests lower it to force snapshots).
    #[arg(
        long,
        hide = true,
        default_value = "5000",
        env = "LOGSTASH_MESOS_RAFT_SNAPSHOT_EVERY"
    )]
    raft_snapshot_every: u64,

    /// Raft log entries kept behind the last snapshot (0: purge everything it covers).
    #[arg(
        long,
        hide = true,
        default_value = "1000",
        env = "LOGSTASH_MESOS_RAFT_KEEP_LOGS"
    )]
    raft_keep_logs: u64,

    /// Raft heartbeat interval in ms.
    #[arg(
        long,
        hide = true,
        default_value = "250",
        env = "LOGSTASH_MESOS_RAFT_HEARTBEAT_MS"
    )]
    raft_heartbeat_ms: u64,

    /// Raft election timeout range in ms, `MIN-MAX`.
    #[arg(
        long,
        hide = true,
        default_value = "1000-2000",
        env = "LOGSTASH_MESOS_RAFT_ELECTION_MS"
    )]
    raft_election_ms: String,
}

impl ClusterArgs {
    fn settings(&self) -> anyhow::Result<ClusterSettings> {
        let mut peers = BTreeMap::new();
        for peer in self.peers.iter().filter(|p| !p.is_empty()) {
            let (id, addr) = peer
                .split_once('=')
                .with_context(|| format!("--peers entry {peer:?} must be ID=HOST:PORT"))?;
            let id: u64 = id
                .trim()
                .parse()
                .with_context(|| format!("--peers entry {peer:?}: the id is not a number"))?;
            let addr = addr.trim();
            if addr
                .rsplit_once(':')
                .is_none_or(|(host, port)| host.is_empty() || port.parse::<u16>().is_err())
            {
                anyhow::bail!("--peers entry {peer:?}: the address must be HOST:PORT");
            }
            if peers.insert(id, addr.to_owned()).is_some() {
                anyhow::bail!("--peers names replica {id} twice");
            }
        }
        if !peers.is_empty() && !peers.contains_key(&self.node_id) {
            anyhow::bail!(
                "--peers must include this replica (--node-id {})",
                self.node_id
            );
        }
        let secret = match &self.cluster_secret_file {
            Some(path) => {
                let secret = std::fs::read_to_string(path)
                    .with_context(|| {
                        format!("cannot read --cluster-secret-file {}", path.display())
                    })?
                    .trim()
                    .to_owned();
                if secret.len() < 16 {
                    anyhow::bail!(
                        "the cluster secret in {} is shorter than 16 characters",
                        path.display()
                    );
                }
                Some(secret)
            }
            None if peers.len() > 1 => anyhow::bail!(
                "a cluster of several replicas needs --cluster-secret-file (the replicas authenticate each other with it)"
            ),
            None => None,
        };
        let (min, max) = self
            .raft_election_ms
            .split_once('-')
            .and_then(|(a, b)| Some((a.trim().parse::<u64>().ok()?, b.trim().parse::<u64>().ok()?)))
            .context("--raft-election-ms must be MIN-MAX in milliseconds")?;
        Ok(ClusterSettings {
            node_id: self.node_id,
            peers,
            secret,
            timing: Timing {
                heartbeat_ms: self.raft_heartbeat_ms,
                election_min_ms: min,
                election_max_ms: max,
                ..Timing::default()
            },
            compaction: Compaction {
                snapshot_every: self.raft_snapshot_every,
                keep_logs: self.raft_keep_logs,
            },
        })
    }
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
            cluster: ClusterSettings::default(),
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
        Command::Scheduler(args) => scheduler(*args),
        Command::Executor => executor(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("logstash-mesos: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn executor() -> anyhow::Result<()> {
    let env = ExecutorEnv::from_process_env()?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let stop = tokio_util::sync::CancellationToken::new();
        let cancel = stop.clone();
        let signal = shutdown_signal();
        tokio::spawn(async move {
            signal.await;
            cancel.cancel();
        });
        agent::run(env, ConfigHolder::default(), stop).await?;
        Ok(())
    })
}

fn scheduler(args: SchedulerArgs) -> anyhow::Result<()> {
    let mut config = args.common.server_config(args.listen)?;
    config.cluster = args.cluster.settings()?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let server = Server::start(config).await?;
        let leader = args
            .mesos
            .leader(&server, args.listen, args.cluster.node_id)?;
        if args.teardown {
            leader.teardown(std::time::Duration::from_secs(60)).await?;
            println!("logstash-mesos: the framework was torn down");
            server.shutdown();
            server.wait().await?;
            return Ok(());
        }
        let signal = shutdown_signal();
        println!(
            "logstash-mesos scheduler: listening on http://{}/",
            server.addr
        );
        let stop = tokio_util::sync::CancellationToken::new();
        let mut leading = tokio::spawn(leadership::run(leader, stop.clone()));
        let outcome = tokio::select! {
            _ = signal => {
                tracing::info!("shutting down");
                stop.cancel();
                (&mut leading).await
            }
            outcome = &mut leading => outcome,
        };
        server.shutdown();
        server.wait().await?;
        match outcome.context("the Mesos loop panicked")?? {
            Outcome::Stopped | Outcome::TornDown => Ok(()),
            Outcome::FailedOver(message) => anyhow::bail!(
                "another scheduler took over the framework ({message}); this one stood down"
            ),
            Outcome::Fatal(message) => anyhow::bail!("the Mesos subscription failed: {message}"),
        }
    })
}

impl MesosArgs {
    fn leader(&self, server: &Server, listen: SocketAddr, replica: u64) -> anyhow::Result<Leader> {
        let mut mesos = SchedulerConfig::from_master_list(&self.master)
            .with_context(|| format!("--master {:?}", self.master))?;
        if let Some(principal) = &self.mesos_principal {
            let secret = match &self.mesos_secret_file {
                Some(path) => std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read --mesos-secret-file {}", path.display()))?
                    .trim_end()
                    .to_owned(),
                None => anyhow::bail!("--mesos-principal needs --mesos-secret-file"),
            };
            mesos = mesos.with_credentials(principal.clone(), secret);
        }
        let hostname = hostname();
        let webui_url = self
            .webui_url
            .clone()
            .unwrap_or_else(|| format!("http://{}:{}/", hostname, listen.port()));
        let command = match (&self.executor_image, &self.executor_uri) {
            (Some(image), _) => ExecutorCommand::Image {
                image: image.clone(),
            },
            (None, Some(uri)) => {
                let name = uri
                    .rsplit('/')
                    .next()
                    .filter(|n| !n.is_empty())
                    .unwrap_or("logstash-mesos");
                ExecutorCommand::Binary {
                    path: self
                        .executor_binary
                        .clone()
                        .unwrap_or_else(|| format!("./{name}")),
                    uri: Some(uri.clone()),
                }
            }
            (None, None) => ExecutorCommand::Binary {
                path: match &self.executor_binary {
                    Some(path) => path.clone(),
                    None => std::env::current_exe()
                        .context("cannot find this binary's path; set --executor-binary")?
                        .display()
                        .to_string(),
                },
                uri: None,
            },
        };
        if !(self.executor_cpus.is_finite() && self.executor_cpus > 0.0) {
            anyhow::bail!("--executor-cpus must be a positive number");
        }
        let constraints = self
            .constraints
            .iter()
            .filter(|c| !c.is_empty())
            .map(|c| c.parse::<Constraint>())
            .collect::<Result<Vec<_>, _>>()?;
        let mut environment = vec![(
            "LOGSTASH_MESOS_LOGSTASH_HEAP".to_owned(),
            self.logstash_heap.to_string(),
        )];
        for pair in self.executor_env.iter().filter(|p| !p.is_empty()) {
            let (name, value) = pair
                .split_once('=')
                .filter(|(n, _)| !n.is_empty())
                .with_context(|| format!("--executor-env {pair:?} must be NAME=VALUE"))?;
            environment.push((name.to_owned(), value.to_owned()));
        }
        Ok(Leader {
            journal: server.journal.clone(),
            live: server.live.clone(),
            framework: FrameworkSettings {
                name: self.framework_name.clone(),
                role: self.role.clone(),
                user: self.mesos_user.clone(),
                principal: self.mesos_principal.clone(),
                failover_timeout: self.failover_timeout,
                webui_url: Some(webui_url),
                hostname: Some(hostname),
            },
            launch: LaunchSettings {
                executor: ExecutorSettings {
                    cpus_milli: (self.executor_cpus * 1000.0).round() as u32,
                    mem_mib: self.executor_mem,
                    disk_mib: self.executor_disk,
                    logstash_heap_mib: self.logstash_heap,
                    command,
                },
                constraints,
                docker_socket: self.docker_socket.clone(),
                environment,
            },
            mesos,
            replica,
        })
    }
}

/// This machine's hostname, for the framework's Mesos UI link.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

fn run(config: ServerConfig, mode: &str) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let data_dir = config.data_dir.clone();
        let server = Server::start(config).await?;
        let signal = shutdown_signal();
        println!(
            "logstash-mesos {mode}: listening on http://{}/",
            server.addr
        );
        tracing::info!(addr = %server.addr, data_dir = %data_dir.display(), "{mode} started");
        signal.await;
        tracing::info!("shutting down");
        server.shutdown();
        server.wait().await?;
        Ok(())
    })
}

/// Listens for SIGINT and SIGTERM from the moment it is called (not from the
/// first poll), so a signal sent right after the URL line is printed is not
/// lost to the default action.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let interrupt = signal(SignalKind::interrupt()).ok();
    let terminate = signal(SignalKind::terminate()).ok();
    async move {
        let wait = |s: Option<tokio::signal::unix::Signal>| async move {
            match s {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = wait(interrupt) => {}
            _ = wait(terminate) => {}
        }
    }
}

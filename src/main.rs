//! The `logstash-mesos` binary: parses flags (each also read from an env var
//! `LOGSTASH_MESOS_<FLAG>`) and runs one subcommand.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use logstash_mesos::api::{BrowserPolicy, ConnectionLimits, HttpSettings, Tokens};
use logstash_mesos::events::{ExecutorCommand, ExecutorSettings};
use logstash_mesos::executor::agent::{self, Unavailable};
use logstash_mesos::executor::workload::{DockerWorkload, WorkloadSettings};
use logstash_mesos::journal::{Compaction, Timing};
use logstash_mesos::local;
use logstash_mesos::mesos::executor::ExecutorEnv;
use logstash_mesos::mesos::scheduler::{SchedulerClient, SchedulerConfig};
use logstash_mesos::scheduler::constraints::Constraint;
use logstash_mesos::scheduler::driver::{Leader, Outcome};
use logstash_mesos::scheduler::leadership;
use logstash_mesos::scheduler::settings::{FrameworkSettings, LaunchSettings};
use logstash_mesos::server::{ClusterSettings, Server, ServerConfig};
use logstash_mesos::state::HostPathPolicy;
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
    Executor(WorkloadArgs),
    /// Run everything on one machine without Mesos, for trying it out and development.
    Local(Box<LocalArgs>),
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
    /// How streams read container files.
    #[arg(long, value_enum, default_value = "auto")]
    reader: logstash_mesos::executor::stream::ReaderChoice,
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
    /// Mesos master URLs, comma separated (e.g. https://m1:5050,https://m2:5050); a
    /// non-leading master redirects to the leader. Use https:// with --mesos-principal,
    /// or the secret travels in clear text.
    #[arg(long, value_name = "URLS", env = "LOGSTASH_MESOS_MASTER")]
    master: String,

    /// PEM file of the CA(s) that sign the https:// masters' certificates (a private CA);
    /// only these are trusted then. Without it, the system's CA store is used.
    #[arg(long, value_name = "PATH", env = "LOGSTASH_MESOS_MESOS_CA_FILE")]
    mesos_ca_file: Option<PathBuf>,

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
    /// this one included; each address is that replica's --raft-listen (or --listen) as the
    /// others reach it. Omitted: a cluster of this one replica. Later changes go through
    /// /api/cluster/members.
    #[arg(
        long,
        value_name = "ID=HOST:PORT,...",
        env = "LOGSTASH_MESOS_PEERS",
        value_delimiter = ','
    )]
    peers: Vec<String>,

    /// File holding the secret the replicas authenticate each other's Raft calls with;
    /// required with more than one replica. It is never sent: calls carry an HMAC.
    #[arg(long, value_name = "PATH", env = "LOGSTASH_MESOS_CLUSTER_SECRET_FILE")]
    cluster_secret_file: Option<PathBuf>,

    /// Serve the replicas' Raft calls (`/raft/`) on this address instead of --listen, so
    /// API clients cannot starve replication. The other replicas then reach this one here:
    /// name this address in --peers and when adding the replica.
    #[arg(long, value_name = "HOST:PORT", env = "LOGSTASH_MESOS_RAFT_LISTEN")]
    raft_listen: Option<SocketAddr>,

    /// How long a replica being added (POST /api/cluster/members) may take to catch up
    /// with the log before it is removed again and the request fails (e.g. `20s`, `2min`).
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration, env = "LOGSTASH_MESOS_RAFT_CATCH_UP_TIMEOUT")]
    raft_catch_up_timeout: std::time::Duration,

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
            raft_listen: self.raft_listen,
            peers,
            secret,
            timing: Timing {
                heartbeat_ms: self.raft_heartbeat_ms,
                election_min_ms: min,
                election_max_ms: max,
                catch_up_ms: u64::try_from(self.raft_catch_up_timeout.as_millis())
                    .unwrap_or(u64::MAX),
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

    #[command(flatten)]
    workload: WorkloadArgs,

    /// Serve the API only, without the in-process executor (no Docker needed).
    #[arg(long, env = "LOGSTASH_MESOS_NO_EXECUTOR")]
    no_executor: bool,
}

/// What the executor does on its agent (also the in-process executor of `local`).
#[derive(Debug, Args)]
struct WorkloadArgs {
    /// Executor state kept across executor restarts: checkpoints, sincedbs, Logstash data
    /// (default: /var/lib/logstash-mesos/<framework id>/<agent id>; `local`: <data-dir>/executor).
    #[arg(long, value_name = "DIR", env = "LOGSTASH_MESOS_STATE_DIR")]
    state_dir: Option<PathBuf>,

    /// Spool directory (default: <state-dir>/spool, so unread lines survive a new
    /// executor sandbox; `$MESOS_SANDBOX/spool` keeps them with the sandbox instead).
    #[arg(long, value_name = "DIR", env = "LOGSTASH_MESOS_SPOOL_DIR")]
    spool_dir: Option<PathBuf>,

    /// Size at which a spool file is rotated into a numbered segment (e.g. 10MiB).
    #[arg(long, default_value = "10MiB", value_parser = parse_size, env = "LOGSTASH_MESOS_SPOOL_FILE_SIZE")]
    spool_file_size: u64,

    /// Disk budget of the whole spool; the oldest rotated segments are deleted over
    /// it and every unread byte deleted is counted as dropped (e.g. 512MiB).
    #[arg(long, default_value = "512MiB", value_parser = parse_size, env = "LOGSTASH_MESOS_SPOOL_BUDGET")]
    spool_budget: u64,

    /// Where a file of a newly seen container starts.
    #[arg(
        long,
        value_enum,
        default_value = "beginning",
        env = "LOGSTASH_MESOS_START_POSITION"
    )]
    start_position: logstash_mesos::executor::stream::StartPosition,

    /// Opt-in mode: only containers carrying this label (KEY=VALUE) are touched.
    #[arg(long, value_name = "KEY=VALUE", env = "LOGSTASH_MESOS_REQUIRE_LABEL")]
    require_label: Option<String>,

    /// The Logstash program (a path, or a name on PATH); without it the executor
    /// still discovers and spools, and says so.
    #[arg(long, default_value = "logstash", env = "LOGSTASH_MESOS_LOGSTASH_BIN")]
    logstash_bin: String,

    /// Logstash heap in MiB (0: Logstash's own default).
    #[arg(long, default_value = "512", env = "LOGSTASH_MESOS_LOGSTASH_HEAP")]
    logstash_heap: u32,

    /// Where the agent's root file system is visible to Logstash (host-level configs).
    #[arg(long, default_value = "/", env = "LOGSTASH_MESOS_HOST_ROOT")]
    host_root: String,

    /// How streams read container files: `direct` through /proc/<pid>/root
    /// (needs the host PID namespace and root), `exec` with `sh` and `tail -F`
    /// in the container, `auto` direct where it works, else exec.
    #[arg(
        long,
        value_enum,
        default_value = "auto",
        env = "LOGSTASH_MESOS_READER"
    )]
    reader: logstash_mesos::executor::stream::ReaderChoice,

    /// How long the state (checkpoint, sincedb, spool) of a container that is
    /// gone is kept before it is removed (`0s`: forever).
    #[arg(long, default_value = "24h", value_parser = humantime::parse_duration, env = "LOGSTASH_MESOS_STATE_RETENTION")]
    state_retention: std::time::Duration,
}

impl WorkloadArgs {
    fn settings(&self, default_state: PathBuf) -> anyhow::Result<WorkloadSettings> {
        use logstash_mesos::executor::{discovery, logstash, stream};
        let state_dir = self.state_dir.clone().unwrap_or(default_state);
        let spool_dir = self
            .spool_dir
            .clone()
            .unwrap_or_else(|| state_dir.join("spool"));
        let mut streams = stream::StreamSettings::new(spool_dir, state_dir.clone());
        streams.segment_size = self.spool_file_size;
        streams.budget = self.spool_budget;
        streams.start_position = self.start_position;
        streams.reader = self.reader;
        streams.state_retention = (!self.state_retention.is_zero()).then_some(self.state_retention);
        Ok(WorkloadSettings {
            streams,
            discovery: discovery::DiscoverySettings::default(),
            require_label: self.require_label.as_deref().map(str::parse).transpose()?,
            logstash: logstash::LogstashSettings {
                bin: self.logstash_bin.clone(),
                heap_mib: self.logstash_heap,
                dir: state_dir.join("logstash"),
                reload_interval: std::time::Duration::from_secs(3),
            },
            host_root: self.host_root.clone(),
        })
    }
}

/// One root of `--host-path-allow`: an empty entry (a stray comma) must not
/// silently change what is allowed.
fn host_path_root(s: &str) -> Result<String, String> {
    let root = s.trim();
    if root.is_empty() {
        return Err("empty entry (a stray comma?); list absolute paths such as /var/log".into());
    }
    if !root.starts_with('/') || root.split('/').any(|c| c == "." || c == "..") {
        return Err(format!(
            "{root:?} must be an absolute path without . or .. components"
        ));
    }
    Ok(root.to_owned())
}

/// A size in bytes, with an optional unit: `4096`, `64KiB`, `10MiB`, `1GiB` (also K, M, G).
fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let number: u64 = number.parse().map_err(|_| format!("{s:?} is not a size"))?;
    let factor: u64 = match unit.trim() {
        "" | "B" => 1,
        "K" | "KiB" | "k" => 1 << 10,
        "M" | "MiB" => 1 << 20,
        "G" | "GiB" => 1 << 30,
        other => {
            return Err(format!(
                "unknown size unit {other:?} (use B, KiB, MiB or GiB)"
            ));
        }
    };
    number
        .checked_mul(factor)
        .ok_or_else(|| format!("{s:?} is too large"))
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

    /// An API token `label:secret` (may read and change per-image configs),
    /// `label:secret:read` (may only read) or `label:secret:admin` (may also set the
    /// host config and the cluster's members); repeat for several (comma separated in
    /// the env var). With any token set, changes need `Authorization: Bearer <secret>`;
    /// the label is recorded as the actor of the events the request causes.
    #[arg(
        long = "api-token",
        value_name = "LABEL:SECRET",
        env = "LOGSTASH_MESOS_API_TOKEN",
        hide_env_values = true,
        value_delimiter = ','
    )]
    api_tokens: Vec<String>,

    /// A file of API tokens, one `label:secret[:read|:admin]` per line (`#` starts a
    /// comment); keeps secrets out of the process list. Repeatable.
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

    /// A directory of configs to follow: `docker/<image>.conf` (subfolders for `/`
    /// in the image name) and `host/<name>.conf`. Configs it holds can only be
    /// changed through their files.
    #[arg(long, value_name = "DIR", env = "LOGSTASH_MESOS_CONFIG_DIR")]
    config_dir: Option<PathBuf>,

    /// Roots below which host-level configs may read agent files (`host-path`),
    /// comma separated absolute paths.
    #[arg(
        long,
        value_name = "PATHS",
        default_value = "/var/log",
        env = "LOGSTASH_MESOS_HOST_PATH_ALLOW",
        value_delimiter = ',',
        value_parser = host_path_root
    )]
    host_path_allow: Vec<String>,

    /// Accept Logstash plugins and settings that run commands or code on the agents
    /// or read or write agent files of the config's choosing (`exec`, `pipe`, `ruby`,
    /// the `file` output, `path` of the `file` input, ...; docs/security.md lists them).
    #[arg(long, env = "LOGSTASH_MESOS_ALLOW_HOST_PLUGINS")]
    allow_host_plugins: bool,

    /// Do not serve the web GUI at `/`; the REST API stays on.
    #[arg(long, env = "LOGSTASH_MESOS_NO_UI")]
    no_ui: bool,

    /// Serve the API without tokens on an address other than loopback (anyone who
    /// reaches it may change the configs that run on every agent).
    #[arg(long, env = "LOGSTASH_MESOS_INSECURE_NO_AUTH")]
    insecure_no_auth: bool,

    /// A URL operators reach this scheduler at (a DNS name, a proxy), comma separated:
    /// browsers are let in only by IP address, `localhost`, this machine's name or these
    /// names (a guard against DNS rebinding), and changes only from these origins.
    #[arg(
        long = "public-url",
        value_name = "URL",
        env = "LOGSTASH_MESOS_PUBLIC_URL",
        value_delimiter = ','
    )]
    public_urls: Vec<String>,

    /// Open connections the API serves at once; more are answered 503 and closed
    /// (lowered to fit the process's file descriptor limit).
    #[arg(long, default_value = "512", value_parser = clap::value_parser!(u32).range(1..), env = "LOGSTASH_MESOS_MAX_CONNECTIONS")]
    max_connections: u32,

    /// Open connections from one IP address; more are answered 429 and closed (0: only
    /// --max-connections applies, e.g. behind a proxy).
    #[arg(
        long,
        default_value = "64",
        env = "LOGSTASH_MESOS_MAX_CONNECTIONS_PER_IP"
    )]
    max_connections_per_ip: u32,

    /// Longest time a client may take to send a request's head; also how long an idle
    /// connection is kept open.
    #[arg(long, default_value = "10s", value_parser = positive_duration, env = "LOGSTASH_MESOS_HEADER_READ_TIMEOUT")]
    header_read_timeout: std::time::Duration,

    /// Open live event streams (`/api/events/stream`, one per GUI tab); more get 429.
    #[arg(long, default_value = "64", value_parser = clap::value_parser!(u32).range(1..), env = "LOGSTASH_MESOS_MAX_EVENT_STREAMS")]
    max_event_streams: u32,
}

impl CommonArgs {
    /// `gui_urls`: further URLs the GUI is known by (the scheduler's --webui-url).
    fn server_config(
        &self,
        listen: SocketAddr,
        gui_urls: &[String],
    ) -> anyhow::Result<ServerConfig> {
        let tokens = Tokens::load(&self.api_tokens, &self.api_token_files, self.api_auth_reads)?;
        if !tokens.is_enabled() && !listen.ip().is_loopback() {
            if !self.insecure_no_auth {
                return Err(UsageError(format!(
                    "--listen {listen} is not a loopback address and no API token is set: anyone \
                     who reaches it could change the configs that run on every agent. Set \
                     --api-token or --api-token-file, or pass --insecure-no-auth"
                ))
                .into());
            }
            tracing::warn!(%listen, "the API accepts changes without a token (--insecure-no-auth)");
        }
        let public_urls: Vec<String> = self
            .public_urls
            .iter()
            .filter(|u| !u.trim().is_empty())
            .cloned()
            .collect();
        let mut browser = BrowserPolicy::new(&BrowserPolicy::machine_names(), &public_urls)
            .map_err(|e| UsageError(format!("--public-url {e}")))?;
        for url in gui_urls {
            browser = browser.also_at(url);
        }
        let http = HttpSettings {
            connections: ConnectionLimits {
                max: fd_budget(self.max_connections as usize),
                per_ip: self.max_connections_per_ip as usize,
                header_read_timeout: self.header_read_timeout,
            },
            max_event_streams: self.max_event_streams as usize,
            browser,
        };
        Ok(ServerConfig {
            listen,
            data_dir: self.data_dir.clone(),
            tokens,
            cluster: ClusterSettings::default(),
            config_dir: self.config_dir.clone(),
            host_paths: HostPathPolicy::new(&self.host_path_allow)
                .allowing_host_plugins(self.allow_host_plugins),
            ui: !self.no_ui,
            http,
        })
    }
}

/// A flag value that can never work: reported like clap's own errors (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct UsageError(String);

/// File descriptors left after the connections the process needs besides
/// its API clients (journal, Raft peers, Docker, spool files).
const FD_RESERVE: u64 = 256;

/// `wanted` API connections, or fewer if the file descriptor limit could not
/// hold them besides [`FD_RESERVE`].
fn fd_budget(wanted: usize) -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given and nothing else.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return wanted;
    }
    let fits = limit.rlim_cur.saturating_sub(FD_RESERVE).max(16);
    if (wanted as u64) > fits {
        tracing::warn!(
            wanted,
            fits,
            fd_limit = limit.rlim_cur,
            "--max-connections lowered to fit the file descriptor limit (raise it with ulimit -n)"
        );
        return fits as usize;
    }
    wanted
}

fn positive_duration(s: &str) -> Result<std::time::Duration, String> {
    match humantime::parse_duration(s) {
        Ok(d) if d.is_zero() => Err("must be longer than zero".into()),
        Ok(d) => Ok(d),
        Err(e) => Err(e.to_string()),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init_logging(cli.log_format);
    let result = match cli.command {
        Command::Local(args) => args
            .common
            .server_config(args.listen, &[])
            .and_then(|config| {
                let workload = if args.no_executor {
                    None
                } else {
                    Some(args.workload.settings(config.data_dir.join("executor"))?)
                };
                run(config, "local", workload)
            }),
        Command::Scheduler(args) => scheduler(*args),
        Command::Executor(args) => executor(args),
        Command::ExecutorStreams(args) => run_executor_streams(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.downcast_ref::<UsageError>().is_some() => {
            eprintln!("logstash-mesos: {e:#}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("logstash-mesos: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn executor(args: WorkloadArgs) -> anyhow::Result<()> {
    let env = ExecutorEnv::from_process_env()?;
    let default_state = PathBuf::from("/var/lib/logstash-mesos")
        .join(&env.framework_id)
        .join(env.agent_id.as_deref().unwrap_or("agent"));
    let settings = args.settings(default_state)?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let stop = tokio_util::sync::CancellationToken::new();
        let cancel = stop.clone();
        let signal = shutdown_signal();
        tokio::spawn(async move {
            signal.await;
            cancel.cancel();
        });
        match DockerWorkload::start(settings, &stop).await {
            Ok(workload) => agent::run(env, workload, stop).await?,
            Err(e) => {
                // Report the task failed with the reason, so operators see it.
                agent::run(env, Unavailable(e.to_string()), stop).await?
            }
        }
        Ok(())
    })
}

fn scheduler(args: SchedulerArgs) -> anyhow::Result<()> {
    let gui_urls: Vec<String> = args.mesos.webui_url.iter().cloned().collect();
    let mut config = args.common.server_config(args.listen, &gui_urls)?;
    config.cluster = args.cluster.settings()?;
    let mesos = args.mesos.scheduler_config()?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        SchedulerClient::new(mesos.clone())?.check_tls().await?;
        let server = Server::start(config).await?;
        let leader = args
            .mesos
            .leader(mesos, &server, args.listen, args.cluster.node_id)?;
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
    /// How the scheduler reaches the masters.
    fn scheduler_config(&self) -> anyhow::Result<SchedulerConfig> {
        let mut mesos = SchedulerConfig::from_master_list(&self.master)
            .with_context(|| format!("--master {:?}", self.master))?;
        if let Some(path) = &self.mesos_ca_file {
            mesos = mesos.with_ca_file(path);
        }
        if let Some(principal) = &self.mesos_principal {
            let secret = match &self.mesos_secret_file {
                Some(path) => std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read --mesos-secret-file {}", path.display()))?
                    .trim_end()
                    .to_owned(),
                None => anyhow::bail!("--mesos-principal needs --mesos-secret-file"),
            };
            if mesos.has_plain_http_master() {
                tracing::warn!(
                    "--mesos-principal with an http:// master: the secret travels in clear text; use https:// masters"
                );
            }
            mesos = mesos.with_credentials(principal.clone(), secret);
        }
        Ok(mesos)
    }

    fn leader(
        &self,
        mesos: SchedulerConfig,
        server: &Server,
        listen: SocketAddr,
        replica: u64,
    ) -> anyhow::Result<Leader> {
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
    streams.reader = args.reader;
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

fn run(config: ServerConfig, mode: &str, workload: Option<WorkloadSettings>) -> anyhow::Result<()> {
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
        let stop = tokio_util::sync::CancellationToken::new();
        let executor = workload.map(|settings| {
            tokio::spawn(local::run(
                server.journal.clone(),
                server.live.clone(),
                settings,
                stop.clone(),
            ))
        });
        signal.await;
        tracing::info!("shutting down");
        stop.cancel();
        if let Some(executor) = executor
            && let Ok(Err(e)) = executor.await
        {
            tracing::warn!(error = %e, "the local executor could not record its end");
        }
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

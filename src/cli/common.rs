//! Flags every API-serving subcommand (`scheduler`, `local`) shares: the
//! journal's directory, tokens, the config directory, the host access policy
//! and the HTTP bounds, turned into a [`ServerConfig`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::{UsageError, usage};
use crate::api::{BrowserPolicy, ConnectionLimits, HttpSettings, Tokens};
use crate::server::ServerConfig;
use crate::state::HostPathPolicy;

#[derive(Debug, clap::Args)]
pub struct CommonArgs {
    /// Directory holding the event journal; created if missing.
    #[arg(
        long,
        default_value = "./logstash-mesos-data",
        env = "LOGSTASH_MESOS_DATA_DIR"
    )]
    pub data_dir: PathBuf,

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
    pub api_tokens: Vec<String>,

    /// A file of API tokens, one `label:secret[:read|:admin]` per line (`#` starts a
    /// comment); keeps secrets out of the process list. Repeatable.
    #[arg(
        long = "api-token-file",
        value_name = "PATH",
        env = "LOGSTASH_MESOS_API_TOKEN_FILE",
        value_delimiter = ','
    )]
    pub api_token_files: Vec<PathBuf>,

    /// Require a token for reads too, not only for writes.
    #[arg(long, env = "LOGSTASH_MESOS_API_AUTH_READS")]
    pub api_auth_reads: bool,

    /// A directory of configs to follow: `docker/<image>.conf` (subfolders for `/`
    /// in the image name) and `host/<name>.conf`. Configs it holds can only be
    /// changed through their files.
    #[arg(long, value_name = "DIR", env = "LOGSTASH_MESOS_CONFIG_DIR")]
    pub config_dir: Option<PathBuf>,

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
    pub host_path_allow: Vec<String>,

    /// Logstash plugins installed on the agents besides the bundled ones, as gem names
    /// (logstash-filter-tld,...); configs may name only bundled plugins and these.
    #[arg(
        long,
        value_name = "GEMS",
        value_delimiter = ',',
        env = "LOGSTASH_MESOS_LOGSTASH_PLUGINS"
    )]
    pub logstash_plugins: Vec<crate::logstash::catalog::ExtraPlugin>,

    /// Accept Logstash plugins and settings that run commands or code on the agents
    /// or read or write agent files of the config's choosing (`exec`, `pipe`, `ruby`,
    /// the `file` output, `path` of the `file` input, ...; docs/security.md lists them).
    #[arg(long, env = "LOGSTASH_MESOS_ALLOW_HOST_PLUGINS")]
    pub allow_host_plugins: bool,

    /// Do not serve the web GUI at `/`; the REST API stays on.
    #[arg(long, env = "LOGSTASH_MESOS_NO_UI")]
    pub no_ui: bool,

    /// Serve the API without tokens on an address other than loopback (anyone who
    /// reaches it may change the configs that run on every agent).
    #[arg(long, env = "LOGSTASH_MESOS_INSECURE_NO_AUTH")]
    pub insecure_no_auth: bool,

    /// A URL operators reach this scheduler at (a DNS name, a proxy), comma separated:
    /// browsers are let in only by IP address, `localhost`, this machine's name or these
    /// names (a guard against DNS rebinding), and changes only from these origins.
    #[arg(
        long = "public-url",
        value_name = "URL",
        env = "LOGSTASH_MESOS_PUBLIC_URL",
        value_delimiter = ','
    )]
    pub public_urls: Vec<String>,

    /// Open connections the API serves at once; more are answered 503 and closed
    /// (lowered to fit the process's file descriptor limit).
    #[arg(long, default_value = "512", value_parser = clap::value_parser!(u32).range(1..), env = "LOGSTASH_MESOS_MAX_CONNECTIONS")]
    pub max_connections: u32,

    /// Open connections from one IP address; more are answered 429 and closed (0: only
    /// --max-connections applies, e.g. behind a proxy).
    #[arg(
        long,
        default_value = "64",
        env = "LOGSTASH_MESOS_MAX_CONNECTIONS_PER_IP"
    )]
    pub max_connections_per_ip: u32,

    /// Longest time a client may take to send a request's head; also how long an idle
    /// connection is kept open.
    #[arg(long, default_value = "10s", value_parser = positive_duration, env = "LOGSTASH_MESOS_HEADER_READ_TIMEOUT")]
    pub header_read_timeout: Duration,

    /// Open live event streams (`/api/events/stream`, one per GUI tab); more get 429.
    #[arg(long, default_value = "64", value_parser = clap::value_parser!(u32).range(1..), env = "LOGSTASH_MESOS_MAX_EVENT_STREAMS")]
    pub max_event_streams: u32,
}

impl CommonArgs {
    /// `gui_urls`: further URLs the GUI is known by (the scheduler's --webui-url).
    /// The cluster is a replica alone until the caller says otherwise.
    pub fn server_config(
        &self,
        listen: SocketAddr,
        gui_urls: &[String],
    ) -> Result<ServerConfig, UsageError> {
        let tokens = Tokens::load(&self.api_tokens, &self.api_token_files, self.api_auth_reads)
            .map_err(|e| UsageError::new("--api-token", e))?;
        if !tokens.is_enabled() && !listen.ip().is_loopback() {
            if !self.insecure_no_auth {
                return usage(
                    "--listen",
                    format!(
                        "{listen} is not a loopback address and no API token is set: anyone \
                         who reaches it could change the configs that run on every agent. Set \
                         --api-token or --api-token-file, or pass --insecure-no-auth"
                    ),
                );
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
            .map_err(|e| UsageError::new("--public-url", e))?;
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
            cluster: Default::default(),
            raft_listen: None,
            config_dir: self.config_dir.clone(),
            host_paths: HostPathPolicy::new(&self.host_path_allow)
                .allowing_host_plugins(self.allow_host_plugins)
                .with_extra_plugins(self.logstash_plugins.iter().cloned()),
            ui: !self.no_ui,
            http,
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

pub(super) fn positive_duration(s: &str) -> Result<Duration, String> {
    match humantime::parse_duration(s) {
        Ok(d) if d.is_zero() => Err("must be longer than zero".into()),
        Ok(d) => Ok(d),
        Err(e) => Err(e.to_string()),
    }
}

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

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        common: CommonArgs,
    }

    fn parse(flags: &[&str]) -> Result<CommonArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("x").chain(flags.iter().copied())).map(|c| c.common)
    }

    fn loopback() -> SocketAddr {
        "127.0.0.1:0".parse().unwrap()
    }

    #[test]
    fn allow_list_entries_must_be_absolute_and_not_empty() {
        let ok = parse(&["--host-path-allow", "/var/log,/srv/logs"]).unwrap();
        assert_eq!(ok.host_path_allow, ["/var/log", "/srv/logs"]);
        for bad in [
            "/var/log,",
            "var/log",
            "/var/../etc",
            ",/var/log",
            "/var/log,,/x",
        ] {
            let e = parse(&["--host-path-allow", bad]).expect_err(bad);
            assert!(e.to_string().contains("--host-path-allow"), "{bad}: {e}");
        }
    }

    #[test]
    fn durations_and_counts_must_be_positive() {
        for flags in [
            ["--header-read-timeout", "0s"],
            ["--header-read-timeout", "soon"],
            ["--max-connections", "0"],
            ["--max-event-streams", "0"],
        ] {
            let e = parse(&flags).expect_err(flags[1]);
            assert!(e.to_string().contains(flags[0]), "{e}");
        }
    }

    #[test]
    fn a_non_loopback_api_without_tokens_needs_the_insecure_flag() {
        let anywhere: SocketAddr = "0.0.0.0:0".parse().unwrap();
        let e = parse(&[])
            .unwrap()
            .server_config(anywhere, &[])
            .unwrap_err();
        assert_eq!(e.flag, "--listen");
        assert!(
            parse(&["--insecure-no-auth"])
                .unwrap()
                .server_config(anywhere, &[])
                .is_ok()
        );
        assert!(
            parse(&["--api-token", "ops:s3cret"])
                .unwrap()
                .server_config(anywhere, &[])
                .is_ok()
        );
    }

    #[test]
    fn bad_tokens_and_urls_name_their_flag() {
        let e = parse(&["--api-token", "nocolon"])
            .unwrap()
            .server_config(loopback(), &[])
            .unwrap_err();
        assert_eq!(e.flag, "--api-token");
        let e = parse(&["--public-url", "not a url"])
            .unwrap()
            .server_config(loopback(), &[])
            .unwrap_err();
        assert_eq!(e.flag, "--public-url");
    }

    #[test]
    fn the_server_config_carries_the_flags() {
        let config = parse(&[
            "--data-dir",
            "/tmp/d",
            "--no-ui",
            "--max-connections-per-ip",
            "0",
            "--header-read-timeout",
            "3s",
            "--max-event-streams",
            "5",
        ])
        .unwrap()
        .server_config(loopback(), &[])
        .unwrap();
        assert_eq!(config.data_dir, PathBuf::from("/tmp/d"));
        assert!(!config.ui);
        assert_eq!(config.http.connections.per_ip, 0);
        assert_eq!(
            config.http.connections.header_read_timeout,
            Duration::from_secs(3)
        );
        assert_eq!(config.http.max_event_streams, 5);
        assert_eq!(config.cluster.node_id, 1);
        assert!(config.cluster.peers.is_empty());
    }
}

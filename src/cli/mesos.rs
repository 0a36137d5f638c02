//! Flags of the scheduler's Mesos side: the masters, the framework's
//! registration and how executors are launched, checked and turned into
//! [`SchedulerConfig`], [`FrameworkSettings`] and [`LaunchSettings`].

use std::path::PathBuf;
use std::time::Duration;

use super::{UsageError, usage};
use crate::events::{ExecutorCommand, ExecutorSettings};
use crate::mesos::scheduler::SchedulerConfig;
use crate::scheduler::constraints::Constraint;
use crate::scheduler::launch::{MIN_CPUS, MIN_MEM_MIB};
use crate::scheduler::settings::{FrameworkSettings, LaunchSettings};

#[derive(Debug, clap::Args)]
pub struct MesosArgs {
    /// Mesos master URLs, comma separated (e.g. https://m1:5050,https://m2:5050); a
    /// non-leading master redirects to the leader. Use https:// with --mesos-principal,
    /// or the secret travels in clear text.
    #[arg(long, value_name = "URLS", env = "LOGSTASH_MESOS_MASTER")]
    pub master: String,

    /// PEM file of the CA(s) that sign the https:// masters' certificates (a private CA);
    /// only these are trusted then. Without it, the system's CA store is used.
    #[arg(long, value_name = "PATH", env = "LOGSTASH_MESOS_MESOS_CA_FILE")]
    pub mesos_ca_file: Option<PathBuf>,

    /// Principal for HTTP Basic authentication with the master, and the framework's principal.
    #[arg(long, env = "LOGSTASH_MESOS_MESOS_PRINCIPAL")]
    pub mesos_principal: Option<String>,

    /// File holding the secret for --mesos-principal (keeps it out of the process list).
    #[arg(long, value_name = "PATH", env = "LOGSTASH_MESOS_MESOS_SECRET_FILE")]
    pub mesos_secret_file: Option<PathBuf>,

    /// Framework name shown by Mesos.
    #[arg(
        long,
        default_value = "logstash",
        env = "LOGSTASH_MESOS_FRAMEWORK_NAME"
    )]
    pub framework_name: String,

    /// Mesos role the framework subscribes as; offers reserved for it are used.
    #[arg(long, default_value = "*", env = "LOGSTASH_MESOS_ROLE")]
    pub role: String,

    /// Unix user the executors run as on the agents (needs access to the Docker socket).
    #[arg(long, default_value = "root", env = "LOGSTASH_MESOS_MESOS_USER")]
    pub mesos_user: String,

    /// How long Mesos keeps the executors running while no scheduler is connected
    /// (e.g. `1week`, `2days`, `12h`); after that it tears the framework down.
    #[arg(long, default_value = "1week", value_parser = humantime::parse_duration, env = "LOGSTASH_MESOS_FAILOVER_TIMEOUT")]
    pub failover_timeout: Duration,

    /// URL of this scheduler's GUI, linked from the Mesos UI (default: http://<hostname>:<port>/).
    #[arg(long, env = "LOGSTASH_MESOS_WEBUI_URL")]
    pub webui_url: Option<String>,

    /// Path of the logstash-mesos binary on the agents, run as `<path> executor`
    /// (default: this binary's own path), or its name in the sandbox with --executor-uri.
    #[arg(long, value_name = "PATH", env = "LOGSTASH_MESOS_EXECUTOR_BINARY")]
    pub executor_binary: Option<String>,

    /// URI the Mesos fetcher downloads the executor binary from into the sandbox.
    #[arg(
        long,
        value_name = "URI",
        env = "LOGSTASH_MESOS_EXECUTOR_URI",
        conflicts_with = "executor_image"
    )]
    pub executor_uri: Option<String>,

    /// Run the executor from this Docker image instead (the Docker socket is mounted into it).
    #[arg(
        long,
        value_name = "IMAGE",
        env = "LOGSTASH_MESOS_EXECUTOR_IMAGE",
        conflicts_with = "executor_binary"
    )]
    pub executor_image: Option<String>,

    /// CPUs per executor, including Logstash (at least 0.1).
    #[arg(long, default_value = "0.2", env = "LOGSTASH_MESOS_EXECUTOR_CPUS")]
    pub executor_cpus: f64,

    /// Memory per executor in MiB, at least 64 (include the Logstash heap when Logstash
    /// runs on the agents).
    #[arg(long, default_value = "256", env = "LOGSTASH_MESOS_EXECUTOR_MEM")]
    pub executor_mem: u32,

    /// Disk per executor in MiB, for the spool (0: none requested).
    #[arg(long, default_value = "0", env = "LOGSTASH_MESOS_EXECUTOR_DISK")]
    pub executor_disk: u32,

    /// Logstash heap in MiB, passed to the executors.
    #[arg(long, default_value = "512", env = "LOGSTASH_MESOS_LOGSTASH_HEAP")]
    pub logstash_heap: u32,

    /// Placement constraint on agents, repeatable: `hostname:LIKE:<regex>`,
    /// `<attribute>:<value>`, `<field>:UNLIKE:<regex>`, `<field>:CLUSTER:<value>`.
    #[arg(
        long = "constraint",
        value_name = "CONSTRAINT",
        env = "LOGSTASH_MESOS_CONSTRAINT",
        value_delimiter = ';'
    )]
    pub constraints: Vec<String>,

    /// Docker socket on the agents, mounted into the executor image.
    #[arg(
        long,
        default_value = "/var/run/docker.sock",
        env = "LOGSTASH_MESOS_DOCKER_SOCKET"
    )]
    pub docker_socket: String,

    /// URI of an offline Logstash plugin pack (`logstash-plugin prepare-offline-pack`)
    /// the Mesos fetcher downloads into each executor's sandbox; the executor installs
    /// the plugins from it instead of the network.
    #[arg(long, value_name = "URI", env = "LOGSTASH_MESOS_LOGSTASH_PLUGIN_PACK")]
    pub logstash_plugin_pack: Option<String>,

    /// Extra environment for the executors, `NAME=VALUE`, repeatable (e.g. RUST_LOG=debug).
    #[arg(
        long = "executor-env",
        value_name = "NAME=VALUE",
        env = "LOGSTASH_MESOS_EXECUTOR_ENV",
        value_delimiter = ';'
    )]
    pub executor_env: Vec<String>,
}

impl MesosArgs {
    /// How the scheduler reaches the masters; reads the secret file.
    pub fn scheduler_config(&self) -> Result<SchedulerConfig, UsageError> {
        let mut mesos = SchedulerConfig::from_master_list(&self.master)
            .map_err(|e| UsageError::new("--master", e))?;
        if let Some(path) = &self.mesos_ca_file {
            mesos = mesos.with_ca_file(path);
        }
        if let Some(principal) = &self.mesos_principal {
            let secret = match &self.mesos_secret_file {
                Some(path) => match std::fs::read_to_string(path) {
                    Ok(text) => text.trim_end().to_owned(),
                    Err(e) => {
                        return usage(
                            "--mesos-secret-file",
                            format!("cannot read {}: {e}", path.display()),
                        );
                    }
                },
                None => return usage("--mesos-principal", "needs --mesos-secret-file"),
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

    /// How the framework registers: `hostname` is this machine's, `port`
    /// the API's (for the default GUI link).
    pub fn framework(&self, hostname: &str, port: u16) -> FrameworkSettings {
        FrameworkSettings {
            name: self.framework_name.clone(),
            role: self.role.clone(),
            user: self.mesos_user.clone(),
            principal: self.mesos_principal.clone(),
            failover_timeout: self.failover_timeout,
            webui_url: Some(
                self.webui_url
                    .clone()
                    .unwrap_or_else(|| format!("http://{hostname}:{port}/")),
            ),
            hostname: Some(hostname.to_owned()),
        }
    }

    /// How executors are launched; `this_binary` is the default executor
    /// path (none known: --executor-binary is needed).
    pub fn launch(&self, this_binary: Option<String>) -> Result<LaunchSettings, UsageError> {
        if !(self.executor_cpus.is_finite() && self.executor_cpus >= MIN_CPUS) {
            return usage(
                "--executor-cpus",
                format!(
                    "{} is below the minimum {MIN_CPUS} (the executor process alone takes half of it)",
                    self.executor_cpus
                ),
            );
        }
        if f64::from(self.executor_mem) < MIN_MEM_MIB {
            return usage(
                "--executor-mem",
                format!(
                    "{} MiB is below the minimum {MIN_MEM_MIB} MiB (the executor process alone takes half of it)",
                    self.executor_mem
                ),
            );
        }
        let constraints = self
            .constraints
            .iter()
            .filter(|c| !c.trim().is_empty())
            .map(|c| c.parse::<Constraint>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| UsageError::new("--constraint", e))?;
        let mut environment = vec![(
            "LOGSTASH_MESOS_LOGSTASH_HEAP".to_owned(),
            self.logstash_heap.to_string(),
        )];
        for pair in self.executor_env.iter().filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some((name, value)) if !name.is_empty() => {
                    environment.push((name.to_owned(), value.to_owned()))
                }
                _ => return usage("--executor-env", format!("{pair:?} must be NAME=VALUE")),
            }
        }
        Ok(LaunchSettings {
            executor: ExecutorSettings {
                cpus_milli: (self.executor_cpus * 1000.0).round() as u32,
                mem_mib: self.executor_mem,
                disk_mib: self.executor_disk,
                logstash_heap_mib: self.logstash_heap,
                command: self.command(this_binary)?,
            },
            constraints,
            docker_socket: self.docker_socket.clone(),
            environment,
            plugin_pack: self.logstash_plugin_pack.clone(),
        })
    }

    fn command(&self, this_binary: Option<String>) -> Result<ExecutorCommand, UsageError> {
        Ok(match (&self.executor_image, &self.executor_uri) {
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
                path: match self.executor_binary.clone().or(this_binary) {
                    Some(path) => path,
                    None => {
                        return usage(
                            "--executor-binary",
                            "this binary's path is unknown; name the executor's path",
                        );
                    }
                },
                uri: None,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        mesos: MesosArgs,
    }

    fn args(flags: &[&str]) -> MesosArgs {
        Cli::try_parse_from(
            ["x", "--master", "http://m:5050"]
                .into_iter()
                .chain(flags.iter().copied()),
        )
        .unwrap()
        .mesos
    }

    fn refused(flags: &[&str]) -> UsageError {
        args(flags)
            .launch(Some("/usr/bin/lm".into()))
            .expect_err("refused")
    }

    #[test]
    fn resources_below_the_executors_minimum_are_refused_at_start() {
        for (flags, flag) in [
            (["--executor-cpus", "0.01"], "--executor-cpus"),
            (["--executor-cpus", "0.099"], "--executor-cpus"),
            (["--executor-cpus", "NaN"], "--executor-cpus"),
            (
                ["--executor-cpus=-1", "--executor-disk=0"],
                "--executor-cpus",
            ),
            (["--executor-mem", "63"], "--executor-mem"),
        ] {
            let e = refused(&flags);
            assert_eq!(e.flag, flag, "{flags:?}");
            assert!(e.problem.contains("minimum"), "{e}");
        }
        let at_minimum = args(&["--executor-cpus", "0.1", "--executor-mem", "64"])
            .launch(Some("/usr/bin/lm".into()))
            .unwrap();
        assert_eq!(at_minimum.executor.cpus_milli, 100);
        assert_eq!(at_minimum.executor.mem_mib, 64);
    }

    #[test]
    fn constraints_and_environment_are_parsed_or_refused() {
        let launch = args(&[
            "--constraint",
            "hostname:LIKE:web.*;;rack:a",
            "--executor-env",
            "RUST_LOG=debug;A=b=c",
            "--logstash-heap",
            "300",
        ])
        .launch(Some("/usr/bin/lm".into()))
        .unwrap();
        assert_eq!(launch.constraints.len(), 2);
        assert_eq!(
            launch.environment,
            [
                ("LOGSTASH_MESOS_LOGSTASH_HEAP".to_owned(), "300".to_owned()),
                ("RUST_LOG".to_owned(), "debug".to_owned()),
                ("A".to_owned(), "b=c".to_owned()),
            ]
        );
        assert_eq!(refused(&["--constraint", "nonsense"]).flag, "--constraint");
        assert_eq!(refused(&["--executor-env", "=x"]).flag, "--executor-env");
        assert_eq!(
            refused(&["--executor-env", "NOVALUE"]).flag,
            "--executor-env"
        );
    }

    #[test]
    fn the_executor_command_follows_binary_uri_and_image() {
        let command = |flags: &[&str], this: Option<&str>| {
            args(flags)
                .launch(this.map(str::to_owned))
                .map(|l| l.executor.command)
        };
        assert_eq!(
            command(&[], Some("/opt/lm")).unwrap(),
            ExecutorCommand::Binary {
                path: "/opt/lm".into(),
                uri: None
            }
        );
        assert_eq!(
            command(&["--executor-uri", "http://h/dl/lm-1.2"], None).unwrap(),
            ExecutorCommand::Binary {
                path: "./lm-1.2".into(),
                uri: Some("http://h/dl/lm-1.2".into())
            }
        );
        assert_eq!(
            command(&["--executor-image", "lm:1"], None).unwrap(),
            ExecutorCommand::Image {
                image: "lm:1".into()
            }
        );
        assert_eq!(command(&[], None).unwrap_err().flag, "--executor-binary");
    }

    #[test]
    fn masters_and_credentials_are_checked() {
        let bad = Cli::try_parse_from(["x", "--master", ""]).unwrap().mesos;
        assert_eq!(bad.scheduler_config().unwrap_err().flag, "--master");
        let e = args(&["--mesos-principal", "fw"])
            .scheduler_config()
            .unwrap_err();
        assert_eq!(e.flag, "--mesos-principal");
        let e = args(&[
            "--mesos-principal",
            "fw",
            "--mesos-secret-file",
            "/nonexistent",
        ])
        .scheduler_config()
        .unwrap_err();
        assert_eq!(e.flag, "--mesos-secret-file");
    }

    #[test]
    fn the_framework_links_to_this_gui_unless_told_otherwise() {
        let framework = args(&["--framework-name", "logs"]).framework("sched1", 9092);
        assert_eq!(framework.name, "logs");
        assert_eq!(framework.webui_url.as_deref(), Some("http://sched1:9092/"));
        assert_eq!(framework.hostname.as_deref(), Some("sched1"));
        let framework = args(&["--webui-url", "https://logs.example/"]).framework("h", 1);
        assert_eq!(
            framework.webui_url.as_deref(),
            Some("https://logs.example/")
        );
    }
}

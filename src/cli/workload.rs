//! Flags of what an executor does on its agent (the `executor` subcommand,
//! the in-process executor of `local`, and the streams-only
//! `executor-streams`), turned into [`WorkloadSettings`].

use std::path::PathBuf;
use std::time::Duration;

use super::{UsageError, usage};
use crate::executor::discovery::DiscoverySettings;
use crate::executor::logstash::LogstashSettings;
use crate::executor::matching::RequiredLabel;
use crate::executor::standalone;
use crate::executor::state_root;
use crate::executor::stream::{ReaderChoice, StartPosition, StreamSettings};
use crate::executor::workload::WorkloadSettings;

#[derive(Debug, clap::Args)]
pub struct WorkloadArgs {
    /// Executor state kept across executor restarts: checkpoints, sincedbs, Logstash data
    /// (default: <state-root>/<framework id>/<agent id>; `local`: <data-dir>/executor).
    #[arg(long, value_name = "DIR", env = "LOGSTASH_MESOS_STATE_DIR")]
    pub state_dir: Option<PathBuf>,

    /// Where executors keep their state directories, one per framework and agent.
    /// When the state directory is <state-root>/<framework>/<agent>, the executor
    /// locks it while it runs and removes the other directories there whose
    /// executor is gone and that have not changed for --state-retention (torn-down
    /// frameworks, old agent ids).
    #[arg(
        long,
        value_name = "DIR",
        default_value = "/var/lib/logstash-mesos",
        env = "LOGSTASH_MESOS_STATE_ROOT"
    )]
    pub state_root: PathBuf,

    /// Spool directory (default: <state-dir>/spool, so unread lines survive a new
    /// executor sandbox; `$MESOS_SANDBOX/spool` keeps them with the sandbox instead).
    #[arg(long, value_name = "DIR", env = "LOGSTASH_MESOS_SPOOL_DIR")]
    pub spool_dir: Option<PathBuf>,

    /// Size at which a spool file is rotated into a numbered segment (e.g. 10MiB).
    #[arg(long, default_value = "10MiB", value_parser = parse_size, env = "LOGSTASH_MESOS_SPOOL_FILE_SIZE")]
    pub spool_file_size: u64,

    /// Disk budget of the whole spool; the oldest rotated segments are deleted over
    /// it and every unread byte deleted is counted as dropped (e.g. 512MiB).
    #[arg(long, default_value = "512MiB", value_parser = parse_size, env = "LOGSTASH_MESOS_SPOOL_BUDGET")]
    pub spool_budget: u64,

    /// Where a file of a newly seen container starts.
    #[arg(
        long,
        value_enum,
        default_value = "beginning",
        env = "LOGSTASH_MESOS_START_POSITION"
    )]
    pub start_position: StartPosition,

    /// How streams read container files: `direct` through /proc/<pid>/root
    /// (needs the host PID namespace and root), `exec` with `sh` and `tail -F`
    /// in the container, `auto` direct where it works, else exec.
    #[arg(
        long,
        value_enum,
        default_value = "auto",
        env = "LOGSTASH_MESOS_READER"
    )]
    pub reader: ReaderChoice,

    /// How long the state (checkpoint, sincedb, spool) of a container that is
    /// gone is kept before it is removed (`0s`: forever).
    #[arg(long, default_value = "24h", value_parser = humantime::parse_duration, env = "LOGSTASH_MESOS_STATE_RETENTION")]
    pub state_retention: Duration,

    /// Opt-in mode: only containers carrying this label (KEY=VALUE) are touched.
    #[arg(long, value_name = "KEY=VALUE", env = "LOGSTASH_MESOS_REQUIRE_LABEL")]
    pub require_label: Option<String>,

    /// The Logstash program (a path, or a name on PATH); without it the executor
    /// still discovers and spools, and says so.
    #[arg(long, default_value = "logstash", env = "LOGSTASH_MESOS_LOGSTASH_BIN")]
    pub logstash_bin: String,

    /// Logstash heap in MiB (0: Logstash's own default).
    #[arg(long, default_value = "512", env = "LOGSTASH_MESOS_LOGSTASH_HEAP")]
    pub logstash_heap: u32,

    /// Where the agent's root file system is visible to Logstash (host-level configs).
    #[arg(long, default_value = "/", env = "LOGSTASH_MESOS_HOST_ROOT")]
    pub host_root: String,

    /// Logstash plugins the executor installs with `logstash-plugin install` before
    /// starting Logstash, as gem names (the scheduler passes its --logstash-plugins).
    #[arg(
        long,
        value_name = "GEMS",
        value_delimiter = ',',
        env = "LOGSTASH_MESOS_INSTALL_PLUGINS"
    )]
    pub install_plugins: Vec<crate::logstash::catalog::ExtraPlugin>,

    /// An offline Logstash plugin pack (a file, relative to the sandbox) to install
    /// the plugins from (the scheduler's --logstash-plugin-pack, fetched by Mesos).
    #[arg(long, value_name = "FILE", env = "LOGSTASH_MESOS_PLUGIN_PACK")]
    pub plugin_pack: Option<PathBuf>,

    /// Container labels copied onto every event as `container.labels.<name>` (comma-separated).
    #[arg(
        long,
        value_name = "NAME,...",
        value_delimiter = ',',
        env = "LOGSTASH_MESOS_CONTAINER_LABELS"
    )]
    pub container_labels: Vec<String>,

    /// How long the old file must be quiet after a rotation before it is let go.
    #[arg(long, hide = true, default_value = "2500ms", value_parser = super::common::positive_duration)]
    pub rotate_quiet: Duration,

    /// How often the spool is fsynced and offsets checkpointed.
    #[arg(long, hide = true, default_value = "1s", value_parser = super::common::positive_duration)]
    pub flush_every: Duration,

    /// Period of the full container re-list.
    #[arg(long, hide = true, default_value = "30s", value_parser = super::common::positive_duration)]
    pub relist_every: Duration,
}

/// The streams alone, driven by a config-set file instead of a scheduler.
#[derive(Debug, clap::Args)]
pub struct ExecutorStreamsArgs {
    /// A JSON config set (`{"version": N, "configs": [{"name", "kind", "input"}]}`); re-read on change.
    #[arg(long)]
    pub configs: PathBuf,

    /// Write the stream reports here as JSON.
    #[arg(long)]
    pub report: Option<PathBuf>,

    #[command(flatten)]
    pub workload: WorkloadArgs,
}

impl WorkloadArgs {
    /// `default_state`: the state directory when --state-dir is not given.
    pub fn settings(&self, default_state: PathBuf) -> Result<WorkloadSettings, UsageError> {
        let state_dir = self.state_dir.clone().unwrap_or(default_state);
        Ok(WorkloadSettings {
            streams: self.streams(&state_dir),
            discovery: self.discovery(),
            require_label: self.require_label()?,
            logstash: LogstashSettings {
                bin: self.logstash_bin.clone(),
                heap_mib: self.logstash_heap,
                dir: state_dir.join("logstash"),
                reload_interval: Duration::from_secs(3),
                plugins: self.install_plugins.clone(),
                plugin_pack: self.plugin_pack.clone(),
            },
            host_root: self.host_root.clone(),
            agent: crate::executor::pipeline::AgentInfo {
                host_name: crate::executor::pipeline::host_name(),
                agent_id: String::new(),
                framework_id: String::new(),
                container_labels: self
                    .container_labels
                    .iter()
                    .map(|l| l.trim().to_owned())
                    .filter(|l| !l.is_empty())
                    .collect(),
            },
        })
    }

    fn streams(&self, state_dir: &std::path::Path) -> StreamSettings {
        let spool_dir = self
            .spool_dir
            .clone()
            .unwrap_or_else(|| state_dir.join("spool"));
        let mut streams = StreamSettings::new(spool_dir, state_dir.to_owned());
        streams.segment_size = self.spool_file_size;
        streams.budget = self.spool_budget;
        streams.start_position = self.start_position;
        streams.rotate_quiet = self.rotate_quiet;
        streams.flush_every = self.flush_every;
        streams.reader = self.reader;
        streams.state_retention = (!self.state_retention.is_zero()).then_some(self.state_retention);
        streams.state_root = state_root::root_of(state_dir, &self.state_root);
        streams
    }

    fn discovery(&self) -> DiscoverySettings {
        DiscoverySettings {
            relist_every: self.relist_every,
            ..DiscoverySettings::default()
        }
    }

    fn require_label(&self) -> Result<Option<RequiredLabel>, UsageError> {
        self.require_label
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|e| UsageError::new("--require-label", e))
    }
}

impl ExecutorStreamsArgs {
    pub fn options(&self) -> Result<standalone::Options, UsageError> {
        let Some(state_dir) = &self.workload.state_dir else {
            return usage("--state-dir", "executor-streams needs a state directory");
        };
        Ok(standalone::Options {
            configs: self.configs.clone(),
            require_label: self.workload.require_label()?,
            streams: self.workload.streams(state_dir),
            discovery: self.workload.discovery(),
            report: self.report.clone(),
            grace: Duration::from_secs(10),
        })
    }
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
    match number.checked_mul(factor) {
        Some(0) => Err("must be larger than zero".into()),
        Some(size) => Ok(size),
        None => Err(format!("{s:?} is too large")),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        streams: ExecutorStreamsArgs,
    }

    fn parse(flags: &[&str]) -> Result<ExecutorStreamsArgs, clap::Error> {
        Cli::try_parse_from(
            ["x", "--configs", "/c.json"]
                .into_iter()
                .chain(flags.iter().copied()),
        )
        .map(|c| c.streams)
    }

    #[test]
    fn sizes_take_units_and_refuse_nonsense() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64KiB"), Ok(64 << 10));
        assert_eq!(parse_size("10MiB"), Ok(10 << 20));
        assert_eq!(parse_size(" 2G "), Ok(2 << 30));
        for bad in [
            "",
            "MiB",
            "10 TB",
            "-1",
            "0",
            "0MiB",
            "99999999999999999999GiB",
        ] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
        let e = parse(&["--spool-budget", "lots"]).unwrap_err();
        assert!(e.to_string().contains("--spool-budget"), "{e}");
    }

    #[test]
    fn the_state_dir_defaults_and_the_spool_follows_it() {
        let args = parse(&["--spool-file-size", "1MiB", "--start-position", "end"]).unwrap();
        let settings = args.workload.settings(PathBuf::from("/var/lib/x")).unwrap();
        assert_eq!(
            settings.streams.spool_dir,
            PathBuf::from("/var/lib/x/spool")
        );
        assert_eq!(settings.streams.segment_size, 1 << 20);
        assert_eq!(settings.streams.start_position, StartPosition::End);
        assert_eq!(settings.logstash.dir, PathBuf::from("/var/lib/x/logstash"));
        let args = parse(&["--state-dir", "/s", "--spool-dir", "/sp"]).unwrap();
        let settings = args.workload.settings(PathBuf::from("/unused")).unwrap();
        assert_eq!(settings.streams.spool_dir, PathBuf::from("/sp"));
        assert_eq!(settings.logstash.dir, PathBuf::from("/s/logstash"));
    }

    #[test]
    fn state_directories_in_the_state_root_layout_are_locked_and_swept() {
        let default = PathBuf::from("/var/lib/logstash-mesos/fw-1/agent-1");
        let settings = parse(&[]).unwrap().workload.settings(default).unwrap();
        assert_eq!(
            settings.streams.state_root,
            Some(PathBuf::from("/var/lib/logstash-mesos"))
        );
        let args = parse(&["--state-root", "/srv/lm", "--state-dir", "/srv/lm/fw/a"]).unwrap();
        let settings = args.workload.settings(PathBuf::from("/unused")).unwrap();
        assert_eq!(settings.streams.state_root, Some(PathBuf::from("/srv/lm")));
        let args = parse(&["--state-dir", "/data/executor"]).unwrap();
        let settings = args.workload.settings(PathBuf::from("/unused")).unwrap();
        assert_eq!(
            settings.streams.state_root, None,
            "another layout: no sweep"
        );
    }

    #[test]
    fn the_streams_only_mode_needs_a_state_dir_and_takes_the_same_flags() {
        assert_eq!(
            parse(&[]).unwrap().options().unwrap_err().flag,
            "--state-dir"
        );
        let options = parse(&[
            "--state-dir",
            "/s",
            "--spool-file-size",
            "65536",
            "--rotate-quiet",
            "300ms",
            "--relist-every",
            "2s",
            "--report",
            "/r.json",
        ])
        .unwrap()
        .options()
        .unwrap();
        assert_eq!(options.streams.segment_size, 65536);
        assert_eq!(options.streams.spool_dir, PathBuf::from("/s/spool"));
        assert_eq!(options.streams.rotate_quiet, Duration::from_millis(300));
        assert_eq!(options.discovery.relist_every, Duration::from_secs(2));
        assert_eq!(options.report, Some(PathBuf::from("/r.json")));
        assert_eq!(options.streams.reader, ReaderChoice::Auto);
        assert_eq!(
            options.streams.state_retention,
            Some(Duration::from_secs(24 * 3600))
        );
        let options = parse(&[
            "--state-dir",
            "/s",
            "--reader",
            "exec",
            "--state-retention",
            "0s",
        ])
        .unwrap()
        .options()
        .unwrap();
        assert_eq!(options.streams.reader, ReaderChoice::Exec);
        assert_eq!(options.streams.state_retention, None);
    }

    #[test]
    fn a_malformed_required_label_names_its_flag() {
        let args = parse(&["--state-dir", "/s", "--require-label", "=v"]).unwrap();
        assert_eq!(args.options().unwrap_err().flag, "--require-label");
        let args = parse(&["--require-label", "team=logs"]).unwrap();
        assert!(
            args.workload
                .settings(PathBuf::from("/s"))
                .unwrap()
                .require_label
                .is_some()
        );
    }
}

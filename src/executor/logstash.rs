//! Supervising the agent's Logstash: the executor writes the rendered pipeline
//! atomically, starts Logstash with automatic config reload (so a config change
//! does not restart it), restarts it with backoff when it dies, captures its
//! output into the executor's log, and tells its health.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::events::messages::LogstashHealth;

/// Lines Logstash prints once its pipelines run (7.x and 8.x).
const READY_MARKERS: &[&str] = &[
    "Pipelines running",
    "Successfully started Logstash API endpoint",
];
const RESTART_BACKOFF_MAX: Duration = Duration::from_secs(60);
/// A Logstash that ran this long resets the restart backoff.
const HEALTHY_RUN: Duration = Duration::from_secs(300);
/// How often a missing Logstash is looked for again.
const LOOK_AGAIN: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct LogstashSettings {
    /// The `logstash` program: a path, or a name looked up on PATH.
    pub bin: String,
    /// Heap in MiB (`LS_JAVA_OPTS=-Xms -Xmx`); 0 keeps Logstash's default.
    pub heap_mib: u32,
    /// Holds `pipeline.conf`, Logstash's `data/` and `logs/`.
    pub dir: PathBuf,
    /// How often Logstash re-reads the pipeline.
    pub reload_interval: Duration,
}

struct Shared {
    health: Mutex<(LogstashHealth, Option<String>)>,
    written: Notify,
    changed: Notify,
}

/// A running supervisor; cheap to query from the executor's loop.
pub struct Supervisor {
    shared: Arc<Shared>,
    pipeline: PathBuf,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Supervisor {
    pub fn start(settings: LogstashSettings, cancel: &CancellationToken) -> Supervisor {
        let shared = Arc::new(Shared {
            health: Mutex::new((LogstashHealth::Starting, None)),
            written: Notify::new(),
            changed: Notify::new(),
        });
        let pipeline = settings.dir.join("pipeline.conf");
        let stop = cancel.child_token();
        let task = tokio::spawn(supervise(settings, shared.clone(), stop.clone()));
        Supervisor {
            shared,
            pipeline,
            stop,
            task,
        }
    }

    pub fn pipeline_path(&self) -> &Path {
        &self.pipeline
    }

    /// Writes the pipeline atomically (Logstash never reads half a file);
    /// returns whether it changed.
    pub fn write_pipeline(&self, text: &str) -> std::io::Result<bool> {
        if std::fs::read_to_string(&self.pipeline).is_ok_and(|old| old == text) {
            return Ok(false);
        }
        if let Some(dir) = self.pipeline.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = self.pipeline.with_extension("conf.tmp");
        {
            use std::io::Write;
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
        }
        std::fs::rename(&tmp, &self.pipeline)?;
        self.shared.written.notify_one();
        Ok(true)
    }

    pub fn health(&self) -> (LogstashHealth, Option<String>) {
        self.shared
            .health
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Waits until Logstash runs, is known to be absent, or `timeout` passes.
    pub async fn wait_settled(&self, timeout: Duration) -> LogstashHealth {
        let deadline = Instant::now() + timeout;
        loop {
            let (health, _) = self.health();
            if matches!(
                health,
                LogstashHealth::Running | LogstashHealth::NotInstalled
            ) {
                return health;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return health;
            }
            let _ = tokio::time::timeout(
                left.min(Duration::from_millis(500)),
                self.shared.changed.notified(),
            )
            .await;
        }
    }

    /// Stops Logstash: SIGTERM, then SIGKILL after `grace`.
    pub async fn stop(self, grace: Duration) {
        self.stop.cancel();
        if tokio::time::timeout(grace + Duration::from_secs(1), self.task)
            .await
            .is_err()
        {
            tracing::warn!("the Logstash supervisor did not stop in time");
        }
    }
}

fn set(shared: &Shared, health: LogstashHealth, message: Option<String>) {
    *shared.health.lock().unwrap_or_else(|e| e.into_inner()) = (health, message);
    shared.changed.notify_waiters();
}

/// The program to run, if it exists.
pub fn resolve(bin: &str) -> Option<PathBuf> {
    let executable = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if bin.contains('/') {
        let p = PathBuf::from(bin);
        return executable(&p).then_some(p);
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(bin))
        .find(|p| executable(p))
}

async fn supervise(settings: LogstashSettings, shared: Arc<Shared>, stop: CancellationToken) {
    let pipeline = settings.dir.join("pipeline.conf");
    let mut retries = Backoff::new(Duration::from_secs(1), RESTART_BACKOFF_MAX)
        .without_jitter()
        .retries();
    loop {
        let Some(program) = resolve(&settings.bin) else {
            set(
                &shared,
                LogstashHealth::NotInstalled,
                Some(format!(
                    "{} not found: streaming into the spool only",
                    settings.bin
                )),
            );
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(LOOK_AGAIN) => continue,
            }
        };
        while !pipeline.exists() {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = shared.written.notified() => {}
            }
        }
        set(&shared, LogstashHealth::Starting, None);
        let started = Instant::now();
        let outcome = run_once(&program, &settings, &pipeline, &shared, &stop).await;
        if stop.is_cancelled() {
            set(
                &shared,
                LogstashHealth::NotInstalled,
                Some("stopped".into()),
            );
            return;
        }
        if started.elapsed() >= HEALTHY_RUN {
            retries.reset();
        }
        let backoff = retries.next_delay();
        tracing::warn!(outcome = %outcome, ?backoff, "Logstash stopped; restarting");
        set(&shared, LogstashHealth::Restarting, Some(outcome));
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
    }
}

/// Runs Logstash until it exits or `stop`; returns how it ended.
async fn run_once(
    program: &Path,
    settings: &LogstashSettings,
    pipeline: &Path,
    shared: &Arc<Shared>,
    stop: &CancellationToken,
) -> String {
    let mut command = Command::new(program);
    command
        .arg("--path.config")
        .arg(pipeline)
        .arg("--config.reload.automatic")
        .arg("--config.reload.interval")
        .arg(format!("{}s", settings.reload_interval.as_secs().max(1)))
        .arg("--path.data")
        .arg(settings.dir.join("data"))
        .arg("--path.logs")
        .arg(settings.dir.join("logs"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    if settings.heap_mib > 0 {
        command.env(
            "LS_JAVA_OPTS",
            format!("-Xms{0}m -Xmx{0}m", settings.heap_mib),
        );
    }
    let pid_file = settings.dir.join("logstash.pid");
    stop_stale(&pid_file, pipeline).await;
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => return format!("cannot start {}: {e}", program.display()),
    };
    tracing::info!(pid = ?child.id(), program = %program.display(), "Logstash started");
    if let Some(pid) = child.id()
        && let Err(e) = std::fs::write(&pid_file, pid.to_string())
    {
        tracing::warn!(error = %e, "cannot record Logstash's PID");
    }
    let out = child.stdout.take().map(|s| capture(s, shared.clone()));
    let err = child.stderr.take().map(|s| capture(s, shared.clone()));
    let outcome = tokio::select! {
        status = child.wait() => match status {
            Ok(status) => format!("exited with {status}"),
            Err(e) => format!("cannot wait for it: {e}"),
        },
        _ = stop.cancelled() => {
            if let Some(pid) = child.id() {
                let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status().await;
            }
            match tokio::time::timeout(Duration::from_secs(20), child.wait()).await {
                Ok(_) => "stopped".to_owned(),
                Err(_) => {
                    let _ = child.kill().await;
                    "killed after the grace period".to_owned()
                }
            }
        }
    };
    for task in [out, err].into_iter().flatten() {
        let _ = task.await;
    }
    outcome
}

/// Stops a Logstash left running by an executor that was killed (SIGKILL
/// gives it no chance to stop its child): two Logstash on one sincedb would
/// ship lines twice. Only a process whose command line names our pipeline.
async fn stop_stale(pid_file: &Path, pipeline: &Path) {
    let Some(pid) = std::fs::read_to_string(pid_file)
        .ok()
        .and_then(|p| p.trim().parse::<u32>().ok())
    else {
        return;
    };
    let ours = std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| {
        let needle = pipeline.as_os_str().as_encoded_bytes();
        cmdline.windows(needle.len()).any(|w| w == needle)
    });
    if !ours {
        return;
    }
    tracing::warn!(pid, "stopping a Logstash left by an earlier executor");
    for signal in ["-TERM", "-KILL"] {
        let _ = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .await;
        for _ in 0..50 {
            if !Path::new(&format!("/proc/{pid}")).exists() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Logstash's output goes to the executor's log; the ready line sets Running.
fn capture(
    stream: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    shared: Arc<Shared>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            tracing::info!(target: "logstash", "{line}");
            if READY_MARKERS.iter().any(|m| line.contains(m)) {
                set(&shared, LogstashHealth::Running, None);
            }
        }
    })
}

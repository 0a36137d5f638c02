//! Supervising the agent's Logstash: the executor writes one pipeline file per
//! config and `pipelines.yml` atomically, starts Logstash with automatic config
//! reload (so a config change reloads only the pipelines whose file changed,
//! without a restart), restarts it with backoff when it dies, captures its
//! output into the executor's log, and tells its health.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::events::messages::LogstashHealth;

use super::monitoring::{Observed, api_port, observed};
use super::pipeline::{PipelineFile, pipelines_yml};
use crate::logstash::catalog::ExtraPlugin;

/// Lines Logstash prints once its pipelines run (7.x and 8.x).
const READY_MARKERS: &[&str] = &["Pipelines running", super::monitoring::API_STARTED];
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
    /// Holds `settings/` (`logstash.yml`, `pipelines.yml`), `pipelines/`,
    /// Logstash's `data/` and `logs/`.
    pub dir: PathBuf,
    /// How often Logstash re-reads the pipeline.
    pub reload_interval: Duration,
    /// Plugins to install with `logstash-plugin install` before Logstash starts.
    pub plugins: Vec<ExtraPlugin>,
    /// An offline plugin pack (fetched into the sandbox) to install from instead
    /// of the network.
    pub plugin_pack: Option<PathBuf>,
}

/// How long one `logstash-plugin install` may take.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(600);

/// How often the monitoring API is read, and how long one read may take.
const POLL_EVERY: Duration = Duration::from_secs(5);
const POLL_TIMEOUT: Duration = Duration::from_secs(3);

struct Shared {
    health: Mutex<(LogstashHealth, Option<String>)>,
    /// The monitoring API's port, from Logstash's log; cleared when it stops.
    api_port: Mutex<Option<u16>>,
    /// Why installing the extra plugins failed, if it did.
    install_error: Mutex<Option<String>>,
    /// What the monitoring API last showed; `None` while unreachable.
    observed: Mutex<Option<BTreeMap<String, Observed>>>,
    written: Notify,
    changed: Notify,
}

/// A running supervisor; cheap to query from the executor's loop.
pub struct Supervisor {
    shared: Arc<Shared>,
    layout: Layout,
    reload_interval: Duration,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Supervisor {
    pub fn start(settings: LogstashSettings, cancel: &CancellationToken) -> Supervisor {
        let shared = Arc::new(Shared {
            health: Mutex::new((LogstashHealth::Starting, None)),
            api_port: Mutex::new(None),
            install_error: Mutex::new(None),
            observed: Mutex::new(None),
            written: Notify::new(),
            changed: Notify::new(),
        });
        let layout = Layout::new(&settings.dir);
        let reload_interval = settings.reload_interval;
        let stop = cancel.child_token();
        let task = tokio::spawn(supervise(settings, shared.clone(), stop.clone()));
        tokio::spawn(poll_monitoring(shared.clone(), stop.clone()));
        Supervisor {
            shared,
            layout,
            reload_interval,
            stop,
            task,
        }
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Writes the pipelines: each changed pipeline file, then `pipelines.yml`
    /// and `logstash.yml` if they changed, each atomically (Logstash never
    /// reads half a file), then removes the files of pipelines that are gone.
    /// Unchanged files are not touched, so Logstash reloads only the
    /// pipelines that changed. Returns the ids of the pipelines written.
    pub fn write_pipelines(&self, pipelines: &[PipelineFile]) -> std::io::Result<Vec<String>> {
        let layout = &self.layout;
        std::fs::create_dir_all(&layout.pipelines)?;
        std::fs::create_dir_all(&layout.settings)?;
        let mut written = Vec::new();
        for p in pipelines {
            if write_if_changed(&layout.pipelines.join(format!("{}.conf", p.id)), &p.text)? {
                written.push(p.id.clone());
            }
        }
        write_if_changed(
            &layout.settings.join("logstash.yml"),
            &logstash_yml(self.reload_interval),
        )?;
        let listed = write_if_changed(
            &layout.pipelines_yml(),
            &pipelines_yml(pipelines, &layout.pipelines),
        )?;
        let keep: std::collections::BTreeSet<String> =
            pipelines.iter().map(|p| format!("{}.conf", p.id)).collect();
        for entry in std::fs::read_dir(&layout.pipelines)?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".conf") && !keep.contains(&name) {
                std::fs::remove_file(entry.path())?;
            }
        }
        if listed || !written.is_empty() {
            self.shared.written.notify_one();
        }
        Ok(written)
    }

    /// Why installing the extra plugins failed, if it did.
    pub fn install_error(&self) -> Option<String> {
        lock(&self.shared.install_error).clone()
    }

    /// What Logstash's monitoring API last showed, by pipeline id.
    pub fn observed(&self) -> Option<BTreeMap<String, Observed>> {
        lock(&self.shared.observed).clone()
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

/// Where the supervisor keeps Logstash's files below its directory.
#[derive(Debug, Clone)]
pub struct Layout {
    /// `--path.settings`: `logstash.yml` and `pipelines.yml`.
    pub settings: PathBuf,
    /// One `<pipeline id>.conf` per pipeline.
    pub pipelines: PathBuf,
    pub data: PathBuf,
    pub logs: PathBuf,
}

impl Layout {
    pub fn new(dir: &Path) -> Layout {
        Layout {
            settings: dir.join("settings"),
            pipelines: dir.join("pipelines"),
            data: dir.join("data"),
            logs: dir.join("logs"),
        }
    }

    pub fn pipelines_yml(&self) -> PathBuf {
        self.settings.join("pipelines.yml")
    }
}

/// The monitoring API listens on loopback only, on the first free port of
/// Logstash's default range; the supervisor learns which from Logstash's log.
fn logstash_yml(reload_interval: Duration) -> String {
    format!(
        "# Written by logstash-mesos.\napi.http.host: \"127.0.0.1\"\napi.http.port: \"9600-9700\"\nconfig.reload.automatic: true\nconfig.reload.interval: \"{}s\"\n",
        reload_interval.as_secs().max(1)
    )
}

/// Writes `text` to `path` atomically unless it already holds it.
fn write_if_changed(path: &Path, text: &str) -> std::io::Result<bool> {
    if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
        return Ok(false);
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    Ok(true)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Reads the monitoring API every [`POLL_EVERY`] while Logstash said where
/// it listens; each read is bounded by [`POLL_TIMEOUT`] and a size limit.
async fn poll_monitoring(shared: Arc<Shared>, stop: CancellationToken) {
    let Ok(client) = reqwest::Client::builder()
        .timeout(POLL_TIMEOUT)
        .no_proxy()
        .build()
    else {
        return;
    };
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(POLL_EVERY) => {}
        }
        let port = *lock(&shared.api_port);
        let seen = match port {
            Some(port) => read_monitoring(&client, port).await,
            None => None,
        };
        *lock(&shared.observed) = seen;
    }
}

async fn read_monitoring(
    client: &reqwest::Client,
    port: u16,
) -> Option<BTreeMap<String, Observed>> {
    const LIMIT: usize = 4 << 20;
    let get = |path: &'static str| {
        let url = format!("http://127.0.0.1:{port}{path}");
        async move {
            let response = client.get(url).send().await.ok()?.error_for_status().ok()?;
            let body = response.bytes().await.ok()?;
            (body.len() <= LIMIT)
                .then(|| serde_json::from_slice::<serde_json::Value>(&body).ok())
                .flatten()
        }
    };
    let pipelines = get("/_node/pipelines").await?;
    let stats = get("/_node/stats/pipelines").await?;
    Some(observed(&pipelines, &stats))
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
    let layout = Layout::new(&settings.dir);
    let pipeline = layout.pipelines_yml();
    let mut installed = settings.plugins.is_empty() && settings.plugin_pack.is_none();
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
        if !installed {
            let outcome = tokio::select! {
                _ = stop.cancelled() => return,
                outcome = install_plugins(&program, &settings) => outcome,
            };
            if let Err(e) = &outcome {
                tracing::warn!(error = %e, "installing the Logstash plugins failed; pipelines using them will fail");
            }
            *lock(&shared.install_error) = outcome.err();
            installed = true;
        }
        set(&shared, LogstashHealth::Starting, None);
        let started = Instant::now();
        let outcome = run_once(&program, &settings, &layout, &shared, &stop).await;
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

/// What `logstash-plugin install` is run with: the pack's `file://` URI
/// (offline agents), else the gem names. Arguments, never shell text.
pub fn install_arguments(plugins: &[ExtraPlugin], pack: Option<&Path>) -> Vec<String> {
    let mut args = vec!["install".to_owned()];
    match pack {
        Some(pack) => args.push(format!("file://{}", pack.display())),
        None => args.extend(plugins.iter().map(ExtraPlugin::gem)),
    }
    args
}

/// Installs the extra plugins with the `logstash-plugin` next to the
/// `logstash` program; the error says why it failed, with its output.
async fn install_plugins(logstash: &Path, settings: &LogstashSettings) -> Result<(), String> {
    let tool = logstash.with_file_name("logstash-plugin");
    let pack = settings.plugin_pack.as_ref().map(|p| {
        std::env::current_dir()
            .map(|cwd| cwd.join(p))
            .unwrap_or_else(|_| p.clone())
    });
    let args = install_arguments(&settings.plugins, pack.as_deref());
    tracing::info!(tool = %tool.display(), ?args, "installing Logstash plugins");
    let run = Command::new(&tool)
        .args(&args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = match tokio::time::timeout(INSTALL_TIMEOUT, run).await {
        Err(_) => {
            return Err(format!(
                "logstash-plugin {} timed out after {INSTALL_TIMEOUT:?}",
                args.join(" ")
            ));
        }
        Ok(Err(e)) => return Err(format!("cannot run {}: {e}", tool.display())),
        Ok(Ok(output)) => output,
    };
    if output.status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&output.stderr).into_owned()
        + &String::from_utf8_lossy(&output.stdout);
    let tail: String = text
        .trim()
        .chars()
        .rev()
        .take(500)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    Err(format!(
        "logstash-plugin {} failed ({}): {tail}",
        args.join(" "),
        output.status
    ))
}

/// Runs Logstash until it exits or `stop`; returns how it ended.
async fn run_once(
    program: &Path,
    settings: &LogstashSettings,
    layout: &Layout,
    shared: &Arc<Shared>,
    stop: &CancellationToken,
) -> String {
    let mut command = Command::new(program);
    command
        .arg("--path.settings")
        .arg(&layout.settings)
        .arg("--path.data")
        .arg(&layout.data)
        .arg("--path.logs")
        .arg(&layout.logs)
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
    stop_stale(&pid_file, &layout.settings).await;
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
    *lock(&shared.api_port) = None;
    *lock(&shared.observed) = None;
    outcome
}

/// Stops a Logstash left running by an executor that was killed (SIGKILL
/// gives it no chance to stop its child): two Logstash on one sincedb would
/// ship lines twice. Only a process whose command line names our settings.
async fn stop_stale(pid_file: &Path, settings: &Path) {
    let Some(pid) = std::fs::read_to_string(pid_file)
        .ok()
        .and_then(|p| p.trim().parse::<u32>().ok())
    else {
        return;
    };
    let ours = std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| {
        let needle = settings.as_os_str().as_encoded_bytes();
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
            if let Some(port) = api_port(&line) {
                *lock(&shared.api_port) = Some(port);
            }
            if READY_MARKERS.iter().any(|m| line.contains(m)) {
                set(&shared, LogstashHealth::Running, None);
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugins_install_by_gem_name_or_from_the_pack() {
        let plugins: Vec<ExtraPlugin> = ["logstash-filter-tld", "logstash-output-kusto"]
            .iter()
            .map(|g| g.parse().unwrap())
            .collect();
        assert_eq!(
            install_arguments(&plugins, None),
            ["install", "logstash-filter-tld", "logstash-output-kusto"]
        );
        assert_eq!(
            install_arguments(&plugins, Some(Path::new("/sandbox/pack.zip"))),
            ["install", "file:///sandbox/pack.zip"]
        );
    }
}

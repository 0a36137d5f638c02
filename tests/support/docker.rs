//! The real Docker engine for tests: a connection (or a SKIP), local
//! busybox images built without a registry, throwaway containers removed in
//! `Drop`, and small exec helpers.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, RemoveContainerOptions, StartContainerOptions,
    StopContainerOptions,
};
use futures::StreamExt;
use tokio::sync::Mutex;

/// The full busybox image: every applet (`sh`, `tail`, `ps`, `seq`, ...).
pub const BUSYBOX: &str = "lsm-test-busybox:1";
/// dash as `sh` and no `tail` (busybox's own `sh` runs its built-in
/// applets even without links, so it always has `tail`).
pub const NO_TAIL: &str = "lsm-test-notail:2";
/// Only the busybox binary: no `sh` on the PATH.
pub const NO_SH: &str = "lsm-test-nosh:1";

/// A container script that writes an access log line to
/// /var/log/app/access.log, then sleeps `$pause` seconds.
macro_rules! access_log_writer {
    ($pause:literal) => {
        concat!(
            "mkdir -p /var/log/app; i=0; while true; do i=$((i+1)); ",
            "echo \"10.0.0.$((i % 250)) - - GET /api/orders/$i HTTP/1.1 200 $((i % 900 + 100))\" ",
            ">> /var/log/app/access.log; sleep ",
            $pause,
            "; done"
        )
    };
}

/// An access log line every 50 ms.
pub const ACCESS_LOG_WRITER: &str = access_log_writer!("0.05");

/// An access log line a second: for a container that hundreds of executors
/// stream at once, where each line is read hundreds of times.
pub const SLOW_ACCESS_LOG_WRITER: &str = access_log_writer!("1");

/// Connects to the local engine, or prints why the test is skipped.
pub async fn docker_or_skip(test: &str) -> Option<Docker> {
    match logstash_mesos::executor::discovery::connect(Duration::from_secs(5)).await {
        Ok(docker) => match docker.ping().await {
            Ok(_) => Some(docker),
            Err(e) => {
                println!("SKIP: {test}: no Docker engine ({e})");
                None
            }
        },
        Err(e) => {
            println!("SKIP: {test}: no Docker engine ({e})");
            None
        }
    }
}

static IMAGES: Mutex<bool> = Mutex::const_new(false);

/// Builds the test images if missing (`docker import` of a busybox rootfs
/// from Debian's busybox-static, as shared/tools/busybox-image.sh does).
pub async fn ensure_images(docker: &Docker) {
    let mut done = IMAGES.lock().await;
    if *done {
        return;
    }
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("busybox-static is installed (apt-get install busybox-static)");
    let applets = std::process::Command::new(busybox)
        .arg("--list")
        .output()
        .expect("busybox --list");
    let applets: Vec<String> = String::from_utf8_lossy(&applets.stdout)
        .lines()
        .map(str::to_owned)
        .filter(|a| a != "busybox")
        .collect();
    let all: Vec<&str> = applets.iter().map(String::as_str).collect();
    for (image, links, cmd) in [
        (BUSYBOX, all.clone(), r#"CMD ["/bin/sh"]"#),
        (NO_TAIL, vec![], r#"CMD ["/bin/busybox", "sleep", "3600"]"#),
        (NO_SH, vec![], r#"CMD ["/bin/busybox", "sleep", "3600"]"#),
    ] {
        if docker.inspect_image(image).await.is_ok() {
            continue;
        }
        let root = tempfile::tempdir().unwrap();
        for dir in ["bin", "tmp", "var/log", "etc", "proc", "sys", "dev"] {
            std::fs::create_dir_all(root.path().join(dir)).unwrap();
        }
        std::fs::copy(busybox, root.path().join("bin/busybox")).unwrap();
        if image == NO_TAIL {
            copy_dash(root.path());
        }
        for applet in links {
            let _ = std::os::unix::fs::symlink("busybox", root.path().join("bin").join(applet));
        }
        std::fs::write(
            root.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(root.path().join("etc/group"), "root:x:0:\n").unwrap();
        let tar = std::process::Command::new("tar")
            .args(["--numeric-owner", "-C"])
            .arg(root.path())
            .args(["-cf", "-", "."])
            .output()
            .expect("tar");
        assert!(tar.status.success());
        let (repo, tag) = image.split_once(':').unwrap();
        let options = CreateImageOptions {
            from_src: Some("-".into()),
            repo: Some(repo.into()),
            tag: Some(tag.into()),
            changes: vec![cmd.into(), "ENV PATH=/bin".into()],
            ..Default::default()
        };
        let mut progress = docker.create_image(
            Some(options),
            Some(bollard::body_full(tar.stdout.into())),
            None,
        );
        while let Some(item) = progress.next().await {
            item.expect("docker import");
        }
    }
    *done = true;
}

/// Copies the host's dash and the libraries it needs, as `/bin/sh`.
fn copy_dash(root: &Path) {
    let dash = Path::new("/bin/dash");
    assert!(dash.exists(), "dash is installed");
    let ldd = std::process::Command::new("ldd")
        .arg(dash)
        .output()
        .expect("ldd");
    for lib in String::from_utf8_lossy(&ldd.stdout)
        .split_whitespace()
        .filter(|w| w.starts_with('/'))
    {
        let target = root.join(lib.trim_start_matches('/'));
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(lib, target).unwrap();
    }
    std::fs::copy(dash, root.join("bin/sh")).unwrap();
}

static NEXT: AtomicU64 = AtomicU64::new(0);

/// A unique name for a throwaway object of this test run.
pub fn unique(prefix: &str) -> String {
    format!(
        "lsm-test-{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The label that confines one test's executor to that test's containers:
/// the tests share one Docker engine and run in parallel, and an executor
/// would otherwise stream every container of the image.
pub struct Scope {
    value: String,
}

impl Scope {
    const KEY: &'static str = "lsm-test-scope";

    pub fn new() -> Scope {
        Scope {
            value: unique("scope"),
        }
    }

    /// The label to start the test's containers with.
    pub fn label(&self) -> (&str, &str) {
        (Scope::KEY, &self.value)
    }

    /// The value of the executor's `--require-label`.
    pub fn require_label(&self) -> String {
        format!("{}={}", Scope::KEY, self.value)
    }
}

/// A running container, force-removed on drop.
pub struct TestContainer {
    docker: Docker,
    pub id: String,
}

impl TestContainer {
    /// Starts `image` running `sh -c script` with `labels`.
    pub async fn start(
        docker: &Docker,
        image: &str,
        script: Option<&str>,
        labels: &[(&str, &str)],
    ) -> TestContainer {
        let argv: Option<Vec<&str>> = script.map(|s| vec!["sh", "-c", s]);
        TestContainer::start_argv(docker, image, argv.as_deref(), labels).await
    }

    /// Starts `image` running `argv` (its own command when `None`).
    pub async fn start_argv(
        docker: &Docker,
        image: &str,
        argv: Option<&[&str]>,
        labels: &[(&str, &str)],
    ) -> TestContainer {
        let name = unique("c");
        let body = ContainerCreateBody {
            image: Some(image.into()),
            cmd: argv.map(|a| a.iter().map(|s| s.to_string()).collect()),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<HashMap<_, _>>(),
            ),
            ..Default::default()
        };
        let created = docker
            .create_container(
                Some(CreateContainerOptions {
                    name: Some(name.clone()),
                    ..Default::default()
                }),
                body,
            )
            .await
            .expect("create container");
        let container = TestContainer {
            docker: docker.clone(),
            id: created.id,
        };
        container.start_again().await;
        container
    }

    pub async fn start_again(&self) {
        self.docker
            .start_container(&self.id, None::<StartContainerOptions>)
            .await
            .expect("start container");
    }

    pub async fn stop(&self) {
        self.docker
            .stop_container(
                &self.id,
                Some(StopContainerOptions {
                    t: Some(1),
                    ..Default::default()
                }),
            )
            .await
            .expect("stop container");
    }

    /// Runs argv in the container; returns stdout+stderr and the exit code.
    pub async fn exec(&self, argv: &[&str]) -> (String, i64) {
        exec(&self.docker, &self.id, argv).await
    }

    /// The command lines of the `tail` processes running in the container.
    pub async fn tails(&self) -> Vec<String> {
        let (out, _) = self.exec(&["ps", "-o", "args"]).await;
        let mut tails: Vec<String> = out
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("tail "))
            .map(str::to_owned)
            .collect();
        tails.sort();
        tails
    }
}

impl Drop for TestContainer {
    fn drop(&mut self) {
        let docker = self.docker.clone();
        let id = self.id.clone();
        // Drop may run inside a runtime: remove from a thread of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let _ = docker
                    .remove_container(
                        &id,
                        Some(RemoveContainerOptions {
                            force: true,
                            ..Default::default()
                        }),
                    )
                    .await;
            });
        })
        .join();
    }
}

/// Runs argv in a container; returns stdout+stderr and the exit code.
pub async fn exec(docker: &Docker, container: &str, argv: &[&str]) -> (String, i64) {
    let created = docker
        .create_exec(
            container,
            CreateExecOptions {
                cmd: Some(argv.iter().map(|s| s.to_string()).collect()),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..Default::default()
            },
        )
        .await
        .expect("create exec");
    let mut text = String::new();
    if let StartExecResults::Attached { mut output, .. } = docker
        .start_exec(&created.id, None::<StartExecOptions>)
        .await
        .expect("start exec")
    {
        while let Some(Ok(item)) = output.next().await {
            match item {
                LogOutput::StdOut { message }
                | LogOutput::StdErr { message }
                | LogOutput::Console { message } => {
                    text.push_str(&String::from_utf8_lossy(&message))
                }
                LogOutput::StdIn { .. } => {}
            }
        }
    }
    let mut code = -1;
    for _ in 0..50 {
        let info = docker
            .inspect_exec(&created.id)
            .await
            .expect("inspect exec");
        if info.running != Some(true) {
            code = info.exit_code.unwrap_or(-1);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (text, code)
}

/// Polls `check` every 100 ms until it returns true or `timeout` passes.
pub async fn eventually<F, Fut>(timeout: Duration, what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    eventually_or(timeout, what, check, String::new).await;
}

/// [`eventually`], and on a timeout the panic also shows `describe()`: what
/// was there instead.
pub async fn eventually_or<F, Fut>(
    timeout: Duration,
    what: &str,
    mut check: F,
    describe: impl FnOnce() -> String,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!(
                "timed out after {timeout:?} waiting for: {what}{}",
                describe()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Everything in a stream's spool directory, segments in order then the
/// live one: what Logstash would read.
pub fn spool_contents(dir: &Path) -> Vec<u8> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut rotated: Vec<_> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().into_string().unwrap())
        .filter(|n| n.starts_with("spool.log."))
        .collect();
    rotated.sort();
    rotated.push("spool.log".into());
    let mut all = Vec::new();
    for name in rotated {
        if let Ok(bytes) = std::fs::read(dir.join(name)) {
            all.extend_from_slice(&bytes);
        }
    }
    all
}

//! The executor's Docker half against the real Docker engine: discovery,
//! matching, streams, rotation, crash recovery and hostile paths. Every test
//! prints `SKIP: ...` and passes when there is no engine.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use bollard::Docker;
use logstash_mesos::events::ConfigKind;
use logstash_mesos::events::messages::{ConfigEntry, ConfigSet, StreamState};
use logstash_mesos::executor::discovery::{self, DiscoverySettings, Snapshot};
use logstash_mesos::executor::layout;
use logstash_mesos::executor::matching::{self, Container, RequiredLabel, StreamKey};
use logstash_mesos::executor::stream::{ReaderChoice, StreamSettings};
use logstash_mesos::executor::streams::StreamManager;
use support::docker::{
    BUSYBOX, NO_SH, NO_TAIL, TestContainer, docker_or_skip, ensure_images, eventually,
    eventually_or, spool_contents, unique,
};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// A Logstash config reading `paths` (escaped for a double-quoted string).
fn input(paths: &[&str]) -> String {
    let files: String = paths
        .iter()
        .map(|p| {
            let escaped = p.replace('\\', "\\\\").replace('"', "\\\"");
            format!("  file {{ docker-path => \"{escaped}\" }}\n")
        })
        .collect();
    format!("input {{\n{files}}}\n")
}

pub(crate) fn config_set(image: &str, paths: &[&str]) -> ConfigSet {
    ConfigSet {
        version: 1,
        configs: vec![ConfigEntry {
            name: image.into(),
            kind: ConfigKind::Docker,
            input: input(paths),
        }],
    }
}

/// Test settings: quick flushes and retries, a short rotation quiet time
/// (still over busybox tail's one-second poll).
fn settings(dir: &Path) -> StreamSettings {
    let mut s = StreamSettings::new(dir.join("spool"), dir.join("state"));
    s.flush_every = Duration::from_millis(200);
    s.rotate_quiet = Duration::from_millis(1500);
    s.drain_timeout = Duration::from_secs(5);
    s.retry_max = Duration::from_secs(2);
    s.budget_every = Duration::from_secs(1);
    // This suite proves the exec reader (the fallback); the direct reader
    // has its own (executor_direct.rs).
    s.reader = ReaderChoice::Exec;
    s
}

/// One test's world: its own label (so parallel tests never touch each
/// other's containers), discovery, a manager and a temp dir.
pub(crate) struct World {
    pub(crate) docker: Docker,
    pub(crate) label: RequiredLabel,
    pub(crate) dir: tempfile::TempDir,
    containers: watch::Receiver<Snapshot>,
    cancel: CancellationToken,
    pub(crate) manager: Option<StreamManager>,
}

impl World {
    pub(crate) async fn new(docker: &Docker) -> World {
        World::with(docker, |_| {}).await
    }

    pub(crate) async fn with(docker: &Docker, tune: impl FnOnce(&mut StreamSettings)) -> World {
        if std::env::var_os("RUST_LOG").is_some() {
            logstash_mesos::telemetry::init_logging(logstash_mesos::telemetry::LogFormat::Text);
        }
        ensure_images(docker).await;
        let dir = tempfile::tempdir().unwrap();
        let cancel = CancellationToken::new();
        let (containers, _task) = discovery::spawn(
            docker.clone(),
            DiscoverySettings {
                relist_every: Duration::from_secs(5),
                backoff_max: Duration::from_secs(2),
            },
            cancel.clone(),
        );
        let mut settings = settings(dir.path());
        tune(&mut settings);
        let manager = StreamManager::new(docker.clone(), settings);
        World {
            docker: docker.clone(),
            label: RequiredLabel {
                key: "lsm-test".into(),
                value: unique("label"),
            },
            dir,
            containers,
            cancel,
            manager: Some(manager),
        }
    }

    pub(crate) async fn container(&self, image: &str, script: &str) -> TestContainer {
        TestContainer::start(
            &self.docker,
            image,
            Some(script),
            &[(&self.label.key, &self.label.value)],
        )
        .await
    }

    pub(crate) fn manager(&mut self) -> &mut StreamManager {
        self.manager.as_mut().unwrap()
    }

    /// Waits until discovery shows exactly `ids` among this test's containers.
    pub(crate) async fn discovered(&mut self, ids: &[&str]) -> Vec<Container> {
        let mut want: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
        want.sort();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let mine: Vec<Container> = self
                .containers
                .borrow_and_update()
                .containers
                .iter()
                .filter(|c| self.label.admits(c))
                .cloned()
                .collect();
            let got: Vec<String> = mine.iter().map(|c| c.id.clone()).collect();
            if got == want {
                return mine;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "discovery shows {got:?}, want {want:?}"
            );
            let _ =
                tokio::time::timeout(Duration::from_millis(200), self.containers.changed()).await;
        }
    }

    /// Applies `configs` to the containers discovered now.
    pub(crate) async fn apply(&mut self, configs: &ConfigSet, ids: &[&str]) {
        let containers = self.discovered(ids).await;
        let desired = matching::desired_streams(configs, &containers, Some(&self.label));
        self.manager().apply(&desired);
    }

    pub(crate) fn spool(&self, container: &str, path: &str) -> PathBuf {
        layout::spool_dir(
            &self.dir.path().join("spool"),
            &StreamKey {
                container_id: container.into(),
                path: path.into(),
            },
        )
    }

    /// Waits until the spool holds exactly `want`; on timeout the panic
    /// shows what it holds and the streams' reports.
    pub(crate) async fn spool_is(
        &mut self,
        container: &str,
        path: &str,
        want: &[u8],
        within: Duration,
    ) {
        let dir = self.spool(container, path);
        let what = format!(
            "the spool of {path} to hold {:?}",
            String::from_utf8_lossy(want)
        );
        let manager = &mut self.manager;
        eventually_or(
            within,
            &what,
            || {
                let got = spool_contents(&dir);
                async move { got == want }
            },
            || {
                let reports = manager.as_mut().map(|m| m.reports());
                format!(
                    "; it holds {:?}; reports: {reports:#?}",
                    String::from_utf8_lossy(&spool_contents(&dir))
                )
            },
        )
        .await;
    }

    pub(crate) async fn shutdown(&mut self) {
        if let Some(manager) = self.manager.take() {
            manager.shutdown(Duration::from_secs(10)).await;
        }
        self.cancel.cancel();
    }
}

pub(crate) const IDLE: &str = "exec sleep 3600";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_containers_started_before_and_after_the_config() {
    let _lane = crate::support::lanes::heavy().await;
    let Some(docker) =
        docker_or_skip("streams_containers_started_before_and_after_the_config").await
    else {
        return;
    };
    let mut world = World::new(&docker).await;
    let before = world
        .container(
            BUSYBOX,
            &format!("printf 'a1\\na2\\n' > /tmp/app.log; {IDLE}"),
        )
        .await;
    let configs = config_set(BUSYBOX, &["/tmp/app.log"]);
    world.apply(&configs, &[&before.id]).await;
    let after = world
        .container(BUSYBOX, &format!("printf 'b1\\n' > /tmp/app.log; {IDLE}"))
        .await;
    world.apply(&configs, &[&before.id, &after.id]).await;
    world
        .spool_is(
            &before.id,
            "/tmp/app.log",
            b"a1\na2\n",
            Duration::from_secs(15),
        )
        .await;
    world
        .spool_is(&after.id, "/tmp/app.log", b"b1\n", Duration::from_secs(15))
        .await;
    // Lines written later follow, whatever their bytes.
    before
        .exec(&[
            "sh",
            "-c",
            "printf 'a3 \\377\\001 \\303\\251\\n' >> /tmp/app.log",
        ])
        .await;
    world
        .spool_is(
            &before.id,
            "/tmp/app.log",
            b"a1\na2\na3 \xff\x01 \xc3\xa9\n",
            Duration::from_secs(15),
        )
        .await;
    let (reports, totals) = world.manager().reports();
    assert_eq!(reports.len(), 2);
    assert!(reports.iter().all(|r| r.state == StreamState::Streaming));
    assert_eq!(totals.lines, 4);
    assert_eq!(totals.duplicate_lines, 0);
    world.shutdown().await;
    assert!(before.tails().await.is_empty(), "tails left after shutdown");
    assert!(after.tails().await.is_empty(), "tails left after shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconfiguration_starts_and_stops_exactly_the_right_tails() {
    let _lane = crate::support::lanes::heavy().await;
    let Some(docker) =
        docker_or_skip("reconfiguration_starts_and_stops_exactly_the_right_tails").await
    else {
        return;
    };
    let mut world = World::new(&docker).await;
    let c = world
        .container(
            BUSYBOX,
            &format!("for f in a b c; do echo $f > /tmp/$f; done; {IDLE}"),
        )
        .await;
    // A stream started again resumes after the two bytes it already has.
    let tails_for = |files: &[&str], resumed: &[&str]| {
        let mut want: Vec<String> = files
            .iter()
            .flat_map(|f| {
                let start = if resumed.contains(f) { 3 } else { 1 };
                [
                    format!("tail -c +{start} -f -- /tmp/{f}"),
                    format!("tail -n 0 -F -- /tmp/{f}"),
                ]
            })
            .collect();
        want.sort();
        want
    };
    for (files, resumed) in [
        (&["a", "b"][..], &[][..]),
        (&["b", "c"], &[]),
        (&["a", "b", "c"], &["a"]),
        (&[], &[]),
    ] {
        let paths: Vec<String> = files.iter().map(|f| format!("/tmp/{f}")).collect();
        let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
        world.apply(&config_set(BUSYBOX, &paths), &[&c.id]).await;
        let want = tails_for(files, resumed);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let seen = c.tails().await;
            if seen == want {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "tails {seen:?}, want {want:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    world.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_container_resumes_and_a_new_one_starts_over() {
    let _lane = crate::support::lanes::heavy().await;
    let Some(docker) =
        docker_or_skip("a_restarted_container_resumes_and_a_new_one_starts_over").await
    else {
        return;
    };
    restarted_container_resumes_and_a_new_one_starts_over(World::new(&docker).await, false).await;
}

/// A stopped and restarted container resumes its stream (no re-read); a new
/// container of the same image reads its file from the beginning.
/// `hold_old_root`: the test holds the file open through the old root
/// (`/proc/<pid>/root`) across the restart, so the new root is a new mount
/// with another device number (fuse-overlayfs: 40, then 41), as when the
/// stream's own descriptor outlives the container's stop.
pub(crate) async fn restarted_container_resumes_and_a_new_one_starts_over(
    mut world: World,
    hold_old_root: bool,
) {
    // Every start appends one line numbered by how often it started.
    let script = format!(
        "n=$(cat /tmp/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /tmp/n; \
         echo run $n >> /tmp/app.log; {IDLE}"
    );
    let configs = config_set(BUSYBOX, &["/tmp/app.log"]);
    let c = world.container(BUSYBOX, &script).await;
    world.apply(&configs, &[&c.id]).await;
    world
        .spool_is(&c.id, "/tmp/app.log", b"run 1\n", Duration::from_secs(30))
        .await;
    let held = match hold_old_root {
        true => Some(std::fs::File::open(app_log_in_root(&world.docker, &c.id).await).unwrap()),
        false => None,
    };
    c.stop().await;
    world.apply(&configs, &[]).await;
    c.start_again().await;
    if let Some(held) = &held {
        use std::os::unix::fs::MetadataExt;
        let now = std::fs::metadata(app_log_in_root(&world.docker, &c.id).await).unwrap();
        let before = held.metadata().unwrap();
        assert_eq!(now.ino(), before.ino(), "the same file");
        if now.dev() == before.dev() {
            println!(
                "note: the storage driver kept the device number ({})",
                now.dev()
            );
        }
    }
    world.apply(&configs, &[&c.id]).await;
    world
        .spool_is(
            &c.id,
            "/tmp/app.log",
            b"run 1\nrun 2\n",
            Duration::from_secs(30),
        )
        .await;
    drop(held);
    let (reports, totals) = world.manager().reports();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].lost_files, 0, "{reports:?}");
    assert_eq!(totals.lines, 2, "resumed, not re-read: {reports:?}");
    assert_eq!(totals.duplicate_lines, 0);
    assert_eq!(totals.rotations, 0);
    // Removed: the stream goes away.
    let old_id = c.id.clone();
    drop(c);
    world.apply(&configs, &[]).await;
    eventually(Duration::from_secs(30), "the stream is gone", || {
        let (reports, _) = world.manager.as_mut().unwrap().reports();
        async move { reports.is_empty() }
    })
    .await;
    // A new container of the same image reads its file from the beginning.
    let fresh = world.container(BUSYBOX, &script).await;
    world.apply(&configs, &[&fresh.id]).await;
    world
        .spool_is(
            &fresh.id,
            "/tmp/app.log",
            b"run 1\n",
            Duration::from_secs(30),
        )
        .await;
    let (_, totals) = world.manager().reports();
    assert_eq!(totals.lines, 3, "closed streams stay in the totals");
    assert_ne!(old_id, fresh.id);
    world.shutdown().await;
}

/// `/tmp/app.log` of the container's running process, seen from the host.
async fn app_log_in_root(docker: &Docker, id: &str) -> String {
    let info = docker.inspect_container(id, None).await.unwrap();
    let pid = info.state.unwrap().pid.unwrap();
    format!("/proc/{pid}/root/tmp/app.log")
}

pub(crate) fn numbers(from: u64, to: u64) -> Vec<u8> {
    (from..=to)
        .flat_map(|i| format!("{i}\n").into_bytes())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_every_10000_lines_loses_nothing() {
    let _lane = crate::support::lanes::heavy().await;
    let Some(docker) = docker_or_skip("rotation_every_10000_lines_loses_nothing").await else {
        return;
    };
    let mut world = World::new(&docker).await;
    // 100 bursts of 1,000 numbered lines; the file is renamed after every
    // 10th burst (so each file lives about 2.5 s: busybox `tail -F` notices
    // a new file only once a second, and a file that lives shorter than
    // that can be missed altogether), and the writer goes straight on into
    // a new file.
    let script = format!(
        "cd /tmp; : > app.log; while [ ! -e go ]; do sleep 0.1; done; i=0; \
         while [ $i -lt 100 ]; do s=$((i*1000+1)); seq $s $((s+999)) >> app.log; i=$((i+1)); \
         if [ $((i % 10)) = 0 ]; then mv app.log app.log.$i; fi; sleep 0.25; done; \
         touch finished; {IDLE}"
    );
    let c = world.container(BUSYBOX, &script).await;
    world
        .apply(&config_set(BUSYBOX, &["/tmp/app.log"]), &[&c.id])
        .await;
    eventually(Duration::from_secs(15), "the stream runs", || {
        let tails = c.tails();
        async move { tails.await.len() == 2 }
    })
    .await;
    c.exec(&["touch", "/tmp/go"]).await;
    let want = numbers(1, 100_000);
    let dir = world.spool(&c.id, "/tmp/app.log");
    let took = spool_becomes(&dir, &want, Duration::from_secs(90)).await;
    println!("100,000 lines with 10 renames spooled in {took:?}");
    let (reports, totals) = world.manager().reports();
    assert_eq!(totals.lines, 100_000);
    // Renames 1-9 are followed by a new file; the 10th leaves none.
    assert_eq!(reports[0].rotations, 9, "{reports:?}");
    assert_eq!(totals.duplicate_lines, 0);
    // The spool itself was rotated into segments, never truncated.
    let segments = std::fs::read_dir(&dir).unwrap().count();
    assert!(segments >= 1);
    world.shutdown().await;
}

pub(crate) fn first_difference(got: &[u8], want: &[u8]) -> String {
    let at = got
        .iter()
        .zip(want)
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(want.len()));
    let from = at.saturating_sub(40);
    format!(
        "lengths {} vs {}, first difference at byte {at}: got {:?}, want {:?}",
        got.len(),
        want.len(),
        String::from_utf8_lossy(&got[from..(at + 40).min(got.len())]),
        String::from_utf8_lossy(&want[from..(at + 40).min(want.len())]),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_paths_are_literal_and_run_nothing() {
    let _lane = crate::support::lanes::heavy().await;
    let Some(docker) = docker_or_skip("hostile_paths_are_literal_and_run_nothing").await else {
        return;
    };
    let mut world = World::new(&docker).await;
    let hostile = [
        "/tmp/x\"; touch /pwned; \"",
        "/tmp/$(touch /pwned)",
        "/tmp/`touch /pwned`",
        "/tmp/'; touch /pwned; '",
    ];
    let c = world.container(BUSYBOX, IDLE).await;
    for (i, path) in hostile.iter().enumerate() {
        let line = format!("file {i}");
        let (out, code) = c
            .exec(&[
                "sh",
                "-c",
                "mkdir -p -- \"${1%/*}\" && printf '%s\\n' \"$2\" > \"$1\"",
                "sh",
                path,
                &line,
            ])
            .await;
        assert_eq!(code, 0, "{out}");
    }
    // And one that does not exist: the stream waits for it, running nothing.
    let mut paths = hostile.to_vec();
    paths.push("\"; touch /pwned; \"");
    world.apply(&config_set(BUSYBOX, &paths), &[&c.id]).await;
    for (i, path) in hostile.iter().enumerate() {
        world
            .spool_is(
                &c.id,
                path,
                format!("file {i}\n").as_bytes(),
                Duration::from_secs(15),
            )
            .await;
    }
    let (out, code) = c.exec(&["ls", "/pwned"]).await;
    assert_ne!(code, 0, "/pwned exists: {out}");
    world.shutdown().await;
    let (out, code) = c.exec(&["ls", "/pwned"]).await;
    assert_ne!(code, 0, "/pwned exists: {out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_without_sh_or_tail_fail_with_a_reason() {
    let _lane = crate::support::lanes::heavy().await;
    let Some(docker) = docker_or_skip("containers_without_sh_or_tail_fail_with_a_reason").await
    else {
        return;
    };
    let mut world = World::new(&docker).await;
    let no_tail = TestContainer::start(
        &docker,
        NO_TAIL,
        None,
        &[(&world.label.key, &world.label.value)],
    )
    .await;
    let no_sh = TestContainer::start(
        &docker,
        NO_SH,
        None,
        &[(&world.label.key, &world.label.value)],
    )
    .await;
    let mut configs = config_set(NO_TAIL, &["/tmp/app.log"]);
    configs
        .configs
        .extend(config_set(NO_SH, &["/tmp/app.log"]).configs);
    world.apply(&configs, &[&no_tail.id, &no_sh.id]).await;
    let mut last = Vec::new();
    eventually(Duration::from_secs(15), "both streams failed", || {
        let (reports, _) = world.manager.as_mut().unwrap().reports();
        let failed = reports.len() == 2 && reports.iter().all(|r| r.state == StreamState::Failed);
        last = reports;
        async move { failed }
    })
    .await;
    for r in &last {
        let reason = r.reason.clone().unwrap_or_default();
        if r.container_id == no_tail.id {
            assert!(reason.contains("no `tail`"), "{reason}");
        } else {
            assert!(reason.contains("`sh`"), "{reason}");
        }
    }
    world.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_position_end_skips_what_is_already_there() {
    let _lane = crate::support::lanes::heavy().await;
    let Some(docker) = docker_or_skip("start_position_end_skips_what_is_already_there").await
    else {
        return;
    };
    let mut world = World::with(&docker, |s| {
        s.start_position = logstash_mesos::executor::stream::StartPosition::End;
    })
    .await;
    let c = world
        .container(BUSYBOX, &format!("seq 1 5000 > /tmp/app.log; {IDLE}"))
        .await;
    world
        .apply(&config_set(BUSYBOX, &["/tmp/app.log"]), &[&c.id])
        .await;
    eventually(Duration::from_secs(15), "the stream runs", || {
        let tails = c.tails();
        async move { tails.await.len() == 2 }
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    c.exec(&["sh", "-c", "echo new >> /tmp/app.log"]).await;
    world
        .spool_is(&c.id, "/tmp/app.log", b"new\n", Duration::from_secs(15))
        .await;
    world.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_spool_budget_deletes_oldest_segments_and_counts_the_drop() {
    let _lane = crate::support::lanes::heavy().await;
    let Some(docker) =
        docker_or_skip("the_spool_budget_deletes_oldest_segments_and_counts_the_drop").await
    else {
        return;
    };
    let mut world = World::with(&docker, |s| {
        s.segment_size = 16 * 1024;
        s.budget = 64 * 1024;
    })
    .await;
    // About 290 KiB; no Logstash reads it, so every deleted byte is a drop.
    let c = world
        .container(BUSYBOX, &format!("seq 1 50000 > /tmp/app.log; {IDLE}"))
        .await;
    world
        .apply(&config_set(BUSYBOX, &["/tmp/app.log"]), &[&c.id])
        .await;
    let want = numbers(1, 50_000).len() as u64;
    let dir = world.spool(&c.id, "/tmp/app.log");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (_, totals) = world.manager().reports();
        let on_disk = spool_contents(&dir).len() as u64;
        if totals.bytes == want && totals.dropped_bytes + on_disk == want && on_disk <= 64 * 1024 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "dropped {} + on disk {on_disk} != {want}, or over budget",
            totals.dropped_bytes
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // What is left is the newest part of the file, whole lines.
    let left = spool_contents(&dir);
    assert!(numbers(1, 50_000).ends_with(&left));
    world.shutdown().await;
}

/// A unix-socket proxy to the Docker daemon that can be "restarted":
/// stopping it drops every connection (the event stream ends, requests
/// fail), as a daemon restart does.
struct DaemonProxy {
    path: PathBuf,
    tasks: tokio::task::JoinSet<()>,
}

impl DaemonProxy {
    fn start(path: &Path) -> DaemonProxy {
        let _ = std::fs::remove_file(path);
        let listener = tokio::net::UnixListener::bind(path).unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        let conns = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let conns2 = conns.clone();
        tasks.spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let handle = tokio::spawn(async move {
                    if let Ok(mut daemon) =
                        tokio::net::UnixStream::connect("/var/run/docker.sock").await
                    {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut daemon).await;
                    }
                });
                conns2.lock().unwrap().push(handle.abort_handle());
            }
        });
        tasks.spawn(async move {
            // Aborts every connection when the proxy stops.
            struct AbortAll(std::sync::Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>);
            impl Drop for AbortAll {
                fn drop(&mut self) {
                    for h in self.0.lock().unwrap().drain(..) {
                        h.abort();
                    }
                }
            }
            let _guard = AbortAll(conns);
            std::future::pending::<()>().await;
        });
        DaemonProxy {
            path: path.to_owned(),
            tasks,
        }
    }

    async fn stop(mut self) {
        self.tasks.shutdown().await;
        let _ = std::fs::remove_file(&self.path);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_survives_a_daemon_restart() {
    let _lane = crate::support::lanes::heavy().await;
    let Some(docker) = docker_or_skip("discovery_survives_a_daemon_restart").await else {
        return;
    };
    if !Path::new("/var/run/docker.sock").exists() {
        println!(
            "SKIP: discovery_survives_a_daemon_restart: the engine is not at /var/run/docker.sock"
        );
        return;
    }
    ensure_images(&docker).await;
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("docker.sock");
    let proxy = DaemonProxy::start(&socket);
    let through_proxy =
        Docker::connect_with_unix(socket.to_str().unwrap(), 10, bollard::API_DEFAULT_VERSION)
            .unwrap()
            .negotiate_version()
            .await
            .unwrap();
    let label = RequiredLabel {
        key: "lsm-test".into(),
        value: unique("label"),
    };
    let cancel = CancellationToken::new();
    let (mut rx, _task) = discovery::spawn(
        through_proxy,
        DiscoverySettings {
            relist_every: Duration::from_secs(30),
            backoff_max: Duration::from_millis(500),
        },
        cancel.clone(),
    );
    let mine = |rx: &mut watch::Receiver<Snapshot>| -> (Vec<String>, bool) {
        let snapshot = rx.borrow_and_update();
        let mut ids: Vec<String> = snapshot
            .containers
            .iter()
            .filter(|c| label.admits(c))
            .map(|c| c.id.clone())
            .collect();
        ids.sort();
        (ids, snapshot.connected)
    };
    let labels = [(label.key.as_str(), label.value.as_str())];
    let first = TestContainer::start(&docker, BUSYBOX, Some(IDLE), &labels).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while mine(&mut rx) != (vec![first.id.clone()], true) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "first container not seen"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // "Restart" the daemon: while it is away a container starts and the
    // first one stops; neither event reaches the dead event stream.
    proxy.stop().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while mine(&mut rx).1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "disconnection not noticed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let second = TestContainer::start(&docker, BUSYBOX, Some(IDLE), &labels).await;
    first.stop().await;
    let _proxy = DaemonProxy::start(&socket);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while mine(&mut rx) != (vec![second.id.clone()], true) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "after reconnecting: {:?}",
            mine(&mut rx)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    cancel.cancel();
}

/// The `executor-streams` subcommand in a child process, to be SIGKILLed.
pub(crate) struct Child9 {
    child: Option<Child>,
}

impl Child9 {
    pub(crate) fn start(dir: &Path, configs: &Path, label: &RequiredLabel) -> Child9 {
        Child9::with_reader(dir, configs, label, "exec")
    }

    pub(crate) fn with_reader(
        dir: &Path,
        configs: &Path,
        label: &RequiredLabel,
        reader: &str,
    ) -> Child9 {
        let child = Command::new(env!("CARGO_BIN_EXE_logstash-mesos"))
            .arg("executor-streams")
            .arg("--configs")
            .arg(configs)
            .arg("--spool-dir")
            .arg(dir.join("spool"))
            .arg("--state-dir")
            .arg(dir.join("state"))
            .arg("--report")
            .arg(dir.join("report.json"))
            .arg("--require-label")
            .arg(format!("{}={}", label.key, label.value))
            .arg("--spool-file-size")
            .arg("65536")
            .arg("--reader")
            .arg(reader)
            .env("RUST_LOG", "warn")
            .spawn()
            .expect("spawn executor-streams");
        Child9 { child: Some(child) }
    }

    pub(crate) fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    pub(crate) fn terminate(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let status = child.wait().unwrap();
            assert!(status.success(), "{status}");
        }
    }
}

impl Drop for Child9 {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub(crate) fn report(dir: &Path) -> serde_json::Value {
    std::fs::read(dir.join("report.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(serde_json::Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_and_restart_loses_nothing() {
    let _lane = crate::support::lanes::heavy().await;
    let Some(docker) = docker_or_skip("sigkill_mid_stream_and_restart_loses_nothing").await else {
        return;
    };
    ensure_images(&docker).await;
    let dir = tempfile::tempdir().unwrap();
    let label = RequiredLabel {
        key: "lsm-test".into(),
        value: unique("label"),
    };
    let configs = dir.path().join("configs.json");
    std::fs::write(
        &configs,
        serde_json::to_vec(&config_set(BUSYBOX, &["/tmp/app.log"])).unwrap(),
    )
    .unwrap();
    // 50,000 numbered lines in 100 bursts over about 10 s.
    let script = format!(
        "cd /tmp; : > app.log; while [ ! -e go ]; do sleep 0.1; done; i=0; \
         while [ $i -lt 100 ]; do s=$((i*500+1)); seq $s $((s+499)) >> app.log; i=$((i+1)); \
         sleep 0.1; done; {IDLE}"
    );
    let c = TestContainer::start(
        &docker,
        BUSYBOX,
        Some(&script),
        &[(&label.key, &label.value)],
    )
    .await;
    let mut child = Child9::start(dir.path(), &configs, &label);
    eventually(Duration::from_secs(20), "the stream runs", || {
        let tails = c.tails();
        async move { tails.await.len() == 2 }
    })
    .await;
    c.exec(&["touch", "/tmp/go"]).await;
    let spool = layout::spool_dir(
        &dir.path().join("spool"),
        &StreamKey {
            container_id: c.id.clone(),
            path: "/tmp/app.log".into(),
        },
    );
    eventually(Duration::from_secs(20), "some lines spooled", || {
        let n = spool_contents(&spool).len();
        async move { n > 20_000 }
    })
    .await;
    child.kill9();
    // The dead executor's tails still run in the container.
    assert_eq!(c.tails().await.len(), 2);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut child = Child9::start(dir.path(), &configs, &label);
    let want = numbers(1, 50_000);
    let want_lines = 50_000usize;
    eventually(Duration::from_secs(40), "every line spooled", || {
        let got = spool_contents(&spool);
        let mut last = 0u64;
        let mut seen = 0usize;
        // Dedup the re-read block: keep numbers in increasing order.
        for line in got.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let n: u64 = std::str::from_utf8(line).unwrap().parse().unwrap();
            if n > last {
                last = n;
                seen += 1;
            }
        }
        async move { seen >= want_lines }
    })
    .await;
    // Only the restarted executor's two tails run: the old ones were killed.
    eventually(Duration::from_secs(10), "old tails killed", || {
        let tails = c.tails();
        async move { tails.await.len() == 2 }
    })
    .await;
    child.terminate();
    let (duplicates, counted) = in_order_with_counted_duplicates(&spool, &want, dir.path());
    println!("SIGKILL: {duplicates} duplicate lines in the spool, {counted} counted");
    assert!(c.tails().await.is_empty(), "graceful stop kills the tails");
}

/// Asserts that the spool holds `want` (numbered lines) in order, none
/// missing, where repeats of earlier lines (re-read after a crash) are
/// allowed, and that the executor's report counted exactly those repeats.
/// Returns (repeats in the spool, repeats counted).
pub(crate) fn in_order_with_counted_duplicates(
    spool: &Path,
    want: &[u8],
    state: &Path,
) -> (u64, u64) {
    let got = spool_contents(spool);
    let lines: Vec<u64> = got
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| std::str::from_utf8(l).unwrap().parse().unwrap())
        .collect();
    let mut dedup = Vec::new();
    for &n in &lines {
        if dedup.last().is_none_or(|&last| n > last) {
            dedup.push(n);
        }
    }
    let deduped: Vec<u8> = dedup
        .iter()
        .flat_map(|n| format!("{n}\n").into_bytes())
        .collect();
    let jumps: Vec<(u64, u64)> = lines
        .windows(2)
        .filter(|w| w[1] != w[0] + 1)
        .map(|w| (w[0], w[1]))
        .take(20)
        .collect();
    assert!(
        deduped == want,
        "{}; jumps in the spool: {jumps:?}",
        first_difference(&deduped, want)
    );
    let duplicates = (lines.len() - dedup.len()) as u64;
    let report = report(state);
    let counted = report["totals"]["duplicate_lines"].as_u64().unwrap();
    assert_eq!(counted, duplicates, "{report}");
    (duplicates, counted)
}

/// Waits until the spool in `dir` is as long as `want`, then asserts it is
/// `want`; returns how long it took.
pub(crate) async fn spool_becomes(dir: &Path, want: &[u8], within: Duration) -> Duration {
    let started = std::time::Instant::now();
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let got = spool_contents(dir);
        if got.len() >= want.len() {
            assert!(
                got == want,
                "the spool differs: {}",
                first_difference(&got, want)
            );
            return started.elapsed();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not all lines spooled: {}",
            first_difference(&got, want)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

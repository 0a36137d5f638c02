//! The state root (`<root>/<framework>/<agent>`), with real executor
//! processes (`executor-streams`, which needs the Docker engine): a running
//! executor locks its state directory; at start it removes the directories
//! of frameworks whose executor is gone and that have not changed for the
//! retention, and keeps those whose executor still runs.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, SystemTime};

use crate::support::docker::docker_or_skip;

/// `executor-streams` with its state directory at `<root>/<framework>/agent-1`.
struct Executor(Child);

impl Executor {
    fn start(root: &Path, framework: &str) -> Executor {
        std::fs::create_dir_all(root).unwrap();
        let configs = root.join(format!("{framework}.configs.json"));
        std::fs::write(&configs, br#"{"version": 1, "configs": []}"#).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_logstash-mesos"))
            .arg("executor-streams")
            .arg("--configs")
            .arg(&configs)
            .arg("--state-root")
            .arg(root)
            .arg("--state-dir")
            .arg(state_dir(root, framework))
            .args(["--state-retention", "1h"])
            .env("RUST_LOG", "warn")
            .spawn()
            .expect("spawn executor-streams");
        Executor(child)
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn state_dir(root: &Path, framework: &str) -> PathBuf {
    root.join(framework).join("agent-1")
}

/// Whether some process holds the lock of a state directory.
fn locked(dir: &Path) -> bool {
    let Ok(file) = File::options().write(true).open(dir.join(".lock")) else {
        return false;
    };
    matches!(file.try_lock(), Err(std::fs::TryLockError::WouldBlock))
}

/// Sets the modification time of everything in the tree to two days ago.
fn age(dir: &Path) {
    let at = SystemTime::now() - Duration::from_secs(2 * 86_400);
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if entry.file_type().unwrap().is_dir() {
            age(&path);
        } else {
            File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_modified(at)
                .unwrap();
        }
    }
    File::open(dir).unwrap().set_modified(at).unwrap();
}

async fn until(what: &str, check: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn state_of_gone_frameworks_is_removed_and_of_running_ones_kept() {
    let _lane = crate::support::lanes::heavy().await;
    if docker_or_skip("state_of_gone_frameworks_is_removed_and_of_running_ones_kept")
        .await
        .is_none()
    {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("state-root");

    // Two frameworks' executors have run here; one is still running.
    let mut torn_down = Executor::start(&root, "fw-torn-down");
    let running = Executor::start(&root, "fw-running");
    for framework in ["fw-torn-down", "fw-running"] {
        until("each executor locks its state directory", || {
            locked(&state_dir(&root, framework))
        })
        .await;
    }
    // Teardown kills an executor; its lock goes with it.
    torn_down.0.kill().unwrap();
    torn_down.0.wait().unwrap();
    assert!(!locked(&state_dir(&root, "fw-torn-down")));
    // A directory from an executor that took no lock is never removed.
    let legacy = state_dir(&root, "fw-legacy");
    std::fs::create_dir_all(legacy.join("offsets")).unwrap();
    std::fs::write(legacy.join("offsets/s.json"), b"{}").unwrap();
    for framework in ["fw-torn-down", "fw-running", "fw-legacy"] {
        age(&state_dir(&root, framework));
    }

    // A new framework's executor starts on the agent and sweeps.
    let _new = Executor::start(&root, "fw-new");
    until("the torn-down framework's state is removed", || {
        !root.join("fw-torn-down").exists()
    })
    .await;
    assert!(locked(&state_dir(&root, "fw-new")));
    assert!(
        state_dir(&root, "fw-running").join(".lock").exists(),
        "a running executor's state is kept however old"
    );
    assert!(legacy.join("offsets/s.json").exists());
    drop(running);
}

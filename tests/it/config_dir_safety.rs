//! The configuration directory is input like any other, checked on a real
//! file system: a missing folder deletes nothing, only regular files inside
//! the directory count, and nothing in it can hang the scheduler or keep
//! SIGTERM from stopping it.

use crate::support;

use std::os::unix::fs::symlink;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::Instance;

const GOOD: &str = "input { file { docker-path => \"/var/log/app.log\" } }\n";

async fn status(instance: &Instance) -> Value {
    support::get_json(instance, "/api/config-dir").await
}

/// Waits until `/api/config-dir` satisfies `done`.
async fn wait_status(instance: &Instance, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let s = status(instance).await;
        if done(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "{what}: {s}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn config_names(instance: &Instance) -> Vec<String> {
    let list = support::get_json(instance, "/api/configs").await;
    list.as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn event_types(instance: &Instance) -> Vec<String> {
    let page = support::get_json(instance, "/api/events?order=asc&limit=1000").await;
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| format!("{} {}", e["type"].as_str().unwrap(), e["config"]))
        .collect()
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: mkfifo reads the path it is given.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

#[tokio::test]
async fn a_missing_folder_is_reported_and_deletes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let configs = dir.path().join("configs");
    std::fs::create_dir_all(configs.join("docker")).unwrap();
    std::fs::create_dir_all(configs.join("host")).unwrap();
    std::fs::write(configs.join("docker/nginx.conf"), GOOD).unwrap();
    let instance = Instance::local(
        &dir.path().join("data"),
        &["--config-dir", configs.to_str().unwrap()],
    );
    wait_status(&instance, "nginx applied", |s| {
        s["files"][0]["state"] == "applied"
    })
    .await;
    assert_eq!(config_names(&instance).await, ["nginx"]);

    // The folder goes away (unmounted, renamed): reported, nothing deleted.
    std::fs::rename(configs.join("docker"), configs.join("docker.away")).unwrap();
    let s = wait_status(&instance, "the missing folder reported", |s| {
        s["error"]
            .as_str()
            .is_some_and(|e| e.contains("docker/ is missing"))
    })
    .await;
    assert_eq!(
        s["files"][0]["name"], "nginx",
        "the last file list stays: {s}"
    );
    // Another pass (the periodic rescan is every 5 s) changes nothing either.
    let reported = s["last_scan"].as_u64().unwrap();
    wait_status(&instance, "a later scan", |s| {
        s["last_scan"].as_u64().unwrap() > reported
    })
    .await;
    assert_eq!(config_names(&instance).await, ["nginx"]);
    assert!(
        !event_types(&instance)
            .await
            .iter()
            .any(|e| e.starts_with("ConfigDeleted"))
    );

    // Back again: the error clears, the config stays as it was.
    std::fs::rename(configs.join("docker.away"), configs.join("docker")).unwrap();
    wait_status(&instance, "the error cleared", |s| s["error"].is_null()).await;
    assert_eq!(config_names(&instance).await, ["nginx"]);

    // A whole directory that does not exist is reported and not created.
    let other = tempfile::tempdir().unwrap();
    let absent = other.path().join("not-there");
    let second = Instance::local(
        &other.path().join("data"),
        &["--config-dir", absent.to_str().unwrap()],
    );
    wait_status(&second, "the missing directory reported", |s| {
        s["error"]
            .as_str()
            .is_some_and(|e| e.contains("does not exist"))
    })
    .await;
    assert!(!absent.exists());
}

#[tokio::test]
async fn links_loops_fifos_and_devices_never_become_configs_or_hang_the_process() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let configs = dir.path().join("configs");
    let docker = configs.join("docker");
    std::fs::create_dir_all(&docker).unwrap();
    std::fs::create_dir_all(configs.join("host")).unwrap();
    std::fs::create_dir_all(configs.join("shared")).unwrap();
    std::fs::write(configs.join("shared/base.conf"), GOOD).unwrap();
    std::fs::write(outside.path().join("secret.conf"), GOOD).unwrap();
    std::fs::write(docker.join("nginx.conf"), GOOD).unwrap();
    symlink("../shared/base.conf", docker.join("linked.conf")).unwrap();
    symlink(
        outside.path().join("secret.conf"),
        docker.join("outside.conf"),
    )
    .unwrap();
    symlink("/dev/zero", docker.join("zero.conf")).unwrap();
    symlink("loop-b.conf", docker.join("loop-a.conf")).unwrap();
    symlink("loop-a.conf", docker.join("loop-b.conf")).unwrap();
    // A folder that contains itself: 160+ bogus configs before.
    symlink(".", docker.join("again")).unwrap();
    symlink("..", docker.join("up")).unwrap();
    mkfifo(&docker.join("pipe.conf"));

    let mut instance = Instance::local(
        &dir.path().join("data"),
        &["--config-dir", configs.to_str().unwrap()],
    );
    let s = wait_status(&instance, "the first scan", |s| {
        s["files"].as_array().is_some_and(|f| f.len() == 7)
    })
    .await;
    let file = |name: &str| {
        s["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .unwrap_or_else(|| panic!("{name} not listed: {s}"))
            .clone()
    };
    for (name, says) in [
        ("outside", "outside the configuration directory"),
        ("zero", "outside the configuration directory"),
        ("loop-a", "cannot be followed"),
        ("loop-b", "cannot be followed"),
        ("pipe", "FIFO"),
    ] {
        let f = file(name);
        assert_eq!(f["state"], "invalid", "{name}: {f}");
        assert!(f["error"].as_str().unwrap().contains(says), "{name}: {f}");
    }
    assert_eq!(file("linked")["state"], "applied");
    let mut names = config_names(&instance).await;
    names.sort();
    assert_eq!(names, ["linked", "nginx"]);

    // Still answering, and a change to a good file still applies.
    std::fs::write(docker.join("redis.conf"), GOOD).unwrap();
    wait_status(&instance, "redis applied", |s| {
        s["files"].as_array().is_some_and(|f| {
            f.iter()
                .any(|f| f["name"] == "redis" && f["state"] == "applied")
        })
    })
    .await;

    // SIGTERM stops the process promptly, FIFO and all.
    let started = Instant::now();
    instance.terminate();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "SIGTERM took {:?}",
        started.elapsed()
    );
}

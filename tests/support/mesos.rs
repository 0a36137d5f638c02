//! Access to the real Mesos harness for the conformance tests: its address
//! from `MESOS_REAL_URL` (set by `.ci/run`), its state, and its executors.

use std::time::{Duration, Instant};

use serde_json::Value;

/// The tests share one master, so they take turns: offers would otherwise be
/// split between their frameworks. Hold the guard for the whole test.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub async fn turn() -> tokio::sync::MutexGuard<'static, ()> {
    TURN.lock().await
}

/// The large harness (hundreds of agents) is shared the same way.
static LARGE_TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub async fn large_turn() -> tokio::sync::MutexGuard<'static, ()> {
    LARGE_TURN.lock().await
}

/// The URL of the harness with hundreds of agents (`MESOS_REAL_LARGE_URL`,
/// set by `.ci/run`), or `None` after printing why the test is skipped.
pub fn large_master_url(test: &str) -> Option<String> {
    match std::env::var("MESOS_REAL_LARGE_URL") {
        Ok(url) if !url.is_empty() => Some(url.trim_end_matches('/').to_owned()),
        _ => {
            println!(
                "SKIP {test}: MESOS_REAL_LARGE_URL is not set (start ../shared/mesos-real/start-mesos.sh \
                 with MESOS_REAL_NUM_AGENTS=200 on another port; .ci/run does)"
            );
            None
        }
    }
}

/// The master URL, or `None` after printing why the test is skipped.
pub fn master_url(test: &str) -> Option<String> {
    match std::env::var("MESOS_REAL_URL") {
        Ok(url) if !url.is_empty() => Some(url.trim_end_matches('/').to_owned()),
        _ => {
            println!(
                "SKIP {test}: MESOS_REAL_URL is not set (start ../shared/mesos-real/start-mesos.sh; .ci/run does)"
            );
            None
        }
    }
}

pub async fn get_json(url: &str) -> Value {
    super::client()
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

/// `/master/state`.
pub async fn state(master: &str) -> Value {
    get_json(&format!("{master}/master/state")).await
}

/// The active framework with this name, if any.
pub fn framework<'a>(state: &'a Value, name: &str) -> Option<&'a Value> {
    state["frameworks"]
        .as_array()?
        .iter()
        .find(|f| f["name"] == name)
}

/// Running tasks of the framework: (task id, agent id).
pub fn running_tasks(framework: &Value) -> Vec<(String, String)> {
    framework["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["state"] == "TASK_RUNNING")
        .map(|t| {
            (
                t["id"].as_str().unwrap_or_default().to_owned(),
                t["slave_id"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

pub async fn active_agents(master: &str) -> usize {
    state(master).await["activated_slaves"]
        .as_f64()
        .unwrap_or(0.0) as usize
}

/// The process of an executor started by the harness, found by the
/// `MESOS_EXECUTOR_ID` in its environment.
pub fn executor_pid(executor_id: &str) -> Option<u32> {
    let wanted = format!("MESOS_EXECUTOR_ID={executor_id}");
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let environ = std::fs::read(entry.path().join("environ")).ok()?;
            environ
                .split(|b| *b == 0)
                .any(|var| var == wanted.as_bytes())
                .then_some(pid)
        })
}

/// Polls `check` until it returns `Some`, or panics with `what` after `timeout`.
pub async fn wait_for<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Takes the framework `name` down with `logstash-mesos scheduler --teardown`
/// on the scheduler's data directory, so the harness is clean for the next
/// test. Stop the scheduler first.
pub fn teardown(data: &std::path::Path, master: &str, name: &str) {
    let teardown = std::process::Command::new(env!("CARGO_BIN_EXE_logstash-mesos"))
        .args(["scheduler", "--teardown", "--listen", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(data)
        .args(["--master", master, "--framework-name", name])
        .output()
        .expect("run the teardown");
    assert!(
        teardown.status.success(),
        "teardown: {}",
        String::from_utf8_lossy(&teardown.stderr)
    );
}

/// The flags that start a scheduler as framework `name` on `master`, with
/// this build's binary as the executor.
pub fn scheduler_args<'a>(master: &'a str, name: &'a str) -> [&'a str; 8] {
    [
        "--master",
        master,
        "--framework-name",
        name,
        "--failover-timeout",
        "5min",
        "--executor-binary",
        env!("CARGO_BIN_EXE_logstash-mesos"),
    ]
}

/// Waits until the master shows exactly one running task of framework
/// `name` per agent; returns them as (task id, agent id).
pub async fn one_running_per_agent(
    master: &str,
    name: &str,
    agents: usize,
) -> Vec<(String, String)> {
    wait_for(
        Duration::from_secs(60),
        "one running executor per agent",
        || async {
            let state = state(master).await;
            let tasks = running_tasks(framework(&state, name)?);
            let distinct: std::collections::BTreeSet<&String> =
                tasks.iter().map(|(_, agent)| agent).collect();
            (tasks.len() == agents && distinct.len() == agents).then_some(tasks)
        },
    )
    .await
}

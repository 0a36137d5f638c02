//! The scheduler against the real Mesos 1.11 harness (`MESOS_REAL_URL`):
//! one executor per agent reaching TASK_RUNNING and acknowledged, a killed
//! executor replaced on its agent, a restarted scheduler resuming its
//! framework without duplicates, configs reaching every executor, teardown.

use crate::support;

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};
use support::mesos::{self, wait_for};
use support::{Answer, Instance, client};

async fn api(instance: &Instance, path: &str) -> Value {
    support::get_json(instance, path).await
}

/// Our executors as the API reports them: agent id → (task id, state).
async fn executors(instance: &Instance) -> Vec<(String, String, String)> {
    api(instance, "/api/executors").await["executors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let task = e["task"].as_object()?;
            Some((
                e["agent_id"].as_str()?.to_owned(),
                task["task_id"].as_str()?.to_owned(),
                task["state"].as_str()?.to_owned(),
            ))
        })
        .collect()
}

async fn launches(instance: &Instance) -> u64 {
    let page = api(instance, "/api/events?type=ExecutorLaunched&limit=1000").await;
    page["events"].as_array().map_or(0, |e| e.len() as u64)
}

async fn acknowledged(master: &str, name: &str, framework_id: &str) -> f64 {
    let metrics = mesos::get_json(&format!("{master}/metrics/snapshot")).await;
    metrics[format!("master/frameworks/{name}/{framework_id}/calls/acknowledge")]
        .as_f64()
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread")]
async fn scheduler_against_the_real_master() {
    let Some(master) = mesos::master_url("scheduler_against_the_real_master") else {
        return;
    };
    let _turn = mesos::turn().await;
    let agents = mesos::active_agents(&master).await;
    assert!(agents >= 1, "the harness has no active agents");
    let name = format!("lm-test-{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let args = mesos::scheduler_args(&master, &name);
    let mut scheduler = Instance::scheduler(&data, &args);

    // One executor per agent, each running, no more.
    let tasks = mesos::one_running_per_agent(&master, &name, agents).await;
    let ours = wait_for(
        Duration::from_secs(30),
        "the API to show every executor running",
        || async {
            let e = executors(&scheduler).await;
            (e.len() == agents && e.iter().all(|(_, _, s)| s == "Running")).then_some(e)
        },
    )
    .await;
    let listed: BTreeSet<String> = ours.iter().map(|(_, t, _)| t.clone()).collect();
    assert_eq!(listed, tasks.iter().map(|(t, _)| t.clone()).collect());
    let framework_id = api(&scheduler, "/api/framework").await["framework_id"]
        .as_str()
        .expect("a framework id is recorded")
        .to_owned();
    // Every RUNNING update was acknowledged (the agent would retry otherwise).
    wait_for(Duration::from_secs(10), "acknowledgements", || async {
        (acknowledged(&master, &name, &framework_id).await >= agents as f64).then_some(())
    })
    .await;
    assert_eq!(
        launches(&scheduler).await,
        agents as u64,
        "no extra launches"
    );

    // A config created through the API reaches every executor.
    let created = Answer::of(
        client()
            .post(scheduler.url("/api/configs"))
            .json(&json!({"name": "nginx", "input": "input { file { docker-path => \"/var/log/nginx/access.log\" } }"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.json);
    let version = created.json["seq"].as_u64().unwrap();
    wait_for(
        Duration::from_secs(30),
        "every executor to report the new config version",
        || async {
            let all = api(&scheduler, "/api/executors").await;
            let executors = all["executors"].as_array()?;
            let current = all["config_version"].as_u64()? == version
                && executors.len() == agents
                && executors
                    .iter()
                    .all(|e| e["applied_version"].as_u64() == Some(version));
            current.then_some(())
        },
    )
    .await;

    // Kill one executor: a replacement comes up on the same agent.
    let (victim_agent, victim_task, _) = ours[0].clone();
    let executor_id = victim_task.replacen("logstash.", "logstash-executor.", 1);
    let pid = mesos::executor_pid(&executor_id).expect("the executor process");
    std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    wait_for(
        Duration::from_secs(60),
        "a replacement on the killed executor's agent",
        || async {
            let e = executors(&scheduler).await;
            e.iter()
                .any(|(agent, task, state)| {
                    agent == &victim_agent && task != &victim_task && state == "Running"
                })
                .then_some(())
        },
    )
    .await;
    mesos::one_running_per_agent(&master, &name, agents).await;
    let before_restart = launches(&scheduler).await;
    assert_eq!(before_restart, agents as u64 + 1);

    // Restart the scheduler: same framework, reconciled, nothing launched twice.
    scheduler.kill9();
    scheduler.restart();
    wait_for(
        Duration::from_secs(30),
        "the restarted scheduler to subscribe",
        || async {
            let f = api(&scheduler, "/api/framework").await;
            (f["connection"]["state"] == "subscribed").then_some(())
        },
    )
    .await;
    assert_eq!(
        api(&scheduler, "/api/framework").await["framework_id"],
        framework_id.as_str()
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        launches(&scheduler).await,
        before_restart,
        "the restart launched again"
    );
    mesos::one_running_per_agent(&master, &name, agents).await;
    let state = mesos::state(&master).await;
    let active: Vec<&Value> = state["frameworks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["name"] == name.as_str())
        .collect();
    assert_eq!(active.len(), 1, "exactly one framework of ours");

    // New executor settings: stale executors are replaced one at a time.
    let old: BTreeSet<String> = executors(&scheduler)
        .await
        .into_iter()
        .map(|(_, t, _)| t)
        .collect();
    scheduler.terminate();
    let mut changed = args.to_vec();
    changed.extend(["--executor-cpus", "0.25"]);
    let mut scheduler = Instance::scheduler(&data, &changed);
    let mut fewest_running = agents;
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let all = api(&scheduler, "/api/executors").await;
        let executors = all["executors"].as_array().cloned().unwrap_or_default();
        let running = executors
            .iter()
            .filter(|e| e["task"]["state"] == "Running")
            .count();
        fewest_running = fewest_running.min(running);
        let current = executors.len() == agents
            && executors.iter().all(|e| {
                e["task"]["state"] == "Running"
                    && e["task"]["current_settings"] == true
                    && e["task"]["task_id"]
                        .as_str()
                        .is_some_and(|t| !old.contains(t))
            });
        if current {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "executors not replaced: {executors:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        fewest_running + 1 >= agents,
        "more than one executor was down at a time ({fewest_running} of {agents} running)"
    );
    mesos::one_running_per_agent(&master, &name, agents).await;

    // --teardown removes the framework from the master.
    scheduler.terminate();
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_logstash-mesos"))
        .args(["scheduler", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .args(["--master", &master, "--framework-name", &name, "--teardown"])
        .env("RUST_LOG", "warn")
        .status()
        .unwrap();
    assert!(status.success(), "teardown exited with {status}");
    let state = mesos::state(&master).await;
    assert!(
        mesos::framework(&state, &name).is_none(),
        "the framework is still active"
    );
    let completed = state["completed_frameworks"].as_array().unwrap();
    assert!(completed.iter().any(|f| f["id"] == framework_id.as_str()));
    wait_for(Duration::from_secs(40), "the executors to exit", || async {
        ours.iter()
            .all(|(_, task, _)| {
                mesos::executor_pid(&task.replacen("logstash.", "logstash-executor.", 1)).is_none()
            })
            .then_some(())
    })
    .await;
}

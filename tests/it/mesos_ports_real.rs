//! Service discovery for network inputs against the real Mesos 1.11 harness
//! (`MESOS_REAL_URL`): a config whose input listens on a port makes every
//! executor's task hold that port as a Mesos resource with `DiscoveryInfo`
//! (what Mesos-DNS publishes), the executors being replaced one at a time,
//! `/api/endpoints` lists where it listens, a second config on the same port
//! is refused, and a port the agents do not offer is reported per agent.

use crate::support;

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};
use support::mesos::{self, wait_for};
use support::{Answer, Instance, client};

const PORT: u64 = 31555;

async fn post_config(instance: &Instance, name: &str, input: &str) -> Answer {
    Answer::of(
        client()
            .post(instance.url("/api/configs"))
            .json(&json!({"name": name, "input": input}))
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// Whether a task of the master's state holds `PORT` and publishes it.
fn holds_the_port(task: &Value) -> bool {
    let reserved = task["resources"]["ports"].as_str() == Some(&format!("[{PORT}-{PORT}]"));
    let published = task["discovery"]["ports"]["ports"]
        .as_array()
        .is_some_and(|ports| {
            ports.iter().any(|p| {
                p["number"].as_u64() == Some(PORT)
                    && p["protocol"] == "tcp"
                    && p["name"] == "listener"
            })
        });
    reserved && published && task["discovery"]["name"] == "logstash-mesos"
}

#[tokio::test(flavor = "multi_thread")]
async fn network_inputs_get_their_ports_from_mesos_and_are_published() {
    let Some(master) =
        mesos::master_url("network_inputs_get_their_ports_from_mesos_and_are_published")
    else {
        return;
    };
    let _turn = mesos::turn().await;
    let agents = mesos::active_agents(&master).await;
    assert!(agents >= 1, "the harness has no active agents");
    let name = format!("lm-ports-{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let binary = env!("CARGO_BIN_EXE_logstash-mesos");
    let scheduler = Instance::scheduler(
        &data,
        &[
            "--master",
            master.as_str(),
            "--framework-name",
            name.as_str(),
            "--failover-timeout",
            "5min",
            "--executor-binary",
            binary,
        ],
    );
    wait_for(
        Duration::from_secs(60),
        "one executor per agent",
        || async {
            let state = mesos::state(&master).await;
            let tasks = mesos::running_tasks(mesos::framework(&state, &name)?);
            (tasks.len() == agents).then_some(())
        },
    )
    .await;

    let created = post_config(&scheduler, "listener", "input { tcp { port => 31555 } }").await;
    assert_eq!(created.status, 201, "{}", created.json);

    // The executors are replaced, one at a time, by ones holding the port.
    let fewest_running = std::sync::atomic::AtomicUsize::new(agents);
    let holders = wait_for(
        Duration::from_secs(120),
        "every agent's executor task to hold port 31555 with discovery info",
        || async {
            let state = mesos::state(&master).await;
            let framework = mesos::framework(&state, &name)?;
            let tasks: Vec<&Value> = framework["tasks"]
                .as_array()?
                .iter()
                .filter(|t| t["state"] == "TASK_RUNNING")
                .collect();
            fewest_running.fetch_min(tasks.len(), std::sync::atomic::Ordering::Relaxed);
            let agents_holding: BTreeSet<String> = tasks
                .iter()
                .filter(|t| holds_the_port(t))
                .filter_map(|t| t["slave_id"].as_str().map(str::to_owned))
                .collect();
            (tasks.len() == agents && agents_holding.len() == agents).then_some(agents_holding)
        },
    )
    .await;
    let fewest_running = fewest_running.into_inner();
    assert!(
        fewest_running + 1 >= agents,
        "more than one executor was down at a time ({fewest_running} of {agents} running)"
    );

    // The API says where the config listens: every agent, host:31555.
    let endpoints = wait_for(
        Duration::from_secs(30),
        "/api/endpoints to list every agent",
        || async {
            let all = support::get_json(&scheduler, "/api/endpoints").await;
            let listener = all["endpoints"]
                .as_array()?
                .iter()
                .find(|e| e["config"] == "listener")?
                .clone();
            (listener["agents"].as_array()?.len() == agents).then_some(listener)
        },
    )
    .await;
    let listed: BTreeSet<String> = endpoints["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["agent_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, holders);
    for agent in endpoints["agents"].as_array().unwrap() {
        let host = agent["hostname"].as_str().unwrap();
        assert_eq!(
            agent["addresses"],
            json!([format!("{host}:{PORT}")]),
            "{agent}"
        );
    }
    assert_eq!(
        endpoints["ports"],
        json!([{"port": PORT, "protocol": "tcp", "plugin": "tcp"}])
    );

    // A second config on the same port is refused; nothing changes.
    let second = post_config(&scheduler, "other", "input { tcp { port => 31555 } }").await;
    assert_eq!(
        (second.status, second.error_code()),
        (409, "port_taken"),
        "{}",
        second.json
    );

    // A port the agents do not offer (they offer 31000-32000) is reported
    // per agent, with the reason, instead of an executor.
    let far = post_config(&scheduler, "far", "input { udp { port => 40000 } }").await;
    assert_eq!(far.status, 201, "{}", far.json);
    let unavailable = wait_for(
        Duration::from_secs(90),
        "/api/endpoints to report the agents that do not offer port 40000",
        || async {
            let all = support::get_json(&scheduler, "/api/endpoints").await;
            let far = all["endpoints"]
                .as_array()?
                .iter()
                .find(|e| e["config"] == "far")?
                .clone();
            let unavailable = far["unavailable"].as_array()?.clone();
            (!unavailable.is_empty()).then_some(unavailable)
        },
    )
    .await;
    for agent in &unavailable {
        assert!(
            holders.contains(agent["agent_id"].as_str().unwrap()),
            "{agent}"
        );
        assert!(
            agent["reason"]
                .as_str()
                .unwrap()
                .contains("do not hold port 40000"),
            "{agent}"
        );
    }

    drop(scheduler);
    mesos::teardown(&data, &master, &name);
}

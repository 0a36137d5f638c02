//! Three scheduler replicas against the real Mesos 1.11 harness
//! (`MESOS_REAL_URL`): one framework, driven by the Raft leader alone; after
//! `kill -9` of the leader the new leader subscribes again with the same
//! framework id, the master shows exactly one connected framework of ours,
//! and no executor is launched again.

use crate::support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::cluster::{Cluster, client_with};
use support::mesos::{self, wait_for};

async fn api(cluster: &Cluster, id: u64, path: &str) -> Value {
    mesos::get_json(&cluster.url(id, path)).await
}

async fn connection(cluster: &Cluster, id: u64) -> String {
    api(cluster, id, "/api/framework").await["connection"]["state"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn launches(cluster: &Cluster, id: u64) -> usize {
    let page = api(
        cluster,
        id,
        "/api/events?type=ExecutorLaunched&limit=1000&consistent=true",
    )
    .await;
    page["events"].as_array().map_or(0, Vec::len)
}

/// Our frameworks the master knows as active: (id, connected).
async fn frameworks(master: &str, name: &str) -> Vec<(String, bool)> {
    let state = mesos::state(master).await;
    state["frameworks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["name"] == name)
        .map(|f| {
            (
                f["id"].as_str().unwrap_or_default().to_owned(),
                f["connected"].as_bool().unwrap_or(false),
            )
        })
        .collect()
}

async fn running_tasks(master: &str, name: &str) -> BTreeSet<String> {
    let state = mesos::state(master).await;
    mesos::framework(&state, name)
        .map(mesos::running_tasks)
        .unwrap_or_default()
        .into_iter()
        .map(|(task, _)| task)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_leader_resubscribes_with_the_same_framework_id() {
    let Some(master) = mesos::master_url("a_new_leader_resubscribes_with_the_same_framework_id")
    else {
        return;
    };
    let _turn = mesos::turn().await;
    let agents = mesos::active_agents(&master).await;
    assert!(agents >= 1, "the harness has no active agents");
    let name = format!("lm-ha-{}", std::process::id());
    let mut cluster = Cluster::start(
        3,
        &mesos::scheduler_args(&master, &name),
        "warn,openraft=off",
    );
    let (leader, _) = cluster.leader(&[1, 2, 3], Duration::from_secs(20)).await;

    let tasks = wait_for(
        Duration::from_secs(60),
        "one running executor per agent",
        || async {
            let tasks = running_tasks(&master, &name).await;
            (tasks.len() == agents).then_some(tasks)
        },
    )
    .await;
    let framework_id = wait_for(
        Duration::from_secs(10),
        "a recorded framework id",
        || async {
            api(&cluster, leader, "/api/framework").await["framework_id"]
                .as_str()
                .map(str::to_owned)
        },
    )
    .await;
    // Only the leader drives Mesos.
    for id in (1..=3).filter(|id| *id != leader) {
        assert_eq!(connection(&cluster, id).await, "inactive", "replica {id}");
    }
    assert_eq!(connection(&cluster, leader).await, "subscribed");
    let launched = launches(&cluster, leader).await;
    assert_eq!(launched, agents);

    cluster.replica(leader).kill9();
    let killed_at = Instant::now();
    let survivors: Vec<u64> = (1..=3).filter(|id| *id != leader).collect();
    let (new_leader, _) = cluster.leader(&survivors, Duration::from_secs(15)).await;
    let elected_after = killed_at.elapsed();
    wait_for(
        Duration::from_secs(20),
        "the new leader to subscribe",
        || async { (connection(&cluster, new_leader).await == "subscribed").then_some(()) },
    )
    .await;
    let subscribed_after = killed_at.elapsed();
    println!(
        "failover on the real master: leader elected after {elected_after:?}, SUBSCRIBED after {subscribed_after:?}"
    );

    let framework = api(&cluster, new_leader, "/api/framework").await;
    assert_eq!(framework["framework_id"], framework_id.as_str());
    assert_eq!(framework["replica"].as_u64(), Some(new_leader));
    wait_for(
        Duration::from_secs(10),
        "exactly one connected framework of ours",
        || async {
            (frameworks(&master, &name).await == vec![(framework_id.clone(), true)]).then_some(())
        },
    )
    .await;
    let other = survivors.iter().find(|id| **id != new_leader).copied();
    if let Some(other) = other {
        assert_eq!(connection(&cluster, other).await, "inactive");
    }
    // Reconciliation settles; nothing is launched again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(launches(&cluster, new_leader).await, launched, "relaunched");
    assert_eq!(running_tasks(&master, &name).await, tasks);
    assert_eq!(frameworks(&master, &name).await.len(), 1);

    // Leave the harness as we found it.
    drop(cluster);
    let teardown = client_with(Duration::from_secs(20))
        .post(format!("{master}/master/teardown"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("frameworkId={framework_id}"))
        .send()
        .await
        .expect("teardown");
    assert!(teardown.status().is_success(), "{}", teardown.status());
}

//! Three scheduler replicas on loopback, each a separate process: a leader
//! killed with SIGKILL while a client writes, a follower paused past the
//! election timeout, a replica left alone, and a replica added and removed.
//! The tests run one at a time (they share two cores with everything else).

use crate::support;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::cluster::{Cluster, QUIET, client_with, config_names, create, free_addrs};
use support::{Answer, Instance};

async fn events(url: &str) -> Value {
    let answer = Answer::of(
        client_with(Duration::from_secs(10))
            .get(format!(
                "{url}/api/events?order=asc&limit=1000&consistent=true"
            ))
            .send()
            .await
            .expect("events"),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    answer.json["events"].clone()
}

async fn wait_until<F, Fut>(timeout: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn index(status: &Value, field: &str) -> u64 {
    status[field].as_u64().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_killing_the_leader_and_the_killed_replica_catches_up() {
    let _serial = support::cluster::serial().await;
    let started = Instant::now();
    let mut cluster = Cluster::start(
        3,
        &["--raft-snapshot-every", "20", "--raft-keep-logs", "0"],
        QUIET,
    );
    let (leader, term) = cluster.leader(&[1, 2, 3], Duration::from_secs(20)).await;
    let urls: Vec<String> = (1..=3).map(|id| cluster.url(id, "")).collect();

    // A client writes through every replica in turn and records what was acknowledged.
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let dead = Arc::new(Mutex::new(BTreeSet::<usize>::new()));
    let writer = {
        let (acked, stop, dead, urls) = (acked.clone(), stop.clone(), dead.clone(), urls.clone());
        tokio::spawn(async move {
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let target = (i..i + 3)
                    .map(|t| t % 3)
                    .find(|t| !dead.lock().unwrap().contains(t))
                    .expect("a live replica");
                let name = format!("config-{i}");
                if create(&urls[target], &name).await == Some(201) {
                    acked.lock().unwrap().push(name);
                }
            }
        })
    };
    let count = || acked.lock().unwrap().len();
    wait_until(
        Duration::from_secs(30),
        "30 acknowledged writes",
        || async { count() >= 30 },
    )
    .await;

    let before_kill = cluster.status(leader).await.expect("leader status");
    dead.lock().unwrap().insert(leader as usize - 1);
    cluster.replica(leader).kill9();
    let killed_at = Instant::now();
    let acked_at_kill = count();
    let survivors: Vec<u64> = (1..=3).filter(|id| *id != leader).collect();
    let (new_leader, new_term) = cluster.leader(&survivors, Duration::from_secs(15)).await;
    assert!(new_term > term, "a new term after the kill");
    let elected_after = killed_at.elapsed();

    // Writing goes on, far enough for the new leader to snapshot and purge
    // past everything the killed replica has.
    wait_until(Duration::from_secs(60), "writes to continue", || async {
        count() >= acked_at_kill + 60
    })
    .await;
    let first_write_after = killed_at.elapsed();
    stop.store(true, Ordering::Relaxed);
    writer.await.unwrap();
    let acked: BTreeSet<String> = acked.lock().unwrap().iter().cloned().collect();

    for id in &survivors {
        let names: BTreeSet<String> =
            config_names(&cluster.url(*id, "/api/configs?consistent=true"))
                .await
                .expect("configs")
                .into_iter()
                .collect();
        let missing: Vec<_> = acked.difference(&names).collect();
        assert!(
            missing.is_empty(),
            "replica {id} lacks acknowledged writes {missing:?}"
        );
    }

    let killed_last = index(&before_kill, "last_log_index");
    wait_until(
        Duration::from_secs(20),
        "the leader to purge past the killed replica's log",
        || async {
            cluster
                .status(new_leader)
                .await
                .is_some_and(|s| index(&s, "purged_index") > killed_last)
        },
    )
    .await;

    // The killed replica comes back; the entries it lacks are gone from the
    // leader's log, so it can only catch up from a snapshot.
    cluster.replica(leader).restart();
    let target = cluster.status(new_leader).await.expect("leader status");
    let commit = index(&target, "commit_index");
    wait_until(
        Duration::from_secs(30),
        "the restarted replica to catch up",
        || async {
            cluster
                .status(leader)
                .await
                .is_some_and(|s| index(&s, "applied_index") >= commit)
        },
    )
    .await;
    let restarted = cluster.status(leader).await.expect("status");
    assert!(
        index(&restarted, "snapshot_index") > killed_last,
        "caught up through a snapshot: {restarted}"
    );
    assert_eq!(restarted["leader"].as_u64(), Some(new_leader));

    let histories = [
        events(&cluster.url(1, "")).await,
        events(&cluster.url(2, "")).await,
        events(&cluster.url(3, "")).await,
    ];
    assert!(
        histories[0]
            .as_array()
            .is_some_and(|e| e.len() > acked.len())
    );
    assert_eq!(histories[0], histories[1], "replicas 1 and 2 differ");
    assert_eq!(histories[0], histories[2], "replicas 1 and 3 differ");
    let restarted_names: BTreeSet<String> = config_names(&cluster.url(leader, "/api/configs"))
        .await
        .expect("configs")
        .into_iter()
        .collect();
    assert!(acked.is_subset(&restarted_names));
    println!(
        "leader killed: elected after {elected_after:?}, 60 more writes after {first_write_after:?}, {} writes acknowledged, test took {:?}",
        acked.len(),
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_follower_rejoins_without_disturbing_the_leader() {
    let _serial = support::cluster::serial().await;
    let mut cluster = Cluster::start(3, &[], QUIET);
    let (leader, term) = cluster.leader(&[1, 2, 3], Duration::from_secs(20)).await;
    let follower = (1..=3).find(|id| *id != leader).unwrap();
    let others: Vec<u64> = (1..=3).filter(|id| *id != follower).collect();

    cluster.replica(follower).signal("STOP");
    // Well past the election timeout (at most 2 s, plus the leader lease).
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        create(&cluster.url(leader, ""), "while-paused").await,
        Some(201),
        "the others go on"
    );
    assert_eq!(
        cluster.leader(&others, Duration::from_secs(5)).await,
        (leader, term)
    );

    cluster.replica(follower).signal("CONT");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        cluster.leader(&[1, 2, 3], Duration::from_secs(10)).await,
        (leader, term),
        "the resumed follower disturbed the leader"
    );
    let status = cluster.status(follower).await.expect("status");
    assert_eq!(status["state"], "Follower");
    let names = config_names(&cluster.url(follower, "/api/configs?consistent=true"))
        .await
        .expect("configs");
    assert!(names.contains(&"while-paused".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_replica_refuses_writes() {
    let _serial = support::cluster::serial().await;
    let mut cluster = Cluster::start(3, &[], QUIET);
    let (leader, _) = cluster.leader(&[1, 2, 3], Duration::from_secs(20)).await;
    assert_eq!(create(&cluster.url(leader, ""), "before").await, Some(201));
    for id in (1..=3).filter(|id| *id != leader) {
        cluster.replica(id).kill9();
    }
    // Once it has not heard from a quorum for an election timeout, the
    // leader knows it cannot commit.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let started = Instant::now();
    let answer = Answer::of(
        client_with(Duration::from_secs(20))
            .post(cluster.url(leader, "/api/configs"))
            .json(&json!({"name": "alone", "input": ""}))
            .send()
            .await
            .expect("answer"),
    )
    .await;
    assert_eq!(answer.status, 503, "{}", answer.json);
    assert_eq!(answer.error_code(), "no_leader");
    assert!(answer.headers.contains_key("retry-after"));
    assert!(started.elapsed() < Duration::from_secs(7));
    // Stale reads are still served; consistent ones are not.
    let names = config_names(&cluster.url(leader, "/api/configs"))
        .await
        .expect("configs");
    assert_eq!(names, vec!["before".to_owned()]);
    let consistent = client_with(Duration::from_secs(20))
        .get(cluster.url(leader, "/api/configs?consistent=true"))
        .send()
        .await
        .expect("answer");
    assert_eq!(consistent.status().as_u16(), 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_is_added_as_learner_then_voter_and_removed_and_raft_calls_need_the_secret() {
    let _serial = support::cluster::serial().await;
    let cluster = Cluster::start(3, &[], QUIET);
    let (leader, _) = cluster.leader(&[1, 2, 3], Duration::from_secs(20)).await;

    // Raft calls need the cluster secret.
    for bearer in [None, Some("not-the-secret")] {
        let mut request = client_with(Duration::from_secs(5))
            .post(cluster.url(leader, "/raft/vote"))
            .body(vec![0u8, 1, 2]);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let status = request.send().await.expect("answer").status().as_u16();
        assert_eq!(status, 401, "bearer {bearer:?}");
    }

    assert_eq!(
        create(&cluster.url(leader, ""), "before-join").await,
        Some(201)
    );

    // The new replica names the members and itself; not being the lowest id,
    // it waits to be added instead of forming a cluster of its own.
    let addr = free_addrs(1).remove(0);
    let peers = format!(
        "1={},2={},3={},4={addr}",
        cluster.addrs[0], cluster.addrs[1], cluster.addrs[2]
    );
    let secret = cluster
        .dir
        .path()
        .join("cluster-secret")
        .display()
        .to_string();
    let fourth = Instance::scheduler_at(
        &addr,
        &cluster.dir.path().join("replica-4"),
        &[
            "--node-id",
            "4",
            "--peers",
            &peers,
            "--cluster-secret-file",
            &secret,
            "--master",
            "http://127.0.0.1:1",
        ],
        QUIET,
    );
    let follower = (1..=3).find(|id| *id != leader).unwrap();
    // Asked at a follower, done by the leader.
    let added = Answer::of(
        client_with(Duration::from_secs(60))
            .post(cluster.url(follower, "/api/cluster/members"))
            .json(&json!({"id": 4, "addr": addr}))
            .send()
            .await
            .expect("answer"),
    )
    .await;
    assert_eq!(added.status, 200, "{}", added.json);
    let voters = |s: &Value| -> BTreeSet<u64> {
        s["members"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| m["voter"] == true)
            .filter_map(|m| m["id"].as_u64())
            .collect()
    };
    assert_eq!(voters(&added.json), BTreeSet::from([1, 2, 3, 4]));
    let names = config_names(&fourth.url("/api/configs?consistent=true"))
        .await
        .expect("configs");
    assert!(names.contains(&"before-join".to_owned()));

    let removed = Answer::of(
        client_with(Duration::from_secs(60))
            .delete(cluster.url(leader, "/api/cluster/members/4"))
            .send()
            .await
            .expect("answer"),
    )
    .await;
    assert_eq!(removed.status, 200, "{}", removed.json);
    assert_eq!(voters(&removed.json), BTreeSet::from([1, 2, 3]));
    assert_eq!(
        create(&cluster.url(leader, ""), "after-removal").await,
        Some(201)
    );
    drop(fourth);
}

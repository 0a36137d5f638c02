//! Replicated-journal benchmark: three scheduler replicas on loopback, each a
//! separate process of the release binary, with one replica (`local`, a
//! cluster of one) measured in the same run as the baseline.
//!
//! * config write latency, p50/p99, one client, at the leader and through a
//!   follower (forwarded);
//! * writes per second with 64 concurrent clients;
//! * failover: `kill -9` of the leader to (a) the first acknowledged write
//!   on the new leader and, when `MESOS_REAL_URL` points at the real Mesos
//!   harness, (b) SUBSCRIBED on the new leader.
//!
//! Run with `cargo bench --bench raft_cluster`. Targets: p99 < 10 ms; at
//! least 4,000 writes/s at the leader; (a) < 3 s; (b) < 5 s. `RAFT_BENCH_PROFILE=1` only
//! loads the leader of a three-replica cluster, for a profiler to watch.

#[path = "../tests/support/mod.rs"]
#[allow(unused_imports, dead_code)]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use support::Instance;
use support::cluster::{Cluster, client_with};

const LATENCY_WRITES: usize = 400;
const CLIENTS: usize = 64;
/// Every client and peer connects from loopback: no per-address cap here.
const SHARED_ADDRESS: [&str; 2] = ["--max-connections-per-ip", "0"];
const THROUGHPUT_FOR: Duration = Duration::from_secs(5);
const FAILOVERS: usize = 5;
const LOG: &str = "error,openraft=off";

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn post(client: &reqwest::Client, base: &str, name: &str) -> Option<u16> {
    let response = client
        .post(format!("{}/api/configs", base.trim_end_matches('/')))
        .json(&json!({"name": name, "input": "input { stdin { } }"}))
        .send()
        .await
        .ok()?;
    Some(response.status().as_u16())
}

/// p50 and p99 of sequential writes to `base`.
async fn latency(base: &str, prefix: &str) -> (Duration, Duration) {
    let client = client_with(Duration::from_secs(10));
    for i in 0..20 {
        post(&client, base, &format!("{prefix}-warm-{i}")).await;
    }
    let mut times = Vec::with_capacity(LATENCY_WRITES);
    for i in 0..LATENCY_WRITES {
        let started = Instant::now();
        let status = post(&client, base, &format!("{prefix}-{i}")).await;
        assert_eq!(status, Some(201), "write {i} to {base}");
        times.push(started.elapsed());
    }
    times.sort();
    (percentile(&times, 0.5), percentile(&times, 0.99))
}

/// Acknowledged writes per second with `CLIENTS` concurrent clients, spread
/// over `bases`.
async fn throughput(bases: &[String], prefix: &str) -> f64 {
    let done = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let base = bases[c % bases.len()].clone();
            let (done, failed) = (done.clone(), failed.clone());
            let prefix = prefix.to_owned();
            tokio::spawn(async move {
                let client = client_with(Duration::from_secs(10));
                let mut i = 0;
                while started.elapsed() < THROUGHPUT_FOR {
                    i += 1;
                    match post(&client, &base, &format!("{prefix}-{c}-{i}")).await {
                        Some(201) => done.fetch_add(1, Ordering::Relaxed),
                        _ => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
    let failed = failed.load(Ordering::Relaxed);
    if failed > 0 {
        println!("    ({failed} writes failed)");
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

/// Kill -9 the leader, then write to the survivors until one write is
/// acknowledged; returns the time from the kill to that acknowledgement.
async fn failover_to_first_write(cluster: &mut Cluster, round: usize) -> Duration {
    let (leader, _) = cluster.leader(&[1, 2, 3], Duration::from_secs(30)).await;
    let survivors: Vec<u64> = (1..=3).filter(|id| *id != leader).collect();
    let bases: Vec<String> = survivors.iter().map(|id| cluster.url(*id, "")).collect();
    let client = client_with(Duration::from_secs(10));
    cluster.replica(leader).kill9();
    let killed = Instant::now();
    let mut i = 0;
    let acknowledged = loop {
        i += 1;
        let base = &bases[i % bases.len()];
        if post(&client, base, &format!("failover-{round}-{i}")).await == Some(201) {
            break killed.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    cluster.replica(leader).restart();
    cluster.leader(&[1, 2, 3], Duration::from_secs(30)).await;
    acknowledged
}

async fn connection(base: &str) -> Option<String> {
    let framework: serde_json::Value = client_with(Duration::from_secs(2))
        .get(format!("{}/api/framework", base.trim_end_matches('/')))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    framework["connection"]["state"].as_str().map(str::to_owned)
}

/// Kill -9 the leader of a cluster driving the real master; time until a
/// survivor reports SUBSCRIBED.
async fn failover_to_subscribed(cluster: &mut Cluster) -> Duration {
    let (leader, _) = cluster.leader(&[1, 2, 3], Duration::from_secs(30)).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while connection(&cluster.url(leader, "")).await.as_deref() != Some("subscribed") {
        assert!(Instant::now() < deadline, "the leader never subscribed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let survivors: Vec<u64> = (1..=3).filter(|id| *id != leader).collect();
    cluster.replica(leader).kill9();
    let killed = Instant::now();
    let mut elected = None;
    let subscribed = 'found: loop {
        for id in &survivors {
            if elected.is_none()
                && cluster
                    .status(*id)
                    .await
                    .is_some_and(|s| s["state"] == "Leader")
            {
                elected = Some(killed.elapsed());
            }
            if connection(&cluster.url(*id, "")).await.as_deref() == Some("subscribed") {
                break 'found killed.elapsed();
            }
        }
        assert!(
            killed.elapsed() < Duration::from_secs(60),
            "no replica resubscribed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    println!(
        "    leader {leader} killed: a survivor led after {:.2} s, SUBSCRIBED after {:.2} s",
        elected.unwrap_or(subscribed).as_secs_f64(),
        subscribed.as_secs_f64()
    );
    cluster.replica(leader).restart();
    cluster.leader(&[1, 2, 3], Duration::from_secs(30)).await;
    subscribed
}

fn verdict(ok: bool) -> &'static str {
    if ok { "meets target" } else { "MISSES target" }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        println!("raft_cluster benchmark (release binary, loopback, {} cores)",
            std::thread::available_parallelism().map_or(0, |n| n.get()));

        if std::env::var("RAFT_BENCH_PROFILE").is_ok() {
            // Only load the leader for a while, for a profiler to watch.
            let mut cluster = Cluster::start(3, &SHARED_ADDRESS, LOG);
            let (leader, _) = cluster.leader(&[1, 2, 3], Duration::from_secs(30)).await;
            println!("leader pid {}", cluster.replica(leader).pid().unwrap_or(0));
            for round in 0..3 {
                let rate = throughput(&[cluster.url(leader, "")], &format!("profile-{round}")).await;
                println!("{rate:.0} writes/s");
            }
            return;
        }

        // Baseline: a cluster of one.
        let dir = tempfile::tempdir().expect("temp dir");
        let single = Instance::local(dir.path(), &SHARED_ADDRESS);
        let (s50, s99) = latency(&single.base, "single").await;
        let single_rate = throughput(std::slice::from_ref(&single.base), "single-tp").await;
        drop(single);
        println!("baseline, one replica:   p50 {:.2} ms  p99 {:.2} ms  {:.0} writes/s ({CLIENTS} clients)",
            ms(s50), ms(s99), single_rate);

        let mut cluster = Cluster::start(3, &SHARED_ADDRESS, LOG);
        let (leader, _) = cluster.leader(&[1, 2, 3], Duration::from_secs(30)).await;
        let follower = (1..=3).find(|id| *id != leader).expect("a follower");
        let (p50, p99) = latency(&cluster.url(leader, ""), "leader").await;
        let (f50, f99) = latency(&cluster.url(follower, ""), "follower").await;
        let at_leader = throughput(&[cluster.url(leader, "")], "tp-leader").await;
        let everywhere: Vec<String> = (1..=3).map(|id| cluster.url(id, "")).collect();
        let spread = throughput(&everywhere, "tp-all").await;
        println!("three replicas, at the leader:    p50 {:.2} ms  p99 {:.2} ms ({}; x{:.2} of baseline p99)",
            ms(p50), ms(p99), verdict(p99 < Duration::from_millis(10)), ms(p99) / ms(s99));
        println!("three replicas, via a follower:   p50 {:.2} ms  p99 {:.2} ms (forwarded)",
            ms(f50), ms(f99));
        println!("three replicas, {CLIENTS} clients at the leader: {at_leader:.0} writes/s ({}; x{:.2} of baseline)",
            verdict(at_leader >= 4000.0), at_leader / single_rate);
        println!("three replicas, {CLIENTS} clients on all replicas: {spread:.0} writes/s");

        let mut failovers = Vec::new();
        for round in 0..FAILOVERS {
            failovers.push(failover_to_first_write(&mut cluster, round).await);
        }
        drop(cluster);
        let worst = failovers.iter().max().copied().unwrap_or_default();
        println!("failover (a), kill -9 to first acknowledged write: {} (worst {:.2} s, {})",
            failovers.iter().map(|d| format!("{:.2} s", d.as_secs_f64())).collect::<Vec<_>>().join(", "),
            worst.as_secs_f64(), verdict(worst < Duration::from_secs(3)));

        match std::env::var("MESOS_REAL_URL") {
            Ok(master) if !master.is_empty() => {
                let master = master.trim_end_matches('/').to_owned();
                let name = format!("lm-bench-{}", std::process::id());
                let binary = env!("CARGO_BIN_EXE_logstash-mesos");
                let mut cluster = Cluster::start(3, &["--master", &master, "--framework-name", &name,
                    "--failover-timeout", "5min", "--executor-binary", binary], LOG);
                let mut times = Vec::new();
                for _ in 0..FAILOVERS {
                    times.push(failover_to_subscribed(&mut cluster).await);
                }
                let (leader, _) = cluster.leader(&[1, 2, 3], Duration::from_secs(30)).await;
                let framework: serde_json::Value = client_with(Duration::from_secs(5))
                    .get(cluster.url(leader, "/api/framework")).send().await.expect("framework")
                    .json().await.expect("framework json");
                drop(cluster);
                if let Some(id) = framework["framework_id"].as_str() {
                    let _ = client_with(Duration::from_secs(20))
                        .post(format!("{master}/master/teardown"))
                        .header("content-type", "application/x-www-form-urlencoded")
                        .body(format!("frameworkId={id}"))
                        .send()
                        .await;
                }
                let worst = times.iter().max().copied().unwrap_or_default();
                println!("failover (b), kill -9 to SUBSCRIBED on the real master: {} (worst {:.2} s, {})",
                    times.iter().map(|d| format!("{:.2} s", d.as_secs_f64())).collect::<Vec<_>>().join(", "),
                    worst.as_secs_f64(), verdict(worst < Duration::from_secs(5)));
            }
            _ => println!("failover (b): SKIP, MESOS_REAL_URL is not set"),
        }
    });
}

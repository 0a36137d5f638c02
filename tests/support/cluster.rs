//! A cluster of scheduler replicas on loopback, each a separate process of the
//! real binary on a fixed port, and what the tests ask of it.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::Instance;

/// Log filter for replicas whose Mesos master is unreachable on purpose:
/// the scheduler's reconnect warnings, and openraft's complaints about the
/// replicas the tests kill, are not what these tests look at.
pub const QUIET: &str =
    "warn,openraft=off,logstash_mesos::mesos=error,logstash_mesos::scheduler=error";

/// Addresses nobody listens on right now (the ports are released before use).
pub fn free_addrs(n: usize) -> Vec<String> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("a free port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("address").to_string())
        .collect()
}

/// The cluster secret every test cluster shares (in `cluster-secret`).
pub const SECRET: &str = "a-cluster-secret-for-the-tests";

/// Clusters take turns: three replicas each on two shared cores are enough.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    SERIAL.lock().await
}

pub struct Cluster {
    /// Replica `id` is `replicas[id - 1]`.
    pub replicas: Vec<Instance>,
    /// The API addresses (`--listen`).
    pub addrs: Vec<String>,
    /// The member addresses: `--raft-listen` when given, else `addrs`.
    pub raft_addrs: Vec<String>,
    pub dir: tempfile::TempDir,
}

impl Cluster {
    /// Starts replicas 1..=n that form one cluster, with `extra` flags each.
    pub fn start(n: usize, extra: &[&str], log: &str) -> Cluster {
        Cluster::launch(n, extra, log, false)
    }

    /// The same, each replica serving `/raft/` on its own `--raft-listen`.
    pub fn start_with_raft_listen(n: usize, extra: &[&str], log: &str) -> Cluster {
        Cluster::launch(n, extra, log, true)
    }

    fn launch(n: usize, extra: &[&str], log: &str, raft_listen: bool) -> Cluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let secret = dir.path().join("cluster-secret");
        std::fs::write(&secret, format!("{SECRET}\n")).expect("secret file");
        let addrs = free_addrs(n);
        let raft_addrs = if raft_listen {
            free_addrs(n)
        } else {
            addrs.clone()
        };
        let peers = raft_addrs
            .iter()
            .enumerate()
            .map(|(i, a)| format!("{}={a}", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        let replicas = (1..=n)
            .map(|id| {
                let id_text = id.to_string();
                let secret_path = secret.display().to_string();
                let mut args = vec![
                    "--node-id",
                    id_text.as_str(),
                    "--peers",
                    peers.as_str(),
                    "--cluster-secret-file",
                    secret_path.as_str(),
                ];
                if raft_listen {
                    args.extend(["--raft-listen", raft_addrs[id - 1].as_str()]);
                }
                if !extra.contains(&"--master") {
                    args.extend(["--master", "http://127.0.0.1:1"]);
                }
                args.extend(extra);
                Instance::scheduler_at(
                    &addrs[id - 1],
                    &dir.path().join(format!("replica-{id}")),
                    &args,
                    log,
                )
            })
            .collect();
        Cluster {
            replicas,
            addrs,
            raft_addrs,
            dir,
        }
    }

    /// The path of the cluster secret file, for replicas added later.
    pub fn secret_file(&self) -> String {
        self.dir.path().join("cluster-secret").display().to_string()
    }

    pub fn replica(&mut self, id: u64) -> &mut Instance {
        &mut self.replicas[id as usize - 1]
    }

    pub fn url(&self, id: u64, path: &str) -> String {
        self.replicas[id as usize - 1].url(path)
    }

    /// `GET /api/cluster` of a replica, or `None` when it does not answer.
    pub async fn status(&self, id: u64) -> Option<Value> {
        let response = client_with(Duration::from_secs(2))
            .get(self.url(id, "/api/cluster"))
            .send()
            .await
            .ok()?;
        response.json().await.ok()
    }

    /// Waits until every replica in `among` names the same leader, which is
    /// among them and says it leads; returns (leader, term).
    pub async fn leader(&self, among: &[u64], timeout: Duration) -> (u64, u64) {
        let deadline = Instant::now() + timeout;
        loop {
            let mut seen = Vec::new();
            for id in among {
                if let Some(s) = self.status(*id).await {
                    seen.push((s["leader"].as_u64(), s["term"].as_u64(), s["state"].clone()));
                }
            }
            if seen.len() == among.len()
                && let Some((Some(leader), Some(term), _)) = seen.first().cloned()
                && among.contains(&leader)
                && seen
                    .iter()
                    .all(|(l, t, _)| *l == Some(leader) && *t == Some(term))
                && self
                    .status(leader)
                    .await
                    .is_some_and(|s| s["state"] == "Leader")
            {
                return (leader, term);
            }
            assert!(
                Instant::now() < deadline,
                "no agreed leader among {among:?} after {timeout:?}: {seen:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

pub fn client_with(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .expect("http client")
}

/// Creates an empty config at the replica with base URL `url`; the answer's
/// status, or `None` when it does not answer.
pub async fn create(url: &str, name: &str) -> Option<u16> {
    let response = client_with(Duration::from_secs(10))
        .post(format!("{url}/api/configs"))
        .json(&serde_json::json!({"name": name, "input": ""}))
        .send()
        .await
        .ok()?;
    Some(response.status().as_u16())
}

/// Config names of a replica's `GET /api/configs` (optionally consistent).
pub async fn config_names(url: &str) -> Option<Vec<String>> {
    let value: Value = client_with(Duration::from_secs(10))
        .get(url)
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    Some(
        value
            .as_array()?
            .iter()
            .filter_map(|c| c["name"].as_str().map(str::to_owned))
            .collect(),
    )
}

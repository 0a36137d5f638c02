//! Flags of the Raft cluster a scheduler replica belongs to, checked and
//! turned into [`ClusterConfig`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::{UsageError, usage};
use crate::journal::{ClusterConfig, Compaction, Timing};

/// Shortest cluster secret accepted: it keys the HMAC of every Raft call.
pub const MIN_SECRET_LEN: usize = 16;

#[derive(Debug, clap::Args)]
pub struct ClusterArgs {
    /// This replica's id in the Raft cluster, also recorded as the actor of its leader duties.
    #[arg(long, default_value = "1", value_parser = clap::value_parser!(u64).range(1..), env = "LOGSTASH_MESOS_NODE_ID")]
    pub node_id: u64,

    /// The replicas that form the cluster on first start, `ID=HOST:PORT` comma separated,
    /// this one included; each address is that replica's --raft-listen (or --listen) as the
    /// others reach it. Omitted: a cluster of this one replica. Later changes go through
    /// /api/cluster/members.
    #[arg(
        long,
        value_name = "ID=HOST:PORT,...",
        env = "LOGSTASH_MESOS_PEERS",
        value_delimiter = ','
    )]
    pub peers: Vec<String>,

    /// File holding the secret the replicas authenticate each other's Raft calls with
    /// (at least 16 characters); required with more than one replica. It is never sent:
    /// calls carry an HMAC.
    #[arg(long, value_name = "PATH", env = "LOGSTASH_MESOS_CLUSTER_SECRET_FILE")]
    pub cluster_secret_file: Option<PathBuf>,

    /// Serve the replicas' Raft calls (`/raft/`) on this address instead of --listen, so
    /// API clients cannot starve replication. The other replicas then reach this one here:
    /// name this address in --peers and when adding the replica.
    #[arg(long, value_name = "HOST:PORT", env = "LOGSTASH_MESOS_RAFT_LISTEN")]
    pub raft_listen: Option<SocketAddr>,

    /// How long a replica being added (POST /api/cluster/members) may take to catch up
    /// with the log before it is removed again and the request fails (e.g. `20s`, `2min`).
    #[arg(long, default_value = "20s", value_parser = super::common::positive_duration, env = "LOGSTASH_MESOS_RAFT_CATCH_UP_TIMEOUT")]
    pub raft_catch_up_timeout: Duration,

    /// Raft log entries between two snapshots (tests lower it to force snapshots).
    #[arg(
        long,
        hide = true,
        default_value = "5000",
        value_parser = clap::value_parser!(u64).range(1..),
        env = "LOGSTASH_MESOS_RAFT_SNAPSHOT_EVERY"
    )]
    pub raft_snapshot_every: u64,

    /// Raft log entries kept behind the last snapshot (0: purge everything it covers).
    #[arg(
        long,
        hide = true,
        default_value = "1000",
        env = "LOGSTASH_MESOS_RAFT_KEEP_LOGS"
    )]
    pub raft_keep_logs: u64,

    /// Raft heartbeat interval in ms.
    #[arg(
        long,
        hide = true,
        default_value = "250",
        value_parser = clap::value_parser!(u64).range(1..),
        env = "LOGSTASH_MESOS_RAFT_HEARTBEAT_MS"
    )]
    pub raft_heartbeat_ms: u64,

    /// Raft election timeout range in ms, `MIN-MAX`.
    #[arg(
        long,
        hide = true,
        default_value = "1000-2000",
        env = "LOGSTASH_MESOS_RAFT_ELECTION_MS"
    )]
    pub raft_election_ms: String,
}

impl ClusterArgs {
    /// The cluster this replica belongs to; reads the secret file.
    pub fn settings(&self) -> Result<ClusterConfig, UsageError> {
        let peers = peers(&self.peers, self.node_id)?;
        let secret = match &self.cluster_secret_file {
            Some(path) => Some(secret(path)?),
            None if peers.len() > 1 => {
                return usage(
                    "--cluster-secret-file",
                    "a cluster of several replicas (--peers) needs a secret file; the replicas \
                     authenticate each other with it",
                );
            }
            None => None,
        };
        let (min, max) = election(&self.raft_election_ms)?;
        if self.raft_heartbeat_ms >= min {
            return usage(
                "--raft-heartbeat-ms",
                format!(
                    "{} must be below the election timeout's minimum {min}",
                    self.raft_heartbeat_ms
                ),
            );
        }
        Ok(ClusterConfig {
            node_id: self.node_id,
            peers,
            secret,
            timing: Timing {
                heartbeat_ms: self.raft_heartbeat_ms,
                election_min_ms: min,
                election_max_ms: max,
                catch_up_ms: u64::try_from(self.raft_catch_up_timeout.as_millis())
                    .unwrap_or(u64::MAX),
                ..Timing::default()
            },
            compaction: Compaction {
                snapshot_every: self.raft_snapshot_every,
                keep_logs: self.raft_keep_logs,
            },
            ..ClusterConfig::default()
        })
    }
}

/// `ID=HOST:PORT` entries; empty entries (a trailing comma) are skipped,
/// since they name nothing.
fn peers(entries: &[String], node_id: u64) -> Result<BTreeMap<u64, String>, UsageError> {
    const FLAG: &str = "--peers";
    let mut peers = BTreeMap::new();
    for peer in entries.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
        let Some((id, addr)) = peer.split_once('=') else {
            return usage(FLAG, format!("entry {peer:?} must be ID=HOST:PORT"));
        };
        let id: u64 = match id.trim().parse() {
            Ok(id) if id > 0 => id,
            _ => {
                return usage(
                    FLAG,
                    format!("entry {peer:?}: the id must be a number from 1"),
                );
            }
        };
        let addr = addr.trim();
        if addr
            .rsplit_once(':')
            .is_none_or(|(host, port)| host.is_empty() || port.parse::<u16>().is_err())
        {
            return usage(
                FLAG,
                format!("entry {peer:?}: the address must be HOST:PORT"),
            );
        }
        if peers.insert(id, addr.to_owned()).is_some() {
            return usage(FLAG, format!("replica {id} is named twice"));
        }
    }
    if !peers.is_empty() && !peers.contains_key(&node_id) {
        return usage(
            FLAG,
            format!("the list must include this replica (--node-id {node_id})"),
        );
    }
    Ok(peers)
}

fn secret(path: &std::path::Path) -> Result<String, UsageError> {
    const FLAG: &str = "--cluster-secret-file";
    let secret = match std::fs::read_to_string(path) {
        Ok(text) => text.trim().to_owned(),
        Err(e) => return usage(FLAG, format!("cannot read {}: {e}", path.display())),
    };
    if secret.chars().count() < MIN_SECRET_LEN {
        return usage(
            FLAG,
            format!(
                "the secret in {} is shorter than {MIN_SECRET_LEN} characters",
                path.display()
            ),
        );
    }
    Ok(secret)
}

fn election(range: &str) -> Result<(u64, u64), UsageError> {
    let parsed = range
        .split_once('-')
        .and_then(|(a, b)| Some((a.trim().parse::<u64>().ok()?, b.trim().parse::<u64>().ok()?)));
    match parsed {
        Some((min, max)) if 0 < min && min < max => Ok((min, max)),
        _ => usage(
            "--raft-election-ms",
            format!("{range:?} must be MIN-MAX in milliseconds, with 0 < MIN < MAX"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        cluster: ClusterArgs,
    }

    fn args(flags: &[&str]) -> ClusterArgs {
        Cli::try_parse_from(std::iter::once("x").chain(flags.iter().copied()))
            .unwrap()
            .cluster
    }

    fn refused(flags: &[&str]) -> UsageError {
        args(flags).settings().expect_err("refused")
    }

    fn secret_file(text: &str) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), text).unwrap();
        file
    }

    #[test]
    fn defaults_are_a_cluster_of_one_without_a_secret() {
        let config = args(&[]).settings().unwrap();
        assert_eq!(config.node_id, 1);
        assert!(config.peers.is_empty());
        assert_eq!(config.secret, None);
        assert_eq!(
            (config.timing.election_min_ms, config.timing.election_max_ms),
            (1000, 2000)
        );
        assert_eq!(config.timing.catch_up_ms, 20_000);
    }

    #[test]
    fn peers_and_secret_become_the_cluster() {
        let secret = secret_file("  0123456789abcdef-secret\n");
        let path = secret.path().to_str().unwrap();
        let config = args(&[
            "--node-id",
            "2",
            "--peers",
            "1=a:9092,2=b:9092, 3 = c:1 ,",
            "--cluster-secret-file",
            path,
            "--raft-catch-up-timeout",
            "2min",
        ])
        .settings()
        .unwrap();
        assert_eq!(
            config.peers.into_iter().collect::<Vec<_>>(),
            vec![
                (1, "a:9092".to_owned()),
                (2, "b:9092".to_owned()),
                (3, "c:1".to_owned())
            ]
        );
        assert_eq!(config.secret.as_deref(), Some("0123456789abcdef-secret"));
        assert_eq!(config.timing.catch_up_ms, 120_000);
    }

    #[test]
    fn malformed_peer_lists_name_the_flag() {
        for (peers, problem) in [
            ("1", "must be ID=HOST:PORT"),
            ("x=a:1", "the id must be a number"),
            ("0=a:1", "the id must be a number"),
            ("1=a", "HOST:PORT"),
            ("1=:80", "HOST:PORT"),
            ("1=a:99999", "HOST:PORT"),
            ("1=a:1,1=b:1", "named twice"),
            ("2=a:1", "must include this replica"),
        ] {
            let e = refused(&["--peers", peers]);
            assert_eq!(e.flag, "--peers", "{peers}");
            assert!(e.problem.contains(problem), "{peers}: {e}");
        }
    }

    #[test]
    fn the_secret_must_be_readable_long_enough_and_present_for_several_replicas() {
        let e = refused(&["--peers", "1=a:1,2=b:1"]);
        assert_eq!(e.flag, "--cluster-secret-file");
        let short = secret_file("short\n");
        let e = refused(&["--cluster-secret-file", short.path().to_str().unwrap()]);
        assert_eq!(e.flag, "--cluster-secret-file");
        assert!(e.problem.contains("shorter than 16"), "{e}");
        let e = refused(&["--cluster-secret-file", "/nonexistent/secret"]);
        assert_eq!(e.flag, "--cluster-secret-file");
        assert!(e.problem.contains("cannot read"), "{e}");
    }

    #[test]
    fn raft_timing_must_be_consistent() {
        for range in ["1000", "a-b", "2000-1000", "0-10", "5-5"] {
            assert_eq!(
                refused(&["--raft-election-ms", range]).flag,
                "--raft-election-ms"
            );
        }
        let e = refused(&["--raft-heartbeat-ms", "1000"]);
        assert_eq!(e.flag, "--raft-heartbeat-ms");
    }
}

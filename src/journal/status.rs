//! What one replica tells about the cluster (`GET /api/cluster`): its Raft
//! state and the members, with their lag as the leader knows it.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Journal;
use super::types::{Forward, ForwardAnswer, NodeId};

/// The cluster as one replica sees it (`GET /api/cluster`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterStatus {
    pub id: NodeId,
    /// `Leader`, `Follower`, `Candidate`, `Learner` or `Shutdown`.
    pub state: String,
    pub leader: Option<NodeId>,
    pub term: u64,
    pub last_log_index: Option<u64>,
    pub commit_index: Option<u64>,
    pub applied_index: Option<u64>,
    pub snapshot_index: Option<u64>,
    pub purged_index: Option<u64>,
    /// Seq of the last event in this replica's history.
    pub last_seq: u64,
    pub members: Vec<Member>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Member {
    pub id: NodeId,
    pub addr: String,
    pub voter: bool,
    /// Highest log index known to be on the member (known on the leader only).
    pub matched_index: Option<u64>,
    /// Log entries the member is behind the leader (known on the leader only).
    pub lag: Option<u64>,
}

impl Journal {
    /// This replica's view of the cluster, with the member lags from the
    /// leader (only it tracks them) when it answers within a second.
    pub async fn cluster_status(&self) -> ClusterStatus {
        let mut status = self.local_status().await;
        if let Some((leader, addr)) = self.known_leader()
            && leader != self.id
            && let Ok(ForwardAnswer::Status(view)) = self
                .forward(leader, &addr, &Forward::Status, Duration::from_secs(1))
                .await
        {
            status.members = view.members;
        }
        status
    }

    pub(super) async fn local_status(&self) -> ClusterStatus {
        let committed = self
            .raft
            .with_raft_state(|s| s.committed.map(|l| l.index))
            .await
            .ok()
            .flatten();
        let metrics = self.raft.metrics();
        let m = metrics.borrow().clone();
        let membership = m.membership_config.membership();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let last = m.last_log_index;
        let members = membership
            .nodes()
            .map(|(id, node)| {
                let matched = match &m.replication {
                    Some(replication) if *id != m.id => {
                        replication.get(id).map(|l| l.map_or(0, |l| l.index))
                    }
                    Some(_) => last,
                    None => None,
                };
                Member {
                    id: *id,
                    addr: node.addr.clone(),
                    voter: voters.contains(id),
                    matched_index: matched,
                    lag: matched.map(|i| last.unwrap_or(0).saturating_sub(i)),
                }
            })
            .collect();
        ClusterStatus {
            id: m.id,
            state: format!("{:?}", m.state),
            leader: m.current_leader,
            term: m.current_term,
            last_log_index: m.last_log_index,
            commit_index: committed,
            applied_index: m.last_applied.map(|l| l.index),
            snapshot_index: m.snapshot.map(|l| l.index),
            purged_index: m.purged.map(|l| l.index),
            last_seq: self.last_seq(),
            members,
        }
    }
}

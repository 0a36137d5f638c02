//! Pre-vote, which openraft 0.9 lacks, as a gate on its elections.
//!
//! Without it a replica that was cut off or paused (SIGSTOP, a long GC-like
//! stall, a partition) campaigns as soon as it runs again: it raises its
//! term, answers the leader's next heartbeat with that higher term, and the
//! healthy leader steps down. The cluster loses its leader for an election
//! for nothing (observed: term 2 → 4 after a follower paused for 4 s).
//!
//! So elections are off (`RuntimeConfig::elect(false)`) unless this replica
//! has heard from no leader for an election timeout *and* a majority of the
//! voters, asked over `/raft/forward`, say the same of themselves. A leader
//! that is alive keeps every follower's gate shut; when it dies the
//! followers' gates open long before openraft's own timer (leader lease plus
//! election timeout) fires, so failover is not slower.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::network::{FORWARD_PATH, Peers};
use super::types::{Forward, ForwardAnswer, NodeId, Raft};

/// How often the gate is re-evaluated.
const CHECK_EVERY: Duration = Duration::from_millis(100);

/// Whether this replica has heard from a leader within `quiet_after`
/// (a leader counts itself while a quorum acknowledges it).
pub async fn hears_a_leader(raft: &Raft, quiet_after: Duration) -> bool {
    let leader_known = raft.metrics().borrow().current_leader.is_some();
    let recent = raft
        .with_raft_state(move |s| {
            s.vote_ref().is_committed()
                && s.vote_last_modified()
                    .is_some_and(|t| t.elapsed() <= quiet_after)
        })
        .await
        .unwrap_or(false);
    leader_known && recent
}

/// Keeps openraft's elections gated until the process stops.
pub fn spawn(raft: Raft, peers: Peers, id: NodeId, stop: CancellationToken) {
    let quiet_after = Duration::from_millis(raft.config().election_timeout_min);
    let ask_timeout = Duration::from_millis(raft.config().election_timeout_min / 2);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(CHECK_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut open = true;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            let voters: BTreeMap<NodeId, String> = {
                let metrics = raft.metrics();
                let m = metrics.borrow();
                let membership = m.membership_config.membership();
                membership
                    .voter_ids()
                    .filter_map(|v| membership.get_node(&v).map(|n| (v, n.addr.clone())))
                    .collect()
            };
            let allow = if voters.len() <= 1 || !voters.contains_key(&id) {
                // Alone there is nobody to disturb; a learner never campaigns.
                true
            } else if hears_a_leader(&raft, quiet_after).await {
                false
            } else {
                let asks = voters.iter().filter(|(v, _)| **v != id).map(|(_, addr)| {
                    let peers = peers.clone();
                    async move {
                        matches!(
                            peers
                                .call(addr, FORWARD_PATH, &Forward::PreVote, ask_timeout)
                                .await,
                            Ok(ForwardAnswer::PreVote(true))
                        )
                    }
                });
                let granted = 1 + futures::future::join_all(asks)
                    .await
                    .into_iter()
                    .filter(|g| *g)
                    .count();
                granted * 2 > voters.len()
            };
            if allow != open {
                tracing::debug!(allow, "election gate");
                raft.runtime_config().elect(allow);
                open = allow;
            }
        }
    });
}

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

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::log_store::LogStore;
use super::network::{FORWARD_PATH, Peers};
use super::types::{Forward, ForwardAnswer, LogId, NodeId, Raft};

/// How often the gate is re-evaluated.
const CHECK_EVERY: Duration = Duration::from_millis(100);

/// One replica's answer to "has the leader gone?".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct View {
    /// It has heard from no leader for an election timeout: it would vote.
    pub grant: bool,
    /// How long since it last heard from a leader (or voted), in ms.
    pub quiet_ms: u64,
    /// Its last log id: the replica with the most complete log should
    /// campaign first, so the others can grant it their votes.
    pub last_log: Option<LogId>,
}

/// This replica's [`View`].
pub async fn view(raft: &Raft, log: &LogStore, quiet_after: Duration) -> View {
    let leader_known = raft.metrics().borrow().current_leader.is_some();
    let (committed, quiet) = raft
        .with_raft_state(|s| {
            (
                s.vote_ref().is_committed(),
                s.vote_last_modified().map(|t| t.elapsed()),
            )
        })
        .await
        .unwrap_or((false, None));
    let quiet = quiet.unwrap_or(Duration::MAX);
    let grant = !(leader_known && committed && quiet <= quiet_after);
    View {
        grant,
        quiet_ms: u64::try_from(quiet.as_millis()).unwrap_or(u64::MAX),
        // Only wanted while the leader is missing; it reads the last entry.
        last_log: if grant { log.last_log_id() } else { None },
    }
}

/// Keeps openraft's elections gated until the process stops. Once a
/// majority agrees the leader is gone and every one of them is past the
/// leader lease (so they will grant votes), the replica with the most
/// complete log among them (lowest id on a tie) starts the election at once:
/// no waiting for a random timeout, and no split vote between survivors
/// that time out together.
pub fn spawn(raft: Raft, log: LogStore, peers: Peers, id: NodeId, stop: CancellationToken) {
    let config = raft.config().clone();
    let quiet_after = Duration::from_millis(config.election_timeout_min);
    let lease_over = config.election_timeout_max + 100;
    let ask_timeout = Duration::from_millis(config.election_timeout_min / 2);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(CHECK_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut open = true;
        let mut campaigned: Option<Instant> = None;
        let mut metrics = raft.metrics();
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
                changed = metrics.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    // Shut the gate the moment a leader is heard of, not at
                    // the next tick: a replica paused while it is open would
                    // campaign as soon as it runs again.
                    let leader_known = {
                        let m = metrics.borrow_and_update();
                        let voters: Vec<NodeId> = m.membership_config.membership().voter_ids().collect();
                        m.current_leader.is_some() && voters.len() > 1 && voters.contains(&id)
                    };
                    if open && leader_known && !view(&raft, &log, quiet_after).await.grant {
                        raft.runtime_config().elect(false);
                        open = false;
                    }
                    continue;
                }
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
            let me = view(&raft, &log, quiet_after).await;
            let allow = if voters.len() <= 1 || !voters.contains_key(&id) {
                // Alone there is nobody to disturb; a learner never campaigns.
                true
            } else if !me.grant {
                false
            } else {
                let asks = voters.iter().filter(|(v, _)| **v != id).map(|(v, addr)| {
                    let peers = peers.clone();
                    async move {
                        match peers
                            .call(*v, addr, FORWARD_PATH, &Forward::PreVote, ask_timeout)
                            .await
                        {
                            Ok(ForwardAnswer::PreVote(view)) if view.grant => Some((*v, view)),
                            _ => None,
                        }
                    }
                });
                let granted: Vec<(NodeId, View)> = futures::future::join_all(asks)
                    .await
                    .into_iter()
                    .flatten()
                    .collect();
                let majority = (granted.len() + 1) * 2 > voters.len();
                let preferred = std::iter::once((id, me))
                    .chain(granted.iter().copied())
                    .max_by_key(|(v, view)| (view.last_log, Reverse(*v)))
                    .map(|(v, _)| v);
                let all_past_lease = me.quiet_ms >= lease_over
                    && granted.iter().all(|(_, view)| view.quiet_ms >= lease_over);
                let due = campaigned.is_none_or(|t| {
                    t.elapsed() >= Duration::from_millis(config.election_timeout_max)
                });
                if majority && preferred == Some(id) && all_past_lease && due {
                    tracing::info!(quiet_ms = me.quiet_ms, "the leader is gone: campaigning");
                    campaigned = Some(Instant::now());
                    if let Err(e) = raft.trigger().elect().await {
                        tracing::warn!(error = %e, "cannot start an election");
                    }
                }
                majority
            };
            if allow != open {
                tracing::debug!(allow, "election gate");
                raft.runtime_config().elect(allow);
                open = allow;
            }
        }
    });
}

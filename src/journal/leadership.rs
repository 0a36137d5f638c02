//! Who leads, as the rest of the system needs to know it: the leader's
//! duties (the Mesos loop, the configuration directory) run only while this
//! replica is [`Leadership::leading`], and stop before another replica can
//! have been elected.

use std::time::{Duration, Instant};

use openraft::ServerState;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::Journal;
use super::types::{NodeId, Raft};

/// This replica's view of who leads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Leadership {
    /// The leader this replica knows of.
    pub leader: Option<NodeId>,
    pub term: u64,
    /// This replica is the leader and heard from a quorum recently, so no
    /// other replica can have been elected meanwhile.
    pub leading: bool,
    /// This replica is the leader but has not heard from a quorum for longer
    /// than an election timeout: writes here cannot commit.
    pub quorum_lost: bool,
}

impl Journal {
    /// Follows who leads; see [`Leadership`].
    pub fn leadership(&self) -> watch::Receiver<Leadership> {
        self.leadership.clone()
    }
}

/// Maps Raft metrics to [`Leadership`]. A leader that has not heard from a
/// quorum for the leader lease less one heartbeat stops `leading`: the
/// followers it lost grant no vote before their lease (counted from their
/// last heartbeat, which is older than the leader's last acknowledgement)
/// has passed, so it stands down before another can be elected.
pub(super) fn spawn_leadership_watch(
    raft: &Raft,
    id: NodeId,
    stop: CancellationToken,
) -> watch::Receiver<Leadership> {
    let mut metrics = raft.metrics();
    let stale_after = Duration::from_millis(
        raft.config()
            .election_timeout_max
            .saturating_sub(raft.config().heartbeat_interval),
    );
    let (tx, rx) = watch::channel(Leadership::default());
    tokio::spawn(async move {
        let mut quorum_at: Option<Instant> = None;
        let mut leader_since: Option<Instant> = None;
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                changed = metrics.changed() => if changed.is_err() { return },
                _ = tick.tick() => {}
            }
            let now = Instant::now();
            let m = metrics.borrow_and_update().clone();
            let is_leader = m.state == ServerState::Leader && m.current_leader == Some(id);
            let single = m.membership_config.membership().voter_ids().count() <= 1;
            if let (true, Some(ms)) = (is_leader, m.millis_since_quorum_ack) {
                let at = now.checked_sub(Duration::from_millis(ms)).unwrap_or(now);
                quorum_at = Some(quorum_at.map_or(at, |q| q.max(at)));
            }
            if is_leader {
                leader_since.get_or_insert(now);
            } else {
                quorum_at = None;
                leader_since = None;
            }
            let fresh = quorum_at.is_some_and(|q| now.duration_since(q) <= stale_after);
            let heard = quorum_at.max(leader_since);
            let next = Leadership {
                leader: m.current_leader,
                term: m.current_term,
                leading: is_leader && (single || fresh),
                quorum_lost: is_leader
                    && !single
                    && heard.is_some_and(|h| now.duration_since(h) > stale_after),
            };
            tx.send_if_modified(|current| {
                if (current.leader, current.term) != (next.leader, next.term) {
                    tracing::info!(leader = ?next.leader, term = next.term, "raft leader");
                }
                if current.quorum_lost != next.quorum_lost {
                    tracing::warn!(quorum_lost = next.quorum_lost, "leader's quorum");
                }
                let changed = *current != next;
                *current = next;
                changed
            });
        }
    });
    rx
}

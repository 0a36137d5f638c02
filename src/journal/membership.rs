//! Adding and removing replicas, on the leader, so that no change can cost
//! the cluster its quorum.
//!
//! A new replica must first prove, at the address given, that it holds the
//! cluster secret and is the replica it is said to be (`/raft/hello`: the
//! leader's call and the replica's answer are both signed, so neither side
//! reveals the secret). It then joins as a learner, which does not count
//! towards the quorum, and becomes a voter only once it holds the log as it
//! was when it joined. If it does not get there within the catch-up timeout,
//! it is removed again and the caller is told why. Removing needs only a
//! quorum of the remaining voters, so a dead replica can always be removed.
//!
//! A change runs in a task of its own, one at a time: a caller that gives up
//! (an HTTP timeout) never leaves a half-added replica behind.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{ClientWriteError, RaftError};
use openraft::{BasicNode, ChangeMembers};

use super::network::{HELLO_PATH, PeerError, Peers};
use super::types::{Forward, ForwardAnswer, Hello, NodeId, Raft};
use super::{Journal, MembershipError, REMOVE_DEADLINE};

/// How long a replica to be added has to answer who it is.
const HELLO_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one membership entry may take to commit; with a quorum it takes
/// milliseconds.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(10);

/// The leader's membership changes.
#[derive(Clone)]
pub struct Members {
    raft: Raft,
    peers: Peers,
    catch_up: Duration,
    one_at_a_time: Arc<tokio::sync::Mutex<()>>,
}

/// What the leader found at an address (see [`check_hello`]).
fn check_hello(
    id: NodeId,
    addr: &str,
    answer: Result<Hello, PeerError>,
) -> Result<(), MembershipError> {
    match answer {
        Ok(Hello { id: found }) if found == id => Ok(()),
        Ok(Hello { id: found }) => Err(MembershipError::Refused(format!(
            "the replica at {addr} is replica {found}, not {id}; start it as replica {id} \
             or add it as {found}"
        ))),
        Err(PeerError::Unreachable { reason, .. }) => Err(MembershipError::Refused(format!(
            "nothing answers as a replica at {addr}: {reason}"
        ))),
        Err(e @ PeerError::NotAuthenticated { .. }) => Err(MembershipError::Refused(format!(
            "{e}; start it with this cluster's secret"
        ))),
        Err(PeerError::Misdirected { reason, .. }) => Err(MembershipError::Refused(format!(
            "the replica at {addr} is not replica {id} ({reason}); start it as replica {id}"
        ))),
        Err(PeerError::Failed { reason, .. }) => Err(MembershipError::Refused(format!(
            "the replica at {addr} did not answer as a replica: {reason}"
        ))),
    }
}

/// Whether a learner that holds the log up to `matched` has caught up with
/// the log as it was (`target`) when it joined.
fn caught_up(matched: Option<u64>, target: u64) -> bool {
    matched.is_some_and(|m| m >= target)
}

impl Members {
    pub fn new(raft: Raft, peers: Peers, catch_up: Duration) -> Members {
        Members {
            raft,
            peers,
            catch_up,
            one_at_a_time: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// How long an add may take at most, for callers that wait for it.
    pub fn add_deadline(&self) -> Duration {
        HELLO_TIMEOUT + self.catch_up + 3 * COMMIT_TIMEOUT
    }

    /// Adds replica `id` at `addr` (see the module documentation).
    pub async fn add(&self, id: NodeId, addr: String) -> Result<(), MembershipError> {
        let this = self.clone();
        tokio::spawn(async move { this.add_now(id, addr).await })
            .await
            .unwrap_or_else(|e| Err(MembershipError::Refused(format!("the change failed: {e}"))))
    }

    /// Removes replica `id`, voter or learner, reachable or not.
    pub async fn remove(&self, id: NodeId) -> Result<(), MembershipError> {
        let this = self.clone();
        tokio::spawn(async move { this.remove_now(id).await })
            .await
            .unwrap_or_else(|e| Err(MembershipError::Refused(format!("the change failed: {e}"))))
    }

    fn membership(&self) -> (BTreeSet<NodeId>, Vec<(NodeId, String)>) {
        let metrics = self.raft.metrics();
        let m = metrics.borrow();
        let membership = m.membership_config.membership();
        (
            membership.voter_ids().collect(),
            membership
                .nodes()
                .map(|(id, node)| (*id, node.addr.clone()))
                .collect(),
        )
    }

    async fn add_now(&self, id: NodeId, addr: String) -> Result<(), MembershipError> {
        let _changing = self.one_at_a_time.lock().await;
        let (voters, nodes) = self.membership();
        if voters.contains(&id) {
            return Err(MembershipError::Refused(format!(
                "replica {id} is a voter already"
            )));
        }
        if let Some((other, _)) = nodes.iter().find(|(n, a)| *a == addr && *n != id) {
            return Err(MembershipError::Refused(format!(
                "{addr} is the address of replica {other}"
            )));
        }
        if let Some((_, known)) = nodes.iter().find(|(n, a)| *n == id && *a != addr) {
            return Err(MembershipError::Refused(format!(
                "replica {id} is a learner at {known}; remove it first"
            )));
        }
        let answer = self
            .peers
            .call(id, &addr, HELLO_PATH, &(), HELLO_TIMEOUT)
            .await;
        check_hello(id, &addr, answer)?;

        self.commit(self.raft.add_learner(id, BasicNode::new(&addr), false))
            .await?;
        let target = self.raft.metrics().borrow().last_log_index.unwrap_or(0);
        let joined = self
            .raft
            .wait(Some(self.catch_up))
            .metrics(
                |m| {
                    caught_up(
                        m.replication
                            .as_ref()
                            .and_then(|r| r.get(&id))
                            .map(|l| l.map_or(0, |l| l.index)),
                        target,
                    )
                },
                "the new replica catching up",
            )
            .await;
        if joined.is_err() {
            let matched = self
                .raft
                .metrics()
                .borrow()
                .replication
                .as_ref()
                .and_then(|r| r.get(&id).copied())
                .flatten()
                .map_or(0, |l| l.index);
            let removed = self
                .commit(
                    self.raft
                        .change_membership(ChangeMembers::RemoveNodes(BTreeSet::from([id])), false),
                )
                .await;
            let after = match removed {
                Ok(()) => "it was removed again".to_owned(),
                Err(e) => format!("removing it again failed ({e}); remove it by hand"),
            };
            tracing::warn!(id, %addr, matched, target, "a new replica did not catch up");
            return Err(MembershipError::Refused(format!(
                "replica {id} at {addr} did not catch up within {}s (it holds log index {matched} \
                 of {target}); {after}",
                self.catch_up.as_secs_f64()
            )));
        }
        self.commit(
            self.raft
                .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), false),
        )
        .await?;
        tracing::info!(id, %addr, "replica added");
        Ok(())
    }

    async fn remove_now(&self, id: NodeId) -> Result<(), MembershipError> {
        let _changing = self.one_at_a_time.lock().await;
        let (voters, nodes) = self.membership();
        let change = if voters.contains(&id) {
            let rest: BTreeSet<NodeId> = voters.into_iter().filter(|v| *v != id).collect();
            if rest.is_empty() {
                return Err(MembershipError::Refused(
                    "the last voter cannot be removed".into(),
                ));
            }
            ChangeMembers::ReplaceAllVoters(rest)
        } else if nodes.iter().any(|(n, _)| *n == id) {
            ChangeMembers::RemoveNodes(BTreeSet::from([id]))
        } else {
            return Err(MembershipError::Refused(format!(
                "replica {id} is not a member"
            )));
        };
        self.commit(self.raft.change_membership(change, false))
            .await?;
        tracing::info!(id, "replica removed");
        Ok(())
    }

    /// Waits for a membership change to commit, at most [`COMMIT_TIMEOUT`].
    async fn commit<T>(
        &self,
        change: impl Future<Output = Result<T, RaftError<NodeId, ClientWriteError<NodeId, BasicNode>>>>,
    ) -> Result<(), MembershipError> {
        match tokio::time::timeout(COMMIT_TIMEOUT, change).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(e)))) => {
                Err(MembershipError::Refused(e.to_string()))
            }
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_)))) => {
                Err(MembershipError::Unavailable { leader_hint: None })
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "membership change failed");
                Err(MembershipError::Unavailable { leader_hint: None })
            }
            Err(_) => {
                tracing::warn!("a membership change was not committed in time: no quorum?");
                Err(MembershipError::Unavailable { leader_hint: None })
            }
        }
    }
}

impl Journal {
    /// Adds a replica: it must hold the cluster secret and answer as `id`
    /// at `addr`, joins as a learner and becomes a voter once it caught up
    /// (see `membership`). Runs on the leader; a follower forwards it.
    pub async fn add_member(&self, id: NodeId, addr: String) -> Result<(), MembershipError> {
        if self.key.is_none() {
            return Err(MembershipError::Refused(
                "this cluster runs without a cluster secret; restart its replicas with a cluster secret first".into(),
            ));
        }
        if self.shared.legacy_pending() {
            return Err(MembershipError::Refused(
                "the history from before replication is not in a snapshot yet; restart this replica alone to convert it".into(),
            ));
        }
        let deadline = self.members.add_deadline();
        self.membership_call(Forward::AddMember { id, addr }, deadline)
            .await
    }

    /// Removes a replica (voter or learner), also while it is unreachable.
    pub async fn remove_member(&self, id: NodeId) -> Result<(), MembershipError> {
        self.membership_call(Forward::RemoveMember { id }, REMOVE_DEADLINE)
            .await
    }

    async fn membership_call(
        &self,
        call: Forward,
        deadline: Duration,
    ) -> Result<(), MembershipError> {
        let answer = match self.known_leader() {
            None => {
                return Err(MembershipError::Unavailable { leader_hint: None });
            }
            Some((leader, _)) if leader == self.id => self.answer_forward(call).await,
            Some((leader, addr)) => {
                self.forward(leader, &addr, &call, deadline)
                    .await
                    .map_err(|_| MembershipError::Unavailable {
                        leader_hint: self.hint(&addr),
                    })?
            }
        };
        match answer {
            ForwardAnswer::Done => Ok(()),
            ForwardAnswer::Refused(reason) => Err(MembershipError::Refused(reason)),
            ForwardAnswer::NotLeader { leader } => Err(MembershipError::Unavailable {
                leader_hint: leader.and_then(|(_, addr)| self.hint(&addr)),
            }),
            _ => Err(MembershipError::Unavailable { leader_hint: None }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(r: Result<(), MembershipError>) -> String {
        match r {
            Err(MembershipError::Refused(reason)) => reason,
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn only_the_replica_with_the_secret_and_the_id_passes() {
        let addr = "10.0.0.4:9092";
        assert!(check_hello(4, addr, Ok(Hello { id: 4 })).is_ok());
        assert!(refused(check_hello(4, addr, Ok(Hello { id: 5 }))).contains("is replica 5, not 4"));
        let silent = PeerError::Unreachable {
            addr: addr.into(),
            reason: "timed out".into(),
        };
        assert!(refused(check_hello(4, addr, Err(silent))).contains("nothing answers"));
        let stranger = PeerError::NotAuthenticated {
            addr: addr.into(),
            reason: "it answered 401".into(),
        };
        assert!(refused(check_hello(4, addr, Err(stranger))).contains("secret"));
        let other = PeerError::Misdirected {
            addr: addr.into(),
            reason: "the call is for replica 4; this is replica 5".into(),
        };
        assert!(refused(check_hello(4, addr, Err(other))).contains("this is replica 5"));
        let web = PeerError::Failed {
            addr: addr.into(),
            reason: "404".into(),
        };
        assert!(refused(check_hello(4, addr, Err(web))).contains("did not answer as a replica"));
    }

    #[test]
    fn a_learner_has_caught_up_once_it_holds_the_log_as_it_joined() {
        assert!(!caught_up(None, 0));
        assert!(caught_up(Some(0), 0));
        assert!(!caught_up(Some(9), 10));
        assert!(caught_up(Some(10), 10));
        assert!(caught_up(Some(11), 10));
    }
}

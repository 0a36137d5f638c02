//! Where writes and reads go: a write reaches the leader (locally, or
//! forwarded by a follower), which admits it (`admit`: the validation rules,
//! its tokens and host policy) and hands it to the `proposer`; a follower's
//! consistent read waits for the leader's read index. Both retry through
//! [`Journal::until_deadline`] while the leader is unknown or changing.
//!
//! Owns the leader's side of forwarded calls (`answer_forward`). Must not
//! decide anything about the state: that is `state::decide`, on every
//! replica.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::events::{Actor, Command, Envelope, Proposal};
use crate::state::{self, HostPathPolicy, Rejection};

use super::network::{FORWARD_PATH, PeerError};
use super::proposer::Proposed;
use super::types::{Forward, ForwardAnswer, NodeId, Request, Response};
use super::{Journal, MembershipError, SubmitError, WRITE_DEADLINE, prevote};
use crate::backoff::Backoff;
use crate::events::time::now_millis;

/// What the leader checks, beyond the validation rules every replica
/// applies, before it proposes a write: things that depend on its own
/// configuration, which the decide step must not read.
#[derive(Debug, Clone, Default)]
pub struct Admission {
    /// The labels of the API tokens (only `anonymous` when the API runs
    /// without tokens): an `api:` actor must be one of them. Followers
    /// authenticate API clients and forward the label; the leader accepts
    /// only labels its own tokens have, so every replica needs the same
    /// tokens. `None` admits any well-formed label (a journal without an API).
    pub api_labels: Option<BTreeSet<String>>,
    /// Where host configs may read files on the agents (`--host-path-allow`).
    pub host_paths: Option<HostPathPolicy>,
}

/// One attempt of a call that [`Journal::until_deadline`] retries.
enum Attempt<T> {
    Done(Result<T, SubmitError>),
    /// Not now (no leader known, an election, a failed forward): try again,
    /// and name this replica as where to retry if time runs out.
    Again {
        hint: Option<String>,
    },
}

impl Journal {
    /// Has the leader admit a command, replicates it and returns the events
    /// it produced (none when it changed nothing), or why it was rejected.
    pub async fn submit(
        &self,
        actor: Actor,
        command: Command,
    ) -> Result<Vec<Envelope>, SubmitError> {
        let request = Request {
            id: rand::random(),
            proposal: Proposal {
                at: now_millis(),
                actor,
                command,
            },
        };
        let Response(result) = self.propose(request).await?;
        result.map_err(SubmitError::Rejected)
    }

    /// Writes through the leader: locally when this replica leads, else
    /// forwarded, retrying with the same request id (the state machine
    /// answers a repeat with the first outcome) until the deadline.
    pub(super) async fn propose(&self, request: Request) -> Result<Response, SubmitError> {
        let request = &request;
        self.until_deadline(move |remaining| async move {
            match self.known_leader() {
                Some((leader, addr)) if leader == self.id => {
                    if self.leadership.borrow().quorum_lost {
                        // Leader without a quorum: the others are gone or
                        // electing; waiting would only delay the answer.
                        return Attempt::Done(Err(SubmitError::Unavailable { leader_hint: None }));
                    }
                    let admitted = match self.admit(request.clone()) {
                        Ok(admitted) => admitted,
                        Err(rejection) => return Attempt::Done(Err(rejection.into())),
                    };
                    let proposed =
                        tokio::time::timeout(remaining, self.proposer.propose(admitted)).await;
                    match proposed {
                        Ok(Proposed::Written { response, .. }) => Attempt::Done(Ok(response)),
                        Ok(Proposed::NotLeader) => Attempt::Again { hint: None },
                        Ok(Proposed::Unavailable(_)) => {
                            Attempt::Done(Err(SubmitError::Unavailable { leader_hint: None }))
                        }
                        Err(_) => Attempt::Done(Err(SubmitError::Unavailable {
                            leader_hint: self.hint(&addr),
                        })),
                    }
                }
                Some((leader, addr)) => {
                    let hint = self.hint(&addr);
                    let started = Instant::now();
                    let answer = self
                        .forward(leader, &addr, &Forward::Write(request.clone()), remaining)
                        .await;
                    match answer {
                        Ok(ForwardAnswer::Written(response, index)) => {
                            // Read your writes: the caller reads this replica's
                            // projections next.
                            let left = remaining.saturating_sub(started.elapsed());
                            let applied = self
                                .raft
                                .wait(Some(left.max(Duration::from_secs(1))))
                                .applied_index_at_least(Some(index), "forwarded write")
                                .await;
                            if applied.is_err() {
                                tracing::warn!(
                                    index,
                                    "a forwarded write is committed but not yet applied here"
                                );
                            }
                            Attempt::Done(Ok(response))
                        }
                        Ok(ForwardAnswer::Rejected(rejection)) => {
                            Attempt::Done(Err(rejection.into()))
                        }
                        Ok(other) => {
                            tracing::debug!(?other, "forwarded write not done; retrying");
                            Attempt::Again { hint }
                        }
                        Err(e) => {
                            tracing::debug!(error = %e, "forwarding a write failed; retrying");
                            Attempt::Again { hint }
                        }
                    }
                }
                None => Attempt::Again { hint: None },
            }
        })
        .await
    }

    pub(super) async fn forward(
        &self,
        leader: NodeId,
        addr: &str,
        call: &Forward,
        timeout: Duration,
    ) -> Result<ForwardAnswer, PeerError> {
        self.peers
            .call(leader, addr, FORWARD_PATH, call, timeout)
            .await
    }

    /// What the leader proposes for a request, or why it refuses it: the
    /// proposer's command checked with this build's validation rules (and
    /// wrapped with their version, whatever wrapping the proposer sent), its
    /// actor and host paths checked against the leader's configuration. The
    /// leader's own time replaces the proposer's when it is proposed (see
    /// `proposer`). A refused request never enters the Raft log; the decide
    /// step on every replica checks the admitted one again.
    pub(super) fn admit(&self, mut request: Request) -> Result<Request, Rejection> {
        let command = request.proposal.command.unchecked().clone();
        let actor = &request.proposal.actor;
        state::validate_actor(actor)?;
        self.admit_actor(actor)?;
        state::validate(&command)?;
        if let Some(policy) = &self.admission.host_paths {
            let checked = match &command {
                Command::CreateConfig { kind, input, .. } => Some((*kind, input)),
                Command::UpdateConfig { name, input } => self
                    .read(|s| s.configs.current(name).map(|c| c.kind))
                    .map(|kind| (kind, input)),
                _ => None,
            };
            if let Some((kind, input)) = checked {
                policy.check(kind, input)?;
            }
        }
        request.proposal.command = Command::Checked {
            rules: state::RULES_VERSION,
            command: Box::new(command),
        };
        Ok(request)
    }

    fn admit_actor(&self, actor: &Actor) -> Result<(), Rejection> {
        let refuse = |reason: String| {
            Err(Rejection::ActorNotAllowed {
                actor: actor.to_string(),
                reason,
            })
        };
        match actor {
            Actor::Api(label) => match &self.admission.api_labels {
                Some(labels) if !labels.contains(label) => refuse(format!(
                    "no API token of the leader (replica {}) has this label; every replica needs \
                     the same API tokens",
                    self.id
                )),
                _ => Ok(()),
            },
            Actor::Replica(id) => {
                let member = {
                    let metrics = self.raft.metrics();
                    let m = metrics.borrow();
                    m.membership_config.membership().get_node(id).is_some()
                };
                if member {
                    Ok(())
                } else {
                    refuse(format!("replica {id} is not a member of this cluster"))
                }
            }
            Actor::ConfigDir | Actor::Executor(_) | Actor::System => Ok(()),
        }
    }

    /// The leader's answer to a call forwarded by a follower.
    pub(super) async fn answer_forward(&self, call: Forward) -> ForwardAnswer {
        let not_leader = || ForwardAnswer::NotLeader {
            leader: self.known_leader(),
        };
        let leading = self.known_leader().map(|(id, _)| id) == Some(self.id);
        match call {
            // Any replica answers these two.
            Forward::PreVote => {
                let quiet_after = Duration::from_millis(self.raft.config().election_timeout_min);
                ForwardAnswer::PreVote(prevote::view(&self.raft, &self.log, quiet_after).await)
            }
            Forward::Status => ForwardAnswer::Status(self.local_status().await),
            _ if !leading => not_leader(),
            Forward::Write(request) => {
                let request = match self.admit(request) {
                    Ok(request) => request,
                    Err(rejection) => return ForwardAnswer::Rejected(rejection),
                };
                match self.proposer.propose(request).await {
                    Proposed::Written { response, index } => {
                        ForwardAnswer::Written(response, index)
                    }
                    Proposed::NotLeader => not_leader(),
                    Proposed::Unavailable(why) => ForwardAnswer::Unavailable(why),
                }
            }
            Forward::ReadIndex => {
                match tokio::time::timeout(WRITE_DEADLINE, self.raft.get_read_log_id()).await {
                    Ok(Ok((read, _))) => ForwardAnswer::ReadIndex(read.map_or(0, |l| l.index)),
                    Ok(Err(e)) => ForwardAnswer::Unavailable(e.to_string()),
                    Err(_) => {
                        ForwardAnswer::Unavailable("no quorum confirmed the leadership".into())
                    }
                }
            }
            Forward::AddMember { id, addr } => match self.members.add(id, addr).await {
                Ok(()) => ForwardAnswer::Done,
                Err(MembershipError::Refused(e)) => ForwardAnswer::Refused(e),
                Err(e) => ForwardAnswer::Unavailable(e.to_string()),
            },
            Forward::RemoveMember { id } => match self.members.remove(id).await {
                Ok(()) => ForwardAnswer::Done,
                Err(MembershipError::Refused(e)) => ForwardAnswer::Refused(e),
                Err(e) => ForwardAnswer::Unavailable(e.to_string()),
            },
        }
    }

    /// The leader this replica knows of, with its address.
    pub(super) fn known_leader(&self) -> Option<(NodeId, String)> {
        let metrics = self.raft.metrics();
        let m = metrics.borrow();
        let leader = m.current_leader?;
        let addr = m
            .membership_config
            .membership()
            .get_node(&leader)
            .map(|n| n.addr.clone())?;
        Some((leader, addr))
    }

    /// Waits until this replica's projections include every write
    /// acknowledged before the call (a linearizable read barrier): the
    /// leader confirms its leadership with a quorum and names its commit
    /// index, and this replica waits until it applied that far.
    pub async fn linearize(&self) -> Result<(), SubmitError> {
        self.until_deadline(move |remaining| async move {
            let (index, hint) = match self.known_leader() {
                Some((leader, _)) if leader == self.id && self.leadership.borrow().quorum_lost => {
                    return Attempt::Done(Err(SubmitError::Unavailable { leader_hint: None }));
                }
                Some((leader, _)) if leader == self.id => {
                    match tokio::time::timeout(remaining, self.raft.get_read_log_id()).await {
                        Ok(Ok((read, _))) => (Some(read.map_or(0, |l| l.index)), None),
                        _ => (None, None),
                    }
                }
                Some((leader, addr)) => {
                    let hint = self.hint(&addr);
                    match self
                        .forward(leader, &addr, &Forward::ReadIndex, remaining)
                        .await
                    {
                        Ok(ForwardAnswer::ReadIndex(index)) => (Some(index), hint),
                        _ => (None, hint),
                    }
                }
                None => (None, None),
            };
            let Some(index) = index else {
                return Attempt::Again { hint };
            };
            let applied = self
                .raft
                .wait(Some(remaining))
                .applied_index_at_least(Some(index), "consistent read")
                .await
                .map(|_| ())
                .map_err(|_| SubmitError::Unavailable { leader_hint: hint });
            Attempt::Done(applied)
        })
        .await
    }

    /// The API URL of the replica at member address `addr`, for clients to
    /// retry at; unknown when Raft has its own listener.
    pub(super) fn hint(&self, addr: &str) -> Option<String> {
        self.api_on_member_addresses
            .then(|| format!("http://{addr}/"))
    }

    /// Runs `attempt` with the time left until the write deadline, pausing
    /// (20 ms, doubling up to 250 ms) between attempts that say `Again`;
    /// past the deadline the caller is told to retry later, at the last
    /// leader hinted.
    async fn until_deadline<T, F>(
        &self,
        mut attempt: impl FnMut(Duration) -> F,
    ) -> Result<T, SubmitError>
    where
        F: Future<Output = Attempt<T>>,
    {
        let deadline = Instant::now() + WRITE_DEADLINE;
        let mut hint = None;
        let mut pauses = Backoff::new(Duration::from_millis(20), Duration::from_millis(250))
            .without_jitter()
            .retries();
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(SubmitError::Unavailable { leader_hint: hint });
            }
            match attempt(remaining).await {
                Attempt::Done(result) => return result,
                Attempt::Again { hint: named } => hint = named.or(hint),
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            tokio::time::sleep(pauses.next_delay().min(remaining)).await;
        }
    }
}

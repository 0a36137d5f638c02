//! Who drives Mesos: only the Raft leader, and only while it leads.
//!
//! The loop waits until this replica leads, makes sure it has applied the
//! whole committed log (a linearizable barrier, so it knows the framework id
//! and every task its predecessor recorded), records `LeaderChanged`, and
//! runs the Mesos loop until leadership is lost, when it is cancelled at once.
//! If Mesos says another scheduler took the framework over, this replica
//! stops driving Mesos and does not subscribe again before it is elected in
//! a later term: the master's word beats a possibly stale view of Raft.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::events::{Actor, Command};

use super::driver::{DriverError, Leader, Outcome};
use crate::live::ConnectionState;

/// Longest wait for the leader's barrier or its `LeaderChanged` record.
const BARRIER_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait for the Mesos loop to stop after it was cancelled.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Drives Mesos whenever this replica leads, until `shutdown`, a teardown or
/// a fatal Mesos error.
pub async fn run(leader: Leader, shutdown: CancellationToken) -> Result<Outcome, DriverError> {
    let journal = leader.journal.clone();
    let replica = leader.replica;
    let mut leadership = journal.leadership();
    let mut stood_down_in: Option<u64> = None;
    let backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
    let mut attempt = 0u32;
    loop {
        // Until this replica leads, in a term Mesos did not fence it in.
        let term = loop {
            let now = leadership.borrow_and_update().clone();
            if now.leading && stood_down_in.is_none_or(|t| now.term > t) {
                break now.term;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(Outcome::Stopped),
                changed = leadership.changed() => if changed.is_err() {
                    return Ok(Outcome::Stopped);
                },
            }
        };
        let still_leading = |term: u64| {
            let now = journal.leadership().borrow().clone();
            now.leading && now.term == term
        };
        let ready = async {
            journal.linearize().await?;
            if !still_leading(term) {
                return Ok(false);
            }
            journal
                .submit(
                    Actor::Replica(replica),
                    Command::RecordLeader { replica, term },
                )
                .await?;
            Ok::<_, crate::journal::SubmitError>(still_leading(term))
        };
        match tokio::time::timeout(BARRIER_TIMEOUT, ready).await {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => continue,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, term, "cannot take up leadership yet");
                attempt += 1;
                pause(&shutdown, backoff.delay(attempt)).await;
                continue;
            }
            Err(_) => {
                tracing::warn!(term, "leadership barrier timed out");
                attempt += 1;
                pause(&shutdown, backoff.delay(attempt)).await;
                continue;
            }
        }
        tracing::info!(term, replica, "leading: driving Mesos");
        attempt = 0;
        let stop = shutdown.child_token();
        let mut mesos = tokio::spawn(leader.clone().run(stop.clone()));
        let finished = loop {
            tokio::select! {
                result = &mut mesos => break Some(result),
                _ = shutdown.cancelled() => break None,
                changed = leadership.changed() => {
                    let now = leadership.borrow_and_update().clone();
                    if changed.is_err() || !now.leading || now.term != term {
                        tracing::warn!(term, now_term = now.term, leader = ?now.leader,
                            "no longer leading: stopping the Mesos loop");
                        break None;
                    }
                }
            }
        };
        let result = match finished {
            Some(result) => result,
            None => {
                stop.cancel();
                match tokio::time::timeout(STOP_TIMEOUT, &mut mesos).await {
                    Ok(result) => result,
                    Err(_) => {
                        tracing::error!("the Mesos loop did not stop in time; aborting it");
                        mesos.abort();
                        Ok(Ok(Outcome::Stopped))
                    }
                }
            }
        };
        if shutdown.is_cancelled() {
            return Ok(Outcome::Stopped);
        }
        match result {
            Ok(Ok(Outcome::Stopped)) => {
                leader.live.update_connection(|c| {
                    c.state = ConnectionState::Inactive;
                    c.since = crate::events::time::now_millis();
                });
            }
            Ok(Ok(Outcome::FailedOver(message))) => {
                tracing::warn!(term, %message,
                    "Mesos gave the framework to another scheduler; not subscribing again before a new term");
                stood_down_in = Some(term);
            }
            Ok(Ok(outcome @ (Outcome::TornDown | Outcome::Fatal(_)))) => return Ok(outcome),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, term, "the Mesos loop failed");
                attempt += 1;
                pause(&shutdown, backoff.delay(attempt)).await;
            }
            Err(e) => {
                tracing::error!(error = %e, "the Mesos loop panicked");
                attempt += 1;
                pause(&shutdown, backoff.delay(attempt)).await;
            }
        }
    }
}

async fn pause(shutdown: &CancellationToken, delay: Duration) {
    tokio::select! {
        _ = shutdown.cancelled() => {}
        _ = tokio::time::sleep(delay) => {}
    }
}

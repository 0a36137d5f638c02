//! The leader's side of writes: the requests it admitted are proposed
//! together, as one Raft entry per batch.
//!
//! openraft 0.9 appends, fsyncs and replicates each `client_write` on its own
//! before it takes the next, so proposing every write alone costs a disk
//! flush on every replica per write. Here requests that arrive while earlier
//! batches are on their way queue up and go together in the next entry: an
//! isolated write is proposed at once, a burst shares the flushes and the
//! replication rounds. The leader stamps the time when it proposes.

use std::sync::Arc;
use std::time::Duration;

use openraft::error::{ClientWriteError, RaftError};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::events::codec;

use super::types::{Batch, Raft, Request, Response};
use crate::events::time::now_millis;

/// Batches on their way at once: one being replicated while the next forms.
const IN_FLIGHT: usize = 2;
/// Requests in one entry, and their encoded size (a request may carry a
/// config of up to 1 MiB; one larger than this still goes, alone).
const MAX_REQUESTS: usize = 1024;
const MAX_BYTES: usize = 4 << 20;
/// How many admitted requests may wait for a batch.
const QUEUE: usize = 4096;

/// What became of a proposed request.
#[derive(Debug)]
pub enum Proposed {
    /// Committed and applied: the state machine's answer and the log index
    /// of the entry.
    Written { response: Response, index: u64 },
    /// This replica is not the leader (any more): nothing was written.
    NotLeader,
    /// The write failed or did not commit in time; it may still commit.
    Unavailable(String),
}

/// The handle the journal proposes through; the batching runs in a task of
/// its own until `stop`.
pub struct Proposer {
    queue: mpsc::Sender<Queued>,
}

struct Queued {
    request: Request,
    size: usize,
    answer: oneshot::Sender<Proposed>,
}

impl Proposer {
    pub fn spawn(raft: Raft, deadline: Duration, stop: CancellationToken) -> Proposer {
        let (queue, queued) = mpsc::channel(QUEUE);
        tokio::spawn(run(raft, queued, deadline, stop));
        Proposer { queue }
    }

    /// Proposes an admitted request and waits for its outcome.
    pub async fn propose(&self, request: Request) -> Proposed {
        let (answer, outcome) = oneshot::channel();
        let size = codec::encoded_len(&request);
        let queued = Queued {
            request,
            size,
            answer,
        };
        if self.queue.send(queued).await.is_err() {
            return Proposed::Unavailable("the journal is closing".into());
        }
        outcome
            .await
            .unwrap_or_else(|_| Proposed::Unavailable("the journal is closing".into()))
    }
}

async fn run(
    raft: Raft,
    mut queued: mpsc::Receiver<Queued>,
    deadline: Duration,
    stop: CancellationToken,
) {
    let in_flight = Arc::new(Semaphore::new(IN_FLIGHT));
    loop {
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return;
        };
        let first = tokio::select! {
            _ = stop.cancelled() => return,
            first = queued.recv() => match first {
                Some(first) => first,
                None => return,
            },
        };
        let batch = gather(first, &mut queued);
        let raft = raft.clone();
        tokio::spawn(async move {
            write(&raft, batch, deadline).await;
            drop(permit);
        });
    }
}

/// `first` and whatever else is waiting, within the bounds of one entry.
fn gather(first: Queued, queued: &mut mpsc::Receiver<Queued>) -> Vec<Queued> {
    let mut bytes = first.size;
    let mut batch = vec![first];
    while batch.len() < MAX_REQUESTS && bytes < MAX_BYTES {
        match queued.try_recv() {
            Ok(next) => {
                bytes += next.size;
                batch.push(next);
            }
            Err(_) => break,
        }
    }
    batch
}

async fn write(raft: &Raft, batch: Vec<Queued>, deadline: Duration) {
    let at = now_millis();
    let (requests, answers): (Vec<Request>, Vec<oneshot::Sender<Proposed>>) = batch
        .into_iter()
        .map(|mut queued| {
            queued.request.proposal.at = at;
            (queued.request, queued.answer)
        })
        .unzip();
    metrics::histogram!("logstash_mesos_raft_requests_per_entry").record(requests.len() as f64);
    let outcome = tokio::time::timeout(deadline, raft.client_write(Batch(requests))).await;
    let failure = match outcome {
        Ok(Ok(written)) => {
            let index = written.log_id.index;
            for (answer, response) in answers.into_iter().zip(written.data.0) {
                let _ = answer.send(Proposed::Written { response, index });
            }
            return;
        }
        Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_)))) => None,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "write failed");
            Some(e.to_string())
        }
        Err(_) => Some("the write was not committed in time".to_owned()),
    };
    for answer in answers {
        let _ = answer.send(match &failure {
            Some(why) => Proposed::Unavailable(why.clone()),
            None => Proposed::NotLeader,
        });
    }
}

//! The executor's side of the Mesos executor API: one task per executor, the
//! config set from the scheduler, reports back, and a graceful end on KILL or
//! SHUTDOWN. What the executor actually does with the config set is the
//! [`Workload`]; this loop only speaks Mesos.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::events::messages::{ConfigSet, ExecutorReport, ToExecutor};
use crate::mesos::executor::{
    ExecutorConfig, ExecutorDriver, ExecutorEnv, ExecutorHandle, ExecutorIncoming,
};
use crate::mesos::proto::v1::{TaskId, TaskInfo, TaskState, TaskStatus};

pub use crate::events::messages::REPORT_EVERY;
/// After the final update, wait this long for the agent's acknowledgement.
const FINAL_ACK_WAIT: Duration = Duration::from_secs(5);

/// What the executor does with the config set.
#[allow(async_fn_in_trait)]
pub trait Workload {
    /// Starts, or brings the running work in line with, the config set.
    async fn apply(&mut self, configs: &ConfigSet);
    /// Whether the work is up (discovery works, Logstash if configured runs),
    /// so the task can be reported RUNNING.
    async fn ready(&mut self) -> Result<(), String>;
    /// Resolves when the world changed under the work (a container started or
    /// stopped); the loop then calls [`Workload::refresh`] and reports.
    async fn changed(&mut self);
    /// Brings the work in line with the world after [`Workload::changed`].
    fn refresh(&mut self);
    /// What runs now, for the scheduler.
    fn report(&mut self) -> ExecutorReport;
    /// Stops everything within `grace`: drain streams, flush, stop Logstash.
    async fn shutdown(&mut self, grace: Duration);
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("the executor environment is incomplete: {0}")]
    Environment(String),
    #[error("cannot build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    #[error("lost the agent: {0}")]
    GaveUp(String),
}

/// Runs the executor until its task ends, the agent shuts it down, or
/// `cancel` fires.
pub async fn run<W: Workload>(
    env: ExecutorEnv,
    mut workload: W,
    cancel: CancellationToken,
) -> Result<(), AgentError> {
    let grace = env.shutdown_grace_period.unwrap_or(Duration::from_secs(5));
    let driver_cancel = cancel.child_token();
    let mut driver = ExecutorDriver::spawn(ExecutorConfig::new(env), driver_cancel.clone())?;
    let handle = &driver.handle;
    let mut task: Option<TaskId> = None;
    let mut ticker = tokio::time::interval(REPORT_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let result = loop {
        tokio::select! {
            _ = cancel.cancelled() => {
                finish(handle, &mut driver.events, &mut workload, task.take(), grace).await;
                break Ok(());
            }
            _ = ticker.tick() => {
                if task.is_some() {
                    send_report(handle, &mut workload).await;
                }
            }
            _ = workload.changed() => {
                workload.refresh();
                if task.is_some() {
                    send_report(handle, &mut workload).await;
                }
            }
            incoming = driver.events.recv() => match incoming {
                None => break Ok(()),
                Some(ExecutorIncoming::Subscribed(_)) => tracing::info!("subscribed to the agent"),
                Some(ExecutorIncoming::Launch(info)) => {
                    if task.is_some() {
                        tracing::warn!(task_id = %info.task_id.value, "a second task for one executor; refusing it");
                        update(handle, &info.task_id, TaskState::TaskError, Some("one task per executor")).await;
                        continue;
                    }
                    task = Some(info.task_id.clone());
                    if let Some(uuid) = launch(handle, &mut workload, *info).await {
                        // The task failed to start: end once the agent has the update.
                        wait_for_ack(&mut driver.events, &uuid).await;
                        workload.shutdown(grace).await;
                        break Ok(());
                    }
                }
                Some(ExecutorIncoming::LaunchGroup(group)) => {
                    for info in group.tasks {
                        update(handle, &info.task_id, TaskState::TaskError, Some("task groups are not supported")).await;
                    }
                }
                Some(ExecutorIncoming::Message(data)) => match ToExecutor::decode(&data) {
                    Ok(ToExecutor::Configs(configs)) => {
                        workload.apply(&configs).await;
                        send_report(handle, &mut workload).await;
                    }
                    Ok(ToExecutor::RequestReport) => send_report(handle, &mut workload).await,
                    Err(e) => tracing::warn!(error = %e, "undecodable message from the scheduler"),
                },
                Some(ExecutorIncoming::Kill { task_id, .. }) => {
                    if task.as_ref() == Some(&task_id) {
                        finish(handle, &mut driver.events, &mut workload, task.take(), grace).await;
                        break Ok(());
                    }
                    // Not ours or already gone: say so, so the scheduler stops asking.
                    update(handle, &task_id, TaskState::TaskKilled, Some("not running here")).await;
                }
                Some(ExecutorIncoming::Shutdown) => {
                    finish(handle, &mut driver.events, &mut workload, task.take(), grace).await;
                    break Ok(());
                }
                Some(ExecutorIncoming::Acknowledged { .. }) => {}
                Some(ExecutorIncoming::Error(message)) => tracing::warn!(%message, "error from the agent"),
                Some(ExecutorIncoming::Disconnected { reason }) => {
                    tracing::warn!(%reason, "disconnected from the agent; re-subscribing");
                }
                Some(ExecutorIncoming::GaveUp { reason }) => {
                    workload.shutdown(grace).await;
                    break Err(AgentError::GaveUp(reason));
                }
            }
        }
    };
    driver_cancel.cancel();
    let _ = driver.task.await;
    result
}

/// Starts the task; returns the uuid of a TASK_FAILED update if it could not start.
async fn launch<W: Workload>(
    handle: &ExecutorHandle,
    workload: &mut W,
    info: TaskInfo,
) -> Option<Vec<u8>> {
    let configs = info
        .data
        .as_deref()
        .and_then(|d| ToExecutor::decode(d).ok())
        .and_then(|m| match m {
            ToExecutor::Configs(c) => Some(c),
            ToExecutor::RequestReport => None,
        });
    if let Some(configs) = &configs {
        workload.apply(configs).await;
    }
    match workload.ready().await {
        Ok(()) => {
            update(handle, &info.task_id, TaskState::TaskRunning, None).await;
            send_report(handle, workload).await;
            None
        }
        Err(reason) => {
            tracing::error!(%reason, "the executor cannot start its work");
            update(handle, &info.task_id, TaskState::TaskFailed, Some(&reason)).await
        }
    }
}

/// Ends the task: stop the work, report TASK_KILLED, wait for the agent to
/// take the update.
async fn finish<W: Workload>(
    handle: &ExecutorHandle,
    events: &mut tokio::sync::mpsc::Receiver<ExecutorIncoming>,
    workload: &mut W,
    task: Option<TaskId>,
    grace: Duration,
) {
    // Leave time for the final update inside the agent's grace period.
    workload
        .shutdown(grace.saturating_sub(Duration::from_secs(2)))
        .await;
    let Some(task_id) = task else { return };
    if let Some(uuid) = update(handle, &task_id, TaskState::TaskKilled, None).await {
        wait_for_ack(events, &uuid).await;
    }
}

/// Waits (a bounded time) until the agent has taken the update `uuid`.
async fn wait_for_ack(events: &mut tokio::sync::mpsc::Receiver<ExecutorIncoming>, uuid: &[u8]) {
    let _ = tokio::time::timeout(FINAL_ACK_WAIT, async {
        while let Some(incoming) = events.recv().await {
            if let ExecutorIncoming::Acknowledged { uuid: acked, .. } = incoming
                && acked == uuid
            {
                return;
            }
        }
    })
    .await;
}

async fn update(
    handle: &ExecutorHandle,
    task_id: &TaskId,
    state: TaskState,
    message: Option<&str>,
) -> Option<Vec<u8>> {
    let status = TaskStatus {
        task_id: task_id.clone(),
        state: state as i32,
        message: message.map(str::to_owned),
        ..Default::default()
    };
    match handle.update(status).await {
        Ok(uuid) => Some(uuid),
        Err(e) => {
            // Kept by the client and sent again with the next SUBSCRIBE.
            tracing::warn!(error = %e, ?state, "status update not delivered yet");
            None
        }
    }
}

async fn send_report<W: Workload>(handle: &ExecutorHandle, workload: &mut W) {
    if let Err(e) = handle.message(workload.report().encode()).await {
        tracing::warn!(error = %e, "report not delivered");
    }
}

/// The workload of an executor that cannot work on this agent (no Docker
/// engine): its task fails with the reason, which the scheduler records.
#[derive(Debug)]
pub struct Unavailable(pub String);

impl Workload for Unavailable {
    async fn apply(&mut self, _configs: &ConfigSet) {}

    async fn ready(&mut self) -> Result<(), String> {
        Err(self.0.clone())
    }

    async fn changed(&mut self) {
        std::future::pending::<()>().await;
    }

    fn refresh(&mut self) {}

    fn report(&mut self) -> ExecutorReport {
        ExecutorReport {
            errors: vec![self.0.clone()],
            ..ExecutorReport::default()
        }
    }

    async fn shutdown(&mut self, _grace: Duration) {}
}

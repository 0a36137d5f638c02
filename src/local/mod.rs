//! `local` mode's in-process executor: the real executor workload (Docker
//! discovery, streams, spool, Logstash) on this machine, fed directly from
//! the config projection instead of Mesos messages. It is recorded in the log
//! like an executor on an agent named `local`, so the API and the GUI show it
//! as they show executors on Mesos. Must not import `api`, `mesos` or
//! `scheduler`.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::events::time::now_millis;
use crate::events::{Actor, Command, TaskState};
use crate::executor::agent::Workload;
use crate::executor::workload::{DockerWorkload, WorkloadSettings};
use crate::journal::{Journal, SubmitError};
use crate::live::{Live, Report};
use crate::state::{State, reports};

/// The agent id the in-process executor is recorded under.
pub const LOCAL_AGENT: &str = "local";
/// How often the in-process executor reports.
const REPORT_EVERY: Duration = Duration::from_secs(5);

/// Runs the executor in-process until `cancel`; without a Docker engine it
/// says so and returns, leaving the API running.
pub async fn run(
    journal: Arc<Journal>,
    live: Arc<Live>,
    mut settings: WorkloadSettings,
    cancel: CancellationToken,
) -> Result<(), SubmitError> {
    settings.agent.agent_id = LOCAL_AGENT.into();
    let mut workload = match DockerWorkload::start(settings, &cancel).await {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "no Docker engine: local mode serves the API only");
            return Ok(());
        }
    };
    let task_id = format!("local.{}", now_millis());
    let system = |command| journal.submit(Actor::System, command);
    system(Command::RecordExecutorLaunched {
        agent_id: LOCAL_AGENT.into(),
        hostname: "localhost".into(),
        task_id: task_id.clone(),
        executor_id: LOCAL_AGENT.into(),
        fingerprint: "local".into(),
    })
    .await?;
    let mut follow = journal.subscribe();
    let mut applied = None;
    apply_if_changed(&journal, &mut workload, &mut applied).await;
    let state = match workload.ready().await {
        Ok(()) => TaskState::Running,
        Err(reason) => {
            tracing::error!(%reason, "the local executor cannot start");
            TaskState::Failed
        }
    };
    system(status(&task_id, state)).await?;
    let mut tick = tokio::time::interval(REPORT_EVERY);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            changed = follow.changed() => {
                if changed.is_err() { break; }
                apply_if_changed(&journal, &mut workload, &mut applied).await;
            }
            _ = workload.changed() => workload.refresh(),
            _ = tick.tick() => {}
        }
        report(&journal, &live, &mut workload).await?;
    }
    workload.shutdown(Duration::from_secs(10)).await;
    report(&journal, &live, &mut workload).await?;
    system(status(&task_id, TaskState::Finished)).await?;
    Ok(())
}

async fn apply_if_changed(
    journal: &Journal,
    workload: &mut DockerWorkload,
    applied: &mut Option<u64>,
) {
    let set = journal.read(State::config_set);
    if *applied != Some(set.version) {
        *applied = Some(set.version);
        workload.apply(&set).await;
    }
}

async fn report(
    journal: &Journal,
    live: &Live,
    workload: &mut DockerWorkload,
) -> Result<(), SubmitError> {
    let report = workload.report();
    let commands = journal.read(|s| reports::commands(s, LOCAL_AGENT, &report));
    live.set_report(
        LOCAL_AGENT,
        Report {
            received_at: now_millis(),
            executor_id: LOCAL_AGENT.into(),
            report,
        },
    );
    for command in commands {
        journal
            .submit(Actor::Executor(LOCAL_AGENT.into()), command)
            .await?;
    }
    Ok(())
}

fn status(task_id: &str, state: TaskState) -> Command {
    Command::RecordTaskStatus {
        task_id: task_id.into(),
        agent_id: LOCAL_AGENT.into(),
        state,
        reason: None,
        message: None,
        source: Some("LOCAL".into()),
    }
}

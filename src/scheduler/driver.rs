//! The leader's Mesos loop: executes the decisions of `offers`, `upkeep` and
//! `reports` against the master and records what happens in the journal.
//!
//! Ordering rules that keep the log the source of truth:
//! * a launch is recorded (`ExecutorLaunched`) before ACCEPT is sent, so after
//!   any crash the projection knows every executor that may exist;
//! * a status update is acknowledged only after its event is committed;
//! * the framework id is recorded on every SUBSCRIBED before anything else.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::events::messages::{ExecutorReport, ToExecutor};
use crate::events::time::now_millis;
use crate::events::{Actor, Command, TaskState};
use crate::journal::{Journal, SubmitError};
use crate::mesos::proto::v1::scheduler::{Event, event};
use crate::mesos::proto::v1::{ExecutorId, Filters, OfferId, TaskStatus, task_status};
use crate::mesos::scheduler::{
    Caller, DriverExit, Incoming, SchedulerConfig, SchedulerDriver, SubscribeOptions,
};

use super::launch::{self, LaunchIds};
use super::offers::{self, Decision, DeclineReason, SeenAgent};
use super::ports;
use super::settings::{FrameworkSettings, LaunchSettings};
use super::upkeep::{self, KillReason, Replacing};
use crate::live::{ConnectionState, Live, PortsUnavailable, Report};
use crate::state::reports;

/// How often the loop looks at what needs doing besides events.
const TICK: Duration = Duration::from_secs(1);
/// Ask a killed task again after this long without an answer.
const KILL_AGAIN_AFTER: Duration = Duration::from_secs(30);
/// While suppressed, revive this often to hear of agents that joined.
const DISCOVERY_REVIVE_EVERY: Duration = Duration::from_secs(300);
/// Implicit reconciliation (all tasks the master knows) this often.
const IMPLICIT_RECONCILE_EVERY: Duration = Duration::from_secs(900);
/// Explicit reconciliation retries back off up to this, and stop after
/// RECONCILE_FOR (agents may take long to re-register after a master failover).
const RECONCILE_BACKOFF_MAX: Duration = Duration::from_secs(60);
const RECONCILE_FOR: Duration = Duration::from_secs(600);

#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error("invalid Mesos settings: {0}")]
    Config(String),
    #[error("the journal refused a write: {0}")]
    Journal(#[from] SubmitError),
    #[error("there is no framework to tear down: no framework id in the log")]
    NothingToTearDown,
    #[error("the master did not accept the subscription: {0}")]
    Subscribe(String),
    #[error("TEARDOWN failed: {0}")]
    Teardown(String),
}

/// How the loop ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Asked to stop.
    Stopped,
    /// Another scheduler subscribed with our framework id: stand down.
    FailedOver(String),
    /// The framework was torn down.
    TornDown,
    /// An error that retrying cannot fix (credentials, refused subscription).
    Fatal(String),
}

/// Everything the loop needs; cloned for each term this replica leads.
#[derive(Clone)]
pub struct Leader {
    pub journal: Arc<Journal>,
    pub live: Arc<Live>,
    pub framework: FrameworkSettings,
    pub launch: LaunchSettings,
    pub mesos: SchedulerConfig,
    pub replica: u64,
}

/// What the loop remembers between events; lost on restart by design (the
/// log holds everything that must survive).
#[derive(Default)]
struct Memory {
    seen: BTreeMap<String, SeenAgent>,
    sent: BTreeMap<String, (u64, Instant)>,
    killed: BTreeMap<String, Instant>,
    replacing: Option<Replacing>,
    /// Tasks awaiting an answer to explicit reconciliation: agent, next try, attempt.
    reconciling: BTreeMap<String, (String, Instant, u32)>,
    reconcile_started: Option<Instant>,
    last_implicit: Option<Instant>,
    suppressed: bool,
    last_revive: Option<Instant>,
    subscribed: bool,
}

impl Leader {
    fn actor(&self) -> Actor {
        Actor::Replica(self.replica)
    }

    async fn record(&self, command: Command) -> Result<(), DriverError> {
        self.journal.submit(self.actor(), command).await?;
        Ok(())
    }

    /// Drives Mesos until `shutdown`, a fail-over, a teardown or a fatal error.
    /// A framework that Mesos removed (failover timeout expired) is recorded as
    /// gone and registered anew.
    pub async fn run(self, shutdown: CancellationToken) -> Result<Outcome, DriverError> {
        self.record(Command::ChangeSettings {
            settings: self.launch.executor.clone(),
        })
        .await?;
        loop {
            let id = self.framework_id();
            let options = SubscribeOptions {
                framework_info: self.framework.framework_info(id.clone()),
                suppressed_roles: Vec::new(),
            };
            let cancel = shutdown.child_token();
            let handle = SchedulerDriver::spawn(self.mesos.clone(), options, cancel.clone())
                .map_err(|e| DriverError::Config(e.to_string()))?;
            self.set_connection(ConnectionState::Connecting, None, None);
            let (caller, mut events) = (handle.caller, handle.events);
            let ended = self.drive(&caller, &mut events, &shutdown).await;
            cancel.cancel();
            let exit = handle.task.await.unwrap_or(DriverExit::Cancelled);
            let ended = match ended? {
                Some(outcome) => outcome,
                None => exit_outcome(exit),
            };
            match ended {
                Ended::Removed(message) => {
                    if let Some(framework_id) = id {
                        self.record(Command::RecordFrameworkRemoved {
                            framework_id,
                            reason: message.clone(),
                        })
                        .await?;
                    }
                    tracing::warn!(%message, "the framework was removed by Mesos; registering anew");
                    self.set_connection(ConnectionState::Removed, None, Some(message));
                }
                Ended::Outcome(outcome) => {
                    let state = match &outcome {
                        Outcome::FailedOver(_) => ConnectionState::FailedOver,
                        Outcome::TornDown => ConnectionState::Removed,
                        Outcome::Stopped | Outcome::Fatal(_) => ConnectionState::Inactive,
                    };
                    let error = match &outcome {
                        Outcome::FailedOver(m) | Outcome::Fatal(m) => Some(m.clone()),
                        _ => None,
                    };
                    self.set_connection(state, None, error);
                    return Ok(outcome);
                }
            }
        }
    }

    /// Subscribes with the framework id from the log, tears the framework
    /// down, and records that it is gone.
    pub async fn teardown(self, timeout: Duration) -> Result<(), DriverError> {
        let id = self.framework_id().ok_or(DriverError::NothingToTearDown)?;
        let cancel = CancellationToken::new();
        let options = SubscribeOptions {
            framework_info: self.framework.framework_info(Some(id.clone())),
            suppressed_roles: Vec::new(),
        };
        let mut handle = SchedulerDriver::spawn(self.mesos.clone(), options, cancel.clone())
            .map_err(|e| DriverError::Config(e.to_string()))?;
        let result = tokio::time::timeout(timeout, async {
            loop {
                match handle.events.recv().await {
                    Some(Incoming::Subscribed(_)) => {
                        handle
                            .caller
                            .teardown()
                            .await
                            .map_err(|e| DriverError::Teardown(e.to_string()))?;
                    }
                    Some(Incoming::TornDown) => return Ok("torn down by the operator".to_owned()),
                    Some(Incoming::Removed { message }) => return Ok(message),
                    Some(Incoming::FailedOver { message }) => {
                        return Err(DriverError::Subscribe(message));
                    }
                    Some(Incoming::Fatal { error }) => {
                        return Err(DriverError::Subscribe(error.to_string()));
                    }
                    Some(Incoming::Event(_) | Incoming::Disconnected { .. }) => {}
                    None => return Err(DriverError::Subscribe("the driver stopped".into())),
                }
            }
        })
        .await
        .unwrap_or_else(|_| Err(DriverError::Subscribe("timed out".into())));
        cancel.cancel();
        let reason = result?;
        self.record(Command::RecordFrameworkRemoved {
            framework_id: id,
            reason,
        })
        .await
    }

    fn framework_id(&self) -> Option<String> {
        self.journal
            .read(|s| s.cluster.framework.as_ref().map(|f| f.framework_id.clone()))
    }

    fn set_connection(
        &self,
        state: ConnectionState,
        master: Option<String>,
        error: Option<String>,
    ) {
        self.live.update_connection(|c| {
            if c.state != state {
                c.since = now_millis();
            }
            c.state = state;
            if master.is_some() {
                c.master = master;
            }
            if error.is_some() || state == ConnectionState::Subscribed {
                c.last_error = error;
            }
        });
    }

    /// The event loop of one driver. `Ok(None)`: the driver's channel closed.
    async fn drive(
        &self,
        caller: &Caller,
        events: &mut tokio::sync::mpsc::Receiver<Incoming>,
        shutdown: &CancellationToken,
    ) -> Result<Option<Ended>, DriverError> {
        let mut memory = Memory::default();
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(Some(Ended::Outcome(Outcome::Stopped))),
                incoming = events.recv() => match incoming {
                    None => return Ok(None),
                    Some(Incoming::Subscribed(info)) => {
                        memory = Memory {
                            subscribed: true,
                            suppressed: !caller.suppressed_roles().is_empty(),
                            ..Memory::default()
                        };
                        self.record(Command::RecordFrameworkSubscribed {
                            framework_id: info.framework_id.value.clone(),
                            master: info.master_url.clone(),
                            replica: self.replica,
                        })
                        .await?;
                        self.set_connection(ConnectionState::Subscribed, Some(info.master_url.clone()), None);
                        tracing::info!(framework_id = %info.framework_id.value, master = %info.master_url, "subscribed");
                        self.start_reconciliation(caller, &mut memory).await;
                    }
                    Some(Incoming::Event(event)) => self.on_event(caller, &mut memory, *event).await?,
                    Some(Incoming::Disconnected { reason }) => {
                        tracing::warn!(%reason, "disconnected from the master; reconnecting");
                        memory.subscribed = false;
                        self.set_connection(ConnectionState::Disconnected, None, Some(reason));
                    }
                    Some(Incoming::FailedOver { message }) => {
                        tracing::warn!(%message, "another scheduler took over the framework; standing down");
                        return Ok(Some(Ended::Outcome(Outcome::FailedOver(message))));
                    }
                    Some(Incoming::Removed { message }) => return Ok(Some(Ended::Removed(message))),
                    Some(Incoming::TornDown) => return Ok(Some(Ended::Outcome(Outcome::TornDown))),
                    Some(Incoming::Fatal { error }) => {
                        tracing::error!(%error, "the Mesos subscription failed for good");
                        return Ok(Some(Ended::Outcome(Outcome::Fatal(error.to_string()))));
                    }
                },
                _ = tick.tick() => {
                    if memory.subscribed {
                        self.on_tick(caller, &mut memory).await;
                    }
                }
            }
        }
    }

    async fn start_reconciliation(&self, caller: &Caller, memory: &mut Memory) {
        let now = Instant::now();
        let tasks: Vec<(String, String)> = self.journal.read(|s| {
            s.cluster
                .tasks
                .values()
                .map(|t| (t.task_id.clone(), t.agent_id.clone()))
                .collect()
        });
        memory.reconcile_started = Some(now);
        memory.reconciling = tasks
            .iter()
            .map(|(task, agent)| (task.clone(), (agent.clone(), now, 0)))
            .collect();
        self.reconcile_due(caller, memory, now).await;
        // Implicit: the master reports every task it knows, including any we do not.
        if let Err(e) = caller.reconcile(Vec::new()).await {
            tracing::warn!(error = %e, "implicit reconciliation failed");
        }
        memory.last_implicit = Some(now);
    }

    async fn reconcile_due(&self, caller: &Caller, memory: &mut Memory, now: Instant) {
        if memory
            .reconcile_started
            .is_some_and(|s| now.duration_since(s) > RECONCILE_FOR)
        {
            if !memory.reconciling.is_empty() {
                tracing::warn!(
                    tasks = memory.reconciling.len(),
                    "the master never answered reconciliation for these tasks"
                );
            }
            memory.reconciling.clear();
        }
        let mut due = Vec::new();
        for (task, (agent, next, attempt)) in memory.reconciling.iter_mut() {
            if *next <= now {
                due.push((launch::task(task), Some(launch::agent(agent))));
                let backoff = Duration::from_secs(5).saturating_mul(1 << (*attempt).min(6));
                *next = now + backoff.min(RECONCILE_BACKOFF_MAX);
                *attempt += 1;
            }
        }
        if !due.is_empty() {
            tracing::debug!(tasks = due.len(), "explicit reconciliation");
            if let Err(e) = caller.reconcile(due).await {
                tracing::warn!(error = %e, "reconciliation failed");
            }
        }
    }

    async fn on_event(
        &self,
        caller: &Caller,
        memory: &mut Memory,
        event: Event,
    ) -> Result<(), DriverError> {
        if let Some(offers) = event.offers {
            self.on_offers(caller, memory, offers.offers).await?;
        }
        if let Some(event::Update { status }) = event.update {
            self.on_status(caller, memory, status).await?;
        }
        if let Some(message) = event.message {
            self.on_report(message).await?;
        }
        if let Some(failure) = event.failure {
            match (failure.agent_id, failure.executor_id) {
                (Some(agent), None) => {
                    tracing::warn!(agent_id = %agent.value, "agent removed");
                    self.live.forget_report(&agent.value);
                    memory.seen.remove(&agent.value);
                    self.record(Command::RemoveAgent {
                        agent_id: agent.value,
                        reason: "the master removed the agent".into(),
                    })
                    .await?;
                }
                (agent, Some(executor)) => {
                    tracing::info!(executor_id = %executor.value, agent_id = ?agent.map(|a| a.value), status = ?failure.status, "executor exited");
                }
                (None, None) => {}
            }
        }
        if let Some(error) = event.error {
            tracing::warn!(message = %error.message, "error event from the master");
        }
        Ok(())
    }

    async fn on_offers(
        &self,
        caller: &Caller,
        memory: &mut Memory,
        offers: Vec<crate::mesos::proto::v1::Offer>,
    ) -> Result<(), DriverError> {
        let views: Vec<offers::Offer> = offers.iter().map(launch::offer_view).collect();
        let mut needs = self.launch.requirements(&self.framework.role);
        let configs = self.journal.read(|s| s.config_set());
        let declared = ports::declared(&configs);
        needs.ports = ports::numbers(&declared);
        for view in &views {
            let eligible = needs
                .constraints
                .iter()
                .all(|c| c.admits(&view.hostname, &view.attributes));
            memory
                .seen
                .insert(view.agent_id.clone(), SeenAgent { eligible });
        }
        let decisions = self.journal.read(|s| offers::decide(&views, s, &needs));
        let fingerprint = ports::launch_fingerprint(&self.launch.executor.fingerprint(), &declared);
        let mut declines: BTreeMap<u64, Vec<OfferId>> = BTreeMap::new();
        for (decision, offer) in decisions.into_iter().zip(&offers) {
            match decision {
                Decision::Decline {
                    refuse_seconds,
                    reason,
                    ..
                } => {
                    if let DeclineReason::PortsUnavailable(missing) = &reason {
                        tracing::warn!(agent = %offer.hostname, ?missing, "the agent does not offer the ports the configs listen on");
                        self.live.set_ports_unavailable(
                            &offer.agent_id.value,
                            Some(PortsUnavailable {
                                hostname: offer.hostname.clone(),
                                missing: missing.clone(),
                                at: now_millis(),
                            }),
                        );
                    } else {
                        tracing::debug!(agent = %offer.hostname, ?reason, "declining offer");
                    }
                    declines
                        .entry(refuse_seconds.to_bits())
                        .or_default()
                        .push(offer.id.clone());
                }
                Decision::Launch {
                    agent_id, hostname, ..
                } => {
                    self.live.set_ports_unavailable(&agent_id, None);
                    let ids = LaunchIds::new(&agent_id, now_millis());
                    let task = match launch::task_info(
                        offer,
                        &self.launch,
                        &self.framework.role,
                        &ids,
                        &configs,
                    ) {
                        Ok(task) => task,
                        Err(e) => {
                            tracing::warn!(agent = %hostname, error = %e, "cannot launch on this offer");
                            declines
                                .entry(offers::REFUSE_SHORT_OF_RESOURCES_SECS.to_bits())
                                .or_default()
                                .push(offer.id.clone());
                            continue;
                        }
                    };
                    self.record(Command::RecordExecutorLaunched {
                        agent_id: agent_id.clone(),
                        hostname: hostname.clone(),
                        task_id: ids.task_id.clone(),
                        executor_id: ids.executor_id.clone(),
                        fingerprint: fingerprint.clone(),
                    })
                    .await?;
                    tracing::info!(agent = %hostname, task_id = %ids.task_id, "launching executor");
                    let filters = Filters {
                        refuse_seconds: Some(offers::REFUSE_COVERED_SECS),
                    };
                    if let Err(e) = caller
                        .launch(vec![offer.id.clone()], vec![task], Some(filters))
                        .await
                    {
                        tracing::warn!(agent = %hostname, error = %e, "ACCEPT failed");
                        self.record(Command::RecordTaskStatus {
                            task_id: ids.task_id,
                            agent_id,
                            state: TaskState::Dropped,
                            reason: Some("ACCEPT_FAILED".into()),
                            message: Some(e.to_string()),
                            source: Some("SCHEDULER".into()),
                        })
                        .await?;
                    }
                }
            }
        }
        for (seconds, ids) in declines {
            let filters = Filters {
                refuse_seconds: Some(f64::from_bits(seconds)),
            };
            if let Err(e) = caller.decline(ids, Some(filters)).await {
                tracing::warn!(error = %e, "DECLINE failed");
            }
        }
        self.update_suppression(caller, memory).await;
        Ok(())
    }

    async fn on_status(
        &self,
        caller: &Caller,
        memory: &mut Memory,
        status: TaskStatus,
    ) -> Result<(), DriverError> {
        let task_id = status.task_id.value.clone();
        memory.reconciling.remove(&task_id);
        if let Some(command) = launch::status_command(&status) {
            let from_executor = status.source == Some(task_status::Source::Executor as i32);
            let actor = match (&command, from_executor) {
                (Command::RecordTaskStatus { agent_id, .. }, true) => {
                    Actor::Executor(agent_id.clone())
                }
                _ => self.actor(),
            };
            tracing::info!(task_id = %task_id, state = ?launch::task_state(status.state), message = ?status.message, "task status");
            self.journal.submit(actor, command).await?;
        }
        if launch::task_state(status.state).is_terminal() {
            memory.sent.remove(&task_id);
            memory.killed.remove(&task_id);
            self.update_suppression(caller, memory).await;
        }
        // Only now that the update is in the log.
        if let Err(e) = caller.acknowledge_status(&status).await {
            tracing::warn!(task_id = %task_id, error = %e, "ACKNOWLEDGE failed; the agent will resend");
        }
        Ok(())
    }

    async fn on_report(&self, message: event::Message) -> Result<(), DriverError> {
        let agent_id = message.agent_id.value;
        let report = match ExecutorReport::decode(&message.data) {
            Ok(report) => report,
            Err(e) => {
                tracing::warn!(agent_id = %agent_id, error = %e, "undecodable executor message");
                return Ok(());
            }
        };
        let commands = self
            .journal
            .read(|s| reports::commands(s, &agent_id, &report));
        self.live.set_report(
            &agent_id,
            Report {
                received_at: now_millis(),
                executor_id: message.executor_id.value,
                report,
            },
        );
        for command in commands {
            self.journal
                .submit(Actor::Executor(agent_id.clone()), command)
                .await?;
        }
        Ok(())
    }

    async fn on_tick(&self, caller: &Caller, memory: &mut Memory) {
        let now = Instant::now();
        let settings = self.launch.executor.fingerprint();
        let (kills, deliveries, configs) = self.journal.read(|s| {
            let declared = ports::declared(&s.config_set());
            let fingerprint = ports::launch_fingerprint(&settings, &declared);
            (
                upkeep::kills(s, &fingerprint, memory.replacing.as_ref(), now),
                upkeep::deliveries(s, &memory.sent, now),
                s.config_set(),
            )
        });
        for kill in kills {
            if memory
                .killed
                .get(&kill.task_id)
                .is_some_and(|at| now.duration_since(*at) < KILL_AGAIN_AFTER)
            {
                continue;
            }
            tracing::info!(task_id = %kill.task_id, reason = ?kill.reason, "killing executor");
            match caller
                .kill(
                    launch::task(&kill.task_id),
                    Some(launch::agent(&kill.agent_id)),
                )
                .await
            {
                Ok(()) => {
                    memory.killed.insert(kill.task_id.clone(), now);
                    if kill.reason == KillReason::StaleSettings {
                        memory.replacing = Some(Replacing {
                            agent_id: kill.agent_id,
                            task_id: kill.task_id.clone(),
                            since: now,
                        });
                    }
                }
                Err(e) => tracing::warn!(task_id = %kill.task_id, error = %e, "KILL failed"),
            }
        }
        if !deliveries.is_empty() {
            let data = ToExecutor::Configs(configs.clone()).encode();
            for d in deliveries {
                tracing::debug!(agent_id = %d.agent_id, version = configs.version, "sending the config set");
                let sent = caller
                    .message(
                        launch::agent(&d.agent_id),
                        ExecutorId {
                            value: d.executor_id.clone(),
                        },
                        data.clone(),
                    )
                    .await;
                if let Err(e) = sent {
                    tracing::warn!(agent_id = %d.agent_id, error = %e, "MESSAGE failed");
                }
                memory.sent.insert(d.task_id, (configs.version, now));
            }
        }
        self.reconcile_due(caller, memory, now).await;
        if memory
            .last_implicit
            .is_some_and(|t| now.duration_since(t) >= IMPLICIT_RECONCILE_EVERY)
        {
            memory.last_implicit = Some(now);
            if let Err(e) = caller.reconcile(Vec::new()).await {
                tracing::warn!(error = %e, "implicit reconciliation failed");
            }
        }
        self.update_suppression(caller, memory).await;
        if memory.suppressed
            && memory
                .last_revive
                .is_none_or(|t| now.duration_since(t) >= DISCOVERY_REVIVE_EVERY)
        {
            // New agents are only heard of through offers.
            self.revive(caller, memory, "looking for new agents").await;
        }
    }

    /// SUPPRESS once every known agent is covered; REVIVE when that stops
    /// being true (a task ended, an agent was lost, settings changed).
    async fn update_suppression(&self, caller: &Caller, memory: &mut Memory) {
        let covered = self.journal.read(|s| offers::all_covered(s, &memory.seen));
        if covered && !memory.suppressed {
            match caller.suppress(Vec::new()).await {
                Ok(()) => {
                    tracing::info!("every known agent runs an executor; suppressing offers");
                    memory.suppressed = true;
                    memory.last_revive.get_or_insert_with(Instant::now);
                    self.live.update_connection(|c| c.suppressed = true);
                }
                Err(e) => tracing::warn!(error = %e, "SUPPRESS failed"),
            }
        } else if !covered && memory.suppressed {
            self.revive(caller, memory, "an agent needs an executor")
                .await;
        }
    }

    async fn revive(&self, caller: &Caller, memory: &mut Memory, why: &str) {
        match caller.revive(Vec::new()).await {
            Ok(()) => {
                tracing::info!(why, "reviving offers");
                memory.suppressed = false;
                memory.last_revive = Some(Instant::now());
                self.live.update_connection(|c| c.suppressed = false);
            }
            Err(e) => tracing::warn!(error = %e, "REVIVE failed"),
        }
    }
}

enum Ended {
    Outcome(Outcome),
    Removed(String),
}

fn exit_outcome(exit: DriverExit) -> Ended {
    match exit {
        DriverExit::Cancelled | DriverExit::ReceiverDropped => Ended::Outcome(Outcome::Stopped),
        DriverExit::FailedOver(m) => Ended::Outcome(Outcome::FailedOver(m)),
        DriverExit::Removed(m) => Ended::Removed(m),
        DriverExit::TornDown => Ended::Outcome(Outcome::TornDown),
        DriverExit::Fatal(m) => Ended::Outcome(Outcome::Fatal(m)),
    }
}

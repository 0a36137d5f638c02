//! The executor side of the v1 API: one SUBSCRIBE stream to the local agent,
//! UPDATE and MESSAGE calls on a second connection, and the bookkeeping the
//! agent relies on after it restarts (unacknowledged tasks and updates are
//! re-sent inside the next SUBSCRIBE).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prost::Message;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::env::ExecutorEnv;
use crate::backoff::uniform_up_to;
use crate::mesos::http::{CONTENT_TYPE_PROTOBUF, error_body, is_protobuf, record_stream};
use crate::mesos::proto::v1::executor::{Call, Event, call, event};
use crate::mesos::proto::v1::{
    ExecutorId, FrameworkId, KillPolicy, TaskGroupInfo, TaskId, TaskInfo, TaskState, TaskStatus,
    task_status,
};
use crate::mesos::recordio::DEFAULT_MAX_RECORD_SIZE;
use crate::mesos::stream::{EventStream, StreamError};

/// Settings of the executor client.
#[derive(Debug, Clone)]
pub struct ExecutorConfig {
    /// What the agent told us through the environment.
    pub env: ExecutorEnv,
    /// Cap on one event record.
    pub max_record_size: usize,
    /// Limit for UPDATE/MESSAGE calls and for the SUBSCRIBE response.
    pub request_timeout: Duration,
    /// Limit for establishing a connection to the agent.
    pub connect_timeout: Duration,
    /// Silence after which the stream counts as dead. Agents send a
    /// heartbeat every 30 minutes (1.8+), so this is 5 of those.
    pub stream_idle_timeout: Duration,
    /// How long the first subscription may take before giving up (the
    /// agent's `--executor_registration_timeout` defaults to one minute).
    pub initial_subscribe_timeout: Duration,
    /// Capacity of the event channel.
    pub channel_capacity: usize,
}

impl ExecutorConfig {
    /// Defaults around a parsed environment.
    pub fn new(env: ExecutorEnv) -> Self {
        Self {
            env,
            max_record_size: DEFAULT_MAX_RECORD_SIZE,
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            stream_idle_timeout: Duration::from_secs(5 * 30 * 60),
            initial_subscribe_timeout: Duration::from_secs(60),
            channel_capacity: 256,
        }
    }
}

/// What the executor client tells the executor's main loop.
#[derive(Debug)]
pub enum ExecutorIncoming {
    /// Subscribed (or re-subscribed) to the agent.
    Subscribed(Box<event::Subscribed>),
    /// Start this task. It stays on the unacknowledged list until an update
    /// for it is acknowledged.
    Launch(Box<TaskInfo>),
    /// Start this task group.
    LaunchGroup(Box<TaskGroupInfo>),
    /// Kill this task, then report TASK_KILLED (or TASK_FAILED).
    Kill {
        /// The task.
        task_id: TaskId,
        /// A grace period overriding the task's own policy.
        kill_policy: Option<KillPolicy>,
    },
    /// The agent has taken (and checkpointed) this update.
    Acknowledged {
        /// The task.
        task_id: TaskId,
        /// The update's uuid.
        uuid: Vec<u8>,
    },
    /// A framework message from the scheduler.
    Message(Vec<u8>),
    /// The agent reported an error on the subscription (the client
    /// re-subscribes or gives up, as for a disconnect).
    Error(String),
    /// Kill every task, report them, and exit within the grace period.
    Shutdown,
    /// The stream to the agent broke; the client is re-subscribing
    /// (checkpointing frameworks only).
    Disconnected {
        /// What happened.
        reason: String,
    },
    /// The client stopped: no checkpointing, recovery timeout expired, the
    /// agent refused us, or the stream closed after SHUTDOWN. Kill the
    /// tasks and exit.
    GaveUp {
        /// Why.
        reason: String,
    },
}

/// Why the executor client's task ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecutorExit {
    /// The cancellation token fired.
    Cancelled,
    /// See [`ExecutorIncoming::GaveUp`].
    GaveUp(String),
    /// Nobody listens to the events any more.
    ReceiverDropped,
}

/// Why a call to the agent failed. Updates stay queued (and are re-sent in
/// the next SUBSCRIBE) unless the agent rejected them as invalid.
#[derive(Debug, thiserror::Error)]
pub enum ExecutorCallError {
    /// Refused locally: the agent would reject it.
    #[error("invalid call: {0}")]
    Invalid(&'static str),
    /// 400: the agent rejected the call; it is dropped from the queue.
    #[error("bad request (400): {0}")]
    BadRequest(String),
    /// 401: the authentication token is missing or wrong.
    #[error("unauthorized (401): {0}")]
    Unauthorized(String),
    /// 403: not subscribed (yet) from the agent's point of view.
    #[error("forbidden (403): {0}")]
    Forbidden(String),
    /// 503: the agent is recovering.
    #[error("agent unavailable ({status}): {body}")]
    Unavailable {
        /// The status code.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// Any other status.
    #[error("unexpected HTTP status {status}: {body}")]
    UnexpectedStatus {
        /// The status code.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// Connection-level failure.
    #[error("transport error: {0}")]
    Transport(#[from] reqwest::Error),
    /// No answer in time.
    #[error("call timed out")]
    Timeout,
}

/// Why a SUBSCRIBE to the agent failed.
#[derive(Debug, thiserror::Error)]
enum SubscribeFailure {
    #[error("agent refused the subscription ({status}): {body}")]
    Refused { status: u16, body: String },
    #[error("agent unavailable ({status}): {body}")]
    Unavailable { status: u16, body: String },
    #[error("transport error: {0}")]
    Transport(#[from] reqwest::Error),
    #[error("timed out")]
    Timeout,
    #[error("the agent's stream is not protobuf")]
    NotProtobuf,
}

/// Unacknowledged state, shared by the driver and the handles.
#[derive(Debug, Default)]
struct Pending {
    /// Launched tasks with no acknowledged update yet, by task id.
    tasks: BTreeMap<String, TaskInfo>,
    /// Sent (or queued) updates not yet ACKNOWLEDGED, oldest first.
    updates: Vec<call::Update>,
}

#[derive(Debug)]
struct Shared {
    config: ExecutorConfig,
    http: reqwest::Client,
    pending: Mutex<Pending>,
    shutting_down: AtomicBool,
}

impl Shared {
    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn ids(&self) -> (ExecutorId, FrameworkId) {
        (
            ExecutorId {
                value: self.config.env.executor_id.clone(),
            },
            FrameworkId {
                value: self.config.env.framework_id.clone(),
            },
        )
    }

    fn request(&self, call: &Call) -> reqwest::RequestBuilder {
        let mut r = self
            .http
            .post(&self.config.env.endpoint_url)
            .header(CONTENT_TYPE, CONTENT_TYPE_PROTOBUF)
            .header(ACCEPT, CONTENT_TYPE_PROTOBUF)
            .body(call.encode_to_vec());
        if let Some(token) = &self.config.env.auth_token {
            r = r.bearer_auth(token);
        }
        r
    }

    async fn post(&self, call: &Call) -> Result<(), ExecutorCallError> {
        let response = match tokio::time::timeout(
            self.config.request_timeout,
            self.request(call).send(),
        )
        .await
        {
            Err(_) => return Err(ExecutorCallError::Timeout),
            Ok(r) => r?,
        };
        let status = response.status().as_u16();
        if status == 202 || status == 200 {
            return Ok(());
        }
        let body = error_body(response, self.config.request_timeout).await;
        Err(match status {
            400 => ExecutorCallError::BadRequest(body),
            401 => ExecutorCallError::Unauthorized(body),
            403 => ExecutorCallError::Forbidden(body),
            503 => ExecutorCallError::Unavailable { status, body },
            _ => ExecutorCallError::UnexpectedStatus { status, body },
        })
    }
}

/// Sends UPDATE, MESSAGE and HEARTBEAT calls. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ExecutorHandle {
    shared: Arc<Shared>,
}

impl ExecutorHandle {
    /// Sends a status update. The client fills in what the agent insists on
    /// (a fresh 16-byte uuid, `source = SOURCE_EXECUTOR`, the executor id,
    /// a timestamp) and keeps the update until the agent ACKNOWLEDGES it, so
    /// a failed send is not lost: it goes out again with the next SUBSCRIBE.
    /// Returns the update's uuid.
    pub async fn update(&self, mut status: TaskStatus) -> Result<Vec<u8>, ExecutorCallError> {
        if status.state == TaskState::TaskStaging as i32 {
            return Err(ExecutorCallError::Invalid(
                "TASK_STAGING cannot be sent by an executor",
            ));
        }
        let (executor_id, framework_id) = self.shared.ids();
        if status
            .executor_id
            .as_ref()
            .is_some_and(|e| e.value != executor_id.value)
        {
            return Err(ExecutorCallError::Invalid(
                "status.executor_id is another executor's",
            ));
        }
        let uuid = uuid::Uuid::new_v4().as_bytes().to_vec();
        status.uuid = Some(uuid.clone());
        status.source = Some(task_status::Source::Executor as i32);
        status.executor_id = Some(executor_id.clone());
        if status.timestamp.is_none() {
            status.timestamp = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .ok()
                .map(|d| d.as_secs_f64());
        }
        let update = call::Update { status };
        self.shared.pending().updates.push(update.clone());
        let call = Call {
            executor_id,
            framework_id,
            r#type: Some(call::Type::Update as i32),
            update: Some(update),
            ..Default::default()
        };
        match self.shared.post(&call).await {
            Ok(()) => Ok(uuid),
            Err(e @ ExecutorCallError::BadRequest(_)) => {
                // Rejected for good: re-sending it would poison every
                // future SUBSCRIBE.
                self.shared
                    .pending()
                    .updates
                    .retain(|u| u.status.uuid.as_deref() != Some(&uuid[..]));
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    /// Sends a framework message to the scheduler (at most once).
    pub async fn message(&self, data: Vec<u8>) -> Result<(), ExecutorCallError> {
        let (executor_id, framework_id) = self.shared.ids();
        let call = Call {
            executor_id,
            framework_id,
            r#type: Some(call::Type::Message as i32),
            message: Some(call::Message { data }),
            ..Default::default()
        };
        self.shared.post(&call).await
    }

    /// Sends a HEARTBEAT call (agents 1.8+), which keeps intermediaries
    /// from closing an idle connection.
    pub async fn heartbeat(&self) -> Result<(), ExecutorCallError> {
        let (executor_id, framework_id) = self.shared.ids();
        let call = Call {
            executor_id,
            framework_id,
            r#type: Some(call::Type::Heartbeat as i32),
            ..Default::default()
        };
        self.shared.post(&call).await
    }

    /// Updates sent but not yet acknowledged by the agent.
    pub fn unacknowledged_updates(&self) -> Vec<TaskStatus> {
        self.shared
            .pending()
            .updates
            .iter()
            .map(|u| u.status.clone())
            .collect()
    }

    /// Launched tasks none of whose updates has been acknowledged.
    pub fn unacknowledged_tasks(&self) -> Vec<TaskInfo> {
        self.shared.pending().tasks.values().cloned().collect()
    }
}

/// A running executor client.
#[derive(Debug)]
pub struct ExecutorDriverHandle {
    /// Sends calls.
    pub handle: ExecutorHandle,
    /// Events, in order.
    pub events: mpsc::Receiver<ExecutorIncoming>,
    /// The driver task.
    pub task: JoinHandle<ExecutorExit>,
}

/// The subscribe / re-subscribe loop of an executor.
#[derive(Debug)]
pub struct ExecutorDriver {
    shared: Arc<Shared>,
    tx: mpsc::Sender<ExecutorIncoming>,
}

enum StreamEnd {
    Cancelled,
    ReceiverDropped,
    Broken(String),
}

impl ExecutorDriver {
    /// A driver, its handle, and its events.
    pub fn new(
        config: ExecutorConfig,
    ) -> Result<(Self, ExecutorHandle, mpsc::Receiver<ExecutorIncoming>), reqwest::Error> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .http1_only()
            .connect_timeout(config.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(1)
            .build()?;
        let (tx, rx) = mpsc::channel(config.channel_capacity.max(1));
        let shared = Arc::new(Shared {
            config,
            http,
            pending: Mutex::new(Pending::default()),
            shutting_down: AtomicBool::new(false),
        });
        Ok((
            Self {
                shared: shared.clone(),
                tx,
            },
            ExecutorHandle { shared },
            rx,
        ))
    }

    /// Builds and spawns a driver.
    pub fn spawn(
        config: ExecutorConfig,
        cancel: CancellationToken,
    ) -> Result<ExecutorDriverHandle, reqwest::Error> {
        let (driver, handle, events) = Self::new(config)?;
        let task = tokio::spawn(driver.run(cancel));
        Ok(ExecutorDriverHandle {
            handle,
            events,
            task,
        })
    }

    /// The SUBSCRIBE call, carrying everything not yet acknowledged.
    fn subscribe_call(&self) -> Call {
        let (executor_id, framework_id) = self.shared.ids();
        let pending = self.shared.pending();
        Call {
            executor_id,
            framework_id,
            r#type: Some(call::Type::Subscribe as i32),
            // Must be present even when empty.
            subscribe: Some(call::Subscribe {
                unacknowledged_tasks: pending.tasks.values().cloned().collect(),
                unacknowledged_updates: pending.updates.clone(),
            }),
            ..Default::default()
        }
    }

    async fn subscribe(&self) -> Result<EventStream<Event>, SubscribeFailure> {
        let call = self.subscribe_call();
        let config = &self.shared.config;
        // The stream must not share the pooled call connection, and must
        // not have a total timeout.
        let response =
            tokio::time::timeout(config.request_timeout, self.shared.request(&call).send())
                .await
                .map_err(|_| SubscribeFailure::Timeout)??;
        let status = response.status().as_u16();
        if status != 200 {
            let body = error_body(response, config.request_timeout).await;
            return Err(match status {
                503 | 404 | 429 => SubscribeFailure::Unavailable { status, body },
                s if s >= 500 => SubscribeFailure::Unavailable { status, body },
                _ => SubscribeFailure::Refused { status, body },
            });
        }
        if !is_protobuf(&response) {
            return Err(SubscribeFailure::NotProtobuf);
        }
        Ok(EventStream::new(record_stream(
            response,
            config.max_record_size,
        )))
    }

    async fn send(&self, incoming: ExecutorIncoming, cancel: &CancellationToken) -> bool {
        tokio::select! {
            _ = cancel.cancelled() => false,
            r = self.tx.send(incoming) => r.is_ok(),
        }
    }

    async fn give_up(&self, reason: String, cancel: &CancellationToken) -> ExecutorExit {
        tracing::warn!(%reason, "executor client giving up");
        let _ = self
            .send(
                ExecutorIncoming::GaveUp {
                    reason: reason.clone(),
                },
                cancel,
            )
            .await;
        ExecutorExit::GaveUp(reason)
    }

    /// Runs until cancelled or until there is no point going on.
    pub async fn run(self, cancel: CancellationToken) -> ExecutorExit {
        let env = self.shared.config.env.clone();
        // When the current run of failed attempts began (the first
        // subscription counts from start-up).
        let mut outage_started: Option<Instant> = Some(Instant::now());
        let mut ever_subscribed = false;
        loop {
            let attempt = tokio::select! {
                _ = cancel.cancelled() => return ExecutorExit::Cancelled,
                r = self.subscribe() => r,
            };
            let last_error = match attempt {
                Ok(stream) => {
                    ever_subscribed = true;
                    match self.pump(stream, &cancel).await {
                        StreamEnd::Cancelled => return ExecutorExit::Cancelled,
                        StreamEnd::ReceiverDropped => return ExecutorExit::ReceiverDropped,
                        StreamEnd::Broken(reason) => {
                            if self.shared.shutting_down.load(Ordering::SeqCst) {
                                return self
                                    .give_up(
                                        format!("stream ended after SHUTDOWN: {reason}"),
                                        &cancel,
                                    )
                                    .await;
                            }
                            if !env.checkpoint {
                                return self
                                    .give_up(
                                        format!("disconnected from the agent without checkpointing: {reason}"),
                                        &cancel,
                                    )
                                    .await;
                            }
                            if !self
                                .send(
                                    ExecutorIncoming::Disconnected {
                                        reason: reason.clone(),
                                    },
                                    &cancel,
                                )
                                .await
                            {
                                return if cancel.is_cancelled() {
                                    ExecutorExit::Cancelled
                                } else {
                                    ExecutorExit::ReceiverDropped
                                };
                            }
                            outage_started = Some(Instant::now());
                            reason
                        }
                    }
                }
                Err(SubscribeFailure::Refused { status, body }) => {
                    return self
                        .give_up(
                            format!("the agent refused SUBSCRIBE ({status}): {body}"),
                            &cancel,
                        )
                        .await;
                }
                Err(e) => e.to_string(),
            };
            let limit = if ever_subscribed {
                env.recovery_timeout
            } else {
                self.shared.config.initial_subscribe_timeout
            };
            let started = *outage_started.get_or_insert_with(Instant::now);
            if started.elapsed() >= limit {
                return self
                    .give_up(
                        format!("no subscription within {limit:?}: {last_error}"),
                        &cancel,
                    )
                    .await;
            }
            // Random in [0, max], as libmesos does: the agent drops
            // executors that do not re-subscribe within max.
            let delay = uniform_up_to(env.subscription_backoff_max)
                .min(limit.saturating_sub(started.elapsed()));
            tracing::debug!(?delay, error = %last_error, "re-subscribing to the agent");
            tokio::select! {
                _ = cancel.cancelled() => return ExecutorExit::Cancelled,
                _ = tokio::time::sleep(delay) => {}
            }
        }
    }

    async fn pump(&self, mut events: EventStream<Event>, cancel: &CancellationToken) -> StreamEnd {
        let idle = self.shared.config.stream_idle_timeout;
        loop {
            let next = tokio::select! {
                _ = cancel.cancelled() => return StreamEnd::Cancelled,
                r = tokio::time::timeout(idle, events.next_event()) => r,
            };
            let event = match next {
                Err(_) => return StreamEnd::Broken(format!("no event for {idle:?}")),
                Ok(Err(e)) => return StreamEnd::Broken(stream_error_text(&e)),
                Ok(Ok(None)) => return StreamEnd::Broken("the agent closed the stream".into()),
                Ok(Ok(Some(e))) => e,
            };
            let mut broken = None;
            let incoming = match self.handle_event(event) {
                Some(ExecutorIncoming::Error(message)) => {
                    broken = Some(format!("the agent sent ERROR: {message}"));
                    Some(ExecutorIncoming::Error(message))
                }
                other => other,
            };
            if let Some(incoming) = incoming
                && !self.send(incoming, cancel).await
            {
                return if cancel.is_cancelled() {
                    StreamEnd::Cancelled
                } else {
                    StreamEnd::ReceiverDropped
                };
            }
            if let Some(reason) = broken {
                return StreamEnd::Broken(reason);
            }
        }
    }

    /// Updates the bookkeeping for an event and turns it into what the
    /// executor's loop sees (`None` for events it need not see).
    fn handle_event(&self, event: Event) -> Option<ExecutorIncoming> {
        let kind = event.r#type.unwrap_or(0);
        match event::Type::try_from(kind) {
            Ok(event::Type::Subscribed) => event
                .subscribed
                .map(|s| ExecutorIncoming::Subscribed(Box::new(s))),
            Ok(event::Type::Launch) => {
                let task = event.launch?.task;
                self.shared
                    .pending()
                    .tasks
                    .insert(task.task_id.value.clone(), task.clone());
                Some(ExecutorIncoming::Launch(Box::new(task)))
            }
            Ok(event::Type::LaunchGroup) => {
                let group = event.launch_group?.task_group;
                let mut pending = self.shared.pending();
                for t in &group.tasks {
                    pending.tasks.insert(t.task_id.value.clone(), t.clone());
                }
                Some(ExecutorIncoming::LaunchGroup(Box::new(group)))
            }
            Ok(event::Type::Kill) => {
                let kill = event.kill?;
                Some(ExecutorIncoming::Kill {
                    task_id: kill.task_id,
                    kill_policy: kill.kill_policy,
                })
            }
            Ok(event::Type::Acknowledged) => {
                let ack = event.acknowledged?;
                let mut pending = self.shared.pending();
                pending
                    .updates
                    .retain(|u| u.status.uuid.as_deref() != Some(&ack.uuid[..]));
                pending.tasks.remove(&ack.task_id.value);
                Some(ExecutorIncoming::Acknowledged {
                    task_id: ack.task_id,
                    uuid: ack.uuid,
                })
            }
            Ok(event::Type::Message) => Some(ExecutorIncoming::Message(event.message?.data)),
            Ok(event::Type::Error) => Some(ExecutorIncoming::Error(
                event.error.map(|e| e.message).unwrap_or_default(),
            )),
            Ok(event::Type::Shutdown) => {
                self.shared.shutting_down.store(true, Ordering::SeqCst);
                Some(ExecutorIncoming::Shutdown)
            }
            Ok(event::Type::Heartbeat) => None,
            Ok(event::Type::Unknown) | Err(_) => {
                tracing::debug!(kind, "ignoring an executor event of unknown type");
                None
            }
        }
    }
}

fn stream_error_text(e: &StreamError) -> String {
    format!("event stream broke: {e}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mesos::proto::v1::{AgentId, TaskId};

    fn env() -> ExecutorEnv {
        let vars: std::collections::HashMap<String, String> = [
            ("MESOS_FRAMEWORK_ID", "f"),
            ("MESOS_EXECUTOR_ID", "e"),
            ("MESOS_AGENT_ENDPOINT", "127.0.0.1:1"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        ExecutorEnv::from_map(&vars).unwrap()
    }

    #[test]
    fn first_subscribe_matches_the_test_vector() {
        // §7: Call{executor_id{"e"}, framework_id{"f"}, type: SUBSCRIBE, subscribe{}}.
        let (driver, _, _) = ExecutorDriver::new(ExecutorConfig::new(env())).unwrap();
        assert_eq!(
            driver.subscribe_call().encode_to_vec(),
            vec![
                0x0a, 0x03, 0x0a, 0x01, 0x65, 0x12, 0x03, 0x0a, 0x01, 0x66, 0x18, 0x01, 0x22, 0x00
            ]
        );
    }

    fn task(id: &str) -> TaskInfo {
        TaskInfo {
            name: id.into(),
            task_id: TaskId { value: id.into() },
            agent_id: AgentId { value: "a".into() },
            ..Default::default()
        }
    }

    #[test]
    fn acknowledged_clears_tasks_and_updates() {
        let (driver, handle, _) = ExecutorDriver::new(ExecutorConfig::new(env())).unwrap();
        let launch = |t: TaskInfo| Event {
            r#type: Some(event::Type::Launch as i32),
            launch: Some(event::Launch { task: t }),
            ..Default::default()
        };
        assert!(matches!(
            driver.handle_event(launch(task("t1"))),
            Some(ExecutorIncoming::Launch(_))
        ));
        driver.handle_event(launch(task("t2")));
        {
            let mut p = driver.shared.pending();
            for (t, u) in [("t1", 1u8), ("t2", 2u8)] {
                p.updates.push(call::Update {
                    status: TaskStatus {
                        task_id: TaskId { value: t.into() },
                        state: TaskState::TaskRunning as i32,
                        uuid: Some(vec![u; 16]),
                        ..Default::default()
                    },
                });
            }
        }
        let sub = driver.subscribe_call().subscribe.unwrap();
        assert_eq!(sub.unacknowledged_tasks.len(), 2);
        assert_eq!(sub.unacknowledged_updates.len(), 2);

        let ack = Event {
            r#type: Some(event::Type::Acknowledged as i32),
            acknowledged: Some(event::Acknowledged {
                task_id: TaskId { value: "t1".into() },
                uuid: vec![1; 16],
            }),
            ..Default::default()
        };
        assert!(matches!(
            driver.handle_event(ack),
            Some(ExecutorIncoming::Acknowledged { .. })
        ));
        let sub = driver.subscribe_call().subscribe.unwrap();
        assert_eq!(sub.unacknowledged_tasks, vec![task("t2")]);
        assert_eq!(sub.unacknowledged_updates.len(), 1);
        assert_eq!(sub.unacknowledged_updates[0].status.task_id.value, "t2");
        assert_eq!(handle.unacknowledged_updates().len(), 1);
        assert_eq!(handle.unacknowledged_tasks().len(), 1);
    }

    #[test]
    fn shutdown_and_unknown_events() {
        let (driver, _, _) = ExecutorDriver::new(ExecutorConfig::new(env())).unwrap();
        let shutdown = Event {
            r#type: Some(event::Type::Shutdown as i32),
            ..Default::default()
        };
        assert!(matches!(
            driver.handle_event(shutdown),
            Some(ExecutorIncoming::Shutdown)
        ));
        assert!(driver.shared.shutting_down.load(Ordering::SeqCst));
        let unknown = Event {
            r#type: Some(99),
            ..Default::default()
        };
        assert!(driver.handle_event(unknown).is_none());
        let heartbeat = Event {
            r#type: Some(event::Type::Heartbeat as i32),
            ..Default::default()
        };
        assert!(driver.handle_event(heartbeat).is_none());
    }

    #[tokio::test]
    async fn staging_is_refused_locally() {
        let (_, handle, _) = ExecutorDriver::new(ExecutorConfig::new(env())).unwrap();
        let status = TaskStatus {
            task_id: TaskId { value: "t".into() },
            state: TaskState::TaskStaging as i32,
            ..Default::default()
        };
        assert!(matches!(
            handle.update(status).await,
            Err(ExecutorCallError::Invalid(_))
        ));
        assert!(handle.unacknowledged_updates().is_empty());
    }
}

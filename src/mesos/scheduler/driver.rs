//! The long-running subscription driver: subscribe, forward events, watch
//! heartbeats, reconnect with back-off, and stop for good when the master
//! says this instance is no longer the framework.
//!
//! The driver owns at most one subscription at a time: a stream is dropped
//! (and its connection closed) before the next SUBSCRIBE is sent, because a
//! second SUBSCRIBE with the same id would fail the first one over.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::client::{Caller, SchedulerClient, Session, SessionState, Subscription};
use super::config::{ConfigError, SchedulerConfig};
use super::error::{ErrorKind, SubscribeError, classify_error_message};
use crate::mesos::proto::v1::scheduler::{Event, event};
use crate::mesos::proto::v1::{FrameworkId, FrameworkInfo, MasterInfo};

/// Who the framework is when it subscribes.
#[derive(Debug, Clone)]
pub struct SubscribeOptions {
    /// Sent on every SUBSCRIBE. Set `id` to resume a framework whose id was
    /// stored durably; leave it unset to register a new one. The driver
    /// fills in the id it learns for its own re-subscribes.
    pub framework_info: FrameworkInfo,
    /// Roles to subscribe as suppressed (SUBSCRIBE replaces the master's
    /// suppression state, so re-subscribes send the current set).
    pub suppressed_roles: Vec<String>,
}

/// A successful (re-)subscription.
#[derive(Debug, Clone)]
pub struct SubscribedInfo {
    /// The framework id; persist it before launching anything.
    pub framework_id: FrameworkId,
    /// The leader's scheduler endpoint.
    pub master_url: String,
    /// The stream id later calls carry.
    pub stream_id: String,
    /// The heartbeat interval being watched.
    pub heartbeat_interval: Duration,
    /// The leading master, as SUBSCRIBED described it.
    pub master_info: Option<MasterInfo>,
    /// Whether the subscribe carried a framework id (a re-subscription).
    pub resubscribed: bool,
}

/// What the driver tells the scheduler loop. After a `FailedOver`,
/// `Removed`, `TornDown` or `Fatal` nothing more comes and the driver has
/// stopped.
#[derive(Debug)]
pub enum Incoming {
    /// A subscription is live; calls can be made. Reconcile now: offers and
    /// in-flight state from before are gone.
    Subscribed(Box<SubscribedInfo>),
    /// An event from the master (never SUBSCRIBED or HEARTBEAT, which the
    /// driver consumes).
    Event(Box<Event>),
    /// The subscription was lost; the driver is reconnecting. Outstanding
    /// offers are void.
    Disconnected {
        /// What happened, for logs.
        reason: String,
    },
    /// Another instance subscribed with this framework id. The driver has
    /// stopped and will not re-subscribe: this instance must stand down.
    FailedOver {
        /// The master's message.
        message: String,
    },
    /// The framework id is dead. The driver has stopped; start again
    /// without an id and treat the old id's tasks as lost.
    Removed {
        /// The master's message.
        message: String,
    },
    /// The framework was torn down through [`Caller::teardown`]; the driver
    /// has stopped.
    TornDown,
    /// The driver stopped on an error retrying cannot fix (credentials,
    /// validation, a refused subscription, a changed framework id).
    Fatal {
        /// The error.
        error: SubscribeError,
    },
}

/// Why the driver's task ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DriverExit {
    /// The cancellation token fired.
    Cancelled,
    /// Another instance took over (see [`Incoming::FailedOver`]).
    FailedOver(String),
    /// The framework id was removed (see [`Incoming::Removed`]).
    Removed(String),
    /// The framework was torn down.
    TornDown,
    /// A non-retryable error (its text).
    Fatal(String),
    /// Nobody is listening to the events any more.
    ReceiverDropped,
}

/// A running driver: the caller for its subscription, the events, and the
/// task (which ends with the reason it stopped).
#[derive(Debug)]
pub struct DriverHandle {
    /// Sends calls on whatever subscription is live.
    pub caller: Caller,
    /// Events and state changes, in order.
    pub events: mpsc::Receiver<Incoming>,
    /// The driver task.
    pub task: JoinHandle<DriverExit>,
}

/// The subscription loop. Build it with [`SchedulerDriver::new`] and drive
/// it with [`SchedulerDriver::run`], or use [`SchedulerDriver::spawn`].
#[derive(Debug)]
pub struct SchedulerDriver {
    client: SchedulerClient,
    options: SubscribeOptions,
    shared: Arc<SessionState>,
    tx: mpsc::Sender<Incoming>,
    /// The id to re-subscribe with (from the options, then from SUBSCRIBED).
    framework_id: Option<FrameworkId>,
    /// The last leader endpoint, tried first on reconnect.
    leader: Option<String>,
}

/// How one subscription ended.
enum StreamEnd {
    Cancelled,
    ReceiverDropped,
    TornDown,
    FailedOver(String),
    Removed(String),
    Disconnected(String),
}

impl SchedulerDriver {
    /// A driver, the caller tied to it, and the receiving end of its events.
    pub fn new(
        config: SchedulerConfig,
        options: SubscribeOptions,
    ) -> Result<(Self, Caller, mpsc::Receiver<Incoming>), ConfigError> {
        let capacity = config.channel_capacity.max(1);
        let client = SchedulerClient::new(config)?;
        let info = &options.framework_info;
        let mut roles = info.roles.clone();
        if roles.is_empty() {
            roles.push(info.role.clone().unwrap_or_else(|| "*".to_owned()));
        }
        let shared = Arc::new(SessionState::new(roles, options.suppressed_roles.clone()));
        let caller = client.caller_with(shared.clone());
        let (tx, rx) = mpsc::channel(capacity);
        let framework_id = info.id.clone();
        Ok((
            Self {
                client,
                options,
                shared,
                tx,
                framework_id,
                leader: None,
            },
            caller,
            rx,
        ))
    }

    /// Builds a driver and runs it on a new task until `cancel` fires or the
    /// master ends the framework.
    pub fn spawn(
        config: SchedulerConfig,
        options: SubscribeOptions,
        cancel: CancellationToken,
    ) -> Result<DriverHandle, ConfigError> {
        let (driver, caller, events) = Self::new(config, options)?;
        let task = tokio::spawn(driver.run(cancel));
        Ok(DriverHandle {
            caller,
            events,
            task,
        })
    }

    /// Runs the subscribe / stream / reconnect loop.
    pub async fn run(mut self, cancel: CancellationToken) -> DriverExit {
        let mut attempt: u32 = 0;
        loop {
            if cancel.is_cancelled() {
                return DriverExit::Cancelled;
            }
            let round = tokio::select! {
                _ = cancel.cancelled() => return DriverExit::Cancelled,
                r = self.subscribe_round() => r,
            };
            match round {
                Ok(subscription) => {
                    let started = Instant::now();
                    let end = self.pump(subscription, &cancel).await;
                    self.shared.set(None);
                    match end {
                        StreamEnd::Cancelled => return DriverExit::Cancelled,
                        StreamEnd::ReceiverDropped => return DriverExit::ReceiverDropped,
                        StreamEnd::TornDown => {
                            let _ = self.send(Incoming::TornDown, &cancel).await;
                            return DriverExit::TornDown;
                        }
                        StreamEnd::FailedOver(message) => {
                            tracing::warn!(%message, "framework failed over; standing down");
                            let exit = DriverExit::FailedOver(message.clone());
                            let _ = self.send(Incoming::FailedOver { message }, &cancel).await;
                            return exit;
                        }
                        StreamEnd::Removed(message) => {
                            tracing::warn!(%message, "framework removed");
                            let exit = DriverExit::Removed(message.clone());
                            let _ = self.send(Incoming::Removed { message }, &cancel).await;
                            return exit;
                        }
                        StreamEnd::Disconnected(reason) => {
                            tracing::warn!(%reason, "subscription lost; reconnecting");
                            if !self.send(Incoming::Disconnected { reason }, &cancel).await {
                                return self.stop_reason(&cancel);
                            }
                            // A subscription that lived a while resets the
                            // back-off; one that dies at once keeps growing it.
                            if started.elapsed() >= self.client.config().backoff.max {
                                attempt = 0;
                            }
                        }
                    }
                }
                Err(error) if !error.is_retryable() => {
                    tracing::error!(%error, "subscription failed for good");
                    let exit = match &error {
                        SubscribeError::FailedOver(m) => DriverExit::FailedOver(m.clone()),
                        SubscribeError::Removed(m) => DriverExit::Removed(m.clone()),
                        other => DriverExit::Fatal(other.to_string()),
                    };
                    let incoming = match error {
                        SubscribeError::FailedOver(message) => Incoming::FailedOver { message },
                        SubscribeError::Removed(message) => Incoming::Removed { message },
                        error => Incoming::Fatal { error },
                    };
                    let _ = self.send(incoming, &cancel).await;
                    return exit;
                }
                Err(error) => {
                    tracing::warn!(%error, "no master accepted the subscription");
                }
            }
            let delay = self.client.config().backoff.delay(attempt);
            attempt = attempt.saturating_add(1);
            tracing::debug!(
                ?delay,
                attempt,
                "waiting before the next subscription round"
            );
            tokio::select! {
                _ = cancel.cancelled() => return DriverExit::Cancelled,
                _ = tokio::time::sleep(delay) => {}
            }
        }
    }

    fn stop_reason(&self, cancel: &CancellationToken) -> DriverExit {
        if cancel.is_cancelled() {
            DriverExit::Cancelled
        } else {
            DriverExit::ReceiverDropped
        }
    }

    /// Sends to the scheduler loop unless cancelled; false if it could not.
    async fn send(&self, incoming: Incoming, cancel: &CancellationToken) -> bool {
        tokio::select! {
            _ = cancel.cancelled() => false,
            r = self.tx.send(incoming) => r.is_ok(),
        }
    }

    /// One round: the last leader first, then every configured master once.
    async fn subscribe_round(&mut self) -> Result<Subscription, SubscribeError> {
        let mut info = self.options.framework_info.clone();
        info.id = self.framework_id.clone();
        let call = SchedulerClient::subscribe_call(&info, &self.shared.suppressed());
        let mut candidates: Vec<String> = self.leader.iter().cloned().collect();
        for m in &self.client.config().masters {
            if !candidates.contains(m) {
                candidates.push(m.clone());
            }
        }
        let mut last = SubscribeError::ClosedEarly;
        for endpoint in candidates {
            match self.client.subscribe(&endpoint, &call).await {
                Ok(s) => return Ok(s),
                Err(e) if !e.is_retryable() => return Err(e),
                Err(e) => {
                    tracing::info!(%endpoint, error = %e, "SUBSCRIBE attempt failed");
                    last = e;
                }
            }
        }
        Err(last)
    }

    /// Publishes the session, then forwards events until the stream ends.
    async fn pump(&mut self, mut sub: Subscription, cancel: &CancellationToken) -> StreamEnd {
        let resubscribed = self.framework_id.is_some();
        self.framework_id = Some(sub.session.framework_id.clone());
        self.leader = Some(sub.session.endpoint.clone());
        let Session {
            framework_id,
            stream_id,
            endpoint,
        } = sub.session.clone();
        tracing::info!(framework_id = %framework_id.value, %endpoint, "subscribed");
        self.shared.set(Some(sub.session.clone()));
        let info = SubscribedInfo {
            framework_id,
            master_url: endpoint,
            stream_id,
            heartbeat_interval: sub.heartbeat_interval,
            master_info: sub.subscribed.master_info.take(),
            resubscribed,
        };
        if !self
            .send(Incoming::Subscribed(Box::new(info)), cancel)
            .await
        {
            return self.end_for_closed_send(cancel);
        }
        let silence = self
            .client
            .config()
            .heartbeat_timeout(sub.heartbeat_interval);
        loop {
            let next = tokio::select! {
                _ = cancel.cancelled() => return StreamEnd::Cancelled,
                r = tokio::time::timeout(silence, sub.events.next_event()) => r,
            };
            let event = match next {
                Err(_) => {
                    return StreamEnd::Disconnected(format!(
                        "no event for {silence:?} (heartbeat interval {:?})",
                        sub.heartbeat_interval
                    ));
                }
                Ok(Err(e)) => {
                    if self.shared.torn_down() {
                        return StreamEnd::TornDown;
                    }
                    return StreamEnd::Disconnected(format!("event stream broke: {e}"));
                }
                Ok(Ok(None)) => {
                    if self.shared.torn_down() {
                        return StreamEnd::TornDown;
                    }
                    return StreamEnd::Disconnected("the master closed the event stream".into());
                }
                Ok(Ok(Some(event))) => event,
            };
            let kind = event.r#type.unwrap_or(0);
            if kind == event::Type::Heartbeat as i32 {
                tracing::trace!("heartbeat");
                continue;
            }
            if kind == event::Type::Subscribed as i32 {
                tracing::warn!("ignoring a second SUBSCRIBED on a live stream");
                continue;
            }
            if kind == event::Type::Error as i32 {
                let message = event
                    .error
                    .as_ref()
                    .map(|e| e.message.clone())
                    .unwrap_or_default();
                match classify_error_message(&message) {
                    ErrorKind::FailedOver => return StreamEnd::FailedOver(message),
                    ErrorKind::Removed => {
                        if self.shared.torn_down() {
                            return StreamEnd::TornDown;
                        }
                        return StreamEnd::Removed(message);
                    }
                    ErrorKind::Other => {
                        // The subscription is unusable after an ERROR; let
                        // the loop see it, then reconnect.
                        if !self.send(Incoming::Event(Box::new(event)), cancel).await {
                            return self.end_for_closed_send(cancel);
                        }
                        return StreamEnd::Disconnected(format!(
                            "the master sent ERROR: {message}"
                        ));
                    }
                }
            }
            if !self.send(Incoming::Event(Box::new(event)), cancel).await {
                return self.end_for_closed_send(cancel);
            }
        }
    }

    fn end_for_closed_send(&self, cancel: &CancellationToken) -> StreamEnd {
        if cancel.is_cancelled() {
            StreamEnd::Cancelled
        } else {
            StreamEnd::ReceiverDropped
        }
    }
}

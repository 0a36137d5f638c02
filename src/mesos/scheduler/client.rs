//! One SUBSCRIBE attempt against one master (following redirects), and the
//! [`Caller`] that sends every other call on its own short connection.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bytes::Bytes;
use prost::Message;
use reqwest::header::{ACCEPT, CONTENT_TYPE, LOCATION};

use super::config::{ConfigError, SchedulerConfig, heartbeat_interval};
use super::error::{CallError, SubscribeError};
use super::redirect::resolve_location;
use crate::mesos::http::{
    CONTENT_TYPE_PROTOBUF, STREAM_ID_HEADER, error_body, is_protobuf, record_stream, tls_problem,
};
use crate::mesos::proto::v1::scheduler::{Call, Event, call, event};
use crate::mesos::proto::v1::{
    AgentId, ExecutorId, Filters, FrameworkId, FrameworkInfo, KillPolicy, OfferId, TaskId,
    TaskInfo, TaskStatus, offer,
};
use crate::mesos::stream::EventStream;

/// What identifies a live subscription to the master: every non-SUBSCRIBE
/// call must carry this framework id and stream id, and go to this leader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The framework id the master assigned (or confirmed).
    pub framework_id: FrameworkId,
    /// The `Mesos-Stream-Id` of the subscription.
    pub stream_id: String,
    /// The scheduler endpoint of the leading master (after redirects).
    pub endpoint: String,
}

/// A subscription whose first event was SUBSCRIBED.
#[derive(Debug)]
pub struct Subscription {
    /// Where and as whom later calls must be sent.
    pub session: Session,
    /// The SUBSCRIBED event itself.
    pub subscribed: event::Subscribed,
    /// The heartbeat interval to watch for (announced, or the default).
    pub heartbeat_interval: Duration,
    /// The rest of the event stream.
    pub events: EventStream<Event>,
}

/// HTTP access to the masters' scheduler API. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SchedulerClient {
    config: Arc<SchedulerConfig>,
    /// For SUBSCRIBE: no pooling (a subscription owns its connection, and a
    /// dropped stream must never be reused), no total timeout (the response
    /// is endless), TCP keepalive on.
    stream_http: reqwest::Client,
    /// For every other call: pooled, with the request timeout.
    call_http: reqwest::Client,
}

fn base_builder(
    config: &SchedulerConfig,
    roots: &Option<Vec<reqwest::Certificate>>,
) -> reqwest::ClientBuilder {
    let builder = reqwest::Client::builder()
        // Redirects are followed by hand: Mesos' Location is protocol-relative
        // and the stream id must come from the final response.
        .redirect(reqwest::redirect::Policy::none())
        // Masters are reached directly; an environment proxy must not sit in
        // the middle of a long-lived event stream.
        .no_proxy()
        .connect_timeout(config.connect_timeout)
        .http1_only();
    match roots {
        Some(roots) => builder.tls_certs_only(roots.iter().cloned()),
        None => builder,
    }
}

/// The CAs of `config.ca_file`, if one is set.
fn ca_roots(config: &SchedulerConfig) -> Result<Option<Vec<reqwest::Certificate>>, ConfigError> {
    let Some(path) = &config.ca_file else {
        return Ok(None);
    };
    let error = |reason: String| ConfigError::CaFile {
        path: path.display().to_string(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| error(e.to_string()))?;
    let roots = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| error(e.to_string()))?;
    if roots.is_empty() {
        return Err(error("it holds no PEM certificate".into()));
    }
    Ok(Some(roots))
}

impl SchedulerClient {
    /// Builds the HTTP clients for `config`.
    pub fn new(config: SchedulerConfig) -> Result<Self, ConfigError> {
        let roots = ca_roots(&config)?;
        let stream_http = base_builder(&config, &roots)
            .pool_max_idle_per_host(0)
            .tcp_keepalive(Duration::from_secs(15))
            .build()?;
        let call_http = base_builder(&config, &roots)
            .timeout(config.request_timeout)
            .build()?;
        Ok(Self {
            config: Arc::new(config),
            stream_http,
            call_http,
        })
    }

    /// The settings in use.
    pub fn config(&self) -> &SchedulerConfig {
        &self.config
    }

    /// Checks that every `https://` master presents a certificate this
    /// client trusts, so a wrong CA is an error at start rather than
    /// endless reconnects. A master that does not answer is no error here:
    /// the subscription keeps trying it.
    pub async fn check_tls(&self) -> Result<(), ConfigError> {
        for master in self
            .config
            .masters
            .iter()
            .filter(|m| m.starts_with("https://"))
        {
            let error = match self.call_http.get(master).send().await {
                Ok(_) => continue,
                Err(e) => e,
            };
            match tls_problem(&error) {
                Some(reason) => {
                    let hint = match &self.config.ca_file {
                        Some(path) => format!(
                            "the master's certificate must be signed by a CA in --mesos-ca-file {} \
                             and name the host of the URL",
                            path.display()
                        ),
                        None => "the system's CA store does not trust the master's certificate; \
                                 name the CA that signed it with --mesos-ca-file"
                            .into(),
                    };
                    return Err(ConfigError::Tls {
                        master: master.clone(),
                        reason,
                        hint,
                    });
                }
                None => tracing::warn!(%master, error = %error,
                    "cannot reach the Mesos master to check its certificate; the subscription will retry it"),
            }
        }
        Ok(())
    }

    /// The SUBSCRIBE call for a framework. `Call.framework_id` mirrors
    /// `framework_info.id`, as the master requires (both unset for a new
    /// framework, both set to re-subscribe).
    pub fn subscribe_call(framework_info: &FrameworkInfo, suppressed_roles: &[String]) -> Call {
        Call {
            framework_id: framework_info.id.clone(),
            r#type: Some(call::Type::Subscribe as i32),
            subscribe: Some(call::Subscribe {
                framework_info: framework_info.clone(),
                suppressed_roles: suppressed_roles.to_vec(),
            }),
            ..Default::default()
        }
    }

    /// Sends `call` (a SUBSCRIBE) to `endpoint`, follows redirects to the
    /// leader, and waits for the first event, which decides: SUBSCRIBED is a
    /// subscription, ERROR is a typed refusal.
    pub async fn subscribe(
        &self,
        endpoint: &str,
        call: &Call,
    ) -> Result<Subscription, SubscribeError> {
        let body = Bytes::from(call.encode_to_vec());
        let expected_id = call.framework_id.as_ref().map(|f| f.value.clone());
        let mut url = endpoint.to_owned();
        let mut redirects = 0;
        loop {
            let mut request = self
                .stream_http
                .post(&url)
                .header(CONTENT_TYPE, CONTENT_TYPE_PROTOBUF)
                .header(ACCEPT, CONTENT_TYPE_PROTOBUF)
                .body(body.clone());
            if let Some(c) = &self.config.credentials {
                request = request.basic_auth(&c.principal, Some(&c.secret));
            }
            let response = tokio::time::timeout(self.config.request_timeout, request.send())
                .await
                .map_err(|_| SubscribeError::Timeout)?
                .map_err(SubscribeError::from_request)?;
            let status = response.status().as_u16();
            match status {
                200 => return self.open(url, response, expected_id).await,
                307 | 308 => {
                    if redirects >= self.config.max_redirects {
                        return Err(SubscribeError::TooManyRedirects(self.config.max_redirects));
                    }
                    let location = response
                        .headers()
                        .get(LOCATION)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned();
                    let next = resolve_location(&url, &location)?;
                    tracing::debug!(from = %url, to = %next, "SUBSCRIBE redirected to the leader");
                    url = next;
                    redirects += 1;
                }
                _ => {
                    let body = error_body(response, self.config.request_timeout).await;
                    return Err(match status {
                        400 => SubscribeError::BadRequest(body),
                        401 => SubscribeError::Unauthorized(body),
                        403 => SubscribeError::Forbidden(body),
                        404 | 429 | 500..=599 => SubscribeError::Unavailable { status, body },
                        _ => SubscribeError::UnexpectedStatus { status, body },
                    });
                }
            }
        }
    }

    async fn open(
        &self,
        endpoint: String,
        response: reqwest::Response,
        expected_id: Option<String>,
    ) -> Result<Subscription, SubscribeError> {
        let stream_id = response
            .headers()
            .get(STREAM_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or(SubscribeError::MissingStreamId)?
            .to_owned();
        if !is_protobuf(&response) {
            let ct = response
                .headers()
                .get(CONTENT_TYPE)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .unwrap_or_default();
            return Err(SubscribeError::NotProtobuf(ct));
        }
        let mut events: EventStream<Event> =
            EventStream::new(record_stream(response, self.config.max_record_size));
        let first = tokio::time::timeout(self.config.request_timeout, events.next_event())
            .await
            .map_err(|_| SubscribeError::Timeout)??
            .ok_or(SubscribeError::ClosedEarly)?;
        let kind = first.r#type.unwrap_or(0);
        if kind == event::Type::Error as i32 {
            let message = first.error.map(|e| e.message).unwrap_or_default();
            return Err(SubscribeError::from_error_event(message));
        }
        let subscribed = match (kind == event::Type::Subscribed as i32, first.subscribed) {
            (true, Some(s)) => s,
            _ => return Err(SubscribeError::UnexpectedFirstEvent(kind)),
        };
        if let Some(expected) = expected_id
            && expected != subscribed.framework_id.value
        {
            return Err(SubscribeError::FrameworkIdChanged {
                expected,
                got: subscribed.framework_id.value.clone(),
            });
        }
        let heartbeat_interval = heartbeat_interval(
            subscribed.heartbeat_interval_seconds,
            self.config.default_heartbeat_interval,
        );
        Ok(Subscription {
            session: Session {
                framework_id: subscribed.framework_id.clone(),
                stream_id,
                endpoint,
            },
            subscribed,
            heartbeat_interval,
            events,
        })
    }

    /// A caller bound to a fixed session (for code that drives a
    /// [`Subscription`] itself rather than through the driver).
    pub fn caller(&self, session: Session) -> Caller {
        let shared = SessionState::new(Vec::new(), Vec::new());
        shared.set(Some(session));
        Caller {
            http: self.call_http.clone(),
            config: self.config.clone(),
            shared: Arc::new(shared),
        }
    }

    pub(crate) fn caller_with(&self, shared: Arc<SessionState>) -> Caller {
        Caller {
            http: self.call_http.clone(),
            config: self.config.clone(),
            shared,
        }
    }
}

/// State shared between the driver (which owns the subscription) and the
/// callers (which need its ids, and keep the suppression set it re-sends).
#[derive(Debug)]
pub(crate) struct SessionState {
    session: RwLock<Option<Session>>,
    suppressed: Mutex<BTreeSet<String>>,
    all_roles: Vec<String>,
    torn_down: AtomicBool,
}

impl SessionState {
    pub(crate) fn new(all_roles: Vec<String>, suppressed: Vec<String>) -> Self {
        Self {
            session: RwLock::new(None),
            suppressed: Mutex::new(suppressed.into_iter().collect()),
            all_roles,
            torn_down: AtomicBool::new(false),
        }
    }

    pub(crate) fn get(&self) -> Option<Session> {
        self.session
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(crate) fn set(&self, session: Option<Session>) {
        *self.session.write().unwrap_or_else(|e| e.into_inner()) = session;
    }

    pub(crate) fn suppressed(&self) -> Vec<String> {
        self.suppressed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    fn suppress(&self, roles: &[String]) {
        let mut set = self.suppressed.lock().unwrap_or_else(|e| e.into_inner());
        let roles = if roles.is_empty() {
            &self.all_roles
        } else {
            roles
        };
        set.extend(roles.iter().cloned());
    }

    fn revive(&self, roles: &[String]) {
        let mut set = self.suppressed.lock().unwrap_or_else(|e| e.into_inner());
        if roles.is_empty() {
            set.clear();
        } else {
            for r in roles {
                set.remove(r);
            }
        }
    }

    pub(crate) fn torn_down(&self) -> bool {
        self.torn_down.load(Ordering::SeqCst)
    }
}

/// Sends scheduler calls for the current subscription. Clone it freely: all
/// clones follow the same subscription, including across reconnects.
#[derive(Debug, Clone)]
pub struct Caller {
    http: reqwest::Client,
    config: Arc<SchedulerConfig>,
    shared: Arc<SessionState>,
}

impl Caller {
    /// The live subscription, if any.
    pub fn session(&self) -> Option<Session> {
        self.shared.get()
    }

    /// The roles this scheduler has suppressed; a re-subscribe sends them,
    /// because SUBSCRIBE replaces the master's suppression state.
    pub fn suppressed_roles(&self) -> Vec<String> {
        self.shared.suppressed()
    }

    /// Sends any call on the live subscription, filling in
    /// `Call.framework_id` when it is unset. 202 is success.
    pub async fn call(&self, mut call: Call) -> Result<(), CallError> {
        let session = self.shared.get().ok_or(CallError::NoSubscription)?;
        if call.framework_id.is_none() {
            call.framework_id = Some(session.framework_id.clone());
        }
        let mut request = self
            .http
            .post(&session.endpoint)
            .header(CONTENT_TYPE, CONTENT_TYPE_PROTOBUF)
            .header(ACCEPT, CONTENT_TYPE_PROTOBUF)
            .header(STREAM_ID_HEADER, &session.stream_id)
            .body(call.encode_to_vec());
        if let Some(c) = &self.config.credentials {
            request = request.basic_auth(&c.principal, Some(&c.secret));
        }
        let response = match tokio::time::timeout(self.config.request_timeout, request.send()).await
        {
            Err(_) => return Err(CallError::Timeout),
            Ok(Err(e)) if e.is_timeout() => return Err(CallError::Timeout),
            Ok(r) => r?,
        };
        let status = response.status().as_u16();
        match status {
            200 | 202 => Ok(()),
            307 | 308 => Err(CallError::NotLeader(
                response
                    .headers()
                    .get(LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
            )),
            _ => {
                let body = error_body(response, self.config.request_timeout).await;
                Err(match status {
                    400 => CallError::BadRequest(body),
                    401 => CallError::Unauthorized(body),
                    403 => CallError::NotSubscribed(body),
                    404 | 429 | 500..=599 => CallError::Unavailable { status, body },
                    _ => CallError::UnexpectedStatus { status, body },
                })
            }
        }
    }

    fn typed(kind: call::Type) -> Call {
        Call {
            r#type: Some(kind as i32),
            ..Default::default()
        }
    }

    /// ACCEPT: runs `operations` against the offers (all from one agent).
    /// Unused resources are declined with `filters`.
    pub async fn accept(
        &self,
        offer_ids: Vec<OfferId>,
        operations: Vec<offer::Operation>,
        filters: Option<Filters>,
    ) -> Result<(), CallError> {
        let mut c = Self::typed(call::Type::Accept);
        c.accept = Some(call::Accept {
            offer_ids,
            operations,
            filters,
        });
        self.call(c).await
    }

    /// ACCEPT with one LAUNCH operation for `tasks`: the common case.
    pub async fn launch(
        &self,
        offer_ids: Vec<OfferId>,
        tasks: Vec<TaskInfo>,
        filters: Option<Filters>,
    ) -> Result<(), CallError> {
        let operation = offer::Operation {
            // Always set: `type` was required in Mesos 1.0.
            r#type: Some(offer::operation::Type::Launch as i32),
            launch: Some(offer::operation::Launch { task_infos: tasks }),
            ..Default::default()
        };
        self.accept(offer_ids, vec![operation], filters).await
    }

    /// DECLINE: gives the offers back; `filters.refuse_seconds` is how long
    /// the agent's resources stay away (the master's default is 5 s).
    pub async fn decline(
        &self,
        offer_ids: Vec<OfferId>,
        filters: Option<Filters>,
    ) -> Result<(), CallError> {
        let mut c = Self::typed(call::Type::Decline);
        c.decline = Some(call::Decline { offer_ids, filters });
        self.call(c).await
    }

    /// REVIVE: clears offer filters and un-suppresses `roles` (all when
    /// empty). The suppression set kept for re-subscribes follows.
    pub async fn revive(&self, roles: Vec<String>) -> Result<(), CallError> {
        let mut c = Self::typed(call::Type::Revive);
        c.revive = Some(call::Revive {
            roles: roles.clone(),
        });
        self.call(c).await?;
        self.shared.revive(&roles);
        Ok(())
    }

    /// SUPPRESS: stops offers for `roles` (all when empty). Status updates
    /// keep flowing.
    pub async fn suppress(&self, roles: Vec<String>) -> Result<(), CallError> {
        let mut c = Self::typed(call::Type::Suppress);
        c.suppress = Some(call::Suppress {
            roles: roles.clone(),
        });
        self.call(c).await?;
        self.shared.suppress(&roles);
        Ok(())
    }

    /// ACKNOWLEDGE one status update; until it is acknowledged the agent
    /// re-sends it and holds back the task's later updates.
    pub async fn acknowledge(
        &self,
        agent_id: AgentId,
        task_id: TaskId,
        uuid: Vec<u8>,
    ) -> Result<(), CallError> {
        let mut c = Self::typed(call::Type::Acknowledge);
        c.acknowledge = Some(call::Acknowledge {
            agent_id,
            task_id,
            uuid,
        });
        self.call(c).await
    }

    /// Acknowledges `status` if it needs it (it carries a uuid and an
    /// agent id); returns whether an ACKNOWLEDGE was sent. Master-generated
    /// updates (reconciliation, invalid offers) carry no uuid and must not
    /// be acknowledged.
    pub async fn acknowledge_status(&self, status: &TaskStatus) -> Result<bool, CallError> {
        match (&status.uuid, &status.agent_id) {
            (Some(uuid), Some(agent_id)) => {
                self.acknowledge(agent_id.clone(), status.task_id.clone(), uuid.clone())
                    .await?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// RECONCILE: explicit for the given tasks, implicit (every task the
    /// master knows) when empty. Answers arrive as UPDATE events.
    pub async fn reconcile(&self, tasks: Vec<(TaskId, Option<AgentId>)>) -> Result<(), CallError> {
        let mut c = Self::typed(call::Type::Reconcile);
        c.reconcile = Some(call::Reconcile {
            tasks: tasks
                .into_iter()
                .map(|(task_id, agent_id)| call::reconcile::Task { task_id, agent_id })
                .collect(),
        });
        self.call(c).await
    }

    /// MESSAGE: a framework message to an executor; at most once, no
    /// acknowledgement.
    pub async fn message(
        &self,
        agent_id: AgentId,
        executor_id: ExecutorId,
        data: Vec<u8>,
    ) -> Result<(), CallError> {
        let mut c = Self::typed(call::Type::Message);
        c.message = Some(call::Message {
            agent_id,
            executor_id,
            data,
        });
        self.call(c).await
    }

    /// KILL a task (forwarded to a custom executor, which reports the end).
    pub async fn kill(&self, task_id: TaskId, agent_id: Option<AgentId>) -> Result<(), CallError> {
        self.kill_with_policy(task_id, agent_id, None).await
    }

    /// KILL with a grace period that overrides the task's own policy.
    pub async fn kill_with_policy(
        &self,
        task_id: TaskId,
        agent_id: Option<AgentId>,
        kill_policy: Option<KillPolicy>,
    ) -> Result<(), CallError> {
        let mut c = Self::typed(call::Type::Kill);
        c.kill = Some(call::Kill {
            task_id,
            agent_id,
            kill_policy,
        });
        self.call(c).await
    }

    /// SHUTDOWN an executor (and so all its tasks).
    pub async fn shutdown(
        &self,
        executor_id: ExecutorId,
        agent_id: AgentId,
    ) -> Result<(), CallError> {
        let mut c = Self::typed(call::Type::Shutdown);
        c.shutdown = Some(call::Shutdown {
            executor_id,
            agent_id,
        });
        self.call(c).await
    }

    /// TEARDOWN: removes the framework for good (every task is killed and
    /// the id can never subscribe again). The driver stops instead of
    /// reconnecting when the master then closes the stream.
    pub async fn teardown(&self) -> Result<(), CallError> {
        // Flag first: the master may close the stream before the 202 arrives.
        self.shared.torn_down.store(true, Ordering::SeqCst);
        let result = self.call(Self::typed(call::Type::Teardown)).await;
        if result.is_err() {
            self.shared.torn_down.store(false, Ordering::SeqCst);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscribe_call_mirrors_framework_id() {
        let mut info = FrameworkInfo {
            user: "root".into(),
            name: "fw".into(),
            ..Default::default()
        };
        let c = SchedulerClient::subscribe_call(&info, &[]);
        assert!(c.framework_id.is_none());
        assert_eq!(c.r#type, Some(call::Type::Subscribe as i32));
        info.id = Some(FrameworkId {
            value: "abc".into(),
        });
        let c = SchedulerClient::subscribe_call(&info, &["r1".to_owned()]);
        assert_eq!(
            c.framework_id.as_ref().map(|f| f.value.as_str()),
            Some("abc")
        );
        let s = c.subscribe.expect("subscribe present");
        assert_eq!(s.framework_info.id, c.framework_id);
        assert_eq!(s.suppressed_roles, vec!["r1".to_owned()]);
    }

    #[test]
    fn teardown_vector_matches_the_notes() {
        // §7: Call{framework_id{value:"abc"}, type: TEARDOWN}.
        let c = Call {
            framework_id: Some(FrameworkId {
                value: "abc".into(),
            }),
            r#type: Some(call::Type::Teardown as i32),
            ..Default::default()
        };
        assert_eq!(
            c.encode_to_vec(),
            vec![0x0a, 0x05, 0x0a, 0x03, 0x61, 0x62, 0x63, 0x10, 0x02]
        );
    }

    #[test]
    fn empty_decline_still_has_its_sub_message() {
        let mut c = Caller::typed(call::Type::Decline);
        c.decline = Some(call::Decline::default());
        let bytes = c.encode_to_vec();
        // type=DECLINE (10 04) then an empty field 5 (2a 00).
        assert_eq!(bytes, vec![0x10, 0x04, 0x2a, 0x00]);
    }

    #[test]
    fn suppression_bookkeeping() {
        let s = SessionState::new(vec!["a".into(), "b".into()], vec!["a".into()]);
        assert_eq!(s.suppressed(), vec!["a".to_owned()]);
        s.suppress(&[]);
        assert_eq!(s.suppressed(), vec!["a".to_owned(), "b".to_owned()]);
        s.revive(&["a".to_owned()]);
        assert_eq!(s.suppressed(), vec!["b".to_owned()]);
        s.revive(&[]);
        assert!(s.suppressed().is_empty());
        s.suppress(&["c".to_owned()]);
        assert_eq!(s.suppressed(), vec!["c".to_owned()]);
    }
}

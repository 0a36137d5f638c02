//! A FAKE Mesos master (and a fake agent executor endpoint) for fault
//! injection: an axum server on 127.0.0.1:0 whose answer to each SUBSCRIBE
//! is scripted, and which records every call it receives with its headers.
//!
//! It is not Mesos. It mimics only what the client tests need: the status
//! codes, the `Mesos-Stream-Id` rules (400 when present on SUBSCRIBE or
//! wrong on another call), RecordIO event streams, and protocol-relative
//! redirects. The real master is exercised by `tests/mesos_real_client.rs`.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use prost::Message;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use logstash_mesos::mesos;

use mesos::proto::v1::scheduler::{Call, Event, call, event};
use mesos::proto::v1::{self, FrameworkId, MasterInfo};
use mesos::recordio::encode_record;

/// The framework id the fake hands out to a framework that has none.
pub const FAKE_FRAMEWORK_ID: &str = "fake-framework-0001";

/// One thing the fake does on an open event stream.
#[derive(Debug, Clone)]
pub enum Step {
    /// SUBSCRIBED with this heartbeat interval. The framework id is the one
    /// the SUBSCRIBE carried, or [`FAKE_FRAMEWORK_ID`], unless `framework_id`
    /// overrides it.
    Subscribed {
        heartbeat_secs: f64,
        framework_id: Option<String>,
    },
    /// HEARTBEAT events every `every`; `count: None` means until the client
    /// goes away.
    Heartbeats { every: Duration, count: Option<u32> },
    /// Any event, framed as a record.
    Event(Box<Event>),
    /// Raw bytes written as they are (garbage, a partial record, ...).
    Raw(Vec<u8>),
    /// An ERROR event.
    Error(String),
    /// Wait.
    Sleep(Duration),
    /// Keep the stream open and silent until the client goes away.
    Stall,
}

/// The fake's answer to one SUBSCRIBE.
#[derive(Debug, Clone)]
pub enum Script {
    /// 307 with this `Location`.
    Redirect(String),
    /// This status with this plain-text body.
    Status(u16, String),
    /// 200 and an event stream running these steps, then closing.
    Stream(Vec<Step>),
}

impl Script {
    /// 307 to another fake, protocol-relative as a real master sends it.
    pub fn redirect_to(leader: &FakeMaster) -> Script {
        Script::Redirect(format!("//{}/api/v1/scheduler", leader.authority()))
    }

    /// 503 as a master without a leader answers.
    pub fn unavailable() -> Script {
        Script::Status(503, "No leader elected".into())
    }

    /// SUBSCRIBED, then heartbeats until the client leaves.
    pub fn subscribed(heartbeat_secs: f64) -> Script {
        Script::Stream(vec![
            Step::Subscribed {
                heartbeat_secs,
                framework_id: None,
            },
            Step::Heartbeats {
                every: Duration::from_secs_f64(heartbeat_secs),
                count: None,
            },
        ])
    }

    /// SUBSCRIBED, then nothing at all (a dead master or network).
    pub fn subscribed_then_stall(heartbeat_secs: f64) -> Script {
        Script::Stream(vec![
            Step::Subscribed {
                heartbeat_secs,
                framework_id: None,
            },
            Step::Stall,
        ])
    }

    /// SUBSCRIBED, a heartbeat, then ERROR "Framework failed over" and close.
    pub fn failed_over() -> Script {
        Script::Stream(vec![
            Step::Subscribed {
                heartbeat_secs: 0.2,
                framework_id: None,
            },
            Step::Heartbeats {
                every: Duration::from_millis(20),
                count: Some(1),
            },
            Step::Error("Framework failed over".into()),
        ])
    }

    /// SUBSCRIBED, then half a record and a closed connection.
    pub fn cut_mid_record() -> Script {
        Script::Stream(vec![
            Step::Subscribed {
                heartbeat_secs: 0.2,
                framework_id: None,
            },
            Step::Raw(b"100\n\x08\x08\x08".to_vec()),
        ])
    }

    /// SUBSCRIBED, then a record whose length line is garbage.
    pub fn garbage_record() -> Script {
        Script::Stream(vec![
            Step::Subscribed {
                heartbeat_secs: 0.2,
                framework_id: None,
            },
            Step::Raw(b"zz\nthis is not RecordIO".to_vec()),
            Step::Stall,
        ])
    }

    /// SUBSCRIBED, then an undecodable protobuf record.
    pub fn undecodable_event() -> Script {
        Script::Stream(vec![
            Step::Subscribed {
                heartbeat_secs: 0.2,
                framework_id: None,
            },
            Step::Raw(encode_record(&[0xff, 0xff, 0xff])),
            Step::Stall,
        ])
    }
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub at: Instant,
    pub headers: HeaderMap,
    pub call: Option<Call>,
    /// The status the fake answered.
    pub status: u16,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    }

    pub fn call_type(&self) -> Option<call::Type> {
        self.call
            .as_ref()
            .and_then(|c| c.r#type)
            .and_then(|t| call::Type::try_from(t).ok())
    }

    pub fn is_subscribe(&self) -> bool {
        self.call_type() == Some(call::Type::Subscribe)
    }

    pub fn framework_id(&self) -> Option<String> {
        self.call
            .as_ref()
            .and_then(|c| c.framework_id.as_ref())
            .map(|f| f.value.clone())
    }
}

struct FakeState {
    scripts: Mutex<VecDeque<Script>>,
    fallback: Mutex<Script>,
    recorded: Mutex<Vec<Recorded>>,
    stream_id: Mutex<Option<String>>,
    call_status: Mutex<Option<(u16, String)>>,
    streams_started: AtomicUsize,
    /// Closes the current event stream (TEARDOWN does, as on a real master).
    close_stream: Mutex<Option<CancellationToken>>,
    open_streams: AtomicUsize,
    max_open_streams: AtomicUsize,
    port: u16,
}

/// A running fake master. Dropping it stops accepting connections.
pub struct FakeMaster {
    addr: SocketAddr,
    state: Arc<FakeState>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeMaster {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeMaster {
    /// Starts a fake on an ephemeral port that answers SUBSCRIBEs with
    /// `scripts` in order, then with 503 (see [`FakeMaster::set_fallback`]).
    pub async fn start(scripts: Vec<Script>) -> FakeMaster {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake master");
        let addr = listener.local_addr().expect("fake master address");
        let state = Arc::new(FakeState {
            scripts: Mutex::new(scripts.into()),
            fallback: Mutex::new(Script::unavailable()),
            recorded: Mutex::new(Vec::new()),
            stream_id: Mutex::new(None),
            call_status: Mutex::new(None),
            streams_started: AtomicUsize::new(0),
            close_stream: Mutex::new(None),
            open_streams: AtomicUsize::new(0),
            max_open_streams: AtomicUsize::new(0),
            port: addr.port(),
        });
        let app = Router::new()
            .route("/api/v1/scheduler", post(scheduler))
            .route("/master/api/v1/scheduler", post(scheduler))
            .with_state(state.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeMaster {
            addr,
            state,
            server,
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `127.0.0.1:<port>`.
    pub fn authority(&self) -> String {
        self.addr.to_string()
    }

    /// The scheduler endpoint.
    pub fn endpoint(&self) -> String {
        format!("http://{}/api/v1/scheduler", self.addr)
    }

    /// What SUBSCRIBEs get once the scripts are used up.
    pub fn set_fallback(&self, script: Script) {
        *self.state.fallback.lock().unwrap() = script;
    }

    /// Answers every non-SUBSCRIBE call with this status (None: 202).
    pub fn set_call_status(&self, status: Option<(u16, &str)>) {
        *self.state.call_status.lock().unwrap() = status.map(|(s, b)| (s, b.to_owned()));
    }

    pub fn calls(&self) -> Vec<Recorded> {
        self.state.recorded.lock().unwrap().clone()
    }

    pub fn subscribes(&self) -> Vec<Recorded> {
        self.calls()
            .into_iter()
            .filter(|r| r.is_subscribe())
            .collect()
    }

    pub fn non_subscribe_calls(&self) -> Vec<Recorded> {
        self.calls()
            .into_iter()
            .filter(|r| !r.is_subscribe())
            .collect()
    }

    /// The stream id of the latest stream the fake opened.
    pub fn stream_id(&self) -> Option<String> {
        self.state.stream_id.lock().unwrap().clone()
    }

    /// The most event streams that were ever open at the same time.
    pub fn max_open_streams(&self) -> usize {
        self.state.max_open_streams.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` SUBSCRIBEs arrived (panics after `limit`).
    pub async fn wait_for_subscribes(&self, n: usize, limit: Duration) -> Vec<Recorded> {
        let deadline = Instant::now() + limit;
        loop {
            let subs = self.subscribes();
            if subs.len() >= n {
                return subs;
            }
            assert!(
                Instant::now() < deadline,
                "only {} of {n} SUBSCRIBEs within {limit:?}",
                subs.len()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

fn text(status: u16, body: &str) -> Response {
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        body.to_owned(),
    )
        .into_response()
}

fn record(state: &FakeState, headers: &HeaderMap, call: Option<Call>, status: u16) {
    state.recorded.lock().unwrap().push(Recorded {
        at: Instant::now(),
        headers: headers.clone(),
        call,
        status,
    });
}

async fn scheduler(
    State(state): State<Arc<FakeState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type != "application/x-protobuf" {
        record(&state, &headers, None, 415);
        return text(415, "Unsupported Content-Type");
    }
    let Ok(call) = Call::decode(body) else {
        record(&state, &headers, None, 400);
        return text(400, "Failed to parse body into Call protobuf");
    };
    let is_subscribe = call.r#type == Some(call::Type::Subscribe as i32);
    if !is_subscribe {
        let (status, body) = non_subscribe(&state, &headers, &call);
        record(&state, &headers, Some(call), status);
        return text(status, &body);
    }
    if headers.contains_key("mesos-stream-id") {
        record(&state, &headers, Some(call), 400);
        return text(
            400,
            "Subscribe calls should not include the 'Mesos-Stream-Id' header",
        );
    }
    let info_id = call
        .subscribe
        .as_ref()
        .and_then(|s| s.framework_info.id.as_ref())
        .map(|f| f.value.clone());
    let call_id = call.framework_id.as_ref().map(|f| f.value.clone());
    if info_id != call_id {
        record(&state, &headers, Some(call), 400);
        return text(
            400,
            "'framework_id' differs from 'subscribe.framework_info.id'",
        );
    }
    let script = {
        let next = state.scripts.lock().unwrap().pop_front();
        next.unwrap_or_else(|| state.fallback.lock().unwrap().clone())
    };
    match script {
        Script::Redirect(location) => {
            record(&state, &headers, Some(call), 307);
            (
                StatusCode::TEMPORARY_REDIRECT,
                [(header::LOCATION, location)],
            )
                .into_response()
        }
        Script::Status(status, body) => {
            record(&state, &headers, Some(call), status);
            text(status, &body)
        }
        Script::Stream(steps) => {
            record(&state, &headers, Some(call.clone()), 200);
            let n = state.streams_started.fetch_add(1, Ordering::SeqCst) + 1;
            let stream_id = format!("fake-stream-{n:04}-{}", state.port);
            *state.stream_id.lock().unwrap() = Some(stream_id.clone());
            let framework_id = call_id.unwrap_or_else(|| FAKE_FRAMEWORK_ID.to_owned());
            let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(16);
            let open = state.open_streams.fetch_add(1, Ordering::SeqCst) + 1;
            state.max_open_streams.fetch_max(open, Ordering::SeqCst);
            let close = CancellationToken::new();
            *state.close_stream.lock().unwrap() = Some(close.clone());
            let task_state = state.clone();
            tokio::spawn(async move {
                tokio::select! {
                    _ = close.cancelled() => {}
                    _ = run_steps(&tx, steps, framework_id, task_state.port) => {}
                }
                drop(tx);
                task_state.open_streams.fetch_sub(1, Ordering::SeqCst);
            });
            let body = Body::from_stream(futures::stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|item| (item, rx))
            }));
            Response::builder()
                .status(200)
                .header(header::CONTENT_TYPE, "application/x-protobuf")
                .header("Mesos-Stream-Id", stream_id)
                .body(body)
                .unwrap()
        }
    }
}

fn non_subscribe(state: &FakeState, headers: &HeaderMap, call: &Call) -> (u16, String) {
    let current = state.stream_id.lock().unwrap().clone();
    let given = headers
        .get("mesos-stream-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    match (given, current) {
        (None, _) => {
            return (
                400,
                "All non-subscribe calls should include the 'Mesos-Stream-Id' header".into(),
            );
        }
        (Some(g), Some(c)) if g == c => {}
        (Some(g), _) => {
            return (
                400,
                format!("The stream ID '{g}' included in this request didn't match"),
            );
        }
    }
    if call.framework_id.is_none() {
        return (400, "Expecting 'framework_id' to be present".into());
    }
    if let Some((status, body)) = state.call_status.lock().unwrap().clone() {
        return (status, body);
    }
    if call.r#type == Some(call::Type::Teardown as i32)
        && let Some(close) = state.close_stream.lock().unwrap().take()
    {
        close.cancel();
    }
    (202, String::new())
}

/// SUBSCRIBED as the fake sends it.
pub fn subscribed_event(framework_id: &str, heartbeat_secs: f64, port: u16) -> Event {
    Event {
        r#type: Some(event::Type::Subscribed as i32),
        subscribed: Some(event::Subscribed {
            framework_id: FrameworkId {
                value: framework_id.to_owned(),
            },
            heartbeat_interval_seconds: Some(heartbeat_secs),
            master_info: Some(MasterInfo {
                id: "fake-master".into(),
                ip: 0x0100_007f,
                port: u32::from(port),
                hostname: Some("127.0.0.1".into()),
                version: Some("1.11.0-fake".into()),
                ..Default::default()
            }),
        }),
        ..Default::default()
    }
}

pub fn heartbeat_event() -> Event {
    Event {
        r#type: Some(event::Type::Heartbeat as i32),
        ..Default::default()
    }
}

pub fn error_event(message: &str) -> Event {
    Event {
        r#type: Some(event::Type::Error as i32),
        error: Some(event::Error {
            message: message.to_owned(),
        }),
        ..Default::default()
    }
}

/// An OFFERS event with one offer of `cpus` from `agent`.
pub fn offers_event(offer_id: &str, agent: &str, cpus: f64) -> Event {
    Event {
        r#type: Some(event::Type::Offers as i32),
        offers: Some(event::Offers {
            offers: vec![v1::Offer {
                id: v1::OfferId {
                    value: offer_id.to_owned(),
                },
                framework_id: FrameworkId {
                    value: FAKE_FRAMEWORK_ID.to_owned(),
                },
                agent_id: v1::AgentId {
                    value: agent.to_owned(),
                },
                hostname: "agent-host".into(),
                resources: vec![v1::Resource {
                    name: "cpus".into(),
                    r#type: v1::value::Type::Scalar as i32,
                    scalar: Some(v1::value::Scalar { value: cpus }),
                    role: Some("*".into()),
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }),
        ..Default::default()
    }
}

async fn send(tx: &mpsc::Sender<Result<Bytes, std::io::Error>>, bytes: Vec<u8>) -> bool {
    tx.send(Ok(Bytes::from(bytes))).await.is_ok()
}

async fn run_steps(
    tx: &mpsc::Sender<Result<Bytes, std::io::Error>>,
    steps: Vec<Step>,
    default_framework_id: String,
    port: u16,
) {
    for step in steps {
        let alive = match step {
            Step::Subscribed {
                heartbeat_secs,
                framework_id,
            } => {
                let id = framework_id.unwrap_or_else(|| default_framework_id.clone());
                let e = subscribed_event(&id, heartbeat_secs, port);
                send(tx, encode_record(&e.encode_to_vec())).await
            }
            Step::Heartbeats { every, count } => {
                let mut sent = 0;
                loop {
                    if count.is_some_and(|c| sent >= c) {
                        break true;
                    }
                    tokio::time::sleep(every).await;
                    if !send(tx, encode_record(&heartbeat_event().encode_to_vec())).await {
                        break false;
                    }
                    sent += 1;
                }
            }
            Step::Event(e) => send(tx, encode_record(&e.encode_to_vec())).await,
            Step::Raw(bytes) => send(tx, bytes).await,
            Step::Error(message) => {
                send(tx, encode_record(&error_event(&message).encode_to_vec())).await
            }
            Step::Sleep(d) => {
                tokio::time::sleep(d).await;
                true
            }
            Step::Stall => {
                tx.closed().await;
                false
            }
        };
        if !alive {
            return;
        }
    }
}

// ---------------------------------------------------------------------------
// A fake agent executor endpoint
// ---------------------------------------------------------------------------

use mesos::proto::v1::executor;

/// The fake agent's answer to one executor SUBSCRIBE.
#[derive(Debug, Clone)]
pub enum AgentScript {
    /// This status and body.
    Status(u16, String),
    /// 200, these events (each framed), then close.
    Events(Vec<executor::Event>),
    /// 200, these events, then stay open until the client leaves.
    EventsThenStall(Vec<executor::Event>),
}

struct AgentState {
    scripts: Mutex<VecDeque<AgentScript>>,
    calls: Mutex<Vec<(HeaderMap, executor::Call)>>,
    /// Closes the open streams (an agent restart, as the executor sees it).
    streams: Mutex<Vec<CancellationToken>>,
}

/// A fake agent serving `/slave(1)/api/v1/executor`.
pub struct FakeAgent {
    addr: SocketAddr,
    state: Arc<AgentState>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeAgent {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeAgent {
    pub async fn start(scripts: Vec<AgentScript>) -> FakeAgent {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake agent");
        let addr = listener.local_addr().expect("fake agent address");
        let state = Arc::new(AgentState {
            scripts: Mutex::new(scripts.into()),
            calls: Mutex::new(Vec::new()),
            streams: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .route("/slave(1)/api/v1/executor", post(agent_executor))
            .with_state(state.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeAgent {
            addr,
            state,
            server,
        }
    }

    /// `127.0.0.1:<port>`, as in `MESOS_AGENT_ENDPOINT`.
    pub fn authority(&self) -> String {
        self.addr.to_string()
    }

    pub fn push(&self, script: AgentScript) {
        self.state.scripts.lock().unwrap().push_back(script);
    }

    /// Closes every open event stream, as an agent restart would.
    pub fn close_streams(&self) {
        for s in self.state.streams.lock().unwrap().drain(..) {
            s.cancel();
        }
    }

    pub fn calls(&self) -> Vec<(HeaderMap, executor::Call)> {
        self.state.calls.lock().unwrap().clone()
    }

    pub fn subscribes(&self) -> Vec<executor::Call> {
        self.calls()
            .into_iter()
            .map(|(_, c)| c)
            .filter(|c| c.r#type == Some(executor::call::Type::Subscribe as i32))
            .collect()
    }

    pub async fn wait_for_subscribes(&self, n: usize, limit: Duration) -> Vec<executor::Call> {
        let deadline = Instant::now() + limit;
        loop {
            let subs = self.subscribes();
            if subs.len() >= n {
                return subs;
            }
            assert!(
                Instant::now() < deadline,
                "only {} of {n} executor SUBSCRIBEs within {limit:?}",
                subs.len()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

async fn agent_executor(
    State(state): State<Arc<AgentState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(call) = executor::Call::decode(body) else {
        return text(400, "Failed to parse body into Call protobuf");
    };
    let is_subscribe = call.r#type == Some(executor::call::Type::Subscribe as i32);
    let missing_subscribe = is_subscribe && call.subscribe.is_none();
    state.calls.lock().unwrap().push((headers, call));
    if missing_subscribe {
        return text(400, "Expecting 'subscribe' to be present");
    }
    if !is_subscribe {
        return text(202, "");
    }
    let script = state
        .scripts
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or(AgentScript::Status(
            503,
            "Agent has not finished recovery".into(),
        ));
    let (events, stall) = match script {
        AgentScript::Status(status, body) => return text(status, &body),
        AgentScript::Events(e) => (e, false),
        AgentScript::EventsThenStall(e) => (e, true),
    };
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    let close = CancellationToken::new();
    state.streams.lock().unwrap().push(close.clone());
    tokio::spawn(async move {
        let run = async {
            for e in events {
                if !send(&tx, encode_record(&e.encode_to_vec())).await {
                    return;
                }
            }
            if stall {
                tx.closed().await;
            }
        };
        tokio::select! {
            _ = close.cancelled() => {}
            _ = run => {}
        }
    });
    let body = Body::from_stream(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }));
    Response::builder()
        .status(200)
        .header(header::CONTENT_TYPE, "application/x-protobuf")
        .body(body)
        .unwrap()
}

//! Fault injection for the Mesos scheduler and executor clients, against the
//! scripted FAKE master and agent in `support/fake_master.rs`: redirects,
//! 503s, dead and broken streams, fail-over, removal, and the header rules.

use crate::support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use logstash_mesos::mesos;

use logstash_mesos::backoff::Backoff;
use mesos::executor::{
    ExecutorConfig, ExecutorDriver, ExecutorEnv, ExecutorExit, ExecutorIncoming,
};
use mesos::proto::v1::scheduler::{call, event};
use mesos::proto::v1::{self, executor as ex};
use mesos::scheduler::{
    CallError, DriverExit, Incoming, SchedulerConfig, SchedulerDriver, SubscribeError,
    SubscribeOptions, SubscribedInfo,
};
use support::fake_master::{AgentScript, FAKE_FRAMEWORK_ID, FakeAgent, FakeMaster, Script, Step};

const WAIT: Duration = Duration::from_secs(5);

fn config(masters: &[String]) -> SchedulerConfig {
    let mut c = SchedulerConfig::new(masters).expect("config");
    c.backoff = Backoff::new(Duration::from_millis(20), Duration::from_millis(200));
    c.request_timeout = Duration::from_secs(2);
    c.connect_timeout = Duration::from_secs(1);
    c
}

fn options(id: Option<&str>) -> SubscribeOptions {
    SubscribeOptions {
        framework_info: v1::FrameworkInfo {
            user: "root".into(),
            name: "fault-test".into(),
            failover_timeout: Some(3600.0),
            id: id.map(|v| v1::FrameworkId { value: v.into() }),
            ..Default::default()
        },
        suppressed_roles: vec![],
    }
}

async fn next(rx: &mut mpsc::Receiver<Incoming>) -> Incoming {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("an event from the driver in time")
        .expect("the driver's channel is open")
}

async fn expect_subscribed(rx: &mut mpsc::Receiver<Incoming>) -> SubscribedInfo {
    match next(rx).await {
        Incoming::Subscribed(info) => *info,
        other => panic!("expected Subscribed, got {other:?}"),
    }
}

async fn expect_disconnected(rx: &mut mpsc::Receiver<Incoming>) -> String {
    match next(rx).await {
        Incoming::Disconnected { reason } => reason,
        other => panic!("expected Disconnected, got {other:?}"),
    }
}

async fn finish(task: tokio::task::JoinHandle<DriverExit>) -> DriverExit {
    tokio::time::timeout(WAIT, task)
        .await
        .expect("the driver stops in time")
        .expect("the driver task does not panic")
}

fn offer_id(v: &str) -> v1::OfferId {
    v1::OfferId { value: v.into() }
}

/// An address where nothing listens (bound, then released).
async fn dead_master() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}")
}

#[tokio::test]
async fn follows_a_protocol_relative_307_to_the_leader() {
    let leader = FakeMaster::start(vec![Script::subscribed(0.2)]).await;
    let follower = FakeMaster::start(vec![Script::redirect_to(&leader)]).await;
    let cancel = CancellationToken::new();
    let mut d =
        SchedulerDriver::spawn(config(&[follower.url()]), options(None), cancel.clone()).unwrap();

    let info = expect_subscribed(&mut d.events).await;
    assert_eq!(info.master_url, leader.endpoint());
    assert_eq!(info.framework_id.value, FAKE_FRAMEWORK_ID);
    assert_eq!(info.stream_id, leader.stream_id().unwrap());
    assert_eq!(info.heartbeat_interval, Duration::from_millis(200));
    assert!(!info.resubscribed);
    assert_eq!(follower.subscribes()[0].status, 307);
    assert_eq!(leader.subscribes().len(), 1);

    // Calls go to the leader, not to the master first asked.
    d.caller.decline(vec![offer_id("o-1")], None).await.unwrap();
    assert_eq!(leader.non_subscribe_calls().len(), 1);
    assert!(follower.non_subscribe_calls().is_empty());
    // No credentials configured: no Authorization header anywhere.
    assert!(
        leader
            .calls()
            .iter()
            .all(|c| c.header("authorization").is_none())
    );

    cancel.cancel();
    assert_eq!(finish(d.task).await, DriverExit::Cancelled);
}

#[tokio::test]
async fn retries_after_503_with_backoff() {
    let fake = FakeMaster::start(vec![
        Script::unavailable(),
        Script::unavailable(),
        Script::subscribed(0.2),
    ])
    .await;
    let mut c = config(&[fake.url()]);
    c.backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1)).without_jitter();
    let cancel = CancellationToken::new();
    let mut d = SchedulerDriver::spawn(c, options(None), cancel.clone()).unwrap();

    // Nothing reaches the loop before the subscription succeeds.
    expect_subscribed(&mut d.events).await;
    let subs = fake.subscribes();
    assert_eq!(
        subs.iter().map(|s| s.status).collect::<Vec<_>>(),
        vec![503, 503, 200]
    );
    let gap1 = subs[1].at - subs[0].at;
    let gap2 = subs[2].at - subs[1].at;
    assert!(gap1 >= Duration::from_millis(95), "first wait {gap1:?}");
    assert!(
        gap2 >= Duration::from_millis(195),
        "second wait doubles: {gap2:?}"
    );
    assert!(gap2 < Duration::from_secs(2));

    cancel.cancel();
    assert_eq!(finish(d.task).await, DriverExit::Cancelled);
}

#[tokio::test]
async fn reconnects_after_missed_heartbeats() {
    let fake = FakeMaster::start(vec![
        Script::subscribed_then_stall(0.2),
        Script::subscribed(0.2),
    ])
    .await;
    let cancel = CancellationToken::new();
    let mut d =
        SchedulerDriver::spawn(config(&[fake.url()]), options(None), cancel.clone()).unwrap();

    let first = expect_subscribed(&mut d.events).await;
    let subscribed_at = Instant::now();
    let reason = expect_disconnected(&mut d.events).await;
    let silent_for = subscribed_at.elapsed();
    assert!(reason.contains("no event"), "{reason}");
    // 5 missed intervals of 0.2 s.
    assert!(
        silent_for >= Duration::from_millis(900),
        "gave up after {silent_for:?}"
    );
    assert!(
        silent_for < Duration::from_secs(3),
        "gave up after {silent_for:?}"
    );
    assert!(
        d.caller.session().is_none(),
        "no session while reconnecting"
    );

    let second = expect_subscribed(&mut d.events).await;
    assert!(second.resubscribed);
    assert_eq!(second.framework_id, first.framework_id);
    assert_ne!(second.stream_id, first.stream_id);
    let subs = fake.subscribes();
    assert_eq!(subs.len(), 2);
    assert_eq!(subs[1].framework_id().as_deref(), Some(FAKE_FRAMEWORK_ID));
    // Calls now use the new stream id.
    d.caller.revive(vec![]).await.unwrap();
    assert_eq!(
        fake.non_subscribe_calls()[0].header("mesos-stream-id"),
        Some(second.stream_id.clone())
    );
    assert_eq!(
        fake.max_open_streams(),
        1,
        "never two subscriptions at once"
    );

    cancel.cancel();
    assert_eq!(finish(d.task).await, DriverExit::Cancelled);
}

#[tokio::test]
async fn failed_over_is_reported_and_never_resubscribed() {
    let fake = FakeMaster::start(vec![Script::failed_over()]).await;
    // Were the driver to re-subscribe, it would succeed.
    fake.set_fallback(Script::subscribed(0.2));
    let cancel = CancellationToken::new();
    let mut d =
        SchedulerDriver::spawn(config(&[fake.url()]), options(None), cancel.clone()).unwrap();

    expect_subscribed(&mut d.events).await;
    match next(&mut d.events).await {
        Incoming::FailedOver { message } => assert_eq!(message, "Framework failed over"),
        other => panic!("expected FailedOver, got {other:?}"),
    }
    assert_eq!(
        finish(d.task).await,
        DriverExit::FailedOver("Framework failed over".into())
    );
    assert!(d.events.recv().await.is_none(), "nothing after FailedOver");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        fake.subscribes().len(),
        1,
        "stood down: no second SUBSCRIBE"
    );
    assert!(matches!(
        d.caller.decline(vec![offer_id("o")], None).await,
        Err(CallError::NoSubscription)
    ));
}

#[tokio::test]
async fn cut_stream_reconnects_with_the_learned_framework_id() {
    let fake = FakeMaster::start(vec![Script::cut_mid_record(), Script::subscribed(0.2)]).await;
    let cancel = CancellationToken::new();
    let mut d =
        SchedulerDriver::spawn(config(&[fake.url()]), options(None), cancel.clone()).unwrap();

    let first = expect_subscribed(&mut d.events).await;
    assert_eq!(first.framework_id.value, FAKE_FRAMEWORK_ID);
    let reason = expect_disconnected(&mut d.events).await;
    assert!(reason.contains("middle of a RecordIO record"), "{reason}");
    let second = expect_subscribed(&mut d.events).await;
    assert!(second.resubscribed);

    let subs = fake.subscribes();
    assert_eq!(subs.len(), 2);
    assert_eq!(subs[0].framework_id(), None, "a new framework sends no id");
    let resub = subs[1].call.as_ref().unwrap();
    assert_eq!(
        resub.framework_id.as_ref().unwrap().value,
        FAKE_FRAMEWORK_ID
    );
    let info_id = &resub.subscribe.as_ref().unwrap().framework_info.id;
    assert_eq!(info_id.as_ref().unwrap().value, FAKE_FRAMEWORK_ID);
    assert_eq!(fake.max_open_streams(), 1);

    cancel.cancel();
    assert_eq!(finish(d.task).await, DriverExit::Cancelled);
}

#[tokio::test]
async fn garbage_and_undecodable_records_reconnect() {
    let fake = FakeMaster::start(vec![
        Script::garbage_record(),
        Script::undecodable_event(),
        Script::subscribed(0.2),
    ])
    .await;
    let cancel = CancellationToken::new();
    let mut d = SchedulerDriver::spawn(
        config(&[fake.url()]),
        options(Some("stored-id")),
        cancel.clone(),
    )
    .unwrap();

    let first = expect_subscribed(&mut d.events).await;
    assert!(first.resubscribed, "started with a stored id");
    assert_eq!(first.framework_id.value, "stored-id");
    let reason = expect_disconnected(&mut d.events).await;
    assert!(reason.contains("invalid byte"), "{reason}");
    expect_subscribed(&mut d.events).await;
    let reason = expect_disconnected(&mut d.events).await;
    assert!(reason.contains("undecodable"), "{reason}");
    expect_subscribed(&mut d.events).await;
    let subs = fake.subscribes();
    assert_eq!(subs.len(), 3);
    assert!(
        subs.iter()
            .all(|s| s.framework_id().as_deref() == Some("stored-id"))
    );

    cancel.cancel();
    assert_eq!(finish(d.task).await, DriverExit::Cancelled);
}

#[tokio::test]
async fn every_call_carries_stream_id_framework_id_and_basic_auth() {
    let fake = FakeMaster::start(vec![Script::subscribed(0.2)]).await;
    let c = config(&[fake.url()]).with_credentials("fw-principal", "s3cret");
    let cancel = CancellationToken::new();
    let mut d = SchedulerDriver::spawn(c, options(None), cancel.clone()).unwrap();
    let info = expect_subscribed(&mut d.events).await;
    let caller = d.caller.clone();

    let agent = v1::AgentId {
        value: "agent-1".into(),
    };
    let task = v1::TaskId {
        value: "task-1".into(),
    };
    let executor = v1::ExecutorId {
        value: "exec-1".into(),
    };
    let filters = Some(v1::Filters {
        refuse_seconds: Some(3600.0),
    });
    let task_info = v1::TaskInfo {
        name: "t".into(),
        task_id: task.clone(),
        agent_id: agent.clone(),
        ..Default::default()
    };
    caller
        .launch(vec![offer_id("o-1")], vec![task_info], filters)
        .await
        .unwrap();
    caller
        .accept(vec![offer_id("o-2")], vec![], None)
        .await
        .unwrap();
    caller
        .decline(vec![offer_id("o-3")], filters)
        .await
        .unwrap();
    caller.revive(vec!["logs".into()]).await.unwrap();
    caller.suppress(vec![]).await.unwrap();
    caller
        .acknowledge(agent.clone(), task.clone(), vec![7; 16])
        .await
        .unwrap();
    caller
        .reconcile(vec![(task.clone(), Some(agent.clone()))])
        .await
        .unwrap();
    caller.reconcile(vec![]).await.unwrap();
    caller
        .message(agent.clone(), executor.clone(), b"hello".to_vec())
        .await
        .unwrap();
    caller
        .kill(task.clone(), Some(agent.clone()))
        .await
        .unwrap();
    caller
        .shutdown(executor.clone(), agent.clone())
        .await
        .unwrap();
    // A master-generated update has no uuid: nothing is sent for it.
    let no_uuid = v1::TaskStatus {
        task_id: task.clone(),
        agent_id: Some(agent.clone()),
        ..Default::default()
    };
    assert!(!caller.acknowledge_status(&no_uuid).await.unwrap());
    caller.teardown().await.unwrap();

    // The master closes the stream after TEARDOWN; the driver stops.
    assert!(matches!(next(&mut d.events).await, Incoming::TornDown));
    assert_eq!(finish(d.task).await, DriverExit::TornDown);
    assert_eq!(fake.subscribes().len(), 1, "no re-subscribe after TEARDOWN");

    let expected_auth = "Basic ZnctcHJpbmNpcGFsOnMzY3JldA=="; // fw-principal:s3cret
    let calls = fake.calls();
    let subscribe = &calls[0];
    assert!(subscribe.is_subscribe());
    assert_eq!(subscribe.header("mesos-stream-id"), None);
    assert_eq!(
        subscribe.header("content-type").as_deref(),
        Some("application/x-protobuf")
    );
    assert_eq!(
        subscribe.header("accept").as_deref(),
        Some("application/x-protobuf")
    );
    assert_eq!(
        subscribe.header("authorization").as_deref(),
        Some(expected_auth)
    );

    let rest = &calls[1..];
    let types: Vec<call::Type> = rest.iter().map(|c| c.call_type().unwrap()).collect();
    use call::Type as T;
    assert_eq!(
        types,
        vec![
            T::Accept,
            T::Accept,
            T::Decline,
            T::Revive,
            T::Suppress,
            T::Acknowledge,
            T::Reconcile,
            T::Reconcile,
            T::Message,
            T::Kill,
            T::Shutdown,
            T::Teardown
        ]
    );
    for c in rest {
        assert_eq!(c.status, 202, "{:?}", c.call_type());
        assert_eq!(c.header("mesos-stream-id"), Some(info.stream_id.clone()));
        assert_eq!(c.framework_id().as_deref(), Some(FAKE_FRAMEWORK_ID));
        assert_eq!(
            c.header("content-type").as_deref(),
            Some("application/x-protobuf")
        );
        assert_eq!(c.header("authorization").as_deref(), Some(expected_auth));
    }
    // Sub-messages that may be empty are still present.
    let accept = rest[1].call.as_ref().unwrap().accept.as_ref();
    assert!(accept.is_some_and(|a| a.operations.is_empty()));
    let launch = rest[0].call.as_ref().unwrap().accept.as_ref().unwrap();
    assert_eq!(
        launch.operations[0].r#type,
        Some(v1::offer::operation::Type::Launch as i32)
    );
    assert_eq!(launch.filters.unwrap().refuse_seconds, Some(3600.0));
    assert!(rest[4].call.as_ref().unwrap().suppress.is_some());
    assert!(
        rest[7]
            .call
            .as_ref()
            .unwrap()
            .reconcile
            .as_ref()
            .unwrap()
            .tasks
            .is_empty()
    );
    assert_eq!(
        rest[5]
            .call
            .as_ref()
            .unwrap()
            .acknowledge
            .as_ref()
            .unwrap()
            .uuid,
        vec![7; 16]
    );
}

#[tokio::test]
async fn first_master_down_second_used() {
    let fake = FakeMaster::start(vec![Script::subscribed(0.2)]).await;
    let dead = dead_master().await;
    // Timeouts far above the bound below: a driver that waited for one on
    // the dead master would be seen, however busy the machine is.
    let mut config = config(&[dead, fake.url()]);
    config.connect_timeout = Duration::from_secs(10);
    config.request_timeout = Duration::from_secs(10);
    let started = Instant::now();
    let cancel = CancellationToken::new();
    let mut d = SchedulerDriver::spawn(config, options(None), cancel.clone()).unwrap();
    let info = expect_subscribed(&mut d.events).await;
    assert_eq!(info.master_url, fake.endpoint());
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "{took:?}");
    cancel.cancel();
    assert_eq!(finish(d.task).await, DriverExit::Cancelled);
}

#[tokio::test]
async fn removed_framework_is_reported_and_stops() {
    let fake = FakeMaster::start(vec![Script::Stream(vec![Step::Error(
        "Framework has been removed".into(),
    )])])
    .await;
    fake.set_fallback(Script::subscribed(0.2));
    let cancel = CancellationToken::new();
    let mut d = SchedulerDriver::spawn(
        config(&[fake.url()]),
        options(Some("torn-down-id")),
        cancel.clone(),
    )
    .unwrap();
    match next(&mut d.events).await {
        Incoming::Removed { message } => assert_eq!(message, "Framework has been removed"),
        other => panic!("expected Removed, got {other:?}"),
    }
    assert!(matches!(finish(d.task).await, DriverExit::Removed(_)));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(fake.subscribes().len(), 1);
}

#[tokio::test]
async fn refused_and_unauthorized_subscriptions_are_fatal() {
    let fake = FakeMaster::start(vec![Script::Status(401, "Unauthorized".into())]).await;
    let mut d = SchedulerDriver::spawn(
        config(&[fake.url()]),
        options(None),
        CancellationToken::new(),
    )
    .unwrap();
    match next(&mut d.events).await {
        Incoming::Fatal {
            error: SubscribeError::Unauthorized(body),
        } => assert_eq!(body, "Unauthorized"),
        other => panic!("expected Fatal(Unauthorized), got {other:?}"),
    }
    assert!(matches!(finish(d.task).await, DriverExit::Fatal(_)));

    let fake = FakeMaster::start(vec![Script::Stream(vec![Step::Error(
        "Role 'nope' is not present in the master's --roles".into(),
    )])])
    .await;
    let mut d = SchedulerDriver::spawn(
        config(&[fake.url()]),
        options(None),
        CancellationToken::new(),
    )
    .unwrap();
    match next(&mut d.events).await {
        Incoming::Fatal {
            error: SubscribeError::Refused(message),
        } => assert!(message.contains("--roles")),
        other => panic!("expected Fatal(Refused), got {other:?}"),
    }
    assert!(matches!(finish(d.task).await, DriverExit::Fatal(_)));
}

#[tokio::test]
async fn changed_framework_id_on_resubscribe_is_fatal() {
    let fake = FakeMaster::start(vec![Script::Stream(vec![Step::Subscribed {
        heartbeat_secs: 15.0,
        framework_id: Some("someone-else".into()),
    }])])
    .await;
    let mut d = SchedulerDriver::spawn(
        config(&[fake.url()]),
        options(Some("mine")),
        CancellationToken::new(),
    )
    .unwrap();
    match next(&mut d.events).await {
        Incoming::Fatal {
            error: SubscribeError::FrameworkIdChanged { expected, got },
        } => {
            assert_eq!(expected, "mine");
            assert_eq!(got, "someone-else");
        }
        other => panic!("expected FrameworkIdChanged, got {other:?}"),
    }
}

#[tokio::test]
async fn call_errors_are_typed() {
    let fake = FakeMaster::start(vec![Script::subscribed(0.2)]).await;
    let cancel = CancellationToken::new();
    let mut d =
        SchedulerDriver::spawn(config(&[fake.url()]), options(None), cancel.clone()).unwrap();
    expect_subscribed(&mut d.events).await;

    fake.set_call_status(Some((403, "Framework is not subscribed")));
    match d.caller.decline(vec![offer_id("o")], None).await {
        Err(CallError::NotSubscribed(body)) => assert_eq!(body, "Framework is not subscribed"),
        other => panic!("expected NotSubscribed, got {other:?}"),
    }
    fake.set_call_status(Some((503, "Master has not finished recovery")));
    assert!(matches!(
        d.caller.revive(vec![]).await,
        Err(CallError::Unavailable { status: 503, .. })
    ));
    fake.set_call_status(Some((400, "Framework cannot be found")));
    assert!(matches!(
        d.caller.revive(vec![]).await,
        Err(CallError::BadRequest(_))
    ));
    // A failed SUPPRESS does not change the set re-sent on re-subscribe.
    assert!(d.caller.suppress(vec!["r".into()]).await.is_err());
    assert!(d.caller.suppressed_roles().is_empty());
    fake.set_call_status(None);
    d.caller.suppress(vec!["r".into()]).await.unwrap();
    assert_eq!(d.caller.suppressed_roles(), vec!["r".to_owned()]);

    cancel.cancel();
    assert_eq!(finish(d.task).await, DriverExit::Cancelled);
}

#[tokio::test]
async fn suppressed_roles_are_resent_on_resubscribe() {
    let cut_later = Script::Stream(vec![
        Step::Subscribed {
            heartbeat_secs: 0.2,
            framework_id: None,
        },
        Step::Sleep(Duration::from_millis(300)),
        Step::Raw(b"5\nab".to_vec()),
    ]);
    let fake = FakeMaster::start(vec![cut_later, Script::subscribed(0.2)]).await;
    let cancel = CancellationToken::new();
    let mut opts = options(None);
    opts.framework_info.roles = vec!["logs".into()];
    let (driver, caller, mut events) = SchedulerDriver::new(config(&[fake.url()]), opts).unwrap();
    // Suppress before the subscription exists: refused locally.
    assert!(matches!(
        caller.suppress(vec![]).await,
        Err(CallError::NoSubscription)
    ));
    let task = tokio::spawn(driver.run(cancel.clone()));
    expect_subscribed(&mut events).await;
    caller.suppress(vec![]).await.unwrap();
    expect_disconnected(&mut events).await;
    expect_subscribed(&mut events).await;
    let subs = fake.subscribes();
    let resub = subs[1].call.as_ref().unwrap().subscribe.as_ref().unwrap();
    assert_eq!(resub.suppressed_roles, vec!["logs".to_owned()]);
    cancel.cancel();
    assert_eq!(finish(task).await, DriverExit::Cancelled);
}

#[tokio::test]
async fn cancellation_stops_the_driver_while_backing_off() {
    // Every SUBSCRIBE gets 503; the driver must still stop at once.
    let fake = FakeMaster::start(vec![]).await;
    let mut c = config(&[fake.url()]);
    c.backoff = Backoff::new(Duration::from_secs(20), Duration::from_secs(60)).without_jitter();
    let cancel = CancellationToken::new();
    let d = SchedulerDriver::spawn(c, options(None), cancel.clone()).unwrap();
    fake.wait_for_subscribes(1, WAIT).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let t = Instant::now();
    cancel.cancel();
    assert_eq!(finish(d.task).await, DriverExit::Cancelled);
    // Far below the 20 s backoff it was in.
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}

#[tokio::test]
async fn events_are_forwarded_heartbeats_are_not() {
    let fake = FakeMaster::start(vec![Script::Stream(vec![
        Step::Subscribed {
            heartbeat_secs: 0.2,
            framework_id: None,
        },
        Step::Heartbeats {
            every: Duration::from_millis(10),
            count: Some(3),
        },
        Step::Event(Box::new(support::fake_master::offers_event(
            "offer-1", "agent-1", 2.0,
        ))),
        Step::Stall,
    ])])
    .await;
    let cancel = CancellationToken::new();
    let mut d =
        SchedulerDriver::spawn(config(&[fake.url()]), options(None), cancel.clone()).unwrap();
    expect_subscribed(&mut d.events).await;
    match next(&mut d.events).await {
        Incoming::Event(e) => {
            assert_eq!(e.r#type, Some(event::Type::Offers as i32));
            let offers = e.offers.unwrap().offers;
            assert_eq!(offers[0].id.value, "offer-1");
            assert_eq!(offers[0].resources[0].scalar.unwrap().value, 2.0);
        }
        other => panic!("expected the OFFERS event, got {other:?}"),
    }
    cancel.cancel();
    assert_eq!(finish(d.task).await, DriverExit::Cancelled);
}

// ---------------------------------------------------------------------------
// Executor client against a fake agent
// ---------------------------------------------------------------------------

fn executor_env(agent: &FakeAgent, checkpoint: bool, token: Option<&str>) -> ExecutorEnv {
    let mut vars: HashMap<String, String> = [
        ("MESOS_FRAMEWORK_ID", "fw-1"),
        ("MESOS_EXECUTOR_ID", "exec-1"),
        ("MESOS_SLAVE_ID", "agent-1"),
        ("MESOS_RECOVERY_TIMEOUT", "2secs"),
        ("MESOS_SUBSCRIPTION_BACKOFF_MAX", "50ms"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    vars.insert("MESOS_AGENT_ENDPOINT".into(), agent.authority());
    vars.insert(
        "MESOS_SLAVE_PID".into(),
        format!("slave(1)@{}", agent.authority()),
    );
    vars.insert(
        "MESOS_CHECKPOINT".into(),
        if checkpoint { "1" } else { "0" }.into(),
    );
    if let Some(t) = token {
        vars.insert("MESOS_EXECUTOR_AUTHENTICATION_TOKEN".into(), t.into());
    }
    ExecutorEnv::from_map(&vars).unwrap()
}

fn ex_subscribed() -> ex::Event {
    ex::Event {
        r#type: Some(ex::event::Type::Subscribed as i32),
        subscribed: Some(ex::event::Subscribed {
            executor_info: v1::ExecutorInfo {
                executor_id: v1::ExecutorId {
                    value: "exec-1".into(),
                },
                ..Default::default()
            },
            framework_info: v1::FrameworkInfo {
                user: "root".into(),
                name: "fw".into(),
                ..Default::default()
            },
            agent_info: v1::AgentInfo {
                hostname: "localhost".into(),
                ..Default::default()
            },
            container_id: None,
        }),
        ..Default::default()
    }
}

fn ex_launch(task: &str) -> ex::Event {
    ex::Event {
        r#type: Some(ex::event::Type::Launch as i32),
        launch: Some(ex::event::Launch {
            task: v1::TaskInfo {
                name: task.into(),
                task_id: v1::TaskId { value: task.into() },
                agent_id: v1::AgentId {
                    value: "agent-1".into(),
                },
                ..Default::default()
            },
        }),
        ..Default::default()
    }
}

fn ex_ack(task: &str, uuid: Vec<u8>) -> ex::Event {
    ex::Event {
        r#type: Some(ex::event::Type::Acknowledged as i32),
        acknowledged: Some(ex::event::Acknowledged {
            task_id: v1::TaskId { value: task.into() },
            uuid,
        }),
        ..Default::default()
    }
}

async fn ex_next(rx: &mut mpsc::Receiver<ExecutorIncoming>) -> ExecutorIncoming {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("an executor event in time")
        .expect("channel open")
}

#[tokio::test]
async fn executor_resends_unacknowledged_work_after_a_disconnect() {
    let agent = FakeAgent::start(vec![
        // First stream: SUBSCRIBED, LAUNCH, then (after the update below
        // was sent) the agent restarts and the stream closes.
        AgentScript::EventsThenStall(vec![ex_subscribed(), ex_launch("task-1")]),
    ])
    .await;
    let cancel = CancellationToken::new();
    let config = ExecutorConfig::new(executor_env(&agent, true, Some("jwt-token")));
    let mut d = ExecutorDriver::spawn(config, cancel.clone()).unwrap();

    assert!(matches!(
        ex_next(&mut d.events).await,
        ExecutorIncoming::Subscribed(_)
    ));
    match ex_next(&mut d.events).await {
        ExecutorIncoming::Launch(t) => assert_eq!(t.task_id.value, "task-1"),
        other => panic!("expected Launch, got {other:?}"),
    }
    let uuid = d
        .handle
        .update(v1::TaskStatus {
            task_id: v1::TaskId {
                value: "task-1".into(),
            },
            state: v1::TaskState::TaskRunning as i32,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(uuid.len(), 16);
    d.handle
        .message(b"to the scheduler".to_vec())
        .await
        .unwrap();

    let calls = agent.calls();
    let update = calls
        .iter()
        .map(|(_, c)| c)
        .find(|c| c.r#type == Some(ex::call::Type::Update as i32))
        .unwrap();
    let status = &update.update.as_ref().unwrap().status;
    assert_eq!(status.uuid.as_deref(), Some(&uuid[..]));
    assert_eq!(
        status.source,
        Some(v1::task_status::Source::Executor as i32)
    );
    assert_eq!(status.executor_id.as_ref().unwrap().value, "exec-1");
    assert!(status.timestamp.is_some());
    assert_eq!(update.framework_id.value, "fw-1");
    for (headers, _) in &calls {
        assert_eq!(
            headers.get("authorization").unwrap().to_str().unwrap(),
            "Bearer jwt-token"
        );
    }

    // The agent "restarts": the next SUBSCRIBE gets SUBSCRIBED and the ack.
    agent.push(AgentScript::EventsThenStall(vec![
        ex_subscribed(),
        ex_ack("task-1", uuid.clone()),
    ]));
    agent.close_streams();

    match ex_next(&mut d.events).await {
        ExecutorIncoming::Disconnected { .. } => {}
        other => panic!("expected Disconnected, got {other:?}"),
    }
    assert!(matches!(
        ex_next(&mut d.events).await,
        ExecutorIncoming::Subscribed(_)
    ));
    let resub = agent.wait_for_subscribes(2, WAIT).await;
    let sub = resub[1].subscribe.as_ref().unwrap();
    assert_eq!(sub.unacknowledged_tasks.len(), 1);
    assert_eq!(sub.unacknowledged_tasks[0].task_id.value, "task-1");
    assert_eq!(sub.unacknowledged_updates.len(), 1);
    assert_eq!(
        sub.unacknowledged_updates[0].status.uuid.as_deref(),
        Some(&uuid[..])
    );
    match ex_next(&mut d.events).await {
        ExecutorIncoming::Acknowledged {
            task_id,
            uuid: acked,
        } => {
            assert_eq!(task_id.value, "task-1");
            assert_eq!(acked, uuid);
        }
        other => panic!("expected Acknowledged, got {other:?}"),
    }
    assert!(d.handle.unacknowledged_updates().is_empty());
    assert!(d.handle.unacknowledged_tasks().is_empty());

    cancel.cancel();
    let exit = tokio::time::timeout(WAIT, d.task).await.unwrap().unwrap();
    assert_eq!(exit, ExecutorExit::Cancelled);
}

#[tokio::test]
async fn executor_without_checkpointing_gives_up_on_disconnect() {
    let agent = FakeAgent::start(vec![AgentScript::Events(vec![ex_subscribed()])]).await;
    let config = ExecutorConfig::new(executor_env(&agent, false, None));
    let mut d = ExecutorDriver::spawn(config, CancellationToken::new()).unwrap();
    assert!(matches!(
        ex_next(&mut d.events).await,
        ExecutorIncoming::Subscribed(_)
    ));
    match ex_next(&mut d.events).await {
        ExecutorIncoming::GaveUp { reason } => assert!(reason.contains("without checkpointing")),
        other => panic!("expected GaveUp, got {other:?}"),
    }
    let exit = tokio::time::timeout(WAIT, d.task).await.unwrap().unwrap();
    assert!(matches!(exit, ExecutorExit::GaveUp(_)));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(agent.subscribes().len(), 1);
    assert!(
        agent.calls()[0].0.get("authorization").is_none(),
        "no token, no Authorization header"
    );
}

#[tokio::test]
async fn executor_gives_up_after_the_recovery_timeout() {
    let agent = FakeAgent::start(vec![AgentScript::Events(vec![ex_subscribed()])]).await;
    // Every later SUBSCRIBE: 503 "Agent has not finished recovery".
    let config = ExecutorConfig::new(executor_env(&agent, true, None));
    let mut d = ExecutorDriver::spawn(config, CancellationToken::new()).unwrap();
    assert!(matches!(
        ex_next(&mut d.events).await,
        ExecutorIncoming::Subscribed(_)
    ));
    let lost_at = Instant::now();
    assert!(matches!(
        ex_next(&mut d.events).await,
        ExecutorIncoming::Disconnected { .. }
    ));
    match ex_next(&mut d.events).await {
        ExecutorIncoming::GaveUp { reason } => assert!(reason.contains("no subscription within")),
        other => panic!("expected GaveUp, got {other:?}"),
    }
    let waited = lost_at.elapsed();
    // MESOS_RECOVERY_TIMEOUT=2secs.
    assert!(waited >= Duration::from_millis(1900), "{waited:?}");
    assert!(waited < Duration::from_secs(4), "{waited:?}");
    // MESOS_SUBSCRIPTION_BACKOFF_MAX=50ms: waits of 25 ms on average, so
    // dozens of attempts in 2 s (19 with 128 tests starting at once on two
    // cores); the default cap of 2 s waits a second on average.
    let subs = agent.subscribes().len();
    assert!(subs >= 10, "only {subs} SUBSCRIBE attempts in 2 s");
}

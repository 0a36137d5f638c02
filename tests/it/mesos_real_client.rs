//! Conformance of the Mesos client against a REAL Mesos 1.11 master
//! (`shared/mesos-real`). Set `MESOS_REAL_URL` (e.g. `http://127.0.0.1:5050`)
//! to run it; without it every test prints `SKIP: ...` and passes.
//!
//! The tests share one master, so they take turns (offers would otherwise
//! be split between their frameworks).

use std::time::{Duration, Instant};

use bytes::Bytes;
use prost::Message;
use tokio_util::sync::CancellationToken;

use logstash_mesos::mesos;

use mesos::proto::v1::scheduler::{Event, event};
use mesos::proto::v1::{self, Resource};
use mesos::scheduler::{
    CallError, DriverExit, Incoming, SchedulerClient, SchedulerConfig, SchedulerDriver,
    SubscribeError, SubscribeOptions, Subscription,
};

const WAIT: Duration = Duration::from_secs(30);

fn master_url() -> Option<String> {
    match std::env::var("MESOS_REAL_URL") {
        Ok(u) if !u.trim().is_empty() => Some(u.trim().to_owned()),
        _ => {
            println!(
                "SKIP: MESOS_REAL_URL is not set; start shared/mesos-real/start-mesos.sh and set \
                 MESOS_REAL_URL=http://127.0.0.1:5050 to run the real-master conformance tests"
            );
            None
        }
    }
}

fn framework(name: &str) -> v1::FrameworkInfo {
    v1::FrameworkInfo {
        user: "root".into(),
        name: name.into(),
        // Long enough to survive the fail-over step; every test tears down.
        failover_timeout: Some(120.0),
        ..Default::default()
    }
}

async fn master_state(url: &str) -> serde_json::Value {
    let body = reqwest::get(format!("{}/master/state", url.trim_end_matches('/')))
        .await
        .expect("GET /master/state")
        .text()
        .await
        .expect("state body");
    serde_json::from_str(&body).expect("state JSON")
}

fn framework_ids(state: &serde_json::Value, key: &str) -> Vec<String> {
    state[key]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

async fn active_agents(url: &str) -> usize {
    master_state(url).await["activated_slaves"]
        .as_f64()
        .unwrap_or(0.0) as usize
}

/// The raw bytes of every occurrence of length-delimited field `field` in a
/// serialized message (a minimal wire-format walker, independent of prost).
fn raw_fields(msg: &[u8], field: u64) -> Vec<Vec<u8>> {
    fn varint(b: &[u8], i: &mut usize) -> u64 {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let byte = b[*i];
            *i += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return v;
            }
            shift += 7;
        }
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < msg.len() {
        let key = varint(msg, &mut i);
        match key & 7 {
            0 => {
                varint(msg, &mut i);
            }
            1 => i += 8,
            5 => i += 4,
            2 => {
                let len = varint(msg, &mut i) as usize;
                if key >> 3 == field {
                    out.push(msg[i..i + len].to_vec());
                }
                i += len;
            }
            w => panic!("unexpected wire type {w}"),
        }
    }
    out
}

/// Checks that every offered resource in a raw OFFERS record re-encodes to
/// exactly the bytes the master sent; returns how many were checked.
fn check_offers_byte_exact(raw: &[u8], e: &Event) -> usize {
    let mut checked = 0;
    // Event.offers (3) -> Offers.offers (1) -> Offer.resources (5).
    let raw_offers_msg = raw_fields(raw, 3);
    assert_eq!(raw_offers_msg.len(), 1);
    let raw_offer_list = raw_fields(&raw_offers_msg[0], 1);
    let decoded = &e.offers.as_ref().unwrap().offers;
    assert_eq!(raw_offer_list.len(), decoded.len());
    for (raw_offer, offer) in raw_offer_list.iter().zip(decoded) {
        let raw_resources = raw_fields(raw_offer, 5);
        assert_eq!(raw_resources.len(), offer.resources.len());
        for (raw_r, r) in raw_resources.iter().zip(&offer.resources) {
            assert_eq!(
                &r.encode_to_vec(),
                raw_r,
                "resource {r:?} re-encodes differently"
            );
            assert_eq!(&Resource::decode(&raw_r[..]).unwrap(), r);
            checked += 1;
        }
        // The whole offer round-trips too.
        assert_eq!(
            &offer.encode_to_vec(),
            raw_offer,
            "offer re-encodes differently"
        );
    }
    assert_eq!(
        &e.encode_to_vec()[..],
        raw,
        "the whole OFFERS event round-trips"
    );
    checked
}

/// The next OFFERS record (raw and decoded).
async fn next_offers(sub: &mut Subscription) -> (Bytes, Event) {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let (raw, e) = tokio::time::timeout(left, sub.events.next_record())
            .await
            .expect("OFFERS in time")
            .expect("stream ok")
            .expect("stream open");
        if e.r#type == Some(event::Type::Offers as i32) {
            return (raw, e);
        }
    }
}

async fn wait_update(sub: &mut Subscription, task: &str) -> v1::TaskStatus {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let e = tokio::time::timeout(left, sub.events.next_event())
            .await
            .expect("UPDATE in time")
            .expect("stream ok")
            .expect("stream open");
        if let Some(u) = e.update
            && u.status.task_id.value == task
        {
            return u.status;
        }
    }
}

async fn next(rx: &mut tokio::sync::mpsc::Receiver<Incoming>) -> Incoming {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("driver event in time")
        .expect("driver channel open")
}

#[tokio::test]
async fn real_master_offers_round_trip_byte_exact() {
    let Some(url) = master_url() else { return };
    let _turn = crate::support::mesos::turn().await;
    let config = SchedulerConfig::from_master_list(&url).unwrap();
    let endpoint = config.masters[0].clone();
    let client = SchedulerClient::new(config).unwrap();
    let agents = active_agents(&url).await;
    assert!(agents >= 1, "the harness has no active agent");

    // MULTI_ROLE puts allocation_info on every offered resource, and
    // RESERVATION_REFINEMENT shows reservations as the `reservations` stack.
    let role = "mesos-client-test";
    let principal = "mesos-client-test";
    let mut info = framework("mesos-client-conformance-raw");
    info.roles = vec![role.into()];
    info.principal = Some(principal.into());
    info.capabilities = [
        v1::framework_info::capability::Type::MultiRole,
        v1::framework_info::capability::Type::ReservationRefinement,
    ]
    .into_iter()
    .map(|t| v1::framework_info::Capability {
        r#type: Some(t as i32),
    })
    .collect();
    let call = SchedulerClient::subscribe_call(&info, &[]);
    let mut sub = client.subscribe(&endpoint, &call).await.expect("SUBSCRIBE");
    assert!(!sub.session.stream_id.is_empty());
    assert!(!sub.session.framework_id.value.is_empty());
    assert_eq!(sub.subscribed.heartbeat_interval_seconds, Some(15.0));
    assert_eq!(sub.heartbeat_interval, Duration::from_secs(15));
    let version = sub
        .subscribed
        .master_info
        .as_ref()
        .and_then(|m| m.version.clone());
    println!(
        "subscribed as {} on {} (master {:?}), stream {}",
        sub.session.framework_id.value, sub.session.endpoint, version, sub.session.stream_id
    );
    let caller = client.caller(sub.session.clone());

    // Collect OFFERS until every agent has offered, keeping the raw records.
    let mut offers: Vec<v1::Offer> = Vec::new();
    let mut resources_checked = 0;
    let mut events = 0;
    while offers.len() < agents {
        let (raw, e) = next_offers(&mut sub).await;
        resources_checked += check_offers_byte_exact(&raw, &e);
        events += 1;
        offers.extend(e.offers.unwrap().offers);
    }
    for o in &offers {
        assert_eq!(
            o.allocation_info.as_ref().and_then(|a| a.role.as_deref()),
            Some(role)
        );
        for r in &o.resources {
            assert_eq!(
                r.allocation_info.as_ref().and_then(|a| a.role.as_deref()),
                Some(role)
            );
        }
    }
    println!(
        "OFFERS from {} agents in {events} events; {resources_checked} resources (with allocation_info) re-encoded byte for byte",
        offers.len()
    );
    assert!(resources_checked >= agents);

    // Reserve half a cpu on the first agent, so its next offer carries a
    // dynamically reserved resource (with a `reservations` stack).
    let (first, rest) = offers.split_first().unwrap();
    let reserved = Resource {
        name: "cpus".into(),
        r#type: v1::value::Type::Scalar as i32,
        scalar: Some(v1::value::Scalar { value: 0.5 }),
        allocation_info: Some(v1::resource::AllocationInfo {
            role: Some(role.into()),
        }),
        reservations: vec![v1::resource::ReservationInfo {
            r#type: Some(v1::resource::reservation_info::Type::Dynamic as i32),
            role: Some(role.into()),
            principal: Some(principal.into()),
            labels: Some(v1::Labels {
                labels: vec![v1::Label {
                    key: "owner".into(),
                    value: Some("mesos-client-test".into()),
                }],
            }),
        }],
        ..Default::default()
    };
    let reserve = v1::offer::Operation {
        r#type: Some(v1::offer::operation::Type::Reserve as i32),
        reserve: Some(v1::offer::operation::Reserve {
            resources: vec![reserved],
            ..Default::default()
        }),
        ..Default::default()
    };
    let no_filter = Some(v1::Filters {
        refuse_seconds: Some(0.0),
    });
    caller
        .accept(vec![first.id.clone()], vec![reserve], no_filter)
        .await
        .expect("ACCEPT RESERVE: 202");
    // DECLINE one offer with a long refuse filter, the rest with the default.
    let (second, others) = rest
        .split_first()
        .map(|(s, o)| (Some(s), o))
        .unwrap_or((None, &[]));
    if let Some(second) = second {
        caller
            .decline(
                vec![second.id.clone()],
                Some(v1::Filters {
                    refuse_seconds: Some(3600.0),
                }),
            )
            .await
            .expect("DECLINE with a filter: 202");
    }
    let other_ids: Vec<v1::OfferId> = others.iter().map(|o| o.id.clone()).collect();
    caller.decline(other_ids, None).await.expect("DECLINE: 202");

    // The reserved resource comes back in a new offer; it must round-trip.
    let reserved_offer = loop {
        let (raw, e) = next_offers(&mut sub).await;
        check_offers_byte_exact(&raw, &e);
        let found = e
            .offers
            .unwrap()
            .offers
            .into_iter()
            .find(|o| o.resources.iter().any(|r| !r.reservations.is_empty()));
        match found {
            Some(o) => break o,
            None => continue,
        }
    };
    let reserved_resources: Vec<Resource> = reserved_offer
        .resources
        .iter()
        .filter(|r| !r.reservations.is_empty())
        .cloned()
        .collect();
    let res = &reserved_resources[0].reservations[0];
    assert_eq!(res.role.as_deref(), Some(role));
    assert_eq!(res.principal.as_deref(), Some(principal));
    assert_eq!(
        res.r#type,
        Some(v1::resource::reservation_info::Type::Dynamic as i32)
    );
    println!(
        "reserved resource offered back and re-encoded byte for byte: {:?}",
        reserved_resources[0]
    );
    // Give it back so the harness stays clean.
    let unreserve = v1::offer::Operation {
        r#type: Some(v1::offer::operation::Type::Unreserve as i32),
        unreserve: Some(v1::offer::operation::Unreserve {
            resources: reserved_resources,
        }),
        ..Default::default()
    };
    caller
        .accept(vec![reserved_offer.id.clone()], vec![unreserve], None)
        .await
        .expect("ACCEPT UNRESERVE: 202");

    // Explicit reconciliation of a task the master never heard of: it
    // answers TASK_LOST (not partition-aware) with no uuid.
    caller
        .reconcile(vec![(
            v1::TaskId {
                value: "no-such-task".into(),
            },
            None,
        )])
        .await
        .expect("RECONCILE: 202");
    let status = wait_update(&mut sub, "no-such-task").await;
    assert_eq!(status.state, v1::TaskState::TaskLost as i32);
    assert_eq!(
        status.reason,
        Some(v1::task_status::Reason::Reconciliation as i32)
    );
    assert_eq!(status.source, Some(v1::task_status::Source::Master as i32));
    assert!(
        status.uuid.is_none(),
        "reconciliation updates carry no uuid"
    );
    assert!(!caller.acknowledge_status(&status).await.unwrap());

    // A call with a stale stream id is refused with 400.
    let mut stale = sub.session.clone();
    stale.stream_id = "00000000-0000-0000-0000-000000000000".into();
    match client.caller(stale).revive(vec![]).await {
        Err(CallError::BadRequest(body)) => println!("stale stream id -> 400 {body:?}"),
        other => panic!("expected 400 for a stale stream id, got {other:?}"),
    }

    // SUBSCRIBE with a Mesos-Stream-Id header is refused with 400.
    let bad = reqwest::Client::new()
        .post(&endpoint)
        .header("Content-Type", "application/x-protobuf")
        .header("Accept", "application/x-protobuf")
        .header("Mesos-Stream-Id", sub.session.stream_id.clone())
        .body(SchedulerClient::subscribe_call(&framework("bad"), &[]).encode_to_vec())
        .send()
        .await
        .unwrap();
    let status_code = bad.status().as_u16();
    println!(
        "SUBSCRIBE with Mesos-Stream-Id -> {status_code} {:?}",
        bad.text().await.unwrap()
    );
    assert_eq!(status_code, 400);

    caller.teardown().await.expect("TEARDOWN: 202");
    let end = tokio::time::timeout(WAIT, async {
        loop {
            match sub.events.next_event().await {
                Ok(Some(_)) => continue,
                other => return other.map(|_| ()),
            }
        }
    })
    .await
    .expect("the master closes the stream after TEARDOWN");
    println!("stream after TEARDOWN ended with {end:?}");
    let state = master_state(&url).await;
    let id = sub.session.framework_id.value.clone();
    assert!(!framework_ids(&state, "frameworks").contains(&id));
    assert!(framework_ids(&state, "completed_frameworks").contains(&id));
}

#[tokio::test]
async fn real_master_driver_calls_failover_and_teardown() {
    let Some(url) = master_url() else { return };
    let _turn = crate::support::mesos::turn().await;
    let mut config = SchedulerConfig::from_master_list(&url).unwrap();
    config.backoff =
        logstash_mesos::backoff::Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
    let cancel = CancellationToken::new();
    let options = SubscribeOptions {
        framework_info: framework("mesos-client-conformance-driver"),
        suppressed_roles: vec![],
    };
    let mut d = SchedulerDriver::spawn(config.clone(), options, cancel.clone()).unwrap();

    let info = match next(&mut d.events).await {
        Incoming::Subscribed(i) => *i,
        other => panic!("expected Subscribed, got {other:?}"),
    };
    assert!(!info.resubscribed);
    assert_eq!(info.heartbeat_interval, Duration::from_secs(15));
    let framework_id = info.framework_id.clone();
    println!(
        "driver subscribed as {} at {}",
        framework_id.value, info.master_url
    );

    // OFFERS arrive; decline them all with a refuse filter.
    let offers = loop {
        if let Incoming::Event(e) = next(&mut d.events).await
            && let Some(o) = e.offers
        {
            break o.offers;
        }
    };
    assert!(!offers.is_empty());
    for o in &offers {
        assert_eq!(o.framework_id, framework_id);
        assert!(o.resources.iter().any(|r| r.name == "cpus"));
    }
    let ids: Vec<v1::OfferId> = offers.iter().map(|o| o.id.clone()).collect();
    d.caller
        .decline(
            ids,
            Some(v1::Filters {
                refuse_seconds: Some(60.0),
            }),
        )
        .await
        .expect("DECLINE: 202");
    d.caller.revive(vec![]).await.expect("REVIVE: 202");
    d.caller.suppress(vec![]).await.expect("SUPPRESS: 202");
    assert_eq!(d.caller.suppressed_roles(), vec!["*".to_owned()]);
    d.caller
        .reconcile(vec![])
        .await
        .expect("implicit RECONCILE: 202");
    d.caller.revive(vec![]).await.expect("REVIVE: 202");

    // A second instance subscribes with the same id: the driver must
    // report FailedOver and stand down.
    let client = SchedulerClient::new(config.clone()).unwrap();
    let mut takeover_info = framework("mesos-client-conformance-driver");
    takeover_info.id = Some(framework_id.clone());
    let takeover_call = SchedulerClient::subscribe_call(&takeover_info, &[]);
    let mut takeover = client
        .subscribe(&config.masters[0], &takeover_call)
        .await
        .expect("take-over SUBSCRIBE");
    assert_eq!(takeover.session.framework_id, framework_id);
    loop {
        match next(&mut d.events).await {
            Incoming::FailedOver { message } => {
                println!("old instance got ERROR {message:?}");
                assert_eq!(message, "Framework failed over");
                break;
            }
            Incoming::Event(_) => continue,
            other => panic!("expected FailedOver, got {other:?}"),
        }
    }
    let exit = tokio::time::timeout(WAIT, d.task).await.unwrap().unwrap();
    assert!(matches!(exit, DriverExit::FailedOver(_)), "{exit:?}");
    // The old stream id is dead; the driver's caller has no session.
    assert!(matches!(
        d.caller.revive(vec![]).await,
        Err(CallError::NoSubscription)
    ));
    let state = master_state(&url).await;
    let active: Vec<&serde_json::Value> = state["frameworks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"].as_str() == Some(framework_id.value.as_str()))
        .collect();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0]["active"].as_bool(), Some(true));

    // The new instance tears the framework down.
    let caller = client.caller(takeover.session.clone());
    caller.teardown().await.expect("TEARDOWN: 202");
    let _ = tokio::time::timeout(WAIT, async {
        while let Ok(Some(_)) = takeover.events.next_event().await {}
    })
    .await;
    let state = master_state(&url).await;
    assert!(!framework_ids(&state, "frameworks").contains(&framework_id.value));
    assert!(framework_ids(&state, "completed_frameworks").contains(&framework_id.value));

    // The id can never come back.
    match client.subscribe(&config.masters[0], &takeover_call).await {
        Err(SubscribeError::Removed(message)) => {
            println!("re-subscribe after TEARDOWN -> {message:?}")
        }
        Err(other) => panic!("expected Removed, got {other}"),
        Ok(_) => panic!("a torn-down framework subscribed again"),
    }
    cancel.cancel();
}

#[tokio::test]
async fn real_master_driver_teardown_stops_cleanly() {
    let Some(url) = master_url() else { return };
    let _turn = crate::support::mesos::turn().await;
    let config = SchedulerConfig::from_master_list(&url).unwrap();
    let cancel = CancellationToken::new();
    let options = SubscribeOptions {
        framework_info: framework("mesos-client-conformance-teardown"),
        suppressed_roles: vec![],
    };
    let mut d = SchedulerDriver::spawn(config, options, cancel.clone()).unwrap();
    let info = match tokio::time::timeout(WAIT, d.events.recv()).await.unwrap() {
        Some(Incoming::Subscribed(i)) => *i,
        other => panic!("expected Subscribed, got {other:?}"),
    };
    d.caller.teardown().await.expect("TEARDOWN: 202");
    loop {
        match tokio::time::timeout(WAIT, d.events.recv()).await.unwrap() {
            Some(Incoming::TornDown) => break,
            Some(Incoming::Event(_)) => continue,
            other => panic!("expected TornDown, got {other:?}"),
        }
    }
    let exit = tokio::time::timeout(WAIT, d.task).await.unwrap().unwrap();
    assert_eq!(exit, DriverExit::TornDown);
    let state = master_state(&url).await;
    assert!(!framework_ids(&state, "frameworks").contains(&info.framework_id.value));
    assert!(framework_ids(&state, "completed_frameworks").contains(&info.framework_id.value));
}

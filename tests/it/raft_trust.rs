//! The trust boundary between scheduler replicas, over real processes: the
//! cluster secret never goes on the wire, a captured or stale call is
//! refused, a replica joins only when it proves the secret and its id and
//! catches up, a dead one can always be removed, nothing invalid enters the
//! log through a forwarded write, and `--raft-listen` keeps Raft off the
//! API's listener.

use crate::support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use logstash_mesos::events::time::now_millis;
use logstash_mesos::events::{Actor, Command, ConfigKind, Proposal, codec};
use logstash_mesos::journal::signing::{Key, SIGNATURE_HEADER, Stamp};
use logstash_mesos::journal::types::{Forward, ForwardAnswer, Request, Response};
use logstash_mesos::state::Rejection;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use support::cluster::{Cluster, QUIET, SECRET, client_with, config_names, create, free_addrs};
use support::wiretap::{Wiretap, send_raw};
use support::{Answer, Instance};

/// 2100-01-01, as a forged proposal time.
const FAR_FUTURE: u64 = 4_102_444_800_000;

fn ids(status: &Value, voters_only: bool) -> BTreeSet<u64> {
    status["members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| !voters_only || m["voter"] == true)
        .filter_map(|m| m["id"].as_u64())
        .collect()
}

async fn add(url: &str, id: u64, addr: &str) -> Answer {
    Answer::of(
        client_with(Duration::from_secs(90))
            .post(format!("{url}/api/cluster/members"))
            .json(&json!({"id": id, "addr": addr}))
            .send()
            .await
            .expect("an answer"),
    )
    .await
}

/// A replica that is not a member yet, waiting to be added at `addr`.
fn newcomer(cluster: &Cluster, id: u64, addr: &str, secret_file: &str) -> Instance {
    let mut peers: Vec<String> = cluster
        .raft_addrs
        .iter()
        .enumerate()
        .map(|(i, a)| format!("{}={a}", i + 1))
        .collect();
    peers.push(format!("{id}={addr}"));
    Instance::scheduler_at(
        addr,
        &cluster.dir.path().join(format!("replica-{id}")),
        &[
            "--node-id",
            &id.to_string(),
            "--peers",
            &peers.join(","),
            "--cluster-secret-file",
            secret_file,
            "--master",
            "http://127.0.0.1:1",
        ],
        QUIET,
    )
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// Asserts that nothing in `seen` is the secret or trivially gives it away.
fn assert_no_secret(seen: &[u8]) {
    let digest = Sha256::digest(SECRET.as_bytes());
    let forms: Vec<Vec<u8>> = vec![
        SECRET.as_bytes().to_vec(),
        SECRET.chars().rev().collect::<String>().into_bytes(),
        hex::encode(SECRET).into_bytes(),
        hex::encode_upper(SECRET).into_bytes(),
        base64(SECRET.as_bytes()).into_bytes(),
        // A prefix, in case something cut it: half the secret is too much.
        SECRET.as_bytes()[..SECRET.len() / 2].to_vec(),
        digest.to_vec(),
        hex::encode(digest).into_bytes(),
        b"Bearer".to_vec(),
        b"authorization:".to_vec(),
    ];
    let lower = seen.to_ascii_lowercase();
    for form in forms {
        let form_lower = form.to_ascii_lowercase();
        assert!(
            !lower.windows(form.len()).any(|w| w == form_lower),
            "{:?} is on the wire",
            String::from_utf8_lossy(&form)
        );
    }
}

/// POSTs `body` to `path` at `addr`, signed with the cluster secret as
/// replica `from` calling replica `to` would sign it, at `time_ms`.
async fn signed(
    addr: &str,
    to: u64,
    path: &str,
    body: &[u8],
    stamp: Option<Stamp>,
    time_ms: u64,
) -> (u16, Vec<u8>, Stamp) {
    let key = Key::new(SECRET);
    let stamp = stamp.unwrap_or_else(|| Stamp::new(99, to, time_ms));
    let mut request = client_with(Duration::from_secs(20))
        .post(format!("http://{addr}{path}"))
        .body(body.to_vec());
    for (name, value) in key.request_headers("POST", path, &stamp, body) {
        request = request.header(name, value);
    }
    let response = request.send().await.expect("an answer");
    let status = response.status().as_u16();
    let bytes = response.bytes().await.expect("body").to_vec();
    (status, bytes, stamp)
}

/// Forwards a write to the leader as a follower would, signed with the secret.
async fn forward(
    addr: &str,
    leader: u64,
    id: u128,
    actor: Actor,
    command: Command,
) -> ForwardAnswer {
    let call = Forward::Write(Request {
        id,
        proposal: Proposal {
            at: FAR_FUTURE,
            actor,
            command,
        },
    });
    let (status, body, _) = signed(
        addr,
        leader,
        "/raft/forward",
        &codec::encode(&call),
        None,
        now_millis(),
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    codec::decode(&body).expect("a forward answer")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_secret_never_reaches_a_listener_added_as_a_member_and_the_quorum_holds() {
    let _serial = support::cluster::serial().await;
    let mut cluster = Cluster::start(3, &[], QUIET);
    let (leader, _) = cluster.leader(&[1, 2, 3], Duration::from_secs(20)).await;
    let stranger = Wiretap::start(None, usize::MAX).await;

    let started = Instant::now();
    let added = add(&cluster.url(leader, ""), 4, &stranger.addr).await;
    assert_eq!(added.status, 409, "{}", added.json);
    assert_eq!(added.error_code(), "membership_refused");
    assert!(
        added.json.to_string().contains("nothing answers"),
        "{}",
        added.json
    );
    assert!(started.elapsed() < Duration::from_secs(20));

    let seen = stranger.bytes();
    assert!(
        String::from_utf8_lossy(&seen).contains(SIGNATURE_HEADER),
        "the leader's signed call did not arrive: {:?}",
        String::from_utf8_lossy(&seen)
    );
    assert_no_secret(&seen);
    // What the stranger captured is refused by every replica: it was for
    // replica 4.
    let captured = stranger.requests().remove(0);
    for addr in &cluster.addrs {
        let (status, body) = send_raw(addr, &captured).await;
        assert_eq!(status, 421, "replayed to {addr}: {body}");
    }

    let status = cluster.status(leader).await.expect("status");
    assert_eq!(ids(&status, false), BTreeSet::from([1, 2, 3]), "{status}");
    // With the stranger never made a voter, one replica more may fail.
    let follower = (1..=3).find(|id| *id != leader).unwrap();
    cluster.replica(follower).kill9();
    assert_eq!(
        create(&cluster.url(leader, ""), "after-the-stranger").await,
        Some(201)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn captured_replayed_and_stale_raft_calls_are_refused() {
    let _serial = support::cluster::serial().await;
    let cluster = Cluster::start(3, &[], QUIET);
    let (leader, _) = cluster.leader(&[1, 2, 3], Duration::from_secs(20)).await;

    // Replica 4, reached only through a wiretap that records what passes.
    let direct = free_addrs(1).remove(0);
    let tap_backend = direct.clone();
    let tap = Wiretap::start(Some(tap_backend), usize::MAX).await;
    let fourth = newcomer(&cluster, 4, &direct, &cluster.secret_file());
    let added = add(&cluster.url(leader, ""), 4, &tap.addr).await;
    assert_eq!(added.status, 200, "{}", added.json);
    assert_eq!(ids(&added.json, true), BTreeSet::from([1, 2, 3, 4]));
    assert_eq!(create(&cluster.url(leader, ""), "tapped").await, Some(201));
    let names = config_names(&fourth.url("/api/configs?consistent=true"))
        .await
        .expect("configs");
    assert!(names.contains(&"tapped".to_owned()));
    assert_no_secret(&tap.bytes());

    // A captured append, sent again as it was: to its replica, it is a
    // replay; to another, it is not meant for it.
    let append = tap
        .requests()
        .into_iter()
        .find(|r| r.starts_with(b"POST /raft/append"))
        .expect("an append passed the tap");
    let (status, body) = send_raw(&direct, &append).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("replayed"), "{body}");
    let (status, body) = send_raw(&cluster.addrs[0], &append).await;
    assert_eq!(status, 421, "{body}");

    // Signed by a secret holder: fresh is answered (and its answer signed),
    // the same call again is a replay, a stale or future time is refused.
    let leader_addr = &cluster.raft_addrs[leader as usize - 1];
    let status_call = codec::encode(&Forward::Status);
    let (status, body, stamp) = signed(
        leader_addr,
        leader,
        "/raft/forward",
        &status_call,
        None,
        now_millis(),
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert!(matches!(
        codec::decode::<ForwardAnswer>(&body),
        Ok(ForwardAnswer::Status(_))
    ));
    let (status, body, _) = signed(
        leader_addr,
        leader,
        "/raft/forward",
        &status_call,
        Some(stamp),
        now_millis(),
    )
    .await;
    assert_eq!(status, 401);
    assert!(String::from_utf8_lossy(&body).contains("replayed"));
    // A body other than the one signed is refused.
    let key = Key::new(SECRET);
    let stamp = Stamp::new(99, leader, now_millis());
    let mut tampered = client_with(Duration::from_secs(10))
        .post(format!("http://{leader_addr}/raft/forward"))
        .body(codec::encode(&Forward::ReadIndex));
    for (name, value) in key.request_headers("POST", "/raft/forward", &stamp, &status_call) {
        tampered = tampered.header(name, value);
    }
    let answer = tampered.send().await.expect("an answer");
    assert_eq!(answer.status().as_u16(), 400);
    // A caller without the secret is refused before its body is read.
    let unsigned = b"POST /raft/append HTTP/1.1\r\nhost: x\r\ncontent-length: 200000000\r\n\r\n";
    let (status, _) = send_raw(leader_addr, unsigned).await;
    assert_eq!(status, 401);
    for time in [now_millis() - 60_000, now_millis() + 60_000] {
        let (status, body, _) = signed(
            leader_addr,
            leader,
            "/raft/forward",
            &status_call,
            None,
            time,
        )
        .await;
        assert_eq!(status, 401);
        assert!(String::from_utf8_lossy(&body).contains("time"));
    }
    drop(fourth);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_replica_with_the_secret_and_the_id_that_catches_up_joins_and_a_dead_one_is_removed()
{
    let _serial = support::cluster::serial().await;
    let mut cluster = Cluster::start(3, &["--raft-catch-up-timeout", "4s"], QUIET);
    let (leader, _) = cluster.leader(&[1, 2, 3], Duration::from_secs(20)).await;
    let at_leader = cluster.url(leader, "");
    let addrs = free_addrs(4);

    // Another cluster's secret.
    let other_secret = cluster.dir.path().join("other-secret");
    std::fs::write(&other_secret, "the-secret-of-another-cluster\n").unwrap();
    let stranger = newcomer(&cluster, 4, &addrs[0], &other_secret.display().to_string());
    let refused = add(&at_leader, 4, &addrs[0]).await;
    assert_eq!(refused.status, 409, "{}", refused.json);
    assert!(
        refused.json.to_string().contains("secret"),
        "{}",
        refused.json
    );
    drop(stranger);

    // The right secret, but replica 5 said to be 4.
    let impostor = newcomer(&cluster, 5, &addrs[1], &cluster.secret_file());
    let refused = add(&at_leader, 4, &addrs[1]).await;
    assert_eq!(refused.status, 409, "{}", refused.json);
    assert!(
        refused.json.to_string().contains("this is replica 5"),
        "{}",
        refused.json
    );
    drop(impostor);

    // Answers who it is, then falls silent: removed again after the timeout.
    let silent = newcomer(&cluster, 6, &addrs[2], &cluster.secret_file());
    let line = Wiretap::start(Some(addrs[2].clone()), 1).await;
    let refused = add(&at_leader, 6, &line.addr).await;
    assert_eq!(refused.status, 409, "{}", refused.json);
    let message = refused.json.to_string();
    assert!(message.contains("did not catch up"), "{message}");
    assert!(message.contains("removed again"), "{message}");
    drop(silent);
    let status = cluster.status(leader).await.expect("status");
    assert_eq!(ids(&status, false), BTreeSet::from([1, 2, 3]), "{status}");

    // A good one ends as a voter; dead, it is still removed.
    let mut good = newcomer(&cluster, 7, &addrs[3], &cluster.secret_file());
    let added = add(&at_leader, 7, &addrs[3]).await;
    assert_eq!(added.status, 200, "{}", added.json);
    assert_eq!(ids(&added.json, true), BTreeSet::from([1, 2, 3, 7]));
    good.kill9();
    let started = Instant::now();
    let removed = Answer::of(
        client_with(Duration::from_secs(60))
            .delete(cluster.url(leader, "/api/cluster/members/7"))
            .send()
            .await
            .expect("an answer"),
    )
    .await;
    assert_eq!(removed.status, 200, "{}", removed.json);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(ids(&removed.json, false), BTreeSet::from([1, 2, 3]));

    // Through all of it the quorum held: one more replica may fail.
    let follower = (1..=3).find(|id| *id != leader).unwrap();
    cluster.replica(follower).kill9();
    assert_eq!(create(&at_leader, "quorum-kept").await, Some(201));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_writes_with_invalid_content_never_enter_the_log() {
    let _serial = support::cluster::serial().await;
    let token = "alice-0123456789abcdef";
    let token_flag = format!("alice:{token}");
    let cluster = Cluster::start(3, &["--api-token", &token_flag], QUIET);
    let (leader, _) = cluster.leader(&[1, 2, 3], Duration::from_secs(20)).await;
    let leader_addr = cluster.raft_addrs[leader as usize - 1].clone();
    let alice = || Actor::Api("alice".into());
    let docker = |name: &str, input: &str| Command::CreateConfig {
        name: name.into(),
        kind: ConfigKind::Docker,
        input: input.into(),
    };

    let refused = [
        (1, alice(), docker("bad\nname\0", "")),
        (2, alice(), docker("bad-config", "input { file { path => ")),
        (3, Actor::Api("mallory".into()), docker("by-mallory", "")),
        (4, alice(), docker("bidi\u{202E}txt.exe", "")),
        // The leader's host access policy: no command-running plugin in a
        // per-image config, whoever forwards it.
        (
            7,
            alice(),
            docker("runs-commands", "input { exec { command => \"id\" } }"),
        ),
        // A proposer cannot choose the rules it is checked with.
        (
            5,
            alice(),
            Command::Checked {
                rules: 1,
                command: Box::new(docker("line\u{2028}sep", "")),
            },
        ),
    ];
    for (id, actor, command) in refused {
        match forward(&leader_addr, leader, id, actor, command.clone()).await {
            ForwardAnswer::Rejected(
                Rejection::InvalidName { .. }
                | Rejection::InvalidConfig { .. }
                | Rejection::ActorNotAllowed { .. },
            ) => {}
            other => panic!("{command:?} was not refused: {other:?}"),
        }
    }

    // A valid write with a forged time gets the leader's time, and a retry
    // of the same request gets the first answer, not a conflict.
    let before = now_millis();
    let first = forward(&leader_addr, leader, 6, alice(), docker("forged-time", "")).await;
    let ForwardAnswer::Written(Response(Ok(envelopes)), _) = &first else {
        panic!("the valid write was not written: {first:?}");
    };
    assert!(envelopes[0].at >= before && envelopes[0].at <= now_millis());
    let again = forward(&leader_addr, leader, 6, alice(), docker("forged-time", "")).await;
    let ForwardAnswer::Written(Response(Ok(repeated)), _) = &again else {
        panic!("the retry was not answered with the first outcome: {again:?}");
    };
    assert_eq!(repeated, envelopes);

    // The log, as a follower serves it, holds only the valid write.
    let follower = (1..=3).find(|id| *id != leader).unwrap();
    let page: Value = client_with(Duration::from_secs(10))
        .get(cluster.url(follower, "/api/events?order=asc&limit=1000&consistent=true"))
        .send()
        .await
        .expect("events")
        .json()
        .await
        .expect("events json");
    let events = page["events"].as_array().expect("events");
    let configs: Vec<&str> = events.iter().filter_map(|e| e["config"].as_str()).collect();
    assert_eq!(configs, ["forged-time"], "{page}");
    let now = now_millis();
    for event in events {
        assert!(event["at_ms"].as_u64().unwrap() <= now, "{event}");
        assert_ne!(event["actor"], "api:mallory");
    }

    // Clients' own writes go on as before, forwarded or not.
    for id in [follower, leader] {
        let created = client_with(Duration::from_secs(10))
            .post(cluster.url(id, "/api/configs"))
            .bearer_auth(token)
            .json(&json!({"name": format!("by-alice-at-{id}"), "input": ""}))
            .send()
            .await
            .expect("an answer");
        assert_eq!(created.status().as_u16(), 201);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_raft_listen_the_api_listener_serves_no_raft_and_replication_works() {
    let _serial = support::cluster::serial().await;
    let cluster = Cluster::start_with_raft_listen(3, &[], QUIET);
    let (leader, _) = cluster.leader(&[1, 2, 3], Duration::from_secs(20)).await;
    let client = client_with(Duration::from_secs(10));
    for (api, raft) in cluster.addrs.iter().zip(&cluster.raft_addrs) {
        let on_api = client
            .post(format!("http://{api}/raft/vote"))
            .body(vec![0u8, 1])
            .send()
            .await
            .expect("answer");
        assert_eq!(
            on_api.status().as_u16(),
            404,
            "/raft/ on the API listener {api}"
        );
        let on_raft = client
            .post(format!("http://{raft}/raft/vote"))
            .body(vec![0u8, 1])
            .send()
            .await
            .expect("answer");
        assert_eq!(on_raft.status().as_u16(), 401, "unsigned call on {raft}");
        let api_on_raft = client
            .get(format!("http://{raft}/api/cluster"))
            .send()
            .await
            .expect("answer");
        assert_eq!(api_on_raft.status().as_u16(), 404, "the API on {raft}");
    }
    let status = cluster.status(leader).await.expect("status");
    let member_addrs: BTreeSet<String> = status["members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["addr"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        member_addrs,
        cluster.raft_addrs.iter().cloned().collect::<BTreeSet<_>>()
    );

    let follower = (1..=3).find(|id| *id != leader).unwrap();
    assert_eq!(
        create(&cluster.url(leader, ""), "at-leader").await,
        Some(201)
    );
    assert_eq!(
        create(&cluster.url(follower, ""), "forwarded").await,
        Some(201)
    );
    for id in 1..=3 {
        let names = config_names(&cluster.url(id, "/api/configs?consistent=true"))
            .await
            .expect("configs");
        assert!(
            names.contains(&"at-leader".to_owned()) && names.contains(&"forwarded".to_owned()),
            "replica {id}: {names:?}"
        );
    }
}

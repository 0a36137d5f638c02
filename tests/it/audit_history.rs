//! The audit history over a real socket: filters, pagination, per-config
//! history, time travel, revert, the live SSE stream, and the ops endpoints.

use crate::support;

use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};
use support::{Answer, Instance, client};

async fn get(local: &Instance, path: &str) -> Answer {
    Answer::of(client().get(local.url(path)).send().await.unwrap()).await
}

async fn write(
    local: &Instance,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Answer {
    let mut request = client().request(method, local.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    Answer::of(request.send().await.unwrap()).await
}

fn seqs(page: &Value) -> Vec<u64> {
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect()
}

const A: &str = "alice-secret-0123456789";
const B: &str = "bob-secret-0123456789";

/// alice creates a and b; bob updates a twice; alice deletes b: seqs 1..=5.
async fn scenario() -> (tempfile::TempDir, Instance) {
    let dir = tempfile::tempdir().unwrap();
    let local = Instance::local(dir.path(), &["--api-token", &format!("alice:{A},bob:{B}")]);
    use reqwest::Method;
    assert_eq!(
        write(
            &local,
            Method::POST,
            "/api/configs",
            A,
            Some(json!({"name": "a", "input": "# a1\n"}))
        )
        .await
        .status,
        201
    );
    assert_eq!(
        write(
            &local,
            Method::POST,
            "/api/configs",
            A,
            Some(json!({"name": "b", "input": "# b1\n"}))
        )
        .await
        .status,
        201
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(
        write(
            &local,
            Method::PUT,
            "/api/configs/a",
            B,
            Some(json!({"input": "# a2\n"}))
        )
        .await
        .status,
        200
    );
    assert_eq!(
        write(
            &local,
            Method::PUT,
            "/api/configs/a",
            B,
            Some(json!({"input": "# a3\n"}))
        )
        .await
        .status,
        200
    );
    assert_eq!(
        write(&local, Method::DELETE, "/api/configs/b", A, None)
            .await
            .status,
        200
    );
    (dir, local)
}

#[tokio::test]
async fn events_filter_and_paginate() {
    let (_dir, local) = scenario().await;
    assert_eq!(
        seqs(&get(&local, "/api/events").await.json),
        [5, 4, 3, 2, 1]
    );
    assert_eq!(
        seqs(&get(&local, "/api/events?order=asc").await.json),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(
        seqs(&get(&local, "/api/events?type=ConfigUpdated").await.json),
        [4, 3]
    );
    assert_eq!(
        seqs(
            &get(
                &local,
                "/api/events?type=ConfigCreated,ConfigDeleted&order=asc"
            )
            .await
            .json
        ),
        [1, 2, 5]
    );
    assert_eq!(
        seqs(&get(&local, "/api/events?config=b").await.json),
        [5, 2]
    );
    assert_eq!(
        seqs(&get(&local, "/api/events?actor=bob").await.json),
        [4, 3]
    );
    assert_eq!(
        seqs(
            &get(&local, "/api/events?actor=api:alice&config=a")
                .await
                .json
        ),
        [1]
    );
    assert_eq!(
        seqs(&get(&local, "/api/events?from_seq=2&to_seq=4").await.json),
        [4, 3, 2]
    );

    // Time range: since the third event's time.
    let third = get(&local, "/api/events?from_seq=3&to_seq=3").await.json["events"][0]["at"]
        .as_str()
        .unwrap()
        .to_owned();
    let since = get(
        &local,
        &format!("/api/events?order=asc&since={}", support::encode(&third)),
    )
    .await;
    assert_eq!(seqs(&since.json), [3, 4, 5]);
    let until = get(
        &local,
        &format!("/api/events?order=asc&until={}", support::encode(&third)),
    )
    .await;
    assert_eq!(seqs(&until.json)[..3], [1, 2, 3]);

    // Pagination, both orders, with and without filters: pages join up exactly.
    for query in [
        "order=desc",
        "order=asc",
        "order=asc&config=a",
        "order=desc&type=ConfigUpdated,ConfigCreated",
    ] {
        let all = seqs(&get(&local, &format!("/api/events?{query}")).await.json);
        let mut paged = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/api/events?{query}&limit=2");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let page = get(&local, &path).await.json;
            paged.extend(seqs(&page));
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        assert_eq!(paged, all, "{query}");
    }

    let event = &get(&local, "/api/events?from_seq=3&to_seq=3").await.json["events"][0];
    assert_eq!(event["type"], "ConfigUpdated");
    assert_eq!(event["actor"], "api:bob");
    assert_eq!(event["config"], "a");
    assert_eq!(event["data"]["input"], "# a2\n");

    for bad in [
        "type=Nope",
        "limit=0",
        "limit=5000",
        "order=sideways",
        "from_seq=x",
        "since=yesterday",
        "cursor=zz",
    ] {
        let answer = get(&local, &format!("/api/events?{bad}")).await;
        assert_eq!(
            (answer.status, answer.error_code()),
            (400, "invalid_query"),
            "{bad}: {}",
            answer.json
        );
    }
}

#[tokio::test]
async fn history_time_travel_and_revert() {
    let (_dir, local) = scenario().await;
    let history = get(&local, "/api/configs/a/history").await.json;
    let versions: Vec<(u64, &str, &str)> = history["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["seq"].as_u64().unwrap(),
                v["change"].as_str().unwrap(),
                v["input"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        versions,
        [
            (1, "created", "# a1\n"),
            (3, "updated", "# a2\n"),
            (4, "updated", "# a3\n")
        ]
    );
    let deleted_b = get(&local, "/api/configs/b/history").await.json;
    assert_eq!(deleted_b["versions"][1]["change"], "deleted");
    assert_eq!(deleted_b["versions"][1]["input"], Value::Null);

    let at = |seq: u64| {
        let local = &local;
        async move {
            let answer = get(local, &format!("/api/configs?at={seq}")).await;
            assert_eq!(answer.status, 200);
            assert_eq!(
                answer.headers["x-logstash-mesos-seq"],
                seq.to_string().as_str()
            );
            answer
                .json
                .as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    (
                        c["name"].as_str().unwrap().to_owned(),
                        c["input"].as_str().unwrap().to_owned(),
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    let pair = |n: &str, i: &str| (n.to_owned(), i.to_owned());
    assert_eq!(at(0).await, []);
    assert_eq!(at(1).await, [pair("a", "# a1\n")]);
    assert_eq!(at(2).await, [pair("a", "# a1\n"), pair("b", "# b1\n")]);
    assert_eq!(at(3).await, [pair("a", "# a2\n"), pair("b", "# b1\n")]);
    assert_eq!(at(5).await, [pair("a", "# a3\n")]);
    let beyond = get(&local, "/api/configs?at=6").await;
    assert_eq!((beyond.status, beyond.error_code()), (400, "invalid_point"));

    // A time: the state right after the event at that time.
    let t2 = get(&local, "/api/events?from_seq=2&to_seq=2").await.json["events"][0]["at"]
        .as_str()
        .unwrap()
        .to_owned();
    let by_time = get(&local, &format!("/api/configs?at={}", support::encode(&t2))).await;
    assert_eq!(by_time.headers["x-logstash-mesos-seq"], "2");

    // Revert to version 1: a new version, not a rewrite.
    let reverted = write(
        &local,
        reqwest::Method::POST,
        "/api/configs/a/revert",
        B,
        Some(json!({"version": 1})),
    )
    .await;
    assert_eq!(reverted.status, 200, "{}", reverted.json);
    assert_eq!(
        (
            reverted.json["input"].as_str(),
            reverted.json["version"].as_u64()
        ),
        (Some("# a1\n"), Some(4))
    );
    let last = &get(&local, "/api/configs/a/history").await.json["versions"][3];
    assert_eq!(
        (last["restored_from"].as_u64(), last["seq"].as_u64()),
        (Some(1), Some(6))
    );
    let missing = write(
        &local,
        reqwest::Method::POST,
        "/api/configs/a/revert",
        B,
        Some(json!({"version": 9})),
    )
    .await;
    assert_eq!(
        (missing.status, missing.error_code()),
        (404, "version_not_found")
    );
}

/// Reads SSE frames until `n` events arrived; returns their (id, type) pairs.
async fn read_sse(response: reqwest::Response, n: usize) -> Vec<(u64, String)> {
    let mut body = response.bytes_stream();
    let mut buffer = String::new();
    let mut events = Vec::new();
    while events.len() < n {
        let chunk = tokio::time::timeout(Duration::from_secs(10), body.next())
            .await
            .expect("an event within 10 s")
            .expect("stream open")
            .unwrap();
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            let field = |name: &str| {
                frame
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(|v| v.trim().to_owned())
            };
            if let (Some(id), Some(event)) = (field("id:"), field("event:")) {
                events.push((id.parse().unwrap(), event));
            }
        }
    }
    events
}

#[tokio::test]
async fn sse_streams_new_events_and_resumes_from_last_event_id() {
    let (_dir, local) = scenario().await;
    let live = client()
        .get(local.url("/api/events/stream"))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
    assert_eq!(live.headers()["content-type"], "text/event-stream");
    let reader = tokio::spawn(read_sse(live, 2));
    tokio::time::sleep(Duration::from_millis(200)).await;
    write(
        &local,
        reqwest::Method::POST,
        "/api/configs",
        A,
        Some(json!({"name": "c", "input": ""})),
    )
    .await;
    write(&local, reqwest::Method::DELETE, "/api/configs/c", A, None).await;
    assert_eq!(
        reader.await.unwrap(),
        [
            (6, "ConfigCreated".to_owned()),
            (7, "ConfigDeleted".to_owned())
        ]
    );

    let resumed = client()
        .get(local.url("/api/events/stream"))
        .header("last-event-id", "3")
        .send()
        .await
        .unwrap();
    let ids: Vec<u64> = read_sse(resumed, 4)
        .await
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(ids, [4, 5, 6, 7]);
    let from_query = client()
        .get(local.url("/api/events/stream?after=5"))
        .send()
        .await
        .unwrap();
    let ids: Vec<u64> = read_sse(from_query, 2)
        .await
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(ids, [6, 7]);
}

#[tokio::test]
async fn shutdown_ends_open_streams() {
    let dir = tempfile::tempdir().unwrap();
    let mut local = Instance::local(dir.path(), &[]);
    let open = client()
        .get(local.url("/api/events/stream"))
        .send()
        .await
        .unwrap();
    assert_eq!(open.status(), 200);
    let started = std::time::Instant::now();
    local.terminate();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "shutdown waited for the stream"
    );
    drop(open);
}

#[tokio::test]
async fn health_ready_metrics_and_openapi() {
    let (_dir, local) = scenario().await;
    let health = get(&local, "/health").await;
    assert_eq!(
        (health.status, health.json["status"].as_str()),
        (200, Some("ok"))
    );
    let ready = get(&local, "/ready").await;
    assert_eq!(
        (ready.status, ready.json["last_seq"].as_u64()),
        (200, Some(5))
    );

    get(&local, "/api/configs/nope").await;
    let metrics = client()
        .get(local.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for needle in [
        r#"logstash_mesos_events_appended_total{type="ConfigCreated"} 2"#,
        r#"logstash_mesos_events_appended_total{type="ConfigUpdated"} 2"#,
        r#"logstash_mesos_http_requests_total{method="POST",route="/api/configs",status="201"} 2"#,
        r#"logstash_mesos_http_requests_total{method="GET",route="/api/configs/{*rest}",status="404"} 1"#,
        "logstash_mesos_http_request_duration_seconds_bucket",
        "logstash_mesos_journal_last_seq 5",
        "logstash_mesos_raft_leader 1",
        "logstash_mesos_mesos_subscribed 0",
    ] {
        assert!(metrics.contains(needle), "missing {needle} in\n{metrics}");
    }

    let spec = get(&local, "/api/openapi.json").await.json;
    assert_eq!(spec["openapi"], "3.1.0");
    for path in [
        "/api/configs",
        "/api/configs/{name}",
        "/api/configs/{name}/history",
        "/api/events",
        "/api/events/stream",
    ] {
        assert!(
            spec["paths"][path].is_object(),
            "{path} missing from the OpenAPI spec"
        );
    }
    assert!(spec["components"]["schemas"]["ConfigJson"].is_object());
}

//! Bounded resources over real sockets, each finding of the audit
//! reproduced: invented methods and paths do not grow `/metrics`; idle
//! connections are capped per address and in all, so `/health` keeps
//! answering; half-sent heads are closed; live streams are capped; event
//! pages are bounded in bytes and continue with a cursor; a stream cannot
//! start beyond the last event; a filter repeated thousands of times costs
//! once.

use crate::support;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::raw::{self, addr, connect_from, exchange, read_until_closed};
use support::{Answer, Instance, client};
use tokio::io::AsyncWriteExt;

fn rss_kib(instance: &Instance) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", instance.pid().unwrap()))
        .expect("process status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

async fn metrics(instance: &Instance) -> String {
    support::get_text(instance, "/metrics").await
}

fn health_request() -> &'static str {
    "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
}

#[tokio::test]
async fn invented_methods_and_paths_do_not_grow_metrics() {
    let _lane = crate::support::lanes::heavy().await;
    let dir = tempfile::tempdir().unwrap();
    let instance = Instance::local(dir.path(), &[]);
    // Warm up every label the flood below can touch.
    for request in [
        "BREW /api/configs HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        "GET /no/such/path HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        health_request(),
    ] {
        raw::request(&instance, request).await;
    }
    metrics(&instance).await;
    let before = metrics(&instance).await;
    let rss_before = rss_kib(&instance);

    // 23,000 requests with invented methods and paths, pipelined on 4
    // connections.
    const EACH: usize = 5_750;
    let target = addr(&instance);
    let mut connections = Vec::new();
    for c in 0..4 {
        connections.push(tokio::spawn(async move {
            let mut stream = tokio::net::TcpStream::connect(target).await.unwrap();
            let (mut reader, mut writer) = stream.split();
            let write = async {
                for i in 0..EACH {
                    let n = c * EACH + i;
                    let request = if n.is_multiple_of(2) {
                        format!("INVENTED{n} /api/configs HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                    } else {
                        format!("GET /invented/{n} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                    };
                    writer.write_all(request.as_bytes()).await.unwrap();
                }
                writer.write_all(health_request().as_bytes()).await.unwrap();
            };
            let mut answers = Vec::new();
            let read = tokio::io::AsyncReadExt::read_to_end(&mut reader, &mut answers);
            let (_, read) = tokio::join!(write, read);
            read.unwrap();
            String::from_utf8_lossy(&answers)
                .matches("HTTP/1.1 ")
                .count()
        }));
    }
    let mut answered = 0;
    for c in connections {
        answered += c.await.unwrap();
    }
    assert_eq!(answered, 4 * (EACH + 1));

    let after = metrics(&instance).await;
    assert!(!after.contains("INVENTED"), "a method became a label");
    assert!(!after.contains("/invented/"), "a raw path became a label");
    assert!(after.contains("method=\"other\""), "{after}");
    // Counter values grew by some digits; no new series.
    let series = |text: &str| text.lines().filter(|l| !l.starts_with('#')).count();
    assert_eq!(series(&after), series(&before), "{after}");
    let grown = rss_kib(&instance).saturating_sub(rss_before);
    assert!(grown < 64 * 1024, "the process grew by {grown} KiB");
}

/// Opens `n` idle connections from `from`; returns them with how many were
/// answered at once (refused) and with which statuses.
async fn idle_connections(
    instance: &Instance,
    from: impl Fn(usize) -> IpAddr,
    n: usize,
) -> (Vec<tokio::net::TcpStream>, Vec<u16>) {
    let mut open = Vec::new();
    for i in 0..n {
        open.push(connect_from(from(i), addr(instance)).await);
    }
    // A refused connection is answered at once; give the answers a moment.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut kept = Vec::new();
    let mut refused = Vec::new();
    for stream in open {
        let mut buf = [0u8; 1024];
        match stream.try_read(&mut buf) {
            Ok(n) if n > 0 => refused.push(raw::status(&String::from_utf8_lossy(&buf[..n]))),
            Ok(_) => refused.push(0),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => kept.push(stream),
            Err(e) => panic!("{e}"),
        }
    }
    (kept, refused)
}

#[tokio::test]
async fn idle_connections_from_one_address_cannot_starve_health() {
    let _lane = crate::support::lanes::heavy().await;
    let dir = tempfile::tempdir().unwrap();
    let instance = Instance::local(dir.path(), &[]);
    let flooder: IpAddr = "127.0.0.2".parse().unwrap();
    let (kept, refused) = idle_connections(&instance, |_| flooder, 300).await;
    // The default per-address cap: 64.
    assert_eq!(kept.len(), 64);
    assert_eq!(refused.len(), 236);
    assert!(refused.iter().all(|s| *s == 429), "{refused:?}");

    let started = Instant::now();
    let health = raw::request(&instance, health_request()).await;
    assert_eq!(raw::status(&health), 200, "{health}");
    let write = Answer::of(
        client()
            .post(instance.url("/api/configs"))
            .json(&json!({"name": "during-flood", "input": ""}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(write.status, 201, "{}", write.json);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "health and a write took {:?}",
        started.elapsed()
    );
    drop(kept);
}

#[tokio::test]
async fn the_global_cap_refuses_the_excess_and_idle_connections_time_out() {
    let _lane = crate::support::lanes::heavy().await;
    let dir = tempfile::tempdir().unwrap();
    let instance = Instance::local(
        dir.path(),
        &[
            "--max-connections",
            "40",
            "--max-connections-per-ip",
            "0",
            "--header-read-timeout",
            "2s",
        ],
    );
    let from = |i: usize| IpAddr::from([127, 0, 1, 1 + i as u8]);
    let opened = Instant::now();
    let (kept, refused) = idle_connections(&instance, from, 50).await;
    assert_eq!((kept.len(), refused.len()), (40, 10));
    assert!(refused.iter().all(|s| *s == 503), "{refused:?}");
    // While the cap is full, more are refused at once, not left hanging.
    let full = raw::request(&instance, health_request()).await;
    if opened.elapsed() < Duration::from_millis(1500) {
        assert_eq!(raw::status(&full), 503, "{full}");
        assert!(
            full.to_ascii_lowercase().contains("retry-after: 1"),
            "{full}"
        );
    }

    // The idle connections are closed by the header timeout...
    for mut stream in kept {
        let closed = read_until_closed(&mut stream, Duration::from_secs(10)).await;
        assert!(
            raw::status(&closed) == 0 || raw::status(&closed) == 408,
            "{closed}"
        );
    }
    let waited = opened.elapsed();
    assert!(waited < Duration::from_secs(8), "closed after {waited:?}");
    // ...which frees the cap.
    let health = raw::request(&instance, health_request()).await;
    assert_eq!(raw::status(&health), 200, "{health}");

    // A half-sent head is closed within the timeout too.
    let mut half = tokio::net::TcpStream::connect(addr(&instance))
        .await
        .unwrap();
    let started = Instant::now();
    let answer = exchange(
        &mut half,
        "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ",
        Duration::from_secs(20),
    )
    .await;
    let closed_after = started.elapsed();
    assert!(
        closed_after >= Duration::from_millis(1500) && closed_after < Duration::from_secs(8),
        "closed after {closed_after:?}: {answer:?}"
    );
}

#[tokio::test]
async fn live_streams_are_capped_and_their_slots_come_back() {
    let _lane = crate::support::lanes::heavy().await;
    let dir = tempfile::tempdir().unwrap();
    let instance = Instance::local(dir.path(), &["--max-event-streams", "2"]);
    let open = || client().get(instance.url("/api/events/stream")).send();
    let first = open().await.unwrap();
    let second = open().await.unwrap();
    assert_eq!(
        (first.status().as_u16(), second.status().as_u16()),
        (200, 200)
    );
    let third = Answer::of(open().await.unwrap()).await;
    assert_eq!(
        (third.status, third.error_code()),
        (429, "too_many_streams"),
        "{}",
        third.json
    );
    // A stream that ends gives its slot back.
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let again = open().await.unwrap();
        if again.status() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the slot did not come back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(second);
}

#[tokio::test]
async fn idle_streams_over_large_configs_hold_little_memory() {
    let _lane = crate::support::lanes::heavy().await;
    let dir = tempfile::tempdir().unwrap();
    let instance = Instance::local(dir.path(), &[]);
    let big = format!(
        "input {{ file {{ docker-path => \"/var/log/a.log\" }} }}\n# {}\n",
        "x".repeat(900_000)
    );
    for i in 0..20 {
        let created = client()
            .post(instance.url("/api/configs"))
            .json(&json!({"name": format!("big-{i}"), "input": big}))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
    }
    let before = rss_kib(&instance);
    // 8 clients replay the whole history and never read it.
    let mut streams = Vec::new();
    for _ in 0..8 {
        let mut stream = tokio::net::TcpStream::connect(addr(&instance))
            .await
            .unwrap();
        stream
            .write_all(b"GET /api/events/stream?after=0 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .unwrap();
        streams.push(stream);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let grown = rss_kib(&instance).saturating_sub(before);
    eprintln!("8 idle streams over 18 MB of events: the process grew by {grown} KiB");
    assert!(grown < 48 * 1024, "the process grew by {grown} KiB");
    drop(streams);
}

#[tokio::test]
async fn event_pages_are_bounded_in_bytes_and_continue_with_a_cursor() {
    let _lane = crate::support::lanes::heavy().await;
    let dir = tempfile::tempdir().unwrap();
    let instance = Instance::local(dir.path(), &[]);
    let big = format!(
        "input {{ file {{ docker-path => \"/var/log/a.log\" }} }}\n# {}\n",
        "x".repeat(900_000)
    );
    const CONFIGS: u64 = 12;
    for i in 0..CONFIGS {
        let created = client()
            .post(instance.url("/api/configs"))
            .json(&json!({"name": format!("big-{i}"), "input": big}))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
    }
    for order in ["asc", "desc"] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut url = format!("/api/events?limit=1000&order={order}");
            if let Some(c) = &cursor {
                url.push_str(&format!("&cursor={c}"));
            }
            let response = client().get(instance.url(&url)).send().await.unwrap();
            assert_eq!(response.status(), 200);
            let body = response.bytes().await.unwrap();
            assert!(
                body.len() <= 4 * 1024 * 1024 + 1024 * 1024,
                "a page of {} bytes",
                body.len()
            );
            let page: Value = serde_json::from_slice(&body).unwrap();
            pages += 1;
            seen.extend(
                page["events"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e["seq"].as_u64().unwrap()),
            );
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        assert!(pages >= 3, "{order}: {pages} pages for ~11 MB");
        let mut expected: Vec<u64> = (1..=CONFIGS).collect();
        if order == "desc" {
            expected.reverse();
        }
        assert_eq!(seen, expected, "{order}");
    }
}

#[tokio::test]
async fn a_stream_cannot_start_beyond_the_last_event() {
    let _lane = crate::support::lanes::heavy().await;
    let dir = tempfile::tempdir().unwrap();
    let instance = Instance::local(dir.path(), &[]);
    for name in ["a", "b"] {
        client()
            .post(instance.url("/api/configs"))
            .json(&json!({"name": name, "input": ""}))
            .send()
            .await
            .unwrap();
    }
    let beyond = "18446744073709551615";
    let by_header = Answer::of(
        client()
            .get(instance.url("/api/events/stream"))
            .header("last-event-id", beyond)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (by_header.status, by_header.error_code()),
        (400, "invalid_query")
    );
    let by_query = Answer::of(
        client()
            .get(instance.url(&format!("/api/events/stream?after={beyond}")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (by_query.status, by_query.error_code()),
        (400, "invalid_query")
    );
    let just_past = client()
        .get(instance.url("/api/events/stream?after=3"))
        .send()
        .await
        .unwrap();
    assert_eq!(just_past.status(), 400);
    // At the last event: waits for the next one; from 0: replays.
    let at_last = client()
        .get(instance.url("/api/events/stream"))
        .header("last-event-id", "2")
        .send()
        .await
        .unwrap();
    assert_eq!(at_last.status(), 200);
    assert_eq!(at_last.headers()["x-logstash-mesos-seq"], "2");
}

#[tokio::test]
async fn a_repeated_filter_costs_once_and_queries_do_not_stall_writes() {
    let _lane = crate::support::lanes::heavy().await;
    let dir = tempfile::tempdir().unwrap();
    let instance = Instance::local(dir.path(), &[]);
    for i in 0..200 {
        let created = client()
            .post(instance.url("/api/configs"))
            .json(&json!({"name": format!("c{i}"), "input": ""}))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
    }
    let repeated = vec!["ConfigCreated"; 4_600].join(",");
    let path = format!("/api/events?limit=1000&type={repeated}");
    let once = support::get_json(&instance, "/api/events?limit=1000&type=ConfigCreated").await;
    assert_eq!(once["events"].as_array().unwrap().len(), 200);
    assert_eq!(support::get_json(&instance, &path).await, once);

    // Writes go on while such queries run back to back: compared with the
    // writes just before, in the same run, the typical write is not held up
    // behind the queries. One reader, so that the queries hold the state
    // lock most of the time if they hold it at all, without taking all of
    // a 2-core machine's CPU; medians, so that one scheduling hiccup does
    // not decide.
    let write_times = |prefix: &'static str| {
        let instance = &instance;
        async move {
            let mut times = Vec::new();
            for i in 0..20 {
                let started = Instant::now();
                let created = client()
                    .post(instance.url("/api/configs"))
                    .json(&json!({"name": format!("{prefix}-{i}"), "input": ""}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(created.status(), 201);
                times.push(started.elapsed());
            }
            times.sort();
            times[times.len() / 2]
        }
    };
    let before = write_times("before").await;
    let stop = tokio_util::sync::CancellationToken::new();
    let reader = {
        let (url, stop) = (instance.url(&path), stop.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.is_cancelled() {
                let answer = client().get(&url).send().await.unwrap();
                assert_eq!(answer.status(), 200);
                answer.bytes().await.unwrap();
                n += 1;
            }
            n
        })
    };
    let during = write_times("during").await;
    stop.cancel();
    let queries = reader.await.unwrap();
    assert!(queries > 0);
    eprintln!("median write {before:?} alone, {during:?} during {queries} repeated-filter queries");
    assert!(
        during < before * 5 + Duration::from_millis(200),
        "writes stalled behind queries: median {during:?}, {before:?} without them"
    );
}

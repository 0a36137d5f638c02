//! The config API over a real socket, as a client of the seed's README uses it,
//! with every status code the API promises.

use crate::support;

use serde_json::{Value, json};
use support::{Answer, Instance, client, encode};

const INPUT: &str = "input {\n  file {\n    docker-path => \"/var/log/nginx/access.log\"\n  }\n}\n";

async fn post(local: &Instance, body: Value) -> Answer {
    Answer::of(
        client()
            .post(local.url("/api/configs"))
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

async fn get(local: &Instance, path: &str) -> Answer {
    Answer::of(client().get(local.url(path)).send().await.unwrap()).await
}

#[tokio::test]
async fn seed_client_creates_lists_updates_and_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let local = Instance::local(dir.path(), &[]);
    let name = "mesos/logstash:0.0.6";

    let created = post(&local, json!({"name": name, "input": INPUT})).await;
    assert_eq!(created.status, 201, "{}", created.json);
    assert_eq!(created.json["name"], name);
    assert_eq!(created.json["input"], INPUT);
    assert_eq!(
        created.headers["location"],
        "/api/configs/mesos%2Flogstash%3A0.0.6"
    );

    let list = get(&local, "/api/configs").await;
    assert_eq!(list.status, 200);
    assert_eq!(list.json.as_array().unwrap().len(), 1);
    assert_eq!(list.json[0]["name"], name);
    // The seed served the same routes without the /api prefix.
    assert_eq!(get(&local, "/configs").await.json, list.json);

    // Update through the seed's query form...
    let updated = Answer::of(
        client()
            .put(local.url(&format!("/api/configs?name={}", encode(name))))
            .json(&json!({"input": "input { stdin { } }"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(updated.status, 200, "{}", updated.json);
    assert_eq!(updated.json["input"], "input { stdin { } }");
    assert_eq!(updated.json["version"], 2);

    // ...and through the path form, with the name encoded and unencoded.
    for path in [
        format!("/api/configs/{}", encode(name)),
        format!("/configs/{name}"),
    ] {
        let body = json!({"name": name, "input": format!("# via {path}\n")});
        let answer = Answer::of(
            client()
                .put(local.url(&path))
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.json);
        let read = get(&local, &path).await;
        assert_eq!(read.json["input"], format!("# via {path}\n"));
    }

    let deleted = Answer::of(
        client()
            .delete(local.url(&format!("/api/configs?name={}", encode(name))))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(deleted.status, 200, "{}", deleted.json);
    assert_eq!(deleted.json["deleted"], true);
    assert_eq!(get(&local, "/api/configs").await.json, json!([]));
    assert_eq!(
        get(&local, &format!("/api/configs/{}", encode(name)))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn odd_names_round_trip_through_every_form() {
    let dir = tempfile::tempdir().unwrap();
    let local = Instance::local(dir.path(), &[]);
    let names = [
        "a/b/c",
        "registry.example.com:5000/team/app@sha256:0123abcd",
        "myorg/*",
        "ünïcødé/画像:1",
        "100% sure?#&=+",
        "x/history",
    ];
    for name in names {
        let created = post(&local, json!({"name": name, "input": ""})).await;
        assert_eq!(created.status, 201, "{name}: {}", created.json);
        let read = get(&local, &format!("/api/configs/{}", encode(name))).await;
        assert_eq!(read.status, 200, "{name}");
        assert_eq!(read.json["name"], name);
        let history = get(&local, &format!("/api/configs/{}/history", encode(name))).await;
        assert_eq!(history.status, 200, "{name}");
        assert_eq!(history.json["versions"].as_array().unwrap().len(), 1);
    }
    let list = get(&local, "/api/configs").await;
    let mut listed: Vec<&str> = list
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    listed.sort_unstable();
    let mut expected = names.to_vec();
    expected.sort_unstable();
    assert_eq!(listed, expected);
    for name in names {
        let answer = Answer::of(
            client()
                .delete(local.url(&format!("/api/configs/{}", encode(name))))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(answer.status, 200, "{name}: {}", answer.json);
    }
    assert_eq!(get(&local, "/api/configs").await.json, json!([]));

    // URL clients resolve `.` and `..` path segments (even encoded), so a
    // name with such a part would have a URL pointing elsewhere: refused,
    // and nothing is appended.
    let seq = get(&local, "/api/events?limit=1").await.json["events"][0]["seq"].clone();
    for name in [".", "..", "../metrics/history", "team/../app"] {
        let answer = post(&local, json!({"name": name, "input": ""})).await;
        assert_eq!(
            (answer.status, answer.json["error"]["code"].as_str()),
            (400, Some("invalid_name")),
            "{name}: {}",
            answer.json
        );
    }
    assert_eq!(
        get(&local, "/api/events?limit=1").await.json["events"][0]["seq"],
        seq
    );
}

#[tokio::test]
async fn every_error_status_in_its_case() {
    let dir = tempfile::tempdir().unwrap();
    let local = Instance::local(dir.path(), &[]);
    let c = client();
    assert_eq!(
        post(&local, json!({"name": "nginx", "input": INPUT}))
            .await
            .status,
        201
    );

    // 409: POST of an existing name.
    let again = post(&local, json!({"name": "nginx", "input": ""})).await;
    assert_eq!((again.status, again.error_code()), (409, "already_exists"));

    // 404: unknown name, for every method and form.
    for request in [
        c.get(local.url("/api/configs/nope")),
        c.put(local.url("/api/configs/nope"))
            .json(&json!({"input": ""})),
        c.put(local.url("/api/configs?name=nope"))
            .json(&json!({"input": ""})),
        c.delete(local.url("/api/configs/nope")),
        c.delete(local.url("/api/configs?name=nope")),
        c.get(local.url("/api/configs/nope/history")),
    ] {
        let answer = Answer::of(request.send().await.unwrap()).await;
        assert_eq!(answer.status, 404, "{}", answer.json);
        assert!(
            answer.json["error"]["message"]
                .as_str()
                .unwrap()
                .contains("nope")
        );
    }

    // 400: malformed JSON, missing field, wrong field type.
    for body in [
        "{\"name\": ",
        "[1,2]",
        "{\"name\": \"x\"}",
        "{\"name\": 1, \"input\": \"\"}",
    ] {
        let answer = Answer::of(
            c.post(local.url("/api/configs"))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            (answer.status, answer.error_code()),
            (400, "malformed_json"),
            "{body}"
        );
    }

    // 400: name rules.
    for name in [
        String::new(),
        "x".repeat(256),
        "a\nb".into(),
        "tab\t".into(),
    ] {
        let answer = post(&local, json!({"name": name, "input": ""})).await;
        assert_eq!(
            (answer.status, answer.error_code()),
            (400, "invalid_name"),
            "{name:?}"
        );
    }
    assert_eq!(
        post(&local, json!({"name": "é".repeat(255), "input": ""}))
            .await
            .status,
        201
    );
    let bad_path = get(&local, "/api/configs/a%0Ab").await;
    assert_eq!(
        (bad_path.status, bad_path.error_code()),
        (400, "invalid_name")
    );
    let not_utf8 = get(&local, "/api/configs/%FF%FE").await;
    assert_eq!(
        (not_utf8.status, not_utf8.error_code()),
        (400, "invalid_name")
    );

    // 400: renaming through PUT is refused.
    let rename = Answer::of(
        c.put(local.url("/api/configs/nginx"))
            .json(&json!({"name": "other", "input": ""}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((rename.status, rename.error_code()), (400, "name_mismatch"));

    // 415: a body that is not JSON (sent from the GUI's own origin: a
    // browser's text body from nowhere is refused before, see browser_guard).
    let text = Answer::of(
        c.post(local.url("/api/configs"))
            .header("content-type", "text/plain")
            .header("origin", local.base.trim_end_matches('/'))
            .body("{\"name\": \"y\", \"input\": \"\"}")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (text.status, text.error_code()),
        (415, "unsupported_media_type")
    );
    let none = Answer::of(
        c.post(local.url("/api/configs"))
            .body("{}")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(none.status, 415);

    // 413: a body over 1 MiB, with and without a length header.
    let big = json!({"name": "big", "input": format!("# {}", "x".repeat(1024 * 1024))});
    let too_large = post(&local, big.clone()).await;
    assert_eq!(
        (too_large.status, too_large.error_code()),
        (413, "body_too_large")
    );
    let chunks = futures::stream::iter(
        serde_json::to_vec(&big)
            .unwrap()
            .chunks(64 * 1024)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let streamed = Answer::of(
        c.post(local.url("/api/configs"))
            .header("content-type", "application/json")
            .body(reqwest::Body::wrap_stream(chunks))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(streamed.status, 413);

    // 405 and unknown routes answer in JSON too.
    let method = Answer::of(c.patch(local.url("/api/configs")).send().await.unwrap()).await;
    assert_eq!(
        (method.status, method.error_code()),
        (405, "method_not_allowed")
    );
    let route = get(&local, "/api/nothing-here").await;
    assert_eq!((route.status, route.error_code()), (404, "not_found"));

    // None of the refused requests appended anything.
    let events = get(&local, "/api/events").await;
    assert_eq!(events.json["last_seq"], 2, "{}", events.json);
}

#[tokio::test]
async fn broken_logstash_is_refused_with_line_and_column_and_nothing_is_appended() {
    let dir = tempfile::tempdir().unwrap();
    let local = Instance::local(dir.path(), &[]);
    assert_eq!(
        post(&local, json!({"name": "nginx", "input": INPUT}))
            .await
            .status,
        201
    );
    let before = get(&local, "/api/events").await.json["last_seq"].clone();

    let broken = "input {\n  file {\n    docker-path => \"/var/log/x.log\"\n    start_position => \n  }\n}\n";
    for request in [
        client()
            .post(local.url("/api/configs"))
            .json(&json!({"name": "other", "input": broken})),
        client()
            .put(local.url("/api/configs/nginx"))
            .json(&json!({"input": broken})),
    ] {
        let answer = Answer::of(request.send().await.unwrap()).await;
        assert_eq!(
            (answer.status, answer.error_code()),
            (400, "invalid_config"),
            "{}",
            answer.json
        );
        assert_eq!(answer.json["error"]["line"], 5, "{}", answer.json);
        assert!(answer.json["error"]["column"].as_u64().unwrap() >= 1);
        let message = answer.json["error"]["message"].as_str().unwrap();
        assert!(message.contains("line 5"), "{message}");
    }
    let relative = "input { file { docker-path => \"relative.log\" } }";
    let answer = post(&local, json!({"name": "rel", "input": relative})).await;
    assert_eq!(
        (answer.status, answer.error_code()),
        (400, "invalid_config")
    );
    assert_eq!(
        (
            answer.json["error"]["line"].as_u64(),
            answer.json["error"]["column"].as_u64()
        ),
        (Some(1), Some(31))
    );

    assert_eq!(get(&local, "/api/events").await.json["last_seq"], before);
    assert_eq!(get(&local, "/api/configs/nginx").await.json["input"], INPUT);
    assert_eq!(get(&local, "/api/configs/other").await.status, 404);
}

#[tokio::test]
async fn tokens_guard_writes_and_name_the_actor() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("tokens");
    std::fs::write(&token_file, "# ops team\nops:ops-secret-0123456789\n").unwrap();
    let local = Instance::local(
        &dir.path().join("data"),
        &[
            "--api-token",
            "alice:alice-secret-0123456789",
            "--api-token-file",
            token_file.to_str().unwrap(),
        ],
    );
    let c = client();
    let body = json!({"name": "nginx", "input": ""});
    for (auth, status) in [
        (None, 401),
        (Some("Bearer wrong"), 401),
        (Some("Basic YWxpY2U6eA=="), 401),
        (Some("Bearer alice-secret-0123456789"), 201),
    ] {
        let mut request = c.post(local.url("/api/configs")).json(&body);
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        let answer = Answer::of(request.send().await.unwrap()).await;
        assert_eq!(answer.status, status, "{auth:?}: {}", answer.json);
        if status == 401 {
            assert_eq!(answer.error_code(), "unauthorized");
            assert_eq!(answer.headers["www-authenticate"], "Bearer");
        }
    }
    let by_ops = Answer::of(
        c.put(local.url("/api/configs/nginx"))
            .bearer_auth("ops-secret-0123456789")
            .json(&json!({"input": "# changed\n"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(by_ops.status, 200);
    assert_eq!(by_ops.json["updated_by"], "api:ops");
    // Reads stay open unless --api-auth-reads.
    assert_eq!(get(&local, "/api/configs").await.status, 200);
    let events = get(&local, "/api/events?order=asc").await;
    let actors: Vec<&str> = events.json["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["actor"].as_str().unwrap())
        .collect();
    assert_eq!(actors, ["api:alice", "api:ops"]);
    let text = events.json.to_string();
    assert!(
        !text.contains("secret"),
        "a secret leaked into the log: {text}"
    );
}

#[tokio::test]
async fn reads_can_require_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let local = Instance::local(
        dir.path(),
        &[
            "--api-token",
            "ro:reader-secret-0123456789",
            "--api-auth-reads",
        ],
    );
    assert_eq!(get(&local, "/api/configs").await.status, 401);
    assert_eq!(get(&local, "/api/events").await.status, 401);
    let with = Answer::of(
        client()
            .get(local.url("/api/configs"))
            .bearer_auth("reader-secret-0123456789")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(with.status, 200);
    // Health, readiness and metrics stay open for probes and scrapers.
    for path in ["/health", "/ready", "/metrics"] {
        assert_eq!(get(&local, path).await.status, 200, "{path}");
    }
}

#[tokio::test]
async fn unknown_plugins_are_refused_at_their_place_and_extra_ones_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let local = Instance::local(dir.path(), &["--logstash-plugins", "logstash-filter-tld"]);
    let before = get(&local, "/api/events").await.json["last_seq"].clone();
    let unknown =
        "input { file { docker-path => \"/var/log/a.log\" } }\nfilter {\n  geoip_plus { }\n}\n";
    let answer = post(&local, json!({"name": "app", "input": unknown})).await;
    assert_eq!(
        (answer.status, answer.error_code()),
        (400, "unknown_plugin"),
        "{}",
        answer.json
    );
    assert_eq!(
        (
            answer.json["error"]["line"].as_u64(),
            answer.json["error"]["column"].as_u64()
        ),
        (Some(3), Some(3)),
        "{}",
        answer.json
    );
    let message = answer.json["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("unknown plugin") && message.contains("geoip_plus"),
        "{message}"
    );
    // An unknown codec too, and the same answer from the validate route.
    let codec = "input { file { docker-path => \"/var/log/a.log\" codec => nosuch } }";
    let validated = Answer::of(
        client()
            .post(local.url("/api/configs/validate"))
            .json(&json!({"input": codec}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (validated.status, validated.error_code()),
        (400, "unknown_plugin"),
        "{}",
        validated.json
    );
    assert_eq!(validated.json["error"]["column"].as_u64(), Some(57));
    assert_eq!(get(&local, "/api/events").await.json["last_seq"], before);

    // Bundled plugins and the ones named in --logstash-plugins are accepted.
    let known = "input { file { docker-path => \"/var/log/a.log\" codec => json } }\nfilter { tld { } grok { } }\noutput { elasticsearch { } }\n";
    let created = post(&local, json!({"name": "app", "input": known})).await;
    assert_eq!(created.status, 201, "{}", created.json);
}

#[tokio::test]
async fn two_configs_cannot_listen_on_one_port() {
    let dir = tempfile::tempdir().unwrap();
    let local = Instance::local(dir.path(), &[]);
    let first = "input { syslog { port => 5514 } }";
    assert_eq!(
        post(&local, json!({"name": "a", "input": first}))
            .await
            .status,
        201
    );
    // syslog listens on TCP and UDP: a udp input on 5514 collides too.
    let answer = post(
        &local,
        json!({"name": "b", "input": "input {\n udp { port => 5514 } }"}),
    )
    .await;
    assert_eq!(
        (answer.status, answer.error_code()),
        (409, "port_taken"),
        "{}",
        answer.json
    );
    assert!(
        answer.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("\"a\"")
    );
    // Another port is fine, and so is updating a config on its own port.
    assert_eq!(
        post(
            &local,
            json!({"name": "b", "input": "input { udp { port => 5515 } }"})
        )
        .await
        .status,
        201
    );
    let same = Answer::of(
        client()
            .put(local.url("/api/configs/a"))
            .json(&json!({"input": "input { syslog { port => 5514 type => \"x\" } }"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(same.status, 200, "{}", same.json);
    // A port that names no port is refused at its place.
    let bad = post(
        &local,
        json!({"name": "c", "input": "input { tcp { port => \"http\" } }"}),
    )
    .await;
    assert_eq!(
        (bad.status, bad.error_code()),
        (400, "invalid_config"),
        "{}",
        bad.json
    );
    assert_eq!(bad.json["error"]["column"].as_u64(), Some(23));
}

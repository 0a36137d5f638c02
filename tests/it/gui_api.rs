//! What the web GUI needs from the server, over a real socket: its files at
//! `/` and `/ui/*` (or none with `--no-ui`), config validation without saving,
//! `GET /api/whoami`, and where the live stream starts.

use crate::support;

use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};
use support::{Answer, Instance, client};

const SECRET: &str = "correct-horse-battery-staple";

async fn send(
    local: &Instance,
    method: &str,
    path: &str,
    body: Option<Value>,
    secret: Option<&str>,
) -> Answer {
    let mut request = client().request(method.parse().unwrap(), local.url(path));
    if let Some(body) = body {
        request = request.json(&body);
    }
    if let Some(secret) = secret {
        request = request.bearer_auth(secret);
    }
    Answer::of(request.send().await.unwrap()).await
}

#[tokio::test]
async fn the_gui_is_served_at_the_root_with_its_assets() {
    let dir = tempfile::tempdir().unwrap();
    let local = Instance::local(dir.path(), &[]);

    let page = client().get(local.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let headers = page.headers().clone();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    let html = page.text().await.unwrap();
    assert!(
        html.contains("<script type=\"module\" src=\"ui/app.js\">"),
        "{html}"
    );

    let script = client().get(local.url("/ui/app.js")).send().await.unwrap();
    assert_eq!(script.status(), 200);
    assert_eq!(
        script.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    let etag = script.headers()["etag"].to_str().unwrap().to_owned();
    let style = client()
        .get(local.url("/ui/style.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(style.headers()["content-type"], "text/css; charset=utf-8");

    // Unchanged files answer 304 to a revalidation.
    let again = client()
        .get(local.url("/ui/app.js"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);

    let missing = Answer::of(client().get(local.url("/ui/nope.js")).send().await.unwrap()).await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.error_code(), "not_found");
    let traversal = client()
        .get(local.url("/ui/..%2F..%2FCargo.toml"))
        .send()
        .await
        .unwrap();
    assert_eq!(traversal.status(), 404);
}

#[tokio::test]
async fn no_ui_turns_the_gui_off_and_leaves_the_api_on() {
    let dir = tempfile::tempdir().unwrap();
    let flag = Instance::local(dir.path(), &["--no-ui"]);
    let other = tempfile::tempdir().unwrap();
    let env = Instance::local_with_env(other.path(), &[], &[("LOGSTASH_MESOS_NO_UI", "true")]);
    for local in [&flag, &env] {
        let root = send(local, "GET", "/", None, None).await;
        assert_eq!(root.status, 404, "{}", root.json);
        assert!(
            root.json["error"]["message"]
                .as_str()
                .unwrap()
                .contains("--no-ui"),
            "{}",
            root.json
        );
        assert_eq!(
            send(local, "GET", "/ui/app.js", None, None).await.status,
            404
        );
        assert_eq!(
            send(local, "GET", "/api/configs", None, None).await.status,
            200
        );
        assert_eq!(send(local, "GET", "/health", None, None).await.status, 200);
    }
}

#[tokio::test]
async fn validate_checks_a_config_without_saving_it() {
    let dir = tempfile::tempdir().unwrap();
    let local = Instance::local(dir.path(), &[]);

    let input = "input {\n  file {\n    docker-path => \"/var/log/nginx/access.log\"\n    codec => json { }\n  }\n}\nfilter { grok { } }\n";
    let ok = send(
        &local,
        "POST",
        "/api/configs/validate",
        Some(json!({"name": "nginx:1.27", "input": input})),
        None,
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.json);
    assert_eq!(
        ok.json,
        json!({
            "valid": true,
            "lines": 7,
            "docker_paths": ["/var/log/nginx/access.log"],
            "host_paths": [],
            "plugins": ["file", "json", "grok"],
        })
    );
    // The seed's prefix-less form works too.
    let bare = send(
        &local,
        "POST",
        "/configs/validate",
        Some(json!({"input": input})),
        None,
    )
    .await;
    assert_eq!(bare.status, 200, "{}", bare.json);

    let broken = send(
        &local,
        "POST",
        "/api/configs/validate",
        Some(json!({"input": "input {\n  file {\n    type \"app\"\n  }\n}\n"})),
        None,
    )
    .await;
    assert_eq!(broken.status, 400);
    assert_eq!(broken.error_code(), "invalid_config");
    assert_eq!(broken.json["error"]["line"], 3);
    assert_eq!(broken.json["error"]["column"], 10);

    let relative = send(
        &local,
        "POST",
        "/api/configs/validate",
        Some(json!({"input": "input { file { docker-path => \"var/log\" } }"})),
        None,
    )
    .await;
    assert_eq!(relative.status, 400);
    assert_eq!(relative.json["error"]["column"], 31, "{}", relative.json);

    let bad_name = send(
        &local,
        "POST",
        "/api/configs/validate",
        Some(json!({"name": "", "input": input})),
        None,
    )
    .await;
    assert_eq!(bad_name.status, 400);
    assert_eq!(bad_name.error_code(), "invalid_name");

    let no_input = send(
        &local,
        "POST",
        "/api/configs/validate",
        Some(json!({"name": "x"})),
        None,
    )
    .await;
    assert_eq!(no_input.status, 400);
    assert_eq!(no_input.error_code(), "malformed_json");

    // The host config's rules: host-path below the allowed roots (/var/log).
    let host = |input: &str| json!({"kind": "host", "input": input});
    let allowed = send(
        &local,
        "POST",
        "/api/configs/validate",
        Some(host("input { file { host-path => \"/var/log/syslog\" } }")),
        None,
    )
    .await;
    assert_eq!(allowed.status, 200, "{}", allowed.json);
    assert_eq!(allowed.json["host_paths"], json!(["/var/log/syslog"]));
    let outside = send(
        &local,
        "POST",
        "/api/configs/validate",
        Some(host("input {\n  file { host-path => \"/etc/shadow\" }\n}")),
        None,
    )
    .await;
    assert_eq!(outside.status, 400, "{}", outside.json);
    assert_eq!(outside.json["error"]["line"], 2);
    let kind = send(
        &local,
        "POST",
        "/api/configs/validate",
        Some(json!({"kind": "nope", "input": input})),
        None,
    )
    .await;
    assert_eq!(kind.status, 400);

    // Nothing was recorded.
    let events = send(&local, "GET", "/api/events", None, None).await;
    assert_eq!(events.json["last_seq"], 0);
}

#[tokio::test]
async fn a_config_named_validate_is_still_an_ordinary_config() {
    let dir = tempfile::tempdir().unwrap();
    let local = Instance::local(dir.path(), &[]);
    let body = json!({"name": "validate", "input": "input { stdin { } }"});
    assert_eq!(
        send(&local, "POST", "/api/configs", Some(body), None)
            .await
            .status,
        201
    );
    let read = send(&local, "GET", "/api/configs/validate", None, None).await;
    assert_eq!(read.status, 200);
    assert_eq!(read.json["name"], "validate");
    let put = send(
        &local,
        "PUT",
        "/api/configs/validate",
        Some(json!({"input": "input { stdin { } }\n"})),
        None,
    )
    .await;
    assert_eq!(put.status, 200, "{}", put.json);
    assert_eq!(put.json["version"], 2);
    let history = send(&local, "GET", "/api/configs/validate/history", None, None).await;
    assert_eq!(history.json["versions"].as_array().unwrap().len(), 2);
    let revert = send(
        &local,
        "POST",
        "/api/configs/validate/revert",
        Some(json!({"version": 1})),
        None,
    )
    .await;
    assert_eq!(revert.status, 200, "{}", revert.json);
    assert_eq!(
        send(&local, "DELETE", "/api/configs/validate", None, None)
            .await
            .status,
        200
    );
    // POST to any other config is still not a route.
    let other = send(
        &local,
        "POST",
        "/api/configs/nginx",
        Some(json!({"input": ""})),
        None,
    )
    .await;
    assert_eq!(other.status, 405);
}

#[tokio::test]
async fn validate_is_authorized_like_a_read() {
    let dir = tempfile::tempdir().unwrap();
    let writes = Instance::local(dir.path(), &["--api-token", &format!("ops:{SECRET}")]);
    let body = json!({"input": "input { stdin { } }"});
    let answer = send(
        &writes,
        "POST",
        "/api/configs/validate",
        Some(body.clone()),
        None,
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    let wrong = send(
        &writes,
        "POST",
        "/api/configs/validate",
        Some(body.clone()),
        Some("nope"),
    )
    .await;
    assert_eq!(wrong.status, 401);

    let other = tempfile::tempdir().unwrap();
    let reads = Instance::local(
        other.path(),
        &["--api-token", &format!("ops:{SECRET}"), "--api-auth-reads"],
    );
    let anonymous = send(
        &reads,
        "POST",
        "/api/configs/validate",
        Some(body.clone()),
        None,
    )
    .await;
    assert_eq!(anonymous.status, 401);
    let signed = send(
        &reads,
        "POST",
        "/api/configs/validate",
        Some(body),
        Some(SECRET),
    )
    .await;
    assert_eq!(signed.status, 200);
}

#[tokio::test]
async fn whoami_tells_the_gui_whether_and_whose_token() {
    let dir = tempfile::tempdir().unwrap();
    let open = Instance::local(dir.path(), &[]);
    let who = send(&open, "GET", "/api/whoami", None, None).await;
    assert_eq!(
        who.json,
        json!({"tokens_enabled": false, "reads_need_token": false, "actor": "api:anonymous", "role": "admin"})
    );

    let other = tempfile::tempdir().unwrap();
    let writes = Instance::local(other.path(), &["--api-token", &format!("ops:{SECRET}")]);
    let anonymous = send(&writes, "GET", "/api/whoami", None, None).await;
    assert_eq!(
        anonymous.json,
        json!({"tokens_enabled": true, "reads_need_token": false, "actor": null, "role": null})
    );
    let signed = send(&writes, "GET", "/api/whoami", None, Some(SECRET)).await;
    assert_eq!(signed.json["actor"], "api:ops");
    let wrong = send(&writes, "GET", "/api/whoami", None, Some("nope")).await;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.json["error"]["message"], "invalid API token");

    let third = tempfile::tempdir().unwrap();
    let reads = Instance::local(
        third.path(),
        &["--api-token", &format!("ops:{SECRET}"), "--api-auth-reads"],
    );
    assert_eq!(
        send(&reads, "GET", "/api/whoami", None, None).await.status,
        401
    );
    let signed = send(&reads, "GET", "/api/whoami", None, Some(SECRET)).await;
    assert_eq!(
        signed.json,
        json!({"tokens_enabled": true, "reads_need_token": true, "actor": "api:ops", "role": "write"})
    );
}

#[tokio::test]
async fn the_event_stream_says_where_it_starts() {
    let dir = tempfile::tempdir().unwrap();
    let local = Instance::local(dir.path(), &[]);
    for name in ["a", "b"] {
        let body = json!({"name": name, "input": "input { stdin { } }"});
        assert_eq!(
            send(&local, "POST", "/api/configs", Some(body), None)
                .await
                .status,
            201
        );
    }
    let response = client()
        .get(local.url("/api/events/stream"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-logstash-mesos-seq"], "2");
    let mut body = response.bytes_stream();
    let body_json = json!({"name": "c", "input": "input { stdin { } }"});
    assert_eq!(
        send(&local, "POST", "/api/configs", Some(body_json), None)
            .await
            .status,
        201
    );
    let mut text = String::new();
    while !text.contains("\n\n") {
        let chunk = tokio::time::timeout(Duration::from_secs(10), body.next())
            .await
            .expect("an event within 10 s")
            .expect("the stream stays open")
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(
        text.contains("id: 3\n") || text.contains("id:3\n"),
        "{text}"
    );
}

#[tokio::test]
async fn the_openapi_description_lists_the_gui_endpoints() {
    let dir = tempfile::tempdir().unwrap();
    let local = Instance::local(dir.path(), &[]);
    let doc = send(&local, "GET", "/api/openapi.json", None, None).await;
    let paths = doc.json["paths"].as_object().unwrap();
    assert!(paths.contains_key("/api/configs/validate"), "{paths:?}");
    assert!(paths.contains_key("/api/whoami"), "{paths:?}");
}

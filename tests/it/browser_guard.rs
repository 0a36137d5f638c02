//! What a hostile web page can make a visitor's browser do, over real
//! sockets with forged headers: a cross-site form cannot change the host
//! config, a rebound DNS name reaches nothing, and a scheduler open to the
//! network without tokens does not start unless told to.

use crate::support;

use std::process::Command;

use serde_json::json;
use support::raw;
use support::{Answer, Instance, client};

const HOST: &str = "input { file { host-path => \"/var/log/syslog\" } }\n";

/// A form PUT of the host config, as a page elsewhere could send it to
/// the instance at `host`.
fn form(host: &str, origin_header: Option<(&str, &str)>) -> String {
    let body = format!("_method=PUT&input={}", support::encode(HOST));
    let extra = origin_header
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .unwrap_or_default();
    format!(
        "POST /api/host-config HTTP/1.1\r\nHost: {host}\r\n{extra}\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
}

fn code(answer: &str) -> String {
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str::<serde_json::Value>(body).map_or_else(
        |_| String::new(),
        |v| v["error"]["code"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
async fn cross_site_forms_cannot_change_the_host_config() {
    let dir = tempfile::tempdir().unwrap();
    let instance = Instance::local(dir.path(), &[]);
    let own = instance.base.trim_end_matches('/').to_owned();
    let authority = own.trim_start_matches("http://").to_owned();
    for (header, why) in [
        (None, "no Origin nor Referer"),
        (Some(("Origin", "http://evil.example")), "another site"),
        (Some(("Origin", "null")), "a sandboxed frame"),
        (
            Some(("Referer", "http://evil.example/page")),
            "another site's page",
        ),
        (Some(("Origin", "http://127.0.0.1:1")), "another port"),
    ] {
        let answer = raw::request(&instance, &form(&authority, header)).await;
        assert_eq!(
            (raw::status(&answer), code(&answer).as_str()),
            (403, "cross_site"),
            "{why}: {answer}"
        );
    }
    let host = support::get_json(&instance, "/api/host-config").await;
    assert_eq!(host["version"], serde_json::Value::Null, "nothing changed");

    // A text body and a JSON body from another site are refused too.
    let text = Answer::of(
        client()
            .post(instance.url("/api/configs"))
            .header("origin", "http://evil.example")
            .header("content-type", "text/plain")
            .body("{\"name\":\"x\",\"input\":\"\"}")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((text.status, text.error_code()), (403, "cross_site"));
    let json_elsewhere = Answer::of(
        client()
            .post(instance.url("/api/configs"))
            .header("origin", "http://evil.example")
            .json(&json!({"name": "x", "input": ""}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(json_elsewhere.status, 403);

    // The GUI's own page, and API clients that send JSON, go through.
    let own_form = raw::request(&instance, &form(&authority, Some(("Origin", &own)))).await;
    assert_eq!(raw::status(&own_form), 200, "{own_form}");
    let referer = format!("{own}/#/configs/host");
    let own_referer = raw::request(&instance, &form(&authority, Some(("Referer", &referer)))).await;
    assert_eq!(raw::status(&own_referer), 200, "{own_referer}");
    let api_client = Answer::of(
        client()
            .post(instance.url("/api/configs"))
            .json(&json!({"name": "x", "input": ""}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(api_client.status, 201, "{}", api_client.json);
}

#[tokio::test]
async fn a_rebound_dns_name_reaches_nothing_but_monitoring() {
    let dir = tempfile::tempdir().unwrap();
    let instance = Instance::local(dir.path(), &["--public-url", "https://logs.example.com/"]);
    let get = |path: &str, host: &str| {
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
    };
    for path in [
        "/api/configs",
        "/configs",
        "/api/whoami",
        "/",
        "/api/openapi.json",
    ] {
        let answer = raw::request(&instance, &get(path, "evil.example:9092")).await;
        assert_eq!(
            (raw::status(&answer), code(&answer).as_str()),
            (400, "unknown_host"),
            "{path}: {answer}"
        );
    }
    // Monitoring answers whatever name it is called by.
    for path in ["/health", "/ready", "/metrics"] {
        let answer = raw::request(&instance, &get(path, "evil.example:9092")).await;
        assert_eq!(raw::status(&answer), 200, "{path}: {answer}");
    }
    // Addresses, localhost and the --public-url name are this scheduler.
    for host in [
        "127.0.0.1",
        "localhost:9092",
        "[::1]:9092",
        "logs.example.com",
    ] {
        let answer = raw::request(&instance, &get("/api/configs", host)).await;
        assert_eq!(raw::status(&answer), 200, "{host}: {answer}");
    }
    // A form from the public origin, as the proxy passes it on.
    let body = "input=";
    let proxied = format!(
        "PUT /api/host-config HTTP/1.1\r\nHost: logs.example.com\r\n\
         Origin: https://logs.example.com\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let answer = raw::request(&instance, &proxied).await;
    assert_eq!(raw::status(&answer), 200, "{answer}");
}

fn start_fails(args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_logstash-mesos"))
        .args(args)
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{args:?}");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn no_tokens_on_a_network_address_needs_insecure_no_auth() {
    let stderr = start_fails(&[
        "scheduler",
        "--listen",
        "0.0.0.0:0",
        "--master",
        "http://127.0.0.1:1",
    ]);
    assert!(stderr.contains("--insecure-no-auth"), "{stderr}");
    assert!(stderr.contains("--api-token"), "{stderr}");
    let stderr = start_fails(&["local", "--no-executor", "--listen", "0.0.0.0:0"]);
    assert!(stderr.contains("--insecure-no-auth"), "{stderr}");
    let stderr = start_fails(&[
        "local",
        "--no-executor",
        "--listen",
        "127.0.0.1:0",
        "--public-url",
        "logs.example.com",
    ]);
    assert!(stderr.contains("--public-url"), "{stderr}");

    // Told so, it starts; and a token is enough without it.
    let dir = tempfile::tempdir().unwrap();
    let insecure = Instance::scheduler_at(
        "0.0.0.0:0",
        dir.path(),
        &["--master", "http://127.0.0.1:1", "--insecure-no-auth"],
        "warn",
    );
    assert!(support::get_json(&insecure, "/health").await["status"] == "ok");
    let other = tempfile::tempdir().unwrap();
    let with_token = Instance::scheduler_at(
        "0.0.0.0:0",
        other.path(),
        &[
            "--master",
            "http://127.0.0.1:1",
            "--api-token",
            "ops:a-long-enough-secret-0123",
        ],
        "warn",
    );
    assert!(support::get_json(&with_token, "/health").await["status"] == "ok");
}

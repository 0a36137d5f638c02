//! Token roles over a real socket: `label:secret:read` may only read,
//! `label:secret` also changes per-image configs, `label:secret:admin` also
//! sets the host config and changes the cluster's members; each role on each
//! kind of route.

use crate::support;

use serde_json::{Value, json};
use support::{Answer, Instance, client};

const READ: &str = "reader-secret-0123456789";
const WRITE: &str = "writer-secret-0123456789";
const ADMIN: &str = "admin-secret-0123456789";

const CONFIG: &str = "input { file { docker-path => \"/var/log/app.log\" } }\n";
const HOST: &str = "input { file { host-path => \"/var/log/syslog\" } }\n";

/// Starts an instance with one token of each role: the reader and the
/// writer from flags, the admin from a token file.
fn start(dir: &std::path::Path, extra: &[&str]) -> Instance {
    let file = dir.join("tokens");
    std::fs::write(&file, format!("# operators\nroot:{ADMIN}:admin\n")).unwrap();
    let read = format!("viewer:{READ}:read");
    let write = format!("ci:{WRITE}");
    let mut args = vec![
        "--api-token",
        &read,
        "--api-token",
        &write,
        "--api-token-file",
        file.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    Instance::local(&dir.join("data"), &args)
}

async fn call(
    instance: &Instance,
    method: &str,
    path: &str,
    body: Option<Value>,
    secret: Option<&str>,
) -> Answer {
    let mut request = client().request(method.parse().unwrap(), instance.url(path));
    if let Some(body) = body {
        request = request.json(&body);
    }
    if let Some(secret) = secret {
        request = request.bearer_auth(secret);
    }
    Answer::of(request.send().await.unwrap()).await
}

/// One request of each kind of route, and the statuses that say it was let
/// through (the handler answered).
fn requests(n: usize) -> Vec<(&'static str, String, Option<Value>, &'static str)> {
    let name = format!("app-{n}");
    vec![
        ("GET", "/api/configs".into(), None, "read"),
        ("GET", "/api/events?limit=5".into(), None, "read"),
        ("GET", "/api/host-config".into(), None, "read"),
        ("GET", "/api/cluster".into(), None, "read"),
        ("GET", "/configs".into(), None, "read"),
        (
            "POST",
            "/api/configs/validate".into(),
            Some(json!({"input": CONFIG})),
            "read",
        ),
        (
            "POST",
            "/api/configs".into(),
            Some(json!({"name": name, "input": CONFIG})),
            "write",
        ),
        (
            "PUT",
            format!("/api/configs/{name}"),
            Some(json!({"input": format!("{CONFIG}# v2\n")})),
            "write",
        ),
        (
            "POST",
            format!("/api/configs/{name}/revert"),
            Some(json!({"version": 1})),
            "write",
        ),
        ("DELETE", format!("/configs/{name}"), None, "write"),
        (
            "PUT",
            "/api/host-config".into(),
            Some(json!({"input": format!("{HOST}# {n}\n")})),
            "admin",
        ),
        (
            "POST",
            "/api/cluster/members".into(),
            Some(json!({"id": 9, "addr": "127.0.0.1:1"})),
            "admin",
        ),
        ("DELETE", "/api/cluster/members/9".into(), None, "admin"),
    ]
}

fn rank(role: &str) -> u8 {
    match role {
        "read" => 0,
        "write" => 1,
        "admin" => 2,
        other => panic!("{other}"),
    }
}

#[tokio::test]
async fn each_role_may_do_what_its_rank_allows_on_every_kind_of_route() {
    let dir = tempfile::tempdir().unwrap();
    let instance = start(dir.path(), &[]);
    for (n, (role, secret)) in [("read", READ), ("write", WRITE), ("admin", ADMIN)]
        .into_iter()
        .enumerate()
    {
        let who = call(&instance, "GET", "/api/whoami", None, Some(secret)).await;
        assert_eq!(who.json["role"], role, "{}", who.json);
        for (method, path, body, needed) in requests(n) {
            let answer = call(&instance, method, &path, body, Some(secret)).await;
            if rank(role) >= rank(needed) {
                // Let through: the handler answered (the cluster routes
                // refuse a single replica without a secret with 409).
                assert!(
                    answer.status < 400 || answer.status == 409,
                    "{role} {method} {path}: {} {}",
                    answer.status,
                    answer.json
                );
                if needed == "admin" && path.starts_with("/api/cluster") {
                    assert_eq!(answer.error_code(), "membership_refused", "{}", answer.json);
                }
            } else {
                assert_eq!(
                    (answer.status, answer.error_code()),
                    (403, "forbidden"),
                    "{role} {method} {path}: {}",
                    answer.json
                );
                let message = answer.json["error"]["message"].as_str().unwrap();
                assert!(
                    message.contains(&format!("needs the {needed} role")),
                    "{message}"
                );
            }
        }
    }
    // Who wrote what: the writer's and the admin's labels, never the reader's.
    let events = call(&instance, "GET", "/api/events?limit=100", None, None).await;
    let actors: std::collections::BTreeSet<&str> = events.json["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["actor"].as_str().unwrap())
        .collect();
    assert_eq!(
        actors.into_iter().collect::<Vec<_>>(),
        ["api:ci", "api:root"]
    );
    // No spelling of a path routes around its role.
    for path in [
        "/api/host%2Dconfig",
        "/api/host-config/",
        "/api//host-config",
        "/host-config",
    ] {
        let answer = call(
            &instance,
            "PUT",
            path,
            Some(json!({"input": HOST})),
            Some(WRITE),
        )
        .await;
        assert!(
            answer.status == 403 || answer.status == 404,
            "{path}: {} {}",
            answer.status,
            answer.json
        );
    }
    // The host config was set by the admin only.
    let host = call(&instance, "GET", "/api/host-config", None, None).await;
    assert_eq!(host.json["updated_by"], "api:root");
    assert_eq!(host.json["version"], 1);
}

#[tokio::test]
async fn a_read_token_only_reads_even_when_reads_need_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let instance = start(dir.path(), &["--api-auth-reads"]);
    let anonymous = call(&instance, "GET", "/api/configs", None, None).await;
    assert_eq!(anonymous.status, 401);
    let read = call(&instance, "GET", "/api/configs", None, Some(READ)).await;
    assert_eq!(read.status, 200, "{}", read.json);
    let validate = call(
        &instance,
        "POST",
        "/api/configs/validate",
        Some(json!({"input": CONFIG})),
        Some(READ),
    )
    .await;
    assert_eq!(validate.status, 200, "{}", validate.json);
    let create = call(
        &instance,
        "POST",
        "/api/configs",
        Some(json!({"name": "x", "input": CONFIG})),
        Some(READ),
    )
    .await;
    assert_eq!(create.status, 403, "{}", create.json);
    // A form body is a change like any other.
    let form = Answer::of(
        client()
            .post(instance.url("/api/host-config"))
            .bearer_auth(READ)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("origin", instance.base.trim_end_matches('/'))
            .body("_method=PUT&input=")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(form.status, 403, "{}", form.json);
    let who = call(&instance, "GET", "/api/whoami", None, Some(READ)).await;
    assert_eq!(
        who.json,
        json!({"tokens_enabled": true, "reads_need_token": true, "actor": "api:viewer", "role": "read"})
    );
    let wrong = call(&instance, "GET", "/api/configs", None, Some("wrong-secret")).await;
    assert_eq!(wrong.status, 401);
}

#[tokio::test]
async fn without_tokens_everyone_is_admin() {
    let dir = tempfile::tempdir().unwrap();
    let instance = Instance::local(dir.path(), &[]);
    let who = call(&instance, "GET", "/api/whoami", None, None).await;
    assert_eq!(
        who.json,
        json!({"tokens_enabled": false, "reads_need_token": false, "actor": "api:anonymous", "role": "admin"})
    );
    let host = call(
        &instance,
        "PUT",
        "/api/host-config",
        Some(json!({"input": HOST})),
        None,
    )
    .await;
    assert_eq!(host.status, 200, "{}", host.json);
}

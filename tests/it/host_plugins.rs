//! What configs may reach on the agents, over a real socket: files only
//! through `docker-path` (per-image configs) and `host-path` (the host
//! config), and plugins that run commands or reach other agent files only
//! with `--allow-host-plugins`.

use crate::support;

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use support::{Answer, Instance, client};

async fn send(instance: &Instance, method: &str, path: &str, body: Value) -> Answer {
    Answer::of(
        client()
            .request(method.parse().unwrap(), instance.url(path))
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// Asserts a 400 `invalid_config` at `line`:`column` whose message contains `says`.
fn refused(answer: &Answer, line: u64, column: u64, says: &str) {
    assert_eq!(
        (answer.status, answer.error_code()),
        (400, "invalid_config"),
        "{}",
        answer.json
    );
    let error = &answer.json["error"];
    assert_eq!(
        (error["line"].as_u64(), error["column"].as_u64()),
        (Some(line), Some(column)),
        "{error}"
    );
    let message = error["message"].as_str().unwrap();
    assert!(message.contains(says), "{message}");
}

const EXEC: &str = "input {\n  exec { command => \"cat /etc/shadow\" interval => 60 }\n}\n";
const SHADOW: &str = "input {\n  file {\n    path => \"/etc/shadow\"\n  }\n}\n";
const FILE_OUT: &str = "input { file { host-path => \"/var/log/syslog\" } }\noutput {\n  file { path => \"/etc/cron.d/evil\" }\n}\n";

#[tokio::test]
async fn host_plugins_and_foreign_paths_are_refused_with_their_position() {
    let dir = tempfile::tempdir().unwrap();
    let instance = Instance::local(dir.path(), &[]);

    // A per-image config running a command.
    let exec = send(
        &instance,
        "POST",
        "/api/configs",
        json!({"name": "nginx", "input": EXEC}),
    )
    .await;
    refused(&exec, 2, 3, "--allow-host-plugins");
    assert!(
        exec.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`exec` input")
    );

    // The host config naming a file without host-path, or writing one.
    let shadow = send(
        &instance,
        "PUT",
        "/api/host-config",
        json!({"input": SHADOW}),
    )
    .await;
    refused(&shadow, 3, 5, "`path` of the `file` input");
    let file_out = send(
        &instance,
        "PUT",
        "/api/host-config",
        json!({"input": FILE_OUT}),
    )
    .await;
    refused(&file_out, 3, 3, "`file` output");

    // Each kind names files only its own way.
    let host_in_docker = send(
        &instance,
        "POST",
        "/api/configs",
        json!({"name": "app", "input": "input { file { host-path => \"/var/log/syslog\" } }"}),
    )
    .await;
    refused(
        &host_in_docker,
        1,
        16,
        "host-path belongs in the host config",
    );
    let docker_in_host = send(
        &instance,
        "PUT",
        "/api/host-config",
        json!({"input": "input { file { docker-path => \"/var/log/a.log\" } }"}),
    )
    .await;
    refused(
        &docker_in_host,
        1,
        16,
        "docker-path belongs in a per-image config",
    );

    // An update and the validation endpoint say the same.
    let good = "input { file { docker-path => \"/var/log/a.log\" } }\n";
    let created = send(
        &instance,
        "POST",
        "/api/configs",
        json!({"name": "app", "input": good}),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.json);
    let update = send(
        &instance,
        "PUT",
        "/api/configs/app",
        json!({"input": format!("{good}filter {{\n  ruby {{ code => \"system('id')\" }}\n}}\n")}),
    )
    .await;
    refused(&update, 3, 3, "`ruby` filter");
    let validated = send(
        &instance,
        "POST",
        "/api/configs/validate",
        json!({"input": SHADOW, "kind": "host"}),
    )
    .await;
    refused(&validated, 3, 5, "--allow-host-plugins");

    // Nothing of it entered the log.
    let events = support::get_json(&instance, "/api/events?order=asc").await;
    let types: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["ConfigCreated"]);
    assert_eq!(
        support::get_json(&instance, "/api/host-config").await["version"],
        Value::Null
    );
}

#[tokio::test]
async fn allow_host_plugins_lets_the_operator_opt_in() {
    let dir = tempfile::tempdir().unwrap();
    let instance = Instance::local(dir.path(), &["--allow-host-plugins"]);
    let exec = send(
        &instance,
        "POST",
        "/api/configs",
        json!({"name": "nginx", "input": EXEC}),
    )
    .await;
    assert_eq!(exec.status, 201, "{}", exec.json);
    for input in [SHADOW, FILE_OUT] {
        let put = send(
            &instance,
            "PUT",
            "/api/host-config",
            json!({"input": input}),
        )
        .await;
        assert_eq!(put.status, 200, "{}", put.json);
    }
    // The kinds still name files only their own way, and host-path stays
    // below the allowed roots.
    let outside = send(
        &instance,
        "PUT",
        "/api/host-config",
        json!({"input": "input { file { host-path => \"/etc/shadow\" } }"}),
    )
    .await;
    refused(&outside, 1, 29, "outside the allowed roots");
}

#[tokio::test]
async fn a_config_directory_file_with_a_host_plugin_is_reported_and_not_applied() {
    let dir = tempfile::tempdir().unwrap();
    let config_dir = dir.path().join("configs");
    std::fs::create_dir_all(config_dir.join("docker")).unwrap();
    std::fs::create_dir_all(config_dir.join("host")).unwrap();
    std::fs::write(config_dir.join("docker/nginx.conf"), EXEC).unwrap();
    let data = dir.path().join("data");
    let instance = Instance::local(&data, &["--config-dir", config_dir.to_str().unwrap()]);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        let status = support::get_json(&instance, "/api/config-dir").await;
        if status["files"].as_array().is_some_and(|f| !f.is_empty()) {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "{status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let file = &status["files"][0];
    assert_eq!(file["state"], "invalid", "{status}");
    assert_eq!(
        (file["line"].as_u64(), file["column"].as_u64()),
        (Some(2), Some(3))
    );
    assert!(
        file["error"]
            .as_str()
            .unwrap()
            .contains("--allow-host-plugins")
    );
    assert_eq!(
        support::get_json(&instance, "/api/configs").await,
        json!([])
    );
}

#[test]
fn an_empty_host_path_allow_entry_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    for value in ["/var/log,", ",/var/log", "/var/log,,/srv", "var/log"] {
        let output = Command::new(env!("CARGO_BIN_EXE_logstash-mesos"))
            .args(["local", "--no-executor", "--listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(dir.path())
            .args(["--host-path-allow", value])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{value}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("--host-path-allow"), "{value}: {stderr}");
    }
}

//! Config sources besides the config API: the configuration directory and the
//! host-level config, over a real socket and a real file system.

use crate::support;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Answer, Instance, client, encode};

const GOOD: &str = "input { file { docker-path => \"/var/log/app.log\" } }\n";

async fn get(instance: &Instance, path: &str) -> Value {
    support::get_json(instance, path).await
}

/// Waits for the newest event about `config` to have `kind`; returns it and
/// how long it took.
async fn event_for(instance: &Instance, config: &str, kind: &str) -> (Value, Duration) {
    let started = Instant::now();
    loop {
        let page = get(
            instance,
            &format!("/api/events?config={}&limit=1", encode(config)),
        )
        .await;
        let newest = &page["events"][0];
        if newest["type"] == kind {
            return (newest.clone(), started.elapsed());
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no {kind} for {config}: {page}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn write(dir: &Path, file: &str, content: &str) {
    let path = dir.join(file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    // Write then rename, as config management tools do.
    let tmp = path.with_extension("tmp-write");
    std::fs::write(&tmp, content).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
}

#[tokio::test]
async fn directory_files_become_events_by_config_dir() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("conf");
    std::fs::create_dir_all(&dir).unwrap();
    let instance = Instance::local(
        &root.path().join("data"),
        &["--config-dir", dir.to_str().unwrap()],
    );
    let name = "mesos/logstash:0.0.6";

    write(&dir, "docker/mesos/logstash:0.0.6.conf", GOOD);
    let (created, took) = event_for(&instance, name, "ConfigCreated").await;
    assert_eq!(created["actor"], "config-dir");
    println!("config-dir create appeared after {took:?}");
    assert!(took < Duration::from_secs(2), "create took {took:?}");

    let edited = format!("{GOOD}# edited\n");
    write(&dir, "docker/mesos/logstash:0.0.6.conf", &edited);
    let (updated, took) = event_for(&instance, name, "ConfigUpdated").await;
    assert_eq!(updated["actor"], "config-dir");
    assert_eq!(updated["data"]["input"], edited.as_str());
    println!("config-dir update appeared after {took:?}");
    assert!(took < Duration::from_secs(2), "update took {took:?}");

    // A broken file: the last good version stays, the error is reported.
    write(
        &dir,
        "docker/mesos/logstash:0.0.6.conf",
        "input {\n  file {\n    docker-path => \n",
    );
    let started = Instant::now();
    let broken = loop {
        let status = get(&instance, "/api/config-dir").await;
        let file = status["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["file"] == "docker/mesos/logstash:0.0.6.conf")
            .cloned();
        if let Some(file) = file.filter(|f| f["state"] == "invalid") {
            break file;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "not reported: {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(broken["line"].as_u64().unwrap() >= 3, "{broken}");
    assert!(broken["column"].as_u64().is_some());
    let in_force = get(&instance, &format!("/api/configs/{}", encode(name))).await;
    assert_eq!(in_force["input"], edited.as_str());

    // The API cannot change what the directory manages.
    let refused = Answer::of(
        client()
            .put(instance.url(&format!("/api/configs/{}", encode(name))))
            .json(&json!({"input": ""}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (refused.status, refused.error_code()),
        (409, "managed_by_config_dir")
    );
    let message = refused.json["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("docker/mesos/logstash:0.0.6.conf"),
        "{message}"
    );
    let delete = client()
        .delete(instance.url(&format!("/api/configs?name={}", encode(name))))
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 409);

    // Removing the file deletes the config.
    std::fs::remove_file(dir.join("docker/mesos/logstash:0.0.6.conf")).unwrap();
    let (deleted, took) = event_for(&instance, name, "ConfigDeleted").await;
    assert_eq!(deleted["actor"], "config-dir");
    println!("config-dir delete appeared after {took:?}");
    assert!(took < Duration::from_secs(2), "delete took {took:?}");

    // Host-level configs from host/*.conf.
    write(
        &dir,
        "host/syslog.conf",
        "input { file { host-path => \"/var/log/syslog\" } }\n",
    );
    let (host, _) = event_for(&instance, "syslog", "ConfigCreated").await;
    assert_eq!(host["data"]["kind"], "host");
}

#[tokio::test]
async fn host_config_round_trips_through_json_and_form() {
    let dir = tempfile::tempdir().unwrap();
    let instance = Instance::local(dir.path(), &["--host-path-allow", "/var/log,/srv/logs"]);
    let empty = get(&instance, "/api/host-config").await;
    assert_eq!(empty["name"], "ui");
    assert_eq!(empty["input"], "");

    let json_input = "input { file { host-path => \"/var/log/syslog\" } }\noutput { stdout { } }\n";
    let put = Answer::of(
        client()
            .put(instance.url("/api/host-config"))
            .json(&json!({"input": json_input}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(put.status, 200, "{}", put.json);
    assert_eq!(
        get(&instance, "/api/host-config").await["input"],
        json_input
    );

    // A form, as the original GUI sent it from its own page.
    let origin = instance.base.trim_end_matches('/').to_owned();
    let form_input = "input { file { host-path => \"/srv/logs/app.log\" } }";
    let form = Answer::of(
        client()
            .put(instance.url("/api/host-config"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("origin", &origin)
            .body(format!("name=ui&input={}", encode(form_input)))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(form.status, 200, "{}", form.json);
    assert_eq!(
        get(&instance, "/api/host-config").await["input"],
        form_input
    );

    // The original GUI POSTed the form with _method=PUT.
    let legacy = client()
        .post(instance.url("/api/host-config"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("referer", format!("{origin}/"))
        .body(format!("_method=PUT&input={}", encode(json_input)))
        .send()
        .await
        .unwrap();
    assert_eq!(legacy.status(), 200);
    let current = get(&instance, "/api/host-config").await;
    assert_eq!(current["input"], json_input);
    assert_eq!(current["version"], 3);

    // A host-path outside the allowed roots is refused with its position.
    let outside = Answer::of(
        client()
            .put(instance.url("/api/host-config"))
            .json(&json!({"input": "input {\n  file { host-path => \"/etc/shadow\" }\n}"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (outside.status, outside.error_code()),
        (400, "invalid_config")
    );
    assert_eq!(
        (
            outside.json["error"]["line"].as_u64(),
            outside.json["error"]["column"].as_u64()
        ),
        (Some(2), Some(23))
    );
    assert_eq!(get(&instance, "/api/host-config").await["version"], 3);

    // The host config is not a per-image config.
    let list = get(&instance, "/api/configs").await;
    assert_eq!(list, json!([]));
    let by_name = client()
        .get(instance.url("/api/configs/ui"))
        .send()
        .await
        .unwrap();
    assert_eq!(by_name.status(), 404);
}

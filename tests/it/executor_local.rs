//! The executor's whole job in `local` mode against the real Docker engine: a
//! config created through the API streams a container's file into the spool,
//! the rendered pipeline points Logstash (a stand-in script, named as such) at
//! it, and a config change reaches Logstash by reload, without a restart.

use crate::support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use support::docker::{BUSYBOX, Scope, TestContainer, docker_or_skip, ensure_images, eventually};
use support::{Answer, Instance, client, encode};

fn stand_in() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/stand-in-logstash")
}

async fn executors(instance: &Instance) -> Value {
    support::get_json(instance, "/api/executors").await
}

/// The spool files a rendered `path => "<dir>/spool.log*"` glob covers.
fn glob_contents(glob: &str) -> String {
    let prefix = glob.strip_suffix('*').expect("a trailing * glob");
    let (dir, stem) = prefix.rsplit_once('/').unwrap();
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().into_string().unwrap())
                .filter(|n| n.starts_with(stem))
                .collect()
        })
        .unwrap_or_default();
    names.sort_by_key(|n| (n == stem, n.clone()));
    names
        .iter()
        .map(|n| std::fs::read_to_string(Path::new(dir).join(n)).unwrap_or_default())
        .collect()
}

/// The values of `path` settings (not `sincedb_path`).
fn rendered_globs(pipeline: &str) -> Vec<String> {
    pipeline
        .match_indices("path => \"")
        .filter(|(i, _)| !pipeline[..*i].ends_with('_'))
        .filter_map(|(i, m)| pipeline[i + m.len()..].split('"').next())
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn local_mode_streams_a_container_into_logstash() {
    let Some(docker) = docker_or_skip("local_mode_streams_a_container_into_logstash").await else {
        return;
    };
    ensure_images(&docker).await;
    let scope = Scope::new();
    let container = TestContainer::start(
        &docker,
        BUSYBOX,
        Some("mkdir -p /var/log/app; for i in $(seq 1 50); do echo \"line $i\" >> /var/log/app/app.log; done; sleep 3600"),
        &[scope.label()],
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let instance = Instance::local_with_executor(
        &data,
        &scope,
        &["--logstash-bin", stand_in().to_str().unwrap()],
    );

    let config = "input {\n  file {\n    docker-path => \"/var/log/app/app.log\"\n  }\n}\n";
    let created = Answer::of(
        client()
            .post(instance.url("/api/configs"))
            .json(&json!({"name": BUSYBOX, "input": config}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.json);

    // The in-process executor reports the stream and its lines.
    eventually(
        Duration::from_secs(30),
        "the local executor to stream 50 lines",
        || async {
            let all = executors(&instance).await;
            let local = all["executors"]
                .as_array()
                .and_then(|e| e.iter().find(|e| e["agent_id"] == "local").cloned());
            local.is_some_and(|l| {
                l["task"]["state"] == "Running"
                    && l["streams"].as_array().is_some_and(|s| {
                        s.iter().any(|s| {
                            s["container_id"] == container.id.as_str()
                                && s["lines"].as_u64() >= Some(50)
                        })
                    })
            })
        },
    )
    .await;

    // The executor's counters are in the scheduler's metrics.
    let metrics = client()
        .get(instance.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("logstash_mesos_executor_lines{agent=\"local\"} "))
        .unwrap_or_else(|| panic!("no executor lines metric in\n{metrics}"))
        .parse()
        .unwrap();
    assert!(lines >= 50.0, "{lines}");
    assert!(metrics.contains("logstash_mesos_executor_dropped_bytes{agent=\"local\"} 0"));

    // The rendered pipeline points at the spool that holds every line.
    let pipeline_path = data.join("executor/logstash/pipeline.conf");
    let pipeline = std::fs::read_to_string(&pipeline_path).unwrap();
    assert!(
        pipeline.starts_with(&format!("# {BUSYBOX}\n")),
        "{pipeline}"
    );
    assert!(pipeline.contains("start_position => \"beginning\""));
    let globs = rendered_globs(&pipeline);
    assert_eq!(globs.len(), 1, "{pipeline}");
    let expected: String = (1..=50).map(|i| format!("line {i}\n")).collect();
    assert_eq!(glob_contents(&globs[0]), expected);

    // Logstash (the stand-in) runs, and reloads a changed config in place.
    let logstash_data = data.join("executor/logstash/data");
    let seen = |needle: String| {
        let dir = logstash_data.clone();
        move || {
            let dir = dir.clone();
            let needle = needle.clone();
            async move {
                (1..100).any(|n| {
                    std::fs::read_to_string(dir.join(format!("seen.{n}")))
                        .is_ok_and(|c| c.contains(&needle))
                })
            }
        }
    };
    eventually(
        Duration::from_secs(20),
        "the stand-in to load the pipeline",
        seen(globs[0].clone()),
    )
    .await;
    let pid = std::fs::read_to_string(logstash_data.join("stand-in.pid")).unwrap();
    eventually(
        Duration::from_secs(20),
        "Logstash reported running",
        || async {
            let all = executors(&instance).await;
            all["executors"].as_array().is_some_and(|e| {
                e.iter()
                    .any(|e| e["agent_id"] == "local" && e["report"]["logstash"] == "Running")
            })
        },
    )
    .await;
    let changed = config.replace("  }\n}", "    type => \"app\"\n  }\n}");
    let updated = client()
        .put(instance.url(&format!("/api/configs/{}", encode(BUSYBOX))))
        .json(&json!({"input": changed}))
        .send()
        .await
        .unwrap();
    assert_eq!(updated.status(), 200);
    eventually(
        Duration::from_secs(20),
        "the stand-in to reload the changed pipeline",
        seen("type => \"app\"".into()),
    )
    .await;
    assert_eq!(
        std::fs::read_to_string(logstash_data.join("stand-in.pid")).unwrap(),
        pid,
        "Logstash was restarted"
    );
}

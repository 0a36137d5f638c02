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

/// The pipeline file the executor writes for `config`.
fn pipeline_file(data: &Path, config: &str) -> PathBuf {
    let dir = data.join("executor/logstash/pipelines");
    let yml = std::fs::read_to_string(data.join("executor/logstash/settings/pipelines.yml"))
        .unwrap_or_default();
    let file = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| std::fs::read_to_string(p).is_ok_and(|t| t.starts_with(&format!("# {config}\n"))))
        .unwrap_or_else(|| panic!("no pipeline for {config} in {}", dir.display()));
    assert!(
        yml.contains(&format!("path.config: \"{}\"", file.display())),
        "{yml}"
    );
    file
}

/// Every config the stand-in loaded (or tried) for `config`'s pipeline, in order.
fn seen_by_stand_in(logstash_data: &Path, config: &str) -> Vec<String> {
    let Ok(loads) = std::fs::read_to_string(logstash_data.join("loads.log")) else {
        return Vec::new();
    };
    loads
        .lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, ' ');
            let (id, n) = (parts.next()?, parts.next()?);
            let text =
                std::fs::read_to_string(logstash_data.join(format!("seen/{id}.{n}"))).ok()?;
            text.starts_with(&format!("# {config}\n")).then_some(text)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn local_mode_streams_a_container_into_logstash() {
    let _lane = crate::support::lanes::heavy().await;
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

    // The config's pipeline points at the spool that holds every line.
    let pipeline_path = pipeline_file(&data, BUSYBOX);
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
                seen_by_stand_in(&dir, BUSYBOX)
                    .iter()
                    .any(|c| c.contains(&needle))
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

/// The second image: the busybox image under another name, so two configs
/// match two different images.
const SECOND_IMAGE: &str = "lsm-test-busybox-b:1";

/// The entry of `/api/executors` for the local agent's pipeline of `config`.
async fn pipeline_health(instance: &Instance, config: &str) -> Option<Value> {
    let all = executors(instance).await;
    all["executors"]
        .as_array()?
        .iter()
        .find(|e| e["agent_id"] == "local")?["report"]["pipelines"]
        .as_array()?
        .iter()
        .find(|p| p["config"] == config)
        .cloned()
}

/// The `add_field` entries of the `file` input copied for `container_id`,
/// read back with the project's own parser.
fn metadata_of(pipeline: &str, container_id: &str) -> std::collections::BTreeMap<String, String> {
    use logstash_mesos::logstash::{HashKey, Value as V, parse, plugins};
    let config = parse(pipeline).unwrap_or_else(|e| panic!("{e}\n{pipeline}"));
    for plugin in plugins(&config).into_iter().filter(|p| p.name == "file") {
        let mut fields = std::collections::BTreeMap::new();
        for a in plugin.attributes.iter().filter(|a| a.name == "add_field") {
            let V::Hash(hash) = &a.value else { continue };
            for e in &hash.entries {
                if let (HashKey::String(k), V::String(v)) = (&e.key, &e.value) {
                    fields.insert(k.unescaped(), v.unescaped());
                }
            }
        }
        if fields.get("[container][id]").map(String::as_str) == Some(container_id) {
            return fields;
        }
    }
    panic!("no file input for {container_id} in\n{pipeline}");
}

#[tokio::test(flavor = "multi_thread")]
async fn local_mode_runs_a_pipeline_per_config_with_container_metadata() {
    let _lane = crate::support::lanes::heavy().await;
    let Some(docker) =
        docker_or_skip("local_mode_runs_a_pipeline_per_config_with_container_metadata").await
    else {
        return;
    };
    ensure_images(&docker).await;
    let (repo, tag) = SECOND_IMAGE.split_once(':').unwrap();
    docker
        .tag_image(
            BUSYBOX,
            Some(
                bollard::query_parameters::TagImageOptionsBuilder::new()
                    .repo(repo)
                    .tag(tag)
                    .build(),
            ),
        )
        .await
        .expect("tag the second image");
    let scope = Scope::new();
    let writer = "mkdir -p /var/log/app; i=0; while true; do i=$((i+1)); echo \"line $i\" >> /var/log/app/app.log; sleep 0.1; done";
    let first = TestContainer::start(
        &docker,
        BUSYBOX,
        Some(writer),
        &[scope.label(), ("team", "payments"), ("secret", "s3cr3t")],
    )
    .await;
    let second = TestContainer::start(&docker, SECOND_IMAGE, Some(writer), &[scope.label()]).await;
    let first_name = docker
        .inspect_container(&first.id, None)
        .await
        .unwrap()
        .name
        .unwrap()
        .trim_start_matches('/')
        .to_owned();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let instance = Instance::local_with_executor(
        &data,
        &scope,
        &[
            "--logstash-bin",
            stand_in().to_str().unwrap(),
            "--container-labels",
            "team,absent",
        ],
    );
    let config = "input {\n  file {\n    docker-path => \"/var/log/app/app.log\"\n  }\n}\noutput { stdout { } }\n";
    for name in [BUSYBOX, SECOND_IMAGE] {
        let created = client()
            .post(instance.url("/api/configs"))
            .json(&json!({"name": name, "input": config}))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
    }

    // Two pipelines, both running in the stand-in and shipping.
    let instance = &instance;
    for name in [BUSYBOX, SECOND_IMAGE] {
        eventually(
            Duration::from_secs(40),
            "both pipelines to run and ship in /api/executors",
            || async move {
                pipeline_health(instance, name)
                    .await
                    .is_some_and(|p| p["state"] == "Running" && p["events_in"].as_u64() >= Some(5))
            },
        )
        .await;
    }
    let yml =
        std::fs::read_to_string(data.join("executor/logstash/settings/pipelines.yml")).unwrap();
    assert_eq!(yml.matches("- pipeline.id: ").count(), 2, "{yml}");

    // The rendered input carries the real container's metadata.
    let first_pipeline = std::fs::read_to_string(pipeline_file(&data, BUSYBOX)).unwrap();
    let fields = metadata_of(&first_pipeline, &first.id);
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let expected: Vec<(&str, &str)> = vec![
        ("[container][id]", first.id.as_str()),
        ("[container][name]", first_name.as_str()),
        ("[container][image][name]", BUSYBOX),
        ("[mesos][agent][id]", "local"),
        ("[container][labels][team]", "payments"),
        (
            "[@metadata][logstash_mesos][log_file_path]",
            "/var/log/app/app.log",
        ),
        ("[@metadata][logstash_mesos][host_name]", hostname.trim()),
    ];
    for (key, value) in expected {
        assert_eq!(
            fields.get(key).map(String::as_str),
            Some(value),
            "{key} in {fields:?}"
        );
    }
    assert!(!first_pipeline.contains("s3cr3t"), "{first_pipeline}");
    assert!(!first_pipeline.contains(&second.id), "{first_pipeline}");

    // A config Logstash refuses fails its own pipeline only.
    let logstash_data = data.join("executor/logstash/data");
    let first_loads = seen_by_stand_in(&logstash_data, BUSYBOX).len();
    let broken = "input { file { docker-path => \"/var/log/app/app.log\" } }\nfilter { if [message] =~ /(/ { drop { } } }";
    let updated = client()
        .put(instance.url(&format!("/api/configs/{}", encode(SECOND_IMAGE))))
        .json(&json!({"input": broken}))
        .send()
        .await
        .unwrap();
    assert_eq!(updated.status(), 200);
    eventually(
        Duration::from_secs(30),
        "the broken pipeline reported failed with Logstash's message",
        || async {
            pipeline_health(instance, SECOND_IMAGE)
                .await
                .is_some_and(|p| {
                    p["state"] == "Failed"
                        && p["last_error"]
                            .as_str()
                            .is_some_and(|e| e.contains("Invalid regular expression"))
                })
        },
    )
    .await;
    let before = pipeline_health(instance, BUSYBOX).await.unwrap();
    assert_eq!(before["state"], "Running", "{before}");
    let shipped = before["events_in"].as_u64().unwrap();
    eventually(
        Duration::from_secs(30),
        "the other pipeline to keep shipping",
        || async {
            pipeline_health(instance, BUSYBOX)
                .await
                .is_some_and(|p| p["state"] == "Running" && p["events_in"].as_u64() > Some(shipped))
        },
    )
    .await;
    // Only the changed pipeline was reloaded.
    assert_eq!(
        seen_by_stand_in(&logstash_data, BUSYBOX).len(),
        first_loads,
        "the unchanged pipeline was reloaded"
    );
}

/// A Logstash home whose `bin/` holds the stand-ins for `logstash` and
/// `logstash-plugin` (links, so they find the repository's plugin catalog).
fn stand_in_home(dir: &Path) -> PathBuf {
    let bin = dir.join("logstash/bin");
    std::fs::create_dir_all(&bin).unwrap();
    let support = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support");
    std::os::unix::fs::symlink(support.join("stand-in-logstash"), bin.join("logstash")).unwrap();
    std::os::unix::fs::symlink(
        support.join("stand-in-logstash-plugin"),
        bin.join("logstash-plugin"),
    )
    .unwrap();
    bin.join("logstash")
}

/// `local` with the stand-in Logstash home in `dir`, `--logstash-plugins
/// logstash-filter-tld`, the stand-in registry holding `available`, and the
/// busybox config `input` created.
async fn with_tld(dir: &Path, scope: &Scope, available: &str, input: &str) -> Instance {
    let logstash = stand_in_home(dir);
    let instance = Instance::local_with_executor_env(
        &dir.join("data"),
        scope,
        &[
            "--logstash-bin",
            logstash.to_str().unwrap(),
            "--logstash-plugins",
            "logstash-filter-tld",
        ],
        &[("LOGSTASH_STAND_IN_AVAILABLE", available)],
    );
    let created = client()
        .post(instance.url("/api/configs"))
        .json(&json!({"name": BUSYBOX, "input": input}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    instance
}

#[tokio::test(flavor = "multi_thread")]
async fn extra_plugins_are_installed_before_logstash_starts_and_failures_reported() {
    let _lane = crate::support::lanes::heavy().await;
    let Some(docker) = docker_or_skip("extra_plugins_are_installed_before_logstash_starts").await
    else {
        return;
    };
    ensure_images(&docker).await;
    let scope = Scope::new();
    let _container = TestContainer::start(
        &docker,
        BUSYBOX,
        Some("mkdir -p /var/log/app; echo one > /var/log/app/app.log; sleep 3600"),
        &[scope.label()],
    )
    .await;
    let config = "input { file { docker-path => \"/var/log/app/app.log\" } }\nfilter { tld { } }\n";

    // Installable: the API accepts the plugin, the executor installs it,
    // and the pipeline using it runs.
    let dir = tempfile::tempdir().unwrap();
    let instance = with_tld(dir.path(), &scope, "logstash-filter-tld", config).await;
    let instance = &instance;
    eventually(
        Duration::from_secs(40),
        "the pipeline with the installed plugin to run",
        || async move {
            pipeline_health(instance, BUSYBOX)
                .await
                .is_some_and(|p| p["state"] == "Running")
        },
    )
    .await;
    let calls = std::fs::read_to_string(dir.path().join("logstash/logstash-plugin.calls")).unwrap();
    assert_eq!(calls, "install logstash-filter-tld\n");

    // Not installable: the failure is reported with its message, and the
    // pipeline needing the plugin fails on its own.
    let dir = tempfile::tempdir().unwrap();
    let failing = with_tld(dir.path(), &scope, "", config).await;
    let failing = &failing;
    eventually(
        Duration::from_secs(40),
        "the install failure in the executor's report",
        || async move {
            let all = executors(failing).await;
            all["executors"].as_array().is_some_and(|e| {
                e.iter().any(|e| {
                    e["report"]["errors"].as_array().is_some_and(|errors| {
                        errors.iter().any(|m| {
                            m.as_str().is_some_and(|m| {
                                m.contains("logstash-plugin install logstash-filter-tld failed")
                                    && m.contains("Plugin not found")
                            })
                        })
                    })
                })
            })
        },
    )
    .await;
    eventually(
        Duration::from_secs(30),
        "the pipeline needing the plugin to fail",
        || async move {
            pipeline_health(failing, BUSYBOX).await.is_some_and(|p| {
                p["state"] == "Failed"
                    && p["last_error"]
                        .as_str()
                        .is_some_and(|e| e.contains("Couldn't find any filter plugin named 'tld'"))
            })
        },
    )
    .await;
}

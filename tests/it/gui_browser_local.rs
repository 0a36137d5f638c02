//! The GUI of `local` with its in-process executor streaming real Docker
//! containers: the dashboard counts the streaming containers and the lines,
//! the Nodes table finds the agent by image, and its card lists every stream
//! with its state and counters. Skips
//! without a Docker engine or without chromium.

use crate::support;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::browser::{Browser, NARROW, WIDE, screenshot_dir};
use support::docker::{
    ACCESS_LOG_WRITER as WRITER, BUSYBOX, Scope, TestContainer, docker_or_skip, ensure_images,
    eventually,
};
use support::{Answer, Instance, client};

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_and_the_node_card_show_the_streaming_containers() {
    let started = Instant::now();
    let Some(docker) = docker_or_skip("the_dashboard_and_the_node_card_show_streams").await else {
        return;
    };
    let Some(mut browser) = Browser::start("the_dashboard_and_the_node_card_show_streams").await
    else {
        return;
    };
    ensure_images(&docker).await;
    let scope = Scope::new();
    let containers = [
        TestContainer::start(&docker, BUSYBOX, Some(WRITER), &[scope.label()]).await,
        TestContainer::start(&docker, BUSYBOX, Some(WRITER), &[scope.label()]).await,
    ];
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let stand_in = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/stand-in-logstash");
    let local = Instance::local_with_executor(
        &data,
        &scope,
        &["--logstash-bin", stand_in.to_str().unwrap()],
    );
    let input = "input {\n  file {\n    docker-path => \"/var/log/app/access.log\"\n    type => \"access\"\n  }\n}\n";
    let created = Answer::of(
        client()
            .post(local.url("/api/configs"))
            .json(&json!({"name": BUSYBOX, "input": input}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.json);
    let executors = || async { support::get_json(&local, "/api/executors").await };
    eventually(
        Duration::from_secs(30),
        "both containers streaming, with lines reported",
        || async {
            let all: Value = executors().await;
            all["executors"][0]["streams"].as_array().is_some_and(|s| {
                containers.iter().all(|c| {
                    s.iter().any(|st| {
                        st["container_id"] == c.id.as_str()
                            && st["state"] == "started"
                            && st["lines"].as_u64() > Some(0)
                    })
                })
            })
        },
    )
    .await;

    browser.goto(&local.url("/")).await;
    browser.wait_ready("dashboard").await;
    browser.wait_live().await;
    browser
        .wait_for_text("#tile-executors .tile-value", "1 / 1")
        .await;
    browser
        .wait_for_text("#tile-streams .tile-value", "2")
        .await;
    browser
        .wait_for_text("#tile-dropped", "Nothing dropped")
        .await;
    // Refreshing the README's pictures: wait for the executor's next periodic
    // report (every 30 s), so lines per second has a value.
    if std::env::var_os("GUI_SCREENSHOTS_DIR").is_some() {
        browser
            .wait_until_for(
                Duration::from_secs(75),
                "lines per second from two reports",
                "/^[0-9]/.test(document.querySelector('#tile-rate .tile-value').textContent)",
            )
            .await;
    }
    browser.screenshot("local-dashboard").await;

    browser.route("#/nodes").await;
    browser
        .wait_for_text("#nodes-table", "Logstash running")
        .await;
    browser
        .wait_for_text("#nodes-table td[data-label=\"Streams\"]", "2")
        .await;
    // Searching for a container's image finds the agent streaming it.
    browser.type_into("#nodes-search", BUSYBOX).await;
    browser.wait_for_text("#nodes-count", "1 agent match").await;
    browser.click("#nodes-table tbody tr a.node-link").await;
    browser.wait_for("#node-detail[open]").await;
    let rows = browser
        .eval("return document.querySelectorAll('#node-detail .streams li.stream').length")
        .await;
    assert_eq!(rows, json!(2));
    for c in &containers {
        browser
            .wait_for_text(
                &format!("#node-detail .streams code[title=\"{}\"]", c.id),
                &c.id[..12],
            )
            .await;
    }
    browser
        .wait_for_text("#node-detail .streams", "streaming")
        .await;
    // The config's Logstash pipeline, with the stand-in's health.
    browser
        .wait_for_text(
            &format!("#node-detail .pipelines li.pipeline[data-config=\"{BUSYBOX}\"][data-state=\"Running\"]"),
            "running",
        )
        .await;
    browser
        .assert_no_horizontal_overflow("nodes at 1280×800")
        .await;
    browser.screenshot("local-nodes").await;
    browser.viewport(NARROW).await;
    browser
        .assert_no_horizontal_overflow("nodes at 400 px")
        .await;
    browser.screenshot("local-nodes-narrow").await;
    browser.viewport(WIDE).await;

    // The config page says where the config runs and how its pipeline does.
    browser
        .route(&format!("#/configs/edit/{}", support::encode(BUSYBOX)))
        .await;
    browser
        .wait_for_text(
            "#config-pipelines li.pipeline[data-agent=\"local\"][data-state=\"Running\"]",
            "running",
        )
        .await;
    browser.screenshot("local-config-runtime").await;
    eprintln!(
        "the_dashboard_and_the_node_card_show_streams: {:.1} s (screenshots in {})",
        started.elapsed().as_secs_f64(),
        screenshot_dir().display()
    );
    browser.close().await;
}

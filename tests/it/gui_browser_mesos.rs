//! The GUI of a scheduler driving the real Mesos 1.11 harness
//! (`MESOS_REAL_URL`): the dashboard, the nodes table and an agent's card,
//! and the cluster page, filled by real executors on real agents. Skips without the harness or without
//! chromium.

use crate::support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::browser::{Browser, NARROW, WIDE};
use support::mesos::{self, wait_for};
use support::{Answer, Instance, client};

const SECRET: &str = "correct-horse-battery-staple";

async fn get(instance: &Instance, path: &str) -> Value {
    mesos::get_json(&instance.url(path)).await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_nodes_page_shows_the_executors_on_the_real_agents() {
    let started = Instant::now();
    let Some(master) = mesos::master_url("the_nodes_page_shows_the_executors") else {
        return;
    };
    let Some(mut browser) = Browser::start("the_nodes_page_shows_the_executors").await else {
        return;
    };
    let _turn = mesos::turn().await;
    let agents = mesos::active_agents(&master).await;
    assert!(agents >= 1, "the harness has no active agents");
    let name = format!("lm-gui-{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let token = format!("ops:{SECRET}");
    let args = [
        "--master",
        master.as_str(),
        "--framework-name",
        name.as_str(),
        "--failover-timeout",
        "1min",
        "--executor-binary",
        env!("CARGO_BIN_EXE_logstash-mesos"),
        "--api-token",
        token.as_str(),
    ];
    let mut scheduler = Instance::scheduler(&data, &args);
    for (config, input) in [
        (
            "nginx:1.27",
            "input {\n  file {\n    docker-path => \"/var/log/nginx/access.log\"\n  }\n}\n",
        ),
        (
            "myorg/*",
            "input {\n  file {\n    docker-path => \"/var/log/app/*.log\"\n  }\n}\n",
        ),
    ] {
        let created = Answer::of(
            client()
                .post(scheduler.url("/api/configs"))
                .bearer_auth(SECRET)
                .json(&json!({"name": config, "input": input}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(created.status, 201, "{}", created.json);
    }
    // Every agent runs an executor that applied the current config set.
    wait_for(
        Duration::from_secs(60),
        "every executor running on the current config set",
        || async {
            let all = get(&scheduler, "/api/executors").await;
            let executors = all["executors"].as_array()?;
            let done = executors.len() == agents
                && executors.iter().all(|e| {
                    e["task"]["state"] == "Running"
                        && e["up_to_date"] == true
                        && !e["report"].is_null()
                });
            done.then_some(())
        },
    )
    .await;

    browser.goto(&scheduler.url("/")).await;
    browser.wait_for("#auth-dialog[open]").await;
    browser.type_into("#token-input", SECRET).await;
    browser.click("#auth-form button[type=\"submit\"]").await;
    browser.wait_for_text("#who", "Signed in as ops").await;
    browser.wait_ready("dashboard").await;
    browser.wait_live().await;
    browser
        .wait_for_text(
            "#tile-executors .tile-value",
            &format!("{agents} / {agents}"),
        )
        .await;
    browser.wait_for_text("#tile-mesos", "Subscribed").await;
    browser
        .wait_for_text("#tile-configs", &format!("applied by {agents} of {agents}"))
        .await;
    browser.screenshot("mesos-dashboard").await;

    browser.route("#/nodes").await;
    let rows = browser
        .eval("return document.querySelectorAll('#nodes-table tbody tr').length")
        .await;
    assert_eq!(rows, json!(agents));
    let running = browser
        .eval(
            "return [...document.querySelectorAll('#nodes-table tbody tr td[data-label=\"Task\"]')]\
             .filter(td => td.textContent.includes('Running')).length",
        )
        .await;
    assert_eq!(running, json!(agents));
    // A row opens the agent's card.
    browser.click("#nodes-table tbody tr td").await;
    browser.wait_for("#node-detail[open] article.node").await;
    browser.wait_for_text("#node-detail", "— current").await;
    browser.click("#node-detail-close").await;
    browser
        .wait_until(
            "the card closed",
            "!document.querySelector('#node-detail[open]')",
        )
        .await;
    browser
        .assert_no_horizontal_overflow("nodes at 1280×800")
        .await;
    browser.screenshot("mesos-nodes").await;

    browser.route("#/cluster").await;
    browser
        .wait_for_text("#cluster-framework", "Subscribed")
        .await;
    browser.screenshot("mesos-cluster").await;

    browser.viewport(NARROW).await;
    browser.route("#/nodes").await;
    browser
        .assert_no_horizontal_overflow("nodes at 400 px")
        .await;
    browser.screenshot("mesos-nodes-narrow").await;
    browser.viewport(WIDE).await;

    eprintln!(
        "the_nodes_page_shows_the_executors: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    browser.close().await;
    scheduler.terminate();
    mesos::teardown(&data, &master, &name);
}

//! The GUI and its API at the scale of a real cluster: a scheduler driving
//! the real Mesos harness with hundreds of agents (`MESOS_REAL_LARGE_URL`,
//! 200 agents in `.ci/run`), each running this project's executor, none with
//! a Logstash, all streaming one container's log when a Docker engine runs. The Nodes table, its filters, sorting and pages; the problems
//! grouped once with their count; the summary's size; conditional requests;
//! the throughput graphs and `/api/metrics/history`. Skips without the
//! harness or without chromium.

use crate::support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::browser::{Browser, NARROW, WIDE};
use support::docker::{
    BUSYBOX, SLOW_ACCESS_LOG_WRITER, Scope, TestContainer, docker_or_skip, ensure_images,
};
use support::mesos::{self, wait_for};
use support::{Answer, Instance, client};

const AT_LEAST: usize = 200;
const LOGSTASH_NOT_FOUND: &str = "Logstash not found";

async fn get(instance: &Instance, path: &str) -> Value {
    mesos::get_json(&instance.url(path)).await
}

async fn answer(instance: &Instance, path: &str, etag: Option<&str>) -> Answer {
    let mut request = client().get(instance.url(path));
    if let Some(tag) = etag {
        request = request.header("If-None-Match", tag);
    }
    Answer::of(request.send().await.unwrap()).await
}

/// The agent ids of every page of `/api/executors?<query>`, `limit` at a time.
async fn all_pages(instance: &Instance, query: &str, limit: usize) -> (Vec<String>, usize) {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut path = format!("/api/executors?{query}&limit={limit}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = get(instance, &path).await;
        let rows = page["executors"].as_array().expect("executors");
        assert!(rows.len() <= limit, "{path}: {} rows", rows.len());
        ids.extend(
            rows.iter()
                .map(|e| e["agent_id"].as_str().unwrap().to_owned()),
        );
        pages += 1;
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return (ids, pages),
        }
    }
}

fn suffix(agent_id: &str) -> u64 {
    agent_id
        .rsplit_once("-S")
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or_else(|| panic!("{agent_id} does not end in -S<n>"))
}

#[tokio::test(flavor = "multi_thread")]
async fn hundreds_of_agents_at_a_glance() {
    let started = Instant::now();
    let Some(master) = mesos::large_master_url("hundreds_of_agents_at_a_glance") else {
        return;
    };
    // 200 executors starting load this 2-core machine so much that the
    // 3-agent tests' executors come too late: take that harness's turn as
    // well until they run. Chromium is taken only once the API is checked,
    // after the turn is given back (the lanes' order: Chromium, then a
    // turn), so the browser tests run meanwhile.
    let _large_turn = mesos::large_turn().await;
    let turn = mesos::turn().await;
    let agents = mesos::active_agents(&master).await;
    assert!(
        agents >= AT_LEAST,
        "MESOS_REAL_LARGE_URL has {agents} active agents; the test needs {AT_LEAST}"
    );
    // With a Docker engine, one container writes an access log. Every agent
    // sees it (they share this machine's engine), so every executor streams
    // it; they touch no container without this test's label.
    let scope = Scope::new();
    let writer = match docker_or_skip("hundreds_of_agents_at_a_glance: no streams").await {
        Some(docker) => {
            ensure_images(&docker).await;
            Some(
                TestContainer::start(
                    &docker,
                    BUSYBOX,
                    Some(SLOW_ACCESS_LOG_WRITER),
                    &[scope.label()],
                )
                .await,
            )
        }
        None => None,
    };
    let name = format!("lm-scale-{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let only_labelled = format!("LOGSTASH_MESOS_REQUIRE_LABEL={}", scope.require_label());
    let args = [
        "--master",
        master.as_str(),
        "--framework-name",
        name.as_str(),
        "--failover-timeout",
        "1min",
        "--executor-binary",
        env!("CARGO_BIN_EXE_logstash-mesos"),
        "--executor-env",
        only_labelled.as_str(),
    ];
    let mut scheduler = Instance::scheduler(&data, &args);
    let input = "input {\n  file {\n    docker-path => \"/var/log/app/access.log\"\n  }\n}\n";
    let created = Answer::of(
        client()
            .post(scheduler.url("/api/configs"))
            .json(&json!({"name": BUSYBOX, "input": input}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.json);
    let streaming = writer.is_some();

    // While the executors come up, the summary's size follows the problems,
    // not the number of agents: remember its size for each set of problems.
    let mut early: Vec<(BTreeSet<String>, usize, usize)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(180);
    let summary = loop {
        let response = answer(&scheduler, "/api/executors/summary", None).await;
        assert_eq!(response.status, 200, "{}", response.json);
        let size = serde_json::to_vec(&response.json).unwrap().len();
        let s = response.json;
        let problems: BTreeSet<String> = s["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap().to_owned())
            .collect();
        let reported = s["totals"]["reported"].as_u64().unwrap() as usize;
        if reported > 0 && !early.iter().any(|(p, _, _)| *p == problems) {
            early.push((problems, reported, size));
        }
        let containers = if streaming { agents } else { 0 };
        if s["running"] == agents
            && reported == agents
            && s["up_to_date"] == agents
            && s["containers"] == containers
        {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "not every executor running and reported within 180 s: {s}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    eprintln!(
        "hundreds_of_agents_at_a_glance: {agents} executors running and reported after {:.1} s",
        started.elapsed().as_secs_f64()
    );

    check_the_api(&scheduler, agents, &summary, &early, streaming).await;
    drop(turn);
    if let Some(browser) = Browser::start("hundreds_of_agents_at_a_glance").await {
        check_the_gui(browser, &scheduler, agents, streaming).await;
    }
    eprintln!(
        "hundreds_of_agents_at_a_glance: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    scheduler.terminate();
    mesos::teardown(&data, &master, &name);
    drop(writer);
}

async fn check_the_api(
    scheduler: &Instance,
    agents: usize,
    summary: &Value,
    early: &[(BTreeSet<String>, usize, usize)],
    streaming: bool,
) {
    // The summary: a few KB, the same problems as with a handful of agents.
    let size = serde_json::to_vec(summary).unwrap().len();
    assert!(
        size < 8 * 1024,
        "the summary of {agents} agents is {size} bytes"
    );
    let problems: BTreeSet<String> = summary["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect();
    if let Some((_, few, small)) = early
        .iter()
        .find(|(p, reported, _)| *p == problems && *reported < agents / 4)
    {
        assert!(
            size.abs_diff(*small) <= 64,
            "the summary grew from {small} bytes ({few} agents reported) to {size} ({agents})"
        );
    }
    let missing = summary["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["message"].as_str().unwrap().contains(LOGSTASH_NOT_FOUND))
        .collect::<Vec<_>>();
    assert_eq!(missing.len(), 1, "one group: {summary}");
    assert_eq!(missing[0]["agents"], agents, "{summary}");
    let problem = missing[0]["id"].as_str().unwrap().to_owned();

    // A repeated request with the ETag: 304 (unless a report changed the
    // summary in between: 200 executors report, so try a few times).
    let mut not_modified = false;
    for _ in 0..20 {
        let first = answer(scheduler, "/api/executors/summary", None).await;
        let tag = first.headers["etag"].to_str().unwrap().to_owned();
        let again = answer(scheduler, "/api/executors/summary", Some(&tag)).await;
        if again.status == 304 {
            assert_eq!(again.headers["etag"].to_str().unwrap(), tag);
            assert_eq!(again.json, json!(""), "a 304 has no body");
            not_modified = true;
            break;
        }
        assert_eq!(again.status, 200);
    }
    assert!(not_modified, "no 304 for the summary in twenty tries");

    // Filters, sort and cursor return the right agents.
    let everyone = get(scheduler, "/api/executors").await;
    let all: Vec<String> = everyone["executors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["agent_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(all.len(), agents);
    let (by_problem, pages) = all_pages(scheduler, &format!("problem={problem}"), 70).await;
    assert_eq!(pages, agents.div_ceil(70));
    assert_eq!(
        by_problem.iter().collect::<BTreeSet<_>>(),
        all.iter().collect::<BTreeSet<_>>(),
        "every agent once, over {pages} pages"
    );
    assert_eq!(by_problem.len(), agents, "no agent twice");
    let (by_agent, _) = all_pages(scheduler, "sort=agent", 50).await;
    let numbers: Vec<u64> = by_agent.iter().map(|a| suffix(a)).collect();
    assert!(
        numbers.windows(2).all(|w| w[0] < w[1]),
        "S2 before S10: {numbers:?}"
    );
    let newest = get(scheduler, "/api/executors?sort=-last_report&limit=25").await;
    let times: Vec<&str> = newest["executors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["report"]["received_at"].as_str().unwrap())
        .collect();
    assert_eq!(times.len(), 25);
    assert!(
        times.windows(2).all(|w| w[0] >= w[1]),
        "newest report first: {times:?}"
    );
    let one = &all[17];
    for query in [format!("agent={one}"), format!("q={one}")] {
        let found = get(scheduler, &format!("/api/executors?{query}")).await;
        assert_eq!(found["total"], 1, "{query}");
        assert_eq!(found["executors"][0]["agent_id"], one.as_str());
    }
    for (query, expected) in [
        ("health=NotInstalled", agents),
        ("health=Running", 0),
        ("state=Running&config=current", agents),
        ("state=none", 0),
        ("config=behind", 0),
        ("errors=true", agents),
        ("errors=false", 0),
        ("q=localhost", agents),
        ("q=no-such-host", 0),
        ("q=LSM-TEST-BUSYBOX", if streaming { agents } else { 0 }),
    ] {
        let page = get(scheduler, &format!("/api/executors?{query}&limit=10")).await;
        assert_eq!(page["total"], expected, "{query}");
        assert_eq!(
            page["executors"].as_array().unwrap().len(),
            expected.min(10),
            "{query}"
        );
    }
    let bad = answer(scheduler, "/api/executors?state=Runing", None).await;
    assert_eq!(bad.status, 400);
    assert!(
        bad.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Running"),
        "{}",
        bad.json
    );
    let bad = answer(scheduler, "/api/executors?sort=agent&cursor=00", None).await;
    assert_eq!(bad.status, 400, "{}", bad.json);
    let page = get(scheduler, "/api/executors?sort=agent&limit=5").await;
    let cursor = page["next_cursor"].as_str().unwrap();
    let other = answer(
        scheduler,
        &format!("/api/executors?sort=host&limit=5&cursor={cursor}"),
        None,
    )
    .await;
    assert_eq!(other.status, 400, "a cursor belongs to its sort");

    // One agent, conditionally: it changes only when that agent reports.
    let path = format!("/api/executors?agent={one}");
    let mut not_modified = false;
    for _ in 0..20 {
        let first = answer(scheduler, &path, None).await;
        let tag = first.headers["etag"].to_str().unwrap().to_owned();
        if answer(scheduler, &path, Some(&tag)).await.status == 304 {
            not_modified = true;
            break;
        }
    }
    assert!(not_modified, "no 304 for {path} in twenty tries");

    let history = answer(
        scheduler,
        &format!("/api/metrics/history?agent={one}&window=15m"),
        None,
    )
    .await;
    assert_eq!(history.status, 200, "{}", history.json);
    assert_eq!(history.json["window_seconds"], 900);
    let unknown = answer(scheduler, "/api/metrics/history?agent=nobody", None).await;
    assert_eq!(unknown.status, 404);
    let bad = answer(scheduler, "/api/metrics/history?window=forever", None).await;
    assert_eq!(bad.status, 400);
    // The cluster's rate, which the dashboard graphs, once reports of two
    // steps are in.
    wait_for(
        Duration::from_secs(120),
        "the cluster's lines per second in /api/metrics/history",
        || async {
            let history = get(scheduler, "/api/metrics/history?window=1h").await;
            history["points"]
                .as_array()?
                .iter()
                .filter_map(|p| p["lines_per_second"].as_f64())
                .find(|rate| !streaming || *rate > 0.0)
        },
    )
    .await;

    let doc = get(scheduler, "/api/openapi.json").await;
    for path in [
        "/api/executors",
        "/api/executors/summary",
        "/api/metrics/history",
    ] {
        assert!(doc["paths"][path]["get"].is_object(), "{path} in OpenAPI");
    }
    let params: Vec<&str> = doc["paths"]["/api/executors"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for name in [
        "q", "state", "health", "config", "errors", "problem", "sort", "limit", "cursor",
    ] {
        assert!(params.contains(&name), "{name} in {params:?}");
    }
}

/// How many rows the Nodes table shows, and the whole page's element count.
const ROWS: &str = "return [document.querySelectorAll('#nodes-table tbody tr').length, \
    document.getElementsByTagName('*').length]";

async fn rows(browser: &Browser) -> (u64, u64) {
    let v = browser.eval(ROWS).await;
    (v[0].as_u64().unwrap(), v[1].as_u64().unwrap())
}

async fn check_the_gui(mut browser: Browser, scheduler: &Instance, agents: usize, streaming: bool) {
    browser.goto(&scheduler.url("/#/nodes")).await;
    browser.wait_ready("nodes").await;
    browser.wait_live().await;
    browser
        .wait_for_text("#nodes-count", &format!("{agents} agents match"))
        .await;
    let (shown, elements) = rows(&browser).await;
    assert_eq!(shown, 100, "one page of the default size");
    assert!(
        elements < 6000,
        "{elements} elements in the page for {agents} agents"
    );

    // "Logstash not found" once, with its count; its link filters the table.
    let problems = browser
        .eval(&format!(
            "return [...document.querySelectorAll('#problem-list li')]\
             .filter(li => li.textContent.includes('{LOGSTASH_NOT_FOUND}'))\
             .map(li => li.querySelector('a.problem-link').textContent)"
        ))
        .await;
    assert_eq!(problems, json!([format!("{agents} agents")]));
    browser.screenshot("scale-nodes").await;
    browser
        .eval(&format!(
            "[...document.querySelectorAll('#problem-list li')]\
             .find(li => li.textContent.includes('{LOGSTASH_NOT_FOUND}'))\
             .querySelector('a.problem-link').click()"
        ))
        .await;
    browser
        .wait_until(
            "the table filtered to the problem",
            "location.hash.includes('problem=') && document.querySelector('main .view[data-ready]') \
             && document.querySelector('#nodes-problem-filter').textContent.includes('Logstash not found')",
        )
        .await;
    browser
        .wait_for_text("#nodes-count", &format!("{agents} agents match"))
        .await;
    let mut seen = BTreeSet::new();
    loop {
        let ids = browser
            .eval("return [...document.querySelectorAll('#nodes-table tbody tr')].map(r => r.dataset.agent)")
            .await;
        let ids: Vec<String> = serde_json::from_value(ids).unwrap();
        assert!(ids.len() <= 100);
        for id in ids {
            assert!(seen.insert(id.clone()), "{id} on two pages");
        }
        let more = browser
            .eval("return Boolean(document.querySelector('#page-next'))")
            .await;
        if more != json!(true) {
            break;
        }
        let first = browser
            .eval("return document.querySelector('#nodes-table tbody tr').dataset.agent")
            .await;
        browser.click("#page-next").await;
        browser
            .wait_until(
                "the next page",
                &format!(
                    "document.querySelector('#nodes-table tbody tr') && \
                     document.querySelector('#nodes-table tbody tr').dataset.agent !== {first}"
                ),
            )
            .await;
    }
    assert_eq!(
        seen.len(),
        agents,
        "the problem's link shows every agent once"
    );

    // A search by agent id shows exactly that agent.
    browser.route("#/nodes").await;
    let everyone = get(scheduler, "/api/executors?sort=agent&limit=20").await;
    let one = everyone["executors"][17]["agent_id"]
        .as_str()
        .unwrap()
        .to_owned();
    browser.type_into("#nodes-search", &one).await;
    browser
        .wait_until(
            "only the agent searched for",
            &format!(
                "document.querySelectorAll('#nodes-table tbody tr').length === 1 && \
                 document.querySelector('#nodes-table tbody tr').dataset.agent === {}",
                json!(one)
            ),
        )
        .await;
    browser
        .wait_until("the search in the address", "location.hash.includes('q=')")
        .await;
    // The row opens the agent's card, with its own graphs.
    browser
        .click(&format!("#nodes-table tr[data-agent=\"{one}\"] td"))
        .await;
    browser.wait_for("#node-detail[open]").await;
    browser.wait_for_text("#node-detail", &one).await;
    browser
        .wait_for_text("#node-detail", "No Logstash on agent")
        .await;
    browser.wait_for("#node-detail #node-lines-chart svg").await;
    browser.screenshot("scale-node-detail").await;
    browser.press("\u{e00c}").await; // Escape
    browser
        .wait_until(
            "the card closed, the focus back on its row",
            &format!(
                "!document.querySelector('#node-detail[open]') && \
                 document.activeElement.closest('tr') && \
                 document.activeElement.closest('tr').dataset.agent === {}",
                json!(one)
            ),
        )
        .await;

    // Sorting by last report, both ways.
    browser.route("#/nodes?limit=250").await;
    browser
        .wait_for_text("#nodes-count", &format!("{agents} agents match"))
        .await;
    let received = "return [...document.querySelectorAll('#nodes-table tbody tr')]\
                    .map(r => Number(r.dataset.received))";
    for (descending, label) in [(false, "oldest report first"), (true, "newest first")] {
        browser.click("th button[data-sort=\"last_report\"]").await;
        let want = if descending {
            "descending"
        } else {
            "ascending"
        };
        browser
            .wait_until(
                label,
                &format!(
                    "document.querySelector('th[aria-sort] button[data-sort=\"last_report\"]') && \
                     document.querySelector('th[aria-sort]').getAttribute('aria-sort') === '{want}'"
                ),
            )
            .await;
        let times: Vec<u64> = serde_json::from_value(browser.eval(received).await).unwrap();
        assert_eq!(times.len(), agents.min(250));
        let ordered = times.windows(2).all(|w| {
            if descending {
                w[0] >= w[1]
            } else {
                w[0] <= w[1]
            }
        });
        assert!(ordered, "{label}: {times:?}");
    }
    let (shown, elements) = rows(&browser).await;
    assert!(
        shown <= 250 && elements < 12_000,
        "{shown} rows, {elements} elements"
    );

    // The dashboard: the problem once, and the graph once two reports are in,
    // its latest point the one /api/metrics/history serves.
    browser.route("#/").await;
    browser
        .wait_for_text(
            "#tile-executors .tile-value",
            &format!("{agents} / {agents}"),
        )
        .await;
    let counts = browser
        .eval(&format!(
            "return [...document.querySelectorAll('#dashboard-problems li')]\
             .filter(li => li.textContent.includes('{LOGSTASH_NOT_FOUND}')).length"
        ))
        .await;
    assert_eq!(counts, json!(1));
    browser
        .wait_until_for(
            Duration::from_secs(120),
            "the cluster's lines per second graphed",
            "Number((document.querySelector('#cluster-lines-chart') || {dataset: {}}).dataset.count) >= 1",
        )
        .await;
    let matched = wait_for(
        Duration::from_secs(90),
        "the graph's latest point in /api/metrics/history",
        || async {
            let graph = browser
                .eval(
                    "const c = document.querySelector('#cluster-lines-chart'); \
                     return [Number(c.dataset.latestT), Number(c.dataset.latestV)]",
                )
                .await;
            let history = get(scheduler, "/api/metrics/history?window=1h").await;
            let last = history["points"]
                .as_array()?
                .iter()
                .rev()
                .find(|p| !p["lines_per_second"].is_null())?
                .clone();
            let rate = last["lines_per_second"].as_f64();
            (graph[0] == last["at_ms"]
                && graph[1].as_f64() == rate
                && (!streaming || rate > Some(0.0)))
            .then_some(last)
        },
    )
    .await;
    browser.assert_no_horizontal_overflow("dashboard").await;
    browser.screenshot("scale-dashboard").await;
    // Keyboard: the chart takes the focus and reads its points aloud.
    browser
        .eval("document.querySelector('#cluster-lines-chart svg').focus()")
        .await;
    browser.press("\u{e010}").await; // End
    browser
        .wait_for_text("#cluster-lines-chart-readout", "Latest:")
        .await;
    browser
        .wait_for_text(
            "#cluster-lines-chart-readout",
            &format!(
                "{} lines/s",
                format_rate(matched["lines_per_second"].as_f64().unwrap())
            ),
        )
        .await;

    browser.viewport(NARROW).await;
    browser.route("#/nodes").await;
    browser
        .assert_no_horizontal_overflow("nodes at 400 px")
        .await;
    browser.screenshot("scale-nodes-narrow").await;
    browser.viewport(WIDE).await;
    browser.close().await;
}

/// As the GUI writes a rate (fmtRate in web/util.js).
fn format_rate(v: f64) -> String {
    if v < 10.0 && v != 0.0 {
        format!("{v:.1}")
    } else {
        let n = v.round() as u64;
        let digits = n.to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out
    }
}

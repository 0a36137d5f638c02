//! The web GUI in a real browser: headless Chromium driven through
//! chromedriver, against the real binary (`logstash-mesos local`). Every test
//! saves a screenshot of its page (see `support::browser::screenshot_dir`).
//! Without chromium and chromedriver installed the tests print SKIP and pass.

use crate::support;

use std::time::Instant;

use fantoccini::key::Key;
use serde_json::{Value, json};
use support::browser::{Browser, NARROW, WIDE};
use support::{Answer, Instance, client, encode};

const TOKEN: &str = "ops:correct-horse-battery-staple";
const SECRET: &str = "correct-horse-battery-staple";

const NGINX: &str = "input {\n  file {\n    docker-path => \"/var/log/nginx/access.log\"\n    type => \"nginx-access\"\n  }\n}\nfilter {\n  grok {\n    match => { \"message\" => \"%{COMBINEDAPACHELOG}\" }\n  }\n}\n";

async fn call(
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

async fn create(local: &Instance, name: &str, input: &str, secret: Option<&str>) {
    let answer = call(
        local,
        "POST",
        "/api/configs",
        Some(json!({"name": name, "input": input})),
        secret,
    )
    .await;
    assert_eq!(answer.status, 201, "{}", answer.json);
}

async fn update(local: &Instance, name: &str, input: &str, secret: Option<&str>) {
    let path = format!("/api/configs/{}", encode(name));
    let answer = call(local, "PUT", &path, Some(json!({"input": input})), secret).await;
    assert_eq!(answer.status, 200, "{}", answer.json);
}

fn report(test: &str, started: Instant, browser: &Browser) {
    eprintln!(
        "{test}: {:.1} s (browser start {:.1} s)",
        started.elapsed().as_secs_f64(),
        browser.started_in.as_secs_f64()
    );
}

#[tokio::test]
async fn creates_a_config_through_the_form_and_finds_it_in_the_list_and_the_audit() {
    let started = Instant::now();
    let Some(browser) = Browser::start("creates_a_config_through_the_form").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let local = Instance::local(dir.path(), &[]);
    create(
        &local,
        "redis:7",
        "input { file { docker-path => \"/data/redis.log\" } }\n",
        None,
    )
    .await;

    browser.goto(&local.url("/#/configs/new")).await;
    browser.wait_ready("configs").await;
    browser.type_into("#config-name", "nginx:1.27").await;
    browser.set_value("#config-input", NGINX).await;
    browser
        .wait_for_text("#validation", "/var/log/nginx/access.log")
        .await;
    browser.click("#save-config").await;

    // The editor of the new config, and the config in the list.
    browser
        .wait_for("#config-list a[data-name=\"nginx:1.27\"][aria-current=\"page\"]")
        .await;
    browser.wait_for_text("#config-title", "nginx:1.27").await;
    browser.wait_for_text("#flash", "Created config").await;
    let saved = call(&local, "GET", "/api/configs/nginx%3A1.27", None, None).await;
    assert_eq!(saved.status, 200);
    assert_eq!(saved.json["input"], NGINX);
    assert_eq!(saved.json["updated_by"], "api:anonymous");
    browser.screenshot("configs-editor").await;

    // The audit page lists the creation.
    browser.route("#/audit").await;
    browser.wait_ready("audit").await;
    browser
        .wait_for_text(
            "#audit-table tbody tr[data-type=\"ConfigCreated\"]",
            "nginx:1.27",
        )
        .await;
    browser.screenshot("audit").await;
    report("creates_a_config_through_the_form", started, &browser);
    browser.close().await;
}

#[tokio::test]
async fn a_broken_config_shows_the_error_at_its_line_and_is_not_saved() {
    let started = Instant::now();
    let Some(browser) = Browser::start("a_broken_config_shows_the_error_at_its_line").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let local = Instance::local(dir.path(), &[]);

    browser.goto(&local.url("/#/configs/new")).await;
    browser.wait_ready("configs").await;
    browser.type_into("#config-name", "broken/app:2").await;
    // Line 4 misses the `=>` between the setting and its value.
    let broken =
        "input {\n  file {\n    docker-path => \"/var/log/app.log\"\n    type \"app\"\n  }\n}\n";
    browser.set_value("#config-input", broken).await;
    // Validation as you type marks line 4 before anything is saved...
    browser.wait_for(".editor[data-error-line=\"4\"]").await;
    browser
        .wait_for(".editor-gutter [data-line=\"4\"].error")
        .await;
    browser.wait_for_text("#validation", "Line 4, column").await;
    // ...and saving anyway is refused at the same line.
    browser.click("#save-config").await;
    browser
        .wait_for_text("#validation", "Not saved: line 4")
        .await;
    assert_eq!(
        browser
            .eval("return document.querySelector('#config-input').getAttribute('aria-invalid')")
            .await,
        "true"
    );
    browser.screenshot("configs-error").await;

    let missing = call(&local, "GET", "/api/configs/broken%2Fapp%3A2", None, None).await;
    assert_eq!(missing.status, 404, "{}", missing.json);
    let events = call(&local, "GET", "/api/events", None, None).await;
    assert_eq!(events.json["events"], json!([]), "nothing was recorded");
    report(
        "a_broken_config_shows_the_error_at_its_line",
        started,
        &browser,
    );
    browser.close().await;
}

#[tokio::test]
async fn an_event_created_through_the_api_appears_on_the_dashboard_without_reload() {
    let started = Instant::now();
    let Some(browser) = Browser::start("an_event_appears_on_the_dashboard").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let local = Instance::local(dir.path(), &[]);
    create(
        &local,
        "postgres:16",
        "input { file { docker-path => \"/var/log/postgresql/postgresql.log\" } }\n",
        None,
    )
    .await;

    browser.goto(&local.url("/")).await;
    browser.wait_ready("dashboard").await;
    browser.wait_live().await;
    browser.wait_for_text("#tile-configs", "1").await;
    // A marker that a reload would wipe out.
    browser
        .eval("window.__noReload = 'still here'; return null")
        .await;

    create(
        &local,
        "haproxy:2.9",
        "input { file { docker-path => \"/var/log/haproxy.log\" } }\n",
        None,
    )
    .await;
    browser
        .wait_for_text(
            "#recent-events li[data-type=\"ConfigCreated\"]",
            "haproxy:2.9",
        )
        .await;
    browser
        .wait_for_text("#tile-configs .tile-value", "2")
        .await;
    assert_eq!(browser.eval("return window.__noReload").await, "still here");
    browser.screenshot("dashboard").await;
    report("an_event_appears_on_the_dashboard", started, &browser);
    browser.close().await;
}

#[tokio::test]
async fn the_history_shows_the_changed_line_between_two_versions_and_reverts() {
    let started = Instant::now();
    let Some(browser) = Browser::start("the_history_shows_the_changed_line").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let local = Instance::local(dir.path(), &[]);
    let name = "myorg/billing:3.1";
    create(&local, name, NGINX, None).await;
    update(
        &local,
        name,
        &NGINX.replace("nginx-access", "billing-access"),
        None,
    )
    .await;
    update(
        &local,
        name,
        &NGINX
            .replace("nginx-access", "billing-access")
            .replace("/var/log/nginx/access.log", "/srv/billing/logs/*.log"),
        None,
    )
    .await;

    browser
        .goto(&local.url(&format!("/#/configs/history/{}", encode(name))))
        .await;
    browser.wait_ready("configs").await;
    // Compare v1 with v2: the one changed line, removed and added.
    browser
        .wait_for("#diff-from")
        .await
        .select_by_value("1")
        .await
        .unwrap();
    browser
        .wait_for("#diff-to")
        .await
        .select_by_value("2")
        .await
        .unwrap();
    browser.wait_for_text("#diff-summary", "v1").await;
    browser.wait_for_text("#diff-summary", "+1 added").await;
    browser
        .wait_for_text("table.diff tr.del td.code", "type => \"nginx-access\"")
        .await;
    browser
        .wait_for_text("table.diff tr.add td.code", "type => \"billing-access\"")
        .await;
    let changed = browser
        .eval(
            "return [...document.querySelectorAll('table.diff tr.add, table.diff tr.del')].length",
        )
        .await;
    assert_eq!(changed, 2, "exactly one line changed between v1 and v2");
    browser.screenshot("history-diff").await;

    // Revert to v1 records a new version 4 equal to version 1.
    browser.click("button[data-revert=\"1\"]").await;
    browser.wait_for("#confirm-dialog[open]").await;
    browser.click("#confirm-ok").await;
    browser.wait_for_text("#flash", "now version 4").await;
    browser.wait_for("#versions tr[data-version=\"4\"]").await;
    let history = call(
        &local,
        "GET",
        &format!("/api/configs/{}/history", encode(name)),
        None,
        None,
    )
    .await;
    let versions = history.json["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 4);
    assert_eq!(versions[3]["input"], NGINX);
    assert_eq!(versions[3]["restored_from"], versions[0]["seq"]);
    report("the_history_shows_the_changed_line", started, &browser);
    browser.close().await;
}

#[tokio::test]
async fn the_line_diff_rebuilds_both_texts_with_a_longest_common_subsequence() {
    let Some(browser) = Browser::start("the_line_diff_rebuilds_both_texts").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let local = Instance::local(dir.path(), &[]);
    browser.goto(&local.url("/")).await;
    browser.wait_ready("dashboard").await;
    // Random texts over a small alphabet (many repeats): the script must give
    // back both texts, and keep as many lines as a textbook LCS.
    let failures = browser
        .eval(
            "return import('./ui/diff.js').then(({ diffLines }) => {
                let seed = 7;
                const rand = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
                const lcs = (a, b) => {
                    const t = Array.from({ length: a.length + 1 }, () => new Array(b.length + 1).fill(0));
                    for (let i = a.length - 1; i >= 0; i--) for (let j = b.length - 1; j >= 0; j--)
                        t[i][j] = a[i] === b[j] ? t[i + 1][j + 1] + 1 : Math.max(t[i + 1][j], t[i][j + 1]);
                    return t[0][0];
                };
                const failures = [];
                for (let round = 0; round < 300; round++) {
                    const a = Array.from({ length: rand(12) }, () => 'line ' + rand(4));
                    const b = Array.from({ length: rand(12) }, () => 'line ' + rand(4));
                    const script = diffLines(a, b);
                    const oldSide = script.filter((s) => s.op !== '+').map((s) => s.text);
                    const newSide = script.filter((s) => s.op !== '-').map((s) => s.text);
                    const kept = script.filter((s) => s.op === ' ').length;
                    const numbered = script.every((s) =>
                        (s.op === '+' || a[s.a - 1] === s.text) && (s.op === '-' || b[s.b - 1] === s.text));
                    if (JSON.stringify(oldSide) !== JSON.stringify(a) ||
                        JSON.stringify(newSide) !== JSON.stringify(b) ||
                        kept !== lcs(a, b) || !numbered) {
                        failures.push({ a, b, script });
                    }
                }
                return failures.slice(0, 3);
            })",
        )
        .await;
    assert_eq!(failures, json!([]));

    // The page's CSP refuses inline code, and the page records refusals (so
    // that every test's close() would catch one).
    browser
        .eval("document.body.insertAdjacentHTML('beforeend', '<p style=\"color: red\">x</p>'); return null")
        .await;
    browser
        .wait_until(
            "the CSP refusal to be recorded",
            "window.__guiErrors.some(e => e.startsWith('CSP refused'))",
        )
        .await;
    browser.eval("window.__guiErrors = []; return null").await;
    browser.close().await;
}

#[tokio::test]
async fn delete_asks_first_and_keeps_the_history() {
    let started = Instant::now();
    let Some(browser) = Browser::start("delete_asks_first").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let local = Instance::local(dir.path(), &[]);
    create(&local, "nginx:1.27", NGINX, None).await;
    browser
        .goto(&local.url("/#/configs/edit/nginx%3A1.27"))
        .await;
    browser.wait_ready("configs").await;
    browser.click("#delete-config").await;
    browser
        .wait_for_text("#confirm-dialog[open]", "Delete “nginx:1.27”?")
        .await;
    browser.screenshot("configs-delete-confirm").await;
    browser.click("#confirm-cancel").await;
    browser
        .wait_until(
            "the dialog to close",
            "!document.querySelector('#confirm-dialog').open",
        )
        .await;
    assert_eq!(
        call(&local, "GET", "/api/configs/nginx%3A1.27", None, None)
            .await
            .status,
        200,
        "cancel keeps the config"
    );
    browser.click("#delete-config").await;
    browser.wait_for("#confirm-dialog[open]").await;
    browser.click("#confirm-ok").await;
    browser
        .wait_for_text("#flash", "Deleted “nginx:1.27”")
        .await;
    browser
        .wait_until(
            "the list without the config",
            "!document.querySelector('#config-list a[data-name=\"nginx:1.27\"]')",
        )
        .await;
    assert_eq!(
        call(&local, "GET", "/api/configs/nginx%3A1.27", None, None)
            .await
            .status,
        404
    );
    // The history stays, and offers to re-create it.
    browser.route("#/configs/history/nginx%3A1.27").await;
    browser.wait_for_text("#versions", "deleted").await;
    browser.wait_for_text("main", "Re-create from v1").await;
    report("delete_asks_first", started, &browser);
    browser.close().await;
}

#[tokio::test]
async fn the_audit_filters_pages_and_shows_the_configs_as_of_an_event() {
    let started = Instant::now();
    let Some(browser) = Browser::start("the_audit_filters_pages_and_travels").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let local = Instance::local(
        dir.path(),
        &[
            "--api-token",
            TOKEN,
            "--api-token",
            "ci:ci-pipeline-secret-0001",
        ],
    );
    let ci = Some("ci-pipeline-secret-0001");
    let input = "input { stdin { } }\n";
    for name in ["a", "b", "c"] {
        create(&local, name, input, Some(SECRET)).await; // #1..#3
    }
    update(&local, "a", "input { stdin { } }\n# by ci\n", ci).await; // #4
    assert_eq!(
        call(&local, "DELETE", "/api/configs/b", None, Some(SECRET))
            .await
            .status,
        200
    ); // #5
    for i in 0..25 {
        create(&local, &format!("d{i:02}"), input, Some(SECRET)).await; // #6..#30
    }

    browser.goto(&local.url("/#/audit?limit=25")).await;
    browser.click("#auth-read-only").await;
    browser.wait_ready("audit").await;
    browser.wait_for_text("#audit-count", "#30 to #6").await;
    let rows = "return document.querySelectorAll('#audit-table tbody tr').length";
    assert_eq!(browser.eval(rows).await, 25);
    browser.click("#page-older").await;
    browser.wait_for_text("#audit-count", "#5 to #1").await;
    browser.wait_for_text("main", "End of the history").await;
    browser.click("#page-newer").await;
    browser.wait_for_text("#audit-count", "#30 to #6").await;

    // Filters through the form.
    browser
        .wait_for("#filter-type")
        .await
        .select_by_value("ConfigDeleted")
        .await
        .unwrap();
    browser.click("#apply-filters").await;
    browser.wait_for_text("#audit-count", "#5 to #5").await;
    browser
        .wait_for_text("#audit-table", "Config “b” deleted")
        .await;
    browser.goto(&local.url("/#/audit")).await;
    browser.wait_ready("audit").await;
    browser.type_into("#filter-actor", "ci").await;
    browser.click("#apply-filters").await;
    browser.wait_for_text("#audit-count", "#4 to #4").await;
    assert_eq!(browser.eval(rows).await, 1);
    browser.wait_for_text("#audit-table", "api:ci").await;

    // View as of #4: a (v2), b (v1, deleted since) and c; the d's came later.
    browser
        .click("#audit-table a[href=\"#/asof/4\"].button")
        .await;
    browser.wait_ready("audit").await;
    browser
        .wait_for_text("main h1", "Configs as of event #4")
        .await;
    let names = browser
        .eval("return [...document.querySelectorAll('#asof-table tbody tr')].map(r => r.dataset.name)")
        .await;
    assert_eq!(names, json!(["a", "b", "c"]));
    browser
        .wait_for_text("#asof-table tr[data-name=\"b\"]", "deleted since")
        .await;
    browser
        .wait_for_text("#asof-table tr[data-name=\"a\"]", "v2")
        .await;
    browser
        .wait_for_text("#asof-created", "Created since (25)")
        .await;
    report("the_audit_filters_pages_and_travels", started, &browser);
    browser.close().await;
}

#[tokio::test]
async fn with_a_token_configured_the_page_asks_for_it_and_refuses_a_wrong_one() {
    let started = Instant::now();
    let Some(browser) = Browser::start("the_page_asks_for_the_token").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let local = Instance::local(dir.path(), &["--api-token", TOKEN, "--api-auth-reads"]);
    create(&local, "nginx:1.27", NGINX, Some(SECRET)).await;

    browser.goto(&local.url("/")).await;
    browser.wait_for("#auth-dialog[open]").await;
    // Reads need the token too: no read-only way out.
    assert_eq!(
        browser
            .eval("return document.querySelector('#auth-read-only').hidden")
            .await,
        true
    );
    browser.type_into("#token-input", "not-the-secret").await;
    browser.click("#auth-form button[type=\"submit\"]").await;
    browser
        .wait_for_text("#auth-error", "refused this token")
        .await;
    assert_eq!(
        browser
            .eval("return document.querySelector('#token-input').getAttribute('aria-invalid')")
            .await,
        "true"
    );
    assert_eq!(browser.eval("return sessionStorage.length").await, 0);
    browser.screenshot("auth-refused").await;

    browser.type_into("#token-input", SECRET).await;
    browser.click("#auth-form button[type=\"submit\"]").await;
    browser.wait_for_text("#who", "Signed in as ops").await;
    browser.wait_ready("dashboard").await;
    // Kept for the tab, not in a cookie.
    assert_eq!(browser.eval("return document.cookie").await, "");
    assert_eq!(
        browser
            .eval("return sessionStorage.getItem('logstash-mesos.token')")
            .await,
        SECRET
    );
    // The live stream authenticates with the header too.
    browser.wait_live().await;
    create(
        &local,
        "redis:7",
        "input { file { docker-path => \"/data/redis.log\" } }\n",
        Some(SECRET),
    )
    .await;
    browser
        .wait_for_text("#recent-events li[data-type=\"ConfigCreated\"]", "redis:7")
        .await;
    // A reload in the same tab does not ask again.
    browser.reload().await;
    browser.wait_ready("dashboard").await;
    assert_eq!(
        browser
            .eval("return document.querySelector('#auth-dialog').open")
            .await,
        false
    );
    report("the_page_asks_for_the_token", started, &browser);
    browser.close().await;
}

#[tokio::test]
async fn writes_ask_for_the_token_when_only_writes_need_one() {
    let started = Instant::now();
    let Some(browser) = Browser::start("writes_ask_for_the_token").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let local = Instance::local(dir.path(), &["--api-token", TOKEN]);

    browser.goto(&local.url("/#/configs/new")).await;
    browser.wait_for("#auth-dialog[open]").await;
    browser.click("#auth-read-only").await;
    browser.wait_ready("configs").await;
    browser.wait_for_text("#who", "Read-only").await;
    browser.type_into("#config-name", "nginx:1.27").await;
    browser.set_value("#config-input", NGINX).await;
    // Validation counts as a read: it works without a token.
    browser.wait_for_text("#validation", "Valid").await;
    browser.click("#save-config").await;
    browser.wait_for("#auth-dialog[open]").await;
    browser.type_into("#token-input", SECRET).await;
    browser.click("#auth-form button[type=\"submit\"]").await;
    browser.wait_for_text("#who", "Signed in as ops").await;
    // The save goes on once the token is accepted.
    browser.wait_for_text("#flash", "Created config").await;
    let saved = call(&local, "GET", "/api/configs/nginx%3A1.27", None, None).await;
    assert_eq!(saved.json["updated_by"], "api:ops");
    report("writes_ask_for_the_token", started, &browser);
    browser.close().await;
}

#[tokio::test]
async fn an_unreachable_api_shows_an_error_banner_not_a_blank_page() {
    let started = Instant::now();
    let Some(browser) = Browser::start("an_unreachable_api_shows_a_banner").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut local = Instance::local(dir.path(), &[]);
    create(&local, "nginx:1.27", NGINX, None).await;
    browser.goto(&local.url("/#/configs")).await;
    browser.wait_ready("configs").await;
    browser.wait_live().await;
    local.kill9();
    browser
        .wait_for_text("#banner", "The scheduler API cannot be reached")
        .await;
    // The last data stays on the page.
    browser
        .wait_for("#config-list a[data-name=\"nginx:1.27\"]")
        .await;
    browser.screenshot("api-unreachable").await;
    report("an_unreachable_api_shows_a_banner", started, &browser);
    browser.close().await;
}

#[tokio::test]
async fn a_server_that_stops_answering_shows_the_banner_and_the_page_recovers() {
    let started = Instant::now();
    let Some(browser) = Browser::start("a_server_that_stops_answering").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let local = Instance::local(dir.path(), &[]);
    create(&local, "nginx:1.27", NGINX, None).await;
    browser.goto(&local.url("/#/configs")).await;
    browser.wait_ready("configs").await;
    browser.wait_live().await;
    // The tab gives up after 2 s instead of 35 (the server's own bound is
    // 30 s, so only a dead connection waits that long).
    browser
        .eval("sessionStorage.setItem('logstash-mesos.answer-within-ms', '2000'); return null")
        .await;
    // Stopped, the process still has its socket: connections are accepted
    // by the kernel and never answered, as from a replica that hangs.
    local.signal("STOP");
    browser.eval("location.hash = '#/audit'; return null").await;
    browser
        .wait_for_text("#banner", "not answered within 2 s")
        .await;
    local.signal("CONT");
    browser
        .wait_until(
            "the banner is gone",
            "document.getElementById('banner').hidden",
        )
        .await;
    browser.wait_ready("audit").await;
    browser.wait_for_text("#main", "nginx:1.27").await;
    report("a_server_that_stops_answering", started, &browser);
    browser.close().await;
}

#[tokio::test]
async fn a_config_can_be_created_with_the_keyboard_alone() {
    let started = Instant::now();
    let Some(browser) = Browser::start("a_config_can_be_created_with_the_keyboard").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let local = Instance::local(dir.path(), &[]);
    browser.goto(&local.url("/#/configs/new")).await;
    browser.wait_ready("configs").await;
    // The first Tab reaches the skip link.
    browser.press(&Key::Tab).await;
    browser
        .wait_until(
            "the skip link has focus",
            "document.activeElement.classList.contains('skip-link')",
        )
        .await;
    // Onwards through the navigation to the name field, within a few steps.
    let mut steps = 0;
    while browser.eval("return document.activeElement.id").await != "config-name" {
        assert!(steps < 30, "Tab never reached the name field");
        browser.press(&Key::Tab).await;
        steps += 1;
    }
    browser.press("kbd/app:1").await;
    browser.press(&Key::Tab).await;
    assert_eq!(
        browser.eval("return document.activeElement.id").await,
        "config-input"
    );
    // A chord ends with Null (releasing Control) in the same command.
    browser.press(&(Key::Control + "a" + &Key::Null)).await;
    browser
        .press("input {\n  file { docker-path => \"/var/log/kbd.log\" }\n}\n")
        .await;
    browser
        .wait_for_text("#validation", "/var/log/kbd.log")
        .await;
    // Ctrl+S saves.
    // Saving replaces the editor: nothing may be sent to it afterwards.
    browser.press(&(Key::Control + "s" + &Key::Null)).await;
    browser.wait_for_text("#flash", "Created config").await;
    let saved = call(&local, "GET", "/api/configs/kbd%2Fapp%3A1", None, None).await;
    assert_eq!(saved.status, 200, "{}", saved.json);
    assert!(
        saved.json["input"]
            .as_str()
            .unwrap()
            .contains("/var/log/kbd.log")
    );
    report(
        "a_config_can_be_created_with_the_keyboard",
        started,
        &browser,
    );
    browser.close().await;
}

#[tokio::test]
async fn the_host_config_and_the_configuration_directory_have_their_place() {
    let started = Instant::now();
    let Some(browser) = Browser::start("the_host_config_and_the_directory").await else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("conf");
    std::fs::create_dir_all(dir.join("docker/myorg")).unwrap();
    std::fs::write(dir.join("docker/myorg/billing:3.conf"), NGINX).unwrap();
    std::fs::write(dir.join("docker/broken.conf"), "input {\n  file {\n").unwrap();
    let local = Instance::local(
        &root.path().join("data"),
        &["--config-dir", dir.to_str().unwrap()],
    );

    // A directory config: marked in the list, read-only in the editor.
    browser.goto(&local.url("/#/configs")).await;
    browser.wait_ready("configs").await;
    browser
        .wait_for_text("#config-list a[data-name=\"myorg/billing:3\"]", "file")
        .await;
    browser
        .wait_for_text("#config-dir-status", "docker/broken.conf")
        .await;
    browser.wait_for_text("#config-dir-status", "Refused").await;
    browser.route("#/configs/edit/myorg%2Fbilling%3A3").await;
    browser
        .wait_for_text("#managed-note", "docker/myorg/billing:3.conf")
        .await;
    assert_eq!(
        browser
            .eval("return document.querySelector('#config-input').readOnly")
            .await,
        true
    );
    assert_eq!(
        browser
            .eval("return document.querySelector('#save-config')")
            .await,
        Value::Null
    );
    assert_eq!(
        browser
            .eval("return document.querySelector('#delete-config')")
            .await,
        Value::Null
    );
    browser.screenshot("configs-managed").await;

    // The host config: host-path outside the allowed roots is marked at its line.
    browser.click("#host-config-link").await;
    browser.wait_for_text("#config-title", "Host config").await;
    browser
        .set_value(
            "#config-input",
            "input {\n  file {\n    host-path => \"/etc/shadow\"\n  }\n}\n",
        )
        .await;
    browser.wait_for(".editor[data-error-line=\"3\"]").await;
    browser
        .set_value(
            "#config-input",
            "input {\n  file {\n    host-path => \"/var/log/syslog\"\n  }\n}\n",
        )
        .await;
    browser
        .wait_for_text("#validation", "/var/log/syslog")
        .await;
    browser.click("#save-config").await;
    browser
        .wait_for_text("#flash", "Saved the host config as version 1")
        .await;
    let host = call(&local, "GET", "/api/host-config", None, None).await;
    assert_eq!(host.json["version"], 1, "{}", host.json);
    assert!(
        host.json["input"]
            .as_str()
            .unwrap()
            .contains("/var/log/syslog")
    );
    browser.wait_for_text("#host-config-link", "v1").await;
    report("the_host_config_and_the_directory", started, &browser);
    browser.close().await;
}

/// Form controls without a label, and buttons without a name, on the page.
const UNLABELLED: &str = "return [...document.querySelectorAll('input, select, textarea, button')]\
    .filter(el => el.getClientRects().length > 0)\
    .filter(el => el.tagName === 'BUTTON'\
        ? !el.textContent.trim() && !el.getAttribute('aria-label')\
        : !(el.labels && el.labels.length) && !el.getAttribute('aria-label')\
            && !el.getAttribute('aria-labelledby'))\
    .map(el => el.outerHTML.slice(0, 120))";

/// Realistic data: configs by two operators with several versions, one
/// deleted, one reverted.
async fn seed(local: &Instance, secrets: [&str; 2]) {
    let [ops, ci] = secrets;
    create(local, "nginx:1.27", NGINX, Some(ops)).await;
    create(
        local,
        "mesos/logstash:0.0.6",
        "input {\n  file {\n    docker-path => \"/var/log/logstash/logstash.log\"\n    codec => multiline {\n      pattern => \"^\\\\s\"\n      what => \"previous\"\n    }\n  }\n}\n",
        Some(ci),
    )
    .await;
    create(
        local,
        "myorg/*",
        "input {\n  file {\n    docker-path => \"/var/log/app/*.log\"\n    tags => [\"myorg\"]\n  }\n}\nfilter {\n  json { source => \"message\" }\n}\n",
        Some(ops),
    )
    .await;
    create(
        local,
        "redis:7",
        "input { file { docker-path => \"/data/redis.log\" } }\n",
        Some(ci),
    )
    .await;
    update(
        local,
        "nginx:1.27",
        &NGINX.replace("nginx-access", "nginx"),
        Some(ci),
    )
    .await;
    update(
        local,
        "nginx:1.27",
        &NGINX
            .replace("nginx-access", "nginx")
            .replace("    type", "    start_position => \"beginning\"\n    type"),
        Some(ops),
    )
    .await;
    let answer = call(local, "DELETE", "/api/configs/redis%3A7", None, Some(ci)).await;
    assert_eq!(answer.status, 200);
    create(
        local,
        "postgres:16",
        "input {\n  file {\n    docker-path => \"/var/log/postgresql/postgresql-16-main.log\"\n  }\n}\n",
        Some(ops),
    )
    .await;
}

/// Every page at 1280×800 and at 400 px wide: nothing wider than the window,
/// and a screenshot of each (the README's pictures).
#[tokio::test]
async fn every_page_fits_a_wide_and_a_narrow_window() {
    let started = Instant::now();
    let Some(mut browser) = Browser::start("every_page_fits").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let local = Instance::local(
        dir.path(),
        &[
            "--api-token",
            TOKEN,
            "--api-token",
            "ci:ci-pipeline-secret-0001",
        ],
    );
    seed(&local, [SECRET, "ci-pipeline-secret-0001"]).await;

    browser.goto(&local.url("/")).await;
    browser.wait_for("#auth-dialog[open]").await;
    browser.screenshot("auth-prompt").await;
    browser.type_into("#token-input", SECRET).await;
    browser.click("#auth-form button[type=\"submit\"]").await;
    browser.wait_for_text("#who", "Signed in as ops").await;

    let pages = [
        ("dashboard", "#/", "dashboard"),
        ("nodes", "#/nodes", "nodes"),
        ("configs", "#/configs/edit/nginx%3A1.27", "configs"),
        (
            "history",
            "#/configs/history/nginx%3A1.27?from=1&to=3",
            "configs",
        ),
        ("audit", "#/audit", "audit"),
        ("asof", "#/asof/4", "audit"),
        ("cluster", "#/cluster", "cluster"),
    ];
    for (size, suffix) in [(WIDE, ""), (NARROW, "-narrow")] {
        browser.viewport(size).await;
        for (name, hash, view) in pages {
            browser.route(hash).await;
            browser.wait_ready(view).await;
            browser.wait_live().await;
            if name == "configs" {
                browser.wait_for_text("#validation", "Valid").await;
            }
            browser
                .assert_no_horizontal_overflow(&format!("{name} at {}×{}", size.0, size.1))
                .await;
            assert_eq!(
                browser.eval(UNLABELLED).await,
                json!([]),
                "{name}: unlabelled controls"
            );
            browser.screenshot(&format!("page-{name}{suffix}")).await;
        }
    }
    report("every_page_fits", started, &browser);
    browser.close().await;
}

#[tokio::test]
async fn an_unknown_plugin_is_shown_at_its_line() {
    let started = Instant::now();
    let Some(browser) = Browser::start("an_unknown_plugin_is_shown_at_its_line").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let local = Instance::local(dir.path(), &[]);

    browser.goto(&local.url("/#/configs/new")).await;
    browser.wait_ready("configs").await;
    browser.type_into("#config-name", "plugins/app:1").await;
    // Line 5 names a filter Logstash does not bundle.
    let unknown = "input {\n  file { docker-path => \"/var/log/app.log\" }\n}\nfilter {\n  geoip_plus { }\n}\n";
    browser.set_value("#config-input", unknown).await;
    browser.wait_for(".editor[data-error-line=\"5\"]").await;
    browser
        .wait_for(".editor-gutter [data-line=\"5\"].error")
        .await;
    browser.wait_for_text("#validation", "unknown plugin").await;
    browser.click("#save-config").await;
    browser
        .wait_for_text("#validation", "Not saved: line 5")
        .await;
    browser.screenshot("configs-unknown-plugin").await;
    let missing = call(&local, "GET", "/api/configs/plugins%2Fapp%3A1", None, None).await;
    assert_eq!(missing.status, 404, "{}", missing.json);
    report("an_unknown_plugin_is_shown_at_its_line", started, &browser);
    browser.close().await;
}

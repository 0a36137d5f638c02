//! The GUI in headless Chromium hides what the signed-in token's role may
//! not do: a read token sees no save, delete, new or revert buttons; a
//! write token cannot save the host config; an admin token can.

use crate::support;

use serde_json::{Value, json};
use support::browser::Browser;
use support::{Answer, Instance, client};

const READ: &str = "reader-secret-0123456789";
const WRITE: &str = "writer-secret-0123456789";
const ADMIN: &str = "admin-secret-0123456789";

async fn send(instance: &Instance, method: &str, path: &str, body: Value) {
    let answer = Answer::of(
        client()
            .request(method.parse().unwrap(), instance.url(path))
            .bearer_auth(ADMIN)
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(answer.status < 300, "{method} {path}: {}", answer.json);
}

async fn sign_in(browser: &Browser, secret: &str, who: &str) {
    if browser
        .eval("return document.querySelector('#auth-dialog').open")
        .await
        != json!(true)
    {
        browser.click("#auth-button").await;
        browser.wait_for("#auth-dialog[open]").await;
    }
    browser.type_into("#token-input", secret).await;
    browser.click("#auth-form button[type=\"submit\"]").await;
    browser.wait_for_text("#who", who).await;
}

async fn sign_out(browser: &Browser) {
    browser.click("#auth-button").await;
    browser.wait_for_text("#who", "Read-only").await;
}

async fn present(browser: &Browser, css: &str) -> bool {
    browser
        .eval(&format!("return document.querySelector('{css}') !== null"))
        .await
        == json!(true)
}

/// Waits for the editor pane of the current route to be drawn anew.
async fn editor_ready(browser: &Browser) {
    browser.wait_ready("configs").await;
    browser.wait_for("#config-input").await;
}

#[tokio::test]
async fn a_read_token_sees_no_buttons_that_change_anything() {
    let Some(browser) = Browser::start("a_read_token_sees_no_buttons").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let read = format!("viewer:{READ}:read");
    let write = format!("ci:{WRITE}");
    let admin = format!("root:{ADMIN}:admin");
    let local = Instance::local(
        dir.path(),
        &[
            "--api-token",
            &read,
            "--api-token",
            &write,
            "--api-token",
            &admin,
        ],
    );
    let input = "input { file { docker-path => \"/var/log/nginx/access.log\" } }\n";
    send(
        &local,
        "POST",
        "/api/configs",
        json!({"name": "nginx", "input": input}),
    )
    .await;
    send(
        &local,
        "PUT",
        "/api/configs/nginx",
        json!({"input": format!("{input}# v2\n")}),
    )
    .await;
    send(
        &local,
        "PUT",
        "/api/host-config",
        json!({"input": "input { file { host-path => \"/var/log/syslog\" } }\n"}),
    )
    .await;

    // A read token: the config is shown, nothing offers to change it.
    browser.goto(&local.url("/#/configs/edit/nginx")).await;
    browser.wait_for("#auth-dialog[open]").await;
    sign_in(&browser, READ, "Signed in as viewer (read)").await;
    editor_ready(&browser).await;
    browser.wait_for("#role-note").await;
    for css in [
        "#save-config",
        "#delete-config",
        "#discard-config",
        "#new-config",
    ] {
        assert!(!present(&browser, css).await, "a read token sees {css}");
    }
    assert_eq!(
        browser
            .eval("return document.querySelector('#config-input').readOnly")
            .await,
        true
    );
    browser.screenshot("roles-read-editor").await;
    browser.route("#/configs/host").await;
    editor_ready(&browser).await;
    assert!(!present(&browser, "#save-config").await);
    browser.route("#/configs/history/nginx").await;
    browser.wait_for("#versions").await;
    assert!(
        !present(&browser, "[data-revert]").await,
        "a read token sees a revert button"
    );

    // A write token may change per-image configs, not the host config.
    sign_out(&browser).await;
    sign_in(&browser, WRITE, "Signed in as ci").await;
    browser.wait_for("#versions [data-revert]").await;
    browser.route("#/configs/edit/nginx").await;
    editor_ready(&browser).await;
    for css in ["#save-config", "#delete-config", "#new-config"] {
        assert!(present(&browser, css).await, "a write token misses {css}");
    }
    browser.route("#/configs/host").await;
    editor_ready(&browser).await;
    browser.wait_for_text("#role-note", "admin role").await;
    assert!(!present(&browser, "#save-config").await);

    // An admin token may change the host config too.
    sign_out(&browser).await;
    sign_in(&browser, ADMIN, "Signed in as root (admin)").await;
    browser.wait_for("#save-config").await;
    assert!(!present(&browser, "#role-note").await);
    browser.close().await;
}

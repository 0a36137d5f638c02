//! Acknowledged writes survive `kill -9`: configs, versions, audit history and
//! time travel are exactly as before after a restart.

use crate::support;

use serde_json::{Value, json};
use support::{Answer, Instance, client, encode};

async fn get(local: &Instance, path: &str) -> Value {
    let answer = Answer::of(client().get(local.url(path)).send().await.unwrap()).await;
    assert_eq!(answer.status, 200, "{path}: {}", answer.json);
    answer.json
}

async fn ok(request: reqwest::RequestBuilder) {
    let answer = Answer::of(request.send().await.unwrap()).await;
    assert!(answer.status < 300, "{}", answer.json);
}

/// Everything a client can read back about the state.
async fn everything(local: &Instance, names: &[&str], last_seq: u64) -> Vec<Value> {
    let mut all = vec![
        get(local, "/api/configs").await,
        get(local, "/api/events?order=asc&limit=1000").await,
    ];
    for name in names {
        all.push(get(local, &format!("/api/configs/{}/history", encode(name))).await);
    }
    for seq in 0..=last_seq {
        all.push(get(local, &format!("/api/configs?at={seq}")).await);
    }
    all
}

#[tokio::test]
async fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut local = Instance::local(dir.path(), &[]);
    let c = client();
    let names = ["nginx:latest", "mesos/logstash:0.0.6", "a/b/c"];
    for name in names {
        ok(c.post(local.url("/api/configs"))
            .json(&json!({"name": name, "input": format!("# {name} v1\n")})))
        .await;
    }
    for v in 2..=3 {
        ok(
            c.put(local.url(&format!("/api/configs/{}", encode(names[1]))))
                .json(&json!({"input": format!("# v{v}\n")})),
        )
        .await;
    }
    ok(c.delete(local.url(&format!("/api/configs?name={}", encode(names[2]))))).await;

    // The state as of every seq, read while the process was alive.
    let before = everything(&local, &names, 6).await;
    assert_eq!(before[0].as_array().unwrap().len(), 2);
    assert_eq!(before[1]["events"].as_array().unwrap().len(), 6);

    local.kill9();
    local.restart();
    let after = everything(&local, &names, 6).await;
    assert_eq!(after, before);

    // And the log goes on from where it was.
    ok(c.post(local.url("/api/configs"))
        .json(&json!({"name": "after", "input": ""})))
    .await;
    let page = get(&local, "/api/events?limit=1").await;
    assert_eq!(page["events"][0]["seq"], 7);

    // A clean stop and start gives the same state too.
    let before = everything(&local, &names, 7).await;
    local.terminate();
    local.restart();
    assert_eq!(everything(&local, &names, 7).await, before);
}

//! The event tools against a real replica (journal, API and socket in this
//! process) and its data directory: export → import → verify round trip,
//! replay against `GET /api/configs?at=N`, verify against the API, and
//! damaged data.

mod support;

use std::collections::BTreeMap;

use logstash_mesos::events::{
    Actor, Command, ExecutorCommand, ExecutorSettings, StreamChange, TaskState,
};
use serde_json::{Value, json};
use support::{Replica, TOKEN, ok, path, stderr, tool};

/// Writes a history with every kind of change through the API and the
/// journal: configs with odd names, updates, a revert, a delete, the host
/// config, settings, the framework, executors, tasks and streams.
async fn write_history(replica: &Replica) {
    let writes = [
        (
            "POST",
            "/api/configs",
            json!({"name": "nginx", "input": "input { file { docker-path => \"/var/log/nginx/access.log\" } }"}),
            201,
        ),
        (
            "POST",
            "/api/configs",
            json!({"name": "my/app:1 ü", "input": "input { file { docker-path => \"/srv/app.log\" } }"}),
            201,
        ),
        (
            "POST",
            "/api/configs",
            json!({"name": "myorg/*", "input": "input { file { docker-path => \"/var/log/*.log\" } }"}),
            201,
        ),
        (
            "PUT",
            "/api/configs/nginx",
            json!({"input": "input {\n  file { docker-path => \"/var/log/nginx/error.log\" }\n}\n"}),
            200,
        ),
        (
            "POST",
            "/api/configs/nginx/revert",
            json!({"version": 1}),
            200,
        ),
        (
            "PUT",
            "/api/host-config",
            json!({"input": "input { file { host-path => \"/var/log/syslog\" } }"}),
            200,
        ),
        (
            "DELETE",
            "/api/configs/my%2Fapp%3A1%20%C3%BC",
            json!({}),
            200,
        ),
    ];
    for (method, path, body, expected) in writes {
        let (status, answer) = replica.send(method, path, body).await;
        assert_eq!(status, expected, "{method} {path}: {answer}");
    }

    let journal = &replica.server.journal;
    let me = Actor::Replica(1);
    let commands = vec![
        Command::ChangeSettings {
            settings: ExecutorSettings {
                cpus_milli: 200,
                mem_mib: 512,
                disk_mib: 0,
                logstash_heap_mib: 256,
                command: ExecutorCommand::Binary {
                    path: "/usr/bin/logstash-mesos".into(),
                    uri: None,
                },
            },
        },
        Command::RecordLeader {
            replica: 1,
            term: 3,
        },
        Command::RecordFrameworkSubscribed {
            framework_id: "fw-0001".into(),
            master: "http://m1:5050".into(),
            replica: 1,
        },
    ];
    for agent in ["agent-1", "agent-2"] {
        let task = format!("logstash.{agent}");
        let mut commands = vec![
            Command::RecordExecutorLaunched {
                agent_id: agent.into(),
                hostname: format!("{agent}.example"),
                task_id: task.clone(),
                executor_id: format!("exec.{agent}"),
                fingerprint: "f".into(),
            },
            Command::RecordTaskStatus {
                task_id: task.clone(),
                agent_id: agent.into(),
                state: TaskState::Running,
                reason: None,
                message: None,
                source: Some("SOURCE_EXECUTOR".into()),
            },
            Command::RecordStreamChange {
                agent_id: agent.into(),
                container_id: format!("c-{agent}"),
                image: "nginx".into(),
                path: "/var/log/nginx/access.log".into(),
                change: StreamChange::Started,
                reason: None,
            },
        ];
        if agent == "agent-2" {
            commands.push(Command::RecordTaskStatus {
                task_id: task,
                agent_id: agent.into(),
                state: TaskState::Failed,
                reason: Some("REASON_EXECUTOR_TERMINATED".into()),
                message: Some("exit 1".into()),
                source: None,
            });
        }
        for command in commands {
            journal
                .submit(Actor::Executor(agent.into()), command)
                .await
                .unwrap();
        }
    }
    for command in commands {
        journal.submit(me.clone(), command).await.unwrap();
    }
    let version = journal.read(|s| s.config_version);
    journal
        .submit(
            Actor::Executor("agent-1".into()),
            Command::RecordConfigApplied {
                agent_id: "agent-1".into(),
                version,
            },
        )
        .await
        .unwrap();
}

/// What a replica answers about its state, to compare two replicas.
async fn answers(replica: &Replica) -> BTreeMap<String, Value> {
    let mut paths = vec![
        "/api/configs".to_owned(),
        "/api/host-config".to_owned(),
        "/api/executors".to_owned(),
        "/api/framework".to_owned(),
        "/api/events?order=asc&limit=1000".to_owned(),
        "/api/events?type=ConfigUpdated&config=nginx".to_owned(),
        "/api/events?actor=executor:agent-2".to_owned(),
    ];
    let (_, last) = replica.get("/api/events?limit=1").await;
    let last = last["last_seq"].as_u64().unwrap();
    for seq in 1..=last {
        paths.push(format!("/api/configs?at={seq}"));
    }
    for name in ["nginx", "my%2Fapp%3A1%20%C3%BC", "myorg%2F%2A", "ui"] {
        paths.push(format!("/api/configs/{name}/history"));
    }
    let mut out = BTreeMap::new();
    for path in paths {
        let (status, body) = replica.get(&path).await;
        assert_eq!(status, 200, "{path}: {body}");
        out.insert(path, body);
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn export_import_verify_round_trip_and_replay_equals_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let a_dir = dir.path().join("a");
    let replica = Replica::start(&a_dir).await;
    write_history(&replica).await;
    let url = replica.url.clone();
    let (_, page) = replica.get("/api/events?limit=1").await;
    let last = page["last_seq"].as_u64().unwrap();
    assert_eq!(last, 18, "{page}");

    // replay --until N prints the configs GET /api/configs?at=N returns, for every N.
    for seq in 1..=last {
        let replayed: Value = serde_json::from_str(&ok(&[
            "replay",
            "--api",
            &url,
            "--token",
            TOKEN,
            "--until",
            &seq.to_string(),
            "--format",
            "json",
        ]))
        .unwrap();
        assert_eq!(replayed["seq"], json!(seq));
        let docker: Vec<&Value> = replayed["configs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["kind"] == "docker")
            .collect();
        let (status, served) = replica.get(&format!("/api/configs?at={seq}")).await;
        assert_eq!(status, 200);
        assert_eq!(json!(docker), served, "at {seq}");
    }
    // A time names the last event at or before it, as in the API.
    let (_, events) = replica.get("/api/events?order=asc&limit=1000").await;
    let fifth_at = events["events"][4]["at"].as_str().unwrap().to_owned();
    let replayed: Value = serde_json::from_str(&ok(&[
        "replay", "--api", &url, "--token", TOKEN, "--until", &fifth_at, "--format", "json",
    ]))
    .unwrap();
    let (_, served) = replica.get(&format!("/api/configs?at={fifth_at}")).await;
    let docker: Vec<&Value> = replayed["configs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "docker")
        .collect();
    assert_eq!(json!(docker), served);
    // The text form names what a reader looks for.
    let text = ok(&["replay", "--api", &url, "--token", TOKEN]);
    for needle in [
        &format!("As of event {last}"),
        "nginx [docker] version 3",
        "ui [host] version 1",
        "my/app:1 ü [docker] deleted in version 2",
        "Framework: fw-0001 (master http://m1:5050",
        "Leader: replica 1 (term 3)",
        "agent-1 (agent-1.example): config version",
        "task logstash.agent-1: Running",
        "last ended task logstash.agent-2: Failed",
        "stream started /var/log/nginx/access.log in c-agent-1 (nginx)",
    ] {
        assert!(text.contains(needle), "{needle:?} missing in:\n{text}");
    }

    // verify --api against the running replica.
    let verified = ok(&["verify", "--api", &url, "--token", TOKEN]);
    assert!(
        verified.contains("ok   executors and framework at event"),
        "{verified}"
    );
    assert!(verified.contains("verified:"), "{verified}");
    // Without the token the replica refuses reads, and the tool says so.
    let refused = tool(&["dump", "--api", &url]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(stderr(&refused).contains("401"), "{}", stderr(&refused));
    // A running replica's directory is refused, with the way out.
    let locked = tool(&["dump", "--data-dir", path(&a_dir)]);
    assert_eq!(locked.status.code(), Some(2));
    assert!(
        stderr(&locked).contains("in use by a running replica")
            && stderr(&locked).contains("--api"),
        "{}",
        stderr(&locked)
    );

    let from_api = ok(&["export", "--api", &url, "--token", TOKEN]);
    assert_eq!(from_api.lines().count() as u64, last);
    let before = answers(&replica).await;
    replica.stop().await;

    // The stopped replica's directory: the same history, and its stored
    // projections equal a replay.
    let exported = ok(&["export", "--data-dir", path(&a_dir)]);
    assert_eq!(exported, from_api);
    let verified = ok(&["verify", "--data-dir", path(&a_dir)]);
    assert!(
        verified.contains("ok   the stored projections (at event"),
        "{verified}"
    );

    // Import into an empty directory: the same history, byte for byte.
    let export_file = dir.path().join("export.jsonl");
    std::fs::write(&export_file, &exported).unwrap();
    let b_dir = dir.path().join("b");
    ok(&["import", "--data-dir", path(&b_dir), path(&export_file)]);
    assert_eq!(ok(&["export", "--data-dir", path(&b_dir)]), exported);
    ok(&["verify", "--data-dir", path(&b_dir)]);
    let again = tool(&["import", "--data-dir", path(&b_dir), path(&export_file)]);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        stderr(&again).contains("already holds a journal"),
        "{}",
        stderr(&again)
    );

    // A replica on the imported directory serves the same answers.
    let replica_b = Replica::start(&b_dir).await;
    let after = answers(&replica_b).await;
    for (path, a) in &before {
        assert_eq!(Some(a), after.get(path), "{path}");
    }
    ok(&["verify", "--api", &replica_b.url, "--token", TOKEN]);
    // And it is a working replica: it takes the next write.
    let (status, body) = replica_b
        .send(
            "POST",
            "/api/configs",
            json!({"name": "after-import", "input": "input { }"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["seq"], json!(last + 1));
    replica_b.stop().await;
    // Converting the import put the history into a Raft snapshot: verify
    // checks that one too.
    let verified = ok(&["verify", "--data-dir", path(&b_dir)]);
    for needle in [
        "ok   the Raft snapshot's projections (at event 18) equal the replay",
        "ok   the Raft snapshot's history (18 events) equals the stored one",
        &format!(
            "ok   the stored projections (at event {}) equal the replay",
            last + 1
        ),
    ] {
        assert!(
            verified.contains(needle),
            "{needle:?} missing in:\n{verified}"
        );
    }
}

/// Copies a data directory, so each damage starts from the same one.
fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

/// Changes the journal of a stopped replica with sled itself, as a bad
/// disk or a stray tool would.
fn tamper(data_dir: &std::path::Path, change: impl FnOnce(&sled::Db)) {
    let db = sled::open(data_dir.join("journal")).unwrap();
    change(&db);
    db.flush().unwrap();
}

fn no_panic(out: &std::process::Output) {
    let err = stderr(out);
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.starts_with("error: "), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn damaged_data_is_an_error_naming_the_seq_never_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good");
    let replica = Replica::start(&good).await;
    for i in 0..30 {
        let (status, _) = replica
            .send(
                "POST",
                "/api/configs",
                json!({"name": format!("app-{i}"), "input": "input { file { docker-path => \"/a.log\" } }"}),
            )
            .await;
        assert_eq!(status, 201);
    }
    replica.stop().await;
    ok(&["verify", "--data-dir", path(&good)]);

    // An event whose record no longer decodes.
    let garbled = dir.path().join("garbled");
    copy_dir(&good, &garbled);
    tamper(&garbled, |db| {
        let events = db.open_tree("events").unwrap();
        events
            .insert(20u64.to_be_bytes(), &[0u8, 1, 0xff, 0xfe, 7][..])
            .unwrap();
    });
    for command in ["dump", "verify", "export", "stats"] {
        let out = tool(&[command, "--data-dir", path(&garbled)]);
        assert_eq!(out.status.code(), Some(2), "{command}");
        no_panic(&out);
        assert!(
            stderr(&out).contains("event 20 cannot be read"),
            "{command}: {}",
            stderr(&out)
        );
    }
    // What comes before the damage still replays.
    let replayed = ok(&["replay", "--data-dir", path(&garbled), "--until", "19"]);
    assert!(replayed.contains("Configs in force: 19"), "{replayed}");

    // An event that is gone.
    let holed = dir.path().join("holed");
    copy_dir(&good, &holed);
    tamper(&holed, |db| {
        db.open_tree("events")
            .unwrap()
            .remove(25u64.to_be_bytes())
            .unwrap();
    });
    let out = tool(&["dump", "--data-dir", path(&holed)]);
    assert_eq!(out.status.code(), Some(2));
    no_panic(&out);
    assert!(
        stderr(&out).contains("event 25 cannot be read: missing"),
        "{}",
        stderr(&out)
    );

    // The journal's file overwritten with garbage past its first bytes.
    let scrambled = dir.path().join("scrambled");
    copy_dir(&good, &scrambled);
    let file = scrambled.join("journal").join("db");
    let mut bytes = std::fs::read(&file).unwrap();
    for (i, b) in bytes.iter_mut().enumerate().skip(64) {
        *b ^= (i % 251) as u8 | 1;
    }
    std::fs::write(&file, bytes).unwrap();
    let out = tool(&["dump", "--data-dir", path(&scrambled)]);
    assert_eq!(out.status.code(), Some(2));
    no_panic(&out);
    assert!(stderr(&out).contains("damaged"), "{}", stderr(&out));

    // Not a data directory at all.
    let out = tool(&["stats", "--data-dir", path(dir.path())]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("is not a data directory"),
        "{}",
        stderr(&out)
    );

    // An export cut short, or with a gap, is refused with the line.
    let export = ok(&["export", "--data-dir", path(&good)]);
    let cut = &export[..export.len() - 40];
    let out = support::tool_with_input(
        &["import", "--data-dir", path(&dir.path().join("from-cut"))],
        Some(cut.as_bytes()),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("line 30: not an event"),
        "{}",
        stderr(&out)
    );
    let gap: String = export
        .lines()
        .enumerate()
        .filter(|(i, _)| *i != 9)
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    let out = support::tool_with_input(
        &["import", "--data-dir", path(&dir.path().join("from-gap"))],
        Some(gap.as_bytes()),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(
            "line 10: event 11 cannot be read: out of order: the history needs event 10 next"
        ),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_shows_where_stored_projections_differ_from_the_history() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let replica = Replica::start(&data).await;
    write_history(&replica).await;
    replica.stop().await;
    tamper(&data, |db| {
        use logstash_mesos::events::codec;
        use logstash_mesos::state::State;
        let meta = db.open_tree("meta").unwrap();
        let bytes = meta
            .get(b"projection")
            .unwrap()
            .expect("stored projections");
        let mut state: State = codec::decode(&bytes).unwrap();
        state
            .cluster
            .agents
            .insert("ghost-agent".into(), Default::default());
        meta.insert(b"projection", codec::encode(&state)).unwrap();
    });
    let out = tool(&["verify", "--data-dir", path(&data)]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = String::from_utf8(out.stdout).unwrap();
    assert!(
        report.contains("FAIL the stored projections (at event 18) equal the replay"),
        "{report}"
    );
    assert!(
        report.contains("+ ") && report.contains("ghost-agent"),
        "{report}"
    );
    assert!(report.contains("MISMATCH: 1 of"), "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn dump_filters_diff_and_stats() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let replica = Replica::start(&data).await;
    write_history(&replica).await;
    let (_, events) = replica.get("/api/events?order=asc&limit=1000").await;
    replica.stop().await;
    let d = path(&data);

    let updates = ok(&[
        "dump",
        "--data-dir",
        d,
        "--type",
        "ConfigUpdated",
        "--config",
        "nginx",
    ]);
    assert_eq!(updates.lines().count(), 2, "{updates}");
    assert!(
        updates
            .lines()
            .all(|l| l.contains("ConfigUpdated name=\"nginx\"")),
        "{updates}"
    );
    let by_agent = ok(&[
        "dump",
        "--data-dir",
        d,
        "--actor",
        "executor:agent-2",
        "--format",
        "json",
    ]);
    let seqs: Vec<u64> = by_agent
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect();
    let expected: Vec<u64> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"] == "executor:agent-2")
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, expected);
    let third_at = events["events"][2]["at"].as_str().unwrap();
    let fifth_at = events["events"][4]["at"].as_str().unwrap();
    let window = ok(&[
        "dump",
        "--data-dir",
        d,
        "--since",
        third_at,
        "--until",
        fifth_at,
        "--format",
        "json",
    ]);
    let first_seq =
        serde_json::from_str::<Value>(window.lines().next().unwrap()).unwrap()["seq"].clone();
    let last_seq =
        serde_json::from_str::<Value>(window.lines().last().unwrap()).unwrap()["seq"].clone();
    // Events in the same millisecond share a time: the window is at least 3..=5.
    assert!(
        first_seq.as_u64().unwrap() <= 3 && last_seq.as_u64().unwrap() >= 5,
        "{window}"
    );
    let bad = tool(&["dump", "--data-dir", d, "--type", "NoSuchType"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("unknown event type"),
        "{}",
        stderr(&bad)
    );

    // From after the first config to the end: what an operator would ask for.
    let diff = ok(&["diff", "--data-dir", d, "1", "18"]);
    for needle in [
        "Changes from event 1 to event 18:",
        "+ config myorg/* [docker] added (version 1)",
        "+ config ui [host] added (version 1)",
        "~ executor settings: none -> ",
        "~ framework: none -> fw-0001 (master http://m1:5050)",
        "~ leader: none -> replica 1 term 3",
        "+ agent agent-1 (agent-1.example)",
        "~ agent agent-1: none -> task logstash.agent-1 Running since",
        "~ agent agent-1: applied config version none -> ",
        "~ agent agent-1: stream /var/log/nginx/access.log in c-agent-1: none -> started",
        "+ agent agent-2 (agent-2.example)",
    ] {
        assert!(diff.contains(needle), "{needle:?} missing in:\n{diff}");
    }
    // nginx changed and changed back: between 4 and 5 it shows as a text diff.
    let diff = ok(&["diff", "--data-dir", d, "4", "5"]);
    assert!(
        diff.contains("~ config nginx [docker] changed: version 2 -> 3"),
        "{diff}"
    );
    assert!(
        diff.contains("-  file { docker-path => \"/var/log/nginx/error.log\" }"),
        "{diff}"
    );
    assert!(
        diff.contains("+input { file { docker-path => \"/var/log/nginx/access.log\" } }"),
        "{diff}"
    );
    let removed = ok(&["diff", "--data-dir", d, "6", "7", "--format", "json"]);
    let removed: Value = serde_json::from_str(&removed).unwrap();
    assert_eq!(
        removed,
        json!([{"change": "config_removed", "name": "my/app:1 ü", "kind": "docker"}])
    );

    let stats: Value =
        serde_json::from_str(&ok(&["stats", "--data-dir", d, "--format", "json"])).unwrap();
    assert_eq!(stats["events"], json!(18));
    assert_eq!(stats["by_type"]["ConfigCreated"], json!(4));
    assert_eq!(stats["by_type"]["TaskStateChanged"], json!(3));
    assert_eq!(stats["by_actor"]["api:ops"], json!(7));
    assert_eq!(stats["first"]["seq"], json!(1));
    assert_eq!(stats["last"]["type"], json!("ExecutorConfigApplied"));
    assert!(stats["size_on_disk"].as_u64().unwrap() > 0);
}

//! The direct reader against the real Docker engine: files read through
//! `/proc/<pid>/root`, nothing run in the container. Every test prints
//! `SKIP: ...` and passes when there is no engine (or the process may not
//! read other processes' roots).

use crate::executor_docker::{
    Child9, IDLE, World, config_set, first_difference, in_order_with_counted_duplicates, numbers,
    report, restarted_container_resumes_and_a_new_one_starts_over, spool_becomes,
};
use crate::support;

use std::time::Duration;

use bollard::Docker;
use logstash_mesos::events::messages::{StreamReader, StreamReport, StreamState};
use logstash_mesos::executor::layout;
use logstash_mesos::executor::matching::{RequiredLabel, StreamKey};
use logstash_mesos::executor::stream::ReaderChoice;
use support::docker::{
    BUSYBOX, NO_SH, TestContainer, docker_or_skip, ensure_images, eventually, spool_contents,
    unique,
};

/// The engine, if there is one and this process may read container roots.
async fn direct_or_skip(test: &str) -> Option<Docker> {
    let docker = docker_or_skip(test).await?;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        println!("SKIP: {test}: the direct reader needs root");
        return None;
    }
    Some(docker)
}

async fn direct_world(docker: &Docker) -> World {
    World::with(docker, |s| {
        s.reader = ReaderChoice::Direct;
        s.rotate_quiet = Duration::from_millis(1500);
    })
    .await
}

/// Waits until the one stream of `world` runs with the direct reader.
async fn direct_running(world: &mut World) -> StreamReport {
    let mut last = Vec::new();
    eventually(Duration::from_secs(20), "the direct reader runs", || {
        let (reports, _) = world.manager.as_mut().unwrap().reports();
        let ok = reports.len() == 1
            && reports[0].reader == Some(StreamReader::Direct)
            && reports[0].state == StreamState::Streaming
            && reports[0].reason.is_none();
        last = reports;
        async move { ok }
    })
    .await;
    last.remove(0)
}

fn parse_lines(bytes: &[u8]) -> Vec<u64> {
    bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| std::str::from_utf8(l).unwrap().parse().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_every_5000_of_20000_lines_loses_nothing() {
    let _lane = crate::support::lanes::heavy().await;
    let Some(docker) = direct_or_skip("rename_every_5000_of_20000_lines_loses_nothing").await
    else {
        return;
    };
    let mut world = direct_world(&docker).await;
    // As fast as busybox can: each file lives a few milliseconds, the last
    // one is renamed away at the end.
    let script = format!(
        "cd /tmp; : > app.log; while [ ! -e go ]; do sleep 0.1; done; i=0; \
         while [ $i -lt 4 ]; do s=$((i*5000+1)); seq $s $((s+4999)) >> app.log; i=$((i+1)); \
         mv app.log app.log.$i; done; touch finished; {IDLE}"
    );
    let c = world.container(BUSYBOX, &script).await;
    world
        .apply(&config_set(BUSYBOX, &["/tmp/app.log"]), &[&c.id])
        .await;
    let running = direct_running(&mut world).await;
    println!("reader: {:?} ({:?})", running.reader, running.reader_note);
    c.exec(&["touch", "/tmp/go"]).await;
    let want = numbers(1, 20_000);
    let dir = world.spool(&c.id, "/tmp/app.log");
    let took = spool_becomes(&dir, &want, Duration::from_secs(30)).await;
    println!("20,000 lines in 4 short-lived files spooled in {took:?}");
    let (reports, totals) = world.manager().reports();
    assert_eq!(totals.lines, 20_000);
    assert_eq!(totals.duplicate_lines, 0);
    assert_eq!(reports[0].lost_files, 0);
    world.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_without_sh_or_tail_is_streamed() {
    let _lane = crate::support::lanes::heavy().await;
    let Some(docker) = direct_or_skip("a_container_without_sh_or_tail_is_streamed").await else {
        return;
    };
    // The default (auto) reader.
    let mut world = World::with(&docker, |s| s.reader = ReaderChoice::Auto).await;
    // Only /bin/busybox: its shell's builtins write the file.
    let script = "i=0; while [ $i -lt 500 ]; do i=$((i+1)); echo \"line $i\" >> /tmp/app.log; done; \
                  exec /bin/busybox sleep 3600";
    let labels = [(world.label.key.as_str(), world.label.value.as_str())];
    let c = TestContainer::start_argv(
        &docker,
        NO_SH,
        Some(&["/bin/busybox", "sh", "-c", script]),
        &labels,
    )
    .await;
    let (out, code) = c.exec(&["sh", "-c", "true"]).await;
    assert_ne!(code, 0, "the container has a sh: {out}");
    world
        .apply(&config_set(NO_SH, &["/tmp/app.log"]), &[&c.id])
        .await;
    let want: Vec<u8> = (1..=500)
        .flat_map(|i| format!("line {i}\n").into_bytes())
        .collect();
    world
        .spool_is(&c.id, "/tmp/app.log", &want, Duration::from_secs(20))
        .await;
    let (reports, _) = world.manager().reports();
    assert_eq!(reports[0].reader, Some(StreamReader::Direct), "{reports:?}");
    world.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escapes_from_the_container_root_are_refused() {
    let _lane = crate::support::lanes::heavy().await;
    let Some(docker) = direct_or_skip("escapes_from_the_container_root_are_refused").await else {
        return;
    };
    let mut world = direct_world(&docker).await;
    let c = world
        .container(
            BUSYBOX,
            &format!(
                "ln -s /etc/shadow /tmp/shadow.log; ln -s ../../../../../../etc/hostname /tmp/up.log; {IDLE}"
            ),
        )
        .await;
    let paths = [
        "/tmp/shadow.log",
        "/tmp/up.log",
        "/tmp/../../../../etc/hostname",
    ];
    world.apply(&config_set(BUSYBOX, &paths), &[&c.id]).await;
    let mut last = Vec::new();
    eventually(Duration::from_secs(20), "all three refused", || {
        let (reports, _) = world.manager.as_mut().unwrap().reports();
        let refused = reports.len() == 3
            && reports.iter().all(|r| {
                r.state == StreamState::Failed
                    && r.reason
                        .as_deref()
                        .is_some_and(|w| w.starts_with("refused"))
            });
        last = reports;
        async move { refused }
    })
    .await;
    for r in &last {
        println!("{}: {}", r.path, r.reason.as_deref().unwrap_or(""));
        assert_eq!(r.bytes, 0);
        let spooled = spool_contents(&world.spool(&c.id, &r.path));
        assert!(spooled.is_empty(), "{}: {spooled:?}", r.path);
    }
    world.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copytruncate_keeps_the_lines_after_the_truncation() {
    let _lane = crate::support::lanes::heavy().await;
    let Some(docker) = direct_or_skip("copytruncate_keeps_the_lines_after_the_truncation").await
    else {
        return;
    };
    let mut world = direct_world(&docker).await;
    let c = world
        .container(BUSYBOX, &format!("seq 1 1000 > /tmp/app.log; {IDLE}"))
        .await;
    world
        .apply(&config_set(BUSYBOX, &["/tmp/app.log"]), &[&c.id])
        .await;
    world
        .spool_is(
            &c.id,
            "/tmp/app.log",
            &numbers(1, 1000),
            Duration::from_secs(20),
        )
        .await;
    // copytruncate: the file is emptied in place and written again; 10
    // lines are written while 1-1000 are still in it, then it is truncated.
    let (out, code) = c
        .exec(&[
            "sh",
            "-c",
            "cp /tmp/app.log /tmp/app.log.1; : > /tmp/app.log; seq 1001 1500 >> /tmp/app.log",
        ])
        .await;
    assert_eq!(code, 0, "{out}");
    world
        .spool_is(
            &c.id,
            "/tmp/app.log",
            &numbers(1, 1500),
            Duration::from_secs(20),
        )
        .await;
    let (reports, _) = world.manager().reports();
    assert!(reports[0].rotations >= 1, "{reports:?}");
    // Everything was read before the truncation: nothing lost.
    assert_eq!(reports[0].dropped_bytes, 0, "{reports:?}");
    world.shutdown().await;
}

/// A config file and a label for a child executor.
fn child_setup(dir: &std::path::Path) -> (std::path::PathBuf, RequiredLabel) {
    let label = RequiredLabel {
        key: "lsm-test".into(),
        value: unique("label"),
    };
    let configs = dir.join("configs.json");
    std::fs::write(
        &configs,
        serde_json::to_vec(&config_set(BUSYBOX, &["/tmp/app.log"])).unwrap(),
    )
    .unwrap();
    (configs, label)
}

fn spool_of(dir: &std::path::Path, container: &str) -> std::path::PathBuf {
    layout::spool_dir(
        &dir.join("spool"),
        &StreamKey {
            container_id: container.into(),
            path: "/tmp/app.log".into(),
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_with_a_rotation_while_down_loses_nothing() {
    let _lane = crate::support::lanes::heavy().await;
    let Some(docker) = direct_or_skip("sigkill_with_a_rotation_while_down_loses_nothing").await
    else {
        return;
    };
    ensure_images(&docker).await;
    let dir = tempfile::tempdir().unwrap();
    let (configs, label) = child_setup(dir.path());
    // 100,000 lines in 100 bursts, renamed every 10,000; the writer pauses
    // at `hold` so the test can rotate while the executor is down.
    let script = format!(
        "cd /tmp; : > app.log; while [ ! -e go ]; do sleep 0.1; done; i=0; \
         while [ $i -lt 100 ]; do s=$((i*1000+1)); seq $s $((s+999)) >> app.log; i=$((i+1)); \
         if [ $((i % 10)) = 0 ]; then mv app.log app.log.$i; fi; \
         while [ -e hold ]; do sleep 0.05; done; sleep 0.05; done; {IDLE}"
    );
    let c = TestContainer::start(
        &docker,
        BUSYBOX,
        Some(&script),
        &[(&label.key, &label.value)],
    )
    .await;
    let spool = spool_of(dir.path(), &c.id);
    let mut child = Child9::with_reader(dir.path(), &configs, &label, "direct");
    eventually(Duration::from_secs(20), "the stream runs", || {
        let r = report(dir.path());
        async move { r["streams"][0]["reader"] == "Direct" }
    })
    .await;
    c.exec(&["touch", "/tmp/go"]).await;
    eventually(Duration::from_secs(30), "some lines spooled", || {
        let n = parse_lines(&spool_contents(&spool)).len();
        async move { n > 25_000 }
    })
    .await;
    // Kill while the writer is held in the middle of a file, then let it
    // write past the next rename before the executor comes back.
    c.exec(&["touch", "/tmp/hold"]).await;
    child.kill9();
    let renamed_before = renamed(&c).await;
    c.exec(&["rm", "/tmp/hold"]).await;
    eventually(Duration::from_secs(30), "a rename while down", || {
        let c = &c;
        async move { renamed(c).await > renamed_before }
    })
    .await;
    let mut child = Child9::with_reader(dir.path(), &configs, &label, "direct");
    let want = numbers(1, 100_000);
    eventually(Duration::from_secs(60), "every line spooled", || {
        let lines = parse_lines(&spool_contents(&spool));
        let top = lines.iter().copied().max().unwrap_or(0);
        async move { top >= 100_000 }
    })
    .await;
    // Give the last checkpoint and report a moment, then stop gracefully.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let live = report(dir.path());
    assert_eq!(live["streams"][0]["lost_files"], 0, "{live}");
    assert_eq!(live["streams"][0]["reader"], "Direct", "{live}");
    child.terminate();
    let (duplicates, counted) = in_order_with_counted_duplicates(&spool, &want, dir.path());
    println!("SIGKILL with a rotation while down: {duplicates} duplicates, {counted} counted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_checkpoints_are_resumed_by_the_direct_reader() {
    let _lane = crate::support::lanes::heavy().await;
    let Some(docker) = direct_or_skip("exec_checkpoints_are_resumed_by_the_direct_reader").await
    else {
        return;
    };
    ensure_images(&docker).await;
    let dir = tempfile::tempdir().unwrap();
    let (configs, label) = child_setup(dir.path());
    let c = TestContainer::start(
        &docker,
        BUSYBOX,
        Some(&format!("seq 1 5000 > /tmp/app.log; {IDLE}")),
        &[(&label.key, &label.value)],
    )
    .await;
    let spool = spool_of(dir.path(), &c.id);
    let mut child = Child9::with_reader(dir.path(), &configs, &label, "exec");
    eventually(Duration::from_secs(20), "the exec reader spooled", || {
        let got = spool_contents(&spool);
        async move { got == numbers(1, 5000) }
    })
    .await;
    child.terminate();
    let (out, code) = c
        .exec(&["sh", "-c", "seq 5001 10000 >> /tmp/app.log"])
        .await;
    assert_eq!(code, 0, "{out}");
    let mut child = Child9::with_reader(dir.path(), &configs, &label, "direct");
    eventually(Duration::from_secs(20), "the direct reader went on", || {
        let got = spool_contents(&spool);
        let r = report(dir.path());
        async move { got.len() >= numbers(1, 10_000).len() && r["streams"][0]["reader"] == "Direct" }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    child.terminate();
    let got = spool_contents(&spool);
    let want = numbers(1, 10_000);
    assert!(got == want, "{}", first_difference(&got, &want));
    let report = report(dir.path());
    assert_eq!(report["totals"]["duplicate_lines"], 0, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_container_is_found_again_under_its_new_pid() {
    let _lane = crate::support::lanes::heavy().await;
    let Some(docker) =
        direct_or_skip("a_restarted_container_is_found_again_under_its_new_pid").await
    else {
        return;
    };
    // The old root held open: the restarted container's root is a new
    // mount with another device number, and the stream must still resume.
    restarted_container_resumes_and_a_new_one_starts_over(direct_world(&docker).await, true).await;
}

/// Renamed files in a container's `/tmp`.
async fn renamed(c: &TestContainer) -> usize {
    let (ls, _) = c.exec(&["ls", "/tmp"]).await;
    ls.lines().filter(|l| l.starts_with("app.log.")).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_writers_and_two_sigkills_with_rotations_while_down_lose_nothing() {
    let _lane = crate::support::lanes::heavy().await;
    const LINES: u64 = 60_000;
    let Some(docker) =
        direct_or_skip("five_writers_and_two_sigkills_with_rotations_while_down_lose_nothing")
            .await
    else {
        return;
    };
    ensure_images(&docker).await;
    let dir = tempfile::tempdir().unwrap();
    let (configs, label) = child_setup(dir.path());
    // ~2,000 lines/s each (200 every 0.1 s), renamed every 10,000 lines.
    let script = format!(
        "cd /tmp; : > app.log; while [ ! -e go ]; do sleep 0.1; done; i=0; \
         while [ $i -lt {bursts} ]; do s=$((i*200+1)); seq $s $((s+199)) >> app.log; i=$((i+1)); \
         if [ $((i % 50)) = 0 ]; then mv app.log app.log.$i; fi; sleep 0.1; done; {IDLE}",
        bursts = LINES / 200
    );
    let mut containers = Vec::new();
    for _ in 0..5 {
        containers.push(
            TestContainer::start(
                &docker,
                BUSYBOX,
                Some(&script),
                &[(&label.key, &label.value)],
            )
            .await,
        );
    }
    let mut child = Child9::with_reader(dir.path(), &configs, &label, "direct");
    eventually(Duration::from_secs(30), "five direct streams", || {
        let r = report(dir.path());
        async move {
            r["streams"]
                .as_array()
                .is_some_and(|s| s.len() == 5 && s.iter().all(|s| s["reader"] == "Direct"))
        }
    })
    .await;
    for c in &containers {
        c.exec(&["touch", "/tmp/go"]).await;
    }
    // Each restarted executor counts the duplicates of its own start: add
    // up what the one about to be killed counted.
    let mut counted: std::collections::BTreeMap<String, u64> = Default::default();
    let mut add_counted = |report: serde_json::Value| {
        for s in report["streams"].as_array().into_iter().flatten() {
            *counted
                .entry(s["container_id"].as_str().unwrap().to_owned())
                .or_default() += s["duplicate_lines"].as_u64().unwrap();
        }
    };
    for round in 0..2 {
        tokio::time::sleep(Duration::from_secs(4)).await;
        if round > 0 {
            add_counted(report(dir.path()));
        }
        child.kill9();
        // Down until every writer renamed its file at least once more.
        let before: Vec<usize> = futures::future::join_all(containers.iter().map(renamed)).await;
        eventually(
            Duration::from_secs(30),
            "a rename in every container while down",
            || {
                let containers = &containers;
                let before = &before;
                async move {
                    let now = futures::future::join_all(containers.iter().map(renamed)).await;
                    now.iter().zip(before).all(|(n, b)| n > b)
                }
            },
        )
        .await;
        println!("round {round}: renamed while down {before:?} → more");
        child = Child9::with_reader(dir.path(), &configs, &label, "direct");
    }
    let spools: Vec<_> = containers
        .iter()
        .map(|c| spool_of(dir.path(), &c.id))
        .collect();
    eventually(
        Duration::from_secs(120),
        "every line of every writer spooled",
        || {
            let done = spools.iter().all(|spool| {
                parse_lines(&spool_contents(spool)).iter().copied().max() == Some(LINES)
            });
            async move { done }
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let last = report(dir.path());
    let streams = last["streams"].as_array().unwrap().clone();
    add_counted(last);
    child.terminate();
    let mut total_duplicates = 0;
    for (c, spool) in containers.iter().zip(&spools) {
        let lines = parse_lines(&spool_contents(spool));
        let mut unique = Vec::new();
        for &n in &lines {
            if unique.last().is_none_or(|&last| n > last) {
                unique.push(n);
            }
        }
        assert_eq!(unique.len() as u64, LINES, "lines lost from {}", c.id);
        assert!(
            unique.iter().zip(1..).all(|(n, want)| *n == want),
            "lines out of order or missing in {}",
            c.id
        );
        let duplicates = (lines.len() - unique.len()) as u64;
        let stream = streams
            .iter()
            .find(|s| s["container_id"] == c.id.as_str())
            .expect("a report of every stream");
        assert_eq!(counted.get(&c.id).copied(), Some(duplicates), "{stream}");
        assert_eq!(stream["lost_files"], 0, "{stream}");
        total_duplicates += duplicates;
    }
    println!(
        "five writers, {} lines, two SIGKILLs with renames while down: 0 lost, {total_duplicates} duplicates, all counted",
        5 * LINES
    );
}

//! TLS to the Mesos master: a scheduler subscribes to the real harness
//! through a TLS terminator whose certificate a private CA signed
//! (`--mesos-ca-file`), and a certificate it cannot trust stops it at start
//! with an error naming the problem, instead of reconnecting forever.

use crate::support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::mesos::{self, wait_for};
use support::tls::{Terminator, TestCa};
use support::{Instance, client};

/// Runs `logstash-mesos scheduler` with `args` and waits for it to exit;
/// returns whether it succeeded and what it wrote to stderr.
fn run_to_exit(data_dir: &std::path::Path, args: &[&str]) -> (bool, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_logstash-mesos"))
        .arg("scheduler")
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start logstash-mesos");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let mut stderr = String::new();
            use std::io::Read;
            child
                .stderr
                .take()
                .expect("stderr")
                .read_to_string(&mut stderr)
                .expect("read stderr");
            return (status.success(), stderr);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the scheduler did not exit within 30 s with {args:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_certificate_that_is_not_trusted_stops_the_scheduler_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let signing_ca = TestCa::new("the master's CA");
    let other_ca = TestCa::new("some other CA");
    let other_pem = dir.path().join("other-ca.pem");
    other_ca.write_pem(&other_pem);
    let not_pem = dir.path().join("not-a-ca.pem");
    std::fs::write(&not_pem, "this is no certificate\n").unwrap();
    // The TLS handshake fails before anything reaches the backend.
    let terminator = Terminator::start(&signing_ca, "127.0.0.1:1").await;
    let master = format!("https://127.0.0.1:{}", terminator.addr.port());
    let other = other_pem.display().to_string();
    let garbage = not_pem.display().to_string();

    let cases: [(&str, Vec<&str>, Vec<&str>); 3] = [
        (
            "a CA file of another CA",
            vec!["--mesos-ca-file", &other],
            vec!["TLS with the Mesos master", "certificate", &other],
        ),
        (
            "the system's CA store",
            vec![],
            vec![
                "TLS with the Mesos master",
                "certificate",
                "--mesos-ca-file",
            ],
        ),
        (
            "a CA file without a certificate",
            vec!["--mesos-ca-file", &garbage],
            vec!["cannot use the CA file", &garbage],
        ),
    ];
    for (i, (case, extra, expected)) in cases.into_iter().enumerate() {
        let data = dir.path().join(format!("data-{i}"));
        let mut args = vec!["--master", master.as_str()];
        args.extend(extra);
        let started = Instant::now();
        let (ok, stderr) = tokio::task::block_in_place(|| run_to_exit(&data, &args));
        assert!(!ok, "{case}: the scheduler started: {stderr}");
        for words in expected {
            assert!(stderr.contains(words), "{case}: {words:?} not in {stderr}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{case}: took {:?}",
            started.elapsed()
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_scheduler_subscribes_to_an_https_master_signed_by_a_private_ca() {
    let Some(master) =
        mesos::master_url("the_scheduler_subscribes_to_an_https_master_signed_by_a_private_ca")
    else {
        return;
    };
    let _turn = mesos::turn().await;
    let backend = master
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("a private CA");
    let ca_pem = dir.path().join("ca.pem");
    ca.write_pem(&ca_pem);
    let terminator = Terminator::start(&ca, &backend).await;
    let https = format!("https://localhost:{}", terminator.addr.port());
    let name = format!("lm-tls-{}", std::process::id());
    let ca_file = ca_pem.display().to_string();
    let scheduler = Instance::scheduler(
        &dir.path().join("data"),
        &[
            "--master",
            &https,
            "--mesos-ca-file",
            &ca_file,
            "--framework-name",
            &name,
            "--failover-timeout",
            "1min",
            // Subscribing is what this test is about: no agent matches, so
            // nothing is launched.
            "--constraint",
            "hostname:LIKE:^no-such-agent$",
        ],
    );

    let framework_id = wait_for(
        Duration::from_secs(60),
        "SUBSCRIBED through TLS",
        || async {
            let framework = support::get_json(&scheduler, "/api/framework").await;
            (framework["connection"]["state"] == "subscribed")
                .then(|| framework["framework_id"].as_str().map(str::to_owned))
                .flatten()
        },
    )
    .await;
    let framework = support::get_json(&scheduler, "/api/framework").await;
    let used = framework["connection"]["master"]
        .as_str()
        .unwrap_or_default();
    assert!(used.starts_with(&https), "subscribed through {used:?}");
    let state = mesos::state(&master).await;
    let registered = mesos::framework(&state, &name).expect("the master knows the framework");
    assert_eq!(registered["id"], framework_id.as_str());

    drop(scheduler);
    let _ = client()
        .post(format!("{master}/master/teardown"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("frameworkId={framework_id}"))
        .send()
        .await;
}

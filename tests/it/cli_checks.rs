//! Flag values that can never work stop the binary at start, with exit code
//! 2 and a message naming the flag, before anything listens or subscribes.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs the binary with `args`; it must exit within 10 s. Returns the exit
/// code and stderr.
fn run(args: &[&str]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_logstash-mesos"))
        .args(args)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("{args:?} did not exit at start");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (status.code(), stderr)
}

#[test]
fn values_that_can_never_work_exit_2_naming_the_flag() {
    let secret_dir = tempfile::tempdir().unwrap();
    let short = secret_dir.path().join("short");
    std::fs::write(&short, "too-short\n").unwrap();
    let short = short.to_str().unwrap();
    let scheduler = [
        "scheduler",
        "--listen",
        "127.0.0.1:0",
        "--master",
        "http://127.0.0.1:1",
    ];
    let cases: &[(&[&str], &str, &str)] = &[
        (
            &["--executor-cpus", "0.01"],
            "--executor-cpus",
            "minimum 0.1",
        ),
        (&["--executor-mem", "16"], "--executor-mem", "minimum 64"),
        (&["--peers", "1=127.0.0.1"], "--peers", "HOST:PORT"),
        (&["--peers", "one=127.0.0.1:1"], "--peers", "number"),
        (&["--peers", "2=127.0.0.1:1"], "--peers", "this replica"),
        (
            &["--peers", "1=127.0.0.1:1,2=127.0.0.1:2"],
            "--cluster-secret-file",
            "needs a secret",
        ),
        (
            &["--cluster-secret-file", short],
            "--cluster-secret-file",
            "shorter than 16",
        ),
        (
            &["--cluster-secret-file", "/nonexistent/secret"],
            "--cluster-secret-file",
            "cannot read",
        ),
        (&["--constraint", "rack"], "--constraint", "rack"),
        (
            &["--executor-env", "NOEQUALS"],
            "--executor-env",
            "NAME=VALUE",
        ),
        (
            &["--raft-election-ms", "900-300"],
            "--raft-election-ms",
            "MIN-MAX",
        ),
        (
            &["--host-path-allow", "/var/log,"],
            "--host-path-allow",
            "empty entry",
        ),
    ];
    for (extra, flag, problem) in cases {
        let args: Vec<&str> = scheduler.iter().chain(extra.iter()).copied().collect();
        let (code, stderr) = run(&args);
        assert_eq!(code, Some(2), "{extra:?}: {stderr}");
        assert!(stderr.contains(flag), "{extra:?} names {flag}: {stderr}");
        assert!(
            stderr.contains(problem),
            "{extra:?} says {problem:?}: {stderr}"
        );
    }
    let (code, stderr) = run(&[
        "scheduler",
        "--listen",
        "127.0.0.1:0",
        "--master",
        "ftp://m",
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--master"), "{stderr}");
    let (code, stderr) = run(&["executor-streams", "--configs", "/nonexistent.json"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--state-dir"), "{stderr}");
    let (code, stderr) = run(&["local", "--no-executor", "--spool-file-size", "0"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--spool-file-size"), "{stderr}");
}

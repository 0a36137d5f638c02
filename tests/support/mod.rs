//! Helpers shared by the integration tests: the real binary, started on a free
//! port with its own data directory, and a JSON client for it.

pub mod docker;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

pub mod browser;
pub mod cluster;
pub mod fake_master;
pub mod lanes;
pub mod mesos;
pub mod raw;
pub mod tls;
pub mod wiretap;

/// A running `logstash-mesos local` or `scheduler` process with its API on an
/// ephemeral port.
pub struct Instance {
    child: Option<Child>,
    pub base: String,
    pub data_dir: PathBuf,
    subcommand: &'static str,
    listen: String,
    args: Vec<String>,
    log: String,
    env: Vec<(String, String)>,
}

impl Instance {
    /// Starts `logstash-mesos local --no-executor` (the API and journal only)
    /// with `data_dir` and extra flags, and waits until it prints its URL.
    pub fn local(data_dir: &Path, args: &[&str]) -> Instance {
        let mut all = vec!["--no-executor"];
        all.extend_from_slice(args);
        Instance::start("local", data_dir, &all)
    }

    /// Starts `logstash-mesos local` with its in-process executor, which
    /// touches only the containers labelled with `scope`.
    pub fn local_with_executor(data_dir: &Path, scope: &docker::Scope, args: &[&str]) -> Instance {
        Instance::local_with_executor_env(data_dir, scope, args, &[])
    }

    /// [`Instance::local_with_executor`] with extra environment variables.
    pub fn local_with_executor_env(
        data_dir: &Path,
        scope: &docker::Scope,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Instance {
        let label = scope.require_label();
        let mut all = vec!["--require-label", &label];
        all.extend_from_slice(args);
        Instance::start_at("local", "127.0.0.1:0", data_dir, &all, "warn", env)
    }

    /// Starts `logstash-mesos scheduler` the same way.
    pub fn scheduler(data_dir: &Path, args: &[&str]) -> Instance {
        Instance::start("scheduler", data_dir, args)
    }

    /// Starts `logstash-mesos scheduler` on a fixed address (a cluster
    /// replica: the others know it by that address, also after a restart).
    /// `log` is its `RUST_LOG` unless `TEST_RUST_LOG` is set.
    pub fn scheduler_at(listen: &str, data_dir: &Path, args: &[&str], log: &str) -> Instance {
        Instance::start_at("scheduler", listen, data_dir, args, log, &[])
    }

    /// Starts `logstash-mesos local --no-executor` with extra environment
    /// variables too.
    pub fn local_with_env(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Instance {
        let mut all = vec!["--no-executor"];
        all.extend_from_slice(args);
        Instance::start_at("local", "127.0.0.1:0", data_dir, &all, "warn", env)
    }

    fn start(subcommand: &'static str, data_dir: &Path, args: &[&str]) -> Instance {
        Instance::start_at(subcommand, "127.0.0.1:0", data_dir, args, "warn", &[])
    }

    fn start_at(
        subcommand: &'static str,
        listen: &str,
        data_dir: &Path,
        args: &[&str],
        log: &str,
        env: &[(&str, &str)],
    ) -> Instance {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let (child, base) = spawn(subcommand, listen, data_dir, &args, log, &env);
        Instance {
            child: Some(child),
            base,
            data_dir: data_dir.to_path_buf(),
            subcommand,
            listen: listen.to_owned(),
            args,
            log: log.to_owned(),
            env,
        }
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Sends a signal (`STOP`, `CONT`, ...) to the process.
    pub fn signal(&self, name: &str) {
        let pid = self.pid().expect("the process runs");
        let status = Command::new("kill")
            .args([&format!("-{name}"), &pid.to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{name} {pid}");
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base.trim_end_matches('/'), path)
    }

    /// Kills the process with SIGKILL: no shutdown code runs.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("kill -9");
            child.wait().expect("reap");
        }
    }

    /// Stops the process with SIGTERM and waits for a clean exit.
    pub fn terminate(&mut self) {
        if let Some(mut child) = self.child.take() {
            let status = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .expect("kill -TERM");
            assert!(status.success());
            let exit = child.wait().expect("reap");
            assert!(exit.success(), "exit status after SIGTERM: {exit}");
        }
    }

    /// Starts the process again on the same data directory (a new port).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop the process first");
        let (child, base) = spawn(
            self.subcommand,
            &self.listen,
            &self.data_dir,
            &self.args,
            &self.log,
            &self.env,
        );
        self.child = Some(child);
        self.base = base;
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // A paused process dies of SIGKILL too; resume it anyway so
            // nothing is left stopped if the kill races.
            let _ = Command::new("kill")
                .args(["-CONT", &child.id().to_string()])
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn spawn(
    subcommand: &str,
    listen: &str,
    data_dir: &Path,
    args: &[String],
    log: &str,
    env: &[(String, String)],
) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_logstash-mesos"))
        .arg(subcommand)
        .arg("--listen")
        .arg(listen)
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env(
            "RUST_LOG",
            std::env::var("TEST_RUST_LOG").unwrap_or_else(|_| log.into()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start logstash-mesos");
    let stdout = child.stdout.take().expect("stdout");
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    reader.read_line(&mut line).expect("read the URL line");
    // Keep draining, so a later line on stdout never meets a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    let base = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_owned();
    (child, base)
}

/// GET a JSON document from an instance.
pub async fn get_json(instance: &Instance, path: &str) -> Value {
    mesos::get_json(&instance.url(path)).await
}

/// GET a text document (e.g. `/metrics`) from an instance.
pub async fn get_text(instance: &Instance, path: &str) -> String {
    client()
        .get(instance.url(path))
        .send()
        .await
        .expect("GET")
        .text()
        .await
        .expect("body")
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("http client")
}

/// A response's status and body, parsed as JSON when it is JSON.
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub json: Value,
}

impl Answer {
    pub async fn of(response: reqwest::Response) -> Answer {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer {
            status,
            headers,
            json,
        }
    }

    pub fn error_code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or("")
    }
}

/// Percent-encodes a config name for a URL path segment.
pub fn encode(name: &str) -> String {
    let mut out = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

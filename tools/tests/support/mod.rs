//! Helpers for the event tool tests: a replica running in this process (the
//! real journal and API on a real socket), the tool binary, and an HTTP
//! client.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use logstash_mesos::api::Tokens;
use logstash_mesos::journal::ClusterConfig;
use logstash_mesos::journal::JournalError;
use logstash_mesos::journal::offline::DataDir;
use logstash_mesos::server::{Server, ServerConfig};
use logstash_mesos::state::HostPathPolicy;
use serde_json::Value;

pub const TOKEN: &str = "s3cret-for-the-tools";

/// A replica with its API on an ephemeral port; reads and writes need [`TOKEN`]
/// (an admin token: the history the tests write includes the host config).
pub struct Replica {
    pub server: Server,
    pub url: String,
    pub data_dir: PathBuf,
}

impl Replica {
    pub async fn start(data_dir: &Path) -> Replica {
        let tokens =
            Tokens::load(&[format!("ops:{TOKEN}:admin")], &[] as &[PathBuf], true).expect("token");
        let server = Server::start(ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: data_dir.to_path_buf(),
            tokens,
            cluster: ClusterConfig::default(),
            raft_listen: None,
            config_dir: None,
            host_paths: HostPathPolicy::default(),
            ui: false,
            http: Default::default(),
        })
        .await
        .expect("replica starts");
        let url = format!("http://{}", server.addr);
        Replica {
            server,
            url,
            data_dir: data_dir.to_path_buf(),
        }
    }

    /// Stops the replica and waits until its data directory is free.
    pub async fn stop(self) {
        self.server.shutdown();
        self.server.wait().await.expect("replica stops cleanly");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match DataDir::open(&self.data_dir) {
                Err(JournalError::Locked(_)) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await
                }
                Err(JournalError::Locked(_)) => panic!("the data directory stays locked"),
                _ => return,
            }
        }
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        request(reqwest::Method::GET, &self.url, path, None).await
    }

    pub async fn send(&self, method: &str, path: &str, body: Value) -> (u16, Value) {
        request(method.parse().unwrap(), &self.url, path, Some(body)).await
    }
}

pub async fn request(
    method: reqwest::Method,
    base: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let client = reqwest::Client::new();
    let mut request = client
        .request(method, format!("{base}{path}"))
        .bearer_auth(TOKEN)
        .timeout(Duration::from_secs(10));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Runs `logstash-mesos-events` with `args`.
pub fn tool(args: &[&str]) -> Output {
    tool_with_input(args, None)
}

pub fn tool_with_input(args: &[&str], stdin: Option<&[u8]>) -> Output {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_logstash-mesos-events"))
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the tool runs");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input).expect("stdin");
    }
    child.wait_with_output().expect("the tool ends")
}

/// The tool's stdout, after checking it succeeded.
pub fn ok(args: &[&str]) -> String {
    let out = tool(args);
    assert!(
        out.status.success(),
        "{args:?} failed ({:?}): {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

//! A wiretap between replicas: a TCP listener that records every byte it
//! receives and every HTTP request in it, and either forwards them to a
//! real replica or, with no backend, never answers (a stranger's listener
//! added as a member). It can cut the line after a number of requests, for
//! a replica that answers who it is and then falls silent.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

#[derive(Default)]
struct Recording {
    /// Everything received from callers and (when forwarding) answered.
    bytes: Vec<u8>,
    /// Each complete HTTP request from a caller, as it came.
    requests: Vec<Vec<u8>>,
}

pub struct Wiretap {
    /// `host:port` to give out as the replica's address.
    pub addr: String,
    recording: Arc<Mutex<Recording>>,
    stop: CancellationToken,
}

/// The length of the first complete HTTP message (request or answer) in
/// `buffer`, if there is one: head and `Content-Length` body.
fn request_len(buffer: &[u8]) -> Option<usize> {
    let head = buffer.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let text = String::from_utf8_lossy(&buffer[..head]).to_ascii_lowercase();
    let body = text
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    (buffer.len() >= head + body).then_some(head + body)
}

impl Wiretap {
    /// Listens on a free loopback port; forwards to `backend` when given,
    /// passing at most `pass` requests (then every connection is cut).
    pub async fn start(backend: Option<String>, pass: usize) -> Wiretap {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address").to_string();
        let recording = Arc::new(Mutex::new(Recording::default()));
        let stop = CancellationToken::new();
        let passed = Arc::new(AtomicUsize::new(0));
        let (rec, stopped) = (recording.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                let socket = tokio::select! {
                    _ = stopped.cancelled() => return,
                    accepted = listener.accept() => match accepted {
                        Ok((s, _)) => s,
                        Err(_) => continue,
                    },
                };
                let (rec, stopped, backend, passed) = (
                    rec.clone(),
                    stopped.clone(),
                    backend.clone(),
                    passed.clone(),
                );
                tokio::spawn(async move {
                    tokio::select! {
                        _ = stopped.cancelled() => {}
                        _ = relay(socket, backend, rec, passed, pass) => {}
                    }
                });
            }
        });
        Wiretap {
            addr,
            recording,
            stop,
        }
    }

    /// Every byte seen so far, both ways.
    pub fn bytes(&self) -> Vec<u8> {
        self.recording.lock().unwrap().bytes.clone()
    }

    /// The complete requests seen so far.
    pub fn requests(&self) -> Vec<Vec<u8>> {
        self.recording.lock().unwrap().requests.clone()
    }
}

impl Drop for Wiretap {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn relay(
    caller: TcpStream,
    backend: Option<String>,
    recording: Arc<Mutex<Recording>>,
    passed: Arc<AtomicUsize>,
    pass: usize,
) {
    match backend {
        Some(addr) => {
            if let Ok(server) = TcpStream::connect(addr).await {
                forward(caller, server, recording, passed, pass).await;
            }
        }
        None => swallow(caller, recording).await,
    }
}

/// Records requests and passes them on while the budget lasts, and the
/// answers back.
async fn forward(
    mut caller: TcpStream,
    mut server: TcpStream,
    recording: Arc<Mutex<Recording>>,
    passed: Arc<AtomicUsize>,
    pass: usize,
) {
    let (mut from_server, mut to_server) = server.split();
    let mut pending = Vec::new();
    let mut up = vec![0u8; 64 * 1024];
    let mut down = vec![0u8; 64 * 1024];
    loop {
        tokio::select! {
            n = caller.read(&mut up) => {
                let n = match n { Ok(0) | Err(_) => return, Ok(n) => n };
                recording.lock().unwrap().bytes.extend_from_slice(&up[..n]);
                pending.extend_from_slice(&up[..n]);
                while let Some(len) = request_len(&pending) {
                    let request: Vec<u8> = pending.drain(..len).collect();
                    recording.lock().unwrap().requests.push(request.clone());
                    if passed.fetch_add(1, Ordering::SeqCst) >= pass
                        || to_server.write_all(&request).await.is_err()
                    {
                        return;
                    }
                }
            }
            n = from_server.read(&mut down) => {
                let n = match n { Ok(0) | Err(_) => return, Ok(n) => n };
                recording.lock().unwrap().bytes.extend_from_slice(&down[..n]);
                if caller.write_all(&down[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Records what arrives and never answers.
async fn swallow(mut caller: TcpStream, recording: Arc<Mutex<Recording>>) {
    let mut pending = Vec::new();
    let mut up = vec![0u8; 64 * 1024];
    loop {
        let n = match tokio::time::timeout(Duration::from_secs(120), caller.read(&mut up)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return,
            Ok(Ok(n)) => n,
        };
        let mut rec = recording.lock().unwrap();
        rec.bytes.extend_from_slice(&up[..n]);
        pending.extend_from_slice(&up[..n]);
        while let Some(len) = request_len(&pending) {
            rec.requests.push(pending.drain(..len).collect());
        }
    }
}

/// Sends `request` as it is to `addr` and returns the answer's status and body.
pub async fn send_raw(addr: &str, request: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("send");
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    let read = async {
        loop {
            if let Some(len) = request_len(&answer) {
                answer.truncate(len);
                return;
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => answer.extend_from_slice(&chunk[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("an answer in time");
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

//! Raw HTTP/1.1 over TCP, for what a well-behaved client never sends:
//! forged `Host` headers, invented methods, half-sent heads, idle
//! connections from chosen source addresses.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use super::Instance;

/// The instance's listening address.
pub fn addr(instance: &Instance) -> SocketAddr {
    instance
        .base
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .expect("an address in the base URL")
}

/// A connection to `to` from the local address `from` (any of 127.0.0.0/8
/// works on loopback, so tests can play several clients).
pub async fn connect_from(from: IpAddr, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.bind(SocketAddr::new(from, 0)).expect("bind");
    socket.connect(to).await.expect("connect")
}

/// Sends `request` as written and reads the answer until the server closes
/// the connection (send `Connection: close`), at most `limit`.
pub async fn exchange(stream: &mut TcpStream, request: &str, limit: Duration) -> String {
    stream.write_all(request.as_bytes()).await.expect("write");
    read_until_closed(stream, limit).await
}

/// Everything the server sends until it closes the connection or `limit`
/// passes.
pub async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> String {
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(limit, stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// One request on a fresh connection from 127.0.0.1.
pub async fn request(instance: &Instance, request: &str) -> String {
    let mut stream = TcpStream::connect(addr(instance)).await.expect("connect");
    exchange(&mut stream, request, Duration::from_secs(20)).await
}

/// The status code of a raw answer (0 for none).
pub fn status(answer: &str) -> u16 {
    answer
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

//! Accepting connections within bounds: a cap on open connections in all
//! and from one address, and a limit on the time a client may take to send
//! a request's head (which also closes idle keep-alive connections).
//!
//! Without them, idle or half-sent connections hold file descriptors and
//! memory until the process can no longer answer `/health`, take writes or
//! replicate. A connection over a cap is answered at once with a short
//! `503` (all connections) or `429` (one address) and closed.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::backoff::Backoff;

/// How long open connections may take to finish after shutdown begins.
const DRAIN: Duration = Duration::from_secs(10);

/// Bounds on the connections one listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Open connections in all.
    pub max: usize,
    /// Open connections from one IP address (0: no limit of its own).
    pub per_ip: usize,
    /// Longest time to receive a request's head, also between requests.
    pub header_read_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max: 512,
            per_ip: 64,
            header_read_timeout: Duration::from_secs(10),
        }
    }
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Over {
    Total,
    PerIp,
}

/// Open connections, in all and per address.
#[derive(Debug, Default)]
struct Open {
    total: usize,
    by_ip: HashMap<IpAddr, usize>,
}

/// Decides whether one more connection from `ip` fits, and counts it if so.
fn admit(open: &mut Open, limits: &ConnectionLimits, ip: IpAddr) -> Result<(), Over> {
    if open.total >= limits.max {
        return Err(Over::Total);
    }
    let mine = open.by_ip.entry(ip).or_default();
    if limits.per_ip > 0 && *mine >= limits.per_ip {
        return Err(Over::PerIp);
    }
    *mine += 1;
    open.total += 1;
    Ok(())
}

fn release(open: &mut Open, ip: IpAddr) {
    open.total = open.total.saturating_sub(1);
    if let Some(n) = open.by_ip.get_mut(&ip) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            open.by_ip.remove(&ip);
        }
    }
}

/// A counted connection; uncounted when dropped.
struct Admitted {
    open: Arc<Mutex<Open>>,
    ip: IpAddr,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        release(
            &mut self.open.lock().unwrap_or_else(|e| e.into_inner()),
            self.ip,
        );
    }
}

/// Serves `router` on `listener` within `limits` until `shutdown`, then
/// lets open connections finish for a while.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let open = Arc::new(Mutex::new(Open::default()));
    let closing = CancellationToken::new();
    let connections = TaskTracker::new();
    let mut pauses = Backoff::new(Duration::from_millis(10), Duration::from_secs(1))
        .without_jitter()
        .retries();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => {
                pauses.reset();
                accepted
            }
            Err(e) if is_per_connection(&e) => continue,
            Err(e) => {
                // Out of file descriptors or memory: wait, then try again.
                tracing::warn!(error = %e, "cannot accept connections; retrying");
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(pauses.next_delay()) => {}
                }
                continue;
            }
        };
        let admitted = admit(
            &mut open.lock().unwrap_or_else(|e| e.into_inner()),
            &limits,
            peer.ip(),
        );
        match admitted {
            Ok(()) => {
                let guard = Admitted {
                    open: open.clone(),
                    ip: peer.ip(),
                };
                connections.spawn(connection(
                    stream,
                    peer,
                    router.clone(),
                    limits.header_read_timeout,
                    closing.clone(),
                    guard,
                ));
            }
            Err(over) => refuse(stream, peer, over),
        }
    }
    drop(listener);
    closing.cancel();
    connections.close();
    if tokio::time::timeout(DRAIN, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!("connections still open {DRAIN:?} after shutdown began; closing them");
    }
    Ok(())
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    header_read_timeout: Duration,
    closing: CancellationToken,
    _admitted: Admitted,
) {
    let _ = stream.set_nodelay(true);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .keep_alive(true);
    let service = TowerToHyperService::new(router);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        _ = closing.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// Answers a connection over a cap without waiting on the client, and
/// closes it.
fn refuse(stream: TcpStream, peer: SocketAddr, over: Over) {
    let (status, what) = match over {
        Over::Total => ("503 Service Unavailable", "too many connections"),
        Over::PerIp => (
            "429 Too Many Requests",
            "too many connections from your address",
        ),
    };
    tracing::debug!(%peer, what, "connection refused");
    let body =
        format!("{{\"error\":{{\"code\":\"too_many_connections\",\"message\":\"{what}\"}}}}");
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\nretry-after: 1\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    // Best effort: a fresh socket's send buffer takes this at once.
    let _ = stream.try_write(response.as_bytes());
}

/// Errors about one connection (reset before it was accepted), not the
/// listener.
fn is_per_connection(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::ConnectionRefused
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_count_in_all_and_per_address() {
        let limits = ConnectionLimits {
            max: 3,
            per_ip: 2,
            header_read_timeout: Duration::from_secs(1),
        };
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let c: IpAddr = "10.0.0.3".parse().unwrap();
        let mut open = Open::default();
        assert_eq!(admit(&mut open, &limits, a), Ok(()));
        assert_eq!(admit(&mut open, &limits, a), Ok(()));
        assert_eq!(admit(&mut open, &limits, a), Err(Over::PerIp));
        assert_eq!(admit(&mut open, &limits, b), Ok(()));
        assert_eq!(admit(&mut open, &limits, c), Err(Over::Total));
        release(&mut open, a);
        assert_eq!(admit(&mut open, &limits, c), Ok(()));
        for ip in [a, b, c] {
            release(&mut open, ip);
        }
        assert_eq!(open.total, 0);
        assert!(
            open.by_ip.is_empty(),
            "no address is remembered once closed"
        );
        let unlimited = ConnectionLimits {
            per_ip: 0,
            ..limits
        };
        for _ in 0..3 {
            assert_eq!(admit(&mut open, &unlimited, a), Ok(()));
        }
    }
}

//! Raft RPCs between replicas, client side: binary (the journal codec) over
//! HTTP POST to `/raft/...` on the peer's member address, signed with the
//! cluster secret (`signing`); the answer must be signed too. The server side
//! is in `routes`.

use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::events::codec;

use super::signing::{Key, SIGNATURE_HEADER, Stamp};
use super::types::{Node, NodeId, TypeConfig};
use crate::events::time::now_millis;

pub const APPEND_PATH: &str = "/raft/append";
pub const VOTE_PATH: &str = "/raft/vote";
pub const SNAPSHOT_PATH: &str = "/raft/snapshot";
pub const FORWARD_PATH: &str = "/raft/forward";
/// Who is there? Answered with the replica's id (see `membership`).
pub const HELLO_PATH: &str = "/raft/hello";

pub const OCTET_STREAM: &str = "application/octet-stream";

/// Why a call to a peer failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PeerError {
    /// Not connected or no answer in time: the peer may be down or paused.
    #[error("replica at {addr} is unreachable: {reason}")]
    Unreachable { addr: String, reason: String },
    /// It answered, but not with what was asked for.
    #[error("replica at {addr} failed the call: {reason}")]
    Failed { addr: String, reason: String },
    /// It refused this replica's signature, or its answer is not signed
    /// with the cluster secret: it does not hold the same secret.
    #[error("the replica at {addr} does not hold this cluster's secret: {reason}")]
    NotAuthenticated { addr: String, reason: String },
    /// It is another replica than the one the call was for (421).
    #[error("the replica at {addr} is another replica: {reason}")]
    Misdirected { addr: String, reason: String },
}

/// The HTTP client shared by Raft RPCs and forwarded writes, signing every
/// call as this replica.
#[derive(Clone)]
pub struct Peers {
    http: reqwest::Client,
    key: Option<Key>,
    me: NodeId,
}

impl Peers {
    pub fn new(me: NodeId, key: Option<Key>) -> Peers {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(500))
            .pool_idle_timeout(Duration::from_secs(30))
            .tcp_nodelay(true)
            .no_proxy()
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Peers { http, key, me }
    }

    /// POSTs `body` to `path` on replica `to` at `addr` and decodes the
    /// answer, which must be signed for this request.
    pub async fn call<B: Serialize, R: DeserializeOwned>(
        &self,
        to: NodeId,
        addr: &str,
        path: &str,
        body: &B,
        timeout: Duration,
    ) -> Result<R, PeerError> {
        let failed = |reason: String| PeerError::Failed {
            addr: addr.to_owned(),
            reason,
        };
        let Some(key) = &self.key else {
            return Err(failed(
                "this replica has no cluster secret to sign calls with".into(),
            ));
        };
        let body = codec::encode(body);
        let stamp = Stamp::new(self.me, to, now_millis());
        let mut request = self
            .http
            .post(format!("http://{addr}{path}"))
            .timeout(timeout)
            .header(reqwest::header::CONTENT_TYPE, OCTET_STREAM);
        for (name, value) in key.request_headers("POST", path, &stamp, &body) {
            request = request.header(name, value);
        }
        let unreachable = |e: reqwest::Error| PeerError::Unreachable {
            addr: addr.to_owned(),
            reason: e.to_string(),
        };
        let response = request.body(body).send().await.map_err(unreachable)?;
        let status = response.status();
        let answer_signature = response
            .headers()
            .get(SIGNATURE_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = response.bytes().await.map_err(unreachable)?;
        let text = || String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned();
        let signed = answer_signature.is_some_and(|signature| {
            key.verify_response(stamp.nonce, status.as_u16(), &bytes, &signature)
        });
        if !signed && status == reqwest::StatusCode::MISDIRECTED_REQUEST {
            return Err(PeerError::Misdirected {
                addr: addr.to_owned(),
                reason: text(),
            });
        }
        if !signed {
            return Err(PeerError::NotAuthenticated {
                addr: addr.to_owned(),
                reason: if status.is_success() {
                    "its answer is not signed with the cluster secret".into()
                } else {
                    format!("it answered {status}: {}", text())
                },
            });
        }
        if !status.is_success() {
            return Err(failed(format!("{status}: {}", text())));
        }
        codec::decode(&bytes).map_err(|e| failed(e.to_string()))
    }
}

impl RaftNetworkFactory<TypeConfig> for Peers {
    type Network = Peer;

    async fn new_client(&mut self, target: NodeId, node: &Node) -> Peer {
        Peer {
            peers: self.clone(),
            target,
            addr: node.addr.clone(),
        }
    }
}

/// The connection to one peer, as openraft's replication uses it.
pub struct Peer {
    peers: Peers,
    target: NodeId,
    addr: String,
}

impl Peer {
    async fn rpc<B, R, E>(
        &self,
        path: &str,
        body: &B,
        timeout: Duration,
    ) -> Result<R, RPCError<NodeId, Node, RaftError<NodeId, E>>>
    where
        B: Serialize,
        R: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let answer: Result<R, RaftError<NodeId, E>> = self
            .peers
            .call(self.target, &self.addr, path, body, timeout)
            .await
            .map_err(|e| match &e {
                PeerError::Unreachable { .. } => RPCError::Unreachable(Unreachable::new(&e)),
                PeerError::Failed { .. }
                | PeerError::NotAuthenticated { .. }
                | PeerError::Misdirected { .. } => RPCError::Network(NetworkError::new(&e)),
            })?;
        answer.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetwork<TypeConfig> for Peer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, Node, RaftError<NodeId>>> {
        self.rpc(APPEND_PATH, &rpc, option.hard_ttl()).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, Node, RaftError<NodeId, InstallSnapshotError>>,
    > {
        self.rpc(SNAPSHOT_PATH, &rpc, option.hard_ttl()).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, Node, RaftError<NodeId>>> {
        self.rpc(VOTE_PATH, &rpc, option.hard_ttl()).await
    }

    fn backoff(&self) -> openraft::network::Backoff {
        // Retry an unreachable peer soon enough that a restarted replica is
        // caught up within a second, seldom enough not to spin.
        openraft::network::Backoff::new(std::iter::repeat(Duration::from_millis(250)))
    }
}

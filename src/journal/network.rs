//! Raft RPCs between replicas, client side: binary (the journal codec) over
//! HTTP POST to `/raft/...` on the peer's `--listen` address, with the cluster
//! secret as a bearer token. The server side is in `routes`.

use std::sync::Arc;
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

use super::types::{Node, NodeId, TypeConfig};

pub const APPEND_PATH: &str = "/raft/append";
pub const VOTE_PATH: &str = "/raft/vote";
pub const SNAPSHOT_PATH: &str = "/raft/snapshot";
pub const FORWARD_PATH: &str = "/raft/forward";

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
}

/// The HTTP client shared by Raft RPCs and forwarded writes.
#[derive(Clone)]
pub struct Peers {
    http: reqwest::Client,
    secret: Option<Arc<str>>,
}

impl Peers {
    pub fn new(secret: Option<Arc<str>>) -> Peers {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(500))
            .pool_idle_timeout(Duration::from_secs(30))
            .tcp_nodelay(true)
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Peers { http, secret }
    }

    /// POSTs `body` to `path` on the replica at `addr` and decodes the answer.
    pub async fn call<B: Serialize, R: DeserializeOwned>(
        &self,
        addr: &str,
        path: &str,
        body: &B,
        timeout: Duration,
    ) -> Result<R, PeerError> {
        let url = format!("http://{addr}{path}");
        let mut request = self
            .http
            .post(&url)
            .timeout(timeout)
            .header(reqwest::header::CONTENT_TYPE, OCTET_STREAM)
            .body(codec::encode(body));
        if let Some(secret) = &self.secret {
            request = request.bearer_auth(secret);
        }
        let unreachable = |e: reqwest::Error| PeerError::Unreachable {
            addr: addr.to_owned(),
            reason: e.to_string(),
        };
        let failed = |reason: String| PeerError::Failed {
            addr: addr.to_owned(),
            reason,
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(unreachable)?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned();
            return Err(failed(format!("{status}: {text}")));
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
            .call(&self.addr, path, body, timeout)
            .await
            .map_err(|e| match &e {
                PeerError::Unreachable { .. } => RPCError::Unreachable(Unreachable::new(&e)),
                PeerError::Failed { .. } => RPCError::Network(NetworkError::new(&e)),
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

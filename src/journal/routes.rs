//! Raft RPCs between replicas, server side: `/raft/append`, `/raft/vote`,
//! `/raft/snapshot` (openraft's own calls) and `/raft/forward` (writes,
//! membership changes and read indexes sent to the leader), merged into the
//! API listener by `server`. Bodies are the journal codec; every call needs
//! the cluster secret as a bearer token, and without a secret (a cluster of
//! one) every call is refused.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::events::codec;

use super::Journal;
use super::network::{APPEND_PATH, FORWARD_PATH, OCTET_STREAM, SNAPSHOT_PATH, VOTE_PATH};
use super::types::{Forward, TypeConfig};

/// Appends carry up to `max_payload_entries` entries and snapshot chunks
/// 1 MiB; configs are at most 1 MiB each, so this is room, not a target.
const MAX_RAFT_BODY: usize = 256 * 1024 * 1024;

/// The `/raft/` routes of this replica.
pub fn router(journal: Arc<Journal>) -> Router {
    Router::new()
        .route(APPEND_PATH, post(append))
        .route(VOTE_PATH, post(vote))
        .route(SNAPSHOT_PATH, post(snapshot))
        .route(FORWARD_PATH, post(forward))
        .layer(from_fn_with_state(journal.clone(), authenticate))
        .layer(DefaultBodyLimit::max(MAX_RAFT_BODY))
        .with_state(journal)
}

async fn authenticate(
    State(journal): State<Arc<Journal>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(secret) = journal.secret() else {
        return (
            StatusCode::FORBIDDEN,
            "this replica runs without a cluster secret and takes no Raft calls",
        )
            .into_response();
    };
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match presented {
        Some(token) if constant_time_eq(token.as_bytes(), secret.as_bytes()) => {
            next.run(request).await
        }
        _ => (StatusCode::UNAUTHORIZED, "wrong or missing cluster secret").into_response(),
    }
}

/// Compares without an early exit, so timing does not reveal the secret.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn decode<T: DeserializeOwned>(body: &Bytes) -> Result<T, String> {
    codec::decode(body).map_err(|e| e.to_string())
}

fn bad_request(reason: String) -> Response {
    (StatusCode::BAD_REQUEST, reason).into_response()
}

fn binary<T: Serialize>(value: &T) -> Response {
    ([(header::CONTENT_TYPE, OCTET_STREAM)], codec::encode(value)).into_response()
}

async fn append(State(journal): State<Arc<Journal>>, body: Bytes) -> Response {
    let request: openraft::raft::AppendEntriesRequest<TypeConfig> = match decode(&body) {
        Ok(r) => r,
        Err(e) => return bad_request(e),
    };
    binary(&journal.raft().append_entries(request).await)
}

async fn vote(State(journal): State<Arc<Journal>>, body: Bytes) -> Response {
    let request: openraft::raft::VoteRequest<u64> = match decode(&body) {
        Ok(r) => r,
        Err(e) => return bad_request(e),
    };
    binary(&journal.raft().vote(request).await)
}

async fn snapshot(State(journal): State<Arc<Journal>>, body: Bytes) -> Response {
    let request: openraft::raft::InstallSnapshotRequest<TypeConfig> = match decode(&body) {
        Ok(r) => r,
        Err(e) => return bad_request(e),
    };
    binary(&journal.raft().install_snapshot(request).await)
}

async fn forward(State(journal): State<Arc<Journal>>, body: Bytes) -> Response {
    let call: Forward = match decode(&body) {
        Ok(c) => c,
        Err(e) => return bad_request(e),
    };
    binary(&journal.answer_forward(call).await)
}

//! Raft RPCs between replicas, server side: `/raft/append`, `/raft/vote`,
//! `/raft/snapshot` (openraft's own calls), `/raft/forward` (writes,
//! membership changes and read indexes sent to the leader) and
//! `/raft/hello` (who is there, before a replica is added). Served beside the
//! API or on `--raft-listen` by `server`. Bodies are the journal codec.
//!
//! Every call must be signed with the cluster secret, fresh, not seen before
//! and meant for this replica (`signing`); every answer to such a call is
//! signed in turn. Without a secret (a cluster of one) every call is
//! refused.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::events::codec;

use super::Journal;
use super::network::{
    APPEND_PATH, FORWARD_PATH, HELLO_PATH, OCTET_STREAM, SNAPSHOT_PATH, VOTE_PATH,
};
use super::signing::{
    BODY_HEADER, FROM_HEADER, NONCE_HEADER, SIGNATURE_HEADER, Stamp, TIME_HEADER, TO_HEADER,
    body_digest,
};
use super::types::{Forward, Hello, TypeConfig};

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
        .route(HELLO_PATH, post(hello))
        .route_layer(from_fn_with_state(journal.clone(), authenticate))
        .route_layer(DefaultBodyLimit::max(MAX_RAFT_BODY))
        .with_state(journal)
}

fn refuse(status: StatusCode, reason: impl Into<String>) -> Response {
    (status, reason.into()).into_response()
}

/// A call's stamp, body digest and signature, from its headers.
fn signed_headers(headers: &HeaderMap) -> Option<(Stamp, String, String)> {
    let value = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let stamp = Stamp::parse(
        value(FROM_HEADER)?,
        value(TO_HEADER)?,
        value(TIME_HEADER)?,
        value(NONCE_HEADER)?,
    )?;
    Some((
        stamp,
        value(BODY_HEADER)?.to_owned(),
        value(SIGNATURE_HEADER)?.to_owned(),
    ))
}

/// Checks the call's signature, addressee and freshness (from its headers,
/// before its body is read) and then its body, before it reaches a handler;
/// signs the handler's answer.
async fn authenticate(
    State(journal): State<Arc<Journal>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(key) = journal.key() else {
        return refuse(
            StatusCode::FORBIDDEN,
            "this replica runs without a cluster secret and takes no Raft calls",
        );
    };
    let (parts, body) = request.into_parts();
    let Some((stamp, digest, signature)) = signed_headers(&parts.headers) else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "a Raft call must be signed with the cluster secret",
        );
    };
    let path = parts.uri.path();
    if !key.verify_request(parts.method.as_str(), path, &stamp, &digest, &signature) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "the call is not signed with this cluster's secret",
        );
    }
    if stamp.to != journal.node_id() {
        return refuse(
            StatusCode::MISDIRECTED_REQUEST,
            format!(
                "the call is for replica {}; this is replica {}",
                stamp.to,
                journal.node_id()
            ),
        );
    }
    if let Err(refusal) = journal.accept_nonce(stamp.time_ms, stamp.nonce) {
        tracing::warn!(from = stamp.from, %refusal, "refused a Raft call");
        return refuse(StatusCode::UNAUTHORIZED, refusal.to_string());
    }
    let Ok(bytes) = axum::body::to_bytes(body, MAX_RAFT_BODY).await else {
        return refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the body is too large or broken",
        );
    };
    if body_digest(&bytes) != digest {
        return refuse(StatusCode::BAD_REQUEST, "the body is not the one signed");
    }
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return refuse(StatusCode::INTERNAL_SERVER_ERROR, "the answer broke");
    };
    let signature = key.sign_response(stamp.nonce, parts.status.as_u16(), &bytes);
    if let Ok(value) = HeaderValue::from_str(&signature) {
        parts.headers.insert(SIGNATURE_HEADER, value);
    }
    Response::from_parts(parts, Body::from(bytes))
}

fn decode<T: DeserializeOwned>(body: &Bytes) -> Result<T, String> {
    codec::decode(body).map_err(|e| e.to_string())
}

fn bad_request(reason: String) -> Response {
    refuse(StatusCode::BAD_REQUEST, reason)
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

async fn hello(State(journal): State<Arc<Journal>>) -> Response {
    binary(&Hello {
        id: journal.node_id(),
    })
}

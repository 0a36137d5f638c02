//! The Raft cluster of scheduler replicas: `GET /api/cluster`,
//! `POST /api/cluster/members`, `DELETE /api/cluster/members/{id}`, and the
//! `?consistent=true` read barrier every read route accepts.

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::journal::{ClusterStatus, MembershipError};

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::JsonBody;

#[derive(Debug, Serialize, ToSchema)]
pub struct ClusterJson {
    /// The replica that answered.
    pub id: u64,
    /// Its Raft role: `Leader`, `Follower`, `Candidate`, `Learner`.
    pub state: String,
    pub leader: Option<u64>,
    pub term: u64,
    pub last_log_index: Option<u64>,
    pub commit_index: Option<u64>,
    pub applied_index: Option<u64>,
    pub snapshot_index: Option<u64>,
    pub purged_index: Option<u64>,
    /// Seq of the last event in this replica's history.
    pub last_seq: u64,
    /// Every member; `matched_index` and `lag` (log entries behind the
    /// leader) as the leader sees them.
    pub members: Vec<MemberJson>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberJson {
    pub id: u64,
    /// `host:port` of its API and Raft listener.
    pub addr: String,
    /// Voters elect the leader; learners only receive the log.
    pub voter: bool,
    pub matched_index: Option<u64>,
    pub lag: Option<u64>,
}

impl From<ClusterStatus> for ClusterJson {
    fn from(s: ClusterStatus) -> Self {
        ClusterJson {
            id: s.id,
            state: s.state,
            leader: s.leader,
            term: s.term,
            last_log_index: s.last_log_index,
            commit_index: s.commit_index,
            applied_index: s.applied_index,
            snapshot_index: s.snapshot_index,
            purged_index: s.purged_index,
            last_seq: s.last_seq,
            members: s
                .members
                .into_iter()
                .map(|m| MemberJson {
                    id: m.id,
                    addr: m.addr,
                    voter: m.voter,
                    matched_index: m.matched_index,
                    lag: m.lag,
                })
                .collect(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewMember {
    /// The new replica's `--node-id`.
    pub id: u64,
    /// `host:port` at which the other replicas reach it (its `--listen`).
    pub addr: String,
}

/// The replicas, the leader, the term, commit and applied index, and each
/// member's lag.
#[utoipa::path(get, path = "/api/cluster", responses((status = 200, body = ClusterJson)))]
pub async fn status(State(app): State<AppState>) -> Json<ClusterJson> {
    Json(app.journal.cluster_status().await.into())
}

/// Add a replica: it joins as a learner, catches up, then becomes a voter.
/// Start it first, with the cluster secret and `--peers` naming the current
/// members and itself; with a higher id than the lowest member it waits to
/// be added instead of forming a cluster of its own.
#[utoipa::path(post, path = "/api/cluster/members", request_body = NewMember,
    responses((status = 200, body = ClusterJson), (status = 409, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn add(
    State(app): State<AppState>,
    JsonBody(member): JsonBody<NewMember>,
) -> Result<Json<ClusterJson>, ApiError> {
    if member
        .addr
        .rsplit_once(':')
        .is_none_or(|(host, port)| host.is_empty() || port.parse::<u16>().is_err())
    {
        return Err(ApiError::bad_request(
            "invalid_member",
            "addr must be HOST:PORT",
        ));
    }
    app.journal
        .add_member(member.id, member.addr)
        .await
        .map_err(membership_error)?;
    Ok(Json(app.journal.cluster_status().await.into()))
}

/// Remove a replica from the cluster.
#[utoipa::path(delete, path = "/api/cluster/members/{id}", params(("id" = u64, Path)),
    responses((status = 200, body = ClusterJson), (status = 409, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn remove(
    State(app): State<AppState>,
    Path(id): Path<u64>,
) -> Result<Json<ClusterJson>, ApiError> {
    app.journal
        .remove_member(id)
        .await
        .map_err(membership_error)?;
    Ok(Json(app.journal.cluster_status().await.into()))
}

fn membership_error(e: MembershipError) -> ApiError {
    let message = e.to_string();
    match e {
        MembershipError::Unavailable { leader_hint } => ApiError {
            leader_hint,
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "no_leader", message)
        },
        MembershipError::Refused(reason) => {
            ApiError::new(StatusCode::CONFLICT, "membership_refused", reason)
        }
    }
}

/// `?consistent=true` on a read: before it is answered, this replica applies
/// every write acknowledged before it arrived (a linearizable read, through
/// the leader's read index). Plain reads are answered from local state.
pub async fn consistent_reads(
    State(app): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let wanted = request.method() == Method::GET
        && request.uri().query().is_some_and(|q| {
            q.split('&')
                .any(|pair| matches!(pair, "consistent" | "consistent=true" | "consistent=1"))
        });
    if wanted && let Err(e) = app.journal.linearize().await {
        return ApiError::from(e).into_response();
    }
    next.run(request).await
}

//! API errors and their JSON form: `{"error": {"code": "...", "message": "..."}}`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::journal::{JournalError, SubmitError};
use crate::state::Rejection;

/// An error answer. `line` and `column` point into a refused Logstash config.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub position: Option<(u32, u32)>,
    pub leader_hint: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable error code, e.g. `not_found`, `invalid_config`.
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
    /// Where the leader may be reached, when this replica cannot accept writes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leader: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            position: None,
            leader_hint: None,
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "request failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the scheduler log",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (line, column) = self.position.unzip();
        let unavailable = self.status == StatusCode::SERVICE_UNAVAILABLE;
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
                line,
                column,
                leader: self.leader_hint,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if unavailable {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<Rejection> for ApiError {
    fn from(rejection: Rejection) -> Self {
        let message = rejection.to_string();
        match rejection {
            Rejection::InvalidName { .. } => ApiError::bad_request("invalid_name", message),
            Rejection::InvalidConfig { line, column, .. } => ApiError {
                position: Some((line, column)),
                ..ApiError::bad_request("invalid_config", message)
            },
            Rejection::UnknownPlugin { line, column, .. } => ApiError {
                position: Some((line, column)),
                ..ApiError::bad_request("unknown_plugin", message)
            },
            Rejection::PortTaken { .. } => {
                ApiError::new(StatusCode::CONFLICT, "port_taken", message)
            }
            Rejection::AlreadyExists { .. } => {
                ApiError::new(StatusCode::CONFLICT, "already_exists", message)
            }
            Rejection::NotFound { .. } => ApiError::not_found(message),
            Rejection::VersionNotFound { .. } => {
                ApiError::new(StatusCode::NOT_FOUND, "version_not_found", message)
            }
            Rejection::VersionIsDeletion { .. } => {
                ApiError::new(StatusCode::CONFLICT, "version_is_deletion", message)
            }
            Rejection::ManagedByConfigDir { .. } => {
                ApiError::new(StatusCode::CONFLICT, "managed_by_config_dir", message)
            }
            Rejection::WrongKind { .. } => {
                ApiError::new(StatusCode::CONFLICT, "wrong_kind", message)
            }
            Rejection::ActorNotAllowed { .. } => {
                ApiError::new(StatusCode::FORBIDDEN, "actor_not_allowed", message)
            }
            Rejection::Malformed { .. } => ApiError::bad_request("malformed_command", message),
        }
    }
}

impl From<SubmitError> for ApiError {
    fn from(error: SubmitError) -> Self {
        match error {
            SubmitError::Rejected(rejection) => rejection.into(),
            SubmitError::Unavailable { leader_hint } => ApiError {
                leader_hint,
                ..ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "no_leader",
                    "no leader is available to accept writes; retry shortly",
                )
            },
            SubmitError::Storage(e) => ApiError::internal(e),
        }
    }
}

impl From<JournalError> for ApiError {
    fn from(error: JournalError) -> Self {
        ApiError::internal(error)
    }
}

//! The host-level config (`GET|PUT /api/host-config`): one config, named `ui`
//! as in the original, applied on every agent, whose `host-path` settings name
//! files on the agents themselves. PUT takes JSON or, as the original GUI sent
//! it, a form (also as POST with `_method=PUT`).

use axum::Json;
use axum::extract::{Extension, FromRequest, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::events::time::to_rfc3339;
use crate::events::{Command, ConfigKind};

use super::AppState;
use super::auth::Principal;
use super::error::{ApiError, ErrorBody};
use super::extract::JsonBody;

/// The host config's name, kept from the original framework.
pub const HOST_CONFIG_NAME: &str = "ui";

#[derive(Debug, Serialize, ToSchema)]
pub struct HostConfigJson {
    pub name: String,
    /// The Logstash snippet; empty when none is set.
    pub input: String,
    /// Absent until one is set.
    pub version: Option<u32>,
    pub updated_at: Option<String>,
    pub updated_by: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct HostConfigUpdate {
    pub input: String,
    /// Accepted for compatibility and ignored.
    #[allow(dead_code)]
    pub name: Option<String>,
    /// `PUT` when a form is POSTed by the original GUI.
    #[serde(rename = "_method")]
    #[allow(dead_code)]
    pub method: Option<String>,
}

/// The host-level config.
#[utoipa::path(get, path = "/api/host-config", responses((status = 200, body = HostConfigJson)))]
pub async fn get(State(app): State<AppState>) -> Json<HostConfigJson> {
    Json(current(&app))
}

/// Set the host-level config (JSON `{"input": ...}` or a form with `input`).
#[utoipa::path(put, path = "/api/host-config", request_body = HostConfigUpdate,
    responses((status = 200, body = HostConfigJson), (status = 400, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn put(
    State(app): State<AppState>,
    Extension(Principal(actor)): Extension<Principal>,
    request: Request,
) -> Result<Response, ApiError> {
    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let update = if is_form {
        axum::Form::<HostConfigUpdate>::from_request(request, &())
            .await
            .map(|axum::Form(u)| u)
            .map_err(|e| match e.status() {
                StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    e.body_text(),
                ),
                _ => ApiError::bad_request("malformed_form", e.body_text()),
            })?
    } else {
        JsonBody::<HostConfigUpdate>::from_request(request, &())
            .await?
            .0
    };
    app.host_paths.check(ConfigKind::Host, &update.input)?;
    let exists = app
        .journal
        .read(|s| s.configs.current(HOST_CONFIG_NAME).is_some());
    let command = if exists {
        Command::UpdateConfig {
            name: HOST_CONFIG_NAME.into(),
            input: update.input,
        }
    } else {
        Command::CreateConfig {
            name: HOST_CONFIG_NAME.into(),
            kind: ConfigKind::Host,
            input: update.input,
        }
    };
    app.journal.submit(actor, command).await?;
    Ok(Json(current(&app)).into_response())
}

fn current(app: &AppState) -> HostConfigJson {
    app.journal.read(|s| {
        let config = s
            .configs
            .current(HOST_CONFIG_NAME)
            .filter(|c| c.kind == ConfigKind::Host);
        HostConfigJson {
            name: HOST_CONFIG_NAME.into(),
            input: config
                .as_ref()
                .map_or_else(String::new, |c| c.input.to_owned()),
            version: config.as_ref().map(|c| c.version.version),
            updated_at: config.as_ref().map(|c| to_rfc3339(c.version.at)),
            updated_by: config.as_ref().map(|c| c.version.actor.to_string()),
        }
    })
}

/// The configuration directory and how each of its files fared.
#[utoipa::path(get, path = "/api/config-dir", responses((status = 200, description = "directory status")))]
pub async fn config_dir(State(app): State<AppState>) -> Response {
    let status = app.config_dir.read().map(|s| s.clone()).unwrap_or_default();
    Json(status).into_response()
}

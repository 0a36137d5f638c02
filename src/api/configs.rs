//! The config API: the seed's routes, history, time travel and revert.

use axum::extract::{Extension, OriginalUri, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, http::Uri};
use percent_encoding::percent_decode_str;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::events::time::Point;
use crate::events::{Command, ConfigKind};

use super::AppState;
use super::auth::Principal;
use super::error::{ApiError, ErrorBody};
use super::extract::{JsonBody, QueryParams};
use crate::views::{
    ConfigJson, ConfigUpdate, Deleted, HistoryJson, NewConfig, RevertRequest, ValidateRequest,
    Validated, name_in_path,
};

/// Header carrying the seq of the log position an answer reflects.
pub const SEQ_HEADER: &str = "x-logstash-mesos-seq";

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// A seq or an RFC 3339 time: list the configs as they were then.
    at: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NameQuery {
    /// The config name (the seed's query form, for names with `/`).
    name: String,
}

/// List the configs in force, now or at an earlier point.
#[utoipa::path(get, path = "/api/configs", operation_id = "list_configs", params(ListQuery),
    responses((status = 200, body = [ConfigJson]), (status = 400, body = ErrorBody)))]
pub async fn list(
    State(app): State<AppState>,
    QueryParams(query): QueryParams<ListQuery>,
) -> Result<Response, ApiError> {
    let seq = match query.at.as_deref() {
        None => None,
        Some(at) => Some(resolve_point(&app, at)?),
    };
    let (seq, configs) = app.journal.read(|state| {
        let seq = seq.unwrap_or(state.last_seq);
        let configs: Vec<ConfigJson> = state
            .configs
            .as_of(seq)
            .filter(|c| c.kind == ConfigKind::Docker)
            .map(ConfigJson::from)
            .collect();
        (seq, configs)
    });
    Ok(with_seq(seq, Json(configs)))
}

/// Create a config; its name must not be in use.
#[utoipa::path(post, path = "/api/configs", request_body = NewConfig,
    responses((status = 201, body = ConfigJson), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub async fn create(
    State(app): State<AppState>,
    Extension(Principal(actor)): Extension<Principal>,
    JsonBody(body): JsonBody<NewConfig>,
) -> Result<Response, ApiError> {
    crate::state::validate_name(&body.name)?;
    app.host_paths.check(ConfigKind::Docker, &body.input)?;
    let command = Command::CreateConfig {
        name: body.name.clone(),
        kind: ConfigKind::Docker,
        input: body.input,
    };
    app.journal.submit(actor, command).await?;
    let config = current(&app, &body.name)?;
    let mut headers = HeaderMap::new();
    let location = format!("/api/configs/{}", name_in_path(&body.name));
    if let Ok(value) = HeaderValue::from_str(&location) {
        headers.insert(header::LOCATION, value);
    }
    Ok((StatusCode::CREATED, headers, Json(config)).into_response())
}

/// Replace a config's text (the seed's `?name=` form).
#[utoipa::path(put, path = "/api/configs", params(NameQuery), request_body = ConfigUpdate,
    responses((status = 200, body = ConfigJson), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn update_by_query(
    State(app): State<AppState>,
    principal: Extension<Principal>,
    QueryParams(query): QueryParams<NameQuery>,
    body: JsonBody<ConfigUpdate>,
) -> Result<Response, ApiError> {
    update(app, principal, query.name, body).await
}

/// Delete a config (the seed's `?name=` form). Its history stays readable.
#[utoipa::path(delete, path = "/api/configs", params(NameQuery),
    responses((status = 200, body = Deleted), (status = 404, body = ErrorBody)))]
pub async fn delete_by_query(
    State(app): State<AppState>,
    principal: Extension<Principal>,
    QueryParams(query): QueryParams<NameQuery>,
) -> Result<Response, ApiError> {
    delete(app, principal, query.name).await
}

/// Read one config. The name is URL-encoded (`mesos%2Flogstash%3A0.0.6`); a
/// name with unencoded `/` works too.
#[utoipa::path(get, path = "/api/configs/{name}", params(("name" = String, Path)),
    responses((status = 200, body = ConfigJson), (status = 404, body = ErrorBody)))]
pub async fn get_one(
    State(app): State<AppState>,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, ApiError> {
    match target(&uri)? {
        Target::Config(name) => Ok(Json(current(&app, &name)?).into_response()),
        Target::History(name) => history(app, name),
        Target::Revert(_) => Err(method_not_allowed()),
    }
}

/// Replace a config's text.
#[utoipa::path(put, path = "/api/configs/{name}", params(("name" = String, Path)),
    request_body = ConfigUpdate,
    responses((status = 200, body = ConfigJson), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn put_one(
    State(app): State<AppState>,
    OriginalUri(uri): OriginalUri,
    principal: Extension<Principal>,
    body: JsonBody<ConfigUpdate>,
) -> Result<Response, ApiError> {
    match target(&uri)? {
        Target::Config(name) => update(app, principal, name, body).await,
        _ => Err(method_not_allowed()),
    }
}

/// Delete a config. Its history stays readable.
#[utoipa::path(delete, path = "/api/configs/{name}", params(("name" = String, Path)),
    responses((status = 200, body = Deleted), (status = 404, body = ErrorBody)))]
pub async fn delete_one(
    State(app): State<AppState>,
    OriginalUri(uri): OriginalUri,
    principal: Extension<Principal>,
) -> Result<Response, ApiError> {
    match target(&uri)? {
        Target::Config(name) => delete(app, principal, name).await,
        _ => Err(method_not_allowed()),
    }
}

/// Make an earlier version current again; recorded as a new update.
#[utoipa::path(post, path = "/api/configs/{name}/revert", params(("name" = String, Path)),
    request_body = RevertRequest,
    responses((status = 200, body = ConfigJson), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn post_one(
    State(app): State<AppState>,
    OriginalUri(uri): OriginalUri,
    principal: Option<Extension<Principal>>,
    JsonBody(body): JsonBody<serde_json::Value>,
) -> Result<Response, ApiError> {
    match target(&uri)? {
        Target::Config(name) if name == VALIDATE => validate(&app, body),
        Target::Revert(name) => {
            let Some(Extension(Principal(actor))) = principal else {
                return Err(ApiError::internal(
                    "a write reached the handler unauthenticated",
                ));
            };
            let body: RevertRequest = from_body(body)?;
            ensure_docker(&app, &name)?;
            // The old text meets today's policy, or it is not restored.
            let old = app.journal.read(|s| {
                s.configs
                    .history(&name)
                    .and_then(|h| h.version(body.version))
                    .and_then(|v| v.input.clone())
            });
            if let Some(old) = old {
                app.host_paths.check(ConfigKind::Docker, &old)?;
            }
            let command = Command::RevertConfig {
                name: name.clone(),
                version: body.version,
            };
            app.journal.submit(actor, command).await?;
            Ok(Json(current(&app, &name)?).into_response())
        }
        _ => Err(method_not_allowed()),
    }
}

/// The last path segment of `POST /api/configs/validate`. Only POST is taken:
/// GET, PUT and DELETE of a config named `validate` work as for any name.
pub(super) const VALIDATE: &str = "validate";

/// Check a config without saving it: the name (if given) and the Logstash text,
/// exactly as a create or update (`kind: "docker"`, the default) or a host
/// config update (`kind: "host"`, with the `--host-path-allow` roots) would.
/// Changes nothing, so it needs a token only where reads do.
#[utoipa::path(post, path = "/api/configs/validate", request_body = ValidateRequest,
    responses((status = 200, body = Validated), (status = 400, body = ErrorBody)))]
fn validate(app: &AppState, body: serde_json::Value) -> Result<Response, ApiError> {
    let body: ValidateRequest = from_body(body)?;
    if let Some(name) = &body.name {
        crate::state::validate_name(name)?;
    }
    let kind = match body.kind.as_deref() {
        None | Some("docker") => ConfigKind::Docker,
        Some("host") => ConfigKind::Host,
        Some(other) => {
            return Err(ApiError::bad_request(
                "malformed_json",
                format!("kind must be \"docker\" or \"host\", not {other:?}"),
            ));
        }
    };
    app.host_paths.check(kind, &body.input)?;
    let parsed = crate::logstash::parse(&body.input)
        .map_err(|e| ApiError::internal(format!("validated config did not parse: {e:?}")))?;
    let docker_paths = crate::logstash::docker_paths(&parsed)
        .into_iter()
        .map(|p| p.value)
        .collect();
    let host_paths = crate::logstash::host_paths(&parsed)
        .into_iter()
        .map(|p| p.value)
        .collect();
    let plugins = crate::logstash::plugins(&parsed)
        .into_iter()
        .map(|p| p.name.clone())
        .collect();
    Ok(Json(Validated {
        valid: true,
        lines: body.input.lines().count(),
        docker_paths,
        host_paths,
        plugins,
    })
    .into_response())
}

fn from_body<T: serde::de::DeserializeOwned>(body: serde_json::Value) -> Result<T, ApiError> {
    serde_json::from_value(body)
        .map_err(|e| ApiError::bad_request("malformed_json", format!("the request body: {e}")))
}

/// Every version of a config, including deletions, oldest first.
#[utoipa::path(get, path = "/api/configs/{name}/history", operation_id = "config_history", params(("name" = String, Path)),
    responses((status = 200, body = HistoryJson), (status = 404, body = ErrorBody)))]
fn history(app: AppState, name: String) -> Result<Response, ApiError> {
    app.journal
        .read(|state| {
            state
                .configs
                .history(&name)
                .map(|h| (state.last_seq, HistoryJson::new(&name, h)))
        })
        .map(|(seq, body)| with_seq(seq, Json(body)))
        .ok_or_else(|| ApiError::not_found(format!("config {name:?} has no history")))
}

async fn update(
    app: AppState,
    Extension(Principal(actor)): Extension<Principal>,
    name: String,
    JsonBody(body): JsonBody<ConfigUpdate>,
) -> Result<Response, ApiError> {
    if let Some(other) = body.name.as_deref().filter(|n| *n != name) {
        return Err(ApiError::bad_request(
            "name_mismatch",
            format!(
                "the body names {other:?} but the URL names {name:?}; configs cannot be renamed"
            ),
        ));
    }
    crate::state::validate_name(&name)?;
    ensure_docker(&app, &name)?;
    app.host_paths.check(ConfigKind::Docker, &body.input)?;
    let command = Command::UpdateConfig {
        name: name.clone(),
        input: body.input,
    };
    app.journal.submit(actor, command).await?;
    Ok(Json(current(&app, &name)?).into_response())
}

async fn delete(
    app: AppState,
    Extension(Principal(actor)): Extension<Principal>,
    name: String,
) -> Result<Response, ApiError> {
    ensure_docker(&app, &name)?;
    let command = Command::DeleteConfig { name: name.clone() };
    let envelopes = app.journal.submit(actor, command).await?;
    let seq = envelopes.last().map_or(0, |e| e.seq);
    Ok(Json(Deleted {
        name,
        deleted: true,
        seq,
    })
    .into_response())
}

fn current(app: &AppState, name: &str) -> Result<ConfigJson, ApiError> {
    ensure_docker(app, name)?;
    app.journal
        .read(|state| state.configs.current(name).map(ConfigJson::from))
        .ok_or_else(|| ApiError::not_found(format!("config {name:?} does not exist")))
}

/// The config routes serve per-image configs only, as the seed did; host-level
/// configs have their own route.
fn ensure_docker(app: &AppState, name: &str) -> Result<(), ApiError> {
    let kind = app
        .journal
        .read(|state| state.configs.current(name).map(|c| c.kind));
    match kind {
        Some(ConfigKind::Host) => Err(ApiError::not_found(format!(
            "config {name:?} is a host-level config; use /api/host-config"
        ))),
        _ => Ok(()),
    }
}

/// Turns `?at=` into a seq: a seq as given, a time as the last event at or before it.
pub(super) fn resolve_point(app: &AppState, at: &str) -> Result<u64, ApiError> {
    let last = app.journal.last_seq();
    match Point::parse(at) {
        Some(Point::Seq(seq)) if seq <= last => Ok(seq),
        Some(Point::Seq(seq)) => Err(ApiError::bad_request(
            "invalid_point",
            format!("seq {seq} is beyond the last event ({last})"),
        )),
        Some(Point::Time(ms)) => Ok(app.journal.seq_at_time(ms)?),
        None => Err(ApiError::bad_request(
            "invalid_point",
            format!("{at:?} is neither a seq nor an RFC 3339 time"),
        )),
    }
}

fn with_seq(seq: u64, body: impl IntoResponse) -> Response {
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(SEQ_HEADER, HeaderValue::from(seq));
    response
}

fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this method is not allowed on this resource",
    )
}

/// What a path below `/configs/` names.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    Config(String),
    History(String),
    Revert(String),
}

/// Reads the config name from the raw (still percent-encoded) path, so that an
/// encoded `%2F` is part of the name while a literal `/history` suffix is not.
fn target(uri: &Uri) -> Result<Target, ApiError> {
    let path = uri.path();
    let rest = path
        .strip_prefix("/api")
        .unwrap_or(path)
        .strip_prefix("/configs/")
        .ok_or_else(|| ApiError::not_found("no such route"))?;
    let (raw, wrap): (&str, fn(String) -> Target) = if let Some(n) = rest.strip_suffix("/history") {
        (n, Target::History)
    } else if let Some(n) = rest.strip_suffix("/revert") {
        (n, Target::Revert)
    } else {
        (rest, Target::Config)
    };
    let name = percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| ApiError::bad_request("invalid_name", "the config name is not valid UTF-8"))?;
    crate::state::validate_name(&name)?;
    Ok(wrap(name.into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(path: &str) -> Result<Target, u16> {
        target(&path.parse().unwrap()).map_err(|e| e.status.as_u16())
    }

    #[test]
    fn names_are_encoded_for_a_path_segment() {
        assert_eq!(name_in_path("my/app:1 ü"), "my%2Fapp%3A1%20%C3%BC");
        assert_eq!(
            t(&format!("/api/configs/{}/history", name_in_path("a/b c"))),
            Ok(Target::History("a/b c".into()))
        );
    }

    #[test]
    fn names_come_from_the_raw_path() {
        let config = |n: &str| Ok(Target::Config(n.into()));
        assert_eq!(t("/api/configs/nginx"), config("nginx"));
        assert_eq!(t("/configs/nginx"), config("nginx"));
        assert_eq!(
            t("/api/configs/mesos%2Flogstash%3A0.0.6"),
            config("mesos/logstash:0.0.6")
        );
        assert_eq!(t("/api/configs/a/b/c"), config("a/b/c"));
        assert_eq!(
            t("/api/configs/a%2Fb/history"),
            Ok(Target::History("a/b".into()))
        );
        assert_eq!(t("/api/configs/x%2Fhistory"), config("x/history"));
        assert_eq!(t("/api/configs/x/revert"), Ok(Target::Revert("x".into())));
        assert_eq!(t("/api/configs/%C3%BCn%C3%AF"), config("ünï"));
        assert_eq!(t("/api/configs/100%25"), config("100%"));
        assert_eq!(t("/api/configs/%FF"), Err(400));
        assert_eq!(t("/api/configs/a%0Ab"), Err(400));
        assert_eq!(t("/api/configs/"), Err(400));
    }
}

//! Bearer-token authentication and roles. Each token has a label, recorded as
//! the actor of the events its requests cause (the secret is never stored in
//! the log), and a role: `read` may only read, `write` (the default) may also
//! change per-image configs, `admin` may also change the host config and the
//! cluster's membership.

use std::path::Path;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::events::Actor;

use super::error::ApiError;

/// Label used as the actor when the API runs without tokens.
pub const ANONYMOUS: &str = "anonymous";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token {0:?} must have the form label:secret, label:secret:read or label:secret:admin")]
    Malformed(String),
    #[error("token label {0:?} may hold only letters, digits, '.', '_', '@' and '-'")]
    BadLabel(String),
    #[error("token label {0:?} is given twice")]
    DuplicateLabel(String),
    #[error("cannot read token file {path}: {reason}")]
    File { path: String, reason: String },
}

/// What a token may do; each role may do what the ones before it may.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads, and `POST /api/configs/validate`.
    Read,
    /// Also creates, updates, reverts and deletes per-image configs.
    Write,
    /// Also sets the host config and adds or removes cluster members.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Write => "write",
            Role::Admin => "admin",
        }
    }
}

#[derive(Clone)]
struct Token {
    label: String,
    secret: String,
    role: Role,
}

/// The configured tokens, and whether reads need one too.
#[derive(Clone, Default)]
pub struct Tokens {
    tokens: Vec<Token>,
    protect_reads: bool,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let labels: Vec<&str> = self.tokens.iter().map(|t| t.label.as_str()).collect();
        f.debug_struct("Tokens")
            .field("labels", &labels)
            .field("protect_reads", &self.protect_reads)
            .finish()
    }
}

impl Tokens {
    /// Builds the token set from flags and token files (one token per line;
    /// blank lines and `#` comments are skipped). A token is `label:secret`
    /// (role `write`), `label:secret:read` or `label:secret:admin`; a secret
    /// may hold `:` as long as it does not end in `:read`, `:write` or `:admin`.
    pub fn load(
        flags: &[String],
        files: &[impl AsRef<Path>],
        protect_reads: bool,
    ) -> Result<Tokens, TokenError> {
        let mut tokens = Tokens {
            tokens: Vec::new(),
            protect_reads,
        };
        for flag in flags {
            tokens.add(flag)?;
        }
        for file in files {
            let path = file.as_ref();
            let text = std::fs::read_to_string(path).map_err(|e| TokenError::File {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
            for line in text.lines().map(str::trim) {
                if !line.is_empty() && !line.starts_with('#') {
                    tokens.add(line)?;
                }
            }
        }
        Ok(tokens)
    }

    fn add(&mut self, spec: &str) -> Result<(), TokenError> {
        let (label, rest) = spec
            .split_once(':')
            .ok_or_else(|| TokenError::Malformed(redact(spec)))?;
        let (secret, role) = match rest.rsplit_once(':') {
            Some((secret, "read")) => (secret, Role::Read),
            Some((secret, "write")) => (secret, Role::Write),
            Some((secret, "admin")) => (secret, Role::Admin),
            _ => (rest, Role::Write),
        };
        if label.is_empty() || secret.is_empty() {
            return Err(TokenError::Malformed(redact(spec)));
        }
        let label_ok = label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '-'));
        if !label_ok {
            return Err(TokenError::BadLabel(label.to_owned()));
        }
        if self.tokens.iter().any(|t| t.label == label) {
            return Err(TokenError::DuplicateLabel(label.to_owned()));
        }
        if secret.len() < 16 {
            tracing::warn!(label, "API token secret is shorter than 16 characters");
        }
        self.tokens.push(Token {
            label: label.to_owned(),
            secret: secret.to_owned(),
            role,
        });
        Ok(())
    }

    pub fn is_enabled(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// The labels API writes are recorded with: the tokens' labels, or
    /// [`ANONYMOUS`] alone when the API runs without tokens.
    pub fn actor_labels(&self) -> std::collections::BTreeSet<String> {
        if self.tokens.is_empty() {
            return [ANONYMOUS.to_owned()].into();
        }
        self.tokens.iter().map(|t| t.label.clone()).collect()
    }

    pub fn protects_reads(&self) -> bool {
        self.protect_reads && self.is_enabled()
    }

    /// The token with this secret.
    fn token_of(&self, secret: &str) -> Option<&Token> {
        // Compare against every token, so timing does not tell which one matched.
        let mut found = None;
        for token in &self.tokens {
            if constant_time_eq(token.secret.as_bytes(), secret.as_bytes()) {
                found = Some(token);
            }
        }
        found
    }
}

fn redact(spec: &str) -> String {
    match spec.split_once(':') {
        Some((label, _)) => format!("{label}:…"),
        None => "…".into(),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Who made the request, for the events it causes.
#[derive(Debug, Clone)]
pub struct Principal(pub Actor);

/// The role a request needs: reads (and validation) need `read`; the host
/// config and the cluster's membership need `admin`; every other change
/// needs `write`.
pub fn required_role(method: &Method, path: &str) -> Role {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
        || is_validation(method, path)
    {
        return Role::Read;
    }
    let path = path.strip_prefix("/api").unwrap_or(path);
    if path == "/host-config" || path == "/cluster/members" || path.starts_with("/cluster/members/")
    {
        Role::Admin
    } else {
        Role::Write
    }
}

/// Checks the bearer token (always for changes, for reads when configured)
/// and its role, and attaches the [`Principal`] to the request.
pub async fn authenticate(
    State(tokens): State<Arc<Tokens>>,
    mut request: Request,
    next: Next,
) -> Response {
    let needed = required_role(request.method(), request.uri().path());
    let principal = if !tokens.is_enabled() {
        Some(ANONYMOUS.to_owned())
    } else {
        match presented(&request).map(|secret| tokens.token_of(secret)) {
            Some(Some(token)) if token.role >= needed => Some(token.label.clone()),
            Some(Some(token)) => {
                return ApiError::new(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    format!(
                        "token {:?} has the {} role; this request needs the {} role",
                        token.label,
                        token.role.as_str(),
                        needed.as_str()
                    ),
                )
                .into_response();
            }
            Some(None) => {
                return ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "invalid API token",
                )
                .into_response();
            }
            None if needed == Role::Read && !tokens.protects_reads() => None,
            None => {
                return ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "this request needs an API token: Authorization: Bearer <secret>",
                )
                .into_response();
            }
        }
    };
    if let Some(label) = principal {
        request
            .extensions_mut()
            .insert(Principal(Actor::Api(label)));
    }
    next.run(request).await
}

fn presented(request: &Request) -> Option<&str> {
    request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
}

/// Whether the API wants tokens, and whose token this request carries with
/// which role. A wrong token gets 401 like on any route, so the GUI checks a
/// token with this call.
/// Answer of `GET /api/whoami`: whether the API wants tokens, and whose token
/// the request carried.
#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct WhoAmI {
    /// Tokens are configured: writes need one.
    pub tokens_enabled: bool,
    /// Reads need a token too (`--api-auth-reads`).
    pub reads_need_token: bool,
    /// The actor recorded for this request's writes (`api:<label>`), or null
    /// when the request carried no token and the API has tokens.
    pub actor: Option<String>,
    /// What this request's token may do: `read`, `write` or `admin` (`admin`
    /// without tokens configured); null without a token.
    pub role: Option<Role>,
}

#[utoipa::path(get, path = "/api/whoami", responses((status = 200, body = WhoAmI),
    (status = 401, body = super::error::ErrorBody)))]
pub async fn whoami(State(app): State<super::AppState>, request: Request) -> Json<WhoAmI> {
    let tokens = &app.tokens;
    let role = if tokens.is_enabled() {
        presented(&request)
            .and_then(|secret| tokens.token_of(secret))
            .map(|t| t.role)
    } else {
        Some(Role::Admin)
    };
    let actor = request
        .extensions()
        .get::<Principal>()
        .map(|Principal(actor)| actor.to_string());
    Json(WhoAmI {
        tokens_enabled: tokens.is_enabled(),
        reads_need_token: tokens.protects_reads(),
        actor,
        role,
    })
}

/// `POST /api/configs/validate` changes nothing: it is authorized like a read.
fn is_validation(method: &Method, path: &str) -> bool {
    *method == Method::POST
        && path
            .strip_prefix("/api")
            .unwrap_or(path)
            .strip_prefix("/configs/")
            == Some(super::configs::VALIDATE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_flags_and_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tokens");
        std::fs::write(&file, "# ops\n\nci:0123456789abcdef0123\n").unwrap();
        let tokens = Tokens::load(&["alice:s3cret-s3cret-s3cret".into()], &[&file], false).unwrap();
        let label = |secret: &str| tokens.token_of(secret).map(|t| t.label.as_str());
        assert_eq!(label("s3cret-s3cret-s3cret"), Some("alice"));
        assert_eq!(label("0123456789abcdef0123"), Some("ci"));
        assert_eq!(label("0123456789abcdef012"), None);
        assert!(tokens.is_enabled());
        assert!(!tokens.protects_reads());
    }

    #[test]
    fn refuses_bad_specs_without_echoing_secrets() {
        let no_files: [&str; 0] = [];
        for (spec, expected) in [
            ("nocolon", TokenError::Malformed("…".into())),
            (":secret", TokenError::Malformed(":…".into())),
            ("label:", TokenError::Malformed("label:…".into())),
            ("label::admin", TokenError::Malformed("label:…".into())),
            ("bad label:secret", TokenError::BadLabel("bad label".into())),
        ] {
            assert_eq!(
                Tokens::load(&[spec.into()], &no_files, false).unwrap_err(),
                expected
            );
        }
        let twice = ["a:1".to_owned(), "a:2".to_owned()];
        assert_eq!(
            Tokens::load(&twice, &no_files, false).unwrap_err(),
            TokenError::DuplicateLabel("a".into())
        );
    }

    #[test]
    fn roles_come_from_the_suffix_and_default_to_write() {
        let no_files: [&str; 0] = [];
        let specs = [
            "w:plain-secret".to_owned(),
            "r:reader-secret:read".to_owned(),
            "a:admin-secret:admin".to_owned(),
            "x:with:colons:inside".to_owned(),
            "y:explicit:write".to_owned(),
        ];
        let tokens = Tokens::load(&specs, &no_files, false).unwrap();
        let role = |secret: &str| tokens.token_of(secret).map(|t| (t.label.as_str(), t.role));
        assert_eq!(role("plain-secret"), Some(("w", Role::Write)));
        assert_eq!(role("reader-secret"), Some(("r", Role::Read)));
        assert_eq!(role("reader-secret:read"), None);
        assert_eq!(role("admin-secret"), Some(("a", Role::Admin)));
        assert_eq!(role("with:colons:inside"), Some(("x", Role::Write)));
        assert_eq!(role("explicit"), Some(("y", Role::Write)));
    }

    #[test]
    fn each_route_needs_its_role() {
        let cases = [
            (Method::GET, "/api/configs", Role::Read),
            (Method::GET, "/api/host-config", Role::Read),
            (Method::HEAD, "/configs/x", Role::Read),
            (Method::POST, "/api/configs/validate", Role::Read),
            (Method::POST, "/configs/validate", Role::Read),
            (Method::POST, "/api/configs", Role::Write),
            (Method::PUT, "/configs/validate", Role::Write),
            (Method::DELETE, "/api/configs/a%2Fb", Role::Write),
            (Method::POST, "/api/configs/x/revert", Role::Write),
            (Method::PUT, "/api/host-config", Role::Admin),
            (Method::POST, "/api/host-config", Role::Admin),
            (Method::POST, "/api/cluster/members", Role::Admin),
            (Method::DELETE, "/api/cluster/members/4", Role::Admin),
            (Method::PATCH, "/api/whatever", Role::Write),
        ];
        for (method, path, role) in cases {
            assert_eq!(required_role(&method, path), role, "{method} {path}");
        }
    }
}

//! Bearer-token authentication. Each token has a label, recorded as the actor of
//! the events its requests cause; the secret is never stored in the log.

use std::path::Path;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::events::Actor;

use super::error::ApiError;
use super::views::WhoAmI;

/// Label used as the actor when the API runs without tokens.
pub const ANONYMOUS: &str = "anonymous";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token {0:?} must have the form label:secret")]
    Malformed(String),
    #[error("token label {0:?} may hold only letters, digits, '.', '_', '@' and '-'")]
    BadLabel(String),
    #[error("token label {0:?} is given twice")]
    DuplicateLabel(String),
    #[error("cannot read token file {path}: {reason}")]
    File { path: String, reason: String },
}

#[derive(Clone)]
struct Token {
    label: String,
    secret: String,
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
    /// Builds the token set from `label:secret` flags and token files (one
    /// `label:secret` per line; blank lines and `#` comments are skipped).
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
        let (label, secret) = spec
            .split_once(':')
            .filter(|(l, s)| !l.is_empty() && !s.is_empty())
            .ok_or_else(|| TokenError::Malformed(redact(spec)))?;
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

    /// The label of the token with this secret.
    fn label_of(&self, secret: &str) -> Option<&str> {
        // Compare against every token, so timing does not tell which one matched.
        let mut found = None;
        for token in &self.tokens {
            if constant_time_eq(token.secret.as_bytes(), secret.as_bytes()) {
                found = Some(token.label.as_str());
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

/// Checks the bearer token (always for writes, for reads when configured) and
/// attaches the [`Principal`] to the request.
pub async fn authenticate(
    State(tokens): State<Arc<Tokens>>,
    mut request: Request,
    next: Next,
) -> Response {
    let is_read = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) || is_validation(&request);
    let principal = if !tokens.is_enabled() {
        Some(ANONYMOUS.to_owned())
    } else {
        let presented = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim);
        match presented.map(|secret| tokens.label_of(secret)) {
            Some(Some(label)) => Some(label.to_owned()),
            Some(None) => {
                return ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "invalid API token",
                )
                .into_response();
            }
            None if is_read && !tokens.protects_reads() => None,
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

/// Whether the API wants tokens, and whose token this request carries. A wrong
/// token gets 401 like on any route, so the GUI checks a token with this call.
#[utoipa::path(get, path = "/api/whoami", responses((status = 200, body = WhoAmI),
    (status = 401, body = super::error::ErrorBody)))]
pub async fn whoami(
    State(app): State<super::AppState>,
    principal: Option<Extension<Principal>>,
) -> Json<WhoAmI> {
    Json(WhoAmI {
        tokens_enabled: app.tokens.is_enabled(),
        reads_need_token: app.tokens.protects_reads(),
        actor: principal.map(|Extension(Principal(actor))| actor.to_string()),
    })
}

/// `POST /api/configs/validate` changes nothing: it is authorized like a read.
fn is_validation(request: &Request) -> bool {
    let path = request.uri().path();
    *request.method() == Method::POST
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
        assert_eq!(tokens.label_of("s3cret-s3cret-s3cret"), Some("alice"));
        assert_eq!(tokens.label_of("0123456789abcdef0123"), Some("ci"));
        assert_eq!(tokens.label_of("0123456789abcdef012"), None);
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
}

//! Conditional GETs: an `ETag` from the body's content, and `304 Not
//! Modified` for a client that already holds it (`If-None-Match`), so that
//! polling an unchanged view costs a round trip and no body.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::error::ApiError;

/// The strong entity tag of `body`: 128 bits of its SHA-256, quoted.
pub fn etag(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// Whether the request's `If-None-Match` names `etag` (or is `*`).
pub fn not_modified(request: &HeaderMap, etag: &str) -> bool {
    request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == etag || tag == "*" || tag.strip_prefix("W/") == Some(etag))
}

/// `value` as JSON with its `ETag`, or `304` without a body when the client
/// has it already. Caches revalidate every time (`Cache-Control: no-cache`).
pub fn json<T: Serialize>(request: &HeaderMap, value: &T) -> Response {
    let body = match serde_json::to_vec(value) {
        Ok(body) => body,
        Err(e) => return ApiError::internal(e).into_response(),
    };
    let tag = etag(&body);
    let mut headers = HeaderMap::new();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(value) = HeaderValue::from_str(&tag) {
        headers.insert(header::ETAG, value);
    }
    if not_modified(request, &tag) {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    (headers, body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tag_follows_the_content() {
        assert_eq!(etag(b"{}"), etag(b"{}"));
        assert_ne!(etag(b"{}"), etag(b"[]"));
        assert_eq!(etag(b"{}").len(), 34);
    }

    #[test]
    fn if_none_match_lists_are_understood() {
        let tag = etag(b"x");
        let with = |value: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::IF_NONE_MATCH, HeaderValue::from_str(value).unwrap());
            h
        };
        assert!(not_modified(&with(&tag), &tag));
        assert!(not_modified(&with(&format!("\"a\", {tag}")), &tag));
        assert!(not_modified(&with(&format!("W/{tag}")), &tag));
        assert!(not_modified(&with("*"), &tag));
        assert!(!not_modified(&with("\"a\""), &tag));
        assert!(!not_modified(&HeaderMap::new(), &tag));
    }

    #[tokio::test]
    async fn a_known_tag_gets_304_without_a_body() {
        let first = json(&HeaderMap::new(), &serde_json::json!({"a": 1}));
        assert_eq!(first.status(), StatusCode::OK);
        let tag = first.headers()[header::ETAG].clone();
        let mut request = HeaderMap::new();
        request.insert(header::IF_NONE_MATCH, tag.clone());
        let again = json(&request, &serde_json::json!({"a": 1}));
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(again.headers()[header::ETAG], tag);
        let body = axum::body::to_bytes(again.into_body(), 1024).await.unwrap();
        assert!(body.is_empty());
        let changed = json(&request, &serde_json::json!({"a": 2}));
        assert_eq!(changed.status(), StatusCode::OK);
    }
}

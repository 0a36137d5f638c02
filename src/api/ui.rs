//! The web GUI: the files of `web/`, served at `/` (the page) and `/ui/*` (its
//! scripts and styles).
//!
//! Release builds embed the files into the binary; debug builds read them from
//! `web/` on every request, so editing them needs only a reload. The GUI is a
//! single page with hash routing (`/#/configs`), so no GUI path can collide with
//! an API path (the seed's config routes live at `/configs` too).

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

#[derive(rust_embed::Embed)]
#[folder = "web/"]
struct Assets;

/// Only the page itself, its scripts, styles and the module graph's own
/// fetches: no inline code, nothing from other origins.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

/// `GET /`: the GUI's page.
pub async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

/// `GET /ui/{*path}`: the GUI's scripts, styles and images.
pub async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    serve(&path, &headers)
}

/// `GET /` with `--no-ui`.
pub async fn disabled() -> ApiError {
    ApiError::not_found(
        "the web GUI is turned off (--no-ui); the REST API is at /api, described at \
         /api/openapi.json",
    )
}

fn serve(path: &str, request: &HeaderMap) -> Response {
    let Some(file) = Assets::get(path) else {
        return ApiError::not_found(format!("no GUI file {path:?}")).into_response();
    };
    let etag = format!("\"{}\"", hex(&file.metadata.sha256_hash()[..16]));
    let mut headers = HeaderMap::new();
    // Revalidate every time: the files carry no version in their names, and a
    // 304 costs one small round trip.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Nothing leaves for other sites; the GUI's own changes carry their
    // Origin (with `no-referrer` browsers send `Origin: null`, which the
    // API refuses as cross-site).
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    if super::conditional::not_modified(request, &etag) {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    let mime = file.metadata.mimetype();
    let content_type = if mime.starts_with("text/") || mime == "application/javascript" {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_owned()
    };
    if let Ok(value) = HeaderValue::from_str(&content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    if path == "index.html" {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    (headers, file.data).into_response()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_the_page_loads_is_embedded() {
        let page = Assets::get("index.html").expect("web/index.html");
        let page = std::str::from_utf8(&page.data).unwrap();
        for reference in page
            .split(['"', '\''])
            .filter_map(|s| s.strip_prefix("ui/"))
        {
            assert!(
                Assets::get(reference).is_some(),
                "index.html loads ui/{reference}, which is not in web/"
            );
        }
        for name in Assets::iter() {
            let mime = Assets::get(&name).unwrap().metadata.mimetype().to_owned();
            if name.ends_with(".js") {
                assert_eq!(mime, "text/javascript", "{name}");
            }
        }
    }

    #[test]
    fn modules_import_only_files_that_exist() {
        // `import {..} from "./x.js"` (possibly over several lines) and `import "./x.js"`.
        let import = regex::Regex::new(
            r#"(?m)(?:\}\s*from|^import\s+\*\s+as\s+\w+\s+from|^import)\s+["']([^"']+)["']"#,
        )
        .unwrap();
        let mut seen = 0;
        for name in Assets::iter().filter(|n| n.ends_with(".js")) {
            let file = Assets::get(&name).unwrap();
            let text = std::str::from_utf8(&file.data).unwrap();
            for target in import.captures_iter(text).map(|c| c[1].to_owned()) {
                seen += 1;
                let mut path: Vec<&str> = name.split('/').collect();
                path.pop();
                for part in target.split('/') {
                    match part {
                        "." => {}
                        ".." => {
                            path.pop();
                        }
                        other => path.push(other),
                    }
                }
                let path = path.join("/");
                assert!(
                    Assets::get(&path).is_some(),
                    "{name} imports {target}, which is not in web/"
                );
            }
        }
        assert!(
            seen >= 10,
            "only {seen} imports found: is the pattern still right?"
        );
    }
}

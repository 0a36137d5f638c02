//! Requests a web browser may send on someone else's behalf.
//!
//! Two attacks need no token when the API runs without tokens (and the
//! second reads what tokens do not protect):
//!
//! * **Cross-site requests.** Any page can make a visitor's browser POST a
//!   form (`application/x-www-form-urlencoded`, `multipart/form-data`,
//!   `text/plain`) to the API without asking it first. A change is therefore
//!   accepted only when its `Origin` (or, without one, its `Referer`) names
//!   this scheduler; a form body needs one of them. JSON bodies cannot be
//!   sent cross-site without a CORS preflight, which the API never grants,
//!   so API clients that send JSON and no `Origin` are not affected.
//! * **DNS rebinding.** A page on `evil.example` whose name later resolves
//!   to the scheduler reaches it as "same origin"; only the `Host` header
//!   tells. It must be an IP address, `localhost`, this machine's name or a
//!   name from `--public-url`.
//!
//! The checks are pure functions of the request's method and headers.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::IpAddr;
use std::sync::Arc;

use super::error::ApiError;

/// Content types a browser sends cross-site without a preflight.
const SIMPLE_TYPES: &[&str] = &[
    "application/x-www-form-urlencoded",
    "multipart/form-data",
    "text/plain",
];

/// A `--public-url` that is not an http(s) URL with a host.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an http:// or https:// URL with a host")]
pub struct BadUrl(pub String);

/// An origin: scheme, host (lower case, IPv6 without brackets) and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub scheme: String,
    pub host: String,
    pub port: u16,
}

impl Origin {
    /// Parses `scheme://host[:port][/...]`.
    pub fn parse(url: &str) -> Option<Origin> {
        let (scheme, rest) = url.trim().split_once("://")?;
        let scheme = scheme.to_ascii_lowercase();
        let default = match scheme.as_str() {
            "http" => 80,
            "https" => 443,
            _ => return None,
        };
        let authority = rest.split(['/', '?', '#']).next()?;
        let authority = authority.rsplit('@').next()?;
        let (host, port) = split_authority(authority)?;
        Some(Origin {
            scheme,
            host,
            port: port.unwrap_or(default),
        })
    }
}

/// Splits `host[:port]` (`[v6]:port` for IPv6) into a lower-case host and
/// the port, if one is given.
fn split_authority(authority: &str) -> Option<(String, Option<u16>)> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        (host, port)
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == '/') {
        return None;
    }
    let port = match port {
        None => None,
        Some(p) => Some(p.parse::<u16>().ok()?),
    };
    Some((host, port))
}

/// What the browser checks allow: the names this scheduler answers to and
/// the public origins it is served at.
#[derive(Debug, Clone)]
pub struct BrowserPolicy {
    names: Vec<String>,
    origins: Vec<Origin>,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The Host header names something else (DNS rebinding).
    Host(String),
    /// The Origin or Referer names another site.
    CrossSite(String),
    /// A form body without Origin or Referer.
    NoOrigin,
}

impl BrowserPolicy {
    /// `names` are host names (`localhost` and this machine's name are
    /// added); `public_urls` are the URLs operators reach the scheduler at.
    pub fn new(names: &[String], public_urls: &[String]) -> Result<BrowserPolicy, BadUrl> {
        let mut policy = BrowserPolicy::named(names);
        for url in public_urls {
            let origin = Origin::parse(url).ok_or_else(|| BadUrl(url.clone()))?;
            policy.names.push(origin.host.clone());
            policy.origins.push(origin);
        }
        Ok(policy)
    }

    /// Also the origin of `url`, if it is an http(s) URL (the Mesos UI's
    /// link to the GUI, for one).
    pub fn also_at(mut self, url: &str) -> BrowserPolicy {
        if let Some(origin) = Origin::parse(url) {
            if !self.names.contains(&origin.host) {
                self.names.push(origin.host.clone());
            }
            self.origins.push(origin);
        }
        self
    }

    fn named(names: &[String]) -> BrowserPolicy {
        let mut policy = BrowserPolicy {
            names: Vec::new(),
            origins: Vec::new(),
        };
        for name in names.iter().map(String::as_str).chain(["localhost"]) {
            let name = name.trim().trim_end_matches('.').to_ascii_lowercase();
            if !name.is_empty() && !policy.names.contains(&name) {
                policy.names.push(name);
            }
        }
        policy
    }

    /// Checks a request's headers; `Ok` for everything that is not a
    /// browser attack.
    pub fn check(&self, method: &Method, headers: &HeaderMap) -> Result<(), Refusal> {
        let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
        let authority = match host {
            // HTTP/1.0 clients; every browser sends Host.
            None => None,
            Some(host) => {
                let authority =
                    split_authority(host).ok_or_else(|| Refusal::Host(host.to_owned()))?;
                if !self.known_host(&authority.0) {
                    return Err(Refusal::Host(host.to_owned()));
                }
                Some(authority)
            }
        };
        if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
            return Ok(());
        }
        let claimed = headers
            .get(header::ORIGIN)
            .or_else(|| headers.get(header::REFERER))
            .map(|v| v.to_str().unwrap_or_default());
        match claimed {
            Some(claimed) => {
                // This server speaks plain HTTP: a Host without a port is
                // port 80 (a TLS proxy in front names its origin with
                // --public-url).
                let same = Origin::parse(claimed).is_some_and(|origin| {
                    self.origins.contains(&origin)
                        || authority.as_ref().is_some_and(|(host, port)| {
                            origin.scheme == "http"
                                && origin.host == *host
                                && origin.port == port.unwrap_or(80)
                        })
                });
                if same {
                    Ok(())
                } else {
                    Err(Refusal::CrossSite(claimed.to_owned()))
                }
            }
            None if is_simple_body(headers) => Err(Refusal::NoOrigin),
            None => Ok(()),
        }
    }

    /// This machine's names: what `GET /` by hostname uses, and what the
    /// Mesos UI links to by default.
    pub fn machine_names() -> Vec<String> {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| vec![h.trim().to_owned()])
            .unwrap_or_default()
    }

    fn known_host(&self, host: &str) -> bool {
        host.parse::<IpAddr>().is_ok() || self.names.iter().any(|n| n == host)
    }
}

impl Default for BrowserPolicy {
    /// Addresses, `localhost` and this machine's name.
    fn default() -> Self {
        BrowserPolicy::named(&BrowserPolicy::machine_names())
    }
}

fn is_simple_body(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .is_some_and(|t| SIMPLE_TYPES.contains(&t.as_str()))
}

/// Refuses browser attacks before anything else looks at the request.
pub async fn guard(
    State(policy): State<Arc<BrowserPolicy>>,
    request: Request,
    next: Next,
) -> Response {
    match policy.check(request.method(), request.headers()) {
        Ok(()) => next.run(request).await,
        Err(Refusal::Host(host)) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "unknown_host",
            format!(
                "Host {host:?} is not a name of this scheduler; name it with --public-url \
                 (a guard against DNS rebinding)"
            ),
        )
        .into_response(),
        Err(Refusal::CrossSite(origin)) => ApiError::new(
            StatusCode::FORBIDDEN,
            "cross_site",
            format!(
                "a change requested from {origin:?} is refused: it is not this scheduler's page"
            ),
        )
        .into_response(),
        Err(Refusal::NoOrigin) => ApiError::new(
            StatusCode::FORBIDDEN,
            "cross_site",
            "a form or text body needs an Origin or Referer header naming this scheduler",
        )
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        map
    }

    fn policy() -> BrowserPolicy {
        BrowserPolicy::new(
            &["sched-1".into()],
            &["https://Logs.Example.com/ui/".into()],
        )
        .unwrap()
    }

    #[test]
    fn origins_parse_with_default_ports() {
        assert_eq!(
            Origin::parse("HTTPS://user@[::1]:8443/x?y"),
            Some(Origin {
                scheme: "https".into(),
                host: "::1".into(),
                port: 8443
            })
        );
        assert_eq!(Origin::parse("http://a.example.").unwrap().port, 80);
        assert_eq!(
            Origin::parse("http://a.example.").unwrap().host,
            "a.example"
        );
        for bad in [
            "null",
            "ftp://x",
            "http://",
            "http://:80",
            "http://x:99999",
            "x",
        ] {
            assert_eq!(Origin::parse(bad), None, "{bad}");
        }
        assert!(BrowserPolicy::new(&[], &["logs.example.com".into()]).is_err());
    }

    #[test]
    fn host_must_be_an_address_or_a_known_name() {
        let p = policy();
        for ok in [
            "127.0.0.1:9092",
            "[::1]:9092",
            "10.1.2.3",
            "localhost:9092",
            "SCHED-1:9092",
            "logs.example.com",
            "logs.example.com.",
        ] {
            assert_eq!(
                p.check(&Method::GET, &headers(&[("host", ok)])),
                Ok(()),
                "{ok}"
            );
        }
        for bad in ["evil.example:9092", "127.0.0.1.nip.io", "", "a b"] {
            assert_eq!(
                p.check(&Method::GET, &headers(&[("host", bad)])),
                Err(Refusal::Host(bad.into())),
                "{bad}"
            );
        }
        assert_eq!(p.check(&Method::GET, &HeaderMap::new()), Ok(()));
    }

    #[test]
    fn changes_need_a_matching_origin_or_referer() {
        let p = policy();
        let form = ("content-type", "application/x-www-form-urlencoded");
        let host = ("host", "127.0.0.1:9092");
        let post = |h: &[(&str, &str)]| p.check(&Method::POST, &headers(h));
        assert_eq!(
            post(&[host, form, ("origin", "http://127.0.0.1:9092")]),
            Ok(())
        );
        assert_eq!(
            post(&[host, form, ("referer", "http://127.0.0.1:9092/#/configs")]),
            Ok(())
        );
        // The proxied public origin, whatever Host the proxy passes on.
        assert_eq!(
            post(&[host, form, ("origin", "https://logs.example.com")]),
            Ok(())
        );
        assert_eq!(
            post(&[host, form, ("origin", "http://evil.example")]),
            Err(Refusal::CrossSite("http://evil.example".into()))
        );
        assert_eq!(
            post(&[host, form, ("origin", "http://127.0.0.1:9093")]),
            Err(Refusal::CrossSite("http://127.0.0.1:9093".into()))
        );
        assert_eq!(
            post(&[host, form, ("origin", "https://127.0.0.1:9092")]),
            Err(Refusal::CrossSite("https://127.0.0.1:9092".into()))
        );
        let no_port = ("host", "sched-1");
        assert_eq!(post(&[no_port, form, ("origin", "http://sched-1")]), Ok(()));
        assert!(post(&[no_port, form, ("origin", "http://sched-1:9092")]).is_err());
        assert_eq!(
            post(&[host, form, ("origin", "null")]),
            Err(Refusal::CrossSite("null".into()))
        );
        for simple in [
            "multipart/form-data; boundary=x",
            "TEXT/PLAIN;charset=utf-8",
        ] {
            assert_eq!(
                post(&[host, ("content-type", simple)]),
                Err(Refusal::NoOrigin),
                "{simple}"
            );
        }
        // JSON without Origin: an API client, not a browser.
        assert_eq!(post(&[host, ("content-type", "application/json")]), Ok(()));
        // JSON from another site is refused all the same.
        assert!(
            p.check(
                &Method::DELETE,
                &headers(&[host, ("origin", "http://evil.example")])
            )
            .is_err()
        );
        // Reads are not changes.
        assert_eq!(
            p.check(
                &Method::GET,
                &headers(&[host, ("origin", "http://evil.example")])
            ),
            Ok(())
        );
    }
}

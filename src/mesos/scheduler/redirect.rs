//! Where scheduler calls go: endpoint URLs from master base URLs, and the
//! resolution of a non-leading master's `307 Location`.
//!
//! A non-leader answers `Location: //leader:5050/api/v1/scheduler`, a
//! protocol-relative reference, so it must be resolved against the scheme of
//! the request that got redirected (RFC 3986 reference resolution, which
//! `Url::join` implements).

use reqwest::Url;

/// The path of the scheduler API on a master.
pub const SCHEDULER_PATH: &str = "/api/v1/scheduler";

/// A redirect or master URL that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// The text is not a URL (or not one relative to the current URL).
    #[error("invalid URL {url:?}: {reason}")]
    Invalid {
        /// The offending text.
        url: String,
        /// Why it was rejected.
        reason: String,
    },
    /// Only plain HTTP(S) reaches a master.
    #[error("unsupported scheme in {url:?} (only http and https)")]
    Scheme {
        /// The offending URL.
        url: String,
    },
    /// A 307 came without a usable `Location`.
    #[error("redirect without a Location header")]
    MissingLocation,
    /// A redirect from `https` to plain `http`, which would send the
    /// credentials and the framework's traffic in clear text.
    #[error("refusing to follow a redirect from {from} to plain http ({to})")]
    Downgrade {
        /// The URL that was redirected.
        from: String,
        /// Where it was redirected to.
        to: String,
    },
}

fn check_scheme(url: Url) -> Result<Url, UrlError> {
    match url.scheme() {
        "http" | "https" if url.host_str().is_some() => Ok(url),
        _ => Err(UrlError::Scheme {
            url: url.to_string(),
        }),
    }
}

/// Resolves a `Location` header against the URL that was redirected.
/// Handles protocol-relative (`//host:port/path`), absolute and
/// path-relative locations.
pub fn resolve_location(current: &str, location: &str) -> Result<String, UrlError> {
    let location = location.trim();
    if location.is_empty() {
        return Err(UrlError::MissingLocation);
    }
    let base = Url::parse(current).map_err(|e| UrlError::Invalid {
        url: current.to_owned(),
        reason: e.to_string(),
    })?;
    let resolved = base.join(location).map_err(|e| UrlError::Invalid {
        url: location.to_owned(),
        reason: e.to_string(),
    })?;
    let resolved = check_scheme(resolved)?;
    if base.scheme() == "https" && resolved.scheme() != "https" {
        return Err(UrlError::Downgrade {
            from: current.to_owned(),
            to: resolved.to_string(),
        });
    }
    Ok(resolved.to_string())
}

/// The scheduler endpoint of a master given as `http://host:port`,
/// `host:port` (plain HTTP assumed) or a URL that already ends in the API
/// path.
pub fn scheduler_endpoint(master: &str) -> Result<String, UrlError> {
    let master = master.trim();
    let with_scheme = if master.contains("://") {
        master.to_owned()
    } else {
        format!("http://{master}")
    };
    let mut url = Url::parse(&with_scheme).map_err(|e| UrlError::Invalid {
        url: master.to_owned(),
        reason: e.to_string(),
    })?;
    let url_path = url.path().trim_end_matches('/').to_owned();
    if !url_path.ends_with(SCHEDULER_PATH) {
        url.set_path(&format!("{url_path}{SCHEDULER_PATH}"));
    }
    url.set_query(None);
    url.set_fragment(None);
    Ok(check_scheme(url)?.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_relative_keeps_current_scheme() {
        assert_eq!(
            resolve_location(
                "http://m1:5050/api/v1/scheduler",
                "//m2:5050/api/v1/scheduler"
            )
            .unwrap(),
            "http://m2:5050/api/v1/scheduler"
        );
        assert_eq!(
            resolve_location(
                "https://m1:5050/api/v1/scheduler",
                "//leader.example:15050/master/api/v1/scheduler"
            )
            .unwrap(),
            "https://leader.example:15050/master/api/v1/scheduler"
        );
    }

    #[test]
    fn absolute_and_relative_locations() {
        assert_eq!(
            resolve_location(
                "http://m1:5050/api/v1/scheduler",
                "https://m3/api/v1/scheduler"
            )
            .unwrap(),
            "https://m3/api/v1/scheduler"
        );
        assert_eq!(
            resolve_location(
                "http://m1:5050/api/v1/scheduler",
                "/master/api/v1/scheduler"
            )
            .unwrap(),
            "http://m1:5050/master/api/v1/scheduler"
        );
        assert_eq!(
            resolve_location(
                "http://10.0.0.1:5050/api/v1/scheduler",
                "  //10.0.0.2:5050/api/v1/scheduler "
            )
            .unwrap(),
            "http://10.0.0.2:5050/api/v1/scheduler"
        );
    }

    #[test]
    fn bad_locations_are_errors() {
        assert_eq!(
            resolve_location("http://m1:5050/api/v1/scheduler", ""),
            Err(UrlError::MissingLocation)
        );
        assert!(matches!(
            resolve_location("http://m1:5050/x", "ftp://m2/x"),
            Err(UrlError::Scheme { .. })
        ));
        assert!(matches!(
            resolve_location("not a url", "//m2/x"),
            Err(UrlError::Invalid { .. })
        ));
        assert!(matches!(
            resolve_location("http://m1:5050/x", "http://[::1/x"),
            Err(UrlError::Invalid { .. })
        ));
        assert!(matches!(
            resolve_location("https://m1:5050/x", "http://m2:5050/x"),
            Err(UrlError::Downgrade { .. })
        ));
    }

    #[test]
    fn endpoints_from_master_addresses() {
        assert_eq!(
            scheduler_endpoint("http://m1:5050").unwrap(),
            "http://m1:5050/api/v1/scheduler"
        );
        assert_eq!(
            scheduler_endpoint("m1:5050").unwrap(),
            "http://m1:5050/api/v1/scheduler"
        );
        assert_eq!(
            scheduler_endpoint(" https://m1:5050/ ").unwrap(),
            "https://m1:5050/api/v1/scheduler"
        );
        assert_eq!(
            scheduler_endpoint("http://m1:5050/master/api/v1/scheduler").unwrap(),
            "http://m1:5050/master/api/v1/scheduler"
        );
        assert_eq!(
            scheduler_endpoint("http://proxy/mesos").unwrap(),
            "http://proxy/mesos/api/v1/scheduler"
        );
        assert!(matches!(
            scheduler_endpoint("zk://zk1:2181/mesos"),
            Err(UrlError::Scheme { .. })
        ));
        assert!(scheduler_endpoint("http://").is_err());
    }
}

//! Scheduler client settings.

use std::path::PathBuf;
use std::time::Duration;

use super::redirect::{UrlError, scheduler_endpoint};
use crate::backoff::Backoff;
use crate::mesos::recordio::DEFAULT_MAX_RECORD_SIZE;

/// What the master hard-codes as the heartbeat interval; used until (or
/// unless) SUBSCRIBED says otherwise.
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(15);

/// HTTP Basic credentials, for masters run with
/// `--authenticate_http_frameworks`. The principal must also equal
/// `FrameworkInfo.principal`, or the master refuses the subscription.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The framework principal.
    pub principal: String,
    /// Its secret.
    pub secret: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("principal", &self.principal)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// A configuration that cannot work.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The master list is empty.
    #[error("no Mesos master URL given")]
    NoMasters,
    /// A master entry is not an HTTP(S) URL or `host:port`.
    #[error("bad Mesos master URL: {0}")]
    BadMaster(#[from] UrlError),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    /// The CA file cannot be read or holds no PEM certificate.
    #[error("cannot use the CA file {path}: {reason}")]
    CaFile {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An `https://` master's certificate is not trusted, or TLS with it
    /// fails otherwise: retrying cannot help.
    #[error("TLS with the Mesos master {master} failed: {reason} ({hint})")]
    Tls {
        /// The master's scheduler endpoint.
        master: String,
        /// What TLS said.
        reason: String,
        /// What to check.
        hint: String,
    },
}

/// How the scheduler client reaches the masters and how patient it is.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// Scheduler endpoint URLs of every known master, tried in order; a
    /// non-leader redirects to the leader, so any one of them is enough
    /// while it is up.
    pub masters: Vec<String>,
    /// HTTP Basic credentials, sent on every request when set.
    pub credentials: Option<Credentials>,
    /// PEM file of the CAs that sign `https://` masters' certificates; when
    /// set, only these are trusted (else the system's CA store).
    pub ca_file: Option<PathBuf>,
    /// Waits between subscription rounds (a round tries every master once).
    pub backoff: Backoff,
    /// Limit for a non-streaming call, and for the SUBSCRIBE response
    /// headers and first event.
    pub request_timeout: Duration,
    /// Limit for establishing a TCP connection.
    pub connect_timeout: Duration,
    /// Cap on one event record (OFFERS can be large).
    pub max_record_size: usize,
    /// How many heartbeat intervals of silence mean the stream is dead.
    pub missed_heartbeats: u32,
    /// Heartbeat interval assumed when SUBSCRIBED does not carry one.
    pub default_heartbeat_interval: Duration,
    /// Redirects followed within one SUBSCRIBE attempt.
    pub max_redirects: u32,
    /// Capacity of the channel that carries events to the scheduler loop.
    pub channel_capacity: usize,
}

impl SchedulerConfig {
    /// Settings for the given masters (`http://m1:5050`, `m1:5050`, or a full
    /// scheduler endpoint URL), with defaults for everything else.
    pub fn new<I, S>(masters: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut endpoints = Vec::new();
        for m in masters {
            let m = m.as_ref().trim();
            if m.is_empty() {
                continue;
            }
            let endpoint = scheduler_endpoint(m)?;
            if !endpoints.contains(&endpoint) {
                endpoints.push(endpoint);
            }
        }
        if endpoints.is_empty() {
            return Err(ConfigError::NoMasters);
        }
        Ok(Self {
            masters: endpoints,
            credentials: None,
            ca_file: None,
            backoff: Backoff::default(),
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            max_record_size: DEFAULT_MAX_RECORD_SIZE,
            missed_heartbeats: 5,
            default_heartbeat_interval: DEFAULT_HEARTBEAT_INTERVAL,
            max_redirects: 9,
            channel_capacity: 1024,
        })
    }

    /// Settings from a comma-separated master list, as given on a command
    /// line: `http://m1:5050,http://m2:5050`.
    pub fn from_master_list(list: &str) -> Result<Self, ConfigError> {
        Self::new(list.split(','))
    }

    /// The same settings with HTTP Basic credentials.
    pub fn with_credentials(
        mut self,
        principal: impl Into<String>,
        secret: impl Into<String>,
    ) -> Self {
        self.credentials = Some(Credentials {
            principal: principal.into(),
            secret: secret.into(),
        });
        self
    }

    /// The same settings, trusting only the CAs in `path` for `https://` masters.
    pub fn with_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// Whether any master is reached over plain HTTP.
    pub fn has_plain_http_master(&self) -> bool {
        self.masters.iter().any(|m| m.starts_with("http://"))
    }

    /// How long a subscription may stay silent before it is declared dead,
    /// for a given heartbeat interval.
    pub fn heartbeat_timeout(&self, interval: Duration) -> Duration {
        interval.saturating_mul(self.missed_heartbeats.max(1))
    }
}

/// The heartbeat interval a SUBSCRIBED event announces, or `default` when
/// it is missing or not a sensible positive number of seconds.
pub fn heartbeat_interval(seconds: Option<f64>, default: Duration) -> Duration {
    match seconds {
        Some(s) if s.is_finite() && s > 0.0 => Duration::try_from_secs_f64(s).unwrap_or(default),
        _ => default,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn master_list_is_parsed_and_normalised() {
        let c =
            SchedulerConfig::from_master_list("http://m1:5050, m2:5050 ,,http://m1:5050/").unwrap();
        assert_eq!(
            c.masters,
            vec![
                "http://m1:5050/api/v1/scheduler".to_owned(),
                "http://m2:5050/api/v1/scheduler".to_owned()
            ]
        );
        assert!(matches!(
            SchedulerConfig::from_master_list(" , "),
            Err(ConfigError::NoMasters)
        ));
        assert!(matches!(
            SchedulerConfig::from_master_list("zk://z:2181/mesos"),
            Err(ConfigError::BadMaster(_))
        ));
    }

    #[test]
    fn defaults_match_the_brief() {
        let c = SchedulerConfig::from_master_list("m:5050").unwrap();
        assert_eq!(c.backoff.min, Duration::from_millis(500));
        assert_eq!(c.backoff.max, Duration::from_secs(30));
        assert_eq!(c.request_timeout, Duration::from_secs(10));
        assert_eq!(
            c.heartbeat_timeout(DEFAULT_HEARTBEAT_INTERVAL),
            Duration::from_secs(75)
        );
        assert!(c.credentials.is_none());
    }

    #[test]
    fn credentials_are_not_printed() {
        let c = SchedulerConfig::from_master_list("m:5050")
            .unwrap()
            .with_credentials("fw", "s3cret");
        let shown = format!("{c:?}");
        assert!(shown.contains("fw"));
        assert!(!shown.contains("s3cret"));
    }

    #[test]
    fn heartbeat_interval_falls_back() {
        let d = Duration::from_secs(15);
        assert_eq!(heartbeat_interval(Some(15.0), d), d);
        assert_eq!(heartbeat_interval(Some(0.2), d), Duration::from_millis(200));
        assert_eq!(heartbeat_interval(None, d), d);
        assert_eq!(heartbeat_interval(Some(0.0), d), d);
        assert_eq!(heartbeat_interval(Some(-3.0), d), d);
        assert_eq!(heartbeat_interval(Some(f64::NAN), d), d);
        assert_eq!(heartbeat_interval(Some(f64::INFINITY), d), d);
        assert_eq!(heartbeat_interval(Some(1e300), d), d);
    }
}

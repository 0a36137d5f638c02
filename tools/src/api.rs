//! A running replica's REST API as a source of events and projections.
//!
//! The tools are synchronous; this client owns a small runtime and blocks
//! on each request. Every request has a timeout and is retried with backoff
//! while the replica is unreachable or answers 5xx (an election, a restart).

use std::time::Duration;

use logstash_mesos::events::Envelope;
use logstash_mesos::events::time::to_rfc3339;
use logstash_mesos::views::{EventJson, EventPage};
use serde::de::DeserializeOwned;

const PAGE: usize = 1000;
const TIMEOUT: Duration = Duration::from_secs(30);
const ATTEMPTS: u32 = 5;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{url}: {message}")]
    Request { url: String, message: String },
    #[error("{url}: event {seq} does not decode: {message}")]
    BadEvent {
        url: String,
        seq: u64,
        message: String,
    },
    #[error("{url}: the history skips from event {after} to {next}")]
    Gap { url: String, after: u64, next: u64 },
}

pub struct ApiClient {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
    runtime: tokio::runtime::Runtime,
}

impl ApiClient {
    pub fn new(base: &str, token: Option<String>) -> Result<ApiClient, ApiError> {
        let request_error = |message: String| ApiError::Request {
            url: base.to_owned(),
            message,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| request_error(e.to_string()))?;
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .map_err(|e| request_error(e.to_string()))?;
        Ok(ApiClient {
            base: base.trim_end_matches('/').to_owned(),
            token,
            http,
            runtime,
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// GETs `path` (with its query) and decodes the JSON answer.
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ApiError> {
        let url = format!("{}{path}", self.base);
        let error = |message: String| ApiError::Request {
            url: url.clone(),
            message,
        };
        let mut pause = Duration::from_millis(200);
        let mut attempt = 1;
        loop {
            let outcome = self.runtime.block_on(async {
                let mut request = self.http.get(&url);
                if let Some(token) = &self.token {
                    request = request.bearer_auth(token);
                }
                let response = request.send().await.map_err(|e| (true, e.to_string()))?;
                let status = response.status();
                let body = response.text().await.map_err(|e| (true, e.to_string()))?;
                if status.is_success() {
                    return serde_json::from_str::<T>(&body)
                        .map_err(|e| (false, format!("unexpected answer: {e}")));
                }
                let excerpt: String = body.chars().take(300).collect();
                Err((status.is_server_error(), format!("{status}: {excerpt}")))
            });
            match outcome {
                Ok(value) => return Ok(value),
                Err((true, message)) if attempt < ATTEMPTS => {
                    warn_retry(&url, &message);
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_secs(2));
                    attempt += 1;
                }
                Err((_, message)) => return Err(error(message)),
            }
        }
    }

    pub fn last_seq(&self) -> Result<u64, ApiError> {
        Ok(self.get::<EventPage>("/api/events?limit=1")?.last_seq)
    }

    /// The seq of the last event at or before `time_ms` (0 if none).
    pub fn seq_at_time(&self, time_ms: u64) -> Result<u64, ApiError> {
        let page: EventPage = self.get(&format!(
            "/api/events?order=desc&limit=1&until={}",
            to_rfc3339(time_ms)
        ))?;
        Ok(page.events.first().map_or(0, |e| e.seq))
    }

    /// Events with `from <= seq <= to`, oldest first, a page at a time.
    pub fn events(
        &self,
        from: u64,
        to: u64,
    ) -> impl Iterator<Item = Result<Envelope, ApiError>> + '_ {
        let mut next = from.max(1);
        let mut page: std::vec::IntoIter<EventJson> = Vec::new().into_iter();
        let mut ended = next > to;
        std::iter::from_fn(move || {
            if ended {
                return None;
            }
            let json = match page.next() {
                Some(json) => json,
                None => {
                    let fetched: Result<EventPage, ApiError> = self.get(&format!(
                        "/api/events?order=asc&limit={PAGE}&from_seq={next}&to_seq={to}"
                    ));
                    match fetched {
                        Ok(fetched) if !fetched.events.is_empty() => {
                            page = fetched.events.into_iter();
                            page.next()?
                        }
                        Ok(_) => {
                            ended = true;
                            return None;
                        }
                        Err(e) => {
                            ended = true;
                            return Some(Err(e));
                        }
                    }
                }
            };
            let item = if json.seq != next {
                Err(ApiError::Gap {
                    url: self.base.clone(),
                    after: next - 1,
                    next: json.seq,
                })
            } else {
                json.to_envelope().map_err(|message| ApiError::BadEvent {
                    url: self.base.clone(),
                    seq: json.seq,
                    message,
                })
            };
            match &item {
                Ok(_) => {
                    next += 1;
                    ended = next > to;
                }
                Err(_) => ended = true,
            }
            Some(item)
        })
    }
}

fn warn_retry(url: &str, message: &str) {
    eprintln!("warning: {url}: {message}; retrying");
}

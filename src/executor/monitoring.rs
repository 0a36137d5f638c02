//! Reading Logstash's monitoring API (pure): which port it listens on, and
//! each pipeline's health from `GET /_node/pipelines` (the running ones) and
//! `GET /_node/stats/pipelines` (events and reloads, failed ones included).
//!
//! Shapes: Logstash 8.19, `docs/static/monitoring/monitoring-apis.asciidoc`
//! ("Pipeline info", "Pipeline stats"); `reloads.last_error` is
//! `{message, backtrace}` as `logstash-core/lib/logstash/agent.rb`
//! (`update_failures_metrics`) records it.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::events::messages::{PipelineHealth, PipelineState};

/// The line Logstash logs once its API listens (`logstash-core/lib/logstash/
/// webserver.rb`: `Successfully started Logstash API endpoint {:port=>9600, ...}`).
pub const API_STARTED: &str = "Successfully started Logstash API endpoint";

/// The port in Logstash's "API started" log line.
pub fn api_port(line: &str) -> Option<u16> {
    let rest = &line[line.find(API_STARTED)? + API_STARTED.len()..];
    let digits = &rest[rest.find(":port=>")? + ":port=>".len()..];
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse().ok()
}

/// One pipeline as the API shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    pub running: bool,
    pub events_in: u64,
    pub events_out: u64,
    pub reload_failures: u64,
    pub last_error: Option<String>,
}

/// The pipelines of the two answers, by id; ids absent from both are not
/// known to Logstash (yet).
pub fn observed(pipelines: &Value, stats: &Value) -> BTreeMap<String, Observed> {
    let mut out: BTreeMap<String, Observed> = BTreeMap::new();
    if let Some(running) = pipelines["pipelines"].as_object() {
        for id in running.keys() {
            out.entry(id.clone()).or_default().running = true;
        }
    }
    if let Some(stats) = stats["pipelines"].as_object() {
        for (id, s) in stats {
            let o = out.entry(id.clone()).or_default();
            o.events_in = s["events"]["in"].as_u64().unwrap_or(0);
            o.events_out = s["events"]["out"].as_u64().unwrap_or(0);
            o.reload_failures = s["reloads"]["failures"].as_u64().unwrap_or(0);
            o.last_error = s["reloads"]["last_error"]["message"]
                .as_str()
                .map(|m| m.chars().take(2000).collect());
        }
    }
    out
}

/// The health of each pipeline the executor wrote (`(id, config)`), given
/// what the API showed (`None` while it is not reachable).
pub fn health(
    written: &[(String, String)],
    seen: Option<&BTreeMap<String, Observed>>,
) -> Vec<PipelineHealth> {
    written
        .iter()
        .map(|(id, config)| {
            let o = seen.and_then(|s| s.get(id));
            let state = match o {
                Some(o) if o.running => PipelineState::Running,
                Some(o) if o.last_error.is_some() => PipelineState::Failed,
                _ => PipelineState::Starting,
            };
            PipelineHealth {
                config: config.clone(),
                id: id.clone(),
                state,
                events_in: o.map_or(0, |o| o.events_in),
                events_out: o.map_or(0, |o| o.events_out),
                reload_failures: o.map_or(0, |o| o.reload_failures),
                last_error: o.and_then(|o| o.last_error.clone()),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_api_port_comes_from_the_log_line() {
        assert_eq!(
            api_port(
                "[2026-01-01T00:00:00,000][INFO ][logstash.agent ] Successfully started Logstash API endpoint {:port=>9601, :ssl_enabled=>false}"
            ),
            Some(9601)
        );
        assert_eq!(api_port("Pipelines running {:count=>1}"), None);
        assert_eq!(
            api_port("Successfully started Logstash API endpoint {}"),
            None
        );
    }

    /// The documented example answers, trimmed, plus a failed pipeline.
    #[test]
    fn running_failed_and_unseen_pipelines() {
        let pipelines = json!({"pipelines": {"test": {"workers": 1, "batch_size": 1}}});
        let stats = json!({"pipelines": {
            "test": {
                "events": {"duration_in_millis": 365495, "in": 216610, "filtered": 216485, "out": 216485},
                "reloads": {"last_error": null, "successes": 0, "failures": 0}
            },
            "broken": {
                "events": {"in": 0, "out": 0},
                "reloads": {"last_error": {"message": "File paths must be absolute", "backtrace": []}, "failures": 3}
            }
        }});
        let seen = observed(&pipelines, &stats);
        let written = [
            ("broken".to_owned(), "b".to_owned()),
            ("new".to_owned(), "n".to_owned()),
            ("test".to_owned(), "t".to_owned()),
        ];
        let h = health(&written, Some(&seen));
        assert_eq!(h[0].state, PipelineState::Failed);
        assert_eq!(h[0].reload_failures, 3);
        assert_eq!(
            h[0].last_error.as_deref(),
            Some("File paths must be absolute")
        );
        assert_eq!(h[1].state, PipelineState::Starting);
        assert_eq!(h[2].state, PipelineState::Running);
        assert_eq!((h[2].events_in, h[2].events_out), (216610, 216485));
        assert_eq!(h[2].config, "t");
        assert!(
            health(&written, None)
                .iter()
                .all(|p| p.state == PipelineState::Starting)
        );
    }
}

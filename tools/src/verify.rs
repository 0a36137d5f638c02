//! Checking stored and served projections against a replay of the history.
//!
//! The comparisons are pure functions of what was read; the command in
//! `main` does the reading.

use std::fmt::Write as _;

use logstash_mesos::state::State;
use logstash_mesos::views::name_in_path;
use logstash_mesos::views::{ExecutorJson, ExecutorsJson, HistoryJson};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api::{ApiClient, ApiError};
use crate::changes::text_diff;
use crate::summary::{FrameworkSummary, Summary};

/// Longest diff printed for one mismatch.
const MAX_DIFF_LINES: usize = 80;

/// One check and its outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub check: String,
    pub ok: bool,
    /// What differs, as a unified diff (expected: the replay).
    pub diff: Option<String>,
}

impl Finding {
    pub fn ok(check: impl Into<String>) -> Finding {
        Finding {
            check: check.into(),
            ok: true,
            diff: None,
        }
    }

    pub fn failed(check: impl Into<String>, diff: impl Into<String>) -> Finding {
        Finding {
            check: check.into(),
            ok: false,
            diff: Some(diff.into()),
        }
    }
}

/// The findings as readable text.
pub fn to_text(findings: &[Finding]) -> String {
    let mut out = String::new();
    for f in findings {
        let _ = writeln!(out, "{} {}", if f.ok { "ok  " } else { "FAIL" }, f.check);
        if let Some(diff) = &f.diff {
            for line in diff.lines() {
                let _ = writeln!(out, "     {line}");
            }
        }
    }
    let failed = findings.iter().filter(|f| !f.ok).count();
    if failed == 0 {
        out.push_str("verified: the projections match a replay of the history\n");
    } else {
        let _ = writeln!(
            out,
            "MISMATCH: {failed} of {} checks failed",
            findings.len()
        );
    }
    out
}

/// Compares projections a replica stored with the replay of the same
/// events; each differing part is shown as a diff of its debug form.
pub fn compare_states(check: &str, replayed: &State, stored: &State) -> Finding {
    if replayed == stored {
        return Finding::ok(check);
    }
    let mut diff = String::new();
    let part = |name, a: &dyn std::fmt::Debug, b: &dyn std::fmt::Debug| {
        (name, format!("{a:#?}"), format!("{b:#?}"))
    };
    let (r, s) = (replayed, stored);
    let parts = [
        part("last_seq", &r.last_seq, &s.last_seq),
        part("last_at", &r.last_at, &s.last_at),
        part("config_version", &r.config_version, &s.config_version),
        part("configs", &r.configs, &s.configs),
        part("settings", &r.settings, &s.settings),
        part("cluster", &r.cluster, &s.cluster),
        part("audit", &r.audit, &s.audit),
    ];
    for (name, a, b) in parts {
        if a != b {
            let _ = write!(
                diff,
                "{}",
                capped(&text_diff(
                    &format!("{a}\n"),
                    &format!("{b}\n"),
                    &format!("{name} (replayed)"),
                    &format!("{name} (stored)"),
                ))
            );
        }
    }
    Finding::failed(check, diff)
}

fn capped(diff: &str) -> String {
    let total = diff.lines().count();
    if total <= MAX_DIFF_LINES {
        return diff.to_owned();
    }
    let mut out: String = diff
        .lines()
        .take(MAX_DIFF_LINES)
        .flat_map(|l| [l, "\n"])
        .collect();
    let _ = writeln!(out, "... {} more lines", total - MAX_DIFF_LINES);
    out
}

/// What the API serves about the projections at one seq, in a form that a
/// replay can produce too.
#[derive(Debug, Serialize)]
pub struct ApiView {
    pub seq: u64,
    /// `GET /api/configs?at=<seq>`: the per-image configs in force.
    pub configs: Value,
    /// `GET /api/configs/<name>/history`, versions up to seq, for every config.
    pub histories: Value,
    /// What only the current state shows; absent when the replica moved on.
    pub current: Option<CurrentView>,
}

/// `GET /api/executors` and `GET /api/framework`, without live counters
/// and connection state.
#[derive(Debug, Serialize, PartialEq)]
pub struct CurrentView {
    pub config_version: u64,
    pub settings_fingerprint: Option<String>,
    pub framework: Option<FrameworkSummary>,
    pub executors: Vec<ExecutorJson>,
}

#[derive(Deserialize)]
struct ApiFramework {
    framework_id: Option<String>,
    master: Option<String>,
    subscribed_at: Option<String>,
    replica: Option<u64>,
    settings_fingerprint: Option<String>,
}

impl ApiView {
    /// The view a replay predicts.
    pub fn of(summary: &Summary) -> ApiView {
        let configs: Vec<_> = summary
            .configs
            .iter()
            .filter(|c| c.kind == "docker")
            .collect();
        ApiView {
            seq: summary.seq,
            configs: serde_json::to_value(configs).unwrap_or_default(),
            histories: serde_json::to_value(&summary.histories).unwrap_or_default(),
            current: Some(CurrentView {
                config_version: summary.config_version,
                settings_fingerprint: summary.settings_fingerprint.clone(),
                framework: summary.framework.clone(),
                executors: summary.executors.clone(),
            }),
        }
    }

    /// Reads the view at `seq` from a replica; `names` are the configs whose
    /// histories to read besides those in force. The current-only part is
    /// read only while the replica's last event is `seq`.
    pub fn fetch(api: &ApiClient, seq: u64, names: &[String]) -> Result<ApiView, ApiError> {
        let configs: Value = api.get(&format!("/api/configs?at={seq}"))?;
        let mut all: Vec<String> = names.to_vec();
        if let Value::Array(items) = &configs {
            all.extend(
                items
                    .iter()
                    .filter_map(|c| c.get("name")?.as_str().map(str::to_owned)),
            );
        }
        all.sort();
        all.dedup();
        let mut histories = Vec::new();
        for name in &all {
            let mut history: HistoryJson =
                api.get(&format!("/api/configs/{}/history", name_in_path(name)))?;
            history.versions.retain(|v| v.seq <= seq);
            if !history.versions.is_empty() {
                histories.push(history);
            }
        }
        let current = if api.last_seq()? == seq {
            let executors = api
                .get::<ExecutorsJson>("/api/executors")?
                .without_live_counters();
            let framework: ApiFramework = api.get("/api/framework")?;
            let view = CurrentView {
                config_version: executors.config_version,
                settings_fingerprint: framework.settings_fingerprint,
                framework: match (
                    framework.framework_id,
                    framework.master,
                    framework.subscribed_at,
                    framework.replica,
                ) {
                    (Some(framework_id), Some(master), Some(subscribed_at), Some(replica)) => {
                        Some(FrameworkSummary {
                            framework_id,
                            master,
                            replica,
                            subscribed_at,
                        })
                    }
                    _ => None,
                },
                executors: executors.executors,
            };
            // Still the same point: the two answers belong together.
            (api.last_seq()? == seq).then_some(view)
        } else {
            None
        };
        Ok(ApiView {
            seq,
            configs,
            histories: serde_json::to_value(&histories).unwrap_or_default(),
            current,
        })
    }
}

/// Compares what a replay predicts with what the API served.
pub fn compare_api(url: &str, predicted: &ApiView, served: &ApiView) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut check = |name: String, a: String, b: String| {
        if a == b {
            findings.push(Finding::ok(name));
        } else {
            let diff = capped(&text_diff(&a, &b, "replayed", &format!("{url} (served)")));
            findings.push(Finding::failed(name, diff));
        }
    };
    check(
        format!("GET /api/configs?at={} equals the replay", predicted.seq),
        pretty(&predicted.configs),
        pretty(&served.configs),
    );
    check(
        format!(
            "config histories up to event {} equal the replay",
            predicted.seq
        ),
        pretty(&predicted.histories),
        pretty(&served.histories),
    );
    match (&predicted.current, &served.current) {
        (Some(a), Some(b)) => check(
            format!(
                "executors and framework at event {} equal the replay",
                predicted.seq
            ),
            pretty(a),
            pretty(b),
        ),
        _ => findings.push(Finding::ok(format!(
            "executors and framework not compared: {url} moved past event {}",
            predicted.seq
        ))),
    }
    findings
}

/// Pretty JSON, for line diffs.
fn pretty<T: Serialize + ?Sized>(value: &T) -> String {
    let mut s = serde_json::to_string_pretty(value).unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use logstash_mesos::events::{Actor, ConfigKind, Envelope, Event};

    fn state(inputs: &[&str]) -> State {
        let events: Vec<Envelope> = (1..)
            .zip(inputs)
            .map(|(seq, input)| Envelope {
                seq,
                at: seq,
                actor: Actor::System,
                event: if seq == 1 {
                    Event::ConfigCreated {
                        name: "n".into(),
                        kind: ConfigKind::Docker,
                        input: input.to_string(),
                    }
                } else {
                    Event::ConfigUpdated {
                        name: "n".into(),
                        input: input.to_string(),
                        restored_from: None,
                    }
                },
            })
            .collect();
        State::replay(&events)
    }

    #[test]
    fn equal_states_pass_and_differences_are_shown() {
        let a = state(&["one", "two"]);
        assert!(compare_states("same", &a, &a.clone()).ok);
        let mut b = a.clone();
        b.config_version = 1;
        let finding = compare_states("tampered", &a, &b);
        assert!(!finding.ok);
        let diff = finding.diff.unwrap();
        assert!(diff.contains("-2\n+1\n"), "{diff}");
        assert!(diff.contains("config_version (stored)"), "{diff}");
        assert!(
            to_text(&[Finding::ok("x"), Finding::failed("y", "d")]).contains("MISMATCH: 1 of 2")
        );
    }

    #[test]
    fn the_api_view_of_a_replay_matches_itself_and_shows_differences() {
        let a = ApiView::of(&Summary::of(&state(&["one", "two"])));
        let b = ApiView::of(&Summary::of(&state(&["one", "three"])));
        assert!(compare_api("u", &a, &a).iter().all(|f| f.ok));
        let findings = compare_api("u", &a, &b);
        let failed: Vec<&Finding> = findings.iter().filter(|f| !f.ok).collect();
        assert_eq!(failed.len(), 2, "{findings:?}");
        assert!(
            failed[0]
                .diff
                .as_ref()
                .unwrap()
                .contains("-    \"input\": \"two\"")
        );
    }
}

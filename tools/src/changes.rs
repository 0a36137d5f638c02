//! What changed between two points of the history: configs added, changed
//! (with a text diff) and removed; settings, framework and leader; agents,
//! their tasks, applied config versions and streams.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use logstash_mesos::events::ExecutorSettings;
use logstash_mesos::views::{ConfigJson, ExecutorJson, TaskJson};
use serde::Serialize;
use similar::TextDiff;

use crate::summary::{FrameworkSummary, LeaderSummary, Summary, describe};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    ConfigAdded {
        name: String,
        kind: String,
        version: u32,
        input: String,
    },
    ConfigChanged {
        name: String,
        kind: String,
        from_version: u32,
        to_version: u32,
        /// Unified diff of the config text.
        diff: String,
    },
    ConfigRemoved {
        name: String,
        kind: String,
    },
    SettingsChanged {
        from: Option<ExecutorSettings>,
        to: Option<ExecutorSettings>,
    },
    FrameworkChanged {
        from: Option<FrameworkSummary>,
        to: Option<FrameworkSummary>,
    },
    LeaderChanged {
        from: Option<LeaderSummary>,
        to: Option<LeaderSummary>,
    },
    ExecutorAdded {
        agent_id: String,
        hostname: String,
    },
    ExecutorRemoved {
        agent_id: String,
        hostname: String,
    },
    TaskChanged {
        agent_id: String,
        from: Option<Box<TaskJson>>,
        to: Option<Box<TaskJson>>,
    },
    ConfigApplied {
        agent_id: String,
        from: Option<u64>,
        to: Option<u64>,
    },
    StreamChanged {
        agent_id: String,
        container_id: String,
        path: String,
        from: Option<String>,
        to: Option<String>,
    },
}

/// The changes that lead from `a` to `b`, configs first, then the
/// framework, then agents in agent id order.
pub fn changes(a: &Summary, b: &Summary) -> Vec<Change> {
    let mut out = Vec::new();
    config_changes(&a.configs, &b.configs, &mut out);
    if a.settings != b.settings {
        out.push(Change::SettingsChanged {
            from: a.settings.clone(),
            to: b.settings.clone(),
        });
    }
    if a.framework != b.framework {
        out.push(Change::FrameworkChanged {
            from: a.framework.clone(),
            to: b.framework.clone(),
        });
    }
    if a.leader != b.leader {
        out.push(Change::LeaderChanged {
            from: a.leader.clone(),
            to: b.leader.clone(),
        });
    }
    let before: BTreeMap<&str, &ExecutorJson> = a
        .executors
        .iter()
        .map(|e| (e.agent_id.as_str(), e))
        .collect();
    let after: BTreeMap<&str, &ExecutorJson> = b
        .executors
        .iter()
        .map(|e| (e.agent_id.as_str(), e))
        .collect();
    let agents: std::collections::BTreeSet<&str> =
        before.keys().chain(after.keys()).copied().collect();
    for agent in agents {
        executor_changes(
            before.get(agent).copied(),
            after.get(agent).copied(),
            &mut out,
        );
    }
    out
}

fn config_changes(a: &[ConfigJson], b: &[ConfigJson], out: &mut Vec<Change>) {
    let before: BTreeMap<&str, &ConfigJson> = a.iter().map(|c| (c.name.as_str(), c)).collect();
    let after: BTreeMap<&str, &ConfigJson> = b.iter().map(|c| (c.name.as_str(), c)).collect();
    for (name, new) in &after {
        match before.get(name) {
            None => out.push(Change::ConfigAdded {
                name: new.name.clone(),
                kind: new.kind.clone(),
                version: new.version,
                input: new.input.clone(),
            }),
            Some(old) if old.seq != new.seq || old.input != new.input => {
                out.push(Change::ConfigChanged {
                    name: new.name.clone(),
                    kind: new.kind.clone(),
                    from_version: old.version,
                    to_version: new.version,
                    diff: text_diff(
                        &old.input,
                        &new.input,
                        &format!("{name} (version {})", old.version),
                        &format!("{name} (version {})", new.version),
                    ),
                })
            }
            Some(_) => {}
        }
    }
    for (name, old) in &before {
        if !after.contains_key(name) {
            out.push(Change::ConfigRemoved {
                name: old.name.clone(),
                kind: old.kind.clone(),
            });
        }
    }
}

fn executor_changes(a: Option<&ExecutorJson>, b: Option<&ExecutorJson>, out: &mut Vec<Change>) {
    let Some(agent) = a.or(b) else { return };
    let agent_id = agent.agent_id.clone();
    match (a, b) {
        (None, Some(b)) => out.push(Change::ExecutorAdded {
            agent_id: agent_id.clone(),
            hostname: b.hostname.clone(),
        }),
        (Some(a), None) => {
            out.push(Change::ExecutorRemoved {
                agent_id,
                hostname: a.hostname.clone(),
            });
            return;
        }
        _ => {}
    }
    let task = |e: Option<&ExecutorJson>| e.and_then(|e| e.task.clone()).map(Box::new);
    if task(a) != task(b) {
        out.push(Change::TaskChanged {
            agent_id: agent_id.clone(),
            from: task(a),
            to: task(b),
        });
    }
    let applied = |e: Option<&ExecutorJson>| e.and_then(|e| e.applied_version);
    if applied(a) != applied(b) {
        out.push(Change::ConfigApplied {
            agent_id: agent_id.clone(),
            from: applied(a),
            to: applied(b),
        });
    }
    let streams = |e: Option<&ExecutorJson>| -> BTreeMap<(String, String), String> {
        e.map(|e| {
            e.streams
                .iter()
                .map(|s| {
                    let state = match &s.reason {
                        Some(reason) => format!("{} ({reason})", s.state),
                        None => s.state.clone(),
                    };
                    ((s.container_id.clone(), s.path.clone()), state)
                })
                .collect()
        })
        .unwrap_or_default()
    };
    let (before, after) = (streams(a), streams(b));
    let keys: std::collections::BTreeSet<&(String, String)> =
        before.keys().chain(after.keys()).collect();
    for key in keys {
        let (from, to) = (before.get(key), after.get(key));
        if from != to {
            out.push(Change::StreamChanged {
                agent_id: agent_id.clone(),
                container_id: key.0.clone(),
                path: key.1.clone(),
                from: from.cloned(),
                to: to.cloned(),
            });
        }
    }
}

/// A unified diff of two texts, line by line.
/// Texts are compared as if each ended with a line break.
pub fn text_diff(a: &str, b: &str, a_name: &str, b_name: &str) -> String {
    let terminated = |s: &str| {
        if s.is_empty() || s.ends_with('\n') {
            s.to_owned()
        } else {
            format!("{s}\n")
        }
    };
    let (a, b) = (terminated(a), terminated(b));
    TextDiff::from_lines(&a, &b)
        .unified_diff()
        .context_radius(3)
        .header(a_name, b_name)
        .to_string()
}

/// The changes as readable text.
pub fn to_text(changes: &[Change]) -> String {
    let mut out = String::new();
    if changes.is_empty() {
        out.push_str("No changes.\n");
    }
    for change in changes {
        let _ = write_change(&mut out, change);
    }
    out
}

fn write_change(out: &mut String, change: &Change) -> std::fmt::Result {
    let opt = |v: Option<String>| v.unwrap_or_else(|| "none".to_owned());
    match change {
        Change::ConfigAdded {
            name,
            kind,
            version,
            input,
        } => {
            writeln!(out, "+ config {name} [{kind}] added (version {version})")?;
            for line in input.lines() {
                writeln!(out, "  | {line}")?;
            }
        }
        Change::ConfigChanged {
            name,
            kind,
            from_version,
            to_version,
            diff,
        } => {
            writeln!(
                out,
                "~ config {name} [{kind}] changed: version {from_version} -> {to_version}"
            )?;
            for line in diff.lines() {
                writeln!(out, "  {line}")?;
            }
        }
        Change::ConfigRemoved { name, kind } => writeln!(out, "- config {name} [{kind}] removed")?,
        Change::SettingsChanged { from, to } => writeln!(
            out,
            "~ executor settings: {} -> {}",
            opt(from.as_ref().map(|s| format!("{s:?}"))),
            opt(to.as_ref().map(|s| format!("{s:?}")))
        )?,
        Change::FrameworkChanged { from, to } => writeln!(
            out,
            "~ framework: {} -> {}",
            opt(from.as_ref().map(|f| f.framework_id.clone())),
            opt(to
                .as_ref()
                .map(|f| format!("{} (master {})", f.framework_id, f.master)))
        )?,
        Change::LeaderChanged { from, to } => writeln!(
            out,
            "~ leader: {} -> {}",
            opt(from
                .as_ref()
                .map(|l| format!("replica {} term {}", l.replica, l.term))),
            opt(to
                .as_ref()
                .map(|l| format!("replica {} term {}", l.replica, l.term)))
        )?,
        Change::ExecutorAdded { agent_id, hostname } => {
            writeln!(out, "+ agent {agent_id} ({hostname})")?
        }
        Change::ExecutorRemoved { agent_id, hostname } => {
            writeln!(out, "- agent {agent_id} ({hostname})")?
        }
        Change::TaskChanged { agent_id, from, to } => {
            let task = |t: &Option<Box<TaskJson>>| {
                opt(t
                    .as_ref()
                    .map(|t| format!("task {} {}", t.task_id, describe(t))))
            };
            writeln!(out, "~ agent {agent_id}: {} -> {}", task(from), task(to))?
        }
        Change::ConfigApplied { agent_id, from, to } => writeln!(
            out,
            "~ agent {agent_id}: applied config version {} -> {}",
            opt(from.map(|v| v.to_string())),
            opt(to.map(|v| v.to_string()))
        )?,
        Change::StreamChanged {
            agent_id,
            container_id,
            path,
            from,
            to,
        } => writeln!(
            out,
            "~ agent {agent_id}: stream {path} in {container_id}: {} -> {}",
            opt(from.clone()),
            opt(to.clone())
        )?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use logstash_mesos::events::{Actor, ConfigKind, Envelope, Event, StreamChange, TaskState};
    use logstash_mesos::state::State;

    fn env(seq: u64, event: Event) -> Envelope {
        Envelope {
            seq,
            at: 1_700_000_000_000 + seq,
            actor: Actor::Api("alice".into()),
            event,
        }
    }

    #[test]
    fn names_configs_agents_tasks_and_streams_that_changed() {
        let history = vec![
            env(
                1,
                Event::ConfigCreated {
                    name: "nginx".into(),
                    kind: ConfigKind::Docker,
                    input: "input {\n  a\n}\n".into(),
                },
            ),
            env(
                2,
                Event::ConfigCreated {
                    name: "old".into(),
                    kind: ConfigKind::Docker,
                    input: "x".into(),
                },
            ),
            env(
                3,
                Event::ConfigUpdated {
                    name: "nginx".into(),
                    input: "input {\n  b\n}\n".into(),
                    restored_from: None,
                },
            ),
            env(4, Event::ConfigDeleted { name: "old".into() }),
            env(
                5,
                Event::ConfigCreated {
                    name: "new".into(),
                    kind: ConfigKind::Docker,
                    input: "y".into(),
                },
            ),
            env(
                6,
                Event::ExecutorLaunched {
                    agent_id: "a1".into(),
                    hostname: "h1".into(),
                    task_id: "t1".into(),
                    executor_id: "e1".into(),
                    fingerprint: "f".into(),
                },
            ),
            env(
                7,
                Event::TaskStateChanged {
                    task_id: "t1".into(),
                    agent_id: "a1".into(),
                    state: TaskState::Running,
                    reason: None,
                    message: None,
                    source: None,
                },
            ),
            env(
                8,
                Event::StreamsChanged {
                    agent_id: "a1".into(),
                    container_id: "c1".into(),
                    image: "nginx".into(),
                    path: "/var/log/x.log".into(),
                    change: StreamChange::Started,
                    reason: None,
                },
            ),
        ];
        let a = Summary::of(&State::replay(&history[..2]));
        let b = Summary::of(&State::replay(&history));
        let changes = changes(&a, &b);
        let kinds: Vec<&str> = changes
            .iter()
            .map(|c| match c {
                Change::ConfigAdded { name, .. } if name == "new" => "added new",
                Change::ConfigChanged { name, .. } if name == "nginx" => "changed nginx",
                Change::ConfigRemoved { name, .. } if name == "old" => "removed old",
                Change::ExecutorAdded { agent_id, .. } if agent_id == "a1" => "agent a1",
                Change::TaskChanged { to: Some(t), .. } if t.state == "Running" => "task running",
                Change::StreamChanged { to: Some(s), .. } if s == "started" => "stream started",
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "added new",
                "changed nginx",
                "removed old",
                "agent a1",
                "task running",
                "stream started"
            ]
        );
        let Change::ConfigChanged { diff, .. } = &changes[1] else {
            unreachable!()
        };
        assert!(diff.contains("-  a\n+  b\n"), "{diff}");
        let text = to_text(&changes);
        assert!(
            text.contains("~ config nginx [docker] changed: version 1 -> 2"),
            "{text}"
        );
        assert!(to_text(&super::changes(&b, &b)).contains("No changes."));
    }
}

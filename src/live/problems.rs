//! What is wrong on the agents, grouped so that one cause shows once: "Logstash
//! not found · 200 agents" instead of the same line on 200 cards.
//!
//! A problem has a kind and a message. Messages are grouped with their
//! variable parts (ids, paths, addresses, numbers) set aside, so the same
//! error from two containers or two agents is one group; the group keeps one
//! original message as an example and a stable id the API filters by.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;
use utoipa::ToSchema;

use crate::events::messages::LogstashHealth;
use crate::events::{StreamChange, TaskState};

use super::nodes::Node;

/// An executor that has not reported for this long is a problem (three
/// report intervals).
pub const REPORT_OVERDUE_MS: u64 = 3 * crate::events::messages::REPORT_EVERY.as_millis() as u64;
/// A task still staging or starting after this long is a problem.
pub const START_OVERDUE_MS: u64 = 120_000;
/// Longest message kept in a group, in characters.
pub const MAX_MESSAGE_CHARS: usize = 160;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Warning,
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Our task on the agent is not running.
    Task,
    /// The executor's reports are missing or overdue.
    Report,
    /// The executor has not applied the current config set.
    Config,
    /// The executor runs with outdated settings.
    Settings,
    Logstash,
    /// A stream out of a container failed.
    Stream,
    /// The executor dropped bytes it could not ship.
    Dropped,
    /// Another error the executor reported.
    Executor,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Task => "task",
            Kind::Report => "report",
            Kind::Config => "config",
            Kind::Settings => "settings",
            Kind::Logstash => "logstash",
            Kind::Stream => "stream",
            Kind::Dropped => "dropped",
            Kind::Executor => "executor",
        }
    }
}

/// One problem of one agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub id: String,
    pub kind: Kind,
    pub severity: Severity,
    /// With the variable parts set aside.
    pub message: String,
    /// The message as it came.
    pub example: String,
    /// The container it is about (stream problems).
    pub container: Option<String>,
}

impl Problem {
    fn new(kind: Kind, severity: Severity, message: String, example: String) -> Problem {
        Problem {
            id: id(kind, &message),
            kind,
            severity,
            message,
            example: clip(&example),
            container: None,
        }
    }
}

/// A problem shared by some agents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Group {
    /// Stable for the same kind and message: `GET /api/executors?problem=<id>`
    /// lists the agents it affects.
    pub id: String,
    pub kind: Kind,
    pub severity: Severity,
    /// The message with its variable parts (ids, paths, addresses, numbers)
    /// shown as `‹id›`, `‹path›`, `‹address›`, `‹n›`.
    pub message: String,
    /// Agents with this problem.
    pub agents: usize,
    /// Containers with this problem (stream problems; 0 for the others).
    pub containers: usize,
    /// One of the original messages.
    pub example: String,
}

/// The stable id of a kind and a message: FNV-1a, 64 bits, in hex.
pub fn id(kind: Kind, message: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in kind.as_str().bytes().chain([0]).chain(message.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// Sets the variable parts of messages aside, remembering what it has seen:
/// the same message comes from many agents.
#[derive(Debug, Default)]
pub struct Normalizer {
    seen: HashMap<String, String>,
}

/// Keeps at most this many distinct messages (a hostile executor may send
/// a new one every time).
const NORMALIZER_MEMORY: usize = 4096;

impl Normalizer {
    pub fn normalize(&mut self, text: &str) -> String {
        if let Some(known) = self.seen.get(text) {
            return known.clone();
        }
        let out = normalize(text);
        if self.seen.len() < NORMALIZER_MEMORY {
            self.seen.insert(text.to_owned(), out.clone());
        }
        out
    }
}

static PATTERNS: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        // Mesos agent, framework and task ids (a UUID, "-S<n>", ".<n>").
        (
            r"(?i)\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?:-S\d+)?(?:\.\d+)*",
            "‹id›",
        ),
        // Container ids, digests.
        (r"(?i)\b(?:sha256:)?[0-9a-f]{12,64}\b", "‹id›"),
        (r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b", "‹address›"),
        (r#"(^|[\s(\[='"“])/[^\s'"”()\[\],;:]*"#, "${1}‹path›"),
        // Numbers on their own ("status 1", "120s"), not inside names ("nginx:1.27").
        (r"(^|[\s(=])\d+(?:\.\d+)?", "${1}‹n›"),
    ]
    .into_iter()
    .map(|(pattern, with)| (Regex::new(pattern).expect("a valid pattern"), with))
    .collect()
});

/// `text` with control characters as spaces, runs of spaces as one, the
/// variable parts replaced, and at most [`MAX_MESSAGE_CHARS`] characters.
pub fn normalize(text: &str) -> String {
    let mut out = squash(text);
    for (pattern, with) in PATTERNS.iter() {
        if pattern.is_match(&out) {
            out = pattern.replace_all(&out, *with).into_owned();
        }
    }
    clip(&out)
}

fn squash(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(4 * MAX_MESSAGE_CHARS));
    for word in text
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
    {
        if out.chars().count() > 2 * MAX_MESSAGE_CHARS {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

fn clip(text: &str) -> String {
    let squashed = squash(text);
    // "...: " with nothing after it says nothing more.
    let text = squashed.trim_end_matches([':', ';', ',', ' ']);
    match text.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// "<program> not found: streaming into the spool only", whatever the
/// program's path.
static LOGSTASH_NOT_FOUND: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\S+ not found\b(.*)$").expect("a valid pattern"));

/// The problems of `node` at `now` (unix ms).
pub fn of_node(node: &Node<'_>, now: u64, normalizer: &mut Normalizer) -> Vec<Problem> {
    use Severity::{Error, Warning};
    let mut out = Vec::new();
    let mut add = |kind, severity, message: String, example: String| {
        out.push(Problem::new(kind, severity, message, example));
    };
    match node.task {
        None => {
            let text = match &node.agent.last_ended_task {
                Some(t) => {
                    let detail = t.message.as_deref().or(t.reason.as_deref());
                    format!(
                        "no executor running: the last one ended {:?}{}",
                        t.state,
                        detail.map(|d| format!(": {d}")).unwrap_or_default()
                    )
                }
                None => "no executor running".to_owned(),
            };
            add(Kind::Task, Error, normalizer.normalize(&text), text);
        }
        Some(task) => match task.state {
            TaskState::Running => {}
            TaskState::Staging | TaskState::Starting => {
                if now.saturating_sub(task.launched_at) > START_OVERDUE_MS {
                    let text = format!(
                        "the executor is still {:?} after {} min",
                        task.state,
                        START_OVERDUE_MS / 60_000
                    );
                    add(Kind::Task, Warning, text.clone(), text);
                }
            }
            TaskState::Killing => {
                let text = "the executor is being killed".to_owned();
                add(Kind::Task, Warning, text.clone(), text);
            }
            other => {
                let text = format!("the executor's task is {other:?}");
                add(Kind::Task, Error, text.clone(), text);
            }
        },
    }
    if let Some(task) = node.task {
        if !node.up_to_date {
            let text = "behind the current config set".to_owned();
            add(Kind::Config, Warning, text.clone(), text);
        }
        if !node.current_settings {
            let text = "runs with outdated executor settings".to_owned();
            add(Kind::Settings, Warning, text.clone(), text);
        }
        let overdue = |since: u64| now.saturating_sub(since) > REPORT_OVERDUE_MS;
        let text = match node.report {
            None if task.state == TaskState::Running && overdue(task.updated_at) => Some(format!(
                "no report from the executor in {} s",
                REPORT_OVERDUE_MS / 1000
            )),
            Some(r) if overdue(r.received_at) => Some(format!(
                "the executor has not reported for over {} s",
                REPORT_OVERDUE_MS / 1000
            )),
            _ => None,
        };
        if let Some(text) = text {
            add(Kind::Report, Error, text.clone(), text);
        }
    }
    if let Some(report) = node.report.map(|r| &r.report) {
        let mut logstash_said = false;
        for error in &report.errors {
            match error.strip_prefix("logstash: ") {
                Some(rest) => {
                    logstash_said = true;
                    let severity = match report.logstash {
                        LogstashHealth::Failed => Error,
                        _ => Warning,
                    };
                    let message = match LOGSTASH_NOT_FOUND.captures(rest) {
                        Some(c) => format!("Logstash not found{}", &c[1]),
                        None => normalizer.normalize(rest),
                    };
                    add(Kind::Logstash, severity, message, error.clone());
                }
                None => {
                    let kind = if error.starts_with("Logstash ") {
                        Kind::Logstash
                    } else {
                        Kind::Executor
                    };
                    add(kind, Error, normalizer.normalize(error), error.clone());
                }
            }
        }
        if !logstash_said {
            match report.logstash {
                LogstashHealth::Failed => {
                    let text = "Logstash failed".to_owned();
                    add(Kind::Logstash, Error, text.clone(), text);
                }
                LogstashHealth::Restarting => {
                    let text = "Logstash is restarting".to_owned();
                    add(Kind::Logstash, Warning, text.clone(), text);
                }
                _ => {}
            }
        }
        if report.totals.dropped_bytes > 0 {
            let text = "dropped bytes it could not ship".to_owned();
            add(Kind::Dropped, Error, text.clone(), text);
        }
    }
    let mut failed = BTreeSet::new();
    for ((container, _), stream) in &node.agent.streams {
        if stream.state != StreamChange::Failed {
            continue;
        }
        let reason = stream.reason.as_deref().unwrap_or("no reason given");
        let example = format!("stream failed: {reason}");
        let mut problem =
            Problem::new(Kind::Stream, Error, normalizer.normalize(&example), example);
        if failed.insert((container.clone(), problem.id.clone())) {
            problem.container = Some(container.clone());
            out.push(problem);
        }
    }
    out
}

/// The problems of `nodes` grouped by kind and message, errors first, then
/// the most widespread.
pub fn group<'a>(nodes: impl IntoIterator<Item = &'a Node<'a>>) -> Vec<Group> {
    let mut groups: BTreeMap<&str, (Group, BTreeSet<&str>)> = BTreeMap::new();
    for node in nodes {
        for problem in &node.problems {
            let (group, agents) = groups.entry(&problem.id).or_insert_with(|| {
                (
                    Group {
                        id: problem.id.clone(),
                        kind: problem.kind,
                        severity: problem.severity,
                        message: problem.message.clone(),
                        agents: 0,
                        containers: 0,
                        example: problem.example.clone(),
                    },
                    BTreeSet::new(),
                )
            });
            group.severity = group.severity.max(problem.severity);
            agents.insert(node.agent_id);
            if problem.container.is_some() {
                group.containers += 1;
            }
        }
    }
    let mut out: Vec<Group> = groups
        .into_values()
        .map(|(mut group, agents)| {
            group.agents = agents.len();
            group
        })
        .collect();
    out.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(b.agents.cmp(&a.agents))
            .then(b.containers.cmp(&a.containers))
            .then_with(|| a.kind.cmp(&b.kind))
            .then_with(|| a.message.cmp(&b.message))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::messages::{ExecutorReport, Totals};
    use crate::live::Report;
    use crate::state::{Agent, Stream, Task};

    const NOW: u64 = 10_000_000;

    fn task(state: TaskState) -> Task {
        Task {
            task_id: "logstash.a.1".into(),
            agent_id: "a".into(),
            executor_id: "e".into(),
            fingerprint: "f".into(),
            state,
            reason: None,
            message: None,
            launched_at: NOW - 1000,
            updated_at: NOW - 1000,
        }
    }

    fn report(health: LogstashHealth, errors: &[&str], dropped: u64) -> Report {
        Report {
            received_at: NOW - 1000,
            executor_id: "e".into(),
            report: ExecutorReport {
                config_version: Some(1),
                logstash: health,
                totals: Totals {
                    dropped_bytes: dropped,
                    ..Totals::default()
                },
                errors: errors.iter().map(|e| e.to_string()).collect(),
                ..ExecutorReport::default()
            },
        }
    }

    fn node<'a>(
        id: &'a str,
        agent: &'a Agent,
        task: Option<&'a Task>,
        report: Option<&'a Report>,
    ) -> Node<'a> {
        let mut node = Node {
            agent_id: id,
            agent,
            task,
            report,
            rates: None,
            current_settings: true,
            up_to_date: true,
            problems: vec![],
        };
        node.problems = of_node(&node, NOW, &mut Normalizer::default());
        node
    }

    fn messages(node: &Node<'_>) -> Vec<String> {
        node.problems.iter().map(|p| p.message.clone()).collect()
    }

    #[test]
    fn variable_parts_are_set_aside() {
        for (text, expected) in [
            (
                "cannot write /tmp/x/pipeline.conf: Permission denied (os error 13)",
                "cannot write ‹path›: Permission denied (os error ‹n›)",
            ),
            (
                "container 3f4e5d6c7b8a9f0e1d2c3b4a has no sh",
                "container ‹id› has no sh",
            ),
            (
                "agent 8c2f3a91-1d2e-4b5c-9a8b-7c6d5e4f3a2b-S17 gone",
                "agent ‹id› gone",
            ),
            ("connect 10.0.0.7:9600 refused", "connect ‹address› refused"),
            ("after 120s (Starting)", "after ‹n›s (Starting)"),
            ("tabs\tand\nnew lines", "tabs and new lines"),
            ("no usable `sh`: ", "no usable `sh`"),
            (
                "nginx:1.27: the config does not parse",
                "nginx:1.27: the config does not parse",
            ),
        ] {
            assert_eq!(normalize(text), expected, "{text}");
        }
        let long = "x".repeat(1000);
        assert_eq!(normalize(&long).chars().count(), MAX_MESSAGE_CHARS + 1);
    }

    #[test]
    fn the_same_cause_on_many_agents_is_one_group() {
        let agent = Agent::default();
        let running = task(TaskState::Running);
        let reports: Vec<Report> = [
            "logstash: logstash not found: streaming into the spool only",
            "logstash: /opt/logstash/bin/logstash not found: streaming into the spool only",
        ]
        .iter()
        .map(|e| report(LogstashHealth::NotInstalled, &[e], 0))
        .collect();
        let ids: Vec<String> = (0..200).map(|i| format!("agent-S{i}")).collect();
        let nodes: Vec<Node<'_>> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| node(id, &agent, Some(&running), Some(&reports[i % 2])))
            .collect();
        let groups = group(&nodes);
        assert_eq!(groups.len(), 1, "{groups:?}");
        assert_eq!(
            groups[0].message,
            "Logstash not found: streaming into the spool only"
        );
        assert_eq!(groups[0].agents, 200);
        assert_eq!(groups[0].kind, Kind::Logstash);
        assert_eq!(groups[0].severity, Severity::Warning);
        assert_eq!(groups[0].id, id(Kind::Logstash, &groups[0].message));
    }

    #[test]
    fn stream_problems_count_containers_and_agents() {
        let failed = |reason: &str| Stream {
            image: "busybox".into(),
            state: StreamChange::Failed,
            reason: Some(reason.into()),
            since: 0,
        };
        let mut one = Agent::default();
        one.streams.insert(
            ("c1aaaaaaaaaaaa".into(), "/var/log/a".into()),
            failed("container has no sh"),
        );
        one.streams.insert(
            ("c1aaaaaaaaaaaa".into(), "/var/log/b".into()),
            failed("container has no sh"),
        );
        let mut two = Agent::default();
        two.streams.insert(
            ("c2bbbbbbbbbbbb".into(), "/var/log/a".into()),
            failed("container has no sh"),
        );
        two.streams.insert(
            ("c3cccccccccccc".into(), "/var/log/a".into()),
            Stream {
                state: StreamChange::Started,
                reason: None,
                ..failed("")
            },
        );
        let running = task(TaskState::Running);
        let nodes = [
            node("a", &one, Some(&running), None),
            node("b", &two, Some(&running), None),
        ];
        let groups = group(&nodes);
        assert_eq!(groups.len(), 1, "{groups:?}");
        assert_eq!(groups[0].message, "stream failed: container has no sh");
        assert_eq!((groups[0].agents, groups[0].containers), (2, 2));
    }

    #[test]
    fn each_kind_of_trouble_is_named() {
        let agent = Agent::default();
        let ended = Agent {
            last_ended_task: Some(Task {
                message: Some(
                    "Executor terminated on 8c2f3a91-1d2e-4b5c-9a8b-7c6d5e4f3a2b-S3".into(),
                ),
                ..task(TaskState::Failed)
            }),
            ..Agent::default()
        };
        assert_eq!(
            messages(&node("a", &ended, None, None)),
            ["no executor running: the last one ended Failed: Executor terminated on ‹id›"]
        );
        let staging = Task {
            launched_at: NOW - START_OVERDUE_MS - 1,
            ..task(TaskState::Staging)
        };
        assert_eq!(
            messages(&node("a", &agent, Some(&staging), None)),
            ["the executor is still Staging after 2 min"]
        );
        let fresh = task(TaskState::Staging);
        assert!(node("a", &agent, Some(&fresh), None).problems.is_empty());

        let running = task(TaskState::Running);
        let mut behind = node("a", &agent, Some(&running), None);
        behind.up_to_date = false;
        behind.current_settings = false;
        let problems = of_node(&behind, NOW, &mut Normalizer::default());
        let kinds: Vec<Kind> = problems.iter().map(|p| p.kind).collect();
        assert_eq!(kinds, [Kind::Config, Kind::Settings]);

        let old = Task {
            updated_at: NOW - REPORT_OVERDUE_MS - 1,
            ..running.clone()
        };
        assert_eq!(
            messages(&node("a", &agent, Some(&old), None)),
            ["no report from the executor in 90 s"]
        );
        let mut late = report(LogstashHealth::Running, &[], 0);
        late.received_at = NOW - REPORT_OVERDUE_MS - 1;
        assert_eq!(
            messages(&node("a", &agent, Some(&running), Some(&late))),
            ["the executor has not reported for over 90 s"]
        );

        let failing = report(
            LogstashHealth::Failed,
            &["logstash: exited with status 1"],
            10,
        );
        let n = node("a", &agent, Some(&running), Some(&failing));
        assert_eq!(
            messages(&n),
            ["exited with status ‹n›", "dropped bytes it could not ship"]
        );
        assert_eq!(n.problems[0].severity, Severity::Error);
        let silent = report(LogstashHealth::Restarting, &["nginx: does not parse"], 0);
        let n = node("a", &agent, Some(&running), Some(&silent));
        assert_eq!(
            messages(&n),
            ["nginx: does not parse", "Logstash is restarting"]
        );
        assert_eq!(n.problems[0].kind, Kind::Executor);
    }

    #[test]
    fn groups_are_ordered_errors_first_then_by_reach() {
        let agent = Agent::default();
        let running = task(TaskState::Running);
        let warn = report(LogstashHealth::NotInstalled, &["logstash: x not found"], 0);
        let both = report(
            LogstashHealth::NotInstalled,
            &["logstash: x not found", "boom"],
            0,
        );
        let nodes = [
            node("a", &agent, Some(&running), Some(&warn)),
            node("b", &agent, Some(&running), Some(&warn)),
            node("c", &agent, Some(&running), Some(&both)),
        ];
        let groups = group(&nodes);
        let summary: Vec<(&str, usize)> = groups
            .iter()
            .map(|g| (g.message.as_str(), g.agents))
            .collect();
        assert_eq!(summary, [("boom", 1), ("Logstash not found", 3)]);
    }
}

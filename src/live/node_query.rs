//! Which agents a listing shows and in what order: filters, a sort on any
//! column, and pages that follow one another through a cursor.
//!
//! The cursor is the sort key of the last agent of a page (the agent id
//! included, so keys are unique); the next page starts after it. An agent that
//! arrives or leaves meanwhile therefore moves no other agent to another page.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};
use utoipa::IntoParams;

use crate::events::TaskState;
use crate::events::messages::LogstashHealth;

use super::nodes::Node;
use super::problems::Severity;

/// Most agents one page holds.
pub const MAX_LIMIT: usize = 1000;
/// Longest cursor accepted, in characters.
const MAX_CURSOR_CHARS: usize = 8192;

/// The query string of `GET /api/executors`.
#[derive(Debug, Default, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Params {
    /// Text to find in the host name, the agent id, a container id or an image
    /// (case-insensitive). A complete agent id finds that agent only (not the
    /// agents whose ids it begins, S1 in S10).
    pub q: Option<String>,
    /// Exactly this agent id.
    pub agent: Option<String>,
    /// Task state, comma separated: `Running`, `Staging`, … or `none` for
    /// agents without a live task.
    pub state: Option<String>,
    /// Logstash health, comma separated: `Running`, `Starting`, `Restarting`,
    /// `Failed`, `NotInstalled`, or `unreported` (no report yet).
    pub health: Option<String>,
    /// `current` (applied the current config set) or `behind`.
    pub config: Option<String>,
    /// `true`: agents whose latest report lists errors; `false`: the others.
    pub errors: Option<String>,
    /// A problem id from `GET /api/executors/summary`: the agents it affects.
    pub problem: Option<String>,
    /// `problems` (the default: errors first, then warnings, then the others),
    /// `host`, `agent`, `state`, `config`, `health`, `lines_per_second`,
    /// `dropped`, `streams`, `last_report` or `errors`; a leading `-` reverses.
    /// Names and ids sort with their numbers as numbers (S2 before S10).
    pub sort: Option<String>,
    /// Agents per page (1 to 1000); all of them when absent.
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page (with the same sort).
    pub cursor: Option<String>,
    /// `false`: leave each agent's list of streams out (`stream_count` and
    /// `failed_streams` stay), for a table that shows only the counts.
    pub streams: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("{name} {value:?} is not one of: {allowed}")]
    Unknown {
        name: &'static str,
        value: String,
        allowed: String,
    },
    #[error("limit must be between 1 and {MAX_LIMIT}")]
    Limit,
    #[error("the cursor is not valid for this sort; start again without it")]
    Cursor,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateFilter {
    Task(TaskState),
    NoTask,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthFilter {
    Is(LogstashHealth),
    Unreported,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigFilter {
    Current,
    Behind,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// Lower case.
    pub text: Option<String>,
    pub agent: Option<String>,
    pub states: Vec<StateFilter>,
    pub health: Vec<HealthFilter>,
    pub config: Option<ConfigFilter>,
    pub errors: Option<bool>,
    pub problem: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Column {
    #[default]
    Problems,
    Host,
    Agent,
    State,
    Config,
    Health,
    LinesPerSecond,
    Dropped,
    Streams,
    LastReport,
    Errors,
}

const COLUMNS: [(&str, Column); 11] = [
    ("problems", Column::Problems),
    ("host", Column::Host),
    ("agent", Column::Agent),
    ("state", Column::State),
    ("config", Column::Config),
    ("health", Column::Health),
    ("lines_per_second", Column::LinesPerSecond),
    ("dropped", Column::Dropped),
    ("streams", Column::Streams),
    ("last_report", Column::LastReport),
    ("errors", Column::Errors),
];

const TASK_STATES: [TaskState; 14] = [
    TaskState::Staging,
    TaskState::Starting,
    TaskState::Running,
    TaskState::Killing,
    TaskState::Finished,
    TaskState::Failed,
    TaskState::Killed,
    TaskState::Error,
    TaskState::Lost,
    TaskState::Dropped,
    TaskState::Unreachable,
    TaskState::Gone,
    TaskState::GoneByOperator,
    TaskState::Unknown,
];

const HEALTHS: [LogstashHealth; 5] = [
    LogstashHealth::NotInstalled,
    LogstashHealth::Starting,
    LogstashHealth::Running,
    LogstashHealth::Restarting,
    LogstashHealth::Failed,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sort {
    pub column: Column,
    pub descending: bool,
}

impl Sort {
    fn name(self) -> String {
        let name = COLUMNS
            .iter()
            .find(|(_, c)| *c == self.column)
            .map_or("problems", |(n, _)| n);
        if self.descending {
            format!("-{name}")
        } else {
            name.to_owned()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Query {
    pub filter: Filter,
    pub sort: Sort,
    pub limit: Option<usize>,
    /// The key after which the page starts.
    pub after: Option<Vec<Key>>,
    /// Leave the agents' stream lists out of the answer.
    pub without_streams: bool,
    /// A sort was asked for (else `sort` is the default).
    pub sorted: bool,
}

impl Query {
    /// Whether the query only asks for every agent as the listing always
    /// gave them (in agent id order), maybe without streams.
    pub fn is_everything(&self) -> bool {
        !self.sorted
            && *self
                == Query {
                    without_streams: self.without_streams,
                    ..Query::default()
                }
    }
}

/// One part of a sort key. `None` (no value) sorts last either way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Key {
    Num(f64),
    /// Compared with numbers inside as numbers.
    Text(String),
}

#[derive(Serialize, Deserialize)]
struct CursorBody {
    sort: String,
    key: Vec<Option<Key>>,
}

fn parse_list<T: Copy>(
    name: &'static str,
    value: &str,
    known: &[(String, T)],
) -> Result<Vec<T>, QueryError> {
    value
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| {
            known
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(v))
                .map(|(_, t)| *t)
                .ok_or_else(|| QueryError::Unknown {
                    name,
                    value: v.to_owned(),
                    allowed: known
                        .iter()
                        .map(|(n, _)| n.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                })
        })
        .collect()
}

/// Exactly one of `known`.
fn parse_one<T: Copy>(
    name: &'static str,
    value: &str,
    known: &[(String, T)],
) -> Result<T, QueryError> {
    let mut found = parse_list(name, value, known)?;
    match found.len() {
        1 => Ok(found.remove(0)),
        _ => Err(QueryError::Unknown {
            name,
            value: value.to_owned(),
            allowed: known
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

impl Query {
    pub fn parse(params: &Params) -> Result<Query, QueryError> {
        let states: Vec<(String, StateFilter)> = TASK_STATES
            .iter()
            .map(|s| (format!("{s:?}"), StateFilter::Task(*s)))
            .chain([("none".to_owned(), StateFilter::NoTask)])
            .collect();
        let healths: Vec<(String, HealthFilter)> = HEALTHS
            .iter()
            .map(|h| (format!("{h:?}"), HealthFilter::Is(*h)))
            .chain([("unreported".to_owned(), HealthFilter::Unreported)])
            .collect();
        let filter = Filter {
            text: non_empty(&params.q).map(str::to_lowercase),
            agent: non_empty(&params.agent).map(str::to_owned),
            states: match non_empty(&params.state) {
                Some(v) => parse_list("state", v, &states)?,
                None => Vec::new(),
            },
            health: match non_empty(&params.health) {
                Some(v) => parse_list("health", v, &healths)?,
                None => Vec::new(),
            },
            config: match non_empty(&params.config) {
                Some(v) => Some(parse_one(
                    "config",
                    v,
                    &[
                        ("current".to_owned(), ConfigFilter::Current),
                        ("behind".to_owned(), ConfigFilter::Behind),
                    ],
                )?),
                None => None,
            },
            errors: match non_empty(&params.errors) {
                Some(v) => Some(parse_one(
                    "errors",
                    v,
                    &[("true".to_owned(), true), ("false".to_owned(), false)],
                )?),
                None => None,
            },
            problem: non_empty(&params.problem).map(str::to_owned),
        };
        let sort = match non_empty(&params.sort) {
            None => Sort::default(),
            Some(v) => {
                let (descending, name) = match v.strip_prefix('-') {
                    Some(rest) => (true, rest),
                    None => (false, v),
                };
                let columns: Vec<(String, Column)> =
                    COLUMNS.iter().map(|(n, c)| ((*n).to_owned(), *c)).collect();
                Sort {
                    column: parse_one("sort", name, &columns)?,
                    descending,
                }
            }
        };
        let limit = match params.limit {
            Some(n) if n == 0 || n > MAX_LIMIT => return Err(QueryError::Limit),
            other => other,
        };
        let after = match non_empty(&params.cursor) {
            Some(cursor) => Some(decode_cursor(cursor, sort)?),
            None => None,
        };
        let without_streams = match non_empty(&params.streams) {
            Some(v) => !parse_one(
                "streams",
                v,
                &[("true".to_owned(), true), ("false".to_owned(), false)],
            )?,
            None => false,
        };
        Ok(Query {
            filter,
            sort,
            limit,
            after,
            without_streams,
            sorted: non_empty(&params.sort).is_some(),
        })
    }
}

fn decode_cursor(cursor: &str, sort: Sort) -> Result<Vec<Key>, QueryError> {
    if cursor.len() > MAX_CURSOR_CHARS || !cursor.len().is_multiple_of(2) {
        return Err(QueryError::Cursor);
    }
    let bytes: Vec<u8> = (0..cursor.len())
        .step_by(2)
        .map(|i| {
            cursor
                .get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or(QueryError::Cursor)
        })
        .collect::<Result<_, _>>()?;
    let body: CursorBody = serde_json::from_slice(&bytes).map_err(|_| QueryError::Cursor)?;
    if body.sort != sort.name() || body.key.len() != key_len(sort.column) {
        return Err(QueryError::Cursor);
    }
    // Keys travel as JSON: a missing part is null.
    Ok(body.key.into_iter().map(|k| k.unwrap_or(MISSING)).collect())
}

fn encode_cursor(sort: Sort, key: &[Key]) -> String {
    let body = CursorBody {
        sort: sort.name(),
        key: key
            .iter()
            .map(|k| (*k != MISSING).then(|| k.clone()))
            .collect(),
    };
    serde_json::to_vec(&body)
        .unwrap_or_default()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// No value: sorts after every value, in both directions.
const MISSING: Key = Key::Num(f64::NAN);

fn is_missing(key: &Key) -> bool {
    matches!(key, Key::Num(n) if n.is_nan())
}

impl Filter {
    pub fn matches(&self, node: &Node<'_>) -> bool {
        if self.agent.as_deref().is_some_and(|a| a != node.agent_id) {
            return false;
        }
        if !self.states.is_empty()
            && !self.states.iter().any(|s| match s {
                StateFilter::Task(state) => node.task_state() == Some(*state),
                StateFilter::NoTask => node.task.is_none(),
            })
        {
            return false;
        }
        if !self.health.is_empty()
            && !self.health.iter().any(|h| match h {
                HealthFilter::Is(health) => node.health() == Some(*health),
                HealthFilter::Unreported => node.report.is_none(),
            })
        {
            return false;
        }
        match self.config {
            Some(ConfigFilter::Current) if !node.up_to_date => return false,
            Some(ConfigFilter::Behind) if node.up_to_date => return false,
            _ => {}
        }
        if self
            .errors
            .is_some_and(|wanted| wanted == node.errors().is_empty())
        {
            return false;
        }
        if let Some(id) = &self.problem
            && !node.problems.iter().any(|p| &p.id == id)
        {
            return false;
        }
        self.text.as_deref().is_none_or(|t| node.mentions(t))
    }
}

/// Parts of a column's key before the host name and agent id that break ties.
fn key_len(column: Column) -> usize {
    match column {
        Column::Problems => 4,
        _ => 3,
    }
}

/// The sort key of `node` for `column`: the column's value(s), then the host
/// name and the agent id.
pub fn key(node: &Node<'_>, column: Column) -> Vec<Key> {
    let num = |v: Option<f64>| v.map_or(MISSING, Key::Num);
    let mut key = match column {
        Column::Problems => {
            // Errors first, then warnings, then the agents without problems;
            // among equals, more problems first.
            let worst = node.problems.iter().map(|p| p.severity).max();
            let rank = match worst {
                Some(Severity::Error) => 0.0,
                Some(Severity::Warning) => 1.0,
                None => 2.0,
            };
            vec![Key::Num(rank), Key::Num(-(node.problems.len() as f64))]
        }
        Column::Host => vec![],
        Column::Agent => vec![Key::Text(node.agent_id.to_owned())],
        Column::State => vec![
            node.task_state()
                .map_or(MISSING, |s| Key::Text(format!("{s:?}"))),
        ],
        Column::Config => vec![num(node.agent.applied_version.map(|v| v as f64))],
        Column::Health => vec![num(node.health().map(|h| match h {
            LogstashHealth::Failed => 0.0,
            LogstashHealth::Restarting => 1.0,
            LogstashHealth::Starting => 2.0,
            LogstashHealth::NotInstalled => 3.0,
            LogstashHealth::Running => 4.0,
        }))],
        Column::LinesPerSecond => vec![num(node.lines_per_second())],
        Column::Dropped => vec![num(node.dropped_bytes().map(|v| v as f64))],
        Column::Streams => vec![Key::Num(node.streams() as f64)],
        Column::LastReport => vec![num(node.last_report().map(|v| v as f64))],
        Column::Errors => vec![Key::Num(node.errors().len() as f64)],
    };
    // Every key has the same length for a column, so cursors can be checked.
    while key.len() + 2 < key_len(column) {
        key.push(Key::Num(0.0));
    }
    key.push(Key::Text(node.hostname().to_owned()));
    key.push(Key::Text(node.agent_id.to_owned()));
    key
}

/// Compares two keys of `sort`'s column: its own parts in its direction
/// (missing values last), then host name and agent id ascending.
pub fn compare(a: &[Key], b: &[Key], sort: Sort) -> Ordering {
    let own = key_len(sort.column) - 2;
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        let order = match (is_missing(x), is_missing(y)) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => {
                let order = match (x, y) {
                    (Key::Num(x), Key::Num(y)) => x.total_cmp(y),
                    (Key::Text(x), Key::Text(y)) => natural_cmp(x, y),
                    (Key::Num(_), Key::Text(_)) => Ordering::Less,
                    (Key::Text(_), Key::Num(_)) => Ordering::Greater,
                };
                if sort.descending && i < own {
                    order.reverse()
                } else {
                    order
                }
            }
        };
        if order != Ordering::Equal {
            return order;
        }
    }
    a.len().cmp(&b.len())
}

/// Compares with runs of digits as numbers and letters without case:
/// "S2" < "S10", "agent-9" < "Agent-10".
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    fn runs(s: &str) -> impl Iterator<Item = (bool, &str)> {
        let mut rest = s;
        std::iter::from_fn(move || {
            let first = rest.chars().next()?;
            let digit = first.is_ascii_digit();
            let end = rest
                .find(|c: char| c.is_ascii_digit() != digit)
                .unwrap_or(rest.len());
            let (run, tail) = rest.split_at(end);
            rest = tail;
            Some((digit, run))
        })
    }
    let mut x = runs(a);
    let mut y = runs(b);
    loop {
        let order = match (x.next(), y.next()) {
            (None, None) => return a.cmp(b),
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some((true, p)), Some((true, q))) => {
                let (p, q) = (p.trim_start_matches('0'), q.trim_start_matches('0'));
                p.len().cmp(&q.len()).then_with(|| p.cmp(q))
            }
            (Some((_, p)), Some((_, q))) => p
                .chars()
                .flat_map(char::to_lowercase)
                .cmp(q.chars().flat_map(char::to_lowercase)),
        };
        if order != Ordering::Equal {
            return order;
        }
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Positions in the `nodes` given to [`select`], in page order.
    pub indices: Vec<usize>,
    /// Agents that pass the filter, on every page.
    pub total: usize,
    /// Where the next page starts; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// The page of `nodes` that `query` asks for.
pub fn select(nodes: &[Node<'_>], query: &Query) -> Page {
    let column = query.sort.column;
    let mut filter = query.filter.clone();
    if let Some(text) = &filter.text
        && filter.agent.is_none()
        && let Some(node) = nodes.iter().find(|n| n.agent_id.to_lowercase() == *text)
    {
        filter.agent = Some(node.agent_id.to_owned());
        filter.text = None;
    }
    let mut keyed: Vec<(Vec<Key>, usize)> = nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| filter.matches(n))
        .map(|(i, n)| (key(n, column), i))
        .collect();
    let total = keyed.len();
    keyed.sort_by(|a, b| compare(&a.0, &b.0, query.sort));
    let start = match &query.after {
        Some(after) => keyed.partition_point(|(k, _)| compare(k, after, query.sort).is_le()),
        None => 0,
    };
    let end = query
        .limit
        .map_or(keyed.len(), |l| start.saturating_add(l).min(keyed.len()));
    let next_cursor =
        (end < keyed.len() && end > start).then(|| encode_cursor(query.sort, &keyed[end - 1].0));
    Page {
        indices: keyed[start..end].iter().map(|(_, i)| *i).collect(),
        total,
        next_cursor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::StreamChange;
    use crate::events::messages::{ExecutorReport, Totals};
    use crate::live::Report;
    use crate::live::history::RatePoint;
    use crate::live::problems::{self, Normalizer};
    use crate::state::{Agent, Stream, Task};

    const NOW: u64 = 10_000_000;

    struct Fixture {
        ids: Vec<String>,
        agents: Vec<Agent>,
        tasks: Vec<Option<Task>>,
        reports: Vec<Option<Report>>,
        rates: Vec<Option<RatePoint>>,
    }

    /// Agents S0..S<n> on host-<i % 3>: every 4th without a report, every
    /// 5th behind, every 7th with an error, S6 dropped bytes, S3 with a
    /// container of image "redis", rates 1.5 × i.
    fn fixture(n: usize) -> Fixture {
        let ids: Vec<String> = (0..n).map(|i| format!("8c2f-S{i}")).collect();
        let agents = (0..n)
            .map(|i| {
                let mut agent = Agent {
                    hostname: format!("host-{}", i % 3),
                    applied_version: Some(if i % 5 == 0 { 1 } else { 2 }),
                    ..Agent::default()
                };
                if i == 3 {
                    agent.streams.insert(
                        ("abcdef012345".into(), "/var/log/x".into()),
                        Stream {
                            image: "redis:7".into(),
                            state: StreamChange::Started,
                            reason: None,
                            since: 0,
                        },
                    );
                }
                agent
            })
            .collect();
        let tasks = (0..n)
            .map(|i| {
                Some(Task {
                    task_id: format!("t{i}"),
                    agent_id: format!("8c2f-S{i}"),
                    executor_id: "e".into(),
                    fingerprint: "f".into(),
                    state: TaskState::Running,
                    reason: None,
                    message: None,
                    launched_at: NOW - 1000,
                    updated_at: NOW - 1000,
                })
            })
            .collect();
        let reports = (0..n)
            .map(|i| {
                (i % 4 != 0).then(|| Report {
                    received_at: NOW - 1000 * (i as u64 % 10),
                    executor_id: "e".into(),
                    report: ExecutorReport {
                        logstash: LogstashHealth::Running,
                        totals: Totals {
                            dropped_bytes: if i == 6 { 500 } else { 0 },
                            ..Totals::default()
                        },
                        errors: if i % 7 == 0 {
                            vec!["boom".into()]
                        } else {
                            vec![]
                        },
                        ..ExecutorReport::default()
                    },
                })
            })
            .collect();
        let rates = (0..n)
            .map(|i| {
                (i % 4 != 0).then_some(RatePoint {
                    at_ms: NOW,
                    lines: 0,
                    bytes: 0,
                    dropped_bytes: 0,
                    errors: 0,
                    lines_per_second: Some(1.5 * i as f64),
                    bytes_per_second: None,
                    dropped_bytes_per_second: None,
                })
            })
            .collect();
        Fixture {
            ids,
            agents,
            tasks,
            reports,
            rates,
        }
    }

    fn nodes(f: &Fixture) -> Vec<Node<'_>> {
        let mut normalizer = Normalizer::default();
        (0..f.ids.len())
            .map(|i| {
                let mut node = Node {
                    agent_id: &f.ids[i],
                    agent: &f.agents[i],
                    task: f.tasks[i].as_ref(),
                    report: f.reports[i].as_ref(),
                    rates: f.rates[i].as_ref(),
                    current_settings: true,
                    up_to_date: f.agents[i].applied_version == Some(2),
                    problems: vec![],
                };
                node.problems = problems::of_node(&node, NOW, &mut normalizer);
                node
            })
            .collect()
    }

    fn query(pairs: &[(&str, &str)]) -> Result<Query, QueryError> {
        let mut params = Params::default();
        for (k, v) in pairs {
            let v = Some(v.to_string());
            match *k {
                "q" => params.q = v,
                "agent" => params.agent = v,
                "state" => params.state = v,
                "health" => params.health = v,
                "config" => params.config = v,
                "errors" => params.errors = v,
                "problem" => params.problem = v,
                "sort" => params.sort = v,
                "limit" => params.limit = v.and_then(|v| v.parse().ok()),
                "cursor" => params.cursor = v,
                "streams" => params.streams = v,
                other => panic!("{other}"),
            }
        }
        Query::parse(&params)
    }

    fn ids(nodes: &[Node<'_>], page: &Page) -> Vec<String> {
        page.indices
            .iter()
            .map(|i| nodes[*i].agent_id.trim_start_matches("8c2f-").to_owned())
            .collect()
    }

    #[test]
    fn names_sort_with_their_numbers_as_numbers() {
        let mut names = ["S10", "s2", "S1", "S100", "S02", "a", "S9x", "S9"];
        names.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(names, ["a", "S1", "S02", "s2", "S9", "S9x", "S10", "S100"]);
    }

    #[test]
    fn filters_pick_the_right_agents() {
        let f = fixture(30);
        let nodes = nodes(&f);
        let run = |pairs: &[(&str, &str)]| {
            let q = query(pairs).unwrap();
            let mut out = ids(
                &nodes,
                &select(
                    &nodes,
                    &Query {
                        sort: Sort {
                            column: Column::Agent,
                            descending: false,
                        },
                        ..q
                    },
                ),
            );
            out.sort_by(|a, b| natural_cmp(a, b));
            out
        };
        assert_eq!(run(&[("q", "S13")]), ["S13"]);
        assert_eq!(run(&[("q", "S1")]).len(), 11, "S1, S10 to S19");
        assert_eq!(
            run(&[("q", "8C2F-s1")]),
            ["S1"],
            "a whole agent id finds that agent"
        );
        assert_eq!(run(&[("agent", "8c2f-S1")]), ["S1"], "exact: not S10..S19");
        assert_eq!(run(&[("q", "REDIS")]), ["S3"], "images are searched");
        assert_eq!(
            run(&[("q", "abcdef01")]),
            ["S3"],
            "container ids are searched"
        );
        assert_eq!(run(&[("q", "host-2"), ("config", "behind")]), ["S5", "S20"]);
        assert_eq!(
            run(&[("health", "unreported")]),
            ["S0", "S4", "S8", "S12", "S16", "S20", "S24", "S28"]
        );
        assert_eq!(
            run(&[("errors", "true")]),
            ["S7", "S14", "S21"],
            "S0 and S28 did not report"
        );
        assert_eq!(run(&[("state", "running,none")]).len(), 30);
        assert!(run(&[("state", "Staging")]).is_empty());
        let boom = nodes[7]
            .problems
            .iter()
            .find(|p| p.message == "boom")
            .unwrap();
        assert_eq!(run(&[("problem", &boom.id)]), ["S7", "S14", "S21"]);
    }

    #[test]
    fn bad_parameters_are_refused_with_what_is_allowed() {
        let err = query(&[("state", "Runing")]).unwrap_err();
        assert!(err.to_string().contains("Running"), "{err}");
        assert!(query(&[("sort", "-nope")]).is_err());
        assert!(query(&[("config", "current,behind")]).is_err());
        assert_eq!(query(&[("limit", "0")]), Err(QueryError::Limit));
        assert_eq!(query(&[("limit", "1001")]), Err(QueryError::Limit));
        assert_eq!(query(&[("cursor", "zz")]), Err(QueryError::Cursor));
        assert_eq!(query(&[("cursor", "7b7d")]), Err(QueryError::Cursor));
        assert!(query(&[("streams", "no")]).is_err());
        assert!(query(&[("streams", "false")]).unwrap().without_streams);
        assert!(query(&[("streams", "false")]).unwrap().is_everything());
        assert!(!query(&[("sort", "problems")]).unwrap().is_everything());
        assert!(!query(&[("q", "x")]).unwrap().is_everything());
    }

    #[test]
    fn the_default_sort_puts_problems_first_then_hosts_and_ids_as_numbers() {
        let f = fixture(12);
        let nodes = nodes(&f);
        let page = select(&nodes, &query(&[]).unwrap());
        // Errors: S6 dropped bytes, S7 reported one; warnings: S0, S5, S10
        // are behind; then the others; each by host, then id.
        assert_eq!(
            ids(&nodes, &page),
            [
                "S6", "S7", "S0", "S10", "S5", "S3", "S9", "S1", "S4", "S2", "S8", "S11"
            ]
        );
        let reversed = select(&nodes, &query(&[("sort", "-problems")]).unwrap());
        assert_eq!(ids(&nodes, &reversed)[0], "S3");
    }

    #[test]
    fn sorts_by_any_column_missing_values_last() {
        let f = fixture(9);
        let nodes = nodes(&f);
        let order = |sort: &str| ids(&nodes, &select(&nodes, &query(&[("sort", sort)]).unwrap()));
        assert_eq!(
            order("lines_per_second"),
            ["S1", "S2", "S3", "S5", "S6", "S7", "S0", "S4", "S8"]
        );
        assert_eq!(
            order("-lines_per_second"),
            ["S7", "S6", "S5", "S3", "S2", "S1", "S0", "S4", "S8"]
        );
        assert_eq!(
            order("-last_report")[..3],
            ["S1", "S2", "S3"],
            "newest first"
        );
        assert_eq!(order("-dropped")[0], "S6");
        assert_eq!(
            order("agent"),
            ["S0", "S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8"]
        );
        assert_eq!(order("-agent")[0], "S8");
        assert_eq!(order("streams")[8], "S3");
        assert_eq!(order("-errors")[0], "S7");
    }

    #[test]
    fn pages_follow_each_other_without_gaps_or_repeats() {
        let f = fixture(95);
        let nodes = nodes(&f);
        for sort in [
            "problems",
            "-lines_per_second",
            "last_report",
            "host",
            "-config",
        ] {
            let all = ids(&nodes, &select(&nodes, &query(&[("sort", sort)]).unwrap()));
            let mut seen = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let mut pairs = vec![("sort", sort), ("limit", "10")];
                if let Some(c) = &cursor {
                    pairs.push(("cursor", c));
                }
                let page = select(&nodes, &query(&pairs).unwrap());
                assert_eq!(page.total, 95);
                assert!(page.indices.len() <= 10);
                seen.extend(ids(&nodes, &page));
                match page.next_cursor {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
            assert_eq!(seen, all, "{sort}");
        }
        let first = select(&nodes, &query(&[("limit", "10")]).unwrap());
        let cursor = first.next_cursor.unwrap();
        assert_eq!(
            query(&[("sort", "host"), ("cursor", &cursor)]),
            Err(QueryError::Cursor),
            "a cursor belongs to its sort"
        );
    }

    #[test]
    fn an_agent_leaving_moves_no_other_to_another_page() {
        let f = fixture(20);
        let all = nodes(&f);
        let first = select(&all, &query(&[("sort", "agent"), ("limit", "5")]).unwrap());
        assert_eq!(ids(&all, &first), ["S0", "S1", "S2", "S3", "S4"]);
        let cursor = first.next_cursor.unwrap();
        let fewer: Vec<Node<'_>> = nodes(&f)
            .into_iter()
            .filter(|n| n.agent_id != "8c2f-S2")
            .collect();
        let second = select(
            &fewer,
            &query(&[("sort", "agent"), ("limit", "5"), ("cursor", &cursor)]).unwrap(),
        );
        assert_eq!(ids(&fewer, &second), ["S5", "S6", "S7", "S8", "S9"]);
    }
}

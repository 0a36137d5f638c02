//! One agent as the operator looks at it: the projection's facts about it,
//! our task there, its executor's latest report, current rates and problems,
//! gathered once per request so that filtering, sorting and the summary read
//! one shape. Borrowed from the state and the live view, never stored.

use std::collections::BTreeMap;

use crate::events::TaskState;
use crate::events::messages::LogstashHealth;
use crate::state::{Agent, State, Task};

use super::Report;
use super::history::RatePoint;
use super::problems::{Normalizer, Problem};

#[derive(Debug)]
pub struct Node<'a> {
    pub agent_id: &'a str,
    pub agent: &'a Agent,
    /// Our live task on the agent, if any.
    pub task: Option<&'a Task>,
    pub report: Option<&'a Report>,
    /// The rates since the executor's previous report.
    pub rates: Option<&'a RatePoint>,
    /// Whether the task runs with the current executor settings.
    pub current_settings: bool,
    /// Whether the executor applied the current config set.
    pub up_to_date: bool,
    pub problems: Vec<Problem>,
}

/// Every agent the projection knows, in agent id order, with `reports` and
/// `rates` (by agent id) and its problems at `now` (unix ms).
pub fn nodes<'a>(
    state: &'a State,
    reports: &'a BTreeMap<String, Report>,
    rates: &'a BTreeMap<String, RatePoint>,
    now: u64,
) -> Vec<Node<'a>> {
    let current = state.launch_fingerprint();
    let mut tasks: BTreeMap<&str, &Task> = BTreeMap::new();
    for task in state.cluster.tasks.values() {
        // The same task `Cluster::tasks_on(..).last()` names.
        tasks.insert(&task.agent_id, task);
    }
    let mut normalizer = Normalizer::default();
    state
        .cluster
        .agents
        .iter()
        .map(|(agent_id, agent)| {
            let task = tasks.get(agent_id.as_str()).copied();
            let mut node = Node {
                agent_id,
                agent,
                task,
                report: reports.get(agent_id),
                rates: rates.get(agent_id),
                current_settings: task
                    .is_none_or(|t| current.as_deref().is_none_or(|f| f == t.fingerprint)),
                up_to_date: agent.applied_version == Some(state.config_version),
                problems: Vec::new(),
            };
            node.problems = super::problems::of_node(&node, now, &mut normalizer);
            node
        })
        .collect()
}

impl Node<'_> {
    pub fn hostname(&self) -> &str {
        &self.agent.hostname
    }

    pub fn task_state(&self) -> Option<TaskState> {
        self.task.map(|t| t.state)
    }

    pub fn health(&self) -> Option<LogstashHealth> {
        self.report.map(|r| r.report.logstash)
    }

    /// The errors of the latest report.
    pub fn errors(&self) -> &[String] {
        self.report.map_or(&[], |r| &r.report.errors)
    }

    /// When the latest report arrived (unix ms).
    pub fn last_report(&self) -> Option<u64> {
        self.report.map(|r| r.received_at)
    }

    pub fn lines_per_second(&self) -> Option<f64> {
        self.rates.and_then(|r| r.lines_per_second)
    }

    pub fn dropped_bytes(&self) -> Option<u64> {
        self.report.map(|r| r.report.totals.dropped_bytes)
    }

    pub fn streams(&self) -> usize {
        self.agent.streams.len()
    }

    pub fn failed_streams(&self) -> usize {
        self.agent
            .streams
            .values()
            .filter(|s| s.state == crate::events::StreamChange::Failed)
            .count()
    }

    /// Whether `needle` (lower case) occurs in the host name, the agent id, or
    /// the id or image of one of its containers.
    pub fn mentions(&self, needle: &str) -> bool {
        let has = |s: &str| s.to_lowercase().contains(needle);
        has(self.hostname())
            || has(self.agent_id)
            || self
                .agent
                .streams
                .iter()
                .any(|((container, _), s)| has(container) || has(&s.image))
    }
}

//! The cluster at a glance, in a few kilobytes whatever its size: counts,
//! totals, the cluster's current rates and the problems grouped. What the
//! dashboard polls instead of every executor's details.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use utoipa::ToSchema;

use crate::events::StreamChange;

use super::Connection;
use super::history::RatePoint;
use super::nodes::Node;
use super::problems::{self, Group};

/// Problem groups listed at most; the rest are counted in `more_problems`.
pub const MAX_GROUPS: usize = 12;

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Summary {
    /// The current config set version.
    pub config_version: u64,
    /// Agents known to the scheduler.
    pub agents: usize,
    /// Agents by the state of our task there (`none`: no live task).
    pub tasks: BTreeMap<String, usize>,
    /// Agents whose executor runs.
    pub running: usize,
    /// Agents whose executor applied the current config set.
    pub up_to_date: usize,
    /// Agents by the Logstash health of the latest report (`unreported`: no
    /// report yet).
    pub health: BTreeMap<String, usize>,
    /// Agents whose latest report lists errors.
    pub with_errors: usize,
    /// Agents with at least one problem.
    pub with_problems: usize,
    /// Containers with at least one stream running.
    pub containers: usize,
    pub streams: usize,
    pub failed_streams: usize,
    /// The latest reports' counters, added up.
    pub totals: SummaryTotals,
    /// The cluster's newest history point, with its rates.
    pub rates: Option<RatePoint>,
    /// The scheduler's Mesos connection.
    #[schema(value_type = Object)]
    pub mesos: Connection,
    /// Problem groups, errors first, then the most widespread; at most
    /// [`MAX_GROUPS`].
    pub problems: Vec<Group>,
    /// Problem groups not listed.
    pub more_problems: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct SummaryTotals {
    /// Agents that reported.
    pub reported: usize,
    pub lines: u64,
    pub bytes: u64,
    pub dropped_bytes: u64,
    pub duplicate_lines: u64,
    pub rotations: u64,
}

/// The summary of `nodes`.
pub fn summarize(
    nodes: &[Node<'_>],
    config_version: u64,
    rates: Option<RatePoint>,
    mesos: Connection,
) -> Summary {
    let mut tasks: BTreeMap<String, usize> = BTreeMap::new();
    let mut health: BTreeMap<String, usize> = BTreeMap::new();
    let mut totals = SummaryTotals::default();
    let mut containers = BTreeSet::new();
    let (mut streams, mut failed_streams) = (0, 0);
    let count = |map: &mut BTreeMap<String, usize>, key: String| {
        *map.entry(key).or_default() += 1;
    };
    for node in nodes {
        count(
            &mut tasks,
            node.task_state()
                .map_or_else(|| "none".to_owned(), |s| format!("{s:?}")),
        );
        count(
            &mut health,
            node.health()
                .map_or_else(|| "unreported".to_owned(), |h| format!("{h:?}")),
        );
        if let Some(r) = node.report {
            let t = &r.report.totals;
            totals.reported += 1;
            totals.lines = totals.lines.saturating_add(t.lines);
            totals.bytes = totals.bytes.saturating_add(t.bytes);
            totals.dropped_bytes = totals.dropped_bytes.saturating_add(t.dropped_bytes);
            totals.duplicate_lines = totals.duplicate_lines.saturating_add(t.duplicate_lines);
            totals.rotations = totals.rotations.saturating_add(t.rotations);
        }
        for ((container, _), stream) in &node.agent.streams {
            match stream.state {
                StreamChange::Failed => failed_streams += 1,
                _ => {
                    streams += 1;
                    containers.insert((node.agent_id, container.as_str()));
                }
            }
        }
    }
    let mut groups = problems::group(nodes);
    let more_problems = groups.len().saturating_sub(MAX_GROUPS);
    groups.truncate(MAX_GROUPS);
    Summary {
        config_version,
        agents: nodes.len(),
        running: tasks.get("Running").copied().unwrap_or(0),
        tasks,
        up_to_date: nodes.iter().filter(|n| n.up_to_date).count(),
        health,
        with_errors: nodes.iter().filter(|n| !n.errors().is_empty()).count(),
        with_problems: nodes.iter().filter(|n| !n.problems.is_empty()).count(),
        containers: containers.len(),
        streams,
        failed_streams,
        totals,
        rates,
        mesos,
        problems: groups,
        more_problems,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::TaskState;
    use crate::events::messages::{ExecutorReport, LogstashHealth, Totals};
    use crate::live::Report;
    use crate::live::problems::{Normalizer, of_node};
    use crate::state::{Agent, Stream, Task};

    const NOW: u64 = 10_000_000;

    struct Cluster {
        ids: Vec<String>,
        agents: Vec<Agent>,
        task: Task,
        reports: Vec<Report>,
    }

    /// `n` agents, each with two streams, one of which failed with a reason
    /// naming its container, and a report listing `distinct` different
    /// errors (each agent a different variant of them).
    fn cluster(n: usize, distinct: usize) -> Cluster {
        let ids = (0..n)
            .map(|i| format!("8c2f3a91-1d2e-4b5c-9a8b-7c6d5e4f3a2b-S{i}"))
            .collect();
        let agents = (0..n)
            .map(|i| {
                let mut agent = Agent {
                    hostname: format!("agent-{i}.example.com"),
                    applied_version: Some(if i % 2 == 0 { 7 } else { 6 }),
                    ..Agent::default()
                };
                let container = format!("{i:012x}{i:012x}");
                for (path, state) in [("/a", StreamChange::Started), ("/b", StreamChange::Failed)] {
                    agent.streams.insert(
                        (container.clone(), format!("/var/log/{i}{path}")),
                        Stream {
                            image: "busybox".into(),
                            state,
                            reason: Some(format!("container {container} has no sh")),
                            since: 0,
                        },
                    );
                }
                agent
            })
            .collect();
        let reports = (0..n)
            .map(|i| Report {
                received_at: NOW,
                executor_id: "e".into(),
                report: ExecutorReport {
                    logstash: LogstashHealth::NotInstalled,
                    totals: Totals {
                        lines: 10,
                        bytes: 100,
                        ..Totals::default()
                    },
                    errors: (0..distinct)
                        .map(|d| {
                            format!(
                                "config-{d}: cannot read /var/lib/{i}/x{d}.conf: error {i} {}",
                                "detail ".repeat(40)
                            )
                        })
                        .chain([
                            "logstash: /usr/bin/logstash not found: streaming into the spool only"
                                .into(),
                        ])
                        .collect(),
                    ..ExecutorReport::default()
                },
            })
            .collect();
        Cluster {
            ids,
            agents,
            task: Task {
                task_id: "t".into(),
                agent_id: "a".into(),
                executor_id: "e".into(),
                fingerprint: "f".into(),
                state: TaskState::Running,
                reason: None,
                message: None,
                launched_at: NOW,
                updated_at: NOW,
            },
            reports,
        }
    }

    fn nodes(c: &Cluster) -> Vec<Node<'_>> {
        let mut normalizer = Normalizer::default();
        (0..c.ids.len())
            .map(|i| {
                let mut node = Node {
                    agent_id: &c.ids[i],
                    agent: &c.agents[i],
                    task: Some(&c.task),
                    report: Some(&c.reports[i]),
                    rates: None,
                    current_settings: true,
                    up_to_date: c.agents[i].applied_version == Some(7),
                    problems: vec![],
                };
                node.problems = of_node(&node, NOW, &mut normalizer);
                node
            })
            .collect()
    }

    fn size(c: &Cluster) -> usize {
        let summary = summarize(&nodes(c), 7, None, Connection::default());
        serde_json::to_vec(&summary).unwrap().len()
    }

    #[test]
    fn counts_totals_and_groups() {
        let c = cluster(10, 1);
        let s = summarize(&nodes(&c), 7, None, Connection::default());
        assert_eq!(s.agents, 10);
        assert_eq!(s.running, 10);
        assert_eq!(s.up_to_date, 5);
        assert_eq!(s.health["NotInstalled"], 10);
        assert_eq!(s.totals.lines, 100);
        assert_eq!((s.containers, s.streams, s.failed_streams), (10, 10, 10));
        let found: Vec<(String, usize, usize)> = s
            .problems
            .iter()
            .map(|g| (g.message.clone(), g.agents, g.containers))
            .collect();
        assert_eq!(found.len(), 4, "{found:?}");
        assert!(found.contains(&("stream failed: container ‹id› has no sh".into(), 10, 10)));
        assert!(found.contains(&("behind the current config set".into(), 5, 0)));
        assert!(found.contains(&(
            "Logstash not found: streaming into the spool only".into(),
            10,
            0
        )));
    }

    #[test]
    fn the_size_does_not_grow_with_the_cluster() {
        let small = size(&cluster(10, 30));
        let large = size(&cluster(1000, 30));
        assert!(large < 8 * 1024, "{large} bytes for 1000 agents");
        // Only the counts' digits differ.
        assert!(
            large - small < 100,
            "{small} bytes for 10 agents, {large} for 1000"
        );
        let s = summarize(&nodes(&cluster(1000, 30)), 7, None, Connection::default());
        assert_eq!(s.problems.len(), MAX_GROUPS);
        assert_eq!(s.more_problems, 33 - MAX_GROUPS);
    }
}

//! Decisions about executors already launched: rolling replacement of stale
//! ones, extra executors on one agent, and config rollout. Pure functions of the
//! projections and what the driver remembers; the driver executes them.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::events::TaskState;
use crate::state::{State, Task};

/// Resend the config set to a lagging executor after this long.
pub const RESEND_AFTER: Duration = Duration::from_secs(10);
/// Give up waiting for a replacement to come up before replacing the next one.
pub const REPLACEMENT_TIMEOUT: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kill {
    pub task_id: String,
    pub agent_id: String,
    pub reason: KillReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillReason {
    /// Launched with settings that are no longer current.
    StaleSettings,
    /// Another executor of ours runs on the same agent.
    Duplicate,
}

/// A replacement in progress: the agent whose stale executor was killed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replacing {
    pub agent_id: String,
    /// The stale task killed there.
    pub task_id: String,
    pub since: Instant,
}

/// Executors to kill now.
///
/// Duplicates on one agent are killed at once, keeping the best one (current
/// settings and running, then the newest). Stale executors are replaced one at
/// a time: the next only once no launch is in flight and the previous
/// replacement runs (or timed out). A replacement launched for fingerprint
/// that changed again meanwhile counts as running too: it is replaced in its
/// turn, instead of holding the new rollout back until the timeout.
pub fn kills(
    state: &State,
    fingerprint: &str,
    replacing: Option<&Replacing>,
    now: Instant,
) -> Vec<Kill> {
    let mut by_agent: BTreeMap<&str, Vec<&Task>> = BTreeMap::new();
    for task in state.cluster.tasks.values() {
        by_agent.entry(&task.agent_id).or_default().push(task);
    }
    let mut kills = Vec::new();
    for tasks in by_agent.values_mut().filter(|t| t.len() > 1) {
        tasks.sort_by_key(|t| {
            (
                t.fingerprint == fingerprint,
                t.state == TaskState::Running,
                t.launched_at,
            )
        });
        tasks.pop(); // the best one stays
        kills.extend(
            tasks
                .iter()
                .filter(|t| t.state != TaskState::Killing)
                .map(|t| Kill {
                    task_id: t.task_id.clone(),
                    agent_id: t.agent_id.clone(),
                    reason: KillReason::Duplicate,
                }),
        );
    }
    if !kills.is_empty() {
        return kills;
    }
    let in_flight = state.cluster.tasks.values().any(|t| {
        matches!(
            t.state,
            TaskState::Staging | TaskState::Starting | TaskState::Killing
        )
    });
    let previous_done = replacing.is_none_or(|r| {
        now.duration_since(r.since) >= REPLACEMENT_TIMEOUT
            || state.cluster.tasks_on(&r.agent_id).any(|t| {
                t.state == TaskState::Running
                    && (t.fingerprint == fingerprint || t.task_id != r.task_id)
            })
    });
    if in_flight || !previous_done {
        return Vec::new();
    }
    state
        .cluster
        .tasks
        .values()
        .find(|t| t.fingerprint != fingerprint && t.state == TaskState::Running)
        .map(|t| Kill {
            task_id: t.task_id.clone(),
            agent_id: t.agent_id.clone(),
            reason: KillReason::StaleSettings,
        })
        .into_iter()
        .collect()
}

/// Where the config set must be sent: a running executor whose reported version
/// is not the current one, unless this version was sent to it recently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub agent_id: String,
    pub executor_id: String,
    pub task_id: String,
}

pub fn deliveries(
    state: &State,
    sent: &BTreeMap<String, (u64, Instant)>,
    now: Instant,
) -> Vec<Delivery> {
    let version = state.config_version;
    state
        .cluster
        .tasks
        .values()
        .filter(|t| t.state == TaskState::Running && !t.executor_id.is_empty())
        .filter(|t| {
            let applied = state
                .cluster
                .agents
                .get(&t.agent_id)
                .and_then(|a| a.applied_version);
            applied != Some(version)
        })
        .filter(|t| {
            sent.get(&t.task_id)
                .is_none_or(|(v, at)| *v != version || now.duration_since(*at) >= RESEND_AFTER)
        })
        .map(|t| Delivery {
            agent_id: t.agent_id.clone(),
            executor_id: t.executor_id.clone(),
            task_id: t.task_id.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Actor, Command, ConfigKind, Proposal};

    fn apply(state: &mut State, command: Command) {
        let proposal = Proposal {
            at: state.last_at + 1,
            actor: Actor::Replica(1),
            command,
        };
        for env in state.envelopes(&proposal).unwrap() {
            state.apply(&env);
        }
    }

    fn launch(state: &mut State, agent: &str, task: &str, fp: &str) {
        apply(
            state,
            Command::RecordExecutorLaunched {
                agent_id: agent.into(),
                hostname: agent.into(),
                task_id: task.into(),
                executor_id: format!("e-{task}"),
                fingerprint: fp.into(),
            },
        );
    }

    fn set(state: &mut State, agent: &str, task: &str, s: TaskState) {
        apply(
            state,
            Command::RecordTaskStatus {
                task_id: task.into(),
                agent_id: agent.into(),
                state: s,
                reason: None,
                message: None,
                source: None,
            },
        );
    }

    /// Two agents running executors with fingerprint `old`; the first one
    /// killed (and gone) for `new`: the state, what is being replaced, the kill.
    fn first_replacement(old: &str, new: &str, now: Instant) -> (State, Replacing, Vec<Kill>) {
        let mut state = State::default();
        for (agent, task) in [("a1", "t1"), ("a2", "t2")] {
            launch(&mut state, agent, task, old);
            set(&mut state, agent, task, TaskState::Running);
        }
        let first = kills(&state, new, None, now);
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].reason, KillReason::StaleSettings);
        let replacing = Replacing {
            agent_id: first[0].agent_id.clone(),
            task_id: first[0].task_id.clone(),
            since: now,
        };
        set(
            &mut state,
            &first[0].agent_id,
            &first[0].task_id,
            TaskState::Killed,
        );
        (state, replacing, first)
    }

    #[test]
    fn stale_executors_are_replaced_one_at_a_time() {
        let now = Instant::now();
        let (mut state, replacing, _) = first_replacement("old", "new", now);
        // Not again until the replacement runs with the new settings.
        assert_eq!(kills(&state, "new", Some(&replacing), now), []);
        launch(&mut state, "a1", "t3", "new");
        assert_eq!(kills(&state, "new", Some(&replacing), now), []);
        set(&mut state, "a1", "t3", TaskState::Running);
        let second = kills(&state, "new", Some(&replacing), now);
        assert_eq!(
            second
                .iter()
                .map(|k| k.task_id.as_str())
                .collect::<Vec<_>>(),
            ["t2"]
        );
        // A replacement that never comes up stops blocking after the timeout.
        let stuck = Replacing {
            agent_id: "gone".into(),
            task_id: "t0".into(),
            since: now,
        };
        assert_eq!(kills(&state, "new", Some(&stuck), now), []);
        assert_eq!(
            kills(&state, "new", Some(&stuck), now + REPLACEMENT_TIMEOUT).len(),
            1
        );
    }

    #[test]
    fn a_rollout_started_during_another_does_not_wait_for_the_timeout() {
        let now = Instant::now();
        let (mut state, replacing, first) = first_replacement("v1", "v2", now);
        launch(&mut state, &first[0].agent_id, "t3", "v2");
        set(&mut state, &first[0].agent_id, "t3", TaskState::Running);
        // The target moved to v3 after t3 came up with v2: the rollout goes on.
        let next = kills(&state, "v3", Some(&replacing), now);
        assert_eq!(next.len(), 1, "{next:?}");
    }

    #[test]
    fn duplicates_on_one_agent_keep_the_best() {
        let now = Instant::now();
        let mut state = State::default();
        launch(&mut state, "a1", "old", "fp");
        set(&mut state, "a1", "old", TaskState::Running);
        launch(&mut state, "a1", "new", "fp");
        let k = kills(&state, "fp", None, now);
        assert_eq!(
            k.iter()
                .map(|k| (k.task_id.as_str(), k.reason))
                .collect::<Vec<_>>(),
            [("new", KillReason::Duplicate)]
        );
        set(&mut state, "a1", "new", TaskState::Running);
        let k = kills(&state, "fp", None, now);
        assert_eq!(
            k.iter().map(|k| k.task_id.as_str()).collect::<Vec<_>>(),
            ["old"]
        );
    }

    #[test]
    fn config_set_goes_to_lagging_running_executors_with_resends() {
        let now = Instant::now();
        let mut state = State::default();
        launch(&mut state, "a1", "t1", "fp");
        launch(&mut state, "a2", "t2", "fp");
        set(&mut state, "a1", "t1", TaskState::Running);
        apply(
            &mut state,
            Command::CreateConfig {
                name: "n".into(),
                kind: ConfigKind::Docker,
                input: String::new(),
            },
        );
        let version = state.config_version;
        let targets = |sent: &BTreeMap<String, (u64, Instant)>, at| {
            deliveries(&state, sent, at)
                .into_iter()
                .map(|d| d.task_id)
                .collect::<Vec<_>>()
        };
        assert_eq!(targets(&BTreeMap::new(), now), ["t1"]);
        let sent = BTreeMap::from([("t1".to_owned(), (version, now))]);
        assert_eq!(targets(&sent, now), Vec::<String>::new());
        assert_eq!(targets(&sent, now + RESEND_AFTER), ["t1"]);
        let older = BTreeMap::from([("t1".to_owned(), (version - 1, now))]);
        assert_eq!(targets(&older, now), ["t1"]);
        apply(
            &mut state,
            Command::RecordConfigApplied {
                agent_id: "a1".into(),
                version,
            },
        );
        assert_eq!(deliveries(&state, &BTreeMap::new(), now), []);
    }
}

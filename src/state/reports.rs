//! Executor reports become events: the applied config version and stream
//! changes. A pure function of the projections and the report.

use std::collections::BTreeSet;

use super::State;
use crate::events::messages::{ExecutorReport, StreamState};
use crate::events::{Command, StreamChange};

/// The commands that bring the projection of `agent_id` in line with `report`.
pub fn commands(state: &State, agent_id: &str, report: &ExecutorReport) -> Vec<Command> {
    let agent = state.cluster.agents.get(agent_id);
    let mut commands = Vec::new();
    if let Some(version) = report
        .config_version
        .filter(|v| agent.and_then(|a| a.applied_version) != Some(*v))
    {
        commands.push(Command::RecordConfigApplied {
            agent_id: agent_id.to_owned(),
            version,
        });
    }
    let mut reported = BTreeSet::new();
    for stream in &report.streams {
        let key = (stream.container_id.clone(), stream.path.clone());
        let change = match stream.state {
            StreamState::Streaming | StreamState::Draining => StreamChange::Started,
            StreamState::Failed => StreamChange::Failed,
        };
        let reason = match change {
            StreamChange::Failed => stream.reason.clone(),
            _ => None,
        };
        let known = agent.and_then(|a| a.streams.get(&key));
        if known.is_none_or(|s| s.state != change || s.reason != reason || s.image != stream.image)
        {
            commands.push(Command::RecordStreamChange {
                agent_id: agent_id.to_owned(),
                container_id: stream.container_id.clone(),
                image: stream.image.clone(),
                path: stream.path.clone(),
                change,
                reason,
            });
        }
        reported.insert(key);
    }
    for ((container_id, path), s) in agent.iter().flat_map(|a| a.streams.iter()) {
        if !reported.contains(&(container_id.clone(), path.clone())) {
            commands.push(Command::RecordStreamChange {
                agent_id: agent_id.to_owned(),
                container_id: container_id.clone(),
                image: s.image.clone(),
                path: path.clone(),
                change: StreamChange::Stopped,
                reason: None,
            });
        }
    }
    commands
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::messages::StreamReport;
    use crate::events::{Actor, Proposal};

    fn stream(container: &str, path: &str, state: StreamState) -> StreamReport {
        StreamReport {
            container_id: container.into(),
            image: "nginx".into(),
            path: path.into(),
            state,
            reason: (state == StreamState::Failed).then(|| "no tail in the container".into()),
            lines: 0,
            bytes: 0,
            dropped_bytes: 0,
            rotations: 0,
            duplicate_lines: 0,
            reader: None,
            reader_note: None,
            lost_files: 0,
        }
    }

    fn apply_all(state: &mut State, commands: Vec<Command>) {
        for command in commands {
            let proposal = Proposal {
                at: 1,
                actor: Actor::Executor("a1".into()),
                command,
            };
            for env in state.envelopes(&proposal).unwrap() {
                state.apply(&env);
            }
        }
    }

    #[test]
    fn reports_turn_into_changes_only() {
        let mut state = State::default();
        let first = ExecutorReport {
            config_version: Some(3),
            streams: vec![
                stream("c1", "/a", StreamState::Streaming),
                stream("c2", "/b", StreamState::Failed),
            ],
            ..ExecutorReport::default()
        };
        let commands = commands(&state, "a1", &first);
        assert_eq!(commands.len(), 3);
        apply_all(&mut state, commands);
        assert!(
            super::commands(&state, "a1", &first).is_empty(),
            "a repeated report changes nothing"
        );

        let second = ExecutorReport {
            config_version: Some(3),
            streams: vec![stream("c2", "/b", StreamState::Streaming)],
            ..ExecutorReport::default()
        };
        let changes = super::commands(&state, "a1", &second);
        let summary: Vec<_> = changes
            .iter()
            .map(|c| match c {
                Command::RecordStreamChange {
                    container_id,
                    change,
                    ..
                } => format!("{container_id} {change:?}"),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(summary, ["c2 Started", "c1 Stopped"]);
        apply_all(&mut state, changes);
        let streams = &state.cluster.agents["a1"].streams;
        assert_eq!(streams.len(), 1);
        assert_eq!(state.cluster.agents["a1"].applied_version, Some(3));
    }
}

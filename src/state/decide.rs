//! The decider: what a command means given the current state.

use crate::events::{Command, Event};

use super::validate::{RULES_VERSION, port_taken, validate_rules};
use super::{Rejection, State};

/// Decides which events a command yields against `state`, or why it is refused.
///
/// Pure and deterministic: the journal runs it on every replica for every
/// committed command. A command that would change nothing yields no events, so
/// the log holds only changes. A command the leader checked is checked again
/// here, with the rules it was admitted under, so nothing invalid becomes an
/// event whichever way it reached the log.
pub fn decide(state: &State, command: &Command) -> Result<Vec<Event>, Rejection> {
    let one = |event| Ok(vec![event]);
    match command {
        Command::Checked { rules, command } => {
            check(*rules, command)?;
            if *rules >= 3 {
                ports_free(state, command)?;
            }
            decide(state, command)
        }
        Command::CreateConfig { name, kind, input } => {
            if let Some(existing) = state.configs.current(name) {
                if existing.kind != *kind {
                    return Err(Rejection::WrongKind {
                        name: name.clone(),
                        existing: format!("{:?}", existing.kind).to_lowercase(),
                        requested: format!("{kind:?}").to_lowercase(),
                    });
                }
                return Err(Rejection::AlreadyExists { name: name.clone() });
            }
            one(Event::ConfigCreated {
                name: name.clone(),
                kind: *kind,
                input: input.clone(),
            })
        }
        Command::UpdateConfig { name, input } => {
            let current = existing(state, name)?;
            if current == input {
                return Ok(vec![]);
            }
            one(Event::ConfigUpdated {
                name: name.clone(),
                input: input.clone(),
                restored_from: None,
            })
        }
        Command::RevertConfig { name, version } => {
            let current = existing(state, name)?;
            let target = state
                .configs
                .history(name)
                .and_then(|h| h.version(*version))
                .ok_or_else(|| Rejection::VersionNotFound {
                    name: name.clone(),
                    version: *version,
                })?;
            let input = target
                .input
                .as_ref()
                .ok_or_else(|| Rejection::VersionIsDeletion {
                    name: name.clone(),
                    version: *version,
                })?;
            if input == current {
                return Ok(vec![]);
            }
            one(Event::ConfigUpdated {
                name: name.clone(),
                input: input.clone(),
                restored_from: Some(target.seq),
            })
        }
        Command::DeleteConfig { name } => {
            existing(state, name)?;
            one(Event::ConfigDeleted { name: name.clone() })
        }
        Command::ChangeSettings { settings } => {
            if state.settings.as_ref() == Some(settings) {
                return Ok(vec![]);
            }
            one(Event::SettingsChanged {
                settings: settings.clone(),
            })
        }
        Command::RecordFrameworkSubscribed {
            framework_id,
            master,
            replica,
        } => one(Event::FrameworkSubscribed {
            framework_id: framework_id.clone(),
            master: master.clone(),
            replica: *replica,
        }),
        Command::RecordLeader { replica, term } => {
            let leader = state.cluster.leader.as_ref();
            if leader.is_some_and(|l| l.replica == *replica && l.term == *term) {
                return Ok(vec![]);
            }
            one(Event::LeaderChanged {
                replica: *replica,
                term: *term,
            })
        }
        Command::RecordExecutorLaunched {
            agent_id,
            hostname,
            task_id,
            executor_id,
            fingerprint,
        } => one(Event::ExecutorLaunched {
            agent_id: agent_id.clone(),
            hostname: hostname.clone(),
            task_id: task_id.clone(),
            executor_id: executor_id.clone(),
            fingerprint: fingerprint.clone(),
        }),
        Command::RecordTaskStatus {
            task_id,
            agent_id,
            state: task_state,
            reason,
            message,
            source,
        } => {
            // Mesos repeats states (reconciliation, resent updates) with
            // other messages; only a new state is a change.
            let known = state.cluster.tasks.get(task_id);
            let unchanged = known.is_some_and(|t| t.state == *task_state);
            // A terminal update for a task we no longer track is a repeat.
            let stale = known.is_none() && task_state.is_terminal() && {
                let ended = state
                    .cluster
                    .agents
                    .get(agent_id)
                    .and_then(|a| a.last_ended_task.as_ref());
                ended.is_some_and(|t| &t.task_id == task_id)
            };
            if unchanged || stale {
                return Ok(vec![]);
            }
            one(Event::TaskStateChanged {
                task_id: task_id.clone(),
                agent_id: agent_id.clone(),
                state: *task_state,
                reason: reason.clone(),
                message: message.clone(),
                source: source.clone(),
            })
        }
        Command::RecordConfigApplied { agent_id, version } => {
            let agent = state.cluster.agents.get(agent_id);
            if agent.is_some_and(|a| a.applied_version == Some(*version)) {
                return Ok(vec![]);
            }
            one(Event::ExecutorConfigApplied {
                agent_id: agent_id.clone(),
                version: *version,
            })
        }
        Command::RecordStreamChange {
            agent_id,
            container_id,
            image,
            path,
            change,
            reason,
        } => {
            let current = state
                .cluster
                .agents
                .get(agent_id)
                .and_then(|a| a.streams.get(&(container_id.clone(), path.clone())));
            let unchanged = match current {
                None => *change == crate::events::StreamChange::Stopped,
                Some(s) => s.state == *change && &s.reason == reason && &s.image == image,
            };
            if unchanged {
                return Ok(vec![]);
            }
            one(Event::StreamsChanged {
                agent_id: agent_id.clone(),
                container_id: container_id.clone(),
                image: image.clone(),
                path: path.clone(),
                change: *change,
                reason: reason.clone(),
            })
        }
        Command::RemoveAgent { agent_id, reason } => {
            if !state.cluster.agents.contains_key(agent_id) {
                return Ok(vec![]);
            }
            one(Event::AgentRemoved {
                agent_id: agent_id.clone(),
                reason: reason.clone(),
            })
        }
        Command::RecordFrameworkRemoved {
            framework_id,
            reason,
        } => {
            let current = state.cluster.framework.as_ref();
            if current.is_none_or(|f| &f.framework_id != framework_id) {
                return Ok(vec![]);
            }
            one(Event::FrameworkRemoved {
                framework_id: framework_id.clone(),
                reason: reason.clone(),
            })
        }
    }
}

/// The checks of rules version `rules` (see `validate`). The journal stops
/// before deciding a version newer than this build's, so every version seen
/// here is one this build knows.
fn check(rules: u16, command: &Command) -> Result<(), Rejection> {
    if matches!(command, Command::Checked { .. }) {
        return Err(Rejection::Malformed {
            reason: "a checked command inside a checked command".into(),
        });
    }
    match rules {
        2..=RULES_VERSION => validate_rules(rules, command),
        other => Err(Rejection::Malformed {
            reason: format!("validation rules version {other} is not one a leader stamps"),
        }),
    }
}

/// The ports a create, update or revert would listen on are not another
/// config's (rules version 3).
fn ports_free(state: &State, command: &Command) -> Result<(), Rejection> {
    match command {
        Command::CreateConfig { name, input, .. } | Command::UpdateConfig { name, input } => {
            port_taken(state, name, input)
        }
        Command::RevertConfig { name, version } => {
            let target = state
                .configs
                .history(name)
                .and_then(|h| h.version(*version))
                .and_then(|v| v.input.as_deref());
            match target {
                Some(input) => port_taken(state, name, input),
                None => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

fn existing<'a>(state: &'a State, name: &str) -> Result<&'a str, Rejection> {
    state
        .configs
        .current(name)
        .map(|c| c.input)
        .ok_or_else(|| Rejection::NotFound { name: name.into() })
}

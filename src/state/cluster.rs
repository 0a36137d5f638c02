//! The cluster projection: the framework's registration, the agents we know, our
//! tasks on them and what each executor reported.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::events::{Envelope, Event, StreamChange, TaskState};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Framework {
    pub framework_id: String,
    pub master: String,
    pub replica: u64,
    /// When the last SUBSCRIBED was recorded (unix ms).
    pub subscribed_at: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leader {
    pub replica: u64,
    pub term: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    pub task_id: String,
    pub agent_id: String,
    pub executor_id: String,
    pub fingerprint: String,
    pub state: TaskState,
    pub reason: Option<String>,
    pub message: Option<String>,
    pub launched_at: u64,
    pub updated_at: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stream {
    pub image: String,
    pub state: StreamChange,
    pub reason: Option<String>,
    pub since: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agent {
    pub hostname: String,
    /// The config set version the executor last reported as applied.
    pub applied_version: Option<u64>,
    /// Streams by (container id, path); stopped streams are dropped.
    pub streams: BTreeMap<(String, String), Stream>,
    /// The last of our tasks on this agent that ended, kept for display.
    pub last_ended_task: Option<Task>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cluster {
    pub framework: Option<Framework>,
    pub leader: Option<Leader>,
    pub agents: BTreeMap<String, Agent>,
    /// Our tasks that have not reached a terminal state, by task id.
    pub tasks: BTreeMap<String, Task>,
}

impl Cluster {
    /// Our live tasks on one agent.
    pub fn tasks_on<'a>(&'a self, agent_id: &'a str) -> impl Iterator<Item = &'a Task> + 'a {
        self.tasks.values().filter(move |t| t.agent_id == agent_id)
    }

    pub(super) fn apply(&mut self, env: &Envelope) {
        match &env.event {
            Event::FrameworkSubscribed {
                framework_id,
                master,
                replica,
            } => {
                self.framework = Some(Framework {
                    framework_id: framework_id.clone(),
                    master: master.clone(),
                    replica: *replica,
                    subscribed_at: env.at,
                });
            }
            Event::LeaderChanged { replica, term } => {
                self.leader = Some(Leader {
                    replica: *replica,
                    term: *term,
                });
            }
            Event::ExecutorLaunched {
                agent_id,
                hostname,
                task_id,
                executor_id,
                fingerprint,
            } => {
                self.agents.entry(agent_id.clone()).or_default().hostname = hostname.clone();
                self.tasks.insert(
                    task_id.clone(),
                    Task {
                        task_id: task_id.clone(),
                        agent_id: agent_id.clone(),
                        executor_id: executor_id.clone(),
                        fingerprint: fingerprint.clone(),
                        state: TaskState::Staging,
                        reason: None,
                        message: None,
                        launched_at: env.at,
                        updated_at: env.at,
                    },
                );
            }
            Event::TaskStateChanged {
                task_id,
                agent_id,
                state,
                reason,
                message,
                source: _,
            } => {
                let agent = self.agents.entry(agent_id.clone()).or_default();
                let mut task = self.tasks.remove(task_id).unwrap_or_else(|| Task {
                    task_id: task_id.clone(),
                    agent_id: agent_id.clone(),
                    executor_id: String::new(),
                    fingerprint: String::new(),
                    state: *state,
                    reason: None,
                    message: None,
                    launched_at: env.at,
                    updated_at: env.at,
                });
                task.state = *state;
                task.reason = reason.clone();
                task.message = message.clone();
                task.updated_at = env.at;
                if state.is_terminal() {
                    agent.last_ended_task = Some(task);
                    if self.tasks_on(agent_id).next().is_none() {
                        // No executor of ours runs there any more: its reports are stale.
                        let agent = self.agents.entry(agent_id.clone()).or_default();
                        agent.streams.clear();
                        agent.applied_version = None;
                    }
                } else {
                    self.tasks.insert(task_id.clone(), task);
                }
            }
            Event::ExecutorConfigApplied { agent_id, version } => {
                self.agents
                    .entry(agent_id.clone())
                    .or_default()
                    .applied_version = Some(*version);
            }
            Event::StreamsChanged {
                agent_id,
                container_id,
                image,
                path,
                change,
                reason,
            } => {
                let streams = &mut self.agents.entry(agent_id.clone()).or_default().streams;
                let key = (container_id.clone(), path.clone());
                match change {
                    StreamChange::Stopped => {
                        streams.remove(&key);
                    }
                    StreamChange::Started | StreamChange::Failed => {
                        streams.insert(
                            key,
                            Stream {
                                image: image.clone(),
                                state: *change,
                                reason: reason.clone(),
                                since: env.at,
                            },
                        );
                    }
                }
            }
            Event::AgentRemoved { agent_id, .. } => {
                self.agents.remove(agent_id);
                self.tasks.retain(|_, t| &t.agent_id != agent_id);
            }
            Event::FrameworkRemoved { reason, .. } => {
                self.framework = None;
                for (_, mut task) in std::mem::take(&mut self.tasks) {
                    task.state = TaskState::Gone;
                    task.reason = Some(reason.clone());
                    task.updated_at = env.at;
                    let agent = self.agents.entry(task.agent_id.clone()).or_default();
                    agent.streams.clear();
                    agent.applied_version = None;
                    agent.last_ended_task = Some(task);
                }
            }
            Event::ConfigCreated { .. }
            | Event::ConfigUpdated { .. }
            | Event::ConfigDeleted { .. }
            | Event::SettingsChanged { .. } => {}
        }
    }
}

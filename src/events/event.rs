//! The events of the log and the settings and states they carry; part of the
//! on-disk format (see the module doc of `events`).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Something that happened, as recorded in the log.
///
/// Config events carry the full new value so that any version can be read back
/// from the history alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    ConfigCreated {
        name: String,
        kind: ConfigKind,
        input: String,
    },
    ConfigUpdated {
        name: String,
        input: String,
        /// Seq of the version this update restored, when it was a revert.
        restored_from: Option<u64>,
    },
    ConfigDeleted {
        name: String,
    },
    SettingsChanged {
        settings: ExecutorSettings,
    },
    FrameworkSubscribed {
        framework_id: String,
        master: String,
        replica: u64,
    },
    LeaderChanged {
        replica: u64,
        term: u64,
    },
    ExecutorLaunched {
        agent_id: String,
        hostname: String,
        task_id: String,
        executor_id: String,
        fingerprint: String,
    },
    TaskStateChanged {
        task_id: String,
        agent_id: String,
        state: TaskState,
        reason: Option<String>,
        message: Option<String>,
        source: Option<String>,
    },
    ExecutorConfigApplied {
        agent_id: String,
        version: u64,
    },
    StreamsChanged {
        agent_id: String,
        container_id: String,
        image: String,
        path: String,
        change: StreamChange,
        reason: Option<String>,
    },
    AgentRemoved {
        agent_id: String,
        reason: String,
    },
    /// The framework is gone from Mesos (torn down, or removed after its
    /// failover timeout): its id cannot subscribe again and its tasks are dead.
    FrameworkRemoved {
        framework_id: String,
        reason: String,
    },
}

/// The variant of an [`Event`] without its data, for filters and counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum EventType {
    ConfigCreated,
    ConfigUpdated,
    ConfigDeleted,
    SettingsChanged,
    FrameworkSubscribed,
    LeaderChanged,
    ExecutorLaunched,
    TaskStateChanged,
    ExecutorConfigApplied,
    StreamsChanged,
    AgentRemoved,
    FrameworkRemoved,
}

impl EventType {
    pub const ALL: [EventType; 12] = [
        EventType::ConfigCreated,
        EventType::ConfigUpdated,
        EventType::ConfigDeleted,
        EventType::SettingsChanged,
        EventType::FrameworkSubscribed,
        EventType::LeaderChanged,
        EventType::ExecutorLaunched,
        EventType::TaskStateChanged,
        EventType::ExecutorConfigApplied,
        EventType::StreamsChanged,
        EventType::AgentRemoved,
        EventType::FrameworkRemoved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::ConfigCreated => "ConfigCreated",
            EventType::ConfigUpdated => "ConfigUpdated",
            EventType::ConfigDeleted => "ConfigDeleted",
            EventType::SettingsChanged => "SettingsChanged",
            EventType::FrameworkSubscribed => "FrameworkSubscribed",
            EventType::LeaderChanged => "LeaderChanged",
            EventType::ExecutorLaunched => "ExecutorLaunched",
            EventType::TaskStateChanged => "TaskStateChanged",
            EventType::ExecutorConfigApplied => "ExecutorConfigApplied",
            EventType::StreamsChanged => "StreamsChanged",
            EventType::AgentRemoved => "AgentRemoved",
            EventType::FrameworkRemoved => "FrameworkRemoved",
        }
    }

    /// Parses the name as written by [`EventType::as_str`]; `None` for unknown names.
    pub fn parse(s: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Event {
    pub fn event_type(&self) -> EventType {
        match self {
            Event::ConfigCreated { .. } => EventType::ConfigCreated,
            Event::ConfigUpdated { .. } => EventType::ConfigUpdated,
            Event::ConfigDeleted { .. } => EventType::ConfigDeleted,
            Event::SettingsChanged { .. } => EventType::SettingsChanged,
            Event::FrameworkSubscribed { .. } => EventType::FrameworkSubscribed,
            Event::LeaderChanged { .. } => EventType::LeaderChanged,
            Event::ExecutorLaunched { .. } => EventType::ExecutorLaunched,
            Event::TaskStateChanged { .. } => EventType::TaskStateChanged,
            Event::ExecutorConfigApplied { .. } => EventType::ExecutorConfigApplied,
            Event::StreamsChanged { .. } => EventType::StreamsChanged,
            Event::AgentRemoved { .. } => EventType::AgentRemoved,
            Event::FrameworkRemoved { .. } => EventType::FrameworkRemoved,
        }
    }

    /// The config this event is about, for the audit index and filters.
    pub fn config_name(&self) -> Option<&str> {
        match self {
            Event::ConfigCreated { name, .. }
            | Event::ConfigUpdated { name, .. }
            | Event::ConfigDeleted { name } => Some(name),
            _ => None,
        }
    }

    /// Whether the event changes the config set that executors receive.
    pub fn changes_config_set(&self) -> bool {
        self.config_name().is_some()
    }
}

/// What a config is applied to: per-image (`docker`) or on every agent (`host`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum ConfigKind {
    #[default]
    Docker,
    Host,
}

/// Executor resources and launch settings; a change replaces running executors.
///
/// CPUs are kept in thousandths so the settings compare exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutorSettings {
    pub cpus_milli: u32,
    pub mem_mib: u32,
    pub disk_mib: u32,
    pub logstash_heap_mib: u32,
    pub command: ExecutorCommand,
}

/// How the agent starts the executor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExecutorCommand {
    /// This binary's `executor` subcommand, at a path on the agent or fetched from a URI.
    Binary { path: String, uri: Option<String> },
    /// A Docker image with the Docker socket mounted.
    Image { image: String },
}

/// Mesos task states (mesos.v1.TaskState), as the scheduler records them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TaskState {
    Staging,
    Starting,
    Running,
    Killing,
    Finished,
    Failed,
    Killed,
    Error,
    Lost,
    Dropped,
    Unreachable,
    Gone,
    GoneByOperator,
    Unknown,
}

impl TaskState {
    /// A terminal task no longer holds its agent: the agent may get a new executor.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskState::Finished
                | TaskState::Failed
                | TaskState::Killed
                | TaskState::Error
                | TaskState::Lost
                | TaskState::Dropped
                | TaskState::Gone
                | TaskState::GoneByOperator
                | TaskState::Unknown
        )
    }
}

/// What happened to one (container, file) stream on an executor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamChange {
    Started,
    Stopped,
    Failed,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_type_names_round_trip() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
        }
        assert_eq!(EventType::parse("configcreated"), None);
    }

    #[test]
    fn terminal_states_free_the_agent() {
        assert!(!TaskState::Running.is_terminal());
        assert!(!TaskState::Staging.is_terminal());
        assert!(!TaskState::Unreachable.is_terminal());
        assert!(TaskState::Failed.is_terminal());
        assert!(TaskState::Lost.is_terminal());
    }
}

use serde::{Deserialize, Serialize};

use super::{Actor, ConfigKind, ExecutorSettings, StreamChange, TaskState};

/// A request to change the state, decided against the current state by
/// `state::decide`, which turns it into zero or more events or rejects it.
///
/// Commands are what the journal replicates; deciding is deterministic, so every
/// replica derives the same events from the same commands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    CreateConfig {
        name: String,
        kind: ConfigKind,
        input: String,
    },
    UpdateConfig {
        name: String,
        input: String,
    },
    /// Make an earlier version current again, as a new update.
    RevertConfig {
        name: String,
        version: u32,
    },
    DeleteConfig {
        name: String,
    },
    ChangeSettings {
        settings: ExecutorSettings,
    },
    RecordFrameworkSubscribed {
        framework_id: String,
        master: String,
        replica: u64,
    },
    RecordLeader {
        replica: u64,
        term: u64,
    },
    RecordExecutorLaunched {
        agent_id: String,
        hostname: String,
        task_id: String,
        executor_id: String,
        fingerprint: String,
    },
    RecordTaskStatus {
        task_id: String,
        agent_id: String,
        state: TaskState,
        reason: Option<String>,
        message: Option<String>,
        source: Option<String>,
    },
    RecordConfigApplied {
        agent_id: String,
        version: u64,
    },
    RecordStreamChange {
        agent_id: String,
        container_id: String,
        image: String,
        path: String,
        change: StreamChange,
        reason: Option<String>,
    },
    RemoveAgent {
        agent_id: String,
        reason: String,
    },
    RecordFrameworkRemoved {
        framework_id: String,
        reason: String,
    },
}

impl Command {
    /// The config a config command is about.
    pub fn config_name(&self) -> Option<&str> {
        match self {
            Command::CreateConfig { name, .. }
            | Command::UpdateConfig { name, .. }
            | Command::RevertConfig { name, .. }
            | Command::DeleteConfig { name } => Some(name),
            _ => None,
        }
    }
}

/// A command with who asked for it and when, as it travels through the journal.
///
/// `at` is stamped once, where the command is proposed, so that applying it on
/// any replica yields the same envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    pub at: u64,
    pub actor: Actor,
    pub command: Command,
}

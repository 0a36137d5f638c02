//! Commands: what a caller asks the decider for. A command becomes events or
//! a rejection, never both.

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
    /// A command as the leader admitted it: checked with version `rules` of
    /// the validation rules, which every replica applies to it again while
    /// deciding (`state::RULES_VERSION`). Only the leader wraps a command;
    /// a bare command in the log was proposed by a build from before the
    /// rules were versioned (version 1).
    Checked {
        rules: u16,
        command: Box<Command>,
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
            Command::Checked { command, .. } => command.config_name(),
            _ => None,
        }
    }

    /// The version of the validation rules this command is decided with.
    pub fn rules(&self) -> u16 {
        match self {
            Command::Checked { rules, .. } => *rules,
            _ => 1,
        }
    }

    /// The command without the leader's wrapping.
    pub fn unchecked(&self) -> &Command {
        match self {
            Command::Checked { command, .. } => command.unchecked(),
            other => other,
        }
    }
}

/// A command with who asked for it and when, as it travels through the journal.
///
/// `at` is stamped by the leader when it proposes the command (whatever a
/// follower forwarding it put there), so that applying it on any replica
/// yields the same envelope and no proposer's clock moves the log's time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    pub at: u64,
    pub actor: Actor,
    pub command: Command,
}

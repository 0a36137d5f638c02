//! Why the decider refused a command, in terms callers match on.

/// Why a command was refused. Nothing is appended when a command is rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum Rejection {
    #[error("invalid config name: {reason}")]
    InvalidName { reason: String },
    #[error("invalid Logstash config at line {line}, column {column}: {message}")]
    InvalidConfig {
        line: u32,
        column: u32,
        message: String,
    },
    #[error("config {name:?} already exists")]
    AlreadyExists { name: String },
    #[error("config {name:?} does not exist")]
    NotFound { name: String },
    #[error("config {name:?} has no version {version}")]
    VersionNotFound { name: String, version: u32 },
    #[error("version {version} of config {name:?} is a deletion and cannot be restored")]
    VersionIsDeletion { name: String, version: u32 },
    #[error(
        "config {name:?} is managed by the configuration directory ({file}); change the file instead"
    )]
    ManagedByConfigDir { name: String, file: String },
    #[error("config {name:?} is a {existing} config, not a {requested} one")]
    WrongKind {
        name: String,
        existing: String,
        requested: String,
    },
    /// The actor is not one this cluster records: malformed, or (on a write
    /// forwarded to the leader) not known to the leader.
    #[error("actor {actor:?} is not allowed: {reason}")]
    ActorNotAllowed { actor: String, reason: String },
    /// The command is not one a leader of this cluster proposes.
    #[error("malformed command: {reason}")]
    Malformed { reason: String },
    /// Another config listens on the port already.
    #[error("port {port}/{protocol} is taken by config {by:?}")]
    PortTaken {
        port: u16,
        protocol: String,
        by: String,
    },
    /// The config names a plugin Logstash on the agents does not have.
    #[error("unknown plugin at line {line}, column {column}: {message}")]
    UnknownPlugin {
        line: u32,
        column: u32,
        message: String,
    },
}

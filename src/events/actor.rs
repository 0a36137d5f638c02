//! Who caused an event: an API token's label, the configuration directory,
//! a scheduler replica, an executor; recorded with every event.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Who caused an event; recorded in every envelope for the audit trail.
///
/// Written as a short string (`api:alice`, `config-dir`, `replica:2`,
/// `executor:<agent id>`, `system`) in JSON and in filters, so operators can
/// search for it without knowing the enum.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Actor {
    /// An API client, named by its token's label (never the secret), or
    /// `anonymous` when the API runs without tokens.
    Api(String),
    /// The scheduler's configuration directory.
    ConfigDir,
    /// A scheduler replica acting on its own (leader duties).
    Replica(u64),
    /// An executor, named by the Mesos agent it runs on.
    Executor(String),
    /// The system itself (start-up, migrations).
    System,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid actor {0:?}: expected api:<label>, config-dir, replica:<id>, executor:<agent>, or system"
)]
pub struct ActorParseError(pub String);

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::Api(label) => write!(f, "api:{label}"),
            Actor::ConfigDir => f.write_str("config-dir"),
            Actor::Replica(id) => write!(f, "replica:{id}"),
            Actor::Executor(agent) => write!(f, "executor:{agent}"),
            Actor::System => f.write_str("system"),
        }
    }
}

impl FromStr for Actor {
    type Err = ActorParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ActorParseError(s.to_owned());
        match s.split_once(':') {
            Some(("api", label)) if !label.is_empty() => Ok(Actor::Api(label.to_owned())),
            Some(("replica", id)) => id.parse().map(Actor::Replica).map_err(|_| err()),
            Some(("executor", agent)) if !agent.is_empty() => Ok(Actor::Executor(agent.to_owned())),
            None if s == "config-dir" => Ok(Actor::ConfigDir),
            None if s == "system" => Ok(Actor::System),
            _ => Err(err()),
        }
    }
}

impl From<Actor> for String {
    fn from(actor: Actor) -> Self {
        actor.to_string()
    }
}

impl TryFrom<String> for Actor {
    type Error = ActorParseError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_parse_round_trip() {
        for actor in [
            Actor::Api("alice".into()),
            Actor::Api("ops:team".into()),
            Actor::ConfigDir,
            Actor::Replica(3),
            Actor::Executor("5f1c-S0".into()),
            Actor::System,
        ] {
            assert_eq!(actor.to_string().parse::<Actor>().unwrap(), actor);
        }
    }

    #[test]
    fn rejects_unknown_forms() {
        for s in ["", "api:", "replica:x", "executor:", "nobody", "system:1"] {
            assert!(s.parse::<Actor>().is_err(), "{s:?} should not parse");
        }
    }
}

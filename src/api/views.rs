//! The JSON shapes of the API, built from the projections.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::events::time::to_rfc3339;
use crate::events::{ConfigKind, Envelope};
use crate::state::{Change, ConfigHistory, ConfigVersion, ConfigView};

/// A config as the seed API returned it (`name`, `input`), plus its version.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConfigJson {
    /// The Docker image the config applies to (or a glob such as `myorg/*`).
    pub name: String,
    /// The Logstash config snippet.
    pub input: String,
    /// `docker` (per image) or `host` (every agent).
    pub kind: String,
    /// Position of this version in the config's history (1-based).
    pub version: u32,
    /// Seq of the event that made this version.
    pub seq: u64,
    pub updated_at: String,
    pub updated_by: String,
}

impl From<ConfigView<'_>> for ConfigJson {
    fn from(view: ConfigView<'_>) -> Self {
        ConfigJson {
            name: view.name.to_owned(),
            input: view.input.to_owned(),
            kind: kind_name(view.kind).to_owned(),
            version: view.version.version,
            seq: view.version.seq,
            updated_at: to_rfc3339(view.version.at),
            updated_by: view.version.actor.to_string(),
        }
    }
}

pub fn kind_name(kind: ConfigKind) -> &'static str {
    match kind {
        ConfigKind::Docker => "docker",
        ConfigKind::Host => "host",
    }
}

/// Body of `POST /api/configs`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewConfig {
    pub name: String,
    pub input: String,
}

/// Body of `PUT /api/configs/{name}`. A `name`, if given, must equal the one in
/// the URL: configs are not renamed.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ConfigUpdate {
    pub name: Option<String>,
    pub input: String,
}

/// Body of `POST /api/configs/{name}/revert`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RevertRequest {
    /// The version to make current again.
    pub version: u32,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Deleted {
    pub name: String,
    pub deleted: bool,
    pub seq: u64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VersionJson {
    pub version: u32,
    pub seq: u64,
    pub at: String,
    pub actor: String,
    /// `created`, `updated` or `deleted`.
    pub change: String,
    /// The config text after this version; absent for a deletion.
    pub input: Option<String>,
    /// Seq of the version this one restored, for a revert.
    pub restored_from: Option<u64>,
}

impl From<&ConfigVersion> for VersionJson {
    fn from(v: &ConfigVersion) -> Self {
        VersionJson {
            version: v.version,
            seq: v.seq,
            at: to_rfc3339(v.at),
            actor: v.actor.to_string(),
            change: match v.change {
                Change::Created => "created",
                Change::Updated => "updated",
                Change::Deleted => "deleted",
            }
            .to_owned(),
            input: v.input.clone(),
            restored_from: v.restored_from,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct HistoryJson {
    pub name: String,
    pub kind: String,
    /// Every version, oldest first.
    pub versions: Vec<VersionJson>,
}

impl HistoryJson {
    pub fn new(name: &str, history: &ConfigHistory) -> Self {
        HistoryJson {
            name: name.to_owned(),
            kind: kind_name(history.kind).to_owned(),
            versions: history.versions.iter().map(VersionJson::from).collect(),
        }
    }
}

/// One event of the audit history.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventJson {
    pub seq: u64,
    /// RFC 3339, UTC.
    pub at: String,
    /// Unix milliseconds.
    pub at_ms: u64,
    /// Who caused it: `api:<token label>`, `config-dir`, `replica:<id>`,
    /// `executor:<agent id>` or `system`.
    pub actor: String,
    #[serde(rename = "type")]
    pub event_type: String,
    /// The config the event is about, if any.
    pub config: Option<String>,
    /// The event's fields.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

impl From<&Envelope> for EventJson {
    fn from(env: &Envelope) -> Self {
        // Events serialize externally tagged: {"Type": {fields}}; keep the fields.
        let data = match serde_json::to_value(&env.event) {
            Ok(serde_json::Value::Object(map)) => {
                map.into_iter().next().map(|(_, v)| v).unwrap_or_default()
            }
            Ok(other) => other,
            Err(_) => serde_json::Value::Null,
        };
        EventJson {
            seq: env.seq,
            at: to_rfc3339(env.at),
            at_ms: env.at,
            actor: env.actor.to_string(),
            event_type: env.event.event_type().as_str().to_owned(),
            config: env.event.config_name().map(str::to_owned),
            data,
        }
    }
}

/// A page of the audit history.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventPage {
    pub events: Vec<EventJson>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
    /// Seq of the newest event in the log when the page was read.
    pub last_seq: u64,
}

/// Body of `POST /api/configs/validate`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ValidateRequest {
    /// The Logstash config text to check.
    pub input: String,
    /// A config name to check as well, if given.
    pub name: Option<String>,
    /// `docker` (a per-image config, the default) or `host` (the host config).
    pub kind: Option<String>,
}

/// Answer of `POST /api/configs/validate` for a config that would be accepted.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Validated {
    pub valid: bool,
    /// Number of lines of the input.
    pub lines: usize,
    /// The `docker-path` settings: the files streamed out of matching containers.
    pub docker_paths: Vec<String>,
    /// The `host-path` settings: files on the agents themselves (host config).
    pub host_paths: Vec<String>,
    /// The plugins used, in order of appearance (codecs included).
    pub plugins: Vec<String>,
}

/// Answer of `GET /api/whoami`: whether the API wants tokens, and whose token
/// the request carried.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WhoAmI {
    /// Tokens are configured: writes need one.
    pub tokens_enabled: bool,
    /// Reads need a token too (`--api-auth-reads`).
    pub reads_need_token: bool,
    /// The actor recorded for this request's writes (`api:<label>`), or null
    /// when the request carried no token and the API has tokens.
    pub actor: Option<String>,
}

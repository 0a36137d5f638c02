//! Checks that depend only on the command itself, not on the current state.
//!
//! They run when the leader admits a command and again in the decide step on
//! every replica (`State::envelopes`), so nothing invalid enters the log by
//! any path. Decisions must be identical on every replica, also while
//! replicas of different builds run side by side during an upgrade: the
//! leader stamps every command with the version of these rules it was
//! admitted under ([`RULES_VERSION`], `Command::Checked`), and replicas
//! decide it with exactly those rules. Whatever changes what they accept
//! (the name rule, the Logstash parser, the path rules) needs a new rules
//! version, with the old behaviour kept for entries stamped with the old one.

use std::collections::BTreeSet;

use crate::events::{Actor, Command, ConfigKind};
use crate::logstash;
use crate::logstash::catalog::ExtraPlugin;

use super::Rejection;

/// The version of the checks below. 1: nothing was checked while deciding
/// (commands were checked once, where they were proposed). 2: names,
/// Logstash configs and actors are checked while deciding. 3: also an
/// input's `port` must be a whole number 1..=65535, and a port may be
/// listened on by one config only ([`port_taken`], checked in `decide`).
pub const RULES_VERSION: u16 = 3;

/// Longest config name, in characters.
pub const MAX_NAME_CHARS: usize = 255;

/// The checks of [`RULES_VERSION`] on a command.
pub fn validate(command: &Command) -> Result<(), Rejection> {
    validate_rules(RULES_VERSION, command)
}

/// The checks of rules version `rules` (2 or later) on a command.
pub fn validate_rules(rules: u16, command: &Command) -> Result<(), Rejection> {
    match command {
        Command::CreateConfig { name, input, .. } | Command::UpdateConfig { name, input } => {
            validate_name(name)?;
            validate_input(input)?;
            if rules >= 3 {
                validate_ports(input)?;
            }
            Ok(())
        }
        Command::RevertConfig { name, .. } | Command::DeleteConfig { name } => validate_name(name),
        _ => Ok(()),
    }
}

/// A config name is the image reference it applies to (or a glob of them): 1 to
/// 255 characters, none of them a control, format or line/paragraph
/// separator character, which could hide or reorder what an operator reads
/// in the GUI, the log or a terminal; and no `/`-separated part `.` or `..`,
/// which no image reference has and which would make the config's URL
/// (`/api/configs/<name>`) resolve to another path.
pub fn validate_name(name: &str) -> Result<(), Rejection> {
    let reason = |r: &str| Err(Rejection::InvalidName { reason: r.into() });
    let chars = name.chars().count();
    if chars == 0 {
        return reason("the name is empty");
    }
    if name.split('/').any(|part| part == "." || part == "..") {
        return reason("a part of the name between slashes is `.` or `..`");
    }
    if chars > MAX_NAME_CHARS {
        return reason(&format!(
            "the name has {chars} characters, at most {MAX_NAME_CHARS} are allowed"
        ));
    }
    if let Some((i, c)) = name.chars().enumerate().find(|(_, c)| c.is_control()) {
        return reason(&format!(
            "character {} is the control character U+{:04X}",
            i + 1,
            c as u32
        ));
    }
    if let Some((i, c)) = name
        .chars()
        .enumerate()
        .find(|(_, c)| is_format_or_separator(*c))
    {
        return reason(&format!(
            "character {} is the invisible format or separator character U+{:04X}",
            i + 1,
            c as u32
        ));
    }
    Ok(())
}

/// The Unicode characters of general category Cf (format: bidi overrides,
/// zero-width characters, ...), Zl (U+2028) and Zp (U+2029), as of Unicode
/// 15.1. A fixed table, not a library's, because it is part of the rules
/// (see [`RULES_VERSION`]).
const FORMAT_OR_SEPARATOR: &[(u32, u32)] = &[
    (0x00AD, 0x00AD),
    (0x0600, 0x0605),
    (0x061C, 0x061C),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x2028, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
];

fn is_format_or_separator(c: char) -> bool {
    let c = c as u32;
    FORMAT_OR_SEPARATOR
        .iter()
        .any(|&(first, last)| (first..=last).contains(&c))
}

/// Longest actor label (a token label or an agent id), in characters.
pub const MAX_ACTOR_CHARS: usize = 255;

/// Who is recorded as the actor must be something an operator can read and
/// filter by: an API actor is a token label (letters, digits, `.`, `_`,
/// `@`, `-`, as the token file allows), an executor's agent id follows the
/// name rule.
pub fn validate_actor(actor: &Actor) -> Result<(), Rejection> {
    let refuse = |reason: String| {
        Err(Rejection::ActorNotAllowed {
            actor: actor.to_string().chars().take(80).collect(),
            reason,
        })
    };
    match actor {
        Actor::Api(label) => {
            let chars = label.chars().count();
            let charset = label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '-'));
            if chars == 0 || chars > MAX_ACTOR_CHARS || !charset {
                return refuse(format!(
                    "a token label has 1 to {MAX_ACTOR_CHARS} letters, digits, '.', '_', '@' or '-'"
                ));
            }
            Ok(())
        }
        Actor::Executor(agent) => match validate_name(agent) {
            Ok(()) => Ok(()),
            Err(e) => refuse(format!("the agent id is not valid: {e}")),
        },
        Actor::ConfigDir | Actor::Replica(_) | Actor::System => Ok(()),
    }
}

/// The input must parse as a Logstash pipeline, and every `docker-path` must be
/// an absolute path free of control characters (it is passed to `tail` inside
/// the container).
pub fn validate_input(input: &str) -> Result<(), Rejection> {
    let config = logstash::parse(input).map_err(|e| Rejection::InvalidConfig {
        line: e.line,
        column: e.column,
        message: e.message,
    })?;
    for entry in logstash::docker_paths(&config) {
        let problem = if !entry.value.starts_with('/') {
            Some("docker-path must be an absolute path (starting with /)")
        } else if entry.value.chars().any(char::is_control) {
            Some("docker-path must not contain control characters")
        } else {
            None
        };
        if let Some(message) = problem {
            let (line, column) = logstash::line_column(input, entry.value_span.start);
            return Err(Rejection::InvalidConfig {
                line,
                column,
                message: message.into(),
            });
        }
    }
    Ok(())
}

/// Every `port` of an input names one port (rules version 3).
fn validate_ports(input: &str) -> Result<(), Rejection> {
    let Ok(config) = logstash::parse(input) else {
        return Ok(());
    };
    match logstash::ports::bad_port(&config) {
        Some(span) => {
            let (line, column) = logstash::line_column(input, span.start);
            Err(Rejection::InvalidConfig {
                line,
                column,
                message: "port must be a whole number from 1 to 65535".into(),
            })
        }
        None => Ok(()),
    }
}

/// The first port `input` listens on that another live config than `name`
/// listens on too (same number and protocol): on every agent both would
/// bind it, and Mesos can give it to one task only. Rules version 3.
pub fn port_taken(state: &super::State, name: &str, input: &str) -> Result<(), Rejection> {
    let Ok(config) = logstash::parse(input) else {
        return Ok(());
    };
    let wanted = logstash::ports::listen_ports(&config);
    if wanted.is_empty() {
        return Ok(());
    }
    for other in state.configs.live().filter(|c| c.name != name) {
        let Ok(theirs) = logstash::parse(other.input) else {
            continue;
        };
        let theirs = logstash::ports::listen_ports(&theirs);
        if let Some(p) = wanted.iter().find(|w| {
            theirs
                .iter()
                .any(|t| t.port == w.port && t.protocol == w.protocol)
        }) {
            return Err(Rejection::PortTaken {
                port: p.port,
                protocol: p.protocol.to_owned(),
                by: other.name.to_owned(),
            });
        }
    }
    Ok(())
}

/// What configs may reach on the agents (`--host-path-allow`,
/// `--allow-host-plugins`): Logstash runs there as the executor's user with
/// the agent's file system visible, so a per-image config names files only
/// through `docker-path` (inside its containers), the host config only
/// through `host-path` below a root the operator allowed, and plugins or
/// settings that run code or reach other agent files
/// ([`logstash::HOST_ACCESS_RULES`]) need the operator's explicit consent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPathPolicy {
    allowed: Vec<String>,
    allow_host_plugins: bool,
    /// Installed on the agents besides the bundled ones (`--logstash-plugins`).
    extra_plugins: BTreeSet<ExtraPlugin>,
}

impl Default for HostPathPolicy {
    fn default() -> Self {
        HostPathPolicy::new(["/var/log"])
    }
}

impl HostPathPolicy {
    /// Empty roots are ignored (they never widen the policy); `/` allows
    /// every absolute path.
    pub fn new<S: AsRef<str>>(roots: impl IntoIterator<Item = S>) -> Self {
        HostPathPolicy {
            allowed: roots
                .into_iter()
                .map(|r| r.as_ref().trim().to_owned())
                .filter(|r| !r.is_empty())
                .map(|r| match r.trim_end_matches('/') {
                    "" => "/".to_owned(),
                    trimmed => trimmed.to_owned(),
                })
                .collect(),
            allow_host_plugins: false,
            extra_plugins: BTreeSet::new(),
        }
    }

    /// Accept these plugins besides those bundled with Logstash.
    pub fn with_extra_plugins(mut self, plugins: impl IntoIterator<Item = ExtraPlugin>) -> Self {
        self.extra_plugins = plugins.into_iter().collect();
        self
    }

    /// Accept the plugins and settings of [`logstash::HOST_ACCESS_RULES`].
    pub fn allowing_host_plugins(mut self, allow: bool) -> Self {
        self.allow_host_plugins = allow;
        self
    }

    /// Checks a config's text for its kind, as a create or update of it
    /// would be checked: it must parse, name files only the way its kind
    /// may, use only plugins Logstash on the agents has (bundled or extra),
    /// and no refused plugin or setting. These checks depend on the
    /// operator's flags, so the leader applies them on admission; they are
    /// not part of [`RULES_VERSION`], which every replica applies alike.
    pub fn check(&self, kind: ConfigKind, input: &str) -> Result<(), Rejection> {
        let config = logstash::parse(input).map_err(|e| Rejection::InvalidConfig {
            line: e.line,
            column: e.column,
            message: e.message,
        })?;
        let at = |span: logstash::Span, message: String| {
            let (line, column) = logstash::line_column(input, span.start);
            Err(Rejection::InvalidConfig {
                line,
                column,
                message,
            })
        };
        match kind {
            ConfigKind::Docker => {
                validate_input(input)?;
                if let Some(entry) = logstash::host_paths(&config).first() {
                    return at(
                        entry.attribute_span,
                        "host-path belongs in the host config (/api/host-config); a per-image \
                         config names container files with docker-path"
                            .into(),
                    );
                }
            }
            ConfigKind::Host => {
                if let Some(entry) = logstash::docker_paths(&config).first() {
                    return at(
                        entry.attribute_span,
                        "docker-path belongs in a per-image config; the host config names \
                         agent files with host-path"
                            .into(),
                    );
                }
                for entry in logstash::host_paths(&config) {
                    if let Some(message) = self.problem(&entry.value) {
                        return at(entry.value_span, message);
                    }
                }
            }
        }
        if let Some(found) = logstash::catalog::unknown_plugin(&config, &self.extra_plugins) {
            let (line, column) = logstash::line_column(input, found.span.start);
            return Err(Rejection::UnknownPlugin {
                line,
                column,
                message: format!(
                    "no {} plugin named {:?} is bundled with Logstash {} or installed with \
                     --logstash-plugins (logstash-{}-{})",
                    found.kind.as_str(),
                    found.name,
                    logstash::catalog::bundled().logstash_version,
                    found.kind.as_str(),
                    found.name
                ),
            });
        }
        if !self.allow_host_plugins
            && let Some(found) = logstash::host_access(&config).first()
        {
            return at(found.span, found.message());
        }
        Ok(())
    }

    /// A host config: see [`HostPathPolicy::check`].
    pub fn validate(&self, input: &str) -> Result<(), Rejection> {
        self.check(ConfigKind::Host, input)
    }

    fn problem(&self, path: &str) -> Option<String> {
        if !path.starts_with('/') || path.chars().any(char::is_control) {
            return Some("host-path must be an absolute path without control characters".into());
        }
        if path.split('/').any(|c| c == "." || c == "..") {
            return Some("host-path must not contain . or .. components".into());
        }
        let below = |root: &String| {
            root == "/"
                || path == root.as_str()
                || path
                    .strip_prefix(root.as_str())
                    .is_some_and(|rest| rest.starts_with('/'))
        };
        if self.allowed.iter().any(below) {
            return None;
        }
        Some(format!(
            "host-path {path:?} is outside the allowed roots ({})",
            self.allowed.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_paths_stay_below_allowed_roots() {
        let policy = HostPathPolicy::new(["/var/log", "/srv/app/logs/"]);
        let input = |p: &str| format!("input {{ file {{ host-path => \"{p}\" }} }}");
        for ok in [
            "/var/log/syslog",
            "/var/log/*.log",
            "/srv/app/logs/a/b.log",
            "/var/log",
        ] {
            assert_eq!(policy.validate(&input(ok)), Ok(()), "{ok}");
        }
        for bad in [
            "/etc/shadow",
            "/var/logs/x",
            "/var/log/../../etc/passwd",
            "var/log/x",
            "/var/log/./x",
        ] {
            match policy.validate(&input(bad)) {
                Err(Rejection::InvalidConfig {
                    line: 1,
                    column: 29,
                    ..
                }) => {}
                other => panic!("{bad}: {other:?}"),
            }
        }
        assert!(matches!(
            policy.validate("input {"),
            Err(Rejection::InvalidConfig { .. })
        ));
        assert_eq!(
            HostPathPolicy::new(["/"]).validate(&input("/etc/hosts")),
            Ok(())
        );
    }

    #[test]
    fn empty_roots_never_widen_the_policy() {
        let policy = HostPathPolicy::new(["/var/log", "", " "]);
        let input = "input { file { host-path => \"/etc/shadow\" } }";
        assert!(policy.validate(input).is_err());
        assert!(HostPathPolicy::new([""]).validate(input).is_err());
        assert_eq!(HostPathPolicy::new(["//"]).validate(input), Ok(()));
    }

    #[test]
    fn each_kind_names_files_only_its_own_way() {
        let policy = HostPathPolicy::default();
        let host_in_docker = "input {\n  file { host-path => \"/var/log/syslog\" }\n}";
        assert!(matches!(
            policy.check(ConfigKind::Docker, host_in_docker),
            Err(Rejection::InvalidConfig {
                line: 2,
                column: 10,
                ..
            })
        ));
        let docker_in_host = "input { file { docker-path => \"/var/log/a\" } }";
        assert!(matches!(
            policy.check(ConfigKind::Host, docker_in_host),
            Err(Rejection::InvalidConfig {
                line: 1,
                column: 16,
                ..
            })
        ));
        assert_eq!(policy.check(ConfigKind::Host, host_in_docker), Ok(()));
        assert_eq!(policy.check(ConfigKind::Docker, docker_in_host), Ok(()));
    }

    #[test]
    fn host_plugins_need_the_operators_consent() {
        let strict = HostPathPolicy::default();
        let open = HostPathPolicy::default().allowing_host_plugins(true);
        let cases = [
            (
                ConfigKind::Docker,
                "input { exec { command => \"id\" } }",
                (1, 9),
            ),
            (
                ConfigKind::Host,
                "input {\n  file {\n    path => \"/etc/shadow\"\n  }\n}",
                (3, 5),
            ),
            (
                ConfigKind::Docker,
                "input { file { docker-path => \"/a\" } }\noutput { file { path => \"/etc/cron.d/x\" } }",
                (2, 10),
            ),
        ];
        for (kind, input, (line, column)) in cases {
            match strict.check(kind, input) {
                Err(Rejection::InvalidConfig {
                    line: l,
                    column: c,
                    message,
                }) => {
                    assert_eq!((l, c), (line, column), "{input}");
                    assert!(message.contains("--allow-host-plugins"), "{message}");
                }
                other => panic!("{input}: {other:?}"),
            }
            assert_eq!(open.check(kind, input), Ok(()), "{input}");
        }
    }

    #[test]
    fn names_allow_everything_an_image_reference_holds() {
        for name in [
            "nginx",
            "nginx:latest",
            "mesos/logstash:0.0.6",
            "a/b/c",
            "registry.example.com:5000/team/app@sha256:0123abcd",
            "myorg/*",
            "nginx:1.*",
            "ünïcødé/画像",
            "100%25 encoded?#",
            "..hidden/a..b/c.",
        ] {
            assert_eq!(validate_name(name), Ok(()), "{name}");
        }
        assert_eq!(validate_name(&"x".repeat(255)), Ok(()));
        assert_eq!(validate_name(&"é".repeat(255)), Ok(()));
    }

    #[test]
    fn names_refuse_empty_long_and_control_characters() {
        for name in ["", "a\nb", "tab\there", "nul\0", "del\u{7f}", "c1\u{85}"] {
            assert!(validate_name(name).is_err(), "{name:?}");
        }
        assert!(validate_name(&"x".repeat(256)).is_err());
    }

    #[test]
    fn names_refuse_dot_segments_that_would_move_their_url() {
        for name in ["..", ".", "../metrics/history", "a/../b", "a/.", "./a"] {
            assert!(validate_name(name).is_err(), "{name:?}");
        }
    }

    #[test]
    fn names_refuse_format_and_separator_characters() {
        for c in [
            '\u{202E}',  // right-to-left override
            '\u{2028}',  // line separator (Zl)
            '\u{2029}',  // paragraph separator (Zp)
            '\u{200B}',  // zero width space
            '\u{200D}',  // zero width joiner
            '\u{2066}',  // left-to-right isolate
            '\u{FEFF}',  // byte order mark
            '\u{00AD}',  // soft hyphen
            '\u{061C}',  // Arabic letter mark
            '\u{E0041}', // tag latin capital letter a
            '\u{1343F}',
        ] {
            let name = format!("app{c}:latest");
            match validate_name(&name) {
                Err(Rejection::InvalidName { reason }) => {
                    assert!(reason.contains(&format!("U+{:04X}", c as u32)), "{reason}")
                }
                other => panic!("{name:?}: {other:?}"),
            }
        }
        // Neighbours of the ranges are ordinary characters.
        for c in [
            '\u{00AC}',
            '\u{2027}',
            '\u{202F}',
            '\u{2065}',
            '\u{FFFC}',
            '\u{13440}',
        ] {
            assert!(!is_format_or_separator(c), "U+{:04X}", c as u32);
        }
    }

    #[test]
    fn actors_are_token_labels_or_clean_agent_ids() {
        for ok in [
            Actor::Api("ops-team_1@example.org".into()),
            Actor::Api("anonymous".into()),
            Actor::Executor("5f1c-S0".into()),
            Actor::Replica(7),
            Actor::ConfigDir,
            Actor::System,
        ] {
            assert_eq!(validate_actor(&ok), Ok(()), "{ok}");
        }
        for bad in [
            Actor::Api("has space".into()),
            Actor::Api("new\nline".into()),
            Actor::Api("x".repeat(256)),
            Actor::Api(String::new()),
            Actor::Executor("agent\u{0}".into()),
            Actor::Executor("agent\u{202E}".into()),
        ] {
            assert!(
                matches!(validate_actor(&bad), Err(Rejection::ActorNotAllowed { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn broken_logstash_is_refused_with_position() {
        let err = validate_input("input {\n  file {\n    path => \n  }\n}\n").unwrap_err();
        match err {
            Rejection::InvalidConfig { line, column, .. } => {
                assert!(line >= 3, "line {line}");
                assert!(column >= 1);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn docker_path_must_be_absolute_and_clean() {
        let ok = "input { file { docker-path => \"/var/log/app.log\" } }";
        assert_eq!(validate_input(ok), Ok(()));
        let relative = "input {\n  file { docker-path => \"var/log/app.log\" }\n}";
        assert_eq!(
            validate_input(relative),
            Err(Rejection::InvalidConfig {
                line: 2,
                column: 25,
                message: "docker-path must be an absolute path (starting with /)".into()
            })
        );
    }
}

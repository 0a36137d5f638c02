//! Checks that depend only on the command itself, not on the current state.
//!
//! They run once, where a command is proposed, and not again while applying it:
//! a newer build's parser may accept what an older one refused, and replicas of
//! mixed builds must still decide identically during a rolling upgrade.

use crate::events::{Command, ConfigKind};
use crate::logstash;

use super::Rejection;

/// Longest config name, in characters.
pub const MAX_NAME_CHARS: usize = 255;

pub fn validate(command: &Command) -> Result<(), Rejection> {
    match command {
        Command::CreateConfig { name, input, .. } | Command::UpdateConfig { name, input } => {
            validate_name(name)?;
            validate_input(input)
        }
        Command::RevertConfig { name, .. } | Command::DeleteConfig { name } => validate_name(name),
        _ => Ok(()),
    }
}

/// A config name is the image reference it applies to (or a glob of them): 1 to
/// 255 characters, none of them control characters.
pub fn validate_name(name: &str) -> Result<(), Rejection> {
    let reason = |r: &str| Err(Rejection::InvalidName { reason: r.into() });
    let chars = name.chars().count();
    if chars == 0 {
        return reason("the name is empty");
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
    Ok(())
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
        }
    }

    /// Accept the plugins and settings of [`logstash::HOST_ACCESS_RULES`].
    pub fn allowing_host_plugins(mut self, allow: bool) -> Self {
        self.allow_host_plugins = allow;
        self
    }

    /// Checks a config's text for its kind, as a create or update of it
    /// would be checked: it must parse, name files only the way its kind
    /// may, and use no refused plugin or setting.
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

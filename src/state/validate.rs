//! Checks that depend only on the command itself, not on the current state.
//!
//! They run once, where a command is proposed, and not again while applying it:
//! a newer build's parser may accept what an older one refused, and replicas of
//! mixed builds must still decide identically during a rolling upgrade.

use crate::events::Command;
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

/// Where host-level configs may read files on the agents (`--host-path-allow`):
/// the executor runs as root with the agent's file system mounted, so a
/// `host-path` must stay below a root the operator allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPathPolicy {
    allowed: Vec<String>,
}

impl Default for HostPathPolicy {
    fn default() -> Self {
        HostPathPolicy::new(["/var/log"])
    }
}

impl HostPathPolicy {
    pub fn new<S: AsRef<str>>(roots: impl IntoIterator<Item = S>) -> Self {
        HostPathPolicy {
            allowed: roots
                .into_iter()
                .map(|r| r.as_ref().trim_end_matches('/').to_owned())
                .collect(),
        }
    }

    /// A host config must parse, and every `host-path` must be an absolute
    /// path without `.` or `..` components below an allowed root.
    pub fn validate(&self, input: &str) -> Result<(), Rejection> {
        let config = logstash::parse(input).map_err(|e| Rejection::InvalidConfig {
            line: e.line,
            column: e.column,
            message: e.message,
        })?;
        for entry in logstash::host_paths(&config) {
            if let Some(message) = self.problem(&entry.value) {
                let (line, column) = logstash::line_column(input, entry.value_span.start);
                return Err(Rejection::InvalidConfig {
                    line,
                    column,
                    message,
                });
            }
        }
        Ok(())
    }

    fn problem(&self, path: &str) -> Option<String> {
        if !path.starts_with('/') || path.chars().any(char::is_control) {
            return Some("host-path must be an absolute path without control characters".into());
        }
        if path.split('/').any(|c| c == "." || c == "..") {
            return Some("host-path must not contain . or .. components".into());
        }
        let below = |root: &String| {
            root.is_empty()
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

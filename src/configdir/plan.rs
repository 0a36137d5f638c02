//! What a scan of the configuration directory means for the log: a pure
//! function of the files found, the projections and the host-path policy.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::events::{Actor, Command, ConfigKind};
use crate::state::{HostPathPolicy, Rejection, State, validate_name};

use super::scan::Listing;

/// One `.conf` file of the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirFile {
    /// Path below the directory, e.g. `docker/mesos/logstash:0.0.6.conf`.
    pub file: String,
    pub name: String,
    pub kind: ConfigKind,
    /// The text, or why it could not be read.
    pub content: Result<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileState {
    /// In force as written.
    Applied,
    /// Refused; the last good version (if any) stays in force.
    Invalid,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileStatus {
    pub file: String,
    pub name: String,
    pub kind: ConfigKind,
    pub state: FileState,
    pub error: Option<String>,
    pub line: Option<u32>,
    pub column: Option<u32>,
}

/// The commands that bring the log in line with the directory, and how each
/// file fared.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub commands: Vec<Command>,
    pub files: Vec<FileStatus>,
}

/// A new file creates, a changed file updates, a removed file deletes (only
/// configs the directory put in force); an invalid file changes nothing.
pub fn plan(files: &[DirFile], state: &State, policy: &HostPathPolicy) -> Plan {
    let mut plan = Plan::default();
    let mut present: BTreeSet<&str> = BTreeSet::new();
    for f in files {
        let fresh = present.insert(&f.name);
        let status = |error: Option<(String, Option<(u32, u32)>)>| {
            let (error, position) = error.unzip();
            FileStatus {
                file: f.file.clone(),
                name: f.name.clone(),
                kind: f.kind,
                state: if error.is_some() {
                    FileState::Invalid
                } else {
                    FileState::Applied
                },
                error,
                line: position.flatten().map(|p| p.0),
                column: position.flatten().map(|p| p.1),
            }
        };
        let checked = if fresh {
            check(f, state, policy)
        } else {
            Err((format!("another file already defines {:?}", f.name), None))
        };
        match checked {
            Err(error) => plan.files.push(status(Some(error))),
            Ok(command) => {
                plan.commands.extend(command);
                plan.files.push(status(None));
            }
        }
    }
    for view in state.configs.live() {
        if view.version.actor == Actor::ConfigDir && !present.contains(view.name) {
            plan.commands.push(Command::DeleteConfig {
                name: view.name.to_owned(),
            });
        }
    }
    plan
}

/// Why a scan must change nothing: a kind's folder is gone while configs
/// of that kind came from it (an unmounted or deleted folder is not an
/// instruction to delete them).
pub fn missing_folder(listing: &Listing, state: &State) -> Option<String> {
    for (kind, found, top) in [
        (ConfigKind::Docker, &listing.docker, "docker"),
        (ConfigKind::Host, &listing.host, "host"),
    ] {
        if found.is_some() {
            continue;
        }
        let managed = state
            .configs
            .live()
            .filter(|v| v.kind == kind && v.version.actor == Actor::ConfigDir)
            .count();
        if managed > 0 {
            return Some(format!(
                "{top}/ is missing, but {managed} config(s) came from it; nothing changes \
                 until it is back (delete their files to delete them)"
            ));
        }
    }
    None
}

type FileError = (String, Option<(u32, u32)>);

fn check(
    f: &DirFile,
    state: &State,
    policy: &HostPathPolicy,
) -> Result<Option<Command>, FileError> {
    let input = f.content.as_ref().map_err(|e| (e.clone(), None))?;
    validate_name(&f.name).map_err(rejection)?;
    policy.check(f.kind, input).map_err(rejection)?;
    Ok(match state.configs.current(&f.name) {
        None => Some(Command::CreateConfig {
            name: f.name.clone(),
            kind: f.kind,
            input: input.clone(),
        }),
        Some(current) if current.kind != f.kind => {
            return Err((
                format!(
                    "{:?} is already a {} config",
                    f.name,
                    format!("{:?}", current.kind).to_lowercase()
                ),
                None,
            ));
        }
        Some(current) if current.input != input => Some(Command::UpdateConfig {
            name: f.name.clone(),
            input: input.clone(),
        }),
        Some(_) => None,
    })
}

fn rejection(r: Rejection) -> FileError {
    match r {
        Rejection::InvalidConfig {
            line,
            column,
            message,
        } => (message, Some((line, column))),
        other => (other.to_string(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Proposal;

    fn file(name: &str, content: &str) -> DirFile {
        DirFile {
            file: format!("docker/{name}.conf"),
            name: name.into(),
            kind: ConfigKind::Docker,
            content: Ok(content.into()),
        }
    }

    fn apply(state: &mut State, actor: Actor, commands: &[Command]) {
        for command in commands {
            let proposal = Proposal {
                at: 1,
                actor: actor.clone(),
                command: command.clone(),
            };
            for env in state.envelopes(&proposal).unwrap() {
                state.apply(&env);
            }
        }
    }

    const OK: &str = "input { file { docker-path => \"/var/log/a.log\" } }";

    #[test]
    fn files_create_update_and_delete() {
        let policy = HostPathPolicy::default();
        let mut state = State::default();
        let first = plan(&[file("mesos/logstash:0.0.6", OK)], &state, &policy);
        assert!(
            matches!(&first.commands[..], [Command::CreateConfig { name, .. }] if name == "mesos/logstash:0.0.6")
        );
        assert_eq!(first.files[0].state, FileState::Applied);
        apply(&mut state, Actor::ConfigDir, &first.commands);
        assert_eq!(
            plan(&[file("mesos/logstash:0.0.6", OK)], &state, &policy).commands,
            vec![]
        );

        let edited = format!("{OK}\n# edited\n");
        let second = plan(&[file("mesos/logstash:0.0.6", &edited)], &state, &policy);
        assert!(matches!(
            &second.commands[..],
            [Command::UpdateConfig { .. }]
        ));
        apply(&mut state, Actor::ConfigDir, &second.commands);

        let removed = plan(&[], &state, &policy);
        assert_eq!(
            removed.commands,
            vec![Command::DeleteConfig {
                name: "mesos/logstash:0.0.6".into()
            }]
        );
    }

    #[test]
    fn a_broken_file_keeps_the_last_good_version() {
        let policy = HostPathPolicy::default();
        let mut state = State::default();
        let created = plan(&[file("nginx", OK)], &state, &policy).commands;
        apply(&mut state, Actor::ConfigDir, &created);
        let broken = plan(&[file("nginx", "input {\n  file {\n")], &state, &policy);
        assert_eq!(
            broken.commands,
            vec![],
            "nothing changes, nothing is deleted"
        );
        let status = &broken.files[0];
        assert_eq!(status.state, FileState::Invalid);
        assert_eq!(status.line, Some(3));
        assert!(status.column.is_some());
        let unreadable = DirFile {
            content: Err("not UTF-8".into()),
            ..file("nginx", "")
        };
        assert_eq!(plan(&[unreadable], &state, &policy).commands, vec![]);
    }

    #[test]
    fn only_configs_the_directory_made_are_deleted_and_host_paths_are_checked() {
        let policy = HostPathPolicy::default();
        let mut state = State::default();
        apply(
            &mut state,
            Actor::Api("alice".into()),
            &[Command::CreateConfig {
                name: "from-api".into(),
                kind: ConfigKind::Docker,
                input: String::new(),
            }],
        );
        assert_eq!(plan(&[], &state, &policy).commands, vec![]);

        let host = |content: &str| DirFile {
            file: "host/syslog.conf".into(),
            name: "syslog".into(),
            kind: ConfigKind::Host,
            content: Ok(content.into()),
        };
        let outside = plan(
            &[host("input { file { host-path => \"/etc/shadow\" } }")],
            &state,
            &policy,
        );
        assert_eq!(outside.files[0].state, FileState::Invalid);
        assert_eq!(outside.commands, vec![]);
        let inside = plan(
            &[host("input { file { host-path => \"/var/log/syslog\" } }")],
            &state,
            &policy,
        );
        assert!(matches!(
            &inside.commands[..],
            [Command::CreateConfig {
                kind: ConfigKind::Host,
                ..
            }]
        ));
        let clash = plan(&[file("syslog", OK), host("")], &state, &policy);
        assert_eq!(clash.files[1].state, FileState::Invalid);
    }

    #[test]
    fn a_missing_folder_deletes_nothing_it_managed() {
        let policy = HostPathPolicy::default();
        let mut state = State::default();
        let listing = Listing {
            docker: None,
            host: Some(vec![]),
        };
        assert_eq!(
            missing_folder(&listing, &state),
            None,
            "nothing came from it"
        );
        let created = plan(&[file("nginx", OK)], &state, &policy).commands;
        apply(&mut state, Actor::ConfigDir, &created);
        let problem = missing_folder(&listing, &state).unwrap();
        assert!(
            problem.starts_with("docker/ is missing, but 1 config"),
            "{problem}"
        );
        let back = Listing {
            docker: Some(vec![]),
            host: None,
        };
        assert_eq!(missing_folder(&back, &state), None);
    }
}

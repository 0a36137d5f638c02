use proptest::prelude::*;

use super::*;
use crate::events::codec;
use crate::events::{
    Actor, Command, ConfigKind, Event, EventType, ExecutorCommand, StreamChange, TaskState,
};

fn proposal(at: u64, actor: &str, command: Command) -> Proposal {
    Proposal {
        at,
        actor: Actor::Api(actor.into()),
        command,
    }
}

fn create(name: &str, input: &str) -> Command {
    Command::CreateConfig {
        name: name.into(),
        kind: ConfigKind::Docker,
        input: input.into(),
    }
}

fn update(name: &str, input: &str) -> Command {
    Command::UpdateConfig {
        name: name.into(),
        input: input.into(),
    }
}

/// Runs proposals the way the journal does; returns the state and the log.
fn run(proposals: &[Proposal]) -> (State, Vec<Envelope>, Vec<Result<usize, Rejection>>) {
    let mut state = State::default();
    let mut log = Vec::new();
    let mut results = Vec::new();
    for p in proposals {
        match state.envelopes(p) {
            Ok(envs) => {
                results.push(Ok(envs.len()));
                for env in envs {
                    state.apply(&env);
                    log.push(env);
                }
            }
            Err(rejection) => results.push(Err(rejection)),
        }
    }
    (state, log, results)
}

#[test]
fn config_lifecycle_keeps_every_version() {
    let (state, log, results) = run(&[
        proposal(10, "alice", create("a/b/c", "v1")),
        proposal(20, "bob", update("a/b/c", "v2")),
        proposal(30, "bob", update("a/b/c", "v2")),
        proposal(
            40,
            "alice",
            Command::DeleteConfig {
                name: "a/b/c".into(),
            },
        ),
        proposal(50, "alice", create("a/b/c", "v3")),
    ]);
    assert_eq!(results, vec![Ok(1), Ok(1), Ok(0), Ok(1), Ok(1)]);
    assert_eq!(log.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3, 4]);
    let history = state.configs.history("a/b/c").unwrap();
    let versions: Vec<_> = history
        .versions
        .iter()
        .map(|v| (v.version, v.seq, v.change, v.input.as_deref()))
        .collect();
    assert_eq!(
        versions,
        [
            (1, 1, Change::Created, Some("v1")),
            (2, 2, Change::Updated, Some("v2")),
            (3, 3, Change::Deleted, None),
            (4, 4, Change::Created, Some("v3")),
        ]
    );
    assert_eq!(state.configs.current("a/b/c").unwrap().input, "v3");
    assert_eq!(state.config_version, 4);
    assert!(state.configs.as_of(3).next().is_none());
    assert_eq!(state.configs.as_of(2).next().unwrap().input, "v2");
    assert_eq!(state.audit.by_config("a/b/c"), [1, 2, 3, 4]);
    assert_eq!(state.audit.by_actor(&Actor::Api("bob".into())), [2]);
    assert_eq!(state.audit.by_type(EventType::ConfigCreated), [1, 4]);
}

#[test]
fn rejections_name_the_problem_and_append_nothing() {
    let (state, log, results) = run(&[
        proposal(1, "a", create("x", "1")),
        proposal(2, "a", create("x", "2")),
        proposal(3, "a", update("y", "1")),
        proposal(4, "a", Command::DeleteConfig { name: "y".into() }),
        proposal(
            5,
            "a",
            Command::RevertConfig {
                name: "x".into(),
                version: 9,
            },
        ),
    ]);
    assert_eq!(log.len(), 1);
    assert_eq!(state.last_seq, 1);
    assert_eq!(
        results[1..],
        [
            Err(Rejection::AlreadyExists { name: "x".into() }),
            Err(Rejection::NotFound { name: "y".into() }),
            Err(Rejection::NotFound { name: "y".into() }),
            Err(Rejection::VersionNotFound {
                name: "x".into(),
                version: 9
            }),
        ]
    );
}

fn checked(command: Command) -> Command {
    Command::Checked {
        rules: RULES_VERSION,
        command: Box::new(command),
    }
}

#[test]
fn a_checked_command_is_checked_again_when_decided() {
    let bad_config = "input { file { path => ";
    let (state, log, results) = run(&[
        proposal(10, "alice", checked(create("bad\nname\0", ""))),
        proposal(20, "alice", checked(create("bidi\u{202E}gnp.exe", ""))),
        proposal(30, "alice", checked(create("ok", bad_config))),
        proposal(40, "ali ce", checked(create("ok", ""))),
        Proposal {
            at: 50,
            actor: Actor::Executor("agent\u{2028}1".into()),
            command: checked(create("ok", "")),
        },
        proposal(60, "alice", checked(checked(create("ok", "")))),
        proposal(
            70,
            "alice",
            Command::Checked {
                rules: 1,
                command: Box::new(create("ok", "")),
            },
        ),
        proposal(80, "alice", checked(create("ok", "input { stdin { } }"))),
    ]);
    assert!(matches!(results[0], Err(Rejection::InvalidName { .. })));
    assert!(matches!(results[1], Err(Rejection::InvalidName { .. })));
    assert!(matches!(results[2], Err(Rejection::InvalidConfig { .. })));
    assert!(matches!(results[3], Err(Rejection::ActorNotAllowed { .. })));
    assert!(matches!(results[4], Err(Rejection::ActorNotAllowed { .. })));
    assert!(matches!(results[5], Err(Rejection::Malformed { .. })));
    assert!(matches!(results[6], Err(Rejection::Malformed { .. })));
    assert_eq!(results[7], Ok(1));
    assert_eq!(log.len(), 1);
    assert_eq!(
        state.configs.live().map(|c| c.name).collect::<Vec<_>>(),
        ["ok"]
    );
    assert_eq!(log[0].at, 80);
}

/// A bare command was admitted by a leader of a build from before the
/// rules were versioned, which checked it only where it was proposed: it
/// is decided as that build decided it, so replicas of both builds agree.
#[test]
fn a_bare_command_is_decided_as_builds_before_versioned_rules_did() {
    let (_, log, results) = run(&[proposal(10, "alice", create("bidi\u{202E}", ""))]);
    assert_eq!(results, [Ok(1)]);
    assert_eq!(log[0].event.config_name(), Some("bidi\u{202E}"));
}

#[test]
fn revert_appends_a_new_version_pointing_at_the_old_one() {
    let (state, log, _) = run(&[
        proposal(1, "a", create("x", "one")),
        proposal(2, "a", update("x", "two")),
        proposal(
            3,
            "a",
            Command::RevertConfig {
                name: "x".into(),
                version: 1,
            },
        ),
    ]);
    assert_eq!(
        log[2].event,
        Event::ConfigUpdated {
            name: "x".into(),
            input: "one".into(),
            restored_from: Some(1),
        }
    );
    let current = state.configs.current("x").unwrap();
    assert_eq!((current.input, current.version.version), ("one", 3));
}

#[test]
fn time_never_goes_backwards() {
    let (_, log, _) = run(&[
        proposal(100, "a", create("x", "1")),
        proposal(50, "a", update("x", "2")),
    ]);
    assert_eq!(log[1].at, 100);
}

#[test]
fn task_lifecycle_frees_the_agent() {
    let system = |command| Proposal {
        at: 1,
        actor: Actor::Replica(1),
        command,
    };
    let status = |state| Command::RecordTaskStatus {
        task_id: "t1".into(),
        agent_id: "ag".into(),
        state,
        reason: None,
        message: None,
        source: None,
    };
    let (state, log, results) = run(&[
        system(Command::RecordExecutorLaunched {
            agent_id: "ag".into(),
            hostname: "host".into(),
            task_id: "t1".into(),
            executor_id: "e1".into(),
            fingerprint: "f".into(),
        }),
        system(status(TaskState::Running)),
        system(status(TaskState::Running)),
        system(Command::RecordStreamChange {
            agent_id: "ag".into(),
            container_id: "c".into(),
            image: "nginx".into(),
            path: "/var/log/x".into(),
            change: StreamChange::Started,
            reason: None,
        }),
        system(Command::RecordConfigApplied {
            agent_id: "ag".into(),
            version: 7,
        }),
        system(status(TaskState::Failed)),
        system(status(TaskState::Failed)),
    ]);
    assert_eq!(
        results,
        vec![Ok(1), Ok(1), Ok(0), Ok(1), Ok(1), Ok(1), Ok(0)]
    );
    assert_eq!(log.len(), 5);
    assert!(state.cluster.tasks.is_empty());
    let agent = &state.cluster.agents["ag"];
    assert_eq!(agent.hostname, "host");
    assert_eq!(
        agent.last_ended_task.as_ref().unwrap().state,
        TaskState::Failed
    );
    assert!(agent.streams.is_empty());
    assert_eq!(agent.applied_version, None);
}

#[test]
fn a_removed_framework_ends_every_task() {
    let replica = |command| Proposal {
        at: 5,
        actor: Actor::Replica(1),
        command,
    };
    let (state, _, results) = run(&[
        replica(Command::RecordFrameworkSubscribed {
            framework_id: "fw-1".into(),
            master: "m".into(),
            replica: 1,
        }),
        replica(Command::RecordExecutorLaunched {
            agent_id: "ag".into(),
            hostname: "h".into(),
            task_id: "t".into(),
            executor_id: "e".into(),
            fingerprint: "f".into(),
        }),
        replica(Command::RecordFrameworkRemoved {
            framework_id: "other".into(),
            reason: "teardown".into(),
        }),
        replica(Command::RecordFrameworkRemoved {
            framework_id: "fw-1".into(),
            reason: "teardown".into(),
        }),
    ]);
    assert_eq!(results, vec![Ok(1), Ok(1), Ok(0), Ok(1)]);
    assert_eq!(state.cluster.framework, None);
    assert!(state.cluster.tasks.is_empty());
    let ended = state.cluster.agents["ag"].last_ended_task.as_ref().unwrap();
    assert_eq!(
        (ended.state, ended.reason.as_deref()),
        (TaskState::Gone, Some("teardown"))
    );
}

fn settings() -> ExecutorSettings {
    ExecutorSettings {
        cpus_milli: 200,
        mem_mib: 256,
        disk_mib: 0,
        logstash_heap_mib: 512,
        command: ExecutorCommand::Binary {
            path: "/usr/bin/logstash-mesos".into(),
            uri: None,
        },
    }
}

#[test]
fn unchanged_settings_are_not_logged() {
    let settings = settings();
    let change = || Proposal {
        at: 1,
        actor: Actor::System,
        command: Command::ChangeSettings {
            settings: settings.clone(),
        },
    };
    let (state, _, results) = run(&[change(), change()]);
    assert_eq!(results, vec![Ok(1), Ok(0)]);
    assert_eq!(state.settings, Some(settings.clone()));
}

#[test]
fn the_launch_fingerprint_follows_the_settings_and_the_declared_ports() {
    let settings = settings();
    let system = |command| Proposal {
        at: 1,
        actor: Actor::System,
        command,
    };
    let (state, _, _) = run(&[system(Command::ChangeSettings {
        settings: settings.clone(),
    })]);
    assert_eq!(state.launch_fingerprint(), Some(settings.fingerprint()));
    let (listening, _, results) = run(&[
        system(Command::ChangeSettings {
            settings: settings.clone(),
        }),
        proposal(2, "alice", create("app", "input { tcp { port => 31555 } }")),
    ]);
    assert_eq!(results[1], Ok(1));
    let with_ports = listening.launch_fingerprint().unwrap();
    assert_ne!(with_ports, settings.fingerprint());
    assert_eq!(
        with_ports,
        ports::launch_fingerprint(
            &settings.fingerprint(),
            &ports::declared(&listening.config_set())
        )
    );
    assert_eq!(State::default().launch_fingerprint(), None);
}

const NAMES: &[&str] = &["nginx", "nginx:latest", "a/b/c", "ünï", "x*"];
const ACTORS: &[&str] = &["alice", "bob", "config-dir"];

fn arb_command() -> impl Strategy<Value = Command> {
    let name = prop::sample::select(NAMES).prop_map(String::from);
    let input = "[a-c]{0,3}";
    let agent = prop::sample::select(&["ag1", "ag2", "ag3"][..]).prop_map(String::from);
    let task = prop::sample::select(&["t1", "t2", "t3", "t4"][..]).prop_map(String::from);
    let task_state = prop::sample::select(
        &[
            TaskState::Staging,
            TaskState::Running,
            TaskState::Failed,
            TaskState::Lost,
        ][..],
    );
    prop_oneof![
        (name.clone(), input).prop_map(|(n, i)| create(&n, &i)),
        (name.clone(), input).prop_map(|(n, i)| update(&n, &i)),
        (name.clone(), 0u32..5).prop_map(|(name, version)| Command::RevertConfig { name, version }),
        name.clone().prop_map(|name| Command::DeleteConfig { name }),
        (agent.clone(), task.clone()).prop_map(|(agent_id, task_id)| {
            Command::RecordExecutorLaunched {
                hostname: format!("{agent_id}.example"),
                executor_id: format!("e-{task_id}"),
                agent_id,
                task_id,
                fingerprint: "fp".into(),
            }
        }),
        (agent.clone(), task, task_state).prop_map(|(agent_id, task_id, state)| {
            Command::RecordTaskStatus {
                task_id,
                agent_id,
                state,
                reason: None,
                message: None,
                source: None,
            }
        }),
        (agent.clone(), 0u64..20)
            .prop_map(|(agent_id, version)| Command::RecordConfigApplied { agent_id, version }),
        (agent.clone(), any::<bool>()).prop_map(|(agent_id, start)| {
            Command::RecordStreamChange {
                agent_id,
                container_id: "c1".into(),
                image: "nginx".into(),
                path: "/var/log/a".into(),
                change: if start {
                    StreamChange::Started
                } else {
                    StreamChange::Stopped
                },
                reason: None,
            }
        }),
        agent.prop_map(|agent_id| Command::RemoveAgent {
            agent_id,
            reason: "gone".into()
        }),
        (1u64..4, 1u64..4).prop_map(|(replica, term)| Command::RecordLeader { replica, term }),
        prop::sample::select(&["fw-1", "fw-2"][..]).prop_map(|id| {
            Command::RecordFrameworkSubscribed {
                framework_id: id.into(),
                master: "m".into(),
                replica: 1,
            }
        }),
        prop::sample::select(&["fw-1", "fw-2"][..]).prop_map(|id| {
            Command::RecordFrameworkRemoved {
                framework_id: id.into(),
                reason: "gone".into(),
            }
        }),
    ]
}

fn arb_proposals() -> impl Strategy<Value = Vec<Proposal>> {
    prop::collection::vec(
        (0u64..1_000, prop::sample::select(ACTORS), arb_command())
            .prop_map(|(at, actor, command)| proposal(at, actor, command)),
        0..80,
    )
}

proptest! {
    #[test]
    fn full_replay_equals_incremental_projection(proposals in arb_proposals()) {
        let (incremental, log, _) = run(&proposals);
        prop_assert_eq!(State::replay(&log), incremental);
    }

    #[test]
    fn snapshot_plus_tail_equals_full_replay(proposals in arb_proposals(), cut in any::<prop::sample::Index>()) {
        let (full, log, _) = run(&proposals);
        let k = if log.is_empty() { 0 } else { cut.index(log.len() + 1) };
        let snapshot = codec::encode(&State::replay(&log[..k]));
        let mut restored: State = codec::decode(&snapshot).unwrap();
        for env in &log[k..] {
            restored.apply(env);
        }
        prop_assert_eq!(restored, full);
    }

    #[test]
    fn as_of_any_seq_equals_the_state_replayed_to_it(proposals in arb_proposals()) {
        let (full, log, _) = run(&proposals);
        for k in 0..=log.len() {
            let then = State::replay(&log[..k]);
            let expected: Vec<_> = then.configs.live().map(|c| (c.name, c.input, c.version.seq)).collect();
            let actual: Vec<_> = full.configs.as_of(k as u64).map(|c| (c.name, c.input, c.version.seq)).collect();
            prop_assert_eq!(actual, expected);
        }
    }

    #[test]
    fn every_envelope_round_trips_through_the_codec(proposals in arb_proposals()) {
        let (_, log, _) = run(&proposals);
        for env in &log {
            prop_assert_eq!(&codec::decode_envelope(&codec::encode_envelope(env)).unwrap(), env);
        }
    }
}

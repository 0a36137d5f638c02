use std::collections::BTreeSet;
use std::path::Path;

use openraft::storage::RaftStateMachine;
use openraft::testing::{StoreBuilder, Suite};
use openraft::{CommittedLeaderId, EntryPayload, Membership};
use proptest::prelude::*;

use super::*;
use crate::events::{Actor, Command, ConfigKind, Proposal};
use crate::state::HostPathPolicy;
use types::{
    Batch, Entry, Forward, ForwardAnswer, LogId, Request, Response, StorageError, TypeConfig,
};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn create(name: &str, input: &str) -> Command {
    Command::CreateConfig {
        name: name.into(),
        kind: ConfigKind::Docker,
        input: input.into(),
    }
}

const INPUTS: &[&str] = &[
    "",
    "input { stdin { } }",
    "input { file { docker-path => \"/var/log/a.log\" } }",
    "filter { mutate { add_field => { \"x\" => \"y\" } } }",
];

#[test]
fn submit_appends_applies_and_notifies() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(dir.path()).await.unwrap();
        let mut follow = journal.subscribe();
        let envs = journal
            .submit(Actor::Api("alice".into()), create("a/b", INPUTS[1]))
            .await
            .unwrap();
        assert_eq!(envs.len(), 1);
        assert_eq!(envs[0].seq, 1);
        assert_eq!(*follow.borrow_and_update(), 1);
        assert_eq!(journal.event(1).unwrap().unwrap(), envs[0]);
        assert_eq!(
            journal.read(|s| s.configs.current("a/b").unwrap().input.to_owned()),
            INPUTS[1]
        );

        let err = journal
            .submit(Actor::Api("alice".into()), create("a/b", INPUTS[2]))
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            SubmitError::Rejected(Rejection::AlreadyExists { .. })
        ));
        assert_eq!(journal.last_seq(), 1);
        assert!(journal.event(2).unwrap().is_none());
        journal.linearize().await.unwrap();
        let leadership = journal.leadership().borrow().clone();
        assert!(leadership.leading, "a cluster of one leads: {leadership:?}");
        assert_eq!(leadership.leader, Some(1));
    });
}

#[test]
fn a_repeated_request_id_applies_once_and_gets_the_first_answer() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(dir.path()).await.unwrap();
        let request = Request {
            id: 42,
            proposal: Proposal {
                at: now_millis(),
                actor: Actor::System,
                command: create("nginx", INPUTS[1]),
            },
        };
        let first = journal.propose(request.clone()).await.unwrap();
        let again = journal.propose(request).await.unwrap();
        assert_eq!(first, again);
        assert_eq!(first.0.as_ref().map(Vec::len), Ok(1));
        assert_eq!(journal.last_seq(), 1);
    });
}

/// 2100-01-01, as a forged proposal time.
const FAR_FUTURE: u64 = 4_102_444_800_000;

#[test]
fn the_leader_admits_only_valid_writes_and_stamps_its_own_time() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let mut config = ClusterConfig::single(1, "127.0.0.1:1");
        config.admission = Admission {
            api_labels: Some(["alice".to_owned()].into()),
            host_paths: Some(HostPathPolicy::default()),
        };
        let journal = Journal::open_with(dir.path(), config).await.unwrap();
        let alice = || Actor::Api("alice".into());
        journal.submit(alice(), create("first", "")).await.unwrap();
        let write = |id: u128, actor: Actor, command: Command| {
            Forward::Write(Request {
                id,
                proposal: Proposal {
                    at: FAR_FUTURE,
                    actor,
                    command,
                },
            })
        };
        let host = |input: &str| Command::CreateConfig {
            name: "ui".into(),
            kind: ConfigKind::Host,
            input: input.into(),
        };
        let refused = [
            write(1, alice(), create("bad\nname\0", "")),
            write(2, alice(), create("ok", "input { file { path => ")),
            write(3, Actor::Api("mallory".into()), create("ok", "")),
            write(4, Actor::Replica(9), create("ok", "")),
            write(
                5,
                alice(),
                host("input { file { host-path => \"/etc/shadow\" } }"),
            ),
            // A proposer cannot pick the rules it is checked with.
            write(
                6,
                alice(),
                Command::Checked {
                    rules: 1,
                    command: Box::new(create("bidi\u{202E}", "")),
                },
            ),
        ];
        for call in refused {
            match journal.answer_forward(call.clone()).await {
                ForwardAnswer::Rejected(_) => {}
                other => panic!("{call:?} was not refused: {other:?}"),
            }
        }
        assert_eq!(journal.last_seq(), 1);

        let before = now_millis();
        let ForwardAnswer::Written(Response(Ok(envelopes)), _) = journal
            .answer_forward(write(7, alice(), create("ok", "")))
            .await
        else {
            panic!("a valid forwarded write was not written");
        };
        assert_eq!(envelopes.len(), 1);
        let at = envelopes[0].at;
        assert!(
            at >= before && at <= now_millis(),
            "the event carries the proposer's time"
        );
        // A retry of the same request gets the first answer, not a conflict.
        let ForwardAnswer::Written(Response(again), _) = journal
            .answer_forward(write(7, alice(), create("ok", "")))
            .await
        else {
            panic!("the retry was not answered");
        };
        assert_eq!(again, Ok(envelopes));
        assert_eq!(journal.last_seq(), 2);
    });
}

#[test]
fn a_second_process_cannot_open_a_held_data_dir() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let _held = Journal::open(dir.path()).await.unwrap();
        match Journal::open(dir.path()).await {
            Err(JournalError::Locked(_)) => {}
            Err(other) => panic!("expected Locked, got {other}"),
            Ok(_) => panic!("opened a held data dir twice"),
        }
    });
}

#[test]
fn several_replicas_need_a_secret() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let mut config = ClusterConfig::single(1, "127.0.0.1:1");
        config.peers = BTreeMap::from([(1, "127.0.0.1:1".into()), (2, "127.0.0.1:2".into())]);
        match Journal::open_with(dir.path(), config).await {
            Err(JournalError::Config(_)) => {}
            Err(other) => panic!("expected Config, got {other}"),
            Ok(_) => panic!("opened a cluster without a secret"),
        }
    });
}

#[test]
fn seq_at_time_finds_the_last_event_not_after_the_time() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(dir.path()).await.unwrap();
        for i in 0..5 {
            journal
                .submit(Actor::System, create(&format!("c{i}"), ""))
                .await
                .unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(3)).await;
        }
        let times: Vec<u64> = (1..=5)
            .map(|s| journal.event(s).unwrap().unwrap().at)
            .collect();
        assert_eq!(journal.seq_at_time(times[0] - 1).unwrap(), 0);
        for (i, t) in times.iter().enumerate() {
            assert_eq!(journal.seq_at_time(*t).unwrap(), i as u64 + 1);
        }
        assert_eq!(journal.seq_at_time(u64::MAX).unwrap(), 5);
    });
}

#[test]
fn a_corrupt_event_is_reported_with_its_seq() {
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let journal = Journal::open(dir.path()).await.unwrap();
        for i in 0..3 {
            journal
                .submit(Actor::System, create(&format!("c{i}"), ""))
                .await
                .unwrap();
        }
        journal.close().await.unwrap();
    });
    {
        // Held until sled's threads let go of the journal dropped above.
        let db = (0..250)
            .find_map(|_| {
                sled::open(dir.path().join("journal"))
                    .inspect_err(|_| std::thread::sleep(std::time::Duration::from_millis(20)))
                    .ok()
            })
            .expect("the journal is released");
        let meta = db.open_tree("meta").unwrap();
        meta.remove(b"projection").unwrap();
        let events = db.open_tree("events").unwrap();
        events
            .insert(2u64.to_be_bytes(), &b"\x00\x01garbage"[..])
            .unwrap();
        db.flush().unwrap();
    }
    match reopen(dir.path(), ClusterConfig::single(1, "127.0.0.1:0")) {
        Err(JournalError::Corrupt { seq: 2, .. }) => {}
        Err(other) => panic!("expected Corrupt at seq 2, got {other}"),
        Ok(_) => panic!("opened a corrupt journal"),
    }
}

/// Opens a journal that this process just dropped: sled's background threads
/// may hold the directory lock for a moment after the last handle is gone.
/// Returns what a fresh runtime saw, closing the journal on the way out.
fn reopen(dir: &Path, config: ClusterConfig) -> Result<(State, Vec<Envelope>), JournalError> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let opened = runtime().block_on(async {
            let journal = Journal::open_with(dir, config.clone()).await?;
            let history: Vec<_> = journal
                .events(1, u64::MAX, true)
                .map(Result::unwrap)
                .collect();
            let state = journal.read(State::clone);
            journal.close().await?;
            Ok((state, history))
        });
        match opened {
            Err(JournalError::Locked(_)) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

fn arb_commands() -> impl Strategy<Value = Vec<(u8, Command)>> {
    let name = prop::sample::select(&["nginx", "a/b/c", "ünï", "x:1.*"][..]).prop_map(String::from);
    let input = prop::sample::select(INPUTS).prop_map(String::from);
    let command = prop_oneof![
        (name.clone(), input.clone()).prop_map(|(n, i)| create(&n, &i)),
        (name.clone(), input).prop_map(|(name, input)| Command::UpdateConfig { name, input }),
        (name.clone(), 1u32..4).prop_map(|(name, version)| Command::RevertConfig { name, version }),
        name.prop_map(|name| Command::DeleteConfig { name }),
    ];
    prop::collection::vec((0u8..3, command), 1..40)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Reopening the data dir, after a clean close or not, with Raft
    /// snapshots and purged logs in between, gives exactly the same state and
    /// history.
    #[test]
    fn reopening_gives_exactly_the_same_state(
        commands in arb_commands(),
        snapshot_every in 1u64..8,
        keep_logs in 0u64..3,
        close in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut config = ClusterConfig::single(1, "127.0.0.1:0");
        config.compaction = Compaction { snapshot_every, keep_logs };
        let (before, history) = runtime().block_on(async {
            let journal = Journal::open_with(dir.path(), config.clone()).await.unwrap();
            for (actor, command) in commands {
                let _ = journal.submit(Actor::Api(format!("user{actor}")), command).await;
            }
            if close {
                journal.close().await.unwrap();
            }
            let history: Vec<_> = journal.events(1, u64::MAX, true).map(Result::unwrap).collect();
            (journal.read(State::clone), history)
        });
        let (state, again) = reopen(dir.path(), config).unwrap();
        prop_assert_eq!(&state, &before);
        prop_assert_eq!(&again, &history);
        prop_assert_eq!(State::replay(&history), before);
        let counted: usize = state.audit.type_counts().map(|(_, n)| n).sum();
        prop_assert_eq!(counted, history.len());
    }
}

// ---- the storage layer on its own ----

struct SledBuilder;

impl StoreBuilder<TypeConfig, log_store::LogStore, Machine, tempfile::TempDir> for SledBuilder {
    async fn build(
        &self,
    ) -> Result<(tempfile::TempDir, log_store::LogStore, Machine), StorageError> {
        let dir = tempfile::tempdir().unwrap();
        let db = store::open_db(dir.path()).unwrap();
        let log = log_store::LogStore::open(&db).unwrap();
        let machine = Machine::open(&db).await.unwrap();
        Ok((dir, log, machine))
    }
}

/// openraft's own conformance suite for log stores and state machines.
#[test]
fn passes_the_openraft_storage_suite() {
    Suite::test_all(SledBuilder).unwrap();
}

fn log_id(index: u64) -> LogId {
    LogId::new(CommittedLeaderId::new(1, 1), index)
}

fn entry(index: u64, payload: EntryPayload<TypeConfig>) -> Entry {
    Entry {
        log_id: log_id(index),
        payload,
    }
}

/// What a copy of the state machine holds: projections and history.
fn contents(machine: &Machine) -> (State, Vec<Envelope>) {
    let shared = machine.shared();
    let state = shared.read(State::clone);
    let history = shared
        .store
        .range(1, state.last_seq, true)
        .map(Result::unwrap)
        .collect();
    (state, history)
}

fn arb_entries() -> impl Strategy<Value = Vec<(Option<u8>, u64, Command)>> {
    // (request id from a small pool, so some repeat; None = a blank entry), time step, command
    let id = prop::option::weighted(0.9, 0u8..24);
    prop::collection::vec(
        (id, 0u64..5_000, arb_commands().prop_map(|c| c[0].1.clone())),
        1..60,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// The same entries in the same order give identical projections and
    /// histories on three copies, however the entries are batched, and a
    /// fourth copy that installs a snapshot of the first midway and applies
    /// the rest ends up identical too.
    #[test]
    fn copies_applying_the_same_entries_are_identical(
        entries in arb_entries(),
        splits in prop::collection::vec(1usize..8, 3),
        cut in 0usize..60,
    ) {
        let mut at = 1_700_000_000_000u64;
        let mut log = vec![entry(1, EntryPayload::Membership(Membership::new(vec![BTreeSet::from([1])], None)))];
        for (i, (id, step, command)) in entries.into_iter().enumerate() {
            at += step;
            let index = i as u64 + 2;
            log.push(entry(index, match id {
                None => EntryPayload::Blank,
                Some(id) => EntryPayload::Normal(Batch(vec![Request {
                    id: u128::from(id),
                    proposal: Proposal { at, actor: Actor::Api(format!("u{}", id % 3)), command },
                }])),
            }));
        }
        let cut = cut.min(log.len());
        runtime().block_on(async {
            let mut dirs = Vec::new();
            let mut copies = Vec::new();
            for split in &splits {
                let dir = tempfile::tempdir().unwrap();
                let db = store::open_db(dir.path()).unwrap();
                let mut machine = Machine::open(&db).await.unwrap();
                for batch in log.chunks(*split) {
                    machine.apply(batch.to_vec()).await.unwrap();
                }
                dirs.push(dir);
                copies.push(machine);
            }
            // A copy that catches up from a snapshot taken at `cut`.
            let dir = tempfile::tempdir().unwrap();
            let db = store::open_db(dir.path()).unwrap();
            let mut source = Machine::open(&db).await.unwrap();
            source.apply(log[..cut].to_vec()).await.unwrap();
            let snapshot = openraft::RaftSnapshotBuilder::build_snapshot(&mut source.get_snapshot_builder().await).await.unwrap();
            let dir2 = tempfile::tempdir().unwrap();
            let db2 = store::open_db(dir2.path()).unwrap();
            let mut restored = Machine::open(&db2).await.unwrap();
            restored.install_snapshot(&snapshot.meta, snapshot.snapshot).await.unwrap();
            restored.apply(log[cut..].to_vec()).await.unwrap();

            let first = contents(&copies[0]);
            prop_assert_eq!(State::replay(&first.1), first.0.clone());
            for copy in copies.iter().skip(1).chain([&restored]) {
                let other = contents(copy);
                prop_assert_eq!(&other.0, &first.0);
                prop_assert_eq!(&other.1, &first.1);
            }
            let applied: Vec<_> = {
                let mut all = Vec::new();
                for copy in copies.iter_mut().chain([&mut restored]) {
                    all.push(copy.applied_state().await.unwrap());
                }
                all
            };
            prop_assert!(applied.windows(2).all(|w| w[0] == w[1]));
            drop((dirs, dir, dir2));
            Ok(())
        })?;
    }
}

/// Opens `dir` with `config` in a fresh runtime, retrying while sled still
/// holds the lock of a journal this process just dropped, and runs `f`.
fn with_journal<R>(
    dir: &Path,
    config: &ClusterConfig,
    f: impl AsyncFn(&Journal) -> R,
) -> Result<R, JournalError> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let opened = runtime().block_on(async {
            let journal = Journal::open_with(dir, config.clone()).await?;
            let result = f(&journal).await;
            journal.close().await?;
            Ok(result)
        });
        match opened {
            Err(JournalError::Locked(_)) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

#[test]
fn a_journal_from_before_replication_is_converted_alone_then_shared() {
    let dir = tempfile::tempdir().unwrap();
    let history = {
        let db = store::open_db(dir.path()).unwrap();
        let events = store::EventStore::open(&db).unwrap();
        let mut state = State::default();
        let mut all = Vec::new();
        for i in 0..3 {
            let proposal = Proposal {
                at: 1_700_000_000_000 + i,
                actor: Actor::System,
                command: create(&format!("old-{i}"), INPUTS[1]),
            };
            let envelopes = state.envelopes(&proposal).unwrap();
            events.append(&envelopes).unwrap();
            for env in &envelopes {
                state.apply(env);
            }
            all.extend(envelopes);
        }
        db.flush().unwrap();
        all
    };
    let mut several = ClusterConfig::single(1, "127.0.0.1:1");
    several.peers = BTreeMap::from([(1, "127.0.0.1:1".into()), (2, "127.0.0.1:2".into())]);
    several.secret = Some("a-secret-of-sixteen-chars".into());
    match with_journal(dir.path(), &several, async |_| ()) {
        Err(JournalError::Config(_)) => {}
        Err(other) => panic!("expected Config, got {other}"),
        Ok(()) => panic!("joined a cluster with a history the others cannot get"),
    }
    let mut alone = ClusterConfig::single(1, "127.0.0.1:1");
    alone.secret = several.secret.clone();
    let (seen, pending, snapshot) = with_journal(dir.path(), &alone, async |journal| {
        journal
            .submit(Actor::System, create("new", INPUTS[0]))
            .await
            .unwrap();
        let seen: Vec<Envelope> = journal
            .events(1, u64::MAX, true)
            .map(Result::unwrap)
            .collect();
        let snapshot = journal.cluster_status().await.snapshot_index;
        (seen, journal.shared.legacy_pending(), snapshot)
    })
    .unwrap();
    assert_eq!(&seen[..3], &history[..]);
    assert_eq!(seen.len(), 4);
    assert!(!pending, "the old history is in a snapshot");
    assert!(snapshot.is_some());
}

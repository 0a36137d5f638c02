use std::path::Path;

use proptest::prelude::*;

use super::*;
use crate::events::ConfigKind;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
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
        let journal = Journal::open(dir.path()).unwrap();
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
    });
}

#[test]
fn a_second_process_cannot_open_a_held_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let _held = Journal::open(dir.path()).unwrap();
    match Journal::open(dir.path()) {
        Err(JournalError::Locked(_)) => {}
        Err(other) => panic!("expected Locked, got {other}"),
        Ok(_) => panic!("opened a held data dir twice"),
    }
}

#[test]
fn seq_at_time_finds_the_last_event_not_after_the_time() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(dir.path()).unwrap();
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
        let journal = Journal::open(dir.path()).unwrap();
        for i in 0..3 {
            journal
                .submit(Actor::System, create(&format!("c{i}"), ""))
                .await
                .unwrap();
        }
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
        let events = db.open_tree("events").unwrap();
        events
            .insert(2u64.to_be_bytes(), &b"\x00\x01garbage"[..])
            .unwrap();
        db.flush().unwrap();
    }
    match reopen(dir.path(), u64::MAX) {
        Err(JournalError::Corrupt { seq: 2, .. }) => {}
        Err(other) => panic!("expected Corrupt at seq 2, got {other}"),
        Ok(_) => panic!("opened a corrupt journal"),
    }
}

/// Opens a journal that this process just dropped: sled's background threads
/// may hold the directory lock for a moment after the last handle is gone.
fn reopen(dir: &Path, snapshot_every: u64) -> Result<Journal, JournalError> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match Journal::open_with(dir, snapshot_every) {
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
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Reopening the data dir, after a clean close or not, and with or without
    /// a snapshot in between, gives exactly the same state and history.
    #[test]
    fn reopening_gives_exactly_the_same_state(
        commands in arb_commands(),
        snapshot_every in 1u64..8,
        close in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (before, history) = runtime().block_on(async {
            let journal = Journal::open_with(dir.path(), snapshot_every).unwrap();
            for (actor, command) in commands {
                let _ = journal.submit(Actor::Api(format!("user{actor}")), command).await;
            }
            if close {
                journal.close().await.unwrap();
            }
            let history: Vec<_> = journal.events(1, u64::MAX, true).map(Result::unwrap).collect();
            (journal.read(State::clone), history)
        });
        let reopened = reopen(dir.path(), snapshot_every).unwrap();
        prop_assert_eq!(reopened.read(State::clone), before.clone());
        let again: Vec<_> = reopened.events(1, u64::MAX, true).map(Result::unwrap).collect();
        prop_assert_eq!(&again, &history);
        prop_assert_eq!(State::replay(&history), before);
        let counted: usize = reopened.read(|s| s.audit.type_counts().map(|(_, n)| n).sum());
        prop_assert_eq!(counted, history.len());
    }
}

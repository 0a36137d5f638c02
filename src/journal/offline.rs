//! A stopped replica's data directory, read without changing it, and a new
//! data directory written from an exported history: what the event tools
//! (`logstash-mesos-events`) work on.
//!
//! sled has no read-only mode: opening a database may recover and rewrite
//! its files. So [`DataDir::open`] takes the file lock a running replica
//! holds (refusing while one does), copies the journal to a private
//! temporary directory (below `$TMPDIR`), lets go of the lock and opens the
//! copy. The original is never written.

use std::fs::{self, File, TryLockError};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use crate::events::Envelope;
use crate::state::State;

use super::JournalError;
use super::store::{self, EventStore};
use super::{log_store, machine};

/// The sled database below a data directory.
const JOURNAL: &str = "journal";
/// Events written per batch by [`Importer`].
const IMPORT_BATCH: usize = 4096;

/// A read-only view of a stopped replica's history and stored projections.
pub struct DataDir {
    original: PathBuf,
    store: EventStore,
    db: sled::Db,
    last_seq: u64,
    // Declared last: the database closes before its files are removed.
    _copy: TempCopy,
}

impl DataDir {
    /// Opens the data directory `dir` of a replica that is not running.
    pub fn open(dir: &Path) -> Result<DataDir, JournalError> {
        let journal = dir.join(JOURNAL);
        let lock_file = journal.join("db");
        if !lock_file.is_file() {
            return Err(JournalError::NotADataDir(dir.display().to_string()));
        }
        let lock = File::open(&lock_file).map_err(|e| io_error(&lock_file, e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(JournalError::Locked(dir.display().to_string()));
            }
            Err(TryLockError::Error(e)) => return Err(io_error(&lock_file, e)),
        }
        let copy = TempCopy::new()?;
        copy_tree(&journal, &copy.0)?;
        drop(lock);

        let db = open_copy(&copy.0)?;
        let store = EventStore::open(&db)?;
        let last_seq = consistent_end(&db, &store)?;
        Ok(DataDir {
            original: dir.to_path_buf(),
            store,
            db,
            last_seq,
            _copy: copy,
        })
    }

    /// The seq of the last event the replica applied.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Events with `from <= seq <= to` (bounded by [`DataDir::last_seq`]),
    /// oldest first. A gap or an undecodable record ends the iteration with
    /// an error naming the seq.
    pub fn events(
        &self,
        from: u64,
        to: u64,
    ) -> impl Iterator<Item = Result<Envelope, JournalError>> + '_ {
        self.store.dense(from, to.min(self.last_seq))
    }

    /// The seq of the last event at or before `time_ms` (0 if none).
    pub fn seq_at_time(&self, time_ms: u64) -> Result<u64, JournalError> {
        self.store.seq_at_time(self.last_seq, time_ms)
    }

    /// The projections the replica stored to restart quickly.
    pub fn projection_snapshot(&self) -> Result<Option<State>, JournalError> {
        self.store.load_snapshot()
    }

    /// The projections and the history in the last Raft snapshot, which a
    /// lagging replica would install.
    pub fn raft_snapshot(&self) -> Result<Option<(State, Vec<Envelope>)>, JournalError> {
        machine::raft_snapshot(&self.db)
    }

    /// Bytes the data directory's journal occupies.
    pub fn size_on_disk(&self) -> u64 {
        tree_size(&self.original.join(JOURNAL))
    }
}

/// The seq the history must reach, cross-checked between what the journal
/// keeps: sled recovers a damaged file by dropping everything after the
/// damage, so a part that is missing shows only as a witness that survived.
fn consistent_end(db: &sled::Db, store: &EventStore) -> Result<u64, JournalError> {
    let raft = log_store::holds_raft_state(db).map_err(JournalError::Storage)?;
    // An unreadable projection snapshot is for `verify` to report; the
    // history does not depend on it.
    let projection = store.load_snapshot();
    let has_projection = !matches!(projection, Ok(None));
    let stored = store.last_seq()?;
    let last_seq = match machine::applied_last_seq(db)? {
        Some(seq) => seq,
        None if raft => {
            return Err(JournalError::Damaged(
                "the state machine's marker is missing while the Raft log is there".into(),
            ));
        }
        // A journal from before replication, or an import not started yet.
        None => stored,
    };
    if let Some(p) = projection.ok().flatten().filter(|p| p.last_seq > last_seq) {
        return Err(JournalError::Corrupt {
            seq: last_seq + 1,
            reason: format!(
                "missing; the stored projections include events up to {}",
                p.last_seq
            ),
        });
    }
    if !raft && last_seq == 0 && stored == 0 && !has_projection {
        // Every replica writes its vote on first start, every import its
        // projections: a journal with neither lost everything.
        return Err(JournalError::Damaged(
            "nothing in it can be read (no history, no Raft state, no projections)".into(),
        ));
    }
    Ok(last_seq)
}

/// Writes an exported history into a new data directory, in the shape a
/// replica from before replication left: the replica that opens it alone
/// converts it (snapshots the history into its Raft state machine), after
/// which other replicas can join.
pub struct Importer {
    db: sled::Db,
    store: EventStore,
    state: State,
    pending: Vec<Envelope>,
}

impl Importer {
    /// Creates the journal in `dir`, which must not hold one yet.
    pub fn create(dir: &Path) -> Result<Importer, JournalError> {
        if dir.join(JOURNAL).exists() {
            return Err(JournalError::Config(format!(
                "{} already holds a journal; import into an empty directory",
                dir.display()
            )));
        }
        let db = store::open_db(dir)?;
        let store = EventStore::open(&db)?;
        Ok(Importer {
            db,
            store,
            state: State::default(),
            pending: Vec::with_capacity(IMPORT_BATCH),
        })
    }

    /// Adds the next event: seqs must follow each other from 1 and times
    /// must not go backwards, as in every history a replica writes.
    pub fn push(&mut self, env: Envelope) -> Result<(), JournalError> {
        let expected = self.state.last_seq + 1;
        if env.seq != expected {
            return Err(JournalError::Corrupt {
                seq: env.seq,
                reason: format!("out of order: the history needs event {expected} next"),
            });
        }
        if env.at < self.state.last_at {
            return Err(JournalError::Corrupt {
                seq: env.seq,
                reason: format!(
                    "its time ({} ms) is before the previous event's ({} ms)",
                    env.at, self.state.last_at
                ),
            });
        }
        self.state.apply(&env);
        self.pending.push(env);
        if self.pending.len() >= IMPORT_BATCH {
            self.store.append(&self.pending)?;
            self.pending.clear();
        }
        Ok(())
    }

    /// Writes what is left and the projections, durably; returns the projections.
    pub async fn finish(self) -> Result<State, JournalError> {
        self.store.append(&self.pending)?;
        self.store.save_snapshot(&self.state)?;
        self.store.flush().await?;
        drop(self.db);
        Ok(self.state)
    }
}

/// A directory removed when dropped.
struct TempCopy(PathBuf);

impl TempCopy {
    fn new() -> Result<TempCopy, JournalError> {
        let path = std::env::temp_dir().join(format!(
            "logstash-mesos-events-{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        fs::create_dir_all(&path).map_err(|e| io_error(&path, e))?;
        Ok(TempCopy(path))
    }
}

impl Drop for TempCopy {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// sled may panic on files it cannot make sense of; that is damage to
/// report, not a reason to crash.
fn open_copy(path: &Path) -> Result<sled::Db, JournalError> {
    let opened = catch_unwind(AssertUnwindSafe(|| {
        // The tools read the history once, front to back: a cache would
        // only hold what was read already.
        sled::Config::new()
            .path(path)
            .cache_capacity(8 * 1024 * 1024)
            .open()
    }));
    match opened {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(e)) => Err(JournalError::Storage(e)),
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("unknown damage");
            Err(JournalError::Damaged(what.to_owned()))
        }
    }
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), JournalError> {
    fs::create_dir_all(to).map_err(|e| io_error(to, e))?;
    for entry in fs::read_dir(from).map_err(|e| io_error(from, e))? {
        let entry = entry.map_err(|e| io_error(from, e))?;
        let source = entry.path();
        let target = to.join(entry.file_name());
        let kind = entry.file_type().map_err(|e| io_error(&source, e))?;
        if kind.is_dir() {
            copy_tree(&source, &target)?;
        } else if kind.is_file() {
            fs::copy(&source, &target).map_err(|e| io_error(&source, e))?;
        }
    }
    Ok(())
}

fn tree_size(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(kind) if kind.is_dir() => tree_size(&entry.path()),
            Ok(_) => entry.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

fn io_error(path: &Path, source: std::io::Error) -> JournalError {
    JournalError::Io {
        path: path.display().to_string(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Actor, Command, ConfigKind, Event};

    fn created(seq: u64, at: u64, name: &str) -> Envelope {
        Envelope {
            seq,
            at,
            actor: Actor::Api("alice".into()),
            event: Event::ConfigCreated {
                name: name.into(),
                kind: ConfigKind::Docker,
                input: "input { file { docker-path => \"/var/log/a.log\" } }".into(),
            },
        }
    }

    /// Opens `dir` once the threads of a database just dropped in this
    /// process have let go of it (within 10 s).
    async fn open_when_unlocked(dir: &std::path::Path) -> DataDir {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match DataDir::open(dir) {
                Err(JournalError::Locked(_)) if std::time::Instant::now() < deadline => {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await
                }
                other => break other.unwrap(),
            }
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn an_imported_history_reads_back_and_a_running_replica_locks_it_out() {
        let dir = tempfile::tempdir().unwrap();
        let mut importer = Importer::create(dir.path()).unwrap();
        for seq in 1..=10_000 {
            importer
                .push(created(seq, 1000 + seq / 10, &format!("img-{seq}")))
                .unwrap();
        }
        let state = importer.finish().await.unwrap();
        assert_eq!(state.last_seq, 10_000);
        assert!(matches!(
            Importer::create(dir.path()),
            Err(JournalError::Config(_))
        ));

        // sled's flusher thread lets go of the database shortly after the
        // importer drops it.
        let data = open_when_unlocked(dir.path()).await;
        assert_eq!(data.last_seq(), 10_000);
        let events: Vec<Envelope> = data.events(1, u64::MAX).map(Result::unwrap).collect();
        assert_eq!(events.len(), 10_000);
        assert_eq!(State::replay(&events), state);
        assert_eq!(data.projection_snapshot().unwrap(), Some(state));
        assert_eq!(data.seq_at_time(1500).unwrap(), 5009);
        drop(data);

        // A replica converts the imported history and holds the lock.
        let journal = crate::journal::Journal::open(dir.path()).await.unwrap();
        assert_eq!(journal.last_seq(), 10_000);
        assert!(matches!(
            DataDir::open(dir.path()),
            Err(JournalError::Locked(_))
        ));
        journal
            .submit(
                Actor::Api("bob".into()),
                Command::DeleteConfig {
                    name: "img-1".into(),
                },
            )
            .await
            .unwrap();
        journal.close().await.unwrap();
        drop(journal);
        // Raft's tasks let go of the database shortly after the journal closes.
        let data = open_when_unlocked(dir.path()).await;
        assert_eq!(data.last_seq(), 10_001);
        let (snapshot_state, snapshot_events) = data.raft_snapshot().unwrap().unwrap();
        assert_eq!(snapshot_events.len() as u64, snapshot_state.last_seq);
    }

    #[tokio::test]
    async fn import_refuses_gaps_and_time_going_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut importer = Importer::create(dir.path()).unwrap();
        importer.push(created(1, 10, "a")).unwrap();
        let gap = importer.push(created(3, 10, "b")).unwrap_err();
        assert!(gap.to_string().contains("event 3"), "{gap}");
        let back = importer.push(created(2, 9, "b")).unwrap_err();
        assert!(back.to_string().contains("before the previous"), "{back}");
    }

    #[test]
    fn a_directory_without_a_journal_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = DataDir::open(dir.path()).err().unwrap();
        assert!(matches!(err, JournalError::NotADataDir(_)), "{err}");
    }
}

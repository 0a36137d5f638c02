//! The state directories of other frameworks and agents under the state
//! root (`<root>/<framework id>/<agent id>`): a running executor holds a
//! lock on its own, and removes the others whose executor is gone and
//! that have not changed for the retention period. So the directories of
//! torn-down frameworks (and of agent ids an agent no longer has) do not
//! pile up, and a framework that merely has no executor running for a
//! while keeps its state within the retention, as a stopped container does.
//!
//! A directory without the lock file was written by an executor from before
//! the lock and is never removed: nothing tells whether it is still in use.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::retention;

/// The lock file in every state directory; held (flock) while its executor runs.
pub const LOCK_FILE: &str = ".lock";

/// At most this many entries are looked at in one directory tree; a tree
/// that has more is left alone rather than walked forever.
const WALK_LIMIT: usize = 100_000;

/// The lock of one state directory, released when dropped (or when the
/// process dies, however it dies).
#[derive(Debug)]
pub struct StateLock {
    _file: File,
}

impl StateLock {
    /// Takes the lock of `state_dir` (creating both), or `None` when
    /// another process holds it.
    pub fn try_acquire(state_dir: &Path) -> io::Result<Option<StateLock>> {
        fs::create_dir_all(state_dir)?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(state_dir.join(LOCK_FILE))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(StateLock { _file: file })),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(e)) => Err(e),
        }
    }
}

/// What was seen of another state directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub dir: PathBuf,
    /// It has a lock file: written by an executor that takes the lock.
    pub marked: bool,
    /// Its executor holds the lock.
    pub locked: bool,
    /// The newest modification time in it; `None` when it could not be
    /// walked completely.
    pub newest: Option<SystemTime>,
}

/// Whether a directory goes: marked, unlocked, walked completely, and
/// unchanged for longer than `retention`. Pure.
pub fn removable(candidate: &Candidate, now: SystemTime, retention: Duration) -> bool {
    candidate.marked
        && !candidate.locked
        && candidate
            .newest
            .is_some_and(|at| now.duration_since(at).is_ok_and(|age| age > retention))
}

/// A state directory removed by [`sweep`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Swept {
    pub dir: PathBuf,
    /// Spool bytes its Logstash had not read.
    pub unread: u64,
}

/// The real directories directly below `dir`, never through a symlink.
fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .take(WALK_LIMIT)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect()
}

/// The newest modification time in the tree, without following symlinks;
/// `None` past [`WALK_LIMIT`] entries or on an error.
fn newest(dir: &Path) -> Option<SystemTime> {
    let mut newest = fs::symlink_metadata(dir).ok()?.modified().ok()?;
    let mut pending = vec![dir.to_owned()];
    let mut seen = 0usize;
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).ok()? {
            seen += 1;
            if seen > WALK_LIMIT {
                return None;
            }
            let entry = entry.ok()?;
            let meta = fs::symlink_metadata(entry.path()).ok()?;
            newest = newest.max(meta.modified().ok()?);
            if meta.is_dir() {
                pending.push(entry.path());
            }
        }
    }
    Some(newest)
}

/// Removes the state directories below `root` (`<root>/<framework>/<agent>`)
/// other than `own` that [`removable`] picks, each while holding its lock,
/// and then the framework directories left empty. The unread spool bytes of
/// each are counted.
pub fn sweep(
    root: &Path,
    own: &Path,
    now: SystemTime,
    retention: Duration,
) -> io::Result<Vec<Swept>> {
    let mut swept = Vec::new();
    for framework in subdirs(root) {
        for dir in subdirs(&framework) {
            if dir == own || !dir.join(LOCK_FILE).is_file() {
                continue;
            }
            // Held until this directory is gone, so its executor cannot
            // start in it meanwhile.
            let lock = StateLock::try_acquire(&dir)?;
            let candidate = Candidate {
                marked: true,
                locked: lock.is_none(),
                newest: if lock.is_some() { newest(&dir) } else { None },
                dir,
            };
            if !removable(&candidate, now, retention) {
                continue;
            }
            let dir = candidate.dir;
            let pass = retention::expire(
                &dir.join("spool"),
                &dir,
                &Default::default(),
                now,
                Duration::ZERO,
            )?;
            fs::remove_dir_all(&dir)?;
            drop(lock);
            swept.push(Swept {
                dir,
                unread: pass.dropped.values().sum(),
            });
        }
        // Only succeeds when nothing is left in it.
        let _ = fs::remove_dir(&framework);
    }
    Ok(swept)
}

/// The state root when `state_dir` is `<root>/<framework>/<agent>`.
pub fn root_of(state_dir: &Path, root: &Path) -> Option<PathBuf> {
    let grandparent = state_dir.parent()?.parent()?;
    (grandparent == root).then(|| root.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn candidate(dir: &str, marked: bool, locked: bool, newest: Option<u64>) -> Candidate {
        Candidate {
            dir: dir.into(),
            marked,
            locked,
            newest: newest.map(at),
        }
    }

    #[test]
    fn only_marked_unlocked_walked_and_old_directories_are_removed() {
        let day = Duration::from_secs(86_400);
        let now = at(1_000_000);
        let old = 1_000_000 - 86_401;
        let candidates = [
            candidate("gone", true, false, Some(old)),
            candidate("running", true, true, Some(old)),
            candidate("legacy", false, false, Some(old)),
            candidate("recent", true, false, Some(1_000_000 - 60)),
            candidate("unwalked", true, false, None),
            candidate("future", true, false, Some(2_000_000)),
        ];
        let removed: Vec<&Path> = candidates
            .iter()
            .filter(|c| removable(c, now, day))
            .map(|c| c.dir.as_path())
            .collect();
        assert_eq!(removed, [Path::new("gone")]);
    }

    #[test]
    fn the_root_is_known_only_for_the_default_layout() {
        let root = Path::new("/var/lib/logstash-mesos");
        assert_eq!(
            root_of(Path::new("/var/lib/logstash-mesos/fw/agent"), root).as_deref(),
            Some(root)
        );
        assert_eq!(root_of(Path::new("/data/executor"), root), None);
        assert_eq!(root_of(Path::new("/var/lib/logstash-mesos/fw"), root), None);
        assert_eq!(root_of(Path::new("/"), root), None);
    }

    #[test]
    fn a_lock_is_exclusive_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("fw/agent");
        let held = StateLock::try_acquire(&state).unwrap().expect("free");
        assert!(StateLock::try_acquire(&state).unwrap().is_none());
        drop(held);
        assert!(StateLock::try_acquire(&state).unwrap().is_some());
    }

    /// Sets the modification time of everything in the tree to `at`.
    fn age(dir: &Path, at: SystemTime) {
        for entry in fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                age(&path, at);
            } else {
                File::options()
                    .write(true)
                    .open(&path)
                    .unwrap()
                    .set_modified(at)
                    .unwrap();
            }
        }
        File::open(dir).unwrap().set_modified(at).unwrap();
    }

    fn state_dir(root: &Path, name: &str, unread: usize) -> PathBuf {
        let dir = root.join(name);
        drop(StateLock::try_acquire(&dir).unwrap());
        fs::create_dir_all(dir.join("spool/s1")).unwrap();
        fs::write(dir.join("spool/s1/spool.log"), vec![b'x'; unread]).unwrap();
        fs::create_dir_all(dir.join("offsets")).unwrap();
        fs::write(dir.join("offsets/s1.json"), b"{}").unwrap();
        fs::create_dir_all(dir.join("logstash/data")).unwrap();
        dir
    }

    #[test]
    fn a_sweep_removes_gone_directories_and_keeps_running_recent_legacy_and_own() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let now = SystemTime::now();
        let day = Duration::from_secs(86_400);
        let long_ago = now - Duration::from_secs(2 * 86_400);
        let own = state_dir(root, "fw-own/agent", 1);
        let torn_down = state_dir(root, "fw-old/agent", 100);
        let old_agent = state_dir(root, "fw-own/old-agent", 7);
        let running = state_dir(root, "fw-running/agent", 1);
        let recent = state_dir(root, "fw-recent/agent", 1);
        let legacy = state_dir(root, "fw-legacy/agent", 1);
        fs::remove_file(legacy.join(LOCK_FILE)).unwrap();
        for dir in [&own, &torn_down, &old_agent, &running, &legacy] {
            age(dir, long_ago);
        }
        let _running_lock = StateLock::try_acquire(&running).unwrap().unwrap();
        // A symlink to a directory elsewhere is not followed.
        let outside = tempfile::tempdir().unwrap();
        let victim = state_dir(outside.path(), "fw/agent", 1);
        age(&victim, long_ago);
        std::os::unix::fs::symlink(outside.path().join("fw"), root.join("fw-link")).unwrap();

        let mut swept = sweep(root, &own, now, day).unwrap();
        swept.sort_by(|a, b| a.dir.cmp(&b.dir));
        assert_eq!(
            swept,
            [
                Swept {
                    dir: torn_down.clone(),
                    unread: 100
                },
                Swept {
                    dir: old_agent.clone(),
                    unread: 7
                },
            ]
        );
        assert!(!torn_down.exists() && !root.join("fw-old").exists());
        assert!(!old_agent.exists());
        for kept in [&own, &running, &recent, &legacy, &victim] {
            assert!(kept.join("spool/s1/spool.log").exists(), "{kept:?}");
        }
    }
}

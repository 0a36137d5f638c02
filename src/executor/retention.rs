//! The state of streams whose container is gone: kept for a grace period
//! (`--state-retention`), so a container that comes back resumes where it
//! was, then removed, so the state directory does not grow with every
//! container that ever ran.
//!
//! A stream's state is its checkpoint (`offsets/<id>.json`), its Logstash
//! sincedb (`sincedb/<id>`) and its spool directory (`spool/<id>/`). It is
//! expired when no stream of the manager uses it and none of those files
//! changed for the retention period (Logstash still reading the spool
//! updates the sincedb, which keeps it). Spool bytes Logstash had not read
//! are counted as dropped when they are deleted.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::sincedb::{FileId, Sincedb};

/// What one pass removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Expired {
    /// Stream ids whose state was removed, sorted.
    pub streams: Vec<String>,
    /// Unread spool bytes deleted, by stream id.
    pub dropped: HashMap<String, u64>,
}

/// The streams to expire: not `active`, last changed more than `retention`
/// before `now`. Pure.
pub fn expired(
    last_changed: &HashMap<String, SystemTime>,
    active: &HashSet<String>,
    now: SystemTime,
    retention: Duration,
) -> Vec<String> {
    let mut out: Vec<String> = last_changed
        .iter()
        .filter(|(id, _)| !active.contains(*id))
        .filter(|(_, at)| now.duration_since(**at).is_ok_and(|age| age > retention))
        .map(|(id, _)| id.clone())
        .collect();
    out.sort();
    out
}

fn modified(path: &Path) -> Option<SystemTime> {
    fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Notes `at` as a change of stream `id`.
fn touch(last: &mut HashMap<String, SystemTime>, id: String, at: Option<SystemTime>) {
    let at = at.unwrap_or(SystemTime::UNIX_EPOCH);
    let entry = last.entry(id).or_insert(at);
    *entry = (*entry).max(at);
}

/// Every stream id with state, and when any of its files last changed.
fn last_changed(spool_root: &Path, state_dir: &Path) -> io::Result<HashMap<String, SystemTime>> {
    let mut last = HashMap::new();
    for (dir, suffix) in [
        (state_dir.join("offsets"), ".json"),
        (state_dir.join("sincedb"), ""),
    ] {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(id) = name.strip_suffix(suffix).filter(|id| !id.is_empty()) else {
                continue;
            };
            touch(&mut last, id.to_owned(), modified(&entry.path()));
        }
    }
    if let Ok(entries) = fs::read_dir(spool_root) {
        for entry in entries.flatten() {
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let id = entry.file_name().to_string_lossy().into_owned();
            touch(&mut last, id.clone(), modified(&entry.path()));
            for file in fs::read_dir(entry.path())?.flatten() {
                touch(&mut last, id.clone(), modified(&file.path()));
            }
        }
    }
    Ok(last)
}

/// Removes the state of the streams [`expired`] names.
pub fn expire(
    spool_root: &Path,
    state_dir: &Path,
    active: &HashSet<String>,
    now: SystemTime,
    retention: Duration,
) -> io::Result<Expired> {
    let last = last_changed(spool_root, state_dir)?;
    let mut pass = Expired {
        streams: expired(&last, active, now, retention),
        dropped: HashMap::new(),
    };
    for id in &pass.streams {
        let sincedb_path = state_dir.join("sincedb").join(id);
        let sincedb = fs::read_to_string(&sincedb_path)
            .map(|text| Sincedb::parse(&text))
            .unwrap_or_default();
        let spool = spool_root.join(id);
        let mut unread = 0;
        if let Ok(files) = fs::read_dir(&spool) {
            for file in files.flatten() {
                if let Ok(meta) = file.metadata() {
                    unread += sincedb.unread(FileId::from_stat(meta.ino(), meta.dev()), meta.len());
                }
            }
            fs::remove_dir_all(&spool)?;
        }
        if unread > 0 {
            pass.dropped.insert(id.clone(), unread);
        }
        for path in [
            state_dir.join("offsets").join(format!("{id}.json")),
            sincedb_path,
        ] {
            match fs::remove_file(&path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
    }
    Ok(pass)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn only_inactive_streams_unchanged_for_longer_than_the_retention_expire() {
        let last: HashMap<String, SystemTime> = [
            ("old".to_owned(), at(1000)),
            ("old-but-active".to_owned(), at(1000)),
            ("recent".to_owned(), at(90_000)),
            ("exactly".to_owned(), at(100_000 - 86_400)),
            ("future".to_owned(), at(200_000)),
        ]
        .into();
        let active: HashSet<String> = ["old-but-active".to_owned()].into();
        let day = Duration::from_secs(86_400);
        assert_eq!(expired(&last, &active, at(100_000), day), ["old"]);
        assert_eq!(
            expired(&last, &HashSet::new(), at(100_000), day),
            ["old", "old-but-active"]
        );
    }

    #[test]
    fn expiry_removes_checkpoint_sincedb_and_spool_and_counts_unread_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let spool = dir.path().join("spool");
        let state = dir.path().join("state");
        for id in ["gone", "kept"] {
            fs::create_dir_all(spool.join(id)).unwrap();
            fs::write(spool.join(id).join("spool.log"), b"0123456789").unwrap();
            fs::create_dir_all(state.join("offsets")).unwrap();
            fs::write(state.join("offsets").join(format!("{id}.json")), b"{}").unwrap();
        }
        let active: HashSet<String> = ["kept".to_owned()].into();
        let now = SystemTime::now();
        // Nothing is a day old yet.
        let pass = expire(&spool, &state, &active, now, Duration::from_secs(86_400)).unwrap();
        assert!(pass.streams.is_empty());
        // A day later.
        let later = now + Duration::from_secs(86_401);
        let pass = expire(&spool, &state, &active, later, Duration::from_secs(86_400)).unwrap();
        assert_eq!(pass.streams, ["gone"]);
        assert_eq!(
            pass.dropped.get("gone"),
            Some(&10),
            "no sincedb: all unread"
        );
        assert!(!spool.join("gone").exists());
        assert!(!state.join("offsets/gone.json").exists());
        assert!(spool.join("kept/spool.log").exists());
        assert!(state.join("offsets/kept.json").exists());
    }
}

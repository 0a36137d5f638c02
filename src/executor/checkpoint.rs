//! Per-stream offsets on disk, written atomically.
//!
//! A checkpoint is only written after the spool bytes it counts were
//! fsynced, so after a crash the stream resumes at or before the last line
//! that reached the spool: never a loss, at most the lines written since the
//! checkpoint again (counted as duplicates, see [`Checkpoint::spool`]).

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Why a checkpoint could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("cannot write checkpoint {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot read checkpoint {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("checkpoint {path} is corrupt: {source}")]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// Where the stream stood, durably. Versioned with a tag so later builds can
/// read it (the Vector habit).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "version")]
pub enum Stored {
    #[serde(rename = "1")]
    V1(Checkpoint),
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub container_id: String,
    pub path: String,
    /// The container start (`State.StartedAt`) the `pids` belong to.
    pub started_at: String,
    /// How many times the file was replaced since the stream first ran:
    /// which file `offset` is about.
    pub generation: u64,
    /// Bytes of the current file, from its first byte, that are in the spool
    /// (fsynced) or were deliberately skipped (`--start-position end`).
    pub offset: u64,
    /// Hex of the first bytes of the file's first line (see
    /// [`super::tail::Fingerprint`]).
    pub fingerprint: String,
    pub fingerprint_complete: bool,
    /// Device and inode of the file `offset` is about, when the direct
    /// reader wrote this (0: unknown, as in checkpoints of the exec reader):
    /// after a restart the file is looked for by them if it was renamed.
    #[serde(default)]
    pub device: u64,
    #[serde(default)]
    pub inode: u64,
    /// The in-container `tail` processes of the exec running when this was
    /// written; a restarted executor kills them before starting anew.
    pub pids: Vec<u32>,
    /// Where the spool ended when this was written: bytes found after this
    /// position on restart were written but not checkpointed, and will be
    /// written again.
    pub spool: SpoolMark,
}

/// A position in a stream's spool: a segment (by inode, since segments are
/// renamed) and a length.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpoolMark {
    pub inode: u64,
    pub len: u64,
}

/// Reads a checkpoint; `Ok(None)` when there is none.
///
/// A leftover `.tmp` from an interrupted write is ignored: the rename never
/// happened, so the previous checkpoint (consistent with the spool) holds.
pub fn load(path: &Path) -> Result<Option<Checkpoint>, CheckpointError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(CheckpointError::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    match serde_json::from_slice(&bytes) {
        Ok(Stored::V1(cp)) => Ok(Some(cp)),
        Err(source) => Err(CheckpointError::Corrupt {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Writes a checkpoint atomically: temporary file, fsync, rename, fsync of
/// the directory, so a crash leaves the old or the new one, never a torn one.
pub fn save(path: &Path, checkpoint: &Checkpoint) -> Result<(), CheckpointError> {
    let err = |source| CheckpointError::Write {
        path: path.to_owned(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(err)?;
    let tmp = path.with_extension("json.tmp");
    let body = serde_json::to_vec(&Stored::V1(checkpoint.clone())).expect("serializable");
    let mut file = File::create(&tmp).map_err(err)?;
    file.write_all(&body).map_err(err)?;
    file.sync_all().map_err(err)?;
    drop(file);
    fs::rename(&tmp, path).map_err(err)?;
    sync_dir(dir).map_err(err)
}

/// Removes a checkpoint (the container is gone for good).
pub fn remove(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// fsync of a directory, making renames and creations in it durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_survives_a_torn_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("offsets").join("s.json");
        assert_eq!(load(&path).unwrap(), None);
        let cp = Checkpoint {
            container_id: "c".into(),
            path: "/a".into(),
            started_at: "t".into(),
            generation: 2,
            offset: 77,
            fingerprint: "6869".into(),
            fingerprint_complete: true,
            device: 2049,
            inode: 77,
            pids: vec![3, 4],
            spool: SpoolMark { inode: 9, len: 10 },
        };
        save(&path, &cp).unwrap();
        fs::write(path.with_extension("json.tmp"), b"{\"version\":").unwrap();
        assert_eq!(load(&path).unwrap(), Some(cp.clone()));
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("{\"version\":\"1\""), "{text}");
        fs::write(&path, b"nonsense").unwrap();
        assert!(matches!(load(&path), Err(CheckpointError::Corrupt { .. })));
        remove(&path).unwrap();
        remove(&path).unwrap();
        assert_eq!(load(&path).unwrap(), None);
    }
}

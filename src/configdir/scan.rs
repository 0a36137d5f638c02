//! Reading the configuration directory: `docker/<image>.conf` (subfolders for
//! `/` in the image name) and `host/<name>.conf`.
//!
//! The directory is input like any other: only regular files are read, at
//! most [`MAX_FILE_BYTES`] of each, without ever blocking on them (FIFOs and
//! devices are refused before they are opened, and files are opened
//! non-blocking); symlinks count only when their target is a regular file
//! inside the directory; the walk is bounded in depth and entries. A
//! directory that cannot be read makes the whole scan fail, so nothing is
//! deleted because it merely looked empty.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::events::ConfigKind;

use super::plan::DirFile;

/// Larger files are refused, as the API refuses larger bodies.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// Entries (files and folders) one scan looks at, at most.
pub const MAX_ENTRIES: usize = 10_000;
/// Folder levels below `docker/`, at most.
pub const MAX_DEPTH: usize = 16;

/// Why a scan found nothing it could trust.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("the configuration directory {0} does not exist")]
    Missing(String),
    #[error("cannot read {path}: {source}")]
    Unreadable {
        path: String,
        source: std::io::Error,
    },
    #[error("{0} is not a folder inside the configuration directory")]
    NotInside(String),
    #[error("the configuration directory holds more than {MAX_ENTRIES} entries")]
    TooManyEntries,
    #[error("{0} is nested deeper than {MAX_DEPTH} folders")]
    TooDeep(String),
}

/// What one scan found: the files of each kind, or `None` for a kind whose
/// folder does not exist.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    pub docker: Option<Vec<DirFile>>,
    pub host: Option<Vec<DirFile>>,
}

impl Listing {
    /// Every file found, sorted by path.
    pub fn files(&self) -> Vec<DirFile> {
        let mut files: Vec<DirFile> = self
            .docker
            .iter()
            .chain(self.host.iter())
            .flatten()
            .cloned()
            .collect();
        files.sort_by(|a, b| a.file.cmp(&b.file));
        files
    }
}

/// Every `.conf` file below `dir/docker` (recursively) and `dir/host`.
/// Hidden files (editor swap files) are skipped.
pub fn scan(dir: &Path) -> Result<Listing, ScanError> {
    let root = match std::fs::canonicalize(dir) {
        Ok(root) => root,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ScanError::Missing(dir.display().to_string()));
        }
        Err(source) => {
            return Err(ScanError::Unreadable {
                path: dir.display().to_string(),
                source,
            });
        }
    };
    let mut walk = Walk {
        root,
        entries: 0,
        files: Vec::new(),
    };
    let docker = walk.kind("docker", ConfigKind::Docker)?;
    let host = walk.kind("host", ConfigKind::Host)?;
    Ok(Listing { docker, host })
}

struct Walk {
    root: PathBuf,
    entries: usize,
    files: Vec<DirFile>,
}

impl Walk {
    fn kind(&mut self, top: &str, kind: ConfigKind) -> Result<Option<Vec<DirFile>>, ScanError> {
        let path = self.root.join(top);
        let real = match std::fs::canonicalize(&path) {
            Ok(real) => real,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(ScanError::Unreadable {
                    path: format!("{top}/"),
                    source,
                });
            }
        };
        if !real.starts_with(&self.root) || !real.is_dir() {
            return Err(ScanError::NotInside(format!("{top}/")));
        }
        self.files.clear();
        self.folder(&real, top, "", kind == ConfigKind::Docker, kind, 0)?;
        let mut files = std::mem::take(&mut self.files);
        files.sort_by(|a, b| a.file.cmp(&b.file));
        Ok(Some(files))
    }

    fn folder(
        &mut self,
        dir: &Path,
        top: &str,
        prefix: &str,
        recursive: bool,
        kind: ConfigKind,
        depth: usize,
    ) -> Result<(), ScanError> {
        if depth > MAX_DEPTH {
            return Err(ScanError::TooDeep(format!("{top}/{prefix}")));
        }
        let unreadable = |source| ScanError::Unreadable {
            path: format!("{top}/{prefix}"),
            source,
        };
        for entry in std::fs::read_dir(dir).map_err(unreadable)? {
            let entry = entry.map_err(unreadable)?;
            self.entries += 1;
            if self.entries > MAX_ENTRIES {
                return Err(ScanError::TooManyEntries);
            }
            let Ok(file_name) = entry.file_name().into_string() else {
                continue;
            };
            if file_name.starts_with('.') {
                continue;
            }
            let relative = format!("{prefix}{file_name}");
            let file_type = entry.file_type().map_err(unreadable)?;
            if file_type.is_dir() {
                // Real folders only: a symlinked folder could loop or lead out.
                if recursive {
                    self.folder(
                        &entry.path(),
                        top,
                        &format!("{relative}/"),
                        true,
                        kind,
                        depth + 1,
                    )?;
                }
                continue;
            }
            let Some(name) = relative.strip_suffix(".conf").filter(|n| !n.is_empty()) else {
                continue;
            };
            let content = if file_type.is_symlink() {
                self.through_link(&entry.path())
            } else if file_type.is_file() {
                read(&entry.path())
            } else {
                Err(format!("not a regular file ({})", describe(&file_type)))
            };
            self.files.push(DirFile {
                file: format!("{top}/{relative}"),
                name: name.to_owned(),
                kind,
                content,
            });
        }
        Ok(())
    }

    /// A symlink counts when it leads to a regular file inside the directory.
    fn through_link(&self, link: &Path) -> Result<String, String> {
        let target = std::fs::canonicalize(link)
            .map_err(|e| format!("the symlink cannot be followed: {e}"))?;
        if !target.starts_with(&self.root) {
            return Err("the symlink points outside the configuration directory".into());
        }
        read(&target)
    }
}

/// Reads a regular file without following a last symlink, without blocking
/// on anything else, and at most [`MAX_FILE_BYTES`].
fn read(path: &Path) -> Result<String, String> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| e.to_string())?;
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err(format!(
            "not a regular file ({})",
            describe(&meta.file_type())
        ));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_large(meta.len()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // The file may grow while it is read: never more than the cap.
    File::take(file, MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_large(bytes.len() as u64));
    }
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "the file is not UTF-8 (at byte {})",
            e.utf8_error().valid_up_to()
        )
    })
}

fn too_large(size: u64) -> String {
    format!("the file has {size} bytes or more, at most {MAX_FILE_BYTES} are allowed")
}

fn describe(t: &std::fs::FileType) -> &'static str {
    if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_dir() {
        "a folder"
    } else if t.is_symlink() {
        "a symlink"
    } else {
        "not a file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn summary(files: &[DirFile]) -> Vec<(&str, &str, ConfigKind)> {
        files
            .iter()
            .map(|f| (f.file.as_str(), f.name.as_str(), f.kind))
            .collect()
    }

    #[test]
    fn names_come_from_paths() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("docker/mesos")).unwrap();
        std::fs::create_dir_all(d.join("host/ignored-subdir")).unwrap();
        std::fs::write(d.join("docker/mesos/logstash:0.0.6.conf"), "a").unwrap();
        std::fs::write(d.join("docker/nginx.conf"), "b").unwrap();
        std::fs::write(d.join("docker/.nginx.conf.swp"), "x").unwrap();
        std::fs::write(d.join("docker/README"), "x").unwrap();
        std::fs::write(d.join("host/syslog.conf"), "c").unwrap();
        std::fs::write(d.join("host/ignored-subdir/x.conf"), "x").unwrap();
        std::fs::write(d.join("docker/latin1.conf"), b"caf\xe9").unwrap();
        let files = scan(d).unwrap().files();
        assert_eq!(
            summary(&files),
            [
                ("docker/latin1.conf", "latin1", ConfigKind::Docker),
                (
                    "docker/mesos/logstash:0.0.6.conf",
                    "mesos/logstash:0.0.6",
                    ConfigKind::Docker
                ),
                ("docker/nginx.conf", "nginx", ConfigKind::Docker),
                ("host/syslog.conf", "syslog", ConfigKind::Host),
            ]
        );
        assert!(files[0].content.as_ref().unwrap_err().contains("not UTF-8"));
        assert_eq!(files[1].content.as_deref(), Ok("a"));
    }

    #[test]
    fn missing_folders_are_told_apart_from_empty_ones() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        assert!(matches!(
            scan(&d.join("missing")),
            Err(ScanError::Missing(_))
        ));
        std::fs::create_dir(d.join("host")).unwrap();
        let listing = scan(d).unwrap();
        assert_eq!(listing.docker, None);
        assert_eq!(listing.host, Some(vec![]));
    }

    #[test]
    fn symlinks_count_only_to_regular_files_inside() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("docker")).unwrap();
        std::fs::create_dir_all(d.join("shared")).unwrap();
        std::fs::write(d.join("shared/base.conf"), "inside").unwrap();
        std::fs::write(outside.path().join("secret.conf"), "outside").unwrap();
        symlink("../shared/base.conf", d.join("docker/linked.conf")).unwrap();
        symlink(
            outside.path().join("secret.conf"),
            d.join("docker/out.conf"),
        )
        .unwrap();
        symlink("/dev/zero", d.join("docker/zero.conf")).unwrap();
        symlink("loop-b.conf", d.join("docker/loop-a.conf")).unwrap();
        symlink("loop-a.conf", d.join("docker/loop-b.conf")).unwrap();
        symlink(".", d.join("docker/again")).unwrap();
        symlink("../shared", d.join("docker/dir.conf")).unwrap();
        let files = scan(d).unwrap().files();
        let content = |name: &str| {
            files
                .iter()
                .find(|f| f.name == name)
                .unwrap_or_else(|| panic!("{name} missing"))
                .content
                .clone()
        };
        assert_eq!(content("linked"), Ok("inside".into()));
        assert!(content("out").unwrap_err().contains("outside"));
        assert!(content("zero").unwrap_err().contains("outside"));
        assert!(
            content("loop-a")
                .unwrap_err()
                .contains("cannot be followed")
        );
        assert!(content("dir").unwrap_err().contains("not a regular file"));
        // The symlinked folder is not walked: no again/... names.
        assert_eq!(files.len(), 6, "{:?}", summary(&files));
    }

    #[test]
    fn fifos_and_devices_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("docker")).unwrap();
        let fifo = d.join("docker/pipe.conf");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: mkfifo reads the path it is given.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        // Opening directly (as after a race with a rename) does not block either.
        assert!(read(&fifo).unwrap_err().contains("FIFO"));
        let files = scan(d).unwrap().files();
        assert!(files[0].content.as_ref().unwrap_err().contains("FIFO"));
        assert!(read(Path::new("/dev/null")).unwrap_err().contains("device"));
    }

    #[test]
    fn large_files_and_deep_or_crowded_trees_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("docker")).unwrap();
        std::fs::write(
            d.join("docker/big.conf"),
            vec![b'#'; MAX_FILE_BYTES as usize + 1],
        )
        .unwrap();
        let files = scan(d).unwrap().files();
        assert!(files[0].content.as_ref().unwrap_err().contains("at most"));
        let deep: PathBuf = (0..=MAX_DEPTH + 1).map(|i| format!("d{i}")).collect();
        std::fs::create_dir_all(d.join("docker").join(&deep)).unwrap();
        assert!(matches!(scan(d), Err(ScanError::TooDeep(_))));
    }
}

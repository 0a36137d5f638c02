//! Opening a container's file by its in-container path, confined to the
//! container's root directory.
//!
//! The root is `/proc/<pid>/root` of the container's process, held as a
//! directory descriptor. A plain `open` of `/proc/<pid>/root/<path>` would
//! follow an absolute symlink (`/var/log/x.log -> /etc/shadow`) or a `..`
//! chain *on the host*; so the path is resolved beneath that descriptor with
//! `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)`, or, where the kernel
//! lacks `openat2`, one component at a time with `O_NOFOLLOW` (the same
//! rules, [`walk`]). Anything that would leave the root is refused with a
//! reason, never clamped: a `..` above `/`, an absolute symlink (its target
//! is meant for the container's view; name the target in the config
//! instead), a `/proc` magic link. Only regular files are opened, without
//! blocking, so a FIFO or device planted at the path cannot stall a stream.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

/// Symlinks followed in one resolution, as the kernel's own limit.
const MAX_SYMLINKS: usize = 40;

/// Why a container path could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Nothing is there (yet): the stream waits for it.
    #[error("{0} does not exist in the container")]
    NotFound(String),
    /// The path would leave the container's root, or names something that
    /// is not a regular file: nothing is read.
    #[error("refused {path}: {reason}")]
    Refused { path: String, reason: String },
    #[error("cannot open {path} in the container: {source}")]
    Io { path: String, source: io::Error },
}

/// What is wanted at the end of the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// A regular file, opened for reading.
    File,
    /// A directory, opened for reading (listing, watching).
    Dir,
}

/// Opens `path` (as the container sees it; a relative path is taken from
/// the root) beneath `root`.
pub fn open(root: BorrowedFd<'_>, path: &str, want: Want) -> Result<File, OpenError> {
    let relative = path.trim_start_matches('/');
    let relative = if relative.is_empty() { "." } else { relative };
    let fd = match openat2_beneath(root, relative, want) {
        Ok(fd) => fd,
        Err(e) => match e.raw_os_error() {
            Some(libc::ENOENT | libc::ENOTDIR) => return Err(OpenError::NotFound(path.into())),
            // Escapes (EXDEV), symlink loops and magic links (ELOOP): let the
            // walk name the component that is at fault.
            Some(libc::EXDEV | libc::ELOOP) => walk(root, path, want)?,
            // No openat2 (old kernel, seccomp), or a rename raced the lookup.
            Some(libc::ENOSYS | libc::EPERM | libc::E2BIG | libc::EAGAIN) => {
                walk(root, path, want)?
            }
            _ => {
                return Err(OpenError::Io {
                    path: path.into(),
                    source: e,
                });
            }
        },
    };
    check_type(File::from(fd), path, want)
}

/// Opens one entry of an already confined directory, never following a
/// symlink (a rotated file found by its name or inode).
pub fn open_entry(dir: BorrowedFd<'_>, name: &[u8]) -> Result<File, OpenError> {
    let shown = String::from_utf8_lossy(name).into_owned();
    if name.is_empty() || name.contains(&b'/') || name == b"." || name == b".." {
        return Err(OpenError::Refused {
            path: shown,
            reason: "not a plain directory entry".into(),
        });
    }
    let fd = openat(dir, name, file_flags(Want::File) | libc::O_NOFOLLOW).map_err(|e| {
        match e.raw_os_error() {
            Some(libc::ENOENT) => OpenError::NotFound(shown.clone()),
            Some(libc::ELOOP) => OpenError::Refused {
                path: shown.clone(),
                reason: "it is a symlink".into(),
            },
            _ => OpenError::Io {
                path: shown.clone(),
                source: e,
            },
        }
    })?;
    check_type(File::from(fd), &shown, Want::File)
}

fn check_type(file: File, path: &str, want: Want) -> Result<File, OpenError> {
    let meta = file.metadata().map_err(|source| OpenError::Io {
        path: path.into(),
        source,
    })?;
    let ok = match want {
        Want::File => meta.file_type().is_file(),
        Want::Dir => meta.file_type().is_dir(),
    };
    if !ok {
        let what = match want {
            Want::File => "not a regular file",
            Want::Dir => "not a directory",
        };
        return Err(OpenError::Refused {
            path: path.into(),
            reason: what.into(),
        });
    }
    Ok(file)
}

fn file_flags(want: Want) -> libc::c_int {
    let base = libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOCTTY;
    match want {
        // Non-blocking: opening a FIFO must not wait for a writer.
        Want::File => base | libc::O_NONBLOCK,
        Want::Dir => base | libc::O_DIRECTORY,
    }
}

fn cstring(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

fn openat2_beneath(root: BorrowedFd<'_>, relative: &str, want: Want) -> io::Result<OwnedFd> {
    let path = cstring(relative.as_bytes())?;
    // SAFETY: open_how is plain data; all-zero is its documented default.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = file_flags(want) as u64;
    how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: the pointers are valid for the duration of the call and the
    // size is that of the struct passed.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root.as_raw_fd(),
            path.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}

fn openat(dir: BorrowedFd<'_>, name: &[u8], flags: libc::c_int) -> io::Result<OwnedFd> {
    let name = cstring(name)?;
    // SAFETY: a valid descriptor and a NUL-terminated name.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn readlinkat(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<Vec<u8>> {
    let name = cstring(name)?;
    let mut buf = vec![0u8; 4096];
    // SAFETY: the buffer is valid for its length.
    let n = unsafe {
        libc::readlinkat(
            dir.as_raw_fd(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate(n as usize);
    Ok(buf)
}

/// Resolves `path` one component at a time beneath `root`, with the rules
/// of `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS`: every component is opened
/// with `O_NOFOLLOW`, a symlink's target is read and resolved by the same
/// rules, and whatever would leave the root is refused with the component
/// at fault named.
pub fn walk(root: BorrowedFd<'_>, path: &str, want: Want) -> Result<OwnedFd, OpenError> {
    let refuse = |reason: String| OpenError::Refused {
        path: path.into(),
        reason,
    };
    let io_err = |source: io::Error| match source.raw_os_error() {
        Some(libc::ENOENT | libc::ENOTDIR) => OpenError::NotFound(path.into()),
        _ => OpenError::Io {
            path: path.into(),
            source,
        },
    };
    // Components still to resolve, in reverse (the next one last).
    let mut todo: Vec<Vec<u8>> = components(path.as_bytes());
    todo.reverse();
    // The directories entered so far, below the root.
    let mut stack: Vec<OwnedFd> = Vec::new();
    // The names entered, for reasons.
    let mut names: Vec<Vec<u8>> = Vec::new();
    let mut links = 0usize;
    while let Some(name) = todo.pop() {
        let here = stack.last().map_or(root, |fd| fd_borrow(fd));
        if name == b".." {
            if stack.pop().is_none() {
                return Err(refuse("'..' climbs above the container's root".into()));
            }
            names.pop();
            continue;
        }
        let last = todo.is_empty();
        let flags = if last {
            file_flags(want) | libc::O_NOFOLLOW
        } else {
            libc::O_PATH | libc::O_CLOEXEC | libc::O_NOFOLLOW
        };
        match openat(here, &name, flags) {
            Ok(fd) => {
                let is_link = File::from(fd.try_clone().map_err(io_err)?)
                    .metadata()
                    .map_err(io_err)?
                    .file_type()
                    .is_symlink();
                if !is_link {
                    if !last {
                        stack.push(fd);
                        names.push(name);
                        continue;
                    }
                    return check_type(File::from(fd), path, want).map(OwnedFd::from);
                }
                // O_PATH | O_NOFOLLOW opens the link itself: follow it below.
            }
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {}
            Err(e) => return Err(io_err(e)),
        }
        links += 1;
        if links > MAX_SYMLINKS {
            return Err(refuse("too many symlinks".into()));
        }
        let target = readlinkat(here, &name).map_err(io_err)?;
        let at = display(&names, &name);
        if target.first() == Some(&b'/') {
            return Err(refuse(format!(
                "{at} is a symlink to the absolute path {} (configure that path instead)",
                String::from_utf8_lossy(&target)
            )));
        }
        let mut parts = components(&target);
        parts.reverse();
        todo.extend(parts);
    }
    // The path named a directory (or the root itself).
    match want {
        Want::Dir => {
            let here = stack.last().map_or(root, |fd| fd_borrow(fd));
            openat(here, b".", file_flags(Want::Dir)).map_err(io_err)
        }
        Want::File => Err(refuse("not a regular file".into())),
    }
}

fn fd_borrow(fd: &OwnedFd) -> BorrowedFd<'_> {
    use std::os::fd::AsFd;
    fd.as_fd()
}

fn components(path: &[u8]) -> Vec<Vec<u8>> {
    path.split(|&b| b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .map(<[u8]>::to_vec)
        .collect()
}

fn display(names: &[Vec<u8>], name: &[u8]) -> String {
    let mut shown = String::new();
    for n in names.iter().map(Vec::as_slice).chain([name]) {
        shown.push('/');
        shown.push_str(&String::from_utf8_lossy(n));
    }
    shown
}

/// The name of a path's last component and its directory, as the container
/// sees them (`/var/log/app.log` → `/var/log`, `app.log`).
pub fn split(path: &str) -> (String, Vec<u8>) {
    let trimmed = path.trim_end_matches('/');
    match trimmed.rfind('/') {
        Some(i) => (
            if i == 0 {
                "/".into()
            } else {
                trimmed[..i].into()
            },
            trimmed.as_bytes()[i + 1..].to_vec(),
        ),
        None => ("/".into(), trimmed.as_bytes().to_vec()),
    }
}

/// A directory's entries as (name, device, inode) of regular files, at most
/// `limit` of them (a directory is container content: bounded).
pub fn regular_entries(dir: &File, limit: usize) -> io::Result<Vec<(Vec<u8>, u64, u64)>> {
    use std::os::unix::fs::MetadataExt;
    let path = format!("/proc/self/fd/{}", dir.as_raw_fd());
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&path)?.take(limit) {
        let entry = entry?;
        let name = entry.file_name();
        let Ok(meta) = std::fs::symlink_metadata(entry.path()) else {
            continue;
        };
        if meta.file_type().is_file() {
            out.push((name.as_bytes().to_vec(), meta.dev(), meta.ino()));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::fd::AsFd;
    use std::os::unix::fs::symlink;

    fn read(f: File) -> String {
        let mut s = String::new();
        let mut f = f;
        f.read_to_string(&mut s).unwrap();
        s
    }

    /// A fake container root with a file, an inner relative link, and the
    /// escapes.
    fn root() -> (tempfile::TempDir, File) {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        std::fs::create_dir_all(r.join("var/log")).unwrap();
        std::fs::create_dir_all(r.join("etc")).unwrap();
        std::fs::write(r.join("var/log/app.log"), "inside\n").unwrap();
        std::fs::write(r.join("etc/hostname"), "container\n").unwrap();
        symlink("app.log", r.join("var/log/rel.log")).unwrap();
        symlink("../../etc/hostname", r.join("var/log/up.log")).unwrap();
        symlink("/etc/hostname", r.join("var/log/abs.log")).unwrap();
        symlink("../../../../../../etc/hostname", r.join("var/log/out.log")).unwrap();
        symlink("/proc/self/root/etc/hostname", r.join("var/log/magic.log")).unwrap();
        symlink("loop.log", r.join("var/log/loop.log")).unwrap();
        std::fs::create_dir_all(r.join("var/log/dir")).unwrap();
        let fd = File::open(r).unwrap();
        (dir, fd)
    }

    fn both(root: &File, path: &str) -> (Result<String, String>, Result<String, String>) {
        let a = open(root.as_fd(), path, Want::File)
            .map(read)
            .map_err(|e| e.to_string());
        let b = walk(root.as_fd(), path, Want::File)
            .map(|fd| read(File::from(fd)))
            .map_err(|e| e.to_string());
        (a, b)
    }

    #[test]
    fn files_inside_the_root_open_by_both_resolvers() {
        let (_d, root) = root();
        for path in [
            "/var/log/app.log",
            "var/log/app.log",
            "/var/log/rel.log",
            "/var//log/./app.log",
            "/var/log/dir/../app.log",
        ] {
            let (a, b) = both(&root, path);
            assert_eq!(a.as_deref(), Ok("inside\n"), "{path}");
            assert_eq!(b.as_deref(), Ok("inside\n"), "{path}");
        }
        let (a, b) = both(&root, "/var/log/up.log");
        assert_eq!(a.as_deref(), Ok("container\n"));
        assert_eq!(b.as_deref(), Ok("container\n"));
    }

    #[test]
    fn escapes_are_refused_with_a_reason_by_both_resolvers() {
        let (_d, root) = root();
        for (path, why) in [
            ("/../../../../etc/hostname", "climbs above"),
            ("/var/log/../../../../etc/hostname", "climbs above"),
            (
                "/var/log/abs.log",
                "symlink to the absolute path /etc/hostname",
            ),
            ("/var/log/out.log", "climbs above"),
            ("/var/log/magic.log", "absolute path"),
            ("/var/log/loop.log", "too many symlinks"),
            ("/var/log/dir", "not a regular file"),
        ] {
            let (a, b) = both(&root, path);
            let a = a.unwrap_err();
            let b = b.unwrap_err();
            assert!(a.starts_with("refused") && a.contains(why), "{path}: {a}");
            assert!(b.starts_with("refused") && b.contains(why), "{path}: {b}");
        }
        let (a, b) = both(&root, "/var/log/none.log");
        assert!(a.unwrap_err().contains("does not exist"));
        assert!(b.unwrap_err().contains("does not exist"));
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let (d, root) = root();
        let fifo = CString::new(d.path().join("var/log/fifo").as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        let err = open(root.as_fd(), "/var/log/fifo", Want::File).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
    }

    #[test]
    fn entries_and_names() {
        let (_d, root) = root();
        let dir = open(root.as_fd(), "/var/log", Want::Dir).unwrap();
        let entries = regular_entries(&dir, 100).unwrap();
        let names: Vec<&[u8]> = entries.iter().map(|e| e.0.as_slice()).collect();
        assert_eq!(names, [b"app.log".as_slice()]);
        assert_eq!(
            read(open_entry(dir.as_fd(), b"app.log").unwrap()),
            "inside\n"
        );
        assert!(matches!(
            open_entry(dir.as_fd(), b"abs.log"),
            Err(OpenError::Refused { .. })
        ));
        assert!(matches!(
            open_entry(dir.as_fd(), b"../x"),
            Err(OpenError::Refused { .. })
        ));
        assert_eq!(
            split("/var/log/app.log"),
            ("/var/log".into(), b"app.log".to_vec())
        );
        assert_eq!(split("/app.log"), ("/".into(), b"app.log".to_vec()));
        assert_eq!(split("app.log"), ("/".into(), b"app.log".to_vec()));
    }
}

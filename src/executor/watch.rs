//! inotify on a stream's directory: the direct reader's wake-up for appends,
//! creations and renames.
//!
//! The watch is added through `/proc/self/fd/<dir>`, the descriptor of the
//! directory as the confined resolution opened it (see [`super::confine`]),
//! so it can never name a host directory. Each stream has its own inotify
//! instance; where one cannot be had (the per-user instance limit, a file
//! system that reports nothing) the stream polls instead.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use tokio::io::unix::AsyncFd;

use super::follow::DirEvent;

/// What one read of the inotify queue said.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Creations, renames and removals, in order.
    pub events: Vec<DirEvent>,
    /// Some file in the directory was written.
    pub modified: bool,
    /// The kernel's queue overflowed: events were lost, look at everything.
    pub overflow: bool,
}

#[derive(Debug)]
pub struct DirWatch {
    fd: AsyncFd<OwnedFd>,
    buf: Vec<u8>,
}

impl DirWatch {
    pub fn new(dir: &File) -> io::Result<DirWatch> {
        // SAFETY: plain syscall with flags.
        let raw = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the kernel returned a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let path =
            std::ffi::CString::new(format!("/proc/self/fd/{}", dir.as_raw_fd())).expect("no NUL");
        let mask = libc::IN_CREATE
            | libc::IN_MOVED_FROM
            | libc::IN_MOVED_TO
            | libc::IN_DELETE
            | libc::IN_MODIFY
            | libc::IN_ONLYDIR;
        // SAFETY: valid descriptor and NUL-terminated path.
        if unsafe { libc::inotify_add_watch(fd.as_raw_fd(), path.as_ptr(), mask) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(DirWatch {
            fd: // SAFETY: an OwnedFd stays open and the same for as long as it is owned.
        unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
            .map_err(io::Error::from)?,
            buf: vec![0; 64 * 1024],
        })
    }

    /// Waits for the next events and returns all that are queued.
    /// The events queued now, without waiting (`None`: none are).
    pub fn try_next(&mut self) -> io::Result<Option<Batch>> {
        // SAFETY: the buffer is valid for its length.
        let n = unsafe {
            libc::read(
                self.fd.get_ref().as_raw_fd(),
                self.buf.as_mut_ptr().cast(),
                self.buf.len(),
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock => Ok(None),
                _ => Err(e),
            };
        }
        Ok(Some(parse(&self.buf[..n as usize])))
    }

    pub async fn next(&mut self) -> io::Result<Batch> {
        loop {
            let mut guard = self.fd.readable().await?;
            let buf = &mut self.buf;
            let read = guard.try_io(|fd| {
                // SAFETY: the buffer is valid for its length.
                let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            });
            match read {
                Ok(Ok(n)) => return Ok(parse(&self.buf[..n])),
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }
}

/// Parses a buffer of `struct inotify_event`s.
pub fn parse(mut bytes: &[u8]) -> Batch {
    let mut batch = Batch::default();
    const HEADER: usize = 16;
    while bytes.len() >= HEADER {
        let word = |i: usize| u32::from_ne_bytes(bytes[i..i + 4].try_into().expect("4 bytes"));
        let mask = word(4);
        let cookie = word(8);
        let len = word(12) as usize;
        let Some(name) = bytes.get(HEADER..HEADER + len) else {
            break;
        };
        let name: Vec<u8> = name.iter().copied().take_while(|&b| b != 0).collect();
        bytes = &bytes[HEADER + len..];
        if mask & libc::IN_Q_OVERFLOW != 0 {
            batch.overflow = true;
        }
        if mask & libc::IN_MODIFY != 0 {
            batch.modified = true;
        }
        if name.is_empty() {
            continue;
        }
        let event = if mask & libc::IN_CREATE != 0 {
            DirEvent::Created(name)
        } else if mask & libc::IN_MOVED_FROM != 0 {
            DirEvent::MovedFrom { name, cookie }
        } else if mask & libc::IN_MOVED_TO != 0 {
            DirEvent::MovedTo { name, cookie }
        } else if mask & libc::IN_DELETE != 0 {
            DirEvent::Removed(name)
        } else {
            continue;
        };
        batch.events.push(event);
    }
    batch
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn creations_renames_and_writes_are_reported_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let handle = File::open(dir.path()).unwrap();
        let mut watch = DirWatch::new(&handle).unwrap();
        std::fs::write(dir.path().join("a.log"), "x").unwrap();
        std::fs::rename(dir.path().join("a.log"), dir.path().join("a.log.1")).unwrap();
        std::fs::remove_file(dir.path().join("a.log.1")).unwrap();
        let mut events = Vec::new();
        let mut modified = false;
        while events.len() < 4 {
            let batch = tokio::time::timeout(Duration::from_secs(5), watch.next())
                .await
                .unwrap()
                .unwrap();
            events.extend(batch.events);
            modified |= batch.modified;
        }
        assert!(modified);
        assert_eq!(events[0], DirEvent::Created(b"a.log".to_vec()));
        let (DirEvent::MovedFrom { cookie: c1, .. }, DirEvent::MovedTo { cookie: c2, name }) =
            (&events[1], &events[2])
        else {
            panic!("{events:?}");
        };
        assert_eq!((c1, name.as_slice()), (c2, b"a.log.1".as_slice()));
        assert_eq!(events[3], DirEvent::Removed(b"a.log.1".to_vec()));
    }
}

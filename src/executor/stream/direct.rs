//! The direct reader's session: the container's file read through
//! `/proc/<pid>/root`, nothing run inside the container.
//!
//! The loop executes what [`Follower`] decides: it opens the files that
//! appear at the path (found through inotify events on the directory, and
//! by looking at the path every `poll_every`), states the facts (sizes,
//! successors first), reads the head's new bytes into the spool, and hands
//! over to the next file when the follower says the head is finished.

use std::collections::VecDeque;
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::{SessionEnd, Stream};
use crate::events::messages::StreamState;
use crate::executor::confine::{self, OpenError, Want};
use crate::executor::follow::{self, DirEvent, Facts, FileId, Follower, Resume, Step};
use crate::executor::matching::DesiredStream;
use crate::executor::root::{self, AttachError, ContainerRoot};
use crate::executor::tail::{FINGERPRINT_MAX, Fingerprint, ShellFingerprint};
use crate::executor::watch::{Batch, DirWatch};

/// Bytes read per `pread`.
const CHUNK: usize = 256 * 1024;

/// Bytes read before the loop looks at its other duties (flush, stop).
const TURN: u64 = 16 * 1024 * 1024;

/// Directory entries looked at when searching a renamed file by inode.
const ENTRY_LIMIT: usize = 10_000;

fn id_of(file: &File) -> std::io::Result<(FileId, u64)> {
    let m = file.metadata()?;
    Ok((
        FileId {
            dev: m.dev(),
            ino: m.ino(),
        },
        m.len(),
    ))
}

/// Whether `file` starts with the line `fp` was taken from (the same rules
/// as the exec reader's, so checkpoints mean the same to both).
fn starts_like(file: &File, fp: &Fingerprint) -> bool {
    let mut head = vec![0u8; 4096];
    let n = file.read_at(&mut head, 0).unwrap_or(0);
    head.truncate(n);
    let shown = match memchr::memchr(b'\n', &head) {
        Some(nl) => ShellFingerprint::Line(head[..nl].to_vec()),
        None => ShellFingerprint::Partial(head),
    };
    fp.same_file(&shown)
}

/// The fingerprint of a file read from its first bytes.
fn fingerprint_of(file: &File) -> Fingerprint {
    let mut head = vec![0u8; FINGERPRINT_MAX * 2 + 1];
    let n = file.read_at(&mut head, 0).unwrap_or(0);
    let mut fp = Fingerprint::default();
    fp.observe(&head[..n]);
    fp
}

/// Where the session is in its ending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    Running,
    /// Not wanted any more: read what is there, then stop.
    Stopping,
    /// The container's process exited: read what is there, then stop.
    Exited,
}

/// What one direct session holds between turns: the path's files, oldest
/// first, and how changes to its directory are heard.
struct Session {
    /// The stream's path as the container sees it.
    path: String,
    /// The path's directory, opened beneath the container's root.
    dir: Option<File>,
    /// The path's file name in `dir`.
    base: Vec<u8>,
    watch: Option<DirWatch>,
    follower: Follower,
    /// The follower's files, open, in the same order.
    files: VecDeque<File>,
    finished: Finished,
    clock: Instant,
    /// Files not held because [`follow::MAX_FILES`] were waiting: counted
    /// as lost by the stream.
    unread_files: u64,
}

/// Reads of the events in one catch-up before it settles for what it has:
/// a writer that renames faster is caught up with at the next.
const ROUNDS: usize = 16;

impl Session {
    fn now(&self) -> Duration {
        self.clock.elapsed()
    }

    /// Holds `file` after the files held, if it is a new one.
    fn push(&mut self, file: File, pos: u64) -> bool {
        match id_of(&file) {
            Ok((id, size)) => self.hold(file, id, size, pos),
            Err(_) => false,
        }
    }

    /// [`Self::push`] with the identity and size already stated: on FUSE
    /// each stat is a round trip to the daemon.
    fn hold(&mut self, file: File, id: FileId, size: u64, pos: u64) -> bool {
        if !self.follower.knows(id) && !self.follower.has_room() {
            tracing::warn!(path = %self.path, ?id, "too many files waiting at the path; one is left unread");
            self.unread_files += 1;
            return false;
        }
        let now = self.now();
        if self.follower.push(id, pos, size, now) {
            self.files.push_back(file);
            return true;
        }
        false
    }

    /// Holds `file`, found at the path or renamed from it, if it is new:
    /// from its start, unless it is a finished file seen again.
    fn take_up(&mut self, file: File) {
        let Ok((id, size)) = id_of(&file) else {
            return;
        };
        if self.follower.knows(id) && !self.follower.holds(id) && self.finished.reused(id, &file) {
            tracing::debug!(path = %self.path, ?id, "an inode number of a finished file names a new file");
            self.follower.forget(id);
        }
        self.hold(file, id, size, 0);
    }

    /// The file the path names now.
    fn look(&self, root: BorrowedFd<'_>) -> Option<File> {
        match confine::open(root, &self.path, Want::File) {
            Ok(f) => Some(f),
            Err(OpenError::NotFound(_)) => None,
            Err(e) => {
                tracing::debug!(path = %self.path, error = %e, "cannot look at the path");
                None
            }
        }
    }

    /// Appends the directory events queued now to `events`; says whether
    /// they reported a write. Bounded: a writer cannot keep the loop from
    /// reading.
    fn drain(&mut self, events: &mut Vec<DirEvent>) -> bool {
        let mut modified = false;
        let Some(w) = self.watch.as_mut() else {
            return modified;
        };
        let mut retries = 0;
        for _ in 0..64 {
            match w.try_next() {
                Ok(Some(batch)) => {
                    modified |= batch.modified;
                    events.extend(batch.events);
                }
                Ok(None) if follow::ends_mid_move(events) && retries < 3 => {
                    retries += 1;
                    std::thread::yield_now();
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(path = %self.path, error = %e, "inotify failed; polling");
                    self.watch = None;
                    break;
                }
            }
        }
        modified
    }

    /// Takes up, oldest first, the files that were at the path since the
    /// last catch-up: the ones the directory's events show renamed from
    /// it, then the one it names now. `first` is a batch of events just
    /// read (`None`: look at the path in any case: a poll, or the stream is
    /// ending). Says whether the events reported a write.
    ///
    /// A look at the path alone finds the newest file, and the files
    /// renamed away just before it are known only from events that may not
    /// have been read yet. So the events are read to the end first, the
    /// files they name and the path are opened, and then the events are
    /// read once more: if none of them touched those names, what was
    /// opened is what the events describe. The kernel queues an event
    /// before the rename that caused it returns, so nothing in between
    /// goes unseen. Otherwise it starts over with the longer trail.
    fn catch_up(&mut self, root: BorrowedFd<'_>, first: Option<Batch>) -> bool {
        let mut events = Vec::new();
        let mut modified = false;
        if let Some(batch) = first {
            modified = batch.modified;
            let base = std::iter::once(self.base.as_slice());
            if !batch.overflow && !follow::touches(&batch.events, base) {
                return modified;
            }
            events = batch.events;
        }
        modified |= self.drain(&mut events);
        for round in 1..=ROUNDS {
            let appearances = follow::appearances(&events, &self.base);
            let opened: Vec<Option<File>> = appearances
                .iter()
                .map(|at| match (at, self.dir.as_ref()) {
                    (Some(name), _) if *name == self.base => None,
                    (Some(name), Some(dir)) => confine::open_entry(dir.as_fd(), name).ok(),
                    _ => None,
                })
                .collect();
            let at_path = self.look(root);
            let mut later = Vec::new();
            modified |= self.drain(&mut later);
            let names = std::iter::once(self.base.as_slice())
                .chain(appearances.iter().flatten().map(Vec::as_slice));
            let settled = !follow::touches(&later, names);
            if settled || round == ROUNDS {
                for file in opened.into_iter().flatten() {
                    self.take_up(file);
                }
                // Unsettled, the path's file may be newer than events not
                // read yet: the next catch-up takes it up.
                if settled && let Some(file) = at_path {
                    self.take_up(file);
                }
                break;
            }
            events.extend(later);
        }
        modified
    }
}

impl Stream {
    /// Reads the path directly until the stream stops or something needs
    /// the main loop.
    pub(super) async fn direct_session(
        &mut self,
        want: &DesiredStream,
        hard_stop: &CancellationToken,
    ) -> SessionEnd {
        let timeout = self.settings.request_timeout;
        let container = match root::attach(
            &self.docker,
            &self.key.container_id,
            &want.started_at,
            timeout,
        )
        .await
        {
            Ok(c) => c,
            Err(AttachError::Unavailable(reason)) => return SessionEnd::Fallback(reason),
            Err(AttachError::NotRunning | AttachError::Restarted) => {
                return SessionEnd::ContainerStopped;
            }
            Err(AttachError::Docker(e)) => return SessionEnd::Lost(e),
        };
        // The directory is watched before the file is opened, so no rename
        // after the opening goes unheard.
        let (dir_path, base) = confine::split(&self.key.path);
        let dir = confine::open(container.root.as_fd(), &dir_path, Want::Dir).ok();
        let watch = dir.as_ref().map(DirWatch::new);
        let head = match confine::open(container.root.as_fd(), &self.key.path, Want::File) {
            Ok(f) => f,
            Err(OpenError::NotFound(_)) => return SessionEnd::FileMissing,
            Err(e @ OpenError::Refused { .. }) => return SessionEnd::Refused(e.to_string()),
            Err(e) => return SessionEnd::Lost(e.to_string()),
        };
        let how = match &watch {
            Some(Ok(_)) => "inotify on the directory".to_owned(),
            Some(Err(e)) => format!(
                "polling every {:?} (inotify: {e})",
                self.settings.poll_every
            ),
            None => format!(
                "polling every {:?} (directory not readable)",
                self.settings.poll_every
            ),
        };
        let mut session = Session {
            path: self.key.path.clone(),
            dir,
            base,
            watch: watch.and_then(Result::ok),
            follower: Follower::new(self.settings.rotate_quiet, self.settings.settle),
            files: VecDeque::new(),
            finished: Finished::default(),
            clock: Instant::now(),
            unread_files: 0,
        };
        if let Err(end) = self.resume(head, &mut session) {
            return end;
        }
        self.status.set_reader(
            crate::events::messages::StreamReader::Direct,
            self.reader_note(&how),
        );
        self.status.set_state(StreamState::Streaming, None);
        self.direct_loop(want, hard_stop, container, session).await
    }

    /// The reason shown next to the reader: how appends are noticed, and why
    /// the reader is not the configured one if it is not.
    fn reader_note(&self, how: &str) -> Option<String> {
        Some(how.to_owned())
    }

    /// Places the checkpointed file and the path's file in the session.
    fn resume(&mut self, head: File, session: &mut Session) -> Result<(), SessionEnd> {
        let lost = |e: std::io::Error| SessionEnd::Lost(format!("cannot stat the file: {e}"));
        let (id, size) = id_of(&head).map_err(lost)?;
        // A checkpoint that names its file is resumed even at offset 0: it
        // may be written just after a hand-over, before the new file's
        // first bytes were read, and that file may be renamed since.
        let resuming = self.file.is_some()
            || self.consumed > 0
            || self.fp.complete
            || !self.fp.head.is_empty();
        if !resuming {
            tracing::debug!(stream = ?self.key, at_path = ?id, "starting");
            let pos = if self.skip_existing {
                self.fp = fingerprint_of(&head);
                self.consumed = size;
                self.skip_existing = false;
                size
            } else {
                0
            };
            self.file = Some(id);
            session.hold(head, id, size, pos);
            return Ok(());
        }
        let matches = starts_like(&head, &self.fp);
        let renamed = match (self.file, session.dir.as_ref()) {
            (Some(recorded), Some(dir)) if recorded.ino != id.ino => {
                find_by_id(dir, recorded).filter(|f| starts_like(f, &self.fp))
            }
            _ => None,
        };
        let decision = follow::resume(self.file, id, matches, renamed.is_some());
        tracing::info!(stream = ?self.key, ?decision, recorded = ?self.file, at_path = ?id, offset = self.consumed, "resuming");
        match decision {
            Resume::Continue => {
                self.file = Some(id);
                session.hold(head, id, size, self.consumed);
            }
            Resume::FinishRenamed => {
                let old = renamed.expect("found");
                tracing::info!(stream = ?self.key, "finishing the file renamed while the stream was away");
                let between = match session.dir.as_ref() {
                    Some(dir) => rotated_after(dir, &self.base_name(), &old, id),
                    None => Vec::new(),
                };
                if !session.push(old, self.consumed) {
                    return Err(SessionEnd::Lost("cannot stat the renamed file".into()));
                }
                for f in between {
                    session.push(f, 0);
                }
                session.hold(head, id, size, 0);
            }
            Resume::Lost => {
                tracing::warn!(stream = ?self.key, "the checkpointed file is gone; what it got after the checkpoint is lost");
                self.status.lost_files.fetch_add(1, Ordering::Relaxed);
                self.next_generation(false);
                self.file = Some(id);
                session.hold(head, id, size, 0);
            }
        }
        Ok(())
    }

    async fn direct_loop(
        &mut self,
        want: &DesiredStream,
        hard_stop: &CancellationToken,
        container: ContainerRoot,
        mut session: Session,
    ) -> SessionEnd {
        let root = container.root.as_fd();
        let mut flush = tokio::time::interval(self.settings.flush_every);
        flush.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut poll = tokio::time::interval(self.settings.poll_every);
        poll.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut ending = Ending::Running;
        let mut stop_deadline: Option<Instant> = None;
        let mut buf = vec![0u8; CHUNK];
        // Whether inotify ever reported a write, and how often the poll
        // found growth it had not: which of the two is following the file.
        let mut heard = false;
        let mut unheard_growth = 0u32;
        let mut polled_size = 0u64;
        loop {
            // Read until the follower has nothing to do, or a turn is used.
            let mut read = 0u64;
            loop {
                let now = session.now();
                let successor_has_data = session
                    .files
                    .iter()
                    .skip(1)
                    .any(|f| f.metadata().map(|m| m.len() > 0).unwrap_or(false));
                let head_size = match session.files.front().map(File::metadata) {
                    Some(Ok(m)) => m.len(),
                    Some(Err(e)) => {
                        return self.end_lost(format!("cannot stat the file: {e}")).await;
                    }
                    None => break,
                };
                let facts = Facts {
                    now,
                    successor_has_data,
                    head_size,
                    draining: ending != Ending::Running,
                };
                match session.follower.decide(facts) {
                    Step::Read { from, to } => {
                        // All of it before the next stat: on FUSE (fuse-overlayfs)
                        // each stat is a round trip to the daemon.
                        let mut at = from;
                        while at < to && read < TURN {
                            let want_len = ((to - at) as usize).min(CHUNK);
                            let n = match session.files[0].read_at(&mut buf[..want_len], at) {
                                Ok(n) => n,
                                Err(e) => {
                                    return self
                                        .end_lost(format!("cannot read the file: {e}"))
                                        .await;
                                }
                            };
                            if n == 0 {
                                break;
                            }
                            if let Err(e) = self.take(&buf[..n], false) {
                                return self.end_lost(format!("cannot write the spool: {e}")).await;
                            }
                            at += n as u64;
                            session.follower.advance(at);
                            read += n as u64;
                        }
                        // Shrank between stat and read (the next look sees
                        // it), or a turn is used.
                        if at < to || read >= TURN {
                            break;
                        }
                    }
                    Step::Truncated { lost } => {
                        tracing::info!(stream = ?self.key, lost, "the file was truncated");
                        self.status.dropped_bytes.fetch_add(lost, Ordering::Relaxed);
                        self.next_generation(true);
                        self.file = session.follower.head().map(|h| h.id);
                        self.persist().await;
                    }
                    Step::HandOver(done) => {
                        tracing::debug!(stream = ?self.key, ?done, "file finished");
                        session.finished.note(done.id, self.fp.clone());
                        session.files.pop_front();
                        self.next_generation(true);
                        self.file = session.follower.head().map(|h| h.id);
                        if let Some(h) = session.follower.head()
                            && h.pos > 0
                        {
                            self.consumed = h.pos;
                        }
                        self.persist().await;
                    }
                    Step::Idle => break,
                }
            }
            if read < TURN {
                if let Some(w) = self.writer.as_mut()
                    && w.buffered() > 0
                    && let Err(e) = w.flush_buf()
                {
                    return self.end_lost(format!("cannot write the spool: {e}")).await;
                }
                match ending {
                    Ending::Running => {}
                    Ending::Stopping => {
                        self.persist().await;
                        return SessionEnd::Unwanted;
                    }
                    Ending::Exited => {
                        self.persist().await;
                        return SessionEnd::ContainerStopped;
                    }
                }
            } else {
                tokio::task::yield_now().await;
            }
            if stop_deadline.is_some_and(|d| d <= Instant::now()) {
                tracing::warn!(stream = ?self.key, "drain timed out");
                self.persist().await;
                return SessionEnd::Unwanted;
            }
            if session.unread_files > 0 {
                let n = std::mem::take(&mut session.unread_files);
                self.status.lost_files.fetch_add(n, Ordering::Relaxed);
            }
            let busy = read >= TURN;
            let clock = session.clock;
            let wake = session
                .follower
                .next_deadline()
                .map(|d| clock + d)
                .into_iter()
                .chain(session.follower.quiet_deadline().map(|d| clock + d))
                .filter(|d| *d > Instant::now())
                .min()
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                biased;
                _ = hard_stop.cancelled() => {
                    if self.dirty {
                        self.persist().await;
                    }
                    return SessionEnd::Aborted;
                }
                _ = std::future::ready(()), if busy => {}
                batch = async {
                    match session.watch.as_mut() {
                        Some(w) => w.next().await,
                        None => std::future::pending().await,
                    }
                } => {
                    match batch {
                        Ok(batch) => {
                            if session.catch_up(root, Some(batch)) {
                                self.heard_inotify(&mut heard);
                            }
                        }
                        Err(e) => {
                            tracing::warn!(stream = ?self.key, error = %e, "inotify failed; polling");
                            session.watch = None;
                        }
                    }
                }
                _ = flush.tick() => {
                    if self.dirty {
                        self.persist().await;
                    }
                }
                _ = poll.tick() => {
                    if session.catch_up(root, None) {
                        self.heard_inotify(&mut heard);
                    }
                    let size = session.files.front().and_then(|f| f.metadata().ok()).map_or(0, |m| m.len());
                    if session.watch.is_some() && !heard && size > polled_size && polled_size > 0 {
                        unheard_growth += 1;
                        if unheard_growth == 3 {
                            self.status.set_reader(
                                crate::events::messages::StreamReader::Direct,
                                Some(format!(
                                    "polling every {:?}: inotify reports no writes on this file system",
                                    self.settings.poll_every
                                )),
                            );
                        }
                    }
                    polled_size = size;
                }
                _ = container.exited.readable(), if ending == Ending::Running => {
                    session.catch_up(root, None);
                    ending = Ending::Exited;
                }
                _ = self.status.notify.notified(), if stop_deadline.is_none() => {
                    let still = self.status.wanted();
                    if still.as_ref().is_none_or(|w| w.started_at != want.started_at) {
                        self.status.set_state(StreamState::Draining, None);
                        stop_deadline = Some(Instant::now() + self.settings.drain_timeout);
                        session.catch_up(root, None);
                        if ending == Ending::Running {
                            ending = Ending::Stopping;
                        }
                    }
                }
                _ = tokio::time::sleep_until(wake) => {}
            }
        }
    }

    async fn end_lost(&mut self, reason: String) -> SessionEnd {
        if self.dirty {
            self.persist().await;
        }
        SessionEnd::Lost(reason)
    }

    /// Notes, once, that inotify reports writes, so the stream says how it
    /// follows its file.
    fn heard_inotify(&self, heard: &mut bool) {
        if !*heard {
            *heard = true;
            self.status.set_reader(
                crate::events::messages::StreamReader::Direct,
                Some("inotify on the directory (events arrive)".into()),
            );
        }
    }
}

impl Stream {
    fn base_name(&self) -> Vec<u8> {
        confine::split(&self.key.path).1
    }
}

/// Suffixes of rotated files that are no longer the log's text.
const COMPRESSED: [&[u8]; 5] = [b".gz", b".bz2", b".xz", b".zst", b".zip"];

/// Files rotated after `old` while the stream was away: named like the
/// path (`app.log.1`, `app.log-20240101`, ...), last written no earlier
/// than `old`, neither `old` nor the path's file (`current`); oldest first.
fn rotated_after(dir: &File, base: &[u8], old: &File, current: FileId) -> Vec<File> {
    let Ok(old_meta) = old.metadata() else {
        return Vec::new();
    };
    let old_id = FileId {
        dev: old_meta.dev(),
        ino: old_meta.ino(),
    };
    let since = (old_meta.mtime(), old_meta.mtime_nsec());
    let Ok(entries) = confine::regular_entries(dir, ENTRY_LIMIT) else {
        return Vec::new();
    };
    let mut found: Vec<((i64, i64), Vec<u8>, File)> = entries
        .into_iter()
        .filter(|(name, dev, ino)| {
            let id = FileId {
                dev: *dev,
                ino: *ino,
            };
            rotated_name(base, name) && id != old_id && id != current
        })
        .filter_map(|(name, _, _)| {
            let f = confine::open_entry(dir.as_fd(), &name).ok()?;
            let m = f.metadata().ok()?;
            let at = (m.mtime(), m.mtime_nsec());
            (at >= since).then_some((at, name, f))
        })
        .take(follow::MAX_FILES)
        .collect();
    found.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    found.into_iter().map(|(_, _, f)| f).collect()
}

/// Whether `name` looks like a rotated copy of `base`.
fn rotated_name(base: &[u8], name: &[u8]) -> bool {
    name.len() > base.len() + 1
        && name.starts_with(base)
        && matches!(name[base.len()], b'.' | b'-' | b'_')
        && !COMPRESSED.iter().any(|s| name.ends_with(s))
}

/// The first lines of the files a session finished, to tell a finished file
/// seen again under another name (skipped) from a new file that got a
/// deleted one's inode number (read).
#[derive(Debug, Default)]
struct Finished {
    fingerprints: std::collections::HashMap<FileId, Fingerprint>,
}

impl Finished {
    fn note(&mut self, id: FileId, fp: Fingerprint) {
        if self.fingerprints.len() >= 256 {
            self.fingerprints.clear();
        }
        self.fingerprints.insert(id, fp);
    }

    /// Whether `file`, which has the identity of the finished file `id`, is
    /// another file: it does not start like the finished one did.
    fn reused(&mut self, id: FileId, file: &File) -> bool {
        let reused = self
            .fingerprints
            .get(&id)
            .is_some_and(|fp| !starts_like(file, fp));
        if reused {
            self.fingerprints.remove(&id);
        }
        reused
    }
}

/// The directory entry that is the file `id`, opened, if there is one.
/// The directory's file with the inode of `id`; the device is not compared
/// (see [`follow::resume`]), the caller checks the fingerprint.
fn find_by_id(dir: &File, id: FileId) -> Option<File> {
    let entries = confine::regular_entries(dir, ENTRY_LIMIT).ok()?;
    entries
        .into_iter()
        .filter(|(_, _, ino)| *ino == id.ino)
        .find_map(|(name, _, _)| {
            let f = confine::open_entry(dir.as_fd(), &name).ok()?;
            (id_of(&f).ok()?.0.ino == id.ino).then_some(f)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session_in(dir: &std::path::Path) -> (File, Session) {
        let root = File::open(dir).unwrap();
        let watched = File::open(dir).unwrap();
        let session = Session {
            path: "/app.log".into(),
            watch: Some(DirWatch::new(&watched).unwrap()),
            dir: Some(watched),
            base: b"app.log".to_vec(),
            follower: Follower::new(Duration::from_secs(3600), Duration::from_secs(3600)),
            files: VecDeque::new(),
            finished: Finished::default(),
            clock: Instant::now(),
            unread_files: 0,
        };
        (root, session)
    }

    /// Reads every file held to its end, in the order held, the way the
    /// session loop does when the stream drains; the last file stays.
    fn read_held(session: &mut Session, out: &mut Vec<u8>) {
        loop {
            let Some(head) = session.files.front() else {
                return;
            };
            let facts = Facts {
                now: session.now(),
                successor_has_data: true,
                head_size: head.metadata().unwrap().len(),
                draining: true,
            };
            match session.follower.decide(facts) {
                Step::Read { from, to } => {
                    let mut buf = vec![0u8; (to - from) as usize];
                    head.read_exact_at(&mut buf, from).unwrap();
                    out.extend_from_slice(&buf);
                    session.follower.advance(to);
                }
                Step::HandOver(_) => {
                    session.files.pop_front();
                }
                Step::Idle => return,
                Step::Truncated { .. } => panic!("nothing is truncated"),
            }
        }
    }

    #[tokio::test]
    async fn files_renamed_faster_than_the_path_is_looked_at_are_read_in_order() {
        // A writer creates the path, writes one line, renames it away and
        // starts over, as fast as it can, while the session catches up
        // through events and looks at the path. Every line must come out
        // once and in order: a look that finds a newer file than the
        // events read so far show must not put it before the older ones.
        const FILES: u64 = 3000;
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("app.log"), "0\n").unwrap();
        let (root, mut session) = session_in(d.path());
        session.take_up(File::open(d.path().join("app.log")).unwrap());
        // The writer stays at most this many files ahead, so no more wait
        // than the follower holds.
        let read_up_to = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let writer = {
            let dir = d.path().to_owned();
            let read_up_to = read_up_to.clone();
            std::thread::spawn(move || {
                for n in 1..=FILES {
                    while n > read_up_to.load(Ordering::Acquire) + follow::MAX_FILES as u64 / 2 {
                        std::thread::yield_now();
                    }
                    std::fs::rename(dir.join("app.log"), dir.join(format!("app.log.{n}"))).unwrap();
                    std::fs::write(dir.join("app.log"), format!("{n}\n")).unwrap();
                }
            })
        };
        let mut out = Vec::new();
        let mut poll = false;
        while !writer.is_finished() {
            // Now a look (a poll), now the events, as the loop takes them.
            poll = !poll;
            let batch = if poll {
                None
            } else {
                match session.watch.as_mut().unwrap().try_next().unwrap() {
                    Some(b) => Some(b),
                    None => continue,
                }
            };
            session.catch_up(root.as_fd(), batch);
            read_held(&mut session, &mut out);
            let last = out
                .split(|b| *b == b'\n')
                .rev()
                .find(|l| !l.is_empty())
                .map(|l| std::str::from_utf8(l).unwrap().parse::<u64>().unwrap());
            read_up_to.store(last.unwrap_or(0), Ordering::Release);
        }
        writer.join().unwrap();
        session.catch_up(root.as_fd(), None);
        read_held(&mut session, &mut out);
        let want: String = (0..=FILES).map(|n| format!("{n}\n")).collect();
        let got = String::from_utf8(out).unwrap();
        if got != want {
            let got: Vec<&str> = got.lines().collect();
            let first_wrong = got
                .iter()
                .enumerate()
                .find(|(i, l)| l.parse::<usize>().ok() != Some(*i))
                .map(|(i, l)| format!("line {i} is {l}"));
            panic!(
                "{} lines of {}, first out of place: {first_wrong:?}",
                got.len(),
                FILES + 1
            );
        }
        assert_eq!(session.unread_files, 0);
    }

    #[test]
    fn a_reused_inode_number_is_told_from_the_finished_file() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("app.log");
        std::fs::write(&path, "first file\nmore\n").unwrap();
        let old = File::open(&path).unwrap();
        let (id, _) = id_of(&old).unwrap();
        let mut finished = Finished::default();
        finished.note(id, fingerprint_of(&old));
        // The same file, seen again (renamed): not reused.
        assert!(!finished.reused(id, &old));
        // A file that starts otherwise under the same number: reused.
        std::fs::write(d.path().join("other"), "second file\n").unwrap();
        let other = File::open(d.path().join("other")).unwrap();
        assert!(finished.reused(id, &other));
        assert!(!finished.reused(id, &other), "forgotten once told");
    }

    #[test]
    fn rotated_names() {
        for name in ["app.log.1", "app.log-20240101", "app.log_old", "app.log.10"] {
            assert!(rotated_name(b"app.log", name.as_bytes()), "{name}");
        }
        for name in [
            "app.log",
            "app.log.",
            "app.logx",
            "other.log.1",
            "app.log.1.gz",
        ] {
            assert!(!rotated_name(b"app.log", name.as_bytes()), "{name}");
        }
    }

    #[test]
    fn files_rotated_after_the_checkpointed_one_are_found_oldest_first() {
        let d = tempfile::tempdir().unwrap();
        let p = |n: &str| d.path().join(n);
        std::fs::write(p("app.log.1"), "older\n").unwrap();
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(p("app.log.2"), "checkpointed\n").unwrap();
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(p("app.log.4"), "next\n").unwrap();
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(p("app.log.3"), "after next\n").unwrap();
        std::fs::write(p("app.log"), "current\n").unwrap();
        std::fs::write(p("app.log.3.gz"), "zipped\n").unwrap();
        let dir = File::open(d.path()).unwrap();
        let old = File::open(p("app.log.2")).unwrap();
        let current = id_of(&File::open(p("app.log")).unwrap()).unwrap().0;
        let found: Vec<String> = rotated_after(&dir, b"app.log", &old, current)
            .iter()
            .map(|f| {
                let mut s = String::new();
                std::io::Read::read_to_string(&mut &*f, &mut s).unwrap();
                s
            })
            .collect();
        assert_eq!(found, ["next\n", "after next\n"]);
    }
}

//! The direct reader's session: the container's file read through
//! `/proc/<pid>/root`, nothing run inside the container.
//!
//! The loop executes what [`Follower`] decides: it opens the files that
//! appear at the path (found through inotify events on the directory, and
//! by looking at the path every `poll_every`), states the facts (sizes,
//! successors first), reads the head's new bytes into the spool, and hands
//! over to the next file when the follower says the head is finished.

use std::fs::File;
use std::os::fd::AsFd;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::{SessionEnd, Stream};
use crate::events::messages::StreamState;
use crate::executor::confine::{self, OpenError, Want};
use crate::executor::follow::{self, Facts, FileId, Follower, Resume, Step};
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
        let head = match confine::open(container.root.as_fd(), &self.key.path, Want::File) {
            Ok(f) => f,
            Err(OpenError::NotFound(_)) => return SessionEnd::FileMissing,
            Err(e @ OpenError::Refused { .. }) => return SessionEnd::Refused(e.to_string()),
            Err(e) => return SessionEnd::Lost(e.to_string()),
        };
        let (dir_path, base) = confine::split(&self.key.path);
        let dir = confine::open(container.root.as_fd(), &dir_path, Want::Dir).ok();
        let mut files: std::collections::VecDeque<File> = Default::default();
        let mut follower = Follower::new(self.settings.rotate_quiet, self.settings.settle);
        let clock = Instant::now();
        if let Err(end) = self.resume(head, dir.as_ref(), &mut follower, &mut files) {
            return end;
        }
        let (watch, how) = match dir.as_ref().map(DirWatch::new) {
            Some(Ok(w)) => (Some(w), "inotify on the directory".to_owned()),
            Some(Err(e)) => (
                None,
                format!(
                    "polling every {:?} (inotify: {e})",
                    self.settings.poll_every
                ),
            ),
            None => (
                None,
                format!(
                    "polling every {:?} (directory not readable)",
                    self.settings.poll_every
                ),
            ),
        };
        self.status.set_reader(
            crate::events::messages::StreamReader::Direct,
            self.reader_note(&how),
        );
        self.status.set_state(StreamState::Streaming, None);
        self.direct_loop(
            want, hard_stop, container, dir, base, watch, follower, files, clock,
        )
        .await
    }

    /// The reason shown next to the reader: how appends are noticed, and why
    /// the reader is not the configured one if it is not.
    fn reader_note(&self, how: &str) -> Option<String> {
        Some(how.to_owned())
    }

    /// Places the checkpointed file and the path's file in the follower.
    fn resume(
        &mut self,
        head: File,
        dir: Option<&File>,
        follower: &mut Follower,
        files: &mut std::collections::VecDeque<File>,
    ) -> Result<(), SessionEnd> {
        let lost = |e: std::io::Error| SessionEnd::Lost(format!("cannot stat the file: {e}"));
        let (id, size) = id_of(&head).map_err(lost)?;
        let now = Duration::ZERO;
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
            follower.push(id, pos, size, now);
            files.push_back(head);
            return Ok(());
        }
        let matches = starts_like(&head, &self.fp);
        let renamed = match (self.file, dir) {
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
                follower.push(id, self.consumed, size, now);
                files.push_back(head);
            }
            Resume::FinishRenamed => {
                let old = renamed.expect("found");
                let (old_id, old_size) = id_of(&old).map_err(lost)?;
                tracing::info!(stream = ?self.key, "finishing the file renamed while the stream was away");
                let between = match dir {
                    Some(dir) => rotated_after(dir, &self.base_name(), &old, id),
                    None => Vec::new(),
                };
                follower.push(old_id, self.consumed, old_size, now);
                files.push_back(old);
                for f in between {
                    if let Ok((fid, fsize)) = id_of(&f)
                        && follower.push(fid, 0, fsize, now)
                    {
                        files.push_back(f);
                    }
                }
                follower.push(id, 0, size, now);
                files.push_back(head);
            }
            Resume::Lost => {
                tracing::warn!(stream = ?self.key, "the checkpointed file is gone; what it got after the checkpoint is lost");
                self.status.lost_files.fetch_add(1, Ordering::Relaxed);
                self.next_generation(false);
                self.file = Some(id);
                follower.push(id, 0, size, now);
                files.push_back(head);
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn direct_loop(
        &mut self,
        want: &DesiredStream,
        hard_stop: &CancellationToken,
        container: ContainerRoot,
        dir: Option<File>,
        base: Vec<u8>,
        mut watch: Option<DirWatch>,
        mut follower: Follower,
        mut files: std::collections::VecDeque<File>,
        clock: Instant,
    ) -> SessionEnd {
        let mut flush = tokio::time::interval(self.settings.flush_every);
        flush.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut poll = tokio::time::interval(self.settings.poll_every);
        poll.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut ending = Ending::Running;
        let mut stop_deadline: Option<Instant> = None;
        let mut buf = vec![0u8; CHUNK];
        // Whether inotify ever reported a write, and how often the poll
        // found growth it had not: which of the two is following the file.
        let mut finished = Finished::default();
        let mut heard = false;
        let mut unheard_growth = 0u32;
        let mut polled_size = 0u64;
        loop {
            // Read until the follower has nothing to do, or a turn is used.
            let mut read = 0u64;
            loop {
                let now = clock.elapsed();
                let successor_has_data = files
                    .iter()
                    .skip(1)
                    .any(|f| f.metadata().map(|m| m.len() > 0).unwrap_or(false));
                let head_size = match files.front().map(File::metadata) {
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
                match follower.decide(facts) {
                    Step::Read { from, to } => {
                        let want_len = ((to - from) as usize).min(CHUNK);
                        let n = match files[0].read_at(&mut buf[..want_len], from) {
                            Ok(n) => n,
                            Err(e) => {
                                return self.end_lost(format!("cannot read the file: {e}")).await;
                            }
                        };
                        if n == 0 {
                            // Shrank between stat and read: the next look sees it.
                            break;
                        }
                        if let Err(e) = self.take(&buf[..n], false) {
                            return self.end_lost(format!("cannot write the spool: {e}")).await;
                        }
                        follower.advance(from + n as u64);
                        read += n as u64;
                        if read >= TURN {
                            break;
                        }
                    }
                    Step::Truncated { lost } => {
                        tracing::info!(stream = ?self.key, lost, "the file was truncated");
                        self.status.dropped_bytes.fetch_add(lost, Ordering::Relaxed);
                        self.next_generation(true);
                        self.file = follower.head().map(|h| h.id);
                        self.persist().await;
                    }
                    Step::HandOver(done) => {
                        tracing::debug!(stream = ?self.key, ?done, "file finished");
                        finished.note(done.id, self.fp.clone());
                        files.pop_front();
                        self.next_generation(true);
                        self.file = follower.head().map(|h| h.id);
                        if let Some(h) = follower.head()
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
            let busy = read >= TURN;
            let wake = follower
                .next_deadline()
                .map(|d| clock + d)
                .into_iter()
                .chain(follower.quiet_deadline().map(|d| clock + d))
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
                    match watch.as_mut() {
                        Some(w) => w.next().await,
                        None => std::future::pending().await,
                    }
                } => {
                    match batch {
                        Ok(batch) => {
                            if batch.modified {
                                self.heard_inotify(&mut heard);
                            }
                            self.on_events(&batch, &base, dir.as_ref(), &container, &mut follower, &mut files, &mut finished, clock);
                        }
                        Err(e) => {
                            tracing::warn!(stream = ?self.key, error = %e, "inotify failed; polling");
                            watch = None;
                        }
                    }
                }
                _ = flush.tick() => {
                    if self.dirty {
                        self.persist().await;
                    }
                }
                _ = poll.tick() => {
                    if self.drain_events(&mut watch, &base, dir.as_ref(), &container, &mut follower, &mut files, &mut finished, clock) {
                        self.heard_inotify(&mut heard);
                    }
                    self.look_at_path(&container, &mut follower, &mut files, &mut finished, clock);
                    let size = files.front().and_then(|f| f.metadata().ok()).map_or(0, |m| m.len());
                    if watch.is_some() && !heard && size > polled_size && polled_size > 0 {
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
                    self.drain_events(&mut watch, &base, dir.as_ref(), &container, &mut follower, &mut files, &mut finished, clock);
                    self.look_at_path(&container, &mut follower, &mut files, &mut finished, clock);
                    ending = Ending::Exited;
                }
                _ = self.status.notify.notified(), if stop_deadline.is_none() => {
                    let still = self.status.wanted();
                    if still.as_ref().is_none_or(|w| w.started_at != want.started_at) {
                        self.status.set_state(StreamState::Draining, None);
                        stop_deadline = Some(Instant::now() + self.settings.drain_timeout);
                        self.drain_events(&mut watch, &base, dir.as_ref(), &container, &mut follower, &mut files, &mut finished, clock);
                        self.look_at_path(&container, &mut follower, &mut files, &mut finished, clock);
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

    /// Takes up, in order, the files a batch of directory events shows at
    /// the path or renamed from it.
    #[allow(clippy::too_many_arguments)]
    fn on_events(
        &self,
        batch: &Batch,
        base: &[u8],
        dir: Option<&File>,
        container: &ContainerRoot,
        follower: &mut Follower,
        files: &mut std::collections::VecDeque<File>,
        finished: &mut Finished,
        clock: Instant,
    ) {
        if batch.overflow {
            self.look_at_path(container, follower, files, finished, clock);
        }
        for at in follow::appearances(&batch.events, base) {
            match at {
                Some(name) if name == base => {
                    self.look_at_path(container, follower, files, finished, clock);
                }
                Some(name) => {
                    if let Some(dir) = dir {
                        self.take_up(
                            confine::open_entry(dir.as_fd(), &name),
                            follower,
                            files,
                            finished,
                            clock,
                        );
                    }
                }
                None => {
                    tracing::debug!(stream = ?self.key, "a file came and went before it could be opened");
                }
            }
        }
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

    /// Handles the directory events already queued; says whether they
    /// reported a write. Called before a look at the path: the look alone
    /// would take up the newest file before older ones renamed away since
    /// the last batch.
    #[allow(clippy::too_many_arguments)]
    fn drain_events(
        &self,
        watch: &mut Option<DirWatch>,
        base: &[u8],
        dir: Option<&File>,
        container: &ContainerRoot,
        follower: &mut Follower,
        files: &mut std::collections::VecDeque<File>,
        finished: &mut Finished,
        clock: Instant,
    ) -> bool {
        let mut modified = false;
        let Some(w) = watch.as_mut() else {
            return modified;
        };
        // Bounded: a writer cannot keep this loop from the reading.
        for _ in 0..64 {
            match w.try_next() {
                Ok(Some(batch)) => {
                    modified |= batch.modified;
                    self.on_events(
                        &batch, base, dir, container, follower, files, finished, clock,
                    );
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(stream = ?self.key, error = %e, "inotify failed; polling");
                    *watch = None;
                    break;
                }
            }
        }
        modified
    }

    /// Opens what the path names now, and holds it if it is a new file.
    fn look_at_path(
        &self,
        container: &ContainerRoot,
        follower: &mut Follower,
        files: &mut std::collections::VecDeque<File>,
        finished: &mut Finished,
        clock: Instant,
    ) {
        let opened = confine::open(container.root.as_fd(), &self.key.path, Want::File);
        self.take_up(opened, follower, files, finished, clock);
    }

    fn take_up(
        &self,
        opened: Result<File, OpenError>,
        follower: &mut Follower,
        files: &mut std::collections::VecDeque<File>,
        finished: &mut Finished,
        clock: Instant,
    ) {
        let file = match opened {
            Ok(f) => f,
            Err(OpenError::NotFound(_)) => return,
            Err(e) => {
                tracing::debug!(stream = ?self.key, error = %e, "cannot take up a file");
                return;
            }
        };
        let Ok((id, size)) = id_of(&file) else {
            return;
        };
        if follower.knows(id) && !follower.holds(id) && finished.reused(id, &file) {
            tracing::debug!(stream = ?self.key, ?id, "an inode number of a finished file names a new file");
            follower.forget(id);
        }
        if follower.push(id, 0, size, clock.elapsed()) {
            files.push_back(file);
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

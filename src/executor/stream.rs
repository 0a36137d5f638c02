//! One stream: a file in a container, copied line by line into its spool,
//! with its offset checkpointed.
//!
//! This module holds the stream's state and its main loop, which runs one
//! *session* after another with the reader chosen by `--reader`: the direct
//! reader (`direct`, through `/proc/<pid>/root`) or the exec reader
//! (`exec`, `tail` in the container, described below). Both feed the same
//! line buffer, spool and checkpoint, so the offset means the same to both.
//!
//! # How the offset is tracked
//!
//! The offset is the number of bytes of *one file* (one generation of the
//! path), counted from that file's first byte, that are fsynced into the
//! spool (or deliberately skipped with `--start-position end`). It always
//! sits at a line boundary, because only whole lines are written (see
//! [`super::lines`]), except after an over-long line was cut at the cap.
//! Each exec reads exactly one file: its reader follows the descriptor, so a
//! rename does not switch files under it (see [`super::tail`]), and the
//! bytes of two files never mix even though stdout and stderr reach us
//! through separate pipes.
//!
//! # Rotation
//!
//! When the detector reports that the path names a new file, a second exec
//! starts on it at once, at byte 0 (so a file that lives a few seconds is
//! not skipped), and its bytes wait in memory. The first exec keeps reading
//! the old (renamed) file until it has been quiet for `rotate_quiet` (the
//! writer may still append to it until it reopens; at most
//! `rotate_max_wait`), then it is stopped. Then the old file's unterminated
//! last line, if any, is written with a newline added (counted), a rotation
//! is counted, the generation advances, the offset restarts at 0, the waiting
//! bytes go to the spool and the new file's first line becomes the
//! fingerprint. The spool therefore holds every file in order.
//!
//! A resumed exec (offset > 0) first prints the file's first line; if it no
//! longer matches the fingerprint, the file was replaced while nobody
//! watched: that is counted as a rotation and the new file is read from its
//! start (what the old file got after the checkpoint is lost, and cannot be
//! counted: its new name is unknown).
//!
//! Limits, all from busybox `tail` polling once a second by name: a file
//! that lives less than about a second can be missed entirely; truncation
//! in place (`: > file`) is not reported, the reader re-reads from the new
//! start, which keeps the lines but makes the offset overstate the file (a
//! later resume may skip up to that difference: the known weakness of
//! copytruncate rotation).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bollard::Docker;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

mod direct;
mod exec;

use super::checkpoint::{self, Checkpoint};
use super::follow::FileId;
use super::layout;
use super::lines::LineBuffer;
use super::matching::{DesiredStream, StreamKey};
use super::spool::{self, SpoolWriter};
use super::tail::{self, Fingerprint};
use crate::backoff::Backoff;
use crate::events::messages::{StreamReader, StreamState};

/// Where a new stream (one without a checkpoint) starts reading.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum StartPosition {
    /// From the first byte: nothing already in the file is missed.
    #[default]
    Beginning,
    /// After what is in the file when the stream starts (it is read once to
    /// learn the offset, and thrown away).
    End,
}

/// Which reader streams use (`--reader`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ReaderChoice {
    /// The direct reader where it can work, else the exec reader (with the
    /// reason in the stream's report).
    #[default]
    Auto,
    /// Only the direct reader: a stream it cannot serve fails with the reason.
    Direct,
    /// Only the exec reader (`sh` and `tail` in the container).
    Exec,
}

/// Tunables shared by all streams.
#[derive(Debug, Clone)]
pub struct StreamSettings {
    /// Spool root: one directory per stream below it.
    pub spool_dir: PathBuf,
    /// Checkpoints (`offsets/`) and Logstash sincedbs (`sincedb/`).
    pub state_dir: PathBuf,
    /// Live segment size at which it is rotated.
    pub segment_size: u64,
    /// Total spool size over which the oldest rotated segments are deleted.
    pub budget: u64,
    pub start_position: StartPosition,
    /// How often written lines are fsynced and the offset checkpointed: the
    /// most a crash can make us write twice.
    pub flush_every: Duration,
    /// The longest partial line held in memory before it is written as is.
    pub line_cap: usize,
    /// After a replacement, how long the old file must be quiet before the
    /// stream moves on to the new one (busybox `tail` polls every second).
    pub rotate_quiet: Duration,
    /// Upper bound on reading an old file that never goes quiet.
    pub rotate_max_wait: Duration,
    /// How long a stopped stream may take to deliver its last bytes.
    pub drain_timeout: Duration,
    /// Cap of the retry backoff (file missing, Docker errors).
    pub retry_max: Duration,
    /// Bound on every Docker request that is not a stream.
    pub request_timeout: Duration,
    /// How often the spool budget is enforced.
    pub budget_every: Duration,
    pub reader: ReaderChoice,
    /// How often the direct reader looks at the path (and at the file, when
    /// inotify is not available).
    pub poll_every: Duration,
    /// How long a rotated file must be still, once the next file holds
    /// data, before the direct reader moves on (see [`super::follow`]).
    pub settle: Duration,
    /// How long the state of a stream no longer running is kept (see
    /// [`super::retention`]); `None` keeps it forever.
    pub state_retention: Option<Duration>,
    /// The state root when the state directory is `<root>/<framework>/<agent>`:
    /// the state directory is then locked while the executor runs, and the
    /// other framework and agent directories there are swept (see
    /// [`super::state_root`]).
    pub state_root: Option<PathBuf>,
}

impl StreamSettings {
    /// Defaults for everything but the directories.
    pub fn new(spool_dir: PathBuf, state_dir: PathBuf) -> Self {
        StreamSettings {
            spool_dir,
            state_dir,
            segment_size: 10 * 1024 * 1024,
            budget: 512 * 1024 * 1024,
            start_position: StartPosition::Beginning,
            flush_every: Duration::from_secs(1),
            line_cap: 1024 * 1024,
            rotate_quiet: Duration::from_millis(2500),
            rotate_max_wait: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(10),
            retry_max: Duration::from_secs(30),
            request_timeout: Duration::from_secs(30),
            budget_every: Duration::from_secs(5),
            reader: ReaderChoice::Auto,
            poll_every: Duration::from_millis(250),
            settle: Duration::from_millis(250),
            state_retention: Some(Duration::from_secs(24 * 3600)),
            state_root: None,
        }
    }
}

/// A stream's counters and state, shared between its task and the manager.
#[derive(Debug)]
pub struct StreamStatus {
    pub lines: AtomicU64,
    pub bytes: AtomicU64,
    pub dropped_bytes: AtomicU64,
    pub duplicate_lines: AtomicU64,
    pub rotations: AtomicU64,
    /// Lines longer than the cap, written in pieces.
    pub cut_lines: AtomicU64,
    /// Old files' last lines that had no newline; one was added.
    pub unterminated_lines: AtomicU64,
    /// Checkpointed files that were gone when the stream resumed: what they
    /// got after the checkpoint is lost, of unknown size.
    pub lost_files: AtomicU64,
    state: Mutex<(StreamState, Option<String>)>,
    reader: Mutex<(Option<StreamReader>, Option<String>)>,
    slot: Mutex<Slot>,
    notify: Notify,
}

#[derive(Debug, Default)]
struct Slot {
    want: Option<DesiredStream>,
    /// The task decided to end (nothing was wanted); it may still be
    /// flushing.
    exiting: bool,
}

impl StreamStatus {
    pub fn new(want: DesiredStream) -> Self {
        StreamStatus {
            lines: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            dropped_bytes: AtomicU64::new(0),
            duplicate_lines: AtomicU64::new(0),
            rotations: AtomicU64::new(0),
            cut_lines: AtomicU64::new(0),
            unterminated_lines: AtomicU64::new(0),
            lost_files: AtomicU64::new(0),
            state: Mutex::new((StreamState::Streaming, None)),
            reader: Mutex::new((None, None)),
            slot: Mutex::new(Slot {
                want: Some(want),
                exiting: false,
            }),
            notify: Notify::new(),
        }
    }

    pub fn state(&self) -> (StreamState, Option<String>) {
        self.state.lock().expect("poisoned").clone()
    }

    fn set_state(&self, state: StreamState, reason: Option<String>) {
        *self.state.lock().expect("poisoned") = (state, reason);
    }

    /// The reader in use and how it works or why it was chosen.
    pub fn reader(&self) -> (Option<StreamReader>, Option<String>) {
        self.reader.lock().expect("poisoned").clone()
    }

    fn set_reader(&self, reader: StreamReader, note: Option<String>) {
        *self.reader.lock().expect("poisoned") = (Some(reader), note);
    }

    /// Tells the task what should run now (`None`: stop and drain). Returns
    /// `false` if the task is ending, so the caller must start a new one
    /// (after it, see [`Self::revive`]). Decided under the same lock the task
    /// decides to exit under, so a wish is never lost to a task that is just
    /// ending.
    pub fn want(&self, want: Option<DesiredStream>) -> bool {
        let mut slot = self.slot.lock().expect("poisoned");
        if slot.exiting {
            return false;
        }
        slot.want = want;
        drop(slot);
        self.notify.notify_one();
        true
    }

    pub fn wanted(&self) -> Option<DesiredStream> {
        self.slot.lock().expect("poisoned").want.clone()
    }

    /// Prepares the status of an ending task for its successor.
    pub fn revive(&self, want: DesiredStream) {
        let mut slot = self.slot.lock().expect("poisoned");
        slot.exiting = false;
        slot.want = Some(want);
    }

    /// Decides to end the task if nothing is wanted, atomically with
    /// [`Self::want`].
    fn finish_if_unwanted(&self) -> Option<DesiredStream> {
        let mut slot = self.slot.lock().expect("poisoned");
        if slot.want.is_none() {
            slot.exiting = true;
        }
        slot.want.clone()
    }
}

/// How one exec ended.
#[derive(Debug)]
enum SessionEnd {
    /// Stopped on request and drained.
    Unwanted,
    /// The old file is done; the path names a new one.
    Rotated,
    /// The file is not the one the checkpoint describes.
    Replaced,
    /// The reader could not open the file (not there yet).
    FileMissing,
    /// No `sh` or no `tail` in the container: wait for a restart.
    Unsupported(String),
    /// The direct reader cannot work here; the reason.
    Fallback(String),
    /// The path would leave the container's root: nothing is read until
    /// the container restarts.
    Refused(String),
    /// The container is not running (stopped, or gone).
    ContainerStopped,
    /// The hard stop fired (shutdown grace over).
    Aborted,
    /// Anything else: retry with backoff.
    Lost(String),
}

/// Runs one stream until it is no longer wanted and has drained.
pub(crate) async fn run(
    docker: Docker,
    settings: Arc<StreamSettings>,
    key: StreamKey,
    status: Arc<StreamStatus>,
    hard_stop: CancellationToken,
) {
    let mut stream = match Stream::open(docker, settings, key.clone(), status.clone()) {
        Ok(stream) => stream,
        Err(e) => {
            status.set_state(StreamState::Failed, Some(e));
            // Nothing can be written; wait until no longer wanted.
            while status.finish_if_unwanted().is_some() && !hard_stop.is_cancelled() {
                tokio::select! {
                    _ = status.notify.notified() => {}
                    _ = hard_stop.cancelled() => {}
                }
            }
            status.slot.lock().expect("poisoned").exiting = true;
            return;
        }
    };
    stream.main(hard_stop).await;
    stream.close().await;
}

struct Stream {
    docker: Docker,
    settings: Arc<StreamSettings>,
    key: StreamKey,
    status: Arc<StreamStatus>,
    checkpoint_path: PathBuf,
    writer: Option<SpoolWriter>,
    /// The durable state plus what is pending.
    cp: Checkpoint,
    fp: Fingerprint,
    /// Offset including written-but-not-yet-checkpointed lines.
    consumed: u64,
    lines: LineBuffer,
    dirty: bool,
    /// The stream has no checkpoint yet and starts at the end.
    skip_existing: bool,
    /// The file `consumed` is about, when the direct reader knows it.
    file: Option<FileId>,
    /// The container start for which the direct reader is ruled out, and why.
    fallback: Option<(String, String)>,
}

impl Stream {
    fn open(
        docker: Docker,
        settings: Arc<StreamSettings>,
        key: StreamKey,
        status: Arc<StreamStatus>,
    ) -> Result<Stream, String> {
        let checkpoint_path = layout::checkpoint_path(&settings.state_dir, &key);
        let dir = layout::spool_dir(&settings.spool_dir, &key);
        let loaded = checkpoint::load(&checkpoint_path).unwrap_or_else(|e| {
            tracing::error!(error = %e, "unreadable checkpoint; the stream starts over");
            None
        });
        let skip_existing = loaded.is_none() && settings.start_position == StartPosition::End;
        let cp = match loaded {
            Some(cp) => {
                let (_, dup_lines) = spool::written_after(&dir, cp.spool).unwrap_or((0, 0));
                status
                    .duplicate_lines
                    .fetch_add(dup_lines, Ordering::Relaxed);
                cp
            }
            None => Checkpoint {
                container_id: key.container_id.clone(),
                path: key.path.clone(),
                ..Checkpoint::default()
            },
        };
        let fp = Fingerprint {
            head: tail::from_hex(&cp.fingerprint).unwrap_or_default(),
            complete: cp.fingerprint_complete,
        };
        let file = (cp.inode != 0).then_some(FileId {
            dev: cp.device,
            ino: cp.inode,
        });
        let writer = SpoolWriter::open(&dir, settings.segment_size)
            .map_err(|e| format!("cannot open the spool {}: {e}", dir.display()))?;
        Ok(Stream {
            docker,
            key,
            status,
            checkpoint_path,
            writer: Some(writer),
            consumed: cp.offset,
            cp,
            fp,
            lines: LineBuffer::new(settings.line_cap),
            dirty: false,
            skip_existing,
            file,
            fallback: None,
            settings,
        })
    }

    async fn main(&mut self, hard_stop: CancellationToken) {
        let mut backoff =
            Backoff::new(Duration::from_millis(500), self.settings.retry_max).retries();
        let mut first = true;
        // Set when the stream cannot run until the container restarts.
        let mut blocked_on: Option<String> = None;
        loop {
            let Some(want) = self.status.finish_if_unwanted() else {
                return;
            };
            if hard_stop.is_cancelled() {
                return;
            }
            if let Some(started) = &blocked_on {
                if *started == want.started_at {
                    tokio::select! {
                        _ = self.status.notify.notified() => {}
                        _ = hard_stop.cancelled() => {}
                    }
                    continue;
                }
                blocked_on = None;
            }
            if first {
                first = false;
                self.kill_leftovers(&want).await;
            }
            // The PIDs recorded from now on belong to this container start.
            self.cp.started_at = want.started_at.clone();
            let began = Instant::now();
            let end = match self.reader_for(&want) {
                StreamReader::Direct => self.direct_session(&want, &hard_stop).await,
                StreamReader::Exec => {
                    let note = self.fallback.as_ref().map(|(_, why)| why.clone());
                    self.status.set_reader(StreamReader::Exec, note);
                    self.session(&want, &hard_stop).await
                }
            };
            tracing::debug!(stream = ?self.key, ?end, "exec ended");
            if began.elapsed() > Duration::from_secs(10) {
                // It ran for a while: the next trouble is a new one.
                backoff.reset();
            }
            match end {
                SessionEnd::Unwanted | SessionEnd::Aborted => {}
                SessionEnd::Rotated | SessionEnd::Replaced => {
                    backoff.reset();
                    self.next_generation(matches!(end, SessionEnd::Rotated));
                    self.persist().await;
                }
                SessionEnd::FileMissing => {
                    self.status.set_state(
                        StreamState::Streaming,
                        Some("waiting for the file to exist".into()),
                    );
                    self.wait(backoff.next_delay(), &hard_stop).await;
                }
                SessionEnd::Unsupported(reason) | SessionEnd::Refused(reason) => {
                    self.status.set_state(StreamState::Failed, Some(reason));
                    blocked_on = Some(want.started_at.clone());
                }
                SessionEnd::Fallback(reason) => {
                    if self.settings.reader == ReaderChoice::Direct {
                        self.status
                            .set_reader(StreamReader::Direct, Some(reason.clone()));
                        self.status.set_state(StreamState::Failed, Some(reason));
                        blocked_on = Some(want.started_at.clone());
                    } else {
                        tracing::info!(stream = ?self.key, %reason, "using the exec reader");
                        self.fallback = Some((want.started_at.clone(), reason));
                    }
                }
                SessionEnd::ContainerStopped => {
                    self.status.set_state(
                        StreamState::Draining,
                        Some("the container is not running".into()),
                    );
                    blocked_on = Some(want.started_at.clone());
                }
                SessionEnd::Lost(reason) => {
                    tracing::warn!(stream = ?self.key, %reason, "stream interrupted; retrying");
                    self.status.set_state(StreamState::Streaming, Some(reason));
                    self.wait(backoff.next_delay(), &hard_stop).await;
                }
            }
        }
    }

    /// The reader for this container start.
    fn reader_for(&self, want: &DesiredStream) -> StreamReader {
        match self.settings.reader {
            ReaderChoice::Exec => StreamReader::Exec,
            ReaderChoice::Direct => StreamReader::Direct,
            ReaderChoice::Auto => match &self.fallback {
                Some((started, _)) if *started == want.started_at => StreamReader::Exec,
                _ => StreamReader::Direct,
            },
        }
    }

    /// Sleeps, waking early when the wish changes or on hard stop.
    async fn wait(&self, delay: Duration, hard_stop: &CancellationToken) {
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = self.status.notify.notified() => {}
            _ = hard_stop.cancelled() => {}
        }
    }

    fn next_generation(&mut self, rotated_in_view: bool) {
        if rotated_in_view && self.lines.pending() > 0 {
            // The old file ended without a newline: keep its last line whole.
            let mut last = Vec::new();
            let _ = self.lines.push(b"\n", |b| {
                last.extend_from_slice(b);
                Ok::<(), ()>(())
            });
            if let Some(w) = self.writer.as_mut()
                && w.write(&last).is_ok()
            {
                self.status.lines.fetch_add(1, Ordering::Relaxed);
                self.status
                    .bytes
                    .fetch_add(last.len() as u64 - 1, Ordering::Relaxed);
                self.status
                    .unterminated_lines
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
        self.lines.clear();
        self.status.rotations.fetch_add(1, Ordering::Relaxed);
        self.cp.generation += 1;
        self.consumed = 0;
        self.file = None;
        self.fp = Fingerprint::default();
        self.skip_existing = false;
        self.dirty = true;
    }

    /// Takes a chunk of the file: whole lines go to the spool.
    fn take(&mut self, data: &[u8], skipping: bool) -> std::io::Result<()> {
        if !self.fp.complete && self.consumed == 0 {
            // Only a stream that started at byte 0 sees the first line.
            self.fp.observe(data);
        }
        let writer = self.writer.as_mut().expect("writer open");
        let released = if skipping {
            self.lines.push(data, |_| Ok::<(), std::io::Error>(()))?
        } else {
            self.lines.push(data, |bytes| writer.write(bytes))?
        };
        self.consumed += released.bytes;
        if !skipping {
            self.status
                .bytes
                .fetch_add(released.bytes, Ordering::Relaxed);
            self.status
                .lines
                .fetch_add(released.lines, Ordering::Relaxed);
            if released.cut {
                self.status.cut_lines.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.dirty = true;
        Ok(())
    }

    /// Fsyncs the spool, then records the offset (never the other way
    /// round: a checkpoint must not count bytes the spool could lose).
    async fn persist(&mut self) {
        let Some(mut writer) = self.writer.take() else {
            return;
        };
        let mut cp = self.cp.clone();
        cp.offset = self.consumed;
        cp.fingerprint = tail::to_hex(&self.fp.head);
        cp.fingerprint_complete = self.fp.complete;
        (cp.device, cp.inode) = self.file.map_or((0, 0), |f| (f.dev, f.ino));
        let path = self.checkpoint_path.clone();
        let joined = tokio::task::spawn_blocking(move || {
            let result = writer.sync().map_err(|e| e.to_string()).and_then(|mark| {
                cp.spool = mark;
                checkpoint::save(&path, &cp).map_err(|e| e.to_string())?;
                Ok(cp)
            });
            (writer, result)
        })
        .await;
        match joined {
            Ok((writer, result)) => {
                self.writer = Some(writer);
                match result {
                    Ok(cp) => {
                        self.cp = cp;
                        self.dirty = false;
                    }
                    Err(e) => {
                        tracing::error!(stream = ?self.key, error = %e, "cannot checkpoint");
                        self.status
                            .set_state(StreamState::Streaming, Some(format!("checkpoint: {e}")));
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "checkpoint task failed"),
        }
    }

    /// Final flush, and the live segment rotated if the stream is over for
    /// good, so the budget can collect it once Logstash has read it.
    async fn close(mut self) {
        self.persist().await;
        let gone = self.status.wanted().is_none();
        if gone && let Some(mut writer) = self.writer.take() {
            let _ = tokio::task::spawn_blocking(move || writer.rotate()).await;
        }
    }
}

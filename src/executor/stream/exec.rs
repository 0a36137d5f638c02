//! The exec reader's session: `docker exec` of a POSIX shell running two
//! `tail`s in the container (see [`crate::executor::tail`]), the fallback
//! where the direct reader cannot work.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use futures::StreamExt;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::{SessionEnd, Stream};
use crate::events::messages::StreamState;
use crate::executor::matching::DesiredStream;
use crate::executor::tail::{self, Fingerprint, ShellFingerprint, StderrLine};

impl Stream {
    /// Kills the `tail`s a previous executor left running, if the container
    /// has not restarted since (otherwise they died with it).
    pub(super) async fn kill_leftovers(&mut self, want: &DesiredStream) {
        if !self.cp.pids.is_empty() && self.cp.started_at == want.started_at {
            let pids = std::mem::take(&mut self.cp.pids);
            tracing::info!(stream = ?self.key, ?pids, "stopping tails left by an earlier executor");
            self.kill(&pids).await;
        }
        self.cp.pids.clear();
        self.cp.started_at = want.started_at.clone();
    }

    /// Starts one exec reading the path from byte `start`.
    async fn start_reader(&self, start: u64, check_fp: bool) -> Result<Reader, SessionEnd> {
        let argv = tail::stream_command(&self.key.path, start, check_fp);
        let options = CreateExecOptions {
            cmd: Some(argv),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            attach_stdin: Some(false),
            tty: Some(false),
            ..Default::default()
        };
        let timeout = self.settings.request_timeout;
        let created = match tokio::time::timeout(
            timeout,
            self.docker.create_exec(&self.key.container_id, options),
        )
        .await
        {
            Ok(Ok(created)) => created,
            Ok(Err(e)) => return Err(classify_docker_error(e)),
            Err(_) => return Err(SessionEnd::Lost("creating the exec timed out".into())),
        };
        let start_options = StartExecOptions {
            detach: false,
            tty: false,
            output_capacity: Some(64 * 1024),
        };
        let output = match tokio::time::timeout(
            timeout,
            self.docker.start_exec(&created.id, Some(start_options)),
        )
        .await
        {
            Ok(Ok(StartExecResults::Attached { output, .. })) => output,
            Ok(Ok(StartExecResults::Detached)) => {
                return Err(SessionEnd::Lost("the exec started detached".into()));
            }
            Ok(Err(e)) => return Err(classify_docker_error(e)),
            Err(_) => return Err(SessionEnd::Lost("starting the exec timed out".into())),
        };
        Ok(Reader {
            exec_id: created.id,
            output,
            header: check_fp.then(Vec::new),
            mismatch: false,
            pids: None,
            exit: None,
            cannot_open: false,
            other_text: String::new(),
            stderr_buf: Vec::new(),
            replaced_at: None,
            last_data: Instant::now(),
            kill_sent: false,
            ended: false,
            lost: None,
            pending: Vec::new(),
        })
    }

    /// The PIDs of all readers, recorded in the checkpoint so a restarted
    /// executor can stop them.
    fn record_pids(&mut self, readers: &VecDeque<Reader>) {
        self.cp.pids = readers
            .iter()
            .filter(|r| !r.ended)
            .filter_map(|r| r.pids)
            .flatten()
            .collect();
        self.dirty = true;
    }

    /// Runs execs for the path from the current offset until the stream
    /// stops or something needs the main loop.
    ///
    /// The first reader (the head) feeds the spool. When its detector says
    /// the path names a new file, a second reader starts on it at once (so
    /// a short-lived file is not skipped) and its bytes wait in memory (up to
    /// [`PENDING_CAP`], after which it is simply not read: `tail` blocks, no
    /// byte is lost) until the head's file has gone quiet and its exec ended.
    pub(super) async fn session(
        &mut self,
        want: &DesiredStream,
        hard_stop: &CancellationToken,
    ) -> SessionEnd {
        let start = self.consumed;
        self.lines.clear();
        if start == 0 {
            self.fp = Fingerprint::default();
        }
        let head = match self.start_reader(start, start > 0).await {
            Ok(reader) => reader,
            Err(end) => return end,
        };
        self.status.set_state(StreamState::Streaming, None);
        let mut readers: VecDeque<Reader> = VecDeque::from([head]);
        let mut stop_deadline: Option<Instant> = None;
        let mut skipping = self.skip_existing;
        let mut flush = tokio::time::interval(self.settings.flush_every);
        flush.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let far = Instant::now() + Duration::from_secs(86400 * 365);

        loop {
            // Send the kills that are due: everything when stopping, a head
            // whose file turned out to be another one, a replaced file that
            // went quiet.
            let now = Instant::now();
            let mut wake = far;
            for (i, r) in readers.iter_mut().enumerate() {
                if r.kill_sent || r.ended {
                    continue;
                }
                let rotate_due = r.replaced_at.map(|at| {
                    (r.last_data + self.settings.rotate_quiet)
                        .min(at + self.settings.rotate_max_wait)
                });
                let due = stop_deadline.is_some()
                    || (i == 0 && r.mismatch)
                    || rotate_due.is_some_and(|d| d <= now);
                if due {
                    if let Some(p) = r.pids {
                        r.kill_sent = true;
                        kill_detached(
                            &self.docker,
                            &self.key.container_id,
                            &p,
                            self.settings.request_timeout,
                        );
                    }
                } else if let Some(d) = rotate_due {
                    wake = wake.min(d);
                }
            }
            if skipping {
                wake = wake.min(readers[0].last_data + Duration::from_millis(700));
            }
            let buffered = self.writer.as_ref().is_some_and(|w| w.buffered() > 0);
            if buffered {
                wake = wake.min(readers[0].last_data + LINGER);
            }
            if let Some(d) = stop_deadline {
                wake = wake.min(d);
            }
            let mut spawn_next = false;
            tokio::select! {
                (i, item) = next_output(&mut readers) => {
                    let last = readers.len() - 1;
                    let r = &mut readers[i];
                    match item {
                        Some(Ok(LogOutput::StdOut { message })) => {
                            let mut data: &[u8] = &message;
                            if let Some(buf) = r.header.as_mut() {
                                match memchr::memchr(b'\n', data) {
                                    Some(nl) => {
                                        if buf.len() < 4096 {
                                            buf.extend_from_slice(&data[..nl.min(4096)]);
                                        }
                                        if !self.fp.same_file(&ShellFingerprint::parse(buf)) {
                                            tracing::info!(stream = ?self.key, "the file was replaced while the stream was away");
                                            r.mismatch = true;
                                        }
                                        r.header = None;
                                        data = &data[nl + 1..];
                                    }
                                    None => {
                                        if buf.len() < 4096 {
                                            buf.extend_from_slice(data);
                                        }
                                        data = &[];
                                    }
                                }
                            }
                            if !r.mismatch && !data.is_empty() {
                                r.last_data = Instant::now();
                                if i == 0 {
                                    if let Err(e) = self.take(data, skipping) {
                                        readers[0].lost = Some(format!("cannot write the spool: {e}"));
                                        stop_deadline.get_or_insert(Instant::now());
                                    }
                                } else {
                                    r.pending.extend_from_slice(data);
                                }
                            }
                        }
                        Some(Ok(LogOutput::StdErr { message })) => {
                            r.stderr_buf.extend_from_slice(&message);
                            let mut pids_changed = false;
                            while let Some(nl) = memchr::memchr(b'\n', &r.stderr_buf) {
                                let line: Vec<u8> = r.stderr_buf.drain(..=nl).collect();
                                match tail::parse_stderr(&line[..line.len() - 1]) {
                                    StderrLine::Pids { reader, detector } => {
                                        r.pids = Some([reader, detector]);
                                        // The reader runs from now on; measure quiet from here.
                                        r.last_data = Instant::now();
                                        pids_changed = true;
                                    }
                                    StderrLine::Exit(status) => r.exit = Some(status),
                                    StderrLine::Replaced => {
                                        r.replaced_at.get_or_insert_with(Instant::now);
                                        // Only the newest reader's detector
                                        // speaks for the path.
                                        spawn_next |= i == last;
                                    }
                                    StderrLine::Gone => {}
                                    StderrLine::CannotOpen => r.cannot_open = true,
                                    StderrLine::Other(text) => {
                                        tracing::debug!(stream = ?self.key, %text, "stderr");
                                        r.other_text = text;
                                    }
                                }
                            }
                            if r.stderr_buf.len() > 64 * 1024 {
                                r.stderr_buf.clear();
                            }
                            if pids_changed {
                                self.record_pids(&readers);
                                self.persist().await;
                            }
                        }
                        Some(Ok(LogOutput::Console { message } | LogOutput::StdIn { message })) => {
                            r.other_text = String::from_utf8_lossy(&message).trim().to_owned();
                        }
                        Some(Err(e)) => {
                            r.lost = Some(format!("the exec stream failed: {e}"));
                            r.ended = true;
                        }
                        None => r.ended = true,
                    }
                }
                _ = flush.tick() => {
                    if self.dirty {
                        self.persist().await;
                    }
                }
                _ = self.status.notify.notified(), if stop_deadline.is_none() => {
                    let still = self.status.wanted();
                    if still.as_ref().is_none_or(|w| w.started_at != want.started_at) {
                        self.status.set_state(StreamState::Draining, None);
                        stop_deadline = Some(Instant::now() + self.settings.drain_timeout);
                    }
                }
                _ = hard_stop.cancelled() => {
                    for r in readers.iter_mut().filter(|r| !r.kill_sent) {
                        if let Some(p) = r.pids {
                            r.kill_sent = true;
                            kill_detached(&self.docker, &self.key.container_id, &p, self.settings.request_timeout);
                        }
                    }
                    if self.dirty {
                        self.persist().await;
                    }
                    return SessionEnd::Aborted;
                }
                _ = tokio::time::sleep_until(wake) => {
                    if stop_deadline.is_some_and(|d| d <= Instant::now()) {
                        tracing::warn!(stream = ?self.key, "drain timed out");
                        if self.dirty {
                            self.persist().await;
                        }
                        return SessionEnd::Unwanted;
                    }
                    if buffered
                        && readers[0].last_data + LINGER <= Instant::now()
                        && let Some(w) = self.writer.as_mut()
                        && let Err(e) = w.flush_buf()
                    {
                        readers[0].lost = Some(format!("cannot write the spool: {e}"));
                        stop_deadline.get_or_insert(Instant::now());
                    }
                    if skipping && readers[0].last_data + Duration::from_millis(700) <= Instant::now() {
                        skipping = false;
                        self.skip_existing = false;
                    }
                }
            }
            if spawn_next && stop_deadline.is_none() && readers.len() < MAX_READERS {
                match self.start_reader(0, false).await {
                    Ok(reader) => readers.push_back(reader),
                    Err(end) => {
                        tracing::warn!(stream = ?self.key, ?end, "cannot follow the new file yet")
                    }
                }
            }
            // A newest reader that could not open the file is dropped; the
            // detector before it reports when the file appears.
            if readers.len() > 1
                && readers
                    .back()
                    .is_some_and(|r| r.ended && r.pending.is_empty() && r.cannot_open)
            {
                readers.pop_back();
                if let Some(r) = readers.back_mut() {
                    r.replaced_at = None;
                }
            }
            // Hand over from ended heads to their successors, in order.
            while readers.front().is_some_and(|r| r.ended) {
                let head = readers.pop_front().expect("front");
                self.record_pids(&readers);
                if readers.is_empty() {
                    if self.dirty {
                        self.persist().await;
                    }
                    return self.classify(head, stop_deadline.is_some()).await;
                }
                let finished_file =
                    head.mismatch || head.replaced_at.is_some() || stop_deadline.is_some();
                if !finished_file
                    || head.lost.is_some()
                    || head.pids.is_none()
                    || head.exit == Some(127)
                {
                    // The head broke down for another reason: stop the
                    // others too and let the main loop decide.
                    for r in readers.iter_mut().filter(|r| !r.kill_sent) {
                        if let Some(p) = r.pids {
                            kill_detached(
                                &self.docker,
                                &self.key.container_id,
                                &p,
                                self.settings.request_timeout,
                            );
                        }
                    }
                    if self.dirty {
                        self.persist().await;
                    }
                    return self.classify(head, stop_deadline.is_some()).await;
                }
                self.next_generation(!head.mismatch);
                let pending = std::mem::take(&mut readers[0].pending);
                if !pending.is_empty()
                    && let Err(e) = self.take(&pending, false)
                {
                    readers[0].lost = Some(format!("cannot write the spool: {e}"));
                    stop_deadline.get_or_insert(Instant::now());
                }
                self.persist().await;
            }
        }
    }

    /// How a stream whose last reader ended goes on.
    async fn classify(&mut self, head: Reader, stopping: bool) -> SessionEnd {
        self.cp.pids.clear();
        self.dirty = true;
        if let Some(reason) = head.lost {
            return SessionEnd::Lost(reason);
        }
        if head.pids.is_none() {
            // The shell never ran: no `sh`, or the container stopped.
            return match self.exec_exit_code(&head.exec_id).await {
                Some(126 | 127) => SessionEnd::Unsupported(format!(
                    "the container has no usable `sh`: {}",
                    head.other_text
                )),
                _ if stopping => SessionEnd::Unwanted,
                _ => SessionEnd::ContainerStopped,
            };
        }
        if head.exit == Some(127) {
            return SessionEnd::Unsupported(format!(
                "the container has no `tail`: {}",
                head.other_text
            ));
        }
        if head.mismatch {
            return SessionEnd::Replaced;
        }
        if stopping {
            return SessionEnd::Unwanted;
        }
        if head.replaced_at.is_some() && head.kill_sent {
            return SessionEnd::Rotated;
        }
        if head.cannot_open && head.exit.is_some_and(|s| s != 0) {
            return SessionEnd::FileMissing;
        }
        if head.exit.is_none() && !self.container_running().await {
            // The shell was killed before it could report: the container stopped.
            return SessionEnd::ContainerStopped;
        }
        SessionEnd::Lost(format!(
            "tail ended with status {:?}: {}",
            head.exit, head.other_text
        ))
    }

    pub(super) async fn kill(&self, pids: &[u32]) {
        let _ = tokio::time::timeout(
            self.settings.request_timeout,
            kill(&self.docker, &self.key.container_id, pids),
        )
        .await;
    }

    /// Whether the container still runs (an unanswered question counts as
    /// yes, so the stream retries rather than waits for a restart).
    async fn container_running(&self) -> bool {
        match tokio::time::timeout(
            self.settings.request_timeout,
            self.docker.inspect_container(&self.key.container_id, None),
        )
        .await
        {
            Ok(Ok(info)) => info.state.and_then(|s| s.running).unwrap_or(false),
            Ok(Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            })) => false,
            _ => true,
        }
    }

    async fn exec_exit_code(&self, exec_id: &str) -> Option<i64> {
        // The exit code is set a moment after the stream ends.
        for _ in 0..20 {
            match tokio::time::timeout(
                self.settings.request_timeout,
                self.docker.inspect_exec(exec_id),
            )
            .await
            {
                Ok(Ok(info)) if info.running == Some(false) => return info.exit_code,
                Ok(Ok(_)) => tokio::time::sleep(Duration::from_millis(50)).await,
                _ => return None,
            }
        }
        None
    }
}

/// How long written lines may sit in memory once the stream goes quiet.
const LINGER: Duration = Duration::from_millis(20);

/// At most this many execs per stream at once: the head and the files that
/// replaced it since, which wait their turn.
const MAX_READERS: usize = 4;

/// Bytes a waiting reader may hold before it is no longer read.
pub const PENDING_CAP: usize = 4 * 1024 * 1024;

/// One exec reading one file.
struct Reader {
    exec_id: String,
    output: Pin<Box<dyn futures::Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>>,
    /// The fingerprint line, while it is being read.
    header: Option<Vec<u8>>,
    /// The fingerprint did not match: the data is not the checkpoint's file.
    mismatch: bool,
    pids: Option<[u32; 2]>,
    exit: Option<i32>,
    cannot_open: bool,
    other_text: String,
    stderr_buf: Vec<u8>,
    /// When its detector reported that the path names another file.
    replaced_at: Option<Instant>,
    last_data: Instant,
    kill_sent: bool,
    ended: bool,
    lost: Option<String>,
    /// Bytes read while not the head, from byte 0 of its file.
    pending: Vec<u8>,
}

/// The next item of any reader, the head first; a waiting reader whose
/// buffer is full is not polled (backpressure into the container). Never
/// resolves when every reader has ended.
fn next_output(
    readers: &mut VecDeque<Reader>,
) -> impl Future<Output = (usize, Option<Result<LogOutput, bollard::errors::Error>>)> + '_ {
    std::future::poll_fn(move |cx| {
        for (i, r) in readers.iter_mut().enumerate() {
            if r.ended || (i > 0 && r.pending.len() >= PENDING_CAP) {
                continue;
            }
            if let Poll::Ready(item) = r.output.poll_next_unpin(cx) {
                return Poll::Ready((i, item));
            }
        }
        Poll::Pending
    })
}

/// Kills a reader's processes without waiting for the kill exec.
fn kill_detached(docker: &Docker, container: &str, pids: &[u32], timeout: Duration) {
    let docker = docker.clone();
    let container = container.to_owned();
    let pids = pids.to_vec();
    tokio::spawn(async move {
        let _ = tokio::time::timeout(timeout, kill(&docker, &container, &pids)).await;
    });
}

/// Sends `kill` for `pids` into the container (a second exec, argv only).
pub(crate) async fn kill(
    docker: &Docker,
    container: &str,
    pids: &[u32],
) -> Result<(), bollard::errors::Error> {
    let created = docker
        .create_exec(
            container,
            CreateExecOptions {
                cmd: Some(tail::kill_command(pids)),
                attach_stdout: Some(false),
                attach_stderr: Some(false),
                ..Default::default()
            },
        )
        .await?;
    docker
        .start_exec(
            &created.id,
            Some(StartExecOptions {
                detach: true,
                ..Default::default()
            }),
        )
        .await?;
    Ok(())
}

fn classify_docker_error(e: bollard::errors::Error) -> SessionEnd {
    match &e {
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404 | 409,
            ..
        } => SessionEnd::ContainerStopped,
        _ => SessionEnd::Lost(e.to_string()),
    }
}

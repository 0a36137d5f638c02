//! A running container's root directory, reached through
//! `/proc/<pid>/root` of its process, and the process's exit.
//!
//! PIDs are reused, and in another PID namespace a number names another
//! process: so the PID Docker reports is confirmed before the root is
//! trusted. Docker is asked twice, around opening a pidfd and the root; both
//! answers must name the same PID and the same container start, and the
//! process's own start time (from `/proc/<pid>/stat`) must agree with the
//! container's `StartedAt`. The pidfd then reports the exit of exactly that
//! process.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use bollard::Docker;
use tokio::io::unix::AsyncFd;

/// Why a container's root could not be attached.
#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    /// Direct reading cannot work here: the stream uses the exec reader.
    #[error("{0}")]
    Unavailable(String),
    #[error("the container is not running")]
    NotRunning,
    /// The container runs another start than the one wanted.
    #[error("the container restarted")]
    Restarted,
    #[error("docker: {0}")]
    Docker(String),
}

/// The confirmed root of one container start.
#[derive(Debug)]
pub struct ContainerRoot {
    pub pid: u32,
    /// `/proc/<pid>/root`, opened `O_PATH`: the directory paths resolve in.
    pub root: OwnedFd,
    /// Readable once the process has exited.
    pub exited: AsyncFd<OwnedFd>,
}

/// Why `DOCKER_HOST` rules the direct reader out, if it does: the engine's
/// PIDs are another machine's.
pub fn remote_engine(docker_host: Option<&str>) -> Option<String> {
    let host = docker_host?.trim();
    if host.is_empty() || host.starts_with("unix://") || host.starts_with('/') {
        return None;
    }
    Some(format!(
        "the Docker engine is not local (DOCKER_HOST={host}): its PIDs are not this host's"
    ))
}

/// A container's state as `inspect` tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Inspected {
    pid: u32,
    started_at: String,
    running: bool,
}

async fn inspect(docker: &Docker, id: &str, timeout: Duration) -> Result<Inspected, AttachError> {
    match tokio::time::timeout(timeout, docker.inspect_container(id, None)).await {
        Ok(Ok(info)) => {
            let state = info.state.unwrap_or_default();
            Ok(Inspected {
                pid: state.pid.unwrap_or(0).try_into().unwrap_or(0),
                started_at: state.started_at.unwrap_or_default(),
                running: state.running.unwrap_or(false),
            })
        }
        Ok(Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        })) => Err(AttachError::NotRunning),
        Ok(Err(e)) => Err(AttachError::Docker(e.to_string())),
        Err(_) => Err(AttachError::Docker("inspect timed out".into())),
    }
}

/// Attaches to the container start `started_at` of container `id`.
pub async fn attach(
    docker: &Docker,
    id: &str,
    started_at: &str,
    timeout: Duration,
) -> Result<ContainerRoot, AttachError> {
    if let Some(reason) = remote_engine(std::env::var("DOCKER_HOST").ok().as_deref()) {
        return Err(AttachError::Unavailable(reason));
    }
    let first = inspect(docker, id, timeout).await?;
    if !first.running {
        return Err(AttachError::NotRunning);
    }
    if first.started_at != started_at {
        return Err(AttachError::Restarted);
    }
    if first.pid == 0 {
        return Err(AttachError::Unavailable("Docker reports no PID".into()));
    }
    let pid = first.pid;
    let pidfd = match pidfd_open(pid) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {
            let again = inspect(docker, id, timeout).await?;
            if !again.running || again.started_at != started_at {
                return Err(AttachError::NotRunning);
            }
            return Err(AttachError::Unavailable(format!(
                "PID {pid} is not visible here (the executor runs in another PID namespace; \
                 run it with --pid=host)"
            )));
        }
        Err(e) => return Err(AttachError::Unavailable(format!("pidfd_open({pid}): {e}"))),
    };
    let root_path = format!("/proc/{pid}/root");
    let root = open_path_dir(&root_path).map_err(|e| {
        AttachError::Unavailable(format!(
            "cannot open {root_path}: {e} (needs root, or CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH)"
        ))
    })?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| AttachError::Unavailable(format!("cannot read /proc/{pid}/stat: {e}")))?;
    let boot = boot_time().map_err(|e| AttachError::Unavailable(format!("/proc/stat: {e}")))?;
    let again = inspect(docker, id, timeout).await?;
    if !again.running {
        return Err(AttachError::NotRunning);
    }
    if again != first {
        return Err(AttachError::Restarted);
    }
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    start_time_matches(&stat, boot, ticks, started_at).map_err(AttachError::Unavailable)?;
    let exited = // SAFETY: an OwnedFd stays open and the same for as long as it is owned.
        unsafe { AsyncFd::register_with_interest(pidfd, tokio::io::Interest::READABLE) }
            .map_err(io::Error::from)
        .map_err(|e| AttachError::Unavailable(format!("cannot watch PID {pid}: {e}")))?;
    Ok(ContainerRoot { pid, root, exited })
}

/// How far a process's start may be from the container's `StartedAt`:
/// `btime` has whole seconds, and Docker stamps the start a moment after
/// the process began.
const START_TOLERANCE: f64 = 5.0;

/// Whether the process whose `/proc/<pid>/stat` is `stat` started when the
/// container did; `Err` says how far apart they are.
pub fn start_time_matches(
    stat: &str,
    boot_time: u64,
    ticks_per_second: u64,
    started_at: &str,
) -> Result<(), String> {
    let after_comm = stat
        .rfind(')')
        .map(|i| &stat[i + 1..])
        .ok_or("unreadable /proc/<pid>/stat")?;
    // Field 22 (starttime); the fields after `)` begin at 3 (state).
    let ticks: u64 = after_comm
        .split_whitespace()
        .nth(19)
        .and_then(|f| f.parse().ok())
        .ok_or("unreadable start time in /proc/<pid>/stat")?;
    let process = boot_time as f64 + ticks as f64 / ticks_per_second as f64;
    let container =
        time::OffsetDateTime::parse(started_at, &time::format_description::well_known::Rfc3339)
            .map_err(|e| format!("unreadable StartedAt {started_at:?}: {e}"))?;
    let container = container.unix_timestamp_nanos() as f64 / 1e9;
    let apart = (process - container).abs();
    if apart > START_TOLERANCE {
        return Err(format!(
            "the process with the container's PID started {apart:.0} s away from the container \
             (another PID namespace, or the PID was reused)"
        ));
    }
    Ok(())
}

fn boot_time() -> io::Result<u64> {
    let text = std::fs::read_to_string("/proc/stat")?;
    text.lines()
        .find_map(|l| l.strip_prefix("btime ")?.trim().parse().ok())
        .ok_or_else(|| io::Error::other("no btime"))
}

fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with integer arguments.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}

fn open_path_dir(path: &str) -> io::Result<OwnedFd> {
    let c = CString::new(path).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: a NUL-terminated path.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a new descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // Reading through it needs the right to look into another process's
    // mount namespace; O_PATH alone does not check it.
    std::fs::read_dir(format!("/proc/self/fd/{}", fd.as_raw_fd()))?;
    Ok(fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_local_engine_allows_direct_reading() {
        assert_eq!(remote_engine(None), None);
        assert_eq!(remote_engine(Some("")), None);
        assert_eq!(remote_engine(Some("unix:///var/run/docker.sock")), None);
        let why = remote_engine(Some("tcp://10.0.0.1:2375")).unwrap();
        assert!(why.contains("not local"), "{why}");
        assert!(remote_engine(Some("ssh://me@host")).is_some());
    }

    #[test]
    fn the_process_start_must_match_the_container_start() {
        // comm with spaces and a parenthesis, as a hostile process may name itself.
        let stat = |ticks: u64| {
            format!("42 (a) b) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 {ticks} 1000 10")
        };
        let boot = 1_700_000_000;
        // Started 1000.5 s after boot, at 100 ticks a second.
        let at = "2023-11-14T22:30:00.500000000Z"; // 1700001000.5
        assert_eq!(start_time_matches(&stat(100_050), boot, 100, at), Ok(()));
        assert_eq!(start_time_matches(&stat(100_250), boot, 100, at), Ok(()));
        let far = start_time_matches(&stat(50_000), boot, 100, at).unwrap_err();
        assert!(far.contains("s away from the container"), "{far}");
        assert!(start_time_matches("garbage", boot, 100, at).is_err());
        assert!(start_time_matches(&stat(1), boot, 100, "yesterday").is_err());
    }

    #[tokio::test]
    async fn our_own_process_is_reachable_through_proc() {
        let fd = open_path_dir(&format!("/proc/{}/root", std::process::id())).unwrap();
        let pidfd = pidfd_open(std::process::id()).unwrap();
        assert!(fd.as_raw_fd() >= 0 && pidfd.as_raw_fd() >= 0);
        assert!(pidfd_open(u32::MAX / 2).is_err());
    }
}

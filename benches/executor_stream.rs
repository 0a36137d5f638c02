//! Streaming throughput and footprint of the executor's Docker half against
//! the seed's own method and the machine's limits, measured in the same run
//! on the real engine.
//!
//! * ours: the `executor-streams` subcommand (discovery, line splitting,
//!   spool, checkpoints) in a child process, once with each reader: `direct`
//!   (through `/proc/<pid>/root`) and `exec` (the two-tail script);
//! * baseline: `docker exec <c> tail -n +1 -F <file> > spoolfile` through the
//!   docker CLI, as the seed did (it started at the end; here both read the
//!   whole file so they move the same bytes).
//!
//! Catch-up: a file of `BENCH_MIB` MiB already in the container, read to the
//! last byte into the spool by each reader, against `docker exec <c> cat`
//! and the limit, `cat /proc/<pid>/root/<file> > file` on the host.
//! Latency: a line with the container's clock every 20 ms; the time until it
//! is in the spool (p50, p99).
//!
//! A busybox container writes `BENCH_MIB` MiB (default 256) of 100-byte lines
//! as fast as it can (`yes | head -c`); the clock runs from the start of the
//! writer until the consumer's output holds every byte. CPU is the consumer
//! process's user+system time (and, for information, dockerd's, which both
//! methods load alike). Then 50 concurrent streams run in one executor and
//! its resident memory is read. Run with `cargo bench --bench executor_stream`.

#[path = "../tests/support/docker.rs"]
#[allow(dead_code)]
mod docker;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use docker::{BUSYBOX, TestContainer, docker_or_skip, ensure_images, unique};

const LINE: &str = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyz.";

struct Run {
    secs: f64,
    cpu_secs: f64,
    dockerd_cpu_secs: f64,
    bytes: u64,
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_CLK_TCK) as f64 }
}

/// utime + stime of a process, in seconds.
fn cpu_of(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command (which may hold spaces) start after ") ".
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let utime: f64 = fields[11].parse().unwrap();
    let stime: f64 = fields[12].parse().unwrap();
    (utime + stime) / clock_ticks()
}

fn dockerd_pid() -> Option<u32> {
    let out = Command::new("pidof").arg("dockerd").output().ok()?;
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok())
        .map(|e| {
            let meta = e.metadata().unwrap();
            if meta.is_dir() {
                dir_size(&e.path())
            } else {
                meta.len()
            }
        })
        .sum()
}

fn config_json(image: &str, paths: &[String]) -> String {
    let files: String = paths
        .iter()
        .map(|p| format!("file {{ docker-path => \"{p}\" }} "))
        .collect();
    serde_json::json!({
        "version": 1,
        "configs": [{"name": image, "kind": "docker", "input": format!("input {{ {files} }}")}]
    })
    .to_string()
}

fn executor(dir: &Path, label: &str, paths: &[String]) -> Child {
    std::fs::write(dir.join("configs.json"), config_json(BUSYBOX, paths)).unwrap();
    Command::new(env!("CARGO_BIN_EXE_logstash-mesos"))
        .arg("executor-streams")
        .arg("--configs")
        .arg(dir.join("configs.json"))
        .arg("--spool-dir")
        .arg(dir.join("spool"))
        .arg("--state-dir")
        .arg(dir.join("state"))
        .arg("--report")
        .arg(dir.join("report.json"))
        .arg("--require-label")
        .arg(format!("lsm-bench={label}"))
        .arg("--spool-budget")
        .arg((64u64 << 30).to_string())
        .arg("--reader")
        .arg(std::env::var("BENCH_READER").unwrap_or_else(|_| "auto".into()))
        .args(
            std::env::var("BENCH_EXECUTOR_ARGS")
                .unwrap_or_default()
                .split_whitespace(),
        )
        .env("RUST_LOG", "warn")
        .spawn()
        .expect("spawn executor-streams")
}

fn terminate(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

/// Who reads the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Consumer {
    /// `docker exec tail -F` through the CLI (the seed).
    Seed,
    /// `executor-streams --reader <reader>`.
    Ours(&'static str),
}

fn executor_with(dir: &Path, label: &str, paths: &[String], reader: &str) -> Child {
    // SAFETY: setting an environment variable before spawning, single
    // threaded at this point of the bench's setup.
    unsafe { std::env::set_var("BENCH_READER", reader) };
    executor(dir, label, paths)
}

/// Waits until the executor's report shows `n` streams with the reader.
async fn wait_reader(dir: &Path, reader: &str, n: usize) {
    let want = if reader == "direct" { "Direct" } else { "Exec" };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let report: serde_json::Value = std::fs::read(dir.join("report.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let ok = report["streams"]
            .as_array()
            .is_some_and(|s| s.len() == n && s.iter().all(|s| s["reader"] == want));
        if ok {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the {reader} reader did not start: {report}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One measured run: starts the consumer, lets the writer go, waits for
/// every byte.
async fn measure(docker: &bollard::Docker, who: Consumer, bytes: u64) -> Run {
    let ours = who != Consumer::Seed;
    let label = unique("bench");
    let script = format!(
        "cd /tmp; : > app.log; while [ ! -e go ]; do sleep 0.05; done; \
         yes '{LINE}' | head -c {bytes} >> app.log; exec sleep 3600"
    );
    let c = TestContainer::start(docker, BUSYBOX, Some(&script), &[("lsm-bench", &label)]).await;
    let dir = tempfile::tempdir().unwrap();
    let out: PathBuf;
    let mut child = if let Consumer::Ours(reader) = who {
        out = dir.path().join("spool");
        executor_with(dir.path(), &label, &["/tmp/app.log".to_owned()], reader)
    } else {
        out = dir.path().join("spoolfile");
        Command::new("docker")
            .args(["exec", &c.id, "tail", "-n", "+1", "-F", "/tmp/app.log"])
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker CLI")
    };
    // Wait until the consumer runs.
    if who == Consumer::Ours("direct") {
        wait_reader(dir.path(), "direct", 1).await;
    } else {
        let deadline = Instant::now() + Duration::from_secs(30);
        while c.tails().await.is_empty() {
            assert!(Instant::now() < deadline, "the consumer did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let cpu0 = cpu_of(child.id());
    let dockerd = dockerd_pid();
    let dockerd0 = dockerd.map_or(0.0, cpu_of);
    let start = Instant::now();
    c.exec(&["touch", "/tmp/go"]).await;
    let deadline = start + Duration::from_secs(600);
    loop {
        let size = if ours {
            dir_size(&out)
        } else {
            std::fs::metadata(&out).map_or(0, |m| m.len())
        };
        if size >= bytes {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {size} of {bytes} bytes arrived"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu_secs = cpu_of(child.id()) - cpu0;
    let dockerd_cpu_secs = dockerd.map_or(0.0, cpu_of) - dockerd0;
    if ours {
        terminate(&mut child);
    } else {
        let _ = child.kill();
        let _ = child.wait();
    }
    Run {
        secs,
        cpu_secs,
        dockerd_cpu_secs,
        bytes,
    }
}

fn print_run(name: &str, r: &Run) {
    let mib = r.bytes as f64 / (1024.0 * 1024.0);
    let gib = r.bytes as f64 / (1024.0 * 1024.0 * 1024.0);
    let lines = r.bytes as f64 / (LINE.len() + 1) as f64;
    println!(
        "{name:<28} {:>8.1} MiB/s {:>11.0} lines/s {:>8.2} CPU s/GiB   (dockerd {:.2} CPU s/GiB, {:.2} s)",
        mib / r.secs,
        lines / r.secs,
        r.cpu_secs / gib,
        r.dockerd_cpu_secs / gib,
        r.secs
    );
}

async fn rss_with_streams(docker: &bollard::Docker, n: usize) {
    let label = unique("rss");
    // n files, each getting a line every 100 ms.
    let script = format!(
        "cd /tmp; i=0; while :; do i=$((i+1)); for f in $(seq 1 {n}); do echo \"line $i of $f\" >> f$f.log; done; \
         sleep 0.1; done"
    );
    let c = TestContainer::start(docker, BUSYBOX, Some(&script), &[("lsm-bench", &label)]).await;
    let dir = tempfile::tempdir().unwrap();
    let paths: Vec<String> = (1..=n).map(|f| format!("/tmp/f{f}.log")).collect();
    let mut child = executor(dir.path(), &label, &paths);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let report: serde_json::Value = std::fs::read(dir.path().join("report.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let streaming = report["streams"].as_array().map_or(0, |s| {
            s.iter().filter(|s| s["lines"].as_u64() > Some(0)).count()
        });
        if streaming == n {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{streaming} of {n} streams delivered lines"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let rss = rss_kib(child.id(), "VmRSS:");
    let hwm = rss_kib(child.id(), "VmHWM:");
    let tails = c.tails().await.len();
    terminate(&mut child);
    println!(
        "{n} concurrent streams: executor RSS {:.1} MiB (peak {:.1} MiB), {tails} tail processes in the container",
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
}

/// How the file already in the container is copied.
#[derive(Debug, Clone, Copy)]
enum CatchUp {
    Ours(&'static str),
    DockerExecCat,
    ProcRootCat,
}

/// Catch-up: the whole file is in the container before the consumer starts;
/// seconds until every byte is in the spool (or the output file).
async fn catch_up(docker: &bollard::Docker, how: CatchUp, bytes: u64) -> (f64, f64) {
    let label = unique("catchup");
    let script =
        format!("cd /tmp; yes '{LINE}' | head -c {bytes} > app.log; touch done; exec sleep 3600");
    let c = TestContainer::start(docker, BUSYBOX, Some(&script), &[("lsm-bench", &label)]).await;
    let deadline = Instant::now() + Duration::from_secs(120);
    while c.exec(&["ls", "/tmp/done"]).await.1 != 0 {
        assert!(Instant::now() < deadline, "the file was not written");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pid = docker
        .inspect_container(&c.id, None)
        .await
        .unwrap()
        .state
        .unwrap()
        .pid
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dockerd = dockerd_pid();
    let dockerd0 = dockerd.map_or(0.0, cpu_of);
    let start = Instant::now();
    match how {
        CatchUp::Ours(reader) => {
            let mut child = executor_with(dir.path(), &label, &["/tmp/app.log".to_owned()], reader);
            let out = dir.path().join("spool");
            let deadline = start + Duration::from_secs(600);
            while dir_size(&out) < bytes {
                assert!(Instant::now() < deadline, "the catch-up did not finish");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let secs = start.elapsed().as_secs_f64();
            let dockerd_cpu = dockerd.map_or(0.0, cpu_of) - dockerd0;
            terminate(&mut child);
            (secs, dockerd_cpu)
        }
        CatchUp::DockerExecCat | CatchUp::ProcRootCat => {
            let out = std::fs::File::create(dir.path().join("out")).unwrap();
            let mut cat = match how {
                CatchUp::DockerExecCat => {
                    let mut cmd = Command::new("docker");
                    cmd.args(["exec", &c.id, "cat", "/tmp/app.log"]);
                    cmd
                }
                _ => {
                    let mut cmd = Command::new("cat");
                    cmd.arg(format!("/proc/{pid}/root/tmp/app.log"));
                    cmd
                }
            };
            assert!(cat.stdout(out).status().unwrap().success());
            (
                start.elapsed().as_secs_f64(),
                dockerd.map_or(0.0, cpu_of) - dockerd0,
            )
        }
    }
}

/// Append-to-spool latency: the container writes the kernel's boot clock
/// (`/proc/uptime`, 10 ms resolution, the same clock as the host's) every
/// 20 ms; each line's arrival in the spool is noted every 2 ms.
async fn latency(docker: &bollard::Docker, reader: &'static str, lines: usize) -> (f64, f64) {
    let label = unique("latency");
    let script = format!(
        "cd /tmp; : > lat.log; while [ ! -e go ]; do sleep 0.05; done; i=0; \
         while [ $i -lt {lines} ]; do read up idle < /proc/uptime; echo $up >> lat.log; i=$((i+1)); usleep 20000; done; exec sleep 3600"
    );
    let c = TestContainer::start(docker, BUSYBOX, Some(&script), &[("lsm-bench", &label)]).await;
    let dir = tempfile::tempdir().unwrap();
    let mut child = executor_with(dir.path(), &label, &["/tmp/lat.log".to_owned()], reader);
    wait_reader(dir.path(), reader, 1).await;
    c.exec(&["touch", "/tmp/go"]).await;
    let mut delays = Vec::new();
    let mut seen = 0usize;
    let deadline = Instant::now() + Duration::from_secs(120);
    while delays.len() < lines {
        assert!(
            Instant::now() < deadline,
            "only {} lines arrived",
            delays.len()
        );
        let text = spool_text(&dir.path().join("spool"));
        let now = boot_clock();
        for line in text.lines().skip(seen) {
            if let Ok(at) = line.trim().parse::<f64>() {
                delays.push((now - at) * 1e3);
            }
            seen += 1;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    terminate(&mut child);
    delays.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let pct = |p: f64| delays[((delays.len() as f64 * p) as usize).min(delays.len() - 1)];
    (pct(0.50), pct(0.99))
}

/// Seconds since boot (`CLOCK_BOOTTIME`, what `/proc/uptime` shows).
fn boot_clock() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

/// Every spool segment's text, oldest first.
fn spool_text(dir: &Path) -> String {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                files.push(e.path());
            }
        }
    }
    // Numbered segments first, in order, then the live one.
    files.sort_by_key(|p| {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        (name == "spool.log", name)
    });
    files
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap_or_default())
        .collect()
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it too, as a quick smoke run.
    let quick = !std::env::args().any(|a| a == "--bench");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let Some(docker) = docker_or_skip("executor_stream bench").await else {
            return;
        };
        ensure_images(&docker).await;
        let mib: u64 = std::env::var("BENCH_MIB")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(if quick { 8 } else { 256 });
        let bytes = mib * 1024 * 1024 / (LINE.len() as u64 + 1) * (LINE.len() as u64 + 1);
        println!(
            "streaming {mib} MiB of {}-byte lines from one container:",
            LINE.len() + 1
        );
        let rounds = if quick { 1 } else { 2 };
        let mut direct = Vec::new();
        let mut exec = Vec::new();
        let mut base = Vec::new();
        for _ in 0..rounds {
            base.push(measure(&docker, Consumer::Seed, bytes).await);
            print_run("baseline (docker exec CLI)", base.last().unwrap());
            exec.push(measure(&docker, Consumer::Ours("exec"), bytes).await);
            print_run("ours, exec reader", exec.last().unwrap());
            direct.push(measure(&docker, Consumer::Ours("direct"), bytes).await);
            print_run("ours, direct reader", direct.last().unwrap());
        }
        let best = |runs: &[Run]| runs.iter().map(|r| r.secs).fold(f64::MAX, f64::min);
        let cpu = |runs: &[Run]| runs.iter().map(|r| r.cpu_secs).sum::<f64>() / runs.len() as f64;
        for (name, ours) in [("exec", &exec), ("direct", &direct)] {
            println!(
                "ratio {name}/baseline: throughput {:.2}x, CPU per byte {:.2}x",
                best(&base) / best(ours),
                cpu(ours) / cpu(&base).max(1e-9)
            );
        }
        println!("catch-up of {mib} MiB already in the container (best of {rounds}):");
        let mut best_of = Vec::new();
        for (name, how) in [
            ("limit: cat /proc/<pid>/root", CatchUp::ProcRootCat),
            ("docker exec cat", CatchUp::DockerExecCat),
            ("ours, exec reader", CatchUp::Ours("exec")),
            ("ours, direct reader", CatchUp::Ours("direct")),
        ] {
            let mut runs = Vec::new();
            for _ in 0..rounds {
                runs.push(catch_up(&docker, how, bytes).await);
            }
            let (secs, dockerd_cpu) = runs
                .iter()
                .copied()
                .fold((f64::MAX, 0.0), |a, r| if r.0 < a.0 { r } else { a });
            println!(
                "{name:<28} {secs:>7.2} s {:>8.1} MiB/s   (dockerd {dockerd_cpu:.2} CPU s)",
                mib as f64 / secs
            );
            best_of.push(secs);
        }
        println!(
            "catch-up ratios: direct {:.2}x the limit's speed, {:.2}x the exec reader's",
            best_of[0] / best_of[3],
            best_of[2] / best_of[3]
        );
        let n = if quick { 50 } else { 500 };
        for reader in ["direct", "exec"] {
            let (p50, p99) = latency(&docker, reader, n).await;
            println!("append-to-spool latency, {reader} reader, {n} lines: p50 {p50:.0} ms, p99 {p99:.0} ms");
        }
        // SAFETY: as in executor_with.
        unsafe { std::env::set_var("BENCH_READER", "direct") };
        rss_with_streams(&docker, if quick { 5 } else { 50 }).await;
    });
}

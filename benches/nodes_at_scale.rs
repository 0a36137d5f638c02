//! The GUI's views of a large cluster: 1,000 agents' reports fed through the
//! path the scheduler takes for an executor's message (the report's events
//! into the journal, the report into the live view and its history), served by
//! the real server on loopback, with a cluster of 10 agents measured in the
//! same run as the baseline.
//!
//! * the history's memory for an hour of reports at the report interval,
//!   counted by the allocator (bytes live after filling it), per agent and in
//!   total;
//! * `GET /api/executors/summary`: size, latency p50/p95 (and with a matching
//!   `If-None-Match`, 304), and the Nodes table's request (100 rows without
//!   their stream lists) beside the whole list;
//! * the Nodes page in headless Chromium: from navigation to the table on
//!   screen, and from the last byte of its data to the table on screen.
//!
//! Run with `cargo bench --bench nodes_at_scale`. Targets: the page usable in
//! < 1 s after its data arrives; the summary < 8 KB; the history < 50 MiB for
//! 1,000 agents and an hour. `cargo test --benches` runs it as a quick smoke
//! run with 100 agents.

#[path = "../tests/support/mod.rs"]
#[allow(unused_imports, dead_code)]
mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use logstash_mesos::api::Tokens;
use logstash_mesos::events::messages::{
    ExecutorReport, LogstashHealth, StreamReport, StreamState, Totals,
};
use logstash_mesos::events::time::now_millis;
use logstash_mesos::events::{Actor, Command, TaskState};
use logstash_mesos::journal::Journal;
use logstash_mesos::live::history::{History, Limits};
use logstash_mesos::live::{Live, Report};
use logstash_mesos::server::{Server, ServerConfig};
use logstash_mesos::state::reports;
use serde_json::Value;
use support::browser::Browser;

/// Counts the bytes the program holds on the heap.
struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live_bytes() -> isize {
    LIVE_BYTES.load(Ordering::Relaxed)
}

const HOUR_MS: u64 = 3_600_000;
const LOGSTASH_MISSING: &str = "logstash: logstash not found: streaming into the spool only";
const CONTAINERS: usize = 3;
/// What the Nodes page asks for, 100 rows at a time.
const TABLE_PAGE: &str = "/api/executors?sort=problems&limit=100&streams=false";

fn agent_id(i: usize) -> String {
    format!("0d7c7f6e-8f0b-4a51-9d3c-5e1f2a3b4c5d-S{i}")
}

/// Agent `i`'s report number `round`: three containers, Logstash missing,
/// every 50th agent with a failed stream and dropped bytes.
fn report(i: usize, round: u64, version: u64) -> ExecutorReport {
    let lines = round * (100 + i as u64 % 50);
    let failing = i % 50 == 7;
    ExecutorReport {
        config_version: Some(version),
        streams: (0..CONTAINERS)
            .map(|c| StreamReport {
                container_id: format!("{:064x}", i * 16 + c),
                image: format!("registry.example.com/team-{}/app-{c}:1.{}", i % 7, i % 3),
                path: "/var/log/app/access.log".into(),
                state: if failing && c == 0 {
                    StreamState::Failed
                } else {
                    StreamState::Streaming
                },
                reason: (failing && c == 0).then(|| "the container has no sh".into()),
                lines: lines / CONTAINERS as u64,
                bytes: lines * 120 / CONTAINERS as u64,
                dropped_bytes: if failing { round * 10 } else { 0 },
                rotations: round / 40,
                duplicate_lines: 0,
                reader: None,
                reader_note: None,
                lost_files: 0,
            })
            .collect(),
        logstash: LogstashHealth::NotInstalled,
        totals: Totals {
            lines,
            bytes: lines * 120,
            dropped_bytes: if failing { round * 30 } else { 0 },
            duplicate_lines: 0,
            rotations: round / 40,
        },
        errors: vec![LOGSTASH_MISSING.into()],
        pipelines: Vec::new(),
    }
}

/// An hour of reports from `agents` agents, through `History::record`, the
/// function `Live::set_report` calls; the bytes it holds afterwards.
fn history_memory(agents: usize) -> (isize, usize) {
    let limits = Limits::default();
    let rounds = HOUR_MS / limits.step_ms;
    let ids: Vec<String> = (0..agents).map(agent_id).collect();
    let reports: Vec<Vec<Totals>> = (0..agents)
        .map(|i| (0..rounds).map(|r| report(i, r, 1).totals).collect())
        .collect();
    let before = live_bytes();
    let mut history = History::new(limits);
    let start = 1_800_000_000_000;
    for round in 0..rounds {
        for (i, id) in ids.iter().enumerate() {
            let at = start + round * limits.step_ms + i as u64 * 7;
            history.record(id, "executor", at, &reports[i][round as usize], 1);
        }
    }
    let held = live_bytes() - before;
    let counted = history.heap_bytes();
    drop(history);
    (held, counted)
}

struct Cluster {
    server: Server,
    _dir: tempfile::TempDir,
    base: String,
}

/// A real server whose journal and live view hold `agents` agents and an
/// hour of their reports.
async fn cluster(agents: usize) -> Cluster {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().join("data"),
        tokens: Tokens::default(),
        cluster: Default::default(),
        raft_listen: None,
        config_dir: None,
        host_paths: Default::default(),
        ui: true,
        http: Default::default(),
    })
    .await
    .expect("start the server");
    let journal = server.journal.clone();
    let live = server.live.clone();
    let version = journal.read(|s| s.config_version);
    futures::stream::iter(0..agents)
        .map(|i| {
            let journal = journal.clone();
            async move {
                let agent = agent_id(i);
                let task = format!("logstash.{agent}.1");
                for command in [
                    Command::RecordExecutorLaunched {
                        agent_id: agent.clone(),
                        hostname: format!("agent-{i:04}.dc{}.example.com", i % 3),
                        task_id: task.clone(),
                        executor_id: format!("logstash-executor.{agent}.1"),
                        fingerprint: "bench".into(),
                    },
                    Command::RecordTaskStatus {
                        task_id: task,
                        agent_id: agent,
                        state: TaskState::Running,
                        reason: None,
                        message: None,
                        source: Some("SOURCE_EXECUTOR".into()),
                    },
                ] {
                    journal.submit(Actor::System, command).await.unwrap();
                }
            }
        })
        .buffer_unordered(64)
        .collect::<Vec<()>>()
        .await;
    let step = Limits::default().step_ms;
    let rounds = HOUR_MS / step;
    let start = now_millis() - rounds * step;
    for round in 0..rounds {
        // The scheduler's on_report, minus decoding the message.
        futures::stream::iter(0..agents)
            .map(|i| on_report(&journal, &live, i, round, start + round * step, version))
            .buffer_unordered(64)
            .collect::<Vec<()>>()
            .await;
    }
    let base = format!("http://{}", server.addr);
    Cluster {
        server,
        _dir: dir,
        base,
    }
}

async fn on_report(journal: &Journal, live: &Live, i: usize, round: u64, at: u64, version: u64) {
    let agent = agent_id(i);
    let report = report(i, round, version);
    let commands = journal.read(|s| reports::commands(s, &agent, &report));
    live.set_report(
        &agent,
        Report {
            received_at: at + i as u64 % 1000,
            executor_id: format!("logstash-executor.{agent}.1"),
            report,
        },
    );
    for command in commands {
        journal
            .submit(Actor::Executor(agent.clone()), command)
            .await
            .unwrap();
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct Http {
    bytes: usize,
    p50: Duration,
    p95: Duration,
}

/// Size and latency of `GET path`, `n` times in a row (with `etag`, as a
/// conditional request).
async fn http(base: &str, path: &str, n: usize, etag: Option<&str>) -> Http {
    let client = reqwest::Client::new();
    let url = format!("{base}{path}");
    let mut times = Vec::with_capacity(n);
    let mut bytes = 0;
    for _ in 0..n {
        let mut request = client.get(&url);
        if let Some(tag) = etag {
            request = request.header("If-None-Match", tag);
        }
        let started = Instant::now();
        let response = request.send().await.unwrap();
        assert!(response.status().is_success() || response.status() == 304);
        bytes = response.bytes().await.unwrap().len();
        times.push(started.elapsed());
    }
    times.sort();
    Http {
        bytes,
        p50: percentile(&times, 0.5),
        p95: percentile(&times, 0.95),
    }
}

async fn etag(base: &str, path: &str) -> String {
    let response = reqwest::get(format!("{base}{path}")).await.unwrap();
    response.headers()["etag"].to_str().unwrap().to_owned()
}

/// Times of the Nodes page: (navigation → table on screen, data's last byte
/// → table on screen, rows, elements), the best of `runs` fresh loads.
async fn first_render(browser: &Browser, base: &str, runs: usize) -> (f64, f64, u64, u64) {
    let mut best: Option<(f64, f64, u64, u64)> = None;
    for _ in 0..runs {
        browser.goto("about:blank").await;
        browser.goto(&format!("{base}/#/nodes")).await;
        browser.wait_ready("nodes").await;
        let v: Value = browser
            .eval(
                "const ready = performance.getEntriesByName('view-ready').pop().startTime; \
                 const data = performance.getEntriesByType('resource') \
                   .filter(e => /api\\/executors(\\?|\\/summary)/.test(e.name)) \
                   .map(e => e.responseEnd); \
                 return [ready, ready - Math.max(...data), \
                   document.querySelectorAll('#nodes-table tbody tr').length, \
                   document.getElementsByTagName('*').length];",
            )
            .await;
        let run = (
            v[0].as_f64().unwrap(),
            v[1].as_f64().unwrap(),
            v[2].as_u64().unwrap(),
            v[3].as_u64().unwrap(),
        );
        if best.is_none_or(|b| run.0 < b.0) {
            best = Some(run);
        }
    }
    best.unwrap()
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs a smoke run.
    let quick = !std::env::args().any(|a| a == "--bench");
    let agents: usize = std::env::var("BENCH_AGENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 100 } else { 1000 });
    let baseline = 10;

    let (base_held, base_counted) = history_memory(baseline);
    let (held, counted) = history_memory(agents);
    let mib = |b: isize| b as f64 / (1024.0 * 1024.0);
    println!(
        "history, one hour at {} s per report:",
        Limits::default().step_ms / 1000
    );
    println!(
        "  {baseline:>5} agents: {:>8.2} MiB held ({:.1} KiB per agent; heap_bytes() says {:.2} MiB)",
        mib(base_held),
        base_held as f64 / 1024.0 / baseline as f64,
        mib(base_counted as isize)
    );
    println!(
        "  {agents:>5} agents: {:>8.2} MiB held ({:.1} KiB per agent; heap_bytes() says {:.2} MiB)  target < 50 MiB",
        mib(held),
        held as f64 / 1024.0 / agents as f64,
        mib(counted as isize)
    );

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut results = Vec::new();
        for n in [baseline, agents] {
            let started = Instant::now();
            let c = cluster(n).await;
            let filled = started.elapsed();
            let history = c.server.live.history(|h| h.heap_bytes());
            let summary = http(&c.base, "/api/executors/summary", 200, None).await;
            let tag = etag(&c.base, "/api/executors/summary").await;
            let unchanged = http(&c.base, "/api/executors/summary", 200, Some(&tag)).await;
            let page = http(&c.base, TABLE_PAGE, 50, None).await;
            let all = http(&c.base, "/api/executors", 10, None).await;
            println!(
                "{n} agents (journal and an hour of reports filled in {:.1} s; the server's history holds {:.2} MiB):",
                filled.as_secs_f64(),
                mib(history as isize)
            );
            println!(
                "  GET /api/executors/summary      {:>7} bytes  p50 {:>6.2} ms  p95 {:>6.2} ms",
                summary.bytes,
                ms(summary.p50),
                ms(summary.p95)
            );
            println!(
                "  same, If-None-Match (304)       {:>7} bytes  p50 {:>6.2} ms  p95 {:>6.2} ms",
                unchanged.bytes,
                ms(unchanged.p50),
                ms(unchanged.p95)
            );
            println!(
                "  the Nodes table's page of 100    {:>7} bytes  p50 {:>6.2} ms  p95 {:>6.2} ms",
                page.bytes,
                ms(page.p50),
                ms(page.p95)
            );
            println!(
                "  GET /api/executors (every one)  {:>7} bytes  p50 {:>6.2} ms  p95 {:>6.2} ms",
                all.bytes,
                ms(all.p50),
                ms(all.p95)
            );
            results.push((n, c, summary));
        }
        let Some(browser) = Browser::start("nodes_at_scale bench").await else {
            return;
        };
        let runs = if quick { 1 } else { 5 };
        let mut renders = Vec::new();
        for (n, c, _) in &results {
            let (total, after_data, rows, elements) = first_render(&browser, &c.base, runs).await;
            println!(
                "Nodes page, {n} agents (best of {runs}): table on screen {total:.0} ms after navigation, \
                 {after_data:.0} ms after its data arrived; {rows} rows, {elements} elements"
            );
            renders.push(after_data);
        }
        browser.close().await;
        let (n, _, summary) = &results[1];
        println!(
            "summary: {n} agents {} bytes vs {baseline} agents {} bytes (target < 8 KB); \
             Nodes page after data {:.0} ms vs {:.0} ms (target < 1000 ms)",
            summary.bytes, results[0].2.bytes, renders[1], renders[0]
        );
        for (_, c, _) in results {
            c.server.shutdown();
            let _ = c.server.wait().await;
        }
    });
}

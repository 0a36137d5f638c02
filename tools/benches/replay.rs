//! Replay of a long history from a data directory: 1,000,000 generated
//! events, replayed the way `logstash-mesos-events replay` does (copy the
//! journal, read, decode and fold every event). Baselines in the same run:
//! reading and decoding the same events without folding them (the floor),
//! and the same replay over a tenth of the history, whose peak memory shows
//! that memory follows the projections, not the length of the log.
//!
//! Each measurement runs in a fresh child process, so its peak RSS
//! (VmHWM) is its own. `cargo bench --bench replay [-- EVENTS]`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use logstash_mesos::events::{
    Actor, ConfigKind, Envelope, Event, ExecutorCommand, ExecutorSettings, StreamChange, TaskState,
};
use logstash_mesos::journal::offline::Importer;
use logstash_mesos::state::State;
use logstash_mesos_tools::progress::Progress;
use logstash_mesos_tools::replay::advance;
use logstash_mesos_tools::source::Source;
use logstash_mesos_tools::summary::Summary;

const AGENTS: u64 = 500;
const CONFIGS: u64 = 200;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    match args.first().map(String::as_str) {
        Some("generate") => generate(Path::new(&args[1]), args[2].parse().unwrap()),
        Some("replay") => replay(Path::new(&args[1]), true),
        Some("read") => replay(Path::new(&args[1]), false),
        other => {
            let events: u64 = other.and_then(|n| n.parse().ok()).unwrap_or(1_000_000);
            parent(events);
        }
    }
}

fn parent(events: u64) {
    let root = std::env::temp_dir().join(format!(
        "logstash-mesos-replay-bench-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&root);
    let big = root.join("big");
    let small = root.join("small");
    println!("replay benchmark: {events} events ({AGENTS} agents, {CONFIGS} configs)");
    child(&["generate", path(&big), &events.to_string()]);
    child(&["generate", path(&small), &(events / 10).to_string()]);
    for round in 1..=2 {
        println!("round {round}:");
        child(&["read", path(&big)]);
        child(&["replay", path(&big)]);
        child(&["read", path(&small)]);
        child(&["replay", path(&small)]);
    }
    let _ = std::fs::remove_dir_all(&root);
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn child(args: &[&str]) {
    let status = Command::new(std::env::current_exe().unwrap())
        .args(args)
        .status()
        .expect("child runs");
    assert!(status.success(), "{args:?} failed");
}

/// Peak resident memory of this process, from /proc.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                        dir_size(&e.path())
                    } else {
                        e.metadata().map_or(0, |m| m.len())
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

/// A history like a busy cluster's: config edits now and then, executors
/// launched and restarted, and mostly streams starting and stopping as
/// containers come and go. Agents, containers and files are a fixed set,
/// as in a cluster that runs for a long time: the projections reach their
/// size early, and the log keeps growing.
fn event(seq: u64) -> Envelope {
    let agent = format!("agent-{:04}", seq % AGENTS);
    let task = format!("logstash.{agent}.{}", seq / (AGENTS * 40));
    let config = format!(
        "registry.example.com/team-{}/app:{}",
        seq % 17,
        seq % CONFIGS
    );
    let input = format!(
        "input {{\n  file {{\n    docker-path => \"/var/log/app/{}.log\"\n    codec => json\n  }}\n}}\nfilter {{ mutate {{ add_tag => [\"v{seq}\"] }} }}\n",
        seq % 13
    );
    let (actor, event) = match seq {
        1 => (
            Actor::Api("ops".into()),
            Event::SettingsChanged {
                settings: ExecutorSettings {
                    cpus_milli: 200,
                    mem_mib: 512,
                    disk_mib: 0,
                    logstash_heap_mib: 256,
                    command: ExecutorCommand::Binary {
                        path: "/usr/bin/logstash-mesos".into(),
                        uri: None,
                    },
                },
            },
        ),
        s if s <= 1 + CONFIGS => (
            Actor::Api("ops".into()),
            Event::ConfigCreated {
                name: config,
                kind: ConfigKind::Docker,
                input,
            },
        ),
        s if s % 1000 == 0 => (
            Actor::Api("ops".into()),
            Event::ConfigUpdated {
                name: config,
                input,
                restored_from: None,
            },
        ),
        s if s % (AGENTS * 40) < AGENTS => (
            Actor::Replica(1),
            Event::ExecutorLaunched {
                agent_id: agent.clone(),
                hostname: format!("{agent}.example.com"),
                task_id: task,
                executor_id: format!("exec.{agent}"),
                fingerprint: "0123456789abcdef".into(),
            },
        ),
        s if s % 10 == 1 => (
            Actor::Executor(agent.clone()),
            Event::TaskStateChanged {
                task_id: task,
                agent_id: agent,
                state: TaskState::Running,
                reason: None,
                message: Some("logstash running".into()),
                source: Some("SOURCE_EXECUTOR".into()),
            },
        ),
        s if s % 10 == 2 => (
            Actor::Executor(agent.clone()),
            Event::ExecutorConfigApplied {
                agent_id: agent,
                version: s,
            },
        ),
        s => (
            Actor::Executor(agent.clone()),
            Event::StreamsChanged {
                agent_id: agent,
                container_id: format!("{:064x}", (s / AGENTS) % 8),
                image: "registry.example.com/team-1/app:7".into(),
                path: format!("/var/log/app/{}.log", s % 3),
                change: if (s / AGENTS).is_multiple_of(2) {
                    StreamChange::Started
                } else {
                    StreamChange::Stopped
                },
                reason: None,
            },
        ),
    };
    Envelope {
        seq,
        at: 1_780_000_000_000 + seq * 3,
        actor,
        event,
    }
}

fn generate(dir: &Path, events: u64) {
    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut importer = Importer::create(dir).unwrap();
    for seq in 1..=events {
        importer.push(event(seq)).unwrap();
    }
    runtime.block_on(importer.finish()).unwrap();
    println!(
        "  generated {events} events in {:.1} s: {:.1} MiB on disk",
        started.elapsed().as_secs_f64(),
        dir_size(&PathBuf::from(dir)) as f64 / (1024.0 * 1024.0)
    );
}

fn replay(dir: &Path, fold: bool) {
    let started = Instant::now();
    let source = Source::data_dir(dir).unwrap();
    let opened = started.elapsed();
    let rss_opened = peak_rss_mib();
    let last = source.last_seq().unwrap();
    let mut progress = Progress::new(None, true, "");
    let mut state = State::default();
    if fold {
        advance(&mut state, &source, last, false, &mut progress, |_, _| {}).unwrap();
        let summary = Summary::of(&state);
        assert_eq!(summary.seq, last);
        std::hint::black_box(summary);
    } else {
        let mut bytes = 0usize;
        for env in source.events(1, last) {
            bytes += std::hint::black_box(env.unwrap()).seq as usize;
        }
        std::hint::black_box(bytes);
    }
    let total = started.elapsed().as_secs_f64();
    println!(
        "  {:<6} {last:>8} events: {total:>6.2} s ({:.2} s opening the copy), {:>9.0} events/s, peak RSS {:.1} MiB ({:.1} MiB once opened){}",
        if fold { "replay" } else { "read" },
        opened.as_secs_f64(),
        last as f64 / total,
        peak_rss_mib(),
        rss_opened,
        if fold {
            format!(
                ", {} configs, {} agents in the projections",
                state.configs.live().count(),
                state.cluster.agents.len()
            )
        } else {
            String::new()
        }
    );
}

//! Parse-time benchmark of the Logstash config parser, with `serde_json` on a
//! document of the same size as a yardstick measured in the same run.
//!
//! Run with `cargo bench --bench logstash_parser`. Uses only `std::time` so it
//! needs no benchmark framework. The corpus file is taken from
//! `$LOGSTASH_CORPUS_DIR` or `../shared/logstash-corpus` next to the crate,
//! and skipped when absent.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use logstash_mesos::logstash;

const WARM_UP: usize = 20;
const ITERATIONS: usize = 200;
const GENERATED_SIZE: usize = 60 * 1024;

/// Timing summary of one workload.
struct Stats {
    min: Duration,
    median: Duration,
    p99: Duration,
}

fn measure(mut run: impl FnMut()) -> Stats {
    for _ in 0..WARM_UP {
        run();
    }
    let mut times: Vec<Duration> = (0..ITERATIONS)
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed()
        })
        .collect();
    times.sort();
    let p99 = (times.len() * 99).div_ceil(100).saturating_sub(1);
    Stats {
        min: times[0],
        median: times[times.len() / 2],
        p99: times[p99],
    }
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn report(name: &str, bytes: usize, stats: &Stats) {
    println!(
        "{name:<44} {bytes:>7} B  min {:>9.1} µs  median {:>9.1} µs  p99 {:>9.1} µs  ({:.0} MB/s)",
        micros(stats.min),
        micros(stats.median),
        micros(stats.p99),
        bytes as f64 / stats.median.as_secs_f64() / 1e6,
    );
}

/// A deterministic pipeline of at least `size` bytes: many filters with
/// conditionals, grok, mutate, arrays and hashes.
fn generated_pipeline(size: usize) -> String {
    let mut out = String::from(
        "input {\n  beats { port => 5044 codec => json { charset => \"UTF-8\" } }\n}\nfilter {\n",
    );
    let mut i = 0usize;
    while out.len() < size {
        out.push_str(&format!(
            r#"  # rule {i}
  if [service] == "svc-{i}" and [level] in ["warn", "error"] or !([tags][skip]) {{
    grok {{
      match => {{ "message" => "%{{TIMESTAMP_ISO8601:ts}} %{{LOGLEVEL:level}} \[%{{DATA:thread}}\] %{{GREEDYDATA:msg{i}}}" }}
      tag_on_failure => ["_grok_{i}", "_failed"]
      timeout_millis => {i}
    }}
    mutate {{
      add_field => {{ "rule" => "r{i}" "weight" => "{w}.5" }}
      rename => {{ "host" => "[host][name]" }}
      remove_field => [ "agent", "ecs", "input_{i}" ]
      docker-path => "/var/log/svc-{i}"
    }}
  }} else if [message] =~ /^ERROR {i}\// {{
    drop {{ }}
  }} else {{
    date {{ match => [ "ts", "ISO8601" ] target => "@timestamp" }}
  }}
"#,
            w = i % 10,
        ));
        i += 1;
    }
    out.push_str("}\noutput {\n  elasticsearch { hosts => [\"http://es:9200\"] index => \"logs-%{+YYYY.MM.dd}\" }\n}\n");
    out
}

/// A JSON document of exactly `size` bytes with a similar mix of nesting,
/// strings and numbers.
fn json_document(size: usize) -> String {
    let mut items = Vec::new();
    let mut len = 0;
    let mut i = 0usize;
    loop {
        let item = format!(
            r#"{{"service":"svc-{i}","levels":["warn","error"],"grok":{{"match":{{"message":"%{{TIMESTAMP_ISO8601:ts}} %{{GREEDYDATA:msg{i}}}"}},"timeout_millis":{i}}},"mutate":{{"add_field":{{"rule":"r{i}","weight":{w}.5}},"remove_field":["agent","ecs","input_{i}"]}},"drop":false}}"#,
            w = i % 10,
        );
        // `{"items":[` + items + `],"pad":"` + pad + `"}` must still fit.
        if len + item.len() + 1 + 22 > size {
            break;
        }
        len += item.len() + 1;
        items.push(item);
        i += 1;
    }
    let head = format!("{{\"items\":[{}],\"pad\":\"", items.join(","));
    let pad = size.saturating_sub(head.len() + 2);
    format!("{head}{}\"}}", "x".repeat(pad))
}

fn corpus_dir() -> PathBuf {
    std::env::var_os("LOGSTASH_CORPUS_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/logstash-corpus"),
        PathBuf::from,
    )
}

fn largest_corpus_file() -> Option<(String, String)> {
    let dir = corpus_dir().join("valid");
    let largest = std::fs::read_dir(&dir)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| Some((entry.metadata().ok()?.len(), entry.path())))
        .max()?
        .1;
    let text = std::fs::read_to_string(&largest).ok()?;
    let name = largest.file_name()?.to_string_lossy().into_owned();
    Some((name, text))
}

fn bench_against_json(name: &str, src: &str) {
    logstash::parse(src).unwrap_or_else(|e| panic!("{name} does not parse: {e}"));
    let ours = measure(|| {
        black_box(logstash::parse(black_box(src)).is_ok());
    });
    report(name, src.len(), &ours);

    let json = json_document(src.len());
    serde_json::from_str::<serde_json::Value>(&json).expect("baseline JSON is valid");
    let baseline = measure(|| {
        black_box(serde_json::from_str::<serde_json::Value>(black_box(&json)).is_ok());
    });
    report(
        "  baseline: serde_json::Value, same size",
        json.len(),
        &baseline,
    );
    println!(
        "  ratio (our median / serde_json median): {:.2}\n",
        ours.median.as_secs_f64() / baseline.median.as_secs_f64()
    );
}

fn main() {
    println!("logstash parser: {ITERATIONS} iterations after {WARM_UP} warm-up runs\n");
    let generated = generated_pipeline(GENERATED_SIZE);
    bench_against_json("generated pipeline", &generated);
    match largest_corpus_file() {
        Some((name, text)) => bench_against_json(&format!("corpus {name}"), &text),
        None => println!(
            "corpus file skipped: no valid/ directory under {}",
            corpus_dir().display()
        ),
    }
}

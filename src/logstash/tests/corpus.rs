//! Runs the shared corpus of real and test-suite configs, when present.

use std::path::PathBuf;

use crate::logstash::parse_bytes;

fn corpus_dir() -> PathBuf {
    match std::env::var_os("LOGSTASH_CORPUS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/logstash-corpus"),
    }
}

fn conf_files(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "conf"))
        .collect();
    files.sort();
    files
}

#[test]
fn corpus() {
    let dir = corpus_dir();
    if !dir.is_dir() {
        println!(
            "logstash corpus skipped: {} does not exist (set LOGSTASH_CORPUS_DIR to run it)",
            dir.display()
        );
        return;
    }
    let mut failures = Vec::new();
    let valid = conf_files(&dir.join("valid"));
    for path in &valid {
        let bytes = std::fs::read(path).expect("read corpus file");
        if let Err(err) = parse_bytes(&bytes) {
            failures.push(format!(
                "valid/{}: {err}",
                path.file_name().unwrap().to_string_lossy()
            ));
        }
    }
    let invalid = conf_files(&dir.join("invalid"));
    for path in &invalid {
        let bytes = std::fs::read(path).expect("read corpus file");
        let name = path.file_name().unwrap().to_string_lossy();
        match parse_bytes(&bytes) {
            Ok(_) => failures.push(format!("invalid/{name}: parsed without error")),
            Err(err) if err.line == 0 || err.column == 0 => {
                failures.push(format!("invalid/{name}: error without a position: {err}"))
            }
            Err(err) => println!("invalid/{name}: {err}"),
        }
    }
    println!(
        "logstash corpus: checked {} valid and {} invalid files in {}",
        valid.len(),
        invalid.len(),
        dir.display()
    );
    assert!(
        failures.is_empty(),
        "{} corpus failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

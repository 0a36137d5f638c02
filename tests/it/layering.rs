//! The module layering of docs/design.md, checked on the sources: a module
//! that starts importing what it must not fails here, not in review.

use std::collections::BTreeSet;
use std::path::Path;

/// (module, modules it must not import).
const RULES: &[(&str, &[&str])] = &[
    ("events", &["*"]),
    ("logstash", &["*"]),
    ("backoff", &["*"]),
    ("telemetry", &["*"]),
    ("mesos", &["*", "!backoff"]),
    ("state", &["*", "!events", "!logstash"]),
    (
        "journal",
        &[
            "api",
            "scheduler",
            "executor",
            "mesos",
            "live",
            "server",
            "cli",
        ],
    ),
    (
        "live",
        &["api", "journal", "scheduler", "executor", "server", "cli"],
    ),
    ("views", &["api", "journal", "scheduler", "server", "cli"]),
    (
        "executor",
        &[
            "journal",
            "state",
            "api",
            "scheduler",
            "live",
            "server",
            "cli",
        ],
    ),
    ("scheduler", &["api", "server", "executor", "cli"]),
    (
        "configdir",
        &["api", "scheduler", "executor", "mesos", "server", "cli"],
    ),
    ("api", &["scheduler", "executor", "mesos", "server", "cli"]),
    ("local", &["api", "mesos", "scheduler", "cli"]),
    ("server", &["scheduler", "executor", "mesos", "cli"]),
];

fn sources(path: &Path, out: &mut Vec<String>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            sources(&entry.unwrap().path(), out);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        out.push(std::fs::read_to_string(path).unwrap());
    }
}

/// The crate's top-level modules `module`'s code names as `crate::<m>`.
fn imports(src: &Path, module: &str) -> BTreeSet<String> {
    let mut texts = Vec::new();
    let dir = src.join(module);
    if dir.is_dir() {
        sources(&dir, &mut texts);
    } else {
        sources(&src.join(format!("{module}.rs")), &mut texts);
    }
    let mut found = BTreeSet::new();
    for text in texts {
        for line in text.lines() {
            let code = line.split("//").next().unwrap_or_default();
            for (i, _) in code.match_indices("crate::") {
                let name: String = code[i + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() && name != module {
                    found.insert(name);
                }
            }
        }
    }
    found
}

#[test]
fn every_module_imports_only_what_its_layer_allows() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut broken = Vec::new();
    for (module, forbidden) in RULES {
        let imported = imports(&src, module);
        assert!(
            src.join(module).is_dir() || src.join(format!("{module}.rs")).is_file(),
            "no module {module}"
        );
        for name in &imported {
            let all = forbidden.contains(&"*") && !forbidden.contains(&format!("!{name}").as_str());
            if all || forbidden.contains(&name.as_str()) {
                broken.push(format!("{module} imports {name}"));
            }
        }
    }
    assert!(broken.is_empty(), "layering broken: {broken:?}");
    // The check sees imports at all: the scheduler does use the journal.
    assert!(imports(&src, "scheduler").contains("journal"));
}

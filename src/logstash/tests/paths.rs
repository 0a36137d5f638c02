//! `docker_paths` / `host_paths` extraction.

use super::{ok, slice};
use crate::logstash::{PathEntry, docker_paths, host_paths};

const PIPELINE: &str = r#"input {
  file {
    path => "/var/log/app/*.log"
    docker-path => "/var/log/app"
    host-path => "/srv/app/logs"
  }
  file {
    "docker-path" => '/data/in'
    'host-path' => "/mnt/in"
    codec => multiline {
      docker-path => "/codec/patterns"
    }
  }
}
filter {
  if [type] == "x" {
    translate { docker-path => "/etc/dict" }
  } else if [type] == "y" {
    translate { docker-path => "/etc/dict-y" host-path => "C:\\dicts \"y\"" }
  } else {
    if [z] { translate { docker-path => '/etc/it\'s' } }
  }
}
output {
  file {
    docker-path => ["/not", "/a/string"]
    docker-path => bareword
    docker-path => 12
    options => { "docker-path" => "/hash/entries/do/not/count" }
    docker-path => "/out"
    docker-path => "/out2"
  }
}
"#;

fn values(entries: &[PathEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.value.as_str()).collect()
}

#[test]
fn docker_paths_in_source_order_at_any_depth() {
    let config = ok(PIPELINE);
    let entries = docker_paths(&config);
    assert_eq!(
        values(&entries),
        [
            "/var/log/app",
            "/data/in",
            "/codec/patterns",
            "/etc/dict",
            "/etc/dict-y",
            "/etc/it's",
            "/out",
            "/out2",
        ]
    );
}

#[test]
fn host_paths_with_unescaping() {
    let config = ok(PIPELINE);
    let entries = host_paths(&config);
    assert_eq!(
        values(&entries),
        ["/srv/app/logs", "/mnt/in", r#"C:\dicts "y""#]
    );
}

#[test]
fn spans_slice_back_to_the_source() {
    let config = ok(PIPELINE);
    let entries = docker_paths(&config);
    assert_eq!(
        slice(PIPELINE, entries[0].attribute_span),
        r#"docker-path => "/var/log/app""#
    );
    assert_eq!(slice(PIPELINE, entries[0].value_span), r#""/var/log/app""#);
    assert_eq!(
        slice(PIPELINE, entries[1].attribute_span),
        r#""docker-path" => '/data/in'"#
    );
    assert_eq!(slice(PIPELINE, entries[5].value_span), r"'/etc/it\'s'");
    for entry in docker_paths(&config).iter().chain(&host_paths(&config)) {
        let attribute = slice(PIPELINE, entry.attribute_span);
        let value = slice(PIPELINE, entry.value_span);
        assert!(attribute.ends_with(value), "{attribute} / {value}");
        assert!(value.starts_with(['"', '\'']) && value.ends_with(['"', '\'']));
    }
}

#[test]
fn splicing_a_new_value_in_keeps_the_rest() {
    let config = ok(PIPELINE);
    let entry = &host_paths(&config)[0];
    let mut rewritten = PIPELINE.to_owned();
    rewritten.replace_range(entry.value_span.range(), "\"/elsewhere\"");
    let again = host_paths(&ok(&rewritten));
    assert_eq!(again[0].value, "/elsewhere");
    assert_eq!(again.len(), 3);
}

#[test]
fn no_paths_in_configs_without_them() {
    for src in ["", "input { stdin { } }", "filter { p { path => \"/x\" } }"] {
        let config = ok(src);
        assert!(docker_paths(&config).is_empty());
        assert!(host_paths(&config).is_empty());
    }
}

#[test]
fn plugins_inside_condition_arrays_count_too() {
    // The comma keeps the brackets from reading as a field reference.
    let config = ok("filter { if [a] in [ pp { docker-path => \"/odd\" }, 1 ] { } }");
    assert_eq!(values(&docker_paths(&config)), ["/odd"]);
}

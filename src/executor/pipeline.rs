//! The Logstash pipeline of one executor: a pure function of the config set,
//! the streams that run and where their spools are.

use std::collections::BTreeMap;

use crate::events::ConfigKind;
use crate::events::messages::ConfigSet;
use crate::logstash::render::{Part, Target, pipeline, render_docker, render_host};

use super::matching::{Desired, StreamKey};

/// The rendered pipeline and the configs that could not be rendered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pipeline {
    pub text: String,
    pub errors: Vec<String>,
}

/// Seed-compatible: for every running container matching a config, a
/// `# <name>` header and that config's snippet pointing at the container's
/// spool files; then the host-level configs with `host-path` below `host_root`.
pub fn render(
    configs: &ConfigSet,
    desired: &Desired,
    target: impl Fn(&StreamKey) -> Target,
    host_root: &str,
) -> Pipeline {
    // (config name, container id) → container name, in a stable order.
    let mut pairs: BTreeMap<(&str, &str), &str> = BTreeMap::new();
    for stream in desired.streams.values() {
        for config in &stream.configs {
            pairs.insert((config, &stream.key.container_id), &stream.container_name);
        }
    }
    let inputs: BTreeMap<&str, (&str, ConfigKind)> = configs
        .configs
        .iter()
        .map(|c| (c.name.as_str(), (c.input.as_str(), c.kind)))
        .collect();
    let mut parts = Vec::new();
    let mut errors = Vec::new();
    for ((name, container_id), container_name) in pairs {
        let Some((input, _)) = inputs.get(name) else {
            continue;
        };
        let rendered = render_docker(input, |path| {
            target(&StreamKey {
                container_id: container_id.to_owned(),
                path: path.to_owned(),
            })
        });
        match rendered {
            Ok(body) => parts.push(Part {
                header: name.to_owned(),
                body: format!(
                    "# container {} ({})\n{body}",
                    container_name.trim_start_matches('/'),
                    short(container_id)
                ),
            }),
            Err(e) => errors.push(format!("{name}: {e}")),
        }
    }
    for entry in configs
        .configs
        .iter()
        .filter(|c| c.kind == ConfigKind::Host)
    {
        match render_host(&entry.input, host_root) {
            Ok(body) => parts.push(Part {
                header: entry.name.clone(),
                body,
            }),
            Err(e) => errors.push(format!("{}: {e}", entry.name)),
        }
    }
    Pipeline {
        text: pipeline(&parts),
        errors,
    }
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::messages::ConfigEntry;
    use crate::executor::matching::{Container, desired_streams};

    fn container(id: &str, name: &str, image: &str) -> Container {
        Container {
            id: id.into(),
            name: name.into(),
            image: image.into(),
            labels: Default::default(),
            started_at: "t".into(),
        }
    }

    #[test]
    fn every_matching_container_gets_its_copy_then_host_configs() {
        let configs = ConfigSet {
            version: 9,
            configs: vec![
                ConfigEntry {
                    name: "nginx".into(),
                    kind: ConfigKind::Docker,
                    input: "input { file { docker-path => \"/var/log/access.log\" } }".into(),
                },
                ConfigEntry {
                    name: "ui".into(),
                    kind: ConfigKind::Host,
                    input:
                        "input { file { host-path => \"/var/log/syslog\" } }\noutput { stdout { } }"
                            .into(),
                },
            ],
        };
        let containers = [
            container("aaaaaaaaaaaaaaaa", "/web-1", "nginx:latest"),
            container("bbbbbbbbbbbbbbbb", "/web-2", "nginx"),
            container("cccccccccccccccc", "/db", "postgres"),
        ];
        let desired = desired_streams(&configs, &containers, None);
        let out = render(
            &configs,
            &desired,
            |key| Target {
                glob: format!("/spool/{}{}/spool.log*", key.container_id, key.path),
                sincedb: format!("/state/sincedb/{}", key.container_id),
            },
            "/host",
        );
        assert_eq!(out.errors, Vec::<String>::new());
        assert_eq!(
            out.text,
            "# nginx\n# container web-1 (aaaaaaaaaaaa)\ninput { file { path => \"/spool/aaaaaaaaaaaaaaaa/var/log/access.log/spool.log*\" start_position => \"beginning\" sincedb_path => \"/state/sincedb/aaaaaaaaaaaaaaaa\" } }\n\
             # nginx\n# container web-2 (bbbbbbbbbbbb)\ninput { file { path => \"/spool/bbbbbbbbbbbbbbbb/var/log/access.log/spool.log*\" start_position => \"beginning\" sincedb_path => \"/state/sincedb/bbbbbbbbbbbbbbbb\" } }\n\
             # ui\ninput { file { path => \"/host/var/log/syslog\" } }\noutput { stdout { } }\n"
        );
        assert!(crate::logstash::parse(&out.text).is_ok());
    }
}

//! The Logstash pipelines of one executor, one per config: a pure function of
//! the config set, the running containers, where their spools are and what
//! the agent is.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::events::ConfigKind;
use crate::events::messages::ConfigSet;
use crate::logstash::render::{
    ContainerInput, Metadata, Target, one_line, render_docker_pipeline, render_host,
};
use crate::logstash::{SectionKind, parse};

use super::matching::{Container, Desired, StreamKey};

/// What the metadata on every event says about the agent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentInfo {
    pub host_name: String,
    pub agent_id: String,
    pub framework_id: String,
    /// The container labels copied onto events (`--container-labels`).
    pub container_labels: Vec<String>,
}

/// The agent's hostname for `host.name`: `HOST`, which the Mesos agent sets
/// to its own hostname in the executor's environment, else the kernel's.
pub fn host_name() -> String {
    std::env::var("HOST")
        .ok()
        .filter(|h| !h.trim().is_empty())
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_owned())
        .unwrap_or_default()
}

/// One config's pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineFile {
    /// Logstash's `pipeline.id`, see [`pipeline_id`].
    pub id: String,
    pub config: String,
    pub text: String,
}

/// The rendered pipelines and the configs that could not be rendered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pipelines {
    /// Sorted by id.
    pub pipelines: Vec<PipelineFile>,
    pub errors: Vec<String>,
}

/// A pipeline id that stays the same for a config name across executors and
/// restarts (so Logstash reloads, not recreates, a changed config): the name
/// made safe for file names and URLs (Logstash uses the id in both), and a
/// hash of the exact name so two names that read alike never share an id.
pub fn pipeline_id(name: &str) -> String {
    let slug: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(48)
        .collect();
    let digest = Sha256::digest(name.as_bytes());
    let hash: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    let slug = match slug.trim_matches('_') {
        "" => "config",
        slug => slug,
    };
    format!("{slug}-{hash}")
}

/// A pipeline for every docker config that matches a running container or
/// listens itself (an input that reads no container file, e.g. `tcp`), and
/// for every host config. Within a docker pipeline, each matching container
/// gets its copy of the config's file inputs, with its metadata.
pub fn render(
    configs: &ConfigSet,
    desired: &Desired,
    containers: &[Container],
    target: impl Fn(&StreamKey) -> Target,
    host_root: &str,
    agent: &AgentInfo,
) -> Pipelines {
    // config name → container id → container name, in a stable order.
    let mut matched: BTreeMap<&str, BTreeMap<&str, (&str, &str)>> = BTreeMap::new();
    for stream in desired.streams.values() {
        for config in &stream.configs {
            matched.entry(config).or_default().insert(
                &stream.key.container_id,
                (&stream.container_name, &stream.image),
            );
        }
    }
    let labels_of = |id: &str| -> BTreeMap<String, String> {
        containers
            .iter()
            .find(|c| c.id == id)
            .map(|c| {
                c.labels
                    .iter()
                    .filter(|(k, _)| agent.container_labels.contains(k))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut out = Pipelines::default();
    for entry in &configs.configs {
        let rendered = match entry.kind {
            ConfigKind::Docker => {
                let inputs: Vec<ContainerInput> = matched
                    .get(entry.name.as_str())
                    .into_iter()
                    .flatten()
                    .map(|(id, (name, image))| ContainerInput {
                        metadata: Metadata {
                            container_id: (*id).to_owned(),
                            container_name: name.trim_start_matches('/').to_owned(),
                            image: (*image).to_owned(),
                            host_name: agent.host_name.clone(),
                            agent_id: agent.agent_id.clone(),
                            framework_id: agent.framework_id.clone(),
                            labels: labels_of(id),
                        },
                        label: format!("{} ({})", name.trim_start_matches('/'), short(id)),
                    })
                    .collect();
                render_docker_pipeline(&entry.input, &inputs, |meta, path| {
                    target(&StreamKey {
                        container_id: meta.container_id.clone(),
                        path: path.to_owned(),
                    })
                })
                .map(|text| (!inputs.is_empty() || has_inputs(&text)).then_some(text))
            }
            ConfigKind::Host => render_host(&entry.input, host_root).map(Some),
        };
        match rendered {
            Ok(Some(body)) => out.pipelines.push(PipelineFile {
                id: pipeline_id(&entry.name),
                config: entry.name.clone(),
                text: format!("# {}\n{body}", one_line(&entry.name)),
            }),
            Ok(None) => {}
            Err(e) => out.errors.push(format!("{}: {e}", entry.name)),
        }
    }
    out.pipelines.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// Whether a rendered pipeline has any input (a pipeline without one would
/// only start to stop).
fn has_inputs(text: &str) -> bool {
    parse(text).is_ok_and(|c| {
        c.sections
            .iter()
            .any(|s| s.kind == SectionKind::Input && !s.body.is_empty())
    })
}

/// Logstash's `pipelines.yml` for `pipelines`, whose files are
/// `<dir>/<id>.conf`. Strings are written as JSON strings, which YAML reads
/// as double-quoted scalars.
pub fn pipelines_yml(pipelines: &[PipelineFile], dir: &std::path::Path) -> String {
    let mut out = String::from("# Written by logstash-mesos: one pipeline per config.\n");
    if pipelines.is_empty() {
        out.push_str("[]\n");
    }
    for p in pipelines {
        let path = dir.join(format!("{}.conf", p.id));
        out.push_str(&format!(
            "- pipeline.id: {}\n  path.config: {}\n",
            serde_json::Value::from(p.id.as_str()),
            serde_json::Value::from(path.display().to_string())
        ));
    }
    out
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::messages::ConfigEntry;
    use crate::executor::matching::desired_streams;
    use crate::logstash::{Value, plugins};

    fn container(id: &str, name: &str, image: &str) -> Container {
        Container {
            id: id.into(),
            name: name.into(),
            image: image.into(),
            labels: [
                ("team".to_owned(), "web".to_owned()),
                ("secret".to_owned(), "x".to_owned()),
            ]
            .into(),
            started_at: "t".into(),
        }
    }

    fn configs() -> ConfigSet {
        ConfigSet {
            version: 9,
            configs: vec![
                ConfigEntry {
                    name: "nginx".into(),
                    kind: ConfigKind::Docker,
                    input: "input { file { docker-path => \"/var/log/access.log\" } }\noutput { stdout { } }".into(),
                },
                ConfigEntry {
                    name: "postgres".into(),
                    kind: ConfigKind::Docker,
                    input: "input { file { docker-path => \"/var/log/pg.log\" } }".into(),
                },
                ConfigEntry {
                    name: "syslog/listener".into(),
                    kind: ConfigKind::Docker,
                    input: "input { udp { port => 5514 } }".into(),
                },
                ConfigEntry {
                    name: "ui".into(),
                    kind: ConfigKind::Host,
                    input:
                        "input { file { host-path => \"/var/log/syslog\" } }\noutput { stdout { } }"
                            .into(),
                },
            ],
        }
    }

    fn rendered() -> Pipelines {
        let configs = configs();
        let containers = [
            container("aaaaaaaaaaaaaaaa", "/web-1", "nginx:latest"),
            container("bbbbbbbbbbbbbbbb", "/web-2", "nginx"),
        ];
        let desired = desired_streams(&configs, &containers, None);
        render(
            &configs,
            &desired,
            &containers,
            |key| Target {
                glob: format!("/spool/{}{}/spool.log*", key.container_id, key.path),
                sincedb: format!("/state/sincedb/{}", key.container_id),
            },
            "/host",
            &AgentInfo {
                host_name: "agent-1".into(),
                agent_id: "S1".into(),
                framework_id: "F1".into(),
                container_labels: vec!["team".into()],
            },
        )
    }

    #[test]
    fn one_pipeline_per_config_that_applies() {
        let out = rendered();
        assert_eq!(out.errors, Vec::<String>::new());
        let names: Vec<&str> = out.pipelines.iter().map(|p| p.config.as_str()).collect();
        // postgres matches no container and listens nowhere: no pipeline.
        assert_eq!(names, ["nginx", "syslog/listener", "ui"]);
        for p in &out.pipelines {
            assert_eq!(p.id, pipeline_id(&p.config));
            assert!(p.text.starts_with(&format!("# {}\n", p.config)));
            parse(&p.text).unwrap_or_else(|e| panic!("{e}\n{}", p.text));
        }
        let nginx = parse(&out.pipelines[0].text).unwrap();
        let files: Vec<_> = plugins(&nginx)
            .into_iter()
            .filter(|p| p.name == "file")
            .collect();
        assert_eq!(files.len(), 2);
        let stdouts = plugins(&nginx)
            .into_iter()
            .filter(|p| p.name == "stdout")
            .count();
        assert_eq!(stdouts, 1, "the output is not copied per container");
        let text = &out.pipelines[0].text;
        assert!(
            text.contains("\"[container][labels][team]\" => \"web\""),
            "{text}"
        );
        assert!(!text.contains("secret"), "{text}");
        assert!(text.contains("\"[mesos][agent][id]\" => \"S1\""), "{text}");
        let host = parse(&out.pipelines[2].text).unwrap();
        let path = plugins(&host)[0]
            .attributes
            .iter()
            .find_map(|a| match &a.value {
                Value::String(s) if a.name == "path" => Some(s.unescaped()),
                _ => None,
            });
        assert_eq!(path.as_deref(), Some("/host/var/log/syslog"));
    }

    #[test]
    fn ids_are_stable_distinct_and_safe() {
        assert_eq!(pipeline_id("nginx"), pipeline_id("nginx"));
        assert_ne!(pipeline_id("a/b"), pipeline_id("a_b"));
        let id = pipeline_id("registry.example.com:5000/team/App:1.0");
        assert!(
            id.starts_with("registry_example_com_5000_team_app_1_0-"),
            "{id}"
        );
        assert!(
            id.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        );
        assert!(pipeline_id(&"x".repeat(500)).len() < 60);
        assert!(pipeline_id("*").starts_with("config-"));
    }

    #[test]
    fn pipelines_yml_names_every_file() {
        let out = rendered();
        let yml = pipelines_yml(&out.pipelines, std::path::Path::new("/ls/pipelines"));
        for p in &out.pipelines {
            assert!(yml.contains(&format!(
                "- pipeline.id: \"{}\"\n  path.config: \"/ls/pipelines/{}.conf\"\n",
                p.id, p.id
            )));
        }
        assert!(pipelines_yml(&[], std::path::Path::new("/x")).ends_with("[]\n"));
    }
}

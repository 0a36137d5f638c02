//! Which streams should run: a pure function of the config set, the running
//! containers and the opt-in label.
//!
//! The seed matched a config's name against the image exactly as Docker
//! reports it (the `Image` of the container list, i.e. what the container was
//! started with); we keep that, make `name` and `name:latest` equivalent, and
//! add globs so one config can serve a whole family of images.

use std::collections::{BTreeMap, BTreeSet};

use crate::events::ConfigKind;
use crate::events::messages::ConfigSet;
use crate::logstash;

/// A running container as discovery sees it; only what matching and
/// streaming need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    /// The full 64-hex-digit id.
    pub id: String,
    /// The name without Docker's leading `/`.
    pub name: String,
    /// The image as Docker reports it (what the container was started with).
    pub image: String,
    pub labels: BTreeMap<String, String>,
    /// When the container was last started (Docker's `State.StartedAt`):
    /// a stream that failed is retried only once this changes, and processes
    /// left in the container by an earlier executor are only ours to kill if
    /// the container has not restarted since.
    pub started_at: String,
}

/// The one stream per (container, file): the unit of checkpointing.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamKey {
    pub container_id: String,
    /// The `docker-path`, exactly as written in the config.
    pub path: String,
}

/// A stream that should run, with what the reports and the renderer need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredStream {
    pub key: StreamKey,
    /// Every config that asks for this file in this container, sorted; the
    /// stream runs once however many there are.
    pub configs: Vec<String>,
    pub image: String,
    pub container_name: String,
    pub started_at: String,
}

/// A config that could not be used, and why; shown to the operator instead
/// of silently streaming nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedConfig {
    pub name: String,
    pub reason: String,
}

/// The outcome of [`desired_streams`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Desired {
    pub streams: BTreeMap<StreamKey, DesiredStream>,
    pub skipped: Vec<SkippedConfig>,
}

/// The opt-in label (`--require-label KEY=VALUE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequiredLabel {
    pub key: String,
    pub value: String,
}

/// Why a `--require-label` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    #[error("the required label must be KEY=VALUE, got {0:?}")]
    MissingEquals(String),
    #[error("the required label has an empty key")]
    EmptyKey,
}

impl std::str::FromStr for RequiredLabel {
    type Err = LabelError;

    /// Splits at the first `=`, so values may contain `=`; an empty value is
    /// allowed (Docker labels may be empty) but an empty key is not.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (key, value) = s
            .split_once('=')
            .ok_or_else(|| LabelError::MissingEquals(s.to_owned()))?;
        if key.is_empty() {
            return Err(LabelError::EmptyKey);
        }
        Ok(RequiredLabel {
            key: key.to_owned(),
            value: value.to_owned(),
        })
    }
}

impl RequiredLabel {
    /// Whether the container opted in.
    pub fn admits(&self, container: &Container) -> bool {
        container.labels.get(&self.key) == Some(&self.value)
    }
}

/// Whether a config named `name` applies to a container started from `image`.
///
/// * Without `*`: equal, where a reference without a tag (and without a
///   digest) means `:latest`, both ways (`nginx` ≡ `nginx:latest`).
/// * With `*`: a glob over the whole reference. `*` matches any run of
///   characters except `/`, so `myorg/*` matches `myorg/app:1.2` but not
///   `myorg/team/app`; `**` also crosses `/`. A glob is tried against the
///   image as reported and against its `:latest` form, so `nginx:*` also
///   matches a container started from plain `nginx`.
pub fn name_matches(name: &str, image: &str) -> bool {
    if name.contains('*') {
        let pattern = name.as_bytes();
        glob(pattern, image.as_bytes()) || glob(pattern, with_latest(image).as_bytes())
    } else {
        with_latest(name) == with_latest(image)
    }
}

/// `image` with `:latest` appended when it names no tag and no digest.
fn with_latest(image: &str) -> std::borrow::Cow<'_, str> {
    let last = image.rsplit('/').next().unwrap_or(image);
    if image.contains('@') || last.contains(':') || image.is_empty() {
        image.into()
    } else {
        format!("{image}:latest").into()
    }
}

/// Glob with `*` (not crossing `/`) and `**` (crossing `/`); everything else
/// is literal. Iterative with backtracking to the last star, so it runs in
/// O(len(pattern) × len(text)) at worst and never recurses.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    // Compile into tokens first so `**` is one token.
    #[derive(Clone, Copy, PartialEq)]
    enum Tok {
        Lit(u8),
        Star,
        DoubleStar,
    }
    let mut toks = Vec::with_capacity(pattern.len());
    let mut i = 0;
    while i < pattern.len() {
        if pattern[i] == b'*' {
            let mut j = i;
            while j < pattern.len() && pattern[j] == b'*' {
                j += 1;
            }
            toks.push(if j - i >= 2 {
                Tok::DoubleStar
            } else {
                Tok::Star
            });
            i = j;
        } else {
            toks.push(Tok::Lit(pattern[i]));
            i += 1;
        }
    }
    // Dynamic programming over (token, text position): reachable[t] says
    // whether text[..pos] can be matched by toks[..t].
    let mut reachable = vec![false; toks.len() + 1];
    reachable[0] = true;
    for t in 0..toks.len() {
        if reachable[t] && matches!(toks[t], Tok::Star | Tok::DoubleStar) {
            reachable[t + 1] = true;
        }
    }
    for &c in text {
        let mut next = vec![false; toks.len() + 1];
        for t in 0..toks.len() {
            if !reachable[t] {
                continue;
            }
            match toks[t] {
                Tok::Lit(l) if l == c => next[t + 1] = true,
                Tok::Lit(_) => {}
                Tok::Star if c != b'/' => next[t] = true,
                Tok::Star => {}
                Tok::DoubleStar => next[t] = true,
            }
        }
        // A star may also match nothing at the new position.
        for t in 0..toks.len() {
            if next[t] && matches!(toks[t], Tok::Star | Tok::DoubleStar) {
                next[t + 1] = true;
            }
        }
        reachable = next;
    }
    reachable[toks.len()]
}

/// The streams that should run: one per (container, `docker-path`) of every
/// docker-kind config whose name matches the container's image, among the
/// containers the opt-in label admits (all of them without one).
///
/// Configs that do not parse are skipped and reported, never fatal: the
/// scheduler validates configs, so this only happens with a config written
/// by a newer or buggy scheduler, and the others must keep streaming.
pub fn desired_streams(
    configs: &ConfigSet,
    containers: &[Container],
    required: Option<&RequiredLabel>,
) -> Desired {
    let mut desired = Desired::default();
    let mut parsed: Vec<(&str, Vec<String>)> = Vec::new();
    for entry in &configs.configs {
        if entry.kind != ConfigKind::Docker {
            continue;
        }
        match logstash::parse(&entry.input) {
            Ok(config) => {
                let paths: BTreeSet<String> = logstash::docker_paths(&config)
                    .into_iter()
                    .map(|p| p.value)
                    .collect();
                parsed.push((&entry.name, paths.into_iter().collect()));
            }
            Err(err) => desired.skipped.push(SkippedConfig {
                name: entry.name.clone(),
                reason: format!("the config does not parse: {err}"),
            }),
        }
    }
    for container in containers {
        if required.is_some_and(|label| !label.admits(container)) {
            continue;
        }
        for (name, paths) in &parsed {
            if !name_matches(name, &container.image) {
                continue;
            }
            for path in paths {
                let key = StreamKey {
                    container_id: container.id.clone(),
                    path: path.clone(),
                };
                let stream = desired
                    .streams
                    .entry(key.clone())
                    .or_insert_with(|| DesiredStream {
                        key,
                        configs: Vec::new(),
                        image: container.image.clone(),
                        container_name: container.name.clone(),
                        started_at: container.started_at.clone(),
                    });
                if !stream.configs.iter().any(|c| c == name) {
                    stream.configs.push((*name).to_owned());
                    stream.configs.sort();
                }
            }
        }
    }
    desired
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::messages::ConfigEntry;

    fn container(id: &str, image: &str, labels: &[(&str, &str)]) -> Container {
        Container {
            id: id.into(),
            name: format!("name-{id}"),
            image: image.into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            started_at: "t1".into(),
        }
    }

    fn config(name: &str, input: &str) -> ConfigEntry {
        ConfigEntry {
            name: name.into(),
            kind: ConfigKind::Docker,
            input: input.into(),
        }
    }

    fn file(paths: &[&str]) -> String {
        let inputs: String = paths
            .iter()
            .map(|p| format!("file {{ docker-path => \"{p}\" }} "))
            .collect();
        format!("input {{ {inputs} }}")
    }

    #[test]
    fn exact_names_treat_missing_tag_as_latest_both_ways() {
        assert!(name_matches("nginx", "nginx"));
        assert!(name_matches("nginx", "nginx:latest"));
        assert!(name_matches("nginx:latest", "nginx"));
        assert!(!name_matches("nginx", "nginx:1.25"));
        assert!(!name_matches("nginx:1.25", "nginx"));
        assert!(!name_matches("nginx", "nginx-extra"));
        assert!(name_matches(
            "registry:5000/app",
            "registry:5000/app:latest"
        ));
        assert!(!name_matches("registry:5000/app", "registry:5000/app:2"));
        // A digest is never rewritten.
        assert!(!name_matches("app@sha256:ab", "app@sha256:ab:latest"));
        assert!(name_matches("app@sha256:ab", "app@sha256:ab"));
    }

    #[test]
    fn globs_do_not_cross_slashes_unless_doubled() {
        assert!(name_matches("myorg/*", "myorg/app"));
        assert!(name_matches("myorg/*", "myorg/app:1.2"));
        assert!(!name_matches("myorg/*", "myorg/team/app"));
        assert!(name_matches("myorg/**", "myorg/team/app"));
        assert!(!name_matches("myorg/*", "other/app"));
        assert!(name_matches("nginx:1.*", "nginx:1.25"));
        assert!(!name_matches("nginx:1.*", "nginx:2.0"));
        assert!(!name_matches("nginx:1.*", "nginx"));
        assert!(name_matches("nginx:*", "nginx"));
        assert!(name_matches("*", "busybox"));
        assert!(!name_matches("*", "library/busybox"));
        assert!(name_matches("*box*", "busybox:1"));
        assert!(name_matches("a*b*c", "aXbYc"));
        assert!(!name_matches("a*b*c", "aXbY"));
    }

    #[test]
    fn glob_is_not_exponential() {
        let text = "a".repeat(200);
        let pattern = "*a".repeat(50) + "b";
        assert!(!name_matches(&pattern, &text));
    }

    #[test]
    fn one_stream_per_container_and_path() {
        let set = ConfigSet {
            version: 3,
            configs: vec![
                config(
                    "busybox",
                    &file(&["/var/log/a", "/var/log/b", "/var/log/a"]),
                ),
                config("busy*", &file(&["/var/log/b", "/var/log/c"])),
                config("nginx", &file(&["/n"])),
            ],
        };
        let containers = [
            container("c1", "busybox:latest", &[]),
            container("c2", "nginx:1", &[]),
        ];
        let desired = desired_streams(&set, &containers, None);
        let keys: Vec<_> = desired
            .streams
            .keys()
            .map(|k| (k.container_id.as_str(), k.path.as_str()))
            .collect();
        assert_eq!(
            keys,
            [
                ("c1", "/var/log/a"),
                ("c1", "/var/log/b"),
                ("c1", "/var/log/c")
            ]
        );
        let b = &desired.streams[&StreamKey {
            container_id: "c1".into(),
            path: "/var/log/b".into(),
        }];
        assert_eq!(b.configs, ["busy*", "busybox"]);
        assert_eq!(b.image, "busybox:latest");
        assert_eq!(b.container_name, "name-c1");
        assert!(desired.skipped.is_empty());
    }

    #[test]
    fn broken_and_host_configs_are_not_streamed() {
        let mut host = config("busybox", &file(&["/h"]));
        host.kind = ConfigKind::Host;
        let set = ConfigSet {
            version: 1,
            configs: vec![config("busybox", "input { file { "), host],
        };
        let desired = desired_streams(&set, &[container("c1", "busybox", &[])], None);
        assert!(desired.streams.is_empty());
        assert_eq!(desired.skipped.len(), 1);
        assert_eq!(desired.skipped[0].name, "busybox");
        assert!(desired.skipped[0].reason.contains("does not parse"));
    }

    #[test]
    fn opt_in_label_admits_only_labelled_containers() {
        let label: RequiredLabel = "logstash-mesos.enable=true".parse().unwrap();
        let set = ConfigSet {
            version: 1,
            configs: vec![config("busybox", &file(&["/a"]))],
        };
        let containers = [
            container("yes", "busybox", &[("logstash-mesos.enable", "true")]),
            container("no", "busybox", &[("logstash-mesos.enable", "false")]),
            container("none", "busybox", &[]),
        ];
        let desired = desired_streams(&set, &containers, Some(&label));
        let ids: Vec<_> = desired
            .streams
            .keys()
            .map(|k| k.container_id.as_str())
            .collect();
        assert_eq!(ids, ["yes"]);
        assert_eq!(desired_streams(&set, &containers, None).streams.len(), 3);
    }

    #[test]
    fn required_label_parsing() {
        assert_eq!(
            "a=b=c".parse::<RequiredLabel>().unwrap(),
            RequiredLabel {
                key: "a".into(),
                value: "b=c".into()
            }
        );
        assert_eq!("k=".parse::<RequiredLabel>().unwrap().value, "");
        assert_eq!(
            "k".parse::<RequiredLabel>(),
            Err(LabelError::MissingEquals("k".into()))
        );
        assert_eq!("=v".parse::<RequiredLabel>(), Err(LabelError::EmptyKey));
    }
}

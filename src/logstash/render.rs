//! Rendering the pipelines an executor gives Logstash.
//!
//! One pipeline per config. A docker config's pipeline holds the operator's
//! text once (filters, outputs, inputs that do not read container files),
//! with every input plugin that has a `docker-path` taken out and copied
//! once per matching container and path, under a `# container` comment: its
//! `docker-path` becomes `path` pointing at that container's spool files,
//! and the container's metadata is added in ECS field names. Edits are
//! spliced into the operator's text, so comments and layout survive and the
//! result reads like what they wrote.

use std::collections::{BTreeMap, BTreeSet};

use super::ast::{Config, SectionKind, Span, Value};
use super::{ParseError, parse, plugins};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("the config does not parse: {0}")]
    Parse(#[from] ParseError),
    #[error("path {0:?} cannot be written into a Logstash string")]
    UnsafePath(String),
    #[error("the rendered config does not parse ({0}); this is a bug")]
    Rendered(ParseError),
}

/// Settings that rendering owns in a plugin that reads spool files; the
/// operator's own values would point Logstash elsewhere.
const REPLACED: &[&str] = &["path", "start_position", "sincedb_path"];

/// Where the generated fields that the file input itself also sets are kept
/// until the pipeline's first filter puts them in place (see [`HEAD_FILTER`]).
const META: &str = "[@metadata][logstash_mesos]";

/// The file input sets `[log][file][path]` (the spool file it read) and
/// `[host][name]` (the host Logstash runs on) itself, before `add_field`,
/// and `add_field` on an existing field makes an array. So those two travel
/// in `@metadata` and this filter, first in the pipeline, replaces the file
/// input's values (recognized by being equal to the `[@metadata][path]` /
/// `[@metadata][host]` it also sets), never a value the event brought.
/// Source: logstash-input-file 4.4, `lib/logstash/inputs/file.rb`
/// (`post_process_this`: `attempt_set` only sets an absent field).
pub const HEAD_FILTER: &str = "filter {\n  if [@metadata][logstash_mesos][log_file_path] and [log][file][path] == [@metadata][path] {\n    mutate { replace => { \"[log][file][path]\" => \"%{[@metadata][logstash_mesos][log_file_path]}\" } }\n  }\n  if [@metadata][logstash_mesos][host_name] and [host][name] == [@metadata][host] {\n    mutate { replace => { \"[host][name]\" => \"%{[@metadata][logstash_mesos][host_name]}\" } }\n  }\n}\n";

/// Where one docker-path's lines are for Logstash: the spool glob and the
/// sincedb that records how far Logstash read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub glob: String,
    pub sincedb: String,
}

/// What every event read from one container's spool says about where it
/// came from; empty values are left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    pub container_id: String,
    pub container_name: String,
    pub image: String,
    /// The agent's hostname.
    pub host_name: String,
    pub agent_id: String,
    pub framework_id: String,
    /// Only the labels the operator chose (`--container-labels`).
    pub labels: BTreeMap<String, String>,
}

impl Metadata {
    /// The `add_field` entries for one path of the container, in ECS names
    /// (`[a][b]` field references, as Logstash nests them).
    pub fn fields(&self, path: &str) -> Vec<(String, String)> {
        let mut out = vec![
            ("[container][id]".to_owned(), self.container_id.clone()),
            ("[container][name]".to_owned(), self.container_name.clone()),
            ("[container][image][name]".to_owned(), self.image.clone()),
            ("[mesos][agent][id]".to_owned(), self.agent_id.clone()),
            (
                "[mesos][framework][id]".to_owned(),
                self.framework_id.clone(),
            ),
        ];
        for (key, value) in &self.labels {
            if field_name_ok(key) {
                out.push((format!("[container][labels][{key}]"), value.clone()));
            }
        }
        out.push((format!("{META}[log_file_path]"), path.to_owned()));
        out.push((format!("{META}[host_name]"), self.host_name.clone()));
        // `add_field` values go through sprintf: a `%{` would be replaced
        // by another field, so such a value cannot be written faithfully.
        out.retain(|(_, v)| !v.is_empty() && !v.contains("%{") && quote_any(v).is_ok());
        out
    }
}

/// A name that can sit inside `[...]` of a field reference.
fn field_name_ok(name: &str) -> bool {
    !name.is_empty()
        && !name.contains(['[', ']', ',', '"', '\'', '\\'])
        && !name.chars().any(char::is_control)
}

/// The field a `add_field` key names, for comparing keys written either as
/// `[a][b]` or `a`.
fn field_key(key: &str) -> String {
    let key = key.trim();
    if key.starts_with('[') {
        key.trim_start_matches('[')
            .trim_end_matches(']')
            .split("][")
            .collect::<Vec<_>>()
            .join(".")
    } else {
        key.to_owned()
    }
}

/// One container a docker config applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerInput {
    pub metadata: Metadata,
    /// A comment line naming the container (control characters removed).
    pub label: String,
}

/// A docker config's pipeline: the operator's text with its `docker-path`
/// inputs taken out, then, per container, an `input { }` holding a copy of
/// each of them for each of its paths (see [`render_inputs`]). With no
/// container, only the rest of the config.
pub fn render_docker_pipeline(
    input: &str,
    containers: &[ContainerInput],
    target: impl Fn(&Metadata, &str) -> Target,
) -> Result<String, RenderError> {
    let config = parse(input)?;
    let readers = docker_inputs(&config);
    let mut out = String::new();
    if !containers.is_empty() && !readers.is_empty() {
        out.push_str(HEAD_FILTER);
    }
    let removed: Vec<(Span, String)> = readers.iter().map(|p| (*p, String::new())).collect();
    out.push_str(&splice(input, removed));
    if !out.ends_with('\n') {
        out.push('\n');
    }
    if !readers.is_empty() {
        for container in containers {
            let copies = render_inputs(
                input,
                &config,
                &readers,
                |path| target(&container.metadata, path),
                &container.metadata,
            )?;
            out.push_str("# container ");
            out.push_str(&one_line(&container.label));
            out.push_str("\ninput {\n");
            out.push_str(&copies);
            out.push_str("\n}\n");
        }
    }
    parse(&out).map_err(RenderError::Rendered)?;
    Ok(out)
}

/// Input plugins (anywhere in an input section) that read a `docker-path`;
/// a plugin nested in one of them goes with it.
fn docker_inputs(config: &Config) -> Vec<Span> {
    let inputs: Vec<Span> = config
        .sections
        .iter()
        .filter(|s| s.kind == SectionKind::Input)
        .map(|s| s.span)
        .collect();
    let within = |inner: Span, outer: Span| outer.start <= inner.start && inner.end <= outer.end;
    let mut found: Vec<Span> = Vec::new();
    for plugin in plugins(config) {
        let reads = plugin
            .attributes
            .iter()
            .any(|a| a.name == "docker-path" && matches!(a.value, Value::String(_)));
        if reads
            && inputs.iter().any(|s| within(plugin.span, *s))
            && !found.iter().any(|s| within(plugin.span, *s))
        {
            found.push(plugin.span);
        }
    }
    found
}

/// The copies of the `docker-path` plugins at `readers` for one container:
/// `path` set to each path's spool glob, with `start_position =>
/// "beginning"` so no spooled line is skipped and the path's own
/// `sincedb_path` (the spool's accounting reads it), and `add_field` with
/// the container's metadata, except for fields the plugin's own `add_field`
/// sets (the operator's win). A plugin with several `docker-path`s becomes
/// one copy per path.
fn render_inputs(
    input: &str,
    config: &Config,
    readers: &[Span],
    target: impl Fn(&str) -> Target,
    metadata: &Metadata,
) -> Result<String, RenderError> {
    let mut copies = Vec::new();
    for plugin in plugins(config)
        .into_iter()
        .filter(|p| readers.contains(&p.span))
    {
        let docker_paths: Vec<(Span, String)> = plugin
            .attributes
            .iter()
            .filter(|a| a.name == "docker-path")
            .filter_map(|a| match &a.value {
                Value::String(s) => Some((a.span, s.unescaped())),
                _ => None,
            })
            .collect();
        let owned: Vec<Span> = plugin
            .attributes
            .iter()
            .filter(|a| REPLACED.contains(&a.name.as_str()))
            .map(|a| a.span)
            .collect();
        // The operator's `add_field` hash, if any: ours go inside it.
        let user_fields = plugin.attributes.iter().find_map(|a| match &a.value {
            Value::Hash(hash) if a.name == "add_field" => Some(hash),
            _ => None,
        });
        let taken: BTreeSet<String> = user_fields
            .iter()
            .flat_map(|h| &h.entries)
            .filter_map(|e| match &e.key {
                super::ast::HashKey::String(s) => Some(field_key(&s.unescaped())),
                super::ast::HashKey::Bareword(b) => Some(field_key(&b.text)),
                super::ast::HashKey::Number(_) => None,
            })
            .collect();
        for (i, (_, path)) in docker_paths.iter().enumerate() {
            let t = target(path);
            let ours: Vec<String> = metadata
                .fields(path)
                .into_iter()
                .filter(|(k, _)| !taken.contains(&field_key(k)))
                .map(|(k, v)| Ok(format!("{} => {}", quote_any(&k)?, quote_any(&v)?)))
                .collect::<Result<_, RenderError>>()?;
            let mut settings = format!(
                "path => {} start_position => \"beginning\" sincedb_path => {}",
                quote(&t.glob)?,
                quote(&t.sincedb)?
            );
            let mut local: Vec<(Span, String)> = Vec::new();
            match user_fields {
                Some(hash) if !ours.is_empty() => {
                    let at = hash.span.end - 1;
                    local.push((
                        relative(Span { start: at, end: at }, plugin.span),
                        format!(" {} ", ours.join(" ")),
                    ));
                }
                None if !ours.is_empty() => {
                    settings.push_str(&format!(" add_field => {{ {} }}", ours.join(" ")));
                }
                _ => {}
            }
            for (j, (span, _)) in docker_paths.iter().enumerate() {
                let text = if i == j {
                    settings.clone()
                } else {
                    String::new()
                };
                local.push((relative(*span, plugin.span), text));
            }
            local.extend(
                owned
                    .iter()
                    .map(|s| (relative(*s, plugin.span), String::new())),
            );
            copies.push(splice(&input[plugin.span.start..plugin.span.end], local));
        }
    }
    Ok(copies.join("\n"))
}

fn relative(span: Span, outer: Span) -> Span {
    Span {
        start: span.start - outer.start,
        end: span.end - outer.start,
    }
}

/// Rewrites a host config: each `host-path => "/p"` becomes `path => "<root>/p"`,
/// where `root` is where the agent's root file system is visible to Logstash.
pub fn render_host(input: &str, root: &str) -> Result<String, RenderError> {
    let config = parse(input)?;
    let mut edits = Vec::new();
    for entry in super::host_paths(&config) {
        let full = format!(
            "{}/{}",
            root.trim_end_matches('/'),
            entry.value.trim_start_matches('/')
        );
        edits.push((entry.attribute_span, format!("path => {}", quote(&full)?)));
    }
    let out = splice(input, edits);
    parse(&out).map_err(RenderError::Rendered)?;
    Ok(out)
}

/// Text for a `#` comment line.
pub fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A double-quoted Logstash string. Logstash does not process escapes by
/// default, so a path holding `"` or `\` cannot be written faithfully.
fn quote(path: &str) -> Result<String, RenderError> {
    if path.contains(['"', '\\']) || path.chars().any(char::is_control) {
        return Err(RenderError::UnsafePath(path.to_owned()));
    }
    Ok(format!("\"{path}\""))
}

/// A Logstash string in whichever quotes the text does not hold.
fn quote_any(text: &str) -> Result<String, RenderError> {
    quote(text).or_else(|e| {
        if text.contains(['\'', '\\']) || text.chars().any(char::is_control) {
            Err(e)
        } else {
            Ok(format!("'{text}'"))
        }
    })
}

/// Applies non-overlapping edits; an edit inside an earlier-replaced span
/// (a plugin nested in a rewritten plugin) is dropped with it.
fn splice(input: &str, mut edits: Vec<(Span, String)>) -> String {
    edits.sort_by_key(|(span, _)| (span.start, span.end));
    let mut out = String::with_capacity(input.len());
    let mut at = 0;
    for (span, text) in edits {
        if span.start < at {
            continue;
        }
        out.push_str(&input[at..span.start]);
        out.push_str(&text);
        at = span.end;
    }
    out.push_str(&input[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logstash::{HashKey, Plugin};

    fn target(meta: &Metadata, path: &str) -> Target {
        Target {
            glob: format!("/spool/{}{path}/spool.log*", meta.container_id),
            sincedb: format!(
                "/state/sincedb/{}{}",
                meta.container_id,
                path.replace('/', "_")
            ),
        }
    }

    fn web1() -> ContainerInput {
        ContainerInput {
            metadata: Metadata {
                container_id: "c1".into(),
                container_name: "web-1".into(),
                image: "nginx:1.27".into(),
                host_name: "agent-7.example".into(),
                agent_id: "A-S7".into(),
                framework_id: "F-0001".into(),
                labels: [("com.example.team".to_owned(), "payments".to_owned())].into(),
            },
            label: "web-1 (c1)".into(),
        }
    }

    /// Every plugin named `name` in the rendered text, read back with the
    /// project's own parser.
    fn plugins_named(text: &str, name: &str) -> Vec<Plugin> {
        let config = parse(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        plugins(&config)
            .into_iter()
            .filter(|p| p.name == name)
            .cloned()
            .collect()
    }

    fn string(plugin: &Plugin, name: &str) -> Option<String> {
        plugin.attributes.iter().find_map(|a| match &a.value {
            Value::String(s) if a.name == name => Some(s.unescaped()),
            _ => None,
        })
    }

    /// The `add_field` entries of a plugin, key → every value given.
    fn added(plugin: &Plugin) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for a in plugin.attributes.iter().filter(|a| a.name == "add_field") {
            let Value::Hash(hash) = &a.value else {
                continue;
            };
            for e in &hash.entries {
                let key = match &e.key {
                    HashKey::String(s) => s.unescaped(),
                    HashKey::Bareword(b) => b.text.clone(),
                    HashKey::Number(n) => format!("{n:?}"),
                };
                if let Value::String(v) = &e.value {
                    out.entry(key).or_default().push(v.unescaped());
                }
            }
        }
        out
    }

    #[test]
    fn every_copy_carries_the_container_metadata_in_ecs_names() {
        let input = "# nginx logs\ninput {\n  file {\n    docker-path => \"/var/log/nginx/access.log\"\n    type => \"nginx\"\n  }\n}\nfilter { grok { match => { \"message\" => \"%{COMBINEDAPACHELOG}\" } } }\n";
        let out = render_docker_pipeline(input, &[web1()], target).unwrap();
        let files = plugins_named(&out, "file");
        assert_eq!(files.len(), 1, "{out}");
        let file = &files[0];
        assert_eq!(
            string(file, "path").as_deref(),
            Some("/spool/c1/var/log/nginx/access.log/spool.log*")
        );
        assert_eq!(string(file, "start_position").as_deref(), Some("beginning"));
        assert_eq!(string(file, "type").as_deref(), Some("nginx"));
        let fields = added(file);
        let one = |k: &str| fields.get(k).map(|v| v.join("|"));
        assert_eq!(one("[container][id]").as_deref(), Some("c1"));
        assert_eq!(one("[container][name]").as_deref(), Some("web-1"));
        assert_eq!(
            one("[container][image][name]").as_deref(),
            Some("nginx:1.27")
        );
        assert_eq!(one("[mesos][agent][id]").as_deref(), Some("A-S7"));
        assert_eq!(one("[mesos][framework][id]").as_deref(), Some("F-0001"));
        assert_eq!(
            one("[container][labels][com.example.team]").as_deref(),
            Some("payments")
        );
        assert_eq!(
            one("[@metadata][logstash_mesos][log_file_path]").as_deref(),
            Some("/var/log/nginx/access.log")
        );
        assert_eq!(
            one("[@metadata][logstash_mesos][host_name]").as_deref(),
            Some("agent-7.example")
        );
        // The head filter puts the container path and agent name in place,
        // and the operator's filter stays once.
        assert!(out.starts_with(HEAD_FILTER), "{out}");
        assert_eq!(plugins_named(&out, "grok").len(), 1);
        let replaces = plugins_named(&out, "mutate");
        assert_eq!(replaces.len(), 2);
    }

    #[test]
    fn the_operators_own_fields_win() {
        let input = "input { file { docker-path => \"/a\" add_field => { \"[container][name]\" => \"mine\" \"env\" => \"prod\" } } }";
        let out = render_docker_pipeline(input, &[web1()], target).unwrap();
        let file = &plugins_named(&out, "file")[0];
        let fields = added(file);
        assert_eq!(fields["[container][name]"], vec!["mine".to_owned()]);
        assert_eq!(fields["env"], vec!["prod".to_owned()]);
        assert_eq!(fields["[container][id]"], vec!["c1".to_owned()]);
        assert_eq!(
            file.attributes
                .iter()
                .filter(|a| a.name == "add_field")
                .count(),
            1,
            "{out}"
        );
    }

    #[test]
    fn inputs_are_copied_per_container_and_the_rest_stays_once() {
        let input = "input { file { start_position => \"end\" docker-path => \"/a\" docker-path => '/b' sincedb_path => \"/dev/null\" tags => [\"x\"] } tcp { port => 5000 } }\noutput { stdout { } }";
        let mut web2 = web1();
        web2.metadata.container_id = "c2".into();
        web2.metadata.container_name = "web-2".into();
        web2.label = "web-2 (c2)".into();
        let out = render_docker_pipeline(input, &[web1(), web2], target).unwrap();
        let files = plugins_named(&out, "file");
        let paths: Vec<String> = files.iter().filter_map(|f| string(f, "path")).collect();
        assert_eq!(
            paths,
            [
                "/spool/c1/a/spool.log*",
                "/spool/c1/b/spool.log*",
                "/spool/c2/a/spool.log*",
                "/spool/c2/b/spool.log*"
            ]
        );
        for f in &files {
            assert_eq!(string(f, "start_position").as_deref(), Some("beginning"));
            assert!(string(f, "sincedb_path").unwrap().starts_with("/state/"));
            assert_eq!(f.attributes.iter().filter(|a| a.name == "tags").count(), 1);
        }
        assert_eq!(
            added(&files[1])["[@metadata][logstash_mesos][log_file_path]"],
            vec!["/b".to_owned()]
        );
        assert_eq!(added(&files[3])["[container][id]"], vec!["c2".to_owned()]);
        assert_eq!(plugins_named(&out, "tcp").len(), 1, "{out}");
        assert_eq!(plugins_named(&out, "stdout").len(), 1, "{out}");
        assert!(out.contains("# container web-2 (c2)\n"), "{out}");
    }

    #[test]
    fn without_containers_only_the_rest_is_rendered() {
        let input = "input { file { docker-path => \"/a\" } udp { port => 514 } }";
        let out = render_docker_pipeline(input, &[], target).unwrap();
        assert!(plugins_named(&out, "file").is_empty(), "{out}");
        assert_eq!(plugins_named(&out, "udp").len(), 1);
        assert!(!out.contains("logstash_mesos"), "{out}");
        let plain = "filter { mutate { add_tag => [\"a\"] } }";
        assert_eq!(
            render_docker_pipeline(plain, &[web1()], target).unwrap(),
            format!("{plain}\n")
        );
    }

    #[test]
    fn values_that_cannot_be_written_are_left_out_or_refused() {
        let mut odd = web1();
        odd.metadata.labels = [
            ("quote".to_owned(), "it's \"x\"".to_owned()),
            ("single".to_owned(), "say \"hi\"".to_owned()),
            ("fmt".to_owned(), "%{message}".to_owned()),
            ("bad]key".to_owned(), "v".to_owned()),
        ]
        .into();
        let input = "input { file { docker-path => \"/x\" } }";
        let out = render_docker_pipeline(input, &[odd], target).unwrap();
        let fields = added(&plugins_named(&out, "file")[0]);
        assert_eq!(
            fields["[container][labels][single]"],
            vec!["say \"hi\"".to_owned()]
        );
        assert!(!fields.contains_key("[container][labels][quote]"));
        assert!(!fields.contains_key("[container][labels][fmt]"));
        assert!(!fields.keys().any(|k| k.contains("bad")));
        let unsafe_target = |_: &Metadata, _: &str| Target {
            glob: "/sp\"ool".into(),
            sincedb: "/s".into(),
        };
        assert_eq!(
            render_docker_pipeline(input, &[web1()], unsafe_target),
            Err(RenderError::UnsafePath("/sp\"ool".into()))
        );
        assert!(matches!(
            render_docker_pipeline("input {", &[], target),
            Err(RenderError::Parse(_))
        ));
    }

    #[test]
    fn host_paths_point_below_the_host_root() {
        let input = "input { file { host-path => \"/var/log/syslog\" } }\noutput { stdout { } }";
        assert_eq!(
            render_host(input, "/host/").unwrap(),
            "input { file { path => \"/host/var/log/syslog\" } }\noutput { stdout { } }"
        );
    }
}

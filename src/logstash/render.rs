//! Rendering the pipeline an executor gives Logstash.
//!
//! Seed-compatible: every matching container gets its own copy of its config's
//! snippet, under a `# <name>` header, with each plugin's `docker-path`
//! settings turned into `path` settings pointing at that container's spool
//! files. Edits are spliced into the operator's text, so comments and layout
//! survive and the result reads like what they wrote.

use super::ast::{Span, Value};
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

/// Where one docker-path's lines are for Logstash: the spool glob and the
/// sincedb that records how far Logstash read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub glob: String,
    pub sincedb: String,
}

/// Rewrites a docker config's snippet for one container: every plugin with a
/// `docker-path` gets `path` set to that path's spool glob, with
/// `start_position => "beginning"` so no spooled line is skipped and the
/// path's own `sincedb_path` (the spool's accounting reads it). A plugin with
/// several `docker-path`s becomes one copy per path. Other plugins and all
/// other text are kept as written.
pub fn render_docker(input: &str, target: impl Fn(&str) -> Target) -> Result<String, RenderError> {
    let config = parse(input)?;
    let mut edits: Vec<(Span, String)> = Vec::new();
    for plugin in plugins(&config) {
        let docker_paths: Vec<(Span, String)> = plugin
            .attributes
            .iter()
            .filter(|a| a.name == "docker-path")
            .filter_map(|a| match &a.value {
                Value::String(s) => Some((a.span, s.unescaped())),
                _ => None,
            })
            .collect();
        if docker_paths.is_empty() {
            continue;
        }
        let owned: Vec<Span> = plugin
            .attributes
            .iter()
            .filter(|a| REPLACED.contains(&a.name.as_str()))
            .map(|a| a.span)
            .collect();
        let mut copies = Vec::new();
        for (i, (_, path)) in docker_paths.iter().enumerate() {
            let t = target(path);
            let settings = format!(
                "path => {} start_position => \"beginning\" sincedb_path => {}",
                quote(&t.glob)?,
                quote(&t.sincedb)?
            );
            let mut local: Vec<(Span, String)> = Vec::new();
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
        edits.push((plugin.span, copies.join("\n")));
    }
    finish(input, edits)
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
    finish(input, edits)
}

/// One part of the pipeline: a header comment and a rendered snippet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub header: String,
    pub body: String,
}

/// The whole pipeline file: each part under its `# header` line.
pub fn pipeline(parts: &[Part]) -> String {
    let mut out = String::new();
    for part in parts {
        let header: String = part
            .header
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        out.push_str("# ");
        out.push_str(&header);
        out.push('\n');
        out.push_str(&part.body);
        if !part.body.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

/// A double-quoted Logstash string. Logstash does not process escapes by
/// default, so a path holding `"` or `\` cannot be written faithfully.
fn quote(path: &str) -> Result<String, RenderError> {
    if path.contains(['"', '\\']) || path.chars().any(char::is_control) {
        return Err(RenderError::UnsafePath(path.to_owned()));
    }
    Ok(format!("\"{path}\""))
}

/// Applies non-overlapping edits; an edit inside an earlier-replaced span
/// (a plugin nested in a rewritten plugin) is dropped with it.
fn splice(input: &str, mut edits: Vec<(Span, String)>) -> String {
    edits.sort_by_key(|(span, _)| span.start);
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

fn finish(input: &str, edits: Vec<(Span, String)>) -> Result<String, RenderError> {
    let out = splice(input, edits);
    parse(&out).map_err(RenderError::Rendered)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(path: &str) -> Target {
        Target {
            glob: format!("/spool/c1{path}/spool.log*"),
            sincedb: format!("/state/sincedb/c1{}", path.replace('/', "_")),
        }
    }

    #[test]
    fn docker_paths_become_spool_globs() {
        let input = "# nginx logs\ninput {\n  file {\n    docker-path => \"/var/log/nginx/access.log\"\n    type => \"nginx\"\n  }\n}\nfilter { grok { match => { \"message\" => \"%{COMBINEDAPACHELOG}\" } } }\n";
        let out = render_docker(input, target).unwrap();
        assert_eq!(
            out,
            "# nginx logs\ninput {\n  file {\n    path => \"/spool/c1/var/log/nginx/access.log/spool.log*\" start_position => \"beginning\" sincedb_path => \"/state/sincedb/c1_var_log_nginx_access.log\"\n    type => \"nginx\"\n  }\n}\nfilter { grok { match => { \"message\" => \"%{COMBINEDAPACHELOG}\" } } }\n"
        );
    }

    #[test]
    fn a_plugin_with_several_paths_becomes_one_copy_per_path() {
        let input = "input { file { start_position => \"end\" docker-path => \"/a\" docker-path => '/b' sincedb_path => \"/dev/null\" tags => [\"x\"] } stdin { } }";
        let out = render_docker(input, target).unwrap();
        assert_eq!(
            out,
            "input { file {  path => \"/spool/c1/a/spool.log*\" start_position => \"beginning\" sincedb_path => \"/state/sincedb/c1_a\"   tags => [\"x\"] }\nfile {   path => \"/spool/c1/b/spool.log*\" start_position => \"beginning\" sincedb_path => \"/state/sincedb/c1_b\"  tags => [\"x\"] } stdin { } }"
        );
    }

    #[test]
    fn conditionals_and_untouched_configs() {
        let input = "input { if [type] == \"x\" { file { docker-path => \"/x\" } } }";
        let out = render_docker(input, target).unwrap();
        assert!(out.contains("path => \"/spool/c1/x/spool.log*\""), "{out}");
        let plain = "filter { mutate { add_tag => [\"a\"] } }";
        assert_eq!(render_docker(plain, target).unwrap(), plain);
    }

    #[test]
    fn unsafe_paths_and_bad_input_are_errors() {
        let input = "input { file { docker-path => \"/x\" } }";
        let unsafe_target = |_: &str| Target {
            glob: "/sp\"ool".into(),
            sincedb: "/s".into(),
        };
        assert_eq!(
            render_docker(input, unsafe_target),
            Err(RenderError::UnsafePath("/sp\"ool".into()))
        );
        assert!(matches!(
            render_docker("input {", target),
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

    #[test]
    fn the_pipeline_puts_each_part_under_its_header() {
        let parts = [
            Part {
                header: "nginx (web-1)".into(),
                body: "input { }".into(),
            },
            Part {
                header: "host\nconfig".into(),
                body: "output { }\n".into(),
            },
        ];
        assert_eq!(
            pipeline(&parts),
            "# nginx (web-1)\ninput { }\n# host config\noutput { }\n"
        );
        assert!(parse(&pipeline(&parts)).is_ok());
    }
}

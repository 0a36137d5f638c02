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

/// Rewrites a docker config's snippet for one container: in every plugin with
/// `docker-path` settings, those become one `path` (the spool globs from
/// `glob`, in order), with `start_position => "beginning"` so no spooled line
/// is skipped and `sincedb_path` from `sincedb(n)`, `n` counting such plugins
/// from 0. Other plugins and all other text are kept as written.
pub fn render_docker(
    input: &str,
    glob: impl Fn(&str) -> String,
    sincedb: impl Fn(usize) -> String,
) -> Result<String, RenderError> {
    let config = parse(input)?;
    let mut edits: Vec<(Span, String)> = Vec::new();
    let mut reading = 0;
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
        let Some((first, _)) = docker_paths.first() else {
            continue;
        };
        let globs = docker_paths
            .iter()
            .map(|(_, path)| quote(&glob(path)))
            .collect::<Result<Vec<_>, _>>()?;
        let path = match globs.as_slice() {
            [one] => one.clone(),
            many => format!("[{}]", many.join(", ")),
        };
        let settings = format!(
            "path => {path} start_position => \"beginning\" sincedb_path => {}",
            quote(&sincedb(reading))?
        );
        reading += 1;
        edits.push((*first, settings));
        edits.extend(
            docker_paths[1..]
                .iter()
                .map(|(span, _)| (*span, String::new())),
        );
        edits.extend(
            plugin
                .attributes
                .iter()
                .filter(|a| REPLACED.contains(&a.name.as_str()))
                .map(|a| (a.span, String::new())),
        );
    }
    finish(input, edits)
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

fn finish(input: &str, mut edits: Vec<(Span, String)>) -> Result<String, RenderError> {
    edits.sort_by_key(|(span, _)| std::cmp::Reverse(span.start));
    edits.dedup_by_key(|(span, _)| span.start);
    let mut out = input.to_owned();
    for (span, text) in edits {
        out.replace_range(span.start..span.end, &text);
    }
    parse(&out).map_err(RenderError::Rendered)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glob(path: &str) -> String {
        format!("/spool/c1{path}/*.log")
    }

    fn sincedb(n: usize) -> String {
        format!("/state/sincedb/c1-{n}")
    }

    #[test]
    fn docker_paths_become_spool_globs() {
        let input = "# nginx logs\ninput {\n  file {\n    docker-path => \"/var/log/nginx/access.log\"\n    type => \"nginx\"\n  }\n}\nfilter { grok { match => { \"message\" => \"%{COMBINEDAPACHELOG}\" } } }\n";
        let out = render_docker(input, glob, sincedb).unwrap();
        assert_eq!(
            out,
            "# nginx logs\ninput {\n  file {\n    path => \"/spool/c1/var/log/nginx/access.log/*.log\" start_position => \"beginning\" sincedb_path => \"/state/sincedb/c1-0\"\n    type => \"nginx\"\n  }\n}\nfilter { grok { match => { \"message\" => \"%{COMBINEDAPACHELOG}\" } } }\n"
        );
    }

    #[test]
    fn several_paths_in_one_plugin_and_owned_settings_replaced() {
        let input = "input { file { start_position => \"end\" docker-path => \"/a\" docker-path => '/b' sincedb_path => \"/dev/null\" } file { docker-path => \"/c\" } stdin { } }";
        let out = render_docker(input, glob, sincedb).unwrap();
        assert_eq!(
            out,
            "input { file {  path => [\"/spool/c1/a/*.log\", \"/spool/c1/b/*.log\"] start_position => \"beginning\" sincedb_path => \"/state/sincedb/c1-0\"   } file { path => \"/spool/c1/c/*.log\" start_position => \"beginning\" sincedb_path => \"/state/sincedb/c1-1\" } stdin { } }"
        );
    }

    #[test]
    fn conditionals_and_untouched_configs() {
        let input = "input { if [type] == \"x\" { file { docker-path => \"/x\" } } }";
        let out = render_docker(input, glob, sincedb).unwrap();
        assert!(out.contains("path => \"/spool/c1/x/*.log\""), "{out}");
        let plain = "filter { mutate { add_tag => [\"a\"] } }";
        assert_eq!(render_docker(plain, glob, sincedb).unwrap(), plain);
    }

    #[test]
    fn unsafe_paths_and_bad_input_are_errors() {
        let input = "input { file { docker-path => \"/x\" } }";
        assert_eq!(
            render_docker(input, |_| "/sp\"ool".into(), sincedb),
            Err(RenderError::UnsafePath("/sp\"ool".into()))
        );
        assert!(matches!(
            render_docker("input {", glob, sincedb),
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

//! Which Logstash plugins a config may name: those bundled with Logstash 8
//! (the catalog in `catalog/`, with its source and version) and the extra
//! ones the operator installs on the agents (`--logstash-plugins`). Logstash
//! refuses a pipeline naming any other, so the API refuses it first, at its
//! line and column, instead of one agent's pipeline failing later.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use super::ast::{BranchOrPlugin, Config, Span, Value};

/// The catalog file: `{"logstash_version", "source", "input": [..],
/// "filter": [..], "output": [..], "codec": [..]}`.
pub const CATALOG_JSON: &str = include_str!("catalog/logstash-8.19.20.json");

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PluginKind {
    Input,
    Filter,
    Output,
    Codec,
}

impl PluginKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            PluginKind::Input => "input",
            PluginKind::Filter => "filter",
            PluginKind::Output => "output",
            PluginKind::Codec => "codec",
        }
    }

    fn parse(s: &str) -> Option<PluginKind> {
        Some(match s {
            "input" => PluginKind::Input,
            "filter" => PluginKind::Filter,
            "output" => PluginKind::Output,
            "codec" => PluginKind::Codec,
            _ => return None,
        })
    }
}

/// The plugins bundled with one Logstash version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalog {
    pub logstash_version: String,
    pub plugins: BTreeSet<(PluginKind, String)>,
}

/// The catalog kept in the repository.
pub fn bundled() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        let json: serde_json::Value =
            serde_json::from_str(CATALOG_JSON).expect("the bundled catalog is valid JSON");
        let mut plugins = BTreeSet::new();
        for kind in [
            PluginKind::Input,
            PluginKind::Filter,
            PluginKind::Output,
            PluginKind::Codec,
        ] {
            for name in json[kind.as_str()].as_array().into_iter().flatten() {
                if let Some(name) = name.as_str() {
                    plugins.insert((kind, name.to_owned()));
                }
            }
        }
        Catalog {
            logstash_version: json["logstash_version"].as_str().unwrap_or("").to_owned(),
            plugins,
        }
    })
}

/// An extra plugin, named as `logstash-plugin install` takes it: the gem
/// `logstash-<kind>-<name>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ExtraPlugin {
    pub kind: PluginKind,
    pub name: String,
}

impl ExtraPlugin {
    /// The gem name, for `logstash-plugin install`.
    pub fn gem(&self) -> String {
        format!("logstash-{}-{}", self.kind.as_str(), self.name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a plugin gem name: use logstash-<input|filter|output|codec>-<name>, e.g. logstash-filter-tld"
)]
pub struct PluginNameError(pub String);

impl std::str::FromStr for ExtraPlugin {
    type Err = PluginNameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || PluginNameError(s.to_owned());
        let rest = s.trim().strip_prefix("logstash-").ok_or_else(bad)?;
        let (kind, name) = rest.split_once('-').ok_or_else(bad)?;
        let kind = PluginKind::parse(kind).ok_or_else(bad)?;
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid {
            return Err(bad());
        }
        Ok(ExtraPlugin {
            kind,
            name: name.to_owned(),
        })
    }
}

/// A plugin a config names, with where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsedPlugin {
    pub kind: PluginKind,
    pub name: String,
    pub span: Span,
}

/// Every plugin the config names: those of its sections (inside
/// conditionals too) with the section's kind, and codecs (`codec => json`,
/// `codec => json { ... }`, `codec => "json"`).
pub fn used_plugins(config: &Config) -> Vec<UsedPlugin> {
    fn body(kind: PluginKind, items: &[BranchOrPlugin], out: &mut Vec<UsedPlugin>) {
        for item in items {
            match item {
                BranchOrPlugin::Plugin(p) => plugin(kind, p, out),
                BranchOrPlugin::Branch(b) => {
                    for block in std::iter::once(&b.if_block).chain(&b.else_ifs) {
                        body(kind, &block.body, out);
                    }
                    if let Some(e) = &b.else_block {
                        body(kind, &e.body, out);
                    }
                }
            }
        }
    }
    fn plugin(kind: PluginKind, p: &super::ast::Plugin, out: &mut Vec<UsedPlugin>) {
        out.push(UsedPlugin {
            kind,
            name: p.name.clone(),
            span: p.name_span,
        });
        for a in p.attributes.iter().filter(|a| a.name == "codec") {
            match &a.value {
                Value::Plugin(codec) => plugin(PluginKind::Codec, codec, out),
                Value::Bareword(b) => out.push(UsedPlugin {
                    kind: PluginKind::Codec,
                    name: b.text.clone(),
                    span: b.span,
                }),
                Value::String(s) => out.push(UsedPlugin {
                    kind: PluginKind::Codec,
                    name: s.unescaped(),
                    span: s.span,
                }),
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    for section in &config.sections {
        let kind = match section.kind {
            super::SectionKind::Input => PluginKind::Input,
            super::SectionKind::Filter => PluginKind::Filter,
            super::SectionKind::Output => PluginKind::Output,
        };
        body(kind, &section.body, &mut out);
    }
    out.sort_by_key(|u| u.span.start);
    out
}

/// The first plugin the config names that is neither bundled nor in `extra`.
pub fn unknown_plugin(config: &Config, extra: &BTreeSet<ExtraPlugin>) -> Option<UsedPlugin> {
    let catalog = bundled();
    used_plugins(config).into_iter().find(|u| {
        !catalog.plugins.contains(&(u.kind, u.name.clone()))
            && !extra.contains(&ExtraPlugin {
                kind: u.kind,
                name: u.name.clone(),
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logstash::parse;

    #[test]
    fn the_catalog_holds_logstash_8_bundled_plugins() {
        let c = bundled();
        assert_eq!(c.logstash_version, "8.19.20");
        for (kind, name) in [
            (PluginKind::Input, "file"),
            (PluginKind::Input, "beats"),
            (PluginKind::Input, "kafka"),
            (PluginKind::Input, "pipeline"),
            (PluginKind::Filter, "grok"),
            (PluginKind::Filter, "jdbc_static"),
            (PluginKind::Output, "elasticsearch"),
            (PluginKind::Codec, "json_lines"),
        ] {
            assert!(c.plugins.contains(&(kind, name.to_owned())), "{name}");
        }
        assert!(!c.plugins.contains(&(PluginKind::Filter, "file".to_owned())));
        assert!(c.plugins.len() > 100, "{}", c.plugins.len());
    }

    #[test]
    fn unknown_plugins_are_found_with_their_place() {
        let src = "input { file { path => \"/x\" codec => json } }\nfilter {\n  if [a] { grok { } } else { tld { } }\n}\noutput { stdout { codec => rubydebug { } } }";
        let config = parse(src).unwrap();
        let none = BTreeSet::new();
        let found = unknown_plugin(&config, &none).unwrap();
        assert_eq!(
            (found.kind, found.name.as_str()),
            (PluginKind::Filter, "tld")
        );
        assert_eq!(crate::logstash::line_column(src, found.span.start), (3, 30));
        let extra: BTreeSet<ExtraPlugin> = ["logstash-filter-tld".parse().unwrap()].into();
        assert_eq!(unknown_plugin(&config, &extra), None);
        // A codec is a codec, wherever it is named.
        let codec = parse("input { stdin { codec => \"nosuch\" } }").unwrap();
        let found = unknown_plugin(&codec, &none).unwrap();
        assert_eq!(
            (found.kind, found.name.as_str()),
            (PluginKind::Codec, "nosuch")
        );
        // The kind matters: grok is a filter, not an output.
        let misplaced = parse("output { grok { } }").unwrap();
        assert_eq!(unknown_plugin(&misplaced, &none).unwrap().name, "grok");
    }

    #[test]
    fn extra_plugins_are_gem_names() {
        let p: ExtraPlugin = "logstash-output-google_pubsub".parse().unwrap();
        assert_eq!(
            (p.kind, p.name.as_str()),
            (PluginKind::Output, "google_pubsub")
        );
        assert_eq!(p.gem(), "logstash-output-google_pubsub");
        for bad in [
            "tld",
            "logstash-tld",
            "logstash-thing-x",
            "logstash-filter-",
            "logstash-filter-a b",
            "logstash-filter-$(x)",
        ] {
            assert!(bad.parse::<ExtraPlugin>().is_err(), "{bad}");
        }
    }
}

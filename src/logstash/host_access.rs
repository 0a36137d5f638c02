//! Which plugins and settings of a pipeline reach past the files the
//! framework hands Logstash: run commands or code on the agent, or read or
//! write files of the agent chosen by whoever wrote the config.
//!
//! Logstash runs on every agent as the executor's user (usually root, with
//! the agent's file system visible), so such a setting in one config is a
//! way into every agent. The framework itself names the files Logstash
//! reads (`docker-path` becomes a spool file, `host-path` a file below the
//! roots the operator allowed); everything in [`HOST_ACCESS_RULES`] is
//! refused unless the operator opts in with `--allow-host-plugins`.
//!
//! What is *not* listed, on purpose: settings that read a file only as key
//! material or parser data whose content never reaches events or a remote
//! peer (TLS certificates, keys and stores, `geoip` `database`,
//! `useragent` `regexes`, `grok` and `multiline` `patterns_dir`, `avro`
//! `schema_uri`, `kafka` `jaas_path`, `aws_credentials_file`), and remote
//! paths (`webhdfs` `path` is in HDFS, `elasticsearch` output `path` is a
//! URL path). Network access is not host access either: any config can
//! send events anywhere; see docs/security.md.

use super::ast::{BranchOrPlugin, Config, Plugin, Span, Value};

/// The stage a plugin runs in; plugins nested as values are codecs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Input,
    Filter,
    Output,
    Codec,
}

impl Stage {
    pub const fn name(self) -> &'static str {
        match self {
            Stage::Input => "input",
            Stage::Filter => "filter",
            Stage::Output => "output",
            Stage::Codec => "codec",
        }
    }
}

/// What a refused plugin or setting can do on the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Runs commands or programs of the agent.
    RunsCommands,
    /// Runs code written in the config, or loads code from the agent.
    RunsCode,
    /// Reads agent files whose content reaches events or a remote peer.
    ReadsFiles,
    /// Writes, appends to or deletes agent files.
    WritesFiles,
    /// Talks to Unix sockets of the agent (the Docker socket is root).
    OpensSockets,
}

/// One entry of [`HOST_ACCESS_RULES`].
#[derive(Debug, PartialEq, Eq)]
pub struct HostAccessRule {
    /// `None`: the plugin in any stage (or any plugin, with `plugin: None`).
    pub stage: Option<Stage>,
    /// `None`: the setting in any plugin.
    pub plugin: Option<&'static str>,
    /// `None`: the plugin as a whole.
    pub setting: Option<&'static str>,
    /// Values of `setting` that do not reach the agent (plain strings or words).
    pub harmless_values: &'static [&'static str],
    pub access: Access,
    /// What it does, completing "the `x` input ..." or "`y` of the `x` input ...".
    pub what: &'static str,
}

const fn plugin(
    stage: Stage,
    name: &'static str,
    access: Access,
    what: &'static str,
) -> HostAccessRule {
    HostAccessRule {
        stage: Some(stage),
        plugin: Some(name),
        setting: None,
        harmless_values: &[],
        access,
        what,
    }
}

const fn setting(
    stage: Option<Stage>,
    plugin: Option<&'static str>,
    setting: &'static str,
    access: Access,
    what: &'static str,
) -> HostAccessRule {
    HostAccessRule {
        stage,
        plugin,
        setting: Some(setting),
        harmless_values: &[],
        access,
        what,
    }
}

use Access::*;
use Stage::*;

/// The plugins and settings refused without `--allow-host-plugins`: the one
/// list of them (docs/security.md lists the same, a test keeps the two in
/// step). Names are compared without regard to case.
pub const HOST_ACCESS_RULES: &[HostAccessRule] = &[
    // Commands and code.
    plugin(
        Input,
        "exec",
        RunsCommands,
        "runs a shell command on the agent",
    ),
    plugin(
        Output,
        "exec",
        RunsCommands,
        "runs a shell command on the agent for every event",
    ),
    plugin(
        Input,
        "pipe",
        RunsCommands,
        "runs a shell command on the agent and reads its output",
    ),
    plugin(
        Output,
        "pipe",
        RunsCommands,
        "runs a shell command on the agent and writes events to it",
    ),
    plugin(
        Output,
        "nagios_nsca",
        RunsCommands,
        "runs the program named by `send_nsca_bin` on the agent",
    ),
    plugin(
        Filter,
        "ruby",
        RunsCode,
        "runs Ruby code from the config (`code`, `init`) or from an agent file (`path`)",
    ),
    plugin(
        Filter,
        "aggregate",
        RunsCode,
        "runs Ruby code from the config (`code`, `timeout_code`) and writes `aggregate_maps_path` on the agent",
    ),
    plugin(
        Input,
        "jdbc",
        RunsCode,
        "loads driver libraries from the agent (`jdbc_driver_library`), reads `statement_filepath` and writes `last_run_metadata_path`",
    ),
    plugin(
        Filter,
        "jdbc_static",
        RunsCode,
        "loads driver libraries from the agent and runs an embedded database that can call Java code",
    ),
    plugin(
        Filter,
        "jdbc_streaming",
        RunsCode,
        "loads driver libraries from the agent (`jdbc_driver_library`)",
    ),
    setting(
        Some(Input),
        Some("jms"),
        "require_jars",
        RunsCode,
        "loads Java libraries from the agent into Logstash",
    ),
    HostAccessRule {
        stage: Some(Output),
        plugin: Some("email"),
        setting: Some("via"),
        harmless_values: &["smtp"],
        access: RunsCommands,
        what: "other than `smtp` runs the agent's sendmail with arguments from the config, or writes mails to agent files",
    },
    // Files of the agent read into events or sent away.
    setting(
        Some(Input),
        Some("file"),
        "path",
        ReadsFiles,
        "reads any file of the agent; name container files with `docker-path` (per-image configs) and agent files with `host-path` (the host config)",
    ),
    setting(
        Some(Input),
        Some("dead_letter_queue"),
        "path",
        ReadsFiles,
        "reads the dead letter queue of any directory of the agent",
    ),
    plugin(
        Input,
        "sqlite",
        ReadsFiles,
        "opens any SQLite database file of the agent",
    ),
    plugin(
        Input,
        "journald",
        ReadsFiles,
        "reads the agent's system journal",
    ),
    setting(
        Some(Filter),
        Some("translate"),
        "dictionary_path",
        ReadsFiles,
        "loads any YAML, JSON or CSV file of the agent into the events",
    ),
    setting(
        Some(Output),
        Some("elasticsearch"),
        "template",
        ReadsFiles,
        "reads any JSON file of the agent and sends it to the cluster as an index template",
    ),
    setting(
        Some(Filter),
        Some("elasticsearch"),
        "query_template",
        ReadsFiles,
        "reads any JSON file of the agent and sends it to the cluster as a query",
    ),
    setting(
        Some(Output),
        Some("email"),
        "attachments",
        ReadsFiles,
        "attaches any file of the agent to the mails it sends",
    ),
    setting(
        Some(Output),
        Some("email"),
        "template_file",
        ReadsFiles,
        "renders any file of the agent into the mails it sends",
    ),
    // Files of the agent written or deleted.
    plugin(
        Output,
        "file",
        WritesFiles,
        "writes events to any file of the agent (`path`)",
    ),
    plugin(
        Output,
        "csv",
        WritesFiles,
        "writes events to any file of the agent (`path`)",
    ),
    plugin(
        Output,
        "nagios",
        WritesFiles,
        "appends to a command file of the agent (`commandfile`)",
    ),
    HostAccessRule {
        stage: Some(Input),
        plugin: Some("file"),
        setting: Some("mode"),
        harmless_values: &["tail"],
        access: WritesFiles,
        what: "other than `tail` (read mode) deletes the files once read, or logs their names to an agent file",
    },
    setting(
        Some(Input),
        Some("file"),
        "file_completed_action",
        WritesFiles,
        "deletes the files it read, or logs their names to an agent file",
    ),
    setting(
        Some(Input),
        Some("file"),
        "file_completed_log_path",
        WritesFiles,
        "writes to any file of the agent",
    ),
    setting(
        None,
        None,
        "sincedb_path",
        WritesFiles,
        "writes read positions to any file of the agent",
    ),
    setting(
        None,
        None,
        "temporary_directory",
        WritesFiles,
        "writes into any directory of the agent (and the `s3` output uploads what it finds there after a restart)",
    ),
    setting(
        Some(Output),
        Some("google_cloud_storage"),
        "temp_directory",
        WritesFiles,
        "writes into any directory of the agent",
    ),
    setting(
        Some(Codec),
        Some("netflow"),
        "cache_save_path",
        WritesFiles,
        "writes its template cache into any directory of the agent",
    ),
    setting(
        Some(Input),
        Some("couchdb_changes"),
        "sequence_path",
        WritesFiles,
        "writes to any file of the agent",
    ),
    // Sockets of the agent.
    plugin(
        Input,
        "unix",
        OpensSockets,
        "connects to, creates or deletes Unix sockets of the agent (the Docker socket gives root)",
    ),
    plugin(
        Output,
        "unix",
        OpensSockets,
        "connects to Unix sockets of the agent (the Docker socket gives root)",
    ),
];

/// A plugin or setting of a config that one of the rules refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostAccess {
    pub rule: &'static HostAccessRule,
    pub stage: Stage,
    pub plugin: String,
    /// The setting, when the rule is about a setting.
    pub setting: Option<String>,
    /// The plugin's or the setting's name, for the line and column.
    pub span: Span,
}

impl HostAccess {
    /// One sentence for the operator: what was found, what it does.
    pub fn message(&self) -> String {
        let subject = match &self.setting {
            Some(setting) => format!("`{setting}` of the `{}` {}", self.plugin, self.stage.name()),
            None => format!("the `{}` {}", self.plugin, self.stage.name()),
        };
        format!(
            "{subject} {}; the scheduler accepts it only with --allow-host-plugins",
            self.rule.what
        )
    }
}

/// Every plugin and setting of `config` that a rule of [`HOST_ACCESS_RULES`]
/// refuses, in source order.
pub fn host_access(config: &Config) -> Vec<HostAccess> {
    let mut found = Vec::new();
    for section in &config.sections {
        let stage = match section.kind {
            super::SectionKind::Input => Input,
            super::SectionKind::Filter => Filter,
            super::SectionKind::Output => Output,
        };
        body(&section.body, stage, &mut found);
    }
    found.sort_by_key(|f| f.span.start);
    found
}

fn body(items: &[BranchOrPlugin], stage: Stage, found: &mut Vec<HostAccess>) {
    for item in items {
        match item {
            BranchOrPlugin::Plugin(p) => plugin_at(p, stage, found),
            BranchOrPlugin::Branch(branch) => {
                for block in std::iter::once(&branch.if_block).chain(&branch.else_ifs) {
                    body(&block.body, stage, found);
                }
                if let Some(else_block) = &branch.else_block {
                    body(&else_block.body, stage, found);
                }
            }
        }
    }
}

fn plugin_at(p: &Plugin, stage: Stage, found: &mut Vec<HostAccess>) {
    let applies = |rule: &HostAccessRule| {
        rule.stage.is_none_or(|s| s == stage)
            && rule.plugin.is_none_or(|n| n.eq_ignore_ascii_case(&p.name))
    };
    if let Some(rule) = HOST_ACCESS_RULES
        .iter()
        .find(|r| r.setting.is_none() && applies(r))
    {
        found.push(HostAccess {
            rule,
            stage,
            plugin: p.name.clone(),
            setting: None,
            span: p.name_span,
        });
    }
    for attribute in &p.attributes {
        let rule = HOST_ACCESS_RULES.iter().find(|r| {
            r.setting
                .is_some_and(|s| s.eq_ignore_ascii_case(&attribute.name))
                && applies(r)
                && !harmless(r, &attribute.value)
        });
        if let Some(rule) = rule {
            found.push(HostAccess {
                rule,
                stage,
                plugin: p.name.clone(),
                setting: Some(attribute.name.clone()),
                span: attribute.name_span,
            });
        }
        nested(&attribute.value, found);
    }
}

/// Plugins used as values are codecs.
fn nested(value: &Value, found: &mut Vec<HostAccess>) {
    match value {
        Value::Plugin(p) => plugin_at(p, Codec, found),
        Value::Array(a) => a.elements.iter().for_each(|v| nested(v, found)),
        Value::Hash(h) => h.entries.iter().for_each(|e| nested(&e.value, found)),
        Value::Bareword(_) | Value::String(_) | Value::Number(_) => {}
    }
}

fn harmless(rule: &HostAccessRule, value: &Value) -> bool {
    let text = match value {
        Value::String(s) => s.unescaped(),
        Value::Bareword(w) => w.text.clone(),
        _ => return false,
    };
    rule.harmless_values.iter().any(|h| *h == text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logstash::parse;

    fn found(src: &str) -> Vec<(Stage, String, Option<String>, usize)> {
        host_access(&parse(src).unwrap())
            .into_iter()
            .map(|f| (f.stage, f.plugin, f.setting, f.span.start))
            .collect()
    }

    #[test]
    fn commands_code_and_file_outputs_are_found_anywhere_in_the_config() {
        let src = "input { exec { command => \"id\" interval => 5 } }\n\
                   filter { if [a] { ruby { code => \"x\" } } else { mutate { } } }\n\
                   output { \"FILE\" { path => \"/etc/cron.d/x\" } stdout { } }";
        let f = found(src);
        assert_eq!(
            f.iter()
                .map(|(s, p, o, _)| (*s, p.as_str(), o.clone()))
                .collect::<Vec<_>>(),
            [
                (Input, "exec", None),
                (Filter, "ruby", None),
                (Output, "FILE", None)
            ]
        );
        assert_eq!(f[0].3, src.find("exec").unwrap());
    }

    #[test]
    fn the_stage_decides_which_plugin_is_meant() {
        // A csv filter parses fields; a csv output writes files. A file
        // input with docker-path only is what the framework renders.
        assert_eq!(found("filter { csv { columns => [\"a\"] } }"), []);
        assert_eq!(
            found("input { file { docker-path => \"/var/log/a.log\" } }"),
            []
        );
        assert_eq!(
            found("output { csv { path => \"/x\" fields => [] } }").len(),
            1
        );
        assert_eq!(found("filter { elasticsearch { query => \"x\" } }"), []);
        assert_eq!(
            found("filter { elasticsearch { query_template => \"/root/.docker/config.json\" } }")
                .len(),
            1
        );
    }

    #[test]
    fn settings_are_found_by_name_with_harmless_values_kept() {
        let src = "input { file { host-path => \"/var/log/a\" path => \"/etc/shadow\" \
                   sincedb_path => \"/etc/x\" mode => tail } \
                   s3 { bucket => \"b\" temporary_directory => \"/etc\" } }";
        let settings: Vec<Option<String>> = found(src).into_iter().map(|f| f.2).collect();
        assert_eq!(
            settings,
            [
                Some("path".into()),
                Some("sincedb_path".into()),
                Some("temporary_directory".into())
            ]
        );
        assert_eq!(
            found("input { file { host-path => \"/var/log/a\" mode => \"read\" } }").len(),
            1
        );
        assert_eq!(
            found("output { email { via => \"smtp\" to => \"a@b\" } }"),
            []
        );
        assert_eq!(found("output { email { via => sendmail } }").len(), 1);
        // Key material and parser data are not host access.
        assert_eq!(
            found(
                "filter { geoip { source => \"ip\" database => \"/geo.mmdb\" } }\n\
                   output { elasticsearch { ssl_certificate_authorities => [\"/ca.pem\"] } }"
            ),
            []
        );
    }

    #[test]
    fn codecs_are_checked_too() {
        let src = "input { udp { port => 2055 codec => netflow { cache_save_path => \"/etc\" } } }";
        let f = found(src);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].0, Codec);
        assert_eq!(f[0].3, src.find("cache_save_path").unwrap());
    }

    #[test]
    fn messages_say_what_and_how_to_allow_it() {
        let f = host_access(&parse("output { pipe { command => \"sh\" } }").unwrap());
        assert_eq!(
            f[0].message(),
            "the `pipe` output runs a shell command on the agent and writes events to it; \
             the scheduler accepts it only with --allow-host-plugins"
        );
        let f = host_access(&parse("input { file { path => \"/x\" } }").unwrap());
        assert!(
            f[0].message()
                .starts_with("`path` of the `file` input reads any file")
        );
    }

    #[test]
    fn the_security_document_lists_every_rule() {
        let doc = include_str!("../../docs/security.md");
        for rule in HOST_ACCESS_RULES {
            let name = match (rule.plugin, rule.setting) {
                (Some(p), Some(s)) => format!("`{p}` {} `{s}`", stage_word(rule.stage)),
                (Some(p), None) => format!("`{p}` {}", stage_word(rule.stage)),
                (None, Some(s)) => format!("`{s}` (any plugin)"),
                (None, None) => unreachable!("a rule names a plugin or a setting"),
            };
            assert!(doc.contains(&name), "docs/security.md does not list {name}");
        }
    }

    fn stage_word(stage: Option<Stage>) -> &'static str {
        stage.map_or("plugin", Stage::name)
    }
}

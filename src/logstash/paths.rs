//! Extraction of the `docker-path` / `host-path` attributes that tell the
//! framework how a path in a pipeline maps between host and container.

use super::ast::{
    BranchOrPlugin, Condition, Config, Expression, Negated, Plugin, Rvalue, Span, Value,
};

/// One `docker-path` or `host-path` setting found in a config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathEntry {
    /// The path, with `\"`, `\'` and `\\` unescaped (see [`StringLit::unescaped`]).
    ///
    /// [`StringLit::unescaped`]: super::ast::StringLit::unescaped
    pub value: String,
    /// The whole `name => "value"` attribute, for removing or replacing it.
    pub attribute_span: Span,
    /// The string literal including its quotes, for replacing the value.
    pub value_span: Span,
}

/// Every `docker-path` attribute of every plugin, so the framework can learn
/// which container paths a pipeline reads or writes.
///
/// See [`host_paths`] for which attributes count.
pub fn docker_paths(config: &Config) -> Vec<PathEntry> {
    paths_named(config, "docker-path")
}

/// Every `host-path` attribute of every plugin, so the framework can mount
/// the matching host directories.
///
/// An attribute counts when it belongs to a plugin anywhere in the config: in
/// a section, inside conditionals, or in a plugin nested as a value (a codec,
/// an array element, a hash value). Its name may be bare or quoted, and only
/// string values count: an attribute with any other kind of value (array,
/// bareword, number, ...) is skipped, since it cannot name one path. Entries
/// come in source order. Hash entries with that key are not plugin
/// attributes and are not reported.
pub fn host_paths(config: &Config) -> Vec<PathEntry> {
    paths_named(config, "host-path")
}

fn paths_named(config: &Config, name: &str) -> Vec<PathEntry> {
    let mut found: Vec<PathEntry> = plugins(config)
        .into_iter()
        .flat_map(|plugin| &plugin.attributes)
        .filter(|attribute| attribute.name == name)
        .filter_map(|attribute| match &attribute.value {
            Value::String(string) => Some(PathEntry {
                value: string.unescaped(),
                attribute_span: attribute.span,
                value_span: string.span,
            }),
            _ => None,
        })
        .collect();
    found.sort_by_key(|entry| entry.attribute_span.start);
    found
}

/// Every plugin of the config at any depth (in sections, inside conditionals,
/// nested as a value), each before the plugins nested in it, so callers that
/// rewrite plugins see all of them.
pub fn plugins(config: &Config) -> Vec<&Plugin> {
    let mut walker = Walker { found: Vec::new() };
    for section in &config.sections {
        walker.body(&section.body);
    }
    walker.found
}

struct Walker<'a> {
    found: Vec<&'a Plugin>,
}

impl<'a> Walker<'a> {
    fn body(&mut self, body: &'a [BranchOrPlugin]) {
        for item in body {
            match item {
                BranchOrPlugin::Plugin(plugin) => self.plugin(plugin),
                BranchOrPlugin::Branch(branch) => {
                    for block in std::iter::once(&branch.if_block).chain(&branch.else_ifs) {
                        self.condition(&block.condition);
                        self.body(&block.body);
                    }
                    if let Some(else_block) = &branch.else_block {
                        self.body(&else_block.body);
                    }
                }
            }
        }
    }

    fn plugin(&mut self, plugin: &'a Plugin) {
        self.found.push(plugin);
        for attribute in &plugin.attributes {
            self.value(&attribute.value);
        }
    }

    fn value(&mut self, value: &'a Value) {
        match value {
            Value::Plugin(plugin) => self.plugin(plugin),
            Value::Array(array) => array.elements.iter().for_each(|v| self.value(v)),
            Value::Hash(hash) => hash.entries.iter().for_each(|e| self.value(&e.value)),
            Value::Bareword(_) | Value::String(_) | Value::Number(_) => {}
        }
    }

    /// Array literals in conditions may (oddly) hold plugins too.
    fn condition(&mut self, condition: &'a Condition) {
        self.expression(&condition.first);
        for (_, expression) in &condition.rest {
            self.expression(expression);
        }
    }

    fn expression(&mut self, expression: &'a Expression) {
        match expression {
            Expression::Group { condition, .. } => self.condition(condition),
            Expression::Not { operand, .. } => match operand {
                Negated::Condition(condition) => self.condition(condition),
                Negated::Selector(_) => {}
            },
            Expression::In { left, right, .. } | Expression::Compare { left, right, .. } => {
                self.rvalue(left);
                self.rvalue(right);
            }
            Expression::Match { left, .. } => self.rvalue(left),
            Expression::Rvalue(rvalue) => self.rvalue(rvalue),
        }
    }

    fn rvalue(&mut self, rvalue: &'a Rvalue) {
        match rvalue {
            Rvalue::Array(array) => array.elements.iter().for_each(|v| self.value(v)),
            Rvalue::MethodCall(call) => call.args.iter().for_each(|a| self.rvalue(a)),
            Rvalue::String(_) | Rvalue::Number(_) | Rvalue::Selector(_) | Rvalue::Regexp(_) => {}
        }
    }
}

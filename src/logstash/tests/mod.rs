//! Tests of the Logstash config parser, one file per concern.

mod conditions;
mod corpus;
mod errors;
mod fuzz;
mod paths;
mod structure;

use super::{
    BranchOrPlugin, Condition, Config, Expression, ParseError, Plugin, Span, Value, parse,
};

/// Parses `src`, failing the test with the error if it does not parse.
fn ok(src: &str) -> Config {
    parse(src).unwrap_or_else(|e| panic!("expected {src:?} to parse, got: {e}"))
}

/// Parses `src`, failing the test if it parses.
fn err(src: &str) -> ParseError {
    match parse(src) {
        Ok(config) => panic!("expected {src:?} to be rejected, got {config:#?}"),
        Err(e) => e,
    }
}

/// Asserts that `src` is rejected at `line`:`column`.
#[track_caller]
fn err_at(src: &str, line: u32, column: u32) -> ParseError {
    let e = err(src);
    assert_eq!(
        (e.line, e.column),
        (line, column),
        "position of {e} for {src:?}"
    );
    e
}

/// The first plugin of the first section.
fn first_plugin(config: &Config) -> &Plugin {
    match config.sections.first().and_then(|s| s.body.first()) {
        Some(BranchOrPlugin::Plugin(plugin)) => plugin,
        other => panic!("expected a plugin first, got {other:?}"),
    }
}

/// Parses `filter { p { v => VALUE } }` and returns the value.
fn value_of(value: &str) -> Value {
    let config = ok(&format!("filter {{ p {{ v => {value} }} }}"));
    first_plugin(&config).attributes[0].value.clone()
}

/// Parses `filter { if CONDITION { } }` and returns the condition.
fn condition_of(condition: &str) -> Condition {
    let config = ok(&format!("filter {{ if {condition} {{ }} }}"));
    match config.sections.first().and_then(|s| s.body.first()) {
        Some(BranchOrPlugin::Branch(branch)) => branch.if_block.condition.clone(),
        other => panic!("expected a branch, got {other:?}"),
    }
}

/// Parses a condition that must consist of a single expression.
fn expression_of(condition: &str) -> Expression {
    let condition = condition_of(condition);
    assert!(condition.rest.is_empty(), "{condition:?}");
    condition.first
}

/// The source text a span covers.
fn slice(src: &str, span: Span) -> &str {
    &src[span.range()]
}

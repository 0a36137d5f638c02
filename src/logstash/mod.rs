//! The Logstash pipeline configuration language (LSCL).
//!
//! The framework must read the pipelines it ships to executors: to reject a
//! broken config before it reaches an agent, and to find the `docker-path` /
//! `host-path` attributes that say which host directories a container needs.
//! This module is pure (no I/O): [`parse`] turns text into a [`Config`] whose
//! nodes carry byte [`Span`]s, so callers can also rewrite a config by
//! splicing text without losing comments or layout. Imports nothing else of
//! the crate.
//!
//! The parser accepts exactly what Logstash's own grammar
//! (`logstash-core/lib/logstash/compiler/lscl/lscl_grammar.treetop`, in its
//! current form with comments allowed between hash entries and at the end of
//! the input) accepts, with one deliberate limit: nesting deeper than
//! [`MAX_DEPTH`] levels is rejected so that no input can exhaust the stack.

mod ast;
pub mod catalog;
mod error;
pub mod host_access;
mod parser;
mod paths;
pub mod ports;
pub mod render;

#[cfg(test)]
mod tests;

pub use ast::{
    Array, Attribute, Bareword, BooleanOperator, Branch, BranchOrPlugin, CompareOperator,
    Condition, Conditional, Config, ElseBlock, Expression, Hash, HashEntry, HashKey, MatchOperator,
    MethodCall, Negated, Number, Pattern, Plugin, RegexpLit, Rvalue, Section, SectionKind,
    Selector, SelectorElement, Span, StringLit, Value,
};
pub use error::{ParseError, line_column};
pub use host_access::{HOST_ACCESS_RULES, HostAccess, host_access};
pub use parser::MAX_DEPTH;
pub use paths::{PathEntry, docker_paths, host_paths, plugins};

/// Parse a whole pipeline config (sections input/filter/output).
///
/// An empty file, or one holding only whitespace and comments, is a valid
/// config with no sections, as in Logstash.
pub fn parse(src: &str) -> Result<Config, ParseError> {
    parser::parse_config(src)
}

/// Parse a config read as raw bytes, reporting invalid UTF-8 as a
/// [`ParseError`] at the first bad byte, since Logstash requires UTF-8 and
/// callers reading files should not have to build that error themselves.
pub fn parse_bytes(src: &[u8]) -> Result<Config, ParseError> {
    match std::str::from_utf8(src) {
        Ok(text) => parse(text),
        Err(err) => {
            let valid = &src[..err.valid_up_to()];
            // `valid_up_to` guarantees the prefix is UTF-8.
            let prefix = std::str::from_utf8(valid).unwrap_or_default();
            Err(ParseError::at(
                prefix,
                prefix.len(),
                "invalid UTF-8".to_owned(),
                Vec::new(),
            ))
        }
    }
}

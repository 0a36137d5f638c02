//! A hand-written recursive-descent PEG parser for the Logstash config language.
//!
//! Each grammar rule of Logstash's treetop grammar (`lscl_grammar.treetop`,
//! with the comment and hash fixes of elastic/logstash#16058) is one method.
//! Ordered choice and backtracking follow PEG semantics: the first alternative
//! that matches wins and later failures never revisit it.
//!
//! Error reporting mimics treetop: every time an expected token is missing,
//! the position is noted; the error reports the furthest such position and
//! every token expected there. By convention a rule does not note the failure
//! of its own first token; its caller notes one umbrella name instead (e.g.
//! "value" rather than the six ways a value can start), which keeps the
//! expected lists short.
//!
//! The parser state is split by concern over the submodules: `lexical`
//! (whitespace, comments, literals), `structure` (sections, plugins, values)
//! and `condition` (conditionals' expressions).

mod condition;
mod lexical;
mod structure;

use super::ast::{Config, Span};
use super::error::{ParseError, describe_expected, describe_found, line_column};

/// Deepest nesting of blocks, values, parentheses and calls accepted, so that
/// a hostile input cannot overflow the stack.
///
/// Real pipelines rarely nest ten levels; at 64 the worst case stays under
/// 1 MiB of stack even in debug builds (about a quarter of that in release),
/// leaving room for the caller on a default 2 MiB thread.
pub const MAX_DEPTH: usize = 64;

/// Short names used in `ParseError::expected`.
mod label {
    pub const INPUT: &str = "`input`";
    pub const FILTER: &str = "`filter`";
    pub const OUTPUT: &str = "`output`";
    pub const LBRACE: &str = "`{`";
    pub const RBRACE: &str = "`}`";
    pub const RBRACKET: &str = "`]`";
    pub const LPAREN: &str = "`(`";
    pub const RPAREN: &str = "`)`";
    pub const COMMA: &str = "`,`";
    pub const ARROW: &str = "`=>`";
    pub const IF: &str = "`if`";
    pub const ELSE: &str = "`else`";
    pub const IN: &str = "`in`";
    pub const NOT_IN: &str = "`not in`";
    pub const DOUBLE_QUOTE: &str = "`\"`";
    pub const SINGLE_QUOTE: &str = "`'`";
    pub const SLASH: &str = "`/`";
    pub const PLUGIN: &str = "plugin";
    pub const ATTRIBUTE: &str = "attribute name";
    pub const VALUE: &str = "value";
    pub const HASH_KEY: &str = "hash key";
    pub const DIGIT: &str = "digit";
    pub const END_OF_LINE: &str = "end of line";
    pub const CONDITION: &str = "condition";
    pub const OPERAND: &str = "operand";
    pub const FIELD_REFERENCE: &str = "field reference";
    pub const FIELD_NAME: &str = "field name";
    pub const COMPARISON_OPERATOR: &str = "comparison operator";
    pub const REGEXP_OPERATOR: &str = "regexp operator";
    pub const BOOLEAN_OPERATOR: &str = "boolean operator";
    pub const STRING: &str = "string";
    pub const REGEXP: &str = "regexp";
}

/// Why a rule did not match.
#[derive(Debug)]
enum Fail {
    /// The rule does not match here; the caller may try something else.
    Mismatch,
    /// Nesting exceeded [`MAX_DEPTH`] at this byte offset; parsing stops.
    TooDeep(usize),
}

type PResult<T> = Result<T, Fail>;

/// A literal that was still open at the end of the input.
#[derive(Debug, Clone, Copy)]
struct Unterminated {
    what: &'static str,
    start: usize,
}

/// Parses a complete config, requiring the whole input to be consumed.
pub(super) fn parse_config(src: &str) -> Result<Config, ParseError> {
    let mut parser = Parser::new(src);
    match parser.config() {
        Ok(config) if parser.pos == src.len() => Ok(config),
        Ok(_) | Err(Fail::Mismatch) => Err(parser.error()),
        Err(Fail::TooDeep(offset)) => Err(ParseError::at(
            src,
            offset,
            format!("nesting deeper than {MAX_DEPTH} levels"),
            Vec::new(),
        )),
    }
}

struct Parser<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    depth: usize,
    /// Furthest offset at which an expected token was missing.
    furthest: usize,
    /// What was expected at `furthest`, in the order first noted.
    expected: Vec<&'static str>,
    /// A string or regexp that ran into the end of the input, if any.
    unterminated: Option<Unterminated>,
}

impl<'a> Parser<'a> {
    fn new(src: &'a str) -> Self {
        Self {
            src,
            bytes: src.as_bytes(),
            pos: 0,
            depth: 0,
            furthest: 0,
            expected: Vec::new(),
            unterminated: None,
        }
    }

    /// Records that `what` was expected at `at`.
    fn note(&mut self, at: usize, what: &'static str) {
        if at > self.furthest {
            self.furthest = at;
            self.expected.clear();
        }
        if at == self.furthest && !self.expected.contains(&what) {
            self.expected.push(what);
        }
    }

    /// Runs `rule`; on a mismatch rewinds to where it started and yields `None`
    /// (ordered choice and optional/repeated parts of the grammar).
    fn attempt<T>(&mut self, rule: impl FnOnce(&mut Self) -> PResult<T>) -> PResult<Option<T>> {
        let start = self.pos;
        match rule(self) {
            Ok(value) => Ok(Some(value)),
            Err(Fail::Mismatch) => {
                self.pos = start;
                Ok(None)
            }
            Err(fatal) => Err(fatal),
        }
    }

    /// Runs `rule` one nesting level deeper, failing hard beyond [`MAX_DEPTH`].
    fn nested<T>(&mut self, rule: impl FnOnce(&mut Self) -> PResult<T>) -> PResult<T> {
        if self.depth >= MAX_DEPTH {
            return Err(Fail::TooDeep(self.pos));
        }
        self.depth += 1;
        let result = rule(self);
        self.depth -= 1;
        result
    }

    /// Runs `rule`, noting `what` as expected if it does not match here;
    /// for the places where the grammar requires something.
    fn expect_rule<T>(
        &mut self,
        rule: impl FnOnce(&mut Self) -> PResult<T>,
        what: &'static str,
    ) -> PResult<T> {
        let at = self.pos;
        match self.attempt(rule)? {
            Some(found) => Ok(found),
            None => {
                self.note(at, what);
                Err(Fail::Mismatch)
            }
        }
    }

    /// `cs (item (cs "," cs item)*)? cs`: the inside of arrays and argument
    /// lists, noting `what` wherever an item was required but missing.
    fn comma_list<T>(
        &mut self,
        item: fn(&mut Self) -> PResult<T>,
        what: &'static str,
    ) -> PResult<Vec<T>> {
        self.skip_cs();
        let mut items = Vec::new();
        if let Some(first) = self.attempt(|p| p.expect_rule(item, what))? {
            items.push(first);
            while let Some(next) = self.attempt(|p| {
                p.skip_cs();
                p.expect(",", label::COMMA)?;
                p.skip_cs();
                p.expect_rule(item, what)
            })? {
                items.push(next);
            }
        }
        self.skip_cs();
        Ok(items)
    }

    fn span_from(&self, start: usize) -> Span {
        Span::new(start, self.pos)
    }

    fn text(&self, span: Span) -> String {
        self.src.get(span.range()).unwrap_or_default().to_owned()
    }

    /// The error for a failed parse, at the furthest point reached.
    fn error(&self) -> ParseError {
        let at = self.furthest;
        let expected: Vec<String> = self.expected.iter().map(|s| (*s).to_owned()).collect();
        let wanted = describe_expected(&expected);
        let message = if at < self.src.len() {
            if wanted.is_empty() {
                format!("unexpected {}", describe_found(self.src, at))
            } else {
                format!("{wanted}, found {}", describe_found(self.src, at))
            }
        } else if let Some(open) = self.unterminated {
            let (line, column) = line_column(self.src, open.start);
            format!(
                "unterminated {} (opened at line {line}, column {column})",
                open.what
            )
        } else if wanted.is_empty() {
            "unexpected end of input".to_owned()
        } else {
            format!("unexpected end of input, {wanted}")
        };
        ParseError::at(self.src, at, message, expected)
    }
}

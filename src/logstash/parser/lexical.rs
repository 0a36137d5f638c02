//! Terminals: whitespace and comments, keywords and punctuation, and the
//! literal forms (names, barewords, strings, regexps, numbers).
//!
//! Literal scanners return spans rather than owned text so that a failed
//! alternative (e.g. trying a value as a plugin first) costs no allocation.

use super::{Fail, PResult, Parser, Unterminated, label};
use crate::logstash::ast::{Bareword, Number, RegexpLit, Span, StringLit};

/// A plugin or attribute name as scanned.
#[derive(Debug, Clone, Copy)]
pub(super) struct NameTok {
    /// The name's text (between the quotes for a quoted name).
    pub content: Span,
    /// As written.
    pub span: Span,
}

impl NameTok {
    /// Whether the name was written as a string literal.
    pub fn is_quoted(&self) -> bool {
        self.content != self.span
    }
}

fn is_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

fn is_word_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

impl Parser<'_> {
    pub(super) fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<u8> {
        self.bytes.get(self.pos + offset).copied()
    }

    /// Consumes `lit` if it comes next; does not note a failure.
    pub(super) fn eat(&mut self, lit: &str) -> bool {
        if self.bytes[self.pos..].starts_with(lit.as_bytes()) {
            self.pos += lit.len();
            true
        } else {
            false
        }
    }

    /// Consumes `lit` or fails, noting that `what` was expected here.
    pub(super) fn expect(&mut self, lit: &str, what: &'static str) -> PResult<()> {
        if self.eat(lit) {
            Ok(())
        } else {
            self.note(self.pos, what);
            Err(Fail::Mismatch)
        }
    }

    /// Whether whitespace comes next (required between plugin attributes).
    pub(super) fn at_whitespace(&self) -> bool {
        self.peek().is_some_and(is_whitespace)
    }

    /// `cs`: any mix of whitespace and `#` comments, possibly empty.
    pub(super) fn skip_cs(&mut self) {
        loop {
            while self.peek().is_some_and(is_whitespace) {
                self.pos += 1;
            }
            if self.peek() != Some(b'#') || !self.comment() {
                return;
            }
        }
    }

    /// `"#" [^\r\n]* ("\r"? "\n" / end of input)`; on failure nothing is consumed.
    fn comment(&mut self) -> bool {
        let start = self.pos;
        let body = start + 1;
        let stop = self.bytes[body..]
            .iter()
            .position(|&b| b == b'\r' || b == b'\n')
            .map_or(self.bytes.len(), |i| body + i);
        let mut end = stop;
        if self.bytes.get(end) == Some(&b'\r') {
            end += 1;
        }
        match self.bytes.get(end) {
            None => self.pos = end,
            Some(b'\n') => self.pos = end + 1,
            Some(_) => {
                // A lone "\r" inside a comment: the grammar has no way on.
                self.note(end, label::END_OF_LINE);
                self.pos = start;
                return false;
            }
        }
        true
    }

    /// `name`: `[A-Za-z0-9_-]+` or a quoted string.
    pub(super) fn name(&mut self) -> PResult<NameTok> {
        let start = self.pos;
        while self.peek().is_some_and(is_name_byte) {
            self.pos += 1;
        }
        if self.pos > start {
            let span = self.span_from(start);
            return Ok(NameTok {
                content: span,
                span,
            });
        }
        let span = self.string_span()?;
        Ok(NameTok {
            content: Span::new(span.start + 1, span.end - 1),
            span,
        })
    }

    /// `bareword`: `[A-Za-z_][A-Za-z0-9_]+` (at least two characters).
    pub(super) fn bareword(&mut self) -> PResult<Bareword> {
        let start = self.pos;
        if !self.peek().is_some_and(is_word_start) || !self.peek_at(1).is_some_and(is_word_byte) {
            return Err(Fail::Mismatch);
        }
        self.pos += 2;
        while self.peek().is_some_and(is_word_byte) {
            self.pos += 1;
        }
        let span = self.span_from(start);
        Ok(Bareword {
            text: self.text(span),
            span,
        })
    }

    /// `number`: `"-"? [0-9]+ ("." [0-9]*)?`.
    pub(super) fn number(&mut self) -> PResult<Number> {
        let start = self.pos;
        self.eat("-");
        let digits = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
        if self.pos == digits {
            if digits > start {
                self.note(digits, label::DIGIT);
            }
            self.pos = start;
            return Err(Fail::Mismatch);
        }
        if self.eat(".") {
            while self.peek().is_some_and(|b| b.is_ascii_digit()) {
                self.pos += 1;
            }
        }
        let span = self.span_from(start);
        Ok(Number {
            text: self.text(span),
            span,
        })
    }

    /// `string`: a double- or single-quoted string.
    pub(super) fn string(&mut self) -> PResult<StringLit> {
        let span = self.string_span()?;
        Ok(self.string_lit(span))
    }

    /// The string literal already scanned at `span`.
    pub(super) fn string_lit(&self, span: Span) -> StringLit {
        StringLit {
            raw: self.text(Span::new(span.start + 1, span.end - 1)),
            quote: if self.bytes.get(span.start) == Some(&b'"') {
                '"'
            } else {
                '\''
            },
            span,
        }
    }

    /// `regexp`: `/ ... /` where `\/` does not end the literal.
    pub(super) fn regexp(&mut self) -> PResult<RegexpLit> {
        let span = self.delimited(b'/', label::SLASH, "regexp")?;
        Ok(RegexpLit {
            raw: self.text(Span::new(span.start + 1, span.end - 1)),
            span,
        })
    }

    fn string_span(&mut self) -> PResult<Span> {
        match self.peek() {
            Some(b'"') => self.delimited(b'"', label::DOUBLE_QUOTE, "string"),
            Some(b'\'') => self.delimited(b'\'', label::SINGLE_QUOTE, "string"),
            _ => Err(Fail::Mismatch),
        }
    }

    /// `q ( "\" q / !q . )* q`: a backslash protects only the delimiter, as
    /// in Logstash's grammar (so `"a\\"` is *not* terminated by its last quote).
    fn delimited(&mut self, quote: u8, closing: &'static str, what: &'static str) -> PResult<Span> {
        let start = self.pos;
        if self.peek() != Some(quote) {
            return Err(Fail::Mismatch);
        }
        let mut i = start + 1;
        loop {
            let Some(offset) = self.bytes[i..]
                .iter()
                .position(|&b| b == quote || b == b'\\')
            else {
                let end = self.bytes.len();
                self.note(end, closing);
                if self.unterminated.is_none() {
                    self.unterminated = Some(Unterminated { what, start });
                }
                return Err(Fail::Mismatch);
            };
            i += offset;
            if self.bytes[i] == quote {
                break;
            }
            // A backslash: it protects a following delimiter, nothing else.
            i += if self.bytes.get(i + 1) == Some(&quote) {
                2
            } else {
                1
            };
        }
        self.pos = i + 1;
        Ok(self.span_from(start))
    }
}

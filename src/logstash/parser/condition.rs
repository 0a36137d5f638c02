//! Rules for the conditions of `if` / `else if`.

use super::{Fail, PResult, Parser, label};
use crate::logstash::ast::{
    BooleanOperator, CompareOperator, Condition, Expression, MatchOperator, MethodCall, Negated,
    Pattern, Rvalue, Selector, SelectorElement, Span,
};

const COMPARE_OPERATORS: [(&str, CompareOperator); 6] = [
    ("==", CompareOperator::Eq),
    ("!=", CompareOperator::Ne),
    ("<=", CompareOperator::Le),
    (">=", CompareOperator::Ge),
    ("<", CompareOperator::Lt),
    (">", CompareOperator::Gt),
];

const BOOLEAN_OPERATORS: [(&str, BooleanOperator); 4] = [
    ("and", BooleanOperator::And),
    ("or", BooleanOperator::Or),
    ("xor", BooleanOperator::Xor),
    ("nand", BooleanOperator::Nand),
];

impl Parser<'_> {
    /// `condition`: `expression (cs boolean_operator cs expression)*`.
    pub(super) fn condition(&mut self) -> PResult<Condition> {
        let start = self.pos;
        let first = self.expression()?;
        let mut rest = Vec::new();
        while let Some(next) = self.attempt(|p| {
            p.skip_cs();
            let operator = p.boolean_operator().ok_or(Fail::Mismatch)?;
            p.skip_cs();
            let expression = p.expect_rule(Self::expression, label::CONDITION)?;
            Ok((operator, expression))
        })? {
            rest.push(next);
        }
        Ok(Condition {
            first,
            rest,
            span: self.span_from(start),
        })
    }

    fn boolean_operator(&mut self) -> Option<BooleanOperator> {
        self.operator(&BOOLEAN_OPERATORS, label::BOOLEAN_OPERATOR)
    }

    /// The first operator of `table` found here, or a note that `label` was expected.
    fn operator<T: Copy>(&mut self, table: &[(&str, T)], label: &'static str) -> Option<T> {
        let found = table
            .iter()
            .find(|(text, _)| self.eat(text))
            .map(|&(_, op)| op);
        if found.is_none() {
            self.note(self.pos, label);
        }
        found
    }

    /// `expression`: `"(" cs condition cs ")" / negative_expression /
    /// in_expression / not_in_expression / compare_expression /
    /// regexp_expression / rvalue`.
    ///
    /// The last five alternatives all start with an rvalue, which is parsed
    /// once and then followed by whichever operator matches first; this is
    /// equivalent to trying them in order.
    fn expression(&mut self) -> PResult<Expression> {
        let start = self.pos;
        match self.peek() {
            Some(b'(') => {
                let condition = self.parenthesised()?;
                Ok(Expression::Group {
                    condition: Box::new(condition),
                    span: self.span_from(start),
                })
            }
            Some(b'!') => {
                self.pos += 1;
                self.skip_cs();
                let operand = if self.peek() == Some(b'(') {
                    Negated::Condition(Box::new(self.parenthesised()?))
                } else if let Some(selector) = self.attempt(Self::selector)? {
                    Negated::Selector(selector)
                } else {
                    self.note(self.pos, label::LPAREN);
                    self.note(self.pos, label::FIELD_REFERENCE);
                    return Err(Fail::Mismatch);
                };
                Ok(Expression::Not {
                    operand,
                    span: self.span_from(start),
                })
            }
            _ => self.operation(),
        }
    }

    /// `"(" cs condition cs ")"`.
    fn parenthesised(&mut self) -> PResult<Condition> {
        self.nested(|p| {
            p.expect("(", label::LPAREN)?;
            p.skip_cs();
            let condition = p.expect_rule(Self::condition, label::CONDITION)?;
            p.skip_cs();
            p.expect(")", label::RPAREN)?;
            Ok(condition)
        })
    }

    /// An rvalue, optionally followed by `in`, `not in`, a comparison or a
    /// regexp operator and its right operand.
    fn operation(&mut self) -> PResult<Expression> {
        let start = self.pos;
        let left = self.rvalue()?;
        let after_left = self.pos;
        self.skip_cs();
        let operator_at = self.pos;

        if self.eat("in") {
            self.skip_cs();
            if let Some(right) = self.right_operand()? {
                return Ok(Expression::In {
                    left,
                    right,
                    negated: false,
                    span: self.span_from(start),
                });
            }
            self.pos = operator_at;
        } else {
            self.note(operator_at, label::IN);
        }

        // `not_in_operator` is `"not " cs "in"`: a single space is part of the keyword.
        if self.eat("not ") {
            self.skip_cs();
            if self.eat("in") {
                self.skip_cs();
                if let Some(right) = self.right_operand()? {
                    return Ok(Expression::In {
                        left,
                        right,
                        negated: true,
                        span: self.span_from(start),
                    });
                }
            } else {
                self.note(self.pos, label::IN);
            }
            self.pos = operator_at;
        } else {
            self.note(operator_at, label::NOT_IN);
        }

        if let Some(operator) = self.compare_operator() {
            self.skip_cs();
            if let Some(right) = self.right_operand()? {
                return Ok(Expression::Compare {
                    left,
                    operator,
                    right,
                    span: self.span_from(start),
                });
            }
            self.pos = operator_at;
        }

        if let Some(operator) = self.match_operator() {
            self.skip_cs();
            let at = self.pos;
            let pattern = if let Some(string) = self.attempt(Self::string)? {
                Some(Pattern::String(string))
            } else {
                self.attempt(Self::regexp)?.map(Pattern::Regexp)
            };
            if let Some(pattern) = pattern {
                return Ok(Expression::Match {
                    left,
                    operator,
                    pattern,
                    span: self.span_from(start),
                });
            }
            self.note(at, label::STRING);
            self.note(at, label::REGEXP);
            self.pos = operator_at;
        }

        self.pos = after_left;
        Ok(Expression::Rvalue(left))
    }

    fn compare_operator(&mut self) -> Option<CompareOperator> {
        self.operator(&COMPARE_OPERATORS, label::COMPARISON_OPERATOR)
    }

    fn match_operator(&mut self) -> Option<MatchOperator> {
        if self.eat("=~") {
            Some(MatchOperator::Match)
        } else if self.eat("!~") {
            Some(MatchOperator::NotMatch)
        } else {
            self.note(self.pos, label::REGEXP_OPERATOR);
            None
        }
    }

    /// The right operand of an operator, if one follows (noting "operand" if not).
    fn right_operand(&mut self) -> PResult<Option<Rvalue>> {
        self.attempt(|p| p.expect_rule(Self::rvalue, label::OPERAND))
    }

    /// `rvalue`: `string / number / selector / array / method_call / regexp`.
    ///
    /// Only `[` can start two alternatives (selector, then array); the others
    /// are told apart by their first byte.
    fn rvalue(&mut self) -> PResult<Rvalue> {
        match self.peek() {
            Some(b'"' | b'\'') => self.string().map(Rvalue::String),
            Some(b'-' | b'0'..=b'9') => self.number().map(Rvalue::Number),
            Some(b'[') => {
                if let Some(selector) = self.attempt(Self::selector)? {
                    Ok(Rvalue::Selector(selector))
                } else {
                    self.array().map(Rvalue::Array)
                }
            }
            Some(b'/') => self.regexp().map(Rvalue::Regexp),
            Some(_) => self.method_call().map(Rvalue::MethodCall),
            None => Err(Fail::Mismatch),
        }
    }

    /// `selector`: one or more `"[" [^\][,]+ "]"`.
    fn selector(&mut self) -> PResult<Selector> {
        let start = self.pos;
        let mut elements = Vec::new();
        while self.peek() == Some(b'[') {
            let element_start = self.pos;
            self.pos += 1;
            let name_start = self.pos;
            while self
                .peek()
                .is_some_and(|b| !matches!(b, b'[' | b']' | b','))
            {
                self.pos += 1;
            }
            if self.pos == name_start {
                self.note(self.pos, label::FIELD_NAME);
                self.pos = element_start;
                break;
            }
            let name = Span::new(name_start, self.pos);
            if !self.eat("]") {
                self.note(self.pos, label::RBRACKET);
                self.pos = element_start;
                break;
            }
            elements.push(SelectorElement {
                name: self.text(name),
                span: self.span_from(element_start),
            });
        }
        if elements.is_empty() {
            return Err(Fail::Mismatch);
        }
        Ok(Selector {
            elements,
            span: self.span_from(start),
        })
    }

    /// `method_call`: `bareword cs "(" cs (rvalue (cs "," cs rvalue)*)? cs ")"`.
    fn method_call(&mut self) -> PResult<MethodCall> {
        let start = self.pos;
        let name = self.bareword()?;
        self.skip_cs();
        self.expect("(", label::LPAREN)?;
        let args = self.nested(|p| {
            let args = p.comma_list(Self::rvalue, label::OPERAND)?;
            p.expect(")", label::RPAREN)?;
            Ok(args)
        })?;
        Ok(MethodCall {
            name: name.text,
            name_span: name.span,
            args,
            span: self.span_from(start),
        })
    }
}

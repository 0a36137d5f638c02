//! Rules for the shape of a config: sections, plugins, attributes, values,
//! and the `if` / `else if` / `else` blocks that group plugins.

use super::{Fail, PResult, Parser, label};
use crate::logstash::ast::{
    Array, Attribute, Branch, BranchOrPlugin, Conditional, Config, ElseBlock, Hash, HashEntry,
    HashKey, Plugin, Section, SectionKind, Value,
};

impl Parser<'_> {
    /// `config`: `(cs plugin_section)* cs`.
    pub(super) fn config(&mut self) -> PResult<Config> {
        let mut sections = Vec::new();
        loop {
            self.skip_cs();
            match self.attempt(Self::section)? {
                Some(section) => sections.push(section),
                None => break,
            }
        }
        Ok(Config { sections })
    }

    /// `plugin_section`: `plugin_type cs "{" cs (branch_or_plugin cs)* "}"`.
    fn section(&mut self) -> PResult<Section> {
        let start = self.pos;
        let kind = if self.eat("input") {
            SectionKind::Input
        } else if self.eat("filter") {
            SectionKind::Filter
        } else if self.eat("output") {
            SectionKind::Output
        } else {
            self.note(start, label::INPUT);
            self.note(start, label::FILTER);
            self.note(start, label::OUTPUT);
            return Err(Fail::Mismatch);
        };
        self.skip_cs();
        self.expect("{", label::LBRACE)?;
        let body = self.block_body()?;
        Ok(Section {
            kind,
            body,
            span: self.span_from(start),
        })
    }

    /// The part after `{` shared by sections and conditionals:
    /// `cs (branch_or_plugin cs)* "}"`.
    fn block_body(&mut self) -> PResult<Vec<BranchOrPlugin>> {
        self.skip_cs();
        let mut body = Vec::new();
        while let Some(item) = self.attempt(Self::branch_or_plugin)? {
            body.push(item);
            self.skip_cs();
        }
        self.expect("}", label::RBRACE)?;
        Ok(body)
    }

    /// `branch_or_plugin`: `branch / plugin`.
    fn branch_or_plugin(&mut self) -> PResult<BranchOrPlugin> {
        let start = self.pos;
        if let Some(branch) = self.attempt(Self::branch)? {
            return Ok(BranchOrPlugin::Branch(Box::new(branch)));
        }
        if let Some(plugin) = self.attempt(Self::plugin)? {
            return Ok(BranchOrPlugin::Plugin(plugin));
        }
        self.note(start, label::IF);
        self.note(start, label::PLUGIN);
        Err(Fail::Mismatch)
    }

    /// `plugin`: `name cs "{" cs (attribute (whitespace cs attribute)*)? cs "}"`.
    fn plugin(&mut self) -> PResult<Plugin> {
        let start = self.pos;
        let name = self.name()?;
        self.skip_cs();
        self.expect("{", label::LBRACE)?;
        let attributes = self.nested(Self::plugin_body)?;
        Ok(Plugin {
            name: self.text(name.content),
            name_span: name.span,
            attributes,
            span: self.span_from(start),
        })
    }

    /// `cs (attribute (whitespace cs attribute)*)? cs "}"`: unlike hash
    /// entries, attributes must be separated by at least one whitespace
    /// character.
    fn plugin_body(&mut self) -> PResult<Vec<Attribute>> {
        self.skip_cs();
        let mut attributes = Vec::new();
        if let Some(first) = self.attempt(|p| p.expect_rule(Self::attribute, label::ATTRIBUTE))? {
            attributes.push(first);
            while let Some(next) = self.attempt(|p| {
                if !p.at_whitespace() {
                    return Err(Fail::Mismatch);
                }
                p.skip_cs();
                p.expect_rule(Self::attribute, label::ATTRIBUTE)
            })? {
                attributes.push(next);
            }
        }
        self.skip_cs();
        self.expect("}", label::RBRACE)?;
        Ok(attributes)
    }

    /// `attribute`: `name cs "=>" cs value`.
    fn attribute(&mut self) -> PResult<Attribute> {
        let start = self.pos;
        let name = self.name()?;
        self.skip_cs();
        self.expect("=>", label::ARROW)?;
        self.skip_cs();
        let value = self.expect_rule(Self::value, label::VALUE)?;
        Ok(Attribute {
            name: self.text(name.content),
            name_span: name.span,
            value,
            span: self.span_from(start),
        })
    }

    /// `value`: `plugin / bareword / string / number / array / hash`.
    ///
    /// A plugin's name is scanned once: when no `{` follows it, a quoted name
    /// is taken as the string alternative instead of being scanned again.
    fn value(&mut self) -> PResult<Value> {
        let start = self.pos;
        if let Some(name) = self.attempt(Self::name)? {
            self.skip_cs();
            if self.peek() == Some(b'{') {
                self.pos = start;
                if let Some(plugin) = self.attempt(Self::plugin)? {
                    return Ok(Value::Plugin(plugin));
                }
            } else {
                self.note(self.pos, label::LBRACE);
            }
            if name.is_quoted() {
                self.pos = name.span.end;
                return Ok(Value::String(self.string_lit(name.span)));
            }
            self.pos = start;
        }
        // A quote that did not make a name is an unterminated string, which
        // the string alternative would reject the same way.
        if let Some(word) = self.attempt(Self::bareword)? {
            return Ok(Value::Bareword(word));
        }
        if let Some(number) = self.attempt(Self::number)? {
            return Ok(Value::Number(number));
        }
        match self.peek() {
            Some(b'[') => self.array().map(Value::Array),
            Some(b'{') => self.hash().map(Value::Hash),
            _ => Err(Fail::Mismatch),
        }
    }

    /// `array`: `"[" cs (value (cs "," cs value)*)? cs "]"`.
    pub(super) fn array(&mut self) -> PResult<Array> {
        let start = self.pos;
        if !self.eat("[") {
            return Err(Fail::Mismatch);
        }
        let elements = self.nested(|p| {
            let elements = p.comma_list(Self::value, label::VALUE)?;
            p.expect("]", label::RBRACKET)?;
            Ok(elements)
        })?;
        Ok(Array {
            elements,
            span: self.span_from(start),
        })
    }

    /// `hash`: `"{" cs (hashentry (cs hashentry)*)? cs "}"`.
    fn hash(&mut self) -> PResult<Hash> {
        let start = self.pos;
        if !self.eat("{") {
            return Err(Fail::Mismatch);
        }
        let entries = self.nested(|p| {
            let mut entries = Vec::new();
            while let Some(entry) = p.attempt(|p| {
                p.skip_cs();
                p.expect_rule(Self::hash_entry, label::HASH_KEY)
            })? {
                entries.push(entry);
            }
            p.skip_cs();
            p.expect("}", label::RBRACE)?;
            Ok(entries)
        })?;
        Ok(Hash {
            entries,
            span: self.span_from(start),
        })
    }

    /// `hashentry`: `(number / bareword / string) cs "=>" cs value`.
    fn hash_entry(&mut self) -> PResult<HashEntry> {
        let start = self.pos;
        let key = if let Some(number) = self.attempt(Self::number)? {
            HashKey::Number(number)
        } else if let Some(word) = self.attempt(Self::bareword)? {
            HashKey::Bareword(word)
        } else {
            HashKey::String(self.string()?)
        };
        self.skip_cs();
        self.expect("=>", label::ARROW)?;
        self.skip_cs();
        let value = self.expect_rule(Self::value, label::VALUE)?;
        Ok(HashEntry {
            key,
            value,
            span: self.span_from(start),
        })
    }

    /// `branch`: `if (cs else_if)* (cs else)?`.
    fn branch(&mut self) -> PResult<Branch> {
        let start = self.pos;
        if !self.eat("if") {
            return Err(Fail::Mismatch);
        }
        let if_block = self.conditional(start)?;
        let mut else_ifs = Vec::new();
        while let Some(block) = self.attempt(Self::else_if)? {
            else_ifs.push(block);
        }
        let else_block = self.attempt(Self::else_block)?;
        Ok(Branch {
            if_block,
            else_ifs,
            else_block,
            span: self.span_from(start),
        })
    }

    /// `cs else_if`, where `else_if` is `"else" cs "if" cs condition cs "{" ... "}"`.
    fn else_if(&mut self) -> PResult<Conditional> {
        self.skip_cs();
        let start = self.pos;
        self.expect("else", label::ELSE)?;
        self.skip_cs();
        self.expect("if", label::IF)?;
        self.conditional(start)
    }

    /// `cs else`, where `else` is `"else" cs "{" cs (branch_or_plugin cs)* "}"`.
    fn else_block(&mut self) -> PResult<ElseBlock> {
        self.skip_cs();
        let start = self.pos;
        self.expect("else", label::ELSE)?;
        self.skip_cs();
        self.expect("{", label::LBRACE)?;
        let body = self.nested(Self::block_body)?;
        Ok(ElseBlock {
            body,
            span: self.span_from(start),
        })
    }

    /// The rest of `if` / `else if` after its keywords:
    /// `cs condition cs "{" cs (branch_or_plugin cs)* "}"`.
    fn conditional(&mut self, start: usize) -> PResult<Conditional> {
        self.skip_cs();
        let condition = self.expect_rule(Self::condition, label::CONDITION)?;
        self.skip_cs();
        self.expect("{", label::LBRACE)?;
        let body = self.nested(Self::block_body)?;
        Ok(Conditional {
            condition,
            body,
            span: self.span_from(start),
        })
    }
}

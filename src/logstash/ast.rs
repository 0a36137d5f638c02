//! The syntax tree of a Logstash pipeline configuration.
//!
//! The tree mirrors Logstash's grammar closely (it is a concrete-ish syntax
//! tree without comments and whitespace): literal text is kept as written
//! (numbers stay text, strings keep their escapes) and every node that a
//! caller may want to rewrite carries a byte [`Span`] into the source, so a
//! config can be edited by splicing text while keeping comments and layout.

use std::ops::Range;

/// A half-open byte range `start..end` into the parsed source.
///
/// Byte offsets (not characters) because callers rewrite configs by splicing
/// `&src[span.range()]`, which needs byte positions on `char` boundaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    /// Offset of the first byte.
    pub start: usize,
    /// Offset one past the last byte.
    pub end: usize,
}

impl Span {
    /// Builds a span; kept `const` so tests and callers can write expected spans inline.
    pub const fn new(start: usize, end: usize) -> Self {
        Self { start, end }
    }

    /// The span as a range, so that `&src[span.range()]` slices the source.
    pub const fn range(self) -> Range<usize> {
        self.start..self.end
    }

    /// Length in bytes; useful when computing offsets after a splice.
    pub const fn len(self) -> usize {
        self.end.saturating_sub(self.start)
    }

    /// Whether the span covers no bytes (never the case for parsed nodes).
    pub const fn is_empty(self) -> bool {
        self.len() == 0
    }
}

/// A whole configuration file: the pipeline is the concatenation of its sections.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Config {
    /// Sections in source order; Logstash allows any number of each kind.
    pub sections: Vec<Section>,
}

/// Which stage of the pipeline a section configures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SectionKind {
    /// `input { ... }`
    Input,
    /// `filter { ... }`
    Filter,
    /// `output { ... }`
    Output,
}

impl SectionKind {
    /// The keyword that opens the section, for messages and re-rendering.
    pub const fn keyword(self) -> &'static str {
        match self {
            Self::Input => "input",
            Self::Filter => "filter",
            Self::Output => "output",
        }
    }
}

/// `input { ... }`, `filter { ... }` or `output { ... }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The stage this section belongs to.
    pub kind: SectionKind,
    /// Plugins and conditionals in source order.
    pub body: Vec<BranchOrPlugin>,
    /// From the keyword to the closing `}`.
    pub span: Span,
}

/// One element of a section or conditional body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BranchOrPlugin {
    /// An `if` / `else if` / `else` chain (boxed: it is much larger than a plugin).
    Branch(Box<Branch>),
    /// A plugin invocation such as `grok { ... }`.
    Plugin(Plugin),
}

/// A plugin invocation `name { attribute => value ... }`; also used as an
/// attribute value (`codec => json { }`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plugin {
    /// The plugin name; for a quoted name, the text between the quotes as written.
    pub name: String,
    /// The name as written, including quotes if any.
    pub name_span: Span,
    /// Attributes in source order; duplicates are kept (Logstash merges or
    /// rejects them later, not in the grammar).
    pub attributes: Vec<Attribute>,
    /// From the name to the closing `}`.
    pub span: Span,
}

/// A `name => value` setting of a plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// The attribute name; for a quoted name, the text between the quotes as written.
    pub name: String,
    /// The name as written, including quotes if any.
    pub name_span: Span,
    /// The value.
    pub value: Value,
    /// From the name to the end of the value.
    pub span: Span,
}

/// The value of an attribute, array element or hash entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A plugin used as a value, e.g. a codec.
    Plugin(Plugin),
    /// An unquoted word such as `true` or `rubydebug`.
    Bareword(Bareword),
    /// A quoted string.
    String(StringLit),
    /// A number, kept as written.
    Number(Number),
    /// `[ value, ... ]`
    Array(Array),
    /// `{ key => value ... }`
    Hash(Hash),
}

impl Value {
    /// Where the value is written, whatever its kind.
    pub fn span(&self) -> Span {
        match self {
            Self::Plugin(v) => v.span,
            Self::Bareword(v) => v.span,
            Self::String(v) => v.span,
            Self::Number(v) => v.span,
            Self::Array(v) => v.span,
            Self::Hash(v) => v.span,
        }
    }
}

/// An unquoted word (`[A-Za-z_][A-Za-z0-9_]+`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bareword {
    /// The word.
    pub text: String,
    /// Where it is written.
    pub span: Span,
}

/// A quoted string literal.
///
/// The content is kept raw because whether escapes are processed depends on
/// Logstash's `config.support_escapes` setting, which the grammar does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StringLit {
    /// The text between the quotes, escapes untouched.
    pub raw: String,
    /// `"` or `'`.
    pub quote: char,
    /// The literal including its quotes.
    pub span: Span,
}

impl StringLit {
    /// The content with `\"`, `\'` and `\\` replaced by the character they
    /// protect; any other backslash is kept as written.
    ///
    /// These three are the escapes that matter for quoting and are the ones
    /// every Logstash version agrees on; `\n`, `\t` etc. are left alone so a
    /// Windows-style path such as `C:\new` survives unchanged.
    pub fn unescaped(&self) -> String {
        let mut out = String::with_capacity(self.raw.len());
        let mut chars = self.raw.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\\'
                && let Some(&next @ ('"' | '\'' | '\\')) = chars.peek()
            {
                out.push(next);
                chars.next();
                continue;
            }
            out.push(c);
        }
        out
    }

    /// The span of the content, without the quotes, for splicing new content in.
    pub fn content_span(&self) -> Span {
        Span::new(self.span.start + 1, self.span.end.saturating_sub(1))
    }
}

/// A number (`-?[0-9]+(\.[0-9]*)?`), kept as text: Logstash keeps e.g. `010`
/// and very large integers verbatim, and the meaning depends on the plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Number {
    /// The number as written.
    pub text: String,
    /// Where it is written.
    pub span: Span,
}

/// `[ value, ... ]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Array {
    /// Elements in source order.
    pub elements: Vec<Value>,
    /// From `[` to `]`.
    pub span: Span,
}

/// `{ key => value ... }`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hash {
    /// Entries in source order; duplicate keys are kept.
    pub entries: Vec<HashEntry>,
    /// From `{` to `}`.
    pub span: Span,
}

/// One `key => value` entry of a hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashEntry {
    /// The key.
    pub key: HashKey,
    /// The value.
    pub value: Value,
    /// From the key to the end of the value.
    pub span: Span,
}

/// What the grammar allows as a hash key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashKey {
    /// A numeric key such as `200`.
    Number(Number),
    /// A bare key such as `message`.
    Bareword(Bareword),
    /// A quoted key.
    String(StringLit),
}

impl HashKey {
    /// The key's text: the number or word, or the raw string content.
    pub fn text(&self) -> &str {
        match self {
            Self::Number(n) => &n.text,
            Self::Bareword(b) => &b.text,
            Self::String(s) => &s.raw,
        }
    }

    /// Where the key is written (including quotes).
    pub fn span(&self) -> Span {
        match self {
            Self::Number(n) => n.span,
            Self::Bareword(b) => b.span,
            Self::String(s) => s.span,
        }
    }
}

/// An `if` with its optional `else if`s and `else`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Branch {
    /// The leading `if`.
    pub if_block: Conditional,
    /// The `else if` blocks in order.
    pub else_ifs: Vec<Conditional>,
    /// The final `else`, if any.
    pub else_block: Option<ElseBlock>,
    /// From `if` to the last `}`.
    pub span: Span,
}

/// `if <condition> { ... }` or `else if <condition> { ... }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conditional {
    /// The guard.
    pub condition: Condition,
    /// What runs when the guard holds.
    pub body: Vec<BranchOrPlugin>,
    /// From `if` (or `else`) to `}`.
    pub span: Span,
}

/// `else { ... }`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElseBlock {
    /// What runs when no guard holds.
    pub body: Vec<BranchOrPlugin>,
    /// From `else` to `}`.
    pub span: Span,
}

/// Expressions joined by boolean operators, as written.
///
/// The chain is kept flat (no precedence applied) because that is what the
/// grammar produces; Logstash resolves precedence when compiling, and keeping
/// the written order makes the tree lossless for rewriting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// The first expression.
    pub first: Expression,
    /// Each following operator with its right-hand expression.
    pub rest: Vec<(BooleanOperator, Expression)>,
    /// The whole condition.
    pub span: Span,
}

/// `and`, `or`, `xor`, `nand`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BooleanOperator {
    /// `and`
    And,
    /// `or`
    Or,
    /// `xor`
    Xor,
    /// `nand`
    Nand,
}

/// One operand of a condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expression {
    /// `( condition )`
    Group {
        /// The parenthesised condition.
        condition: Box<Condition>,
        /// From `(` to `)`.
        span: Span,
    },
    /// `!( condition )` or `![field]`.
    Not {
        /// What is negated.
        operand: Negated,
        /// From `!` to the end of the operand.
        span: Span,
    },
    /// `left in right` or `left not in right`.
    In {
        /// The value looked for.
        left: Rvalue,
        /// The collection or string searched.
        right: Rvalue,
        /// Whether written `not in`.
        negated: bool,
        /// The whole expression.
        span: Span,
    },
    /// `left <op> right` with `==`, `!=`, `<`, `>`, `<=`, `>=`.
    Compare {
        /// Left operand.
        left: Rvalue,
        /// The operator.
        operator: CompareOperator,
        /// Right operand.
        right: Rvalue,
        /// The whole expression.
        span: Span,
    },
    /// `left =~ pattern` or `left !~ pattern`.
    Match {
        /// The value matched.
        left: Rvalue,
        /// `=~` or `!~`.
        operator: MatchOperator,
        /// A regexp literal or a string holding the pattern.
        pattern: Pattern,
        /// The whole expression.
        span: Span,
    },
    /// A value used as a truth test, e.g. `if [field] { ... }`.
    Rvalue(Rvalue),
}

impl Expression {
    /// Where the expression is written.
    pub fn span(&self) -> Span {
        match self {
            Self::Group { span, .. }
            | Self::Not { span, .. }
            | Self::In { span, .. }
            | Self::Compare { span, .. }
            | Self::Match { span, .. } => *span,
            Self::Rvalue(r) => r.span(),
        }
    }
}

/// What `!` applies to; the grammar allows only these two forms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Negated {
    /// `!( condition )`
    Condition(Box<Condition>),
    /// `![field][subfield]`
    Selector(Selector),
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOperator {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `>`
    Gt,
    /// `<=`
    Le,
    /// `>=`
    Ge,
}

/// Regular-expression match operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchOperator {
    /// `=~`
    Match,
    /// `!~`
    NotMatch,
}

/// The right-hand side of `=~` / `!~`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pattern {
    /// A pattern given as a string.
    String(StringLit),
    /// A `/.../` literal.
    Regexp(RegexpLit),
}

/// A value inside a condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rvalue {
    /// A quoted string.
    String(StringLit),
    /// A number.
    Number(Number),
    /// A field reference such as `[a][b]`.
    Selector(Selector),
    /// An array literal (its elements are ordinary values).
    Array(Array),
    /// A function call such as `length([field])`.
    MethodCall(MethodCall),
    /// A `/.../` literal.
    Regexp(RegexpLit),
}

impl Rvalue {
    /// Where the value is written.
    pub fn span(&self) -> Span {
        match self {
            Self::String(v) => v.span,
            Self::Number(v) => v.span,
            Self::Selector(v) => v.span,
            Self::Array(v) => v.span,
            Self::MethodCall(v) => v.span,
            Self::Regexp(v) => v.span,
        }
    }
}

/// A field reference: one or more `[name]` elements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    /// The path elements, outermost first.
    pub elements: Vec<SelectorElement>,
    /// From the first `[` to the last `]`.
    pub span: Span,
}

/// One `[name]` of a field reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectorElement {
    /// The text between the brackets as written (it may contain spaces).
    pub name: String,
    /// Including the brackets.
    pub span: Span,
}

/// `name(arg, ...)` in a condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodCall {
    /// The function name.
    pub name: String,
    /// Where the name is written.
    pub name_span: Span,
    /// Arguments in order.
    pub args: Vec<Rvalue>,
    /// From the name to `)`.
    pub span: Span,
}

/// A `/.../` literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegexpLit {
    /// The text between the slashes, escapes untouched.
    pub raw: String,
    /// Including the slashes.
    pub span: Span,
}

//! The parse error and how positions and messages are rendered.

/// Why a config was rejected, and where.
///
/// Like Logstash, the position is the furthest point any alternative of the
/// grammar reached, which for an unterminated string or block can be well
/// after the actual mistake; `expected` lists what would have been accepted
/// there so tools can offer their own wording.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: u32,
    /// 1-based column, counted in Unicode characters so it matches what
    /// editors show.
    pub column: u32,
    /// A short human-readable description.
    pub message: String,
    /// Short names of the tokens that would have been accepted at the
    /// position, e.g. `` `{` `` or `value`.
    pub expected: Vec<String>,
}

impl ParseError {
    /// Builds an error at byte `offset` of `src`.
    pub(super) fn at(src: &str, offset: usize, message: String, expected: Vec<String>) -> Self {
        let (line, column) = line_column(src, offset);
        Self {
            line,
            column,
            message,
            expected,
        }
    }
}

/// 1-based line and character column of byte `offset` (clamped to the input),
/// so errors found after parsing (in a span's text) point where editors do.
pub fn line_column(src: &str, offset: usize) -> (u32, u32) {
    let offset = floor_char_boundary(src, offset);
    let before = &src.as_bytes()[..offset];
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let column = 1 + src[line_start..offset].chars().count();
    (saturate(line), saturate(column))
}

fn saturate(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The largest char boundary not after `offset`, so slicing never panics.
fn floor_char_boundary(src: &str, offset: usize) -> usize {
    let mut offset = offset.min(src.len());
    while !src.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// Describes the text found at `offset` for "found ..." messages.
pub(super) fn describe_found(src: &str, offset: usize) -> String {
    let rest = &src[floor_char_boundary(src, offset)..];
    match rest.chars().next() {
        None => "end of input".to_owned(),
        Some('\n' | '\r') => "end of line".to_owned(),
        Some(' ' | '\t') => "whitespace".to_owned(),
        Some(c) if c.is_ascii_alphanumeric() || c == '_' => {
            let word: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
                .take(24)
                .collect();
            format!("`{word}`")
        }
        Some(c) => format!("`{c}`"),
    }
}

/// "expected `a`" or "expected one of `a`, `b`".
pub(super) fn describe_expected(expected: &[String]) -> String {
    match expected {
        [] => String::new(),
        [one] => format!("expected {one}"),
        many => format!("expected one of {}", many.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_count_characters_not_bytes() {
        let src = "é\nab€c";
        assert_eq!(line_column(src, 0), (1, 1));
        assert_eq!(line_column(src, 2), (1, 2));
        assert_eq!(line_column(src, 3), (2, 1));
        // after "ab€" (1 + 1 + 3 bytes): fourth character of line 2
        assert_eq!(line_column(src, 8), (2, 4));
        // an offset inside a character rounds down instead of panicking
        assert_eq!(line_column(src, 6), (2, 3));
        assert_eq!(line_column(src, 999), (2, 5));
    }

    #[test]
    fn found_descriptions() {
        assert_eq!(describe_found("abc-d e", 0), "`abc-d`");
        assert_eq!(describe_found("}", 0), "`}`");
        assert_eq!(describe_found("x", 1), "end of input");
        assert_eq!(describe_found("\n", 0), "end of line");
        assert_eq!(describe_found(" ", 0), "whitespace");
    }
}

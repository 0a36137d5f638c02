//! Error positions, messages and the nesting limit.

use super::{err, err_at, ok};
use crate::logstash::{MAX_DEPTH, ParseError, parse_bytes};

#[test]
fn unclosed_section_reports_end_of_input() {
    let e = err_at("filter {\n  mutate { }\n", 3, 1);
    assert_eq!(
        e.message,
        "unexpected end of input, expected one of `if`, plugin, `}`"
    );
    assert_eq!(e.expected, ["`if`", "plugin", "`}`"]);
}

#[test]
fn message_names_what_was_found() {
    let e = err_at("input { stdin { codec => } }", 1, 26);
    assert_eq!(e.message, "expected value, found `}`");
    let e = err_at("input {\n  stdin {\n    codec json\n  }\n}", 3, 11);
    assert_eq!(e.message, "expected `=>`, found `json`");
    let e = err_at("filter { { } }", 1, 10);
    assert_eq!(e.message, "expected one of `if`, plugin, `}`, found `{`");
}

#[test]
fn display_prefixes_the_position() {
    let e = err("output { stdout }");
    assert_eq!(e.to_string(), "line 1, column 17: expected `{`, found `}`");
}

#[test]
fn unterminated_literals_say_where_they_opened() {
    let e = err_at("filter {\n  p { v => \"abc\n  }\n}\n", 5, 1);
    assert_eq!(
        e.message,
        "unterminated string (opened at line 2, column 12)"
    );
    assert_eq!(e.expected, ["`\"`"]);
    let e = err_at("filter { p { v => 'abc } }", 1, 27);
    assert!(e.message.starts_with("unterminated string"), "{e}");
    let e = err_at("filter {\n  if [a] =~ /abc {\n  }\n}", 4, 2);
    assert_eq!(
        e.message,
        "unterminated regexp (opened at line 2, column 13)"
    );
}

#[test]
fn columns_count_characters() {
    // "é" and "€" are multi-byte; the error is at the `}` after `w`.
    let e = err_at("# é€\nfilter { p { v => 'é€' w } }", 2, 26);
    assert_eq!(e.expected, ["`=>`"]);
}

#[test]
fn the_furthest_failure_wins() {
    // The unterminated string swallows the rest of the file, as in Logstash:
    // the error is at the end, far from the missing quote on line 2.
    let e = err_at(
        "input {\n  p { v => \"abc }\n}\noutput {\n  q { w => \"x\" }\n}\n",
        5,
        13,
    );
    assert_eq!(e.expected, ["`{`", "`}`"]);
}

#[test]
fn invalid_utf8_is_reported_at_the_first_bad_byte() {
    let e = parse_bytes(b"input {\n  \xff }").expect_err("invalid UTF-8");
    assert_eq!((e.line, e.column), (2, 3));
    assert_eq!(e.message, "invalid UTF-8");
    assert!(parse_bytes(b"input { }").is_ok());
}

fn nested(open: &str, inner: &str, close: &str, levels: usize) -> String {
    format!("{}{inner}{}", open.repeat(levels), close.repeat(levels))
}

fn too_deep(src: &str) -> ParseError {
    let e = err(src);
    assert!(e.message.starts_with("nesting deeper than"), "{e}");
    e
}

#[test]
fn nesting_up_to_the_limit_is_accepted() {
    // Each level of blocks, values, parentheses and calls counts once; inside
    // a plugin, the plugin itself is the first level.
    for src in deepest_accepted() {
        ok(&src);
    }
    let parens = nested("(", "[a]", ")", MAX_DEPTH);
    ok(&format!("filter {{ if {parens} {{ }} }}"));
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    for levels in [MAX_DEPTH + 1, 10_000] {
        let arrays = nested("[", "1", "]", levels);
        let e = too_deep(&format!("filter {{ p {{ v => {arrays} }} }}"));
        assert_eq!(e.line, 1);
        too_deep(&format!(
            "filter {{ p {{ v => {} }} }}",
            nested("{ kk => ", "1", " }", levels)
        ));
        too_deep(&format!(
            "filter {{ p {{ v => {} }} }}",
            nested("cc { v => ", "1", " }", levels)
        ));
        too_deep(&format!(
            "filter {{ if {} {{ }} }}",
            nested("(", "[a]", ")", levels)
        ));
        too_deep(&format!(
            "filter {{ if {} {{ }} }}",
            nested("!(", "[a]", ")", levels)
        ));
        too_deep(&format!(
            "filter {{ if {} {{ }} }}",
            nested("fn(", "1", ")", levels)
        ));
        too_deep(&format!(
            "filter {{ {} }}",
            nested("if [a] { ", "", " }", levels)
        ));
    }
    // Unclosed nesting is also caught, before the missing brackets matter.
    too_deep(&format!("filter {{ p {{ v => {}", "[".repeat(100_000)));
}

/// The deepest input accepted for each kind of nesting.
fn deepest_accepted() -> Vec<String> {
    let inside_plugin = MAX_DEPTH - 1;
    vec![
        format!(
            "filter {{ if {} {{ }} }}",
            nested("!(", "[a]", ")", MAX_DEPTH)
        ),
        format!(
            "filter {{ if {} {{ }} }}",
            nested("fn(", "1", ")", MAX_DEPTH)
        ),
        format!("filter {{ {} }}", nested("if [a] { ", "", " }", MAX_DEPTH)),
        format!(
            "filter {{ p {{ v => {} }} }}",
            nested("[", "1", "]", inside_plugin)
        ),
        format!(
            "filter {{ p {{ v => {} }} }}",
            nested("{ kk => ", "1", " }", inside_plugin)
        ),
        format!(
            "filter {{ p {{ v => {} }} }}",
            nested("cc { v => ", "1", " }", inside_plugin)
        ),
    ]
}

#[test]
fn worst_case_nesting_fits_in_one_megabyte_of_stack() {
    // Debug builds use the most stack per level; 1 MiB leaves half of a
    // default 2 MiB thread stack to the caller.
    let inputs = deepest_accepted();
    std::thread::Builder::new()
        .stack_size(1024 * 1024)
        .spawn(move || {
            for src in &inputs {
                ok(src);
            }
        })
        .expect("spawn")
        .join()
        .expect("parsing within 1 MiB of stack");
}

//! Property tests: no input panics, errors point inside the input, and
//! generated values parse back to exactly their own text.

use proptest::prelude::*;
use proptest::sample::{Index, select};

use super::first_plugin;
use crate::logstash::{ParseError, parse, parse_bytes};

/// A small config that uses most of the grammar, as a seed for mutations.
const SAMPLE: &str = r#"input { stdin { codec => json { charset => "UTF-8" } } }
filter {
  # comment
  if [type] == "x" and !([a][b] in ["p", 'q']) or len([c]) >= -1.5 {
    grok { match => { "message" => "%{IP:ip} \"q\"" } tag_on_failure => [] }
  } else if [m] =~ /re\/x/ { drop { } } else { mutate { docker-path => '/p' } }
}
output { stdout { } }"#;

/// Fragments that steer random inputs into the grammar's deeper rules.
const TOKENS: &[&str] = &[
    "input", "filter", "output", "{", "}", "[", "]", "(", ")", ",", "=>", "if", "else", "and",
    "or", "nand", "xor", "!", "==", "<=", "=~", "!~", "in", "not ", "\"s\"", "'t'", "\"", "'",
    "/r/", "/", "\\", "#c\n", "#", " ", "\n", "\r", "\t", "ab", "x", "-", "1", "2.5", ".", "é",
];

/// Characters used to mutate [`SAMPLE`].
const EDIT_CHARS: &[char] = &[
    '{', '}', '[', ']', '(', ')', '"', '\'', '/', '\\', '#', '\n', '\r', ' ', ',', '=', '>', '!',
    '~', '<', '-', '.', '0', 'a', 'Z', '_', 'é', '😀',
];

/// Asserts that the error position lies within `src` (or just past its end).
fn assert_inside(src: &str, e: &ParseError) {
    let lines: Vec<&str> = src.split('\n').collect();
    assert!(e.line >= 1 && e.column >= 1, "{e}");
    let line = usize::try_from(e.line).expect("line fits usize");
    assert!(line <= lines.len(), "{e}: only {} lines", lines.len());
    let width = lines[line - 1].chars().count();
    let column = usize::try_from(e.column).expect("column fits usize");
    assert!(
        column <= width + 1,
        "{e}: line {line} has {width} characters"
    );
}

fn check(src: &str) {
    if let Err(e) = parse(src) {
        assert_inside(src, &e);
    }
}

/// Text of a valid value: barewords, numbers, strings, arrays, hashes and
/// plugins, nested a few levels.
fn value_text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        "[A-Za-z_][A-Za-z0-9_]{1,8}",
        "-?[0-9]{1,5}(\\.[0-9]{0,3})?",
        "\"([^\"\\\\]|\\\\[\"a-z]){0,10}\"",
        "'([^'\\\\]|\\\\['a-z]){0,10}'",
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
            prop::collection::vec(("[a-z_][a-z0-9_]{1,6}", inner.clone()), 0..4).prop_map(|v| {
                let entries: Vec<String> = v.iter().map(|(k, v)| format!("{k} => {v}")).collect();
                format!("{{ {} }}", entries.join(" # c\n "))
            }),
            prop::collection::vec(("[a-z_][a-z0-9_-]{0,6}", inner), 0..3).prop_map(|v| {
                let attributes: Vec<String> =
                    v.iter().map(|(k, v)| format!("{k} => {v}")).collect();
                format!("codec {{ {} }}", attributes.join("\n"))
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        if let Err(e) = parse_bytes(&bytes) {
            prop_assert!(e.line >= 1 && e.column >= 1);
        }
        check(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn token_soup_never_panics(tokens in prop::collection::vec(select(TOKENS), 0..80)) {
        check(&tokens.concat());
    }

    #[test]
    fn mutated_config_never_panics(
        edits in prop::collection::vec((any::<Index>(), 0..3u8, select(EDIT_CHARS)), 1..8)
    ) {
        let mut chars: Vec<char> = SAMPLE.chars().collect();
        for (at, kind, c) in edits {
            let i = at.index(chars.len() + 1);
            match kind {
                0 => chars.insert(i, c),
                1 if i < chars.len() => { chars.remove(i); }
                _ if i < chars.len() => chars[i] = c,
                _ => chars.push(c),
            }
        }
        check(&chars.into_iter().collect::<String>());
    }

    #[test]
    fn generated_values_parse_to_their_own_text(value in value_text()) {
        let src = format!("filter {{ p {{ v => {value} }} }}");
        let config = parse(&src).map_err(|e| TestCaseError::fail(format!("{src}: {e}")))?;
        let span = first_plugin(&config).attributes[0].value.span();
        prop_assert_eq!(&src[span.range()], value.as_str());
    }
}

#[test]
fn the_mutation_seed_is_valid() {
    parse(SAMPLE).expect("SAMPLE parses");
}

//! Sections, plugins, attributes, values and comments.

use super::{err_at, first_plugin, ok, slice, value_of};
use crate::logstash::{BranchOrPlugin, HashKey, SectionKind, Value};

// ---- files and sections -------------------------------------------------

#[test]
fn empty_whitespace_and_comment_only_files_have_no_sections() {
    for src in [
        "",
        " \t\r\n\n  ",
        "# just a comment",
        "# one\n# two\n",
        "  # indented, no newline",
        "#\r\n#\n",
    ] {
        assert!(ok(src).sections.is_empty(), "{src:?}");
    }
}

#[test]
fn sections_of_every_kind_in_order_with_spans() {
    let src = "input { }\nfilter{}output {\n}\nfilter { }";
    let config = ok(src);
    let kinds: Vec<SectionKind> = config.sections.iter().map(|s| s.kind).collect();
    assert_eq!(
        kinds,
        [
            SectionKind::Input,
            SectionKind::Filter,
            SectionKind::Output,
            SectionKind::Filter
        ]
    );
    assert_eq!(slice(src, config.sections[0].span), "input { }");
    assert_eq!(slice(src, config.sections[1].span), "filter{}");
    assert_eq!(slice(src, config.sections[2].span), "output {\n}");
    assert_eq!(SectionKind::Output.keyword(), "output");
}

#[test]
fn section_keyword_is_case_sensitive_and_exact() {
    let e = err_at("FILTER { }", 1, 1);
    assert_eq!(e.expected, ["`input`", "`filter`", "`output`"]);
    err_at("inputs { }", 1, 6);
    err_at("input { }\nbogus { }", 2, 1);
}

#[test]
fn comments_everywhere_and_last_line_without_newline() {
    let src = "# head\ninput # a\n{ # b\n  stdin # c\n  # d\n  { # e\n    codec # f\n    => # g\n    json # h\n  } # i\n} # end without newline";
    let config = ok(src);
    let plugin = first_plugin(&config);
    assert_eq!(plugin.name, "stdin");
    assert_eq!(plugin.attributes[0].name, "codec");
}

#[test]
fn comment_may_end_with_crlf_but_not_a_lone_cr() {
    ok("input { } # x\r\nfilter { }");
    ok("input { } # x\r");
    err_at("input { } # x\rfilter { }", 1, 15);
}

// ---- plugins and attributes --------------------------------------------

#[test]
fn plugin_with_attributes_and_spans() {
    let src = "filter {\n  mutate {\n    add_tag => \"x\"\n    id => 'm1'\n  }\n}\n";
    let config = ok(src);
    let plugin = first_plugin(&config);
    assert_eq!(plugin.name, "mutate");
    assert_eq!(slice(src, plugin.name_span), "mutate");
    assert_eq!(
        slice(src, plugin.span),
        "mutate {\n    add_tag => \"x\"\n    id => 'm1'\n  }"
    );
    let names: Vec<&str> = plugin.attributes.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["add_tag", "id"]);
    let first = &plugin.attributes[0];
    assert_eq!(slice(src, first.span), "add_tag => \"x\"");
    assert_eq!(slice(src, first.name_span), "add_tag");
    assert_eq!(slice(src, first.value.span()), "\"x\"");
}

#[test]
fn plugins_need_no_separator_and_names_allow_digits_and_hyphens() {
    let config = ok("output{stdout{}null{}s3-out2{}}");
    let names: Vec<String> = config.sections[0]
        .body
        .iter()
        .map(|item| match item {
            BranchOrPlugin::Plugin(p) => p.name.clone(),
            BranchOrPlugin::Branch(_) => panic!("unexpected branch"),
        })
        .collect();
    assert_eq!(names, ["stdout", "null", "s3-out2"]);
}

#[test]
fn quoted_plugin_and_attribute_names() {
    let src = r#"input { "my plugin" { "key one" => 1 'key-two' => 2 x => 3 } }"#;
    let config = ok(src);
    let plugin = first_plugin(&config);
    assert_eq!(plugin.name, "my plugin");
    assert_eq!(slice(src, plugin.name_span), "\"my plugin\"");
    let names: Vec<&str> = plugin.attributes.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["key one", "key-two", "x"]);
    assert_eq!(slice(src, plugin.attributes[1].name_span), "'key-two'");
}

#[test]
fn duplicate_attributes_are_kept() {
    let config = ok("filter { p { a => 1 a => 2 } }");
    assert_eq!(first_plugin(&config).attributes.len(), 2);
}

#[test]
fn attributes_must_be_separated_by_whitespace() {
    // After a value, only whitespace may start the next attribute (a comment
    // alone is not enough); see Logstash's `(whitespace cs attribute)*`.
    err_at("filter { p { a => \"1\"b => 2 } }", 1, 22);
    err_at("filter { p { a => \"1\"# c\n b => 2 } }", 2, 2);
    ok("filter { p { a => \"1\" # c\n b => 2 } }");
    ok("filter { p { a => 1\tb => 2 } }");
}

// ---- strings ------------------------------------------------------------

#[test]
fn double_and_single_quoted_strings_keep_raw_content() {
    let Value::String(s) = value_of(r#""say \"hi\"""#) else {
        panic!("not a string")
    };
    assert_eq!((s.raw.as_str(), s.quote), (r#"say \"hi\""#, '"'));
    assert_eq!(s.unescaped(), r#"say "hi""#);

    let Value::String(s) = value_of(r"'it\'s'") else {
        panic!("not a string")
    };
    assert_eq!((s.raw.as_str(), s.quote), (r"it\'s", '\''));
    assert_eq!(s.unescaped(), "it's");
}

#[test]
fn unescaping_touches_only_quotes_and_backslashes() {
    let Value::String(s) = value_of(r#""C:\new\\dir \' \x""#) else {
        panic!("not a string")
    };
    assert_eq!(s.unescaped(), r"C:\new\dir ' \x");
}

#[test]
fn strings_may_span_lines_and_hold_any_unicode() {
    let Value::String(s) = value_of("\"line1\nline2 ✓ 😀\"") else {
        panic!("not a string")
    };
    assert_eq!(s.raw, "line1\nline2 ✓ 😀");
    let Value::String(s) = value_of("'a \"double\" inside'") else {
        panic!("not a string")
    };
    assert_eq!(s.raw, "a \"double\" inside");
}

#[test]
fn backslash_before_closing_quote_escapes_it() {
    // As in Logstash, `\"` never ends a string, even after another backslash.
    let e = err_at("filter { p { v => \"a\\\\\" } }", 1, 28);
    assert!(e.message.starts_with("unterminated string"), "{e}");
    let Value::String(s) = value_of(r#""a\\" b""#) else {
        panic!("not a string")
    };
    assert_eq!(s.raw, r#"a\\" b"#);
}

#[test]
fn string_content_span_excludes_quotes() {
    let src = "filter { p { v => 'abc' } }";
    let config = ok(src);
    let Value::String(s) = &first_plugin(&config).attributes[0].value else {
        panic!("not a string")
    };
    assert_eq!(slice(src, s.content_span()), "abc");
}

// ---- numbers and barewords ----------------------------------------------

#[test]
fn numbers_integer_negative_decimal() {
    for (text, expected) in [
        ("42", "42"),
        ("-7", "-7"),
        ("3.1415", "3.1415"),
        ("-0.5", "-0.5"),
        ("010", "010"),
        ("1.", "1."),
        (
            "123456789012345678901234567890",
            "123456789012345678901234567890",
        ),
    ] {
        match value_of(text) {
            Value::Number(n) => assert_eq!(n.text, expected),
            other => panic!("{text}: expected a number, got {other:?}"),
        }
    }
}

#[test]
fn malformed_numbers_are_rejected() {
    err_at("filter { p { v => .5 } }", 1, 19);
    err_at("filter { p { v => - } }", 1, 21);
    err_at("filter { p { v => 1.2.3 } }", 1, 22);
}

#[test]
fn barewords_need_two_characters() {
    for word in ["true", "_x", "a1", "rubydebug", "__"] {
        match value_of(word) {
            Value::Bareword(b) => assert_eq!(b.text, word),
            other => panic!("{word}: expected a bareword, got {other:?}"),
        }
    }
    // A single letter could only be a plugin name, so `{` is what is missing.
    let e = err_at("filter { p { v => x } }", 1, 21);
    assert_eq!(e.expected, ["`{`"]);
    // Barewords have no hyphens.
    err_at("filter { p { v => foo-bar } }", 1, 27);
}

// ---- arrays -------------------------------------------------------------

#[test]
fn arrays_nested_empty_and_mixed() {
    let Value::Array(array) = value_of("[ [1, 2], [], [ ], \"s\", word, -1.5, { k1 => v1 } ]")
    else {
        panic!("not an array")
    };
    assert_eq!(array.elements.len(), 7);
    let Value::Array(inner) = &array.elements[0] else {
        panic!("not an array")
    };
    assert_eq!(inner.elements.len(), 2);
    assert!(matches!(&array.elements[1], Value::Array(a) if a.elements.is_empty()));
    assert!(matches!(&array.elements[2], Value::Array(a) if a.elements.is_empty()));
    assert!(matches!(&array.elements[6], Value::Hash(_)));
}

#[test]
fn arrays_allow_comments_and_newlines() {
    let Value::Array(array) = value_of("[\n # c\n 1 # c\n , # c\n 2\n # c\n]") else {
        panic!("not an array")
    };
    assert_eq!(array.elements.len(), 2);
    assert!(matches!(value_of("[ # only a comment\n ]"), Value::Array(a) if a.elements.is_empty()));
}

#[test]
fn array_forms_logstash_rejects() {
    // trailing comma
    let e = err_at("filter { p { v => [1, 2, ] } }", 1, 26);
    assert_eq!(e.expected, ["value"]);
    // leading comma
    err_at("filter { p { v => [, 1] } }", 1, 20);
    // missing comma (`{` is listed because `1 {` would start a plugin named "1")
    let e = err_at("filter { p { v => [1 2] } }", 1, 22);
    assert_eq!(e.expected, ["`{`", "`,`", "`]`"]);
    // unclosed
    err_at("filter { p { v => [1, 2 } }", 1, 25);
}

#[test]
fn plugins_may_be_array_elements() {
    let Value::Array(array) = value_of("[ json { }, plain { charset => \"UTF-8\" } ]") else {
        panic!("not an array")
    };
    assert!(matches!(&array.elements[1], Value::Plugin(p) if p.name == "plain"));
}

// ---- hashes -------------------------------------------------------------

#[test]
fn hash_keys_may_be_numbers_barewords_or_strings() {
    let Value::Hash(hash) =
        value_of("{ 200 => ok -1.5 => neg bb => \"x\" \"q k\" => 'y' 'z' => [] }")
    else {
        panic!("not a hash")
    };
    let keys: Vec<&str> = hash.entries.iter().map(|e| e.key.text()).collect();
    assert_eq!(keys, ["200", "-1.5", "bb", "q k", "z"]);
    assert!(matches!(hash.entries[0].key, HashKey::Number(_)));
    assert!(matches!(hash.entries[2].key, HashKey::Bareword(_)));
    assert!(matches!(hash.entries[3].key, HashKey::String(_)));
}

#[test]
fn hashes_nested_empty_and_with_comments_between_entries() {
    let src = "filter { p { v => {\n # before\n \"a\" => { b1 => 1 }\n # between\n \"c\" => {}\n # after\n} } }";
    let config = ok(src);
    let Value::Hash(hash) = &first_plugin(&config).attributes[0].value else {
        panic!("not a hash")
    };
    assert_eq!(hash.entries.len(), 2);
    assert_eq!(slice(src, hash.entries[0].span), "\"a\" => { b1 => 1 }");
    assert_eq!(slice(src, hash.entries[1].key.span()), "\"c\"");
    assert!(matches!(value_of("{}"), Value::Hash(h) if h.entries.is_empty()));
}

#[test]
fn hash_entries_need_no_separator() {
    // Since elastic/logstash#16058 entries are separated by `cs`, which may be empty.
    let Value::Hash(hash) = value_of("{\"a\"=>1\"b\"=>2}") else {
        panic!("not a hash")
    };
    assert_eq!(hash.entries.len(), 2);
}

#[test]
fn hash_forms_logstash_rejects() {
    // single-letter bareword key
    err_at("filter { p { v => { a => 1 } } }", 1, 21);
    // doubled quotes in a key
    err_at("filter { p { v => { \"\"more\"\" => 1 } } }", 1, 23);
    // missing value
    let e = err_at("filter { p { v => { key => } } }", 1, 28);
    assert_eq!(e.expected, ["value"]);
}

// ---- plugins as values --------------------------------------------------

#[test]
fn plugin_as_value() {
    let src = "input { stdin { codec => json_lines { charset => \"UTF-8\" } } }";
    let config = ok(src);
    let Value::Plugin(codec) = &first_plugin(&config).attributes[0].value else {
        panic!("not a plugin")
    };
    assert_eq!(codec.name, "json_lines");
    assert_eq!(codec.attributes[0].name, "charset");
    assert_eq!(
        slice(src, codec.span),
        "json_lines { charset => \"UTF-8\" }"
    );
    assert!(matches!(value_of("json {}"), Value::Plugin(p) if p.attributes.is_empty()));
    assert!(matches!(value_of("json\n # c\n {}"), Value::Plugin(_)));
}

//! Conditionals: `if` / `else if` / `else` and their expressions.

use super::{condition_of, err_at, expression_of, ok, slice};
use crate::logstash::{
    BooleanOperator, BranchOrPlugin, CompareOperator, Expression, MatchOperator, Negated, Pattern,
    Rvalue,
};

#[test]
fn every_comparison_operator() {
    for (op, expected) in [
        ("==", CompareOperator::Eq),
        ("!=", CompareOperator::Ne),
        ("<", CompareOperator::Lt),
        (">", CompareOperator::Gt),
        ("<=", CompareOperator::Le),
        (">=", CompareOperator::Ge),
    ] {
        for condition in [format!("[a] {op} -1.5"), format!("[a]{op}-1.5")] {
            match expression_of(&condition) {
                Expression::Compare {
                    left: Rvalue::Selector(_),
                    operator,
                    right: Rvalue::Number(n),
                    ..
                } => {
                    assert_eq!(operator, expected, "{condition}");
                    assert_eq!(n.text, "-1.5");
                }
                other => panic!("{condition}: {other:?}"),
            }
        }
    }
}

#[test]
fn regexp_match_with_regexp_literal_and_string() {
    match expression_of(r"[msg] =~ /^err\/x/") {
        Expression::Match {
            operator: MatchOperator::Match,
            pattern: Pattern::Regexp(re),
            ..
        } => assert_eq!(re.raw, r"^err\/x"),
        other => panic!("{other:?}"),
    }
    match expression_of(r#"[msg] !~ "^ok""#) {
        Expression::Match {
            operator: MatchOperator::NotMatch,
            pattern: Pattern::String(s),
            ..
        } => assert_eq!(s.raw, "^ok"),
        other => panic!("{other:?}"),
    }
    // Only a string or a regexp may follow a match operator.
    let e = err_at("filter { if [msg] =~ [x] { } }", 1, 22);
    assert_eq!(e.expected, ["string", "regexp"]);
}

#[test]
fn in_and_not_in() {
    match expression_of(r#""x" in [tags]"#) {
        Expression::In {
            left: Rvalue::String(_),
            right: Rvalue::Selector(_),
            negated: false,
            ..
        } => {}
        other => panic!("{other:?}"),
    }
    match expression_of(r#"[a] not in ["x", "y"]"#) {
        Expression::In {
            right: Rvalue::Array(array),
            negated: true,
            ..
        } => assert_eq!(array.elements.len(), 2),
        other => panic!("{other:?}"),
    }
    // `not` and `in` may be separated by comments and whitespace ...
    assert!(matches!(
        expression_of("[a] not  # c\n in [b]"),
        Expression::In { negated: true, .. }
    ));
    // ... but the grammar's keyword is "not " with a literal space.
    err_at("filter { if [a] not\tin [b] { } }", 1, 17);
}

#[test]
fn one_element_bracket_list_is_a_field_reference() {
    // A Logstash quirk: `["x"]` reads as the field `"x"`, not an array.
    match expression_of(r#"[a] in ["x"]"#) {
        Expression::In {
            right: Rvalue::Selector(selector),
            ..
        } => assert_eq!(selector.elements[0].name, "\"x\""),
        other => panic!("{other:?}"),
    }
    // With a comma it cannot be a field reference, so it is an array.
    assert!(matches!(
        expression_of("[aa,bb]"),
        Expression::Rvalue(Rvalue::Array(_))
    ));
}

#[test]
fn boolean_operators_in_written_order() {
    let condition = condition_of("[a] and [b] or [c] nand [d] xor [e]");
    let ops: Vec<BooleanOperator> = condition.rest.iter().map(|(op, _)| *op).collect();
    assert_eq!(
        ops,
        [
            BooleanOperator::And,
            BooleanOperator::Or,
            BooleanOperator::Nand,
            BooleanOperator::Xor
        ]
    );
    // Keywords need no surrounding whitespace.
    assert_eq!(condition_of("[a]and[b]").rest.len(), 1);
    let e = err_at("filter { if [a] and { } }", 1, 21);
    assert_eq!(e.expected, ["condition"]);
}

#[test]
fn negation_of_selector_and_parenthesised_condition() {
    match expression_of("![a][b]") {
        Expression::Not {
            operand: Negated::Selector(selector),
            ..
        } => assert_eq!(selector.elements.len(), 2),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        expression_of("! # c\n [a]"),
        Expression::Not {
            operand: Negated::Selector(_),
            ..
        }
    ));
    match expression_of("!( [a] == 1 or [b] )") {
        Expression::Not {
            operand: Negated::Condition(inner),
            ..
        } => assert_eq!(inner.rest.len(), 1),
        other => panic!("{other:?}"),
    }
    // `!` applies only to a field reference or a parenthesised condition.
    let e = err_at(r#"filter { if !"x" { } }"#, 1, 14);
    assert_eq!(e.expected, ["`(`", "field reference"]);
    err_at("filter { if !![a] { } }", 1, 14);
}

#[test]
fn nested_parentheses() {
    let condition = condition_of("((([a] == 1) and ([b])) or !(([c])))");
    let Expression::Group {
        condition: outer, ..
    } = &condition.first
    else {
        panic!("{condition:?}")
    };
    assert_eq!(outer.rest.len(), 1);
    assert!(matches!(outer.rest[0].1, Expression::Not { .. }));
    let Expression::Group {
        condition: inner, ..
    } = &outer.first
    else {
        panic!("{outer:?}")
    };
    assert_eq!(inner.rest[0].0, BooleanOperator::And);
    err_at("filter { if (([a]) { } }", 1, 20);
}

#[test]
fn method_calls() {
    match expression_of("length([a]) > 1") {
        Expression::Compare {
            left: Rvalue::MethodCall(call),
            ..
        } => {
            assert_eq!(call.name, "length");
            assert_eq!(call.args.len(), 1);
        }
        other => panic!("{other:?}"),
    }
    match expression_of(r#"fn( gg([a]) , "x", 1, /r/ ,[1])"#) {
        Expression::Rvalue(Rvalue::MethodCall(call)) => {
            assert_eq!(call.args.len(), 5);
            assert!(matches!(&call.args[0], Rvalue::MethodCall(inner) if inner.name == "gg"));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        expression_of("now( )"),
        Expression::Rvalue(Rvalue::MethodCall(call)) if call.args.is_empty()
    ));
    // Method names are barewords: at least two characters.
    err_at("filter { if f([a]) { } }", 1, 13);
    // No trailing comma.
    err_at("filter { if fn([a],) { } }", 1, 20);
    // A bare word is not an operand.
    let e = err_at("filter { if [a] == word { } }", 1, 25);
    assert_eq!(e.expected, ["`(`"]);
}

#[test]
fn field_references() {
    let src = "filter { if [@metadata][beat] and [a b][c-d] { } }";
    let condition = condition_of("[@metadata][beat] and [a b][c-d]");
    let Expression::Rvalue(Rvalue::Selector(first)) = &condition.first else {
        panic!("{condition:?}")
    };
    let names: Vec<&str> = first.elements.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["@metadata", "beat"]);
    let Expression::Rvalue(Rvalue::Selector(second)) = &condition.rest[0].1 else {
        panic!("{condition:?}")
    };
    assert_eq!(second.elements[0].name, "a b");
    assert_eq!(slice(src, second.elements[1].span), "[c-d]");
    assert_eq!(slice(src, second.span), "[a b][c-d]");
    // An unclosed field reference runs to the end of the input.
    let e = err_at("filter { if [a { } }", 1, 21);
    assert_eq!(e.message, "unexpected end of input, expected `]`");
}

#[test]
fn rvalues_alone_are_truth_tests() {
    for (condition, expected) in [
        ("[a]", "selector"),
        ("\"x\"", "string"),
        ("1", "number"),
        ("/re/", "regexp"),
        ("[1, 2]", "array"),
        ("len([a])", "call"),
    ] {
        let kind = match expression_of(condition) {
            Expression::Rvalue(Rvalue::Selector(_)) => "selector",
            Expression::Rvalue(Rvalue::String(_)) => "string",
            Expression::Rvalue(Rvalue::Number(_)) => "number",
            Expression::Rvalue(Rvalue::Regexp(_)) => "regexp",
            Expression::Rvalue(Rvalue::Array(_)) => "array",
            Expression::Rvalue(Rvalue::MethodCall(_)) => "call",
            other => panic!("{condition}: {other:?}"),
        };
        assert_eq!(kind, expected);
    }
}

#[test]
fn if_else_if_else_chain_with_spans() {
    let src = "filter {\n  if [a] == 1 {\n    p1 {}\n  } else if [b] {\n    p2 {}\n  } else if [c] {\n  }\n  # between\n  else {\n    p3 {}\n  }\n}";
    let config = ok(src);
    let [BranchOrPlugin::Branch(branch)] = config.sections[0].body.as_slice() else {
        panic!("{config:?}")
    };
    assert_eq!(
        slice(src, branch.if_block.span),
        "if [a] == 1 {\n    p1 {}\n  }"
    );
    assert_eq!(slice(src, branch.if_block.condition.span), "[a] == 1");
    assert_eq!(branch.else_ifs.len(), 2);
    assert_eq!(
        slice(src, branch.else_ifs[0].span),
        "else if [b] {\n    p2 {}\n  }"
    );
    assert!(branch.else_ifs[1].body.is_empty());
    let else_block = branch.else_block.as_ref().expect("else block");
    assert_eq!(slice(src, else_block.span), "else {\n    p3 {}\n  }");
    assert_eq!(else_block.body.len(), 1);
    assert!(slice(src, branch.span).starts_with("if [a] == 1 {"));
    assert!(slice(src, branch.span).ends_with("p3 {}\n  }"));
}

#[test]
fn nested_and_compact_conditionals() {
    let config = ok("filter{if[a]{if[b]{p1{}}else{p2{}}}else if[c]{}else{}}");
    let [BranchOrPlugin::Branch(branch)] = config.sections[0].body.as_slice() else {
        panic!("{config:?}")
    };
    assert!(matches!(
        branch.if_block.body.as_slice(),
        [BranchOrPlugin::Branch(inner)] if inner.else_block.is_some()
    ));
    assert_eq!(branch.else_ifs.len(), 1);
    assert!(branch.else_block.is_some());
}

#[test]
fn keyword_prefixed_names_are_plugins() {
    // PEG choice: when `if ...` does not parse, the text is tried as a plugin.
    let config = ok("filter { iffy {} if {} else {} if [a] {} elsewhere {} }");
    let names: Vec<String> = config.sections[0]
        .body
        .iter()
        .map(|item| match item {
            BranchOrPlugin::Plugin(p) => p.name.clone(),
            BranchOrPlugin::Branch(_) => "<branch>".to_owned(),
        })
        .collect();
    assert_eq!(names, ["iffy", "if", "else", "<branch>", "elsewhere"]);
}

#[test]
fn malformed_branches() {
    // `else if` without a condition
    let e = err_at("filter { if [a] { } else if { } }", 1, 29);
    assert_eq!(e.expected, ["condition"]);
    // missing block
    err_at("filter { if [a] }", 1, 17);
    // empty condition
    err_at("filter { if () { } }", 1, 14);
}

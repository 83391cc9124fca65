//! PromQL parser and printer tests: valid and invalid query tables, precedence, canonical
//! printing, the conformance suite's queries, and a property-based print/parse round trip.

use strata_engine::{MatchOp, Matcher};
use strata_query::parser::ast::*;
use strata_query::parser::{format_query, parse, parse_with, ParseOptions};
use strata_query::Error;

fn ok(q: &str) -> Expr {
    match parse(q) {
        Ok(e) => e,
        Err(e) => panic!("{q:?} should parse, got: {e}"),
    }
}

fn err(q: &str) -> String {
    match parse(q) {
        Ok(e) => panic!("{q:?} should fail, parsed as {e:?}"),
        Err(Error::Parse { msg, .. }) => msg,
        Err(other) => panic!("{q:?}: wrong error kind {other:?}"),
    }
}

/// Parses, prints, re-parses and compares (by `Debug`, so that NaN equals NaN); also checks
/// that printing is a fixed point.
fn round_trip(q: &str) -> String {
    let e = ok(q);
    let printed = e.to_string();
    let again = match parse(&printed) {
        Ok(a) => a,
        Err(err) => panic!("{q:?} printed as {printed:?}, which does not parse: {err}"),
    };
    assert_eq!(
        format!("{e:?}"),
        format!("{again:?}"),
        "{q:?} printed as {printed:?} re-parses differently"
    );
    assert_eq!(
        again.to_string(),
        printed,
        "printing {q:?} is not a fixed point"
    );
    printed
}

const VALID: &[&str] = &[
    // literals
    "1",
    "1.5",
    ".5",
    "5.",
    "0x1f",
    "0X1F",
    "1e3",
    "1E-3",
    "1_000",
    "017",
    "Inf",
    "-inf",
    "+INF",
    "NaN",
    "nan",
    "-1",
    "+1",
    "- -1",
    "5m",
    "1h30m",
    "\"str\"",
    "'single'",
    "`raw\\n`",
    r#""esc \a\b\f\n\r\t\v\\\"  \x41 \101 \u00e9 \U0001F600""#,
    r"'it\'s'",
    // selectors
    "foo",
    "foo:bar:baz",
    "foo{}",
    "foo{a=\"b\"}",
    "foo{a=\"b\",c!=\"d\",e=~\"f.*\",g!~\"h\"}",
    "foo{a=\"b\",}",
    "{__name__=\"foo\"}",
    "{__name__=~\"foo|bar\"}",
    "{\"quoted.name\"}",
    "{\"quoted.name\", \"label.x\"=\"v\"}",
    "{a=\"b\"}",
    "foo{a='b', b=`c`}",
    "foo{on=\"x\", by=\"y\", sum=\"z\"}",
    "sum",
    "min",
    "by",
    "without",
    "offset",
    "and",
    "start",
    "end",
    "sum{a=\"b\"}",
    "foo offset 5m",
    "foo offset -5m",
    "foo offset 1.5",
    "foo OFFSET 1h30m",
    "foo @ 1609746000",
    "foo @ 1609746000.5",
    "foo @ -100",
    "foo @ start()",
    "foo @ end()",
    "foo @ 100 offset 5m",
    "foo offset 5m @ 100",
    "foo[5m]",
    "foo[1h30m]",
    "foo[300]",
    "foo[1.5]",
    "foo[5m] offset 1m",
    "foo[5m] @ 100 offset 1m",
    "foo[5m] offset 1m @ end()",
    "foo{a=\"b\"}[5m:]",
    "foo[30m:1m]",
    "foo[30m:1m] offset 5m @ start()",
    "rate(foo[5m])[30m:1m]",
    "(foo + bar)[5m:]",
    "foo offset 5m[10m:1m]",
    "sum(rate(foo[5m]))[1h:5m] @ 100",
    "min_over_time(rate(foo[5m])[30m:1m])",
    // unary and binary
    "-foo",
    "+foo",
    "-foo offset 5m",
    "-2^2",
    "2^3^2",
    "1 + 2 * 3",
    "(1 + 2) * 3",
    "1 - 2 - 3",
    "foo + bar * baz ^ 2",
    "foo atan2 bar",
    "foo % 2",
    "1 == bool 1",
    "foo > 1",
    "foo > bool 1",
    "foo >= bar",
    "foo <= bar",
    "foo < bar",
    "foo != bar",
    "foo == bar",
    "foo and bar",
    "foo or bar unless baz",
    "foo or bar and baz",
    "foo + on(a, b) bar",
    "foo + on() bar",
    "foo + ignoring(a) bar",
    "foo + ignoring() bar",
    "foo * on(a) group_left bar",
    "foo * on(a) group_left() bar",
    "foo * on(a) group_left(b, c) bar",
    "foo * ignoring(a) group_right(b) bar",
    "foo * on(a) group_left (bar) baz",
    "foo and on(a) bar",
    "foo unless ignoring(a) bar",
    "foo == bool on(a) bar",
    "foo / on(\"a.b\") bar",
    "1 + foo",
    "foo - 1",
    "time() - foo",
    "2 * -foo",
    "2 ^ -1",
    "a * -b * c",
    // aggregations
    "sum(foo)",
    "SUM(foo)",
    "sum by (a) (foo)",
    "sum(foo) by (a)",
    "sum without (a, b) (foo)",
    "sum(foo) without (a)",
    "sum by () (foo)",
    "sum by (a,) (foo)",
    "sum by (\"a.b\", c) (foo)",
    "sum by (on, by, sum, bool, offset) (foo)",
    "avg(foo)",
    "count(foo)",
    "min(foo)",
    "max(foo)",
    "group(foo)",
    "stddev(foo)",
    "stdvar(foo)",
    "topk(5, foo)",
    "bottomk by (a) (5, foo)",
    "quantile(0.9, foo)",
    "count_values(\"v\", foo)",
    "count_values without (a) (\"v\", foo)",
    "sum(sum)",
    "sum(rate(foo[5m])) by (job) / sum(rate(bar[5m])) by (job)",
    // functions
    "rate(foo[5m])",
    "irate(foo[5m])",
    "increase(foo[1h])",
    "delta(foo[5m])",
    "idelta(foo[5m])",
    "deriv(foo[5m])",
    "predict_linear(foo[1h], 3600)",
    "resets(foo[5m])",
    "changes(foo[5m])",
    "histogram_quantile(0.9, sum by (le) (rate(foo_bucket[5m])))",
    "histogram_fraction(0, 0.2, foo)",
    "avg_over_time(foo[5m])",
    "min_over_time(foo[5m])",
    "max_over_time(foo[5m])",
    "sum_over_time(foo[5m])",
    "count_over_time(foo[5m])",
    "quantile_over_time(0.5, foo[5m])",
    "stddev_over_time(foo[5m])",
    "stdvar_over_time(foo[5m])",
    "last_over_time(foo[5m])",
    "present_over_time(foo[5m])",
    "absent(foo)",
    "absent_over_time(foo[5m])",
    "label_replace(foo, \"dst\", \"$1\", \"src\", \"(.*)\")",
    "label_join(foo, \"dst\", \",\", \"a\", \"b\", \"c\")",
    "vector(1)",
    "scalar(foo)",
    "time()",
    "timestamp(foo)",
    "sort(foo)",
    "sort_desc(foo)",
    "clamp(foo, 0, 1)",
    "clamp_min(foo, 0)",
    "clamp_max(foo, 1)",
    "abs(foo)",
    "ceil(foo)",
    "floor(foo)",
    "round(foo)",
    "round(foo, 0.5)",
    "sqrt(foo)",
    "exp(foo)",
    "ln(foo)",
    "log2(foo)",
    "log10(foo)",
    "sgn(foo)",
    "acos(foo)",
    "acosh(foo)",
    "asin(foo)",
    "asinh(foo)",
    "atan(foo)",
    "atanh(foo)",
    "cos(foo)",
    "cosh(foo)",
    "sin(foo)",
    "sinh(foo)",
    "tan(foo)",
    "tanh(foo)",
    "deg(foo)",
    "rad(foo)",
    "pi()",
    "minute()",
    "hour(foo)",
    "day_of_week()",
    "day_of_month(foo)",
    "day_of_year()",
    "days_in_month()",
    "month(foo)",
    "year()",
    "double_exponential_smoothing(foo[5m], 0.5, 0.5)",
    "sort_by_label(foo, \"a\", \"b\")",
    "sort_by_label_desc(foo, \"a\")",
    "mad_over_time(foo[5m])",
    "first_over_time(foo[5m])",
    "ts_of_max_over_time(foo[5m])",
    "histogram_count(foo)",
    "rate (foo[5m])",
    // whitespace and comments
    "  sum  (\n  foo # comment\n )  ",
    "# leading comment\nfoo",
    "foo{a=\"b\" # comment inside braces\n}",
    // deep nesting
    "((((((foo))))))",
];

#[test]
fn valid_queries_parse_and_round_trip() {
    for q in VALID {
        round_trip(q);
    }
}

#[test]
fn canonical_printing() {
    let cases = [
        ("sum(foo) by (a)", "sum by (a) (foo)"),
        ("SUM WITHOUT (a) (foo)", "sum without (a) (foo)"),
        ("foo[90s]", "foo[1m30s]"),
        ("foo[300]", "foo[5m]"),
        ("foo[1.5]", "foo[1s500ms]"),
        ("foo offset 5m @ 100", "foo @ 100.000 offset 5m"),
        ("foo{a='b'}", "foo{a=\"b\"}"),
        ("{__name__=\"x\", a=\"b\"}", "{__name__=\"x\",a=\"b\"}"),
        ("{\"foo\"}", "{__name__=\"foo\"}"),
        ("1e3", "1000"),
        ("0x1f", "31"),
        ("-Inf", "-Inf"),
        ("5m", "300"),
        ("1e-7", "1e-7"),
        ("foo * on(a) group_left bar", "foo * on(a) group_left() bar"),
        ("foo+ignoring(a)bar", "foo + ignoring(a) bar"),
        ("foo + ignoring() bar", "foo + bar"),
        ("`a\"b`", "\"a\\\"b\""),
        ("sum by (\"a.b\") (foo)", "sum by (\"a.b\") (foo)"),
        ("foo{\"a.b\"=\"c\"}", "foo{\"a.b\"=\"c\"}"),
        ("topk ( 3 , foo )", "topk(3, foo)"),
    ];
    for (q, want) in cases {
        assert_eq!(round_trip(q), want, "{q}");
        assert_eq!(format_query(q).expect("formats"), want);
    }
}

fn vs(name: &str) -> Expr {
    Expr::VectorSelector(VectorSelector {
        name: Some(name.into()),
        matchers: vec![Matcher::equal("__name__", name)],
        offset: 0,
        at: None,
    })
}

fn bin(op: BinaryOp, lhs: Expr, rhs: Expr) -> Expr {
    let both_vectors =
        lhs.value_type() == ValueType::Vector && rhs.value_type() == ValueType::Vector;
    Expr::Binary(BinaryExpr {
        op,
        lhs: Box::new(lhs),
        rhs: Box::new(rhs),
        return_bool: false,
        matching: both_vectors.then(|| VectorMatching {
            on: false,
            labels: vec![],
            card: if op.is_set() {
                Cardinality::ManyToMany
            } else {
                Cardinality::OneToOne
            },
        }),
    })
}

#[test]
fn precedence_and_associativity() {
    use BinaryOp::*;
    let n = Expr::Number;
    assert_eq!(
        ok("-2^2"),
        Expr::Unary(UnaryOp::Neg, Box::new(bin(Pow, n(2.0), n(2.0))))
    );
    assert_eq!(ok("2^3^2"), bin(Pow, n(2.0), bin(Pow, n(3.0), n(2.0))));
    assert_eq!(ok("1 - 2 - 3"), bin(Sub, bin(Sub, n(1.0), n(2.0)), n(3.0)));
    assert_eq!(ok("1 + 2 * 3"), bin(Add, n(1.0), bin(Mul, n(2.0), n(3.0))));
    assert_eq!(ok("-1 * 2"), bin(Mul, n(-1.0), n(2.0)));
    assert_eq!(
        ok("-a * b"),
        bin(Mul, Expr::Unary(UnaryOp::Neg, Box::new(vs("a"))), vs("b"))
    );
    assert_eq!(
        ok("a or b and c"),
        bin(Or, vs("a"), bin(And, vs("b"), vs("c")))
    );
    assert_eq!(
        ok("a and b unless c"),
        bin(Unless, bin(And, vs("a"), vs("b")), vs("c"))
    );
    assert_eq!(
        ok("a + b > c"),
        bin(Gtr, bin(Add, vs("a"), vs("b")), vs("c"))
    );
    assert_eq!(
        ok("a > b and c"),
        bin(And, bin(Gtr, vs("a"), vs("b")), vs("c"))
    );
    assert_eq!(
        ok("a * b atan2 c % d"),
        bin(
            Mod,
            bin(Atan2, bin(Mul, vs("a"), vs("b")), vs("c")),
            vs("d")
        )
    );
    assert_eq!(ok("2 ^ -1"), bin(Pow, n(2.0), n(-1.0)));
    assert_eq!(ok("- -1"), n(1.0));
    assert_eq!(
        ok("-(1)"),
        Expr::Unary(UnaryOp::Neg, Box::new(Expr::Paren(Box::new(n(1.0)))))
    );
}

#[test]
fn selector_details() {
    let Expr::VectorSelector(s) = ok("foo{a=\"b\", c=~\"d|e\"} offset -5m @ 100.5") else {
        panic!("not a selector")
    };
    assert_eq!(s.name.as_deref(), Some("foo"));
    assert_eq!(s.offset, -300_000);
    assert_eq!(s.at, Some(AtModifier::Timestamp(100_500)));
    assert_eq!(s.matchers.len(), 3);
    assert!(s
        .matchers
        .contains(&Matcher::new(MatchOp::Regex, "c", "d|e").expect("valid regex")));
    assert!(s.matchers.contains(&Matcher::equal("__name__", "foo")));

    let Expr::VectorSelector(s) = ok("{\"my.metric\", \"label.x\"=\"v\"}") else {
        panic!("not a selector")
    };
    assert_eq!(s.name, None);
    assert_eq!(
        s.matchers,
        vec![
            Matcher::equal("__name__", "my.metric"),
            Matcher::equal("label.x", "v")
        ]
    );

    let Expr::MatrixSelector(m) = ok("foo[1h30m] @ end() offset 1d") else {
        panic!("not a matrix")
    };
    assert_eq!(m.range, 5_400_000);
    assert_eq!(m.selector.offset, 86_400_000);
    assert_eq!(m.selector.at, Some(AtModifier::End));

    let Expr::Subquery(sq) = ok("rate(foo[5m])[1h:] offset 2m") else {
        panic!("not a subquery")
    };
    assert_eq!((sq.range, sq.step, sq.offset), (3_600_000, None, 120_000));
    let Expr::Subquery(sq) = ok("foo[1y:1w]") else {
        panic!("not a subquery")
    };
    assert_eq!(
        (sq.range, sq.step),
        (365 * 86_400_000, Some(7 * 86_400_000))
    );
    assert_eq!(ok("foo offset 0.0005"), vs("foo"));
}

#[test]
fn literal_values() {
    let num = |q: &str| match ok(q) {
        Expr::Number(v) => v,
        other => panic!("{q}: not a number: {other:?}"),
    };
    assert_eq!(num("0x1f"), 31.0);
    assert_eq!(num("017"), 15.0);
    assert_eq!(num("09"), 9.0);
    assert_eq!(num("1_000"), 1000.0);
    assert_eq!(num("1e3"), 1000.0);
    assert_eq!(num(".5"), 0.5);
    assert_eq!(num("-Inf"), f64::NEG_INFINITY);
    assert!(num("nAn").is_nan());
    assert_eq!(num("1h30m"), 5400.0);
    assert_eq!(num("100ms"), 0.1);
    assert_eq!(num("1y"), 365.0 * 86400.0);
    assert_eq!(
        ok(r#""\x41\101\u00e9\n""#),
        Expr::String("AA\u{e9}\n".into())
    );
    assert_eq!(ok("`a\\nb`"), Expr::String("a\\nb".into()));
    assert_eq!(ok("'a\"b'"), Expr::String("a\"b".into()));
}

#[test]
fn binary_matching_is_filled() {
    let Expr::Binary(b) = ok("foo and bar") else {
        panic!()
    };
    assert_eq!(b.matching.map(|m| m.card), Some(Cardinality::ManyToMany));
    let Expr::Binary(b) = ok("foo + 1") else {
        panic!()
    };
    assert_eq!(b.matching, None);
    let Expr::Binary(b) = ok("foo * on(a) group_left(b) bar") else {
        panic!()
    };
    assert_eq!(
        b.matching,
        Some(VectorMatching {
            on: true,
            labels: vec!["a".into()],
            card: Cardinality::ManyToOne(vec!["b".into()])
        })
    );
    let Expr::Binary(b) = ok("foo > bool 1") else {
        panic!()
    };
    assert!(b.return_bool);
}

#[test]
fn aggregation_details() {
    let Expr::Aggregate(a) = ok("topk by (a, b) (5, foo)") else {
        panic!()
    };
    assert_eq!(a.op, AggregateOp::Topk);
    assert_eq!(a.param.as_deref(), Some(&Expr::Number(5.0)));
    assert_eq!(a.grouping, Some(Grouping::By(vec!["a".into(), "b".into()])));
    let Expr::Aggregate(a) = ok("sum(foo)") else {
        panic!()
    };
    assert_eq!(a.grouping, None);
    let Expr::Aggregate(a) = ok("sum by () (foo)") else {
        panic!()
    };
    assert_eq!(a.grouping, Some(Grouping::By(vec![])));
}

/// (query, expected full message or substring).
const INVALID: &[(&str, &str)] = &[
    ("", "1:1: parse error: no expression found in input"),
    ("# just a comment\n", "no expression found in input"),
    ("1+", "1:3: parse error: unexpected end of input"),
    ("1 /", "1:4: parse error: unexpected end of input"),
    (".", "1:1: parse error: unexpected character: '.'"),
    ("2.5.", "bad number or duration syntax: \"2.5.\""),
    ("100..4", "bad number or duration syntax: \"100..\""),
    ("0deadbeef", "bad number or duration syntax: \"0de\""),
    ("*1", "1:1: parse error: unexpected <op:*>"),
    ("(1))", "unexpected right parenthesis ')'"),
    ("((1)", "unclosed left parenthesis"),
    ("(", "unclosed left parenthesis"),
    ("1e400", "value out of range"),
    ("1 and 1", "set operator \"and\" not allowed in binary scalar expression"),
    ("1 or 1", "set operator \"or\" not allowed in binary scalar expression"),
    ("foo unless 1", "set operator \"unless\" not allowed in binary scalar expression"),
    ("1 == 1", "1:3: parse error: comparisons between scalars must use BOOL modifier"),
    ("1 !~ 1", "unexpected character after '!': '~'"),
    ("1 =~ 1", "unexpected character after '=': '~'"),
    ("-\"string\"", "unary expression only allowed on expressions of type scalar or instant vector, got \"string\""),
    ("-test[5m]", "unary expression only allowed on expressions of type scalar or instant vector, got \"range vector\""),
    ("@@", "unexpected <op:@>"),
    ("1 offset 1d", "offset modifier must be preceded by an instant vector selector or range vector selector or a subquery"),
    ("foo offset 1s offset 2s", "offset may not be set multiple times"),
    ("a - on(b) ignoring(c) d", "unexpected <ignoring>"),
    ("1 or on(bar) foo", "vector matching only allowed between instant vectors"),
    ("foo == on(bar) 10", "vector matching only allowed between instant vectors"),
    ("foo + group_left(baz) bar", "unexpected <group_left>"),
    ("foo and on(bar) group_left(baz) bar", "no grouping allowed for \"and\" operation"),
    ("foo or on(bar) group_right(baz) bar", "no grouping allowed for \"or\" operation"),
    ("foo + on(instance) group_left(job,instance) bar", "label \"instance\" must not occur in ON and GROUP clause at once"),
    ("foo + bool bar", "1:5: parse error: bool modifier can only be used on comparison operators"),
    ("foo and bool 10", "bool modifier can only be used on comparison operators"),
    ("foo @ +Inf", "timestamp out of bounds for @ modifier: +Inf"),
    ("foo @ -Inf", "timestamp out of bounds for @ modifier: -Inf"),
    ("foo @ NaN", "timestamp out of bounds for @ modifier: NaN"),
    ("foo @ 1 @ 2", "@ <timestamp> may not be set multiple times"),
    ("foo @ start() @ end()", "@ <timestamp> may not be set multiple times"),
    ("rate(foo[5m]) @ 1234", "@ modifier must be preceded by an instant vector selector or range vector selector or a subquery"),
    ("{", "1:2: parse error: unexpected end of input inside braces"),
    ("}", "unexpected character: '}'"),
    ("some}", "unexpected character: '}'"),
    ("some_metric{a=b}", "unexpected identifier \"b\" in label matching, expected string"),
    ("some_metric{a:b=\"b\"}", "unexpected character inside braces: ':'"),
    ("foo{a*\"b\"}", "unexpected character inside braces: '*'"),
    ("foo{a>=\"b\"}", "unexpected character inside braces: '>'"),
    ("foo{gibberish}", "unexpected \"}\" in label matching, expected label matching operator"),
    ("foo{1}", "unexpected character inside braces: '1'"),
    ("{}", "1:1: parse error: vector selector must contain at least one non-empty matcher"),
    ("{x=\"\"}", "vector selector must contain at least one non-empty matcher"),
    ("{x=~\".*\"}", "vector selector must contain at least one non-empty matcher"),
    ("{x!~\".+\"}", "vector selector must contain at least one non-empty matcher"),
    ("{x!=\"a\"}", "vector selector must contain at least one non-empty matcher"),
    ("foo{__name__=\"bar\"}", "metric name must not be set twice: \"foo\" or \"bar\""),
    ("foo{__name__= =}", "unexpected \"=\" in label matching, expected string"),
    ("foo{,}", "unexpected \",\" in label matching, expected identifier or \"}\""),
    ("foo{__name__ == \"bar\"}", "unexpected \"=\" in label matching, expected string"),
    ("foo{__name__=\"bar\" lol}", "unexpected identifier \"lol\" in label matching, expected \",\" or \"}\""),
    ("foo{\"a\"=}", "unexpected \"}\" in label matching, expected string"),
    ("foo{a=~\"(\"}", "invalid regular expression"),
    ("foo[5mm]", "bad number or duration syntax: \"5mm\""),
    ("foo[5m1]", "bad number or duration syntax: \"5m1\""),
    ("foo[5m:1m1]", "bad number or duration syntax: \"1m1\""),
    ("foo[5y1hs]", "unknown unit \"hs\" in duration \"5y1hs\""),
    ("foo[5m1h]", "not a valid duration string: \"5m1h\""),
    ("foo[5m1m]", "not a valid duration string: \"5m1m\""),
    ("foo[1.5m]", "in duration \"1.5m\""),
    ("foo[0m]", "1:5: parse error: duration must be greater than 0"),
    ("foo[-1]", "duration must be greater than 0"),
    ("foo[0.0001]", "duration must be greater than 0"),
    ("foo[\"5m\"]", "unexpected character in duration expression: '\"'"),
    ("foo[]", "unexpected \"]\" in subquery or range selector, expected number, duration, step(), or range()"),
    ("foo[5m", "unclosed left bracket"),
    ("foo[", "unexpected end of input in duration expression"),
    ("foo[5m:1m:1m]", "unexpected colon ':'"),
    ("foo[:5m]", "unexpected colon before duration in duration expression"),
    ("foo[5s x 5s]", "unexpected character: 'x', expected ':'"),
    ("foo[5m+1m]", "experimental duration expression is not enabled"),
    ("foo[step()]", "experimental duration expression is not enabled"),
    ("foo offset 9.5e10", "duration out of range"),
    ("foo[9.5e10]", "duration out of range"),
    ("foo[300y]", "duration out of range"),
    ("some_metric[5m] OFFSET 1mm", "bad number or duration syntax: \"1mm\""),
    ("some_metric[5m] OFFSET", "unexpected end of input in offset, expected number, duration, step(), or range()"),
    ("some_metric OFFSET 1m[5m]", "no offset modifiers allowed before range"),
    ("some_metric[5m] @", "unexpected end of input in @, expected timestamp"),
    ("some_metric @ 1234 [5m]", "no @ modifiers allowed before range"),
    ("some_metric @ start() [5m]", "no @ modifiers allowed before range"),
    ("(foo + bar)[5m]", "ranges only allowed for vector selectors"),
    ("(foo)[5m]", "ranges only allowed for vector selectors"),
    ("1[5m]", "ranges only allowed for vector selectors"),
    ("rate(food[1m])[1h] offset 1h", "ranges only allowed for vector selectors"),
    ("test[5d] OFFSET 10s [10m:5s]", "subquery is only allowed on instant vector, got matrix instead"),
    ("(foo + bar{nm=\"val\"})[5m:][10m:5s]", "subquery is only allowed on instant vector, got matrix instead"),
    ("sum by (\"foo)(some_metric{})", "unterminated quoted string"),
    ("sum without(==)(some_metric)", "unexpected <op:==> in grouping opts, expected label"),
    ("sum without(,)(some_metric)", "unexpected \",\" in grouping opts, expected label"),
    ("sum without(foo,,)(some_metric)", "unexpected \",\" in grouping opts, expected label"),
    ("sum by (\"\") (foo)", "invalid label name for grouping: \"\""),
    ("sum some_metric by (test)", "unexpected identifier \"some_metric\""),
    ("sum (some_metric) by test", "unexpected identifier \"test\" in grouping opts, expected \"(\""),
    ("sum () by (test)", "no arguments for aggregate expression provided"),
    ("MIN keep_common (some_metric)", "unexpected identifier \"keep_common\""),
    ("MIN (some_metric) keep_common", "unexpected identifier \"keep_common\""),
    ("sum (some_metric) without (test) by (test)", "unexpected <by>"),
    ("sum without (test) (some_metric) by (test)", "unexpected <by>"),
    ("topk(some_metric)", "wrong number of arguments for aggregate expression provided, expected 2, got 1"),
    ("topk(some_metric,)", "trailing commas not allowed in function call args"),
    ("topk(some_metric, other_metric)", "1:6: parse error: expected type scalar in aggregation parameter, got instant vector"),
    ("count_values(5, other_metric)", "expected type string in aggregation parameter, got scalar"),
    ("sum(foo[5m])", "expected type instant vector in aggregation expression, got range vector"),
    ("sum(", "unclosed left parenthesis"),
    ("sum(rate(", "unclosed left parenthesis"),
    ("floor()", "expected 1 argument(s) in call to \"floor\", got 0"),
    ("floor(some_metric, other_metric)", "expected 1 argument(s) in call to \"floor\", got 2"),
    ("floor(1)", "1:7: parse error: expected type instant vector in call to function \"floor\", got scalar"),
    ("hour(some_metric, some_metric, some_metric)", "expected at most 1 argument(s) in call to \"hour\", got 3"),
    ("round(foo, 1, 2)", "expected at most 2 argument(s) in call to \"round\", got 3"),
    ("label_join(foo)", "expected at least 3 argument(s) in call to \"label_join\", got 1"),
    ("label_join(foo, \"a\", \",\", 1)", "expected type string in call to function \"label_join\", got scalar"),
    ("time(some_metric)", "expected 0 argument(s) in call to \"time\", got 1"),
    ("non_existent_function_far_bar()", "unknown function with name \"non_existent_function_far_bar\""),
    ("holt_winters(foo[5m], 0.5, 0.5)", "unknown function with name \"holt_winters\""),
    ("histogram_quantiles(foo, \"q\", 0.5)", "unknown function with name \"histogram_quantiles\""),
    ("RATE(foo[5m])", "unknown function with name \"RATE\""),
    ("rate(some_metric)", "expected type range vector in call to function \"rate\", got instant vector"),
    ("rate(avg)", "expected type range vector in call to function \"rate\", got instant vector"),
    ("abs(foo[5m])", "expected type instant vector in call to function \"abs\", got range vector"),
    ("foo + bar[5m]", "binary expression must contain only scalar and instant vector types"),
    ("-=", "unexpected \"=\""),
    ("++-++-+-+-<", "unexpected <op:<>"),
    ("e-+=/(0)", "unexpected \"=\""),
    ("a>b()", "unknown function with name \"b\""),
    ("\"\\", "escape sequence not terminated"),
    ("\"\\c\"", "unknown escape sequence U+0063 'c'"),
    ("\"\\x.\"", "illegal character U+002E '.' in escape sequence"),
    ("\"\\ud800\"", "escape sequence is an invalid Unicode code point"),
    ("'\\\"'", "unknown escape sequence U+0022 '\"'"),
    ("\"a\nb\"", "unterminated quoted string"),
    ("`abc", "unterminated raw string"),
    ("count_values(\"a\\xc5z\", foo)", "invalid UTF-8"),
    ("foo bar", "unexpected identifier \"bar\""),
    ("limitk(1, foo)", "limitk() is not supported"),
    ("on", "unexpected <on>"),
    ("foo offset", "unexpected end of input in offset"),
    ("foo @ bar", "unexpected identifier \"bar\" in @, expected timestamp"),
    ("foo[5m 1m]", "unexpected duration \"1m\" in subquery or range, expected \":\" or \"]\""),
    ("foo[5m:1m", "unclosed left bracket"),
    // A type error early loses to a syntax error later, as in Prometheus.
    ("rate(foo) + (", "unclosed left parenthesis"),
    // Line and column are 1-based; columns count bytes on the line.
    ("foo +\n  bar[5m] +\n   baz", "2:3: parse error: binary expression must contain only scalar and instant vector types"),
];

#[test]
fn invalid_queries_fail_with_prometheus_messages() {
    for (q, want) in INVALID {
        let msg = err(q);
        assert!(
            msg.contains(want),
            "{q:?}: expected message containing {want:?}, got {msg:?}"
        );
        assert!(msg.contains(": parse error: "), "{q:?}: {msg:?}");
    }
}

#[test]
fn error_positions_are_byte_ranges() {
    match parse("foo{a=b}") {
        Err(Error::Parse { pos, .. }) => assert_eq!(pos.0, 6),
        other => panic!("{other:?}"),
    }
    match parse("sum(foo) + rate(bar)") {
        Err(Error::Parse { pos, msg }) => {
            assert_eq!(pos, (16, 19), "{msg}");
            assert!(msg.starts_with("1:17:"), "{msg}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn experimental_functions_can_be_disabled() {
    let strict = ParseOptions {
        experimental_functions: false,
    };
    match parse_with("mad_over_time(foo[5m])", strict) {
        Err(Error::Parse { msg, .. }) => {
            assert_eq!(
                msg,
                "1:1: parse error: function \"mad_over_time\" is not enabled"
            )
        }
        other => panic!("{other:?}"),
    }
    match parse_with("limitk(1, foo)", strict) {
        Err(Error::Parse { msg, .. }) => assert!(
            msg.contains("limitk() is experimental and must be enabled with --enable-feature=promql-experimental-functions"),
            "{msg}"
        ),
        other => panic!("{other:?}"),
    }
    assert!(parse_with("rate(foo[5m])", strict).is_ok());
}

#[test]
fn deep_nesting_is_bounded() {
    // Moderate depth must work; the fuzz target caps input size.
    let q = format!("{}1", "-".repeat(120));
    assert_eq!(ok(&q), Expr::Number(1.0));
    let q = format!("1{}", "^1".repeat(120));
    round_trip(&q);
    let q = format!("{}1", "-".repeat(200));
    assert!(err(&q).contains("nested more than 128"));
    let q = format!("{}foo{}", "(".repeat(120), ")".repeat(120));
    round_trip(&q);
    let q = format!("{}foo{}", "(".repeat(5000), ")".repeat(5000));
    assert!(err(&q).contains("expression nested more than 128 levels deep"));
    // Long flat chains build deep trees: accepted up to the limit, rejected beyond it.
    let q = format!("a{}", " or a".repeat(500));
    round_trip(&q);
    let q = format!("a{}", "+a".repeat(5000));
    assert!(err(&q).contains("nested more than 512"));
    let q = format!("a{}", "[5m:]".repeat(3000));
    assert!(err(&q).contains("nested more than 512"));
    let q = format!("{}1", "-".repeat(5000));
    assert!(err(&q).contains("nested more than"));
}

// ---- the conformance suite -------------------------------------------------------------

/// Queries of `/work/shared/conformance/promql/*.test` that must fail at parse time in
/// Strata, with the reason.
const CONFORMANCE_PARSE_FAILURES: &[(&str, &str)] = &[
    (
        "histogram_quantiles(",
        "unknown function with name \"histogram_quantiles\"",
    ),
    ("count_values(\"a\\xc5z\"", "invalid UTF-8"),
    ("limitk", "limitk() is not supported"),
    ("label_replace(testmetric, \"\\xff\"", "invalid UTF-8"),
    ("limit_ratio(", "limit_ratio() is not supported"),
];

fn conformance_queries() -> Option<Vec<(String, String)>> {
    let dir = std::env::var("STRATA_CONFORMANCE_DIR").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/conformance/promql"
        )
        .to_string()
    });
    let entries = std::fs::read_dir(&dir).ok()?;
    let mut out = Vec::new();
    let mut files: Vec<_> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    files.sort();
    for path in files {
        if path.extension().and_then(|e| e.to_str()) != Some("test") {
            continue;
        }
        let text = std::fs::read_to_string(&path).ok()?;
        for line in text.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            let skip = match words.as_slice() {
                ["eval" | "eval_fail", "instant", "at", ..] => 4,
                ["eval" | "eval_fail", "range", "from", ..] => 8,
                _ => continue,
            };
            let mut rest = line.trim_start();
            for _ in 0..skip {
                rest = rest.trim_start();
                let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
                rest = &rest[end..];
            }
            out.push((
                path.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned(),
                rest.trim().to_string(),
            ));
        }
    }
    Some(out)
}

#[test]
fn conformance_queries_parse_and_round_trip() {
    let Some(queries) = conformance_queries() else {
        eprintln!("conformance directory not found; set STRATA_CONFORMANCE_DIR");
        return;
    };
    assert!(queries.len() > 1000, "only {} queries found", queries.len());
    let mut failures = Vec::new();
    for (file, q) in &queries {
        let expected_failure = CONFORMANCE_PARSE_FAILURES
            .iter()
            .find(|(needle, _)| q.contains(needle));
        match (parse(q), expected_failure) {
            (Ok(_), None) => {
                round_trip(q);
            }
            (Err(Error::Parse { msg, .. }), Some((_, want))) => {
                assert!(msg.contains(want), "{file}: {q}: {msg}");
            }
            (Ok(_), Some(_)) => failures.push(format!("{file}: {q}: parsed, should fail")),
            (Err(e), _) => failures.push(format!("{file}: {q}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---- property test: random well-typed ASTs print and parse back ------------------------

/// Builds a random, well-typed AST in the shape the parser produces (parentheses present
/// where the text needs them, number literals folded, name matcher last), driven by a list
/// of choices so that proptest can shrink it.
struct Gen {
    data: Vec<u32>,
    i: usize,
}

const NAMES: &[&str] = &[
    "foo",
    "bar_total",
    "a:b:c",
    "sum",
    "by",
    "offset",
    "and",
    "start",
    "x_1",
    "Foo",
    "_x",
];
const LABELS: &[&str] = &[
    "a",
    "job",
    "le",
    "a.b",
    "on",
    "1x",
    "\u{fc}n\u{ef}",
    "sum",
    "BY",
];
const VALUES: &[&str] = &[
    "",
    "x",
    "a\"b",
    "\\",
    "\u{e9}",
    "\n",
    "a|b",
    ".*",
    ".+",
    "\u{7f}\u{85}",
    "`",
    "'",
];
const STRINGS: &[&str] = &[
    "",
    "a\"b",
    "\\",
    "\u{7f}",
    "\u{85}",
    "tab\t",
    "\u{65e5}\u{672c}",
    "\u{1F600}",
    "`",
    "$1",
];

impl Gen {
    fn pick(&mut self, n: usize) -> usize {
        let v = self.data.get(self.i).copied().unwrap_or(0);
        self.i += 1;
        v as usize % n
    }

    fn coin(&mut self) -> bool {
        self.pick(2) == 1
    }

    fn int(&mut self, max: i64) -> i64 {
        let hi = self.pick(1 << 16) as i64;
        let lo = self.pick(1 << 16) as i64;
        (hi << 16 | lo) % max
    }

    fn number(&mut self) -> f64 {
        match self.pick(12) {
            0 => 0.0,
            1 => 1.0,
            2 => 0.5,
            3 => 1e-7,
            4 => 1.5e300,
            5 => f64::NAN,
            6 => f64::INFINITY,
            7 => f64::NEG_INFINITY,
            8 => -3.0,
            9 => -0.0,
            10 => self.int(1 << 31) as f64 / 7.0,
            _ => f64::from_bits((self.int(1 << 31) as u64) << 32 | self.int(1 << 31) as u64),
        }
    }

    fn label(&mut self) -> String {
        LABELS[self.pick(LABELS.len())].to_string()
    }

    fn labels(&mut self) -> Vec<String> {
        let n = self.pick(3);
        (0..n).map(|_| self.label()).collect()
    }

    fn string(&mut self) -> Expr {
        Expr::String(STRINGS[self.pick(STRINGS.len())].to_string())
    }

    fn at(&mut self) -> Option<AtModifier> {
        match self.pick(5) {
            0 => Some(AtModifier::Start),
            1 => Some(AtModifier::End),
            2 => Some(AtModifier::Timestamp(
                self.int(20_000_000_000_000) - 10_000_000_000_000,
            )),
            _ => None,
        }
    }

    fn offset(&mut self) -> i64 {
        if self.coin() {
            self.int(200_000_000_000) - 100_000_000_000
        } else {
            0
        }
    }

    fn selector(&mut self) -> VectorSelector {
        let name = self
            .coin()
            .then(|| NAMES[self.pick(NAMES.len())].to_string());
        let mut matchers = Vec::new();
        for _ in 0..self.pick(3) {
            let op = [
                MatchOp::Equal,
                MatchOp::NotEqual,
                MatchOp::Regex,
                MatchOp::NotRegex,
            ][self.pick(4)];
            let mut value = VALUES[self.pick(VALUES.len())].to_string();
            if matches!(op, MatchOp::Regex | MatchOp::NotRegex) && value == "\\" {
                value = "\\\\".into();
            }
            let m = Matcher::new(op, self.label(), value).expect("generated regexes are valid");
            matchers.push(m);
        }
        match &name {
            Some(n) => matchers.push(Matcher::equal("__name__", n.clone())),
            None => {
                if !matchers.iter().any(|m| !m.matches_empty()) {
                    matchers.push(Matcher::equal("job", "x"));
                }
            }
        }
        VectorSelector {
            name,
            matchers,
            offset: self.offset(),
            at: self.at(),
        }
    }

    fn matrix(&mut self, depth: u32) -> Expr {
        if depth == 0 || self.coin() {
            let mut selector = self.selector();
            selector.offset = 0;
            selector.at = None;
            let range = 1 + self.int(100_000_000_000);
            let (offset, at) = (self.offset(), self.at());
            selector.offset = offset;
            selector.at = at;
            return Expr::MatrixSelector(MatrixSelector { selector, range });
        }
        let inner = self.vector(depth - 1);
        let inner = match inner {
            e @ (Expr::Binary(_) | Expr::Unary(..)) => Expr::Paren(Box::new(e)),
            e => e,
        };
        Expr::Subquery(SubqueryExpr {
            expr: Box::new(inner),
            range: 1 + self.int(100_000_000_000),
            step: self.coin().then(|| 1 + self.int(1_000_000_000)),
            offset: self.offset(),
            at: self.at(),
        })
    }

    fn scalar(&mut self, depth: u32) -> Expr {
        if depth == 0 {
            return Expr::Number(self.number());
        }
        match self.pick(7) {
            0 | 1 => Expr::Number(self.number()),
            2 => Expr::Paren(Box::new(self.scalar(depth - 1))),
            3 => {
                let v = self.vector(depth - 1);
                Expr::Call(Call {
                    func: Func::Scalar,
                    args: vec![v],
                })
            }
            4 => Expr::Call(Call {
                func: [Func::Time, Func::Pi][self.pick(2)],
                args: vec![],
            }),
            5 => {
                let inner = self.scalar(depth - 1);
                unary(self.coin(), inner)
            }
            _ => {
                let (l, r) = (self.scalar(depth - 1), self.scalar(depth - 1));
                let op = self.arith_or_cmp();
                binary(op, l, r, op.is_comparison(), None)
            }
        }
    }

    fn arith_or_cmp(&mut self) -> BinaryOp {
        use BinaryOp::*;
        [
            Add, Sub, Mul, Div, Mod, Pow, Atan2, Eql, Neq, Gtr, Lss, Gte, Lte,
        ][self.pick(13)]
    }

    fn vector(&mut self, depth: u32) -> Expr {
        if depth == 0 {
            return Expr::VectorSelector(self.selector());
        }
        let d = depth - 1;
        match self.pick(9) {
            0 | 1 => Expr::VectorSelector(self.selector()),
            2 => Expr::Paren(Box::new(self.vector(d))),
            3 => {
                let inner = self.vector(d);
                unary(self.coin(), inner)
            }
            4 => {
                let (l, r) = (self.vector(d), self.vector(d));
                let set = self.coin() && self.coin();
                if set {
                    let op = [BinaryOp::And, BinaryOp::Or, BinaryOp::Unless][self.pick(3)];
                    let m = VectorMatching {
                        on: self.coin(),
                        labels: self.labels(),
                        card: Cardinality::ManyToMany,
                    };
                    return binary(op, l, r, false, Some(m));
                }
                let op = self.arith_or_cmp();
                let on = self.coin();
                let labels = self.labels();
                let include: Vec<String> = self
                    .labels()
                    .into_iter()
                    .filter(|l| !on || !labels.contains(l))
                    .collect();
                let card = match self.pick(3) {
                    0 => Cardinality::ManyToOne(include),
                    1 => Cardinality::OneToMany(include),
                    _ => Cardinality::OneToOne,
                };
                let bool_ = op.is_comparison() && self.coin();
                binary(op, l, r, bool_, Some(VectorMatching { on, labels, card }))
            }
            5 => {
                let (v, s) = (self.vector(d), self.scalar(d));
                let (l, r) = if self.coin() { (v, s) } else { (s, v) };
                let op = self.arith_or_cmp();
                let bool_ = op.is_comparison() && self.coin();
                binary(op, l, r, bool_, None)
            }
            6 => {
                use AggregateOp::*;
                let op = [
                    Sum,
                    Avg,
                    Count,
                    Min,
                    Max,
                    Group,
                    Stddev,
                    Stdvar,
                    Topk,
                    Bottomk,
                    Quantile,
                    CountValues,
                ][self.pick(12)];
                let param = match op {
                    Topk | Bottomk | Quantile => Some(Box::new(self.scalar(d))),
                    CountValues => Some(Box::new(self.string())),
                    _ => None,
                };
                let grouping = match self.pick(3) {
                    0 => Some(Grouping::By(self.labels())),
                    1 => Some(Grouping::Without(self.labels())),
                    _ => None,
                };
                Expr::Aggregate(AggregateExpr {
                    op,
                    expr: Box::new(self.vector(d)),
                    param,
                    grouping,
                })
            }
            7 => {
                let (func, args) = match self.pick(8) {
                    0 => ("rate", vec![self.matrix(d)]),
                    1 => ("quantile_over_time", vec![self.scalar(d), self.matrix(d)]),
                    2 => ("round", {
                        let mut a = vec![self.vector(d)];
                        if self.coin() {
                            a.push(self.scalar(d));
                        }
                        a
                    }),
                    3 => ("label_replace", {
                        let mut a = vec![self.vector(d)];
                        a.extend((0..4).map(|_| self.string()));
                        a
                    }),
                    4 => ("label_join", {
                        let mut a = vec![self.vector(d)];
                        let n = 2 + self.pick(4);
                        a.extend((0..n).map(|_| self.string()));
                        a
                    }),
                    5 => (
                        "hour",
                        if self.coin() {
                            vec![self.vector(d)]
                        } else {
                            vec![]
                        },
                    ),
                    6 => ("vector", vec![self.scalar(d)]),
                    _ => (
                        "clamp",
                        vec![self.vector(d), self.scalar(d), self.scalar(d)],
                    ),
                };
                Expr::Call(Call {
                    func: Func::from_name(func).expect("known function"),
                    args,
                })
            }
            _ => Expr::Call(Call {
                func: Func::HistogramQuantile,
                args: vec![self.scalar(d), self.vector(d)],
            }),
        }
    }

    fn any(&mut self, depth: u32) -> Expr {
        match self.pick(5) {
            0 => self.scalar(depth),
            1 => self.matrix(depth),
            2 => self.string(),
            _ => self.vector(depth),
        }
    }
}

/// A unary expression as the parser builds it (operands that bind looser are parenthesised).
fn unary(neg: bool, e: Expr) -> Expr {
    let e = match e {
        Expr::Binary(b) if b.op != BinaryOp::Pow => Expr::Paren(Box::new(Expr::Binary(b))),
        e @ Expr::Number(_) => Expr::Paren(Box::new(e)),
        e => e,
    };
    Expr::Unary(if neg { UnaryOp::Neg } else { UnaryOp::Pos }, Box::new(e))
}

/// A binary expression as the parser builds it.
fn binary(
    op: BinaryOp,
    l: Expr,
    r: Expr,
    return_bool: bool,
    matching: Option<VectorMatching>,
) -> Expr {
    let prec = op.precedence();
    let wrap_l = match &l {
        Expr::Binary(b) => {
            b.op.precedence() < prec || (b.op.precedence() == prec && op.is_right_assoc())
        }
        Expr::Unary(..) => op == BinaryOp::Pow,
        Expr::Number(v) => op == BinaryOp::Pow && v.is_sign_negative(),
        _ => false,
    };
    let wrap_r = match &r {
        Expr::Binary(b) => {
            b.op.precedence() < prec || (b.op.precedence() == prec && !op.is_right_assoc())
        }
        _ => false,
    };
    let l = if wrap_l { Expr::Paren(Box::new(l)) } else { l };
    let r = if wrap_r { Expr::Paren(Box::new(r)) } else { r };
    Expr::Binary(BinaryExpr {
        op,
        lhs: Box::new(l),
        rhs: Box::new(r),
        return_bool,
        matching,
    })
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

    #[test]
    fn random_asts_print_and_parse_back(data in proptest::collection::vec(proptest::prelude::any::<u32>(), 0..256)) {
        let e = Gen { data, i: 0 }.any(4);
        let printed = e.to_string();
        let parsed = parse(&printed);
        proptest::prop_assert!(parsed.is_ok(), "{} does not parse: {:?}\nast: {:?}", printed, parsed.err(), e);
        let parsed = parsed.expect("checked");
        proptest::prop_assert_eq!(format!("{:?}", parsed), format!("{:?}", e), "printed: {}", printed);
    }
}

/// The generator must reach every construct, or the property test proves little.
#[test]
fn generator_covers_the_grammar() {
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut all = String::new();
    for _ in 0..300 {
        let data = (0..256)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u32
            })
            .collect();
        let e = Gen { data, i: 0 }.any(4);
        let printed = e.to_string();
        let parsed = parse(&printed).unwrap_or_else(|err| panic!("{printed}: {err}"));
        assert_eq!(format!("{parsed:?}"), format!("{e:?}"), "{printed}");
        all.push_str(&printed);
        all.push('\n');
    }
    for needle in [
        "[",
        ":]",
        " offset -",
        " @ start()",
        " @ end()",
        " @ -",
        "on(",
        "ignoring(",
        "group_left(",
        "group_right(",
        " bool ",
        " and ",
        " unless ",
        " or ",
        "^",
        "atan2",
        "by (",
        "without (",
        "topk",
        "count_values",
        "quantile(",
        "histogram_quantile(",
        "rate(",
        "label_join(",
        "NaN",
        "Inf",
        "e-7",
        "-(",
        "(",
        "=~",
        "!~",
        "!=",
        "\\\"",
        "{\"",
        "\"a.b\"",
        "sum{",
        "offset{",
        "+",
    ] {
        assert!(all.contains(needle), "generator never produced {needle:?}");
    }
}

/// A small in-process mutation fuzzer (the cargo-fuzz target does the same at scale):
/// mutated queries must never panic, and whatever parses must print and parse back.
#[test]
fn mutated_queries_never_panic_and_round_trip() {
    let mut corpus: Vec<String> = VALID.iter().map(|s| s.to_string()).collect();
    corpus.extend(INVALID.iter().map(|(q, _)| q.to_string()));
    const PIECES: &[&str] = &[
        "(",
        ")",
        "[",
        "]",
        "{",
        "}",
        ",",
        ":",
        "\"",
        "'",
        "`",
        "\\",
        "-",
        "+",
        "*",
        "^",
        "@",
        "#",
        "\n",
        " ",
        "5m",
        "1",
        ".",
        "e",
        "x",
        "on",
        "by",
        "offset",
        "bool",
        "group_left",
        "sum",
        "foo",
        "=~",
        "!=",
        "==",
        "start()",
        "Inf",
        "NaN",
        "0x",
        "_",
        "\u{e9}",
        "[5m:]",
        "rate(",
        "a=\"b\"",
        "and",
        "unless",
        "0",
        "-1",
        "1e",
        "ms",
        "y",
    ];
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    let mut rnd = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let mut parsed = 0;
    for _ in 0..20_000 {
        let mut q = corpus[rnd(corpus.len())].clone();
        for _ in 0..1 + rnd(3) {
            let mut at = rnd(q.len() + 1);
            while !q.is_char_boundary(at) {
                at -= 1;
            }
            match rnd(3) {
                0 => q.insert_str(at, PIECES[rnd(PIECES.len())]),
                1 => {
                    let mut end = (at + 1 + rnd(4)).min(q.len());
                    while !q.is_char_boundary(end) {
                        end += 1;
                    }
                    q.replace_range(at..end, "");
                }
                _ => {
                    let other = corpus[rnd(corpus.len())].clone();
                    q.insert_str(at, &other);
                }
            }
        }
        if parse(&q).is_ok() {
            round_trip(&q);
            parsed += 1;
        }
    }
    assert!(parsed > 1000, "only {parsed} mutants parsed");
}

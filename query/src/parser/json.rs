//! The AST as JSON, in the shape of Prometheus's `/api/v1/parse_query` `data` field
//! (`web/api/v1/translate_ast.go`): one object per node with a `type` field, keys sorted
//! as Go's encoding/json sorts map keys, durations and offsets in milliseconds, numbers as
//! decimal strings (`strconv.FormatFloat(v, 'f', -1, 64)`: no exponent, `+Inf`, `NaN`).
//! Strata has no duration expressions, anchored or smoothed selectors or fill modifiers,
//! so those fields are always `null`/`false`.

use std::fmt::Write;

use strata_engine::MatchOp;

use super::ast::*;

/// Appends `s` as a JSON string, escaping like Go's encoding/json (including `<`, `>`,
/// `&`, U+2028 and U+2029).
fn push_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `strconv.FormatFloat(v, 'f', -1, 64)`.
fn go_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

fn push_list(out: &mut String, items: &[String]) {
    out.push('[');
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_str(out, s);
    }
    out.push(']');
}

/// Minimal JSON object writer; callers write keys in sorted order, as Go does.
struct Obj<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> Obj<'a> {
    fn new(out: &'a mut String) -> Self {
        out.push('{');
        Obj { out, first: true }
    }

    fn key(&mut self, k: &str) -> &mut String {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        push_str(self.out, k);
        self.out.push(':');
        self.out
    }

    fn raw(&mut self, k: &str, v: &str) {
        self.key(k).push_str(v);
    }

    fn str(&mut self, k: &str, v: &str) {
        push_str(self.key(k), v);
    }

    fn end(self) {
        self.out.push('}');
    }
}

/// (`startOrEnd`, `timestamp`) values for an `@` modifier.
fn at_fields(at: Option<AtModifier>) -> (String, String) {
    match at {
        None => ("null".into(), "null".into()),
        Some(AtModifier::Timestamp(ms)) => ("null".into(), ms.to_string()),
        Some(AtModifier::Start) => ("\"start\"".into(), "null".into()),
        Some(AtModifier::End) => ("\"end\"".into(), "null".into()),
    }
}

fn push_matchers(out: &mut String, vs: &VectorSelector) {
    out.push('[');
    for (i, m) in vs.matchers.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let mut o = Obj::new(out);
        o.str("name", &m.name);
        o.str(
            "type",
            match m.op {
                MatchOp::Equal => "=",
                MatchOp::NotEqual => "!=",
                MatchOp::Regex => "=~",
                MatchOp::NotRegex => "!~",
            },
        );
        o.str("value", &m.value);
        o.end();
    }
    out.push(']');
}

fn selector_fields(o: &mut Obj<'_>, vs: &VectorSelector, range: Option<i64>) {
    let (start_or_end, timestamp) = at_fields(vs.at);
    o.raw("anchored", "false");
    push_matchers(o.key("matchers"), vs);
    o.str("name", vs.name.as_deref().unwrap_or(""));
    o.raw("offset", &vs.offset.to_string());
    o.raw("offsetExpr", "null");
    if let Some(r) = range {
        o.raw("range", &r.to_string());
        o.raw("rangeExpr", "null");
    }
    o.raw("smoothed", "false");
    o.raw("startOrEnd", &start_or_end);
    o.raw("timestamp", &timestamp);
    o.str(
        "type",
        if range.is_some() {
            "matrixSelector"
        } else {
            "vectorSelector"
        },
    );
}

fn card_name(c: &Cardinality) -> &'static str {
    match c {
        Cardinality::OneToOne => "one-to-one",
        Cardinality::ManyToOne(_) => "many-to-one",
        Cardinality::OneToMany(_) => "one-to-many",
        Cardinality::ManyToMany => "many-to-many",
    }
}

fn value_type_name(t: ValueType) -> &'static str {
    t.go_name()
}

fn push_expr(out: &mut String, e: &Expr) {
    match e {
        Expr::Number(v) => {
            let mut o = Obj::new(out);
            o.str("type", "numberLiteral");
            o.str("val", &go_float(*v));
            o.end();
        }
        Expr::String(s) => {
            let mut o = Obj::new(out);
            o.str("type", "stringLiteral");
            o.str("val", s);
            o.end();
        }
        Expr::VectorSelector(vs) => {
            let mut o = Obj::new(out);
            selector_fields(&mut o, vs, None);
            o.end();
        }
        Expr::MatrixSelector(m) => {
            let mut o = Obj::new(out);
            selector_fields(&mut o, &m.selector, Some(m.range));
            o.end();
        }
        Expr::Subquery(sq) => {
            let mut o = Obj::new(out);
            let (start_or_end, timestamp) = at_fields(sq.at);
            push_expr(o.key("expr"), &sq.expr);
            o.raw("offset", &sq.offset.to_string());
            o.raw("offsetExpr", "null");
            o.raw("range", &sq.range.to_string());
            o.raw("rangeExpr", "null");
            o.raw("startOrEnd", &start_or_end);
            o.raw("step", &sq.step.unwrap_or(0).to_string());
            o.raw("stepExpr", "null");
            o.raw("timestamp", &timestamp);
            o.str("type", "subquery");
            o.end();
        }
        Expr::Paren(inner) => {
            let mut o = Obj::new(out);
            push_expr(o.key("expr"), inner);
            o.str("type", "parenExpr");
            o.end();
        }
        Expr::Unary(op, inner) => {
            let mut o = Obj::new(out);
            push_expr(o.key("expr"), inner);
            o.str(
                "op",
                match op {
                    UnaryOp::Neg => "-",
                    UnaryOp::Pos => "+",
                },
            );
            o.str("type", "unaryExpr");
            o.end();
        }
        Expr::Binary(b) => {
            let mut o = Obj::new(out);
            o.raw("bool", if b.return_bool { "true" } else { "false" });
            push_expr(o.key("lhs"), &b.lhs);
            match &b.matching {
                None => o.raw("matching", "null"),
                Some(m) => {
                    let include: &[String] = match &m.card {
                        Cardinality::ManyToOne(l) | Cardinality::OneToMany(l) => l,
                        _ => &[],
                    };
                    let mut mo = Obj::new(o.key("matching"));
                    mo.str("card", card_name(&m.card));
                    mo.raw("fillValues", "{\"lhs\":null,\"rhs\":null}");
                    push_list(mo.key("include"), include);
                    push_list(mo.key("labels"), &m.labels);
                    mo.raw("on", if m.on { "true" } else { "false" });
                    mo.end();
                }
            }
            o.str("op", b.op.as_str());
            push_expr(o.key("rhs"), &b.rhs);
            o.str("type", "binaryExpr");
            o.end();
        }
        Expr::Aggregate(a) => {
            let mut o = Obj::new(out);
            push_expr(o.key("expr"), &a.expr);
            let (labels, without) = match &a.grouping {
                None => (&[][..], false),
                Some(Grouping::By(l)) => (l.as_slice(), false),
                Some(Grouping::Without(l)) => (l.as_slice(), true),
            };
            push_list(o.key("grouping"), labels);
            o.str("op", a.op.as_str());
            match &a.param {
                None => o.raw("param", "null"),
                Some(p) => push_expr(o.key("param"), p),
            }
            o.str("type", "aggregation");
            o.raw("without", if without { "true" } else { "false" });
            o.end();
        }
        Expr::Call(c) => {
            let mut o = Obj::new(out);
            {
                let args = o.key("args");
                args.push('[');
                for (i, a) in c.args.iter().enumerate() {
                    if i > 0 {
                        args.push(',');
                    }
                    push_expr(args, a);
                }
                args.push(']');
            }
            {
                let spec = Some(c.func.spec());
                let mut fo = Obj::new(o.key("func"));
                let types: Vec<String> = spec
                    .map(|s| {
                        s.args
                            .iter()
                            .map(|t| value_type_name(*t).to_string())
                            .collect()
                    })
                    .unwrap_or_default();
                push_list(fo.key("argTypes"), &types);
                fo.str("name", c.func.name());
                fo.str(
                    "returnType",
                    value_type_name(spec.map_or(ValueType::Vector, |s| s.ret)),
                );
                fo.raw("variadic", &spec.map_or(0, |s| s.variadic).to_string());
                fo.end();
            }
            o.str("type", "call");
            o.end();
        }
    }
}

/// The JSON tree of `e` as Prometheus's `/api/v1/parse_query` returns it in `data`.
pub fn to_json(e: &Expr) -> String {
    let mut out = String::new();
    push_expr(&mut out, e);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::parse;

    #[test]
    fn selector_json_matches_prometheus_shape() {
        let e = parse("foo{a=\"<b>\"} offset 5m @ 100").expect("parses");
        assert_eq!(
            to_json(&e),
            concat!(
                r#"{"anchored":false,"matchers":[{"name":"a","type":"=","value":"\u003cb\u003e"},"#,
                r#"{"name":"__name__","type":"=","value":"foo"}],"name":"foo","offset":300000,"#,
                r#""offsetExpr":null,"smoothed":false,"startOrEnd":null,"timestamp":100000,"#,
                r#""type":"vectorSelector"}"#
            )
        );
    }

    #[test]
    fn binary_and_call_json() {
        let e = parse("sum by (job) (rate(x[5m])) / on(job) group_left y").expect("parses");
        let j = to_json(&e);
        assert!(
            j.starts_with(r#"{"bool":false,"lhs":{"expr":{"args":[{"anchored":false,"#),
            "{j}"
        );
        assert!(
            j.contains(
                r#""func":{"argTypes":["matrix"],"name":"rate","returnType":"vector","variadic":0}"#
            ),
            "{j}"
        );
        assert!(j.contains(r#""matching":{"card":"many-to-one","fillValues":{"lhs":null,"rhs":null},"include":[],"labels":["job"],"on":true}"#), "{j}");
        assert!(
            j.contains(
                r#""grouping":["job"],"op":"sum","param":null,"type":"aggregation","without":false"#
            ),
            "{j}"
        );
        assert!(j.contains(r#""range":300000,"rangeExpr":null"#), "{j}");
        let n = to_json(&parse("-Inf").expect("parses"));
        assert_eq!(n, r#"{"type":"numberLiteral","val":"-Inf"}"#);
        let n = to_json(&parse("1e21").expect("parses"));
        assert_eq!(
            n,
            r#"{"type":"numberLiteral","val":"1000000000000000000000"}"#
        );
    }
}

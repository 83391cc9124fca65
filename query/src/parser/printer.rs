//! Canonical PromQL text for an [`Expr`] (`impl Display`).
//!
//! Invariant: for every `e` that [`super::parse`] returns, `parse(&e.to_string()) == e`
//! (NaN literals compare by their printed form). The printer writes the tree as it is:
//! parentheses come from [`Expr::Paren`] nodes, so a parsed tree never gains or loses any.
//! For trees built by hand that a parse could not have produced (say a `Binary` child of
//! lower precedence without a `Paren`), it adds the parentheses needed to keep the meaning.
//!
//! Formats: numbers in Rust's shortest round-trip form (`1`, `0.5`, `1e-7`, `Inf`, `-Inf`,
//! `NaN`); durations as Prometheus prints them (`1h30m`, `90s` -> `1m30s`, `2w`, `1y`);
//! `@` timestamps as seconds with three decimals; strings double-quoted with Go escapes;
//! label and metric names bare when the lexer would read them back as such, else quoted.

use std::fmt::{self, Write};

use strata_engine::labels::METRIC_NAME;
use strata_engine::{MatchOp, Matcher};

use super::ast::*;
use super::lexer::go_quote;

/// Formats milliseconds as a Prometheus duration (`1h30m`, `5m`, `100ms`, `0s`).
/// Years and weeks are used only when they divide the duration exactly.
pub fn format_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    let mut rest = ms.unsigned_abs();
    if ms < 0 {
        out.push('-');
    }
    const Y: u64 = 365 * 24 * 3_600_000;
    const W: u64 = 7 * 24 * 3_600_000;
    let units: [(&str, u64, bool); 7] = [
        ("y", Y, true),
        ("w", W, true),
        ("d", 24 * 3_600_000, false),
        ("h", 3_600_000, false),
        ("m", 60_000, false),
        ("s", 1000, false),
        ("ms", 1, false),
    ];
    for (unit, mult, exact) in units {
        if exact && !rest.is_multiple_of(mult) {
            continue;
        }
        let v = rest / mult;
        if v > 0 {
            let _ = write!(out, "{v}{unit}");
            rest -= v * mult;
        }
    }
    out
}

/// Formats a float so that the PromQL lexer reads back exactly the same value.
pub fn format_number(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Inf".into() } else { "-Inf".into() };
    }
    let a = v.abs();
    if a == 0.0 || (1e-4..1e15).contains(&a) {
        format!("{v}")
    } else {
        format!("{v:e}")
    }
}

/// Formats an `@` timestamp (ms) as seconds with three decimals.
fn format_timestamp(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let a = ms.unsigned_abs();
    format!("{sign}{}.{:03}", a / 1000, a % 1000)
}

fn is_legacy_label(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// A label name as written in braces: bare if it lexes as an identifier there.
fn label_in_braces(name: &str) -> String {
    if is_legacy_label(name) {
        name.to_string()
    } else {
        go_quote(name)
    }
}

/// A label name in `by (...)`, `on (...)`, `group_left (...)`.
fn grouping_label(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    if is_legacy_label(name) && lower != "inf" && lower != "nan" {
        name.to_string()
    } else {
        go_quote(name)
    }
}

/// Can `name` be written bare before the braces and be read back as the metric name?
fn is_bare_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    let ok = matches!(chars.next(), Some(c) if c == '_' || c == ':' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c == ':' || c.is_ascii_alphanumeric());
    if !ok {
        return false;
    }
    let lower = name.to_ascii_lowercase();
    // Keywords that are not accepted as a metric name (Prometheus's `metric_identifier`).
    !matches!(
        lower.as_str(),
        "on" | "ignoring" | "group_left" | "group_right" | "bool" | "atan2" | "inf" | "nan"
    )
}

fn write_labels(f: &mut fmt::Formatter<'_>, labels: &[String]) -> fmt::Result {
    f.write_char('(')?;
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        f.write_str(&grouping_label(l))?;
    }
    f.write_char(')')
}

fn write_matcher(f: &mut fmt::Formatter<'_>, m: &Matcher) -> fmt::Result {
    let op = match m.op {
        MatchOp::Equal => "=",
        MatchOp::NotEqual => "!=",
        MatchOp::Regex => "=~",
        MatchOp::NotRegex => "!~",
    };
    write!(
        f,
        "{}{}{}",
        label_in_braces(&m.name),
        op,
        go_quote(&m.value)
    )
}

fn write_selector_body(f: &mut fmt::Formatter<'_>, vs: &VectorSelector) -> fmt::Result {
    let mut skip = None;
    if let Some(name) = &vs.name {
        if is_bare_metric_name(name) {
            skip = vs
                .matchers
                .iter()
                .rposition(|m| m.name == METRIC_NAME && m.op == MatchOp::Equal && &m.value == name);
            f.write_str(name)?;
        }
    }
    let rest: Vec<&Matcher> = vs
        .matchers
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != skip)
        .map(|(_, m)| m)
        .collect();
    if rest.is_empty() && skip.is_some() {
        return Ok(());
    }
    f.write_char('{')?;
    for (i, m) in rest.iter().enumerate() {
        if i > 0 {
            f.write_char(',')?;
        }
        write_matcher(f, m)?;
    }
    f.write_char('}')
}

fn write_modifiers(f: &mut fmt::Formatter<'_>, offset: i64, at: Option<AtModifier>) -> fmt::Result {
    match at {
        None => {}
        Some(AtModifier::Timestamp(ms)) => write!(f, " @ {}", format_timestamp(ms))?,
        Some(AtModifier::Start) => f.write_str(" @ start()")?,
        Some(AtModifier::End) => f.write_str(" @ end()")?,
    }
    if offset != 0 {
        write!(f, " offset {}", format_duration(offset))?;
    }
    Ok(())
}

fn write_wrapped(f: &mut fmt::Formatter<'_>, e: &Expr, wrap: bool) -> fmt::Result {
    if wrap {
        write!(f, "({e})")
    } else {
        write!(f, "{e}")
    }
}

fn is_negative_number(e: &Expr) -> bool {
    matches!(e, Expr::Number(v) if v.is_sign_negative() && !v.is_nan())
}

fn write_binary(f: &mut fmt::Formatter<'_>, b: &BinaryExpr) -> fmt::Result {
    let prec = b.op.precedence();
    let lhs_wrap = match b.lhs.as_ref() {
        Expr::Binary(l) => {
            let lp = l.op.precedence();
            lp < prec || (lp == prec && b.op.is_right_assoc())
        }
        Expr::Unary(..) => prec > 5,
        e => b.op == BinaryOp::Pow && is_negative_number(e),
    };
    let rhs_wrap = match b.rhs.as_ref() {
        Expr::Binary(r) => {
            let rp = r.op.precedence();
            rp < prec || (rp == prec && !b.op.is_right_assoc())
        }
        _ => false,
    };
    write_wrapped(f, &b.lhs, lhs_wrap)?;
    write!(f, " {}", b.op.as_str())?;
    if b.return_bool {
        f.write_str(" bool")?;
    }
    if let Some(m) = &b.matching {
        let grouped = matches!(
            m.card,
            Cardinality::ManyToOne(_) | Cardinality::OneToMany(_)
        );
        if m.on {
            f.write_str(" on")?;
            write_labels(f, &m.labels)?;
        } else if !m.labels.is_empty() || grouped {
            f.write_str(" ignoring")?;
            write_labels(f, &m.labels)?;
        }
        match &m.card {
            Cardinality::ManyToOne(l) => {
                f.write_str(" group_left")?;
                write_labels(f, l)?;
            }
            Cardinality::OneToMany(l) => {
                f.write_str(" group_right")?;
                write_labels(f, l)?;
            }
            Cardinality::OneToOne | Cardinality::ManyToMany => {}
        }
    }
    f.write_char(' ')?;
    write_wrapped(f, &b.rhs, rhs_wrap)
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Number(v) => f.write_str(&format_number(*v)),
            Expr::String(s) => f.write_str(&go_quote(s)),
            Expr::VectorSelector(vs) => {
                write_selector_body(f, vs)?;
                write_modifiers(f, vs.offset, vs.at)
            }
            Expr::MatrixSelector(m) => {
                write_selector_body(f, &m.selector)?;
                write!(f, "[{}]", format_duration(m.range))?;
                write_modifiers(f, m.selector.offset, m.selector.at)
            }
            Expr::Subquery(sq) => {
                let wrap = matches!(sq.expr.as_ref(), Expr::Binary(_) | Expr::Unary(..))
                    || is_negative_number(&sq.expr);
                write_wrapped(f, &sq.expr, wrap)?;
                write!(f, "[{}:", format_duration(sq.range))?;
                if let Some(step) = sq.step {
                    f.write_str(&format_duration(step))?;
                }
                f.write_char(']')?;
                write_modifiers(f, sq.offset, sq.at)
            }
            Expr::Paren(e) => write!(f, "({e})"),
            Expr::Unary(op, e) => {
                f.write_str(match op {
                    UnaryOp::Neg => "-",
                    UnaryOp::Pos => "+",
                })?;
                let wrap = match e.as_ref() {
                    Expr::Binary(b) => b.op != BinaryOp::Pow,
                    Expr::Number(_) => true,
                    _ => false,
                };
                write_wrapped(f, e, wrap)
            }
            Expr::Binary(b) => write_binary(f, b),
            Expr::Aggregate(a) => {
                f.write_str(a.op.as_str())?;
                match &a.grouping {
                    None => {}
                    Some(Grouping::By(l)) => {
                        f.write_str(" by ")?;
                        write_labels(f, l)?;
                        f.write_char(' ')?;
                    }
                    Some(Grouping::Without(l)) => {
                        f.write_str(" without ")?;
                        write_labels(f, l)?;
                        f.write_char(' ')?;
                    }
                }
                f.write_char('(')?;
                if let Some(p) = &a.param {
                    write!(f, "{p}, ")?;
                }
                write!(f, "{})", a.expr)
            }
            Expr::Call(c) => {
                write!(f, "{}(", c.func)?;
                for (i, a) in c.args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{a}")?;
                }
                f.write_char(')')
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_like_prometheus() {
        assert_eq!(format_duration(90_000), "1m30s");
        assert_eq!(format_duration(5_400_000), "1h30m");
        assert_eq!(format_duration(100), "100ms");
        assert_eq!(format_duration(14 * 24 * 3_600_000), "2w");
        assert_eq!(format_duration(8 * 24 * 3_600_000), "8d");
        assert_eq!(format_duration(365 * 24 * 3_600_000), "1y");
        assert_eq!(format_duration(-300_000), "-5m");
        assert_eq!(format_duration(1_500), "1s500ms");
        assert_eq!(format_duration(0), "0s");
    }

    #[test]
    fn numbers_print_shortest_round_trip() {
        for v in [
            0.0, -0.0, 1.0, 0.1, 1e-7, 1.5e300, 123456.789, -2.5, 1e15, 5e-324,
        ] {
            let s = format_number(v);
            assert_eq!(s.parse::<f64>().ok(), Some(v), "{s}");
        }
        assert_eq!(format_number(1.0), "1");
        assert_eq!(format_number(f64::INFINITY), "Inf");
        assert_eq!(format_number(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_number(f64::NAN), "NaN");
        assert_eq!(format_timestamp(-1500), "-1.500");
    }
}

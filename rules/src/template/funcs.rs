//! Template functions: Go's builtins (`and or not len index print printf println html js
//! urlquery eq ne lt le gt ge`), Prometheus's alert template functions (`query first label
//! value strvalue sortByLabel args humanize* toTime toDuration now title toUpper toLower match
//! reReplaceAll stripPort stripDomain safeHtml graphLink tableLink externalURL pathPrefix
//! parseDuration urlQueryEscape`), and the methods of `time.Time` and `time.Duration`.
//!
//! Each function has a Go signature ([`Sig`]) that the executor uses to type constant
//! arguments and to check the others, so type errors read as Go's do. Number formatting
//! follows Prometheus exactly (`humanize 1234567` is `1.235M`); see the tests.
//!
//! Invariant: a function never panics on bad input; it returns `Err(message)` and the executor
//! reports `error calling NAME: message` at the call.

use std::rc::Rc;

use super::gofmt::{format_float, query_escape, quote, sprintf};
use super::gotime::{duration_string, GoTime};
use super::value::{Sample, Value};
use super::Env;

/// Parameter types of template functions (Go types).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ty {
    Any,
    Str,
    Sample,
    Samples,
    Time,
    Duration,
}

impl Ty {
    pub fn name(self) -> &'static str {
        match self {
            Ty::Any => "interface {}",
            Ty::Str => "string",
            Ty::Sample => "*template.sample",
            Ty::Samples => "template.queryResult",
            Ty::Time => "time.Time",
            Ty::Duration => "time.Duration",
        }
    }

    /// Whether an untyped nil converts to this type.
    pub fn can_be_nil(self) -> bool {
        matches!(self, Ty::Any | Ty::Sample | Ty::Samples)
    }

    /// Whether `v` is assignable to this type.
    pub fn accepts(self, v: &Value) -> bool {
        matches!(
            (self, v),
            (Ty::Any, _)
                | (Ty::Str, Value::Str(_))
                | (Ty::Sample, Value::Sample(_))
                | (Ty::Samples, Value::Samples(_))
                | (Ty::Time, Value::Time(_))
                | (Ty::Duration, Value::Duration(_))
        )
    }
}

/// A function's signature: fixed parameters, then an optional variadic one.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sig {
    pub params: &'static [Ty],
    pub variadic: Option<Ty>,
}

const fn fixed(params: &'static [Ty]) -> Sig {
    Sig {
        params,
        variadic: None,
    }
}

const fn var(params: &'static [Ty], v: Ty) -> Sig {
    Sig {
        params,
        variadic: Some(v),
    }
}

use Ty::*;

/// The signature of function `name`, if it exists.
pub(crate) fn func_sig(name: &str) -> Option<Sig> {
    Some(match name {
        "and" | "or" => var(&[Any], Any),
        "not" | "len" => fixed(&[Any]),
        "index" => var(&[Any], Any),
        "print" | "println" | "html" | "js" | "urlquery" | "args" => var(&[], Any),
        "printf" => var(&[Str], Any),
        "eq" => var(&[Any], Any),
        "ne" | "lt" | "le" | "gt" | "ge" => fixed(&[Any, Any]),
        "query" => fixed(&[Str]),
        "first" => fixed(&[Samples]),
        "label" => fixed(&[Str, Sample]),
        "value" | "strvalue" => fixed(&[Sample]),
        "reReplaceAll" => fixed(&[Str, Str, Str]),
        "safeHtml" | "title" | "toUpper" | "toLower" | "graphLink" | "tableLink" | "stripPort"
        | "stripDomain" | "parseDuration" | "urlQueryEscape" => fixed(&[Str]),
        "match" => fixed(&[Str, Str]),
        "sortByLabel" => fixed(&[Str, Samples]),
        "humanize" | "humanize1024" | "humanizeDuration" | "humanizePercentage"
        | "humanizeTimestamp" | "toTime" | "toDuration" => fixed(&[Any]),
        "now" | "pathPrefix" | "externalURL" => fixed(&[]),
        _ => return None,
    })
}

/// Calls function `name` (its arguments already checked against [`func_sig`]).
pub(crate) fn call_func(name: &str, a: Vec<Value>, env: &Env<'_>) -> Result<Value, String> {
    let s = |i: usize| -> &str {
        match &a[i] {
            Value::Str(s) => s,
            _ => "",
        }
    };
    Ok(match name {
        "not" => Value::Bool(!a[0].truth()),
        "len" => Value::Int(length(&a[0])?),
        "index" => index(&a[0], &a[1..])?,
        "print" => Value::str(&sprint(&a)),
        "println" => {
            let parts: Vec<String> = a.iter().map(Value::to_go_string).collect();
            Value::str(&(parts.join(" ") + "\n"))
        }
        "printf" => Value::str(&sprintf(s(0), &a[1..])),
        "html" => Value::str(&html_escape(&eval_args(&a))),
        "js" => Value::str(&js_escape(&eval_args(&a))),
        "urlquery" => Value::str(&query_escape(&eval_args(&a))),
        "eq" => Value::Bool(eq(&a[0], &a[1..])?),
        "ne" => Value::Bool(!eq(&a[0], &a[1..])?),
        "lt" => Value::Bool(lt(&a[0], &a[1])?),
        "le" => Value::Bool(lt(&a[0], &a[1])? || eq(&a[0], &a[1..])?),
        "gt" => Value::Bool(!(lt(&a[0], &a[1])? || eq(&a[0], &a[1..])?)),
        "ge" => Value::Bool(!lt(&a[0], &a[1])?),
        "query" => {
            let q = env.query.ok_or("no query function configured")?;
            let res = q(s(0), env.ts_ms).map_err(|e| e.to_string())?;
            let samples = res
                .into_iter()
                .map(|(labels, value)| {
                    Rc::new(Sample {
                        labels: labels
                            .iter()
                            .map(|l| (l.name.to_string(), l.value.to_string()))
                            .collect(),
                        value,
                    })
                })
                .collect();
            Value::Samples(Rc::new(samples))
        }
        "first" => match &a[0] {
            Value::Samples(v) if !v.is_empty() => Value::Sample(v[0].clone()),
            _ => return Err("first() called on vector with no elements".into()),
        },
        "label" => {
            let smp = sample_arg(&a[1])?;
            Value::str(smp.labels.get(s(0)).map_or("", String::as_str))
        }
        "value" => Value::Float(sample_arg(&a[0])?.value),
        "strvalue" => Value::str(
            sample_arg(&a[0])?
                .labels
                .get("__value__")
                .map_or("", String::as_str),
        ),
        "args" => Value::Map(Rc::new(
            a.iter()
                .enumerate()
                .map(|(i, v)| (format!("arg{i}"), v.clone()))
                .collect(),
        )),
        "reReplaceAll" => {
            let re = compile(s(0))?;
            Value::str(&re.replace_all(s(2), s(1)))
        }
        "safeHtml" => Value::Html(s(0).into()),
        "match" => Value::Bool(compile(s(0))?.is_match(s(1))),
        "title" => Value::str(&title(s(0))),
        "toUpper" => Value::str(&map_chars(s(0), |c| c.to_uppercase())),
        "toLower" => Value::str(&map_chars(s(0), |c| c.to_lowercase())),
        "graphLink" => Value::str(&format!("/graph?g0.expr={}&g0.tab=0", query_escape(s(0)))),
        "tableLink" => Value::str(&format!("/graph?g0.expr={}&g0.tab=1", query_escape(s(0)))),
        "sortByLabel" => match &a[1] {
            Value::Samples(v) => {
                let mut v: Vec<Rc<Sample>> = v.as_ref().clone();
                let key = s(0);
                v.sort_by(|x, y| {
                    let lx = x.labels.get(key).map_or("", String::as_str);
                    let ly = y.labels.get(key).map_or("", String::as_str);
                    lx.cmp(ly)
                });
                Value::Samples(Rc::new(v))
            }
            _ => Value::Invalid,
        },
        "stripPort" => Value::str(match split_host_port(s(0)) {
            Some((host, _)) => host,
            None => s(0),
        }),
        "stripDomain" => Value::str(&strip_domain(s(0))),
        "humanize" => Value::str(&humanize(to_float(&a[0])?)),
        "humanize1024" => Value::str(&humanize1024(to_float(&a[0])?)),
        "humanizeDuration" => Value::str(&humanize_duration(to_float(&a[0])?)),
        "humanizePercentage" => Value::str(&format!(
            "{}%",
            format_float(to_float(&a[0])? * 100.0, 'g', 4)
        )),
        "humanizeTimestamp" => {
            let v = to_float(&a[0])?;
            if !v.is_finite() {
                Value::str(&format_float(v, 'g', 4))
            } else {
                Value::str(&float_to_time(v)?.go_string())
            }
        }
        "toTime" => {
            let v = to_float(&a[0])?;
            if !v.is_finite() {
                return Err("value is NaN or Inf".into());
            }
            Value::Time(float_to_time(v)?)
        }
        "toDuration" => Value::Duration((to_float(&a[0])? * 1e9) as i64),
        "now" => Value::Float(env.ts_ms as f64 / 1000.0),
        "pathPrefix" => Value::str(url_path(env.external_url)),
        "externalURL" => Value::str(env.external_url),
        "parseDuration" => Value::Float(parse_prom_duration(s(0))? as f64 / 1e9),
        "urlQueryEscape" => Value::str(&query_escape(s(0))),
        "and" | "or" => unreachable!("and/or short-circuit in the executor"),
        _ => return Err(format!("{} is not a defined function", quote(name))),
    })
}

/// The signature of method `name` on `recv`, if it has one.
pub(crate) fn method_sig(recv: &Value, name: &str) -> Option<Sig> {
    match recv {
        Value::Time(_) => Some(match name {
            "Format" => fixed(&[Str]),
            "Add" => fixed(&[Duration]),
            "Sub" | "Before" | "After" | "Equal" => fixed(&[Time]),
            "String" | "Unix" | "UnixMilli" | "UnixNano" | "UTC" | "Local" | "Year" | "YearDay"
            | "Day" | "Hour" | "Minute" | "Second" | "Nanosecond" | "IsZero" => fixed(&[]),
            _ => return None,
        }),
        Value::Duration(_) => Some(match name {
            "String" | "Seconds" | "Minutes" | "Hours" | "Milliseconds" | "Microseconds"
            | "Nanoseconds" | "Abs" => fixed(&[]),
            _ => return None,
        }),
        _ => None,
    }
}

/// Calls method `name` of `recv` (see [`method_sig`]).
pub(crate) fn call_method(recv: &Value, name: &str, a: Vec<Value>) -> Result<Value, String> {
    match recv {
        Value::Time(t) => {
            let other = |i: usize| match a.get(i) {
                Some(Value::Time(o)) => *o,
                _ => *t,
            };
            let field = |layout: &str| t.format(layout).trim().parse::<i64>().unwrap_or(0);
            Ok(match name {
                "Format" => match a.first() {
                    Some(Value::Str(l)) => Value::str(&t.format(l)),
                    _ => Value::str(""),
                },
                "Add" => match a.first() {
                    Some(Value::Duration(d)) => Value::Time(GoTime {
                        ns: t.ns + *d as i128,
                    }),
                    _ => Value::Time(*t),
                },
                "Sub" => Value::Duration(
                    (t.ns - other(0).ns).clamp(i64::MIN as i128, i64::MAX as i128) as i64,
                ),
                "Before" => Value::Bool(*t < other(0)),
                "After" => Value::Bool(*t > other(0)),
                "Equal" => Value::Bool(*t == other(0)),
                "String" => Value::str(&t.go_string()),
                "Unix" => Value::Int(t.unix()),
                "UnixMilli" => Value::Int(t.unix_milli()),
                "UnixNano" => Value::Int(t.ns.clamp(i64::MIN as i128, i64::MAX as i128) as i64),
                "UTC" | "Local" => Value::Time(*t),
                "Year" => Value::Int(field("2006")),
                "YearDay" => Value::Int(field("002")),
                "Day" => Value::Int(field("2")),
                "Hour" => Value::Int(field("15")),
                "Minute" => Value::Int(field("4")),
                "Second" => Value::Int(field("5")),
                "Nanosecond" => Value::Int(t.ns.rem_euclid(1_000_000_000) as i64),
                "IsZero" => Value::Bool(t.ns == -62_135_596_800 * 1_000_000_000),
                _ => return Err(format!("no method {name}")),
            })
        }
        Value::Duration(d) => Ok(match name {
            "String" => Value::str(&duration_string(*d)),
            "Seconds" => Value::Float(*d as f64 / 1e9),
            "Minutes" => Value::Float(*d as f64 / 6e10),
            "Hours" => Value::Float(*d as f64 / 3.6e12),
            "Milliseconds" => Value::Int(d / 1_000_000),
            "Microseconds" => Value::Int(d / 1_000),
            "Nanoseconds" => Value::Int(*d),
            "Abs" => Value::Duration(d.checked_abs().unwrap_or(i64::MAX)),
            _ => return Err(format!("no method {name}")),
        }),
        _ => Err(format!("no method {name}")),
    }
}

fn sample_arg(v: &Value) -> Result<&Sample, String> {
    match v {
        Value::Sample(s) => Ok(s),
        _ => Err("runtime error: invalid memory address or nil pointer dereference".into()),
    }
}

fn compile(pattern: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(pattern).map_err(|e| {
        let detail = e.to_string();
        let last = detail.lines().last().unwrap_or("").trim();
        let last = last.strip_prefix("error: ").unwrap_or(last);
        format!("error parsing regexp: {last}: `{pattern}`")
    })
}

/// `fmt.Sprint`: operands separated by a space when neither side is a string.
fn sprint(a: &[Value]) -> String {
    let mut out = String::new();
    for (i, v) in a.iter().enumerate() {
        let is_str = |v: &Value| matches!(v, Value::Str(_) | Value::Html(_));
        if i > 0 && !is_str(v) && !is_str(&a[i - 1]) {
            out.push(' ');
        }
        out.push_str(&v.to_go_string());
    }
    out
}

/// The text of `html`, `js` and `urlquery` arguments (Go's `evalArgs`).
fn eval_args(a: &[Value]) -> String {
    match a {
        [Value::Str(s)] => s.to_string(),
        _ => sprint(a),
    }
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c if !c.is_ascii() && !super::gofmt::is_print(c) => {
                out.push_str(&format!("\\u{:04X}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

fn length(v: &Value) -> Result<i64, String> {
    Ok(match v {
        Value::Str(s) | Value::Html(s) => s.len() as i64,
        Value::StrMap(m) => m.len() as i64,
        Value::Map(m) => m.len() as i64,
        Value::List(l) => l.len() as i64,
        Value::Samples(l) => l.len() as i64,
        Value::Invalid => return Err("len of untyped nil".into()),
        other => return Err(format!("len of type {}", other.type_name())),
    })
}

fn index(item: &Value, indices: &[Value]) -> Result<Value, String> {
    let mut v = item.clone();
    for i in indices {
        let pos = |len: usize| -> Result<usize, String> {
            let x: i128 = match i {
                Value::Int(x) => *x as i128,
                Value::Uint(x) => *x as i128,
                other => {
                    return Err(format!(
                        "cannot index slice/array with type {}",
                        other.type_name()
                    ))
                }
            };
            if x < 0 || x >= len as i128 {
                return Err(format!("index out of range: {x}"));
            }
            Ok(x as usize)
        };
        v = match &v {
            Value::StrMap(m) => match i {
                Value::Str(k) => Value::str(m.get(k.as_ref()).map_or("", String::as_str)),
                Value::Invalid => Value::str(m.get("").map_or("", String::as_str)),
                other => {
                    return Err(format!(
                        "value has type {}; should be string",
                        other.type_name()
                    ))
                }
            },
            Value::Map(m) => match i {
                Value::Str(k) => m.get(k.as_ref()).cloned().unwrap_or(Value::Invalid),
                other => {
                    return Err(format!(
                        "value has type {}; should be string",
                        other.type_name()
                    ))
                }
            },
            Value::List(l) => l[pos(l.len())?].clone(),
            Value::Samples(l) => Value::Sample(l[pos(l.len())?].clone()),
            Value::Str(s) => Value::Uint(s.as_bytes()[pos(s.len())?] as u64),
            Value::Invalid => return Err("index of untyped nil".into()),
            other => return Err(format!("can't index item of type {}", other.type_name())),
        };
    }
    Ok(v)
}

/// Go's comparison kinds.
#[derive(PartialEq, Clone, Copy)]
enum Kind {
    Bool,
    Int,
    Uint,
    Float,
    Str,
    Other,
}

fn kind(v: &Value) -> Kind {
    match v {
        Value::Bool(_) => Kind::Bool,
        Value::Int(_) | Value::Duration(_) => Kind::Int,
        Value::Uint(_) => Kind::Uint,
        Value::Float(_) => Kind::Float,
        Value::Str(_) | Value::Html(_) => Kind::Str,
        _ => Kind::Other,
    }
}

fn int_of(v: &Value) -> i128 {
    match v {
        Value::Int(i) | Value::Duration(i) => *i as i128,
        Value::Uint(u) => *u as i128,
        _ => 0,
    }
}

fn str_of(v: &Value) -> &str {
    match v {
        Value::Str(s) | Value::Html(s) => s,
        _ => "",
    }
}

const BAD_COMPARISON: &str = "incompatible types for comparison";
const BAD_COMPARISON_TYPE: &str = "invalid type for comparison";

fn eq(a1: &Value, rest: &[Value]) -> Result<bool, String> {
    if rest.is_empty() {
        return Err("missing argument for comparison".into());
    }
    let k1 = kind(a1);
    for a2 in rest {
        let k2 = kind(a2);
        let truth = if k1 != k2 {
            match (k1, k2) {
                (Kind::Int | Kind::Uint, Kind::Int | Kind::Uint) => int_of(a1) == int_of(a2),
                _ => {
                    let valid = |v: &Value| !matches!(v, Value::Invalid);
                    if valid(a1) && valid(a2) {
                        return Err(BAD_COMPARISON.into());
                    }
                    false
                }
            }
        } else {
            match k1 {
                Kind::Bool => matches!((a1, a2), (Value::Bool(x), Value::Bool(y)) if x == y),
                Kind::Int | Kind::Uint => int_of(a1) == int_of(a2),
                Kind::Float => {
                    matches!((a1, a2), (Value::Float(x), Value::Float(y)) if x == y)
                }
                Kind::Str => str_of(a1) == str_of(a2),
                Kind::Other => match (a1, a2) {
                    (Value::Invalid, Value::Invalid) => true,
                    (Value::Invalid, _) | (_, Value::Invalid) => false,
                    (Value::Time(x), Value::Time(y)) => x == y,
                    (x, _) => {
                        return Err(format!(
                            "non-comparable type {}: {}",
                            x.to_go_string(),
                            x.type_name()
                        ))
                    }
                },
            }
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

fn lt(a1: &Value, a2: &Value) -> Result<bool, String> {
    let (k1, k2) = (kind(a1), kind(a2));
    if k1 == Kind::Other || k2 == Kind::Other {
        return Err(BAD_COMPARISON_TYPE.into());
    }
    if k1 != k2 {
        return match (k1, k2) {
            (Kind::Int | Kind::Uint, Kind::Int | Kind::Uint) => Ok(int_of(a1) < int_of(a2)),
            _ => Err(BAD_COMPARISON.into()),
        };
    }
    Ok(match (a1, a2) {
        (Value::Float(x), Value::Float(y)) => x < y,
        _ if k1 == Kind::Str => str_of(a1) < str_of(a2),
        _ if k1 == Kind::Bool => return Err(BAD_COMPARISON_TYPE.into()),
        _ => int_of(a1) < int_of(a2),
    })
}

/// Go's `strconv.ParseFloat(s, 64)` with its error text.
pub(crate) fn parse_go_float(s: &str) -> Result<f64, String> {
    let bad = |why: &str| format!("strconv.ParseFloat: parsing {}: {why}", quote(s));
    let t = s.strip_prefix(['+', '-']).unwrap_or(s);
    let lower = t.to_ascii_lowercase();
    let special = matches!(lower.as_str(), "inf" | "infinity" | "nan");
    let plain = !t.is_empty()
        && t.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    if !special && !plain {
        return Err(bad("invalid syntax"));
    }
    match s.parse::<f64>() {
        Ok(v) if v.is_infinite() && !special => Err(bad("value out of range")),
        Ok(v) => Ok(v),
        Err(_) => Err(bad("invalid syntax")),
    }
}

/// Prometheus's `ConvertToFloat`: float64, string, int, uint, and durations (as seconds).
fn to_float(v: &Value) -> Result<f64, String> {
    match v {
        Value::Float(f) => Ok(*f),
        Value::Str(s) => parse_go_float(s),
        Value::Int(i) => Ok(*i as f64),
        Value::Uint(u) => Ok(*u as f64),
        Value::Duration(d) => Ok(*d as f64 / 1e9),
        other => Err(format!("can't convert {} to float", other.type_name())),
    }
}

/// Prometheus's `FloatToTime`: seconds to a UTC time of millisecond precision.
fn float_to_time(v: f64) -> Result<GoTime, String> {
    let ns = v * 1e9;
    if ns > i64::MAX as f64 || ns < i64::MIN as f64 {
        return Err(format!(
            "{} cannot be represented as a nanoseconds timestamp since it overflows int64",
            format_float(v, 'g', -1)
        ));
    }
    // int64 conversion truncates; model.TimeFromUnixNano truncates to milliseconds.
    let ms = (ns as i64) / 1_000_000;
    Ok(GoTime::from_millis(ms))
}

fn humanize(mut v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format_float(v, 'g', 4);
    }
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
            if v.abs() >= 1.0 {
                break;
            }
            prefix = p;
            v *= 1000.0;
        }
    }
    format!("{}{prefix}", format_float(v, 'g', 4))
}

fn humanize1024(mut v: f64) -> String {
    if v.abs() <= 1.0 || !v.is_finite() {
        return format_float(v, 'g', 4);
    }
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", format_float(v, 'g', 4))
}

fn humanize_duration(mut v: f64) -> String {
    if !v.is_finite() {
        return format_float(v, 'g', 4);
    }
    if v == 0.0 {
        return format!("{}s", format_float(v, 'g', 4));
    }
    if v.abs() >= 1.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        v = v.abs();
        let d = v as i64;
        let (secs, mins, hours, days) = (d % 60, d / 60 % 60, d / 3600 % 24, d / 86400);
        return if days != 0 {
            format!("{sign}{days}d {hours}h {mins}m {secs}s")
        } else if hours != 0 {
            format!("{sign}{hours}h {mins}m {secs}s")
        } else if mins != 0 {
            format!("{sign}{mins}m {secs}s")
        } else {
            format!("{sign}{}s", format_float(v, 'g', 4))
        };
    }
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", format_float(v, 'g', 4))
}

/// Title case: the first letter of each word upper-cased, the rest left as is (Prometheus
/// uses `cases.Title` with `NoLower`). A word starts at a letter that does not follow a
/// letter, digit or apostrophe.
fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_word = false;
    for c in s.chars() {
        if c.is_alphabetic() && !in_word {
            let mut up = c.to_uppercase();
            match (up.next(), up.next()) {
                (Some(u), None) => out.push(u),
                _ => out.push(c),
            }
        } else {
            out.push(c);
        }
        in_word = c.is_alphanumeric() || matches!(c, '\'' | '\u{2019}');
    }
    out
}

/// Maps each character through a case mapping, keeping characters whose mapping is not a
/// single character (Go's per-rune `unicode.ToUpper`/`ToLower`).
fn map_chars<I: Iterator<Item = char>>(s: &str, f: impl Fn(char) -> I) -> String {
    s.chars()
        .map(|c| {
            let mut m = f(c);
            match (m.next(), m.next()) {
                (Some(x), None) => x,
                _ => c,
            }
        })
        .collect()
}

/// Go's `net.SplitHostPort`, `None` where it returns an error.
pub(crate) fn split_host_port(hp: &str) -> Option<(&str, &str)> {
    let i = hp.rfind(':')?;
    let (host, j, k);
    if hp.starts_with('[') {
        let end = hp.find(']')?;
        if end + 1 == hp.len() || end + 1 != i {
            return None;
        }
        host = &hp[1..end];
        j = 1;
        k = end + 1;
    } else {
        host = &hp[..i];
        if host.contains(':') {
            return None;
        }
        j = 0;
        k = 0;
    }
    if hp[j..].contains('[') || hp[k..].contains(']') {
        return None;
    }
    Some((host, &hp[i + 1..]))
}

fn strip_domain(hp: &str) -> String {
    let (host, port) = split_host_port(hp).unwrap_or((hp, ""));
    if host.parse::<std::net::IpAddr>().is_ok() {
        return hp.to_string();
    }
    let host = host.split('.').next().unwrap_or("");
    if port.is_empty() {
        host.to_string()
    } else if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The path of a URL (`url.URL.Path`), empty when it has none.
fn url_path(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(url, |i| &url[i + 3..]);
    let path = after_scheme.find('/').map_or("", |i| &after_scheme[i..]);
    let end = path.find(['?', '#']).unwrap_or(path.len());
    &path[..end]
}

/// Prometheus's duration syntax (`1h30m`, `-5m`, `0`), in nanoseconds.
pub(crate) fn parse_prom_duration(s: &str) -> Result<i64, String> {
    if let Some(rest) = s.strip_prefix('-') {
        return parse_prom_duration_unsigned(rest).map(|d| -d);
    }
    parse_prom_duration_unsigned(s)
}

fn parse_prom_duration_unsigned(s: &str) -> Result<i64, String> {
    match s {
        "0" => return Ok(0),
        "" => return Err("empty duration string".into()),
        _ => {}
    }
    let invalid = || format!("not a valid duration string: {}", quote(s));
    const UNITS: [(&str, u64); 7] = [
        ("y", 365 * 24 * 3_600_000_000_000),
        ("w", 7 * 24 * 3_600_000_000_000),
        ("d", 24 * 3_600_000_000_000),
        ("h", 3_600_000_000_000),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
    ];
    let mut rest = s;
    let mut total: u64 = 0;
    let mut last = 0;
    while !rest.is_empty() {
        let nd = rest.bytes().take_while(u8::is_ascii_digit).count();
        if nd == 0 {
            return Err(invalid());
        }
        let v: u64 = rest[..nd].parse().map_err(|_| invalid())?;
        rest = &rest[nd..];
        let nu = rest.bytes().take_while(|b| !b.is_ascii_digit()).count();
        if nu == 0 {
            return Err(invalid());
        }
        let u = &rest[..nu];
        rest = &rest[nu..];
        let Some(pos) = UNITS.iter().position(|(n, _)| *n == u) else {
            return Err(format!(
                "unknown unit {} in duration {}",
                quote(u),
                quote(s)
            ));
        };
        if pos < last {
            return Err(invalid());
        }
        last = pos + 1;
        let mult = UNITS[pos].1;
        if v > (1u64 << 63) / mult {
            return Err("duration out of range".into());
        }
        total = total.saturating_add(v * mult);
        if total > i64::MAX as u64 {
            return Err("duration out of range".into());
        }
    }
    Ok(total as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn humanizers() {
        // Expected values from Prometheus's template tests.
        let h: Vec<String> = [0.0, 1.0, 1234567.0, 0.12, -1.0, i64::MAX as f64]
            .iter()
            .map(|v| humanize(*v))
            .collect();
        assert_eq!(h, ["0", "1", "1.235M", "120m", "-1", "9.223E"]);
        assert_eq!(humanize(1.8446744073709552e19), "18.45E");
        let h: Vec<String> = [0.0, 1.0, 1048576.0, 0.12, 1234567.0, i64::MAX as f64]
            .iter()
            .map(|v| humanize1024(*v))
            .collect();
        assert_eq!(h, ["0", "1", "1Mi", "0.12", "1.177Mi", "8Ei"]);
        let d: Vec<String> = [
            0.0,
            1.0,
            60.0,
            3600.0,
            86400.0,
            86400.0 + 3600.0,
            -(86400.0 * 2.0 + 3600.0 * 3.0 + 60.0 * 4.0 + 5.0),
            899.99,
            0.1,
            0.0001,
            0.12345,
            60.1,
            60.5,
            1.2345,
            12.345,
            1234567.0,
        ]
        .iter()
        .map(|v| humanize_duration(*v))
        .collect();
        assert_eq!(
            d,
            [
                "0s",
                "1s",
                "1m 0s",
                "1h 0m 0s",
                "1d 0h 0m 0s",
                "1d 1h 0m 0s",
                "-2d 3h 4m 5s",
                "14m 59s",
                "100ms",
                "100us",
                "123.5ms",
                "1m 0s",
                "1m 0s",
                "1.234s",
                "12.35s",
                "14d 6h 56m 7s",
            ]
        );
        for v in [f64::INFINITY, f64::NEG_INFINITY, f64::NAN] {
            let want = format_float(v, 'g', 4);
            assert_eq!(humanize(v), want);
            assert_eq!(humanize1024(v), want);
            assert_eq!(humanize_duration(v), want);
        }
        assert_eq!(humanize(f64::INFINITY), "+Inf");
    }

    #[test]
    fn host_port() {
        let sp = |s| split_host_port(s).map_or(s, |(h, _)| h);
        assert_eq!(sp("foo.example.com"), "foo.example.com");
        assert_eq!(sp("foo.example.com:12345"), "foo.example.com");
        assert_eq!(sp("192.0.2.1:12345"), "192.0.2.1");
        assert_eq!(sp("2001:0DB8::1"), "2001:0DB8::1");
        assert_eq!(sp("[2001:0DB8::1]:12345"), "2001:0DB8::1");
        assert_eq!(sp("[2001:0DB8::1]::12345"), "[2001:0DB8::1]::12345");
        assert_eq!(strip_domain("foo.example.com"), "foo");
        assert_eq!(strip_domain("foo.example.com:12345"), "foo:12345");
        assert_eq!(strip_domain("192.0.2.1:12345"), "192.0.2.1:12345");
        assert_eq!(strip_domain("2001:0DB8::1"), "2001:0DB8::1");
        assert_eq!(strip_domain("[2001:0DB8::1]:12345"), "[2001:0DB8::1]:12345");
        assert_eq!(
            strip_domain("[2001:0DB8::1]::12345"),
            "[2001:0DB8::1]::12345"
        );
    }

    #[test]
    fn durations_and_floats() {
        assert_eq!(parse_prom_duration("1h2m10ms"), Ok(3_720_010_000_000));
        assert_eq!(parse_prom_duration("-30m"), Ok(-1_800_000_000_000));
        assert_eq!(parse_prom_duration("0"), Ok(0));
        assert_eq!(
            parse_prom_duration("5m1h"),
            Err("not a valid duration string: \"5m1h\"".into())
        );
        assert_eq!(
            parse_prom_duration("5x"),
            Err("unknown unit \"x\" in duration \"5x\"".into())
        );
        assert_eq!(parse_go_float(".12"), Ok(0.12));
        assert_eq!(parse_go_float("-Inf"), Ok(f64::NEG_INFINITY));
        assert_eq!(
            parse_go_float("one"),
            Err("strconv.ParseFloat: parsing \"one\": invalid syntax".into())
        );
        assert_eq!(
            parse_go_float("1e400"),
            Err("strconv.ParseFloat: parsing \"1e400\": value out of range".into())
        );
        assert_eq!(url_path("http://testhost:9090/path/prefix"), "/path/prefix");
        assert_eq!(url_path("http://testhost:9090"), "");
        assert_eq!(title("aa bb CC"), "Aa Bb CC");
        assert_eq!(title("don't stop-me now"), "Don't Stop-Me Now");
    }
}

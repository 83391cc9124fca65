//! Dynamic values of template execution, standing in for Go's `reflect.Value`.
//!
//! Each variant is one Go type that Prometheus's alert templates can meet: the alert data
//! struct, `map[string]string` label maps, `float64` sample values, query results
//! (`[]*sample`), `*time.Time` and `time.Duration`, `template.HTML`, and the constants of the
//! template language. [`Value::type_name`] gives the Go type name used in error messages,
//! [`Value::to_go_string`] what `fmt.Sprint` prints, and [`Value::truth`] the truth used by
//! `if`, `with`, `and`, `or` and `not`.
//!
//! Invariant: values are immutable and cheap to clone (shared parts are behind `Rc`); they live
//! only for one expansion, so `Rc` (not `Arc`) is enough.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::rc::Rc;

use super::gofmt::float_v;
use super::gotime::{duration_string, GoTime};

/// One element of a query result (Prometheus's template `sample`).
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Series labels, `__name__` included when the query kept it.
    pub labels: BTreeMap<String, String>,
    /// Sample value.
    pub value: f64,
}

/// A struct value: a Go type name and its exported fields in declaration order.
#[derive(Clone, Debug)]
pub struct Struct {
    /// The Go type, as `%T` prints it.
    pub type_name: &'static str,
    /// Field names and values.
    pub fields: Vec<(&'static str, Value)>,
}

/// A template value.
#[derive(Clone, Debug)]
pub enum Value {
    /// Go's invalid (zero) `reflect.Value`: a nil interface, a missing field of nil data.
    Invalid,
    /// `bool`
    Bool(bool),
    /// `int`
    Int(i64),
    /// `uint64`
    Uint(u64),
    /// `float64`
    Float(f64),
    /// `string`
    Str(Rc<str>),
    /// `html/template.HTML` (what `safeHtml` returns; printed as is)
    Html(Rc<str>),
    /// `map[string]string` (label maps)
    StrMap(Rc<BTreeMap<String, String>>),
    /// `map[string]interface {}` (what `args` returns)
    Map(Rc<BTreeMap<String, Value>>),
    /// `[]interface {}`
    List(Rc<Vec<Value>>),
    /// `template.queryResult` (`[]*sample`, what `query` returns)
    Samples(Rc<Vec<Rc<Sample>>>),
    /// `*template.sample`
    Sample(Rc<Sample>),
    /// `*time.Time`
    Time(GoTime),
    /// `time.Duration`, nanoseconds
    Duration(i64),
    /// A struct (the alert data)
    Struct(Rc<Struct>),
}

impl Value {
    /// A string value.
    pub fn str(s: &str) -> Value {
        Value::Str(s.into())
    }

    /// A label map value.
    pub fn labels<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Value {
        Value::StrMap(Rc::new(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ))
    }

    /// The Go type name (`%T`).
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Invalid => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Uint(_) => "uint64",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::Html(_) => "template.HTML",
            Value::StrMap(_) => "map[string]string",
            Value::Map(_) => "map[string]interface {}",
            Value::List(_) => "[]interface {}",
            Value::Samples(_) => "template.queryResult",
            Value::Sample(_) => "*template.sample",
            Value::Time(_) => "*time.Time",
            Value::Duration(_) => "time.Duration",
            Value::Struct(s) => s.type_name,
        }
    }

    /// What `fmt.Sprint` prints for the value (`%v`).
    pub fn to_go_string(&self) -> String {
        let mut out = String::new();
        self.write_go(&mut out);
        out
    }

    fn write_go(&self, out: &mut String) {
        match self {
            Value::Invalid => out.push_str("<nil>"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Uint(u) => {
                let _ = write!(out, "{u}");
            }
            Value::Float(f) => out.push_str(&float_v(*f)),
            Value::Str(s) | Value::Html(s) => out.push_str(s),
            Value::StrMap(m) => {
                out.push_str("map[");
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    let _ = write!(out, "{k}:{v}");
                }
                out.push(']');
            }
            Value::Map(m) => {
                out.push_str("map[");
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    out.push_str(k);
                    out.push(':');
                    v.write_go(out);
                }
                out.push(']');
            }
            Value::List(l) => {
                out.push('[');
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    v.write_go(out);
                }
                out.push(']');
            }
            Value::Samples(l) => {
                out.push('[');
                for (i, s) in l.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    out.push('&');
                    write_sample(out, s);
                }
                out.push(']');
            }
            Value::Sample(s) => write_sample(out, s),
            Value::Time(t) => out.push_str(&t.go_string()),
            Value::Duration(d) => out.push_str(&duration_string(*d)),
            Value::Struct(s) => {
                out.push('{');
                for (i, (_, v)) in s.fields.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    v.write_go(out);
                }
                out.push('}');
            }
        }
    }

    /// Go's template truth: false for the zero value of the type, nil, and empty
    /// strings, maps and slices.
    pub fn truth(&self) -> bool {
        match self {
            Value::Invalid => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Uint(u) => *u != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) | Value::Html(s) => !s.is_empty(),
            Value::StrMap(m) => !m.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Samples(l) => !l.is_empty(),
            Value::Duration(d) => *d != 0,
            Value::Sample(_) | Value::Time(_) | Value::Struct(_) => true,
        }
    }
}

/// `{map[k:v ...] value}`, how fmt prints a `sample` struct.
fn write_sample(out: &mut String, s: &Sample) {
    out.push_str("{map[");
    for (i, (k, v)) in s.labels.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let _ = write!(out, "{k}:{v}");
    }
    out.push_str("] ");
    out.push_str(&float_v(s.value));
    out.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_printing_and_truth() {
        assert_eq!(Value::Float(1234567.0).to_go_string(), "1.234567e+06");
        assert_eq!(Value::Float(0.5).to_go_string(), "0.5");
        assert_eq!(
            Value::labels([("b", "2"), ("a", "1")]).to_go_string(),
            "map[a:1 b:2]"
        );
        let s = Rc::new(Sample {
            labels: [("instance".to_string(), "a".to_string())].into(),
            value: 11.0,
        });
        assert_eq!(
            Value::Sample(s.clone()).to_go_string(),
            "{map[instance:a] 11}"
        );
        assert_eq!(Value::Duration(1_800_000_000_000).to_go_string(), "30m0s");
        assert!(!Value::str("").truth());
        assert!(Value::Sample(s).truth());
        assert!(!Value::Float(0.0).truth());
        assert!(!Value::Invalid.truth());
        assert!(!Value::labels([]).truth());
    }
}

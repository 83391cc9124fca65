//! JSON output in Prometheus's exact shapes (http-api.md sections 1.4, 1.6 and 3).
//!
//! Results are written straight into a `String` rather than through an intermediate
//! `serde_json::Value`: a range query can return millions of points, and Prometheus's value
//! and timestamp formats (values as strings, `"+Inf"`, timestamps as seconds with exactly
//! three fraction digits) are easier to get exactly right by hand.

use std::fmt::Write as _;

use strata_engine::Labels;
use strata_query::{QueryResult, Value};

/// Appends `s` as a JSON string literal.
pub fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends a ms timestamp as Prometheus does: whole seconds, then `.` and three digits if the
/// millisecond part is non-zero.
pub fn write_timestamp(out: &mut String, t: i64) {
    let neg = t < 0;
    let abs = t.unsigned_abs();
    if neg {
        out.push('-');
    }
    push_u64(out, abs / 1000);
    let frac = abs % 1000;
    if frac != 0 {
        let digits = [
            b'.',
            b'0' + (frac / 100) as u8,
            b'0' + (frac / 10 % 10) as u8,
            b'0' + (frac % 10) as u8,
        ];
        out.push_str(std::str::from_utf8(&digits).unwrap_or_default());
    }
}

/// Appends `n` in decimal (without the formatting machinery: results hold millions).
fn push_u64(out: &mut String, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.push_str(std::str::from_utf8(&buf[i..]).unwrap_or_default());
}

/// Appends [`format_float`]`(v)` without allocating: whole numbers below 1e15 as integers,
/// other values in `f` notation range with `Display` (Rust's shortest round-trip digits, as
/// Go's), the rest through [`format_float`].
pub fn write_float(out: &mut String, v: f64) {
    let abs = v.abs();
    if (1.0..1e15).contains(&abs) && v.trunc() == v {
        if v < 0.0 {
            out.push('-');
        }
        push_u64(out, abs as u64);
    } else if v.is_finite() && (abs == 0.0 || (1e-6..1e21).contains(&abs)) {
        let _ = write!(out, "{v}");
    } else {
        out.push_str(&format_float(v));
    }
}

/// Formats a value the way Prometheus's `MarshalFloat` does (Go `strconv` shortest form, `f`
/// notation except below 1e-6 or from 1e21 on, where it is `e` notation with a signed
/// two-digit-minimum exponent), without quotes.
pub fn format_float(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let abs = v.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        // Rust: "1.5e22" / "1e-7"; Go: "1.5e+22" / "1e-07".
        let s = format!("{v:e}");
        let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let (sign, digits) = match exp.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', exp),
        };
        let pad = if digits.len() < 2 { "0" } else { "" };
        return format!("{mant}e{sign}{pad}{digits}");
    }
    format!("{v}")
}

/// Appends `[t, "v"]`.
pub fn write_point(out: &mut String, t: i64, v: f64) {
    out.push('[');
    write_timestamp(out, t);
    out.push_str(",\"");
    write_float(out, v);
    out.push_str("\"]");
}

/// Appends a label set as a JSON object.
pub fn write_labels(out: &mut String, labels: &Labels) {
    out.push('{');
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(out, &l.name);
        out.push(':');
        write_str(out, &l.value);
    }
    out.push('}');
}

/// Appends a JSON array of strings.
pub fn write_str_array<S: AsRef<str>>(out: &mut String, items: &[S]) {
    out.push('[');
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(out, s.as_ref());
    }
    out.push(']');
}

/// Appends `{"resultType":..,"result":..}` for a query value.
pub fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Scalar { t, v } => {
            out.push_str("{\"resultType\":\"scalar\",\"result\":");
            write_point(out, *t, *v);
        }
        Value::String { t, s } => {
            out.push_str("{\"resultType\":\"string\",\"result\":[");
            write_timestamp(out, *t);
            out.push(',');
            write_str(out, s);
            out.push(']');
        }
        Value::Vector(samples) => {
            out.push_str("{\"resultType\":\"vector\",\"result\":[");
            for (i, s) in samples.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"metric\":");
                write_labels(out, &s.labels);
                out.push_str(",\"value\":");
                write_point(out, s.t, s.v);
                out.push('}');
            }
            out.push(']');
        }
        Value::Matrix(series) => {
            out.push_str("{\"resultType\":\"matrix\",\"result\":[");
            for (i, s) in series.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"metric\":");
                write_labels(out, &s.labels);
                out.push_str(",\"values\":[");
                for (j, (t, v)) in s.timestamps.iter().zip(&s.values).enumerate() {
                    if j > 0 {
                        out.push(',');
                    }
                    write_point(out, *t, *v);
                }
                out.push_str("]}");
            }
            out.push(']');
        }
    }
    out.push('}');
}

/// Timings the server measured around a query, for `stats=...`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Timings {
    /// Seconds spent waiting for a worker.
    pub queue_seconds: f64,
    /// Seconds spent evaluating.
    pub eval_seconds: f64,
}

/// Appends the `data` object of a query reply: `{resultType, result[, stats]}`.
pub fn write_query_data(out: &mut String, res: &QueryResult, stats: Option<Timings>) {
    write_value(out, &res.value);
    if let Some(t) = stats {
        out.pop(); // reopen the object
        let _ = write!(
            out,
            ",\"stats\":{{\"timings\":{{\"evalTotalTime\":{e},\"resultSortTime\":0,\
             \"queryPreparationTime\":0,\"innerEvalTime\":{e},\"execQueueTime\":{q},\
             \"execTotalTime\":{tot}}},\"samples\":{{\"totalQueryableSamples\":{s},\
             \"peakSamples\":{p}}}}}}}",
            e = t.eval_seconds,
            q = t.queue_seconds,
            tot = t.eval_seconds + t.queue_seconds,
            s = res.stats.samples_loaded,
            p = res.stats.peak_samples,
        );
    }
}

/// A success envelope around already-encoded `data`, with optional annotations.
pub fn success(data: &str, warnings: &[String], infos: &[String]) -> String {
    let mut out = String::with_capacity(data.len() + 64);
    out.push_str("{\"status\":\"success\",\"data\":");
    out.push_str(data);
    write_annotations(&mut out, warnings, infos);
    out.push('}');
    out
}

fn write_annotations(out: &mut String, warnings: &[String], infos: &[String]) {
    if !warnings.is_empty() {
        out.push_str(",\"warnings\":");
        write_str_array(out, warnings);
    }
    if !infos.is_empty() {
        out.push_str(",\"infos\":");
        write_str_array(out, infos);
    }
}

/// An error envelope.
pub fn error(error_type: &str, msg: &str) -> String {
    let mut out = String::with_capacity(msg.len() + 64);
    out.push_str("{\"status\":\"error\",\"errorType\":");
    write_str(&mut out, error_type);
    out.push_str(",\"error\":");
    write_str(&mut out, msg);
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_query::{InstantSample, QueryStats, RangeSeries};

    #[test]
    fn floats_match_go() {
        let cases: [(f64, &str); 14] = [
            (1.0, "1"),
            (0.1, "0.1"),
            (1234567.5, "1234567.5"),
            (1e-7, "1e-07"),
            (1e21, "1e+21"),
            (1.5e22, "1.5e+22"),
            (1e-6, "0.000001"),
            (1e20, "100000000000000000000"),
            (-2.5e-10, "-2.5e-10"),
            (1e100, "1e+100"),
            (0.0, "0"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
        ];
        for (v, want) in cases {
            assert_eq!(format_float(v), want, "{v}");
        }
        assert_eq!(format_float(f64::from_bits(0x7ff0_0000_0000_0002)), "NaN");
    }

    /// The allocation-free writer prints exactly what `format_float` does.
    #[test]
    fn write_float_equals_format_float() {
        let mut vals = vec![
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.5,
            1e15,
            -1e15,
            1e15 - 1.0,
            999_999_999_999_999.0,
            1e-6,
            9.99e-7,
            1e21,
            1e21 - 65536.0,
            123.456,
            -7.0,
            2f64.powi(53),
            f64::MAX,
            f64::MIN_POSITIVE,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.1 + 0.2,
        ];
        // A deterministic spread of bit patterns.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            vals.push(f64::from_bits(x));
            vals.push((x % 1_000_000_007) as f64);
            vals.push((x % 100_000) as f64 / 1000.0);
        }
        for v in vals {
            let mut s = String::new();
            write_float(&mut s, v);
            assert_eq!(s, format_float(v), "{v:e} ({:#x})", v.to_bits());
        }
    }

    #[test]
    fn timestamps_match_go() {
        let mut s = String::new();
        for t in [
            1_435_781_451_000i64,
            1005,
            1050,
            1500,
            -1500,
            0,
            -5,
            i64::MIN,
        ] {
            write_timestamp(&mut s, t);
            s.push(' ');
        }
        assert_eq!(
            s,
            "1435781451 1.005 1.050 1.500 -1.500 0 -0.005 -9223372036854775.808 "
        );
    }

    #[test]
    fn value_shapes() {
        let l = Labels::from_pairs(&[("__name__", "up"), ("job", "a\"b")]).unwrap();
        let mut s = String::new();
        write_value(&mut s, &Value::Scalar { t: 4000, v: 2.0 });
        assert_eq!(s, r#"{"resultType":"scalar","result":[4,"2"]}"#);
        s.clear();
        write_value(
            &mut s,
            &Value::Vector(vec![InstantSample {
                labels: l.clone(),
                t: 1500,
                v: f64::NAN,
            }]),
        );
        assert_eq!(
            s,
            r#"{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"a\"b"},"value":[1.500,"NaN"]}]}"#
        );
        s.clear();
        write_value(
            &mut s,
            &Value::Matrix(vec![RangeSeries {
                labels: l,
                timestamps: vec![1000, 2000],
                values: vec![1.0, f64::NEG_INFINITY],
            }]),
        );
        assert_eq!(
            s,
            r#"{"resultType":"matrix","result":[{"metric":{"__name__":"up","job":"a\"b"},"values":[[1,"1"],[2,"-Inf"]]}]}"#
        );
        s.clear();
        write_value(
            &mut s,
            &Value::String {
                t: 0,
                s: "x".into(),
            },
        );
        assert_eq!(s, r#"{"resultType":"string","result":[0,"x"]}"#);
        let res = QueryResult {
            value: Value::Matrix(vec![]),
            warnings: vec![],
            infos: vec![],
            stats: QueryStats::default(),
        };
        s.clear();
        write_query_data(&mut s, &res, Some(Timings::default()));
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["resultType"], "matrix");
        assert_eq!(v["stats"]["samples"]["totalQueryableSamples"], 0);
    }

    #[test]
    fn envelopes() {
        assert_eq!(
            success("[]", &["w".into()], &[]),
            r#"{"status":"success","data":[],"warnings":["w"]}"#
        );
        assert_eq!(
            error("bad_data", "x\ny"),
            r#"{"status":"error","errorType":"bad_data","error":"x\ny"}"#
        );
        let v: serde_json::Value = serde_json::from_str(&error("a", "\u{1}")).unwrap();
        assert_eq!(v["error"], "\u{1}");
    }
}

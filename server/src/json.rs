//! JSON output in Prometheus's exact shapes (http-api.md sections 1.4, 1.6 and 3).
//!
//! Results are written straight into a `String` rather than through an intermediate
//! `serde_json::Value`: a range query can return millions of points, and Prometheus's value
//! and timestamp formats (values as strings, `"+Inf"`, timestamps as seconds with exactly
//! three fraction digits) are easier to get exactly right by hand.

use std::fmt::Write as _;

use strata_rules::template::gofmt::shortest_digits;

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
fn push_u64(out: &mut String, n: u64) {
    out.push_str(itoa::Buffer::new().format(n));
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
        write_f_notation(out, v);
    } else {
        out.push_str(&format_float(v));
    }
}

/// The digits (ASCII) as text.
fn ascii(d: &[u8]) -> &str {
    std::str::from_utf8(d).unwrap_or_default()
}

/// Appends finite `v` in `f` notation with the shortest round-trip digits (Go's choice; see
/// [`shortest_digits`]).
fn write_f_notation(out: &mut String, v: f64) {
    // Most values: ryu prints them in decimal already ("0.0123", "1234.5", "1.0").
    let mut buf = ryu::Buffer::new();
    let s = buf.format_finite(v);
    if !s.as_bytes().contains(&b'e') {
        out.push_str(s.strip_suffix(".0").unwrap_or(s));
        return;
    }
    let mut digits = [0u8; 24];
    let (n, point) = shortest_digits(v, &mut digits);
    let digits = &digits[..n];
    if v.is_sign_negative() {
        out.push('-'); // Go prints "-0" too
    }
    if digits.is_empty() {
        out.push('0');
    } else if point <= 0 {
        out.push_str("0.");
        for _ in 0..-point {
            out.push('0');
        }
        out.push_str(ascii(digits));
    } else if point as usize >= digits.len() {
        out.push_str(ascii(digits));
        for _ in 0..point as usize - digits.len() {
            out.push('0');
        }
    } else {
        let (a, b) = digits.split_at(point as usize);
        out.push_str(ascii(a));
        out.push('.');
        out.push_str(ascii(b));
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
    let mut out = String::new();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        // Go: "1.5e+22" / "1e-07".
        let mut digits = [0u8; 24];
        let (n, point) = shortest_digits(v, &mut digits);
        if v < 0.0 {
            out.push('-');
        }
        out.push_str(ascii(&digits[..1]));
        if n > 1 {
            out.push('.');
            out.push_str(ascii(&digits[1..n]));
        }
        let exp = point - 1;
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        if exp.abs() < 10 {
            out.push('0');
        }
        push_u64(&mut out, u64::from(exp.unsigned_abs()));
        return out;
    }
    write_f_notation(&mut out, v);
    out
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
        Value::Vector(_) | Value::Matrix(_) => {
            write_items_open(out, value);
            for i in 0..items(value) {
                write_item(out, value, i);
            }
            out.push(']');
        }
    }
    out.push('}');
}

/// Appends the opening of a vector's or matrix's `{"resultType":..,"result":[`.
fn write_items_open(out: &mut String, value: &Value) {
    out.push_str(match value {
        Value::Matrix(_) => "{\"resultType\":\"matrix\",\"result\":[",
        _ => "{\"resultType\":\"vector\",\"result\":[",
    });
}

/// Series (or samples) in a vector or matrix; 0 for other values.
fn items(value: &Value) -> usize {
    match value {
        Value::Vector(v) => v.len(),
        Value::Matrix(m) => m.len(),
        _ => 0,
    }
}

/// Appends item `i` of a vector or matrix, with its leading comma.
fn write_item(out: &mut String, value: &Value, i: usize) {
    if i > 0 {
        out.push(',');
    }
    match value {
        Value::Vector(samples) => {
            let s = &samples[i];
            out.push_str("{\"metric\":");
            write_labels(out, &s.labels);
            out.push_str(",\"value\":");
            write_point(out, s.t, s.v);
            out.push('}');
        }
        Value::Matrix(series) => {
            let s = &series[i];
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
        _ => {}
    }
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
    write_stats(out, res, stats);
}

/// With `stats`, reopens the `data` object just written and appends its `stats`.
fn write_stats(out: &mut String, res: &QueryResult, stats: Option<Timings>) {
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

/// The whole success reply of a query, written once into a string sized from the result
/// (a large range result is tens of MB: no second copy for the envelope, and no doubling
/// growth past its size).
pub fn query_reply(res: &QueryResult, stats: Option<Timings>) -> String {
    let mut out = String::with_capacity(reply_size_hint(&res.value));
    out.push_str(REPLY_HEAD);
    write_value(&mut out, &res.value);
    write_reply_tail(&mut out, res, stats);
    out
}

/// What a query reply starts with, before its data value.
const REPLY_HEAD: &str = "{\"status\":\"success\",\"data\":";

/// Appends what follows a query reply's data value: the stats if asked for, the
/// annotations and the closing brace.
fn write_reply_tail(out: &mut String, res: &QueryResult, stats: Option<Timings>) {
    write_stats(out, res, stats);
    write_annotations(out, &res.warnings, &res.infos);
    out.push('}');
}

/// Bytes of a piece of a reply rendered by [`ReplyPieces`] (the piece ends at the first
/// series boundary past it).
const PIECE: usize = 256 << 10;

/// Replies estimated above this many bytes ([`reply_size_hint`]) are worth rendering
/// piece by piece.
pub const PIECES_ABOVE: usize = 1 << 20;

/// The success reply of a query with a vector or matrix result, rendered in pieces of
/// about [`PIECE`] bytes on demand: concatenated, the pieces are exactly [`query_reply`]'s
/// string.
pub struct ReplyPieces {
    res: QueryResult,
    stats: Option<Timings>,
    /// The next item to write; `None` before the envelope is written.
    next: Option<usize>,
    done: bool,
}

impl ReplyPieces {
    /// Pieces of the reply to `res`.
    pub fn new(res: QueryResult, stats: Option<Timings>) -> ReplyPieces {
        ReplyPieces {
            res,
            stats,
            next: None,
            done: false,
        }
    }

    /// True once every piece was handed out.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The next piece, `None` after the last.
    pub fn next_piece(&mut self) -> Option<String> {
        if self.done {
            return None;
        }
        let value = &self.res.value;
        let mut out = String::with_capacity(PIECE + (PIECE >> 2));
        let mut i = match self.next {
            Some(i) => i,
            None => {
                out.push_str(REPLY_HEAD);
                if !matches!(value, Value::Vector(_) | Value::Matrix(_)) {
                    // Nothing to cut: the whole (small) reply at once.
                    write_value(&mut out, value);
                    write_reply_tail(&mut out, &self.res, self.stats);
                    self.done = true;
                    return Some(out);
                }
                write_items_open(&mut out, value);
                0
            }
        };
        let n = items(value);
        while i < n && out.len() < PIECE {
            write_item(&mut out, value, i);
            i += 1;
        }
        self.next = Some(i);
        if i == n {
            out.push_str("]}");
            write_reply_tail(&mut out, &self.res, self.stats);
            self.done = true;
        }
        Some(out)
    }
}

/// About the bytes a value renders to (a point is `[1700000000.123,"0.25"]` or shorter, a
/// label set some 200 bytes), plus room for the envelope.
pub fn reply_size_hint(value: &Value) -> usize {
    const POINT: usize = 28;
    const LABELS: usize = 200;
    512 + match value {
        Value::Scalar { .. } | Value::String { .. } => 64,
        Value::Vector(v) => v.len() * (LABELS + POINT),
        Value::Matrix(m) => m
            .iter()
            .map(|s| LABELS + s.timestamps.len() * POINT)
            .sum::<usize>(),
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

    /// Concatenated, the pieces are the whole reply, for every kind of value, with and
    /// without stats and annotations, including results many pieces long.
    #[test]
    fn reply_pieces_concatenate_to_the_reply() {
        let series = |n: usize, points: usize| -> Vec<RangeSeries> {
            (0..n)
                .map(|i| RangeSeries {
                    labels: Labels::from_pairs(&[
                        ("__name__", "x"),
                        ("pod", &format!("pod-{i}\"q\"")),
                    ])
                    .unwrap(),
                    timestamps: (0..points as i64)
                        .map(|j| 1_700_000_000_123 + j * 15_000)
                        .collect(),
                    values: (0..points).map(|j| (i * j) as f64 / 7.0).collect(),
                })
                .collect()
        };
        let vector = (0..20_000)
            .map(|i| InstantSample {
                labels: Labels::from_pairs(&[("i", &i.to_string())]).unwrap(),
                t: 1_700_000_000_000,
                v: f64::from(i) - 0.5,
            })
            .collect();
        let values = [
            Value::Matrix(series(300, 1441)),
            Value::Matrix(series(3, 10)),
            Value::Matrix(Vec::new()),
            Value::Vector(vector),
            Value::Vector(Vec::new()),
            Value::Scalar {
                t: 1_000,
                v: f64::NAN,
            },
            Value::String {
                t: 1_000,
                s: "a\"b".into(),
            },
        ];
        for value in values {
            for (stats, notes) in [(None, false), (Some(Timings::default()), true)] {
                let res = QueryResult {
                    value: value.clone(),
                    warnings: if notes { vec!["w".into()] } else { Vec::new() },
                    infos: if notes { vec!["i".into()] } else { Vec::new() },
                    stats: QueryStats::default(),
                };
                let whole = query_reply(&res, stats);
                let mut p = ReplyPieces::new(res, stats);
                let mut joined = String::new();
                let mut pieces = 0;
                while let Some(piece) = p.next_piece() {
                    assert!(!p.is_done() || p.next_piece().is_none());
                    joined.push_str(&piece);
                    pieces += 1;
                }
                assert!(p.is_done());
                assert_eq!(joined, whole);
                assert!(serde_json::from_str::<serde_json::Value>(&joined).is_ok());
                if whole.len() > 2 * PIECE {
                    assert!(pieces > whole.len() / (2 * PIECE), "{pieces} pieces");
                }
            }
        }
    }

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
        // Ties between two shortest digit strings go to the even digit in Go's strconv
        // (Rust's `Display` rounds them away from zero: "...458.63"). Outputs of Go 1.19's
        // strconv.FormatFloat(v, 'f', -1, 64).
        let ties: [(u64, &str); 5] = [
            (0x42df1ebca5017ca8, "136867497641458.62"),
            (0x42b30ad2530b6d10, "20937199258477.062"),
            (0xc31fcdfd815475ad, "-2238053239561579.2"),
            (0xc2edb694da320654, "-261360148647986.62"),
            (0x42a9c2367c555b20, "14160964233901.562"),
        ];
        for (bits, want) in ties {
            let v = f64::from_bits(bits);
            assert_eq!(format_float(v), want, "{bits:#x}");
            let mut s = String::new();
            write_float(&mut s, v);
            assert_eq!(s, want, "{bits:#x}");
        }
        assert_eq!(format_float(-0.0), "-0");
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
            // Any digits at every magnitude of the `f` notation range.
            let frac = (x >> 11) as f64 / (1u64 << 53) as f64;
            vals.push(frac * 10f64.powi((x % 28) as i32 - 7));
            vals.push(-frac * 10f64.powi(((x >> 5) % 28) as i32 - 7));
        }
        vals.extend([
            1.5e-6,
            1.0000001e-6,
            9.999999999999999e20,
            0.001,
            0.000123,
            1e20,
            1.5e15,
        ]);
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

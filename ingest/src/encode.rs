//! Encoders for remote-write requests, for tests, benches and the load generator. Pure
//! functions, no I/O. They write exactly what they are given: labels are not sorted or
//! checked, so tests can build invalid requests too. The wire primitives are public for the
//! same reason (hand-built malformed messages).

use std::collections::HashMap;

use crate::proto::{I64, LEN, VARINT};

/// One series to encode: labels in the order they are written, and `(timestamp ms, value)`
/// samples.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TimeSeries {
    /// `(name, value)` pairs, written in this order.
    pub labels: Vec<(String, String)>,
    /// `(timestamp in ms, value)` pairs, written in this order.
    pub samples: Vec<(i64, f64)>,
}

impl TimeSeries {
    /// Builds a series from borrowed pairs.
    pub fn new(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
        TimeSeries {
            labels: labels
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            samples: samples.to_vec(),
        }
    }
}

/// Appends `v` as a base-128 varint.
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends a field key.
pub fn put_key(out: &mut Vec<u8>, field: u32, wire: u8) {
    put_varint(out, (u64::from(field) << 3) | u64::from(wire));
}

/// Appends a length-delimited field (string, bytes or an already encoded message).
pub fn put_bytes(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_key(out, field, LEN);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Appends a varint field (int64 values are written as their two's complement, 10 bytes when
/// negative, as protobuf does).
pub fn put_varint_field(out: &mut Vec<u8>, field: u32, v: u64) {
    put_key(out, field, VARINT);
    put_varint(out, v);
}

/// Appends a double field (8 little-endian bytes).
pub fn put_double(out: &mut Vec<u8>, field: u32, v: f64) {
    put_key(out, field, I64);
    out.extend_from_slice(&v.to_bits().to_le_bytes());
}

/// Encodes one `Sample { value = 1; timestamp = 2 }` message body (shared by v1 and v2).
pub fn sample(t: i64, v: f64) -> Vec<u8> {
    let mut m = Vec::with_capacity(20);
    put_double(&mut m, 1, v);
    if t != 0 {
        put_varint_field(&mut m, 2, t as u64);
    }
    m
}

/// Encodes a v1 `prometheus.WriteRequest` (uncompressed protobuf bytes).
pub fn write_request_v1(series: &[TimeSeries]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut ts = Vec::new();
    let mut label = Vec::new();
    for s in series {
        ts.clear();
        for (n, v) in &s.labels {
            label.clear();
            put_bytes(&mut label, 1, n.as_bytes());
            put_bytes(&mut label, 2, v.as_bytes());
            put_bytes(&mut ts, 1, &label);
        }
        for &(t, v) in &s.samples {
            put_bytes(&mut ts, 2, &sample(t, v));
        }
        put_bytes(&mut out, 1, &ts);
    }
    out
}

/// Encodes a v2 `io.prometheus.write.v2.Request` with a deduplicated symbols table whose
/// entry 0 is `""` (uncompressed protobuf bytes). `labels_refs` are written packed.
pub fn write_request_v2(series: &[TimeSeries]) -> Vec<u8> {
    let mut symbols: Vec<&str> = vec![""];
    let mut index: HashMap<&str, u32> = HashMap::new();
    index.insert("", 0);
    let mut all_refs: Vec<Vec<u32>> = Vec::with_capacity(series.len());
    for s in series {
        let mut refs = Vec::with_capacity(s.labels.len() * 2);
        for (n, v) in &s.labels {
            for x in [n.as_str(), v.as_str()] {
                let id = *index.entry(x).or_insert_with(|| {
                    symbols.push(x);
                    (symbols.len() - 1) as u32
                });
                refs.push(id);
            }
        }
        all_refs.push(refs);
    }
    let mut out = Vec::new();
    for s in &symbols {
        put_bytes(&mut out, 4, s.as_bytes());
    }
    let mut ts = Vec::new();
    let mut packed = Vec::new();
    for (s, refs) in series.iter().zip(&all_refs) {
        ts.clear();
        packed.clear();
        for &r in refs {
            put_varint(&mut packed, u64::from(r));
        }
        put_bytes(&mut ts, 1, &packed);
        for &(t, v) in &s.samples {
            put_bytes(&mut ts, 2, &sample(t, v));
        }
        put_bytes(&mut out, 5, &ts);
    }
    out
}

/// Compresses `bytes` as one snappy block (the remote-write body format).
///
/// # Panics
/// If `bytes` is larger than snappy's block limit (about 4 GiB); callers build requests far
/// smaller than that.
pub fn snappy(bytes: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new()
        .compress_vec(bytes)
        .expect("snappy block compression of an in-memory buffer cannot fail below 4 GiB")
}

/// Renders series in the Prometheus text format (0.0.4, with the quoted `{"name", ...}` form
/// for names outside the legacy character set), one line per sample with its timestamp in
/// ms. Values print with Rust's shortest round-trip form, so parsing the text gives back the
/// same bits except for NaN payloads. A series without a `__name__` label is written with an
/// empty quoted name, which the parser refuses.
pub fn text_exposition(series: &[TimeSeries]) -> String {
    let mut out = String::new();
    for s in series {
        let name = s
            .labels
            .iter()
            .find(|(n, _)| n == "__name__")
            .map_or("", |(_, v)| v.as_str());
        let mut head = String::new();
        let legacy = strata_engine::labels::is_legacy_metric_name(name);
        let mut items: Vec<String> = Vec::new();
        if legacy {
            head.push_str(name);
        } else {
            items.push(quote(name));
        }
        for (n, v) in s.labels.iter().filter(|(n, _)| n != "__name__") {
            let n = if strata_engine::labels::is_legacy_label_name(n) {
                n.clone()
            } else {
                quote(n)
            };
            items.push(format!("{n}={}", quote(v)));
        }
        if !items.is_empty() {
            head.push('{');
            head.push_str(&items.join(","));
            head.push('}');
        }
        for &(t, v) in &s.samples {
            let v = if v.is_nan() {
                "NaN".to_string()
            } else if v.is_infinite() {
                if v > 0.0 { "+Inf" } else { "-Inf" }.to_string()
            } else {
                format!("{v:?}")
            };
            out.push_str(&format!("{head} {v} {t}\n"));
        }
    }
    out
}

/// Quotes and escapes a string for the text format (`\\`, `\"`, `\n`).
fn quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        match c {
            '\\' => q.push_str("\\\\"),
            '"' => q.push_str("\\\""),
            '\n' => q.push_str("\\n"),
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{parse_text, Limits};

    #[test]
    fn text_exposition_round_trips() {
        let input = vec![
            TimeSeries::new(
                &[("__name__", "up"), ("path", "C:\\x \"y\"\nz"), ("job", "a")],
                &[(1, 1.5), (2, f64::INFINITY), (3, -0.0), (4, 1e300)],
            ),
            TimeSeries::new(&[("__name__", "my.metric"), ("a.b", "c")], &[(-5, 2.0)]),
        ];
        let text = text_exposition(&input);
        let p = parse_text(text.as_bytes(), 0, &Limits::default(), 0).unwrap();
        assert_eq!(p.series.len(), 2);
        assert_eq!(p.series[0].0.get("path"), Some("C:\\x \"y\"\nz"));
        let got: Vec<(i64, u64)> = p.series[0].1.iter().map(|s| (s.t, s.v.to_bits())).collect();
        let want: Vec<(i64, u64)> = input[0]
            .samples
            .iter()
            .map(|&(t, v)| (t, v.to_bits()))
            .collect();
        assert_eq!(got, want);
        assert_eq!(p.series[1].0.to_string(), "my.metric{a.b=\"c\"}");
    }
}

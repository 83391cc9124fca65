//! JSON writing as Prometheus's Go encoders do it, for the alert API and the Alertmanager
//! payload: strings with Go's escaping (`<`, `>`, `&` as `\u003c` ..., U+2028/U+2029
//! escaped, other control characters as `\u00XX`), numbers with `encoding/json`'s float
//! format, label sets as objects in label-name order.
//!
//! Invariant: output is valid JSON for any input string.

use std::fmt::Write as _;

use strata_engine::Labels;

use crate::template::gofmt::format_float;

/// Appends `s` as a JSON string literal, escaped as Go's `encoding/json` does.
pub fn write_str(out: &mut String, s: &str) {
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

/// Appends a float as `encoding/json` writes a `float64`: shortest digits, `e` notation
/// only below 1e-6 or from 1e21 on (`1e-7`, `1e+21`). Non-finite values, which Go refuses
/// to encode, are written as 0.
pub fn write_float(out: &mut String, v: f64) {
    if !v.is_finite() {
        out.push('0');
        return;
    }
    let a = v.abs();
    if a != 0.0 && !(1e-6..1e21).contains(&a) {
        let s = format_float(v, 'e', -1);
        // Go cleans "e-07" to "e-7".
        match s.find("e-0") {
            Some(i) if s.len() == i + 4 => {
                out.push_str(&s[..i + 2]);
                out.push_str(&s[i + 3..]);
            }
            _ => out.push_str(&s),
        }
    } else {
        out.push_str(&format_float(v, 'f', -1));
    }
}

/// Appends a label set as a JSON object (names in order).
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

/// Appends name/value pairs (already sorted by name) as a JSON object.
pub fn write_pairs(out: &mut String, pairs: &[(String, String)]) {
    out.push('{');
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(out, k);
        out.push(':');
        write_str(out, v);
    }
    out.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_floats_as_go() {
        let mut s = String::new();
        write_str(&mut s, "a\"b\\c\n<x>&\u{1}\u{2028}\u{e9}");
        assert_eq!(
            s,
            "\"a\\\"b\\\\c\\n\\u003cx\\u003e\\u0026\\u0001\\u2028\u{e9}\""
        );
        let f = |v: f64| {
            let mut s = String::new();
            write_float(&mut s, v);
            s
        };
        assert_eq!(f(600.0), "600");
        assert_eq!(f(0.5), "0.5");
        assert_eq!(f(0.000123), "0.000123");
        assert_eq!(f(1.5e-7), "1.5e-7");
        assert_eq!(f(2e-10), "2e-10");
        assert_eq!(f(1e21), "1e+21");
        assert_eq!(f(123456789.0), "123456789");
        assert_eq!(f(0.0), "0");
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v.as_str(), Some("a\"b\\c\n<x>&\u{1}\u{2028}\u{e9}"));
    }
}

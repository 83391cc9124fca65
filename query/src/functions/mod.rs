//! PromQL function kernels, one file per family: pure computations over a window's samples
//! or over single values. They know nothing of the evaluator; the evaluator
//! ([`crate::eval::call`]) resolves arguments and dispatches to them on the typed
//! [`Func`](crate::parser::functions::Func) the parser resolved.
//!
//! Invariant: no module here imports `crate::eval` (the dependency runs one way, from the
//! evaluator to these kernels).

pub mod histogram;
pub mod label;
pub mod math;
pub mod numeric;
pub mod over_time;
pub mod rate;
pub mod time;
pub mod window;

use crate::parser::ast::ValueType;
use crate::parser::functions::Func;

/// The result type of function `f`.
pub fn return_type(f: Func) -> ValueType {
    f.spec().ret
}

/// Parses a float as Prometheus does for label values (`+Inf`, `-Inf`, `NaN`, decimals).
pub fn parse_float(s: &str) -> Option<f64> {
    let t = s.trim();
    match t.to_ascii_lowercase().as_str() {
        "+inf" | "inf" => return Some(f64::INFINITY),
        "-inf" => return Some(f64::NEG_INFINITY),
        "nan" => return Some(f64::NAN),
        _ => {}
    }
    if t.len() > 2 && (t.starts_with("0x") || t.starts_with("0X")) {
        return i64::from_str_radix(&t[2..], 16).ok().map(|v| v as f64);
    }
    t.parse::<f64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_float_forms() {
        assert_eq!(parse_float("+Inf"), Some(f64::INFINITY));
        assert_eq!(parse_float("1.0"), Some(1.0));
        assert_eq!(parse_float("1e3"), Some(1000.0));
        assert!(parse_float("NaN").unwrap().is_nan());
        assert_eq!(parse_float("x"), None);
    }
}

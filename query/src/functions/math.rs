//! Element-wise math: `abs ceil floor exp sqrt ln log2 log10 sgn round clamp*` and the
//! trigonometric functions with `deg rad`. Min/max follow Go's `math.Min/Max`: NaN wins.

use crate::parser::functions::Func;

/// The function applied to each element for a simple one-argument math function, or `None`
/// if `name` is not one.
pub fn unary(name: Func) -> Option<fn(f64) -> f64> {
    Some(match name {
        Func::Abs => f64::abs,
        Func::Ceil => f64::ceil,
        Func::Floor => f64::floor,
        Func::Exp => f64::exp,
        Func::Sqrt => f64::sqrt,
        Func::Ln => f64::ln,
        Func::Log2 => f64::log2,
        Func::Log10 => f64::log10,
        Func::Sgn => sgn,
        Func::Acos => f64::acos,
        Func::Acosh => f64::acosh,
        Func::Asin => f64::asin,
        Func::Asinh => f64::asinh,
        Func::Atan => f64::atan,
        Func::Atanh => f64::atanh,
        Func::Cos => f64::cos,
        Func::Cosh => f64::cosh,
        Func::Sin => f64::sin,
        Func::Sinh => f64::sinh,
        Func::Tan => f64::tan,
        Func::Tanh => f64::tanh,
        Func::Deg => |v: f64| v * 180.0 / std::f64::consts::PI,
        Func::Rad => |v: f64| v * std::f64::consts::PI / 180.0,
        _ => return None,
    })
}

/// Sign: -1, 1, or the value itself for 0 and NaN.
pub fn sgn(v: f64) -> f64 {
    if v < 0.0 {
        -1.0
    } else if v > 0.0 {
        1.0
    } else {
        v
    }
}

/// Go's `math.Max`: NaN if either is NaN.
pub fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// Go's `math.Min`: NaN if either is NaN.
pub fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

/// `round(v, to_nearest)`: ties round up.
pub fn round(v: f64, to_nearest: f64) -> f64 {
    let inv = 1.0 / to_nearest;
    (v * inv + 0.5).floor() / inv
}

/// `clamp(v, min, max)`; `None` when `max < min`.
pub fn clamp(v: f64, min: f64, max: f64) -> Option<f64> {
    if max < min {
        return None;
    }
    Some(go_max(min, go_min(max, v)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_functions() {
        assert_eq!(unary(Func::Abs).unwrap()(-2.0), 2.0);
        assert_eq!(unary(Func::Sgn).unwrap()(-2.0), -1.0);
        assert_eq!(unary(Func::Sgn).unwrap()(0.0), 0.0);
        assert!((unary(Func::Deg).unwrap()(std::f64::consts::PI) - 180.0).abs() < 1e-12);
        assert!(unary(Func::Rate).is_none());
    }

    #[test]
    fn round_and_clamp() {
        assert_eq!(round(2.5, 1.0), 3.0);
        assert_eq!(round(-2.5, 1.0), -2.0);
        assert_eq!(round(12.34, 0.1), 12.3);
        assert_eq!(clamp(5.0, 0.0, 3.0), Some(3.0));
        assert_eq!(clamp(5.0, 3.0, 0.0), None);
        assert!(clamp(f64::NAN, 0.0, 3.0).unwrap().is_nan());
        assert!(go_max(1.0, f64::NAN).is_nan());
    }
}

//! Floating-point facts the incremental window relies on to reproduce the evaluator's bits.
//!
//! Two tools, both conservative (a wrong "yes" would be a wrong result, a wrong "no" only
//! costs a replay from raw samples):
//!
//! * **Exact sums** ([`sum_is_exact`]): if every term of a sum is a multiple of `2^g` (`g`
//!   the smallest exponent of any term's lowest set bit, [`lsb_exponent`]) and the sum of
//!   the terms' magnitudes is below `2^(g + 52)`, every partial sum in every order is a
//!   multiple of `2^g` below `2^(g + 53)` in magnitude, hence representable: each floating
//!   point addition is exact and the result does not depend on the order or grouping.
//!   Integer counters, counts and most gauges fall in this class.
//! * **Certified rounding** ([`certify`]): a compensated (Neumaier) sum, as the evaluator
//!   computes `sum_over_time`/`avg_over_time`, returns `fl(s + c)`, where `s + c` lies
//!   within `delta <= 2 n^2 u^2 A` of the exact sum `S` (`u = 2^-53`, `A` the sum of
//!   magnitudes; the derivation is in [`neumaier_bound`]). Given an enclosure of `S`
//!   (a double-double value with an error bound, see [`DoubleDouble`]), if every real
//!   number within `delta + err` of the enclosure rounds to the same double `F`, then the
//!   evaluator's result is `F`, whatever order it added the samples in.

/// Unit roundoff of `f64` (round to nearest): `2^-53`.
pub const U: f64 = 1.0 / 9_007_199_254_740_992.0;

/// Relative slack applied to computed bounds, covering the rounding of the bound
/// arithmetic itself (a few thousand operations at most, each off by at most `U`).
const SLACK: f64 = 1.0 + 1.0 / 1_048_576.0;

/// `2^k` for any `k` (0 below the subnormal range, infinity above the finite range).
pub fn pow2(k: i32) -> f64 {
    if k >= 1024 {
        f64::INFINITY
    } else if k >= -1022 {
        f64::from_bits(((k + 1023) as u64) << 52)
    } else if k >= -1074 {
        f64::from_bits(1u64 << (k + 1074))
    } else {
        0.0
    }
}

/// Exponent of the lowest set bit of `x` (`x = m * 2^e` with odd integer `m`), `i32::MAX`
/// for zero (no constraint) and `i32::MIN` for NaN and infinities (never exact).
pub fn lsb_exponent(x: f64) -> i32 {
    if x == 0.0 {
        return i32::MAX;
    }
    if !x.is_finite() {
        return i32::MIN;
    }
    let bits = x.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32;
    let frac = bits & ((1u64 << 52) - 1);
    let (mant, e) = if exp == 0 {
        (frac, -1074)
    } else {
        (frac | (1u64 << 52), exp - 1075)
    };
    e + mant.trailing_zeros() as i32
}

/// Exponent of the highest set bit of `|x|` (`2^e <= |x| < 2^(e+1)`) for finite nonzero
/// `x`; `i32::MIN` for zero and `i32::MAX` for NaN and infinities.
pub fn msb_exponent(x: f64) -> i32 {
    if x == 0.0 {
        return i32::MIN;
    }
    if !x.is_finite() {
        return i32::MAX;
    }
    let bits = x.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32;
    if exp == 0 {
        let frac = bits & ((1u64 << 52) - 1);
        -1074 + (63 - frac.leading_zeros() as i32)
    } else {
        exp - 1023
    }
}

/// [`lsb_exponent`] stored in an `i16` (every finite double's fits; the two sentinels
/// saturate).
pub fn lsb_exponent_i16(x: f64) -> i16 {
    lsb_exponent(x).clamp(i16::MIN as i32, i16::MAX as i32) as i16
}

/// Widens a stored `i16` exponent back, keeping the sentinels.
pub fn widen(g: i16) -> i32 {
    match g {
        i16::MAX => i32::MAX,
        i16::MIN => i32::MIN,
        g => g as i32,
    }
}

/// True if a sum whose terms are all multiples of `2^g` and whose magnitudes add up to
/// `abs` (as computed in floating point, see below) is exact in any order.
///
/// `abs` may be a floating-point sum of the magnitudes: while the true partial sums stay
/// below `2^(g + 53)` they are computed exactly, and once one reaches `2^(g + 52)` every
/// later computed partial sum stays at or above it (rounding is monotone), so the test
/// `abs < 2^(g + 52)` never accepts a sum that is too large.
pub fn sum_is_exact(g: i32, abs: f64) -> bool {
    if g == i32::MAX {
        return true; // every term is zero
    }
    if g == i32::MIN || !abs.is_finite() {
        return false;
    }
    abs < pow2(g.saturating_add(52))
}

/// Knuth's TwoSum: `(s, e)` with `s = fl(a + b)` and `s + e = a + b` exactly (no overflow).
pub fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let bb = s - a;
    let e = (a - (s - bb)) + (b - bb);
    (s, e)
}

/// A sum kept as an unevaluated `hi + lo` with a bound `err` on its distance from the
/// exact sum of the terms added, plus what [`certify`] needs to bound the evaluator's own
/// error: the number of terms and the (floating-point) sum of their magnitudes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DoubleDouble {
    /// Leading part.
    pub hi: f64,
    /// Trailing part.
    pub lo: f64,
    /// `|hi + lo - exact| <= err`.
    pub err: f64,
}

impl Default for DoubleDouble {
    fn default() -> Self {
        DoubleDouble {
            hi: 0.0,
            lo: 0.0,
            err: 0.0,
        }
    }
}

impl DoubleDouble {
    /// Adds one finite term. `hi` absorbs it exactly up to the TwoSum error, which goes to
    /// `lo`; the rounding of `lo + e` (at most `U |lo'|`) is added to `err` (with factor 2
    /// to cover the rounding of `err` itself).
    pub fn add(&mut self, x: f64) {
        let (hi, e) = two_sum(self.hi, x);
        let lo = self.lo + e;
        self.hi = hi;
        self.lo = lo;
        self.err += 2.0 * U * lo.abs();
    }

    /// Adds another double-double (the sum of the terms of both).
    pub fn merge(&mut self, o: &DoubleDouble) {
        let (hi, e) = two_sum(self.hi, o.hi);
        let t = self.lo + o.lo;
        let lo = t + e;
        self.err = self.err + o.err + 2.0 * U * (t.abs() + lo.abs());
        self.hi = hi;
        self.lo = lo;
    }
}

/// Upper bound of `|s + c - S|` after the Neumaier (compensated) summation of `n` finite
/// terms whose magnitudes add up to `abs`, as `kahan_inc` in the evaluator performs it.
///
/// Derivation: step `i` computes `s_i = fl(s_{i-1} + x_i)` and the exact error
/// `e_i = s_{i-1} + x_i - s_i` (Fast2Sum on the larger operand, exact without overflow),
/// and `c_i = fl(c_{i-1} + e_i)`. Then `s_n + sum(e_i) = S` exactly, so the deviation is
/// the rounding error of the recursive sum `c_n`, at most `gamma_{n-1} sum|e_i|`
/// (Higham, Accuracy and Stability, eq. 4.4). With `|e_i| <= U |s_i|` and
/// `|s_i| <= (1 + gamma_n) A`, `sum|e_i| <= n U (1 + gamma_n) A`; for `n U <= 2^-23` the
/// product is below `1.000001 n^2 U^2 A`. We return twice that.
pub fn neumaier_bound(n: u64, abs: f64) -> f64 {
    let n = n as f64;
    2.0 * n * n * U * U * abs * SLACK * SLACK
}

/// The double `F` that every real within `margin` of `hi + lo` rounds to (round to
/// nearest), if there is one and it is a nonzero normal number; `None` otherwise.
fn unique_rounding(hi: f64, lo: f64, margin: f64) -> Option<f64> {
    let (f, r) = two_sum(hi, lo);
    if !f.is_normal() || !margin.is_finite() {
        return None;
    }
    // hi + lo = f + r exactly, |r| <= half a gap. The neighbours of f (f is normal, so
    // both exist; the one away from zero may be infinite, then nothing rounds past it
    // but overflow, which the caller excludes).
    let bits = f.to_bits();
    let (up, down) = if f > 0.0 {
        (f64::from_bits(bits + 1), f64::from_bits(bits - 1))
    } else {
        (f64::from_bits(bits - 1), f64::from_bits(bits + 1))
    };
    let half_up = (up - f) / 2.0;
    let half_down = (f - down) / 2.0;
    // Every real in [f + r - margin, f + r + margin] must lie strictly between the two
    // midpoints. Half gaps are powers of two, hence exact; and since rounding is monotone,
    // fl(r + margin) < half_up implies r + margin < half_up (likewise below).
    (r + margin < half_up && r - margin > -half_down).then_some(f)
}

/// What the evaluator's compensated sum of `n` finite terms returns, given an enclosure
/// `dd` of their exact sum (accumulated by [`DoubleDouble::add`] and
/// [`DoubleDouble::merge`] over at most `n` pieces), `abs`, the floating-point sum of
/// their magnitudes, and `lsb`, the smallest [`lsb_exponent`] of the terms; `None` when
/// that cannot be decided (then the caller replays the raw samples).
///
/// First case, exact compensation: every rounding error of an addition of multiples of
/// `2^lsb` is a multiple of `2^lsb`, and those errors add up to at most `2 n U A` in
/// magnitude (the evaluator's `sum |e_i|`, and ours including one TwoSum per merge). When
/// that is below `2^(lsb + 52)`, both the evaluator's compensation `c` and our `lo` are
/// computed without rounding, so `s + c = hi + lo =` the exact sum, and both results are
/// its rounding (ties included). Otherwise the error bound decides.
pub fn certify(dd: &DoubleDouble, n: u64, abs: f64, lsb: i32) -> Option<f64> {
    // Keep far from overflow (the evaluator's sum must stay finite for the bounds to hold,
    // and its mean must not switch to the incremental form) and from huge `n`.
    let abs_bound = abs * SLACK;
    if abs_bound.is_nan() || abs_bound > pow2(1000) || n > (1 << 30) {
        return None;
    }
    if lsb != i32::MIN && 2.0 * n as f64 * U * abs_bound * SLACK < pow2(lsb.saturating_add(52)) {
        // `+ 0.0`: a zero sum is `+0.0` for the evaluator (its `s` and `c` start at `+0.0`).
        return Some(dd.hi + dd.lo + 0.0);
    }
    let margin = (dd.err + neumaier_bound(n, abs_bound)) * SLACK;
    unique_rounding(dd.hi, dd.lo, margin)
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_query::eval::aggregate::kahan_sum;

    #[test]
    fn lsb_exponents() {
        assert_eq!(lsb_exponent(1.0), 0);
        assert_eq!(lsb_exponent(12.0), 2);
        assert_eq!(lsb_exponent(0.75), -2);
        assert_eq!(lsb_exponent(-3.0), 0);
        assert_eq!(lsb_exponent(0.0), i32::MAX);
        assert_eq!(lsb_exponent(-0.0), i32::MAX);
        assert_eq!(lsb_exponent(f64::NAN), i32::MIN);
        assert_eq!(lsb_exponent(f64::INFINITY), i32::MIN);
        assert_eq!(lsb_exponent(f64::from_bits(1)), -1074);
        assert_eq!(lsb_exponent(0.1), -55);
        assert_eq!(widen(lsb_exponent_i16(0.1)), -55);
        assert_eq!(widen(lsb_exponent_i16(0.0)), i32::MAX);
        assert_eq!(widen(lsb_exponent_i16(f64::NAN)), i32::MIN);
        assert_eq!(msb_exponent(1.0), 0);
        assert_eq!(msb_exponent(-12.0), 3);
        assert_eq!(msb_exponent(0.75), -1);
        assert_eq!(msb_exponent(f64::from_bits(1)), -1074);
        assert_eq!(msb_exponent(f64::MAX), 1023);
        assert_eq!(msb_exponent(0.0), i32::MIN);
    }

    #[test]
    fn pow2_covers_the_whole_range() {
        assert_eq!(pow2(0), 1.0);
        assert_eq!(pow2(52), 4_503_599_627_370_496.0);
        assert_eq!(pow2(-1), 0.5);
        assert_eq!(pow2(-1074), f64::from_bits(1));
        assert_eq!(pow2(-1075), 0.0);
        assert_eq!(pow2(1023), f64::MAX / (2.0 - f64::EPSILON));
        assert_eq!(pow2(1024), f64::INFINITY);
    }

    #[test]
    fn exactness_threshold() {
        // Integers below 2^52 in total: exact.
        assert!(sum_is_exact(0, 4_503_599_627_370_495.0));
        assert!(!sum_is_exact(0, 4_503_599_627_370_496.0));
        // Multiples of 1/4 need two bits more.
        assert!(sum_is_exact(-2, 1_000_000.0));
        assert!(!sum_is_exact(-56, 1.0));
        assert!(sum_is_exact(i32::MAX, 0.0));
        assert!(!sum_is_exact(i32::MIN, 0.0));
        assert!(!sum_is_exact(0, f64::INFINITY));
    }

    #[test]
    fn two_sum_is_exact() {
        let (s, e) = two_sum(1.0, 1e-20);
        assert_eq!(s, 1.0);
        assert_eq!(e, 1e-20);
        let (s, e) = two_sum(0.1, 0.2);
        assert_eq!(s, 0.1 + 0.2);
        assert!(e != 0.0);
    }

    /// A deterministic stream of awkward floats: decimal fractions of mixed magnitudes.
    fn values(seed: u64, n: usize) -> Vec<f64> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let mag = 10f64.powi((x % 7) as i32 - 3);
                (x >> 11) as f64 / (1u64 << 53) as f64 * mag - mag / 3.0
            })
            .collect()
    }

    #[test]
    fn certified_sums_equal_the_evaluators_compensated_sum() {
        let mut certified = 0;
        for seed in 1..200u64 {
            let v = values(seed, 1 + (seed as usize * 37) % 500);
            // Split at an arbitrary point into two double-doubles and merge them, as the
            // window merges buckets.
            let cut = (seed as usize * 13) % v.len();
            let (mut a, mut b) = (DoubleDouble::default(), DoubleDouble::default());
            v[..cut].iter().for_each(|&x| a.add(x));
            v[cut..].iter().for_each(|&x| b.add(x));
            a.merge(&b);
            let abs: f64 = v.iter().map(|x| x.abs()).sum();
            let lsb = v.iter().map(|&x| lsb_exponent(x)).min().unwrap_or(i32::MAX);
            if let Some(f) = certify(&a, v.len() as u64, abs, lsb) {
                certified += 1;
                assert_eq!(
                    f.to_bits(),
                    kahan_sum(v.iter().copied()).to_bits(),
                    "{seed}"
                );
            }
        }
        // Nearly all are decidable; the rest replay.
        assert!(certified > 195, "{certified}");
    }

    #[test]
    fn cancellation_is_decided_only_when_provably_exact() {
        // Exact compensation (small magnitudes): decided, and equal to the evaluator.
        let v = [0.1, 0.2, -0.3];
        let mut a = DoubleDouble::default();
        v.iter().for_each(|&x| a.add(x));
        let lsb = v.iter().map(|&x| lsb_exponent(x)).min().unwrap();
        let got = certify(&a, 3, 0.6, lsb).unwrap();
        assert_eq!(got.to_bits(), kahan_sum(v).to_bits());
        // Catastrophic cancellation of large terms: the bound is far wider than the gap.
        let v = [1e20, 0.1, -1e20];
        let mut a = DoubleDouble::default();
        v.iter().for_each(|&x| a.add(x));
        assert_eq!(certify(&a, 3, 2e20, lsb_exponent(0.1)), None);
        let mut z = DoubleDouble::default();
        z.add(6e300);
        z.add(6e300);
        assert_eq!(certify(&z, 2, 1.2e301, 0), None, "too close to overflow");
    }
}

//! `sum_over_time` and `avg_over_time` from aggregates.
//!
//! The evaluator adds the window's values one by one with Neumaier compensation
//! (`kahan_inc`) and returns `s + c` (`avg`: `(s + c) / n`). That sequence cannot be split
//! into buckets and resumed: the window's first sample changes at every evaluation, and
//! with it every intermediate rounding. Instead each piece keeps an enclosure of the exact
//! sum of its values ([`DoubleDouble`]), the sum of their magnitudes, the smallest
//! lowest-set-bit exponent and whether any value is NaN or infinite, and the window decides:
//!
//! 1. **Exact class** ([`sum_is_exact`]): all additions of the evaluator are exact, its
//!    result is the exact sum (`+0.0` if zero: the compensated sum starts from `+0.0`,
//!    and `s + c` turns a `-0.0` into `+0.0`), which the double-double holds exactly.
//! 2. **Certified** ([`certify`]): when the values' lowest bits and magnitudes show that
//!    every compensation term is exact, `s + c` is the exact sum and the result is its
//!    rounding; otherwise the evaluator's `s + c` is within a proven distance of the exact
//!    sum, and when that whole interval rounds to one double, that double is its result.
//!    Fails only when the exact sum lies within about `n^2 2^-106` (relative) of a rounding
//!    boundary, or cancels towards zero.
//! 3. Otherwise, and whenever a value is NaN or infinite, [`Outcome::Replay`].

use strata_engine::Sample;

use super::exact::{certify, lsb_exponent, lsb_exponent_i16, sum_is_exact, widen, DoubleDouble};
use super::family::{Family, Func, Outcome};

/// `sum_over_time`/`avg_over_time` family.
pub struct SumFamily;

/// The aggregate of one block's values. 40 bytes.
#[derive(Clone, Debug)]
pub struct SumPiece {
    sum: DoubleDouble,
    abs: f64,
    n: u32,
    lsb: i16,
    nonfinite: bool,
}

impl Default for SumPiece {
    fn default() -> Self {
        SumPiece {
            sum: DoubleDouble::default(),
            abs: 0.0,
            n: 0,
            lsb: i16::MAX,
            nonfinite: false,
        }
    }
}

/// Window accumulator of [`SumFamily`].
#[derive(Debug)]
pub struct SumAcc {
    sum: DoubleDouble,
    abs: f64,
    n: u64,
    lsb: i32,
    nonfinite: bool,
}

impl Default for SumAcc {
    fn default() -> Self {
        SumAcc {
            sum: DoubleDouble::default(),
            abs: 0.0,
            n: 0,
            lsb: i32::MAX,
            nonfinite: false,
        }
    }
}

impl Family for SumFamily {
    type Piece = SumPiece;
    type Acc = SumAcc;

    fn push(p: &mut SumPiece, _base: i64, s: Sample) {
        p.sum.add(s.v);
        p.abs += s.v.abs();
        p.lsb = p.lsb.min(lsb_exponent_i16(s.v));
        p.nonfinite |= !s.v.is_finite();
        p.n += 1;
    }

    fn len(p: &SumPiece) -> u32 {
        p.n
    }

    fn reset(acc: &mut SumAcc) {
        *acc = SumAcc::default();
    }

    fn add_sample(acc: &mut SumAcc, s: Sample) {
        acc.sum.add(s.v);
        acc.abs += s.v.abs();
        acc.lsb = acc.lsb.min(lsb_exponent(s.v));
        acc.nonfinite |= !s.v.is_finite();
        acc.n += 1;
    }

    fn add_piece(acc: &mut SumAcc, p: &SumPiece, _base: i64) {
        if p.n == 0 {
            return;
        }
        acc.sum.merge(&p.sum);
        acc.abs += p.abs;
        acc.lsb = acc.lsb.min(widen(p.lsb));
        acc.nonfinite |= p.nonfinite;
        acc.n += p.n as u64;
    }

    fn count(acc: &SumAcc) -> u64 {
        acc.n
    }

    fn finish(acc: &SumAcc, f: Func, _end: i64, _range: i64) -> Outcome {
        if acc.n == 0 {
            return Outcome::NoValue;
        }
        if acc.nonfinite {
            return Outcome::Replay;
        }
        let sum = if sum_is_exact(acc.lsb, acc.abs) {
            acc.sum.hi + 0.0
        } else {
            match certify(&acc.sum, acc.n, acc.abs, acc.lsb) {
                Some(v) => v,
                None => return Outcome::Replay,
            }
        };
        Outcome::Value(match f {
            Func::AvgOverTime => sum / acc.n as f64,
            _ => sum,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::family::tests::{check_all_splits, split_outcome};

    #[test]
    fn piece_is_40_bytes() {
        assert_eq!(std::mem::size_of::<SumPiece>(), 40);
    }

    #[test]
    fn every_split_matches_the_evaluator() {
        let nan = f64::NAN;
        for vals in [
            vec![1.0],
            vec![-0.0],
            vec![-0.0, -0.0],
            vec![1.0, -1.0],
            vec![3.0, 1.0, 2.0, 1.0, 9.0],
            vec![0.1, 0.2, 0.3, 0.7, 1e-3, 12.5],
            vec![0.1, 0.2, -0.3],
            vec![1e16, 1.0, -1e16, 3.0],
            vec![nan, 1.0],
            vec![f64::INFINITY, 1.0, f64::NEG_INFINITY],
            vec![1e308, 1e308, -1e308],
        ] {
            for f in [Func::SumOverTime, Func::AvgOverTime] {
                check_all_splits::<SumFamily>(&vals, f, true);
            }
        }
    }

    #[test]
    fn integers_and_dyadic_values_never_replay() {
        for vals in [
            vec![3.0, 1.0, 2.0, 1.0, 9.0, -4.0, 0.0],
            vec![0.5, 0.25, -0.125, 1024.0],
        ] {
            for f in [Func::SumOverTime, Func::AvgOverTime] {
                check_all_splits::<SumFamily>(&vals, f, false);
            }
        }
    }

    #[test]
    fn decimal_gauges_are_certified() {
        // A full-precision gauge: not exact, but decided without a replay.
        let s: Vec<Sample> = (0..2_000)
            .map(|i| Sample::new(i + 1, (i as f64 * 0.37).sin() * 3.7 + 10.0))
            .collect();
        for f in [Func::SumOverTime, Func::AvgOverTime] {
            let want = f.over_samples(&s, 2_001, 2_001).unwrap();
            let o = split_outcome::<SumFamily>(&s, 17, &[300, 1_100, 1_999], f, 2_001, 2_001);
            assert_eq!(o, Outcome::Value(want), "{f:?}");
        }
        // NaN anywhere: replay.
        let mut s = s;
        s[1_500].v = f64::NAN;
        let o = split_outcome::<SumFamily>(&s, 17, &[300], Func::SumOverTime, 2_001, 2_001);
        assert_eq!(o, Outcome::Replay);
    }
}

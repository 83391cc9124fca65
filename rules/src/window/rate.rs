//! `rate`, `increase` and `delta` from aggregates.
//!
//! The evaluator computes, over the window's samples `s[0..n]`,
//! `result = s[n-1] - s[0]`, then for a counter adds `s[i-1]` for every pair with
//! `s[i] < s[i-1]` (a reset), one addition at a time in pair order, and extrapolates from
//! `s[0]`, `s[n-1]` and `n` ([`extrapolate_window`]). The extrapolation needs only the
//! first and last samples and the count, which merge trivially; the reset corrections are
//! the floating-point part:
//!
//! 1. **Replay**: when every stored piece holds at most one correction, the window's
//!    corrections are known one by one, in order (the edge leaf is raw, pairs between
//!    pieces are checked at merge time, a piece with one correction stores its value), so
//!    the evaluator's additions are repeated exactly. Typical counters reset a few times a
//!    month: this is the common case, bit-identical whatever the values are.
//! 2. **Exact class**: otherwise, if `s[0]`, `s[n-1]` and all corrections are multiples of
//!    one power of two and small enough ([`sum_is_exact`]), every partial sum is exact in
//!    any order, so `(s[n-1] - s[0]) + sum of corrections` (per-piece sums, added up) is
//!    the evaluator's value. Integer counters with any number of resets land here.
//! 3. Otherwise [`Outcome::Replay`]: the caller re-reads the raw window.
//!
//! Signed zeros: per-piece and window correction sums start at `-0.0`, the identity of
//! floating-point addition, so a single stored correction keeps its sign, and in the exact
//! class the sum is `-0.0` exactly when the evaluator's chain is (all terms `-0.0`).
//! `delta` uses no corrections.

use strata_engine::Sample;
use strata_query::functions::rate::extrapolate_window;

use super::exact::{lsb_exponent, msb_exponent, pow2, sum_is_exact, widen};
use super::family::{Family, Func, Outcome};

/// `rate`/`increase`/`delta` family.
pub struct RateFamily;

/// The aggregate of one block's samples: count, first and last sample (time as offset from
/// the block start), and the reset corrections of the pairs inside the block: their sum,
/// how many, and their magnitude range as powers of two (enough to bound the sum of their
/// magnitudes for the exact class). 40 bytes.
#[derive(Clone, Debug)]
pub struct RatePiece {
    first_v: f64,
    last_v: f64,
    /// Corrections added in pair order, starting from `-0.0`.
    corr: f64,
    n: u32,
    first_dt: u32,
    last_dt: u32,
    /// Smallest lowest-set-bit exponent of a correction ([`lsb_exponent`]).
    corr_lsb: i16,
    /// Highest [`msb_exponent`] of a correction minus `corr_lsb`, saturating.
    corr_width: u8,
    /// Number of corrections, saturating (the count is then bounded by `n`).
    ncorr: u8,
}

impl Default for RatePiece {
    fn default() -> Self {
        RatePiece {
            first_v: 0.0,
            last_v: 0.0,
            corr: -0.0,
            n: 0,
            first_dt: 0,
            last_dt: 0,
            corr_lsb: i16::MAX,
            corr_width: 0,
            ncorr: 0,
        }
    }
}

impl RatePiece {
    /// An upper bound of the sum of the corrections' magnitudes: each is below
    /// `2^(msb + 1)`, and there are `ncorr` of them (at most `n` when saturated). A
    /// multiple of `2^corr_lsb`, as [`sum_is_exact`] requires of its terms.
    fn corr_abs_bound(&self) -> f64 {
        let count = if self.ncorr == u8::MAX {
            self.n as f64
        } else {
            self.ncorr as f64
        };
        match widen(self.corr_lsb) {
            i32::MAX => 0.0, // none, or only zeros
            i32::MIN => f64::INFINITY,
            _ if self.corr_width == u8::MAX => f64::INFINITY,
            lsb => count * pow2(lsb.saturating_add(self.corr_width as i32 + 1)),
        }
    }

    fn add_corr(&mut self, c: f64) {
        let old_lsb = widen(self.corr_lsb);
        let old_msb = if self.ncorr == 0 {
            i32::MIN
        } else {
            old_lsb.saturating_add(self.corr_width as i32)
        };
        let lsb = old_lsb.min(lsb_exponent(c));
        let msb = old_msb.max(msb_exponent(c));
        self.corr += c;
        self.ncorr = self.ncorr.saturating_add(1);
        self.corr_lsb = lsb.clamp(i16::MIN as i32, i16::MAX as i32) as i16;
        self.corr_width = if lsb == i32::MAX || msb == i32::MIN {
            0 // only zeros so far
        } else {
            msb.saturating_sub(lsb).clamp(0, u8::MAX as i32) as u8
        };
    }
}

/// Window accumulator of [`RateFamily`].
#[derive(Debug)]
pub struct RateAcc {
    n: u64,
    first: Sample,
    last: Sample,
    /// Every correction in order, while `replayable`.
    corrs: Vec<f64>,
    replayable: bool,
    corr: f64,
    corr_abs: f64,
    corr_lsb: i32,
}

impl Default for RateAcc {
    fn default() -> Self {
        RateAcc {
            n: 0,
            first: Sample::new(0, 0.0),
            last: Sample::new(0, 0.0),
            corrs: Vec::new(),
            replayable: true,
            corr: -0.0,
            corr_abs: 0.0,
            corr_lsb: i32::MAX,
        }
    }
}

impl RateAcc {
    fn add_corr(&mut self, c: f64) {
        self.corrs.push(c);
        self.corr += c;
        self.corr_abs += c.abs();
        self.corr_lsb = self.corr_lsb.min(lsb_exponent(c));
    }
}

impl Family for RateFamily {
    type Piece = RatePiece;
    type Acc = RateAcc;

    fn push(p: &mut RatePiece, base: i64, s: Sample) {
        let dt = (s.t - base) as u32;
        if p.n == 0 {
            p.first_v = s.v;
            p.first_dt = dt;
        } else if s.v < p.last_v {
            p.add_corr(p.last_v);
        }
        p.last_v = s.v;
        p.last_dt = dt;
        p.n += 1;
    }

    fn len(p: &RatePiece) -> u32 {
        p.n
    }

    fn reset(acc: &mut RateAcc) {
        let mut corrs = std::mem::take(&mut acc.corrs);
        corrs.clear();
        *acc = RateAcc {
            corrs,
            ..RateAcc::default()
        };
    }

    fn add_sample(acc: &mut RateAcc, s: Sample) {
        if acc.n == 0 {
            acc.first = s;
        } else if s.v < acc.last.v {
            acc.add_corr(acc.last.v);
        }
        acc.last = s;
        acc.n += 1;
    }

    fn add_piece(acc: &mut RateAcc, p: &RatePiece, base: i64) {
        if p.n == 0 {
            return;
        }
        let first = Sample::new(base + p.first_dt as i64, p.first_v);
        if acc.n == 0 {
            acc.first = first;
        } else if first.v < acc.last.v {
            // The pair between the previous piece's last sample and this one's first.
            acc.add_corr(acc.last.v);
        }
        match p.ncorr {
            0 => {}
            1 => acc.add_corr(p.corr),
            _ => {
                acc.replayable = false;
                acc.corr += p.corr;
                acc.corr_abs += p.corr_abs_bound();
                acc.corr_lsb = acc.corr_lsb.min(widen(p.corr_lsb));
            }
        }
        acc.last = Sample::new(base + p.last_dt as i64, p.last_v);
        acc.n += p.n as u64;
    }

    fn count(acc: &RateAcc) -> u64 {
        acc.n
    }

    fn finish(acc: &RateAcc, f: Func, end: i64, range: i64) -> Outcome {
        if acc.n < 2 {
            return Outcome::NoValue;
        }
        let (is_counter, is_rate) = (f != Func::Delta, f == Func::Rate);
        let (first, last) = (acc.first, acc.last);
        let mut result = last.v - first.v;
        if is_counter {
            if acc.replayable {
                for &c in &acc.corrs {
                    result += c;
                }
            } else {
                let g = acc
                    .corr_lsb
                    .min(lsb_exponent(first.v))
                    .min(lsb_exponent(last.v));
                if !sum_is_exact(g, acc.corr_abs + first.v.abs() + last.v.abs()) {
                    return Outcome::Replay;
                }
                result += acc.corr;
            }
        }
        Outcome::Value(extrapolate_window(
            first,
            last,
            acc.n as usize,
            result,
            end,
            range,
            is_counter,
            is_rate,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::family::tests::{check_all_splits, split_outcome};

    const FUNCS: [Func; 3] = [Func::Rate, Func::Increase, Func::Delta];

    #[test]
    fn piece_is_40_bytes() {
        assert_eq!(std::mem::size_of::<RatePiece>(), 40);
    }

    #[test]
    fn every_split_matches_the_evaluator() {
        let nan = f64::NAN;
        for vals in [
            vec![1.0],
            vec![1.0, 2.0],
            vec![5.0, 3.0, 4.0, 1.0, 7.0, 2.0],
            vec![0.1, 0.3, 0.2, 0.7, 0.05, 1.1],
            vec![10.0, nan, 2.0, 3.0, nan, nan, 1.0],
            vec![nan, 1.0, 0.5],
            vec![-0.0, -1.0, 0.0, -0.0, -2.0, -0.0],
            vec![3.0, f64::INFINITY, 1.0, 2.0],
            vec![1e300, 1.0, 1e-300, 0.0, 5.0],
            vec![-5.0, -7.0, -1.0, -3.0],
        ] {
            for f in FUNCS {
                check_all_splits::<RateFamily>(&vals, f, true);
            }
        }
    }

    #[test]
    fn integer_counters_with_many_resets_never_replay() {
        let vals = [9.0, 1.0, 4.0, 2.0, 8.0, 3.0, 3.0, 0.0, 6.0, 2.0, 7.0];
        for f in FUNCS {
            check_all_splits::<RateFamily>(&vals, f, false);
        }
    }

    #[test]
    fn float_counters_replay_only_with_two_resets_in_a_piece() {
        let s: Vec<Sample> = [0.3, 0.1, 0.7, 0.2, 0.9]
            .iter()
            .enumerate()
            .map(|(i, &v)| Sample::new(10 + i as i64 * 10, v))
            .collect();
        // One piece holding both resets (0.3 -> 0.1 and 0.7 -> 0.2).
        let o = split_outcome::<RateFamily>(&s, 0, &[], Func::Increase, 60, 60);
        assert_eq!(o, Outcome::Replay);
        // Resets in different pieces: replayed one by one.
        let o = split_outcome::<RateFamily>(&s, 0, &[2], Func::Increase, 60, 60);
        let want = Func::Increase.over_samples(&s, 60, 60).unwrap();
        assert_eq!(o, Outcome::Value(want));
        // delta ignores resets.
        let o = split_outcome::<RateFamily>(&s, 0, &[], Func::Delta, 60, 60);
        assert_eq!(
            o,
            Outcome::Value(Func::Delta.over_samples(&s, 60, 60).unwrap())
        );
    }
}

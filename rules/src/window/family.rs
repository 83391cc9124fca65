//! The functions a window can compute incrementally, grouped into families that share one
//! kind of aggregate, and the two simplest families (`count_over_time`, and
//! `min_over_time`/`max_over_time`).
//!
//! A family defines a compact **piece** (the aggregate of one bucket or block, stored per
//! series) and an **accumulator** that takes raw samples and pieces in time order and then
//! yields each function's value for the whole window. Pieces and accumulators are fed in
//! strictly increasing time order; nothing else about their content is assumed.

use std::fmt;

use strata_engine::Sample;
use strata_query::functions::{over_time, rate};

/// A range function the window computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Func {
    /// `rate`
    Rate,
    /// `increase`
    Increase,
    /// `delta`
    Delta,
    /// `sum_over_time`
    SumOverTime,
    /// `count_over_time`
    CountOverTime,
    /// `avg_over_time`
    AvgOverTime,
    /// `min_over_time`
    MinOverTime,
    /// `max_over_time`
    MaxOverTime,
}

/// Which kind of aggregate a function needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// First and last sample and counter resets (`rate`, `increase`, `delta`).
    Rate,
    /// Compensated sums (`sum_over_time`, `avg_over_time`).
    Sum,
    /// Sample counts.
    Count,
    /// Minimum.
    Min,
    /// Maximum.
    Max,
}

impl Func {
    /// The function named `name`, if it is one of the incremental ones.
    pub fn from_name(name: &str) -> Option<Func> {
        Some(match name {
            "rate" => Func::Rate,
            "increase" => Func::Increase,
            "delta" => Func::Delta,
            "sum_over_time" => Func::SumOverTime,
            "count_over_time" => Func::CountOverTime,
            "avg_over_time" => Func::AvgOverTime,
            "min_over_time" => Func::MinOverTime,
            "max_over_time" => Func::MaxOverTime,
            _ => return None,
        })
    }

    /// The PromQL name.
    pub fn name(self) -> &'static str {
        match self {
            Func::Rate => "rate",
            Func::Increase => "increase",
            Func::Delta => "delta",
            Func::SumOverTime => "sum_over_time",
            Func::CountOverTime => "count_over_time",
            Func::AvgOverTime => "avg_over_time",
            Func::MinOverTime => "min_over_time",
            Func::MaxOverTime => "max_over_time",
        }
    }

    /// The aggregate kind the function needs.
    pub fn kind(self) -> Kind {
        match self {
            Func::Rate | Func::Increase | Func::Delta => Kind::Rate,
            Func::SumOverTime | Func::AvgOverTime => Kind::Sum,
            Func::CountOverTime => Kind::Count,
            Func::MinOverTime => Kind::Min,
            Func::MaxOverTime => Kind::Max,
        }
    }

    /// The function over the raw samples of one window `(end - range, end]` (stale markers
    /// removed), computed by the evaluator's own code: the reference, and the fallback when
    /// aggregates cannot decide the bits. `None` where the evaluator gives no output.
    pub fn over_samples(self, s: &[Sample], end: i64, range: i64) -> Option<f64> {
        if s.is_empty() {
            return None;
        }
        match self {
            Func::Rate => rate::extrapolated_rate(s, end, range, true, true),
            Func::Increase => rate::extrapolated_rate(s, end, range, true, false),
            Func::Delta => rate::extrapolated_rate(s, end, range, false, false),
            Func::SumOverTime => Some(over_time::sum(s)),
            Func::CountOverTime => Some(over_time::count(s)),
            Func::AvgOverTime => Some(over_time::avg(s)),
            Func::MinOverTime => Some(over_time::min(s)),
            Func::MaxOverTime => Some(over_time::max(s)),
        }
    }
}

/// What an accumulator can say about one function over the window.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Outcome {
    /// The value, bit-identical to the evaluator's.
    Value(f64),
    /// The series is in the window but the function has no output (fewer than 2 samples
    /// for `rate`).
    NoValue,
    /// The aggregates cannot decide the bits: evaluate from raw samples.
    Replay,
}

/// One kind of aggregate: its stored piece and its window accumulator.
pub trait Family: 'static {
    /// Aggregate of the samples of one block, stored per series.
    type Piece: Clone + Default + fmt::Debug + Send;
    /// Aggregate of a whole window, rebuilt at each evaluation.
    type Acc: Default + Send;

    /// Appends sample `s` (later than every sample in `p`) to the piece of the block
    /// starting (exclusive) at `base`.
    fn push(p: &mut Self::Piece, base: i64, s: Sample);
    /// Number of samples in `p`.
    fn len(p: &Self::Piece) -> u32;
    /// Empties the accumulator for the next series.
    fn reset(acc: &mut Self::Acc);
    /// Adds one raw sample (later than everything added so far).
    fn add_sample(acc: &mut Self::Acc, s: Sample);
    /// Adds a piece (later than everything added so far) of the block starting at `base`.
    fn add_piece(acc: &mut Self::Acc, p: &Self::Piece, base: i64);
    /// Samples added so far.
    fn count(acc: &Self::Acc) -> u64;
    /// The value of `f` over the window `(end - range, end]` whose samples were added.
    fn finish(acc: &Self::Acc, f: Func, end: i64, range: i64) -> Outcome;
}

/// `count_over_time`: counts are integers, exact in any order.
pub struct CountFamily;

/// Piece of [`CountFamily`].
#[derive(Clone, Debug, Default)]
pub struct CountPiece {
    n: u32,
}

impl Family for CountFamily {
    type Piece = CountPiece;
    type Acc = u64;

    fn push(p: &mut CountPiece, _base: i64, _s: Sample) {
        p.n += 1;
    }
    fn len(p: &CountPiece) -> u32 {
        p.n
    }
    fn reset(acc: &mut u64) {
        *acc = 0;
    }
    fn add_sample(acc: &mut u64, _s: Sample) {
        *acc += 1;
    }
    fn add_piece(acc: &mut u64, p: &CountPiece, _base: i64) {
        *acc += p.n as u64;
    }
    fn count(acc: &u64) -> u64 {
        *acc
    }
    fn finish(acc: &u64, _f: Func, _end: i64, _range: i64) -> Outcome {
        if *acc == 0 {
            Outcome::NoValue
        } else {
            Outcome::Value(*acc as f64)
        }
    }
}

/// `min_over_time` (`MAX = false`) and `max_over_time` (`MAX = true`).
///
/// The evaluator folds `acc = if acc.is_nan() || x < acc { x } else { acc }` (for max
/// `x > acc`) from `acc = NaN` in sample order: the result is the first occurrence of the
/// extreme among non-NaN values (so `0.0` vs `-0.0` depends on which came first), or the
/// last NaN when every value is NaN. Folding the pieces' results in time order with the
/// same step gives the same bits, so pieces keep just their fold.
pub struct ExtremeFamily<const MAX: bool>;

/// Piece and accumulator of [`ExtremeFamily`].
#[derive(Clone, Debug)]
pub struct ExtremePiece {
    v: f64,
    n: u32,
}

impl Default for ExtremePiece {
    fn default() -> Self {
        ExtremePiece { v: f64::NAN, n: 0 }
    }
}

/// Accumulator of [`ExtremeFamily`].
#[derive(Debug)]
pub struct ExtremeAcc {
    v: f64,
    n: u64,
}

impl Default for ExtremeAcc {
    fn default() -> Self {
        ExtremeAcc { v: f64::NAN, n: 0 }
    }
}

/// One step of the evaluator's min/max fold.
fn fold<const MAX: bool>(acc: f64, x: f64) -> f64 {
    let better = if MAX { x > acc } else { x < acc };
    if acc.is_nan() || better {
        x
    } else {
        acc
    }
}

impl<const MAX: bool> Family for ExtremeFamily<MAX> {
    type Piece = ExtremePiece;
    type Acc = ExtremeAcc;

    fn push(p: &mut ExtremePiece, _base: i64, s: Sample) {
        p.v = fold::<MAX>(p.v, s.v);
        p.n += 1;
    }
    fn len(p: &ExtremePiece) -> u32 {
        p.n
    }
    fn reset(acc: &mut ExtremeAcc) {
        *acc = ExtremeAcc::default();
    }
    fn add_sample(acc: &mut ExtremeAcc, s: Sample) {
        acc.v = fold::<MAX>(acc.v, s.v);
        acc.n += 1;
    }
    fn add_piece(acc: &mut ExtremeAcc, p: &ExtremePiece, _base: i64) {
        if p.n > 0 {
            acc.v = fold::<MAX>(acc.v, p.v);
            acc.n += p.n as u64;
        }
    }
    fn count(acc: &ExtremeAcc) -> u64 {
        acc.n
    }
    fn finish(acc: &ExtremeAcc, _f: Func, _end: i64, _range: i64) -> Outcome {
        if acc.n == 0 {
            Outcome::NoValue
        } else {
            Outcome::Value(acc.v)
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Feeds `s` to a family as raw samples for `s[..raw]`, then as pieces cut at `cuts`
    /// (indices into `s`, ascending), and returns `f`'s outcome.
    pub fn split_outcome<F: Family>(
        s: &[Sample],
        raw: usize,
        cuts: &[usize],
        f: Func,
        end: i64,
        range: i64,
    ) -> Outcome {
        let mut acc = F::Acc::default();
        for &x in &s[..raw] {
            F::add_sample(&mut acc, x);
        }
        let mut bounds = vec![raw];
        bounds.extend(cuts.iter().copied().filter(|&c| c > raw && c < s.len()));
        bounds.push(s.len());
        for w in bounds.windows(2) {
            let mut p = F::Piece::default();
            let base = if w[0] == 0 { s[0].t - 1 } else { s[w[0] - 1].t };
            for &x in &s[w[0]..w[1]] {
                F::push(&mut p, base, x);
            }
            F::add_piece(&mut acc, &p, base);
        }
        assert_eq!(F::count(&acc), s.len() as u64);
        F::finish(&acc, f, end, range)
    }

    fn bits(o: Outcome) -> Option<Option<u64>> {
        match o {
            Outcome::Value(v) => Some(Some(v.to_bits())),
            Outcome::NoValue => Some(None),
            Outcome::Replay => None,
        }
    }

    /// Asserts that every split of `vals` gives the evaluator's bits for `f` (or asks for a
    /// replay, when `replay_ok`).
    pub fn check_all_splits<F: Family>(vals: &[f64], f: Func, replay_ok: bool) {
        let s: Vec<Sample> = vals
            .iter()
            .enumerate()
            .map(|(i, &v)| Sample::new(1_000 + i as i64 * 10, v))
            .collect();
        let (end, range) = (
            1_000 + vals.len() as i64 * 10 + 3,
            vals.len() as i64 * 10 + 7,
        );
        let want = f.over_samples(&s, end, range).map(f64::to_bits);
        for raw in 0..=s.len() {
            for cut in 0..=s.len() {
                for cut2 in cut..=s.len() {
                    let o = split_outcome::<F>(&s, raw, &[cut, cut2], f, end, range);
                    match bits(o) {
                        Some(got) => {
                            assert_eq!(got, want, "{f:?} {vals:?} raw {raw} cuts {cut},{cut2}")
                        }
                        None => assert!(replay_ok, "{f:?} {vals:?} asked for a replay"),
                    }
                }
            }
        }
    }

    #[test]
    fn count_and_extremes_equal_the_evaluator_for_every_split() {
        let nan = f64::NAN;
        for vals in [
            vec![1.0],
            vec![3.0, 1.0, 2.0, 1.0],
            vec![0.0, -0.0, 5.0, -0.0, 0.0],
            vec![-0.0, 0.0, -1.0, -1.0],
            vec![nan, 2.0, nan, 1.0, nan],
            vec![nan, nan, f64::from_bits(0x7ff8_0000_0000_0001), nan],
            vec![f64::INFINITY, nan, f64::NEG_INFINITY, 7.0],
        ] {
            check_all_splits::<CountFamily>(&vals, Func::CountOverTime, false);
            check_all_splits::<ExtremeFamily<false>>(&vals, Func::MinOverTime, false);
            check_all_splits::<ExtremeFamily<true>>(&vals, Func::MaxOverTime, false);
        }
    }

    #[test]
    fn names_round_trip() {
        for f in [
            Func::Rate,
            Func::Increase,
            Func::Delta,
            Func::SumOverTime,
            Func::CountOverTime,
            Func::AvgOverTime,
            Func::MinOverTime,
            Func::MaxOverTime,
        ] {
            assert_eq!(Func::from_name(f.name()), Some(f));
        }
        assert_eq!(Func::from_name("irate"), None);
    }
}

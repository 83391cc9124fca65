//! Counter and gauge rate functions over one window of samples: `rate increase delta irate
//! idelta deriv predict_linear resets changes`.
//!
//! Each takes the window's samples (time-ordered, stale markers already removed) and returns
//! `None` when Prometheus would emit no sample.

use std::cell::Cell;

use strata_engine::Sample;

use super::numeric::kahan_inc;

/// Positions of a series' counter resets and value changes, computed once per series so
/// that each window's corrections cost O(resets in the window) instead of O(window).
///
/// Pair `i` (for `i >= 1`) is the step from sample `i - 1` to sample `i`; a window
/// `s[lo..hi]` holds the pairs `lo + 1 .. hi`. Reset corrections are added one by one in
/// pair order, exactly as the straightforward scan of the window adds them, so results stay
/// bit-identical; counts are integers and so exact in any order.
///
/// Windows come in time order, so the resets inside one are found by moving two cursors
/// forward from where the previous window's were (amortized O(resets + windows) for a
/// series); a window that starts or ends before the previous one's searches afresh.
#[derive(Debug, Default)]
pub struct SeriesDeltas {
    /// Pairs `i` with `s[i].v < s[i - 1].v`, ascending.
    resets: Vec<usize>,
    /// `changes[k]`: number of changed pairs `i <= k` (`changes[0] = 0`); empty unless
    /// requested.
    changes: Vec<usize>,
    /// The previous window's `(lo, hi)` and the range of `resets` inside it.
    cursor: Cell<(usize, usize, usize, usize)>,
}

/// True if the step from `a` to `b` is a `changes()` change (NaN to NaN is none).
fn changed(a: f64, b: f64) -> bool {
    b != a && !(b.is_nan() && a.is_nan())
}

impl SeriesDeltas {
    /// Reset positions of `s` (and change counts if `with_changes`).
    pub fn new(s: &[Sample], with_changes: bool) -> SeriesDeltas {
        let mut resets = Vec::new();
        for (i, w) in s.windows(2).enumerate() {
            if w[1].v < w[0].v {
                resets.push(i + 1);
            }
        }
        let mut changes = Vec::new();
        if with_changes {
            changes.reserve(s.len());
            let mut n = 0usize;
            changes.push(0);
            for w in s.windows(2) {
                n += usize::from(changed(w[0].v, w[1].v));
                changes.push(n);
            }
        }
        SeriesDeltas {
            resets,
            changes,
            cursor: Cell::new((0, 0, 0, 0)),
        }
    }

    /// Indices into `resets` of the resets inside window `s[lo..hi]`: those `i` with
    /// `lo < i < hi`.
    fn resets_in(&self, lo: usize, hi: usize) -> std::ops::Range<usize> {
        let r = &self.resets;
        let (plo, phi, mut a, mut b) = self.cursor.get();
        if lo < plo || hi < phi {
            a = r.partition_point(|&i| i <= lo);
            b = a + r[a..].partition_point(|&i| i < hi);
        } else {
            while a < r.len() && r[a] <= lo {
                a += 1;
            }
            b = b.max(a);
            while b < r.len() && r[b] < hi {
                b += 1;
            }
        }
        self.cursor.set((lo, hi, a, b));
        a..b
    }

    /// `resets()` of window `s[lo..hi]`.
    pub fn resets(&self, lo: usize, hi: usize) -> f64 {
        self.resets_in(lo, hi).len() as f64
    }

    /// `changes()` of window `s[lo..hi]` (needs `with_changes`).
    pub fn changes(&self, lo: usize, hi: usize) -> f64 {
        if hi <= lo + 1 {
            return 0.0;
        }
        (self.changes[hi - 1] - self.changes[lo]) as f64
    }
}

/// `rate` / `increase` / `delta` with Prometheus 3.x extrapolation. The window is
/// `(range_end - range, range_end]` (ms).
pub fn extrapolated_rate(
    s: &[Sample],
    range_end: i64,
    range: i64,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    if s.len() < 2 {
        return None;
    }
    let first = s[0];
    let last = s[s.len() - 1];
    let mut result = last.v - first.v;
    if is_counter {
        let mut prev = first.v;
        for x in &s[1..] {
            if x.v < prev {
                result += prev;
            }
            prev = x.v;
        }
    }
    extrapolate(s, result, range_end, range, is_counter, is_rate)
}

/// [`extrapolated_rate`] of the window `s[win]` (`win = lo..hi`) of a whole series `s`, with the counter
/// reset corrections taken from `d` (built from the same `s`). Bit-identical to
/// `extrapolated_rate(&s[lo..hi], ..)`.
pub fn extrapolated_rate_in(
    s: &[Sample],
    d: &SeriesDeltas,
    win: std::ops::Range<usize>,
    range_end: i64,
    range: i64,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    let (lo, hi) = (win.start, win.end);
    if hi < lo + 2 {
        return None;
    }
    let w = &s[lo..hi];
    let mut result = w[w.len() - 1].v - w[0].v;
    if is_counter {
        for &i in &d.resets[d.resets_in(lo, hi)] {
            result += s[i - 1].v;
        }
    }
    extrapolate(w, result, range_end, range, is_counter, is_rate)
}

/// The extrapolation step of [`extrapolated_rate`] given the raw (reset-corrected) result.
fn extrapolate(
    s: &[Sample],
    result: f64,
    range_end: i64,
    range: i64,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    Some(extrapolate_window(
        s[0],
        s[s.len() - 1],
        s.len(),
        result,
        range_end,
        range,
        is_counter,
        is_rate,
    ))
}

/// The extrapolation step of [`extrapolated_rate`] for a window of `count >= 2` samples
/// whose first and last samples are `first` and `last`, given the raw result (`last - first`
/// plus, for counters, the reset corrections). Public so that evaluators which keep
/// aggregates instead of samples (incremental rule windows) compute the same bits.
#[allow(clippy::too_many_arguments)]
pub fn extrapolate_window(
    first: Sample,
    last: Sample,
    count: usize,
    result: f64,
    range_end: i64,
    range: i64,
    is_counter: bool,
    is_rate: bool,
) -> f64 {
    let range_start = range_end.saturating_sub(range);
    let mut dur_start = (first.t - range_start) as f64 / 1000.0;
    let mut dur_end = (range_end - last.t) as f64 / 1000.0;
    let sampled = (last.t - first.t) as f64 / 1000.0;
    let avg = sampled / (count - 1) as f64;
    let threshold = avg * 1.1;
    if dur_start >= threshold {
        dur_start = avg / 2.0;
    }
    if is_counter && result > 0.0 && first.v >= 0.0 {
        let dur_zero = sampled * (first.v / result);
        if dur_zero < dur_start {
            dur_start = dur_zero;
        }
    }
    if dur_end >= threshold {
        dur_end = avg / 2.0;
    }
    let mut factor = (sampled + dur_start + dur_end) / sampled;
    if is_rate {
        factor /= range as f64 / 1000.0;
    }
    result * factor
}

/// `irate` (`is_rate`) / `idelta` from the last two samples.
pub fn instant_value(s: &[Sample], is_rate: bool) -> Option<f64> {
    if s.len() < 2 {
        return None;
    }
    let last = s[s.len() - 1];
    let prev = s[s.len() - 2];
    let mut v = if is_rate && last.v < prev.v {
        last.v
    } else {
        last.v - prev.v
    };
    let interval = last.t - prev.t;
    if interval == 0 {
        return None;
    }
    if is_rate {
        v /= interval as f64 / 1000.0;
    }
    Some(v)
}

/// Least-squares `(slope per second, intercept at intercept_t)`.
pub fn linear_regression(s: &[Sample], intercept_t: i64) -> (f64, f64) {
    let (mut n, mut sx, mut cx, mut sy, mut cy) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let (mut sxy, mut cxy, mut sx2, mut cx2) = (0.0, 0.0, 0.0, 0.0);
    let init = s[0].v;
    let mut const_y = true;
    for (i, x) in s.iter().enumerate() {
        if const_y && i > 0 && x.v != init {
            const_y = false;
        }
        n += 1.0;
        let t = (x.t - intercept_t) as f64 / 1000.0;
        (sx, cx) = kahan_inc(t, sx, cx);
        (sy, cy) = kahan_inc(x.v, sy, cy);
        (sxy, cxy) = kahan_inc(t * x.v, sxy, cxy);
        (sx2, cx2) = kahan_inc(t * t, sx2, cx2);
    }
    if const_y {
        if init.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init);
    }
    sx += cx;
    sy += cy;
    sxy += cxy;
    sx2 += cx2;
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    let intercept = sy / n - slope * sx / n;
    (slope, intercept)
}

/// `deriv`: regression slope per second (needs 2 samples).
pub fn deriv(s: &[Sample]) -> Option<f64> {
    if s.len() < 2 {
        return None;
    }
    Some(linear_regression(s, s[0].t).0)
}

/// `predict_linear`: the regression's value `ahead_secs` after `eval_t`.
pub fn predict_linear(s: &[Sample], eval_t: i64, ahead_secs: f64) -> Option<f64> {
    if s.len() < 2 {
        return None;
    }
    let (slope, intercept) = linear_regression(s, eval_t);
    Some(slope * ahead_secs + intercept)
}

/// `resets`: number of decreases.
pub fn resets(s: &[Sample]) -> f64 {
    s.windows(2).filter(|w| w[1].v < w[0].v).count() as f64
}

/// `changes`: number of value changes (NaN to NaN is no change).
pub fn changes(s: &[Sample]) -> f64 {
    s.windows(2).filter(|w| changed(w[0].v, w[1].v)).count() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(step_s: i64, vals: &[f64]) -> Vec<Sample> {
        vals.iter()
            .enumerate()
            .map(|(i, &v)| Sample::new(i as i64 * step_s * 1000, v))
            .collect()
    }

    #[test]
    fn rate_of_aligned_counter() {
        // 0,10,..,50 every 1m over (0, 5m] at 5m: samples 1m..5m (10..50).
        let s = series(60, &[0.0, 10.0, 20.0, 30.0, 40.0, 50.0]);
        let w = &s[1..];
        let inc = extrapolated_rate(w, 300_000, 300_000, true, false).unwrap();
        // sampled 4m, durStart 1m (< 1.1*avg) kept, durEnd 0; zero clamp: 4m*10/40=1m.
        assert!((inc - 50.0).abs() < 1e-9, "{inc}");
        let r = extrapolated_rate(w, 300_000, 300_000, true, true).unwrap();
        assert!((r - 50.0 / 300.0).abs() < 1e-12);
    }

    #[test]
    fn rate_handles_resets_and_zero_clamp() {
        let s = series(60, &[5.0, 10.0, 2.0, 4.0]);
        // result = 4-5 + 10 = 9
        let inc = extrapolated_rate(&s, 180_000, 200_000, true, false).unwrap();
        // durStart = 20s (< 66s), zero clamp: 180*5/9=100 > 20 no change; durEnd 0.
        assert!((inc - 9.0 * (200.0 / 180.0)).abs() < 1e-9, "{inc}");
        assert_eq!(extrapolated_rate(&s[..1], 0, 60_000, true, true), None);
    }

    #[test]
    fn delta_extrapolates_without_reset_handling() {
        let s = series(60, &[5.0, 10.0, 2.0]);
        let d = extrapolated_rate(&s, 120_000, 120_000, false, false).unwrap();
        // durStart 0 (first sample at range start... start = 0, first.t = 0) -> factor 1.
        assert_eq!(d, -3.0);
    }

    #[test]
    fn irate_idelta() {
        let s = series(15, &[1.0, 5.0, 2.0]);
        assert_eq!(instant_value(&s, true), Some(2.0 / 15.0));
        assert_eq!(instant_value(&s, false), Some(-3.0));
        assert_eq!(instant_value(&s[..1], true), None);
    }

    #[test]
    fn regression() {
        let s = series(10, &[0.0, 1.0, 2.0, 3.0]);
        assert!((deriv(&s).unwrap() - 0.1).abs() < 1e-12);
        assert!((predict_linear(&s, 30_000, 10.0).unwrap() - 4.0).abs() < 1e-9);
        let c = series(10, &[f64::INFINITY, f64::INFINITY]);
        assert!(deriv(&c).unwrap().is_nan());
    }

    /// Deterministic xorshift generator, so failures reproduce.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// A random counter-like series with resets, NaNs, repeated values and irregular gaps.
    fn random_series(rng: &mut Rng, len: usize) -> Vec<Sample> {
        let mut t = rng.below(100_000) as i64;
        let mut v = 0.0f64;
        let mut out = Vec::with_capacity(len);
        for _ in 0..len {
            t += match rng.below(10) {
                0 => 1 + rng.below(600_000) as i64, // a gap
                _ => 15_000 + rng.below(2_000) as i64 - 1_000,
            };
            v = match rng.below(20) {
                0 => 0.0,                           // reset to zero
                1 => v * 0.3,                       // partial reset
                2 => f64::NAN,                      // NaN
                3 if v.is_nan() => f64::NAN,        // NaN run
                4 => v,                             // unchanged
                5 => -(rng.below(50) as f64) * 0.7, // negative
                _ if v.is_nan() => rng.below(1000) as f64 / 3.0,
                _ => v + rng.below(1000) as f64 / 7.0,
            };
            out.push(Sample::new(t, v));
        }
        out
    }

    fn bits(v: &[Option<f64>]) -> Vec<Option<u64>> {
        v.iter().map(|x| x.map(f64::to_bits)).collect()
    }

    #[test]
    fn incremental_window_functions_match_direct_scan() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for round in 0..300 {
            let len = rng.below(400) as usize;
            let s = random_series(&mut rng, len);
            let d = SeriesDeltas::new(&s, true);
            let range = 1 + rng.below(3_600_000) as i64;
            let step = 1 + rng.below(120_000) as i64;
            let t0 = s.first().map_or(0, |x| x.t) - rng.below(600_000) as i64;
            let ends: Vec<i64> = (0..1 + rng.below(80) as i64)
                .map(|i| t0 + i * step)
                .collect();
            for (is_counter, is_rate) in [(true, true), (true, false), (false, false)] {
                let direct =
                    crate::functions::window::for_each_window_range(&ends, range, &s, |i, w| {
                        extrapolated_rate(&s[w], ends[i], range, is_counter, is_rate)
                    });
                let incr =
                    crate::functions::window::for_each_window_range(&ends, range, &s, |i, w| {
                        extrapolated_rate_in(&s, &d, w, ends[i], range, is_counter, is_rate)
                    });
                assert_eq!(bits(&direct), bits(&incr), "round {round}");
            }
            let direct =
                crate::functions::window::for_each_window_range(&ends, range, &s, |_, w| {
                    Some(resets(&s[w]))
                });
            let incr = crate::functions::window::for_each_window_range(&ends, range, &s, |_, w| {
                Some(d.resets(w.start, w.end))
            });
            assert_eq!(direct, incr, "resets, round {round}");
            let direct =
                crate::functions::window::for_each_window_range(&ends, range, &s, |_, w| {
                    Some(changes(&s[w]))
                });
            let incr = crate::functions::window::for_each_window_range(&ends, range, &s, |_, w| {
                Some(d.changes(w.start, w.end))
            });
            assert_eq!(direct, incr, "changes, round {round}");
        }
    }

    #[test]
    fn incremental_window_every_sub_range() {
        // Every window [lo, hi) of a short series with resets and NaNs.
        let vals = [
            3.0,
            1.0,
            f64::NAN,
            f64::NAN,
            2.0,
            2.0,
            0.5,
            7.0,
            1.0,
            f64::NAN,
            4.0,
        ];
        let s = series(15, &vals);
        let d = SeriesDeltas::new(&s, true);
        for lo in 0..s.len() {
            for hi in lo + 1..=s.len() {
                let end = s[hi - 1].t + 5_000;
                let a = extrapolated_rate(&s[lo..hi], end, 200_000, true, true);
                let b = extrapolated_rate_in(&s, &d, lo..hi, end, 200_000, true, true);
                assert_eq!(a.map(f64::to_bits), b.map(f64::to_bits), "{lo}..{hi}");
                assert_eq!(resets(&s[lo..hi]), d.resets(lo, hi), "{lo}..{hi}");
                assert_eq!(changes(&s[lo..hi]), d.changes(lo, hi), "{lo}..{hi}");
            }
        }
    }

    #[test]
    fn reset_cursor_follows_windows_in_any_order() {
        // Windows moving forward, backward, growing and shrinking, on one `SeriesDeltas`.
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        for round in 0..50 {
            let len = 1 + rng.below(300) as usize;
            let s = random_series(&mut rng, len);
            let d = SeriesDeltas::new(&s, false);
            for _ in 0..200 {
                let lo = rng.below(s.len() as u64) as usize;
                let hi = lo + 1 + rng.below((s.len() - lo) as u64) as usize;
                assert_eq!(
                    resets(&s[lo..hi]),
                    d.resets(lo, hi),
                    "round {round} {lo}..{hi}"
                );
            }
        }
    }

    #[test]
    fn resets_changes() {
        let s = series(1, &[1.0, 2.0, 1.0, 1.0, f64::NAN, f64::NAN, 0.0]);
        assert_eq!(resets(&s), 1.0);
        assert_eq!(changes(&s), 4.0);
    }
}

//! Counter and gauge rate functions over one window of samples: `rate increase delta irate
//! idelta deriv predict_linear resets changes`.
//!
//! Each takes the window's samples (time-ordered, stale markers already removed) and returns
//! `None` when Prometheus would emit no sample.

use strata_engine::Sample;

use crate::eval::aggregate::kahan_inc;

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
    let range_start = range_end.saturating_sub(range);
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
    let mut dur_start = (first.t - range_start) as f64 / 1000.0;
    let mut dur_end = (range_end - last.t) as f64 / 1000.0;
    let sampled = (last.t - first.t) as f64 / 1000.0;
    let avg = sampled / (s.len() - 1) as f64;
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
    Some(result * factor)
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
    s.windows(2)
        .filter(|w| w[1].v != w[0].v && !(w[1].v.is_nan() && w[0].v.is_nan()))
        .count() as f64
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

    #[test]
    fn resets_changes() {
        let s = series(1, &[1.0, 2.0, 1.0, 1.0, f64::NAN, f64::NAN, 0.0]);
        assert_eq!(resets(&s), 1.0);
        assert_eq!(changes(&s), 4.0);
    }
}

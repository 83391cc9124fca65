//! `*_over_time` aggregations of one window: every sample weighs the same.

use std::collections::VecDeque;

use strata_engine::Sample;

use super::numeric::{kahan_inc, kahan_sum, mean, quantile};

/// `avg_over_time`.
pub fn avg(s: &[Sample]) -> f64 {
    mean(s.iter().map(|x| x.v))
}

/// `sum_over_time` (compensated).
pub fn sum(s: &[Sample]) -> f64 {
    kahan_sum(s.iter().map(|x| x.v))
}

/// `count_over_time`.
pub fn count(s: &[Sample]) -> f64 {
    s.len() as f64
}

/// `min_over_time`: NaN only if every value is NaN.
pub fn min(s: &[Sample]) -> f64 {
    s.iter().fold(
        f64::NAN,
        |acc, x| {
            if acc.is_nan() || x.v < acc {
                x.v
            } else {
                acc
            }
        },
    )
}

/// `max_over_time`: NaN only if every value is NaN.
pub fn max(s: &[Sample]) -> f64 {
    s.iter().fold(
        f64::NAN,
        |acc, x| {
            if acc.is_nan() || x.v > acc {
                x.v
            } else {
                acc
            }
        },
    )
}

/// `min_over_time` / `max_over_time` for every step at once: the windows are
/// `(end - range, end]` for each `end` in `ends` (non-decreasing), as in
/// [`for_each_window_range`](super::window::for_each_window_range). A monotonic deque of
/// sample indices makes this O(samples + steps) instead of O(steps x window), with the same
/// result as [`min`]/[`max`] on each window (the earliest of equal extremes wins; NaN only when
/// every value in the window is NaN).
pub fn sliding_extreme(
    samples: &[Sample],
    ends: &[i64],
    range: i64,
    is_max: bool,
) -> Vec<Option<f64>> {
    if ends.windows(2).all(|w| w[1].saturating_sub(range) >= w[0]) {
        // Windows that do not overlap (an instant query's one window among them): each
        // sample is looked at once anyway, and a plain scan is cheaper than the deque.
        let f = if is_max { max } else { min };
        return super::window::for_each_window_range(ends, range, samples, |_, win| {
            Some(f(&samples[win]))
        });
    }
    let n = samples.len();
    let worse = |kept: f64, new: f64| if is_max { kept < new } else { kept > new };
    let mut out = Vec::with_capacity(ends.len());
    let mut dq: VecDeque<usize> = VecDeque::new();
    let (mut lo, mut hi) = (0usize, 0usize);
    for &end in ends {
        let start = end.saturating_sub(range);
        while hi < n && samples[hi].t <= end {
            let v = samples[hi].v;
            if !v.is_nan() {
                while dq.back().is_some_and(|&b| worse(samples[b].v, v)) {
                    dq.pop_back();
                }
                dq.push_back(hi);
            }
            hi += 1;
        }
        while lo < n && samples[lo].t <= start {
            lo += 1;
        }
        while dq.front().is_some_and(|&f| f < lo) {
            dq.pop_front();
        }
        out.push((lo < hi).then(|| dq.front().map_or(f64::NAN, |&i| samples[i].v)));
    }
    out
}

/// `last_over_time`.
pub fn last(s: &[Sample]) -> f64 {
    s[s.len() - 1].v
}

/// `first_over_time`.
pub fn first(s: &[Sample]) -> f64 {
    s[0].v
}

/// `ts_of_min_over_time`: time (s) of the first minimum; NaN values only win if all are NaN.
pub fn ts_of_min(s: &[Sample]) -> f64 {
    ts_of_extreme(s, |x, best| x < best)
}

/// `ts_of_max_over_time`: time (s) of the first maximum.
pub fn ts_of_max(s: &[Sample]) -> f64 {
    ts_of_extreme(s, |x, best| x > best)
}

fn ts_of_extreme(s: &[Sample], better: impl Fn(f64, f64) -> bool) -> f64 {
    let mut best = s[0];
    for x in &s[1..] {
        if (best.v.is_nan() && !x.v.is_nan()) || better(x.v, best.v) {
            best = *x;
        }
    }
    best.t as f64 / 1000.0
}

/// `stdvar_over_time` (population, compensated running mean).
pub fn stdvar(s: &[Sample]) -> f64 {
    let (mut count, mut m, mut cm, mut aux, mut caux) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for x in s {
        count += 1.0;
        let delta = x.v - (m + cm);
        (m, cm) = kahan_inc(delta / count, m, cm);
        (aux, caux) = kahan_inc(delta * (x.v - (m + cm)), aux, caux);
    }
    (aux + caux) / count
}

/// `stddev_over_time`.
pub fn stddev(s: &[Sample]) -> f64 {
    stdvar(s).sqrt()
}

/// `quantile_over_time(q, ...)`.
pub fn quantile_of(q: f64, s: &[Sample], buf: &mut Vec<f64>) -> f64 {
    buf.clear();
    buf.extend(s.iter().map(|x| x.v));
    quantile(q, buf)
}

/// `mad_over_time`: median absolute deviation from the median.
pub fn mad(s: &[Sample], buf: &mut Vec<f64>) -> f64 {
    let med = quantile_of(0.5, s, buf);
    buf.clear();
    buf.extend(s.iter().map(|x| (x.v - med).abs()));
    quantile(0.5, buf)
}

/// `double_exponential_smoothing(v, sf, tf)` (Holt linear); `None` with fewer than 2
/// samples. `sf` and `tf` must lie in (0, 1) (checked by the caller).
pub fn double_exponential_smoothing(s: &[Sample], sf: f64, tf: f64) -> Option<f64> {
    if s.len() < 2 {
        return None;
    }
    let (mut s0, mut s1) = (0.0, s[0].v);
    let mut trend = s[1].v - s[0].v;
    for (i, x) in s.iter().enumerate().skip(1) {
        if i > 1 {
            trend = tf * (s1 - s0) + (1.0 - tf) * trend;
        }
        let next = sf * x.v + (1.0 - sf) * (s1 + trend);
        s0 = s1;
        s1 = next;
    }
    Some(s1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(vals: &[f64]) -> Vec<Sample> {
        vals.iter()
            .enumerate()
            .map(|(i, &v)| Sample::new(i as i64, v))
            .collect()
    }

    #[test]
    fn basic_aggregates() {
        let w = s(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(avg(&w), 2.5);
        assert_eq!(sum(&w), 10.0);
        assert_eq!(count(&w), 4.0);
        assert_eq!(min(&w), 1.0);
        assert_eq!(max(&w), 4.0);
        assert_eq!(last(&w), 4.0);
        assert_eq!(first(&w), 1.0);
        assert_eq!(stdvar(&w), 1.25);
        let mut buf = Vec::new();
        assert_eq!(quantile_of(0.5, &w, &mut buf), 2.5);
        assert_eq!(mad(&w, &mut buf), 1.0);
        let w = s(&[3.0, 0.0, 5.0, 0.0, 5.0]);
        assert_eq!(ts_of_min(&w), 0.001);
        assert_eq!(ts_of_max(&w), 0.002);
    }

    use proptest::prelude::*;

    proptest! {
        #[test]
        fn sliding_extreme_equals_per_window(
            vals in proptest::collection::vec(
                prop_oneof![
                    (-5i32..5).prop_map(f64::from),
                    Just(f64::NAN),
                    Just(-0.0f64),
                ],
                0..60,
            ),
            range in 1i64..20,
            step in 1i64..7,
        ) {
            let w: Vec<Sample> = vals
                .iter()
                .enumerate()
                .map(|(i, &v)| Sample::new(i as i64 * 2, v))
                .collect();
            let ends: Vec<i64> = (0..40).map(|i| i * step - 3).collect();
            for is_max in [false, true] {
                let got = sliding_extreme(&w, &ends, range, is_max);
                for (k, &end) in ends.iter().enumerate() {
                    let win: Vec<Sample> = w
                        .iter()
                        .copied()
                        .filter(|x| x.t > end - range && x.t <= end)
                        .collect();
                    let want = if win.is_empty() {
                        None
                    } else if is_max {
                        Some(max(&win))
                    } else {
                        Some(min(&win))
                    };
                    let same = match (got[k], want) {
                        (Some(a), Some(b)) => {
                            (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits()
                        }
                        (a, b) => a.is_none() && b.is_none(),
                    };
                    prop_assert!(same, "end {} max {}: {:?} vs {:?}", end, is_max, got[k], want);
                    // The same window alone (as an instant query asks it).
                    let one = sliding_extreme(&w, &ends[k..=k], range, is_max);
                    prop_assert_eq!(one[0].map(f64::to_bits), got[k].map(f64::to_bits));
                }
            }
        }
    }

    #[test]
    fn nan_handling_of_min_max() {
        let w = s(&[f64::NAN, 2.0, f64::NAN]);
        assert_eq!(min(&w), 2.0);
        assert_eq!(max(&w), 2.0);
        assert!(min(&s(&[f64::NAN])).is_nan());
    }

    #[test]
    fn holt_linear_tracks_a_line() {
        let w = s(&[1.0, 2.0, 3.0, 4.0]);
        let v = double_exponential_smoothing(&w, 0.5, 0.5).unwrap();
        assert!((v - 4.0).abs() < 1e-12, "{v}");
        assert_eq!(double_exponential_smoothing(&w[..1], 0.5, 0.5), None);
    }
}

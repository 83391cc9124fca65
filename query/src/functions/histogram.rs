//! Classic-histogram functions over `le` buckets: `histogram_quantile` and
//! `histogram_fraction`.
//!
//! A bucket is `(upper bound, cumulative count)`. Both functions sort by bound, require a
//! `+Inf` bucket, merge buckets with equal bounds, make counts monotonic (differences within a
//! relative 1e-12 are treated as float noise and flattened silently; real decreases are
//! raised and reported), and interpolate linearly inside a bucket. The lowest bucket starts
//! at 0 when its bound is positive.

/// One classic bucket: upper bound and cumulative count.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bucket {
    /// Upper bound (`le`).
    pub upper: f64,
    /// Cumulative count.
    pub count: f64,
}

/// Sorts, checks the `+Inf` bucket, coalesces and fixes monotonicity. Returns `None` if the
/// highest bucket is not `+Inf`, else whether counts had to be raised.
fn prepare(b: &mut Vec<Bucket>) -> Option<bool> {
    if b.is_empty() {
        return None;
    }
    b.sort_by(|x, y| {
        x.upper
            .partial_cmp(&y.upper)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    if b[b.len() - 1].upper != f64::INFINITY {
        return None;
    }
    // Coalesce equal bounds.
    let mut out: Vec<Bucket> = Vec::with_capacity(b.len());
    for x in b.iter() {
        match out.last_mut() {
            Some(l) if l.upper == x.upper => l.count += x.count,
            _ => out.push(*x),
        }
    }
    *b = out;
    // Precision noise.
    let mut prev = b[0].count;
    for x in b.iter_mut().skip(1) {
        let delta = (x.count - prev).abs();
        if delta == 0.0 {
            continue;
        }
        if delta / x.count <= 1e-12 {
            x.count = prev;
        } else {
            prev = x.count;
        }
    }
    // Monotonic envelope.
    let mut forced = false;
    let mut max = b[0].count;
    for x in b.iter_mut().skip(1) {
        if x.count > max {
            max = x.count;
        } else if x.count < max {
            x.count = max;
            forced = true;
        }
    }
    Some(forced)
}

/// The φ-quantile of classic buckets; the flag says monotonicity had to be forced.
pub fn bucket_quantile(q: f64, mut b: Vec<Bucket>) -> (f64, bool) {
    if q.is_nan() {
        return (f64::NAN, false);
    }
    if q < 0.0 {
        return (f64::NEG_INFINITY, false);
    }
    if q > 1.0 {
        return (f64::INFINITY, false);
    }
    let Some(forced) = prepare(&mut b) else {
        return (f64::NAN, false);
    };
    if b.len() < 2 {
        return (f64::NAN, false);
    }
    let total = b[b.len() - 1].count;
    if total == 0.0 {
        return (f64::NAN, false);
    }
    let mut rank = q * total;
    let idx = b[..b.len() - 1]
        .iter()
        .position(|x| x.count >= rank)
        .unwrap_or(b.len() - 1);
    if idx == b.len() - 1 {
        return (b[b.len() - 2].upper, forced);
    }
    if idx == 0 && b[0].upper <= 0.0 {
        return (b[0].upper, forced);
    }
    let end = b[idx].upper;
    let mut count = b[idx].count;
    let mut start = 0.0;
    if idx > 0 {
        start = b[idx - 1].upper;
        count -= b[idx - 1].count;
        rank -= b[idx - 1].count;
    }
    (start + (end - start) * (rank / count), forced)
}

/// The fraction of observations in `(lower, upper]` estimated from classic buckets.
pub fn bucket_fraction(lower: f64, upper: f64, mut b: Vec<Bucket>) -> (f64, bool) {
    let Some(forced) = prepare(&mut b) else {
        return (f64::NAN, false);
    };
    let total = b[b.len() - 1].count;
    if total == 0.0 || lower.is_nan() || upper.is_nan() {
        return (f64::NAN, forced);
    }
    if lower >= upper {
        return (0.0, forced);
    }
    let (mut rank, mut lower_rank, mut upper_rank) = (0.0, 0.0, 0.0);
    let (mut lower_set, mut upper_set) = (false, false);
    for (i, x) in b.iter().enumerate() {
        let lo = if i > 0 {
            b[i - 1].upper
        } else if x.upper > 0.0 {
            0.0
        } else {
            f64::NEG_INFINITY
        };
        let hi = x.upper;
        let count = x.count - if i > 0 { b[i - 1].count } else { 0.0 };
        // Share of the bucket below `v`; infinite buckets are not interpolated.
        let frac = |v: f64| {
            if lo == f64::NEG_INFINITY {
                1.0
            } else if hi == f64::INFINITY {
                0.0
            } else {
                (v - lo) / (hi - lo)
            }
        };
        if !lower_set && lo >= lower {
            lower_rank = rank;
            lower_set = true;
        }
        if !upper_set && lo >= upper {
            upper_rank = rank;
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        if !lower_set && lo < lower && hi > lower {
            lower_rank = rank + count * frac(lower);
            lower_set = true;
        }
        if !upper_set && lo < upper && hi > upper {
            upper_rank = rank + count * frac(upper);
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        rank += count;
    }
    if !lower_set || lower_rank > total {
        lower_rank = total;
    }
    if !upper_set || upper_rank > total {
        upper_rank = total;
    }
    ((upper_rank - lower_rank) / total, forced)
}

/// Parses an `le` label value (`+Inf`, `Inf`, floats).
pub fn parse_le(s: &str) -> Option<f64> {
    crate::functions::parse_float(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(pairs: &[(f64, f64)]) -> Vec<Bucket> {
        pairs
            .iter()
            .map(|&(upper, count)| Bucket { upper, count })
            .collect()
    }

    #[test]
    fn quantile_interpolates_and_edges() {
        let bs = b(&[(0.1, 10.0), (0.2, 20.0), (f64::INFINITY, 20.0)]);
        assert_eq!(bucket_quantile(0.5, bs.clone()).0, 0.1);
        assert!((bucket_quantile(0.75, bs.clone()).0 - 0.15).abs() < 1e-12);
        assert!((bucket_quantile(0.25, bs.clone()).0 - 0.05).abs() < 1e-12);
        // In the +Inf bucket: second-highest bound.
        let bs2 = b(&[(1.0, 1.0), (f64::INFINITY, 10.0)]);
        assert_eq!(bucket_quantile(0.9, bs2).0, 1.0);
        assert!(bucket_quantile(0.5, b(&[(1.0, 1.0)])).0.is_nan());
        assert!(bucket_quantile(0.5, b(&[(1.0, 0.0), (f64::INFINITY, 0.0)]))
            .0
            .is_nan());
        assert_eq!(bucket_quantile(-1.0, bs.clone()).0, f64::NEG_INFINITY);
        assert_eq!(bucket_quantile(2.0, bs).0, f64::INFINITY);
        // Negative lowest bound returns the bound.
        let neg = b(&[(-1.0, 5.0), (f64::INFINITY, 10.0)]);
        assert_eq!(bucket_quantile(0.1, neg).0, -1.0);
    }

    #[test]
    fn quantile_fixes_monotonicity() {
        let bs = b(&[(1.0, 10.0), (2.0, 5.0), (f64::INFINITY, 10.0)]);
        let (v, forced) = bucket_quantile(0.5, bs);
        assert!(forced);
        assert_eq!(v, 0.5);
        // Float noise is flattened silently.
        let bs = b(&[(1.0, 10.0), (2.0, 10.0 - 1e-15), (f64::INFINITY, 10.0)]);
        assert!(!bucket_quantile(0.5, bs).1);
    }

    #[test]
    fn fraction_cases() {
        let bs = b(&[(1.0, 1.0), (2.0, 3.0), (3.0, 6.0), (f64::INFINITY, 100.0)]);
        assert!((bucket_fraction(0.0, 1.5, bs.clone()).0 - 0.02).abs() < 1e-12);
        assert!((bucket_fraction(400.0, f64::INFINITY, bs.clone()).0 - 0.94).abs() < 1e-12);
        assert_eq!(bucket_fraction(4.0, 5.0, bs.clone()).0, 0.0);
        assert_eq!(bucket_fraction(3.0, 2.0, bs.clone()).0, 0.0);
        let neg = b(&[
            (-3.0, 10.0),
            (-2.0, 12.0),
            (-1.0, 15.0),
            (f64::INFINITY, 100.0),
        ]);
        assert!((bucket_fraction(-4.0, -2.0, neg.clone()).0 - 0.02).abs() < 1e-12);
        assert!((bucket_fraction(f64::NEG_INFINITY, -1.5, neg).0 - 0.135).abs() < 1e-12);
        assert!(bucket_fraction(f64::NAN, 1.0, bs).0.is_nan());
    }
}

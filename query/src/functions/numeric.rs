//! Numeric kernels shared by aggregations and range functions: compensated sums, means,
//! variance, quantiles, and Go-style float formatting for messages.
//!
//! Invariant: every function here is a pure function of its inputs (no evaluator state), so
//! aggregation and range-function code compute the same bits from the same values.

/// Neumaier-compensated addition: adds `inc` to `(sum, c)`.
pub fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// Compensated sum of `vals`.
pub fn kahan_sum(vals: impl IntoIterator<Item = f64>) -> f64 {
    let (mut s, mut c) = (0.0, 0.0);
    for v in vals {
        (s, c) = kahan_inc(v, s, c);
    }
    if s.is_infinite() {
        s
    } else {
        s + c
    }
}

/// Mean with a compensated sum that falls back to an incremental mean when the sum would
/// overflow (Prometheus 3.x `avg` / `avg_over_time`).
pub fn mean(vals: impl IntoIterator<Item = f64>) -> f64 {
    let mut it = vals.into_iter();
    let Some(first) = it.next() else {
        return f64::NAN;
    };
    let (mut sum, mut c, mut mean, mut count) = (first, 0.0f64, 0.0f64, 1.0f64);
    let mut incremental = false;
    for f in it {
        count += 1.0;
        if !incremental {
            let (ns, nc) = kahan_inc(f, sum, c);
            if !ns.is_infinite() {
                sum = ns;
                c = nc;
                continue;
            }
            incremental = true;
            mean = sum / (count - 1.0);
            c /= count - 1.0;
        }
        if mean.is_infinite() {
            if f.is_infinite() && (mean > 0.0) == (f > 0.0) {
                continue;
            }
            if !f.is_infinite() && !f.is_nan() {
                continue;
            }
        }
        let cur = mean + c;
        (mean, c) = kahan_inc(f / count - cur / count, mean, c);
    }
    if incremental {
        mean + c
    } else if sum.is_infinite() {
        sum / count
    } else {
        (sum + c) / count
    }
}

/// Population variance (Welford), NaN/Inf propagate.
pub fn variance(vals: impl IntoIterator<Item = f64>) -> f64 {
    let (mut n, mut mean, mut m2) = (0.0f64, 0.0f64, 0.0f64);
    for f in vals {
        n += 1.0;
        let delta = f - mean;
        mean += delta / n;
        m2 += delta * (f - mean);
    }
    if n == 0.0 {
        f64::NAN
    } else {
        m2 / n
    }
}

/// The φ-quantile of `vals` with linear interpolation (NaN sorts lowest).
pub fn quantile(q: f64, vals: &mut [f64]) -> f64 {
    if vals.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    vals.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal),
    });
    let n = vals.len() as f64;
    let rank = q * (n - 1.0);
    let lo = rank.floor().max(0.0);
    let hi = (lo + 1.0).min(n - 1.0);
    let w = rank - rank.floor();
    vals[lo as usize] * (1.0 - w) + vals[hi as usize] * w
}

/// Formats a float as Go's `strconv.FormatFloat(v, 'f', -1, 64)`.
pub fn format_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v == f64::INFINITY {
        "+Inf".to_string()
    } else if v == f64::NEG_INFINITY {
        "-Inf".to_string()
    } else {
        format!("{v}")
    }
}

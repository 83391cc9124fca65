//! Result comparison with the rules of upstream's runner, and short renderings of
//! expected and actual values for failure reports.

use std::collections::HashMap;

use strata_engine::Labels;
use strata_query::{QueryResult, Value};

use super::script::{AnnotationKind, EvalCmd, ExpectedSeries, SeqValue, TextMatch};

/// Relative tolerance of float comparisons (upstream's `defaultEpsilon`).
pub const DEFAULT_EPSILON: f64 = 1e-6;

// ---------------------------------------------------------------------------------------------
// Comparison
// ---------------------------------------------------------------------------------------------

/// Upstream's float equality: both NaN, identical, or relative difference below `eps`; a
/// staleness marker only equals a staleness marker.
pub fn almost_equal(a: f64, b: f64, eps: f64) -> bool {
    const MIN_NORMAL: f64 = f64::MIN_POSITIVE; // 2^-1022
    let (sa, sb) = (strata_engine::is_stale(a), strata_engine::is_stale(b));
    if sa || sb {
        return sa && sb;
    }
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < MIN_NORMAL {
        return diff < eps * MIN_NORMAL;
    }
    diff / abs_sum.min(f64::MAX) < eps
}

fn fmt_f(v: f64) -> String {
    if strata_engine::is_stale(v) {
        "stale".into()
    } else if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

fn fmt_points(ts: &[i64], vs: &[f64]) -> String {
    const MAX: usize = 12;
    let mut s: Vec<String> = ts
        .iter()
        .zip(vs)
        .take(MAX)
        .map(|(t, v)| format!("{}@{}", fmt_f(*v), t))
        .collect();
    if ts.len() > MAX {
        s.push(format!("... ({} points)", ts.len()));
    }
    s.join(" ")
}

fn fmt_seq(vals: &[SeqValue]) -> String {
    const MAX: usize = 12;
    let mut s: Vec<String> = vals
        .iter()
        .take(MAX)
        .map(|v| match v {
            SeqValue::Omitted => "_".into(),
            SeqValue::Float(f) => fmt_f(*f),
            SeqValue::Histogram => "{{...}}".into(),
        })
        .collect();
    if vals.len() > MAX {
        s.push(format!("... ({} values)", vals.len()));
    }
    s.join(" ")
}

/// Renders a result value in a few lines (for failure reports).
pub fn format_value(v: &Value) -> String {
    const MAX_SERIES: usize = 6;
    match v {
        Value::Scalar { v, .. } => format!("scalar {}", fmt_f(*v)),
        Value::String { s, .. } => format!("string {s:?}"),
        Value::Vector(samples) => {
            if samples.is_empty() {
                return "empty vector".into();
            }
            let mut out: Vec<String> = samples
                .iter()
                .take(MAX_SERIES)
                .map(|s| format!("{} {}", s.labels, fmt_f(s.v)))
                .collect();
            if samples.len() > MAX_SERIES {
                out.push(format!("... ({} series)", samples.len()));
            }
            format!("vector:\n    {}", out.join("\n    "))
        }
        Value::Matrix(series) => {
            if series.is_empty() {
                return "empty matrix".into();
            }
            let mut out: Vec<String> = series
                .iter()
                .take(MAX_SERIES)
                .map(|s| format!("{} {}", s.labels, fmt_points(&s.timestamps, &s.values)))
                .collect();
            if series.len() > MAX_SERIES {
                out.push(format!("... ({} series)", series.len()));
            }
            format!("matrix:\n    {}", out.join("\n    "))
        }
    }
}

/// Renders what an eval expects in a few lines (for failure reports).
pub fn format_expected(ev: &EvalCmd) -> String {
    const MAX_SERIES: usize = 6;
    if let Some(s) = &ev.string {
        return format!("string {s:?}");
    }
    if let Some(v) = ev.scalar {
        return format!("scalar {}", fmt_f(v));
    }
    if ev.series.is_empty() {
        return "empty result".into();
    }
    let mut out: Vec<String> = ev
        .series
        .iter()
        .take(MAX_SERIES)
        .map(|s| format!("{} {}", s.desc.labels, fmt_seq(&s.desc.values)))
        .collect();
    if ev.series.len() > MAX_SERIES {
        out.push(format!("... ({} series)", ev.series.len()));
    }
    format!("\n    {}", out.join("\n    "))
}

/// Compares a query result with what `ev` expects, with upstream's rules. `Err` says why
/// they differ.
pub fn compare_result(ev: &EvalCmd, got: &Value) -> Result<(), String> {
    let expected: HashMap<&Labels, &ExpectedSeries> =
        ev.series.iter().map(|s| (&s.desc.labels, s)).collect();
    match got {
        Value::Matrix(m) => {
            if ev.ordered {
                return Err(
                    "expected an ordered instant vector, but the query returned a matrix".into(),
                );
            }
            if ev.scalar.is_some() || ev.string.is_some() {
                return Err("expected a scalar or string result, but got a matrix".into());
            }
            for w in m.windows(2) {
                if w[0].labels > w[1].labels {
                    return Err(format!(
                        "matrix is not sorted by labels: {} comes before {}",
                        w[0].labels, w[1].labels
                    ));
                }
            }
            let mut seen = 0;
            for s in m {
                if s.timestamps.len() != s.values.len() {
                    return Err(format!(
                        "series {} has {} timestamps but {} values",
                        s.labels,
                        s.timestamps.len(),
                        s.values.len()
                    ));
                }
                let Some(exp) = expected.get(&s.labels) else {
                    return Err(format!(
                        "unexpected series {} in result, has {}",
                        s.labels,
                        fmt_points(&s.timestamps, &s.values)
                    ));
                };
                seen += 1;
                let Some((start, end, step)) = ev.grid() else {
                    return Err(
                        "an instant query returned a range vector, but the case has no \
                                `expect range vector`"
                            .into(),
                    );
                };
                let mut exp_pts: Vec<(i64, f64)> = Vec::new();
                for (i, v) in exp.desc.values.iter().enumerate() {
                    let t = start + i as i64 * step;
                    if t > end {
                        return Err(format!(
                            "expected {} points for {}, but the time range cannot hold that many",
                            exp.desc.values.len(),
                            s.labels
                        ));
                    }
                    match v {
                        SeqValue::Omitted => {}
                        SeqValue::Float(f) => exp_pts.push((t, *f)),
                        SeqValue::Histogram => {
                            return Err("expected a native histogram point (not supported)".into())
                        }
                    }
                }
                if exp_pts.len() != s.values.len() {
                    return Err(format!(
                        "expected {} points for {}, got {}: {}",
                        exp_pts.len(),
                        s.labels,
                        s.values.len(),
                        fmt_points(&s.timestamps, &s.values)
                    ));
                }
                for (i, ((et, ev), (gt, gv))) in exp_pts
                    .iter()
                    .zip(s.timestamps.iter().zip(&s.values))
                    .enumerate()
                {
                    if et != gt {
                        return Err(format!(
                            "point {i} of {} has timestamp {gt}, expected {et} (result: {})",
                            s.labels,
                            fmt_points(&s.timestamps, &s.values)
                        ));
                    }
                    if !almost_equal(*ev, *gv, DEFAULT_EPSILON) {
                        return Err(format!(
                            "point {i} (t={gt}) of {} is {}, expected {} (result: {})",
                            s.labels,
                            fmt_f(*gv),
                            fmt_f(*ev),
                            fmt_points(&s.timestamps, &s.values)
                        ));
                    }
                }
            }
            if seen != ev.series.len() {
                let missing: Vec<String> = ev
                    .series
                    .iter()
                    .filter(|e| !m.iter().any(|s| s.labels == e.desc.labels))
                    .map(|e| e.desc.labels.to_string())
                    .collect();
                return Err(format!("expected series not found: {}", missing.join(", ")));
            }
            Ok(())
        }
        Value::Vector(v) => {
            if let Some(x) = ev.scalar {
                return Err(format!("expected scalar {}, but got a vector", fmt_f(x)));
            }
            if ev.string.is_some() {
                return Err("expected a string, but got a vector".into());
            }
            let mut seen: HashMap<&Labels, usize> = HashMap::new();
            for (i, s) in v.iter().enumerate() {
                if let Some(prev) = seen.insert(&s.labels, i) {
                    return Err(format!(
                        "result has the label set {} twice (positions {} and {})",
                        s.labels,
                        prev + 1,
                        i + 1
                    ));
                }
                let Some(exp) = expected.get(&s.labels) else {
                    return Err(format!(
                        "unexpected series {} in result, has value {}",
                        s.labels,
                        fmt_f(s.v)
                    ));
                };
                if ev.ordered && exp.pos != i + 1 {
                    return Err(format!(
                        "expected {} at position {}, but it was at {}",
                        s.labels,
                        exp.pos,
                        i + 1
                    ));
                }
                match exp.desc.values.first() {
                    Some(SeqValue::Float(f)) => {
                        if !almost_equal(*f, s.v, DEFAULT_EPSILON) {
                            return Err(format!(
                                "expected {} for {}, got {}",
                                fmt_f(*f),
                                s.labels,
                                fmt_f(s.v)
                            ));
                        }
                    }
                    Some(SeqValue::Histogram) => {
                        return Err(format!(
                            "expected a native histogram for {} (not supported)",
                            s.labels
                        ))
                    }
                    Some(SeqValue::Omitted) | None => {
                        return Err(format!("no expected value for {}", s.labels))
                    }
                }
            }
            if seen.len() != ev.series.len() {
                let missing: Vec<String> = ev
                    .series
                    .iter()
                    .filter(|e| !seen.contains_key(&e.desc.labels))
                    .map(|e| format!("{} {}", e.desc.labels, fmt_seq(&e.desc.values)))
                    .collect();
                return Err(format!("expected series not found: {}", missing.join(", ")));
            }
            Ok(())
        }
        Value::Scalar { v, .. } => match ev.scalar {
            Some(x) if almost_equal(x, *v, DEFAULT_EPSILON) => Ok(()),
            Some(x) => Err(format!("expected scalar {}, got {}", fmt_f(x), fmt_f(*v))),
            None => Err(format!(
                "expected a vector or matrix result, but got scalar {}",
                fmt_f(*v)
            )),
        },
        Value::String { s, .. } => {
            if ev.scalar.is_some() || !ev.series.is_empty() {
                return Err(format!("expected a number or series, but got string {s:?}"));
            }
            let exp = ev.string.as_deref().unwrap_or("");
            if exp != s {
                return Err(format!("expected string {exp:?}, got {s:?}"));
            }
            Ok(())
        }
    }
}

/// Checks annotation expectations against a result; `Err` describes the first mismatch.
/// (Informational: the runner never fails a case on it.)
pub fn check_annotations(ev: &EvalCmd, res: &QueryResult) -> Result<(), String> {
    let check = |want: AnnotationKind, none: AnnotationKind, got: &[String], what: &str| {
        let wanted: Vec<&TextMatch> = ev
            .annotations
            .iter()
            .filter(|(k, _)| *k == want)
            .map(|(_, m)| m)
            .collect();
        if !wanted.is_empty() {
            if got.is_empty() {
                return Err(format!("expected {what} annotations, got none"));
            }
            for m in &wanted {
                if !got.iter().any(|g| m.matches(g)) {
                    return Err(format!("no {what} annotation matches {m}; got {got:?}"));
                }
            }
            for g in got {
                if !wanted.iter().any(|m| m.matches(g)) {
                    return Err(format!("unexpected {what} annotation {g:?}"));
                }
            }
        }
        if ev.annotations.iter().any(|(k, _)| *k == none) && !got.is_empty() {
            return Err(format!("expected no {what} annotations, got {got:?}"));
        }
        Ok(())
    };
    check(
        AnnotationKind::Warn,
        AnnotationKind::NoWarn,
        &res.warnings,
        "warn",
    )?;
    check(
        AnnotationKind::Info,
        AnnotationKind::NoInfo,
        &res.infos,
        "info",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promqltest::script::parse_script;
    use strata_query::{InstantSample, RangeSeries};

    fn ev(text: &str) -> EvalCmd {
        let s = parse_script("t.test", text).unwrap();
        let e = s.evals().next().unwrap().clone();
        e
    }

    fn labels(s: &str) -> Labels {
        crate::promqltest::script::parse_series_desc(&format!("{s} 0"))
            .unwrap()
            .labels
    }

    fn vector(items: &[(&str, f64)]) -> Value {
        Value::Vector(
            items
                .iter()
                .map(|(l, v)| InstantSample {
                    labels: labels(l),
                    t: 0,
                    v: *v,
                })
                .collect(),
        )
    }

    fn matrix(items: &[(&str, &[(i64, f64)])]) -> Value {
        Value::Matrix(
            items
                .iter()
                .map(|(l, pts)| RangeSeries {
                    labels: labels(l),
                    timestamps: pts.iter().map(|p| p.0).collect(),
                    values: pts.iter().map(|p| p.1).collect(),
                })
                .collect(),
        )
    }

    #[test]
    fn float_equality() {
        let stale = strata_engine::stale_nan();
        assert!(almost_equal(f64::NAN, f64::NAN, DEFAULT_EPSILON));
        assert!(almost_equal(stale, stale, DEFAULT_EPSILON));
        assert!(!almost_equal(stale, f64::NAN, DEFAULT_EPSILON));
        assert!(!almost_equal(f64::NAN, stale, DEFAULT_EPSILON));
        assert!(!almost_equal(f64::NAN, 1.0, DEFAULT_EPSILON));
        assert!(almost_equal(1.0, 1.0 + 1e-9, DEFAULT_EPSILON));
        assert!(!almost_equal(1.0, 1.001, DEFAULT_EPSILON));
        assert!(!almost_equal(0.0, 1e-300, DEFAULT_EPSILON));
        assert!(almost_equal(0.0, -0.0, DEFAULT_EPSILON));
        assert!(almost_equal(f64::INFINITY, f64::INFINITY, DEFAULT_EPSILON));
        assert!(!almost_equal(
            f64::INFINITY,
            f64::NEG_INFINITY,
            DEFAULT_EPSILON
        ));
        assert!(!almost_equal(f64::MAX, f64::INFINITY, DEFAULT_EPSILON));
        assert!(almost_equal(1e300, 1e300 * (1.0 + 1e-8), DEFAULT_EPSILON));
    }

    #[test]
    fn instant_vectors_are_sets_unless_ordered() {
        let e = ev("eval instant at 1m x\n  x{a=\"1\"} 1\n  x{a=\"2\"} NaN\n");
        assert_eq!(
            compare_result(
                &e,
                &vector(&[("x{a=\"2\"}", f64::NAN), ("x{a=\"1\"}", 1.0)])
            ),
            Ok(())
        );
        // Wrong value, missing series, extra series, duplicate series.
        assert!(compare_result(
            &e,
            &vector(&[("x{a=\"1\"}", 2.0), ("x{a=\"2\"}", f64::NAN)])
        )
        .is_err());
        assert!(compare_result(&e, &vector(&[("x{a=\"1\"}", 1.0)])).is_err());
        assert!(compare_result(
            &e,
            &vector(&[
                ("x{a=\"1\"}", 1.0),
                ("x{a=\"2\"}", f64::NAN),
                ("x{a=\"3\"}", 1.0)
            ])
        )
        .is_err());
        assert!(compare_result(
            &e,
            &vector(&[
                ("x{a=\"1\"}", 1.0),
                ("x{a=\"1\"}", 1.0),
                ("x{a=\"2\"}", f64::NAN)
            ])
        )
        .is_err());
        // The metric name is part of the identity.
        assert!(
            compare_result(&e, &vector(&[("{a=\"1\"}", 1.0), ("x{a=\"2\"}", f64::NAN)])).is_err()
        );
        // A stale marker is not a NaN.
        let stale = strata_engine::stale_nan();
        assert!(
            compare_result(&e, &vector(&[("x{a=\"1\"}", 1.0), ("x{a=\"2\"}", stale)])).is_err()
        );
        // No result lines: the result must be empty.
        let empty = ev("eval instant at 1m x\n");
        assert_eq!(compare_result(&empty, &vector(&[])), Ok(()));
        assert!(compare_result(&empty, &vector(&[("x", 1.0)])).is_err());
        assert!(compare_result(&empty, &Value::Scalar { t: 0, v: 1.0 }).is_err());

        let o =
            ev("eval instant at 1m sort(x)\n  expect ordered\n  x{a=\"1\"} 1\n  x{a=\"2\"} 2\n");
        assert_eq!(
            compare_result(&o, &vector(&[("x{a=\"1\"}", 1.0), ("x{a=\"2\"}", 2.0)])),
            Ok(())
        );
        assert!(compare_result(&o, &vector(&[("x{a=\"2\"}", 2.0), ("x{a=\"1\"}", 1.0)])).is_err());
    }

    #[test]
    fn scalars_and_strings() {
        let e = ev("eval instant at 1m 1\n  1\n");
        assert_eq!(compare_result(&e, &Value::Scalar { t: 0, v: 1.0 }), Ok(()));
        assert!(compare_result(&e, &Value::Scalar { t: 0, v: 1.1 }).is_err());
        assert!(compare_result(&e, &vector(&[("{}", 1.0)])).is_err());
        let s = ev("eval instant at 1m \"a\"\n  expect string \"a\"\n");
        assert_eq!(
            compare_result(
                &s,
                &Value::String {
                    t: 0,
                    s: "a".into()
                }
            ),
            Ok(())
        );
        assert!(compare_result(
            &s,
            &Value::String {
                t: 0,
                s: "b".into()
            }
        )
        .is_err());
        assert!(compare_result(&s, &vector(&[])).is_err());
    }

    #[test]
    fn range_results() {
        let e = ev("eval range from 0 to 2m step 1m x\n  x{a=\"1\"} 1 _ 3\n  x{a=\"2\"} 5\n");
        let good = matrix(&[
            ("x{a=\"1\"}", &[(0, 1.0), (120_000, 3.0)]),
            ("x{a=\"2\"}", &[(0, 5.0)]),
        ]);
        assert_eq!(compare_result(&e, &good), Ok(()));
        // Fewer expected values than steps: the rest must be absent.
        let extra = matrix(&[
            ("x{a=\"1\"}", &[(0, 1.0), (120_000, 3.0)]),
            ("x{a=\"2\"}", &[(0, 5.0), (60_000, 5.0)]),
        ]);
        assert!(compare_result(&e, &extra).is_err());
        // A point at the wrong step.
        let shifted = matrix(&[
            ("x{a=\"1\"}", &[(0, 1.0), (60_000, 3.0)]),
            ("x{a=\"2\"}", &[(0, 5.0)]),
        ]);
        assert!(compare_result(&e, &shifted).is_err());
        // Not sorted by labels.
        let unsorted = matrix(&[
            ("x{a=\"2\"}", &[(0, 5.0)]),
            ("x{a=\"1\"}", &[(0, 1.0), (120_000, 3.0)]),
        ]);
        assert!(compare_result(&e, &unsorted).is_err());
        // Missing series.
        assert!(compare_result(&e, &matrix(&[("x{a=\"2\"}", &[(0, 5.0)])])).is_err());
        // More expected values than steps.
        let long = ev("eval range from 0 to 1m step 1m x\n  x 1 2 3\n");
        assert!(compare_result(&long, &matrix(&[("x", &[(0, 1.0), (60_000, 2.0)])])).is_err());
        // A matrix for an instant eval needs `expect range vector`.
        let inst = ev(
            "eval instant at 1m x[1m]\n  expect range vector from 30s to 1m step 30s\n  x 1 2\n",
        );
        assert_eq!(
            compare_result(&inst, &matrix(&[("x", &[(30_000, 1.0), (60_000, 2.0)])])),
            Ok(())
        );
        let plain = ev("eval instant at 1m x\n  x 1\n");
        assert!(compare_result(&plain, &matrix(&[("x", &[(60_000, 1.0)])])).is_err());
    }

    #[test]
    fn annotations() {
        let e = ev("eval instant at 1m x\n  expect warn msg: careful\n");
        let res = |w: &[&str], i: &[&str]| QueryResult {
            value: vector(&[]),
            warnings: w.iter().map(|s| s.to_string()).collect(),
            infos: i.iter().map(|s| s.to_string()).collect(),
            stats: Default::default(),
        };
        assert_eq!(check_annotations(&e, &res(&["careful"], &[])), Ok(()));
        assert!(check_annotations(&e, &res(&[], &[])).is_err());
        assert!(check_annotations(&e, &res(&["careful", "other"], &[])).is_err());
        let n = ev("eval instant at 1m x\n  expect no_info\n");
        assert_eq!(check_annotations(&n, &res(&["w"], &[])), Ok(()));
        assert!(check_annotations(&n, &res(&[], &["i"])).is_err());
    }
}

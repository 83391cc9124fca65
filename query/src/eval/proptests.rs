//! Property tests of evaluator invariants over random data in a [`MemStorage`]:
//! * a range query equals the instant query at every step (the sliding windows and the
//!   column-wise evaluation must agree with a fresh one-step evaluation);
//! * aggregating in two levels (`sum(sum by (x) (m))`) equals aggregating at once.

use proptest::prelude::*;
use strata_engine::{Labels, Sample};

use super::{MemStorage, Steps};
use crate::engine::{evaluate, EngineOptions, QueryOptions, Value};

fn store(series: &[Vec<(i64, f64)>]) -> MemStorage {
    let mut st = MemStorage::new();
    for (i, s) in series.iter().enumerate() {
        let x = (i % 3).to_string();
        let id = i.to_string();
        let labels = Labels::from_pairs(&[
            ("__name__", "m_total"),
            ("x", x.as_str()),
            ("id", id.as_str()),
        ])
        .unwrap();
        let mut t = 0;
        let samples: Vec<Sample> = s
            .iter()
            .map(|&(gap, v)| {
                t += gap;
                Sample::new(t, v)
            })
            .collect();
        st.add(labels, &samples);
    }
    st
}

fn series_strategy() -> impl Strategy<Value = Vec<Vec<(i64, f64)>>> {
    prop::collection::vec(
        prop::collection::vec((1_000i64..90_000, 0.0f64..1000.0), 1..40),
        1..6,
    )
}

const QUERIES: &[&str] = &[
    "m_total",
    "rate(m_total[2m])",
    "increase(m_total[5m] offset 30s)",
    "sum by (x) (irate(m_total[3m]))",
    "avg_over_time(m_total[90s])",
    "max_over_time(m_total[4m]) - min_over_time(m_total[4m])",
    "resets(m_total[10m]) + changes(m_total[10m])",
    "deriv(m_total[5m])",
    "quantile_over_time(0.3, m_total[5m])",
    "sum_over_time(rate(m_total[2m])[5m:30s])",
    "topk(2, m_total) > 100",
    "m_total / on(id) group_left sum by (id) (m_total)",
    "absent_over_time(m_total{x=\"1\"}[1m])",
    "count by (x) (m_total) or vector(0)",
];

fn eval(st: &MemStorage, q: &str, steps: Steps, instant: bool) -> Value {
    let expr = crate::parser::parse(q).unwrap();
    evaluate(
        st,
        &expr,
        steps,
        instant,
        &EngineOptions::default(),
        &QueryOptions::default(),
    )
    .unwrap()
    .value
}

fn close(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || ((a - b) / a.abs().max(b.abs())).abs() < 1e-9
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn range_equals_instant_per_step(
        series in series_strategy(),
        qi in 0..QUERIES.len(),
        start in 0i64..600_000,
        step in 7_000i64..120_000,
    ) {
        let st = store(&series);
        let q = QUERIES[qi];
        let steps = Steps { start, end: start + 20 * step, step };
        let Value::Matrix(m) = eval(&st, q, steps, false) else {
            panic!("range query gives a matrix");
        };
        for i in 0..steps.len() {
            let t = steps.t(i);
            let Value::Vector(inst) = eval(&st, q, Steps::instant(t), true) else {
                panic!("instant query gives a vector");
            };
            let from_range: Vec<(&Labels, f64)> = m
                .iter()
                .filter_map(|s| {
                    s.timestamps.iter().position(|&x| x == t).map(|p| (&s.labels, s.values[p]))
                })
                .collect();
            prop_assert_eq!(from_range.len(), inst.len(), "{} at {}", q, t);
            for s in &inst {
                let r = from_range.iter().find(|(l, _)| **l == s.labels);
                prop_assert!(r.is_some(), "{} at {}: {:?} missing in range", q, t, s.labels);
                let (_, v) = r.unwrap();
                prop_assert!(close(*v, s.v), "{} at {}: range {} instant {}", q, t, v, s.v);
            }
        }
    }

    #[test]
    fn two_level_sum_equals_sum(series in series_strategy(), t in 0i64..2_000_000) {
        let st = store(&series);
        let whole = eval(&st, "sum(m_total)", Steps::instant(t), true);
        let split = eval(&st, "sum(sum by (x) (m_total))", Steps::instant(t), true);
        match (whole, split) {
            (Value::Vector(a), Value::Vector(b)) => {
                prop_assert_eq!(a.len(), b.len());
                if let (Some(a), Some(b)) = (a.first(), b.first()) {
                    prop_assert!(close(a.v, b.v), "{} vs {}", a.v, b.v);
                }
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn extreme_times_and_offsets_do_not_panic() {
    let st = store(&[vec![(1_000, 1.0), (1_000, 2.0)], vec![(5_000, 3.0)]]);
    let queries = [
        "m_total offset 100y",
        "m_total offset -100y",
        "rate(m_total[100y])",
        "max_over_time(m_total[1y:1d] offset -10y)",
        "m_total @ 0",
        "timestamp(m_total) - time()",
        "year(m_total) + day_of_week()",
    ];
    let times = [i64::MIN / 4, -1, 0, 1, i64::MAX / 4];
    for q in queries {
        for &t in &times {
            let expr = crate::parser::parse(q).unwrap();
            let o = EngineOptions::default();
            // Errors are fine (e.g. too many points); panics are not.
            let _ = evaluate(
                &st,
                &expr,
                Steps::instant(t),
                true,
                &o,
                &QueryOptions::default(),
            );
            let steps = Steps {
                start: t,
                end: t.saturating_add(600_000),
                step: 60_000,
            };
            let _ = evaluate(&st, &expr, steps, false, &o, &QueryOptions::default());
        }
    }
}

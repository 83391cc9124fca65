//! Edge cases of incremental windows, each compared bit for bit with `Engine::instant` over
//! a real `Db`: samples and resets exactly on bucket and leaf boundaries, stale markers,
//! NaN, series that appear and vanish, late samples, time going backwards, name
//! collisions, ineligible calls, and the memory bound.

use std::sync::Arc;

use strata_engine::{stale_nan, Batch, Db, Labels, Options, Sample};
use strata_query::{Engine, Value};
use strata_rules::window::{layout_for, Func, IncrementalOptions, IncrementalQuery};

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;
const DAY: i64 = 24 * HOUR;
const T0: i64 = 1_700_000_000_000 / DAY * DAY;

const FUNCS: [&str; 8] = [
    "rate",
    "increase",
    "delta",
    "sum_over_time",
    "count_over_time",
    "avg_over_time",
    "min_over_time",
    "max_over_time",
];

struct Fixture {
    _dir: tempfile::TempDir,
    db: Arc<Db>,
    engine: Engine,
    /// The reference: decodes every sample. Chunk summaries (which sealed head chunks
    /// carry, as block chunks do) add sums of non-integer values in another order (see
    /// query/src/eval/summary.rs); the incremental windows add them in sample order,
    /// exactly as a full decode does.
    full: Engine,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        // Series are loaded one after the other over their whole spans: no background head
        // cut may refuse a later series' older samples meanwhile.
        let opts = Options {
            background: false,
            ..Options::default()
        };
        let db = Arc::new(Db::open(dir.path(), opts).expect("open"));
        let engine = Engine::new(db.clone());
        let full = Engine::with_options(
            db.clone(),
            strata_query::EngineOptions {
                summaries: strata_query::eval::summary::SummaryMode::Never,
                ..Default::default()
            },
        );
        Fixture {
            _dir: dir,
            db,
            engine,
            full,
        }
    }

    fn append(&self, labels: &Labels, samples: &[(i64, f64)]) {
        let mut b = Batch::new();
        b.push(
            labels.clone(),
            samples.iter().map(|&(t, v)| Sample::new(t, v)).collect(),
        );
        let r = self.db.append(&b).expect("append");
        assert_eq!(r.rejected(), 0);
    }

    /// Evaluates `iq` at `t`, asserts it equals the full decode's evaluation and returns it.
    fn check(&self, iq: &mut IncrementalQuery, q: &str, t: i64) -> Value {
        let got = iq.eval(&self.engine, t).map(|r| r.value);
        let want = self.full.instant(q, t).map(|r| r.value);
        match (got, want) {
            (Ok(a), Ok(b)) => {
                assert!(
                    Value::same_bits(&a, &b),
                    "{q} at {t}:\nincremental {a:?}\nfull        {b:?}"
                );
                a
            }
            (Err(a), Err(b)) => {
                assert_eq!(a.to_string(), b.to_string(), "{q} at {t}");
                Value::Vector(Vec::new())
            }
            (a, b) => panic!("{q} at {t}: {a:?} vs {b:?}"),
        }
    }
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs).expect("labels")
}

fn opts() -> IncrementalOptions {
    IncrementalOptions {
        min_range: 1,
        ..IncrementalOptions::default()
    }
}

fn queries(exprs: &[String]) -> Vec<(String, IncrementalQuery)> {
    exprs
        .iter()
        .map(|q| {
            let iq = IncrementalQuery::new(q, opts()).expect("parses");
            assert!(!iq.incremental_calls().is_empty(), "{q}");
            (q.clone(), iq)
        })
        .collect()
}

fn all_funcs(sel: &str, range: &str) -> Vec<String> {
    FUNCS
        .iter()
        .map(|f| format!("{f}({sel}[{range}])"))
        .collect()
}

fn vector_len(v: &Value) -> usize {
    match v {
        Value::Vector(v) => v.len(),
        _ => 0,
    }
}

#[test]
fn samples_and_resets_on_bucket_and_leaf_boundaries() {
    let f = Fixture::new();
    let range = 8 * HOUR;
    let layout = layout_for(Func::Rate, range, 8).expect("layout");
    let (b, leaf) = (layout.bucket, layout.bucket >> layout.levels);
    // Buckets are aligned on multiples of their width from the epoch.
    let first = (T0 / b + 1) * b;
    // A counter with a sample exactly on every bucket boundary and one just after it,
    // resetting exactly at boundaries (every third) and just after them (every fifth), and
    // samples on leaf boundaries in between.
    let c = labels(&[("__name__", "c"), ("job", "a")]);
    let mut v = 0.0;
    let mut samples = Vec::new();
    for k in 0..40i64 {
        let base = first + k * b;
        for (i, t) in [
            base,
            base + 1,
            base + leaf,
            base + 7 * leaf,
            base + b / 2 + 1,
        ]
        .into_iter()
        .enumerate()
        {
            v = if (i == 0 && k % 3 == 0) || (i == 1 && k % 5 == 0) {
                (k % 4) as f64
            } else {
                v + 1.0 + (k * 7 + i as i64) as f64 % 5.0
            };
            samples.push((t, v));
        }
    }
    f.append(&c, &samples);
    let mut qs = queries(&all_funcs("c", "8h"));
    // Window ends on bucket and leaf boundaries and one millisecond either side.
    let mut t = first + range;
    while t < first + 40 * b {
        for d in [-1, 0, 1] {
            for (q, iq) in &mut qs {
                let v = f.check(iq, q, t + d);
                assert_eq!(vector_len(&v), 1, "{q}");
            }
        }
        t += if (t / leaf) % 7 == 0 { b } else { 3 * leaf };
    }
    for (q, iq) in &qs {
        let st = iq.stats();
        assert_eq!(
            st.replayed, 0,
            "{q}: integer data is decided by aggregates: {st:?}"
        );
        assert!(st.served > 0);
    }
}

#[test]
fn stale_markers_are_dropped_like_the_evaluator_drops_them() {
    let f = Fixture::new();
    let g = labels(&[("__name__", "g"), ("job", "a")]);
    let only_stale = labels(&[("__name__", "g"), ("job", "b")]);
    let s = stale_nan();
    f.append(
        &g,
        &[
            (T0 + 10 * MIN, s),
            (T0 + 20 * MIN, 5.0),
            (T0 + 30 * MIN, s),
            (T0 + 90 * MIN, 7.0),
            (T0 + 95 * MIN, 2.0),
            (T0 + 100 * MIN, s),
            (T0 + 200 * MIN, 1.0),
            (T0 + 201 * MIN, s),
        ],
    );
    f.append(&only_stale, &[(T0 + 50 * MIN, s), (T0 + 150 * MIN, s)]);
    let mut qs = queries(&all_funcs("g", "1h"));
    for t in (0..300).step_by(3).map(|m| T0 + m * MIN) {
        for (q, iq) in &mut qs {
            f.check(iq, q, t);
        }
    }
}

#[test]
fn series_that_appear_and_vanish() {
    let f = Fixture::new();
    let (a, b, c) = (
        labels(&[("__name__", "x"), ("s", "a")]),
        labels(&[("__name__", "x"), ("s", "b")]),
        labels(&[("__name__", "x"), ("s", "c")]),
    );
    let mut qs = queries(&all_funcs("x", "2h"));
    let mut peak = 0;
    for step in 0..230i64 {
        let t = T0 + step * MIN;
        f.append(&a, &[(t, step as f64)]);
        if (60..90).contains(&step) {
            f.append(&b, &[(t - 30_000, (step % 7) as f64)]); // late-appearing, short-lived
        }
        if step < 20 {
            f.append(&c, &[(t - 1, 100.0 - step as f64)]); // stops early
        }
        if step == 10 {
            f.append(&c, &[(t + 1, 3.0)]); // a single sample after a reset
        }
        for (q, iq) in &mut qs {
            f.check(iq, q, t + 2);
        }
        peak = peak.max(qs[0].1.stats().series);
    }
    // b's and c's samples have all left the 2 h window: only a is kept.
    assert_eq!(peak, 3);
    for (q, iq) in &qs {
        assert_eq!(iq.stats().series, 1, "{q}");
    }
}

#[test]
fn nan_values() {
    let f = Fixture::new();
    let g = labels(&[("__name__", "g")]);
    let nan = f64::NAN;
    let vals = [
        nan, 1.0, 3.0, nan, 2.0, -0.0, 0.0, nan, nan, 8.0, 4.0, nan, 1.5, 0.25, nan,
    ];
    let pts: Vec<(i64, f64)> = vals
        .iter()
        .enumerate()
        .map(|(i, &v)| (T0 + i as i64 * 10 * MIN, v))
        .collect();
    f.append(&g, &pts);
    let mut qs = queries(&all_funcs("g", "1h"));
    for t in (0..170).step_by(4).map(|m| T0 + m * MIN) {
        for (q, iq) in &mut qs {
            f.check(iq, q, t);
        }
    }
    let replayed = |name: &str| {
        qs.iter()
            .find(|(q, _)| q.starts_with(name))
            .map(|(_, iq)| iq.stats().replayed)
            .unwrap()
    };
    // Sums with NaN replay; min/max/count never do.
    assert!(replayed("sum_over_time") > 0);
    assert_eq!(replayed("min_over_time"), 0);
    assert_eq!(replayed("max_over_time"), 0);
    assert_eq!(replayed("count_over_time"), 0);
}

#[test]
fn float_gauges_are_certified_without_replays() {
    let f = Fixture::new();
    let g = labels(&[("__name__", "g"), ("job", "a")]);
    let pts: Vec<(i64, f64)> = (0..3_000i64)
        .map(|i| (T0 + i * 5 * MIN, (i as f64 * 0.37).sin() * 3.7 + 10.0))
        .collect();
    f.append(&g, &pts);
    let exprs = [
        "sum_over_time(g[7d])".to_string(),
        "avg_over_time(g[7d])".to_string(),
    ];
    let mut qs = queries(&exprs);
    let mut t = T0 + 7 * DAY;
    while t < T0 + 10 * DAY {
        for (q, iq) in &mut qs {
            f.check(iq, q, t);
        }
        t += 37 * MIN;
    }
    for (q, iq) in &qs {
        let st = iq.stats();
        assert_eq!(st.replayed, 0, "{q}: {st:?}");
        assert!(st.aggregated > 100, "{q}: {st:?}");
    }
}

#[test]
fn float_counters_with_rare_resets_replay_nothing() {
    let f = Fixture::new();
    let c = labels(&[("__name__", "cpu_seconds_total")]);
    let mut v = 0.0;
    let pts: Vec<(i64, f64)> = (0..4_000i64)
        .map(|i| {
            v = if i % 1_000 == 999 {
                0.01
            } else {
                ((v * 100.0f64).round() + 37.0) / 100.0
            };
            (T0 + i * 3 * MIN, v)
        })
        .collect();
    f.append(&c, &pts);
    let exprs: Vec<String> = ["rate", "increase"]
        .iter()
        .map(|x| format!("{x}(cpu_seconds_total[3d])"))
        .collect();
    let mut qs = queries(&exprs);
    let mut t = T0 + 3 * DAY;
    while t < T0 + 8 * DAY {
        for (q, iq) in &mut qs {
            f.check(iq, q, t);
        }
        t += 41 * MIN;
    }
    for (q, iq) in &qs {
        assert_eq!(iq.stats().replayed, 0, "{q}: {:?}", iq.stats());
    }
}

#[test]
fn late_samples_within_the_horizon_are_counted() {
    let f = Fixture::new();
    let (a, b) = (
        labels(&[("__name__", "x"), ("s", "a")]),
        labels(&[("__name__", "x"), ("s", "b")]),
    );
    let mut qs = queries(&all_funcs("x", "6h"));
    for step in 0..120i64 {
        let t = T0 + step * 5 * MIN;
        f.append(&a, &[(t, step as f64)]);
        // b's samples reach storage 20 minutes late.
        if step >= 4 {
            f.append(&b, &[(t - 20 * MIN, (step * step % 11) as f64)]);
        }
        for (q, iq) in &mut qs {
            f.check(iq, q, t);
        }
    }
}

#[test]
fn time_going_backwards_or_jumping_rebuilds() {
    let f = Fixture::new();
    let x = labels(&[("__name__", "x")]);
    let pts: Vec<(i64, f64)> = (0..2_000i64)
        .map(|i| (T0 + i * MIN, (i % 97) as f64))
        .collect();
    f.append(&x, &pts);
    let q = "increase(x[12h])";
    let mut iq = IncrementalQuery::new(q, opts()).expect("parses");
    for t in [
        T0 + 13 * HOUR,
        T0 + 14 * HOUR,
        T0 + 14 * HOUR,       // the same time
        T0 + 13 * HOUR,       // backwards: rebuild
        T0 + 13 * HOUR + 1,   // forwards again
        T0 + 30 * HOUR,       // a jump of more than half the range: rebuild
        T0 + 30 * HOUR + MIN, // steady
    ] {
        f.check(&mut iq, q, t);
    }
    assert_eq!(iq.stats().builds, 3, "{:?}", iq.stats());
    iq.reset();
    f.check(&mut iq, q, T0 + 31 * HOUR);
    assert_eq!(iq.stats().builds, 4);
}

#[test]
fn label_set_collisions_fail_like_the_evaluator() {
    let f = Fixture::new();
    for name in ["a", "b"] {
        let l = labels(&[("__name__", name), ("job", "j")]);
        f.append(&l, &[(T0, 1.0), (T0 + MIN, 2.0)]);
    }
    let q = r#"rate({__name__=~"a|b"}[2h])"#;
    let mut iq = IncrementalQuery::new(q, opts()).expect("parses");
    let err = iq.eval(&f.engine, T0 + 2 * MIN).expect_err("collision");
    assert_eq!(
        err.to_string(),
        "vector cannot contain metrics with the same labelset"
    );
    f.check(&mut iq, q, T0 + 3 * MIN);
}

#[test]
fn ineligible_calls_are_left_to_the_evaluator() {
    let f = Fixture::new();
    let x = labels(&[("__name__", "x")]);
    let pts: Vec<(i64, f64)> = (0..300i64).map(|i| (T0 + i * MIN, i as f64)).collect();
    f.append(&x, &pts);
    let t = T0 + 299 * MIN;
    for q in [
        "max_over_time(rate(x[1h])[2h:5m])",
        "rate(x[1h] @ 1700000000)",
        "rate(x[5m])",
        "irate(x[1h])",
        "quantile_over_time(0.5, x[1h])",
    ] {
        let mut iq = IncrementalQuery::new(q, IncrementalOptions::default()).expect("parses");
        assert!(iq.incremental_calls().is_empty(), "{q}");
        f.check(&mut iq, q, t);
    }
    // Mixed: only the long window is incremental.
    let q = "rate(x[1h]) - rate(x[5m]) + max_over_time(increase(x[1h])[30m:1m])";
    let mut iq = IncrementalQuery::new(q, IncrementalOptions::default()).expect("parses");
    assert_eq!(iq.incremental_calls(), vec!["rate(x[1h])".to_string()]);
    f.check(&mut iq, q, t);
}

#[test]
fn state_per_series_and_window_stays_within_one_kibibyte() {
    let f = Fixture::new();
    // Series with 8 labels, the most the budget sets aside room for.
    let l = |i: usize| {
        let v = i.to_string();
        labels(&[
            ("__name__", "x"),
            ("a", "1"),
            ("b", "2"),
            ("c", "3"),
            ("d", "4"),
            ("e", "5"),
            ("f", "6"),
            ("i", &v),
        ])
    };
    for i in 0..10 {
        let pts: Vec<(i64, f64)> = (0..500i64)
            .map(|k| (T0 + k * 2 * HOUR, (k * (i as i64 + 1)) as f64))
            .collect();
        f.append(&l(i), &pts);
    }
    for func in FUNCS {
        let q = format!("{func}(x[30d])");
        let mut iq = IncrementalQuery::new(&q, IncrementalOptions::default()).expect("parses");
        f.check(&mut iq, &q, T0 + 40 * DAY);
        let st = iq.stats();
        assert_eq!(st.series, 10, "{q}");
        assert!(st.max_series_bytes <= 1024, "{q}: {st:?}");
        // The bound is structural: fixed part + (8 buckets + levels) pieces + 8 labels.
        let layout = layout_for(Func::from_name(func).unwrap(), 30 * DAY, 8).unwrap();
        assert!(layout.levels >= 7, "{q}: {layout:?}");
        assert!(st.bytes >= 10 * st.max_series_bytes, "{q}: {st:?}");
    }
}

#[test]
fn windows_over_one_metric_share_their_reads() {
    let f = Fixture::new();
    for (code, rate) in [("200", 7.0), ("404", 1.0), ("500", 2.0), ("503", 1.0)] {
        let l = labels(&[("__name__", "req_total"), ("code", code)]);
        let pts: Vec<(i64, f64)> = (0..600i64)
            .map(|i| (T0 + i * MIN, (i as f64 * rate).floor()))
            .collect();
        f.append(&l, &pts);
    }
    let other = labels(&[("__name__", "other_total"), ("code", "500")]);
    f.append(&other, &[(T0, 1.0), (T0 + 300 * MIN, 9.0)]);
    let q = r#"sum(rate(req_total{code=~"5.."}[6h])) / sum(rate(req_total[6h])) + sum(rate(req_total{code!~"5.."}[6h])) * 0 + sum(increase(other_total[6h]))"#;
    let mut iq = IncrementalQuery::new(q, opts()).expect("parses");
    assert_eq!(iq.incremental_calls().len(), 4);
    let mut evals = 0;
    let mut t = T0 + 6 * HOUR;
    while t < T0 + 600 * MIN {
        f.check(&mut iq, q, t);
        evals += 1;
        t += 7 * MIN;
    }
    // Three windows over req_total share one select per side; other_total has its own.
    let st = iq.stats();
    assert_eq!(st.windows, 4);
    assert!(st.selects <= 4 * evals, "{st:?}");
}

#[test]
fn a_series_arriving_late_at_the_left_edge_is_replayed_then_rebuilt() {
    let f = Fixture::new();
    let a = labels(&[("__name__", "x"), ("s", "a")]);
    let z = labels(&[("__name__", "x"), ("s", "z")]);
    let q = "count_over_time(x[6h])";
    let opts = IncrementalOptions {
        min_range: 1,
        late_horizon: 10 * MIN,
        ..IncrementalOptions::default()
    };
    let mut iq = IncrementalQuery::new(q, opts).expect("parses");
    let mut t = T0;
    for _ in 0..100 {
        f.append(&a, &[(t, 1.0)]);
        f.check(&mut iq, q, t);
        t += 5 * MIN;
    }
    assert_eq!(iq.stats().builds, 1);
    // z's samples reach storage hours late, just inside the window's start.
    let e = t - 6 * HOUR;
    f.append(&z, &[(e + 1, 1.0), (e + 2, 2.0)]);
    f.append(&a, &[(t, 1.0)]);
    let v = f.check(&mut iq, q, t);
    assert_eq!(vector_len(&v), 2);
    assert_eq!(iq.stats().replayed, 1);
    f.check(&mut iq, q, t + MIN);
    assert_eq!(iq.stats().builds, 2, "rebuilt after the late series");
}

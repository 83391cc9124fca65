//! Incremental windows against full evaluation: random histories ingested into a real `Db`
//! while an [`IncrementalQuery`] is evaluated at irregular increasing times; at every
//! evaluation its result must equal `Engine::instant` of the same expression bit for bit
//! (`f64::to_bits`, labels, timestamps), or both must fail with the same message. The
//! reference decodes every sample (chunk summaries off): summaries, which sealed head
//! chunks carry as block chunks do, add sums of non-integer values in another order (see
//! query/src/eval/summary.rs), while the incremental windows add them in sample order,
//! exactly as a full decode does.

use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use strata_engine::{stale_nan, Batch, Db, Labels, Options, Sample};
use strata_query::{Engine, Value};
use strata_rules::window::{IncrementalOptions, IncrementalQuery, WindowStats};

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;
const DAY: i64 = 24 * HOUR;

/// Windows from minutes to 30 days.
const RANGES: [i64; 8] = [
    2 * MIN,
    10 * MIN,
    HOUR,
    7 * HOUR,
    DAY,
    3 * DAY,
    7 * DAY,
    30 * DAY,
];

/// Deterministic xorshift generator (the proptest seed drives it, so cases shrink and
/// reproduce).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo).max(1) as u64) as i64
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// One generated series: labels, samples in time order (stale markers included) and how
/// far behind the evaluation time its samples reach storage (negative: ahead of it).
struct Hist {
    labels: Labels,
    samples: Vec<Sample>,
    lag: i64,
    appended: usize,
}

/// Value shapes: integer counters, float counters with two decimals, full-precision
/// gauges, small integer gauges with signed zeros, single-sample series.
fn gen_series(rng: &mut Rng, labels: Labels, t0: i64, range: i64, spacing: i64) -> Hist {
    let kind = rng.below(5);
    let start = t0 - range + rng.range(0, 5 * range / 2);
    let stop = if kind == 4 {
        start + 1
    } else if rng.chance(30) {
        start + rng.range(spacing, range)
    } else {
        start + rng.range(range, 4 * range)
    };
    let mut t = start;
    let mut v: f64 = match kind {
        0 => rng.below(1000) as f64,
        1 => rng.below(100_000) as f64 / 100.0,
        _ => 0.0,
    };
    // Most series have no NaN, so that the aggregates (not the raw fallback) decide most
    // values; the others have a few.
    let nan_percent = if kind != 0 && rng.chance(30) { 3 } else { 0 };
    let mut samples = Vec::new();
    while t < stop {
        let x = if rng.chance(nan_percent) { f64::NAN } else { v };
        samples.push(Sample::new(t, x));
        if rng.chance(2) {
            // A stale marker, then the series pauses.
            t += rng.range(1, spacing);
            samples.push(Sample::new(t, stale_nan()));
            t += rng.range(spacing, 10 * spacing);
        }
        t += if rng.chance(5) {
            rng.range(2 * spacing, 20 * spacing)
        } else {
            rng.range(spacing / 2, spacing * 3 / 2).max(1)
        };
        v = match kind {
            0 if rng.chance(4) => {
                if rng.chance(50) {
                    0.0
                } else {
                    (v * 0.3).floor()
                }
            }
            0 => v + rng.below(50) as f64,
            1 if rng.chance(4) => rng.below(100) as f64 / 100.0,
            1 => ((v * 100.0).round() + rng.below(500) as f64) / 100.0,
            2 => (rng.next() >> 11) as f64 / (1u64 << 53) as f64 * 20.0 - 5.0,
            _ => match rng.below(6) {
                0 => 0.0,
                1 => -0.0,
                n => (n as f64 - 3.0) * rng.below(10) as f64,
            },
        };
    }
    // Some series reach storage late (within the late horizon), some are already stored
    // ahead of the evaluation time (as with a rule query offset).
    let lag = match rng.below(10) {
        0..=2 => rng.range(1, (range / 10).min(30 * MIN)),
        3 | 4 => -rng.range(1, range),
        _ => 0,
    };
    Hist {
        labels,
        samples,
        lag,
        appended: 0,
    }
}

fn gen_history(rng: &mut Rng, t0: i64, range: i64, spacing: i64) -> Vec<Hist> {
    let mut out = Vec::new();
    for (name, lo, hi) in [("x", 1, 5), ("e", 0, 3), ("t", 0, 3)] {
        for i in 0..rng.range(lo, hi + 1) {
            let job = if rng.chance(50) { "a" } else { "b" };
            let inst = i.to_string();
            let l = Labels::from_pairs(&[("__name__", name), ("inst", &inst), ("job", job)])
                .expect("valid labels");
            out.push(gen_series(rng, l, t0, range, spacing));
        }
    }
    out
}

/// Appends every sample that has reached storage by time `t`.
fn ingest(db: &Db, hist: &mut [Hist], t: i64) {
    let mut batch = Batch::new();
    for h in hist.iter_mut() {
        let upto = h.samples[h.appended..].partition_point(|s| s.t <= t - h.lag) + h.appended;
        if upto > h.appended {
            batch.push(h.labels.clone(), h.samples[h.appended..upto].to_vec());
            h.appended = upto;
        }
    }
    if !batch.is_empty() {
        let r = db.append(&batch).expect("append");
        assert_eq!(r.rejected(), 0, "generated samples are in order");
    }
}

fn expressions(range: i64) -> Vec<String> {
    let w = format!("{range}ms");
    let off = format!("{}ms", range / 3);
    let mut v: Vec<String> = [
        "rate",
        "increase",
        "delta",
        "sum_over_time",
        "count_over_time",
        "avg_over_time",
        "min_over_time",
        "max_over_time",
    ]
    .iter()
    .map(|f| format!("{f}(x[{w}])"))
    .collect();
    v.extend([
        format!("sum by (job) (rate(x[{w}]))"),
        format!("1 - sum(increase(e[{w}])) / sum(increase(t[{w}]))"),
        format!("increase(x[{w}] offset {off})"),
        format!("max_over_time(x[{w}]) - min_over_time((x[{w}]))"),
        format!("avg_over_time(x[{w}]) * count_over_time(x[{w}]) - sum_over_time(x[{w}])"),
        format!(r#"sum_over_time({{__name__=~"x|e"}}[{w}])"#),
        format!("rate(x[{w}]) / increase(x[{w}])"),
        // Windows over one metric sharing their reads.
        format!(r#"sum(increase(x{{job="a"}}[{w}])) / sum(increase(x[{w}])) + sum(delta(x{{job!="a"}}[{w}]))"#),
    ]);
    v
}

fn run_case(seed: u64, range_idx: usize, density: i64, steps: usize) -> Result<(), TestCaseError> {
    let mut rng = Rng(seed | 1);
    let range = RANGES[range_idx];
    let spacing = (range / density).max(1);
    let t0 = 1_700_000_000_000 + rng.range(0, DAY);
    let mut hist = gen_history(&mut rng, t0, range, spacing);

    let dir = tempfile::tempdir().expect("temp dir");
    // Histories are loaded series by series (some late): no background head cut between.
    let db = Arc::new(
        Db::open(
            dir.path(),
            Options {
                background: false,
                ..Options::default()
            },
        )
        .expect("open db"),
    );
    let engine = Engine::new(db.clone());
    let full = Engine::with_options(
        db.clone(),
        strata_query::EngineOptions {
            summaries: strata_query::eval::summary::SummaryMode::Never,
            ..Default::default()
        },
    );
    let opts = IncrementalOptions {
        min_range: 1,
        ..IncrementalOptions::default()
    };
    let mut queries: Vec<(String, IncrementalQuery)> = expressions(range)
        .into_iter()
        .map(|q| {
            let iq = IncrementalQuery::new(&q, opts.clone()).expect("parses");
            assert!(
                !iq.incremental_calls().is_empty(),
                "{q} has no incremental call"
            );
            (q, iq)
        })
        .collect();

    let bucket = range / 8;
    let mut t = t0 - range / 2 + rng.range(0, range);
    let mut compared = 0usize;
    for step in 0..steps {
        ingest(&db, &mut hist, t);
        for (q, iq) in &mut queries {
            let got = iq.eval(&engine, t).map(|r| r.value);
            let want = full.instant(q, t).map(|r| r.value);
            match (&got, &want) {
                (Ok(a), Ok(b)) => {
                    prop_assert!(
                        a.same_bits(b),
                        "{q} at step {step} (t={t}):\nincremental {a:?}\nfull        {b:?}"
                    );
                    if let Value::Vector(v) = a {
                        compared += v.len();
                    }
                }
                (Err(a), Err(b)) => prop_assert_eq!(a.to_string(), b.to_string()),
                _ => prop_assert!(false, "{q} at {t}: {got:?} vs {want:?}"),
            }
        }
        t += match rng.below(20) {
            0 | 1 => 0,                                   // the same time again
            2..=9 => rng.range(1, bucket / 4 + 2),        // within a bucket
            10..=13 => rng.range(bucket / 2, 2 * bucket), // across a bucket edge
            14..=16 => rng.range(2 * bucket, 4 * bucket), // skipping several buckets
            17 => range / 2 + rng.range(1, range),        // a jump: rebuild
            _ => rng.range(1, spacing * 3),
        };
    }
    // Every call was answered by the incremental windows at every step (not evaluated
    // from storage behind their back).
    for (q, iq) in &queries {
        let st = iq.stats();
        let calls = iq.incremental_calls().len() as u64;
        prop_assert!(st.served >= calls * steps as u64, "{q}: {st:?}");
    }
    let total = queries
        .iter()
        .fold(Default::default(), |mut acc: WindowStats, (_, iq)| {
            acc.add(&iq.stats());
            acc
        });
    eprintln!(
        "range {range} density {density} steps {steps}: {compared} values compared; {total:?}"
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(48)
    ))]

    #[test]
    fn incremental_equals_full_evaluation(
        seed in any::<u64>(),
        range_idx in 0..RANGES.len(),
        density in 6i64..150,
        steps in 10usize..40,
    ) {
        run_case(seed, range_idx, density, steps)?;
    }
}

/// Fixed cases over every range, so each runs in CI whatever the random draw.
#[test]
fn incremental_equals_full_evaluation_every_range() {
    for (i, _) in RANGES.iter().enumerate() {
        for seed in [7u64, 0x5eed, 0xdead_beef] {
            run_case(seed.wrapping_mul(i as u64 + 1), i, 60, 30).expect("case passes");
        }
    }
}

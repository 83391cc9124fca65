//! Incremental long windows (`strata_rules::window`) against full evaluation.
//!
//! Data: the load generator's canary fleet (`strata_benches::loadgen::workload`), 1,000
//! series scraped every 15 s for 30 days (about 173 M samples: integer request counters
//! with restarts every few hours, classic latency histograms), appended to a `Db` in a temp
//! dir during setup (not timed; a few minutes in release mode).
//!
//! The rule group of the SLO guides, over 30 d and over 1 d:
//! - availability: `sum(rate(http_requests_total{status!~"5.."}[W])) / sum(rate(http_requests_total[W]))`
//! - latency share under 0.25 s:
//!   `sum(rate(http_request_duration_seconds_bucket{le="0.25"}[W])) / sum(rate(http_request_duration_seconds_count[W]))`
//! - error ratio by job:
//!   `sum by (job) (rate(http_requests_total{status=~"5.."}[W])) / sum by (job) (rate(http_requests_total[W]))`
//!
//! Benchmarks (each iteration evaluates the three rules):
//! - `rules_window/incremental_{30d,1d}`: steady state, every 30 s: before each iteration
//!   (untimed) 30 s of new samples are appended; the iteration evaluates the three
//!   [`IncrementalQuery`]s at the new time;
//! - `rules_window/full_{30d,1d}`: `Engine::instant` of the same expressions;
//! - `rules_window/rebuild_30d`: a fresh `IncrementalQuery` per rule and its first
//!   evaluation (the state built from storage, as after a restart).
//!
//! Setup checks that incremental and full results are identical, and prints the state size
//! per series and window, the samples read per evaluation, the median of 30 d and 1 d
//! evaluations interleaved step by step (so that the load of a shared machine hits both
//! alike), and the cost of the evaluation at which the window start enters a new bucket
//! (the left edge is re-read for one bucket then: the only non-steady cost).
//!
//! Run: `cargo bench -p strata-benches --bench rules_window`. `STRATA_BENCH_DAYS` (default
//! 30) and `STRATA_BENCH_SERIES` (default 1000) shrink the data set for quick runs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_main, BatchSize, Criterion};
use strata_benches::loadgen::workload::{Fleet, FleetSpec, SCRAPE_INTERVAL_MS};
use strata_engine::{Batch, Db, Labels, Options, Sample};
use strata_query::{Engine, Value};
use strata_rules::window::{IncrementalOptions, IncrementalQuery, WindowStats};

/// Start of the data (ms): an arbitrary fixed time, so runs are comparable.
const START_MS: i64 = 1_700_000_000_000;
/// Rule evaluation interval (ms).
const EVAL_EVERY_MS: i64 = 30_000;
/// Scrape rounds appended per batch while loading (2 h).
const LOAD_ROUNDS: usize = 480;
const DAY_MS: i64 = 86_400_000;

fn env_or(name: &str, default: i64) -> i64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The three rules of the group over window `w` (PromQL duration).
fn rules(w: &str) -> Vec<String> {
    vec![
        format!(
            r#"sum(rate(http_requests_total{{status!~"5.."}}[{w}])) / sum(rate(http_requests_total[{w}]))"#
        ),
        format!(
            r#"sum(rate(http_request_duration_seconds_bucket{{le="0.25"}}[{w}])) / sum(rate(http_request_duration_seconds_count[{w}]))"#
        ),
        format!(
            r#"sum by (job) (rate(http_requests_total{{status=~"5.."}}[{w}])) / sum by (job) (rate(http_requests_total[{w}]))"#
        ),
    ]
}

/// The fleet and the database it writes to.
struct World {
    db: Arc<Db>,
    fleet: Fleet,
    labels: Vec<Labels>,
    round: Vec<(i64, f64)>,
    rounds: i64,
}

impl World {
    /// Appends `n` scrape rounds, `per_batch` rounds per batch.
    fn append_rounds(&mut self, n: usize, per_batch: usize) {
        let mut left = n;
        let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); self.labels.len()];
        while left > 0 {
            let k = left.min(per_batch);
            for s in &mut samples {
                s.clear();
            }
            for _ in 0..k {
                self.fleet.round(&mut self.round);
                for (dst, &(t, v)) in samples.iter_mut().zip(&self.round) {
                    dst.push(Sample::new(t, v));
                }
            }
            let mut b = Batch::with_capacity(self.labels.len(), k * self.labels.len());
            for (l, s) in self.labels.iter().zip(&samples) {
                b.push(l.clone(), s.clone());
            }
            let rep = self.db.append(&b).expect("append");
            assert_eq!(rep.rejected(), 0, "the workload is in time order");
            left -= k;
            self.rounds += k as i64;
        }
    }

    /// The evaluation time after the rounds appended so far: the start of the next slot.
    fn now(&self) -> i64 {
        START_MS + self.rounds * SCRAPE_INTERVAL_MS
    }

    /// Appends one evaluation interval of samples and returns the new evaluation time.
    fn advance(&mut self) -> i64 {
        self.append_rounds((EVAL_EVERY_MS / SCRAPE_INTERVAL_MS) as usize, 8);
        self.now()
    }
}

fn load(series: usize, days: i64, dir: &std::path::Path) -> World {
    let fleet = Fleet::new(&FleetSpec { series, seed: 7 }, START_MS);
    let labels = fleet
        .series()
        .iter()
        .map(|s| Labels::from_pairs(&s.labels).expect("workload labels are valid"))
        .collect();
    // Kept whole: the default 15 d retention would drop half of a 30 d window.
    let opts = Options {
        retention: None,
        ..Options::default()
    };
    let db = Arc::new(Db::open(dir, opts).expect("Db::open"));
    let mut w = World {
        db,
        fleet,
        labels,
        round: Vec::new(),
        rounds: 0,
    };
    let started = Instant::now();
    w.append_rounds((days * DAY_MS / SCRAPE_INTERVAL_MS) as usize, LOAD_ROUNDS);
    let st = w.db.stats();
    eprintln!(
        "rules_window: loaded {} series x {days} d = {} samples in {:.1?}",
        w.labels.len(),
        st.samples,
        started.elapsed()
    );
    w
}

fn incremental(qs: &[String]) -> Vec<IncrementalQuery> {
    qs.iter()
        .map(|q| {
            let iq = IncrementalQuery::new(q, IncrementalOptions::default()).expect("parses");
            assert_eq!(iq.incremental_calls().len(), 2, "{q}");
            iq
        })
        .collect()
}

fn eval_all(qs: &mut [IncrementalQuery], engine: &Engine, t: i64) -> Vec<Value> {
    qs.iter_mut()
        .map(|q| q.eval(engine, t).expect("incremental evaluation").value)
        .collect()
}

fn full_all(qs: &[String], engine: &Engine, t: i64) -> Vec<Value> {
    qs.iter()
        .map(|q| engine.instant(q, t).expect("full evaluation").value)
        .collect()
}

fn stats(qs: &[IncrementalQuery]) -> WindowStats {
    let mut st = WindowStats::default();
    for q in qs {
        st.add(&q.stats());
    }
    st
}

/// Asserts bit-identical results (and that they are not empty).
fn check_same(what: &str, a: &[Value], b: &[Value]) {
    for (x, y) in a.iter().zip(b) {
        let (Value::Vector(x), Value::Vector(y)) = (x, y) else {
            panic!("{what}: vectors expected");
        };
        assert!(!x.is_empty(), "{what}: empty result");
        assert_eq!(x.len(), y.len(), "{what}");
        for (p, q) in x.iter().zip(y) {
            assert_eq!(p.labels, q.labels, "{what}");
            assert_eq!(p.v.to_bits(), q.v.to_bits(), "{what}: {} vs {}", p.v, q.v);
        }
    }
}

fn bench(c: &mut Criterion) {
    let series = env_or("STRATA_BENCH_SERIES", 1_000) as usize;
    let days = env_or("STRATA_BENCH_DAYS", 30);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut world = load(series, days, dir.path());
    let engine = Engine::new(world.db.clone());
    let (r30, r1) = (rules("30d"), rules("1d"));

    // Build, then check a few steady-state steps against full evaluation.
    let mut inc30 = incremental(&r30);
    let mut inc1 = incremental(&r1);
    let t = world.now();
    let started = Instant::now();
    eval_all(&mut inc30, &engine, t);
    eprintln!(
        "rules_window: first evaluation (build) of the 30d group: {:.1?}",
        started.elapsed()
    );
    eval_all(&mut inc1, &engine, t);
    for _ in 0..3 {
        let t = world.advance();
        check_same(
            "30d",
            &eval_all(&mut inc30, &engine, t),
            &full_all(&r30, &engine, t),
        );
        check_same(
            "1d",
            &eval_all(&mut inc1, &engine, t),
            &full_all(&r1, &engine, t),
        );
    }
    for (name, qs) in [("30d", &r30), ("1d", &r1)] {
        let loaded: u64 = qs
            .iter()
            .map(|q| {
                engine
                    .instant(q, world.now())
                    .expect("full")
                    .stats
                    .samples_loaded
            })
            .sum();
        eprintln!("rules_window: full evaluation of the {name} group loads {loaded} samples");
    }
    let st = stats(&inc30);
    eprintln!(
        "rules_window: 30d group state: {} windows, {} series states, {} bytes, largest per series and window {} bytes",
        st.windows, st.series, st.bytes, st.max_series_bytes
    );

    let mut group = c.benchmark_group("rules_window");
    group.sample_size(20);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    for (name, qs) in [
        ("incremental_30d", &mut inc30),
        ("incremental_1d", &mut inc1),
    ] {
        // Catch up (untimed) with the data appended since this set last ran.
        eval_all(qs, &engine, world.now());
        let before = stats(qs);
        group.bench_function(name, |b| {
            b.iter_batched(
                || world.advance(),
                |t| eval_all(qs, &engine, t),
                BatchSize::PerIteration,
            );
        });
        let after = stats(qs);
        let evals = (after.evaluations - before.evaluations) / after.windows.max(1) as u64;
        if evals == 0 {
            continue; // filtered out
        }
        eprintln!(
            "rules_window: {name}: {evals} group evaluations read {:.0} samples with {:.1} storage selects each on average ({} replayed series windows)",
            (after.samples_read - before.samples_read) as f64 / evals.max(1) as f64,
            (after.selects - before.selects) as f64 / evals.max(1) as f64,
            after.replayed - before.replayed
        );
    }
    let t = world.now();
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("full_30d", |b| b.iter(|| full_all(&r30, &engine, t)));
    group.bench_function("full_1d", |b| b.iter(|| full_all(&r1, &engine, t)));
    group.bench_function("rebuild_30d", |b| {
        b.iter(|| eval_all(&mut incremental(&r30), &engine, t))
    });
    group.finish();

    // 30 d against 1 d interleaved, so that the load of the shared machine hits both alike.
    eval_all(&mut inc30, &engine, world.now());
    eval_all(&mut inc1, &engine, world.now());
    let (mut d30, mut d1) = (Vec::new(), Vec::new());
    for _ in 0..400 {
        let t = world.advance();
        let started = Instant::now();
        eval_all(&mut inc30, &engine, t);
        d30.push(started.elapsed());
        let started = Instant::now();
        eval_all(&mut inc1, &engine, t);
        d1.push(started.elapsed());
    }
    d30.sort();
    d1.sort();
    eprintln!(
        "rules_window: interleaved, median of 400 steps: 30d {:.2?}, 1d {:.2?} (ratio {:.2})",
        d30[200],
        d1[200],
        d30[200].as_secs_f64() / d1[200].as_secs_f64()
    );

    // The non-steady step: the window start entering a new bucket of the ring.
    eval_all(&mut inc30, &engine, world.now());
    let before = stats(&inc30).samples_read;
    let mut worst = (Duration::ZERO, 0u64);
    let mut steps = 0u64;
    let mut total = Duration::ZERO;
    let bucket = 30 * DAY_MS / 8;
    let target = world.now() + bucket;
    while world.now() < target {
        let t = world.advance();
        let read = stats(&inc30).samples_read;
        let started = Instant::now();
        eval_all(&mut inc30, &engine, t);
        let took = started.elapsed();
        total += took;
        steps += 1;
        if took > worst.0 {
            worst = (took, stats(&inc30).samples_read - read);
        }
    }
    let t = world.now();
    check_same(
        "30d after a bucket",
        &eval_all(&mut inc30, &engine, t),
        &full_all(&r30, &engine, t),
    );
    eprintln!(
        "rules_window: over one bucket of the 30d ring ({steps} evaluations): mean {:.2?}, slowest {:.2?} reading {} samples; {} samples read in all",
        total / steps.max(1) as u32,
        worst.0,
        worst.1,
        stats(&inc30).samples_read - before
    );
}

/// The criterion group, in a private module so the generated `pub fn` needs no docs.
mod group {
    criterion::criterion_group!(benches, super::bench);
}
criterion_main!(group::benches);

//! A 30 d window against a 1 d window (issue 8's "30 d costs <= 1.5x 1 d"), in-process.
//!
//! Data: the load generator's canary fleet (`strata_benches::loadgen::workload`), 1,000
//! series scraped every 15 s for 30 days (about 173 M samples), appended to a `Db` with a
//! 40 d retention (so compaction stops at 4 d blocks, as a server run with `--retention 40d`
//! does) and flushed into blocks. Loading takes a few minutes in release mode; with
//! `STRATA_BENCH_DIR=DIR` the data directory is kept there and reused by later runs.
//!
//! Queries at the data's end: `sum(rate(http_requests_total[W]))` and
//! `sum by (job) (increase(http_requests_total[W]))` for W = 30d and 1d, as instant queries
//! and as range queries over the last day at 1 h steps. Setup prints the medians of 30 d and
//! 1 d evaluations interleaved query by query (so that the load of a shared machine hits both
//! alike) and their ratio; criterion then times each.
//!
//! Run: `cargo bench -p strata-benches --bench long_window`. `STRATA_BENCH_DAYS` (default
//! 30) and `STRATA_BENCH_SERIES` (default 1000) shrink the data set for quick runs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_main, Criterion};
use strata_benches::loadgen::workload::{Fleet, FleetSpec, SCRAPE_INTERVAL_MS};
use strata_engine::{Batch, Db, Labels, Options, Sample};
use strata_query::{Engine, Value};

/// Start of the data (ms): an arbitrary fixed time, so runs are comparable.
const START_MS: i64 = 1_700_000_000_000;
const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;
/// Scrape rounds appended per batch while loading (2 h).
const LOAD_ROUNDS: usize = 480;

fn env_or(name: &str, default: i64) -> i64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn options() -> Options {
    Options {
        retention: Some(40 * DAY_MS),
        ..Options::default()
    }
}

/// Appends `series` series x `days` days to a fresh database in `dir` and flushes it.
fn load(series: usize, days: i64, dir: &std::path::Path) -> Arc<Db> {
    let mut fleet = Fleet::new(&FleetSpec { series, seed: 7 }, START_MS);
    let labels: Vec<Labels> = fleet
        .series()
        .iter()
        .map(|s| Labels::from_pairs(&s.labels).expect("workload labels are valid"))
        .collect();
    let db = Arc::new(Db::open(dir, options()).expect("Db::open"));
    let started = Instant::now();
    let mut left = (days * DAY_MS / SCRAPE_INTERVAL_MS) as usize;
    let mut round = Vec::new();
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); labels.len()];
    while left > 0 {
        let k = left.min(LOAD_ROUNDS);
        samples.iter_mut().for_each(Vec::clear);
        for _ in 0..k {
            fleet.round(&mut round);
            for (dst, &(t, v)) in samples.iter_mut().zip(&round) {
                dst.push(Sample::new(t, v));
            }
        }
        let mut b = Batch::with_capacity(labels.len(), k * labels.len());
        for (l, s) in labels.iter().zip(&samples) {
            b.push(l.clone(), s.clone());
        }
        let rep = db.append(&b).expect("append");
        assert_eq!(rep.rejected(), 0, "the workload is in time order");
        left -= k;
    }
    db.flush().expect("flush");
    eprintln!(
        "long_window: loaded {series} series x {days} d in {:.1?}: {} blocks",
        started.elapsed(),
        db.blocks().len()
    );
    db
}

fn queries(w: &str) -> Vec<String> {
    vec![
        format!("sum(rate(http_requests_total[{w}]))"),
        format!("sum by (job) (increase(http_requests_total[{w}]))"),
    ]
}

fn median(mut d: Vec<Duration>) -> Duration {
    d.sort();
    d[d.len() / 2]
}

fn bench(c: &mut Criterion) {
    let series = env_or("STRATA_BENCH_SERIES", 1_000) as usize;
    let days = env_or("STRATA_BENCH_DAYS", 30);
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = match std::env::var_os("STRATA_BENCH_DIR") {
        Some(d) if std::path::Path::new(&d).join("wal").exists() => {
            let db = Arc::new(Db::open(std::path::Path::new(&d), options()).expect("Db::open"));
            eprintln!("long_window: reusing {d:?}: {} blocks", db.blocks().len());
            db
        }
        Some(d) => load(series, days, std::path::Path::new(&d)),
        None => load(series, days, tmp.path()),
    };
    let end = START_MS + days * DAY_MS - 1;
    let engine = Engine::new(db.clone());
    let (q30, q1) = (queries("30d"), queries("1d"));
    let instant = |q: &str| engine.instant(q, end).expect("instant").value;
    let range = |q: &str| {
        engine
            .range(q, end - DAY_MS, end, HOUR_MS)
            .expect("range")
            .value
    };
    for q in q30.iter().chain(&q1) {
        let Value::Vector(v) = instant(q) else {
            panic!("{q}: a vector expected")
        };
        assert!(!v.is_empty(), "{q}: empty result");
    }
    type Run<'a> = &'a dyn Fn(&str) -> Value;
    let kinds: [(&str, Run); 2] = [("instant", &instant), ("range 1d/1h", &range)];
    // Profiling runs (`--profile-time`) skip the interleaved medians.
    let ratios = !std::env::args().any(|a| a == "--profile-time");
    for (kind, run) in kinds.into_iter().filter(|_| ratios) {
        for (a, b) in q30.iter().zip(&q1) {
            let (mut d30, mut d1) = (Vec::new(), Vec::new());
            for _ in 0..25 {
                let t = Instant::now();
                run(a);
                d30.push(t.elapsed());
                let t = Instant::now();
                run(b);
                d1.push(t.elapsed());
            }
            let (m30, m1) = (median(d30), median(d1));
            eprintln!(
                "long_window: {kind} {a}: {m30:.2?}, 1d {m1:.2?} (ratio {:.2})",
                m30.as_secs_f64() / m1.as_secs_f64()
            );
        }
    }

    // Selection alone (the storage side of the instant queries, with the hint they pass).
    let select = |w: i64| {
        let m = [strata_engine::Matcher::equal(
            "__name__",
            "http_requests_total",
        )];
        db.querier(end - w, end)
            .select_within(&m, Some((end - w, end)))
            .expect("select")
            .len()
    };
    if ratios {
        let (mut d30, mut d1) = (Vec::new(), Vec::new());
        for _ in 0..25 {
            let t = Instant::now();
            select(30 * DAY_MS);
            d30.push(t.elapsed());
            let t = Instant::now();
            select(DAY_MS);
            d1.push(t.elapsed());
        }
        let (m30, m1) = (median(d30), median(d1));
        eprintln!(
            "long_window: select http_requests_total over 30d: {m30:.2?}, 1d {m1:.2?} (ratio {:.2})",
            m30.as_secs_f64() / m1.as_secs_f64()
        );
    }

    let mut group = c.benchmark_group("long_window");
    group.sample_size(20);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    for (w, qs) in [("30d", &q30), ("1d", &q1)] {
        for (i, q) in qs.iter().enumerate() {
            group.bench_function(format!("instant_{i}_{w}"), |b| b.iter(|| instant(q)));
            group.bench_function(format!("range_{i}_{w}"), |b| b.iter(|| range(q)));
        }
    }
    group.finish();
}

/// The criterion group, in a private module so the generated `pub fn` needs no docs.
mod group {
    criterion::criterion_group!(benches, super::bench);
}
criterion_main!(group::benches);

//! Differential test of the range-query result cache: one database written over simulated
//! time (in-order scrapes, late samples for new series, deletes, head cuts), and after every
//! round a few range queries on overlapping and shifted grids, each answered by an engine
//! with the cache and by one without; the answers must be identical bit for bit (labels,
//! timestamps, value bits, warnings and errors).

use std::sync::Arc;

use strata_engine::{Batch, Db, Labels, Matcher, Options, Sample};
use strata_query::eval::summary::SummaryMode;
use strata_query::{Engine, EngineOptions, QueryOptions, QueryResult, Value};

const SEC: i64 = 1000;
const MIN: i64 = 60 * SEC;

/// splitmix64: a seeded generator, so a failure reproduces from its seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const EXPRS: &[&str] = &[
    "rate(c[1m])",
    "sum by (job) (rate(c[2m]))",
    "histogram_quantile(0.9, sum by (le) (rate(h_bucket[2m])))",
    "max_over_time(g[3m])",
    "avg_over_time(g[5m])",
    "sum_over_time(g[4m])",
    "count_over_time(c[10m])",
    "increase(c[5m])",
    "changes(g[5m])",
    "last_over_time(g[1m])",
    "max_over_time(rate(c[1m])[5m:30s])",
    "avg_over_time(sum by (job) (g)[3m:])",
    "sum by (job) (c) / on (job) sum by (job) (g)",
    "c * on (job, instance) group_left g",
    "g > 40",
    "absent(nothing)",
    "absent(c{job=\"late\"})",
    "time()",
    "time() - timestamp(g)",
    "g offset 2m",
    "rate(c[1m] offset 3m)",
    "topk(2, g)",
    "label_replace(g, \"x\", \"$1\", \"instance\", \"(.*)\")",
    // Not cacheable: both engines evaluate these in full.
    "g offset -1m",
    "g @ 36000",
];

struct World {
    db: Arc<Db>,
    rng: Rng,
    now: i64,
    /// (labels, value, float step) of the series scraped every round.
    live: Vec<(Labels, f64, bool)>,
    late_series: u64,
    floats: bool,
}

/// A database without background work whose stable bound follows the data, not the clock.
fn manual_db(dir: &std::path::Path) -> Arc<Db> {
    let o = Options {
        background: false,
        stable_clock: false,
        ..Options::default()
    };
    Arc::new(Db::open(dir, o).unwrap())
}

fn lbl(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs).unwrap()
}

impl World {
    fn new(dir: &std::path::Path, seed: u64, floats: bool) -> World {
        let db = Db::open(
            dir,
            Options {
                background: false,
                block_range: 20 * MIN,
                stable_clock: false,
                ..Options::default()
            },
        )
        .unwrap();
        let mut live = Vec::new();
        for job in ["a", "b"] {
            for i in 0..3 {
                let inst = i.to_string();
                live.push((
                    lbl(&[("__name__", "c"), ("job", job), ("instance", &inst)]),
                    0.0,
                    false,
                ));
                live.push((
                    lbl(&[("__name__", "g"), ("job", job), ("instance", &inst)]),
                    50.0,
                    true,
                ));
            }
            for le in ["0.1", "0.5", "+Inf"] {
                live.push((
                    lbl(&[("__name__", "h_bucket"), ("job", job), ("le", le)]),
                    0.0,
                    false,
                ));
            }
        }
        World {
            db: Arc::new(db),
            rng: Rng(seed),
            now: 10 * 24 * 60 * MIN,
            live,
            late_series: 0,
            floats,
        }
    }

    fn value_step(&mut self, gauge: bool) -> f64 {
        let whole = self.rng.below(20) as f64;
        let v = if gauge { whole - 10.0 } else { whole };
        if self.floats {
            v + self.rng.below(1000) as f64 / 1000.0 + 0.1
        } else {
            v
        }
    }

    /// One simulated minute: in-order scrapes (15 s, per-series jitter, some missed), and
    /// at random a late new series, a delete or a head cut.
    fn round(&mut self) {
        let end = self.now + MIN;
        let mut batch = Batch::new();
        for i in 0..self.live.len() {
            if self.rng.chance(3) {
                continue; // a missed minute: staleness by lookback
            }
            let jitter = (i as i64 * 700) % (15 * SEC);
            let mut samples = Vec::new();
            let mut t = self.now + jitter;
            while t < end {
                let gauge = self.live[i].2;
                let d = self.value_step(gauge);
                let v = &mut self.live[i].1;
                *v = if gauge {
                    (*v + d).clamp(0.0, 100.0)
                } else {
                    *v + d
                };
                // A counter reset now and then.
                if !gauge && self.rng.chance(2) {
                    *v = 0.0;
                }
                samples.push(Sample::new(t, *v));
                t += 15 * SEC;
            }
            batch.push(self.live[i].0.clone(), samples);
        }
        self.db.append(&batch).unwrap();
        self.now = end;
        if self.rng.chance(10) {
            // A late sender: a new series whose samples are 6 to 12 minutes old.
            self.late_series += 1;
            let inst = format!("late{}", self.late_series);
            let from = self.now - 12 * MIN + self.rng.below(6) as i64 * MIN;
            let samples = (0..8)
                .map(|k| Sample::new(from + k * 30 * SEC, (k * 3) as f64))
                .collect();
            let mut b = Batch::new();
            b.push(
                lbl(&[("__name__", "c"), ("job", "late"), ("instance", &inst)]),
                samples,
            );
            b.push(
                lbl(&[("__name__", "g"), ("job", "late"), ("instance", &inst)]),
                vec![Sample::new(from + 20 * SEC, 42.0)],
            );
            self.db.append(&b).unwrap();
        }
        if self.rng.chance(5) {
            let inst = self.rng.below(3).to_string();
            let from = self.now - (10 + self.rng.below(20) as i64) * MIN;
            self.db
                .delete_series(
                    &[Matcher::equal("job", "b"), Matcher::equal("instance", inst)],
                    from,
                    from + 3 * MIN,
                )
                .unwrap();
        }
        if self.rng.chance(30) {
            self.db.maintain().unwrap();
        }
    }

    /// A random grid near now: steps and phases from small sets, so that grids repeat,
    /// overlap and shift.
    fn grid(&mut self) -> (i64, i64, i64) {
        let step = [15 * SEC, 30 * SEC, 60 * SEC][self.rng.below(3) as usize];
        let phase = [0, 5 * SEC][self.rng.below(2) as usize];
        // Mostly ending within the last few minutes (past the stable bound), sometimes
        // wholly before it (so that a repeat can be answered from the cache alone).
        let back = if self.rng.chance(30) {
            6 + self.rng.below(15) as i64
        } else {
            self.rng.below(4) as i64
        };
        let end = (self.now - back * MIN) / step * step + phase;
        let steps = 1 + self.rng.below(60) as i64;
        let start = end - (steps - 1) * step - self.rng.below(3) as i64 * step;
        (start, end + self.rng.below(2) as i64 * SEC, step)
    }
}

/// Subquery expressions for the instant-query differential: their inner results go
/// through the cache (a subquery steps on absolute multiples of its step).
const SUBQUERIES: &[&str] = &[
    "max_over_time(rate(c[1m])[5m:30s])",
    "avg_over_time(sum by (job) (g)[3m:])",
    "max_over_time(histogram_quantile(0.9, sum by (le) (rate(h_bucket[2m])))[10m:1m])",
    "sum_over_time(sum by (job) (rate(c[1m]))[20m:1m] offset 2m)",
    "min_over_time((g > 40)[7m:15s])",
    "last_over_time(max_over_time(g[2m])[4m:1m])",
    "max_over_time(max_over_time(rate(c[1m])[3m:30s])[6m:1m])",
];

/// Instant queries with subqueries, answered by an engine whose subqueries reuse cached
/// inner results and by one without a cache, at times that move like a dashboard's
/// refreshes (and jump back now and then), over data that keeps changing: identical bit
/// for bit, and the cache was used.
#[test]
fn subqueries_through_the_cache_equal_uncached() {
    for seed in 31..=33 {
        let dir = tempfile::tempdir().unwrap();
        let mut w = World::new(dir.path(), seed, seed % 2 == 0);
        let cached = Engine::with_options(
            w.db.clone(),
            EngineOptions {
                result_cache_bytes: 64 << 20,
                ..EngineOptions::default()
            },
        );
        let plain = Engine::with_options(w.db.clone(), EngineOptions::default());
        for _ in 0..15 {
            w.round();
        }
        for round in 0..40 {
            w.round();
            for _ in 0..4 {
                let q = SUBQUERIES[w.rng.below(SUBQUERIES.len() as u64) as usize];
                let back = if w.rng.chance(20) {
                    10 + w.rng.below(20) as i64
                } else {
                    w.rng.below(3) as i64
                };
                let t = w.now - back * MIN - w.rng.below(60) as i64 * SEC;
                let o = QueryOptions::default();
                let got = cached.instant_with(q, t, &o);
                let want = plain.instant_with(q, t, &o);
                assert!(
                    same(&got, &want),
                    "seed {seed} round {round}: {q} at {t}:\n cached {got:?}\n plain  {want:?}"
                );
            }
        }
        let s = cached.result_cache_stats().unwrap();
        assert!(s.hits > 20 && s.misses > 0, "seed {seed}: {s:?}");
    }
}

/// Bit-exact comparison of two answers (range or instant), annotations included.
fn same(a: &strata_query::Result<QueryResult>, b: &strata_query::Result<QueryResult>) -> bool {
    match (a, b) {
        (Ok(a), Ok(b)) => {
            a.value.same_bits(&b.value) && a.warnings == b.warnings && a.infos == b.infos
        }
        (Err(a), Err(b)) => a.to_string() == b.to_string(),
        _ => false,
    }
}

fn differential(
    seed: u64,
    floats: bool,
    summaries: SummaryMode,
    cache_bytes: usize,
    min_hits: u64,
) {
    let dir = tempfile::tempdir().unwrap();
    let mut w = World::new(dir.path(), seed, floats);
    let opts = EngineOptions {
        summaries,
        ..EngineOptions::default()
    };
    let cached = Engine::with_options(
        w.db.clone(),
        EngineOptions {
            result_cache_bytes: cache_bytes,
            ..opts.clone()
        },
    );
    let plain = Engine::with_options(w.db.clone(), opts);
    // Each run draws 8 expressions, so that grids repeat often enough to hit.
    let exprs: Vec<&str> = (0..8)
        .map(|_| EXPRS[w.rng.below(EXPRS.len() as u64) as usize])
        .collect();
    let mut compared = 0;
    let mut whole_hits = 0;
    for _ in 0..15 {
        w.round();
    }
    for round in 0..60 {
        w.round();
        for _ in 0..6 {
            let q = exprs[w.rng.below(exprs.len() as u64) as usize];
            let o = QueryOptions {
                lookback_delta: [None, None, None, Some(2 * MIN)][w.rng.below(4) as usize],
                ..QueryOptions::default()
            };
            let (start, end, step) = w.grid();
            // Then, half the time, the same query again over a part of that grid.
            let sub = w.rng.chance(50).then(|| {
                let n = (end - start) / step;
                let a = w.rng.below(n as u64 + 1) as i64;
                let b = a + w.rng.below((n - a) as u64 + 1) as i64;
                (start + a * step, start + b * step, step)
            });
            for (start, end, step) in std::iter::once((start, end, step)).chain(sub) {
                // As the server does: a whole hit first, else the cache-aware evaluation.
                let expr = strata_query::parser::parse(q).unwrap();
                let got = match cached.cached_range(&expr, start, end, step, &o) {
                    Some(r) => {
                        whole_hits += 1;
                        Ok(r)
                    }
                    None => cached.range_with(q, start, end, step, &o),
                };
                let want = plain.range_with(q, start, end, step, &o);
                assert!(
                    same(&got, &want),
                    "seed {seed} round {round}: {q} over [{start}, {end}] step {step}:\n\
                     cached {got:?}\n\
                     plain  {want:?}"
                );
                compared += 1;
            }
        }
    }
    let s = cached.result_cache_stats().unwrap();
    assert!(
        s.hits >= min_hits && s.misses > 20,
        "the cache was exercised: {s:?} over {compared} queries"
    );
    assert!(w.late_series > 0);
    assert!(
        whole_hits <= s.hits && (min_hits == 0 || whole_hits > 0),
        "{whole_hits} whole hits, {s:?}"
    );
    eprintln!("seed {seed}: {s:?}, {whole_hits} whole hits");
}

#[test]
fn cached_range_queries_equal_uncached_on_integer_data() {
    for seed in 1..=4 {
        differential(seed, false, SummaryMode::Auto, 64 << 20, 25);
    }
}

#[test]
fn cached_range_queries_equal_uncached_on_float_data_full_decode() {
    for seed in 11..=13 {
        differential(seed, true, SummaryMode::Never, 64 << 20, 25);
    }
}

#[test]
fn a_tiny_cache_evicts_and_stays_exact() {
    differential(21, false, SummaryMode::Auto, 16 << 10, 5);
}

/// The cache's own effect: a repeated query is served from the cache (no samples loaded),
/// a late sample at an old time is reflected at once, and `no_cache` bypasses.
#[test]
fn repeated_query_hits_and_late_data_invalidates() {
    let dir = tempfile::tempdir().unwrap();
    let db = manual_db(dir.path());
    let mut b = Batch::new();
    let samples = (0..=120)
        .map(|i| Sample::new(i * 15 * SEC, i as f64))
        .collect();
    b.push(lbl(&[("__name__", "c"), ("job", "a")]), samples);
    db.append(&b).unwrap();
    let engine = Engine::with_options(
        db.clone(),
        EngineOptions {
            result_cache_bytes: 1 << 20,
            ..EngineOptions::default()
        },
    );
    let q = "sum(count_over_time({__name__=~\"c|d\"}[1m]))";
    let expr = strata_query::parser::parse(q).unwrap();
    let o = QueryOptions::default();
    assert!(engine.cached_range(&expr, 0, 20 * MIN, MIN, &o).is_none());
    let r1 = engine.range(q, 0, 20 * MIN, MIN).unwrap();
    assert!(r1.stats.samples_loaded > 0);
    let r2 = engine.range(q, 0, 20 * MIN, MIN).unwrap();
    assert_eq!(r2.value, r1.value);
    let s = engine.result_cache_stats().unwrap();
    assert_eq!((s.hits, s.misses, s.entries), (1, 1, 1));
    // The stable bound is 30 min - 5 min: steps up to 25 min were stored; the whole grid
    // came from the cache.
    assert_eq!(r2.stats.samples_loaded, 0);
    // So a whole hit answers it without evaluating, as does a grid inside the entry; a grid
    // past the stored steps is not a whole hit.
    let whole = engine.cached_range(&expr, 0, 20 * MIN, MIN, &o).unwrap();
    assert_eq!(whole.value, r1.value);
    let inner = engine
        .cached_range(&expr, 3 * MIN, 9 * MIN, MIN, &o)
        .unwrap();
    let Value::Matrix(mi) = &inner.value else {
        panic!("matrix expected")
    };
    assert_eq!(
        mi[0].timestamps,
        (3..=9).map(|m| m * MIN).collect::<Vec<_>>()
    );
    assert!(engine.cached_range(&expr, 0, 28 * MIN, MIN, &o).is_none());
    let off = QueryOptions {
        no_cache: true,
        ..QueryOptions::default()
    };
    assert!(engine.cached_range(&expr, 0, 20 * MIN, MIN, &off).is_none());
    let s = engine.result_cache_stats().unwrap();
    assert_eq!(
        (s.hits, s.misses),
        (3, 1),
        "cached_range counts only its hits"
    );
    // A late new series at 10 min: the next answer counts it.
    let mut b = Batch::new();
    b.push(
        lbl(&[("__name__", "d"), ("job", "b")]),
        vec![Sample::new(10 * MIN, 1.0)],
    );
    db.append(&b).unwrap();
    assert!(
        engine.cached_range(&expr, 0, 20 * MIN, MIN, &o).is_none(),
        "the entry is stale"
    );
    let r3 = engine.range(q, 0, 20 * MIN, MIN).unwrap();
    let Value::Matrix(m) = &r3.value else {
        panic!("matrix expected")
    };
    assert_eq!(m[0].values[10], 5.0, "4 samples of c and the late one of d");
    assert_eq!(engine.result_cache_stats().unwrap().misses, 2);
    // A shifted grid reuses the overlap and evaluates the rest.
    let r4 = engine.range(q, 5 * MIN, 28 * MIN, MIN).unwrap();
    let Value::Matrix(m4) = &r4.value else {
        panic!("matrix expected")
    };
    assert_eq!(m4[0].timestamps.first(), Some(&(5 * MIN)));
    assert_eq!(m4[0].timestamps.last(), Some(&(28 * MIN)));
    assert_eq!(engine.result_cache_stats().unwrap().hits, 4);
    // no_cache: neither a hit nor a miss.
    let o = QueryOptions {
        no_cache: true,
        ..QueryOptions::default()
    };
    let r5 = engine.range_with(q, 0, 20 * MIN, MIN, &o).unwrap();
    assert_eq!(r5.value, r3.value);
    assert!(r5.stats.samples_loaded > 0);
    let s = engine.result_cache_stats().unwrap();
    assert_eq!((s.hits, s.misses), (4, 2));
}

/// `histogram_quantile`'s monotonicity info is kept with the steps that raised it: a
/// range query that needed the fix is stored, and later answers from the cache carry the
/// info exactly when their steps include one of those (as an uncached evaluation would).
#[test]
fn histogram_monotonicity_info_is_cached_with_its_steps() {
    let dir = tempfile::tempdir().unwrap();
    let db = manual_db(dir.path());
    // Three cumulative buckets scraped every 15 s for an hour; from 10 to 14 min the
    // le="1" bucket grows faster than le="2", so their rates are not monotonic there.
    let mut b = Batch::new();
    for (le, per_scrape) in [("1", 1.0), ("2", 2.0), ("+Inf", 3.0)] {
        let mut v = 0.0;
        let samples = (0..=240)
            .map(|i| {
                let t = i * 15 * SEC;
                let fast = le == "1" && (10 * MIN..14 * MIN).contains(&t);
                v += if fast { 5.0 } else { per_scrape };
                Sample::new(t, v)
            })
            .collect();
        b.push(lbl(&[("__name__", "h_bucket"), ("le", le)]), samples);
    }
    db.append(&b).unwrap();
    let opts = EngineOptions {
        result_cache_bytes: 1 << 20,
        ..EngineOptions::default()
    };
    let cached = Engine::with_options(db.clone(), opts.clone());
    let plain = Engine::with_options(
        db.clone(),
        EngineOptions {
            result_cache_bytes: 0,
            ..opts
        },
    );
    let q = "histogram_quantile(0.5, sum by (le) (rate(h_bucket[1m])))";
    let expr = strata_query::parser::parse(q).unwrap();
    let o = QueryOptions::default();
    let r1 = cached.range(q, 0, 30 * MIN, MIN).unwrap();
    assert_eq!(r1.infos.len(), 1, "{:?}", r1.infos);
    assert!(r1.infos[0].contains("monotonicity"), "{:?}", r1.infos);
    assert!(same(&Ok(r1.clone()), &plain.range(q, 0, 30 * MIN, MIN)));
    // Whole hits: the entry was stored despite the info, which comes back with the steps
    // that raised it and only with them.
    for (start, end, with_info) in [
        (0, 30 * MIN, true),
        (20 * MIN, 30 * MIN, false),
        (5 * MIN, 12 * MIN, true),
        (0, 9 * MIN, false),
        (14 * MIN, 14 * MIN, true),
    ] {
        let got = cached
            .cached_range(&expr, start, end, MIN, &o)
            .unwrap_or_else(|| panic!("[{start}, {end}] is inside the entry"));
        assert_eq!(!got.infos.is_empty(), with_info, "[{start}, {end}]");
        let want = plain.range(q, start, end, MIN);
        assert!(
            same(&Ok(got.clone()), &want),
            "[{start}, {end}]: {got:?} vs {want:?}"
        );
    }
    // Partial hits, growing the entry on either side.
    for (start, end) in [
        (20 * MIN, 45 * MIN),
        (-10 * MIN, 5 * MIN),
        (-10 * MIN, 50 * MIN),
    ] {
        let got = cached.range(q, start, end, MIN);
        let want = plain.range(q, start, end, MIN);
        assert!(same(&got, &want), "[{start}, {end}]: {got:?} vs {want:?}");
    }
    let grown = cached
        .cached_range(&expr, -10 * MIN, 50 * MIN, MIN, &o)
        .unwrap();
    assert!(same(&Ok(grown), &plain.range(q, -10 * MIN, 50 * MIN, MIN)));
    let s = cached.result_cache_stats().unwrap();
    assert_eq!(s.misses, 1, "{s:?}");
    assert!(s.hits >= 9, "{s:?}");
}

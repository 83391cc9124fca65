//! Property tests of the chunk-summary path ([`super::summary`]) over data that really is in
//! blocks (written, then `Db::flush`), so the chunks carry stored summaries, and over data
//! held in the head only (never flushed), whose sealed chunks carry the summaries the head's
//! chunk files hold beside them (the open chunk has none):
//! * every summary function evaluated with summaries ([`SummaryMode::Always`]) equals the
//!   full decode ([`SummaryMode::Never`]) bit for bit on integer-valued data, as instant
//!   queries (at chunk edges, at times whose window starts on a chunk edge, and elsewhere)
//!   and as range queries; on fractional data the exact functions stay bit-identical and the
//!   sums stay within the bound stated in the summary module;
//! * in the head, where a short window read first left a mark in the open chunk, windows
//!   covering the whole open chunk read the summary of its samples up to the mark and
//!   decode only the rest, with the same results;
//! * a range query's value at every step equals the instant query at that time (default
//!   mode, so either path may be picked per query), for every range function, on data with
//!   resets, gaps, NaN, stale markers and series that start and stop inside the windows.
//!
//! Histories: per series a start, then steps of whole seconds (sometimes a long gap) each
//! adding a counter increment, a reset, a repeated value, a NaN or a stale marker. Small
//! block ranges and re-chunking sizes make chunks of 1 to a few samples with edges at
//! random places, so resets fall inside chunks and exactly between two. In the head the
//! block range is also the chunk range (no chunk straddles an aligned span of it), so small
//! ones cut the head's chunks just as finely; the 2 h one leaves the head to seal chunks at
//! their lengths (80 to 160 samples).

use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;
use strata_engine::{stale_nan, Batch, Db, Labels, Options, Sample};

use super::summary::SummaryMode;
use crate::engine::{Engine, EngineOptions, Value};

/// Removes its directory when dropped.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> TempDir {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        TempDir(std::env::temp_dir().join(format!(
            "strata-query-summary-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        )))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One step of a history: seconds since the previous sample and what the sample is.
#[derive(Clone, Copy, Debug)]
enum Step {
    /// Counter grows by this many units.
    Inc(u32),
    /// Counter restarts at this value.
    Reset(u32),
    /// The previous value again.
    Same,
    /// A NaN value.
    Nan,
    /// A staleness marker.
    Stale,
    /// Zero, negative (true) or positive: equal values whose bits differ, so minima and
    /// maxima must pick the same one of them as the full decode (the first).
    Zero(bool),
}

fn step_strategy() -> impl Strategy<Value = (i64, Step)> {
    let gap = prop_oneof![8 => 1i64..20, 1 => 40i64..200];
    let step = prop_oneof![
        10 => (0u32..50).prop_map(Step::Inc),
        2 => (0u32..10).prop_map(Step::Reset),
        2 => Just(Step::Same),
        1 => Just(Step::Nan),
        1 => Just(Step::Stale),
        1 => any::<bool>().prop_map(Step::Zero),
    ];
    (gap, step)
}

/// A generated data set: histories plus how the Db cuts them into chunks.
#[derive(Clone, Debug)]
struct Data {
    series: Vec<(i64, Vec<(i64, Step)>)>,
    block_range: i64,
    rechunk: usize,
}

fn data_strategy() -> impl Strategy<Value = Data> {
    (
        prop::collection::vec(
            (0i64..60, prop::collection::vec(step_strategy(), 1..80)),
            1..4,
        ),
        prop_oneof![Just(20_000i64), Just(30_000), Just(60_000)],
        0usize..5,
    )
        .prop_map(|(series, block_range, rechunk)| Data {
            series,
            block_range,
            rechunk,
        })
}

/// Histories for the head: longer ones too, and block (so chunk) ranges from 20 s, which
/// cuts chunks of a sample or a few, to the default 2 h, under which chunks are sealed at
/// their lengths.
fn head_data_strategy() -> impl Strategy<Value = Data> {
    (
        prop::collection::vec(
            (
                0i64..60,
                prop_oneof![
                    3 => prop::collection::vec(step_strategy(), 1..80),
                    1 => prop::collection::vec(step_strategy(), 150..400),
                ],
            ),
            1..4,
        ),
        prop_oneof![
            Just(20_000i64),
            Just(30_000),
            Just(60_000),
            Just(600_000),
            Just(7_200_000)
        ],
    )
        .prop_map(|(series, block_range)| Data {
            series,
            block_range,
            rechunk: 0,
        })
}

/// Where [`load`] leaves the data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Store {
    /// Flushed into blocks.
    Blocks,
    /// In the head only.
    Head,
}

/// The samples of one history; values are whole numbers, or multiples of 0.1 with `frac`.
fn samples(start: i64, steps: &[(i64, Step)], frac: bool) -> Vec<Sample> {
    let unit = if frac { 0.1 } else { 1.0 };
    let (mut t, mut v) = (start * 1000, 0.0f64);
    let mut out = Vec::with_capacity(steps.len());
    for &(gap, st) in steps {
        t += gap * 1000;
        let x = match st {
            Step::Inc(k) => {
                v += f64::from(k) * unit;
                v
            }
            Step::Reset(k) => {
                v = f64::from(k) * unit;
                v
            }
            Step::Same => v,
            Step::Nan => f64::NAN,
            Step::Stale => stale_nan(),
            Step::Zero(neg) => {
                v = if neg { -0.0 } else { 0.0 };
                v
            }
        };
        out.push(Sample::new(t, x));
    }
    out
}

/// Writes `d` to a fresh Db and, for [`Store::Blocks`], flushes it into blocks; returns the
/// Db and every chunk's `(min_time, max_time)`.
fn load(dir: &TempDir, d: &Data, frac: bool, at: Store) -> (Arc<Db>, Vec<(i64, i64)>) {
    let db = Db::open(
        &dir.0,
        Options {
            background: false,
            retention: None,
            block_range: d.block_range,
            compaction_chunk_samples: d.rechunk,
            ..Options::default()
        },
    )
    .unwrap();
    let mut batch = Batch::new();
    for (i, (start, steps)) in d.series.iter().enumerate() {
        let id = i.to_string();
        let labels = Labels::from_pairs(&[("__name__", "m"), ("id", id.as_str())]).unwrap();
        batch.push(labels, samples(*start, steps, frac));
    }
    db.append(&batch).unwrap();
    if at == Store::Blocks {
        db.flush().unwrap();
    }
    let all =
        [strata_engine::Matcher::new(strata_engine::MatchOp::Equal, "__name__", "m").unwrap()];
    let mut edges = Vec::new();
    for s in db.querier(i64::MIN / 4, i64::MAX / 4).select(&all).unwrap() {
        let n = s.chunks().len();
        for (i, c) in s.chunks().iter().enumerate() {
            match at {
                Store::Blocks => {
                    assert!(c.is_persisted(), "data must be in blocks after flush");
                    assert!(c.summary().is_some(), "block chunks carry summaries");
                }
                Store::Head => {
                    assert!(!c.is_persisted(), "data must stay in the head");
                    // Every chunk but the open one (the last) is sealed into a chunk file.
                    assert_eq!(
                        c.summary().is_some(),
                        i + 1 < n,
                        "sealed head chunks carry summaries, the open one none"
                    );
                }
            }
            edges.push((c.min_time(), c.max_time()));
        }
    }
    (Arc::new(db), edges)
}

fn engine(db: &Arc<Db>, summaries: SummaryMode) -> Engine {
    Engine::with_options(
        db.clone(),
        EngineOptions {
            summaries,
            ..EngineOptions::default()
        },
    )
}

/// Functions with a summary path; `true` where the result adds values up.
const SUMMARY_FNS: &[(&str, bool)] = &[
    ("rate", true),
    ("increase", true),
    ("delta", false),
    ("sum_over_time", true),
    ("count_over_time", false),
    ("avg_over_time", true),
    ("min_over_time", false),
    ("max_over_time", false),
    ("changes", false),
    ("resets", false),
    ("last_over_time", false),
    ("present_over_time", false),
];

/// A result as `(labels, t) -> value`.
fn points(v: Value) -> BTreeMap<(String, i64), f64> {
    let mut out = BTreeMap::new();
    match v {
        Value::Vector(xs) => {
            for x in xs {
                out.insert((x.labels.to_string(), x.t), x.v);
            }
        }
        Value::Matrix(ms) => {
            for s in ms {
                let l = s.labels.to_string();
                for (t, v) in s.timestamps.iter().zip(&s.values) {
                    out.insert((l.clone(), *t), *v);
                }
            }
        }
        other => panic!("unexpected result {other:?}"),
    }
    out
}

/// Bit-identical (any NaN equals any NaN).
fn same(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits()
}

/// Within the documented bound for non-integer sums: the values here are non-negative and
/// windows hold fewer than 100 of them, so `(4 + 2k) eps S` is far below `1e-12 * |a|`
/// (plus a tiny absolute slack for results near 0).
fn near(a: f64, b: f64) -> bool {
    same(a, b) || (a - b).abs() <= 1e-12 * a.abs().max(b.abs()) + 1e-12
}

fn compare(
    what: &str,
    a: BTreeMap<(String, i64), f64>,
    b: BTreeMap<(String, i64), f64>,
    exact: bool,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "{}: different points",
        what
    );
    for ((k, x), y) in a.iter().zip(b.values()) {
        let ok = if exact { same(*x, *y) } else { near(*x, *y) };
        prop_assert!(
            ok,
            "{}: at {:?}: summaries {} vs full decode {}",
            what,
            k,
            x,
            y
        );
    }
    Ok(())
}

/// Instant times that put window ends and starts exactly on chunk edges (and one ms to
/// either side), plus the time after the last sample.
fn edge_times(edges: &[(i64, i64)], range: i64) -> Vec<i64> {
    let mut ts = Vec::new();
    for &(lo, hi) in edges.iter().take(6) {
        for e in [lo, hi] {
            for d in [-1, 0, 1] {
                ts.push(e + d);
                ts.push(e + range + d);
            }
        }
    }
    if let Some(last) = edges.iter().map(|e| e.1).max() {
        ts.push(last + 5_000);
    }
    ts.sort_unstable();
    ts.dedup();
    ts
}

/// Summaries vs full decode for every summary function, instant and range.
fn check_summaries(
    d: &Data,
    range_s: i64,
    step_s: i64,
    frac: bool,
    at: Store,
) -> Result<(), TestCaseError> {
    let dir = TempDir::new();
    let (db, edges) = load(&dir, d, frac, at);
    let (with, without) = (
        engine(&db, SummaryMode::Always),
        engine(&db, SummaryMode::Never),
    );
    let range = range_s * 1000;
    let times = edge_times(&edges, range);
    let end = edges.iter().map(|e| e.1).max().unwrap_or(0) + range;
    for &(f, sums) in SUMMARY_FNS {
        let q = format!("{f}(m[{range_s}s])");
        let exact = !frac || !sums;
        let (mut loaded_with, mut loaded_without) = (0, 0);
        for &t in &times {
            if at == Store::Head {
                // A short window first, as a dashboard's: where it starts inside the open
                // chunk it leaves a mark there, and windows over the whole open chunk then
                // read the summary up to the mark and decode only the samples after it.
                let short = format!("count_over_time(m[{}ms])", (range / 3).max(1));
                with.instant(&short, t).unwrap();
            }
            let a = with.instant(&q, t).unwrap();
            let b = without.instant(&q, t).unwrap();
            loaded_with += a.stats.samples_loaded;
            loaded_without += b.stats.samples_loaded;
            compare(
                &format!("{q} @ {t}"),
                points(a.value),
                points(b.value),
                exact,
            )?;
        }
        let a = with.range(&q, 0, end, step_s * 1000).unwrap();
        let b = without.range(&q, 0, end, step_s * 1000).unwrap();
        loaded_with += a.stats.samples_loaded;
        loaded_without += b.stats.samples_loaded;
        compare(
            &format!("{q} range"),
            points(a.value),
            points(b.value),
            exact,
        )?;
        prop_assert!(
            loaded_with <= loaded_without,
            "{}: summaries decoded more ({} > {})",
            q,
            loaded_with,
            loaded_without
        );
    }
    Ok(())
}

/// Every range function (with and without a summary path) in a range query against the
/// instant query at each step, in the default mode.
const CONSISTENCY: &[&str] = &[
    "rate(m[R])",
    "increase(m[R])",
    "delta(m[R])",
    "sum_over_time(m[R])",
    "count_over_time(m[R])",
    "avg_over_time(m[R])",
    "min_over_time(m[R])",
    "max_over_time(m[R])",
    "changes(m[R])",
    "resets(m[R])",
    "last_over_time(m[R])",
    "present_over_time(m[R])",
    "first_over_time(m[R])",
    "irate(m[R])",
    "idelta(m[R])",
    "deriv(m[R])",
    "predict_linear(m[R], 60)",
    "quantile_over_time(0.7, m[R])",
    "stddev_over_time(m[R])",
    "stdvar_over_time(m[R])",
    "mad_over_time(m[R])",
    "absent_over_time(m[R])",
    "ts_of_last_over_time(m[R])",
    "sum(increase(m[R]))",
    "max_over_time(m[R] offset 7s)",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn summaries_equal_full_decode_on_integers(
        d in data_strategy(),
        range_s in prop_oneof![Just(20i64), Just(60), Just(150), Just(600), 5i64..400],
        step_s in prop_oneof![Just(10i64), Just(20), Just(30), 1i64..90],
    ) {
        check_summaries(&d, range_s, step_s, false, Store::Blocks)?;
    }

    #[test]
    fn summaries_within_bound_on_fractions(
        d in data_strategy(),
        range_s in prop_oneof![Just(60i64), Just(300), 5i64..400],
        step_s in 1i64..60,
    ) {
        check_summaries(&d, range_s, step_s, true, Store::Blocks)?;
    }

    #[test]
    fn range_equals_instant_at_every_step_over_blocks(
        d in data_strategy(),
        range_s in prop_oneof![Just(60i64), Just(300), 5i64..400],
        step_s in 1i64..60,
    ) {
        check_range_against_instant(&d, range_s, step_s, Store::Blocks)?;
    }

    #[test]
    fn head_summaries_equal_full_decode_on_integers(
        d in head_data_strategy(),
        range_s in prop_oneof![Just(20i64), Just(60), Just(150), Just(600), Just(2400), 5i64..400],
        step_s in prop_oneof![Just(10i64), Just(20), Just(30), 1i64..90],
    ) {
        check_summaries(&d, range_s, step_s, false, Store::Head)?;
    }

    #[test]
    fn head_summaries_within_bound_on_fractions(
        d in head_data_strategy(),
        range_s in prop_oneof![Just(60i64), Just(300), Just(2400), 5i64..400],
        step_s in 1i64..60,
    ) {
        check_summaries(&d, range_s, step_s, true, Store::Head)?;
    }

    #[test]
    fn range_equals_instant_at_every_step_over_the_head(
        d in head_data_strategy(),
        range_s in prop_oneof![Just(60i64), Just(300), Just(2400), 5i64..400],
        step_s in 1i64..60,
    ) {
        check_range_against_instant(&d, range_s, step_s, Store::Head)?;
    }
}

/// Every range function's range query against the instant query at each step, in the
/// default mode.
fn check_range_against_instant(
    d: &Data,
    range_s: i64,
    step_s: i64,
    at: Store,
) -> Result<(), TestCaseError> {
    let dir = TempDir::new();
    let (db, edges) = load(&dir, d, false, at);
    let e = engine(&db, SummaryMode::Auto);
    let end = edges.iter().map(|e| e.1).max().unwrap_or(0) + range_s * 1000;
    // At most ~60 steps (each one an instant query too).
    let step = (step_s * 1000).max(end / 60 / 1000 * 1000);
    for q in CONSISTENCY {
        let q = q.replace('R', &format!("{range_s}s"));
        let r = points(e.range(&q, 0, end, step).unwrap().value);
        let mut t = 0;
        let mut inst = BTreeMap::new();
        while t <= end {
            inst.extend(points(e.instant(&q, t).unwrap().value));
            t += step;
        }
        compare(&format!("{q} range vs instant"), r, inst, true)?;
    }
    Ok(())
}

/// A known case: 30 s chunks of 3 samples each (2 in the first), with a reset inside the
/// chunk of samples 8..=10 and one exactly at the start of the chunk of samples 17..=19, held
/// where `store` says; a window over all of them reads the middle chunks' summaries, decodes
/// only the two edge chunks (and, in the head, the open one), and gives the full decode's
/// answers for each of `queries`.
fn whole_chunks_read_from_summaries(store: Store, rechunk: usize, queries: &[&str]) {
    let dir = TempDir::new();
    // Samples every 10 s from t = 10 s in 30 s blocks (compaction copies 3-sample chunks as
    // they are: none is shorter than half of `rechunk`).
    let steps: Vec<(i64, Step)> = (0..30)
        .map(|i| {
            let st = match i {
                9 => Step::Reset(1),
                17 => Step::Reset(2),
                _ => Step::Inc(3),
            };
            (10, st)
        })
        .collect();
    let d = Data {
        series: vec![(0, steps)],
        block_range: 30_000,
        rechunk,
    };
    let (db, edges) = load(&dir, &d, false, store);
    assert!(
        edges.len() >= 8,
        "expected many small chunks, got {edges:?}"
    );
    let (with, without) = (
        engine(&db, SummaryMode::Always),
        engine(&db, SummaryMode::Never),
    );
    // Window (5 s, 295 s]: samples at 10..=290 s, the first and last chunks cut by its edges.
    for q in queries {
        let a = with.instant(q, 295_000).unwrap();
        let b = without.instant(q, 295_000).unwrap();
        assert!(
            a.stats.samples_loaded < b.stats.samples_loaded,
            "{q}: summaries decoded {} samples, full decode {}",
            a.stats.samples_loaded,
            b.stats.samples_loaded
        );
        assert_eq!(points(a.value), points(b.value), "{q}");
    }
    let Value::Vector(r) = with.instant("resets(m[290s])", 295_000).unwrap().value else {
        panic!("expected a vector")
    };
    assert_eq!(r[0].v, 2.0);
    let Value::Vector(c) = with
        .instant("count_over_time(m[290s])", 295_000)
        .unwrap()
        .value
    else {
        panic!("expected a vector")
    };
    assert_eq!(c[0].v, 29.0);
}

#[test]
fn whole_chunks_are_read_from_summaries() {
    whole_chunks_read_from_summaries(
        Store::Blocks,
        3,
        &[
            "increase(m[290s])",
            "resets(m[290s])",
            "sum_over_time(m[290s])",
            "count_over_time(m[290s])",
        ],
    );
}

/// One series of 100 samples every 10 s from t = 10 s (sample `i` made by `step(i)`,
/// fractional values with `frac`), all in the head's open chunk; engines reading it with
/// summaries and without.
fn open_chunk_engines(dir: &TempDir, frac: bool, step: impl Fn(u32) -> Step) -> (Engine, Engine) {
    let d = Data {
        series: vec![(0, (0..100u32).map(|i| (10, step(i))).collect())],
        block_range: 2 * 3_600_000,
        rechunk: 0,
    };
    let (db, edges) = load(dir, &d, frac, Store::Head);
    assert_eq!(edges, vec![(10_000, 1_000_000)], "one open chunk");
    (
        engine(&db, SummaryMode::Always),
        engine(&db, SummaryMode::Never),
    )
}

/// An open head chunk in which a reader left a mark (a reader of the whole chunk at its
/// next-to-last sample, a short window's reader where its window starts): a window covering
/// the whole chunk reads the summary of its samples up to the mark and decodes only the
/// samples after it, with the full decode's answers, except for the compensated sums (decoded
/// whole); a mark moved back by a longer short window moves the split with it.
#[test]
fn an_open_chunk_is_read_from_the_summary_up_to_its_mark() {
    let dir = TempDir::new();
    // 100 samples every 10 s from t = 10 s, all in the open chunk: a counter with a reset at
    // the 61st, a stale marker at the 30th and an unchanged value at the 60th.
    let (with, without) = open_chunk_engines(&dir, false, |i| match i {
        60 => Step::Reset(2),
        29 => Step::Stale,
        59 => Step::Same,
        _ => Step::Inc(3),
    });
    // Whether a query splits: the compensated sums never do; the counter functions do, with
    // the reset before the mark (the first two marks) or after it (the third).
    let queries = [
        ("increase(m[2000s])", "yes"),
        ("rate(m[2000s])", "yes"),
        ("delta(m[2000s])", "yes"),
        ("resets(m[2000s])", "yes"),
        ("changes(m[2000s])", "yes"),
        ("sum_over_time(m[2000s])", "no"),
        ("avg_over_time(m[2000s])", "no"),
        ("count_over_time(m[2000s])", "yes"),
        ("min_over_time(m[2000s])", "yes"),
        ("max_over_time(m[2000s])", "yes"),
        ("last_over_time(m[2000s])", "yes"),
        ("present_over_time(m[2000s])", "yes"),
    ];
    // The first long-window read leaves a mark at the next-to-last sample (and decodes only
    // the last one); a short window then moves it to after the 90th sample (a 100 s window at
    // the end), then after the 50th (before the reset).
    let marks = [(None, 1), (Some("m[100s]"), 10), (Some("m[500s]"), 50)];
    for (short, rest) in marks {
        if let Some(short) = short {
            with.instant(&format!("count_over_time({short})"), 1_000_000)
                .unwrap();
        }
        for (q, splits) in queries {
            let a = with.instant(q, 1_000_000).unwrap();
            let b = without.instant(q, 1_000_000).unwrap();
            let split = splits == "yes";
            let want = if split { rest } else { 99 };
            assert_eq!(
                a.stats.samples_loaded, want,
                "{q} after {short:?}: the samples after the mark, or all"
            );
            assert_eq!(b.stats.samples_loaded, 99, "{q}: the full decode");
            assert_eq!(points(a.value), points(b.value), "{q} after {short:?}");
        }
        // A range whose windows start inside the chunk: no split, same answers.
        for q in [
            "increase(m[300s])",
            "changes(m[300s])",
            "sum_over_time(m[300s])",
        ] {
            let a = with.range(q, 100_000, 1_000_000, 50_000).unwrap();
            let b = without.range(q, 100_000, 1_000_000, 50_000).unwrap();
            assert_eq!(
                points(a.value),
                points(b.value),
                "{q} range after {short:?}"
            );
        }
    }
}

/// A fractional counter with resets before and after the mark: `rate` and `increase` over
/// the whole open chunk read the split and still give the full decode's bits (the prefix's
/// corrections are added one by one, in order, as the full decode adds them).
#[test]
fn counters_over_a_split_open_chunk_keep_the_full_decodes_bits() {
    let dir = TempDir::new();
    let (with, without) = open_chunk_engines(&dir, true, |i| match i {
        20 | 45 | 70 => Step::Reset(i % 7),
        _ => Step::Inc(1 + (i % 5)),
    });
    for (short, rest) in [("m[100s]", 10), ("m[500s]", 50)] {
        with.instant(&format!("count_over_time({short})"), 1_000_000)
            .unwrap();
        for q in ["increase(m[2000s])", "rate(m[2000s])", "resets(m[2000s])"] {
            let a = with.instant(q, 1_000_000).unwrap();
            let b = without.instant(q, 1_000_000).unwrap();
            assert_eq!(a.stats.samples_loaded, rest, "{q} after {short}: split");
            let (a, b) = (points(a.value), points(b.value));
            let bits = |m: &BTreeMap<(String, i64), f64>| {
                m.values().map(|v| v.to_bits()).collect::<Vec<_>>()
            };
            assert_eq!(bits(&a), bits(&b), "{q} after {short}: {a:?} against {b:?}");
        }
    }
}

/// The head's sealed chunks (no flush) are read from their summaries as block chunks are.
#[test]
fn sealed_head_chunks_are_read_from_summaries() {
    whole_chunks_read_from_summaries(
        Store::Head,
        0,
        &[
            "increase(m[290s])",
            "rate(m[290s])",
            "resets(m[290s])",
            "changes(m[290s])",
            "sum_over_time(m[290s])",
            "count_over_time(m[290s])",
            "max_over_time(m[290s])",
        ],
    );
}

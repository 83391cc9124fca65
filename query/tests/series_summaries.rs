//! Long windows over blocks whose index entries carry series summaries: a range function
//! whose windows all cover a series' chunks in a block reads that block's series summary
//! (one piece) instead of each chunk's, and answers exactly what a full decode answers, as
//! instant and range queries, for every function with a summary path and for functions
//! without one (which then decode the piece's chunks).

use std::sync::Arc;

use strata_engine::{stale_nan, Batch, Db, Labels, Matcher, Options, Sample};
use strata_query::eval::summary::SummaryMode;
use strata_query::{Engine, EngineOptions};

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;

/// Four series over 12 h at 5 s in blocks of 1 h compacted to 3 h, chunks of 120 samples
/// kept (6 or more per series and block, so every entry carries a series summary): counters with resets inside and at the
/// edges of chunks, a gauge with NaN in one block, a counter with a staleness gap.
fn load(dir: &std::path::Path) -> Arc<Db> {
    let db = Db::open(
        dir,
        Options {
            background: false,
            // Compaction stops at a tenth of the retention: 3 h blocks.
            retention: Some(30 * HOUR),
            block_range: HOUR,
            compaction_chunk_samples: 0,
            ..Options::default()
        },
    )
    .unwrap();
    let n = 12 * 720;
    for i in 0..4i64 {
        let name = if i == 2 { "g" } else { "c_total" };
        let l = Labels::from_pairs(&[("__name__", name), ("i", &i.to_string())]).unwrap();
        let s: Vec<Sample> = (0..n)
            .filter(|k| !(i == 3 && (3000..3400).contains(k)))
            .map(|k| {
                let v = match i {
                    0 => ((k % 1000) * 3) as f64,
                    1 => ((k % 120) + (k / 120)) as f64,
                    2 if (4000..4100).contains(&k) => f64::NAN,
                    2 => ((k * 37) % 101) as f64,
                    _ if k == 3400 => stale_nan(),
                    _ => (k % 777) as f64,
                };
                Sample::new(k * 5_000, v)
            })
            .collect();
        let mut b = Batch::new();
        b.push(l, s);
        assert_eq!(db.append(&b).unwrap().rejected(), 0);
    }
    db.flush().unwrap();
    Arc::new(db)
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

const FUNCTIONS: &[&str] = &[
    "rate",
    "increase",
    "delta",
    "sum_over_time",
    "count_over_time",
    "avg_over_time",
    "min_over_time",
    "max_over_time",
    "changes",
    "resets",
    "last_over_time",
    "present_over_time",
    "quantile_over_time(0.5,",
    "stddev_over_time",
    "irate",
];

#[test]
fn series_summaries_answer_what_a_full_decode_answers() {
    let dir = tempfile::tempdir().unwrap();
    let db = load(dir.path());
    // The blocks' index entries carry series summaries, and a select over a long span
    // hands them out.
    let q = db.querier(0, 12 * HOUR);
    let sel = q
        .select_within(
            &[Matcher::equal("__name__", "c_total")],
            Some((-1, 12 * HOUR)),
        )
        .unwrap();
    let blocks = db.blocks().len();
    assert_eq!(blocks, 4);
    for s in &sel {
        let whole = s.chunks().iter().filter(|c| c.is_whole()).count();
        assert_eq!(whole, blocks, "{}: one piece per block", s.labels);
    }

    let (with, always, without) = (
        engine(&db, SummaryMode::Auto),
        engine(&db, SummaryMode::Always),
        engine(&db, SummaryMode::Never),
    );
    let end = 12 * HOUR - 1;
    for f in FUNCTIONS {
        let call = |sel: &str| {
            if f.ends_with(',') {
                format!("{f} {sel})")
            } else {
                format!("{f}({sel})")
            }
        };
        for w in ["11h", "7h30m", "3h", "50m"] {
            for sel in [format!("c_total[{w}]"), format!("g[{w}]")] {
                let q = call(&sel);
                for t in [end, end - 17 * MIN, 9 * HOUR] {
                    let want = without.instant(&q, t).unwrap().value;
                    for e in [&with, &always] {
                        let got = e.instant(&q, t).unwrap().value;
                        assert!(got.same_bits(&want), "{q} at {t}: {got:?} vs {want:?}");
                    }
                }
                for (start, step) in [(8 * HOUR, 10 * MIN), (11 * HOUR, 37_000), (0, HOUR)] {
                    let want = without.range(&q, start, end, step).unwrap().value;
                    for e in [&with, &always] {
                        let got = e.range(&q, start, end, step).unwrap().value;
                        assert!(got.same_bits(&want), "{q} range from {start} step {step}");
                    }
                }
            }
        }
    }
    // Reading series summaries decodes fewer samples.
    let q = "sum(increase(c_total[11h]))";
    let a = with.instant(q, end).unwrap().stats.samples_loaded;
    let b = without.instant(q, end).unwrap().stats.samples_loaded;
    assert!(a * 5 < b, "{a} samples loaded with summaries, {b} without");
}

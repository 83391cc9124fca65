//! Incremental windows when stored history changes behind them: out-of-order samples older
//! than what a window already folded in, and deletes. Each evaluation must equal a full
//! evaluation of the same expression bit for bit, and the windows must have been rebuilt
//! (not merely agree by chance).

use std::sync::Arc;

use strata_engine::{Batch, Db, Labels, Matcher, Options, Sample};
use strata_query::{Engine, Value};
use strata_rules::window::{IncrementalOptions, IncrementalQuery};

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;
const T0: i64 = 1_700_000_000_000 - 1_700_000_000_000 % HOUR;

fn labels(pod: &str) -> Labels {
    Labels::from_pairs(&[("__name__", "req_total"), ("pod", pod)]).unwrap()
}

fn put(db: &Db, pod: &str, samples: Vec<Sample>) -> u64 {
    let mut b = Batch::new();
    b.push(labels(pod), samples);
    let r = db.append(&b).unwrap();
    assert_eq!(r.rejected(), 0, "{:?}", r.first_rejection);
    r.out_of_order_appended
}

#[test]
fn late_samples_and_deletes_make_incremental_windows_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(
        Db::open(
            dir.path(),
            Options {
                background: false,
                retention: None,
                out_of_order_window: 3 * HOUR,
                ..Options::default()
            },
        )
        .unwrap(),
    );
    let engine = Engine::new(db.clone());
    // Two counters over 4 h at 15 s; every 7th sample of pod a held back.
    let mut held = Vec::new();
    for (pod, step) in [("a", 3.0), ("b", 5.0)] {
        let mut samples = Vec::new();
        for i in 0..(4 * 240) {
            let s = Sample::new(T0 + i * 15_000, step * i as f64);
            if pod == "a" && i % 7 == 3 {
                held.push(s);
            } else {
                samples.push(s);
            }
        }
        put(&db, pod, samples);
    }
    let exprs = [
        "sum(increase(req_total[2h]))",
        "sum_over_time(req_total[90m])",
        "max_over_time(req_total[3h])",
        "count_over_time(req_total[1h])",
    ];
    let mut queries: Vec<IncrementalQuery> = exprs
        .iter()
        .map(|e| IncrementalQuery::new(e, IncrementalOptions::default()).unwrap())
        .collect();
    let check = |queries: &mut Vec<IncrementalQuery>, t: i64, what: &str| {
        for (q, e) in queries.iter_mut().zip(exprs) {
            let inc = q.eval(&engine, t).unwrap();
            let full = engine.instant(e, t).unwrap();
            assert!(
                Value::same_bits(&inc.value, &full.value),
                "{what}: {e} at {t}: incremental {:?} vs full {:?}",
                inc.value,
                full.value
            );
        }
    };
    let end = T0 + 4 * HOUR - 15_000;
    check(&mut queries, end - 10 * MIN, "first evaluation");
    check(&mut queries, end - 9 * MIN, "incremental step");
    let builds: Vec<u64> = queries.iter().map(|q| q.stats().builds).collect();
    // The held-back samples arrive late, up to 2.5 h behind the newest.
    let late: Vec<Sample> = held
        .into_iter()
        .filter(|s| s.t >= end - 150 * MIN)
        .collect();
    assert!(!late.is_empty());
    assert_eq!(put(&db, "a", late.clone()), late.len() as u64);
    check(&mut queries, end - 8 * MIN, "after out-of-order samples");
    for (q, before) in queries.iter().zip(&builds) {
        assert!(q.stats().builds > *before, "{:?} was not rebuilt", q.expr());
    }
    check(&mut queries, end - 7 * MIN, "incremental again");
    let builds: Vec<u64> = queries.iter().map(|q| q.stats().builds).collect();
    db.delete_series(&[Matcher::equal("pod", "b")], end - 2 * HOUR, end - HOUR)
        .unwrap();
    check(&mut queries, end - 6 * MIN, "after a delete");
    for (q, before) in queries.iter().zip(&builds) {
        assert!(q.stats().builds > *before, "{:?} was not rebuilt", q.expr());
    }
}

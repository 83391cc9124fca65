//! PromQL over data that arrived out of order (stored by the out-of-order window, partly
//! cut into overlapping blocks, partly still in the head) answers exactly what it answers
//! over the same samples appended in order: instant and range queries, with the
//! chunk-summary path on and off.

use std::sync::Arc;

use strata_engine::{Batch, Db, Labels, Options, Sample};
use strata_query::eval::summary::SummaryMode;
use strata_query::{Engine, EngineOptions};

const MIN: i64 = 60_000;
const T0: i64 = 1_700_000_000_000 - 1_700_000_000_000 % (60 * MIN);

fn open(dir: &std::path::Path) -> Arc<Db> {
    Arc::new(
        Db::open(
            dir,
            Options {
                background: false,
                retention: None,
                block_range: 30 * MIN,
                out_of_order_window: 45 * MIN,
                ..Options::default()
            },
        )
        .unwrap(),
    )
}

/// Counters and gauges of 6 series over 3 h at 15 s, with a counter reset.
fn samples() -> Vec<(Labels, Vec<Sample>)> {
    (0..6)
        .map(|i| {
            let name = if i % 2 == 0 { "c_total" } else { "g" };
            let l = Labels::from_pairs(&[
                ("__name__", name),
                ("pod", &format!("p{i}")),
                ("job", if i < 3 { "a" } else { "b" }),
            ])
            .unwrap();
            let s = (0..720)
                .map(|k| {
                    let v = if name == "c_total" {
                        ((k % 500) * (i + 1)) as f64
                    } else {
                        ((k * 37 + i * 11) % 101) as f64 / 7.0
                    };
                    Sample::new(T0 + k * 15_000, v)
                })
                .collect();
            (l, s)
        })
        .collect()
}

#[test]
fn queries_over_late_data_equal_queries_over_in_order_data() {
    let data = samples();
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (ordered, late) = (open(d1.path()), open(d2.path()));
    for (l, s) in &data {
        let mut b = Batch::new();
        b.push(l.clone(), s.clone());
        assert_eq!(ordered.append(&b).unwrap().rejected(), 0);
    }
    // The late database gets each 10-minute slice with every third sample held back; the
    // held samples arrive 20 minutes later (out of order), with cuts in between.
    let mut held: Vec<(Labels, Sample)> = Vec::new();
    let slice = 40;
    for start in (0..720).step_by(slice) {
        let mut b = Batch::new();
        for (l, s) in &data {
            let part: Vec<Sample> = s[start..start + slice]
                .iter()
                .enumerate()
                .filter_map(|(k, x)| {
                    if (start + k) % 3 == 1 {
                        held.push((l.clone(), *x));
                        None
                    } else {
                        Some(*x)
                    }
                })
                .collect();
            b.push(l.clone(), part);
        }
        assert_eq!(late.append(&b).unwrap().rejected(), 0);
        let now = T0 + (start + slice) as i64 * 15_000;
        let (due, rest): (Vec<_>, Vec<_>) =
            held.into_iter().partition(|(_, x)| x.t < now - 20 * MIN);
        held = rest;
        let mut b = Batch::new();
        for (l, x) in due {
            b.push(l, vec![x]);
        }
        let r = late.append(&b).unwrap();
        assert_eq!(r.rejected(), 0, "{:?}", r.first_rejection);
        assert_eq!(r.out_of_order_appended, r.appended);
        late.maintain().unwrap();
    }
    let mut b = Batch::new();
    for (l, x) in held {
        b.push(l, vec![x]);
    }
    late.append(&b).unwrap();
    assert!(
        late.stats().ooo_samples > 0,
        "some late samples still in the head"
    );
    assert!(!late.blocks().is_empty(), "some cut into blocks");
    let exprs = [
        "rate(c_total[5m])",
        "sum by (job) (increase(c_total[1h]))",
        "resets(c_total[2h])",
        "changes(g[30m])",
        "sum_over_time(g[1h])",
        "avg_over_time(g[10m])",
        "max_over_time(g[2h]) - min_over_time(g[2h])",
        "count_over_time(g[3h])",
        "last_over_time(g[1m])",
        "g",
        "delta(g[15m])",
    ];
    for mode in [SummaryMode::Auto, SummaryMode::Never] {
        let opts = EngineOptions {
            summaries: mode,
            ..EngineOptions::default()
        };
        let (e1, e2) = (
            Engine::with_options(ordered.clone(), opts.clone()),
            Engine::with_options(late.clone(), opts),
        );
        for e in exprs {
            for t in [T0 + 90 * MIN, T0 + 179 * MIN] {
                let (a, b) = (e1.instant(e, t).unwrap(), e2.instant(e, t).unwrap());
                assert!(
                    a.value.same_bits(&b.value),
                    "{e} at {t}: {:?} vs {:?}",
                    a.value,
                    b.value
                );
            }
            let (a, b) = (
                e1.range(e, T0, T0 + 180 * MIN, 60_000).unwrap(),
                e2.range(e, T0, T0 + 180 * MIN, 60_000).unwrap(),
            );
            assert!(a.value.same_bits(&b.value), "{e} range differs");
        }
    }
}

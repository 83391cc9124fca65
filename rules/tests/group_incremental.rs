//! A rule group evaluated with incremental windows records exactly what the same group
//! records with every rule evaluated in full: two databases receive the same data, one
//! group runs with [`EvalContext::incremental`] on and one with it off, at the same
//! timestamps while new samples keep arriving; every recorded sample (rule outputs,
//! `ALERTS`, `ALERTS_FOR_STATE`, stale markers) must be bit-identical. A reload that keeps
//! an expression keeps its windows; one that changes it rebuilds them.
//!
//! The databases run their maintenance (head cuts into blocks, compaction) between
//! appends, at the same points for both, rather than on background threads: a query that
//! races a background head cut can transiently miss samples in either path, which would
//! make the comparison depend on timing.

use std::collections::BTreeMap;
use std::sync::Arc;

use strata_engine::{Batch, Db, Labels, MatchOp, Matcher, Options, Sample};
use strata_query::Engine;
use strata_rules::file;
use strata_rules::group::{EvalContext, Group, GroupDef};
use strata_rules::metrics::GroupMetrics;
use strata_rules::schedule::Alignment;

const T0: i64 = 1_700_000_000_000;
const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;
const SCRAPE: i64 = 30_000;

const RULES: &str = r#"
groups:
  - name: slo
    rules:
      - record: job:requests:rate5m
        expr: sum by (job) (rate(http_requests_total[5m]))
      - record: job:requests:rate1d
        expr: sum by (job) (rate(http_requests_total[1d]))
      - record: job:errors:ratio6h
        expr: |
          sum by (job) (increase(http_requests_total{status=~"5.."}[6h]))
            / sum by (job) (increase(http_requests_total[6h]))
      - record: job:requests:rate5m:avg2h
        expr: avg_over_time(job:requests:rate5m[2h])
      - record: latency:stats3h
        expr: |
          max_over_time(latency_seconds[3h]) - min_over_time(latency_seconds[3h])
            + count_over_time(latency_seconds[3h]) + sum_over_time(latency_seconds[3h])
            + delta(latency_seconds[2h])
      - record: cpu:rate1h
        expr: rate(cpu_seconds_total[1h])
      - alert: ErrorBudgetBurn
        expr: job:errors:ratio6h > 0.03
        for: 10m
        labels: {severity: page}
        annotations: {summary: "{{ $labels.job }} at {{ $value }}"}
"#;

/// Deterministic generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The fleet: per job and instance, request counters by status (integer, with a restart
/// every ~5 h), a float CPU counter and a latency gauge; scraped every 30 s with a per
/// instance offset.
struct Fleet {
    rng: Rng,
    series: Vec<(Labels, f64, i64)>,
    round: i64,
    /// Blocks cut from the heads of the databases so far.
    head_blocks: u64,
}

impl Fleet {
    fn new() -> Fleet {
        let mut series = Vec::new();
        for (job, inst) in [("api", "a1"), ("api", "a2"), ("web", "w1")] {
            let off = 1_000 + inst.len() as i64 * 977 + inst.as_bytes()[1] as i64 * 13;
            for status in ["200", "500"] {
                series.push((
                    Labels::from_pairs(&[
                        ("__name__", "http_requests_total"),
                        ("job", job),
                        ("instance", inst),
                        ("status", status),
                    ])
                    .unwrap(),
                    0.0,
                    off,
                ));
            }
            series.push((
                Labels::from_pairs(&[("__name__", "cpu_seconds_total"), ("instance", inst)])
                    .unwrap(),
                0.0,
                off,
            ));
            series.push((
                Labels::from_pairs(&[
                    ("__name__", "latency_seconds"),
                    ("job", job),
                    ("instance", inst),
                ])
                .unwrap(),
                0.0,
                off,
            ));
        }
        Fleet {
            rng: Rng(0x9e37_79b9_7f4a_7c15),
            series,
            round: 0,
            head_blocks: 0,
        }
    }

    /// Appends the scrape rounds before `until` to every database.
    fn advance(&mut self, until: i64, dbs: &[&Db]) {
        let mut per: Vec<Vec<Sample>> = vec![Vec::new(); self.series.len()];
        loop {
            let base = T0 + self.round * SCRAPE;
            if base + 5_000 > until {
                break;
            }
            let restart = self.round % 613 == 600;
            // An error burst on job api between hours 20 and 22.
            let burst = (20 * HOUR..22 * HOUR).contains(&(base - T0));
            for (i, (l, v, off)) in self.series.iter_mut().enumerate() {
                let r = self.rng.next();
                let name = l.metric_name().unwrap_or("");
                *v = match name {
                    "http_requests_total" if restart => 0.0,
                    "http_requests_total" => {
                        let errors = l.get("status") == Some("500");
                        let share = match (errors, burst && l.get("job") == Some("api")) {
                            (false, _) => 1.0,
                            (true, false) => 0.02,
                            (true, true) => 0.2,
                        };
                        *v + (40.0 * share * (0.5 + r)).round()
                    }
                    "cpu_seconds_total" if restart => 0.0,
                    "cpu_seconds_total" => *v + 0.25 * r,
                    _ => 0.05 + 0.3 * r * r,
                };
                per[i].push(Sample::new(base + *off, *v));
            }
            self.round += 1;
        }
        let mut batch = Batch::new();
        for ((l, _, _), s) in self.series.iter().zip(per) {
            if !s.is_empty() {
                batch.push(l.clone(), s);
            }
        }
        for db in dbs {
            let r = db.append(&batch).unwrap();
            assert_eq!(r.rejected(), 0);
            self.head_blocks += db.maintain().unwrap().head_blocks;
        }
    }
}

fn group(text: &str) -> Arc<GroupDef> {
    let f = file::parse("/rules/slo.yml", text).unwrap();
    Arc::new(GroupDef::new(
        &f.path,
        &f.groups[0],
        MIN,
        Alignment::Prometheus3,
    ))
}

/// Every sample of every series the rules wrote, as bits.
fn recorded(db: &Db) -> BTreeMap<Labels, Vec<(i64, u64)>> {
    let m = Matcher::new(MatchOp::Regex, "__name__", ".*:.*|ALERTS|ALERTS_FOR_STATE").unwrap();
    db.querier(i64::MIN / 4, i64::MAX / 4)
        .select(&[m])
        .unwrap()
        .into_iter()
        .map(|s| {
            let v = s
                .samples()
                .into_iter()
                .map(|x| (x.t, x.v.to_bits()))
                .collect();
            (s.labels.clone(), v)
        })
        .collect()
}

#[test]
fn incremental_and_full_groups_record_the_same_samples() {
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let opts = || Options {
        background: false,
        ..Options::default()
    };
    let inc_db = Arc::new(Db::open(dirs.0.path(), opts()).unwrap());
    let full_db = Arc::new(Db::open(dirs.1.path(), opts()).unwrap());
    let mut fleet = Fleet::new();
    let start = T0 + 19 * HOUR;
    fleet.advance(start, &[&inc_db, &full_db]);
    let cut_before = fleet.head_blocks;

    let inc_ctx = EvalContext::new(Engine::new(inc_db.clone()));
    // The reference decodes every sample: chunk summaries add sums of non-integer values in
    // another order (see query/src/eval/summary.rs), the incremental windows add them in
    // sample order, exactly as a full decode does.
    let mut full_ctx = EvalContext::new(Engine::with_options(
        full_db.clone(),
        strata_query::EngineOptions {
            summaries: strata_query::eval::summary::SummaryMode::Never,
            ..Default::default()
        },
    ));
    full_ctx.incremental = None;
    let def = group(RULES);
    let inc_metrics = Arc::new(GroupMetrics::default());
    let mut inc = Group::new(def.clone(), inc_metrics.clone());
    let mut full = Group::new(def.clone(), Arc::new(GroupMetrics::default()));

    // Four hours every minute (the burst fires the alert and resolves it), samples
    // arriving between evaluations.
    let mut ts = start;
    for step in 0..240 {
        ts = start + step * MIN + 17;
        fleet.advance(ts, &[&inc_db, &full_db]);
        let a = inc.eval(&inc_ctx, ts, &|| false);
        let b = full.eval(&full_ctx, ts, &|| false);
        assert_eq!(a, b, "samples produced at step {step}");
    }
    // The heads were cut into blocks while the group ran, so windows span blocks.
    assert!(
        fleet.head_blocks > cut_before,
        "no head cut during the run: {cut_before} -> {}",
        fleet.head_blocks
    );
    let (want, got) = (recorded(&full_db), recorded(&inc_db));
    assert_eq!(got.len(), want.len());
    assert!(want.keys().any(|l| l.metric_name() == Some("ALERTS")));
    for (l, w) in &want {
        assert_eq!(got.get(l), Some(w), "series {l}");
    }
    let samples: usize = want.values().map(Vec::len).sum();
    assert!(samples > 240 * 6, "{samples}");

    // Five rules keep windows (the 5m rate does not); full evaluation keeps none.
    assert_eq!(inc.incremental_rules(), 5);
    assert_eq!(full.incremental_rules(), 0);
    let st = inc.window_stats();
    assert_eq!(
        st.builds, st.windows as u64,
        "each window built once: {st:?}"
    );
    assert!(st.series > 0 && st.bytes > 0);
    let w = &inc_metrics.windows;
    let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(load(&w.rules), 5);
    assert_eq!(load(&w.memory_bytes), st.bytes as u64);
    assert_eq!(load(&w.builds_total), st.builds);
    assert_eq!(load(&w.evaluations_total), st.evaluations);

    // A reload that keeps every expression but one: kept windows are not rebuilt, the
    // changed rule's are, and the results still agree.
    let changed = RULES.replace("rate(cpu_seconds_total[1h])", "rate(cpu_seconds_total[2h])");
    let def2 = group(&changed);
    let mut inc2 = Group::new(def2.clone(), inc_metrics.clone());
    inc2.copy_state_from(inc);
    let mut full2 = Group::new(def2, Arc::new(GroupMetrics::default()));
    full2.copy_state_from(full);
    let builds_before = load(&w.builds_total);
    for step in 1..=30 {
        let t = ts + step * MIN;
        fleet.advance(t, &[&inc_db, &full_db]);
        assert_eq!(
            inc2.eval(&inc_ctx, t, &|| false),
            full2.eval(&full_ctx, t, &|| false)
        );
    }
    assert_eq!(
        load(&w.builds_total),
        builds_before + 1,
        "only cpu:rate1h rebuilt"
    );
    assert_eq!(recorded(&inc_db), recorded(&full_db));
}

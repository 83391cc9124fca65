//! PromQL latency of the embedded engine: the queries of `strata-querybench` over
//! [`strata_query::Engine`], without HTTP, so that regressions show without running peers.
//!
//! Data: the canary-fleet workload (`strata_benches::loadgen::workload`) with 2,184 series
//! (14 instances x 156 series) over 2 h at a 15 s scrape interval (480 samples per series,
//! about 1 M samples), appended to a `Db` in a temp dir during setup (not timed).
//!
//! Every query runs as an instant query at the data's end (`query_instant/<name>`) and as a
//! range query over the last hour at step 60 s (`query_range/<name>`), the same shapes as the
//! HTTP benchmark. Setup checks that each query succeeds and returns a non-empty result.
//!
//! Run: `cargo bench -p strata-benches --bench query` (add a name to filter, e.g. `p99`).

use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_main, Criterion};
use strata_benches::loadgen::workload::{Fleet, FleetSpec, SCRAPE_INTERVAL_MS};
use strata_engine::{Batch, Db, Labels, Options, Sample};
use strata_query::{Engine, Value};

/// 14 whole instances of the fleet.
const SERIES: usize = 2_184;
/// Hours of data.
const HOURS: i64 = 2;
/// Series per appended batch.
const BATCH_SERIES: usize = 250;
/// Start of the data (ms): an arbitrary fixed time, so runs are comparable.
const START_MS: i64 = 1_700_000_000_000;
/// Range and step of the range queries (ms).
const RANGE_MS: i64 = 3_600_000;
const STEP_MS: i64 = 60_000;

/// The queries of `strata-querybench` (`benches/src/bin/querybench.rs`; keep both lists the
/// same). The SLO ratio spans the whole 2 h of data.
const QUERIES: [(&str, &str); 11] = [
    (
        "rate_by_version",
        "sum(rate(http_requests_total[5m])) by (version)",
    ),
    (
        "error_ratio_by_job",
        "sum by (job) (rate(http_requests_total{status=~\"5..\"}[5m])) \
         / sum by (job) (rate(http_requests_total[5m]))",
    ),
    (
        "p95_by_le",
        "histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
    ),
    (
        "p99_by_le",
        "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
    ),
    (
        "p95_by_le_endpoint",
        "histogram_quantile(0.95, sum by (le, endpoint) \
         (rate(http_request_duration_seconds_bucket[5m])))",
    ),
    (
        "p99_by_le_endpoint",
        "histogram_quantile(0.99, sum by (le, endpoint) \
         (rate(http_request_duration_seconds_bucket[5m])))",
    ),
    (
        "mean_latency",
        "rate(http_request_duration_seconds_sum[5m]) \
         / rate(http_request_duration_seconds_count[5m])",
    ),
    (
        "topk_endpoints",
        "topk(5, sum by (endpoint) (rate(http_requests_total[5m])))",
    ),
    (
        "slo_ratio_span",
        "sum(increase(http_requests_total{status!~\"5..\"}[2h])) \
         / sum(increase(http_requests_total[2h]))",
    ),
    (
        "increase_1h_by_job",
        "sum(increase(http_requests_total[1h])) by (job)",
    ),
    (
        "max_rate_subquery",
        "max_over_time(sum(rate(http_requests_total[5m]))[1h:1m])",
    ),
];

/// Builds the Db: all samples of a group of series in one batch, series in time order.
/// Returns the Db and the largest timestamp.
fn build_db(dir: &std::path::Path) -> (Arc<Db>, i64) {
    let mut fleet = Fleet::new(
        &FleetSpec {
            series: SERIES,
            seed: 7,
        },
        START_MS,
    );
    let labels: Vec<Labels> = fleet
        .series()
        .iter()
        .map(|s| Labels::from_pairs(&s.labels).expect("workload labels are valid"))
        .collect();
    let rounds = (HOURS * 3_600_000 / SCRAPE_INTERVAL_MS) as usize;
    let mut samples: Vec<Vec<Sample>> = vec![Vec::with_capacity(rounds); labels.len()];
    let mut round = Vec::new();
    let mut max_t = i64::MIN;
    for _ in 0..rounds {
        fleet.round(&mut round);
        for (dst, &(t, v)) in samples.iter_mut().zip(&round) {
            dst.push(Sample::new(t, v));
            max_t = max_t.max(t);
        }
    }
    let db = Db::open(dir, Options::default()).expect("Db::open");
    for (ls, ss) in labels
        .chunks(BATCH_SERIES)
        .zip(samples.chunks(BATCH_SERIES))
    {
        let mut b = Batch::new();
        for (l, s) in ls.iter().zip(ss) {
            b.push(l.clone(), s.clone());
        }
        let rep = db.append(&b).expect("append");
        assert_eq!(rep.rejected(), 0, "the workload is in time order");
    }
    (Arc::new(db), max_t)
}

/// Series and points of a result; panics on an empty one.
fn check(name: &str, v: &Value) {
    let (series, points) = match v {
        Value::Vector(xs) => (xs.len(), xs.len()),
        Value::Matrix(m) => (m.len(), m.iter().map(|s| s.values.len()).sum()),
        Value::Scalar { .. } | Value::String { .. } => (1, 1),
    };
    assert!(series > 0 && points > 0, "{name}: empty result");
}

fn queries(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (db, max_t) = build_db(dir.path());
    // Align to the step, as strata-querybench's callers do.
    let end = max_t - max_t.rem_euclid(STEP_MS);
    let start = end - RANGE_MS;
    let engine = Engine::new(db);
    for (name, q) in QUERIES {
        let r = engine
            .instant(q, end)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        check(name, &r.value);
        let r = engine
            .range(q, start, end, STEP_MS)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        check(name, &r.value);
    }

    let mut group = c.benchmark_group("query_instant");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    for (name, q) in QUERIES {
        group.bench_function(name, |b| {
            b.iter(|| engine.instant(q, end).expect("query"));
        });
    }
    group.finish();

    let mut group = c.benchmark_group("query_range");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    for (name, q) in QUERIES {
        group.bench_function(name, |b| {
            b.iter(|| engine.range(q, start, end, STEP_MS).expect("query"));
        });
    }
    group.finish();
}

/// The criterion group, in a private module so the generated `pub fn` needs no docs.
mod group {
    criterion::criterion_group!(benches, super::queries);
}
criterion_main!(group::benches);

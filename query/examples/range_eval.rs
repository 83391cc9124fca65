//! Measures evaluator throughput on synthetic data held in memory (no storage cost):
//! `series` counters scraped every 15 s with jitter for `hours`, then range queries over the
//! whole span at a 60 s step.
//!
//! ```text
//! cargo run -p strata-query --example range_eval -- [series=1000] [hours=6] [mem|db]
//! ```
//!
//! `mem` (default) evaluates over an in-memory [`MemStorage`]; `db` appends the same data to
//! a [`Db`] in a temporary directory and queries it through [`Engine`] (storage decoding
//! included). Prints, per query, wall time, samples read and steps x series per second.

use std::time::Instant;

use std::sync::Arc;

use strata_engine::{Batch, Db, Labels, Options, Sample};
use strata_query::engine::{evaluate, EngineOptions, QueryOptions};
use strata_query::eval::{MemStorage, Steps};
use strata_query::{Engine, Value};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let series: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(1000);
    let hours: i64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(6);
    let use_db = args.next().is_some_and(|m| m == "db");
    let end = hours * 3_600_000;
    let dir = std::env::temp_dir().join(format!("strata-range-eval-{}", std::process::id()));
    let db = if use_db {
        Some(Arc::new(Db::open(&dir, Options::default())?))
    } else {
        None
    };

    let mut st = MemStorage::new();
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut total = 0usize;
    for i in 0..series {
        let labels = Labels::from_pairs(&[
            ("__name__", "http_requests_total"),
            ("instance", &format!("host-{i}")),
            ("job", "api"),
            ("status", if i % 10 == 0 { "500" } else { "200" }),
            ("version", &format!("v{}", i % 4)),
        ])?;
        let mut samples = Vec::new();
        let (mut t, mut v) = (0i64, 0.0f64);
        while t <= end {
            samples.push(Sample::new(t, v));
            v += (next() % 100) as f64;
            t += 15_000 + (next() % 200) as i64 - 100;
        }
        total += samples.len();
        match &db {
            Some(db) => {
                let mut b = Batch::new();
                b.push(labels, samples);
                db.append(&b)?;
            }
            None => st.add(labels, &samples),
        }
    }
    println!(
        "{series} series, {total} samples over {hours}h, {}",
        if use_db { "Db" } else { "MemStorage" }
    );
    let engine = db.clone().map(Engine::new);

    let steps = Steps {
        start: 0,
        end,
        step: 60_000,
    };
    let opts = EngineOptions::default();
    for q in [
        "rate(http_requests_total[5m])",
        "sum by (version) (rate(http_requests_total[5m]))",
        r#"sum by (version) (rate(http_requests_total{status=~"5.."}[5m])) / sum by (version) (rate(http_requests_total[5m]))"#,
        "max_over_time(http_requests_total[1h])",
        "avg_over_time(rate(http_requests_total[5m])[30m:1m])",
        "http_requests_total > 1000",
    ] {
        let expr = strata_query::parser::parse(q)?;
        let t0 = Instant::now();
        let r = match &engine {
            Some(e) => e.range_expr(
                &expr,
                steps.start,
                steps.end,
                steps.step,
                &QueryOptions::default(),
            )?,
            None => evaluate(&st, &expr, steps, false, &opts, &QueryOptions::default())?,
        };
        let dt = t0.elapsed();
        let points: usize = match &r.value {
            Value::Matrix(m) => m.iter().map(|s| s.values.len()).sum(),
            _ => 0,
        };
        println!(
            "{:>9.1} ms  {:>10} samples read  {:>9} points out  {:>7.2} M steps*series/s  {q}",
            dt.as_secs_f64() * 1e3,
            r.stats.samples_loaded,
            points,
            (steps.len() * series) as f64 / dt.as_secs_f64() / 1e6,
        );
    }
    drop(engine);
    if let Some(db) = db {
        if let Ok(db) = Arc::try_unwrap(db) {
            db.close()?;
        }
        std::fs::remove_dir_all(&dir)?;
    }
    Ok(())
}

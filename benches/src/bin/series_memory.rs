//! `series_memory`: resident memory per active series in a Strata [`Db`] head.
//!
//! Creates N series (default 1 M) with realistic label sets (8 labels: `__name__`, `job`,
//! `instance`, `namespace`, `pod`, `node`, `container`, `endpoint`; values repeat across series
//! as in a Kubernetes fleet, with `instance` and `pod` unique per target) and one sample each,
//! appended in remote-write-sized batches of 2000 series. Label sets are built batch by batch
//! from the series index, so the generator holds no copy of them: the `VmRSS` growth is the
//! Db's. It then appends more rounds of one sample per series to separate the sample cost.
//!
//! ```text
//! cargo run --release -p strata-benches --bin series_memory -- [--series N] [--rounds R]
//! ```
//!
//! Prints a summary and a JSON line. The target is <= 1 KiB per series (one sample each).

use std::process::ExitCode;
use std::time::Instant;

use strata_benches::loadgen::procstat;
use strata_engine::{Batch, Db, Label, Labels, Options, Sample};

const BATCH_SERIES: usize = 2000;
const SERIES_PER_TARGET: usize = 150;
const TARGET_BYTES_PER_SERIES: f64 = 1024.0;

const METRICS: [&str; 15] = [
    "http_requests_total",
    "http_request_duration_seconds_sum",
    "http_request_duration_seconds_count",
    "http_response_size_bytes_sum",
    "grpc_server_handled_total",
    "grpc_server_started_total",
    "db_query_duration_seconds_sum",
    "db_queries_total",
    "cache_hits_total",
    "cache_misses_total",
    "queue_messages_processed_total",
    "queue_depth",
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "go_goroutines",
];
const ENDPOINTS: [&str; 10] = [
    "/api/v1/users",
    "/api/v1/orders",
    "/api/v1/search",
    "/api/v1/cart",
    "/api/v1/payments",
    "/login",
    "/logout",
    "/healthz",
    "/static",
    "/graphql",
];
const JOBS: [&str; 8] = [
    "api-gateway",
    "checkout",
    "catalog",
    "payments",
    "auth",
    "search",
    "cart",
    "inventory",
];

/// The label set of series `i` (8 labels, sorted by name).
fn labels_for(i: usize) -> Labels {
    let target = i / SERIES_PER_TARGET;
    let k = i % SERIES_PER_TARGET;
    let job = JOBS[target % JOBS.len()];
    let ns = format!("team-{}", target % 40);
    let instance = format!(
        "10.{}.{}.{}:8080",
        (target >> 16) & 255,
        (target >> 8) & 255,
        target & 255
    );
    let pod = format!(
        "{job}-{:08x}-{:05x}",
        (target as u64).wrapping_mul(0x9e37_79b9) as u32,
        target
    );
    let node = format!("node-{:04}", target % 500);
    let pairs = [
        ("__name__", METRICS[k % METRICS.len()].to_string()),
        ("container", job.to_string()),
        ("endpoint", ENDPOINTS[k / METRICS.len()].to_string()),
        ("instance", instance),
        ("job", job.to_string()),
        ("namespace", ns),
        ("node", node),
        ("pod", pod),
    ];
    Labels::from_sorted_unchecked(pairs.iter().map(|(n, v)| Label::new(n, v)).collect())
}

fn append_round(db: &Db, series: usize, t: i64) -> Result<u64, String> {
    let mut appended = 0;
    for start in (0..series).step_by(BATCH_SERIES) {
        let mut b = Batch::new();
        for i in start..(start + BATCH_SERIES).min(series) {
            let v = ((i as u64).wrapping_mul(31) % 1000) as f64 + (t / 15_000) as f64;
            b.push(labels_for(i), vec![Sample::new(t, v)]);
        }
        let r = db.append(&b).map_err(|e| format!("append: {e}"))?;
        appended += r.appended;
    }
    Ok(appended)
}

fn arg(args: &[String], name: &str, default: usize) -> Result<usize, String> {
    match args.iter().position(|a| a == name) {
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{name} needs a number")),
        None => Ok(default),
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(a) = args
        .iter()
        .step_by(2)
        .find(|a| *a != "--series" && *a != "--rounds")
    {
        return Err(format!(
            "unknown argument {a:?}; usage: series_memory [--series N] [--rounds R]"
        ));
    }
    let series = arg(&args, "--series", 1_000_000)?;
    let rounds = arg(&args, "--rounds", 4)?;
    if series == 0 || series > SERIES_PER_TARGET << 24 {
        return Err("--series out of range".into());
    }
    let dir = std::env::temp_dir().join(format!("strata-series-memory-{}", std::process::id()));
    let result = measure(&dir, series, rounds);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn measure(dir: &std::path::Path, series: usize, rounds: usize) -> Result<(), String> {
    let db = Db::open(dir, Options::default()).map_err(|e| format!("Db::open: {e}"))?;
    let t0 = 1_700_000_000_000i64;
    let base = procstat::sample_self()?;
    let started = Instant::now();
    let appended = append_round(&db, series, t0)?;
    let after_series = procstat::sample_self()?;
    let chunk_bytes_first = db.stats().chunk_bytes;
    let create_secs = started.elapsed().as_secs_f64();
    if appended != series as u64 {
        return Err(format!("appended {appended} of {series} samples"));
    }
    let mut more = 0u64;
    for r in 1..=rounds {
        more += append_round(&db, series, t0 + r as i64 * 15_000)?;
    }
    let after_samples = procstat::sample_self()?;
    let stats = db.stats();
    let per_series_no_chunks = after_series
        .rss_bytes
        .saturating_sub(base.rss_bytes)
        .saturating_sub(chunk_bytes_first) as f64
        / series as f64;
    let per_series = after_series.rss_bytes.saturating_sub(base.rss_bytes) as f64 / series as f64;
    let per_sample = if more > 0 {
        after_samples
            .rss_bytes
            .saturating_sub(after_series.rss_bytes) as f64
            / more as f64
    } else {
        0.0
    };
    println!("series: {series} (8 labels each), created with 1 sample each in {create_secs:.1} s");
    println!(
        "RSS: {:.1} MiB before, {:.1} MiB after creating the series, {:.1} MiB after {rounds} more \
         rounds ({more} samples)",
        base.rss_bytes as f64 / 1048576.0,
        after_series.rss_bytes as f64 / 1048576.0,
        after_samples.rss_bytes as f64 / 1048576.0
    );
    println!(
        "per series (1 sample each): {per_series:.0} bytes (target <= {TARGET_BYTES_PER_SERIES:.0}: {})",
        if per_series <= TARGET_BYTES_PER_SERIES { "met" } else { "NOT met" }
    );
    println!(
        "per series without its encoded chunk bytes ({chunk_bytes_first} in all): \
         {per_series_no_chunks:.0} bytes"
    );
    println!("per extra sample: {per_sample:.2} bytes of RSS");
    println!(
        "db stats: {} series, {} samples, {} chunk bytes",
        stats.series, stats.samples, stats.chunk_bytes
    );
    println!(
        "{{\"series\":{series},\"rss_before\":{},\"rss_after_series\":{},\"rss_after_samples\":{},\
         \"bytes_per_series\":{per_series:.1},\
         \"bytes_per_series_without_chunks\":{per_series_no_chunks:.1},\"extra_samples\":{more},\
         \"bytes_per_extra_sample\":{per_sample:.3},\"peak_rss\":{},\"db_series\":{},\
         \"db_samples\":{},\"chunk_bytes\":{}}}",
        base.rss_bytes,
        after_series.rss_bytes,
        after_samples.rss_bytes,
        after_samples.peak_rss_bytes,
        stats.series,
        stats.samples,
        stats.chunk_bytes
    );
    db.close().map_err(|e| format!("close: {e}"))?;
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("series_memory: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_sets_unique_sorted_eight_labels() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..5 * SERIES_PER_TARGET {
            let l = labels_for(i);
            assert_eq!(l.len(), 8);
            let sorted = Labels::from_vec(l.clone().into_vec()).unwrap();
            assert_eq!(sorted, l);
            assert!(seen.insert(l), "series {i} repeats a label set");
        }
    }
}

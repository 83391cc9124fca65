//! `strata-qtime`: PromQL latency and CPU time in-process, on a replayed payload, for A/B
//! comparisons of query-path changes without HTTP in the way.
//!
//! ```text
//! strata-qtime --payloads DIR [--queries FILE] [--rounds 5] [--repeat 40]
//!              [--range SECONDS:STEP] [--data-dir DIR]
//! ```
//!
//! Replays the `strata-loadgen` payload in `DIR` into an embedded [`Db`] (in a fresh
//! directory under the system temp dir unless `--data-dir` is given, so that sealed head
//! chunks go to chunk files with their summaries, as in the server), then times each query:
//! `--rounds` rounds, each running every query `--repeat` times in turn (so that the
//! machine's slow and fast moments fall on every query alike). Queries are instant at the
//! payload's last sample time rounded down to a minute, or with `--range` range queries over
//! `[END - SECONDS, END]` at step `STEP`. `FILE` holds lines `NAME PROMQL` (blank lines and
//! `#` comments skipped); without it, the canary-fleet dashboard's increase and rate shapes.
//!
//! Output per query: the minimum and median wall-clock time of one evaluation, and the
//! process's CPU time (user + system, all threads) per evaluation, over all rounds. CPU time
//! is the steadier figure on a shared machine.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use strata_benches::cli::{opt, parse_opts, read_queries};
use strata_benches::loadgen::payload::{Manifest, PayloadReader};
use strata_benches::loadgen::procstat;
use strata_engine::{Db, Options};
use strata_ingest::{Limits, Protocol};
use strata_query::Engine;

/// The allocator of the `strata` binary, so that timings here are the server's.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

const DEFAULT_QUERIES: &[(&str, &str)] = &[
    (
        "increase_1h_by_job",
        "sum(increase(http_requests_total[1h])) by (job)",
    ),
    (
        "increase_5m_by_job",
        "sum(increase(http_requests_total[5m])) by (job)",
    ),
    (
        "rate_by_version",
        "sum(rate(http_requests_total[5m])) by (version)",
    ),
];

fn main() {
    if let Err(e) = run() {
        eprintln!("strata-qtime: {e}");
        std::process::exit(2);
    }
}

fn load(db: &Db, dir: &Path) -> Result<u64, String> {
    let manifest = Manifest::load(dir)?;
    let proto = if manifest.protocol == 2 {
        Protocol::V2
    } else {
        Protocol::V1
    };
    let mut reader = PayloadReader::open(dir).map_err(|e| e.to_string())?;
    let limits = Limits::default();
    let mut samples = 0u64;
    while let Some(round) = reader.next_round().map_err(|e| e.to_string())? {
        for r in round {
            let s = strata_ingest::write(db, proto, &r.body, &limits)
                .map_err(|e| format!("replay: {e}"))?;
            samples += s.samples_written;
        }
    }
    Ok(samples)
}

fn cpu_seconds() -> f64 {
    procstat::sample_self().map_or(0.0, |s| s.cpu_seconds)
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let o = parse_opts(
        &args,
        &[
            "payloads", "queries", "rounds", "repeat", "range", "data-dir",
        ],
    )?;
    let payloads: PathBuf = opt(&o, "payloads", None)?;
    let rounds: usize = opt(&o, "rounds", Some(5))?;
    let repeat: usize = opt(&o, "repeat", Some(40))?;
    let queries: Vec<(String, String)> = match o.get("queries") {
        Some(f) => read_queries(f)?,
        None => DEFAULT_QUERIES
            .iter()
            .map(|(n, q)| (n.to_string(), q.to_string()))
            .collect(),
    };
    let range: Option<(i64, i64)> = match o.get("range") {
        Some(r) => {
            let (s, st) = r
                .split_once(':')
                .ok_or_else(|| format!("--range {r:?}: expected SECONDS:STEP"))?;
            let p = |x: &str| x.parse::<i64>().map_err(|e| format!("--range {r:?}: {e}"));
            Some((p(s)? * 1000, p(st)? * 1000))
        }
        None => None,
    };
    let (dir, temp) = match o.get("data-dir") {
        Some(d) => (PathBuf::from(d), false),
        None => (
            std::env::temp_dir().join(format!("strata-qtime-{}", std::process::id())),
            true,
        ),
    };
    let result = (|| {
        let db = Arc::new(Db::open(&dir, Options::default()).map_err(|e| e.to_string())?);
        let t0 = Instant::now();
        let samples = load(&db, &payloads)?;
        let manifest = Manifest::load(&payloads)?;
        let end = manifest.max_time.div_euclid(60_000) * 60_000;
        eprintln!(
            "loaded {samples} samples in {:.1} s; queries at {end}",
            t0.elapsed().as_secs_f64()
        );
        let engine = Engine::new(db);
        let eval = |q: &str| -> Result<(), String> {
            let r = match range {
                Some((span, step)) => engine.range(q, end - span, end, step),
                None => engine.instant(q, end),
            };
            r.map(|_| ()).map_err(|e| format!("{q}: {e}"))
        };
        for (_, q) in &queries {
            eval(q)?;
        }
        let mut wall: Vec<Vec<f64>> = vec![Vec::new(); queries.len()];
        let mut cpu = vec![0.0f64; queries.len()];
        for _ in 0..rounds {
            for (i, (_, q)) in queries.iter().enumerate() {
                let c0 = cpu_seconds();
                for _ in 0..repeat {
                    let t = Instant::now();
                    eval(q)?;
                    wall[i].push(t.elapsed().as_secs_f64() * 1e3);
                }
                cpu[i] += cpu_seconds() - c0;
            }
        }
        println!(
            "{:<24} {:>9} {:>9} {:>11}",
            "query", "min ms", "median ms", "cpu ms/q"
        );
        for (i, (name, _)) in queries.iter().enumerate() {
            let w = &mut wall[i];
            w.sort_by(f64::total_cmp);
            println!(
                "{:<24} {:>9.3} {:>9.3} {:>11.3}",
                name,
                w[0],
                w[w.len() / 2],
                cpu[i] * 1e3 / (rounds * repeat) as f64
            );
        }
        Ok(())
    })();
    if temp {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

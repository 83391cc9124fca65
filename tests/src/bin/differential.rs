//! `strata-differential`: compares Strata's PromQL answers with a real Prometheus's on the
//! same remote-written data. See `strata_tests::differential` and
//! `tests/e2e/differential.sh`, which starts both servers and runs this.
//!
//! Usage: `strata-differential --prometheus URL [--strata URL] [--queries FILE]
//! [--seed N] [--filter TEXT] [--verbose] [--late]`. Without `--strata` it only checks that
//! Prometheus accepts the query list. `--late` delivers a quarter of the samples up to 20
//! minutes late (both servers need a 30-minute out-of-order window). Exit status: 0 all passed, 1 mismatches, 2 setup error.

use std::process::ExitCode;
use std::time::Duration;

use strata_tests::differential::queries::parse_queries;
use strata_tests::differential::run::{run, RunConfig};

const USAGE: &str = "usage: strata-differential --prometheus URL [--strata URL] \
[--queries FILE] [--seed N] [--filter TEXT] [--verbose] [--late]";

fn main() -> ExitCode {
    match main_inner() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("strata-differential: {e}");
            ExitCode::from(2)
        }
    }
}

fn main_inner() -> Result<ExitCode, String> {
    let mut cfg = RunConfig {
        prometheus: String::new(),
        strata: None,
        seed: 20_240_601,
        filter: None,
        verbose: false,
        ready_timeout: Duration::from_secs(60),
        late: false,
    };
    let mut queries_path =
        concat!(env!("CARGO_MANIFEST_DIR"), "/differential/queries.txt").to_string();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "--prometheus" => cfg.prometheus = value("--prometheus")?,
            "--strata" => cfg.strata = Some(value("--strata")?),
            "--queries" => queries_path = value("--queries")?,
            "--seed" => {
                let v = value("--seed")?;
                cfg.seed = v.parse().map_err(|_| format!("bad --seed {v:?}"))?;
            }
            "--filter" => cfg.filter = Some(value("--filter")?),
            "--verbose" | "-v" => cfg.verbose = true,
            "--late" => cfg.late = true,
            "--help" | "-h" => {
                println!("{USAGE}");
                return Ok(ExitCode::SUCCESS);
            }
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    if cfg.prometheus.is_empty() {
        return Err(format!("--prometheus is required\n{USAGE}"));
    }
    let text =
        std::fs::read_to_string(&queries_path).map_err(|e| format!("{queries_path}: {e}"))?;
    let queries = parse_queries(&text).map_err(|e| format!("{queries_path}: {e}"))?;
    let summary = run(&cfg, &queries)?;
    if cfg.strata.is_none() {
        println!("checked {} queries against prometheus only", queries.len());
        return Ok(ExitCode::SUCCESS);
    }
    println!("{} passed, {} failed", summary.passed, summary.failed);
    Ok(if summary.failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

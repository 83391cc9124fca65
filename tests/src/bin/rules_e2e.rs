//! `strata-rules-e2e`: compares the series recorded by Strata's rules with a real
//! Prometheus's for the same rule files and data. See `strata_tests::rules_e2e` and
//! `tests/e2e/rules.sh`, which starts both servers and runs this.
//!
//! Usage: `strata-rules-e2e --prometheus URL --strata URL --rules-dir DIR
//! [--interval-ms N] [--run-seconds N] [--seed N] RULE_FILE...`.
//! Exit status: 0 all passed, 1 mismatches, 2 setup error.

use std::path::PathBuf;
use std::process::ExitCode;

use strata_tests::rules_e2e::{run, Config};

const USAGE: &str = "usage: strata-rules-e2e --prometheus URL --strata URL --rules-dir DIR \
[--interval-ms N] [--run-seconds N] [--seed N] RULE_FILE...";

fn main() -> ExitCode {
    match main_inner() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("strata-rules-e2e: {e}");
            ExitCode::from(2)
        }
    }
}

fn main_inner() -> Result<ExitCode, String> {
    let mut cfg = Config {
        prometheus: String::new(),
        strata: String::new(),
        rules: Vec::new(),
        rules_dir: PathBuf::new(),
        interval_ms: 5_000,
        run_ms: 75_000,
        seed: 20_240_601,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))
        };
        let num = |v: String| v.parse::<i64>().map_err(|_| format!("bad number {v:?}"));
        match a.as_str() {
            "--prometheus" => cfg.prometheus = value("--prometheus")?,
            "--strata" => cfg.strata = value("--strata")?,
            "--rules-dir" => cfg.rules_dir = PathBuf::from(value("--rules-dir")?),
            "--interval-ms" => cfg.interval_ms = num(value("--interval-ms")?)?,
            "--run-seconds" => cfg.run_ms = num(value("--run-seconds")?)? * 1000,
            "--seed" => cfg.seed = num(value("--seed")?)? as u64,
            "--help" | "-h" => {
                println!("{USAGE}");
                return Ok(ExitCode::SUCCESS);
            }
            f if f.starts_with("--") => return Err(format!("unknown flag {f:?}\n{USAGE}")),
            file => cfg.rules.push(PathBuf::from(file)),
        }
    }
    if cfg.prometheus.is_empty()
        || cfg.strata.is_empty()
        || cfg.rules.is_empty()
        || cfg.rules_dir.as_os_str().is_empty()
    {
        return Err(format!("missing arguments\n{USAGE}"));
    }
    let (passed, failed) = run(&cfg)?;
    println!("{passed} passed, {failed} failed");
    Ok(if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

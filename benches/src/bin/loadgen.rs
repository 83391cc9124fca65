//! `strata-loadgen`: generates canary-fleet remote-write payloads and replays them against a
//! remote-write receiver (Strata, Prometheus, VictoriaMetrics), measuring the server.
//!
//! ```text
//! strata-loadgen generate --series N --hours H --out DIR [--batch-series 2000]
//!                         [--end-time MS|now] [--seed S] [--protocol 1|2]
//! strata-loadgen replay --write-url URL --dir DIR [--concurrency C] [--pid PID]
//!                       [--timeout-seconds 30] [--max-seconds 900] [--settle-seconds 2]
//!                       [--retries 0]
//! strata-loadgen overload --write-url URL --dir DIR [--query-url URL] [--pid PID]
//!                         [--probe-seconds 10] [--probe-concurrency 4] [--rate SAMPLES_PER_S]
//!                         [--factor 2] [--overload-seconds 30] [--recover-factor 0.5]
//!                         [--recover-seconds 20] [--connections 256] [--timeout-seconds 10]
//!                         [--query PROMQL]
//! ```
//!
//! `overload` sends only to loopback addresses and stops by itself after its three phases.
//!
//! `replay` prints a human-readable summary, then one JSON line as its last line of output.
//! The exit status is 0 when the run completed, even with failed requests (they are counted);
//! 2 for bad arguments; 1 for other errors.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use strata_benches::cli::{opt, parse_opts};
use strata_benches::loadgen::generate::{generate, GenerateSpec};
use strata_benches::loadgen::http::Url;
use strata_benches::loadgen::overload::{overload, OverloadSpec};
use strata_benches::loadgen::replay::{replay, ReplaySpec};

const USAGE: &str = "\
usage:
  strata-loadgen generate --series N --hours H --out DIR [--batch-series 2000]
                          [--end-time MS|now] [--seed 1] [--protocol 1 (remote write 1.0) | 2]
  strata-loadgen replay --write-url URL --dir DIR [--concurrency 4] [--pid PID]
                        [--timeout-seconds 30] [--max-seconds 900] [--settle-seconds 2]
                        [--retries 0]
  strata-loadgen overload --write-url URL --dir DIR [--query-url http://HOST:PORT]
                          [--pid PID] [--probe-seconds 10] [--probe-concurrency 4]
                          [--rate SAMPLES_PER_S (instead of the probe's)] [--factor 2]
                          [--overload-seconds 30] [--recover-factor 0.5]
                          [--recover-seconds 20] [--connections 256] [--timeout-seconds 10]
                          [--query PROMQL]";

/// The query `overload` runs every second unless `--query` says otherwise: a dashboard's
/// error-rate panel over the canary fleet.
const DEFAULT_QUERY: &str =
    "sum by (job, version) (rate(http_requests_total{status=~\"5..\"}[1m]))";

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn cmd_generate(args: &[String]) -> Result<(), String> {
    let o = parse_opts(
        args,
        &[
            "series",
            "hours",
            "out",
            "batch-series",
            "end-time",
            "seed",
            "protocol",
        ],
    )?;
    let end_ms = match o.get("end-time").map(String::as_str) {
        None | Some("now") => now_ms(),
        Some(v) => v
            .parse()
            .map_err(|_| format!("--end-time: expected milliseconds or \"now\", got {v:?}"))?,
    };
    let spec = GenerateSpec {
        series: opt(&o, "series", None)?,
        hours: opt(&o, "hours", None)?,
        end_ms,
        batch_series: opt(&o, "batch-series", Some(2000))?,
        seed: opt(&o, "seed", Some(1))?,
        protocol: opt(&o, "protocol", Some(1))?,
    };
    let out: PathBuf = opt(&o, "out", None)?;
    let started = std::time::Instant::now();
    let m = generate(&spec, &out)?;
    eprintln!(
        "generated {} series, {} samples in {} requests ({} rounds), {:.1} MiB of bodies \
         ({:.1} bytes/sample), time {}..{} ms, in {:.1} s -> {}",
        m.series,
        m.samples,
        m.requests,
        m.rounds,
        m.body_bytes as f64 / 1048576.0,
        m.body_bytes as f64 / m.samples.max(1) as f64,
        m.min_time,
        m.max_time,
        started.elapsed().as_secs_f64(),
        out.display()
    );
    println!("{}", m.to_json());
    Ok(())
}

fn cmd_replay(args: &[String]) -> Result<(), String> {
    let o = parse_opts(
        args,
        &[
            "write-url",
            "dir",
            "concurrency",
            "pid",
            "timeout-seconds",
            "max-seconds",
            "settle-seconds",
            "retries",
        ],
    )?;
    let url_text: String = opt(&o, "write-url", None)?;
    let timeout: f64 = opt(&o, "timeout-seconds", Some(30.0))?;
    if !(timeout > 0.0 && timeout <= 3600.0) {
        return Err("--timeout-seconds must be in (0, 3600]".into());
    }
    let spec = ReplaySpec {
        url: Url::parse(&url_text)?,
        dir: opt(&o, "dir", None)?,
        concurrency: opt(&o, "concurrency", Some(4))?,
        pid: match o.get("pid") {
            Some(_) => Some(opt(&o, "pid", None)?),
            None => None,
        },
        timeout: Duration::from_secs_f64(timeout),
        max_seconds: opt(&o, "max-seconds", Some(900.0))?,
        settle_seconds: opt(&o, "settle-seconds", Some(2.0))?,
        retries: opt(&o, "retries", Some(0))?,
    };
    let report = replay(&spec)?;
    print!("{}", report.to_text());
    println!("{}", report.to_json());
    Ok(())
}

fn cmd_overload(args: &[String]) -> Result<(), String> {
    let o = parse_opts(
        args,
        &[
            "write-url",
            "query-url",
            "dir",
            "pid",
            "probe-seconds",
            "probe-concurrency",
            "rate",
            "factor",
            "overload-seconds",
            "recover-factor",
            "recover-seconds",
            "connections",
            "timeout-seconds",
            "query",
        ],
    )?;
    let write_url: String = opt(&o, "write-url", None)?;
    let timeout: f64 = opt(&o, "timeout-seconds", Some(10.0))?;
    if !(timeout > 0.0 && timeout <= 3600.0) {
        return Err("--timeout-seconds must be in (0, 3600]".into());
    }
    let spec = OverloadSpec {
        write_url: Url::parse(&write_url)?,
        query_url: match o.get("query-url") {
            Some(u) => Some(Url::parse(u)?),
            None => None,
        },
        dir: opt(&o, "dir", None)?,
        pid: match o.get("pid") {
            Some(_) => Some(opt(&o, "pid", None)?),
            None => None,
        },
        probe_concurrency: opt(&o, "probe-concurrency", Some(4))?,
        probe_seconds: opt(&o, "probe-seconds", Some(10.0))?,
        rate: match o.get("rate") {
            Some(_) => Some(opt(&o, "rate", None)?),
            None => None,
        },
        factor: opt(&o, "factor", Some(2.0))?,
        overload_seconds: opt(&o, "overload-seconds", Some(30.0))?,
        recover_factor: opt(&o, "recover-factor", Some(0.5))?,
        recover_seconds: opt(&o, "recover-seconds", Some(20.0))?,
        connections: opt(&o, "connections", Some(256))?,
        timeout: Duration::from_secs_f64(timeout),
        query: o
            .get("query")
            .cloned()
            .unwrap_or_else(|| DEFAULT_QUERY.to_string()),
    };
    let report = overload(&spec)?;
    print!("{}", report.to_text());
    println!("{}", report.to_json());
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("generate") => cmd_generate(&args[1..]),
        Some("replay") => cmd_replay(&args[1..]),
        Some("overload") => cmd_overload(&args[1..]),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("strata-loadgen: {e}");
            if e.contains("required")
                || e.contains("unknown option")
                || e.contains("invalid value")
                || e.contains("needs a value")
                || e.contains("unexpected argument")
            {
                eprintln!("{USAGE}");
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn bad_commands_are_errors_not_panics() {
        assert!(cmd_generate(&args("--series 0 --hours 1 --out /nonexistent/x")).is_err());
        assert!(cmd_generate(&args("--series 5 --hours 1 --out /tmp/x --end-time soon")).is_err());
        assert!(cmd_replay(&args("--write-url https://x/ --dir /tmp")).is_err());
        assert!(cmd_replay(&args("--write-url http://127.0.0.1:1/ --dir /nonexistent")).is_err());
        assert!(cmd_overload(&args("--write-url http://10.0.0.1:1/ --dir /tmp")).is_err());
        assert!(cmd_overload(&args("--write-url http://127.0.0.1:1/ --dir /nonexistent")).is_err());
        assert!(cmd_overload(&args(
            "--write-url http://127.0.0.1:1/ --dir /tmp --factor 0"
        ))
        .is_err());
    }
}

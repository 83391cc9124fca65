//! `strata-loadgen`: generates canary-fleet remote-write payloads and replays them against a
//! remote-write receiver (Strata, Prometheus, VictoriaMetrics), measuring the server.
//!
//! ```text
//! strata-loadgen generate --series N --hours H --out DIR [--batch-series 2000]
//!                         [--end-time MS|now] [--seed S]
//! strata-loadgen replay --write-url URL --dir DIR [--concurrency C] [--pid PID]
//!                       [--timeout-seconds 30] [--max-seconds 900] [--settle-seconds 2]
//!                       [--retries 0]
//! ```
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
use strata_benches::loadgen::replay::{replay, ReplaySpec};

const USAGE: &str = "\
usage:
  strata-loadgen generate --series N --hours H --out DIR [--batch-series 2000]
                          [--end-time MS|now] [--seed 1]
  strata-loadgen replay --write-url URL --dir DIR [--concurrency 4] [--pid PID]
                        [--timeout-seconds 30] [--max-seconds 900] [--settle-seconds 2]
                        [--retries 0]";

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn cmd_generate(args: &[String]) -> Result<(), String> {
    let o = parse_opts(
        args,
        &["series", "hours", "out", "batch-series", "end-time", "seed"],
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

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("generate") => cmd_generate(&args[1..]),
        Some("replay") => cmd_replay(&args[1..]),
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
    }
}

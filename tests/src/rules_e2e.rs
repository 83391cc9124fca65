//! Recording rules against a real Prometheus 2.42: both servers evaluate the same rule files
//! over the same remote-written data, and their recorded series must agree (names, labels,
//! timestamps, values within 1e-9 relative).
//!
//! Method (see also `tests/e2e/rules.sh`):
//! 1. Both servers start with a rule-file glob that matches nothing yet, Prometheus with
//!    `evaluation_interval` = I and Strata with `--evaluation-interval I --rule-alignment
//!    prometheus2`, so that a group evaluates at the same instants on both (same file path,
//!    same group name, Prometheus 2.x's slot hash).
//! 2. The whole data set is written to both first, up to a few minutes into the future:
//!    the canary fleet of [`crate::differential::generate`] plus `process_cpu_seconds_total`,
//!    spanning 12 minutes so that a target stops, one restarts and one is down while the rules
//!    run. A rule at slot `ts` only reads samples at or before `ts`, so data written ahead
//!    makes every evaluation see the same samples on both servers, however late it runs.
//!    Sample timestamps avoid the millisecond-of-second of every group's slots, so no
//!    sample sits on a window edge, where 2.42's closed windows and 3.x's left-open ones
//!    differ.
//! 3. The rule files are copied into the watched directory and both servers reload; every
//!    evaluation happens after all the data is in.
//! 4. After the run, for every recorded metric (and `ALERTS` and `ALERTS_FOR_STATE` when
//!    the files have alerting rules: both servers run the alert state machine) both servers are asked for the raw samples
//!    in `(T1, T2]` (a range selector at `T2`), where `T1` is the reload and `T2` is two
//!    intervals before the end; then for instant queries at a few times in between, which
//!    also compares stale markers (a series that vanished and got one is gone at once,
//!    without one it would linger for the 5 minute lookback).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use strata_ingest::encode::TimeSeries;
use strata_rules::file::{self, RuleKind};
use strata_rules::schedule::{Alignment, Slots};

use crate::differential::compare::{compare, summarize, Data, Outcome};
use crate::differential::generate::{generate, Dataset, GenConfig};
use crate::differential::http::url_encode;
use crate::differential::run::Server;

/// What to run.
#[derive(Clone, Debug)]
pub struct Config {
    /// Prometheus base URL.
    pub prometheus: String,
    /// Strata base URL.
    pub strata: String,
    /// Rule files to install.
    pub rules: Vec<PathBuf>,
    /// The directory both servers' rule globs watch.
    pub rules_dir: PathBuf,
    /// Evaluation interval both run with, ms.
    pub interval_ms: i64,
    /// How long the rules run after the reload, ms.
    pub run_ms: i64,
    /// Data generator seed.
    pub seed: u64,
}

/// Data span: the fleet's events (a target stopping, a restart, a target down) fall into the
/// minutes just before and during the run.
const SPAN_MS: i64 = 12 * 60_000;
/// How far past "now" the data reaches (Strata accepts 10 minutes ahead by default).
const AHEAD_MS: i64 = 150_000;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Moves every timestamp whose millisecond-of-second is in `avoid` forward by a few ms (the
/// same shift for the same timestamp, so series scraped together stay together).
pub fn avoid_millis(data: &mut Dataset, avoid: &BTreeSet<i64>) {
    for s in &mut data.series {
        for p in &mut s.samples {
            while avoid.contains(&p.0.rem_euclid(1000)) {
                p.0 += 1;
            }
        }
    }
}

/// Adds a `process_cpu_seconds_total{job,instance}` counter at every `up` sample.
pub fn add_cpu(data: &mut Dataset) {
    let mut extra = Vec::new();
    for s in data
        .series
        .iter()
        .filter(|s| s.labels.iter().any(|(n, v)| n == "__name__" && v == "up"))
    {
        let mut labels: Vec<(String, String)> = s
            .labels
            .iter()
            .filter(|(n, _)| n != "__name__")
            .cloned()
            .collect();
        labels.push(("__name__".into(), "process_cpu_seconds_total".into()));
        labels.sort();
        let mut v = 1000.0;
        let samples = s
            .samples
            .iter()
            .enumerate()
            .map(|(k, &(t, _))| {
                v += 0.125 + ((k * 7919) % 13) as f64 / 16.0;
                (t, v)
            })
            .collect();
        extra.push(TimeSeries { labels, samples });
    }
    data.series.extend(extra);
}

/// A time, in ms, moved forward off any slot of `slots` (so it is no window edge).
fn off_slots(mut t: i64, slots: &[Slots]) -> i64 {
    while slots.iter().any(|s| {
        s.at_or_before(t * 1_000_000 + 999_999)
            .div_euclid(1_000_000)
            == t
    }) {
        t += 1;
    }
    t
}

fn secs(t: i64) -> String {
    format!("{}.{:03}", t.div_euclid(1000), t.rem_euclid(1000))
}

fn points(o: &Outcome) -> usize {
    match o {
        Outcome::Success(Data::Vector(v) | Data::Matrix(v)) => {
            v.iter().map(|s| s.points.len()).sum()
        }
        _ => 0,
    }
}

/// Runs the comparison; returns (passed, failed) comparisons.
pub fn run(cfg: &Config) -> Result<(usize, usize), String> {
    // Where the files will be, and so each group's slots (Prometheus 2.x's hash).
    let installed: Vec<PathBuf> = cfg
        .rules
        .iter()
        .map(|p| cfg.rules_dir.join(p.file_name().unwrap_or_default()))
        .collect();
    let mut names = Vec::new();
    let mut slots = Vec::new();
    let mut alerting = false;
    for (src, dst) in cfg.rules.iter().zip(&installed) {
        let text = std::fs::read_to_string(src).map_err(|e| format!("{}: {e}", src.display()))?;
        let f = file::parse(&dst.to_string_lossy(), &text)
            .map_err(|d| format!("{}: {:?}", src.display(), d))?;
        for g in &f.groups {
            let interval = g.interval.unwrap_or(cfg.interval_ms);
            slots.push(Slots::new(
                &f.path,
                &g.name,
                interval,
                Alignment::Prometheus2,
            ));
            names.extend(
                g.rules
                    .iter()
                    .filter(|r| r.kind == RuleKind::Recording)
                    .map(|r| r.name.clone()),
            );
            alerting |= g.rules.iter().any(|r| r.is_alerting());
        }
    }
    // Alerting rules write `ALERTS` and `ALERTS_FOR_STATE` like recorded series.
    if alerting {
        names.push("ALERTS".into());
        names.push("ALERTS_FOR_STATE".into());
    }
    let avoid: BTreeSet<i64> = slots
        .iter()
        .map(|s| s.offset_ns.div_euclid(1_000_000).rem_euclid(1000))
        .collect();
    println!(
        "rules: {} groups, {} recorded metrics; slot ms-of-second {:?}",
        slots.len(),
        names.len(),
        avoid
    );

    let now = now_ms();
    let mut data = generate(&GenConfig {
        seed: cfg.seed,
        end_ms: now + AHEAD_MS,
        span_ms: SPAN_MS,
    });
    add_cpu(&mut data);
    avoid_millis(&mut data, &avoid);
    let prom = Server::new("prometheus", &cfg.prometheus)?;
    let strata = Server::new("strata", &cfg.strata)?;
    for s in [&prom, &strata] {
        s.wait_ready(Duration::from_secs(60))?;
        let n = s.write(&data, false)?;
        println!(
            "{}: wrote {} samples in {n} requests",
            s.name,
            data.sample_count()
        );
    }

    // Install the rules and reload both: no evaluation ran before all data was in.
    std::fs::create_dir_all(&cfg.rules_dir).map_err(|e| e.to_string())?;
    for (src, dst) in cfg.rules.iter().zip(&installed) {
        std::fs::copy(src, dst).map_err(|e| format!("{}: {e}", dst.display()))?;
    }
    let t1 = now_ms();
    for s in [&prom, &strata] {
        let r = s
            .client
            .post("/-/reload", &[], b"")
            .map_err(|e| format!("{} reload: {e}", s.name))?;
        if r.status != 200 {
            return Err(format!(
                "{} reload: HTTP {}: {}",
                s.name,
                r.status,
                r.text()
            ));
        }
    }
    println!(
        "rules installed in {} and reloaded; running {} s",
        cfg.rules_dir.display(),
        cfg.run_ms / 1000
    );
    thread::sleep(Duration::from_millis(cfg.run_ms as u64));
    let t1 = off_slots(t1, &slots);
    let mut t2 = off_slots(now_ms() - 2 * cfg.interval_ms, &slots);
    let range = loop {
        let r = t2 - t1;
        if off_slots(t2 - r, &slots) == t2 - r {
            break r;
        }
        t2 = off_slots(t2 + 1, &slots);
    };
    println!("comparing recorded samples in ({}, {}]", secs(t1), secs(t2));

    let (mut passed, mut failed, mut compared) = (0usize, 0usize, 0usize);
    let mut check = |what: String, path: String, must_have_data: bool| {
        let want = prom.query(&path);
        let got = strata.query(&path);
        let mut diffs = compare(&want, &got, false);
        if must_have_data && points(&want) == 0 && diffs.is_empty() {
            diffs.push(format!("no samples on either server: {}", summarize(&want)));
        }
        compared += points(&want);
        if diffs.is_empty() {
            passed += 1;
        } else {
            failed += 1;
            println!("MISMATCH {what}:\n  {}", diffs.join("\n  "));
        }
    };
    for name in &names {
        let q = format!("{{__name__=\"{name}\"}}[{range}ms]");
        check(
            format!("raw samples of {name}"),
            format!("/api/v1/query?query={}&time={}", url_encode(&q), secs(t2)),
            true,
        );
    }
    for k in 1..=4 {
        let t = off_slots(t1 + (t2 - t1) * k / 5, &slots);
        for name in &names {
            check(
                format!("{name} at {}", secs(t)),
                format!("/api/v1/query?query={}&time={}", url_encode(name), secs(t)),
                false,
            );
        }
    }
    println!("{compared} recorded samples compared");
    if compared < 20 * names.len() {
        println!("MISMATCH: too few samples compared for a meaningful run");
        failed += 1;
    }
    Ok((passed, failed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_times_avoid_slot_milliseconds() {
        let mut d = generate(&GenConfig {
            seed: 3,
            end_ms: 1_700_000_000_000,
            span_ms: SPAN_MS,
        });
        let n = d.series.len();
        add_cpu(&mut d);
        assert_eq!(d.series.len(), n + 8, "one cpu counter per target");
        let avoid: BTreeSet<i64> = (100..=900).step_by(7).collect();
        avoid_millis(&mut d, &avoid);
        for s in &d.series {
            assert!(s.samples.windows(2).all(|w| w[0].0 < w[1].0));
            for &(t, _) in &s.samples {
                assert!(!avoid.contains(&t.rem_euclid(1000)), "{t}");
            }
        }
    }

    #[test]
    fn times_move_off_slots() {
        let s = Slots {
            interval_ns: 5_000_000_000,
            offset_ns: 1_234_567_890,
        };
        // Slot milliseconds are 1234 mod 5000.
        assert_eq!(off_slots(6_234, &[s]), 6_235);
        assert_eq!(off_slots(6_233, &[s]), 6_233);
        assert_eq!(secs(6_235), "6.235");
    }
}

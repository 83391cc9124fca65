//! The differential run: load the generated data into both servers by remote-write, run
//! every query as instant queries at a few times and as two range queries on both, compare,
//! and print every mismatch and a final `N passed, M failed` line.

use std::collections::BTreeMap;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use strata_ingest::encode::{snappy, write_request_v1};

use super::compare::{compare, compare_ranked, parse_outcome, summarize, Data, Outcome};
use super::generate::{generate, Dataset, GenConfig};
use super::http::{url_encode, Client};
use super::queries::Query;

/// Length of the generated data span (Prometheus 2.42's head accepts about an hour).
pub const SPAN_MS: i64 = 50 * 60_000;
/// The data ends this long before "now" (2.42 rejects samples from the future).
pub const END_BEFORE_NOW_MS: i64 = 60_000;
/// Every query time is this many seconds past a whole minute, so that no time (and no
/// window edge of a subquery step dividing a minute) is a multiple of a subquery step.
const SECOND_OF_MINUTE: i64 = 7;
/// The lookback delta both servers run with (`--query.lookback-delta=5m`).
pub const LOOKBACK_MS: i64 = 5 * 60_000;
/// Range query step in seconds.
pub const STEP_S: i64 = 60;
/// Range query length in seconds.
pub const RANGE_S: i64 = 30 * 60;
/// Step of the second, longer range query in seconds.
pub const WIDE_STEP_S: i64 = 180;

/// What to run.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// Prometheus base URL (`http://127.0.0.1:9090`).
    pub prometheus: String,
    /// Strata base URL; `None` only checks the query list against Prometheus.
    pub strata: Option<String>,
    /// Seed of the data generator.
    pub seed: u64,
    /// Only queries containing this text.
    pub filter: Option<String>,
    /// Print every query, not only mismatches.
    pub verbose: bool,
    /// How long to wait for each server to become ready.
    pub ready_timeout: Duration,
    /// Deliver part of the data late ([`Dataset::late_slices`]); both servers need an
    /// out-of-order window of at least [`LATE_WINDOW_MS`].
    pub late: bool,
}

/// Totals of a run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    /// Comparisons that agreed.
    pub passed: usize,
    /// Comparisons that did not.
    pub failed: usize,
    /// Passed comparisons where both answers were an empty vector or matrix.
    pub both_empty: usize,
    /// Passed comparisons where both answers were errors.
    pub both_errors: usize,
}

/// The whole-second times queries run at (Unix seconds).
#[derive(Clone, Debug, PartialEq)]
pub struct QueryTimes {
    /// Instant query times: late, middle and early in the data.
    pub instants: Vec<i64>,
    /// Range queries: start, end and step (steps are whole minutes, so every step stays
    /// [`SECOND_OF_MINUTE`] past a minute).
    pub ranges: Vec<(i64, i64, i64)>,
    /// Substituted for `$AT`.
    pub at: i64,
}

/// The last `s <= x` with `s % 60 == SECOND_OF_MINUTE`.
fn align(x: i64) -> i64 {
    let m = x - x.rem_euclid(60) + SECOND_OF_MINUTE;
    if m > x {
        m - 60
    } else {
        m
    }
}

/// Chooses query times inside the data set's span.
pub fn query_times(d: &Dataset) -> QueryTimes {
    let first = d.first_base_ms.div_euclid(1000);
    let last = d.last_base_ms.div_euclid(1000);
    let late = align(last - 20);
    let mid = late - 17 * 60;
    let early = align(first + 8 * 60);
    QueryTimes {
        instants: vec![late, mid, early],
        ranges: vec![
            (late - RANGE_S, late, STEP_S),
            // Nearly the whole span, coarser.
            (early, late - (late - early) % WIDE_STEP_S, WIDE_STEP_S),
        ],
        at: late - 9 * 60,
    }
}

/// One server under test (also used by the rules end-to-end run).
pub struct Server {
    /// `prometheus` or `strata`, for messages.
    pub name: &'static str,
    /// Its HTTP client.
    pub client: Client,
}

impl Server {
    /// A server at `base` (`http://host:port`).
    pub fn new(name: &'static str, base: &str) -> Result<Server, String> {
        Ok(Server {
            name,
            client: Client::new(base).map_err(|e| format!("{name}: {e}"))?,
        })
    }

    /// Waits until `/-/ready` answers 200.
    pub fn wait_ready(&self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            let last = match self.client.get("/-/ready") {
                Ok(r) if r.status == 200 => return Ok(()),
                Ok(r) => format!("HTTP {}: {}", r.status, r.text()),
                Err(e) => e.to_string(),
            };
            if Instant::now() > deadline {
                return Err(format!("{} not ready after {timeout:?}: {last}", self.name));
            }
            thread::sleep(Duration::from_millis(200));
        }
    }

    /// Remote-writes the whole data set, in time order or (`late`) with a share of the
    /// samples held back and sent after later ones; returns the number of requests.
    pub fn write(&self, d: &Dataset, late: bool) -> Result<usize, String> {
        let mut requests = 0;
        let batches = if late {
            d.late_slices(5 * 60_000)
        } else {
            d.time_slices(5 * 60_000)
        };
        for batch in batches {
            let body = snappy(&write_request_v1(&batch));
            let r = self
                .client
                .post(
                    "/api/v1/write",
                    &[
                        ("Content-Type", "application/x-protobuf"),
                        ("Content-Encoding", "snappy"),
                        ("X-Prometheus-Remote-Write-Version", "0.1.0"),
                    ],
                    &body,
                )
                .map_err(|e| format!("{} write: {e}", self.name))?;
            if !(200..300).contains(&r.status) {
                return Err(format!(
                    "{} write: HTTP {}: {}",
                    self.name,
                    r.status,
                    r.text().trim()
                ));
            }
            requests += 1;
        }
        Ok(requests)
    }

    /// Runs an API query path and parses the answer.
    pub fn query(&self, path: &str) -> Outcome {
        match self.client.get(path) {
            Ok(r) => parse_outcome(r.status, &r.body),
            Err(e) => Outcome::Invalid(format!("{}: {e}", self.name)),
        }
    }
}

/// One evaluation of one query: an instant query at a time or the range query.
#[derive(Clone, Debug)]
enum Eval {
    Instant(i64),
    Range(i64, i64, i64),
}

impl Eval {
    fn path(&self, expr: &str) -> String {
        let q = url_encode(expr);
        match self {
            Eval::Instant(t) => format!("/api/v1/query?query={q}&time={t}"),
            Eval::Range(s, e, step) => {
                format!("/api/v1/query_range?query={q}&start={s}&end={e}&step={step}")
            }
        }
    }

    fn describe(&self) -> String {
        match self {
            Eval::Instant(t) => format!("instant t={t}"),
            Eval::Range(s, e, step) => format!("range {s}..{e} step {step}s"),
        }
    }
}

/// Runs the whole comparison, printing as it goes. `Err` is a setup failure (a server not
/// ready, a write refused), not a mismatch.
pub fn run(cfg: &RunConfig, queries: &[Query]) -> Result<Summary, String> {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| format!("clock before 1970: {e}"))?
        .as_millis() as i64;
    let data = generate(&GenConfig {
        seed: cfg.seed,
        end_ms: now_ms - END_BEFORE_NOW_MS,
        span_ms: SPAN_MS,
    });
    let times = query_times(&data);
    println!(
        "data: {} series, {} samples, {}..{} ms (seed {}); instant times {:?}, ranges (start, end, step) {:?}, $AT={}",
        data.series.len(),
        data.sample_count(),
        data.first_base_ms,
        data.last_base_ms,
        cfg.seed,
        times.instants,
        times.ranges,
        times.at
    );

    let prom = Server::new("prometheus", &cfg.prometheus)?;
    let strata = match &cfg.strata {
        Some(s) => Some(Server::new("strata", s)?),
        None => None,
    };
    let servers: Vec<&Server> = std::iter::once(&prom).chain(strata.as_ref()).collect();
    for s in &servers {
        s.wait_ready(cfg.ready_timeout)?;
    }
    for s in &servers {
        let n = s.write(&data, cfg.late)?;
        println!(
            "{}: wrote {} samples in {n} requests",
            s.name,
            data.sample_count()
        );
    }
    // Prometheus must hold the whole data set before any comparison means anything: count
    // the series it sees at the last instant time against the data.
    let t = times.instants[0];
    let live = data
        .series
        .iter()
        .filter(|s| {
            s.samples
                .iter()
                .any(|&(ts, _)| ts <= t * 1000 && ts > t * 1000 - LOOKBACK_MS)
        })
        .count();
    let count_path = Eval::Instant(t).path("count({__name__=~\".+\"})");
    for s in &servers {
        let got = s.query(&count_path);
        println!(
            "{}: series at t={t}: {} (the data has {live})",
            s.name,
            summarize(&got)
        );
        if s.name == "prometheus" && vector_value(&got) != Some(live as f64) {
            return Err(format!(
                "prometheus does not see the {live} series the data has at t={t}: {}",
                summarize(&got)
            ));
        }
    }

    let queries: Vec<&Query> = queries
        .iter()
        .filter(|q| match cfg.filter.as_deref() {
            Some(f) => q.text.contains(f),
            None => true,
        })
        .collect();
    let mut evals: Vec<Eval> = times.instants.iter().map(|&t| Eval::Instant(t)).collect();
    evals.extend(times.ranges.iter().map(|&(s, e, st)| Eval::Range(s, e, st)));

    let mut summary = Summary::default();
    let mut failed_by_query: BTreeMap<usize, (String, usize)> = BTreeMap::new();
    for q in &queries {
        let expr = q.expand(times.at);
        for e in &evals {
            let path = e.path(&expr);
            let want = prom.query(&path);
            let Some(strata) = &strata else {
                // Checking the list against Prometheus only: report its errors.
                if !matches!(want, Outcome::Success(_)) {
                    println!(
                        "prometheus rejects line {} [{}] {expr}: {}",
                        q.line,
                        e.describe(),
                        summarize(&want)
                    );
                }
                continue;
            };
            let got = strata.query(&path);
            let ordered = matches!(e, Eval::Instant(_)) && q.ordered();
            let mut diffs = compare(&want, &got, ordered);
            if !diffs.is_empty() && q.ranked() && compare_ranked(&want, &got).is_empty() {
                if cfg.verbose {
                    println!("ties [{}] {expr}: {}", e.describe(), diffs.join("; "));
                }
                diffs.clear();
            }
            if diffs.is_empty() {
                summary.passed += 1;
                match &want {
                    Outcome::Error { .. } => summary.both_errors += 1,
                    o if is_empty(o) => summary.both_empty += 1,
                    _ => {}
                }
                if cfg.verbose {
                    println!("ok   [{}] {expr}: {}", e.describe(), summarize(&want));
                }
            } else {
                summary.failed += 1;
                failed_by_query
                    .entry(q.line)
                    .or_insert_with(|| (expr.clone(), 0))
                    .1 += 1;
                println!("MISMATCH line {} [{}] {expr}", q.line, e.describe());
                for d in &diffs {
                    println!("    - {d}");
                }
                println!("    prometheus: {}", summarize(&want));
                println!("    strata:     {}", summarize(&got));
            }
        }
    }
    if strata.is_some() {
        println!(
            "of the passed comparisons, {} agree on an empty result and {} on an error",
            summary.both_empty, summary.both_errors
        );
    }
    if !failed_by_query.is_empty() {
        println!(
            "\n{} of {} queries have mismatches:",
            failed_by_query.len(),
            queries.len()
        );
        for (line, (expr, n)) in &failed_by_query {
            println!("  line {line:>3} ({n}/{}): {expr}", evals.len());
        }
    }
    Ok(summary)
}

/// The value of a one-element vector.
fn vector_value(o: &Outcome) -> Option<f64> {
    match o {
        Outcome::Success(Data::Vector(v)) if v.len() == 1 => v[0].points.first().map(|p| p.v),
        _ => None,
    }
}

/// Whether an outcome is a successful empty vector or matrix.
fn is_empty(o: &Outcome) -> bool {
    matches!(o, Outcome::Success(Data::Vector(v) | Data::Matrix(v)) if v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_whole_seconds_off_the_minute_and_inside_the_data() {
        let d = generate(&GenConfig {
            seed: 1,
            end_ms: 1_700_000_123_456,
            span_ms: SPAN_MS,
        });
        let t = query_times(&d);
        let all = t
            .instants
            .iter()
            .copied()
            .chain(t.ranges.iter().flat_map(|r| [r.0, r.1]))
            .chain([t.at]);
        for x in all {
            assert_eq!(x.rem_euclid(60), SECOND_OF_MINUTE, "{x}");
            assert!(
                x * 1000 > d.first_base_ms && x * 1000 <= d.last_base_ms,
                "{x}"
            );
        }
        assert_eq!(t.ranges[0].2, STEP_S);
        for r in &t.ranges {
            assert_eq!(r.2 % 60, 0);
            assert!(r.0 < r.1 && (r.1 - r.0) % r.2 == 0);
        }
        assert_eq!(align(67), 67);
        assert_eq!(align(66), 7);
        assert_eq!(align(127), 127);
    }

    #[test]
    fn eval_paths() {
        assert_eq!(
            Eval::Instant(5).path("up{a=\"b\"}"),
            "/api/v1/query?query=up%7Ba%3D%22b%22%7D&time=5"
        );
        assert_eq!(
            Eval::Range(1, 2, 3).path("up"),
            "/api/v1/query_range?query=up&start=1&end=2&step=3"
        );
    }
}

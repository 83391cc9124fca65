//! `strata-querybench`: PromQL latency over the Prometheus HTTP API, the same against Strata,
//! Prometheus and VictoriaMetrics.
//!
//! ```text
//! strata-querybench --url BASE --queries-at END [--repeat 5] [--label NAME] [--span 2h]
//!                   [--timeout-seconds 120] [--only NAME,NAME...] [--pid PID]
//!                   [--queries FILE] [--ranges SECONDS:STEP,...]
//! strata-querybench compare FILE...
//! ```
//!
//! `--queries FILE` replaces [`QUERIES`] by the file's lines `NAME PROMQL` (blank lines and
//! lines starting with `#` skipped). `--ranges` replaces the one range query (`3600:60`) by
//! one range query per `SECONDS:STEP` pair, each over `[END - SECONDS, END]`; their rows are
//! then named by kind `range SECONDSs/STEPs`.
//!
//! The first form runs every query of [`QUERIES`] (the canary-fleet dashboard and SLO shapes
//! of `strata-loadgen`'s workload) twice: as an instant query at `END` (GET
//! `BASE/api/v1/query`) and as a range query over `[END - 1h, END]` at step 60 s (GET
//! `BASE/api/v1/query_range`). Each (query, kind) gets one untimed warm-up request, then
//! `--repeat` timed ones; a request is timed from the first byte written to the last body byte
//! read, over a keep-alive connection. Every answer must be HTTP 200 with `"status":"success"`
//! and a non-empty result, otherwise the row is marked failed (and the exit status is 1).
//! With `--pid` (the server's process id, Linux) it also reports the server's CPU time per
//! query: `utime + stime` of `/proc/PID/stat` over the timed runs, divided by `--repeat`
//! (resolution: one clock tick, 10 ms, over all runs). On a machine shared with other work CPU
//! time is a steadier figure than wall-clock latency; it also counts work a server spreads over
//! several cores, and background work (GC, flushes) that happens during the runs.
//! Output: a table, then one JSON line (the last line) with every figure.
//!
//! `END` is Unix seconds (fractions allowed), as Prometheus's `time` parameter. Align it to a
//! multiple of the step (`benches/query_peers.sh` does) so that every server evaluates the
//! same step grid: VictoriaMetrics rounds range queries to the step, the others do not.
//!
//! `compare` reads the JSON line of several runs (the last line of each FILE that starts with
//! `{`) and prints a Markdown table: the median of each run per (query, kind), and the ratio of
//! the first run to the fastest of the others. A `*` marks a row whose series counts differ
//! between runs. When every run has CPU figures (`--pid`), a second table compares those.
//!
//! The HTTP client is a minimal blocking HTTP/1.1 client over `std::net::TcpStream` (plain
//! `http://` only, `Content-Length`, chunked and read-to-close bodies, no compression).

use std::collections::HashMap;
use std::io;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use strata_benches::cli::{opt, parse_opts, read_queries};
use strata_benches::loadgen::http::{url_encode, Client, Response, Url};
use strata_benches::loadgen::procstat;

/// One benchmark query: a short name and its PromQL text. `$SPAN` is replaced by `--span`.
struct QuerySpec {
    name: &'static str,
    promql: &'static str,
}

/// The nine query shapes of the benchmark (the `histogram_quantile` shape in four variants:
/// p95 and p99, aggregated by `le` and by `(le, endpoint)`), eleven queries in all.
const QUERIES: [QuerySpec; 11] = [
    QuerySpec {
        name: "rate_by_version",
        promql: "sum(rate(http_requests_total[5m])) by (version)",
    },
    QuerySpec {
        name: "error_ratio_by_job",
        promql: "sum by (job) (rate(http_requests_total{status=~\"5..\"}[5m])) \
                 / sum by (job) (rate(http_requests_total[5m]))",
    },
    QuerySpec {
        name: "p95_by_le",
        promql: "histogram_quantile(0.95, sum by (le) \
                 (rate(http_request_duration_seconds_bucket[5m])))",
    },
    QuerySpec {
        name: "p99_by_le",
        promql: "histogram_quantile(0.99, sum by (le) \
                 (rate(http_request_duration_seconds_bucket[5m])))",
    },
    QuerySpec {
        name: "p95_by_le_endpoint",
        promql: "histogram_quantile(0.95, sum by (le, endpoint) \
                 (rate(http_request_duration_seconds_bucket[5m])))",
    },
    QuerySpec {
        name: "p99_by_le_endpoint",
        promql: "histogram_quantile(0.99, sum by (le, endpoint) \
                 (rate(http_request_duration_seconds_bucket[5m])))",
    },
    QuerySpec {
        name: "mean_latency",
        promql: "rate(http_request_duration_seconds_sum[5m]) \
                 / rate(http_request_duration_seconds_count[5m])",
    },
    QuerySpec {
        name: "topk_endpoints",
        promql: "topk(5, sum by (endpoint) (rate(http_requests_total[5m])))",
    },
    QuerySpec {
        name: "slo_ratio_span",
        promql: "sum(increase(http_requests_total{status!~\"5..\"}[$SPAN])) \
                 / sum(increase(http_requests_total[$SPAN]))",
    },
    QuerySpec {
        name: "increase_1h_by_job",
        promql: "sum(increase(http_requests_total[1h])) by (job)",
    },
    QuerySpec {
        name: "max_rate_subquery",
        promql: "max_over_time(sum(rate(http_requests_total[5m]))[1h:1m])",
    },
];

/// Range of the range queries, seconds.
const RANGE_SECONDS: f64 = 3600.0;
/// Step of the range queries, seconds.
const STEP_SECONDS: f64 = 60.0;
/// Largest response body kept (a longer one is cut and then fails as JSON).
const MAX_BODY_BYTES: usize = 512 << 20;

const USAGE: &str = "\
usage:
  strata-querybench --url BASE --queries-at END_SECONDS [--repeat 5] [--label NAME]
                    [--span 2h] [--timeout-seconds 120] [--only NAME,NAME...] [--pid PID]
  strata-querybench compare FILE...     (first FILE is the subject of the ratio column)
  strata-querybench list                (prints the queries)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.first().map(String::as_str) {
        Some("compare") => cmd_compare(&args[1..]),
        Some("list") => {
            for q in &QUERIES {
                println!("{:<20} {}", q.name, expand(q.promql, "2h"));
            }
            Ok(true)
        }
        Some("-h") | Some("--help") => {
            println!("{USAGE}");
            Ok(true)
        }
        _ => cmd_run(&args),
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("strata-querybench: {e}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Command line

fn expand(promql: &str, span: &str) -> String {
    promql.replace("$SPAN", span)
}

// ---------------------------------------------------------------------------------------------
// Running the queries

/// Instant, or range over `range` seconds at `step` seconds.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Instant,
    Range { range: f64, step: f64 },
}

impl Kind {
    /// The row's kind: `instant`, `range` for the default range, else `range Rs/Ss`.
    fn label(self) -> String {
        match self {
            Kind::Instant => "instant".into(),
            Kind::Range { range, step } if range == RANGE_SECONDS && step == STEP_SECONDS => {
                "range".into()
            }
            Kind::Range { range, step } => format!("range {range}s/{step}s"),
        }
    }
}

/// Parses `--ranges`: `SECONDS:STEP` pairs separated by commas.
fn parse_ranges(s: &str) -> Result<Vec<Kind>, String> {
    s.split(',')
        .map(|p| {
            let (r, st) = p
                .split_once(':')
                .ok_or_else(|| format!("--ranges: {p:?} is not SECONDS:STEP"))?;
            let range: f64 = r
                .trim()
                .parse()
                .map_err(|e| format!("--ranges {p:?}: {e}"))?;
            let step: f64 = st
                .trim()
                .parse()
                .map_err(|e| format!("--ranges {p:?}: {e}"))?;
            if !(range > 0.0 && step > 0.0) {
                return Err(format!("--ranges {p:?}: both must be positive"));
            }
            Ok(Kind::Range { range, step })
        })
        .collect()
}

/// The figures of one (query, kind).
#[derive(Clone, Debug, Default)]
struct Row {
    name: String,
    kind: String,
    promql: String,
    median_ms: f64,
    min_ms: f64,
    /// Series in the (last) answer.
    series: u64,
    /// Sample points in the (last) answer.
    points: u64,
    /// Response body bytes of the (last) answer.
    bytes: u64,
    /// Server CPU ms per timed run (with `--pid`).
    cpu_ms: Option<f64>,
    /// Why the row failed; empty when it did not.
    error: String,
}

fn cmd_run(args: &[String]) -> Result<bool, String> {
    let o = parse_opts(
        args,
        &[
            "url",
            "queries-at",
            "repeat",
            "label",
            "span",
            "timeout-seconds",
            "only",
            "pid",
            "queries",
            "ranges",
        ],
    )?;
    let base: String = opt(&o, "url", None)?;
    let end: f64 = opt(&o, "queries-at", None)?;
    if !end.is_finite() || end <= RANGE_SECONDS {
        return Err(format!("--queries-at {end} is not a Unix time in seconds"));
    }
    let repeat: usize = opt(&o, "repeat", Some(5))?;
    if repeat == 0 {
        return Err("--repeat must be at least 1".into());
    }
    let label: String = opt(&o, "label", Some("server".to_string()))?;
    let span: String = opt(&o, "span", Some("2h".to_string()))?;
    let timeout = Duration::from_secs_f64(opt(&o, "timeout-seconds", Some(120.0))?);
    let only: Option<Vec<String>> = o
        .get("only")
        .map(|s| s.split(',').map(|x| x.trim().to_string()).collect());
    let queries: Vec<(String, String)> = match o.get("queries") {
        Some(path) => read_queries(path)?,
        None => QUERIES
            .iter()
            .map(|q| (q.name.to_string(), q.promql.to_string()))
            .collect(),
    };
    let mut kinds = vec![Kind::Instant];
    match o.get("ranges") {
        Some(r) => kinds.extend(parse_ranges(r)?),
        None => kinds.push(Kind::Range {
            range: RANGE_SECONDS,
            step: STEP_SECONDS,
        }),
    }
    if let Some(names) = &only {
        for n in names {
            if !queries.iter().any(|q| q.0 == *n) {
                return Err(format!("--only: no query named {n:?} (see `list`)"));
            }
        }
    }

    let pid: Option<u32> = o.get("pid").map(|_| opt(&o, "pid", None)).transpose()?;
    if let Some(p) = pid {
        procstat::sample(p)?;
    }
    let url = Url::parse(&base)?;
    let prefix = url.path.trim_end_matches('/').to_string();
    let mut client = Client::new(&url, timeout)?.keep_body_up_to(MAX_BODY_BYTES);
    let mut rows = Vec::new();
    let kind_names: Vec<String> = kinds.iter().map(|k| k.label()).collect();
    eprintln!(
        "{label}: {base}, at {end}: {}, 1 warm-up + {repeat} timed runs each",
        kind_names.join(", ")
    );
    for (qname, qtext) in &queries {
        if only.as_ref().is_some_and(|n| !n.iter().any(|x| x == qname)) {
            continue;
        }
        let promql = expand(qtext, &span);
        for &kind in &kinds {
            let target = match kind {
                Kind::Instant => format!(
                    "/api/v1/query?query={}&time={}",
                    url_encode(&promql),
                    fmt_seconds(end)
                ),
                Kind::Range { range, step } => format!(
                    "/api/v1/query_range?query={}&start={}&end={}&step={}",
                    url_encode(&promql),
                    fmt_seconds(end - range),
                    fmt_seconds(end),
                    fmt_seconds(step)
                ),
            };
            let row = measure(
                &mut client,
                &prefix,
                pid,
                qname,
                kind,
                &promql,
                &target,
                repeat,
            );
            eprintln!(
                "  {:<20} {:<7} median {:>9.2} ms  min {:>9.2} ms  series {:>6}{}",
                row.name,
                row.kind,
                row.median_ms,
                row.min_ms,
                row.series,
                if row.error.is_empty() {
                    String::new()
                } else {
                    format!("  FAILED: {}", row.error)
                }
            );
            rows.push(row);
        }
    }
    let peak_rss = pid
        .and_then(|p| procstat::sample(p).ok())
        .map(|s| s.peak_rss_bytes);
    print_table(&label, &rows);
    if let Some(b) = peak_rss {
        println!("server peak RSS: {:.0} MiB", b as f64 / 1048576.0);
    }
    let run = RunInfo {
        label: &label,
        base: &base,
        end,
        repeat,
        span: &span,
        peak_rss,
    };
    println!("{}", run_json(&run, &rows));
    Ok(rows.iter().all(|r| r.error.is_empty()))
}

/// One warm-up request, then `repeat` timed ones; stops at the first failure.
#[allow(clippy::too_many_arguments)]
fn measure(
    client: &mut Client,
    prefix: &str,
    pid: Option<u32>,
    name: &str,
    kind: Kind,
    promql: &str,
    target: &str,
    repeat: usize,
) -> Row {
    let mut row = Row {
        name: name.to_string(),
        kind: kind.label(),
        promql: promql.to_string(),
        median_ms: f64::NAN,
        min_ms: f64::NAN,
        ..Row::default()
    };
    let mut times = Vec::with_capacity(repeat);
    let mut cpu_before = None;
    for i in 0..=repeat {
        if i == 1 {
            cpu_before = pid.and_then(|p| procstat::sample(p).ok());
        }
        let (elapsed, resp) = match timed_get(client, prefix, target) {
            Ok(x) => x,
            Err(e) => {
                row.error = format!("transport: {e}");
                return row;
            }
        };
        match check_answer(&resp) {
            Ok((series, points)) => {
                row.series = series;
                row.points = points;
                row.bytes = resp.body.len() as u64;
            }
            Err(e) => {
                row.error = e;
                return row;
            }
        }
        if i > 0 {
            times.push(elapsed.as_secs_f64() * 1000.0);
        }
    }
    if let (Some(p), Some(before)) = (pid, cpu_before) {
        if let Ok(after) = procstat::sample(p) {
            row.cpu_ms = Some((after.cpu_seconds - before.cpu_seconds) * 1000.0 / repeat as f64);
        }
    }
    times.sort_by(f64::total_cmp);
    row.min_ms = times[0];
    row.median_ms = median(&times);
    row
}

/// Median of sorted values.
fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// Checks an API answer: 200, `"status":"success"`, a non-empty result. Returns the number
/// of series and of sample points.
fn check_answer(resp: &Response) -> Result<(u64, u64), String> {
    let text = String::from_utf8_lossy(&resp.body);
    if resp.status != 200 {
        return Err(format!("HTTP {}: {}", resp.status, snippet(&text)));
    }
    let v: Json =
        serde_json::from_slice(&resp.body).map_err(|e| format!("answer is not JSON: {e}"))?;
    if v.get("status").and_then(Json::as_str) != Some("success") {
        return Err(format!("status is not success: {}", snippet(&text)));
    }
    let data = v.get("data").ok_or("answer has no data")?;
    let rtype = data.get("resultType").and_then(Json::as_str).unwrap_or("");
    let result = data.get("result").ok_or("answer has no data.result")?;
    let (series, points) = match rtype {
        "vector" => {
            let n = result.as_array().map_or(0, Vec::len) as u64;
            (n, n)
        }
        "matrix" => {
            let arr = result.as_array().map(Vec::as_slice).unwrap_or(&[]);
            let points = arr
                .iter()
                .map(|s| s.get("values").and_then(Json::as_array).map_or(0, Vec::len) as u64)
                .sum();
            (arr.len() as u64, points)
        }
        "scalar" | "string" => (1, 1),
        other => return Err(format!("unknown resultType {other:?}")),
    };
    if series == 0 || points == 0 {
        return Err("empty result".into());
    }
    Ok((series, points))
}

fn snippet(s: &str) -> String {
    let s = s.trim();
    match s.char_indices().nth(300) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

/// Unix seconds with millisecond precision, without trailing zeros.
fn fmt_seconds(s: f64) -> String {
    let ms = (s * 1000.0).round() as i64;
    if ms % 1000 == 0 {
        format!("{}", ms / 1000)
    } else {
        format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
    }
}

fn print_table(label: &str, rows: &[Row]) {
    println!();
    println!(
        "{:<20} {:<7} {:>12} {:>12} {:>10} {:>7} {:>7} {:>10}  {label}",
        "query", "kind", "median ms", "min ms", "cpu ms", "series", "points", "bytes"
    );
    for r in rows {
        if r.error.is_empty() {
            let cpu = r.cpu_ms.map_or("-".to_string(), |c| format!("{c:.1}"));
            println!(
                "{:<20} {:<7} {:>12.2} {:>12.2} {:>10} {:>7} {:>7} {:>10}",
                r.name, r.kind, r.median_ms, r.min_ms, cpu, r.series, r.points, r.bytes
            );
        } else {
            println!("{:<20} {:<7} FAILED: {}", r.name, r.kind, r.error);
        }
    }
}

fn num(x: f64) -> Json {
    serde_json::Number::from_f64((x * 1000.0).round() / 1000.0).map_or(Json::Null, Json::Number)
}

/// What a run was, for its JSON line.
struct RunInfo<'a> {
    label: &'a str,
    base: &'a str,
    end: f64,
    repeat: usize,
    span: &'a str,
    peak_rss: Option<u64>,
}

fn run_json(run: &RunInfo<'_>, rows: &[Row]) -> String {
    let results: Vec<Json> = rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "name": r.name,
                "kind": r.kind,
                "query": r.promql,
                "median_ms": num(r.median_ms),
                "min_ms": num(r.min_ms),
                "series": r.series,
                "points": r.points,
                "bytes": r.bytes,
                "cpu_ms": r.cpu_ms.map_or(Json::Null, num),
                "ok": r.error.is_empty(),
                "error": r.error,
            })
        })
        .collect();
    serde_json::json!({
        "label": run.label,
        "url": run.base,
        "end": run.end,
        "range_seconds": RANGE_SECONDS,
        "step_seconds": STEP_SECONDS,
        "span": run.span,
        "repeat": run.repeat,
        "server_peak_rss_bytes": run.peak_rss,
        "results": results,
    })
    .to_string()
}

// ---------------------------------------------------------------------------------------------
// compare

/// One (query, kind) of a run read back from its JSON line.
struct Entry {
    /// Median latency, `None` if the row failed.
    median_ms: Option<f64>,
    /// Server CPU per run, if measured.
    cpu_ms: Option<f64>,
    series: u64,
}

/// One run read back from its JSON line.
struct Run {
    label: String,
    peak_rss: Option<u64>,
    rows: HashMap<(String, String), Entry>,
    order: Vec<(String, String)>,
}

fn load_run(path: &str) -> Result<Run, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let line = text
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .ok_or_else(|| format!("{path}: no JSON line"))?;
    let v: Json = serde_json::from_str(line).map_err(|e| format!("{path}: bad JSON: {e}"))?;
    let label = v
        .get("label")
        .and_then(Json::as_str)
        .unwrap_or(path)
        .to_string();
    let mut run = Run {
        label,
        peak_rss: v.get("server_peak_rss_bytes").and_then(Json::as_u64),
        rows: HashMap::new(),
        order: Vec::new(),
    };
    for r in v
        .get("results")
        .and_then(Json::as_array)
        .ok_or_else(|| format!("{path}: no results"))?
    {
        let s = |k: &str| r.get(k).and_then(Json::as_str).unwrap_or("").to_string();
        let key = (s("name"), s("kind"));
        let ok = r.get("ok").and_then(Json::as_bool).unwrap_or(false);
        let entry = Entry {
            median_ms: r.get("median_ms").and_then(Json::as_f64).filter(|_| ok),
            cpu_ms: r.get("cpu_ms").and_then(Json::as_f64).filter(|_| ok),
            series: r.get("series").and_then(Json::as_u64).unwrap_or(0),
        };
        run.order.push(key.clone());
        run.rows.insert(key, entry);
    }
    Ok(run)
}

fn cmd_compare(files: &[String]) -> Result<bool, String> {
    if files.len() < 2 {
        return Err("compare needs at least two files".into());
    }
    let runs = files
        .iter()
        .map(|f| load_run(f))
        .collect::<Result<Vec<_>, _>>()?;
    println!("Median latency, ms:");
    println!();
    compare_table(&runs, |e| e.median_ms, true);
    let has_cpu = runs
        .iter()
        .all(|r| r.rows.values().any(|e| e.cpu_ms.is_some()));
    if has_cpu {
        println!();
        println!("Server CPU time per query, ms (utime + stime over the timed runs / runs):");
        println!();
        compare_table(&runs, |e| e.cpu_ms, false);
    }
    if runs.iter().any(|r| r.peak_rss.is_some()) {
        println!();
        let rss: Vec<String> = runs
            .iter()
            .map(|r| {
                let mib = r
                    .peak_rss
                    .map_or("-".to_string(), |b| format!("{:.0}", b as f64 / 1048576.0));
                format!("{} {mib} MiB", r.label)
            })
            .collect();
        println!("Server peak RSS (since start, or since the reset query_peers.sh does after loading): {}", rss.join(", "));
    }
    Ok(true)
}

/// Prints one Markdown table of `metric` per run, with the ratio of the first run to the
/// best of the others, and a summary line.
fn compare_table(runs: &[Run], metric: impl Fn(&Entry) -> Option<f64>, mark_series: bool) {
    let subject = &runs[0];
    let mut header = String::from("| query | kind |");
    let mut rule = String::from("|---|---|");
    for r in runs {
        header.push_str(&format!(" {} |", r.label));
        rule.push_str("---:|");
    }
    header.push_str(&format!(" {} / best peer |", subject.label));
    rule.push_str("---:|");
    println!("{header}\n{rule}");
    let mut met = 0usize;
    let mut compared = 0usize;
    let mut log_sum = 0.0;
    for key in &subject.order {
        let mut line = format!("| `{}` | {} |", key.0, key.1);
        let mut counts = Vec::new();
        for r in runs {
            match r.rows.get(key) {
                Some(e) => {
                    match metric(e) {
                        Some(x) => line.push_str(&format!(" {} |", fmt_ms(x))),
                        None if e.median_ms.is_none() => line.push_str(" failed |"),
                        None => line.push_str(" - |"),
                    }
                    if e.median_ms.is_some() {
                        counts.push(e.series);
                    }
                }
                None => line.push_str(" - |"),
            }
        }
        let own = subject.rows.get(key).and_then(&metric);
        let best_peer = runs[1..]
            .iter()
            .filter_map(|r| r.rows.get(key).and_then(&metric))
            .min_by(f64::total_cmp);
        match (own, best_peer) {
            (Some(a), Some(b)) if b > 0.0 && a > 0.0 => {
                let ratio = a / b;
                compared += 1;
                log_sum += ratio.ln();
                if ratio <= 0.5 {
                    met += 1;
                }
                line.push_str(&format!(" {ratio:.2} |"));
            }
            _ => line.push_str(" - |"),
        }
        if mark_series && counts.windows(2).any(|w| w[0] != w[1]) {
            line.push_str(" * series differ:");
            for c in &counts {
                line.push_str(&format!(" {c}"));
            }
        }
        println!("{line}");
    }
    if compared > 0 {
        println!();
        println!(
            "{} / best peer: geometric mean {:.2}; {met} of {compared} rows at <= 0.5",
            subject.label,
            (log_sum / compared as f64).exp()
        );
    }
}

fn fmt_ms(ms: f64) -> String {
    if ms >= 100.0 {
        format!("{ms:.0}")
    } else if ms >= 10.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.2}")
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP

/// GETs `prefix + target`, timing from sending the request to reading the last body byte.
fn timed_get(client: &mut Client, prefix: &str, target: &str) -> io::Result<(Duration, Response)> {
    let t0 = Instant::now();
    let resp = client.get(
        &format!("{prefix}{target}"),
        &[
            ("Accept", "application/json"),
            ("User-Agent", "strata-querybench"),
        ],
    )?;
    Ok((t0.elapsed(), resp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encoding_and_times() {
        assert_eq!(
            url_encode("sum(rate(x{a=~\"5..\"}[5m])) by (le)"),
            "sum%28rate%28x%7Ba%3D~%225..%22%7D%5B5m%5D%29%29%20by%20%28le%29"
        );
        assert_eq!(fmt_seconds(1_700_000_000.0), "1700000000");
        assert_eq!(fmt_seconds(1_700_000_000.25), "1700000000.250");
    }

    #[test]
    fn answers_are_checked() {
        let ok = |body: &str| {
            check_answer(&Response {
                status: 200,
                body: body.as_bytes().to_vec(),
                retry_after: None,
            })
        };
        assert_eq!(
            ok(
                r#"{"status":"success","data":{"resultType":"matrix","result":[
                {"metric":{},"values":[[1,"1"],[2,"2"]]}]}}"#
            ),
            Ok((1, 2))
        );
        assert_eq!(
            ok(
                r#"{"status":"success","data":{"resultType":"vector","result":[
                {"metric":{},"value":[1,"1"]},{"metric":{"a":"b"},"value":[1,"1"]}]}}"#
            ),
            Ok((2, 2))
        );
        assert!(ok(r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#).is_err());
        assert!(ok(r#"{"status":"error","errorType":"bad_data","error":"x"}"#).is_err());
        assert!(check_answer(&Response {
            status: 400,
            body: b"{}".to_vec(),
            retry_after: None,
        })
        .is_err());
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[1.0, 2.0, 9.0]), 2.0);
        assert_eq!(median(&[1.0, 2.0, 4.0, 9.0]), 3.0);
    }

    #[test]
    fn query_names_are_unique() {
        for (i, a) in QUERIES.iter().enumerate() {
            assert!(QUERIES[i + 1..].iter().all(|b| b.name != a.name));
        }
    }
}

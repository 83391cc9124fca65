//! `overload`: drives a remote-write receiver past what it can take and measures whether it
//! sheds the excess (429/503 with `Retry-After`) instead of stalling, keeps answering
//! queries, keeps its RSS bounded, and recovers by itself when the load drops.
//!
//! Three phases, each bounded in time, all from one payload directory read in file order
//! (every request is sent at most once, so series see their samples in time order unless
//! concurrent requests for the same series overtake each other in the open loop: the
//! receiver may refuse those samples with 400 as out of order, counted apart; payloads cut
//! into many requests per round, e.g. `generate --batch-series 1000` for 50k series, keep
//! requests for the same series far apart):
//! 1. **probe**: a closed loop on `probe_concurrency` keep-alive connections, one scrape
//!    round at a time (as `replay`); the samples acknowledged per second after a warm-up
//!    (the first fifth, at most 2 s, when series are created) are the sustainable rate
//!    (`rate` replaces it for the next phases, e.g. to offer several servers the same load;
//!    the probe still runs, so every server holds the same data when the overload starts);
//! 2. **overload**: an open loop at `factor` x that rate: each request is issued at its
//!    scheduled time on an idle connection out of `connections`, whatever the earlier ones
//!    are doing; when none is idle the request is counted as not sent (the client's own
//!    limit, reported so it is not mistaken for the server's);
//! 3. **recovery**: the same open loop at `recover_factor` x the rate; recovery time is when
//!    the first request of the final all-2xx stretch was issued (none: not recovered).
//!
//! Between phases 1 and 2 the query runs a few times back to back without load (the
//! baseline); during phases 2 and 3 a query thread runs it once a second (at the time of the
//! latest round sent) and records latency and status; with a PID, the server's RSS is read
//! from `/proc` every 100 ms and its CPU time at each phase boundary. Only loopback URLs are
//! accepted.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use super::http::{remote_write_headers, url_encode, Client, Response, Url};
use super::payload::{Manifest, PayloadReader, Request};
use super::procstat;

/// What to run.
#[derive(Clone, Debug)]
pub struct OverloadSpec {
    /// The remote-write URL (loopback only).
    pub write_url: Url,
    /// The query API base (`http://host:port`, loopback only); `None`: no queries.
    pub query_url: Option<Url>,
    /// The payload directory.
    pub dir: PathBuf,
    /// Server process to measure.
    pub pid: Option<u32>,
    /// Closed-loop connections of the probe.
    pub probe_concurrency: usize,
    /// Length of the probe.
    pub probe_seconds: f64,
    /// The rate (samples/s) the next phases multiply instead of the probe's.
    pub rate: Option<f64>,
    /// Overload rate as a multiple of the sustainable rate.
    pub factor: f64,
    /// Length of the overload phase.
    pub overload_seconds: f64,
    /// Recovery rate as a multiple of the sustainable rate.
    pub recover_factor: f64,
    /// Length of the recovery phase.
    pub recover_seconds: f64,
    /// Connections of the open loop.
    pub connections: usize,
    /// Per-request I/O timeout (writes and queries).
    pub timeout: Duration,
    /// The PromQL query run every second.
    pub query: String,
}

/// How requests of one phase ended.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tally {
    /// Requests sent.
    pub sent: u64,
    /// Samples in requests sent.
    pub samples_sent: u64,
    /// Requests answered 2xx.
    pub ok: u64,
    /// Samples in requests answered 2xx.
    pub samples_ok: u64,
    /// 429 with `Retry-After`.
    pub r429: u64,
    /// 503 with `Retry-After`.
    pub r503: u64,
    /// 429 or 503 without `Retry-After`.
    pub shed_without_retry_after: u64,
    /// 400: samples refused (e.g. out of order when concurrent requests were reordered).
    pub r400: u64,
    /// Any other status.
    pub other: BTreeMap<u16, u64>,
    /// Requests that timed out on the client.
    pub timeouts: u64,
    /// Connection errors (refused, reset, closed mid-response).
    pub connection_errors: u64,
    /// Requests not sent: no idle connection at their scheduled time.
    pub not_sent: u64,
    /// The first failure, for the log.
    pub first_failure: Option<String>,
    /// Connections opened.
    pub connects: u64,
}

impl Tally {
    fn record(&mut self, samples: u32, result: &std::io::Result<Response>) {
        self.sent += 1;
        self.samples_sent += u64::from(samples);
        let failure = match result {
            Ok(r) if (200..300).contains(&r.status) => {
                self.ok += 1;
                self.samples_ok += u64::from(samples);
                return;
            }
            Ok(r) => {
                match (r.status, r.retry_after.is_some()) {
                    (429, true) => self.r429 += 1,
                    (503, true) => self.r503 += 1,
                    (429 | 503, false) => self.shed_without_retry_after += 1,
                    (400, _) => self.r400 += 1,
                    (s, _) => *self.other.entry(s).or_default() += 1,
                }
                let body = String::from_utf8_lossy(&r.body[..r.body.len().min(200)]);
                format!("HTTP {}: {}", r.status, body.trim())
            }
            Err(e) => {
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) {
                    self.timeouts += 1;
                } else {
                    self.connection_errors += 1;
                }
                e.to_string()
            }
        };
        let shed =
            matches!(result, Ok(r) if matches!(r.status, 429 | 503) && r.retry_after.is_some());
        if self.first_failure.is_none() && !shed {
            self.first_failure = Some(failure);
        }
    }

    fn add(&mut self, o: Tally) {
        self.sent += o.sent;
        self.samples_sent += o.samples_sent;
        self.ok += o.ok;
        self.samples_ok += o.samples_ok;
        self.r429 += o.r429;
        self.r503 += o.r503;
        self.shed_without_retry_after += o.shed_without_retry_after;
        self.r400 += o.r400;
        for (k, v) in o.other {
            *self.other.entry(k).or_default() += v;
        }
        self.timeouts += o.timeouts;
        self.connection_errors += o.connection_errors;
        self.not_sent += o.not_sent;
        self.connects += o.connects;
        if self.first_failure.is_none() {
            self.first_failure = o.first_failure;
        }
    }

    fn to_json(&self) -> String {
        let other: Vec<String> = self
            .other
            .iter()
            .map(|(k, v)| format!("\"{k}\":{v}"))
            .collect();
        format!(
            "{{\"sent\":{},\"samples_sent\":{},\"ok\":{},\"samples_ok\":{},\"429\":{},\
             \"503\":{},\"shed_without_retry_after\":{},\"400\":{},\"other\":{{{}}},\
             \"timeouts\":{},\"connection_errors\":{},\"not_sent\":{},\"connects\":{}}}",
            self.sent,
            self.samples_sent,
            self.ok,
            self.samples_ok,
            self.r429,
            self.r503,
            self.shed_without_retry_after,
            self.r400,
            other.join(","),
            self.timeouts,
            self.connection_errors,
            self.not_sent,
            self.connects
        )
    }
}

/// One phase's figures.
#[derive(Clone, Debug, Default)]
pub struct Phase {
    /// Wall seconds from the first request to the last answer.
    pub seconds: f64,
    /// The rate asked for (samples/s; 0 for the closed-loop probe).
    pub target_rate: f64,
    /// Outcomes.
    pub tally: Tally,
    /// Server CPU seconds over the phase.
    pub server_cpu_seconds: f64,
    /// Largest server RSS sampled during the phase.
    pub server_rss_max: u64,
}

impl Phase {
    /// Acknowledged samples per second.
    pub fn accepted_rate(&self) -> f64 {
        self.tally.samples_ok as f64 / self.seconds.max(1e-9)
    }

    fn to_json(&self) -> String {
        format!(
            "{{\"seconds\":{:.3},\"target_samples_per_second\":{:.0},\
             \"accepted_samples_per_second\":{:.0},\"server_cpu_seconds\":{:.3},\
             \"server_rss_max_bytes\":{},\"requests\":{}}}",
            self.seconds,
            self.target_rate,
            self.accepted_rate(),
            self.server_cpu_seconds,
            self.server_rss_max,
            self.tally.to_json()
        )
    }
}

/// Query latencies and failures.
#[derive(Clone, Debug, Default)]
pub struct Queries {
    /// Latencies of all queries in microseconds, sorted.
    pub latencies_us: Vec<u64>,
    /// Queries not answered 200.
    pub failures: u64,
    /// The first failure.
    pub first_failure: Option<String>,
}

impl Queries {
    fn to_json(&self) -> String {
        format!(
            "{{\"count\":{},\"failures\":{},\"p50_ms\":{:.3},\"p99_ms\":{:.3},\
             \"max_ms\":{:.3}}}",
            self.latencies_us.len(),
            self.failures,
            self.ms(0.5),
            self.ms(0.99),
            self.ms(1.0)
        )
    }

    /// Latency quantile `q` in ms (nearest rank).
    pub fn ms(&self, q: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let n = self.latencies_us.len();
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
        self.latencies_us[rank - 1] as f64 / 1000.0
    }
}

/// The result of a run.
#[derive(Clone, Debug, Default)]
pub struct OverloadReport {
    /// The rate the overload and recovery rates are multiples of (measured or given).
    pub sustainable_rate: f64,
    /// The rate the probe measured, samples/s.
    pub probe_rate: f64,
    /// Probe (closed loop).
    pub probe: Option<Phase>,
    /// Overload (open loop at `factor` x).
    pub overload: Phase,
    /// Recovery (open loop at `recover_factor` x).
    pub recovery: Phase,
    /// Seconds from the start of recovery to the first request of the final all-2xx
    /// stretch; `None` if the last request of the phase failed.
    pub recovery_seconds: Option<f64>,
    /// Queries during overload and recovery.
    pub queries: Queries,
    /// The same query run back to back without load, after the probe, as a baseline.
    pub idle_queries: Queries,
    /// True if the payloads ran out before a phase's end.
    pub payload_exhausted: bool,
}

impl OverloadReport {
    /// A human-readable summary.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "sustainable rate: {:.0} samples/s (probe measured {:.0})\n",
            self.sustainable_rate, self.probe_rate
        );
        let line = |name: &str, p: &Phase| {
            let t = &p.tally;
            format!(
                "{name}: {:.1} s at {:.0} samples/s asked: {:.0} accepted/s; requests {} sent, \
                 {} 2xx, {} 503+Retry-After, {} 429+Retry-After, {} shed without Retry-After, \
                 {} 400, other {:?}, {} timeouts, {} connection errors, {} not sent (client \
                 busy), {} connects; server {:.2} CPU-s, RSS max {:.1} MiB{}\n",
                p.seconds,
                p.target_rate,
                p.accepted_rate(),
                t.sent,
                t.ok,
                t.r503,
                t.r429,
                t.shed_without_retry_after,
                t.r400,
                t.other,
                t.timeouts,
                t.connection_errors,
                t.not_sent,
                t.connects,
                p.server_cpu_seconds,
                p.server_rss_max as f64 / 1048576.0,
                t.first_failure
                    .as_ref()
                    .map(|f| format!("; first failure: {f}"))
                    .unwrap_or_default()
            )
        };
        if let Some(p) = &self.probe {
            out.push_str(&line("probe", p));
        }
        out.push_str(&line("overload", &self.overload));
        out.push_str(&line("recovery", &self.recovery));
        out.push_str(&match self.recovery_seconds {
            Some(s) => {
                format!("recovered: every write issued from {s:.2} s into recovery on succeeded\n")
            }
            None => "NOT RECOVERED: the last write of the recovery phase failed\n".to_string(),
        });
        for (name, q) in [
            ("queries without load", &self.idle_queries),
            ("queries under load", &self.queries),
        ] {
            out.push_str(&format!(
                "{name}: {} run, {} failed, latency ms p50 {:.1} p99 {:.1} max {:.1}{}\n",
                q.latencies_us.len(),
                q.failures,
                q.ms(0.5),
                q.ms(0.99),
                q.ms(1.0),
                q.first_failure
                    .as_ref()
                    .map(|f| format!("; first failure: {f}"))
                    .unwrap_or_default()
            ));
        }
        if self.payload_exhausted {
            out.push_str("payloads ran out before the end of a phase: generate more hours\n");
        }
        out
    }

    /// The one-line JSON summary.
    pub fn to_json(&self) -> String {
        format!(
            "{{\"sustainable_samples_per_second\":{:.0},\"probe_samples_per_second\":{:.0},\
             \"probe\":{},\"overload\":{},\
             \"recovery\":{},\"recovered\":{},\"recovery_seconds\":{},\"queries\":{},\
             \"idle_queries\":{},\"payload_exhausted\":{}}}",
            self.sustainable_rate,
            self.probe_rate,
            self.probe
                .as_ref()
                .map_or("null".to_string(), Phase::to_json),
            self.overload.to_json(),
            self.recovery.to_json(),
            self.recovery_seconds.is_some(),
            self.recovery_seconds
                .map_or("null".to_string(), |s| format!("{s:.3}")),
            self.queries.to_json(),
            self.idle_queries.to_json(),
            self.payload_exhausted
        )
    }
}

/// Queries run without load before the overload, for the baseline latency.
const IDLE_QUERIES: usize = 5;

/// Requests in file order from a loader thread, with the time of the latest round handed
/// out (for the queries).
struct Feed {
    rx: Mutex<mpsc::Receiver<Request>>,
    /// A request read ahead by [`Feed::next_round`] (the first of the next round).
    peeked: Mutex<Option<Request>>,
    exhausted: AtomicBool,
    latest_ms: AtomicI64,
    manifest: Manifest,
}

impl Feed {
    fn open(dir: &std::path::Path) -> Result<(Arc<Feed>, std::thread::JoinHandle<()>), String> {
        let manifest = Manifest::load(dir)?;
        let mut reader = PayloadReader::open(dir)
            .map_err(|e| format!("cannot open payloads in {}: {e}", dir.display()))?;
        let (tx, rx) = mpsc::sync_channel::<Request>(512);
        let loader = std::thread::spawn(move || {
            while let Ok(Some(round)) = reader.next_round() {
                for r in round {
                    if tx.send(r).is_err() {
                        return;
                    }
                }
            }
        });
        let feed = Feed {
            rx: Mutex::new(rx),
            peeked: Mutex::new(None),
            exhausted: AtomicBool::new(false),
            latest_ms: AtomicI64::new(manifest.min_time),
            manifest,
        };
        Ok((Arc::new(feed), loader))
    }

    /// The requests of the next scrape round.
    fn next_round(&self) -> Vec<Request> {
        let mut out: Vec<Request> = Vec::new();
        while let Some(r) = self.next() {
            if out.first().is_some_and(|f| f.round != r.round) {
                if let Ok(mut p) = self.peeked.lock() {
                    *p = Some(r);
                }
                break;
            }
            out.push(r);
        }
        out
    }

    fn next(&self) -> Option<Request> {
        if let Some(r) = self.peeked.lock().ok().and_then(|mut p| p.take()) {
            return Some(r);
        }
        let r = self.rx.lock().ok()?.recv().ok();
        match &r {
            Some(req) => {
                let m = &self.manifest;
                let span = (m.max_time - m.min_time).max(0);
                let t = m.min_time
                    + span * i64::from(req.round) / (m.rounds.saturating_sub(1).max(1) as i64);
                self.latest_ms.fetch_max(t, Ordering::Relaxed);
            }
            None => self.exhausted.store(true, Ordering::Relaxed),
        }
        r
    }
}

/// Fails unless `url`'s host resolves to a loopback address.
fn check_loopback(url: &Url) -> Result<(), String> {
    let addr = url.socket_addr()?;
    let ip = addr.ip();
    let lo = match ip {
        IpAddr::V4(v) => v.is_loopback(),
        IpAddr::V6(v) => v.is_loopback(),
    };
    if lo {
        Ok(())
    } else {
        Err(format!(
            "{}: the overload mode sends only to loopback addresses",
            url.authority
        ))
    }
}

/// The largest RSS per phase, sampled every 100 ms.
struct RssWatch {
    phase: AtomicUsize,
    max: [AtomicU64; 3],
    stop: AtomicBool,
}

fn cpu(pid: Option<u32>) -> f64 {
    pid.and_then(|p| procstat::sample(p).ok())
        .map_or(0.0, |s| s.cpu_seconds)
}

/// Runs the closed-loop probe; returns the phase and the sustainable rate. Rounds are sent
/// one after the other, as `replay` does (a round's requests on up to `probe_concurrency`
/// connections, all answered before the next round starts), so no series ever has two
/// requests in flight and none is refused as out of order.
fn probe(spec: &OverloadSpec, feed: &Feed) -> Result<(Phase, f64), String> {
    let duration = Duration::from_secs_f64(spec.probe_seconds);
    let warmup = Duration::from_secs_f64((spec.probe_seconds / 5.0).min(2.0));
    let after_warmup = AtomicU64::new(0);
    let mut clients = (0..spec.probe_concurrency)
        .map(|_| Client::new(&spec.write_url, spec.timeout))
        .collect::<Result<Vec<_>, _>>()?;
    let headers = remote_write_headers(feed.manifest.protocol);
    let cpu0 = cpu(spec.pid);
    let start = Instant::now();
    let mut phase = Phase::default();
    while start.elapsed() < duration {
        let round = feed.next_round();
        if round.is_empty() {
            break;
        }
        let next = AtomicUsize::new(0);
        let tallies: Vec<Tally> = std::thread::scope(|scope| {
            let handles: Vec<_> = clients
                .iter_mut()
                .take(round.len())
                .map(|client| {
                    let (after_warmup, next, round) = (&after_warmup, &next, &round);
                    scope.spawn(move || {
                        let mut tally = Tally::default();
                        while let Some(req) = round.get(next.fetch_add(1, Ordering::Relaxed)) {
                            let r = client.post(&spec.write_url.path, headers, &req.body);
                            if matches!(&r, Ok(resp) if (200..300).contains(&resp.status))
                                && start.elapsed() >= warmup
                            {
                                after_warmup.fetch_add(u64::from(req.samples), Ordering::Relaxed);
                            }
                            tally.record(req.samples, &r);
                        }
                        tally
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_default())
                .collect()
        });
        for t in tallies {
            phase.tally.add(t);
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    phase.seconds = seconds;
    phase.server_cpu_seconds = cpu(spec.pid) - cpu0;
    phase.tally.connects = clients.iter().map(|c| c.connects).sum();
    let measured = seconds - warmup.as_secs_f64();
    let rate = after_warmup.load(Ordering::Relaxed) as f64 / measured.max(1e-9);
    if rate <= 0.0 {
        return Err(format!(
            "the probe acknowledged no samples after its warm-up: {}",
            phase.tally.first_failure.as_deref().unwrap_or("no answer")
        ));
    }
    Ok((phase, rate))
}

/// One request handed to an open-loop connection.
struct Job {
    req: Request,
    /// Seconds from the phase start at which it was issued.
    issued: f64,
}

/// Runs an open loop at `rate` samples/s for `seconds`; returns the phase and, per issued
/// request, its issue time and whether it got a 2xx (not-sent requests count as failures).
fn open_loop(
    spec: &OverloadSpec,
    feed: &Feed,
    rate: f64,
    seconds: f64,
) -> (Phase, Vec<(f64, bool)>) {
    let conns = spec.connections;
    let (tx, rx) = mpsc::sync_channel::<Job>(conns);
    let rx = Mutex::new(rx);
    let idle = AtomicUsize::new(conns);
    let outcomes = Mutex::new(Vec::new());
    let headers = remote_write_headers(feed.manifest.protocol);
    let cpu0 = cpu(spec.pid);
    let start = Instant::now();
    let mut not_sent = Tally::default();
    let tallies: Vec<Tally> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..conns)
            .map(|_| {
                let (rx, idle, outcomes) = (&rx, &idle, &outcomes);
                scope.spawn(move || {
                    let mut tally = Tally::default();
                    let Ok(mut client) = Client::new(&spec.write_url, spec.timeout) else {
                        return tally;
                    };
                    loop {
                        let job = match rx.lock() {
                            Ok(g) => g.recv(),
                            Err(_) => break,
                        };
                        let Ok(job) = job else { break };
                        let r = client.post(&spec.write_url.path, headers, &job.req.body);
                        let ok = matches!(&r, Ok(resp) if (200..300).contains(&resp.status));
                        tally.record(job.req.samples, &r);
                        if let Ok(mut o) = outcomes.lock() {
                            o.push((job.issued, ok));
                        }
                        idle.fetch_add(1, Ordering::Release);
                    }
                    tally.connects = client.connects;
                    tally
                })
            })
            .collect();
        // The schedule: request i is due when the samples before it, at `rate`, are sent.
        let mut due = 0.0f64;
        while due < seconds {
            let now = start.elapsed().as_secs_f64();
            if due > now {
                std::thread::sleep(Duration::from_secs_f64(due - now));
            }
            let Some(req) = feed.next() else { break };
            due += f64::from(req.samples.max(1)) / rate;
            let issued = start.elapsed().as_secs_f64();
            if idle.load(Ordering::Acquire) == 0 {
                not_sent.not_sent += 1;
                if let Ok(mut o) = outcomes.lock() {
                    o.push((issued, false));
                }
                continue;
            }
            idle.fetch_sub(1, Ordering::AcqRel);
            // Never blocks: at most `conns` jobs are handed out and not yet taken.
            if tx.send(Job { req, issued }).is_err() {
                break;
            }
        }
        drop(tx);
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let mut phase = Phase {
        seconds: start.elapsed().as_secs_f64(),
        target_rate: rate,
        server_cpu_seconds: cpu(spec.pid) - cpu0,
        ..Phase::default()
    };
    phase.tally.add(not_sent);
    for t in tallies {
        phase.tally.add(t);
    }
    let mut o = outcomes.into_inner().unwrap_or_default();
    o.sort_by(|a, b| a.0.total_cmp(&b.0));
    (phase, o)
}

/// Seconds into the phase from which every issued request succeeded; `None` if the last
/// one failed or none was issued.
pub fn recovery_time(outcomes: &[(f64, bool)]) -> Option<f64> {
    if !outcomes.last()?.1 {
        return None;
    }
    match outcomes.iter().rposition(|o| !o.1) {
        Some(i) => Some(outcomes[i + 1].0),
        None => Some(0.0),
    }
}

/// Runs the queries every second until `stop`, or `limit` queries back to back.
fn run_queries(
    spec: &OverloadSpec,
    base: &Url,
    feed: &Feed,
    stop: &AtomicBool,
    limit: Option<usize>,
) -> Queries {
    let mut q = Queries::default();
    let Ok(mut client) = Client::new(base, spec.timeout) else {
        return q;
    };
    let start = Instant::now();
    let mut k = 0u32;
    while !stop.load(Ordering::Relaxed) {
        if limit.is_some_and(|n| q.latencies_us.len() >= n) {
            break;
        }
        let due = Duration::from_secs(u64::from(k));
        k += 1;
        if let Some(wait) = due.checked_sub(start.elapsed()).filter(|_| limit.is_none()) {
            // Sleep in slices so a stop is noticed within 100 ms.
            let until = Instant::now() + wait;
            while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                std::thread::sleep((until - Instant::now()).min(Duration::from_millis(100)));
            }
            if stop.load(Ordering::Relaxed) {
                break;
            }
        }
        let t = feed.latest_ms.load(Ordering::Relaxed);
        let path = format!(
            "/api/v1/query?query={}&time={}.{:03}",
            url_encode(&spec.query),
            t.div_euclid(1000),
            t.rem_euclid(1000)
        );
        let t0 = Instant::now();
        let r = client.get(&path, &[]);
        q.latencies_us.push(t0.elapsed().as_micros() as u64);
        let failure = match r {
            Ok(resp) if resp.status == 200 => None,
            Ok(resp) => Some(format!(
                "HTTP {}: {}",
                resp.status,
                String::from_utf8_lossy(&resp.body[..resp.body.len().min(200)]).trim()
            )),
            Err(e) => Some(e.to_string()),
        };
        if let Some(f) = failure {
            q.failures += 1;
            q.first_failure.get_or_insert(f);
        }
    }
    q.latencies_us.sort_unstable();
    q
}

/// Runs the three phases against `spec.write_url`.
pub fn overload(spec: &OverloadSpec) -> Result<OverloadReport, String> {
    check_loopback(&spec.write_url)?;
    if let Some(q) = &spec.query_url {
        check_loopback(q)?;
    }
    if spec.connections == 0 || spec.connections > 4096 {
        return Err("--connections must be in 1..=4096".into());
    }
    if spec.probe_concurrency == 0 || spec.probe_concurrency > 1024 {
        return Err("--probe-concurrency must be in 1..=1024".into());
    }
    for (name, v, max) in [
        ("--probe-seconds", spec.probe_seconds, 600.0),
        ("--overload-seconds", spec.overload_seconds, 3600.0),
        ("--recover-seconds", spec.recover_seconds, 3600.0),
        ("--factor", spec.factor, 100.0),
        ("--recover-factor", spec.recover_factor, 100.0),
    ] {
        if !(v > 0.0 && v <= max) {
            return Err(format!("{name} must be in (0, {max}]"));
        }
    }
    if let Some(r) = spec.rate {
        if !(r > 0.0 && r.is_finite()) {
            return Err("--rate must be > 0".into());
        }
    }
    let (feed, loader) = Feed::open(&spec.dir)?;
    let watch = Arc::new(RssWatch {
        phase: AtomicUsize::new(0),
        max: Default::default(),
        stop: AtomicBool::new(false),
    });
    let sampler = spec.pid.map(|pid| {
        let w = watch.clone();
        std::thread::spawn(move || {
            while !w.stop.load(Ordering::Relaxed) {
                if let Ok(s) = procstat::sample(pid) {
                    let p = w.phase.load(Ordering::Relaxed).min(2);
                    w.max[p].fetch_max(s.rss_bytes, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    });
    let mut report = OverloadReport::default();
    let result = (|| -> Result<(), String> {
        let (p, measured) = probe(spec, &feed)?;
        report.probe = Some(p);
        report.probe_rate = measured;
        let rate = spec.rate.unwrap_or(measured);
        report.sustainable_rate = rate;
        let stop_queries = AtomicBool::new(false);
        if let Some(base) = &spec.query_url {
            report.idle_queries = run_queries(spec, base, &feed, &stop_queries, Some(IDLE_QUERIES));
        }
        std::thread::scope(|scope| {
            let querier = spec
                .query_url
                .as_ref()
                .map(|base| scope.spawn(|| run_queries(spec, base, &feed, &stop_queries, None)));
            watch.phase.store(1, Ordering::Relaxed);
            let (p, _) = open_loop(spec, &feed, rate * spec.factor, spec.overload_seconds);
            report.overload = p;
            watch.phase.store(2, Ordering::Relaxed);
            let (p, outcomes) = open_loop(
                spec,
                &feed,
                rate * spec.recover_factor,
                spec.recover_seconds,
            );
            report.recovery = p;
            report.recovery_seconds = recovery_time(&outcomes);
            stop_queries.store(true, Ordering::Relaxed);
            if let Some(h) = querier {
                report.queries = h.join().unwrap_or_default();
            }
        });
        Ok(())
    })();
    watch.stop.store(true, Ordering::Relaxed);
    if let Some(h) = sampler {
        let _ = h.join();
    }
    if let Some(p) = report.probe.as_mut() {
        p.server_rss_max = watch.max[0].load(Ordering::Relaxed);
    }
    report.overload.server_rss_max = watch.max[1].load(Ordering::Relaxed);
    report.recovery.server_rss_max = watch.max[2].load(Ordering::Relaxed);
    report.payload_exhausted = feed.exhausted.load(Ordering::Relaxed);
    drop(feed);
    let _ = loader.join();
    result.map(|()| report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loadgen::generate::{generate, GenerateSpec};
    use crate::loadgen::test_http::read_request;
    use std::io::{BufReader, Write};
    use std::net::TcpListener;

    #[test]
    fn recovery_time_is_the_start_of_the_last_all_ok_stretch() {
        assert_eq!(recovery_time(&[]), None);
        assert_eq!(recovery_time(&[(0.0, true), (1.0, true)]), Some(0.0));
        assert_eq!(
            recovery_time(&[(0.0, false), (0.5, true), (1.0, false), (1.5, true)]),
            Some(1.5)
        );
        assert_eq!(recovery_time(&[(0.0, true), (1.0, false)]), None);
    }

    #[test]
    fn tally_classifies_answers() {
        let resp = |status, retry: Option<&str>| -> std::io::Result<Response> {
            Ok(Response {
                status,
                body: b"x".to_vec(),
                retry_after: retry.map(str::to_string),
            })
        };
        let mut t = Tally::default();
        t.record(10, &resp(204, None));
        t.record(10, &resp(503, Some("1")));
        t.record(10, &resp(429, Some("1")));
        t.record(10, &resp(503, None));
        t.record(10, &resp(400, None));
        t.record(10, &resp(500, None));
        t.record(10, &Err(std::io::Error::from(std::io::ErrorKind::TimedOut)));
        t.record(
            10,
            &Err(std::io::Error::from(std::io::ErrorKind::ConnectionReset)),
        );
        assert_eq!(
            (t.sent, t.ok, t.samples_ok, t.r503, t.r429),
            (8, 1, 10, 1, 1)
        );
        assert_eq!((t.shed_without_retry_after, t.r400), (1, 1));
        assert_eq!(t.other.get(&500), Some(&1));
        assert_eq!((t.timeouts, t.connection_errors), (1, 1));
        assert_eq!(t.first_failure.as_deref(), Some("HTTP 503: x"));
    }

    #[test]
    fn refuses_non_loopback_urls() {
        let url = Url::parse("http://10.1.2.3:9201/api/v1/write").unwrap();
        assert!(check_loopback(&url).unwrap_err().contains("loopback"));
        assert!(check_loopback(&Url::parse("http://127.0.0.1:1/x").unwrap()).is_ok());
    }

    /// A server with `slots` write handlers that each take `work`: a write arriving while all
    /// are busy gets 503 with Retry-After, the others 204; every GET gets 200.
    fn shedding_server(work: Duration, slots: usize) -> (Url, Url) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let busy = Arc::new(AtomicUsize::new(0));
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(s) = s else { return };
                let busy = busy.clone();
                std::thread::spawn(move || {
                    let mut r = BufReader::new(s.try_clone().unwrap());
                    let mut w = s;
                    while let Some((line, _)) = read_request(&mut r) {
                        let answer: &[u8] = if line.starts_with("GET") {
                            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
                        } else if busy.fetch_add(1, Ordering::SeqCst) >= slots {
                            busy.fetch_sub(1, Ordering::SeqCst);
                            b"HTTP/1.1 503 X\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n"
                        } else {
                            std::thread::sleep(work);
                            busy.fetch_sub(1, Ordering::SeqCst);
                            b"HTTP/1.1 204 No Content\r\n\r\n"
                        };
                        if w.write_all(answer).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (
            Url::parse(&format!("http://{addr}/api/v1/write")).unwrap(),
            Url::parse(&format!("http://{addr}")).unwrap(),
        )
    }

    #[test]
    fn phases_against_a_shedding_server() {
        let dir = tempfile::tempdir().unwrap();
        generate(
            &GenerateSpec {
                series: 200,
                hours: 1.0,
                end_ms: 1_700_000_000_000,
                batch_series: 10,
                seed: 5,
                protocol: 1,
            },
            dir.path(),
        )
        .unwrap();
        // Two handlers, 5 ms each: about 400 requests/s of 10 samples sustainable.
        let (write_url, query_url) = shedding_server(Duration::from_millis(5), 2);
        let spec = OverloadSpec {
            write_url,
            query_url: Some(query_url),
            dir: dir.path().to_path_buf(),
            pid: Some(std::process::id()),
            probe_concurrency: 2,
            probe_seconds: 1.0,
            rate: None,
            factor: 2.0,
            overload_seconds: 1.5,
            recover_factor: 0.5,
            recover_seconds: 1.5,
            connections: 16,
            timeout: Duration::from_secs(10),
            query: "up".into(),
        };
        let r = overload(&spec).unwrap();
        let probe = r.probe.as_ref().unwrap();
        assert!(
            probe.tally.ok > 0 && r.sustainable_rate > 0.0,
            "{}",
            r.to_text()
        );
        assert_eq!(
            probe.tally.r503, 0,
            "a closed loop at 2 never exceeds 2 slots"
        );
        // Open loop at twice the rate: the server sheds some with 503 + Retry-After.
        let o = &r.overload.tally;
        assert!(o.ok > 0 && o.r503 > 0, "{}", r.to_text());
        assert_eq!(
            o.connection_errors + o.timeouts + o.shed_without_retry_after,
            0
        );
        assert!(!r.queries.latencies_us.is_empty());
        assert_eq!(r.idle_queries.latencies_us.len(), IDLE_QUERIES);
        assert_eq!(r.queries.failures, 0);
        assert!(r.overload.server_rss_max > 0);
        let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(json["overload"]["requests"]["503"], o.r503);
        assert_eq!(json["recovered"], r.recovery_seconds.is_some());
        assert!(!r.payload_exhausted);
        // Every request of the open loops was accounted for exactly once.
        for p in [&r.overload, &r.recovery] {
            let t = &p.tally;
            let other: u64 = t.other.values().sum();
            assert_eq!(
                t.sent,
                t.ok + t.r503
                    + t.r429
                    + t.shed_without_retry_after
                    + t.r400
                    + other
                    + t.timeouts
                    + t.connection_errors,
                "{}",
                r.to_text()
            );
        }
    }
}

//! `replay`: sends a payload directory to a remote-write URL and measures the server.
//!
//! Ordering: all requests of one scrape round are sent (and answered) before any request of
//! the next round, so every series receives its samples in time order, as from one sender
//! shard; within a round up to `concurrency` requests are in flight, one per keep-alive
//! connection. A reader thread loads the next rounds from disk while the current one is sent.
//!
//! Measurements: samples per wall-clock second, per-request latency percentiles, non-2xx and
//! transport failures by kind; with a PID, the server's CPU seconds (utime + stime delta from
//! before the first request to `settle` seconds after the last answer, so work the server
//! defers a little is counted) and its peak RSS (`VmHWM`).
//!
//! Every run is bounded: by the payload file, a per-request timeout, and `max_seconds` after
//! which no new round starts.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::http::{remote_write_headers, Client, Url};
use super::payload::{Manifest, PayloadReader, Request};
use super::procstat;

/// What to replay where.
#[derive(Clone, Debug)]
pub struct ReplaySpec {
    /// The remote-write URL.
    pub url: Url,
    /// The payload directory.
    pub dir: PathBuf,
    /// Connections (requests in flight within a round).
    pub concurrency: usize,
    /// Server process to measure.
    pub pid: Option<u32>,
    /// Per-request I/O timeout.
    pub timeout: Duration,
    /// No round starts after this many seconds.
    pub max_seconds: f64,
    /// Seconds to wait after the last answer before the final CPU reading.
    pub settle_seconds: f64,
    /// Extra attempts for a request answered 429 or 5xx or not answered (0: none).
    pub retries: u32,
}

/// Server resource use over a run.
#[derive(Clone, Copy, Debug)]
pub struct ServerUsage {
    /// CPU seconds (user + system) from the start of the run to the end of the settle time.
    pub cpu_seconds: f64,
    /// CPU seconds from the start to the last answer only.
    pub cpu_seconds_run: f64,
    /// Peak RSS of the server process (its lifetime peak, `VmHWM`).
    pub peak_rss_bytes: u64,
    /// RSS at the end.
    pub rss_bytes: u64,
}

/// The result of a replay.
#[derive(Clone, Debug, Default)]
pub struct ReplayReport {
    /// Requests sent.
    pub requests: u64,
    /// Requests answered 2xx.
    pub ok_requests: u64,
    /// Attempts repeated after a 429, 5xx or transport failure (see [`ReplaySpec::retries`]);
    /// the failure counts below are final outcomes only.
    pub retries: u64,
    /// Requests answered non-2xx, by status.
    pub status_failures: BTreeMap<u16, u64>,
    /// Requests that got no answer (connection or protocol error).
    pub transport_failures: u64,
    /// Samples in all requests sent.
    pub samples_sent: u64,
    /// Samples in requests answered 2xx.
    pub samples_ok: u64,
    /// Rounds sent.
    pub rounds: u64,
    /// True if `max_seconds` stopped the run before the end of the payloads.
    pub stopped_early: bool,
    /// The first failure, for the log.
    pub first_failure: Option<String>,
    /// Wall-clock seconds from the first request to the last answer.
    pub wall_seconds: f64,
    /// Request latencies in microseconds, sorted.
    pub latencies_us: Vec<u32>,
    /// Server usage, when a PID was given.
    pub server: Option<ServerUsage>,
    /// Connections opened.
    pub connects: u64,
    /// CPU seconds the replaying process itself used (to see whether the client was busy).
    pub client_cpu_seconds: f64,
}

impl ReplayReport {
    /// Requests that failed (non-2xx or no answer).
    pub fn failed_requests(&self) -> u64 {
        self.status_failures.values().sum::<u64>() + self.transport_failures
    }

    /// Samples sent per wall-clock second.
    pub fn samples_per_second(&self) -> f64 {
        if self.wall_seconds > 0.0 {
            self.samples_sent as f64 / self.wall_seconds
        } else {
            0.0
        }
    }

    /// Latency percentile `q` in `[0, 1]`, in milliseconds (nearest rank).
    pub fn latency_ms(&self, q: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let n = self.latencies_us.len();
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
        f64::from(self.latencies_us[rank - 1]) / 1000.0
    }

    /// Samples accepted per server CPU-second.
    pub fn samples_per_cpu_second(&self) -> Option<f64> {
        let s = self.server?;
        (s.cpu_seconds > 0.0).then(|| self.samples_ok as f64 / s.cpu_seconds)
    }

    /// A human-readable multi-line summary.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "requests: {} ok, {} failed ({} transport; by status: {:?}), {} retries, over {} \
             connections\n\
             samples: {} sent, {} in 2xx requests, {} rounds{}\n\
             wall: {:.2} s, {:.0} samples/s (client used {:.2} CPU-s)\n\
             latency ms: p50 {:.2}, p90 {:.2}, p99 {:.2}, max {:.2}\n",
            self.ok_requests,
            self.failed_requests(),
            self.transport_failures,
            self.status_failures,
            self.retries,
            self.connects,
            self.samples_sent,
            self.samples_ok,
            self.rounds,
            if self.stopped_early {
                " (stopped early: --max-seconds)"
            } else {
                ""
            },
            self.wall_seconds,
            self.samples_per_second(),
            self.client_cpu_seconds,
            self.latency_ms(0.5),
            self.latency_ms(0.9),
            self.latency_ms(0.99),
            self.latency_ms(1.0),
        );
        if let Some(s) = self.server {
            out.push_str(&format!(
                "server: {:.2} CPU-s ({:.2} during the run), peak RSS {:.1} MiB, RSS now {:.1} \
                 MiB, {:.0} samples per CPU-second\n",
                s.cpu_seconds,
                s.cpu_seconds_run,
                s.peak_rss_bytes as f64 / 1048576.0,
                s.rss_bytes as f64 / 1048576.0,
                self.samples_per_cpu_second().unwrap_or(0.0),
            ));
        }
        if let Some(f) = &self.first_failure {
            out.push_str(&format!("first failure: {f}\n"));
        }
        out
    }

    /// The one-line JSON summary.
    pub fn to_json(&self) -> String {
        let statuses: Vec<String> = self
            .status_failures
            .iter()
            .map(|(k, v)| format!("\"{k}\":{v}"))
            .collect();
        let mut s = format!(
            "{{\"requests\":{},\"ok_requests\":{},\"failed_requests\":{},\
             \"transport_failures\":{},\"status_failures\":{{{}}},\"retries\":{},\
             \"samples_sent\":{},\
             \"samples_ok\":{},\"rounds\":{},\"stopped_early\":{},\"wall_seconds\":{:.3},\
             \"samples_per_second\":{:.1},\"latency_ms\":{{\"p50\":{:.3},\"p90\":{:.3},\
             \"p99\":{:.3},\"max\":{:.3}}},\"client_cpu_seconds\":{:.3}",
            self.requests,
            self.ok_requests,
            self.failed_requests(),
            self.transport_failures,
            statuses.join(","),
            self.retries,
            self.samples_sent,
            self.samples_ok,
            self.rounds,
            self.stopped_early,
            self.wall_seconds,
            self.samples_per_second(),
            self.latency_ms(0.5),
            self.latency_ms(0.9),
            self.latency_ms(0.99),
            self.latency_ms(1.0),
            self.client_cpu_seconds,
        );
        if let Some(u) = self.server {
            s.push_str(&format!(
                ",\"server_cpu_seconds\":{:.3},\"server_cpu_seconds_run\":{:.3},\
                 \"server_peak_rss_bytes\":{},\"server_rss_bytes\":{},\
                 \"samples_per_cpu_second\":{:.1}",
                u.cpu_seconds,
                u.cpu_seconds_run,
                u.peak_rss_bytes,
                u.rss_bytes,
                self.samples_per_cpu_second().unwrap_or(0.0)
            ));
        }
        s.push('}');
        s
    }
}

/// What one worker saw during one round.
#[derive(Default)]
struct WorkerTally {
    ok: u64,
    samples_ok: u64,
    statuses: BTreeMap<u16, u64>,
    transport: u64,
    retries: u64,
    first_failure: Option<String>,
    latencies_us: Vec<u32>,
}

/// True for answers a remote-write sender retries: 429 and 5xx, or no answer at all.
fn retriable(result: &std::io::Result<super::http::Response>) -> bool {
    match result {
        Ok(r) => r.status == 429 || r.status >= 500,
        Err(_) => true,
    }
}

fn send_round(
    clients: &mut [Client],
    path: &str,
    round: &[Request],
    retries: u32,
    headers: &[(&str, &str)],
) -> Vec<WorkerTally> {
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let handles: Vec<_> = clients
            .iter_mut()
            .take(round.len().max(1))
            .map(|client| {
                let next = &next;
                scope.spawn(move || {
                    let mut tally = WorkerTally::default();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(req) = round.get(i) else { break };
                        let mut attempt = 0;
                        let result = loop {
                            let t0 = Instant::now();
                            let result = client.post(path, headers, &req.body);
                            let us = t0.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
                            tally.latencies_us.push(us);
                            if attempt < retries && retriable(&result) {
                                // Backoff as a sender would: 50 ms doubling, at most 2 s.
                                let ms = 50u64 << attempt.min(5);
                                std::thread::sleep(Duration::from_millis(ms.min(2000)));
                                attempt += 1;
                                tally.retries += 1;
                                continue;
                            }
                            break result;
                        };
                        match result {
                            Ok(r) if (200..300).contains(&r.status) => {
                                tally.ok += 1;
                                tally.samples_ok += u64::from(req.samples);
                            }
                            Ok(r) => {
                                *tally.statuses.entry(r.status).or_default() += 1;
                                if tally.first_failure.is_none() {
                                    let body =
                                        String::from_utf8_lossy(&r.body[..r.body.len().min(300)])
                                            .trim()
                                            .to_string();
                                    tally.first_failure = Some(format!(
                                        "round {}: HTTP {}: {body}",
                                        req.round, r.status
                                    ));
                                }
                            }
                            Err(e) => {
                                tally.transport += 1;
                                if tally.first_failure.is_none() {
                                    tally.first_failure = Some(format!("round {}: {e}", req.round));
                                }
                            }
                        }
                    }
                    tally
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

/// Replays `spec.dir` to `spec.url`.
pub fn replay(spec: &ReplaySpec) -> Result<ReplayReport, String> {
    if spec.concurrency == 0 || spec.concurrency > 1024 {
        return Err(format!(
            "--concurrency {} out of range 1..=1024",
            spec.concurrency
        ));
    }
    let manifest = Manifest::load(&spec.dir)?;
    let mut clients = (0..spec.concurrency)
        .map(|_| Client::new(&spec.url, spec.timeout))
        .collect::<Result<Vec<_>, _>>()?;
    let mut reader = PayloadReader::open(&spec.dir)
        .map_err(|e| format!("cannot open payloads in {}: {e}", spec.dir.display()))?;

    // Prefetch rounds from disk on another thread (bounded to a few rounds in memory).
    let (tx, rx) = mpsc::sync_channel::<Result<Vec<Request>, String>>(4);
    let loader = std::thread::spawn(move || loop {
        let item = match reader.next_round() {
            Ok(Some(r)) => Ok(r),
            Ok(None) => return,
            Err(e) => Err(format!("payload file: {e}")),
        };
        let stop = item.is_err();
        if tx.send(item).is_err() || stop {
            return;
        }
    });

    let before = match spec.pid {
        Some(pid) => Some(procstat::sample(pid)?),
        None => None,
    };
    let client_before = procstat::sample_self()
        .map(|s| s.cpu_seconds)
        .unwrap_or(0.0);
    let mut report = ReplayReport::default();
    let start = Instant::now();
    let mut error = None;
    for item in rx.iter() {
        let round = match item {
            Ok(r) => r,
            Err(e) => {
                error = Some(e);
                break;
            }
        };
        if start.elapsed().as_secs_f64() > spec.max_seconds {
            report.stopped_early = true;
            break;
        }
        report.rounds += 1;
        report.requests += round.len() as u64;
        report.samples_sent += round.iter().map(|r| u64::from(r.samples)).sum::<u64>();
        let headers = remote_write_headers(manifest.protocol);
        for t in send_round(&mut clients, &spec.url.path, &round, spec.retries, headers) {
            report.ok_requests += t.ok;
            report.retries += t.retries;
            report.samples_ok += t.samples_ok;
            report.transport_failures += t.transport;
            for (k, v) in t.statuses {
                *report.status_failures.entry(k).or_default() += v;
            }
            if report.first_failure.is_none() {
                report.first_failure = t.first_failure;
            }
            report.latencies_us.extend(t.latencies_us);
        }
    }
    report.wall_seconds = start.elapsed().as_secs_f64();
    report.client_cpu_seconds = procstat::sample_self()
        .map(|s| s.cpu_seconds)
        .unwrap_or(0.0)
        - client_before;
    drop(rx);
    let _ = loader.join();
    if let Some(e) = error {
        return Err(e);
    }
    if let (Some(pid), Some(before)) = (spec.pid, before) {
        let at_end = procstat::sample(pid)?;
        std::thread::sleep(Duration::from_secs_f64(
            spec.settle_seconds.clamp(0.0, 60.0),
        ));
        let settled = procstat::sample(pid)?;
        report.server = Some(ServerUsage {
            cpu_seconds: settled.cpu_seconds - before.cpu_seconds,
            cpu_seconds_run: at_end.cpu_seconds - before.cpu_seconds,
            peak_rss_bytes: settled.peak_rss_bytes,
            rss_bytes: settled.rss_bytes,
        });
    }
    report.connects = clients.iter().map(|c| c.connects).sum();
    report.latencies_us.sort_unstable();
    if !report.stopped_early && report.samples_sent != manifest.samples {
        return Err(format!(
            "payload file holds {} samples, manifest says {}",
            report.samples_sent, manifest.samples
        ));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loadgen::generate::{generate, GenerateSpec};
    use crate::loadgen::test_http::read_request;
    use std::io::{BufReader, Write};
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};

    type Seen = (Vec<usize>, std::collections::HashSet<Vec<u8>>);

    /// A tiny server recording the body length of every request (and the distinct bodies),
    /// answering 204, or `fail_status` to the first sending of every `fail_every`-th body.
    fn fake_server(
        fail_every: usize,
        fail_status: u16,
    ) -> (Url, Arc<Mutex<Seen>>, std::thread::JoinHandle<()>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = Url::parse(&format!("http://{}/api/v1/write", l.local_addr().unwrap())).unwrap();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let seen2 = seen.clone();
        let h = std::thread::spawn(move || {
            l.set_nonblocking(false).unwrap();
            let mut workers = Vec::new();
            // The test uses 3 connections.
            for _ in 0..3 {
                let (s, _) = l.accept().unwrap();
                let seen = seen2.clone();
                workers.push(std::thread::spawn(move || {
                    let mut r = BufReader::new(s.try_clone().unwrap());
                    let mut w = s;
                    while let Some((_, b)) = read_request(&mut r) {
                        let len = b.len();
                        // Fail the first sending of every `fail_every`-th distinct body, so
                        // a retried body succeeds.
                        let fail = {
                            let mut g = seen.lock().unwrap();
                            g.0.push(len);
                            let new = g.1.insert(b);
                            new && fail_every > 0 && g.1.len() % fail_every == 0
                        };
                        if fail {
                            let msg =
                                format!("HTTP/1.1 {fail_status} X\r\nContent-Length: 3\r\n\r\nbad");
                            w.write_all(msg.as_bytes()).unwrap();
                        } else {
                            w.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").unwrap();
                        }
                    }
                }));
            }
            for w in workers {
                w.join().unwrap();
            }
        });
        (url, seen, h)
    }

    fn payloads() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        generate(
            &GenerateSpec {
                series: 500,
                hours: 0.05,
                end_ms: 1_700_000_000_000,
                batch_series: 100,
                seed: 3,
                protocol: 1,
            },
            dir.path(),
        )
        .unwrap();
        dir
    }

    fn spec(url: Url, dir: &tempfile::TempDir) -> ReplaySpec {
        ReplaySpec {
            url,
            dir: dir.path().to_path_buf(),
            concurrency: 3,
            pid: Some(std::process::id()),
            timeout: Duration::from_secs(10),
            max_seconds: 60.0,
            settle_seconds: 0.0,
            retries: 0,
        }
    }

    #[test]
    fn replays_everything_and_counts() {
        let dir = payloads();
        let (url, seen, server) = fake_server(0, 0);
        let report = replay(&spec(url, &dir)).unwrap();
        server.join().unwrap();
        assert_eq!(report.rounds, 12);
        assert_eq!(report.requests, 60);
        assert_eq!(report.ok_requests, 60);
        assert_eq!(report.failed_requests(), 0);
        assert_eq!(report.samples_sent, 6000);
        assert_eq!(report.samples_ok, 6000);
        assert_eq!(report.latencies_us.len(), 60);
        assert_eq!(report.connects, 3);
        assert_eq!(seen.lock().unwrap().0.len(), 60);
        let usage = report.server.unwrap();
        assert!(usage.peak_rss_bytes > 0);
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["samples_ok"], 6000);
        assert_eq!(json["failed_requests"], 0);
    }

    #[test]
    fn counts_non_2xx() {
        let dir = payloads();
        let (url, _seen, server) = fake_server(10, 400);
        let report = replay(&spec(url, &dir)).unwrap();
        server.join().unwrap();
        assert_eq!(report.failed_requests(), 6);
        assert_eq!(report.status_failures.get(&400), Some(&6));
        assert_eq!(report.samples_ok, 5400);
        assert!(report
            .first_failure
            .as_deref()
            .unwrap()
            .contains("HTTP 400: bad"));
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["status_failures"]["400"], 6);
    }

    #[test]
    fn retries_503_then_succeeds() {
        let dir = payloads();
        // Every 10th request gets 503; with one retry each of those succeeds.
        let (url, seen, server) = fake_server(10, 503);
        let mut s = spec(url, &dir);
        s.retries = 1;
        let report = replay(&s).unwrap();
        server.join().unwrap();
        assert_eq!(report.failed_requests(), 0);
        assert_eq!(report.samples_ok, 6000);
        assert_eq!(report.retries, 6);
        assert_eq!(seen.lock().unwrap().0.len(), 66);
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["retries"], 6);
    }

    #[test]
    fn refused_connections_are_transport_failures() {
        let dir = payloads();
        // Bind then drop to get a port nobody listens on.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = Url::parse(&format!("http://127.0.0.1:{port}/api/v1/write")).unwrap();
        let mut s = spec(url, &dir);
        s.pid = None;
        let report = replay(&s).unwrap();
        assert_eq!(report.transport_failures, 60);
        assert_eq!(report.samples_ok, 0);
        assert!(report.server.is_none());
    }
}

//! Overload against the real `strata` binary: a server with two write slots, a short wait for
//! them and a short queue is flooded with remote-writes from many keep-alive connections for
//! a bounded time while queries run and its RSS is sampled from `/proc`.
//!
//! What must hold (no timing is asserted; the flood lasts until both outcomes were seen, at
//! most `MAX_FLOOD`):
//! - every write is answered 204, or 503/429 with `Retry-After`: no other status, no reset or
//!   closed connection (the server drains a refused body so the sender reads the answer);
//! - every query issued during the flood is answered 200;
//! - exactly the samples acknowledged with 204 are stored (a refused request stored nothing);
//! - the server counted as many overloaded refusals as the senders received;
//! - RSS stays under a bound derived from the limits;
//! - afterwards every write slot is free again and writes succeed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use strata_ingest::encode::{snappy, write_request_v1, TimeSeries};
use strata_tests::server_harness::{now_ms, KeepAlive, Response, Strata};

const FLOOD_THREADS: usize = 12;
const SERIES_PER_REQUEST: usize = 1000;
const MIN_FLOOD: Duration = Duration::from_secs(3);
const MAX_FLOOD: Duration = Duration::from_secs(60);
const INFLIGHT: u64 = 2;
const QUEUED: u64 = 4;
const MAX_BODY: u64 = 1 << 20;
const MAX_DECODED: u64 = 8 << 20;

const WRITE_HEADERS: &[(&str, &str)] = &[
    ("Content-Type", "application/x-protobuf"),
    ("Content-Encoding", "snappy"),
    ("X-Prometheus-Remote-Write-Version", "0.1.0"),
];

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_strata"))
}

fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmRSS in /proc/PID/status")
        * 1024
}

/// The request body of flood thread `thread`'s request number `seq`: one sample at
/// `base + seq` with value `seq` for each of its series. A label of 32 pseudo-random hex
/// digits per series keeps snappy from shrinking the body much (about 100 KiB, as a
/// Prometheus shard sends), so the server cannot have read all of it with the headers.
fn flood_body(thread: usize, seq: u64, base: i64) -> Vec<u8> {
    let t = thread.to_string();
    let series: Vec<TimeSeries> = (0..SERIES_PER_REQUEST)
        .map(|j| {
            let h = (thread * SERIES_PER_REQUEST + j) as u64;
            let pad = format!(
                "{:016x}{:016x}",
                h.wrapping_mul(0x9e37_79b9_7f4a_7c15),
                h.wrapping_mul(0xc2b2_ae3d_27d4_eb4f).rotate_left(17)
            );
            TimeSeries::new(
                &[
                    ("__name__", "flood"),
                    ("thread", &t),
                    ("s", &j.to_string()),
                    ("pad", &pad),
                ],
                &[(base + seq as i64, seq as f64)],
            )
        })
        .collect();
    snappy(&write_request_v1(&series))
}

/// What one flood thread saw.
#[derive(Default)]
struct Seen {
    acked: BTreeSet<u64>,
    refused: u64,
    /// Answers that break the contract: other statuses, refusals without `Retry-After`,
    /// connection errors and closes.
    violations: Vec<String>,
}

fn classify(seen: &mut Seen, seq: u64, r: std::io::Result<(Response, bool)>) -> bool {
    match r {
        Ok((r, open)) => {
            match r.status {
                204 => {
                    seen.acked.insert(seq);
                }
                429 | 503 => {
                    seen.refused += 1;
                    if r.header("retry-after").is_none() {
                        seen.violations.push(format!(
                            "{} without Retry-After: {}",
                            r.status,
                            r.text()
                        ));
                    }
                }
                s => seen.violations.push(format!("status {s}: {}", r.text())),
            }
            if !open {
                seen.violations
                    .push(format!("connection closed after a {}", r.status));
            }
            open
        }
        Err(e) => {
            seen.violations.push(format!("connection error: {e}"));
            false
        }
    }
}

#[test]
fn a_flood_of_writes_is_shed_with_retry_after_while_queries_and_acked_data_stay_intact() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("strata.yml");
    std::fs::write(
        &cfg,
        format!(
            "limits:\n  max_inflight_writes: {INFLIGHT}\n  max_queued_writes: {QUEUED}\n  \
             write_queue_wait: 20ms\n  max_body_bytes: {MAX_BODY}\n  \
             max_decoded_bytes: {MAX_DECODED}\n"
        ),
    )
    .unwrap();
    let s = Strata::start(
        bin(),
        &dir.path().join("data"),
        &["--config", cfg.to_str().unwrap()],
    )
    .unwrap();
    let pid = s.pid();
    let base = now_ms() - 60_000;
    // Warm up (first series, first query) before the baseline RSS is read.
    let r = s
        .write_v1(&[TimeSeries::new(&[("__name__", "warm")], &[(base, 1.0)])])
        .unwrap();
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(s.get("/api/v1/query?query=warm").unwrap().status, 200);
    let baseline = rss_bytes(pid);

    let stop = Arc::new(AtomicBool::new(false));
    let acked_total = Arc::new(AtomicU64::new(0));
    let refused_total = Arc::new(AtomicU64::new(0));
    let addr = s.addr;
    let flooders: Vec<_> = (0..FLOOD_THREADS)
        .map(|thread| {
            let (stop, acked_total, refused_total) =
                (stop.clone(), acked_total.clone(), refused_total.clone());
            std::thread::spawn(move || {
                let mut seen = Seen::default();
                let mut conn = None;
                let mut seq = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    seq += 1;
                    let body = flood_body(thread, seq, base);
                    let c = match conn.as_mut() {
                        Some(c) => c,
                        None => match KeepAlive::connect(addr) {
                            Ok(c) => conn.insert(c),
                            Err(e) => {
                                seen.violations.push(format!("connect: {e}"));
                                continue;
                            }
                        },
                    };
                    let r = c.request("POST", "/api/v1/write", WRITE_HEADERS, &body);
                    let (acked, refused) = (seen.acked.len(), seen.refused);
                    if !classify(&mut seen, seq, r) {
                        conn = None;
                    }
                    acked_total.fetch_add((seen.acked.len() - acked) as u64, Ordering::Relaxed);
                    refused_total.fetch_add(seen.refused - refused, Ordering::Relaxed);
                }
                seen
            })
        })
        .collect();
    let querier = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut statuses: BTreeMap<String, u64> = BTreeMap::new();
            let mut conn = KeepAlive::connect(addr).unwrap();
            while !stop.load(Ordering::Relaxed) {
                let outcome =
                    match conn.request("GET", "/api/v1/query?query=count(flood)", &[], b"") {
                        Ok((r, open)) => {
                            if !open {
                                conn = KeepAlive::connect(addr).unwrap();
                            }
                            r.status.to_string()
                        }
                        Err(e) => {
                            conn = KeepAlive::connect(addr).unwrap();
                            format!("error: {e}")
                        }
                    };
                *statuses.entry(outcome).or_default() += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
            statuses
        })
    };
    let sampler = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut max = 0;
            while !stop.load(Ordering::Relaxed) {
                max = max.max(rss_bytes(pid));
                std::thread::sleep(Duration::from_millis(20));
            }
            max
        })
    };
    let started = Instant::now();
    while started.elapsed() < MAX_FLOOD
        && (started.elapsed() < MIN_FLOOD
            || acked_total.load(Ordering::Relaxed) == 0
            || refused_total.load(Ordering::Relaxed) == 0)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    let seen: Vec<Seen> = flooders.into_iter().map(|h| h.join().unwrap()).collect();
    let queries = querier.join().unwrap();
    let max_rss = sampler.join().unwrap();

    eprintln!(
        "flood of {:.1?}: {} acknowledged, {} refused; queries {queries:?}; RSS {} -> max {} \
         MiB",
        started.elapsed(),
        seen.iter().map(|s| s.acked.len()).sum::<usize>(),
        seen.iter().map(|s| s.refused).sum::<u64>(),
        baseline >> 20,
        max_rss >> 20
    );
    let violations: Vec<&String> = seen.iter().flat_map(|s| &s.violations).collect();
    assert!(
        violations.is_empty(),
        "{} answers outside 204 / 503+Retry-After, e.g. {:?}",
        violations.len(),
        &violations[..violations.len().min(5)]
    );
    let refused: u64 = seen.iter().map(|s| s.refused).sum();
    let acked: usize = seen.iter().map(|s| s.acked.len()).sum();
    assert!(
        refused > 0 && acked > 0,
        "the flood must see both outcomes within {MAX_FLOOD:?}: {acked} acknowledged, \
         {refused} refused"
    );
    assert_eq!(
        queries.keys().collect::<Vec<_>>(),
        vec!["200"],
        "queries during the flood: {queries:?}"
    );
    // Per request in flight or queued: its body, its decoded form and the batch built from it
    // (counted twice over); plus room for the series, allocator slack and the query.
    let bound = baseline + 2 * (INFLIGHT + QUEUED) * (MAX_BODY + MAX_DECODED) + (128 << 20);
    assert!(
        max_rss <= bound,
        "RSS reached {max_rss} bytes during the flood, over the bound {bound} (baseline \
         {baseline})"
    );
    // Refusals happen before the body is read, and every one reached its sender.
    assert_eq!(s.metric("strata_write_requests_overloaded_total"), refused);

    // Once the flood stops, every slot is released and writes are accepted again.
    let deadline = Instant::now() + Duration::from_secs(30);
    while s.metric("strata_write_slots_in_use") != 0 {
        assert!(Instant::now() < deadline, "write slots still held");
        std::thread::sleep(Duration::from_millis(20));
    }
    for i in 0..10 {
        let r = s
            .write_v1(&[TimeSeries::new(
                &[("__name__", "after_flood")],
                &[(base + i, 1.0)],
            )])
            .unwrap();
        assert_eq!(r.status, 204, "{}", r.text());
    }

    // Exactly the acknowledged samples are stored, for every series of every thread.
    let at = (base + 600_000) as f64 / 1000.0;
    for (thread, seen) in seen.iter().enumerate() {
        let r = s
            .get(&format!(
                "/api/v1/query?query=flood%7Bthread%3D%22{thread}%22%7D%5B1h%5D&time={at}"
            ))
            .unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        let result = v["data"]["result"].as_array().unwrap();
        let want = if seen.acked.is_empty() {
            0
        } else {
            SERIES_PER_REQUEST
        };
        assert_eq!(result.len(), want, "series of thread {thread}");
        for series in result {
            let stored: BTreeSet<u64> = series["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p[1].as_str().unwrap().parse::<u64>().unwrap())
                .collect();
            assert_eq!(
                stored, seen.acked,
                "thread {thread} series {}: stored samples differ from the acknowledged ones",
                series["metric"]["s"]
            );
        }
    }
    assert_eq!(s.terminate().unwrap().code(), Some(0));
}

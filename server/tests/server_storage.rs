//! Persistent storage through the real `strata` binary: data moving into blocks in the
//! background and surviving restarts, the admin API (disabled by default), `/metrics` for
//! blocks, and readiness while a large WAL replays.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use strata_ingest::encode::TimeSeries;
use strata_tests::server_harness::{http_request, now_ms, urlencode, Strata};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_strata"))
}

fn json(r: &strata_tests::server_harness::Response) -> Value {
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.text()))
}

/// Sample count of `expr` summed over the result of `count_over_time(expr[range])` at `t`.
fn count(s: &Strata, sel: &str, t: i64) -> f64 {
    let q = format!("sum(count_over_time({sel}[1h]))");
    let r = s
        .get(&format!(
            "/api/v1/query?query={}&time={}",
            urlencode(&q),
            t as f64 / 1000.0
        ))
        .unwrap();
    let v = json(&r);
    assert_eq!(v["status"], "success", "{v}");
    v["data"]["result"][0]["value"][1]
        .as_str()
        .map_or(0.0, |x| x.parse().unwrap())
}

fn metric(s: &Strata, name: &str) -> f64 {
    let page = s.get("/metrics").unwrap().text();
    page.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("{name} missing from /metrics"))
        .parse()
        .unwrap()
}

/// Writes 40 minutes of 15 s scrapes of `n` series ending at `end`, round by round.
fn write_history(s: &Strata, n: usize, end: i64) -> usize {
    let mut total = 0;
    let start = end - 40 * 60_000;
    let mut t = start;
    while t <= end {
        let series: Vec<TimeSeries> = (0..n)
            .map(|i| {
                TimeSeries::new(
                    &[
                        ("__name__", "req_total"),
                        ("job", if i % 2 == 0 { "a" } else { "b" }),
                        ("i", &i.to_string()),
                    ],
                    &[(t, (t - start) as f64 / 1000.0)],
                )
            })
            .collect();
        let r = s.write_v1(&series).unwrap();
        assert_eq!(r.status, 204, "{}", r.text());
        total += n;
        t += 15_000;
    }
    total
}

#[test]
fn admin_api_is_off_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let s = Strata::start(bin(), dir.path(), &[]).unwrap();
    for path in [
        "/api/v1/admin/tsdb/delete_series?match[]=up",
        "/api/v1/admin/tsdb/clean_tombstones",
        "/api/v1/admin/tsdb/snapshot",
        "/api/v1/admin/tsdb/flush",
    ] {
        let r = s.request("POST", path, &[], b"").unwrap();
        assert_eq!(r.status, 403, "{path}: {}", r.text());
        let v = json(&r);
        assert_eq!(v["errorType"], "unavailable");
        assert!(
            v["error"].as_str().unwrap().contains("--enable-admin-api"),
            "{v}"
        );
    }
    // GET is not an admin method.
    assert_eq!(s.get("/api/v1/admin/tsdb/flush").unwrap().status, 405);
}

#[test]
fn blocks_admin_api_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--enable-admin-api", "--block-range", "5m"];
    let s = Strata::start(bin(), dir.path(), &args).unwrap();
    let end = now_ms() - 60_000;
    let written = write_history(&s, 20, end);
    // The background worker cuts the head (40 min of 5 min blocks) without being asked.
    let deadline = Instant::now() + Duration::from_secs(60);
    while metric(&s, "strata_blocks") < 1.0 {
        assert!(Instant::now() < deadline, "no block was cut");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(count(&s, "req_total", end) as usize, written);
    // flush: everything into blocks, compacted.
    let r = s
        .request("POST", "/api/v1/admin/tsdb/flush", &[], b"")
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(json(&r)["data"]["headBlocks"].as_u64().unwrap() >= 1);
    assert_eq!(metric(&s, "strata_head_samples"), 0.0);
    assert!(metric(&s, "strata_compactions_total") >= 1.0);
    let total_before = count(&s, "req_total", end);
    // delete_series: job="a" between 30 and 20 minutes before the end.
    let (a, b) = (end - 30 * 60_000, end - 20 * 60_000);
    let path = format!(
        "/api/v1/admin/tsdb/delete_series?match[]={}&start={}&end={}",
        urlencode("req_total{job=\"a\"}"),
        a as f64 / 1000.0,
        b as f64 / 1000.0
    );
    let r = s.request("PUT", &path, &[], b"").unwrap();
    assert_eq!(r.status, 204, "{}", r.text());
    let deleted = 10.0 * 41.0; // 10 series of job a, 41 scrapes in [a, b]
    assert_eq!(count(&s, "req_total", end), total_before - deleted);
    assert_eq!(count(&s, "req_total{job=\"b\"}", end), total_before / 2.0);
    let r = s
        .request("POST", "/api/v1/admin/tsdb/delete_series", &[], b"")
        .unwrap();
    assert_eq!(r.status, 400, "match[] is required: {}", r.text());
    let r = s
        .request("POST", "/api/v1/admin/tsdb/clean_tombstones", &[], b"")
        .unwrap();
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(count(&s, "req_total", end), total_before - deleted);
    // snapshot: a directory of hard-linked blocks.
    let r = s
        .request("POST", "/api/v1/admin/tsdb/snapshot", &[], b"")
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let name = json(&r)["data"]["name"].as_str().unwrap().to_string();
    let snap = dir.path().join("snapshots").join(&name);
    assert!(
        std::fs::read_dir(&snap).unwrap().count() >= 1,
        "{snap:?} holds blocks"
    );
    // Restart: blocks are mapped, the WAL holds only what came after.
    let status = s.terminate().unwrap();
    assert!(status.success());
    let s = Strata::start(bin(), dir.path(), &args).unwrap();
    assert_eq!(count(&s, "req_total", end), total_before - deleted);
    assert!(metric(&s, "strata_blocks") >= 1.0);
    assert_eq!(metric(&s, "strata_ready"), 1.0);
    assert_eq!(metric(&s, "strata_wal_replay_progress_percent"), 100.0);
    // Writes older than the flushed range are refused as out of bounds (400), newer ones land.
    let r = s
        .write_v1(&[TimeSeries::new(
            &[("__name__", "req_total"), ("job", "a"), ("i", "0")],
            &[(end - 1000, 1.0)],
        )])
        .unwrap();
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("out of bounds"), "{}", r.text());
    let r = s
        .write_v1(&[TimeSeries::new(
            &[("__name__", "req_total"), ("job", "a"), ("i", "0")],
            &[(end + 1000, 1.0)],
        )])
        .unwrap();
    assert_eq!(r.status, 204, "{}", r.text());
}

#[test]
fn ready_is_503_while_the_wal_replays() {
    let dir = tempfile::tempdir().unwrap();
    // A WAL big enough that replaying it takes a moment (5 M samples, no blocks).
    {
        let db = strata_engine::Db::open(
            dir.path(),
            strata_engine::Options {
                background: false,
                ..Default::default()
            },
        )
        .unwrap();
        let t0 = now_ms() - 3_600_000;
        for round in 0..500 {
            let mut b = strata_engine::Batch::new();
            for i in 0..10_000 {
                let l = strata_engine::Labels::from_pairs(&[
                    ("__name__", "big"),
                    ("i", &i.to_string()),
                ])
                .unwrap();
                b.push(l, vec![strata_engine::Sample::new(t0 + round * 1000, 1.0)]);
            }
            db.append(&b).unwrap();
        }
        db.close().unwrap();
    }
    let mut child = Command::new(bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let addr: SocketAddr = first
        .strip_prefix("starting on http://")
        .unwrap_or_else(|| panic!("first line: {first}"))
        .parse()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in lines.map_while(Result::ok) {
            if l.starts_with("listening on") {
                let _ = tx.send(());
            }
        }
    });
    let mut saw_503 = false;
    let mut saw_progress = false;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let listening = rx.try_recv().is_ok();
        let healthy = http_request(addr, "GET", "/-/healthy", &[], b"").unwrap();
        assert_eq!(healthy.status, 200, "healthy from the start");
        let ready = http_request(addr, "GET", "/-/ready", &[], b"").unwrap();
        if ready.status == 200 {
            break;
        }
        assert!(
            !listening,
            "\"listening on\" printed while /-/ready is {}",
            ready.status
        );
        assert_eq!(ready.status, 503);
        saw_503 = true;
        let q = http_request(addr, "GET", "/api/v1/query?query=up", &[], b"").unwrap();
        if q.status == 200 {
            // The replay ended between the two requests.
            let ready = http_request(addr, "GET", "/-/ready", &[], b"").unwrap();
            assert_eq!(ready.status, 200, "query answered while not ready");
            break;
        }
        assert_eq!(q.status, 503, "{}", q.text());
        assert!(q.text().contains("starting"), "{}", q.text());
        assert!(q.header("retry-after").is_some());
        let m = http_request(addr, "GET", "/metrics", &[], b"")
            .unwrap()
            .text();
        saw_progress |=
            m.contains("strata_wal_replay_progress_percent") && m.contains("strata_ready 0");
        assert!(Instant::now() < deadline, "never became ready");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        saw_503 && saw_progress,
        "the replay was observed while running"
    );
    let q = http_request(
        addr,
        "GET",
        &format!(
            "/api/v1/query?query={}",
            urlencode("count(last_over_time(big[2h]))")
        ),
        &[],
        b"",
    )
    .unwrap();
    assert!(q.text().contains("\"10000\""), "{}", q.text());
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
}

#[test]
fn read_only_job_reads_a_live_server_directory() {
    let dir = tempfile::tempdir().unwrap();
    // One-minute blocks: the server cuts, checkpoints and compacts while the job reads.
    let s = Strata::start(bin(), dir.path(), &["--block-range", "1m"]).unwrap();
    let start = now_ms() - 30 * 60_000;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let acked = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(-1));
    let addr = s.addr;
    let (st, ak) = (stop.clone(), acked.clone());
    let writer = std::thread::spawn(move || {
        let mut k = 0i64;
        while !st.load(std::sync::atomic::Ordering::Relaxed) && k < 1800 {
            let t = start + k * 1000;
            let series: Vec<TimeSeries> = (0..10)
                .map(|i| {
                    TimeSeries::new(
                        &[("__name__", "live"), ("i", &i.to_string())],
                        &[(t, k as f64)],
                    )
                })
                .collect();
            let body =
                strata_ingest::encode::snappy(&strata_ingest::encode::write_request_v1(&series));
            let r = http_request(
                addr,
                "POST",
                "/api/v1/write",
                &[
                    ("Content-Type", "application/x-protobuf"),
                    ("Content-Encoding", "snappy"),
                ],
                &body,
            )
            .unwrap();
            assert_eq!(r.status, 204, "{}", r.text());
            ak.store(k, std::sync::atomic::Ordering::SeqCst);
            k += 1;
        }
    });
    let mut checks = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    while checks < 15 && Instant::now() < deadline {
        let k = acked.load(std::sync::atomic::Ordering::SeqCst);
        if k < 0 {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        }
        let db = strata_engine::Db::open_read_only(dir.path(), true).unwrap();
        let got = db
            .querier(i64::MIN, i64::MAX)
            .select(&[strata_engine::Matcher::equal("__name__", "live")])
            .unwrap();
        assert_eq!(got.len(), 10);
        for series in &got {
            let vs: Vec<f64> = series.try_samples().unwrap().iter().map(|x| x.v).collect();
            // Everything acknowledged before the open is there, in order, once.
            assert!(
                vs.len() as i64 > k,
                "{}: {} samples, {} acknowledged",
                series.labels,
                vs.len(),
                k + 1
            );
            assert!(
                vs.iter().enumerate().all(|(j, v)| *v == j as f64),
                "{}: gap or duplicate",
                series.labels
            );
        }
        checks += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    assert!(checks >= 15, "only {checks} reads in time");
    assert!(
        metric(&s, "strata_head_cuts_total") >= 1.0,
        "the server cut blocks meanwhile"
    );
}

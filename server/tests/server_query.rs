//! Query lifecycle through the real `strata` binary over loopback HTTP: a query whose client
//! disconnects is cancelled, stops, and gives its concurrency slot back (visible in
//! `/metrics`).

use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use strata_ingest::encode::TimeSeries;
use strata_tests::server_harness::{now_ms, urlencode, Strata};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_strata"))
}

fn metric(s: &Strata, name: &str) -> f64 {
    let page = s.get("/metrics").unwrap().text();
    page.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("{name} missing from /metrics"))
        .parse()
        .unwrap()
}

/// Polls `cond` every 20 ms until it holds; panics after `limit` (a bound on how long the
/// test waits, not an assertion on speed).
fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
    start.elapsed()
}

#[test]
fn disconnected_query_is_cancelled_and_frees_its_slot() {
    let dir = tempfile::tempdir().unwrap();
    let s = Strata::start(bin(), dir.path(), &[]).unwrap();
    // 4 series x 12,000 samples (15 s apart, 50 h), written in time order.
    let end = now_ms() / 15_000 * 15_000;
    let start = end - 12_000 * 15_000;
    let mut t = start;
    while t < end {
        let series: Vec<TimeSeries> = (0..4)
            .map(|i| {
                let samples: Vec<(i64, f64)> = (0..500)
                    .map(|k| {
                        let ts = t + k * 15_000;
                        (ts, ((ts / 15_000) % 97) as f64 + i as f64)
                    })
                    .collect();
                TimeSeries::new(&[("__name__", "slow"), ("i", &i.to_string())], &samples)
            })
            .collect();
        let r = s.write_v1(&series).unwrap();
        assert_eq!(r.status, 204, "{}", r.text());
        t += 500 * 15_000;
    }
    assert_eq!(metric(&s, "strata_query_slots_in_use"), 0.0);
    assert_eq!(metric(&s, "strata_queries_canceled_total"), 0.0);

    // A range query of ~10,000 steps, each a sort of ~5,760 samples per series: far longer
    // than this test waits for. Sent on a raw connection that is then closed unanswered.
    let q = "quantile_over_time(0.5, slow[1d])";
    let path = format!(
        "/api/v1/query_range?query={}&start={}&end={}&step=18",
        urlencode(q),
        start / 1000,
        end / 1000
    );
    let mut conn = TcpStream::connect(s.addr).unwrap();
    write!(
        conn,
        "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        s.addr
    )
    .unwrap();
    conn.flush().unwrap();
    wait_for(
        "the query to take its slot",
        Duration::from_secs(60),
        || metric(&s, "strata_query_slots_in_use") == 1.0,
    );
    drop(conn);
    let took = wait_for(
        "the cancelled query to free its slot",
        Duration::from_secs(60),
        || metric(&s, "strata_query_slots_in_use") == 0.0,
    );
    // Cancelled, not finished: the counter says the evaluation stopped on the token.
    assert_eq!(metric(&s, "strata_queries_canceled_total"), 1.0);
    eprintln!("slot freed {took:?} after the client closed its connection");

    // The server keeps answering queries on the freed slot.
    let r = s
        .get(&format!(
            "/api/v1/query?query={}&time={}",
            urlencode("count(slow)"),
            end / 1000
        ))
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains(r#""value":["#), "{}", r.text());
}

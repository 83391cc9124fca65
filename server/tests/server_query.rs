//! Query lifecycle through the real `strata` binary over loopback HTTP: a query whose client
//! disconnects is cancelled, stops, and gives its concurrency slot back (visible in
//! `/metrics`); a reply of several MB is sent in pieces (chunked) and arrives whole.

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

/// A range reply above 1 MB is rendered piece by piece as it is sent (chunked transfer
/// encoding) and arrives whole: every series, every step, exact values, and the stats asked
/// for at its end; a small reply keeps its Content-Length.
#[test]
fn large_range_reply_arrives_whole_in_pieces() {
    let dir = tempfile::tempdir().unwrap();
    let s = Strata::start(bin(), dir.path(), &[]).unwrap();
    // 400 series x 121 samples (30 min at 15 s): 48,400 points, some 1.8 MB of JSON.
    let end = now_ms() / 15_000 * 15_000;
    let start = end - 120 * 15_000;
    let series: Vec<TimeSeries> = (0..400)
        .map(|i| {
            let samples: Vec<(i64, f64)> = (0..=120)
                .map(|k| (start + k * 15_000, (i * 1000 + k) as f64 / 4.0))
                .collect();
            TimeSeries::new(&[("__name__", "wide"), ("i", &i.to_string())], &samples)
        })
        .collect();
    let r = s.write_v1(&series).unwrap();
    assert_eq!(r.status, 204, "{}", r.text());
    let path = format!(
        "/api/v1/query_range?query=wide&start={}&end={}&step=15&stats=all",
        start / 1000,
        end / 1000
    );
    let r = s.get(&path).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert!(r.body.len() > 1 << 20, "{} bytes", r.body.len());
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["status"], "success");
    assert!(
        v["data"]["stats"]["timings"]["evalTotalTime"].is_number(),
        "stats at the end"
    );
    let result = v["data"]["result"].as_array().unwrap();
    assert_eq!(result.len(), 400);
    for s in result {
        let i: i64 = s["metric"]["i"].as_str().unwrap().parse().unwrap();
        let values = s["values"].as_array().unwrap();
        assert_eq!(values.len(), 121);
        for (k, p) in values.iter().enumerate() {
            assert_eq!(p[0].as_i64().unwrap(), start / 1000 + k as i64 * 15);
            let want = (i * 1000 + k as i64) as f64 / 4.0;
            assert_eq!(p[1].as_str().unwrap().parse::<f64>().unwrap(), want);
        }
    }
    // A small reply is sent at once, with its length.
    let small = format!(
        "/api/v1/query_range?query={}&start={}&end={}&step=15",
        urlencode("wide{i=\"7\"}"),
        start / 1000,
        end / 1000
    );
    let r = s.get(&small).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("transfer-encoding"), None);
    assert_eq!(
        r.header("content-length"),
        Some(r.body.len().to_string().as_str())
    );
}

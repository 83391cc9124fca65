//! The out-of-order window against the real `strata` binary over loopback: late samples
//! within `--out-of-order-window` are stored (204) and queryable at once and after a crash
//! (kill -9, WAL replay), samples older than the window get 400 with the reason and are
//! counted in `/metrics`, and without the flag late samples are refused as out of order.

use std::path::Path;

use strata_ingest::encode::TimeSeries;
use strata_tests::server_harness::{now_ms, urlencode, Strata};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_strata"))
}

/// `(timestamp ms, value)` pairs of `late_metric` over the last hour, from a range-vector
/// instant query at `at`.
fn samples(s: &Strata, at: i64) -> Vec<(i64, f64)> {
    let q = urlencode("late_metric[1h]");
    let r = s
        .get(&format!(
            "/api/v1/query?query={q}&time={}",
            at as f64 / 1000.0
        ))
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let result = v["data"]["result"].as_array().unwrap();
    if result.is_empty() {
        return Vec::new();
    }
    result[0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let t = (p[0].as_f64().unwrap() * 1000.0).round() as i64;
            (t, p[1].as_str().unwrap().parse().unwrap())
        })
        .collect()
}

fn write(s: &Strata, t: i64, v: f64) -> strata_tests::server_harness::Response {
    s.write_v1(&[TimeSeries::new(
        &[("__name__", "late_metric"), ("job", "edge")],
        &[(t, v)],
    )])
    .unwrap()
}

#[test]
fn late_samples_within_the_window_are_stored_and_survive_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--out-of-order-window", "10m"];
    let s = Strata::start(bin(), dir.path(), &args).unwrap();
    let now = now_ms();
    let t = now - now % 1000;
    assert_eq!(write(&s, t, 3.0).status, 204);
    // Late: 1 and 5 minutes before the newest sample, out of order for the series.
    let r = write(&s, t - 60_000, 2.0);
    assert_eq!(r.status, 204, "{}", r.text());
    let r = write(&s, t - 300_000, 1.0);
    assert_eq!(r.status, 204, "{}", r.text());
    // A resend is a no-op.
    assert_eq!(write(&s, t - 300_000, 1.0).status, 204);
    let want = vec![(t - 300_000, 1.0), (t - 60_000, 2.0), (t, 3.0)];
    assert_eq!(samples(&s, t), want);
    assert_eq!(s.metric("strata_ingest_out_of_order_samples_total"), 2);
    assert_eq!(s.metric("strata_head_out_of_order_samples"), 2);
    // Older than the window: 400 with the reason, counted, nothing stored.
    let r = write(&s, t - 11 * 60_000, 0.5);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("too old sample"), "{}", r.text());
    assert_eq!(
        s.metric("strata_ingest_rejected_total{reason=\"too_old\"}"),
        1
    );
    // Another value at a stored timestamp: a conflict, 400.
    let r = write(&s, t - 60_000, 9.0);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("duplicate sample"), "{}", r.text());
    assert_eq!(samples(&s, t), want);
    // Crash and restart: the late samples come back from the WAL.
    s.kill9().unwrap();
    let s = Strata::start(bin(), dir.path(), &args).unwrap();
    assert_eq!(samples(&s, t), want);
    s.terminate().unwrap();
}

#[test]
fn without_the_window_late_samples_are_out_of_order() {
    let dir = tempfile::tempdir().unwrap();
    let s = Strata::start(bin(), dir.path(), &[]).unwrap();
    let now = now_ms();
    let t = now - now % 1000;
    assert_eq!(write(&s, t, 3.0).status, 204);
    let r = write(&s, t - 60_000, 2.0);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("out of order sample"), "{}", r.text());
    assert_eq!(
        s.metric("strata_ingest_rejected_total{reason=\"out_of_order\"}"),
        1
    );
    assert_eq!(s.metric("strata_ingest_out_of_order_samples_total"), 0);
    assert_eq!(samples(&s, t), vec![(t, 3.0)]);
    s.terminate().unwrap();
}

//! The range-query result cache through the real `strata` binary: a repeated
//! `/api/v1/query_range` is a hit in `/metrics`, an admin `delete_series` is reflected by the
//! next answer, `nocache=1` bypasses the cache, and `--query.result-cache-size 0` turns it
//! off.

use std::path::Path;

use serde_json::Value;
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

fn hits_misses(s: &Strata) -> (f64, f64) {
    (
        metric(s, "strata_query_result_cache_hits_total"),
        metric(s, "strata_query_result_cache_misses_total"),
    )
}

/// A server started with `args` in a new temporary directory (kept alive by the returned
/// guard), holding [`write_history`] up to `end`: a minute ago, so that a range ending 10
/// minutes ago lies before the stable bound (now - 5 min) and every step is cacheable.
fn started(args: &[&str]) -> (tempfile::TempDir, Strata, i64) {
    let dir = tempfile::tempdir().unwrap();
    let s = Strata::start(bin(), dir.path(), args).unwrap();
    let end = now_ms() / 60_000 * 60_000 - 60_000;
    write_history(&s, end);
    (dir, s, end)
}

/// 40 minutes of 15 s scrapes of 6 series (jobs a and b) ending at `end`.
fn write_history(s: &Strata, end: i64) {
    let start = end - 40 * 60_000;
    let mut t = start;
    while t <= end {
        let series: Vec<TimeSeries> = (0..6)
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
        t += 15_000;
    }
}

/// The `data.result` of a range query (the whole reply must be a success).
fn range(s: &Strata, q: &str, start: i64, end: i64, extra: &str) -> Value {
    range_reply(s, q, start, end, extra)["data"]["result"].clone()
}

/// The whole reply of a range query, which must be a success.
fn range_reply(s: &Strata, q: &str, start: i64, end: i64, extra: &str) -> Value {
    let r = s
        .get(&format!(
            "/api/v1/query_range?query={}&start={}&end={}&step=60{extra}",
            urlencode(q),
            start as f64 / 1000.0,
            end as f64 / 1000.0
        ))
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["status"], "success", "{v}");
    v
}

const Q: &str = "sum by (job) (count_over_time(req_total[5m]))";

#[test]
fn repeated_range_query_hits_and_delete_invalidates() {
    let (_dir, s, end) = started(&["--enable-admin-api"]);
    let (qs, qe) = (end - 35 * 60_000, end - 10 * 60_000);
    assert_eq!(hits_misses(&s), (0.0, 0.0));
    let first = range(&s, Q, qs, qe, "");
    assert_eq!(first.as_array().unwrap().len(), 2, "{first}");
    assert_eq!(hits_misses(&s), (0.0, 1.0));
    let second = range(&s, Q, qs, qe, "");
    assert_eq!(second, first);
    assert_eq!(hits_misses(&s), (1.0, 1.0));
    assert!(metric(&s, "strata_query_result_cache_entries") >= 1.0);
    assert!(metric(&s, "strata_query_result_cache_bytes") > 0.0);

    // Delete job="a" between 30 and 20 minutes before the end: the next answer shows it.
    let path = format!(
        "/api/v1/admin/tsdb/delete_series?match[]={}&start={}&end={}",
        urlencode("req_total{job=\"a\"}"),
        (end - 30 * 60_000) as f64 / 1000.0,
        (end - 20 * 60_000) as f64 / 1000.0
    );
    let r = s.request("POST", &path, &[], b"").unwrap();
    assert_eq!(r.status, 204, "{}", r.text());
    let after = range(&s, Q, qs, qe, "");
    assert_ne!(after, first, "the delete is visible");
    let job_a = after
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["metric"]["job"] == "a")
        .unwrap();
    // At 25 minutes before the end no sample of job a is left in the 5 minute window.
    let t25 = ((end - 25 * 60_000) / 1000) as f64;
    assert!(
        job_a["values"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p[0].as_f64().unwrap() != t25),
        "{job_a}"
    );
    assert_eq!(hits_misses(&s), (1.0, 2.0), "the entry was stale: a miss");

    // nocache=1 evaluates in full and counts as neither; the answers agree.
    let bypass = range(&s, Q, qs, qe, "&nocache=1");
    assert_eq!(bypass, after);
    assert_eq!(hits_misses(&s), (1.0, 2.0));
    let again = range(&s, Q, qs, qe, "");
    assert_eq!(again, after);
    assert_eq!(hits_misses(&s), (2.0, 2.0));
    // A bad nocache value is a 400 naming the parameter.
    let r = s
        .get("/api/v1/query_range?query=up&start=0&end=60&step=60&nocache=maybe")
        .unwrap();
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("nocache"), "{}", r.text());
}

#[test]
fn result_cache_size_zero_turns_it_off() {
    let (_dir, s, end) = started(&["--query.result-cache-size", "0"]);
    let (qs, qe) = (end - 35 * 60_000, end - 10 * 60_000);
    let a = range(&s, Q, qs, qe, "");
    let b = range(&s, Q, qs, qe, "");
    assert_eq!(a, b);
    assert_eq!(hits_misses(&s), (0.0, 0.0));
    assert_eq!(metric(&s, "strata_query_result_cache_entries"), 0.0);
}

/// A range query whose every step is cached is answered without evaluating (on the request
/// thread, a hit in `/metrics`) and still honours `limit` and `stats` like any answer; a
/// grid inside the cached one is such a hit too.
#[test]
fn whole_hits_keep_limit_stats_and_sub_grids() {
    let (_dir, s, end) = started(&[]);
    let (qs, qe) = (end - 35 * 60_000, end - 10 * 60_000);
    let first = range(&s, Q, qs, qe, "");
    assert_eq!(hits_misses(&s), (0.0, 1.0));

    let v = range_reply(&s, Q, qs, qe, "&limit=1&stats=all");
    assert_eq!(hits_misses(&s), (1.0, 1.0));
    assert_eq!(v["data"]["result"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["data"]["result"][0], first[0]);
    assert_eq!(v["warnings"][0], "results truncated due to limit", "{v}");
    assert!(
        v["data"]["stats"]["timings"]["evalTotalTime"].is_number(),
        "{v}"
    );

    // Ten minutes inside the cached grid: the same points.
    let (ss, se) = (qs + 10 * 60_000, qs + 20 * 60_000);
    let inner = range(&s, Q, ss, se, "");
    assert_eq!(hits_misses(&s), (2.0, 1.0));
    for (a, b) in inner
        .as_array()
        .unwrap()
        .iter()
        .zip(first.as_array().unwrap())
    {
        assert_eq!(a["metric"], b["metric"]);
        let want: Vec<&Value> = b["values"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| {
                let t = (p[0].as_f64().unwrap() * 1000.0) as i64;
                (ss..=se).contains(&t)
            })
            .collect();
        let got: Vec<&Value> = a["values"].as_array().unwrap().iter().collect();
        assert_eq!(got, want);
    }
}

/// An instant query's subquery reuses cached inner steps: the second ask is a hit with the
/// same answer, `nocache=1` bypasses (counting neither), and a bad value is a 400.
#[test]
fn instant_subqueries_use_the_cache() {
    let (_dir, s, end) = started(&[]);
    let q = "max_over_time(sum by (job) (count_over_time(req_total[5m]))[20m:1m])";
    let at = (end - 10 * 60_000) as f64 / 1000.0;
    let ask = |extra: &str| {
        let r = s
            .get(&format!(
                "/api/v1/query?query={}&time={at}{extra}",
                urlencode(q)
            ))
            .unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["status"], "success", "{v}");
        v["data"]["result"].clone()
    };
    let first = ask("");
    assert_eq!(first.as_array().unwrap().len(), 2, "{first}");
    assert_eq!(hits_misses(&s), (0.0, 1.0));
    assert_eq!(ask(""), first);
    assert_eq!(hits_misses(&s), (1.0, 1.0));
    assert_eq!(ask("&nocache=1"), first);
    assert_eq!(hits_misses(&s), (1.0, 1.0));
    let r = s
        .get(&format!("/api/v1/query?query=up&time={at}&nocache=maybe"))
        .unwrap();
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("nocache"), "{}", r.text());
}

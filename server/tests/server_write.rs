//! Remote-write against the real `strata` binary: v1 and v2 round trips through the metadata
//! endpoints, and the bad-input table (each case's status and message, then the server still
//! serves and the data written before is intact).

use std::path::Path;

use strata_ingest::encode::{put_bytes, sample, snappy, write_request_v1, TimeSeries};
use strata_tests::server_harness::{now_ms, urlencode, Response, Strata};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_strata"))
}

fn json(r: &Response) -> serde_json::Value {
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.text()))
}

/// `data` of a successful JSON reply.
fn data(r: &Response) -> serde_json::Value {
    assert_eq!(r.status, 200, "{}", r.text());
    let v = json(r);
    assert_eq!(v["status"], "success", "{v}");
    v["data"].clone()
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

fn label_values(s: &Strata, name: &str) -> Vec<String> {
    strings(&data(
        &s.get(&format!("/api/v1/label/{name}/values")).unwrap(),
    ))
}

#[test]
fn remote_write_v1_and_v2_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let s = Strata::start(bin(), dir.path(), &[]).unwrap();
    let t = now_ms();
    let v1 = s
        .write_v1(&[
            TimeSeries::new(
                &[
                    ("__name__", "rw_v1_total"),
                    ("job", "api"),
                    ("instance", "a:1"),
                ],
                &[(t - 2000, 1.0), (t - 1000, 2.0)],
            ),
            TimeSeries::new(
                &[
                    ("__name__", "rw_v1_total"),
                    ("job", "api"),
                    ("instance", "b:1"),
                ],
                &[(t - 1000, 5.0)],
            ),
        ])
        .unwrap();
    assert_eq!(v1.status, 204, "{}", v1.text());
    assert!(v1.body.is_empty());
    let v2 = s
        .write_v2(&[TimeSeries::new(
            &[("__name__", "rw_v2_gauge"), ("job", "batch")],
            &[(t - 3000, 0.5), (t - 2000, 0.25), (t - 1000, 0.125)],
        )])
        .unwrap();
    assert_eq!(v2.status, 204, "{}", v2.text());
    assert_eq!(
        v2.header("x-prometheus-remote-write-samples-written"),
        Some("3")
    );
    assert_eq!(
        v2.header("x-prometheus-remote-write-histograms-written"),
        Some("0")
    );
    assert_eq!(
        v2.header("x-prometheus-remote-write-exemplars-written"),
        Some("0")
    );

    let names = label_values(&s, "__name__");
    assert!(names.contains(&"rw_v1_total".to_string()), "{names:?}");
    assert!(names.contains(&"rw_v2_gauge".to_string()), "{names:?}");
    assert_eq!(label_values(&s, "job"), vec!["api", "batch"]);
    assert_eq!(label_values(&s, "instance"), vec!["a:1", "b:1"]);

    let q = urlencode("rw_v1_total{job=\"api\"}");
    let series = data(&s.get(&format!("/api/v1/series?match[]={q}")).unwrap());
    let series = series.as_array().unwrap();
    assert_eq!(series.len(), 2, "{series:?}");
    assert_eq!(series[0]["instance"], "a:1");
    assert_eq!(series[0]["__name__"], "rw_v1_total");
    assert_eq!(series[1]["instance"], "b:1");

    // POST form and match[] on label values.
    let r = s
        .post_form(
            "/api/v1/series",
            &format!("match[]={}", urlencode("{__name__=~\"rw_.*\"}")),
        )
        .unwrap();
    assert_eq!(data(&r).as_array().unwrap().len(), 3);
    let r = s
        .get(&format!(
            "/api/v1/label/job/values?match[]={}",
            urlencode("rw_v2_gauge")
        ))
        .unwrap();
    assert_eq!(strings(&data(&r)), vec!["batch"]);
    let r = s.get("/api/v1/labels").unwrap();
    assert_eq!(strings(&data(&r)), vec!["__name__", "instance", "job"]);
    let r = s.get("/api/v1/label/__name__/values?limit=1").unwrap();
    let v = json(&r);
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    assert_eq!(v["warnings"][0], "results truncated due to limit");

    let tsdb = data(&s.get("/api/v1/status/tsdb").unwrap());
    assert_eq!(tsdb["headStats"]["numSeries"], 3, "{tsdb}");
    assert_eq!(tsdb["headStats"]["chunkCount"], 3, "{tsdb}");
    assert_eq!(
        tsdb["seriesCountByMetricName"][0],
        serde_json::json!({"name": "rw_v1_total", "value": 2}),
        "{tsdb}"
    );
    let pairs = tsdb["seriesCountByLabelValuePair"].as_array().unwrap();
    assert!(
        pairs.contains(&serde_json::json!({"name": "job=api", "value": 2})),
        "{tsdb}"
    );
    let counts = tsdb["labelValueCountByLabelName"].as_array().unwrap();
    assert!(
        counts.contains(&serde_json::json!({"name": "job", "value": 2})),
        "{tsdb}"
    );

    // Same request again: exact duplicates are accepted (idempotent retries).
    let again = s
        .write_v2(&[TimeSeries::new(
            &[("__name__", "rw_v2_gauge"), ("job", "batch")],
            &[(t - 1000, 0.125)],
        )])
        .unwrap();
    assert_eq!(again.status, 204, "{}", again.text());
    assert_eq!(s.terminate().unwrap().code(), Some(0));
}

/// Hand-encodes a v1 request with raw label bytes (for invalid UTF-8).
fn raw_v1(labels: &[(&[u8], &[u8])], t: i64, v: f64) -> Vec<u8> {
    let mut ts = Vec::new();
    for (n, val) in labels {
        let mut l = Vec::new();
        put_bytes(&mut l, 1, n);
        put_bytes(&mut l, 2, val);
        put_bytes(&mut ts, 1, &l);
    }
    put_bytes(&mut ts, 2, &sample(t, v));
    let mut req = Vec::new();
    put_bytes(&mut req, 1, &ts);
    req
}

fn series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> Vec<u8> {
    snappy(&write_request_v1(&[TimeSeries::new(labels, samples)]))
}

#[test]
fn bad_input_table() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("strata.yml");
    std::fs::write(&cfg, "limits:\n  max_body_bytes: 8388608\n").unwrap();
    let data_dir = dir.path().join("data");
    let s = Strata::start(bin(), &data_dir, &["--config", cfg.to_str().unwrap()]).unwrap();
    let t = now_ms();
    let pb = "application/x-protobuf";

    // Data written before the bad requests.
    let good = s
        .write_v1(&[TimeSeries::new(
            &[("__name__", "before_total"), ("job", "keep")],
            &[(t - 5000, 1.0), (t - 4000, 2.0)],
        )])
        .unwrap();
    assert_eq!(good.status, 204, "{}", good.text());

    let valid = write_request_v1(&[TimeSeries::new(
        &[("__name__", "x"), ("job", "j")],
        &[(t, 1.0)],
    )]);
    let valid_snappy = snappy(&valid);
    // Snappy headers declaring 4 GiB (beyond the format's u32 length) and 4 GiB - 1: both
    // refused from the header alone, before any allocation.
    let claim = |len: u64| {
        let mut b = Vec::new();
        strata_ingest::encode::put_varint(&mut b, len);
        b.extend_from_slice(&[0x00, 0x01, 0x02, 0x03]);
        b
    };
    let mut many_labels: Vec<(String, String)> = (0..1_000_000)
        .map(|i| (format!("l{i:07}"), "v".to_string()))
        .collect();
    many_labels.push(("__name__".into(), "too_many_labels".into()));
    let many = snappy(&write_request_v1(&[TimeSeries {
        labels: many_labels,
        samples: vec![(t, 1.0)],
    }]));
    assert!(
        many.len() < 8 << 20,
        "1M-label body is {} bytes",
        many.len()
    );
    let oversized: Vec<u8> = (0..9u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();

    // (name, content type, body, expected status, message substring)
    let cases: Vec<(&str, &str, Vec<u8>, u16, &str)> = vec![
        (
            "not snappy",
            pb,
            b"this is not snappy at all".to_vec(),
            400,
            "snappy",
        ),
        (
            "truncated snappy",
            pb,
            valid_snappy[..valid_snappy.len() / 2].to_vec(),
            400,
            "snappy",
        ),
        (
            "snappy header claims 4 GiB",
            pb,
            claim(4 << 30),
            400,
            "snappy",
        ),
        (
            "snappy header claims 4 GiB - 1",
            pb,
            claim((4 << 30) - 1),
            413,
            "decoded body",
        ),
        (
            "garbage protobuf",
            pb,
            snappy(&[0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]),
            400,
            "protobuf",
        ),
        (
            "unknown content type",
            "application/json",
            valid_snappy.clone(),
            415,
            "application/json",
        ),
        (
            "unsorted labels",
            pb,
            series(&[("job", "u"), ("__name__", "unsorted_total")], &[(t, 1.0)]),
            204,
            "",
        ),
        (
            "duplicate label names",
            pb,
            series(
                &[("__name__", "dup_total"), ("job", "a"), ("job", "b")],
                &[(t, 1.0)],
            ),
            400,
            "duplicate label name",
        ),
        (
            "no __name__",
            pb,
            series(&[("job", "noname")], &[(t, 1.0)]),
            400,
            "missing metric name",
        ),
        (
            "empty label value",
            pb,
            series(
                &[
                    ("__name__", "empty_value_total"),
                    ("job", "e"),
                    ("zone", ""),
                ],
                &[(t, 1.0)],
            ),
            204,
            "",
        ),
        (
            "invalid UTF-8",
            pb,
            snappy(&raw_v1(
                &[(b"__name__", b"utf8_total"), (b"job", b"\xc3\x28")],
                t,
                1.0,
            )),
            400,
            "UTF-8",
        ),
        (
            "NaN and infinities",
            pb,
            series(
                &[("__name__", "special_values")],
                &[
                    (t - 3, f64::NAN),
                    (t - 2, f64::INFINITY),
                    (t - 1, f64::NEG_INFINITY),
                ],
            ),
            204,
            "",
        ),
        (
            "out-of-order sample",
            pb,
            series(
                &[("__name__", "before_total"), ("job", "keep")],
                &[(t - 10_000, 0.0)],
            ),
            400,
            "out of order",
        ),
        ("oversized body", pb, oversized, 413, "too large"),
        (
            "1 M labels in one series",
            pb,
            many,
            400,
            "more than the limit",
        ),
    ];
    for (name, ct, body, status, msg) in cases {
        let r = s
            .write_raw(ct, &body)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(r.status, status, "{name}: {}", r.text());
        assert!(
            r.text().contains(msg),
            "{name}: {:?} does not contain {msg:?}",
            r.text()
        );
        // Still serving after every case.
        assert_eq!(s.get("/-/healthy").unwrap().status, 200, "{name}");
    }

    // Earlier data intact, accepted cases visible, rejected ones absent.
    let names = label_values(&s, "__name__");
    for want in [
        "before_total",
        "unsorted_total",
        "empty_value_total",
        "special_values",
    ] {
        assert!(
            names.contains(&want.to_string()),
            "{want} missing from {names:?}"
        );
    }
    for absent in ["dup_total", "utf8_total", "too_many_labels", "x"] {
        assert!(
            !names.contains(&absent.to_string()),
            "{absent} in {names:?}"
        );
    }
    assert!(!label_values(&s, "job").contains(&"noname".to_string()));
    assert!(!label_values(&s, "__name__").is_empty());
    let zone = label_values(&s, "zone");
    assert!(zone.is_empty(), "empty label value was stored: {zone:?}");
    let m = s.get("/metrics").unwrap();
    assert_eq!(m.status, 200);
    let metrics = m.text();
    assert!(
        metrics.contains("strata_ingest_rejected_total{reason=\"out_of_order\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("strata_http_requests_total{handler=\"write\",code=\"204\"}"));
    assert!(
        !metrics.contains("strata_wal_writes_total 0\n"),
        "accepted writes reach the WAL: {metrics}"
    );
    assert_eq!(s.terminate().unwrap().code(), Some(0));
}

#[test]
fn write_method_and_overload_statuses() {
    let dir = tempfile::tempdir().unwrap();
    let s = Strata::start(bin(), dir.path(), &[]).unwrap();
    let r = s.get("/api/v1/write").unwrap();
    assert_eq!(r.status, 405);
    let r = s
        .request(
            "POST",
            "/api/v1/push",
            &[
                ("Content-Type", "application/x-protobuf"),
                ("Content-Encoding", "gzip"),
            ],
            b"x",
        )
        .unwrap();
    assert_eq!(r.status, 415, "{}", r.text());
    assert!(r.text().contains("gzip"));
    let r = s
        .request(
            "POST",
            "/api/v1/write",
            &[(
                "Content-Type",
                "application/x-protobuf;proto=io.prometheus.write.v2.Request",
            )],
            b"not snappy",
        )
        .unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(
        r.header("x-prometheus-remote-write-samples-written"),
        Some("0")
    );
}

#[test]
fn overloaded_writes_get_503_with_retry_after() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let s = one_write_slot_server(dir.path());
    // A sender that announces a body and stalls holds the only write slot (seen in
    // /metrics before any other write is sent, so no other write can hold it first).
    let mut stalled = std::net::TcpStream::connect(s.addr).unwrap();
    stalled
        .write_all(
            b"POST /api/v1/write HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n\
              Content-Length: 100\r\n\r\n",
        )
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while s.metric("strata_write_slots_in_use") != 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the stalled write never took the slot"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let t = now_ms();
    let one = |i: i64| {
        s.write_v1(&[TimeSeries::new(
            &[("__name__", "overload")],
            &[(t + i, 1.0)],
        )])
        .unwrap()
    };
    // Poll until the stalled request has taken the slot.
    let mut refused = None;
    for i in 0..200 {
        let r = one(i);
        if r.status == 503 {
            refused = Some(r);
            break;
        }
        assert_eq!(r.status, 204, "{}", r.text());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let r = refused.expect("no write was refused while the only slot was held");
    assert_eq!(r.header("retry-after"), Some("1"));
    assert!(r.text().contains("overloaded"), "{}", r.text());
    // Once the stalled sender goes away, writes are accepted again.
    drop(stalled);
    let mut ok = false;
    for i in 1000..1200 {
        if one(i).status == 204 {
            ok = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(ok, "writes still refused after the stalled sender left");
    let m = s.get("/metrics").unwrap().text();
    assert!(
        !m.contains("strata_write_requests_overloaded_total 0"),
        "{m}"
    );
    assert_eq!(s.terminate().unwrap().code(), Some(0));
}

/// A server with one write slot and no waiting for it, data under `dir`.
fn one_write_slot_server(dir: &Path) -> Strata {
    let cfg = dir.join("strata.yml");
    std::fs::write(
        &cfg,
        "limits:\n  max_inflight_writes: 1\n  write_queue_wait: 0s\n",
    )
    .unwrap();
    Strata::start(
        bin(),
        &dir.join("data"),
        &["--config", cfg.to_str().unwrap()],
    )
    .unwrap()
}

/// `strata_ingest_rejected_total{reason="..."}` from `/metrics`.
fn rejected_metric(s: &Strata, reason: &str) -> u64 {
    s.metric(&format!(
        "strata_ingest_rejected_total{{reason=\"{reason}\"}}"
    ))
}

#[test]
fn series_limits_refuse_new_series_with_400_and_count_them() {
    let dir = tempfile::tempdir().unwrap();
    let s = Strata::start(
        bin(),
        dir.path(),
        &["--max-series", "4", "--max-new-series-per-request", "2"],
    )
    .unwrap();
    let t = now_ms();
    let pods = |range: std::ops::Range<usize>, t: i64| -> Vec<TimeSeries> {
        range
            .map(|i| {
                TimeSeries::new(
                    &[("__name__", "limited"), ("pod", &format!("p{i}"))],
                    &[(t, i as f64)],
                )
            })
            .collect()
    };
    // Three new series in one request: two fit the per-request limit.
    let r = s.write_v1(&pods(0..3, t - 3000)).unwrap();
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.text().contains("too many new series in one request"),
        "{}",
        r.text()
    );
    assert_eq!(rejected_metric(&s, "new_series_limit"), 1);
    // A new series whose first sample is far older than the head: out of bounds, 400.
    let r = s
        .write_v1(&[TimeSeries::new(&[("__name__", "old")], &[(1000, 1.0)])])
        .unwrap();
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("out of bounds"), "{}", r.text());
    assert_eq!(rejected_metric(&s, "too_old"), 1);
    // p2 and p3 fit (4 active), p4 is over the active series limit; the known series are
    // stored.
    let r = s.write_v1(&pods(0..4, t - 2000)).unwrap();
    assert_eq!(r.status, 204, "{}", r.text());
    let r = s.write_v1(&pods(0..5, t - 1000)).unwrap();
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("series limit reached"), "{}", r.text());
    assert!(r.text().contains("p4"), "{}", r.text());
    assert_eq!(rejected_metric(&s, "series_limit"), 1);
    assert_eq!(label_values(&s, "pod"), ["p0", "p1", "p2", "p3"]);
    // Known series only: clean.
    let r = s.write_v1(&pods(0..4, t)).unwrap();
    assert_eq!(r.status, 204, "{}", r.text());
}

#[test]
fn metadata_and_status_endpoints() {
    let dir = tempfile::tempdir().unwrap();
    let s = Strata::start(bin(), dir.path(), &["--max-series", "5000"]).unwrap();
    let body = "# HELP canary_requests_total Requests served, by version.\n\
                # TYPE canary_requests_total counter\n\
                canary_requests_total{version=\"v2\"} 7\n\
                # HELP canary_latency_seconds Request latency.\n\
                # TYPE canary_latency_seconds histogram\n\
                canary_latency_seconds_bucket{le=\"+Inf\"} 3\n\
                canary_latency_seconds_count 3\n";
    let r = s
        .request(
            "POST",
            "/api/v1/import/prometheus",
            &[("Content-Type", "text/plain; version=0.0.4")],
            body.as_bytes(),
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let md = data(&s.get("/api/v1/metadata").unwrap());
    assert_eq!(
        md,
        serde_json::json!({
            "canary_latency_seconds": [
                {"type": "histogram", "help": "Request latency.", "unit": ""}
            ],
            "canary_requests_total": [
                {"type": "counter", "help": "Requests served, by version.", "unit": ""}
            ]
        })
    );
    let one = data(
        &s.get("/api/v1/metadata?metric=canary_requests_total")
            .unwrap(),
    );
    assert_eq!(one.as_object().unwrap().len(), 1);
    assert_eq!(
        data(&s.get("/api/v1/metadata?limit=1").unwrap())
            .as_object()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(s.get("/api/v1/metadata?limit=x").unwrap().status, 400);

    let rt = data(&s.get("/api/v1/status/runtimeinfo").unwrap());
    assert_eq!(rt["storageRetention"], "2w1d");
    assert!(rt["startTime"].as_str().unwrap().contains('T'), "{rt}");
    let flags = data(&s.get("/api/v1/status/flags").unwrap());
    assert_eq!(flags["max-series"], "5000");
    assert_eq!(flags["retention"], "2w1d");
    let cfg = data(&s.get("/api/v1/status/config").unwrap());
    let yaml = cfg["yaml"].as_str().unwrap();
    assert!(yaml.contains("max_series: 5000"), "{yaml}");
    let root = s.get("/").unwrap();
    assert_eq!(root.status, 200);
    assert!(root.text().contains("/api/v1/query"), "{}", root.text());
}

#[test]
fn a_write_whose_sender_left_keeps_its_slot_until_its_append_ends() {
    use std::io::Write as _;
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let s = one_write_slot_server(dir.path());
    assert_eq!(s.metric("strata_write_slots_in_use"), 0);
    // A write big enough to take a while to append (100k new series).
    let t = now_ms();
    let n = 100_000u64;
    let series: Vec<TimeSeries> = (0..n)
        .map(|i| {
            TimeSeries::new(
                &[("__name__", "left_behind"), ("i", &i.to_string())],
                &[(t, 1.0)],
            )
        })
        .collect();
    let body = snappy(&write_request_v1(&series));
    let mut sender = std::net::TcpStream::connect(s.addr).unwrap();
    sender
        .write_all(
            format!(
                "POST /api/v1/write HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n\
                 Content-Encoding: snappy\r\nX-Prometheus-Remote-Write-Version: 0.1.0\r\n\
                 Content-Length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        )
        .unwrap();
    sender.write_all(&body).unwrap();
    // Once the append has begun (series appear in the head), the sender gives up, as one
    // whose timeout expired.
    let deadline = Instant::now() + Duration::from_secs(120);
    while s.metric("strata_head_series") == 0 {
        assert!(Instant::now() < deadline, "the append never started");
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(sender);
    let stored = || {
        s.get("/api/v1/query?query=count(left_behind)")
            .unwrap()
            .text()
            .contains(&format!("\"{n}\""))
    };
    // Until the append ends, its slot stays taken (other writes are shed with 503): a free
    // slot seen before the data is all there would be work running without a slot.
    loop {
        let in_use = s.metric("strata_write_slots_in_use");
        let done = stored();
        if in_use == 0 {
            assert!(done, "slot released while the append was still running");
            break;
        }
        let r = s
            .write_v1(&[TimeSeries::new(&[("__name__", "other")], &[(t, 1.0)])])
            .unwrap();
        assert!(r.status == 503 || r.status == 204, "{}", r.text());
        assert!(Instant::now() < deadline, "the append never ended");
        std::thread::sleep(Duration::from_millis(20));
    }
    let r = s
        .write_v1(&[TimeSeries::new(&[("__name__", "other")], &[(t, 1.0)])])
        .unwrap();
    assert_eq!(r.status, 204, "{}", r.text());
}

#[test]
fn a_full_write_queue_refuses_at_once_a_leaving_sender_frees_its_place_and_the_queued_write_proceeds(
) {
    use std::io::Write as _;
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("strata.yml");
    // One slot, one place in the queue, and a wait far longer than the test.
    std::fs::write(
        &cfg,
        "limits:\n  max_inflight_writes: 1\n  max_queued_writes: 1\n  write_queue_wait: 10m\n",
    )
    .unwrap();
    let s = Strata::start(
        bin(),
        &dir.path().join("data"),
        &["--config", cfg.to_str().unwrap()],
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let wait_for = |series: &str, v: u64| {
        while s.metric(series) != v {
            assert!(Instant::now() < deadline, "{series} never reached {v}");
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    // A stalled sender holds the only slot.
    let mut stalled = std::net::TcpStream::connect(s.addr).unwrap();
    stalled
        .write_all(
            b"POST /api/v1/write HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n\
              Content-Length: 100\r\n\r\n",
        )
        .unwrap();
    wait_for("strata_write_slots_in_use", 1);
    // A write whose sender leaves while it waits gives its place in the queue back.
    let mut leaving = std::net::TcpStream::connect(s.addr).unwrap();
    leaving
        .write_all(
            b"POST /api/v1/write HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n\
              Content-Encoding: snappy\r\nContent-Length: 5\r\n\r\nhello",
        )
        .unwrap();
    wait_for("strata_write_requests_waiting", 1);
    drop(leaving);
    wait_for("strata_write_requests_waiting", 0);
    // A second write queues behind the stalled one.
    let t = now_ms();
    let addr = s.addr;
    let queued = std::thread::spawn(move || {
        strata_tests::server_harness::http_request(
            addr,
            "POST",
            "/api/v1/write",
            &[
                ("Content-Type", "application/x-protobuf"),
                ("Content-Encoding", "snappy"),
            ],
            &snappy(&write_request_v1(&[TimeSeries::new(
                &[("__name__", "queued")],
                &[(t, 1.0)],
            )])),
        )
        .unwrap()
    });
    wait_for("strata_write_requests_waiting", 1);
    // A third finds the queue full: 503 with Retry-After at once, without waiting.
    let r = s
        .write_v1(&[TimeSeries::new(&[("__name__", "third")], &[(t, 1.0)])])
        .unwrap();
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.header("retry-after"), Some("1"));
    assert!(r.text().contains("waiting"), "{}", r.text());
    assert_eq!(s.metric("strata_write_requests_overloaded_total"), 1);
    assert_eq!(s.metric("strata_write_requests_waiting"), 1);
    // The stalled sender goes away; the queued write takes the slot and is stored.
    drop(stalled);
    let r = queued.join().unwrap();
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(s.metric("strata_write_requests_waiting"), 0);
    let q = s.get("/api/v1/query?query=queued").unwrap().text();
    assert!(q.contains("\"queued\""), "{q}");
    assert_eq!(s.terminate().unwrap().code(), Some(0));
}

//! The Prometheus HTTP API of the real `strata` binary: envelopes, error types and messages,
//! methods, CORS, status endpoints, text import, and query result shapes.

use std::path::Path;

use serde_json::{json, Value};
use strata_ingest::encode::TimeSeries;
use strata_tests::server_harness::{now_ms, urlencode, Response, Strata};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_strata"))
}

fn body(r: &Response) -> Value {
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.text()))
}

/// Asserts an error reply: status, `errorType`, and the exact `error` text.
fn assert_error(r: &Response, status: u16, error_type: &str, msg: &str) {
    assert_eq!(r.status, status, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v = body(r);
    assert_eq!(v["status"], "error", "{v}");
    assert_eq!(v["errorType"], error_type, "{v}");
    assert_eq!(v["error"], msg, "{v}");
}

#[test]
fn status_endpoints_and_methods() {
    let dir = tempfile::tempdir().unwrap();
    let s = Strata::start(
        bin(),
        dir.path(),
        &["--cors-origin", r"http://(grafana\.local|x)"],
    )
    .unwrap();

    let r = s.get("/-/healthy").unwrap();
    assert_eq!((r.status, r.text().contains("Healthy")), (200, true));
    assert_eq!(s.get("/-/ready").unwrap().status, 200);

    let v = body(&s.get("/api/v1/status/buildinfo").unwrap());
    assert_eq!(v["status"], "success");
    let version = v["data"]["version"].as_str().unwrap();
    let parts: Vec<u32> = version.split('.').map(|p| p.parse().unwrap()).collect();
    assert!(
        parts[0] > 2 || (parts[0] == 2 && parts[1] >= 24),
        "{version}"
    );
    assert!(
        v["data"].get("features").is_none(),
        "features would make Grafana assume Mimir"
    );
    assert_eq!(v["data"]["strataVersion"], env!("CARGO_PKG_VERSION"));

    for (path, want) in [
        ("/api/v1/metadata", json!({})),
        ("/api/v1/rules", json!({"groups": []})),
        ("/api/v1/alerts", json!({"alerts": []})),
        (
            "/api/v1/query_exemplars?query=test&start=1712000000000&end=1712001800000",
            json!([]),
        ),
    ] {
        let v = body(&s.get(path).unwrap());
        assert_eq!(v, json!({"status": "success", "data": want}), "{path}");
    }

    assert_error(
        &s.get("/api/v1/nope").unwrap(),
        404,
        "not_found",
        "not found",
    );
    assert_eq!(s.get("/nope").unwrap().status, 404);
    // Label values are GET-only in Prometheus; Grafana retries a 405 with GET.
    let r = s.post_form("/api/v1/label/job/values", "").unwrap();
    assert_eq!(r.status, 405);
    let r = s.request("PUT", "/api/v1/query", &[], b"").unwrap();
    assert_eq!(r.status, 405);

    // CORS preflight and headers.
    let r = s
        .request(
            "OPTIONS",
            "/api/v1/query",
            &[("Origin", "http://grafana.local")],
            b"",
        )
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://grafana.local")
    );
    assert_eq!(
        r.header("access-control-allow-methods"),
        Some("GET, POST, OPTIONS")
    );
    let r = s
        .request("GET", "/api/v1/labels", &[("Origin", "http://x")], b"")
        .unwrap();
    assert_eq!(r.header("access-control-allow-origin"), Some("http://x"));
    // Origins outside --cors-origin (anchored) get no CORS headers.
    for other in ["http://evil", "http://x.evil", "http://grafana.local.evil"] {
        let r = s
            .request("GET", "/api/v1/labels", &[("Origin", other)], b"")
            .unwrap();
        assert!(r.header("access-control-allow-origin").is_none(), "{other}");
    }
    assert!(s
        .get("/api/v1/labels")
        .unwrap()
        .header("access-control-allow-origin")
        .is_none());

    let v = body(&s.get("/api/v1/status/tsdb").unwrap());
    assert_eq!(v["status"], "success");
    assert_eq!(v["data"]["headStats"]["numSeries"], 0);
    assert_eq!(v["data"]["seriesCountByMetricName"], json!([]));

    let m = s.get("/metrics").unwrap();
    assert_eq!(m.status, 200);
    let text = m.text();
    assert!(text.contains("# TYPE strata_ingest_samples_total counter"));
    assert!(text.contains("strata_head_series 0"));
    assert!(text.contains("strata_http_requests_total{handler=\"buildinfo\",code=\"200\"} 1"));
    assert!(text.contains(
        "strata_http_request_duration_seconds_bucket{handler=\"healthy\",le=\"+Inf\"} 1"
    ));
    assert_eq!(s.terminate().unwrap().code(), Some(0));
}

#[test]
fn parameter_errors_match_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let s = Strata::start(bin(), dir.path(), &[]).unwrap();
    let cases = [
        (
            "/api/v1/query?query=1&time=soon",
            r#"invalid parameter "time": invalid time value for 'time': cannot parse "soon" to a valid timestamp"#,
        ),
        (
            "/api/v1/query?query=1&timeout=abc",
            r#"invalid parameter "timeout": cannot parse "abc" to a valid duration"#,
        ),
        (
            "/api/v1/query?query=1&limit=-1",
            r#"invalid parameter "limit": limit must be non-negative"#,
        ),
        (
            "/api/v1/query?query=1&lookback_delta=x",
            r#"error parsing lookback delta duration: cannot parse "x" to a valid duration"#,
        ),
        (
            "/api/v1/query_range?query=1&end=2&step=1",
            r#"invalid parameter "start": cannot parse "" to a valid timestamp"#,
        ),
        (
            "/api/v1/query_range?query=1&start=2&end=1&step=1",
            r#"invalid parameter "end": end timestamp must not be before start time"#,
        ),
        (
            "/api/v1/query_range?query=1&start=1&end=2&step=0",
            r#"invalid parameter "step": zero or negative query resolution step widths are not accepted. Try a positive integer"#,
        ),
        (
            "/api/v1/query_range?query=1&start=1&end=2&step=1e30",
            r#"invalid parameter "step": cannot parse "1e30" to a valid duration. It overflows int64"#,
        ),
        (
            "/api/v1/query_range?query=1&start=0&end=11001&step=1",
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ),
        ("/api/v1/series", "no match[] parameter provided"),
        (
            "/api/v1/labels?start=x",
            r#"invalid parameter "start": invalid time value for 'start': cannot parse "x" to a valid timestamp"#,
        ),
    ];
    for (path, msg) in cases {
        assert_error(&s.get(path).unwrap(), 400, "bad_data", msg);
    }
    // The same through a form POST, where body values win over URL values.
    let r = s
        .post_form(
            "/api/v1/query_range?step=0",
            "query=1&start=1&end=2&step=1x",
        )
        .unwrap();
    assert_error(
        &r,
        400,
        "bad_data",
        r#"invalid parameter "step": cannot parse "1x" to a valid duration"#,
    );
    assert_eq!(s.terminate().unwrap().code(), Some(0));
}

#[test]
fn text_import() {
    let dir = tempfile::tempdir().unwrap();
    let s = Strata::start(bin(), dir.path(), &[]).unwrap();
    let t = now_ms();
    let text = format!(
        "# TYPE jobs_total counter\njobs_total{{pool=\"a\"}} 5 {t}\njobs_total{{pool=\"b\"}} 7 {t}\n"
    );
    let r = s
        .request(
            "POST",
            "/api/v1/import/prometheus",
            &[("Content-Type", "text/plain; version=0.0.4")],
            text.as_bytes(),
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let v = body(&r);
    assert_eq!(v["data"]["samplesImported"], 2);
    let v = body(&s.get("/api/v1/label/pool/values").unwrap());
    assert_eq!(v["data"], json!(["a", "b"]));
    let r = s
        .request(
            "POST",
            "/api/v1/import/prometheus",
            &[],
            b"jobs_total{pool=\"a\" 5\n",
        )
        .unwrap();
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(body(&r)["errorType"], "bad_data");
    // curl --data-binary's default Content-Type is accepted; a remote-write body is not.
    let r = s
        .request(
            "POST",
            "/api/v1/import/prometheus",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            format!("jobs_total{{pool=\"c\"}} 1 {t}\n").as_bytes(),
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let r = s
        .request(
            "POST",
            "/api/v1/import/prometheus",
            &[("Content-Type", "application/x-protobuf")],
            b"\x0a\x00",
        )
        .unwrap();
    assert_eq!(r.status, 415, "{}", r.text());
    assert!(r.text().contains("/api/v1/write"), "{}", r.text());
    assert_eq!(s.terminate().unwrap().code(), Some(0));
}

/// Needs the PromQL parser: selectors in `match[]`.
#[test]
fn match_selectors() {
    let dir = tempfile::tempdir().unwrap();
    let s = Strata::start(bin(), dir.path(), &[]).unwrap();
    let t = now_ms();
    let r = s
        .write_v1(&[
            TimeSeries::new(&[("__name__", "m_a"), ("job", "x")], &[(t, 1.0)]),
            TimeSeries::new(&[("__name__", "m_b"), ("job", "y")], &[(t, 1.0)]),
        ])
        .unwrap();
    assert_eq!(r.status, 204, "{}", r.text());
    assert_error(
        &s.get(&format!(
            "/api/v1/series?match[]={}",
            urlencode("{job=\"\"}")
        ))
        .unwrap(),
        400,
        "bad_data",
        "match[] must contain at least one non-empty matcher",
    );
    let r = s
        .get(&format!(
            "/api/v1/labels?match[]={}&match[]={}",
            urlencode("m_a"),
            urlencode("{job=\"y\"}")
        ))
        .unwrap();
    assert_eq!(body(&r)["data"], json!(["__name__", "job"]));
    let r = s
        .get(&format!(
            "/api/v1/label/__name__/values?match[]={}",
            urlencode("{job=~\"x|y\"}")
        ))
        .unwrap();
    assert_eq!(body(&r)["data"], json!(["m_a", "m_b"]));
    let r = s
        .get(&format!(
            "/api/v1/format_query?query={}",
            urlencode("sum(rate(m_a{job='x'}[5m]))by(job)")
        ))
        .unwrap();
    assert_eq!(
        body(&r),
        json!({"status": "success", "data": "sum by (job) (rate(m_a{job=\"x\"}[5m]))"})
    );
    let v = body(&s.post_form("/api/v1/parse_query", "query=up").unwrap());
    assert_eq!(v["data"]["type"], "vectorSelector", "{v}");
    let r = s.get("/api/v1/format_query?query=sum(").unwrap();
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(body(&r)["errorType"], "bad_data");
    let r = s
        .get(&format!(
            "/api/v1/series?match[]={}",
            urlencode("rate(m_a[5m])")
        ))
        .unwrap();
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(s.terminate().unwrap().code(), Some(0));
}

/// Needs the evaluator: result shapes of instant and range queries.
#[test]
fn query_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let s = Strata::start(bin(), dir.path(), &[]).unwrap();
    // Grafana's health check.
    let v = body(&s.post_form("/api/v1/query", "query=1%2B1&time=4").unwrap());
    assert_eq!(
        v,
        json!({"status": "success", "data": {"resultType": "scalar", "result": [4, "2"]}})
    );

    let t0 = (now_ms() / 1000 - 600) * 1000;
    let samples: Vec<(i64, f64)> = (0..10).map(|i| (t0 + i * 15_000, i as f64)).collect();
    let r = s
        .write_v1(&[
            TimeSeries::new(&[("__name__", "shape_g"), ("job", "a")], &samples),
            TimeSeries::new(
                &[("__name__", "shape_g"), ("job", "b")],
                &[(t0, f64::NAN), (t0 + 15_000, f64::INFINITY)],
            ),
        ])
        .unwrap();
    assert_eq!(r.status, 204, "{}", r.text());
    let at = (t0 + 135_000) / 1000;
    let v = body(
        &s.get(&format!("/api/v1/query?query=shape_g&time={at}"))
            .unwrap(),
    );
    assert_eq!(v["data"]["resultType"], "vector", "{v}");
    let mut result = v["data"]["result"].as_array().unwrap().clone();
    result.sort_by_key(|x| x["metric"]["job"].as_str().unwrap().to_string());
    assert_eq!(
        result,
        vec![
            json!({"metric": {"__name__": "shape_g", "job": "a"}, "value": [at, "9"]}),
            json!({"metric": {"__name__": "shape_g", "job": "b"}, "value": [at, "+Inf"]}),
        ]
    );
    let start = t0 / 1000;
    let v = body(
        &s.get(&format!(
            "/api/v1/query_range?query={}&start={start}&end={}&step=15s",
            urlencode("shape_g{job=\"a\"} * 2"),
            start + 30
        ))
        .unwrap(),
    );
    assert_eq!(
        v["data"],
        json!({"resultType": "matrix", "result": [{"metric": {"job": "a"},
            "values": [[start, "0"], [start + 15, "2"], [start + 30, "4"]]}]})
    );
    let v = body(
        &s.get(&format!(
            "/api/v1/query?query={}&time={at}",
            urlencode("shape_g[1m]")
        ))
        .unwrap(),
    );
    assert_eq!(v["data"]["resultType"], "matrix");
    let r = s
        .get(&format!(
            "/api/v1/query_range?query={}&start=1&end=2&step=1",
            urlencode("shape_g[1m]")
        ))
        .unwrap();
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(
        body(&r)["error"],
        "invalid parameter \"query\": invalid expression type \"range vector\" for range query, must be Scalar or instant Vector"
    );
    let r = s.get("/api/v1/query?query=rate(").unwrap();
    assert_eq!(r.status, 400);
    let v = body(&r);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid parameter \"query\": 1:"),
        "{v}"
    );
    let v = body(&s.get("/api/v1/query?query=1&time=1&stats=all").unwrap());
    assert!(
        v["data"]["stats"]["timings"]["execTotalTime"].is_number(),
        "{v}"
    );
    assert_eq!(s.terminate().unwrap().code(), Some(0));
}

#[test]
fn command_line() {
    let run = |args: &[&str]| {
        std::process::Command::new(bin())
            .args(args)
            .output()
            .unwrap()
    };
    let help = run(&["--help"]);
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("strata serve [--listen ADDR]"));
    let version = run(&["--version"]);
    assert!(version.status.success());
    assert!(String::from_utf8_lossy(&version.stdout).contains(env!("CARGO_PKG_VERSION")));
    let bad = run(&["serve", "--bogus"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--bogus"));
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.yml");
    std::fs::write(&cfg, "query:\n  timeout: soon\n").unwrap();
    let bad = run(&["serve", "--config", cfg.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("query.timeout"));
    // A listen address that cannot be bound is a clean startup failure.
    let bad = run(&[
        "serve",
        "--listen",
        "256.0.0.1:1",
        "--data-dir",
        dir.path().join("d").to_str().unwrap(),
    ]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("listen on 256.0.0.1:1"));
}

#[test]
fn optional_auth() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("strata.yml");
    std::fs::write(
        &cfg,
        "auth:\n  bearer_token: s3cret\n  username: grafana\n  password: open sesame\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let s = Strata::start(bin(), &data, &["--config", cfg.to_str().unwrap()]).unwrap();
    let r = s.get("/api/v1/labels").unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some("Basic realm=\"strata\""));
    let bearer = [("Authorization", "Bearer s3cret")];
    assert_eq!(
        s.request("GET", "/api/v1/labels", &bearer, b"")
            .unwrap()
            .status,
        200
    );
    // base64("grafana:open sesame")
    let basic = [("Authorization", "Basic Z3JhZmFuYTpvcGVuIHNlc2FtZQ==")];
    assert_eq!(
        s.request("GET", "/metrics", &basic, b"").unwrap().status,
        200
    );
    // The scheme is case-insensitive, as senders vary.
    let lower = [("Authorization", "bearer s3cret")];
    assert_eq!(
        s.request("GET", "/api/v1/labels", &lower, b"")
            .unwrap()
            .status,
        200
    );
    let wrong = [("Authorization", "Bearer s3cre")];
    assert_eq!(
        s.request("GET", "/api/v1/labels", &wrong, b"")
            .unwrap()
            .status,
        401
    );
    assert_eq!(s.write_v1(&[]).unwrap().status, 401);
    // Probes stay open for orchestrators.
    assert_eq!(s.get("/-/healthy").unwrap().status, 200);
    assert_eq!(s.get("/-/ready").unwrap().status, 200);
    let body = strata_ingest::encode::snappy(&strata_ingest::encode::write_request_v1(&[
        TimeSeries::new(&[("__name__", "authed")], &[(now_ms(), 1.0)]),
    ]));
    let r = s
        .request(
            "POST",
            "/api/v1/write",
            &[
                ("Authorization", "Bearer s3cret"),
                ("Content-Type", "application/x-protobuf"),
                ("Content-Encoding", "snappy"),
            ],
            &body,
        )
        .unwrap();
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(s.terminate().unwrap().code(), Some(0));
}

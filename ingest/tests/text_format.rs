//! Text exposition format parsing, without storage.

use strata_engine::{Labels, Sample};
use strata_ingest::{parse_text, Error, Limits, ParsedText};

const NOW: i64 = 1_712_000_000_000;
const DEFAULT_TS: i64 = NOW - 5;

fn parse(body: &str) -> ParsedText {
    parse_text(body.as_bytes(), DEFAULT_TS, &Limits::default(), NOW)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn err(body: &str) -> (usize, String) {
    match parse_text(body.as_bytes(), DEFAULT_TS, &Limits::default(), NOW) {
        Err(e @ Error::Text { .. }) => {
            assert_eq!(e.status(), 400);
            let Error::Text { line, msg } = e else {
                unreachable!()
            };
            (line, msg)
        }
        other => panic!("expected a text error for {body:?}, got {other:?}"),
    }
}

fn find<'a>(p: &'a ParsedText, series: &str) -> &'a [Sample] {
    p.series
        .iter()
        .find(|(l, _)| l.to_string() == series)
        .map(|(_, s)| s.as_slice())
        .unwrap_or_else(|| {
            let all: Vec<String> = p.series.iter().map(|(l, _)| l.to_string()).collect();
            panic!("no series {series} in {all:?}")
        })
}

const EXAMPLE: &str = r#"# HELP jobs_processed_total Jobs finished by the worker pool.
# TYPE jobs_processed_total counter
jobs_processed_total{pool="a",result="ok"} 5120 1712000000000
jobs_processed_total{pool="a",result="error"} 7 1712000000000
# A plain comment line is ignored.
build_path_info{path="D:\\builds\\x",note="line1\nline2 \"quoted\""} 1
temperature_celsius -3.5
ratio_undefined NaN
# TYPE job_duration_seconds histogram
job_duration_seconds_bucket{le="0.5"} 310
job_duration_seconds_bucket{le="2"} 498
job_duration_seconds_bucket{le="+Inf"} 512
job_duration_seconds_sum 301.7
job_duration_seconds_count 512
"#;

#[test]
fn reference_example() {
    let p = parse(EXAMPLE);
    assert_eq!(p.series.len(), 10);
    assert!(p.problems.is_empty());
    assert_eq!(
        find(&p, r#"jobs_processed_total{pool="a", result="ok"}"#),
        &[Sample::new(1_712_000_000_000, 5120.0)]
    );
    let (l, s) = &p.series[2];
    assert_eq!(l.get("path"), Some(r"D:\builds\x"));
    assert_eq!(l.get("note"), Some("line1\nline2 \"quoted\""));
    assert_eq!(s, &[Sample::new(DEFAULT_TS, 1.0)]);
    assert_eq!(find(&p, "temperature_celsius")[0].v, -3.5);
    assert!(find(&p, "ratio_undefined")[0].v.is_nan());
    // `le` normalised as Prometheus 3 does; +Inf bucket present.
    find(&p, r#"job_duration_seconds_bucket{le="0.5"}"#);
    find(&p, r#"job_duration_seconds_bucket{le="2.0"}"#);
    assert_eq!(
        find(&p, r#"job_duration_seconds_bucket{le="+Inf"}"#),
        &[Sample::new(DEFAULT_TS, 512.0)]
    );
    assert_eq!(find(&p, "job_duration_seconds_count")[0].v, 512.0);
}

#[test]
fn special_values_and_whitespace() {
    let p = parse("a +Inf\nb -Inf\nc\t NaN \t 17\n  d 1e3   \ne Inf\n\n\n");
    assert_eq!(find(&p, "a")[0].v, f64::INFINITY);
    assert_eq!(find(&p, "b")[0].v, f64::NEG_INFINITY);
    let c = find(&p, "c")[0];
    assert!(c.v.is_nan());
    assert_eq!(c.t, 17);
    assert_eq!(find(&p, "d")[0], Sample::new(DEFAULT_TS, 1000.0));
    assert_eq!(find(&p, "e")[0].v, f64::INFINITY);
}

#[test]
fn timestamps_may_be_negative_and_series_repeat() {
    let p = parse("m{a=\"1\"} 1 -1000\nm{a=\"1\"} 2 0\nm{a=\"1\"} 3\n");
    assert_eq!(p.series.len(), 1);
    assert_eq!(
        p.series[0].1,
        vec![
            Sample::new(-1000, 1.0),
            Sample::new(0, 2.0),
            Sample::new(DEFAULT_TS, 3.0)
        ]
    );
}

#[test]
fn labels_trailing_comma_empty_values_and_spaces() {
    let p = parse("m{ b = \"2\" , a=\"1\", c=\"\", } 1\nn{} 2\n");
    let want = Labels::from_pairs(&[("__name__", "m"), ("a", "1"), ("b", "2")]).unwrap();
    assert_eq!(p.series[0].0, want);
    assert_eq!(find(&p, "n")[0].v, 2.0);
}

#[test]
fn summary_quantiles_are_normalised() {
    let p = parse(
        "# TYPE rpc summary\nrpc{quantile=\"0.5\"} 1\nrpc{quantile=\"1\"} 2\nrpc_sum 3\nrpc_count 4\n",
    );
    find(&p, r#"rpc{quantile="0.5"}"#);
    find(&p, r#"rpc{quantile="1.0"}"#);
    // Outside a histogram family `le` is kept verbatim.
    let p = parse("# TYPE g gauge\ng{le=\"1\"} 1\n");
    find(&p, r#"g{le="1"}"#);
}

#[test]
fn openmetrics_eof_and_second_timestamps() {
    let p = parse(
        "# TYPE jobs counter\n# UNIT jobs seconds\njobs_total{pool=\"a\"} 5127.0 1712000000.25\n\
         jobs_created{pool=\"a\"} 1711990000.0\n\
         x_bucket{le=\"+Inf\"} 512 # {trace_id=\"7f3a\"} 0.41 1712000000.2\n# EOF\n",
    );
    assert_eq!(
        find(&p, r#"jobs_total{pool="a"}"#),
        &[Sample::new(1_712_000_000_250, 5127.0)]
    );
    assert_eq!(find(&p, r#"jobs_created{pool="a"}"#)[0].v, 1711990000.0);
    assert_eq!(find(&p, r#"x_bucket{le="+Inf"}"#)[0].t, DEFAULT_TS);
    let (line, msg) = err("a 1\n# EOF\nb 2\n# EOF\n");
    assert_eq!(line, 3);
    assert!(msg.contains("after \"# EOF\""), "{msg}");
}

#[test]
fn future_samples_are_reported_not_fatal() {
    let body = format!("m 1 {}\nm 2 {}\nn 3\n", NOW, NOW + 11 * 60_000);
    let p = parse(&body);
    assert_eq!(p.samples_rejected, 1);
    assert_eq!(find(&p, "m"), &[Sample::new(NOW, 1.0)]);
    assert!(p.problems[0].starts_with("line 2:"), "{:?}", p.problems);
    assert!(p.problems[0].contains("too far in the future"));
}

#[test]
fn malformed_lines_report_their_line_number() {
    let cases: &[(&str, usize, &str)] = &[
        ("ok 1\nbad{a=\"1\" 2\n", 2, "expected ',' or '}'"),
        ("ok 1\n\n# c\nm{a=1} 2\n", 4, "expected '\"'"),
        ("m 1\nm{a=\"open} 1\n", 2, "unterminated"),
        ("m notanumber\n", 1, "invalid value"),
        ("m\n", 1, "missing value"),
        ("m 1 1.5\n", 1, "invalid timestamp"),
        ("m 1 2 3\n", 1, "unexpected text"),
        ("9m 1\n", 1, "invalid metric name"),
        ("m{9a=\"x\"} 1\n", 1, "invalid label name"),
        ("m{a=\"1\",a=\"2\"} 1\n", 1, "duplicate label name"),
        ("m{a\"1\"} 1\n", 1, "expected '='"),
        ("m{a=\"1\"}1\n", 1, "unexpected character"),
        ("# TYPE m bogus\nm 1\n", 1, "unknown metric type"),
        ("# TYPE\n", 1, "without a metric name"),
        ("# HELP 9bad text\n", 1, "invalid metric name"),
        ("{a=\"b\"} 1\n", 1, "missing metric name"),
    ];
    for &(body, line, want) in cases {
        let (l, msg) = err(body);
        assert_eq!(l, line, "{body:?}: {msg}");
        assert!(msg.contains(want), "{body:?}: {msg:?} lacks {want:?}");
    }
}

#[test]
fn limits_apply() {
    let limits = Limits {
        max_labels_per_series: 2,
        max_decoded_bytes: 64,
        ..Limits::default()
    };
    let e = parse_text(b"m{a=\"1\",b=\"2\"} 1\n", 0, &limits, NOW).unwrap_err();
    assert!(matches!(e, Error::Text { line: 1, ref msg } if msg.contains("more than 2 labels")));
    let big = vec![b'#'; 65];
    let e = parse_text(&big, 0, &limits, NOW).unwrap_err();
    assert_eq!(e.status(), 413);
}

#[test]
fn crlf_line_endings_are_tolerated() {
    let p = parse("# TYPE m gauge\r\nm 1\r\n");
    assert_eq!(find(&p, "m")[0].v, 1.0);
}

#[test]
fn metadata_from_type_help_unit() {
    let p = parse(
        "# HELP rpc_seconds Latency \\\\ of \\n calls.\n# TYPE rpc_seconds histogram\n\
         # UNIT rpc_seconds seconds\nrpc_seconds_count 1\n# TYPE up gauge\nup 1\n",
    );
    assert_eq!(p.metadata.len(), 2);
    let m = &p.metadata[0];
    assert_eq!(m.metric_family_name, "rpc_seconds");
    assert_eq!(m.metric_type.as_str(), "histogram");
    assert_eq!(m.help, "Latency \\ of \n calls.");
    assert_eq!(m.unit, "seconds");
    assert_eq!(p.metadata[1].metric_type.as_str(), "gauge");
    let p = parse(
        "# TYPE \"my.rpc\" summary\n# HELP \"my.rpc\" Dotted.\n{\"my.rpc\",quantile=\"1\"} 2\n",
    );
    assert_eq!(p.metadata[0].metric_family_name, "my.rpc");
    assert_eq!(p.metadata[0].help, "Dotted.");
    find(&p, r#"my.rpc{quantile="1.0"}"#);
}

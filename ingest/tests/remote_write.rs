//! Remote-write decoding and validation, without storage: round trips through the encoders,
//! every validation rule, and malformed input (which must be an `Err`, never a panic).

use strata_engine::{is_stale, stale_nan, Labels, Sample};
use strata_ingest::encode::{
    self, put_bytes, put_double, put_key, put_varint, put_varint_field, TimeSeries,
};
use strata_ingest::{decode, DecodedWrite, Error, Limits, Protocol};

const NOW: i64 = 1_712_000_000_000;

fn dec(proto: Protocol, raw: &[u8]) -> strata_ingest::Result<DecodedWrite> {
    decode(proto, &encode::snappy(raw), &Limits::default(), NOW)
}

fn ts(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
    TimeSeries::new(labels, samples)
}

/// A v1 `Label` message.
fn label_msg(name: &[u8], value: &[u8]) -> Vec<u8> {
    let mut m = Vec::new();
    put_bytes(&mut m, 1, name);
    put_bytes(&mut m, 2, value);
    m
}

/// A v1 `TimeSeries` from raw label bytes and samples.
fn v1_series(labels: &[(&[u8], &[u8])], samples: &[(i64, f64)]) -> Vec<u8> {
    let mut m = Vec::new();
    for (n, v) in labels {
        put_bytes(&mut m, 1, &label_msg(n, v));
    }
    for &(t, v) in samples {
        put_bytes(&mut m, 2, &encode::sample(t, v));
    }
    m
}

fn v1_request(series: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for s in series {
        put_bytes(&mut out, 1, s);
    }
    out
}

fn bits(s: &[Sample]) -> Vec<(i64, u64)> {
    s.iter().map(|x| (x.t, x.v.to_bits())).collect()
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs).unwrap()
}

fn special_samples() -> Vec<(i64, f64)> {
    vec![
        (NOW - 4000, 1.5),
        (NOW - 3000, f64::from_bits(0x7ff8_0000_0000_0001)), // Prometheus's NormalNaN
        (NOW - 2000, f64::INFINITY),
        (NOW - 1000, f64::NEG_INFINITY),
        (NOW, stale_nan()),
    ]
}

fn check_round_trip(proto: Protocol) {
    let input = vec![
        ts(
            &[("__name__", "up"), ("instance", "a:9100"), ("job", "node")],
            &special_samples(),
        ),
        ts(
            &[("__name__", "up"), ("job", "api")],
            &[(-5, 0.0), (0, -0.0)],
        ),
        // Samples out of time order inside one series are passed on in the order sent.
        ts(&[("__name__", "z")], &[(NOW, 2.0), (NOW - 10, 1.0)]),
    ];
    let raw = match proto {
        Protocol::V1 => encode::write_request_v1(&input),
        Protocol::V2 => encode::write_request_v2(&input),
    };
    let d = dec(proto, &raw).unwrap();
    assert!(d.summary.is_clean(), "{:?}", d.summary.problems);
    assert_eq!(d.series.len(), 3);
    assert_eq!(d.num_samples(), 9);
    for (got, want) in d.series.iter().zip(&input) {
        let pairs: Vec<(&str, &str)> = want
            .labels
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        assert_eq!(got.0, labels(&pairs));
        let want_bits: Vec<(i64, u64)> = want
            .samples
            .iter()
            .map(|&(t, v)| (t, v.to_bits()))
            .collect();
        assert_eq!(bits(&got.1), want_bits);
    }
    assert!(is_stale(d.series[0].1[4].v));
}

#[test]
fn v1_round_trip_is_bit_exact_and_ordered() {
    check_round_trip(Protocol::V1);
}

#[test]
fn v2_round_trip_is_bit_exact_and_ordered() {
    check_round_trip(Protocol::V2);
}

#[test]
fn empty_request_and_metadata_only_request_are_clean() {
    let d = dec(Protocol::V1, &[]).unwrap();
    assert!(d.summary.is_clean() && d.series.is_empty());
    // WriteRequest { metadata: [{ type: COUNTER, metric_family_name: "x", help: "h" }] }
    let mut md = Vec::new();
    put_varint_field(&mut md, 1, 1);
    put_bytes(&mut md, 2, b"x");
    put_bytes(&mut md, 4, b"h");
    let mut req = Vec::new();
    put_bytes(&mut req, 3, &md);
    let d = dec(Protocol::V1, &req).unwrap();
    assert!(d.summary.is_clean() && d.series.is_empty());
    let d = dec(Protocol::V2, &[]).unwrap();
    assert!(d.summary.is_clean() && d.series.is_empty());
}

#[test]
fn unknown_fields_are_skipped_at_every_level() {
    let mut lbl = label_msg(b"__name__", b"m");
    put_varint_field(&mut lbl, 9, 7);
    let mut smp = encode::sample(NOW, 3.0);
    put_key(&mut smp, 7, 5); // fixed32
    smp.extend_from_slice(&[1, 2, 3, 4]);
    let mut series = Vec::new();
    put_bytes(&mut series, 1, &lbl);
    put_bytes(&mut series, 2, &smp);
    put_double(&mut series, 11, 1.0);
    let mut req = Vec::new();
    put_bytes(&mut req, 2, b"reserved source field");
    put_bytes(&mut req, 1, &series);
    put_varint_field(&mut req, 99, u64::MAX);
    let d = dec(Protocol::V1, &req).unwrap();
    assert!(d.summary.is_clean(), "{:?}", d.summary.problems);
    assert_eq!(bits(&d.series[0].1), vec![(NOW, 3.0f64.to_bits())]);
}

#[test]
fn unsorted_labels_are_sorted_and_empty_values_dropped() {
    let raw = v1_request(&[v1_series(
        &[
            (b"zone", b"eu"),
            (b"env", b""),
            (b"__name__", b"m"),
            (b"a", b"1"),
        ],
        &[(NOW, 1.0)],
    )]);
    let d = dec(Protocol::V1, &raw).unwrap();
    assert!(d.summary.is_clean());
    assert_eq!(
        d.series[0].0,
        labels(&[("__name__", "m"), ("a", "1"), ("zone", "eu")])
    );
    assert_eq!(d.series[0].0.get("env"), None);
}

/// One invalid series among valid ones: the rest is kept, the reason reported.
fn check_rejected(bad: &[(&[u8], &[u8])], reason: &str) {
    let raw = v1_request(&[
        v1_series(&[(b"__name__", b"ok1")], &[(NOW, 1.0)]),
        v1_series(bad, &[(NOW, 1.0), (NOW + 1, 2.0)]),
        v1_series(&[(b"__name__", b"ok2")], &[(NOW, 1.0)]),
    ]);
    let d = dec(Protocol::V1, &raw).unwrap();
    let s = &d.summary;
    assert!(!s.is_clean());
    assert_eq!(s.series_rejected, 1, "{reason}");
    assert_eq!(s.samples_rejected, 2, "{reason}");
    assert_eq!(d.series.len(), 2, "{reason}");
    assert_eq!(d.series[1].0.metric_name(), Some("ok2"));
    assert_eq!(s.problems.len(), 1);
    assert!(
        s.problems[0].contains(reason),
        "{:?} lacks {reason:?}",
        s.problems
    );
}

#[test]
fn invalid_series_are_rejected_with_reasons() {
    check_rejected(
        &[(b"__name__", b"m"), (b"a", b"1"), (b"a", b"2")],
        "duplicate label name \"a\"",
    );
    check_rejected(&[(b"job", b"x")], "missing metric name");
    check_rejected(&[(b"__name__", b""), (b"job", b"x")], "missing metric name");
    check_rejected(&[(b"__name__", b"m"), (b"", b"x")], "empty label name");
    check_rejected(
        &[(b"__name__", b"m"), (b"b\xffd", b"x")],
        "invalid UTF-8 in label name",
    );
    check_rejected(
        &[(b"__name__", b"m"), (b"path", b"\xc3\x28")],
        "invalid UTF-8 in value of label \"path\"",
    );
    check_rejected(
        &[(b"__name__", b"m\xff")],
        "invalid UTF-8 in value of label \"__name__\"",
    );
    let long = vec![b'n'; 2000];
    check_rejected(
        &[(b"__name__", b"m"), (&long, b"x")],
        "label name of 2000 bytes",
    );
    let long = vec![b'v'; 5000];
    check_rejected(
        &[(b"__name__", b"m"), (b"q", &long)],
        "value of label \"q\" is 5000 bytes",
    );
}

#[test]
fn a_million_labels_are_rejected_without_collecting_them() {
    let lbl = label_msg(b"l", b"v");
    let mut series = Vec::with_capacity(1_000_000 * (lbl.len() + 2) + 64);
    put_bytes(&mut series, 1, &label_msg(b"__name__", b"big"));
    for _ in 0..1_000_000 {
        put_bytes(&mut series, 1, &lbl);
    }
    put_bytes(&mut series, 2, &encode::sample(NOW, 1.0));
    let raw = v1_request(&[series, v1_series(&[(b"__name__", b"ok")], &[(NOW, 1.0)])]);
    let d = dec(Protocol::V1, &raw).unwrap();
    assert_eq!(d.summary.series_rejected, 1);
    assert_eq!(d.series.len(), 1);
    let p = &d.summary.problems[0];
    assert!(
        p.contains("1000001 labels, more than the limit of 128"),
        "{p}"
    );
    assert!(p.len() < 400, "problem line is bounded: {} bytes", p.len());
}

#[test]
fn too_many_labels_v2() {
    let limits = Limits {
        max_labels_per_series: 3,
        ..Limits::default()
    };
    let input = [
        ts(
            &[("__name__", "m"), ("a", "1"), ("b", "2"), ("c", "3")],
            &[(NOW, 1.0)],
        ),
        ts(&[("__name__", "m"), ("a", "1"), ("b", "2")], &[(NOW, 1.0)]),
    ];
    let body = encode::snappy(&encode::write_request_v2(&input));
    let d = decode(Protocol::V2, &body, &limits, NOW).unwrap();
    assert_eq!(d.summary.series_rejected, 1);
    assert_eq!(d.series.len(), 1);
    assert!(d.summary.problems[0].contains("4 labels, more than the limit of 3"));
}

#[test]
fn future_timestamps_are_rejected_per_sample() {
    let input = [ts(
        &[("__name__", "m")],
        &[
            (NOW, 1.0),
            (NOW + 9 * 60_000, 2.0),
            (NOW + 11 * 60_000, 3.0),
        ],
    )];
    for proto in [Protocol::V1, Protocol::V2] {
        let raw = match proto {
            Protocol::V1 => encode::write_request_v1(&input),
            Protocol::V2 => encode::write_request_v2(&input),
        };
        let d = dec(proto, &raw).unwrap();
        assert_eq!(d.num_samples(), 2);
        assert_eq!(d.summary.samples_rejected, 1);
        assert_eq!(d.summary.series_rejected, 0);
        assert!(d.summary.problems[0].contains("too far in the future"));
        assert!(d.summary.problems[0].contains(&(NOW + 11 * 60_000).to_string()));
    }
}

/// A native histogram message with a few fields set (content is irrelevant: rejected).
fn histogram_msg() -> Vec<u8> {
    let mut h = Vec::new();
    put_varint_field(&mut h, 1, 5); // count_int
    put_double(&mut h, 3, 12.5); // sum
    put_varint_field(&mut h, 4, 2); // schema (sint32 zig-zag 1)
    put_varint_field(&mut h, 15, NOW as u64);
    h
}

#[test]
fn native_histograms_are_rejected_floats_kept_v1() {
    let mut mixed = v1_series(&[(b"__name__", b"floats")], &[(NOW, 1.0)]);
    put_bytes(&mut mixed, 4, &histogram_msg());
    let mut only_h = v1_series(&[(b"__name__", b"hist")], &[]);
    put_bytes(&mut only_h, 4, &histogram_msg());
    put_bytes(&mut only_h, 4, &histogram_msg());
    let d = dec(Protocol::V1, &v1_request(&[mixed, only_h])).unwrap();
    let s = &d.summary;
    assert_eq!(s.histograms_rejected, 3);
    assert_eq!(s.histograms_written, 0);
    assert!(!s.is_clean());
    assert_eq!(d.series.len(), 1);
    assert_eq!(d.series[0].0.metric_name(), Some("floats"));
    assert!(s
        .problems
        .iter()
        .all(|p| p.contains("native histograms are not supported")));
}

/// v2 request builder from raw symbols and per-series raw field bytes.
fn v2_request(symbols: &[&[u8]], series: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for s in symbols {
        put_bytes(&mut out, 4, s);
    }
    for s in series {
        put_bytes(&mut out, 5, s);
    }
    out
}

fn packed(refs: &[u32]) -> Vec<u8> {
    let mut p = Vec::new();
    for &r in refs {
        put_varint(&mut p, u64::from(r));
    }
    p
}

fn v2_series(refs: &[u32], samples: &[(i64, f64)]) -> Vec<u8> {
    let mut m = Vec::new();
    put_bytes(&mut m, 1, &packed(refs));
    for &(t, v) in samples {
        put_bytes(&mut m, 2, &encode::sample(t, v));
    }
    m
}

#[test]
fn native_histograms_are_rejected_floats_kept_v2() {
    let syms: [&[u8]; 3] = [b"", b"__name__", b"h"];
    let mut s = v2_series(&[1, 2], &[(NOW, 4.0)]);
    put_bytes(&mut s, 3, &histogram_msg());
    let d = dec(Protocol::V2, &v2_request(&syms, &[s])).unwrap();
    assert_eq!(d.summary.histograms_rejected, 1);
    assert_eq!(d.num_samples(), 1);
    assert!(d.summary.problems[0].contains("native histograms are not supported"));
}

#[test]
fn v2_unpacked_refs_metadata_exemplars_and_created_timestamp() {
    let syms: [&[u8]; 5] = [b"", b"__name__", b"m", b"trace_id", b"abc"];
    let mut s = Vec::new();
    for r in [1u64, 2] {
        put_varint_field(&mut s, 1, r); // unpacked labels_refs
    }
    put_bytes(&mut s, 2, &encode::sample(NOW, 7.0));
    let mut ex = Vec::new();
    put_bytes(&mut ex, 1, &packed(&[3, 4]));
    put_double(&mut ex, 2, 1.0);
    put_varint_field(&mut ex, 3, NOW as u64);
    put_bytes(&mut s, 4, &ex);
    let mut md = Vec::new();
    put_varint_field(&mut md, 1, 2);
    put_varint_field(&mut md, 3, 0);
    put_bytes(&mut s, 5, &md);
    put_varint_field(&mut s, 6, (NOW - 100_000) as u64);
    let d = dec(Protocol::V2, &v2_request(&syms, &[s])).unwrap();
    assert!(d.summary.is_clean(), "{:?}", d.summary.problems);
    assert_eq!(d.summary.exemplars_written, 1);
    assert_eq!(d.series[0].0, labels(&[("__name__", "m")]));
}

#[test]
fn v2_bad_refs_reject_the_series() {
    let syms: [&[u8]; 3] = [b"", b"__name__", b"m"];
    let good = v2_series(&[1, 2], &[(NOW, 1.0)]);
    let out_of_range = v2_series(&[1, 3], &[(NOW, 1.0)]);
    let huge = v2_series(&[u32::MAX, 2], &[(NOW, 1.0)]);
    let odd = v2_series(&[1, 2, 1], &[(NOW, 1.0)]);
    let d = dec(
        Protocol::V2,
        &v2_request(&syms, &[good, out_of_range, huge, odd]),
    )
    .unwrap();
    assert_eq!(d.series.len(), 1);
    assert_eq!(d.summary.series_rejected, 3);
    let p = &d.summary.problems;
    assert!(
        p[0].contains("label ref 3 outside of the symbols table (size 3)"),
        "{p:?}"
    );
    assert!(
        p[1].contains(&format!("label ref {} outside", u32::MAX)),
        "{p:?}"
    );
    assert!(p[2].contains("odd number (3) of labels_refs"), "{p:?}");
}

#[test]
fn v2_bad_exemplar_refs_drop_the_exemplar_only() {
    let syms: [&[u8]; 3] = [b"", b"__name__", b"m"];
    let mut s = v2_series(&[1, 2], &[(NOW, 1.0)]);
    let mut ex = Vec::new();
    put_bytes(&mut ex, 1, &packed(&[1, 9]));
    put_bytes(&mut s, 4, &ex);
    let d = dec(Protocol::V2, &v2_request(&syms, &[s])).unwrap();
    assert_eq!(d.num_samples(), 1);
    assert_eq!(d.summary.exemplars_written, 0);
    assert!(d.summary.problems[0].contains("exemplar label ref 9 outside"));
}

#[test]
fn v2_first_symbol_must_be_empty() {
    let syms: [&[u8]; 2] = [b"__name__", b"m"];
    let e = dec(
        Protocol::V2,
        &v2_request(&syms, &[v2_series(&[0, 1], &[(NOW, 1.0)])]),
    )
    .unwrap_err();
    assert!(
        matches!(e, Error::Protobuf(ref m) if m.contains("symbols[0]")),
        "{e}"
    );
    assert_eq!(e.status(), 400);
}

#[test]
fn v2_body_read_as_v1_is_empty_and_v1_body_read_as_v2_has_no_series() {
    // The reason negotiation must use Content-Type: v2 fields 4/5 are unknown to v1.
    let raw = encode::write_request_v2(&[ts(&[("__name__", "m")], &[(NOW, 1.0)])]);
    let d = dec(Protocol::V1, &raw).unwrap();
    assert!(d.series.is_empty());
}

#[test]
fn problems_are_capped() {
    let bad: Vec<Vec<u8>> = (0..100)
        .map(|_| v1_series(&[(b"job", b"x")], &[(NOW, 1.0)]))
        .collect();
    let d = dec(Protocol::V1, &v1_request(&bad)).unwrap();
    assert_eq!(d.summary.series_rejected, 100);
    assert_eq!(d.summary.problems.len(), 11);
    assert_eq!(d.summary.problems[10], "... and 90 more problems");
}

#[test]
fn snappy_header_claiming_4_gib_is_refused_before_allocating() {
    for claimed in [u64::from(u32::MAX), 1 << 32, u64::MAX] {
        let mut body = Vec::new();
        put_varint(&mut body, claimed);
        body.extend_from_slice(&[0x00, 0x01, 0x02]);
        let e = decode(Protocol::V1, &body, &Limits::default(), NOW).unwrap_err();
        assert!(
            matches!(e, Error::BodyTooLarge { .. } | Error::Snappy(_)),
            "{claimed}: {e}"
        );
        assert!(e.status() == 413 || e.status() == 400);
    }
    let mut body = Vec::new();
    put_varint(&mut body, u64::from(u32::MAX));
    let e = decode(Protocol::V1, &body, &Limits::default(), NOW).unwrap_err();
    assert!(
        matches!(
            e,
            Error::BodyTooLarge {
                what: "decoded body",
                size: 4294967295,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(e.status(), 413);
}

#[test]
fn compressed_body_over_the_limit_is_413() {
    let limits = Limits {
        max_body_bytes: 10,
        ..Limits::default()
    };
    let e = decode(Protocol::V1, &[0u8; 11], &limits, NOW).unwrap_err();
    assert!(matches!(
        e,
        Error::BodyTooLarge {
            what: "request body",
            ..
        }
    ));
    assert_eq!(e.status(), 413);
}

#[test]
fn framed_snappy_is_rejected() {
    use std::io::Write;
    let raw = encode::write_request_v1(&[ts(&[("__name__", "m")], &[(NOW, 1.0)])]);
    let mut w = snap::write::FrameEncoder::new(Vec::new());
    w.write_all(&raw).unwrap();
    let framed = w.into_inner().unwrap();
    let e = decode(Protocol::V1, &framed, &Limits::default(), NOW).unwrap_err();
    assert!(
        matches!(e, Error::Snappy(ref m) if m.contains("framed")),
        "{e}"
    );
    assert_eq!(e.status(), 400);
}

#[test]
fn garbage_and_empty_bodies_are_errors() {
    let e = decode(Protocol::V1, &[], &Limits::default(), NOW).unwrap_err();
    assert!(matches!(e, Error::Snappy(_)), "{e}");
    // Valid snappy, invalid protobuf: field 0, group wire types, bad lengths.
    for raw in [
        &[0x00u8][..],
        &[0x0b, 0x0c],
        &[0x0a, 0x05, 0x01],
        &[
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        ],
        b"hello world, this is not protobuf",
    ] {
        for proto in [Protocol::V1, Protocol::V2] {
            let e = dec(proto, raw).unwrap_err();
            assert!(matches!(e, Error::Protobuf(_)), "{raw:?}: {e}");
            assert_eq!(e.status(), 400);
        }
    }
    // Not snappy at all.
    let e = decode(Protocol::V1, &[0x05, 0xff, 0xff], &Limits::default(), NOW).unwrap_err();
    assert!(matches!(e, Error::Snappy(_)), "{e}");
}

#[test]
fn wrong_wire_type_for_known_field_is_an_error() {
    let mut req = Vec::new();
    put_varint_field(&mut req, 1, 3); // timeseries as a varint
    let e = dec(Protocol::V1, &req).unwrap_err();
    assert!(e.to_string().contains("wire type"), "{e}");
    // Sample.value as a varint instead of a double.
    let mut smp = Vec::new();
    put_varint_field(&mut smp, 1, 3);
    let mut series = label_msg(b"__name__", b"m");
    series = {
        let mut s = Vec::new();
        put_bytes(&mut s, 1, &series);
        put_bytes(&mut s, 2, &smp);
        s
    };
    let e = dec(Protocol::V1, &v1_request(&[series])).unwrap_err();
    assert!(matches!(e, Error::Protobuf(_)));
}

#[test]
fn every_truncation_is_an_error() {
    let input = [ts(
        &[("__name__", "up"), ("job", "api")],
        &[(NOW, 1.0), (NOW + 15_000, 2.0)],
    )];
    for (proto, raw) in [
        (Protocol::V1, encode::write_request_v1(&input)),
        // v2 with a single top-level field: symbols are part of it... so build one with the
        // series first and check prefixes that cut inside the series message.
        (Protocol::V2, encode::write_request_v2(&input)),
    ] {
        assert!(dec(proto, &raw).unwrap().summary.is_clean());
        // v1 has one top-level field; any strict non-empty prefix cuts it.
        let series_start = match proto {
            Protocol::V1 => 1,
            Protocol::V2 => raw.len() - 30,
        };
        for cut in series_start..raw.len() {
            let r = dec(proto, &raw[..cut]);
            assert!(
                r.is_err(),
                "{proto:?} prefix of {cut}/{} decoded",
                raw.len()
            );
        }
        // Truncated snappy streams fail in the snappy layer.
        let body = encode::snappy(&raw);
        for cut in 1..body.len() {
            let r = decode(proto, &body[..cut], &Limits::default(), NOW);
            assert!(r.is_err(), "compressed prefix {cut}");
        }
    }
}

#[test]
fn arbitrary_bytes_never_panic() {
    // A deterministic sweep of mutations of a valid request (the fuzz targets go further).
    let raw = encode::write_request_v1(&[ts(&[("__name__", "up"), ("job", "api")], &[(NOW, 1.0)])]);
    for i in 0..raw.len() {
        for b in [0x00u8, 0x01, 0x7f, 0x80, 0xff] {
            let mut m = raw.clone();
            m[i] = b;
            let _ = dec(Protocol::V1, &m);
            let _ = dec(Protocol::V2, &m);
        }
    }
}

#[test]
fn v1_metadata_is_collected() {
    let mut req = Vec::new();
    for (t, name, help, unit) in [
        (1u64, "http_requests_total", "Requests.", ""),
        (3, "rpc_seconds", "Latency.", "seconds"),
    ] {
        let mut md = Vec::new();
        put_varint_field(&mut md, 1, t);
        put_bytes(&mut md, 2, name.as_bytes());
        put_bytes(&mut md, 4, help.as_bytes());
        put_bytes(&mut md, 5, unit.as_bytes());
        put_bytes(&mut req, 3, &md);
    }
    // Invalid UTF-8 in help: skipped, not an error.
    let mut md = Vec::new();
    put_bytes(&mut md, 2, b"bad");
    put_bytes(&mut md, 4, b"\xff");
    put_bytes(&mut req, 3, &md);
    let d = dec(Protocol::V1, &req).unwrap();
    assert!(d.summary.is_clean());
    let m = &d.summary.metadata;
    assert_eq!(m.len(), 2);
    assert_eq!(m[0].metric_family_name, "http_requests_total");
    assert_eq!(m[0].metric_type.as_str(), "counter");
    assert_eq!(m[1].unit, "seconds");
    assert_eq!(m[1].metric_type.as_str(), "histogram");
}

#[test]
fn v2_metadata_is_collected_per_family() {
    let syms: [&[u8]; 6] = [
        b"",
        b"__name__",
        b"rpc_seconds_bucket",
        b"le",
        b"1",
        b"Latency.",
    ];
    let mut series = Vec::new();
    for _ in 0..3 {
        let mut s = v2_series(&[1, 2, 3, 4], &[(NOW, 1.0)]);
        let mut md = Vec::new();
        put_varint_field(&mut md, 1, 3); // histogram
        put_varint_field(&mut md, 3, 5); // help_ref
        put_bytes(&mut s, 5, &md);
        series.push(s);
    }
    let d = dec(Protocol::V2, &v2_request(&syms, &series)).unwrap();
    assert!(d.summary.is_clean(), "{:?}", d.summary.problems);
    let m = &d.summary.metadata;
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].metric_family_name, "rpc_seconds");
    assert_eq!(m[0].help, "Latency.");
}

#[test]
fn v2_series_without_samples_is_accepted() {
    // The v2 proto allows a series with only metadata or exemplars.
    let syms: [&[u8]; 3] = [b"", b"__name__", b"m"];
    let d = dec(
        Protocol::V2,
        &v2_request(
            &syms,
            &[v2_series(&[1, 2], &[]), v2_series(&[1, 2], &[(NOW, 1.0)])],
        ),
    )
    .unwrap();
    assert!(d.summary.is_clean(), "{:?}", d.summary.problems);
    assert_eq!(d.series.len(), 1);
    assert_eq!(d.num_samples(), 1);
}

/// Bytes written by hand from the protobuf encoding rules (independent of `encode`), so that
/// the encoder and the decoder cannot share a misreading of the wire format.
#[test]
fn wire_bytes_match_the_protobuf_encoding_rules() {
    let name = b"__name__";
    // Sample { value = 1.0 (field 1, I64), timestamp = 1000 (field 2, varint e8 07) }.
    let sample: Vec<u8> = [&[0x09][..], &1.0f64.to_le_bytes(), &[0x10, 0xe8, 0x07]].concat();
    assert_eq!(sample.len(), 12);
    // v1: Label { name = 1, value = 2 } inside TimeSeries field 1, Sample in field 2.
    let label: Vec<u8> = [&[0x0a, 0x08][..], name, &[0x12, 0x02], b"up"].concat();
    let series: Vec<u8> = [&[0x0a, 14][..], &label, &[0x12, 12], &sample].concat();
    let v1: Vec<u8> = [&[0x0a, 30][..], &series].concat();
    let ts = ts(&[("__name__", "up")], &[(1000, 1.0)]);
    assert_eq!(encode::write_request_v1(std::slice::from_ref(&ts)), v1);
    let d = dec(Protocol::V1, &v1).unwrap();
    assert_eq!(d.series[0].0, labels(&[("__name__", "up")]));
    assert_eq!(d.series[0].1, vec![Sample::new(1000, 1.0)]);
    // v2: symbols (field 4) "", "__name__", "up"; TimeSeries (field 5) with packed
    // labels_refs [1, 2] (field 1) and the same sample (field 2).
    let v2: Vec<u8> = [
        &[0x22, 0x00, 0x22, 0x08][..],
        name,
        &[0x22, 0x02],
        b"up",
        &[0x2a, 18, 0x0a, 0x02, 0x01, 0x02, 0x12, 12],
        &sample,
    ]
    .concat();
    assert_eq!(encode::write_request_v2(std::slice::from_ref(&ts)), v2);
    let d = dec(Protocol::V2, &v2).unwrap();
    assert_eq!(d.series[0].0, labels(&[("__name__", "up")]));
    assert_eq!(d.series[0].1, vec![Sample::new(1000, 1.0)]);
    // A negative timestamp is a 10-byte two's-complement varint, not zig-zag.
    let neg = encode::sample(-1, 0.0);
    assert_eq!(
        &neg[9..],
        &[0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
    );
}

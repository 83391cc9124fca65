//! `write` resolves series from borrowed label pairs (`Db::resolve`) instead of building a
//! `Labels` per series. These tests pin it to the owned path, `decode` + `Db::append`: same
//! summary, same stored series and samples, for clean and for partly invalid requests, and
//! series it creates survive a restart.

use strata_engine::{Db, Labels, MatchOp, Matcher, Options};
use strata_ingest::encode::{self, TimeSeries};
use strata_ingest::{decode, write, Limits, Protocol, WriteSummary};

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn open(dir: &std::path::Path) -> Db {
    Db::open(dir, Options::default()).unwrap()
}

/// Every series with its samples as (t, value bits), sorted by labels.
fn contents(db: &Db) -> Vec<(Labels, Vec<(i64, u64)>)> {
    db.querier(i64::MIN, i64::MAX)
        .select(&[Matcher::new(MatchOp::Regex, "__name__", ".+").unwrap()])
        .unwrap()
        .into_iter()
        .map(|s| {
            let v = s.samples().iter().map(|x| (x.t, x.v.to_bits())).collect();
            (s.labels.clone(), v)
        })
        .collect()
}

/// What the owned path reports for `body`: the decode summary plus the append report.
fn owned_write(db: &Db, proto: Protocol, body: &[u8]) -> WriteSummary {
    let (batch, mut summary) = decode(proto, body, &Limits::default(), now())
        .unwrap()
        .into_batch();
    if !batch.is_empty() {
        let r = db.append(&batch).unwrap();
        summary.samples_written = r.appended + r.duplicates;
        summary.samples_rejected += r.rejected();
        summary.append = r;
    }
    summary
}

fn same_summary(a: &WriteSummary, b: &WriteSummary, what: &str) {
    let key = |s: &WriteSummary| {
        (
            s.samples_written,
            s.series_rejected,
            s.samples_rejected,
            s.histograms_rejected,
            s.exemplars_written,
            s.append.appended,
            s.append.duplicates,
            s.append.new_series,
            s.append.out_of_order,
            s.append.duplicate_timestamp,
        )
    };
    assert_eq!(key(a), key(b), "{what}");
}

/// A raw v1 body: series of (labels as bytes, samples, histogram count).
type RawSeries<'a> = (Vec<(&'a [u8], &'a [u8])>, Vec<(i64, f64)>, usize);

fn raw_v1(series: &[RawSeries<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for (labels, samples, histograms) in series {
        let mut ts = Vec::new();
        for (n, v) in labels {
            let mut l = Vec::new();
            encode::put_bytes(&mut l, 1, n);
            encode::put_bytes(&mut l, 2, v);
            encode::put_bytes(&mut ts, 1, &l);
        }
        for &(t, v) in samples {
            encode::put_bytes(&mut ts, 2, &encode::sample(t, v));
        }
        for _ in 0..*histograms {
            encode::put_bytes(&mut ts, 4, &[]);
        }
        encode::put_bytes(&mut out, 1, &ts);
    }
    encode::snappy(&out)
}

fn fleet(t: i64, n: usize) -> Vec<TimeSeries> {
    (0..n)
        .map(|i| {
            let i = i.to_string();
            TimeSeries::new(
                &[
                    ("__name__", "http_requests_total"),
                    ("job", "api"),
                    ("instance", &i),
                    ("route", if i.len() % 2 == 0 { "/a" } else { "/b" }),
                    ("empty", ""),
                ],
                &[(t, i.len() as f64), (t + 15_000, 2.0)],
            )
        })
        .collect()
}

#[test]
fn borrowed_write_equals_decode_and_append() {
    let t = now() - 600_000;
    let far = now() + 3_600_000;
    let v1 = |s: &[TimeSeries]| encode::snappy(&encode::write_request_v1(s));
    let v2 = |s: &[TimeSeries]| encode::snappy(&encode::write_request_v2(s));
    // Requests in order: new series, the same series again (existing, plus retries, out of
    // order and duplicate timestamps), and partly invalid requests.
    let mut requests: Vec<(Protocol, Vec<u8>)> = Vec::new();
    for (proto, enc) in [
        (Protocol::V1, v1 as fn(&[TimeSeries]) -> Vec<u8>),
        (Protocol::V2, v2),
    ] {
        requests.push((proto, enc(&fleet(t, 50))));
        requests.push((proto, enc(&fleet(t + 30_000, 60))));
        let mut mixed = fleet(t + 15_000, 3);
        mixed.push(TimeSeries::new(
            &[("job", "api"), ("__name__", "unsorted")],
            &[(t, 1.0), (far, 2.0)],
        ));
        mixed.push(TimeSeries::new(&[("job", "no name")], &[(t, 1.0)]));
        mixed.push(TimeSeries::new(
            &[("__name__", "dup"), ("a", "1"), ("a", "2")],
            &[(t, 1.0)],
        ));
        mixed.push(TimeSeries::new(&[("__name__", "nosamples")], &[]));
        requests.push((proto, enc(&mixed)));
    }
    requests.push((
        Protocol::V1,
        raw_v1(&[
            (
                vec![(b"__name__", b"bad"), (b"a", b"\xff")],
                vec![(t, 1.0)],
                0,
            ),
            (
                vec![(b"__name__", b"bad"), (b"\xc3", b"1")],
                vec![(t, 1.0)],
                0,
            ),
            // An empty value is dropped before its name is checked, as `Labels` does.
            (
                vec![(b"__name__", b"ok"), (b"\xc3", b"")],
                vec![(t, 1.0)],
                0,
            ),
            (
                vec![(b"__name__", b"hist"), (b"b", b"2")],
                vec![(t, 5.0)],
                2,
            ),
            (vec![(b"__name__", b"hist"), (b"b", b"3")], vec![], 1),
        ]),
    ));

    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (borrowed, owned) = (open(da.path()), open(db.path()));
    let (mut series_rejected, mut append_rejected, mut histograms) = (0, 0, 0);
    for (i, (proto, body)) in requests.iter().enumerate() {
        let a = write(&borrowed, *proto, body, &Limits::default()).unwrap();
        let b = owned_write(&owned, *proto, body);
        same_summary(&a, &b, &format!("request {i}"));
        series_rejected += a.series_rejected;
        append_rejected += a.append.rejected();
        histograms += a.histograms_rejected;
        if a.append.rejected() == 0 {
            assert_eq!(a.problems, b.problems, "request {i}");
        }
        assert_eq!(contents(&borrowed), contents(&owned), "after request {i}");
    }
    assert_eq!(borrowed.stats().series, owned.stats().series);
    // The requests did exercise every kind of problem.
    assert_eq!((series_rejected, histograms), (2 * 2 + 2, 3));
    assert!(append_rejected > 0);
    assert!(contents(&borrowed)
        .iter()
        .any(|(l, _)| l.metric_name() == Some("ok")));

    // Series created through the borrowed path come back after a restart, and the next
    // request resolves them instead of creating them again.
    let before = contents(&borrowed);
    borrowed.close().unwrap();
    let reopened = open(da.path());
    assert_eq!(contents(&reopened), before);
    let s = write(
        &reopened,
        Protocol::V1,
        &v1(&fleet(t + 60_000, 60)),
        &Limits::default(),
    )
    .unwrap();
    assert!(s.is_clean(), "{:?}", s.problems);
    assert_eq!((s.append.appended, s.append.new_series), (120, 0));
    assert_eq!(reopened.stats().series, owned.stats().series);
}

//! `write` and `import_text` against a real `Db` in a temporary directory.

use strata_engine::{stale_nan, Db, Matcher, Options, Sample};
use strata_ingest::encode::{self, TimeSeries};
use strata_ingest::{import_text, write, Error, Limits, Protocol};

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn open() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    (dir, db)
}

fn samples(db: &Db, name: &str) -> Vec<(i64, u64)> {
    let q = db.querier(i64::MIN, i64::MAX);
    let series = q.select(&[Matcher::equal("__name__", name)]).unwrap();
    assert!(series.len() <= 1, "{name}: {} series", series.len());
    series
        .first()
        .map(|s| s.samples().iter().map(|x| (x.t, x.v.to_bits())).collect())
        .unwrap_or_default()
}

fn body(proto: Protocol, series: &[TimeSeries]) -> Vec<u8> {
    encode::snappy(&match proto {
        Protocol::V1 => encode::write_request_v1(series),
        Protocol::V2 => encode::write_request_v2(series),
    })
}

#[test]
fn write_stores_samples_bit_exactly() {
    for proto in [Protocol::V1, Protocol::V2] {
        let (_dir, db) = open();
        let t = now() - 60_000;
        let input = [
            TimeSeries::new(
                &[("__name__", "up"), ("job", "a")],
                &[(t, 1.0), (t + 15_000, stale_nan()), (t + 30_000, f64::NAN)],
            ),
            TimeSeries::new(
                &[("job", "b"), ("__name__", "other")],
                &[(t, f64::INFINITY)],
            ),
        ];
        let s = write(&db, proto, &body(proto, &input), &Limits::default()).unwrap();
        assert!(s.is_clean(), "{:?}", s.problems);
        assert_eq!(s.samples_written, 4);
        assert_eq!(s.append.new_series, 2);
        assert_eq!(
            samples(&db, "up"),
            vec![
                (t, 1f64.to_bits()),
                (t + 15_000, stale_nan().to_bits()),
                (t + 30_000, f64::NAN.to_bits())
            ]
        );
        assert_eq!(samples(&db, "other"), vec![(t, f64::INFINITY.to_bits())]);
        // Retrying the newest sample of each series is an idempotent no-op. (Older samples of
        // a retried request are out of order for the engine: it compares with the last one.)
        let retry = [
            TimeSeries::new(
                &[("__name__", "up"), ("job", "a")],
                &[(t + 30_000, f64::NAN)],
            ),
            TimeSeries::new(
                &[("job", "b"), ("__name__", "other")],
                &[(t, f64::INFINITY)],
            ),
        ];
        let s = write(&db, proto, &body(proto, &retry), &Limits::default()).unwrap();
        assert!(s.is_clean(), "{:?}", s.problems);
        assert_eq!(s.append.duplicates, 2);
        assert_eq!(s.samples_written, 2);
    }
}

#[test]
fn out_of_order_and_duplicate_timestamps_are_reported() {
    let (_dir, db) = open();
    let t = now() - 60_000;
    let first = [TimeSeries::new(
        &[("__name__", "m"), ("i", "1")],
        &[(t, 1.0)],
    )];
    assert!(write(
        &db,
        Protocol::V1,
        &body(Protocol::V1, &first),
        &Limits::default()
    )
    .unwrap()
    .is_clean());
    let second = [
        TimeSeries::new(
            &[("__name__", "m"), ("i", "1")],
            &[(t - 1000, 5.0), (t, 2.0)],
        ),
        TimeSeries::new(&[("__name__", "ok")], &[(t, 1.0)]),
    ];
    let s = write(
        &db,
        Protocol::V1,
        &body(Protocol::V1, &second),
        &Limits::default(),
    )
    .unwrap();
    assert!(!s.is_clean());
    assert_eq!(s.samples_rejected, 2);
    assert_eq!(s.append.out_of_order, 1);
    assert_eq!(s.append.duplicate_timestamp, 1);
    assert_eq!(s.samples_written, 1);
    let p = s.problems.join("\n");
    assert!(p.contains("out of order sample"), "{p}");
    assert!(p.contains("m{i=\"1\"}"), "{p}");
    assert!(p.contains(&(t - 1000).to_string()), "{p}");
    assert_eq!(samples(&db, "ok").len(), 1);
}

#[test]
fn partial_write_keeps_valid_series() {
    let (_dir, db) = open();
    let t = now();
    let input = [
        TimeSeries::new(&[("job", "no-name")], &[(t, 1.0)]),
        TimeSeries::new(&[("__name__", "good")], &[(t, 1.0), (t + 3_600_000, 2.0)]),
    ];
    let s = write(
        &db,
        Protocol::V2,
        &body(Protocol::V2, &input),
        &Limits::default(),
    )
    .unwrap();
    assert!(!s.is_clean());
    assert_eq!(s.series_rejected, 1);
    assert_eq!(s.samples_rejected, 2);
    assert_eq!(s.samples_written, 1);
    assert_eq!(samples(&db, "good"), vec![(t, 1f64.to_bits())]);
}

#[test]
fn undecodable_bodies_store_nothing() {
    let (_dir, db) = open();
    let t = now();
    let raw = encode::write_request_v1(&[
        TimeSeries::new(&[("__name__", "a")], &[(t, 1.0)]),
        TimeSeries::new(&[("__name__", "b")], &[(t, 1.0)]),
    ]);
    let cut = encode::snappy(&raw[..raw.len() - 3]);
    let e = write(&db, Protocol::V1, &cut, &Limits::default()).unwrap_err();
    assert!(matches!(e, Error::Protobuf(_)), "{e}");
    assert!(samples(&db, "a").is_empty());
}

#[test]
fn import_text_stores_and_reports() {
    let (_dir, db) = open();
    let t = now() - 60_000;
    let text = format!(
        "# TYPE h histogram\nh_bucket{{le=\"1\"}} 3 {t}\nh_bucket{{le=\"+Inf\"}} 5 {t}\n\
         h_count 5 {t}\nm 1\nm 2 {}\n",
        t - 1
    );
    let s = import_text(&db, text.as_bytes(), t, &Limits::default()).unwrap();
    assert_eq!(s.series, 4);
    assert_eq!(s.samples_imported, 4, "{:?}", s.problems);
    // `m 2 t-1` comes after `m 1` at the default timestamp t: out of order.
    assert_eq!(s.append.out_of_order, 1);
    assert!(
        s.problems[0].contains("out of order sample"),
        "{:?}",
        s.problems
    );
    assert!(!s.is_clean());
    let q = db.querier(i64::MIN, i64::MAX);
    let le = q
        .select(&[
            Matcher::equal("__name__", "h_bucket"),
            Matcher::equal("le", "1.0"),
        ])
        .unwrap();
    assert_eq!(le.len(), 1);
    assert_eq!(le[0].samples(), vec![Sample::new(t, 3.0)]);
    // A syntax error stores nothing.
    let e = import_text(&db, b"x 1\ny{ 2\n", t + 1, &Limits::default()).unwrap_err();
    assert!(matches!(e, Error::Text { line: 2, .. }), "{e}");
    assert!(samples(&db, "x").is_empty());
}

//! Series limits and the age bound for new series, through `Db::append`, `Db::resolve` and
//! `Db::lookup` the way the ingest path uses them, across truncation and restarts.

use strata_engine::{Batch, Db, Error, Labels, Matcher, Options, RejectReason, Sample};

fn pod(i: usize) -> Labels {
    Labels::from_pairs(&[("__name__", "up"), ("pod", &format!("p{i}"))]).unwrap()
}

fn batch(pods: std::ops::Range<usize>, t: i64) -> Batch {
    let mut b = Batch::new();
    for i in pods {
        b.push(pod(i), vec![Sample::new(t, i as f64)]);
    }
    b
}

fn stored_pods(db: &Db) -> usize {
    db.querier(i64::MIN, i64::MAX)
        .select(&[Matcher::equal("__name__", "up")])
        .unwrap()
        .len()
}

#[test]
fn max_series_refuses_new_series_and_keeps_existing_ones_writable() {
    let dir = tempfile::tempdir().unwrap();
    let opts = || Options {
        max_series: Some(3),
        ..Options::default()
    };
    let db = Db::open(dir.path(), opts()).unwrap();
    let r = db.append(&batch(0..5, 1_000)).unwrap();
    assert_eq!((r.appended, r.series_limit, r.new_series), (3, 2, 3));
    let (why, labels, t) = r.first_rejection.clone().unwrap();
    assert_eq!((why, t), (RejectReason::SeriesLimit, 1_000));
    assert_eq!(labels, pod(3));
    assert_eq!(r.rejected(), 2);
    // Existing series keep receiving samples; new ones are still refused.
    let r = db.append(&batch(0..5, 2_000)).unwrap();
    assert_eq!((r.appended, r.series_limit), (3, 2));
    // resolve is refused with a typed error naming the series; lookup finds only existing.
    let err = db
        .resolve(&[("__name__", "up"), ("pod", "p4")])
        .unwrap_err();
    assert!(
        matches!(&err, Error::SeriesLimit { limit: 3, labels } if labels.contains("p4")),
        "{err}"
    );
    assert!(db.lookup(&[("__name__", "up"), ("pod", "p4")]).is_none());
    assert!(db.lookup(&[("pod", "p1"), ("__name__", "up")]).is_some());
    // By bytes: exactly the stored set, in name order.
    let raw = |v: &[(&'static str, &'static str)]| -> Vec<(&'static [u8], &'static [u8])> {
        v.iter()
            .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
            .collect()
    };
    let p1 = db.lookup(&[("__name__", "up"), ("pod", "p1")]).unwrap();
    let by_bytes = db
        .lookup_bytes(&raw(&[("__name__", "up"), ("pod", "p1")]))
        .unwrap();
    assert_eq!(by_bytes.series_ref(), p1.series_ref());
    assert!(db
        .lookup_bytes(&raw(&[("__name__", "up"), ("pod", "p4")]))
        .is_none());
    assert!(db
        .lookup_bytes(&raw(&[("pod", "p1"), ("__name__", "up")]))
        .is_none());
    assert!(db.lookup_bytes(&raw(&[("__name__", "up")])).is_none());
    assert_eq!(stored_pods(&db), 3);
    drop(db);
    // A restart with a lower limit keeps every accepted series (replay is not limited)...
    let db = Db::open(
        dir.path(),
        Options {
            max_series: Some(1),
            ..Options::default()
        },
    )
    .unwrap();
    assert_eq!(stored_pods(&db), 3);
    let r = db.append(&batch(0..4, 3_000)).unwrap();
    assert_eq!((r.appended, r.series_limit), (3, 1));
}

#[test]
fn churned_series_free_their_places() {
    let dir = tempfile::tempdir().unwrap();
    let hour = 3_600_000;
    let db = Db::open(
        dir.path(),
        Options {
            max_series: Some(2),
            background: false,
            ..Options::default()
        },
    )
    .unwrap();
    assert_eq!(db.append(&batch(0..2, 0)).unwrap().appended, 2);
    assert_eq!(db.append(&batch(2..3, 1)).unwrap().series_limit, 1);
    // Pod 1 stops; pod 0 goes on for four hours, so the head cut moves pod 1's data into a
    // block and truncation removes it from the head, freeing its place.
    for k in 1..=4 {
        assert_eq!(db.append(&batch(0..1, k * hour)).unwrap().appended, 1);
    }
    db.maintain().unwrap();
    let r = db.append(&batch(5..6, 4 * hour + 1)).unwrap();
    assert_eq!((r.appended, r.series_limit), (1, 0), "{r:?}");
}

#[test]
fn max_new_series_per_append_counts_resolved_and_labelled_series() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(
        dir.path(),
        Options {
            max_new_series_per_append: Some(2),
            ..Options::default()
        },
    )
    .unwrap();
    let r = db.append(&batch(0..5, 1_000)).unwrap();
    assert_eq!((r.appended, r.new_series_limit, r.new_series), (2, 3, 2));
    assert_eq!(
        r.first_rejection.as_ref().map(|f| f.0),
        Some(RejectReason::NewSeriesLimit)
    );
    // Next request: the two known series do not count, two more new ones fit.
    let r = db.append(&batch(0..5, 2_000)).unwrap();
    assert_eq!((r.appended, r.new_series_limit), (4, 1));
    // Handles from resolve count when their first samples arrive.
    let mut b = Batch::new();
    for i in 10..13 {
        let h = db
            .resolve(&[("__name__", "up"), ("pod", &format!("p{i}"))])
            .unwrap();
        b.push_series(h, &[Sample::new(3_000, 1.0)]);
    }
    let r = db.append(&b).unwrap();
    assert_eq!((r.appended, r.new_series_limit), (2, 1));
}

#[test]
fn new_series_may_not_start_far_before_the_head() {
    let dir = tempfile::tempdir().unwrap();
    let hour = 3_600_000;
    let now = 1_700_000_000_000;
    let db = Db::open(dir.path(), Options::default()).unwrap();
    // An empty head takes anything.
    assert_eq!(db.append(&batch(0..1, now)).unwrap().appended, 1);
    // Parallel senders' slightly older samples for new series are fine (within an hour of
    // the newest sample)...
    assert_eq!(db.append(&batch(1..2, now - hour / 2)).unwrap().appended, 1);
    // ...a new series' sample from long before the head is not (t = 0 would otherwise
    // stretch the head over decades).
    let r = db.append(&batch(2..3, 0)).unwrap();
    assert_eq!((r.appended, r.too_old), (0, 1));
    assert_eq!(
        r.first_rejection.as_ref().map(|f| f.0.as_str()),
        Some("out of bounds")
    );
    // The refused series may start at the head's time.
    assert_eq!(db.append(&batch(2..3, now)).unwrap().appended, 1);

    // Bulk loaders without background maintenance load in any order.
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(
        dir.path(),
        Options {
            background: false,
            ..Options::default()
        },
    )
    .unwrap();
    assert_eq!(db.append(&batch(0..1, now)).unwrap().appended, 1);
    assert_eq!(db.append(&batch(1..2, 0)).unwrap().appended, 1);
}

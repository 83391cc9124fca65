//! A failed WAL (as after a failed fsync): appends are refused with an error, nothing
//! already acknowledged is lost, and recovery (explicit or by the background worker) makes
//! the database writable again with everything acknowledged surviving a restart.

use std::time::{Duration, Instant};

use strata_engine::wal::SyncPolicy;
use strata_engine::{Batch, Db, Labels, Matcher, Options, Sample};

fn batch(t: i64) -> Batch {
    let mut b = Batch::new();
    for i in 0..10 {
        let l = Labels::from_pairs(&[("__name__", "m"), ("i", &i.to_string())]).unwrap();
        b.push(l, vec![Sample::new(t, t as f64)]);
    }
    b
}

fn timestamps(db: &Db) -> Vec<i64> {
    let mut ts: Vec<i64> = db
        .querier(i64::MIN, i64::MAX)
        .select(&[Matcher::equal("__name__", "m")])
        .unwrap()
        .iter()
        .flat_map(|s| s.samples().into_iter().map(|x| x.t))
        .collect();
    ts.sort_unstable();
    ts.dedup();
    ts
}

fn failed_wal_is_recovered(sync: SyncPolicy) {
    let dir = tempfile::tempdir().unwrap();
    let opts = || {
        let mut o = Options {
            background: false,
            ..Options::default()
        };
        o.wal.sync = sync;
        o
    };
    let db = Db::open(dir.path(), opts()).unwrap();
    assert_eq!(db.append(&batch(1_000)).unwrap().appended, 10);
    db.inject_wal_failure("injected fsync error (EIO)");
    let why = db.wal_failure().expect("failed");
    assert!(why.contains("EIO"), "{why}");
    let err = db.append(&batch(2_000)).unwrap_err().to_string();
    assert!(err.contains("WAL failed earlier"), "{err}");
    // The refused batch is not visible; the acknowledged one is.
    assert_eq!(timestamps(&db), [1_000]);
    db.maintain().unwrap();
    assert_eq!(db.wal_failure(), None);
    assert_eq!(
        db.counters()
            .wal_recoveries
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    assert_eq!(db.append(&batch(3_000)).unwrap().appended, 10);
    drop(db);
    let db = Db::open(dir.path(), opts()).unwrap();
    assert_eq!(timestamps(&db), [1_000, 3_000]);
    assert_eq!(db.append(&batch(4_000)).unwrap().appended, 10);
}

#[test]
fn failed_wal_is_recovered_with_fsync_interval() {
    failed_wal_is_recovered(SyncPolicy::Interval(Duration::from_millis(10)));
}

#[test]
fn failed_wal_is_recovered_with_fsync_always() {
    failed_wal_is_recovered(SyncPolicy::Always);
}

#[test]
fn background_worker_recovers_a_failed_wal() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    assert_eq!(db.append(&batch(1_000)).unwrap().appended, 10);
    db.inject_wal_failure("injected");
    assert!(db.append(&batch(2_000)).is_err());
    // The first retry comes after about a second; give it ample time on a loaded machine.
    let deadline = Instant::now() + Duration::from_secs(60);
    while db.wal_failure().is_some() {
        assert!(Instant::now() < deadline, "worker did not recover the WAL");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(db.append(&batch(3_000)).unwrap().appended, 10);
    drop(db);
    let db = Db::open(dir.path(), Options::default()).unwrap();
    assert_eq!(timestamps(&db), [1_000, 3_000]);
}

//! The data epoch: a counter that changes whenever what a query sees at old times may have
//! changed, and the stable bound that "old" is measured against. Result caches (the query
//! crate's range-result cache) key their entries on it.
//!
//! Definitions:
//! - the *stable bound* is `newest accepted sample time - grace` ([`Options::stable_grace`],
//!   5 min by default), where the newest time is the largest timestamp ever accepted by this
//!   `Db` (or found in its blocks and head at open). It never decreases.
//! - the *epoch* is bumped after any change that can alter a query's view of data at or
//!   before the stable bound: an accepted sample whose timestamp is at or before the bound
//!   as read after the sample was applied; `delete_series`; `clean_tombstones`; retention
//!   deleting blocks; damaged blocks moved aside. Head cuts, compaction, checkpoints and
//!   snapshots do not change results and do not bump it.
//!
//! Invariant (what a cache may rely on): if a reader loads the epoch `e` and then the stable
//! bound `s` (in that order, [`Db::data_epoch`] then [`Db::stable_before`]), and afterwards
//! reads the data, then every result it computes from data at or before `s` stays exact for
//! as long as the epoch still reads `e`. Why: every bump happens after its change is visible
//! (an append bumps after applying its samples and releasing the series locks; admin
//! operations after they finish), and an append that a reader missed applied its samples
//! after the reader locked the series, hence after the reader loaded `s`; the appender then
//! reads a bound at least `s` (the bound is monotonic, all accesses are `SeqCst`), so a
//! sample at or before `s` is bumped for, after the reader loaded `e`.
//!
//! The per-append cost is one `fetch_max` and one load on the batch's (min, max) timestamps,
//! not per-sample work.
//!
//! [`Options::stable_grace`]: super::Options::stable_grace

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use super::Db;

/// Default grace of the stable bound: 5 minutes.
pub const DEFAULT_STABLE_GRACE_MS: i64 = 5 * 60 * 1000;

/// The epoch counter and the newest accepted timestamp.
#[derive(Debug)]
pub(crate) struct DataEpoch {
    epoch: AtomicU64,
    /// Largest sample timestamp accepted (or loaded at open); `i64::MIN` if none.
    newest: AtomicI64,
    grace: i64,
}

impl DataEpoch {
    pub(crate) fn new(grace: i64, newest: i64) -> DataEpoch {
        DataEpoch {
            epoch: AtomicU64::new(0),
            newest: AtomicI64::new(newest),
            grace: grace.max(0),
        }
    }

    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    pub(crate) fn stable_before(&self) -> i64 {
        let n = self.newest.load(Ordering::SeqCst);
        if n == i64::MIN {
            i64::MIN
        } else {
            n.saturating_sub(self.grace)
        }
    }

    pub(crate) fn bump(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
    }

    /// Called after an append applied samples with timestamps in `[lo, hi]` (and released
    /// its series locks): raises the newest time, then bumps if `lo` is at or before the
    /// stable bound.
    pub(crate) fn note_append(&self, lo: i64, hi: i64) {
        if lo > hi {
            return;
        }
        self.newest.fetch_max(hi, Ordering::SeqCst);
        if lo <= self.stable_before() {
            self.bump();
        }
    }
}

/// Bumps the epoch when dropped: held by admin operations over their whole body, so the
/// bump follows every effect, also when they fail half-way.
pub(crate) struct BumpOnDrop<'a>(pub(crate) &'a DataEpoch);

impl Drop for BumpOnDrop<'_> {
    fn drop(&mut self) {
        self.0.bump();
    }
}

impl Db {
    /// A number that changes whenever data at or before [`Db::stable_before`] may have
    /// changed (late or backfilled samples, deletes, retention; see the module docs of
    /// `db/epoch.rs`). Load it before the bound and before reading data: results over data at
    /// or before the bound stay exact while the epoch is unchanged. Not persisted: it starts
    /// at 0 when the database is opened.
    pub fn data_epoch(&self) -> u64 {
        self.inner.epoch.epoch()
    }

    /// The stable bound (ms): the newest accepted sample time minus
    /// [`Options::stable_grace`](super::Options::stable_grace); `i64::MIN` while the database
    /// holds no data. Never decreases.
    pub fn stable_before(&self) -> i64 {
        self.inner.epoch.stable_before()
    }
}

#[cfg(test)]
mod tests {
    use crate::{Batch, Db, Labels, Matcher, Options, Sample};

    const MIN: i64 = 60_000;

    fn lbl(job: &str) -> Labels {
        Labels::from_pairs(&[("__name__", "up"), ("job", job)]).unwrap()
    }

    fn append(db: &Db, job: &str, ts: &[i64]) -> u64 {
        let mut b = Batch::new();
        b.push(lbl(job), ts.iter().map(|&t| Sample::new(t, 1.0)).collect());
        db.append(&b).unwrap().appended
    }

    fn opts() -> Options {
        Options {
            background: false,
            ..Options::default()
        }
    }

    #[test]
    fn in_order_appends_keep_the_epoch_and_raise_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), opts()).unwrap();
        assert_eq!(db.stable_before(), i64::MIN);
        // The first samples of a database are "new": nothing was stable before them.
        let ts: Vec<i64> = (0..30).map(|i| 100 * MIN + i * 15_000).collect();
        assert_eq!(append(&db, "a", &ts), 30);
        let e = db.data_epoch();
        assert_eq!(db.stable_before(), ts[29] - 5 * MIN);
        for i in 30..100 {
            let t = 100 * MIN + i * 15_000;
            append(&db, "a", &[t]);
            append(&db, "b", &[t - 60_000]); // a minute late: within the grace
        }
        assert_eq!(db.data_epoch(), e, "recent samples never bump");
        assert_eq!(db.stable_before(), 100 * MIN + 99 * 15_000 - 5 * MIN);
    }

    #[test]
    fn late_and_backfilled_samples_bump() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), opts()).unwrap();
        append(&db, "a", &[100 * MIN]);
        let e0 = db.data_epoch();
        // A late sender, 10 minutes behind.
        assert_eq!(append(&db, "late", &[90 * MIN]), 1);
        let e1 = db.data_epoch();
        assert!(e1 > e0);
        // A batch whose minimum is old and maximum new bumps once, and raises the bound.
        append(&db, "mixed", &[50 * MIN, 200 * MIN]);
        let e2 = db.data_epoch();
        assert!(e2 > e1);
        assert_eq!(db.stable_before(), 195 * MIN);
        // Rejected samples change nothing.
        let mut b = Batch::new();
        b.push(lbl("a"), vec![Sample::new(99 * MIN, 5.0)]); // out of order for series a
        assert_eq!(db.append(&b).unwrap().appended, 0);
        assert_eq!(db.data_epoch(), e2);
        // Exactly at the bound counts as stable.
        append(&db, "edge", &[195 * MIN]);
        assert!(db.data_epoch() > e2);
    }

    #[test]
    fn deletes_and_tombstone_cleaning_bump() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), opts()).unwrap();
        let ts: Vec<i64> = (0..400).map(|i| i * MIN).collect();
        append(&db, "a", &ts);
        db.flush().unwrap();
        let e0 = db.data_epoch();
        db.delete_series(&[Matcher::equal("job", "a")], 0, 10 * MIN)
            .unwrap();
        let e1 = db.data_epoch();
        assert!(e1 > e0);
        assert_eq!(db.clean_tombstones().unwrap(), 1);
        assert!(db.data_epoch() > e1);
        // A failed delete (no matcher) changes nothing.
        let e2 = db.data_epoch();
        assert!(db.delete_series(&[], 0, 1).is_err());
        assert_eq!(db.data_epoch(), e2);
    }

    #[test]
    fn retention_bumps_and_head_cuts_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(
            dir.path(),
            Options {
                retention: Some(4 * 3600 * 1000),
                ..opts()
            },
        )
        .unwrap();
        // 5 h of data; maintain cuts blocks out of the head without changing results.
        let ts: Vec<i64> = (0..300).map(|i| i * MIN).collect();
        append(&db, "a", &ts);
        let e0 = db.data_epoch();
        let r = db.maintain().unwrap();
        assert!(r.head_blocks > 0, "{r:?}");
        assert_eq!(r.deleted_blocks, 0);
        assert_eq!(db.data_epoch(), e0, "head cuts keep the epoch");
        // 6 h later the first block is past retention.
        let ts: Vec<i64> = (300..660).map(|i| i * MIN).collect();
        append(&db, "a", &ts);
        let mut deleted = 0;
        for _ in 0..4 {
            deleted += db.maintain().unwrap().deleted_blocks;
        }
        assert!(deleted > 0);
        assert!(db.data_epoch() > e0, "retention bumps");
    }

    #[test]
    fn reopen_starts_with_the_bound_of_the_data() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = Db::open(dir.path(), opts()).unwrap();
            append(&db, "a", &[10 * MIN, 20 * MIN]);
            db.flush().unwrap();
            append(&db, "a", &[30 * MIN]);
        }
        let db = Db::open(dir.path(), opts()).unwrap();
        assert_eq!(db.stable_before(), 25 * MIN);
        let e = db.data_epoch();
        append(&db, "b", &[24 * MIN]);
        assert!(db.data_epoch() > e);
    }
}

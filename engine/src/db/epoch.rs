//! The data epoch: a counter that changes whenever what a query sees at old times may have
//! changed, and the stable bound that "old" is measured against. Result caches (the query
//! crate's range-result cache) key their entries on it.
//!
//! Definitions:
//! - the *stable bound* is the largest of `newest accepted sample time - grace` and, with
//!   [`Options::stable_clock`] (the default), `wall-clock now - grace`, where grace is
//!   [`Options::stable_grace`] (5 min by default) and the newest time is the largest
//!   timestamp ever accepted by this `Db` (or found in its blocks and head at open). It is
//!   kept as one monotonic value: it never decreases, even if the clock steps back. The
//!   clock term is what VictoriaMetrics' result cache assumes (data older than now - 5 min
//!   is final); the data term covers data stamped in the future of this machine's clock.
//!   Which bound is chosen only decides how much a cache may keep, never whether a result
//!   is exact: a change at or before the bound always bumps.
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
//! [`Options::stable_clock`]: super::Options::stable_clock

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use super::Db;

/// Default grace of the stable bound: 5 minutes.
pub const DEFAULT_STABLE_GRACE_MS: i64 = 5 * 60 * 1000;

/// The epoch counter and the stable bound.
#[derive(Debug)]
pub(crate) struct DataEpoch {
    epoch: AtomicU64,
    /// The stable bound (monotonic); `i64::MIN` until there is data (or a clock reading).
    stable: AtomicI64,
    grace: i64,
    clock: bool,
}

/// Wall-clock now, ms since the Unix epoch.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl DataEpoch {
    /// `newest`: the newest sample time found at open (`i64::MIN` if none).
    pub(crate) fn new(grace: i64, clock: bool, newest: i64) -> DataEpoch {
        let grace = grace.max(0);
        let stable = if newest == i64::MIN {
            i64::MIN
        } else {
            newest.saturating_sub(grace)
        };
        DataEpoch {
            epoch: AtomicU64::new(0),
            stable: AtomicI64::new(stable),
            grace,
            clock,
        }
    }

    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// The bound, after raising it to the clock's term.
    pub(crate) fn stable_before(&self) -> i64 {
        if self.clock {
            let c = now_ms().saturating_sub(self.grace);
            self.stable.fetch_max(c, Ordering::SeqCst).max(c)
        } else {
            self.stable.load(Ordering::SeqCst)
        }
    }

    pub(crate) fn bump(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
    }

    /// Called after an append applied samples with timestamps in `[lo, hi]` (and released
    /// its series locks): raises the bound to `hi - grace`, then bumps if `lo` is at or
    /// before the bound.
    pub(crate) fn note_append(&self, lo: i64, hi: i64) {
        if lo > hi {
            return;
        }
        self.stable
            .fetch_max(hi.saturating_sub(self.grace), Ordering::SeqCst);
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
    /// [`Options::stable_grace`](super::Options::stable_grace), or wall-clock now minus the
    /// grace if that is later and [`Options::stable_clock`](super::Options::stable_clock) is
    /// on; `i64::MIN` while there is neither data nor clock. Never decreases.
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

    /// Without the clock term: the tests' timestamps are near 1970.
    fn opts() -> Options {
        Options {
            background: false,
            stable_clock: false,
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

    #[test]
    fn the_clock_makes_old_data_stable() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(
            dir.path(),
            Options {
                stable_clock: true,
                ..opts()
            },
        )
        .unwrap();
        let now = super::now_ms();
        let b0 = db.stable_before();
        assert!(b0 >= now - 5 * MIN && b0 <= super::now_ms() - 5 * MIN);
        // Samples a minute old are within the grace; ten minutes old are not, even as the
        // newest samples of the database.
        let e = db.data_epoch();
        append(&db, "a", &[now - MIN]);
        assert_eq!(db.data_epoch(), e);
        append(&db, "b", &[now - 10 * MIN]);
        assert!(db.data_epoch() > e);
        // Data stamped in the future raises the bound past the clock's term.
        append(&db, "c", &[now + 60 * MIN]);
        assert_eq!(db.stable_before(), now + 55 * MIN);
    }
}

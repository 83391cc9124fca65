//! The embedded database: one data directory with its lock, WAL and head.
//!
//! Layout of a data directory:
//! ```text
//! <dir>/lock        held (flock) while a Db has the directory open
//! <dir>/wal/        write-ahead log segments (docs/format/wal.md)
//! ```
//!
//! Append protocol (what makes acknowledged data survive `kill -9` and keeps replay equal to
//! what was acknowledged):
//! 1. resolve every series of the batch (creating new ones in the head and index);
//! 2. lock the involved series in ascending reference order (no deadlock between batches);
//! 3. decide each sample against the series' last sample (append / duplicate / reject);
//! 4. write one WAL entry: series records for series not yet logged, then the accepted samples;
//! 5. only if the WAL write succeeded, apply the accepted samples to the head;
//! 6. release the series locks, then wait for durability per the fsync policy.
//!
//! Step 1 may already be done: [`Db::resolve`] turns borrowed label pairs into a
//! [`SeriesHandle`] (creating the series if new, exactly like step 1 would), and entries added
//! with [`Batch::push_series`] carry that handle, so `append` skips their lookup. A series
//! created by `resolve` is not logged yet either way: its WAL series record is written by the
//! first append that carries samples for it (the `logged` flag), before those samples.
//!
//! Because a series stays locked from decision to WAL write, the WAL holds the samples of each
//! series in the order they were applied, so replay re-creates exactly the acknowledged head.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::chunk::{Chunk, ChunkIter};
use crate::error::{Error, Result};
use crate::head::{chunks_in_range, overlaps, verdict, Head, MemSeries, SeriesHandle, Verdict};
use crate::labels::{hash_pairs, Labels};
use crate::matcher::Matcher;
use crate::wal::{Record, ReplayReport, SampleRecord, SeriesRecord, Wal, WalOptions};
use crate::Sample;

/// Settings of a [`Db`].
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// WAL settings.
    pub wal: WalOptions,
}

/// Which series a batch entry is for.
#[derive(Clone, Debug)]
enum Target {
    Labels(Labels),
    Series(SeriesHandle),
}

/// Samples to append, grouped by series. Build with [`Batch::push`] or, for series already
/// resolved with [`Db::resolve`], [`Batch::push_series`]. Samples of every entry share one
/// buffer.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    /// (series, start, end) into `samples`.
    series: Vec<(Target, usize, usize)>,
    samples: Vec<Sample>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Batch {
        Batch::default()
    }
    /// An empty batch with room for `series` entries and `samples` samples.
    pub fn with_capacity(series: usize, samples: usize) -> Batch {
        Batch {
            series: Vec::with_capacity(series),
            samples: Vec::with_capacity(samples),
        }
    }
    /// Adds samples (in time order) for the series `labels`.
    pub fn push(&mut self, labels: Labels, samples: Vec<Sample>) {
        self.push_target(Target::Labels(labels), &samples);
    }
    /// Adds samples (in time order) for a series resolved with [`Db::resolve`]. Appending the
    /// batch to the database that resolved the handle skips the series lookup; another
    /// database looks the series up by its labels, as for [`Batch::push`].
    pub fn push_series(&mut self, series: SeriesHandle, samples: &[Sample]) {
        self.push_target(Target::Series(series), samples);
    }
    fn push_target(&mut self, target: Target, samples: &[Sample]) {
        let start = self.samples.len();
        self.samples.extend_from_slice(samples);
        self.series.push((target, start, self.samples.len()));
    }
    /// Number of series entries.
    pub fn len(&self) -> usize {
        self.series.len()
    }
    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }
    /// Total samples.
    pub fn num_samples(&self) -> usize {
        self.samples.len()
    }
    /// Removes every entry, keeping the allocation.
    pub fn clear(&mut self) {
        self.series.clear();
        self.samples.clear();
    }
}

/// Source of the `Db::id` values.
static NEXT_DB_ID: AtomicU64 = AtomicU64::new(1);

/// Why a sample was not stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// Older than the series' last sample.
    OutOfOrder,
    /// Same timestamp as the last sample, different value.
    DuplicateTimestamp,
}

impl RejectReason {
    /// Prometheus's wording.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::OutOfOrder => "out of order sample",
            RejectReason::DuplicateTimestamp => "duplicate sample for timestamp",
        }
    }
}

/// What an append did.
#[derive(Clone, Debug, Default)]
pub struct AppendReport {
    /// Samples stored.
    pub appended: u64,
    /// Exact duplicates of stored samples (no-ops, not errors).
    pub duplicates: u64,
    /// Series created by this append.
    pub new_series: u64,
    /// Samples rejected, by reason.
    pub out_of_order: u64,
    /// Samples rejected for a duplicate timestamp with another value.
    pub duplicate_timestamp: u64,
    /// The first rejection, for error messages: reason, series, sample timestamp.
    pub first_rejection: Option<(RejectReason, Labels, i64)>,
}

impl AppendReport {
    /// Samples rejected for any reason.
    pub fn rejected(&self) -> u64 {
        self.out_of_order + self.duplicate_timestamp
    }

    fn reject(&mut self, why: RejectReason, labels: &Labels, t: i64) {
        match why {
            RejectReason::OutOfOrder => self.out_of_order += 1,
            RejectReason::DuplicateTimestamp => self.duplicate_timestamp += 1,
        }
        if self.first_rejection.is_none() {
            self.first_rejection = Some((why, labels.clone(), t));
        }
    }
}

/// Head statistics.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Series in the head.
    pub series: u64,
    /// Samples in the head.
    pub samples: u64,
    /// Bytes of encoded chunk data.
    pub chunk_bytes: u64,
    /// Distinct interned label strings.
    pub symbols: u64,
    /// Chunks in the head (sealed plus open ones).
    pub chunks: u64,
    /// Oldest sample timestamp, if any.
    pub min_time: Option<i64>,
    /// Newest sample timestamp, if any.
    pub max_time: Option<i64>,
}

struct Inner {
    head: Head,
    wal: Wal,
}

/// A Strata database. `Send + Sync`: share it as `Arc<Db>`.
pub struct Db {
    inner: Arc<Inner>,
    /// Unique per opened `Db` in this process: tells whose [`SeriesHandle`] is whose.
    id: u64,
    dir: PathBuf,
    lock: Mutex<Option<File>>,
    replay: ReplayReport,
}

impl Db {
    /// Opens (creating if needed) the data directory, taking its lock and replaying the WAL.
    pub fn open(dir: impl AsRef<Path>, opts: Options) -> Result<Db> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("create", &dir, e))?;
        let lock_path = dir.join("lock");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| Error::io("open", &lock_path, e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(Error::Locked {
                    path: dir,
                    lock: lock_path,
                })
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io("lock", lock_path, e)),
        }
        let head = Head::default();
        let mut dropped = 0u64;
        let (wal, replay) = Wal::open(&dir.join("wal"), opts.wal, |rec| match rec {
            Record::Series(v) => {
                for s in v {
                    head.restore(s.sref, &s.labels);
                }
            }
            Record::Samples(v) => {
                for s in v {
                    let Some(series) = head.by_ref(s.sref) else {
                        dropped += 1;
                        continue;
                    };
                    let mut st = series.state.lock();
                    let sample = Sample::new(s.t, s.v);
                    if verdict(st.last, sample) == Verdict::Append {
                        st.push(sample);
                        head.note_samples(1, s.t, s.t);
                    }
                }
            }
        })?;
        if dropped > 0 {
            eprintln!("strata: WAL replay dropped {dropped} samples of unknown series");
        }
        Ok(Db {
            inner: Arc::new(Inner { head, wal }),
            id: NEXT_DB_ID.fetch_add(1, Ordering::Relaxed),
            dir,
            lock: Mutex::new(Some(lock)),
            replay,
        })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What WAL replay found when the database was opened.
    pub fn replay_report(&self) -> &ReplayReport {
        &self.replay
    }

    /// Resolves a series from borrowed `(name, value)` pairs, creating it (in the head and
    /// index, not yet in the WAL) if it does not exist. Pairs with an empty value are
    /// skipped, as in [`Labels::from_pairs`].
    ///
    /// Fast path: pairs sorted by name with unique names (what a validated remote-write
    /// series is) are hashed and compared in place, so an existing series costs no
    /// allocation. Other pairs are accepted too, and go through [`Labels::from_pairs`].
    ///
    /// Errors: [`Error::InvalidLabels`] for an empty or duplicate name, or a set with no
    /// non-empty value.
    pub fn resolve(&self, pairs: &[(&str, &str)]) -> Result<SeriesHandle> {
        let h = hash_pairs(pairs.iter().filter(|(_, v)| !v.is_empty()).copied());
        self.resolve_hashed(h, pairs)
    }

    /// [`Db::resolve`] with the hash of the non-empty pairs computed (tests force collisions).
    fn resolve_hashed(&self, h: u64, pairs: &[(&str, &str)]) -> Result<SeriesHandle> {
        let head = &self.inner.head;
        let handle = |series, created| SeriesHandle {
            series,
            db: self.id,
            created,
        };
        if let Some(s) = head.get_by_pairs(h, pairs) {
            return Ok(handle(s, false));
        }
        let labels = Labels::from_pairs(pairs)?;
        if labels.is_empty() {
            return Err(Error::InvalidLabels(format!(
                "empty label set ({labels}) cannot identify a series"
            )));
        }
        // Unsorted pairs hashed differently from the canonical set.
        let h = if labels.eq_pairs(pairs) {
            h
        } else {
            labels.stable_hash()
        };
        let (s, created) = head.get_or_create_hashed(h, &labels);
        Ok(handle(s, created))
    }

    /// Appends a batch; returns once the accepted samples are in the WAL (and durable as the
    /// fsync policy requires). Rejected samples are counted in the report, not errors; an `Err`
    /// means nothing of this batch was stored.
    pub fn append(&self, batch: &Batch) -> Result<AppendReport> {
        let head = &self.inner.head;
        let mut report = AppendReport::default();
        let empty = batch.series.iter().find_map(|(t, _, _)| match t {
            Target::Labels(l) if l.is_empty() => Some(l),
            _ => None,
        });
        if let Some(l) = empty {
            return Err(Error::InvalidLabels(format!(
                "empty label set ({l}) cannot identify a series"
            )));
        }
        // 1. Resolve series (entries pushed with a handle of this Db are resolved already).
        let mut entries: Vec<(Arc<MemSeries>, &[Sample], bool)> = Vec::with_capacity(batch.len());
        for (target, start, end) in &batch.series {
            let samples = &batch.samples[*start..*end];
            if samples.is_empty() {
                continue;
            }
            let (s, created) = match target {
                Target::Labels(labels) => head.get_or_create(labels),
                Target::Series(h) if h.db == self.id => (h.series.clone(), h.created),
                Target::Series(h) => head.get_or_create(&h.series.labels),
            };
            entries.push((s, samples, created));
        }
        // 2. Lock in reference order; one guard per distinct series.
        entries.sort_by_key(|(s, _, _)| s.sref);
        let mut guards = Vec::with_capacity(entries.len());
        let mut new_series = Vec::new();
        let mut accepted: Vec<SampleRecord> = Vec::with_capacity(batch.num_samples());
        // Per guard, its range of `accepted`, for applying later.
        let mut spans: Vec<(usize, usize)> = Vec::with_capacity(entries.len());
        let mut i = 0;
        while i < entries.len() {
            let series = &entries[i].0;
            let st = series.state.lock();
            if !st.logged {
                new_series.push(SeriesRecord {
                    sref: series.sref,
                    labels: series.labels.clone(),
                });
            }
            // 3. Decide every sample of every entry for this series, in batch order.
            let mut last = st.last;
            let start = accepted.len();
            let mut created = false;
            while i < entries.len() && Arc::ptr_eq(&entries[i].0, series) {
                created |= entries[i].2;
                for &s in entries[i].1 {
                    match verdict(last, s) {
                        Verdict::Append => {
                            accepted.push(SampleRecord {
                                sref: series.sref,
                                t: s.t,
                                v: s.v,
                            });
                            last = Some(s);
                        }
                        Verdict::Duplicate => report.duplicates += 1,
                        // A retry re-sends samples already stored: idempotent, not an error.
                        Verdict::Reject(_) if st.contains(s) => report.duplicates += 1,
                        Verdict::Reject(why) => report.reject(why, &series.labels, s.t),
                    }
                }
                i += 1;
            }
            report.new_series += created as u64;
            spans.push((start, accepted.len()));
            guards.push(st);
        }
        if accepted.is_empty() && new_series.is_empty() {
            return Ok(report);
        }
        // 4. WAL first.
        let mut records = Vec::with_capacity(2);
        if !new_series.is_empty() {
            records.push(Record::Series(new_series));
        }
        let (lo, hi) = accepted.iter().fold((i64::MAX, i64::MIN), |(lo, hi), s| {
            (lo.min(s.t), hi.max(s.t))
        });
        let n = accepted.len() as u64;
        records.push(Record::Samples(accepted));
        let pos = self.inner.wal.write(&records)?;
        // 5. Apply.
        let Some(Record::Samples(accepted)) = records.last() else {
            unreachable!("samples record pushed last")
        };
        for (st, &(start, end)) in guards.iter_mut().zip(&spans) {
            st.logged = true;
            for s in &accepted[start..end] {
                st.push(Sample::new(s.t, s.v));
            }
        }
        head.note_samples(n, lo, hi);
        report.appended = n;
        // 6. Durability without holding series locks.
        drop(guards);
        self.inner.wal.sync_to(pos)?;
        Ok(report)
    }

    /// A reader over `[mint, maxt]` (inclusive, ms).
    pub fn querier(&self, mint: i64, maxt: i64) -> Querier {
        Querier {
            inner: self.inner.clone(),
            mint,
            maxt,
        }
    }

    /// Label names of series matching all `matchers` (all series if empty) with data in
    /// `[mint, maxt]`, sorted.
    pub fn label_names(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<String>> {
        let head = &self.inner.head;
        if matchers.is_empty() && self.covers_head(mint, maxt) {
            return Ok(head.index().label_names());
        }
        let mut names = std::collections::BTreeSet::new();
        for s in self.matching_series(matchers, mint, maxt) {
            for l in &s.labels {
                if !names.contains(&*l.name) {
                    names.insert(l.name.to_string());
                }
            }
        }
        Ok(names.into_iter().collect())
    }

    /// Values of label `name` over matching series with data in `[mint, maxt]`, sorted.
    pub fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>> {
        let head = &self.inner.head;
        if matchers.is_empty() && self.covers_head(mint, maxt) {
            return Ok(head.index().label_values(name));
        }
        let mut values = std::collections::BTreeSet::new();
        for s in self.matching_series(matchers, mint, maxt) {
            if let Some(v) = s.labels.get(name) {
                if !values.contains(v) {
                    values.insert(v.to_string());
                }
            }
        }
        Ok(values.into_iter().collect())
    }

    fn covers_head(&self, mint: i64, maxt: i64) -> bool {
        match self.inner.head.time_range() {
            Some((lo, hi)) => mint <= lo && maxt >= hi,
            None => true,
        }
    }

    fn matching_series(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<Arc<MemSeries>> {
        let head = &self.inner.head;
        let refs = head.index().select(matchers);
        refs.into_iter()
            .filter_map(|r| head.by_ref(r))
            .filter(|s| overlaps(&s.state.lock(), mint, maxt))
            .collect()
    }

    /// Label sets of the series matching all `matchers` with data in `[mint, maxt]`, sorted,
    /// without touching their chunks.
    pub fn series_labels(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<Labels> {
        let mut v: Vec<Labels> = self
            .matching_series(matchers, mint, maxt)
            .into_iter()
            .map(|s| s.labels.clone())
            .collect();
        v.sort();
        v
    }

    /// WAL counters (writes, bytes, fsync rounds, segments).
    pub fn wal_stats(&self) -> crate::wal::WalStats {
        self.inner.wal.stats()
    }

    /// Number of series per value of label `name` (for status pages).
    pub fn postings_counts(&self, name: &str) -> Vec<(String, usize)> {
        self.inner.head.index().postings_counts(name)
    }

    /// Number of distinct values per label name (for status pages).
    pub fn label_value_counts(&self) -> Vec<(String, usize)> {
        self.inner.head.index().value_counts()
    }

    /// Head statistics.
    pub fn stats(&self) -> Stats {
        let head = &self.inner.head;
        let range = head.time_range();
        let (chunks, chunk_bytes) = head.chunk_usage();
        Stats {
            series: head.num_series(),
            samples: head.num_samples(),
            chunk_bytes,
            chunks,
            symbols: head.num_symbols() as u64,
            min_time: range.map(|r| r.0),
            max_time: range.map(|r| r.1),
        }
    }

    /// Flushes and fsyncs the WAL and releases the directory lock.
    pub fn close(self) -> Result<()> {
        self.inner.wal.close()?;
        drop(self.lock.lock().take());
        Ok(())
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if self.lock.lock().is_some() {
            if let Err(e) = self.inner.wal.close() {
                eprintln!("strata: closing WAL on drop: {e}");
            }
        }
    }
}

/// A read view over `[mint, maxt]`. Holds no lock; each `select` takes a consistent snapshot of
/// every selected series.
pub struct Querier {
    inner: Arc<Inner>,
    mint: i64,
    maxt: i64,
}

impl Querier {
    /// Series matching all `matchers` with samples in the range, sorted by labels.
    pub fn select(&self, matchers: &[Matcher]) -> Result<Vec<Series>> {
        let head = &self.inner.head;
        let refs = head.index().select(matchers);
        let mut out = Vec::with_capacity(refs.len());
        for r in refs {
            let Some(s) = head.by_ref(r) else { continue };
            let chunks = chunks_in_range(&s.state.lock(), self.mint, self.maxt);
            if !chunks.is_empty() {
                out.push(Series {
                    labels: s.labels.clone(),
                    chunks,
                    mint: self.mint,
                    maxt: self.maxt,
                });
            }
        }
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(out)
    }
    /// Start of the range (inclusive, ms).
    pub fn mint(&self) -> i64 {
        self.mint
    }
    /// End of the range (inclusive, ms).
    pub fn maxt(&self) -> i64 {
        self.maxt
    }
}

/// One selected series: its labels and the chunks overlapping the querier's range.
#[derive(Clone, Debug)]
pub struct Series {
    /// The series' labels.
    pub labels: Labels,
    chunks: Vec<Chunk>,
    mint: i64,
    maxt: i64,
}

impl Series {
    /// Iterates samples within the querier's range, in time order.
    pub fn iter(&self) -> SeriesIter<'_> {
        SeriesIter {
            s: self,
            next_chunk: 0,
            cur: None,
            started: false,
            error: None,
        }
    }
    /// All samples within the querier's range. Stops early at a corrupt chunk; use
    /// [`Series::try_samples`] to see that as an error.
    pub fn samples(&self) -> Vec<Sample> {
        self.iter().collect()
    }

    /// All samples within the querier's range, or the decoding error of a corrupt chunk.
    pub fn try_samples(&self) -> Result<Vec<Sample>> {
        let mut it = self.iter();
        let v: Vec<Sample> = it.by_ref().collect();
        match it.error.take() {
            Some(e) => Err(e),
            None => Ok(v),
        }
    }
    /// The chunks (oldest first) overlapping the range; they may hold samples outside it.
    pub fn chunks(&self) -> &[Chunk] {
        &self.chunks
    }
}

/// Iterator over a [`Series`]' samples within the querier's range.
pub struct SeriesIter<'a> {
    s: &'a Series,
    next_chunk: usize,
    cur: Option<ChunkIter<'a>>,
    started: bool,
    error: Option<Error>,
}

impl SeriesIter<'_> {
    /// Advances to the first sample with timestamp `>= t` and returns it.
    pub fn seek(&mut self, t: i64) -> Option<Sample> {
        let t = t.max(self.s.mint);
        self.started = true;
        loop {
            match self.cur.as_mut() {
                Some(it) => match it.seek(t) {
                    Some(s) if s.t > self.s.maxt => return self.finish(),
                    Some(s) => return Some(s),
                    None => self.end_chunk(),
                },
                None => {
                    // Skip whole chunks that end before t without decoding them.
                    let chunks = &self.s.chunks;
                    while self.next_chunk < chunks.len() && chunks[self.next_chunk].max_time() < t {
                        self.next_chunk += 1;
                    }
                    let c = chunks.get(self.next_chunk)?;
                    self.next_chunk += 1;
                    self.cur = Some(c.iter());
                }
            }
        }
    }

    /// The decoding error that ended iteration early, if any.
    pub fn err(&self) -> Option<&Error> {
        self.error.as_ref()
    }

    fn end_chunk(&mut self) {
        if let Some(e) = self
            .cur
            .take()
            .and_then(|it| it.err().map(|e| e.to_string()))
        {
            if self.error.is_none() {
                self.error = Some(Error::CorruptChunk(e));
            }
            self.next_chunk = self.s.chunks.len();
        }
    }

    fn finish(&mut self) -> Option<Sample> {
        self.next_chunk = self.s.chunks.len();
        self.cur = None;
        None
    }
}

impl Iterator for SeriesIter<'_> {
    type Item = Sample;
    fn next(&mut self) -> Option<Sample> {
        if !self.started {
            return self.seek(self.s.mint);
        }
        loop {
            if self.cur.is_none() {
                let c = self.s.chunks.get(self.next_chunk)?;
                self.next_chunk += 1;
                self.cur = Some(c.iter());
            }
            match self.cur.as_mut().and_then(|it| it.next()) {
                Some(s) if s.t < self.s.mint => continue,
                Some(s) if s.t > self.s.maxt => return self.finish(),
                Some(s) => return Some(s),
                None => self.end_chunk(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matcher::Matcher;

    fn values(db: &Db, job: &str) -> Vec<f64> {
        let q = db.querier(i64::MIN, i64::MAX);
        let got = q.select(&[Matcher::equal("job", job)]).unwrap();
        assert_eq!(got.len(), 1, "one series for job {job}");
        got[0].samples().iter().map(|s| s.v).collect()
    }

    #[test]
    fn resolve_with_colliding_hashes_finds_the_right_series() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), Options::default()).unwrap();
        let a: &[(&str, &str)] = &[("__name__", "up"), ("job", "a")];
        let b: &[(&str, &str)] = &[("__name__", "up"), ("job", "b")];
        // Both sets filed under one forced hash, as a real collision would be.
        let ha = db.resolve_hashed(7, a).unwrap();
        let hb = db.resolve_hashed(7, b).unwrap();
        assert!(ha.created() && hb.created());
        assert_ne!(ha.series_ref(), hb.series_ref());
        let (ha2, hb2) = (
            db.resolve_hashed(7, a).unwrap(),
            db.resolve_hashed(7, b).unwrap(),
        );
        assert!(!ha2.created() && !hb2.created());
        assert_eq!(ha2.series_ref(), ha.series_ref());
        assert_eq!(hb2.series_ref(), hb.series_ref());
        assert_eq!(hb2.labels(), &Labels::from_pairs(b).unwrap());

        let mut batch = Batch::new();
        batch.push_series(hb2, &[Sample::new(1, 2.0)]);
        batch.push_series(ha2, &[Sample::new(1, 1.0)]);
        batch.push_series(hb, &[Sample::new(2, 20.0)]);
        let r = db.append(&batch).unwrap();
        // `new_series` counts series whose creating handle is in the batch: `hb`, not `ha2`.
        assert_eq!((r.appended, r.new_series), (3, 1));
        assert_eq!(values(&db, "a"), vec![1.0]);
        assert_eq!(values(&db, "b"), vec![2.0, 20.0]);
        drop(db);

        // Replay files them under their real hashes; the borrowed path still finds them.
        let db = Db::open(dir.path(), Options::default()).unwrap();
        let ha = db.resolve(a).unwrap();
        assert!(!ha.created());
        let mut batch = Batch::new();
        batch.push_series(ha, &[Sample::new(3, 3.0)]);
        assert_eq!(db.append(&batch).unwrap().new_series, 0);
        assert_eq!(values(&db, "a"), vec![1.0, 3.0]);
        assert_eq!(values(&db, "b"), vec![2.0, 20.0]);
        assert_eq!(db.stats().series, 2);
    }
}

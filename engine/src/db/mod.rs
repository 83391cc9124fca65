//! The embedded database: one data directory with its lock, WAL, head and blocks.
//!
//! Layout of a data directory:
//! ```text
//! <dir>/lock              held (flock) while a Db has the directory open for writing
//! <dir>/wal/              write-ahead log segments and checkpoint (docs/format/wal.md)
//! <dir>/blocks/<ulid>/    immutable blocks (docs/format/block.md)
//! <dir>/snapshots/<name>/ hard-linked copies of blocks made by `snapshot`
//! <dir>/corrupted/<ulid>/ blocks that failed their checks, moved aside
//! ```
//!
//! Module map: appending and reading live here; opening and replay in `open.rs`; the
//! background work (head cuts, checkpoints, compaction, retention) in `maintain.rs`;
//! deletes, snapshots and flushes in `admin.rs`; merging blocks in `crate::compact`; reading
//! in `crate::querier`.
//!
//! Append protocol (what makes acknowledged data survive `kill -9` and keeps replay equal to
//! what was acknowledged):
//! 1. resolve every series of the batch (creating new ones in the head and index);
//! 2. lock the involved series in ascending reference order (no deadlock between batches);
//!    a series that truncation removed meanwhile is re-resolved (the whole append restarts);
//! 3. decide each sample against the series' last sample and the head's lower bound
//!    (append / duplicate / reject);
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
//!
//! Moving data from the head into blocks (see `maintain.rs`) never shows a sample twice or
//! not at all: the head's lower bound for appends is raised before its chunks are collected,
//! and the new block is published together with the bound readers use for the head.

mod admin;
mod epoch;
mod maintain;
mod open;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::{Condvar, Mutex, RwLock};

use crate::block::Block;
use crate::error::{Error, Result};
use crate::head::{
    overlaps, overlaps_above, verdict, ChunkFootprint, Head, MemSeries, SeriesHandle, Verdict,
};
use crate::labels::{hash_byte_pairs, hash_pairs, Labels};
use crate::matcher::Matcher;
use crate::querier::{Querier, Sources};
use crate::wal::{Record, ReplayReport, SampleRecord, SeriesRecord, Wal, WalOptions};
use crate::Sample;

pub use admin::DeleteReport;
pub use epoch::DEFAULT_STABLE_GRACE_MS;
pub use maintain::{compaction_ranges, MaintainReport};
pub use open::ReplayProgress;

/// Two hours: the default block range.
pub const DEFAULT_BLOCK_RANGE_MS: i64 = 2 * 3600 * 1000;
/// Default longest chunk written by compaction: 1920 samples, 8 h of 15 s scrapes. Measured
/// on the canary-fleet benchmark (`block_size`, 2k series x 24 h), all-in bytes/sample:
/// 1.55 keeping the head's 120-sample chunks, 1.20 at 960, 1.17 at 1920, 1.15 at 5760
/// (whole-day chunks), with column-wise decoding as fast per sample as 120-sample chunks.
/// Not longer because readers decode a chunk whole: a query of one hour of an old day
/// decodes up to this many samples per series.
pub const DEFAULT_COMPACTION_CHUNK_SAMPLES: usize = 1920;

/// Fifteen days: the default retention, as in Prometheus.
pub const DEFAULT_RETENTION_MS: i64 = 15 * 24 * 3600 * 1000;

/// Settings of a [`Db`].
#[derive(Clone, Debug)]
pub struct Options {
    /// WAL settings.
    pub wal: WalOptions,
    /// Span (ms) of head data cut into one block; chunks never straddle an aligned span of it.
    /// The head is cut when it spans more than 1.5 times this. Default 2 h.
    pub block_range: i64,
    /// Blocks whose data is entirely older than this (ms, before the newest sample) are
    /// deleted. `None` keeps everything. Default 15 d.
    pub retention: Option<i64>,
    /// The oldest blocks are deleted while blocks, WAL and the head's chunk files take more
    /// bytes than this.
    /// `None`: no size limit (the default).
    pub retention_size: Option<u64>,
    /// Run head cuts, checkpoints, compaction and retention on a background thread (the
    /// default). Without it nothing moves out of the head until [`Db::maintain`] or
    /// [`Db::flush`] is called: bulk loaders that append out of time order use that.
    pub background: bool,
    /// Longest chunk compaction writes: a series whose chunks are shorter than half of this
    /// is re-encoded into chunks of up to this many samples (0: keep the chunks as they are
    /// unless blocks overlap or tombstones apply). Default [`DEFAULT_COMPACTION_CHUNK_SAMPLES`].
    pub compaction_chunk_samples: usize,
    /// Where open-time WAL replay reports its progress (for `/metrics` and readiness).
    pub progress: Option<Arc<ReplayProgress>>,
    /// Most series the head may hold at once (`None`, the default: no limit). Samples for a
    /// new series past it are rejected ([`RejectReason::SeriesLimit`]); series the head
    /// already holds keep receiving samples, and churned series free their places when
    /// truncation removes them.
    pub max_series: Option<u64>,
    /// Most series one [`Db::append`] may create (`None`, the default: no limit). The
    /// samples of further new series in the same batch are rejected
    /// ([`RejectReason::NewSeriesLimit`]).
    pub max_new_series_per_append: Option<u64>,
    /// The out-of-order window (ms; 0, the default, turns it off as in Prometheus): a sample
    /// older than its series' newest, or older than the head's lower bound, is still stored
    /// if it is at most this much older than the head's newest sample. Such samples are kept
    /// in their own head chunks (and WAL records), are visible to queries at once, and are
    /// written out at head cuts as blocks that overlap, which compaction merges. Outside the
    /// window they are rejected as [`RejectReason::TooOldSample`].
    pub out_of_order_window: i64,
    /// Grace (ms) of the stable bound: data older than the newest sample minus this is
    /// "stable", and any change to it bumps [`Db::data_epoch`] (see `db/epoch.rs`). Default
    /// [`DEFAULT_STABLE_GRACE_MS`] (5 min): senders a little behind the newest one do not
    /// invalidate result caches.
    pub stable_grace: i64,
    /// Whether the stable bound is also at least wall-clock now minus
    /// [`Options::stable_grace`] (the default; as VictoriaMetrics' result cache assumes):
    /// data older than that is expected to be final, and a change to it bumps the epoch
    /// like any other. Off: only the newest sample time counts (bulk loads of old data).
    pub stable_clock: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            wal: WalOptions::default(),
            block_range: DEFAULT_BLOCK_RANGE_MS,
            retention: Some(DEFAULT_RETENTION_MS),
            retention_size: None,
            background: true,
            compaction_chunk_samples: DEFAULT_COMPACTION_CHUNK_SAMPLES,
            progress: None,
            max_series: None,
            max_new_series_per_append: None,
            out_of_order_window: 0,
            stable_grace: DEFAULT_STABLE_GRACE_MS,
            stable_clock: true,
        }
    }
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
    /// Older than the head's lower bound: that time range is already in blocks. Also the
    /// first samples of a new series older than what the head accepts for new series (see
    /// [`Db::append`]).
    TooOld,
    /// A new series, refused because the head holds [`Options::max_series`] series.
    SeriesLimit,
    /// A new series past [`Options::max_new_series_per_append`] in one append.
    NewSeriesLimit,
    /// Older than the out-of-order window reaches (when it is on): the head's newest sample
    /// minus [`Options::out_of_order_window`]. Counted with [`AppendReport::too_old`].
    TooOldSample,
}

impl RejectReason {
    /// Prometheus's wording.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::OutOfOrder => "out of order sample",
            RejectReason::DuplicateTimestamp => "duplicate sample for timestamp",
            RejectReason::TooOld => "out of bounds",
            RejectReason::TooOldSample => "too old sample",
            RejectReason::SeriesLimit => "series limit reached: new series refused",
            RejectReason::NewSeriesLimit => "too many new series in one request",
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
    /// Of the samples stored, those the out-of-order window accepted.
    pub out_of_order_appended: u64,
    /// Samples rejected, by reason.
    pub out_of_order: u64,
    /// Samples rejected for a duplicate timestamp with another value.
    pub duplicate_timestamp: u64,
    /// Samples rejected as older than the head's lower bound (already in blocks), or as
    /// too old for a new series.
    pub too_old: u64,
    /// Samples of new series refused by [`Options::max_series`].
    pub series_limit: u64,
    /// Samples of new series refused by [`Options::max_new_series_per_append`].
    pub new_series_limit: u64,
    /// The first rejection, for error messages: reason, series, sample timestamp.
    pub first_rejection: Option<(RejectReason, Labels, i64)>,
}

impl AppendReport {
    /// Samples rejected for any reason.
    pub fn rejected(&self) -> u64 {
        self.out_of_order
            + self.duplicate_timestamp
            + self.too_old
            + self.series_limit
            + self.new_series_limit
    }

    fn reject(&mut self, why: RejectReason, labels: &Labels, t: i64) {
        match why {
            RejectReason::OutOfOrder => self.out_of_order += 1,
            RejectReason::DuplicateTimestamp => self.duplicate_timestamp += 1,
            RejectReason::TooOld | RejectReason::TooOldSample => self.too_old += 1,
            RejectReason::SeriesLimit => self.series_limit += 1,
            RejectReason::NewSeriesLimit => self.new_series_limit += 1,
        }
        if self.first_rejection.is_none() {
            self.first_rejection = Some((why, labels.clone(), t));
        }
    }
}

/// Database statistics: the head, and the blocks on disk.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Blocks on disk.
    pub blocks: u64,
    /// Bytes of the blocks on disk.
    pub block_bytes: u64,
    /// Samples in blocks.
    pub block_samples: u64,
    /// Oldest time covered by a block, if any.
    pub block_min_time: Option<i64>,
    /// Bytes of the WAL (segments and checkpoint).
    pub wal_bytes: u64,
    /// Series in the head (active series).
    pub series: u64,
    /// Samples in the head.
    pub samples: u64,
    /// Bytes of the head's sealed chunks (open chunks, still growing, are not counted).
    pub chunk_bytes: u64,
    /// The head's chunk files (sealed chunks kept in mapped files, not on the heap): files,
    /// bytes written into them, and chunks that could not be written (kept on the heap).
    pub chunk_files: crate::head::mapped::MappedStats,
    /// Distinct interned label strings.
    pub symbols: u64,
    /// Chunks in the head (sealed plus open ones).
    pub chunks: u64,
    /// Out-of-order samples in the head (also counted in `samples`).
    pub ooo_samples: u64,
    /// Oldest sample timestamp, if any.
    pub min_time: Option<i64>,
    /// Newest sample timestamp, if any.
    pub max_time: Option<i64>,
}

/// Counters of the background work and of damage found, for the server's `/metrics`.
#[derive(Debug, Default)]
pub struct EngineCounters {
    /// Blocks cut from the head.
    pub head_cuts: AtomicU64,
    /// Blocks of out-of-order samples written by head cuts.
    pub ooo_blocks: AtomicU64,
    /// Writes that changed data behind some series' newest sample: appends that stored
    /// out-of-order samples, and deletes. See [`Db::history_generation`].
    pub history_changes: AtomicU64,
    /// Failed head cuts (the data stays in the head and the WAL; retried later).
    pub head_cut_failures: AtomicU64,
    /// Checkpoints written.
    pub checkpoints: AtomicU64,
    /// Failed checkpoints.
    pub checkpoint_failures: AtomicU64,
    /// Compactions run.
    pub compactions: AtomicU64,
    /// Failed compactions.
    pub compaction_failures: AtomicU64,
    /// Blocks deleted by retention (time or size).
    pub retention_deletions: AtomicU64,
    /// Blocks found corrupted and moved aside.
    pub corrupted_blocks: AtomicU64,
    /// Series removed from the head by truncation (churn).
    pub series_removed: AtomicU64,
    /// Failed WALs recovered (fresh segment plus a checkpoint of the head).
    pub wal_recoveries: AtomicU64,
    /// Failed attempts to recover the WAL (retried with backoff).
    pub wal_recovery_failures: AtomicU64,
    /// Samples dropped at replay because their series definition was lost.
    pub replay_unknown_series_samples: AtomicU64,
}

/// What readers see: the blocks and the head's lower bound, replaced together.
#[derive(Debug, Default)]
pub(crate) struct Published {
    /// Blocks, sorted by (min time, id).
    pub blocks: Vec<Arc<Block>>,
    /// Readers use head data from this timestamp on.
    pub head_bound: i64,
}

/// Wakes the background worker.
#[derive(Default)]
pub(crate) struct Signal {
    pending: Mutex<bool>,
    cv: Condvar,
    stop: AtomicBool,
}

pub(crate) struct Inner {
    pub head: Arc<Head>,
    /// `None` for a read-only database.
    pub wal: Option<Wal>,
    pub dir: PathBuf,
    pub opts: Options,
    pub published: RwLock<Arc<Published>>,
    /// Serialises head cuts, checkpoints, compaction, retention and admin operations.
    pub maint: Mutex<()>,
    pub counters: EngineCounters,
    pub signal: Signal,
    /// The data epoch and stable bound (`epoch.rs`).
    pub epoch: epoch::DataEpoch,
}

impl Inner {
    fn wal(&self) -> Result<&Wal> {
        self.wal.as_ref().ok_or(Error::ReadOnly)
    }

    pub(crate) fn blocks_dir(&self) -> PathBuf {
        self.dir.join("blocks")
    }

    pub(crate) fn published(&self) -> Arc<Published> {
        self.published.read().clone()
    }

    /// Wakes the worker if the head spans more than 1.5 block ranges.
    fn maybe_signal(&self) {
        if let Some((lo, hi)) = self.head.time_range() {
            if hi.saturating_sub(lo) > self.opts.block_range / 2 * 3 {
                self.wake_worker();
            }
        }
    }

    /// Wakes the background worker (if there is one).
    fn wake_worker(&self) {
        if !self.opts.background {
            return;
        }
        let mut p = self.signal.pending.lock();
        if !*p {
            *p = true;
            self.signal.cv.notify_one();
        }
    }
}

/// A Strata database. `Send + Sync`: share it as `Arc<Db>`.
pub struct Db {
    inner: Arc<Inner>,
    /// Unique per opened `Db` in this process: tells whose [`SeriesHandle`] is whose.
    id: u64,
    lock: Mutex<Option<File>>,
    replay: ReplayReport,
    worker: Mutex<Option<JoinHandle<()>>>,
}

impl Db {
    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// What WAL replay found when the database was opened.
    pub fn replay_report(&self) -> &ReplayReport {
        &self.replay
    }

    /// True if the database was opened with [`Db::open_read_only`].
    pub fn is_read_only(&self) -> bool {
        self.inner.wal.is_none()
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
    /// non-empty value; [`Error::SeriesLimit`] for a new series past [`Options::max_series`].
    /// A series created here counts against [`Options::max_new_series_per_append`] in the
    /// append that carries its first samples.
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
        match head.get_or_create_hashed(h, &labels) {
            Some((s, created)) => Ok(handle(s, created)),
            None => Err(Error::SeriesLimit {
                limit: head.max_series().unwrap_or(u64::MAX),
                labels: labels.to_string(),
            }),
        }
    }

    /// The series whose labels are exactly `pairs` (names and values as bytes, in name order,
    /// no empty value) if the head holds it, without creating it. A writer can look series up
    /// with this before checking that the bytes are UTF-8: a match is a label set this
    /// database accepted when the series was created. Allocates nothing. Writers that want
    /// the series limits applied per append look series up with this and push the others by
    /// labels ([`Batch::push`]): [`Db::append`] then creates them within the limits.
    pub fn lookup_bytes(&self, pairs: &[(&[u8], &[u8])]) -> Option<SeriesHandle> {
        let h = hash_byte_pairs(pairs.iter().copied());
        let s = self.inner.head.get_by_byte_pairs(h, pairs)?;
        Some(SeriesHandle {
            series: s,
            db: self.id,
            created: false,
        })
    }

    /// The series with these borrowed `(name, value)` pairs if the head holds it, without
    /// creating it (pairs as for [`Db::resolve`]: any order, empty values skipped; invalid
    /// pairs simply find nothing).
    pub fn lookup(&self, pairs: &[(&str, &str)]) -> Option<SeriesHandle> {
        let head = &self.inner.head;
        let h = hash_pairs(pairs.iter().filter(|(_, v)| !v.is_empty()).copied());
        let s = head.get_by_pairs(h, pairs).or_else(|| {
            // Unsorted or duplicate-free but unordered pairs: the canonical set.
            let labels = Labels::from_pairs(pairs).ok()?;
            (!labels.eq_pairs(pairs)).then(|| head.get(&labels))?
        })?;
        Some(SeriesHandle {
            series: s,
            db: self.id,
            created: false,
        })
    }

    /// The series for `labels`, created if the limits allow: `budget` is what is left of
    /// the append's new-series allowance. A new series none of whose `samples` is at or
    /// after `floor` is not created (its samples would all be refused as `too_old`).
    fn series_within(
        &self,
        labels: &Labels,
        samples: &[Sample],
        (floor, too_old): (i64, RejectReason),
        budget: &mut u64,
    ) -> std::result::Result<(Arc<MemSeries>, bool), RejectReason> {
        let head = &self.inner.head;
        if let Some(s) = head.get(labels) {
            return Ok((s, false));
        }
        if samples.iter().all(|s| s.t < floor) {
            return Err(too_old);
        }
        if *budget == 0 {
            return Err(RejectReason::NewSeriesLimit);
        }
        let (s, created) = head
            .get_or_create(labels)
            .ok_or(RejectReason::SeriesLimit)?;
        *budget -= u64::from(created);
        Ok((s, created))
    }

    /// Appends a batch; returns once the accepted samples are in the WAL (and durable as the
    /// fsync policy requires). Rejected samples are counted in the report, not errors; an `Err`
    /// means nothing of this batch was stored.
    pub fn append(&self, batch: &Batch) -> Result<AppendReport> {
        let wal = self.inner.wal()?;
        let empty = batch.series.iter().find_map(|(t, _, _)| match t {
            Target::Labels(l) if l.is_empty() => Some(l),
            _ => None,
        });
        if let Some(l) = empty {
            return Err(Error::InvalidLabels(format!(
                "empty label set ({l}) cannot identify a series"
            )));
        }
        // A series removed by truncation between resolving and locking it makes the append
        // start over with fresh series; truncation removes only series without recent data,
        // so this converges at once in practice.
        let mut attempt = 0;
        loop {
            let res = self.try_append(batch, wal, attempt > 0);
            if res.is_err() && wal.failure().is_some() {
                // The worker recovers the WAL; start now rather than at its next round.
                self.inner.wake_worker();
            }
            if let Some(report) = res? {
                return Ok(report);
            }
            attempt += 1;
            std::thread::yield_now();
        }
    }

    /// The oldest timestamp a series without samples may start at: the head's oldest
    /// sample, or an hour (half a block range) before its newest if that is older, so
    /// parallel senders' slightly older samples still land; no bound while the head is
    /// empty or without background maintenance (bulk loaders append in any order).
    fn new_series_floor(&self) -> i64 {
        if !self.inner.opts.background {
            return i64::MIN;
        }
        match self.inner.head.time_range() {
            Some((lo, hi)) => lo.min(hi.saturating_sub(self.inner.opts.block_range / 2)),
            None => i64::MIN,
        }
    }

    /// The oldest timestamp the out-of-order window accepts now: the head's newest sample
    /// minus the window; `i64::MAX` (nothing) when the window is off or the head is empty.
    fn ooo_floor(&self) -> i64 {
        let w = self.inner.opts.out_of_order_window;
        if w <= 0 {
            return i64::MAX;
        }
        match self.inner.head.max_time_seen() {
            Some(hi) => hi.saturating_sub(w),
            None => i64::MAX,
        }
    }

    /// One attempt of [`Db::append`]; `None` if a series was removed under it.
    fn try_append(
        &self,
        batch: &Batch,
        wal: &Wal,
        by_labels: bool,
    ) -> Result<Option<AppendReport>> {
        let head = &self.inner.head;
        let mut report = AppendReport::default();
        // 1. Resolve series (entries pushed with a handle of this Db are resolved already),
        //    creating new ones within the series limits.
        let mut budget = self
            .inner
            .opts
            .max_new_series_per_append
            .unwrap_or(u64::MAX);
        let new_series_floor = self.new_series_floor().max(head.min_valid());
        // A new series is created if some sample may land in order or out of order.
        let ooo_floor = self.ooo_floor();
        let creation_floor = (
            new_series_floor.min(ooo_floor),
            if ooo_floor < i64::MAX {
                RejectReason::TooOldSample
            } else {
                RejectReason::TooOld
            },
        );
        let mut entries: Vec<(Arc<MemSeries>, &[Sample], bool)> = Vec::with_capacity(batch.len());
        for (target, start, end) in &batch.series {
            let samples = &batch.samples[*start..*end];
            if samples.is_empty() {
                continue;
            }
            let found = match target {
                Target::Series(h) if h.db == self.id && !by_labels => {
                    if h.created && budget == 0 && !h.series.state.lock().logged {
                        Err(RejectReason::NewSeriesLimit)
                    } else {
                        if h.created {
                            budget = budget.saturating_sub(1);
                        }
                        Ok((h.series.clone(), h.created))
                    }
                }
                Target::Labels(labels) => {
                    self.series_within(labels, samples, creation_floor, &mut budget)
                }
                Target::Series(h) => {
                    self.series_within(&h.series.labels, samples, creation_floor, &mut budget)
                }
            };
            match found {
                Ok((s, created)) => entries.push((s, samples, created)),
                Err(why) => {
                    let labels = match target {
                        Target::Labels(l) => l,
                        Target::Series(h) => &h.series.labels,
                    };
                    for s in samples {
                        report.reject(why, labels, s.t);
                    }
                }
            }
        }
        // 2. Lock in reference order; one guard per distinct series.
        entries.sort_by_key(|(s, _, _)| s.sref);
        let min_valid = head.min_valid();
        let mut guards = Vec::with_capacity(entries.len());
        let mut new_series = Vec::new();
        let mut accepted: Vec<SampleRecord> = Vec::with_capacity(batch.num_samples());
        let mut ooo: Vec<SampleRecord> = Vec::new();
        // Per guard, its ranges of `accepted` and `ooo`, for applying later.
        let mut spans: Vec<[(usize, usize); 2]> = Vec::with_capacity(entries.len());
        let mut i = 0;
        while i < entries.len() {
            let series = &entries[i].0;
            let st = series.state.lock();
            if st.removed {
                return Ok(None);
            }
            // Read under the lock: a head cut raises the bound before it collects chunks
            // (taking this lock), so a sample accepted here is either collected or refused.
            let min_valid = min_valid.max(head.min_valid());
            if !st.logged {
                new_series.push(SeriesRecord {
                    sref: series.sref,
                    labels: series.labels.clone(),
                });
            }
            // 3. Decide every sample of every entry for this series, in batch order.
            let mut last = st.last();
            let start = accepted.len();
            let ostart = ooo.len();
            let mut created = false;
            while i < entries.len() && Arc::ptr_eq(&entries[i].0, series) {
                created |= entries[i].2;
                for &s in entries[i].1 {
                    // Where the in-order chunks cannot take a sample, the out-of-order
                    // window may; `why` is the reason when it does not.
                    let why = match verdict(last, s) {
                        Verdict::Append
                            if s.t < min_valid || (last.is_none() && s.t < new_series_floor) =>
                        {
                            RejectReason::TooOld
                        }
                        Verdict::Append if st.ooo.is_some() && st.value_bits_at(s.t).is_some() => {
                            // Only after a delete moved `last` back below out-of-order data.
                            RejectReason::OutOfOrder
                        }
                        Verdict::Append => {
                            accepted.push(SampleRecord {
                                sref: series.sref,
                                t: s.t,
                                v: s.v,
                            });
                            last = Some(s);
                            continue;
                        }
                        Verdict::Duplicate => {
                            report.duplicates += 1;
                            continue;
                        }
                        Verdict::Reject(_) if s.t < min_valid => RejectReason::TooOld,
                        Verdict::Reject(why) => why,
                    };
                    // A retry re-sends samples already stored: idempotent, not an error.
                    let held = st.value_bits_at(s.t).or_else(|| {
                        ooo[ostart..]
                            .iter()
                            .find(|x| x.t == s.t)
                            .map(|x| x.v.to_bits())
                    });
                    let in_window = s.t >= ooo_floor;
                    match held {
                        Some(bits) if bits == s.v.to_bits() => report.duplicates += 1,
                        Some(_) if in_window => {
                            report.reject(RejectReason::DuplicateTimestamp, &series.labels, s.t)
                        }
                        None if in_window => ooo.push(SampleRecord {
                            sref: series.sref,
                            t: s.t,
                            v: s.v,
                        }),
                        _ if ooo_floor < i64::MAX => {
                            report.reject(RejectReason::TooOldSample, &series.labels, s.t)
                        }
                        _ => report.reject(why, &series.labels, s.t),
                    }
                }
                i += 1;
            }
            report.new_series += created as u64;
            spans.push([(start, accepted.len()), (ostart, ooo.len())]);
            guards.push(st);
        }
        if accepted.is_empty() && ooo.is_empty() && new_series.is_empty() {
            return Ok(Some(report));
        }
        // 4. WAL first.
        let mut records = Vec::with_capacity(3);
        if !new_series.is_empty() {
            records.push(Record::Series(new_series));
        }
        let (lo, hi) = accepted.iter().fold((i64::MAX, i64::MIN), |(lo, hi), s| {
            (lo.min(s.t), hi.max(s.t))
        });
        // Out-of-order samples count for the data epoch too.
        let (olo, ohi) = ooo
            .iter()
            .fold((lo, hi), |(lo, hi), s| (lo.min(s.t), hi.max(s.t)));
        let (n, n_ooo) = (accepted.len() as u64, ooo.len() as u64);
        if n > 0 {
            records.push(Record::Samples(accepted));
        }
        if n_ooo > 0 {
            records.push(Record::OooSamples(ooo));
        }
        let pos = wal.write(&records)?;
        // With fsync per write, durability comes before visibility: a sample the sender is
        // told failed is never queryable (the series stay locked through the fsync, so
        // appends to other series still share it).
        if wal.syncs_each_write() {
            wal.sync_to(pos)?;
        }
        // 5. Apply.
        let (mut in_order, mut out_of_order): (&[SampleRecord], &[SampleRecord]) = (&[], &[]);
        for r in &records {
            match r {
                Record::Samples(v) => in_order = v,
                Record::OooSamples(v) => out_of_order = v,
                _ => {}
            }
        }
        let range = head.chunk_range();
        let files = head.chunk_files();
        let mut d = ChunkFootprint::default();
        for (st, [(start, end), (ostart, oend)]) in guards.iter_mut().zip(spans) {
            st.logged = true;
            for s in &in_order[start..end] {
                st.push_counted(Sample::new(s.t, s.v), range, files, &mut d);
            }
            for s in &out_of_order[ostart..oend] {
                st.insert_ooo(Sample::new(s.t, s.v));
            }
        }
        head.note_chunks(d);
        if n > 0 {
            head.note_samples(n, lo, hi);
        }
        head.note_ooo_samples(n_ooo);
        if n_ooo > 0 {
            self.inner
                .counters
                .history_changes
                .fetch_add(1, Ordering::AcqRel);
        }
        report.appended = n + n_ooo;
        report.out_of_order_appended = n_ooo;
        // 6. With an fsync interval the write to the OS was the acknowledgement: a later
        //    failure of the background fsync is recovered from the head (see `maintain.rs`).
        drop(guards);
        // After the samples are visible: samples at or before the stable bound bump the
        // data epoch (`epoch.rs`), out-of-order ones included.
        self.inner.epoch.note_append(olo, ohi);
        self.inner.maybe_signal();
        Ok(Some(report))
    }

    /// A reader over `[mint, maxt]` (inclusive, ms): the head and every block overlapping
    /// the range, as published at this moment.
    pub fn querier(&self, mint: i64, maxt: i64) -> Querier {
        // Before the snapshot: a drop of late samples after it makes `select` re-read.
        let ooo_drops = self.inner.head.ooo_drops();
        let p = self.inner.published();
        let blocks = p
            .blocks
            .iter()
            .filter(|b| b.meta().overlaps(mint, maxt))
            .cloned()
            .collect();
        let inner = Arc::downgrade(&self.inner);
        let refresh: crate::querier::Refresh = Arc::new(move || {
            inner.upgrade().map(|i| {
                let p = i.published();
                (p.blocks.clone(), p.head_bound)
            })
        });
        Querier::new(
            Sources {
                head: Some((self.inner.head.clone(), p.head_bound)),
                ooo_drops,
                blocks,
                refresh: Some(refresh),
            },
            mint,
            maxt,
        )
    }

    /// Label names of series matching all `matchers` (all series if empty) with data in
    /// `[mint, maxt]`, sorted. Without matchers, block indexes and the head index answer
    /// without reading series (a block counts if its time range overlaps).
    pub fn label_names(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<String>> {
        if matchers.is_empty() {
            return self.with_snapshot(|p| {
                let mut names = std::collections::BTreeSet::new();
                for b in p.blocks.iter().filter(|b| b.meta().overlaps(mint, maxt)) {
                    for n in b.index().label_names() {
                        names.insert(n.to_string());
                    }
                }
                if self.head_overlaps(p.head_bound, mint, maxt) {
                    if self.covers_head(mint, maxt) {
                        names.extend(self.inner.head.index().label_names());
                    } else {
                        for s in self.head_matching(p.head_bound, matchers, mint, maxt) {
                            for l in &s.labels {
                                if !names.contains(&*l.name) {
                                    names.insert(l.name.to_string());
                                }
                            }
                        }
                    }
                }
                Ok(names.into_iter().collect())
            });
        }
        let mut names = std::collections::BTreeSet::new();
        for labels in self.series_labels_checked(matchers, mint, maxt)? {
            for l in &labels {
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
        if matchers.is_empty() {
            return self.with_snapshot(|p| {
                let mut values = std::collections::BTreeSet::new();
                for b in p.blocks.iter().filter(|b| b.meta().overlaps(mint, maxt)) {
                    for v in b.index().label_values(name)? {
                        values.insert(v.to_string());
                    }
                }
                if self.head_overlaps(p.head_bound, mint, maxt) {
                    if self.covers_head(mint, maxt) {
                        values.extend(self.inner.head.index().label_values(name));
                    } else {
                        for s in self.head_matching(p.head_bound, matchers, mint, maxt) {
                            if let Some(v) = s.labels.get(name) {
                                if !values.contains(v) {
                                    values.insert(v.to_string());
                                }
                            }
                        }
                    }
                }
                Ok(values.into_iter().collect())
            });
        }
        let mut values = std::collections::BTreeSet::new();
        for labels in self.series_labels_checked(matchers, mint, maxt)? {
            if let Some(v) = labels.get(name) {
                if !values.contains(v) {
                    values.insert(v.to_string());
                }
            }
        }
        Ok(values.into_iter().collect())
    }

    /// Runs a read over a published snapshot and the head, again over a fresh snapshot if
    /// a head cut truncated the head past the snapshot's bound meanwhile (the read may then
    /// have missed data that moved into a block the snapshot lacks; see `querier.rs`).
    fn with_snapshot<T>(&self, f: impl Fn(&Published) -> Result<T>) -> Result<T> {
        loop {
            let p = self.inner.published();
            let r = f(&p)?;
            if self.inner.head.truncated_to() <= p.head_bound {
                return Ok(r);
            }
        }
    }

    fn head_overlaps(&self, bound: i64, mint: i64, maxt: i64) -> bool {
        if self.inner.head.num_ooo_samples() > 0 {
            return true; // out-of-order data may lie anywhere
        }
        match self.inner.head.time_range() {
            Some((lo, hi)) => lo.max(bound) <= maxt && hi >= mint,
            None => false,
        }
    }

    fn covers_head(&self, mint: i64, maxt: i64) -> bool {
        if self.inner.head.num_ooo_samples() > 0 {
            return false; // out-of-order data may lie outside the range: check each series
        }
        match self.inner.head.time_range() {
            Some((lo, hi)) => mint <= lo && maxt >= hi,
            None => true,
        }
    }

    fn head_matching(
        &self,
        bound: i64,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Vec<Arc<MemSeries>> {
        let head = &self.inner.head;
        let refs = head.index().select(matchers);
        refs.into_iter()
            .filter_map(|r| head.by_ref(r))
            .filter(|s| overlaps_above(&s.state.lock(), bound, mint, maxt))
            .collect()
    }

    /// Label sets of the series matching all `matchers` with data in `[mint, maxt]`, sorted,
    /// without reading chunks. A damaged block index is reported as an error.
    pub fn series_labels_checked(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<Labels>> {
        self.with_snapshot(|p| {
            if !p.blocks.is_empty() {
                return self.querier(mint, maxt).series_labels(matchers);
            }
            let mut v: Vec<Labels> = self
                .head_matching(p.head_bound, matchers, mint, maxt)
                .into_iter()
                .map(|s| s.labels.clone())
                .collect();
            v.sort();
            Ok(v)
        })
    }

    /// [`Db::series_labels_checked`], with a damaged block's series left out (and reported
    /// on stderr).
    pub fn series_labels(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<Labels> {
        match self.series_labels_checked(matchers, mint, maxt) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("strata: listing series: {e}");
                let bound = self.inner.published().head_bound;
                let mut v: Vec<Labels> = self
                    .head_matching(bound, matchers, mint, maxt)
                    .into_iter()
                    .map(|s| s.labels.clone())
                    .collect();
                v.sort();
                v
            }
        }
    }

    /// WAL counters (writes, bytes, fsync rounds, segments); zero for a read-only database.
    pub fn wal_stats(&self) -> crate::wal::WalStats {
        self.inner
            .wal
            .as_ref()
            .map(|w| w.stats())
            .unwrap_or_default()
    }

    /// Number of series per value of label `name` in the head (for status pages).
    pub fn postings_counts(&self, name: &str) -> Vec<(String, usize)> {
        self.inner.head.index().postings_counts(name)
    }

    /// Number of distinct values per label name in the head (for status pages).
    pub fn label_value_counts(&self) -> Vec<(String, usize)> {
        self.inner.head.index().value_counts()
    }

    /// Why the WAL refuses writes, if it does (a failed fsync or write). Appends fail until
    /// the background worker (or [`Db::maintain`]) recovers it: a fresh segment plus a
    /// checkpoint of the head, retried with backoff.
    pub fn wal_failure(&self) -> Option<String> {
        self.inner.wal.as_ref().and_then(Wal::failure)
    }

    /// Marks the WAL failed as a failed fsync would (tests of the failure path).
    #[doc(hidden)]
    pub fn inject_wal_failure(&self, reason: &str) {
        if let Some(w) = &self.inner.wal {
            w.inject_failure(reason);
            self.inner.wake_worker();
        }
    }

    /// The head's (chunks, sealed chunk bytes) as kept incrementally and as a walk of every
    /// series finds them; equal unless the accounting is wrong (for tests).
    #[doc(hidden)]
    pub fn head_chunk_counts_checked(&self) -> ((u64, u64), (u64, u64)) {
        let h = &self.inner.head;
        (h.chunk_counts(), h.chunk_counts_walked())
    }

    /// Counters of background work and damage.
    pub fn counters(&self) -> &EngineCounters {
        &self.inner.counters
    }

    /// Statistics of the head and the blocks.
    pub fn stats(&self) -> Stats {
        let head = &self.inner.head;
        let range = head.time_range();
        let (chunks, chunk_bytes) = head.chunk_counts();
        let p = self.inner.published();
        Stats {
            blocks: p.blocks.len() as u64,
            block_bytes: p.blocks.iter().map(|b| b.size()).sum(),
            block_samples: p.blocks.iter().map(|b| b.meta().stats.num_samples).sum(),
            block_min_time: p.blocks.iter().map(|b| b.meta().min_time).min(),
            wal_bytes: self.inner.wal.as_ref().map_or(0, |w| w.disk_size()),
            series: head.num_series(),
            samples: head.num_samples(),
            chunk_bytes,
            chunk_files: head.chunk_files().map(|f| f.stats()).unwrap_or_default(),
            chunks,
            ooo_samples: head.num_ooo_samples(),
            symbols: head.num_symbols() as u64,
            min_time: range.map(|r| r.0),
            max_time: range.map(|r| r.1),
        }
    }

    /// A number that changes whenever stored data changes other than by samples newer than
    /// their series' newest (out-of-order appends, deletes). Readers that keep state built
    /// from older data (incremental rule windows) rebuild it when this changed since they
    /// read. It is bumped right after such a change is applied, before the write returns
    /// (a reader that sees it unchanged after reading may still have seen the change).
    /// Unlike [`Db::data_epoch`], which ignores changes after the stable bound, every
    /// out-of-order append counts: incremental state may have folded in data of the last
    /// minutes too.
    pub fn history_generation(&self) -> u64 {
        self.inner.counters.history_changes.load(Ordering::Acquire)
    }

    /// The blocks currently published, oldest first.
    pub fn blocks(&self) -> Vec<Arc<Block>> {
        self.inner.published().blocks.clone()
    }

    /// Stops the background worker, flushes and fsyncs the WAL and releases the directory
    /// lock.
    pub fn close(self) -> Result<()> {
        self.stop_worker();
        if let Some(w) = &self.inner.wal {
            w.close()?;
        }
        drop(self.lock.lock().take());
        Ok(())
    }

    fn stop_worker(&self) {
        let s = &self.inner.signal;
        s.stop.store(true, Ordering::Release);
        {
            let _p = s.pending.lock();
            s.cv.notify_all();
        }
        if let Some(h) = self.worker.lock().take() {
            if h.join().is_err() {
                eprintln!("strata: background worker panicked");
            }
        }
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        self.stop_worker();
        if self.lock.lock().is_some() {
            if let Some(w) = &self.inner.wal {
                if let Err(e) = w.close() {
                    eprintln!("strata: closing WAL on drop: {e}");
                }
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

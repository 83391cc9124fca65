//! The head: the in-memory part of the database holding recent data.
//!
//! - Series live in a sharded map keyed by the stable label hash (no global lock on the append
//!   path: an append to existing series takes one shard read lock and the series' own mutex).
//! - Each [`MemSeries`] owns its sealed (immutable, shared) chunks and one open
//!   [`ChunkBuilder`]. A chunk is sealed when it holds its length ([`cut_length`]: 80 to 160
//!   samples, 120 on average, spread so that series filling in step do not all hold full
//!   open chunks at once) or when the next sample falls into another aligned span of the
//!   head's chunk range (the block range, [`CHUNK_RANGE_MS`] by default), so no chunk ever
//!   straddles a block boundary.
//! - The head holds data from its lower bound (`min_valid`) on: everything older is in
//!   blocks. A sample older than the bound is rejected as out of bounds.
//! - Truncation (`truncate.rs`) drops chunks that went into a block and removes series left
//!   without data (marking them `removed` under their lock, so an append that raced with the
//!   removal retries with a fresh series instead of writing into a dead one).
//! - Per series, samples are strictly increasing in time. An older sample is rejected as out of
//!   order, one with the last timestamp and other value bits as a duplicate timestamp; one with
//!   the same timestamp and identical bits is a no-op.
//! - Series references are dense, handed out in ascending order, never reused.
//! - The number of live series is counted as series are created and removed; creating one
//!   past the limit (`set_max_series`) is refused, except at WAL replay, which restores what
//!   was accepted before whatever the limit is now.

mod append;
mod delete;
pub mod mapped;
mod ooo;
mod read;
mod sealed;
mod truncate;

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::chunk::{Chunk, ChunkBuilder, ChunkSummary, MAX_SAMPLES_PER_CHUNK};
use crate::index::postings::SeriesRef;
use crate::index::MemIndex;
use crate::labels::{KeyHasher, Labels, SymbolTable};
use crate::Sample;
use mapped::MappedChunks;

pub use append::{verdict, Verdict};
pub use ooo::{merge_into, OooChunks, OOO_CHUNK_SAMPLES};
pub use read::{chunks_in_range, ooo_chunks_in_range, overlaps, overlaps_above, sealed_in_range};
pub use sealed::SealedChunk;

/// Chunks never span an aligned window of this many milliseconds (2 h).
pub const CHUNK_RANGE_MS: i64 = 2 * 60 * 60 * 1000;

const SHARDS: usize = 64;

/// Mutable per-series state, behind the series' mutex.
#[derive(Debug, Default)]
pub struct SeriesState {
    /// Sealed chunks, oldest first.
    pub sealed: Vec<SealedChunk>,
    /// The open chunk.
    pub open: ChunkBuilder,
    /// True once the series' definition is in the WAL.
    pub logged: bool,
    /// True once truncation removed the series from the head (appenders must re-resolve).
    pub removed: bool,
    /// End (exclusive) of the aligned chunk-range span the open chunk lies in, as an offset
    /// from the open chunk's first timestamp (narrow: every series holds one; saturated, so
    /// a chunk range beyond 49 days cuts chunks earlier, never later), computed when the
    /// open chunk gets its first sample (no division per sample).
    window_left: u32,
    /// Samples at which the open chunk is sealed ([`cut_length`]), set with `window_left`.
    cut_len: u16,
    /// Samples the out-of-order window accepted (None until the first one).
    pub ooo: Option<Box<OooChunks>>,
}

impl SeriesState {
    /// The last in-order sample (None before the first): the open chunk's, or, when a head
    /// cut or a delete left the open chunk empty, the last sealed chunk's (decoded).
    pub fn last(&self) -> Option<Sample> {
        self.open
            .last()
            .or_else(|| self.sealed.last().and_then(|c| c.chunk().iter().last()))
    }

    /// Timestamp of the last in-order sample, without decoding.
    pub fn last_t(&self) -> Option<i64> {
        match self.open.last() {
            Some(s) => Some(s.t),
            None => self.sealed.last().map(SealedChunk::max_time),
        }
    }

    /// Timestamp of the first in-order sample held.
    pub fn min_time(&self) -> Option<i64> {
        match self.sealed.first() {
            Some(c) => Some(c.min_time()),
            None => self.open.min_time(),
        }
    }

    /// True if the series already holds exactly `s` (same timestamp, same value bits). Used
    /// to treat a retried request's older samples as no-ops.
    pub fn contains(&self, s: Sample) -> bool {
        self.value_bits_at(s.t) == Some(s.v.to_bits())
    }

    /// The value bits of the sample at `t`, in-order or out-of-order, if the series holds
    /// one; decodes at most one in-order chunk (and the out-of-order chunks covering `t`).
    pub fn value_bits_at(&self, t: i64) -> Option<u64> {
        let hit = |c: &Chunk| c.iter().seek(t).filter(|x| x.t == t).map(|x| x.v.to_bits());
        let in_order = match self.open.min_time() {
            Some(lo) if t >= lo => hit(&self.open.snapshot()),
            _ => {
                let i = self.sealed.partition_point(|c| c.max_time() < t);
                self.sealed
                    .get(i)
                    .filter(|c| c.min_time() <= t)
                    .and_then(|c| hit(&c.chunk()))
            }
        };
        in_order.or_else(|| self.ooo.as_ref().and_then(|o| o.value_bits_at(t)))
    }

    /// Stores an out-of-order sample whose timestamp the series does not hold yet.
    pub fn insert_ooo(&mut self, s: Sample) {
        self.ooo.get_or_insert_with(Default::default).insert(s);
    }

    /// Out-of-order samples held.
    pub fn ooo_samples(&self) -> u64 {
        self.ooo.as_ref().map_or(0, |o| o.num_samples())
    }

    /// What the series' chunks count towards the head's totals: (sealed chunks, bytes of
    /// sealed chunks, open chunks). Walks the sealed chunks: for the rare operations that
    /// rewrite them (truncation, deletes), not for appends.
    pub(crate) fn footprint(&self) -> ChunkFootprint {
        ChunkFootprint {
            sealed: self.sealed.len() as i64,
            sealed_bytes: self.sealed.iter().map(|c| c.encoded_len() as i64).sum(),
            open: i64::from(!self.open.is_empty()),
        }
    }

    /// [`SeriesState::push`], adding what it changed to `d` without walking the chunks.
    pub(crate) fn push_counted(
        &mut self,
        s: Sample,
        chunk_range: i64,
        files: Option<&MappedChunks>,
        d: &mut ChunkFootprint,
    ) {
        let was_empty = self.open.is_empty();
        if self.push(s, chunk_range, files) {
            d.sealed += 1;
            d.sealed_bytes += self.sealed.last().map_or(0, |c| c.encoded_len() as i64);
        } else if was_empty {
            d.open += 1;
        }
    }

    /// Appends a sample already checked to be newer than `last`; chunks never straddle an
    /// aligned span of `chunk_range` ms. A chunk it seals goes into `files` if given (and
    /// stays on the heap if that fails). Returns true if it sealed one.
    pub fn push(&mut self, s: Sample, chunk_range: i64, files: Option<&MappedChunks>) -> bool {
        let mut sealed_one = false;
        if !self.open.is_empty()
            && (self.open.len() >= usize::from(self.cut_len)
                || s.t.saturating_sub(self.open.first_t()) >= i64::from(self.window_left))
        {
            // A chunk going into a file takes its summary along, computed from the columns
            // sealing decodes anyway; one kept on the heap has none.
            let (c, summary) = self.open.seal_with_summary(files.is_some());
            self.keep_sealed(c, summary.as_ref(), files);
            sealed_one = true;
        }
        if self.open.is_empty() {
            let end =
                s.t.div_euclid(chunk_range)
                    .saturating_add(1)
                    .saturating_mul(chunk_range);
            self.window_left = u32::try_from(end.saturating_sub(s.t)).unwrap_or(u32::MAX);
            self.cut_len = cut_length(s.t);
        }
        self.open.push(s.t, s.v);
        sealed_one
    }

    /// Adds a sealed chunk (newer than every chunk held), in `files` if given, with
    /// `summary` (which must be the summary of its samples) beside it there.
    pub fn keep_sealed(
        &mut self,
        c: Chunk,
        summary: Option<&ChunkSummary>,
        files: Option<&MappedChunks>,
    ) {
        let c = files
            .and_then(|f| f.store(&c, summary))
            .unwrap_or_else(|| SealedChunk::from(c));
        // One slot at a time: a series seals a chunk every half hour or so, and a head of
        // many series would otherwise hold up to half of these lists unused.
        self.sealed.reserve_exact(1);
        self.sealed.push(c);
    }
}

/// How far a head chunk's length may be from [`MAX_SAMPLES_PER_CHUNK`] either way.
pub const CHUNK_LENGTH_SPREAD: usize = 40;

/// The number of samples at which an open chunk whose first sample is at `t` is sealed:
/// [`MAX_SAMPLES_PER_CHUNK`] on average, spread evenly over +-[`CHUNK_LENGTH_SPREAD`] by a
/// hash of `t`.
///
/// Series created together (a restart, a new fleet) and every series after an aligned
/// chunk-range boundary fill their open chunks in step; with one fixed length they would all
/// hold a nearly full open chunk at the same moment, and the head's peak memory would be
/// that of full open chunks for every series. Spread lengths keep the open chunks at
/// different fill levels (about two thirds of the peak for +-40 samples), with as many
/// chunks as before. Series scraped together share timestamps and so lengths; targets'
/// scrape phases differ.
#[inline]
pub fn cut_length(t: i64) -> u16 {
    let h = (t as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32;
    let span = 2 * CHUNK_LENGTH_SPREAD as u64 + 1;
    (MAX_SAMPLES_PER_CHUNK - CHUNK_LENGTH_SPREAD + (h % span) as usize) as u16
}

/// Chunk counts of a series, or changes to the head's totals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ChunkFootprint {
    pub sealed: i64,
    pub sealed_bytes: i64,
    pub open: i64,
}

impl ChunkFootprint {
    /// `after - before`.
    pub fn delta(before: ChunkFootprint, after: ChunkFootprint) -> ChunkFootprint {
        ChunkFootprint {
            sealed: after.sealed - before.sealed,
            sealed_bytes: after.sealed_bytes - before.sealed_bytes,
            open: after.open - before.open,
        }
    }

    fn is_zero(&self) -> bool {
        *self == ChunkFootprint::default()
    }
}

/// One series in the head.
#[derive(Debug)]
pub struct MemSeries {
    /// Dense reference.
    pub sref: SeriesRef,
    /// Labels (interned).
    pub labels: Labels,
    /// Mutable state.
    pub state: Mutex<SeriesState>,
}

/// A series of one `Db`, resolved by `Db::resolve`: pass it to `Batch::push_series` to append
/// without looking the series up again. Cheap to clone (a reference count).
#[derive(Clone, Debug)]
pub struct SeriesHandle {
    pub(crate) series: Arc<MemSeries>,
    /// Id of the `Db` that resolved it.
    pub(crate) db: u64,
    pub(crate) created: bool,
}

impl SeriesHandle {
    /// The series' labels (interned).
    pub fn labels(&self) -> &Labels {
        &self.series.labels
    }
    /// The series' reference.
    pub fn series_ref(&self) -> SeriesRef {
        self.series.sref
    }
    /// True if the `Db::resolve` call that returned this handle created the series.
    pub fn created(&self) -> bool {
        self.created
    }
}

/// Series by label-set hash: the first series of each hash in `one` (16-byte entries, one
/// per series in practice), the rare others sharing a hash (a collision) in `more`, which
/// holds a hash only while `one` does.
#[derive(Default)]
struct ByHash {
    one: HashMap<u64, Arc<MemSeries>, BuildHasherDefault<KeyHasher>>,
    more: HashMap<u64, Vec<Arc<MemSeries>>, BuildHasherDefault<KeyHasher>>,
}

impl ByHash {
    /// The series under hash `h` that `pred` accepts.
    fn find(&self, h: u64, pred: impl Fn(&MemSeries) -> bool) -> Option<&Arc<MemSeries>> {
        let first = self.one.get(&h)?;
        if pred(first) {
            return Some(first);
        }
        self.more.get(&h)?.iter().find(|s| pred(s))
    }

    /// Adds `s` under hash `h`.
    fn push(&mut self, h: u64, s: Arc<MemSeries>) {
        match self.one.entry(h) {
            Entry::Vacant(e) => {
                e.insert(s);
            }
            Entry::Occupied(_) => {
                self.more.entry(h).or_default().push(s);
            }
        }
    }

    /// Removes `s` (the same series, not equal labels) from under hash `h`.
    fn remove(&mut self, h: u64, s: &Arc<MemSeries>) {
        let Entry::Occupied(mut more) = self.more.entry(h) else {
            // Alone under its hash (or absent).
            if self.one.get(&h).is_some_and(|x| Arc::ptr_eq(x, s)) {
                self.one.remove(&h);
            }
            return;
        };
        if self.one.get(&h).is_some_and(|x| Arc::ptr_eq(x, s)) {
            // Another series of the hash takes its place in `one`.
            if let Some(next) = more.get_mut().pop() {
                self.one.insert(h, next);
            }
        } else {
            more.get_mut().retain(|x| !Arc::ptr_eq(x, s));
        }
        if more.get().is_empty() {
            more.remove();
        }
    }

    /// Every series under hash `h` (for tests).
    #[cfg(test)]
    fn under(&self, h: u64) -> Vec<SeriesRef> {
        let more = self.more.get(&h).into_iter().flatten();
        self.one
            .get(&h)
            .into_iter()
            .chain(more)
            .map(|s| s.sref)
            .collect()
    }
}

/// The head.
pub struct Head {
    by_hash: Vec<RwLock<ByHash>>,
    by_ref: Vec<RwLock<HashMap<SeriesRef, Arc<MemSeries>>>>,
    index: RwLock<MemIndex>,
    symbols: Arc<SymbolTable>,
    next_ref: AtomicU64,
    /// Series in the head (aliases from replay not counted).
    live: AtomicU64,
    /// Most series the head may hold; `u64::MAX` for no limit.
    max_series: AtomicU64,
    samples: AtomicU64,
    /// Out-of-order samples held (also counted in `samples`).
    ooo_samples: AtomicU64,
    /// Truncations that may drop out-of-order samples, counted before they drop any: a
    /// reader that saw another count before reading may have missed some and must re-read
    /// (a flush of late samples alone does not move `truncated_to`).
    ooo_drops: AtomicU64,
    min_time: AtomicI64,
    max_time: AtomicI64,
    /// Samples older than this are in blocks (or were never accepted): the head's bound.
    min_valid: AtomicI64,
    /// Totals of every series' [`ChunkFootprint`], kept as chunks are sealed, dropped and
    /// rewritten (so `/metrics` never walks the series).
    sealed_chunks: AtomicI64,
    sealed_bytes: AtomicI64,
    open_chunks: AtomicI64,
    /// The highest bound truncation has dropped chunks below (set before it drops any):
    /// a reader whose snapshot bound is lower may have missed chunks and must re-read.
    truncated_to: AtomicI64,
    chunk_range: i64,
    /// Where sealed chunks go (`None`: they stay on the heap).
    files: Option<MappedChunks>,
}

impl Default for Head {
    fn default() -> Self {
        Head::new(CHUNK_RANGE_MS)
    }
}

impl Head {
    /// An empty head whose chunks never straddle an aligned span of `chunk_range` ms.
    pub fn new(chunk_range: i64) -> Head {
        Head {
            by_hash: (0..SHARDS).map(|_| RwLock::default()).collect(),
            by_ref: (0..SHARDS).map(|_| RwLock::default()).collect(),
            index: RwLock::default(),
            symbols: Arc::new(SymbolTable::default()),
            next_ref: AtomicU64::new(1),
            live: AtomicU64::new(0),
            max_series: AtomicU64::new(u64::MAX),
            samples: AtomicU64::new(0),
            ooo_samples: AtomicU64::new(0),
            ooo_drops: AtomicU64::new(0),
            min_time: AtomicI64::new(i64::MAX),
            max_time: AtomicI64::new(i64::MIN),
            min_valid: AtomicI64::new(i64::MIN),
            sealed_chunks: AtomicI64::new(0),
            sealed_bytes: AtomicI64::new(0),
            open_chunks: AtomicI64::new(0),
            truncated_to: AtomicI64::new(i64::MIN),
            chunk_range: chunk_range.max(1),
            files: None,
        }
    }

    /// Keeps sealed chunks in files of `dir` (see [`mapped`]) instead of on the heap,
    /// deleting the files an earlier process left there.
    pub fn map_chunks_in(&mut self, dir: &std::path::Path) -> crate::Result<()> {
        self.map_chunks_with(dir, mapped::SEGMENT_BYTES)
    }

    /// [`Head::map_chunks_in`] with files of `segment_bytes` bytes.
    pub(crate) fn map_chunks_with(
        &mut self,
        dir: &std::path::Path,
        segment_bytes: u64,
    ) -> crate::Result<()> {
        self.files = Some(MappedChunks::open(dir, segment_bytes)?);
        Ok(())
    }

    /// The files sealed chunks go into, if the head keeps them in files.
    pub fn chunk_files(&self) -> Option<&MappedChunks> {
        self.files.as_ref()
    }

    /// The chunk range (ms): chunks never straddle an aligned span of it.
    pub fn chunk_range(&self) -> i64 {
        self.chunk_range
    }

    /// The lower bound: samples older than this are refused (they belong in blocks).
    pub fn min_valid(&self) -> i64 {
        self.min_valid.load(Ordering::Acquire)
    }

    /// The highest bound the head was truncated to (`i64::MIN` if never).
    pub fn truncated_to(&self) -> i64 {
        self.truncated_to.load(Ordering::Acquire)
    }

    /// Raises the lower bound (never lowers it).
    pub(crate) fn raise_min_valid(&self, t: i64) {
        self.min_valid.fetch_max(t, Ordering::AcqRel);
    }

    /// Limits the number of series the head holds (`None`: no limit). Series already held
    /// stay when the limit is lowered below their number; new ones are refused until enough
    /// go away.
    pub fn set_max_series(&self, max: Option<u64>) {
        self.max_series
            .store(max.unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// The series limit, if any.
    pub fn max_series(&self) -> Option<u64> {
        match self.max_series.load(Ordering::Relaxed) {
            u64::MAX => None,
            n => Some(n),
        }
    }

    /// Counts one more series if the limit allows it.
    fn reserve_series(&self) -> bool {
        let max = self.max_series.load(Ordering::Relaxed);
        self.live
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok()
    }

    /// The symbol table (shared with the blocks' indexes).
    pub fn symbols(&self) -> &Arc<SymbolTable> {
        &self.symbols
    }
    /// The series with exactly these labels, if present.
    pub fn get(&self, labels: &Labels) -> Option<Arc<MemSeries>> {
        let h = labels.stable_hash();
        let shard = self.by_hash[(h as usize) % SHARDS].read();
        shard.find(h, |s| &s.labels == labels).cloned()
    }

    /// The series whose labels are exactly `pairs` (bytes, in name order, no empty value),
    /// looked up under `hash`, which must be [`crate::labels::hash_byte_pairs`] of them.
    /// Allocates nothing.
    pub fn get_by_byte_pairs(&self, hash: u64, pairs: &[(&[u8], &[u8])]) -> Option<Arc<MemSeries>> {
        let shard = self.by_hash[(hash as usize) % SHARDS].read();
        shard.find(hash, |s| s.labels.eq_byte_pairs(pairs)).cloned()
    }

    /// The series whose labels equal the borrowed `pairs` (in name order; pairs with an empty
    /// value are skipped, see [`Labels::eq_pairs`]), looked up under `hash`, which must be
    /// [`crate::labels::hash_pairs`] of the non-empty pairs. Allocates nothing.
    pub fn get_by_pairs(&self, hash: u64, pairs: &[(&str, &str)]) -> Option<Arc<MemSeries>> {
        let shard = self.by_hash[(hash as usize) % SHARDS].read();
        shard.find(hash, |s| s.labels.eq_pairs(pairs)).cloned()
    }

    /// The series for `labels`, created if absent; the flag is true if it was created.
    /// `None` if the series is absent and the series limit refuses a new one.
    pub fn get_or_create(&self, labels: &Labels) -> Option<(Arc<MemSeries>, bool)> {
        self.get_or_create_hashed(labels.stable_hash(), labels)
    }

    /// [`Head::get_or_create`] with the labels' hash already computed. `hash` must be
    /// `labels.stable_hash()` (tests pass others to force collisions).
    pub(crate) fn get_or_create_hashed(
        &self,
        h: u64,
        labels: &Labels,
    ) -> Option<(Arc<MemSeries>, bool)> {
        let shard_of = (h as usize) % SHARDS;
        if let Some(s) = self.by_hash[shard_of]
            .read()
            .find(h, |s| &s.labels == labels)
            .cloned()
        {
            return Some((s, false));
        }
        let mut shard = self.by_hash[shard_of].write();
        if let Some(s) = shard.find(h, |s| &s.labels == labels) {
            return Some((s.clone(), false));
        }
        if !self.reserve_series() {
            return None;
        }
        let sref = self.next_ref.fetch_add(1, Ordering::Relaxed);
        let s = self.insert(sref, labels);
        shard.push(h, s.clone());
        Some((s, true))
    }

    /// Recreates a series with a known reference (WAL replay). Returns the existing series if
    /// the labels are already present.
    pub fn restore(&self, sref: SeriesRef, labels: &Labels) -> Arc<MemSeries> {
        let h = labels.stable_hash();
        let mut shard = self.by_hash[(h as usize) % SHARDS].write();
        if let Some(s) = shard.find(h, |s| &s.labels == labels) {
            // Same labels under another ref: keep one series, alias the other ref to it.
            if s.sref != sref {
                self.by_ref[(sref as usize) % SHARDS]
                    .write()
                    .insert(sref, s.clone());
            }
            return s.clone();
        }
        self.next_ref.fetch_max(sref + 1, Ordering::Relaxed);
        self.live.fetch_add(1, Ordering::AcqRel);
        let s = self.insert(sref, labels);
        s.state.lock().logged = true;
        shard.push(h, s.clone());
        s
    }

    fn insert(&self, sref: SeriesRef, labels: &Labels) -> Arc<MemSeries> {
        let labels = self.symbols.intern_labels(labels);
        let s = Arc::new(MemSeries {
            sref,
            labels,
            state: Mutex::new(SeriesState::default()),
        });
        self.by_ref[(sref as usize) % SHARDS]
            .write()
            .insert(sref, s.clone());
        self.index.write().add(sref, &s.labels);
        s
    }

    /// The series with reference `sref`.
    pub fn by_ref(&self, sref: SeriesRef) -> Option<Arc<MemSeries>> {
        self.by_ref[(sref as usize) % SHARDS]
            .read()
            .get(&sref)
            .cloned()
    }

    /// The index (read-locked).
    pub fn index(&self) -> parking_lot::RwLockReadGuard<'_, MemIndex> {
        self.index.read()
    }

    /// Number of series.
    pub fn num_series(&self) -> u64 {
        self.live.load(Ordering::Acquire)
    }

    /// Every series (aliases from replay counted once), in no particular order.
    pub fn all_series(&self) -> Vec<Arc<MemSeries>> {
        let mut out = Vec::new();
        for shard in &self.by_ref {
            for (&r, s) in shard.read().iter() {
                if r == s.sref {
                    out.push(s.clone());
                }
            }
        }
        out
    }

    /// Number of samples appended.
    pub fn num_samples(&self) -> u64 {
        self.samples.load(Ordering::Relaxed)
    }

    /// Oldest and newest sample timestamps.
    pub fn time_range(&self) -> Option<(i64, i64)> {
        let (lo, hi) = (
            self.min_time.load(Ordering::Relaxed),
            self.max_time.load(Ordering::Relaxed),
        );
        (lo <= hi).then_some((lo, hi))
    }

    /// The newest in-order sample's timestamp ever appended (kept when truncation empties
    /// the head), `None` before the first.
    pub fn max_time_seen(&self) -> Option<i64> {
        let hi = self.max_time.load(Ordering::Relaxed);
        (hi != i64::MIN).then_some(hi)
    }

    /// Raises the newest timestamp seen to at least `t` without adding data (at open, from
    /// the blocks, so the out-of-order window has its reference).
    pub(crate) fn raise_max_time_seen(&self, t: i64) {
        self.max_time.fetch_max(t, Ordering::Relaxed);
    }

    /// Distinct interned strings.
    pub fn num_symbols(&self) -> usize {
        self.symbols.len()
    }

    pub(crate) fn note_samples(&self, n: u64, lo: i64, hi: i64) {
        if n == 0 {
            return;
        }
        self.samples.fetch_add(n, Ordering::Relaxed);
        self.min_time.fetch_min(lo, Ordering::Relaxed);
        self.max_time.fetch_max(hi, Ordering::Relaxed);
    }

    /// Counts `n` out-of-order samples stored (they do not move the head's time range).
    pub(crate) fn note_ooo_samples(&self, n: u64) {
        self.samples.fetch_add(n, Ordering::Relaxed);
        self.ooo_samples.fetch_add(n, Ordering::Relaxed);
    }

    /// How many truncations may have dropped out-of-order samples so far (see the field).
    pub fn ooo_drops(&self) -> u64 {
        self.ooo_drops.load(Ordering::Acquire)
    }

    /// Out-of-order samples in the head.
    pub fn num_ooo_samples(&self) -> u64 {
        self.ooo_samples.load(Ordering::Relaxed)
    }

    /// Adds a change of chunk counts to the head's totals.
    pub(crate) fn note_chunks(&self, d: ChunkFootprint) {
        if d.is_zero() {
            return;
        }
        self.sealed_chunks.fetch_add(d.sealed, Ordering::Relaxed);
        self.sealed_bytes
            .fetch_add(d.sealed_bytes, Ordering::Relaxed);
        self.open_chunks.fetch_add(d.open, Ordering::Relaxed);
    }

    /// The sum of every series' [`ChunkFootprint`] (walks and locks every series).
    fn walk_chunks(&self) -> ChunkFootprint {
        let mut t = ChunkFootprint::default();
        for s in self.all_series() {
            let f = s.state.lock().footprint();
            t.sealed += f.sealed;
            t.sealed_bytes += f.sealed_bytes;
            t.open += f.open;
        }
        t
    }

    /// Sets the totals from a walk of every series (after WAL replay, which builds series
    /// without counting).
    pub(crate) fn recount_chunks(&self) {
        let t = self.walk_chunks();
        self.sealed_chunks.store(t.sealed, Ordering::Relaxed);
        self.sealed_bytes.store(t.sealed_bytes, Ordering::Relaxed);
        self.open_chunks.store(t.open, Ordering::Relaxed);
    }

    /// Chunks in the head (sealed plus open) and bytes of its sealed chunks, from counters
    /// kept as chunks change (no walk).
    pub fn chunk_counts(&self) -> (u64, u64) {
        let g = |a: &AtomicI64| a.load(Ordering::Relaxed).max(0) as u64;
        (
            g(&self.sealed_chunks) + g(&self.open_chunks),
            g(&self.sealed_bytes),
        )
    }

    /// [`Head::chunk_counts`] computed by walking every series (tests check the counters
    /// against it).
    pub fn chunk_counts_walked(&self) -> (u64, u64) {
        let t = self.walk_chunks();
        ((t.sealed + t.open) as u64, t.sealed_bytes as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::hash_pairs;

    /// Every series holds one of these: they stay small (measured here so that a change
    /// that grows them is seen). The builder's 8 bytes for a reader's mark (a tail's
    /// decoding state) came from its bit writer's buffer, a boxed slice instead of a `Vec`.
    #[test]
    fn per_series_state_stays_narrow() {
        assert_eq!(std::mem::size_of::<ChunkBuilder>(), 80);
        assert_eq!(std::mem::size_of::<SeriesState>(), 120);
        assert_eq!(std::mem::size_of::<MemSeries>(), 152);
    }

    #[test]
    fn chunk_lengths_spread_evenly_around_the_mean() {
        let lens: Vec<usize> = (0..100_000i64)
            .map(|i| usize::from(cut_length(1_700_000_000_000 + i * 15_000 + i % 7)))
            .collect();
        let (lo, hi) = (
            MAX_SAMPLES_PER_CHUNK - CHUNK_LENGTH_SPREAD,
            MAX_SAMPLES_PER_CHUNK + CHUNK_LENGTH_SPREAD,
        );
        assert_eq!(*lens.iter().min().unwrap(), lo);
        assert_eq!(*lens.iter().max().unwrap(), hi);
        let mean = lens.iter().sum::<usize>() as f64 / lens.len() as f64;
        assert!((mean - MAX_SAMPLES_PER_CHUNK as f64).abs() < 1.0, "{mean}");
        let below = lens.iter().filter(|&&n| n < MAX_SAMPLES_PER_CHUNK).count();
        assert!((45_000..55_000).contains(&below), "{below}");
    }

    /// Series that start together (each target with its own scrape phase) and fill in step
    /// seal their chunks at their own lengths, so at no moment do they all hold a full open
    /// chunk; every chunk not cut by the chunk range has its length.
    #[test]
    fn series_filling_in_step_do_not_fill_their_open_chunks_together() {
        let range = 7_200_000;
        let mut series: Vec<SeriesState> = (0..300).map(|_| SeriesState::default()).collect();
        let mut peak = 0;
        for round in 0..470i64 {
            for (i, st) in series.iter_mut().enumerate() {
                let t = 1_000 + i as i64 * 37 + round * 15_000;
                st.push(Sample::new(t, round as f64), range, None);
            }
            peak = peak.max(series.iter().map(|s| s.open.len()).sum::<usize>());
        }
        let full = series.len() * MAX_SAMPLES_PER_CHUNK;
        assert!(peak * 4 < full * 3, "peak {peak} of {full}");
        for st in &series {
            for c in st.sealed.iter().map(SealedChunk::chunk) {
                assert_eq!(c.num_samples(), usize::from(cut_length(c.min_time())));
            }
        }
    }

    #[test]
    fn colliding_hashes_keep_series_apart() {
        let head = Head::default();
        let a = Labels::from_pairs(&[("__name__", "up"), ("job", "a")]).unwrap();
        let b = Labels::from_pairs(&[("__name__", "up"), ("job", "b")]).unwrap();
        // Force both sets under one hash, as a real xxh3 collision would.
        let (sa, created_a) = head.get_or_create_hashed(42, &a).unwrap();
        let (sb, created_b) = head.get_or_create_hashed(42, &b).unwrap();
        assert!(created_a && created_b);
        assert_ne!(sa.sref, sb.sref);
        let by_pairs = |p: &[(&str, &str)]| head.get_by_pairs(42, p).map(|s| s.sref);
        assert_eq!(by_pairs(&[("__name__", "up"), ("job", "a")]), Some(sa.sref));
        assert_eq!(by_pairs(&[("__name__", "up"), ("job", "b")]), Some(sb.sref));
        assert_eq!(by_pairs(&[("__name__", "up"), ("job", "c")]), None);
        let (again, created) = head.get_or_create_hashed(42, &b).unwrap();
        assert!(!created && Arc::ptr_eq(&again, &sb));
        // The real hash finds nothing: the sets were filed under the forced one.
        let real = hash_pairs([("__name__", "up"), ("job", "a")].into_iter());
        assert!(head
            .get_by_pairs(real, &[("__name__", "up"), ("job", "a")])
            .is_none());
    }

    #[test]
    fn series_sharing_a_hash_are_kept_apart_and_removed_one_by_one() {
        let series = |i: u64| {
            Arc::new(MemSeries {
                sref: i,
                labels: Labels::from_pairs(&[("i", &i.to_string())]).unwrap(),
                state: Mutex::new(SeriesState::default()),
            })
        };
        let all: Vec<Arc<MemSeries>> = (1..=5).map(series).collect();
        let mut m = ByHash::default();
        assert!(m.under(7).is_empty() && m.find(7, |_| true).is_none());
        for s in &all[..3] {
            m.push(7, s.clone());
        }
        m.push(8, all[3].clone());
        assert_eq!(m.under(7), [1, 2, 3]);
        assert_eq!(m.find(7, |s| s.sref == 3).map(|s| s.sref), Some(3));
        assert!(m.find(7, |s| s.sref == 4).is_none());
        m.remove(7, &all[1]);
        assert_eq!(m.under(7), [1, 3]);
        // Removing the first promotes another; the last one leaves nothing behind.
        m.remove(7, &all[0]);
        assert_eq!(m.under(7), [3]);
        assert!(m.more.is_empty());
        m.remove(7, &all[4]);
        assert_eq!(m.under(7), [3]);
        m.remove(7, &all[2]);
        assert!(m.under(7).is_empty() && !m.one.contains_key(&7));
        assert_eq!(m.under(8), [4]);
    }

    #[test]
    fn series_limit_refuses_new_series_only() {
        let head = Head::default();
        head.set_max_series(Some(2));
        let l = |v: &str| Labels::from_pairs(&[("__name__", "up"), ("pod", v)]).unwrap();
        assert!(head.get_or_create(&l("a")).is_some_and(|(_, c)| c));
        assert!(head.get_or_create(&l("b")).is_some_and(|(_, c)| c));
        assert!(head.get_or_create(&l("c")).is_none());
        // Existing series are still found.
        assert!(head.get_or_create(&l("a")).is_some_and(|(_, c)| !c));
        assert_eq!(head.num_series(), 2);
        // Replay restores past the limit: it was accepted before.
        head.restore(10, &l("d"));
        assert_eq!(head.num_series(), 3);
        head.set_max_series(None);
        assert!(head.get_or_create(&l("c")).is_some_and(|(_, c)| c));
        assert_eq!(head.num_series(), 4);
    }
}

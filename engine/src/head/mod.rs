//! The head: the in-memory part of the database holding recent data.
//!
//! - Series live in a sharded map keyed by the stable label hash (no global lock on the append
//!   path: an append to existing series takes one shard read lock and the series' own mutex).
//! - Each [`MemSeries`] owns its sealed (immutable, shared) chunks and one open
//!   [`ChunkBuilder`]. A chunk is sealed when it holds [`MAX_SAMPLES_PER_CHUNK`] samples or when
//!   the next sample falls into another aligned [`CHUNK_RANGE_MS`] span.
//! - Per series, samples are strictly increasing in time. An older sample is rejected as out of
//!   order, one with the last timestamp and other value bits as a duplicate timestamp; one with
//!   the same timestamp and identical bits is a no-op.
//! - Series references are dense, handed out in ascending order, never reused.

mod append;
mod read;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::chunk::{Chunk, ChunkBuilder, MAX_SAMPLES_PER_CHUNK};
use crate::index::postings::SeriesRef;
use crate::index::MemIndex;
use crate::labels::{Labels, SymbolTable};
use crate::Sample;

pub use append::{verdict, Verdict};
pub use read::{chunks_in_range, overlaps};

/// Chunks never span an aligned window of this many milliseconds (2 h).
pub const CHUNK_RANGE_MS: i64 = 2 * 60 * 60 * 1000;

const SHARDS: usize = 64;

/// Mutable per-series state, behind the series' mutex.
#[derive(Debug, Default)]
pub struct SeriesState {
    /// Sealed chunks, oldest first.
    pub sealed: Vec<Chunk>,
    /// The open chunk.
    pub open: ChunkBuilder,
    /// The last sample (None before the first).
    pub last: Option<Sample>,
    /// Timestamp of the first sample held.
    pub min_time: Option<i64>,
    /// True once the series' definition is in the WAL.
    pub logged: bool,
}

impl SeriesState {
    /// True if the series already holds exactly `s` (same timestamp, same value bits). Used
    /// to treat a retried request's older samples as no-ops; decodes at most one chunk.
    pub fn contains(&self, s: Sample) -> bool {
        let hit = |c: &Chunk| {
            c.iter()
                .seek(s.t)
                .is_some_and(|x| x.t == s.t && x.v.to_bits() == s.v.to_bits())
        };
        if let Some(lo) = self.open.min_time() {
            if s.t >= lo {
                return hit(&self.open.snapshot());
            }
        }
        let i = self.sealed.partition_point(|c| c.max_time() < s.t);
        self.sealed
            .get(i)
            .is_some_and(|c| c.min_time() <= s.t && hit(c))
    }

    /// Appends a sample already checked to be newer than `last`.
    pub fn push(&mut self, s: Sample) -> bool {
        let mut sealed_one = false;
        if let Some(first) = self.open.min_time() {
            if self.open.len() >= MAX_SAMPLES_PER_CHUNK
                || first.div_euclid(CHUNK_RANGE_MS) != s.t.div_euclid(CHUNK_RANGE_MS)
            {
                let c = self.open.seal();
                self.sealed.push(c);
                sealed_one = true;
            }
        }
        self.open.push(s.t, s.v);
        self.last = Some(s);
        if self.min_time.is_none() {
            self.min_time = Some(s.t);
        }
        sealed_one
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

/// The head.
pub struct Head {
    by_hash: Vec<RwLock<HashMap<u64, Vec<Arc<MemSeries>>>>>,
    by_ref: Vec<RwLock<HashMap<SeriesRef, Arc<MemSeries>>>>,
    index: RwLock<MemIndex>,
    symbols: SymbolTable,
    next_ref: AtomicU64,
    samples: AtomicU64,
    min_time: AtomicI64,
    max_time: AtomicI64,
}

impl Default for Head {
    fn default() -> Self {
        Head {
            by_hash: (0..SHARDS).map(|_| RwLock::default()).collect(),
            by_ref: (0..SHARDS).map(|_| RwLock::default()).collect(),
            index: RwLock::default(),
            symbols: SymbolTable::default(),
            next_ref: AtomicU64::new(1),
            samples: AtomicU64::new(0),
            min_time: AtomicI64::new(i64::MAX),
            max_time: AtomicI64::new(i64::MIN),
        }
    }
}

impl Head {
    /// The series with exactly these labels, if present.
    pub fn get(&self, labels: &Labels) -> Option<Arc<MemSeries>> {
        let h = labels.stable_hash();
        let shard = self.by_hash[(h as usize) % SHARDS].read();
        shard
            .get(&h)
            .and_then(|v| v.iter().find(|s| &s.labels == labels).cloned())
    }

    /// The series for `labels`, created if absent; the flag is true if it was created.
    pub fn get_or_create(&self, labels: &Labels) -> (Arc<MemSeries>, bool) {
        if let Some(s) = self.get(labels) {
            return (s, false);
        }
        let h = labels.stable_hash();
        let mut shard = self.by_hash[(h as usize) % SHARDS].write();
        let bucket = shard.entry(h).or_default();
        if let Some(s) = bucket.iter().find(|s| &s.labels == labels) {
            return (s.clone(), false);
        }
        let sref = self.next_ref.fetch_add(1, Ordering::Relaxed);
        let s = self.insert(sref, labels);
        bucket.push(s.clone());
        (s, true)
    }

    /// Recreates a series with a known reference (WAL replay). Returns the existing series if
    /// the labels are already present.
    pub fn restore(&self, sref: SeriesRef, labels: &Labels) -> Arc<MemSeries> {
        let h = labels.stable_hash();
        let mut shard = self.by_hash[(h as usize) % SHARDS].write();
        let bucket = shard.entry(h).or_default();
        if let Some(s) = bucket.iter().find(|s| &s.labels == labels) {
            // Same labels under another ref: keep one series, alias the other ref to it.
            if s.sref != sref {
                self.by_ref[(sref as usize) % SHARDS]
                    .write()
                    .insert(sref, s.clone());
            }
            return s.clone();
        }
        self.next_ref.fetch_max(sref + 1, Ordering::Relaxed);
        let s = self.insert(sref, labels);
        s.state.lock().logged = true;
        bucket.push(s.clone());
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
        self.index.read().all().len() as u64
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

    /// Number of chunks and bytes of chunk data (sealed plus open chunks); walks every series.
    pub fn chunk_usage(&self) -> (u64, u64) {
        let (mut chunks, mut bytes) = (0u64, 0u64);
        for shard in &self.by_ref {
            for (&r, s) in shard.read().iter() {
                if r != s.sref {
                    continue; // an alias of a series counted under its own reference
                }
                let st = s.state.lock();
                chunks += st.sealed.len() as u64 + u64::from(!st.open.is_empty());
                bytes += st
                    .sealed
                    .iter()
                    .map(|c| c.as_bytes().len() as u64)
                    .sum::<u64>();
                bytes += st.open.memory_bytes() as u64;
            }
        }
        (chunks, bytes)
    }
}

//! Reading: a [`Querier`] over `[mint, maxt]` merges the head and every block overlapping
//! the range into one sorted list of [`Series`].
//!
//! - A querier is a snapshot: it holds the list of blocks (each an `Arc`, so a block deleted
//!   by compaction or retention meanwhile stays readable) and the head's lower bound as they
//!   were published together, so data moving from the head into a new block is seen exactly
//!   once: head chunks older than the bound are ignored even before they are truncated.
//!   A head cut between the snapshot and `select` publishes a block the snapshot lacks and
//!   then truncates the head below a bound higher than the snapshot's: `select` notices
//!   (the head's `truncated_to` passed its bound after reading, or, for a flush of late
//!   samples alone, which keeps the bound, the head's `ooo_drops` count moved) and reads
//!   again from a fresh snapshot, so no sample is missed.
//! - `select` takes each source's series in label order and merges them by labels; a series
//!   present in several sources gets all their chunks, ordered by start time. Chunks that
//!   overlap in time (overlapping blocks from backfill, or head data duplicated in a block
//!   while a cut or compaction is in flight) mark the series as overlapping; reading it then
//!   merges samples by time and keeps one sample per timestamp (exact duplicates vanish; for
//!   conflicting values the chunk that starts first wins).
//! - Out-of-order samples are read from the head's out-of-order chunks at any age (a head
//!   cut writes them to blocks that overlap and drops them after publishing those); they
//!   overlap in-order chunks, so their series is read as overlapping.
//! - Block chunks are loaded (checksum verified, mapped, not copied) only when a reader asks
//!   for their samples; their index metadata, including the chunk summary, is available
//!   without touching them. Tombstones of a block apply to that block's chunks only.
//! - Sealed head chunks kept in the head's chunk files come with the summary stored beside
//!   them (`head::SealedChunk::summary`), so long windows read them as they read block
//!   chunks. The open chunk's snapshot, out-of-order chunks and head chunks kept on the
//!   heap (rewritten by a delete, sealed or split by a cut, or left there by a failed
//!   write) have none.
//! - A range that starts inside a series' open chunk gets only the chunk's tail: its
//!   samples from the last one before the range on, decoded from the mark the previous
//!   reader left in the open chunk (`ChunkBuilder::tail_into`), so a refreshed short window
//!   decodes the samples that arrived since, not the whole chunk. The head's series are read
//!   in parts on several threads when there are many; the open chunks' copies of a part
//!   share one buffer.

use std::sync::Arc;

use crate::block::{tombstones::is_deleted, Block, BlockSeries};
use crate::chunk::{ArenaSnapshot, Chunk, ChunkSplit, ChunkSummary, TailSnapshot, XorTail};
use crate::error::{Error, Result};
use crate::head::{ooo_chunks_in_range, sealed_in_range, Head, SealedChunk};
use crate::index::postings::SeriesRef;
use crate::index::ChunkRef;
use crate::labels::Labels;
use crate::matcher::Matcher;
use crate::owned_bytes::OwnedBytes;
use crate::Sample;

/// Where a chunk's bytes are.
#[derive(Clone, Debug)]
enum ChunkSource {
    /// In memory (a head chunk, or a snapshot of an open one).
    Mem(Chunk),
    /// The snapshot of an open head chunk that a reader left a mark in, with the summary of
    /// its samples up to the mark and where to decode the rest from.
    Split(Chunk, Box<ChunkSplit>),
    /// The end of an open head chunk, from its last sample before the range on.
    Tail(XorTail),
    /// In a block's chunk segment.
    Block(Arc<Block>, ChunkRef),
    /// All chunks of a series in a block, as one (its index entry's series summary).
    Whole(Arc<Block>, SeriesRef),
}

/// One chunk of a selected series: its time range, sample count and (for block chunks and
/// sealed head chunks in the head's chunk files) summary are known without reading it.
#[derive(Clone, Debug)]
pub struct SeriesChunk {
    min_time: i64,
    max_time: i64,
    num_samples: u32,
    summary: Option<ChunkSummary>,
    /// Deleted intervals that apply to this chunk (from its block's tombstones).
    deleted: Option<Arc<[(i64, i64)]>>,
    src: ChunkSource,
}

impl SeriesChunk {
    fn mem(c: Chunk) -> SeriesChunk {
        SeriesChunk {
            min_time: c.min_time(),
            max_time: c.max_time(),
            num_samples: c.num_samples() as u32,
            summary: None,
            deleted: None,
            src: ChunkSource::Mem(c),
        }
    }

    /// The end of an open head chunk.
    fn tail(t: XorTail) -> SeriesChunk {
        SeriesChunk {
            min_time: t.min_time(),
            max_time: t.max_time(),
            num_samples: t.num_samples() as u32,
            summary: None,
            deleted: None,
            src: ChunkSource::Tail(t),
        }
    }

    /// A sealed head chunk, with the summary its chunk file holds (none if it is kept on
    /// the heap).
    fn sealed(c: &SealedChunk) -> SeriesChunk {
        SeriesChunk {
            summary: c.summary(),
            ..SeriesChunk::mem(c.chunk())
        }
    }

    /// Timestamp of the first sample.
    pub fn min_time(&self) -> i64 {
        self.min_time
    }
    /// Timestamp of the last sample.
    pub fn max_time(&self) -> i64 {
        self.max_time
    }
    /// Samples in the chunk (staleness markers included; deleted ones too).
    pub fn num_samples(&self) -> usize {
        self.num_samples as usize
    }
    /// The chunk's summary, when it is stored (block chunks, and sealed head chunks kept in
    /// the head's chunk files) and still describes what a reader sees (no tombstone touches
    /// the chunk; a head delete rewrites the chunks it touches, which then have none).
    pub fn summary(&self) -> Option<&ChunkSummary> {
        self.summary.as_ref()
    }
    /// True if the chunk is in a block (mapped), false for head chunks.
    pub fn is_persisted(&self) -> bool {
        matches!(self.src, ChunkSource::Block(..) | ChunkSource::Whole(..))
    }
    /// True if this stands for all of a series' chunks in one block (see
    /// [`Querier::select_within`]).
    pub fn is_whole(&self) -> bool {
        matches!(self.src, ChunkSource::Whole(..))
    }
    /// For the snapshot of an open head chunk: the split at the mark the head's last reader
    /// of a short window left in it (the summary of the samples up to the mark, the rest
    /// decoded with [`Series::decode_chunk_rest`]), if there is one.
    pub fn split(&self) -> Option<&ChunkSplit> {
        match &self.src {
            ChunkSource::Split(_, sp) => Some(sp),
            _ => None,
        }
    }
    /// Deleted intervals that apply to this chunk's samples (empty if none).
    pub fn deleted(&self) -> &[(i64, i64)] {
        self.deleted.as_deref().unwrap_or(&[])
    }
    /// Appends all its samples to column vectors (block chunks are read from the map,
    /// checksums verified; a whole series span decodes its chunks one after another).
    pub fn decode_into(&self, ts: &mut Vec<i64>, vs: &mut Vec<f64>) -> Result<()> {
        self.decode_after(i64::MIN, ts, vs)
    }
    /// Appends the timestamps of all its samples (see `Chunk::decode_times_into`; a whole
    /// series span decodes its chunks one after another).
    pub fn decode_times_into(&self, ts: &mut Vec<i64>, scratch: &mut Vec<f64>) -> Result<()> {
        match &self.src {
            ChunkSource::Mem(c) | ChunkSource::Split(c, _) => c.decode_times_into(ts, scratch),
            ChunkSource::Tail(t) => {
                scratch.clear();
                t.decode_into(ts, scratch)
            }
            ChunkSource::Block(b, r) => b.decode_chunk(*r, i64::MIN, true, ts, scratch),
            ChunkSource::Whole(b, r) => {
                for m in b.series_chunks(*r, self.min_time, self.max_time)? {
                    b.decode_chunk(m.chunk_ref, i64::MIN, true, ts, scratch)?;
                }
                Ok(())
            }
        }
    }
    /// Like [`SeriesChunk::decode_into`], but may leave out samples at or before `after`
    /// (see `Chunk::decode_after`; a whole series span also skips its chunks that end by
    /// then). Samples after `after` are all appended.
    pub fn decode_after(&self, after: i64, ts: &mut Vec<i64>, vs: &mut Vec<f64>) -> Result<()> {
        match &self.src {
            ChunkSource::Mem(c) | ChunkSource::Split(c, _) => c.decode_after(after, ts, vs),
            ChunkSource::Tail(t) => t.decode_into(ts, vs),
            ChunkSource::Block(b, r) => b.decode_chunk(*r, after, false, ts, vs),
            ChunkSource::Whole(b, r) => {
                for m in b.series_chunks(*r, self.min_time, self.max_time)? {
                    if m.max_time > after {
                        b.decode_chunk(m.chunk_ref, after, false, ts, vs)?;
                    }
                }
                Ok(())
            }
        }
    }
}

/// A fresh (blocks, head bound) snapshot, for re-reading after a concurrent head cut;
/// `None` once the database is gone.
pub(crate) type Refresh = Arc<dyn Fn() -> Option<(Vec<Arc<Block>>, i64)> + Send + Sync>;

/// What a querier reads: blocks overlapping its range, and the head above its bound.
pub(crate) struct Sources {
    pub head: Option<(Arc<Head>, i64)>,
    /// [`Head::ooo_drops`] read before the blocks and bound were.
    pub ooo_drops: u64,
    pub blocks: Vec<Arc<Block>>,
    /// Where a fresh snapshot comes from (a writable database's published state).
    pub refresh: Option<Refresh>,
}

/// A read view over `[mint, maxt]` (inclusive, ms). Holds no lock.
pub struct Querier {
    src: Sources,
    mint: i64,
    maxt: i64,
}

impl Querier {
    pub(crate) fn new(src: Sources, mint: i64, maxt: i64) -> Querier {
        Querier { src, mint, maxt }
    }

    /// Start of the range (inclusive, ms).
    pub fn mint(&self) -> i64 {
        self.mint
    }
    /// End of the range (inclusive, ms).
    pub fn maxt(&self) -> i64 {
        self.maxt
    }

    /// The blocks this querier reads.
    pub fn blocks(&self) -> &[Arc<Block>] {
        &self.src.blocks
    }

    /// Series matching all `matchers` with samples in the range, sorted by labels.
    pub fn select(&self, matchers: &[Matcher]) -> Result<Vec<Series>> {
        self.select_within(matchers, None)
    }

    /// Like [`Querier::select`]; with `within = Some((lo, hi))` a series' chunks in a block
    /// that all lie inside `(lo, hi]` may come as one [`SeriesChunk`] ([`SeriesChunk::is_whole`])
    /// whose summary is their fold ([`ChunkSummary::fold`]) and whose samples are theirs:
    /// for readers of long windows that need only the summary of what lies inside every
    /// window (block indexes of format version 2, series with enough chunks, no
    /// tombstones). An open head chunk read whole then comes split at the mark the last
    /// reader of a short window left in it ([`SeriesChunk::split`]), or at one this read
    /// leaves at its next-to-last sample.
    pub fn select_within(
        &self,
        matchers: &[Matcher],
        within: Option<(i64, i64)>,
    ) -> Result<Vec<Series>> {
        let (mint, maxt) = (self.mint, self.maxt);
        let mut fresh: Option<(Vec<Arc<Block>>, i64)> = None;
        let mut ooo_drops = self.src.ooo_drops;
        let merged = loop {
            let (blocks, bound) = match &fresh {
                Some((b, bound)) => (b.as_slice(), Some(*bound)),
                None => (
                    self.src.blocks.as_slice(),
                    self.src.head.as_ref().map(|h| h.1),
                ),
            };
            let mut merged: Vec<(Labels, Vec<SeriesChunk>)> = Vec::new();
            for b in blocks {
                let known: Vec<&Labels> = merged.iter().map(|s| &s.0).collect();
                let got = b.select_known(matchers, mint, maxt, within, &known)?;
                drop(known);
                let mut new = Vec::new();
                for (at, s) in got {
                    let (labels, chunks) = block_series(b, s);
                    match at {
                        Some(i) => merged[i].1.extend(chunks),
                        None => new.push((labels, chunks)),
                    }
                }
                join_sorted(&mut merged, new);
            }
            if let (Some((head, _)), Some(bound)) = (&self.src.head, bound) {
                let split = within.is_some();
                join_sorted(
                    &mut merged,
                    head_series(head, bound, matchers, (mint, maxt), split),
                );
                let drops = head.ooo_drops();
                if head.truncated_to() > bound || drops != ooo_drops {
                    if let Some(refresh) = &self.src.refresh {
                        let Some((b, nb)) = refresh() else {
                            // The database is gone: nothing newer to read.
                            break merged;
                        };
                        let b = b
                            .into_iter()
                            .filter(|x| x.meta().overlaps(mint, maxt))
                            .collect();
                        fresh = Some((b, nb));
                        ooo_drops = drops;
                        continue;
                    }
                }
            }
            break merged;
        };
        Ok(merged
            .into_iter()
            .map(|(labels, mut chunks)| {
                let overlapping = if chunks.windows(2).all(|w| w[0].max_time < w[1].min_time) {
                    false
                } else {
                    chunks.sort_by_key(|c| c.min_time);
                    chunks.windows(2).any(|w| w[0].max_time >= w[1].min_time)
                };
                Series {
                    labels,
                    chunks,
                    overlapping,
                    mint,
                    maxt,
                }
            })
            .collect())
    }

    /// Label sets of the series matching all `matchers` with data in the range, sorted,
    /// without touching chunks.
    pub fn series_labels(&self, matchers: &[Matcher]) -> Result<Vec<Labels>> {
        Ok(self
            .select(matchers)?
            .into_iter()
            .map(|s| s.labels)
            .collect())
    }
}

fn block_series(b: &Arc<Block>, s: BlockSeries) -> (Labels, Vec<SeriesChunk>) {
    if let Some(w) = s.whole {
        let c = SeriesChunk {
            min_time: w.min_time,
            max_time: w.max_time,
            num_samples: w.num_samples,
            summary: Some(w.summary),
            deleted: None,
            src: ChunkSource::Whole(b.clone(), s.sref),
        };
        return (s.labels, vec![c]);
    }
    let deleted: Option<Arc<[(i64, i64)]>> = (!s.deleted.is_empty()).then(|| s.deleted.into());
    let chunks = s
        .chunks
        .into_iter()
        .filter(|m| {
            deleted
                .as_deref()
                .is_none_or(|d| !crate::block::covered(d, m.min_time, m.max_time))
        })
        .map(|m| {
            let touched = deleted.as_deref().is_some_and(|d| {
                let i = d.partition_point(|iv| iv.1 < m.min_time);
                d.get(i).is_some_and(|iv| iv.0 <= m.max_time)
            });
            SeriesChunk {
                min_time: m.min_time,
                max_time: m.max_time,
                num_samples: m.num_samples,
                summary: (!touched).then_some(m.summary),
                deleted: if touched { deleted.clone() } else { None },
                src: ChunkSource::Block(b.clone(), m.chunk_ref),
            }
        })
        .collect();
    (s.labels, chunks)
}

/// Selected head series below which [`head_series`] stays on the calling thread: a few
/// hundred microseconds of locking and copying, several times the cost of a thread.
const HEAD_PARALLEL_SERIES: usize = 1_024;

/// Available parallelism, asked once per process (the call reads cgroup files on Linux).
/// The query crate's parallel evaluation uses it too.
pub fn cpus() -> usize {
    static CPUS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// The head's series matching `matchers` with their chunks in `[mint, maxt]` above `bound`,
/// sorted by labels. With `split`, for readers of long windows that read summaries, an open
/// chunk read whole comes split at its mark ([`SeriesChunk::split`]; made if missing).
fn head_series(
    head: &Head,
    bound: i64,
    matchers: &[Matcher],
    (mint, maxt): (i64, i64),
    split: bool,
) -> Vec<(Labels, Vec<SeriesChunk>)> {
    // In-order data below the bound is read from blocks; out-of-order data stays in the
    // head, whatever its age, until a cut writes it out and drops it.
    let lo = mint.max(bound);
    let ooo = head.num_ooo_samples() > 0;
    if lo > maxt && !ooo {
        return Vec::new();
    }
    let refs = head.index().select(matchers);
    let read = |refs: &[SeriesRef]| head_part(head, refs, lo, (mint, maxt), ooo, split);
    let parts = cpus().min(8).min(refs.len() / HEAD_PARALLEL_SERIES);
    let mut out = if parts <= 1 {
        read(&refs)
    } else {
        // Contiguous parts, each read and sorted on its own thread (the first on this one);
        // the sort below then merges their sorted runs.
        let size = refs.len().div_ceil(parts);
        std::thread::scope(|sc| {
            let mut it = refs.chunks(size);
            let first = it.next().unwrap_or_default();
            let handles: Vec<_> = it.map(|p| sc.spawn(move || read(p))).collect();
            let mut out = read(first);
            for h in handles {
                out.extend(h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
            }
            out
        })
    };
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// An open chunk copied into [`head_part`]'s buffer.
enum Open {
    Whole(ArenaSnapshot, Option<Box<ChunkSplit>>),
    Tail(TailSnapshot),
}

/// The chunks of the head series `refs` in `[lo, maxt]` (in-order) and `range`
/// (out-of-order, if `ooo`), sorted by labels, open chunks read whole split at their marks
/// if `split` ([`head_series`]). The open chunks' snapshots and tails share one buffer.
fn head_part(
    head: &Head,
    refs: &[SeriesRef],
    lo: i64,
    (mint, maxt): (i64, i64),
    ooo: bool,
    split: bool,
) -> Vec<(Labels, Vec<SeriesChunk>)> {
    let mut out = Vec::with_capacity(refs.len());
    let mut arena: Vec<u8> = Vec::new();
    // (series in `out`, its open chunk's place among its chunks, the snapshot or tail)
    let mut opens: Vec<(usize, usize, Open)> = Vec::new();
    for &r in refs {
        let Some(s) = head.by_ref(r) else { continue };
        let mut st = s.state.lock();
        // Sealed chunks come with the summary their chunk file holds; the open chunk's
        // snapshot and out-of-order chunks have none. A range starting inside the open
        // chunk needs no sealed chunk, and only the open chunk's end (a tail).
        let mut chunks: Vec<SeriesChunk> = Vec::new();
        let mut open_at = None;
        if lo <= maxt {
            if let Some(t) = st.open.tail_into(lo, &mut arena) {
                open_at = Some((0, Open::Tail(t)));
            } else {
                let (sealed, open) = sealed_in_range(&st, lo, maxt);
                chunks.reserve(sealed.len() + 1);
                chunks.extend(sealed.iter().map(SeriesChunk::sealed));
                if open.is_some() {
                    let (snap, split) = if split {
                        st.open.snapshot_split_into(&mut arena)
                    } else {
                        (st.open.snapshot_into(&mut arena), None)
                    };
                    open_at = Some((chunks.len(), Open::Whole(snap, split)));
                }
            }
        }
        if ooo {
            chunks.extend(
                ooo_chunks_in_range(&st, mint, maxt)
                    .into_iter()
                    .map(SeriesChunk::mem),
            );
        }
        drop(st);
        if let Some((at, snap)) = open_at {
            opens.push((out.len(), at, snap));
        } else if chunks.is_empty() {
            continue;
        }
        out.push((s.labels.clone(), chunks));
    }
    if !opens.is_empty() {
        let arena = OwnedBytes::new(Arc::new(arena));
        for (i, at, open) in opens {
            // The buffer holds every snapshot written into it.
            let c = match open {
                Open::Whole(snap, split) => snap.chunk(&arena).map(|c| match split {
                    Some(sp) => SeriesChunk {
                        src: ChunkSource::Split(c.clone(), sp),
                        ..SeriesChunk::mem(c)
                    },
                    None => SeriesChunk::mem(c),
                }),
                Open::Tail(t) => t.tail(&arena).map(SeriesChunk::tail),
            };
            if let Some(c) = c {
                out[i].1.insert(at, c);
            }
        }
    }
    out.retain(|(_, chunks)| !chunks.is_empty());
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Joins `new` (sorted by labels) into `merged` (sorted by labels), appending the chunks of
/// a label set in both to `merged`'s (so each source's chunks stay together, in source
/// order, before the time sort).
fn join_sorted(merged: &mut Vec<(Labels, Vec<SeriesChunk>)>, new: Vec<(Labels, Vec<SeriesChunk>)>) {
    if new.is_empty() {
        return;
    }
    if merged.is_empty() {
        *merged = new;
        return;
    }
    // The stable sort finds the two sorted runs and merges them.
    let mut all = std::mem::take(merged);
    all.extend(new);
    all.sort_by(|a, b| a.0.cmp(&b.0));
    merged.reserve(all.len());
    for (labels, chunks) in all {
        match merged.last_mut() {
            Some((l, c)) if *l == labels => c.extend(chunks),
            _ => merged.push((labels, chunks)),
        }
    }
}

/// One selected series: its labels and the chunks overlapping the querier's range.
#[derive(Clone, Debug)]
pub struct Series {
    /// The series' labels.
    pub labels: Labels,
    chunks: Vec<SeriesChunk>,
    overlapping: bool,
    mint: i64,
    maxt: i64,
}

/// Keeps the timestamps `ts[base..]` whose value (`vs[i]` for `ts[base + i]`) is not a
/// staleness marker and that `keep` accepts, in place.
fn retain_live(ts: &mut Vec<i64>, base: usize, vs: &[f64], keep: impl Fn(i64) -> bool) {
    let mut w = base;
    for r in base..ts.len() {
        let t = ts[r];
        if vs.get(r - base).is_some_and(|&v| !crate::is_stale(v)) && keep(t) {
            ts[w] = t;
            w += 1;
        }
    }
    ts.truncate(w);
}

/// Keeps the samples of `ts[base..]`/`vs[base..]` (ascending) that lie in `[mint, maxt]`.
fn keep_range(ts: &mut Vec<i64>, vs: &mut Vec<f64>, base: usize, mint: i64, maxt: i64) {
    let (lo, hi) = range_in(ts, base, mint, maxt);
    keep(ts, base, lo, hi);
    keep(vs, base, lo, hi);
}

/// The index range `[lo, hi)` of `ts[base..]` (ascending) within `[mint, maxt]`.
fn range_in(ts: &[i64], base: usize, mint: i64, maxt: i64) -> (usize, usize) {
    let lo = base + ts[base..].partition_point(|&t| t < mint);
    let hi = base + ts[base..].partition_point(|&t| t <= maxt);
    (lo, hi)
}

/// Keeps `v[lo..hi]` at `v[base..]` and drops the rest after `base`.
fn keep<T: Copy>(v: &mut Vec<T>, base: usize, lo: usize, hi: usize) {
    if lo > base {
        v.copy_within(lo..hi, base);
    }
    v.truncate(base + (hi - lo));
}

/// Drops the samples of `ts[base..]` that fall in a deleted interval.
fn drop_deleted(ts: &mut Vec<i64>, vs: &mut Vec<f64>, base: usize, deleted: &[(i64, i64)]) {
    let mut w = base;
    for r in base..ts.len() {
        if !is_deleted(deleted, ts[r]) {
            ts[w] = ts[r];
            vs[w] = vs[r];
            w += 1;
        }
    }
    ts.truncate(w);
    vs.truncate(w);
}

impl Series {
    /// The chunks (oldest first) overlapping the range; they may hold samples outside it.
    pub fn chunks(&self) -> &[SeriesChunk] {
        &self.chunks
    }

    /// True if some chunks overlap in time (reading merges them by timestamp).
    pub fn is_overlapping(&self) -> bool {
        self.overlapping
    }

    /// Appends the series' samples within the querier's range to column vectors: in time
    /// order, one per timestamp, deleted samples left out. Chunks are decoded whole
    /// (column-wise). A chunk that fails its checksum or does not decode is an error, and
    /// nothing of this series is appended then.
    pub fn decode_into(&self, ts: &mut Vec<i64>, vs: &mut Vec<f64>) -> Result<()> {
        let start = ts.len();
        let r = self.decode_chunks(ts, vs, start);
        if r.is_err() {
            ts.truncate(start);
            vs.truncate(start);
        }
        r
    }

    fn decode_chunks(&self, ts: &mut Vec<i64>, vs: &mut Vec<f64>, start: usize) -> Result<()> {
        for c in &self.chunks {
            if c.num_samples == 0 || c.max_time < self.mint || c.min_time > self.maxt {
                continue;
            }
            let base = ts.len();
            c.decode_into(ts, vs)?;
            if let Some(d) = &c.deleted {
                drop_deleted(ts, vs, base, d);
            }
            if !self.overlapping && (c.min_time < self.mint || c.max_time > self.maxt) {
                keep_range(ts, vs, base, self.mint, self.maxt);
            }
        }
        if self.overlapping {
            let mut pairs: Vec<(i64, f64)> = ts[start..]
                .iter()
                .copied()
                .zip(vs[start..].iter().copied())
                .collect();
            // Stable: of equal timestamps the chunk that starts first wins.
            pairs.sort_by_key(|p| p.0);
            pairs.dedup_by_key(|p| p.0);
            ts.truncate(start);
            vs.truncate(start);
            for (t, v) in pairs {
                if t >= self.mint && t <= self.maxt {
                    ts.push(t);
                    vs.push(v);
                }
            }
        }
        Ok(())
    }

    /// Appends the timestamps of the series' samples within the querier's range that are
    /// not staleness markers (all that `count_over_time` and `present_over_time` read), in
    /// time order, deleted samples left out. Chunks whose summary shows no staleness marker
    /// have only their timestamps decoded (see [`Chunk::decode_times_into`]); chunks without
    /// a summary, chunks with markers and overlapping series are decoded whole, their values
    /// in `scratch`. On an error nothing is appended.
    pub fn decode_live_times(&self, ts: &mut Vec<i64>, scratch: &mut Vec<f64>) -> Result<()> {
        let start = ts.len();
        let r = self.live_times(ts, scratch);
        if r.is_err() {
            ts.truncate(start);
        }
        r
    }

    fn live_times(&self, ts: &mut Vec<i64>, scratch: &mut Vec<f64>) -> Result<()> {
        if self.overlapping {
            // The merge needs its columns aligned: decoded apart, then appended.
            let (mut cts, mut cvs) = (Vec::new(), Vec::new());
            self.decode_into(&mut cts, &mut cvs)?;
            let base = ts.len();
            ts.extend_from_slice(&cts);
            retain_live(ts, base, &cvs, |_| true);
            return Ok(());
        }
        for c in &self.chunks {
            self.chunk_live_times(c, ts, scratch)?;
        }
        Ok(())
    }

    /// Chunk `i`, if chunks may be decoded one by one (the series' chunks do not overlap).
    fn chunk_to_decode(&self, i: usize) -> Result<&SeriesChunk> {
        if self.overlapping {
            return Err(Error::InvalidArgument(
                "decoding one chunk of a series with overlapping chunks".into(),
            ));
        }
        self.chunks.get(i).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "chunk {i} of a series with {} chunks",
                self.chunks.len()
            ))
        })
    }

    /// Like [`Series::decode_live_times`] for chunk `i` alone, under the conditions of
    /// [`Series::decode_chunk_into`] (a series whose chunks do not overlap). On an error
    /// nothing is appended.
    pub fn decode_chunk_live_times(
        &self,
        i: usize,
        ts: &mut Vec<i64>,
        scratch: &mut Vec<f64>,
    ) -> Result<()> {
        let c = self.chunk_to_decode(i)?;
        let start = ts.len();
        let r = self.chunk_live_times(c, ts, scratch);
        if r.is_err() {
            ts.truncate(start);
        }
        r
    }

    /// Appends the timestamps of chunk `c`'s non-stale samples within the range (the
    /// series' chunks do not overlap).
    fn chunk_live_times(
        &self,
        c: &SeriesChunk,
        ts: &mut Vec<i64>,
        scratch: &mut Vec<f64>,
    ) -> Result<()> {
        if c.num_samples == 0 || c.max_time < self.mint || c.min_time > self.maxt {
            return Ok(());
        }
        let partial = c.min_time < self.mint || c.max_time > self.maxt;
        if c.summary.as_ref().is_some_and(|s| s.stale == 0) && c.deleted.is_none() {
            let base = ts.len();
            c.decode_times_into(ts, scratch)?;
            if partial {
                let (lo, hi) = range_in(ts, base, self.mint, self.maxt);
                keep(ts, base, lo, hi);
            }
            return Ok(());
        }
        let base = ts.len();
        scratch.clear();
        c.decode_into(ts, scratch)?;
        let deleted = c.deleted();
        let (mint, maxt) = (self.mint, self.maxt);
        retain_live(ts, base, scratch, |t| {
            t >= mint && t <= maxt && !is_deleted(deleted, t)
        });
        Ok(())
    }

    /// The querier range `[mint, maxt]` the series was selected for.
    pub fn range(&self) -> (i64, i64) {
        (self.mint, self.maxt)
    }

    /// Appends the samples of chunk `i` alone (see [`Series::chunks`]) that lie within the
    /// querier's range, deleted samples left out, to column vectors. Only for a series whose
    /// chunks do not overlap ([`Series::is_overlapping`] false): then the chunks' samples,
    /// read one after another, are exactly what [`Series::decode_into`] gives, so a reader
    /// may decode some chunks and use the summaries of others. On an overlapping series, or
    /// an `i` out of bounds, it is [`Error::InvalidArgument`]; a chunk that fails its checks is
    /// an error and nothing is appended.
    pub fn decode_chunk_into(&self, i: usize, ts: &mut Vec<i64>, vs: &mut Vec<f64>) -> Result<()> {
        self.decode_chunk_after(i, i64::MIN, ts, vs)
    }

    /// Like [`Series::decode_chunk_into`], but may leave out samples at or before `after`
    /// (see [`SeriesChunk::decode_after`]); every sample after it is appended.
    pub fn decode_chunk_after(
        &self,
        i: usize,
        after: i64,
        ts: &mut Vec<i64>,
        vs: &mut Vec<f64>,
    ) -> Result<()> {
        let c = self.chunk_to_decode(i)?;
        if c.num_samples == 0 || c.max_time < self.mint || c.min_time > self.maxt {
            return Ok(());
        }
        let base = ts.len();
        let r = c.decode_after(after, ts, vs);
        if let Err(e) = r {
            ts.truncate(base);
            vs.truncate(base);
            return Err(e);
        }
        if let Some(d) = &c.deleted {
            drop_deleted(ts, vs, base, d);
        }
        if c.min_time < self.mint || c.max_time > self.maxt {
            keep_range(ts, vs, base, self.mint, self.maxt);
        }
        Ok(())
    }

    /// For chunk `i` with a split ([`SeriesChunk::split`]): appends its samples after the
    /// split that lie within the querier's range, under the conditions of
    /// [`Series::decode_chunk_into`]. An error if it has none; on an error nothing is
    /// appended.
    pub fn decode_chunk_rest(&self, i: usize, ts: &mut Vec<i64>, vs: &mut Vec<f64>) -> Result<()> {
        let c = self.chunk_to_decode(i)?;
        let ChunkSource::Split(chunk, split) = &c.src else {
            return Err(Error::InvalidArgument(format!("chunk {i} has no split")));
        };
        let base = ts.len();
        split.decode_rest(chunk, ts, vs)?;
        keep_range(ts, vs, base, self.mint, self.maxt);
        Ok(())
    }

    /// Iterates samples within the querier's range, in time order.
    pub fn iter(&self) -> SeriesIter<'_> {
        SeriesIter {
            s: self,
            next_chunk: 0,
            ts: Vec::new(),
            vs: Vec::new(),
            pos: 0,
            last: None,
            error: None,
        }
    }

    /// All samples within the querier's range. Stops early at a corrupt chunk; use
    /// [`Series::try_samples`] to see that as an error.
    pub fn samples(&self) -> Vec<Sample> {
        self.iter().collect()
    }

    /// All samples within the querier's range, or the error of a corrupt chunk.
    pub fn try_samples(&self) -> Result<Vec<Sample>> {
        let (mut ts, mut vs) = (Vec::new(), Vec::new());
        self.decode_into(&mut ts, &mut vs)?;
        Ok(ts
            .into_iter()
            .zip(vs)
            .map(|(t, v)| Sample::new(t, v))
            .collect())
    }
}

/// Iterator over a [`Series`]' samples within the querier's range; decodes one chunk at a
/// time (the whole series at once when its chunks overlap).
pub struct SeriesIter<'a> {
    s: &'a Series,
    next_chunk: usize,
    ts: Vec<i64>,
    vs: Vec<f64>,
    pos: usize,
    /// The last sample returned.
    last: Option<Sample>,
    error: Option<Error>,
}

impl SeriesIter<'_> {
    /// Loads the next chunk (skipping those that end before `t`); false at the end.
    fn load(&mut self, t: i64) -> bool {
        self.ts.clear();
        self.vs.clear();
        self.pos = 0;
        if self.error.is_some() {
            return false;
        }
        if self.s.overlapping {
            if self.next_chunk > 0 {
                return false;
            }
            self.next_chunk = self.s.chunks.len();
            if let Err(e) = self.s.decode_into(&mut self.ts, &mut self.vs) {
                self.error = Some(e);
                return false;
            }
            return !self.ts.is_empty();
        }
        let chunks = &self.s.chunks;
        while self.next_chunk < chunks.len() {
            let c = &chunks[self.next_chunk];
            self.next_chunk += 1;
            if c.max_time < t.max(self.s.mint) || c.num_samples == 0 {
                continue;
            }
            if c.min_time > self.s.maxt {
                self.next_chunk = chunks.len();
                return false;
            }
            let r = c.decode_into(&mut self.ts, &mut self.vs);
            if let Err(e) = r {
                self.error = Some(e);
                self.ts.clear();
                self.vs.clear();
                return false;
            }
            if let Some(d) = &c.deleted {
                drop_deleted(&mut self.ts, &mut self.vs, 0, d);
            }
            keep_range(&mut self.ts, &mut self.vs, 0, self.s.mint, self.s.maxt);
            if !self.ts.is_empty() {
                return true;
            }
        }
        false
    }

    /// Advances to the first sample with timestamp `>= t` and returns it (consumed, as
    /// `next` would have returned it). Forward only: if the last sample returned is already
    /// at or after `t`, it is returned again.
    pub fn seek(&mut self, t: i64) -> Option<Sample> {
        if let Some(s) = self.last {
            if s.t >= t {
                return Some(s);
            }
        }
        loop {
            let j = self.pos + self.ts[self.pos..].partition_point(|&x| x < t);
            if j < self.ts.len() {
                self.pos = j + 1;
                let s = Sample::new(self.ts[j], self.vs[j]);
                self.last = Some(s);
                return Some(s);
            }
            self.pos = self.ts.len();
            if !self.load(t) {
                return None;
            }
        }
    }

    /// The decoding error that ended iteration early, if any.
    pub fn err(&self) -> Option<&Error> {
        self.error.as_ref()
    }
}

impl Iterator for SeriesIter<'_> {
    type Item = Sample;
    fn next(&mut self) -> Option<Sample> {
        if self.pos >= self.ts.len() && !self.load(i64::MIN) {
            return None;
        }
        let s = Sample::new(self.ts[self.pos], self.vs[self.pos]);
        self.pos += 1;
        self.last = Some(s);
        Some(s)
    }
}

//! Compaction: which blocks to merge ([`plan`]) and merging them into one ([`compact`]).
//!
//! Planning, in order of priority:
//! 1. blocks that overlap in time (backfill, and the out-of-order window's blocks) are merged
//!    whatever their level;
//! 2. for each compaction range above the block range (2 h -> 6 h -> 24 h -> 3 d -> 9 d ->
//!    27 d with the default 2 h, capped at a tenth of the retention and at 31 d), two or more
//!    blocks inside one aligned window of that range are merged once the window is complete
//!    (the head has moved past its end), or at once when flushing.
//!
//! Merging streams the source blocks' series in label order (a k-way merge of their
//! indexes), so memory holds one series at a time plus the postings being built. A series
//! whose chunks do not overlap and are untouched by tombstones keeps its chunks as they are
//! (bytes copied, summaries reused); otherwise its samples are decoded, merged by time (one
//! per timestamp: the older block's wins), deleted ranges dropped, and re-encoded. With
//! `chunk_samples > 0` a series is also re-encoded when one of its chunks is shorter than
//! half of it, into chunks of at most `chunk_samples` samples ([`rechunk`]): with the
//! `Blocked` encoding a long chunk costs fewer bytes per sample (one header and one index
//! entry with its summary for many samples) and decodes as fast.
//!
//! Crash safety comes from the block writer (temporary directory, fsync, rename) and from
//! lineage: the new block lists its sources as parents, so if the process dies after the
//! rename but before the sources are deleted, opening the directory deletes the sources;
//! before the rename, the sources are intact and the temporary directory is deleted.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};
use std::path::Path;
use std::sync::Arc;

use crate::block::meta::{BlockMeta, Compaction};
use crate::block::tombstones::is_deleted;
use crate::block::writer::BlockWriter;
use crate::block::Block;
use crate::chunk::{Chunk, ChunkSummary, MAX_SAMPLES_HARD, MAX_SAMPLES_PER_CHUNK};
use crate::error::Result;
use crate::index::postings::SeriesRef;
use crate::index::ChunkMeta;
use crate::labels::{Labels, Sym};

/// Picks the next group of blocks to merge, or `None`. `blocks` are sorted by min time;
/// `ranges` ascending, the first being the block range; `head_bound` is where the head's
/// data starts (windows ending at or before it are complete).
pub fn plan(
    blocks: &[Arc<Block>],
    ranges: &[i64],
    head_bound: i64,
    flush: bool,
) -> Option<Vec<Arc<Block>>> {
    // 1. Overlapping blocks.
    let mut i = 0;
    while i < blocks.len() {
        let mut end = blocks[i].meta().max_time;
        let mut j = i + 1;
        while j < blocks.len() && blocks[j].meta().min_time < end {
            end = end.max(blocks[j].meta().max_time);
            j += 1;
        }
        if j - i > 1 {
            return Some(blocks[i..j].to_vec());
        }
        i = j;
    }
    // 2. Level by level, the smallest range first.
    for &range in ranges.iter().skip(1) {
        let mut k = 0;
        while k < blocks.len() {
            let w = blocks[k].meta().min_time.div_euclid(range);
            let (lo, hi) = (
                w.saturating_mul(range),
                w.saturating_add(1).saturating_mul(range),
            );
            let mut group = Vec::new();
            let mut j = k;
            while j < blocks.len() && blocks[j].meta().min_time < hi {
                group.push(blocks[j].clone());
                j += 1;
            }
            let fits = group
                .iter()
                .all(|b| b.meta().min_time >= lo && b.meta().max_time <= hi);
            let complete = hi <= head_bound || flush;
            if group.len() >= 2 && fits && complete {
                return Some(group);
            }
            k = j.max(k + 1);
        }
    }
    None
}

/// One source block's series, streamed in label order.
struct SourceIter {
    block: Arc<Block>,
    refs: Vec<SeriesRef>,
    next: usize,
}

impl SourceIter {
    fn next_series(&mut self) -> Result<Option<(Labels, SeriesRef, Vec<ChunkMeta>)>> {
        let Some(&r) = self.refs.get(self.next) else {
            return Ok(None);
        };
        self.next += 1;
        let (labels, chunks) = self.block.series(r)?;
        Ok(Some((labels, r, chunks)))
    }
}

/// A chunk of a series being merged, with where it came from.
struct Part {
    meta: ChunkMeta,
    block: usize,
    deleted: Arc<[(i64, i64)]>,
}

/// Merges `sources` into one new block in `blocks_dir` and returns its meta (`None` if no
/// data is left, e.g. everything was deleted). The sources are not touched.
pub fn compact(
    blocks_dir: &Path,
    sources: &[Arc<Block>],
    chunk_samples: usize,
) -> Result<Option<BlockMeta>> {
    let mint = sources.iter().map(|b| b.meta().min_time).min().unwrap_or(0);
    let maxt = sources.iter().map(|b| b.meta().max_time).max().unwrap_or(1);
    let mut symbols: BTreeSet<Sym> = BTreeSet::new();
    let mut lineage: BTreeSet<String> = BTreeSet::new();
    let mut level = 0;
    for b in sources {
        for sym in b.index().symbols() {
            let sym = sym?;
            if !symbols.contains(sym) {
                symbols.insert(Sym::from(sym));
            }
        }
        lineage.extend(b.meta().compaction.sources.iter().cloned());
        level = level.max(b.meta().compaction.level);
    }
    let compaction = Compaction {
        level: level + 1,
        sources: lineage.into_iter().collect(),
        parents: sources.iter().map(|b| b.ulid().to_string()).collect(),
    };
    let mut w = BlockWriter::create(blocks_dir, mint, maxt, symbols, compaction)?;
    let mut iters: Vec<SourceIter> = Vec::with_capacity(sources.len());
    for b in sources {
        iters.push(SourceIter {
            block: b.clone(),
            refs: b.all_series()?,
            next: 0,
        });
    }
    let tombs: Vec<_> = sources.iter().map(|b| b.tombstones()).collect();
    let mut heads: Vec<Option<(Labels, SeriesRef, Vec<ChunkMeta>)>> =
        Vec::with_capacity(iters.len());
    let mut heap: BinaryHeap<Reverse<(Labels, usize)>> = BinaryHeap::new();
    for (i, it) in iters.iter_mut().enumerate() {
        let h = it.next_series()?;
        if let Some((l, _, _)) = &h {
            heap.push(Reverse((l.clone(), i)));
        }
        heads.push(h);
    }
    let mut parts: Vec<Part> = Vec::new();
    let mut scratch = Scratch::default();
    while let Some(Reverse((labels, first))) = heap.pop() {
        let mut from = vec![first];
        while heap.peek().is_some_and(|Reverse((l, _))| *l == labels) {
            let Some(Reverse((_, i))) = heap.pop() else {
                break;
            };
            from.push(i);
        }
        from.sort_unstable();
        parts.clear();
        for &i in &from {
            let Some((_, r, chunks)) = heads[i].take() else {
                continue;
            };
            let deleted: Arc<[(i64, i64)]> = tombs[i].get(r).into();
            for meta in chunks {
                parts.push(Part {
                    meta,
                    block: i,
                    deleted: deleted.clone(),
                });
            }
            let h = iters[i].next_series()?;
            if let Some((l, _, _)) = &h {
                heap.push(Reverse((l.clone(), i)));
            }
            heads[i] = h;
        }
        merge_series(
            &mut w,
            &labels,
            &mut parts,
            sources,
            chunk_samples,
            &mut scratch,
        )?;
    }
    w.finish()
}

/// The chunks of `parts` (in order), read from their blocks without the map: one positioned
/// read per block run of the series.
fn load_parts(parts: &[Part], sources: &[Arc<Block>]) -> Result<Vec<Chunk>> {
    let mut out: Vec<Option<Chunk>> = vec![None; parts.len()];
    for (b, block) in sources.iter().enumerate() {
        let mut idx: Vec<usize> = (0..parts.len()).filter(|&i| parts[i].block == b).collect();
        if idx.is_empty() {
            continue;
        }
        idx.sort_by_key(|&i| parts[i].meta.chunk_ref);
        let refs: Vec<u64> = idx.iter().map(|&i| parts[i].meta.chunk_ref).collect();
        for (i, c) in idx.into_iter().zip(block.chunks_copied(&refs)?) {
            out[i] = Some(c);
        }
    }
    Ok(out
        .into_iter()
        .map(|c| c.expect("every part loaded"))
        .collect())
}

#[derive(Default)]
struct Scratch {
    ts: Vec<i64>,
    vs: Vec<f64>,
}

/// Writes one series made of `parts` from several blocks.
///
/// Its chunks are copied as they are (bytes and summaries) when they do not overlap, no
/// tombstone touches them and none is shorter than half of `chunk_samples` (always, when it
/// is 0): re-encoding chunks that long would save at most a header and an index entry per
/// half target. Otherwise the samples are decoded, merged by time and re-encoded by
/// [`rechunk`].
fn merge_series(
    w: &mut BlockWriter,
    labels: &Labels,
    parts: &mut [Part],
    sources: &[Arc<Block>],
    chunk_samples: usize,
    sc: &mut Scratch,
) -> Result<()> {
    parts.sort_by_key(|p| (p.meta.min_time, p.block));
    let disjoint = parts
        .windows(2)
        .all(|w| w[0].meta.max_time < w[1].meta.min_time);
    let untouched = parts.iter().all(|p| p.deleted.is_empty());
    let long_enough = parts
        .iter()
        .all(|p| p.meta.num_samples as usize >= chunk_samples / 2);
    let loaded = load_parts(parts, sources)?;
    if disjoint && untouched && long_enough {
        let chunks: Vec<(Chunk, ChunkSummary)> = loaded
            .into_iter()
            .zip(parts.iter())
            .map(|(c, p)| (c, p.meta.summary))
            .collect();
        return w.add_series_summarised(labels, &chunks);
    }
    // Decode everything, merge by time keeping the first of equal timestamps (parts are
    // ordered by start time, then by source block, which is in time order).
    let mut samples: Vec<(i64, f64)> = Vec::new();
    for (p, c) in parts.iter().zip(loaded) {
        sc.ts.clear();
        sc.vs.clear();
        c.decode_into(&mut sc.ts, &mut sc.vs)?;
        for (&t, &v) in sc.ts.iter().zip(&sc.vs) {
            if !is_deleted(&p.deleted, t) {
                samples.push((t, v));
            }
        }
    }
    samples.sort_by_key(|s| s.0);
    samples.dedup_by_key(|s| s.0);
    sc.ts.clear();
    sc.vs.clear();
    sc.ts.extend(samples.iter().map(|s| s.0));
    sc.vs.extend(samples.iter().map(|s| s.1));
    let chunks = rechunk(&sc.ts, &sc.vs, chunk_samples)?;
    w.add_series(labels, &chunks)
}

/// Encodes the samples of one series (timestamps strictly increasing) as chunks of at most
/// `chunk_samples` samples each (0: [`MAX_SAMPLES_PER_CHUNK`], the head's length), cut into
/// equal lengths so that no short tail chunk is left (`Chunk::encode` picks each chunk's
/// smallest encoding: `Blocked` for chunks longer than a block of 128 samples). For
/// writers of blocks that want the compacted layout directly, e.g. a head cut.
pub fn rechunk(ts: &[i64], vs: &[f64], chunk_samples: usize) -> Result<Vec<Chunk>> {
    let n = ts.len().min(vs.len());
    let per = match chunk_samples {
        0 => MAX_SAMPLES_PER_CHUNK,
        k => k.min(MAX_SAMPLES_HARD),
    };
    let k = n.div_ceil(per);
    let mut chunks = Vec::with_capacity(k);
    let mut start = 0;
    for i in 1..=k {
        let end = n * i / k;
        chunks.push(Chunk::encode(&ts[start..end], &vs[start..end])?);
        start = end;
    }
    Ok(chunks)
}

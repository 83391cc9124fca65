//! Moving head data into blocks: collecting the chunks older than a boundary, then dropping
//! them and the series left without data.
//!
//! The database cuts a block in three steps so that readers always see each sample once:
//! [`Head::collect_before`] gathers (and seals) the chunks before the boundary `b`, the block
//! is written and published together with the head's new lower bound `b` (queriers ignore
//! head chunks ending before their bound), and only then [`Head::truncate`] frees them.
//! Out-of-order samples before `b` go the same way ([`Head::collect_ooo_before`], written
//! as blocks that overlap, then dropped by the same truncation); readers see them in the
//! head until the drop and in the blocks after it (duplicates in between are merged away).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::ooo::encode;
use super::{Head, MemSeries, SealedChunk, SeriesState};
use crate::chunk::Chunk;
use crate::labels::Labels;
use crate::Sample;

/// Splits `c` into the samples before `b` and those from `b` on (rare: only a chunk that
/// straddles a boundary not aligned to the chunk range, after a flush).
fn split_chunk(c: &Chunk, b: i64) -> (Vec<Sample>, Vec<Sample>) {
    c.iter().partition(|s| s.t < b)
}

impl SeriesState {
    /// Makes every sample before `b` sit in sealed chunks that end before `b` (sealing the
    /// open chunk, splitting a chunk that straddles `b`), and returns those chunks.
    fn seal_before(&mut self, b: i64) -> Vec<Chunk> {
        if let Some(lo) = self.open.min_time() {
            if lo < b {
                // Where the open chunk's aligned span ends (its samples from `b` on stay in it).
                let end = lo.saturating_add(i64::from(self.window_left));
                let open = self.open.seal();
                if open.max_time() < b {
                    self.sealed.push(open.into());
                } else {
                    let (old, new) = split_chunk(&open, b);
                    self.sealed.extend(encode(&old).map(SealedChunk::from));
                    // The samples from `b` on go back into a fresh open chunk.
                    for s in new {
                        self.open.push(s.t, s.v);
                    }
                    if let Some(first) = self.open.min_time() {
                        self.window_left =
                            u32::try_from(end.saturating_sub(first)).unwrap_or(u32::MAX);
                    }
                }
            }
        }
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.sealed.len() && self.sealed[i].min_time() < b {
            let c = self.sealed[i].chunk();
            if c.max_time() < b {
                out.push(c);
                i += 1;
                continue;
            }
            let (old, new) = split_chunk(&c, b);
            let (old, new) = (encode(&old), encode(&new));
            self.sealed
                .splice(i..=i, old.iter().cloned().chain(new).map(SealedChunk::from));
            out.extend(old);
            break;
        }
        out
    }

    /// Drops the chunks that end before `b`; returns how many samples they held.
    fn drop_before(&mut self, b: i64) -> u64 {
        let k = self.sealed.partition_point(|c| c.max_time() < b);
        let n: u64 = self.sealed[..k]
            .iter()
            .map(|c| c.num_samples() as u64)
            .sum();
        self.sealed.drain(..k);
        n
    }

    /// True if the series holds no sample (in order or out of order).
    fn is_empty(&self) -> bool {
        self.sealed.is_empty() && self.open.is_empty() && self.ooo.is_none()
    }
}

impl Head {
    /// The chunks of every series that hold samples before `b`, sealed (open chunks that
    /// start before `b` are sealed now), sorted by labels. The chunks stay in the head.
    pub fn collect_before(&self, b: i64) -> Vec<(Labels, Vec<Chunk>)> {
        let mut out: Vec<(Labels, Vec<Chunk>)> = Vec::new();
        for s in self.all_series() {
            let mut st = s.state.lock();
            let before = st.footprint();
            let chunks = st.seal_before(b);
            self.note_chunks(super::ChunkFootprint::delta(before, st.footprint()));
            drop(st);
            if !chunks.is_empty() {
                out.push((s.labels.clone(), chunks));
            }
        }
        out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// The out-of-order samples before `b` of every series, sorted by labels (each list
    /// sorted by time). They stay in the head until [`Head::truncate`] drops them.
    pub fn collect_ooo_before(&self, b: i64) -> Vec<(Labels, Vec<Sample>)> {
        if self.ooo_samples.load(Ordering::Relaxed) == 0 {
            return Vec::new();
        }
        let mut out: Vec<(Labels, Vec<Sample>)> = Vec::new();
        for s in self.all_series() {
            let mut st = s.state.lock();
            let Some(o) = st.ooo.as_mut() else { continue };
            let got = o.collect_before(b);
            drop(st);
            if !got.is_empty() {
                out.push((s.labels.clone(), got));
            }
        }
        out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// The oldest sample's timestamp over every series (a scan of all series).
    pub fn data_min_time(&self) -> Option<i64> {
        self.all_series()
            .iter()
            .filter_map(|s| {
                let st = s.state.lock();
                st.sealed
                    .first()
                    .map(|c| c.min_time())
                    .or_else(|| st.open.min_time())
            })
            .min()
    }

    /// Drops every chunk that ends before `b` (the head's new lower bound, which must
    /// already be published), and removes the series left without any sample (all of
    /// theirs were older than `b`) from the head, its index and (once nothing else holds
    /// their strings) the symbol table. Returns the number of series removed.
    pub fn truncate(&self, b: i64) -> usize {
        self.raise_min_valid(b);
        self.truncated_to.fetch_max(b, Ordering::AcqRel);
        if self.ooo_samples.load(Ordering::Acquire) > 0 {
            self.ooo_drops.fetch_add(1, Ordering::AcqRel);
        }
        let mut dropped_samples = 0u64;
        let mut removed: Vec<Arc<MemSeries>> = Vec::new();
        for s in self.all_series() {
            let mut st = s.state.lock();
            let before = st.footprint();
            dropped_samples += st.drop_before(b);
            self.note_chunks(super::ChunkFootprint::delta(before, st.footprint()));
            if let Some(o) = st.ooo.as_mut() {
                let n = o.drop_collected(b);
                dropped_samples += n;
                self.ooo_samples.fetch_sub(
                    n.min(self.ooo_samples.load(Ordering::Relaxed)),
                    Ordering::Relaxed,
                );
                if o.is_empty() {
                    st.ooo = None;
                }
            }
            // Empty: every sample it had was before `b` and went into a block.
            if st.is_empty() {
                st.removed = true;
                drop(st);
                removed.push(s);
            }
        }
        self.samples.fetch_sub(
            dropped_samples.min(self.samples.load(Ordering::Relaxed)),
            Ordering::Relaxed,
        );
        if let Some(files) = &self.files {
            files.release_before(b);
        }
        if self.max_time.load(Ordering::Relaxed) >= b {
            self.min_time.fetch_max(b, Ordering::Relaxed);
        } else {
            self.min_time.store(i64::MAX, Ordering::Relaxed);
        }
        if removed.is_empty() {
            return 0;
        }
        for s in &removed {
            let h = s.labels.stable_hash();
            self.by_hash[(h as usize) % super::SHARDS]
                .write()
                .remove(h, s);
        }
        // Aliases from replay point at the same series under other references.
        let gone: std::collections::HashSet<*const MemSeries> =
            removed.iter().map(Arc::as_ptr).collect();
        for shard in &self.by_ref {
            shard.write().retain(|_, x| !gone.contains(&Arc::as_ptr(x)));
        }
        let pairs: Vec<(u64, &Labels)> = removed.iter().map(|s| (s.sref, &s.labels)).collect();
        self.index.write().remove(&pairs);
        let n = removed.len();
        self.live.fetch_sub(n as u64, Ordering::AcqRel);
        drop(pairs);
        drop(removed);
        self.symbols.gc();
        n
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::chunk::MAX_SAMPLES_PER_CHUNK;
    use crate::head::CHUNK_LENGTH_SPREAD;

    proptest! {
        /// Whatever the gaps between samples and wherever a cut seals or splits the open
        /// chunk (at a bound that need not be aligned, as after a flush), no chunk straddles
        /// an aligned span of the chunk range, none is longer than the longest cut length,
        /// and every sample is kept once, in order.
        #[test]
        fn chunks_stay_inside_their_aligned_span(
            gaps in proptest::collection::vec(1i64..200_000, 1..900),
            range in prop_oneof![Just(600_000i64), Just(7_200_000i64)],
            cut_at in 0usize..900,
            bound_frac in 0.0f64..1.0,
        ) {
            let mut st = SeriesState::default();
            let mut t = 1_796_000_000_000i64;
            let mut want = Vec::new();
            let mut collected: Vec<Chunk> = Vec::new();
            for (i, g) in gaps.iter().enumerate() {
                if i == cut_at {
                    let lo = st.min_time().unwrap_or(t);
                    let b = lo + ((t - lo) as f64 * bound_frac) as i64 + 1;
                    collected.extend(st.seal_before(b));
                    prop_assert!(collected.iter().all(|c| c.max_time() < b));
                    st.drop_before(b);
                }
                t += g;
                let s = Sample::new(t, *g as f64);
                st.push(s, range, None);
                want.push(s);
            }
            let mut chunks: Vec<Chunk> = collected;
            chunks.extend(st.sealed.iter().map(SealedChunk::chunk));
            chunks.push(st.open.snapshot());
            let mut got = Vec::new();
            for c in chunks.iter().filter(|c| c.num_samples() > 0) {
                prop_assert_eq!(
                    c.min_time().div_euclid(range),
                    c.max_time().div_euclid(range),
                    "chunk [{}, {}] straddles a span of {}", c.min_time(), c.max_time(), range
                );
                prop_assert!(c.num_samples() <= MAX_SAMPLES_PER_CHUNK + CHUNK_LENGTH_SPREAD);
                got.extend(c.iter());
            }
            prop_assert_eq!(got, want);
        }
    }
}

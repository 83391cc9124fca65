//! Out-of-order samples of one head series: samples older than the series' newest that the
//! out-of-order window accepted, kept beside its in-order chunks.
//!
//! - Samples arrive in any order. The newest [`OOO_CHUNK_SAMPLES`] wait in a buffer sorted
//!   by time; a full buffer is encoded into a sealed chunk. Each chunk is sorted, but chunks
//!   overlap each other and the in-order chunks, so a reader of a series with out-of-order
//!   data merges by timestamp (the querier marks such a series overlapping).
//! - At most one sample per timestamp over the whole series: the caller checks
//!   [`SeriesState::sample_at`](super::SeriesState::sample_at) before inserting.
//! - A head cut takes the samples before its bound in two steps, like the in-order chunks:
//!   [`OooChunks::collect_before`] seals the buffer and copies the samples (the chunks stay
//!   readable while the block is written), and [`OooChunks::drop_collected`] then removes
//!   exactly the chunks that were collected, keeping their samples from the bound on.
//!   Samples inserted in between go to chunks after the collected ones and are kept.

use crate::chunk::{Chunk, ChunkBuilder};
use crate::Sample;

/// Out-of-order samples buffered before they are encoded into a chunk (Prometheus'
/// `out_of_order_cap` default).
pub const OOO_CHUNK_SAMPLES: usize = 32;

/// The out-of-order samples of one series.
#[derive(Debug, Default)]
pub struct OooChunks {
    /// Encoded chunks, in the order they were sealed.
    sealed: Vec<Chunk>,
    /// Newest arrivals, sorted by time, at most [`OOO_CHUNK_SAMPLES`].
    open: Vec<Sample>,
    /// How many of `sealed` the last [`OooChunks::collect_before`] took (0 after a drop).
    collected: usize,
    samples: u64,
}

/// `samples` (in time order) as one sealed chunk; `None` for none.
pub(super) fn encode(samples: &[Sample]) -> Option<Chunk> {
    if samples.is_empty() {
        return None;
    }
    let mut b = ChunkBuilder::new();
    for s in samples {
        b.push(s.t, s.v);
    }
    Some(b.seal())
}

impl OooChunks {
    /// Inserts `s`, whose timestamp the series does not hold yet. Returns true if this
    /// sealed a chunk.
    pub fn insert(&mut self, s: Sample) -> bool {
        let i = self.open.partition_point(|x| x.t < s.t);
        debug_assert!(self.open.get(i).is_none_or(|x| x.t != s.t));
        self.open.insert(i, s);
        self.samples += 1;
        if self.open.len() >= OOO_CHUNK_SAMPLES {
            self.seal_open();
            return true;
        }
        false
    }

    fn seal_open(&mut self) {
        let open = std::mem::take(&mut self.open);
        self.sealed.extend(encode(&open));
    }

    /// The value bits of the sample at `t`, if one is held.
    pub fn value_bits_at(&self, t: i64) -> Option<u64> {
        if let Ok(i) = self.open.binary_search_by_key(&t, |s| s.t) {
            return Some(self.open[i].v.to_bits());
        }
        self.sealed
            .iter()
            .filter(|c| c.min_time() <= t && t <= c.max_time())
            .find_map(|c| c.iter().seek(t).filter(|x| x.t == t).map(|x| x.v.to_bits()))
    }

    /// Chunks that may hold samples in `[mint, maxt]`: sealed ones shared, the buffer
    /// encoded now.
    pub fn chunks_in_range(&self, mint: i64, maxt: i64) -> Vec<Chunk> {
        let mut out: Vec<Chunk> = self
            .sealed
            .iter()
            .filter(|c| c.max_time() >= mint && c.min_time() <= maxt)
            .cloned()
            .collect();
        let hit = match (self.open.first(), self.open.last()) {
            (Some(lo), Some(hi)) => hi.t >= mint && lo.t <= maxt,
            _ => false,
        };
        if hit {
            out.extend(encode(&self.open));
        }
        out
    }

    /// Oldest and newest timestamps held.
    pub fn time_range(&self) -> Option<(i64, i64)> {
        let lo = self
            .sealed
            .iter()
            .map(|c| c.min_time())
            .chain(self.open.first().map(|s| s.t))
            .min()?;
        let hi = self
            .sealed
            .iter()
            .map(|c| c.max_time())
            .chain(self.open.last().map(|s| s.t))
            .max()?;
        Some((lo, hi))
    }

    /// Samples held.
    pub fn num_samples(&self) -> u64 {
        self.samples
    }

    /// True if no sample is held.
    pub fn is_empty(&self) -> bool {
        self.samples == 0
    }

    /// Every sample, sorted by time.
    pub fn samples(&self) -> Vec<Sample> {
        let mut all: Vec<Sample> = self.sealed.iter().flat_map(|c| c.iter()).collect();
        all.extend_from_slice(&self.open);
        all.sort_by_key(|s| s.t);
        all
    }

    /// Seals the buffer and returns the samples before `b`, sorted; remembers which chunks
    /// they came from for [`OooChunks::drop_collected`].
    pub fn collect_before(&mut self, b: i64) -> Vec<Sample> {
        self.seal_open();
        self.collected = self.sealed.len();
        let mut out: Vec<Sample> = self.sealed[..self.collected]
            .iter()
            .filter(|c| c.min_time() < b)
            .flat_map(|c| c.iter().filter(|s| s.t < b))
            .collect();
        out.sort_by_key(|s| s.t);
        out
    }

    /// Removes the samples before `b` of the chunks the last collect took (their later
    /// samples stay); returns how many were removed.
    pub fn drop_collected(&mut self, b: i64) -> u64 {
        let k = std::mem::take(&mut self.collected).min(self.sealed.len());
        let taken: Vec<Chunk> = self.sealed.drain(..k).collect();
        let mut kept: Vec<Sample> = Vec::new();
        let mut removed = 0u64;
        for c in &taken {
            if c.max_time() < b {
                removed += c.num_samples() as u64;
                continue;
            }
            for s in c.iter() {
                if s.t < b {
                    removed += 1;
                } else {
                    kept.push(s);
                }
            }
        }
        kept.sort_by_key(|s| s.t);
        let kept: Vec<Chunk> = kept.chunks(OOO_CHUNK_SAMPLES).filter_map(encode).collect();
        self.sealed.splice(0..0, kept);
        self.samples -= removed.min(self.samples);
        removed
    }

    /// Removes the samples with `mint <= t <= maxt`; returns how many.
    pub fn delete_range(&mut self, mint: i64, maxt: i64) -> u64 {
        let all = self.samples();
        let before = all.len() as u64;
        let kept: Vec<Sample> = all
            .into_iter()
            .filter(|s| s.t < mint || s.t > maxt)
            .collect();
        let removed = before - kept.len() as u64;
        if removed > 0 {
            self.sealed = kept.chunks(OOO_CHUNK_SAMPLES).filter_map(encode).collect();
            self.open.clear();
            self.collected = 0;
            self.samples = kept.len() as u64;
        }
        removed
    }

    /// Encoded chunks holding every sample (the buffer sealed into a copy), for checkpoints.
    pub fn all_chunks(&self) -> Vec<Chunk> {
        let mut out = self.sealed.clone();
        out.extend(encode(&self.open));
        out
    }

    /// Adds a chunk read back from a checkpoint; its timestamps must not be held yet.
    pub fn restore_chunk(&mut self, c: Chunk) {
        self.samples += c.num_samples() as u64;
        self.sealed.push(c);
    }
}

/// `chunks` (sorted, not overlapping) with `extra` (sorted) merged in: unchanged without
/// extra samples, otherwise every sample re-encoded in time order, one per timestamp (the
/// in-order one wins a tie), in chunks of at most [`crate::chunk::MAX_SAMPLES_PER_CHUNK`].
pub fn merge_into(chunks: Vec<Chunk>, extra: &[Sample]) -> Vec<Chunk> {
    if extra.is_empty() {
        return chunks;
    }
    let mut all: Vec<Sample> = chunks.iter().flat_map(|c| c.iter()).collect();
    all.extend_from_slice(extra);
    all.sort_by_key(|s| s.t);
    all.dedup_by_key(|s| s.t);
    all.chunks(crate::chunk::MAX_SAMPLES_PER_CHUNK)
        .filter_map(encode)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(c: &[Chunk]) -> Vec<i64> {
        let mut v: Vec<i64> = c.iter().flat_map(|c| c.iter().map(|s| s.t)).collect();
        v.sort_unstable();
        v
    }

    #[test]
    fn inserts_in_any_order_and_seals_full_buffers() {
        let mut o = OooChunks::default();
        let order: Vec<i64> = (0..100).map(|i| (i * 37) % 100).collect();
        let mut sealed = 0;
        for &t in &order {
            assert_eq!(o.value_bits_at(t), None);
            sealed += usize::from(o.insert(Sample::new(t, t as f64)));
            assert_eq!(o.value_bits_at(t), Some((t as f64).to_bits()));
        }
        assert_eq!(sealed, 100 / OOO_CHUNK_SAMPLES);
        assert_eq!(o.num_samples(), 100);
        assert_eq!(o.time_range(), Some((0, 99)));
        assert_eq!(
            ts(&o.chunks_in_range(i64::MIN, i64::MAX)),
            (0..100).collect::<Vec<_>>()
        );
        let s = o.samples();
        assert!(s.windows(2).all(|w| w[0].t < w[1].t) && s.len() == 100);
        assert!(o.chunks_in_range(200, 300).is_empty());
        assert_eq!(ts(&o.all_chunks()), (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn collect_then_drop_keeps_later_and_newer_samples() {
        let mut o = OooChunks::default();
        for t in (0..40).rev() {
            o.insert(Sample::new(t, 1.0));
        }
        let got = o.collect_before(20);
        assert_eq!(
            got.iter().map(|s| s.t).collect::<Vec<_>>(),
            (0..20).collect::<Vec<_>>()
        );
        // Arrives while the block is written: kept by the drop even though it is before 20.
        o.insert(Sample::new(-5, 2.0));
        assert_eq!(o.drop_collected(20), 20);
        let left: Vec<i64> = o.samples().iter().map(|s| s.t).collect();
        let mut want: Vec<i64> = (20..40).collect();
        want.insert(0, -5);
        assert_eq!(left, want);
        assert_eq!(o.num_samples(), 21);
        // A second drop without a collect removes nothing.
        assert_eq!(o.drop_collected(100), 0);
    }

    #[test]
    fn deletes_a_range() {
        let mut o = OooChunks::default();
        for t in 0..50 {
            o.insert(Sample::new(t, 0.5));
        }
        assert_eq!(o.delete_range(10, 19), 10);
        assert_eq!(o.num_samples(), 40);
        assert_eq!(o.value_bits_at(15), None);
        assert_eq!(o.value_bits_at(20), Some(0.5f64.to_bits()));
        assert_eq!(o.delete_range(100, 200), 0);
        assert_eq!(o.delete_range(i64::MIN, i64::MAX), 40);
        assert!(o.is_empty() && o.time_range().is_none());
    }
}

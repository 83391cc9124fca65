//! Deleting a time range from a head series: the affected chunks are decoded and the kept
//! samples re-encoded. Deletes are rare admin operations, so clarity wins over speed here.

use super::{Head, SealedChunk, SeriesState};
use crate::chunk::Chunk;
use crate::Sample;

impl SeriesState {
    /// Removes the samples with `mint <= t <= maxt`; returns how many were removed. The
    /// series' last sample becomes the last one kept (so an older sample may be appended
    /// again, as after a delete in Prometheus).
    pub fn delete_range(&mut self, mint: i64, maxt: i64, chunk_range: i64) -> u64 {
        let ooo = match self.ooo.as_mut() {
            Some(o) => {
                let n = o.delete_range(mint, maxt);
                if o.is_empty() {
                    self.ooo = None;
                }
                n
            }
            None => 0,
        };
        ooo + self.delete_in_order(mint, maxt, chunk_range)
    }

    fn delete_in_order(&mut self, mint: i64, maxt: i64, chunk_range: i64) -> u64 {
        let touches = |lo: i64, hi: i64| lo <= maxt && hi >= mint;
        let open_hit = match (self.open.min_time(), self.open.last()) {
            (Some(lo), Some(l)) => touches(lo, l.t),
            _ => false,
        };
        if !open_hit
            && !self
                .sealed
                .iter()
                .any(|c| touches(c.min_time(), c.max_time()))
        {
            return 0;
        }
        let mut kept: Vec<Sample> = Vec::new();
        let mut removed = 0u64;
        let mut all: Vec<Chunk> = std::mem::take(&mut self.sealed)
            .iter()
            .map(SealedChunk::chunk)
            .collect();
        all.push(std::mem::take(&mut self.open).seal());
        for c in &all {
            for s in c.iter() {
                if s.t >= mint && s.t <= maxt {
                    removed += 1;
                } else {
                    kept.push(s);
                }
            }
        }
        for s in kept {
            self.push(s, chunk_range, None);
        }
        removed
    }
}

impl Head {
    /// Takes `n` deleted samples, `ooo` of them out-of-order ones, off the head's counts.
    pub(crate) fn forget_samples(&self, n: u64, ooo: u64) {
        use std::sync::atomic::Ordering;
        let cur = self.samples.load(Ordering::Relaxed);
        self.samples.fetch_sub(n.min(cur), Ordering::Relaxed);
        let cur = self.ooo_samples.load(Ordering::Relaxed);
        self.ooo_samples.fetch_sub(ooo.min(cur), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_keeps_the_rest() {
        let mut st = SeriesState::default();
        for t in 0..300 {
            st.push(Sample::new(t * 1000, t as f64), 7_200_000, None);
        }
        assert_eq!(st.delete_range(10_000, 19_999, 7_200_000), 10);
        let got: Vec<i64> = st
            .sealed
            .iter()
            .map(SealedChunk::chunk)
            .chain(std::iter::once(st.open.snapshot()))
            .flat_map(|c| c.iter().map(|s| s.t / 1000).collect::<Vec<_>>())
            .collect();
        let want: Vec<i64> = (0..300).filter(|t| !(10..20).contains(t)).collect();
        assert_eq!(got, want);
        assert_eq!(st.last().unwrap().t, 299_000);
        assert_eq!(st.delete_range(1_000_000, 2_000_000, 7_200_000), 0);
        assert_eq!(st.delete_range(i64::MIN, i64::MAX, 7_200_000), 290);
        assert!(st.sealed.is_empty() && st.open.is_empty() && st.last().is_none());
    }
}

//! Reading the head: which chunks of a series overlap a time range.

use super::{SealedChunk, SeriesState};
use crate::chunk::{Chunk, ChunkBuilder};

/// The chunks of `st` that may hold samples in `[mint, maxt]`, oldest first: shared sealed
/// chunks plus a snapshot of the open one. Readers hold these without any lock.
pub fn chunks_in_range(st: &SeriesState, mint: i64, maxt: i64) -> Vec<Chunk> {
    let (sealed, open) = sealed_in_range(st, mint, maxt);
    let mut out: Vec<Chunk> = Vec::with_capacity(sealed.len() + 1);
    out.extend(sealed.iter().map(SealedChunk::chunk));
    out.extend(open.map(ChunkBuilder::snapshot));
    out
}

/// [`chunks_in_range`] in two parts: the sealed chunks that may hold samples in
/// `[mint, maxt]` (a run, oldest first: clone them to hold them without the lock; each
/// gives its chunk and its summary), and the open chunk if it may (snapshot it to hold it
/// without the lock).
pub fn sealed_in_range(
    st: &SeriesState,
    mint: i64,
    maxt: i64,
) -> (&[SealedChunk], Option<&ChunkBuilder>) {
    // Sealed chunks are in time order, do not overlap and end before the open chunk
    // starts: none is needed when the open chunk starts by `mint` (a short window at the
    // end; their headers are not even read), else the ones in range are a run, found by
    // binary search.
    let sealed: &[SealedChunk] = match st.open.min_time() {
        Some(lo) if lo <= mint => &[],
        _ => &st.sealed,
    };
    let a = sealed.partition_point(|c| c.max_time() < mint);
    let b = a + sealed[a..].partition_point(|c| c.min_time() <= maxt);
    let open = match (st.open.min_time(), st.open.last()) {
        (Some(lo), Some(last)) if last.t >= mint && lo <= maxt => Some(&st.open),
        _ => None,
    };
    (&sealed[a..b], open)
}

/// The out-of-order chunks of `st` that may hold samples in `[mint, maxt]`.
pub fn ooo_chunks_in_range(st: &SeriesState, mint: i64, maxt: i64) -> Vec<Chunk> {
    st.ooo
        .as_ref()
        .map_or_else(Vec::new, |o| o.chunks_in_range(mint, maxt))
}

/// True if `st` holds any sample in `[mint, maxt]` (judged by chunk bounds).
pub fn overlaps(st: &SeriesState, mint: i64, maxt: i64) -> bool {
    overlaps_above(st, i64::MIN, mint, maxt)
}

/// True if `st` holds an in-order sample in `[max(bound, mint), maxt]` or an out-of-order
/// sample in `[mint, maxt]` (judged by chunk bounds). Readers pass the head bound they
/// snapshot: in-order data below it is read from blocks, out-of-order data stays in the
/// head until a cut drops it.
pub fn overlaps_above(st: &SeriesState, bound: i64, mint: i64, maxt: i64) -> bool {
    let lo = mint.max(bound);
    let in_order = match (st.min_time(), st.last_t()) {
        (Some(first), Some(last)) => first <= maxt && last >= lo && lo <= maxt,
        _ => false,
    };
    in_order
        || st
            .ooo
            .as_ref()
            .and_then(|o| o.time_range())
            .is_some_and(|(a, b)| a <= maxt && b >= mint)
}

impl super::Head {
    /// Every series' chunks that may hold samples at or after `from` (sealed ones shared, the
    /// open one as a snapshot), sorted by labels; the head is not changed. A series with
    /// out-of-order samples gets them merged in (all of them, also those before `from`),
    /// re-encoded into chunks that do not overlap.
    pub fn snapshot_chunks(&self, from: i64) -> Vec<(crate::labels::Labels, Vec<Chunk>)> {
        let mut out: Vec<_> = self
            .all_series()
            .into_iter()
            .filter_map(|s| {
                let st = s.state.lock();
                let chunks = chunks_in_range(&st, from, i64::MAX);
                let ooo = st.ooo.as_ref().map(|o| o.samples()).unwrap_or_default();
                drop(st);
                let chunks = super::ooo::merge_into(chunks, &ooo);
                (!chunks.is_empty()).then(|| (s.labels.clone(), chunks))
            })
            .collect();
        out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// The chunks found for a range are exactly those of all (sealed and open) whose
        /// time span meets it, in order, however many are sealed and wherever the range
        /// lies (before, inside, across or after the open chunk).
        #[test]
        fn chunks_in_range_finds_every_chunk_meeting_the_range(
            gaps in proptest::collection::vec(1i64..40_000, 0..700),
            mint in -10_000i64..3_000_000,
            len in 0i64..3_000_000,
        ) {
            let mut st = SeriesState::default();
            let mut t = 0;
            for g in gaps {
                t += g;
                st.push(crate::Sample::new(t, g as f64), 600_000, None);
            }
            let maxt = mint + len;
            let mut all: Vec<(i64, i64)> =
                st.sealed.iter().map(|c| (c.min_time(), c.max_time())).collect();
            if let (Some(lo), Some(last)) = (st.open.min_time(), st.open.last()) {
                all.push((lo, last.t));
            }
            let want: Vec<(i64, i64)> =
                all.into_iter().filter(|&(a, b)| b >= mint && a <= maxt).collect();
            let got: Vec<(i64, i64)> = chunks_in_range(&st, mint, maxt)
                .iter()
                .map(|c| (c.min_time(), c.max_time()))
                .collect();
            prop_assert_eq!(got, want);
        }
    }
}

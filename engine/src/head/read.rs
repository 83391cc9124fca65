//! Reading the head: which chunks of a series overlap a time range.

use super::SeriesState;
use crate::chunk::Chunk;

/// The chunks of `st` that may hold samples in `[mint, maxt]`, oldest first: shared sealed
/// chunks plus a snapshot of the open one. Readers hold these without any lock.
pub fn chunks_in_range(st: &SeriesState, mint: i64, maxt: i64) -> Vec<Chunk> {
    let mut out: Vec<Chunk> = st
        .sealed
        .iter()
        .filter(|c| c.max_time() >= mint && c.min_time() <= maxt)
        .cloned()
        .collect();
    if let (Some(lo), Some(last)) = (st.open.min_time(), st.open.last()) {
        if last.t >= mint && lo <= maxt {
            out.push(st.open.snapshot());
        }
    }
    out
}

/// True if `st` holds any sample in `[mint, maxt]` (judged by chunk bounds).
pub fn overlaps(st: &SeriesState, mint: i64, maxt: i64) -> bool {
    match (st.min_time, st.last) {
        (Some(lo), Some(last)) => lo <= maxt && last.t >= mint,
        _ => false,
    }
}

impl super::Head {
    /// Every series' chunks that may hold samples at or after `from` (sealed ones shared, the
    /// open one as a snapshot), sorted by labels; the head is not changed.
    pub fn snapshot_chunks(&self, from: i64) -> Vec<(crate::labels::Labels, Vec<Chunk>)> {
        let mut out: Vec<_> = self
            .all_series()
            .into_iter()
            .filter_map(|s| {
                let chunks = chunks_in_range(&s.state.lock(), from, i64::MAX);
                (!chunks.is_empty()).then(|| (s.labels.clone(), chunks))
            })
            .collect();
        out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

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

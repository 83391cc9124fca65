//! The end of the open head chunk from one of its samples on: what a reader of a short window
//! at the head needs, without the samples before the window.
//!
//! Invariants: a tail is cut from a [`ChunkBuilder`](super::ChunkBuilder) under its series'
//! lock (`ChunkBuilder::tail_into`), at the builder's last sample before the reader's range.
//! It holds a copy of the stream's bytes from that sample's codes on and the decoder's state
//! after that sample ([`XorState`]), and decodes to exactly the builder's samples from that
//! one to the last at the time of the copy. The builder keeps the state as its mark, so that
//! the next reader whose range starts at or after the mark decodes only the samples since;
//! sealing (or any reset of) the builder drops the mark with the stream. Once a reader of the
//! whole chunk asked for it, the mark also keeps the summary of the samples up to it (made
//! then, and updated sample by sample as the mark steps, with the same arithmetic as
//! [`ChunkSummary::compute`]): such readers get the snapshot split there ([`ChunkSplit`]), so
//! that a long window at the head takes that summary and decodes only the samples after the
//! mark.

use super::xor::{self, XorState};
use super::{Chunk, ChunkSummary, Encoding, PAD};
use crate::error::{Error, Result};
use crate::owned_bytes::OwnedBytes;

/// Where `ChunkBuilder::tail_into` wrote a tail in a buffer that many share: turn it into
/// an [`XorTail`] with [`TailSnapshot::tail`] once the buffer is complete.
#[derive(Clone, Copy, Debug)]
pub struct TailSnapshot {
    /// Offset of the tail's bytes in the buffer.
    pub(crate) start: usize,
    /// Length of its bytes (without the padding after them).
    pub(crate) len: usize,
    /// The decoder's state after the tail's first sample (its position relative to `start`).
    pub(crate) state: XorState,
    /// Samples, the first included.
    pub(crate) n: u32,
    pub(crate) max_t: i64,
}

impl TailSnapshot {
    /// The tail, viewing `arena`: the bytes of the buffer it was written into (with anything
    /// written after). `None` if `arena` is too short to be it.
    pub fn tail(&self, arena: &OwnedBytes) -> Option<XorTail> {
        let bytes = arena.slice(self.start..self.start + self.len + PAD)?;
        Some(XorTail {
            bytes,
            len: self.len,
            state: self.state,
            n: self.n,
            max_t: self.max_t,
        })
    }
}

/// The samples of an open head chunk from one of its samples on (see the module docs).
#[derive(Clone, Debug)]
pub struct XorTail {
    /// The stream's bytes from the byte holding the second sample's first code, then `PAD`.
    bytes: OwnedBytes,
    len: usize,
    state: XorState,
    n: u32,
    max_t: i64,
}

impl XorTail {
    /// Timestamp of the first sample.
    pub fn min_time(&self) -> i64 {
        self.state.t
    }
    /// Timestamp of the last sample.
    pub fn max_time(&self) -> i64 {
        self.max_t
    }
    /// Number of samples.
    pub fn num_samples(&self) -> usize {
        self.n as usize
    }

    /// Appends its samples to column vectors.
    pub fn decode_into(&self, ts: &mut Vec<i64>, vs: &mut Vec<f64>) -> Result<()> {
        let n = self.num_samples();
        let (t0, v0) = (ts.len(), vs.len());
        ts.resize(t0 + n, 0);
        vs.resize(v0 + n, 0.0);
        let mut st = self.state;
        let (Some((first_t, rest_t)), Some((first_v, rest_v))) =
            (ts[t0..].split_first_mut(), vs[v0..].split_first_mut())
        else {
            return Ok(());
        };
        *first_t = st.t;
        *first_v = f64::from_bits(st.v);
        if xor::decode_fast_from(&self.bytes, self.len, &mut st, rest_t, rest_v)
            && st.t == self.max_t
        {
            return Ok(());
        }
        // Cannot happen for bytes copied from a builder; said rather than trusted.
        ts.truncate(t0);
        vs.truncate(v0);
        Err(Error::CorruptChunk(format!(
            "the tail of an open chunk ({n} samples from {}) does not decode",
            self.state.t
        )))
    }
}

/// An open head chunk split at a reader's mark (`ChunkBuilder::snapshot_split_into`): the
/// summary of its samples up to the mark's sample (that one included), and the decoder's
/// state after it, from which the chunk's snapshot decodes to exactly its remaining samples.
/// The summary is the one [`ChunkSummary::compute`] gives for those samples, bit for bit.
#[derive(Clone, Debug)]
pub struct ChunkSplit {
    pub(crate) prefix: ChunkSummary,
    /// The value before each counter reset up to the split, in order (`prefix.increase` is
    /// `last - first` plus these, added in this order).
    pub(crate) corrections: Vec<f64>,
    /// The decoder's state after the mark's sample, its position counted from the start of
    /// the chunk's body.
    pub(crate) state: XorState,
    /// Samples after the mark's.
    pub(crate) rest: u32,
}

impl ChunkSplit {
    /// The summary of the samples up to the split (the mark's sample included).
    pub fn prefix(&self) -> &ChunkSummary {
        &self.prefix
    }

    /// The value before each counter reset up to the split, in order: a reader that adds
    /// them one by one where the full decode does gets its bits.
    pub fn corrections(&self) -> &[f64] {
        &self.corrections
    }

    /// Timestamp of the last sample before the split.
    pub fn prefix_max_time(&self) -> i64 {
        self.state.t
    }

    /// Samples after the split.
    pub fn rest(&self) -> usize {
        self.rest as usize
    }

    /// Appends the samples of `c` (the snapshot this split was taken with) after the split
    /// to column vectors.
    pub fn decode_rest(&self, c: &Chunk, ts: &mut Vec<i64>, vs: &mut Vec<f64>) -> Result<()> {
        let n = self.rest();
        let (t0, v0) = (ts.len(), vs.len());
        ts.resize(t0 + n, 0);
        vs.resize(v0 + n, 0.0);
        let (body, len) = c.body();
        let mut st = self.state;
        let whole = c.encoding() == Encoding::Xor && c.num_samples() > n;
        if whole
            && xor::decode_fast_from(body, len, &mut st, &mut ts[t0..], &mut vs[v0..])
            && st.t == c.max_time()
        {
            return Ok(());
        }
        // Cannot happen for a split taken with its snapshot; said rather than trusted.
        ts.truncate(t0);
        vs.truncate(v0);
        Err(Error::CorruptChunk(format!(
            "an open chunk split after {} does not decode to its {n} last samples",
            self.state.t
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::super::builder::MIN_TAIL_SKIP;
    use super::super::tests::samples;
    use super::super::{ChunkBuilder, ChunkSummary};
    use proptest::prelude::*;

    fn bits(v: &[f64]) -> Vec<u64> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    /// Cuts a tail for `lo` and checks it against the model: `None` exactly when fewer than
    /// `MIN_TAIL_SKIP` samples lie before the last one before `lo` or none lies at or after
    /// `lo`; else the samples from the last one before `lo` on, bit for bit. Moves the
    /// model's mark (the index of the sample the builder's mark stands at) as the builder
    /// should: to that sample after a cut, nowhere otherwise.
    fn check_tail(
        b: &mut ChunkBuilder,
        ts: &[i64],
        vs: &[f64],
        lo: i64,
        mark: &mut Option<usize>,
    ) -> Result<(), TestCaseError> {
        let mut arena = vec![7u8; 3];
        let before = arena.clone();
        let cut = b.tail_into(lo, &mut arena);
        let first = ts.partition_point(|&t| t < lo);
        let want = first > MIN_TAIL_SKIP && first < ts.len();
        prop_assert_eq!(
            cut.is_some(),
            want,
            "lo {} first {} of {}",
            lo,
            first,
            ts.len()
        );
        let Some(cut) = cut else {
            prop_assert_eq!(arena, before, "arena untouched");
            return check_split(b, ts, vs, mark);
        };
        let tail = cut
            .tail(&crate::owned_bytes::OwnedBytes::from_vec(arena))
            .expect("in the buffer");
        let from = first - 1;
        *mark = Some(from);
        prop_assert_eq!(tail.min_time(), ts[from]);
        prop_assert_eq!(tail.max_time(), *ts.last().unwrap());
        prop_assert_eq!(tail.num_samples(), ts.len() - from);
        let (mut gt, mut gv) = (vec![1i64], vec![1.0f64]);
        tail.decode_into(&mut gt, &mut gv).unwrap();
        prop_assert_eq!(&gt[1..], &ts[from..]);
        prop_assert_eq!(bits(&gv[1..]), bits(&vs[from..]));
        check_split(b, ts, vs, mark)
    }

    /// A whole-chunk reader's split against the model's mark (which it sets at the
    /// next-to-last sample if there is none): present exactly when the mark has
    /// `MIN_TAIL_SKIP` samples before it and one after; its summary is that of the samples up
    /// to the mark's (bit for bit), and the snapshot decodes from it to exactly the samples
    /// after.
    fn check_split(
        b: &mut ChunkBuilder,
        ts: &[i64],
        vs: &[f64],
        mark: &mut Option<usize>,
    ) -> Result<(), TestCaseError> {
        let mut arena = vec![9u8; 5];
        let (snap, split) = b.snapshot_split_into(&mut arena);
        if mark.is_none() && ts.len() >= MIN_TAIL_SKIP + 2 {
            *mark = Some(ts.len() - 2);
        }
        let mark = *mark;
        let want = mark.filter(|&i| i >= MIN_TAIL_SKIP && i + 1 < ts.len());
        prop_assert_eq!(
            split.is_some(),
            want.is_some(),
            "mark {:?} of {}",
            mark,
            ts.len()
        );
        let (Some(sp), Some(i)) = (split, want) else {
            return Ok(());
        };
        prop_assert_eq!(sp.prefix(), &ChunkSummary::compute(&ts[..=i], &vs[..=i]));
        prop_assert_eq!(sp.prefix_max_time(), ts[i]);
        let live: Vec<f64> = vs[..=i]
            .iter()
            .copied()
            .filter(|&v| !crate::is_stale(v))
            .collect();
        let want_corr: Vec<u64> = live
            .windows(2)
            .filter(|w| w[1] < w[0])
            .map(|w| w[0].to_bits())
            .collect();
        prop_assert_eq!(bits(sp.corrections()), want_corr);
        prop_assert_eq!(sp.rest(), ts.len() - 1 - i);
        let chunk = snap
            .chunk(&crate::owned_bytes::OwnedBytes::from_vec(arena))
            .expect("in the buffer");
        let (mut gt, mut gv) = (vec![3i64], vec![3.0f64]);
        sp.decode_rest(&chunk, &mut gt, &mut gv).unwrap();
        prop_assert_eq!(&gt[1..], &ts[i + 1..]);
        prop_assert_eq!(bits(&gv[1..]), bits(&vs[i + 1..]));
        Ok(())
    }

    proptest! {
        /// Readers cut tails at window starts that move forward and back while samples keep
        /// arriving, and after the chunk is sealed: every tail holds exactly the samples
        /// from the last one before its window on (whether it was decoded from the chunk's
        /// start or from the previous reader's mark), and after each, a whole-chunk
        /// reader's split stands at the mark with the summary of the samples up to it.
        #[test]
        fn tails_hold_the_samples_from_the_last_one_before_the_window(
            (ts, vs) in samples(300),
            steps in proptest::collection::vec(
                (any::<prop::sample::Index>(), any::<prop::sample::Index>(), -2i64..3),
                1..12,
            ),
        ) {
            let mut b = ChunkBuilder::new();
            let mut held = 0;
            let mut mark = None;
            for (grow, at, nudge) in steps {
                // Append some samples, then read from near one of the held ones.
                let more = held + grow.index(ts.len() - held + 1);
                for i in held..more {
                    b.push(ts[i], vs[i]);
                }
                held = more;
                if held == 0 {
                    continue;
                }
                let lo = ts[at.index(held)].saturating_add(nudge);
                check_tail(&mut b, &ts[..held], &vs[..held], lo, &mut mark)?;
                // The same window again (from the mark just left).
                check_tail(&mut b, &ts[..held], &vs[..held], lo, &mut mark)?;
            }
            // Sealing drops the mark with the stream: a new chunk's tails start afresh.
            b.seal();
            mark = None;
            let rest = &ts[held..];
            for (i, &t) in rest.iter().enumerate() {
                b.push(t, vs[held + i]);
            }
            if let Some(&mid) = rest.get(rest.len() / 2) {
                check_tail(&mut b, rest, &vs[held..], mid, &mut mark)?;
                check_split(&mut b, rest, &vs[held..], &mut mark)?;
            }
        }
    }
}

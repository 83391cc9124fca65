//! The open (head) chunk: streaming XOR appends, cheap snapshots, and sealing.
//!
//! Invariants: the builder holds only the XOR bit stream plus the first timestamp (the last
//! sample is the appender's own state; both are derivable from the stream); a snapshot
//! copies the bytes written so far behind a freshly written header and never re-encodes;
//! `seal` decodes the stream once (with the whole-body fast decoder), re-encodes it with
//! every packed encoding's best plan and keeps the smallest result (the XOR stream itself
//! if nothing is smaller); `seal_with_summary` also computes the chunk's summary from those
//! decoded columns (for the head's chunk files, which store it beside the chunk).

use std::cell::RefCell;

use super::header::{self, Header};
use super::packed::{self, Scratch};
use super::summary::SummaryAcc;
use super::tail::{ChunkSplit, TailSnapshot};
use super::xor::{self, XorAppender, XorState};
use super::{Chunk, ChunkSummary, Encoding, MAX_SAMPLES_HARD, PAD};
use crate::owned_bytes::OwnedBytes;
use crate::Sample;

/// The open (head) chunk of a series: appends, cheap snapshots for readers, and sealing.
#[derive(Debug)]
pub struct ChunkBuilder {
    xor: XorAppender,
    min_t: i64,
    /// Where the last reader of a short window started decoding (see
    /// [`ChunkBuilder::tail_into`]); boxed, as only series being read hold one.
    mark: Option<Box<Mark>>,
}

/// The decoder's state after one of the builder's samples (its position counted from the
/// stream's start), that sample's index, and, once a reader of the whole chunk asked for it
/// ([`ChunkBuilder::snapshot_split_into`]), the summary of the samples up to it (that one
/// included), kept up to date as the mark moves from then on. Series read by short windows
/// only hold the 56 bytes without the summary.
#[derive(Clone, Debug)]
struct Mark {
    state: XorState,
    i: usize,
    prefix: Option<Box<SummaryAcc>>,
}

/// Samples a tail must leave out for [`ChunkBuilder::tail_into`] to cut one: below that the
/// reader copies the whole chunk, and no mark is kept.
pub const MIN_TAIL_SKIP: usize = 8;

/// Where [`ChunkBuilder::snapshot_into`] wrote a snapshot in a shared buffer.
#[derive(Clone, Copy, Debug)]
pub struct ArenaSnapshot {
    h: Header,
    /// Offset of the chunk's bytes in the buffer.
    start: usize,
    /// Length of the chunk's bytes (without the padding after them).
    len: usize,
}

impl ArenaSnapshot {
    /// The chunk, viewing `arena`: the bytes of the buffer this snapshot was written into
    /// (with everything written into it after). `None` if `arena` is too short to be it.
    pub fn chunk(&self, arena: &OwnedBytes) -> Option<Chunk> {
        let bytes = arena.slice(self.start..self.start + self.len + PAD)?;
        Some(Chunk::with_header(bytes, self.len, self.h))
    }
}

/// Per-thread buffers reused by every seal and encode.
#[derive(Default)]
pub(crate) struct SealScratch {
    ts: Vec<i64>,
    vs: Vec<f64>,
    pub(crate) s: Scratch,
}

thread_local! {
    static SCRATCH: RefCell<SealScratch> = RefCell::new(SealScratch::default());
}

/// Runs `f` with this thread's scratch buffers (fresh ones if they are already in use).
pub(crate) fn with_scratch<R>(f: impl FnOnce(&mut SealScratch) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut g) => f(&mut g),
        Err(_) => f(&mut SealScratch::default()),
    })
}

impl Default for ChunkBuilder {
    fn default() -> Self {
        ChunkBuilder::new()
    }
}

impl ChunkBuilder {
    /// An empty builder.
    pub fn new() -> ChunkBuilder {
        ChunkBuilder {
            xor: XorAppender::new(),
            min_t: 0,
            mark: None,
        }
    }

    /// Appends a sample. The caller guarantees `t` is greater than the last timestamp and
    /// that the builder holds fewer than [`MAX_SAMPLES_HARD`] samples; a sample breaking
    /// either rule is dropped (and trips a debug assertion).
    #[inline]
    pub fn push(&mut self, t: i64, v: f64) {
        let n = self.xor.len();
        let ok = (n == 0 || t > self.xor.last_t()) && n < MAX_SAMPLES_HARD;
        debug_assert!(
            ok,
            "ChunkBuilder::push: non-increasing timestamp or full chunk"
        );
        if !ok {
            return;
        }
        if n == 0 {
            self.min_t = t;
        }
        self.xor.push(t, v);
    }

    /// Number of samples held.
    pub fn len(&self) -> usize {
        self.xor.len()
    }

    /// True if no sample is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Timestamp of the first sample, if any.
    pub fn min_time(&self) -> Option<i64> {
        (!self.is_empty()).then_some(self.min_t)
    }

    /// Timestamp of the first sample (meaningless when empty).
    #[inline]
    pub fn first_t(&self) -> i64 {
        self.min_t
    }

    /// The last sample, if any.
    pub fn last(&self) -> Option<Sample> {
        (!self.is_empty()).then(|| Sample::new(self.xor.last_t(), self.xor.last_v()))
    }

    /// Bytes of memory held by the encoded data (and a reader's mark).
    pub fn memory_bytes(&self) -> usize {
        self.xor.writer().memory_bytes() + self.mark.as_ref().map_or(0, |_| size_of::<Mark>())
    }

    fn header(&self) -> Header {
        Header {
            enc: Encoding::Xor,
            n: self.len(),
            min_t: self.min_t,
            max_t: if self.is_empty() {
                0
            } else {
                self.xor.last_t()
            },
            body: 0,
        }
    }

    /// The samples so far as an immutable chunk (a copy of the encoded bytes, no re-encoding).
    pub fn snapshot(&self) -> Chunk {
        let mut bytes = Vec::with_capacity(24 + self.xor.writer().byte_len() + PAD);
        let (h, len) = self.write_chunk(&mut bytes);
        Chunk::with_header(OwnedBytes::from_vec(bytes), len, h)
    }

    /// [`ChunkBuilder::snapshot`] into a buffer that many snapshots share: appends the
    /// chunk's bytes and [`PAD`] zero bytes to `arena`. Once every snapshot is written,
    /// wrap the buffer in an [`OwnedBytes`] and turn each into a chunk with
    /// [`ArenaSnapshot::chunk`] (one allocation for all of them instead of one per chunk).
    pub fn snapshot_into(&self, arena: &mut Vec<u8>) -> ArenaSnapshot {
        let start = arena.len();
        let (h, len) = self.write_chunk(arena);
        ArenaSnapshot {
            h,
            start,
            len: len - start,
        }
    }

    /// [`ChunkBuilder::snapshot_into`], and the chunk split at its mark: the summary of the
    /// samples up to the mark's and the decoder's state after it, so that a reader of a window
    /// covering the whole chunk can take the summary and decode only the samples after the
    /// mark ([`ChunkSplit`]). With no mark yet, one is made at the next-to-last sample (by
    /// stepping over the snapshot just written: one decode of the chunk, which this reader
    /// then no longer needs), so that the next whole-chunk readers decode only what arrived
    /// since. `None` when fewer than [`MIN_TAIL_SKIP`] samples lie before the mark's or none
    /// after it. An existing mark stays where it is (a short window's reader put it there).
    pub fn snapshot_split_into(
        &mut self,
        arena: &mut Vec<u8>,
    ) -> (ArenaSnapshot, Option<Box<ChunkSplit>>) {
        let snap = self.snapshot_into(arena);
        let n = self.len();
        let body = arena.get(snap.start + snap.h.body..).unwrap_or(&[]);
        let len = snap.len - snap.h.body;
        match self.mark.as_deref_mut() {
            None if n >= MIN_TAIL_SKIP + 2 => {
                self.mark = mark_at(body, len, self.min_t, n - 2).map(|(state, prefix)| {
                    Box::new(Mark {
                        state,
                        i: n - 2,
                        prefix: Some(prefix),
                    })
                });
            }
            // A short window's mark: its summary is made now, and kept from then on.
            Some(m) if m.prefix.is_none() && m.i >= MIN_TAIL_SKIP && m.i + 1 < n => {
                m.prefix = mark_at(body, len, self.min_t, m.i).map(|(_, prefix)| prefix);
            }
            _ => {}
        }
        let split = self
            .mark
            .as_deref()
            .filter(|m| m.i >= MIN_TAIL_SKIP && m.i + 1 < n)
            .and_then(|m| {
                let prefix = m.prefix.as_deref()?;
                Some(Box::new(ChunkSplit {
                    prefix: prefix.finish(),
                    corrections: prefix.corrections().to_vec(),
                    state: m.state,
                    rest: (n - 1 - m.i) as u32,
                }))
            });
        (snap, split)
    }

    /// For a reader of the samples from `lo` on: the chunk from its last sample before `lo`
    /// on, copied into `arena` (its bytes from that sample's codes on, then [`PAD`] zero
    /// bytes), when at least [`MIN_TAIL_SKIP`] samples lie before that one and a sample lies
    /// at or after `lo`. `None` otherwise, with `arena` as it was: take a snapshot.
    ///
    /// The builder keeps the decoder's state at that sample as its mark: the next reader
    /// whose `lo` lies after the mark decodes from there, not from the chunk's start (a
    /// dashboard refreshing a 5-minute window decodes the samples that arrived since), and
    /// one whose `lo` lies before it decodes from the start and moves the mark back.
    pub fn tail_into(&mut self, lo: i64, arena: &mut Vec<u8>) -> Option<TailSnapshot> {
        let n = self.len();
        if n <= MIN_TAIL_SKIP || self.min_t >= lo || self.xor.last_t() < lo {
            return None;
        }
        // Whether the mark keeps the summary up to it (a whole-chunk reader asked for it).
        let keep = self.mark.as_ref().is_some_and(|m| m.prefix.is_some());
        // Step on from the mark if it lies before `lo`.
        let mut from = self.mark.as_deref_mut().filter(|m| m.state.t < lo);
        // Copy from the byte holding the first code to decode: the mark's, or the stream's
        // start (its first sample's value).
        let byte0 = from.as_ref().map_or(0, |m| (m.state.pos / 8) as usize);
        let base = byte0 as u64 * 8;
        let r0 = arena.len();
        self.xor.writer().copy_from_to(byte0, arena);
        let len = arena.len() - r0;
        arena.extend_from_slice(&[0u8; PAD]);
        let body = &arena[r0..];
        // The summary up to the current sample, if kept: the mark's, taken out of it at the
        // first step (a mark left without it is still a valid mark).
        let (mut st, i0, mut prefix) = match &from {
            Some(m) => (
                XorState {
                    pos: m.state.pos - base,
                    ..m.state
                },
                m.i,
                None,
            ),
            None => {
                let st = XorState::first(body, self.min_t);
                let prefix = keep.then(|| {
                    let mut p = Box::new(SummaryAcc::new());
                    p.push(st.t, f64::from_bits(st.v));
                    p
                });
                (st, 0, prefix)
            }
        };
        let from_mark = from.is_some();
        // Step to the last sample before `lo` (one exists after it: the last is at or
        // after `lo`).
        let end = len as u64 * 8;
        let mut i = i0;
        while i + 1 < n {
            let mut next = st;
            if !next.step(body) || next.pos > end {
                // Cannot happen for a stream this builder wrote: copy the whole chunk.
                arena.truncate(r0);
                return None;
            }
            if next.t >= lo {
                break;
            }
            if keep {
                if prefix.is_none() {
                    prefix = from.as_deref_mut().and_then(|m| m.prefix.take());
                }
                if let Some(p) = prefix.as_deref_mut() {
                    p.push(next.t, f64::from_bits(next.v));
                }
            }
            (st, i) = (next, i + 1);
        }
        if i < MIN_TAIL_SKIP || i + 1 >= n {
            arena.truncate(r0);
            return None;
        }
        // A reader starting at the mark leaves it as it is.
        if !from_mark || i != i0 {
            let mark = Mark {
                state: XorState {
                    pos: st.pos + base,
                    ..st
                },
                i,
                prefix,
            };
            match &mut self.mark {
                Some(m) => **m = mark,
                None => self.mark = Some(Box::new(mark)),
            }
        }
        // The tail's bytes start at the byte holding its second sample's first code.
        let skip = (st.pos / 8) as usize;
        Some(TailSnapshot {
            start: r0 + skip,
            len: len - skip,
            state: XorState {
                pos: st.pos - skip as u64 * 8,
                ..st
            },
            n: (n - i) as u32,
            max_t: self.xor.last_t(),
        })
    }

    /// Appends the chunk's bytes and `PAD` zero bytes to `out`; returns the header and where
    /// the chunk's bytes end in `out`.
    fn write_chunk(&self, out: &mut Vec<u8>) -> (Header, usize) {
        let mut h = self.header();
        if h.n == 0 {
            h.min_t = 0;
        }
        let start = out.len();
        header::write(out, h.enc, h.n, h.min_t, h.max_t);
        h.body = out.len() - start;
        self.xor.writer().copy_to(out);
        let end = out.len();
        out.extend_from_slice(&[0u8; PAD]);
        (h, end)
    }

    /// Seals the chunk, choosing the smallest encoding, and resets the builder.
    pub fn seal(&mut self) -> Chunk {
        self.seal_with_summary(false).0
    }

    /// [`ChunkBuilder::seal`], plus, if `summarize`, the [`ChunkSummary`] of the samples,
    /// computed from the columns sealing decodes anyway (`None` otherwise, for an empty
    /// builder, or if the stream did not decode, which cannot happen for a stream this
    /// builder wrote).
    pub fn seal_with_summary(&mut self, summarize: bool) -> (Chunk, Option<ChunkSummary>) {
        let xor_chunk = self.snapshot();
        let n = self.len();
        *self = ChunkBuilder::new();
        if n == 0 {
            return (xor_chunk, None);
        }
        with_scratch(|sc| {
            sc.ts.clear();
            sc.ts.resize(n, 0);
            sc.vs.clear();
            sc.vs.resize(n, 0.0);
            let h = xor_chunk.header();
            let (body, body_len) = xor_chunk.body();
            if !xor::decode_all_fast(body, body_len, n, h.min_t, &mut sc.ts, &mut sc.vs) {
                // Cannot happen for a stream this builder wrote; keep the stream as it is.
                return (xor_chunk.clone(), None);
            }
            let summary = summarize.then(|| ChunkSummary::compute(&sc.ts, &sc.vs));
            let c = match packed::encode_best(
                &sc.ts,
                &sc.vs,
                Some(xor_chunk.as_bytes().len()),
                &mut sc.s,
            ) {
                Some((enc, bytes)) => {
                    let h = Header { enc, ..h };
                    let body = header_len(&bytes);
                    Chunk::from_trusted(bytes, Header { body, ..h })
                }
                None => xor_chunk.clone(),
            };
            (c, summary)
        })
    }
}

/// Offset of the body in bytes produced by `header::write`.
fn header_len(bytes: &[u8]) -> usize {
    header::parse(bytes).map_or(bytes.len(), |h| h.body)
}

/// The decoder's state after sample `i` of the XOR stream `body` (`len` bytes, then
/// padding) whose first sample is at `min_t`, and the summary of the samples up to it. `None`
/// if the stream does not decode that far (cannot happen for a builder's own).
fn mark_at(body: &[u8], len: usize, min_t: i64, i: usize) -> Option<(XorState, Box<SummaryAcc>)> {
    let end = len as u64 * 8;
    let mut st = XorState::first(body, min_t);
    let mut prefix = Box::new(SummaryAcc::new());
    prefix.push(st.t, f64::from_bits(st.v));
    for _ in 0..i {
        if !st.step(body) || st.pos > end {
            return None;
        }
        prefix.push(st.t, f64::from_bits(st.v));
    }
    Some((st, prefix))
}

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
use super::xor::{self, XorAppender};
use super::{Chunk, ChunkSummary, Encoding, MAX_SAMPLES_HARD};
use crate::Sample;

/// The open (head) chunk of a series: appends, cheap snapshots for readers, and sealing.
#[derive(Debug)]
pub struct ChunkBuilder {
    xor: XorAppender,
    min_t: i64,
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

    /// Bytes of memory held by the encoded data.
    pub fn memory_bytes(&self) -> usize {
        self.xor.writer().memory_bytes()
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
        let mut h = self.header();
        if h.n == 0 {
            h.min_t = 0;
        }
        let mut bytes = Vec::with_capacity(24 + self.xor.writer().byte_len() + 16);
        header::write(&mut bytes, h.enc, h.n, h.min_t, h.max_t);
        h.body = bytes.len();
        self.xor.writer().copy_to(&mut bytes);
        Chunk::from_trusted(bytes, h)
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

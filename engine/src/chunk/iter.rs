//! Iteration over a chunk, whole-chunk decoding ([`decode_chunk`], also behind
//! `Chunk::decode_into`), validation, and `seek`.
//!
//! A chunk of at most [`BLOCK`] samples (every head chunk: 120) is decoded whole, on the
//! first `next` or `seek`, into the iterator's inline buffers (no allocation); `next` then
//! only reads them. Larger chunks go through boxed block decoders, [`BLOCK`] samples at a
//! time. Timestamps are checked as they are produced: the first must equal the header's
//! `min_time`, they must strictly increase, and the last must equal `max_time` (for a whole
//! chunk, a cheap sufficient test or a proof from the timestamp column's layout usually
//! stands in for the per-sample check). The first violation (or decoding error) truncates
//! the iteration and is kept in [`ChunkIter::err`]; nothing panics, and since at most `n`
//! samples are ever decoded and `n` is bounded by the header check, iteration always ends.

use super::block_column::Proof;
use super::blocked::{self, BlockedDecoder, BlockedLayout};
use super::header::Header;
use super::packed::{self, PackedDecoder, PackedLayout};
use super::xor::{self, XorDecoder};
use super::{Chunk, Encoding};
use crate::{Error, Sample};

/// Samples decoded per block.
pub(crate) const BLOCK: usize = 128;

/// Block decoders, used only for chunks of more than [`BLOCK`] samples (boxed: such chunks
/// are rare and the allocation is amortised over many samples).
#[derive(Clone, Debug)]
enum Decoder<'a> {
    /// Not started: nothing parsed yet.
    Pending(&'a Chunk),
    Xor(Box<XorDecoder<'a>>),
    Packed(Box<PackedDecoder<'a>>),
    Blocked(Box<BlockedDecoder<'a>>),
    Done,
}

/// Decodes every sample of `c` into the first `n` entries of `ts` and `vs` (both at least
/// `n = c.num_samples()` long) and checks the timestamps: the first equals `min_time`, they
/// strictly increase, the last equals `max_time`. Returns how many samples are valid (a
/// prefix) and the error that ended decoding early, if any.
pub(crate) fn decode_chunk(c: &Chunk, ts: &mut [i64], vs: &mut [f64]) -> (usize, Option<Error>) {
    let h: Header = c.header();
    let n = h.n;
    if n == 0 {
        return (0, None);
    }
    let (Some(ts), Some(vs)) = (ts.get_mut(..n), vs.get_mut(..n)) else {
        return (0, Some(Error::CorruptChunk("output too short".into())));
    };
    let (body, body_len) = c.body();
    let (k, e) = match h.enc {
        Encoding::Xor => {
            // The slow path reads the exact body: running out of bits must be an error.
            if xor::decode_all_fast(body, body_len, n, h.min_t, ts, vs) {
                (n, None)
            } else {
                let exact = body.get(..body_len).unwrap_or(&[]);
                XorDecoder::new(exact, n, h.min_t).decode_into(ts, vs)
            }
        }
        Encoding::IntDelta | Encoding::FloatDelta | Encoding::Blocked => {
            let r = if h.enc == Encoding::Blocked {
                blocked::decode_all(body, body_len, n, h.min_t, ts, vs)
            } else {
                packed::decode_all(body, body_len, h.enc, n, h.min_t, ts, vs)
            };
            match r {
                Ok(true) if ts[0] == h.min_t && ts[n - 1] == h.max_t => return (n, None),
                Ok(_) => (n, None),
                Err(e) => (0, Some(e)),
            }
        }
    };
    if e.is_none() && k == n && whole_chunk_times_ok(ts, h.min_t, h.max_t) {
        return (n, None);
    }
    let (good, bad) = check_block(&ts[..k], None, h.min_t, h.max_t, 0);
    if let Some(e) = bad {
        return (good, Some(e));
    }
    if e.is_some() {
        return (good, e);
    }
    if ts[n - 1] != h.max_t {
        return (
            good,
            Some(Error::CorruptChunk(
                "last timestamp differs from the header's max time".into(),
            )),
        );
    }
    (good, None)
}

/// Appends every sample of `c`, a `Blocked` chunk, to column vectors, one block at a time
/// through the first-level cache (no zero-filled tail to overwrite), except the blocks whose
/// samples are all at or before `after`: those have only their timestamps decoded (and
/// checked). Each block's timestamps are checked as `check_block` does, unless the layout
/// proves them (see `BlockColumn::decode`). With `values` false only timestamps are
/// decoded and appended (`vs` untouched). On an error the valid prefix stays appended.
pub(crate) fn append_blocked(
    c: &Chunk,
    after: i64,
    values: bool,
    ts: &mut Vec<i64>,
    vs: &mut Vec<f64>,
) -> Result<(), Error> {
    let h: Header = c.header();
    if h.n == 0 {
        return Ok(());
    }
    let (body, body_len) = c.body();
    let mut d = BlockedLayout::parse(body, body_len, h.n)?.decoder(h.min_t)?;
    ts.reserve(h.n);
    if values {
        vs.reserve(h.n);
    }
    let (mut tb, mut vb) = ([0i64; BLOCK], [0f64; BLOCK]);
    let mut prev: Option<i64> = None;
    let mut decoded = 0;
    while decoded < h.n {
        let mut proof = Proof::default();
        let (k, skipped) = d.next_block_after(after, values, &mut tb, &mut vb, Some(&mut proof))?;
        if k == 0 {
            return Err(Error::CorruptChunk(
                "fewer samples than the header says".into(),
            ));
        }
        let block = &tb[..k];
        let (first, last) = (block[0], block[k - 1]);
        let joined = match prev {
            None => first == h.min_t,
            Some(p) => first > p,
        };
        // A proof covers steps inside the block; with the ends in order, none wrapped.
        let proved = proof.holds() && joined && last <= h.max_t && (k == 1 || last > first);
        let (good, bad) = if proved {
            (k, None)
        } else {
            check_block(block, prev, h.min_t, h.max_t, decoded)
        };
        if !values {
            ts.extend_from_slice(&tb[..good]);
        } else if !skipped {
            ts.extend_from_slice(&tb[..good]);
            vs.extend_from_slice(&vb[..good]);
        }
        if let Some(e) = bad {
            return Err(e);
        }
        decoded += k;
        prev = Some(last);
    }
    if prev != Some(h.max_t) {
        return Err(Error::CorruptChunk(
            "last timestamp differs from the header's max time".into(),
        ));
    }
    Ok(())
}

/// A cheap sufficient test that the timestamps of a whole chunk are valid (first = `min_t`,
/// strictly increasing, last = `max_t`), without 64-bit compares (which SSE2 lacks): every
/// wrapping difference `d` is non-zero, the differences (all `<= or`, the OR of them all)
/// cannot sum past 2^64 since `(n - 1) * or` fits, and their sum is the span. Then the
/// exact partial sums stay within `[min_t, max_t]`, so no wrapping happened and every step
/// is positive. False does not mean invalid: the caller then checks sample by sample.
#[inline]
fn whole_chunk_times_ok(ts: &[i64], min_t: i64, max_t: i64) -> bool {
    let Some(&first) = ts.first() else {
        return true;
    };
    let (mut sum, mut or, mut zero) = (0u64, 0u64, 0u64);
    for (p, q) in ts[1..].iter().zip(ts) {
        let d = p.wrapping_sub(*q) as u64;
        sum = sum.wrapping_add(d);
        or |= d;
        zero |= u64::from(d == 0);
    }
    let bound = (ts.len() as u128 - 1) * u128::from(or);
    first == min_t
        && zero == 0
        && bound <= u128::from(u64::MAX)
        && sum == max_t.wrapping_sub(min_t) as u64
}

/// True if `ts` strictly increases. Branch-free over fixed groups so that it vectorises.
#[inline]
fn increasing(ts: &[i64]) -> bool {
    let (Some(a), Some(b)) = (ts.get(1..), ts.get(..ts.len().saturating_sub(1))) else {
        return true;
    };
    let mut bad = 0u64;
    for (x, y) in a.chunks(16).zip(b.chunks(16)) {
        let mut g = 0u64;
        for (p, q) in x.iter().zip(y) {
            g |= u64::from(p <= q);
        }
        bad |= g;
    }
    bad == 0
}

/// Checks decoded timestamps: strictly increasing, joined to `prev` (the previous block's
/// last timestamp) or starting at `min_t`, and at most `max_t`. Returns the length of the
/// valid prefix and, if shorter than `block`, the error.
#[inline]
fn check_block(
    block: &[i64],
    prev: Option<i64>,
    min_t: i64,
    max_t: i64,
    first_index: usize,
) -> (usize, Option<Error>) {
    // Fast check (vectorisable): increasing within the block, joined to the previous block
    // or starting at min_time, ending at or before max_time.
    let joined = match (prev, block.first()) {
        (_, None) => true,
        (None, Some(&t)) => t == min_t,
        (Some(p), Some(&t)) => t > p,
    };
    let fine = joined && block.last().is_none_or(|&t| t <= max_t) && increasing(block);
    if fine {
        return (block.len(), None);
    }
    let mut prev = prev;
    for (j, &t) in block.iter().enumerate() {
        let ok = t <= max_t
            && match prev {
                None => t == min_t,
                Some(p) => t > p,
            };
        if !ok {
            return (
                j,
                Some(Error::CorruptChunk(format!(
                    "sample {} has timestamp {t} out of order or outside the header's range",
                    first_index + j
                ))),
            );
        }
        prev = Some(t);
    }
    (block.len(), None)
}

/// Iterator over a chunk's samples. Corrupt bytes end the iteration and leave an error in
/// [`ChunkIter::err`]; they never panic.
///
/// [`ChunkIter::seek`] is forward-only and idempotent: it returns the first sample at or
/// after the current position whose timestamp is `>= t`, where the current position
/// includes the sample most recently returned (so seeking twice to the same time returns the
/// same sample, and `next` after `seek` returns the sample after the one found).
pub struct ChunkIter<'a> {
    dec: Decoder<'a>,
    /// The decoded block, inline: a chunk of at most [`BLOCK`] samples (the usual 120) is
    /// decoded whole on first use, without allocating.
    ts: [i64; BLOCK],
    vs: [f64; BLOCK],
    len: usize,
    pos: usize,
    /// The last sample of the previous block (consumed), for `seek`.
    before: Option<Sample>,
    min_t: i64,
    max_t: i64,
    n: usize,
    decoded: usize,
    err: Option<Error>,
}

impl<'a> ChunkIter<'a> {
    #[inline]
    pub(crate) fn new(c: &'a Chunk) -> Self {
        let h: Header = c.header();
        ChunkIter {
            dec: if h.n == 0 {
                Decoder::Done
            } else {
                Decoder::Pending(c)
            },
            ts: [0; BLOCK],
            vs: [0.0; BLOCK],
            len: 0,
            pos: 0,
            before: None,
            min_t: h.min_t,
            max_t: h.max_t,
            n: h.n,
            decoded: 0,
            err: None,
        }
    }

    /// First use: decodes a small chunk whole into the inline buffers, or builds the block
    /// decoder of a large one. True if samples are ready in the buffers.
    #[cold]
    fn start(&mut self, c: &'a Chunk) -> bool {
        let h: Header = c.header();
        if h.n <= BLOCK {
            let (k, e) = decode_chunk(c, &mut self.ts, &mut self.vs);
            self.len = k;
            self.pos = 0;
            self.decoded = h.n;
            self.dec = Decoder::Done;
            if let Some(e) = e {
                self.err = Some(e);
            }
            return true;
        }
        let (body, body_len) = c.body();
        self.dec = match h.enc {
            Encoding::Xor => {
                // The exact body: running out of bits must be an error, not padding.
                let exact = body.get(..body_len).unwrap_or(&[]);
                Decoder::Xor(Box::new(XorDecoder::new(exact, h.n, h.min_t)))
            }
            Encoding::IntDelta | Encoding::FloatDelta => {
                match PackedLayout::parse(body, body_len, h.enc, h.n)
                    .and_then(|l| PackedDecoder::new(l, h.n, h.min_t))
                {
                    Ok(d) => Decoder::Packed(Box::new(d)),
                    Err(e) => {
                        self.err = Some(e);
                        Decoder::Done
                    }
                }
            }
            Encoding::Blocked => {
                match BlockedLayout::parse(body, body_len, h.n).and_then(|l| l.decoder(h.min_t)) {
                    Ok(d) => Decoder::Blocked(Box::new(d)),
                    Err(e) => {
                        self.err = Some(e);
                        Decoder::Done
                    }
                }
            }
        };
        false
    }

    /// Decodes the next block; false at the end (or on error).
    #[inline(never)]
    fn refill(&mut self) -> bool {
        if self.len > 0 {
            self.before = Some(Sample::new(self.ts[self.len - 1], self.vs[self.len - 1]));
        }
        self.len = 0;
        self.pos = 0;
        if let Decoder::Pending(c) = self.dec {
            if self.start(c) {
                return self.len > 0;
            }
        }
        let (k, e) = match &mut self.dec {
            Decoder::Xor(d) => d.decode_into(&mut self.ts[..], &mut self.vs[..]),
            Decoder::Packed(d) => d.decode_into(&mut self.ts[..], &mut self.vs[..]),
            Decoder::Blocked(d) => d.decode_into(&mut self.ts[..], &mut self.vs[..]),
            Decoder::Pending(_) | Decoder::Done => return false,
        };
        let prev = self.before.map(|s| s.t);
        let (good, bad) = check_block(&self.ts[..k], prev, self.min_t, self.max_t, self.decoded);
        if let Some(e) = bad {
            self.fail(e);
        }
        let prev = if good > 0 {
            Some(self.ts[good - 1])
        } else {
            prev
        };
        self.decoded += good;
        if let Some(e) = e {
            self.fail(e);
        }
        if self.err.is_none() && self.decoded == self.n && prev != Some(self.max_t) {
            self.fail(Error::CorruptChunk(
                "last timestamp differs from the header's max time".into(),
            ));
        }
        if self.decoded == self.n {
            self.dec = Decoder::Done;
        }
        self.len = good;
        good > 0
    }

    fn fail(&mut self, e: Error) {
        if self.err.is_none() {
            self.err = Some(e);
        }
        self.dec = Decoder::Done;
    }

    /// Advances to the first sample with timestamp `>= t` and returns it (see the type's
    /// documentation for the exact forward-only semantics).
    pub fn seek(&mut self, t: i64) -> Option<Sample> {
        let consumed = if self.pos > 0 {
            Some(Sample::new(self.ts[self.pos - 1], self.vs[self.pos - 1]))
        } else {
            self.before
        };
        if let Some(s) = consumed {
            if s.t >= t {
                return Some(s);
            }
        }
        if t > self.max_t {
            // Nothing can match: skip decoding entirely.
            self.len = 0;
            self.pos = 0;
            self.before = None;
            self.dec = Decoder::Done;
            return None;
        }
        loop {
            if self.pos < self.len {
                if self.ts[self.len - 1] >= t {
                    let j = self.pos + self.ts[self.pos..self.len].partition_point(|&x| x < t);
                    self.pos = j + 1;
                    return Some(Sample::new(self.ts[j], self.vs[j]));
                }
                self.pos = self.len;
            }
            if !self.refill() {
                return None;
            }
        }
    }

    /// The decoding error that ended iteration early, if any.
    pub fn err(&self) -> Option<&Error> {
        self.err.as_ref()
    }
}

impl Iterator for ChunkIter<'_> {
    type Item = Sample;

    #[inline]
    fn next(&mut self) -> Option<Sample> {
        if self.pos == self.len && !self.refill() {
            return None;
        }
        let s = Sample::new(self.ts[self.pos], self.vs[self.pos]);
        self.pos += 1;
        Some(s)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.len - self.pos + (self.n - self.decoded);
        (0, Some(left))
    }
}

//! Iteration over a chunk: block decoding into small buffers, validation, and `seek`.
//!
//! Samples are decoded [`BLOCK`] at a time by the encoding's decoder; `next` then only reads
//! the buffers. Every block is checked as it is produced: the first timestamp must equal the
//! header's `min_time`, timestamps must strictly increase, and the last must equal
//! `max_time`. The first violation (or decoding error) truncates the iteration and is kept in
//! [`ChunkIter::err`]; nothing panics, and since at most `n` samples are ever decoded and `n`
//! is bounded by the header check, iteration always ends.

use super::header::Header;
use super::packed::{PackedDecoder, PackedLayout};
use super::xor::XorDecoder;
use super::{Chunk, Encoding};
use crate::{Error, Sample};

/// Samples decoded per block.
pub(crate) const BLOCK: usize = 128;

// Kept inline: boxing the packed decoder would cost an allocation per chunk iterated.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
enum Decoder<'a> {
    /// Not started: nothing parsed or allocated yet.
    Pending(&'a Chunk),
    Xor(XorDecoder<'a>),
    Packed(PackedDecoder<'a>),
    Done,
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
    ts: Box<[i64]>,
    vs: Box<[f64]>,
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
        let h: Header = c.header;
        ChunkIter {
            dec: if h.n == 0 {
                Decoder::Done
            } else {
                Decoder::Pending(c)
            },
            // Allocated on the first refill: an iterator that is only created (or sought
            // past the chunk's end) costs nothing.
            ts: Box::default(),
            vs: Box::default(),
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

    /// Builds the decoder and the block buffers (boxed, so that moving the iterator copies a
    /// few hundred bytes, not 2 KiB).
    #[cold]
    fn start(&mut self, c: &'a Chunk) {
        let h: Header = c.header;
        let (body, body_len) = c.body();
        self.dec = match h.enc {
            Encoding::Xor => {
                // The exact body: running out of bits must be an error, not padding.
                let exact = body.get(..body_len).unwrap_or(&[]);
                Decoder::Xor(XorDecoder::new(exact, h.n, h.min_t))
            }
            Encoding::IntDelta | Encoding::FloatDelta => {
                match PackedLayout::parse(body, body_len, h.enc, h.n)
                    .and_then(|l| PackedDecoder::new(l, h.n, h.min_t))
                {
                    Ok(d) => Decoder::Packed(d),
                    Err(e) => {
                        self.err = Some(e);
                        Decoder::Done
                    }
                }
            }
        };
        // (`vec!` of zeros becomes a zeroed allocation, never a stack copy.)
        self.ts = vec![0i64; BLOCK].into_boxed_slice();
        self.vs = vec![0f64; BLOCK].into_boxed_slice();
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
            self.start(c);
        }
        let (k, e) = match &mut self.dec {
            Decoder::Xor(d) => d.decode_into(&mut self.ts[..], &mut self.vs[..]),
            Decoder::Packed(d) => d.decode_into(&mut self.ts[..], &mut self.vs[..]),
            Decoder::Pending(_) | Decoder::Done => return false,
        };
        let mut prev = self.before.map(|s| s.t);
        let mut good = k;
        let block = &self.ts[..k];
        // Fast check (vectorisable): increasing within the block, joined to the previous
        // block or starting at min_time, ending at or before max_time.
        let joined = match (prev, block.first()) {
            (_, None) => true,
            (None, Some(&t)) => t == self.min_t,
            (Some(p), Some(&t)) => t > p,
        };
        let fine = joined
            && block.last().is_none_or(|&t| t <= self.max_t)
            && block.windows(2).fold(true, |ok, w| ok & (w[1] > w[0]));
        if fine {
            prev = block.last().copied().or(prev);
        }
        for (j, &t) in self.ts[..if fine { 0 } else { k }].iter().enumerate() {
            let ok = t <= self.max_t
                && match prev {
                    None => t == self.min_t,
                    Some(p) => t > p,
                };
            if !ok {
                good = j;
                self.fail(Error::CorruptChunk(format!(
                    "sample {} has timestamp {t} out of order or outside the header's range",
                    self.decoded + j
                )));
                break;
            }
            prev = Some(t);
        }
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

    pub(crate) fn take_err(&mut self) -> Option<Error> {
        self.err.take()
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

//! Compressed sample chunks: the encodings, the immutable [`Chunk`], its iterator and the
//! open [`ChunkBuilder`] of the head.
//!
//! The byte layout of every encoding is drawn in `docs/format/chunks.md`. In short, a chunk
//! is a common header (encoding byte, sample count, first timestamp, time span; see
//! `header.rs`) followed by an encoding-specific body:
//!
//! - [`Encoding::Xor`]: Gorilla delta-of-delta timestamps and XOR values, appended one sample
//!   at a time. The head's open chunk is always Xor; `snapshot` copies it.
//! - [`Encoding::IntDelta`]: integer and short-decimal values as mantissas, frame-of-reference
//!   bit packed (with deltas, sparse bitmaps and exceptions) together with the timestamps.
//! - [`Encoding::FloatDelta`]: the same packing applied to raw float bit patterns.
//! - [`Encoding::Blocked`]: either kind of values and the timestamps packed in blocks of 128
//!   samples, each block with its own frame of reference, for long chunks (compaction).
//!
//! `seal` and `encode` try them all and keep the smallest. Invariants:
//! - Lossless: every `f64` bit pattern round-trips (NaN payloads, the staleness marker,
//!   `-0.0`, infinities, subnormals), and every strictly increasing `i64` timestamp sequence.
//! - Multi-byte header fields are little-endian or LEB128 varints; bit streams are
//!   LSB-first (see `bitstream.rs`, the only code that touches bits).
//! - Untrusted bytes: [`Chunk::from_bytes`] validates the header (and the whole layout of
//!   packed bodies); iteration over corrupt bytes stops with [`ChunkIter::err`] set. Nothing
//!   panics, loops forever or allocates in proportion to a count read from the bytes.

mod bitstream;
mod block_column;
mod blocked;
mod builder;
mod column;
mod float_delta;
mod header;
mod int_delta;
mod iter;
mod packed;
pub mod shared_times;
mod summary;
mod tail;
mod xor;

#[cfg(test)]
mod tests;

use std::fmt;

pub use builder::{ArenaSnapshot, ChunkBuilder};
pub use iter::ChunkIter;
pub use summary::ChunkSummary;
pub use tail::{ChunkSplit, TailSnapshot, XorTail};

use crate::error::{Error, Result};
use crate::owned_bytes::OwnedBytes;
pub(crate) use header::Header;

/// Samples a head chunk holds on average before it is sealed (each one's length is spread
/// around it, see `head::cut_length`); the chunk length of compaction's default.
pub const MAX_SAMPLES_PER_CHUNK: usize = 120;

/// Most samples any chunk may hold (the decoder rejects larger counts).
pub const MAX_SAMPLES_HARD: usize = u16::MAX as usize;

/// How a chunk's samples are encoded; stored in the chunk header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
#[non_exhaustive]
pub enum Encoding {
    /// Gorilla: delta-of-delta timestamps, XOR-compressed float values.
    Xor = 1,
    /// Frame-of-reference packed timestamps and integer (or short decimal) values.
    IntDelta = 2,
    /// Frame-of-reference packed timestamps and float bit patterns.
    FloatDelta = 3,
    /// Timestamps and values (decimal mantissas or float bit patterns) packed in blocks of
    /// 128 samples, each with its own frame of reference: for long (compacted) chunks.
    Blocked = 4,
}

impl Encoding {
    /// Every encoding.
    pub const ALL: [Encoding; 4] = [
        Encoding::Xor,
        Encoding::IntDelta,
        Encoding::FloatDelta,
        Encoding::Blocked,
    ];

    /// The encoding of a header byte.
    pub fn from_u8(b: u8) -> Option<Encoding> {
        match b {
            1 => Some(Encoding::Xor),
            2 => Some(Encoding::IntDelta),
            3 => Some(Encoding::FloatDelta),
            4 => Some(Encoding::Blocked),
            _ => None,
        }
    }
}

/// Readable bytes that must follow a chunk's bytes so that decoders can always load 8 bytes
/// (plus one for fields wider than 56 bits) at any field offset without a bounds fallback.
/// Their content does not matter: decoders mask or length-check everything they read past
/// the chunk (heap chunks use zeros; a chunk in a block file is followed by its checksum and
/// the next chunk, and the file ends with `PAD` zero bytes).
pub const PAD: usize = 16;

/// An immutable encoded chunk; cloning is cheap (shared bytes, on the heap or in a mapped
/// block file).
#[derive(Clone)]
pub struct Chunk {
    /// The encoded bytes followed by at least `PAD` readable bytes.
    bytes: OwnedBytes,
    /// The parsed header, kept narrow (a head holds a handle per sealed chunk).
    min_t: i64,
    max_t: i64,
    n: u32,
    /// Length of the encoded bytes (without the padding).
    len: u32,
    /// Offset of the body (the header's length).
    body: u8,
    enc: Encoding,
}

impl fmt::Debug for Chunk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chunk")
            .field("encoding", &self.enc)
            .field("samples", &self.n)
            .field("min_time", &self.min_t)
            .field("max_time", &self.max_t)
            .field("bytes", &self.as_bytes().len())
            .finish()
    }
}

impl Chunk {
    /// A chunk of the first `len` bytes of `bytes` (followed by `PAD` readable bytes), whose
    /// header `h` was parsed or written by this module (so its fields fit: a header is at
    /// most 31 bytes, a chunk holds at most `MAX_SAMPLES_HARD` samples).
    pub(crate) fn with_header(bytes: OwnedBytes, len: usize, h: Header) -> Chunk {
        debug_assert!(h.body <= usize::from(u8::MAX) && h.n <= MAX_SAMPLES_HARD);
        Chunk {
            bytes,
            min_t: h.min_t,
            max_t: h.max_t,
            n: h.n as u32,
            len: len as u32,
            body: h.body as u8,
            enc: h.enc,
        }
    }

    /// The parsed header.
    #[inline]
    pub(crate) fn header(&self) -> Header {
        Header {
            enc: self.enc,
            n: self.n as usize,
            min_t: self.min_t,
            max_t: self.max_t,
            body: usize::from(self.body),
        }
    }

    /// Wraps bytes known to be valid (written by this module), adding the padding.
    pub(crate) fn from_trusted(mut bytes: Vec<u8>, header: Header) -> Chunk {
        let len = bytes.len();
        bytes.extend_from_slice(&[0u8; PAD]);
        Chunk::with_header(OwnedBytes::from_vec(bytes), len, header)
    }

    /// This chunk viewing another copy of its encoded bytes: `bytes` holds them followed by
    /// at least [`PAD`] readable bytes (the head's chunk files).
    pub(crate) fn with_bytes(&self, bytes: OwnedBytes) -> Chunk {
        debug_assert!(
            bytes.len() >= self.len as usize + PAD
                && bytes[..self.len as usize] == *self.as_bytes()
        );
        Chunk { bytes, ..*self }
    }

    /// The body (after the header) including the padding, and its length without it.
    pub(crate) fn body(&self) -> (&[u8], usize) {
        let body = self.bytes.get(usize::from(self.body)..).unwrap_or(&[]);
        (
            body,
            (self.len as usize).saturating_sub(usize::from(self.body)),
        )
    }

    /// Validates the header of `bytes` and wraps them. For the packed encodings the whole
    /// layout is validated too; an Xor body is validated while iterating.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Chunk> {
        Chunk::validate(&bytes)?;
        let h = header::parse(&bytes)?;
        Ok(Chunk::from_trusted(bytes, h))
    }

    /// Validates the chunk in the first `len` bytes of `bytes` and wraps them without copying.
    /// `bytes` must hold at least [`PAD`] more readable bytes after the chunk (any content).
    pub fn from_owned(bytes: OwnedBytes, len: usize) -> Result<Chunk> {
        if bytes.len() < len.saturating_add(PAD) {
            return Err(Error::CorruptChunk(format!(
                "{len}-byte chunk without {PAD} bytes of padding after it"
            )));
        }
        if u32::try_from(len).is_err() {
            return Err(Error::CorruptChunk(format!("{len}-byte chunk")));
        }
        let h = Chunk::validate(&bytes[..len])?;
        Ok(Chunk::with_header(bytes, len, h))
    }

    /// Checks the header (and the layout of a packed body) of the chunk that is exactly
    /// `bytes`.
    fn validate(bytes: &[u8]) -> Result<Header> {
        let h = header::parse(bytes)?;
        let body = &bytes[h.body..];
        match (h.enc, h.n) {
            (_, 0) => {
                if !body.is_empty() {
                    return Err(Error::CorruptChunk("bytes after an empty chunk".into()));
                }
            }
            (Encoding::Xor, n) => {
                // The first value takes 64 bits; no sample takes more than 4 + 64 + 13 + 64 bits.
                let max = 8 + (n as u64 - 1) * 19;
                if (body.len() as u64) < 8 || body.len() as u64 > max {
                    return Err(Error::CorruptChunk(format!(
                        "xor body of {} bytes cannot hold {n} samples",
                        body.len()
                    )));
                }
            }
            (Encoding::Blocked, n) => {
                blocked::BlockedLayout::validate(body, body.len(), n)?;
            }
            (enc, n) => {
                packed::PackedLayout::parse(body, body.len(), enc, n)?;
            }
        }
        Ok(h)
    }

    /// Encodes samples (timestamps strictly increasing, as many values as timestamps, at most
    /// [`MAX_SAMPLES_HARD`]) with the smallest encoding.
    pub fn encode(ts: &[i64], vs: &[f64]) -> Result<Chunk> {
        check_input(ts, vs)?;
        let mut b = ChunkBuilder::new();
        for (&t, &v) in ts.iter().zip(vs) {
            b.push(t, v);
        }
        Ok(b.seal())
    }

    /// Encodes samples with the given encoding; an error if the input is invalid or the
    /// values do not suit the encoding (IntDelta with many non-decimal values).
    pub fn encode_as(enc: Encoding, ts: &[i64], vs: &[f64]) -> Result<Chunk> {
        check_input(ts, vs)?;
        let bytes = if enc == Encoding::Xor {
            let mut b = ChunkBuilder::new();
            for (&t, &v) in ts.iter().zip(vs) {
                b.push(t, v);
            }
            return Ok(b.snapshot());
        } else {
            builder::with_scratch(|sc| packed::encode_as(enc, ts, vs, &mut sc.s)).ok_or_else(
                || Error::CorruptChunk(format!("values cannot be encoded as {enc:?}")),
            )?
        };
        let h = header::parse(&bytes)?;
        Ok(Chunk::from_trusted(bytes, h))
    }

    /// The encoded bytes, header included.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// The encoding chosen for this chunk.
    pub fn encoding(&self) -> Encoding {
        self.enc
    }

    /// Number of samples.
    pub fn num_samples(&self) -> usize {
        self.n as usize
    }

    /// Timestamp of the first sample (0 for an empty chunk).
    pub fn min_time(&self) -> i64 {
        self.min_t
    }

    /// Timestamp of the last sample (0 for an empty chunk).
    pub fn max_time(&self) -> i64 {
        self.max_t
    }

    /// Iterates the samples in time order.
    #[inline]
    pub fn iter(&self) -> ChunkIter<'_> {
        ChunkIter::new(self)
    }

    /// Appends all samples to column vectors (the columnar read path). The whole chunk is
    /// decoded straight into the vectors' new tails; on corrupt bytes the valid prefix is
    /// kept and the error returned.
    pub fn decode_into(&self, ts: &mut Vec<i64>, vs: &mut Vec<f64>) -> Result<()> {
        self.decode_after(i64::MIN, ts, vs)
    }

    /// Appends the timestamps of all samples (staleness markers included) to `ts`, checked
    /// as [`Chunk::decode_into`] checks them; a long `Blocked` chunk decodes its timestamp
    /// column alone. `scratch` is room for values that other encodings decode alongside
    /// (cleared, then left with whatever they decoded).
    pub fn decode_times_into(&self, ts: &mut Vec<i64>, scratch: &mut Vec<f64>) -> Result<()> {
        scratch.clear();
        if self.enc == Encoding::Blocked && self.num_samples() > iter::BLOCK {
            return iter::append_blocked(self, i64::MIN, false, ts, scratch);
        }
        self.decode_into(ts, scratch)
    }

    /// Like [`Chunk::decode_into`], but may leave out samples at or before `after` (a hint
    /// for readers that need only the samples after it: a long `Blocked` chunk skips the
    /// values of its 128-sample blocks that end by then; every timestamp is still checked).
    /// Samples after `after` are all appended.
    pub fn decode_after(&self, after: i64, ts: &mut Vec<i64>, vs: &mut Vec<f64>) -> Result<()> {
        let n = self.num_samples();
        if self.enc == Encoding::Blocked && n > iter::BLOCK {
            return iter::append_blocked(self, after, true, ts, vs);
        }
        let (t0, v0) = (ts.len(), vs.len());
        ts.resize(t0 + n, 0);
        vs.resize(v0 + n, 0.0);
        let (k, e) = iter::decode_chunk(self, &mut ts[t0..], &mut vs[v0..]);
        ts.truncate(t0 + k);
        vs.truncate(v0 + k);
        match e {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

fn check_input(ts: &[i64], vs: &[f64]) -> Result<()> {
    if ts.len() != vs.len() {
        return Err(Error::CorruptChunk(format!(
            "{} timestamps but {} values",
            ts.len(),
            vs.len()
        )));
    }
    if ts.len() > MAX_SAMPLES_HARD {
        return Err(Error::CorruptChunk(format!(
            "{} samples exceed the limit",
            ts.len()
        )));
    }
    if let Some(i) = ts.windows(2).position(|w| w[1] <= w[0]) {
        return Err(Error::CorruptChunk(format!(
            "timestamps not strictly increasing at index {}",
            i + 1
        )));
    }
    Ok(())
}

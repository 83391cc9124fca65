//! Compressed sample chunks. (Interface fixed; implementation in progress.)
//!
//! See `docs/format/chunks.md` for the byte layout.

use crate::error::Result;
use crate::Sample;

/// Most samples a head chunk holds before it is sealed.
pub const MAX_SAMPLES_PER_CHUNK: usize = 120;

/// How a chunk's samples are encoded; stored in the chunk header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Encoding {
    /// Gorilla: delta-of-delta timestamps, XOR-compressed float values.
    Xor = 1,
    /// Delta-of-delta timestamps, zig-zag delta-of-delta integer values.
    IntDelta = 2,
}

/// An immutable encoded chunk; cloning is cheap (shared bytes).
#[derive(Clone, Debug)]
pub struct Chunk {}

impl Chunk {
    /// Validates the header of `bytes` and wraps them.
    pub fn from_bytes(_bytes: Vec<u8>) -> Result<Chunk> {
        todo!()
    }
    /// The encoded bytes, header included.
    pub fn as_bytes(&self) -> &[u8] {
        todo!()
    }
    /// The encoding chosen for this chunk.
    pub fn encoding(&self) -> Encoding {
        todo!()
    }
    /// Number of samples.
    pub fn num_samples(&self) -> usize {
        todo!()
    }
    /// Timestamp of the first sample.
    pub fn min_time(&self) -> i64 {
        todo!()
    }
    /// Timestamp of the last sample.
    pub fn max_time(&self) -> i64 {
        todo!()
    }
    /// Iterates the samples in time order.
    pub fn iter(&self) -> ChunkIter<'_> {
        todo!()
    }
}

/// Iterator over a chunk's samples. Corrupt bytes end the iteration and leave an error in
/// [`ChunkIter::err`]; they never panic.
pub struct ChunkIter<'a> {
    _c: &'a Chunk,
}

impl ChunkIter<'_> {
    /// Advances to the first sample with timestamp `>= t` and returns it.
    pub fn seek(&mut self, _t: i64) -> Option<Sample> {
        todo!()
    }
    /// The decoding error that ended iteration early, if any.
    pub fn err(&self) -> Option<&crate::Error> {
        todo!()
    }
}

impl Iterator for ChunkIter<'_> {
    type Item = Sample;
    fn next(&mut self) -> Option<Sample> {
        todo!()
    }
}

/// The open (head) chunk of a series: appends, cheap snapshots for readers, and sealing.
#[derive(Debug, Default)]
pub struct ChunkBuilder {}

impl ChunkBuilder {
    /// An empty builder.
    pub fn new() -> ChunkBuilder {
        ChunkBuilder {}
    }
    /// Appends a sample. The caller guarantees `t` is greater than the last timestamp.
    pub fn push(&mut self, _t: i64, _v: f64) {
        todo!()
    }
    /// Number of samples held.
    pub fn len(&self) -> usize {
        todo!()
    }
    /// True if no sample is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Timestamp of the first sample, if any.
    pub fn min_time(&self) -> Option<i64> {
        todo!()
    }
    /// The last sample, if any.
    pub fn last(&self) -> Option<Sample> {
        todo!()
    }
    /// Bytes of memory held by the encoded data.
    pub fn memory_bytes(&self) -> usize {
        todo!()
    }
    /// The samples so far as an immutable chunk (a copy of the encoded bytes, no re-encoding).
    pub fn snapshot(&self) -> Chunk {
        todo!()
    }
    /// Seals the chunk, choosing the smaller encoding, and resets the builder.
    pub fn seal(&mut self) -> Chunk {
        todo!()
    }
}

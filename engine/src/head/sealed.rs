//! [`SealedChunk`]: what the head keeps per sealed chunk of a series.
//!
//! A head holds one per 120 samples of every series: at 15 s scrapes and a head spanning
//! 2-3 h that is 8-12 per series, so their size is per-series memory. A chunk written to
//! the head's chunk files ([`super::mapped`]) is kept as the file and the position of its
//! bytes plus the few header fields readers look at without decoding (32 bytes, where a
//! full [`Chunk`] handle takes 72); readers get a [`Chunk`] back with [`SealedChunk::chunk`],
//! which shares the file (a reference count), and its [`ChunkSummary`] with
//! [`SealedChunk::summary`], decoded from the bytes the file holds after the chunk's padding
//! (nothing more is kept on the heap for it). A chunk kept anywhere else (on the heap after
//! a failed write or a rewrite, in a test) stays a boxed [`Chunk`], without a summary.
//!
//! A chunk's record in a file ([`record`], drawn in `docs/format/head_chunks.md`):
//!
//! ```text
//! [chunk bytes: len][PAD zero bytes][u8 k][k bytes: the summary's encoding, or none if k = 0]
//! ```

use std::sync::Arc;

use crate::chunk::{Chunk, ChunkSummary, Encoding, Header, PAD};
use crate::encoding::ByteCursor;
use crate::mmap::AppendFile;
use crate::owned_bytes::{ByteOwner, OwnedBytes};

/// A sealed chunk of a head series (see the module doc). Cheap to clone.
#[derive(Clone)]
pub struct SealedChunk(Repr);

#[derive(Clone)]
enum Repr {
    /// Bytes `off..off + len` of `file`, followed there by `PAD` zero bytes, a length byte
    /// and that many bytes of summary (see the module doc).
    File {
        file: Arc<AppendFile>,
        off: u32,
        len: u32,
        min_t: i64,
        /// `max_t - min_t`.
        span: u32,
        n: u16,
        /// Length of the header.
        body: u8,
        enc: Encoding,
    },
    /// Any other chunk.
    Boxed(Box<Chunk>),
}

/// Appends the record of `c` in a head chunk file to `out`: its bytes, `PAD` zero bytes, the
/// length of the summary's encoding in one byte (0: no summary), then that encoding.
/// `summary` must be the summary of `c`'s samples.
pub(crate) fn record(c: &Chunk, summary: Option<&ChunkSummary>, out: &mut Vec<u8>) {
    debug_assert!(summary.is_none_or(|s| (s.count + s.stale) as usize == c.num_samples()));
    out.extend_from_slice(c.as_bytes());
    out.extend_from_slice(&[0u8; PAD]);
    let at = out.len();
    out.push(0);
    if let Some(s) = summary {
        s.encode(out, c.min_time(), c.max_time());
        // At most 85 bytes (every field at its widest); a longer one would be left out.
        match u8::try_from(out.len() - at - 1) {
            Ok(k) => out[at] = k,
            Err(_) => out.truncate(at + 1),
        }
    }
}

impl SealedChunk {
    /// `c`, whose [`record`] of `record_len` bytes `file` holds at `off` (written before
    /// this is called); `None` if a field does not fit the narrow form or the record does
    /// not lie inside the file.
    pub(crate) fn in_file(
        file: Arc<AppendFile>,
        off: u64,
        c: &Chunk,
        record_len: usize,
    ) -> Option<SealedChunk> {
        let h = c.header();
        let end = off.checked_add(record_len as u64)?;
        if record_len <= c.as_bytes().len() + PAD || end > file.len() as u64 {
            return None;
        }
        Some(SealedChunk(Repr::File {
            file,
            off: u32::try_from(off).ok()?,
            len: u32::try_from(c.as_bytes().len()).ok()?,
            min_t: h.min_t,
            span: u32::try_from(h.max_t.checked_sub(h.min_t)?).ok()?,
            n: u16::try_from(h.n).ok()?,
            body: u8::try_from(h.body).ok()?,
            enc: h.enc,
        }))
    }

    /// The chunk, as readers and decoders take it.
    #[inline]
    pub fn chunk(&self) -> Chunk {
        match &self.0 {
            Repr::Boxed(c) => (**c).clone(),
            Repr::File {
                file,
                off,
                len,
                min_t,
                span,
                n,
                body,
                enc,
            } => {
                let (off, len) = (*off as usize, *len as usize);
                let owner: Arc<dyn ByteOwner> = file.clone();
                // In range: `in_file` checked it against the file's fixed length.
                let bytes = OwnedBytes::view(owner, off..off + len + PAD)
                    .expect("a sealed chunk lies inside its file");
                Chunk::with_header(
                    bytes,
                    len,
                    Header {
                        enc: *enc,
                        n: usize::from(*n),
                        min_t: *min_t,
                        max_t: *min_t + i64::from(*span),
                        body: usize::from(*body),
                    },
                )
            }
        }
    }

    /// The summary of the chunk's samples, decoded from its record in the file; `None` for a
    /// chunk kept on the heap or written without one.
    pub fn summary(&self) -> Option<ChunkSummary> {
        let Repr::File {
            file,
            off,
            len,
            min_t,
            span,
            n,
            ..
        } = &self.0
        else {
            return None;
        };
        // `in_file` checked that the whole record (this length byte and the `k` bytes it
        // counts) lies inside the file, and the record was written before the handle was
        // made; the checks below only keep a broken invariant from panicking.
        let at = *off as usize + *len as usize + PAD;
        let size = ByteOwner::len(&**file);
        if at >= size {
            debug_assert!(false, "a sealed chunk's summary lies inside its file");
            return None;
        }
        let k = usize::from(file.range(at..at + 1)[0]);
        if k == 0 {
            return None;
        }
        if at + 1 + k > size {
            debug_assert!(false, "a sealed chunk's summary lies inside its file");
            return None;
        }
        let mut cur = ByteCursor::new(file.range(at + 1..at + 1 + k));
        let s = ChunkSummary::decode(&mut cur, u32::from(*n), *min_t, *min_t + i64::from(*span))
            .filter(|_| cur.is_empty());
        debug_assert!(s.is_some(), "a summary this process wrote decodes");
        s
    }

    /// Timestamp of the first sample.
    #[inline]
    pub fn min_time(&self) -> i64 {
        match &self.0 {
            Repr::File { min_t, .. } => *min_t,
            Repr::Boxed(c) => c.min_time(),
        }
    }

    /// Timestamp of the last sample.
    #[inline]
    pub fn max_time(&self) -> i64 {
        match &self.0 {
            Repr::File { min_t, span, .. } => *min_t + i64::from(*span),
            Repr::Boxed(c) => c.max_time(),
        }
    }

    /// Number of samples.
    pub fn num_samples(&self) -> usize {
        match &self.0 {
            Repr::File { n, .. } => usize::from(*n),
            Repr::Boxed(c) => c.num_samples(),
        }
    }

    /// Length of the encoded bytes.
    pub fn encoded_len(&self) -> usize {
        match &self.0 {
            Repr::File { len, .. } => *len as usize,
            Repr::Boxed(c) => c.as_bytes().len(),
        }
    }
}

impl std::fmt::Debug for SealedChunk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.chunk().fmt(f)
    }
}

impl From<Chunk> for SealedChunk {
    fn from(c: Chunk) -> SealedChunk {
        SealedChunk(Repr::Boxed(Box::new(c)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_in_a_file_takes_32_bytes() {
        assert_eq!(std::mem::size_of::<SealedChunk>(), 32);
    }

    #[test]
    fn both_forms_give_back_the_same_chunk() {
        let dir = tempfile::tempdir().unwrap();
        let ts: Vec<i64> = (0..120).map(|i| 1_000_000 + i * 15_000 + i % 3).collect();
        let vs: Vec<f64> = (0..120).map(|i| (i * i) as f64 / 7.0).collect();
        let c = Chunk::encode(&ts, &vs).unwrap();
        let file = Arc::new(AppendFile::create(&dir.path().join("f"), 1 << 16).unwrap());
        let mut rec = Vec::new();
        let sum = ChunkSummary::compute(&ts, &vs);
        record(&c, Some(&sum), &mut rec);
        file.write_at(100, &rec).unwrap();
        let f = SealedChunk::in_file(file.clone(), 100, &c, rec.len()).unwrap();
        let b = SealedChunk::from(c.clone());
        assert_eq!(f.summary(), Some(sum));
        assert_eq!(b.summary(), None, "a chunk on the heap has no summary");
        for s in [&f, &b] {
            assert_eq!(s.min_time(), c.min_time());
            assert_eq!(s.max_time(), c.max_time());
            assert_eq!(s.num_samples(), 120);
            assert_eq!(s.encoded_len(), c.as_bytes().len());
            let got = s.chunk();
            assert_eq!(got.as_bytes(), c.as_bytes());
            assert_eq!(got.iter().collect::<Vec<_>>(), c.iter().collect::<Vec<_>>());
        }
        // A chunk whose record would not lie inside the file is refused, and so is a record
        // too short to hold the chunk, its padding and the summary's length byte.
        let end = (1 << 16) - rec.len() as u64;
        assert!(SealedChunk::in_file(file.clone(), end, &c, rec.len()).is_some());
        assert!(SealedChunk::in_file(file.clone(), end + 1, &c, rec.len()).is_none());
        let short = c.as_bytes().len() + PAD;
        assert!(SealedChunk::in_file(file.clone(), 100, &c, short).is_none());
        // A record written without a summary gives none.
        let mut bare = Vec::new();
        record(&c, None, &mut bare);
        assert_eq!(bare.len(), short + 1);
        assert!(bare[c.as_bytes().len()..].iter().all(|&b| b == 0));
        file.write_at(8192, &bare).unwrap();
        let s = SealedChunk::in_file(file, 8192, &c, bare.len()).unwrap();
        assert_eq!(s.summary(), None);
        assert_eq!(s.chunk().as_bytes(), c.as_bytes());
    }
}

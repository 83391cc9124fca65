//! [`SealedChunk`]: what the head keeps per sealed chunk of a series.
//!
//! A head holds one per 120 samples of every series: at 15 s scrapes and a head spanning
//! 2-3 h that is 8-12 per series, so their size is per-series memory. A chunk written to
//! the head's chunk files ([`super::mapped`]) is kept as the file and the position of its
//! bytes plus the few header fields readers look at without decoding (32 bytes, where a
//! full [`Chunk`] handle takes 72); readers get a [`Chunk`] back with [`SealedChunk::chunk`],
//! which shares the file (a reference count). A chunk kept anywhere else (on the heap after
//! a failed write or a rewrite, in a test) stays a boxed [`Chunk`].

use std::sync::Arc;

use crate::chunk::{Chunk, Encoding, Header, PAD};
use crate::mmap::AppendFile;
use crate::owned_bytes::{ByteOwner, OwnedBytes};

/// A sealed chunk of a head series (see the module doc). Cheap to clone.
#[derive(Clone)]
pub struct SealedChunk(Repr);

#[derive(Clone)]
enum Repr {
    /// Bytes `off..off + len` of `file` (followed by `PAD` zero bytes there).
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

impl SealedChunk {
    /// `c`, whose bytes `file` holds at `off` (followed by `PAD` bytes); `None` if a field
    /// does not fit the narrow form.
    pub(crate) fn in_file(file: Arc<AppendFile>, off: u64, c: &Chunk) -> Option<SealedChunk> {
        let h = c.header();
        let end = off.checked_add((c.as_bytes().len() + PAD) as u64)?;
        if end > file.len() as u64 {
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
        file.write_at(100, c.as_bytes()).unwrap();
        let f = SealedChunk::in_file(file.clone(), 100, &c).unwrap();
        let b = SealedChunk::from(c.clone());
        for s in [&f, &b] {
            assert_eq!(s.min_time(), c.min_time());
            assert_eq!(s.max_time(), c.max_time());
            assert_eq!(s.num_samples(), 120);
            assert_eq!(s.encoded_len(), c.as_bytes().len());
            let got = s.chunk();
            assert_eq!(got.as_bytes(), c.as_bytes());
            assert_eq!(got.iter().collect::<Vec<_>>(), c.iter().collect::<Vec<_>>());
        }
        // A chunk whose bytes and padding would not lie inside the file is refused.
        assert!(SealedChunk::in_file(file, (1 << 16) - 20, &c).is_none());
    }
}

//! [`OwnedBytes`]: an immutable byte range that keeps its owner alive, whether the bytes live
//! on the heap (a head chunk, a test) or in a memory-mapped block file.
//!
//! Readers (chunks, index entries) hold `OwnedBytes` and never learn where the bytes are.
//! Cloning and slicing are O(1) and share the owner. The owner of mapped bytes is the
//! mapped file itself (`mmap::MappedFile`), so a chunk read from a block keeps the
//! mapping valid for as long as any reader holds the chunk, even after the block has been
//! deleted from disk by compaction or retention (an unlinked file stays mapped).

use std::fmt;
use std::ops::{Deref, Range};
use std::sync::Arc;

/// Something that owns immutable bytes. Implemented for heap buffers here and for mapped
/// files in [`crate::mmap`].
pub trait ByteOwner: Send + Sync + 'static {
    /// Number of bytes owned.
    fn len(&self) -> usize;

    /// True if no byte is owned.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes in `range`, which lies inside `0..len()` (callers check). A range once
    /// viewed must hold the same bytes on every later call. (An owner may still be written
    /// beyond the ranges it has handed out: the head's chunk files are.)
    fn range(&self, range: Range<usize>) -> &[u8];
}

impl ByteOwner for Vec<u8> {
    fn len(&self) -> usize {
        self.as_slice().len()
    }
    fn range(&self, range: Range<usize>) -> &[u8] {
        &self[range]
    }
}

impl ByteOwner for Box<[u8]> {
    fn len(&self) -> usize {
        <[u8]>::len(self)
    }
    fn range(&self, range: Range<usize>) -> &[u8] {
        &self[range]
    }
}

/// Who keeps the bytes alive: a heap buffer (one allocation, the common case of head chunks)
/// or any other owner (a mapped file).
#[derive(Clone)]
enum Owner {
    Heap(Arc<[u8]>),
    Other(Arc<dyn ByteOwner>),
}

impl Owner {
    #[inline]
    fn range(&self, range: Range<usize>) -> &[u8] {
        match self {
            Owner::Heap(b) => &b[range],
            Owner::Other(o) => o.range(range),
        }
    }
}

/// An immutable, cheaply cloneable view of bytes that keeps their owner alive.
#[derive(Clone)]
pub struct OwnedBytes {
    owner: Owner,
    start: usize,
    end: usize,
}

impl OwnedBytes {
    /// Views bytes `range` of `owner`; `None` if the range is not inside it.
    pub fn view(owner: Arc<dyn ByteOwner>, range: Range<usize>) -> Option<OwnedBytes> {
        if range.start > range.end || range.end > owner.len() {
            return None;
        }
        Some(OwnedBytes {
            owner: Owner::Other(owner),
            start: range.start,
            end: range.end,
        })
    }

    /// Wraps `owner`, viewing all of its bytes.
    pub fn new(owner: Arc<dyn ByteOwner>) -> OwnedBytes {
        let end = owner.len();
        OwnedBytes {
            owner: Owner::Other(owner),
            start: 0,
            end,
        }
    }

    /// Heap bytes (one shared allocation holding the counts and the bytes).
    pub fn from_vec(v: Vec<u8>) -> OwnedBytes {
        let end = v.len();
        OwnedBytes {
            owner: Owner::Heap(v.into()),
            start: 0,
            end,
        }
    }

    /// A sub-range of this view, or `None` if `range` is not inside it.
    pub fn slice(&self, range: Range<usize>) -> Option<OwnedBytes> {
        if range.start > range.end || range.end > self.len() {
            return None;
        }
        Some(OwnedBytes {
            owner: self.owner.clone(),
            start: self.start + range.start,
            end: self.start + range.end,
        })
    }

    /// The bytes.
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        // In bounds by construction: `new` views the whole owner and `slice` checks.
        self.owner.range(self.start..self.end)
    }
}

impl Deref for OwnedBytes {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for OwnedBytes {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl fmt::Debug for OwnedBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OwnedBytes({} bytes)", self.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_share_the_owner_and_check_bounds() {
        let b = OwnedBytes::from_vec((0u8..10).collect());
        let s = b.slice(2..6).unwrap();
        assert_eq!(&*s, &[2, 3, 4, 5]);
        assert_eq!(&*s.slice(1..3).unwrap(), &[3, 4]);
        assert!(s.slice(3..5).is_none());
        #[allow(clippy::reversed_empty_ranges)]
        let bad = 3..2;
        assert!(s.slice(bad).is_none());
        drop(b);
        assert_eq!(s.len(), 4, "the view keeps the owner alive");
    }
}

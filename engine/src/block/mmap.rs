//! Read-only memory maps of block files: the only `unsafe` code in Strata.
//!
//! A [`MappedFile`] maps a whole file read-only and hands out its bytes through
//! [`ByteOwner`], so every view of it is an [`crate::owned_bytes::OwnedBytes`] that keeps the
//! map alive and is bounds-checked by slicing. Nothing else in the workspace maps files.
//!
//! # Safety contract
//!
//! Mapping a file is `unsafe` because the bytes behind a `&[u8]` could change or vanish if
//! the file were modified or truncated while mapped. Strata only maps files of blocks, and a
//! block is immutable once it is visible:
//! - its files are written in a temporary directory, fsynced, and only then renamed into
//!   place (`block::writer`); nothing ever opens them for writing again (tombstones, the one
//!   mutable part of a block, live in a separate small file that is read, not mapped, and
//!   replaced by rename);
//! - compaction, retention and deletes remove a block by unlinking its files, which leaves
//!   existing maps valid until the last reader drops them (readers hold an `Arc` of the map);
//! - corrupted blocks are moved aside by rename, which does not change their bytes.
//!
//! What breaks the contract is another process truncating or rewriting a block file in
//! place (an operator editing the data directory by hand, or a second Strata writing into
//! the same directory despite the lock). Reading a truncated part of a map then raises
//! `SIGBUS` and kills the process; checksums catch bytes changed in place. That is the same
//! contract Prometheus and tantivy work under.
#![allow(unsafe_code)]

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::owned_bytes::ByteOwner;

/// A whole file mapped read-only (or an empty one, which cannot be mapped).
pub struct MappedFile {
    map: Option<memmap2::Mmap>,
    path: PathBuf,
}

impl MappedFile {
    /// Maps `path` read-only. The file must belong to a block that is complete and
    /// immutable (see the module's safety contract).
    pub fn open(path: &Path) -> Result<MappedFile> {
        let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
        let len = file
            .metadata()
            .map_err(|e| Error::io("stat", path, e))?
            .len();
        let map = if len == 0 {
            None
        } else {
            // SAFETY: the file is part of a block, written to a temporary directory,
            // fsynced and renamed into place before anyone maps it, and never opened for
            // writing again; deleting it unlinks it, which keeps this map valid. Only a
            // foreign process truncating it in place could invalidate the bytes (SIGBUS on
            // access), which the module doc states as the contract.
            let map =
                unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io("mmap", path, e))?;
            Some(map)
        };
        Ok(MappedFile {
            map,
            path: path.to_path_buf(),
        })
    }

    /// The file that is mapped.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl ByteOwner for MappedFile {
    fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_files_and_empty_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"hello").unwrap();
        let m = MappedFile::open(&p).unwrap();
        assert_eq!(m.bytes(), b"hello");
        // Unlinking keeps the map readable.
        std::fs::remove_file(&p).unwrap();
        assert_eq!(m.bytes(), b"hello");
        let e = dir.path().join("empty");
        std::fs::write(&e, b"").unwrap();
        assert_eq!(MappedFile::open(&e).unwrap().bytes(), b"");
        assert!(MappedFile::open(&dir.path().join("missing")).is_err());
    }
}

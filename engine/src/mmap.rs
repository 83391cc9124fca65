//! Memory maps: the only `unsafe` code in Strata.
//!
//! Two kinds of file are mapped, both read-only, both handing out their bytes through
//! [`ByteOwner`] so that every view of them is an [`crate::owned_bytes::OwnedBytes`] that
//! keeps the map alive and is bounds-checked by slicing. Nothing else in the workspace maps
//! files.
//! - [`MappedFile`]: a whole block file, complete and immutable before it is mapped.
//! - [`AppendFile`]: a file of the head's sealed chunks (`head::mapped`), created at a fixed
//!   length, mapped once, and filled by this process with positioned writes (`pwrite`, not
//!   through the map) while readers view the parts already written.
//!
//! # Safety contract
//!
//! Mapping a file is `unsafe` because the bytes behind a `&[u8]` could change or vanish if
//! the file were modified or truncated while mapped.
//! - A block is immutable once it is visible: its files are written in a temporary
//!   directory, fsynced, and only then renamed into place (`block::writer`); nothing ever
//!   opens them for writing again (tombstones, the one mutable part of a block, live in a
//!   separate small file that is read, not mapped, and replaced by rename).
//! - A head chunk file is created by this process (`create_new`), given its final length
//!   before it is mapped, and never truncated. Each byte is written at most once, and a
//!   view of a range is handed out only after the write of the whole range returned
//!   ([`AppendFile::write_at`] then [`ByteOwner::range`]), so a viewed byte never changes;
//!   bytes still to be written are never viewed (a view is built from the range alone,
//!   never from a slice of the whole map). Writes through `pwrite` reach the shared map
//!   coherently on Linux (one page cache).
//! - A head chunk file's pages may be dropped from the process' resident memory
//!   ([`AppendFile::drop_resident_pages`]): the map is shared, so a later access maps them
//!   again from the page cache with the same bytes.
//! - Compaction, retention, deletes and head truncation remove a file by unlinking it,
//!   which leaves existing maps valid until the last reader drops them (readers hold an
//!   `Arc` of the map); corrupted blocks are moved aside by rename, which does not change
//!   their bytes.
//!
//! What breaks the contract is another process truncating or rewriting a mapped file in
//! place (an operator editing the data directory by hand, or a second Strata writing into
//! the same directory despite the lock). Reading a truncated part of a map then raises
//! `SIGBUS` and kills the process; checksums catch block bytes changed in place. That is the
//! same contract Prometheus and tantivy work under.
#![allow(unsafe_code)]

use std::fs::File;
use std::ops::Range;
use std::os::unix::fs::FileExt;
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

    /// The whole file.
    pub fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }
}

impl ByteOwner for MappedFile {
    fn len(&self) -> usize {
        self.bytes().len()
    }
    fn range(&self, range: Range<usize>) -> &[u8] {
        &self.bytes()[range]
    }
}

/// A file of fixed length, mapped read-only, that this process fills by positioned writes
/// (the head's chunk files). See the module's safety contract: each byte is written at most
/// once, and only ranges whose write returned are viewed.
pub struct AppendFile {
    file: File,
    map: memmap2::Mmap,
    path: PathBuf,
}

impl AppendFile {
    /// Creates `path` (which must not exist) with `len` bytes, all zero (a sparse file:
    /// disk is used as bytes are written), and maps it.
    pub fn create(path: &Path, len: u64) -> Result<AppendFile> {
        if len == 0 {
            return Err(Error::io(
                "create",
                path,
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty append file"),
            ));
        }
        let file = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| Error::io("create", path, e))?;
        file.set_len(len)
            .map_err(|e| Error::io("set the length of", path, e))?;
        // SAFETY: this process just created the file (`create_new`) and set its final
        // length; it never truncates it, writes each byte at most once with `write_at`, and
        // views only ranges whose write completed (`range`). Unlinking it keeps the map
        // valid. Only a foreign process truncating it in place could invalidate the bytes
        // (SIGBUS on access), which the module doc states as the contract.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io("mmap", path, e))?;
        Ok(AppendFile {
            file,
            map,
            path: path.to_path_buf(),
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `bytes` at `offset` (through the file, not the map: written pages do not
    /// count in this process' resident memory until a reader touches them). The range must
    /// lie inside the file, must not have been written before, and must not be viewed
    /// before this returns.
    pub fn write_at(&self, offset: u64, bytes: &[u8]) -> std::io::Result<()> {
        let end = offset.checked_add(bytes.len() as u64);
        if end.is_none_or(|e| e > self.map.len() as u64) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "write past the end of an append file",
            ));
        }
        self.file.write_all_at(bytes, offset)
    }

    /// Takes the file's pages out of this process' resident memory (`MADV_DONTNEED`): they
    /// stay in the page cache, and a later read maps them again from there. A head cut
    /// reads every chunk it writes into a block; without this the pages it touched would
    /// count in the process' RSS for as long as the file lives.
    pub fn drop_resident_pages(&self) -> std::io::Result<()> {
        // SAFETY: the map is a shared (MAP_SHARED) read-only map of a regular file, and every
        // byte a reader may view was written to the file before it was viewed and never
        // changes (module contract). After MADV_DONTNEED, an access to a shared file mapping
        // maps the page again from the page cache, that is, with the file's current
        // contents: the same bytes. No view ever sees other bytes, and nothing writes
        // through the map.
        unsafe {
            self.map
                .unchecked_advise(memmap2::UncheckedAdvice::DontNeed)
        }
    }
}

impl ByteOwner for AppendFile {
    fn len(&self) -> usize {
        self.map.len()
    }

    fn range(&self, range: Range<usize>) -> &[u8] {
        assert!(
            range.start <= range.end && range.end <= self.map.len(),
            "range outside the append file"
        );
        // SAFETY: the range lies inside the map (checked above), which lives as long as
        // `self`; callers view only ranges whose `write_at` returned, and those bytes are
        // never written again (module contract), so nothing mutates them while the slice
        // lives. The slice is built from the range alone, so bytes still being written
        // elsewhere in the file are never behind a reference.
        unsafe { std::slice::from_raw_parts(self.map.as_ptr().add(range.start), range.len()) }
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

    #[test]
    fn append_files_show_what_was_written_through_the_map() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a");
        let f = AppendFile::create(&p, 4096).unwrap();
        assert_eq!(ByteOwner::len(&f), 4096);
        f.write_at(10, b"hello").unwrap();
        f.write_at(4090, b"world!").unwrap();
        assert_eq!(f.range(10..15), b"hello");
        assert_eq!(f.range(4090..4096), b"world!");
        assert_eq!(f.range(15..20), &[0; 5], "unwritten bytes read as zeros");
        assert!(f.write_at(4091, b"world!").is_err(), "past the end");
        assert!(f.write_at(u64::MAX, b"x").is_err());
        // It exists already: never reopened for writing.
        assert!(AppendFile::create(&p, 4096).is_err());
        assert!(AppendFile::create(&dir.path().join("z"), 0).is_err());
        // Unlinking keeps the map readable.
        std::fs::remove_file(&p).unwrap();
        assert_eq!(f.range(10..15), b"hello");
        f.write_at(100, b"late").unwrap();
        assert_eq!(f.range(100..104), b"late");
        // Dropping the resident pages keeps the bytes: they are read again from the file.
        let held = f.range(10..15);
        f.drop_resident_pages().unwrap();
        assert_eq!(held, b"hello");
        assert_eq!(f.range(100..104), b"late");
    }
}

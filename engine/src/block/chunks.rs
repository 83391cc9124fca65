//! A block's chunk segment files (`<block>/chunks/000001`, ...): the encoded chunks of every
//! series, referenced from the index. Layout in `docs/format/block.md`.
//!
//! ```text
//! segment: "SCHK" | version u8 = 1 | 3 zero bytes | record* | 16 zero bytes
//! record:  uvarint len | chunk bytes (len) | crc32c(chunk bytes) u32 LE
//! ref:     segment number << 32 | byte offset of the record in the segment
//! ```
//!
//! Invariants: a segment is at most [`MAX_SEGMENT_BYTES`] plus one record (so offsets fit in
//! 32 bits); the 16 zero bytes at the end give the last chunk the readable padding the chunk
//! decoders need ([`crate::chunk::PAD`]); every other chunk is followed by its checksum and
//! the next record, whose content does not matter to the decoders. A chunk is handed out only
//! after its checksum matched, and is then validated by [`Chunk::from_owned`].

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::mmap::MappedFile;
use crate::chunk::{Chunk, PAD};
use crate::encoding::{put_uvarint, ByteCursor};
use crate::error::{Error, Result};
use crate::owned_bytes::OwnedBytes;

/// Magic bytes at the start of every chunk segment.
pub const MAGIC: &[u8; 4] = b"SCHK";
/// Format version of chunk segments.
pub const VERSION: u8 = 1;
/// Length of the segment header.
pub const HEADER_LEN: usize = 8;
/// A new segment is started once a segment holds this many bytes.
pub const MAX_SEGMENT_BYTES: u64 = 512 << 20;

pub use crate::index::ChunkRef;

/// Path of segment `n` in a block's chunk directory.
pub fn segment_path(dir: &Path, n: u32) -> PathBuf {
    dir.join(format!("{n:06}"))
}

/// Writes chunk segments, starting a new one past [`MAX_SEGMENT_BYTES`].
///
/// A chunk whose bytes equal a record already written to the current segment (a histogram's
/// `+Inf` bucket and its `_count`, buckets that never moved, constant series of one target)
/// may be given that record's reference instead of a new record; see [`ChunkWriter::write`].
pub struct ChunkWriter {
    dir: PathBuf,
    seg: u32,
    file: Option<File>,
    /// Records not yet written to `file`; `buf[0]` is at segment offset `buf_start`.
    buf: Vec<u8>,
    buf_start: u64,
    offset: u64,
    /// Bytes written over all segments, padding included.
    written: u64,
    /// The current segment's records by checksum of their chunk bytes: (offset, length).
    /// The first record with a given checksum stays; a later one with the same checksum and
    /// other bytes is simply written.
    seen: HashMap<u32, (u32, u32)>,
    /// Chunks given an existing record's reference.
    shared: u64,
}

/// [`ChunkReader::read_copies`] reads two chunks with one read only if the second record
/// starts at most this many bytes after the first.
const MAX_RUN_GAP: u64 = 256 << 10;

/// Records are written to the file in batches of about this many bytes.
const WRITE_BATCH: usize = 1 << 20;

impl ChunkWriter {
    /// A writer creating segments in `dir` (which must exist).
    pub fn new(dir: &Path) -> ChunkWriter {
        ChunkWriter {
            dir: dir.to_path_buf(),
            seg: 0,
            file: None,
            buf: Vec::new(),
            buf_start: 0,
            offset: 0,
            written: 0,
            seen: HashMap::new(),
            shared: 0,
        }
    }

    fn start_segment(&mut self) -> Result<()> {
        self.finish_segment()?;
        self.seg += 1;
        let path = segment_path(&self.dir, self.seg);
        // Readable too: a chunk that may share a record is compared with the stored bytes.
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(|e| Error::io("create", &path, e))?;
        self.file = Some(f);
        self.seen.clear();
        self.buf.clear();
        self.buf_start = 0;
        self.buf.extend_from_slice(MAGIC);
        self.buf.push(VERSION);
        self.buf.resize(HEADER_LEN, 0);
        self.offset = HEADER_LEN as u64;
        self.written += HEADER_LEN as u64;
        Ok(())
    }

    /// Writes the buffered records to the segment file.
    fn flush(&mut self) -> Result<()> {
        if let Some(f) = &mut self.file {
            f.write_all(&self.buf)
                .map_err(|e| Error::io("write", segment_path(&self.dir, self.seg), e))?;
            self.buf_start += self.buf.len() as u64;
            self.buf.clear();
        }
        Ok(())
    }

    fn finish_segment(&mut self) -> Result<()> {
        if self.file.is_some() {
            self.buf.extend_from_slice(&[0u8; PAD]);
            self.written += PAD as u64;
            self.flush()?;
            let path = segment_path(&self.dir, self.seg);
            let f = self.file.take().expect("checked above");
            f.sync_all().map_err(|e| Error::io("fsync", &path, e))?;
        }
        Ok(())
    }

    /// True if the record at segment offset `off` holds exactly `bytes` (whose record header
    /// is `head_len` bytes long).
    fn record_holds(&self, off: u64, head_len: usize, bytes: &[u8]) -> Result<bool> {
        let start = off + head_len as u64;
        if start >= self.buf_start {
            let at = (start - self.buf_start) as usize;
            return Ok(self.buf.get(at..at + bytes.len()) == Some(bytes));
        }
        use std::os::unix::fs::FileExt;
        let path = segment_path(&self.dir, self.seg);
        let mut stored = vec![0u8; bytes.len()];
        let f = self.file.as_ref().expect("a segment is open");
        // A record before `buf_start` was written to the file whole: `flush` writes whole
        // records only.
        f.read_exact_at(&mut stored, start)
            .map_err(|e| Error::io("read back", &path, e))?;
        Ok(stored == bytes)
    }

    /// Appends one chunk and returns its reference. If the current segment already holds a
    /// record with exactly these bytes at a reference greater than `after` (the previous
    /// chunk of the same series, whose references must increase), that reference is
    /// returned and nothing is written.
    pub fn write(&mut self, chunk: &Chunk, after: Option<ChunkRef>) -> Result<ChunkRef> {
        if self.file.is_none() || self.offset >= MAX_SEGMENT_BYTES {
            self.start_segment()?;
        }
        let bytes = chunk.as_bytes();
        let mut head = [0u8; 10];
        let head_len = {
            let mut v = Vec::with_capacity(10);
            put_uvarint(&mut v, bytes.len() as u64);
            head[..v.len()].copy_from_slice(&v);
            v.len()
        };
        let crc = crc32c::crc32c(bytes);
        let seg_base = u64::from(self.seg) << 32;
        let here = (u32::try_from(self.offset), u32::try_from(bytes.len()));
        match self.seen.get(&crc) {
            Some(&(off, len))
                if len as usize == bytes.len()
                    && self.record_holds(u64::from(off), head_len, bytes)? =>
            {
                let r = seg_base | u64::from(off);
                if after.is_none_or(|a| r > a) {
                    self.shared += 1;
                    return Ok(r);
                }
                // The series' own earlier chunk lies after that record: this copy, written
                // now, is the one later series can share.
                if let (Ok(off), Ok(len)) = here {
                    self.seen.insert(crc, (off, len));
                }
            }
            Some(_) => {}
            None => {
                if let (Ok(off), Ok(len)) = here {
                    self.seen.insert(crc, (off, len));
                }
            }
        }
        let r = seg_base | self.offset;
        self.buf.extend_from_slice(&head[..head_len]);
        self.buf.extend_from_slice(bytes);
        self.buf.extend_from_slice(&crc.to_le_bytes());
        let n = (head_len + bytes.len() + 4) as u64;
        self.offset += n;
        self.written += n;
        if self.buf.len() >= WRITE_BATCH {
            self.flush()?;
        }
        Ok(r)
    }

    /// Chunks given the reference of an identical record written before.
    pub fn shared(&self) -> u64 {
        self.shared
    }

    /// Pads and fsyncs the last segment. Returns the bytes written.
    pub fn finish(mut self) -> Result<u64> {
        self.finish_segment()?;
        Ok(self.written)
    }
}

/// Reads chunks from a block's mapped segments (queries), or with positioned reads that
/// leave nothing resident in the process (compaction, which reads every chunk once).
pub struct ChunkReader {
    segments: Vec<OwnedBytes>,
    files: Vec<std::fs::File>,
}

impl ChunkReader {
    /// Maps every segment of `dir` (numbered from 1 without gaps) and checks their headers.
    pub fn open(dir: &Path) -> Result<ChunkReader> {
        let mut names: Vec<u32> = Vec::new();
        let rd = std::fs::read_dir(dir).map_err(|e| Error::io("read dir", dir, e))?;
        for e in rd {
            let e = e.map_err(|e| Error::io("read dir", dir, e))?;
            if let Some(n) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) {
                names.push(n);
            }
        }
        names.sort_unstable();
        let mut segments = Vec::with_capacity(names.len());
        let mut files = Vec::with_capacity(names.len());
        for (i, &n) in names.iter().enumerate() {
            let path = segment_path(dir, n);
            if n as usize != i + 1 {
                return Err(Error::corrupt_block(
                    dir,
                    "chunks",
                    format!("segment {} missing", i + 1),
                ));
            }
            let map = MappedFile::open(&path)?;
            let bytes = OwnedBytes::new(Arc::new(map));
            if bytes.len() < HEADER_LEN + PAD
                || &bytes[..4] != MAGIC
                || bytes[4] != VERSION
                || bytes[bytes.len() - PAD..].iter().any(|&b| b != 0)
            {
                return Err(Error::corrupt_block(
                    &path,
                    "chunks",
                    "bad segment header or end padding".into(),
                ));
            }
            segments.push(bytes);
            files.push(File::open(&path).map_err(|e| Error::io("open", &path, e))?);
        }
        Ok(ChunkReader { segments, files })
    }

    /// The chunks at `refs` (ascending, as one series' chunks are) read with positioned
    /// reads into heap memory, one read per run of nearby chunks in the same segment, each
    /// checksum verified. Mapped pages are not touched, so reading a whole block (as
    /// compaction does) does not grow the process's resident memory.
    pub fn read_copies(&self, refs: &[ChunkRef]) -> std::result::Result<Vec<Chunk>, String> {
        use std::os::unix::fs::FileExt;
        let mut out = Vec::with_capacity(refs.len());
        let mut i = 0;
        while i < refs.len() {
            let seg = (refs[i] >> 32) as usize;
            let mut j = i + 1;
            // A run ends where the next record is far away: chunks shared with other series
            // (see `ChunkWriter::write`) may lie anywhere before a series' own records.
            while j < refs.len()
                && (refs[j] >> 32) as usize == seg
                && refs[j] > refs[j - 1]
                && refs[j] - refs[j - 1] <= MAX_RUN_GAP
            {
                j += 1;
            }
            let file = seg
                .checked_sub(1)
                .and_then(|k| self.files.get(k))
                .ok_or_else(|| format!("chunk ref {:#x}: no segment {seg}", refs[i]))?;
            let seg_len = self.segments[seg - 1].len() - PAD;
            let first = (refs[i] & 0xffff_ffff) as usize;
            let last = (refs[j - 1] & 0xffff_ffff) as usize;
            if first < HEADER_LEN || last >= seg_len {
                return Err(format!(
                    "chunk ref {:#x}: offset outside segment {seg}",
                    refs[i]
                ));
            }
            // The last record's length bounds the read.
            let mut head = [0u8; 10];
            let n = (seg_len - last).min(10);
            file.read_exact_at(&mut head[..n], last as u64)
                .map_err(|e| format!("reading segment {seg}: {e}"))?;
            let mut c = ByteCursor::new(&head[..n]);
            let len = c
                .uvarint()
                .and_then(|l| usize::try_from(l).ok())
                .ok_or_else(|| format!("chunk ref {:#x}: bad length", refs[j - 1]))?;
            let end = (last + c.pos())
                .checked_add(len + 4)
                .filter(|&e| e <= seg_len)
                .ok_or_else(|| format!("chunk ref {:#x}: runs past the segment", refs[j - 1]))?;
            let mut buf = vec![0u8; end - first];
            file.read_exact_at(&mut buf, first as u64)
                .map_err(|e| format!("reading segment {seg}: {e}"))?;
            for &r in &refs[i..j] {
                let off = (r & 0xffff_ffff) as usize - first;
                let mut c = ByteCursor::new(&buf[off..]);
                let len = c
                    .uvarint()
                    .and_then(|l| usize::try_from(l).ok())
                    .ok_or_else(|| format!("chunk ref {r:#x}: bad length"))?;
                let start = off + c.pos();
                let stop = start
                    .checked_add(len)
                    .filter(|&e| e + 4 <= buf.len())
                    .ok_or_else(|| format!("chunk ref {r:#x}: length {len} runs past the read"))?;
                let crc = ByteCursor::new(&buf[stop..stop + 4])
                    .u32_le()
                    .ok_or_else(|| format!("chunk ref {r:#x}: truncated checksum"))?;
                if crc32c::crc32c(&buf[start..stop]) != crc {
                    return Err(format!("chunk ref {r:#x}: checksum mismatch"));
                }
                out.push(
                    Chunk::from_bytes(buf[start..stop].to_vec())
                        .map_err(|e| format!("chunk ref {r:#x}: {e}"))?,
                );
            }
            i = j;
        }
        Ok(out)
    }

    /// The chunk at `r`, checksum verified and header validated.
    pub fn chunk(&self, r: ChunkRef) -> std::result::Result<Chunk, String> {
        let seg = (r >> 32) as usize;
        let off = (r & 0xffff_ffff) as usize;
        let bytes = seg
            .checked_sub(1)
            .and_then(|i| self.segments.get(i))
            .ok_or_else(|| format!("chunk ref {r:#x}: no segment {seg}"))?;
        let data_end = bytes.len() - PAD;
        if off < HEADER_LEN || off >= data_end {
            return Err(format!("chunk ref {r:#x}: offset outside segment {seg}"));
        }
        let mut c = ByteCursor::with_end(&bytes[off..], data_end - off);
        let len = c
            .uvarint()
            .and_then(|l| usize::try_from(l).ok())
            .ok_or_else(|| format!("chunk ref {r:#x}: bad length"))?;
        let start = off + c.pos();
        let end = start
            .checked_add(len)
            .filter(|&e| e + 4 <= data_end)
            .ok_or_else(|| format!("chunk ref {r:#x}: length {len} runs past the segment"))?;
        let crc = ByteCursor::new(&bytes[end..end + 4])
            .u32_le()
            .ok_or_else(|| format!("chunk ref {r:#x}: truncated checksum"))?;
        if crc32c::crc32c(&bytes[start..end]) != crc {
            return Err(format!("chunk ref {r:#x}: checksum mismatch"));
        }
        let view = bytes
            .slice(start..end + PAD)
            .ok_or_else(|| format!("chunk ref {r:#x}: no room for padding"))?;
        Chunk::from_owned(view, len).map_err(|e| format!("chunk ref {r:#x}: {e}"))
    }

    /// Bytes of all segments.
    pub fn size(&self) -> u64 {
        self.segments.iter().map(|s| s.len() as u64).sum()
    }
}

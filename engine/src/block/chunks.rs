//! A block's chunk segment files (`<block>/chunks/000001`, ...): the encoded chunks of every
//! series, referenced from the index. Layout in `docs/format/block.md`.
//!
//! ```text
//! segment: "SCHK" | version u8 = 3 | 3 zero bytes | record* | 16 zero bytes
//! record:  uvarint len | chunk bytes (len) | crc32c(chunk bytes) u32 LE
//!          chunk bytes = a chunk (chunks.md), or 5 | uvarint offset | value part: a chunk
//!          whose timestamp part is that of the record at that offset (before this one),
//!          or 6 | uvarint offset | value part: a histogram bucket's chunk stored as its
//!          difference to the chunk of the record at that offset (before this one; see
//!          `bands.rs`)
//! ref:     segment number << 32 | byte offset of the record in the segment
//! ```
//!
//! Invariants: a segment is at most [`MAX_SEGMENT_BYTES`] plus one record (so offsets fit in
//! 32 bits); the 16 zero bytes at the end give the last chunk the readable padding the chunk
//! decoders need ([`crate::chunk::PAD`]); every other chunk is followed by its checksum and
//! the next record, whose content does not matter to the decoders. A chunk is handed out only
//! after its checksum matched, and is then validated by [`Chunk::from_owned`].

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::bands::{Bands, BucketChunk, BucketOf, Placed, BAND, MAX_CHAIN};
use crate::chunk::{shared_times, Chunk, PAD};
use crate::encoding::{put_uvarint, uvarint_len, ByteCursor};
use crate::error::{Error, Result};
use crate::mmap::MappedFile;
use crate::owned_bytes::OwnedBytes;

/// Magic bytes at the start of every chunk segment.
pub const MAGIC: &[u8; 4] = b"SCHK";
/// Format version of the chunk segments written: 2 may hold shared-times records, 3 band
/// records too (older versions, which cannot, are still read).
pub const VERSION: u8 = 3;
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
/// may be given that record's reference instead of a new record, and a packed chunk whose
/// timestamps an earlier record of the segment holds is stored without them; see
/// [`ChunkWriter::write`].
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
    /// The timestamp parts ([`shared_times::split`]) of the current segment's plain
    /// records, by checksum: the record's offset and the part. The first record with a given
    /// checksum stays; at most [`MAX_TIMES_BYTES`] of parts are kept.
    times: HashMap<u32, (u32, Box<[u8]>)>,
    times_bytes: usize,
    /// The current segment's bucket chunks that later buckets may be stored relative to.
    bands: Bands,
    /// Room to decode bucket chunks into.
    ts: Vec<i64>,
    vs: Vec<f64>,
}

/// What [`ChunkWriter::find`] found for some record bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Found {
    /// No record holds them.
    Absent,
    /// This record (its reference) holds them and the series can take it.
    Take(ChunkRef),
    /// A record holds them, before the series' previous chunk.
    Refused,
}

/// First byte of a shared-times record: `SHARED_TIMES | uvarint offset of the record holding
/// the timestamps | value part` (never a chunk encoding byte).
pub const SHARED_TIMES: u8 = 5;

/// Timestamp parts a writer keeps to find chunks that can share them (per segment): scrape
/// targets' distinct timestamp sequences, which are few, fit many times over.
const MAX_TIMES_BYTES: usize = 16 << 20;

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
            times: HashMap::new(),
            times_bytes: 0,
            bands: Bands::default(),
            ts: Vec::new(),
            vs: Vec::new(),
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
        self.times.clear();
        self.times_bytes = 0;
        self.bands.clear();
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

    /// Whether a record of the current segment holds exactly `bytes` (checksum `crc`), and
    /// if so whether the series whose previous chunk is at `after` can take it (its
    /// reference must be greater).
    fn find(&self, bytes: &[u8], crc: u32, after: Option<ChunkRef>) -> Result<Found> {
        let Some(&(off, len)) = self.seen.get(&crc) else {
            return Ok(Found::Absent);
        };
        let head_len = uvarint_len(bytes.len() as u64);
        if len as usize != bytes.len() || !self.record_holds(u64::from(off), head_len, bytes)? {
            return Ok(Found::Absent);
        }
        let r = (u64::from(self.seg) << 32) | u64::from(off);
        Ok(if after.is_none_or(|a| r > a) {
            Found::Take(r)
        } else {
            Found::Refused
        })
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
    /// record with exactly the bytes this chunk would be stored as, at a reference greater
    /// than `after` (the previous chunk of the same series, whose references must
    /// increase), that reference is returned and nothing is written. A packed chunk whose
    /// timestamps are encoded exactly as those of a chunk stored before in the segment is
    /// stored as its value part and that record's offset (a shared-times record); a chunk of
    /// a histogram bucket (`bucket`) may be stored as its difference to a neighbouring
    /// bucket's chunk (a band record, see [`super::bands`]), whichever is shortest.
    pub fn write(
        &mut self,
        chunk: &Chunk,
        after: Option<ChunkRef>,
        bucket: Option<BucketOf>,
    ) -> Result<ChunkRef> {
        if self.file.is_none() || self.offset >= MAX_SEGMENT_BYTES {
            self.start_segment()?;
        }
        let plain = chunk.as_bytes();
        let split = shared_times::split(plain);
        let (mut ts, mut vs) = (std::mem::take(&mut self.ts), std::mem::take(&mut self.vs));
        ts.clear();
        vs.clear();
        let bucket = match (bucket, &split) {
            (Some(of), Some(sp)) if chunk.decode_into(&mut ts, &mut vs).is_ok() => {
                Some(BucketChunk {
                    of,
                    times: &sp.times,
                    tcrc: crc32c::crc32c(&sp.times),
                    ts: &ts,
                    vs: &vs,
                    chunk,
                })
            }
            _ => None,
        };
        let placed = self.place(plain, split.as_ref(), after, bucket.as_ref());
        if let (Ok((r, placed)), Some(c)) = (&placed, &bucket) {
            self.bands.remember(c, (*r & 0xffff_ffff) as u32, *placed);
        }
        (self.ts, self.vs) = (ts, vs);
        placed.map(|(r, _)| r)
    }

    /// Stores `plain` (split as `split`) as the shortest record it can be, or finds a record
    /// holding it (see [`ChunkWriter::write`]). Returns the reference and how the chunk was
    /// placed.
    fn place(
        &mut self,
        plain: &[u8],
        split: Option<&shared_times::TimesSplit>,
        after: Option<ChunkRef>,
        bucket: Option<&BucketChunk<'_>>,
    ) -> Result<(ChunkRef, Placed)> {
        // A record holding exactly the chunk: the same chunk in another series.
        let crc = crc32c::crc32c(plain);
        let refused = match self.find(plain, crc, after)? {
            Found::Take(r) => return Ok((r, Placed::Taken)),
            found => found == Found::Refused,
        };
        let mut stored = std::borrow::Cow::Borrowed(plain);
        let mut new_times = None;
        if let Some(split) = split {
            let tcrc = crc32c::crc32c(&split.times);
            match self.times.get(&tcrc) {
                Some((src, times)) if **times == *split.times => {
                    let mut rec = Vec::with_capacity(split.values.len() + 6);
                    rec.push(SHARED_TIMES);
                    put_uvarint(&mut rec, u64::from(*src));
                    rec.extend_from_slice(&split.values);
                    if rec.len() < plain.len() {
                        stored = std::borrow::Cow::Owned(rec);
                    }
                }
                Some(_) => {}
                None => new_times = Some((tcrc, split.times.clone())),
            }
        }
        let (mut crc, mut refused) = (crc, refused);
        if let std::borrow::Cow::Owned(rec) = &stored {
            // The same values over the same shared timestamps: an identical record.
            crc = crc32c::crc32c(rec);
            match self.find(rec, crc, after)? {
                Found::Take(r) => return Ok((r, Placed::Taken)),
                found => refused = found == Found::Refused,
            }
        }
        let mut placed = Placed::Plain;
        if let Some(band) = bucket.and_then(|c| self.bands.record(c, stored.len())) {
            // The same differences to the same base: an identical record.
            let bcrc = crc32c::crc32c(&band.bytes);
            match self.find(&band.bytes, bcrc, after)? {
                Found::Take(r) => return Ok((r, Placed::Taken)),
                found => refused = found == Found::Refused,
            }
            (crc, placed) = (bcrc, Placed::Band(band.depth));
            stored = std::borrow::Cow::Owned(band.bytes);
            // A band record holds no timestamps for others to share.
            new_times = None;
        }
        let bytes: &[u8] = &stored;
        let mut head = Vec::with_capacity(10);
        put_uvarint(&mut head, bytes.len() as u64);
        if let (Ok(off), Ok(len)) = (u32::try_from(self.offset), u32::try_from(bytes.len())) {
            // The first record with these bytes stays findable, unless the series could not
            // take it: then this newer copy is the one that later series can share.
            let e = self.seen.entry(crc).or_insert((off, len));
            if refused {
                *e = (off, len);
            }
        }
        if let (Some((tcrc, times)), Ok(off)) = (new_times, u32::try_from(self.offset)) {
            if self.times_bytes + times.len() <= MAX_TIMES_BYTES {
                self.times_bytes += times.len();
                self.times.insert(tcrc, (off, times.into_boxed_slice()));
            }
        }
        let r = (u64::from(self.seg) << 32) | self.offset;
        self.buf.extend_from_slice(&head);
        self.buf.extend_from_slice(bytes);
        self.buf.extend_from_slice(&crc.to_le_bytes());
        let n = (head.len() + bytes.len() + 4) as u64;
        self.offset += n;
        self.written += n;
        if self.buf.len() >= WRITE_BATCH {
            self.flush()?;
        }
        Ok((r, placed))
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
    /// Timestamp parts of records that shared-times records point to, by reference, and
    /// their total length: the few timestamp sequences of a block's scrape targets, parsed
    /// once.
    times: Mutex<(TimesByRef, usize)>,
    /// The samples of the records that band records resolved last, newest last: a query
    /// reads a histogram's buckets one after another, and the base of one is mostly a
    /// bucket read just before.
    resolved: Mutex<VecDeque<(ChunkRef, Arc<Resolved>)>>,
}

/// Records whose samples a [`ChunkReader`] keeps (see its `resolved`).
const RESOLVED_KEPT: usize = 16;

/// Timestamp parts by the reference of the record they were read from.
type TimesByRef = HashMap<ChunkRef, Arc<[u8]>>;

/// Bytes of timestamp parts a [`ChunkReader`] keeps (all are dropped when it is full).
const TIMES_CACHED_BYTES: usize = 1 << 20;

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
                || !(1..=VERSION).contains(&bytes[4])
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
        Ok(ChunkReader {
            segments,
            files,
            times: Mutex::new((HashMap::new(), 0)),
            resolved: Mutex::new(VecDeque::new()),
        })
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
            // A run ends where the next record is far away: chunks shared with other series
            // (see `ChunkWriter::write`) may lie anywhere before a series' own records.
            let mut j = i + 1;
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
            let read = |from: usize, to: usize| -> std::result::Result<Vec<u8>, String> {
                let mut buf = vec![0u8; to - from];
                file.read_exact_at(&mut buf, from as u64)
                    .map_err(|e| format!("reading segment {seg}: {e}"))?;
                Ok(buf)
            };
            let first = (refs[i] & 0xffff_ffff) as usize;
            let last = (refs[j - 1] & 0xffff_ffff) as usize;
            if first < HEADER_LEN || last >= seg_len {
                return Err(format!(
                    "chunk ref {:#x}: offset outside segment {seg}",
                    refs[i]
                ));
            }
            // Where the record at `at` ends (its length prefix read), for reference `r`.
            let record_end = |at: usize, r: ChunkRef| -> std::result::Result<usize, String> {
                let (n, len) = record_len(&read(at, seg_len.min(at + 10))?, r)?;
                (at + n)
                    .checked_add(len + 4)
                    .filter(|&e| e <= seg_len)
                    .ok_or_else(|| format!("chunk ref {r:#x}: runs past the segment"))
            };
            // The last record's length bounds the read.
            let buf = read(first, record_end(last, refs[j - 1])?)?;
            let pread = Pread {
                seg: seg_len,
                read: &read,
                record_end: &record_end,
            };
            for &r in &refs[i..j] {
                let off = (r & 0xffff_ffff) as usize;
                let rec = record(&buf, off - first, buf.len(), r)?;
                out.push(chunk_of(&pread, rec, off, r)?);
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
        let rec = record(bytes, off, data_end, r)?;
        if matches!(rec.first(), Some(&SHARED_TIMES | &BAND)) {
            let mapped = Mapped {
                reader: self,
                bytes,
                data_end,
                key: r & !0xffff_ffff,
            };
            return chunk_of(&mapped, rec, off, r);
        }
        let start = rec.as_ptr() as usize - bytes.as_ptr() as usize;
        let view = bytes
            .slice(start..start + rec.len() + PAD)
            .ok_or_else(|| format!("chunk ref {r:#x}: no room for padding"))?;
        Chunk::from_owned(view, rec.len()).map_err(|e| format!("chunk ref {r:#x}: {e}"))
    }

    /// Appends the samples of the chunk at `r` to `ts` and `vs`, leaving out samples at or
    /// before `after` where that saves work (as [`Chunk::decode_after`]); with `times_only`,
    /// `vs` is scratch (as [`Chunk::decode_times_into`]). A band record's samples are
    /// appended as they are resolved, without encoding them again as [`ChunkReader::chunk`]
    /// does.
    pub fn decode(
        &self,
        r: ChunkRef,
        after: i64,
        times_only: bool,
        ts: &mut Vec<i64>,
        vs: &mut Vec<f64>,
    ) -> std::result::Result<(), String> {
        let seg = (r >> 32) as usize;
        let off = (r & 0xffff_ffff) as usize;
        if let Some(bytes) = seg.checked_sub(1).and_then(|i| self.segments.get(i)) {
            let data_end = bytes.len() - PAD;
            let kind = (HEADER_LEN..data_end)
                .contains(&off)
                .then(|| record_len(&bytes[off..data_end], r).ok())
                .flatten()
                .and_then(|(n, _)| bytes.get(off + n).copied());
            if kind == Some(BAND) {
                let rec = record(bytes, off, data_end, r)?;
                if rec.first() == Some(&BAND) {
                    let mapped = Mapped {
                        reader: self,
                        bytes,
                        data_end,
                        key: r & !0xffff_ffff,
                    };
                    let resolved = samples_of(&mapped, rec, off, r, 0)?;
                    // Kept as it is handed out: one copy, into the caller's columns.
                    let resolved = Arc::new(resolved);
                    mapped.keep(off, &resolved);
                    let (t, v, _) = &*resolved;
                    if times_only {
                        vs.clear();
                    }
                    ts.extend_from_slice(t);
                    vs.extend_from_slice(v);
                    return Ok(());
                }
            }
        }
        let c = self.chunk(r)?;
        let done = if times_only {
            c.decode_times_into(ts, vs)
        } else {
            c.decode_after(after, ts, vs)
        };
        done.map_err(|e| format!("chunk ref {r:#x}: {e}"))
    }

    /// Bytes of all segments.
    pub fn size(&self) -> u64 {
        self.segments.iter().map(|s| s.len() as u64).sum()
    }
}

/// The length prefix of the record at the start of `head`: (prefix bytes, chunk length).
fn record_len(head: &[u8], r: ChunkRef) -> std::result::Result<(usize, usize), String> {
    let mut c = ByteCursor::new(head);
    let len = c
        .uvarint()
        .and_then(|l| usize::try_from(l).ok())
        .ok_or_else(|| format!("chunk ref {r:#x}: bad length"))?;
    Ok((c.pos(), len))
}

/// The chunk bytes of the record at `off` in `data` (records end before `end`), checksum
/// verified; `r` names the reference being read in errors.
fn record(data: &[u8], off: usize, end: usize, r: ChunkRef) -> std::result::Result<&[u8], String> {
    let (at, len) = record_len(data.get(off..end).unwrap_or(&[]), r)?;
    let start = off + at;
    let stop = start
        .checked_add(len)
        .filter(|&e| e + 4 <= end)
        .ok_or_else(|| format!("chunk ref {r:#x}: length {len} runs past the segment"))?;
    let crc = ByteCursor::new(&data[stop..stop + 4])
        .u32_le()
        .ok_or_else(|| format!("chunk ref {r:#x}: truncated checksum"))?;
    if crc32c::crc32c(&data[start..stop]) != crc {
        return Err(format!("chunk ref {r:#x}: checksum mismatch"));
    }
    Ok(&data[start..stop])
}

/// Where records of one segment are read from while a record that points to others is
/// resolved: the map (queries) or positioned reads (compaction).
trait Records {
    /// The checksum-verified chunk bytes of the record at offset `off`, read for `r`.
    fn record(&self, off: usize, r: ChunkRef) -> std::result::Result<Cow<'_, [u8]>, String>;

    /// The samples of the record at `off` if they were resolved lately.
    fn resolved(&self, _off: usize) -> Option<Arc<Resolved>> {
        None
    }

    /// Keeps the samples of the record at `off` for [`Records::resolved`].
    fn keep(&self, _off: usize, _samples: &Arc<Resolved>) {}

    /// The timestamp part of the plain record at offset `off`, read for `r`.
    fn times(&self, off: usize, r: ChunkRef) -> std::result::Result<Arc<[u8]>, String> {
        let rec = self.record(off, r)?;
        shared_times::times_of(&rec)
            .map(Arc::from)
            .ok_or_else(|| format!("chunk ref {r:#x}: no timestamps at offset {off}"))
    }
}

/// A mapped segment; timestamp parts are cached in the reader.
struct Mapped<'a> {
    reader: &'a ChunkReader,
    bytes: &'a OwnedBytes,
    data_end: usize,
    /// The segment's number in the high half of a reference.
    key: ChunkRef,
}

impl Records for Mapped<'_> {
    fn record(&self, off: usize, r: ChunkRef) -> std::result::Result<Cow<'_, [u8]>, String> {
        record(self.bytes, off, self.data_end, r).map(Cow::Borrowed)
    }

    fn resolved(&self, off: usize) -> Option<Arc<Resolved>> {
        let key = self.key | off as u64;
        let kept = self
            .reader
            .resolved
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        kept.iter()
            .rev()
            .find(|(k, _)| *k == key)
            .map(|(_, s)| s.clone())
    }

    fn keep(&self, off: usize, samples: &Arc<Resolved>) {
        let key = self.key | off as u64;
        let mut kept = self
            .reader
            .resolved
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if kept.iter().any(|(k, _)| *k == key) {
            return;
        }
        if kept.len() >= RESOLVED_KEPT {
            kept.pop_front();
        }
        kept.push_back((key, samples.clone()));
    }

    fn times(&self, off: usize, r: ChunkRef) -> std::result::Result<Arc<[u8]>, String> {
        let key = self.key | off as u64;
        let cache = &self.reader.times;
        if let Some(t) = cache.lock().unwrap_or_else(|e| e.into_inner()).0.get(&key) {
            return Ok(t.clone());
        }
        let rec = self.record(off, r)?;
        let t: Arc<[u8]> = shared_times::times_of(&rec)
            .map(Arc::from)
            .ok_or_else(|| format!("chunk ref {r:#x}: no timestamps at offset {off}"))?;
        let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.1 + t.len() > TIMES_CACHED_BYTES {
            *cache = (HashMap::new(), 0);
        }
        cache.1 += t.len();
        cache.0.insert(key, t.clone());
        Ok(t)
    }
}

/// A segment read with positioned reads: `read(from, to)` reads bytes, `record_end(off, r)`
/// finds where the record at `off` ends; records end by `seg`.
struct Pread<'a> {
    seg: usize,
    read: &'a ReadFn<'a>,
    record_end: &'a RecordEndFn<'a>,
}

/// Reads the bytes `[from, to)` of a segment.
type ReadFn<'a> = dyn Fn(usize, usize) -> std::result::Result<Vec<u8>, String> + 'a;
/// Where the record at an offset ends, read for a reference.
type RecordEndFn<'a> = dyn Fn(usize, ChunkRef) -> std::result::Result<usize, String> + 'a;

/// A record's samples and the timestamp part they lie on.
type Resolved = (Vec<i64>, Vec<f64>, Arc<[u8]>);

impl Records for Pread<'_> {
    fn record(&self, off: usize, r: ChunkRef) -> std::result::Result<Cow<'_, [u8]>, String> {
        if off >= self.seg {
            return Err(format!(
                "chunk ref {r:#x}: offset {off} outside the segment"
            ));
        }
        let buf = (self.read)(off, (self.record_end)(off, r)?)?;
        record(&buf, 0, buf.len(), r).map(|b| Cow::Owned(b.to_vec()))
    }
}

/// The offset that record `rec` (at `off`, read for `r`) points to, which must lie before
/// it, and the bytes after it.
fn pointer(rec: &[u8], off: usize, r: ChunkRef) -> std::result::Result<(usize, &[u8]), String> {
    let mut c = ByteCursor::new(&rec[1..]);
    let to = c
        .uvarint()
        .and_then(|s| usize::try_from(s).ok())
        .filter(|s| (HEADER_LEN..off).contains(s))
        .ok_or_else(|| format!("chunk ref {r:#x}: bad record reference"))?;
    Ok((to, c.tail()))
}

/// The chunk of record `rec` (at segment offset `off`, read for reference `r`), whatever its
/// kind: a plain chunk, a shared-times record joined with its timestamps, or a band record
/// added to its base and encoded again (in the layout of its timestamp part).
fn chunk_of(
    seg: &impl Records,
    rec: &[u8],
    off: usize,
    r: ChunkRef,
) -> std::result::Result<Chunk, String> {
    let bad = |e: Error| format!("chunk ref {r:#x}: {e}");
    match rec.first() {
        Some(&SHARED_TIMES) => {
            let (src, values) = pointer(rec, off, r)?;
            shared_times::join(&seg.times(src, r)?, values).map_err(bad)
        }
        Some(&BAND) => {
            let (ts, vs, times) = samples_of(seg, rec, off, r, 0)?;
            shared_times::encode_like(&times, &ts, &vs)
                .ok_or_else(|| format!("chunk ref {r:#x}: band values cannot be encoded"))
        }
        _ => Chunk::from_bytes(rec.to_vec()).map_err(bad),
    }
}

/// The samples of record `rec` (at `off`, read for `r`; `depth` band records followed to
/// reach it) and the timestamp part they lie on.
fn samples_of(
    seg: &impl Records,
    rec: &[u8],
    off: usize,
    r: ChunkRef,
    depth: usize,
) -> std::result::Result<Resolved, String> {
    let bad = |e: Error| format!("chunk ref {r:#x}: {e}");
    let (mut ts, mut vs) = (Vec::new(), Vec::new());
    let (chunk, times) = match rec.first() {
        Some(&BAND) => {
            if depth >= MAX_CHAIN {
                return Err(format!("chunk ref {r:#x}: band records chained too deep"));
            }
            let (base, diffs) = pointer(rec, off, r)?;
            let (ts, mut vs, times) = match seg.resolved(base) {
                Some(s) => (*s).clone(),
                None => {
                    let s = samples_of(seg, &seg.record(base, r)?, base, r, depth + 1)?;
                    let s = Arc::new(s);
                    seg.keep(base, &s);
                    Arc::unwrap_or_clone(s)
                }
            };
            let diffs = shared_times::join(&times, diffs).map_err(bad)?;
            let mut ds = Vec::with_capacity(vs.len());
            diffs
                .decode_into(&mut Vec::with_capacity(vs.len()), &mut ds)
                .map_err(bad)?;
            if ds.len() != vs.len() {
                return Err(format!(
                    "chunk ref {r:#x}: band length differs from its base"
                ));
            }
            for (v, d) in vs.iter_mut().zip(ds) {
                *v += d;
            }
            return Ok((ts, vs, times));
        }
        Some(&SHARED_TIMES) => {
            let (src, values) = pointer(rec, off, r)?;
            let times = seg.times(src, r)?;
            (shared_times::join(&times, values).map_err(bad)?, times)
        }
        _ => {
            let times = shared_times::times_of(rec)
                .map(Arc::from)
                .ok_or_else(|| format!("chunk ref {r:#x}: band base has no timestamp column"))?;
            (Chunk::from_bytes(rec.to_vec()).map_err(bad)?, times)
        }
    };
    chunk.decode_into(&mut ts, &mut vs).map_err(bad)?;
    Ok((ts, vs, times))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records kept in memory by offset.
    struct InMemory(HashMap<usize, Vec<u8>>);

    impl Records for InMemory {
        fn record(&self, off: usize, r: ChunkRef) -> std::result::Result<Cow<'_, [u8]>, String> {
            self.0
                .get(&off)
                .map(|b| Cow::Borrowed(&b[..]))
                .ok_or_else(|| format!("chunk ref {r:#x}: nothing at {off}"))
        }
    }

    /// A chain of band records resolves by adding every band to the base, up to
    /// [`MAX_CHAIN`] records deep; a longer chain is an error, not a deep recursion.
    #[test]
    fn band_chains_resolve_and_are_bounded() {
        let ts: Vec<i64> = (0..200).map(|i| 1_000 + i * 15_000).collect();
        let base: Vec<f64> = (0..200).map(|i| (i * 3) as f64).collect();
        let plain = Chunk::encode_as(crate::chunk::Encoding::IntDelta, &ts, &base).unwrap();
        let mut recs = HashMap::new();
        recs.insert(HEADER_LEN, plain.as_bytes().to_vec());
        // Band k adds k + (i % 2) to every sample of the record before it.
        let mut prev = HEADER_LEN;
        let mut want = base.clone();
        let mut wants = Vec::new();
        for k in 1..=MAX_CHAIN + 1 {
            let ds: Vec<f64> = (0..200).map(|i| (k + i % 2) as f64).collect();
            let times = shared_times::times_of(plain.as_bytes()).unwrap();
            let diff = shared_times::encode_like(&times, &ts, &ds).unwrap();
            let split = shared_times::split(diff.as_bytes()).unwrap();
            let mut rec = vec![BAND];
            put_uvarint(&mut rec, prev as u64);
            rec.extend_from_slice(&split.values);
            let off = HEADER_LEN + 1000 * k;
            recs.insert(off, rec);
            for (w, d) in want.iter_mut().zip(&ds) {
                *w += d;
            }
            wants.push((off, want.clone()));
            prev = off;
        }
        let seg = InMemory(recs);
        for (depth, (off, want)) in wants.iter().enumerate() {
            let rec = seg.record(*off, 0).unwrap().into_owned();
            let got = samples_of(&seg, &rec, *off, 0, 0);
            if depth < MAX_CHAIN {
                let (t, v, _) = got.unwrap();
                assert_eq!((t, v), (ts.clone(), want.clone()), "depth {depth}");
                let c = chunk_of(&seg, &rec, *off, 0).unwrap();
                let (mut t, mut v) = (Vec::new(), Vec::new());
                c.decode_into(&mut t, &mut v).unwrap();
                assert_eq!(v, *want);
            } else {
                let e = got.unwrap_err();
                assert!(e.contains("chained too deep"), "{e}");
            }
        }
        // A base at or after its record is refused.
        let mut rec = vec![BAND];
        put_uvarint(&mut rec, 50_000);
        assert!(samples_of(&seg, &rec, 50_000, 0, 0).is_err());
    }
}

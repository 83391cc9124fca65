//! Blocks: immutable, memory-mapped directories holding the data of one time range.
//!
//! ```text
//! <data>/blocks/<ulid>/
//!     meta.json        id, time range [min, max), counts, compaction level and lineage
//!     index            symbols, series with chunk metas and summaries, postings, label table
//!     chunks/000001    chunk segments (512 MiB each at most)
//!     tombstones       deleted ranges per series (optional; replaced by rename)
//! ```
//! Formats: `docs/format/block.md` and `docs/format/index.md`. Module map: `mmap.rs` (the
//! only `unsafe` code of the workspace), `chunks.rs` (segments), `meta.rs`, `tombstones.rs`,
//! `writer.rs` (tmp dir, fsync, rename); the index lives in `crate::index::{reader,writer}`.
//!
//! Invariants: a block directory without the `.tmp` suffix is complete (it was renamed into
//! place after everything in it was fsynced) and never changes except for its tombstones
//! file; a block is read only through [`Block`], which verifies checksums before trusting a
//! byte (small sections at open, series entries, postings lists and chunks at every read).

pub mod bands;
pub mod chunks;
pub mod meta;
pub mod tombstones;
pub mod writer;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

use crate::chunk::Chunk;
use crate::error::{Error, Result};
use crate::index::postings::SeriesRef;
use crate::index::reader::IndexReader;
use crate::index::{ChunkMeta, ChunkRef, SeriesChunks, SeriesSpan};
use crate::labels::{Labels, SymbolTable};
use crate::matcher::Matcher;
use crate::mmap::MappedFile;
use crate::owned_bytes::OwnedBytes;
use chunks::ChunkReader;
use meta::BlockMeta;
use tombstones::Tombstones;

/// An open block.
pub struct Block {
    dir: PathBuf,
    meta: BlockMeta,
    index: IndexReader,
    chunks: ChunkReader,
    tombstones: RwLock<Arc<Tombstones>>,
    size: u64,
    /// Set when a read found damage; the database then moves the block aside.
    damaged: AtomicBool,
}

impl std::fmt::Debug for Block {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Block")
            .field("ulid", &self.meta.ulid)
            .field("min_time", &self.meta.min_time)
            .field("max_time", &self.meta.max_time)
            .finish()
    }
}

/// One series of a block selected for a time range.
#[derive(Clone, Debug)]
pub struct BlockSeries {
    /// Its labels.
    pub labels: Labels,
    /// Its reference in the block (for tombstones).
    pub sref: SeriesRef,
    /// Chunks overlapping the range (empty when `whole` stands for them).
    pub chunks: Vec<ChunkMeta>,
    /// All of the series' chunks in the block as one, when the select asked for that and
    /// they lie inside its span (never for a series with tombstones).
    pub whole: Option<SeriesSpan>,
    /// Deleted intervals of the series (sorted, disjoint, inclusive).
    pub deleted: Vec<(i64, i64)>,
}

impl Block {
    /// Opens the block in `dir`: reads the meta and tombstones, maps the index and chunk
    /// segments, and checks the index's small sections. Chunks are not read.
    pub fn open(dir: &Path, interner: &Arc<SymbolTable>) -> Result<Block> {
        let meta = BlockMeta::read(dir)?;
        let ipath = dir.join("index");
        let imap = OwnedBytes::new(Arc::new(MappedFile::open(&ipath)?));
        let index = IndexReader::open(imap, &ipath, interner)?;
        let chunks = ChunkReader::open(&dir.join("chunks"))?;
        let tombstones = Tombstones::read(dir)?;
        Ok(Block {
            size: dir_size(dir),
            dir: dir.to_path_buf(),
            meta,
            index,
            chunks,
            tombstones: RwLock::new(Arc::new(tombstones)),
            damaged: AtomicBool::new(false),
        })
    }

    /// True once a read of this block found damage (a checksum mismatch, an entry that does
    /// not decode).
    pub fn is_damaged(&self) -> bool {
        self.damaged.load(Ordering::Relaxed)
    }

    /// Records damage found by a read and passes the error on.
    fn damage<T>(&self, r: Result<T>) -> Result<T> {
        if let Err(e @ Error::CorruptBlock { .. }) = &r {
            if !self.damaged.swap(true, Ordering::Relaxed) {
                eprintln!("strata: damage found in block {}: {e}", self.dir.display());
            }
        }
        r
    }

    /// The block's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Its meta.
    pub fn meta(&self) -> &BlockMeta {
        &self.meta
    }

    /// Its id.
    pub fn ulid(&self) -> &str {
        &self.meta.ulid
    }

    /// Bytes on disk.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The index.
    pub fn index(&self) -> &IndexReader {
        &self.index
    }

    /// Current tombstones.
    pub fn tombstones(&self) -> Arc<Tombstones> {
        self.tombstones.read().clone()
    }

    /// Replaces the tombstones, on disk first.
    pub fn set_tombstones(&self, t: Tombstones) -> Result<()> {
        t.write(&self.dir)?;
        *self.tombstones.write() = Arc::new(t);
        Ok(())
    }

    /// Series matching `matchers` with chunks overlapping `[mint, maxt]`, in label order,
    /// with their tombstones. Series whose every chunk there is deleted are left out.
    pub fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<BlockSeries>> {
        self.select_within(matchers, mint, maxt, None)
    }

    /// Like [`Block::select`]; with `within = Some((lo, hi))`, a series whose chunks here all
    /// lie inside `(lo, hi]` (and the range) and whose index entry carries a series summary
    /// comes as one [`SeriesSpan`] (`whole`) instead of its chunks.
    pub fn select_within(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        within: Option<(i64, i64)>,
    ) -> Result<Vec<BlockSeries>> {
        Ok(self
            .select_known(matchers, mint, maxt, within, &[])?
            .into_iter()
            .map(|(_, s)| s)
            .collect())
    }

    /// Like [`Block::select_within`], for a caller that already holds the label sets of
    /// most series (from other blocks): `known` is sorted, and a selected series whose
    /// labels are `known[i]` comes as `(Some(i), series)` with empty `labels`, read
    /// without building them; other series come as `(None, series)`.
    pub fn select_known(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        within: Option<(i64, i64)>,
        known: &[&Labels],
    ) -> Result<Vec<(Option<usize>, BlockSeries)>> {
        if !self.meta.overlaps(mint, maxt) {
            return Ok(Vec::new());
        }
        let refs = self.damage(self.index.select(matchers))?;
        let tomb = self.tombstones();
        let mut out = Vec::with_capacity(refs.len());
        // Series refs are in label order, so the known set a series may equal is found by
        // moving forward through `known`.
        let mut next = 0;
        for r in refs {
            let deleted = tomb.get(r);
            let within = within.filter(|_| deleted.is_empty());
            let expect = known.get(next).copied();
            let (read, chunks) =
                self.damage(self.index.series_unless(r, mint, maxt, within, expect))?;
            let (at, labels) = match read {
                None => (Some(next), Labels::default()),
                Some(l) => {
                    next += known[next..].partition_point(|k| **k < l);
                    match known.get(next) {
                        Some(k) if **k == l => (Some(next), Labels::default()),
                        _ => (None, l),
                    }
                }
            };
            if at.is_some() {
                next += 1;
            }
            let chunks = match chunks {
                SeriesChunks::Whole(span) => {
                    out.push((
                        at,
                        BlockSeries {
                            labels,
                            sref: r,
                            chunks: Vec::new(),
                            whole: Some(span),
                            deleted: Vec::new(),
                        },
                    ));
                    continue;
                }
                SeriesChunks::Chunks(c) => c,
            };
            if chunks.is_empty() {
                continue;
            }
            let deleted = deleted.to_vec();
            if !deleted.is_empty()
                && chunks
                    .iter()
                    .all(|c| covered(&deleted, c.min_time, c.max_time))
            {
                continue;
            }
            out.push((
                at,
                BlockSeries {
                    labels,
                    sref: r,
                    chunks,
                    whole: None,
                    deleted,
                },
            ));
        }
        Ok(out)
    }

    /// The chunk at `r`, checksum verified.
    pub fn chunk(&self, r: ChunkRef) -> Result<Chunk> {
        self.damage(
            self.chunks
                .chunk(r)
                .map_err(|e| Error::corrupt_block(self.dir.join("chunks"), "chunks", e)),
        )
    }

    /// Appends the samples of the chunk at `r` (see [`ChunkReader::decode`]), damage
    /// recorded.
    pub fn decode_chunk(
        &self,
        r: ChunkRef,
        after: i64,
        times_only: bool,
        ts: &mut Vec<i64>,
        vs: &mut Vec<f64>,
    ) -> Result<()> {
        self.damage(
            self.chunks
                .decode(r, after, times_only, ts, vs)
                .map_err(|e| Error::corrupt_block(self.dir.join("chunks"), "chunks", e)),
        )
    }

    /// The chunks at `refs` (ascending) read without the map, for compaction (see
    /// [`ChunkReader::read_copies`]); damage recorded.
    pub fn chunks_copied(&self, refs: &[ChunkRef]) -> Result<Vec<Chunk>> {
        self.damage(
            self.chunks
                .read_copies(refs)
                .map_err(|e| Error::corrupt_block(self.dir.join("chunks"), "chunks", e)),
        )
    }

    /// The chunks of series `r` overlapping `[mint, maxt]` (labels not decoded), damage
    /// recorded.
    pub fn series_chunks(&self, r: SeriesRef, mint: i64, maxt: i64) -> Result<Vec<ChunkMeta>> {
        self.damage(self.index.series_chunks(r, mint, maxt))
    }

    /// Series `r` with all its chunks (for compaction), damage recorded.
    pub fn series(&self, r: SeriesRef) -> Result<(Labels, Vec<ChunkMeta>)> {
        self.damage(self.index.series(r, i64::MIN, i64::MAX))
    }

    /// Every series ref, in label order (for compaction), damage recorded.
    pub fn all_series(&self) -> Result<Vec<SeriesRef>> {
        self.damage(self.index.select(&[]))
    }
}

/// True if `[lo, hi]` lies inside one of the sorted disjoint `intervals`.
pub fn covered(intervals: &[(i64, i64)], lo: i64, hi: i64) -> bool {
    let i = intervals.partition_point(|iv| iv.1 < lo);
    intervals.get(i).is_some_and(|iv| iv.0 <= lo && iv.1 >= hi)
}

/// Writes `path` via a temporary file, fsyncs it, renames it into place and fsyncs the
/// directory.
pub(crate) fn write_file_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).map_err(|e| Error::io("create", &tmp, e))?;
    f.write_all(bytes)
        .map_err(|e| Error::io("write", &tmp, e))?;
    f.sync_all().map_err(|e| Error::io("fsync", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io("rename", &tmp, e))?;
    if let Some(dir) = path.parent() {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Deletes a block directory: renames it to `<ulid>.deleted.tmp` first, so that a reader
/// listing the blocks (a read-only open in another process) sees the whole block or none
/// of it, never a block whose files are half removed; then removes the renamed tree. A
/// leftover after a crash ends in `.tmp` and is removed at the next open.
pub(crate) fn remove_dir(dir: &Path) -> Result<()> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let doomed = dir.with_file_name(format!("{name}.deleted{}", writer::TMP_SUFFIX));
    std::fs::rename(dir, &doomed).map_err(|e| Error::io("rename", dir, e))?;
    std::fs::remove_dir_all(&doomed).map_err(|e| Error::io("remove", &doomed, e))
}

/// fsyncs a directory (so renames and new entries in it are durable).
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io("fsync", dir, e))
}

/// Total bytes of the files under `dir` (0 if unreadable).
pub(crate) fn dir_size(dir: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(_) => e.metadata().map(|m| m.len()).unwrap_or(0),
            Err(_) => 0,
        })
        .sum()
}

//! Writing a block: chunk segments, index and `meta.json` in a temporary directory, fsynced,
//! then renamed into place, so that a block directory is either complete or absent.
//!
//! Sequence (a crash at any point leaves no half block visible):
//! 1. create `<blocks>/<ulid>.tmp/` and `chunks/` in it;
//! 2. stream series in label order: each chunk is appended to a segment and summarised
//!    (decoded once), its meta goes into the index;
//! 3. finish and fsync the segments and the index, write and fsync `meta.json`, fsync the
//!    directories;
//! 4. rename `<ulid>.tmp` to `<ulid>` and fsync `<blocks>`.
//!
//! Temporary directories left by a crash are deleted when the database is opened.

use std::path::{Path, PathBuf};

use super::bands::BucketOf;
use super::chunks::ChunkWriter;
use super::meta::{new_ulid, BlockMeta, BlockStats, Compaction, META_VERSION};
use crate::chunk::{Chunk, ChunkSummary};
use crate::error::{Error, Result};
use crate::index::writer::IndexWriter;
use crate::index::ChunkMeta;
use crate::labels::{Labels, Sym};

/// Suffix of a block directory being written.
pub const TMP_SUFFIX: &str = ".tmp";

/// Builds one block.
pub struct BlockWriter {
    tmp: PathBuf,
    _guard: TmpGuard,
    ulid: String,
    blocks_dir: PathBuf,
    min_time: i64,
    max_time: i64,
    chunks: ChunkWriter,
    index: IndexWriter,
    stats: BlockStats,
    compaction: Compaction,
    metas: Vec<ChunkMeta>,
    ts: Vec<i64>,
    vs: Vec<f64>,
}

impl BlockWriter {
    /// Starts a block covering `[min_time, max_time)` in `blocks_dir`. `symbols` must hold
    /// every label name and value of the series to be added. For a compaction, `compaction`
    /// names the sources and parents (its level and, for a head block, its sources are filled
    /// in here).
    pub fn create(
        blocks_dir: &Path,
        min_time: i64,
        max_time: i64,
        symbols: impl IntoIterator<Item = Sym>,
        compaction: Compaction,
    ) -> Result<BlockWriter> {
        if min_time >= max_time {
            return Err(Error::InvalidArgument(format!(
                "block range [{min_time}, {max_time}) is empty"
            )));
        }
        let ulid = new_ulid();
        let tmp = blocks_dir.join(format!("{ulid}{TMP_SUFFIX}"));
        let cdir = tmp.join("chunks");
        std::fs::create_dir_all(&cdir).map_err(|e| Error::io("create dir", &cdir, e))?;
        let index = IndexWriter::create(&tmp.join("index"), symbols, min_time, max_time)?;
        let mut compaction = compaction;
        if compaction.sources.is_empty() {
            compaction.sources.push(ulid.clone());
        }
        compaction.level = compaction.level.max(1);
        Ok(BlockWriter {
            _guard: TmpGuard(tmp.clone()),
            chunks: ChunkWriter::new(&cdir),
            index,
            tmp,
            ulid,
            blocks_dir: blocks_dir.to_path_buf(),
            min_time,
            max_time,
            stats: BlockStats::default(),
            compaction,
            metas: Vec::new(),
            ts: Vec::new(),
            vs: Vec::new(),
        })
    }

    /// The id the block will have.
    pub fn ulid(&self) -> &str {
        &self.ulid
    }

    /// Adds a series (labels strictly after the previous series') with its chunks in time
    /// order, none overlapping, all inside the block's range. Each chunk is decoded once to
    /// compute its summary. Series without samples are skipped.
    pub fn add_series(&mut self, labels: &Labels, chunks: &[Chunk]) -> Result<()> {
        let mut with = Vec::with_capacity(chunks.len());
        for c in chunks {
            if c.num_samples() == 0 {
                continue;
            }
            self.ts.clear();
            self.vs.clear();
            c.decode_into(&mut self.ts, &mut self.vs)?;
            with.push((c.clone(), ChunkSummary::compute(&self.ts, &self.vs)));
        }
        self.add_series_summarised(labels, &with)
    }

    /// [`BlockWriter::add_series`] for chunks whose summaries are known (copied from another
    /// block's index): the chunks are not decoded.
    pub fn add_series_summarised(
        &mut self,
        labels: &Labels,
        chunks: &[(Chunk, ChunkSummary)],
    ) -> Result<()> {
        self.metas.clear();
        // Blocks cut from the head live until their first compaction: they are written
        // without bands, which cost an encoding per bucket chunk (and another to read back).
        let bucket = BucketOf::of(labels).filter(|_| self.compaction.level > 1);
        for (c, summary) in chunks {
            if c.num_samples() == 0 {
                continue;
            }
            if c.min_time() < self.min_time || c.max_time() >= self.max_time {
                return Err(Error::InvalidArgument(format!(
                    "chunk [{}, {}] of {labels} is outside the block [{}, {})",
                    c.min_time(),
                    c.max_time(),
                    self.min_time,
                    self.max_time
                )));
            }
            let chunk_ref = self
                .chunks
                .write(c, self.metas.last().map(|m| m.chunk_ref), bucket)?;
            self.metas.push(ChunkMeta {
                min_time: c.min_time(),
                max_time: c.max_time(),
                num_samples: c.num_samples() as u32,
                chunk_ref,
                summary: *summary,
            });
            self.stats.num_samples += c.num_samples() as u64;
        }
        if self.metas.is_empty() {
            return Ok(());
        }
        self.index.add_series(labels, &self.metas)?;
        self.stats.num_series += 1;
        self.stats.num_chunks += self.metas.len() as u64;
        Ok(())
    }

    /// Finishes the block and renames it into place. Returns its meta, or `None` (and
    /// nothing on disk) if no series was added.
    pub fn finish(mut self) -> Result<Option<BlockMeta>> {
        if self.stats.num_series == 0 {
            return Ok(None);
        }
        let chunk_bytes = self.chunks.finish()?;
        let index_bytes = self.index.finish()?;
        self.stats.num_bytes = chunk_bytes + index_bytes;
        let meta = BlockMeta {
            ulid: self.ulid.clone(),
            min_time: self.min_time,
            max_time: self.max_time,
            stats: self.stats.clone(),
            compaction: self.compaction.clone(),
            version: META_VERSION,
        };
        // The meta's own size is not counted: it is small and its length depends on the count.
        meta.write(&self.tmp)?;
        super::sync_dir(&self.tmp.join("chunks"))?;
        super::sync_dir(&self.tmp)?;
        let dest = self.blocks_dir.join(&self.ulid);
        std::fs::rename(&self.tmp, &dest).map_err(|e| Error::io("rename", &self.tmp, e))?;
        super::sync_dir(&self.blocks_dir)?;
        Ok(Some(meta))
    }
}

/// Removes a temporary block directory when a writer is dropped unfinished (an error, or a
/// compaction given up); after a successful rename the path no longer exists.
struct TmpGuard(PathBuf);

impl Drop for TmpGuard {
    fn drop(&mut self) {
        if self.0.exists() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

//! Checkpoints: a compact copy of the head that replaces the WAL segments before it.
//!
//! After the head is truncated (its oldest data went into a block), the database cuts the
//! WAL (new writes go to segment `N + 1`), writes `checkpoint.N` holding, for every series
//! still in the head, its series record, its sealed chunks (a chunks record: the encoded
//! chunk bytes, far smaller than the samples they hold) and the samples of its open chunk,
//! and then deletes segments `1..=N` and older checkpoints. Replay reads the newest
//! checkpoint and then the segments after it.
//!
//! Why a snapshot of the head rather than a filtered copy of the old segments: the head is
//! what the segments replay to, it is already compressed, and a series' state is copied under
//! its lock. Appends keep going to segment `N + 1` while the checkpoint is written; an
//! append that reached the head before its series was copied is in both the checkpoint and
//! segment `N + 1`, and replay skips the second copy (a sample not newer than the series'
//! last one is not applied twice). Deletes are already applied to the head, so the
//! checkpoint holds the data after them.
//!
//! File: the segment format (`docs/format/wal.md`) under the name `checkpoint.NNNNNNNN`,
//! written as `checkpoint.NNNNNNNN.tmp`, fsynced, and renamed, so a checkpoint is either
//! complete or absent. A crash before the old segments are deleted leaves them beside the
//! new checkpoint; the next open deletes them.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::record::encode_frames;
use super::segment::{list_segments, segment_header, segment_path, sync_dir};
use super::Record;
use crate::error::{Error, Result};

const PREFIX: &str = "checkpoint.";
const TMP: &str = ".tmp";

/// Path of `checkpoint.N` in the WAL directory.
pub fn checkpoint_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{PREFIX}{n:08}"))
}

fn parse(name: &str) -> Option<u64> {
    let digits = name.strip_prefix(PREFIX)?;
    if digits.len() < 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Complete checkpoints in `dir`, ascending.
pub fn list_checkpoints(dir: &Path) -> Result<Vec<u64>> {
    let mut out = Vec::new();
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io("read dir", dir, e))?;
    for e in rd {
        let e = e.map_err(|e| Error::io("read dir", dir, e))?;
        if let Some(n) = e.file_name().to_str().and_then(parse) {
            out.push(n);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Deletes unfinished checkpoints, checkpoints older than `keep`, and the segments `keep`
/// covers.
pub fn remove_stale_checkpoints(dir: &Path, keep: Option<u64>) -> Result<()> {
    let mut removed = false;
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io("read dir", dir, e))?;
    for e in rd {
        let e = e.map_err(|e| Error::io("read dir", dir, e))?;
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        let stale = match parse(name) {
            Some(n) => keep.is_some_and(|k| n < k),
            None => name.starts_with(PREFIX) && name.ends_with(TMP),
        };
        if stale {
            let p = e.path();
            std::fs::remove_file(&p).map_err(|e| Error::io("remove", &p, e))?;
            removed = true;
        }
    }
    if let Some(k) = keep {
        for n in list_segments(dir)? {
            if n > k {
                break;
            }
            let p = segment_path(dir, n);
            std::fs::remove_file(&p).map_err(|e| Error::io("remove", &p, e))?;
            removed = true;
        }
    }
    if removed {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Writes one checkpoint.
pub struct CheckpointWriter {
    dir: PathBuf,
    n: u64,
    tmp: PathBuf,
    out: BufWriter<File>,
    frames: Vec<u8>,
    bytes: u64,
}

impl CheckpointWriter {
    /// Starts `checkpoint.N` (standing for segments `1..=N`).
    pub fn create(dir: &Path, n: u64) -> Result<CheckpointWriter> {
        let tmp = dir.join(format!("{PREFIX}{n:08}{TMP}"));
        let f = File::create(&tmp).map_err(|e| Error::io("create", &tmp, e))?;
        let mut out = BufWriter::with_capacity(1 << 20, f);
        out.write_all(&segment_header())
            .map_err(|e| Error::io("write", &tmp, e))?;
        Ok(CheckpointWriter {
            dir: dir.to_path_buf(),
            n,
            tmp,
            out,
            frames: Vec::new(),
            bytes: segment_header().len() as u64,
        })
    }

    /// Appends records.
    pub fn write(&mut self, records: &[Record]) -> Result<()> {
        self.frames.clear();
        encode_frames(&mut self.frames, records)
            .map_err(|e| Error::InvalidArgument(format!("checkpoint record: {e}")))?;
        self.out
            .write_all(&self.frames)
            .map_err(|e| Error::io("write", &self.tmp, e))?;
        self.bytes += self.frames.len() as u64;
        Ok(())
    }

    /// fsyncs and renames the checkpoint into place; then deletes the segments it covers and
    /// older checkpoints. Returns its size in bytes.
    pub fn finish(self) -> Result<u64> {
        let f = self
            .out
            .into_inner()
            .map_err(|e| Error::io("write", &self.tmp, e.into_error()))?;
        f.sync_all().map_err(|e| Error::io("fsync", &self.tmp, e))?;
        drop(f);
        let path = checkpoint_path(&self.dir, self.n);
        std::fs::rename(&self.tmp, &path).map_err(|e| Error::io("rename", &self.tmp, e))?;
        sync_dir(&self.dir)?;
        remove_stale_checkpoints(&self.dir, Some(self.n))?;
        Ok(self.bytes)
    }
}

//! Replay on open, and repair of whatever replay finds damaged.
//!
//! Replay first reads the newest checkpoint (`checkpoint.N`, see `checkpoint.rs`), which
//! stands for every segment numbered `N` or less, then the segments after `N` in number
//! order, and delivers every good record. Leftovers of an interrupted checkpoint (a
//! `.tmp` file, older checkpoints, segments the checkpoint covers) are deleted.
//!
//! Damage drops only what is damaged:
//! - a torn or corrupt frame ends its segment: the segment is truncated at the last good
//!   record (records after the damage *in that segment* are lost), and replay goes on with
//!   the next segment, whose records are independent frames;
//! - a segment whose header is unreadable (bad magic, torn) loses its contents and is reset
//!   to an empty segment; a missing segment number is reported and skipped;
//! - a segment with a good magic but a format version this build does not know stops the
//!   open with [`Error::UnsupportedVersion`]: it was written by another Strata version, and
//!   nothing is deleted or rewritten.
//!
//! Records after a hole may refer to series whose definitions were in the lost part; the
//! caller counts those samples and reports them instead of guessing the series. Every
//! repair is one line on stderr and is summed up in the [`ReplayReport`].

use std::fs::File;
use std::io::{BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::error::{Error, Result};

use super::checkpoint::{list_checkpoints, remove_stale_checkpoints};
use super::reader::scan_segment;
use super::segment::{
    create_segment, list_segments, open_segment, segment_header, segment_path, sync_dir,
    SEGMENT_HEADER_LEN, SEGMENT_MAGIC, SEGMENT_VERSION,
};
use super::{Record, ReplayReport};

/// The state replay leaves for the writer: the segment to append to and where.
pub(super) struct Recovered {
    pub segment: u64,
    pub file: File,
    pub offset: u64,
    pub report: ReplayReport,
}

/// Errors out if `path` starts with Strata's segment magic but a version this build does not
/// read (a file from another version is never "repaired").
pub(super) fn check_version(path: &Path) -> Result<()> {
    let mut h = [0u8; 5];
    let n = File::open(path)
        .and_then(|mut f| f.read(&mut h))
        .map_err(|e| Error::io("read", path, e))?;
    if n == 5 && h[..4] == SEGMENT_MAGIC && h[4] != SEGMENT_VERSION {
        return Err(Error::UnsupportedVersion {
            path: path.to_path_buf(),
            found: u32::from(h[4]),
            supported: u32::from(SEGMENT_VERSION),
        });
    }
    Ok(())
}

/// Replays one file of segment format into `on_record`; returns its length and the damage.
fn replay_file(
    path: &Path,
    on_record: &mut dyn FnMut(Record),
    report: &mut ReplayReport,
) -> Result<(u64, Option<super::Damage>)> {
    check_version(path)?;
    let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
    let len = file
        .metadata()
        .map_err(|e| Error::io("stat", path, e))?
        .len();
    let scan = scan_segment(
        BufReader::with_capacity(1 << 20, file),
        len,
        &mut *on_record,
    )
    .map_err(|e| Error::io("read", path, e))?;
    report.records += scan.records;
    Ok((len, scan.damage))
}

/// Notes one repair in the report and on stderr.
fn note(report: &mut ReplayReport, dir: &Path, what: String, dropped: u64) {
    eprintln!("strata: WAL repair in {}: {what}", dir.display());
    report.truncated_bytes += dropped;
    report.repairs += 1;
    if report.damage.is_none() {
        report.damage = Some(what);
    }
}

/// Replays the WAL in `dir` (creating the directory and a first segment if needed), repairs
/// damage, and opens the last segment for appending. `on_progress(done, total)` is called
/// after each file (checkpoint and segments) is read.
pub(super) fn replay(
    dir: &Path,
    on_record: &mut dyn FnMut(Record),
    on_progress: &mut dyn FnMut(u64, u64),
) -> Result<Recovered> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io("create dir", dir, e))?;
    let mut report = ReplayReport::default();
    let checkpoint = list_checkpoints(dir)?.into_iter().max();
    let covered = checkpoint.unwrap_or(0);
    let segs: Vec<u64> = list_segments(dir)?
        .into_iter()
        .filter(|&n| n > covered)
        .collect();
    let total = segs.len() as u64 + u64::from(checkpoint.is_some());
    let mut done = 0;
    if let Some(n) = checkpoint {
        let path = super::checkpoint::checkpoint_path(dir, n);
        let (_, damage) = replay_file(&path, on_record, &mut report)?;
        if let Some(d) = damage {
            // A checkpoint is never appended to: report the loss, keep the file as it is.
            note(
                &mut report,
                dir,
                format!(
                    "{}",
                    Error::CorruptWal {
                        segment: n,
                        offset: d.offset,
                        reason: format!("checkpoint: {}", d.reason),
                    }
                ),
                0,
            );
        }
        report.checkpoint = Some(n);
        done += 1;
        on_progress(done, total);
    }
    remove_stale_checkpoints(dir, checkpoint)?;

    if segs.is_empty() {
        let n = covered + 1;
        let file = create_segment(dir, n)?;
        let path = segment_path(dir, n);
        file.sync_all().map_err(|e| Error::io("fsync", &path, e))?;
        sync_dir(dir)?;
        return Ok(Recovered {
            segment: n,
            file,
            offset: SEGMENT_HEADER_LEN,
            report,
        });
    }

    let mut last_len = SEGMENT_HEADER_LEN;
    for (i, &n) in segs.iter().enumerate() {
        if i > 0 && n != segs[i - 1] + 1 {
            note(
                &mut report,
                dir,
                format!(
                    "segments {} to {} are missing; later segments are still replayed",
                    segs[i - 1] + 1,
                    n - 1
                ),
                0,
            );
        }
        let path = segment_path(dir, n);
        let (len, damage) = replay_file(&path, on_record, &mut report)?;
        report.segments += 1;
        last_len = len;
        if let Some(d) = damage {
            let file = open_segment(dir, n)?;
            let dropped = if d.offset < SEGMENT_HEADER_LEN {
                len
            } else {
                len - d.offset
            };
            let at = if d.offset < SEGMENT_HEADER_LEN {
                // The header itself is bad: the segment starts afresh.
                file.set_len(0)
                    .and_then(|()| file.write_all_at(&segment_header(), 0))
                    .map_err(|e| Error::io("truncate", &path, e))?;
                SEGMENT_HEADER_LEN
            } else {
                file.set_len(d.offset)
                    .map_err(|e| Error::io("truncate", &path, e))?;
                d.offset
            };
            file.sync_all().map_err(|e| Error::io("fsync", &path, e))?;
            last_len = at;
            let later = segs.len() - i - 1;
            note(
                &mut report,
                dir,
                format!(
                    "{}; truncated segment {n} at offset {at}, dropping {dropped} bytes; {later} later segment(s) kept",
                    Error::CorruptWal {
                        segment: n,
                        offset: d.offset,
                        reason: d.reason,
                    },
                ),
                dropped,
            );
        }
        done += 1;
        on_progress(done, total);
    }
    let segment = *segs.last().expect("not empty");
    let file = open_segment(dir, segment)?;
    // The previous process may have died before its last writes were fsynced; make what
    // replay saw durable before new writes are acknowledged on top of it.
    file.sync_all()
        .map_err(|e| Error::io("fsync", segment_path(dir, segment), e))?;
    Ok(Recovered {
        segment,
        file,
        offset: last_len,
        report,
    })
}

/// Replays without repairing or creating anything (read-only opening of a directory another
/// process writes): checkpoint, then segments; damage ends a file's replay and is reported.
pub(super) fn replay_read_only(
    dir: &Path,
    on_record: &mut dyn FnMut(Record),
) -> Result<ReplayReport> {
    let mut report = ReplayReport::default();
    if !dir.exists() {
        return Ok(report);
    }
    let checkpoint = list_checkpoints(dir)?.into_iter().max();
    let covered = checkpoint.unwrap_or(0);
    if let Some(n) = checkpoint {
        let path = super::checkpoint::checkpoint_path(dir, n);
        if let (_, Some(d)) = replay_file(&path, on_record, &mut report)? {
            report.damage.get_or_insert(format!(
                "checkpoint {n} at offset {}: {}",
                d.offset, d.reason
            ));
        }
        report.checkpoint = Some(n);
    }
    let segs: Vec<u64> = list_segments(dir)?
        .into_iter()
        .filter(|&n| n > covered)
        .collect();
    // Segments must follow the checkpoint without a hole: a hole means the writer wrote a
    // newer checkpoint and deleted the segments it covers since this replay listed files.
    let contiguous =
        segs.first().is_none_or(|&f| f == covered + 1) && segs.windows(2).all(|w| w[1] == w[0] + 1);
    let newer = list_checkpoints(dir)?.into_iter().max() != checkpoint;
    if !contiguous || newer {
        return Err(Error::io(
            "replay",
            dir,
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "the WAL was checkpointed while being read",
            ),
        ));
    }
    for n in segs {
        let path = segment_path(dir, n);
        match replay_file(&path, on_record, &mut report) {
            Ok((_, damage)) => {
                report.segments += 1;
                if let Some(d) = damage {
                    // The last segment's tail is usually just being written.
                    report
                        .damage
                        .get_or_insert(format!("segment {n} at offset {}: {}", d.offset, d.reason));
                }
            }
            // Deleted by the writer's checkpoint meanwhile: its records are in the checkpoint
            // this replay did not see; the caller retries with a fresh listing.
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::io("open", &path, source));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(report)
}

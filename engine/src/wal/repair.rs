//! Replay on open, and repair of whatever replay finds damaged.
//!
//! Replay reads the segments in number order and delivers every good record. The first damage
//! anywhere (a torn or corrupt frame, a bad segment header, a missing segment number) ends the
//! log: the damaged segment is truncated at its last good record, every later segment is
//! deleted, and appending resumes at the cut. Dropping what follows mid-log damage is a
//! deliberate choice: a later record may use a series defined in the lost part, so replaying
//! past a hole could build a head that never existed; and a hole in the middle means the disk
//! lost acknowledged data, which the operator learns about from the stderr line and the
//! [`ReplayReport`].

use std::fs::File;
use std::io::BufReader;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::error::{Error, Result};

use super::reader::scan_segment;
use super::segment::{
    create_segment, list_segments, open_segment, segment_header, segment_path, sync_dir,
    SEGMENT_HEADER_LEN,
};
use super::{Record, ReplayReport};

/// The state replay leaves for the writer: the segment to append to and where.
pub(super) struct Recovered {
    pub segment: u64,
    pub file: File,
    pub offset: u64,
    pub report: ReplayReport,
}

/// Where the log must be cut.
struct Cut {
    /// Index (into the segment list) of the segment to keep as the last one.
    keep: usize,
    /// Offset to truncate it at (`None`: keep it whole).
    at: Option<u64>,
    /// Its length before the cut.
    len: u64,
    reason: String,
}

/// Replays the WAL in `dir` (creating the directory and a first segment if needed), repairs
/// damage, and opens the last segment for appending.
pub(super) fn replay(dir: &Path, on_record: &mut dyn FnMut(Record)) -> Result<Recovered> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io("create dir", dir, e))?;
    let segs = list_segments(dir)?;
    let mut report = ReplayReport::default();
    if segs.is_empty() {
        let file = create_segment(dir, 1)?;
        let path = segment_path(dir, 1);
        file.sync_all().map_err(|e| Error::io("fsync", &path, e))?;
        sync_dir(dir)?;
        return Ok(Recovered {
            segment: 1,
            file,
            offset: SEGMENT_HEADER_LEN,
            report,
        });
    }

    let mut cut: Option<Cut> = None;
    let mut last_len = 0;
    for (i, &n) in segs.iter().enumerate() {
        if i > 0 && n != segs[i - 1] + 1 {
            cut = Some(Cut {
                keep: i - 1,
                at: None,
                len: last_len,
                reason: format!("segment {} is missing (next is {n})", segs[i - 1] + 1),
            });
            break;
        }
        let path = segment_path(dir, n);
        let file = File::open(&path).map_err(|e| Error::io("open", &path, e))?;
        let len = file
            .metadata()
            .map_err(|e| Error::io("stat", &path, e))?
            .len();
        let scan = scan_segment(
            BufReader::with_capacity(1 << 20, file),
            len,
            &mut *on_record,
        )
        .map_err(|e| Error::io("read", &path, e))?;
        report.segments += 1;
        report.records += scan.records;
        last_len = len;
        if let Some(d) = scan.damage {
            cut = Some(Cut {
                keep: i,
                at: Some(d.offset),
                len,
                reason: format!(
                    "{}",
                    Error::CorruptWal {
                        segment: n,
                        offset: d.offset,
                        reason: d.reason,
                    }
                ),
            });
            break;
        }
    }

    let (keep, offset) = match cut {
        None => (segs.len() - 1, last_len),
        Some(c) => {
            let offset = apply_cut(dir, &segs, &c, &mut report)?;
            (c.keep, offset)
        }
    };
    let segment = segs[keep];
    let file = open_segment(dir, segment)?;
    // The previous process may have died before its last writes were fsynced; make what
    // replay saw durable before new writes are acknowledged on top of it.
    file.sync_all()
        .map_err(|e| Error::io("fsync", segment_path(dir, segment), e))?;
    Ok(Recovered {
        segment,
        file,
        offset,
        report,
    })
}

/// Truncates the kept segment, deletes the later ones, fsyncs, logs one line. Returns the
/// offset appending resumes at.
fn apply_cut(dir: &Path, segs: &[u64], c: &Cut, report: &mut ReplayReport) -> Result<u64> {
    let kept = segs[c.keep];
    let path = segment_path(dir, kept);
    let mut dropped = 0u64;
    let mut offset = c.len;
    if let Some(at) = c.at {
        let file = open_segment(dir, kept)?;
        if at < SEGMENT_HEADER_LEN {
            // The header itself is bad: start the segment afresh.
            file.set_len(0)
                .and_then(|()| file.write_all_at(&segment_header(), 0))
                .map_err(|e| Error::io("truncate", &path, e))?;
            offset = SEGMENT_HEADER_LEN;
        } else {
            file.set_len(at)
                .map_err(|e| Error::io("truncate", &path, e))?;
            offset = at;
        }
        file.sync_all().map_err(|e| Error::io("fsync", &path, e))?;
        dropped += c.len - at;
    }
    let later = &segs[c.keep + 1..];
    for &n in later {
        let p = segment_path(dir, n);
        let len = std::fs::metadata(&p)
            .map_err(|e| Error::io("stat", &p, e))?
            .len();
        std::fs::remove_file(&p).map_err(|e| Error::io("remove", &p, e))?;
        dropped += len;
    }
    sync_dir(dir)?;
    report.truncated_bytes = dropped;
    report.damage = Some(c.reason.clone());
    let cut_desc = match c.at {
        Some(at) => format!("truncated segment {kept} at offset {at}"),
        None => format!("kept segment {kept} whole"),
    };
    eprintln!(
        "strata: WAL repair in {}: {}; {cut_desc}, deleted {} later segment(s), dropped {dropped} bytes; {} good records kept",
        dir.display(),
        c.reason,
        later.len(),
        report.records
    );
    Ok(offset)
}

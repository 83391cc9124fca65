//! Segment files: naming, the 8-byte header, listing, creation and directory fsync.
//!
//! A segment is named by its number in decimal, zero-padded to eight digits (`00000001`).
//! Numbers increase by one per segment; files whose names are not all digits are ignored, so
//! that later checkpoints or temporary files can live in the same directory.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Magic bytes that open every segment.
pub const SEGMENT_MAGIC: [u8; 4] = *b"SWAL";
/// Format version written after the magic.
pub const SEGMENT_VERSION: u8 = 1;
/// Length of the segment header: magic, version, three zero bytes.
pub const SEGMENT_HEADER_LEN: u64 = 8;

/// The header bytes of a new segment.
pub fn segment_header() -> [u8; SEGMENT_HEADER_LEN as usize] {
    let mut h = [0u8; SEGMENT_HEADER_LEN as usize];
    h[..4].copy_from_slice(&SEGMENT_MAGIC);
    h[4] = SEGMENT_VERSION;
    h
}

/// Checks a segment header; `Err` carries the reason.
pub fn check_header(h: &[u8]) -> std::result::Result<(), String> {
    if h.len() < SEGMENT_HEADER_LEN as usize {
        return Err(format!(
            "segment header torn ({} of {SEGMENT_HEADER_LEN} bytes)",
            h.len()
        ));
    }
    if h[..4] != SEGMENT_MAGIC {
        return Err(format!("bad segment magic {:02x?}", &h[..4]));
    }
    if h[4] != SEGMENT_VERSION {
        return Err(format!("unsupported segment version {}", h[4]));
    }
    if h[5..8] != [0, 0, 0] {
        return Err("reserved segment header bytes are not zero".to_string());
    }
    Ok(())
}

/// The file name of segment `n`.
pub fn segment_name(n: u64) -> String {
    format!("{n:08}")
}

/// The path of segment `n` in `dir`.
pub fn segment_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(segment_name(n))
}

/// Parses a segment file name; `None` for any other file.
pub fn parse_segment_name(name: &str) -> Option<u64> {
    if name.len() < 8 || !name.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    name.parse().ok()
}

/// Lists the segments in `dir`, ascending.
pub fn list_segments(dir: &Path) -> Result<Vec<u64>> {
    let mut out = Vec::new();
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io("read dir", dir, e))?;
    for entry in rd {
        let entry = entry.map_err(|e| Error::io("read dir", dir, e))?;
        let name = entry.file_name();
        let Some(n) = name.to_str().and_then(parse_segment_name) else {
            continue;
        };
        let ft = entry
            .file_type()
            .map_err(|e| Error::io("stat", entry.path(), e))?;
        if ft.is_file() {
            out.push(n);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Creates (or empties) segment `n` and writes its header. Does not fsync.
pub fn create_segment(dir: &Path, n: u64) -> Result<File> {
    let path = segment_path(dir, n);
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .map_err(|e| Error::io("create", &path, e))?;
    f.write_all_at(&segment_header(), 0)
        .map_err(|e| Error::io("write", &path, e))?;
    Ok(f)
}

/// Opens an existing segment for appending with positioned writes.
pub fn open_segment(dir: &Path, n: u64) -> Result<File> {
    let path = segment_path(dir, n);
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io("open", &path, e))
}

/// fsyncs a directory so that created, renamed or removed entries are durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("fsync dir", dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(segment_name(1), "00000001");
        assert_eq!(parse_segment_name("00000001"), Some(1));
        assert_eq!(parse_segment_name("123456789"), Some(123456789));
        assert_eq!(parse_segment_name("0000001"), None);
        assert_eq!(parse_segment_name("0000000a"), None);
        assert_eq!(parse_segment_name("checkpoint.00000001"), None);
        assert_eq!(parse_segment_name("99999999999999999999999"), None);
    }

    #[test]
    fn header_checks() {
        assert!(check_header(&segment_header()).is_ok());
        assert!(check_header(&segment_header()[..7]).is_err());
        let mut h = segment_header();
        h[0] = b'X';
        assert!(check_header(&h).is_err());
        let mut h = segment_header();
        h[4] = 2;
        assert!(check_header(&h).is_err());
        let mut h = segment_header();
        h[7] = 1;
        assert!(check_header(&h).is_err());
    }

    #[test]
    fn listing_ignores_other_files() {
        let dir = tempfile::tempdir().unwrap();
        create_segment(dir.path(), 3).unwrap();
        create_segment(dir.path(), 1).unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"x").unwrap();
        std::fs::create_dir(dir.path().join("00000009")).unwrap();
        assert_eq!(list_segments(dir.path()).unwrap(), vec![1, 3]);
    }
}

//! Tombstones: deleted time ranges per series of a block, written by `delete_series` and
//! applied by readers (and for good by compaction or `clean_tombstones`).
//!
//! File `<block>/tombstones` (replaced atomically by writing a temporary file and renaming):
//!
//! ```text
//! "STMB" | version u8 = 1 | 3 zero bytes
//! uvarint n                      series with tombstones
//! n x: uvarint series ref delta  (from the previous series ref; refs strictly increase)
//!      uvarint k                 intervals, sorted, disjoint, not adjacent
//!      k x: zvarint mint, uvarint maxt - mint     (inclusive, ms)
//! crc32c u32 LE over everything after the header
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use crate::encoding::{put_crc_of, put_uvarint, put_zvarint, verify_crc, ByteCursor};
use crate::error::{Error, Result};
use crate::index::postings::SeriesRef;

const MAGIC: &[u8; 4] = b"STMB";
const VERSION: u8 = 1;

/// Deleted inclusive intervals `[mint, maxt]` per series.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tombstones {
    by_series: BTreeMap<SeriesRef, Vec<(i64, i64)>>,
}

/// Adds `[lo, hi]` to sorted disjoint intervals, merging overlapping and adjacent ones.
pub fn add_interval(list: &mut Vec<(i64, i64)>, lo: i64, hi: i64) {
    if lo > hi {
        return;
    }
    list.push((lo, hi));
    list.sort_unstable();
    let mut out: Vec<(i64, i64)> = Vec::with_capacity(list.len());
    for &(a, b) in list.iter() {
        match out.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    *list = out;
}

/// True if `t` falls in one of the sorted disjoint `intervals`.
pub fn is_deleted(intervals: &[(i64, i64)], t: i64) -> bool {
    let i = intervals.partition_point(|iv| iv.1 < t);
    intervals.get(i).is_some_and(|iv| iv.0 <= t)
}

impl Tombstones {
    /// True if nothing is deleted.
    pub fn is_empty(&self) -> bool {
        self.by_series.is_empty()
    }

    /// Number of series with tombstones.
    pub fn len(&self) -> usize {
        self.by_series.len()
    }

    /// Deletes `[mint, maxt]` of series `r`.
    pub fn add(&mut self, r: SeriesRef, mint: i64, maxt: i64) {
        add_interval(self.by_series.entry(r).or_default(), mint, maxt);
    }

    /// Deleted intervals of series `r` (sorted, disjoint).
    pub fn get(&self, r: SeriesRef) -> &[(i64, i64)] {
        self.by_series.get(&r).map_or(&[], |v| v.as_slice())
    }

    /// Every series with its intervals.
    pub fn iter(&self) -> impl Iterator<Item = (SeriesRef, &[(i64, i64)])> {
        self.by_series.iter().map(|(r, v)| (*r, v.as_slice()))
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&[VERSION, 0, 0, 0]);
        put_uvarint(&mut out, self.by_series.len() as u64);
        let mut prev = 0;
        for (&r, ivs) in &self.by_series {
            put_uvarint(&mut out, r - prev);
            prev = r;
            put_uvarint(&mut out, ivs.len() as u64);
            for &(a, b) in ivs {
                put_zvarint(&mut out, a);
                put_uvarint(&mut out, b.wrapping_sub(a) as u64);
            }
        }
        put_crc_of(&mut out, 8);
        out
    }

    /// Decodes a tombstones file; arbitrary bytes give an error, never a panic.
    pub fn decode(b: &[u8], path: &Path) -> Result<Tombstones> {
        let bad = |why: &str| Error::corrupt_block(path, "tombstones", why.to_string());
        if b.len() < 8 || &b[..4] != MAGIC {
            return Err(bad("bad magic"));
        }
        if b[4] != VERSION {
            return Err(Error::UnsupportedVersion {
                path: path.to_path_buf(),
                found: u32::from(b[4]),
                supported: u32::from(VERSION),
            });
        }
        let body = verify_crc(&b[8..]).ok_or_else(|| bad("checksum mismatch"))?;
        let mut c = ByteCursor::new(body);
        let n = c.count(body.len()).ok_or_else(|| bad("bad count"))?;
        let mut t = Tombstones::default();
        let mut r = 0u64;
        for i in 0..n {
            let d = c.uvarint().ok_or_else(|| bad("truncated"))?;
            if i > 0 && d == 0 {
                return Err(bad("series not increasing"));
            }
            r = r
                .checked_add(d)
                .ok_or_else(|| bad("series ref overflows"))?;
            let k = c
                .count(body.len())
                .ok_or_else(|| bad("bad interval count"))?;
            let mut ivs = Vec::with_capacity(k);
            for _ in 0..k {
                let a = c.zvarint().ok_or_else(|| bad("truncated interval"))?;
                let span = c.uvarint().ok_or_else(|| bad("truncated interval"))?;
                let b = i64::try_from(i128::from(a) + i128::from(span))
                    .map_err(|_| bad("interval overflows"))?;
                if ivs
                    .last()
                    .is_some_and(|&(_, pb): &(i64, i64)| a <= pb.saturating_add(1))
                {
                    return Err(bad("intervals not sorted and disjoint"));
                }
                ivs.push((a, b));
            }
            if !ivs.is_empty() {
                t.by_series.insert(r, ivs);
            }
        }
        if !c.is_empty() {
            return Err(bad("trailing bytes"));
        }
        Ok(t)
    }

    /// Reads `dir/tombstones` (empty if the file does not exist).
    pub fn read(dir: &Path) -> Result<Tombstones> {
        let path = dir.join("tombstones");
        match std::fs::read(&path) {
            Ok(b) => Tombstones::decode(&b, &path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Tombstones::default()),
            Err(e) => Err(Error::io("read", &path, e)),
        }
    }

    /// Replaces `dir/tombstones` atomically (removes it when empty).
    pub fn write(&self, dir: &Path) -> Result<()> {
        let path = dir.join("tombstones");
        if self.is_empty() {
            return match std::fs::remove_file(&path) {
                Ok(()) => super::sync_dir(dir),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(Error::io("remove", &path, e)),
            };
        }
        super::write_file_synced(&path, &self.encode())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn intervals_merge() {
        let mut v = Vec::new();
        add_interval(&mut v, 10, 20);
        add_interval(&mut v, 30, 40);
        add_interval(&mut v, 21, 25);
        assert_eq!(v, vec![(10, 25), (30, 40)]);
        add_interval(&mut v, 0, 100);
        assert_eq!(v, vec![(0, 100)]);
        assert!(is_deleted(&v, 0) && is_deleted(&v, 100) && !is_deleted(&v, 101));
    }

    #[test]
    fn file_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = Tombstones::default();
        t.add(100, i64::MIN, -5);
        t.add(100, 7, 9);
        t.add(4000, 0, i64::MAX);
        t.write(dir.path()).unwrap();
        assert_eq!(Tombstones::read(dir.path()).unwrap(), t);
        Tombstones::default().write(dir.path()).unwrap();
        assert!(!dir.path().join("tombstones").exists());
        assert!(Tombstones::read(dir.path()).unwrap().is_empty());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut with_header = b"STMB\x01\0\0\0".to_vec();
            with_header.extend_from_slice(&b);
            let _ = Tombstones::decode(&b, Path::new("x"));
            let _ = Tombstones::decode(&with_header, Path::new("x"));
        }
    }
}

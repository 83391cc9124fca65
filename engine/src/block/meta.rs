//! A block's `meta.json` and block ids.
//!
//! Block ids are ULIDs: 48 bits of creation time in milliseconds and 80 random bits, written
//! as 26 characters of Crockford base32, so that sorting ids sorts blocks by creation time and
//! two processes never pick the same id. `meta.json` (layout in `docs/format/block.md`):
//!
//! ```json
//! {"ulid": "...", "minTime": 0, "maxTime": 7200000,
//!  "stats": {"numSamples": 0, "numSeries": 0, "numChunks": 0, "numBytes": 0},
//!  "compaction": {"level": 1, "sources": ["..."], "parents": ["..."]},
//!  "version": 1}
//! ```
//! The block covers `[minTime, maxTime)`: `maxTime` is exclusive, as in Prometheus.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Format version written in `meta.json`.
pub const META_VERSION: u32 = 1;

/// A block id (ULID text).
pub type BlockId = String;

/// Counts stored in the meta.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockStats {
    /// Samples in the block.
    pub num_samples: u64,
    /// Series in the block.
    pub num_series: u64,
    /// Chunks in the block.
    pub num_chunks: u64,
    /// Bytes of the block's files (chunks, index, meta).
    #[serde(default)]
    pub num_bytes: u64,
}

/// How the block came to be.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compaction {
    /// 1 for a block cut from the head; one more than the highest source level otherwise.
    pub level: u32,
    /// Ids of the level-1 blocks whose data this block holds.
    pub sources: Vec<BlockId>,
    /// Ids of the blocks merged into this one (empty for a head block). A block listed as a
    /// parent of another present block is a leftover of a compaction that finished, and is
    /// deleted when the directory is opened.
    #[serde(default)]
    pub parents: Vec<BlockId>,
}

/// The contents of `meta.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockMeta {
    /// The block id; equals the directory name.
    pub ulid: BlockId,
    /// First millisecond covered (inclusive).
    pub min_time: i64,
    /// End of the covered range (exclusive).
    pub max_time: i64,
    /// Counts.
    pub stats: BlockStats,
    /// Lineage.
    pub compaction: Compaction,
    /// Format version.
    pub version: u32,
}

impl BlockMeta {
    /// Reads and checks `dir/meta.json`.
    pub fn read(dir: &Path) -> Result<BlockMeta> {
        let path = dir.join("meta.json");
        let bytes = std::fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
        let meta: BlockMeta = serde_json::from_slice(&bytes)
            .map_err(|e| Error::corrupt_block(&path, "meta", e.to_string()))?;
        if meta.version != META_VERSION {
            return Err(Error::UnsupportedVersion {
                path,
                found: meta.version,
                supported: META_VERSION,
            });
        }
        if meta.min_time >= meta.max_time {
            return Err(Error::corrupt_block(
                &path,
                "meta",
                format!("empty time range [{}, {})", meta.min_time, meta.max_time),
            ));
        }
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if meta.ulid != name {
            return Err(Error::corrupt_block(
                &path,
                "meta",
                format!("ulid {} differs from the directory name {name}", meta.ulid),
            ));
        }
        Ok(meta)
    }

    /// Writes `dir/meta.json` and fsyncs it.
    pub fn write(&self, dir: &Path) -> Result<u64> {
        let path = dir.join("meta.json");
        let mut bytes = serde_json::to_vec_pretty(self).expect("meta serialises");
        bytes.push(b'\n');
        super::write_file_synced(&path, &bytes)?;
        Ok(bytes.len() as u64)
    }

    /// True if the block holds data of `[mint, maxt]` (inclusive).
    pub fn overlaps(&self, mint: i64, maxt: i64) -> bool {
        self.min_time <= maxt && self.max_time > mint
    }
}

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A new ULID for the current time.
pub fn new_ulid() -> BlockId {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    ulid_at(ms, random_80())
}

/// The ULID text of a millisecond timestamp and 80 random bits.
pub fn ulid_at(ms: u64, rand: u128) -> BlockId {
    let v: u128 = (u128::from(ms & 0xffff_ffff_ffff) << 80) | (rand & ((1u128 << 80) - 1));
    (0..26)
        .map(|i| CROCKFORD[((v >> (125 - 5 * i)) & 31) as usize] as char)
        .collect()
}

/// True if `s` looks like a ULID (26 Crockford base32 characters).
pub fn is_ulid(s: &str) -> bool {
    s.len() == 26 && s.bytes().all(|b| CROCKFORD.contains(&b))
}

fn random_80() -> u128 {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut out = 0u128;
    for round in 0..2u64 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        h.write_u64(round);
        h.write_u32(std::process::id());
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        out = (out << 64) | u128::from(h.finish());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulids_sort_by_time_and_are_unique() {
        let a = ulid_at(1_000, u128::MAX);
        let b = ulid_at(1_001, 0);
        assert!(a < b);
        assert_eq!(a.len(), 26);
        assert!(is_ulid(&a) && is_ulid(&new_ulid()));
        assert!(!is_ulid("01ARZ3NDEKTSV4RRFFQ69G5FA") && !is_ulid("snapshot"));
        let ids: std::collections::HashSet<_> = (0..1000).map(|_| new_ulid()).collect();
        assert_eq!(ids.len(), 1000);
        // The first character carries only the top 3 bits of the time.
        assert_eq!(ulid_at(0, 0), "00000000000000000000000000");
    }

    #[test]
    fn meta_round_trips_and_checks() {
        let dir = tempfile::tempdir().unwrap();
        let id = new_ulid();
        let bdir = dir.path().join(&id);
        std::fs::create_dir(&bdir).unwrap();
        let m = BlockMeta {
            ulid: id.clone(),
            min_time: 0,
            max_time: 10,
            stats: BlockStats::default(),
            compaction: Compaction {
                level: 1,
                sources: vec![id.clone()],
                parents: vec![],
            },
            version: META_VERSION,
        };
        m.write(&bdir).unwrap();
        assert_eq!(BlockMeta::read(&bdir).unwrap(), m);
        let mut bad = m.clone();
        bad.version = 7;
        bad.write(&bdir).unwrap();
        assert!(matches!(
            BlockMeta::read(&bdir),
            Err(Error::UnsupportedVersion { found: 7, .. })
        ));
        std::fs::write(bdir.join("meta.json"), b"{not json").unwrap();
        assert!(matches!(
            BlockMeta::read(&bdir),
            Err(Error::CorruptBlock { .. })
        ));
    }
}

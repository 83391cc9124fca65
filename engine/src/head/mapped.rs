//! Sealed head chunks kept in mapped files instead of on the heap.
//!
//! A sealed chunk never changes, and queries read few of them, so the head writes each one
//! into a file of its data directory's `head_chunks/` and keeps only a view of it: the
//! bytes live in the page cache (which the kernel can reclaim and write back), not in the
//! process' resident memory, and count there only while a reader touches them. What stays
//! on the heap per chunk is its narrow handle ([`SealedChunk`], 32 bytes).
//!
//! - The files are fixed-length segments ([`SEGMENT_BYTES`] by default), created sparse,
//!   mapped read-only once, and filled front to back with positioned writes
//!   ([`crate::mmap::AppendFile`]). Each chunk is written once as its encoded bytes (the
//!   chunk format) followed by [`PAD`] bytes that stay zero, which is the padding decoders
//!   read past a chunk. Drawn in `docs/format/head_chunks.md`.
//! - They are a cache, not a record: the WAL (and its checkpoints) stays what a restart
//!   replays, so the files are never fsynced and never read across restarts. Opening a data
//!   directory deletes what an earlier process left; dropping the head deletes its files.
//! - Head truncation deletes every segment (the one being filled included) whose chunks all
//!   end before the head's new lower bound ([`MappedChunks::release_before`]). Readers that
//!   still hold chunks of a deleted segment keep its map (and so the unlinked file) alive
//!   until they drop them. The pages of the files that stay are taken out of the process'
//!   resident memory at the same time (the cut before it read every chunk it wrote into a
//!   block, and queries map pages too), so they count in RSS only between truncations.
//! - Chunks rewritten by a delete, and the ones a head cut seals or splits, stay on the heap
//!   (rare, and dropped by the next truncation).
//! - A chunk that cannot be written (disk full, any I/O error) stays on the heap and is
//!   counted; nothing accepted is lost.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::SealedChunk;
use crate::chunk::{Chunk, PAD};
use crate::error::{Error, Result};
use crate::mmap::AppendFile;
use crate::owned_bytes::{ByteOwner, OwnedBytes};

/// Length of one head chunk file (sparse: disk is used as chunks are written).
pub const SEGMENT_BYTES: u64 = 64 << 20;

/// One file of chunks.
struct Segment {
    file: Arc<AppendFile>,
    /// Latest `max_time` of the chunks written into it.
    max_t: i64,
    /// Bytes reserved in it so far: the offset of its next chunk.
    used: u64,
}

impl Segment {
    /// True if every chunk in it ends before `b`.
    fn ended_before(&self, b: i64) -> bool {
        self.max_t < b
    }
}

#[derive(Default)]
struct State {
    /// The segment being filled.
    current: Option<Segment>,
    /// Full segments, oldest first.
    full: Vec<Segment>,
    next_id: u64,
}

/// What the head's chunk files hold.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MappedStats {
    /// Files present.
    pub files: u64,
    /// Bytes written into them (chunks and their padding).
    pub bytes: u64,
    /// Chunks that could not be written and stayed on the heap.
    pub failures: u64,
}

/// The head's chunk files (see the module doc).
pub struct MappedChunks {
    dir: PathBuf,
    segment_bytes: u64,
    state: Mutex<State>,
    failures: AtomicU64,
}

impl MappedChunks {
    /// Uses `dir` for the head's chunk files, creating it, and deletes the files an earlier
    /// process left there. `segment_bytes` is the length of each file.
    pub fn open(dir: &Path, segment_bytes: u64) -> Result<MappedChunks> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
        let entries = std::fs::read_dir(dir).map_err(|e| Error::io("list", dir, e))?;
        for entry in entries {
            let path = entry.map_err(|e| Error::io("list", dir, e))?.path();
            if path.is_file() {
                std::fs::remove_file(&path).map_err(|e| Error::io("remove", &path, e))?;
            }
        }
        Ok(MappedChunks {
            dir: dir.to_path_buf(),
            segment_bytes: segment_bytes.max(4096),
            state: Mutex::new(State {
                next_id: 1,
                ..State::default()
            }),
            failures: AtomicU64::new(0),
        })
    }

    /// `c` with its bytes in a chunk file, or `None` if they could not be written there (the
    /// caller keeps `c`; the failure is counted and the first one logged).
    pub fn store(&self, c: &Chunk) -> Option<SealedChunk> {
        let bytes = c.as_bytes();
        let need = (bytes.len() + PAD) as u64;
        if need > self.segment_bytes / 4 {
            return None;
        }
        let (file, off) = {
            let mut st = self.state.lock();
            if st
                .current
                .as_ref()
                .is_none_or(|s| s.used + need > self.segment_bytes)
            {
                if let Err(e) = self.rotate(&mut st) {
                    drop(st);
                    self.failed(&e.to_string());
                    return None;
                }
            }
            let seg = st.current.as_mut()?;
            let off = seg.used;
            seg.used += need;
            seg.max_t = seg.max_t.max(c.max_time());
            (seg.file.clone(), off)
        };
        if let Err(e) = file.write_at(off, bytes) {
            self.failed(&format!("write {}: {e}", file.path().display()));
            return None;
        }
        match SealedChunk::in_file(file.clone(), off, c) {
            Some(s) => Some(s),
            // Beyond the narrow form's offsets: a full handle on the same bytes.
            None => {
                let owner: Arc<dyn ByteOwner> = file;
                let view = OwnedBytes::view(owner, off as usize..(off + need) as usize)?;
                Some(SealedChunk::from(c.with_bytes(view)))
            }
        }
    }

    /// Starts a new segment (the current one, if any, becomes full).
    fn rotate(&self, st: &mut State) -> Result<()> {
        let id = st.next_id;
        st.next_id += 1;
        let path = self.dir.join(format!("{id:08}"));
        let file = AppendFile::create(&path, self.segment_bytes)?;
        let seg = Segment {
            file: Arc::new(file),
            max_t: i64::MIN,
            used: 0,
        };
        if let Some(old) = st.current.replace(seg) {
            st.full.push(old);
        }
        Ok(())
    }

    fn failed(&self, why: &str) {
        if self.failures.fetch_add(1, Ordering::Relaxed) == 0 {
            eprintln!(
                "strata: cannot keep sealed head chunks in {} ({why}); they stay in memory",
                self.dir.display()
            );
        }
    }

    /// Deletes the segments whose chunks all end before `b` (the head dropped them), the
    /// one being filled included (the next chunk starts a new one), and takes the pages of
    /// the others out of the process' resident memory. Returns how many were deleted.
    pub fn release_before(&self, b: i64) -> usize {
        let mut st = self.state.lock();
        let mut gone: Vec<Segment> = Vec::new();
        if st
            .current
            .as_ref()
            .is_some_and(|s| s.used > 0 && s.ended_before(b))
        {
            gone.extend(st.current.take());
        }
        let (old, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut st.full)
            .into_iter()
            .partition(|s| s.ended_before(b));
        st.full = kept;
        gone.extend(old);
        let live: Vec<Arc<AppendFile>> = st
            .full
            .iter()
            .chain(st.current.as_ref())
            .map(|s| s.file.clone())
            .collect();
        drop(st);
        // The cut that came before this read the chunks it wrote into a block, which mapped
        // their pages into this process: leave them to the page cache.
        for f in &live {
            if let Err(e) = f.drop_resident_pages() {
                eprintln!("strata: madvise {}: {e}", f.path().display());
            }
        }
        for s in &gone {
            // An unlinked file stays readable through the maps readers hold.
            if let Err(e) = std::fs::remove_file(s.file.path()) {
                eprintln!("strata: cannot remove {}: {e}", s.file.path().display());
            }
        }
        gone.len()
    }

    /// What the files hold.
    pub fn stats(&self) -> MappedStats {
        let st = self.state.lock();
        let segs = st.full.iter().chain(st.current.as_ref());
        MappedStats {
            files: segs.clone().count() as u64,
            bytes: segs.map(|s| s.used).sum(),
            failures: self.failures.load(Ordering::Relaxed),
        }
    }
}

impl Drop for MappedChunks {
    fn drop(&mut self) {
        let st = self.state.get_mut();
        for s in st.full.iter().chain(st.current.as_ref()) {
            let _ = std::fs::remove_file(s.file.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(t0: i64, n: usize) -> Chunk {
        let ts: Vec<i64> = (0..n as i64).map(|i| t0 + i * 15_000).collect();
        let vs: Vec<f64> = (0..n).map(|i| (t0 as f64 + i as f64).sin()).collect();
        Chunk::encode(&ts, &vs).unwrap()
    }

    fn files(dir: &Path) -> usize {
        std::fs::read_dir(dir).unwrap().count()
    }

    #[test]
    fn chunks_read_back_from_files_that_truncation_deletes() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("head_chunks");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("00000001"), b"left by an earlier process").unwrap();
        let m = MappedChunks::open(&dir, 4096).unwrap();
        assert_eq!(files(&dir), 0, "files of an earlier process are deleted");
        let mut kept = Vec::new();
        for i in 0..60 {
            let c = chunk(i * 1_000_000, 1 + (i as usize % 40));
            let s = m.store(&c).expect("stored");
            assert_eq!(s.chunk().as_bytes(), c.as_bytes());
            assert_eq!(s.num_samples(), c.num_samples());
            assert_eq!(
                s.chunk().iter().collect::<Vec<_>>(),
                c.iter().collect::<Vec<_>>()
            );
            kept.push((c, s));
        }
        let st = m.stats();
        assert!(st.files > 2, "{st:?}");
        assert_eq!(st.files as usize, files(&dir));
        assert_eq!(st.failures, 0);
        // Segments whose chunks all end before the bound go; the one being filled stays.
        let bound = kept[30].0.max_time() + 1;
        assert!(kept[59].0.max_time() >= bound);
        let gone = m.release_before(bound);
        assert!(gone >= 1, "{gone}");
        assert_eq!(m.stats().files as usize, files(&dir));
        // Chunks of deleted files stay readable through the map their handle holds.
        for (c, s) in &kept {
            assert_eq!(
                s.chunk().iter().collect::<Vec<_>>(),
                c.iter().collect::<Vec<_>>()
            );
        }
        // Once every chunk ended, the file being filled goes too, and the next chunk starts a
        // new one.
        let st = m.stats();
        assert_eq!(m.release_before(i64::MAX), st.files as usize);
        assert_eq!((m.stats().files, files(&dir)), (0, 0));
        let again = m.store(&kept[0].0).expect("stored");
        assert_eq!(again.chunk().as_bytes(), kept[0].0.as_bytes());
        assert_eq!(m.stats().files, 1);
        drop(m);
        assert_eq!(files(&dir), 0, "dropping the store deletes its files");
        assert_eq!(kept[0].1.chunk().as_bytes(), kept[0].0.as_bytes());
    }

    #[test]
    fn a_chunk_that_cannot_be_written_stays_on_the_heap() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("head_chunks");
        let m = MappedChunks::open(&dir, 8192).unwrap();
        std::fs::remove_dir(&dir).unwrap();
        assert!(m.store(&chunk(0, 10)).is_none());
        assert!(m.store(&chunk(0, 10)).is_none());
        assert_eq!(m.stats().failures, 2);
        // Too large for a segment: kept on the heap without counting a failure.
        let big = MappedChunks::open(&tmp.path().join("b"), 4096).unwrap();
        let ts: Vec<i64> = (0..400).map(|i| i * 1000).collect();
        let vs: Vec<f64> = (0..400).map(|i| (i as f64).sin()).collect();
        let c = Chunk::encode(&ts, &vs).unwrap();
        assert!(c.as_bytes().len() + PAD > 1024);
        assert!(big.store(&c).is_none());
        assert_eq!(big.stats().failures, 0);
    }

    #[test]
    fn the_head_keeps_sealed_chunks_in_files_and_truncation_deletes_them() {
        use crate::head::{ChunkFootprint, Head};
        use crate::labels::Labels;
        use crate::Sample;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("head_chunks");
        let mut head = Head::new(3_600_000);
        head.map_chunks_with(&dir, 4096).unwrap();
        let range = head.chunk_range();
        let mut want = Vec::new();
        // 20 series, 4 h of 15 s samples: chunks of 120 samples (30 min) are sealed.
        for i in 0..20 {
            let l = Labels::from_pairs(&[("__name__", "m"), ("i", &i.to_string())]).unwrap();
            let (s, _) = head.get_or_create(&l).unwrap();
            let mut st = s.state.lock();
            let mut d = ChunkFootprint::default();
            let samples: Vec<Sample> = (0..960)
                .map(|k| Sample::new(k * 15_000, ((k * 7 + i) as f64).sqrt()))
                .collect();
            for &x in &samples {
                st.push_counted(x, range, head.chunk_files(), &mut d);
            }
            head.note_chunks(d);
            want.push((s.clone(), samples));
        }
        let st = head.chunk_files().unwrap().stats();
        assert!(st.files >= 3, "{st:?}");
        assert_eq!(st.failures, 0);
        let (_, sealed_bytes) = head.chunk_counts();
        assert!(st.bytes >= sealed_bytes, "{st:?} {sealed_bytes}");
        let read = |s: &crate::head::MemSeries| -> Vec<Sample> {
            let st = s.state.lock();
            let mut out: Vec<Sample> = st
                .sealed
                .iter()
                .flat_map(|c| c.chunk().iter().collect::<Vec<_>>())
                .collect();
            out.extend(st.open.snapshot().iter());
            out
        };
        for (s, samples) in &want {
            assert_eq!(&read(s), samples);
        }
        // Dropping the first 3 h deletes the files that held only those chunks.
        let b = 3 * 3_600_000;
        head.truncate(b);
        let after = head.chunk_files().unwrap().stats();
        assert!(after.files < st.files, "{st:?} -> {after:?}");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count() as u64, after.files);
        for (s, samples) in &want {
            let kept: Vec<Sample> = samples.iter().copied().filter(|x| x.t >= b).collect();
            assert_eq!(read(s), kept);
        }
    }
}

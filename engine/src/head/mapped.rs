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
//!   ([`crate::mmap::AppendFile`]). Each chunk is written once, in one write, as a record:
//!   its encoded bytes (the chunk format), [`PAD`] zero bytes (the padding decoders read
//!   past a chunk), then a length byte and the encoding of its [`ChunkSummary`], which
//!   [`SealedChunk::summary`] decodes on demand so that long windows over the head read
//!   summaries instead of decoding whole chunks, as they do over blocks. Drawn in
//!   `docs/format/head_chunks.md`.
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
//!   (rare, and dropped by the next truncation), without a summary: a summary is only ever
//!   stored with the chunk it was computed from, so none outlives a rewrite.
//! - A chunk that cannot be written (disk full, any I/O error) stays on the heap and is
//!   counted; nothing accepted is lost.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::sealed::record;
use super::SealedChunk;
use crate::chunk::{Chunk, ChunkSummary, PAD};
use crate::error::{Error, Result};
use crate::mmap::AppendFile;
use crate::owned_bytes::{ByteOwner, OwnedBytes};

/// Length of one head chunk file (sparse: disk is used as chunks are written).
pub const SEGMENT_BYTES: u64 = 64 << 20;

/// Room reserved up front for a summary's encoding when a record is laid out (the widest
/// takes 85 bytes).
const MAX_SUMMARY_BYTES: usize = 96;

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
    /// Bytes written into them (chunks, their padding and their summaries).
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

    /// `c` with its bytes (and `summary`, which must be the summary of its samples, if
    /// given) in a chunk file, or `None` if they could not be written there (the caller
    /// keeps `c`; the failure is counted and the first one logged).
    pub fn store(&self, c: &Chunk, summary: Option<&ChunkSummary>) -> Option<SealedChunk> {
        let mut bytes = Vec::with_capacity(c.as_bytes().len() + PAD + 1 + MAX_SUMMARY_BYTES);
        record(c, summary, &mut bytes);
        let need = bytes.len() as u64;
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
        if let Err(e) = file.write_at(off, &bytes) {
            self.failed(&format!("write {}: {e}", file.path().display()));
            return None;
        }
        match SealedChunk::in_file(file.clone(), off, c, bytes.len()) {
            Some(s) => Some(s),
            // Beyond the narrow form's offsets: a full handle on the same bytes (without
            // the summary, which only the narrow form finds).
            None => {
                let owner: Arc<dyn ByteOwner> = file;
                let end = off as usize + c.as_bytes().len() + PAD;
                let view = OwnedBytes::view(owner, off as usize..end)?;
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

    /// The samples of `c` as columns.
    fn columns(c: &Chunk) -> (Vec<i64>, Vec<f64>) {
        let (mut ts, mut vs) = (Vec::new(), Vec::new());
        c.decode_into(&mut ts, &mut vs).unwrap();
        (ts, vs)
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
            let (ts, vs) = columns(&c);
            let sum = ChunkSummary::compute(&ts, &vs);
            // Every third one without a summary: the chunk is stored all the same.
            let s = m.store(&c, (i % 3 != 0).then_some(&sum)).expect("stored");
            assert_eq!(s.summary(), (i % 3 != 0).then_some(sum));
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
        // Chunks of deleted files stay readable through the map their handle holds, and so
        // do their summaries.
        for (i, (c, s)) in kept.iter().enumerate() {
            assert_eq!(
                s.chunk().iter().collect::<Vec<_>>(),
                c.iter().collect::<Vec<_>>()
            );
            let (ts, vs) = columns(c);
            assert_eq!(
                s.summary(),
                (i % 3 != 0).then(|| ChunkSummary::compute(&ts, &vs))
            );
        }
        // Once every chunk ended, the file being filled goes too, and the next chunk starts a
        // new one.
        let st = m.stats();
        assert_eq!(m.release_before(i64::MAX), st.files as usize);
        assert_eq!((m.stats().files, files(&dir)), (0, 0));
        let again = m.store(&kept[0].0, None).expect("stored");
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
        assert!(m.store(&chunk(0, 10), None).is_none());
        assert!(m.store(&chunk(0, 10), None).is_none());
        assert_eq!(m.stats().failures, 2);
        // Too large for a segment: kept on the heap without counting a failure.
        let big = MappedChunks::open(&tmp.path().join("b"), 4096).unwrap();
        let ts: Vec<i64> = (0..400).map(|i| i * 1000).collect();
        let vs: Vec<f64> = (0..400).map(|i| (i as f64).sin()).collect();
        let c = Chunk::encode(&ts, &vs).unwrap();
        assert!(c.as_bytes().len() + PAD > 1024);
        assert!(big.store(&c, None).is_none());
        assert_eq!(big.stats().failures, 0);
        // The quarter counts the whole record: a chunk whose bytes and padding fit in it
        // but not with its summary stays on the heap; without the summary it is stored.
        let fits = (1..400)
            .map(|n| {
                let ts: Vec<i64> = (0..n).map(|i| i * 1000).collect();
                let vs: Vec<f64> = (0..n).map(|i| (i as f64).sin()).collect();
                (
                    Chunk::encode(&ts, &vs).unwrap(),
                    ChunkSummary::compute(&ts, &vs),
                )
            })
            .find(|(c, s)| {
                let mut rec = Vec::new();
                record(c, Some(s), &mut rec);
                c.as_bytes().len() + PAD < 1024 && rec.len() > 1024
            });
        let (c, s) = fits.expect("some chunk length falls between the two");
        assert!(big.store(&c, Some(&s)).is_none());
        assert!(big.store(&c, None).is_some());
        assert_eq!(big.stats().failures, 0);
    }

    /// What `SealedChunk::summary` decodes from a chunk's record is the summary of the
    /// samples its chunk holds, for every kind of value: integers, fractions, NaN, stale
    /// markers (some, or nothing else), zeros of either sign, a single sample; for chunks
    /// sealed by a builder (whose summary comes from the columns sealing decodes) and for
    /// chunks encoded directly.
    #[test]
    fn stored_summaries_equal_the_summaries_of_the_samples() {
        use crate::chunk::ChunkBuilder;
        use crate::stale_nan;
        let tmp = tempfile::tempdir().unwrap();
        let m = MappedChunks::open(&tmp.path().join("head_chunks"), 1 << 20).unwrap();
        let st = stale_nan();
        let t0 = 1_700_000_000_000i64;
        let cases: Vec<(&str, Vec<f64>)> = vec![
            (
                "counter",
                (0..120).map(|i| (i * 3 % 50 + i) as f64).collect(),
            ),
            (
                "counter with resets",
                (0..120).map(|i| ((i % 37) * 10) as f64).collect(),
            ),
            (
                "fractions",
                (0..120).map(|i| (i as f64 * 0.37).sin() * 1e3).collect(),
            ),
            (
                "big floats",
                (0..90).map(|i| 1e300 * (i as f64 + 0.5)).collect(),
            ),
            (
                "NaN",
                (0..100)
                    .map(|i| if i % 7 == 3 { f64::NAN } else { i as f64 })
                    .collect(),
            ),
            (
                "stale markers",
                (0..100)
                    .map(|i| {
                        if i % 11 == 0 || i == 99 {
                            st
                        } else {
                            (i / 4) as f64
                        }
                    })
                    .collect(),
            ),
            ("only stale markers", vec![st; 5]),
            ("zeros", vec![0.0, -0.0, 0.0, -0.0, 5.0, -0.0]),
            ("one sample", vec![42.5]),
            ("one integer", vec![7.0]),
            ("one NaN", vec![f64::NAN]),
            ("one stale marker", vec![st]),
            (
                "infinities",
                vec![1.0, f64::INFINITY, 2.0, f64::NEG_INFINITY],
            ),
        ];
        for (what, vs) in cases {
            let ts: Vec<i64> = (0..vs.len() as i64)
                .map(|i| t0 + i * 15_000 + i % 4)
                .collect();
            let want = ChunkSummary::compute(&ts, &vs);
            let mut b = ChunkBuilder::new();
            for (&t, &v) in ts.iter().zip(&vs) {
                b.push(t, v);
            }
            let (sealed, from_seal) = b.seal_with_summary(true);
            assert_eq!(from_seal, Some(want), "{what}: the builder's summary");
            let direct = Chunk::encode(&ts, &vs).unwrap();
            for c in [sealed, direct] {
                let s = m.store(&c, Some(&want)).expect("stored");
                let (dts, dvs) = columns(&s.chunk());
                assert_eq!(dts, ts, "{what}");
                let got = s.summary().expect("a stored summary");
                assert_eq!(got, ChunkSummary::compute(&dts, &dvs), "{what}");
                assert_eq!(got, want, "{what}");
            }
        }
        assert_eq!(m.stats().failures, 0);
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
            // Every sealed chunk is in a file with the summary of its samples.
            let st = s.state.lock();
            assert!(st.sealed.len() >= 7);
            for c in &st.sealed {
                let (ts, vs) = columns(&c.chunk());
                assert_eq!(c.summary(), Some(ChunkSummary::compute(&ts, &vs)));
            }
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

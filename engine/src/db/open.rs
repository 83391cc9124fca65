//! Opening a data directory: the lock, the blocks, and WAL replay into the head.
//!
//! Startup work grows with what is *active*, not with what is retained: blocks are mapped
//! and only their small index sections are read (symbols and the label table), never their
//! chunks; the WAL holds only what was written since the last checkpoint, and the checkpoint
//! holds the head as compressed chunks.
//!
//! Cleaning up after a crash, before anything is read: temporary block directories
//! (`*.tmp`) are deleted; a block listed as a parent of another present block is the
//! leftover of a compaction that completed (its data is in the child) and is deleted; a
//! block that fails its checks is moved to `corrupted/` and reported, and everything else
//! keeps serving.

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use super::{Db, EngineCounters, Inner, Options, Published, Signal, NEXT_DB_ID};
use crate::block::meta::{is_ulid, BlockMeta};
use crate::block::writer::TMP_SUFFIX;
use crate::block::Block;
use crate::chunk::{Chunk, ChunkSummary};
use crate::error::{Error, Result};
use crate::head::{verdict, Head, MemSeries, Verdict};
use crate::index::postings::SeriesRef;
use crate::labels::SymbolTable;
use crate::wal::{Record, Wal};
use crate::Sample;

/// The directory of the head's chunk files (`head::mapped`), inside the data directory.
pub const HEAD_CHUNKS_DIR: &str = "head_chunks";

/// Progress of WAL replay at open, shared with whoever reports it (the server's `/metrics`
/// and `/-/ready`).
#[derive(Debug, Default)]
pub struct ReplayProgress {
    /// WAL files (checkpoint and segments) replayed so far.
    pub files_done: AtomicU64,
    /// WAL files to replay.
    pub files_total: AtomicU64,
    /// Set once the database is open and ready.
    pub ready: AtomicBool,
}

impl ReplayProgress {
    /// Percent of the WAL files replayed (100 when there was nothing to replay).
    pub fn percent(&self) -> f64 {
        let total = self.files_total.load(Ordering::Relaxed);
        if total == 0 {
            return if self.ready.load(Ordering::Relaxed) {
                100.0
            } else {
                0.0
            };
        }
        100.0 * self.files_done.load(Ordering::Relaxed) as f64 / total as f64
    }
}

/// Applies replayed WAL records to a head, dropping what blocks already hold.
struct Replayer<'a> {
    head: &'a Head,
    /// Samples before this are in blocks.
    min_valid: i64,
    unknown_series: u64,
    bad_chunks: u64,
}

impl Replayer<'_> {
    /// The series `sref`, or `None` after counting the `n` entries of an unknown one.
    fn series(&mut self, sref: SeriesRef, n: usize) -> Option<Arc<MemSeries>> {
        let s = self.head.by_ref(sref);
        if s.is_none() {
            self.unknown_series += n as u64;
        }
        s
    }

    fn apply(&mut self, rec: Record) {
        let head = self.head;
        let range = head.chunk_range();
        match rec {
            Record::Series(v) => {
                for s in v {
                    head.restore(s.sref, &s.labels);
                }
            }
            Record::Samples(v) => {
                for s in v {
                    if s.t < self.min_valid {
                        continue;
                    }
                    let Some(series) = head.by_ref(s.sref) else {
                        self.unknown_series += 1;
                        continue;
                    };
                    let mut st = series.state.lock();
                    let sample = Sample::new(s.t, s.v);
                    if verdict(st.last(), sample) == Verdict::Append {
                        st.push(sample, range, head.chunk_files());
                        head.note_samples(1, s.t, s.t);
                    }
                }
            }
            Record::Chunks(v) => {
                let (mut ts, mut vs) = (Vec::new(), Vec::new());
                for e in v {
                    let Some(series) = self.series(e.sref, e.chunks.len()) else {
                        continue;
                    };
                    let mut st = series.state.lock();
                    for bytes in e.chunks {
                        let Ok(c) = Chunk::from_bytes(bytes) else {
                            self.bad_chunks += 1;
                            continue;
                        };
                        if c.num_samples() == 0
                            || c.max_time() < self.min_valid
                            || st.last_t().is_some_and(|l| c.min_time() <= l)
                        {
                            continue;
                        }
                        // The head takes a sealed chunk's last timestamp from its header.
                        ts.clear();
                        vs.clear();
                        if c.decode_into(&mut ts, &mut vs).is_err()
                            || ts.len() != c.num_samples()
                            || ts.last() != Some(&c.max_time())
                        {
                            self.bad_chunks += 1;
                            continue;
                        }
                        head.note_samples(c.num_samples() as u64, c.min_time(), c.max_time());
                        // A chunk going into a file takes its summary along, from the samples
                        // just decoded.
                        let files = head.chunk_files();
                        let summary = files.map(|_| ChunkSummary::compute(&ts, &vs));
                        st.keep_sealed(c, summary.as_ref(), files);
                    }
                }
            }
            Record::OooSamples(v) => {
                // Kept whatever their age: the blocks hold only what a cut wrote, and a
                // sample a cut wrote before a crash that came before the checkpoint is
                // written again by the next cut (compaction drops the exact duplicate).
                for s in v {
                    let Some(series) = head.by_ref(s.sref) else {
                        self.unknown_series += 1;
                        continue;
                    };
                    let mut st = series.state.lock();
                    if st.value_bits_at(s.t).is_none() {
                        st.insert_ooo(Sample::new(s.t, s.v));
                        head.note_ooo_samples(1);
                    }
                }
            }
            Record::OooChunks(v) => {
                for e in v {
                    let Some(series) = self.series(e.sref, e.chunks.len()) else {
                        continue;
                    };
                    let mut st = series.state.lock();
                    for bytes in e.chunks {
                        match Chunk::from_bytes(bytes) {
                            Ok(c) if c.num_samples() > 0 => {
                                head.note_ooo_samples(c.num_samples() as u64);
                                st.ooo.get_or_insert_with(Default::default).restore_chunk(c);
                            }
                            Ok(_) => {}
                            Err(_) => self.bad_chunks += 1,
                        }
                    }
                }
            }
            Record::Deletes(v) => {
                for d in v {
                    if let Some(series) = head.by_ref(d.sref) {
                        let mut st = series.state.lock();
                        let ooo_before = st.ooo_samples();
                        let removed = st.delete_range(d.mint, d.maxt, range);
                        head.forget_samples(removed, ooo_before - st.ooo_samples());
                    }
                }
            }
        }
    }
}

/// Lists `<dir>/blocks`, removing temporary and superseded block directories, and opens the
/// rest. A block that fails to open is moved to `<dir>/corrupted/` (when `repair`) or skipped.
/// Returns the blocks sorted by (min time, id) and the number moved aside.
pub(super) fn load_blocks(
    dir: &Path,
    symbols: &Arc<SymbolTable>,
    repair: bool,
) -> Result<(Vec<Arc<Block>>, u64)> {
    let bdir = dir.join("blocks");
    if !bdir.exists() {
        if repair {
            std::fs::create_dir_all(&bdir).map_err(|e| Error::io("create dir", &bdir, e))?;
        }
        return Ok((Vec::new(), 0));
    }
    let mut candidates: Vec<(PathBuf, Option<BlockMeta>)> = Vec::new();
    let rd = std::fs::read_dir(&bdir).map_err(|e| Error::io("read dir", &bdir, e))?;
    for e in rd {
        let e = e.map_err(|e| Error::io("read dir", &bdir, e))?;
        let name = e.file_name().to_string_lossy().into_owned();
        let path = e.path();
        if name.ends_with(TMP_SUFFIX) {
            if repair {
                std::fs::remove_dir_all(&path).map_err(|e| Error::io("remove", &path, e))?;
            }
            continue;
        }
        if !is_ulid(&name) || !path.is_dir() {
            continue;
        }
        candidates.push((path.clone(), BlockMeta::read(&path).ok()));
    }
    let mut listed: Vec<String> = candidates
        .iter()
        .filter_map(|(p, _)| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    listed.sort();
    // Parents of present blocks are leftovers of finished compactions.
    let parents: HashSet<String> = candidates
        .iter()
        .filter_map(|(_, m)| m.as_ref())
        .flat_map(|m| m.compaction.parents.iter().cloned())
        .collect();
    let mut blocks = Vec::new();
    let mut corrupted = 0;
    for (path, meta) in candidates {
        let id = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if meta.is_some() && parents.contains(&id) {
            if repair {
                crate::block::remove_dir(&path)?;
            }
            continue;
        }
        match Block::open(&path, symbols) {
            Ok(b) => blocks.push(Arc::new(b)),
            // Written by another version: refuse to start rather than move it aside.
            Err(e @ Error::UnsupportedVersion { .. }) => return Err(e),
            Err(e) if !repair => {
                if !matches!(&e, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
                {
                    eprintln!("strata: skipping block {}: {e}", path.display());
                } else {
                    return Err(e);
                }
            }
            Err(e) => {
                corrupted += 1;
                move_aside(dir, &path, &e)?;
            }
        }
    }
    // A reader beside a running writer: a directory listing taken while the writer renames
    // (a new block in, a deleted one out) may miss entries, so the blocks opened must still
    // be the ones listed once they are open (else the caller lists again).
    if !repair && block_names(&bdir)? != listed {
        return Err(Error::io(
            "list",
            &bdir,
            std::io::Error::other("blocks changed while being opened"),
        ));
    }
    blocks.sort_by(|a, b| (a.meta().min_time, a.ulid()).cmp(&(b.meta().min_time, b.ulid())));
    Ok((blocks, corrupted))
}

/// The names of the complete block directories in `bdir`, sorted.
fn block_names(bdir: &Path) -> Result<Vec<String>> {
    let rd = std::fs::read_dir(bdir).map_err(|e| Error::io("read dir", bdir, e))?;
    let mut names = Vec::new();
    for e in rd {
        let e = e.map_err(|e| Error::io("read dir", bdir, e))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if is_ulid(&name) && e.path().is_dir() {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// Moves a damaged block to `<dir>/corrupted/<id>` and says so on stderr.
/// The newest sample time in the head or the blocks (`i64::MIN` if none): where the data
/// epoch's stable bound starts.
fn newest_time(head: &Head, blocks: &[Arc<Block>]) -> i64 {
    head.time_range()
        .map(|r| r.1)
        .into_iter()
        .chain(blocks.iter().map(|b| b.meta().max_time.saturating_sub(1)))
        .max()
        .unwrap_or(i64::MIN)
}

pub(super) fn move_aside(dir: &Path, block: &Path, why: &Error) -> Result<()> {
    let cdir = dir.join("corrupted");
    std::fs::create_dir_all(&cdir).map_err(|e| Error::io("create dir", &cdir, e))?;
    let name = block
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    let mut dest = cdir.join(&name);
    if dest.exists() {
        dest = cdir.join(format!(
            "{}-{}",
            name.to_string_lossy(),
            crate::block::meta::new_ulid()
        ));
    }
    std::fs::rename(block, &dest).map_err(|e| Error::io("rename", block, e))?;
    crate::block::sync_dir(&cdir)?;
    if let Some(p) = block.parent() {
        crate::block::sync_dir(p)?;
    }
    eprintln!(
        "strata: block {} is damaged ({why}); moved to {}, the rest of the data keeps serving",
        block.display(),
        dest.display()
    );
    Ok(())
}

/// How long [`Db::open`] retries a lock held by someone else before reporting it.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

impl Db {
    /// Opens (creating if needed) the data directory, taking its lock, opening its blocks and
    /// replaying the WAL (from the last checkpoint) into the head. Starts the background
    /// worker unless `opts.background` is false.
    pub fn open(dir: impl AsRef<Path>, opts: Options) -> Result<Db> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("create", &dir, e))?;
        let lock_path = dir.join("lock");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| Error::io("open", &lock_path, e))?;
        // A lock is also held, for a moment, by a child that the process which held it (or
        // any other process with the file open) forked before exec closed its copy of the
        // descriptor: a process that closes a Db and opens it again while another thread
        // spawns a command can meet that. Such a holder lets go within milliseconds; another
        // Strata process does not, and is reported after LOCK_WAIT.
        let started = std::time::Instant::now();
        loop {
            match lock.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) if started.elapsed() < LOCK_WAIT => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(Error::Locked {
                        path: dir,
                        lock: lock_path,
                    })
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(Error::io("lock", lock_path, e))
                }
            }
        }
        let mut head = Head::new(opts.block_range);
        head.map_chunks_in(&dir.join(HEAD_CHUNKS_DIR))?;
        let head = Arc::new(head);
        head.set_max_series(opts.max_series);
        let (blocks, corrupted) = load_blocks(&dir, head.symbols(), true)?;
        let min_valid = blocks
            .iter()
            .map(|b| b.meta().max_time)
            .max()
            .unwrap_or(i64::MIN);
        head.raise_min_valid(min_valid);
        // The out-of-order window reaches back from the newest sample, which may be in a
        // block when the head is empty.
        if min_valid > i64::MIN {
            head.raise_max_time_seen(min_valid - 1);
        }
        let mut rp = Replayer {
            head: &head,
            min_valid,
            unknown_series: 0,
            bad_chunks: 0,
        };
        let progress = opts.progress.clone().unwrap_or_default();
        let wal_dir = dir.join("wal");
        let started = std::time::Instant::now();
        let (wal, replay) = Wal::open_with_progress(
            &wal_dir,
            opts.wal.clone(),
            |rec| rp.apply(rec),
            |done, total| {
                progress.files_total.store(total, Ordering::Relaxed);
                progress.files_done.store(done, Ordering::Relaxed);
                if total > 4 {
                    eprintln!(
                        "strata: WAL replay {:.0}% ({done} of {total} files)",
                        100.0 * done as f64 / total as f64
                    );
                }
            },
        )?;
        head.recount_chunks();
        let (unknown, bad_chunks) = (rp.unknown_series, rp.bad_chunks);
        if unknown > 0 {
            eprintln!(
                "strata: WAL replay dropped {unknown} samples whose series definition was lost with damaged WAL data"
            );
        }
        if bad_chunks > 0 {
            eprintln!("strata: WAL replay skipped {bad_chunks} damaged checkpoint chunks");
        }
        if replay.records > 0 || !blocks.is_empty() {
            eprintln!(
                "strata: opened {} with {} blocks and {} WAL records in {:.2?}",
                dir.display(),
                blocks.len(),
                replay.records,
                started.elapsed()
            );
        }
        let counters = EngineCounters::default();
        counters
            .corrupted_blocks
            .store(corrupted, Ordering::Relaxed);
        counters
            .replay_unknown_series_samples
            .store(unknown, Ordering::Relaxed);
        let newest = newest_time(&head, &blocks);
        let inner = Arc::new(Inner {
            head,
            wal: Some(wal),
            dir,
            published: RwLock::new(Arc::new(Published {
                blocks,
                head_bound: min_valid,
            })),
            maint: Mutex::new(()),
            counters,
            signal: Signal::default(),
            epoch: super::epoch::DataEpoch::new(opts.stable_grace, opts.stable_clock, newest),
            opts,
        });
        let worker = if inner.opts.background {
            let w = inner.clone();
            Some(
                std::thread::Builder::new()
                    .name("strata-maintain".into())
                    .spawn(move || super::maintain::worker_loop(w))
                    .map_err(|e| Error::io("spawn worker thread for", &inner.dir, e))?,
            )
        } else {
            None
        };
        progress.ready.store(true, Ordering::Relaxed);
        Ok(Db {
            inner,
            id: NEXT_DB_ID.fetch_add(1, Ordering::Relaxed),
            lock: Mutex::new(Some(lock)),
            replay,
            worker: Mutex::new(worker),
        })
    }

    /// Opens a data directory that another process (a running server) may hold, for
    /// reading only: no lock is taken, nothing is written, created, repaired or deleted.
    /// Blocks are read as they are (a damaged one is skipped with a message); with
    /// `with_head`, the WAL is replayed into private memory so that the most recent data is
    /// visible too. The view is a snapshot of the moment of opening.
    ///
    /// The writer may checkpoint, compact or delete meanwhile: the WAL is read first and the
    /// blocks listed after, so data the writer moves from its head into a block is in one or
    /// the other (or both: readers merge duplicates away); a file that vanishes while being
    /// read, or a block list that changed while its blocks were opened, makes the open start
    /// over (for ten seconds at most). The writer deletes a block by renaming it first, so a
    /// block opened is whole.
    pub fn open_read_only(dir: impl AsRef<Path>, with_head: bool) -> Result<Db> {
        let dir = dir.as_ref().to_path_buf();
        if !dir.is_dir() {
            return Err(Error::NotFound(dir));
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut attempt = 0u64;
        loop {
            match Db::try_open_read_only(&dir, with_head) {
                Ok(db) => return Ok(db),
                Err(Error::Io { .. }) if std::time::Instant::now() < deadline => {}
                Err(e) => return Err(e),
            }
            attempt += 1;
            std::thread::sleep(std::time::Duration::from_millis((5 * attempt).min(100)));
        }
    }

    fn try_open_read_only(dir: &Path, with_head: bool) -> Result<Db> {
        let opts = Options {
            background: false,
            ..Options::default()
        };
        let head = Arc::new(Head::new(opts.block_range));
        head.set_max_series(opts.max_series);
        let mut rp = Replayer {
            head: &head,
            min_valid: i64::MIN,
            unknown_series: 0,
            bad_chunks: 0,
        };
        let replay = if with_head {
            Wal::replay_read_only(&dir.join("wal"), |rec| rp.apply(rec))?
        } else {
            Default::default()
        };
        head.recount_chunks();
        let (blocks, _) = load_blocks(dir, head.symbols(), false)?;
        let bound = blocks
            .iter()
            .map(|b| b.meta().max_time)
            .max()
            .unwrap_or(i64::MIN);
        let newest = newest_time(&head, &blocks);
        let inner = Arc::new(Inner {
            head,
            wal: None,
            dir: dir.to_path_buf(),
            // Head chunks ending before the newest block's end are in blocks; a chunk that
            // straddles it is read and merged with the block's copy (duplicates removed).
            published: RwLock::new(Arc::new(Published {
                blocks,
                head_bound: bound,
            })),
            maint: Mutex::new(()),
            counters: EngineCounters::default(),
            signal: Signal::default(),
            epoch: super::epoch::DataEpoch::new(opts.stable_grace, opts.stable_clock, newest),
            opts,
        });
        Ok(Db {
            inner,
            id: NEXT_DB_ID.fetch_add(1, Ordering::Relaxed),
            lock: Mutex::new(None),
            replay,
            worker: Mutex::new(None),
        })
    }
}

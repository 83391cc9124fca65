//! The append path, segment rotation, group commit and the background syncer.
//!
//! Two locks, never held together except in the order `state` then nothing:
//! - `state` guards the open segment and the end position. A writer holds it only to append
//!   already-encoded bytes with one positioned write (and, rarely, to rotate).
//! - `sync` guards the durable position and the "an fsync is running" flag. The caller that
//!   finds no fsync running becomes the leader: it snapshots the end position and the files
//!   to sync under `state`, releases every lock, fsyncs, then publishes the new durable
//!   position and wakes the waiters. A waiter whose position is covered returns; one whose
//!   write came after the snapshot leads the next round. So one fsync covers every write
//!   completed before it began, and concurrent callers share it.
//!
//! After a failed fsync the page cache may already have dropped the unsynced data, so a retry
//! could succeed without it being on disk. The WAL therefore fails: every later write and
//! sync returns an error naming the first failure, until the owner recovers it: it starts a
//! fresh segment ([`Shared::reset_after_failure`]), rewrites what the failed segments held
//! from memory (a checkpoint of the head, which the database writes and which deletes them),
//! and only then clears the failure ([`Shared::clear_failure`]).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::error::{Error, Result};

use super::segment::{create_segment, segment_path, sync_dir, SEGMENT_HEADER_LEN};
use super::WalPosition;

/// The open segment and everything written but not yet synced.
pub(super) struct WriterState {
    pub segment: u64,
    pub file: Arc<File>,
    pub offset: u64,
    /// Rotated-away segments not yet fsynced.
    pub unsynced: Vec<(u64, Arc<File>)>,
    /// A segment was created since the last directory fsync.
    pub dir_dirty: bool,
    pub closed: bool,
}

impl WriterState {
    fn end(&self) -> WalPosition {
        WalPosition {
            segment: self.segment,
            offset: self.offset,
        }
    }
}

/// The group-commit state.
struct SyncState {
    durable: WalPosition,
    syncing: bool,
}

/// State shared by the `Wal` handle and its syncer thread.
pub(super) struct Shared {
    pub dir: PathBuf,
    pub segment_size: u64,
    pub state: Mutex<WriterState>,
    sync: Mutex<SyncState>,
    synced: Condvar,
    /// The first error that made the WAL untrustworthy; cleared only by recovery.
    failed: Mutex<Option<String>>,
    /// When `failed` was set.
    failed_at: Mutex<Option<std::time::Instant>>,
    /// Counters for [`super::WalStats`].
    pub writes: AtomicU64,
    pub bytes: AtomicU64,
    pub sync_rounds: AtomicU64,
    pub segments_created: AtomicU64,
    /// Set to stop the syncer thread.
    stop: Mutex<bool>,
    wake: Condvar,
}

impl Shared {
    pub fn new(dir: &Path, segment_size: u64, state: WriterState) -> Shared {
        let durable = state.end();
        Shared {
            dir: dir.to_path_buf(),
            segment_size,
            state: Mutex::new(state),
            sync: Mutex::new(SyncState {
                durable,
                syncing: false,
            }),
            synced: Condvar::new(),
            failed: Mutex::new(None),
            failed_at: Mutex::new(None),
            writes: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            sync_rounds: AtomicU64::new(0),
            segments_created: AtomicU64::new(0),
            stop: Mutex::new(false),
            wake: Condvar::new(),
        }
    }

    /// `Err` if the WAL has failed for good (see the module docs).
    pub fn check_failed(&self, path: &Path) -> Result<()> {
        match &*self.failed.lock() {
            None => Ok(()),
            Some(msg) => Err(Error::io(
                "write",
                path,
                std::io::Error::other(format!("WAL failed earlier and is read-only: {msg}")),
            )),
        }
    }

    pub(super) fn fail(&self, e: &Error) {
        let mut f = self.failed.lock();
        if f.is_none() {
            eprintln!("strata: WAL failed, refusing writes until recovered: {e}");
            *f = Some(e.to_string());
            *self.failed_at.lock() = Some(std::time::Instant::now());
        }
    }

    /// The failure that makes the WAL refuse writes, if any.
    pub fn failure(&self) -> Option<String> {
        self.failed.lock().clone()
    }

    /// How long the WAL has been failed, if it is.
    pub fn failed_for(&self) -> Option<Duration> {
        self.failed
            .lock()
            .as_ref()
            .and(*self.failed_at.lock())
            .map(|t| t.elapsed())
    }

    /// First step of recovering a failed WAL: starts a fresh segment that later writes go
    /// to, and forgets the unsynced files (their pages cannot be trusted; the checkpoint that
    /// follows replaces them). `Ok(false)` if the WAL has not failed. Writes stay refused.
    pub fn reset_after_failure(&self) -> Result<bool> {
        if self.failed.lock().is_none() {
            return Ok(false);
        }
        let mut st = self.state.lock();
        if st.closed {
            return Err(Error::Closed);
        }
        let next = st.segment + 1;
        let file = Arc::new(create_segment(&self.dir, next)?);
        sync_dir(&self.dir)?;
        st.file = file;
        st.segment = next;
        st.offset = SEGMENT_HEADER_LEN;
        st.unsynced.clear();
        st.dir_dirty = false;
        self.segments_created.fetch_add(1, Ordering::Relaxed);
        let end = st.end();
        drop(st);
        let mut s = self.sync.lock();
        s.durable = end;
        Ok(true)
    }

    /// Last step of recovery, once a durable checkpoint stands for every segment before the
    /// one [`Shared::reset_after_failure`] started: writes are accepted again.
    pub fn clear_failure(&self) {
        *self.failed.lock() = None;
        *self.failed_at.lock() = None;
    }

    /// Appends already-framed bytes; the caller's records stay together in one segment.
    pub fn append(&self, frames: &[u8]) -> Result<WalPosition> {
        let mut st = self.state.lock();
        if st.closed {
            return Err(Error::Closed);
        }
        let path = segment_path(&self.dir, st.segment);
        self.check_failed(&path)?;
        if frames.is_empty() {
            return Ok(st.end());
        }
        let len = frames.len() as u64;
        if st.offset > SEGMENT_HEADER_LEN && st.offset + len > self.segment_size {
            self.rotate(&mut st)?;
        }
        let path = segment_path(&self.dir, st.segment);
        if let Err(e) = st.file.write_all_at(frames, st.offset) {
            // Part of the bytes may be in the file. Cut them off so that the next write does
            // not land behind garbage that replay would stop at; if even that fails, no later
            // write can be trusted.
            let err = Error::io("write", &path, e);
            if let Err(e2) = st.file.set_len(st.offset) {
                self.fail(&Error::io("truncate after failed write", &path, e2));
            }
            return Err(err);
        }
        st.offset += len;
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(len, Ordering::Relaxed);
        Ok(st.end())
    }

    /// Starts the next segment. The old one is fsynced by the next sync round.
    pub fn rotate(&self, st: &mut MutexGuard<'_, WriterState>) -> Result<()> {
        let next = st.segment + 1;
        let file = Arc::new(create_segment(&self.dir, next)?);
        let old = std::mem::replace(&mut st.file, file);
        let old_seg = st.segment;
        st.unsynced.push((old_seg, old));
        st.segment = next;
        st.offset = SEGMENT_HEADER_LEN;
        st.dir_dirty = true;
        self.segments_created.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// The position just past the last write.
    pub fn end(&self) -> WalPosition {
        self.state.lock().end()
    }

    /// Waits until `pos` is durable, fsyncing as the group-commit leader when no fsync is
    /// running.
    pub fn sync_to(&self, pos: WalPosition) -> Result<()> {
        let mut s = self.sync.lock();
        loop {
            if s.durable >= pos {
                return Ok(());
            }
            self.check_failed(&self.dir)?;
            if s.syncing {
                self.synced.wait(&mut s);
                continue;
            }
            s.syncing = true;
            let res = MutexGuard::unlocked(&mut s, || self.sync_round());
            s.syncing = false;
            self.synced.notify_all();
            match res {
                Ok(target) => {
                    if target > s.durable {
                        s.durable = target;
                    }
                    if s.durable < pos {
                        // Our own round began after our write, so it covered it, unless
                        // `pos` never came from this WAL.
                        return Err(Error::io(
                            "sync",
                            &self.dir,
                            std::io::Error::new(
                                std::io::ErrorKind::InvalidInput,
                                format!(
                                    "position {}:{} is past the end of the WAL ({}:{})",
                                    pos.segment, pos.offset, target.segment, target.offset
                                ),
                            ),
                        ));
                    }
                }
                Err(e) => {
                    self.fail(&e);
                    return Err(e);
                }
            }
        }
    }

    /// One fsync round: everything written before it started. Returns the position covered.
    fn sync_round(&self) -> Result<WalPosition> {
        let (target, files, dir_dirty) = {
            let mut st = self.state.lock();
            let mut files = std::mem::take(&mut st.unsynced);
            files.push((st.segment, st.file.clone()));
            (st.end(), files, std::mem::take(&mut st.dir_dirty))
        };
        for (n, f) in &files {
            f.sync_data()
                .map_err(|e| Error::io("fsync", segment_path(&self.dir, *n), e))?;
        }
        if dir_dirty {
            sync_dir(&self.dir)?;
        }
        self.sync_rounds.fetch_add(1, Ordering::Relaxed);
        Ok(target)
    }

    /// Syncs everything written so far (no-op when already durable).
    pub fn sync_all(&self) -> Result<()> {
        let end = self.end();
        self.sync_to(end)
    }

    /// Body of the background syncer of `SyncPolicy::Interval`.
    pub fn syncer_loop(&self, every: Duration) {
        let mut stop = self.stop.lock();
        loop {
            if *stop {
                return;
            }
            self.wake.wait_for(&mut stop, every);
            if *stop {
                return;
            }
            // While failed, nothing is written; recovery clears the failure.
            if self.failed.lock().is_some() {
                continue;
            }
            let res = MutexGuard::unlocked(&mut stop, || self.sync_all());
            if let Err(e) = res {
                // Sticky until recovery: writers report it too.
                eprintln!("strata: WAL background fsync failed: {e}");
            }
        }
    }

    /// Asks the syncer thread to stop.
    pub fn stop_syncer(&self) {
        *self.stop.lock() = true;
        self.wake.notify_all();
    }
}

/// Starts the syncer thread.
pub(super) fn spawn_syncer(shared: &Arc<Shared>, every: Duration) -> Result<JoinHandle<()>> {
    let s = shared.clone();
    let every = every.max(Duration::from_millis(1));
    std::thread::Builder::new()
        .name("strata-wal-sync".into())
        .spawn(move || s.syncer_loop(every))
        .map_err(|e| Error::io("spawn WAL syncer", &shared.dir, e))
}

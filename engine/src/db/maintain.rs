//! Background work: cutting the head into blocks, checkpointing the WAL, compaction,
//! retention, and moving damaged blocks aside. One pass is [`maintain`]; the worker thread
//! runs it when an append finds the head too long, and every 30 s otherwise. Every pass
//! holds the database's maintenance lock, so these never run concurrently with each other
//! or with admin operations; appends and queries are never blocked by them.
//!
//! Head cut, step by step (the order is what keeps every sample visible exactly once):
//! 1. pick the oldest block-range window `[a, b)` of the head (when the head spans more than
//!    1.5 block ranges, or everything when flushing);
//! 2. raise the head's lower bound for appends to `b` (a sample older than `b` is refused
//!    from now on; one already accepted is in the head);
//! 3. collect the chunks before `b` (sealing open chunks that end before it) and write
//!    them as a block (temporary directory, fsync, rename);
//! 4. publish the new block list together with the readers' head bound `b`;
//! 5. truncate the head: drop those chunks, remove series left without data;
//! 6. after the last cut of a pass, checkpoint the WAL (see `wal/checkpoint.rs`).
//!
//! A crash after 3 leaves a block whose data is also in the WAL; opening the directory sets
//! the head's bound to the newest block's end and skips replayed samples before it.
//!
//! A failed WAL (an fsync or write error) is recovered first in every pass: a fresh segment,
//! then a checkpoint of the head standing for every older segment, then writes are accepted
//! again. The worker retries a failed recovery after 1 s, doubling to 30 s.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::{Db, Inner, Published};
use crate::block::meta::Compaction;
use crate::block::writer::BlockWriter;
use crate::block::Block;
use crate::compact;
use crate::error::{Error, Result};
use crate::wal::{ChunksRecord, Record, SampleRecord, SeriesRecord};

const DAY_MS: i64 = 24 * 3600 * 1000;

/// Compaction ranges for a block range and retention: 1, 3, 12, 36, 108 and 324 block
/// ranges (2 h, 6 h, 24 h, 3 d, 9 d, 27 d by default), keeping those at most a tenth of the
/// retention and at most 31 days (the block range itself always).
pub fn compaction_ranges(block_range: i64, retention: Option<i64>) -> Vec<i64> {
    let cap = retention
        .map_or(i64::MAX, |r| r / 10)
        .min(31 * DAY_MS)
        .max(block_range);
    [1i64, 3, 12, 36, 108, 324]
        .iter()
        .map(|m| block_range.saturating_mul(*m))
        .filter(|&r| r <= cap)
        .collect()
}

/// The worker thread: a maintenance pass when signalled, or every 30 s.
pub(super) fn worker_loop(inner: Arc<Inner>) {
    // Recovery of a failed WAL waits 1 s after the failure, then doubles up to 30 s between
    // attempts (a failing disk is not hammered; a transient error heals within seconds).
    const FIRST: Duration = Duration::from_secs(1);
    let mut backoff = FIRST;
    let mut last_attempt: Option<std::time::Instant> = None;
    let stopped = || inner.signal.stop.load(Ordering::Acquire);
    loop {
        if stopped() {
            return;
        }
        let failed_for = inner.wal.as_ref().and_then(|w| w.failed_for());
        match failed_for {
            Some(d) => {
                let since = last_attempt.map_or(d, |t| t.elapsed().min(d));
                if since < backoff {
                    let mut p = inner.signal.pending.lock();
                    *p = false;
                    if !stopped() {
                        inner.signal.cv.wait_for(&mut p, backoff - since);
                    }
                    continue;
                }
                last_attempt = Some(std::time::Instant::now());
            }
            None => {
                backoff = FIRST;
                last_attempt = None;
                let mut p = inner.signal.pending.lock();
                if !*p && !stopped() {
                    inner.signal.cv.wait_for(&mut p, Duration::from_secs(30));
                }
                *p = false;
                drop(p);
                if inner.wal.as_ref().is_some_and(|w| w.failure().is_some()) {
                    continue; // failed while waiting: back off first
                }
            }
        }
        if stopped() {
            return;
        }
        if let Err(e) = maintain(&inner, false) {
            eprintln!("strata: background maintenance: {e}");
        }
        if failed_for.is_some() && inner.wal.as_ref().is_some_and(|w| w.failure().is_some()) {
            backoff = (backoff * 2).min(Duration::from_secs(30));
        }
    }
}

/// What one maintenance pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MaintainReport {
    /// Blocks cut from the head.
    pub head_blocks: u64,
    /// Compactions run.
    pub compactions: u64,
    /// Blocks deleted by retention.
    pub deleted_blocks: u64,
    /// Damaged blocks moved aside.
    pub moved_aside: u64,
}

impl Db {
    /// Runs one maintenance pass now (head cut if the head is long enough, checkpoint,
    /// compaction, retention), as the background worker does. For databases opened with
    /// `background: false`.
    pub fn maintain(&self) -> Result<MaintainReport> {
        maintain(&self.inner, false)
    }

    /// Cuts the whole head into blocks and runs compaction to completion before returning
    /// (for backups and benchmarks). Afterwards the head is empty and only samples newer
    /// than the newest flushed one are accepted.
    pub fn flush(&self) -> Result<MaintainReport> {
        maintain(&self.inner, true)
    }
}

/// One maintenance pass.
pub(super) fn maintain(inner: &Inner, flush: bool) -> Result<MaintainReport> {
    let _g = inner.maint.lock();
    inner.wal()?;
    recover_wal(inner)?;
    let mut report = MaintainReport {
        moved_aside: move_damaged(inner)?,
        ..Default::default()
    };
    let mut cut = false;
    loop {
        match cut_head(inner, flush) {
            Ok(None) => break,
            Ok(Some(wrote)) => {
                cut = true;
                report.head_blocks += u64::from(wrote);
            }
            Err(e) => {
                inner
                    .counters
                    .head_cut_failures
                    .fetch_add(1, Ordering::Relaxed);
                return Err(e);
            }
        }
    }
    if cut {
        if let Err(e) = checkpoint(inner) {
            inner
                .counters
                .checkpoint_failures
                .fetch_add(1, Ordering::Relaxed);
            return Err(e);
        }
        inner.counters.checkpoints.fetch_add(1, Ordering::Relaxed);
    }
    let ranges = compaction_ranges(inner.opts.block_range, inner.opts.retention);
    loop {
        let p = inner.published();
        let Some(group) = compact::plan(&p.blocks, &ranges, p.head_bound, flush) else {
            break;
        };
        match compact::compact(
            &inner.blocks_dir(),
            &group,
            inner.opts.compaction_chunk_samples,
        ) {
            Ok(meta) => {
                let new = match meta {
                    Some(m) => Some(Arc::new(Block::open(
                        &inner.blocks_dir().join(&m.ulid),
                        inner.head.symbols(),
                    )?)),
                    None => None,
                };
                replace_blocks(inner, &group, new);
                inner.counters.compactions.fetch_add(1, Ordering::Relaxed);
                report.compactions += 1;
            }
            Err(e) => {
                inner
                    .counters
                    .compaction_failures
                    .fetch_add(1, Ordering::Relaxed);
                // A damaged source is moved aside now; the next pass plans without it.
                move_damaged(inner)?;
                return Err(e);
            }
        }
    }
    report.deleted_blocks = retention(inner)?;
    // Strings interned while reading blocks (compaction, queries) are dropped once unused.
    inner.head.symbols().gc();
    Ok(report)
}

/// Publishes the block list without `old` and with `new`, then deletes `old` from disk
/// (readers holding them keep reading their maps).
pub(super) fn replace_blocks(inner: &Inner, old: &[Arc<Block>], new: Option<Arc<Block>>) {
    {
        let mut p = inner.published.write();
        let mut blocks: Vec<Arc<Block>> = p
            .blocks
            .iter()
            .filter(|b| !old.iter().any(|o| Arc::ptr_eq(o, b)))
            .cloned()
            .collect();
        blocks.extend(new);
        blocks.sort_by(|a, b| (a.meta().min_time, a.ulid()).cmp(&(b.meta().min_time, b.ulid())));
        *p = Arc::new(Published {
            blocks,
            head_bound: p.head_bound,
        });
    }
    for b in old {
        if let Err(e) = crate::block::remove_dir(b.dir()) {
            eprintln!("strata: deleting block {}: {e}", b.dir().display());
        }
    }
    let _ = crate::block::sync_dir(&inner.blocks_dir());
}

/// Moves blocks whose reads found damage to `corrupted/`. Returns how many.
fn move_damaged(inner: &Inner) -> Result<u64> {
    let p = inner.published();
    let damaged: Vec<Arc<Block>> = p
        .blocks
        .iter()
        .filter(|b| b.is_damaged())
        .cloned()
        .collect();
    if damaged.is_empty() {
        return Ok(0);
    }
    {
        let mut w = inner.published.write();
        let blocks = w
            .blocks
            .iter()
            .filter(|b| !b.is_damaged())
            .cloned()
            .collect();
        *w = Arc::new(Published {
            blocks,
            head_bound: w.head_bound,
        });
    }
    // Readers no longer see the damaged blocks' data.
    inner.epoch.bump();
    for b in &damaged {
        let why = Error::corrupt_block(b.dir(), "block", "a read failed its checks".into());
        super::open::move_aside(&inner.dir, b.dir(), &why)?;
        inner
            .counters
            .corrupted_blocks
            .fetch_add(1, Ordering::Relaxed);
    }
    Ok(damaged.len() as u64)
}

/// Cuts the oldest window of the head into a block if the head is long enough (or, when
/// flushing, if it holds anything). `None` if there was nothing to cut; otherwise whether a
/// block was written (a window without data just moves the bound).
fn cut_head(inner: &Inner, flush: bool) -> Result<Option<bool>> {
    let head = &inner.head;
    let r = inner.opts.block_range;
    let bound = inner.published().head_bound;
    let Some((lo, hi)) = head.time_range().filter(|&(lo, hi)| lo.max(bound) <= hi) else {
        return if flush {
            flush_ooo(inner, bound)
        } else {
            Ok(None)
        };
    };
    let lo = lo.max(bound);
    if !flush && hi.saturating_sub(lo) <= r / 2 * 3 {
        return Ok(None);
    }
    let start = lo.div_euclid(r).saturating_mul(r);
    let a = start.max(bound);
    let mut b = start.saturating_add(r);
    if flush {
        b = b.min(hi.saturating_add(1));
    }
    head.raise_min_valid(b);
    let series = head.collect_before(b);
    if series.is_empty() {
        // Nothing before `b`: jump over the gap to the window of the oldest data left.
        if let Some(m) = head.data_min_time() {
            b = b.max(m.div_euclid(r).saturating_mul(r));
            head.raise_min_valid(b);
        }
    }
    let mut wrote = false;
    let mut new_block = None;
    if !series.is_empty() {
        let symbols = series.iter().flat_map(|(l, _)| {
            l.iter()
                .flat_map(|l| [l.name.clone(), l.value.clone()])
                .collect::<Vec<_>>()
        });
        let mut w = BlockWriter::create(&inner.blocks_dir(), a, b, symbols, Compaction::default())?;
        for (labels, chunks) in &series {
            w.add_series(labels, chunks)?;
        }
        if let Some(meta) = w.finish()? {
            new_block = Some(Arc::new(Block::open(
                &inner.blocks_dir().join(&meta.ulid),
                head.symbols(),
            )?));
            wrote = true;
        }
    }
    drop(series);
    // Out-of-order samples before `b`, whatever their age, as blocks of their own.
    let ooo = write_ooo_blocks(inner, head.collect_ooo_before(b), b)?;
    wrote |= !ooo.is_empty();
    publish_and_truncate(inner, new_block.into_iter().chain(ooo), b);
    if wrote {
        inner.counters.head_cuts.fetch_add(1, Ordering::Relaxed);
    }
    Ok(Some(wrote))
}

/// Publishes `new` blocks with the readers' head bound raised to `b`, then truncates the
/// head below `b` (steps 4 and 5 of a cut).
fn publish_and_truncate(inner: &Inner, new: impl IntoIterator<Item = Arc<Block>>, b: i64) {
    {
        let mut p = inner.published.write();
        let mut blocks = p.blocks.clone();
        blocks.extend(new);
        blocks.sort_by(|a, b| (a.meta().min_time, a.ulid()).cmp(&(b.meta().min_time, b.ulid())));
        *p = Arc::new(Published {
            blocks,
            head_bound: p.head_bound.max(b),
        });
    }
    let removed = inner.head.truncate(b);
    inner
        .counters
        .series_removed
        .fetch_add(removed as u64, Ordering::Relaxed);
}

/// The last step of a flush once the in-order head is empty: out-of-order samples left
/// (all older than the head's bound, as every series' newest sample is) go to blocks.
fn flush_ooo(inner: &Inner, bound: i64) -> Result<Option<bool>> {
    let head = &inner.head;
    if head.num_ooo_samples() == 0 {
        return Ok(None);
    }
    let blocks = write_ooo_blocks(inner, head.collect_ooo_before(bound), bound)?;
    if blocks.is_empty() {
        return Ok(None);
    }
    publish_and_truncate(inner, blocks, bound);
    Ok(Some(true))
}

/// Writes out-of-order samples (before `b`, by series) as one block per aligned block range
/// they fall in. The blocks overlap others; compaction merges them.
fn write_ooo_blocks(
    inner: &Inner,
    series: Vec<(crate::labels::Labels, Vec<crate::Sample>)>,
    b: i64,
) -> Result<Vec<Arc<Block>>> {
    let r = inner.opts.block_range;
    let mut windows: Vec<i64> = series
        .iter()
        .flat_map(|(_, s)| s.iter().map(|x| x.t.div_euclid(r)))
        .collect();
    windows.sort_unstable();
    windows.dedup();
    let mut out = Vec::new();
    for w in windows {
        let lo = w.saturating_mul(r);
        let hi = w.saturating_add(1).saturating_mul(r).min(b);
        let parts: Vec<(&crate::labels::Labels, Vec<crate::chunk::Chunk>)> = series
            .iter()
            .filter_map(|(l, s)| {
                let a = s.partition_point(|x| x.t < lo);
                let z = s.partition_point(|x| x.t < hi);
                (a < z).then(|| (l, crate::head::merge_into(Vec::new(), &s[a..z])))
            })
            .collect();
        let symbols = parts.iter().flat_map(|(l, _)| {
            l.iter()
                .flat_map(|l| [l.name.clone(), l.value.clone()])
                .collect::<Vec<_>>()
        });
        let mut wr =
            BlockWriter::create(&inner.blocks_dir(), lo, hi, symbols, Compaction::default())?;
        for (labels, chunks) in &parts {
            wr.add_series(labels, chunks)?;
        }
        if let Some(meta) = wr.finish()? {
            out.push(Arc::new(Block::open(
                &inner.blocks_dir().join(&meta.ulid),
                inner.head.symbols(),
            )?));
            inner.counters.ooo_blocks.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok(out)
}

/// Recovers a failed WAL, if it failed: later writes go to a fresh segment, a checkpoint of
/// the head replaces every segment before it (so what a failed fsync may have dropped from
/// the page cache is written again from memory), and then writes are accepted again.
fn recover_wal(inner: &Inner) -> Result<()> {
    let wal = inner.wal()?;
    let Some(why) = wal.failure() else {
        return Ok(());
    };
    let res = wal.reset_after_failure().and_then(|_| checkpoint(inner));
    match res {
        Ok(()) => {
            wal.clear_failure();
            inner
                .counters
                .wal_recoveries
                .fetch_add(1, Ordering::Relaxed);
            eprintln!("strata: WAL recovered after: {why}");
            Ok(())
        }
        Err(e) => {
            inner
                .counters
                .wal_recovery_failures
                .fetch_add(1, Ordering::Relaxed);
            Err(e)
        }
    }
}

/// Writes a checkpoint of the head standing for every WAL segment before the current one.
fn checkpoint(inner: &Inner) -> Result<()> {
    let wal = inner.wal()?;
    let current = wal.cut()?;
    let Some(n) = current.checked_sub(1).filter(|&n| n > 0) else {
        return Ok(());
    };
    let mut w = wal.checkpoint(n)?;
    let mut series = inner.head.all_series();
    series.sort_by_key(|s| s.sref);
    for batch in series.chunks(1000) {
        let mut defs = Vec::with_capacity(batch.len());
        let mut chunks = Vec::new();
        let mut samples = Vec::new();
        let mut ooo = Vec::new();
        for s in batch {
            let st = s.state.lock();
            if !st.logged || st.removed {
                continue;
            }
            defs.push(SeriesRecord {
                sref: s.sref,
                labels: s.labels.clone(),
            });
            if !st.sealed.is_empty() {
                chunks.push(ChunksRecord {
                    sref: s.sref,
                    chunks: st
                        .sealed
                        .iter()
                        .map(|c| c.chunk().as_bytes().to_vec())
                        .collect(),
                });
            }
            if !st.open.is_empty() {
                samples.extend(st.open.snapshot().iter().map(|x| SampleRecord {
                    sref: s.sref,
                    t: x.t,
                    v: x.v,
                }));
            }
            if let Some(o) = &st.ooo {
                ooo.push(ChunksRecord {
                    sref: s.sref,
                    chunks: o
                        .all_chunks()
                        .iter()
                        .map(|c| c.as_bytes().to_vec())
                        .collect(),
                });
            }
        }
        let mut recs = vec![Record::Series(defs)];
        if !chunks.is_empty() {
            recs.push(Record::Chunks(chunks));
        }
        if !samples.is_empty() {
            recs.push(Record::Samples(samples));
        }
        if !ooo.is_empty() {
            recs.push(Record::OooChunks(ooo));
        }
        w.write(&recs)?;
    }
    w.finish()?;
    Ok(())
}

/// Deletes blocks past the retention time or beyond the retention size, oldest first.
fn retention(inner: &Inner) -> Result<u64> {
    let p = inner.published();
    if p.blocks.is_empty() {
        return Ok(0);
    }
    let newest = inner
        .head
        .time_range()
        .map(|r| r.1)
        .into_iter()
        .chain(p.blocks.iter().map(|b| b.meta().max_time - 1))
        .max()
        .unwrap_or(i64::MIN);
    let mut doomed: Vec<Arc<Block>> = Vec::new();
    if let Some(ret) = inner.opts.retention {
        let cutoff = newest.saturating_sub(ret);
        doomed.extend(
            p.blocks
                .iter()
                .filter(|b| b.meta().max_time <= cutoff)
                .cloned(),
        );
    }
    if let Some(limit) = inner.opts.retention_size {
        let wal = inner.wal.as_ref().map_or(0, |w| w.disk_size());
        let head_files = inner.head.chunk_files().map_or(0, |f| f.stats().bytes);
        let mut total: u64 = wal + head_files + p.blocks.iter().map(|b| b.size()).sum::<u64>();
        for b in &p.blocks {
            if total <= limit {
                break;
            }
            total = total.saturating_sub(b.size());
            if !doomed.iter().any(|d| Arc::ptr_eq(d, b)) {
                doomed.push(b.clone());
            }
        }
    }
    if doomed.is_empty() {
        return Ok(0);
    }
    let n = doomed.len() as u64;
    for b in &doomed {
        eprintln!(
            "strata: retention deletes block {} [{}, {})",
            b.ulid(),
            b.meta().min_time,
            b.meta().max_time
        );
    }
    replace_blocks(inner, &doomed, None);
    inner.epoch.bump();
    inner
        .counters
        .retention_deletions
        .fetch_add(n, Ordering::Relaxed);
    Ok(n)
}

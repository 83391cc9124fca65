//! Admin operations: deleting series, cleaning tombstones, and snapshots. Each holds the
//! maintenance lock, so none runs concurrently with a head cut or a compaction.
//!
//! - `delete_series`: in blocks, a tombstone per matching series (applied by readers at once,
//!   and for good by the next compaction or `clean_tombstones`); in the head, a deletes record
//!   goes to the WAL first and the samples are then removed from the series' chunks, so
//!   replay reproduces the delete at the same point of the log.
//! - `clean_tombstones`: rewrites every block that has tombstones without the deleted data.
//! - `snapshot`: hard links of every block's files into `snapshots/<name>/<ulid>/`, plus (if
//!   asked) the head written as one more block there; nothing is copied and the database
//!   keeps serving.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::epoch::BumpOnDrop;
use super::{Db, Published};
use crate::block::meta::Compaction;
use crate::block::tombstones::Tombstones;
use crate::block::writer::BlockWriter;
use crate::block::Block;
use crate::compact;
use crate::error::{Error, Result};
use crate::matcher::Matcher;
use crate::wal::{DeleteRecord, Record};

/// What a delete touched.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeleteReport {
    /// Head series whose samples in the range were removed.
    pub head_series: u64,
    /// Samples removed from the head.
    pub head_samples: u64,
    /// Block series that got a tombstone.
    pub block_series: u64,
}

impl Db {
    /// Deletes the samples with `mint <= t <= maxt` of every series matching all `matchers`
    /// (at least one matcher is required, as in Prometheus's API).
    pub fn delete_series(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<DeleteReport> {
        if matchers.is_empty() {
            return Err(Error::InvalidArgument(
                "delete needs at least one matcher".into(),
            ));
        }
        if mint > maxt {
            return Err(Error::InvalidArgument(format!(
                "delete range [{mint}, {maxt}] is empty"
            )));
        }
        let inner = &self.inner;
        let wal = inner.wal()?;
        // Declared before the lock: the bump comes after every change (and the unlock).
        let _bump = BumpOnDrop(&inner.epoch);
        let _g = inner.maint.lock();
        let mut report = DeleteReport::default();
        // Blocks: tombstones.
        for b in &inner.published().blocks {
            if !b.meta().overlaps(mint, maxt) {
                continue;
            }
            let refs = b.index().select(matchers)?;
            let mut t: Tombstones = (*b.tombstones()).clone();
            let mut n = 0;
            for r in refs {
                let (_, chunks) = b.index().series(r, mint, maxt)?;
                if !chunks.is_empty() {
                    t.add(r, mint, maxt);
                    n += 1;
                }
            }
            if n > 0 {
                b.set_tombstones(t)?;
                report.block_series += n;
            }
        }
        // Head: WAL first, then the chunks.
        let head = &inner.head;
        let refs = head.index().select(matchers);
        let series: Vec<_> = refs.into_iter().filter_map(|r| head.by_ref(r)).collect();
        let mut guards: Vec<_> = Vec::with_capacity(series.len());
        let mut records = Vec::new();
        for s in &series {
            let st = s.state.lock();
            if st.logged && !st.removed && super::overlaps(&st, mint, maxt) {
                records.push(DeleteRecord {
                    sref: s.sref,
                    mint,
                    maxt,
                });
                guards.push(st);
            }
        }
        if !records.is_empty() {
            let pos = wal.write(&[Record::Deletes(records)])?;
            for st in &mut guards {
                let before = st.footprint();
                let ooo_before = st.ooo_samples();
                let n = st.delete_range(mint, maxt, head.chunk_range());
                head.note_chunks(crate::head::ChunkFootprint::delta(before, st.footprint()));
                head.forget_samples(n, ooo_before - st.ooo_samples());
                report.head_samples += n;
                report.head_series += 1;
            }
            drop(guards);
            wal.sync_to(pos)?;
        }
        if report.head_samples > 0 || report.block_series > 0 {
            inner
                .counters
                .history_changes
                .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        }
        Ok(report)
    }

    /// Rewrites every block that has tombstones without the deleted data (a block left
    /// empty is removed). Returns how many blocks were rewritten.
    pub fn clean_tombstones(&self) -> Result<u64> {
        let inner = &self.inner;
        inner.wal()?;
        // Rewriting without deleted data changes no result (readers already apply the
        // tombstones), but a cache must not rely on that: the epoch moves.
        let _bump = BumpOnDrop(&inner.epoch);
        let _g = inner.maint.lock();
        let mut n = 0;
        for b in inner
            .published()
            .blocks
            .iter()
            .filter(|b| !b.tombstones().is_empty())
        {
            let meta = compact::compact(
                &inner.blocks_dir(),
                std::slice::from_ref(b),
                inner.opts.compaction_chunk_samples,
            )?;
            let new = match meta {
                Some(m) => Some(Arc::new(Block::open(
                    &inner.blocks_dir().join(&m.ulid),
                    inner.head.symbols(),
                )?)),
                None => None,
            };
            super::maintain::replace_blocks(inner, std::slice::from_ref(b), new);
            n += 1;
        }
        Ok(n)
    }

    /// Creates `snapshots/<name>` in the data directory holding hard links to every block
    /// and, with `with_head`, the head's data written as a block. `name` defaults to a new
    /// ULID-based name. Returns the snapshot's directory.
    pub fn snapshot(&self, name: Option<&str>, with_head: bool) -> Result<PathBuf> {
        let inner = &self.inner;
        inner.wal()?;
        let name = match name {
            Some(n) if n.is_empty() || n.contains('/') || n.starts_with('.') => {
                return Err(Error::InvalidArgument(format!("bad snapshot name {n:?}")))
            }
            Some(n) => n.to_string(),
            None => {
                let now = chrono_like_now();
                format!("{now}-{}", &crate::block::meta::new_ulid()[10..])
            }
        };
        let _g = inner.maint.lock();
        let sdir = inner.dir.join("snapshots").join(&name);
        if sdir.exists() {
            return Err(Error::InvalidArgument(format!(
                "snapshot {name} already exists"
            )));
        }
        std::fs::create_dir_all(&sdir).map_err(|e| Error::io("create dir", &sdir, e))?;
        let p: Arc<Published> = inner.published();
        for b in &p.blocks {
            link_tree(b.dir(), &sdir.join(b.ulid()))?;
        }
        if with_head {
            let head = &inner.head;
            let series = head.snapshot_chunks(p.head_bound);
            if let Some(hi) = series
                .iter()
                .flat_map(|(_, c)| c.iter().map(|c| c.max_time()))
                .max()
            {
                let lo = series
                    .iter()
                    .flat_map(|(_, c)| c.iter().map(|c| c.min_time()))
                    .min()
                    .unwrap_or(hi);
                let symbols = series.iter().flat_map(|(l, _)| {
                    l.iter()
                        .flat_map(|l| [l.name.clone(), l.value.clone()])
                        .collect::<Vec<_>>()
                });
                let mut w = BlockWriter::create(
                    &sdir,
                    lo,
                    hi.saturating_add(1),
                    symbols,
                    Compaction::default(),
                )?;
                for (labels, chunks) in &series {
                    w.add_series(labels, chunks)?;
                }
                w.finish()?;
            }
        }
        crate::block::sync_dir(&sdir)?;
        Ok(sdir)
    }
}

/// `YYYYMMDDTHHMMSSZ` of now, for snapshot names (no date crate needed).
fn chrono_like_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Recreates the directory tree `src` at `dst` with hard links for files.
fn link_tree(src: &Path, dst: &Path) -> Result<()> {
    std::fs::create_dir_all(dst).map_err(|e| Error::io("create dir", dst, e))?;
    let rd = std::fs::read_dir(src).map_err(|e| Error::io("read dir", src, e))?;
    for e in rd {
        let e = e.map_err(|e| Error::io("read dir", src, e))?;
        let (from, to) = (e.path(), dst.join(e.file_name()));
        let ft = e.file_type().map_err(|e| Error::io("stat", &from, e))?;
        if ft.is_dir() {
            link_tree(&from, &to)?;
        } else {
            std::fs::hard_link(&from, &to).map_err(|e| Error::io("hard link", &from, e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn snapshot_names_are_dates() {
        let n = super::chrono_like_now();
        assert_eq!(n.len(), 16, "{n}");
        assert!(n.starts_with("20") && n.ends_with('Z'));
    }
}

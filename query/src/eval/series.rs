//! Selected series read on demand, and the streaming loop every selector and range function
//! runs on them.
//!
//! Selection ([`super::Storage::select_series`]) yields [`LazySeries`]: labels plus where the
//! samples are (a storage series whose chunks are not decoded yet, or samples already in
//! memory, e.g. a subquery's points). [`Evaluator::stream`] then walks the series one at a
//! time per thread: decode one series into a reused buffer, turn it into per-step values,
//! drop the samples, next. So a query holds the samples of at most one series per worker
//! thread plus its per-step results, never all selected samples.
//!
//! Memory accounting (`max_samples`), checked **before** anything is decoded, from chunk
//! sample counts: the largest per-series sample bound times the number of worker threads
//! (samples held at once), plus one slot per step for every selected series (the result's
//! per-step slots). After the loop the raw samples are released and the slots of series
//! that produced no value are released too.
//!
//! Invariants: the output is in selection order whatever the number of threads; the
//! cancellation/deadline [`Stop`] is checked before every series, on every thread, so a
//! cancelled query stops within one series' decoding; a chunk that fails to decode is an
//! error, never a silently shortened series.

use std::sync::atomic::{AtomicU64, Ordering};

use strata_engine::{is_stale, Labels, Sample};

use super::{Evaluator, StepSeries};
use crate::cancel::Stop;
use crate::error::{Error, Result};

/// Where a selected series' samples are.
#[derive(Clone, Debug)]
enum Src {
    /// Already in memory, time-ordered, inside the selected range.
    Samples(Vec<Sample>),
    /// A storage series whose chunks are decoded on demand.
    Db(Box<strata_engine::Series>),
}

/// A selected series whose samples are read when the evaluator gets to it.
#[derive(Clone, Debug)]
pub struct LazySeries {
    /// The series' labels.
    pub labels: Labels,
    src: Src,
}

/// Reusable decoding buffers of one worker.
#[derive(Debug, Default)]
pub struct SeriesBuf {
    /// Samples of the series being evaluated.
    pub samples: Vec<Sample>,
    /// Timestamp column scratch.
    pub ts: Vec<i64>,
    /// Value column scratch.
    pub vs: Vec<f64>,
    /// The query's stop conditions, for work that checks them within one series.
    pub stop: Stop,
}

impl SeriesBuf {
    /// Per-window check for long per-series work: every 64th call checks the query's stop
    /// conditions and records the first failure in `err`; returns true once stopped.
    pub fn stopped(stop: &Stop, i: usize, err: &mut Option<Error>) -> bool {
        if err.is_none() && i % 64 == 63 {
            *err = stop.check("range function evaluation").err();
        }
        err.is_some()
    }
}

impl LazySeries {
    /// A series whose samples are already in memory (time-ordered).
    pub fn from_samples(labels: Labels, samples: Vec<Sample>) -> LazySeries {
        LazySeries {
            labels,
            src: Src::Samples(samples),
        }
    }

    /// A storage series selected by a querier.
    pub fn from_db(s: strata_engine::Series) -> LazySeries {
        LazySeries {
            labels: s.labels.clone(),
            src: Src::Db(Box::new(s)),
        }
    }

    /// Upper bound of the samples [`LazySeries::read`] appends, from chunk sample counts
    /// (stale markers and samples outside the range included); nothing is decoded.
    pub fn bound(&self) -> usize {
        match &self.src {
            Src::Samples(v) => v.len(),
            Src::Db(s) => {
                let (mint, maxt) = s.range();
                s.chunks()
                    .iter()
                    .filter(|c| c.max_time() >= mint && c.min_time() <= maxt)
                    .map(|c| c.num_samples())
                    .sum()
            }
        }
    }

    /// The storage series, if the samples come from storage.
    pub fn db(&self) -> Option<&strata_engine::Series> {
        match &self.src {
            Src::Db(s) => Some(s),
            Src::Samples(_) => None,
        }
    }

    /// Replaces `buf.samples` with the series' samples in the selected range (stale markers
    /// included), in time order.
    pub fn read(&self, buf: &mut SeriesBuf) -> Result<()> {
        buf.samples.clear();
        match &self.src {
            Src::Samples(v) => buf.samples.extend_from_slice(v),
            Src::Db(s) => {
                buf.ts.clear();
                buf.vs.clear();
                s.decode_into(&mut buf.ts, &mut buf.vs)?;
                buf.samples
                    .extend(buf.ts.iter().zip(&buf.vs).map(|(&t, &v)| Sample::new(t, v)));
            }
        }
        Ok(())
    }

    /// Like [`LazySeries::read`] with stale markers removed (what range functions see).
    pub fn read_unstale(&self, buf: &mut SeriesBuf) -> Result<()> {
        self.read(buf)?;
        buf.samples.retain(|x| !is_stale(x.v));
        Ok(())
    }

    /// The samples [`LazySeries::read_unstale`] gives, with their timestamps only (values
    /// 0): for functions that only count samples (`count_over_time`,
    /// `present_over_time`), which then skip decoding values where the storage can.
    pub fn read_live_times(&self, buf: &mut SeriesBuf) -> Result<()> {
        buf.samples.clear();
        match &self.src {
            Src::Samples(v) => buf.samples.extend(
                v.iter()
                    .filter(|x| !is_stale(x.v))
                    .map(|x| Sample::new(x.t, 0.0)),
            ),
            Src::Db(s) => {
                buf.ts.clear();
                s.decode_live_times(&mut buf.ts, &mut buf.vs)?;
                buf.samples
                    .extend(buf.ts.iter().map(|&t| Sample::new(t, 0.0)));
            }
        }
        Ok(())
    }

    /// All samples in the selected range (stale markers included), as an owned vector.
    pub fn into_samples(self) -> Result<Vec<Sample>> {
        match self.src {
            Src::Samples(v) => Ok(v),
            Src::Db(s) => Ok(s.try_samples()?),
        }
    }
}

/// Per-series work of [`Evaluator::stream`]: given the series and a worker's buffers,
/// returns one value per step (reading the samples itself, all or some of them).
pub trait SeriesFn: Sync {
    /// Values of `s` per step; `buf` is this worker's, reused across series.
    fn eval(&self, s: &LazySeries, buf: &mut SeriesBuf) -> Result<Vec<Option<f64>>>;

    /// About how many samples [`SeriesFn::eval`] decodes or visits for `s`: decides
    /// whether the selection is split across threads (not the memory accounting, which
    /// uses [`LazySeries::bound`]).
    fn work(&self, s: &LazySeries) -> usize {
        s.bound()
    }
}

impl<F> SeriesFn for F
where
    F: Fn(&LazySeries, &mut SeriesBuf) -> Result<Vec<Option<f64>>> + Sync,
{
    fn eval(&self, s: &LazySeries, buf: &mut SeriesBuf) -> Result<Vec<Option<f64>>> {
        self(s, buf)
    }
}

/// Series processed by one worker thread between checks of the work split.
fn run_part(
    stop: &Stop,
    loaded: &AtomicU64,
    part: &mut [LazySeries],
    f: &dyn SeriesFn,
) -> Result<Vec<StepSeries>> {
    let mut buf = SeriesBuf {
        stop: stop.clone(),
        ..SeriesBuf::default()
    };
    let mut out = Vec::with_capacity(part.len());
    for s in part {
        stop.check("series decoding")?;
        let vals = f.eval(s, &mut buf)?;
        loaded.fetch_add(buf.samples.len() as u64, Ordering::Relaxed);
        // The labels move to the result; the rest of the series (its chunk list) is freed
        // by the caller's thread (see `map_parts`).
        out.push(StepSeries::new(std::mem::take(&mut s.labels), vals));
    }
    Ok(out)
}

impl Evaluator<'_> {
    /// Evaluates `f` on every series, one series at a time per worker thread, with the
    /// memory accounting described in the module doc; `steps` is the number of per-step
    /// slots each result has. Series without any value are dropped (and their slots
    /// released); the rest keep selection order.
    pub fn stream(
        &self,
        mut series: Vec<LazySeries>,
        steps: usize,
        f: &dyn SeriesFn,
    ) -> Result<Vec<StepSeries>> {
        self.check_deadline()?;
        let bounds: Vec<usize> = series.iter().map(LazySeries::bound).collect();
        // The bounds are an upper bound of the estimates: only when they would split the
        // selection is the estimate worth computing.
        let slots = series.len().saturating_mul(steps);
        let mut work = bounds.iter().sum::<usize>().saturating_add(slots);
        if super::parallel::parts_for(series.len(), work) > 1 {
            work = series.iter().map(|s| f.work(s)).sum::<usize>() + slots;
        }
        let threads = super::parallel::parts_for(series.len(), work);
        let held = bounds.iter().copied().max().unwrap_or(0) * threads;
        self.account(held.saturating_add(slots))?;
        let loaded = AtomicU64::new(0);
        let stop = self.stop.clone();
        let out = super::parallel::map_parts(&mut series, work, |part| {
            run_part(&stop, &loaded, part, f)
        })?;
        self.samples_loaded
            .set(self.samples_loaded.get() + loaded.load(Ordering::Relaxed));
        let before = out.len();
        let out: Vec<StepSeries> = out.into_iter().filter(|s| !s.is_empty()).collect();
        self.release(held + (before - out.len()) * steps);
        Ok(out)
    }

    /// Checks that `n` more samples may be held, without holding them (for callers that
    /// hold them only briefly and release at once).
    pub fn check_room(&self, n: usize) -> Result<()> {
        if self.current_samples.get().saturating_add(n as u64) > self.max_samples as u64 {
            return Err(Error::TooManySamples("query execution"));
        }
        Ok(())
    }
}

//! Selectors: the only place the evaluator reads storage.
//!
//! A selector is selected once for the whole grid it is evaluated on. Instant selectors then
//! walk each series with one forward cursor (the newest sample `<= ref` is the one before the
//! cursor), and range selectors hand the samples (stale markers removed) to
//! [`super::Windowed`], whose two cursors slide across the steps.

use std::sync::Arc;

use strata_engine::{is_stale, Db, Labels, Matcher, Sample};

use super::{Evaluator, RawSeries, StepSeries, Steps, Windowed};
use crate::error::{Error, Result};
use crate::parser::ast::{MatrixSelector, VectorSelector};

/// A source of series for selectors.
pub trait Storage {
    /// Series matching all `matchers` with their samples in `[mint, maxt]` (inclusive, ms),
    /// sorted by labels, samples in time order.
    fn select(&self, mint: i64, maxt: i64, matchers: &[Matcher]) -> Result<Vec<RawSeries>>;
}

impl Storage for Db {
    /// Decodes each selected series' chunks that overlap `[mint, maxt]` column-wise (block
    /// decoding, no per-sample iterator) into buffers reused across series, and copies the
    /// samples inside `[mint, maxt]` into one exactly sized `Vec` per series. With many
    /// samples to decode, contiguous runs of series are decoded on several threads
    /// ([`super::parallel`]); the order of the result does not change. A chunk that fails to
    /// decode is an [`Error::Storage`], never a silently shortened series.
    fn select(&self, mint: i64, maxt: i64, matchers: &[Matcher]) -> Result<Vec<RawSeries>> {
        if maxt < mint {
            return Ok(Vec::new());
        }
        let q = self.querier(mint, maxt);
        let series = q.select(matchers)?;
        let work: usize = series
            .iter()
            .flat_map(|s| s.chunks())
            .map(|c| c.num_samples())
            .sum();
        super::parallel::map_parts(series, work, decode_series)
    }
}

/// The samples in `[mint, maxt]` of each of `series` (series without any are left out).
/// The engine merges overlapping chunks (one sample per timestamp), applies deletes and
/// trims to the range; a chunk that fails its checks is an error.
fn decode_series(series: Vec<strata_engine::Series>) -> Result<Vec<RawSeries>> {
    let mut out = Vec::with_capacity(series.len());
    let (mut ts, mut vs) = (Vec::new(), Vec::new());
    for s in series {
        ts.clear();
        vs.clear();
        s.decode_into(&mut ts, &mut vs)?;
        if !ts.is_empty() {
            let samples = ts
                .iter()
                .zip(&vs)
                .map(|(&t, &v)| Sample::new(t, v))
                .collect();
            out.push(RawSeries {
                labels: s.labels,
                samples,
            });
        }
    }
    Ok(out)
}

impl Storage for Arc<Db> {
    fn select(&self, mint: i64, maxt: i64, matchers: &[Matcher]) -> Result<Vec<RawSeries>> {
        Storage::select(&**self, mint, maxt, matchers)
    }
}

/// An in-memory [`Storage`], for tests and for evaluating over data that is not in a [`Db`].
#[derive(Clone, Debug, Default)]
pub struct MemStorage {
    series: Vec<RawSeries>,
}

impl MemStorage {
    /// An empty store.
    pub fn new() -> MemStorage {
        MemStorage::default()
    }
    /// Adds samples to the series `labels` (created if new); samples are kept sorted by time.
    pub fn add(&mut self, labels: Labels, samples: &[Sample]) {
        match self.series.iter_mut().find(|s| s.labels == labels) {
            Some(s) => {
                s.samples.extend_from_slice(samples);
                s.samples.sort_by_key(|x| x.t);
            }
            None => {
                let mut v = samples.to_vec();
                v.sort_by_key(|x| x.t);
                self.series.push(RawSeries { labels, samples: v });
                self.series.sort_by(|a, b| a.labels.cmp(&b.labels));
            }
        }
    }
}

impl Storage for MemStorage {
    fn select(&self, mint: i64, maxt: i64, matchers: &[Matcher]) -> Result<Vec<RawSeries>> {
        Ok(self
            .series
            .iter()
            .filter(|s| {
                matchers
                    .iter()
                    .all(|m| m.matches(s.labels.get(&m.name).unwrap_or("")))
            })
            .map(|s| RawSeries {
                labels: s.labels.clone(),
                samples: s
                    .samples
                    .iter()
                    .copied()
                    .filter(|x| x.t >= mint && x.t <= maxt)
                    .collect(),
            })
            .filter(|s| !s.samples.is_empty())
            .collect())
    }
}

impl Evaluator<'_> {
    /// Reference time (`@` or step time, minus offset) of every step.
    fn refs(&self, steps: &Steps, offset: i64, at: Option<i64>) -> Vec<i64> {
        (0..steps.len())
            .map(|i| at.unwrap_or_else(|| steps.t(i)).saturating_sub(offset))
            .collect()
    }

    fn load(&self, mint: i64, maxt: i64, matchers: &[Matcher]) -> Result<Vec<RawSeries>> {
        self.check_deadline()?;
        if matchers.iter().all(|m| m.matches_empty()) {
            return Err(Error::Execution(
                "vector selector must contain at least one non-empty matcher".to_string(),
            ));
        }
        let series = self.storage.select(mint, maxt, matchers)?;
        let n: usize = series.iter().map(|s| s.samples.len()).sum();
        self.samples_loaded
            .set(self.samples_loaded.get() + n as u64);
        self.account(n)?;
        Ok(series)
    }

    /// Evaluates an instant selector over `steps`. With `timestamps`, each value is the
    /// picked sample's timestamp in seconds (for `timestamp()`).
    pub fn vector_selector(
        &self,
        vs: &VectorSelector,
        steps: &Steps,
        timestamps: bool,
    ) -> Result<Vec<StepSeries>> {
        let refs = self.refs(steps, vs.offset, self.at_time(vs.at));
        let (Some(&first), Some(&last)) = (refs.first(), refs.last()) else {
            return Ok(Vec::new());
        };
        let series = self.load(
            first.saturating_sub(self.lookback).saturating_add(1),
            last,
            &vs.matchers,
        )?;
        let loaded: usize = series.iter().map(|s| s.samples.len()).sum();
        let mut out = Vec::with_capacity(series.len());
        for s in series {
            self.check_deadline()?;
            let mut vals = Vec::with_capacity(refs.len());
            let mut cur = 0usize;
            let mut present = 0usize;
            for &r in &refs {
                while cur < s.samples.len() && s.samples[cur].t <= r {
                    cur += 1;
                }
                let v = if cur == 0 {
                    None
                } else {
                    let x = s.samples[cur - 1];
                    if x.t > r.saturating_sub(self.lookback) && !is_stale(x.v) {
                        Some(if timestamps { x.t as f64 / 1000.0 } else { x.v })
                    } else {
                        None
                    }
                };
                present += usize::from(v.is_some());
                vals.push(v);
            }
            // Count points as they are produced so that a huge selection stops early.
            self.account(present)?;
            if present > 0 {
                out.push(StepSeries::new(s.labels, vals));
            }
        }
        // The raw samples are dropped here; the per-step points stay.
        self.release(loaded);
        Ok(out)
    }

    /// Selects a range selector's samples for every step's window.
    pub fn matrix_selector(&self, ms: &MatrixSelector, steps: &Steps) -> Result<Windowed> {
        let vs = &ms.selector;
        let ends = self.refs(steps, vs.offset, self.at_time(vs.at));
        let (Some(&first), Some(&last)) = (ends.first(), ends.last()) else {
            return Ok(Windowed {
                series: Vec::new(),
                ends,
                range: ms.range,
            });
        };
        let mut series = self.load(
            first.saturating_sub(ms.range).saturating_add(1),
            last,
            &vs.matchers,
        )?;
        for s in &mut series {
            s.samples.retain(|x| !is_stale(x.v));
        }
        series.retain(|s| !s.samples.is_empty());
        Ok(Windowed {
            series,
            ends,
            range: ms.range,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_engine::stale_nan;

    fn store() -> MemStorage {
        let mut st = MemStorage::new();
        let l = Labels::from_pairs(&[("__name__", "m"), ("a", "1")]).unwrap();
        st.add(
            l,
            &[
                Sample::new(0, 1.0),
                Sample::new(30_000, 2.0),
                Sample::new(60_000, stale_nan()),
                Sample::new(120_000, 4.0),
            ],
        );
        st
    }

    fn sel(offset: i64) -> VectorSelector {
        VectorSelector {
            name: Some("m".into()),
            matchers: vec![Matcher::equal("__name__", "m")],
            offset,
            at: None,
        }
    }

    #[test]
    fn instant_selector_lookback_and_staleness() {
        let st = store();
        let ev = Evaluator::new(&st, 0, 0);
        let steps = Steps {
            start: 0,
            end: 480_000,
            step: 30_000,
        };
        let got = ev.vector_selector(&sel(0), &steps, false).unwrap();
        assert_eq!(got.len(), 1);
        let v = &got[0].vals;
        assert_eq!(v[0], Some(1.0));
        assert_eq!(v[1], Some(2.0));
        assert_eq!(v[2], None); // stale marker at 60s hides the older sample
        assert_eq!(v[3], None);
        assert_eq!(v[4], Some(4.0));
        // 120s + 5m = 420s is outside the left-open lookback window.
        assert_eq!(v[13], Some(4.0)); // 390s
        assert_eq!(v[14], None); // 420s
    }

    #[test]
    fn offset_shifts_reference() {
        let st = store();
        let ev = Evaluator::new(&st, 0, 0);
        let got = ev
            .vector_selector(&sel(90_000), &Steps::instant(120_000), true)
            .unwrap();
        assert_eq!(got[0].vals, vec![Some(30.0)]);
    }

    #[test]
    fn empty_matchers_rejected() {
        let st = store();
        let ev = Evaluator::new(&st, 0, 0);
        let vs = VectorSelector {
            name: None,
            matchers: vec![Matcher::equal("a", "")],
            offset: 0,
            at: None,
        };
        assert!(ev.vector_selector(&vs, &Steps::instant(0), false).is_err());
    }
}

//! Selectors: the only place the evaluator reads storage.
//!
//! A selector is selected once for the whole grid it is evaluated on, as [`LazySeries`]
//! (labels and chunk metadata, nothing decoded). Instant selectors then stream the series
//! ([`Evaluator::stream`]): each is decoded, walked with one forward cursor (the newest
//! sample `<= ref` is the one before the cursor) and dropped before the next. Range
//! selectors hand the lazy series to [`super::Windowed`]; the range function decodes each
//! series in turn (or reads chunk summaries, see [`super::summary`]).

use std::sync::Arc;

use strata_engine::{is_stale, Db, Labels, Matcher, Sample};

use super::series::{LazySeries, SeriesBuf};
use super::summary::SummaryMode;
use super::{Evaluator, RawSeries, StepSeries, Steps, Windowed};
use crate::error::{Error, Result};
use crate::parser::ast::{MatrixSelector, VectorSelector};

/// A source of series for selectors.
pub trait Storage {
    /// Series matching all `matchers` with samples in `[mint, maxt]` (inclusive, ms),
    /// sorted by labels, their samples not read yet.
    fn select_series(&self, mint: i64, maxt: i64, matchers: &[Matcher]) -> Result<Vec<LazySeries>>;

    /// Like [`Storage::select_series`], for range functions whose windows all cover
    /// `(within.0, within.1]`: a storage may hand out the chunks of a series that lie inside
    /// it as one, summarized ([`strata_engine::Querier::select_within`]). The default
    /// ignores the hint.
    fn select_series_within(
        &self,
        mint: i64,
        maxt: i64,
        matchers: &[Matcher],
        within: (i64, i64),
    ) -> Result<Vec<LazySeries>> {
        let _ = within;
        self.select_series(mint, maxt, matchers)
    }

    /// Series matching all `matchers` with their samples in `[mint, maxt]` (stale markers
    /// included), sorted by labels, samples in time order; series without samples are left
    /// out. Decodes everything at once: for callers that want whole series, not for the
    /// evaluator.
    fn select(&self, mint: i64, maxt: i64, matchers: &[Matcher]) -> Result<Vec<RawSeries>> {
        let mut out = Vec::new();
        for s in self.select_series(mint, maxt, matchers)? {
            let labels = s.labels.clone();
            let samples = s.into_samples()?;
            if !samples.is_empty() {
                out.push(RawSeries { labels, samples });
            }
        }
        Ok(out)
    }
}

/// A querier's series for `[mint, maxt]`, with the whole-chunks hint if any.
fn db_select(
    db: &Db,
    mint: i64,
    maxt: i64,
    matchers: &[Matcher],
    within: Option<(i64, i64)>,
) -> Result<Vec<LazySeries>> {
    if maxt < mint {
        return Ok(Vec::new());
    }
    let q = db.querier(mint, maxt);
    Ok(q.select_within(matchers, within)?
        .into_iter()
        .map(LazySeries::from_db)
        .collect())
}

impl Storage for Db {
    /// The querier's series for `[mint, maxt]`: index and chunk metadata only; chunks are
    /// decoded (or their summaries read) when the evaluator reaches the series.
    fn select_series(&self, mint: i64, maxt: i64, matchers: &[Matcher]) -> Result<Vec<LazySeries>> {
        db_select(self, mint, maxt, matchers, None)
    }

    fn select_series_within(
        &self,
        mint: i64,
        maxt: i64,
        matchers: &[Matcher],
        within: (i64, i64),
    ) -> Result<Vec<LazySeries>> {
        db_select(self, mint, maxt, matchers, Some(within))
    }
}

impl Storage for Arc<Db> {
    fn select_series(&self, mint: i64, maxt: i64, matchers: &[Matcher]) -> Result<Vec<LazySeries>> {
        Storage::select_series(&**self, mint, maxt, matchers)
    }

    fn select_series_within(
        &self,
        mint: i64,
        maxt: i64,
        matchers: &[Matcher],
        within: (i64, i64),
    ) -> Result<Vec<LazySeries>> {
        Storage::select_series_within(&**self, mint, maxt, matchers, within)
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
    fn select_series(&self, mint: i64, maxt: i64, matchers: &[Matcher]) -> Result<Vec<LazySeries>> {
        Ok(self
            .series
            .iter()
            .filter(|s| {
                matchers
                    .iter()
                    .all(|m| m.matches(s.labels.get(&m.name).unwrap_or("")))
            })
            .map(|s| {
                let samples: Vec<Sample> = s
                    .samples
                    .iter()
                    .copied()
                    .filter(|x| x.t >= mint && x.t <= maxt)
                    .collect();
                LazySeries::from_samples(s.labels.clone(), samples)
            })
            .filter(|s| s.bound() > 0)
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

    /// Selects (without decoding) the series of `matchers` over `[mint, maxt]`.
    pub fn select_lazy(
        &self,
        mint: i64,
        maxt: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<LazySeries>> {
        self.check_selectable(matchers)?;
        self.storage.select_series(mint, maxt, matchers)
    }

    /// The checks before any select: the deadline, and a matcher that selects something.
    fn check_selectable(&self, matchers: &[Matcher]) -> Result<()> {
        self.check_deadline()?;
        if matchers.iter().all(|m| m.matches_empty()) {
            return Err(Error::Execution(
                "vector selector must contain at least one non-empty matcher".to_string(),
            ));
        }
        Ok(())
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
        let lookback = self.lookback;
        let series = self.select_lazy(
            first.saturating_sub(lookback).saturating_add(1),
            last,
            &vs.matchers,
        )?;
        let refs = &refs;
        let f = move |s: &LazySeries, buf: &mut SeriesBuf| -> Result<Vec<Option<f64>>> {
            s.read(buf)?;
            let samples = &buf.samples;
            let mut vals = Vec::with_capacity(refs.len());
            let mut cur = 0usize;
            for &r in refs {
                while cur < samples.len() && samples[cur].t <= r {
                    cur += 1;
                }
                let v = if cur == 0 {
                    None
                } else {
                    let x = samples[cur - 1];
                    if x.t > r.saturating_sub(lookback) && !is_stale(x.v) {
                        Some(if timestamps { x.t as f64 / 1000.0 } else { x.v })
                    } else {
                        None
                    }
                };
                vals.push(v);
            }
            Ok(vals)
        };
        self.stream(series, refs.len(), &f)
    }

    /// Selects a range selector's series (not decoded yet) with every step's window end.
    pub fn matrix_selector(&self, ms: &MatrixSelector, steps: &Steps) -> Result<Windowed> {
        let vs = &ms.selector;
        let ends = self.refs(steps, vs.offset, self.at_time(vs.at));
        let (Some(&first), Some(&last)) = (ends.first(), ends.last()) else {
            return Ok(Windowed {
                series: Vec::new(),
                ends,
                range: ms.range,
                held: 0,
            });
        };
        let mint = first.saturating_sub(ms.range).saturating_add(1);
        // What every window covers: after the last window's start, up to the first end.
        let within = (ends[ends.len() - 1].saturating_sub(ms.range), first);
        let series = if self.summaries != SummaryMode::Never && within.0 < within.1 {
            self.check_selectable(&vs.matchers)?;
            self.storage
                .select_series_within(mint, last, &vs.matchers, within)?
        } else {
            self.select_lazy(mint, last, &vs.matchers)?
        };
        Ok(Windowed {
            series,
            ends,
            range: ms.range,
            held: 0,
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

//! Subqueries `expr[range:step]`.
//!
//! The inner expression is evaluated once, as a range query over a grid of absolute multiples
//! of `step` (aligned to the Unix epoch): from the first multiple strictly greater than
//! `first outer ref - range` to the last outer ref, where `ref = (@ or T) - offset`. The
//! points become the samples of a [`Windowed`] whose window at outer step `T` is the
//! left-open `(ref - range, ref]`, exactly as for a range selector.

use super::{Evaluator, LazySeries, StepNotes, Steps, Windowed};
use crate::engine::{QueryResult, QueryStats, Value};
use crate::error::{Error, Result};
use crate::parser::ast::{Expr, SubqueryExpr};
use crate::result_cache::cacheable;
use strata_engine::Sample;

/// The inner grid of a subquery whose outer window ends run from `first_end` to `last_end`.
pub fn inner_steps(first_end: i64, last_end: i64, range: i64, step: i64) -> Steps {
    let lo = first_end.saturating_sub(range);
    let start = (lo.div_euclid(step) * step).saturating_add(step);
    Steps {
        start,
        end: last_end,
        step,
    }
}

impl Evaluator<'_> {
    /// Evaluates a subquery into per-step windows.
    pub fn subquery(&self, sq: &SubqueryExpr, steps: &Steps) -> Result<Windowed> {
        let step = sq.step.unwrap_or(self.default_subquery_step);
        if step <= 0 {
            return Err(Error::Execution(
                "zero or negative subquery step is not allowed".to_string(),
            ));
        }
        let at = self.at_time(sq.at);
        let ends: Vec<i64> = (0..steps.len())
            .map(|i| at.unwrap_or_else(|| steps.t(i)).saturating_sub(sq.offset))
            .collect();
        let (Some(&first), Some(&last)) = (ends.first(), ends.last()) else {
            return Ok(Windowed {
                series: Vec::new(),
                ends,
                range: sq.range,
                held: 0,
            });
        };
        let inner = inner_steps(first, last, sq.range, step);
        if inner.is_empty() {
            return Ok(Windowed {
                series: Vec::new(),
                ends,
                range: sq.range,
                held: 0,
            });
        }
        if inner.len() > self.max_samples {
            // Every inner series would hold more points than the whole query may.
            return Err(Error::TooManySamples("query execution"));
        }
        let accounted = self.current_samples.get();
        let mut series = Vec::with_capacity(16);
        let mut total = 0usize;
        let mut add = |labels, samples: Vec<Sample>| {
            if !samples.is_empty() {
                total += samples.len();
                series.push(LazySeries::from_samples(labels, samples));
            }
        };
        match self.subquery_cache.filter(|_| cacheable(&sq.expr)) {
            Some(cache) => {
                let r = cache.range(&sq.expr, inner, &|part| self.inner_part(&sq.expr, part))?;
                // Inside a subquery its annotations belong to no step of the query.
                r.warnings.into_iter().for_each(|w| self.warn(w));
                r.infos.into_iter().for_each(|i| self.info(i));
                let Value::Matrix(m) = r.value else {
                    return Err(Error::Execution("subquery: a matrix expected".into()));
                };
                for s in m {
                    let samples = s
                        .timestamps
                        .iter()
                        .zip(&s.values)
                        .map(|(&t, &v)| Sample::new(t, v))
                        .collect();
                    add(s.labels, samples);
                }
            }
            None => {
                self.sub_depth.set(self.sub_depth.get() + 1);
                let vector = self.eval_vector(&sq.expr, &inner);
                self.sub_depth.set(self.sub_depth.get() - 1);
                // Points become raw samples here; a name pending removal (delayed mode)
                // goes now.
                for s in self.finish_names(vector?)? {
                    // Sized first: growing a week of points step by step would copy it
                    // several times over.
                    let mut samples: Vec<Sample> =
                        Vec::with_capacity(s.vals.iter().flatten().count());
                    samples.extend(
                        s.vals
                            .iter()
                            .enumerate()
                            .filter_map(|(i, v)| v.map(|v| Sample::new(inner.t(i), v))),
                    );
                    add(s.labels, samples);
                }
            }
        }
        // What the inner evaluation accounted (its points and intermediate results, all
        // freed or turned into these samples by now) gives way to the samples it left, so
        // that they are not counted twice.
        self.release(self.current_samples.get().saturating_sub(accounted) as usize);
        self.account(total)?;
        Ok(Windowed {
            series,
            ends,
            range: sq.range,
            held: total,
        })
    }

    /// A cached subquery's inner expression over `steps`, as a range query of it over that
    /// grid answers: a matrix sorted by labels with names removed, the annotations the part
    /// raised (infos tied to its steps apart, see [`Evaluator::info_at`]), none of them left
    /// in this evaluator's own lists.
    fn inner_part(&self, expr: &Expr, steps: Steps) -> Result<(QueryResult, StepNotes)> {
        let warnings = self.warnings.take();
        let infos = self.infos.take();
        let notes = self.step_infos.take();
        let depth = self.sub_depth.replace(0);
        let loaded = self.samples_loaded.get();
        let out = self
            .eval_vector(expr, &steps)
            .and_then(|v| self.finish_names(v));
        self.sub_depth.set(depth);
        let part_warnings = self.warnings.replace(warnings);
        let part_infos = self.infos.replace(infos);
        let part_notes = self.take_step_infos();
        *self.step_infos.borrow_mut() = notes;
        let m = crate::engine::range_series(out?, &steps);
        let r = QueryResult {
            value: Value::Matrix(m),
            warnings: part_warnings,
            infos: part_infos,
            stats: QueryStats {
                samples_loaded: self.samples_loaded.get() - loaded,
                peak_samples: 0,
            },
        };
        Ok((r, part_notes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inner_grid_is_epoch_aligned_and_left_open() {
        // Outer instant at 10m, [5m:1m]: first multiple of 1m strictly after 5m is 6m.
        let s = inner_steps(600_000, 600_000, 300_000, 60_000);
        assert_eq!(s.start, 360_000);
        assert_eq!(s.len(), 5);
        // Unaligned: (7m30s - 5m) = 2m30s -> first point at 3m.
        let s = inner_steps(450_000, 450_000, 300_000, 60_000);
        assert_eq!(s.start, 180_000);
        // Negative times align downwards too.
        let s = inner_steps(0, 0, 90_000, 60_000);
        assert_eq!(s.start, -60_000);
    }

    #[test]
    fn subquery_windows_over_inner_points() {
        use crate::engine::{evaluate, EngineOptions, QueryOptions, Value};
        use crate::eval::MemStorage;
        use strata_engine::Labels;
        let mut st = MemStorage::new();
        let samples: Vec<Sample> = (0..20).map(|i| Sample::new(i * 30_000, i as f64)).collect();
        st.add(Labels::from_pairs(&[("__name__", "c")]).unwrap(), &samples);
        let run = |q: &str, t: i64| {
            let e = crate::parser::parse(q).unwrap();
            evaluate(
                &st,
                &e,
                Steps::instant(t),
                true,
                &EngineOptions::default(),
                &QueryOptions::default(),
            )
            .unwrap()
            .value
        };
        // Inner points at 5m, 6m (left-open window (4m, 6m]): c = 10 and 12.
        let Value::Matrix(m) = run("c[2m:1m]", 360_000) else {
            panic!("matrix expected")
        };
        assert_eq!(m[0].timestamps, vec![300_000, 360_000]);
        assert_eq!(m[0].values, vec![10.0, 12.0]);
        // [1m:1m] holds a single point, so rate has nothing to work with (3.x).
        let Value::Vector(v) = run("rate(c[1m:1m])", 360_000) else {
            panic!("vector expected")
        };
        assert!(v.is_empty());
        // @ pins the subquery, offset shifts it.
        let Value::Vector(v) = run("count_over_time(c[3m:1m] @ 300 offset 1m)", 0) else {
            panic!("vector expected")
        };
        assert_eq!(v[0].v, 3.0);
    }
}

//! Function calls: argument evaluation and dispatch on the typed [`Func`] the parser
//! resolved, to the kernels in [`crate::functions`].
//!
//! Range-vector functions receive a [`Windowed`] and compute one value per step from that
//! step's window (the cursors slide forward, each sample is visited by the window edges
//! once). Everything else maps instant vectors element-wise or per step. Function results
//! drop `__name__` except `last_over_time`, `first_over_time`, `label_replace`,
//! `label_join`, `sort`, `sort_desc`; after dropping, colliding label sets at one step are
//! an error.

use super::hash::{map_with_capacity, FxHashMap};

use strata_engine::{Label, Labels, MatchOp, Sample, METRIC_NAME};

use super::summary::{SummaryFn, SummaryMode};
use super::{sort, Evaluator, LazySeries, SeriesBuf, StepSeries, Steps, Val, Windowed};
use crate::error::{Error, Result};
use crate::functions::{histogram, label, math, over_time, rate, time};
use crate::parser::ast::{Call, Expr};
use crate::parser::functions::Func;

fn arg(c: &Call, i: usize) -> Result<&Expr> {
    c.args.get(i).ok_or_else(|| {
        Error::Execution(format!(
            "expected at least {} argument(s) in call to \"{}\", got {}",
            i + 1,
            c.func,
            c.args.len()
        ))
    })
}

pub(crate) fn unwrap_parens(mut e: &Expr) -> &Expr {
    while let Expr::Paren(x) = e {
        e = x;
    }
    e
}

/// Drops `__name__` from every series (or marks it, in delayed mode) and merges/validates
/// collisions.
pub(crate) fn finish(ev: &Evaluator<'_>, series: Vec<StepSeries>, keep_name: bool) -> Result<Val> {
    let unused = ev.names_unused.replace(false);
    if keep_name || (unused && !ev.delayed_name_removal && super::same_name(&series)) {
        // Labels are unchanged and pairwise distinct: merging would only drop empty series.
        return Ok(Val::Vector(
            series.into_iter().filter(|s| !s.is_empty()).collect(),
        ));
    }
    Ok(Val::Vector(ev.drop_names(series)?))
}

/// Streams the series of `w` through `per_series` ([`Evaluator::stream`]), then releases
/// what the producer of `w` had accounted (a subquery's points).
fn stream_windowed(
    ev: &Evaluator<'_>,
    w: Windowed,
    sf: Option<SummaryFn>,
    per_series: &dyn super::series::SeriesFn,
) -> Result<Vec<StepSeries>> {
    let held = w.held;
    let ends = w.ends.clone();
    let starts: Vec<i64> = ends.iter().map(|e| e.saturating_sub(w.range)).collect();
    let per = Windows {
        per: per_series,
        sf,
        mode: ev.summaries,
        starts: &starts,
        ends: &ends,
    };
    let out = ev.stream(w.series, ends.len(), &per)?;
    ev.release(held);
    Ok(out)
}

/// A range function's per-series work, with a work estimate that leaves out the chunks it
/// reads from summaries.
struct Windows<'a> {
    per: &'a dyn super::series::SeriesFn,
    sf: Option<SummaryFn>,
    mode: SummaryMode,
    /// Window starts (exclusive) and ends, per step.
    starts: &'a [i64],
    ends: &'a [i64],
}

impl super::series::SeriesFn for Windows<'_> {
    fn eval(&self, s: &LazySeries, buf: &mut SeriesBuf) -> Result<Vec<Option<f64>>> {
        self.per.eval(s, buf)
    }

    fn work(&self, s: &LazySeries) -> usize {
        match (self.sf, s.db()) {
            (Some(f), Some(db)) => {
                super::summary::decode_estimate(f, self.mode, db, self.starts, self.ends)
                    .unwrap_or_else(|| s.bound())
            }
            _ => s.bound(),
        }
    }
}

/// The values of `sf` over a storage series' windows from chunk summaries
/// ([`super::summary`]), or `None` when the full decode must compute them.
fn from_summaries(
    sf: Option<SummaryFn>,
    mode: SummaryMode,
    s: &LazySeries,
    ends: &[i64],
    range: i64,
    buf: &mut SeriesBuf,
) -> Result<Option<Vec<Option<f64>>>> {
    match (sf, s.db()) {
        (Some(f), Some(db)) => super::summary::eval_series(f, mode, db, ends, range, buf),
        _ => Ok(None),
    }
}

/// Applies `f(prep, samples, window_end, range, window)` to every series' windows, where
/// `prep = prepare(samples)` is computed once per series and `window` is the index range of
/// the step's window in the series' `samples` (stale markers removed). Series are streamed
/// one at a time per thread.
fn over_windowed_prepared<P>(
    ev: &Evaluator<'_>,
    w: Windowed,
    keep_name: bool,
    sf: Option<SummaryFn>,
    prepare: impl Fn(&[Sample]) -> P + Sync,
    f: impl Fn(&P, &[Sample], i64, i64, std::ops::Range<usize>) -> Option<f64> + Sync,
) -> Result<Val> {
    let (ends, range) = (&w.ends.clone(), w.range);
    let mode = ev.summaries;
    let per = |s: &LazySeries, buf: &mut SeriesBuf| -> Result<Vec<Option<f64>>> {
        if let Some(v) = from_summaries(sf, mode, s, ends, range, buf)? {
            return Ok(v);
        }
        s.read_unstale(buf)?;
        let samples = &buf.samples;
        let p = prepare(samples);
        let mut err = None;
        let vals = super::for_each_window_range(ends, range, samples, |i, win| {
            if SeriesBuf::stopped(&buf.stop, i, &mut err) {
                return None;
            }
            f(&p, samples, ends[i], range, win)
        });
        err.map_or(Ok(vals), Err)
    };
    let out = stream_windowed(ev, w, sf, &per)?;
    finish(ev, out, keep_name)
}

/// Applies `f(step, window_end, range, window, scratch)` to every series' windows.
fn over_windows(
    ev: &Evaluator<'_>,
    e: &Expr,
    steps: &Steps,
    keep_name: bool,
    sf: Option<SummaryFn>,
    f: impl Fn(usize, i64, i64, &[Sample], &mut Vec<f64>) -> Option<f64> + Sync,
) -> Result<Val> {
    let w = ev.windowed(e, steps)?;
    over_windowed(ev, w, keep_name, sf, f)
}

/// [`over_windows`] on already selected windows; `scratch` is a per-thread buffer.
fn over_windowed(
    ev: &Evaluator<'_>,
    w: Windowed,
    keep_name: bool,
    sf: Option<SummaryFn>,
    f: impl Fn(usize, i64, i64, &[Sample], &mut Vec<f64>) -> Option<f64> + Sync,
) -> Result<Val> {
    let (ends, range) = (&w.ends.clone(), w.range);
    let mode = ev.summaries;
    // Counting functions read only how many samples each window holds.
    let times_only = sf.is_some_and(SummaryFn::counts_only);
    let per = |s: &LazySeries, buf: &mut SeriesBuf| -> Result<Vec<Option<f64>>> {
        if let Some(v) = from_summaries(sf, mode, s, ends, range, buf)? {
            return Ok(v);
        }
        if times_only {
            s.read_live_times(buf)?;
        } else {
            s.read_unstale(buf)?;
        }
        let SeriesBuf {
            samples, vs, stop, ..
        } = buf;
        let mut err = None;
        let vals = super::for_each_window_range(ends, range, samples, |i, win| {
            if SeriesBuf::stopped(stop, i, &mut err) {
                return None;
            }
            f(i, ends[i], range, &samples[win], vs)
        });
        err.map_or(Ok(vals), Err)
    };
    let out = stream_windowed(ev, w, sf, &per)?;
    finish(ev, out, keep_name)
}

/// Maps every present element with `f(step, value)`.
fn map_vector(
    ev: &Evaluator<'_>,
    input: Vec<StepSeries>,
    keep_name: bool,
    mut f: impl FnMut(usize, f64) -> Option<f64>,
) -> Result<Val> {
    let out = input
        .into_iter()
        .map(|s| {
            let vals = s
                .vals
                .iter()
                .enumerate()
                .map(|(i, v)| v.and_then(|v| f(i, v)))
                .collect();
            StepSeries { vals, ..s }
        })
        .collect();
    finish(ev, out, keep_name)
}

/// Labels of `absent(...)`/`absent_over_time(...)`: the selector's equality matchers (a
/// label named twice, or also by a non-equality matcher, is left out).
fn absent_labels(e: &Expr) -> Labels {
    let matchers = match e {
        Expr::VectorSelector(vs) => &vs.matchers,
        Expr::MatrixSelector(ms) => &ms.selector.matchers,
        _ => return Labels::empty(),
    };
    let mut l = Labels::empty();
    let mut seen: Vec<&str> = Vec::new();
    for m in matchers {
        if m.name == METRIC_NAME {
            continue;
        }
        if m.op == MatchOp::Equal && !seen.contains(&m.name.as_str()) {
            l = l.with(&m.name, &m.value);
            seen.push(&m.name);
        } else {
            l = l.without(&m.name);
        }
    }
    l
}

/// Info annotation for `rate`/`increase` over series whose names do not look like counters.
fn counter_info<'l>(ev: &Evaluator<'_>, series: impl IntoIterator<Item = &'l Labels>) {
    // The name checked last, when it leads its label set: series that lead with the same
    // interned label have that name (and the annotation, if any, is already there).
    let mut checked: Option<&Label> = None;
    for labels in series {
        if checked.is_some_and(|c| labels.leads_with(c)) {
            continue;
        }
        let Some(name) = labels.metric_name() else {
            continue;
        };
        checked = labels.leading_name();
        if !["_total", "_sum", "_count", "_bucket"]
            .iter()
            .any(|x| name.ends_with(x))
        {
            ev.info(format!(
                "PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {name:?}"
            ));
        }
    }
}

/// The values of `c` from the evaluator's [`crate::eval::RangeCallHook`], if one is set and
/// answers for this call (one-step grid, hookable function, matrix-selector argument).
fn hooked_call(ev: &Evaluator<'_>, c: &Call, steps: &Steps) -> Option<Result<Val>> {
    let hook = ev.range_hook?;
    let name = c.func;
    if steps.len() != 1 || !crate::eval::HOOKABLE_FUNCTIONS.contains(&name.name()) {
        return None;
    }
    let Expr::MatrixSelector(ms) = unwrap_parens(c.args.first()?) else {
        return None;
    };
    let series = match hook.range_call(name.name(), ms, steps.start)? {
        Ok(series) => series,
        Err(e) => return Some(Err(e)),
    };
    if matches!(name, Func::Rate | Func::Increase) {
        counter_info(ev, series.iter().map(|(l, _)| l));
    }
    let out: Vec<StepSeries> = series
        .into_iter()
        .map(|(labels, v)| StepSeries::new(labels, vec![v]))
        .collect();
    Some(
        ev.account_points(&out)
            .and_then(|()| finish(ev, out, false)),
    )
}

/// Evaluates a function call over `steps`.
pub fn eval_call(ev: &Evaluator<'_>, c: &Call, steps: &Steps) -> Result<Val> {
    if let Some(v) = hooked_call(ev, c, steps) {
        return v;
    }
    let n = steps.len();
    let name = c.func;
    match name {
        Func::Time => Ok(Val::Scalar(
            (0..n).map(|i| steps.t(i) as f64 / 1000.0).collect(),
        )),
        Func::Pi => Ok(Val::Scalar(vec![std::f64::consts::PI; n])),
        Func::Vector => {
            let s = ev.eval_scalar(arg(c, 0)?, steps)?;
            Ok(Val::Vector(vec![StepSeries::new(
                Labels::empty(),
                s.into_iter().map(Some).collect(),
            )]))
        }
        Func::Scalar => {
            let v = ev.eval_vector(arg(c, 0)?, steps)?;
            Ok(Val::Scalar(
                (0..n)
                    .map(|i| {
                        let mut it = v.iter().filter_map(|s| s.vals[i]);
                        match (it.next(), it.next()) {
                            (Some(x), None) => x,
                            _ => f64::NAN,
                        }
                    })
                    .collect(),
            ))
        }
        Func::Rate | Func::Increase | Func::Delta => {
            let (is_counter, is_rate) = (name != Func::Delta, name == Func::Rate);
            let w = ev.windowed(arg(c, 0)?, steps)?;
            if is_counter {
                counter_info(ev, w.series.iter().map(|s| &s.labels));
            }
            over_windowed_prepared(
                ev,
                w,
                false,
                SummaryFn::of(name),
                |s| rate::SeriesDeltas::new(s, false),
                |d, s, end, range, win| {
                    rate::extrapolated_rate_in(s, d, win, end, range, is_counter, is_rate)
                },
            )
        }
        Func::Irate | Func::Idelta => {
            let is_rate = name == Func::Irate;
            over_windows(
                ev,
                arg(c, 0)?,
                steps,
                false,
                None,
                |_, _, _, w, _scratch| rate::instant_value(w, is_rate),
            )
        }
        Func::Deriv => over_windows(
            ev,
            arg(c, 0)?,
            steps,
            false,
            None,
            |_, _, _, w, _scratch| rate::deriv(w),
        ),
        Func::PredictLinear => {
            let ahead = ev.eval_scalar(arg(c, 1)?, steps)?;
            over_windows(
                ev,
                arg(c, 0)?,
                steps,
                false,
                None,
                |i, _, _, w, _scratch| rate::predict_linear(w, steps.t(i), ahead[i]),
            )
        }
        Func::Resets | Func::Changes => {
            let w = ev.windowed(arg(c, 0)?, steps)?;
            let is_changes = name == Func::Changes;
            over_windowed_prepared(
                ev,
                w,
                false,
                SummaryFn::of(name),
                |s| rate::SeriesDeltas::new(s, is_changes),
                |d, _, _, _, win| {
                    Some(if is_changes {
                        d.changes(win.start, win.end)
                    } else {
                        d.resets(win.start, win.end)
                    })
                },
            )
        }
        Func::MinOverTime | Func::MaxOverTime => {
            let w = ev.windowed(arg(c, 0)?, steps)?;
            let (ends, range) = (&w.ends.clone(), w.range);
            let is_max = name == Func::MaxOverTime;
            let (sf, mode) = (SummaryFn::of(name), ev.summaries);
            let per = |s: &LazySeries, buf: &mut SeriesBuf| -> Result<Vec<Option<f64>>> {
                if let Some(v) = from_summaries(sf, mode, s, ends, range, buf)? {
                    return Ok(v);
                }
                s.read_unstale(buf)?;
                Ok(over_time::sliding_extreme(
                    &buf.samples,
                    ends,
                    range,
                    is_max,
                ))
            };
            let out = stream_windowed(ev, w, sf, &per)?;
            finish(ev, out, false)
        }
        Func::AvgOverTime
        | Func::SumOverTime
        | Func::CountOverTime
        | Func::StddevOverTime
        | Func::StdvarOverTime
        | Func::LastOverTime
        | Func::FirstOverTime
        | Func::PresentOverTime => {
            let f: fn(&[Sample]) -> f64 = match name {
                Func::AvgOverTime => over_time::avg,
                Func::SumOverTime => over_time::sum,
                Func::CountOverTime => over_time::count,
                Func::StddevOverTime => over_time::stddev,
                Func::StdvarOverTime => over_time::stdvar,
                Func::LastOverTime => over_time::last,
                Func::FirstOverTime => over_time::first,
                _ => |_: &[Sample]| 1.0,
            };
            let keep = matches!(name, Func::LastOverTime | Func::FirstOverTime);
            over_windows(
                ev,
                arg(c, 0)?,
                steps,
                keep,
                SummaryFn::of(name),
                |_, _, _, w, _scratch| Some(f(w)),
            )
        }
        Func::MadOverTime => over_windows(ev, arg(c, 0)?, steps, false, None, |_, _, _, w, buf| {
            Some(over_time::mad(w, buf))
        }),
        Func::QuantileOverTime => {
            let q = ev.eval_scalar(arg(c, 0)?, steps)?;
            if let Some(bad) = q.iter().find(|q| q.is_nan() || **q < 0.0 || **q > 1.0) {
                ev.warn(format!(
                    "PromQL warning: quantile value should be between 0 and 1, got {}",
                    super::aggregate::format_float(*bad)
                ));
            }
            over_windows(ev, arg(c, 1)?, steps, false, None, |i, _, _, w, buf| {
                Some(over_time::quantile_of(q[i], w, buf))
            })
        }
        Func::DoubleExponentialSmoothing => {
            let sf = ev.eval_scalar(arg(c, 1)?, steps)?;
            let tf = ev.eval_scalar(arg(c, 2)?, steps)?;
            for (&s, &t) in sf.iter().zip(&tf) {
                if !(s > 0.0 && s < 1.0) {
                    return Err(Error::Execution(format!(
                        "invalid smoothing factor. Expected: 0 < sf < 1, got: {s}"
                    )));
                }
                if !(t > 0.0 && t < 1.0) {
                    return Err(Error::Execution(format!(
                        "invalid trend factor. Expected: 0 < tf < 1, got: {t}"
                    )));
                }
            }
            over_windows(
                ev,
                arg(c, 0)?,
                steps,
                false,
                None,
                |i, _, _, w, _scratch| over_time::double_exponential_smoothing(w, sf[i], tf[i]),
            )
        }
        Func::AbsentOverTime => {
            let a = arg(c, 0)?;
            let w = ev.windowed(a, steps)?;
            let (ends, range) = (&w.ends.clone(), w.range);
            let per = |s: &LazySeries, buf: &mut SeriesBuf| -> Result<Vec<Option<f64>>> {
                s.read_unstale(buf)?;
                Ok(super::for_each_window_range(
                    ends,
                    range,
                    &buf.samples,
                    |_, _| Some(1.0),
                ))
            };
            let seen = stream_windowed(ev, w, None, &per)?;
            let mut present = vec![false; n];
            for s in &seen {
                for (p, x) in present.iter_mut().zip(&s.vals) {
                    *p |= x.is_some();
                }
            }
            ev.release(seen.len() * n);
            let vals: Vec<Option<f64>> = present.iter().map(|p| (!p).then_some(1.0)).collect();
            let s = StepSeries::new(absent_labels(unwrap_parens(a)), vals);
            Ok(Val::Vector(if s.is_empty() { vec![] } else { vec![s] }))
        }
        Func::Absent => {
            let a = arg(c, 0)?;
            let v = ev.eval_vector(a, steps)?;
            let vals: Vec<Option<f64>> = (0..n)
                .map(|i| (!v.iter().any(|s| s.vals[i].is_some())).then_some(1.0))
                .collect();
            let s = StepSeries::new(absent_labels(a), vals);
            Ok(Val::Vector(if s.is_empty() { vec![] } else { vec![s] }))
        }
        Func::Timestamp => {
            let a = unwrap_parens(arg(c, 0)?);
            if let Expr::VectorSelector(vs) = a {
                let v = ev.vector_selector(vs, steps, true)?;
                finish(ev, v, false)
            } else {
                let v = ev.eval_vector(a, steps)?;
                map_vector(ev, v, false, |i, _| Some(steps.t(i) as f64 / 1000.0))
            }
        }
        Func::Sort | Func::SortDesc => {
            let mut v = ev.eval_vector(arg(c, 0)?, steps)?;
            if n == 1 {
                sort::by_value(&mut v, name == Func::SortDesc);
            }
            Ok(Val::Vector(v))
        }
        Func::SortByLabel | Func::SortByLabelDesc => {
            let mut v = ev.eval_vector(arg(c, 0)?, steps)?;
            let mut names = Vec::new();
            for e in &c.args[1..] {
                names.push(ev.eval_string(e, steps)?);
            }
            if n == 1 {
                sort::by_labels(&mut v, &names, name == Func::SortByLabelDesc);
            }
            Ok(Val::Vector(v))
        }
        Func::TsOfMinOverTime
        | Func::TsOfMaxOverTime
        | Func::TsOfLastOverTime
        | Func::TsOfFirstOverTime => {
            let f: fn(&[Sample]) -> f64 = match name {
                Func::TsOfMinOverTime => over_time::ts_of_min,
                Func::TsOfMaxOverTime => over_time::ts_of_max,
                Func::TsOfLastOverTime => |w: &[Sample]| w[w.len() - 1].t as f64 / 1000.0,
                _ => |w: &[Sample]| w[0].t as f64 / 1000.0,
            };
            over_windows(
                ev,
                arg(c, 0)?,
                steps,
                false,
                None,
                |_, _, _, w, _scratch| Some(f(w)),
            )
        }
        Func::Round => {
            let v = ev.eval_vector(arg(c, 0)?, steps)?;
            let to = match c.args.get(1) {
                Some(e) => ev.eval_scalar(e, steps)?,
                None => vec![1.0; n],
            };
            map_vector(ev, v, false, |i, x| Some(math::round(x, to[i])))
        }
        Func::Clamp => {
            let v = ev.eval_vector(arg(c, 0)?, steps)?;
            let lo = ev.eval_scalar(arg(c, 1)?, steps)?;
            let hi = ev.eval_scalar(arg(c, 2)?, steps)?;
            map_vector(ev, v, false, |i, x| math::clamp(x, lo[i], hi[i]))
        }
        Func::ClampMin | Func::ClampMax => {
            let v = ev.eval_vector(arg(c, 0)?, steps)?;
            let b = ev.eval_scalar(arg(c, 1)?, steps)?;
            let is_min = name == Func::ClampMin;
            map_vector(ev, v, false, |i, x| {
                Some(if is_min {
                    math::go_max(x, b[i])
                } else {
                    math::go_min(x, b[i])
                })
            })
        }
        Func::LabelReplace => {
            let v = ev.eval_vector(arg(c, 0)?, steps)?;
            let dst = ev.eval_string(arg(c, 1)?, steps)?;
            let repl = ev.eval_string(arg(c, 2)?, steps)?;
            let src = ev.eval_string(arg(c, 3)?, steps)?;
            let re = ev.eval_string(arg(c, 4)?, steps)?;
            let r = label::Replace::new(&dst, &repl, &src, &re)?;
            let out = v
                .into_iter()
                .map(|s| StepSeries {
                    labels: r.apply(&s.labels),
                    vals: s.vals,
                    // Writing `__name__` keeps it (delayed mode).
                    drop_name: s.drop_name && dst != METRIC_NAME,
                })
                .collect();
            Ok(Val::Vector(ev.merge_same_labels(out)?))
        }
        Func::LabelJoin => {
            let v = ev.eval_vector(arg(c, 0)?, steps)?;
            let dst = ev.eval_string(arg(c, 1)?, steps)?;
            let sep = ev.eval_string(arg(c, 2)?, steps)?;
            let mut srcs = Vec::new();
            for e in &c.args[3.min(c.args.len())..] {
                let s = ev.eval_string(e, steps)?;
                if !label::valid_label_name(&s) {
                    return Err(Error::Execution(format!(
                        "invalid source label name in label_join(): {s}"
                    )));
                }
                srcs.push(s);
            }
            if !label::valid_label_name(&dst) {
                return Err(Error::Execution(format!(
                    "invalid destination label name in label_join(): {dst}"
                )));
            }
            let out = v
                .into_iter()
                .map(|s| StepSeries {
                    labels: label::join(&s.labels, &dst, &sep, &srcs),
                    vals: s.vals,
                    drop_name: s.drop_name && dst != METRIC_NAME,
                })
                .collect();
            Ok(Val::Vector(ev.merge_same_labels(out)?))
        }
        Func::HistogramQuantile => {
            let q = ev.eval_scalar(arg(c, 0)?, steps)?;
            if let Some(bad) = q.iter().find(|q| q.is_nan() || **q < 0.0 || **q > 1.0) {
                ev.warn(format!(
                    "PromQL warning: quantile value should be between 0 and 1, got {}",
                    super::aggregate::format_float(*bad)
                ));
            }
            let v = ev.eval_vector(arg(c, 1)?, steps)?;
            classic_histogram(ev, v, steps, |i, b| {
                let (r, forced) = histogram::bucket_quantile(q[i], b);
                (r, forced)
            })
        }
        Func::HistogramFraction => {
            let lo = ev.eval_scalar(arg(c, 0)?, steps)?;
            let hi = ev.eval_scalar(arg(c, 1)?, steps)?;
            let v = ev.eval_vector(arg(c, 2)?, steps)?;
            classic_histogram(ev, v, steps, |i, b| {
                histogram::bucket_fraction(lo[i], hi[i], b)
            })
        }
        Func::HistogramCount
        | Func::HistogramSum
        | Func::HistogramAvg
        | Func::HistogramStddev
        | Func::HistogramStdvar => Err(Error::Execution(format!(
            "function \"{name}\" needs native histograms, which Strata does not support"
        ))),
        Func::Minute
        | Func::Hour
        | Func::DayOfWeek
        | Func::DayOfMonth
        | Func::DayOfYear
        | Func::DaysInMonth
        | Func::Month
        | Func::Year => {
            if c.args.is_empty() {
                Ok(Val::Vector(vec![StepSeries::new(
                    Labels::empty(),
                    (0..n)
                        .map(|i| time::date_part(name, steps.t(i) as f64 / 1000.0))
                        .collect(),
                )]))
            } else {
                let v = ev.eval_vector(&c.args[0], steps)?;
                map_vector(ev, v, false, |_, x| time::date_part(name, x))
            }
        }
        _ => {
            if let Some(f) = math::unary(name) {
                let v = ev.eval_vector(arg(c, 0)?, steps)?;
                return map_vector(ev, v, false, |_, x| Some(f(x)));
            }
            Err(Error::Execution(format!(
                "function \"{name}\" is not supported"
            )))
        }
    }
}

/// Groups classic `le` buckets (by labels without `le`, name included) per step and applies
/// `f(step, buckets)`; output labels drop `le` and `__name__`. The monotonicity info is
/// tied to the steps that raised it ([`Evaluator::info_at`]).
fn classic_histogram(
    ev: &Evaluator<'_>,
    v: Vec<StepSeries>,
    steps: &Steps,
    mut f: impl FnMut(usize, Vec<histogram::Bucket>) -> (f64, bool),
) -> Result<Val> {
    let mut index: FxHashMap<Labels, usize> = map_with_capacity(0);
    let mut groups: Vec<(Labels, Vec<(f64, usize)>)> = Vec::new();
    for (i, s) in v.iter().enumerate() {
        let Some(le) = s.labels.get("le") else {
            continue;
        };
        let Some(upper) = histogram::parse_le(le) else {
            ev.warn(format!(
                "PromQL warning: bucket label \"le\" is missing or has a malformed value of {le:?} for metric name {:?}",
                s.labels.metric_name().unwrap_or("")
            ));
            continue;
        };
        let key = s.labels.without("le");
        let gi = *index.entry(key.clone()).or_insert_with(|| {
            groups.push((key, Vec::new()));
            groups.len() - 1
        });
        groups[gi].1.push((upper, i));
    }
    let mut out = Vec::with_capacity(groups.len());
    for (labels, members) in groups {
        ev.check_deadline()?;
        let mut vals = vec![None; steps.len()];
        for (step, slot) in vals.iter_mut().enumerate() {
            let buckets: Vec<histogram::Bucket> = members
                .iter()
                .filter_map(|&(upper, i)| {
                    v[i].vals[step].map(|count| histogram::Bucket { upper, count })
                })
                .collect();
            if buckets.is_empty() {
                continue;
            }
            let (r, forced) = f(step, buckets);
            if forced {
                ev.info_at(format!(
                    "PromQL info: input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) for metric name {:?}",
                    labels.metric_name().unwrap_or("")
                ), steps.t(step));
            }
            *slot = Some(r);
        }
        out.push(StepSeries::new(labels, vals));
    }
    Ok(Val::Vector(ev.drop_names(out)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::engine::{evaluate, EngineOptions, QueryOptions, Value};
    use crate::eval::MemStorage;

    fn store() -> MemStorage {
        let mut st = MemStorage::new();
        let mut add = |pairs: &[(&str, &str)], vals: &[f64]| {
            let samples: Vec<Sample> = vals
                .iter()
                .enumerate()
                .map(|(i, &v)| Sample::new(i as i64 * 60_000, v))
                .collect();
            st.add(Labels::from_pairs(pairs).unwrap(), &samples);
        };
        add(&[("__name__", "a"), ("job", "x")], &[1.0, 2.0, 3.0, 4.0]);
        add(
            &[("__name__", "b"), ("job", "x")],
            &[10.0, 20.0, 30.0, 40.0],
        );
        add(
            &[("__name__", "h_bucket"), ("le", "1")],
            &[0.0, 5.0, 10.0, 15.0],
        );
        add(
            &[("__name__", "h_bucket"), ("le", "+Inf")],
            &[0.0, 10.0, 20.0, 30.0],
        );
        st
    }

    fn instant(q: &str, t: i64) -> crate::Result<Vec<(String, f64)>> {
        let st = store();
        let e = crate::parser::parse(q)?;
        let r = evaluate(
            &st,
            &e,
            Steps::instant(t),
            true,
            &EngineOptions::default(),
            &QueryOptions::default(),
        )?;
        Ok(match r.value {
            Value::Vector(v) => v.into_iter().map(|s| (s.labels.to_string(), s.v)).collect(),
            Value::Scalar { v, .. } => vec![(String::new(), v)],
            other => panic!("unexpected {other:?}"),
        })
    }

    fn instant_delayed(q: &str, t: i64) -> crate::Result<Vec<(String, f64)>> {
        let st = store();
        let e = crate::parser::parse(q)?;
        let opts = EngineOptions {
            delayed_name_removal: true,
            ..EngineOptions::default()
        };
        let r = evaluate(
            &st,
            &e,
            Steps::instant(t),
            true,
            &opts,
            &QueryOptions::default(),
        )?;
        let Value::Vector(v) = r.value else {
            panic!("vector expected")
        };
        Ok(v.into_iter().map(|s| (s.labels.to_string(), s.v)).collect())
    }

    #[test]
    fn delayed_name_removal_mode() {
        // The name is still readable by label_replace, and dropped at the end.
        let v = instant_delayed(
            r#"label_replace(abs(a), "n", "x_$1", "__name__", "(.+)")"#,
            0,
        )
        .unwrap();
        assert_eq!(v, vec![(r#"{job="x", n="x_a"}"#.to_string(), 1.0)]);
        // Writing __name__ keeps it.
        let v = instant_delayed(
            r#"label_replace(abs(a), "__name__", "y_$1", "__name__", "(.+)")"#,
            0,
        )
        .unwrap();
        assert_eq!(v, vec![(r#"y_a{job="x"}"#.to_string(), 1.0)]);
        // Collisions surface when the names finally go.
        let err = instant_delayed(r#"sum by (__name__) (abs({job="x"}))"#, 0).unwrap_err();
        assert_eq!(err.to_string(), crate::eval::SAME_LABELSET);
        // Immediate mode: the name is gone before label_replace runs.
        let v = instant(
            r#"label_replace(abs(a), "n", "x_$1", "__name__", "(.+)")"#,
            0,
        )
        .unwrap();
        assert_eq!(v, vec![(r#"{job="x"}"#.to_string(), 1.0)]);
    }

    #[test]
    fn name_dropping_collides_only_when_labels_clash() {
        // Both series lose their names and become {job="x"} at the same step.
        let err = instant(r#"abs({job="x"})"#, 180_000).unwrap_err();
        assert_eq!(err.to_string(), crate::eval::SAME_LABELSET);
        // last_over_time keeps the name: no collision.
        let v = instant(r#"last_over_time({job="x"}[1m])"#, 180_000).unwrap();
        assert_eq!(v.len(), 2);
    }

    #[test]
    fn aggregations_that_ignore_names_keep_the_functions_answers() {
        // `sum by (job)` lets rate keep its names only when that cannot hide a collision.
        let err = instant(r#"sum by (job) (rate({job="x"}[5m]))"#, 180_000).unwrap_err();
        assert_eq!(err.to_string(), crate::eval::SAME_LABELSET);
        // One name: the same sums as through a binary operation (which drops names itself).
        for (agg, plain) in [
            (
                "sum by (job) (increase(a[5m]))",
                "sum by (job) (increase(a[5m]) * 1)",
            ),
            ("count(rate(h_bucket[5m]))", "count(rate(h_bucket[5m]) * 1)"),
            (
                "max without (le) (rate(h_bucket[5m]))",
                "max without (le) (rate(h_bucket[5m]) * 1)",
            ),
        ] {
            assert_eq!(
                instant(agg, 180_000).unwrap(),
                instant(plain, 180_000).unwrap()
            );
        }
        // Grouping by the name itself, and topk (which returns its input series), still see
        // the names dropped.
        let by_name = instant("sum by (__name__) (rate(a[5m]))", 180_000).unwrap();
        assert_eq!(by_name, instant("sum(rate(a[5m]))", 180_000).unwrap());
        assert_eq!(by_name[0].0, "{}");
        let top = instant("topk(1, rate(h_bucket[5m]))", 180_000).unwrap();
        assert_eq!(top.len(), 1);
        assert_eq!(top[0].0, r#"{le="+Inf"}"#);
    }

    #[test]
    fn rate_and_timestamp_and_absent() {
        let v = instant("rate(a[3m])", 180_000).unwrap();
        // 3 samples in (0, 3m] = 2,3,4 at 1m..3m; extrapolated to the window start.
        assert_eq!(v[0].0, r#"{job="x"}"#);
        assert!((v[0].1 - 3.0 / 180.0).abs() < 1e-12, "{}", v[0].1);
        let v = instant("timestamp(a offset 1m)", 150_000).unwrap();
        assert_eq!(v, vec![(r#"{job="x"}"#.to_string(), 60.0)]);
        let v = instant(r#"absent(nope{job="y", i=~"z"})"#, 0).unwrap();
        assert_eq!(v, vec![(r#"{job="y"}"#.to_string(), 1.0)]);
        assert!(instant("absent(a)", 0).unwrap().is_empty());
        let v = instant("absent_over_time(a[1m])", 900_000).unwrap();
        assert_eq!(v, vec![("{}".to_string(), 1.0)]);
    }

    #[test]
    fn histogram_quantile_groups_without_le_and_name() {
        let v = instant("histogram_quantile(0.25, h_bucket)", 120_000).unwrap();
        // total 20, rank 5 <= 10 in first bucket: 0 + 1 * 5/10.
        assert_eq!(v, vec![("{}".to_string(), 0.5)]);
    }

    #[test]
    fn label_functions_and_scalar() {
        let v = instant(r#"label_replace(a, "dst", "$1-y", "job", "(.*)")"#, 0).unwrap();
        assert_eq!(v[0].0, r#"a{dst="x-y", job="x"}"#);
        let v = instant(r#"label_join(a, "j", ",", "job", "job")"#, 0).unwrap();
        assert_eq!(v[0].0, r#"a{j="x,x", job="x"}"#);
        assert_eq!(instant("scalar(a)", 60_000).unwrap()[0].1, 2.0);
        assert!(instant(r#"scalar({job="x"})"#, 60_000).unwrap()[0]
            .1
            .is_nan());
        let v = instant("clamp(b, 15, 25)", 120_000).unwrap();
        assert_eq!(v[0].1, 25.0);
        let v = instant("year(vector(0))", 0).unwrap();
        assert_eq!(v[0].1, 1970.0);
    }

    #[test]
    fn absent_labels_from_equality_matchers() {
        use crate::parser::ast::VectorSelector;
        use strata_engine::Matcher;
        let vs = VectorSelector {
            name: Some("x".into()),
            matchers: vec![
                Matcher::equal("__name__", "x"),
                Matcher::equal("job", "a"),
                Matcher::equal("job", "b"),
                Matcher::equal("foo", "bar"),
                Matcher::new(MatchOp::Regex, "r", "x.*").unwrap(),
            ],
            offset: 0,
            at: None,
        };
        let l = absent_labels(&Expr::VectorSelector(vs));
        assert_eq!(l, Labels::from_pairs(&[("foo", "bar")]).unwrap());
    }
}

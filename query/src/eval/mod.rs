//! The PromQL evaluator.
//!
//! Every expression is evaluated over a whole grid of steps at once (an instant query is a
//! grid of one step). Values are column-wise per series: an instant vector over the grid is a
//! list of [`StepSeries`], each holding its labels once and one `Option<f64>` per step, so a
//! 60-step range query touches each label set once instead of 60 times.
//!
//! Storage is read in one place ([`selector`]): each selector is selected once for the whole
//! grid (`mint = first step - offset - range - lookback`, `maxt = last step - offset`), and
//! each series' samples are then walked once with a window that slides forward across the
//! steps (two monotone cursors), never re-reading the window per step.
//!
//! `__name__` dropping: by default (Prometheus 3.x default) functions and arithmetic drop the
//! name as they go ([`Evaluator::drop_name`]). With `delayed_name_removal` the name stays on
//! the series, flagged in [`StepSeries::drop_name`], and is removed when the query (or a
//! subquery's inner evaluation) finishes ([`Evaluator::finish_names`]), as Prometheus's
//! `promql-delayed-name-removal` feature does; `label_replace`/`label_join` writing
//! `__name__` clear the flag, and `by (__name__)` aggregations inherit it from any member.
//!
//! Memory accounting (`max_samples`): samples read from storage count while they are held;
//! once a selector or range function has turned them into per-step points, the raw samples
//! are released and the points count instead. Points of intermediate results are never
//! released (except by a subquery, whose inner evaluation's points give way to the samples
//! they become), so the accounted peak over-approximates what is held at once (it never
//! under-counts), and an overrun is [`Error::TooManySamples`] instead of an OOM.
//!
//! Invariants:
//! * a [`StepSeries`]' `vals` has exactly one entry per step of the grid it was evaluated on;
//! * series in a vector have pairwise distinct label sets (checked with
//!   [`Evaluator::merge_same_labels`] whenever labels are rewritten, which reports
//!   `vector cannot contain metrics with the same labelset` exactly when two series would
//!   hold a value at the same step; [`Evaluator::drop_names`] skips that check when dropping
//!   `__name__` cannot make two sets equal);
//! * grouping maps (label sets, match signatures) use the Fx hasher of [`hash`]; their
//!   iteration order is never used, outputs keep first-seen order;
//! * per-series selection and range-function work may run on several threads
//!   ([`parallel`]), always producing the sequential order and results.
//! * range windows are left-open, `(ref - range, ref]`, and the instant lookback window is
//!   `(ref - lookback, ref]` (Prometheus 3.x).

pub mod aggregate;
pub mod binary;
pub mod call;
pub mod hash;
pub mod hook;
pub mod parallel;
#[cfg(test)]
mod proptests;
pub mod selector;
pub mod series;
pub mod sort;
pub mod subquery;
pub mod summary;
#[cfg(test)]
mod summary_proptests;

use hash::{map_with_capacity, FxHashMap};
use std::cell::{Cell, RefCell};
use std::time::Instant;

use strata_engine::{Labels, Sample, METRIC_NAME};

use crate::error::{Error, Result};
use crate::parser::ast::{AtModifier, Expr, UnaryOp, ValueType};

pub use hook::{HookedSeries, RangeCallHook, HOOKABLE_FUNCTIONS};
pub use selector::{MemStorage, Storage};
pub use series::{LazySeries, SeriesBuf};

use crate::cancel::Stop;

/// A grid of evaluation timestamps `start, start + step, ... <= end` (ms).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Steps {
    /// First timestamp.
    pub start: i64,
    /// Last timestamp (inclusive; may be above the last grid point).
    pub end: i64,
    /// Distance between timestamps (> 0).
    pub step: i64,
}

impl Steps {
    /// A one-step grid at `t`.
    pub fn instant(t: i64) -> Steps {
        Steps {
            start: t,
            end: t,
            step: 1,
        }
    }
    /// Number of timestamps in the grid.
    pub fn len(&self) -> usize {
        if self.end < self.start {
            0
        } else {
            (self.end.abs_diff(self.start) / self.step.max(1) as u64) as usize + 1
        }
    }
    /// True if the grid has no timestamps.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The `i`-th timestamp.
    pub fn t(&self, i: usize) -> i64 {
        self.start
            .saturating_add(self.step.saturating_mul(i as i64))
    }
    /// The last timestamp actually on the grid.
    pub fn last(&self) -> i64 {
        self.t(self.len().saturating_sub(1))
    }
}

/// One series of an instant vector evaluated over a grid: a value or nothing per step.
#[derive(Clone, Debug, PartialEq)]
pub struct StepSeries {
    /// Labels.
    pub labels: Labels,
    /// One entry per step.
    pub vals: Vec<Option<f64>>,
    /// Delayed name removal: `__name__` is still present but is to be dropped when the
    /// query finishes (always false in the default, immediate mode).
    pub drop_name: bool,
}

impl StepSeries {
    /// A series whose name is not pending removal.
    pub fn new(labels: Labels, vals: Vec<Option<f64>>) -> StepSeries {
        StepSeries {
            labels,
            vals,
            drop_name: false,
        }
    }

    /// True if the series has no value at any step.
    pub fn is_empty(&self) -> bool {
        self.vals.iter().all(Option::is_none)
    }
}

/// Raw samples of one series, for a range-vector result of an instant query.
#[derive(Clone, Debug, PartialEq)]
pub struct RawSeries {
    /// Labels.
    pub labels: Labels,
    /// Samples in time order.
    pub samples: Vec<Sample>,
}

/// An evaluated expression over a grid.
#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    /// One float per step.
    Scalar(Vec<f64>),
    /// A string (constant over steps).
    String(String),
    /// An instant vector over the grid.
    Vector(Vec<StepSeries>),
    /// A range vector; only produced for a one-step grid.
    Matrix(Vec<RawSeries>),
}

/// Selected series plus the window ends of every step: the input of range functions.
///
/// The window of step `i` is `(ends[i] - range, ends[i]]`; `ends` is non-decreasing. The
/// series are not read yet: a range function streams them ([`Evaluator::stream`]), reading
/// each with stale markers removed ([`LazySeries::read_unstale`]).
#[derive(Debug)]
pub struct Windowed {
    /// Selected series, sorted by labels.
    pub series: Vec<LazySeries>,
    /// Window end per step.
    pub ends: Vec<i64>,
    /// Window length, ms.
    pub range: i64,
    /// Samples the producer already accounted as held (a subquery's points, 0 for a
    /// selector); released by the range function once it is done with them.
    pub held: usize,
}

impl Windowed {
    /// Upper bound of the samples reading every series would give.
    pub fn num_samples(&self) -> usize {
        self.series.iter().map(LazySeries::bound).sum()
    }

    /// Calls `f(step, window)` for every step whose window holds at least one sample of
    /// `samples`, sliding two cursors forward (each sample is passed over once per cursor).
    pub fn for_each_window(
        &self,
        samples: &[Sample],
        mut f: impl FnMut(usize, &[Sample]) -> Option<f64>,
    ) -> Vec<Option<f64>> {
        for_each_window_range(&self.ends, self.range, samples, |i, win| {
            f(i, &samples[win])
        })
    }
}

pub use crate::functions::window::for_each_window_range;

/// Evaluation context shared by every node of one query.
pub struct Evaluator<'a> {
    /// Where selectors read samples from.
    pub storage: &'a dyn Storage,
    /// Lookback of instant selectors, ms.
    pub lookback: i64,
    /// Step of `[range:]` subqueries, ms.
    pub default_subquery_step: i64,
    /// Start of the top-level query (`@ start()`).
    pub query_start: i64,
    /// End of the top-level query (`@ end()`).
    pub query_end: i64,
    /// When range functions read chunk summaries ([`summary`]).
    pub summaries: summary::SummaryMode,
    /// When to abort: the deadline and the caller's cancellation token.
    pub stop: Stop,
    /// Maximum samples loaded/held by the query.
    pub max_samples: usize,
    /// Samples read from storage so far.
    pub samples_loaded: Cell<u64>,
    /// Samples currently accounted as held in memory.
    pub current_samples: Cell<u64>,
    /// Peak of `current_samples`.
    pub peak_samples: Cell<u64>,
    /// Delayed `__name__` removal (Prometheus's `promql-delayed-name-removal`): names are
    /// kept through the query and dropped at its end.
    pub delayed_name_removal: bool,
    /// Set by an aggregation whose result labels cannot depend on `__name__` just before it
    /// evaluates its argument, a function of a plain range selector; the function's
    /// [`call::finish`] takes it and then keeps the names it would drop when that cannot
    /// change which series exist (all carry the same name). Always false otherwise.
    pub names_unused: Cell<bool>,
    /// Warning annotations.
    pub warnings: RefCell<Vec<String>>,
    /// Info annotations.
    pub infos: RefCell<Vec<String>>,
    /// Info annotations raised at steps of the query's own grid, with those steps' times
    /// (see [`Evaluator::info_at`]): the result cache keeps them per step.
    pub step_infos: RefCell<StepNotes>,
    /// How many subqueries the node being evaluated is inside (their steps are not the
    /// query's).
    pub sub_depth: Cell<u32>,
    /// Where subqueries' inner results may be reused from (the engine's result cache; see
    /// [`SubqueryCache`]); `None` evaluates every subquery in full.
    pub subquery_cache: Option<&'a dyn SubqueryCache>,
    /// Optional supplier of precomputed range-function values at one step (see [`hook`]);
    /// `None` (the default) evaluates every call from storage.
    pub range_hook: Option<&'a dyn RangeCallHook>,
    checks: Cell<u32>,
}

/// Info annotations with the times of the query steps that raised them (message, sorted
/// distinct times).
pub type StepNotes = Vec<(String, Vec<i64>)>;

/// Appends to `infos` the messages of `notes` raised at a step inside `[lo, hi]` that it
/// does not hold yet.
pub(crate) fn add_notes_in(infos: &mut Vec<String>, notes: &StepNotes, lo: i64, hi: i64) {
    for (m, ts) in notes {
        let i = ts.partition_point(|&t| t < lo);
        if ts.get(i).is_some_and(|&t| t <= hi) && !infos.contains(m) {
            infos.push(m.clone());
        }
    }
}

/// Evaluates a subquery's inner expression over its grid through a result cache: a
/// subquery steps on absolute multiples of its step, so its inner values at those steps
/// are those of a range query of the inner expression on the same grid, and repeated
/// queries (a dashboard's refreshes) share them.
pub trait SubqueryCache {
    /// The inner expression `expr` over `steps` (a matrix, series sorted by labels, names
    /// already removed), with `eval` evaluating any part of the grid the cache lacks.
    fn range(
        &self,
        expr: &crate::parser::ast::Expr,
        steps: Steps,
        eval: &dyn Fn(Steps) -> Result<(crate::engine::QueryResult, StepNotes)>,
    ) -> Result<crate::engine::QueryResult>;
}

/// The exact Prometheus message for label-set collisions.
pub const SAME_LABELSET: &str = "vector cannot contain metrics with the same labelset";

/// True if every series carries the same `__name__` (or none does): dropping the names then
/// cannot make two label sets equal.
pub(crate) fn same_name(series: &[StepSeries]) -> bool {
    let Some((head, rest)) = series.split_first() else {
        return true;
    };
    let first = head.labels.metric_name();
    // Names are mostly one interned copy: a series that leads with the very label the
    // first one leads with has its name, and nothing is searched or read.
    let lead = head.labels.leading_name();
    rest.iter().all(|s| {
        if lead.is_some_and(|l| s.labels.leads_with(l)) {
            return true;
        }
        match (s.labels.metric_name(), first) {
            (Some(a), Some(b)) => std::ptr::eq(a, b) || a == b,
            (a, b) => a == b,
        }
    })
}

impl<'a> Evaluator<'a> {
    /// A context for a query over `[query_start, query_end]`.
    pub fn new(storage: &'a dyn Storage, query_start: i64, query_end: i64) -> Evaluator<'a> {
        Evaluator {
            storage,
            lookback: 5 * 60 * 1000,
            default_subquery_step: 60 * 1000,
            query_start,
            query_end,
            stop: Stop::default(),
            summaries: summary::SummaryMode::Auto,
            max_samples: usize::MAX,
            samples_loaded: Cell::new(0),
            current_samples: Cell::new(0),
            peak_samples: Cell::new(0),
            delayed_name_removal: false,
            names_unused: Cell::new(false),
            warnings: RefCell::new(Vec::new()),
            infos: RefCell::new(Vec::new()),
            step_infos: RefCell::new(Vec::new()),
            sub_depth: Cell::new(0),
            subquery_cache: None,
            range_hook: None,
            checks: Cell::new(0),
        }
    }

    /// Errors with [`Error::Canceled`] once the query is cancelled, or [`Error::Timeout`]
    /// once its deadline has passed (the clock is read on the first 64 calls and every 64th
    /// after, the cancellation flag on every call).
    pub fn check_deadline(&self) -> Result<()> {
        let n = self.checks.get().wrapping_add(1);
        self.checks.set(n);
        if self
            .stop
            .cancel
            .as_ref()
            .is_some_and(crate::Cancel::is_canceled)
        {
            return Err(Error::Canceled("expression evaluation"));
        }
        if let Some(d) = self.stop.deadline {
            if (n.is_multiple_of(64) || n < 64) && Instant::now() >= d {
                return Err(Error::Timeout("expression evaluation"));
            }
        }
        Ok(())
    }

    /// Accounts `n` more samples as held in memory; errors past the limit.
    pub fn account(&self, n: usize) -> Result<()> {
        let cur = self.current_samples.get() + n as u64;
        self.current_samples.set(cur);
        if cur > self.peak_samples.get() {
            self.peak_samples.set(cur);
        }
        if cur > self.max_samples as u64 {
            return Err(Error::TooManySamples("query execution"));
        }
        Ok(())
    }

    /// Releases `n` samples accounted with [`Evaluator::account`] (their memory was freed).
    pub fn release(&self, n: usize) {
        let cur = self.current_samples.get().saturating_sub(n as u64);
        self.current_samples.set(cur);
    }

    /// Accounts the points of an evaluated vector as held in memory.
    pub fn account_points(&self, v: &[StepSeries]) -> Result<()> {
        self.account(
            v.iter()
                .map(|s| s.vals.iter().filter(|x| x.is_some()).count())
                .sum(),
        )
    }

    /// Adds a warning annotation once.
    pub fn warn(&self, msg: String) {
        let mut w = self.warnings.borrow_mut();
        if !w.contains(&msg) {
            w.push(msg);
        }
    }

    /// Adds an info annotation once.
    pub fn info(&self, msg: String) {
        let mut w = self.infos.borrow_mut();
        if !w.contains(&msg) {
            w.push(msg);
        }
    }

    /// Adds an info annotation raised by the step at `t` of `steps`' grid: kept with `t`
    /// when that grid is the query's own (outside every subquery), else as
    /// [`Evaluator::info`] does.
    pub fn info_at(&self, msg: String, t: i64) {
        if self.sub_depth.get() > 0 {
            return self.info(msg);
        }
        let mut notes = self.step_infos.borrow_mut();
        match notes.iter_mut().find(|(m, _)| *m == msg) {
            Some((_, ts)) => {
                if ts.last() != Some(&t) {
                    ts.push(t);
                }
            }
            None => notes.push((msg, vec![t])),
        }
    }

    /// The annotations of [`Evaluator::info_at`], each message's times sorted and
    /// distinct.
    pub fn take_step_infos(&self) -> StepNotes {
        let mut notes = self.step_infos.take();
        for (_, ts) in &mut notes {
            ts.sort_unstable();
            ts.dedup();
        }
        notes
    }

    /// Resolves an `@` modifier to a timestamp.
    pub fn at_time(&self, at: Option<AtModifier>) -> Option<i64> {
        at.map(|a| match a {
            AtModifier::Timestamp(t) => t,
            AtModifier::Start => self.query_start,
            AtModifier::End => self.query_end,
        })
    }

    /// Evaluates `e` over `steps`.
    pub fn eval(&self, e: &Expr, steps: &Steps) -> Result<Val> {
        self.check_deadline()?;
        match e {
            Expr::Number(v) => Ok(Val::Scalar(vec![*v; steps.len()])),
            Expr::String(s) => Ok(Val::String(s.clone())),
            Expr::Paren(x) => self.eval(x, steps),
            Expr::VectorSelector(vs) => Ok(Val::Vector(self.vector_selector(vs, steps, false)?)),
            Expr::MatrixSelector(_) | Expr::Subquery(_) => {
                if steps.len() != 1 {
                    return Err(Error::Execution(
                        "invalid expression type \"range vector\" for range query, must be Scalar or instant Vector".to_string(),
                    ));
                }
                // A range vector result holds all its samples: accounted from chunk counts
                // before decoding, then as the samples kept.
                let w = self.windowed(e, steps)?;
                self.check_room(w.num_samples())?;
                let end = w.ends[0];
                let mut out = Vec::new();
                let mut buf = SeriesBuf::default();
                let mut held = 0usize;
                for s in w.series {
                    self.check_deadline()?;
                    s.read_unstale(&mut buf)?;
                    self.samples_loaded
                        .set(self.samples_loaded.get() + buf.samples.len() as u64);
                    let samples: Vec<Sample> = buf
                        .samples
                        .iter()
                        .copied()
                        .filter(|x| x.t > end.saturating_sub(w.range) && x.t <= end)
                        .collect();
                    if !samples.is_empty() {
                        held += samples.len();
                        out.push(RawSeries {
                            labels: s.labels,
                            samples,
                        });
                    }
                }
                self.account(held)?;
                Ok(Val::Matrix(out))
            }
            Expr::Unary(op, x) => {
                let v = self.eval(x, steps)?;
                match (op, v) {
                    (UnaryOp::Pos, v) => Ok(v),
                    (UnaryOp::Neg, Val::Scalar(s)) => {
                        Ok(Val::Scalar(s.into_iter().map(|x| -x).collect()))
                    }
                    (UnaryOp::Neg, Val::Vector(vs)) => {
                        let out = vs
                            .into_iter()
                            .map(|s| {
                                let vals = s.vals.iter().map(|v| v.map(|x| -x)).collect();
                                StepSeries { vals, ..s }
                            })
                            .collect();
                        Ok(Val::Vector(self.drop_names(out)?))
                    }
                    (_, other) => Err(Error::Execution(format!(
                        "unary expression only allowed on expressions of type scalar or instant vector, got {}",
                        val_type(&other).name()
                    ))),
                }
            }
            Expr::Binary(b) => binary::eval_binary(self, b, steps),
            Expr::Aggregate(a) => aggregate::eval_aggregate(self, a, steps),
            Expr::Call(c) => call::eval_call(self, c, steps),
        }
    }

    /// Evaluates `e` and requires an instant vector.
    pub fn eval_vector(&self, e: &Expr, steps: &Steps) -> Result<Vec<StepSeries>> {
        match self.eval(e, steps)? {
            Val::Vector(v) => Ok(v),
            other => Err(Error::Execution(format!(
                "expected instant vector, got {}",
                val_type(&other).name()
            ))),
        }
    }

    /// Evaluates `e` and requires a scalar.
    pub fn eval_scalar(&self, e: &Expr, steps: &Steps) -> Result<Vec<f64>> {
        match self.eval(e, steps)? {
            Val::Scalar(v) => Ok(v),
            other => Err(Error::Execution(format!(
                "expected scalar, got {}",
                val_type(&other).name()
            ))),
        }
    }

    /// Evaluates `e` and requires a string.
    pub fn eval_string(&self, e: &Expr, steps: &Steps) -> Result<String> {
        match self.eval(e, steps)? {
            Val::String(v) => Ok(v),
            other => Err(Error::Execution(format!(
                "expected string, got {}",
                val_type(&other).name()
            ))),
        }
    }

    /// Evaluates a range-vector expression (matrix selector or subquery, possibly in
    /// parentheses) into samples plus per-step windows.
    pub fn windowed(&self, e: &Expr, steps: &Steps) -> Result<Windowed> {
        match e {
            Expr::Paren(x) => self.windowed(x, steps),
            Expr::MatrixSelector(ms) => self.matrix_selector(ms, steps),
            Expr::Subquery(sq) => self.subquery(sq, steps),
            other => Err(Error::Execution(format!(
                "expected range vector, got {}",
                expr_type(other).name()
            ))),
        }
    }

    /// Drops `__name__` from `s`, or, with delayed name removal, marks it for removal at
    /// the end of the query.
    pub fn drop_name(&self, mut s: StepSeries) -> StepSeries {
        if self.delayed_name_removal {
            s.drop_name = true;
        } else if s.labels.metric_name().is_some() {
            s.labels = s.labels.without(METRIC_NAME);
        }
        s
    }

    /// [`Evaluator::drop_name`] on every series of a vector whose label sets are pairwise
    /// distinct, then [`Evaluator::merge_same_labels`]. The merge (hashing every label set)
    /// is skipped when dropping cannot make two label sets equal: in delayed mode (labels
    /// are kept) and when all series carry the same `__name__` (or none); then only the
    /// series without any value are removed, which is all the merge would do.
    pub fn drop_names(&self, series: Vec<StepSeries>) -> Result<Vec<StepSeries>> {
        if self.delayed_name_removal || same_name(&series) {
            Ok(series
                .into_iter()
                .filter(|s| !s.is_empty())
                .map(|s| self.drop_name(s))
                .collect())
        } else {
            let out = series.into_iter().map(|s| self.drop_name(s)).collect();
            self.merge_same_labels(out)
        }
    }

    /// Applies pending name removals (delayed mode) and checks the result for label-set
    /// collisions; a no-op in immediate mode.
    pub fn finish_names(&self, series: Vec<StepSeries>) -> Result<Vec<StepSeries>> {
        if !self.delayed_name_removal {
            return Ok(series);
        }
        let out = series
            .into_iter()
            .map(|mut s| {
                if s.drop_name {
                    s.labels = s.labels.without(METRIC_NAME);
                    s.drop_name = false;
                }
                s
            })
            .collect();
        self.merge_same_labels(out)
    }

    /// Merges series that share a label set (after labels were rewritten). Two series holding
    /// a value at the same step is the `vector cannot contain metrics with the same labelset`
    /// error; otherwise their steps are combined. Drops series without any value.
    pub fn merge_same_labels(&self, series: Vec<StepSeries>) -> Result<Vec<StepSeries>> {
        let mut index: FxHashMap<Labels, usize> = map_with_capacity(series.len());
        let mut out: Vec<StepSeries> = Vec::with_capacity(series.len());
        for s in series {
            if s.is_empty() {
                continue;
            }
            match index.get(&s.labels) {
                None => {
                    index.insert(s.labels.clone(), out.len());
                    out.push(s);
                }
                Some(&i) => {
                    out[i].drop_name |= s.drop_name;
                    let dst = &mut out[i].vals;
                    for (d, v) in dst.iter_mut().zip(s.vals) {
                        if v.is_some() {
                            if d.is_some() {
                                return Err(Error::Execution(SAME_LABELSET.to_string()));
                            }
                            *d = v;
                        }
                    }
                }
            }
        }
        Ok(out)
    }
}

/// Builds an output vector step by step, keyed by label set: several producers may emit the
/// same labels at different steps (they become one series); the same labels twice at one step
/// is [`SAME_LABELSET`].
pub struct Collector {
    index: FxHashMap<Labels, usize>,
    out: Vec<StepSeries>,
    n: usize,
}

impl Collector {
    /// A collector for a grid of `n` steps.
    pub fn new(n: usize) -> Collector {
        Collector {
            index: map_with_capacity(0),
            out: Vec::new(),
            n,
        }
    }
    /// Adds `v` at step `i` for `labels`.
    pub fn add(&mut self, labels: &Labels, i: usize, v: f64) -> Result<()> {
        self.add_with(labels, i, v, SAME_LABELSET)
    }
    /// Like [`Collector::add`] with a custom collision message.
    pub fn add_with(&mut self, labels: &Labels, i: usize, v: f64, msg: &str) -> Result<()> {
        let idx = self.slot(labels);
        if self.is_set(idx, i) {
            return Err(Error::Execution(msg.to_string()));
        }
        self.out[idx].vals[i] = Some(v);
        Ok(())
    }
    /// The output index of `labels` (created if new); stable for the collector's life, so
    /// callers whose labels do not change across steps look it up once.
    pub fn slot(&mut self, labels: &Labels) -> usize {
        match self.index.get(labels) {
            Some(&idx) => idx,
            None => {
                let idx = self.out.len();
                self.index.insert(labels.clone(), idx);
                self.out
                    .push(StepSeries::new(labels.clone(), vec![None; self.n]));
                idx
            }
        }
    }
    /// True if output `idx` already has a value at step `i`.
    pub fn is_set(&self, idx: usize, i: usize) -> bool {
        self.out[idx].vals[i].is_some()
    }
    /// Sets output `idx` at step `i`; a value already there is [`SAME_LABELSET`].
    pub fn set(&mut self, idx: usize, i: usize, v: f64) -> Result<()> {
        let slot = &mut self.out[idx].vals[i];
        if slot.is_some() {
            return Err(Error::Execution(SAME_LABELSET.to_string()));
        }
        *slot = Some(v);
        Ok(())
    }
    /// Marks output `idx` for delayed name removal.
    pub fn mark_drop_name(&mut self, idx: usize) {
        self.out[idx].drop_name = true;
    }
    /// The collected series with at least one value, in first-seen order.
    pub fn finish(self) -> Vec<StepSeries> {
        self.out.into_iter().filter(|s| !s.is_empty()).collect()
    }
}

/// The type of an evaluated value.
pub fn val_type(v: &Val) -> ValueType {
    match v {
        Val::Scalar(_) => ValueType::Scalar,
        Val::String(_) => ValueType::String,
        Val::Vector(_) => ValueType::Vector,
        Val::Matrix(_) => ValueType::Matrix,
    }
}

/// The static type of an expression.
pub fn expr_type(e: &Expr) -> ValueType {
    match e {
        Expr::Number(_) => ValueType::Scalar,
        Expr::String(_) => ValueType::String,
        Expr::VectorSelector(_) => ValueType::Vector,
        Expr::MatrixSelector(_) | Expr::Subquery(_) => ValueType::Matrix,
        Expr::Paren(x) | Expr::Unary(_, x) => expr_type(x),
        Expr::Binary(b) => {
            if expr_type(&b.lhs) == ValueType::Scalar && expr_type(&b.rhs) == ValueType::Scalar {
                ValueType::Scalar
            } else {
                ValueType::Vector
            }
        }
        Expr::Aggregate(_) => ValueType::Vector,
        Expr::Call(c) => c.func.spec().ret,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_len_and_last() {
        let s = Steps {
            start: 0,
            end: 10,
            step: 3,
        };
        assert_eq!(s.len(), 4);
        assert_eq!(s.last(), 9);
        assert_eq!(Steps::instant(5).len(), 1);
    }

    #[test]
    fn windows_are_left_open_and_slide() {
        let samples: Vec<Sample> = (0..10).map(|i| Sample::new(i * 10, i as f64)).collect();
        let w = Windowed {
            series: Vec::<LazySeries>::new(),
            ends: vec![0, 50, 50, 95],
            range: 30,
            held: 0,
        };
        let got = w.for_each_window(&samples, |_, win| Some(win.len() as f64));
        // (-30,0] = {0}; (20,50] = {30,40,50}; (65,95] = {70,80,90}
        assert_eq!(got, vec![Some(1.0), Some(3.0), Some(3.0), Some(3.0)]);
    }

    #[test]
    fn merge_detects_collisions_only_at_same_step() {
        let st = MemStorage::default();
        let ev = Evaluator::new(&st, 0, 0);
        let l = Labels::from_pairs(&[("a", "b")]).unwrap();
        let a = StepSeries::new(l.clone(), vec![Some(1.0), None]);
        let b = StepSeries::new(l.clone(), vec![None, Some(2.0)]);
        let m = ev.merge_same_labels(vec![a.clone(), b]).unwrap();
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].vals, vec![Some(1.0), Some(2.0)]);
        let err = ev.merge_same_labels(vec![a.clone(), a]).unwrap_err();
        assert_eq!(err.to_string(), SAME_LABELSET);
    }
}

//! [`IncrementalQuery`]: one PromQL expression evaluated at successive times, its long
//! range-function calls kept incrementally.
//!
//! At construction the expression is searched for eligible calls: `rate`, `increase`,
//! `delta`, `sum_over_time`, `count_over_time`, `avg_over_time`, `min_over_time` or
//! `max_over_time` applied to a matrix selector (in parentheses or not) whose range is at
//! least [`IncrementalOptions::min_range`], without `@`, with any offset, and not inside a
//! subquery (a subquery evaluates its inner expression at other times). Each distinct
//! (aggregate kind, selector) gets one [`WindowState`]; `rate(x[30d])` and
//! `increase(x[30d])` share one.
//!
//! [`IncrementalQuery::eval`] at `t` first brings every window to `t - offset`, then runs
//! the ordinary evaluator over the whole expression with a
//! [`strata_query::eval::RangeCallHook`] that hands it the precomputed per-series values of
//! those calls: aggregations, binary operators, name dropping and annotations are the
//! evaluator's own, so the result is what [`Engine::instant_expr`] gives.

use std::cell::{Cell, RefCell};

use strata_engine::{Matcher, METRIC_NAME};
use strata_query::eval::{HookedSeries, RangeCallHook};
use strata_query::parser::ast::{Expr, MatrixSelector};
use strata_query::{Engine, QueryOptions, QueryResult, Result};

use super::family::{CountFamily, ExtremeFamily, Family, Func, Kind};
use super::layout::Layout;
use super::rate::RateFamily;
use super::reader::Reader;
use super::state::{levels_for, Counters, WindowState};
use super::sum::SumFamily;
use super::WindowStats;

/// Settings of an [`IncrementalQuery`].
#[derive(Clone, Debug)]
pub struct IncrementalOptions {
    /// Shortest range kept incrementally, ms (1 h). Shorter windows are cheap to evaluate
    /// in full and are left to the evaluator.
    pub min_range: i64,
    /// How late a sample may reach storage after the evaluation time that first covers it
    /// and still be counted, ms (1 h; never more than the window minus two buckets); see
    /// [`super::state`].
    pub late_horizon: i64,
    /// Ring buckets per window (8): the left edge is re-cut into blocks when it enters a
    /// new bucket, reading one bucket, `range / buckets`, of samples.
    pub buckets: usize,
    /// Options of the evaluation itself (timeout, lookback).
    pub query: QueryOptions,
}

impl Default for IncrementalOptions {
    fn default() -> Self {
        IncrementalOptions {
            min_range: 3_600_000,
            late_horizon: 3_600_000,
            buckets: 8,
            query: QueryOptions::default(),
        }
    }
}

/// The state of one window, by aggregate kind.
enum AnyState {
    Rate(WindowState<RateFamily>),
    Sum(WindowState<SumFamily>),
    Count(WindowState<CountFamily>),
    Min(WindowState<ExtremeFamily<false>>),
    Max(WindowState<ExtremeFamily<true>>),
}

/// Calls `$body` with `$s` bound to the typed state.
macro_rules! with_state {
    ($state:expr, $s:ident => $body:expr) => {
        match $state {
            AnyState::Rate($s) => $body,
            AnyState::Sum($s) => $body,
            AnyState::Count($s) => $body,
            AnyState::Min($s) => $body,
            AnyState::Max($s) => $body,
        }
    };
}

/// One incrementally kept window and the calls it serves.
struct Window {
    sel: MatrixSelector,
    /// Distinct functions over this window, with how often each occurs in the expression.
    funcs: Vec<(Func, usize)>,
    state: AnyState,
}

/// An expression evaluated repeatedly at non-decreasing times, with its long windows kept
/// incrementally. Results are those of [`Engine::instant_expr`] at the same time.
///
/// ```no_run
/// # fn main() -> strata_query::Result<()> {
/// use std::sync::Arc;
/// use strata_engine::{Db, Options};
/// use strata_query::Engine;
/// use strata_rules::window::{IncrementalOptions, IncrementalQuery};
///
/// let db = Arc::new(Db::open("data", Options::default())?);
/// let engine = Engine::new(db);
/// let mut slo = IncrementalQuery::new(
///     r#"1 - sum(increase(http_requests_total{code=~"5.."}[30d])) / sum(increase(http_requests_total[30d]))"#,
///     IncrementalOptions::default(),
/// )?;
/// let now = 1_700_000_000_000;
/// for i in 0..10 {
///     let result = slo.eval(&engine, now + i * 60_000)?; // every minute
///     println!("{:?}", result.value);
/// }
/// println!("{:?}", slo.stats()); // bytes held, series, builds, ...
/// # Ok(())
/// # }
/// ```
pub struct IncrementalQuery {
    expr: Expr,
    windows: Vec<Window>,
    opts: IncrementalOptions,
    served: u64,
    selects: u64,
    /// [`strata_engine::Db::history_generation`] when the state was last brought up to date.
    history: Option<u64>,
}

/// The layout a window of `range` ms for function `f` uses with `buckets` ring buckets
/// (`None`: the range is too short or too long to be kept incrementally).
pub fn layout_for(f: Func, range: i64, buckets: usize) -> Option<Layout> {
    let levels = match f.kind() {
        Kind::Rate => levels_for::<<RateFamily as Family>::Piece>(buckets),
        Kind::Sum => levels_for::<<SumFamily as Family>::Piece>(buckets),
        Kind::Count => levels_for::<<CountFamily as Family>::Piece>(buckets),
        Kind::Min | Kind::Max => levels_for::<<ExtremeFamily<false> as Family>::Piece>(buckets),
    };
    Layout::new(range, buckets, levels)
}

fn new_state<F: Family>(
    sel: &MatrixSelector,
    share: Option<Matcher>,
    opts: &IncrementalOptions,
) -> Option<WindowState<F>> {
    let layout = Layout::new(
        sel.range,
        opts.buckets,
        levels_for::<F::Piece>(opts.buckets),
    )?;
    Some(WindowState::new(
        sel.selector.matchers.clone(),
        share,
        layout,
        opts.late_horizon,
    ))
}

impl IncrementalQuery {
    /// Parses `query` and finds its incremental windows.
    pub fn new(query: &str, opts: IncrementalOptions) -> Result<IncrementalQuery> {
        Ok(IncrementalQuery::from_expr(
            strata_query::parser::parse(query)?,
            opts,
        ))
    }

    /// Finds the incremental windows of a parsed expression.
    pub fn from_expr(expr: Expr, opts: IncrementalOptions) -> IncrementalQuery {
        let mut calls = Vec::new();
        eligible_calls(&expr, &opts, &mut calls);
        // Distinct windows by (kind, selector), to find those that can share reads.
        let mut keys: Vec<(Kind, &MatrixSelector)> = Vec::new();
        for (f, sel) in &calls {
            if !keys.iter().any(|(k, s)| *k == f.kind() && *s == sel) {
                keys.push((f.kind(), sel));
            }
        }
        let keys: Vec<(Kind, MatrixSelector)> =
            keys.into_iter().map(|(k, s)| (k, s.clone())).collect();
        let mut windows: Vec<Window> = Vec::new();
        for (f, sel) in calls {
            if let Some(w) = windows
                .iter_mut()
                .find(|w| w.sel == sel && kind_of(&w.state) == f.kind())
            {
                match w.funcs.iter_mut().find(|(g, _)| *g == f) {
                    Some((_, n)) => *n += 1,
                    None => w.funcs.push((f, 1)),
                }
                continue;
            }
            let share = share_key(&sel, f.kind(), &keys);
            let state = match f.kind() {
                Kind::Rate => new_state(&sel, share, &opts).map(AnyState::Rate),
                Kind::Sum => new_state(&sel, share, &opts).map(AnyState::Sum),
                Kind::Count => new_state(&sel, share, &opts).map(AnyState::Count),
                Kind::Min => new_state(&sel, share, &opts).map(AnyState::Min),
                Kind::Max => new_state(&sel, share, &opts).map(AnyState::Max),
            };
            if let Some(state) = state {
                windows.push(Window {
                    sel,
                    funcs: vec![(f, 1)],
                    state,
                });
            }
        }
        IncrementalQuery {
            expr,
            windows,
            opts,
            served: 0,
            selects: 0,
            history: None,
        }
    }

    /// The expression.
    pub fn expr(&self) -> &Expr {
        &self.expr
    }

    /// The calls kept incrementally, as PromQL (`rate(x[30d])`), in expression order.
    pub fn incremental_calls(&self) -> Vec<String> {
        let mut out = Vec::new();
        for w in &self.windows {
            for (f, _) in &w.funcs {
                out.push(format!(
                    "{}({})",
                    f.name(),
                    Expr::MatrixSelector(w.sel.clone())
                ));
            }
        }
        out
    }

    /// Evaluates the expression at `t` (ms): the value, annotations and statistics of
    /// [`Engine::instant_expr`] at `t`. Times should not decrease between calls; if one
    /// does, or jumps by more than half a window, that window is rebuilt from storage.
    ///
    /// One difference by design: the incremental calls do not load their windows, so the
    /// engine's `max_samples` limit, which a full evaluation of a 30-day window over many
    /// series can exceed, only counts their output points.
    pub fn eval(&mut self, engine: &Engine, t: i64) -> Result<QueryResult> {
        // Out-of-order samples and deletes change data the state already folded in: start
        // over from storage. Read before storage, so a change made while this evaluation
        // reads is caught by the next one.
        let history = engine.db().history_generation();
        if self.history.is_some_and(|h| h != history) {
            self.reset();
        }
        self.history = Some(history);
        let mut hook = Precomputed {
            t,
            entries: Vec::new(),
            served: Cell::new(0),
        };
        let mut reader = Reader::new(engine.db());
        for w in &mut self.windows {
            let Some(end) = window_end(&w.sel, t) else {
                continue;
            };
            let funcs: Vec<Func> = w.funcs.iter().map(|(f, _)| *f).collect();
            let results = eval_state(&mut w.state, &mut reader, end, &funcs)?;
            for ((f, uses), series) in w.funcs.iter().zip(results) {
                hook.entries.push(Entry {
                    func: f.name(),
                    sel: &w.sel,
                    series: RefCell::new(Some(series)),
                    remaining: Cell::new(*uses),
                });
            }
        }
        self.selects += reader.selects;
        let r = engine.instant_expr_with_hook(&self.expr, t, &self.opts.query, Some(&hook));
        self.served += hook.served.get();
        r
    }

    /// Memory and work counters of all windows.
    pub fn stats(&self) -> WindowStats {
        let mut st = WindowStats {
            served: self.served,
            selects: self.selects,
            ..WindowStats::default()
        };
        for w in &self.windows {
            let (series, bytes, max, c): (usize, usize, usize, Counters) = with_state!(
                &w.state,
                s => (s.num_series(), s.bytes(), s.max_series_bytes(), s.counters())
            );
            st.windows += 1;
            st.series += series;
            st.bytes += bytes;
            st.max_series_bytes = st.max_series_bytes.max(max);
            st.evaluations += c.evaluations;
            st.builds += c.builds;
            st.aggregated += c.aggregated;
            st.replayed += c.replayed;
            st.samples_read += c.samples_read;
        }
        st
    }

    /// Forgets all window state; the next evaluation rebuilds it from storage.
    pub fn reset(&mut self) {
        for w in &mut self.windows {
            with_state!(&mut w.state, s => s.clear());
        }
    }
}

fn kind_of(s: &AnyState) -> Kind {
    match s {
        AnyState::Rate(_) => Kind::Rate,
        AnyState::Sum(_) => Kind::Sum,
        AnyState::Count(_) => Kind::Count,
        AnyState::Min(_) => Kind::Min,
        AnyState::Max(_) => Kind::Max,
    }
}

fn eval_state(
    s: &mut AnyState,
    reader: &mut Reader<'_>,
    end: i64,
    funcs: &[Func],
) -> Result<Vec<HookedSeries>> {
    with_state!(s, s => s.eval(reader, end, funcs))
}

/// The `__name__` equality matcher of `sel`, if another window in `keys` of the same kind,
/// range and offset has the same one: the two then share their storage reads.
fn share_key(sel: &MatrixSelector, kind: Kind, keys: &[(Kind, MatrixSelector)]) -> Option<Matcher> {
    let name = |s: &MatrixSelector| {
        s.selector
            .matchers
            .iter()
            .find(|m| m.name == METRIC_NAME && m.op == strata_engine::MatchOp::Equal)
            .cloned()
    };
    let mine = name(sel)?;
    let others = keys
        .iter()
        .filter(|(k, s)| {
            *k == kind
                && s != sel
                && s.range == sel.range
                && s.selector.offset == sel.selector.offset
                && name(s).as_ref() == Some(&mine)
        })
        .count();
    (others > 0).then_some(mine)
}

/// The window end `t - offset`, if it and the window start are far from overflow.
fn window_end(sel: &MatrixSelector, t: i64) -> Option<i64> {
    const LIMIT: i64 = 1 << 61;
    let end = t.checked_sub(sel.selector.offset)?;
    (end.abs() < LIMIT && sel.range < LIMIT).then_some(end)
}

/// Collects the eligible `f(selector[range])` calls of `e` in evaluation order.
fn eligible_calls(e: &Expr, opts: &IncrementalOptions, out: &mut Vec<(Func, MatrixSelector)>) {
    match e {
        Expr::Number(_) | Expr::String(_) | Expr::VectorSelector(_) | Expr::MatrixSelector(_) => {}
        // Inner expressions of subqueries run at other times: left to the evaluator.
        Expr::Subquery(_) => {}
        Expr::Paren(x) | Expr::Unary(_, x) => eligible_calls(x, opts, out),
        Expr::Binary(b) => {
            eligible_calls(&b.lhs, opts, out);
            eligible_calls(&b.rhs, opts, out);
        }
        Expr::Aggregate(a) => {
            if let Some(p) = &a.param {
                eligible_calls(p, opts, out);
            }
            eligible_calls(&a.expr, opts, out);
        }
        Expr::Call(c) => {
            if let (Some(f), [arg]) = (Func::from_name(c.func.name()), c.args.as_slice()) {
                if let Expr::MatrixSelector(ms) = arg.unparen() {
                    let vs = &ms.selector;
                    if ms.range >= opts.min_range
                        && vs.at.is_none()
                        && !vs.matchers.iter().all(|m| m.matches_empty())
                    {
                        out.push((f, ms.clone()));
                    }
                    return;
                }
            }
            for a in &c.args {
                eligible_calls(a, opts, out);
            }
        }
    }
}

/// One precomputed call result.
struct Entry<'a> {
    func: &'static str,
    sel: &'a MatrixSelector,
    series: RefCell<Option<HookedSeries>>,
    /// Occurrences of the call in the expression not yet served: the last one takes the
    /// result instead of cloning it.
    remaining: Cell<usize>,
}

/// The hook handed to the evaluator: answers the precomputed calls at `t` only.
struct Precomputed<'a> {
    t: i64,
    entries: Vec<Entry<'a>>,
    /// Calls answered.
    served: Cell<u64>,
}

impl RangeCallHook for Precomputed<'_> {
    fn range_call(&self, func: &str, sel: &MatrixSelector, t: i64) -> Option<Result<HookedSeries>> {
        if t != self.t {
            return None;
        }
        let entry = self
            .entries
            .iter()
            .find(|e| e.func == func && e.sel == sel)?;
        let left = entry.remaining.get();
        let series = if left > 1 {
            entry.remaining.set(left - 1);
            entry.series.borrow().clone()
        } else {
            entry.remaining.set(0);
            entry.series.borrow_mut().take()
        }?;
        self.served.set(self.served.get() + 1);
        Some(Ok(series))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_can_move_between_threads() {
        fn assert_send<T: Send>() {}
        assert_send::<IncrementalQuery>();
    }

    #[test]
    fn eligible_calls_are_found_and_shared() {
        let q = IncrementalQuery::new(
            "rate(x[1d]) / increase(x[1d]) + rate(x[1d] offset 1h) - sum_over_time(y[2h]) \
             + rate(x[5m]) + avg_over_time((x[1d])) + max_over_time(rate(x[1d])[2h:])",
            IncrementalOptions::default(),
        )
        .unwrap();
        assert_eq!(
            q.incremental_calls(),
            vec![
                "rate(x[1d])",
                "increase(x[1d])",
                "rate(x[1d] offset 1h)",
                "sum_over_time(y[2h])",
                "avg_over_time(x[1d])",
            ]
        );
        // rate and increase of one selector share a window; offset makes another.
        assert_eq!(q.stats().windows, 4);
        assert!(IncrementalQuery::new("sum(", IncrementalOptions::default()).is_err());
    }
}

//! The embedded query API: [`Engine::instant`] and [`Engine::range`] over a [`Db`].
//!
//! A query is parsed, admitted by a counting semaphore (at most
//! [`EngineOptions::max_concurrent`] run at once; others wait until their timeout), then
//! evaluated by [`crate::eval::Evaluator`] over the step grid (one step for an instant
//! query). Results are typed: an analysis job iterates [`Value`] without any JSON.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use strata_engine::{Db, Labels};

use crate::error::{Error, Result};
use crate::eval::{
    add_notes_in, expr_type, Evaluator, RangeCallHook, StepNotes, Steps, Storage, SubqueryCache,
    Val,
};
use crate::parser::ast::{Expr, ValueType};
use crate::result_cache::{cacheable, CacheStats, ResultCache};

/// Engine limits and defaults (Prometheus's defaults).
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// Lookback for instant selectors, ms (5 m).
    pub lookback_delta: i64,
    /// Step of `[range:]` subqueries, ms (1 m).
    pub default_subquery_step: i64,
    /// Maximum samples a query may hold in memory at once (50 M).
    pub max_samples: usize,
    /// Maximum points per series of a range query (11,000).
    pub max_points_per_series: usize,
    /// Query timeout (2 m).
    pub timeout: Duration,
    /// Maximum concurrently running queries (20).
    pub max_concurrent: usize,
    /// Keep `__name__` through the query and drop it at the end, where Prometheus's
    /// `promql-delayed-name-removal` feature would (off by default, as in Prometheus).
    pub delayed_name_removal: bool,
    /// When range functions read chunk summaries instead of decoding whole windows
    /// ([`crate::eval::summary`]); `Auto` by default.
    pub summaries: crate::eval::summary::SummaryMode,
    /// Bytes of range-query results kept for reuse by later range queries
    /// ([`crate::result_cache`]); 0 turns the cache off. Off by default in the library: an
    /// embedding job's one-off queries gain nothing from it and it holds memory the job did
    /// not ask for; the server turns it on (64 MiB by default).
    pub result_cache_bytes: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            lookback_delta: 5 * 60 * 1000,
            default_subquery_step: 60 * 1000,
            max_samples: 50_000_000,
            max_points_per_series: 11_000,
            timeout: Duration::from_secs(120),
            max_concurrent: 20,
            delayed_name_removal: false,
            summaries: crate::eval::summary::SummaryMode::Auto,
            result_cache_bytes: 0,
        }
    }
}

/// Per-query overrides.
#[derive(Clone, Debug, Default)]
pub struct QueryOptions {
    /// Overrides [`EngineOptions::timeout`].
    pub timeout: Option<Duration>,
    /// Overrides [`EngineOptions::lookback_delta`] (ms).
    pub lookback_delta: Option<i64>,
    /// Stops the query with [`Error::Canceled`] once tripped (e.g. its client went away).
    pub cancel: Option<crate::Cancel>,
    /// Evaluates a range query without the result cache (neither reads nor stores it), as
    /// `nocache=1` does on the HTTP API.
    pub no_cache: bool,
}

/// One element of an instant vector.
#[derive(Clone, Debug, PartialEq)]
pub struct InstantSample {
    /// Series labels.
    pub labels: Labels,
    /// Evaluation timestamp, ms.
    pub t: i64,
    /// Value.
    pub v: f64,
}

/// One series of a matrix, stored column-wise.
#[derive(Clone, Debug, PartialEq)]
pub struct RangeSeries {
    /// Series labels.
    pub labels: Labels,
    /// Timestamps, ms, ascending.
    pub timestamps: Vec<i64>,
    /// Values, one per timestamp.
    pub values: Vec<f64>,
}

/// A query result value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A scalar at time `t`.
    Scalar {
        /// ms
        t: i64,
        /// value
        v: f64,
    },
    /// A string at time `t`.
    String {
        /// ms
        t: i64,
        /// value
        s: String,
    },
    /// An instant vector.
    Vector(Vec<InstantSample>),
    /// A range vector (instant query of `x[5m]`) or a range query's result, sorted by labels.
    Matrix(Vec<RangeSeries>),
}

impl Value {
    /// Equality with every float compared by its bit pattern (so NaN equals the same NaN and
    /// `0.0` differs from `-0.0`): what "bit-identical results" means in tests that compare
    /// two evaluations.
    pub fn same_bits(&self, other: &Value) -> bool {
        let f = |a: f64, b: f64| a.to_bits() == b.to_bits();
        match (self, other) {
            (Value::Scalar { t, v }, Value::Scalar { t: u, v: w }) => t == u && f(*v, *w),
            (Value::String { t, s }, Value::String { t: u, s: r }) => t == u && s == r,
            (Value::Vector(x), Value::Vector(y)) => {
                x.len() == y.len()
                    && x.iter()
                        .zip(y)
                        .all(|(p, q)| p.labels == q.labels && p.t == q.t && f(p.v, q.v))
            }
            (Value::Matrix(x), Value::Matrix(y)) => {
                x.len() == y.len()
                    && x.iter().zip(y).all(|(p, q)| {
                        p.labels == q.labels
                            && p.timestamps == q.timestamps
                            && p.values.len() == q.values.len()
                            && p.values.iter().zip(&q.values).all(|(a, b)| f(*a, *b))
                    })
            }
            _ => false,
        }
    }
}

/// Statistics of one query.
#[derive(Clone, Debug, Default)]
pub struct QueryStats {
    /// Samples read from storage.
    pub samples_loaded: u64,
    /// Peak samples held at once.
    pub peak_samples: u64,
}

/// The result of a query with its annotations.
#[derive(Clone, Debug)]
pub struct QueryResult {
    /// The value.
    pub value: Value,
    /// Warning annotations (Prometheus `warnings`).
    pub warnings: Vec<String>,
    /// Info annotations (Prometheus `infos`).
    pub infos: Vec<String>,
    /// Statistics.
    pub stats: QueryStats,
}

/// A PromQL engine over one database.
pub struct Engine {
    db: Arc<Db>,
    opts: EngineOptions,
    gate: Arc<Gate>,
    /// `None` when [`EngineOptions::result_cache_bytes`] is 0.
    cache: Option<ResultCache>,
}

/// Counting semaphore limiting concurrently running queries.
struct Gate {
    running: Mutex<usize>,
    freed: Condvar,
    max: usize,
}

/// A held slot of the [`Gate`]; released on drop.
struct Permit<'a>(&'a Gate);

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut n = self.0.running.lock().unwrap_or_else(|e| e.into_inner());
        *n = n.saturating_sub(1);
        self.0.freed.notify_one();
    }
}

impl Gate {
    fn acquire(&self, deadline: Instant) -> Result<Permit<'_>> {
        let mut n = self.running.lock().unwrap_or_else(|e| e.into_inner());
        while *n >= self.max.max(1) {
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::Timeout("query queue"));
            }
            let (g, _) = self
                .freed
                .wait_timeout(n, deadline - now)
                .unwrap_or_else(|e| e.into_inner());
            n = g;
        }
        *n += 1;
        Ok(Permit(self))
    }
}

/// Formats `n` with thousands separators (`11,000`).
fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// True if the top-level expression defines the order of its instant vector (`sort*`,
/// `topk`, `bottomk`); other instant results are returned sorted by labels.
fn order_matters(e: &Expr) -> bool {
    match e {
        Expr::Paren(x) => order_matters(x),
        Expr::Call(c) => {
            use crate::parser::functions::Func;
            matches!(
                c.func,
                Func::Sort | Func::SortDesc | Func::SortByLabel | Func::SortByLabelDesc
            )
        }
        Expr::Aggregate(a) => matches!(
            a.op,
            crate::parser::ast::AggregateOp::Topk | crate::parser::ast::AggregateOp::Bottomk
        ),
        _ => false,
    }
}

/// Evaluates a parsed expression over a storage, as [`Engine`] does; usable without a
/// [`Db`] (e.g. over a [`crate::eval::MemStorage`]).
pub fn evaluate(
    storage: &dyn Storage,
    expr: &Expr,
    steps: Steps,
    instant: bool,
    opts: &EngineOptions,
    o: &QueryOptions,
) -> Result<QueryResult> {
    evaluate_with_hook(storage, expr, steps, instant, opts, o, None)
}

/// [`evaluate`] with an optional [`RangeCallHook`] that may supply the values of
/// range-function calls (see [`crate::eval::hook`]).
pub fn evaluate_with_hook(
    storage: &dyn Storage,
    expr: &Expr,
    steps: Steps,
    instant: bool,
    opts: &EngineOptions,
    o: &QueryOptions,
    hook: Option<&dyn RangeCallHook>,
) -> Result<QueryResult> {
    evaluate_noted(storage, expr, steps, instant, opts, o, hook, None).map(with_notes)
}

/// The engine's result cache as seen by subqueries ([`SubqueryCache`]).
struct SubqueryResults<'a> {
    cache: &'a ResultCache,
    db: &'a Db,
    opts: &'a EngineOptions,
    /// The query's effective lookback delta.
    lookback: i64,
}

impl SubqueryCache for SubqueryResults<'_> {
    fn range(
        &self,
        expr: &Expr,
        steps: Steps,
        eval: &dyn Fn(Steps) -> Result<(QueryResult, StepNotes)>,
    ) -> Result<QueryResult> {
        crate::result_cache::range(
            self.cache,
            self.db,
            expr,
            steps,
            self.lookback,
            self.opts,
            eval,
        )
    }
}

/// A range query's answer from its per-step series over `steps`: each series' points where
/// it has a value (series without any left out), sorted by labels.
pub(crate) fn range_series(
    series: Vec<crate::eval::StepSeries>,
    steps: &Steps,
) -> Vec<RangeSeries> {
    let mut out: Vec<RangeSeries> = series
        .into_iter()
        .filter_map(|s| {
            let mut timestamps = Vec::new();
            let mut values = Vec::new();
            for (i, v) in s.vals.iter().enumerate() {
                if let Some(v) = v {
                    timestamps.push(steps.t(i));
                    values.push(*v);
                }
            }
            (!timestamps.is_empty()).then_some(RangeSeries {
                labels: s.labels,
                timestamps,
                values,
            })
        })
        .collect();
    out.sort_by(|a, b| a.labels.cmp(&b.labels));
    out
}

/// An answer as the API gives it: the infos tied to steps joined to the others.
pub(crate) fn with_notes((mut r, notes): (QueryResult, StepNotes)) -> QueryResult {
    add_notes_in(&mut r.infos, &notes, i64::MIN, i64::MAX);
    r
}

/// [`evaluate_with_hook`] with the info annotations tied to steps of the query's grid
/// apart ([`Evaluator::info_at`]): they are not in the result's `infos`. Subqueries reuse
/// inner results through `subqueries` when given.
#[allow(clippy::too_many_arguments)]
pub(crate) fn evaluate_noted(
    storage: &dyn Storage,
    expr: &Expr,
    steps: Steps,
    instant: bool,
    opts: &EngineOptions,
    o: &QueryOptions,
    hook: Option<&dyn RangeCallHook>,
    subqueries: Option<&dyn SubqueryCache>,
) -> Result<(QueryResult, StepNotes)> {
    let (start, end) = (steps.start, steps.end);
    let timeout = o.timeout.unwrap_or(opts.timeout);
    let mut ev = Evaluator::new(storage, start, end);
    ev.range_hook = hook;
    ev.subquery_cache = subqueries;
    // As in Prometheus, a zero (or negative) per-query lookback means "use the default".
    ev.lookback = o
        .lookback_delta
        .filter(|&l| l > 0)
        .unwrap_or(opts.lookback_delta);
    ev.default_subquery_step = opts.default_subquery_step;
    ev.max_samples = opts.max_samples;
    ev.stop = crate::cancel::Stop {
        deadline: Instant::now().checked_add(timeout),
        cancel: o.cancel.clone(),
    };
    ev.delayed_name_removal = opts.delayed_name_removal;
    ev.summaries = opts.summaries;
    let v = match ev.eval(expr, &steps)? {
        Val::Vector(vs) => Val::Vector(ev.finish_names(vs)?),
        other => other,
    };
    let value = if instant {
        match v {
            Val::Scalar(s) => Value::Scalar { t: start, v: s[0] },
            Val::String(s) => Value::String { t: start, s },
            Val::Vector(vs) => {
                let mut out: Vec<InstantSample> = vs
                    .into_iter()
                    .filter_map(|s| {
                        s.vals[0].map(|v| InstantSample {
                            labels: s.labels,
                            t: start,
                            v,
                        })
                    })
                    .collect();
                if !order_matters(expr) {
                    out.sort_by(|a, b| a.labels.cmp(&b.labels));
                }
                Value::Vector(out)
            }
            Val::Matrix(m) => {
                let mut out: Vec<RangeSeries> = m
                    .into_iter()
                    .map(|s| RangeSeries {
                        labels: s.labels,
                        timestamps: s.samples.iter().map(|x| x.t).collect(),
                        values: s.samples.iter().map(|x| x.v).collect(),
                    })
                    .collect();
                out.sort_by(|a, b| a.labels.cmp(&b.labels));
                Value::Matrix(out)
            }
        }
    } else {
        let series = match v {
            Val::Scalar(s) => vec![crate::eval::StepSeries::new(
                Labels::empty(),
                s.into_iter().map(Some).collect(),
            )],
            Val::Vector(vs) => vs,
            Val::String(_) | Val::Matrix(_) => {
                return Err(Error::Execution(
                    "invalid expression type for range query, must be Scalar or instant Vector"
                        .to_string(),
                ))
            }
        };
        Value::Matrix(range_series(series, &steps))
    };
    let notes = ev.take_step_infos();
    Ok((
        QueryResult {
            value,
            warnings: ev.warnings.take(),
            infos: ev.infos.take(),
            stats: QueryStats {
                samples_loaded: ev.samples_loaded.get(),
                peak_samples: ev.peak_samples.get(),
            },
        },
        notes,
    ))
}

impl Engine {
    /// An engine with default options.
    pub fn new(db: Arc<Db>) -> Engine {
        Engine::with_options(db, EngineOptions::default())
    }
    /// An engine with the given options.
    pub fn with_options(db: Arc<Db>, opts: EngineOptions) -> Engine {
        let gate = Arc::new(Gate {
            running: Mutex::new(0),
            freed: Condvar::new(),
            max: opts.max_concurrent,
        });
        let cache =
            (opts.result_cache_bytes > 0).then(|| ResultCache::new(opts.result_cache_bytes));
        Engine {
            db,
            opts,
            gate,
            cache,
        }
    }
    /// Counters of the range-query result cache; `None` when it is off.
    pub fn result_cache_stats(&self) -> Option<CacheStats> {
        self.cache.as_ref().map(ResultCache::stats)
    }
    /// The engine's options.
    pub fn options(&self) -> &EngineOptions {
        &self.opts
    }
    /// Evaluates `query` at `t` (ms).
    pub fn instant(&self, query: &str, t: i64) -> Result<QueryResult> {
        self.instant_with(query, t, &QueryOptions::default())
    }
    /// Evaluates `query` at `t` (ms) with per-query options.
    pub fn instant_with(&self, query: &str, t: i64, o: &QueryOptions) -> Result<QueryResult> {
        let expr = crate::parser::parse(query)?;
        self.instant_expr(&expr, t, o)
    }

    /// Evaluates an already parsed expression at `t` (ms): for callers that evaluate the
    /// same expression repeatedly (rules), without parsing it each time.
    pub fn instant_expr(&self, expr: &Expr, t: i64, o: &QueryOptions) -> Result<QueryResult> {
        self.instant_expr_with_hook(expr, t, o, None)
    }

    /// [`Engine::instant_expr`] with a [`RangeCallHook`] that may supply the values of
    /// range-function calls at `t` (incremental rule windows; see [`crate::eval::hook`]).
    pub fn instant_expr_with_hook(
        &self,
        expr: &Expr,
        t: i64,
        o: &QueryOptions,
        hook: Option<&dyn RangeCallHook>,
    ) -> Result<QueryResult> {
        let deadline = self.deadline(o);
        let _permit = self.gate.acquire(deadline)?;
        // A hook's values stand in for evaluations; they are not stored for other queries.
        let subqueries = self.subquery_results(o).filter(|_| hook.is_none());
        evaluate_noted(
            &*self.db,
            expr,
            Steps::instant(t),
            true,
            &self.opts,
            o,
            hook,
            subqueries.as_ref().map(|s| s as &dyn SubqueryCache),
        )
        .map(with_notes)
    }

    /// What a query's subqueries reuse inner results from: the result cache, unless there
    /// is none or the query asked to bypass it.
    fn subquery_results(&self, o: &QueryOptions) -> Option<SubqueryResults<'_>> {
        let cache = self.cache.as_ref().filter(|_| !o.no_cache)?;
        Some(SubqueryResults {
            cache,
            db: &self.db,
            opts: &self.opts,
            lookback: self.lookback(o),
        })
    }

    /// Range query of an already parsed expression.
    pub fn range_expr(
        &self,
        expr: &Expr,
        start: i64,
        end: i64,
        step: i64,
        o: &QueryOptions,
    ) -> Result<QueryResult> {
        check_range(expr, start, end, step, &self.opts)?;
        let deadline = self.deadline(o);
        let _permit = self.gate.acquire(deadline)?;
        let steps = Steps { start, end, step };
        // One timeout for the whole query, however many parts the result cache evaluates.
        let eval_deadline = Instant::now().checked_add(o.timeout.unwrap_or(self.opts.timeout));
        let subqueries = self.subquery_results(o);
        let eval = |steps: Steps| {
            let o = QueryOptions {
                timeout: eval_deadline
                    .map(|d| d.saturating_duration_since(Instant::now()))
                    .or(o.timeout),
                ..o.clone()
            };
            evaluate_noted(
                &*self.db,
                expr,
                steps,
                false,
                &self.opts,
                &o,
                None,
                subqueries.as_ref().map(|s| s as &dyn SubqueryCache),
            )
        };
        match &self.cache {
            Some(cache) if !o.no_cache && cacheable(expr) => {
                let lookback = self.lookback(o);
                crate::result_cache::range(cache, &self.db, expr, steps, lookback, &self.opts, eval)
            }
            _ => eval(steps).map(with_notes),
        }
    }

    /// The answer to a range query when the result cache holds every step of it, without
    /// evaluating anything, waiting for a query slot or checking the timeout (a copy of
    /// cached points); `None` when any step would have to be evaluated (then call
    /// [`Engine::range_expr`]), and for queries that never use the cache. Meant for a
    /// server's request thread: the answer costs about what rendering it costs.
    pub fn cached_range(
        &self,
        expr: &Expr,
        start: i64,
        end: i64,
        step: i64,
        o: &QueryOptions,
    ) -> Option<QueryResult> {
        let cache = self.cache.as_ref()?;
        if o.no_cache
            || !cacheable(expr)
            || check_range(expr, start, end, step, &self.opts).is_err()
        {
            return None;
        }
        let steps = Steps { start, end, step };
        crate::result_cache::whole_hit(cache, &self.db, expr, steps, self.lookback(o), &self.opts)
    }

    /// The lookback delta a query uses: its own if set and positive, else the engine's.
    fn lookback(&self, o: &QueryOptions) -> i64 {
        o.lookback_delta
            .filter(|&l| l > 0)
            .unwrap_or(self.opts.lookback_delta)
    }

    /// The database queried.
    pub fn db(&self) -> &Arc<Db> {
        &self.db
    }

    fn deadline(&self, o: &QueryOptions) -> Instant {
        let timeout = o.timeout.unwrap_or(self.opts.timeout);
        Instant::now()
            .checked_add(timeout)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400 * 365))
    }
    /// Evaluates `query` at `start, start+step, ... <= end` (ms).
    pub fn range(&self, query: &str, start: i64, end: i64, step: i64) -> Result<QueryResult> {
        self.range_with(query, start, end, step, &QueryOptions::default())
    }
    /// Range query with per-query options.
    pub fn range_with(
        &self,
        query: &str,
        start: i64,
        end: i64,
        step: i64,
        o: &QueryOptions,
    ) -> Result<QueryResult> {
        let expr = crate::parser::parse(query)?;
        self.range_expr(&expr, start, end, step, o)
    }
}

/// Validates a range query's grid and result type.
pub fn check_range(
    expr: &Expr,
    start: i64,
    end: i64,
    step: i64,
    opts: &EngineOptions,
) -> Result<()> {
    if step <= 0 {
        return Err(Error::Execution(
            "zero or negative query resolution step widths are not accepted. Try a positive integer"
                .to_string(),
        ));
    }
    if end < start {
        return Err(Error::Execution(
            "end timestamp must not be before start time".to_string(),
        ));
    }
    // Prometheus's check: (end - start) / step may be at most the limit.
    let intervals = end.abs_diff(start) / step as u64;
    if intervals > opts.max_points_per_series as u64 {
        return Err(Error::Execution(format!(
            "exceeded maximum resolution of {} points per timeseries. Try decreasing the query resolution (?step=XX)",
            thousands(opts.max_points_per_series)
        )));
    }
    match expr_type(expr) {
        ValueType::Scalar | ValueType::Vector => Ok(()),
        t => Err(Error::Execution(format!(
            "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
            t.name()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_engine::{Batch, Options, Sample};

    #[test]
    fn same_bits_compares_floats_by_bit_pattern() {
        let l = Labels::from_pairs(&[("a", "b")]).unwrap();
        let v = |x: f64| {
            Value::Vector(vec![InstantSample {
                labels: l.clone(),
                t: 1,
                v: x,
            }])
        };
        assert!(v(f64::NAN).same_bits(&v(f64::NAN)));
        assert!(!v(0.0).same_bits(&v(-0.0)));
        assert!(!v(1.0).same_bits(&Value::Scalar { t: 1, v: 1.0 }));
        let m = |xs: Vec<f64>| {
            Value::Matrix(vec![RangeSeries {
                labels: l.clone(),
                timestamps: (0..xs.len() as i64).collect(),
                values: xs,
            }])
        };
        assert!(m(vec![1.0, f64::NAN]).same_bits(&m(vec![1.0, f64::NAN])));
        assert!(!m(vec![1.0]).same_bits(&m(vec![1.0, 2.0])));
        assert!(Value::Scalar { t: 2, v: 0.5 }.same_bits(&Value::Scalar { t: 2, v: 0.5 }));
    }

    struct TempDir(std::path::PathBuf);
    impl TempDir {
        fn new(name: &str) -> TempDir {
            let p = std::env::temp_dir().join(format!(
                "strata-query-{}-{name}-{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or(0)
            ));
            TempDir(p)
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs).unwrap()
    }

    /// `http_requests_total` for two versions, 15 s scrapes over 10 minutes: v1 gets 1 error
    /// per 10 requests, v2 none.
    fn open_db(dir: &TempDir) -> Arc<Db> {
        let db = Db::open(&dir.0, Options::default()).unwrap();
        let mut batch = Batch::new();
        for (version, status, per_scrape) in [
            ("v1", "200", 9.0),
            ("v1", "500", 1.0),
            ("v2", "200", 10.0),
            ("v2", "500", 0.0),
        ] {
            let samples = (0..=40)
                .map(|i| Sample::new(i * 15_000, i as f64 * per_scrape))
                .collect();
            batch.push(
                labels(&[
                    ("__name__", "http_requests_total"),
                    ("status", status),
                    ("version", version),
                ]),
                samples,
            );
        }
        db.append(&batch).unwrap();
        Arc::new(db)
    }

    const RATIO: &str = r#"sum by (version) (rate(http_requests_total{status=~"5.."}[5m])) / sum by (version) (rate(http_requests_total[5m]))"#;

    #[test]
    fn instant_error_ratio_over_db() {
        let dir = TempDir::new("ratio");
        let engine = Engine::new(open_db(&dir));
        let r = engine.instant(RATIO, 600_000).unwrap();
        let Value::Vector(mut v) = r.value else {
            panic!("expected a vector, got {:?}", r.value)
        };
        v.sort_by(|a, b| a.labels.cmp(&b.labels));
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].labels, labels(&[("version", "v1")]));
        assert!((v[0].v - 0.1).abs() < 1e-12, "{}", v[0].v);
        assert_eq!(v[1].v, 0.0);
        assert_eq!(v[0].t, 600_000);
        assert!(r.stats.samples_loaded > 0);
    }

    #[test]
    fn range_matches_instant_at_every_step() {
        let dir = TempDir::new("range");
        let engine = Engine::new(open_db(&dir));
        let q = "sum by (status) (increase(http_requests_total[2m]))";
        let r = engine.range(q, 0, 600_000, 30_000).unwrap();
        let Value::Matrix(m) = r.value else {
            panic!("expected a matrix")
        };
        assert_eq!(m.len(), 2);
        for s in &m {
            for (t, v) in s.timestamps.iter().zip(&s.values) {
                let Value::Vector(inst) = engine.instant(q, *t).unwrap().value else {
                    panic!("expected a vector")
                };
                let got = inst.iter().find(|x| x.labels == s.labels).map(|x| x.v);
                assert_eq!(got, Some(*v), "at {t}");
            }
        }
    }

    #[test]
    fn scalar_range_query_is_one_unlabelled_series() {
        let dir = TempDir::new("scalar");
        let engine = Engine::new(open_db(&dir));
        let r = engine.range("time()", 0, 120_000, 60_000).unwrap();
        assert_eq!(
            r.value,
            Value::Matrix(vec![RangeSeries {
                labels: Labels::empty(),
                timestamps: vec![0, 60_000, 120_000],
                values: vec![0.0, 60.0, 120.0],
            }])
        );
        let r = engine.instant("1 + 2", 5_000).unwrap();
        assert_eq!(r.value, Value::Scalar { t: 5_000, v: 3.0 });
        let r = engine.instant(r#""text""#, 5_000).unwrap();
        assert_eq!(
            r.value,
            Value::String {
                t: 5_000,
                s: "text".into()
            }
        );
    }

    #[test]
    fn instant_range_vector_result_is_matrix() {
        let dir = TempDir::new("matrix");
        let engine = Engine::new(open_db(&dir));
        let r = engine
            .instant(
                r#"http_requests_total{version="v1",status="500"}[1m]"#,
                600_000,
            )
            .unwrap();
        let Value::Matrix(m) = r.value else {
            panic!("expected a matrix")
        };
        // Left-open (540s, 600s]: 555, 570, 585, 600.
        assert_eq!(m[0].timestamps, vec![555_000, 570_000, 585_000, 600_000]);
    }

    #[test]
    fn limits_give_typed_errors() {
        let dir = TempDir::new("limits");
        let db = open_db(&dir);
        let engine = Engine::with_options(
            db.clone(),
            EngineOptions {
                max_samples: 10,
                ..EngineOptions::default()
            },
        );
        let err = engine
            .instant("http_requests_total[10m]", 600_000)
            .unwrap_err();
        assert!(matches!(err, Error::TooManySamples(_)), "{err}");
        assert_eq!(
            err.to_string(),
            "query processing would load too many samples into memory in query execution"
        );

        let engine = Engine::new(db.clone());
        let err = engine
            .range("http_requests_total", 0, 11_001, 1)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"
        );
        let err = engine
            .range("http_requests_total[5m]", 0, 10, 1)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid expression type \"range vector\" for range query, must be Scalar or instant Vector"
        );
        assert!(engine.range("http_requests_total", 0, 11_000, 1).is_ok());
        let err = engine.range("up", 0, 10, 0).unwrap_err();
        assert!(matches!(err, Error::Execution(_)));

        let o = QueryOptions {
            timeout: Some(Duration::ZERO),
            ..QueryOptions::default()
        };
        let err = engine
            .instant_with("sum(rate(http_requests_total[5m]))", 600_000, &o)
            .unwrap_err();
        assert!(matches!(err, Error::Timeout(_)), "{err}");

        let err = engine.instant("sum(", 0).unwrap_err();
        assert!(matches!(err, Error::Parse { .. }));
    }

    /// `series` series `m{id="<i>"}`, each with samples `j` at `j` seconds for `j` in
    /// `0..per`.
    fn counters_m(dir: &TempDir, series: usize, per: i64) -> Arc<Db> {
        let db = Db::open(&dir.0, Options::default()).unwrap();
        let mut batch = Batch::new();
        for i in 0..series {
            let id = i.to_string();
            let samples = (0..per).map(|j| Sample::new(j * 1_000, j as f64)).collect();
            batch.push(labels(&[("__name__", "m"), ("id", id.as_str())]), samples);
        }
        db.append(&batch).unwrap();
        Arc::new(db)
    }

    /// `count_over_time` over a selection about 30 times the sample limit: it answers,
    /// holding at most the limit at once (series are streamed, one per worker), and a limit
    /// below one series' samples fails with Prometheus's error instead of loading anything.
    /// On the full decode: with chunk summaries (which sealed head chunks have too) the
    /// chunks inside the window are not loaded at all.
    #[test]
    fn count_over_time_streams_far_more_samples_than_the_limit() {
        let dir = TempDir::new("memory");
        let (series, per) = (300usize, 1_000i64);
        let db = counters_m(&dir, series, per);
        let limit = 10_000usize;
        let engine = Engine::with_options(
            db.clone(),
            EngineOptions {
                max_samples: limit,
                summaries: crate::eval::summary::SummaryMode::Never,
                ..EngineOptions::default()
            },
        );
        let q = "count_over_time(m[1001s])";
        let r = engine.instant(q, per * 1_000).unwrap();
        let Value::Vector(v) = r.value else {
            panic!("expected a vector")
        };
        assert_eq!(v.len(), series);
        assert!(v.iter().all(|s| s.v == per as f64), "{:?}", v[0]);
        assert_eq!(r.stats.samples_loaded, (series as i64 * per) as u64);
        assert!(
            r.stats.peak_samples as usize <= limit,
            "held {} samples at once, limit {limit}",
            r.stats.peak_samples
        );
        let small = Engine::with_options(
            db,
            EngineOptions {
                max_samples: 500,
                summaries: crate::eval::summary::SummaryMode::Never,
                ..EngineOptions::default()
            },
        );
        let err = small.instant(q, per * 1_000).unwrap_err();
        assert!(matches!(err, Error::TooManySamples(_)), "{err}");
    }

    /// A subquery's inner points count against the limit once: as points while they are
    /// computed, then as the samples they become (not both), so a subquery holding fewer
    /// points than the limit answers, and one holding more fails with the limit error.
    #[test]
    fn subquery_points_count_once_against_the_limit() {
        let dir = TempDir::new("subquery-limit");
        let (series, per) = (4usize, 1_000i64);
        let db = counters_m(&dir, series, per);
        // Without and with the result cache (which computes the inner points in parts).
        for cache in [0, 64 << 20] {
            let engine = |limit: usize| {
                Engine::with_options(
                    db.clone(),
                    EngineOptions {
                        max_samples: limit,
                        result_cache_bytes: cache,
                        ..EngineOptions::default()
                    },
                )
            };
            // 1,000 inner steps x 4 series: 4,000 points; counted twice, 8,000.
            let q = "max_over_time(m[1000s:1s])";
            let limit = 6_000;
            let r = engine(limit).instant(q, per * 1_000).unwrap();
            let Value::Vector(v) = r.value else {
                panic!("expected a vector")
            };
            assert_eq!(v.len(), series);
            assert!(v.iter().all(|s| s.v == (per - 1) as f64), "{:?}", v[0]);
            assert!(
                r.stats.peak_samples as usize <= limit,
                "cache {cache}: held {} samples at once, limit {limit}",
                r.stats.peak_samples
            );
            let err = engine(3_000).instant(q, per * 1_000).unwrap_err();
            assert!(
                matches!(err, Error::TooManySamples(_)),
                "cache {cache}: {err}"
            );
        }
    }

    #[test]
    fn semaphore_limits_concurrency() {
        let gate = Gate {
            running: Mutex::new(0),
            freed: Condvar::new(),
            max: 1,
        };
        let p = gate
            .acquire(Instant::now() + Duration::from_secs(5))
            .unwrap();
        // Full: a second query waits until its deadline, then times out in the queue.
        let err = gate.acquire(Instant::now()).err().unwrap();
        assert!(matches!(err, Error::Timeout("query queue")));
        drop(p);
        assert!(gate.acquire(Instant::now()).is_ok());
        // A waiter is woken when a permit is released.
        let gate = Arc::new(gate);
        let held = gate
            .acquire(Instant::now() + Duration::from_secs(5))
            .unwrap();
        let g2 = gate.clone();
        let t = std::thread::spawn(move || {
            g2.acquire(Instant::now() + Duration::from_secs(30))
                .map(|_| ())
        });
        drop(held);
        assert!(t.join().unwrap().is_ok());
    }

    #[test]
    fn engine_is_shareable_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Engine>();
        assert_send_sync::<QueryResult>();
    }

    #[test]
    fn concurrent_queries_share_one_engine() {
        let dir = TempDir::new("threads");
        let engine = Arc::new(Engine::with_options(
            open_db(&dir),
            EngineOptions {
                max_concurrent: 2,
                ..EngineOptions::default()
            },
        ));
        let want = engine.instant(RATIO, 600_000).unwrap().value;
        let handles: Vec<_> = (0..6)
            .map(|_| {
                let e = engine.clone();
                std::thread::spawn(move || e.instant(RATIO, 600_000).map(|r| r.value))
            })
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap().unwrap(), want);
        }
    }

    #[test]
    fn per_query_lookback() {
        let dir = TempDir::new("lookback");
        let engine = Engine::new(open_db(&dir));
        // Last sample at 600s; at 700s it is visible with the default 5m lookback only.
        let q = r#"http_requests_total{version="v1",status="200"}"#;
        let o = QueryOptions {
            lookback_delta: Some(60_000),
            ..QueryOptions::default()
        };
        let Value::Vector(v) = engine.instant_with(q, 700_000, &o).unwrap().value else {
            panic!("vector expected")
        };
        assert!(v.is_empty());
        let Value::Vector(v) = engine.instant(q, 700_000).unwrap().value else {
            panic!("vector expected")
        };
        assert_eq!(v.len(), 1);
    }

    #[test]
    fn thousands_separator() {
        assert_eq!(thousands(11_000), "11,000");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}

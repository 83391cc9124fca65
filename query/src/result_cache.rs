//! The range-query result cache: per-series step values of range queries over data that can
//! no longer change, reused by later range queries on the same grid.
//!
//! What an entry is: for one key (the canonical printed expression, the step, the grid's
//! phase `start mod step`, the effective lookback delta, and the engine options that change
//! results: default subquery step, delayed name removal, summary mode), the result of the
//! steps `[start, end]` (grid points), computed while [`Db::data_epoch`] read `epoch`, with
//! `end` at or before [`Db::stable_before`] as read right after that epoch. Series are kept
//! sorted by labels with only their points inside `[start, end]`.
//!
//! Invariants (why a cached step is exact):
//! * the value at a step `T` of a cacheable expression depends only on data at or before
//!   `T` (see [`cacheable`]) and on `T` itself, not on the rest of the grid: selectors look
//!   back from `T`, subqueries step on absolute multiples of their step, binary operators
//!   match per step, and no function reads the query's start or end;
//! * every stored step is at or before the stable bound read after the epoch, so while the
//!   epoch is unchanged no data it depends on has changed (the engine's `db/epoch.rs`);
//! * an entry whose epoch is not the current one is never used (it is dropped when found).
//!
//! Subqueries use the same entries: a subquery steps on absolute multiples of its step, so
//! its inner expression's values at those steps are those of a range query of that
//! expression on the same grid (same key, lookback and options), and an instant query with
//! a subquery, repeated as a dashboard refreshes, evaluates only the inner steps the cache
//! lacks ([`crate::eval::SubqueryCache`]; the hit and miss counters count these lookups too).
//!
//! A request reuses the steps of its key's entry that it covers, evaluates only the steps
//! before and after them (the ordinary evaluator, so `max_samples` applies to those parts and
//! the request grid was checked against `max_points_per_series` as usual), merges the parts
//! per series by labels (a series may be present in only some parts) and stores the grown
//! entry, trimmed to at most `max_points_per_series` steps (its oldest steps go first). The
//! parts share the query's one timeout and cancellation token; `QueryStats` counts what the
//! parts loaded (a whole hit loads nothing).
//! Results with warnings or infos are returned but never stored, so an entry never stands
//! for steps whose evaluation annotated something; a part evaluated later may still add its
//! own annotations to an answer that also uses cached steps. The one exception is an info
//! raised at a known step of the query's own grid ([`crate::eval::Evaluator::info_at`]:
//! `histogram_quantile`'s monotonicity fix outside subqueries, which dashboards over
//! `rate(..._bucket)` raise all the time): the entry keeps it with the times of the steps
//! that raised it, and an answer carries it when it uses one of those steps.
//!
//! Known gap: a block found damaged by a read makes uncached queries over it fail at once,
//! while cached steps that read it before the damage was found are served until the
//! maintenance pass moves the block aside (which bumps the epoch).
//!
//! Not cacheable ([`cacheable`]): any `@` modifier (its time does not move with the step,
//! and `@ end()` / a future timestamp reads data after the step) and any negative `offset`
//! (reads data after the step), anywhere in the expression, including inside subqueries.
//!
//! Floating point: a cached step is bit-identical to evaluating that step again over the
//! same grid path. With [`crate::eval::summary::SummaryMode::Auto`] the evaluator picks the
//! summary or the full-decode path per series from a cost estimate that depends on the
//! number of steps evaluated, so for non-integer data a step evaluated in a shorter part may
//! differ from a whole-grid evaluation within the bound documented in
//! [`crate::eval::summary`], exactly as two uncached queries with different grids already
//! may; integer-valued data (counters, bucket counts) is bit-identical on both paths.
//!
//! Memory: entries are bounded in bytes (an estimate of their heap size, labels included);
//! when an insertion passes the bound, the least recently used entries are evicted. Points
//! are stored without timestamps (they are the key's grid points, kept as runs of steps)
//! and as `f32` where every value of the series survives that round trip bit for bit, so
//! a `count_over_time` of every bucket series over a day at 60 s (1.8 M points) takes about
//! 7 MB. An entry larger than a quarter of the bound is not stored.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use strata_engine::{Db, Labels};

use crate::engine::{EngineOptions, QueryResult, QueryStats, RangeSeries, Value};
use crate::error::Result;
use crate::eval::summary::SummaryMode;
use crate::eval::{add_notes_in, StepNotes, Steps};
use crate::parser::ast::{AtModifier, Expr};

/// Counters of a [`ResultCache`], for `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Range queries that reused cached steps (fully or partly).
    pub hits: u64,
    /// Cacheable range queries that found no usable entry.
    pub misses: u64,
    /// Estimated bytes held by entries.
    pub bytes: u64,
    /// Entries held.
    pub entries: u64,
}

/// What identifies an entry.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    expr: String,
    step: i64,
    phase: i64,
    lookback: i64,
    subquery_step: i64,
    delayed_name_removal: bool,
    summaries: u8,
}

struct Entry {
    epoch: u64,
    start: i64,
    end: i64,
    series: Arc<Vec<Packed>>,
    /// Info annotations of the stored steps, with the steps that raised them.
    notes: Arc<StepNotes>,
    bytes: usize,
    tick: u64,
}

/// One cached series: its points are on the key's grid from the entry's start, so only
/// which steps hold a value and the values are kept (no timestamps); values that survive a
/// round trip through `f32` bit for bit (counts, small integers) take 4 bytes each.
#[derive(Debug)]
struct Packed {
    labels: Labels,
    /// Runs of consecutive steps holding a value: (index of the first step from the
    /// entry's start, number of steps).
    runs: Vec<(u32, u32)>,
    values: PackedValues,
}

#[derive(Debug)]
enum PackedValues {
    F32(Vec<f32>),
    F64(Vec<f64>),
}

impl Packed {
    /// `s`'s points inside `[lo, hi]` on the grid `lo + k * step`, or `None` if a point
    /// is off that grid (never for a range result of the key; such a result is not
    /// stored). An empty result (`Some` with no runs) is dropped by the caller.
    fn pack(s: &RangeSeries, step: i64, lo: i64, hi: i64) -> Option<Packed> {
        let a = s.timestamps.partition_point(|&t| t < lo);
        let b = s.timestamps.partition_point(|&t| t <= hi);
        let (ts, vs) = (&s.timestamps[a..b], &s.values[a..b]);
        let mut runs: Vec<(u32, u32)> = Vec::new();
        for &t in ts {
            let d = t.checked_sub(lo)?;
            if d < 0 || d % step != 0 {
                return None;
            }
            let k = u32::try_from(d / step).ok()?;
            match runs.last_mut() {
                Some((first, n)) if *first + *n == k => *n += 1,
                Some((first, n)) if *first + *n > k => return None,
                _ => runs.push((k, 1)),
            }
        }
        let exact_f32 = vs
            .iter()
            .all(|&v| f64::from(v as f32).to_bits() == v.to_bits());
        let values = if exact_f32 {
            PackedValues::F32(vs.iter().map(|&v| v as f32).collect())
        } else {
            PackedValues::F64(vs.to_vec())
        };
        Some(Packed {
            labels: s.labels.clone(),
            runs,
            values,
        })
    }

    /// Estimated heap bytes.
    fn bytes(&self) -> usize {
        let labels: usize = self
            .labels
            .iter()
            .map(|l| l.name.len() + l.value.len() + 2 * 16 + 32)
            .sum();
        let values = match &self.values {
            PackedValues::F32(v) => 4 * v.len(),
            PackedValues::F64(v) => 8 * v.len(),
        };
        std::mem::size_of::<Packed>() + labels + 8 * self.runs.len() + values
    }

    /// Appends the points inside `[lo, hi]` of a series packed on the grid
    /// `start + k * step`.
    fn append(
        &self,
        start: i64,
        step: i64,
        lo: i64,
        hi: i64,
        ts: &mut Vec<i64>,
        vs: &mut Vec<f64>,
    ) {
        let mut at = 0usize;
        for &(first, n) in &self.runs {
            let i0 = at;
            at += n as usize;
            let t0 = start + i64::from(first) * step;
            let t1 = t0 + (i64::from(n) - 1) * step;
            if t1 < lo || t0 > hi {
                continue;
            }
            // Steps of the run inside [lo, hi].
            let skip = if lo > t0 {
                (lo - t0 + step - 1) / step
            } else {
                0
            } as usize;
            let last = if hi < t1 {
                (hi - t0) / step
            } else {
                i64::from(n) - 1
            } as usize;
            if skip > last {
                continue;
            }
            ts.extend((skip..=last).map(|k| t0 + k as i64 * step));
            match &self.values {
                PackedValues::F32(v) => {
                    vs.extend(v[i0 + skip..=i0 + last].iter().map(|&x| f64::from(x)))
                }
                PackedValues::F64(v) => vs.extend_from_slice(&v[i0 + skip..=i0 + last]),
            }
        }
    }
}

#[derive(Default)]
struct State {
    map: HashMap<Key, Entry>,
    /// Entries by last use (tick), oldest first.
    lru: BTreeMap<u64, Key>,
    bytes: usize,
    tick: u64,
}

impl State {
    fn remove(&mut self, key: &Key) {
        if let Some(e) = self.map.remove(key) {
            self.lru.remove(&e.tick);
            self.bytes -= e.bytes;
        }
    }
}

/// A bounded cache of range-query results (see the module docs). `Send + Sync`.
pub struct ResultCache {
    max_bytes: usize,
    state: Mutex<State>,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// An entry's contents, taken out of the cache.
struct Cached {
    start: i64,
    end: i64,
    /// The key's step: the entry's points are at `start + k * step`.
    step: i64,
    series: Arc<Vec<Packed>>,
    notes: Arc<StepNotes>,
}

impl ResultCache {
    /// A cache holding at most about `max_bytes` bytes of results.
    pub fn new(max_bytes: usize) -> ResultCache {
        ResultCache {
            max_bytes,
            state: Mutex::new(State::default()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Current counters.
    pub fn stats(&self) -> CacheStats {
        let st = self.lock();
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            bytes: st.bytes as u64,
            entries: st.map.len() as u64,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The entry for `key` if it was computed under `epoch` (an entry of another epoch is
    /// dropped); marks it used.
    fn lookup(&self, key: &Key, epoch: u64) -> Option<Cached> {
        let mut st = self.lock();
        let valid = st.map.get(key).map(|e| e.epoch == epoch)?;
        if !valid {
            st.remove(key);
            return None;
        }
        st.tick += 1;
        let tick = st.tick;
        let e = st.map.get_mut(key).expect("entry checked above");
        let old = std::mem::replace(&mut e.tick, tick);
        let c = Cached {
            start: e.start,
            end: e.end,
            step: key.step,
            series: e.series.clone(),
            notes: e.notes.clone(),
        };
        st.lru.remove(&old);
        st.lru.insert(tick, key.clone());
        Some(c)
    }

    /// Stores the points of `parts` (as [`merge_each`] joins them) inside `[lo, hi]` as the
    /// entry of `key`, replacing the key's entry unless that one is of a later epoch, then evicts
    /// least recently used entries down to the bound. An entry larger than a quarter of
    /// the bound is not stored (packing stops as soon as it passes that), nor one with a
    /// point off the key's grid.
    fn store(
        &self,
        key: Key,
        epoch: u64,
        (lo, hi): (i64, i64),
        parts: &[(Part<'_>, i64, i64)],
        notes: StepNotes,
    ) {
        let limit = self.max_bytes / 4;
        let notes_bytes: usize = notes
            .iter()
            .map(|(m, ts)| m.len() + 8 * ts.len() + 48)
            .sum();
        let mut bytes = key.expr.len() + 128 + notes_bytes;
        if bytes > limit {
            return;
        }
        let mut packed = Vec::new();
        let mut stored = true;
        merge_each(parts, |s| {
            let Some(p) = Packed::pack(&s, key.step, lo, hi) else {
                stored = false;
                return false;
            };
            if !p.runs.is_empty() {
                bytes += p.bytes();
                packed.push(p);
            }
            stored = bytes <= limit;
            stored
        });
        if !stored {
            return;
        }
        let mut st = self.lock();
        if st.map.get(&key).is_some_and(|e| e.epoch > epoch) {
            return;
        }
        st.remove(&key);
        st.tick += 1;
        let tick = st.tick;
        st.lru.insert(tick, key.clone());
        st.bytes += bytes;
        st.map.insert(
            key,
            Entry {
                epoch,
                start: lo,
                end: hi,
                series: Arc::new(packed),
                notes: Arc::new(notes),
                bytes,
                tick,
            },
        );
        while st.bytes > self.max_bytes {
            let Some((_, k)) = st.lru.pop_first() else {
                break;
            };
            if let Some(e) = st.map.remove(&k) {
                st.bytes -= e.bytes;
            }
        }
    }
}

/// True if every step's value of `e` depends only on data at or before the step's time and
/// on that time: no `@` modifier and no negative `offset` anywhere.
pub fn cacheable(e: &Expr) -> bool {
    fn at_ok(at: &Option<AtModifier>) -> bool {
        at.is_none()
    }
    match e {
        Expr::Number(_) | Expr::String(_) => true,
        Expr::VectorSelector(v) => at_ok(&v.at) && v.offset >= 0,
        Expr::MatrixSelector(m) => at_ok(&m.selector.at) && m.selector.offset >= 0,
        Expr::Subquery(s) => at_ok(&s.at) && s.offset >= 0 && cacheable(&s.expr),
        Expr::Paren(x) | Expr::Unary(_, x) => cacheable(x),
        Expr::Binary(b) => cacheable(&b.lhs) && cacheable(&b.rhs),
        Expr::Aggregate(a) => a.param.as_deref().is_none_or(cacheable) && cacheable(&a.expr),
        Expr::Call(c) => c.args.iter().all(cacheable),
    }
}

fn summary_code(m: SummaryMode) -> u8 {
    match m {
        SummaryMode::Auto => 0,
        SummaryMode::Always => 1,
        SummaryMode::Never => 2,
    }
}

/// The matrix of a range query's result.
fn matrix(v: Value) -> Vec<RangeSeries> {
    match v {
        Value::Matrix(m) => m,
        // Range results are always matrices; anything else carries no series.
        _ => Vec::new(),
    }
}

/// One input of [`merge`]: computed series, or a cache entry's packed series.
#[derive(Clone, Copy)]
enum Part<'a> {
    Plain(&'a [RangeSeries]),
    Packed(&'a Cached),
}

impl Part<'_> {
    fn len(&self) -> usize {
        match self {
            Part::Plain(s) => s.len(),
            Part::Packed(c) => c.series.len(),
        }
    }

    fn labels(&self, i: usize) -> &Labels {
        match self {
            Part::Plain(s) => &s[i].labels,
            Part::Packed(c) => &c.series[i].labels,
        }
    }

    /// Appends series `i`'s points inside `[lo, hi]`.
    fn append(&self, i: usize, lo: i64, hi: i64, ts: &mut Vec<i64>, vs: &mut Vec<f64>) {
        match self {
            Part::Plain(s) => {
                let s = &s[i];
                let a = s.timestamps.partition_point(|&t| t < lo);
                let b = s.timestamps.partition_point(|&t| t <= hi).max(a);
                ts.extend_from_slice(&s.timestamps[a..b]);
                vs.extend_from_slice(&s.values[a..b]);
            }
            Part::Packed(c) => c.series[i].append(c.start, c.step, lo, hi, ts, vs),
        }
    }
}

/// Calls `emit` with the points of `parts` (each sorted by labels, parts in time order)
/// inside each part's `[lo, hi]`, merged per series by labels, one series at a time in
/// label order (a k-way merge: nothing but the series being emitted is built); series
/// without points are skipped. Stops early when `emit` returns false.
fn merge_each(parts: &[(Part<'_>, i64, i64)], mut emit: impl FnMut(RangeSeries) -> bool) {
    let parts: Vec<(Part<'_>, i64, i64)> = parts
        .iter()
        .copied()
        .filter(|(p, lo, hi)| lo <= hi && p.len() > 0)
        .collect();
    let mut at = vec![0usize; parts.len()];
    loop {
        // The smallest labels among the parts' current series.
        let mut min: Option<&Labels> = None;
        for (k, (p, _, _)) in parts.iter().enumerate() {
            if at[k] < p.len() {
                let l = p.labels(at[k]);
                if min.is_none_or(|m| l < m) {
                    min = Some(l);
                }
            }
        }
        let Some(min) = min else { return };
        let mut out = RangeSeries {
            labels: min.clone(),
            timestamps: Vec::new(),
            values: Vec::new(),
        };
        for (k, (p, lo, hi)) in parts.iter().enumerate() {
            if at[k] < p.len() && p.labels(at[k]) == &out.labels {
                p.append(at[k], *lo, *hi, &mut out.timestamps, &mut out.values);
                at[k] += 1;
            }
        }
        if !out.timestamps.is_empty() && !emit(out) {
            return;
        }
    }
}

/// [`merge_each`] collected.
fn merge(parts: &[(Part<'_>, i64, i64)]) -> Vec<RangeSeries> {
    let mut out = Vec::new();
    merge_each(parts, |s| {
        out.push(s);
        true
    });
    out
}

/// The notes of `parts`, each part's kept only for its steps inside its `[lo, hi]`, joined
/// by message (times sorted and distinct).
fn join_notes(parts: &[(&StepNotes, i64, i64)]) -> StepNotes {
    let mut out: StepNotes = Vec::new();
    for &(notes, lo, hi) in parts {
        for (m, ts) in notes.iter() {
            let a = ts.partition_point(|&t| t < lo);
            let b = ts.partition_point(|&t| t <= hi);
            if a >= b {
                continue;
            }
            match out.iter_mut().find(|(x, _)| x == m) {
                Some((_, v)) => v.extend_from_slice(&ts[a..b]),
                None => out.push((m.clone(), ts[a..b].to_vec())),
            }
        }
    }
    for (_, ts) in &mut out {
        ts.sort_unstable();
        ts.dedup();
    }
    out
}

fn add_unique(to: &mut Vec<String>, from: Vec<String>) {
    for w in from {
        if !to.contains(&w) {
            to.push(w);
        }
    }
}

impl Key {
    fn new(expr: &Expr, steps: Steps, lookback: i64, opts: &EngineOptions) -> Key {
        Key {
            expr: expr.to_string(),
            step: steps.step,
            phase: steps.start.rem_euclid(steps.step),
            lookback,
            subquery_step: opts.default_subquery_step,
            delayed_name_removal: opts.delayed_name_removal,
            summaries: summary_code(opts.summaries),
        }
    }
}

/// The answer to a range query over the grid `steps` if one entry holds all of it (nothing
/// to evaluate: a copy of the entry's points on the grid), counted as a hit; `None`
/// otherwise, without counting anything (the caller then goes through [`range`]). Same
/// preconditions as [`range`].
pub(crate) fn whole_hit(
    cache: &ResultCache,
    db: &Db,
    expr: &Expr,
    steps: Steps,
    lookback: i64,
    opts: &EngineOptions,
) -> Option<QueryResult> {
    let (start, last) = (steps.start, steps.last());
    let key = Key::new(expr, steps, lookback, opts);
    let c = cache
        .lookup(&key, db.data_epoch())
        .filter(|c| c.start <= start && c.end >= last)?;
    cache.hits.fetch_add(1, Ordering::Relaxed);
    let mut infos = Vec::new();
    add_notes_in(&mut infos, &c.notes, start, last);
    Some(QueryResult {
        value: Value::Matrix(merge(&[(Part::Packed(&c), start, last)])),
        warnings: Vec::new(),
        infos,
        stats: QueryStats::default(),
    })
}

/// A range query over the grid `steps` through the cache: `eval` evaluates a sub-grid of it
/// (a contiguous run of its points) as an uncached range query would. `lookback` is the
/// query's effective lookback delta. The caller checked that `expr` is [`cacheable`] and the
/// grid against the limits.
pub(crate) fn range(
    cache: &ResultCache,
    db: &Db,
    expr: &Expr,
    steps: Steps,
    lookback: i64,
    opts: &EngineOptions,
    eval: impl Fn(Steps) -> Result<(QueryResult, StepNotes)>,
) -> Result<QueryResult> {
    let step = steps.step;
    let start = steps.start;
    let last = steps.last();
    // The epoch first, then the bound (see the engine's `db/epoch.rs`).
    let epoch = db.data_epoch();
    let stable = db.stable_before();
    // The last grid point at or before the stable bound.
    let stable_last = if stable < start {
        None
    } else {
        Some(start + (stable - start) / step * step)
    };
    let key = Key::new(expr, steps, lookback, opts);
    let cached = cache
        .lookup(&key, epoch)
        .filter(|c| c.start <= last && c.end >= start);
    let max_points = opts.max_points_per_series.max(1) as i64;
    let Some(c) = cached else {
        cache.misses.fetch_add(1, Ordering::Relaxed);
        let (r, notes) = eval(steps)?;
        if let (Some(sl), true) = (stable_last, r.warnings.is_empty() && r.infos.is_empty()) {
            let hi = sl.min(last);
            let lo = start.max(hi - (max_points - 1) * step);
            if let Value::Matrix(m) = &r.value {
                let kept = join_notes(&[(&notes, lo, hi)]);
                cache.store(key, epoch, (lo, hi), &[(Part::Plain(m), lo, hi)], kept);
            }
        }
        return Ok(crate::engine::with_notes((r, notes)));
    };
    cache.hits.fetch_add(1, Ordering::Relaxed);
    let (lo, hi) = (c.start.max(start), c.end.min(last));
    let part = |a: i64, b: i64| -> Result<Option<(QueryResult, StepNotes)>> {
        if a > b {
            return Ok(None);
        }
        eval(Steps {
            start: a,
            end: b,
            step,
        })
        .map(Some)
    };
    let before = part(start, lo - step)?;
    let after = part(hi + step, last)?;
    let mut warnings = Vec::new();
    let mut infos = Vec::new();
    let mut stats = QueryStats::default();
    let mut take = |r: Option<(QueryResult, StepNotes)>| -> (Vec<RangeSeries>, StepNotes) {
        let Some((r, notes)) = r else {
            return (Vec::new(), Vec::new());
        };
        add_unique(&mut warnings, r.warnings);
        add_unique(&mut infos, r.infos);
        stats.samples_loaded += r.stats.samples_loaded;
        stats.peak_samples = stats.peak_samples.max(r.stats.peak_samples);
        (matrix(r.value), notes)
    };
    let ((before, before_notes), (after, after_notes)) = (take(before), take(after));
    let value = merge(&[
        (Part::Plain(&before), start, lo - step),
        (Part::Packed(&c), lo, hi),
        (Part::Plain(&after), hi + step, last),
    ]);
    // Only step-tied infos so far: whether an entry may be stored is decided on the others.
    let storable = warnings.is_empty() && infos.is_empty();
    add_notes_in(&mut infos, &before_notes, start, lo - step);
    add_notes_in(&mut infos, &after_notes, hi + step, last);
    add_notes_in(&mut infos, &c.notes, lo, hi);
    if storable {
        // The grown entry: the computed steps before it, all of it, and the computed steps
        // after it up to the stable bound.
        let new_lo = start.min(c.start);
        let new_hi = match stable_last {
            Some(sl) if hi == c.end => c.end.max(sl.min(last)),
            _ => c.end,
        };
        let new_lo = new_lo.max(new_hi - (max_points - 1) * step);
        if (new_lo, new_hi) == (c.start, c.end) {
            // A hit inside the entry: nothing to grow (the lookup already marked it used).
            return Ok(QueryResult {
                value: Value::Matrix(value),
                warnings,
                infos,
                stats,
            });
        }
        // Packed series by series: no copy of the whole grown entry is built.
        let notes = join_notes(&[
            (&before_notes, new_lo, lo - step),
            (&c.notes, new_lo.max(c.start), c.end),
            (&after_notes, hi + step, new_hi),
        ]);
        cache.store(
            key,
            epoch,
            (new_lo, new_hi),
            &[
                (Part::Plain(&before), new_lo, lo - step),
                (Part::Packed(&c), new_lo.max(c.start), c.end),
                (Part::Plain(&after), hi + step, new_hi),
            ],
            notes,
        );
    }
    Ok(QueryResult {
        value: Value::Matrix(value),
        warnings,
        infos,
        stats,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::parse;

    #[test]
    fn cacheable_refuses_at_and_negative_offsets_anywhere() {
        for (q, want) in [
            ("rate(x[5m])", true),
            ("sum by (job) (rate(x[5m] offset 1h))", true),
            ("time() - timestamp(x)", true),
            ("max_over_time(rate(x[1m])[10m:30s])", true),
            ("x @ 100", false),
            ("x @ end()", false),
            ("rate(x[5m] @ start())", false),
            ("x offset -5m", false),
            ("sum(x) + sum(y offset -1m)", false),
            ("max_over_time(x[10m:1m] offset -1m)", false),
            ("max_over_time(x[10m:1m] @ 1000)", false),
            ("max_over_time((x @ 5)[10m:1m])", false),
            ("topk(scalar(y @ 10), x)", false),
        ] {
            assert_eq!(cacheable(&parse(q).unwrap()), want, "{q}");
        }
    }

    fn rs(job: &str, pts: &[(i64, f64)]) -> RangeSeries {
        RangeSeries {
            labels: Labels::from_pairs(&[("job", job)]).unwrap(),
            timestamps: pts.iter().map(|p| p.0).collect(),
            values: pts.iter().map(|p| p.1).collect(),
        }
    }

    #[test]
    fn merge_joins_parts_per_series_within_their_bounds() {
        let a = vec![rs("a", &[(0, 1.0), (10, 2.0)]), rs("c", &[(10, 9.0)])];
        let b = vec![rs("a", &[(10, 99.0), (20, 3.0)]), rs("b", &[(20, 5.0)])];
        let got = merge(&[(Part::Plain(&a), 0, 10), (Part::Plain(&b), 20, 30)]);
        assert_eq!(
            got,
            vec![
                rs("a", &[(0, 1.0), (10, 2.0), (20, 3.0)]),
                rs("b", &[(20, 5.0)]),
                rs("c", &[(10, 9.0)]),
            ]
        );
        // Bounds cut points, and series left empty are dropped (one part or several).
        assert_eq!(merge(&[(Part::Plain(&a), 5, 8)]), vec![]);
        assert_eq!(
            merge(&[(Part::Plain(&a), 5, 8), (Part::Plain(&b), 25, 30)]),
            vec![]
        );
        assert_eq!(
            merge(&[(Part::Plain(&a), 10, 10), (Part::Plain(&b), 30, 20)]),
            vec![rs("a", &[(10, 2.0)]), rs("c", &[(10, 9.0)])]
        );
    }

    fn key(expr: &str) -> Key {
        Key {
            expr: expr.into(),
            step: 10,
            phase: 0,
            lookback: 1,
            subquery_step: 1,
            delayed_name_removal: false,
            summaries: 0,
        }
    }

    /// 100 points on the grid of `key` (step 10) from 0.
    fn grid(job: &str, v: f64) -> Vec<RangeSeries> {
        vec![rs(job, &(0..100).map(|i| (i * 10, v)).collect::<Vec<_>>())]
    }

    fn put(cache: &ResultCache, k: &str, epoch: u64, lo: i64, hi: i64, s: &[RangeSeries]) {
        cache.store(
            key(k),
            epoch,
            (lo, hi),
            &[(Part::Plain(s), lo, hi)],
            Vec::new(),
        );
    }

    fn entry_bytes(k: &str, series: &[RangeSeries]) -> usize {
        let c = ResultCache::new(usize::MAX / 2);
        put(&c, k, 1, 0, 990, series);
        c.stats().bytes as usize
    }

    #[test]
    fn entries_are_bounded_by_bytes_least_recently_used_first() {
        let one = entry_bytes("a", &grid("a", 1.0)) + 1;
        let cache = ResultCache::new(one * 4);
        for k in ["a", "b", "c", "x"] {
            put(&cache, k, 1, 0, 990, &grid("a", 1.0));
        }
        assert_eq!(cache.stats().entries, 4);
        assert!(cache.stats().bytes as usize <= one * 4);
        assert!(cache.lookup(&key("a"), 1).is_some()); // a is now the most recent
        put(&cache, "d", 1, 0, 990, &grid("a", 1.0));
        assert_eq!(cache.stats().entries, 4);
        assert!(
            cache.lookup(&key("b"), 1).is_none(),
            "b was least recently used"
        );
        assert!(cache.lookup(&key("a"), 1).is_some());
        // Another epoch: dropped when found.
        assert!(cache.lookup(&key("c"), 2).is_none());
        assert_eq!(cache.stats().entries, 3);
        // An entry of a later epoch is not replaced by an older one.
        put(&cache, "a", 3, 0, 0, &[rs("a", &[(0, 1.0)])]);
        put(&cache, "a", 2, 0, 0, &[rs("a", &[(0, 2.0)])]);
        let c = cache.lookup(&key("a"), 3).unwrap();
        let got = merge(&[(Part::Packed(&c), 0, 0)]);
        assert_eq!(got[0].values, [1.0]);
        // Larger than a quarter of the cache: not stored, counting only the points inside
        // the range.
        let big: Vec<(i64, f64)> = (0..440).map(|i| (i * 10, 0.1)).collect();
        put(&cache, "big", 3, 0, 4390, &[rs("a", &big)]);
        assert!(cache.lookup(&key("big"), 3).is_none());
        put(&cache, "big", 3, 0, 90, &[rs("a", &big)]);
        assert!(cache.lookup(&key("big"), 3).is_some());
        // Points off the grid: not stored.
        put(&cache, "off", 3, 0, 90, &[rs("a", &[(0, 1.0), (15, 1.0)])]);
        assert!(cache.lookup(&key("off"), 3).is_none());
        let s = cache.stats();
        assert_eq!((s.hits, s.misses), (0, 0), "lookups alone count nothing");
    }

    #[test]
    fn packed_series_unpack_to_the_points_inside_any_bounds() {
        // Runs with gaps, values that fit f32 exactly and values that do not, NaN and the
        // stale marker's bit pattern.
        let stale = f64::from_bits(0x7ff0_0000_0000_0002);
        let exact: Vec<(i64, f64)> = [0, 10, 20, 50, 60, 90, 120, 130]
            .iter()
            .enumerate()
            .map(|(i, &t)| (t, [1.0, 2.5, -3.0, f64::NAN, 40321.0, 0.0, -0.0, 7.0][i]))
            .collect();
        let mut inexact = exact.clone();
        inexact[2].1 = 0.1;
        inexact[5].1 = stale;
        for pts in [exact, inexact] {
            let s = rs("a", &pts);
            let p = Packed::pack(&s, 10, 0, 130).expect("on the grid");
            assert_eq!(p.runs, vec![(0, 3), (5, 2), (9, 1), (12, 2)]);
            for lo in -10..=140 {
                for hi in lo - 10..=140 {
                    let mut got = rs("a", &[]);
                    p.append(0, 10, lo, hi, &mut got.timestamps, &mut got.values);
                    let want: Vec<&(i64, f64)> =
                        pts.iter().filter(|(t, _)| *t >= lo && *t <= hi).collect();
                    assert_eq!(got.timestamps.len(), want.len(), "[{lo}, {hi}]");
                    for ((t, v), w) in got.timestamps.iter().zip(&got.values).zip(&want) {
                        assert_eq!(*t, w.0);
                        assert_eq!(v.to_bits(), w.1.to_bits(), "value at {t}");
                    }
                }
            }
            // Packing inside bounds keeps only their points; the grid's origin moves.
            let p = Packed::pack(&s, 10, 50, 90).expect("on the grid");
            assert_eq!(p.runs, vec![(0, 2), (4, 1)]);
        }
        let p = Packed::pack(&rs("a", &[(0, 1.0), (10, 2.0)]), 10, 0, 10).unwrap();
        assert!(matches!(p.values, PackedValues::F32(_)));
        let p = Packed::pack(&rs("a", &[(0, 0.1)]), 10, 0, 10).unwrap();
        assert!(matches!(p.values, PackedValues::F64(_)));
    }
}

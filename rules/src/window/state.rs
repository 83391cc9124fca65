//! [`WindowState`]: the per-series aggregates of one `f(selector[range])` and the
//! evaluation step that brings them to a new time `T` by reading only what changed.
//!
//! Per series: its labels, a cursor (timestamp of the last sample consumed into the ring),
//! and `slots + levels` pieces (the ring buckets, then one detail piece per level; see
//! [`super::layout`]). Shared by all series: the last evaluated position (`T`, the bucket
//! and leaf holding the window start).
//!
//! One evaluation at `T` (window `(e, T]`, `e = T - range`):
//! 1. **Rebuild** if there is no position yet, `T` went backwards, or `T` moved by more
//!    than half the range (reading the window again is then as cheap).
//! 2. Ring buckets at or before the new left bucket are emptied.
//! 3. **Right read**: samples in `(max(T_prev - late_horizon, left bucket end), T]`, each
//!    series from its cursor on, go into their ring buckets (on a rebuild: everything right
//!    of the left bucket). Series seen for the first time get a state.
//! 4. **Left read**: the edge leaf `(e, leaf end]` is read raw at every evaluation; when
//!    `e` moved to another leaf, the detail levels whose blocks changed are rebuilt from
//!    the same read (on a rebuild or a new left bucket: all of them, from
//!    `(e, left bucket end]`).
//! 5. Each series' window is the raw leaf, the detail pieces and the ring pieces, fed in
//!    time order to the family's accumulator; a series with no sample left is dropped.
//!    When the accumulator cannot decide a value's bits, that series is re-read raw and
//!    evaluated by the evaluator's own function ([`Func::over_samples`]).
//!
//! Cost per evaluation: the samples that arrived since `T_prev - late_horizon` plus one leaf
//! of the left edge (`range / (slots 2^levels)`), plus, amortized, about `levels` times the
//! new samples for detail rebuilds: independent of the range.
//!
//! Invariants:
//! * `series` is sorted by labels and holds every series with a sample in the window as of
//!   the last evaluation (and possibly series whose samples all left: they are dropped at
//!   the next evaluation);
//! * ring slot `k mod slots` holds exactly the series' samples in bucket `k` for
//!   `left < k <= bucket_of(T)`, up to the cursor; a detail piece holds exactly the samples
//!   of its sibling block (empty where there is none);
//! * samples enter pieces in time order (in-order appends are; out-of-order ones make the
//!   query rebuild), so pieces never need re-sorting.
//!
//! Assumption (documented limit): a sample is in storage no later than `late_horizon` after
//! the evaluation time that first covers it, and before the window start passes the bucket
//! before it (so at most `min(late_horizon, range - 2 B)` late; 45 minutes for a one-hour
//! window). Samples appended later than that may be missed until the next rebuild.
//! Out-of-order samples (older than their series' newest) and deletes change data already
//! folded in: [`super::IncrementalQuery`] rebuilds every window when the database's
//! history generation moved since its last evaluation. If a series
//! unknown to the state shows up at the left edge (which only such late data can cause),
//! that series is evaluated from raw samples and the whole state is rebuilt at the next
//! evaluation.

use std::mem::size_of;

use strata_engine::{is_stale, Label, Labels, Matcher, Sample, Series};
use strata_query::eval::HookedSeries;
use strata_query::{Error, Result};

use super::family::{Family, Func, Outcome};
use super::layout::Layout;
use super::reader::Reader;

/// Per-series state budget, bytes: the target is at most 1 KiB per series and window.
pub const STATE_BUDGET: usize = 1024;

/// Part of [`STATE_BUDGET`] set aside for the series' label set (8 labels).
pub const LABELS_ALLOWANCE: usize = 8 * size_of::<Label>();

/// Most subdivision levels used (a leaf of `range / (slots 4096)`).
pub const MAX_LEVELS: u32 = 12;

/// One series' aggregates.
#[derive(Debug)]
struct SeriesWindow<P> {
    labels: Labels,
    /// Timestamp of the last sample consumed into the ring; `i64::MIN` before any.
    cursor: i64,
    /// Ring pieces (`slots`), then detail pieces for levels `1..=levels`.
    pieces: Box<[P]>,
}

impl<P: Default + Clone> SeriesWindow<P> {
    fn new(labels: Labels, n: usize) -> Self {
        SeriesWindow {
            labels,
            cursor: i64::MIN,
            pieces: vec![P::default(); n].into_boxed_slice(),
        }
    }
}

/// Where the last evaluation left the window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Pos {
    end: i64,
    left: i64,
    leaf: i64,
}

/// Counters of one window, summed into [`super::WindowStats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Evaluations.
    pub evaluations: u64,
    /// Times the state was (re)built from storage.
    pub builds: u64,
    /// Series values decided from aggregates.
    pub aggregated: u64,
    /// Series values computed from raw samples because aggregates could not decide them.
    pub replayed: u64,
    /// Samples read from storage (including replays).
    pub samples_read: u64,
}

/// The levels of subdivision that keep a series' state within [`STATE_BUDGET`] (with
/// [`LABELS_ALLOWANCE`] for its labels) for pieces of type `P` and `slots` ring slots.
pub fn levels_for<P>(slots: usize) -> u32 {
    let fixed = size_of::<SeriesWindow<P>>() + LABELS_ALLOWANCE;
    let pieces = STATE_BUDGET.saturating_sub(fixed) / size_of::<P>().max(1);
    (pieces.saturating_sub(slots) as u32).min(MAX_LEVELS)
}

/// Incremental state of one `f(selector[range])` (any functions of family `F`).
pub struct WindowState<F: Family> {
    matchers: Vec<Matcher>,
    /// Key under which reads are shared with other windows ([`super::reader`]).
    share: Option<Matcher>,
    layout: Layout,
    late_horizon: i64,
    series: Vec<SeriesWindow<F::Piece>>,
    pos: Option<Pos>,
    acc: F::Acc,
    leaf: Vec<Sample>,
    counters: Counters,
}

/// A storage error met while iterating a series.
fn iter_error(e: &strata_engine::Error) -> Error {
    Error::Storage(strata_engine::Error::CorruptChunk(e.to_string()))
}

/// Calls `f` on each sample of `s` at or after `from` (within the querier's range).
fn for_each_from(s: &Series, from: i64, mut f: impl FnMut(Sample)) -> Result<u64> {
    let mut it = s.iter();
    let mut n = 0u64;
    let mut next = it.seek(from);
    while let Some(x) = next {
        n += 1;
        f(x);
        next = it.next();
    }
    match it.err() {
        Some(e) => Err(iter_error(e)),
        None => Ok(n),
    }
}

impl<F: Family> WindowState<F> {
    /// An empty state for `matchers` over windows of `layout.range`.
    pub fn new(
        matchers: Vec<Matcher>,
        share: Option<Matcher>,
        layout: Layout,
        late_horizon: i64,
    ) -> Self {
        WindowState {
            matchers,
            share,
            layout,
            late_horizon: late_horizon.max(0),
            series: Vec::new(),
            pos: None,
            acc: F::Acc::default(),
            leaf: Vec::new(),
            counters: Counters::default(),
        }
    }

    /// The layout in use.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Series held.
    pub fn num_series(&self) -> usize {
        self.series.len()
    }

    /// Counters so far.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Bytes of the state of a series with `labels` labels: the fixed part, its pieces and
    /// its label vector (label strings are shared with the database and not counted).
    pub fn series_bytes(&self, labels: usize) -> usize {
        size_of::<SeriesWindow<F::Piece>>()
            + (self.layout.slots + self.layout.levels as usize) * size_of::<F::Piece>()
            + labels * size_of::<Label>()
    }

    /// Bytes held: every series' state plus the reusable buffers.
    pub fn bytes(&self) -> usize {
        let series: usize = self
            .series
            .iter()
            .map(|s| self.series_bytes(s.labels.len()))
            .sum();
        size_of::<Self>()
            + series
            + (self.series.capacity() - self.series.len()) * size_of::<SeriesWindow<F::Piece>>()
            + self.leaf.capacity() * size_of::<Sample>()
    }

    /// The largest per-series state, bytes.
    pub fn max_series_bytes(&self) -> usize {
        self.series
            .iter()
            .map(|s| self.series_bytes(s.labels.len()))
            .max()
            .unwrap_or(0)
    }

    /// Forgets everything (the next evaluation rebuilds from storage).
    pub fn clear(&mut self) {
        self.series.clear();
        self.pos = None;
    }

    fn num_pieces(&self) -> usize {
        self.layout.slots + self.layout.levels as usize
    }

    /// Evaluates every function of `funcs` over the window `(end - range, end]`, returning
    /// one result list per function (series sorted by labels, as the evaluator selects
    /// them). On error the state is cleared, so the next evaluation rebuilds.
    pub fn eval(
        &mut self,
        reader: &mut Reader<'_>,
        end: i64,
        funcs: &[Func],
    ) -> Result<Vec<HookedSeries>> {
        let r = self.eval_inner(reader, end, funcs);
        if r.is_err() {
            self.clear();
        }
        r
    }

    fn eval_inner(
        &mut self,
        reader: &mut Reader<'_>,
        end: i64,
        funcs: &[Func],
    ) -> Result<Vec<HookedSeries>> {
        let l = self.layout;
        let e = end - l.range;
        self.counters.evaluations += 1;
        if let Some(p) = self.pos {
            if end < p.end || end - p.end > l.range / 2 {
                self.clear();
            }
        }
        if self.pos.is_none() {
            self.series.clear();
            self.counters.builds += 1;
        }
        let left = l.bucket_of(e);
        let leaf = l.leaf_of(left, e);
        let ring_start = l.bucket_start(left + 1);

        // Ring buckets that are now at or left of the window start.
        if let Some(p) = self.pos {
            for k in p.left + 1..=left.min(p.left + l.slots as i64) {
                let slot = l.slot(k);
                for s in &mut self.series {
                    s.pieces[slot] = F::Piece::default();
                }
            }
        }

        let mint = match self.pos {
            None => ring_start + 1,
            Some(p) => (p.end.saturating_sub(self.late_horizon) + 1).max(ring_start + 1),
        };
        if mint <= end {
            self.read_right(reader, mint, end)?;
        }

        // Detail levels to rebuild: all on a new left bucket, else those whose block changed.
        let full = self.pos.is_none_or(|p| p.left != left);
        let first_rebuilt = match self.pos {
            Some(p) if !full => l.first_changed_level(p.leaf, leaf),
            _ => 1,
        };
        let build = self.pos.is_none();
        let out =
            self.read_left_and_finish(reader, e, end, left, leaf, first_rebuilt, build, funcs)?;
        Ok(out)
    }

    /// Step 3: new samples into the ring.
    fn read_right(&mut self, reader: &mut Reader<'_>, mint: i64, end: i64) -> Result<()> {
        let l = self.layout;
        let selected = reader.select(mint, end, &self.matchers, self.share.as_ref())?;
        let selected = selected.series();
        let npieces = self.num_pieces();
        let mut fresh: Vec<SeriesWindow<F::Piece>> = Vec::new();
        let mut i = 0usize;
        let mut read = 0u64;
        for &s in &selected {
            while i < self.series.len() && self.series[i].labels < s.labels {
                i += 1;
            }
            let st = if i < self.series.len() && self.series[i].labels == s.labels {
                &mut self.series[i]
            } else {
                fresh.push(SeriesWindow::new(s.labels.clone(), npieces));
                let last = fresh.len() - 1;
                &mut fresh[last]
            };
            let from = st.cursor.saturating_add(1).max(mint);
            read += for_each_from(s, from, |x| {
                st.cursor = x.t;
                if !is_stale(x.v) {
                    let k = l.bucket_of(x.t);
                    F::push(&mut st.pieces[l.slot(k)], l.bucket_start(k), x);
                }
            })?;
        }
        self.counters.samples_read += read;
        self.insert(fresh);
        Ok(())
    }

    /// Merges new (sorted, unknown) series into `series`.
    fn insert(&mut self, fresh: Vec<SeriesWindow<F::Piece>>) {
        if fresh.is_empty() {
            return;
        }
        let old = std::mem::take(&mut self.series);
        let mut merged = Vec::with_capacity(old.len() + fresh.len());
        let (mut a, mut b) = (old.into_iter().peekable(), fresh.into_iter().peekable());
        loop {
            let take_a = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) => x.labels < y.labels,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            let next = if take_a { a.next() } else { b.next() };
            merged.extend(next);
        }
        self.series = merged;
    }

    /// Steps 4 and 5.
    #[allow(clippy::too_many_arguments)]
    fn read_left_and_finish(
        &mut self,
        reader: &mut Reader<'_>,
        e: i64,
        end: i64,
        left: i64,
        leaf: i64,
        first_rebuilt: u32,
        build: bool,
        funcs: &[Func],
    ) -> Result<Vec<HookedSeries>> {
        let l = self.layout;
        let levels = l.levels;
        let leaf_end = l.block_end(left, leaf, levels);
        let left_end = if first_rebuilt <= levels {
            l.block_end(left, leaf, first_rebuilt - 1)
        } else {
            leaf_end
        };
        // Sibling blocks being rebuilt, in time order: (piece index, base, end).
        let plan: Vec<(usize, i64, i64)> = (first_rebuilt..=levels)
            .rev()
            .filter_map(|m| {
                l.sibling(left, leaf, m)
                    .map(|base| (l.slots + m as usize - 1, base, base + l.width(m)))
            })
            .collect();
        let selection = if e < left_end {
            Some(reader.select(e + 1, left_end, &self.matchers, self.share.as_ref())?)
        } else {
            None
        };
        let selected: Vec<&Series> = selection.as_ref().map_or(Vec::new(), |s| s.series());

        // Series first seen at the left edge: expected only when building (otherwise its
        // samples reached storage late; it is replayed and the state rebuilt next time).
        let mut late: Vec<Labels> = Vec::new();
        {
            let mut fresh = Vec::new();
            let mut i = 0usize;
            for &s in &selected {
                while i < self.series.len() && self.series[i].labels < s.labels {
                    i += 1;
                }
                if i >= self.series.len() || self.series[i].labels != s.labels {
                    fresh.push(SeriesWindow::new(s.labels.clone(), self.num_pieces()));
                    if !build {
                        late.push(s.labels.clone());
                    }
                }
            }
            self.insert(fresh);
        }

        let mut out: Vec<HookedSeries> = vec![Vec::new(); funcs.len()];
        let mut replays: Vec<(usize, Vec<(usize, Func)>)> = Vec::new();
        let mut keep = vec![true; self.series.len()];
        let k_end = l.bucket_of(end);
        let mut j = 0usize;
        let mut read = 0u64;
        for (idx, st) in self.series.iter_mut().enumerate() {
            for m in first_rebuilt..=levels {
                st.pieces[l.slots + m as usize - 1] = F::Piece::default();
            }
            self.leaf.clear();
            if j < selected.len() && selected[j].labels == st.labels {
                let mut p = 0usize;
                let leaf_buf = &mut self.leaf;
                let pieces = &mut st.pieces;
                read += for_each_from(selected[j], e + 1, |x| {
                    if is_stale(x.v) {
                        return;
                    }
                    if x.t <= leaf_end {
                        leaf_buf.push(x);
                        return;
                    }
                    while p + 1 < plan.len() && x.t > plan[p].2 {
                        p += 1;
                    }
                    let (piece, base, _) = plan[p];
                    F::push(&mut pieces[piece], base, x);
                })?;
                j += 1;
            }
            let acc = &mut self.acc;
            F::reset(acc);
            for &x in &self.leaf {
                F::add_sample(acc, x);
            }
            for m in (1..=levels).rev() {
                if let Some(base) = l.sibling(left, leaf, m) {
                    F::add_piece(acc, &st.pieces[l.slots + m as usize - 1], base);
                }
            }
            for k in left + 1..=k_end {
                F::add_piece(acc, &st.pieces[l.slot(k)], l.bucket_start(k));
            }
            if F::count(acc) == 0 {
                keep[idx] = false;
                continue;
            }
            let is_late = late.contains(&st.labels);
            let mut pending = Vec::new();
            for (fi, &f) in funcs.iter().enumerate() {
                let v = match F::finish(acc, f, end, l.range) {
                    _ if is_late => {
                        pending.push((fi, f));
                        None
                    }
                    Outcome::Value(v) => {
                        self.counters.aggregated += 1;
                        Some(v)
                    }
                    Outcome::NoValue => {
                        self.counters.aggregated += 1;
                        None
                    }
                    Outcome::Replay => {
                        pending.push((fi, f));
                        None
                    }
                };
                out[fi].push((st.labels.clone(), v));
            }
            if !pending.is_empty() {
                replays.push((out[0].len() - 1, pending));
            }
        }
        self.counters.samples_read += read;

        for (row, pending) in replays {
            let labels = out[0][row].0.clone();
            let samples = self.read_raw(reader, &labels, e, end)?;
            self.counters.replayed += 1;
            for (fi, f) in pending {
                out[fi][row].1 = f.over_samples(&samples, end, l.range);
            }
        }

        let mut it = keep.iter();
        self.series.retain(|_| *it.next().unwrap_or(&true));
        self.pos = if late.is_empty() {
            Some(Pos { end, left, leaf })
        } else {
            None
        };
        Ok(out)
    }

    /// The raw samples (stale markers removed) of the series `labels` in `(e, end]`.
    fn read_raw(
        &mut self,
        reader: &mut Reader<'_>,
        labels: &Labels,
        e: i64,
        end: i64,
    ) -> Result<Vec<Sample>> {
        let matchers: Vec<Matcher> = labels
            .iter()
            .map(|x| Matcher::equal(&*x.name, &*x.value))
            .collect();
        let selected = reader.select(e + 1, end, &matchers, None)?;
        let mut samples = Vec::new();
        if let Some(s) = selected.series().into_iter().find(|s| &s.labels == labels) {
            self.counters.samples_read += for_each_from(s, e + 1, |x| {
                if !is_stale(x.v) {
                    samples.push(x);
                }
            })?;
        }
        Ok(samples)
    }
}

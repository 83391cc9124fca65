//! Long windows from chunk summaries: range functions whose windows cover whole sealed
//! chunks read those chunks' [`ChunkSummary`] instead of decoding them, and decode only the
//! chunks a window edge falls into.
//!
//! Functions: `rate increase delta sum_over_time count_over_time avg_over_time
//! min_over_time max_over_time changes resets last_over_time present_over_time`
//! ([`SummaryFn`]), over a matrix selector on a storage series whose chunks do not overlap.
//!
//! How a series is evaluated: a chunk is decoded if it has no usable summary (the open head
//! chunk, out-of-order chunks, head chunks kept on the heap, block chunks touched by a
//! delete, and for the counter functions chunks holding NaN) or if the
//! start or end of some step's window falls inside it (`[min_time, max_time)`); every other
//! chunk that meets a window lies wholly inside it. The open head chunk is read as two
//! pieces when a reader left a mark in it (`SeriesChunk::split`) and no window boundary falls
//! among its samples up to the mark: those samples by the summary the mark keeps of them (the
//! one a sealed chunk of just those samples would have), the rest decoded from the mark on. A
//! dashboard's 1 h window at the head thus decodes only the samples since its 5-minute
//! panels' last refresh, not the whole open chunk. Unlike sealed chunks, the open chunk is
//! split only where that is bit-identical to its full decode on any values: never for
//! `sum_over_time` and `avg_over_time`; `rate` and `increase` add the counter corrections
//! before the mark one by one, as the full decode does (a sealed chunk's summary holds only
//! their sum). Short series held whole in the open chunk, such as the conformance cases,
//! thus answer exactly as Prometheus does. Each step's window is then folded in time
//! order from pieces: the decoded samples in the window and the summaries of the whole
//! chunks between them, with the same per-sample arithmetic as the full decode
//! ([`crate::functions`]) and the boundary between consecutive pieces (a counter reset or a
//! value change across a chunk edge) handled as between two samples. A range query thus
//! decodes each edge chunk once and re-reads no window's middle sample by sample.
//!
//! Sliding: for every function but `sum_over_time` and `avg_over_time` (whose compensated
//! sums depend on the order of additions) the pieces are laid out once per series with
//! prefix sums of their counts, changes and resets, the ordered list of counter
//! corrections, and monotonic queues for minima and maxima; a step then costs two binary
//! searches plus its own corrections, whatever the window's length (`slide`). The values
//! are bit-identical to folding each window piece by piece.
//!
//! Exactness (checked by the proptests in `summary_proptests` against a full decode of
//! data written to blocks and of data held in the head):
//! * `count_over_time`, `present_over_time`, `last_over_time`, `min_over_time`,
//!   `max_over_time`, `changes`, `resets`, `delta` (first and last value only): always
//!   bit-identical (counts are integers; minima, maxima, first and last are selections).
//! * `sum_over_time`, `avg_over_time`, `rate`, `increase`: a summary carries its chunk's
//!   compensated sum (and, for counters, its reset corrections) as one number, so the order
//!   of additions differs from the sample-by-sample fold. For integer-valued data (counters,
//!   bucket counts, gauges of whole numbers) whose partial sums stay below 2^53 every
//!   addition is exact and the results are bit-identical. For other values the difference
//!   is bounded: with `eps = 2^-53` and `S = sum of |x|` over the window's values (for
//!   `rate`/`increase`: over `|last - first|` and the reset corrections), the summary result
//!   differs from the full decode by at most `(4 + 2k) * eps * S` (plus second-order
//!   `O(n * eps^2 * S)`), where `k` is the number of whole chunks read from summaries: each
//!   chunk total carries at most `2 * eps * |its sum|` of rounding of its own, and the two
//!   compensated folds each carry at most `2 * eps * S`. For `rate` the extrapolation then
//!   multiplies by the same factor in both paths.
//! * A window whose values could make a partial sum overflow (`sum |x|` of its values at
//!   or above 1e300, or an infinite value) is computed by the full decode for
//!   `sum_over_time`, `avg_over_time`, `rate` and `increase`: the two addition orders could
//!   disagree on whether an intermediate sum overflows, and the full `avg_over_time` then
//!   switches to an incremental mean that summaries cannot reproduce.
//!
//! Whether summaries pay off is decided per series ([`SummaryMode::Auto`]): for the slid
//! functions whenever some chunk can be read from its summary (the edge chunks are decoded
//! either way, and laying out pieces costs less than folding the samples they stand for);
//! for `sum_over_time` and `avg_over_time` by a cost estimate (samples decoded plus pieces
//! folded per step, against the full path re-reading each window); tests force either path
//! ([`SummaryMode::Always`], [`SummaryMode::Never`]).

use strata_engine::chunk::ChunkSummary;
use strata_engine::{is_stale, Sample, Series};

use super::series::SeriesBuf;
use crate::error::Result;
use crate::functions::numeric::kahan_inc;
use crate::functions::rate::extrapolate_window;
use crate::parser::functions::Func;

/// When range functions read chunk summaries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SummaryMode {
    /// When the cost estimate says it is cheaper (the default).
    #[default]
    Auto,
    /// Whenever the function and series allow it (tests).
    Always,
    /// Never: always decode every sample (tests, comparisons).
    Never,
}

/// A range function that summaries can answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SummaryFn {
    /// `rate`.
    Rate,
    /// `increase`.
    Increase,
    /// `delta`.
    Delta,
    /// `sum_over_time`.
    Sum,
    /// `count_over_time`.
    Count,
    /// `avg_over_time`.
    Avg,
    /// `min_over_time`.
    Min,
    /// `max_over_time`.
    Max,
    /// `changes`.
    Changes,
    /// `resets`.
    Resets,
    /// `last_over_time`.
    Last,
    /// `present_over_time`.
    Present,
}

impl SummaryFn {
    /// The summary form of `f`, if it has one.
    pub fn of(f: Func) -> Option<SummaryFn> {
        Some(match f {
            Func::Rate => SummaryFn::Rate,
            Func::Increase => SummaryFn::Increase,
            Func::Delta => SummaryFn::Delta,
            Func::SumOverTime => SummaryFn::Sum,
            Func::CountOverTime => SummaryFn::Count,
            Func::AvgOverTime => SummaryFn::Avg,
            Func::MinOverTime => SummaryFn::Min,
            Func::MaxOverTime => SummaryFn::Max,
            Func::Changes => SummaryFn::Changes,
            Func::Resets => SummaryFn::Resets,
            Func::LastOverTime => SummaryFn::Last,
            Func::PresentOverTime => SummaryFn::Present,
            _ => return None,
        })
    }

    /// True if the result depends only on how many live samples a window holds (so the
    /// samples' values need not be decoded).
    pub fn counts_only(self) -> bool {
        matches!(self, SummaryFn::Count | SummaryFn::Present)
    }

    fn is_counter(self) -> bool {
        matches!(self, SummaryFn::Rate | SummaryFn::Increase)
    }

    /// True if the result adds values up (where the addition order matters).
    fn sums(self) -> bool {
        matches!(
            self,
            SummaryFn::Sum | SummaryFn::Avg | SummaryFn::Rate | SummaryFn::Increase
        )
    }

    /// True if the full path re-reads every window sample by sample at every step.
    fn full_is_per_window(self) -> bool {
        matches!(self, SummaryFn::Sum | SummaryFn::Avg)
    }

    /// Whether `s` can stand for its chunk in this function.
    fn usable(self, s: &ChunkSummary) -> bool {
        if self.is_counter() && s.has_nan {
            // `increase` minus `last - first` is NaN when an end is NaN, while the window
            // may never see that end's NaN as a first or last value.
            return false;
        }
        if self.full_is_per_window() && !s.sum.is_finite() && !s.sum.is_nan() {
            return false;
        }
        true
    }
}

/// Above this bound on `sum |x|` (or with an infinite value) sums are left to the full
/// decode.
const SUM_LIMIT: f64 = 1e300;

/// `|v|`, with NaN as 0.
fn abs_or_zero(v: f64) -> f64 {
    if v.is_nan() {
        0.0
    } else {
        v.abs()
    }
}

/// `sum |x|` over `s` with NaN as 0, in four independent partial sums (an upper bound
/// compared with [`SUM_LIMIT`], so its rounding order does not matter).
fn abs_sum(s: &[Sample]) -> f64 {
    let mut acc = [0.0f64; 4];
    let mut quads = s.chunks_exact(4);
    for q in &mut quads {
        for (a, x) in acc.iter_mut().zip(q) {
            *a += abs_or_zero(x.v);
        }
    }
    let tail: f64 = quads.remainder().iter().map(|x| abs_or_zero(x.v)).sum();
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// `changes()` notion of two consecutive values differing (NaN to NaN is none).
fn changed(a: f64, b: f64) -> bool {
    b != a && !(b.is_nan() && a.is_nan())
}

/// What [`Acc::samples`] computes for a function (everything else `finish` ignores).
#[derive(Clone, Copy)]
struct Want {
    /// Resets (and, for counters, their corrections).
    resets: bool,
    changes: bool,
    /// The compensated sum.
    sum: bool,
    /// The bound on `sum |x|` (`SummaryFn::sums`).
    bound: bool,
    extremes: bool,
}

impl Want {
    fn of(f: SummaryFn) -> Want {
        use SummaryFn::*;
        Want {
            resets: matches!(f, Rate | Increase | Resets),
            changes: f == Changes,
            sum: matches!(f, Sum | Avg),
            bound: f.sums(),
            extremes: matches!(f, Min | Max),
        }
    }
}

/// A window folded piece by piece, in time order.
struct Acc<'a> {
    counter: bool,
    want: Want,
    count: u64,
    first: Sample,
    last: Sample,
    sum: f64,
    c: f64,
    min: f64,
    max: f64,
    changes: u64,
    resets: u64,
    /// Upper bound of `sum |x|` over the values folded so far (NaN counted as 0): while it
    /// stays below [`SUM_LIMIT`] no partial sum of either path can overflow.
    bound: f64,
    /// Counter corrections in order (the value before each reset; a summary's own
    /// corrections as one number).
    corr: &'a mut Vec<f64>,
}

impl<'a> Acc<'a> {
    fn new(f: SummaryFn, corr: &'a mut Vec<f64>) -> Acc<'a> {
        corr.clear();
        Acc {
            counter: f.is_counter(),
            want: Want::of(f),
            count: 0,
            first: Sample::new(0, 0.0),
            last: Sample::new(0, 0.0),
            sum: 0.0,
            c: 0.0,
            min: f64::NAN,
            max: f64::NAN,
            changes: 0,
            resets: 0,
            bound: 0.0,
            corr,
        }
    }

    /// The step between the last value so far and the next piece's first value `v`.
    fn boundary(&mut self, v: f64) {
        let p = self.last.v;
        if v < p {
            self.resets += 1;
            if self.counter {
                self.corr.push(p);
            }
        }
        if changed(p, v) {
            self.changes += 1;
        }
    }

    fn extreme(&mut self, lo: f64, hi: f64) {
        if self.min.is_nan() || lo < self.min {
            self.min = lo;
        }
        if self.max.is_nan() || hi > self.max {
            self.max = hi;
        }
    }

    /// Folds decoded samples, computing only what the function reads (`finish`): the
    /// quantities are independent, so each is a loop of its own in time order, and a
    /// compensated sum, for example, is kept only for `sum_over_time` and `avg_over_time`.
    fn samples(&mut self, s: &[Sample]) {
        let (Some(&head), Some(&tail)) = (s.first(), s.last()) else {
            return;
        };
        if self.count == 0 {
            self.first = head;
        } else {
            self.boundary(head.v);
        }
        let w = self.want;
        if w.resets {
            for p in s.windows(2) {
                let (a, b) = (p[0].v, p[1].v);
                if b < a {
                    self.resets += 1;
                    if self.counter {
                        self.corr.push(a);
                    }
                }
            }
        }
        if w.changes {
            self.changes += s.windows(2).filter(|p| changed(p[0].v, p[1].v)).count() as u64;
        }
        if w.sum {
            let (mut sum, mut c) = (self.sum, self.c);
            for x in s {
                (sum, c) = kahan_inc(x.v, sum, c);
            }
            (self.sum, self.c) = (sum, c);
        }
        if w.bound {
            self.bound += abs_sum(s);
        }
        if w.extremes {
            for x in s {
                self.extreme(x.v, x.v);
            }
        }
        self.last = tail;
        self.count += s.len() as u64;
    }

    /// Folds a whole chunk's summary; `each`: its counter corrections one by one, where known
    /// (else its summary's sum of them is added as one).
    fn summary(&mut self, s: &ChunkSummary, each: Option<&[f64]>) {
        if s.count == 0 {
            return;
        }
        if self.count == 0 {
            self.first = s.first;
        } else {
            self.boundary(s.first.v);
        }
        self.changes += u64::from(s.changes);
        self.resets += u64::from(s.resets);
        if self.counter && s.resets > 0 {
            match each {
                Some(cs) => self.corr.extend_from_slice(cs),
                None => self.corr.push(s.increase - (s.last.v - s.first.v)),
            }
        }
        self.last = s.last;
        self.count += u64::from(s.count);
        (self.sum, self.c) = kahan_inc(s.sum, self.sum, self.c);
        self.bound += f64::from(s.count) * abs_or_zero(s.min).max(abs_or_zero(s.max));
        self.extreme(s.min, s.max);
    }

    /// The function's value for the window `(end - range, end]`; `Err(())` when the
    /// summaries cannot give the full decode's answer (the caller falls back).
    fn finish(&self, f: SummaryFn, end: i64, range: i64) -> Result<Option<f64>, ()> {
        if self.count == 0 {
            return Ok(None);
        }
        if f.sums() && self.bound >= SUM_LIMIT {
            // Near overflow the two addition orders can disagree on whether a partial sum
            // overflows (and the full `avg_over_time` then changes method).
            return Err(());
        }
        let total = if self.sum.is_infinite() {
            self.sum
        } else {
            self.sum + self.c
        };
        Ok(Some(match f {
            SummaryFn::Count => self.count as f64,
            SummaryFn::Present => 1.0,
            SummaryFn::Last => self.last.v,
            SummaryFn::Min => self.min,
            SummaryFn::Max => self.max,
            SummaryFn::Changes => self.changes as f64,
            SummaryFn::Resets => self.resets as f64,
            SummaryFn::Sum => total,
            SummaryFn::Avg => {
                if !self.sum.is_finite() && !self.sum.is_nan() {
                    return Err(());
                }
                (self.sum + self.c) / self.count as f64
            }
            SummaryFn::Rate | SummaryFn::Increase | SummaryFn::Delta => {
                if self.count < 2 {
                    return Ok(None);
                }
                let mut result = self.last.v - self.first.v;
                if self.counter {
                    for &c in self.corr.iter() {
                        result += c;
                    }
                }
                extrapolate_window(
                    self.first,
                    self.last,
                    self.count as usize,
                    result,
                    end,
                    range,
                    self.counter,
                    f == SummaryFn::Rate,
                )
            }
        }))
    }
}

/// True if some value of the sorted `xs` lies in `[lo, hi)`.
fn any_in(xs: &[i64], lo: i64, hi: i64) -> bool {
    let i = xs.partition_point(|&x| x < lo);
    i < xs.len() && xs[i] < hi
}

/// Which side of a series' chunk a [`Part`] is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Whole,
    /// The samples up to an open head chunk's split, read from its summary only.
    Prefix,
    /// The samples after the split, decoded from there.
    Rest,
}

/// What the summary path reads as one chunk: a chunk of the series, or one side of an open
/// head chunk's split ([`strata_engine::SeriesChunk::split`]) when the samples up to the
/// split lie wholly inside every window they meet (so their summary stands for them and
/// only the samples after the split are decoded).
#[derive(Clone, Copy)]
struct Part<'a> {
    chunk: usize,
    side: Side,
    min_time: i64,
    max_time: i64,
    num_samples: usize,
    summary: Option<&'a ChunkSummary>,
    /// For a split's prefix: its counter corrections one by one (a sealed chunk's summary
    /// has them only as one sum).
    corrections: Option<&'a [f64]>,
}

/// The series' chunks as [`Part`]s, in time order.
fn parts<'a>(f: SummaryFn, s: &'a Series, starts: &[i64], ends: &[i64]) -> Vec<Part<'a>> {
    let mut out = Vec::with_capacity(s.chunks().len() + 1);
    for (i, c) in s.chunks().iter().enumerate() {
        let whole = Part {
            chunk: i,
            side: Side::Whole,
            min_time: c.min_time(),
            max_time: c.max_time(),
            num_samples: c.num_samples(),
            summary: c.summary(),
            corrections: None,
        };
        let Some(sp) = c.split() else {
            out.push(whole);
            continue;
        };
        let (lo, hi) = (c.min_time(), sp.prefix_max_time());
        let inside = !any_in(starts, lo, hi) && !any_in(ends, lo, hi);
        let p = sp.prefix();
        // Only where the split gives the full decode's bits on any values: never for the
        // compensated sums (their order of additions would change, and so could their last
        // bits, or more where large values cancel). The counter functions add the prefix's
        // corrections one by one, as the full decode does.
        let exact = !matches!(f, SummaryFn::Sum | SummaryFn::Avg);
        if !inside || !exact || !f.usable(p) {
            out.push(whole);
            continue;
        }
        out.push(Part {
            side: Side::Prefix,
            max_time: hi,
            num_samples: (p.count + p.stale) as usize,
            summary: Some(p),
            corrections: Some(sp.corrections()),
            ..whole
        });
        out.push(Part {
            side: Side::Rest,
            // The first sample after the split is later than this; the rest is decoded.
            min_time: hi.saturating_add(1),
            num_samples: sp.rest(),
            summary: None,
            corrections: None,
            ..whole
        });
    }
    out
}

/// Which chunks of a series meet some window, and which of those must be decoded.
struct Plan {
    /// Per chunk: decoded (an edge chunk, or one without a usable summary).
    decode: Vec<bool>,
    /// Chunks read from their summaries only.
    summarized: usize,
    /// Samples of the decoded chunks.
    decoded_cost: usize,
    /// Samples of every chunk meeting a window.
    total: usize,
    /// Chunks meeting a window.
    met: usize,
}

fn plan(f: SummaryFn, chunks: &[Part<'_>], starts: &[i64], ends: &[i64]) -> Plan {
    let last_end = ends[ends.len() - 1];
    let mut p = Plan {
        decode: vec![false; chunks.len()],
        summarized: 0,
        decoded_cost: 0,
        total: 0,
        met: 0,
    };
    for (i, c) in chunks.iter().enumerate() {
        if c.max_time <= starts[0] || c.min_time > last_end {
            continue;
        }
        p.met += 1;
        let n = c.num_samples;
        p.total += n;
        let usable = c.summary.is_some_and(|sm| f.usable(sm));
        let edge = any_in(starts, c.min_time, c.max_time) || any_in(ends, c.min_time, c.max_time);
        if !usable || edge {
            p.decode[i] = true;
            p.decoded_cost += n;
        } else {
            p.summarized += 1;
        }
    }
    p
}

/// False when `s` is certainly read by the full decode: the mode says so, its chunks
/// overlap, there is no window, or no chunk has a summary (a series with only its open
/// head chunk, say; checked before anything is allocated for it).
fn summaries_may_apply(mode: SummaryMode, s: &Series, ends: &[i64]) -> bool {
    mode != SummaryMode::Never
        && !s.is_overlapping()
        && !ends.is_empty()
        && s.chunks()
            .iter()
            .any(|c| c.summary().is_some() || c.split().is_some())
}

/// About how many samples [`eval_series`] decodes for `s` over the windows
/// `(starts[i], ends[i]]` (the chunks it cannot read from summaries), or `None` where it
/// would decode the whole series: the work estimate that decides whether a selection is
/// worth splitting across threads.
pub fn decode_estimate(
    f: SummaryFn,
    mode: SummaryMode,
    s: &Series,
    starts: &[i64],
    ends: &[i64],
) -> Option<usize> {
    if !summaries_may_apply(mode, s, ends) {
        return None;
    }
    let p = plan(f, &parts(f, s, starts, ends), starts, ends);
    (p.summarized > 0).then_some(p.decoded_cost + p.summarized)
}

/// Evaluates `f` over the windows `(ends[i] - range, ends[i]]` of `s` from summaries and
/// edge chunks. `Ok(None)` means "use the full decode" (the series overlaps, the mode or
/// cost estimate says so, or a window needs what summaries cannot give).
pub fn eval_series(
    f: SummaryFn,
    mode: SummaryMode,
    s: &Series,
    ends: &[i64],
    range: i64,
    buf: &mut SeriesBuf,
) -> Result<Option<Vec<Option<f64>>>> {
    if !summaries_may_apply(mode, s, ends) {
        return Ok(None);
    }
    let starts: Vec<i64> = ends.iter().map(|e| e.saturating_sub(range)).collect();
    let chunks = parts(f, s, &starts, ends);
    let (first_end, last_end) = (ends[0], ends[ends.len() - 1]);
    let Plan {
        decode,
        summarized,
        decoded_cost,
        total,
        met,
    } = plan(f, &chunks, &starts, ends);
    if summarized == 0 {
        return Ok(None);
    }
    if mode == SummaryMode::Auto && f.full_is_per_window() {
        // Per step the summary path folds the chunks of one window plus two edge chunks'
        // samples; the full path decodes everything once and then does O(1) per step, or
        // re-reads each window sample by sample (sum, avg).
        let met = met.max(1) as f64;
        let extent = (last_end - first_end).saturating_add(range).max(1) as f64;
        let share = (range.max(1) as f64 / extent).min(1.0);
        let per_chunk = total as f64 / met;
        let steps = ends.len() as f64;
        let summary_cost = decoded_cost as f64 + steps * (met * share + 2.0 * per_chunk);
        let full_cost = total as f64
            + if f.full_is_per_window() {
                steps * total as f64 * share
            } else {
                steps
            };
        if summary_cost >= full_cost {
            return Ok(None);
        }
    }
    // Decode the edge chunks (stale markers removed), remembering each one's samples.
    buf.samples.clear();
    let mut spans: Vec<(usize, usize)> = vec![(0, 0); chunks.len()];
    for (i, &d) in decode.iter().enumerate() {
        if !d {
            continue;
        }
        buf.ts.clear();
        buf.vs.clear();
        let lo = buf.samples.len();
        // Timestamps of the live samples are all that counting functions read (values 0).
        let p = chunks[i];
        let counts_only = f.counts_only() && p.side == Side::Whole;
        match p.side {
            Side::Whole if counts_only => {
                s.decode_chunk_live_times(p.chunk, &mut buf.ts, &mut buf.vs)?
            }
            Side::Whole => s.decode_chunk_after(p.chunk, starts[0], &mut buf.ts, &mut buf.vs)?,
            Side::Rest => s.decode_chunk_rest(p.chunk, &mut buf.ts, &mut buf.vs)?,
            // A prefix is made only where its summary is used (`parts`), never decoded.
            Side::Prefix => return Ok(None),
        }
        // Only samples inside some window are kept: (first start, last end].
        let a = buf.ts.partition_point(|&t| t <= starts[0]);
        let b = buf.ts.partition_point(|&t| t <= last_end).max(a);
        buf.samples.reserve(b - a);
        if counts_only {
            buf.samples
                .extend(buf.ts[a..b].iter().map(|&t| Sample::new(t, 0.0)));
        } else {
            let (ts, vs) = (&buf.ts[a..b], &buf.vs[a..b]);
            let pairs = ts.iter().zip(vs).map(|(&t, &v)| Sample::new(t, v));
            // Staleness markers are rare: copy a run without them in one go.
            if vs.iter().any(|&v| is_stale(v)) {
                buf.samples.extend(pairs.filter(|s| !is_stale(s.v)));
            } else {
                buf.samples.extend(pairs);
            }
        }
        spans[i] = (lo, buf.samples.len());
    }
    // One window (an instant query) is folded directly: laying pieces out costs more.
    if !f.full_is_per_window() && ends.len() > 1 {
        if let Some(out) = slide(f, &chunks, &decode, &spans, &starts, ends, range, buf)? {
            return Ok(Some(out));
        }
    }
    let cmin: Vec<i64> = chunks.iter().map(|c| c.min_time).collect();
    let cmax: Vec<i64> = chunks.iter().map(|c| c.max_time).collect();
    let mut corr = Vec::new();
    let mut out = Vec::with_capacity(ends.len());
    let mut err = None;
    for (j, (&start, &end)) in starts.iter().zip(ends).enumerate() {
        if SeriesBuf::stopped(&buf.stop, j, &mut err) {
            break;
        }
        let a = cmax.partition_point(|&t| t <= start);
        let b = cmin.partition_point(|&t| t <= end);
        let mut acc = Acc::new(f, &mut corr);
        for i in a..b.max(a) {
            if decode[i] {
                let (lo, hi) = spans[i];
                let part = &buf.samples[lo..hi];
                let x = part.partition_point(|p| p.t <= start);
                let y = part.partition_point(|p| p.t <= end);
                acc.samples(&part[x..y.max(x)]);
            } else if let Some(sm) = chunks[i].summary {
                acc.summary(sm, chunks[i].corrections);
            }
        }
        match acc.finish(f, end, range) {
            Ok(v) => out.push(v),
            Err(()) => return Ok(None),
        }
    }
    if let Some(e) = err {
        return Err(e);
    }
    Ok(Some(out))
}

/// One piece of a series' history for [`slide`]: everything (decoded samples and whole
/// chunks' summaries) between two consecutive window boundaries, folded in time order.
/// Every window is a run of whole pieces.
#[derive(Clone, Copy)]
struct Piece {
    first: Sample,
    last: Sample,
    /// Lowest and highest value, the first one of equals (NaN only if every value is NaN).
    min: f64,
    max: f64,
    /// Which gap between window boundaries it lies in.
    seg: usize,
}

/// Per-window values that are sums of integers over pieces and the boundaries between
/// them, kept as prefix sums (exact).
#[derive(Clone, Copy, Default)]
struct Counts {
    count: u64,
    changes: u64,
    resets: u64,
    /// Counter corrections before this point (index into the ordered list).
    corr: usize,
}

/// Lays a series' history out as [`Piece`]s with prefix [`Counts`] and the ordered list of
/// counter corrections.
struct Layout {
    counter: bool,
    pieces: Vec<Piece>,
    /// `counts[i]`: totals before piece `i` and the boundary before it; one entry more than
    /// `pieces` once finished.
    counts: Vec<Counts>,
    /// Running totals.
    run: Counts,
    corr: Vec<f64>,
    /// Per piece: whether its first correction is the one at the boundary with its
    /// predecessor (which belongs to a window only if the predecessor does too).
    boundary_corr: Vec<bool>,
    /// Upper bound of `sum |x|` over everything laid out (NaN counted as 0).
    bound: f64,
}

impl Layout {
    /// Adds a run of samples (or one chunk's summary) from `first` to `last` in time order,
    /// all within gap `seg` between window boundaries (after `bounds[seg - 1]`, up to
    /// `bounds[seg]`), with its own totals and counter corrections (in order; a summary's as
    /// one number).
    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        seg: usize,
        first: Sample,
        last: Sample,
        min: f64,
        max: f64,
        count: u64,
        changes: u64,
        resets: u64,
        inner: &[f64],
    ) {
        let joins = self.pieces.last().is_some_and(|p| p.seg == seg);
        if !joins {
            self.counts.push(self.run);
        }
        let mut bc = false;
        if let Some(prev) = self.pieces.last() {
            let pv = prev.last.v;
            if first.v < pv {
                self.run.resets += 1;
                if self.counter {
                    bc = true;
                    self.corr.push(pv);
                }
            }
            if changed(pv, first.v) {
                self.run.changes += 1;
            }
        }
        self.run.count += count;
        self.run.changes += changes;
        self.run.resets += resets;
        self.corr.extend_from_slice(inner);
        self.run.corr = self.corr.len();
        if joins {
            let p = self.pieces.last_mut().expect("joins an existing piece");
            p.last = last;
            if p.min.is_nan() || min < p.min {
                p.min = min;
            }
            if p.max.is_nan() || max > p.max {
                p.max = max;
            }
        } else {
            self.pieces.push(Piece {
                first,
                last,
                min,
                max,
                seg,
            });
            self.boundary_corr.push(bc);
        }
    }

    fn finish(&mut self) {
        self.counts.push(self.run);
    }
}

/// A monotonic queue of piece indices giving the first lowest (or highest) value of a
/// window that only moves forward; NaN values never enter it.
struct Extreme {
    q: std::collections::VecDeque<usize>,
    /// Piece indices pushed so far.
    next: usize,
}

impl Extreme {
    fn new() -> Extreme {
        Extreme {
            q: std::collections::VecDeque::new(),
            next: 0,
        }
    }

    /// The window's extreme over pieces `[a, b)`: `value(i)` of piece `i`, `better(x, y)`
    /// true when `x` strictly beats `y`. Earlier pieces win ties, as in a fold in time order.
    fn window(
        &mut self,
        a: usize,
        b: usize,
        value: impl Fn(usize) -> f64,
        better: impl Fn(f64, f64) -> bool,
    ) -> f64 {
        while self.next < b {
            let v = value(self.next);
            if !v.is_nan() {
                while self.q.back().is_some_and(|&j| better(v, value(j))) {
                    self.q.pop_back();
                }
                self.q.push_back(self.next);
            }
            self.next += 1;
        }
        while self.q.front().is_some_and(|&j| j < a) {
            self.q.pop_front();
        }
        self.q.front().map_or(f64::NAN, |&j| value(j))
    }
}

/// The functions whose per-window fold is order-free except for the counter corrections
/// (everything but `sum_over_time` and `avg_over_time`), slid across the steps: the
/// series' pieces (decoded samples of the edge chunks, summaries of the others) are laid
/// out once with prefix sums of their counts, changes and resets and the ordered list of
/// counter corrections; each step then finds its pieces by binary search and adds only its
/// corrections, in the same order as [`Acc`] would. Results are bit-identical to the
/// per-window fold. `Ok(None)`: leave it to the per-window fold (a sum could come near
/// overflow, so [`Acc::finish`]'s check is needed per window).
#[allow(clippy::too_many_arguments)]
fn slide(
    f: SummaryFn,
    chunks: &[Part<'_>],
    decode: &[bool],
    spans: &[(usize, usize)],
    starts: &[i64],
    ends: &[i64],
    range: i64,
    buf: &SeriesBuf,
) -> Result<Option<Vec<Option<f64>>>> {
    let counter = f.is_counter();
    let (first_start, last_end) = (starts[0], ends[ends.len() - 1]);
    let mut bounds: Vec<i64> = starts.iter().chain(ends).copied().collect();
    bounds.sort_unstable();
    bounds.dedup();
    let mut lay = Layout {
        counter,
        pieces: Vec::new(),
        counts: Vec::new(),
        run: Counts::default(),
        corr: Vec::new(),
        boundary_corr: Vec::new(),
        bound: 0.0,
    };
    let mut own: Vec<f64> = Vec::new();
    // What the function needs besides counts and the first and last values.
    let sums = f.sums();
    let extremes = matches!(f, SummaryFn::Min | SummaryFn::Max);
    let need_resets = counter || f == SummaryFn::Resets;
    let need_changes = f == SummaryFn::Changes;
    for (i, c) in chunks.iter().enumerate() {
        if c.max_time <= first_start || c.min_time > last_end {
            continue;
        }
        if decode[i] {
            let (lo, hi) = spans[i];
            let samples = &buf.samples[lo..hi];
            // Runs of samples between consecutive window boundaries (both walked forward,
            // the boundaries from the first one at or after this chunk's first sample).
            let mut seg = samples
                .first()
                .map_or(0, |x| bounds.partition_point(|&b| b < x.t));
            let mut k = 0;
            while k < samples.len() {
                while seg < bounds.len() && bounds[seg] < samples[k].t {
                    seg += 1;
                }
                let limit = bounds.get(seg).copied().unwrap_or(i64::MAX);
                let mut e = k + 1;
                while e < samples.len() && samples[e].t <= limit {
                    e += 1;
                }
                let run = &samples[k..e];
                let (mut min, mut max) = (f64::NAN, f64::NAN);
                let (mut changes, mut resets) = (0u64, 0u64);
                own.clear();
                if sums {
                    lay.bound += abs_sum(run);
                }
                if extremes {
                    for x in run {
                        if min.is_nan() || x.v < min {
                            min = x.v;
                        }
                        if max.is_nan() || x.v > max {
                            max = x.v;
                        }
                    }
                }
                if need_resets {
                    for w in run.windows(2) {
                        if w[1].v < w[0].v {
                            resets += 1;
                            if counter {
                                own.push(w[0].v);
                            }
                        }
                    }
                }
                if need_changes {
                    changes = run.windows(2).filter(|w| changed(w[0].v, w[1].v)).count() as u64;
                }
                let (first, last) = (run[0], run[run.len() - 1]);
                lay.add(
                    seg,
                    first,
                    last,
                    min,
                    max,
                    run.len() as u64,
                    changes,
                    resets,
                    &own,
                );
                k = e;
            }
        } else if let Some(sm) = c.summary {
            if sm.count == 0 {
                continue;
            }
            lay.bound += f64::from(sm.count) * abs_or_zero(sm.min).max(abs_or_zero(sm.max));
            let sum = [sm.increase - (sm.last.v - sm.first.v)];
            let inner = match c.corrections {
                _ if !counter || sm.resets == 0 => &[][..],
                Some(each) => each,
                None => &sum[..],
            };
            lay.add(
                bounds.partition_point(|&b| b < sm.first.t),
                sm.first,
                sm.last,
                sm.min,
                sm.max,
                u64::from(sm.count),
                u64::from(sm.changes),
                u64::from(sm.resets),
                inner,
            );
        }
    }
    lay.finish();
    let Layout {
        pieces,
        counts,
        corr,
        boundary_corr,
        bound,
        ..
    } = lay;
    if f.sums() && bound >= SUM_LIMIT {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(ends.len());
    let mut err = None;
    let (mut lows, mut highs) = (Extreme::new(), Extreme::new());
    // The window's pieces `[a, b)`; both ends only move forward as the steps do.
    let (mut a, mut b) = (0usize, 0usize);
    for (j, (&start, &end)) in starts.iter().zip(ends).enumerate() {
        if SeriesBuf::stopped(&buf.stop, j, &mut err) {
            break;
        }
        // Pieces in the window: those ending after `start` and starting at or before `end`
        // (a summarized chunk lies wholly inside or outside every window).
        while a < pieces.len() && pieces[a].last.t <= start {
            a += 1;
        }
        b = b.max(a);
        while b < pieces.len() && pieces[b].first.t <= end {
            b += 1;
        }
        if a == b {
            out.push(None);
            continue;
        }
        // The boundary before piece `a` belongs to the previous window only.
        let (ca, cb) = (counts[a], counts[b]);
        let count = cb.count - ca.count;
        let mut changes = cb.changes - ca.changes;
        let mut resets = cb.resets - ca.resets;
        // Piece `a`'s corrections start at `ca.corr`; a boundary correction of its own comes
        // first and is left out.
        let first_corr = ca.corr + usize::from(boundary_corr[a]);
        if a > 0 {
            // Undo the boundary between pieces `a - 1` and `a`.
            let (pv, v) = (pieces[a - 1].last.v, pieces[a].first.v);
            if v < pv {
                resets -= 1;
            }
            if changed(pv, v) {
                changes -= 1;
            }
        }
        let (first, last) = (pieces[a].first, pieces[b - 1].last);
        let v = match f {
            SummaryFn::Count => count as f64,
            SummaryFn::Present => 1.0,
            SummaryFn::Last => last.v,
            SummaryFn::Min => lows.window(a, b, |i| pieces[i].min, |x, y| x < y),
            SummaryFn::Max => highs.window(a, b, |i| pieces[i].max, |x, y| x > y),
            SummaryFn::Changes => changes as f64,
            SummaryFn::Resets => resets as f64,
            SummaryFn::Rate | SummaryFn::Increase | SummaryFn::Delta => {
                if count < 2 {
                    out.push(None);
                    continue;
                }
                let mut result = last.v - first.v;
                if counter {
                    for &c in &corr[first_corr..cb.corr] {
                        result += c;
                    }
                }
                extrapolate_window(
                    first,
                    last,
                    count as usize,
                    result,
                    end,
                    range,
                    counter,
                    f == SummaryFn::Rate,
                )
            }
            // Order-dependent sums are folded per window by the caller.
            SummaryFn::Sum | SummaryFn::Avg => return Ok(None),
        };
        out.push(Some(v));
    }
    if let Some(e) = err {
        return Err(e);
    }
    Ok(Some(out))
}

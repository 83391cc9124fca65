//! Incremental evaluation of long range windows in rule expressions.
//!
//! A rule such as `1 - sum(increase(errors_total[30d])) / sum(increase(requests_total[30d]))`
//! evaluated every minute must not read 30 days of samples each time. [`IncrementalQuery`]
//! keeps, for every eligible `f(selector[range])` of the expression (`f` one of `rate`,
//! `increase`, `delta`, `sum_over_time`, `count_over_time`, `avg_over_time`,
//! `min_over_time`, `max_over_time`; range at least one hour by default), per series
//! partial aggregates in aligned buckets, folds in only the samples that arrived since the
//! previous evaluation, drops what slid out, and reads the window's left edge raw. The
//! values are then handed to the ordinary evaluator through
//! [`strata_query::eval::RangeCallHook`], so the result of the whole expression is what
//! [`strata_query::Engine::instant_expr`] returns, **bit for bit**, when it decodes every
//! sample (the evaluator's chunk-summary path, which block chunks and sealed head chunks
//! allow, adds sums of non-integer values in another order: see
//! `strata_query::eval::summary` for its bound; integer-valued data is bit-identical on
//! both paths).
//!
//! # Shape
//!
//! * [`layout`]: buckets of width `B = range / 8` (rounded) aligned on the epoch form a
//!   ring covering the window right of the bucket that holds the window start `e`; that
//!   bucket is cut in a binary tree of `2^levels` leaves: the leaf holding `e` is read raw
//!   at every evaluation, and one aggregate per level covers the rest of the bucket after
//!   `e`. Every window is exactly *raw leaf + at most `levels` detail aggregates + at most
//!   8 bucket aggregates*.
//! * [`family`], [`rate`], [`sum`]: the aggregates ("pieces") of each function family and
//!   how a window's value is computed from them.
//! * [`state`]: per window, the series' pieces and the evaluation step (reads only the new
//!   samples and one leaf of the left edge; see its documentation for the exact reads, the
//!   invariants and the late-data assumption).
//! * [`reader`]: one evaluation's storage selects, shared by windows over the same metric
//!   and time range (`x{code=~"5.."}[30d]` and `x[30d]` in one ratio).
//! * [`query`]: the expression, the eligible calls, and the hook.
//!
//! # Floating-point order
//!
//! The evaluator's results depend on the order of its floating-point additions; the
//! window's first sample changes at every evaluation, so no stored partial sum can be
//! resumed. Each value is therefore produced in one of three ways, all bit-identical:
//!
//! * order-free functions: `count_over_time` (integers), `min_over_time`/`max_over_time`
//!   (the evaluator's fold is associative over time-ordered pieces, including which of
//!   `0.0`/`-0.0` wins and NaN-only windows), and the first/last/count part of `rate`;
//! * exact arithmetic: when all terms are multiples of one power of two and small enough,
//!   every addition is exact and the order irrelevant ([`exact::sum_is_exact`]): integer
//!   counters with any number of resets, integer gauges;
//! * replayed or certified: `rate`'s reset corrections are replayed one by one when each
//!   stored piece holds at most one (a float counter resetting a few times a month); a
//!   compensated `sum_over_time`/`avg_over_time` of arbitrary floats is certified
//!   ([`exact::certify`]): when the values' bit ranges show that the evaluator's
//!   compensation term is computed without rounding, its result is the correctly rounded
//!   exact sum, which a double-double enclosure gives (ties included); otherwise a proven
//!   bound on the evaluator's error decides, failing only within about `n^2 2^-106`
//!   (relative) of a rounding boundary;
//!
//! and when none applies (NaN or infinities in a sum, two float-valued resets in one
//! stored piece, a certification that fails), that series' window is re-read raw and
//! evaluated by the evaluator's own function. [`WindowStats::replayed`] counts those.
//! There is no approximate path: a value is either proven bit-identical or recomputed.
//!
//! # Memory
//!
//! Per series and window: its label vector (strings shared with the database), a cursor and
//! `8 + levels` pieces of 4 to 40 bytes; `levels` is chosen per family so the total stays
//! within [`state::STATE_BUDGET`] (1 KiB) for series of up to 8 labels.
//! [`IncrementalQuery::stats`] reports the bytes held.

pub mod exact;
pub mod family;
pub mod layout;
pub mod query;
pub mod rate;
pub mod reader;
pub mod state;
pub mod sum;

pub use family::Func;
pub use query::{layout_for, IncrementalOptions, IncrementalQuery};

/// Memory and work of the incremental windows of one or more queries, for `/metrics`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WindowStats {
    /// Windows kept incrementally.
    pub windows: usize,
    /// Series states held, summed over windows.
    pub series: usize,
    /// Bytes held by the states.
    pub bytes: usize,
    /// Largest state of one series in one window, bytes.
    pub max_series_bytes: usize,
    /// Evaluations of windows.
    pub evaluations: u64,
    /// Times a window was (re)built from storage.
    pub builds: u64,
    /// Series values decided from the aggregates.
    pub aggregated: u64,
    /// Series windows re-read raw because the aggregates could not decide the bits of a
    /// value.
    pub replayed: u64,
    /// Samples read from storage.
    pub samples_read: u64,
    /// Call results handed to the evaluator (each replaces a full read of a window).
    pub served: u64,
    /// Storage selects issued (two per window and evaluation at most, fewer when windows
    /// share them, plus one per replayed series).
    pub selects: u64,
}

impl WindowStats {
    /// Adds another query's figures.
    pub fn add(&mut self, o: &WindowStats) {
        self.windows += o.windows;
        self.series += o.series;
        self.bytes += o.bytes;
        self.max_series_bytes = self.max_series_bytes.max(o.max_series_bytes);
        self.evaluations += o.evaluations;
        self.builds += o.builds;
        self.aggregated += o.aggregated;
        self.replayed += o.replayed;
        self.samples_read += o.samples_read;
        self.served += o.served;
        self.selects += o.selects;
    }
}

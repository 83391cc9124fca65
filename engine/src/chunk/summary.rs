//! Chunk summaries: what long-window range functions need from a sealed chunk without
//! decoding it. Stored per chunk in a block's index (`docs/format/index.md`).
//!
//! A summary describes the chunk's samples **with staleness markers removed**, because range
//! functions never see them (PromQL drops stale markers from range vectors); how many markers
//! there were is recorded separately. Every aggregate is computed in sample order with the
//! same arithmetic as the evaluator's per-window code (`query/src/functions`):
//!
//! - `sum`: Kahan-compensated sum, as `sum_over_time` (the compensated total, `s + c`);
//! - `min`/`max`: as `min_over_time`/`max_over_time`: NaN only if every value is NaN;
//! - `increase`: as the raw (unextrapolated) result of `increase`: `last - first`, then for
//!   every counter reset (a value below its predecessor) the predecessor is added, in order;
//! - `resets`: number of resets; `changes`: number of value changes (NaN to NaN is none).
//!
//! Combining summaries of consecutive chunks for a long window needs the first and last
//! samples too (a reset may sit between two chunks); for integer-valued data every sum is
//! exact, so combination order does not matter; for other values a combined sum can differ
//! from the sequential sum in the last bits (the long-window query work states its bound).
//!
//! Encoding (all integers varints, floats either a zig-zag varint when the value is an
//! integer of magnitude below 2^53 or 8 little-endian bytes of its bits; a mask says which):
//!
//! ```text
//! u8 flags     0x01 has NaN values   0x02 has stale markers (uvarint count follows)
//!              0x04 no non-stale samples (nothing else follows)
//!              0x08 first.t/last.t differ from the chunk's min/max time (two varints follow)
//!              0x10 min == first   0x20 max == last   0x40 no resets (increase == last-first)
//!              0x80 changes == count - 1 (every step changed)
//! [uvarint stale]
//! [zvarint first.t - min_time, zvarint max_time - last.t]     (flag 0x08)
//! u8 mask      bit i set: value field i is a zvarint integer
//! f first, then if count > 1: f last, f sum, [f min], [f max], [f increase, uvarint resets],
//! [uvarint changes]
//! ```
//! `count` is not stored: it is the chunk's sample count (in the index entry) minus `stale`.

use crate::encoding::{put_uvarint, put_zvarint, ByteCursor};
use crate::{is_stale, Sample};

/// Aggregates of a chunk's non-stale samples (see the module doc for exact definitions).
#[derive(Clone, Copy, Debug)]
pub struct ChunkSummary {
    /// Non-stale samples.
    pub count: u32,
    /// Staleness markers.
    pub stale: u32,
    /// First non-stale sample (meaningless when `count == 0`).
    pub first: Sample,
    /// Last non-stale sample (meaningless when `count == 0`).
    pub last: Sample,
    /// Kahan-compensated sum of the values.
    pub sum: f64,
    /// Minimum value (NaN only if every value is NaN).
    pub min: f64,
    /// Maximum value (NaN only if every value is NaN).
    pub max: f64,
    /// Counter increase: `last - first` plus the value before each reset.
    pub increase: f64,
    /// Counter resets (a value below its predecessor).
    pub resets: u32,
    /// Value changes between consecutive samples (NaN to NaN is none).
    pub changes: u32,
    /// Some value is NaN (not counting stale markers).
    pub has_nan: bool,
}

impl PartialEq for ChunkSummary {
    /// Bit-exact comparison of every field.
    fn eq(&self, o: &Self) -> bool {
        let b = |x: f64| x.to_bits();
        self.count == o.count
            && self.stale == o.stale
            && self.resets == o.resets
            && self.changes == o.changes
            && self.has_nan == o.has_nan
            && (self.count == 0
                || (self.first.t == o.first.t
                    && self.last.t == o.last.t
                    && b(self.first.v) == b(o.first.v)
                    && b(self.last.v) == b(o.last.v)
                    && b(self.sum) == b(o.sum)
                    && b(self.min) == b(o.min)
                    && b(self.max) == b(o.max)
                    && b(self.increase) == b(o.increase)))
    }
}

fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// Folds the next sample into `s` and the compensated sum `(sum, c)`, as
/// [`ChunkSummary::compute`] defines each field; returns the value before it if it is a
/// counter reset (the correction `increase` adds once the last value is known).
#[inline]
fn fold(s: &mut ChunkSummary, (sum, c): (&mut f64, &mut f64), t: i64, v: f64) -> Option<f64> {
    if is_stale(v) {
        s.stale += 1;
        return None;
    }
    let mut reset = None;
    if s.count == 0 {
        s.first = Sample::new(t, v);
    } else {
        let prev = s.last.v;
        if v < prev {
            s.resets += 1;
            reset = Some(prev);
        }
        if v != prev && !(v.is_nan() && prev.is_nan()) {
            s.changes += 1;
        }
    }
    s.last = Sample::new(t, v);
    s.count += 1;
    (*sum, *c) = kahan_inc(v, *sum, *c);
    if s.min.is_nan() || v < s.min {
        s.min = v;
    }
    if s.max.is_nan() || v > s.max {
        s.max = v;
    }
    s.has_nan |= v.is_nan();
    reset
}

/// The compensated total of a Kahan sum (the sum alone once it is infinite).
fn total(sum: f64, c: f64) -> f64 {
    if sum.is_infinite() {
        sum
    } else {
        sum + c
    }
}

/// A [`ChunkSummary`] built one sample at a time, in sample order, with the same arithmetic
/// as [`ChunkSummary::compute`] (so the same bits for the same samples): what an open
/// chunk's mark keeps for the samples up to it (`ChunkBuilder::tail_into`).
#[derive(Clone, Debug)]
pub(crate) struct SummaryAcc {
    s: ChunkSummary,
    sum: f64,
    c: f64,
    /// The value before each counter reset, in order: `increase` adds them to `last - first`
    /// only once `last` is known.
    corr: Vec<f64>,
}

impl SummaryAcc {
    pub(crate) fn new() -> SummaryAcc {
        SummaryAcc {
            s: ChunkSummary::EMPTY,
            sum: 0.0,
            c: 0.0,
            corr: Vec::new(),
        }
    }

    /// Adds the next sample (later than every one added).
    #[inline]
    pub(crate) fn push(&mut self, t: i64, v: f64) {
        if let Some(prev) = fold(&mut self.s, (&mut self.sum, &mut self.c), t, v) {
            self.corr.push(prev);
        }
    }

    /// The value before each counter reset so far, in order.
    pub(crate) fn corrections(&self) -> &[f64] {
        &self.corr
    }

    /// The summary of the samples added so far.
    pub(crate) fn finish(&self) -> ChunkSummary {
        let mut s = self.s;
        if s.count > 0 {
            s.sum = total(self.sum, self.c);
            s.increase = s.last.v - s.first.v;
            for &p in &self.corr {
                s.increase += p;
            }
        }
        s
    }
}

const HAS_NAN: u8 = 0x01;
const HAS_STALE: u8 = 0x02;
const EMPTY: u8 = 0x04;
const INNER_ENDS: u8 = 0x08;
const MIN_IS_FIRST: u8 = 0x10;
const MAX_IS_LAST: u8 = 0x20;
const NO_RESETS: u8 = 0x40;
const ALL_CHANGED: u8 = 0x80;

impl ChunkSummary {
    /// The summary of no samples.
    pub const EMPTY: ChunkSummary = ChunkSummary {
        count: 0,
        stale: 0,
        first: Sample::new(0, 0.0),
        last: Sample::new(0, 0.0),
        sum: 0.0,
        min: f64::NAN,
        max: f64::NAN,
        increase: 0.0,
        resets: 0,
        changes: 0,
        has_nan: false,
    };

    /// Summarises samples given as columns (timestamps strictly increasing): one pass, and a
    /// second over the values only if there are resets (the head runs this at every seal).
    /// [`SummaryAcc`] folds the same way sample by sample, keeping the corrections instead.
    pub fn compute(ts: &[i64], vs: &[f64]) -> ChunkSummary {
        let mut s = ChunkSummary::EMPTY;
        let (mut sum, mut c) = (0.0, 0.0);
        for (&t, &v) in ts.iter().zip(vs) {
            fold(&mut s, (&mut sum, &mut c), t, v);
        }
        if s.count > 0 {
            s.sum = total(sum, c);
            s.increase = s.last.v - s.first.v;
            if s.resets > 0 {
                s.increase = apply_corrections(s.increase, vs);
            }
        }
        s
    }

    /// Appends the encoding; `min_t`, `max_t` and `n` are the chunk's, stored beside it.
    pub(crate) fn encode(&self, out: &mut Vec<u8>, min_t: i64, max_t: i64) {
        let mut flags = 0u8;
        if self.has_nan {
            flags |= HAS_NAN;
        }
        if self.stale > 0 {
            flags |= HAS_STALE;
        }
        if self.count == 0 {
            flags |= EMPTY;
            out.push(flags);
            if self.stale > 0 {
                put_uvarint(out, u64::from(self.stale));
            }
            return;
        }
        let inner = self.first.t != min_t || self.last.t != max_t;
        if inner {
            flags |= INNER_ENDS;
        }
        let same = |a: f64, b: f64| a.to_bits() == b.to_bits();
        let multi = self.count > 1;
        // At most six fields, kept on the stack: head chunks are summarised as they are
        // sealed, on the write threads.
        let mut buf = [0f64; 6];
        let mut nf = 0usize;
        let mut push = |v: f64| {
            buf[nf] = v;
            nf += 1;
        };
        push(self.first.v);
        if multi {
            push(self.last.v);
            push(self.sum);
            if same(self.min, self.first.v) {
                flags |= MIN_IS_FIRST;
            } else {
                push(self.min);
            }
            if same(self.max, self.last.v) {
                flags |= MAX_IS_LAST;
            } else {
                push(self.max);
            }
            if self.resets == 0 && same(self.increase, self.last.v - self.first.v) {
                flags |= NO_RESETS;
            } else {
                push(self.increase);
            }
            if self.changes + 1 == self.count {
                flags |= ALL_CHANGED;
            }
        }
        let fields = &buf[..nf];
        out.push(flags);
        if self.stale > 0 {
            put_uvarint(out, u64::from(self.stale));
        }
        if inner {
            put_zvarint(out, self.first.t.wrapping_sub(min_t));
            put_zvarint(out, max_t.wrapping_sub(self.last.t));
        }
        let mut mask = 0u8;
        for (i, &f) in fields.iter().enumerate() {
            if as_int(f).is_some() {
                mask |= 1 << i;
            }
        }
        out.push(mask);
        for &f in fields {
            match as_int(f) {
                Some(i) => put_zvarint(out, i),
                None => out.extend_from_slice(&f.to_bits().to_le_bytes()),
            }
        }
        if multi && flags & NO_RESETS == 0 {
            put_uvarint(out, u64::from(self.resets));
        }
        if multi && flags & ALL_CHANGED == 0 {
            put_uvarint(out, u64::from(self.changes));
        }
    }

    /// Decodes a summary of a chunk with `n` samples spanning `[min_t, max_t]`; `None` on
    /// malformed bytes (the caller reports the section as corrupt).
    pub(crate) fn decode(
        c: &mut ByteCursor<'_>,
        n: u32,
        min_t: i64,
        max_t: i64,
    ) -> Option<ChunkSummary> {
        let flags = c.u8()?;
        let stale = if flags & HAS_STALE != 0 {
            u32::try_from(c.uvarint()?).ok().filter(|&s| s > 0)?
        } else {
            0
        };
        let count = n.checked_sub(stale)?;
        let mut s = ChunkSummary {
            count,
            stale,
            has_nan: flags & HAS_NAN != 0,
            ..ChunkSummary::EMPTY
        };
        if flags & EMPTY != 0 {
            return (count == 0).then_some(s);
        }
        if count == 0 {
            return None;
        }
        let (first_t, last_t) = if flags & INNER_ENDS != 0 {
            (
                min_t.wrapping_add(c.zvarint()?),
                max_t.wrapping_sub(c.zvarint()?),
            )
        } else {
            (min_t, max_t)
        };
        if first_t < min_t || last_t > max_t || first_t > last_t {
            return None;
        }
        let mask = c.u8()?;
        let mut i = 0u32;
        let mut field = |c: &mut ByteCursor<'_>| -> Option<f64> {
            let f = if mask & (1 << i) != 0 {
                c.zvarint()? as f64
            } else {
                c.f64_le()?
            };
            i += 1;
            Some(f)
        };
        let first_v = field(c)?;
        s.first = Sample::new(first_t, first_v);
        if count == 1 {
            // Everything follows from the one value, computed as `compute` computes it.
            let one = ChunkSummary::compute(&[first_t], &[first_v]);
            let s = ChunkSummary { stale, ..one };
            return (first_t == last_t && mask >> 1 == 0).then_some(s);
        }
        s.last = Sample::new(last_t, field(c)?);
        s.sum = field(c)?;
        s.min = if flags & MIN_IS_FIRST != 0 {
            first_v
        } else {
            field(c)?
        };
        s.max = if flags & MAX_IS_LAST != 0 {
            s.last.v
        } else {
            field(c)?
        };
        if flags & NO_RESETS != 0 {
            s.increase = s.last.v - s.first.v;
        } else {
            s.increase = field(c)?;
            s.resets = u32::try_from(c.uvarint()?).ok()?;
        }
        s.changes = if flags & ALL_CHANGED != 0 {
            count - 1
        } else {
            u32::try_from(c.uvarint()?).ok().filter(|&x| x < count)?
        };
        if s.resets >= count || mask >> i != 0 {
            return None;
        }
        Some(s)
    }
}

/// The value as an integer when it is one that an `f64` holds exactly and that survives the
/// round trip bit for bit (so not `-0.0`).
fn as_int(v: f64) -> Option<i64> {
    const LIMIT: f64 = (1u64 << 53) as f64;
    if v.fract() == 0.0 && v.abs() < LIMIT && v.to_bits() != (-0.0f64).to_bits() {
        Some(v as i64)
    } else {
        None
    }
}

/// `increase` plus the value before every reset, added in order, over the non-stale samples
/// (the evaluator's exact sequence of additions).
impl ChunkSummary {
    /// The summary of consecutive chunks (in time order, not overlapping) as one, folded
    /// piece by piece as the long-window evaluator folds chunk summaries: counts, resets and
    /// changes add up (a reset or change across a chunk edge counts as between two
    /// samples); minima and maxima keep the first of equals; `sum` is the compensated sum
    /// of the chunks' sums; `increase` is `last - first` plus, in order, each chunk's own
    /// corrections (`increase - (last - first)`, one number) and the value before each
    /// reset across a chunk edge. For integer-valued data whose partial sums stay below
    /// 2^53 this equals [`ChunkSummary::compute`] over all the samples, bit for bit.
    pub fn fold<'a>(parts: impl IntoIterator<Item = &'a ChunkSummary>) -> ChunkSummary {
        let mut out = ChunkSummary::EMPTY;
        let (mut sum, mut c) = (0.0, 0.0);
        let mut corrections: Vec<f64> = Vec::new();
        for p in parts {
            out.stale = out.stale.saturating_add(p.stale);
            if p.count == 0 {
                continue;
            }
            if out.count == 0 {
                out.first = p.first;
            } else {
                let prev = out.last.v;
                if p.first.v < prev {
                    out.resets = out.resets.saturating_add(1);
                    corrections.push(prev);
                }
                if p.first.v != prev && !(p.first.v.is_nan() && prev.is_nan()) {
                    out.changes = out.changes.saturating_add(1);
                }
            }
            out.resets = out.resets.saturating_add(p.resets);
            out.changes = out.changes.saturating_add(p.changes);
            if p.resets > 0 {
                corrections.push(p.increase - (p.last.v - p.first.v));
            }
            out.last = p.last;
            out.count = out.count.saturating_add(p.count);
            (sum, c) = kahan_inc(p.sum, sum, c);
            if out.min.is_nan() || p.min < out.min {
                out.min = p.min;
            }
            if out.max.is_nan() || p.max > out.max {
                out.max = p.max;
            }
            out.has_nan |= p.has_nan;
        }
        if out.count > 0 {
            out.sum = if sum.is_infinite() { sum } else { sum + c };
            out.increase = out.last.v - out.first.v;
            for x in corrections {
                out.increase += x;
            }
        }
        out
    }
}

fn apply_corrections(mut result: f64, vs: &[f64]) -> f64 {
    let mut prev: Option<f64> = None;
    for &v in vs {
        if is_stale(v) {
            continue;
        }
        if let Some(p) = prev {
            if v < p {
                result += p;
            }
        }
        prev = Some(v);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(ts: &[i64], vs: &[f64]) -> ChunkSummary {
        let s = ChunkSummary::compute(ts, vs);
        let (lo, hi) = (ts[0], ts[ts.len() - 1]);
        let mut out = Vec::new();
        s.encode(&mut out, lo, hi);
        let mut c = ByteCursor::new(&out);
        let d = ChunkSummary::decode(&mut c, ts.len() as u32, lo, hi).expect("decodes");
        assert!(c.is_empty(), "every byte consumed");
        assert_eq!(s, d);
        s
    }

    #[test]
    fn counter_with_resets() {
        let ts: Vec<i64> = (0..6).map(|i| i * 15_000).collect();
        let vs = [10.0, 12.0, 3.0, 5.0, 1.0, 4.0];
        let s = round_trip(&ts, &vs);
        assert_eq!((s.count, s.resets, s.changes), (6, 2, 5));
        // 4 - 10 + 12 + 5
        assert_eq!(s.increase, 11.0);
        assert_eq!((s.min, s.max, s.sum), (1.0, 12.0, 35.0));
    }

    #[test]
    fn stale_markers_are_left_out() {
        let st = crate::stale_nan();
        let ts = [1, 2, 3, 4];
        let s = round_trip(&ts, &[st, 5.0, 5.0, st]);
        assert_eq!((s.count, s.stale, s.changes), (2, 2, 0));
        assert_eq!((s.first.t, s.last.t), (2, 3));
        let s = round_trip(&ts, &[st, st, st, st]);
        assert_eq!((s.count, s.stale), (0, 4));
    }

    #[test]
    fn nan_min_max_follow_the_evaluator() {
        let s = round_trip(&[1, 2, 3], &[f64::NAN, 2.0, 1.0]);
        assert_eq!((s.min, s.max), (1.0, 2.0));
        assert!(s.has_nan && s.sum.is_nan());
        let s = round_trip(&[1, 2], &[f64::NAN, f64::NAN]);
        assert!(s.min.is_nan() && s.max.is_nan());
        assert_eq!(s.changes, 0);
    }

    #[test]
    fn malformed_summaries_are_refused() {
        let s = ChunkSummary::compute(&[1, 2, 3], &[1.0, 0.5, 2.0]);
        let mut out = Vec::new();
        s.encode(&mut out, 1, 3);
        for cut in 0..out.len() {
            let mut c = ByteCursor::new(&out[..cut]);
            assert!(
                ChunkSummary::decode(&mut c, 3, 1, 3).is_none(),
                "cut at {cut}"
            );
        }
        // A sample count that cannot hold the stale markers.
        let s = ChunkSummary::compute(&[1, 2], &[crate::stale_nan(), crate::stale_nan()]);
        let mut out = Vec::new();
        s.encode(&mut out, 1, 2);
        assert!(ChunkSummary::decode(&mut ByteCursor::new(&out), 1, 1, 2).is_none());
    }

    proptest! {
        #[test]
        fn summaries_round_trip(vals in proptest::collection::vec(prop_oneof![
            4 => (0i64..1000).prop_map(|x| x as f64),
            2 => any::<f64>(),
            1 => Just(f64::NAN),
            1 => Just(crate::stale_nan()),
            1 => Just(-0.0),
        ], 1..200), gaps in proptest::collection::vec(1i64..100_000, 200)) {
            let mut t = -5_000_000i64;
            let ts: Vec<i64> = gaps.iter().take(vals.len()).map(|g| { t += g; t }).collect();
            round_trip(&ts, &vals);
        }

        #[test]
        fn fold_of_parts_equals_the_whole_on_integers(
            vals in proptest::collection::vec(prop_oneof![
                6 => (0i64..1000).prop_map(|x| x as f64),
                1 => Just(crate::stale_nan()),
                1 => Just(-0.0),
                1 => Just(0.0),
            ], 1..200),
            cuts in proptest::collection::vec(0usize..200, 0..8),
        ) {
            let ts: Vec<i64> = (0..vals.len() as i64).map(|i| i * 15_000).collect();
            let mut cuts: Vec<usize> = cuts.into_iter().filter(|&c| c < vals.len()).collect();
            cuts.push(0);
            cuts.push(vals.len());
            cuts.sort_unstable();
            cuts.dedup();
            let parts: Vec<ChunkSummary> = cuts
                .windows(2)
                .map(|w| ChunkSummary::compute(&ts[w[0]..w[1]], &vals[w[0]..w[1]]))
                .collect();
            let whole = ChunkSummary::compute(&ts, &vals);
            prop_assert_eq!(ChunkSummary::fold(&parts), whole);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64), n in 0u32..300) {
            let _ = ChunkSummary::decode(&mut ByteCursor::new(&bytes), n, 0, 1_000_000);
        }
    }
}

//! Frame-of-reference (FOR) bit packing of one integer column, with optional sparse bitmap
//! and exceptions ("patched FOR"). Both timestamps and values of the packed encodings are
//! columns.
//!
//! A column encodes `n` integers `y_0 .. y_{n-1}` (wrapping `i64`). It first applies a
//! transform of order `k`:
//!
//! - `k = 0`: `x_i = y_i - i * slope` (a straight line is removed; `slope` may be 0);
//! - `k = 1`: `x_i = y_{i+1} - y_i` (deltas), the first value `y_0` is stored as a varint;
//! - `k = 2`: deltas of deltas, `y_0` and `y_1 - y_0` stored as varints.
//!
//! The `cnt = n - k` values `x` are then stored as `p = x - base` in `width` bits each,
//! except for *exceptions*: the few `x` outside `[base, base + 2^width - 1]` (a counter reset,
//! a slow scrape), whose `x - base` is stored as a zig-zag varint with its index. A *sparse*
//! column prefixes a bitmap of `cnt` bits and packs only the entries whose bit is set; clear
//! bits mean `p = 0` (the most common value, e.g. "this histogram bucket did not move").
//!
//! All arithmetic wraps, so every `i64` sequence encodes and decodes exactly. The layout is
//! drawn in `docs/format/chunks.md`. Invariants checked by [`ColumnLayout::parse`]: order
//! `<= 2` and `<= n`, width `<= 64`, exception indexes strictly increasing and `< cnt`,
//! unused bitmap bits zero, and the packed section exactly `ceil(m * width / 8)` bytes where
//! `m` is `cnt` (dense) or the bitmap's population count (sparse).

use super::bitstream::{bit_width, load_word, mask, pack_into, read_field};
use crate::encoding::{put_uvarint, put_zvarint, uvarint_len, zvarint_len, ByteCursor};
use crate::Error;

/// Most entries equal to an extreme that may be turned into exceptions.
const MAX_EXCEPTIONS_PER_SIDE: usize = 4;

/// How one column will be encoded; produced by [`plan_full`] / [`plan_quick`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ColumnPlan {
    /// Transform order, 0..=2.
    pub order: u8,
    /// Line removed before packing (order 0 only).
    pub slope: i64,
    /// Frame of reference: packed values are `x - base`.
    pub base: i64,
    /// Largest `x` packed; `x` outside `[base, hi]` are exceptions.
    pub hi: i64,
    /// Bits per packed value.
    pub width: u32,
    /// Bitmap of non-zero entries present.
    pub sparse: bool,
    /// Number of exceptions.
    pub n_exc: usize,
    /// Encoded size in bytes (exact up to the exact lengths of exception index varints).
    pub bytes: usize,
}

/// Applies the order-`order` transform of `ys` into `xs` (cleared first).
pub(crate) fn transform(ys: &[i64], order: u8, slope: i64, xs: &mut Vec<i64>) {
    xs.clear();
    match order {
        0 => {
            let mut line = 0i64;
            xs.extend(ys.iter().map(|&y| {
                let x = y.wrapping_sub(line);
                line = line.wrapping_add(slope);
                x
            }));
        }
        1 => xs.extend(ys.windows(2).map(|w| w[1].wrapping_sub(w[0]))),
        _ => xs.extend(ys.windows(3).map(|w| {
            w[2].wrapping_sub(w[1])
                .wrapping_sub(w[1].wrapping_sub(w[0]))
        })),
    }
}

/// Bytes of the fixed part of a column header: flags, width, first values, slope, base.
fn fixed_bytes(ys: &[i64], order: u8, slope: i64, base: i64) -> usize {
    let firsts = match order {
        0 => zvarint_len(slope),
        1 => zvarint_len(ys[0]),
        _ => zvarint_len(ys[0]) + zvarint_len(ys[1].wrapping_sub(ys[0])),
    };
    2 + firsts + zvarint_len(base)
}

fn payload_bytes(cnt: usize, packed: usize, zeros: usize, width: u32) -> (usize, bool) {
    let w = width as usize;
    let dense = (packed * w).div_ceil(8);
    let sparse = cnt.div_ceil(8) + ((packed - zeros) * w).div_ceil(8);
    if sparse < dense {
        (sparse, true)
    } else {
        (dense, false)
    }
}

fn min_max(xs: &[i64]) -> (i64, i64) {
    let mut lo = i64::MAX;
    let mut hi = i64::MIN;
    for &x in xs {
        lo = lo.min(x);
        hi = hi.max(x);
    }
    (lo, hi)
}

/// A cheap plan: base = min, no exceptions, dense or sparse. `xs` is the transform of `ys`.
pub(crate) fn plan_quick(ys: &[i64], xs: &[i64], order: u8, slope: i64) -> ColumnPlan {
    let (lo, hi) = if xs.is_empty() { (0, 0) } else { min_max(xs) };
    let width = bit_width(hi.wrapping_sub(lo) as u64);
    let zeros = if width == 0 {
        xs.len()
    } else {
        xs.iter().map(|&x| usize::from(x == lo)).sum()
    };
    let (payload, sparse) = payload_bytes(xs.len(), xs.len(), zeros, width);
    ColumnPlan {
        order,
        slope,
        base: lo,
        hi,
        width,
        sparse,
        n_exc: 0,
        bytes: fixed_bytes(ys, order, slope, lo) + 1 + payload,
    }
}

/// [`plan_quick`] of orders 0 (slope 0), 1 and 2 of `ys` (at least 3 values) without
/// materialising the transforms: one pass for the extremes, one for the entries on the
/// minimum.
fn plan_quick_orders(ys: &[i64]) -> [ColumnPlan; 3] {
    debug_assert!(ys.len() >= 3);
    let mut lo = [i64::MAX; 3];
    let mut hi = [i64::MIN; 3];
    let mut prev = ys[0];
    let mut prev_d = 0i64;
    for (i, &y) in ys.iter().enumerate() {
        let d = y.wrapping_sub(prev);
        let dd = d.wrapping_sub(prev_d);
        lo[0] = lo[0].min(y);
        hi[0] = hi[0].max(y);
        if i >= 1 {
            lo[1] = lo[1].min(d);
            hi[1] = hi[1].max(d);
        }
        if i >= 2 {
            lo[2] = lo[2].min(dd);
            hi[2] = hi[2].max(dd);
        }
        prev = y;
        prev_d = d;
    }
    let width = |k: usize| bit_width(hi[k].wrapping_sub(lo[k]) as u64);
    let w = [width(0), width(1), width(2)];
    let mut zeros = [0usize; 3];
    let (mut prev, mut prev_d) = (ys[0], 0i64);
    for (i, &y) in ys.iter().enumerate() {
        let d = y.wrapping_sub(prev);
        let dd = d.wrapping_sub(prev_d);
        zeros[0] += usize::from(y == lo[0]);
        zeros[1] += usize::from(i >= 1 && d == lo[1]);
        zeros[2] += usize::from(i >= 2 && dd == lo[2]);
        prev = y;
        prev_d = d;
    }
    let plan = |k: usize| {
        let cnt = ys.len() - k;
        let zeros = if w[k] == 0 { cnt } else { zeros[k] };
        let (payload, sparse) = payload_bytes(cnt, cnt, zeros, w[k]);
        ColumnPlan {
            order: k as u8,
            slope: 0,
            base: lo[k],
            hi: hi[k],
            width: w[k],
            sparse,
            n_exc: 0,
            bytes: fixed_bytes(ys, k as u8, 0, lo[k]) + 1 + payload,
        }
    };
    [plan(0), plan(1), plan(2)]
}

/// A plan that also considers turning the few smallest and/or largest entries into
/// exceptions, which pays when one outlier (a counter reset, a late scrape) would otherwise
/// widen every packed value.
#[cfg(test)]
pub(crate) fn plan_full(ys: &[i64], xs: &[i64], order: u8, slope: i64) -> ColumnPlan {
    refine(ys, xs, plan_quick(ys, xs, order, slope))
}

/// [`plan_full`] given the quick plan of the same transform.
fn refine(ys: &[i64], xs: &[i64], quick: ColumnPlan) -> ColumnPlan {
    let (order, slope) = (quick.order, quick.slope);
    if quick.width == 0 || xs.len() < 3 {
        return quick;
    }
    let (min, max) = (quick.base, quick.hi);
    // Branch-free pass: how many entries sit on each extreme, and the runners-up.
    let (mut cmin, mut cmax) = (0usize, 0usize);
    let (mut min2, mut max2) = (i64::MAX, i64::MIN);
    for &x in xs {
        cmin += usize::from(x == min);
        cmax += usize::from(x == max);
        min2 = min2.min(if x == min { i64::MAX } else { x });
        max2 = max2.max(if x == max { i64::MIN } else { x });
    }
    if cmin > MAX_EXCEPTIONS_PER_SIDE && cmax > MAX_EXCEPTIONS_PER_SIDE {
        return quick;
    }
    let cmin2 = if cmin <= MAX_EXCEPTIONS_PER_SIDE {
        xs.iter().map(|&x| usize::from(x == min2)).sum()
    } else {
        0
    };
    let cnt = xs.len();
    let gap = uvarint_len(cnt as u64);
    let mut best = quick;
    for (lo_ex, hi_ex) in [(true, false), (false, true), (true, true)] {
        if (lo_ex && cmin > MAX_EXCEPTIONS_PER_SIDE) || (hi_ex && cmax > MAX_EXCEPTIONS_PER_SIDE) {
            continue;
        }
        let base = if lo_ex { min2 } else { min };
        let hi = if hi_ex { max2 } else { max };
        if base > hi {
            continue;
        }
        let mut exc_bytes = 0;
        let mut n_exc = 0;
        if lo_ex {
            n_exc += cmin;
            exc_bytes += cmin * (gap + zvarint_len(min.wrapping_sub(base)));
        }
        if hi_ex {
            n_exc += cmax;
            exc_bytes += cmax * (gap + zvarint_len(max.wrapping_sub(base)));
        }
        let width = bit_width(hi.wrapping_sub(base) as u64);
        let zeros = if lo_ex { cmin2 } else { cmin };
        let (payload, sparse) = payload_bytes(cnt, cnt - n_exc, zeros, width);
        let bytes =
            fixed_bytes(ys, order, slope, base) + uvarint_len(n_exc as u64) + exc_bytes + payload;
        if bytes < best.bytes {
            best = ColumnPlan {
                order,
                slope,
                base,
                hi,
                width,
                sparse,
                n_exc,
                bytes,
            };
        }
    }
    best
}

/// A plan with width 0 where every entry other than `base` is an exception: the cheapest
/// form for columns that almost never leave one value (timestamps aligned to the scrape
/// interval, a bucket that moved twice). `None` if it would not beat `limit` bytes.
fn plan_exceptions_only(
    ys: &[i64],
    xs: &[i64],
    order: u8,
    slope: i64,
    base: i64,
    limit: usize,
) -> Option<ColumnPlan> {
    let fixed = fixed_bytes(ys, order, slope, base);
    let mut bytes = fixed;
    let mut n_exc = 0usize;
    let mut last = 0usize;
    for (c, &x) in xs.iter().enumerate() {
        if x != base {
            n_exc += 1;
            bytes += uvarint_len((c - last) as u64) + zvarint_len(x.wrapping_sub(base));
            last = c + 1;
            if bytes >= limit {
                return None;
            }
        }
    }
    bytes += uvarint_len(n_exc as u64);
    (bytes < limit).then_some(ColumnPlan {
        order,
        slope,
        base,
        hi: base,
        width: 0,
        sparse: false,
        n_exc,
        bytes,
    })
}

/// The best plan for the timestamps of a chunk, given as offsets `u_i = t_i - t_0`.
pub(crate) fn plan_timestamps(us: &[i64], xs: &mut Vec<i64>) -> ColumnPlan {
    let n = us.len();
    if n < 3 {
        transform(us, 1, 0, xs);
        return plan_quick(us, xs, 1, 0);
    }
    // The average step, rounded to nearest: jittered scrapes have residuals around this line
    // (rounding down instead could leave a drift of up to 1 ms per sample).
    let span = us[n - 1] as u64;
    let steps = n as u64 - 1;
    let slope = ((span / steps) + u64::from(span % steps >= steps.div_ceil(2))) as i64;
    transform(us, 0, slope, xs);
    let mut best = plan_quick(us, xs, 0, slope);
    if best.width > 4 {
        // Not a jittered grid (irregular gaps, a drifting clock): deltas may do better.
        transform(us, 1, 0, xs);
        let p = plan_quick(us, xs, 1, 0);
        if p.bytes < best.bytes {
            best = p;
        } else {
            transform(us, 0, slope, xs);
        }
    }
    let best = refine(us, xs, best);
    if best.width == 0 {
        return best;
    }
    // Timestamps aligned by Prometheus: nearly every delta is exactly the interval.
    transform(us, 1, 0, xs);
    match plan_exceptions_only(us, xs, 1, 0, slope, best.bytes) {
        Some(p) => p,
        None => best,
    }
}

/// The best plan for a column of integer values (decimal mantissas or float bit patterns).
pub(crate) fn plan_values(ys: &[i64], xs: &mut Vec<i64>) -> ColumnPlan {
    let n = ys.len();
    let (q0, q1, q2) = if n >= 3 {
        // The quick plans of all three orders in two passes (the plans `plan_quick` makes).
        let [q0, q1, q2] = plan_quick_orders(ys);
        (q0, q1, Some(q2))
    } else {
        transform(ys, 0, 0, xs);
        let q0 = plan_quick(ys, xs, 0, 0);
        if q0.width == 0 || n < 2 {
            return q0;
        }
        transform(ys, 1, 0, xs);
        (q0, plan_quick(ys, xs, 1, 0), None)
    };
    if q0.width == 0 {
        return q0;
    }
    // Deltas (order 1) win for counters and buckets: always look for their exceptions (a
    // counter reset). Orders 0 and 2 are refined only when their quick plan is better.
    transform(ys, 1, 0, xs);
    let mut best = refine(ys, xs, q1);
    let q2 = q2.filter(|_| best.width > 0);
    for q in std::iter::once(q0).chain(q2) {
        if q.bytes < best.bytes {
            transform(ys, q.order, q.slope, xs);
            best = refine(ys, xs, q);
        }
    }
    if best.width > 0 {
        // A series that almost never changes: only its few changes, as exceptions.
        transform(ys, 1, 0, xs);
        if let Some(p) = plan_exceptions_only(ys, xs, 1, 0, 0, best.bytes) {
            best = p;
        }
    }
    best
}

/// Appends the column for `ys` under `plan`; `xs` is scratch space.
pub(crate) fn encode(plan: &ColumnPlan, ys: &[i64], xs: &mut Vec<i64>, out: &mut Vec<u8>) {
    transform(ys, plan.order, plan.slope, xs);
    out.push(plan.order | (u8::from(plan.sparse) << 2));
    out.push(plan.width as u8);
    match plan.order {
        0 => put_zvarint(out, plan.slope),
        1 => put_zvarint(out, ys[0]),
        _ => {
            put_zvarint(out, ys[0]);
            put_zvarint(out, ys[1].wrapping_sub(ys[0]));
        }
    }
    put_zvarint(out, plan.base);
    let (base, hi) = (plan.base, plan.hi);
    let is_exc = move |x: i64| x < base || x > hi;
    let n_exc = plan.n_exc;
    debug_assert_eq!(n_exc, xs.iter().filter(|&&x| is_exc(x)).count());
    put_uvarint(out, n_exc as u64);
    if n_exc == 0 {
        // No exceptions: every entry is in the frame.
        let p = move |x: i64| x.wrapping_sub(base) as u64;
        if plan.sparse {
            pack_into(out, xs.iter().map(|&x| u64::from(x != base)), 1);
            pack_into(
                out,
                xs.iter().filter(|&&x| x != base).map(|&x| p(x)),
                plan.width,
            );
        } else {
            pack_into(out, xs.iter().map(|&x| p(x)), plan.width);
        }
        return;
    }
    {
        let mut last = 0usize;
        for (c, &x) in xs.iter().enumerate().filter(|(_, &x)| is_exc(x)) {
            put_uvarint(out, (c - last) as u64);
            put_zvarint(out, x.wrapping_sub(base));
            last = c + 1;
        }
    }
    let p = move |x: i64| {
        if is_exc(x) {
            0
        } else {
            x.wrapping_sub(base) as u64
        }
    };
    if plan.sparse {
        pack_into(out, xs.iter().map(|&x| u64::from(p(x) != 0)), 1);
        pack_into(
            out,
            xs.iter().map(|&x| p(x)).filter(|&v| v != 0),
            plan.width,
        );
    } else {
        pack_into(out, xs.iter().map(|&x| p(x)), plan.width);
    }
}

/// A parsed (validated) column.
#[derive(Clone, Debug)]
pub(crate) struct ColumnLayout<'a> {
    order: u8,
    sparse: bool,
    width: u32,
    firsts: [i64; 2],
    slope: i64,
    base: i64,
    n_exc: usize,
    exc: &'a [u8],
    bitmap: &'a [u8],
    packed: &'a [u8],
}

#[cold]
#[inline(never)]
fn corrupt(what: &str) -> Error {
    Error::CorruptChunk(format!("column: {what}"))
}

impl<'a> ColumnLayout<'a> {
    /// Parses and validates a column of `n` values at the cursor, leaving the cursor after it.
    /// (Inlined: returning the layout through a `Result` would copy it several times.)
    #[inline(always)]
    pub(crate) fn parse(cur: &mut ByteCursor<'a>, n: usize) -> Result<Self, Error> {
        let flags = cur.u8().ok_or_else(|| corrupt("truncated header"))?;
        let order = flags & 3;
        if flags & !7 != 0 || order > 2 || usize::from(order) > n {
            return Err(corrupt("bad flags"));
        }
        let sparse = flags & 4 != 0;
        let width = u32::from(cur.u8().ok_or_else(|| corrupt("truncated header"))?);
        if width > 64 {
            return Err(corrupt("width above 64"));
        }
        let mut firsts = [0i64; 2];
        let mut slope = 0;
        let trunc = || corrupt("truncated header");
        match order {
            0 => slope = cur.zvarint().ok_or_else(trunc)?,
            1 => firsts[0] = cur.zvarint().ok_or_else(trunc)?,
            _ => {
                firsts[0] = cur.zvarint().ok_or_else(trunc)?;
                firsts[1] = cur.zvarint().ok_or_else(trunc)?;
            }
        }
        let base = cur.zvarint().ok_or_else(trunc)?;
        let cnt = n - usize::from(order);
        let n_exc = cur.uvarint().ok_or_else(trunc)?;
        if n_exc > cnt as u64 {
            return Err(corrupt("more exceptions than values"));
        }
        let n_exc = n_exc as usize;
        let Frame {
            exc,
            bitmap,
            packed,
            ..
        } = parse_frame(cur, cnt, sparse, width, base, n_exc)?;
        Ok(ColumnLayout {
            order,
            sparse,
            width,
            firsts,
            slope,
            base,
            n_exc,
            exc,
            bitmap,
            packed,
        })
    }
}

/// The part of a frame after its header, as parsed by [`parse_frame`]: exceptions, bitmap
/// and packed fields of `cnt` entries (shared with `block_column.rs`, whose blocks are frames).
#[derive(Clone, Copy, Debug)]
pub(super) struct Frame<'a> {
    pub sparse: bool,
    pub width: u32,
    pub base: i64,
    pub n_exc: usize,
    /// `n_exc` validated (uvarint gap, zvarint) pairs.
    pub exc: &'a [u8],
    /// `ceil(cnt / 8)` bytes when sparse, else empty.
    pub bitmap: &'a [u8],
    /// From the packed fields to the end of the buffer (padding included).
    pub packed: &'a [u8],
}

/// Parses and validates the exceptions (`n_exc <= cnt` already checked), the bitmap (when
/// `sparse`) and the packed fields of a frame of `cnt` entries at the cursor, given its
/// header: exception indexes strictly increasing and below `cnt`, no stray bitmap bits, and
/// exactly `ceil(m * width / 8)` packed bytes. The frame's packed section runs on with
/// everything after it (decoders load whole words past its end).
#[inline(always)]
pub(super) fn parse_frame<'a>(
    cur: &mut ByteCursor<'a>,
    cnt: usize,
    sparse: bool,
    width: u32,
    base: i64,
    n_exc: usize,
) -> Result<Frame<'a>, Error> {
    let exc_start = cur.clone();
    let mut next = 0u64;
    for _ in 0..n_exc {
        let gap = cur
            .uvarint()
            .ok_or_else(|| corrupt("truncated exceptions"))?;
        let idx = next.checked_add(gap).filter(|&i| i < cnt as u64);
        let idx = idx.ok_or_else(|| corrupt("exception index out of range"))?;
        cur.zvarint()
            .ok_or_else(|| corrupt("truncated exceptions"))?;
        next = idx + 1;
    }
    let exc_len = cur.pos() - exc_start.pos();
    let exc = exc_start.clone().take(exc_len).unwrap_or(&[]);
    let (bitmap, m) = if sparse {
        let bm = cur
            .take(cnt.div_ceil(8))
            .ok_or_else(|| corrupt("truncated bitmap"))?;
        if !cnt.is_multiple_of(8) && bm.last().is_some_and(|&b| b >> (cnt % 8) != 0) {
            return Err(corrupt("stray bitmap bits"));
        }
        (bm, bm.iter().map(|b| b.count_ones() as usize).sum())
    } else {
        (&[][..], cnt)
    };
    let packed_len = (m as u64 * u64::from(width)).div_ceil(8);
    // The decoder reads fields with 8-byte loads: hand it everything up to the end of the
    // buffer (the following sections and the chunk's padding), not just the section.
    let packed = cur.tail();
    usize::try_from(packed_len)
        .ok()
        .and_then(|l| cur.take(l))
        .ok_or_else(|| corrupt("truncated packed values"))?;
    Ok(Frame {
        sparse,
        width,
        base,
        n_exc,
        exc,
        bitmap,
        packed,
    })
}

/// Unpacks the `out.len()` entries of a frame (bitmap, exceptions and frame of reference
/// applied) into `out`.
#[inline(always)]
pub(super) fn unpack_frame(f: &Frame<'_>, xs: &mut [i64]) -> Result<(), Error> {
    let cnt = xs.len();
    let base = f.base;
    if f.sparse {
        // The m set entries are unpacked into the tail of `xs`, then spread forward: the
        // read index never falls behind the write index (it starts cnt - m ahead and
        // gains one per clear bit), so this works in place.
        let m: usize = f.bitmap.iter().map(|b| b.count_ones() as usize).sum();
        let m = m.min(cnt);
        let from = cnt - m;
        unpack_dense(f.packed, f.width, &mut xs[from..], 0);
        let mut j = from;
        for (c8, &byte) in f.bitmap.iter().enumerate() {
            let lo = c8 * 8;
            let hi = (lo + 8).min(cnt);
            let Some(block) = xs.get_mut(lo..hi) else {
                break;
            };
            if byte == 0 {
                // Clear positions lie strictly before the read index: nothing unread.
                block.fill(base);
                continue;
            }
            for c in lo..hi {
                let bit = (byte >> (c - lo)) & 1;
                let keep = 0i64.wrapping_sub(i64::from(bit));
                let v = xs.get(j).copied().unwrap_or(0);
                xs[c] = (v & keep).wrapping_add(base);
                j += usize::from(bit);
            }
        }
    } else {
        unpack_dense(f.packed, f.width, xs, base);
    }
    if f.n_exc > 0 {
        let mut cur = ByteCursor::new(f.exc);
        let mut next = 0usize;
        for _ in 0..f.n_exc {
            let gap = cur.uvarint().ok_or_else(|| corrupt("exceptions"))?;
            let p = cur.zvarint().ok_or_else(|| corrupt("exceptions"))?;
            let idx = usize::try_from(gap)
                .ok()
                .and_then(|g| next.checked_add(g))
                .ok_or_else(|| corrupt("exceptions"))?;
            *xs.get_mut(idx).ok_or_else(|| corrupt("exceptions"))? = p.wrapping_add(base);
            next = idx + 1;
        }
    }
    Ok(())
}

impl ColumnLayout<'_> {
    /// Adds `delta` to every decoded value (used to fold `min_time` into timestamp offsets).
    pub(crate) fn add_offset(&mut self, delta: i64) {
        if self.order == 0 {
            self.base = self.base.wrapping_add(delta);
        } else {
            self.firsts[0] = self.firsts[0].wrapping_add(delta);
        }
    }
}

/// Unpacks consecutive `W`-bit fields (`W` in `1..=56`) from the start of `packed` into
/// `out`. Eight fields span exactly `W` bytes, so each group of eight is one bounds check
/// and eight loads at constant offsets; the tail (and a short `packed`) takes the generic
/// path.
#[inline(always)]
fn unpack_const<const W: usize>(packed: &[u8], out: &mut [i64], base: i64) {
    let m = mask(W as u32);
    let mut groups = out.chunks_exact_mut(8);
    let mut g = 0usize;
    for o8 in groups.by_ref() {
        let at = g * W;
        let Some(src) = packed.get(at..at + W + 8) else {
            break;
        };
        for (k, o) in o8.iter_mut().enumerate() {
            let bit = k * W;
            let mut a = [0u8; 8];
            a.copy_from_slice(&src[bit >> 3..(bit >> 3) + 8]);
            *o = (((u64::from_le_bytes(a) >> (bit & 7)) & m) as i64).wrapping_add(base);
        }
        g += 1;
    }
    let done = g * 8;
    unpack_generic(packed, (done * W) as u64, W as u32, &mut out[done..], base);
}

/// Unpacks `w`-bit fields (`w` in `0..=64`) starting at bit `pos`, one load per field.
fn unpack_generic(packed: &[u8], pos: u64, w: u32, out: &mut [i64], base: i64) {
    if w <= 56 {
        let m = mask(w);
        for (j, o) in out.iter_mut().enumerate() {
            let bit = pos + j as u64 * u64::from(w);
            *o = (((load_word(packed, (bit >> 3) as usize) >> (bit & 7)) & m) as i64)
                .wrapping_add(base);
        }
    } else {
        for (j, o) in out.iter_mut().enumerate() {
            *o = (read_field(packed, pos + j as u64 * u64::from(w), w) as i64).wrapping_add(base);
        }
    }
}

/// Unpacks `out.len()` fields of `w` bits from the start of `packed`, dispatching to a
/// width-specialised loop.
pub(super) fn unpack_dense(packed: &[u8], w: u32, out: &mut [i64], base: i64) {
    macro_rules! dispatch {
        ($($n:literal)*) => {
            match w {
                0 => out.fill(base),
                $($n => unpack_const::<$n>(packed, out, base),)*
                _ => unpack_generic(packed, 0, w, out, base),
            }
        };
    }
    dispatch!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28
        29 30 31 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56);
}

/// Replaces each `x_c` by `start + sum_{j <= c} x_j` (wrapping): one add per entry on the
/// loop-carried chain (the frame of reference was added while unpacking).
#[inline(always)]
pub(super) fn prefix_sum(xs: &mut [i64], start: i64) {
    let mut y = start;
    for x in xs.iter_mut() {
        y = y.wrapping_add(*x);
        *x = y;
    }
}

impl ColumnLayout<'_> {
    /// Unpacks the entries (bitmap, exceptions and frame of reference applied) into
    /// `out[order..]`; `out[..order]` is left for the first values.
    #[inline(always)]
    fn unpack_entries(&self, out: &mut [i64]) -> Result<(), Error> {
        let order = usize::from(self.order);
        if out.len() < order {
            return Err(corrupt("column shorter than its order"));
        }
        let f = Frame {
            sparse: self.sparse,
            width: self.width,
            base: self.base,
            n_exc: self.n_exc,
            exc: self.exc,
            bitmap: self.bitmap,
            packed: self.packed,
        };
        unpack_frame(&f, &mut out[order..])
    }

    /// Decodes the whole column into `out` (exactly the `n` values it was parsed for), adding
    /// `offset` to every value (the chunk's `min_time` for timestamp offsets). Two tight
    /// passes: unpack the fields (bitmap and exceptions applied), then add the frame of
    /// reference and undo the transform in place.
    ///
    /// With `prove` (a timestamp column), the result also says whether the layout alone
    /// proves that the values strictly increase without wrapping, given that the caller
    /// checks the first and last values against the header (then no per-sample check is
    /// needed). `Ok(false)` proves nothing: the caller checks every sample.
    pub(crate) fn decode_all(
        &self,
        out: &mut [i64],
        offset: i64,
        prove: bool,
    ) -> Result<bool, Error> {
        self.unpack_entries(out)?;
        let order = usize::from(self.order);
        let (firsts, xs) = out.split_at_mut(order);
        let cnt = xs.len();
        let proved = match order {
            0 => {
                let slope = self.slope;
                let mut line = offset;
                for x in xs.iter_mut() {
                    *x = x.wrapping_add(line);
                    line = line.wrapping_add(slope);
                }
                // x_c = base + c * slope + p_c with 0 <= p_c < 2^w: steps of at least
                // slope - (2^w - 1) >= 1, and no wrapping if the extreme line fits an i64.
                // Exceptions are checked one by one against their neighbours.
                prove && self.width < 63 && slope > 0 && {
                    let spread = (1i128 << self.width) - 1;
                    let lo = i128::from(offset) + i128::from(self.base);
                    let hi = lo + (cnt.max(1) as i128 - 1) * i128::from(slope) + spread;
                    i128::from(slope) > spread
                        && lo >= i128::from(i64::MIN)
                        && hi <= i128::from(i64::MAX)
                        && (self.n_exc == 0 || self.exceptions_fit_line(xs, offset))
                }
            }
            1 => {
                let y = self.firsts[0].wrapping_add(offset);
                firsts[0] = y;
                if prove {
                    // Every step non-zero and below 2^63 (so positive), and cnt steps of at
                    // most `or` cannot sum past 2^64: the sum is then exact, and equals the
                    // span once the caller has checked the last value.
                    let (mut or, mut zero) = (0u64, false);
                    let mut y = y;
                    for x in xs.iter_mut() {
                        or |= *x as u64;
                        zero |= *x == 0;
                        y = y.wrapping_add(*x);
                        *x = y;
                    }
                    !zero && or >> 63 == 0 && (cnt as u128) * u128::from(or) <= u128::from(u64::MAX)
                } else {
                    prefix_sum(xs, y);
                    false
                }
            }
            _ => {
                let mut y = self.firsts[0].wrapping_add(offset);
                let d = self.firsts[1];
                firsts[0] = y;
                y = y.wrapping_add(d);
                firsts[1] = y;
                // Deltas first (a running sum of base + x from d), then values from y.
                prefix_sum(xs, d);
                prefix_sum(xs, y);
                false
            }
        };
        Ok(proved)
    }

    /// For an order-0 column already decoded into `xs` (with `offset`): true if every
    /// exception's exact value (computed in `i128`) fits an `i64`, so the decoded value is
    /// exact, and lies strictly between its decoded neighbours.
    fn exceptions_fit_line(&self, xs: &[i64], offset: i64) -> bool {
        let mut cur = ByteCursor::new(self.exc);
        let mut next = 0usize;
        for _ in 0..self.n_exc {
            let (Some(gap), Some(p)) = (cur.uvarint(), cur.zvarint()) else {
                return false;
            };
            let Some(idx) = usize::try_from(gap).ok().and_then(|g| next.checked_add(g)) else {
                return false;
            };
            let Some(&x) = xs.get(idx) else {
                return false;
            };
            let exact = i128::from(offset)
                + i128::from(self.base)
                + i128::from(p)
                + idx as i128 * i128::from(self.slope);
            let before = idx.checked_sub(1).and_then(|j| xs.get(j));
            if exact != i128::from(x)
                || before.is_some_and(|&b| b >= x)
                || xs.get(idx + 1).is_some_and(|&a| a <= x)
            {
                return false;
            }
            next = idx + 1;
        }
        true
    }

    /// Decodes the whole column like [`ColumnLayout::decode_all`] (no offset) and writes
    /// `f(value)` to `out`, fusing the conversion into the inverse transform; `scratch` (as
    /// long as `out`) receives the unpacked entries.
    #[inline(always)]
    pub(crate) fn decode_map(
        &self,
        scratch: &mut [i64],
        out: &mut [f64],
        f: impl Fn(i64) -> f64,
    ) -> Result<(), Error> {
        self.unpack_entries(scratch)?;
        let order = usize::from(self.order);
        let n = scratch.len().min(out.len());
        let (Some(xs), Some(out)) = (scratch.get(order..n), out.get_mut(..n)) else {
            return Err(corrupt("column shorter than its order"));
        };
        let (firsts, rest) = out.split_at_mut(order);
        match order {
            0 => {
                let slope = self.slope;
                let mut line = 0i64;
                for (o, &x) in rest.iter_mut().zip(xs) {
                    *o = f(x.wrapping_add(line));
                    line = line.wrapping_add(slope);
                }
            }
            1 => {
                let mut y = self.firsts[0];
                firsts[0] = f(y);
                for (o, &x) in rest.iter_mut().zip(xs) {
                    y = y.wrapping_add(x);
                    *o = f(y);
                }
            }
            _ => {
                let mut y = self.firsts[0];
                let mut d = self.firsts[1];
                firsts[0] = f(y);
                y = y.wrapping_add(d);
                firsts[1] = f(y);
                for (o, &x) in rest.iter_mut().zip(xs) {
                    d = d.wrapping_add(x);
                    y = y.wrapping_add(d);
                    *o = f(y);
                }
            }
        }
        Ok(())
    }
}

/// Block decoder of a column.
#[derive(Clone, Debug)]
pub(crate) struct ColumnDecoder<'a> {
    l: ColumnLayout<'a>,
    /// Next output index.
    i: usize,
    /// Next packed-entry index (`i - order` once past the first values).
    c: usize,
    bitpos: u64,
    exc: ByteCursor<'a>,
    exc_left: usize,
    next_exc_c: usize,
    next_exc_p: u64,
    y: i64,
    d: i64,
}

impl<'a> ColumnDecoder<'a> {
    /// A decoder at the start of the column.
    pub(crate) fn new(l: ColumnLayout<'a>) -> Result<Self, Error> {
        let mut d = ColumnDecoder {
            exc: ByteCursor::new(l.exc),
            exc_left: l.n_exc,
            l,
            i: 0,
            c: 0,
            bitpos: 0,
            next_exc_c: usize::MAX,
            next_exc_p: 0,
            y: 0,
            d: 0,
        };
        d.load_exception(0)?;
        Ok(d)
    }

    fn load_exception(&mut self, from: usize) -> Result<(), Error> {
        if self.exc_left == 0 {
            self.next_exc_c = usize::MAX;
            return Ok(());
        }
        self.exc_left -= 1;
        let gap = self.exc.uvarint().ok_or_else(|| corrupt("exceptions"))?;
        let p = self.exc.zvarint().ok_or_else(|| corrupt("exceptions"))?;
        self.next_exc_c = usize::try_from(gap)
            .ok()
            .and_then(|g| from.checked_add(g))
            .ok_or_else(|| corrupt("exceptions"))?;
        self.next_exc_p = p as u64;
        Ok(())
    }

    /// The common case in one pass: dense, at most 56 bits wide, no exception in this block.
    /// Each field is one 8-byte load, a shift and a mask, folded straight into the inverse
    /// transform.
    #[inline(always)]
    fn decode_dense_fused(&mut self, rest: &mut [i64]) {
        let w = u64::from(self.l.width);
        let m = mask(self.l.width);
        let packed = self.l.packed;
        let pos = self.bitpos;
        let base = self.l.base;
        let field = |j: usize| -> i64 {
            let bit = pos + j as u64 * w;
            ((load_word(packed, (bit >> 3) as usize) >> (bit & 7)) & m) as i64
        };
        match self.l.order {
            0 => {
                let slope = self.l.slope;
                let start = base.wrapping_add((self.i as i64).wrapping_mul(slope));
                for (j, o) in rest.iter_mut().enumerate() {
                    *o = start
                        .wrapping_add((j as i64).wrapping_mul(slope))
                        .wrapping_add(field(j));
                }
            }
            1 => {
                let mut y = self.y;
                for (j, o) in rest.iter_mut().enumerate() {
                    y = y.wrapping_add(base).wrapping_add(field(j));
                    *o = y;
                }
                self.y = y;
            }
            _ => {
                let (mut y, mut d) = (self.y, self.d);
                for (j, o) in rest.iter_mut().enumerate() {
                    d = d.wrapping_add(base).wrapping_add(field(j));
                    y = y.wrapping_add(d);
                    *o = y;
                }
                self.y = y;
                self.d = d;
            }
        }
        self.bitpos = pos + rest.len() as u64 * w;
        self.c += rest.len();
        self.i += rest.len();
    }

    /// Decodes the next `out.len()` values (the caller never asks past the end).
    pub(crate) fn decode(&mut self, out: &mut [i64]) -> Result<(), Error> {
        let order = usize::from(self.l.order);
        let mut k = 0;
        while self.i < order && k < out.len() {
            if self.i == 0 {
                self.y = self.l.firsts[0];
            } else {
                self.d = self.l.firsts[1];
                self.y = self.y.wrapping_add(self.d);
            }
            out[k] = self.y;
            k += 1;
            self.i += 1;
        }
        let rest = &mut out[k..];
        let w = self.l.width;
        let packed = self.l.packed;
        let end_c = self.c + rest.len();
        if !self.l.sparse && w <= 56 && self.next_exc_c >= end_c {
            self.decode_dense_fused(rest);
            return Ok(());
        }
        let mut pos = self.bitpos;
        if w == 0 {
            rest.fill(0);
        } else if !self.l.sparse {
            if w <= 56 {
                let m = mask(w);
                for (j, o) in rest.iter_mut().enumerate() {
                    let bit = pos + j as u64 * u64::from(w);
                    *o = ((load_word(packed, (bit >> 3) as usize) >> (bit & 7)) & m) as i64;
                }
            } else {
                for (j, o) in rest.iter_mut().enumerate() {
                    *o = read_field(packed, pos + j as u64 * u64::from(w), w) as i64;
                }
            }
            pos += rest.len() as u64 * u64::from(w);
        } else {
            let bitmap = self.l.bitmap;
            for (j, o) in rest.iter_mut().enumerate() {
                let c = self.c + j;
                let bit = (bitmap.get(c >> 3).copied().unwrap_or(0) >> (c & 7)) & 1;
                let m = 0u64.wrapping_sub(u64::from(bit));
                *o = (read_field(packed, pos, w) & m) as i64;
                pos += u64::from(w) & m;
            }
        }
        self.bitpos = pos;
        while self.next_exc_c < end_c {
            rest[self.next_exc_c - self.c] = self.next_exc_p as i64;
            let from = self.next_exc_c + 1;
            self.load_exception(from)?;
        }
        let base = self.l.base;
        match order {
            0 => {
                let slope = self.l.slope;
                let mut line = (self.i as i64).wrapping_mul(slope);
                for o in rest.iter_mut() {
                    *o = o.wrapping_add(base).wrapping_add(line);
                    line = line.wrapping_add(slope);
                }
            }
            1 => {
                let mut y = self.y;
                for o in rest.iter_mut() {
                    y = y.wrapping_add(base).wrapping_add(*o);
                    *o = y;
                }
                self.y = y;
            }
            _ => {
                let (mut y, mut d) = (self.y, self.d);
                for o in rest.iter_mut() {
                    d = d.wrapping_add(base).wrapping_add(*o);
                    y = y.wrapping_add(d);
                    *o = y;
                }
                self.y = y;
                self.d = d;
            }
        }
        self.c = end_c;
        self.i += rest.len();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(ys: &[i64], plan: &ColumnPlan) {
        let mut xs = Vec::new();
        let mut out = Vec::new();
        encode(plan, ys, &mut xs, &mut out);
        let mut cur = ByteCursor::new(&out);
        let l = ColumnLayout::parse(&mut cur, ys.len()).expect("parse");
        assert_eq!(cur.remaining(), 0, "plan {plan:?}");
        let mut d = ColumnDecoder::new(l.clone()).expect("decoder");
        let mut got = vec![0i64; ys.len()];
        // Odd block sizes exercise the state carried between blocks.
        let mut at = 0;
        let mut step = 1;
        while at < ys.len() {
            let end = (at + step).min(ys.len());
            d.decode(&mut got[at..end]).expect("decode");
            at = end;
            step = step % 7 + 3;
        }
        assert_eq!(got, ys, "plan {plan:?}");
        // The whole-column decoder agrees, and its proof of increase holds.
        for prove in [false, true] {
            let mut all = vec![0i64; ys.len()];
            let proved = l.decode_all(&mut all, 0, prove).expect("decode_all");
            assert_eq!(all, ys, "plan {plan:?}");
            check_proof(&all, proved);
        }
        let est = plan.bytes as i64;
        assert!(
            (out.len() as i64 - est).abs() <= 4 * (ys.len() as i64 / 8 + 1),
            "size estimate"
        );
    }

    /// A proof of increase, together with the caller's check that the last value is above
    /// the first, means strictly increasing.
    fn check_proof(out: &[i64], proved: bool) {
        if proved && (out.len() < 2 || out[out.len() - 1] > out[0]) {
            assert!(out.windows(2).all(|w| w[1] > w[0]), "{out:?}");
        }
    }

    fn series() -> impl Strategy<Value = Vec<i64>> {
        prop_oneof![
            proptest::collection::vec(any::<i64>(), 0..80),
            proptest::collection::vec(-3i64..3, 0..80),
            (any::<i64>(), proptest::collection::vec(0i64..5, 0..200)).prop_map(|(s, d)| {
                let mut y = s;
                d.into_iter()
                    .map(|x| {
                        y = y.wrapping_add(x * 1000);
                        y
                    })
                    .collect()
            }),
        ]
    }

    proptest! {
        #[test]
        fn every_order_and_plan_round_trips(ys in series(), slope in any::<i64>()) {
            let mut xs = Vec::new();
            for order in 0..=2u8 {
                // Order k needs k first values.
                if ys.len() < usize::from(order).max(1) {
                    continue;
                }
                let s = if order == 0 { slope } else { 0 };
                transform(&ys, order, s, &mut xs);
                let q = plan_quick(&ys, &xs, order, s);
                round_trip(&ys, &q);
                let f = plan_full(&ys, &xs, order, s);
                round_trip(&ys, &f);
                prop_assert!(f.bytes <= q.bytes);
            }
            if ys.len() >= 3 {
                let all = plan_quick_orders(&ys);
                for order in 0..=2u8 {
                    transform(&ys, order, 0, &mut xs);
                    prop_assert_eq!(all[usize::from(order)], plan_quick(&ys, &xs, order, 0));
                }
            }
            if !ys.is_empty() {
                round_trip(&ys, &plan_values(&ys, &mut xs));
                let us: Vec<i64> = ys.iter().map(|y| y.wrapping_sub(ys[0])).collect();
                round_trip(&us, &plan_timestamps(&us, &mut xs));
            }
        }

        #[test]
        fn parse_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64), n in 0usize..300) {
            let mut cur = ByteCursor::new(&bytes);
            if let Ok(l) = ColumnLayout::parse(&mut cur, n) {
                let mut out = vec![0i64; n];
                for offset in [0, i64::MIN, i64::MAX] {
                    if let Ok(proved) = l.decode_all(&mut out, offset, true) {
                        check_proof(&out, proved);
                    }
                }
                if let Ok(mut d) = ColumnDecoder::new(l) {
                    let mut out = vec![0i64; n];
                    let _ = d.decode(&mut out);
                }
            }
        }
    }

    #[test]
    fn outliers_become_exceptions() {
        // A counter with one reset: deltas ~100, one huge negative.
        let mut ys = Vec::new();
        let mut y = 1_000_000i64;
        for i in 0..120 {
            y = if i == 60 { 3 } else { y + 100 + (i % 7) };
            ys.push(y);
        }
        let mut xs = Vec::new();
        let p = plan_values(&ys, &mut xs);
        assert_eq!(p.order, 1);
        assert_eq!(p.width, 3);
        round_trip(&ys, &p);
        // A bucket that moved three times: the moves are exceptions of a zero-width column.
        let ys: Vec<i64> = (0..120).map(|i| (i / 30) as i64).collect();
        let p = plan_values(&ys, &mut xs);
        assert!(p.width == 0 && p.bytes <= 12, "{p:?}");
        round_trip(&ys, &p);
        // A bucket that moves every sixth scrape by 1..=6: sparse.
        let mut y = 0;
        let ys: Vec<i64> = (0..120i64)
            .map(|i| {
                if i % 6 == 0 {
                    y += (i / 6) * 37 % 6 + 1;
                }
                y
            })
            .collect();
        let p = plan_values(&ys, &mut xs);
        assert!(p.sparse && p.order == 1, "{p:?}");
        round_trip(&ys, &p);
    }
}

//! A column packed in blocks of [`BLOCK_LEN`] samples, each block a frame of reference with
//! its own width, base, exceptions and optional sparse bitmap: the column of the `Blocked`
//! encoding (`blocked.rs`), made for long chunks (compaction), where the single frame of a
//! `column.rs` column would be as wide as the chunk's widest stretch (a busy hour, a counter
//! reset, a late scrape).
//!
//! A column is a header plus one frame per block; `blocked.rs` interleaves the frames of its
//! two columns block by block, so this module parses and writes one frame at a time.
//!
//! ```text
//! header:
//! u8       flags: bits 0-1 order k (0, 1, 2); bit 2 multiplier present; other bits zero
//! zvarint  order 0: slope | order 1: y_0 | order 2: y_0, y_1 - y_0
//! uvarint  multiplier g >= 2                                  (only with flag bit 2)
//!
//! frame of block j (samples [128 j, min(128 j + 128, n)); entry c belongs to sample c + k,
//! so block 0 holds 128 - k entries):
//! u8       bits 0-6 width (0..=64), bit 7 set: extras follow
//! uvarint  extras = n_exc << 2 | mode         (mode 0 dense, 1 sparse; 2 and 3 invalid)
//! zvarint  base - the previous block's base   (0 before the first block)
//! n_exc x  (uvarint index gap, zvarint z - base)     exceptions, as in column.rs
//! bitmap   ceil(cnt / 8) bytes                      (sparse only)
//! packed   ceil(m * width / 8) bytes, m = cnt (dense) or the bitmap's population count
//! ```
//!
//! As in `column.rs` the transform of order `k` turns values `y` into entries `x` (order 0
//! removes the line `c * slope`, orders 1 and 2 take differences); the entries are stored
//! divided by the multiplier, `z_c = x_c / g` (every entry is a multiple of `g`: memory
//! sizes in whole 4 KiB pages, for example), as frames of `z`.
//!
//! Invariants: every frame is parsed through [`parse_frame`] (bounds, widths, modes,
//! exception indexes, bitmaps, exact lengths) before it is unpacked; arithmetic wraps, so
//! any `i64` sequence round-trips; planning chooses sizes, never what decodes.

use super::bitstream::{bit_width, pack_into};
use super::column::{self, parse_frame as parse_frame_body, prefix_sum, unpack_frame, Frame};
use crate::encoding::{put_uvarint, put_zvarint, uvarint_len, zvarint_len, ByteCursor};
use crate::Error;

/// Samples per block (equal to the iterator's decoding block).
pub(crate) const BLOCK_LEN: usize = 128;

/// Most entries of one side of a block (its smallest or its largest) that may become
/// exceptions.
const MAX_EXCEPTIONS_PER_SIDE: usize = 4;

/// Size of the sets of smallest and largest entries the planner keeps.
const SIDE: usize = MAX_EXCEPTIONS_PER_SIDE + 1;

#[cold]
#[inline(never)]
fn corrupt(what: &str) -> Error {
    Error::CorruptChunk(format!("block column: {what}"))
}

/// Number of blocks of a column of `n` values.
#[inline]
pub(crate) fn num_blocks(n: usize) -> usize {
    n.div_ceil(BLOCK_LEN)
}

/// Entries of block `j` of a column of `n` values of order `k`, as a range of entry indexes.
#[inline]
fn block_entries(j: usize, n: usize, k: usize) -> std::ops::Range<usize> {
    let lo = (j * BLOCK_LEN).max(k) - k;
    let hi = ((j + 1) * BLOCK_LEN).min(n).max(k) - k;
    lo..hi.max(lo)
}

// ---------------------------------------------------------------------------------------
// Planning and encoding

/// How a column will be encoded: transform and multiplier (blocks are planned again while
/// encoding; planning is deterministic).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BlockColumnPlan {
    /// Transform order, 0..=2.
    pub order: u8,
    /// Line removed before packing (order 0 only).
    pub slope: i64,
    /// Every entry is a multiple of this (1: no multiplier).
    pub mult: i64,
    /// Encoded size in bytes (header and every frame).
    pub bytes: usize,
}

/// How one block is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct BlockPlan {
    base: i64,
    /// Largest entry in the frame (entries outside `[base, hi]` are exceptions).
    hi: i64,
    width: u32,
    sparse: bool,
    n_exc: usize,
    bytes: usize,
}

/// The `SIDE` smallest entries of `zs` ascending and its `SIDE` largest descending (all
/// entries in each when there are fewer); one pass.
fn extremes(zs: &[i64]) -> ([i64; SIDE], [i64; SIDE]) {
    let mut lo = [i64::MAX; SIDE];
    let mut hi = [i64::MIN; SIDE];
    // The entry a newcomer must beat, kept out of the arrays so that the common case (no
    // insertion) is two compares against registers.
    let (mut lo_t, mut hi_t) = (i64::MAX, i64::MIN);
    for &z in zs {
        if z < lo_t {
            let mut i = SIDE - 1;
            while i > 0 && lo[i - 1] > z {
                lo[i] = lo[i - 1];
                i -= 1;
            }
            lo[i] = z;
            lo_t = lo[SIDE - 1];
        }
        if z > hi_t {
            let mut i = SIDE - 1;
            while i > 0 && hi[i - 1] < z {
                hi[i] = hi[i - 1];
                i -= 1;
            }
            hi[i] = z;
            hi_t = hi[SIDE - 1];
        }
    }
    (lo, hi)
}

/// Bytes of a frame of `cnt` entries given its choices (exception bytes apart).
fn frame_bytes(
    cnt: usize,
    width: u32,
    n_exc: usize,
    zeros: usize,
    base_delta: i64,
) -> (usize, bool) {
    let w = width as usize;
    let dense = (cnt * w).div_ceil(8);
    let nonzero = cnt - n_exc - zeros.min(cnt - n_exc);
    let sparse_len = cnt.div_ceil(8) + (nonzero * w).div_ceil(8);
    let sparse = width > 0 && sparse_len < dense;
    let payload = if sparse { sparse_len } else { dense };
    let extras = if n_exc > 0 || sparse {
        uvarint_len(((n_exc as u64) << 2) | u64::from(sparse))
    } else {
        0
    };
    (1 + extras + zvarint_len(base_delta) + payload, sparse)
}

/// Plans one block of entries `zs` after a block whose base was `prev_base`: the cheapest
/// frame that leaves out up to [`MAX_EXCEPTIONS_PER_SIDE`] of the smallest and of the
/// largest entries ("patched frame of reference"), dense or sparse.
fn plan_block(zs: &[i64], prev_base: i64) -> BlockPlan {
    let cnt = zs.len();
    if cnt == 0 {
        return BlockPlan {
            base: prev_base,
            hi: prev_base,
            width: 0,
            sparse: false,
            n_exc: 0,
            bytes: 2,
        };
    }
    let (small, large) = extremes(zs);
    let m = SIDE.min(cnt);
    let e = MAX_EXCEPTIONS_PER_SIDE.min(cnt - 1);
    // Entries equal to the minimum, exactly (the sparse case: a bucket that rarely moves).
    let zeros_min = zs.iter().filter(|&&z| z == small[0]).count();
    let mut best: Option<(usize, usize, usize)> = None; // (bytes, lo, hi)
    for lo in 0..=e {
        if lo > 0 && small[lo] == small[lo - 1] {
            continue; // the same frame as a smaller `lo`
        }
        let base = small[lo];
        // Each exception: a one-byte index gap (cnt <= 128) and its zvarint.
        let low_exc: usize = small[..lo]
            .iter()
            .map(|&z| 1 + zvarint_len(z.wrapping_sub(base)))
            .sum();
        // Entries on the base (a lower bound when the run fills the set; exact otherwise).
        let zeros = if lo == 0 {
            zeros_min
        } else {
            small[lo..m].iter().take_while(|&&z| z == base).count()
        };
        let mut hi_bytes = 0usize;
        for hi in 0..=e {
            if lo + hi >= cnt {
                break;
            }
            if hi > 0 {
                hi_bytes += 1 + zvarint_len(large[hi - 1].wrapping_sub(base));
                if large[hi] == large[hi - 1] {
                    continue; // the same frame as a smaller `hi`
                }
            }
            let width = bit_width(large[hi].wrapping_sub(base) as u64);
            let (frame, _) = frame_bytes(cnt, width, lo + hi, zeros, base.wrapping_sub(prev_base));
            let bytes = frame + low_exc + hi_bytes;
            if best.is_none_or(|b| bytes < b.0) {
                best = Some((bytes, lo, hi));
            }
        }
    }
    let (_, lo, hi) = best.unwrap_or((0, 0, 0));
    let (base, top) = (small[lo], large[hi]);
    let exc_bytes: usize = small[..lo]
        .iter()
        .chain(&large[..hi])
        .map(|&z| 1 + zvarint_len(z.wrapping_sub(base)))
        .sum();
    let zeros = zs.iter().filter(|&&z| z == base).count();
    let width = bit_width(top.wrapping_sub(base) as u64);
    let (frame, sparse) = frame_bytes(cnt, width, lo + hi, zeros, base.wrapping_sub(prev_base));
    BlockPlan {
        base,
        hi: top,
        width,
        sparse,
        n_exc: lo + hi,
        bytes: frame + exc_bytes,
    }
}

/// The largest `g` dividing every entry (1 if no `g >= 2` does, or all are zero).
fn common_multiple(xs: &[i64]) -> i64 {
    let mut g = 0u64;
    for &x in xs {
        g = gcd(g, x.unsigned_abs());
        if g == 1 {
            return 1;
        }
    }
    // An i64, so that the wrapping product reproduces every entry exactly.
    if (2..=i64::MAX as u64).contains(&g) {
        g as i64
    } else {
        1
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Bytes of the column header.
fn header_bytes(ys: &[i64], order: u8, slope: i64, mult: i64) -> usize {
    let firsts = match order {
        0 => zvarint_len(slope),
        1 => zvarint_len(ys[0]),
        _ => zvarint_len(ys[0]) + zvarint_len(ys[1].wrapping_sub(ys[0])),
    };
    1 + firsts
        + if mult > 1 {
            uvarint_len(mult as u64)
        } else {
            0
        }
}

/// Fills `zs` with the entries of `ys` under a transform, divided by their common multiple,
/// which it returns.
fn entries(ys: &[i64], order: u8, slope: i64, zs: &mut Vec<i64>) -> i64 {
    column::transform(ys, order, slope, zs);
    let mult = common_multiple(zs);
    if mult > 1 {
        for z in zs.iter_mut() {
            *z /= mult;
        }
    }
    mult
}

/// The plan of one transform (`zs` is scratch space).
fn plan_transform(ys: &[i64], order: u8, slope: i64, zs: &mut Vec<i64>) -> BlockColumnPlan {
    let mult = entries(ys, order, slope, zs);
    let (n, k) = (ys.len(), usize::from(order));
    let mut bytes = header_bytes(ys, order, slope, mult);
    let mut prev = 0i64;
    for j in 0..num_blocks(n) {
        let p = plan_block(&zs[block_entries(j, n, k)], prev);
        bytes += p.bytes;
        prev = p.base;
    }
    BlockColumnPlan {
        order,
        slope,
        mult,
        bytes,
    }
}

/// The best plan for timestamp offsets `us` (`u_0 = 0`, at least one value): the average
/// step removed (order 0) or deltas (order 1).
pub(crate) fn plan_timestamps(us: &[i64], zs: &mut Vec<i64>) -> BlockColumnPlan {
    let n = us.len();
    let mut best = plan_transform(us, u8::from(n >= 2), 0, zs);
    if n >= 3 {
        let span = us[n - 1] as u64;
        let steps = n as u64 - 1;
        let slope = ((span / steps) + u64::from(span % steps >= steps.div_ceil(2))) as i64;
        let p = plan_transform(us, 0, slope, zs);
        if p.bytes < best.bytes {
            best = p;
        }
    }
    best
}

/// The best plan for a value column (decimal mantissas or float bit patterns, at least one
/// value): orders 0, 1 and 2.
pub(crate) fn plan_values(ys: &[i64], zs: &mut Vec<i64>) -> BlockColumnPlan {
    let n = ys.len();
    let mut best = plan_transform(ys, 0, 0, zs);
    for order in 1..=2u8 {
        if usize::from(order) < n {
            let p = plan_transform(ys, order, 0, zs);
            if p.bytes < best.bytes {
                best = p;
            }
        }
    }
    best
}

/// Writes a column frame by frame: the header at creation, then [`Self::write_block`] for
/// each block in order.
#[derive(Debug)]
pub(crate) struct BlockColumnWriter<'s> {
    zs: &'s [i64],
    n: usize,
    order: usize,
    j: usize,
    prev: i64,
}

impl<'s> BlockColumnWriter<'s> {
    /// Appends the header of the column of `ys` under `plan`; `zs` receives its entries.
    pub(crate) fn start(
        plan: &BlockColumnPlan,
        ys: &[i64],
        zs: &'s mut Vec<i64>,
        out: &mut Vec<u8>,
    ) -> Self {
        let mult = entries(ys, plan.order, plan.slope, zs);
        debug_assert_eq!(mult, plan.mult);
        out.push(plan.order | (u8::from(mult > 1) << 2));
        match plan.order {
            0 => put_zvarint(out, plan.slope),
            1 => put_zvarint(out, ys[0]),
            _ => {
                put_zvarint(out, ys[0]);
                put_zvarint(out, ys[1].wrapping_sub(ys[0]));
            }
        }
        if mult > 1 {
            put_uvarint(out, mult as u64);
        }
        BlockColumnWriter {
            zs,
            n: ys.len(),
            order: usize::from(plan.order),
            j: 0,
            prev: 0,
        }
    }

    /// Appends the next block's frame.
    pub(crate) fn write_block(&mut self, out: &mut Vec<u8>) {
        let zs = &self.zs[block_entries(self.j, self.n, self.order)];
        let p = plan_block(zs, self.prev);
        let (base, hi) = (p.base, p.hi);
        let is_exc = move |z: i64| z < base || z > hi;
        debug_assert_eq!(p.n_exc, zs.iter().filter(|&&z| is_exc(z)).count());
        let extras = p.n_exc > 0 || p.sparse;
        out.push(p.width as u8 | if extras { 0x80 } else { 0 });
        if extras {
            put_uvarint(out, ((p.n_exc as u64) << 2) | u64::from(p.sparse));
        }
        put_zvarint(out, base.wrapping_sub(self.prev));
        let mut last = 0usize;
        for (c, &z) in zs.iter().enumerate().filter(|(_, &z)| is_exc(z)) {
            put_uvarint(out, (c - last) as u64);
            put_zvarint(out, z.wrapping_sub(base));
            last = c + 1;
        }
        let field = move |z: i64| {
            if is_exc(z) {
                0
            } else {
                z.wrapping_sub(base) as u64
            }
        };
        if p.sparse {
            pack_into(out, zs.iter().map(|&z| u64::from(field(z) != 0)), 1);
            pack_into(
                out,
                zs.iter().map(|&z| field(z)).filter(|&v| v != 0),
                p.width,
            );
        } else {
            pack_into(out, zs.iter().map(|&z| field(z)), p.width);
        }
        self.prev = base;
        self.j += 1;
    }
}

// ---------------------------------------------------------------------------------------
// Parsing and decoding

/// A parsed column header.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BlockColumnHead {
    order: u8,
    firsts: [i64; 2],
    slope: i64,
    mult: i64,
}

impl BlockColumnHead {
    /// Parses and validates the header of a column of `n >= 1` values at the cursor.
    pub(crate) fn parse(cur: &mut ByteCursor<'_>, n: usize) -> Result<Self, Error> {
        let flags = cur.u8().ok_or_else(|| corrupt("truncated header"))?;
        let order = flags & 3;
        if flags & !7 != 0 || order > 2 || usize::from(order) > n {
            return Err(corrupt("bad flags"));
        }
        let trunc = || corrupt("truncated header");
        let mut firsts = [0i64; 2];
        let mut slope = 0;
        match order {
            0 => slope = cur.zvarint().ok_or_else(trunc)?,
            1 => firsts[0] = cur.zvarint().ok_or_else(trunc)?,
            _ => {
                firsts[0] = cur.zvarint().ok_or_else(trunc)?;
                firsts[1] = cur.zvarint().ok_or_else(trunc)?;
            }
        }
        let mult = if flags & 4 != 0 {
            let g = cur.uvarint().ok_or_else(trunc)?;
            if !(2..=i64::MAX as u64).contains(&g) {
                return Err(corrupt("bad multiplier"));
            }
            g as i64
        } else {
            1
        };
        Ok(BlockColumnHead {
            order,
            firsts,
            slope,
            mult,
        })
    }

    /// Adds `delta` to every decoded value (folds `min_time` into timestamp offsets). For
    /// order 0, `firsts[0]` (otherwise unused) is the offset of the line.
    pub(crate) fn add_offset(&mut self, delta: i64) {
        self.firsts[0] = self.firsts[0].wrapping_add(delta);
    }
}

/// A parsed frame with where its block lies.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BlockFrame<'a> {
    f: Frame<'a>,
    /// Index of the block's first sample.
    first: usize,
    /// First values (the order, in block 0) that precede the block's entries.
    k0: usize,
    /// Samples in the block.
    len: usize,
}

impl BlockFrame<'_> {
    /// Samples in the block.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

/// What a timestamp column's layout proves, block after block (see [`BlockColumn::decode`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Proof {
    /// Every block so far proved increasing (order 0) or had only positive steps (order 1).
    pub ok: bool,
    /// Order 1: the sum over blocks of `entries * OR(steps)`, which bounds the exact sum.
    bound: u128,
}

impl Default for Proof {
    fn default() -> Self {
        Proof { ok: true, bound: 0 }
    }
}

impl Proof {
    /// True if the values strictly increase without wrapping, given that the caller checks
    /// that the last value is the largest expected one, the first the smallest, and (order
    /// 0) that each block starts above the previous block's end.
    pub(crate) fn holds(&self) -> bool {
        self.ok && self.bound <= u128::from(u64::MAX)
    }
}

/// Decoding state of one column: which block is next and the running sums.
#[derive(Clone, Debug)]
pub(crate) struct BlockColumn {
    h: BlockColumnHead,
    n: usize,
    j: usize,
    /// Base of the previous block.
    base: i64,
    /// Running value (orders 1 and 2) and difference (order 2).
    y: i64,
    d: i64,
}

impl BlockColumn {
    /// The state before the first block of a column of `n` values.
    pub(crate) fn new(h: BlockColumnHead, n: usize) -> Self {
        BlockColumn {
            h,
            n,
            j: 0,
            base: 0,
            y: h.firsts[0],
            d: h.firsts[1],
        }
    }

    /// Samples in the next block (0 after the last).
    pub(crate) fn next_len(&self) -> usize {
        let lo = self.j * BLOCK_LEN;
        self.n.min(lo + BLOCK_LEN).saturating_sub(lo)
    }

    /// Parses (and validates) the next block's frame at the cursor.
    #[inline(always)]
    pub(crate) fn next_frame<'a>(
        &mut self,
        cur: &mut ByteCursor<'a>,
    ) -> Result<BlockFrame<'a>, Error> {
        let k = usize::from(self.h.order);
        let len = self.next_len();
        if len == 0 {
            return Err(corrupt("no block left"));
        }
        let cnt = block_entries(self.j, self.n, k).len();
        let f = parse_frame(cur, cnt, self.base)?;
        self.base = f.base;
        let first = self.j * BLOCK_LEN;
        self.j += 1;
        Ok(BlockFrame {
            f,
            first,
            k0: len - cnt,
            len,
        })
    }

    /// Unpacks a frame's entries (times the multiplier) into `out[k0..]`.
    #[inline(always)]
    fn unpack<'o>(&self, b: &BlockFrame<'_>, out: &'o mut [i64]) -> Result<&'o mut [i64], Error> {
        let xs = out
            .get_mut(b.k0..b.len)
            .ok_or_else(|| corrupt("output shorter than the block"))?;
        unpack_frame(&b.f, xs)?;
        if self.h.mult != 1 {
            let g = self.h.mult;
            for x in xs.iter_mut() {
                *x = x.wrapping_mul(g);
            }
        }
        Ok(xs)
    }

    /// Decodes frame `b` (the next one, from [`Self::next_frame`]) into `out[..b.len]`.
    ///
    /// With `proof`, also adds what the layout proves about this block: for order 0, that
    /// its entries increase strictly and exactly (the slope exceeds the frame's spread, the
    /// extreme line fits an `i64`, and every exception is exact and lies between its
    /// neighbours); for order 1, that every step is non-zero and below 2^63 (accumulating
    /// `cnt * OR(steps)`); order 2 proves nothing.
    #[inline(always)]
    pub(crate) fn decode(
        &mut self,
        b: &BlockFrame<'_>,
        out: &mut [i64],
        proof: Option<&mut Proof>,
    ) -> Result<(), Error> {
        let (order, slope) = (self.h.order, self.h.slope);
        let out = out
            .get_mut(..b.len)
            .ok_or_else(|| corrupt("output shorter than the block"))?;
        self.unpack(b, out)?;
        let (firsts, xs) = out.split_at_mut(b.k0);
        match order {
            0 => {
                let mut line = self.y.wrapping_add((b.first as i64).wrapping_mul(slope));
                for x in xs.iter_mut() {
                    *x = x.wrapping_add(line);
                    line = line.wrapping_add(slope);
                }
                if let Some(p) = proof {
                    p.ok = p.ok && self.line_proof(b, xs);
                }
            }
            1 => {
                if let Some(f) = firsts.first_mut() {
                    *f = self.y;
                }
                let mut y = self.y;
                if let Some(p) = proof {
                    let (mut or, mut zero) = (0u64, false);
                    for x in xs.iter_mut() {
                        or |= *x as u64;
                        zero |= *x == 0;
                        y = y.wrapping_add(*x);
                        *x = y;
                    }
                    p.ok = p.ok && !zero && or >> 63 == 0;
                    p.bound += xs.len() as u128 * u128::from(or);
                } else {
                    prefix_sum(xs, y);
                    y = xs.last().copied().unwrap_or(y);
                }
                self.y = y;
            }
            _ => {
                let (mut y, mut d) = (self.y, self.d);
                if b.k0 > 0 {
                    firsts[0] = y;
                    if b.k0 > 1 {
                        y = y.wrapping_add(d);
                        firsts[1] = y;
                    }
                }
                for x in xs.iter_mut() {
                    d = d.wrapping_add(*x);
                    y = y.wrapping_add(d);
                    *x = y;
                }
                self.y = y;
                self.d = d;
                if let Some(p) = proof {
                    p.ok = false;
                }
            }
        }
        Ok(())
    }

    /// Moves past frame `b` (the next one) as [`Self::decode`] would, without producing
    /// its values: order 0 has no running state and reads nothing; orders 1 and 2 unpack
    /// the entries into `scratch` (their running sums need every entry) but skip the
    /// output.
    pub(crate) fn skip(&mut self, b: &BlockFrame<'_>, scratch: &mut [i64]) -> Result<(), Error> {
        if self.h.order == 0 {
            return Ok(());
        }
        let out = scratch
            .get_mut(..b.len)
            .ok_or_else(|| corrupt("output shorter than the block"))?;
        let xs: &[i64] = self.unpack(b, out)?;
        if self.h.order == 1 {
            self.y = xs.iter().fold(self.y, |y, &x| y.wrapping_add(x));
        } else {
            let (mut y, mut d) = (self.y, self.d);
            if b.k0 > 1 {
                y = y.wrapping_add(d);
            }
            for &x in xs {
                d = d.wrapping_add(x);
                y = y.wrapping_add(d);
            }
            self.y = y;
            self.d = d;
        }
        Ok(())
    }

    /// The order-0 proof for a decoded block `xs` (see [`Self::decode`]).
    fn line_proof(&self, b: &BlockFrame<'_>, xs: &[i64]) -> bool {
        let f = &b.f;
        let g = i128::from(self.h.mult);
        let slope = i128::from(self.h.slope);
        let spread = g * ((1i128 << f.width) - 1);
        let start = i128::from(self.y) + b.first as i128 * slope + g * i128::from(f.base);
        let end = start + (xs.len().max(1) as i128 - 1) * slope + spread;
        let fits = |v: i128| v >= i128::from(i64::MIN) && v <= i128::from(i64::MAX);
        if slope <= spread || !fits(start) || !fits(end) {
            return false;
        }
        let mut cur = ByteCursor::new(f.exc);
        let mut next = 0usize;
        for _ in 0..f.n_exc {
            let (Some(gap), Some(p)) = (cur.uvarint(), cur.zvarint()) else {
                return false;
            };
            let Some(idx) = usize::try_from(gap)
                .ok()
                .and_then(|gp| next.checked_add(gp))
            else {
                return false;
            };
            let Some(&x) = xs.get(idx) else {
                return false;
            };
            let exact = i128::from(self.y)
                + (b.first + idx) as i128 * slope
                + g * (i128::from(f.base) + i128::from(p));
            let before = idx.checked_sub(1).and_then(|i| xs.get(i));
            if exact != i128::from(x)
                || before.is_some_and(|&v| v >= x)
                || xs.get(idx + 1).is_some_and(|&v| v <= x)
            {
                return false;
            }
            next = idx + 1;
        }
        true
    }

    /// Decodes frame `b` like [`Self::decode`] (without a proof) and writes `f(value)` to
    /// `vals`, fusing the conversion into the inverse transform; `scratch` receives the
    /// unpacked entries.
    #[inline(always)]
    pub(crate) fn decode_map(
        &mut self,
        b: &BlockFrame<'_>,
        scratch: &mut [i64],
        vals: &mut [f64],
        f: impl Fn(i64) -> f64,
    ) -> Result<(), Error> {
        let (Some(scratch), Some(vals)) = (scratch.get_mut(..b.len), vals.get_mut(..b.len)) else {
            return Err(corrupt("output shorter than the block"));
        };
        let xs: &[i64] = self.unpack(b, scratch)?;
        let (firsts, rest) = vals.split_at_mut(b.k0);
        match self.h.order {
            0 => {
                let slope = self.h.slope;
                let mut line = self.y.wrapping_add((b.first as i64).wrapping_mul(slope));
                for (o, &x) in rest.iter_mut().zip(xs) {
                    *o = f(x.wrapping_add(line));
                    line = line.wrapping_add(slope);
                }
            }
            1 => {
                let mut y = self.y;
                if let Some(o) = firsts.first_mut() {
                    *o = f(y);
                }
                for (o, &x) in rest.iter_mut().zip(xs) {
                    y = y.wrapping_add(x);
                    *o = f(y);
                }
                self.y = y;
            }
            _ => {
                let (mut y, mut d) = (self.y, self.d);
                if b.k0 > 0 {
                    firsts[0] = f(y);
                    if b.k0 > 1 {
                        y = y.wrapping_add(d);
                        firsts[1] = f(y);
                    }
                }
                for (o, &x) in rest.iter_mut().zip(xs) {
                    d = d.wrapping_add(x);
                    y = y.wrapping_add(d);
                    *o = f(y);
                }
                self.y = y;
                self.d = d;
            }
        }
        Ok(())
    }
}

/// Parses the frame at the cursor, holding `cnt` entries, after a frame whose base was
/// `prev_base`.
#[inline(always)]
fn parse_frame<'a>(
    cur: &mut ByteCursor<'a>,
    cnt: usize,
    prev_base: i64,
) -> Result<Frame<'a>, Error> {
    let head = cur.u8().ok_or_else(|| corrupt("truncated block"))?;
    let width = u32::from(head & 0x7f);
    if width > 64 {
        return Err(corrupt("width above 64"));
    }
    let (n_exc, sparse) = if head & 0x80 != 0 {
        let extras = cur.uvarint().ok_or_else(|| corrupt("truncated block"))?;
        if extras & 3 > 1 {
            return Err(corrupt("unknown block mode"));
        }
        (extras >> 2, extras & 1 == 1)
    } else {
        (0, false)
    };
    if n_exc > cnt as u64 {
        return Err(corrupt("more exceptions than entries"));
    }
    let delta = cur.zvarint().ok_or_else(|| corrupt("truncated block"))?;
    let base = prev_base.wrapping_add(delta);
    parse_frame_body(cur, cnt, sparse, width, base, n_exc as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Writes the column of `ys` under `plan` (header, then every frame).
    fn write(ys: &[i64], plan: &BlockColumnPlan) -> Vec<u8> {
        let mut zs = Vec::new();
        let mut out = Vec::new();
        let mut w = BlockColumnWriter::start(plan, ys, &mut zs, &mut out);
        for _ in 0..num_blocks(ys.len()) {
            w.write_block(&mut out);
        }
        out
    }

    /// Decodes a column of `n` values in the first `len` bytes of `bytes`, block by block,
    /// with the proof.
    fn read(bytes: &[u8], len: usize, n: usize) -> Result<(Vec<i64>, Vec<u64>, Proof), Error> {
        let mut cur = ByteCursor::with_end(bytes, len);
        let h = BlockColumnHead::parse(&mut cur, n)?;
        let (mut c, mut m) = (BlockColumn::new(h, n), BlockColumn::new(h, n));
        let (mut ys, mut bits) = (vec![0i64; n], Vec::new());
        let mut proof = Proof::default();
        let mut at = 0;
        let mut cur2 = cur.clone();
        while c.next_len() > 0 {
            let b = c.next_frame(&mut cur)?;
            c.decode(&b, &mut ys[at..], Some(&mut proof))?;
            let b2 = m.next_frame(&mut cur2)?;
            let mut scratch = vec![0i64; b2.len];
            let mut vals = vec![0f64; b2.len];
            m.decode_map(&b2, &mut scratch, &mut vals, |x| f64::from_bits(x as u64))?;
            bits.extend(vals.iter().map(|v| v.to_bits()));
            if at > 0 && ys[at] <= ys[at - 1] {
                proof.ok = false; // the caller's boundary check
            }
            at += b.len;
        }
        if cur.remaining() != 0 {
            return Err(corrupt("trailing bytes"));
        }
        Ok((ys, bits, proof))
    }

    fn round_trip(ys: &[i64], plan: &BlockColumnPlan) -> Result<(), TestCaseError> {
        let out = write(ys, plan);
        prop_assert_eq!(out.len(), plan.bytes, "size of {:?}", plan);
        let mut padded = out.clone();
        padded.extend_from_slice(&[0xa5; 16]);
        let (got, bits, proof) = read(&padded, out.len(), ys.len()).expect("decode");
        prop_assert_eq!(&got, &ys.to_vec(), "{:?}", plan);
        let want: Vec<u64> = ys.iter().map(|&y| y as u64).collect();
        prop_assert_eq!(bits, want);
        if proof.holds() && ys.len() > 1 && ys[ys.len() - 1] > ys[0] {
            prop_assert!(
                ys.windows(2).all(|w| w[1] > w[0]),
                "false proof for {:?}",
                ys
            );
        }
        Ok(())
    }

    fn series() -> impl Strategy<Value = Vec<i64>> {
        prop_oneof![
            proptest::collection::vec(any::<i64>(), 1..300),
            proptest::collection::vec(-3i64..3, 1..400),
            (any::<i64>(), proptest::collection::vec(0i64..5, 1..600)).prop_map(|(s, d)| {
                let mut y = s;
                d.into_iter()
                    .map(|x| {
                        y = y.wrapping_add(x * 4096);
                        y
                    })
                    .collect()
            }),
            // Jittered timestamps with late scrapes and the odd huge gap.
            (
                any::<i64>(),
                proptest::collection::vec(
                    prop_oneof![
                        20 => 14_997i64..15_004,
                        1 => 16_000i64..19_000,
                        1 => 1i64..3,
                        1 => any::<i64>(),
                    ],
                    1..700
                )
            )
                .prop_map(|(s, d)| {
                    let mut y = s;
                    d.into_iter()
                        .map(|x| {
                            y = y.wrapping_add(x);
                            y
                        })
                        .collect()
                }),
        ]
    }

    proptest! {
        #[test]
        fn every_order_round_trips(ys in series(), slope in any::<i64>()) {
            let mut zs = Vec::new();
            for order in 0..=2u8 {
                if ys.len() < usize::from(order).max(1) {
                    continue;
                }
                let sl = if order == 0 { slope } else { 0 };
                let p = plan_transform(&ys, order, sl, &mut zs);
                round_trip(&ys, &p)?;
            }
            round_trip(&ys, &plan_values(&ys, &mut zs))?;
            let us: Vec<i64> = ys.iter().map(|y| y.wrapping_sub(ys[0])).collect();
            round_trip(&us, &plan_timestamps(&us, &mut zs))?;
        }

        #[test]
        fn parse_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..96), n in 1usize..600) {
            if let Ok((ys, _, proof)) = read(&bytes, bytes.len(), n) {
                if proof.holds() && ys.len() > 1 && ys[ys.len() - 1] > ys[0] {
                    prop_assert!(ys.windows(2).all(|w| w[1] > w[0]));
                }
            }
        }
    }

    #[test]
    fn outliers_stay_local_and_multiples_shrink() {
        // A counter over 1000 samples with three resets: every block keeps its narrow frame.
        let mut ys = Vec::new();
        let mut y = 5_000_000i64;
        for i in 0..1000 {
            y = if i % 300 == 150 {
                7
            } else {
                y + 100 + (i % 13)
            };
            ys.push(y);
        }
        let mut zs = Vec::new();
        let p = plan_values(&ys, &mut zs);
        assert!(p.order >= 1, "{p:?}");
        // 4 bits per entry plus a few bytes per block and per reset.
        assert!(p.bytes < 1000 / 2 + 8 * 6 + 3 * 6, "{p:?}");
        round_trip(&ys, &p).unwrap();
        // Memory in whole pages: the multiplier removes 12 bits per entry.
        let ys: Vec<i64> = (0..300)
            .map(|i| (1 << 28) + ((i * 7919) % 61) * 4096)
            .collect();
        let p = plan_values(&ys, &mut zs);
        assert_eq!(p.mult % 4096, 0, "{p:?}");
        assert!(p.bytes < 300 * 6 / 8 + 30, "{p:?}");
        round_trip(&ys, &p).unwrap();
        // Jittered 15 s timestamps with a late scrape: 3 bits each, the late one an exception,
        // and the layout proves them increasing.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut jitter = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % 5) as i64
        };
        let us: Vec<i64> = (0..600i64)
            .map(|i| i * 15_000 + jitter() + if i == 300 { 2_500 } else { 0 })
            .collect();
        let p = plan_timestamps(&us, &mut zs);
        assert_eq!(p.order, 0, "{p:?}");
        assert!(p.bytes < 600 * 3 / 8 + 5 * 4 + 8, "{p:?}");
        let out = write(&us, &p);
        let (got, _, proof) = read(&out, out.len(), us.len()).unwrap();
        assert_eq!(got, us);
        assert!(proof.holds());
    }

    #[test]
    fn planner_matches_an_exhaustive_search_on_small_blocks() {
        // With few entries every (low, high) exception split is within reach of both.
        let zs = [5i64, -1000, 7, 6, 5, 900_000, 5, 8];
        let p = plan_block(&zs, 0);
        assert_eq!((p.base, p.hi, p.n_exc), (5, 8, 2), "{p:?}");
    }
}

//! Shared by the packed encodings, `IntDelta`, `FloatDelta` and `Blocked`: choosing the best
//! encoding for a chunk, parsing an `IntDelta` or `FloatDelta` body, and block decoding any
//! packed body (`Blocked` parses its own, see `blocked.rs`).
//!
//! Sealing knows the whole chunk, so it plans every column (timestamps, values) with all
//! transforms and keeps whichever of `IntDelta`, `FloatDelta`, `Blocked` (chunks longer than
//! one block only) and the streaming `Xor` body is smallest. Invariant: a packed body is parsed completely (every column length checked)
//! before any sample is decoded, and the body must end exactly at the end of the chunk.

use super::block_column::BlockColumnPlan;
use super::blocked::{self, BlockScratch, Values, BLOCK_LEN};
use super::column::{self, ColumnDecoder, ColumnLayout};
use super::header;
use super::int_delta::{self, from_decimal, MAX_SCALE};
use super::{float_delta, Encoding};
use crate::encoding::ByteCursor;
use crate::Error;

/// Reusable buffers for encoding.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    us: Vec<i64>,
    xs: Vec<i64>,
    ms: Vec<i64>,
    bits: Vec<i64>,
    patches: Vec<(usize, u64)>,
    b: BlockScratch,
}

/// Chunks longer than this (every chunk compaction cuts longer than a head chunk) also try
/// the `Blocked` encoding; shorter ones are a single block, where the older packed
/// encodings are as small and cheaper to plan.
const BLOCKED_ABOVE: usize = BLOCK_LEN;

/// Chunks longer than this try only `Blocked` (and Xor): one frame for so many samples
/// loses to per-block frames (measured: `Blocked` is chosen for 98 % of 960-sample chunks
/// and all 5760-sample ones of the benchmark mix), and planning it costs time.
const BLOCKED_ONLY_ABOVE: usize = 4 * BLOCK_LEN;

/// Encodes the samples with the smallest packed encoding, unless `xor_len` (the size of the
/// same chunk as Xor, when known) is smaller: then `None`.
pub(crate) fn encode_best(
    ts: &[i64],
    vs: &[f64],
    xor_len: Option<usize>,
    s: &mut Scratch,
) -> Option<(Encoding, Vec<u8>)> {
    let n = ts.len().min(vs.len());
    let (ts, vs) = (&ts[..n], &vs[..n]);
    let mut head = Vec::with_capacity(24);
    let (min_t, max_t) = match (ts.first(), ts.last()) {
        (Some(&a), Some(&b)) => (a, b),
        _ => {
            header::write(&mut head, Encoding::IntDelta, 0, 0, 0);
            return Some((Encoding::IntDelta, head));
        }
    };
    s.us.clear();
    s.us.extend(ts.iter().map(|t| t.wrapping_sub(min_t)));
    header::write(&mut head, Encoding::IntDelta, n, min_t, max_t);
    let blocked = n > BLOCKED_ABOVE;
    let single = n <= BLOCKED_ONLY_ABOVE;
    let ts_plan = single.then(|| column::plan_timestamps(&s.us, &mut s.xs));
    let fixed = head.len() + ts_plan.map_or(0, |p| p.bytes);

    let mut best: Option<(Encoding, usize)> = xor_len.map(|l| (Encoding::Xor, l));
    let better = |best: &Option<(Encoding, usize)>, len: usize| best.is_none_or(|b| len < b.1);

    let scale = int_delta::decimal_mantissas(vs, &mut s.ms, &mut s.patches);
    let int = scale.filter(|_| single).map(|scale| {
        let plan = column::plan_values(&s.ms, &mut s.xs);
        let len = fixed + 1 + plan.bytes + int_delta::patches_len(&s.patches);
        (scale, plan, len)
    });
    if let Some((_, _, len)) = int {
        if better(&best, len) {
            best = Some((Encoding::IntDelta, len));
        }
    }
    // The Blocked plans, with whether their values are decimal.
    let mut block_plans = None;
    if let (true, Some(scale)) = (blocked, scale) {
        let vals = Values::Decimal(scale, &s.ms, &s.patches);
        let (t, v, bytes) = blocked::plan(&s.us, vals, &mut s.b);
        if better(&best, head.len() + bytes) {
            best = Some((Encoding::Blocked, head.len() + bytes));
            block_plans = Some((t, v, true));
        }
    }
    let mut float = None;
    if scale.is_none() || !s.patches.is_empty() {
        float_delta::bit_patterns(vs, &mut s.bits);
        if single {
            let plan = column::plan_values(&s.bits, &mut s.xs);
            let len = fixed + plan.bytes;
            if better(&best, len) {
                best = Some((Encoding::FloatDelta, len));
            }
            float = Some(plan);
        }
        if blocked {
            let (t, v, bytes) = blocked::plan(&s.us, Values::Bits(&s.bits), &mut s.b);
            if better(&best, head.len() + bytes) {
                best = Some((Encoding::Blocked, head.len() + bytes));
                block_plans = Some((t, v, false));
            }
        }
    }
    let (enc, len) = best?;
    let mut out = Vec::with_capacity(len + 16);
    header::write(&mut out, enc, n, min_t, max_t);
    match (enc, ts_plan, int, float, block_plans) {
        (Encoding::IntDelta, Some(tp), Some((scale, plan, _)), _, _) => int_delta::encode_body(
            &tp, &s.us, scale, &plan, &s.ms, &s.patches, &mut s.xs, &mut out,
        ),
        (Encoding::FloatDelta, Some(tp), _, Some(plan), _) => {
            float_delta::encode_body(&tp, &s.us, &plan, &s.bits, &mut s.xs, &mut out)
        }
        (Encoding::Blocked, _, _, _, Some((t, v, true))) => {
            let scale = scale?;
            let vals = Values::Decimal(scale, &s.ms, &s.patches);
            blocked::encode_body(&t, &s.us, &v, vals, &mut s.b, &mut out)
        }
        (Encoding::Blocked, _, _, _, Some((t, v, false))) => {
            blocked::encode_body(&t, &s.us, &v, Values::Bits(&s.bits), &mut s.b, &mut out)
        }
        _ => return None,
    }
    // The plan's size is an estimate; never hand back more bytes than the XOR stream holds.
    if xor_len.is_some_and(|l| out.len() >= l) {
        return None;
    }
    Some((enc, out))
}

/// Encodes with one given packed encoding (tests and benchmarks); `None` if the values do
/// not fit it (IntDelta with too many non-decimal values). `Blocked` takes the smaller of
/// its decimal and bit-pattern forms.
pub(crate) fn encode_as(enc: Encoding, ts: &[i64], vs: &[f64], s: &mut Scratch) -> Option<Vec<u8>> {
    let n = ts.len().min(vs.len());
    let (ts, vs) = (&ts[..n], &vs[..n]);
    let mut out = Vec::new();
    let (min_t, max_t) = match (ts.first(), ts.last()) {
        (Some(&a), Some(&b)) => (a, b),
        _ => {
            header::write(&mut out, enc, 0, 0, 0);
            return Some(out);
        }
    };
    s.us.clear();
    s.us.extend(ts.iter().map(|t| t.wrapping_sub(min_t)));
    header::write(&mut out, enc, n, min_t, max_t);
    match enc {
        Encoding::IntDelta => {
            let ts_plan = column::plan_timestamps(&s.us, &mut s.xs);
            let scale = int_delta::decimal_mantissas(vs, &mut s.ms, &mut s.patches)?;
            let plan = column::plan_values(&s.ms, &mut s.xs);
            int_delta::encode_body(
                &ts_plan, &s.us, scale, &plan, &s.ms, &s.patches, &mut s.xs, &mut out,
            );
        }
        Encoding::FloatDelta => {
            let ts_plan = column::plan_timestamps(&s.us, &mut s.xs);
            float_delta::bit_patterns(vs, &mut s.bits);
            let plan = column::plan_values(&s.bits, &mut s.xs);
            float_delta::encode_body(&ts_plan, &s.us, &plan, &s.bits, &mut s.xs, &mut out);
        }
        Encoding::Blocked => {
            let t = blocked::plan_timestamps(&s.us, &mut s.b);
            let (v, vals) = blocked_values(vs, &mut s.ms, &mut s.patches, &mut s.bits, &mut s.b);
            blocked::encode_body(&t, &s.us, &v, vals, &mut s.b, &mut out);
        }
        Encoding::Xor => return None,
    }
    Some(out)
}

/// The value part (`shared_times`) of the `Blocked` chunk [`encode_as`] gives for values
/// `vs` over any timestamps: the encoding byte, then what the body holds besides its
/// timestamps. The timestamp column, the same for every chunk over the same timestamps, is
/// neither planned nor written.
pub(crate) fn blocked_value_part(vs: &[f64], s: &mut Scratch) -> Vec<u8> {
    let mut out = vec![Encoding::Blocked as u8];
    let (v, vals) = blocked_values(vs, &mut s.ms, &mut s.patches, &mut s.bits, &mut s.b);
    blocked::encode_values(&v, vs.len(), vals, &mut s.b, &mut out);
    out
}

/// How [`encode_as`] stores the values of a `Blocked` chunk, and the plan of their column:
/// as decimals, unless some need patches or none are decimal; then as raw bit patterns if
/// that is smaller (the rule `seal` follows; the timestamp column is the same either way).
fn blocked_values<'s>(
    vs: &[f64],
    ms: &'s mut Vec<i64>,
    patches: &'s mut Vec<(usize, u64)>,
    bits: &'s mut Vec<i64>,
    b: &mut BlockScratch,
) -> (BlockColumnPlan, Values<'s>) {
    let scale = int_delta::decimal_mantissas(vs, ms, patches);
    let (ms, patches) = (&*ms, &*patches);
    let decimal = scale.map(|scale| {
        let vals = Values::Decimal(scale, ms, patches);
        let (v, bytes) = blocked::plan_values(vals, b);
        (v, bytes, vals)
    });
    if let Some((v, _, vals)) = decimal.filter(|_| patches.is_empty()) {
        return (v, vals);
    }
    float_delta::bit_patterns(vs, bits);
    let bits = &*bits;
    let (v, bytes) = blocked::plan_values(Values::Bits(bits), b);
    match decimal {
        Some((v2, bytes2, vals)) if bytes2 <= bytes => (v2, vals),
        _ => (v, Values::Bits(bits)),
    }
}

/// How mantissas become values.
#[derive(Clone, Copy, Debug)]
pub(crate) enum ValueKind {
    Decimal(usize),
    Bits,
}

/// A parsed packed body.
#[derive(Clone, Debug)]
pub(crate) struct PackedLayout<'a> {
    ts: ColumnLayout<'a>,
    kind: ValueKind,
    vals: ColumnLayout<'a>,
    n_patches: usize,
    patches: &'a [u8],
}

#[cold]
#[inline(never)]
fn corrupt(what: &str) -> Error {
    Error::CorruptChunk(format!("packed body: {what}"))
}

impl<'a> PackedLayout<'a> {
    /// Parses and validates the body of an IntDelta or FloatDelta chunk of `n >= 1` samples:
    /// the first `len` bytes of `body` (the rest is padding that decoders may over-read).
    #[inline(always)]
    pub(crate) fn parse(
        body: &'a [u8],
        len: usize,
        enc: Encoding,
        n: usize,
    ) -> Result<Self, Error> {
        let mut c = ByteCursor::with_end(body, len);
        let ts = ColumnLayout::parse(&mut c, n)?;
        let kind = if enc == Encoding::IntDelta {
            let scale = usize::from(c.u8().ok_or_else(|| corrupt("truncated scale"))?);
            if scale > MAX_SCALE {
                return Err(corrupt("scale out of range"));
            }
            ValueKind::Decimal(scale)
        } else {
            ValueKind::Bits
        };
        let vals = ColumnLayout::parse(&mut c, n)?;
        let (mut n_patches, mut patches) = (0, &[][..]);
        if enc == Encoding::IntDelta {
            (n_patches, patches) = parse_patches(&mut c, n)?;
        }
        if c.remaining() != 0 {
            return Err(corrupt("trailing bytes"));
        }
        Ok(PackedLayout {
            ts,
            kind,
            vals,
            n_patches,
            patches,
        })
    }
}

/// Parses and validates a patch list of a chunk of `n` samples at the cursor: at most `n`
/// patches, indexes strictly increasing and below `n`. Returns the count and the bytes.
pub(crate) fn parse_patches<'a>(
    c: &mut ByteCursor<'a>,
    n: usize,
) -> Result<(usize, &'a [u8]), Error> {
    let np = c.uvarint().ok_or_else(|| corrupt("truncated patches"))?;
    if np > n as u64 {
        return Err(corrupt("more patches than samples"));
    }
    let start = c.clone();
    let mut next = 0u64;
    for _ in 0..np {
        let gap = c.uvarint().ok_or_else(|| corrupt("truncated patches"))?;
        let idx = next.checked_add(gap).filter(|&i| i < n as u64);
        next = idx.ok_or_else(|| corrupt("patch index out of range"))? + 1;
        c.u64_le().ok_or_else(|| corrupt("truncated patches"))?;
    }
    let patches = start.clone().take(c.pos() - start.pos()).unwrap_or(&[]);
    Ok((np as usize, patches))
}

/// Overwrites the values of the `n_patches` patches in `patches` (validated by
/// [`parse_patches`]).
pub(crate) fn apply_patches(patches: &[u8], n_patches: usize, vs: &mut [f64]) -> Result<(), Error> {
    let mut cur = ByteCursor::new(patches);
    let mut next = 0usize;
    for _ in 0..n_patches {
        let gap = cur.uvarint().ok_or_else(|| corrupt("patches"))?;
        let bits = cur.u64_le().ok_or_else(|| corrupt("patches"))?;
        let idx = usize::try_from(gap)
            .ok()
            .and_then(|g| next.checked_add(g))
            .ok_or_else(|| corrupt("patches"))?;
        *vs.get_mut(idx).ok_or_else(|| corrupt("patches"))? = f64::from_bits(bits);
        next = idx + 1;
    }
    Ok(())
}

/// Decodes a whole packed body of `n` samples whose first timestamp is `t0` into `ts` and
/// `vs` (both at least `n` long; only the first `n` entries are written). The body is parsed
/// (and validated) once, then each column is unpacked in one tight pass straight into the
/// output: the values through `ts` as integer scratch space, then the timestamps. True if
/// the timestamp layout proves them increasing (see `ColumnLayout::decode_all`).
pub(crate) fn decode_all(
    body: &[u8],
    len: usize,
    enc: Encoding,
    n: usize,
    t0: i64,
    ts: &mut [i64],
    vs: &mut [f64],
) -> Result<bool, Error> {
    let l = PackedLayout::parse(body, len, enc, n)?;
    let (Some(ts), Some(vs)) = (ts.get_mut(..n), vs.get_mut(..n)) else {
        return Err(corrupt("output shorter than the sample count"));
    };
    match l.kind {
        ValueKind::Decimal(0) => l.vals.decode_map(ts, vs, |m| m as f64)?,
        ValueKind::Decimal(scale) => {
            let p = int_delta::POW10[scale];
            l.vals.decode_map(ts, vs, |m| m as f64 / p)?
        }
        ValueKind::Bits => l.vals.decode_map(ts, vs, |m| f64::from_bits(m as u64))?,
    }
    if l.n_patches > 0 {
        apply_patches(l.patches, l.n_patches, vs)?;
    }
    l.ts.decode_all(ts, t0, true)
}

/// Patches applied block by block: the next patch is loaded ahead.
#[derive(Clone, Debug)]
pub(crate) struct PatchCursor<'a> {
    cur: ByteCursor<'a>,
    left: usize,
    next: usize,
    bits: u64,
}

impl<'a> PatchCursor<'a> {
    /// A cursor over `count` validated patches.
    pub(crate) fn new(bytes: &'a [u8], count: usize) -> Result<Self, Error> {
        let mut p = PatchCursor {
            cur: ByteCursor::new(bytes),
            left: count,
            next: usize::MAX,
            bits: 0,
        };
        p.load(0)?;
        Ok(p)
    }

    fn load(&mut self, from: usize) -> Result<(), Error> {
        if self.left == 0 {
            self.next = usize::MAX;
            return Ok(());
        }
        self.left -= 1;
        let gap = self.cur.uvarint().ok_or_else(|| corrupt("patches"))?;
        self.bits = self.cur.u64_le().ok_or_else(|| corrupt("patches"))?;
        self.next = usize::try_from(gap)
            .ok()
            .and_then(|g| from.checked_add(g))
            .ok_or_else(|| corrupt("patches"))?;
        Ok(())
    }

    /// Moves past the patches of samples before `end` without applying them.
    #[inline]
    pub(crate) fn skip_to(&mut self, end: usize) -> Result<(), Error> {
        while self.next < end {
            let from = self.next + 1;
            self.load(from)?;
        }
        Ok(())
    }

    /// Applies the patches of samples `[at, at + vs.len())` to `vs`.
    #[inline]
    pub(crate) fn apply(&mut self, at: usize, vs: &mut [f64]) -> Result<(), Error> {
        let end = at + vs.len();
        while self.next < end {
            *vs.get_mut(self.next.wrapping_sub(at))
                .ok_or_else(|| corrupt("patches"))? = f64::from_bits(self.bits);
            let from = self.next + 1;
            self.load(from)?;
        }
        Ok(())
    }
}

/// Block decoder of a packed body.
#[derive(Clone, Debug)]
pub(crate) struct PackedDecoder<'a> {
    ts: ColumnDecoder<'a>,
    vals: ColumnDecoder<'a>,
    kind: ValueKind,
    n: usize,
    i: usize,
    patches: PatchCursor<'a>,
}

impl<'a> PackedDecoder<'a> {
    /// A decoder of `n` samples whose first timestamp is `t0`.
    pub(crate) fn new(mut l: PackedLayout<'a>, n: usize, t0: i64) -> Result<Self, Error> {
        l.ts.add_offset(t0);
        Ok(PackedDecoder {
            ts: ColumnDecoder::new(l.ts)?,
            vals: ColumnDecoder::new(l.vals)?,
            kind: l.kind,
            n,
            i: 0,
            patches: PatchCursor::new(l.patches, l.n_patches)?,
        })
    }

    /// Samples not yet decoded.
    pub(crate) fn remaining(&self) -> usize {
        self.n - self.i
    }

    /// Decodes up to `ts.len()` samples; see `XorDecoder::decode_into`.
    pub(crate) fn decode_into(&mut self, ts: &mut [i64], vs: &mut [f64]) -> (usize, Option<Error>) {
        let k = ts.len().min(vs.len()).min(self.remaining());
        match self.decode_block(&mut ts[..k], &mut vs[..k]) {
            Ok(()) => (k, None),
            Err(e) => {
                self.i = self.n;
                (0, Some(e))
            }
        }
    }

    fn decode_block(&mut self, ts: &mut [i64], vs: &mut [f64]) -> Result<(), Error> {
        // Values first, through `ts` as integer scratch space.
        self.vals.decode(ts)?;
        match self.kind {
            ValueKind::Decimal(0) => {
                for (v, &m) in vs.iter_mut().zip(ts.iter()) {
                    *v = m as f64;
                }
            }
            ValueKind::Decimal(scale) => {
                for (v, &m) in vs.iter_mut().zip(ts.iter()) {
                    *v = from_decimal(m, scale);
                }
            }
            ValueKind::Bits => {
                for (v, &m) in vs.iter_mut().zip(ts.iter()) {
                    *v = f64::from_bits(m as u64);
                }
            }
        }
        self.patches.apply(self.i, vs)?;
        self.ts.decode(ts)?;
        self.i += ts.len();
        Ok(())
    }
}

//! Shared by the two seal-time encodings, `IntDelta` and `FloatDelta`: choosing the best
//! encoding for a chunk, parsing a packed body, and block decoding it.
//!
//! Sealing knows the whole chunk, so it plans every column (timestamps, values) with all
//! transforms and keeps whichever of `IntDelta`, `FloatDelta` and the streaming `Xor` body is
//! smallest. Invariant: a packed body is parsed completely (every column length checked)
//! before any sample is decoded, and the body must end exactly at the end of the chunk.

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
}

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
    let ts_plan = column::plan_timestamps(&s.us, &mut s.xs);
    header::write(&mut head, Encoding::IntDelta, n, min_t, max_t);
    let fixed = head.len() + ts_plan.bytes;

    let mut best: Option<(Encoding, usize)> = xor_len.map(|l| (Encoding::Xor, l));
    let better = |best: &Option<(Encoding, usize)>, len: usize| best.is_none_or(|b| len < b.1);

    let int = int_delta::decimal_mantissas(vs, &mut s.ms, &mut s.patches).map(|scale| {
        let plan = column::plan_values(&s.ms, &mut s.xs);
        let len = fixed + 1 + plan.bytes + int_delta::patches_len(&s.patches);
        (scale, plan, len)
    });
    if let Some((_, _, len)) = int {
        if better(&best, len) {
            best = Some((Encoding::IntDelta, len));
        }
    }
    let mut float = None;
    if int.is_none() || !s.patches.is_empty() {
        float_delta::bit_patterns(vs, &mut s.bits);
        let plan = column::plan_values(&s.bits, &mut s.xs);
        let len = fixed + plan.bytes;
        if better(&best, len) {
            best = Some((Encoding::FloatDelta, len));
        }
        float = Some(plan);
    }
    let (enc, len) = best?;
    let mut out = Vec::with_capacity(len + 16);
    header::write(&mut out, enc, n, min_t, max_t);
    match (enc, int, float) {
        (Encoding::IntDelta, Some((scale, plan, _)), _) => int_delta::encode_body(
            &ts_plan, &s.us, scale, &plan, &s.ms, &s.patches, &mut s.xs, &mut out,
        ),
        (Encoding::FloatDelta, _, Some(plan)) => {
            float_delta::encode_body(&ts_plan, &s.us, &plan, &s.bits, &mut s.xs, &mut out)
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
/// not fit it (IntDelta with too many non-decimal values).
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
    let ts_plan = column::plan_timestamps(&s.us, &mut s.xs);
    header::write(&mut out, enc, n, min_t, max_t);
    match enc {
        Encoding::IntDelta => {
            let scale = int_delta::decimal_mantissas(vs, &mut s.ms, &mut s.patches)?;
            let plan = column::plan_values(&s.ms, &mut s.xs);
            int_delta::encode_body(
                &ts_plan, &s.us, scale, &plan, &s.ms, &s.patches, &mut s.xs, &mut out,
            );
        }
        Encoding::FloatDelta => {
            float_delta::bit_patterns(vs, &mut s.bits);
            let plan = column::plan_values(&s.bits, &mut s.xs);
            float_delta::encode_body(&ts_plan, &s.us, &plan, &s.bits, &mut s.xs, &mut out);
        }
        Encoding::Xor => return None,
    }
    Some(out)
}

/// How mantissas become values.
#[derive(Clone, Copy, Debug)]
enum ValueKind {
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
            n_patches = np as usize;
            patches = start.clone().take(c.pos() - start.pos()).unwrap_or(&[]);
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
        let mut cur = ByteCursor::new(l.patches);
        let mut next = 0usize;
        for _ in 0..l.n_patches {
            let gap = cur.uvarint().ok_or_else(|| corrupt("patches"))?;
            let bits = cur.u64_le().ok_or_else(|| corrupt("patches"))?;
            let idx = usize::try_from(gap)
                .ok()
                .and_then(|g| next.checked_add(g))
                .ok_or_else(|| corrupt("patches"))?;
            *vs.get_mut(idx).ok_or_else(|| corrupt("patches"))? = f64::from_bits(bits);
            next = idx + 1;
        }
    }
    l.ts.decode_all(ts, t0, true)
}

/// Block decoder of a packed body.
#[derive(Clone, Debug)]
pub(crate) struct PackedDecoder<'a> {
    ts: ColumnDecoder<'a>,
    vals: ColumnDecoder<'a>,
    kind: ValueKind,
    n: usize,
    i: usize,
    patches: ByteCursor<'a>,
    patches_left: usize,
    next_patch: usize,
    next_patch_bits: u64,
}

impl<'a> PackedDecoder<'a> {
    /// A decoder of `n` samples whose first timestamp is `t0`.
    pub(crate) fn new(mut l: PackedLayout<'a>, n: usize, t0: i64) -> Result<Self, Error> {
        l.ts.add_offset(t0);
        let mut d = PackedDecoder {
            ts: ColumnDecoder::new(l.ts)?,
            vals: ColumnDecoder::new(l.vals)?,
            kind: l.kind,
            n,
            i: 0,
            patches: ByteCursor::new(l.patches),
            patches_left: l.n_patches,
            next_patch: usize::MAX,
            next_patch_bits: 0,
        };
        d.load_patch(0)?;
        Ok(d)
    }

    fn load_patch(&mut self, from: usize) -> Result<(), Error> {
        if self.patches_left == 0 {
            self.next_patch = usize::MAX;
            return Ok(());
        }
        self.patches_left -= 1;
        let gap = self.patches.uvarint().ok_or_else(|| corrupt("patches"))?;
        self.next_patch_bits = self.patches.u64_le().ok_or_else(|| corrupt("patches"))?;
        self.next_patch = usize::try_from(gap)
            .ok()
            .and_then(|g| from.checked_add(g))
            .ok_or_else(|| corrupt("patches"))?;
        Ok(())
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
        let end = self.i + ts.len();
        while self.next_patch < end {
            vs[self.next_patch - self.i] = f64::from_bits(self.next_patch_bits);
            let from = self.next_patch + 1;
            self.load_patch(from)?;
        }
        self.ts.decode(ts)?;
        self.i = end;
        Ok(())
    }
}

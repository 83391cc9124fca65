//! The `Blocked` encoding: timestamps and values (`IntDelta`'s decimal mantissas with
//! patches, or `FloatDelta`'s raw bit patterns) as two block columns (`block_column.rs`):
//! packed in blocks of 128 samples, each block a frame of reference with its own width,
//! base, exceptions and optional bitmap, each column with an optional common multiplier.
//!
//! Made for long chunks written by compaction: a chunk of a few thousand samples then costs
//! about what its 128-sample pieces would cost as separate chunks, minus their headers and
//! index entries, because a busy hour, a counter reset or a late scrape widens only its own
//! block. Sealing a head chunk (at most 120 samples, one block) keeps using `IntDelta` and
//! `FloatDelta`, which are as small there and cheaper to plan.
//!
//! Body (after the common header):
//!
//! ```text
//! column header   timestamps, as offsets t_i - min_time
//! u8              value kind: 0..=18 decimal scale e (mantissas), 0x80 bit patterns
//! column header   values
//! uvarint         number of patches, then (uvarint index gap, u64 LE raw value bits) each
//! blocks          for each block j = 0 .. ceil(n / 128) - 1:
//!                   timestamp frame j, value frame j
//! ```
//!
//! Frames of one block sit side by side, so a decoder streams through the body once,
//! block by block, with both columns' state in registers and one block of output in the
//! first-level cache; it needs no index of where each column's frames start.
//!
//! Invariants: [`BlockedLayout::validate`] (run by `Chunk::from_bytes` and
//! `Chunk::from_owned`) parses every frame and requires the body to end exactly at the
//! chunk's end; decoders parse each frame again through the same bounds-checked code, so a
//! chunk that was never validated still cannot make them panic or read out of bounds.
//! Lossless for every timestamp sequence and every value bit pattern.

use super::block_column::{
    self, num_blocks, BlockColumn, BlockColumnHead, BlockColumnPlan, BlockColumnWriter, BlockFrame,
    Proof,
};
use super::int_delta::{self, MAX_SCALE, POW10};
use super::packed::{parse_patches, PatchCursor, ValueKind};
use crate::encoding::{put_uvarint, ByteCursor};
use crate::Error;

pub(crate) use block_column::BLOCK_LEN;

/// Value kind byte of raw bit patterns.
const KIND_BITS: u8 = 0x80;

#[cold]
#[inline(never)]
fn corrupt(what: &str) -> Error {
    Error::CorruptChunk(format!("blocked body: {what}"))
}

/// Reusable buffers for planning and encoding.
#[derive(Debug, Default)]
pub(crate) struct BlockScratch {
    ts: Vec<i64>,
    vals: Vec<i64>,
}

/// What a value column holds.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Values<'s> {
    /// Decimal mantissas at a scale, with patches (index, raw bits).
    Decimal(usize, &'s [i64], &'s [(usize, u64)]),
    /// Raw bit patterns.
    Bits(&'s [i64]),
}

/// Plans of both columns for timestamp offsets `us` and the given values, and the size of
/// the body they give.
pub(crate) fn plan(
    us: &[i64],
    vals: Values<'_>,
    s: &mut BlockScratch,
) -> (BlockColumnPlan, BlockColumnPlan, usize) {
    let ts = plan_timestamps(us, s);
    let (v, bytes) = plan_values(vals, s);
    (ts, v, ts.bytes + bytes)
}

/// The plan of a timestamp column alone.
pub(crate) fn plan_timestamps(us: &[i64], s: &mut BlockScratch) -> BlockColumnPlan {
    block_column::plan_timestamps(us, &mut s.ts)
}

/// The plan of a value column alone and the bytes it takes with its kind byte and patches
/// (what [`plan`] adds to the timestamp column's bytes).
pub(crate) fn plan_values(vals: Values<'_>, s: &mut BlockScratch) -> (BlockColumnPlan, usize) {
    let (v, patches) = match vals {
        Values::Decimal(_, ms, patches) => (
            block_column::plan_values(ms, &mut s.vals),
            int_delta::patches_len(patches),
        ),
        Values::Bits(bits) => (block_column::plan_values(bits, &mut s.vals), 1),
    };
    (v, 1 + v.bytes + patches)
}

/// Appends what a Blocked body holds besides its timestamps, in order: the value kind, the
/// value column's header, the patches, then the value frame of every block (the value part
/// of `shared_times`, after its encoding byte).
pub(crate) fn encode_values(
    v_plan: &BlockColumnPlan,
    n: usize,
    vals: Values<'_>,
    s: &mut BlockScratch,
    out: &mut Vec<u8>,
) {
    let mut vw = start_values(v_plan, vals, &mut s.vals, out);
    for _ in 0..num_blocks(n) {
        vw.write_block(out);
    }
}

/// Appends the value kind, the value column's header and the patches; returns the writer of
/// the value frames.
fn start_values<'s>(
    v_plan: &BlockColumnPlan,
    vals: Values<'_>,
    zs: &'s mut Vec<i64>,
    out: &mut Vec<u8>,
) -> BlockColumnWriter<'s> {
    let (kind, ys, patches): (u8, &[i64], &[(usize, u64)]) = match vals {
        Values::Decimal(scale, ms, patches) => (scale as u8, ms, patches),
        Values::Bits(bits) => (KIND_BITS, bits, &[]),
    };
    out.push(kind);
    let vw = BlockColumnWriter::start(v_plan, ys, zs, out);
    put_uvarint(out, patches.len() as u64);
    let mut last = 0;
    for &(i, bits) in patches {
        put_uvarint(out, (i - last) as u64);
        out.extend_from_slice(&bits.to_le_bytes());
        last = i + 1;
    }
    vw
}

/// Appends a Blocked body.
pub(crate) fn encode_body(
    ts_plan: &BlockColumnPlan,
    us: &[i64],
    v_plan: &BlockColumnPlan,
    vals: Values<'_>,
    s: &mut BlockScratch,
    out: &mut Vec<u8>,
) {
    let mut tw = BlockColumnWriter::start(ts_plan, us, &mut s.ts, out);
    let mut vw = start_values(v_plan, vals, &mut s.vals, out);
    for _ in 0..num_blocks(us.len()) {
        tw.write_block(out);
        vw.write_block(out);
    }
}

/// The parsed headers of a Blocked body; the cursor inside is at the first block.
#[derive(Clone, Debug)]
pub(crate) struct BlockedLayout<'a> {
    ts: BlockColumnHead,
    kind: ValueKind,
    vals: BlockColumnHead,
    n_patches: usize,
    patches: &'a [u8],
    blocks: ByteCursor<'a>,
    n: usize,
}

impl<'a> BlockedLayout<'a> {
    /// Parses the headers and patches of the body of a chunk of `n >= 1` samples: the first
    /// `len` bytes of `body` (the rest is padding). The frames are not looked at.
    pub(crate) fn parse(body: &'a [u8], len: usize, n: usize) -> Result<Self, Error> {
        let mut c = ByteCursor::with_end(body, len);
        let ts = BlockColumnHead::parse(&mut c, n)?;
        let kind = match c.u8().ok_or_else(|| corrupt("truncated value kind"))? {
            KIND_BITS => ValueKind::Bits,
            e if usize::from(e) <= MAX_SCALE => ValueKind::Decimal(usize::from(e)),
            _ => return Err(corrupt("unknown value kind")),
        };
        let vals = BlockColumnHead::parse(&mut c, n)?;
        let (n_patches, patches) = parse_patches(&mut c, n)?;
        Ok(BlockedLayout {
            ts,
            kind,
            vals,
            n_patches,
            patches,
            blocks: c,
            n,
        })
    }

    /// Validates the whole body: every frame of both columns, and nothing after the last.
    pub(crate) fn validate(body: &'a [u8], len: usize, n: usize) -> Result<(), Error> {
        let mut l = BlockedLayout::parse(body, len, n)?;
        let (mut t, mut v) = (BlockColumn::new(l.ts, n), BlockColumn::new(l.vals, n));
        for _ in 0..num_blocks(n) {
            t.next_frame(&mut l.blocks)?;
            v.next_frame(&mut l.blocks)?;
        }
        if l.blocks.remaining() != 0 {
            return Err(corrupt("trailing bytes"));
        }
        Ok(())
    }

    /// A block decoder of the samples, whose first timestamp is `t0`.
    pub(crate) fn decoder(mut self, t0: i64) -> Result<BlockedDecoder<'a>, Error> {
        self.ts.add_offset(t0);
        Ok(BlockedDecoder {
            ts: BlockColumn::new(self.ts, self.n),
            vals: BlockColumn::new(self.vals, self.n),
            kind: self.kind,
            patches: PatchCursor::new(self.patches, self.n_patches)?,
            cur: self.blocks,
            n: self.n,
            i: 0,
        })
    }
}

/// Block by block decoder of a Blocked body (one frame of each column per call).
#[derive(Clone, Debug)]
pub(crate) struct BlockedDecoder<'a> {
    ts: BlockColumn,
    vals: BlockColumn,
    kind: ValueKind,
    patches: PatchCursor<'a>,
    cur: ByteCursor<'a>,
    n: usize,
    i: usize,
}

impl BlockedDecoder<'_> {
    /// Decodes the next block into the first `k` entries of `ts` and `vs` (both at least
    /// [`BLOCK_LEN`] long) and returns `k` (0 at the end); with `proof`, adds what the
    /// timestamp layout proves (see `BlockColumn::decode`).
    #[inline(always)]
    pub(crate) fn next_block(
        &mut self,
        ts: &mut [i64],
        vs: &mut [f64],
        proof: Option<&mut Proof>,
    ) -> Result<usize, Error> {
        if self.i >= self.n {
            return Ok(0);
        }
        let ft = self.ts.next_frame(&mut self.cur)?;
        let fv = self.vals.next_frame(&mut self.cur)?;
        // Values first, through `ts` as integer scratch space, then the timestamps.
        let k = ft.len();
        self.values(&fv, ts, &mut vs[..k])?;
        self.ts.decode(&ft, ts, proof)?;
        self.i += k;
        Ok(k)
    }

    /// Like [`Self::next_block`], except that a block whose last timestamp is at or before
    /// `after` has only its timestamps decoded: its values are skipped (see
    /// `BlockColumn::skip`) and `vs` is left as it was. With `values` false no value is
    /// decoded at all, and the value column is not kept in step either (only timestamps
    /// can be read from this decoder from then on). Returns `k` and whether the values
    /// were left out.
    #[inline(always)]
    pub(crate) fn next_block_after(
        &mut self,
        after: i64,
        values: bool,
        ts: &mut [i64],
        vs: &mut [f64],
        proof: Option<&mut Proof>,
    ) -> Result<(usize, bool), Error> {
        if self.i >= self.n {
            return Ok((0, false));
        }
        let ft = self.ts.next_frame(&mut self.cur)?;
        let fv = self.vals.next_frame(&mut self.cur)?;
        let k = ft.len();
        self.ts.decode(&ft, ts, proof)?;
        if !values {
            self.i += k;
            return Ok((k, true));
        }
        let mut scratch = [0i64; BLOCK_LEN];
        let skip = ts.get(k.wrapping_sub(1)).is_some_and(|&last| last <= after);
        if skip {
            self.vals.skip(&fv, &mut scratch)?;
            self.patches.skip_to(self.i + k)?;
        } else {
            let vs = vs
                .get_mut(..k)
                .ok_or_else(|| corrupt("output shorter than the block"))?;
            self.values(&fv, &mut scratch, vs)?;
        }
        self.i += k;
        Ok((k, skip))
    }

    /// Decodes value frame `fv` (of the block starting at sample `self.i`) into `vs` (its
    /// length), patches applied, with `scratch` for the integer entries.
    #[inline(always)]
    fn values(
        &mut self,
        fv: &BlockFrame<'_>,
        scratch: &mut [i64],
        vs: &mut [f64],
    ) -> Result<(), Error> {
        match self.kind {
            ValueKind::Decimal(0) => self.vals.decode_map(fv, scratch, vs, |m| m as f64)?,
            ValueKind::Decimal(scale) => {
                let p = POW10[scale];
                self.vals.decode_map(fv, scratch, vs, |m| m as f64 / p)?
            }
            ValueKind::Bits => self
                .vals
                .decode_map(fv, scratch, vs, |m| f64::from_bits(m as u64))?,
        }
        self.patches.apply(self.i, vs)
    }

    /// Decodes the next block (at most `ts.len()` samples, which must be at least
    /// [`BLOCK_LEN`] unless fewer remain); see `XorDecoder::decode_into`.
    pub(crate) fn decode_into(&mut self, ts: &mut [i64], vs: &mut [f64]) -> (usize, Option<Error>) {
        match self.next_block(ts, vs, None) {
            Ok(k) => (k, None),
            Err(e) => {
                self.i = self.n;
                (0, Some(e))
            }
        }
    }
}

/// Decodes a whole Blocked body of `n` samples whose first timestamp is `t0` into `ts` and
/// `vs` (both at least `n` long), block by block, so that the working set stays in the
/// first-level cache.
///
/// Returns true if the timestamp layout proves them strictly increasing without wrapping,
/// given that the caller checks the first against `min_time` and the last against
/// `max_time` (then no per-sample check is needed); false proves nothing.
pub(crate) fn decode_all(
    body: &[u8],
    len: usize,
    n: usize,
    t0: i64,
    ts: &mut [i64],
    vs: &mut [f64],
) -> Result<bool, Error> {
    let mut d = BlockedLayout::parse(body, len, n)?.decoder(t0)?;
    let (Some(ts), Some(vs)) = (ts.get_mut(..n), vs.get_mut(..n)) else {
        return Err(corrupt("output shorter than the sample count"));
    };
    let mut proof = Proof::default();
    let mut at = 0;
    while at < n {
        let k = d.next_block(&mut ts[at..], &mut vs[at..], Some(&mut proof))?;
        if k == 0 {
            return Err(corrupt("fewer samples than the header says"));
        }
        // Blocks join in increasing order (the layout proof covers each block alone).
        if at > 0 && ts[at] <= ts[at - 1] {
            proof.ok = false;
        }
        at += k;
    }
    Ok(proof.holds())
}

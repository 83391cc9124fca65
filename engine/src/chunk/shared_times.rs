//! Timestamps shared between chunks: a packed chunk cut into the bytes that depend only on
//! its timestamps and the bytes of its values, and joined back.
//!
//! Every series of one scrape target gets its samples at the same timestamps, so in a block
//! their chunks over the same time range carry byte-identical timestamp columns: about a
//! third of a compacted chunk's bytes on the canary fleet. A block's chunk segment stores
//! such a chunk as its value part plus a reference to a record holding the timestamps
//! (`block/chunks.rs`; drawn in `docs/format/block.md`), and readers join the two into an
//! ordinary chunk before anything decodes it. The chunk format itself does not change.
//!
//! ```text
//! times:   u8 layout (0: Column, IntDelta and FloatDelta; 1: Blocked)
//!          uvarint n | zvarint min_time | uvarint span        (the header after its first byte)
//!          Column:  the timestamp column
//!          Blocked: the timestamp column header, then the timestamp frame of every block
//! values:  u8 encoding (2 IntDelta, 3 FloatDelta with layout 0; 4 Blocked with layout 1)
//!          Column:  the body after the timestamp column
//!          Blocked: value kind, value column header, patches, then the value frame of every
//!                   block
//! ```
//!
//! Invariants: [`join`] only copies byte ranges that the same bounds-checked parsers as
//! the decoders delimit, requires both parts to end exactly where their last piece ends,
//! and hands back bytes that [`super::Chunk::from_bytes`] still validates in full; so
//! `join(split(c))` is `c` bit for bit, and arbitrary bytes give an error, never a panic.

use super::block_column::{num_blocks, BlockColumn, BlockColumnHead};
use super::column::ColumnLayout;
use super::int_delta::MAX_SCALE;
use super::packed::parse_patches;
use super::{header, Chunk, Encoding, PAD};
use crate::encoding::ByteCursor;
use crate::Error;

const LAYOUT_COLUMN: u8 = 0;
const LAYOUT_BLOCKED: u8 = 1;
/// Blocked's value kind byte of raw bit patterns (the other kinds are decimal scales).
const KIND_BITS: u8 = 0x80;

#[cold]
#[inline(never)]
fn corrupt(what: &str) -> Error {
    Error::CorruptChunk(format!("shared timestamps: {what}"))
}

/// A packed chunk's bytes cut in two (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimesSplit {
    /// The header fields and the timestamp bytes: equal for two chunks exactly when their
    /// timestamps are encoded alike.
    pub times: Vec<u8>,
    /// The encoding byte and every byte that is not in `times`.
    pub values: Vec<u8>,
}

/// Cuts the encoded chunk `bytes` (validated, as `Chunk::as_bytes` gives them) in two;
/// `None` for encodings without a separable timestamp column (Xor) and empty chunks.
pub fn split(bytes: &[u8]) -> Option<TimesSplit> {
    let mut values = Vec::with_capacity(bytes.len());
    let times = cut(bytes, Some(&mut values))?;
    Some(TimesSplit { times, values })
}

/// The timestamp part of [`split`] alone.
pub fn times_of(bytes: &[u8]) -> Option<Vec<u8>> {
    cut(bytes, None)
}

/// The timestamp part of `bytes`, and the value part appended to `values` if given.
fn cut(bytes: &[u8], mut values: Option<&mut Vec<u8>>) -> Option<Vec<u8>> {
    let h = header::parse(bytes).ok()?;
    if h.n == 0 {
        return None;
    }
    let body = &bytes[h.body..];
    let mut c = ByteCursor::new(body);
    let layout = match h.enc {
        Encoding::IntDelta | Encoding::FloatDelta => LAYOUT_COLUMN,
        Encoding::Blocked => LAYOUT_BLOCKED,
        _ => return None,
    };
    let mut put = |v: &[u8]| {
        if let Some(out) = values.as_deref_mut() {
            out.extend_from_slice(v);
        }
    };
    let mut times = Vec::with_capacity(bytes.len() / 2);
    times.push(layout);
    times.extend_from_slice(&bytes[1..h.body]);
    put(&[h.enc as u8]);
    if layout == LAYOUT_COLUMN {
        ColumnLayout::parse(&mut c, h.n).ok()?;
        times.extend_from_slice(&body[..c.pos()]);
        put(&body[c.pos()..]);
        return Some(times);
    }
    let th = BlockColumnHead::parse(&mut c, h.n).ok()?;
    times.extend_from_slice(&body[..c.pos()]);
    let at = c.pos();
    let vh = value_headers(&mut c, h.n).ok()?;
    put(&body[at..c.pos()]);
    let (mut t, mut v) = (BlockColumn::new(th, h.n), BlockColumn::new(vh, h.n));
    for _ in 0..num_blocks(h.n) {
        let at = c.pos();
        t.next_frame(&mut c).ok()?;
        times.extend_from_slice(&body[at..c.pos()]);
        let at = c.pos();
        v.next_frame(&mut c).ok()?;
        put(&body[at..c.pos()]);
    }
    c.is_empty().then_some(times)
}

/// Parses (and validates) a Blocked body's value kind, value column header and patches at
/// the cursor.
fn value_headers(c: &mut ByteCursor<'_>, n: usize) -> Result<BlockColumnHead, Error> {
    let kind = c.u8().ok_or_else(|| corrupt("truncated value kind"))?;
    if kind != KIND_BITS && usize::from(kind) > MAX_SCALE {
        return Err(corrupt("unknown value kind"));
    }
    let vh = BlockColumnHead::parse(c, n)?;
    parse_patches(c, n)?;
    Ok(vh)
}

/// The chunk whose [`split`] gives `times` and `values`, validated as
/// [`Chunk::from_bytes`] validates (a Blocked body is validated by the same frame parser
/// that delimits its pieces here, so it is parsed once).
pub fn join(times: &[u8], values: &[u8]) -> Result<Chunk, Error> {
    let mut tc = ByteCursor::new(times);
    let mut vc = ByteCursor::new(values);
    let layout = tc.u8().ok_or_else(|| corrupt("empty timestamp part"))?;
    let enc = vc.u8().ok_or_else(|| corrupt("empty value part"))?;
    let n = tc
        .uvarint()
        .ok_or_else(|| corrupt("truncated sample count"))?;
    if n == 0 || n > super::MAX_SAMPLES_HARD as u64 {
        return Err(corrupt("bad sample count"));
    }
    let n = n as usize;
    tc.zvarint().ok_or_else(|| corrupt("truncated min time"))?;
    tc.uvarint().ok_or_else(|| corrupt("truncated span"))?;
    let mut out = Vec::with_capacity(times.len() + values.len() + PAD);
    out.push(enc);
    out.extend_from_slice(&times[1..tc.pos()]);
    let body_t = tc.pos();
    match (layout, Encoding::from_u8(enc)) {
        (LAYOUT_COLUMN, Some(Encoding::IntDelta | Encoding::FloatDelta)) => {
            ColumnLayout::parse(&mut tc, n)?;
            if !tc.is_empty() {
                return Err(corrupt("bytes after the timestamp column"));
            }
            out.extend_from_slice(&times[body_t..]);
            out.extend_from_slice(&values[1..]);
            // The value column and patches were not parsed here.
            return Chunk::from_bytes(out);
        }
        (LAYOUT_BLOCKED, Some(Encoding::Blocked)) => {
            let th = BlockColumnHead::parse(&mut tc, n)?;
            out.extend_from_slice(&times[body_t..tc.pos()]);
            let at = vc.pos();
            let vh = value_headers(&mut vc, n)?;
            out.extend_from_slice(&values[at..vc.pos()]);
            let (mut t, mut v) = (BlockColumn::new(th, n), BlockColumn::new(vh, n));
            for _ in 0..num_blocks(n) {
                let at = tc.pos();
                t.next_frame(&mut tc)?;
                out.extend_from_slice(&times[at..tc.pos()]);
                let at = vc.pos();
                v.next_frame(&mut vc)?;
                out.extend_from_slice(&values[at..vc.pos()]);
            }
            if !tc.is_empty() || !vc.is_empty() {
                return Err(corrupt("bytes after the last block"));
            }
        }
        _ => return Err(corrupt("value encoding does not fit the timestamp layout")),
    }
    // Headers, patches and every frame of both columns were validated above, and the body
    // ends exactly after the last frame: what `BlockedLayout::validate` checks.
    let h = header::parse(&out)?;
    Ok(Chunk::from_trusted(out, h))
}

/// Samples encoded in the layout of timestamp part `times` (its first byte): a Column part
/// takes IntDelta, or FloatDelta for values that are not short decimals; a Blocked part
/// takes Blocked. Over the timestamps the part holds, the chunk's timestamp part is `times`.
pub fn encode_like(times: &[u8], ts: &[i64], vs: &[f64]) -> Option<Chunk> {
    match *times.first()? {
        LAYOUT_COLUMN => Chunk::encode_as(Encoding::IntDelta, ts, vs)
            .or_else(|_| Chunk::encode_as(Encoding::FloatDelta, ts, vs))
            .ok(),
        LAYOUT_BLOCKED => Chunk::encode_as(Encoding::Blocked, ts, vs).ok(),
        _ => None,
    }
}

/// The value part of [`encode_like`]`(times, ts, vs)` (its [`split`]), if its timestamp part
/// is `times`. A Blocked value part does not depend on the timestamps, so it is encoded alone
/// (the timestamp column, the costliest part to plan, is neither planned nor written).
pub fn value_part(times: &[u8], ts: &[i64], vs: &[f64]) -> Option<Vec<u8>> {
    if ts.len() != vs.len() || ts.is_empty() {
        return None;
    }
    if times.first() == Some(&LAYOUT_BLOCKED) {
        let n = ByteCursor::new(&times[1..]).uvarint()?;
        if n != vs.len() as u64 {
            return None;
        }
        return Some(super::builder::with_scratch(|sc| {
            super::packed::blocked_value_part(vs, &mut sc.s)
        }));
    }
    let chunk = encode_like(times, ts, vs)?;
    let split = split(chunk.as_bytes())?;
    (*split.times == *times).then_some(split.values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::Chunk;
    use proptest::prelude::*;

    fn samples() -> impl Strategy<Value = (Vec<i64>, Vec<f64>)> {
        (1usize..700, 0u8..3).prop_flat_map(|(n, kind)| {
            (
                proptest::collection::vec(1i64..40_000, n),
                proptest::collection::vec(
                    match kind {
                        0 => (0i64..1000).prop_map(|x| x as f64).boxed(),
                        1 => (0i64..100_000).prop_map(|x| x as f64 / 100.0).boxed(),
                        _ => any::<f64>().boxed(),
                    },
                    n,
                ),
            )
                .prop_map(|(gaps, vs)| {
                    let mut t = 1_700_000_000_000i64;
                    let ts = gaps
                        .iter()
                        .map(|g| {
                            t += g;
                            t
                        })
                        .collect();
                    (ts, vs)
                })
        })
    }

    proptest! {
        /// Split and join give the chunk back bit for bit, with every encoding that has a
        /// timestamp column; two chunks with the same timestamps and encoding have equal
        /// timestamp parts, so either one's values join with the other's times.
        #[test]
        fn split_join_round_trips((ts, vs) in samples(), (_, other) in samples()) {
            let other: Vec<f64> = other.iter().cycle().take(ts.len()).copied().collect();
            for enc in [Encoding::IntDelta, Encoding::FloatDelta, Encoding::Blocked] {
                let (Ok(a), Ok(b)) = (Chunk::encode_as(enc, &ts, &vs), Chunk::encode_as(enc, &ts, &other)) else {
                    continue;
                };
                let (sa, sb) = (split(a.as_bytes()).unwrap(), split(b.as_bytes()).unwrap());
                let joined = join(&sa.times, &sa.values).unwrap();
                prop_assert_eq!(joined.as_bytes(), a.as_bytes());
                prop_assert_eq!(times_of(a.as_bytes()).unwrap(), sa.times.clone());
                // The timestamp part depends on the timestamps alone.
                prop_assert_eq!(&sa.times, &sb.times);
                let joined = join(&sa.times, &sb.values).unwrap();
                prop_assert_eq!(joined.as_bytes(), b.as_bytes());
            }
            if let Ok(x) = Chunk::encode_as(Encoding::Xor, &ts, &vs) {
                prop_assert!(split(x.as_bytes()).is_none());
            }
            // The value part encoded alone is the value part of the whole chunk.
            for enc in [Encoding::IntDelta, Encoding::Blocked] {
                let Ok(c) = Chunk::encode_as(enc, &ts, &vs) else { continue };
                let s = split(c.as_bytes()).unwrap();
                let like = encode_like(&s.times, &ts, &vs).unwrap();
                prop_assert_eq!(&split(like.as_bytes()).unwrap().times, &s.times);
                let alone = value_part(&s.times, &ts, &vs).unwrap();
                prop_assert_eq!(&alone, &split(like.as_bytes()).unwrap().values);
                let joined = join(&s.times, &alone).unwrap();
                prop_assert_eq!(joined.as_bytes(), like.as_bytes());
            }
        }

        /// Arbitrary bytes never make `join` panic, and what it accepts is a chunk that
        /// `Chunk::from_bytes` accepts too and that splits back into the same parts.
        #[test]
        fn join_arbitrary_bytes(times in proptest::collection::vec(any::<u8>(), 0..80), values in proptest::collection::vec(any::<u8>(), 0..80)) {
            if let Ok(c) = join(&times, &values) {
                prop_assert!(Chunk::from_bytes(c.as_bytes().to_vec()).is_ok());
                let s = split(c.as_bytes()).unwrap();
                prop_assert_eq!((s.times, s.values), (times, values));
            }
        }
    }

    #[test]
    fn mismatched_layouts_are_errors() {
        let ts: Vec<i64> = (0..300).map(|i| i * 15_000).collect();
        let vs: Vec<f64> = (0..300).map(|i| i as f64).collect();
        let col = split(
            Chunk::encode_as(Encoding::IntDelta, &ts, &vs)
                .unwrap()
                .as_bytes(),
        )
        .unwrap();
        let blk = split(
            Chunk::encode_as(Encoding::Blocked, &ts, &vs)
                .unwrap()
                .as_bytes(),
        )
        .unwrap();
        assert!(join(&col.times, &blk.values).is_err());
        assert!(join(&blk.times, &col.values).is_err());
        assert!(join(&blk.times, &blk.values[..blk.values.len() - 1]).is_err());
        assert!(join(&[], &blk.values).is_err());
    }
}

//! The header common to every chunk encoding.
//!
//! ```text
//! u8       encoding (1 = Xor, 2 = IntDelta, 3 = FloatDelta)
//! uvarint  n, the number of samples (0 ..= MAX_SAMPLES_HARD)
//! zvarint  min_time (absent when n = 0)
//! uvarint  max_time - min_time, wrapping difference (absent when n = 0)
//! ```
//!
//! Invariants checked by [`parse`]: known encoding byte, `n <= MAX_SAMPLES_HARD`, a zero span
//! when `n = 1`, a span of at least `n - 1` ms when `n >= 2` (timestamps strictly increase),
//! and `min_time + span` representable as `i64`.

use super::{Encoding, MAX_SAMPLES_HARD};
use crate::encoding::{put_uvarint, put_zvarint, ByteCursor};
use crate::Error;

/// A parsed header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub enc: Encoding,
    pub n: usize,
    pub min_t: i64,
    pub max_t: i64,
    /// Offset of the encoding-specific body.
    pub body: usize,
}

/// Appends a header.
pub(crate) fn write(out: &mut Vec<u8>, enc: Encoding, n: usize, min_t: i64, max_t: i64) {
    out.push(enc as u8);
    put_uvarint(out, n as u64);
    if n > 0 {
        put_zvarint(out, min_t);
        put_uvarint(out, max_t.wrapping_sub(min_t) as u64);
    }
}

fn corrupt(what: &str) -> Error {
    Error::CorruptChunk(format!("header: {what}"))
}

/// Parses and validates the header at the start of `bytes`.
pub(crate) fn parse(bytes: &[u8]) -> Result<Header, Error> {
    let mut c = ByteCursor::new(bytes);
    let e = c.u8().ok_or_else(|| corrupt("empty"))?;
    let enc = Encoding::from_u8(e).ok_or_else(|| corrupt(&format!("unknown encoding {e}")))?;
    let n = c
        .uvarint()
        .ok_or_else(|| corrupt("truncated sample count"))?;
    if n > MAX_SAMPLES_HARD as u64 {
        return Err(corrupt(&format!("{n} samples exceed the limit")));
    }
    let n = n as usize;
    let (min_t, max_t) = if n == 0 {
        (0, 0)
    } else {
        let min_t = c.zvarint().ok_or_else(|| corrupt("truncated min time"))?;
        let span = c.uvarint().ok_or_else(|| corrupt("truncated span"))?;
        let max_t = i64::try_from(i128::from(min_t) + i128::from(span))
            .map_err(|_| corrupt("max time overflows"))?;
        if (n == 1 && span != 0) || span < n as u64 - 1 {
            return Err(corrupt("span does not fit the sample count"));
        }
        (min_t, max_t)
    };
    Ok(Header {
        enc,
        n,
        min_t,
        max_t,
        body: c.pos(),
    })
}

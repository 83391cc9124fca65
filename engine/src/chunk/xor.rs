//! The Gorilla XOR codec (Pelkonen et al., VLDB 2015), used for the open head chunk (it can
//! be appended one sample at a time) and as the sealed encoding of last resort.
//!
//! Body layout (after the common header, see `docs/format/chunks.md`), LSB-first bits:
//!
//! - sample 0: its value as 64 raw bits (its timestamp is the header's `min_time`);
//! - sample i >= 1: a timestamp code for `dod = delta_i - delta_{i-1}` (with `delta_0 = 0`,
//!   so the first code carries the first delta), then a value code for `x = bits_i ^
//!   bits_{i-1}`.
//!
//! Timestamp codes (unary prefix of up to four one bits, then a two's complement payload):
//! `0` dod = 0; `10` + 6 bits; `110` + 14 bits; `1110` + 20 bits; `1111` + 64 bits.
//! Value codes: `0` x = 0; `10` + the meaningful bits of x inside the previous window;
//! `11` + 5 bits leading zeros + 6 bits meaningful length (0 means 64) + the meaningful bits.
//!
//! Invariants: all timestamp arithmetic wraps (any `i64` input encodes); the decoder checks
//! that timestamps strictly increase, that a window exists before it is reused and that a new
//! window fits in 64 bits, and stops with an error at the first violation or at the end of
//! the bytes. The appender holds no state that is not derivable from the stream.

use super::bitstream::{mask, peek_bits, sign_extend, window, BitReader, BitWriter};
use crate::Error;

/// Payload widths of the timestamp dod buckets, indexed by the number of prefix one bits.
const DOD_WIDTHS: [u32; 5] = [0, 6, 14, 20, 64];

/// Streaming encoder of the XOR body.
#[derive(Clone, Debug)]
pub(crate) struct XorAppender {
    w: BitWriter,
    t: i64,
    delta: i64,
    v: u64,
    /// Samples appended (narrow: every open head chunk holds one appender).
    n: u32,
    /// Current value window (leading, trailing zeros); `lead == APPENDER_NO_WINDOW` before
    /// the first.
    lead: u8,
    trail: u8,
}

const NO_WINDOW: u32 = u32::MAX;
const APPENDER_NO_WINDOW: u8 = u8::MAX;

impl Default for XorAppender {
    fn default() -> Self {
        XorAppender::new()
    }
}

impl XorAppender {
    /// An empty appender (no window yet: the first non-zero XOR opens one).
    pub(crate) fn new() -> Self {
        XorAppender {
            w: BitWriter::with_capacity(32),
            n: 0,
            t: 0,
            delta: 0,
            v: 0,
            lead: APPENDER_NO_WINDOW,
            trail: 0,
        }
    }

    /// Number of samples appended.
    pub(crate) fn len(&self) -> usize {
        self.n as usize
    }

    /// Timestamp of the last sample (meaningless when empty).
    #[inline]
    pub(crate) fn last_t(&self) -> i64 {
        self.t
    }

    /// Value of the last sample (meaningless when empty).
    #[inline]
    pub(crate) fn last_v(&self) -> f64 {
        f64::from_bits(self.v)
    }

    /// The bit writer holding the body.
    pub(crate) fn writer(&self) -> &BitWriter {
        &self.w
    }

    /// Appends a sample (the caller checks that `t` is greater than the previous one).
    ///
    /// The timestamp code and the value code's control bits (at most 24 + 13 bits) go out
    /// in one write, the value's meaningful bits in a second: two writes per sample.
    #[inline]
    pub(crate) fn push(&mut self, t: i64, v: f64) {
        let bits = v.to_bits();
        if self.n == 0 {
            self.w.write(bits, 64);
            self.t = t;
            self.v = bits;
            self.n = 1;
            return;
        }
        let delta = t.wrapping_sub(self.t);
        let dod = delta.wrapping_sub(self.delta);
        self.delta = delta;
        let (code, len) = match dod_code(dod) {
            Some(c) => c,
            None => {
                self.w.write(0b1111, 4);
                self.w.write(dod as u64, 64);
                (0, 0)
            }
        };
        let x = bits ^ self.v;
        self.t = t;
        self.v = bits;
        self.n += 1;
        if x == 0 {
            self.w.write(code, len + 1);
            return;
        }
        let lz = x.leading_zeros();
        let tz = x.trailing_zeros();
        let (lead, trail) = (u32::from(self.lead), u32::from(self.trail));
        if self.lead != APPENDER_NO_WINDOW && lz >= lead && tz >= trail {
            // "10": the first bit read is 1.
            let sig = 64 - lead - trail;
            self.w.write(code | (1 << len), len + 2);
            self.w.write(x >> trail, sig);
            return;
        }
        let lz = lz.min(31);
        let sig = 64 - lz - tz;
        // Both at most 64 (x is not zero here).
        self.lead = lz as u8;
        self.trail = tz as u8;
        // "11", 5 bits leading zeros, 6 bits length (64 stored as 0).
        let hdr = 0b11 | (u64::from(lz) << 2) | (u64::from(sig & 63) << 7);
        self.w.write(code | (hdr << len), len + 13);
        self.w.write(x >> tz, sig);
    }
}

/// The timestamp code of `dod` as (bits, length), `None` for the 64-bit bucket: `k` one bits,
/// a zero, then the payload of the smallest bucket that holds it.
#[inline(always)]
fn dod_code(dod: i64) -> Option<(u64, u32)> {
    let payload = |k: u32, w: u32| -> (u64, u32) {
        (
            ((1u64 << k) - 1) | (((dod as u64) & mask(w)) << (k + 1)),
            k + 1 + w,
        )
    };
    if dod == 0 {
        Some((0, 1))
    } else if (-32..32).contains(&dod) {
        Some(payload(1, 6))
    } else if (-8192..8192).contains(&dod) {
        Some(payload(2, 14))
    } else if (-524_288..524_288).contains(&dod) {
        Some(payload(3, 20))
    } else {
        None
    }
}

/// Decoder of an XOR body.
#[derive(Clone, Debug)]
pub(crate) struct XorDecoder<'a> {
    r: BitReader<'a>,
    n: usize,
    i: usize,
    t: i64,
    delta: i64,
    v: u64,
    lead: u32,
    trail: u32,
}

impl<'a> XorDecoder<'a> {
    /// A decoder of `n` samples starting at `t0`.
    pub(crate) fn new(body: &'a [u8], n: usize, t0: i64) -> Self {
        XorDecoder {
            r: BitReader::new(body),
            n,
            i: 0,
            t: t0,
            delta: 0,
            v: 0,
            lead: NO_WINDOW,
            trail: 0,
        }
    }

    /// Samples not yet decoded.
    pub(crate) fn remaining(&self) -> usize {
        self.n - self.i
    }

    fn corrupt(&self, what: &str) -> Error {
        Error::CorruptChunk(format!("xor: {what} at sample {}", self.i))
    }

    /// Decodes the next sample.
    #[inline(always)]
    fn next_sample(&mut self) -> Result<(i64, u64), Error> {
        if self.i == 0 {
            self.v = self
                .r
                .read_wide(64)
                .ok_or_else(|| self.corrupt("truncated"))?;
            self.i = 1;
            return Ok((self.t, self.v));
        }
        let k = self
            .r
            .read_unary(4)
            .ok_or_else(|| self.corrupt("truncated"))?;
        if k > 0 {
            let w = DOD_WIDTHS[k as usize];
            let raw = self
                .r
                .read_wide(w)
                .ok_or_else(|| self.corrupt("truncated"))?;
            self.delta = self.delta.wrapping_add(sign_extend(raw, w));
        }
        let t = self.t.wrapping_add(self.delta);
        if t <= self.t {
            return Err(self.corrupt("timestamp not increasing"));
        }
        self.t = t;
        match self
            .r
            .read_unary(2)
            .ok_or_else(|| self.corrupt("truncated"))?
        {
            0 => {}
            1 => {
                if self.lead == NO_WINDOW {
                    return Err(self.corrupt("window reused before defined"));
                }
                let sig = 64 - self.lead - self.trail;
                let x = self
                    .r
                    .read_wide(sig)
                    .ok_or_else(|| self.corrupt("truncated"))?;
                self.v ^= x << self.trail;
            }
            _ => {
                let hdr = self.r.read(11).ok_or_else(|| self.corrupt("truncated"))?;
                let lz = (hdr & 31) as u32;
                let mut sig = (hdr >> 5) as u32;
                if sig == 0 {
                    sig = 64;
                }
                if lz + sig > 64 {
                    return Err(self.corrupt("value window wider than 64 bits"));
                }
                self.lead = lz;
                self.trail = 64 - lz - sig;
                let x = self
                    .r
                    .read_wide(sig)
                    .ok_or_else(|| self.corrupt("truncated"))?;
                self.v ^= x << self.trail;
            }
        }
        self.i += 1;
        Ok((self.t, self.v))
    }

    /// Decodes up to `ts.len()` samples (`ts` and `vs` have equal lengths). Returns how many
    /// were decoded and, if decoding stopped on corrupt bytes, the error.
    pub(crate) fn decode_into(&mut self, ts: &mut [i64], vs: &mut [f64]) -> (usize, Option<Error>) {
        let want = ts.len().min(vs.len()).min(self.remaining());
        for k in 0..want {
            match self.next_sample() {
                Ok((t, v)) => {
                    ts[k] = t;
                    vs[k] = f64::from_bits(v);
                }
                Err(e) => {
                    self.i = self.n;
                    return (k, Some(e));
                }
            }
        }
        (want, None)
    }
}

/// A decoder's state after one sample: its timestamp and value, what the next sample's codes
/// are relative to, and where they start. With the bytes from `pos` on it decodes the samples
/// after it (the open head chunk keeps one as a reader's mark, see `ChunkBuilder::tail_into`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct XorState {
    /// Bit position of the next sample's codes.
    pub pos: u64,
    pub t: i64,
    /// The last timestamp delta (0 after sample 0).
    pub delta: i64,
    /// Bits of the value.
    pub v: u64,
    /// The value window (leading and trailing zeros); `lead == NO_WINDOW` before the first.
    pub lead: u32,
    pub trail: u32,
}

impl XorState {
    /// The state after sample 0 of a body whose timestamp is `t0`.
    pub(crate) fn first(body: &[u8], t0: i64) -> XorState {
        XorState {
            pos: 64,
            t: t0,
            delta: 0,
            v: peek_bits(body, 0, 64),
            lead: NO_WINDOW,
            trail: 0,
        }
    }

    /// Decodes the next sample into the state. Each code is decoded from one 64-bit window at
    /// the current bit position (see `bitstream::peek_bits`), with no end check: bits past
    /// the end of `body` read as zero, so the caller compares `pos` with the body's length.
    /// False at an invalid code (the state is then meaningless).
    #[inline(always)]
    pub(crate) fn step(&mut self, body: &[u8]) -> bool {
        step(
            body,
            &mut self.pos,
            &mut self.t,
            &mut self.delta,
            &mut self.v,
            &mut self.lead,
            &mut self.trail,
        )
    }
}

/// [`XorState::step`] on the state's fields (so that loops can keep them in locals).
#[inline(always)]
fn step(
    body: &[u8],
    pos: &mut u64,
    t: &mut i64,
    delta: &mut i64,
    v: &mut u64,
    lead: &mut u32,
    trail: &mut u32,
) -> bool {
    // One window per sample: bits pos .. pos + avail are valid (avail >= 57), and a
    // jittered timestamp code plus a value code of a slowly changing series fit in it.
    let (mut word, mut avail) = window(body, *pos);
    let mut used;
    if word & 1 == 0 {
        used = 1;
    } else {
        let k = (!word).trailing_zeros().min(4);
        if k < 4 {
            // DOD_WIDTHS[k] by shifting a constant: no dependent table load.
            let w = (0x14_0e_06_00u32 >> (8 * k)) & 0xff;
            *delta = delta.wrapping_add(sign_extend((word >> (k + 1)) & mask(w), w));
            used = k + 1 + w;
        } else {
            *delta = delta.wrapping_add(peek_bits(body, *pos + 4, 64) as i64);
            *pos += 68;
            (word, avail) = window(body, *pos);
            used = 0;
        }
    }
    let next = t.wrapping_add(*delta);
    if next <= *t {
        return false;
    }
    *t = next;
    // used <= 24 < avail, so the shift is in range.
    let vw = word >> used;
    let avail = avail - used;
    if vw & 1 != 0 {
        let (skip, sig) = if vw & 2 == 0 {
            if *lead == NO_WINDOW {
                return false;
            }
            (2, 64 - *lead - *trail)
        } else {
            let hdr = (vw >> 2) & 0x7ff;
            let lz = (hdr & 31) as u32;
            let sig = match (hdr >> 5) as u32 {
                0 => 64,
                s => s,
            };
            if lz + sig > 64 {
                return false;
            }
            *lead = lz;
            *trail = 64 - lz - sig;
            (13, sig)
        };
        let x = if skip + sig <= avail {
            (vw >> skip) & mask(sig)
        } else {
            peek_bits(body, *pos + u64::from(used + skip), sig)
        };
        *v ^= x << *trail;
        used += skip + sig;
    } else {
        used += 1;
    }
    *pos += u64::from(used);
    true
}

/// Decodes a whole XOR body of `n` samples starting at `t0` into `ts[..n]` and `vs[..n]` in
/// one tight loop. `body` may run on into zero padding; `len` is the body's real length in
/// bytes. There are no per-field end checks (see [`XorState::step`]): instead the loop stops
/// at the first invalid code and the bits consumed are compared with `len`. False if
/// anything is wrong (corrupt or truncated); the caller then decodes with [`XorDecoder`],
/// which finds the exact sample and error.
pub(crate) fn decode_all_fast(
    body: &[u8],
    len: usize,
    n: usize,
    t0: i64,
    ts: &mut [i64],
    vs: &mut [f64],
) -> bool {
    let (Some(ts), Some(vs)) = (ts.get_mut(..n), vs.get_mut(..n)) else {
        return false;
    };
    let (Some(t_first), Some(v_first)) = (ts.first_mut(), vs.first_mut()) else {
        return true;
    };
    if len < 8 {
        return false;
    }
    let mut st = XorState::first(body, t0);
    *t_first = t0;
    *v_first = f64::from_bits(st.v);
    decode_fast_from(body, len, &mut st, &mut ts[1..], &mut vs[1..])
}

/// Decodes the `ts.len()` samples after the one `st` stands at into `ts` and `vs` (as long
/// as each other), leaving `st` at the last. `body` and `len` as for [`decode_all_fast`];
/// false if anything is wrong.
#[inline]
pub(crate) fn decode_fast_from(
    body: &[u8],
    len: usize,
    st: &mut XorState,
    ts: &mut [i64],
    vs: &mut [f64],
) -> bool {
    let end = len as u64 * 8;
    // Locals, so that the loop keeps the state in registers.
    let XorState {
        mut pos,
        mut t,
        mut delta,
        mut v,
        mut lead,
        mut trail,
    } = *st;
    for (ot, ov) in ts.iter_mut().zip(vs.iter_mut()) {
        if !step(
            body, &mut pos, &mut t, &mut delta, &mut v, &mut lead, &mut trail,
        ) {
            return false;
        }
        *ot = t;
        *ov = f64::from_bits(v);
        if pos > end {
            return false;
        }
    }
    *st = XorState {
        pos,
        t,
        delta,
        v,
        lead,
        trail,
    };
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The fast whole-body decoder agrees with the streaming one on any bytes: both succeed
    /// with the same samples, or both fail.
    fn fast_matches_slow(body: &[u8], n: usize, t0: i64) -> Result<(), TestCaseError> {
        let mut padded = body.to_vec();
        padded.extend_from_slice(&[0u8; 16]);
        let (mut fts, mut fvs) = (vec![0i64; n], vec![0f64; n]);
        let fast = decode_all_fast(&padded, body.len(), n, t0, &mut fts, &mut fvs);
        let (mut sts, mut svs) = (vec![0i64; n], vec![0f64; n]);
        let (k, err) = XorDecoder::new(body, n, t0).decode_into(&mut sts, &mut svs);
        prop_assert_eq!(fast, k == n && err.is_none(), "n {} k {} {:?}", n, k, err);
        if fast {
            prop_assert_eq!(&fts, &sts);
            let fb: Vec<u64> = fvs.iter().map(|v| v.to_bits()).collect();
            let sb: Vec<u64> = svs.iter().map(|v| v.to_bits()).collect();
            prop_assert_eq!(fb, sb);
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn fast_decoder_matches_on_arbitrary_bytes(
            body in proptest::collection::vec(any::<u8>(), 0..80),
            n in 0usize..40,
            t0 in any::<i64>(),
        ) {
            fast_matches_slow(&body, n, t0)?;
        }

        #[test]
        fn fast_decoder_matches_on_real_streams(
            gaps in proptest::collection::vec(
                prop_oneof![1i64..5, 14_990i64..15_010, 1i64..1 << 40],
                0..150,
            ),
            vals in proptest::collection::vec(
                prop_oneof![any::<u64>(), 0u64..4, Just(0x4059_0000_0000_0000u64)],
                150,
            ),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut a = XorAppender::new();
            let mut t = -7i64;
            a.push(t, f64::from_bits(vals[0]));
            for (g, &v) in gaps.iter().zip(&vals[1..]) {
                t += g;
                a.push(t, f64::from_bits(v));
            }
            let n = a.len();
            let body = a.writer().clone().finish();
            fast_matches_slow(&body, n, -7)?;
            // Truncated bodies and bigger claimed counts fail the same way.
            fast_matches_slow(&body[..cut.index(body.len() + 1)], n, -7)?;
            fast_matches_slow(&body, n + 1, -7)?;
        }
    }

    #[test]
    fn extreme_deltas_and_windows() {
        let ts = [i64::MIN, i64::MIN + 1, -5, 0, 7, i64::MAX - 1, i64::MAX];
        let vs = [
            f64::from_bits(0x7ff0_0000_0000_0002),
            -0.0,
            f64::NAN,
            f64::INFINITY,
            f64::MIN_POSITIVE / 2.0,
            1.0,
            f64::from_bits(u64::MAX),
        ];
        let mut a = XorAppender::new();
        for (&t, &v) in ts.iter().zip(&vs) {
            a.push(t, v);
        }
        let bytes = a.writer().clone().finish();
        let mut d = XorDecoder::new(&bytes, ts.len(), ts[0]);
        let mut ots = [0i64; 7];
        let mut ovs = [0f64; 7];
        let (n, err) = d.decode_into(&mut ots, &mut ovs);
        assert!(err.is_none(), "{err:?}");
        assert_eq!(n, 7);
        assert_eq!(ots, ts);
        for (a, b) in ovs.iter().zip(&vs) {
            assert_eq!(a.to_bits(), b.to_bits());
        }
    }
}

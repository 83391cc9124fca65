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

use super::bitstream::{mask, sign_extend, BitReader, BitWriter};
use crate::Error;

/// Payload widths of the timestamp dod buckets, indexed by the number of prefix one bits.
const DOD_WIDTHS: [u32; 5] = [0, 6, 14, 20, 64];

/// Streaming encoder of the XOR body.
#[derive(Clone, Debug)]
pub(crate) struct XorAppender {
    w: BitWriter,
    n: usize,
    t: i64,
    delta: i64,
    v: u64,
    /// Current value window (leading, trailing zeros); `lead == NO_WINDOW` before the first.
    lead: u32,
    trail: u32,
}

const NO_WINDOW: u32 = u32::MAX;

impl Default for XorAppender {
    fn default() -> Self {
        XorAppender::new()
    }
}

impl XorAppender {
    /// An empty appender (no window yet: the first non-zero XOR opens one).
    pub(crate) fn new() -> Self {
        XorAppender {
            w: BitWriter::with_capacity(128),
            n: 0,
            t: 0,
            delta: 0,
            v: 0,
            lead: NO_WINDOW,
            trail: 0,
        }
    }

    /// Number of samples appended.
    pub(crate) fn len(&self) -> usize {
        self.n
    }

    /// The bit writer holding the body.
    pub(crate) fn writer(&self) -> &BitWriter {
        &self.w
    }

    /// Appends a sample (the caller checks that `t` is greater than the previous one).
    #[inline]
    pub(crate) fn push(&mut self, t: i64, v: f64) {
        let bits = v.to_bits();
        if self.n == 0 {
            self.w.write(bits, 64);
        } else {
            let delta = t.wrapping_sub(self.t);
            let dod = delta.wrapping_sub(self.delta);
            self.delta = delta;
            self.write_dod(dod);
            self.write_xor(bits ^ self.v);
        }
        self.t = t;
        self.v = bits;
        self.n += 1;
    }

    #[inline]
    fn write_dod(&mut self, dod: i64) {
        if dod == 0 {
            self.w.write(0, 1);
            return;
        }
        // Smallest bucket whose signed payload range holds dod.
        for (k, &w) in DOD_WIDTHS.iter().enumerate().skip(1).take(3) {
            let lim = 1i64 << (w - 1);
            if dod >= -lim && dod < lim {
                let k = k as u32;
                let prefix = (1u64 << k) - 1; // k ones then a zero
                self.w
                    .write(prefix | (((dod as u64) & mask(w)) << (k + 1)), k + 1 + w);
                return;
            }
        }
        self.w.write(0b1111, 4);
        self.w.write(dod as u64, 64);
    }

    #[inline]
    fn write_xor(&mut self, x: u64) {
        if x == 0 {
            self.w.write(0, 1);
            return;
        }
        let lz = x.leading_zeros();
        let tz = x.trailing_zeros();
        if self.lead != NO_WINDOW && lz >= self.lead && tz >= self.trail {
            let sig = 64 - self.lead - self.trail;
            self.w.write(0b01, 2);
            self.w.write(x >> self.trail, sig);
            return;
        }
        let lz = lz.min(31);
        let sig = 64 - lz - tz;
        self.lead = lz;
        self.trail = tz;
        // "11", 5 bits leading zeros, 6 bits length (64 stored as 0).
        self.w
            .write(0b11 | (u64::from(lz) << 2) | (u64::from(sig & 63) << 7), 13);
        self.w.write(x >> tz, sig);
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

#[cfg(test)]
mod tests {
    use super::*;

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

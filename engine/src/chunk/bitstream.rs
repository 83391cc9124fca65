//! Bit-level I/O: the only code in the chunk codecs that touches individual bits.
//!
//! Bit order is **LSB-first**: the first bit written is bit 0 (the least significant bit) of
//! byte 0, the ninth is bit 0 of byte 1, and a `w`-bit field stores its least significant bit
//! first. Reading 8 bytes at any byte offset as a little-endian `u64` therefore yields the
//! following 64 bits of the stream in order, which is what makes both readers cheap: one
//! unaligned load, one shift, one mask per field.
//!
//! Invariants:
//! - [`BitWriter`] keeps fewer than 64 pending bits in its accumulator; everything older is
//!   already in its byte vector. The unused high bits of the last byte are zero.
//! - [`BitReader`] and [`read_field`] never read outside their slice and never panic: a read
//!   past the end yields `None` (sequential reader) or zero bits (random access; callers
//!   validate the section length first).

/// Appends bit fields to a growable byte buffer.
///
/// The buffer is a boxed slice whose length is its capacity, with the bytes in use counted
/// apart: 8 bytes narrower than a `Vec`, which matters for the open chunk every head series
/// holds. Whole words are flushed, so the bytes in use are a multiple of 8.
#[derive(Clone, Debug, Default)]
pub(crate) struct BitWriter {
    buf: Box<[u8]>,
    acc: u64,
    /// Bytes of `buf` in use.
    len: u32,
    nacc: u32,
}

/// A mask of the low `w` bits (`w` in `0..=64`).
#[inline]
pub(crate) fn mask(w: u32) -> u64 {
    if w >= 64 {
        u64::MAX
    } else {
        (1u64 << w) - 1
    }
}

/// Sign-extends the low `w` bits of `x` (`w` in `1..=64`).
#[inline]
pub(crate) fn sign_extend(x: u64, w: u32) -> i64 {
    let s = 64 - w;
    ((x << s) as i64) >> s
}

/// Number of bits needed to hold `x` (0 for 0).
#[inline]
pub(crate) fn bit_width(x: u64) -> u32 {
    64 - x.leading_zeros()
}

impl BitWriter {
    /// A writer whose buffer starts with room for `bytes` bytes.
    pub(crate) fn with_capacity(bytes: usize) -> Self {
        BitWriter {
            buf: vec![0; bytes].into_boxed_slice(),
            acc: 0,
            len: 0,
            nacc: 0,
        }
    }

    /// The bytes in use (whole flushed words).
    #[inline]
    fn flushed(&self) -> &[u8] {
        self.buf.get(..self.len as usize).unwrap_or(&[])
    }

    /// Makes room for at least one more word. Small buffers (open head chunks, one per
    /// series, a few hundred bytes each) grow 16 bytes at a time up to 256 and by a quarter
    /// up to 4 KiB, not by doubling, so that a million of them do not hold a third of their
    /// memory unused (a realloc of a few hundred bytes is cheap beside the samples that
    /// fill 16 bytes); large ones double.
    fn grow(&mut self) {
        let cap = self.buf.len();
        let more = match cap {
            0..256 => 16,
            256..4096 => cap / 4,
            _ => cap,
        };
        let mut v = std::mem::take(&mut self.buf).into_vec();
        v.reserve_exact(more);
        v.resize(cap + more, 0);
        self.buf = v.into_boxed_slice();
    }

    /// Grows the buffer, then puts `word` at the end of the bytes in use.
    #[cold]
    fn grow_and_put(&mut self, word: [u8; 8]) {
        self.grow();
        let at = self.len as usize;
        if let Some(dst) = self.buf.get_mut(at..at + 8) {
            dst.copy_from_slice(&word);
        }
    }

    /// Appends the low `w` bits of `v` (`w` in `0..=64`; higher bits of `v` are ignored).
    #[inline]
    pub(crate) fn write(&mut self, v: u64, w: u32) {
        debug_assert!(w <= 64);
        if w == 0 {
            return;
        }
        let v = v & mask(w);
        self.acc |= v << self.nacc;
        let total = self.nacc + w;
        if total >= 64 {
            let at = self.len as usize;
            let word = self.acc.to_le_bytes();
            match self.buf.get_mut(at..at + 8) {
                Some(dst) => dst.copy_from_slice(&word),
                None => self.grow_and_put(word),
            }
            self.len += 8;
            // The bits of `v` that did not fit; none when the accumulator was empty.
            self.acc = if self.nacc == 0 {
                0
            } else {
                v >> (64 - self.nacc)
            };
            self.nacc = total - 64;
        } else {
            self.nacc = total;
        }
    }

    /// Appends one bit.
    #[cfg(test)]
    pub(crate) fn write_bit(&mut self, bit: bool) {
        self.write(u64::from(bit), 1);
    }

    /// Number of bits written.
    #[cfg(test)]
    pub(crate) fn bit_len(&self) -> u64 {
        u64::from(self.len) * 8 + u64::from(self.nacc)
    }

    /// Number of bytes the stream occupies (the last one possibly partial).
    pub(crate) fn byte_len(&self) -> usize {
        self.len as usize + self.nacc.div_ceil(8) as usize
    }

    /// Bytes of memory held (buffer capacity plus the accumulator).
    pub(crate) fn memory_bytes(&self) -> usize {
        self.buf.len() + 8
    }

    /// Appends the stream so far (partial last byte zero-padded) to `out`, leaving `self`
    /// untouched so that writing can continue.
    pub(crate) fn copy_to(&self, out: &mut Vec<u8>) {
        self.copy_from_to(0, out);
    }

    /// Appends the stream's bytes from byte `from` on (as [`BitWriter::copy_to`] would write
    /// them; nothing if `from` is past the end) to `out`.
    pub(crate) fn copy_from_to(&self, from: usize, out: &mut Vec<u8>) {
        let partial = self.nacc.div_ceil(8) as usize;
        let acc = self.acc.to_le_bytes();
        let flushed = self.flushed();
        match flushed.get(from..) {
            Some(rest) => {
                out.extend_from_slice(rest);
                out.extend_from_slice(&acc[..partial]);
            }
            None => {
                let skip = (from - flushed.len()).min(partial);
                out.extend_from_slice(&acc[skip..partial]);
            }
        }
    }

    /// Flushes the partial byte and returns the bytes, zero-padded to a byte boundary.
    #[cfg(test)]
    pub(crate) fn finish(self) -> Vec<u8> {
        let mut buf = self.flushed().to_vec();
        let partial = self.nacc.div_ceil(8) as usize;
        buf.extend_from_slice(&self.acc.to_le_bytes()[..partial]);
        buf
    }
}

/// Appends `values` to `out` as consecutive `w`-bit fields (`w` in `0..=64`), LSB-first,
/// zero-padding the last byte. The same layout as a fresh [`BitWriter`], without one.
#[inline]
pub(crate) fn pack_into(out: &mut Vec<u8>, values: impl Iterator<Item = u64>, w: u32) {
    if w == 0 {
        return;
    }
    let m = mask(w);
    let mut acc = 0u64;
    let mut nacc = 0u32;
    for v in values {
        let v = v & m;
        acc |= v << nacc;
        let total = nacc + w;
        if total >= 64 {
            out.extend_from_slice(&acc.to_le_bytes());
            acc = if nacc == 0 { 0 } else { v >> (64 - nacc) };
            nacc = total - 64;
        } else {
            nacc = total;
        }
    }
    out.extend_from_slice(&acc.to_le_bytes()[..nacc.div_ceil(8) as usize]);
}

/// Sequential reader over an LSB-first bit stream with a 64-bit refill fast path.
#[derive(Clone, Debug)]
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    /// Next byte of `data` not yet (fully) loaded into `buf`.
    pos: usize,
    /// Pending bits, next bit at bit 0. Bits at and above `nbits` are either zero or a copy of
    /// the stream bits that follow (the fast refill loads whole words); OR-ing them in again
    /// is idempotent.
    buf: u64,
    nbits: u32,
}

impl<'a> BitReader<'a> {
    /// A reader at the first bit of `data`.
    pub(crate) fn new(data: &'a [u8]) -> Self {
        BitReader {
            data,
            pos: 0,
            buf: 0,
            nbits: 0,
        }
    }

    /// Tops up `buf` to at least 56 bits if the data allows.
    #[inline(always)]
    fn refill(&mut self) {
        if let Some(bytes) = self.data.get(self.pos..self.pos + 8) {
            let mut a = [0u8; 8];
            a.copy_from_slice(bytes);
            // nbits < 64 here: refill is only called when nbits < 57.
            self.buf |= u64::from_le_bytes(a) << self.nbits;
            let take = (63 - self.nbits) >> 3;
            self.pos += take as usize;
            self.nbits += take * 8;
        } else {
            self.refill_slow();
        }
    }

    #[cold]
    fn refill_slow(&mut self) {
        while self.nbits <= 56 {
            let Some(&b) = self.data.get(self.pos) else {
                return;
            };
            self.buf |= u64::from(b) << self.nbits;
            self.pos += 1;
            self.nbits += 8;
        }
    }

    /// Reads a `w`-bit field, `w` in `0..=56`; `None` if the stream ends first.
    #[inline(always)]
    pub(crate) fn read(&mut self, w: u32) -> Option<u64> {
        debug_assert!(w <= 56);
        if self.nbits < w {
            self.refill();
            if self.nbits < w {
                return None;
            }
        }
        let v = self.buf & mask(w);
        // w <= 56, so the shift is in range.
        self.buf >>= w;
        self.nbits -= w;
        Some(v)
    }

    /// Reads a `w`-bit field, `w` in `0..=64`.
    #[inline(always)]
    pub(crate) fn read_wide(&mut self, w: u32) -> Option<u64> {
        if w <= 56 {
            self.read(w)
        } else {
            let lo = self.read(32)?;
            let hi = self.read(w - 32)?;
            Some(lo | (hi << 32))
        }
    }

    /// Reads one bit.
    #[inline]
    pub(crate) fn read_bit(&mut self) -> Option<bool> {
        self.read(1).map(|b| b == 1)
    }

    /// Counts up to `max` consecutive one bits, consuming them and the terminating zero bit
    /// (if fewer than `max` ones were read). `None` if the stream ends first.
    #[inline(always)]
    pub(crate) fn read_unary(&mut self, max: u32) -> Option<u32> {
        if self.nbits <= max {
            self.refill();
        }
        if self.nbits > max {
            let ones = (!self.buf).trailing_zeros().min(max);
            let used = if ones == max { max } else { ones + 1 };
            self.buf >>= used;
            self.nbits -= used;
            return Some(ones);
        }
        // Near the end: bit by bit.
        let mut ones = 0;
        while ones < max {
            if !self.read_bit()? {
                return Some(ones);
            }
            ones += 1;
        }
        Some(ones)
    }

    /// Bits consumed so far.
    #[cfg(test)]
    pub(crate) fn bits_consumed(&self) -> u64 {
        self.pos as u64 * 8 - u64::from(self.nbits)
    }
}

/// Loads the 8 bytes at `off` as a little-endian word, zero-filling past the end.
#[inline(always)]
pub(crate) fn load_word(data: &[u8], off: usize) -> u64 {
    match data.get(off..off.wrapping_add(8)) {
        Some(bytes) => {
            let mut a = [0u8; 8];
            a.copy_from_slice(bytes);
            u64::from_le_bytes(a)
        }
        None => load_word_tail(data, off),
    }
}

#[cold]
fn load_word_tail(data: &[u8], off: usize) -> u64 {
    let mut a = [0u8; 8];
    if let Some(tail) = data.get(off..) {
        let k = tail.len().min(8);
        a[..k].copy_from_slice(&tail[..k]);
    }
    u64::from_le_bytes(a)
}

/// Reads the `w`-bit field (`w` in `0..=64`) starting at bit `bitpos` of a fixed-width packed
/// section. Bits past the end of `data` read as zero.
#[inline(always)]
pub(crate) fn read_field(data: &[u8], bitpos: u64, w: u32) -> u64 {
    let off = (bitpos >> 3) as usize;
    let sh = (bitpos & 7) as u32;
    if w <= 56 {
        (load_word(data, off) >> sh) & mask(w)
    } else {
        let lo = load_word(data, off) >> sh;
        // The byte at off + 8 supplies bits 64 - sh .. of the field (only needed when sh > 0).
        let hi = if sh == 0 {
            0
        } else {
            u64::from(data.get(off.wrapping_add(8)).copied().unwrap_or(0)) << (64 - sh)
        };
        (lo | hi) & mask(w)
    }
}

/// The stream bits from `bitpos` on as one word (bit 0 = the bit at `bitpos`), and how
/// many of its bits are stream bits (`64 - bitpos % 8`, at least 57); zeros past the end of
/// `data`.
#[inline(always)]
pub(crate) fn window(data: &[u8], bitpos: u64) -> (u64, u32) {
    let sh = (bitpos & 7) as u32;
    (load_word(data, (bitpos >> 3) as usize) >> sh, 64 - sh)
}

/// Like [`read_field`], for sequential decoders that track their own bit position: the
/// `w`-bit field (`w` in `0..=64`) at bit `bitpos`, zeros past the end of `data`.
#[inline(always)]
pub(crate) fn peek_bits(data: &[u8], bitpos: u64, w: u32) -> u64 {
    read_field(data, bitpos, w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fields() -> impl Strategy<Value = Vec<(u64, u32)>> {
        proptest::collection::vec((any::<u64>(), 0u32..=64), 0..200)
    }

    proptest! {
        #[test]
        fn write_then_read_sequential_and_random_access(fs in fields()) {
            let mut w = BitWriter::default();
            for &(v, n) in &fs {
                w.write(v, n);
            }
            let total: u64 = fs.iter().map(|&(_, n)| u64::from(n)).sum();
            prop_assert_eq!(w.bit_len(), total);
            let mut snap = Vec::new();
            w.copy_to(&mut snap);
            let bytes = w.finish();
            prop_assert_eq!(&snap, &bytes);
            prop_assert_eq!(bytes.len() as u64, total.div_ceil(8));
            let mut r = BitReader::new(&bytes);
            let mut pos = 0u64;
            for &(v, n) in &fs {
                prop_assert_eq!(r.read_wide(n), Some(v & mask(n)));
                prop_assert_eq!(read_field(&bytes, pos, n), v & mask(n));
                pos += u64::from(n);
            }
            prop_assert_eq!(r.bits_consumed(), total);
            // Past the end: at most 7 padding bits remain.
            prop_assert_eq!(r.read(8), None);
        }

        #[test]
        fn pack_into_matches_the_writer(vs in proptest::collection::vec(any::<u64>(), 0..100), w in 0u32..=64) {
            let mut bw = BitWriter::default();
            for &v in &vs {
                bw.write(v, w);
            }
            let mut out = vec![0xAA];
            pack_into(&mut out, vs.iter().copied(), w);
            prop_assert_eq!(&out[1..], &bw.finish()[..]);
            for (i, &v) in vs.iter().enumerate() {
                prop_assert_eq!(read_field(&out[1..], i as u64 * u64::from(w), w), v & mask(w));
            }
        }

        #[test]
        fn unary_matches_bitwise(bits in proptest::collection::vec(any::<bool>(), 0..100)) {
            let mut w = BitWriter::default();
            for &b in &bits {
                w.write_bit(b);
            }
            let bytes = w.finish();
            let mut r1 = BitReader::new(&bytes);
            let mut r2 = BitReader::new(&bytes);
            loop {
                let a = r1.read_unary(4);
                let mut ones = 0;
                let b = loop {
                    if ones == 4 { break Some(4); }
                    match r2.read_bit() {
                        None => break None,
                        Some(false) => break Some(ones),
                        Some(true) => ones += 1,
                    }
                };
                prop_assert_eq!(a, b);
                if a.is_none() { break; }
            }
        }
    }

    #[test]
    fn helpers() {
        assert_eq!(sign_extend(0b111, 3), -1);
        assert_eq!(sign_extend(0b011, 3), 3);
        assert_eq!(sign_extend(u64::MAX, 64), -1);
        assert_eq!(bit_width(0), 0);
        assert_eq!(bit_width(1), 1);
        assert_eq!(bit_width(u64::MAX), 64);
        assert_eq!(read_field(&[], 1000, 64), 0);
    }
}

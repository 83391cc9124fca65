//! Byte-level encodings shared by every on-disk format (chunk headers, blocks, index): LEB128
//! unsigned varints, zig-zag signed varints, little-endian fixed-width fields, CRC32C trailers,
//! and the bounds-checked [`ByteCursor`] that every read of those formats goes through.
//!
//! Invariants: a varint is at most 10 bytes; the decoder rejects truncated input, encodings
//! longer than 10 bytes and a 10th byte carrying more than the single remaining bit (values
//! above `u64::MAX`). Decoding never panics and never reads past the slice.

/// Appends `v` as an unsigned LEB128 varint (7 bits per byte, low group first, high bit set
/// on every byte but the last).
pub(crate) fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends `v` zig-zag encoded (0, -1, 1, -2, ... map to 0, 1, 2, 3, ...) as a varint.
pub(crate) fn put_zvarint(out: &mut Vec<u8>, v: i64) {
    put_uvarint(out, zigzag(v));
}

/// Appends a little-endian u32.
pub(crate) fn put_u32_le(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Appends a little-endian u64.
pub(crate) fn put_u64_le(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Appends a string as a uvarint byte length and the UTF-8 bytes.
pub(crate) fn put_str(out: &mut Vec<u8>, s: &str) {
    put_uvarint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// Appends the CRC32C of `out[from..]` (little-endian): a checksummed section or entry.
pub(crate) fn put_crc_of(out: &mut Vec<u8>, from: usize) {
    let crc = crc32c::crc32c(&out[from..]);
    put_u32_le(out, crc);
}

/// Splits `data` into its body and a 4-byte little-endian CRC32C trailer and checks the
/// trailer; `None` if `data` is too short or the checksum does not match.
pub(crate) fn verify_crc(data: &[u8]) -> Option<&[u8]> {
    let split = data.len().checked_sub(4)?;
    let (body, crc) = data.split_at(split);
    let want = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
    (crc32c::crc32c(body) == want).then_some(body)
}

/// Zig-zag maps a signed integer to an unsigned one so small magnitudes stay small.
#[inline]
pub(crate) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Inverse of [`zigzag`].
#[inline]
pub(crate) fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

/// Length in bytes of `v` as an unsigned varint.
#[inline]
pub(crate) fn uvarint_len(v: u64) -> usize {
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Length in bytes of `v` as a zig-zag varint.
#[inline]
pub(crate) fn zvarint_len(v: i64) -> usize {
    uvarint_len(zigzag(v))
}

/// A forward cursor over bytes that fails (returns `None`) instead of reading past the end.
#[derive(Clone, Debug)]
pub(crate) struct ByteCursor<'a> {
    data: &'a [u8],
    pos: usize,
    /// Reads stop here; bytes from `end` on are padding that only [`ByteCursor::tail`] shows.
    end: usize,
}

impl<'a> ByteCursor<'a> {
    /// A cursor at the start of `data`.
    pub(crate) fn new(data: &'a [u8]) -> Self {
        ByteCursor {
            data,
            pos: 0,
            end: data.len(),
        }
    }

    /// A cursor over the first `end` bytes of `data` (the rest is padding).
    pub(crate) fn with_end(data: &'a [u8], end: usize) -> Self {
        ByteCursor {
            data,
            pos: 0,
            end: end.min(data.len()),
        }
    }

    /// Everything from the current position on, padding included (for fast fixed-width
    /// reads that may load a few bytes past the section they decode).
    pub(crate) fn tail(&self) -> &'a [u8] {
        self.data.get(self.pos..).unwrap_or(&[])
    }

    /// Bytes consumed so far.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes not yet consumed.
    pub(crate) fn remaining(&self) -> usize {
        self.end - self.pos
    }

    /// Reads one byte.
    #[inline]
    pub(crate) fn u8(&mut self) -> Option<u8> {
        if self.pos >= self.end {
            return None;
        }
        let b = *self.data.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    /// True once every byte (before the padding) is consumed.
    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.end
    }

    /// Reads a little-endian u32.
    pub(crate) fn u32_le(&mut self) -> Option<u32> {
        let b = self.take(4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Reads a little-endian f64 (bit-exact).
    pub(crate) fn f64_le(&mut self) -> Option<f64> {
        self.u64_le().map(f64::from_bits)
    }

    /// Reads a uvarint length and that many bytes as UTF-8.
    pub(crate) fn str(&mut self) -> Option<&'a str> {
        let n = usize::try_from(self.uvarint()?).ok()?;
        std::str::from_utf8(self.take(n)?).ok()
    }

    /// Reads a uvarint that must fit in a `usize` and be at most `max` (a count checked
    /// against what the remaining bytes can hold before anything is allocated from it).
    pub(crate) fn count(&mut self, max: usize) -> Option<usize> {
        usize::try_from(self.uvarint()?).ok().filter(|&n| n <= max)
    }

    /// Reads a little-endian u64.
    pub(crate) fn u64_le(&mut self) -> Option<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Some(u64::from_le_bytes(a))
    }

    /// Takes the next `n` bytes.
    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.end)?;
        let s = self.data.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    /// Reads an unsigned varint (inlined fast path for one-byte varints).
    #[inline]
    pub(crate) fn uvarint(&mut self) -> Option<u64> {
        if self.pos < self.end {
            if let Some(&b) = self.data.get(self.pos) {
                if b < 0x80 {
                    self.pos += 1;
                    return Some(u64::from(b));
                }
            }
        }
        self.uvarint_slow()
    }

    fn uvarint_slow(&mut self) -> Option<u64> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let b = self.u8()?;
            if i == 9 && b > 1 {
                return None;
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Some(v);
            }
        }
        None
    }

    /// Reads a zig-zag varint.
    #[inline]
    pub(crate) fn zvarint(&mut self) -> Option<i64> {
        self.uvarint().map(unzigzag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn varints_round_trip(u in any::<u64>(), s in any::<i64>()) {
            let mut out = Vec::new();
            put_uvarint(&mut out, u);
            prop_assert_eq!(out.len(), uvarint_len(u));
            put_zvarint(&mut out, s);
            prop_assert_eq!(out.len(), uvarint_len(u) + zvarint_len(s));
            let mut c = ByteCursor::new(&out);
            prop_assert_eq!(c.uvarint(), Some(u));
            prop_assert_eq!(c.zvarint(), Some(s));
            prop_assert_eq!(c.remaining(), 0);
            prop_assert_eq!(c.uvarint(), None);
        }

        #[test]
        fn uvarint_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..16)) {
            let mut c = ByteCursor::new(&bytes);
            while c.uvarint().is_some() {}
        }
    }

    #[test]
    fn overlong_varints_are_rejected() {
        let eleven = [0xffu8; 11];
        assert_eq!(ByteCursor::new(&eleven).uvarint(), None);
        let mut too_big = [0xffu8; 10];
        too_big[9] = 0x02;
        assert_eq!(ByteCursor::new(&too_big).uvarint(), None);
        let mut max = [0xffu8; 10];
        max[9] = 0x01;
        assert_eq!(ByteCursor::new(&max).uvarint(), Some(u64::MAX));
        assert_eq!(zigzag(i64::MIN), u64::MAX);
        assert_eq!(unzigzag(u64::MAX), i64::MIN);
    }
}

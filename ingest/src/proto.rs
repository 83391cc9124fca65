//! A minimal protobuf wire-format reader over a borrowed buffer.
//!
//! Only what remote write needs: varints, fixed64, length-delimited fields, packed repeated
//! varints, and skipping unknown fields of any supported wire type. Every read is bounds
//! checked and fails with a [`DecodeError`] carrying the absolute byte offset in the decoded
//! body. Groups (wire types 3 and 4, deprecated in proto3 and unused by remote write) are
//! refused. Nothing here allocates.

use std::fmt;

/// Wire type of a varint field.
pub(crate) const VARINT: u8 = 0;
/// Wire type of a fixed 64-bit field (double, fixed64).
pub(crate) const I64: u8 = 1;
/// Wire type of a length-delimited field (strings, bytes, messages, packed repeated).
pub(crate) const LEN: u8 = 2;
/// Wire type of a fixed 32-bit field.
pub(crate) const I32: u8 = 5;

/// What went wrong while decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    TruncatedVarint,
    VarintOverflow,
    InvalidFieldNumber,
    TruncatedFixed64,
    TruncatedFixed32,
    LengthPastEnd,
    Group,
    RepeatedWireType,
    WrongWireType,
    SymbolOffset,
    FirstSymbolNotEmpty,
}

impl Kind {
    fn message(self) -> &'static str {
        match self {
            Kind::TruncatedVarint => "truncated varint",
            Kind::VarintOverflow => "varint overflows 64 bits",
            Kind::InvalidFieldNumber => "invalid field number",
            Kind::TruncatedFixed64 => "truncated fixed64",
            Kind::TruncatedFixed32 => "truncated fixed32",
            Kind::LengthPastEnd => "length-delimited field runs past the end of its message",
            Kind::Group => "unsupported wire type (groups are not allowed)",
            Kind::RepeatedWireType => "repeated uint32 field with wrong wire type",
            Kind::WrongWireType => "known field with unexpected wire type",
            Kind::SymbolOffset => "symbol offset does not fit in 32 bits",
            Kind::FirstSymbolNotEmpty => "symbols[0] must be the empty string",
        }
    }
}

/// A protobuf decoding failure at an absolute offset of the decoded body. Kept to 8 bytes so
/// that `Result<u64, DecodeError>` travels in registers on the hot path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DecodeError {
    /// Byte offset (saturated at `u32::MAX`).
    pub(crate) offset: u32,
    pub(crate) kind: Kind,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.kind.message(), self.offset)
    }
}

pub(crate) type DResult<T> = Result<T, DecodeError>;

/// A cursor over `buf[pos..end]`; offsets are absolute in `buf`, the whole decoded body.
#[derive(Clone, Copy)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    end: usize,
}

impl<'a> Reader<'a> {
    /// A reader over the whole of `buf`.
    pub(crate) fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader {
            buf,
            pos: 0,
            end: buf.len(),
        }
    }

    #[cold]
    #[inline(never)]
    fn error(&self, kind: Kind) -> DecodeError {
        DecodeError {
            offset: u32::try_from(self.pos).unwrap_or(u32::MAX),
            kind,
        }
    }

    #[inline]
    fn err<T>(&self, kind: Kind) -> DResult<T> {
        Err(self.error(kind))
    }

    /// True when the message is fully read.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.end
    }

    /// Current absolute offset.
    pub(crate) fn offset(&self) -> usize {
        self.pos
    }

    /// Reads a base-128 varint of at most 10 bytes.
    #[inline(always)]
    pub(crate) fn varint(&mut self) -> DResult<u64> {
        // Fast path: one byte.
        if self.pos < self.end {
            let b = self.buf[self.pos];
            if b < 0x80 {
                self.pos += 1;
                return Ok(u64::from(b));
            }
        }
        self.varint_slow()
    }

    #[inline(never)]
    fn varint_slow(&mut self) -> DResult<u64> {
        let mut v: u64 = 0;
        for i in 0..10 {
            if self.pos >= self.end {
                return self.err(Kind::TruncatedVarint);
            }
            let b = self.buf[self.pos];
            self.pos += 1;
            if i == 9 && b > 1 {
                return self.err(Kind::VarintOverflow);
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(v);
            }
        }
        self.err(Kind::VarintOverflow)
    }

    /// Reads a field key, returning (field number, wire type).
    #[inline]
    pub(crate) fn key(&mut self) -> DResult<(u32, u8)> {
        let k = self.varint()?;
        let field = k >> 3;
        if field == 0 || field > u64::from(u32::MAX >> 3) {
            return self.err(Kind::InvalidFieldNumber);
        }
        Ok((field as u32, (k & 7) as u8))
    }

    /// Reads 8 little-endian bytes.
    #[inline]
    pub(crate) fn fixed64(&mut self) -> DResult<u64> {
        if self.end - self.pos < 8 {
            return self.err(Kind::TruncatedFixed64);
        }
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.buf[self.pos..self.pos + 8]);
        self.pos += 8;
        Ok(u64::from_le_bytes(b))
    }

    /// Reads a length prefix and returns a reader over that many bytes, advancing past them.
    #[inline]
    pub(crate) fn sub(&mut self) -> DResult<Reader<'a>> {
        let len = self.varint()?;
        if len > (self.end - self.pos) as u64 {
            return self.err(Kind::LengthPastEnd);
        }
        let start = self.pos;
        self.pos += len as usize;
        Ok(Reader {
            buf: self.buf,
            pos: start,
            end: self.pos,
        })
    }

    /// Reads a length-delimited field as bytes.
    #[inline]
    pub(crate) fn bytes(&mut self) -> DResult<&'a [u8]> {
        let r = self.sub()?;
        Ok(&r.buf[r.pos..r.end])
    }

    /// Skips a field of wire type `wire` whose key was just read.
    pub(crate) fn skip(&mut self, wire: u8) -> DResult<()> {
        match wire {
            VARINT => self.varint().map(drop),
            I64 => self.fixed64().map(drop),
            LEN => self.sub().map(drop),
            I32 => {
                if self.end - self.pos < 4 {
                    return self.err(Kind::TruncatedFixed32);
                }
                self.pos += 4;
                Ok(())
            }
            _ => self.err(Kind::Group),
        }
    }

    /// Reads one element (wire type VARINT) or a packed run (wire type LEN) of a repeated
    /// uint32 field, calling `f` for each value.
    pub(crate) fn repeated_u32(
        &mut self,
        wire: u8,
        mut f: impl FnMut(u32) -> DResult<()>,
    ) -> DResult<()> {
        match wire {
            VARINT => {
                let v = self.varint()?;
                f(v as u32)
            }
            LEN => {
                let mut r = self.sub()?;
                while !r.is_empty() {
                    let v = r.varint()?;
                    f(v as u32)?;
                }
                Ok(())
            }
            _ => self.err(Kind::RepeatedWireType),
        }
    }

    /// Fails with `kind` at the current offset.
    pub(crate) fn fail<T>(&self, kind: Kind) -> DResult<T> {
        self.err(kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::put_varint;

    #[test]
    fn varint_round_trip() {
        for v in [
            0u64,
            1,
            127,
            128,
            300,
            u32::MAX as u64,
            u64::MAX,
            (-1i64) as u64,
        ] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            let mut r = Reader::new(&b);
            assert_eq!(r.varint().unwrap(), v);
            assert!(r.is_empty());
        }
    }

    #[test]
    fn varint_errors() {
        assert!(Reader::new(&[0x80]).varint().is_err());
        assert!(Reader::new(&[0xff; 11]).varint().is_err());
        // Tenth byte > 1 would overflow.
        let mut b = vec![0xff; 9];
        b.push(0x02);
        assert!(Reader::new(&b).varint().is_err());
    }

    #[test]
    fn sub_bounds() {
        // Length 5 but only 2 bytes follow.
        let mut r = Reader::new(&[5, 1, 2]);
        let e = r.sub().err().unwrap();
        assert_eq!(e.offset, 1);
        // Nested reader cannot read past its own end.
        let mut r = Reader::new(&[1, 0x80, 0x01]);
        let mut s = r.sub().unwrap();
        assert!(s.varint().is_err());
    }

    #[test]
    fn skip_wire_types() {
        let mut r = Reader::new(&[0x96, 0x01, 1, 2, 3, 4]);
        r.skip(VARINT).unwrap();
        r.skip(I32).unwrap();
        assert!(r.is_empty());
        assert!(Reader::new(&[0]).skip(3).is_err());
        assert!(Reader::new(&[0, 0]).skip(I64).is_err());
    }
}

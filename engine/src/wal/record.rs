//! Record encoding: the payload of each record type and the frame around it.
//!
//! A frame is `kind u8 | len u32 | crc u32 | body[len]`, all little-endian, where `body` is the
//! snappy-compressed (raw block format) payload and `crc` is CRC32C over `kind`, the four `len`
//! bytes and `body`. See `docs/format/wal.md` for the payload layouts.
//!
//! Decoding never trusts a length: every count and length is checked against the bytes that
//! are left before anything is allocated, so arbitrary input gives an `Err`, never a panic or
//! a huge allocation.

use std::cell::RefCell;

use crate::labels::{Label, Labels, Sym};

use super::{ChunksRecord, DeleteRecord, Record, SampleRecord, SeriesRecord};

/// Bytes of a frame header: kind, body length, CRC.
pub const FRAME_HEADER_LEN: usize = 9;

/// Record kind byte of a series record.
pub const KIND_SERIES: u8 = 1;
/// Record kind byte of a samples record.
pub const KIND_SAMPLES: u8 = 2;
/// Record kind byte of a chunks record (sealed head chunks, written by checkpoints).
pub const KIND_CHUNKS: u8 = 3;
/// Record kind byte of a deletes record (ranges deleted from head series).
pub const KIND_DELETES: u8 = 4;
/// Record kind byte of an out-of-order samples record (samples the out-of-order window
/// accepted; same payload as a samples record).
pub const KIND_OOO_SAMPLES: u8 = 5;
/// Record kind byte of an out-of-order chunks record (a checkpoint's copy of the head's
/// out-of-order chunks; same payload as a chunks record).
pub const KIND_OOO_CHUNKS: u8 = 6;

/// Largest uncompressed payload a reader accepts (and a writer produces).
pub const MAX_PAYLOAD_BYTES: usize = 64 << 20;

/// The writer starts a new record once a payload passes this many bytes, so that records stay
/// far below [`MAX_PAYLOAD_BYTES`] however large one write is.
const SPLIT_PAYLOAD_BYTES: usize = 1 << 20;

/// Snappy never expands a tag by more than 64 output bytes per 3 input bytes (a copy with a
/// two-byte offset); a claimed length beyond this bound is certainly corrupt.
const MAX_SNAPPY_RATIO: usize = 32;

/// Why bytes could not be decoded; the caller adds the segment and offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn err<T>(msg: impl Into<String>) -> Result<T, DecodeError> {
    Err(DecodeError(msg.into()))
}

// ---------------------------------------------------------------------------------------------
// Varints.

fn put_uvarint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn put_varint(buf: &mut Vec<u8>, v: i64) {
    put_uvarint(buf, ((v << 1) ^ (v >> 63)) as u64);
}

/// A bounds-checked cursor over a payload.
struct Dec<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Dec<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Dec { buf, pos: 0 }
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn uvarint(&mut self) -> Result<u64, DecodeError> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let Some(&b) = self.buf.get(self.pos) else {
                return err(format!(
                    "varint runs past end of payload at byte {}",
                    self.pos
                ));
            };
            self.pos += 1;
            if i == 9 && b > 1 {
                return err(format!("varint overflows 64 bits at byte {}", self.pos - 1));
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(v);
            }
        }
        err(format!("varint longer than 10 bytes at byte {}", self.pos))
    }

    fn varint(&mut self) -> Result<i64, DecodeError> {
        let u = self.uvarint()?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return err(format!(
                "{n} bytes wanted at byte {} but only {} left",
                self.pos,
                self.remaining()
            ));
        }
        let b = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(b)
    }

    fn u64_le(&mut self) -> Result<u64, DecodeError> {
        let b = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    /// A count of entries, each at least `min_entry` bytes: rejects counts the payload cannot
    /// hold, which also bounds the allocation made from it.
    fn count(&mut self, min_entry: usize, what: &str) -> Result<usize, DecodeError> {
        let n = self.uvarint()?;
        if n > (self.remaining() / min_entry) as u64 {
            return err(format!(
                "{what} count {n} cannot fit in the {} bytes left",
                self.remaining()
            ));
        }
        Ok(n as usize)
    }

    fn string(&mut self, what: &str) -> Result<&'a str, DecodeError> {
        let n = self.uvarint()?;
        if n > self.remaining() as u64 {
            return err(format!("{what} length {n} runs past end of payload"));
        }
        let b = self.bytes(n as usize)?;
        std::str::from_utf8(b).or_else(|_| err(format!("{what} is not UTF-8")))
    }
}

// ---------------------------------------------------------------------------------------------
// Payloads.

/// Appends the payload of one series entry.
fn encode_series_entry(buf: &mut Vec<u8>, s: &SeriesRecord) {
    put_uvarint(buf, s.sref);
    put_uvarint(buf, s.labels.len() as u64);
    for l in s.labels.iter() {
        put_uvarint(buf, l.name.len() as u64);
        buf.extend_from_slice(l.name.as_bytes());
        put_uvarint(buf, l.value.len() as u64);
        buf.extend_from_slice(l.value.as_bytes());
    }
}

/// Encodes a samples payload: count, base ref, base time, then per sample the zigzag deltas of
/// ref and time from the bases and the raw value bits.
fn encode_samples(buf: &mut Vec<u8>, samples: &[SampleRecord]) {
    put_uvarint(buf, samples.len() as u64);
    let Some(first) = samples.first() else {
        return;
    };
    put_uvarint(buf, first.sref);
    put_varint(buf, first.t);
    for s in samples {
        put_varint(buf, s.sref.wrapping_sub(first.sref) as i64);
        put_varint(buf, s.t.wrapping_sub(first.t));
        buf.extend_from_slice(&s.v.to_bits().to_le_bytes());
    }
}

fn decode_series(payload: &[u8]) -> Result<Vec<SeriesRecord>, DecodeError> {
    let mut d = Dec::new(payload);
    // An entry is at least a ref byte and a label-count byte.
    let n = d.count(2, "series")?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let sref = d.uvarint()?;
        // A label is at least two length bytes and one byte each of name and value.
        let nl = d.count(4, "label")?;
        let mut labels = Vec::with_capacity(nl);
        for _ in 0..nl {
            let name = d.string("label name")?;
            let value = d.string("label value")?;
            if name.is_empty() {
                return err(format!("series {sref}: empty label name"));
            }
            if value.is_empty() {
                return err(format!("series {sref}: label {name:?} has an empty value"));
            }
            if let Some(prev) = labels.last() {
                let prev: &Label = prev;
                if *prev.name >= *name {
                    return err(format!(
                        "series {sref}: label names not sorted and unique ({:?} then {name:?})",
                        &*prev.name
                    ));
                }
            }
            labels.push(Label {
                name: Sym::from(name),
                value: Sym::from(value),
            });
        }
        out.push(SeriesRecord {
            sref,
            labels: Labels::from_sorted_unchecked(labels),
        });
    }
    if d.remaining() != 0 {
        return err(format!(
            "{} trailing bytes after series payload",
            d.remaining()
        ));
    }
    Ok(out)
}

fn decode_samples(payload: &[u8]) -> Result<Vec<SampleRecord>, DecodeError> {
    let mut d = Dec::new(payload);
    // A sample is at least one byte per delta and eight value bytes.
    let n = d.count(10, "sample")?;
    let mut out = Vec::with_capacity(n);
    if n > 0 {
        let base_ref = d.uvarint()?;
        let base_t = d.varint()?;
        for _ in 0..n {
            let sref = base_ref.wrapping_add(d.varint()? as u64);
            let t = base_t.wrapping_add(d.varint()?);
            let v = f64::from_bits(d.u64_le()?);
            out.push(SampleRecord { sref, t, v });
        }
    }
    if d.remaining() != 0 {
        return err(format!(
            "{} trailing bytes after samples payload",
            d.remaining()
        ));
    }
    Ok(out)
}

/// Encodes a chunks payload: count, then per entry the series ref, the number of chunks and
/// each chunk as a length-prefixed byte string.
fn encode_chunks(buf: &mut Vec<u8>, entries: &[ChunksRecord]) {
    put_uvarint(buf, entries.len() as u64);
    for e in entries {
        put_uvarint(buf, e.sref);
        put_uvarint(buf, e.chunks.len() as u64);
        for c in &e.chunks {
            put_uvarint(buf, c.len() as u64);
            buf.extend_from_slice(c);
        }
    }
}

fn decode_chunks(payload: &[u8]) -> Result<Vec<ChunksRecord>, DecodeError> {
    let mut d = Dec::new(payload);
    // An entry is at least a ref byte and a count byte; a chunk at least a length byte and
    // one byte.
    let n = d.count(2, "chunks entry")?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let sref = d.uvarint()?;
        let k = d.count(2, "chunk")?;
        let mut chunks = Vec::with_capacity(k);
        for _ in 0..k {
            let len = d.uvarint()?;
            if len == 0 || len > d.remaining() as u64 {
                return err(format!("series {sref}: chunk length {len} is impossible"));
            }
            chunks.push(d.bytes(len as usize)?.to_vec());
        }
        out.push(ChunksRecord { sref, chunks });
    }
    if d.remaining() != 0 {
        return err(format!(
            "{} trailing bytes after chunks payload",
            d.remaining()
        ));
    }
    Ok(out)
}

fn encode_deletes(buf: &mut Vec<u8>, entries: &[DeleteRecord]) {
    put_uvarint(buf, entries.len() as u64);
    for e in entries {
        put_uvarint(buf, e.sref);
        put_varint(buf, e.mint);
        put_varint(buf, e.maxt);
    }
}

fn decode_deletes(payload: &[u8]) -> Result<Vec<DeleteRecord>, DecodeError> {
    let mut d = Dec::new(payload);
    let n = d.count(3, "delete")?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let sref = d.uvarint()?;
        let (mint, maxt) = (d.varint()?, d.varint()?);
        if mint > maxt {
            return err(format!(
                "series {sref}: delete range [{mint}, {maxt}] is empty"
            ));
        }
        out.push(DeleteRecord { sref, mint, maxt });
    }
    if d.remaining() != 0 {
        return err(format!(
            "{} trailing bytes after deletes payload",
            d.remaining()
        ));
    }
    Ok(out)
}

/// Decodes an uncompressed payload of record kind `kind`.
pub fn decode_payload(kind: u8, payload: &[u8]) -> Result<Record, DecodeError> {
    match kind {
        KIND_SERIES => decode_series(payload).map(Record::Series),
        KIND_SAMPLES => decode_samples(payload).map(Record::Samples),
        KIND_CHUNKS => decode_chunks(payload).map(Record::Chunks),
        KIND_DELETES => decode_deletes(payload).map(Record::Deletes),
        KIND_OOO_SAMPLES => decode_samples(payload).map(Record::OooSamples),
        KIND_OOO_CHUNKS => decode_chunks(payload).map(Record::OooChunks),
        k => err(format!("unknown record kind {k}")),
    }
}

/// Encodes the uncompressed payload of `record`, as one record regardless of size. The writer
/// uses [`encode_frames`], which splits large records.
pub fn encode_payload(record: &Record) -> (u8, Vec<u8>) {
    let mut buf = Vec::new();
    match record {
        Record::Series(series) => {
            put_uvarint(&mut buf, series.len() as u64);
            for s in series {
                encode_series_entry(&mut buf, s);
            }
            (KIND_SERIES, buf)
        }
        Record::Samples(samples) | Record::OooSamples(samples) => {
            encode_samples(&mut buf, samples);
            (record.kind(), buf)
        }
        Record::Chunks(entries) | Record::OooChunks(entries) => {
            encode_chunks(&mut buf, entries);
            (record.kind(), buf)
        }
        Record::Deletes(entries) => {
            encode_deletes(&mut buf, entries);
            (KIND_DELETES, buf)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Frames.

/// Reusable per-thread buffers, so that a write allocates only its output.
struct Scratch {
    enc: snap::raw::Encoder,
    payload: Vec<u8>,
    entry: Vec<u8>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch {
        enc: snap::raw::Encoder::new(),
        payload: Vec::new(),
        entry: Vec::new(),
    });
}

/// Compresses `payload` and appends one frame of kind `kind` to `out`.
fn push_frame(
    out: &mut Vec<u8>,
    enc: &mut snap::raw::Encoder,
    kind: u8,
    payload: &[u8],
) -> Result<(), DecodeError> {
    if payload.len() > MAX_PAYLOAD_BYTES {
        return err(format!(
            "record payload of {} bytes exceeds the limit of {MAX_PAYLOAD_BYTES}",
            payload.len()
        ));
    }
    let start = out.len();
    let max = snap::raw::max_compress_len(payload.len());
    out.resize(start + FRAME_HEADER_LEN + max, 0);
    let n = enc
        .compress(payload, &mut out[start + FRAME_HEADER_LEN..])
        .or_else(|e| err(format!("snappy compression failed: {e}")))?;
    out.truncate(start + FRAME_HEADER_LEN + n);
    out[start] = kind;
    out[start + 1..start + 5].copy_from_slice(&(n as u32).to_le_bytes());
    let crc = crc32c::crc32c_append(
        crc32c::crc32c(&out[start..start + 5]),
        &out[start + FRAME_HEADER_LEN..],
    );
    out[start + 5..start + 9].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// Appends the frames of `records` to `out`, in order. A record whose payload would pass
/// about 1 MiB is split into several records of the same kind (order kept), so a reader sees
/// the same entries in the same order, possibly in more records. Fails only if a single series
/// entry is larger than [`MAX_PAYLOAD_BYTES`].
pub fn encode_frames(out: &mut Vec<u8>, records: &[Record]) -> Result<(), DecodeError> {
    SCRATCH.with(|s| {
        let mut s = s.borrow_mut();
        let Scratch {
            enc,
            payload,
            entry,
        } = &mut *s;
        for r in records {
            match r {
                Record::Series(series) => {
                    // Entries are encoded one by one; the record is flushed when the next
                    // entry would take it past the split size.
                    payload.clear();
                    let mut count = 0u64;
                    for srec in series {
                        entry.clear();
                        encode_series_entry(entry, srec);
                        if count > 0 && payload.len() + entry.len() > SPLIT_PAYLOAD_BYTES {
                            flush_series(out, enc, count, payload)?;
                            payload.clear();
                            count = 0;
                        }
                        payload.extend_from_slice(entry);
                        count += 1;
                    }
                    if count > 0 || series.is_empty() {
                        flush_series(out, enc, count, payload)?;
                    }
                }
                Record::Samples(samples) | Record::OooSamples(samples) => {
                    // At most 28 bytes per sample: 64k samples stay under 2 MiB.
                    const PER_RECORD: usize = 1 << 16;
                    if samples.is_empty() {
                        payload.clear();
                        encode_samples(payload, samples);
                        push_frame(out, enc, r.kind(), payload)?;
                    }
                    for part in samples.chunks(PER_RECORD) {
                        payload.clear();
                        encode_samples(payload, part);
                        push_frame(out, enc, r.kind(), payload)?;
                    }
                }
                Record::Chunks(entries) | Record::OooChunks(entries) => {
                    // Split by series so that payloads stay near the split size.
                    let mut start = 0;
                    let mut size = 0;
                    for (i, e) in entries.iter().enumerate() {
                        size += 16 + e.chunks.iter().map(|c| c.len() + 4).sum::<usize>();
                        if size > SPLIT_PAYLOAD_BYTES || i + 1 == entries.len() {
                            payload.clear();
                            encode_chunks(payload, &entries[start..=i]);
                            push_frame(out, enc, r.kind(), payload)?;
                            start = i + 1;
                            size = 0;
                        }
                    }
                    if entries.is_empty() {
                        payload.clear();
                        encode_chunks(payload, entries);
                        push_frame(out, enc, r.kind(), payload)?;
                    }
                }
                Record::Deletes(entries) => {
                    for part in entries.chunks(1 << 16) {
                        payload.clear();
                        encode_deletes(payload, part);
                        push_frame(out, enc, KIND_DELETES, payload)?;
                    }
                    if entries.is_empty() {
                        payload.clear();
                        encode_deletes(payload, entries);
                        push_frame(out, enc, KIND_DELETES, payload)?;
                    }
                }
            }
        }
        Ok(())
    })
}

/// Writes a series frame with `count` entries whose encodings are `entries`.
fn flush_series(
    out: &mut Vec<u8>,
    enc: &mut snap::raw::Encoder,
    count: u64,
    entries: &[u8],
) -> Result<(), DecodeError> {
    let mut p = Vec::with_capacity(entries.len() + 10);
    put_uvarint(&mut p, count);
    p.extend_from_slice(entries);
    push_frame(out, enc, KIND_SERIES, &p)
}

/// Encodes one record as frames (more than one if it is large). For tests and tools; the
/// writer calls [`encode_frames`] on whole batches.
pub fn encode_record(record: &Record) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::new();
    encode_frames(&mut out, std::slice::from_ref(record))?;
    Ok(out)
}

/// A parsed frame header.
#[derive(Clone, Copy, Debug)]
pub struct FrameHeader {
    /// Record kind.
    pub kind: u8,
    /// Length of the compressed body.
    pub len: u32,
    /// Stored CRC32C.
    pub crc: u32,
}

impl FrameHeader {
    /// Parses the header bytes. Rejects unknown kinds and bodies that could not hold a
    /// payload of at most [`MAX_PAYLOAD_BYTES`], before anything is read or allocated.
    pub fn parse(b: &[u8; FRAME_HEADER_LEN]) -> Result<FrameHeader, DecodeError> {
        let kind = b[0];
        let len = u32::from_le_bytes([b[1], b[2], b[3], b[4]]);
        let crc = u32::from_le_bytes([b[5], b[6], b[7], b[8]]);
        if !(KIND_SERIES..=KIND_OOO_CHUNKS).contains(&kind) {
            return err(format!("unknown record kind {kind}"));
        }
        if len == 0 {
            return err("record body is empty");
        }
        if len as usize > snap::raw::max_compress_len(MAX_PAYLOAD_BYTES) {
            return err(format!("record body length {len} exceeds the limit"));
        }
        Ok(FrameHeader { kind, len, crc })
    }
}

/// Checks the CRC of a frame body and decodes it. `scratch` is reused for the decompressed
/// payload.
pub fn decode_body(
    h: &FrameHeader,
    body: &[u8],
    scratch: &mut Vec<u8>,
) -> Result<Record, DecodeError> {
    let mut hb = [0u8; 5];
    hb[0] = h.kind;
    hb[1..5].copy_from_slice(&h.len.to_le_bytes());
    let crc = crc32c::crc32c_append(crc32c::crc32c(&hb), body);
    if crc != h.crc {
        return err(format!(
            "checksum mismatch (stored {:#010x}, computed {crc:#010x})",
            h.crc
        ));
    }
    let n = snap::raw::decompress_len(body).or_else(|e| err(format!("bad snappy header: {e}")))?;
    if n > MAX_PAYLOAD_BYTES || n > body.len().saturating_mul(MAX_SNAPPY_RATIO) + 64 {
        return err(format!(
            "claimed payload length {n} is impossible for a {}-byte body",
            body.len()
        ));
    }
    scratch.clear();
    scratch.resize(n, 0);
    snap::raw::Decoder::new()
        .decompress(body, scratch)
        .or_else(|e| err(format!("snappy decompression failed: {e}")))?;
    decode_payload(h.kind, scratch)
}

/// Decodes exactly one frame (header, CRC check, decompression, payload). Trailing bytes
/// after the frame are an error.
pub fn decode_frame(bytes: &[u8]) -> Result<Record, DecodeError> {
    let Some(hb) = bytes.get(..FRAME_HEADER_LEN) else {
        return err(format!("{} bytes cannot hold a frame header", bytes.len()));
    };
    let mut a = [0u8; FRAME_HEADER_LEN];
    a.copy_from_slice(hb);
    let h = FrameHeader::parse(&a)?;
    let body = &bytes[FRAME_HEADER_LEN..];
    if body.len() != h.len as usize {
        return err(format!(
            "frame says {} body bytes but {} follow",
            h.len,
            body.len()
        ));
    }
    decode_body(&h, body, &mut Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs).unwrap()
    }

    fn same_samples(a: &[SampleRecord], b: &[SampleRecord]) -> bool {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| x.sref == y.sref && x.t == y.t && x.v.to_bits() == y.v.to_bits())
    }

    #[test]
    fn uvarint_round_trip_and_overflow() {
        for v in [
            0u64,
            1,
            127,
            128,
            300,
            u32::MAX as u64,
            u64::MAX - 1,
            u64::MAX,
        ] {
            let mut b = Vec::new();
            put_uvarint(&mut b, v);
            let mut d = Dec::new(&b);
            assert_eq!(d.uvarint().unwrap(), v);
            assert_eq!(d.remaining(), 0);
        }
        for v in [0i64, -1, 1, i64::MIN, i64::MAX, -123456789] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            assert_eq!(Dec::new(&b).varint().unwrap(), v);
        }
        // Eleven continuation bytes, and a tenth byte with more than one bit.
        assert!(Dec::new(&[0xff; 11]).uvarint().is_err());
        let mut b = vec![0xff; 9];
        b.push(0x02);
        assert!(Dec::new(&b).uvarint().is_err());
        assert!(Dec::new(&[0x80]).uvarint().is_err());
    }

    #[test]
    fn series_round_trip() {
        let r = Record::Series(vec![
            SeriesRecord {
                sref: 1,
                labels: labels(&[("__name__", "up"), ("job", "api")]),
            },
            SeriesRecord {
                sref: u64::MAX,
                labels: Labels::empty(),
            },
            SeriesRecord {
                sref: 7,
                labels: labels(&[("a", "\u{e9}t\u{e9}"), ("z", "x")]),
            },
        ]);
        let frame = encode_record(&r).unwrap();
        match (decode_frame(&frame).unwrap(), r) {
            (Record::Series(a), Record::Series(b)) => assert_eq!(a, b),
            _ => panic!("kind changed"),
        }
    }

    #[test]
    fn samples_round_trip_extremes() {
        let s = vec![
            SampleRecord {
                sref: 5,
                t: 1_700_000_000_000,
                v: 1.5,
            },
            SampleRecord {
                sref: 0,
                t: i64::MIN,
                v: f64::from_bits(crate::STALE_NAN_BITS),
            },
            SampleRecord {
                sref: u64::MAX,
                t: i64::MAX,
                v: -0.0,
            },
            SampleRecord {
                sref: 5,
                t: 1_700_000_015_000,
                v: f64::NAN,
            },
        ];
        let frame = encode_record(&Record::Samples(s.clone())).unwrap();
        match decode_frame(&frame).unwrap() {
            Record::Samples(d) => assert!(same_samples(&d, &s)),
            _ => panic!("kind changed"),
        }
    }

    #[test]
    fn empty_records_round_trip() {
        for r in [Record::Series(vec![]), Record::Samples(vec![])] {
            let frames = encode_record(&r).unwrap();
            let d = decode_frame(&frames).unwrap();
            assert!(
                matches!(
                    (&d, &r),
                    (Record::Series(a), Record::Series(b)) if a.is_empty() && b.is_empty()
                ) || matches!(
                    (&d, &r),
                    (Record::Samples(a), Record::Samples(b)) if a.is_empty() && b.is_empty()
                )
            );
        }
    }

    #[test]
    fn samples_are_compact() {
        // 1000 samples of 100 series at one scrape: refs and times are small deltas.
        let s: Vec<SampleRecord> = (0..1000)
            .map(|i| SampleRecord {
                sref: 1000 + (i % 100),
                t: 1_700_000_000_000 + (i / 100) as i64 * 15_000,
                v: (i % 7) as f64,
            })
            .collect();
        let (_, payload) = encode_payload(&Record::Samples(s));
        // Per sample: ref delta (2 bytes), time delta (3 bytes), eight value bytes.
        assert!(payload.len() <= 1000 * 13 + 20, "{}", payload.len());
    }

    #[test]
    fn large_records_are_split_in_order() {
        let n = 70_000u64;
        let s: Vec<SampleRecord> = (0..n)
            .map(|i| SampleRecord {
                sref: i,
                t: i as i64,
                v: i as f64,
            })
            .collect();
        let frames = encode_record(&Record::Samples(s.clone())).unwrap();
        let mut got = Vec::new();
        let mut pos = 0;
        let mut nrec = 0;
        while pos < frames.len() {
            let len = u32::from_le_bytes(frames[pos + 1..pos + 5].try_into().unwrap()) as usize;
            let end = pos + FRAME_HEADER_LEN + len;
            match decode_frame(&frames[pos..end]).unwrap() {
                Record::Samples(part) => got.extend(part),
                _ => panic!("kind changed"),
            }
            pos = end;
            nrec += 1;
        }
        assert_eq!(nrec, 2);
        assert!(same_samples(&got, &s));

        // Series: long label values force several records.
        let big = "v".repeat(100_000);
        let series: Vec<SeriesRecord> = (0..25)
            .map(|i| SeriesRecord {
                sref: i,
                labels: labels(&[("big", &big), ("i", &i.to_string())]),
            })
            .collect();
        let frames = encode_record(&Record::Series(series.clone())).unwrap();
        let mut got = Vec::new();
        let mut pos = 0;
        nrec = 0;
        while pos < frames.len() {
            let len = u32::from_le_bytes(frames[pos + 1..pos + 5].try_into().unwrap()) as usize;
            let end = pos + FRAME_HEADER_LEN + len;
            match decode_frame(&frames[pos..end]).unwrap() {
                Record::Series(part) => got.extend(part),
                _ => panic!("kind changed"),
            }
            pos = end;
            nrec += 1;
        }
        assert!(nrec >= 2, "{nrec}");
        assert_eq!(got, series);
    }

    #[test]
    fn every_bit_flip_is_detected() {
        let r = Record::Samples(
            (0..50)
                .map(|i| SampleRecord {
                    sref: i,
                    t: i as i64 * 1000,
                    v: i as f64,
                })
                .collect(),
        );
        let frame = encode_record(&r).unwrap();
        for bit in 0..frame.len() * 8 {
            let mut f = frame.clone();
            f[bit / 8] ^= 1 << (bit % 8);
            assert!(decode_frame(&f).is_err(), "flip of bit {bit} not detected");
        }
    }

    #[test]
    fn hostile_payloads_are_errors() {
        // Huge counts with no bytes behind them.
        let mut p = Vec::new();
        put_uvarint(&mut p, u64::MAX);
        assert!(decode_payload(KIND_SAMPLES, &p).is_err());
        assert!(decode_payload(KIND_SERIES, &p).is_err());
        // Unsorted, duplicate, empty labels, bad UTF-8.
        for (n1, v1, n2, v2) in [
            (&b"b"[..], &b"1"[..], &b"a"[..], &b"1"[..]),
            (b"a", b"1", b"a", b"2"),
            (b"a", b"", b"b", b"1"),
            (b"", b"1", b"b", b"1"),
            (b"a", b"\xff", b"b", b"1"),
        ] {
            let mut p = Vec::new();
            put_uvarint(&mut p, 1);
            put_uvarint(&mut p, 9);
            put_uvarint(&mut p, 2);
            for s in [n1, v1, n2, v2] {
                put_uvarint(&mut p, s.len() as u64);
                p.extend_from_slice(s);
            }
            assert!(decode_payload(KIND_SERIES, &p).is_err());
        }
        // Trailing bytes.
        let (_, mut p) = encode_payload(&Record::Samples(vec![]));
        p.push(0);
        assert!(decode_payload(KIND_SAMPLES, &p).is_err());
        assert!(decode_payload(0, &[]).is_err());
        assert!(decode_payload(KIND_OOO_CHUNKS + 1, &[0]).is_err());
        // Chunks and deletes: counts beyond the bytes, empty chunks, empty ranges.
        assert!(decode_payload(KIND_CHUNKS, &[5, 1]).is_err());
        assert!(decode_payload(KIND_CHUNKS, &[1, 7, 1, 0]).is_err());
        assert!(decode_payload(KIND_DELETES, &[1, 7, 4, 2]).is_err());
        assert!(decode_payload(KIND_DELETES, &[1, 7, 2, 4, 0]).is_err());
    }

    #[test]
    fn out_of_order_records_round_trip_under_their_own_kinds() {
        let samples = vec![
            SampleRecord {
                sref: 3,
                t: 100,
                v: 1.5,
            },
            SampleRecord {
                sref: 3,
                t: 50,
                v: -2.0,
            },
        ];
        let chunks = vec![ChunksRecord {
            sref: 9,
            chunks: vec![vec![1, 2, 3]],
        }];
        for r in [Record::OooSamples(samples), Record::OooChunks(chunks)] {
            let frame = encode_record(&r).unwrap();
            assert_eq!(frame[0], r.kind());
            assert!(decode_frame(&frame).unwrap().same_as(&r));
        }
        assert_ne!(KIND_OOO_SAMPLES, KIND_SAMPLES);
        assert_ne!(KIND_OOO_CHUNKS, KIND_CHUNKS);
    }

    #[test]
    fn chunks_and_deletes_round_trip() {
        let recs = [
            Record::Chunks(vec![
                ChunksRecord {
                    sref: 7,
                    chunks: vec![vec![1, 2, 3], vec![4]],
                },
                ChunksRecord {
                    sref: 9,
                    chunks: vec![],
                },
            ]),
            Record::Deletes(vec![
                DeleteRecord {
                    sref: 3,
                    mint: -5,
                    maxt: 5,
                },
                DeleteRecord {
                    sref: u64::MAX,
                    mint: i64::MIN,
                    maxt: i64::MAX,
                },
            ]),
        ];
        for r in &recs {
            let frames = encode_record(r).unwrap();
            assert!(decode_frame(&frames).unwrap().same_as(r));
        }
    }

    #[test]
    fn snappy_bomb_is_rejected_before_allocation() {
        // A valid CRC over a body whose snappy header claims 60 MiB.
        let mut body = Vec::new();
        put_uvarint(&mut body, 60 << 20);
        body.push(0);
        let mut frame = vec![KIND_SAMPLES];
        frame.extend_from_slice(&(body.len() as u32).to_le_bytes());
        let crc = crc32c::crc32c_append(crc32c::crc32c(&frame), &body);
        frame.extend_from_slice(&crc.to_le_bytes());
        frame.extend_from_slice(&body);
        let e = decode_frame(&frame).unwrap_err();
        assert!(e.0.contains("impossible"), "{e}");
    }
}

//! Reading one segment: header check, then frames until the end or the first damage.
//!
//! The reader knows the segment's length up front, so a frame whose header or body would run
//! past the end is recognised as torn before anything is allocated for it.

use std::io::{self, Read};

use super::record::{decode_body, FrameHeader, FRAME_HEADER_LEN};
use super::segment::{check_header, SEGMENT_HEADER_LEN};
use super::Record;

/// Where and why a segment stops being readable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    /// Byte offset of the first bad byte: the start of the bad frame, or 0 for a bad header.
    pub offset: u64,
    /// What was wrong.
    pub reason: String,
}

/// The outcome of reading one segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentScan {
    /// Good records delivered.
    pub records: u64,
    /// Length of the good prefix: the header and every good frame. Equal to the segment's
    /// length when there is no damage.
    pub good_len: u64,
    /// The first damage, if any. Nothing after it was delivered.
    pub damage: Option<Damage>,
}

/// Reads a segment of `len` bytes from `r`, calling `on_record` for each good record in order
/// and stopping at the first damage. Only I/O errors other than a premature end are `Err`.
pub fn scan_segment<R: Read>(
    mut r: R,
    len: u64,
    mut on_record: impl FnMut(Record),
) -> io::Result<SegmentScan> {
    let mut scan = SegmentScan {
        records: 0,
        good_len: 0,
        damage: None,
    };
    let damage = |offset: u64, reason: String| Some(Damage { offset, reason });

    let mut header = [0u8; SEGMENT_HEADER_LEN as usize];
    let hlen = (len.min(SEGMENT_HEADER_LEN)) as usize;
    let header_check = match read_full_io(&mut r, &mut header[..hlen])? {
        Ok(()) => check_header(&header[..hlen]),
        Err(()) => Err("segment ended inside its header".to_string()),
    };
    if let Err(reason) = header_check {
        scan.damage = damage(0, reason);
        return Ok(scan);
    }
    let mut offset = SEGMENT_HEADER_LEN;
    let mut body = Vec::new();
    let mut payload = Vec::new();
    while offset < len {
        let left = len - offset;
        if left < FRAME_HEADER_LEN as u64 {
            scan.damage = damage(
                offset,
                format!("torn record header ({left} of {FRAME_HEADER_LEN} bytes)"),
            );
            break;
        }
        let mut hb = [0u8; FRAME_HEADER_LEN];
        if read_full_io(&mut r, &mut hb)?.is_err() {
            scan.damage = damage(offset, "segment ended inside a record header".to_string());
            break;
        }
        let h = match FrameHeader::parse(&hb) {
            Ok(h) => h,
            Err(e) => {
                scan.damage = damage(offset, e.0);
                break;
            }
        };
        let body_left = left - FRAME_HEADER_LEN as u64;
        if u64::from(h.len) > body_left {
            scan.damage = damage(
                offset,
                format!(
                    "torn record: body of {} bytes but {body_left} left in segment",
                    h.len
                ),
            );
            break;
        }
        body.clear();
        body.resize(h.len as usize, 0);
        if read_full_io(&mut r, &mut body)?.is_err() {
            scan.damage = damage(offset, "segment ended inside a record body".to_string());
            break;
        }
        match decode_body(&h, &body, &mut payload) {
            Ok(rec) => {
                on_record(rec);
                scan.records += 1;
                offset += FRAME_HEADER_LEN as u64 + u64::from(h.len);
            }
            Err(e) => {
                scan.damage = damage(offset, e.0);
                break;
            }
        }
    }
    scan.good_len = match &scan.damage {
        Some(d) => d.offset,
        None => offset,
    };
    Ok(scan)
}

/// Reads a whole segment held in memory (for the fuzz target and tools).
pub fn scan_segment_bytes(data: &[u8], on_record: impl FnMut(Record)) -> SegmentScan {
    match scan_segment(data, data.len() as u64, on_record) {
        Ok(s) => s,
        // Reading from a slice has no I/O errors; a premature end is reported as damage.
        Err(e) => SegmentScan {
            records: 0,
            good_len: 0,
            damage: Some(Damage {
                offset: 0,
                reason: e.to_string(),
            }),
        },
    }
}

/// `read_exact` where a premature end is `Ok(Err(()))` and other failures are `Err`.
fn read_full_io<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<Result<(), ()>> {
    match r.read_exact(buf) {
        Ok(()) => Ok(Ok(())),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(Err(())),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::super::record::encode_record;
    use super::super::segment::segment_header;
    use super::super::SampleRecord;
    use super::*;

    fn segment_with(n: u64) -> (Vec<u8>, Vec<u64>) {
        let mut seg = segment_header().to_vec();
        let mut ends = Vec::new();
        for i in 0..n {
            let r = Record::Samples(vec![SampleRecord {
                sref: i,
                t: i as i64,
                v: 0.5,
            }]);
            seg.extend(encode_record(&r).unwrap());
            ends.push(seg.len() as u64);
        }
        (seg, ends)
    }

    #[test]
    fn clean_segment_reads_fully() {
        let (seg, ends) = segment_with(5);
        let mut n = 0;
        let s = scan_segment_bytes(&seg, |_| n += 1);
        assert_eq!(s.records, 5);
        assert_eq!(n, 5);
        assert_eq!(s.good_len, *ends.last().unwrap());
        assert_eq!(s.damage, None);
    }

    #[test]
    fn every_truncation_keeps_the_good_prefix() {
        let (seg, ends) = segment_with(4);
        for cut in 0..seg.len() {
            let s = scan_segment_bytes(&seg[..cut], |_| {});
            let good = ends.iter().filter(|&&e| e <= cut as u64).count() as u64;
            assert_eq!(s.records, good, "cut at {cut}");
            let expect_len = if cut < SEGMENT_HEADER_LEN as usize {
                0
            } else {
                ends.iter()
                    .copied()
                    .filter(|&e| e <= cut as u64)
                    .max()
                    .unwrap_or(SEGMENT_HEADER_LEN)
            };
            assert_eq!(s.good_len, expect_len, "cut at {cut}");
            let at_boundary = cut as u64 >= SEGMENT_HEADER_LEN && cut as u64 == expect_len;
            assert_eq!(s.damage.is_none(), at_boundary, "cut at {cut}");
        }
    }

    #[test]
    fn zero_filled_tail_is_damage() {
        let (mut seg, ends) = segment_with(2);
        seg.extend([0u8; 100]);
        let s = scan_segment_bytes(&seg, |_| {});
        assert_eq!(s.records, 2);
        assert_eq!(s.good_len, ends[1]);
        assert!(s.damage.unwrap().reason.contains("unknown record kind 0"));
    }
}

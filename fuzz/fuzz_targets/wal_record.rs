//! Fuzz target: arbitrary bytes through every WAL decoder.
//!
//! - as one frame (`decode_record`: header, CRC, snappy, payload);
//! - as an uncompressed payload behind the checksum (`decode_payload`), which random bytes
//!   would otherwise rarely reach; a payload that decodes must survive a round trip through
//!   the encoder and a whole segment;
//! - as a segment file, raw and behind a valid segment header (`scan_segment_bytes`).
//!
//! Every path must return `Err` or damage for bad bytes, never panic or allocate without
//! bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_engine::wal::{
    decode_payload, decode_record, encode_payload, encode_record, scan_segment_bytes,
    segment_header, Record, KIND_CHUNKS, KIND_DELETES, KIND_OOO_CHUNKS, KIND_OOO_SAMPLES,
    KIND_SAMPLES, KIND_SERIES, SEGMENT_HEADER_LEN,
};

fuzz_target!(|data: &[u8]| {
    // Large inputs add nothing the decoders do not see in small ones.
    if data.len() > 1 << 20 {
        return;
    }

    let _ = decode_record(data);

    if let Some((&sel, payload)) = data.split_first() {
        let kinds = [
            KIND_SERIES,
            KIND_SAMPLES,
            KIND_CHUNKS,
            KIND_DELETES,
            KIND_OOO_SAMPLES,
            KIND_OOO_CHUNKS,
        ];
        let kind = kinds[usize::from(sel) % kinds.len()];
        if let Ok(rec) = decode_payload(kind, payload) {
            let (k2, p2) = encode_payload(&rec);
            assert_eq!(k2, kind);
            let again = decode_payload(k2, &p2).expect("a re-encoded payload decodes");
            assert!(rec.same_as(&again), "payload round trip changed the record");

            // Through frames and a segment: the same entries come back, in order.
            let frames = encode_record(&rec).expect("a decoded record re-encodes");
            let mut seg = segment_header().to_vec();
            seg.extend_from_slice(&frames);
            let mut back: Vec<Record> = Vec::new();
            let scan = scan_segment_bytes(&seg, |r| back.push(r));
            assert!(scan.damage.is_none(), "clean segment reported damage");
            assert_eq!(scan.good_len, seg.len() as u64);
            let total: usize = back.iter().map(Record::len).sum();
            assert_eq!(total, rec.len());
            if back.len() == 1 {
                assert!(back[0].same_as(&rec), "frame round trip changed the record");
            }
        }
    }

    let scan = scan_segment_bytes(data, |_| {});
    assert!(scan.good_len <= data.len() as u64);

    let mut seg = segment_header().to_vec();
    seg.extend_from_slice(data);
    let scan = scan_segment_bytes(&seg, |_| {});
    assert!(scan.good_len >= SEGMENT_HEADER_LEN && scan.good_len <= seg.len() as u64);
    assert_eq!(scan.damage.is_none(), scan.good_len == seg.len() as u64);
});

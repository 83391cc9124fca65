//! The remote-write fuzz check shared by the v1 and v2 targets: arbitrary bytes as a snappy
//! body and as raw protobuf must decode to `Ok` or `Err`, never panic or allocate past the
//! limits. Whatever decodes is re-encoded and must decode again to the same series, bit for bit.

use strata_ingest::encode::{self, TimeSeries};
use strata_ingest::{decode, Limits, Protocol};

/// Runs the check for `proto`, re-encoding with `encode_request`.
pub fn check(proto: Protocol, encode_request: fn(&[TimeSeries]) -> Vec<u8>, data: &[u8]) {
    let limits = Limits {
        max_body_bytes: 1 << 20,
        max_decoded_bytes: 4 << 20,
        ..Limits::default()
    };
    // As a (possibly invalid) snappy block.
    let _ = decode(proto, data, &limits, 0);
    // As a protobuf body behind a valid snappy block; a clock at the end of time so that no
    // sample is "in the future" and every decoded sample takes part in the round trip.
    let Ok(first) = decode(proto, &encode::snappy(data), &limits, i64::MAX) else {
        return;
    };
    let series: Vec<TimeSeries> = first
        .series
        .iter()
        .map(|(l, s)| TimeSeries {
            labels: l
                .iter()
                .map(|l| (l.name.to_string(), l.value.to_string()))
                .collect(),
            samples: s.iter().map(|x| (x.t, x.v)).collect(),
        })
        .collect();
    let again = decode(
        proto,
        &encode::snappy(&encode_request(&series)),
        &limits,
        i64::MAX,
    )
    .expect("re-encoded request must decode");
    assert!(again.summary.is_clean(), "{:?}", again.summary.problems);
    assert_eq!(again.series.len(), first.series.len());
    for (a, b) in again.series.iter().zip(&first.series) {
        assert_eq!(a.0, b.0);
        let bits = |s: &[strata_engine::Sample]| -> Vec<(i64, u64)> {
            s.iter().map(|x| (x.t, x.v.to_bits())).collect()
        };
        assert_eq!(bits(&a.1), bits(&b.1));
    }
}

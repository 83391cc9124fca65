//! Text format: arbitrary bytes must parse to `Ok` or `Err` (with a line number), never
//! panic. Whatever parses is rendered back to text and must parse to the same series.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_ingest::encode::{self, TimeSeries};
use strata_ingest::{parse_text, Error, Limits};

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_decoded_bytes: 1 << 20,
        ..Limits::default()
    };
    // Once with a clock at 0 (future-timestamp path), then at the end of time so that every
    // sample takes part in the round trip.
    let _ = parse_text(data, 0, &limits, 0);
    let first = match parse_text(data, 0, &limits, i64::MAX) {
        Ok(p) => p,
        Err(Error::Text { line, .. }) => {
            assert!(line >= 1, "line numbers are 1-based");
            return;
        }
        Err(_) => return,
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
    let text = encode::text_exposition(&series);
    let again = parse_text(text.as_bytes(), 0, &limits, i64::MAX)
        .unwrap_or_else(|e| panic!("rendered text must parse: {e}\n{text}"));
    assert_eq!(again.series.len(), first.series.len());
    for (a, b) in again.series.iter().zip(&first.series) {
        assert_eq!(a.0, b.0);
        assert_eq!(a.1.len(), b.1.len());
        for (x, y) in a.1.iter().zip(&b.1) {
            assert_eq!(x.t, y.t);
            // NaN payloads are not preserved by text; everything else is.
            assert!(x.v.to_bits() == y.v.to_bits() || (x.v.is_nan() && y.v.is_nan()));
        }
    }
});

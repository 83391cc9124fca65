//! Fuzz target: arbitrary bytes as an encoded chunk.
//!
//! Invariants checked (input capped at 64 KiB):
//! - `Chunk::from_bytes` returns `Ok` or `Err`, never panics;
//! - iterating an accepted chunk never panics and ends after at most `num_samples()`
//!   samples; fewer samples only with `err()` set; timestamps strictly increase and lie in
//!   `[min_time, max_time]`;
//! - `seek` agrees with `next`: seeking to each timestamp of a fresh iteration finds it;
//! - the columnar path (`decode_into`) returns the same samples, and fails exactly when
//!   iteration does;
//! - `decode_times_into` never panics, and gives the timestamps of a chunk that decodes;
//! - `decode_after(bound)` never panics, and on a chunk that decodes it returns a suffix of
//!   the samples holding every one after the bound (bounds: before, inside, after the data);
//! - whatever decodes completely re-encodes, with the smallest encoding and with each
//!   encoding (`Encoding::ALL`: Xor, IntDelta, FloatDelta, Blocked), to a chunk that is
//!   accepted by `from_bytes` and decodes to the same samples, bit for bit.
//!
//! Arbitrary bytes reach every encoding through the header's encoding byte (1-4);
//! re-encoding with each encoding feeds valid bodies of each back through the checks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_engine::chunk::{Chunk, Encoding};

const MAX_INPUT: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    if data.len() > MAX_INPUT {
        return;
    }
    let Ok(chunk) = Chunk::from_bytes(data.to_vec()) else {
        return;
    };
    let mut it = chunk.iter();
    let mut ts = Vec::new();
    let mut vs = Vec::new();
    for s in it.by_ref() {
        assert!(ts.len() < chunk.num_samples(), "more samples than the header says");
        if let Some(&prev) = ts.last() {
            assert!(s.t > prev, "timestamps not increasing");
        }
        assert!(s.t >= chunk.min_time() && s.t <= chunk.max_time());
        ts.push(s.t);
        vs.push(s.v);
    }
    let bounds = [
        i64::MIN,
        chunk.min_time(),
        chunk.min_time() / 2 + chunk.max_time() / 2,
        chunk.max_time(),
    ];
    let mut after = Vec::new();
    for b in bounds {
        let (mut ats, mut avs) = (Vec::new(), Vec::new());
        let r = chunk.decode_after(b, &mut ats, &mut avs);
        after.push((b, r.is_ok(), ats, avs));
    }
    let (mut times, mut scratch) = (Vec::new(), Vec::new());
    let times_ok = chunk.decode_times_into(&mut times, &mut scratch).is_ok();
    let (mut cts, mut cvs) = (Vec::new(), Vec::new());
    let columnar = chunk.decode_into(&mut cts, &mut cvs);
    assert_eq!(columnar.is_ok(), it.err().is_none(), "columnar and iteration disagree");
    if it.err().is_some() {
        return;
    }
    assert_eq!(cts, ts, "columnar timestamps differ");
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<u64>>();
    assert_eq!(bits(&cvs), bits(&vs), "columnar values differ");
    assert_eq!(ts.len(), chunk.num_samples(), "short iteration without an error");
    assert!(times_ok, "decode_times_into failed on a chunk that decodes");
    assert_eq!(times, ts, "decode_times_into timestamps");
    for (b, ok, ats, avs) in after {
        assert!(ok, "decode_after({b}) failed on a chunk that decodes");
        let from = ts.len() - ats.len();
        assert_eq!(ats, ts[from..], "decode_after({b}) timestamps");
        assert_eq!(bits(&avs), bits(&vs[from..]), "decode_after({b}) values");
        assert!(ts[..from].iter().all(|&t| t <= b), "decode_after({b}) left out a later sample");
    }

    let mut seeker = chunk.iter();
    for &t in &ts {
        assert_eq!(seeker.seek(t).map(|s| s.t), Some(t));
    }

    let want: Vec<(i64, u64)> = ts.iter().zip(&vs).map(|(&t, v)| (t, v.to_bits())).collect();
    let again = Chunk::encode(&ts, &vs).expect("decoded samples re-encode");
    let back: Vec<(i64, u64)> = again.iter().map(|s| (s.t, s.v.to_bits())).collect();
    assert_eq!(back, want);
    for enc in Encoding::ALL {
        // Only IntDelta may refuse (values that are not short decimals).
        let Ok(c) = Chunk::encode_as(enc, &ts, &vs) else {
            assert_eq!(enc, Encoding::IntDelta);
            continue;
        };
        let c = Chunk::from_bytes(c.as_bytes().to_vec()).expect("re-encoded chunk parses");
        let back: Vec<(i64, u64)> = c.iter().map(|s| (s.t, s.v.to_bits())).collect();
        assert_eq!(back, want, "{enc:?}");
    }
});

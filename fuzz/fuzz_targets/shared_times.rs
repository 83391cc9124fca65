//! Fuzz target: chunks cut into a timestamp part and a value part and joined back (what a
//! block's shared-times records hold, `strata_engine::chunk::shared_times`).
//!
//! The first input byte picks a mode:
//! - even: the rest is split (at the next two bytes) into a timestamp part and a value part;
//!   `join` returns `Ok` or `Err`, never panics, and what it accepts is a chunk that
//!   `Chunk::from_bytes` accepts, that decodes without panicking, and that splits back into
//!   the same two parts;
//! - odd: timestamps and two value series are derived from the input and encoded with each
//!   packed encoding; the two chunks' timestamp parts must be equal, and joining the first
//!   one's timestamps with the second one's values must give the second chunk bit for bit.
//!
//! Inputs are capped at 64 KiB.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_engine::chunk::shared_times::{join, split};
use strata_engine::chunk::{Chunk, Encoding};

const MAX_INPUT: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    if data.len() > MAX_INPUT || data.len() < 3 {
        return;
    }
    if data[0] % 2 == 0 {
        let at = (u16::from_le_bytes([data[1], data[2]]) as usize).min(data.len() - 3);
        let (times, values) = data[3..].split_at(at);
        if let Ok(c) = join(times, values) {
            assert!(Chunk::from_bytes(c.as_bytes().to_vec()).is_ok(), "join accepted an invalid chunk");
            let (mut ts, mut vs) = (Vec::new(), Vec::new());
            let _ = c.decode_into(&mut ts, &mut vs);
            let s = split(c.as_bytes()).expect("a joined chunk splits");
            assert_eq!((s.times.as_slice(), s.values.as_slice()), (times, values));
        }
        return;
    }
    // Three bytes per sample: a gap and two values.
    let mut t = 1_700_000_000_000i64;
    let (mut ts, mut a, mut b) = (Vec::new(), Vec::new(), Vec::new());
    for w in data[1..].chunks_exact(3).take(4000) {
        t += 1 + i64::from(w[0]) * 60;
        ts.push(t);
        a.push(f64::from(w[1]) * 0.25);
        b.push(if w[2] == 255 { f64::NAN } else { f64::from(w[2]) });
    }
    if ts.is_empty() {
        return;
    }
    for enc in [Encoding::IntDelta, Encoding::FloatDelta, Encoding::Blocked] {
        let (Ok(ca), Ok(cb)) = (Chunk::encode_as(enc, &ts, &a), Chunk::encode_as(enc, &ts, &b)) else {
            continue;
        };
        let (sa, sb) = (split(ca.as_bytes()).unwrap(), split(cb.as_bytes()).unwrap());
        assert_eq!(sa.times, sb.times, "timestamp parts differ for equal timestamps");
        let joined = join(&sa.times, &sb.values).expect("parts of valid chunks join");
        assert_eq!(joined.as_bytes(), cb.as_bytes());
    }
});

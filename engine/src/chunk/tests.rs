//! Tests shared by every encoding: round trips, snapshots, seek, corrupt input.

use super::*;
use crate::Sample;
use proptest::prelude::*;

/// Strictly increasing timestamps from arbitrary starts and gaps (including huge ones).
fn timestamps(max: usize) -> impl Strategy<Value = Vec<i64>> {
    (
        any::<i64>(),
        proptest::collection::vec(
            prop_oneof![
                3 => 1u64..5,
                3 => 14_990u64..15_010,
                1 => 1u64..u64::MAX / 4096,
            ],
            0..max,
        ),
    )
        .prop_map(|(start, gaps)| {
            let mut t = start;
            let mut out = vec![t];
            for g in gaps {
                match t.checked_add_unsigned(g) {
                    Some(n) => {
                        t = n;
                        out.push(t);
                    }
                    None => break,
                }
            }
            out
        })
}

fn special_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::from_bits(crate::STALE_NAN_BITS)),
        Just(-0.0),
        Just(0.0),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(f64::NAN),
        Just(f64::MIN_POSITIVE / 3.0),
        Just(f64::MAX),
        Just(9_007_199_254_740_993.0),
        any::<u64>().prop_map(f64::from_bits),
    ]
}

/// Values of every shape: arbitrary bits, integers, short decimals, counters, mixtures.
fn values(n: usize) -> impl Strategy<Value = Vec<f64>> {
    prop_oneof![
        proptest::collection::vec(any::<u64>().prop_map(f64::from_bits), n),
        proptest::collection::vec((-1000i64..1000).prop_map(|x| x as f64), n),
        proptest::collection::vec(any::<i64>().prop_map(|x| x as f64), n),
        proptest::collection::vec(
            (-100_000i64..100_000, 0u32..6).prop_map(|(m, e)| m as f64 / 10f64.powi(e as i32)),
            n
        ),
        proptest::collection::vec(0u64..3, n).prop_map(|d| {
            let mut c = 0.0;
            d.into_iter()
                .map(|x| {
                    c += x as f64;
                    c
                })
                .collect()
        }),
        proptest::collection::vec(
            prop_oneof![8 => (0i64..50).prop_map(|x| x as f64), 1 => special_value()],
            n
        ),
        proptest::collection::vec(special_value(), n),
    ]
}

pub(super) fn samples(max: usize) -> impl Strategy<Value = (Vec<i64>, Vec<f64>)> {
    timestamps(max).prop_flat_map(|ts| {
        let n = ts.len();
        (Just(ts), values(n))
    })
}

fn same(a: &[Sample], ts: &[i64], vs: &[f64]) -> std::result::Result<(), TestCaseError> {
    prop_assert_eq!(a.len(), ts.len());
    for (i, s) in a.iter().enumerate() {
        prop_assert_eq!(s.t, ts[i], "timestamp {}", i);
        prop_assert_eq!(s.v.to_bits(), vs[i].to_bits(), "value {}", i);
    }
    Ok(())
}

/// The checks every encoding must pass on `c`, which holds `ts`/`vs`.
fn check_chunk(c: &Chunk, ts: &[i64], vs: &[f64]) -> std::result::Result<(), TestCaseError> {
    prop_assert_eq!(c.num_samples(), ts.len());
    if let (Some(&a), Some(&b)) = (ts.first(), ts.last()) {
        prop_assert_eq!(c.min_time(), a);
        prop_assert_eq!(c.max_time(), b);
    }
    let mut it = c.iter();
    let got: Vec<Sample> = it.by_ref().collect();
    prop_assert!(it.err().is_none(), "{:?}", it.err());
    same(&got, ts, vs)?;
    // The bytes stand alone.
    let again = Chunk::from_bytes(c.as_bytes().to_vec()).expect("from_bytes of valid chunk");
    prop_assert_eq!(again.encoding(), c.encoding());
    let got: Vec<Sample> = again.iter().collect();
    same(&got, ts, vs)?;
    let (mut cts, mut cvs) = (Vec::new(), Vec::new());
    again.decode_into(&mut cts, &mut cvs).expect("decode_into");
    prop_assert_eq!(&cts, &ts.to_vec());
    let bits: Vec<u64> = cvs.iter().map(|v| v.to_bits()).collect();
    let want: Vec<u64> = vs.iter().map(|v| v.to_bits()).collect();
    prop_assert_eq!(bits, want);
    // decode_into appends after what the vectors already hold.
    c.decode_into(&mut cts, &mut cvs)
        .expect("decode_into again");
    prop_assert_eq!(cts.len(), 2 * ts.len());
    prop_assert_eq!(&cts[ts.len()..], ts);
    // decode_times_into appends exactly the timestamps.
    let (mut tts, mut scratch) = (vec![5], vec![1.0]);
    c.decode_times_into(&mut tts, &mut scratch)
        .expect("decode_times_into");
    prop_assert_eq!(&tts[1..], ts);
    // decode_after appends a suffix of the samples holding every one after its bound
    // (whole blocks before it may be left out), whatever the bound.
    let n = ts.len();
    let mut bounds = vec![i64::MIN, i64::MAX];
    for i in [
        0,
        1,
        n / 3,
        n / 2,
        n.saturating_sub(130),
        n.saturating_sub(2),
        n.saturating_sub(1),
    ] {
        if let Some(&t) = ts.get(i) {
            bounds.extend([t - 1, t, t + 1]);
        }
    }
    for after in bounds {
        let (mut ats, mut avs) = (vec![7], vec![7.0]);
        c.decode_after(after, &mut ats, &mut avs)
            .expect("decode_after");
        let from = n - (ats.len() - 1);
        prop_assert!(ats.len() - 1 <= n);
        prop_assert_eq!(&ats[1..], &ts[from..], "after {}", after);
        let bits: Vec<u64> = avs[1..].iter().map(|v| v.to_bits()).collect();
        let want: Vec<u64> = vs[from..].iter().map(|v| v.to_bits()).collect();
        prop_assert_eq!(bits, want);
        prop_assert!(ts[..from].iter().all(|&t| t <= after), "after {}", after);
        if c.encoding() == Encoding::Blocked && n > 256 && after >= ts[255] {
            prop_assert!(from >= 128, "a block before {} was decoded", after);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// One shared test: every encoding through the same checks.
    #[test]
    fn every_encoding_round_trips((ts, vs) in samples(300)) {
        for enc in Encoding::ALL {
            match Chunk::encode_as(enc, &ts, &vs) {
                Ok(c) => {
                    prop_assert_eq!(c.encoding(), enc);
                    check_chunk(&c, &ts, &vs)?;
                    // The padding rule: whatever follows the chunk (a checksum and the next
                    // chunk in a block file) does not change what decodes.
                    for fill in [0xffu8, 0xa5] {
                        let mut b = c.as_bytes().to_vec();
                        let len = b.len();
                        b.extend(std::iter::repeat_n(fill, PAD + 3));
                        let mapped = Chunk::from_owned(crate::owned_bytes::OwnedBytes::from_vec(b), len)
                            .expect("valid chunk with garbage padding");
                        check_chunk(&mapped, &ts, &vs)?;
                    }
                }
                Err(_) => {
                    // Only IntDelta may refuse, and only non-decimal values.
                    prop_assert_eq!(enc, Encoding::IntDelta);
                    let all_int = vs.iter().all(|v| (*v as i64) as f64 == *v && v.to_bits() != (-0.0f64).to_bits());
                    prop_assert!(!all_int);
                }
            }
        }
        let best = Chunk::encode(&ts, &vs).expect("encode");
        check_chunk(&best, &ts, &vs)?;
        let xor = Chunk::encode_as(Encoding::Xor, &ts, &vs).expect("xor");
        prop_assert!(best.as_bytes().len() <= xor.as_bytes().len());
    }

    #[test]
    fn integer_series_use_int_delta(start in any::<i32>(), steps in proptest::collection::vec(0i64..1000, 16..200)) {
        let ts: Vec<i64> = (0..steps.len() as i64).map(|i| 1_700_000_000_000 + i * 15_000).collect();
        let mut c = i64::from(start);
        let vs: Vec<f64> = steps.iter().map(|d| { c += d; c as f64 }).collect();
        let chunk = Chunk::encode_as(Encoding::IntDelta, &ts, &vs).expect("integers fit IntDelta");
        check_chunk(&chunk, &ts, &vs)?;
        let best = Chunk::encode(&ts, &vs).expect("encode");
        prop_assert_ne!(best.encoding(), Encoding::Xor);
    }

    /// Snapshot mid-chunk, keep appending, snapshot again, seal.
    #[test]
    fn snapshot_then_keep_appending((ts, vs) in samples(300), cut in any::<prop::sample::Index>()) {
        let k = cut.index(ts.len() + 1);
        // Default must behave exactly like new (the head's series state derives Default).
        let mut b = ChunkBuilder::default();
        prop_assert!(b.is_empty());
        prop_assert_eq!(b.snapshot().num_samples(), 0);
        for i in 0..k {
            b.push(ts[i], vs[i]);
        }
        let snap = b.snapshot();
        for i in k..ts.len() {
            b.push(ts[i], vs[i]);
        }
        check_chunk(&snap, &ts[..k], &vs[..k])?;
        prop_assert_eq!(b.len(), ts.len());
        prop_assert_eq!(b.min_time(), ts.first().copied());
        prop_assert_eq!(b.last().map(|s| s.t), ts.last().copied());
        prop_assert!(b.memory_bytes() > 0);
        let full = b.snapshot();
        check_chunk(&full, &ts, &vs)?;
        let sealed = b.seal();
        prop_assert!(b.is_empty());
        check_chunk(&sealed, &ts, &vs)?;
        prop_assert!(sealed.as_bytes().len() <= full.as_bytes().len());
        // The snapshot is unaffected by later appends and by sealing.
        check_chunk(&snap, &ts[..k], &vs[..k])?;
    }

    /// seek(t) returns the first sample >= t not before the current position; forward only.
    #[test]
    fn seek_matches_a_model((ts, vs) in samples(300), ops in proptest::collection::vec((any::<bool>(), any::<i64>(), any::<prop::sample::Index>()), 1..20)) {
        for enc in Encoding::ALL {
            let Ok(c) = Chunk::encode_as(enc, &ts, &vs) else { continue };
            let mut it = c.iter();
            // Model: `pos` = index of the next sample to return; `cur` = last consumed.
            let mut pos = 0usize;
            for &(is_seek, raw, idx) in &ops {
                if is_seek {
                    // Aim near real timestamps half the time.
                    let t = if raw % 2 == 0 { ts[idx.index(ts.len())].wrapping_add(raw % 3 - 1) } else { raw };
                    let want = if pos > 0 && ts[pos - 1] >= t {
                        Some(pos - 1)
                    } else {
                        let j = pos + ts[pos..].partition_point(|&x| x < t);
                        if j < ts.len() { pos = j + 1; Some(j) } else { pos = ts.len(); None }
                    };
                    let got = it.seek(t);
                    prop_assert_eq!(got.map(|s| s.t), want.map(|j| ts[j]));
                    if let (Some(s), Some(j)) = (got, want) {
                        prop_assert_eq!(s.v.to_bits(), vs[j].to_bits());
                    }
                    if want.is_none() { break; }
                } else {
                    let got = it.next();
                    prop_assert_eq!(got.map(|s| s.t), ts.get(pos).copied());
                    if pos < ts.len() { pos += 1; } else { break; }
                }
            }
            prop_assert!(it.err().is_none());
        }
    }

    /// Arbitrary bytes: from_bytes and full iteration never panic and always end.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        decode_all(bytes);
    }

    /// Corrupted valid chunks: flipped bits, truncation, appended bytes.
    #[test]
    fn corrupted_chunks_never_panic((ts, vs) in samples(150), flips in proptest::collection::vec(any::<prop::sample::Index>(), 1..4), cut in any::<prop::sample::Index>()) {
        for enc in Encoding::ALL {
            let Ok(c) = Chunk::encode_as(enc, &ts, &vs) else { continue };
            let good = c.as_bytes().to_vec();
            let mut bad = good.clone();
            for f in &flips {
                let bit = f.index(bad.len() * 8);
                bad[bit / 8] ^= 1 << (bit % 8);
            }
            decode_all(bad);
            decode_all(good[..cut.index(good.len())].to_vec());
            let mut longer = good.clone();
            longer.push(0);
            decode_all(longer);
        }
    }
}

/// Whatever `from_bytes` accepts iterates without panicking, within the header's promises.
fn decode_all(bytes: Vec<u8>) {
    if let Ok(c) = Chunk::from_bytes(bytes) {
        let mut it = c.iter();
        let mut ts: Vec<i64> = Vec::new();
        for s in it.by_ref() {
            assert!(ts.len() < c.num_samples());
            assert!(ts.last().is_none_or(|&p| s.t > p));
            assert!(s.t >= c.min_time() && s.t <= c.max_time());
            ts.push(s.t);
        }
        if it.err().is_none() {
            assert_eq!(ts.len(), c.num_samples());
            let mut seeker = c.iter();
            for &t in &ts {
                assert_eq!(seeker.seek(t).map(|s| s.t), Some(t));
            }
        }
        // The columnar path returns the same samples and fails exactly when iteration does.
        let (mut cts, mut cvs) = (Vec::new(), Vec::new());
        let res = c.decode_into(&mut cts, &mut cvs);
        assert_eq!(res.is_ok(), it.err().is_none());
        assert_eq!(cvs.len(), cts.len());
        if res.is_ok() {
            assert_eq!(cts, ts);
        }
        let mut it = c.iter();
        let _ = it.seek(c.min_time().wrapping_add(1));
        let _ = it.next();
    }
}

#[test]
fn special_values_survive_every_encoding() {
    let vs = [
        f64::from_bits(crate::STALE_NAN_BITS),
        -0.0,
        0.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::from_bits(0x7ff8_dead_beef_0001),
        f64::from_bits(1),
        f64::MAX,
        9_007_199_254_740_993.0,
        2f64.powi(62),
    ];
    let ts: Vec<i64> = (0..vs.len() as i64).map(|i| -5 + i * 7).collect();
    for enc in Encoding::ALL {
        if let Ok(c) = Chunk::encode_as(enc, &ts, &vs) {
            let got: Vec<u64> = c.iter().map(|s| s.v.to_bits()).collect();
            let want: Vec<u64> = vs.iter().map(|v| v.to_bits()).collect();
            assert_eq!(got, want, "{enc:?}");
        }
    }
}

#[test]
fn stale_marker_at_the_end_is_a_patch() {
    let ts: Vec<i64> = (0..120).map(|i| 1_700_000_000_000 + i * 15_000).collect();
    let mut vs: Vec<f64> = (0..120).map(|i| (1000 + i * 3) as f64).collect();
    vs[119] = crate::stale_nan();
    let c = Chunk::encode(&ts, &vs).expect("encode");
    assert_eq!(c.encoding(), Encoding::IntDelta);
    assert!(c.as_bytes().len() < 40, "{} bytes", c.as_bytes().len());
    assert!(crate::is_stale(c.iter().last().expect("samples").v));
}

#[test]
fn bad_input_is_an_error() {
    // A chunk without room for its padding is refused, not read out of bounds.
    let c = Chunk::encode(&[1, 2], &[1.0, 2.0]).unwrap();
    let b = c.as_bytes().to_vec();
    let len = b.len();
    assert!(Chunk::from_owned(crate::owned_bytes::OwnedBytes::from_vec(b), len).is_err());

    assert!(Chunk::encode(&[1, 1], &[0.0, 0.0]).is_err());
    assert!(Chunk::encode(&[1, 2], &[0.0]).is_err());
    assert!(Chunk::from_bytes(vec![]).is_err());
    assert!(Chunk::from_bytes(vec![9, 0]).is_err());
    // Header claiming more samples than allowed.
    assert!(Chunk::from_bytes(vec![2, 0xff, 0xff, 0x7f, 0, 0]).is_err());
    // Zero-width columns must not let a tiny chunk claim a huge count beyond the limit,
    // and within it iteration is bounded by the count.
    let c = Chunk::encode(&(0..1000).collect::<Vec<i64>>(), &[1.0; 1000]).expect("encode");
    // (Blocked: a header per column, then two bytes per column for each of 8 blocks.)
    assert_eq!(c.encoding(), Encoding::Blocked);
    assert!(
        c.as_bytes().len() <= 12 + 8 * 4,
        "{} bytes",
        c.as_bytes().len()
    );
    assert_eq!(c.iter().count(), 1000);
    let c = Chunk::encode_as(
        Encoding::IntDelta,
        &(0..1000).collect::<Vec<i64>>(),
        &[1.0; 1000],
    )
    .expect("encode");
    assert!(c.as_bytes().len() < 24);
    assert_eq!(c.iter().count(), 1000);
    let empty = ChunkBuilder::new().seal();
    assert_eq!(empty.num_samples(), 0);
    assert_eq!(empty.iter().count(), 0);
    let again = Chunk::from_bytes(empty.as_bytes().to_vec()).expect("empty chunk parses");
    assert_eq!(again.iter().next(), None);
}

/// `decode_after` on long `Blocked` chunks whose skipped blocks hold patches (NaN, stale
/// markers, a huge value among decimals) and whose value columns have running sums
/// (counters, gauges that wander): the samples after the bound are exact, and blocks that
/// end by then are left out.
#[test]
fn decode_after_skips_blocks_with_patches_and_running_sums() {
    let n = 700;
    let ts: Vec<i64> = (0..n as i64)
        .map(|i| 1_700_000_000_000 + i * 15_000 + (i * 7919 % 13) * 10)
        .collect();
    let shapes: [Box<dyn Fn(usize) -> f64>; 3] = [
        Box::new(|i| (i * 3 + i % 7) as f64),
        Box::new(|i| ((i as f64) * 0.37).sin().mul_add(50.0, 100.0).round() / 10.0),
        Box::new(|i| (i * i % 1000) as f64 * 0.25),
    ];
    for (k, shape) in shapes.iter().enumerate() {
        let mut vs: Vec<f64> = (0..n).map(shape).collect();
        for &i in &[5, 130, 131, 300, 512] {
            vs[i] = f64::NAN;
        }
        vs[200] = crate::stale_nan();
        vs[260] = 1e300;
        let c = Chunk::encode_as(Encoding::Blocked, &ts, &vs).expect("encode");
        for after in [
            ts[0] - 1,
            ts[127],
            ts[128],
            ts[300],
            ts[511],
            ts[512],
            ts[n - 1],
        ] {
            let (mut ats, mut avs) = (Vec::new(), Vec::new());
            c.decode_after(after, &mut ats, &mut avs)
                .expect("decode_after");
            let from = n - ats.len();
            assert_eq!(&ats[..], &ts[from..], "shape {k} after {after}");
            let got: Vec<u64> = avs.iter().map(|v| v.to_bits()).collect();
            let want: Vec<u64> = vs[from..].iter().map(|v| v.to_bits()).collect();
            assert_eq!(got, want, "shape {k} after {after}");
            assert!(ts[..from].iter().all(|&t| t <= after));
            // Blocks of 128 whose last sample is at or before the bound.
            let skipped: usize = ts
                .chunks(128)
                .take_while(|b| b[b.len() - 1] <= after)
                .map(<[i64]>::len)
                .sum();
            assert_eq!(from, skipped, "shape {k} after {after}");
        }
    }
}

#[test]
fn a_chunk_handle_stays_narrow() {
    // The head holds one per sealed chunk: bytes view (40) + header fields (32).
    assert!(
        std::mem::size_of::<Chunk>() <= 72,
        "{}",
        std::mem::size_of::<Chunk>()
    );
}

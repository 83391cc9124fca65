//! Block round trips and damage: what is written is read back exactly; damaged bytes are
//! an error naming the section, never a panic or a wrong answer.

use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;

use super::meta::Compaction;
use super::writer::BlockWriter;
use super::Block;
use crate::chunk::{Chunk, ChunkSummary};
use crate::labels::{Labels, SymbolTable};
use crate::matcher::Matcher;
use crate::Sample;

type Data = BTreeMap<Labels, Vec<Vec<Sample>>>;

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        6 => (0i64..10_000).prop_map(|x| x as f64),
        2 => any::<f64>(),
        1 => Just(f64::NAN),
        1 => Just(crate::stale_nan()),
    ]
}

/// Series with 1..4 chunks each of 1..150 samples, labels from small alphabets so that
/// postings are shared. About half of the chunks take the timestamps of a chunk generated
/// before (when it starts after the series' previous chunk), half of those its values too,
/// so that blocks share records and timestamps; some series have an `le` label, so that
/// buckets of one histogram with the same timestamps are stored as bands.
fn data() -> impl Strategy<Value = Data> {
    let series = (
        0u8..4,
        0u8..6,
        proptest::option::of(0u8..3),
        proptest::option::of(0usize..4),
        proptest::collection::vec(
            (
                proptest::collection::vec((1i64..40_000, value()), 1..150),
                proptest::option::weighted(0.5, (any::<prop::sample::Index>(), any::<bool>())),
            ),
            1..4,
        ),
    );
    proptest::collection::vec(series, 1..40).prop_map(|v| {
        let mut out = Data::new();
        let mut pool: Vec<Vec<Sample>> = Vec::new();
        for (name, job, env, le, chunks) in v {
            let mut pairs = vec![
                ("__name__".to_string(), format!("m{name}")),
                ("job".to_string(), format!("j{job}")),
            ];
            if let Some(e) = env {
                pairs.push(("env".to_string(), format!("e{e}")));
            }
            if let Some(le) = le {
                pairs.push(("le".to_string(), ["0.5", "1", "10", "+Inf"][le].to_string()));
            }
            let labels = Labels::from_pairs(&pairs).unwrap();
            let mut t = 1_000_000i64;
            let cs: Vec<Vec<Sample>> = chunks
                .into_iter()
                .map(|(c, copy)| {
                    t += 1_000;
                    if let Some((src, values)) = copy
                        .filter(|_| !pool.is_empty())
                        .map(|(i, v)| (i.get(&pool), v))
                    {
                        if src[0].t > t {
                            t = src[src.len() - 1].t;
                            if values {
                                return src.clone();
                            }
                            // The same timestamps with this chunk's own values.
                            let own = c.iter().map(|x| x.1).cycle();
                            return src
                                .iter()
                                .zip(own)
                                .map(|(s, v)| Sample::new(s.t, v))
                                .collect();
                        }
                    }
                    c.into_iter()
                        .map(|(g, v)| {
                            t += g;
                            Sample::new(t, v)
                        })
                        .collect()
                })
                .collect();
            pool.extend(cs.iter().cloned());
            if let Some(le) = le {
                // The buckets above it, over the same timestamps: its values plus a band
                // that grows with the sample index (NaN and non-integers stay as they are
                // or fail to add back exactly, so they are stored plainly).
                for j in le + 1..4 {
                    let up = labels.with("le", ["0.5", "1", "10", "+Inf"][j]);
                    let upper: Vec<Vec<Sample>> = cs
                        .iter()
                        .map(|c| {
                            c.iter()
                                .enumerate()
                                .map(|(i, x)| Sample::new(x.t, x.v + ((j - le) * (i % 3)) as f64))
                                .collect()
                        })
                        .collect();
                    out.entry(up).or_insert(upper);
                }
            }
            out.insert(labels, cs);
        }
        out
    })
}

/// Writes `d` as a compacted (level 2) block, the level that stores buckets as bands.
fn write(dir: &std::path::Path, d: &Data) -> super::meta::BlockMeta {
    write_level(dir, d, 2)
}

fn write_level(dir: &std::path::Path, d: &Data, level: u32) -> super::meta::BlockMeta {
    let syms = d.keys().flat_map(|l| {
        l.iter()
            .flat_map(|l| [l.name.clone(), l.value.clone()])
            .collect::<Vec<_>>()
    });
    let compaction = Compaction {
        level,
        ..Compaction::default()
    };
    let mut w = BlockWriter::create(dir, 999_000, 100_000_000, syms, compaction).unwrap();
    for (labels, chunks) in d {
        let cs: Vec<Chunk> = chunks
            .iter()
            .map(|c| {
                let ts: Vec<i64> = c.iter().map(|s| s.t).collect();
                let vs: Vec<f64> = c.iter().map(|s| s.v).collect();
                Chunk::encode(&ts, &vs).unwrap()
            })
            .collect();
        w.add_series(labels, &cs).unwrap();
    }
    w.finish().unwrap().expect("a block")
}

/// Writes `d` as a block of `level` in `dir` and opens it; also returns the bytes of its
/// first chunk segment.
fn written(dir: &std::path::Path, d: &Data, level: u32) -> (Block, Vec<u8>) {
    let meta = write_level(dir, d, level);
    let bdir = dir.join(&meta.ulid);
    let b = Block::open(&bdir, &Arc::new(SymbolTable::default())).unwrap();
    (b, std::fs::read(bdir.join("chunks/000001")).unwrap())
}

/// The first chunk byte (an encoding, `SHARED_TIMES` or `BAND`) of the record at `r` in
/// the segment bytes `seg`, whose records have length prefixes of one or two bytes.
fn record_kind(seg: &[u8], r: u64) -> u8 {
    let off = (r & 0xffff_ffff) as usize;
    let at = if seg[off] & 0x80 != 0 {
        off + 2
    } else {
        off + 1
    };
    seg[at]
}

fn bits(s: &[Sample]) -> Vec<(i64, u64)> {
    s.iter().map(|x| (x.t, x.v.to_bits())).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn blocks_round_trip(d in data(), job in 0u8..6) {
        let dir = tempfile::tempdir().unwrap();
        let meta = write(dir.path(), &d);
        let b = Block::open(&dir.path().join(&meta.ulid), &Arc::new(SymbolTable::default())).unwrap();
        prop_assert_eq!(b.meta(), &meta);
        prop_assert_eq!(meta.stats.num_series as usize, d.len());
        let got = b.select(&[], i64::MIN, i64::MAX).unwrap();
        prop_assert_eq!(got.len(), d.len());
        for (s, (labels, chunks)) in got.iter().zip(&d) {
            prop_assert_eq!(&s.labels, labels);
            prop_assert_eq!(s.chunks.len(), chunks.len());
            // Positioned reads (compaction's path) give the same chunks as the map.
            let refs: Vec<u64> = s.chunks.iter().map(|m| m.chunk_ref).collect();
            let copies = b.chunks_copied(&refs).unwrap();
            for ((m, c), want) in s.chunks.iter().zip(&copies).zip(chunks) {
                let mapped = b.chunk(m.chunk_ref).unwrap();
                prop_assert_eq!(c.as_bytes(), mapped.as_bytes());
                // The query path decodes the record's samples without a chunk.
                let (mut ts, mut vs) = (Vec::new(), Vec::new());
                b.decode_chunk(m.chunk_ref, i64::MIN, false, &mut ts, &mut vs).unwrap();
                let got: Vec<Sample> = ts.iter().zip(&vs).map(|(&t, &v)| Sample::new(t, v)).collect();
                prop_assert_eq!(bits(&got), bits(want));
                ts.clear();
                b.decode_chunk(m.chunk_ref, i64::MIN, true, &mut ts, &mut vs).unwrap();
                prop_assert_eq!(ts, want.iter().map(|s| s.t).collect::<Vec<_>>());
            }
            for (m, want) in s.chunks.iter().zip(chunks) {
                let c = b.chunk(m.chunk_ref).unwrap();
                prop_assert_eq!((c.min_time(), c.max_time()), (m.min_time, m.max_time));
                prop_assert_eq!(m.num_samples as usize, want.len());
                let samples: Vec<Sample> = c.iter().collect();
                prop_assert_eq!(bits(&samples), bits(want));
                let ts: Vec<i64> = want.iter().map(|s| s.t).collect();
                let vs: Vec<f64> = want.iter().map(|s| s.v).collect();
                prop_assert_eq!(m.summary, ChunkSummary::compute(&ts, &vs));
            }
        }
        // Matchers select the same series as filtering the model.
        let j = format!("j{job}");
        let sel = b.select(&[Matcher::equal("job", &j)], i64::MIN, i64::MAX).unwrap();
        let want: Vec<&Labels> = d.keys().filter(|l| l.get("job") == Some(j.as_str())).collect();
        prop_assert_eq!(sel.iter().map(|s| &s.labels).collect::<Vec<_>>(), want);
        let sel = b.select(&[Matcher::new(crate::MatchOp::NotRegex, "env", "e1|e2").unwrap()], i64::MIN, i64::MAX).unwrap();
        let want: Vec<&Labels> = d.keys().filter(|l| !matches!(l.get("env"), Some("e1") | Some("e2"))).collect();
        prop_assert_eq!(sel.iter().map(|s| &s.labels).collect::<Vec<_>>(), want);
        // A time range keeps only the chunks overlapping it.
        let (lo, hi) = (1_020_000, 1_400_000);
        for s in b.select(&[], lo, hi).unwrap() {
            prop_assert!(s.chunks.iter().all(|c| c.max_time >= lo && c.min_time <= hi));
        }
    }

    /// `select_known` names a series by its place in the caller's sorted label sets when it
    /// is there (whether or not the strings are the shared copies) and reads its labels
    /// otherwise; chunks are the same as `select_within`'s.
    #[test]
    fn select_known_finds_known_series(
        d in data(),
        other in data(),
        keep in proptest::collection::vec(any::<bool>(), 40),
        interned in any::<bool>(),
        job in proptest::option::of(0u8..6),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let meta = write(dir.path(), &d);
        let syms = Arc::new(SymbolTable::default());
        let b = Block::open(&dir.path().join(&meta.ulid), &syms).unwrap();
        // Some of the block's series and some that are not in it.
        let mut known: Vec<Labels> = d.keys().zip(&keep).filter(|x| *x.1).map(|x| x.0.clone()).collect();
        known.extend(other.keys().filter(|l| !d.contains_key(*l)).cloned());
        known.sort();
        if interned {
            known = known.iter().map(|l| syms.intern_labels(l)).collect();
        }
        let refs: Vec<&Labels> = known.iter().collect();
        let m: Vec<Matcher> = job.map(|j| Matcher::equal("job", format!("j{j}"))).into_iter().collect();
        let plain = b.select_within(&m, i64::MIN, i64::MAX, None).unwrap();
        // Twice: the second read finds the values in the block's cache.
        for _ in 0..2 {
            let got = b.select_known(&m, i64::MIN, i64::MAX, None, &refs).unwrap();
            prop_assert_eq!(got.len(), plain.len());
            for ((at, s), p) in got.iter().zip(&plain) {
                match at {
                    Some(i) => {
                        prop_assert_eq!(&known[*i], &p.labels);
                        prop_assert!(s.labels.is_empty());
                    }
                    None => {
                        prop_assert_eq!(&s.labels, &p.labels);
                        prop_assert!(!known.contains(&p.labels));
                    }
                }
                prop_assert_eq!(s.sref, p.sref);
                prop_assert_eq!(
                    s.chunks.iter().map(|c| c.chunk_ref).collect::<Vec<_>>(),
                    p.chunks.iter().map(|c| c.chunk_ref).collect::<Vec<_>>()
                );
            }
        }
    }

    /// Any single flipped byte in the index or a chunk segment is detected: opening fails,
    /// or reading what it hit fails; nothing panics and nothing decodes differently.
    #[test]
    fn flipped_bytes_are_detected(d in data(), at in any::<prop::sample::Index>(), in_index in any::<bool>(), mask in 1u8..=255) {
        let dir = tempfile::tempdir().unwrap();
        let meta = write(dir.path(), &d);
        let bdir = dir.path().join(&meta.ulid);
        let file = if in_index { bdir.join("index") } else { bdir.join("chunks/000001") };
        let mut bytes = std::fs::read(&file).unwrap();
        let i = at.index(bytes.len());
        bytes[i] ^= mask;
        std::fs::write(&file, &bytes).unwrap();
        let Ok(b) = Block::open(&bdir, &Arc::new(SymbolTable::default())) else { return Ok(()) };
        let Ok(got) = b.select(&[], i64::MIN, i64::MAX) else { return Ok(()) };
        // Whatever still reads must be exactly what was written (checksums caught the rest).
        for s in &got {
            let Some(chunks) = d.get(&s.labels) else {
                prop_assert!(false, "unknown series {} read from a damaged block", s.labels);
                unreachable!()
            };
            for (m, want) in s.chunks.iter().zip(chunks) {
                if let Ok(c) = b.chunk(m.chunk_ref) {
                    let samples: Vec<Sample> = c.iter().collect();
                    prop_assert_eq!(bits(&samples), bits(want));
                }
                if let Ok(c) = b.chunks_copied(&[m.chunk_ref]) {
                    let samples: Vec<Sample> = c[0].iter().collect();
                    prop_assert_eq!(bits(&samples), bits(want));
                }
            }
        }
    }
}

/// Identical chunks of different series are stored once where each series' references
/// still increase, and written again where they would not; both read back exactly.
#[test]
fn identical_chunks_share_records() {
    let chunk = |t0: i64, v: f64| -> Vec<Sample> {
        (0..120).map(|i| Sample::new(t0 + i * 15_000, v)).collect()
    };
    let (a1, a2, own) = (
        chunk(1_000_000, 1.0),
        chunk(3_000_000, 1.0),
        chunk(1_000_000, 7.0),
    );
    let l = |n: &str| Labels::from_pairs(&[("__name__", n)]).unwrap();
    let mut d = Data::new();
    d.insert(l("a"), vec![a1.clone(), a2.clone()]);
    // Both chunks equal a's: both shared.
    d.insert(l("b"), vec![a1.clone(), a2.clone()]);
    // Its first chunk is its own (written after a's records), so its copy of a's second
    // chunk cannot point back before it: stored again (as its values, with the timestamps
    // of a's record).
    d.insert(l("c"), vec![own.clone(), a2.clone()]);
    // Shares both of a's records.
    d.insert(l("d"), vec![a1.clone(), a2.clone()]);
    let dir = tempfile::tempdir().unwrap();
    let meta = write(dir.path(), &d);
    let b = Block::open(
        &dir.path().join(&meta.ulid),
        &Arc::new(SymbolTable::default()),
    )
    .unwrap();
    let got = b.select(&[], i64::MIN, i64::MAX).unwrap();
    let refs: Vec<Vec<u64>> = got
        .iter()
        .map(|s| s.chunks.iter().map(|m| m.chunk_ref).collect())
        .collect();
    assert_eq!(refs[1], refs[0], "b shares both of a's records");
    assert!(refs[2][1] > refs[2][0], "c stores a's second chunk again");
    assert_eq!(refs[3], refs[0], "d shares both of a's records");
    assert_eq!(meta.stats.num_chunks, 8);
    let records: std::collections::BTreeSet<u64> = refs.iter().flatten().copied().collect();
    assert_eq!(records.len(), 4);
    for (s, want) in got.iter().zip(d.values()) {
        let copies = b
            .chunks_copied(&refs[got.iter().position(|x| x.labels == s.labels).unwrap()])
            .unwrap();
        for ((m, w), c) in s.chunks.iter().zip(want).zip(copies) {
            let mapped: Vec<Sample> = b.chunk(m.chunk_ref).unwrap().iter().collect();
            assert_eq!(bits(&mapped), bits(w));
            assert_eq!(bits(&c.iter().collect::<Vec<_>>()), bits(w));
        }
    }
}

/// Chunks of different series with the same timestamps store them once: the later ones
/// as shared-times records, read back (mapped and copied) exactly.
#[test]
fn chunks_share_timestamps() {
    let l = |n: &str| Labels::from_pairs(&[("__name__", n)]).unwrap();
    let mut d = Data::new();
    for (k, name) in ["a", "b", "c"].iter().enumerate() {
        // A Blocked chunk (300 samples) and a packed head-sized one (100), jittered alike.
        let chunk = |t0: i64, n: i64| -> Vec<Sample> {
            (0..n)
                .map(|i| Sample::new(t0 + i * 15_000 + (i * 7) % 5, (i * (k as i64 + 1)) as f64))
                .collect()
        };
        d.insert(l(name), vec![chunk(1_000_000, 300), chunk(6_000_000, 100)]);
    }
    let dir = tempfile::tempdir().unwrap();
    let (b, seg) = written(dir.path(), &d, 2);
    let kind = |r: u64| record_kind(&seg, r);
    let got = b.select(&[], i64::MIN, i64::MAX).unwrap();
    let mut plain = 0;
    for (i, (s, want)) in got.iter().zip(d.values()).enumerate() {
        for (m, w) in s.chunks.iter().zip(want) {
            assert_eq!(
                kind(m.chunk_ref) == super::chunks::SHARED_TIMES,
                i > 0,
                "series {i}"
            );
            let c = b.chunk(m.chunk_ref).unwrap();
            assert_eq!(bits(&c.iter().collect::<Vec<_>>()), bits(w));
            let ts: Vec<i64> = w.iter().map(|s| s.t).collect();
            let vs: Vec<f64> = w.iter().map(|s| s.v).collect();
            assert_eq!(c.as_bytes(), Chunk::encode(&ts, &vs).unwrap().as_bytes());
            plain += c.as_bytes().len();
        }
        let refs: Vec<u64> = s.chunks.iter().map(|m| m.chunk_ref).collect();
        for (c, w) in b.chunks_copied(&refs).unwrap().iter().zip(want) {
            assert_eq!(bits(&c.iter().collect::<Vec<_>>()), bits(w));
        }
    }
    assert!(
        seg.len() < plain * 3 / 4,
        "{} bytes stored for {plain}",
        seg.len()
    );
}

#[test]
fn truncated_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = Data::new();
    d.insert(
        Labels::from_pairs(&[("__name__", "up")]).unwrap(),
        vec![vec![
            Sample::new(1_000_001, 1.0),
            Sample::new(1_000_002, 1.0),
        ]],
    );
    let meta = write(dir.path(), &d);
    let bdir = dir.path().join(&meta.ulid);
    for f in ["index", "chunks/000001"] {
        let p = bdir.join(f);
        let orig = std::fs::read(&p).unwrap();
        for cut in [0, 4, orig.len() / 2, orig.len() - 1] {
            std::fs::write(&p, &orig[..cut]).unwrap();
            let r = Block::open(&bdir, &Arc::new(SymbolTable::default()));
            assert!(r.is_err(), "{f} cut at {cut} opened");
            let msg = r.unwrap_err().to_string();
            assert!(msg.contains(&bdir.display().to_string()), "{msg}");
        }
        std::fs::write(&p, &orig).unwrap();
    }
    assert!(Block::open(&bdir, &Arc::new(SymbolTable::default())).is_ok());
}

/// The buckets of classic histograms with the same timestamps are stored as band records
/// (differences to a neighbouring bucket) in compacted blocks and read back exactly through
/// every path; the same data without a numeric `le`, or in a block cut from the head, takes
/// more room.
#[test]
fn histogram_buckets_stored_as_bands() {
    let les = ["0.1", "0.5", "1", "5", "+Inf", "2.5"];
    let make = |le_name: &str| -> Data {
        let mut d = Data::new();
        for h in 0..3i64 {
            for (k, le) in les.iter().enumerate() {
                let l = Labels::from_pairs(&[
                    ("__name__", "req_bucket"),
                    ("h", &format!("h{h}")),
                    (le_name, le),
                ])
                .unwrap();
                // Cumulative counts: bucket k holds the observations of bands 0..=k, bands
                // growing at different paces; a Blocked chunk (300) and a Column one (100).
                let upper = if *le == "+Inf" {
                    5
                } else if *le == "2.5" {
                    4
                } else {
                    k as i64
                };
                let chunk = |t0: i64, n: i64| -> Vec<Sample> {
                    (0..n)
                        .map(|i| {
                            let v: i64 = (0..=upper).map(|j| (i * (j + h + 1) * 7) / 10).sum();
                            Sample::new(t0 + i * 15_000 + (i * 7) % 5, v as f64)
                        })
                        .collect()
                };
                d.insert(l, vec![chunk(1_000_000, 300), chunk(6_000_000, 100)]);
            }
        }
        d
    };
    let read_back = |d: &Data, level: u32| -> (usize, usize) {
        let dir = tempfile::tempdir().unwrap();
        let (b, seg) = written(dir.path(), d, level);
        let kind = |r: u64| record_kind(&seg, r);
        let got = b.select(&[], i64::MIN, i64::MAX).unwrap();
        let mut bands = 0;
        for (s, want) in got.iter().zip(d.values()) {
            let refs: Vec<u64> = s.chunks.iter().map(|m| m.chunk_ref).collect();
            let copies = b.chunks_copied(&refs).unwrap();
            for ((m, w), copy) in s.chunks.iter().zip(want).zip(&copies) {
                bands += usize::from(kind(m.chunk_ref) == super::bands::BAND);
                let c = b.chunk(m.chunk_ref).unwrap();
                assert_eq!(bits(&c.iter().collect::<Vec<_>>()), bits(w), "{}", s.labels);
                assert_eq!(bits(&copy.iter().collect::<Vec<_>>()), bits(w));
                let (mut ts, mut vs) = (Vec::new(), Vec::new());
                b.decode_chunk(m.chunk_ref, i64::MIN, false, &mut ts, &mut vs)
                    .unwrap();
                let dec: Vec<Sample> = ts
                    .iter()
                    .zip(&vs)
                    .map(|(&t, &v)| Sample::new(t, v))
                    .collect();
                assert_eq!(bits(&dec), bits(w));
            }
        }
        (bands, seg.len())
    };
    let (bands, with) = read_back(&make("le"), 2);
    // Per histogram and chunk range, the first bucket written (`+Inf`, the first in label
    // order) has no bucket before it to be a band of.
    assert!(bands >= 3 * 2 * 4, "{bands} band records");
    let (none, without) = read_back(&make("bound"), 2);
    assert_eq!(none, 0);
    assert!(
        with < without * 9 / 10,
        "{with} bytes with bands, {without} without"
    );
    // Blocks cut from the head (level 1) are written without bands.
    let (none, head_cut) = read_back(&make("le"), 1);
    assert_eq!((none, head_cut), (0, without));
}

//! Persistent blocks as an embedding user sees them: data moving from the head into blocks
//! and being compacted, restarts, retention, deletes, snapshots, churn, damage, and
//! read-only opening. A model (what was acknowledged, minus what was deleted) is compared
//! with what queries return after every step.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;
use strata_engine::block::meta::Compaction;
use strata_engine::block::writer::BlockWriter;
use strata_engine::chunk::{Chunk, ChunkSummary, Encoding};
use strata_engine::{
    is_stale, stale_nan, Batch, Db, Error, Labels, MatchOp, Matcher, Options, RejectReason, Sample,
    Sym,
};

const MIN: i64 = 60_000;

fn opts(block_range: i64) -> Options {
    Options {
        block_range,
        retention: None,
        background: false,
        ..Options::default()
    }
}

fn series(job: &str, i: usize) -> Labels {
    Labels::from_pairs(&[("__name__", "m"), ("i", &i.to_string()), ("job", job)]).unwrap()
}

type Model = BTreeMap<Labels, BTreeMap<i64, u64>>;

fn read_all(db: &Db, mint: i64, maxt: i64) -> Model {
    let plain = read_with(db, mint, maxt, None);
    // Asking for whole series spans (series summaries) reads the same samples.
    let whole = read_with(db, mint, maxt, Some((mint.saturating_sub(1), maxt)));
    assert_eq!(plain, whole, "reading with series spans changed the data");
    plain
}

fn read_with(db: &Db, mint: i64, maxt: i64, within: Option<(i64, i64)>) -> Model {
    let mut out = Model::new();
    for s in db
        .querier(mint, maxt)
        .select_within(&[Matcher::equal("__name__", "m")], within)
        .unwrap()
    {
        let samples = s.try_samples().unwrap();
        let it: Vec<Sample> = s.samples();
        assert_eq!(samples.len(), it.len(), "iterator and decode_into agree");
        // The timestamps-only read gives exactly the non-stale samples' timestamps.
        let (mut live, mut scratch) = (vec![-1], Vec::new());
        s.decode_live_times(&mut live, &mut scratch).unwrap();
        let want: Vec<i64> = std::iter::once(-1)
            .chain(samples.iter().filter(|x| !is_stale(x.v)).map(|x| x.t))
            .collect();
        assert_eq!(live, want, "{}: decode_live_times", s.labels);
        let m = out.entry(s.labels.clone()).or_default();
        for x in samples {
            assert!(
                m.insert(x.t, x.v.to_bits()).is_none(),
                "{}: sample at {} twice",
                s.labels,
                x.t
            );
        }
    }
    out
}

fn model_range(m: &Model, mint: i64, maxt: i64) -> Model {
    m.iter()
        .map(|(l, s)| {
            (
                l.clone(),
                s.range(mint..=maxt)
                    .map(|(t, v)| (*t, *v))
                    .collect::<BTreeMap<_, _>>(),
            )
        })
        .filter(|(_, s)| !s.is_empty())
        .collect()
}

/// Appends `n` scrapes of `k` series every 15 s from `t0`; returns the next scrape time.
fn scrape(db: &Db, model: &mut Model, job: &str, k: usize, t0: i64, n: i64) -> i64 {
    let mut t = t0;
    for _ in 0..n {
        let mut b = Batch::new();
        for i in 0..k {
            let v = if (t / 15_000 + i as i64) % 97 == 0 {
                stale_nan()
            } else {
                (t / 1000 + i as i64) as f64
            };
            b.push(series(job, i), vec![Sample::new(t, v)]);
            model
                .entry(series(job, i))
                .or_default()
                .insert(t, v.to_bits());
        }
        let r = db.append(&b).unwrap();
        assert_eq!(r.rejected(), 0, "{:?}", r.first_rejection);
        t += 15_000;
    }
    t
}

#[test]
fn head_cuts_checkpoints_and_restarts_keep_every_sample() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts(2 * 3600 * 1000)).unwrap();
    let mut model = Model::new();
    // 10 h of 15 s scrapes for 30 series.
    let end = scrape(&db, &mut model, "api", 30, 0, 2400);
    let r = db.maintain().unwrap();
    assert!(r.head_blocks >= 3, "{r:?}");
    let st = db.stats();
    let (lo, hi) = (st.min_time.unwrap(), st.max_time.unwrap());
    assert!(
        hi - lo <= 3 * 3600 * 1000,
        "head spans at most 1.5 block ranges: {lo}..{hi}"
    );
    // 2 h blocks [0, 8 h); the three in [0, 6 h) are compacted into one 6 h block.
    assert!(st.blocks >= 2 && st.block_samples > 0, "{st:?}");
    assert_eq!(read_all(&db, i64::MIN, i64::MAX), model);
    // A window across the head/block boundary, and one inside a block.
    for (a, b) in [
        (lo - 3_600_000, lo + 600_000),
        (1_000_000, 2_000_000),
        (lo, hi),
    ] {
        assert_eq!(read_all(&db, a, b), model_range(&model, a, b), "[{a}, {b}]");
    }
    // The WAL was checkpointed: its segments before the cut are gone.
    let wal_files: Vec<String> = std::fs::read_dir(dir.path().join("wal"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        wal_files.iter().any(|f| f.starts_with("checkpoint.")),
        "{wal_files:?}"
    );
    assert!(!wal_files.iter().any(|f| f == "00000001"), "{wal_files:?}");
    // More data, then a restart: head from checkpoint + WAL, blocks from disk.
    let end = scrape(&db, &mut model, "api", 30, end, 100);
    db.close().unwrap();
    let db = Db::open(dir.path(), opts(2 * 3600 * 1000)).unwrap();
    assert!(db.replay_report().damage.is_none());
    assert!(db.replay_report().checkpoint.is_some());
    assert_eq!(read_all(&db, i64::MIN, i64::MAX), model);
    // Appending goes on; older than the head's bound is refused as out of bounds.
    scrape(&db, &mut model, "api", 30, end, 10);
    let mut b = Batch::new();
    b.push(series("api", 0), vec![Sample::new(1000, 1.0)]);
    let r = db.append(&b).unwrap();
    assert_eq!(r.too_old, 1);
    assert_eq!(r.first_rejection.unwrap().0, RejectReason::TooOld);
    assert_eq!(RejectReason::TooOld.as_str(), "out of bounds");
    assert_eq!(read_all(&db, i64::MIN, i64::MAX), model);
}

#[test]
fn sealed_head_chunks_live_in_files_of_the_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let files_dir = dir.path().join("head_chunks");
    std::fs::create_dir_all(&files_dir).unwrap();
    std::fs::write(files_dir.join("00000009"), b"left by a crashed process").unwrap();
    let files = || -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&files_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let db = Db::open(dir.path(), opts(2 * 3600 * 1000)).unwrap();
    assert!(
        files().is_empty(),
        "an earlier process' files are deleted at open"
    );
    let mut model = Model::new();
    // 3.5 h of 15 s scrapes: every series seals chunks of 120 samples.
    let end = scrape(&db, &mut model, "api", 40, 0, 840);
    let st = db.stats();
    assert!(st.chunk_bytes > 0, "{st:?}");
    assert_eq!(st.chunk_files.failures, 0);
    assert_eq!(st.chunk_files.files as usize, files().len());
    assert!(st.chunk_files.bytes >= st.chunk_bytes, "{st:?}");
    assert_eq!(read_all(&db, i64::MIN, i64::MAX), model);
    // A head cut reads them back into a block; the head goes on from its files.
    let r = db.maintain().unwrap();
    assert!(r.head_blocks >= 1, "{r:?}");
    let end = scrape(&db, &mut model, "api", 40, end, 300);
    assert_eq!(read_all(&db, i64::MIN, i64::MAX), model);
    // A flush moves the whole head into blocks: no chunk file is left holding dead chunks.
    db.flush().unwrap();
    assert_eq!(db.stats().chunk_files.bytes, 0);
    assert!(files().is_empty(), "{:?}", files());
    let end = scrape(&db, &mut model, "api", 40, end, 300);
    assert_eq!(read_all(&db, i64::MIN, i64::MAX), model);
    db.close().unwrap();
    assert!(files().is_empty(), "a closed head deletes its files");
    // After a restart the WAL (checkpoint chunks and samples) is replayed into new files.
    let db = Db::open(dir.path(), opts(2 * 3600 * 1000)).unwrap();
    assert!(db.stats().chunk_files.bytes > 0);
    assert_eq!(read_all(&db, i64::MIN, i64::MAX), model);
    scrape(&db, &mut model, "api", 40, end, 10);
    assert_eq!(read_all(&db, i64::MIN, i64::MAX), model);
    // A reader opening the directory read-only keeps its head on its own heap.
    let ro = Db::open_read_only(dir.path(), true).unwrap();
    assert_eq!(ro.stats().chunk_files.files, 0);
    assert_eq!(read_all(&ro, i64::MIN, i64::MAX), model);
}

/// Checks the chunks a querier hands out for the head over `[mint, maxt]`: every summary
/// is the summary of the chunk's samples (so none describes samples a reader does not see),
/// each series' last head chunk (the open chunk's snapshot) has none, and every other head
/// chunk has one, except, with `bare = Some((i, t))`, the chunks of series `i` that end
/// before `t` (rewritten on the heap by a delete when `t` was the next append time).
/// Returns how many head chunks carried one.
fn check_head_summaries(
    db: &Db,
    mint: i64,
    maxt: i64,
    bare: Option<(&str, i64)>,
    what: &str,
) -> usize {
    let mut with = 0;
    for s in db
        .querier(mint, maxt)
        .select(&[Matcher::equal("__name__", "m")])
        .unwrap()
    {
        let head: Vec<_> = s.chunks().iter().filter(|c| !c.is_persisted()).collect();
        let i = s.labels.get("i").unwrap_or_default().to_string();
        for (k, c) in head.iter().enumerate() {
            let (mut ts, mut vs) = (Vec::new(), Vec::new());
            c.decode_into(&mut ts, &mut vs).unwrap();
            assert_eq!(ts.len(), c.num_samples(), "{what}");
            if let Some(got) = c.summary() {
                assert_eq!(
                    *got,
                    ChunkSummary::compute(&ts, &vs),
                    "{what}: {} chunk {k}",
                    s.labels
                );
                with += 1;
            }
            let open = k + 1 == head.len();
            let rewritten = bare.is_some_and(|(b, t)| b == i && c.max_time() < t);
            let want = !open && !rewritten;
            assert_eq!(
                c.summary().is_some(),
                want,
                "{what}: {} head chunk {k} of {}",
                s.labels,
                head.len()
            );
        }
    }
    with
}

/// Sealed head chunks carry the summaries their chunk files hold, through appends, a head
/// cut, a delete (which rewrites its series' chunks without them) and a restart (whose
/// replayed checkpoint chunks get theirs computed again).
#[test]
fn sealed_head_chunks_carry_the_summaries_of_their_samples() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts(2 * 3600 * 1000)).unwrap();
    let mut model = Model::new();
    // 3.5 h of 15 s scrapes of counters with resets, NaN values and stale markers.
    let scrape_counters = |db: &Db, model: &mut Model, t0: i64, n: i64| -> i64 {
        let mut t = t0;
        for _ in 0..n {
            let mut b = Batch::new();
            for i in 0..12usize {
                let k = t / 15_000 + i as i64;
                let v = match k % 101 {
                    13 => stale_nan(),
                    29 if i % 3 == 0 => f64::NAN,
                    _ => ((k % (150 + 40 * i as i64)) * 3) as f64,
                };
                b.push(series("api", i), vec![Sample::new(t, v)]);
                model
                    .entry(series("api", i))
                    .or_default()
                    .insert(t, v.to_bits());
            }
            assert_eq!(db.append(&b).unwrap().rejected(), 0);
            t += 15_000;
        }
        t
    };
    let end = scrape_counters(&db, &mut model, 0, 840);
    let all = (i64::MIN / 4, i64::MAX / 4);
    let n = check_head_summaries(&db, all.0, all.1, None, "appends");
    assert!(n >= 12 * 5, "{n}");
    assert_eq!(read_all(&db, i64::MIN, i64::MAX), model);
    // A delete rewrites the chunks of the series it touches, on the heap, without summaries
    // (the chunks it seals afterwards go into files again).
    db.delete_series(&[Matcher::equal("i", "3")], 3_600_000, 3_700_000)
        .unwrap();
    for t in (3_600_000..=3_700_000).step_by(15_000) {
        model.get_mut(&series("api", 3)).unwrap().remove(&t);
    }
    check_head_summaries(&db, all.0, all.1, Some(("3", end)), "a delete");
    assert_eq!(read_all(&db, i64::MIN, i64::MAX), model);
    // A cut moves the first 2 h into a block and writes a checkpoint of the head.
    let r = db.maintain().unwrap();
    assert!(r.head_blocks >= 1, "{r:?}");
    let deleted_at = end;
    let end = scrape_counters(&db, &mut model, end, 200);
    check_head_summaries(&db, all.0, all.1, Some(("3", deleted_at)), "a cut");
    assert_eq!(read_all(&db, i64::MIN, i64::MAX), model);
    // After a restart the checkpoint's chunks and the WAL's samples are in new files, with
    // summaries (the deleted series' chunks too: the checkpoint holds them as rewritten).
    db.close().unwrap();
    let db = Db::open(dir.path(), opts(2 * 3600 * 1000)).unwrap();
    assert!(db.replay_report().checkpoint.is_some());
    let n = check_head_summaries(&db, all.0, all.1, None, "a restart");
    assert!(n >= 12 * 3, "{n}");
    assert_eq!(read_all(&db, i64::MIN, i64::MAX), model);
    scrape_counters(&db, &mut model, end, 10);
    assert_eq!(read_all(&db, i64::MIN, i64::MAX), model);
}

#[test]
fn flush_and_compaction_to_completion() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts(10 * MIN)).unwrap();
    let mut model = Model::new();
    let end = scrape(&db, &mut model, "api", 10, 0, 600); // 150 min
    db.flush().unwrap();
    let st = db.stats();
    assert_eq!(st.samples, 0, "the head is empty after a flush");
    assert!(st.min_time.is_none());
    // 150 min in 10 min blocks compacts into 30 min (3x) and 120 min (12x) blocks.
    let ranges: Vec<i64> = db
        .blocks()
        .iter()
        .map(|b| b.meta().max_time - b.meta().min_time)
        .collect();
    assert!(
        ranges.iter().all(|&r| r > 10 * MIN || ranges.len() == 1),
        "{ranges:?}"
    );
    assert!(db.blocks().len() <= 3, "{ranges:?}");
    for b in db.blocks() {
        assert!(b.meta().compaction.level >= 2 || ranges.len() == 1);
    }
    assert_eq!(read_all(&db, i64::MIN, i64::MAX), model);
    // The compacted blocks' directories are gone, renamed and removed whole (nothing left
    // under a temporary name).
    let mut listed: Vec<String> = std::fs::read_dir(dir.path().join("blocks"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    listed.sort();
    let mut live: Vec<String> = db.blocks().iter().map(|b| b.ulid().to_string()).collect();
    live.sort();
    assert_eq!(listed, live);
    // Newer data goes on after the flushed range.
    scrape(&db, &mut model, "api", 10, end, 5);
    db.close().unwrap();
    // A deletion cut short by a crash (renamed, not yet removed) is cleared at the next open.
    let doomed = dir
        .path()
        .join("blocks")
        .join(format!("{}.deleted.tmp", live[0]));
    std::fs::create_dir_all(doomed.join("chunks")).unwrap();
    let db = Db::open(dir.path(), opts(10 * MIN)).unwrap();
    assert!(!doomed.exists());
    assert_eq!(read_all(&db, i64::MIN, i64::MAX), model);
}

/// 26 h of 15 s scrapes of 12 series shaped like real exporters (jitter, late scrapes,
/// counter resets, float sums, page-sized gauges, NaN, -0.0 and staleness markers).
fn exporter_day(db: &Db, model: &mut Model) {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = move |m: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % m
    };
    let mut counters = [0u64; 4];
    let mut sums = [0f64; 4];
    for round in 0..26 * 240i64 {
        let late = if rnd(500) == 0 {
            1000 + rnd(3000) as i64
        } else {
            0
        };
        let t = 1_700_000_000_000 + round * 15_000 + rnd(7) as i64 + late;
        let mut b = Batch::new();
        for i in 0..12usize {
            let v = match i {
                0..=3 => {
                    counters[i] = if rnd(3000) == 0 {
                        0
                    } else {
                        counters[i] + rnd(200)
                    };
                    counters[i] as f64
                }
                4..=7 => {
                    sums[i - 4] += rnd(1 << 20) as f64 / 7.0e5;
                    sums[i - 4]
                }
                8 => ((64 << 20) + rnd(1000) * 4096) as f64,
                9 => [f64::NAN, -0.0, 1.5, 0.25][(round % 4) as usize],
                10 if round % 1000 == 999 => stale_nan(),
                _ => 1.0,
            };
            b.push(series("exp", i), vec![Sample::new(t, v)]);
            model
                .entry(series("exp", i))
                .or_default()
                .insert(t, v.to_bits());
        }
        let r = db.append(&b).unwrap();
        assert_eq!(r.rejected(), 0, "{:?}", r.first_rejection);
    }
}

/// Compaction re-encodes series into long `Blocked` chunks (the default
/// `compaction_chunk_samples`): every sample survives bit for bit, chunks respect the
/// length, and the blocks are smaller than with the head's chunks (80 to 160 samples) kept.
#[test]
fn compaction_writes_long_chunks_losslessly() {
    let mut bytes = Vec::new();
    for chunk_samples in [strata_engine::DEFAULT_COMPACTION_CHUNK_SAMPLES, 0] {
        let dir = tempfile::tempdir().unwrap();
        let o = Options {
            compaction_chunk_samples: chunk_samples,
            ..opts(2 * 3600 * 1000)
        };
        let db = Db::open(dir.path(), o).unwrap();
        let mut model = Model::new();
        exporter_day(&db, &mut model);
        db.flush().unwrap();
        assert_eq!(read_all(&db, i64::MIN, i64::MAX), model);
        let (mut long, mut blocked) = (0, 0);
        for b in db.blocks() {
            for r in b.all_series().unwrap() {
                for m in b.series(r).unwrap().1 {
                    let c = b.chunk(m.chunk_ref).unwrap();
                    assert_eq!(c.num_samples(), m.num_samples as usize);
                    if chunk_samples > 0 {
                        assert!(c.num_samples() <= chunk_samples);
                    } else {
                        assert!(c.num_samples() <= 160);
                    }
                    // Longer than any head chunk.
                    let is_long = c.num_samples() > 160;
                    long += usize::from(is_long);
                    blocked += usize::from(is_long && c.encoding() == Encoding::Blocked);
                }
            }
        }
        if chunk_samples > 0 {
            assert!(
                long > 0 && blocked == long,
                "{long} long, {blocked} of them blocked"
            );
        } else {
            assert_eq!(long, 0);
        }
        // A short window inside a compacted block reads exactly its samples.
        let (a, b) = (
            1_700_000_000_000 + 13 * 3_600_000,
            1_700_000_000_000 + 14 * 3_600_000,
        );
        assert_eq!(read_all(&db, a, b), model_range(&model, a, b));
        bytes.push(db.stats().block_bytes);
        db.close().unwrap();
    }
    assert!(
        bytes[0] * 10 < bytes[1] * 9,
        "long chunks: {} bytes, head chunks: {} bytes",
        bytes[0],
        bytes[1]
    );
}

/// Writes a block of `labels` -> samples straight into `<dir>/blocks` (as backfill would).
fn backfill(dir: &Path, data: &[(Labels, Vec<Sample>)], mint: i64, maxt: i64) {
    let blocks = dir.join("blocks");
    std::fs::create_dir_all(&blocks).unwrap();
    let syms = data.iter().flat_map(|(l, _)| {
        l.iter()
            .flat_map(|l| [l.name.clone(), l.value.clone()])
            .collect::<Vec<_>>()
    });
    let mut w = BlockWriter::create(&blocks, mint, maxt, syms, Compaction::default()).unwrap();
    let mut data = data.to_vec();
    data.sort_by(|a, b| a.0.cmp(&b.0));
    for (l, s) in &data {
        let ts: Vec<i64> = s.iter().map(|x| x.t).collect();
        let vs: Vec<f64> = s.iter().map(|x| x.v).collect();
        let chunks: Vec<Chunk> = ts
            .chunks(50)
            .zip(vs.chunks(50))
            .map(|(t, v)| Chunk::encode(t, v).unwrap())
            .collect();
        w.add_series(l, &chunks).unwrap();
    }
    w.finish().unwrap().unwrap();
}

#[test]
fn overlapping_blocks_merge_with_exact_duplicates_removed() {
    let dir = tempfile::tempdir().unwrap();
    let a: Vec<Sample> = (0..200).map(|k| Sample::new(k * 1000, k as f64)).collect();
    // Overlaps a over [100 s, 200 s) with the same samples, and extends it to 300 s.
    let b: Vec<Sample> = (100..300)
        .map(|k| Sample::new(k * 1000, k as f64))
        .collect();
    let other: Vec<Sample> = (0..10).map(|k| Sample::new(k * 7000, 1.0)).collect();
    backfill(
        dir.path(),
        &[(series("x", 0), a), (series("x", 1), other.clone())],
        0,
        200_000,
    );
    backfill(dir.path(), &[(series("x", 0), b)], 100_000, 300_000);
    let db = Db::open(dir.path(), opts(2 * 3600 * 1000)).unwrap();
    assert_eq!(db.blocks().len(), 2);
    let check = |db: &Db| {
        let got = read_all(db, i64::MIN, i64::MAX);
        let s0: Vec<i64> = got[&series("x", 0)].keys().copied().collect();
        assert_eq!(s0, (0..300).map(|k| k * 1000).collect::<Vec<_>>());
        assert!(got[&series("x", 0)]
            .iter()
            .all(|(t, v)| f64::from_bits(*v) == (*t / 1000) as f64));
        assert_eq!(got[&series("x", 1)].len(), other.len());
    };
    check(&db);
    let q = db.querier(i64::MIN, i64::MAX);
    let sel = q.select(&[Matcher::equal("i", "0")]).unwrap();
    assert!(sel[0].is_overlapping());
    // Compaction merges the overlapping blocks into one.
    let r = db.maintain().unwrap();
    assert_eq!(r.compactions, 1);
    assert_eq!(db.blocks().len(), 1);
    assert_eq!(db.blocks()[0].meta().compaction.parents.len(), 2);
    check(&db);
    // The readers' old snapshot still reads the deleted source blocks.
    assert_eq!(sel[0].try_samples().unwrap().len(), 300);
    drop(db);
    let db = Db::open(dir.path(), opts(2 * 3600 * 1000)).unwrap();
    check(&db);
}

#[test]
fn query_across_head_and_blocks_equals_one_compacted_block() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts(10 * MIN)).unwrap();
    let mut model = Model::new();
    scrape(&db, &mut model, "api", 20, 0, 400);
    db.maintain().unwrap();
    assert!(db.blocks().len() >= 2);
    assert!(db.stats().samples > 0, "some data is still in the head");
    let windows = [
        (0, i64::MAX),
        (30 * MIN, 70 * MIN),
        (95 * MIN, 100 * MIN + 7),
    ];
    let before: Vec<Model> = windows.iter().map(|&(a, b)| read_all(&db, a, b)).collect();
    db.flush().unwrap();
    assert_eq!(
        db.blocks().len(),
        1,
        "compacted to completion into one block"
    );
    for (i, &(a, b)) in windows.iter().enumerate() {
        assert_eq!(read_all(&db, a, b), before[i]);
        assert_eq!(before[i], model_range(&model, a, b));
    }
}

#[test]
fn retention_drops_whole_blocks_by_time_and_by_size() {
    let dir = tempfile::tempdir().unwrap();
    let o = Options {
        retention: Some(60 * MIN),
        ..opts(10 * MIN)
    };
    let db = Db::open(dir.path(), o.clone()).unwrap();
    let mut model = Model::new();
    scrape(&db, &mut model, "api", 5, 0, 1200); // 300 min
    db.maintain().unwrap();
    let newest = db.stats().max_time.unwrap();
    for b in db.blocks() {
        assert!(
            b.meta().max_time > newest - 60 * MIN,
            "{:?} is past retention",
            b.meta()
        );
    }
    let oldest = db.blocks().iter().map(|b| b.meta().min_time).min().unwrap();
    let got = read_all(&db, i64::MIN, i64::MAX);
    assert_eq!(got, model_range(&model, oldest, i64::MAX));
    assert!(
        db.counters()
            .retention_deletions
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
    );
    drop(db);
    // By size: keep at most ~one block's worth.
    let one = strata_engine::Db::open(dir.path(), o.clone())
        .unwrap()
        .blocks()[0]
        .size();
    let sized = Options {
        retention_size: Some(one * 2 + 4096),
        ..o
    };
    let db = Db::open(dir.path(), sized).unwrap();
    db.maintain().unwrap();
    let total: u64 = db.blocks().iter().map(|b| b.size()).sum::<u64>() + db.stats().wal_bytes;
    assert!(
        total <= one * 2 + 4096 || db.blocks().is_empty(),
        "{total} bytes kept"
    );
    // What is left is the newest data.
    let newest_block = db.blocks().iter().map(|b| b.meta().max_time).max();
    assert!(newest_block.is_none_or(|t| t >= newest - 60 * MIN));
}

#[test]
fn deletes_in_head_and_blocks_survive_restart_and_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts(10 * MIN)).unwrap();
    let mut model = Model::new();
    scrape(&db, &mut model, "api", 4, 0, 200);
    scrape(&db, &mut model, "web", 4, 0, 200);
    db.maintain().unwrap();
    assert!(!db.blocks().is_empty());
    let (mint, maxt) = (5 * MIN, 45 * MIN);
    let r = db
        .delete_series(&[Matcher::equal("job", "api")], mint, maxt)
        .unwrap();
    assert!(r.block_series > 0 && r.head_series > 0, "{r:?}");
    for (l, s) in model.iter_mut() {
        if l.get("job") == Some("api") {
            s.retain(|t, _| *t < mint || *t > maxt);
        }
    }
    assert_eq!(read_all(&db, i64::MIN, i64::MAX), model);
    assert!(db.delete_series(&[], 0, 1).is_err());
    db.close().unwrap();
    let db = Db::open(dir.path(), opts(10 * MIN)).unwrap();
    assert_eq!(read_all(&db, i64::MIN, i64::MAX), model, "after restart");
    assert!(db.blocks().iter().any(|b| !b.tombstones().is_empty()));
    assert!(db.clean_tombstones().unwrap() > 0);
    assert!(db.blocks().iter().all(|b| b.tombstones().is_empty()));
    assert_eq!(
        read_all(&db, i64::MIN, i64::MAX),
        model,
        "after clean_tombstones"
    );
    db.flush().unwrap();
    assert_eq!(read_all(&db, i64::MIN, i64::MAX), model, "after compaction");
}

#[test]
fn snapshot_links_blocks_and_writes_the_head() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts(10 * MIN)).unwrap();
    let mut model = Model::new();
    scrape(&db, &mut model, "api", 5, 0, 200);
    db.maintain().unwrap();
    let snap = db.snapshot(Some("s1"), true).unwrap();
    assert!(snap.starts_with(dir.path().join("snapshots")));
    assert!(db.snapshot(Some("s1"), true).is_err(), "names are unique");
    assert!(db.snapshot(Some("../x"), true).is_err());
    // The snapshot is a data directory of its own holding everything.
    let copy = tempfile::tempdir().unwrap();
    std::fs::rename(&snap, copy.path().join("blocks")).unwrap();
    let sdb = Db::open_read_only(copy.path(), false).unwrap();
    assert_eq!(read_all(&sdb, i64::MIN, i64::MAX), model);
    // Hard links: the block files share inodes with the originals.
    use std::os::unix::fs::MetadataExt;
    let b = &db.blocks()[0];
    let linked = copy.path().join("blocks").join(b.ulid()).join("index");
    assert_eq!(
        std::fs::metadata(linked).unwrap().ino(),
        std::fs::metadata(b.dir().join("index")).unwrap().ino()
    );
}

#[test]
fn churned_series_leave_the_head_and_the_symbol_table() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts(10 * MIN)).unwrap();
    // Every 5 minutes a new generation of 200 "pods" replaces the previous one.
    let mut t = 0;
    for gen in 0..40 {
        for _ in 0..20 {
            let mut b = Batch::new();
            for p in 0..200 {
                let pod = format!("pod-{gen}-{p}");
                b.push(
                    Labels::from_pairs(&[("__name__", "m"), ("pod", &pod)]).unwrap(),
                    vec![Sample::new(t, 1.0)],
                );
            }
            db.append(&b).unwrap();
            t += 15_000;
        }
        db.maintain().unwrap();
    }
    let st = db.stats();
    // The head holds at most the generations of its last 1.5 block ranges (~6 of 40).
    assert!(st.series <= 200 * 8, "{} series in the head", st.series);
    assert!(st.symbols <= 200 * 8 + 10, "{} symbols", st.symbols);
    assert!(
        db.counters()
            .series_removed
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 200 * 30
    );
    // The removed series are still readable from blocks.
    let all = db
        .querier(i64::MIN, i64::MAX)
        .series_labels(&[Matcher::equal("__name__", "m")])
        .unwrap();
    assert_eq!(all.len(), 200 * 40);
    // And a series that comes back after removal is a new head series with its old data intact.
    let back = Labels::from_pairs(&[("__name__", "m"), ("pod", "pod-0-0")]).unwrap();
    let mut b = Batch::new();
    b.push(back.clone(), vec![Sample::new(t, 2.0)]);
    assert_eq!(db.append(&b).unwrap().appended, 1);
    let s = db
        .querier(i64::MIN, i64::MAX)
        .select(&[Matcher::equal("pod", "pod-0-0")])
        .unwrap();
    assert_eq!(s[0].samples().len(), 21);
}

#[test]
fn damaged_blocks_are_moved_aside_and_the_rest_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = Model::new();
    {
        let db = Db::open(dir.path(), opts(10 * MIN)).unwrap();
        scrape(&db, &mut model, "api", 5, 0, 400);
        db.maintain().unwrap();
        assert!(db.blocks().len() >= 2);
    }
    let mut blocks: Vec<_> = std::fs::read_dir(dir.path().join("blocks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    blocks.sort();
    // Damage one block's index header (found at open) and another's chunks (found when read).
    std::fs::write(blocks[0].join("index"), b"garbage").unwrap();
    let seg = blocks[1].join("chunks/000001");
    let mut bytes = std::fs::read(&seg).unwrap();
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 64] {
        *b ^= 0x5a;
    }
    std::fs::write(&seg, &bytes).unwrap();
    let db = Db::open(dir.path(), opts(10 * MIN)).unwrap();
    assert!(dir
        .path()
        .join("corrupted")
        .join(blocks[0].file_name().unwrap())
        .exists());
    assert_eq!(
        db.counters()
            .corrupted_blocks
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    // Reading the damaged chunks is an error naming the block, never wrong data.
    let res: Result<Vec<_>, Error> = db
        .querier(i64::MIN, i64::MAX)
        .select(&[Matcher::equal("__name__", "m")])
        .unwrap()
        .iter()
        .map(|s| s.try_samples())
        .collect();
    let err = res.unwrap_err();
    assert!(
        err.to_string().contains(&blocks[1].display().to_string()),
        "{err}"
    );
    // The next maintenance pass moves it aside; everything else still reads.
    assert_eq!(db.maintain().unwrap().moved_aside, 1);
    assert!(dir
        .path()
        .join("corrupted")
        .join(blocks[1].file_name().unwrap())
        .exists());
    let got = read_all(&db, i64::MIN, i64::MAX);
    let lost: i64 = [&blocks[0], &blocks[1]].len() as i64;
    assert!(lost == 2 && !got.is_empty());
    for (l, s) in &got {
        for (t, v) in s {
            assert_eq!(model[l][t], *v);
        }
    }
}

#[test]
fn read_only_opening() {
    let missing = tempfile::tempdir().unwrap().path().join("nope");
    let e = Db::open_read_only(&missing, true).err().unwrap();
    assert!(matches!(e, Error::NotFound(_)));
    assert!(e.to_string().contains("does not exist"), "{e}");
    assert!(!missing.exists(), "nothing was created");

    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts(10 * MIN)).unwrap();
    let mut model = Model::new();
    let end = scrape(&db, &mut model, "api", 5, 0, 300);
    db.maintain().unwrap();
    scrape(&db, &mut model, "api", 5, end, 10);
    // The writer holds the lock; a second writer is refused with a readable sentence.
    let locked = Db::open(dir.path(), opts(10 * MIN)).err().unwrap();
    let msg = locked.to_string();
    assert!(msg.contains("locked by another Strata process"), "{msg}");
    // Debug (what `main` returning `Result` prints) is the same sentence.
    assert_eq!(format!("{locked:?}"), msg);
    // A reader needs no lock and sees blocks plus the WAL's head.
    let ro = Db::open_read_only(dir.path(), true).unwrap();
    assert!(ro.is_read_only());
    assert_eq!(read_all(&ro, i64::MIN, i64::MAX), model);
    let mut b = Batch::new();
    b.push(series("api", 0), vec![Sample::new(end + 1_000_000, 1.0)]);
    assert!(matches!(ro.append(&b), Err(Error::ReadOnly)));
    assert!(matches!(ro.flush(), Err(Error::ReadOnly)));
    // Without the head: only what is in blocks.
    let blocks_only = Db::open_read_only(dir.path(), false).unwrap();
    let bound = db.blocks().iter().map(|b| b.meta().max_time).max().unwrap();
    assert_eq!(
        read_all(&blocks_only, i64::MIN, i64::MAX),
        model_range(&model, i64::MIN, bound - 1)
    );
}

#[test]
fn read_only_reader_sees_consistent_data_while_the_writer_compacts() {
    let dir = tempfile::tempdir().unwrap();
    let writer = Arc::new(
        Db::open(
            dir.path(),
            Options {
                background: true,
                ..opts(MIN)
            },
        )
        .unwrap(),
    );
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let w = writer.clone();
    let s = stop.clone();
    let acked = Arc::new(std::sync::atomic::AtomicI64::new(-1));
    let a = acked.clone();
    let feeder = std::thread::spawn(move || {
        let mut t = 0i64;
        while !s.load(std::sync::atomic::Ordering::Relaxed) {
            let mut b = Batch::new();
            for i in 0..20 {
                b.push(series("live", i), vec![Sample::new(t, t as f64)]);
            }
            w.append(&b).unwrap();
            a.store(t, std::sync::atomic::Ordering::SeqCst);
            t += 1000;
            // A block range of data every ~60 ms: a cut, a checkpoint and often a
            // compaction several times a second (a real server cuts every 2 h).
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    });
    let mut checks = 0;
    // Until the writer has cut blocks and several reads were checked (bounded in time; a
    // loaded machine only makes it take longer).
    let cuts = |w: &Db| {
        w.counters()
            .head_cuts
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while std::time::Instant::now() < deadline && (checks < 30 || cuts(&writer) < 10) {
        let before = acked.load(std::sync::atomic::Ordering::SeqCst);
        let ro = Db::open_read_only(dir.path(), true).unwrap();
        let got = ro
            .querier(i64::MIN, i64::MAX)
            .select(&[Matcher::equal("job", "live")])
            .unwrap();
        if before < 0 {
            continue;
        }
        assert_eq!(got.len(), 20);
        for s in &got {
            let ts: Vec<i64> = s.try_samples().unwrap().iter().map(|x| x.t).collect();
            // Every acknowledged sample up to `before` is there, once, without gaps.
            let want: Vec<i64> = (0..=before / 1000).map(|k| k * 1000).collect();
            assert_eq!(&ts[..want.len().min(ts.len())], &want[..], "{}", s.labels);
            assert!(
                ts.len() >= want.len(),
                "{}: {} of {} samples",
                s.labels,
                ts.len(),
                want.len()
            );
            assert!(
                ts.windows(2).all(|w| w[1] == w[0] + 1000),
                "{}: gap or duplicate",
                s.labels
            );
        }
        checks += 1;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    feeder.join().unwrap();
    assert!(checks >= 3);
    assert!(
        writer
            .counters()
            .head_cuts
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0,
        "the writer cut blocks meanwhile"
    );
}

#[derive(Clone, Debug)]
enum Op {
    Scrape { job: u8, n: u8, gap: u8 },
    Maintain,
    Flush,
    Reopen,
    Delete { job: u8, from: u16, len: u16 },
    Clean,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u8..3, 1u8..60, 0u8..3).prop_map(|(job, n, gap)| Op::Scrape { job, n, gap }),
        2 => Just(Op::Maintain),
        1 => Just(Op::Flush),
        2 => Just(Op::Reopen),
        1 => (0u8..3, any::<u16>(), 1u16..400).prop_map(|(job, from, len)| Op::Delete { job, from, len }),
        1 => Just(Op::Clean),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Any sequence of appends, cuts, flushes, restarts, deletes and cleanups reads back
    /// exactly what was acknowledged and not deleted.
    #[test]
    fn model_checked_lifecycle(ops in proptest::collection::vec(op(), 1..25)) {
        let dir = tempfile::tempdir().unwrap();
        let o = opts(5 * MIN);
        let mut db = Some(Db::open(dir.path(), o.clone()).unwrap());
        let mut model = Model::new();
        let mut t = 0i64;
        for op in ops {
            let d = db.as_ref().unwrap();
            match op {
                Op::Scrape { job, n, gap } => {
                    t += i64::from(gap) * 20 * MIN;
                    let job = format!("j{job}");
                    let mut b = Batch::new();
                    for k in 0..i64::from(n) {
                        for i in 0..3 {
                            let v = (k * 7 + i) as f64;
                            b.push(series(&job, i as usize), vec![Sample::new(t + k * 15_000, v)]);
                        }
                    }
                    let r = d.append(&b).unwrap();
                    for k in 0..i64::from(n) {
                        for i in 0..3 {
                            model.entry(series(&job, i as usize)).or_default().insert(t + k * 15_000, ((k * 7 + i) as f64).to_bits());
                        }
                    }
                    prop_assert_eq!(r.rejected(), 0);
                    t += i64::from(n) * 15_000;
                }
                Op::Maintain => { d.maintain().unwrap(); }
                Op::Flush => {
                    d.flush().unwrap();
                    t += 1;
                }
                Op::Reopen => {
                    db.take().unwrap().close().unwrap();
                    db = Some(Db::open(dir.path(), o.clone()).unwrap());
                }
                Op::Delete { job, from, len } => {
                    let job = format!("j{job}");
                    let mint = i64::from(from) * 15_000;
                    let maxt = mint + i64::from(len) * 15_000;
                    d.delete_series(&[Matcher::equal("job", &job)], mint, maxt).unwrap();
                    for (l, s) in model.iter_mut() {
                        if l.get("job") == Some(job.as_str()) {
                            s.retain(|x, _| *x < mint || *x > maxt);
                        }
                    }
                    model.retain(|_, s| !s.is_empty());
                }
                Op::Clean => { d.clean_tombstones().unwrap(); }
            }
            let got = read_all(db.as_ref().unwrap(), i64::MIN, i64::MAX);
            prop_assert_eq!(&got, &model);
        }
        // Regex and negative matchers agree with the model after everything.
        let d = db.as_ref().unwrap();
        let sel = d.querier(i64::MIN, i64::MAX).series_labels(&[Matcher::new(MatchOp::NotRegex, "job", "j1|j2").unwrap()]).unwrap();
        let want: Vec<Labels> = model.keys().filter(|l| l.get("job") == Some("j0")).cloned().collect();
        prop_assert_eq!(sel, want);
    }
}

/// A querier made before a head cut and used after it (the cut published a block the
/// querier's snapshot does not have, and truncated the head it reads) still sees every
/// sample exactly once, as a query racing the background cut would.
#[test]
fn querier_made_before_a_head_cut_sees_every_sample_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts(2 * 60 * MIN)).unwrap();
    let mut model = Model::new();
    let end = scrape(&db, &mut model, "api", 4, 0, 4 * 60 * 4);
    let q = db.querier(0, end);
    let report = db.maintain().unwrap();
    assert!(report.head_blocks > 0, "{report:?}");
    let mut got = Model::new();
    for s in q.select(&[Matcher::equal("__name__", "m")]).unwrap() {
        let m = got.entry(s.labels.clone()).or_default();
        for x in s.try_samples().unwrap() {
            assert!(m.insert(x.t, x.v.to_bits()).is_none(), "sample twice");
        }
    }
    let want = model_range(&model, 0, end);
    let count = |m: &Model| m.values().map(BTreeMap::len).sum::<usize>();
    assert_eq!(count(&got), count(&want), "samples seen");
    assert!(got == want, "same samples");
}

/// Label and series listings stay complete across head cuts that churn series out of the
/// head: a series whose data all went into a block is still listed (from the block).
#[test]
fn label_listings_keep_series_that_moved_into_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts(2 * 60 * MIN)).unwrap();
    let mut model = Model::new();
    // "old" stops after the first hour; "new" goes on for four hours.
    scrape(&db, &mut model, "old", 2, 0, 4 * 60);
    let end = scrape(&db, &mut model, "new", 2, 4 * 60 * 15_000, 4 * 60 * 3);
    let before = (
        db.label_values("job", &[], 0, end).unwrap(),
        db.label_names(&[], 0, end).unwrap(),
        db.series_labels_checked(&[Matcher::equal("job", "old")], 0, end)
            .unwrap(),
    );
    let report = db.maintain().unwrap();
    assert!(report.head_blocks > 0, "{report:?}");
    let after = (
        db.label_values("job", &[], 0, end).unwrap(),
        db.label_names(&[], 0, end).unwrap(),
        db.series_labels_checked(&[Matcher::equal("job", "old")], 0, end)
            .unwrap(),
    );
    assert_eq!(before.0, ["new", "old"]);
    assert_eq!(before.2.len(), 2);
    assert_eq!(before, after);
}

/// A series with `n` chunks of 120 samples (1 s apart, integer counter with a reset in every
/// chunk) starting at `t0`.
fn many_chunks(t0: i64, n: usize) -> Vec<Sample> {
    (0..n * 120)
        .map(|k| {
            let v = if k % 120 == 60 {
                3.0
            } else {
                (k % 120 * 7) as f64
            };
            Sample::new(t0 + k as i64 * 1000, v)
        })
        .collect()
}

#[test]
fn series_summaries_stand_for_a_series_chunks_inside_a_span() {
    let dir = tempfile::tempdir().unwrap();
    let o = Options {
        compaction_chunk_samples: 0,
        ..opts(2 * 3600 * 1000)
    };
    let db = Db::open(dir.path(), o.clone()).unwrap();
    let mut b = Batch::new();
    // The head seals chunks of 80 to 160 samples: series 0 gets 8 to 15 chunks and carries a
    // series summary, series 1 at most 3 and does not.
    b.push(series("a", 0), many_chunks(0, 10));
    b.push(series("a", 1), many_chunks(0, 2));
    b.push(series("a", 2), many_chunks(0, 6)); // gets a tombstone below
    db.append(&b).unwrap();
    db.flush().unwrap();
    assert_eq!(db.blocks().len(), 1);
    db.delete_series(&[Matcher::equal("i", "2")], 5_000, 6_000)
        .unwrap();

    let m = [Matcher::equal("__name__", "m")];
    let q = db.querier(0, 3_600_000);
    let plain = q.select(&m).unwrap();
    let whole = q.select_within(&m, Some((-1, 3_600_000))).unwrap();
    assert_eq!(plain.len(), 3);
    assert_eq!(whole.len(), 3);
    for (p, w) in plain.iter().zip(&whole) {
        assert_eq!(p.labels, w.labels);
        assert_eq!(
            p.try_samples().unwrap(),
            w.try_samples().unwrap(),
            "{}",
            p.labels
        );
        let mut it = w.iter();
        assert_eq!(
            it.seek(4_500).map(|x| x.t),
            p.iter().seek(4_500).map(|x| x.t)
        );
    }
    // Series 0: one piece whose summary is the fold of its chunks' summaries.
    let n0 = plain[0].chunks().len();
    assert!((8..=15).contains(&n0), "{n0}");
    assert_eq!(whole[0].chunks().len(), 1);
    let c = &whole[0].chunks()[0];
    assert!(c.is_whole() && c.is_persisted());
    assert_eq!(
        (c.min_time(), c.max_time(), c.num_samples()),
        (0, 1_199_000, 1200)
    );
    let folded = strata_engine::chunk::ChunkSummary::fold(
        plain[0].chunks().iter().map(|c| c.summary().unwrap()),
    );
    assert_eq!(c.summary(), Some(&folded));
    assert_eq!(
        folded.resets, 19,
        "one reset inside each chunk and one at each edge"
    );
    // Its samples through one piece, as a summary reader decodes an unusable one.
    let (mut ts, mut vs) = (Vec::new(), Vec::new());
    whole[0].decode_chunk_into(0, &mut ts, &mut vs).unwrap();
    assert_eq!(ts.len(), 1200);
    // Series 1 (few chunks) and series 2 (a tombstone) keep their chunks.
    assert!(plain[1].chunks().len() <= 3);
    assert_eq!(whole[1].chunks().len(), plain[1].chunks().len());
    assert!(whole[2].chunks().iter().all(|c| !c.is_whole()));
    assert_eq!(whole[2].chunks().len(), plain[2].chunks().len());
    // A span that does not cover the series' chunks: chunk by chunk.
    let part = q.select_within(&m, Some((-1, 600_000))).unwrap();
    assert_eq!(part[0].chunks().len(), n0);
    let inner = q.select_within(&m, Some((1, 3_600_000))).unwrap();
    assert_eq!(
        inner[0].chunks().len(),
        n0,
        "the span must start before the first sample"
    );
}

/// Writes a block's index again in format `version`, with the same series and chunks.
fn rewrite_index(block_dir: &std::path::Path, version: u8) {
    let b = strata_engine::block::Block::open(
        block_dir,
        &Arc::new(strata_engine::labels::SymbolTable::default()),
    )
    .unwrap();
    let series = b.select(&[], i64::MIN, i64::MAX).unwrap();
    let symbols: Vec<Sym> = b.index().symbols().map(|s| Sym::from(s.unwrap())).collect();
    let tmp = block_dir.join("index.new");
    let mut w = strata_engine::index::writer::IndexWriter::create_version(
        &tmp,
        symbols,
        (b.meta().min_time, b.meta().max_time),
        version,
    )
    .unwrap();
    for s in &series {
        w.add_series(&s.labels, &s.chunks).unwrap();
    }
    w.finish().unwrap();
    drop(b);
    std::fs::rename(tmp, block_dir.join("index")).unwrap();
}

#[test]
fn older_index_versions_are_still_read() {
    let dir = tempfile::tempdir().unwrap();
    let o = Options {
        compaction_chunk_samples: 0,
        ..opts(2 * 3600 * 1000)
    };
    let want = {
        let db = Db::open(dir.path(), o.clone()).unwrap();
        let mut b = Batch::new();
        // Fewer than five chunks each (head chunks hold 80 to 160 samples): a version 2
        // entry is then a version 1 entry.
        b.push(series("a", 0), many_chunks(0, 2));
        b.push(series("a", 1), many_chunks(0, 1));
        // Another set of label names (version 4: another label shape), and a last chunk
        // that ends nearer the block's end than its start (version 4 counts that end from
        // the block's end).
        let other = Labels::from_pairs(&[("__name__", "m"), ("i", "9"), ("zone", "z")]).unwrap();
        b.push(
            other,
            (0..200)
                .map(|k| Sample::new(3_600_000 + k * 17_000, k as f64))
                .collect(),
        );
        db.append(&b).unwrap();
        db.flush().unwrap();
        let want = read_all(&db, 0, 7_200_000);
        assert_eq!(want.len(), 3);
        db.close().unwrap();
        want
    };
    let blocks: Vec<_> = std::fs::read_dir(dir.path().join("blocks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(blocks.len(), 1);
    let index = blocks[0].join("index");
    let v4 = std::fs::read(&index).unwrap();
    assert_eq!(v4[4], 4);
    rewrite_index(&blocks[0], 3);
    let v3 = std::fs::read(&index).unwrap();
    assert_eq!(v3[4], 3);
    let db = Db::open(dir.path(), o.clone()).unwrap();
    assert_eq!(read_all(&db, 0, 7_200_000), want);
    drop(db);
    rewrite_index(&blocks[0], 2);
    let mut bytes = std::fs::read(&index).unwrap();
    assert_eq!(bytes[4], 2);
    let db = Db::open(dir.path(), o.clone()).unwrap();
    assert_eq!(read_all(&db, 0, 7_200_000), want);
    drop(db);
    bytes[4] = 1;
    std::fs::write(&index, &bytes).unwrap();
    let db = Db::open(dir.path(), o).unwrap();
    assert_eq!(read_all(&db, 0, 7_200_000), want);
    // A version this build does not know is refused with a clear error.
    drop(db);
    bytes[4] = 9;
    std::fs::write(&index, &bytes).unwrap();
    let err = strata_engine::block::Block::open(
        &blocks[0],
        &Arc::new(strata_engine::labels::SymbolTable::default()),
    )
    .unwrap_err();
    assert!(matches!(err, Error::UnsupportedVersion { .. }), "{err}");
}

/// Band records (`bands.rs`) in each chunk segment of the block at `dir`, found by walking
/// the records (`uvarint len | bytes | crc32c`) after the 8-byte header.
fn band_records(dir: &Path) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(dir.join("chunks")).unwrap() {
        let seg = std::fs::read(e.unwrap().path()).unwrap();
        assert_eq!(seg[4], 3, "segment version");
        let mut at = 8;
        while at + 16 < seg.len() {
            let (mut len, mut shift, mut i) = (0usize, 0, at);
            loop {
                len |= usize::from(seg[i] & 0x7f) << shift;
                shift += 7;
                i += 1;
                if seg[i - 1] & 0x80 == 0 {
                    break;
                }
            }
            if len == 0 {
                break;
            }
            n += usize::from(seg[i] == strata_engine::block::bands::BAND);
            at = i + len + 4;
        }
    }
    n
}

/// Classic histograms go through head cuts (no bands) and two levels of compaction (bands
/// written, then read back and written again) and read back exactly, before and after a
/// restart.
#[test]
fn histograms_keep_every_sample_through_band_records_and_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts(10 * MIN)).unwrap();
    let mut model = Model::new();
    let les = ["0.1", "0.5", "1", "5", "+Inf"];
    let mut counts = [[0u64; 5]; 4];
    let mut t = 0;
    for round in 0..600i64 {
        let mut b = Batch::new();
        for (h, c) in counts.iter_mut().enumerate() {
            // A restart of histogram 1 now and then; observations in every band.
            if h == 1 && round % 150 == 149 {
                *c = [0; 5];
            }
            let mut cum = 0;
            for (k, ck) in c.iter_mut().enumerate() {
                cum += ((round * (k as i64 + 3) + h as i64 * 7) % 5) as u64;
                *ck += cum;
            }
            for (k, le) in les.iter().enumerate() {
                let l = Labels::from_pairs(&[("__name__", "m"), ("h", &h.to_string()), ("le", le)])
                    .unwrap();
                // The last bucket of histogram 3 has a NaN now and then (stored as it is).
                let v = if h == 3 && k == 4 && round % 101 == 0 {
                    f64::NAN
                } else {
                    c[k] as f64
                };
                b.push(l.clone(), vec![Sample::new(t, v)]);
                model.entry(l).or_default().insert(t, v.to_bits());
            }
        }
        assert_eq!(db.append(&b).unwrap().rejected(), 0);
        t += 15_000;
    }
    db.flush().unwrap();
    let blocks = db.blocks();
    assert!(blocks.iter().all(|b| b.meta().compaction.level >= 2));
    assert!(blocks.iter().any(|b| b.meta().compaction.level >= 3));
    let bands: usize = blocks.iter().map(|b| band_records(b.dir())).sum();
    assert!(bands > 0, "no band records");
    assert_eq!(read_all(&db, i64::MIN, i64::MAX), model);
    db.close().unwrap();
    let db = Db::open(dir.path(), opts(10 * MIN)).unwrap();
    assert_eq!(read_all(&db, i64::MIN, i64::MAX), model);
    assert_eq!(
        read_all(&db, 40 * MIN, 80 * MIN),
        model_range(&model, 40 * MIN, 80 * MIN)
    );
}

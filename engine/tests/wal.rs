//! WAL integration tests: round trips across segments, concurrent writers, group commit, and
//! repair of torn, corrupt and garbage tails.

use std::collections::{HashMap, HashSet};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use strata_engine::wal::{
    Record, ReplayReport, SampleRecord, SeriesRecord, SyncPolicy, Wal, WalOptions, WalPosition,
    SEGMENT_HEADER_LEN,
};
use strata_engine::{Error, Labels};

/// A comparable copy of a record (values by bit pattern).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Rec {
    Series(Vec<(u64, Labels)>),
    Samples(Vec<(u64, i64, u64)>),
    Other(String),
}

fn norm(r: &Record) -> Rec {
    match r {
        Record::Series(s) => Rec::Series(s.iter().map(|s| (s.sref, s.labels.clone())).collect()),
        Record::Samples(s) => {
            Rec::Samples(s.iter().map(|s| (s.sref, s.t, s.v.to_bits())).collect())
        }
        other => Rec::Other(format!("{other:?}")),
    }
}

fn opts(segment_size: u64, sync: SyncPolicy) -> WalOptions {
    WalOptions { segment_size, sync }
}

fn open(dir: &Path, o: WalOptions) -> (Wal, ReplayReport, Vec<Rec>) {
    let mut got = Vec::new();
    let (wal, report) = Wal::open(dir, o, |r| got.push(norm(&r))).unwrap();
    (wal, report, got)
}

fn series(sref: u64) -> SeriesRecord {
    SeriesRecord {
        sref,
        labels: Labels::from_pairs(&[
            ("__name__", "http_requests_total"),
            ("instance", &format!("host-{sref}:9100")),
            ("job", "api"),
        ])
        .unwrap(),
    }
}

/// The records of write number `i`: a new series and `n` samples for it.
fn batch(i: u64, n: u64) -> Vec<Record> {
    vec![
        Record::Series(vec![series(i)]),
        Record::Samples(
            (0..n)
                .map(|k| SampleRecord {
                    sref: i,
                    t: 1_700_000_000_000 + (k as i64) * 15_000,
                    v: (i * 1000 + k) as f64 * 0.25,
                })
                .collect(),
        ),
    ]
}

fn write_batches(wal: &Wal, range: std::ops::Range<u64>) -> Vec<Rec> {
    let mut expect = Vec::new();
    for i in range {
        let b = batch(i, 10);
        let pos = wal.write(&b).unwrap();
        wal.sync_to(pos).unwrap();
        expect.extend(b.iter().map(norm));
    }
    expect
}

fn last_segment_path(wal_dir: &Path) -> std::path::PathBuf {
    let mut names: Vec<_> = std::fs::read_dir(wal_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    wal_dir.join(names.last().unwrap())
}

#[test]
fn round_trip_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let o = opts(2048, SyncPolicy::Always);
    let (wal, report, got) = open(dir.path(), o.clone());
    assert!(got.is_empty());
    assert_eq!(report.records, 0);
    let expect = write_batches(&wal, 0..300);
    let segs = wal.segments().unwrap();
    assert!(segs.len() > 10, "only {} segments", segs.len());
    assert_eq!(segs, (1..=segs.len() as u64).collect::<Vec<_>>());
    for n in &segs {
        let len = std::fs::metadata(wal.segment_path(*n)).unwrap().len();
        assert!(len <= 2048, "segment {n} has {len} bytes");
    }
    let stats = wal.stats();
    assert_eq!(stats.writes, 300);
    assert_eq!(stats.segments_created, segs.len() as u64 - 1);
    let on_disk: u64 = segs
        .iter()
        .map(|n| std::fs::metadata(wal.segment_path(*n)).unwrap().len() - SEGMENT_HEADER_LEN)
        .sum();
    assert_eq!(stats.bytes, on_disk);
    wal.close().unwrap();
    drop(wal);

    let (wal, report, got) = open(dir.path(), o);
    assert_eq!(got, expect);
    assert_eq!(report.records, expect.len() as u64);
    assert_eq!(report.segments, segs.len() as u64);
    assert_eq!(report.truncated_bytes, 0);
    assert_eq!(report.damage, None);
    // Appending continues in the last segment.
    assert_eq!(wal.end().segment, *segs.last().unwrap());
}

#[test]
fn write_larger_than_a_segment_gets_its_own_segment() {
    let dir = tempfile::tempdir().unwrap();
    let o = opts(256, SyncPolicy::Always);
    let (wal, _, _) = open(dir.path(), o.clone());
    let mut expect = write_batches(&wal, 0..1);
    let big = batch(1, 500);
    let before = wal.end();
    let pos = wal.write(&big).unwrap();
    wal.sync_to(pos).unwrap();
    assert_eq!(pos.segment, before.segment + 1);
    expect.extend(big.iter().map(norm));
    expect.extend(write_batches(&wal, 2..3));
    assert_eq!(wal.end().segment, pos.segment + 1);
    drop(wal);
    let (_, report, got) = open(dir.path(), o);
    assert_eq!(got, expect);
    assert_eq!(report.damage, None);
}

#[test]
fn concurrent_writers_replay_every_record_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let o = opts(8192, SyncPolicy::Interval(Duration::from_millis(5)));
    let (wal, _, _) = open(dir.path(), o.clone());
    let wal = Arc::new(wal);
    let threads = 4u64;
    let per_thread = 150u64;
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let wal = wal.clone();
            std::thread::spawn(move || {
                for i in 0..per_thread {
                    let id = t * 1_000_000 + i;
                    let pos = wal.write(&batch(id, 3)).unwrap();
                    wal.sync_to(pos).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    wal.close().unwrap();
    drop(wal);

    let (_, report, got) = open(dir.path(), o);
    assert_eq!(report.damage, None);
    assert_eq!(got.len() as u64, threads * per_thread * 2);
    let mut defined = HashSet::new();
    let mut samples: HashMap<u64, Vec<i64>> = HashMap::new();
    for r in &got {
        match r {
            Rec::Series(s) => {
                for (sref, labels) in s {
                    assert!(defined.insert(*sref), "series {sref} defined twice");
                    assert_eq!(labels, &series(*sref).labels);
                }
            }
            Rec::Samples(s) => {
                for (sref, t, _) in s {
                    assert!(defined.contains(sref), "sample of {sref} before its series");
                    samples.entry(*sref).or_default().push(*t);
                }
            }
            Rec::Other(o) => panic!("unexpected record {o}"),
        }
    }
    assert_eq!(defined.len() as u64, threads * per_thread);
    for t in 0..threads {
        for i in 0..per_thread {
            let ts = &samples[&(t * 1_000_000 + i)];
            assert_eq!(ts.len(), 3, "samples of {t}/{i}: {ts:?}");
        }
    }
}

#[test]
fn group_commit_with_concurrent_threads() {
    let dir = tempfile::tempdir().unwrap();
    let o = opts(16 << 10, SyncPolicy::Always);
    let (wal, _, _) = open(dir.path(), o.clone());
    let wal = Arc::new(wal);
    let handles: Vec<_> = (0..6u64)
        .map(|t| {
            let wal = wal.clone();
            std::thread::spawn(move || {
                let mut last = WalPosition {
                    segment: 0,
                    offset: 0,
                };
                for i in 0..40 {
                    let pos = wal.write(&batch(t * 1000 + i, 5)).unwrap();
                    assert!(pos > last, "positions of one thread must grow");
                    last = pos;
                    wal.sync_to(pos).unwrap();
                    // Syncing an already durable position returns at once.
                    wal.sync_to(pos).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let stats = wal.stats();
    assert_eq!(stats.writes, 6 * 40);
    // Each write needs at most one round; the second sync_to of a durable position none.
    assert!(
        stats.sync_rounds >= 1 && stats.sync_rounds <= 6 * 40,
        "{stats:?}"
    );
    // No close: everything acknowledged by sync_to must already be on disk, so a reader that
    // opens a copy of the directory now (as after kill -9) sees every record.
    let copy = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(dir.path()).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), copy.path().join(e.file_name())).unwrap();
    }
    let (_, report, got) = open(copy.path(), o);
    assert_eq!(report.damage, None);
    assert_eq!(got.len(), 6 * 40 * 2);
    drop(wal);
}

#[test]
fn sync_to_a_position_never_written_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(dir.path(), opts(1 << 20, SyncPolicy::Always));
    let bogus = WalPosition {
        segment: 99,
        offset: 1,
    };
    assert!(wal.sync_to(bogus).is_err());
    // The WAL still works.
    let pos = wal.write(&batch(1, 1)).unwrap();
    wal.sync_to(pos).unwrap();
}

#[test]
fn truncation_at_every_byte_of_the_last_record_keeps_earlier_records() {
    let dir = tempfile::tempdir().unwrap();
    let o = opts(1 << 20, SyncPolicy::Always);
    let (wal, _, _) = open(dir.path(), o.clone());
    let expect = write_batches(&wal, 0..20);
    let start = wal.end();
    let last = [Record::Samples(
        (0..12)
            .map(|k| SampleRecord {
                sref: 3,
                t: k,
                v: k as f64,
            })
            .collect(),
    )];
    let end = wal.write(&last).unwrap();
    wal.close().unwrap();
    drop(wal);
    assert_eq!(start.segment, end.segment);
    let seg = last_segment_path(dir.path());
    let full = std::fs::read(&seg).unwrap();
    assert_eq!(full.len() as u64, end.offset);

    for cut in start.offset..end.offset {
        let case = tempfile::tempdir().unwrap();
        let case_seg = case.path().join(seg.file_name().unwrap());
        std::fs::write(&case_seg, &full[..cut as usize]).unwrap();
        let (wal, report, got) = open(case.path(), o.clone());
        assert_eq!(got, expect, "cut at {cut}");
        assert_eq!(report.truncated_bytes, cut - start.offset, "cut at {cut}");
        assert_eq!(report.damage.is_some(), cut > start.offset, "cut at {cut}");
        assert_eq!(wal.end(), start, "cut at {cut}");
        assert_eq!(std::fs::metadata(&case_seg).unwrap().len(), start.offset);
    }
    // The untouched file replays everything.
    let (_, report, got) = open(dir.path(), o);
    assert_eq!(got.len(), expect.len() + 1);
    assert_eq!(report.damage, None);
}

#[test]
fn bit_flip_mid_segment_keeps_the_prefix_and_stays_appendable() {
    let dir = tempfile::tempdir().unwrap();
    let o = opts(1 << 20, SyncPolicy::Always);
    let (wal, _, _) = open(dir.path(), o.clone());
    let mut ends = vec![wal.end()];
    let mut expect = Vec::new();
    for i in 0..40 {
        let b = batch(i, 10);
        ends.push(wal.write(&b).unwrap());
        expect.push(b.iter().map(norm).collect::<Vec<_>>());
    }
    wal.close().unwrap();
    drop(wal);
    let seg = last_segment_path(dir.path());
    let mut bytes = std::fs::read(&seg).unwrap();
    let total = bytes.len() as u64;
    // Flip one bit inside write 20 (its series or samples frame).
    let victim = 20;
    let at = (ends[victim].offset + ends[victim + 1].offset) / 2;
    bytes[at as usize] ^= 0x10;
    std::fs::write(&seg, &bytes).unwrap();

    let (wal, report, got) = open(dir.path(), o.clone());
    let kept: Vec<Rec> = expect[..victim].iter().flatten().cloned().collect();
    // Everything before the damaged write is kept; at most its first frame survives too.
    assert!(got.len() == kept.len() || got.len() == kept.len() + 1);
    assert_eq!(got[..kept.len()], kept[..]);
    let damage = report.damage.clone().expect("damage reported");
    assert!(damage.contains("segment 1"), "{damage}");
    let cut = wal.end().offset;
    assert!(cut >= ends[victim].offset && cut <= at, "cut at {cut}");
    assert_eq!(report.truncated_bytes, total - cut);

    // Append after the repair, reopen, and see old prefix + new records.
    let new = write_batches(&wal, 100..105);
    wal.close().unwrap();
    drop(wal);
    let (_, report, got2) = open(dir.path(), o);
    assert_eq!(report.damage, None);
    let mut want = got.clone();
    want.extend(new);
    assert_eq!(got2, want);
}

#[test]
fn damage_in_an_earlier_segment_keeps_later_segments() {
    let dir = tempfile::tempdir().unwrap();
    let o = opts(1024, SyncPolicy::Always);
    let (wal, _, _) = open(dir.path(), o.clone());
    let all = write_batches(&wal, 0..60);
    let segs = wal.segments().unwrap();
    assert!(segs.len() >= 5);
    let end = wal.end();
    wal.close().unwrap();
    drop(wal);
    // Which records each segment holds, by replaying the segments one at a time.
    let per_segment: Vec<usize> = segs
        .iter()
        .map(|n| {
            let b = std::fs::read(dir.path().join(format!("{n:08}"))).unwrap();
            strata_engine::wal::scan_segment_bytes(&b, |_| {}).records as usize
        })
        .collect();
    // Corrupt the first frame's CRC in segment 3: all of segment 3 is lost, nothing else.
    let p = dir.path().join("00000003");
    let mut b = std::fs::read(&p).unwrap();
    b[SEGMENT_HEADER_LEN as usize + 6] ^= 0xff;
    std::fs::write(&p, &b).unwrap();
    let before: usize = per_segment[..2].iter().sum();
    let lost = per_segment[2];
    {
        let (wal, report, got) = open(dir.path(), o.clone());
        let damage = report.damage.clone().unwrap();
        assert!(
            damage.contains("checksum") && damage.contains("segment 3"),
            "{damage}"
        );
        assert_eq!(report.segments, segs.len() as u64);
        assert_eq!(report.repairs, 1);
        assert_eq!(report.truncated_bytes, b.len() as u64 - SEGMENT_HEADER_LEN);
        let mut want = all[..before].to_vec();
        want.extend_from_slice(&all[before + lost..]);
        assert_eq!(got, want, "every record outside segment 3 replays");
        assert_eq!(wal.segments().unwrap(), segs);
        assert_eq!(
            wal.end(),
            end,
            "appending resumes at the end of the last segment"
        );
        write_batches(&wal, 1000..1003);
    }
    let (_, report, got) = open(dir.path(), o);
    assert_eq!(report.damage, None);
    assert_eq!(got.len(), all.len() - lost + 6);
}

#[test]
fn garbage_appended_to_the_tail_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    let o = opts(1 << 20, SyncPolicy::Interval(Duration::from_millis(10)));
    let (wal, _, _) = open(dir.path(), o.clone());
    let expect = write_batches(&wal, 0..10);
    let end = wal.end();
    drop(wal);
    let seg = last_segment_path(dir.path());
    // Deterministic pseudo-random garbage, plus a run of zeros as a preallocated tail would be.
    let mut garbage: Vec<u8> = (0u32..777)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    garbage.extend([0u8; 64]);
    OpenOptions::new()
        .append(true)
        .open(&seg)
        .unwrap()
        .write_all(&garbage)
        .unwrap();

    let (wal, report, got) = open(dir.path(), o.clone());
    assert_eq!(got, expect);
    assert_eq!(report.truncated_bytes, garbage.len() as u64);
    assert!(report.damage.is_some());
    assert_eq!(wal.end(), end);
    let more = write_batches(&wal, 10..12);
    drop(wal);
    let (_, report, got) = open(dir.path(), o);
    assert_eq!(report.damage, None);
    let mut want = expect;
    want.extend(more);
    assert_eq!(got, want);
}

#[test]
fn torn_segment_header_is_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    let o = opts(1024, SyncPolicy::Always);
    let (wal, _, _) = open(dir.path(), o.clone());
    let expect = write_batches(&wal, 0..5);
    let n = wal.end().segment;
    drop(wal);
    // A crash right after creating the next segment: three bytes of its header.
    std::fs::write(dir.path().join(format!("{:08}", n + 1)), b"SWA").unwrap();
    let (wal, report, got) = open(dir.path(), o.clone());
    assert_eq!(got, expect);
    assert_eq!(report.truncated_bytes, 3);
    assert!(report.damage.unwrap().contains("header"));
    assert_eq!(wal.end().segment, n + 1);
    let more = write_batches(&wal, 5..7);
    drop(wal);
    let (_, report, got) = open(dir.path(), o);
    assert_eq!(report.damage, None);
    assert_eq!(got.len(), expect.len() + more.len());
}

#[test]
fn missing_segment_keeps_what_follows() {
    let dir = tempfile::tempdir().unwrap();
    let o = opts(1024, SyncPolicy::Always);
    let (wal, _, _) = open(dir.path(), o.clone());
    write_batches(&wal, 0..40);
    let segs = wal.segments().unwrap();
    assert!(segs.len() >= 4);
    drop(wal);
    std::fs::remove_file(dir.path().join("00000002")).unwrap();
    let (wal, report, _) = open(dir.path(), o);
    assert!(report.damage.unwrap().contains("missing"));
    assert_eq!(report.segments, segs.len() as u64 - 1);
    let mut want = segs.clone();
    want.retain(|&n| n != 2);
    assert_eq!(wal.segments().unwrap(), want);
}

#[test]
fn unknown_segment_version_stops_the_open() {
    let dir = tempfile::tempdir().unwrap();
    let o = opts(1024, SyncPolicy::Always);
    let (wal, _, _) = open(dir.path(), o.clone());
    write_batches(&wal, 0..10);
    drop(wal);
    let p = dir.path().join("00000001");
    let mut b = std::fs::read(&p).unwrap();
    b[4] = 9;
    std::fs::write(&p, &b).unwrap();
    let err = Wal::open(dir.path(), o, |_| {}).unwrap_err();
    assert!(
        matches!(err, Error::UnsupportedVersion { found: 9, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("version 9"), "{err}");
    // Nothing was touched.
    assert_eq!(std::fs::read(&p).unwrap(), b);
}

#[test]
fn empty_directory() {
    let base = tempfile::tempdir().unwrap();
    // A directory that does not exist yet is created.
    let dir = base.path().join("wal");
    let o = opts(1 << 20, SyncPolicy::Always);
    let (wal, report, got) = open(&dir, o.clone());
    assert!(got.is_empty());
    assert_eq!(report.records, 0);
    assert_eq!(report.segments, 0);
    assert_eq!(report.truncated_bytes, 0);
    assert_eq!(report.damage, None);
    assert_eq!(
        wal.end(),
        WalPosition {
            segment: 1,
            offset: SEGMENT_HEADER_LEN
        }
    );
    wal.close().unwrap();
    drop(wal);
    // Reopening the (now header-only) WAL is clean too.
    let (_, report, got) = open(&dir, o.clone());
    assert!(got.is_empty());
    assert_eq!(report.segments, 1);
    assert_eq!(report.damage, None);
    // An existing empty directory, with an unrelated file in it.
    let other = tempfile::tempdir().unwrap();
    std::fs::write(other.path().join("README"), b"not a segment").unwrap();
    let (wal, report, got) = open(other.path(), o);
    assert!(got.is_empty());
    assert_eq!(report.damage, None);
    assert_eq!(wal.segments().unwrap(), vec![1]);
}

#[test]
fn close_is_idempotent_and_later_writes_fail() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(
        dir.path(),
        opts(1 << 20, SyncPolicy::Interval(Duration::from_secs(60))),
    );
    let pos = wal.write(&batch(1, 3)).unwrap();
    wal.sync_to(pos).unwrap();
    wal.close().unwrap();
    wal.close().unwrap();
    assert!(matches!(wal.write(&batch(2, 1)), Err(Error::Closed)));
    drop(wal);
    // The interval was a minute, so only close's fsync made the data durable; it is there.
    let (_, _, got) = open(dir.path(), opts(1 << 20, SyncPolicy::Always));
    assert_eq!(got.len(), 2);
}

#[test]
fn cut_and_truncate_before() {
    let dir = tempfile::tempdir().unwrap();
    let o = opts(1 << 20, SyncPolicy::Always);
    let (wal, _, _) = open(dir.path(), o.clone());
    write_batches(&wal, 0..3);
    let s2 = wal.cut().unwrap();
    assert_eq!(s2, 2);
    // Cutting an empty segment does not create another.
    assert_eq!(wal.cut().unwrap(), 2);
    let expect = write_batches(&wal, 3..5);
    let s3 = wal.cut().unwrap();
    assert_eq!(wal.segments().unwrap(), vec![1, 2, 3]);
    assert_eq!(wal.truncate_before(2).unwrap(), 1);
    // Never deletes the segment being written.
    assert_eq!(wal.truncate_before(100).unwrap(), 1);
    assert_eq!(wal.segments().unwrap(), vec![s3]);
    let more = write_batches(&wal, 5..6);
    drop(wal);
    let (_, report, got) = open(dir.path(), o);
    assert_eq!(report.damage, None);
    assert_eq!(got, more);
    assert_eq!(expect.len(), 4);
}

#[test]
fn oversized_series_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(dir.path(), opts(1 << 20, SyncPolicy::Always));
    let huge = "x".repeat(strata_engine::wal::MAX_PAYLOAD_BYTES + 1);
    let r = [Record::Series(vec![SeriesRecord {
        sref: 1,
        labels: Labels::from_pairs(&[("a", huge.as_str())]).unwrap(),
    }])];
    assert!(matches!(wal.write(&r), Err(Error::InvalidLabels(_))));
    // Nothing was written; the WAL still works.
    let expect = write_batches(&wal, 0..1);
    drop(wal);
    let (_, _, got) = open(dir.path(), opts(1 << 20, SyncPolicy::Always));
    assert_eq!(got, expect);
}

/// A deterministic stand-in for the fuzz target that runs in every `cargo test`: valid
/// segments with random bit flips, cuts, insertions and garbage must replay without a panic,
/// deliver only a prefix of the original records, and leave an appendable WAL.
#[test]
fn mutated_segments_replay_a_prefix_without_panicking() {
    use strata_engine::wal::{decode_record, scan_segment_bytes};

    let dir = tempfile::tempdir().unwrap();
    let o = opts(1 << 20, SyncPolicy::Always);
    let (wal, _, _) = open(dir.path(), o.clone());
    let expect = write_batches(&wal, 0..8);
    drop(wal);
    let seg = last_segment_path(dir.path());
    let clean = std::fs::read(&seg).unwrap();

    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for case in 0..150 {
        let mut b = clean.clone();
        for _ in 0..1 + rnd() % 3 {
            match rnd() % 4 {
                0 if !b.is_empty() => {
                    let i = (rnd() % b.len() as u64) as usize;
                    b[i] ^= 1 << (rnd() % 8);
                }
                1 if !b.is_empty() => b.truncate((rnd() % b.len() as u64) as usize),
                2 => {
                    let i = (rnd() % (b.len() as u64 + 1)) as usize;
                    b.insert(i, rnd() as u8);
                }
                _ => b.extend((0..rnd() % 40).map(|_| rnd() as u8)),
            }
        }
        // The pure decoders on the raw bytes.
        let _ = decode_record(&b);
        let mut n = 0;
        let scan = scan_segment_bytes(&b, |_| n += 1);
        assert!(scan.good_len <= b.len() as u64, "case {case}");

        // Replay from a directory holding the mutated segment.
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("00000001"), &b).unwrap();
        if b.len() >= 5 && b[..4] == *b"SWAL" && b[4] != 1 {
            // Another format version is refused, never repaired.
            assert!(
                Wal::open(d.path(), o.clone(), |_| {}).is_err(),
                "case {case}"
            );
            continue;
        }
        let (wal, report, got) = open(d.path(), o.clone());
        assert!(got.len() <= expect.len(), "case {case}");
        // Every delivered record is one of the originals, in order: damage only shortens.
        assert_eq!(got[..], expect[..got.len()], "case {case}");
        if report.damage.is_none() {
            assert!(clean.starts_with(&b), "case {case}: undetected change");
        }
        let more = write_batches(&wal, 50..51);
        drop(wal);
        let (_, report, again) = open(d.path(), o.clone());
        assert_eq!(report.damage, None, "case {case}");
        assert_eq!(again.len(), got.len() + more.len(), "case {case}");
    }
}

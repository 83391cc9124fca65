//! Db behaviour as an embedding user sees it: append, read back, rejections, restart, locking,
//! concurrency, and `kill -9` crash recovery.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;

use rand::{Rng, SeedableRng};
use strata_engine::{
    stale_nan, Batch, Db, Error, Labels, MatchOp, Matcher, Options, Sample, STALE_NAN_BITS,
};

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs).unwrap()
}

fn series(name: &str, i: usize) -> Labels {
    labels(&[("__name__", name), ("i", &i.to_string()), ("job", "api")])
}

fn select_all(db: &Db, name: &str) -> Vec<(Labels, Vec<Sample>)> {
    db.querier(i64::MIN, i64::MAX)
        .select(&[Matcher::equal("__name__", name)])
        .unwrap()
        .into_iter()
        .map(|s| (s.labels.clone(), s.samples()))
        .collect()
}

#[test]
fn append_and_read_back_across_chunks() {
    let dir = tempfile::tempdir().unwrap();
    // The data spans more than 1.5 block ranges, so a background maintainer could cut it
    // into a block (and drop the short series from the head) before the head stats below
    // are read: this test is about the head, so nothing runs in the background.
    let opts = Options {
        background: false,
        ..Options::default()
    };
    let db = Db::open(dir.path(), opts).unwrap();
    let mut batch = Batch::new();
    // 1000 samples spans several chunks (120 samples max each) and a 2 h boundary.
    let samples: Vec<Sample> = (0..1000)
        .map(|k| Sample::new(k * 15_000 + (k % 7), (k * 3) as f64))
        .collect();
    batch.push(series("c", 0), samples.clone());
    let odd = vec![
        Sample::new(1, f64::NAN),
        Sample::new(2, f64::INFINITY),
        Sample::new(3, -0.0),
        Sample::new(4, stale_nan()),
    ];
    batch.push(series("odd", 0), odd);
    let r = db.append(&batch).unwrap();
    assert_eq!(r.appended, 1004);
    assert_eq!(r.new_series, 2);

    let got = select_all(&db, "c");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1, samples);
    let odd = &select_all(&db, "odd")[0].1;
    assert!(odd[0].v.is_nan());
    assert_eq!(odd[1].v, f64::INFINITY);
    assert!(odd[2].v == 0.0 && odd[2].v.is_sign_negative());
    assert_eq!(odd[3].v.to_bits(), STALE_NAN_BITS);

    // A narrower querier sees only its window, and seek works across chunks.
    let q = db.querier(100 * 15_000, 200 * 15_000);
    let s = q.select(&[Matcher::equal("__name__", "c")]).unwrap();
    let got = s[0].samples();
    assert_eq!(got.first().unwrap().t, 100 * 15_000 + 100 % 7);
    assert!(got
        .iter()
        .all(|x| x.t >= 100 * 15_000 && x.t <= 200 * 15_000));
    assert_eq!(got.len(), 100);
    let mut it = s[0].iter();
    assert_eq!(it.seek(150 * 15_000).unwrap().t, 150 * 15_000 + 150 % 7);
    assert_eq!(it.next().unwrap().t, 151 * 15_000 + 151 % 7);
    assert_eq!(it.seek(10_000_000_000), None);

    let st = db.stats();
    assert_eq!(st.series, 2);
    assert_eq!(st.samples, 1004);
    assert!(st.chunk_bytes > 0);
    // 1000 samples at 15 s make at least 9 chunks of <= 120 samples, plus the other series'.
    assert!(st.chunks >= 10, "{st:?}");
    assert!(db.wal_stats().writes >= 1);
    assert_eq!(st.min_time, Some(0));
}

#[test]
fn rejections_and_duplicates_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let l = series("x", 1);
    let mut b = Batch::new();
    b.push(l.clone(), vec![Sample::new(10, 1.0), Sample::new(20, 2.0)]);
    assert_eq!(db.append(&b).unwrap().appended, 2);
    let mut b = Batch::new();
    b.push(
        l.clone(),
        vec![
            Sample::new(20, 2.0), // exact duplicate: no-op
            Sample::new(20, 3.0), // duplicate timestamp, other value
            Sample::new(15, 1.0), // out of order
            Sample::new(30, 4.0), // fine
        ],
    );
    let r = db.append(&b).unwrap();
    assert_eq!(
        (
            r.appended,
            r.duplicates,
            r.duplicate_timestamp,
            r.out_of_order
        ),
        (1, 1, 1, 1)
    );
    let (why, who, t) = r.first_rejection.unwrap();
    assert_eq!(why.as_str(), "duplicate sample for timestamp");
    assert_eq!((who, t), (l.clone(), 20));
    let got = &select_all(&db, "x")[0].1;
    assert_eq!(
        got.iter().map(|s| s.t).collect::<Vec<_>>(),
        vec![10, 20, 30]
    );

    // The same series twice in one batch is applied in batch order.
    let mut b = Batch::new();
    b.push(l.clone(), vec![Sample::new(40, 5.0)]);
    b.push(l.clone(), vec![Sample::new(35, 5.0), Sample::new(50, 6.0)]);
    let r = db.append(&b).unwrap();
    assert_eq!((r.appended, r.out_of_order), (2, 1));

    // A retried request re-sends older samples that are stored already: no-ops, not errors.
    let mut b = Batch::new();
    let retry: Vec<Sample> = [(10, 1.0), (20, 2.0), (30, 4.0), (40, 5.0), (50, 6.0)]
        .iter()
        .map(|&(t, v)| Sample::new(t, v))
        .collect();
    b.push(l.clone(), retry);
    let r = db.append(&b).unwrap();
    assert_eq!((r.appended, r.duplicates, r.rejected()), (0, 5, 0));
    // ...but an older sample with another value is still out of order.
    let mut b = Batch::new();
    b.push(l.clone(), vec![Sample::new(30, 9.0), Sample::new(31, 1.0)]);
    let r = db.append(&b).unwrap();
    assert_eq!((r.appended, r.out_of_order), (0, 2));

    let mut b = Batch::new();
    b.push(Labels::empty(), vec![Sample::new(1, 1.0)]);
    assert!(matches!(db.append(&b), Err(Error::InvalidLabels(_))));
}

#[test]
fn matchers_and_label_apis() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let mut b = Batch::new();
    b.push(
        labels(&[("__name__", "up"), ("job", "api"), ("env", "prod")]),
        vec![Sample::new(1000, 1.0)],
    );
    b.push(
        labels(&[("__name__", "up"), ("job", "web")]),
        vec![Sample::new(5000, 1.0)],
    );
    db.append(&b).unwrap();
    let q = db.querier(0, 10_000);
    let m = |op, n: &str, v: &str| Matcher::new(op, n, v).unwrap();
    let names =
        |v: Vec<strata_engine::Series>| v.iter().map(|s| s.labels.to_string()).collect::<Vec<_>>();
    assert_eq!(
        names(
            q.select(&[
                m(MatchOp::Equal, "__name__", "up"),
                m(MatchOp::Equal, "env", "")
            ])
            .unwrap()
        ),
        vec!["up{job=\"web\"}"]
    );
    assert_eq!(
        names(q.select(&[m(MatchOp::Regex, "job", "api|web")]).unwrap()),
        vec!["up{env=\"prod\", job=\"api\"}", "up{job=\"web\"}"]
    );
    assert_eq!(
        db.label_names(&[], i64::MIN, i64::MAX).unwrap(),
        vec!["__name__", "env", "job"]
    );
    assert_eq!(
        db.label_values("job", &[], i64::MIN, i64::MAX).unwrap(),
        vec!["api", "web"]
    );
    // Restricted by matchers and by time.
    assert_eq!(
        db.label_values("job", &[m(MatchOp::Equal, "env", "prod")], 0, 10_000)
            .unwrap(),
        vec!["api"]
    );
    assert_eq!(
        db.label_values("job", &[], 2000, 10_000).unwrap(),
        vec!["web"]
    );
    assert_eq!(
        db.label_names(&[], 2000, 10_000).unwrap(),
        vec!["__name__", "job"]
    );
    assert_eq!(
        db.series_labels(&[m(MatchOp::Equal, "__name__", "up")], 2000, 10_000),
        vec![labels(&[("__name__", "up"), ("job", "web")])]
    );
    // Series outside the querier's window are not returned.
    assert!(db
        .querier(6000, 7000)
        .select(&[m(MatchOp::Equal, "__name__", "up")])
        .unwrap()
        .is_empty());
}

#[test]
fn reopen_restores_everything_and_lock_excludes_second_open() {
    let dir = tempfile::tempdir().unwrap();
    let expected: Vec<Sample> = (0..500)
        .map(|k| Sample::new(k * 1000, k as f64 * 0.5))
        .collect();
    {
        let db = Db::open(dir.path(), Options::default()).unwrap();
        assert!(matches!(
            Db::open(dir.path(), Options::default()),
            Err(Error::Locked { .. })
        ));
        for chunk in expected.chunks(50) {
            let mut b = Batch::new();
            b.push(series("r", 0), chunk.to_vec());
            b.push(series("r", 1), chunk.to_vec());
            db.append(&b).unwrap();
        }
        db.close().unwrap();
    }
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let got = select_all(&db, "r");
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|(_, s)| s == &expected));
    // Appends continue after replay, new series get fresh references.
    let mut b = Batch::new();
    b.push(
        series("r", 0),
        vec![Sample::new(500_000, 1.0), Sample::new(1, 1.0)],
    );
    b.push(series("r", 2), vec![Sample::new(1, 1.0)]);
    let r = db.append(&b).unwrap();
    assert_eq!((r.appended, r.out_of_order, r.new_series), (2, 1, 1));
    drop(db); // Drop also releases the lock.
    let db = Db::open(dir.path(), Options::default()).unwrap();
    assert_eq!(select_all(&db, "r").len(), 3);
    assert_eq!(db.stats().samples, 1002);
}

#[test]
fn concurrent_appenders_and_readers() {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Db::open(dir.path(), Options::default()).unwrap());
    const THREADS: usize = 4;
    const ROUNDS: i64 = 200;
    const SERIES: usize = 50;
    let mut handles = Vec::new();
    for th in 0..THREADS {
        let db = db.clone();
        handles.push(std::thread::spawn(move || {
            for k in 0..ROUNDS {
                let mut b = Batch::new();
                for i in 0..SERIES {
                    // Thread-private series plus one series every thread writes to.
                    b.push(
                        labels(&[
                            ("__name__", "conc"),
                            ("t", &th.to_string()),
                            ("i", &i.to_string()),
                        ]),
                        vec![Sample::new(k, k as f64)],
                    );
                }
                b.push(
                    labels(&[("__name__", "shared")]),
                    vec![Sample::new(k * 10 + th as i64, 1.0)],
                );
                db.append(&b).unwrap();
            }
        }));
    }
    let reader = {
        let db = db.clone();
        std::thread::spawn(move || {
            for _ in 0..50 {
                let q = db.querier(i64::MIN, i64::MAX);
                for s in q.select(&[Matcher::equal("__name__", "conc")]).unwrap() {
                    let v = s.samples();
                    // Always a gap-free prefix 0..n.
                    assert!(v.iter().enumerate().all(|(k, x)| x.t == k as i64));
                }
            }
        })
    };
    for h in handles {
        h.join().unwrap();
    }
    reader.join().unwrap();
    let got = select_all(&db, "conc");
    assert_eq!(got.len(), THREADS * SERIES);
    for (_, s) in &got {
        assert_eq!(s.len(), ROUNDS as usize);
    }
    // The shared series got a strictly increasing subset (racing threads may be out of order).
    let shared = &select_all(&db, "shared")[0].1;
    assert!(shared.windows(2).all(|w| w[0].t < w[1].t));
    assert_eq!(db.stats().series as usize, THREADS * SERIES + 1);
    // After reopen, replay yields exactly the same contents.
    let before: Vec<_> = select_all(&db, "conc")
        .into_iter()
        .chain(select_all(&db, "shared"))
        .collect();
    let db = Arc::try_unwrap(db).ok().unwrap();
    db.close().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let after: Vec<_> = select_all(&db, "conc")
        .into_iter()
        .chain(select_all(&db, "shared"))
        .collect();
    assert_eq!(before, after);
}

const CRASH_SERIES: usize = 40;

/// The crash test's options: batches advance time by 10 ms, so with a 100 ms block range the
/// background worker cuts the head into a block, checkpoints the WAL and compacts every few
/// batches, and kills land in the middle of all of those too.
fn crash_options() -> Options {
    Options {
        block_range: 100,
        retention: None,
        ..Options::default()
    }
}

/// Child side of the crash test: appends numbered batches forever, printing each batch number
/// once `append` has returned. Does nothing unless spawned by `kill_9_loses_no_acknowledged_batch`.
#[test]
#[ignore = "helper process for kill_9_loses_no_acknowledged_batch"]
fn crash_child() {
    let Ok(dir) = std::env::var("STRATA_CRASH_DIR") else {
        return;
    };
    let db = Db::open(&dir, crash_options()).unwrap();
    let start = last_batch(&db).map_or(0, |k| k + 1);
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    for k in start.. {
        let mut b = Batch::new();
        for i in 0..CRASH_SERIES {
            // Several samples per series and batch, so that batches are big enough to tear.
            let samples = (0..5)
                .map(|j| Sample::new(k * 10 + j, (k * 10 + j) as f64))
                .collect();
            b.push(series("crash", i), samples);
        }
        db.append(&b).unwrap();
        writeln!(out, "{k}").unwrap();
        out.flush().unwrap();
    }
}

/// The last complete batch in `db`, checking that every series holds exactly batches 0..=k.
fn last_batch(db: &Db) -> Option<i64> {
    let all = select_all(db, "crash");
    if all.is_empty() {
        return None;
    }
    assert_eq!(all.len(), CRASH_SERIES, "every batch creates all series");
    let mut last = None;
    for (l, s) in &all {
        for (n, x) in s.iter().enumerate() {
            let (k, j) = (n as i64 / 5, n as i64 % 5);
            assert_eq!(x.t, k * 10 + j, "{l}: samples form a gap-free prefix");
            assert_eq!(x.v, x.t as f64, "{l}: value intact");
        }
        assert_eq!(s.len() % 5, 0, "{l}: a batch is all or nothing");
        let k = s.len() as i64 / 5 - 1;
        assert!(
            last.is_none() || last == Some(k),
            "{l}: all series end at the same batch"
        );
        last = Some(k);
    }
    last.filter(|&k| k >= 0)
}

#[test]
fn kill_9_loses_no_acknowledged_batch() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5742_4154);
    let mut acked: Option<i64> = None;
    let mut blocks_seen = 0;
    for round in 0..30 {
        let mut child = Command::new(&exe)
            .args([
                "--ignored",
                "--exact",
                "crash_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("STRATA_CRASH_DIR", dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Ok(k) = line.trim().parse::<i64>() {
                    got.push(k);
                }
            }
            got
        });
        // Kill at a random moment, mid-append most of the time.
        std::thread::sleep(std::time::Duration::from_millis(rng.gen_range(30..300)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let printed = reader.join().unwrap();
        if let Some(&k) = printed.last() {
            acked = Some(k);
        }
        let db = Db::open(
            dir.path(),
            Options {
                background: false,
                ..crash_options()
            },
        )
        .unwrap();
        let present = last_batch(&db);
        assert!(
            present >= acked,
            "round {round}: batch {acked:?} was acknowledged but only {present:?} survived"
        );
        blocks_seen = blocks_seen.max(db.blocks().len());
        drop(db);
    }
    assert!(acked.unwrap_or(0) > 0, "the child made progress");
    assert!(
        blocks_seen > 0,
        "the head was cut into blocks while being killed"
    );
}

#[test]
fn resolve_matches_labels_based_append() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    // An existing series, created through `Batch::push`.
    let mut batch = Batch::new();
    batch.push(series("m", 0), vec![Sample::new(1, 1.0)]);
    assert_eq!(db.append(&batch).unwrap().new_series, 1);

    // The borrowed path finds it (empty values are skipped, as `Labels` drops them).
    let existing = db
        .resolve(&[("__name__", "m"), ("a", ""), ("i", "0"), ("job", "api")])
        .unwrap();
    assert!(!existing.created());
    assert_eq!(existing.labels(), &series("m", 0));
    // Unsorted pairs take the slow path and still find the same series.
    let unsorted = db
        .resolve(&[("job", "api"), ("i", "0"), ("__name__", "m")])
        .unwrap();
    assert!(!unsorted.created());
    assert_eq!(unsorted.series_ref(), existing.series_ref());

    // A new series, created through the borrowed path...
    let new = db
        .resolve(&[("__name__", "m"), ("i", "1"), ("job", "api")])
        .unwrap();
    assert!(new.created());
    assert_eq!(new.labels(), &series("m", 1));
    let again = db
        .resolve(&[("__name__", "m"), ("i", "1"), ("job", "api")])
        .unwrap();
    assert!(!again.created());
    assert_eq!(again.series_ref(), new.series_ref());

    // ...is the one a `Labels`-based append uses, counted as new once.
    let mut batch = Batch::new();
    batch.push_series(existing, &[Sample::new(2, 2.0)]);
    batch.push_series(new.clone(), &[Sample::new(1, 10.0)]);
    batch.push(series("m", 1), vec![Sample::new(2, 11.0)]);
    batch.push_series(new, &[]);
    let r = db.append(&batch).unwrap();
    assert_eq!((r.appended, r.new_series), (3, 1));
    let got = select_all(&db, "m");
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].0, series("m", 0));
    assert_eq!(got[0].1, vec![Sample::new(1, 1.0), Sample::new(2, 2.0)]);
    assert_eq!(got[1].0, series("m", 1));
    assert_eq!(got[1].1, vec![Sample::new(1, 10.0), Sample::new(2, 11.0)]);
    assert_eq!(db.stats().series, 2);

    // Invalid sets are errors, not series.
    assert!(matches!(db.resolve(&[]), Err(Error::InvalidLabels(_))));
    assert!(matches!(
        db.resolve(&[("a", "")]),
        Err(Error::InvalidLabels(_))
    ));
    assert!(matches!(
        db.resolve(&[("a", "1"), ("a", "2")]),
        Err(Error::InvalidLabels(_))
    ));
    assert!(matches!(
        db.resolve(&[("", "1")]),
        Err(Error::InvalidLabels(_))
    ));
    assert_eq!(db.stats().series, 2);
}

#[test]
fn series_created_through_resolve_survive_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Db::open(dir.path(), Options::default()).unwrap();
        let mut batch = Batch::new();
        for i in 0..50 {
            let i = i.to_string();
            let h = db
                .resolve(&[("__name__", "r"), ("i", &i), ("job", "api")])
                .unwrap();
            assert!(h.created());
            batch.push_series(h, &[Sample::new(10, 1.0), Sample::new(20, 2.0)]);
        }
        let r = db.append(&batch).unwrap();
        assert_eq!((r.appended, r.new_series), (100, 50));
        // A resolved series with no samples appended is not logged and is not replayed.
        db.resolve(&[("__name__", "unlogged")]).unwrap();
        db.close().unwrap();
    }
    let db = Db::open(dir.path(), Options::default()).unwrap();
    assert!(db.replay_report().damage.is_none());
    let got = select_all(&db, "r");
    assert_eq!(got.len(), 50);
    for (l, s) in &got {
        assert_eq!(s, &vec![Sample::new(10, 1.0), Sample::new(20, 2.0)], "{l}");
    }
    assert!(select_all(&db, "unlogged").is_empty());
    assert_eq!(db.stats().series, 50);
    // After replay the borrowed path resolves the replayed series without creating any.
    let h = db
        .resolve(&[("__name__", "r"), ("i", "7"), ("job", "api")])
        .unwrap();
    assert!(!h.created());
    let mut batch = Batch::new();
    batch.push_series(h, &[Sample::new(30, 3.0)]);
    let r = db.append(&batch).unwrap();
    assert_eq!((r.appended, r.new_series), (1, 0));
    assert_eq!(db.stats().series, 50);
}

#[test]
fn head_chunk_counters_match_a_walk_through_appends_cuts_deletes_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let opts = || Options {
        background: false,
        block_range: 3_600_000,
        ..Options::default()
    };
    let check = |db: &Db, what: &str| {
        let (kept, walked) = db.head_chunk_counts_checked();
        assert_eq!(kept, walked, "after {what}");
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let db = Db::open(dir.path(), opts()).unwrap();
    let mut t = 0i64;
    for round in 0..6 {
        // Enough samples per series to seal several chunks, at uneven steps.
        for _ in 0..400 {
            t += rng.gen_range(1_000..30_000);
            let mut b = Batch::new();
            for i in 0..rng.gen_range(1..20) {
                b.push(series("m", i), vec![Sample::new(t, rng.gen())]);
            }
            db.append(&b).unwrap();
        }
        check(&db, "appends");
        db.maintain().unwrap();
        check(&db, "a maintenance pass");
        if round % 2 == 1 {
            db.delete_series(&[Matcher::equal("i", "3")], t - 600_000, t)
                .unwrap();
            check(&db, "a delete");
        }
    }
    let (kept, _) = db.head_chunk_counts_checked();
    assert!(kept.0 > 0 && kept.1 > 0, "{kept:?}");
    drop(db);
    let db = Db::open(dir.path(), opts()).unwrap();
    check(&db, "a restart");
    db.flush().unwrap();
    check(&db, "a flush");
}

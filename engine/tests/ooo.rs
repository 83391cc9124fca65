//! The out-of-order window as an embedding user sees it: late samples within the window are
//! stored and visible at once, samples outside it are refused as too old, and accepted
//! samples survive head cuts (as blocks that overlap), compaction, WAL replay with and
//! without a checkpoint, deletes and flushes. A model of what was acknowledged is compared
//! with what queries return after every step.

use std::collections::BTreeMap;

use proptest::prelude::*;
use strata_engine::{Batch, Db, Labels, Matcher, Options, RejectReason, Sample};

const MIN: i64 = 60_000;
const T0: i64 = 1_700_000_000_000;

fn opts(window: i64) -> Options {
    Options {
        block_range: 30 * MIN,
        retention: None,
        background: false,
        out_of_order_window: window,
        ..Options::default()
    }
}

fn series(i: usize) -> Labels {
    Labels::from_pairs(&[("__name__", "m"), ("i", &i.to_string())]).unwrap()
}

type Model = BTreeMap<Labels, BTreeMap<i64, u64>>;

fn read_all(db: &Db) -> Model {
    let plain = read_with(db, None);
    // A series' chunks of a block read as one piece (series summaries) give the same
    // samples, overlapping blocks included.
    assert_eq!(plain, read_with(db, Some((i64::MIN, i64::MAX))));
    plain
}

fn read_with(db: &Db, within: Option<(i64, i64)>) -> Model {
    let mut out = Model::new();
    for s in db
        .querier(i64::MIN, i64::MAX)
        .select_within(&[Matcher::equal("__name__", "m")], within)
        .unwrap()
    {
        let decoded = s.try_samples().unwrap();
        let iterated: Vec<Sample> = s.samples();
        assert_eq!(decoded.len(), iterated.len(), "iterator and decode agree");
        if decoded.is_empty() {
            // A block series whose samples tombstones delete one by one is still listed.
            continue;
        }
        let m = out.entry(s.labels.clone()).or_default();
        for x in decoded {
            assert!(m.insert(x.t, x.v.to_bits()).is_none(), "{} twice", x.t);
        }
    }
    out
}

/// Appends one sample; returns the report's verdict: Ok(true) stored, Ok(false) an exact
/// duplicate, Err(reason) refused.
fn put(db: &Db, i: usize, t: i64, v: f64) -> Result<bool, RejectReason> {
    let mut b = Batch::new();
    b.push(series(i), vec![Sample::new(t, v)]);
    let r = db.append(&b).unwrap();
    match r.first_rejection {
        Some((why, _, _)) => Err(why),
        None => Ok(r.appended == 1),
    }
}

#[test]
fn window_off_refuses_older_samples() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts(0)).unwrap();
    assert_eq!(put(&db, 0, T0, 1.0), Ok(true));
    assert_eq!(put(&db, 0, T0 - 1, 1.0), Err(RejectReason::OutOfOrder));
    assert_eq!(put(&db, 0, T0, 2.0), Err(RejectReason::DuplicateTimestamp));
}

#[test]
fn late_samples_within_the_window_are_stored_and_visible() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts(10 * MIN)).unwrap();
    let mut model = Model::new();
    let ok = |i: usize, t: i64, v: f64, model: &mut Model| {
        assert_eq!(put(&db, i, t, v), Ok(true), "t={t}");
        model.entry(series(i)).or_default().insert(t, v.to_bits());
    };
    ok(0, T0, 1.0, &mut model);
    ok(0, T0 + 60_000, 2.0, &mut model);
    ok(0, T0 + 30_000, 1.5, &mut model); // between two in-order samples
    ok(0, T0 - 5 * MIN, 0.5, &mut model); // before the first
    ok(1, T0 - 9 * MIN, 7.0, &mut model); // a new series' first sample, late
    assert_eq!(read_all(&db), model);
    // Retries are no-ops; another value at a held timestamp is a conflict.
    assert_eq!(put(&db, 0, T0 + 30_000, 1.5), Ok(false));
    assert_eq!(
        put(&db, 0, T0 + 30_000, 9.0),
        Err(RejectReason::DuplicateTimestamp)
    );
    assert_eq!(put(&db, 0, T0, 9.0), Err(RejectReason::DuplicateTimestamp));
    // Outside the window (head's newest minus 10 min): too old.
    assert_eq!(
        put(&db, 0, T0 + 60_000 - 10 * MIN - 1, 1.0),
        Err(RejectReason::TooOldSample)
    );
    assert_eq!(
        put(&db, 1, T0 - 20 * MIN, 1.0),
        Err(RejectReason::TooOldSample)
    );
    let r = {
        let mut b = Batch::new();
        b.push(series(0), vec![Sample::new(T0 - 2 * MIN, 3.0)]);
        b.push(series(0), vec![Sample::new(T0 - 2 * MIN, 3.0)]);
        db.append(&b).unwrap()
    };
    assert_eq!(
        (r.appended, r.out_of_order_appended, r.duplicates),
        (1, 1, 1)
    );
    model
        .entry(series(0))
        .or_default()
        .insert(T0 - 2 * MIN, 3.0f64.to_bits());
    assert_eq!(read_all(&db), model);
    // A reader of the directory replays the out-of-order records too.
    let ro = Db::open_read_only(dir.path(), true).unwrap();
    assert_eq!(read_all(&ro), model);
}

/// Late samples below the head's bound (their time range is already in a block) go into a
/// block of their own at the next cut, which compaction merges with the block they overlap.
#[test]
fn samples_below_the_head_bound_become_overlapping_blocks_and_are_merged() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts(60 * MIN)).unwrap();
    let mut model = Model::new();
    let mut t = T0 - T0 % (30 * MIN);
    while t < T0 - T0 % (30 * MIN) + 70 * MIN {
        assert_eq!(put(&db, 0, t, t as f64), Ok(true));
        model
            .entry(series(0))
            .or_default()
            .insert(t, (t as f64).to_bits());
        t += 15_000;
    }
    db.maintain().unwrap();
    assert_eq!(db.blocks().len(), 1, "the first 30 min were cut");
    let first = db.blocks()[0].meta().clone();
    // Late, inside the block's range, within the window.
    let late = first.max_time - 7_500;
    assert_eq!(put(&db, 0, late, -1.0), Ok(true));
    model
        .entry(series(0))
        .or_default()
        .insert(late, (-1.0f64).to_bits());
    assert_eq!(read_all(&db), model, "visible from the head at once");
    db.close().unwrap();
    let db = Db::open(dir.path(), opts(60 * MIN)).unwrap();
    assert_eq!(read_all(&db), model, "replayed from the WAL");
    db.flush().unwrap();
    assert_eq!(read_all(&db), model, "after the flush and compaction");
    let blocks = db.blocks();
    for w in blocks.windows(2) {
        assert!(
            w[0].meta().max_time <= w[1].meta().min_time,
            "compaction left overlapping blocks"
        );
    }
    assert_eq!(db.stats().ooo_samples, 0);
    db.close().unwrap();
    let db = Db::open(dir.path(), opts(60 * MIN)).unwrap();
    assert_eq!(read_all(&db), model, "after restart");
}

#[derive(Clone, Debug)]
enum Op {
    /// Series, offset (s) from the newest timestamp so far (negative: late). The value is
    /// a function of the timestamp, so a resent sample is always an exact duplicate.
    Put(usize, i64),
    Maintain,
    Flush,
    Reopen,
    Checkpointed,
    Delete(usize, i64, i64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => (0..3usize, -700..400i64).prop_map(|(i, d)| Op::Put(i, d)),
        1 => Just(Op::Maintain),
        1 => Just(Op::Flush),
        1 => Just(Op::Reopen),
        1 => Just(Op::Checkpointed),
        1 => (0..3usize, -600..0i64, 0..300i64).prop_map(|(i, a, l)| Op::Delete(i, a, l)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn acknowledged_samples_survive_everything(ops in prop::collection::vec(op(), 1..120)) {
        let window = 10 * MIN;
        let dir = tempfile::tempdir().unwrap();
        let mut db = Some(Db::open(dir.path(), opts(window)).unwrap());
        let mut model = Model::new();
        let newest = T0;
        for i in 0..3 {
            prop_assert_eq!(put(db.as_ref().unwrap(), i, T0, ((T0 / 1000) % 1000) as f64), Ok(true));
            model.entry(series(i)).or_default().insert(T0, (((T0 / 1000) % 1000) as f64).to_bits());
        }
        let mut newest = newest;
        for op in ops {
            let d = db.as_ref().unwrap();
            match op {
                Op::Put(i, off) => {
                    let t = newest + off * 1000;
                    let v = ((t / 1000) % 1000) as f64;
                    let held = model.get(&series(i)).and_then(|m| m.get(&t)).copied();
                    let got = put(d, i, t, v);
                    match held {
                        // A no-op; a late copy of a sample already in a block is stored
                        // again (the head does not look into blocks) and reads merge it;
                        // outside the window it is too old unless the head holds it.
                        Some(_) if t >= newest - window => prop_assert!(got.is_ok(), "{:?}", got),
                        Some(_) => prop_assert!(
                            matches!(got, Ok(false) | Err(RejectReason::TooOldSample)),
                            "{:?}",
                            got
                        ),
                        None if t >= newest - window => {
                            prop_assert_eq!(got, Ok(true), "t = newest{:+} s", off);
                            model.entry(series(i)).or_default().insert(t, v.to_bits());
                            newest = newest.max(t);
                        }
                        // Older than the window: refused, unless the series starts over
                        // (none of its data in the head) and takes it in order.
                        None => match got {
                            Ok(true) => {
                                model.entry(series(i)).or_default().insert(t, v.to_bits());
                            }
                            other => prop_assert_eq!(other, Err(RejectReason::TooOldSample)),
                        },
                    }
                }
                Op::Maintain => { d.maintain().unwrap(); }
                Op::Flush => { d.flush().unwrap(); }
                Op::Reopen => {
                    db.take().unwrap().close().unwrap();
                    db = Some(Db::open(dir.path(), opts(window)).unwrap());
                }
                Op::Checkpointed => {
                    // A cut and a checkpoint need a head spanning 1.5 block ranges.
                    d.maintain().unwrap();
                    drop(db.take());
                    db = Some(Db::open(dir.path(), opts(window)).unwrap());
                }
                Op::Delete(i, a, l) => {
                    let (lo, hi) = (newest + a * 1000, newest + (a + l) * 1000);
                    d.delete_series(&[Matcher::equal("i", i.to_string())], lo, hi).unwrap();
                    if let Some(m) = model.get_mut(&series(i)) {
                        m.retain(|t, _| *t < lo || *t > hi);
                        if m.is_empty() {
                            model.remove(&series(i));
                        }
                    }
                }
            }
            prop_assert_eq!(read_all(db.as_ref().unwrap()), model.clone());
        }
    }
}

/// Out-of-order appends move the data epoch (result caches) when they reach behind the
/// stable bound, and the history generation (incremental windows) whenever they happen;
/// in-order appends move neither.
#[test]
fn late_samples_move_the_epoch_and_the_history_generation() {
    let dir = tempfile::tempdir().unwrap();
    let o = Options {
        stable_clock: false,
        ..opts(30 * MIN)
    };
    let db = Db::open(dir.path(), o).unwrap();
    for k in 0..40 {
        assert_eq!(put(&db, 0, T0 + k * MIN, 1.0), Ok(true));
    }
    let newest = T0 + 39 * MIN;
    let (e0, h0) = (db.data_epoch(), db.history_generation());
    assert_eq!(put(&db, 0, newest + MIN, 1.0), Ok(true));
    assert_eq!((db.data_epoch(), db.history_generation()), (e0, h0));
    // Late but after the stable bound (newest - 5 min): only the history moves.
    assert_eq!(put(&db, 0, newest + 30_000, 2.0), Ok(true)); // before newest + 1 min
    assert_eq!(db.data_epoch(), e0);
    assert!(db.history_generation() > h0);
    // Late and behind the stable bound: both move.
    let h1 = db.history_generation();
    assert_eq!(put(&db, 0, newest - 20 * MIN + 30_000, 3.0), Ok(true));
    assert!(db.data_epoch() > e0);
    assert!(db.history_generation() > h1);
}

/// A querier made before a flush that writes out only late samples (the in-order head was
/// already empty, so the head's bound does not move) still sees them after the flush.
#[test]
fn querier_made_before_a_flush_of_late_samples_sees_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts(30 * MIN)).unwrap();
    let mut model = Model::new();
    for k in 0..20 {
        let t = T0 + k * MIN;
        assert_eq!(put(&db, 0, t, 1.0), Ok(true));
        model
            .entry(series(0))
            .or_default()
            .insert(t, 1f64.to_bits());
    }
    db.flush().unwrap();
    for k in 0..5 {
        let t = T0 + k * MIN + 30_000;
        assert_eq!(put(&db, 0, t, 2.0), Ok(true));
        model
            .entry(series(0))
            .or_default()
            .insert(t, 2f64.to_bits());
    }
    assert_eq!(db.stats().ooo_samples, 5);
    let q = db.querier(i64::MIN, i64::MAX);
    db.flush().unwrap();
    assert_eq!(db.stats().ooo_samples, 0, "the flush wrote them out");
    let mut got = Model::new();
    for s in q.select(&[Matcher::equal("__name__", "m")]).unwrap() {
        let m = got.entry(s.labels.clone()).or_default();
        for x in s.try_samples().unwrap() {
            assert!(m.insert(x.t, x.v.to_bits()).is_none(), "sample twice");
        }
    }
    assert_eq!(got, model);
}

/// A selection of thousands of head series is read in parts on several threads, with the
/// open chunks' snapshots sharing one buffer per part: every series comes once, sorted by
/// labels, with each of its samples in range (sealed chunks, the open chunk, late samples),
/// for ranges over the whole head, its end alone and its start alone.
#[test]
fn thousands_of_head_series_are_read_whole_and_in_label_order() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts(60 * MIN)).unwrap();
    let mut model = Model::new();
    let step = 10_000;
    let mut b = Batch::new();
    for i in 0..2_600 {
        // 5 to 185 samples: only an open chunk, or sealed chunks and an open one.
        let n = (i % 10) as i64 * 20 + 5;
        let samples: Vec<Sample> = (0..n)
            .map(|k| Sample::new(T0 + k * step, (i as i64 * 1_000 + k) as f64))
            .collect();
        let m = model.entry(series(i)).or_default();
        for s in &samples {
            m.insert(s.t, s.v.to_bits());
        }
        b.push(series(i), samples);
    }
    let r = db.append(&b).unwrap();
    assert!(r.first_rejection.is_none());
    for i in (0..2_600).step_by(5) {
        // A late sample between the first two.
        let (t, v) = (T0 + step / 2, -(i as f64));
        assert_eq!(put(&db, i, t, v), Ok(true));
        model.get_mut(&series(i)).unwrap().insert(t, v.to_bits());
    }
    let end = T0 + 185 * step;
    for (mint, maxt) in [
        (i64::MIN, i64::MAX),
        (end - 5 * MIN, end),
        (T0, T0 + 5 * MIN),
    ] {
        let want: Model = model
            .iter()
            .map(|(l, m)| {
                let inside = m.range(mint..=maxt).map(|(&t, &v)| (t, v)).collect();
                (l.clone(), inside)
            })
            .filter(|(_, m): &(Labels, BTreeMap<i64, u64>)| !m.is_empty())
            .collect();
        let got = db
            .querier(mint, maxt)
            .select(&[Matcher::equal("__name__", "m")])
            .unwrap();
        assert!(
            got.windows(2).all(|w| w[0].labels < w[1].labels),
            "sorted by labels, each once"
        );
        let mut read = Model::new();
        for s in got {
            let inside: BTreeMap<i64, u64> = s
                .try_samples()
                .unwrap()
                .into_iter()
                .filter(|x| (mint..=maxt).contains(&x.t))
                .map(|x| (x.t, x.v.to_bits()))
                .collect();
            if !inside.is_empty() {
                read.insert(s.labels.clone(), inside);
            }
        }
        assert_eq!(read.len(), want.len(), "series in [{mint}, {maxt}]");
        assert!(read == want, "samples in [{mint}, {maxt}]");
    }
}

/// Splits of open chunks: a plain read of the head copies the open chunk whole and leaves no
/// mark in it; a reader of long windows (`within`) gets it split at a mark it leaves at the
/// next-to-last sample, with the summary of the samples up to there; a short window's
/// reader moves the mark to the start of its window, where the next long-window reader's
/// split then stands; late samples after it belong to the rest.
#[test]
fn open_chunks_are_split_only_for_readers_of_long_windows() {
    let db = Db::open(tempfile::tempdir().unwrap().keep(), opts(10 * MIN)).unwrap();
    for k in 0..60 {
        put(&db, 0, T0 + k * 10_000, k as f64).unwrap();
    }
    let all = [Matcher::equal("__name__", "m")];
    let split_of = |within: Option<(i64, i64)>, mint: i64| {
        let s = db
            .querier(mint, i64::MAX)
            .select_within(&all, within)
            .unwrap();
        s[0].chunks()
            .iter()
            .find_map(|c| c.split())
            .map(|sp| (sp.prefix().count, sp.prefix_max_time(), sp.rest()))
    };
    assert_eq!(split_of(None, i64::MIN), None, "a plain read");
    assert_eq!(split_of(None, i64::MIN), None, "no mark was left");
    let long = Some((T0 + 600_000, T0 + 600_000));
    assert_eq!(split_of(long, i64::MIN), Some((59, T0 + 580_000, 1)));
    // A short window from the 40th sample on (its reader cuts a tail there, no split).
    assert_eq!(split_of(None, T0 + 395_000), None);
    assert_eq!(split_of(long, i64::MIN), Some((40, T0 + 390_000, 20)));
    // A late sample inside the out-of-order window goes to an out-of-order chunk, one after
    // the last to the open chunk (after the split).
    put(&db, 0, T0 + 395_000, 1.5).unwrap();
    put(&db, 0, T0 + 600_000, 60.0).unwrap();
    assert_eq!(split_of(long, i64::MIN), Some((40, T0 + 390_000, 21)));
    assert_eq!(split_of(None, i64::MIN), None, "plain reads never split");
}

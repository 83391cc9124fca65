//! Head append throughput: samples per second into [`strata_engine::Db`] with the WAL on.
//!
//! Shape: 100k series of the canary-fleet workload (`strata_benches::loadgen::workload`),
//! appended as remote-write-like batches of 2000 series x 1 sample. One benchmark iteration is
//! one scrape round: every series gets its next sample. The first round (series creation) is
//! done before measuring, so this measures the steady state: appends to existing series. With
//! 2 threads each thread owns half of the batches (disjoint series), as two remote-write
//! connections would.
//!
//! Building the `Batch` values (label sets and samples) is outside the timed part; only
//! `Db::append` is timed.
//!
//! Run: `cargo bench -p strata-benches --bench head`.

use std::time::{Duration, Instant};

use criterion::{criterion_main, Criterion, Throughput};
use strata_benches::loadgen::workload::{Fleet, FleetSpec};
use strata_engine::{Batch, Db, Labels, Options, Sample};

const SERIES: usize = 100_000;
const BATCH_SERIES: usize = 2000;

/// The fleet's label sets, cut into request-sized groups.
struct Workload {
    fleet: Fleet,
    labels: Vec<Labels>,
    values: Vec<(i64, f64)>,
}

impl Workload {
    fn new() -> Workload {
        let fleet = Fleet::new(
            &FleetSpec {
                series: SERIES,
                seed: 11,
            },
            1_700_000_000_000,
        );
        let labels = fleet
            .series()
            .iter()
            .map(|s| Labels::from_pairs(&s.labels).expect("workload labels are valid"))
            .collect();
        Workload {
            fleet,
            labels,
            values: Vec::new(),
        }
    }

    /// The next scrape round as batches of [`BATCH_SERIES`] series.
    fn next_round(&mut self) -> Vec<Batch> {
        self.fleet.round(&mut self.values);
        self.labels
            .chunks(BATCH_SERIES)
            .zip(self.values.chunks(BATCH_SERIES))
            .map(|(ls, vs)| {
                let mut b = Batch::new();
                for (l, &(t, v)) in ls.iter().zip(vs) {
                    b.push(l.clone(), vec![Sample::new(t, v)]);
                }
                b
            })
            .collect()
    }
}

/// Appends `batches` with `threads` threads, each taking a contiguous share.
fn append_round(db: &Db, batches: &[Batch], threads: usize) {
    if threads <= 1 {
        for b in batches {
            db.append(b).expect("append");
        }
        return;
    }
    let per = batches.len().div_ceil(threads);
    std::thread::scope(|s| {
        for share in batches.chunks(per) {
            s.spawn(move || {
                for b in share {
                    db.append(b).expect("append");
                }
            });
        }
    });
}

fn head_append(c: &mut Criterion) {
    let mut group = c.benchmark_group("head_append");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(SERIES as u64));
    for threads in [1usize, 2] {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open(dir.path(), Options::default()).expect("Db::open");
        let mut work = Workload::new();
        // Create the series first: the measured rounds append to existing series.
        append_round(&db, &work.next_round(), threads);
        group.bench_function(
            format!("100k_series_2000_per_batch/{threads}_threads"),
            |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let batches = work.next_round();
                        let t0 = Instant::now();
                        append_round(&db, &batches, threads);
                        total += t0.elapsed();
                    }
                    total
                })
            },
        );
        db.close().expect("close");
    }
    group.finish();
}

/// The criterion group, in a private module so the generated `pub fn` needs no docs.
mod group {
    criterion::criterion_group!(benches, super::head_append);
}
criterion_main!(group::benches);

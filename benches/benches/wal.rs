//! WAL write throughput: samples per second written by `Wal::write` in batches of 1000.
//!
//! Shape: 1000 series scraped every 15 s with up to 50 ms of jitter; half are counters
//! (integer increments), half gauges (random floats). One iteration writes one batch, a
//! `Record::Samples` of 1000 samples (one per series), as `Db::append` does for a
//! remote-write request whose series all exist. Encoding, compression, the lock and the
//! positioned write are timed; building the batch is not.
//!
//! - `interval`: `SyncPolicy::Interval(100ms)`, the default; `sync_to` returns at once.
//! - `always`: `SyncPolicy::Always`; every batch waits for its fsync (one writer, so no
//!   group commit: this is the fsync latency bound).
//! - `always_4_threads`: four writers sharing fsyncs through group commit.
//!
//! Segments that fill up during a sample are deleted between samples, outside the timing.
//!
//! `wal_replay/200k_samples` measures `Wal::open` replaying 200 such batches.
//!
//! Run: `cargo bench -p strata-benches --bench wal -- --warm-up-time 1 --measurement-time 3`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_main, Criterion, Throughput};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use strata_engine::wal::{Record, SampleRecord, SeriesRecord, SyncPolicy, Wal, WalOptions};
use strata_engine::Labels;

const SERIES: u64 = 1000;

/// Scrape rounds of [`SERIES`] series.
struct Scrapes {
    rng: SmallRng,
    round: i64,
    counters: Vec<f64>,
}

impl Scrapes {
    fn new(seed: u64) -> Scrapes {
        Scrapes {
            rng: SmallRng::seed_from_u64(seed),
            round: 0,
            counters: vec![0.0; SERIES as usize / 2],
        }
    }

    fn next_batch(&mut self) -> Vec<Record> {
        let base = 1_700_000_000_000 + self.round * 15_000;
        self.round += 1;
        let samples = (0..SERIES)
            .map(|i| {
                let t = base + self.rng.gen_range(0..50);
                let v = if (i as usize) < self.counters.len() {
                    let c = &mut self.counters[i as usize];
                    *c += f64::from(self.rng.gen_range(0u32..20));
                    *c
                } else {
                    self.rng.gen_range(0.0..100.0)
                };
                SampleRecord { sref: i + 1, t, v }
            })
            .collect();
        vec![Record::Samples(samples)]
    }
}

fn open(sync: SyncPolicy) -> (tempfile::TempDir, Wal) {
    let dir = tempfile::tempdir().expect("temp dir");
    let opts = WalOptions {
        segment_size: 64 << 20,
        sync,
    };
    let (wal, _) = Wal::open(dir.path(), opts, |_| {}).expect("open WAL");
    (dir, wal)
}

/// Deletes full segments so that a long run does not fill the disk.
fn trim(wal: &Wal) {
    wal.truncate_before(wal.end().segment)
        .expect("truncate WAL");
}

fn bench_wal(c: &mut Criterion) {
    let mut g = c.benchmark_group("wal_write");
    g.throughput(Throughput::Elements(SERIES));

    for (name, sync) in [
        ("interval", SyncPolicy::Interval(Duration::from_millis(100))),
        ("always", SyncPolicy::Always),
    ] {
        let (_dir, wal) = open(sync);
        let mut scrapes = Scrapes::new(7);
        // Batches are built ahead, outside the timing, and reused round robin.
        let batches: Vec<Vec<Record>> = (0..64).map(|_| scrapes.next_batch()).collect();
        g.bench_function(format!("1000_samples/{name}"), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for i in 0..iters {
                    let pos = wal
                        .write(&batches[i as usize % batches.len()])
                        .expect("write");
                    wal.sync_to(pos).expect("sync");
                }
                let elapsed = start.elapsed();
                trim(&wal);
                elapsed
            })
        });
        wal.close().expect("close");
    }

    // Group commit: four writers, each waiting for its own batch to be durable.
    let threads = 4u64;
    let (_dir, wal) = open(SyncPolicy::Always);
    let wal = Arc::new(wal);
    let batches: Arc<Vec<Vec<Record>>> = Arc::new({
        let mut scrapes = Scrapes::new(9);
        (0..64).map(|_| scrapes.next_batch()).collect()
    });
    g.throughput(Throughput::Elements(SERIES * threads));
    g.bench_function("1000_samples/always_4_threads", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let wal = wal.clone();
                    let batches = batches.clone();
                    std::thread::spawn(move || {
                        for i in 0..iters {
                            let batch = &batches[((i + t * 16) as usize) % batches.len()];
                            let pos = wal.write(batch).expect("write");
                            wal.sync_to(pos).expect("sync");
                        }
                    })
                })
                .collect();
            for h in handles {
                h.join().expect("writer thread");
            }
            let elapsed = start.elapsed();
            trim(&wal);
            elapsed
        })
    });
    wal.close().expect("close");
    g.finish();
}

/// Replay speed: `Wal::open` over a WAL of 200 batches of 1000 samples (plus the series
/// records defining the 1000 series), counting what it delivers.
fn bench_replay(c: &mut Criterion) {
    const BATCHES: u64 = 200;
    let dir = tempfile::tempdir().expect("temp dir");
    let opts = WalOptions {
        segment_size: 64 << 20,
        sync: SyncPolicy::Always,
    };
    {
        let (wal, _) = Wal::open(dir.path(), opts.clone(), |_| {}).expect("open WAL");
        let series = (1..=SERIES)
            .map(|i| SeriesRecord {
                sref: i,
                labels: Labels::from_pairs(&[
                    ("__name__", "node_cpu_seconds_total"),
                    ("cpu", &(i % 8).to_string()),
                    ("instance", &format!("host-{}:9100", i / 8)),
                    ("job", "node"),
                ])
                .expect("valid labels"),
            })
            .collect();
        wal.write(&[Record::Series(series)]).expect("write");
        let mut scrapes = Scrapes::new(3);
        for _ in 0..BATCHES {
            wal.write(&scrapes.next_batch()).expect("write");
        }
        wal.close().expect("close");
    }
    let mut g = c.benchmark_group("wal_replay");
    g.throughput(Throughput::Elements(SERIES * BATCHES));
    g.bench_function("200k_samples", |b| {
        b.iter(|| {
            let mut n = 0usize;
            let (wal, report) =
                Wal::open(dir.path(), opts.clone(), |r| n += r.len()).expect("open WAL");
            assert!(report.damage.is_none());
            drop(wal);
            n
        })
    });
    g.finish();
}

/// The criterion group, in a private module so the generated `pub fn` needs no docs.
mod group {
    criterion::criterion_group!(benches, super::bench_wal, super::bench_replay);
}
criterion_main!(group::benches);

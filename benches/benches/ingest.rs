//! Remote-write decode throughput: snappy + protobuf + validation + label-set building, in
//! samples per second, for the typical Prometheus shard batch of 2000 series x 1 sample.
//!
//! Shape: the first 2000 series of the canary-fleet workload
//! (`strata_benches::loadgen::workload`: `up`, request counters by route/status, histogram
//! buckets, memory, CPU; 7-9 labels each) with one sample each, encoded once as a v1 and a
//! v2 body outside the timed part. Timed: `strata_ingest::decode` (no storage). Separate
//! entries isolate snappy decompression alone and the text-format parser on the same series.
//!
//! `ingest_write_20k_series/*` times the whole receive path, `strata_ingest::write` (decode,
//! validation, series resolution, `Db::append` with the WAL on), for a 20k-series fleet sent
//! as 10 requests of 2000 series x 1 sample per scrape round; the first round (series
//! creation) is done before measuring, so this is the steady state of a replay or a live
//! fleet. Encoding the requests is outside the timed part.
//!
//! Run: `cargo bench -p strata-benches --bench ingest -- --warm-up-time 1 --measurement-time 3`.

// `criterion_group!` generates an undocumented `pub fn`.
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use strata_benches::loadgen::workload::{Fleet, FleetSpec};
use strata_engine::{Db, Options};
use strata_ingest::encode::{self, TimeSeries};
use strata_ingest::{decode, parse_text, write, Limits, Protocol};

const SERIES: usize = 2000;
const START_MS: i64 = 1_700_000_000_000;

fn request() -> Vec<TimeSeries> {
    let mut fleet = Fleet::new(
        &FleetSpec {
            series: SERIES,
            seed: 7,
        },
        START_MS,
    );
    let mut values = Vec::new();
    fleet.round(&mut values);
    fleet
        .series()
        .iter()
        .zip(&values)
        .map(|(s, &(t, v))| TimeSeries {
            labels: s.labels.clone(),
            samples: vec![(t, v)],
        })
        .collect()
}

fn bench_decode(c: &mut Criterion) {
    let series = request();
    let samples = series.iter().map(|s| s.samples.len()).sum::<usize>() as u64;
    let v1 = encode::snappy(&encode::write_request_v1(&series));
    let v2 = encode::snappy(&encode::write_request_v2(&series));
    let text = encode::text_exposition(&series);
    let limits = Limits::default();
    let now = START_MS + 60_000;

    let mut g = c.benchmark_group("ingest_decode_2000x1");
    g.throughput(Throughput::Elements(samples));
    g.bench_function("v1", |b| {
        b.iter(|| {
            let d = decode(Protocol::V1, black_box(&v1), &limits, now).expect("decode");
            assert_eq!(d.series.len(), SERIES);
            d
        })
    });
    g.bench_function("v2", |b| {
        b.iter(|| {
            let d = decode(Protocol::V2, black_box(&v2), &limits, now).expect("decode");
            assert_eq!(d.series.len(), SERIES);
            d
        })
    });
    g.bench_function("v1_snappy_only", |b| {
        b.iter(|| {
            snap::raw::Decoder::new()
                .decompress_vec(black_box(&v1))
                .expect("snappy")
        })
    });
    g.bench_function("text", |b| {
        b.iter(|| {
            let p = parse_text(black_box(text.as_bytes()), now, &limits, now).expect("parse");
            assert_eq!(p.series.len(), SERIES);
            p
        })
    });
    g.finish();
    eprintln!(
        "request sizes: v1 {} B snappy, v2 {} B snappy, text {} B",
        v1.len(),
        v2.len(),
        text.len()
    );
}

const WRITE_SERIES: usize = 20_000;

/// The next scrape round of `fleet` as snappy-compressed requests of [`SERIES`] series.
fn encoded_round(fleet: &mut Fleet, proto: Protocol) -> Vec<Vec<u8>> {
    let mut values = Vec::new();
    fleet.round(&mut values);
    let all: Vec<TimeSeries> = fleet
        .series()
        .iter()
        .zip(&values)
        .map(|(s, &(t, v))| TimeSeries {
            labels: s.labels.clone(),
            samples: vec![(t, v)],
        })
        .collect();
    all.chunks(SERIES)
        .map(|c| match proto {
            Protocol::V1 => encode::snappy(&encode::write_request_v1(c)),
            Protocol::V2 => encode::snappy(&encode::write_request_v2(c)),
        })
        .collect()
}

fn bench_write(c: &mut Criterion) {
    let limits = Limits::default();
    let mut g = c.benchmark_group("ingest_write_20k_series");
    g.throughput(Throughput::Elements(WRITE_SERIES as u64));
    for (name, proto) in [("v1", Protocol::V1), ("v2", Protocol::V2)] {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open(dir.path(), Options::default()).expect("Db::open");
        let mut fleet = Fleet::new(
            &FleetSpec {
                series: WRITE_SERIES,
                seed: 7,
            },
            START_MS,
        );
        for body in encoded_round(&mut fleet, proto) {
            write(&db, proto, &body, &limits).expect("write");
        }
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let bodies = encoded_round(&mut fleet, proto);
                    let t0 = Instant::now();
                    for body in &bodies {
                        let s = write(&db, proto, black_box(body), &limits).expect("write");
                        assert_eq!(s.append.appended as usize, SERIES);
                    }
                    total += t0.elapsed();
                }
                total
            })
        });
        db.close().expect("close");
    }
    g.finish();
}

criterion_group!(benches, bench_decode, bench_write);
criterion_main!(benches);

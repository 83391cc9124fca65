//! Remote-write decode throughput: snappy + protobuf + validation + label-set building, in
//! samples per second, for the typical Prometheus shard batch of 2000 series x 1 sample.
//!
//! Shape: the first 2000 series of the canary-fleet workload
//! (`strata_benches::loadgen::workload`: `up`, request counters by route/status, histogram
//! buckets, memory, CPU; 7-9 labels each) with one sample each, encoded once as a v1 and a
//! v2 body outside the timed part. Timed: `strata_ingest::decode` (no storage). Separate
//! entries isolate snappy decompression alone and the text-format parser on the same series.
//!
//! Run: `cargo bench -p strata-benches --bench ingest -- --warm-up-time 1 --measurement-time 3`.

// `criterion_group!` generates an undocumented `pub fn`.
#![allow(missing_docs)]

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use strata_benches::loadgen::workload::{Fleet, FleetSpec};
use strata_ingest::encode::{self, TimeSeries};
use strata_ingest::{decode, parse_text, Limits, Protocol};

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

criterion_group!(benches, bench_decode);
criterion_main!(benches);

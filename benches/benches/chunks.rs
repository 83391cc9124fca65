//! Chunk codec benchmarks: encode and decode ns/sample per encoding on realistic series
//! (see `strata_benches::series_gen`), plus a printed table of bytes/sample per encoding on
//! each series kind and on the mix.
//!
//! Run: `cargo bench -p strata-benches --bench chunks -- --warm-up-time 1 --measurement-time 3`
//! Criterion reports throughput in elements (samples) per second; ns/sample = 1e9 / that.
//! `decode/*/<enc>` iterates (`Chunk::iter`), `decode/*/decode_into/<enc>` decodes columns.
//! Run with a filter that matches nothing (e.g. `-- none`) to print only the size and CPU
//! time tables; `CHUNKS_TABLES=0` skips them.

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput};
use strata_benches::series_gen::{Gen, Jitter, Kind, Series};
use strata_engine::chunk::{Chunk, ChunkBuilder, Encoding, MAX_SAMPLES_PER_CHUNK};

const N: usize = MAX_SAMPLES_PER_CHUNK;

/// 100 series of one kind, or the mix (kind `None`).
fn corpus(kind: Option<Kind>, jitter: Jitter, n: usize) -> Vec<Series> {
    let mut g = Gen::with_jitter(42, jitter);
    match kind {
        None => g.mix(n),
        Some(k) => (0..100).map(|_| g.series(k, n)).collect(),
    }
}

fn seal(s: &Series) -> Chunk {
    let mut b = ChunkBuilder::new();
    for (&t, &v) in s.ts.iter().zip(&s.vs) {
        b.push(t, v);
    }
    b.seal()
}

fn enc_name(e: Encoding) -> &'static str {
    match e {
        Encoding::Xor => "xor",
        Encoding::IntDelta => "int_delta",
        Encoding::FloatDelta => "float_delta",
        Encoding::Blocked => "blocked",
        _ => "other",
    }
}

/// Prints bytes/sample per encoding and for the sealed (smallest) choice.
fn print_sizes() {
    println!("\nbytes/sample ({N} samples per chunk, header included; 100 series per row)");
    println!(
        "{:<12} {:>8} {:>10} {:>12} {:>8} {:>8}   sealed encodings",
        "series", "xor", "int_delta", "float_delta", "blocked", "sealed"
    );
    let mut groups: Vec<(String, Option<Kind>, Jitter, usize)> = Kind::ALL
        .iter()
        .map(|&k| (k.name().to_string(), Some(k), Jitter::Realistic, N))
        .collect();
    groups.push(("mix".into(), None, Jitter::Realistic, N));
    groups.push(("mix/aligned".into(), None, Jitter::Aligned, N));
    groups.push(("mix/240".into(), None, Jitter::Realistic, 240));
    groups.push(("mix/960".into(), None, Jitter::Realistic, 960));
    groups.push(("mix/5760".into(), None, Jitter::Realistic, 5760));
    for (name, kind, jitter, n) in groups {
        let series = corpus(kind, jitter, n);
        let samples: usize = series.iter().map(|s| s.ts.len()).sum();
        let mut cells = Vec::new();
        for enc in Encoding::ALL {
            let mut bytes = 0;
            let mut failed = 0;
            for s in &series {
                match Chunk::encode_as(enc, &s.ts, &s.vs) {
                    Ok(c) => bytes += c.as_bytes().len(),
                    Err(_) => failed += 1,
                }
            }
            cells.push(if failed > 0 {
                format!("n/a({failed})")
            } else {
                format!("{:.3}", bytes as f64 / samples as f64)
            });
        }
        let mut chosen: BTreeMap<&str, usize> = BTreeMap::new();
        let mut bytes = 0;
        for s in &series {
            let c = seal(s);
            bytes += c.as_bytes().len();
            *chosen.entry(enc_name(c.encoding())).or_default() += 1;
        }
        println!(
            "{:<12} {:>8} {:>10} {:>12} {:>8} {:>8.3}   {:?}",
            name,
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            bytes as f64 / samples as f64,
            chosen
        );
    }
    // The same 240-sample series cut into 120-sample chunks, to compare chunk lengths.
    let series = corpus(None, Jitter::Realistic, 240);
    let samples: usize = series.iter().map(|s| s.ts.len()).sum();
    let bytes: usize = series
        .iter()
        .flat_map(|s| {
            s.ts.chunks(120).zip(s.vs.chunks(120)).map(|(ts, vs)| {
                let half = Series {
                    kind: s.kind,
                    ts: ts.to_vec(),
                    vs: vs.to_vec(),
                };
                seal(&half).as_bytes().len()
            })
        })
        .sum();
    println!(
        "{:<12} {:>8} {:>10} {:>12} {:>8} {:>8.3}   (the mix/240 series sealed as 2 x 120)",
        "mix/240:120",
        "",
        "",
        "",
        "",
        bytes as f64 / samples as f64
    );
    println!("(n/a(k): k series have values IntDelta cannot hold)\n");
}

/// Nanoseconds this thread has spent on a CPU (Linux `schedstat`), so that figures stay
/// meaningful on a machine shared with other jobs; `None` elsewhere.
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// CPU ns per sample of `f`, which processes `samples` samples per call.
fn cpu_ns_per_sample(samples: usize, mut f: impl FnMut()) -> Option<f64> {
    f(); // warm up
    let start = thread_cpu_ns()?;
    let mut calls = 0u64;
    loop {
        f();
        calls += 1;
        let spent = thread_cpu_ns()? - start;
        if spent > 200_000_000 {
            return Some(spent as f64 / (calls as f64 * samples as f64));
        }
    }
}

/// Prints encode and decode CPU ns/sample per codec and series group (thread CPU time, not
/// wall time: the criterion figures below are wall time and inflate under contention).
fn print_cpu_times() {
    if thread_cpu_ns().is_none() {
        return;
    }
    println!(
        "CPU ns/sample (thread CPU time; encode: xor = push, seal = push + seal (the smallest \
         encoding), packed = encode_as; decode: iteration, sealed_di = decode_into)"
    );
    println!(
        "{:<10} {:>8} {:>8} {:>10} {:>10} {:>8} | {:>8} {:>10} {:>10} {:>8} {:>8} {:>9}",
        "series",
        "enc xor",
        "seal",
        "int_delta",
        "float_dlt",
        "blocked",
        "dec xor",
        "int_delta",
        "float_dlt",
        "blocked",
        "sealed",
        "sealed_di"
    );
    let mut groups = bench_groups();
    // Long chunks, as compaction writes them (`Blocked`).
    groups.push(("mix/960", corpus(None, Jitter::Realistic, 960)));
    groups.push(("mix/5760", corpus(None, Jitter::Realistic, 5760)));
    for (name, series) in groups {
        let samples: usize = series.iter().map(|s| s.ts.len()).sum();
        let fmt = |x: Option<f64>| x.map_or("n/a".to_string(), |v| format!("{v:.2}"));
        let push = cpu_ns_per_sample(samples, || {
            for s in &series {
                let mut cb = ChunkBuilder::new();
                for (&t, &v) in s.ts.iter().zip(&s.vs) {
                    cb.push(t, v);
                }
                black_box(cb.len());
            }
        });
        let seal_t = cpu_ns_per_sample(samples, || {
            for s in &series {
                black_box(seal(s));
            }
        });
        let mut enc_t = Vec::new();
        let mut dec_t = Vec::new();
        for enc in Encoding::ALL {
            let chunks: Vec<Chunk> = series
                .iter()
                .filter_map(|s| Chunk::encode_as(enc, &s.ts, &s.vs).ok())
                .collect();
            if chunks.len() < series.len() {
                enc_t.push(None);
                dec_t.push(None);
                continue;
            }
            enc_t.push(cpu_ns_per_sample(samples, || {
                for s in &series {
                    black_box(Chunk::encode_as(enc, &s.ts, &s.vs).ok());
                }
            }));
            dec_t.push(cpu_ns_per_sample(samples, || decode_all(&chunks)));
        }
        let sealed: Vec<Chunk> = series.iter().map(seal).collect();
        let dec_sealed = cpu_ns_per_sample(samples, || decode_all(&sealed));
        let di_sealed = cpu_ns_per_sample(samples, || decode_columns(&sealed));
        println!(
            "{:<10} {:>8} {:>8} {:>10} {:>10} {:>8} | {:>8} {:>10} {:>10} {:>8} {:>8} {:>9}",
            name,
            fmt(push),
            fmt(seal_t),
            fmt(enc_t[1]),
            fmt(enc_t[2]),
            fmt(enc_t[3]),
            fmt(dec_t[0]),
            fmt(dec_t[1]),
            fmt(dec_t[2]),
            fmt(dec_t[3]),
            fmt(dec_sealed),
            fmt(di_sealed)
        );
    }
    println!();
}

fn decode_all(chunks: &[Chunk]) {
    let mut acc = 0u64;
    for c in chunks {
        for s in c.iter() {
            acc = acc.wrapping_add(s.t as u64 ^ s.v.to_bits());
        }
    }
    black_box(acc);
}

/// The columnar read path (`Chunk::decode_into`, as the PromQL evaluator uses it).
fn decode_columns(chunks: &[Chunk]) {
    let (mut ts, mut vs) = (Vec::with_capacity(256), Vec::with_capacity(256));
    for c in chunks {
        ts.clear();
        vs.clear();
        c.decode_into(&mut ts, &mut vs).expect("valid chunk");
        black_box((&ts, &vs));
    }
}

fn bench_groups() -> Vec<(&'static str, Vec<Series>)> {
    vec![
        ("mix", corpus(None, Jitter::Realistic, N)),
        ("counter", corpus(Some(Kind::Counter), Jitter::Realistic, N)),
        ("bucket", corpus(Some(Kind::Bucket), Jitter::Realistic, N)),
        (
            "hist_sum",
            corpus(Some(Kind::HistSum), Jitter::Realistic, N),
        ),
    ]
}

fn encode(c: &mut Criterion) {
    for (name, series) in bench_groups() {
        let samples: usize = series.iter().map(|s| s.ts.len()).sum();
        let mut g = c.benchmark_group(format!("encode/{name}"));
        g.throughput(Throughput::Elements(samples as u64));
        g.bench_function("xor_push", |b| {
            b.iter(|| {
                for s in &series {
                    let mut cb = ChunkBuilder::new();
                    for (&t, &v) in s.ts.iter().zip(&s.vs) {
                        cb.push(t, v);
                    }
                    black_box(cb.len());
                }
            })
        });
        g.bench_function("push_and_seal", |b| {
            b.iter(|| {
                for s in &series {
                    black_box(seal(s));
                }
            })
        });
        for enc in [Encoding::IntDelta, Encoding::FloatDelta] {
            let ok: Vec<&Series> = series
                .iter()
                .filter(|s| Chunk::encode_as(enc, &s.ts, &s.vs).is_ok())
                .collect();
            if ok.len() < series.len() {
                continue; // not every series fits: per-sample figures would not compare
            }
            g.bench_function(BenchmarkId::new("encode_as", enc_name(enc)), |b| {
                b.iter(|| {
                    for s in &ok {
                        black_box(Chunk::encode_as(enc, &s.ts, &s.vs).ok());
                    }
                })
            });
        }
        g.finish();
    }
}

fn decode(c: &mut Criterion) {
    for (name, series) in bench_groups() {
        let samples: usize = series.iter().map(|s| s.ts.len()).sum();
        let mut g = c.benchmark_group(format!("decode/{name}"));
        g.throughput(Throughput::Elements(samples as u64));
        let mut sets: Vec<(&str, Vec<Chunk>)> = Vec::new();
        for enc in Encoding::ALL {
            let chunks: Vec<Chunk> = series
                .iter()
                .filter_map(|s| Chunk::encode_as(enc, &s.ts, &s.vs).ok())
                .collect();
            if chunks.len() == series.len() {
                sets.push((enc_name(enc), chunks));
            }
        }
        sets.push(("sealed", series.iter().map(seal).collect()));
        for (label, chunks) in &sets {
            g.bench_function(*label, |b| b.iter(|| decode_all(chunks)));
        }
        for (label, chunks) in &sets {
            g.bench_function(BenchmarkId::new("decode_into", label), |b| {
                b.iter(|| decode_columns(chunks))
            });
        }
        g.finish();
    }
}

fn main() {
    // CHUNKS_TABLES=0 skips the tables (e.g. to profile one criterion benchmark).
    if std::env::var_os("CHUNKS_TABLES").is_none_or(|v| v != "0") {
        print_sizes();
        print_cpu_times();
    }
    let mut c = Criterion::default().configure_from_args();
    encode(&mut c);
    decode(&mut c);
    c.final_summary();
}

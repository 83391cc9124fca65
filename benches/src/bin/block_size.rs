//! `block_size`: disk bytes per sample of real Strata blocks holding the canary-fleet
//! workload (`strata_benches::loadgen::workload`), all-in and split by part.
//!
//! ```text
//! cargo run --release -p strata-benches --bin block_size -- --series 10000 --hours 2
//! cargo run --release -p strata-benches --bin block_size -- --series 2000 --hours 24 \
//!     [--chunk-samples 960] [--analyze 1]
//! ```
//!
//! The fleet is generated in-process (no HTTP): one scrape round per `Batch`, in time order,
//! appended to a `Db` opened in a fresh directory under the system temp dir with
//! `background: false`. Every `--maintain-hours` of data `Db::maintain` runs (what the
//! background thread would do: head cuts, WAL checkpoints, compaction of complete windows),
//! so the head and WAL stay small on long runs; at the end `Db::flush` cuts the rest of the
//! head and compacts to completion. Then it prints:
//!
//! - the blocks (range, level, series, chunks, samples);
//! - bytes/sample of the `blocks/` directory (file sizes, like `du --apparent-size`, and
//!   allocated 512-byte blocks, like `du`), split into chunk segments, index and the rest;
//! - bytes/sample of the chunks alone (encoded chunk bytes, without the segment's length
//!   prefix and checksum, each chunk counted even where its record is shared with another
//!   series), what is stored once, per encoding and per metric name;
//! - the CPU ns/sample of decoding every chunk column-wise (`Chunk::decode_into`), the
//!   median of `--decode-passes` measurements (each at least 300 ms of thread CPU time), and
//!   of encoding the samples again (`Chunk::encode`, what compaction does when it
//!   re-encodes), and of reading each chunk from its block before decoding it (what a query
//!   pays: checksum, shared timestamps joined in, validation);
//! - with `--analyze 1`, what timestamps cost (see `strata_benches::disk_analysis`).
//!
//! The last line is a JSON object with the main figures. The directory is deleted at the
//! end unless `--keep DIR` names where to build it instead.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use strata_benches::cli::{opt, parse_opts};
use strata_benches::disk_analysis::{self, cpu_ns_per_item, SeriesData};
use strata_benches::loadgen::workload::{Fleet, FleetSpec, SCRAPE_INTERVAL_MS};
use strata_engine::chunk::{Chunk, Encoding};
use strata_engine::{Batch, Db, Options, Sample};

const USAGE: &str = "usage: block_size [--series N (10000)] [--hours H (2)] [--seed S (1)] \
[--start-ms MS (1700000000000)] [--chunk-samples K (Options default)] [--maintain-hours H (2)] \
[--analyze 0|1 (0)] [--decode-passes N (5)] [--keep DIR]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("block_size: {e}\n{USAGE}");
            ExitCode::FAILURE
        }
    }
}

struct Spec {
    series: usize,
    hours: f64,
    seed: u64,
    start_ms: i64,
    chunk_samples: usize,
    maintain_hours: f64,
    analyze: bool,
    decode_passes: usize,
    keep: Option<PathBuf>,
}

fn parse(args: &[String]) -> Result<Spec, String> {
    let o = parse_opts(
        args,
        &[
            "series",
            "hours",
            "seed",
            "start-ms",
            "chunk-samples",
            "maintain-hours",
            "analyze",
            "decode-passes",
            "keep",
        ],
    )?;
    let spec = Spec {
        series: opt(&o, "series", Some(10_000))?,
        hours: opt(&o, "hours", Some(2.0))?,
        seed: opt(&o, "seed", Some(1))?,
        start_ms: opt(&o, "start-ms", Some(1_700_000_000_000))?,
        chunk_samples: opt(
            &o,
            "chunk-samples",
            Some(Options::default().compaction_chunk_samples),
        )?,
        maintain_hours: opt(&o, "maintain-hours", Some(2.0))?,
        analyze: opt::<u8>(&o, "analyze", Some(0))? != 0,
        decode_passes: opt(&o, "decode-passes", Some(5))?,
        keep: o.get("keep").map(PathBuf::from),
    };
    if spec.series == 0 {
        return Err("--series must be at least 1".into());
    }
    if !(spec.hours > 0.0 && spec.hours <= 24.0 * 60.0) {
        return Err("--hours must be in (0, 1440]".into());
    }
    if spec.decode_passes == 0 {
        return Err("--decode-passes must be at least 1".into());
    }
    if spec.maintain_hours <= 0.0 {
        return Err("--maintain-hours must be positive".into());
    }
    Ok(spec)
}

fn run(args: &[String]) -> Result<(), String> {
    let spec = parse(args)?;
    let (dir, temp) = match &spec.keep {
        Some(d) => {
            if d.exists() {
                return Err(format!("--keep {}: already exists", d.display()));
            }
            (d.clone(), false)
        }
        None => (
            std::env::temp_dir().join(format!("strata-block-size-{}", std::process::id())),
            true,
        ),
    };
    let result = measure(&spec, &dir);
    if temp {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

fn measure(spec: &Spec, dir: &Path) -> Result<(), String> {
    let opts = Options {
        background: false,
        compaction_chunk_samples: spec.chunk_samples,
        ..Options::default()
    };
    let db = Db::open(dir, opts).map_err(|e| format!("open {}: {e}", dir.display()))?;
    let rounds = (spec.hours * 3.6e6 / SCRAPE_INTERVAL_MS as f64)
        .round()
        .max(1.0) as u64;
    let maintain_every =
        ((spec.maintain_hours * 3.6e6 / SCRAPE_INTERVAL_MS as f64).round() as u64).max(1);
    let mut fleet = Fleet::new(
        &FleetSpec {
            series: spec.series,
            seed: spec.seed,
        },
        spec.start_ms,
    );
    let mut handles = Vec::with_capacity(fleet.series().len());
    for def in fleet.series() {
        let pairs: Vec<(&str, &str)> = def
            .labels
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        handles.push(db.resolve(&pairs).map_err(|e| format!("resolve: {e}"))?);
    }
    let n_series = handles.len();
    let started = Instant::now();
    let mut values = Vec::with_capacity(n_series);
    let mut batch = Batch::with_capacity(n_series, n_series);
    let (mut appended, mut rejected) = (0u64, 0u64);
    for round in 0..rounds {
        fleet.round(&mut values);
        batch.clear();
        for (h, &(t, v)) in handles.iter().zip(&values) {
            batch.push_series(h.clone(), &[Sample::new(t, v)]);
        }
        let rep = db.append(&batch).map_err(|e| format!("append: {e}"))?;
        rejected += rep.rejected();
        appended += batch.num_samples() as u64;
        if (round + 1) % maintain_every == 0 {
            db.maintain().map_err(|e| format!("maintain: {e}"))?;
        }
    }
    let ingest_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    db.flush().map_err(|e| format!("flush: {e}"))?;
    let flush_s = started.elapsed().as_secs_f64();
    if rejected > 0 {
        return Err(format!("{rejected} samples were rejected"));
    }
    let samples = appended - rejected;
    println!(
        "canary fleet: {n_series} series x {} h ({rounds} rounds, {samples} samples), seed {}, \
         start {} ms, compaction_chunk_samples {}",
        spec.hours, spec.seed, spec.start_ms, spec.chunk_samples
    );
    println!(
        "ingest {ingest_s:.1} s (maintain every {maintain_every} rounds), flush {flush_s:.1} s"
    );

    // Blocks and the files they consist of.
    let blocks = db.blocks();
    let files = block_files(&dir.join("blocks"))?;
    println!("\nblocks:");
    for b in &blocks {
        let m = b.meta();
        println!(
            "  {} [{}, {}) {:.1} h level {} series {} chunks {} samples {}",
            m.ulid,
            m.min_time,
            m.max_time,
            (m.max_time - m.min_time) as f64 / 3.6e6,
            m.compaction.level,
            m.stats.num_series,
            m.stats.num_chunks,
            m.stats.num_samples
        );
    }
    let block_samples: u64 = blocks.iter().map(|b| b.meta().stats.num_samples).sum();
    if block_samples != samples {
        return Err(format!(
            "blocks hold {block_samples} samples, {samples} were appended"
        ));
    }
    let per = |b: u64| b as f64 / samples as f64;
    println!("\nbytes/sample of blocks/ ({} files)", files.count);
    println!(
        "  all-in       {:>7.4}  ({} bytes; du: {:.4})",
        per(files.total()),
        files.total(),
        per(files.allocated)
    );
    println!("  chunk segs   {:>7.4}", per(files.chunks));
    println!("  index        {:>7.4}", per(files.index));
    println!("  meta+other   {:>7.4}", per(files.other));

    // Chunks alone, per encoding and per metric name; series data for the analysis.
    let mut by_enc: BTreeMap<&'static str, (u64, u64, u64)> = BTreeMap::new();
    let mut by_name: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let (mut chunk_bytes, mut n_chunks) = (0u64, 0u64);
    // Records written once and referenced by several series' chunks.
    let (mut shared_entries, mut shared_bytes) = (0u64, 0u64);
    let mut records = std::collections::HashSet::new();
    let mut all_chunks = Vec::new();
    let mut all_refs = Vec::new();
    let mut data: Vec<SeriesData> = Vec::new();
    for (bi, b) in blocks.iter().enumerate() {
        for r in b.all_series().map_err(|e| format!("series: {e}"))? {
            let (labels, metas) = b.series(r).map_err(|e| format!("series: {e}"))?;
            let name = labels.metric_name().unwrap_or("").to_string();
            let mut sd = SeriesData {
                block: b.ulid().to_string(),
                labels: labels.clone(),
                chunks: Vec::new(),
            };
            for m in metas {
                let c = b.chunk(m.chunk_ref).map_err(|e| format!("chunk: {e}"))?;
                let len = c.as_bytes().len() as u64;
                chunk_bytes += len;
                n_chunks += 1;
                if !records.insert((b.ulid().to_string(), m.chunk_ref)) {
                    shared_entries += 1;
                    shared_bytes += len;
                }
                let e = by_enc.entry(enc_name(c.encoding())).or_default();
                e.0 += 1;
                e.1 += len;
                e.2 += c.num_samples() as u64;
                let e = by_name.entry(name.clone()).or_default();
                e.0 += len;
                e.1 += c.num_samples() as u64;
                if spec.analyze {
                    let (mut ts, mut vs) = (Vec::new(), Vec::new());
                    c.decode_into(&mut ts, &mut vs)
                        .map_err(|e| format!("decode: {e}"))?;
                    sd.chunks.push((ts, vs));
                }
                all_chunks.push(c);
                all_refs.push((bi, m.chunk_ref));
            }
            if spec.analyze {
                data.push(sd);
            }
        }
    }
    println!(
        "\nchunks alone  {:>7.4} bytes/sample ({n_chunks} chunks, {:.1} samples/chunk, \
         {:.1} bytes/chunk)",
        per(chunk_bytes),
        samples as f64 / n_chunks as f64,
        chunk_bytes as f64 / n_chunks as f64
    );
    println!(
        "  stored once: {:.4} bytes/sample ({shared_entries} chunks share another series' \
         record, {:.4} bytes/sample not written again)",
        per(chunk_bytes - shared_bytes),
        per(shared_bytes)
    );
    println!(
        "  index bytes per chunk {:.1}, segment bytes per chunk {:.1}",
        files.index as f64 / n_chunks as f64,
        files.chunks as f64 / n_chunks as f64
    );
    for (enc, (k, bytes, s)) in &by_enc {
        println!(
            "  {enc:<12} {k:>8} chunks  {:>6.1}% of samples  {:>7.3} bytes/sample",
            100.0 * *s as f64 / samples as f64,
            *bytes as f64 / *s as f64
        );
    }
    println!(
        "\nper metric name: share of all samples, own bytes/sample, contribution to the total"
    );
    for (name, (bytes, s)) in &by_name {
        println!(
            "  {name:<40} {:>5.1}%  {:>7.3}  {:>7.4}",
            100.0 * *s as f64 / samples as f64,
            *bytes as f64 / *s as f64,
            per(*bytes)
        );
    }

    // Column-wise decode speed over every chunk (thread CPU time, sorted passes), then the
    // same with each chunk read from its block first (checksum, timestamps shared with
    // another record joined in, band records added to their bases, validation): what a
    // query pays per chunk.
    let (mut ts, mut vs) = (Vec::new(), Vec::new());
    let mut timed = |read: bool| -> Result<Vec<f64>, String> {
        let mut failed = None;
        let mut passes: Vec<f64> = (0..spec.decode_passes)
            .map(|_| {
                cpu_ns_per_item(samples, || {
                    for (c, &(b, r)) in all_chunks.iter().zip(&all_refs) {
                        ts.clear();
                        vs.clear();
                        let got = if read {
                            blocks[b].decode_chunk(r, i64::MIN, false, &mut ts, &mut vs)
                        } else {
                            c.decode_into(&mut ts, &mut vs)
                        };
                        if let Err(e) = got {
                            failed = Some(e);
                        }
                        std::hint::black_box((&ts, &vs));
                    }
                })
            })
            .collect();
        if let Some(e) = failed {
            return Err(format!("decode: {e}"));
        }
        passes.sort_by(f64::total_cmp);
        Ok(passes)
    };
    let passes = timed(false)?;
    let decode_ns = passes[passes.len() / 2];
    let decode_min = passes[0];
    println!(
        "\ndecode_into: {decode_ns:.2} CPU ns/sample (median of {} passes over all chunks; \
         fastest {decode_min:.2})",
        spec.decode_passes
    );
    let passes = timed(true)?;
    let read_ns = passes[passes.len() / 2];
    println!(
        "read + decode_into: {read_ns:.2} CPU ns/sample (median; every chunk read from its block)"
    );
    let encode_ns = encode_speed(&all_chunks)?;
    println!(
        "Chunk::encode: {encode_ns:.2} CPU ns/sample (median of 3 passes re-encoding the \
         samples of the first chunks, up to {ENCODE_SAMPLES})"
    );

    if spec.analyze {
        disk_analysis::report(&data, samples, files.index, n_chunks);
    }
    println!(
        "{{\"series\":{n_series},\"hours\":{},\"samples\":{samples},\"chunk_samples\":{},\
         \"all_in\":{:.4},\"chunk_segments\":{:.4},\"index\":{:.4},\"chunks_alone\":{:.4},\
         \"decode_ns\":{decode_ns:.3},\"read_decode_ns\":{read_ns:.3},\"decode_min_ns\":{decode_min:.3},\"encode_ns\":{encode_ns:.3}}}",
        spec.hours,
        spec.chunk_samples,
        per(files.total()),
        per(files.chunks),
        per(files.index),
        per(chunk_bytes)
    );
    db.close().map_err(|e| format!("close: {e}"))?;
    Ok(())
}

/// Samples re-encoded to time `Chunk::encode`.
const ENCODE_SAMPLES: usize = 2_000_000;

/// CPU ns/sample of `Chunk::encode` (what compaction runs) on the samples of the first
/// chunks, up to [`ENCODE_SAMPLES`]; the median of 3 passes.
fn encode_speed(chunks: &[Chunk]) -> Result<f64, String> {
    let mut data = Vec::new();
    let mut total = 0;
    for c in chunks {
        if total >= ENCODE_SAMPLES {
            break;
        }
        let (mut ts, mut vs) = (Vec::new(), Vec::new());
        c.decode_into(&mut ts, &mut vs)
            .map_err(|e| format!("decode: {e}"))?;
        total += ts.len();
        data.push((ts, vs));
    }
    let mut failed = None;
    let mut passes: Vec<f64> = (0..3)
        .map(|_| {
            cpu_ns_per_item(total as u64, || {
                for (ts, vs) in &data {
                    match Chunk::encode(ts, vs) {
                        Ok(c) => {
                            std::hint::black_box(c);
                        }
                        Err(e) => failed = Some(e),
                    }
                }
            })
        })
        .collect();
    if let Some(e) = failed {
        return Err(format!("encode: {e}"));
    }
    passes.sort_by(f64::total_cmp);
    Ok(passes[1])
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

/// Sizes of the files under `blocks/`.
#[derive(Default)]
struct Files {
    count: u64,
    chunks: u64,
    index: u64,
    other: u64,
    /// Allocated bytes (`st_blocks * 512`), as `du` counts them.
    allocated: u64,
}

impl Files {
    fn total(&self) -> u64 {
        self.chunks + self.index + self.other
    }
}

fn block_files(blocks: &Path) -> Result<Files, String> {
    use std::os::unix::fs::MetadataExt;
    let mut f = Files::default();
    let mut stack = vec![blocks.to_path_buf()];
    while let Some(d) = stack.pop() {
        let rd = std::fs::read_dir(&d).map_err(|e| format!("{}: {e}", d.display()))?;
        for entry in rd {
            let entry = entry.map_err(|e| format!("{}: {e}", d.display()))?;
            let md = entry
                .metadata()
                .map_err(|e| format!("{}: {e}", entry.path().display()))?;
            if md.is_dir() {
                stack.push(entry.path());
                continue;
            }
            f.count += 1;
            f.allocated += md.blocks() * 512;
            let p = entry.path();
            let in_chunks = p
                .parent()
                .and_then(|q| q.file_name())
                .is_some_and(|n| n == "chunks");
            if in_chunks {
                f.chunks += md.len();
            } else if p.file_name().is_some_and(|n| n == "index") {
                f.index += md.len();
            } else {
                f.other += md.len();
            }
        }
    }
    Ok(f)
}

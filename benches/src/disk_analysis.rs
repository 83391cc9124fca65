//! Where the bytes of a block's chunks go, for `block_size --analyze 1`: timestamps versus
//! values, what a block-level timestamp column shared by all series of one scrape target
//! would save, and what other chunk lengths would give.
//!
//! Method (all sizes are real `Chunk::encode` outputs, never formulas):
//! - **values alone**: each chunk is encoded again with its values unchanged and its
//!   timestamps replaced by a perfect 15 s grid from its first timestamp (which the
//!   timestamp column stores in a few header bytes whatever the chunk length). The
//!   difference to the real size is what the timestamps cost.
//! - **shared timestamps**: series of one block with the same `instance` label whose
//!   chunks hold identical timestamps form a group. With a block-level column per group,
//!   each group pays its timestamps once (the timestamp cost of its first series) plus a
//!   reference per series, which is estimated at 2 bytes per series per block.
//! - **chunk lengths**: each series' samples in a block are cut again into chunks of K
//!   samples and encoded; the index cost per chunk is taken from the measured block.

use std::collections::BTreeMap;
use std::hint::black_box;

use strata_engine::chunk::Chunk;
use strata_engine::Labels;

/// One series of one block, decoded chunk by chunk.
#[derive(Clone, Debug)]
pub struct SeriesData {
    /// Id of the block holding it.
    pub block: String,
    /// Its labels.
    pub labels: Labels,
    /// `(timestamps, values)` of each chunk, in order.
    pub chunks: Vec<(Vec<i64>, Vec<f64>)>,
}

/// Bytes assumed for a series' reference to its group's shared timestamp column.
const SHARED_REF_BYTES: u64 = 2;

fn encoded_len(ts: &[i64], vs: &[f64]) -> u64 {
    Chunk::encode(ts, vs)
        .map(|c| c.as_bytes().len() as u64)
        .unwrap_or_else(|e| panic!("encoding decoded samples failed: {e}"))
}

/// A perfect 15 s grid starting at `ts[0]`, as long as `ts`.
fn grid(ts: &[i64]) -> Vec<i64> {
    let t0 = ts.first().copied().unwrap_or(0);
    (0..ts.len() as i64).map(|i| t0 + i * 15_000).collect()
}

/// Sizes of one way of cutting the data into chunks.
#[derive(Default, Clone, Copy)]
struct Cut {
    chunks: u64,
    bytes: u64,
    values_only: u64,
}

fn cut_sizes(
    data: &[SeriesData],
    chunk_len: Option<usize>,
    by_name: &mut BTreeMap<String, (u64, u64, u64)>,
) -> Cut {
    let mut cut = Cut::default();
    let mut all_ts = Vec::new();
    let mut all_vs = Vec::new();
    for s in data {
        let name = s.labels.metric_name().unwrap_or("").to_string();
        let mut add = |ts: &[i64], vs: &[f64]| {
            let b = encoded_len(ts, vs);
            let v = encoded_len(&grid(ts), vs);
            cut.chunks += 1;
            cut.bytes += b;
            cut.values_only += v;
            let e = by_name.entry(name.clone()).or_default();
            e.0 += ts.len() as u64;
            e.1 += b;
            e.2 += v;
        };
        match chunk_len {
            None => {
                for (ts, vs) in &s.chunks {
                    add(ts, vs);
                }
            }
            Some(k) => {
                all_ts.clear();
                all_vs.clear();
                for (ts, vs) in &s.chunks {
                    all_ts.extend_from_slice(ts);
                    all_vs.extend_from_slice(vs);
                }
                for (ts, vs) in all_ts.chunks(k).zip(all_vs.chunks(k)) {
                    add(ts, vs);
                }
            }
        }
    }
    cut
}

/// Thread CPU time in ns (Linux `schedstat`), 0 if unavailable. The kernel updates it for
/// a running thread at scheduler ticks (every few ms), so only long measurements are exact.
pub fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// CPU ns per item of `f`, which handles `items` items per call: `f` runs (after one
/// warm-up call) until the thread has spent at least 300 ms, so that the tick granularity
/// of [`thread_cpu_ns`] stays below 2 % of the measurement. 0 if the clock is unavailable.
pub fn cpu_ns_per_item(items: u64, mut f: impl FnMut()) -> f64 {
    f();
    let start = thread_cpu_ns();
    let mut calls = 0u64;
    loop {
        f();
        calls += 1;
        let spent = thread_cpu_ns().saturating_sub(start);
        if spent >= 300_000_000 || (spent == 0 && calls > 1000) {
            return spent as f64 / (calls * items.max(1)) as f64;
        }
    }
}

/// CPU ns/sample of `decode_into` over chunks of `k` samples of the data (median of 3
/// measurements).
fn decode_ns(data: &[SeriesData], k: usize, samples: u64) -> f64 {
    let mut chunks = Vec::new();
    for s in data {
        let ts: Vec<i64> = s.chunks.iter().flat_map(|c| c.0.iter().copied()).collect();
        let vs: Vec<f64> = s.chunks.iter().flat_map(|c| c.1.iter().copied()).collect();
        for (t, v) in ts.chunks(k).zip(vs.chunks(k)) {
            chunks.push(Chunk::encode(t, v).expect("encode"));
        }
    }
    let (mut ts, mut vs) = (Vec::new(), Vec::new());
    let mut runs: Vec<f64> = (0..3)
        .map(|_| {
            cpu_ns_per_item(samples, || {
                for c in &chunks {
                    ts.clear();
                    vs.clear();
                    c.decode_into(&mut ts, &mut vs).expect("decode");
                    black_box((&ts, &vs));
                }
            })
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    runs[1]
}

/// Bits of one block of deltas under three codes: frame of reference (`width` bits each,
/// `width` from the block's range, or a bitmap plus the entries off the minimum), Golomb-Rice around the block's median (best parameter
/// `k`: `1 + (z >> k) + k` bits each for the zig-zag `z` of `x - median`), and the entropy of
/// a Gaussian with the block's own variance (`log2(2 pi e var) / 2` bits each, a bound no
/// practical per-block code beats by much on such data).
fn block_bits(xs: &[i64]) -> (f64, f64, f64) {
    let n = xs.len() as f64;
    let (lo, hi) = (xs.iter().min().copied(), xs.iter().max().copied());
    let (Some(lo), Some(hi)) = (lo, hi) else {
        return (0.0, 0.0, 0.0);
    };
    let width = 64 - (hi.wrapping_sub(lo) as u64).leading_zeros();
    // Dense, or sparse: a bitmap plus the entries off the minimum.
    let off = xs.iter().filter(|&&x| x != lo).count() as f64;
    let for_bits = (n * f64::from(width)).min(n + off * f64::from(width));
    let mut sorted = xs.to_vec();
    sorted.sort_unstable();
    let med = sorted[sorted.len() / 2];
    let zz: Vec<u64> = xs
        .iter()
        .map(|&x| {
            let d = x.wrapping_sub(med);
            ((d << 1) ^ (d >> 63)) as u64
        })
        .collect();
    let rice = (0..40u32)
        .map(|k| {
            zz.iter()
                .map(|&z| 1.0 + (z >> k).min(1 << 20) as f64 + f64::from(k))
                .sum::<f64>()
        })
        .fold(f64::INFINITY, f64::min);
    let mean = xs.iter().map(|&x| x as f64).sum::<f64>() / n;
    let var = xs.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
    let gauss = if var < 1.0 / 12.0 {
        0.0
    } else {
        n * 0.5 * (2.0 * std::f64::consts::PI * std::f64::consts::E * var).log2()
    };
    (for_bits, rice, gauss)
}

/// What entropy coding of the value deltas could give, per metric name: order-1 deltas of
/// the integer values (or of the bit patterns for non-integer series) in blocks of 128,
/// priced by [`block_bits`].
fn entropy_estimates(data: &[SeriesData]) {
    let mut by_name: BTreeMap<String, [f64; 5]> = BTreeMap::new();
    for s in data {
        let vs: Vec<f64> = s.chunks.iter().flat_map(|c| c.1.iter().copied()).collect();
        let ints = vs.iter().all(|v| v.fract() == 0.0 && v.abs() < 9e15);
        let ys: Vec<i64> = vs
            .iter()
            .map(|&v| if ints { v as i64 } else { v.to_bits() as i64 })
            .collect();
        let ds: Vec<i64> = ys.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect();
        let e = by_name
            .entry(s.labels.metric_name().unwrap_or("").to_string())
            .or_default();
        for b in ds.chunks(128) {
            let (f, r, g) = block_bits(b);
            e[0] += b.len() as f64;
            e[1] += f;
            e[2] += r;
            e[3] += g;
            e[4] += f.min(r);
        }
    }
    println!(
        "\nanalysis: value deltas in blocks of 128, bits/sample: frame of reference (width \
         from the range, or sparse), Golomb-Rice (best k around the median), the better of \
         the two per block, Gaussian entropy bound"
    );
    for (name, [n, f, r, g, m]) in &by_name {
        println!(
            "    {name:<40} {:>6.2} {:>6.2} {:>6.2} {:>6.2}",
            f / n,
            r / n,
            m / n,
            g / n
        );
    }
}

/// Bits per sample of the order-1 deltas of `ys` in blocks of 128, the better of frame of
/// reference and Golomb-Rice per block (see [`block_bits`]).
fn delta_bits(ys: &[i64]) -> f64 {
    let ds: Vec<i64> = ys.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect();
    ds.chunks(128)
        .map(|b| {
            let (f, r, _) = block_bits(b);
            f.min(r)
        })
        .sum()
}

/// What a cross-series transform of classic histograms could give: each cumulative bucket
/// `le = b` stored as the count of its band, `bucket(b) - bucket(b - 1)` (the first bucket as
/// itself), which needs the buckets of one histogram encoded together (a block-level
/// change). Priced per series with [`delta_bits`], against the cumulative buckets priced the
/// same way.
fn histogram_estimates(data: &[SeriesData]) {
    // (block, labels without `le`) -> (le, values) of each bucket.
    type Key = (String, Vec<(String, String)>);
    let mut hists: BTreeMap<Key, Vec<(f64, Vec<i64>)>> = BTreeMap::new();
    for s in data {
        if !s
            .labels
            .metric_name()
            .is_some_and(|n| n.ends_with("_bucket"))
        {
            continue;
        }
        let Some(le) = s.labels.get("le").and_then(|v| v.parse::<f64>().ok()) else {
            continue;
        };
        let rest: Vec<(String, String)> = s
            .labels
            .iter()
            .filter(|l| &*l.name != "le")
            .map(|l| (l.name.to_string(), l.value.to_string()))
            .collect();
        let ys: Vec<i64> = s
            .chunks
            .iter()
            .flat_map(|c| c.1.iter().map(|&v| v as i64))
            .collect();
        hists
            .entry((s.block.clone(), rest))
            .or_default()
            .push((le, ys));
    }
    let (mut n, mut cumulative, mut bands) = (0f64, 0f64, 0f64);
    // The value parts of Blocked chunks of the same values (over a perfect grid), in bits.
    let (mut enc_cumulative, mut enc_bands) = (0f64, 0f64);
    let value_bits = |ys: &[i64]| -> f64 {
        let vs: Vec<f64> = ys.iter().map(|&y| y as f64).collect();
        let ts: Vec<i64> = (0..ys.len() as i64).map(|i| i * 15_000).collect();
        Chunk::encode_as(strata_engine::chunk::Encoding::Blocked, &ts, &vs)
            .ok()
            .and_then(|c| strata_engine::chunk::shared_times::split(c.as_bytes()))
            .map_or(0.0, |s| s.values.len() as f64 * 8.0)
    };
    for buckets in hists.values_mut() {
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut prev: Option<&Vec<i64>> = None;
        for (_, ys) in buckets.iter() {
            n += ys.len().saturating_sub(1) as f64;
            cumulative += delta_bits(ys);
            enc_cumulative += value_bits(ys);
            let band: Vec<i64> = match prev {
                Some(p) if p.len() == ys.len() => {
                    ys.iter().zip(p).map(|(a, b)| a.wrapping_sub(*b)).collect()
                }
                _ => ys.clone(),
            };
            bands += delta_bits(&band);
            enc_bands += value_bits(&band);
            prev = Some(ys);
        }
    }
    if n > 0.0 {
        println!(
            "analysis: histogram buckets as Blocked value parts: cumulative {:.2} bits/sample, \
             bands {:.2} bits/sample",
            enc_cumulative / n,
            enc_bands / n
        );
    }
    if n > 0.0 {
        println!(
            "\nanalysis: histogram buckets ({} histograms) as cumulative counts {:.2} \
             bits/sample, as band counts {:.2} bits/sample",
            hists.len(),
            cumulative / n,
            bands / n
        );
    }
}

/// Prints the analysis. `index_bytes` and `n_chunks` are the measured block's.
pub fn report(data: &[SeriesData], samples: u64, index_bytes: u64, n_chunks: u64) {
    let per = |b: u64| b as f64 / samples as f64;
    let mut by_name = BTreeMap::new();
    let now = cut_sizes(data, None, &mut by_name);
    let ts_cost = now.bytes - now.values_only.min(now.bytes);
    println!("\nanalysis: timestamps vs values (chunks as stored)");
    println!(
        "  chunks {:.4} = values alone {:.4} + timestamps {:.4} bytes/sample ({:.1}% timestamps)",
        per(now.bytes),
        per(now.values_only),
        per(ts_cost),
        100.0 * ts_cost as f64 / now.bytes as f64
    );
    println!("  per metric name: own bytes/sample, of which timestamps");
    for (name, (s, b, v)) in &by_name {
        println!(
            "    {name:<40} {:>7.3} {:>7.3}",
            *b as f64 / *s as f64,
            b.saturating_sub(*v) as f64 / *s as f64
        );
    }

    // Shared timestamps: group by (block, instance) and check the timestamps are identical.
    let mut groups: BTreeMap<(String, String), Vec<&SeriesData>> = BTreeMap::new();
    for s in data {
        let inst = s.labels.get("instance").unwrap_or("").to_string();
        groups.entry((s.block.clone(), inst)).or_default().push(s);
    }
    let (mut shared_cost, mut own_cost, mut series_in_groups, mut odd) = (0u64, 0u64, 0u64, 0u64);
    for members in groups.values() {
        let first = members[0];
        let ts_of = |s: &SeriesData| -> u64 {
            s.chunks
                .iter()
                .map(|(ts, vs)| encoded_len(ts, vs).saturating_sub(encoded_len(&grid(ts), vs)))
                .sum()
        };
        let same = |s: &SeriesData| {
            s.chunks.len() == first.chunks.len()
                && s.chunks.iter().zip(&first.chunks).all(|(a, b)| a.0 == b.0)
        };
        shared_cost += ts_of(first);
        for s in members {
            if same(s) {
                series_in_groups += 1;
                shared_cost += SHARED_REF_BYTES;
            } else {
                odd += 1;
                own_cost += ts_of(s);
            }
        }
    }
    let shared_total = shared_cost + own_cost;
    println!(
        "\nanalysis: block-level timestamp column shared per (block, instance)\n  {} groups, \
         {series_in_groups} series share their group's timestamps, {odd} do not",
        groups.len()
    );
    println!(
        "  timestamps {:.4} -> {:.4} bytes/sample (one column per group + {SHARED_REF_BYTES} \
         bytes per series); chunks {:.4} -> {:.4}",
        per(ts_cost),
        per(shared_total),
        per(now.bytes),
        per(now.values_only + shared_total)
    );

    // Identical chunks within a block (e.g. `_count` and the `+Inf` bucket of the same
    // histogram): with a chunk reference allowed to repeat, each would be stored once.
    let mut seen: BTreeMap<(String, Vec<i64>, Vec<u64>), ()> = BTreeMap::new();
    let mut seen_values: BTreeMap<(String, Vec<u64>), ()> = BTreeMap::new();
    let (mut dup_bytes, mut dup_chunks, mut dup_values) = (0u64, 0u64, 0u64);
    for s in data {
        for (ts, vs) in &s.chunks {
            let bits: Vec<u64> = vs.iter().map(|v| v.to_bits()).collect();
            let v_key = (s.block.clone(), bits.clone());
            let values_dup = seen_values.insert(v_key, ()).is_some();
            if seen
                .insert((s.block.clone(), ts.clone(), bits), ())
                .is_some()
            {
                dup_chunks += 1;
                dup_bytes += encoded_len(ts, vs);
            }
            if values_dup {
                dup_values += encoded_len(&grid(ts), vs);
            }
        }
    }
    println!(
        "\nanalysis: identical chunks within a block\n  {dup_chunks} chunks are exact copies of \
         another: {:.4} bytes/sample; value columns equal to another's (with shared \
         timestamps): {:.4} bytes/sample",
        per(dup_bytes),
        per(dup_values)
    );

    entropy_estimates(data);
    histogram_estimates(data);

    // Other chunk lengths.
    let index_per_chunk = index_bytes as f64 / n_chunks as f64;
    println!(
        "\nanalysis: chunk length (each series of each block cut again; index estimated at \
         {index_per_chunk:.1} bytes/chunk as measured)"
    );
    println!(
        "  {:>6} {:>9} {:>9} {:>9} {:>11} {:>12} {:>10}",
        "K", "chunks", "chunks", "values", "+ index", "+ shared ts", "decode ns"
    );
    for k in [120usize, 240, 480, 960, 2000, 5760] {
        let c = cut_sizes(data, Some(k), &mut BTreeMap::new());
        let index = c.chunks as f64 * index_per_chunk;
        let shared = c.values_only as f64 + shared_total as f64;
        println!(
            "  {:>6} {:>9} {:>9.4} {:>9.4} {:>11.4} {:>12.4} {:>10.2}",
            k,
            c.chunks,
            per(c.bytes),
            per(c.values_only),
            (c.bytes as f64 + index) / samples as f64,
            (shared + index) / samples as f64,
            decode_ns(data, k, samples)
        );
    }
}

//! Fuzz target: block files from arbitrary bytes.
//!
//! The first input byte picks a mode:
//! - even: the rest is split into an `index` file and a chunk segment (the split point is the
//!   next two bytes) of a block with a valid `meta.json`; opening it and reading every series
//!   and chunk must give `Ok` or `Err`, never a panic, a hang or a huge allocation;
//! - odd: a valid block is written from series derived from the input (histogram buckets in
//!   groups of four, most with the timestamps of the one before, so that records share
//!   timestamps and buckets are stored as bands), then up to eight bytes
//!   of its index or chunk segment are changed as the input says; whatever still reads must
//!   be exactly what was written (checksums catch the rest).
//!
//! Inputs are capped at 64 KiB. Files go to a per-process temporary directory.
#![no_main]

use std::path::PathBuf;
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use strata_engine::block::meta::{BlockMeta, BlockStats, Compaction, META_VERSION};
use strata_engine::block::writer::BlockWriter;
use strata_engine::block::Block;
use strata_engine::chunk::Chunk;
use strata_engine::labels::SymbolTable;
use strata_engine::Labels;

const MAX_INPUT: usize = 64 * 1024;
const ID: &str = "01JD3W5X9M4QTR8E7ZP2K6V1NB";

fn scratch() -> PathBuf {
    let d = std::env::temp_dir().join(format!("strata-fuzz-block-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Reads everything a query could read; returns the samples of each series.
fn read_all(b: &Block) -> Option<Vec<(Labels, Vec<(i64, u64)>)>> {
    let series = b.select(&[], i64::MIN, i64::MAX).ok()?;
    let mut out = Vec::new();
    for s in series {
        let mut samples = Vec::new();
        for m in &s.chunks {
            let c = b.chunk(m.chunk_ref).ok()?;
            samples.extend(c.iter().map(|x| (x.t, x.v.to_bits())));
            // The query path, which resolves band records without encoding them again.
            let (mut ts, mut vs) = (Vec::new(), Vec::new());
            b.decode_chunk(m.chunk_ref, i64::MIN, false, &mut ts, &mut vs).ok()?;
            let got: Vec<(i64, u64)> = ts.iter().zip(&vs).map(|(&t, v)| (t, v.to_bits())).collect();
            assert_eq!(got, c.iter().map(|x| (x.t, x.v.to_bits())).collect::<Vec<_>>(), "decode_chunk and chunk differ");
        }
        out.push((s.labels, samples));
    }
    let _ = b.index().label_values("__name__");
    // Series summaries, as a long-window query reads them: a span is read through its
    // chunks, which must decode like the chunks listed one by one.
    let spans = b.select_within(&[], i64::MIN, i64::MAX, Some((i64::MIN, i64::MAX))).ok()?;
    for s in spans {
        if s.whole.is_some() {
            for m in b.series_chunks(s.sref, i64::MIN, i64::MAX).ok()? {
                let _ = b.chunk(m.chunk_ref).ok()?;
            }
        }
    }
    Some(out)
}

fuzz_target!(|data: &[u8]| {
    if data.len() > MAX_INPUT || data.len() < 3 {
        return;
    }
    let root = scratch();
    let symbols = Arc::new(SymbolTable::default());
    if data[0] % 2 == 0 {
        let split = (u16::from_le_bytes([data[1], data[2]]) as usize).min(data.len() - 3);
        let (index, chunks) = data[3..].split_at(split);
        let dir = root.join(ID);
        std::fs::create_dir_all(dir.join("chunks")).unwrap();
        let meta = BlockMeta {
            ulid: ID.into(),
            min_time: 0,
            max_time: i64::MAX,
            stats: BlockStats::default(),
            compaction: Compaction::default(),
            version: META_VERSION,
        };
        meta.write(&dir).unwrap();
        std::fs::write(dir.join("index"), index).unwrap();
        std::fs::write(dir.join("chunks/000001"), chunks).unwrap();
        if let Ok(b) = Block::open(&dir, &symbols) {
            let _ = read_all(&b);
        }
    } else {
        // Series from the input: a name, a value and up to 200 samples each.
        let body = &data[3..];
        let mut series: Vec<(Labels, Vec<Chunk>, Vec<(i64, u64)>)> = Vec::new();
        for (i, part) in body.chunks(64).take(16).enumerate() {
            // Groups of four buckets of one histogram, so that buckets become band records.
            let le = ["0.5", "1", "+Inf", "10"][i % 4];
            let labels = Labels::from_pairs(&[("__name__", "m_bucket"), ("h", &format!("{:03}", i / 4)), ("le", le)]).unwrap();
            let mut t = 1000i64;
            let (mut ts, mut vs) = (Vec::new(), Vec::new());
            for w in part.chunks(2) {
                t += 1 + i64::from(w[0]) * 100;
                ts.push(t);
                vs.push(f64::from(*w.last().unwrap()) * 0.5);
            }
            // Most series take the previous one's timestamps (with their own values), as the
            // series of one scrape target do, so that records share timestamps and buckets
            // of one histogram are stored as bands.
            if part[0] % 4 != 0 {
                if let Some((_, _, prev)) = series.last() {
                    vs = vs.iter().cycle().take(prev.len()).copied().collect();
                    ts = prev.iter().map(|x| x.0).collect();
                }
            }
            let c = Chunk::encode(&ts, &vs).unwrap();
            let samples = ts.iter().zip(&vs).map(|(&t, v)| (t, v.to_bits())).collect();
            series.push((labels, vec![c], samples));
        }
        // Blocks take series in label order.
        series.sort_by(|a, b| a.0.cmp(&b.0));
        let syms = series.iter().flat_map(|(l, _, _)| l.iter().flat_map(|l| [l.name.clone(), l.value.clone()]).collect::<Vec<_>>());
        // A compacted block's level: blocks cut from the head store no bands.
        let level2 = Compaction { level: 2, ..Compaction::default() };
        let mut w = BlockWriter::create(&root, 0, i64::MAX, syms, level2).unwrap();
        for (l, c, _) in &series {
            w.add_series(l, c).unwrap();
        }
        let Some(meta) = w.finish().unwrap() else { return };
        let dir = root.join(&meta.ulid);
        let file = if data[1] % 2 == 0 { dir.join("index") } else { dir.join("chunks/000001") };
        let mut bytes = std::fs::read(&file).unwrap();
        for pair in data[2..].chunks(3).take(8) {
            if pair.len() == 3 && !bytes.is_empty() {
                let at = usize::from(u16::from_le_bytes([pair[0], pair[1]])) % bytes.len();
                bytes[at] ^= pair[2];
            }
        }
        std::fs::write(&file, &bytes).unwrap();
        if let Ok(b) = Block::open(&dir, &symbols) {
            if let Some(got) = read_all(&b) {
                let want: Vec<(Labels, Vec<(i64, u64)>)> = series.into_iter().map(|(l, _, s)| (l, s)).collect();
                assert_eq!(got, want, "a damaged block read back different data");
            }
        }
    }
});

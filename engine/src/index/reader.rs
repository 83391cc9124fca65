//! Reading a block's index file (layout: `index/writer.rs` and `docs/format/index.md`).
//!
//! Opening checks the header, the TOC checksum, and the checksums of the two sections kept
//! in memory (symbols and the label table), then holds: every symbol as an interned
//! `Arc<str>` (shared with the head through the database's symbol table), and per label name
//! its values with the offsets of their postings. Series entries and postings lists stay in
//! the mapped file; each one's own checksum is verified every time it is read, before a byte
//! of it is decoded. So opening costs O(symbols + label pairs), never O(samples), and a
//! flipped bit anywhere is reported as [`Error::CorruptBlock`] naming the part it hit.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::postings::SeriesRef;
use super::writer::{HEADER_LEN, MAGIC, TOC_LEN, VERSION};
use super::{ChunkMeta, LabelIndex, ValueFilter};
use crate::chunk::ChunkSummary;
use crate::encoding::{verify_crc, ByteCursor};
use crate::error::{Error, Result};
use crate::labels::{Label, Labels, SymbolTable};
use crate::owned_bytes::OwnedBytes;

/// One label name of the label table.
struct NameEntry {
    name: u32,
    /// (value symbol, postings offset), ascending by value.
    values: Vec<(u32, u64)>,
}

/// A block's index, mapped.
pub struct IndexReader {
    bytes: OwnedBytes,
    path: PathBuf,
    symbols: Vec<Arc<str>>,
    names: Vec<NameEntry>,
    series_start: u64,
    postings_start: u64,
    all_off: u64,
}

impl std::fmt::Debug for IndexReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexReader")
            .field("path", &self.path)
            .field("symbols", &self.symbols.len())
            .finish()
    }
}

impl IndexReader {
    /// Checks and loads the index in `bytes` (the mapped file `path`), interning its symbols
    /// in `interner`.
    pub fn open(bytes: OwnedBytes, path: &Path, interner: &SymbolTable) -> Result<IndexReader> {
        let corrupt =
            |section: &'static str, why: &str| Error::corrupt_block(path, section, why.to_string());
        let b: &[u8] = &bytes;
        if b.len() < HEADER_LEN + TOC_LEN || &b[..4] != MAGIC {
            return Err(corrupt(
                "header",
                "not an index file (bad magic or too short)",
            ));
        }
        if b[4] != VERSION {
            return Err(Error::UnsupportedVersion {
                path: path.to_path_buf(),
                found: u32::from(b[4]),
                supported: u32::from(VERSION),
            });
        }
        let toc = verify_crc(&b[b.len() - TOC_LEN..])
            .ok_or_else(|| corrupt("toc", "checksum mismatch"))?;
        let mut c = ByteCursor::new(toc);
        let mut offs = [0u64; 5];
        for o in &mut offs {
            *o = c.u64_le().ok_or_else(|| corrupt("toc", "truncated"))?;
        }
        let [symbols_off, series_start, postings_start, table_off, all_off] = offs;
        let end = (b.len() - TOC_LEN) as u64;
        if !(symbols_off == HEADER_LEN as u64
            && symbols_off <= series_start
            && series_start <= postings_start
            && postings_start <= all_off
            && all_off < table_off
            && table_off < end)
        {
            return Err(corrupt("toc", "section offsets out of order"));
        }
        let section = |off: u64, name: &'static str| -> Result<&[u8]> {
            let off = off as usize;
            let len = b
                .get(off..off + 4)
                .map(|l| u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize)
                .ok_or_else(|| corrupt(name, "truncated"))?;
            let data = b
                .get(off + 4..off + 4 + len + 4)
                .ok_or_else(|| corrupt(name, "runs past the file"))?;
            verify_crc(data).ok_or_else(|| corrupt(name, "checksum mismatch"))
        };
        // Symbols: sorted, unique, interned.
        let body = section(symbols_off, "symbols")?;
        let mut c = ByteCursor::new(body);
        let n = c
            .count(body.len())
            .ok_or_else(|| corrupt("symbols", "bad count"))?;
        let mut symbols: Vec<Arc<str>> = Vec::with_capacity(n);
        for _ in 0..n {
            let s = c.str().ok_or_else(|| corrupt("symbols", "bad string"))?;
            if symbols.last().is_some_and(|p| &**p >= s) {
                return Err(corrupt("symbols", "not sorted and unique"));
            }
            symbols.push(interner.intern(s));
        }
        if !c.is_empty() {
            return Err(corrupt("symbols", "trailing bytes"));
        }
        // Label table.
        let body = section(table_off, "label table")?;
        let mut c = ByteCursor::new(body);
        let bad = || corrupt("label table", "malformed entry");
        let nnames = c.count(body.len()).ok_or_else(bad)?;
        let mut names: Vec<NameEntry> = Vec::with_capacity(nnames);
        let mut off = 0u64;
        for _ in 0..nnames {
            let name = c
                .uvarint()
                .and_then(|v| u32::try_from(v).ok())
                .ok_or_else(bad)?;
            if name as usize >= symbols.len() || names.last().is_some_and(|p| p.name >= name) {
                return Err(bad());
            }
            let nv = c.count(body.len()).ok_or_else(bad)?;
            let mut values = Vec::with_capacity(nv);
            let mut v = 0u32;
            for i in 0..nv {
                let dv = c
                    .uvarint()
                    .and_then(|x| u32::try_from(x).ok())
                    .ok_or_else(bad)?;
                if i > 0 && dv == 0 {
                    return Err(bad());
                }
                v = v
                    .checked_add(dv)
                    .filter(|&v| (v as usize) < symbols.len())
                    .ok_or_else(bad)?;
                off = off
                    .checked_add(c.uvarint().ok_or_else(bad)?)
                    .ok_or_else(bad)?;
                if off < postings_start || off >= table_off {
                    return Err(bad());
                }
                values.push((v, off));
            }
            names.push(NameEntry { name, values });
        }
        if !c.is_empty() {
            return Err(bad());
        }
        Ok(IndexReader {
            bytes,
            path: path.to_path_buf(),
            symbols,
            names,
            series_start,
            postings_start,
            all_off,
        })
    }

    /// The entry (`uvarint len | body | crc`) at `off` inside `[lo, hi)`, checksum verified.
    fn entry(&self, off: u64, lo: u64, hi: u64, section: &'static str) -> Result<&[u8]> {
        let corrupt = |why: String| Error::corrupt_block(&self.path, section, why);
        if off < lo || off >= hi {
            return Err(corrupt(format!("reference {off} outside the section")));
        }
        let b: &[u8] = &self.bytes;
        let mut c = ByteCursor::with_end(&b[off as usize..], (hi - off) as usize);
        let len = c
            .uvarint()
            .and_then(|l| usize::try_from(l).ok())
            .ok_or_else(|| corrupt(format!("bad entry length at {off}")))?;
        let data = c
            .take(len + 4)
            .ok_or_else(|| corrupt(format!("entry at {off} runs past the section")))?;
        verify_crc(data).ok_or_else(|| corrupt(format!("checksum mismatch in the entry at {off}")))
    }

    fn postings_at(&self, off: u64) -> Result<Vec<SeriesRef>> {
        let body = self.entry(
            off,
            self.postings_start,
            self.bytes.len() as u64,
            "postings",
        )?;
        let bad =
            || Error::corrupt_block(&self.path, "postings", format!("malformed list at {off}"));
        let mut c = ByteCursor::new(body);
        let n = c.count(body.len()).ok_or_else(bad)?;
        let mut out = Vec::with_capacity(n);
        let mut r = 0u64;
        for i in 0..n {
            let d = c.uvarint().ok_or_else(bad)?;
            if i > 0 && d == 0 {
                return Err(bad());
            }
            r = r.checked_add(d).ok_or_else(bad)?;
            if r < self.series_start || r >= self.postings_start {
                return Err(bad());
            }
            out.push(r);
        }
        if !c.is_empty() {
            return Err(bad());
        }
        Ok(out)
    }

    fn sym_id(&self, s: &str) -> Option<u32> {
        self.symbols
            .binary_search_by(|x| (**x).cmp(s))
            .ok()
            .map(|i| i as u32)
    }

    fn name_entry(&self, name: &str) -> Option<&NameEntry> {
        let id = self.sym_id(name)?;
        self.names
            .binary_search_by_key(&id, |e| e.name)
            .ok()
            .map(|i| &self.names[i])
    }

    /// Series refs matching every matcher, ascending (= label order).
    pub fn select(&self, matchers: &[crate::Matcher]) -> Result<Vec<SeriesRef>> {
        super::select(self, matchers)
    }

    /// Label names used by any series, sorted.
    pub fn label_names(&self) -> Vec<Arc<str>> {
        self.names
            .iter()
            .map(|e| self.symbols[e.name as usize].clone())
            .collect()
    }

    /// Values of label `name`, sorted.
    pub fn label_values(&self, name: &str) -> Vec<Arc<str>> {
        self.name_entry(name)
            .map(|e| {
                e.values
                    .iter()
                    .map(|(v, _)| self.symbols[*v as usize].clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Number of series per value of `name`, read from the postings lists' counts.
    pub fn postings_counts(&self, name: &str) -> Result<Vec<(Arc<str>, usize)>> {
        let Some(e) = self.name_entry(name) else {
            return Ok(Vec::new());
        };
        e.values
            .iter()
            .map(|&(v, off)| {
                Ok((
                    self.symbols[v as usize].clone(),
                    self.postings_at(off)?.len(),
                ))
            })
            .collect()
    }

    /// Number of distinct values per label name.
    pub fn value_counts(&self) -> Vec<(Arc<str>, usize)> {
        self.names
            .iter()
            .map(|e| (self.symbols[e.name as usize].clone(), e.values.len()))
            .collect()
    }

    /// Every symbol, sorted.
    pub fn symbols(&self) -> &[Arc<str>] {
        &self.symbols
    }

    /// Number of symbols.
    pub fn num_symbols(&self) -> usize {
        self.symbols.len()
    }

    /// The labels of series `r` and its chunks that overlap `[mint, maxt]` (all chunks with
    /// `mint = i64::MIN, maxt = i64::MAX`).
    pub fn series(&self, r: SeriesRef, mint: i64, maxt: i64) -> Result<(Labels, Vec<ChunkMeta>)> {
        let body = self.entry(r, self.series_start, self.postings_start, "series")?;
        let bad = |what: &str| {
            Error::corrupt_block(&self.path, "series", format!("entry at {r}: {what}"))
        };
        let mut c = ByteCursor::new(body);
        let nl = c.count(body.len() / 2).ok_or_else(|| bad("label count"))?;
        let mut labels = Vec::with_capacity(nl);
        let mut prev_name: Option<u64> = None;
        for _ in 0..nl {
            let (n, v) = (c.uvarint(), c.uvarint());
            let (Some(n), Some(v)) = (n, v) else {
                return Err(bad("truncated labels"));
            };
            let (Some(name), Some(value)) =
                (self.symbols.get(n as usize), self.symbols.get(v as usize))
            else {
                return Err(bad("unknown symbol"));
            };
            if prev_name.is_some_and(|p| p >= n) {
                return Err(bad("labels not sorted"));
            }
            prev_name = Some(n);
            labels.push(Label {
                name: name.clone(),
                value: value.clone(),
            });
        }
        let labels = Labels::from_sorted_unchecked(labels);
        let nc = c.count(body.len()).ok_or_else(|| bad("chunk count"))?;
        let mut chunks = Vec::new();
        let mut prev: Option<(i64, u64)> = None; // (max_time, ref)
        for _ in 0..nc {
            let min_time = match prev {
                None => c.zvarint(),
                Some((pmax, _)) => c.zvarint().map(|d| pmax.wrapping_add(d)),
            }
            .ok_or_else(|| bad("chunk min time"))?;
            let span = c.uvarint().ok_or_else(|| bad("chunk span"))?;
            let max_time = i64::try_from(i128::from(min_time) + i128::from(span))
                .map_err(|_| bad("chunk max time"))?;
            let n = c
                .uvarint()
                .and_then(|n| u32::try_from(n).ok())
                .filter(|&n| n > 0)
                .ok_or_else(|| bad("chunk sample count"))?;
            let dref = c.uvarint().ok_or_else(|| bad("chunk ref"))?;
            let chunk_ref = match prev {
                None => dref,
                Some((pmax, pref)) => {
                    if min_time <= pmax || dref == 0 {
                        return Err(bad("chunks overlap or repeat"));
                    }
                    pref.checked_add(dref).ok_or_else(|| bad("chunk ref"))?
                }
            };
            let summary = ChunkSummary::decode(&mut c, n, min_time, max_time)
                .ok_or_else(|| bad("chunk summary"))?;
            prev = Some((max_time, chunk_ref));
            if max_time >= mint && min_time <= maxt {
                chunks.push(ChunkMeta {
                    min_time,
                    max_time,
                    num_samples: n,
                    chunk_ref,
                    summary,
                });
            }
        }
        if !c.is_empty() {
            return Err(bad("trailing bytes"));
        }
        Ok((labels, chunks))
    }
}

impl LabelIndex for IndexReader {
    type Error = Error;
    fn all_postings(&self) -> Result<Cow<'_, [SeriesRef]>> {
        Ok(Cow::Owned(self.postings_at(self.all_off)?))
    }
    fn postings_of(
        &self,
        name: &str,
        filter: ValueFilter<'_>,
    ) -> Result<Option<Vec<Cow<'_, [SeriesRef]>>>> {
        let Some(e) = self.name_entry(name) else {
            return Ok(None);
        };
        let mut out = Vec::new();
        match filter {
            ValueFilter::Equal(v) => {
                if let Some(id) = self.sym_id(v) {
                    if let Ok(i) = e.values.binary_search_by_key(&id, |(v, _)| *v) {
                        out.push(Cow::Owned(self.postings_at(e.values[i].1)?));
                    }
                }
            }
            ValueFilter::Accepted(m) | ValueFilter::Rejected(m) => {
                let want = matches!(filter, ValueFilter::Accepted(_));
                for &(v, off) in &e.values {
                    if m.matches(&self.symbols[v as usize]) == want {
                        out.push(Cow::Owned(self.postings_at(off)?));
                    }
                }
            }
        }
        Ok(Some(out))
    }
}

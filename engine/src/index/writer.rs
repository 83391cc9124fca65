//! Writing a block's index file. The layout is drawn in `docs/format/index.md`:
//!
//! ```text
//! header "SIDX" | version u8 = 4 | 3 zero bytes
//! symbols        u32 len | body | crc32c        (u32 count, then sorted unique strings)
//! symbol offsets u32 len | body | crc32c        (u32 per symbol: its offset in the body)
//! series entry*  uvarint len | body | crc32c    (in label order; a series ref is the offset
//!                                                of its entry in the file)
//! postings list* uvarint len | body | crc32c    (first: every series; then one per label
//!                                                pair, in (name, value) order)
//! label table    u32 len | body | crc32c        (fixed-width: name -> values -> postings)
//! label codes    u32 len | body | crc32c        (the names and values series entries
//!                                                number, in order of first use, and the
//!                                                label shapes: lists of names)
//! TOC            7 x u64 | 2 x i64 | crc32c     (offsets of the seven parts above, and the
//!                                                base and end times of series entries'
//!                                                times)
//! ```
//!
//! The fixed-width symbol offsets and label table let a reader find a symbol or a label
//! value by binary search in the mapped file, keeping nothing per symbol in memory.
//!
//! Invariants the writer keeps and the reader checks: series are added in strictly
//! increasing label order; every string a series uses is in the symbol table given up front;
//! a series' chunks are in time order and do not overlap.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::ChunkMeta;
use crate::chunk::ChunkSummary;
use crate::encoding::{put_crc_of, put_str, put_u32_le, put_u64_le, put_uvarint, put_zvarint};
use crate::error::{Error, Result};
use crate::labels::{Labels, Sym};

/// Magic bytes of an index file.
pub const MAGIC: &[u8; 4] = b"SIDX";
/// Format version of the index file written. Version 1 (read too) lacks the series
/// summaries of version 2; version 2 (read too) names labels by symbol and times from 0,
/// where version 3 numbers them in the label codes and counts times from a base; version 4
/// names a series' label names by one shape code and may count its last chunk's end from
/// the block's end.
pub const VERSION: u8 = 4;
/// Oldest format version read.
pub const MIN_VERSION: u8 = 1;
/// A series entry (version 2) carries the summary of all its chunks when it has at least
/// this many: it then stands for them in queries whose windows cover them all.
pub const SERIES_SUMMARY_MIN_CHUNKS: usize = 5;
/// Length of the file header.
pub const HEADER_LEN: usize = 8;
/// Length of the table of contents at the end of a version 1 or 2 file.
pub const TOC_LEN_V2: usize = 6 * 8 + 4;
/// Length of the table of contents at the end of a version 3 file.
pub const TOC_LEN_V3: usize = 8 * 8 + 4;
/// Length of the table of contents at the end of a version 4 file.
pub const TOC_LEN: usize = 9 * 8 + 4;
/// Version 4 stores a series' first chunk reference minus this (the first segment's
/// references: segments are numbered from 1), so that it takes no more bytes than the
/// offset alone.
pub const FIRST_REF_BASE: u64 = 1 << 32;

/// Streams a block's index to a file.
pub struct IndexWriter {
    path: PathBuf,
    out: BufWriter<File>,
    pos: u64,
    symbols: HashMap<Sym, u32>,
    symbols_off: u64,
    symbol_offsets_off: u64,
    series_off: u64,
    /// One (name symbol, value symbol, series index) per label of every series, sorted into
    /// postings at the end: 12 bytes per label instead of a vector per label pair.
    pairs: Vec<(u32, u32, u32)>,
    all: Vec<u64>,
    last: Option<Labels>,
    buf: Vec<u8>,
    /// Times in series entries are stored relative to this (the block's start).
    base_time: i64,
    /// Version 4: the block's end (exclusive), from which a series' last chunk's end may be
    /// counted.
    end_time: i64,
    /// The format version written.
    version: u8,
    /// Label names in order of first use, each with its values in order of first use.
    codes: Vec<(u32, Vec<u32>)>,
    /// Code of each name symbol, and of each (name code, value symbol).
    name_codes: HashMap<u32, u32>,
    value_codes: HashMap<(u32, u32), u32>,
    /// Version 4: label shapes (lists of name codes) in order of first use, and the code of
    /// each.
    shapes: Vec<Box<[u32]>>,
    shape_codes: HashMap<Box<[u32]>, u32>,
    /// Version 4: the name and value codes of the series being added (reused).
    names: Vec<u32>,
    values: Vec<u32>,
}

impl IndexWriter {
    /// Creates the index file with the given symbols (every label name and value of the
    /// series to come; sorted and deduplicated here). Times are stored relative to
    /// `base_time` and `end_time`, the block's range `[base_time, end_time)`, which keeps
    /// them short (any values round-trip).
    pub fn create(
        path: &Path,
        symbols: impl IntoIterator<Item = Sym>,
        base_time: i64,
        end_time: i64,
    ) -> Result<IndexWriter> {
        Self::create_version(path, symbols, (base_time, end_time), VERSION)
    }

    /// [`IndexWriter::create`] writing format `version` (2 to 4; 2 ignores the range, 3 its
    /// end): for tests that older files are still read.
    pub fn create_version(
        path: &Path,
        symbols: impl IntoIterator<Item = Sym>,
        (base_time, end_time): (i64, i64),
        version: u8,
    ) -> Result<IndexWriter> {
        if !(2..=VERSION).contains(&version) {
            return Err(Error::InvalidArgument(format!(
                "index writer: cannot write version {version}"
            )));
        }
        let base_time = if version >= 3 { base_time } else { 0 };
        let end_time = if version >= 4 { end_time } else { 0 };
        let f = File::create(path).map_err(|e| Error::io("create", path, e))?;
        let mut syms: Vec<Sym> = symbols.into_iter().collect();
        syms.sort_unstable();
        syms.dedup();
        let mut w = IndexWriter {
            path: path.to_path_buf(),
            out: BufWriter::with_capacity(1 << 20, f),
            pos: 0,
            symbols: HashMap::with_capacity(syms.len()),
            symbols_off: HEADER_LEN as u64,
            symbol_offsets_off: 0,
            series_off: 0,
            pairs: Vec::new(),
            all: Vec::new(),
            last: None,
            buf: Vec::new(),
            base_time,
            end_time,
            version,
            codes: Vec::new(),
            name_codes: HashMap::new(),
            value_codes: HashMap::new(),
            shapes: Vec::new(),
            shape_codes: HashMap::new(),
            names: Vec::new(),
            values: Vec::new(),
        };
        let mut header = [0u8; HEADER_LEN];
        header[..4].copy_from_slice(MAGIC);
        header[4] = version;
        w.write(&header.clone())?;
        let count = u32::try_from(syms.len())
            .map_err(|_| Error::InvalidArgument(format!("{} symbols in one block", syms.len())))?;
        let mut body = Vec::new();
        let mut offsets = Vec::with_capacity(syms.len() * 4);
        put_u32_le(&mut body, count);
        for s in &syms {
            put_u32_le(&mut offsets, body.len() as u32);
            put_str(&mut body, s);
        }
        w.write_section(&body)?;
        w.symbol_offsets_off = w.pos;
        w.write_section(&offsets)?;
        for (i, s) in syms.into_iter().enumerate() {
            w.symbols.insert(s, i as u32);
        }
        w.series_off = w.pos;
        Ok(w)
    }

    fn write(&mut self, b: &[u8]) -> Result<()> {
        self.out
            .write_all(b)
            .map_err(|e| Error::io("write", &self.path, e))?;
        self.pos += b.len() as u64;
        Ok(())
    }

    /// `u32 len | body | crc32c(body)`.
    fn write_section(&mut self, body: &[u8]) -> Result<()> {
        let len = u32::try_from(body.len()).map_err(|_| {
            Error::InvalidArgument(format!("index section of {} bytes", body.len()))
        })?;
        let mut b = Vec::with_capacity(body.len() + 8);
        put_u32_le(&mut b, len);
        b.extend_from_slice(body);
        put_crc_of(&mut b, 4);
        self.write(&b)
    }

    /// `uvarint len | body | crc32c(body)`; returns the offset of the entry.
    fn write_entry(&mut self, body: &[u8]) -> Result<u64> {
        let at = self.pos;
        let mut b = Vec::with_capacity(body.len() + 14);
        put_uvarint(&mut b, body.len() as u64);
        let from = b.len();
        b.extend_from_slice(body);
        put_crc_of(&mut b, from);
        self.write(&b)?;
        Ok(at)
    }

    fn sym(&self, s: &str) -> Result<u32> {
        self.symbols.get(s).copied().ok_or_else(|| {
            Error::InvalidArgument(format!("index writer: {s:?} missing from the symbol table"))
        })
    }

    /// Adds a series with its chunks (labels strictly after the previous series').
    pub fn add_series(&mut self, labels: &Labels, chunks: &[ChunkMeta]) -> Result<()> {
        if self.last.as_ref().is_some_and(|l| l >= labels) {
            return Err(Error::InvalidArgument(format!(
                "index writer: series {labels} out of order"
            )));
        }
        let mut body = std::mem::take(&mut self.buf);
        body.clear();
        let mut pairs = Vec::with_capacity(labels.len());
        for l in labels.iter() {
            pairs.push((self.sym(&l.name)?, self.sym(&l.value)?));
        }
        if self.version >= 4 {
            // One code for the names, then a value code per name.
            let (mut names, mut values) = (
                std::mem::take(&mut self.names),
                std::mem::take(&mut self.values),
            );
            names.clear();
            values.clear();
            for &(n, v) in &pairs {
                let (nc, vc) = self.code(n, v);
                names.push(nc);
                values.push(vc);
            }
            put_uvarint(&mut body, u64::from(self.shape(&names)));
            for &vc in &values {
                put_uvarint(&mut body, u64::from(vc));
            }
            (self.names, self.values) = (names, values);
        } else {
            put_uvarint(&mut body, labels.len() as u64);
            for &(n, v) in &pairs {
                let (nc, vc) = if self.version >= 3 {
                    self.code(n, v)
                } else {
                    (n, v)
                };
                put_uvarint(&mut body, u64::from(nc));
                put_uvarint(&mut body, u64::from(vc));
            }
        }
        // Version 4: the last chunk's end is stored as its distance to the block's end when
        // that is shorter than its span (a flag in the count's lowest bit).
        let from_end = self.version >= 4
            && chunks.last().is_some_and(|c| {
                let span = c.max_time.wrapping_sub(c.min_time) as u64;
                let to_end = self.end_time.wrapping_sub(c.max_time) as u64;
                c.max_time <= self.end_time && to_end < span
            });
        if self.version >= 4 {
            put_uvarint(
                &mut body,
                ((chunks.len() as u64) << 1) | u64::from(from_end),
            );
        } else {
            put_uvarint(&mut body, chunks.len() as u64);
        }
        if chunks.len() >= SERIES_SUMMARY_MIN_CHUNKS {
            // The series summary: samples, span and the fold of the chunks' summaries.
            let (first, last) = (&chunks[0], &chunks[chunks.len() - 1]);
            let n: u64 = chunks.iter().map(|c| u64::from(c.num_samples)).sum();
            let n = u32::try_from(n).map_err(|_| {
                Error::InvalidArgument(format!("{n} samples of {labels} in one block"))
            })?;
            put_uvarint(&mut body, u64::from(n));
            put_zvarint(&mut body, first.min_time.wrapping_sub(self.base_time));
            put_uvarint(&mut body, last.max_time.wrapping_sub(first.min_time) as u64);
            ChunkSummary::fold(chunks.iter().map(|c| &c.summary)).encode(
                &mut body,
                first.min_time,
                last.max_time,
            );
        }
        let mut prev: Option<&ChunkMeta> = None;
        for (i, c) in chunks.iter().enumerate() {
            match prev {
                None if self.version >= 4 => {
                    put_uvarint(&mut body, c.min_time.wrapping_sub(self.base_time) as u64);
                }
                None => {
                    put_zvarint(&mut body, c.min_time.wrapping_sub(self.base_time));
                }
                Some(p) => {
                    if c.min_time <= p.max_time || c.chunk_ref <= p.chunk_ref {
                        return Err(Error::InvalidArgument(format!(
                            "index writer: chunks of {labels} overlap or are out of order"
                        )));
                    }
                    put_zvarint(&mut body, c.min_time.wrapping_sub(p.max_time));
                }
            }
            if from_end && i + 1 == chunks.len() {
                put_uvarint(&mut body, self.end_time.wrapping_sub(c.max_time) as u64);
            } else {
                put_uvarint(&mut body, c.max_time.wrapping_sub(c.min_time) as u64);
            }
            put_uvarint(&mut body, u64::from(c.num_samples));
            let dref = match prev {
                Some(p) => c.chunk_ref - p.chunk_ref,
                None if self.version >= 4 => c.chunk_ref.wrapping_sub(FIRST_REF_BASE),
                None => c.chunk_ref,
            };
            put_uvarint(&mut body, dref);
            c.summary.encode(&mut body, c.min_time, c.max_time);
            prev = Some(c);
        }
        let at = self.write_entry(&body)?;
        self.buf = body;
        let idx = u32::try_from(self.all.len())
            .map_err(|_| Error::InvalidArgument("more than 2^32 series in one block".into()))?;
        self.all.push(at);
        for (n, v) in pairs {
            self.pairs.push((n, v, idx));
        }
        self.last = Some(labels.clone());
        Ok(())
    }

    /// The codes of name symbol `n` and value symbol `v`, given on first use.
    fn code(&mut self, n: u32, v: u32) -> (u32, u32) {
        let codes = &mut self.codes;
        let nc = *self.name_codes.entry(n).or_insert_with(|| {
            codes.push((n, Vec::new()));
            (codes.len() - 1) as u32
        });
        let vc = *self.value_codes.entry((nc, v)).or_insert_with(|| {
            let values = &mut codes[nc as usize].1;
            values.push(v);
            (values.len() - 1) as u32
        });
        (nc, vc)
    }

    /// The code of the label shape `names` (name codes), given on first use.
    fn shape(&mut self, names: &[u32]) -> u32 {
        if let Some(&c) = self.shape_codes.get(names) {
            return c;
        }
        let c = self.shapes.len() as u32;
        self.shapes.push(names.into());
        self.shape_codes.insert(names.into(), c);
        c
    }

    fn postings_body(list: &[u64]) -> Vec<u8> {
        let mut b = Vec::with_capacity(list.len() * 2 + 8);
        put_uvarint(&mut b, list.len() as u64);
        let mut prev = 0;
        for &r in list {
            put_uvarint(&mut b, r - prev);
            prev = r;
        }
        b
    }

    /// Writes postings, the label table and the TOC, and fsyncs. Returns the file size.
    pub fn finish(mut self) -> Result<u64> {
        let postings_off = self.pos;
        let all = std::mem::take(&mut self.all);
        let all_off = self.write_entry(&Self::postings_body(&all))?;
        let mut pairs = std::mem::take(&mut self.pairs);
        // Series indexes are ascending within each (name, value) after the sort.
        pairs.sort_unstable();
        // Label table: fixed-width name entries, then fixed-width value entries.
        let by_name: Vec<&[(u32, u32, u32)]> = pairs.chunk_by(|a, b| a.0 == b.0).collect();
        let mut names = Vec::with_capacity(4 + by_name.len() * 12);
        let mut values = Vec::new();
        put_u32_le(&mut names, by_name.len() as u32);
        let mut first = 0u32;
        let mut list = Vec::new();
        for group in &by_name {
            let nvalues = group.chunk_by(|a, b| a.1 == b.1).count() as u32;
            put_u32_le(&mut names, group[0].0);
            put_u32_le(&mut names, nvalues);
            put_u32_le(&mut names, first);
            first += nvalues;
            for same in group.chunk_by(|a, b| a.1 == b.1) {
                list.clear();
                list.extend(same.iter().map(|p| all[p.2 as usize]));
                let off = self.write_entry(&Self::postings_body(&list))?;
                put_u32_le(&mut values, same[0].1);
                put_u64_le(&mut values, off);
            }
        }
        names.extend_from_slice(&values);
        let table_off = self.pos;
        self.write_section(&names)?;
        let codes_off = self.pos;
        let offsets = [
            self.symbols_off,
            self.symbol_offsets_off,
            self.series_off,
            postings_off,
            table_off,
            all_off,
            codes_off,
        ];
        if self.version < 3 {
            return self.finish_toc(&offsets[..6], &[]);
        }
        let mut codes = Vec::new();
        put_u32_le(&mut codes, self.codes.len() as u32);
        for (n, values) in &self.codes {
            put_u32_le(&mut codes, *n);
            put_u32_le(&mut codes, values.len() as u32);
            for &v in values {
                put_u32_le(&mut codes, v);
            }
        }
        let mut times = vec![self.base_time];
        if self.version >= 4 {
            put_u32_le(&mut codes, self.shapes.len() as u32);
            for names in &self.shapes {
                put_u32_le(&mut codes, names.len() as u32);
                for &n in names.iter() {
                    put_u32_le(&mut codes, n);
                }
            }
            times.push(self.end_time);
        }
        self.write_section(&codes)?;
        self.finish_toc(&offsets, &times)
    }

    /// Writes the TOC (`offsets`, then the times given, and their checksum) and fsyncs.
    /// Returns the file size.
    fn finish_toc(mut self, offsets: &[u64], times: &[i64]) -> Result<u64> {
        let mut toc = Vec::with_capacity(TOC_LEN);
        for &off in offsets {
            put_u64_le(&mut toc, off);
        }
        for &t in times {
            put_u64_le(&mut toc, t as u64);
        }
        put_crc_of(&mut toc, 0);
        self.write(&toc)?;
        let f = self
            .out
            .into_inner()
            .map_err(|e| Error::io("write", &self.path, e.into_error()))?;
        f.sync_all()
            .map_err(|e| Error::io("fsync", &self.path, e))?;
        Ok(self.pos)
    }
}

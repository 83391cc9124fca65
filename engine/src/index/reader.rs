//! Reading a block's index file (layout: `index/writer.rs` and `docs/format/index.md`).
//!
//! Opening checks the header, the TOC checksum and the checksums of the sections a reader
//! trusts without a checksum of their own (symbols, symbol offsets, label table, label
//! codes). Those are read with positioned reads, not through the map, so opening does not
//! make the mapped pages resident. In memory the reader then holds only the section offsets,
//! the label names and (version 3) the label codes; symbols, label values and postings
//! offsets are found by binary search in the mapped file. Series entries and postings lists
//! carry their own checksums, verified every time one is read, before a byte of it is
//! decoded. So opening costs O(size of those sections) of I/O and O(label pairs) of memory,
//! never O(samples), and a flipped bit
//! anywhere is reported as [`Error::CorruptBlock`] naming the part it hit.
//!
//! Strings handed out (labels, names, values) are interned in the database's symbol table,
//! which is shared with the head and garbage-collected when the head is truncated.

use std::borrow::Cow;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::postings::SeriesRef;
use super::writer::{
    FIRST_REF_BASE, HEADER_LEN, MAGIC, MIN_VERSION, SERIES_SUMMARY_MIN_CHUNKS, TOC_LEN, TOC_LEN_V2,
    TOC_LEN_V3, VERSION,
};
use super::{ChunkMeta, LabelIndex, SeriesChunks, SeriesSpan, ValueFilter};
use crate::chunk::ChunkSummary;
use crate::encoding::{verify_crc, ByteCursor};
use crate::error::{Error, Result};
use crate::labels::{Label, Labels, Sym, SymbolTable};
use crate::owned_bytes::OwnedBytes;

/// One label name of the label table.
struct NameEntry {
    sym: u32,
    name: Sym,
    nvalues: u32,
    /// Index of its first value entry.
    first: u32,
}

/// Bytes of one value entry of the label table: value symbol (u32) and postings offset
/// (u64).
const VALUE_ENTRY: usize = 12;

/// A block's index, mapped.
pub struct IndexReader {
    bytes: OwnedBytes,
    /// Format version (series summaries from 2 on).
    version: u8,
    path: PathBuf,
    interner: Arc<SymbolTable>,
    /// Start of the symbols section's strings (after its u32 count).
    symbols_body: usize,
    /// Length of the symbols section's body (count included).
    symbols_len: usize,
    symbol_count: u32,
    /// Start of the symbol offsets' body.
    offsets_body: usize,
    names: Vec<NameEntry>,
    /// Start of the label table's value entries.
    values_body: usize,
    series_start: u64,
    postings_start: u64,
    all_off: u64,
    /// Version 3: the label codes, by name code: the name's place in `names` and the
    /// value symbols by value code.
    codes: Vec<(usize, Box<[u32]>)>,
    /// Version 3: what series entries' times are relative to (0 before).
    base_time: i64,
    /// Version 4: the block's end, from which a last chunk's end may be counted.
    end_time: i64,
    /// Version 4: the label shapes, by shape code: name codes, their names ascending.
    shapes: Vec<Box<[u32]>>,
    /// Recently handed-out label values by symbol (see [`ValueCache`]).
    values: ValueCache,
}

/// Slots of a [`ValueCache`].
const VALUE_CACHE_SLOTS: usize = 1024;

/// A small direct-mapped cache of interned label values by symbol id, so that reading a
/// series' labels finds the shared copy of a value it read before without hashing and
/// comparing the string in the database's symbol table (most series of a block repeat a
/// few values: job, instance, status). Bounded: at most [`VALUE_CACHE_SLOTS`] strings per
/// block, which the symbol table holds anyway.
#[derive(Default)]
struct ValueCache(parking_lot::Mutex<Vec<Option<CachedValue>>>);

/// A symbol id and its interned string.
type CachedValue = (u32, Sym);

impl ValueCache {
    /// The cache, locked: held while one series' labels are read (one lock per series,
    /// not per label).
    fn lock(&self) -> ValueSlots<'_> {
        ValueSlots(self.0.lock())
    }
}

/// A locked [`ValueCache`].
struct ValueSlots<'a>(parking_lot::MutexGuard<'a, Vec<Option<CachedValue>>>);

impl ValueSlots<'_> {
    /// The shared copy of symbol `id`, from the cache or else `intern(id)` (then cached).
    fn get(&mut self, id: u32, intern: impl FnOnce() -> Result<Sym>) -> Result<&Sym> {
        let slot = id as usize % VALUE_CACHE_SLOTS;
        let c = &mut self.0;
        if c.is_empty() {
            c.resize(VALUE_CACHE_SLOTS, None);
        }
        if !matches!(&c[slot], Some((k, _)) if *k == id) {
            c[slot] = Some((id, intern()?));
        }
        Ok(&c[slot].as_ref().expect("filled above").1)
    }
}

impl std::fmt::Debug for IndexReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexReader")
            .field("path", &self.path)
            .field("symbols", &self.symbol_count)
            .finish()
    }
}

/// Reads `len` bytes at `off` of `file` (positioned read, not through the map).
fn pread(file: &File, off: u64, len: usize, path: &Path) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    file.read_exact_at(&mut buf, off)
        .map_err(|e| Error::io("read", path, e))?;
    Ok(buf)
}

/// Checks a section `u32 len | body | crc32c` at `off` (ending at most at `limit`) with
/// positioned reads in pieces; returns the body's offset and length.
fn check_section(
    file: &File,
    path: &Path,
    off: u64,
    limit: u64,
    name: &'static str,
) -> Result<(usize, usize)> {
    let corrupt = |why: &str| Error::corrupt_block(path, name, why.to_string());
    let l = pread(file, off, 4, path)?;
    let len = u64::from(u32::from_le_bytes([l[0], l[1], l[2], l[3]]));
    if off + 4 + len + 4 > limit {
        return Err(corrupt("runs past its end"));
    }
    let mut crc = 0u32;
    let mut pos = off + 4;
    let mut buf = vec![0u8; (len as usize).min(1 << 20)];
    while pos < off + 4 + len {
        let n = ((off + 4 + len - pos) as usize).min(buf.len());
        file.read_exact_at(&mut buf[..n], pos)
            .map_err(|e| Error::io("read", path, e))?;
        crc = crc32c::crc32c_append(crc, &buf[..n]);
        pos += n as u64;
    }
    let want = pread(file, off + 4 + len, 4, path)?;
    if crc != u32::from_le_bytes([want[0], want[1], want[2], want[3]]) {
        return Err(corrupt("checksum mismatch"));
    }
    Ok(((off + 4) as usize, len as usize))
}

impl IndexReader {
    /// Checks the index in `bytes` (the mapped file `path`) and prepares to read it,
    /// interning the strings it hands out in `interner`.
    pub fn open(
        bytes: OwnedBytes,
        path: &Path,
        interner: &Arc<SymbolTable>,
    ) -> Result<IndexReader> {
        let corrupt =
            |section: &'static str, why: &str| Error::corrupt_block(path, section, why.to_string());
        let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
        let size = bytes.len();
        if size < HEADER_LEN + TOC_LEN_V2 {
            return Err(corrupt("header", "not an index file (too short)"));
        }
        let header = pread(&file, 0, HEADER_LEN, path)?;
        if &header[..4] != MAGIC {
            return Err(corrupt("header", "not an index file (bad magic)"));
        }
        if !(MIN_VERSION..=VERSION).contains(&header[4]) {
            return Err(Error::UnsupportedVersion {
                path: path.to_path_buf(),
                found: u32::from(header[4]),
                supported: u32::from(VERSION),
            });
        }
        let v3 = header[4] >= 3;
        let v4 = header[4] >= 4;
        let toc_len = match header[4] {
            4.. => TOC_LEN,
            3 => TOC_LEN_V3,
            _ => TOC_LEN_V2,
        };
        if size < HEADER_LEN + toc_len {
            return Err(corrupt("header", "not an index file (too short)"));
        }
        let toc_bytes = pread(&file, (size - toc_len) as u64, toc_len, path)?;
        let toc = verify_crc(&toc_bytes).ok_or_else(|| corrupt("toc", "checksum mismatch"))?;
        let mut c = ByteCursor::new(toc);
        let mut offs = [0u64; 7];
        for o in &mut offs[..if v3 { 7 } else { 6 }] {
            *o = c.u64_le().ok_or_else(|| corrupt("toc", "truncated"))?;
        }
        let base_time = if v3 {
            c.u64_le().ok_or_else(|| corrupt("toc", "truncated"))? as i64
        } else {
            0
        };
        let end_time = if v4 {
            c.u64_le().ok_or_else(|| corrupt("toc", "truncated"))? as i64
        } else {
            0
        };
        let end = (size - toc_len) as u64;
        let [symbols_off, offsets_off, series_start, postings_start, table_off, all_off, codes_off] =
            offs;
        // Version 3's label codes follow the label table.
        let table_end = if v3 { codes_off } else { end };
        if !(symbols_off == HEADER_LEN as u64
            && symbols_off < offsets_off
            && offsets_off < series_start
            && series_start <= postings_start
            && postings_start <= all_off
            && all_off < table_off
            && table_off < table_end
            && table_end <= end)
        {
            return Err(corrupt("toc", "section offsets out of order"));
        }
        let (sym_at, sym_len) = check_section(&file, path, symbols_off, offsets_off, "symbols")?;
        let (off_at, off_len) =
            check_section(&file, path, offsets_off, series_start, "symbol offsets")?;
        let (tab_at, tab_len) = check_section(&file, path, table_off, table_end, "label table")?;
        let codes_at = if v3 {
            Some(check_section(&file, path, codes_off, end, "label codes")?)
        } else {
            None
        };
        let symbol_count = ByteCursor::new(&bytes[sym_at..sym_at + sym_len])
            .u32_le()
            .ok_or_else(|| corrupt("symbols", "no count"))?;
        if off_len != symbol_count as usize * 4 {
            return Err(corrupt(
                "symbol offsets",
                "length does not match the symbol count",
            ));
        }
        let mut r = IndexReader {
            version: header[4],
            path: path.to_path_buf(),
            interner: interner.clone(),
            symbols_body: sym_at,
            symbols_len: sym_len,
            symbol_count,
            offsets_body: off_at,
            names: Vec::new(),
            values_body: 0,
            series_start,
            postings_start,
            all_off,
            codes: Vec::new(),
            base_time,
            end_time,
            shapes: Vec::new(),
            values: ValueCache::default(),
            bytes,
        };
        // Label names: few, kept in memory.
        let bad = || corrupt("label table", "malformed");
        let table = r.bytes.get(tab_at..tab_at + tab_len).ok_or_else(bad)?;
        let mut c = ByteCursor::new(table);
        let nnames = c.u32_le().ok_or_else(bad)? as usize;
        if nnames > table.len() / 12 {
            return Err(bad());
        }
        let mut names: Vec<NameEntry> = Vec::with_capacity(nnames);
        let mut total = 0u64;
        for _ in 0..nnames {
            let (sym, nvalues, first) = (
                c.u32_le().ok_or_else(bad)?,
                c.u32_le().ok_or_else(bad)?,
                c.u32_le().ok_or_else(bad)?,
            );
            if u64::from(first) != total
                || nvalues == 0
                || names.last().is_some_and(|p| p.sym >= sym)
            {
                return Err(bad());
            }
            total += u64::from(nvalues);
            let name = interner.intern(r.sym(sym)?);
            names.push(NameEntry {
                sym,
                name,
                nvalues,
                first,
            });
        }
        if c.remaining() as u64 != total * VALUE_ENTRY as u64 {
            return Err(bad());
        }
        r.values_body = tab_at + c.pos();
        r.names = names;
        if let Some((at, len)) = codes_at {
            (r.codes, r.shapes) = r.read_codes(at, len, v4)?;
        }
        Ok(r)
    }

    /// Parses version 3's label codes (`u32 nnames`, then per name `u32 name symbol,
    /// u32 nvalues, nvalues x u32 value symbol`): every name must be in the label table
    /// and every value a symbol. Version 4 adds the label shapes (`u32 nshapes`, then per
    /// shape `u32 len, len x u32 name code`), each naming known codes of names in
    /// ascending order.
    #[allow(clippy::type_complexity)]
    fn read_codes(
        &self,
        at: usize,
        len: usize,
        shapes: bool,
    ) -> Result<(Vec<(usize, Box<[u32]>)>, Vec<Box<[u32]>>)> {
        let bad = || Error::corrupt_block(&self.path, "label codes", "malformed".to_string());
        let body = self.bytes.get(at..at + len).ok_or_else(bad)?;
        let mut c = ByteCursor::new(body);
        let n = c.u32_le().ok_or_else(bad)? as usize;
        if n > self.names.len() {
            return Err(bad());
        }
        let mut codes = Vec::with_capacity(n);
        for _ in 0..n {
            let sym = c.u32_le().ok_or_else(bad)?;
            let at = self
                .names
                .iter()
                .position(|e| e.sym == sym)
                .ok_or_else(bad)?;
            let nv = c.u32_le().ok_or_else(bad)? as usize;
            if nv > c.remaining() / 4 || nv > self.names[at].nvalues as usize {
                return Err(bad());
            }
            let mut values = Vec::with_capacity(nv);
            for _ in 0..nv {
                let v = c.u32_le().ok_or_else(bad)?;
                if v >= self.symbol_count {
                    return Err(bad());
                }
                values.push(v);
            }
            codes.push((at, values.into_boxed_slice()));
        }
        let mut list = Vec::new();
        if shapes {
            let n = c.u32_le().ok_or_else(bad)? as usize;
            if n > c.remaining() / 4 {
                return Err(bad());
            }
            list.reserve(n);
            for _ in 0..n {
                let len = c.u32_le().ok_or_else(bad)? as usize;
                if len > c.remaining() / 4 {
                    return Err(bad());
                }
                let mut names = Vec::with_capacity(len);
                let mut prev: Option<u32> = None;
                for _ in 0..len {
                    let code = c.u32_le().ok_or_else(bad)?;
                    let &(at, _) = codes.get(code as usize).ok_or_else(bad)?;
                    // Names ascend (label order): a series entry's names need no check.
                    let sym = self.names[at].sym;
                    if prev.is_some_and(|p| p >= sym) {
                        return Err(bad());
                    }
                    prev = Some(sym);
                    names.push(code);
                }
                list.push(names.into_boxed_slice());
            }
        }
        if !c.is_empty() {
            return Err(bad());
        }
        Ok((codes, list))
    }

    /// The string of symbol `id`, read from the map.
    fn sym(&self, id: u32) -> Result<&str> {
        let bad = || Error::corrupt_block(&self.path, "symbols", format!("symbol {id} unreadable"));
        if id >= self.symbol_count {
            return Err(bad());
        }
        let at = self.offsets_body + id as usize * 4;
        let b: &[u8] = &self.bytes;
        let off = ByteCursor::new(&b[at..at + 4]).u32_le().ok_or_else(bad)? as usize;
        if off < 4 || off >= self.symbols_len {
            return Err(bad());
        }
        ByteCursor::new(&b[self.symbols_body + off..self.symbols_body + self.symbols_len])
            .str()
            .ok_or_else(bad)
    }

    /// The id of symbol `s`, by binary search (symbols are sorted).
    fn sym_id(&self, s: &str) -> Result<Option<u32>> {
        let (mut lo, mut hi) = (0u32, self.symbol_count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.sym(mid)?.cmp(s) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(Some(mid)),
            }
        }
        Ok(None)
    }

    /// Value entry `i` of the label table: (value symbol, postings offset).
    fn value_entry(&self, i: u32) -> Result<(u32, u64)> {
        let at = self.values_body + i as usize * VALUE_ENTRY;
        let bad = || Error::corrupt_block(&self.path, "label table", format!("value entry {i}"));
        let mut c = ByteCursor::new(self.bytes.get(at..at + VALUE_ENTRY).ok_or_else(bad)?);
        Ok((c.u32_le().ok_or_else(bad)?, c.u64_le().ok_or_else(bad)?))
    }

    fn name_entry(&self, name: &str) -> Option<&NameEntry> {
        self.names
            .binary_search_by(|e| (*e.name).cmp(name))
            .ok()
            .map(|i| &self.names[i])
    }

    /// The values of a name with their postings offsets, in order.
    fn values_of<'a>(&'a self, e: &NameEntry) -> impl Iterator<Item = Result<(&'a str, u64)>> + 'a {
        (e.first..e.first + e.nvalues).map(move |i| {
            let (v, off) = self.value_entry(i)?;
            Ok((self.sym(v)?, off))
        })
    }

    /// Postings offset of `name=value`, by binary search over the name's values.
    fn postings_off(&self, e: &NameEntry, value: &str) -> Result<Option<u64>> {
        let Some(id) = self.sym_id(value)? else {
            return Ok(None);
        };
        let (mut lo, mut hi) = (e.first, e.first + e.nvalues);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let (v, off) = self.value_entry(mid)?;
            match v.cmp(&id) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(Some(off)),
            }
        }
        Ok(None)
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

    /// Series refs matching every matcher, ascending (= label order).
    pub fn select(&self, matchers: &[crate::Matcher]) -> Result<Vec<SeriesRef>> {
        super::select(self, matchers)
    }

    /// Label names used by any series, sorted.
    pub fn label_names(&self) -> Vec<Sym> {
        self.names.iter().map(|e| e.name.clone()).collect()
    }

    /// Values of label `name`, sorted.
    pub fn label_values(&self, name: &str) -> Result<Vec<Sym>> {
        let Some(e) = self.name_entry(name) else {
            return Ok(Vec::new());
        };
        self.values_of(e)
            .map(|r| r.map(|(v, _)| self.interner.intern(v)))
            .collect()
    }

    /// Every symbol, in order (for merging symbol tables at compaction).
    pub fn symbols(&self) -> impl Iterator<Item = Result<&str>> + '_ {
        (0..self.symbol_count).map(|i| self.sym(i))
    }

    /// Number of symbols.
    pub fn num_symbols(&self) -> usize {
        self.symbol_count as usize
    }

    /// The labels of series `r` and its chunks that overlap `[mint, maxt]` (all chunks with
    /// `mint = i64::MIN, maxt = i64::MAX`).
    pub fn series(&self, r: SeriesRef, mint: i64, maxt: i64) -> Result<(Labels, Vec<ChunkMeta>)> {
        let (labels, chunks) = self.read_series(r, mint, maxt, None, Wanted::Read)?;
        match chunks {
            SeriesChunks::Chunks(c) => Ok((labels.unwrap_or_default(), c)),
            SeriesChunks::Whole(_) => unreachable!("no span asked for"),
        }
    }

    /// Like [`IndexReader::series`], but when the entry carries a series summary and all
    /// the series' chunks lie inside `(lo, hi]` (and inside `[mint, maxt]`), hands them out
    /// as one [`SeriesSpan`] without decoding their metadata.
    pub fn series_within(
        &self,
        r: SeriesRef,
        mint: i64,
        maxt: i64,
        (lo, hi): (i64, i64),
    ) -> Result<(Labels, SeriesChunks)> {
        let (labels, chunks) = self.read_series(r, mint, maxt, Some((lo, hi)), Wanted::Read)?;
        Ok((labels.unwrap_or_default(), chunks))
    }

    /// Like [`IndexReader::series`] (`within = None`) or [`IndexReader::series_within`],
    /// but the labels are built only when they differ from `expect`: `None` when the
    /// entry's labels equal it. Reading a series that another source already named costs
    /// no allocation for its labels this way.
    pub fn series_unless(
        &self,
        r: SeriesRef,
        mint: i64,
        maxt: i64,
        within: Option<(i64, i64)>,
        expect: Option<&Labels>,
    ) -> Result<(Option<Labels>, SeriesChunks)> {
        let wanted = match expect {
            Some(e) => Wanted::Unless(e),
            None => Wanted::Read,
        };
        self.read_series(r, mint, maxt, within, wanted)
    }

    /// The chunks of series `r` overlapping `[mint, maxt]`, labels not decoded.
    pub fn series_chunks(&self, r: SeriesRef, mint: i64, maxt: i64) -> Result<Vec<ChunkMeta>> {
        match self.read_series(r, mint, maxt, None, Wanted::No)?.1 {
            SeriesChunks::Chunks(c) => Ok(c),
            SeriesChunks::Whole(_) => unreachable!("no span asked for"),
        }
    }

    fn read_series(
        &self,
        r: SeriesRef,
        mint: i64,
        maxt: i64,
        within: Option<(i64, i64)>,
        wanted: Wanted<'_>,
    ) -> Result<(Option<Labels>, SeriesChunks)> {
        let body = self.entry(r, self.series_start, self.postings_start, "series")?;
        let bad = |what: &str| {
            Error::corrupt_block(&self.path, "series", format!("entry at {r}: {what}"))
        };
        let mut c = ByteCursor::new(body);
        // Version 4 names the label names by one shape code, then gives a value code each.
        let shape = if self.version >= 4 {
            let code = c.uvarint().ok_or_else(|| bad("label shape"))?;
            let shape = usize::try_from(code)
                .ok()
                .and_then(|s| self.shapes.get(s))
                .ok_or_else(|| bad("label shape"))?;
            Some(&**shape)
        } else {
            None
        };
        let nl = match shape {
            Some(s) => s.len(),
            None => c.count(body.len() / 2).ok_or_else(|| bad("label count"))?,
        };
        // With `expect`, the labels are compared while they are checked and built only from
        // the first one that differs (the ones before it are `expect`'s).
        let reading = !matches!(wanted, Wanted::No);
        let mut expect = match wanted {
            Wanted::Unless(e) if e.len() == nl => Some(e.as_slice()),
            _ => None,
        };
        let mut labels = Vec::new();
        let mut values = reading.then(|| self.values.lock());
        let mut prev_name: Option<u64> = None;
        for i in 0..nl {
            let n = match shape {
                Some(s) => Some(u64::from(s[i])),
                None => c.uvarint(),
            };
            let (Some(n), Some(v)) = (n, c.uvarint()) else {
                return Err(bad("truncated labels"));
            };
            // Version 3 numbers names and values in the label codes; before, by symbol.
            let (at, n, v) = if self.version < 3 {
                (None, n, v)
            } else {
                let Some((at, values)) = usize::try_from(n).ok().and_then(|n| self.codes.get(n))
                else {
                    return Err(bad("label name code"));
                };
                let Some(&v) = usize::try_from(v).ok().and_then(|v| values.get(v)) else {
                    return Err(bad("label value code"));
                };
                (Some(*at), u64::from(self.names[*at].sym), u64::from(v))
            };
            if prev_name.is_some_and(|p| p >= n) || v > u64::from(u32::MAX) {
                return Err(bad("labels not sorted"));
            }
            prev_name = Some(n);
            let Some(values) = values.as_mut() else {
                continue;
            };
            let name = match at {
                Some(at) => &self.names[at],
                None => match self.names.iter().find(|e| u64::from(e.sym) == n) {
                    Some(e) => e,
                    None => return Err(bad("label name not in the label table")),
                },
            };
            // Values come from the cache, so equal ones are mostly one pointer.
            let value = values.get(v as u32, || Ok(self.interner.intern(self.sym(v as u32)?)))?;
            if let Some(e) = expect {
                if name.name == e[i].name && *value == e[i].value {
                    continue;
                }
                expect = None;
                labels.reserve(nl);
                labels.extend_from_slice(&e[..i]);
            }
            labels.push(Label {
                name: name.name.clone(),
                value: value.clone(),
            });
        }
        drop(values);
        let labels = (reading && expect.is_none()).then(|| Labels::from_sorted_unchecked(labels));
        // Version 4: the count's lowest bit says the last chunk's end is counted from the
        // block's end.
        let (nc, from_end) = if self.version >= 4 {
            let v = c.uvarint().ok_or_else(|| bad("chunk count"))?;
            let nc = usize::try_from(v >> 1)
                .ok()
                .filter(|&n| n <= body.len())
                .ok_or_else(|| bad("chunk count"))?;
            (nc, v & 1 == 1)
        } else {
            (
                c.count(body.len()).ok_or_else(|| bad("chunk count"))?,
                false,
            )
        };
        if self.version >= 2 && nc >= SERIES_SUMMARY_MIN_CHUNKS {
            let n = c
                .uvarint()
                .and_then(|n| u32::try_from(n).ok())
                .filter(|&n| n > 0)
                .ok_or_else(|| bad("series sample count"))?;
            let min_time = c
                .zvarint()
                .map(|t| t.wrapping_add(self.base_time))
                .ok_or_else(|| bad("series min time"))?;
            let span = c.uvarint().ok_or_else(|| bad("series span"))?;
            let max_time = i64::try_from(i128::from(min_time) + i128::from(span))
                .map_err(|_| bad("series max time"))?;
            let summary = ChunkSummary::decode(&mut c, n, min_time, max_time)
                .ok_or_else(|| bad("series summary"))?;
            if let Some((lo, hi)) = within {
                if min_time > lo && max_time <= hi && min_time >= mint && max_time <= maxt {
                    // The entry's checksum vouched for the chunk metadata not read.
                    return Ok((
                        labels,
                        SeriesChunks::Whole(SeriesSpan {
                            min_time,
                            max_time,
                            num_samples: n,
                            summary,
                        }),
                    ));
                }
            }
        }
        let mut chunks = Vec::new();
        let mut prev: Option<(i64, u64)> = None; // (max_time, ref)
        for i in 0..nc {
            let min_time = match prev {
                None if self.version >= 4 => {
                    c.uvarint().map(|t| self.base_time.wrapping_add(t as i64))
                }
                None => c.zvarint().map(|t| t.wrapping_add(self.base_time)),
                Some((pmax, _)) => c.zvarint().map(|d| pmax.wrapping_add(d)),
            }
            .ok_or_else(|| bad("chunk min time"))?;
            let span = c.uvarint().ok_or_else(|| bad("chunk span"))?;
            let max_time = if from_end && i + 1 == nc {
                // The distance back from the block's end: not below the chunk's start.
                i64::try_from(i128::from(self.end_time) - i128::from(span))
                    .ok()
                    .filter(|&t| t >= min_time)
                    .ok_or_else(|| bad("chunk max time"))?
            } else {
                i64::try_from(i128::from(min_time) + i128::from(span))
                    .map_err(|_| bad("chunk max time"))?
            };
            let n = c
                .uvarint()
                .and_then(|n| u32::try_from(n).ok())
                .filter(|&n| n > 0)
                .ok_or_else(|| bad("chunk sample count"))?;
            let dref = c.uvarint().ok_or_else(|| bad("chunk ref"))?;
            let chunk_ref = match prev {
                None if self.version >= 4 => dref.wrapping_add(FIRST_REF_BASE),
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
            if min_time > maxt {
                // Chunks are in time order: the rest lies after the range. The entry's
                // checksum already vouched for its bytes.
                return Ok((labels, SeriesChunks::Chunks(chunks)));
            }
            if max_time >= mint {
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
        Ok((labels, SeriesChunks::Chunks(chunks)))
    }
}

/// What reading a series entry does with its labels.
#[derive(Clone, Copy)]
enum Wanted<'a> {
    /// Leaves them out.
    No,
    /// Builds them.
    Read,
    /// Builds them only if they differ from these.
    Unless(&'a Labels),
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
                if let Some(off) = self.postings_off(e, v)? {
                    out.push(Cow::Owned(self.postings_at(off)?));
                }
            }
            ValueFilter::Accepted(m) | ValueFilter::Rejected(m) => {
                let want = matches!(filter, ValueFilter::Accepted(_));
                for r in self.values_of(e) {
                    let (v, off) = r?;
                    if m.matches(v) == want {
                        out.push(Cow::Owned(self.postings_at(off)?));
                    }
                }
            }
        }
        Ok(Some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Symbols that share a slot evict each other and each lookup still gets its own
    /// string; a failing intern caches nothing.
    #[test]
    fn value_cache_keeps_symbols_apart() {
        let c = ValueCache::default();
        let calls = std::cell::Cell::new(0);
        let get = |id: u32| {
            c.lock()
                .get(id, || {
                    calls.set(calls.get() + 1);
                    Ok(Sym::from(format!("v{id}")))
                })
                .cloned()
                .unwrap()
        };
        let slot_mate = 5 + VALUE_CACHE_SLOTS as u32;
        assert_eq!(&*get(5), "v5");
        assert_eq!(&*get(5), "v5");
        assert_eq!(calls.get(), 1, "second lookup from the cache");
        assert_eq!(&*get(slot_mate), &*format!("v{slot_mate}"));
        assert_eq!(&*get(5), "v5");
        assert_eq!(calls.get(), 3, "slot mates evict each other");
        let failed = c
            .lock()
            .get(7, || Err(Error::InvalidArgument("corrupt".into())))
            .is_err();
        assert!(failed);
        assert_eq!(&*get(7), "v7");
        assert_eq!(calls.get(), 4);
    }
}

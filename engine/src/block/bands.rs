//! Classic-histogram buckets stored as bands: a bucket chunk kept as the difference to the
//! chunk of a neighbouring bucket of the same histogram over the same timestamps.
//!
//! A bucket `le = b` counts every observation at or below `b`, so its counter climbs almost
//! in step with the bucket below it; the difference of the two (the count of the band
//! between them) grows slowly and packs in about a third of the bits (measured on the canary
//! fleet: 3.3 -> 1.3 bits/sample, `block_size --analyze 1`). Buckets are most of a
//! fleet's series, so this is the largest lossless saving left once timestamps are shared.
//!
//! ```text
//! record: 6 | uvarint offset of the base record (before this one) | value part
//! value part: shared_times value part of the chunk of the differences (this chunk's values
//!             minus the base's, sample by sample), encoded over the base's timestamps
//! ```
//!
//! Invariants:
//! - Lossless: a difference is stored only if adding it back to the base's value gives this
//!   chunk's value bit for bit, for every sample (checked when writing; NaN, stale markers
//!   and most non-integer values fail it and are stored as they are).
//! - The base has the same timestamp part ([`shared_times`]); it may itself be a band
//!   record. The writer keeps chains at most [`MAX_DEPTH`] long, and readers refuse chains
//!   longer than [`MAX_CHAIN`], so a read decodes a bounded number of records and a damaged
//!   file cannot recurse without end (a base also always lies before its record).
//! - Which neighbour is the base only changes sizes, never values: any base with the same
//!   timestamps gives the chunk back exactly.

use std::collections::{HashMap, VecDeque};

use crate::chunk::{shared_times, Chunk};
use crate::encoding::put_uvarint;
use crate::labels::{hash_pairs, Labels};

/// First byte of a band record (never a chunk encoding byte, nor `SHARED_TIMES`).
pub const BAND: u8 = 6;

/// Longest chain of band records a reader follows (a base of a base ...).
pub const MAX_CHAIN: usize = 8;

/// Longest chain the writer makes, in band records (this one included) followed until a
/// record that is not one: reading a bucket decodes at most this many chunks besides the
/// chain's end.
pub const MAX_DEPTH: u8 = 3;

/// Bytes of bucket chunks the writer keeps to find bases (per segment); the oldest
/// histograms are forgotten first. Series come in label order, so a histogram's buckets are
/// near each other unless many series sort between them.
const MAX_KEPT_BYTES: usize = 8 << 20;

/// The histogram a bucket series belongs to.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BucketOf {
    /// Hash of the series' labels without `le`.
    pub group: u64,
    /// Its upper bound.
    pub le: f64,
}

impl BucketOf {
    /// The bucket of a series with a numeric `le` label, if it has one.
    pub fn of(labels: &Labels) -> Option<BucketOf> {
        let le = labels
            .get("le")?
            .parse::<f64>()
            .ok()
            .filter(|v| !v.is_nan())?;
        let group = hash_pairs(
            labels
                .iter()
                .filter(|l| &*l.name != "le")
                .map(|l| (&*l.name, &*l.value)),
        );
        Some(BucketOf { group, le })
    }
}

/// A chunk of a bucket series, about to be written.
pub struct BucketChunk<'a> {
    /// Its histogram and bound.
    pub of: BucketOf,
    /// Its timestamp part ([`shared_times::times_of`]).
    pub times: &'a [u8],
    /// The timestamp part's crc32c.
    pub tcrc: u32,
    /// Its timestamps.
    pub ts: &'a [i64],
    /// Its values.
    pub vs: &'a [f64],
    /// The chunk itself.
    pub chunk: &'a Chunk,
}

/// A bucket chunk written before, usable as a base: kept encoded (a tenth to a thirtieth
/// of its decoded size) and decoded when it is a candidate.
struct Kept {
    le: f64,
    /// Segment offset of the record that holds it.
    off: u32,
    /// Band records between it and a record that is not one (0 for that record).
    depth: u8,
    chunk: Chunk,
}

impl Kept {
    /// Bytes it holds.
    fn size(&self) -> usize {
        self.chunk.as_bytes().len() + std::mem::size_of::<Kept>()
    }

    /// Its values, if it decodes to as many as `n`.
    fn values(&self, n: usize) -> Option<Vec<f64>> {
        let (mut ts, mut vs) = (Vec::with_capacity(n), Vec::with_capacity(n));
        self.chunk.decode_into(&mut ts, &mut vs).ok()?;
        (vs.len() == n).then_some(vs)
    }
}

/// The buckets of one histogram over one timestamp sequence.
struct Group {
    times: Box<[u8]>,
    kept: Vec<Kept>,
}

/// What a chunk writer remembers of the current segment's bucket chunks.
#[derive(Default)]
pub struct Bands {
    groups: HashMap<(u64, u32), Group>,
    order: VecDeque<(u64, u32)>,
    bytes: usize,
}

/// How a chunk writer placed a chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placed {
    /// In a new record that is not a band record.
    Plain,
    /// In a new band record of this depth.
    Band(u8),
    /// In a record written before.
    Taken,
}

/// A band record chosen for a chunk.
pub struct BandRecord {
    /// The record's chunk bytes.
    pub bytes: Vec<u8>,
    /// Its depth.
    pub depth: u8,
}

impl Bands {
    /// Forgets everything (a new segment starts).
    pub fn clear(&mut self) {
        *self = Bands::default();
    }

    /// The smallest band record for chunk `c`, if one is shorter than `limit` bytes.
    pub fn record(&self, c: &BucketChunk<'_>, limit: usize) -> Option<BandRecord> {
        let (b, times) = (c.of, c.times);
        let g = self.groups.get(&(b.group, c.tcrc))?;
        if *g.times != *times {
            return None;
        }
        let n = c.vs.len();
        let usable = |k: &&Kept| k.depth < MAX_DEPTH && k.chunk.num_samples() == n;
        // The nearest bucket below or above, whichever band moves less (the sum of the
        // band's steps prices it well enough to encode only one).
        let below = g
            .kept
            .iter()
            .filter(|k| k.le < b.le)
            .filter(usable)
            .max_by(|x, y| x.le.total_cmp(&y.le));
        let above = g
            .kept
            .iter()
            .filter(|k| k.le > b.le)
            .filter(usable)
            .min_by(|x, y| x.le.total_cmp(&y.le));
        let (base, values, _) = [below, above]
            .into_iter()
            .flatten()
            .filter_map(|k| {
                let values = k.values(n)?;
                let moves = movement(&values, c.vs);
                Some((k, values, moves))
            })
            .min_by(|x, y| x.2.total_cmp(&y.2))?;
        let rec = band_bytes(base.off, &values, times, c.ts, c.vs)?;
        (rec.len() < limit).then(|| BandRecord {
            bytes: rec,
            depth: base.depth + 1,
        })
    }

    /// Records that chunk `c` is held by the record at `off`, placed there as `placed`.
    pub fn remember(&mut self, c: &BucketChunk<'_>, off: u32, placed: Placed) {
        let key = (c.of.group, c.tcrc);
        let depth = match placed {
            Placed::Plain => 0,
            Placed::Band(d) => d,
            // A record written before: its depth if this histogram's buckets hold it (an
            // identical bucket), else unknown, so never a base.
            Placed::Taken => self
                .groups
                .get(&key)
                .and_then(|g| g.kept.iter().find(|k| k.off == off))
                .map_or(MAX_DEPTH, |k| k.depth),
        };
        let bytes = &mut self.bytes;
        let g = self.groups.entry(key).or_insert_with(|| {
            self.order.push_back(key);
            *bytes += c.times.len();
            Group {
                times: c.times.into(),
                kept: Vec::new(),
            }
        });
        if *g.times != *c.times {
            return;
        }
        let k = Kept {
            le: c.of.le,
            off,
            depth,
            chunk: c.chunk.clone(),
        };
        self.bytes += k.size();
        g.kept.push(k);
        while self.bytes > MAX_KEPT_BYTES {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some(g) = self.groups.remove(&old) {
                self.bytes -= g.times.len();
                self.bytes -= g.kept.iter().map(Kept::size).sum::<usize>();
            }
        }
    }
}

/// How much the band between `vs` and `base` moves: the sum of the magnitudes of its steps.
fn movement(base: &[f64], vs: &[f64]) -> f64 {
    let mut prev: Option<f64> = None;
    let mut sum = 0.0;
    for (&v, &bv) in vs.iter().zip(base) {
        let d = v - bv;
        if let Some(p) = prev {
            sum += (d - p).abs();
        }
        prev = Some(d);
    }
    sum
}

/// The band record of values `vs` over the values `base` of the record at `base_off`, if
/// every difference adds back exactly and the differences encode over the same timestamp
/// part.
fn band_bytes(
    base_off: u32,
    base: &[f64],
    times: &[u8],
    ts: &[i64],
    vs: &[f64],
) -> Option<Vec<u8>> {
    let mut ds = Vec::with_capacity(vs.len());
    for (&v, &bv) in vs.iter().zip(base) {
        let d = v - bv;
        if (bv + d).to_bits() != v.to_bits() {
            return None;
        }
        ds.push(d);
    }
    let values = shared_times::value_part(times, ts, &ds)?;
    let mut rec = Vec::with_capacity(values.len() + 6);
    rec.push(BAND);
    put_uvarint(&mut rec, u64::from(base_off));
    rec.extend_from_slice(&values);
    Some(rec)
}

//! The embedded database: a data directory with its WAL and head. (Interface fixed;
//! implementation in progress.)

use std::path::Path;

use crate::error::Result;
use crate::labels::Labels;
use crate::matcher::Matcher;
use crate::wal::WalOptions;
use crate::Sample;

/// Settings of a [`Db`].
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// WAL settings.
    pub wal: WalOptions,
}

/// Samples to append, grouped by series. Build with [`Batch::push`].
#[derive(Clone, Debug, Default)]
pub struct Batch {
    series: Vec<(Labels, Vec<Sample>)>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Batch {
        Batch::default()
    }
    /// Adds samples (in time order) for the series `labels`.
    pub fn push(&mut self, labels: Labels, samples: Vec<Sample>) {
        self.series.push((labels, samples));
    }
    /// Number of series entries.
    pub fn len(&self) -> usize {
        self.series.len()
    }
    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }
    /// Total samples.
    pub fn num_samples(&self) -> usize {
        self.series.iter().map(|(_, s)| s.len()).sum()
    }
}

/// Why a sample was not stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// Older than the series' last sample.
    OutOfOrder,
    /// Same timestamp as the last sample, different value.
    DuplicateTimestamp,
}

/// What an append did.
#[derive(Clone, Debug, Default)]
pub struct AppendReport {
    /// Samples stored.
    pub appended: u64,
    /// Exact duplicates of stored samples (no-ops, not errors).
    pub duplicates: u64,
    /// Series created by this append.
    pub new_series: u64,
    /// Samples rejected, by reason.
    pub out_of_order: u64,
    /// Samples rejected for a duplicate timestamp with another value.
    pub duplicate_timestamp: u64,
    /// The first rejection, for error messages: reason, series, sample timestamp.
    pub first_rejection: Option<(RejectReason, Labels, i64)>,
}

/// Head statistics.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Series in the head.
    pub series: u64,
    /// Samples in the head.
    pub samples: u64,
    /// Bytes of encoded chunk data.
    pub chunk_bytes: u64,
    /// Oldest sample timestamp, if any.
    pub min_time: Option<i64>,
    /// Newest sample timestamp, if any.
    pub max_time: Option<i64>,
}

/// A Strata database.
pub struct Db {}

impl Db {
    /// Opens (creating if needed) the data directory, taking its lock and replaying the WAL.
    pub fn open(_dir: impl AsRef<Path>, _opts: Options) -> Result<Db> {
        todo!()
    }
    /// Appends a batch; returns once the accepted samples are in the WAL.
    pub fn append(&self, _batch: &Batch) -> Result<AppendReport> {
        todo!()
    }
    /// A reader over `[mint, maxt]` (inclusive, ms).
    pub fn querier(&self, _mint: i64, _maxt: i64) -> Querier {
        todo!()
    }
    /// Label names of series matching all `matchers` (all series if empty) with data in
    /// `[mint, maxt]`, sorted.
    pub fn label_names(
        &self,
        _matchers: &[Matcher],
        _mint: i64,
        _maxt: i64,
    ) -> Result<Vec<String>> {
        todo!()
    }
    /// Values of label `name` over matching series with data in `[mint, maxt]`, sorted.
    pub fn label_values(
        &self,
        _name: &str,
        _matchers: &[Matcher],
        _mint: i64,
        _maxt: i64,
    ) -> Result<Vec<String>> {
        todo!()
    }
    /// Head statistics.
    pub fn stats(&self) -> Stats {
        todo!()
    }
    /// Flushes and fsyncs the WAL and releases the directory lock.
    pub fn close(self) -> Result<()> {
        todo!()
    }
}

/// A read view over `[mint, maxt]`.
pub struct Querier {}

impl Querier {
    /// Series matching all `matchers` with samples in the range, sorted by labels. At least one
    /// matcher must not match the empty string, as in Prometheus.
    pub fn select(&self, _matchers: &[Matcher]) -> Result<Vec<Series>> {
        todo!()
    }
    /// Start of the range (inclusive, ms).
    pub fn mint(&self) -> i64 {
        todo!()
    }
    /// End of the range (inclusive, ms).
    pub fn maxt(&self) -> i64 {
        todo!()
    }
}

/// One selected series: its labels and the chunks overlapping the querier's range.
#[derive(Clone, Debug)]
pub struct Series {
    /// The series' labels.
    pub labels: Labels,
}

impl Series {
    /// Iterates samples within the querier's range, in time order.
    pub fn iter(&self) -> SeriesIter<'_> {
        todo!()
    }
    /// All samples within the querier's range.
    pub fn samples(&self) -> Vec<Sample> {
        self.iter().collect()
    }
}

/// Iterator over a [`Series`]' samples.
pub struct SeriesIter<'a> {
    _s: &'a Series,
}

impl SeriesIter<'_> {
    /// Advances to the first sample with timestamp `>= t` and returns it.
    pub fn seek(&mut self, _t: i64) -> Option<Sample> {
        todo!()
    }
}

impl Iterator for SeriesIter<'_> {
    type Item = Sample;
    fn next(&mut self) -> Option<Sample> {
        todo!()
    }
}

//! Write-ahead log. (Interface fixed; implementation in progress.)

use std::path::Path;
use std::time::Duration;

use crate::error::Result;
use crate::labels::Labels;

/// A series definition: the dense reference and its labels.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesRecord {
    /// Series reference.
    pub sref: u64,
    /// Its labels.
    pub labels: Labels,
}

/// One sample of one series.
#[derive(Clone, Copy, Debug)]
pub struct SampleRecord {
    /// Series reference (defined by an earlier series record).
    pub sref: u64,
    /// Timestamp, ms.
    pub t: i64,
    /// Value (bit-exact, stale markers included).
    pub v: f64,
}

/// A WAL record.
#[derive(Clone, Debug)]
pub enum Record {
    /// Series definitions.
    Series(Vec<SeriesRecord>),
    /// Samples.
    Samples(Vec<SampleRecord>),
}

/// When the WAL is fsynced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncPolicy {
    /// Every `sync_to` waits for an fsync covering its write (group commit).
    Always,
    /// A background thread fsyncs at this interval; `sync_to` returns at once.
    Interval(Duration),
}

/// WAL settings.
#[derive(Clone, Debug)]
pub struct WalOptions {
    /// Segment size in bytes before a new segment is started.
    pub segment_size: u64,
    /// fsync policy.
    pub sync: SyncPolicy,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            segment_size: 128 << 20,
            sync: SyncPolicy::Interval(Duration::from_millis(100)),
        }
    }
}

/// Where a write ended; pass to [`Wal::sync_to`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct WalPosition {
    /// Segment number.
    pub segment: u64,
    /// Byte offset just past the write.
    pub offset: u64,
}

/// What replay found.
#[derive(Clone, Debug, Default)]
pub struct ReplayReport {
    /// Good records replayed.
    pub records: u64,
    /// Segments read.
    pub segments: u64,
    /// Bytes cut off a torn or corrupt tail (0 if none).
    pub truncated_bytes: u64,
    /// Description of the damage found, if any.
    pub damage: Option<String>,
}

/// The write-ahead log of one data directory.
pub struct Wal {}

impl Wal {
    /// Opens (creating if needed) the WAL in `dir`, replaying every good record into
    /// `on_record` in write order, and truncating a torn or corrupt tail.
    pub fn open(
        _dir: &Path,
        _opts: WalOptions,
        _on_record: impl FnMut(Record),
    ) -> Result<(Wal, ReplayReport)> {
        todo!()
    }
    /// Writes records (in order) to the OS. Thread-safe; records of one call stay together.
    pub fn write(&self, _records: &[Record]) -> Result<WalPosition> {
        todo!()
    }
    /// Returns once `pos` is durable as the sync policy requires.
    pub fn sync_to(&self, _pos: WalPosition) -> Result<()> {
        todo!()
    }
    /// Flushes, fsyncs and stops the background syncer.
    pub fn close(&self) -> Result<()> {
        todo!()
    }
}

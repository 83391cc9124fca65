//! Strata's storage engine: labels and matchers, Gorilla chunks, the in-memory head with its
//! inverted index, the write-ahead log, and the embedded [`Db`].
//!
//! The engine knows nothing of PromQL or HTTP. Times are `i64` milliseconds since the Unix
//! epoch; values are `f64` stored bit-exactly (NaN payloads and the stale marker survive).
#![deny(unsafe_code)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs)]

pub mod block;
pub mod chunk;
pub mod compact;
mod db;
mod encoding;
pub mod error;
pub mod head;
pub mod index;
pub mod labels;
pub mod matcher;
pub mod mmap;
pub mod owned_bytes;
pub mod querier;
pub mod wal;

pub use db::{
    compaction_ranges, AppendReport, Batch, Db, EngineCounters, Options, RejectReason,
    ReplayProgress, Stats, DEFAULT_BLOCK_RANGE_MS, DEFAULT_COMPACTION_CHUNK_SAMPLES,
    DEFAULT_RETENTION_MS,
};
pub use db::{DeleteReport, MaintainReport};
pub use error::{Error, Result};
pub use head::SeriesHandle;
pub use labels::{KeyHasher, Label, Labels, Sym, METRIC_NAME};
pub use matcher::{MatchOp, Matcher};
pub use querier::{Querier, Series, SeriesChunk, SeriesIter};

/// The bit pattern of Prometheus's staleness marker (a NaN).
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// The staleness marker as an `f64`.
pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// True if `v` is the staleness marker (exact bit comparison, not `is_nan`).
pub fn is_stale(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// One sample: a millisecond timestamp and a float value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// Milliseconds since the Unix epoch.
    pub t: i64,
    /// The value.
    pub v: f64,
}

impl Sample {
    /// Builds a sample.
    pub const fn new(t: i64, v: f64) -> Sample {
        Sample { t, v }
    }
}

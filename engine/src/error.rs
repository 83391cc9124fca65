//! The engine's error type. Context (paths, segment and offset, series labels) lives inside
//! the variant so that callers can both report and match on it.

use std::path::PathBuf;

/// Result alias for the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything the engine can fail with. Both `Display` and `Debug` print a readable
/// sentence (an embedding program's `main` returning `Result` prints `Debug`).
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O error on a named file or directory.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done ("open", "write", "fsync", ...).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Another process (or another `Db` in this one) holds the data directory.
    #[error("data directory {path} is locked by another Strata process (lock file {lock})")]
    Locked {
        /// The data directory.
        path: PathBuf,
        /// The lock file.
        lock: PathBuf,
    },
    /// A label set or label name/value failed validation.
    #[error("invalid labels: {0}")]
    InvalidLabels(String),
    /// A new series was refused: the head holds `limit` series (`Options::max_series`).
    #[error("series limit of {limit} reached: new series {labels} refused")]
    SeriesLimit {
        /// The limit.
        limit: u64,
        /// The refused series.
        labels: String,
    },
    /// A matcher could not be built (bad regex).
    #[error("invalid matcher: {0}")]
    InvalidMatcher(String),
    /// Bytes that should hold a chunk do not.
    #[error("corrupt chunk: {0}")]
    CorruptChunk(String),
    /// A WAL record failed its checksum or could not be decoded.
    #[error("corrupt WAL record in segment {segment} at offset {offset}: {reason}")]
    CorruptWal {
        /// Segment number.
        segment: u64,
        /// Byte offset of the bad record inside the segment.
        offset: u64,
        /// What was wrong.
        reason: String,
    },
    /// A block (or one of its files) failed a check: bad magic or version, a checksum
    /// mismatch, an entry that does not decode.
    #[error("corrupt block data in {path}: {section}: {reason}")]
    CorruptBlock {
        /// The block directory or file.
        path: PathBuf,
        /// Which part: "meta", "index", "symbols", "series", "postings", "chunks", ...
        section: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// A file was written by a format version this build cannot read. Nothing is repaired
    /// or deleted: upgrade Strata or move the file away.
    #[error("{path} has format version {found}, but this build reads only version {supported}; refusing to touch it")]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// Version found.
        found: u32,
        /// Version this build reads.
        supported: u32,
    },
    /// The data directory does not exist (read-only opening never creates one).
    #[error("data directory {0} does not exist")]
    NotFound(PathBuf),
    /// A write was attempted on a database opened read-only.
    #[error("the database is open read-only")]
    ReadOnly,
    /// An argument was invalid (e.g. a snapshot name with a path separator).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The database was closed.
    #[error("database is closed")]
    Closed,
}

impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl Error {
    /// Builds an [`Error::CorruptBlock`].
    pub fn corrupt_block(path: impl Into<PathBuf>, section: &'static str, reason: String) -> Self {
        Error::CorruptBlock {
            path: path.into(),
            section,
            reason,
        }
    }

    /// Builds an [`Error::Io`].
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

//! The engine's error type. Context (paths, segment and offset, series labels) lives inside
//! the variant so that callers can both report and match on it.

use std::path::PathBuf;

/// Result alias for the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything the engine can fail with.
#[derive(Debug, thiserror::Error)]
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
    /// The database was closed.
    #[error("database is closed")]
    Closed,
}

impl Error {
    /// Builds an [`Error::Io`].
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

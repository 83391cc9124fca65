//! The query crate's error type.

/// Result alias for the query crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Query failures, each mapping to a Prometheus error type.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The query text does not parse or type-check. `pos` is the byte offset (start, end).
    #[error("{msg}")]
    Parse {
        /// Byte range of the problem in the query text.
        pos: (usize, usize),
        /// Prometheus-style message, e.g. `1:5: parse error: unexpected ...`.
        msg: String,
    },
    /// Evaluation failed (Prometheus `execution`, HTTP 422).
    #[error("{0}")]
    Execution(String),
    /// The query hit its timeout (Prometheus `timeout`, HTTP 503).
    #[error("query timed out in {0}")]
    Timeout(&'static str),
    /// Too many samples (Prometheus `execution`, HTTP 422).
    #[error("query processing would load too many samples into memory in {0}")]
    TooManySamples(&'static str),
    /// Too many concurrent queries.
    #[error("too many concurrent queries")]
    Overloaded,
    /// Storage failure.
    #[error("storage: {0}")]
    Storage(#[from] strata_engine::Error),
}

impl Error {
    /// Prometheus's `errorType` for this error.
    pub fn error_type(&self) -> &'static str {
        match self {
            Error::Parse { .. } => "bad_data",
            Error::Execution(_) | Error::TooManySamples(_) => "execution",
            Error::Timeout(_) => "timeout",
            Error::Overloaded => "unavailable",
            Error::Storage(_) => "internal",
        }
    }
}

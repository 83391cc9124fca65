//! The query crate's error type, and the [`ErrorKind`] a caller maps to a response.
//!
//! Invariant: every [`Error`] has exactly one [`ErrorKind`] ([`Error::kind`]); a server maps
//! kinds (never messages) to HTTP statuses, and Prometheus's `errorType` string is derived
//! from the kind ([`ErrorKind::error_type`]).

/// Result alias for the query crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What kind of failure a query error is: the one thing a server needs to pick a status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The query text or a parameter is wrong (Prometheus `bad_data`, HTTP 400).
    BadData,
    /// Evaluation failed on valid input, including the sample limit (`execution`, 422).
    Execution,
    /// The query ran out of time (`timeout`, 503).
    Timeout,
    /// The caller went away or cancelled the query (`canceled`, 499).
    Canceled,
    /// The engine cannot take the query now (`unavailable`, 503).
    Unavailable,
    /// Storage or another internal failure (`internal`, 500).
    Internal,
}

impl ErrorKind {
    /// Prometheus's `errorType` for this kind.
    pub fn error_type(self) -> &'static str {
        match self {
            ErrorKind::BadData => "bad_data",
            ErrorKind::Execution => "execution",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Canceled => "canceled",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Internal => "internal",
        }
    }
}

/// Query failures, each of one [`ErrorKind`].
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
    /// The query hit its timeout (Prometheus `timeout`, HTTP 503); the text names the phase.
    #[error("query timed out in {0}")]
    Timeout(&'static str),
    /// The query was cancelled (its client went away); the text names the phase.
    #[error("query was canceled in {0}")]
    Canceled(&'static str),
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
    /// The kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Parse { .. } => ErrorKind::BadData,
            Error::Execution(_) | Error::TooManySamples(_) => ErrorKind::Execution,
            Error::Timeout(_) => ErrorKind::Timeout,
            Error::Canceled(_) => ErrorKind::Canceled,
            Error::Overloaded => ErrorKind::Unavailable,
            Error::Storage(_) => ErrorKind::Internal,
        }
    }

    /// Prometheus's `errorType` for this error.
    pub fn error_type(&self) -> &'static str {
        self.kind().error_type()
    }
}

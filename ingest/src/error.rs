//! The ingest error type. Each variant maps to one HTTP status through [`Error::status`], so
//! the server never has to guess whether a failure is the sender's fault (4xx, not retried) or
//! ours (5xx, retried).

/// Result alias for the ingest crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that makes a whole request unusable. Problems with single series or samples do
/// not produce an `Error`: they are reported in the write or import summary while the rest of
/// the request is stored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `Content-Type`, its `proto=` parameter or `Content-Encoding` is not one we accept.
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    /// The compressed body or its declared decoded size exceeds a limit.
    #[error("{what} is {size} bytes, more than the limit of {limit} bytes")]
    BodyTooLarge {
        /// Which size: "request body" (compressed) or "decoded body".
        what: &'static str,
        /// The size found (or declared by the snappy header).
        size: u64,
        /// The configured limit.
        limit: u64,
    },
    /// The body is not a valid snappy block (framed snappy is refused here too).
    #[error("snappy: {0}")]
    Snappy(String),
    /// The decompressed body is not a valid protobuf message of the negotiated type.
    #[error("protobuf: {0}")]
    Protobuf(String),
    /// A text-format line could not be parsed; `line` is 1-based.
    #[error("line {line}: {msg}")]
    Text {
        /// 1-based line number of the offending line.
        line: usize,
        /// What is wrong with it.
        msg: String,
    },
    /// The storage engine failed while appending.
    #[error("storage: {0}")]
    Storage(#[from] strata_engine::Error),
}

impl Error {
    /// The HTTP status a server should answer with: 415 for media types, 413 for sizes, 400
    /// for undecodable input, 500 for storage failures (the sender retries those).
    pub fn status(&self) -> u16 {
        match self {
            Error::UnsupportedMediaType(_) => 415,
            Error::BodyTooLarge { .. } => 413,
            Error::Snappy(_) | Error::Protobuf(_) | Error::Text { .. } => 400,
            Error::Storage(strata_engine::Error::InvalidLabels(_)) => 400,
            Error::Storage(_) => 500,
        }
    }
}

//! The server's error type, and the one place where an error becomes an HTTP status.
//!
//! Every handler returns [`Result`]; [`Error::status`] and [`Error::error_type`] decide the
//! HTTP status and Prometheus `errorType`, so the mapping lives in one function per question
//! rather than being spread over handlers. Query-crate and ingest-crate errors are wrapped and
//! mapped here too.

use std::path::PathBuf;

use hyper::StatusCode;
use strata_query::ErrorKind as QueryErrorKind;

/// Result alias for the server.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything a request or the server itself can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A bad or missing request parameter (Prometheus `bad_data`, 400).
    #[error("{0}")]
    BadData(String),
    /// The request body is larger than the configured bound (413).
    #[error("request body too large: more than {limit} bytes")]
    BodyTooLarge {
        /// The bound in bytes.
        limit: u64,
    },
    /// The request body could not be read (client went away, bad chunking): 400.
    #[error("reading request body: {0}")]
    BodyRead(String),
    /// The request body did not arrive in time (408).
    #[error("request body not received within {0:?}")]
    BodyTimeout(std::time::Duration),
    /// Missing or wrong credentials (401).
    #[error("unauthorized")]
    Unauthorized,
    /// No route for this path (404).
    #[error("not found")]
    NotFound,
    /// The route exists but not for this method (405).
    #[error("method not allowed")]
    MethodNotAllowed,
    /// Too many requests of this kind are in flight; the client should retry (503).
    #[error("server overloaded: {0}, retry later")]
    Overloaded(&'static str),
    /// The server is shutting down (503).
    #[error("server is shutting down")]
    ShuttingDown,
    /// The server is still opening its data directory (503).
    #[error("Strata is starting: {0}")]
    Starting(String),
    /// The WAL failed and is being recovered; writes are refused meanwhile (503).
    #[error("Strata cannot write its WAL (recovery is retried): {0}")]
    WalFailed(String),
    /// An admin endpoint was called without `--enable-admin-api` (403).
    #[error("admin APIs disabled; start strata with --enable-admin-api to use them")]
    AdminDisabled,
    /// A query failed (status from the query error's type).
    #[error(transparent)]
    Query(#[from] strata_query::Error),
    /// Ingestion failed as a whole (status from the ingest error).
    #[error(transparent)]
    Ingest(#[from] strata_ingest::Error),
    /// A storage error (500).
    #[error(transparent)]
    Engine(#[from] strata_engine::Error),
    /// Rule files could not be loaded (startup or reload: 500).
    #[error(transparent)]
    Rules(#[from] strata_rules::Error),
    /// A bug-free but unexpected internal failure, e.g. a worker task that panicked (500).
    #[error("internal error: {0}")]
    Internal(String),
    /// Bad command-line flags or configuration file (startup only).
    #[error("configuration: {0}")]
    Config(String),
    /// An I/O error at startup (binding the listener, reading the config file).
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or address.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// The HTTP status for this error. This is the only mapping from errors to statuses in
    /// Strata.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::BadData(_) | Error::BodyRead(_) => StatusCode::BAD_REQUEST,
            Error::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Error::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Error::Unauthorized => StatusCode::UNAUTHORIZED,
            Error::NotFound => StatusCode::NOT_FOUND,
            Error::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Error::Overloaded(_)
            | Error::ShuttingDown
            | Error::Starting(_)
            | Error::WalFailed(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::AdminDisabled => StatusCode::FORBIDDEN,
            Error::Query(e) => match e.kind() {
                QueryErrorKind::BadData => StatusCode::BAD_REQUEST,
                QueryErrorKind::Execution => StatusCode::UNPROCESSABLE_ENTITY,
                QueryErrorKind::Timeout | QueryErrorKind::Unavailable => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
                // nginx's "client closed request"; the client is gone and never sees it.
                QueryErrorKind::Canceled => {
                    StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST)
                }
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            },
            Error::Ingest(e) => {
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
            Error::Engine(e) => match e {
                strata_engine::Error::InvalidLabels(_)
                | strata_engine::Error::InvalidMatcher(_) => StatusCode::BAD_REQUEST,
                strata_engine::Error::Closed => StatusCode::SERVICE_UNAVAILABLE,
                strata_engine::Error::InvalidArgument(_) => StatusCode::BAD_REQUEST,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            },
            Error::Internal(_) | Error::Config(_) | Error::Io { .. } | Error::Rules(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// Prometheus's `errorType` for the JSON envelope.
    pub fn error_type(&self) -> &'static str {
        match self {
            Error::Query(e) => e.error_type(),
            _ => match self.status().as_u16() {
                400 | 408 | 413 | 415 => "bad_data",
                404 => "not_found",
                422 => "execution",
                403 | 503 => "unavailable",
                _ => "internal",
            },
        }
    }

    /// Seconds a client should wait before retrying, for errors that invite a retry.
    pub fn retry_after(&self) -> Option<u32> {
        match self {
            Error::Overloaded(_) | Error::ShuttingDown | Error::Starting(_) => Some(1),
            Error::WalFailed(_) => Some(5),
            _ => None,
        }
    }

    /// Builds an [`Error::Io`].
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

//! Strata ingestion: Prometheus remote-write 1.0/2.0 and text-format import.
//!
//! Untrusted bytes enter Strata here. The pipeline for a remote-write request is
//! [`negotiate`] (headers -> [`Protocol`]), then [`write()`]: size checks before any allocation,
//! snappy block decode, a hand-written protobuf decode that borrows label strings from the
//! decompressed buffer, validation, and one [`strata_engine::Db::append`] of the whole batch.
//! [`import_text`] does the same for the Prometheus text exposition format.
//!
//! Invariants:
//! - Bad input is an [`Error`] or a problem in a summary, never a panic.
//! - Sizes are checked against [`Limits`] before the matching allocation: the snappy header's
//!   declared length before decompressing, the label count before collecting labels.
//! - A request that cannot be decoded as a whole (snappy or protobuf error) stores nothing. A
//!   request that decodes but holds invalid series stores every valid series and reports the
//!   rest (a *partial write*; the server answers 400 so the sender does not retry).
//! - Values are stored bit-exactly: NaN payloads and the staleness marker survive.
//! - Samples of one series keep the order they had in the request.
//!
//! Where Strata differs from Prometheus's own receiver (reference remote-write.md section 6),
//! deliberately:
//! - v1 series with invalid labels are reported (400) instead of silently skipped, as the
//!   spec asks; out-of-order and duplicate-timestamp samples reject only themselves instead
//!   of rolling back the whole v1 request (the v2 behaviour, for both versions).
//! - Native histograms are rejected with a reason; the float samples of the same request are
//!   stored.
//! - Exemplars are validated and counted but not stored yet; metric metadata is returned in
//!   the summaries for the server to keep.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod encode;
mod error;
mod limits;
mod metadata;
mod negotiate;
mod proto;
mod remote_write;
mod summary;
mod text;
mod validate;

pub use error::{Error, Result};
pub use limits::Limits;
pub use metadata::{MetricMetadata, MetricType, MAX_METADATA};
pub use negotiate::{negotiate, Protocol};
pub use remote_write::{decode, write, DecodedWrite};
pub use summary::{ImportSummary, WriteSummary};
pub use text::{import_text, parse_text, ParsedText};

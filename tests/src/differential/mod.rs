//! Differential PromQL test: the same generated data goes into a real Prometheus 2.42 and
//! into Strata by remote-write 1.0, the same queries run on both, and the answers must agree
//! (same series, values within 1e-9 relative, NaN equal to NaN).
//!
//! - [`generate`]: the seeded canary-fleet data set (jittered timestamps, never on a whole
//!   second, so 2.x's closed and 3.x's left-open windows select the same samples);
//! - [`http`]: a tiny blocking HTTP/1.1 client;
//! - [`compare`]: API responses and their comparison;
//! - [`queries`]: the query-list format;
//! - [`run`]: the run itself, used by the `strata-differential` binary and
//!   `tests/e2e/differential.sh`.

pub mod compare;
pub mod generate;
pub mod http;
pub mod queries;
pub mod run;

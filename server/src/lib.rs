//! Strata's HTTP server: Prometheus's HTTP API (remote-write in, PromQL out) over hyper 1.x on
//! tokio, the YAML configuration, the command line, and Strata's own `/metrics`.
//!
//! Layout:
//! - [`cli`] parses the `strata` command line; [`config`] holds defaults and the YAML file;
//! - [`serve`] binds, accepts and shuts down gracefully; [`router`] dispatches requests and
//!   holds the shared [`router::State`];
//! - `api_write`, `api_query` and `api_meta` are the handlers; [`params`] parses Prometheus's
//!   parameter syntaxes and [`json`] writes its JSON shapes;
//! - [`rules`] runs the rule manager, reloads it and answers `/api/v1/rules`;
//! - [`auth`] checks optional bearer/basic credentials; [`metrics`] renders `/metrics`;
//! - [`error`] is the one place where an error becomes an HTTP status.
//!
//! Invariants: CPU-bound work (decoding, appending, evaluating) runs on the blocking pool;
//! request bodies are bounded before they are buffered; bad input is a 4xx with the reason,
//! never a panic.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod api_admin;
mod api_meta;
mod api_query;
mod api_write;
pub mod auth;
pub mod body;
pub mod cli;
pub mod config;
pub mod error;
pub mod json;
pub mod metadata;
pub mod metrics;
pub mod params;
pub mod router;
pub mod rules;
pub mod serve;
pub mod status;
pub mod tls;
pub mod write_pool;

pub use api_meta::PROMETHEUS_COMPAT_VERSION;
pub use config::Config;
pub use error::{Error, Result};
pub use serve::Server;

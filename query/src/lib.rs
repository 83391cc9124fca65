//! Strata's PromQL: parser, evaluator and the embedded [`Engine`] API. (In progress.)
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cancel;
pub mod engine;
pub mod error;
pub mod eval;
pub mod functions;
pub mod parser;
pub mod result_cache;

pub use cancel::{Cancel, CancelOnDrop, Stop};
pub use engine::{
    Engine, EngineOptions, InstantSample, QueryOptions, QueryResult, QueryStats, RangeSeries, Value,
};
pub use error::{Error, ErrorKind, Result};
pub use result_cache::CacheStats;

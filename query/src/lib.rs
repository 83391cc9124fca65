//! Strata's PromQL: parser, evaluator and the embedded [`Engine`] API. (In progress.)
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod parser;

//! PromQL parsing. (In progress.)

pub mod ast;

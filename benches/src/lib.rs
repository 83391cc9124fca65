//! Strata benchmark support: workload generators, the load generator, shared CLI parsing.

pub mod cli;
pub mod disk_analysis;
pub mod loadgen;
pub mod series_gen;

//! Strata benchmark support: workload generators. (In progress.)

pub mod loadgen;
pub mod series_gen;

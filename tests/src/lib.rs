//! Helpers for Strata integration tests. (In progress.)

pub mod differential;
pub mod promqltest;
pub mod server_harness;

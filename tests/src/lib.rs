//! Helpers for Strata integration tests. (In progress.)

pub mod differential;
pub mod promqltest;
pub mod rules_e2e;
pub mod server_harness;

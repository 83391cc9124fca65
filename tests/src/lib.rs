//! Helpers for Strata integration tests. (In progress.)

//! Strata HTTP server. (In progress.)

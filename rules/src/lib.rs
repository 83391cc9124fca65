//! Strata's rules: Prometheus rule files, group evaluation, alert state, notifications to
//! Alertmanager, SLO specs, and incremental evaluation of long range windows.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod window;

//! Strata's rules: Prometheus rule files, group evaluation, alert state, notifications to
//! Alertmanager, SLO specs, and incremental evaluation of long range windows.
//!
//! Rule files and evaluation:
//! - [`file`] loads rule files (plain and `PrometheusRule`) into checked specs, with
//!   positions for every error; [`duration`] reads Prometheus durations;
//! - [`schedule`] says when a group evaluates (Prometheus's slots), [`runner`] runs a group
//!   on them, [`group`] evaluates a group at one timestamp and [`recording`] turns a query
//!   result into recorded series; [`incremental`] evaluates a rule whose expression has
//!   long windows through the incremental windows of [`window`];
//! - [`manager`] holds the running groups and applies reloads; [`metrics`] and [`api`]
//!   render what `/metrics` and `/api/v1/rules` show.
//!
//! SLOs: [`slo`] loads Sloth `prometheus/v1` and Strata `strata/v1` specs, generates their
//! rules (run like any rule group) and reports their status.
//!
//! Alerting: [`alert`] (state machine, `ALERTS`/`ALERTS_FOR_STATE`, restore, alert JSON),
//! [`template`] (Go text/template subset and Prometheus's template functions) and
//! [`notifier`] (Alertmanager v2 client).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod alert;
pub mod api;
pub mod duration;
pub mod error;
pub mod file;
pub mod group;
pub mod incremental;
pub mod manager;
pub mod metrics;
pub mod notifier;
pub mod recording;
pub mod runner;
pub mod schedule;
pub mod slo;
pub mod template;
pub mod window;

pub use error::{Error, Result};
pub use manager::{Manager, ManagerOptions};

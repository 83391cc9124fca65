//! The rules crate's error type.

use crate::template::TemplateError;

/// Result alias for the rules crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything the alerting side of the rules crate can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A label or annotation template of an alerting rule does not parse.
    #[error("alerting rule {rule:?}: {what} {key:?}: {source}")]
    Template {
        /// The rule (alert name).
        rule: String,
        /// `"label"` or `"annotation"`.
        what: &'static str,
        /// The label or annotation name.
        key: String,
        /// The parse error, with its position.
        source: Box<TemplateError>,
    },
    /// The rule's labels do not form a label set (an empty or repeated name).
    #[error("alerting rule {rule:?}: invalid labels: {reason}")]
    InvalidRuleLabels {
        /// The rule (alert name).
        rule: String,
        /// What is wrong.
        reason: String,
    },
    /// Two result samples gave the same alert labels (Prometheus's wording).
    #[error("vector contains metrics with the same labelset after applying alert labels")]
    DuplicateAlertLabelSet,
    /// More pending and firing alerts than the group's `limit`.
    #[error("exceeded limit of {limit} with {alerts} alerts")]
    AlertLimit {
        /// The configured limit.
        limit: usize,
        /// Alerts the evaluation produced.
        alerts: usize,
    },
    /// Reading `ALERTS_FOR_STATE` back from storage failed.
    #[error("restoring 'for' state of alert {rule:?}: {source}")]
    Restore {
        /// The rule (alert name).
        rule: String,
        /// What the storage said.
        source: strata_engine::Error,
    },
    /// An Alertmanager URL is not an `http://host[:port][/path]` URL.
    #[error("invalid Alertmanager URL {url:?}: {reason}")]
    AlertmanagerUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The notifier's sender thread could not be started.
    #[error("starting the notifier for {url}: {source}")]
    NotifierStart {
        /// The Alertmanager URL.
        url: String,
        /// The OS error.
        source: std::io::Error,
    },
}

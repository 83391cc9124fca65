//! The rules crate's error type.
//!
//! Loading errors carry every problem found in a set of rule files ([`Error::Invalid`]), each
//! with its file, group, rule and position, so that `strata check rules` and a failed reload
//! can report all of them at once. Evaluation errors of one rule are [`Error::Eval`]; they
//! mark that rule unhealthy and never stop the group. The alerting variants come from the
//! alert state machine, its templates and the notifier.

use std::path::PathBuf;

use crate::file::Diagnostic;
use crate::template::TemplateError;

/// Result alias for the rules crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything loading or evaluating rules can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A rule file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// One or more rule files are invalid; every problem found is listed.
    #[error("{}", join(.0))]
    Invalid(Vec<Diagnostic>),
    /// A rule file pattern is malformed or names a file that does not exist.
    #[error("rule files {pattern:?}: {msg}")]
    Pattern {
        /// The pattern as given.
        pattern: String,
        /// What is wrong with it.
        msg: String,
    },
    /// A rule's query failed.
    #[error(transparent)]
    Query(#[from] strata_query::Error),
    /// Appending a rule's output failed.
    #[error(transparent)]
    Storage(#[from] strata_engine::Error),
    /// A rule's result cannot be recorded (wrong type, duplicate series, over its limit).
    #[error("{0}")]
    Eval(String),
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

fn join(d: &[Diagnostic]) -> String {
    d.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

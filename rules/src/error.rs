//! The rules crate's error type.
//!
//! Loading errors carry every problem found in a set of rule files ([`Error::Invalid`]), each
//! with its file, group, rule and position, so that `strata check rules` and a failed reload
//! can report all of them at once. Evaluation errors of one rule are [`Error::Eval`]; they
//! mark that rule unhealthy and never stop the group.

use std::path::PathBuf;

use crate::file::Diagnostic;

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
}

fn join(d: &[Diagnostic]) -> String {
    d.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

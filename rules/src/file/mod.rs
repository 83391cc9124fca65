//! Rule files: Prometheus's rule-file format and the same groups wrapped in a Kubernetes
//! `PrometheusRule` object, loaded into checked, parsed [`RuleFile`]s.
//!
//! - [`yaml`] reads the YAML (strict: unknown keys and duplicate keys are errors; a file
//!   may hold several documents, each a plain rule file or a `PrometheusRule`);
//! - [`validate`] applies Prometheus's validation rules and parses every expression with
//!   strata-query's parser;
//! - [`position`] maps positions inside an expression back to the file;
//! - [`glob`] expands `--rules` and `rule_files:` patterns.
//!
//! Invariants of a loaded [`RuleFile`]: group names are non-empty and unique within the file;
//! every rule is exactly one of recording or alerting, has a parsed expression, valid label
//! names, and for recording rules a valid metric name and no alerting-only fields. Every
//! problem found becomes a [`Diagnostic`] with file, group, rule and position; loading
//! reports all of them, not just the first.

pub mod glob;
pub mod position;
pub mod validate;
pub(crate) mod yaml;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use strata_query::parser::ast::Expr;

use crate::error::{Error, Result};
pub use position::Pos;

/// A loaded, valid rule file.
#[derive(Clone, Debug)]
pub struct RuleFile {
    /// The file's path as given (groups are identified by path and name).
    pub path: String,
    /// Groups in file order (documents in order).
    pub groups: Vec<GroupSpec>,
}

/// A group as the file defines it.
#[derive(Clone, Debug)]
pub struct GroupSpec {
    /// Group name, unique within the file.
    pub name: String,
    /// `interval`, ms; `None` means the global evaluation interval.
    pub interval: Option<i64>,
    /// `limit` (0 or less: none).
    pub limit: i64,
    /// `query_offset`, ms; `None` means the global default (0).
    pub query_offset: Option<i64>,
    /// Group labels, added to every rule's output (rule labels win).
    pub labels: BTreeMap<String, String>,
    /// Rules in file order.
    pub rules: Vec<RuleSpec>,
    /// Where the group starts in the file.
    pub pos: Pos,
}

/// What kind of rule, with the fields only alerting rules have.
#[derive(Clone, Debug, PartialEq)]
pub enum RuleKind {
    /// `record:`.
    Recording,
    /// `alert:`.
    Alerting {
        /// `for`, ms.
        for_ms: i64,
        /// `keep_firing_for`, ms.
        keep_firing_for_ms: i64,
        /// Annotations (templates, unexpanded).
        annotations: BTreeMap<String, String>,
    },
}

/// A rule as the file defines it.
#[derive(Clone, Debug)]
pub struct RuleSpec {
    /// The `record` metric name or the `alert` name.
    pub name: String,
    /// Recording or alerting.
    pub kind: RuleKind,
    /// The expression as written.
    pub expr_text: String,
    /// The parsed expression.
    pub expr: Expr,
    /// The rule's own labels (group labels are not merged in here).
    pub labels: BTreeMap<String, String>,
    /// Where the rule starts in the file.
    pub pos: Pos,
}

impl RuleSpec {
    /// True for alerting rules.
    pub fn is_alerting(&self) -> bool {
        matches!(self.kind, RuleKind::Alerting { .. })
    }
}

impl GroupSpec {
    /// Labels of rule `i` as Prometheus applies them: group labels, then rule labels over
    /// them.
    pub fn rule_labels(&self, i: usize) -> BTreeMap<String, String> {
        let mut l = self.labels.clone();
        if let Some(r) = self.rules.get(i) {
            l.extend(r.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        l
    }
}

/// One problem in a rule file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file.
    pub file: String,
    /// Position in the file, when known.
    pub pos: Option<Pos>,
    /// The group, when the problem is inside one.
    pub group: Option<String>,
    /// The rule's 1-based index in its group and its name, when inside a rule.
    pub rule: Option<(usize, String)>,
    /// For expression errors, the position inside the expression.
    pub expr_pos: Option<Pos>,
    /// What is wrong, in Prometheus's words where it has them.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.file)?;
        if let Some(p) = self.pos {
            write!(f, "{p}:")?;
        }
        if let Some(g) = &self.group {
            write!(f, " group {g:?},")?;
            if let Some((i, name)) = &self.rule {
                write!(f, " rule {i}, {name:?},")?;
            }
        }
        write!(f, " {}", self.message)
    }
}

/// Parses rule-file text; `path` names the file in diagnostics and identifies its groups.
pub fn parse(path: &str, text: &str) -> std::result::Result<RuleFile, Vec<Diagnostic>> {
    validate::file(path, text)
}

/// Reads and parses one file.
pub fn load(path: &Path) -> Result<RuleFile> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&path.to_string_lossy(), &text).map_err(Error::Invalid)
}

/// Reads and parses every file, reporting the problems of all of them together. A file
/// listed twice is loaded once.
pub fn load_all(paths: &[impl AsRef<Path>]) -> Result<Vec<RuleFile>> {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for p in paths {
        let p = p.as_ref();
        if !seen.insert(p.to_path_buf()) {
            continue;
        }
        match load(p) {
            Ok(f) => files.push(f),
            Err(Error::Invalid(d)) => problems.extend(d),
            Err(e) => problems.push(Diagnostic {
                file: p.to_string_lossy().into_owned(),
                pos: None,
                group: None,
                rule: None,
                expr_pos: None,
                message: match e {
                    Error::Io { source, .. } => source.to_string(),
                    other => other.to_string(),
                },
            }),
        }
    }
    if problems.is_empty() {
        Ok(files)
    } else {
        Err(Error::Invalid(problems))
    }
}

#[cfg(test)]
mod tests;

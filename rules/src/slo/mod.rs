//! SLOs: specs in Sloth's `prometheus/v1` format or Strata's `strata/v1`, the Prometheus
//! rules they generate, and the status `/api/v1/slos` reports.
//!
//! - [`yaml`] reads spec files (several documents allowed), [`spec`] checks them into
//!   [`Slo`]s, [`windows`] holds the periods and their alert tables;
//! - [`generate`] writes an SLO's rules as a rule file, which [`parse`] loads back with
//!   [`crate::file::parse`]: what `strata slo generate` prints is exactly what runs;
//! - [`status`] reads the recorded series back for `/api/v1/slos`.
//!
//! `strata/v1`, Strata's own format:
//!
//! ```yaml
//! version: strata/v1
//! service: checkout
//! labels: {team: payments}            # optional, on every generated series
//! slos:
//!   - name: availability
//!     objective: 99.9                 # percent
//!     period: 30d                     # 7d, 28d or 30d (default 30d)
//!     errors: http_requests_total{job="checkout",code=~"5.."}   # or good: ...
//!     total: http_requests_total{job="checkout"}
//!     by: [route]                     # optional: one ratio per route
//!     alerts:                         # optional
//!       name: CheckoutAvailabilityBurn
//!       labels: {team: payments}
//!       page: {labels: {severity: page}, for: 2m}
//!       ticket: {disable: true}
//! ```
//!
//! Invariants of a loaded [`SloFile`]: every SLO id (`<service>-<name>`) is unique within
//! the file, and `rules` holds exactly one group per SLO, named [`Slo::group_name`], in the
//! file's order.

pub mod generate;
pub mod spec;
pub mod status;
pub mod windows;
pub(crate) mod yaml;

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

pub use spec::{Format, Sli, Slo, SloAlert};
pub use windows::Period;

use crate::error::{Error, Result};
use crate::file::{self, Diagnostic, Pos, RuleFile};

/// A loaded SLO file: its SLOs and the rules that evaluate them.
#[derive(Clone, Debug)]
pub struct SloFile {
    /// The file's path as given (its groups are identified by it).
    pub path: String,
    /// The SLOs, in file order.
    pub slos: Vec<Arc<Slo>>,
    /// The generated rule file, as YAML.
    pub generated: String,
    /// The generated rules, parsed.
    pub rules: RuleFile,
}

/// Parses spec text; `path` names the file in diagnostics and identifies its groups.
pub fn parse(path: &str, text: &str) -> std::result::Result<SloFile, Vec<Diagnostic>> {
    let docs = yaml::documents(text).map_err(|(msg, line, col)| {
        vec![Diagnostic {
            file: path.to_string(),
            pos: (line > 0).then_some(Pos { line, col }),
            group: None,
            rule: None,
            expr_pos: None,
            message: msg,
        }]
    })?;
    let mut c = spec::Checker {
        path,
        problems: Vec::new(),
    };
    let mut ids = HashSet::new();
    let mut slos = Vec::new();
    for doc in docs {
        slos.extend(spec::document(&mut c, doc, &mut ids));
    }
    if slos.is_empty() && c.problems.is_empty() {
        c.problems.push(Diagnostic {
            file: path.to_string(),
            pos: None,
            group: None,
            rule: None,
            expr_pos: None,
            message: "no SLO spec in the file".into(),
        });
    }
    if !c.problems.is_empty() {
        return Err(c.problems);
    }
    let refs: Vec<&Slo> = slos.iter().collect();
    let generated = generate::rule_file(&refs, path);
    let rules = file::parse(path, &generated).map_err(|problems| {
        // Validation should make this impossible; say where it came from if not.
        problems
            .into_iter()
            .map(|d| Diagnostic {
                pos: None,
                message: format!("generated rules: {}", d.message),
                ..d
            })
            .collect::<Vec<_>>()
    })?;
    Ok(SloFile {
        path: path.to_string(),
        slos: slos.into_iter().map(Arc::new).collect(),
        generated,
        rules,
    })
}

/// Reads and parses one file.
pub fn load(path: &Path) -> Result<SloFile> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&path.to_string_lossy(), &text).map_err(Error::Invalid)
}

/// Reads and parses every file, reporting the problems of all of them together (a file
/// listed twice is loaded once). SLO ids must be unique across the files.
pub fn load_all(paths: &[impl AsRef<Path>]) -> Result<Vec<SloFile>> {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    let mut seen = HashSet::new();
    let mut ids: HashSet<String> = HashSet::new();
    for p in paths {
        let p = p.as_ref();
        if !seen.insert(p.to_path_buf()) {
            continue;
        }
        match load(p) {
            Ok(f) => {
                for s in &f.slos {
                    if !ids.insert(s.id.clone()) {
                        problems.push(Diagnostic {
                            file: f.path.clone(),
                            pos: Some(s.pos),
                            group: None,
                            rule: None,
                            expr_pos: None,
                            message: format!(
                                "slo {:?}: SLO {:?} is also defined in another file",
                                s.name, s.id
                            ),
                        });
                    }
                }
                files.push(f);
            }
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

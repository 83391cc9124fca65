//! Prometheus's rule-file validation, applied to the YAML shapes of [`super::yaml`].
//!
//! Checks and messages follow Prometheus's `rulefmt` (3.x, UTF-8 names): group names
//! non-empty and unique within the file; exactly one of `record` and `alert`; `expr` set
//! and parseable; no `for`, `keep_firing_for` or `annotations` on recording rules; recording
//! names non-empty and without braces; label names non-empty and not `__name__`; annotation
//! names non-empty; alerting rules' label and annotation templates parse; durations in
//! Prometheus's syntax. `PrometheusRule` documents must say
//! `apiVersion: monitoring.coreos.com/v1` and `kind: PrometheusRule`.

use std::collections::{BTreeMap, HashSet};

use serde_saphyr::Spanned;
use strata_engine::METRIC_NAME;

use super::position::{Pos, ScalarSource};
use super::yaml::{self, Document, RawGroup, RawRule};
use super::{Diagnostic, GroupSpec, RuleFile, RuleKind, RuleSpec};
use crate::duration;

/// The API version a `PrometheusRule` must carry.
pub const PROMETHEUS_RULE_API_VERSION: &str = "monitoring.coreos.com/v1";

/// Collects diagnostics for one file.
struct Checker<'a> {
    path: &'a str,
    text: &'a str,
    problems: Vec<Diagnostic>,
}

impl Checker<'_> {
    fn report(
        &mut self,
        pos: Option<Pos>,
        group: Option<&str>,
        rule: Option<(usize, &str)>,
        message: impl Into<String>,
    ) {
        self.problems.push(Diagnostic {
            file: self.path.to_string(),
            pos,
            group: group.map(str::to_string),
            rule: rule.map(|(i, n)| (i, n.to_string())),
            expr_pos: None,
            message: message.into(),
        });
    }

    fn duration(
        &mut self,
        d: &Option<Spanned<String>>,
        group: &str,
        rule: Option<(usize, &str)>,
    ) -> Option<i64> {
        let d = d.as_ref()?;
        match duration::parse(&d.value) {
            Ok(ms) => Some(ms),
            Err(e) => {
                self.report(Some(Pos::of(&d.referenced)), Some(group), rule, e);
                None
            }
        }
    }

    fn label_names(
        &mut self,
        labels: &Option<Spanned<BTreeMap<String, String>>>,
        group: &str,
        rule: Option<(usize, &str)>,
        what: &str,
    ) -> BTreeMap<String, String> {
        let Some(l) = labels else {
            return BTreeMap::new();
        };
        for k in l.value.keys() {
            let bad = k.is_empty() || (what == "label" && k == METRIC_NAME);
            if bad {
                self.report(
                    Some(Pos::of(&l.referenced)),
                    Some(group),
                    rule,
                    format!("invalid {what} name: {k}"),
                );
            }
        }
        l.value.clone()
    }
}

/// Parses and validates a whole file.
pub(crate) fn file(path: &str, text: &str) -> Result<RuleFile, Vec<Diagnostic>> {
    let docs = match yaml::documents(text) {
        Ok(d) => d,
        Err((msg, line, col)) => {
            return Err(vec![Diagnostic {
                file: path.to_string(),
                pos: (line > 0).then_some(Pos { line, col }),
                group: None,
                rule: None,
                expr_pos: None,
                message: msg,
            }])
        }
    };
    let mut c = Checker {
        path,
        text,
        problems: Vec::new(),
    };
    let mut groups = Vec::new();
    let mut names = HashSet::new();
    for doc in docs {
        for (g, crd) in document_groups(&mut c, doc) {
            if let Some(spec) = group(&mut c, g, crd, &mut names) {
                groups.push(spec);
            }
        }
    }
    if c.problems.is_empty() {
        Ok(RuleFile {
            path: path.to_string(),
            groups,
        })
    } else {
        Err(c.problems)
    }
}

/// The groups of one document, each with whether it came from a `PrometheusRule`.
fn document_groups(c: &mut Checker<'_>, doc: Document) -> Vec<(Spanned<RawGroup>, bool)> {
    let crd_keys = doc.api_version.is_some()
        || doc.kind.is_some()
        || doc.metadata.is_some()
        || doc.spec.is_some();
    if let Some(groups) = doc.groups {
        if crd_keys {
            c.report(
                Some(Pos::of(&groups.referenced)),
                None,
                None,
                "a document is either a rule file (groups) or a PrometheusRule object \
                 (apiVersion, kind, metadata, spec), not both",
            );
            return Vec::new();
        }
        return groups.value.into_iter().map(|g| (g, false)).collect();
    }
    if !crd_keys {
        // An empty document, or `{}`: no groups.
        return Vec::new();
    }
    match &doc.api_version {
        Some(v) if v.value == PROMETHEUS_RULE_API_VERSION => {}
        Some(v) => c.report(
            Some(Pos::of(&v.referenced)),
            None,
            None,
            format!(
                "apiVersion {:?} is not supported, expected {PROMETHEUS_RULE_API_VERSION:?}",
                v.value
            ),
        ),
        None => c.report(
            None,
            None,
            None,
            format!("a PrometheusRule object needs apiVersion: {PROMETHEUS_RULE_API_VERSION}"),
        ),
    }
    match &doc.kind {
        Some(k) if k.value == "PrometheusRule" => {}
        Some(k) => c.report(
            Some(Pos::of(&k.referenced)),
            None,
            None,
            format!(
                "kind {:?} is not supported, expected \"PrometheusRule\"",
                k.value
            ),
        ),
        None => c.report(
            None,
            None,
            None,
            "a PrometheusRule object needs kind: PrometheusRule",
        ),
    }
    match doc.spec {
        Some(spec) => spec
            .value
            .groups
            .unwrap_or_default()
            .into_iter()
            .map(|g| (g, true))
            .collect(),
        None => {
            c.report(None, None, None, "a PrometheusRule object needs a spec");
            Vec::new()
        }
    }
}

fn group(
    c: &mut Checker<'_>,
    g: Spanned<RawGroup>,
    crd: bool,
    names: &mut HashSet<String>,
) -> Option<GroupSpec> {
    let gpos = Pos::of(&g.referenced);
    let raw = g.value;
    let name = raw
        .name
        .as_ref()
        .map(|n| n.value.clone())
        .unwrap_or_default();
    let before = c.problems.len();
    if name.is_empty() {
        c.report(Some(gpos), None, None, "Groupname must not be empty");
    } else if !names.insert(name.clone()) {
        c.report(
            Some(gpos),
            None,
            None,
            format!("groupname: {name:?} is repeated in the same file"),
        );
    }
    if let (Some(p), false) = (&raw.partial_response_strategy, crd) {
        c.report(
            Some(Pos::of(&p.referenced)),
            Some(&name),
            None,
            "field partial_response_strategy is only allowed in a PrometheusRule object",
        );
    }
    let interval = c.duration(&raw.interval, &name, None);
    let query_offset = c.duration(&raw.query_offset, &name, None);
    let labels = c.label_names(&raw.labels, &name, None, "label");
    let mut rules = Vec::new();
    for (i, r) in raw.rules.unwrap_or_default().into_iter().enumerate() {
        if let Some(spec) = rule(c, &name, i + 1, r) {
            rules.push(spec);
        }
    }
    if c.problems.len() > before {
        return None;
    }
    Some(GroupSpec {
        name,
        // `interval: 0s` means "the default", as in Prometheus.
        interval: interval.filter(|&ms| ms != 0),
        limit: raw.limit.map_or(0, |l| l.value),
        query_offset,
        labels,
        rules,
        pos: gpos,
    })
}

fn rule(c: &mut Checker<'_>, group: &str, index: usize, r: Spanned<RawRule>) -> Option<RuleSpec> {
    let rpos = Pos::of(&r.referenced);
    let raw = r.value;
    let record = raw.record.as_ref().filter(|s| !s.value.is_empty());
    let alert = raw.alert.as_ref().filter(|s| !s.value.is_empty());
    let name = alert
        .or(record)
        .map(|s| s.value.clone())
        .unwrap_or_default();
    let at = |s: Option<&Spanned<String>>| Some(s.map_or(rpos, |s| Pos::of(&s.referenced)));
    let before = c.problems.len();
    let id = Some((index, name.as_str()));
    match (record, alert) {
        (Some(rec), Some(al)) => c.report(
            at(Some(rec)),
            Some(group),
            id,
            format!(
                "only one of 'record' and 'alert' must be set (alert at {})",
                Pos::of(&al.referenced)
            ),
        ),
        (None, None) => c.report(
            at(None),
            Some(group),
            id,
            "one of 'record' or 'alert' must be set",
        ),
        _ => {}
    }
    let expr_text = raw
        .expr
        .as_ref()
        .map(|e| e.value.clone())
        .unwrap_or_default();
    let mut expr = None;
    if expr_text.is_empty() {
        c.report(
            at(raw.expr.as_ref()),
            Some(group),
            id,
            "field 'expr' must be set in rule",
        );
    } else {
        match strata_query::parser::parse(&expr_text) {
            Ok(e) => expr = Some(e),
            Err(e) => {
                let offset = match &e {
                    strata_query::Error::Parse { pos, .. } => pos.0,
                    _ => 0,
                };
                let node = raw.expr.as_ref().map(|s| ScalarSource::of(&s.referenced));
                let file_pos = node.map(|n| n.map(c.text, &expr_text, offset));
                c.problems.push(Diagnostic {
                    file: c.path.to_string(),
                    pos: file_pos.or(Some(rpos)),
                    group: Some(group.to_string()),
                    rule: Some((index, name.clone())),
                    expr_pos: Some(Pos::in_text(&expr_text, offset)),
                    message: format!("could not parse expression: {e}"),
                });
            }
        }
    }
    let for_ms = c.duration(&raw.for_, group, id).unwrap_or(0);
    let keep_ms = c.duration(&raw.keep_firing_for, group, id).unwrap_or(0);
    if let Some(rec) = record {
        let has_annotations = raw
            .annotations
            .as_ref()
            .is_some_and(|a| !a.value.is_empty());
        if has_annotations {
            c.report(
                at(Some(rec)),
                Some(group),
                id,
                "invalid field 'annotations' in recording rule",
            );
        }
        if for_ms != 0 {
            c.report(
                at(Some(rec)),
                Some(group),
                id,
                "invalid field 'for' in recording rule",
            );
        }
        if keep_ms != 0 {
            c.report(
                at(Some(rec)),
                Some(group),
                id,
                "invalid field 'keep_firing_for' in recording rule",
            );
        }
        if rec.value.contains(['{', '}']) {
            c.report(
                at(Some(rec)),
                Some(group),
                id,
                format!(
                    "braces present in the recording rule name; should it be in expr?: {}",
                    rec.value
                ),
            );
        }
    }
    let labels = c.label_names(&raw.labels, group, id, "label");
    let annotations = c.label_names(&raw.annotations, group, id, "annotation");
    if alert.is_some() {
        // Label and annotation templates must parse (Prometheus's testTemplateParsing).
        for (what, map) in [("label", &raw.labels), ("annotation", &raw.annotations)] {
            let Some(map) = map else { continue };
            for (k, v) in &map.value {
                if let Err(e) = crate::template::Template::parse_alert(&name, v) {
                    c.report(
                        Some(Pos::of(&map.referenced)),
                        Some(group),
                        id,
                        format!("{what} {k:?}: {e}"),
                    );
                }
            }
        }
    }
    if c.problems.len() > before {
        return None;
    }
    let kind = if alert.is_some() {
        RuleKind::Alerting {
            for_ms,
            keep_firing_for_ms: keep_ms,
            annotations,
        }
    } else {
        RuleKind::Recording
    };
    Some(RuleSpec {
        name,
        kind,
        expr_text,
        expr: expr?,
        labels,
        pos: rpos,
    })
}

//! The checked SLO model, and its validation from the YAML shapes of [`super::yaml`].
//!
//! Both formats become [`Slo`]s. Sloth's `prometheus/v1` checks follow Sloth's (names of
//! alphanumerics, `.`, `_` and `-` that start and end alphanumeric; objective in `(0, 100]`;
//! exactly one of `sli.events` and `sli.raw`; `{{.window}}` in every SLI query; error and
//! total queries different; an alert name unless both alerts are disabled; non-empty label
//! values), plus Strata's: every query parses as PromQL with each window substituted, and
//! labels may not take the names of the labels the generated rules set (`sloth_id`,
//! `sloth_service`, `sloth_slo`, `sloth_window`, `sloth_severity`, `__name__`). SLI plugins
//! are not supported and say so.
//!
//! `strata/v1` ([`super`] documents it) names counters instead of queries: `errors` or
//! `good`, and `total`, each a plain series selector, optionally `by` labels, and a
//! `period` (7d, 28d or 30d). Its SLI is generated as a ratio of increases (see
//! [`Sli::Counters`]).
//!
//! Invariants of an [`Slo`]: `id == service + "-" + name`; its SLI queries parse for every
//! window of its period; its labels do not collide with the generated ones.

use std::collections::{BTreeMap, HashSet};

use serde_saphyr::Spanned;
use strata_query::parser::ast::Expr;

use super::windows::{window_name, Period};
use super::yaml::{Document, RawAlert, RawAlerting, RawSlo};
use crate::duration;
use crate::file::{Diagnostic, Pos};

/// Sloth's spec version.
pub const SLOTH_VERSION: &str = "prometheus/v1";
/// Strata's spec version.
pub const STRATA_VERSION: &str = "strata/v1";

/// Labels the generated rules set; specs may not use them.
pub const RESERVED_LABELS: [&str; 6] = [
    "__name__",
    "sloth_id",
    "sloth_service",
    "sloth_slo",
    "sloth_window",
    "sloth_severity",
];

/// Which format an SLO came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Sloth's `prometheus/v1`.
    Sloth,
    /// Strata's `strata/v1`.
    Strata,
}

impl Format {
    /// The `version` string (also the `sloth_spec` label).
    pub fn version(self) -> &'static str {
        match self {
            Format::Sloth => SLOTH_VERSION,
            Format::Strata => STRATA_VERSION,
        }
    }
}

/// How the error ratio over a window is computed.
#[derive(Clone, Debug, PartialEq)]
pub enum Sli {
    /// Sloth's `events`: `(error_query) / (total_query)`, `{{.window}}` substituted.
    Events {
        /// Errors per window (a template).
        error_query: String,
        /// All events per window (a template).
        total_query: String,
    },
    /// Sloth's `raw`: the error ratio itself (a template).
    Raw {
        /// The ratio (a template).
        error_ratio_query: String,
    },
    /// Strata's counters: errors (or total minus good) over total, as a ratio of the
    /// counters' increases over the window, summed (by `by`, if given). A side with no
    /// series at all counts as zero events, so an SLO without a single error yet has an
    /// error ratio of 0 rather than none.
    Counters {
        /// Selector of the error counter (exclusive with `good`).
        errors: Option<String>,
        /// Selector of the good-event counter (exclusive with `errors`).
        good: Option<String>,
        /// Selector of the total counter.
        total: String,
        /// Labels the ratio is kept by.
        by: Vec<String>,
    },
}

impl Sli {
    /// The error-ratio expression over `window` (`5m`, `30d`, ...).
    pub fn expr(&self, window: &str) -> String {
        match self {
            Sli::Events {
                error_query,
                total_query,
            } => format!(
                "({}) / ({})",
                substitute(error_query, window),
                substitute(total_query, window)
            ),
            Sli::Raw { error_ratio_query } => {
                format!("({})", substitute(error_ratio_query, window))
            }
            Sli::Counters {
                errors,
                good,
                total,
                by,
            } => {
                let sum = |sel: &str| {
                    if by.is_empty() {
                        format!("sum(increase({sel}[{window}]))")
                    } else {
                        format!("sum by ({}) (increase({sel}[{window}]))", by.join(", "))
                    }
                };
                let total = sum(total);
                let error_events = match (errors, good) {
                    (Some(e), _) => format!("({} or 0 * {total})", sum(e)),
                    (None, Some(g)) => format!("({total} - ({} or 0 * {total}))", sum(g)),
                    (None, None) => unreachable!("validated: errors or good"),
                };
                format!("{error_events} / {total}")
            }
        }
    }
}

/// One alert of an SLO (page or ticket).
#[derive(Clone, Debug, PartialEq)]
pub struct SloAlert {
    /// Alert name.
    pub name: String,
    /// Labels (the shared ones, then this severity's over them).
    pub labels: BTreeMap<String, String>,
    /// Annotations (the shared ones, then this severity's over them).
    pub annotations: BTreeMap<String, String>,
    /// `for`, ms (Strata only; Sloth's alerts have none).
    pub for_ms: Option<i64>,
}

/// A checked SLO.
#[derive(Clone, Debug, PartialEq)]
pub struct Slo {
    /// `<service>-<name>` (`sloth_id`).
    pub id: String,
    /// The service (`sloth_service`).
    pub service: String,
    /// The SLO's name (`sloth_slo`).
    pub name: String,
    /// Free text.
    pub description: String,
    /// Objective, percent, in `(0, 100]`.
    pub objective: f64,
    /// The SLO period.
    pub period: Period,
    /// The spec's labels, then the SLO's over them: added to every generated rule.
    pub labels: BTreeMap<String, String>,
    /// How the error ratio is computed.
    pub sli: Sli,
    /// The page alert, unless disabled.
    pub page: Option<SloAlert>,
    /// The ticket alert, unless disabled.
    pub ticket: Option<SloAlert>,
    /// The format it came from.
    pub format: Format,
    /// The file it came from.
    pub file: String,
    /// Where it starts in the file.
    pub pos: Pos,
}

impl Slo {
    /// The objective as a ratio (`0.999`), as `slo:objective:ratio` records it.
    pub fn objective_ratio(&self) -> f64 {
        self.objective / 100.0
    }

    /// The error budget as the alert thresholds use it, `(100 - objective) / 100` (Sloth's
    /// arithmetic: `0.0009999999999999432` for 99.9).
    pub fn alert_budget(&self) -> f64 {
        (100.0 - self.objective) / 100.0
    }

    /// The error budget as `slo:error_budget:ratio` records it, `1 - objective / 100`, which
    /// the burn-rate rules divide by.
    pub fn error_budget(&self) -> f64 {
        1.0 - self.objective_ratio()
    }

    /// The name of the rule group that evaluates it.
    pub fn group_name(&self) -> String {
        format!("sloth-slo-{}", self.id)
    }

    /// The SLI windows, as `sloth_window` values.
    pub fn window_names(&self) -> Vec<String> {
        self.period
            .sli_windows()
            .into_iter()
            .map(window_name)
            .collect()
    }
}

/// Replaces Sloth's `{{.window}}` (spaces allowed inside the braces) with `window`.
pub fn substitute(template: &str, window: &str) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        match after.find("}}") {
            Some(j) if after[..j].trim() == ".window" => {
                out.push_str(window);
                rest = &after[j + 2..];
            }
            _ => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// True if `template` uses `{{.window}}`, and no other template action.
fn window_template(template: &str) -> Result<(), String> {
    let probe = substitute(template, "1m");
    if probe.contains("{{") {
        return Err("only the {{.window}} template variable is supported".into());
    }
    if probe == template {
        return Err("template must contain the {{ .window }} variable".into());
    }
    Ok(())
}

/// Collects the problems of one file.
pub(crate) struct Checker<'a> {
    pub path: &'a str,
    pub problems: Vec<Diagnostic>,
}

impl Checker<'_> {
    fn report(&mut self, pos: Option<Pos>, slo: Option<&str>, message: impl Into<String>) {
        let message = message.into();
        self.problems.push(Diagnostic {
            file: self.path.to_string(),
            pos,
            group: None,
            rule: None,
            expr_pos: None,
            message: match slo {
                Some(s) => format!("slo {s:?}: {message}"),
                None => message,
            },
        });
    }

    fn at<T>(&mut self, s: &Spanned<T>, slo: Option<&str>, message: impl Into<String>) {
        self.report(Some(Pos::of(&s.referenced)), slo, message);
    }

    fn labels(
        &mut self,
        l: &Option<Spanned<BTreeMap<String, String>>>,
        slo: Option<&str>,
        what: &str,
    ) -> BTreeMap<String, String> {
        let Some(l) = l else {
            return BTreeMap::new();
        };
        for (k, v) in &l.value {
            if k.is_empty() {
                self.at(l, slo, format!("{what} name must not be empty"));
            } else if what == "label" && RESERVED_LABELS.contains(&k.as_str()) {
                self.at(
                    l,
                    slo,
                    format!("label {k:?} is set by the generated rules and cannot be used"),
                );
            }
            if v.is_empty() {
                self.at(
                    l,
                    slo,
                    format!("the value of {what} {k:?} must not be empty"),
                );
            }
        }
        l.value.clone()
    }

    /// Checks that every window's expansion of `template` parses.
    fn parses(&mut self, q: &Spanned<String>, slo: &str, field: &str, windows: &[String]) {
        for w in windows {
            if let Err(e) = strata_query::parser::parse(&substitute(&q.value, w)) {
                self.at(q, Some(slo), format!("{field}: {e}"));
                return;
            }
        }
    }
}

/// Sloth's name rule: alphanumerics, `.`, `_`, `-`, starting and ending alphanumeric.
fn valid_name(s: &str) -> bool {
    let b = s.as_bytes();
    let ok = |c: &u8| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.');
    b.len() >= 2
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(ok)
        || (b.len() == 1 && b[0].is_ascii_alphanumeric())
}

/// The SLOs of one document.
pub(crate) fn document(c: &mut Checker<'_>, doc: Document, ids: &mut HashSet<String>) -> Vec<Slo> {
    let empty = doc.version.is_none()
        && doc.service.is_none()
        && doc.labels.is_none()
        && doc.slos.is_none()
        && doc.slo_plugins.is_none();
    if empty {
        return Vec::new();
    }
    let format = match &doc.version {
        Some(v) if v.value == SLOTH_VERSION => Format::Sloth,
        Some(v) if v.value == STRATA_VERSION => Format::Strata,
        Some(v) => {
            c.at(
                v,
                None,
                format!(
                    "unsupported version {:?}: expected {SLOTH_VERSION:?} (Sloth) or {STRATA_VERSION:?}",
                    v.value
                ),
            );
            return Vec::new();
        }
        None => {
            c.report(
                None,
                None,
                format!("an SLO spec needs version: {SLOTH_VERSION} or version: {STRATA_VERSION}"),
            );
            return Vec::new();
        }
    };
    if let Some(p) = &doc.slo_plugins {
        c.at(
            p,
            None,
            "SLO plugins (slo_plugins) are not supported by Strata",
        );
    }
    let service = match &doc.service {
        Some(s) if valid_name(&s.value) => s.value.clone(),
        Some(s) => {
            c.at(
                s,
                None,
                "invalid service: names must start and end with an alphanumeric and contain \
                 only alphanumerics, '.', '_' and '-'",
            );
            s.value.clone()
        }
        None => {
            c.report(None, None, "service is required");
            String::new()
        }
    };
    let labels = c.labels(&doc.labels, None, "label");
    let Some(slos) = doc.slos.filter(|s| !s.value.is_empty()) else {
        c.report(None, None, "at least one SLO is required");
        return Vec::new();
    };
    let mut out = Vec::new();
    for raw in slos.value {
        if let Some(slo) = one(c, format, &service, &labels, raw) {
            if !ids.insert(slo.id.clone()) {
                c.report(
                    Some(slo.pos),
                    Some(&slo.name),
                    format!("SLO {:?} is defined twice", slo.id),
                );
            }
            out.push(slo);
        }
    }
    out
}

fn one(
    c: &mut Checker<'_>,
    format: Format,
    service: &str,
    spec_labels: &BTreeMap<String, String>,
    raw: Spanned<RawSlo>,
) -> Option<Slo> {
    let pos = Pos::of(&raw.referenced);
    let before = c.problems.len();
    let r = raw.value;
    let name = match &r.name {
        Some(n) if valid_name(&n.value) => n.value.clone(),
        Some(n) => {
            c.at(
                n,
                None,
                format!(
                    "invalid SLO name {:?}: names must start and end with an alphanumeric and \
                     contain only alphanumerics, '.', '_' and '-'",
                    n.value
                ),
            );
            return None;
        }
        None => {
            c.report(Some(pos), None, "SLO name is required");
            return None;
        }
    };
    let n = Some(name.as_str());
    let objective = match &r.objective {
        Some(o) if o.value > 0.0 && o.value <= 100.0 => o.value,
        Some(o) => {
            c.at(o, n, "objective must be > 0 and <= 100 (a percentage)");
            100.0
        }
        None => {
            c.report(
                Some(pos),
                n,
                "objective is required (a percentage such as 99.9)",
            );
            100.0
        }
    };
    let mut labels = spec_labels.clone();
    labels.extend(c.labels(&r.labels, n, "label"));
    if let Some(p) = &r.plugins {
        c.at(p, n, "SLO plugins are not supported by Strata");
    }
    let (period, sli, alerting) = match format {
        Format::Sloth => {
            for (present, field) in [
                (r.period.as_ref().map(|s| Pos::of(&s.referenced)), "period"),
                (r.errors.as_ref().map(|s| Pos::of(&s.referenced)), "errors"),
                (r.good.as_ref().map(|s| Pos::of(&s.referenced)), "good"),
                (r.total.as_ref().map(|s| Pos::of(&s.referenced)), "total"),
                (r.by.as_ref().map(|s| Pos::of(&s.referenced)), "by"),
                (r.alerts.as_ref().map(|s| Pos::of(&s.referenced)), "alerts"),
            ] {
                if let Some(p) = present {
                    c.report(
                        Some(p),
                        n,
                        format!(
                            "field {field} is part of {STRATA_VERSION}, not of {SLOTH_VERSION}"
                        ),
                    );
                }
            }
            let period = Period::DEFAULT;
            let sli = sloth_sli(c, &name, &r, period, pos);
            (period, sli, r.alerting)
        }
        Format::Strata => {
            for (present, field) in [
                (r.sli.as_ref().map(|s| Pos::of(&s.referenced)), "sli"),
                (
                    r.alerting.as_ref().map(|s| Pos::of(&s.referenced)),
                    "alerting",
                ),
            ] {
                if let Some(p) = present {
                    c.report(
                        Some(p),
                        n,
                        format!(
                            "field {field} is part of {SLOTH_VERSION}; {STRATA_VERSION} uses \
                             errors or good, total and alerts"
                        ),
                    );
                }
            }
            let period = match &r.period {
                None => Period::DEFAULT,
                Some(p) => match Period::parse(&p.value) {
                    Ok(p) => p,
                    Err(e) => {
                        c.at(p, n, e);
                        Period::DEFAULT
                    }
                },
            };
            let sli = counters_sli(c, &name, &r, pos);
            (period, sli, r.alerts)
        }
    };
    let (page, ticket) = alerts(c, format, &name, alerting, pos);
    if c.problems.len() > before {
        return None;
    }
    Some(Slo {
        id: format!("{service}-{name}"),
        service: service.to_string(),
        name,
        description: r.description.map(|d| d.value).unwrap_or_default(),
        objective,
        period,
        labels,
        sli: sli?,
        page,
        ticket,
        format,
        file: c.path.to_string(),
        pos,
    })
}

fn sloth_sli(c: &mut Checker<'_>, name: &str, r: &RawSlo, period: Period, pos: Pos) -> Option<Sli> {
    let n = Some(name);
    let windows: Vec<String> = period.sli_windows().into_iter().map(window_name).collect();
    let Some(sli) = &r.sli else {
        c.report(Some(pos), n, "sli is required (events or raw)");
        return None;
    };
    if let Some(p) = &sli.value.plugin {
        c.at(
            p,
            n,
            "SLI plugins are not supported by Strata: write the plugin's queries as sli.events or sli.raw",
        );
        return None;
    }
    match (&sli.value.events, &sli.value.raw) {
        (Some(_), Some(_)) => {
            c.at(sli, n, "only one SLI type is allowed (events or raw)");
            None
        }
        (None, None) => {
            c.at(sli, n, "at least one SLI type is required (events or raw)");
            None
        }
        (Some(ev), None) => {
            let mut q = |field: &str, v: &Option<Spanned<String>>| -> Option<String> {
                let Some(v) = v else {
                    c.at(ev, n, format!("sli.events.{field} is required"));
                    return None;
                };
                if let Err(e) = window_template(&v.value) {
                    c.at(v, n, format!("sli.events.{field}: {e}"));
                    return None;
                }
                c.parses(v, name, &format!("sli.events.{field}"), &windows);
                Some(v.value.clone())
            };
            let error_query = q("error_query", &ev.value.error_query);
            let total_query = q("total_query", &ev.value.total_query);
            let (error_query, total_query) = (error_query?, total_query?);
            if error_query == total_query {
                c.at(ev, n, "both error and total queries can't be the same");
            }
            Some(Sli::Events {
                error_query,
                total_query,
            })
        }
        (None, Some(raw)) => {
            let Some(v) = &raw.value.error_ratio_query else {
                c.at(raw, n, "sli.raw.error_ratio_query is required");
                return None;
            };
            if let Err(e) = window_template(&v.value) {
                c.at(v, n, format!("sli.raw.error_ratio_query: {e}"));
                return None;
            }
            c.parses(v, name, "sli.raw.error_ratio_query", &windows);
            Some(Sli::Raw {
                error_ratio_query: v.value.clone(),
            })
        }
    }
}

/// A `strata/v1` selector field: a plain series selector.
fn selector(c: &mut Checker<'_>, name: &str, field: &str, v: &Spanned<String>) -> Option<String> {
    let text = v.value.trim();
    match strata_query::parser::parse(text) {
        Ok(Expr::VectorSelector(vs)) if vs.offset == 0 && vs.at.is_none() => Some(text.to_string()),
        Ok(_) => {
            c.at(
                v,
                Some(name),
                format!(
                    "{field} must be a series selector of a counter, such as \
                     http_requests_total{{code=~\"5..\"}} (no function, range, offset or @)"
                ),
            );
            None
        }
        Err(e) => {
            c.at(v, Some(name), format!("{field}: {e}"));
            None
        }
    }
}

fn counters_sli(c: &mut Checker<'_>, name: &str, r: &RawSlo, pos: Pos) -> Option<Sli> {
    let n = Some(name);
    let errors = r.errors.as_ref().map(|e| selector(c, name, "errors", e));
    let good = r.good.as_ref().map(|g| selector(c, name, "good", g));
    let total = r.total.as_ref().map(|t| selector(c, name, "total", t));
    if errors.is_some() == good.is_some() {
        c.report(Some(pos), n, "set exactly one of errors and good");
        return None;
    }
    let Some(total) = total else {
        c.report(Some(pos), n, "total is required");
        return None;
    };
    let by = match &r.by {
        None => Vec::new(),
        Some(b) => {
            let mut seen = HashSet::new();
            for l in &b.value {
                if l.is_empty() || l == "__name__" || !seen.insert(l) {
                    c.at(b, n, format!("by: invalid or repeated label {l:?}"));
                }
                if !strata_engine::labels::is_legacy_label_name(l) {
                    c.at(
                        b,
                        n,
                        format!("by: {l:?} must be a label name of letters, digits and '_'"),
                    );
                }
            }
            b.value.clone()
        }
    };
    Some(Sli::Counters {
        errors: errors.map(|e| e.unwrap_or_default()),
        good: good.map(|g| g.unwrap_or_default()),
        total: total?,
        by,
    })
}

fn alerts(
    c: &mut Checker<'_>,
    format: Format,
    name: &str,
    alerting: Option<Spanned<RawAlerting>>,
    pos: Pos,
) -> (Option<SloAlert>, Option<SloAlert>) {
    let n = Some(name);
    let Some(a) = alerting else {
        // Sloth requires an alert name unless both alerts are disabled, which needs an
        // `alerting` block; Strata's alerts are optional.
        if format == Format::Sloth {
            c.report(Some(pos), n, "alerting.name is required");
        }
        return (None, None);
    };
    let apos = Pos::of(&a.referenced);
    let a = a.value;
    let (page_key, ticket_key) = match format {
        Format::Sloth => ("page_alert", "ticket_alert"),
        Format::Strata => ("page", "ticket"),
    };
    let (page, ticket, wrong) = match format {
        Format::Sloth => (a.page_alert, a.ticket_alert, [&a.page, &a.ticket]),
        Format::Strata => (a.page, a.ticket, [&a.page_alert, &a.ticket_alert]),
    };
    for w in wrong.into_iter().flatten() {
        c.at(
            w,
            n,
            format!(
                "in {} alerts are {page_key} and {ticket_key}",
                format.version()
            ),
        );
    }
    let labels = c.labels(&a.labels, n, "label");
    let annotations = c.labels(&a.annotations, n, "annotation");
    let mut one = |key: &str, x: Option<Spanned<RawAlert>>| -> Option<SloAlert> {
        let x = x.map(|x| x.value);
        if x.as_ref().and_then(|x| x.disable) == Some(true) {
            return None;
        }
        let mut l = labels.clone();
        let mut an = annotations.clone();
        let mut for_ms = None;
        if let Some(x) = x {
            l.extend(c.labels(&x.labels, n, "label"));
            an.extend(c.labels(&x.annotations, n, "annotation"));
            if let Some(f) = &x.for_ {
                if format == Format::Sloth {
                    c.at(f, n, format!("{key}.for is not part of {SLOTH_VERSION}"));
                }
                match duration::parse(&f.value) {
                    Ok(ms) => for_ms = Some(ms),
                    Err(e) => c.at(f, n, format!("{key}.for: {e}")),
                }
            }
        }
        match &a.name {
            Some(nm) if !nm.value.is_empty() => Some(SloAlert {
                name: nm.value.clone(),
                labels: l,
                annotations: an,
                for_ms,
            }),
            _ => {
                c.report(Some(apos), n, "the alert name (name) is required");
                None
            }
        }
    };
    let page = one(page_key, page);
    let ticket = one(ticket_key, ticket);
    (page, ticket)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitution_accepts_sloths_spacing() {
        assert_eq!(substitute("rate(x[{{.window}}])", "5m"), "rate(x[5m])");
        assert_eq!(
            substitute("rate(x[{{ .window }}]) / rate(y[{{.window}}])", "1d"),
            "rate(x[1d]) / rate(y[1d])"
        );
        assert_eq!(substitute("x{a=\"{{\"}", "5m"), "x{a=\"{{\"}");
        assert!(window_template("rate(x[5m])").is_err());
        assert!(window_template("rate(x[{{.window}}]) + {{.other}}")
            .unwrap_err()
            .contains("only the {{.window}}"));
        assert!(window_template("rate(x[{{ .window }}])").is_ok());
    }

    #[test]
    fn names_follow_sloth() {
        for ok in ["a", "svc", "my-svc.v2", "a_b-c9"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "-a", "a-", "a b", "a/b", "_a"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn counters_give_a_ratio_of_increases() {
        let sli = Sli::Counters {
            errors: Some("req{code=~\"5..\"}".into()),
            good: None,
            total: "req".into(),
            by: vec![],
        };
        assert_eq!(
            sli.expr("30d"),
            "(sum(increase(req{code=~\"5..\"}[30d])) or 0 * sum(increase(req[30d]))) / sum(increase(req[30d]))"
        );
        let sli = Sli::Counters {
            errors: None,
            good: Some("lat_bucket{le=\"0.5\"}".into()),
            total: "lat_count".into(),
            by: vec!["route".into()],
        };
        let e = sli.expr("5m");
        assert_eq!(
            e,
            "(sum by (route) (increase(lat_count[5m])) - (sum by (route) (increase(lat_bucket{le=\"0.5\"}[5m])) or 0 * sum by (route) (increase(lat_count[5m])))) / sum by (route) (increase(lat_count[5m]))"
        );
        assert!(strata_query::parser::parse(&e).is_ok());
    }
}

//! The Prometheus rules of an SLO, as rule-file YAML: what `strata slo generate` prints and,
//! parsed back by [`crate::file::parse`], what Strata runs.
//!
//! One group per SLO, `sloth-slo-<service>-<slo>`, in this order (Sloth's names and labels;
//! `ids` below is `{sloth_id, sloth_service, sloth_slo}`):
//! 1. `slo:sli_error:ratio_rate<w>` for every window of the period's alert table and the
//!    period itself (`5m 30m 1h 2h 6h 1d 3d 30d`; 28 days is `4w`, 7 days `1w`): the error
//!    ratio over `w`, labels `ids`, `sloth_window` and the SLO's labels;
//! 2. `slo:objective:ratio`, `slo:error_budget:ratio`, `slo:time_period:days`,
//!    `slo:current_burn_rate:ratio` (5m ratio over the budget),
//!    `slo:period_burn_rate:ratio` (period ratio over the budget),
//!    `slo:period_error_budget_remaining:ratio` (`1 -` the period burn rate) and
//!    `sloth_slo_info`;
//! 3. the page and ticket alerts (unless disabled): the multiwindow multi-burn-rate
//!    conditions of [`super::windows`], labelled `sloth_severity`.
//!
//! Where Strata deliberately differs from Sloth's output (documented in `docs/slo.md`):
//! * the period ratio is the SLI's own expression over the period, evaluated through the
//!   incremental windows (a traffic-weighted ratio of increases), where Sloth averages the
//!   5-minute ratios over the period (`sum_over_time(...ratio_rate5m[30d]) /
//!   count_over_time(...)`), which weighs a quiet 5 minutes like a busy one;
//! * the three kinds of rules are one group, evaluated in order at one timestamp, where
//!   Sloth makes three groups that run independently (so its burn rates and alerts may read
//!   the previous evaluation's ratios);
//! * `sloth_slo_info` says `sloth_mode="strata"` and `sloth_version="strata/<version>"`.
//!
//! Every string is written as a double-quoted YAML scalar (JSON escaping), so any label
//! value or query round-trips.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::spec::{Slo, SloAlert};
use super::windows::{window_name, AlertWindow, Severity};

/// `sloth_mode` of the generated info series.
pub const MODE: &str = "strata";

/// `sloth_version` of the generated info series.
pub fn version_label() -> String {
    format!("strata/{}", env!("CARGO_PKG_VERSION"))
}

/// A float as PromQL reads it back to the same value (shortest round-trip decimal).
pub fn float(v: f64) -> String {
    format!("{v}")
}

/// `slo:sli_error:ratio_rate<window>`.
pub fn sli_record(window: &str) -> String {
    format!("slo:sli_error:ratio_rate{window}")
}

fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// The `{sloth_id="...", sloth_service="...", sloth_slo="..."}` filter.
pub fn ids_filter(slo: &Slo) -> String {
    let v = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    format!(
        "{{sloth_id=\"{}\", sloth_service=\"{}\", sloth_slo=\"{}\"}}",
        v(&slo.id),
        v(&slo.service),
        v(&slo.name)
    )
}

/// `ids` plus the SLO's labels.
fn common_labels(slo: &Slo) -> BTreeMap<String, String> {
    let mut l = BTreeMap::from([
        ("sloth_id".to_string(), slo.id.clone()),
        ("sloth_service".to_string(), slo.service.clone()),
        ("sloth_slo".to_string(), slo.name.clone()),
    ]);
    l.extend(slo.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
    l
}

/// One rule as YAML lines (indented for a group's `rules:` list).
struct Rule {
    kind: &'static str,
    name: String,
    expr: String,
    for_ms: Option<i64>,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
}

impl Rule {
    fn write(&self, out: &mut String) {
        let _ = writeln!(out, "  - {}: {}", self.kind, q(&self.name));
        let _ = writeln!(out, "    expr: {}", q(&self.expr));
        if let Some(f) = self.for_ms {
            let _ = writeln!(out, "    for: {}", q(&crate::duration::format(f)));
        }
        for (key, map) in [("labels", &self.labels), ("annotations", &self.annotations)] {
            if map.is_empty() {
                continue;
            }
            let _ = writeln!(out, "    {key}:");
            for (k, v) in map {
                let _ = writeln!(out, "      {}: {}", q(k), q(v));
            }
        }
    }
}

fn record(name: String, expr: String, labels: BTreeMap<String, String>) -> Rule {
    Rule {
        kind: "record",
        name,
        expr,
        for_ms: None,
        labels,
        annotations: BTreeMap::new(),
    }
}

/// The alert expression over two rows of the table (Sloth's shape).
fn alert_expr(slo: &Slo, rows: [&AlertWindow; 2]) -> String {
    let ids = ids_filter(slo);
    let budget = float(slo.alert_budget());
    let cond = |w: &AlertWindow| {
        let f = float(slo.period.burn_factor(w));
        let side = |win: i64| {
            format!(
                "max({}{ids} > ({f} * {budget})) without (sloth_window)",
                sli_record(&window_name(win))
            )
        };
        format!("({} and {})", side(w.short), side(w.long))
    };
    format!("{} or {}", cond(rows[0]), cond(rows[1]))
}

fn alert(slo: &Slo, a: &SloAlert, severity: Severity, rows: [&AlertWindow; 2]) -> Rule {
    let sev = severity.as_str();
    let mut labels = BTreeMap::from([("sloth_severity".to_string(), sev.to_string())]);
    labels.extend(a.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
    let mut annotations = BTreeMap::from([
        (
            "title".to_string(),
            format!(
                "({sev}) {{{{$labels.sloth_service}}}} {{{{$labels.sloth_slo}}}} SLO error budget burn rate is too fast."
            ),
        ),
        (
            "summary".to_string(),
            "{{$labels.sloth_service}} {{$labels.sloth_slo}} SLO error budget burn rate is over expected.".to_string(),
        ),
    ]);
    annotations.extend(a.annotations.iter().map(|(k, v)| (k.clone(), v.clone())));
    Rule {
        kind: "alert",
        name: a.name.clone(),
        expr: alert_expr(slo, rows),
        for_ms: a.for_ms,
        labels,
        annotations,
    }
}

/// The rules of one SLO, in evaluation order.
fn rules(slo: &Slo) -> Vec<Rule> {
    let mut out = Vec::new();
    let common = common_labels(slo);
    for w in slo.window_names() {
        let mut labels = common.clone();
        labels.insert("sloth_window".into(), w.clone());
        out.push(record(sli_record(&w), slo.sli.expr(&w), labels));
    }
    let ids = ids_filter(slo);
    let objective = float(slo.objective_ratio());
    let burn = |sli: &str| {
        format!(
            "{sli}{ids} / on(sloth_id, sloth_slo, sloth_service) group_left slo:error_budget:ratio{ids}"
        )
    };
    let period = sli_record(&slo.period.to_string());
    let meta = [
        ("slo:objective:ratio", format!("vector({objective})")),
        ("slo:error_budget:ratio", format!("vector(1-{objective})")),
        (
            "slo:time_period:days",
            format!("vector({})", float(slo.period.days())),
        ),
        ("slo:current_burn_rate:ratio", burn(&sli_record("5m"))),
        ("slo:period_burn_rate:ratio", burn(&period)),
        (
            "slo:period_error_budget_remaining:ratio",
            format!("1 - slo:period_burn_rate:ratio{ids}"),
        ),
    ];
    for (name, expr) in meta {
        out.push(record(name.to_string(), expr, common.clone()));
    }
    let mut info = common.clone();
    info.insert("sloth_mode".into(), MODE.into());
    info.insert("sloth_objective".into(), float(slo.objective));
    info.insert("sloth_spec".into(), slo.format.version().into());
    info.insert("sloth_version".into(), version_label());
    out.push(record("sloth_slo_info".into(), "vector(1)".into(), info));
    let rows = slo.period.alert_windows();
    if let Some(a) = &slo.page {
        out.push(alert(slo, a, Severity::Page, [&rows[0], &rows[1]]));
    }
    if let Some(a) = &slo.ticket {
        out.push(alert(slo, a, Severity::Ticket, [&rows[2], &rows[3]]));
    }
    out
}

/// The rule file of `slos` (one group each, in order), with a header naming `source`.
pub fn rule_file(slos: &[&Slo], source: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Generated by Strata {} from {source}: the rules Strata runs for these SLOs.",
        env!("CARGO_PKG_VERSION")
    );
    if slos.is_empty() {
        out.push_str("groups: []\n");
        return out;
    }
    out.push_str("groups:\n");
    for slo in slos {
        let _ = writeln!(out, "- name: {}", q(&slo.group_name()));
        out.push_str("  rules:\n");
        for r in rules(slo) {
            r.write(&mut out);
        }
    }
    out
}

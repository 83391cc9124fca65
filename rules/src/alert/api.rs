//! The alerting part of Prometheus's HTTP API JSON: alert objects of `/api/v1/alerts` and
//! `/api/v1/rules`, and alerting-rule objects of `/api/v1/rules` (`web/api/v1/api.go`).
//!
//! Field names and order are Prometheus's: an alert is `labels, annotations, state,
//! activeAt, keepFiringSince?, value`; an alerting rule is `state, name, query, duration,
//! keepFiringFor, labels, annotations, alerts, health, lastError?, evaluationTime,
//! lastEvaluation, type`. `value` is a string in Go's `%e` shortest form (`"1e+00"`), times
//! are RFC 3339 with up to nine fraction digits (Go's zero time `0001-01-01T00:00:00Z` for a
//! rule never evaluated), durations and evaluation times are numbers of seconds.
//!
//! Invariant: every function appends one complete JSON value to `out`.

use std::time::SystemTime;

use super::json::{write_float, write_labels, write_pairs, write_str};
use super::{Alert, AlertingRule};
use crate::template::gofmt::format_float;
use crate::template::gotime::GoTime;

/// A rule's health (`health` in the API).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Health {
    /// Not evaluated yet.
    #[default]
    Unknown,
    /// The last evaluation succeeded.
    Ok,
    /// The last evaluation failed.
    Err,
}

impl Health {
    /// `unknown`, `ok` or `err`.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Ok => "ok",
            Health::Err => "err",
        }
    }
}

/// What the group runner records about a rule's last evaluation (for recording rules too).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RuleStatus {
    /// Health after the last evaluation.
    pub health: Health,
    /// The last evaluation's error, if it failed.
    pub last_error: Option<String>,
    /// How long the last evaluation took, seconds.
    pub evaluation_seconds: f64,
    /// Wall time the last evaluation started; `None` before the first.
    pub last_evaluation: Option<SystemTime>,
}

/// Appends an RFC 3339 time with up to nine fraction digits (Go's zero time for `None`).
pub fn write_time(out: &mut String, t: Option<SystemTime>) {
    let ns = match t {
        Some(t) => match t.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(d) => d.as_nanos() as i128,
            Err(e) => -(e.duration().as_nanos() as i128),
        },
        None => -62_135_596_800 * 1_000_000_000,
    };
    write_str(out, &GoTime { ns }.rfc3339_nano());
}

fn write_time_ms(out: &mut String, ms: i64) {
    write_str(out, &GoTime::from_millis(ms).rfc3339_nano());
}

/// Appends one alert object.
pub fn write_alert(out: &mut String, a: &Alert) {
    out.push_str("{\"labels\":");
    write_labels(out, &a.labels);
    out.push_str(",\"annotations\":");
    write_pairs(out, &a.annotations);
    out.push_str(",\"state\":");
    write_str(out, a.state.as_str());
    out.push_str(",\"activeAt\":");
    write_time_ms(out, a.active_at);
    if let Some(k) = a.keep_firing_since {
        out.push_str(",\"keepFiringSince\":");
        write_time_ms(out, k);
    }
    out.push_str(",\"value\":");
    write_str(out, &format_float(a.value, 'e', -1));
    out.push('}');
}

/// Appends a JSON array of alert objects.
pub fn write_alert_list<'a>(out: &mut String, alerts: impl IntoIterator<Item = &'a Alert>) {
    out.push('[');
    for (i, a) in alerts.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_alert(out, a);
    }
    out.push(']');
}

/// Appends the `data` object of `/api/v1/alerts`: `{"alerts":[...]}` with every pending and
/// firing alert of `rules`.
pub fn write_alerts_data<'a>(out: &mut String, rules: impl IntoIterator<Item = &'a AlertingRule>) {
    out.push_str("{\"alerts\":");
    write_alert_list(out, rules.into_iter().flat_map(AlertingRule::active_alerts));
    out.push('}');
}

/// Appends one alerting-rule object of `/api/v1/rules`. With `exclude_alerts`
/// (`exclude_alerts=true`) `alerts` is `null`, as Prometheus writes it.
pub fn write_alerting_rule(
    out: &mut String,
    rule: &AlertingRule,
    status: &RuleStatus,
    exclude_alerts: bool,
) {
    let def = rule.def();
    let state = if status.last_evaluation.is_none() {
        "unknown"
    } else {
        rule.state().as_str()
    };
    out.push_str("{\"state\":");
    write_str(out, state);
    out.push_str(",\"name\":");
    write_str(out, &def.name);
    out.push_str(",\"query\":");
    write_str(out, &def.expr);
    out.push_str(",\"duration\":");
    write_float(out, def.for_ms as f64 / 1000.0);
    out.push_str(",\"keepFiringFor\":");
    write_float(out, def.keep_firing_for_ms as f64 / 1000.0);
    out.push_str(",\"labels\":");
    write_sorted(out, &def.labels);
    out.push_str(",\"annotations\":");
    write_sorted(out, &def.annotations);
    out.push_str(",\"alerts\":");
    if exclude_alerts {
        out.push_str("null");
    } else {
        write_alert_list(out, rule.active_alerts());
    }
    out.push_str(",\"health\":");
    write_str(out, status.health.as_str());
    if let Some(e) = status.last_error.as_deref().filter(|e| !e.is_empty()) {
        out.push_str(",\"lastError\":");
        write_str(out, e);
    }
    out.push_str(",\"evaluationTime\":");
    write_float(out, status.evaluation_seconds);
    out.push_str(",\"lastEvaluation\":");
    write_time(out, status.last_evaluation);
    out.push_str(",\"type\":\"alerting\"}");
}

/// Rule labels or annotations as Prometheus holds them (`labels.FromMap`: sorted by name).
fn write_sorted(out: &mut String, pairs: &[(String, String)]) {
    let mut v = pairs.to_vec();
    v.sort();
    write_pairs(out, &v);
}

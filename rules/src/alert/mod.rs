//! Alerting rules: the per-alert state machine, the `ALERTS` / `ALERTS_FOR_STATE` series, what
//! to send to Alertmanager and when, `for` state restoration, and the API JSON.
//!
//! An [`AlertingRule`] is pure logic driven by explicit timestamps: the group runner evaluates
//! the rule's expression at `t - query_offset` and hands the result to [`AlertingRule::eval`],
//! which updates the alerts and returns the samples to append; [`AlertingRule::alerts_to_send`]
//! then says what to notify. Per evaluation at `ts` (Prometheus's `AlertingRule.Eval`):
//!
//! 1. Each result sample gives an alert: its labels minus `__name__`, plus the rule's labels
//!    (each a template), plus `alertname`; annotations are templates too. Templates see
//!    `$labels` (the sample's labels), `$value`, `$externalLabels`, `$externalURL`. Two
//!    samples giving the same labels are an error and change nothing.
//! 2. A new label set (or one whose previous alert is resolved) starts `pending` with
//!    `active_at = ts`; a pending or firing one gets the new value and annotations.
//! 3. An alert missing from the result: `pending` ones are dropped; `firing` ones stay firing
//!    while `ts - keep_firing_since < keep_firing_for`, else become `inactive` with
//!    `resolved_at = ts` and are kept [`RESOLVED_RETENTION`] (15 min) so the resolution is
//!    re-sent, then dropped.
//! 4. A pending alert with `ts - active_at >= for` fires (`fired_at = ts`).
//! 5. With `limit > 0`, more pending + firing alerts than `limit` clears all state and errors.
//!
//! Invariants: `active` holds at most one alert per label set; an alert is `inactive` iff it
//! has `resolved_at`; `ALERTS` samples are produced only once the rule is restored (see
//! [`restore`]), exactly one `ALERTS` and one `ALERTS_FOR_STATE` sample per pending or firing
//! alert, stamped `ts - query_offset`.

pub mod api;
pub mod json;
pub mod restore;

use std::collections::BTreeMap;

use strata_engine::{Labels, Sample};

use crate::error::{Error, Result};
use crate::notifier;
use crate::template::{AlertData, Env, QueryFn, Template};

/// Name of the series of pending and firing alerts.
pub const ALERTS_METRIC: &str = "ALERTS";
/// Name of the series holding each alert's `active_at` (Unix seconds).
pub const ALERTS_FOR_STATE_METRIC: &str = "ALERTS_FOR_STATE";
/// The label carrying the alert name.
pub const ALERTNAME_LABEL: &str = "alertname";
/// The label of `ALERTS` carrying the state.
pub const ALERTSTATE_LABEL: &str = "alertstate";
/// How long a resolved alert is kept (and re-sent), ms.
pub const RESOLVED_RETENTION: i64 = 15 * 60 * 1000;
/// Prometheus's default `--rules.alert.resend-delay`, ms.
pub const DEFAULT_RESEND_DELAY: i64 = 60 * 1000;

/// State of one alert (and, as the maximum over its alerts, of a rule).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AlertState {
    /// Resolved (kept for re-sending), or a rule with no pending or firing alert.
    Inactive,
    /// Active for less than `for`.
    Pending,
    /// Active for at least `for`.
    Firing,
}

impl AlertState {
    /// `inactive`, `pending` or `firing`.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// One alert instance of a rule. Times are ms since the epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    /// Current state.
    pub state: AlertState,
    /// Identifying labels (sample labels without `__name__`, rule labels, `alertname`).
    pub labels: Labels,
    /// Expanded annotations, sorted by name (empty values kept).
    pub annotations: Vec<(String, String)>,
    /// The sample value at the last evaluation that saw the alert.
    pub value: f64,
    /// When the alert became pending.
    pub active_at: i64,
    /// When it fired.
    pub fired_at: Option<i64>,
    /// When it resolved.
    pub resolved_at: Option<i64>,
    /// When it was last queued for Alertmanager.
    pub last_sent_at: Option<i64>,
    /// `endsAt` promised to Alertmanager at the last send.
    pub valid_until: Option<i64>,
    /// First evaluation at which a firing alert was missing (with `keep_firing_for`).
    pub keep_firing_since: Option<i64>,
}

impl Alert {
    /// Prometheus's `needsSending`: never while pending; once after resolving; otherwise when
    /// the last send is more than `resend_delay` ago.
    pub fn needs_sending(&self, ts: i64, resend_delay: i64) -> bool {
        if self.state == AlertState::Pending {
            return false;
        }
        match (self.resolved_at, self.last_sent_at) {
            (_, None) => true,
            (Some(r), Some(s)) if r > s => true,
            (_, Some(s)) => s + resend_delay < ts,
        }
    }
}

/// The definition of an alerting rule as a rule file gives it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AlertingRuleDef {
    /// `alert:` (also the `alertname` label).
    pub name: String,
    /// The expression as printed by the PromQL printer (API `query`, `generatorURL`).
    pub expr: String,
    /// `for:`, ms.
    pub for_ms: i64,
    /// `keep_firing_for:`, ms.
    pub keep_firing_for_ms: i64,
    /// `labels:` (group labels merged in by the caller, rule labels winning), unexpanded.
    pub labels: Vec<(String, String)>,
    /// `annotations:`, unexpanded.
    pub annotations: Vec<(String, String)>,
}

/// Per-evaluation inputs besides the result vector.
#[derive(Clone, Copy)]
pub struct EvalContext<'a> {
    /// The group's evaluation timestamp, ms.
    pub ts: i64,
    /// The group's `query_offset`, ms: the expression was evaluated, and samples are
    /// stamped, at `ts - query_offset`.
    pub query_offset: i64,
    /// Global external labels (`$externalLabels`).
    pub external_labels: &'a Labels,
    /// `--web.external-url` (`$externalURL`, `externalURL`, `pathPrefix`).
    pub external_url: &'a str,
    /// Backend of the `query` template function (instant query at `ts`).
    pub query: Option<&'a QueryFn<'a>>,
    /// The group's `limit` on pending + firing alerts; 0 for none.
    pub limit: usize,
}

/// An alerting rule with its alerts. See the module docs for the state machine.
#[derive(Debug)]
pub struct AlertingRule {
    def: AlertingRuleDef,
    /// Rule labels, unexpanded, as a label set (base of the `ALERTS` series' labels).
    raw_labels: Labels,
    label_templates: Vec<(String, Template)>,
    annotation_templates: Vec<(String, Template)>,
    active: BTreeMap<Labels, Alert>,
    restored: bool,
    template_failures: u64,
}

impl AlertingRule {
    /// Builds a rule; every label and annotation template must parse. The rule starts
    /// unrestored (no `ALERTS` series until [`AlertingRule::set_restored`] or
    /// [`restore::restore_for_state`]); rules added by a reload should be marked restored.
    pub fn new(def: AlertingRuleDef) -> Result<AlertingRule> {
        let parse = |what: &'static str, pairs: &[(String, String)]| {
            let mut out: Vec<(String, Template)> = pairs
                .iter()
                .map(|(k, v)| {
                    Template::parse_alert(&def.name, v)
                        .map(|t| (k.clone(), t))
                        .map_err(|source| Error::Template {
                            rule: def.name.clone(),
                            what,
                            key: k.clone(),
                            source: Box::new(source),
                        })
                })
                .collect::<Result<_>>()?;
            out.sort_by(|a, b| a.0.cmp(&b.0));
            Ok::<_, Error>(out)
        };
        let label_templates = parse("label", &def.labels)?;
        let annotation_templates = parse("annotation", &def.annotations)?;
        let raw_labels = Labels::from_pairs(&def.labels).map_err(|e| Error::InvalidRuleLabels {
            rule: def.name.clone(),
            reason: e.to_string(),
        })?;
        Ok(AlertingRule {
            def,
            raw_labels,
            label_templates,
            annotation_templates,
            active: BTreeMap::new(),
            restored: false,
            template_failures: 0,
        })
    }

    /// The rule's definition.
    pub fn def(&self) -> &AlertingRuleDef {
        &self.def
    }

    /// The alert name.
    pub fn name(&self) -> &str {
        &self.def.name
    }

    /// Whether `for` state has been restored (so `ALERTS` series are written).
    pub fn restored(&self) -> bool {
        self.restored
    }

    /// Marks the rule restored (or not).
    pub fn set_restored(&mut self, restored: bool) {
        self.restored = restored;
    }

    /// Template expansions that failed so far (each became `<error expanding template: ...>`).
    pub fn template_failures(&self) -> u64 {
        self.template_failures
    }

    /// Evaluates one result vector at `ctx.ts` (see the module docs) and returns the
    /// `ALERTS` and `ALERTS_FOR_STATE` samples to append. `result` is the expression's
    /// instant vector (a scalar result is one sample with empty labels).
    ///
    /// On error (duplicate label sets, limit) nothing should be appended; a duplicate leaves
    /// the alerts as they were, an exceeded limit clears them, as in Prometheus.
    pub fn eval(
        &mut self,
        ctx: &EvalContext<'_>,
        result: &[(Labels, f64)],
    ) -> Result<Vec<(Labels, Sample)>> {
        let ts = ctx.ts;
        let env = Env {
            ts_ms: ts,
            external_url: ctx.external_url,
            query: ctx.query,
        };
        let mut fresh: BTreeMap<Labels, Alert> = BTreeMap::new();
        for (sample_labels, value) in result {
            let data = AlertData {
                labels: sample_labels,
                external_labels: ctx.external_labels,
                external_url: ctx.external_url,
                value: *value,
            };
            let mut failures = 0;
            let mut expand = |t: &Template| match t.expand_alert(&data, &env) {
                Ok(s) => s,
                Err(e) => {
                    failures += 1;
                    format!("<error expanding template: {}>", e.prometheus_message())
                }
            };
            let mut labels = sample_labels.without(strata_engine::METRIC_NAME);
            for (name, t) in &self.label_templates {
                labels = labels.with(name, &expand(t));
            }
            labels = labels.with(ALERTNAME_LABEL, &self.def.name);
            let annotations: Vec<(String, String)> = self
                .annotation_templates
                .iter()
                .map(|(name, t)| (name.clone(), expand(t)))
                .collect();
            self.template_failures += failures;
            if fresh.contains_key(&labels) {
                return Err(Error::DuplicateAlertLabelSet);
            }
            fresh.insert(
                labels.clone(),
                Alert {
                    state: AlertState::Pending,
                    labels,
                    annotations,
                    value: *value,
                    active_at: ts,
                    fired_at: None,
                    resolved_at: None,
                    last_sent_at: None,
                    valid_until: None,
                    keep_firing_since: None,
                },
            );
        }

        let present: Vec<Labels> = fresh.keys().cloned().collect();
        for (key, alert) in fresh {
            match self.active.get_mut(&key) {
                Some(a) if a.state != AlertState::Inactive => {
                    a.value = alert.value;
                    a.annotations = alert.annotations;
                }
                _ => {
                    self.active.insert(key, alert);
                }
            }
        }

        let hold = self.def.for_ms;
        let keep_for = self.def.keep_firing_for_ms;
        let stamp = ts - ctx.query_offset;
        let mut out = Vec::new();
        let mut active_count = 0;
        let mut dropped = Vec::new();
        for (key, a) in self.active.iter_mut() {
            if present.binary_search(key).is_err() {
                let mut keep_firing = false;
                if a.state == AlertState::Firing && keep_for > 0 {
                    let since = *a.keep_firing_since.get_or_insert(ts);
                    keep_firing = ts - since < keep_for;
                }
                let expired = a.resolved_at.is_some_and(|r| ts - r > RESOLVED_RETENTION);
                if a.state == AlertState::Pending || expired {
                    dropped.push(key.clone());
                }
                if a.state != AlertState::Inactive && !keep_firing {
                    a.state = AlertState::Inactive;
                    a.resolved_at = Some(ts);
                }
                if !keep_firing {
                    continue;
                }
            } else {
                a.keep_firing_since = None;
            }
            active_count += 1;
            if a.state == AlertState::Pending && ts - a.active_at >= hold {
                a.state = AlertState::Firing;
                a.fired_at = Some(ts);
            }
            // A reload may have raised `for` above the time already spent active.
            if a.state == AlertState::Firing && ts - a.active_at < hold {
                a.state = AlertState::Pending;
                a.fired_at = None;
                a.last_sent_at = None;
                a.keep_firing_since = None;
            }
            if self.restored {
                let (raw, name) = (&self.raw_labels, &self.def.name);
                out.push((
                    series_labels(raw, name, &a.labels, Some(a.state)),
                    Sample::new(stamp, 1.0),
                ));
                out.push((
                    series_labels(raw, name, &a.labels, None),
                    Sample::new(stamp, a.active_at.div_euclid(1000) as f64),
                ));
            }
        }
        for key in dropped {
            self.active.remove(&key);
        }
        if ctx.limit > 0 && active_count > ctx.limit {
            self.active.clear();
            return Err(Error::AlertLimit {
                limit: ctx.limit,
                alerts: active_count,
            });
        }
        Ok(out)
    }

    /// Labels of an alert's `ALERTS` series (with `state`) or `ALERTS_FOR_STATE` series
    /// (without): the unexpanded rule labels overridden by the alert's labels, then
    /// `__name__`, `alertname` and `alertstate`.
    pub fn series_labels(&self, alert_labels: &Labels, state: Option<AlertState>) -> Labels {
        series_labels(&self.raw_labels, &self.def.name, alert_labels, state)
    }

    /// The alerts to queue for Alertmanager after an evaluation at `ts` (Prometheus's
    /// `sendAlerts`): every non-pending alert that resolved since its last send or was last
    /// sent more than `resend_delay` ago. Marks them sent; a firing alert's `endsAt` is
    /// `ts + 4 * max(group interval, resend_delay)` so that Alertmanager resolves it by
    /// itself if Strata stops sending. `generatorURL` is `external_url` plus the table link
    /// of the rule's expression.
    pub fn alerts_to_send(
        &mut self,
        ts: i64,
        resend_delay: i64,
        group_interval: i64,
        external_url: &str,
    ) -> Vec<notifier::Alert> {
        let generator_url = format!(
            "{external_url}/graph?g0.expr={}&g0.tab=1",
            crate::template::gofmt::query_escape(&self.def.expr)
        );
        let mut out = Vec::new();
        for a in self.active.values_mut() {
            if !a.needs_sending(ts, resend_delay) {
                continue;
            }
            a.last_sent_at = Some(ts);
            let valid_until = ts + 4 * group_interval.max(resend_delay);
            a.valid_until = Some(valid_until);
            out.push(notifier::Alert {
                labels: a.labels.clone(),
                annotations: a.annotations.clone(),
                starts_at: a.fired_at,
                ends_at: Some(a.resolved_at.unwrap_or(valid_until)),
                generator_url: generator_url.clone(),
            });
        }
        out
    }

    /// Every alert held: pending, firing, and resolved ones still retained.
    pub fn alerts(&self) -> impl Iterator<Item = &Alert> {
        self.active.values()
    }

    /// Pending and firing alerts (what `/api/v1/alerts` lists), in label order.
    pub fn active_alerts(&self) -> impl Iterator<Item = &Alert> {
        self.active.values().filter(|a| a.resolved_at.is_none())
    }

    /// The rule's state: the maximum over its alerts (firing > pending > inactive).
    pub fn state(&self) -> AlertState {
        self.active
            .values()
            .map(|a| a.state)
            .max()
            .unwrap_or(AlertState::Inactive)
    }

    /// Takes over the alerts of `old` (the same rule before a reload), as Prometheus's
    /// `CopyState` does for rules with the same name and labels.
    pub fn copy_state_from(&mut self, old: &AlertingRule) {
        for (k, a) in &old.active {
            self.active.insert(k.clone(), a.clone());
        }
    }
}

/// See [`AlertingRule::series_labels`].
fn series_labels(
    raw: &Labels,
    rule_name: &str,
    alert_labels: &Labels,
    state: Option<AlertState>,
) -> Labels {
    let mut l = raw.clone();
    for lab in alert_labels {
        l = l.with(&lab.name, &lab.value);
    }
    let name = if state.is_some() {
        ALERTS_METRIC
    } else {
        ALERTS_FOR_STATE_METRIC
    };
    l = l.with(strata_engine::METRIC_NAME, name);
    l = l.with(ALERTNAME_LABEL, rule_name);
    if let Some(s) = state {
        l = l.with(ALERTSTATE_LABEL, s.as_str());
    }
    l
}

/// Runs an instant query through the embedded engine, as Prometheus's `EngineQueryFunc`:
/// a vector as is, a scalar as one sample without labels, anything else an error. Usable
/// for rule expressions and as the `query` template function.
pub fn engine_query(
    engine: &strata_query::Engine,
    expr: &str,
    t: i64,
) -> std::result::Result<Vec<(Labels, f64)>, crate::template::QueryError> {
    let res = engine.instant(expr, t)?;
    match res.value {
        strata_query::Value::Vector(v) => Ok(v.into_iter().map(|s| (s.labels, s.v)).collect()),
        strata_query::Value::Scalar { v, .. } => Ok(vec![(Labels::empty(), v)]),
        _ => Err("rule result is not a vector or scalar".into()),
    }
}

#[cfg(test)]
mod tests;

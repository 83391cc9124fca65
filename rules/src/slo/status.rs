//! `GET /api/v1/slos`: each SLO with its definition, the health of its rule group, its
//! alerts' states, and the values its rules recorded at their last evaluation.
//!
//! Values are read back from storage: the series the SLO's group wrote (selected by
//! `sloth_id`) at the exact timestamp of the group's last evaluation, so every number of
//! one SLO comes from one evaluation. They are grouped by their labels other than
//! `__name__`, `sloth_window`, the SLO's identity and its spec labels (one entry per label
//! set of an SLI kept `by` labels; a single entry with no labels otherwise). A value that
//! is missing, or not finite (no traffic: 0/0), is `null`.
//!
//! The document (`data` of the response):
//!
//! ```json
//! {"slos": [{
//!   "id": "checkout-availability", "service": "checkout", "name": "availability",
//!   "description": "...", "file": "/etc/strata/slos.yml", "spec": "prometheus/v1",
//!   "group": "sloth-slo-checkout-availability",
//!   "objective": 99.9, "objectiveRatio": 0.999, "errorBudget": 0.001,
//!   "period": "30d", "periodDays": 30, "windows": ["5m", "30m", ..., "30d"],
//!   "labels": {"team": "payments"},
//!   "health": "ok", "lastError": "...", "lastEvaluation": "2026-01-01T00:00:00Z",
//!   "evaluationTimestamp": 1767225600,
//!   "alerts": [{"name": "...", "severity": "page", "state": "firing", "active": 1}],
//!   "series": [{"labels": {}, "sli": 0.9993, "errorBudgetRemaining": 0.3,
//!               "currentBurnRate": 0.4, "periodBurnRate": 0.7,
//!               "errorRatio": {"5m": 0.0004, ..., "30d": 0.0007},
//!               "burnRate": {"5m": 0.4, ..., "30d": 0.7}}]
//! }]}
//! ```
//!
//! `sli` is `1 - errorRatio[period]`; `errorBudgetRemaining`, `currentBurnRate` and
//! `periodBurnRate` are the recorded `slo:period_error_budget_remaining:ratio`,
//! `slo:current_burn_rate:ratio` and `slo:period_burn_rate:ratio`; `burnRate[w]` is
//! `errorRatio[w] / errorBudget`, computed here with the recorded budget's arithmetic.
//! Before the first evaluation `lastEvaluation` and `evaluationTimestamp` are `null` and
//! `series` is empty.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{json, Map, Value};
use strata_engine::{is_stale, Db, Labels, MatchOp, Matcher};

use super::spec::Slo;
use crate::group::{Health, RuleEval};
use crate::manager::GroupView;

/// A finite value as a JSON number, anything else as `null`.
fn num(v: Option<f64>) -> Value {
    match v {
        Some(x) if x.is_finite() => json!(x),
        _ => Value::Null,
    }
}

/// Values of one label set.
#[derive(Default)]
struct Entry {
    ratios: BTreeMap<String, f64>,
    meta: BTreeMap<String, f64>,
}

/// The samples an SLO's rules wrote at `t`, by label set.
fn recorded(db: &Db, slo: &Slo, t: i64) -> BTreeMap<Labels, Entry> {
    let mut out: BTreeMap<Labels, Entry> = BTreeMap::new();
    let Ok(name) = Matcher::new(MatchOp::Regex, "__name__", "slo:.+") else {
        return out;
    };
    let Ok(series) = db
        .querier(t, t)
        .select(&[Matcher::equal("sloth_id", slo.id.clone()), name])
    else {
        return out;
    };
    let skip = |n: &str| {
        matches!(
            n,
            "__name__" | "sloth_window" | "sloth_id" | "sloth_service" | "sloth_slo"
        )
    };
    for s in series {
        let Some(x) = s.samples().into_iter().find(|x| x.t == t) else {
            continue;
        };
        if is_stale(x.v) {
            continue;
        }
        let metric = s.labels.metric_name().unwrap_or("").to_string();
        let key = s
            .labels
            .retain(|n| !skip(n) && slo.labels.get(n).map(String::as_str) != s.labels.get(n));
        let e = out.entry(key).or_default();
        match metric.strip_prefix("slo:sli_error:ratio_rate") {
            Some(w) => {
                e.ratios.insert(w.to_string(), x.v);
            }
            None => {
                e.meta.insert(metric, x.v);
            }
        }
    }
    out
}

fn labels_json(l: &Labels) -> Value {
    Value::Object(
        l.iter()
            .map(|x| (x.name.to_string(), Value::String(x.value.to_string())))
            .collect(),
    )
}

/// The status of one SLO; `group` is its running group, if loaded.
pub fn slo_json(slo: &Slo, group: Option<&GroupView>, db: &Db) -> Value {
    let windows = slo.window_names();
    let budget = slo.error_budget();
    let period = slo.period.to_string();
    let mut health = "unknown";
    let mut last_error = None;
    let mut alerts = Vec::new();
    let mut last_evaluation = Value::Null;
    let mut timestamp = Value::Null;
    let mut series = Vec::new();
    if let Some(g) = group {
        let rules = &g.status.rules;
        if rules.iter().any(|r| r.health == Health::Bad) {
            health = "err";
        } else if !rules.is_empty() && rules.iter().all(|r| r.health == Health::Good) {
            health = "ok";
        }
        last_error = rules.iter().find_map(|r| r.last_error.clone());
        for (i, r) in g.def.rules.iter().enumerate() {
            if r.eval != RuleEval::Alerting {
                continue;
            }
            let (state, active) = match g.alerts.get(i).and_then(|a| a.as_ref()) {
                Some(a) => {
                    let a = a.lock();
                    (a.state().as_str(), a.active_alerts().count())
                }
                None => ("inactive", 0),
            };
            alerts.push(json!({
                "name": r.spec.name,
                "severity": r.labels.get("sloth_severity").cloned().unwrap_or_default(),
                "state": state,
                "active": active,
            }));
        }
        if let Some(t) = g.status.timestamp_ms {
            last_evaluation = json!(crate::api::rfc3339_nano(g.status.last_evaluation));
            timestamp = json!(t as f64 / 1000.0);
            for (labels, e) in recorded(db, slo, t) {
                let mut ratio = Map::new();
                let mut burn = Map::new();
                for w in &windows {
                    let r = e.ratios.get(w).copied();
                    ratio.insert(w.clone(), num(r));
                    burn.insert(w.clone(), num(r.map(|r| r / budget)));
                }
                let meta = |m: &str| num(e.meta.get(m).copied());
                series.push(json!({
                    "labels": labels_json(&labels),
                    "sli": num(e.ratios.get(&period).map(|r| 1.0 - r)),
                    "errorBudgetRemaining": meta("slo:period_error_budget_remaining:ratio"),
                    "currentBurnRate": meta("slo:current_burn_rate:ratio"),
                    "periodBurnRate": meta("slo:period_burn_rate:ratio"),
                    "errorRatio": Value::Object(ratio),
                    "burnRate": Value::Object(burn),
                }));
            }
        }
    }
    let mut v = json!({
        "id": slo.id,
        "service": slo.service,
        "name": slo.name,
        "description": slo.description,
        "file": slo.file,
        "spec": slo.format.version(),
        "group": slo.group_name(),
        "objective": slo.objective,
        "objectiveRatio": slo.objective_ratio(),
        "errorBudget": budget,
        "period": period,
        "periodDays": slo.period.days(),
        "windows": windows,
        "labels": slo.labels,
        "health": health,
        "lastEvaluation": last_evaluation,
        "evaluationTimestamp": timestamp,
        "alerts": alerts,
        "series": series,
    });
    if let (Some(e), Some(o)) = (last_error, v.as_object_mut()) {
        o.insert("lastError".into(), Value::String(e));
    }
    v
}

/// The `data` object of `/api/v1/slos`: every SLO in load order.
pub fn slos_json(slos: &[Arc<Slo>], groups: &[GroupView], db: &Db) -> Value {
    let list: Vec<Value> = slos
        .iter()
        .map(|s| {
            let name = s.group_name();
            let g = groups
                .iter()
                .find(|g| g.def.file == s.file && g.def.name == name);
            slo_json(s, g, db)
        })
        .collect();
    json!({ "slos": list })
}

//! State machine tests over explicit timestamps, restore against a real database, and the
//! API JSON.

use std::time::{Duration, SystemTime};

use strata_engine::{stale_nan, Batch, Db, Labels, Options, Sample};

use super::api::{write_alert, write_alerting_rule, write_alerts_data, Health, RuleStatus};
use super::restore::{db_lookup, RestoreOptions};
use super::*;

const MIN: i64 = 60_000;
/// An arbitrary whole-second start time (2023-11-14T22:13:20Z).
const T0: i64 = 1_700_000_000_000;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs).unwrap()
}

fn up(instance: &str) -> Labels {
    labels(&[("__name__", "up"), ("instance", instance), ("job", "node")])
}

fn rule(for_ms: i64, keep_firing_for_ms: i64) -> AlertingRule {
    let mut r = AlertingRule::new(AlertingRuleDef {
        name: "InstanceDown".into(),
        expr: "up == 0".into(),
        for_ms,
        keep_firing_for_ms,
        labels: vec![("severity".into(), "page".into())],
        annotations: vec![(
            "summary".into(),
            "{{ $labels.instance }} of {{ $labels.job }} is down ({{ $value }})".into(),
        )],
    })
    .unwrap();
    r.set_restored(true);
    r
}

struct Ctx {
    ext: Labels,
}

impl Ctx {
    fn new() -> Ctx {
        Ctx {
            ext: labels(&[("cluster", "eu1")]),
        }
    }
    fn at(&self, ts: i64) -> EvalContext<'_> {
        EvalContext {
            ts,
            query_offset: 0,
            external_labels: &self.ext,
            external_url: "http://strata:9201",
            query: None,
            limit: 0,
        }
    }
}

fn states(r: &AlertingRule) -> Vec<(String, AlertState)> {
    r.alerts()
        .map(|a| (a.labels.get("instance").unwrap_or("").to_string(), a.state))
        .collect()
}

#[test]
fn pending_then_firing_after_for() {
    let c = Ctx::new();
    let mut r = rule(5 * MIN, 0);
    let res = vec![(up("a"), 0.0)];
    let out = r.eval(&c.at(T0), &res).unwrap();
    assert_eq!(states(&r), [("a".to_string(), AlertState::Pending)]);
    assert_eq!(
        out,
        vec![
            (
                labels(&[
                    ("__name__", "ALERTS"),
                    ("alertname", "InstanceDown"),
                    ("alertstate", "pending"),
                    ("instance", "a"),
                    ("job", "node"),
                    ("severity", "page"),
                ]),
                Sample::new(T0, 1.0)
            ),
            (
                labels(&[
                    ("__name__", "ALERTS_FOR_STATE"),
                    ("alertname", "InstanceDown"),
                    ("instance", "a"),
                    ("job", "node"),
                    ("severity", "page"),
                ]),
                Sample::new(T0, (T0 / 1000) as f64)
            ),
        ]
    );
    let a = r.alerts().next().unwrap();
    assert_eq!(
        a.labels,
        labels(&[
            ("alertname", "InstanceDown"),
            ("instance", "a"),
            ("job", "node"),
            ("severity", "page")
        ])
    );
    assert_eq!(
        a.annotations,
        [("summary".to_string(), "a of node is down (0)".to_string())]
    );
    // Pending alerts are never sent.
    assert!(r.alerts_to_send(T0, MIN, MIN, "").is_empty());
    for k in 1..5 {
        r.eval(&c.at(T0 + k * MIN), &res).unwrap();
        assert_eq!(r.state(), AlertState::Pending, "after {k} min");
    }
    let out = r.eval(&c.at(T0 + 5 * MIN), &res).unwrap();
    let a = r.alerts().next().unwrap();
    assert_eq!(
        (a.state, a.active_at, a.fired_at),
        (AlertState::Firing, T0, Some(T0 + 5 * MIN))
    );
    assert_eq!(out[0].0.get("alertstate"), Some("firing"));
    assert_eq!(out[1].1, Sample::new(T0 + 5 * MIN, (T0 / 1000) as f64));
    let sent = r.alerts_to_send(T0 + 5 * MIN, MIN, MIN, "http://strata:9201");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].starts_at, Some(T0 + 5 * MIN));
    assert_eq!(sent[0].ends_at, Some(T0 + 5 * MIN + 4 * MIN));
    assert_eq!(
        sent[0].generator_url,
        "http://strata:9201/graph?g0.expr=up+%3D%3D+0&g0.tab=1"
    );
}

#[test]
fn for_zero_fires_on_first_evaluation_and_values_update() {
    let c = Ctx::new();
    let mut r = rule(0, 0);
    r.eval(&c.at(T0), &[(up("a"), 0.0)]).unwrap();
    assert_eq!(r.state(), AlertState::Firing);
    r.eval(&c.at(T0 + MIN), &[(up("a"), 0.5)]).unwrap();
    let a = r.alerts().next().unwrap();
    assert_eq!((a.value, a.active_at, a.fired_at), (0.5, T0, Some(T0)));
    assert_eq!(a.annotations[0].1, "a of node is down (0.5)");
}

#[test]
fn flapping_pending_alerts_are_dropped_and_restart() {
    let c = Ctx::new();
    let mut r = rule(2 * MIN, 0);
    let res = vec![(up("a"), 0.0)];
    r.eval(&c.at(T0), &res).unwrap();
    let out = r.eval(&c.at(T0 + MIN), &[]).unwrap();
    assert!(out.is_empty() && r.alerts().next().is_none());
    assert!(r.alerts_to_send(T0 + MIN, MIN, MIN, "").is_empty());
    r.eval(&c.at(T0 + 2 * MIN), &res).unwrap();
    // The pending time starts over.
    assert_eq!(r.alerts().next().unwrap().active_at, T0 + 2 * MIN);
    r.eval(&c.at(T0 + 3 * MIN), &res).unwrap();
    assert_eq!(r.state(), AlertState::Pending);
    r.eval(&c.at(T0 + 4 * MIN), &res).unwrap();
    assert_eq!(r.state(), AlertState::Firing);
}

#[test]
fn resolved_alerts_are_kept_resent_and_dropped_after_15m() {
    let c = Ctx::new();
    let mut r = rule(0, 0);
    r.eval(&c.at(T0), &[(up("a"), 0.0)]).unwrap();
    assert_eq!(r.alerts_to_send(T0, MIN, MIN, "").len(), 1);
    // Not re-sent before the resend delay has passed.
    r.eval(&c.at(T0 + 30_000), &[(up("a"), 0.0)]).unwrap();
    assert!(r.alerts_to_send(T0 + 30_000, MIN, MIN, "").is_empty());
    let t_res = T0 + MIN;
    let out = r.eval(&c.at(t_res), &[]).unwrap();
    assert!(out.is_empty(), "no ALERTS samples for resolved alerts");
    let a = r.alerts().next().unwrap();
    assert_eq!(
        (a.state, a.resolved_at),
        (AlertState::Inactive, Some(t_res))
    );
    assert_eq!(r.active_alerts().count(), 0);
    assert_eq!(r.state(), AlertState::Inactive);
    // The resolution is sent at once although the last send was less than a minute ago.
    let sent = r.alerts_to_send(t_res, MIN, MIN, "");
    assert_eq!(
        (sent.len(), sent[0].ends_at, sent[0].starts_at),
        (1, Some(t_res), Some(T0))
    );
    // ... and re-sent every resend delay while retained.
    assert!(r.alerts_to_send(t_res + MIN, MIN, MIN, "").is_empty());
    assert_eq!(r.alerts_to_send(t_res + MIN + 1, MIN, MIN, "").len(), 1);
    r.eval(&c.at(t_res + RESOLVED_RETENTION), &[]).unwrap();
    assert_eq!(r.alerts().count(), 1, "kept for exactly 15 minutes");
    r.eval(&c.at(t_res + RESOLVED_RETENTION + 1), &[]).unwrap();
    assert_eq!(r.alerts().count(), 0);
}

#[test]
fn resolved_alert_that_comes_back_starts_pending_again() {
    let c = Ctx::new();
    let mut r = rule(MIN, 0);
    let res = vec![(up("a"), 0.0)];
    r.eval(&c.at(T0), &res).unwrap();
    r.eval(&c.at(T0 + MIN), &res).unwrap();
    r.eval(&c.at(T0 + 2 * MIN), &[]).unwrap();
    assert_eq!(r.state(), AlertState::Inactive);
    r.eval(&c.at(T0 + 3 * MIN), &res).unwrap();
    let a = r.alerts().next().unwrap();
    assert_eq!(
        (a.state, a.active_at, a.resolved_at),
        (AlertState::Pending, T0 + 3 * MIN, None)
    );
}

#[test]
fn keep_firing_for_holds_a_missing_alert() {
    let c = Ctx::new();
    let mut r = rule(0, 3 * MIN);
    let res = vec![(up("a"), 0.0)];
    r.eval(&c.at(T0), &res).unwrap();
    // First missed at T0 + 1m; kept while ts - (T0 + 1m) < 3m.
    for k in 1..=4 {
        let out = r.eval(&c.at(T0 + k * MIN), &[]).unwrap();
        if k < 4 {
            let a = r.alerts().next().unwrap();
            assert_eq!(
                (a.state, a.keep_firing_since),
                (AlertState::Firing, Some(T0 + MIN))
            );
            assert_eq!(out.len(), 2, "ALERTS written while kept firing");
            assert_eq!(r.active_alerts().count(), 1);
        } else {
            // ts - keep_firing_since == keep_firing_for: resolved.
            let a = r.alerts().next().unwrap();
            assert_eq!(
                (a.state, a.resolved_at),
                (AlertState::Inactive, Some(T0 + 4 * MIN))
            );
            assert!(out.is_empty());
        }
    }
    // Reappearing resets keep_firing_since.
    let mut r = rule(0, 3 * MIN);
    r.eval(&c.at(T0), &res).unwrap();
    r.eval(&c.at(T0 + MIN), &[]).unwrap();
    r.eval(&c.at(T0 + 2 * MIN), &res).unwrap();
    assert_eq!(r.alerts().next().unwrap().keep_firing_since, None);
    r.eval(&c.at(T0 + 3 * MIN), &[]).unwrap();
    assert_eq!(
        r.alerts().next().unwrap().keep_firing_since,
        Some(T0 + 3 * MIN)
    );
    // Pending alerts are not kept.
    let mut r = rule(5 * MIN, 3 * MIN);
    r.eval(&c.at(T0), &res).unwrap();
    r.eval(&c.at(T0 + MIN), &[]).unwrap();
    assert_eq!(r.alerts().count(), 0);
}

#[test]
fn duplicate_label_sets_after_templating_are_an_error() {
    let c = Ctx::new();
    let mut r = AlertingRule::new(AlertingRuleDef {
        name: "A".into(),
        expr: "x".into(),
        labels: vec![("instance".into(), "{{ $labels.job }}".into())],
        ..Default::default()
    })
    .unwrap();
    r.set_restored(true);
    r.eval(&c.at(T0), &[(up("a"), 1.0)]).unwrap();
    let before: Vec<Alert> = r.alerts().cloned().collect();
    // Both samples map to {alertname="A", instance="node", job="node"}.
    let err = r
        .eval(&c.at(T0 + MIN), &[(up("a"), 1.0), (up("b"), 1.0)])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "vector contains metrics with the same labelset after applying alert labels"
    );
    assert_eq!(
        r.alerts().cloned().collect::<Vec<_>>(),
        before,
        "state unchanged"
    );
    // Samples differing only in __name__ collide too.
    let err = r
        .eval(
            &c.at(T0 + MIN),
            &[(up("a"), 1.0), (up("a").with("__name__", "other"), 1.0)],
        )
        .unwrap_err();
    assert!(matches!(err, Error::DuplicateAlertLabelSet));
}

#[test]
fn value_in_labels_restarts_the_alert_each_time() {
    let c = Ctx::new();
    let mut r = AlertingRule::new(AlertingRuleDef {
        name: "A".into(),
        expr: "x".into(),
        for_ms: MIN,
        labels: vec![("v".into(), "{{ $value }}".into())],
        ..Default::default()
    })
    .unwrap();
    r.eval(&c.at(T0), &[(up("a"), 1.0)]).unwrap();
    r.eval(&c.at(T0 + MIN), &[(up("a"), 2.0)]).unwrap();
    let a: Vec<&Alert> = r.alerts().collect();
    assert_eq!(a.len(), 1);
    assert_eq!(
        (a[0].labels.get("v"), a[0].state, a[0].active_at),
        (Some("2"), AlertState::Pending, T0 + MIN)
    );
}

#[test]
fn template_errors_become_annotation_text_and_the_alert_still_fires() {
    let c = Ctx::new();
    let mut r = AlertingRule::new(AlertingRuleDef {
        name: "A".into(),
        expr: "x".into(),
        annotations: vec![
            ("bad".into(), "{{ humanize $labels.job }}".into()),
            (
                "ext".into(),
                "{{ $externalLabels.cluster }} {{ $externalURL }}".into(),
            ),
        ],
        ..Default::default()
    })
    .unwrap();
    r.eval(&c.at(T0), &[(up("a"), 1.0)]).unwrap();
    let a = r.alerts().next().unwrap();
    assert_eq!(a.state, AlertState::Firing);
    assert_eq!(
        a.annotations[0].1,
        "<error expanding template: error executing template __alert_A: template: __alert_A:1:115: \
         executing \"__alert_A\" at <humanize $labels.job>: error calling humanize: \
         strconv.ParseFloat: parsing \"node\": invalid syntax>"
    );
    assert_eq!(a.annotations[1].1, "eu1 http://strata:9201");
    assert_eq!(r.template_failures(), 1);
    // A template that does not parse is a load error with its position.
    let e = AlertingRule::new(AlertingRuleDef {
        name: "A".into(),
        annotations: vec![("s".into(), "ok {{ .x | nope }}".into())],
        ..Default::default()
    })
    .unwrap_err();
    match e {
        Error::Template {
            what, key, source, ..
        } => {
            assert_eq!(
                (what, key.as_str(), source.offset),
                ("annotation", "s", Some(11))
            );
        }
        other => panic!("{other}"),
    }
}

#[test]
fn limit_clears_state() {
    let c = Ctx::new();
    let mut r = rule(0, 0);
    let mut ctx = c.at(T0);
    ctx.limit = 2;
    r.eval(&ctx, &[(up("a"), 0.0), (up("b"), 0.0)]).unwrap();
    assert_eq!(r.alerts().count(), 2);
    let err = r
        .eval(&ctx, &[(up("a"), 0.0), (up("b"), 0.0), (up("c"), 0.0)])
        .unwrap_err();
    assert_eq!(err.to_string(), "exceeded limit of 2 with 3 alerts");
    assert_eq!(r.alerts().count(), 0);
}

#[test]
fn query_offset_stamps_samples_and_unrestored_rules_write_nothing() {
    let c = Ctx::new();
    let mut r = rule(0, 0);
    let mut ctx = c.at(T0);
    ctx.query_offset = 30_000;
    let out = r.eval(&ctx, &[(up("a"), 0.0)]).unwrap();
    assert!(out.iter().all(|(_, s)| s.t == T0 - 30_000));
    r.set_restored(false);
    assert!(r
        .eval(&c.at(T0 + MIN), &[(up("a"), 0.0)])
        .unwrap()
        .is_empty());
    assert_eq!(
        r.state(),
        AlertState::Firing,
        "state is kept while unrestored"
    );
}

#[test]
fn reload_copies_state_and_a_longer_for_returns_to_pending() {
    let c = Ctx::new();
    let mut old = rule(0, 0);
    old.eval(&c.at(T0), &[(up("a"), 0.0)]).unwrap();
    assert_eq!(old.state(), AlertState::Firing);
    let mut new = rule(10 * MIN, 0);
    new.copy_state_from(&old);
    new.eval(&c.at(T0 + MIN), &[(up("a"), 0.0)]).unwrap();
    let a = new.alerts().next().unwrap();
    assert_eq!(
        (a.state, a.active_at, a.fired_at),
        (AlertState::Pending, T0, None)
    );
}

/// Writes what `rule` produced at each step into `db`, as the group runner would.
fn append(db: &Db, samples: Vec<(Labels, Sample)>) {
    let mut b = Batch::new();
    for (l, s) in samples {
        b.push(l, vec![s]);
    }
    db.append(&b).unwrap();
}

#[test]
fn restores_for_state_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(
        dir.path(),
        Options {
            ..Options::default()
        },
    )
    .unwrap();
    let c = Ctx::new();
    let hold = 30 * MIN;
    let opts = RestoreOptions::default();
    // Before the restart: a fired at T0 (pending since T0 - 40m), b pending since T0 - 25m,
    // d pending since T0 - 5m, e pending then gone (stale marker).
    let mut before = rule(hold, 0);
    let res =
        |names: &[&str]| -> Vec<(Labels, f64)> { names.iter().map(|n| (up(n), 0.0)).collect() };
    before
        .eval(&c.at(T0 - 40 * MIN), &res(&["a"]))
        .map(|s| append(&db, s))
        .unwrap();
    before
        .eval(&c.at(T0 - 25 * MIN), &res(&["a", "b"]))
        .map(|s| append(&db, s))
        .unwrap();
    before
        .eval(&c.at(T0 - 5 * MIN), &res(&["a", "b", "d", "e"]))
        .map(|s| append(&db, s))
        .unwrap();
    let last = before.eval(&c.at(T0), &res(&["a", "b", "d", "e"])).unwrap();
    append(&db, last.clone());
    let e_state = last
        .iter()
        .find(|(l, _)| l.get("instance") == Some("e") && l.get("alertstate").is_none())
        .unwrap()
        .0
        .clone();
    append(&db, vec![(e_state, Sample::new(T0 + 1, stale_nan()))]);
    assert_eq!(
        before
            .alerts()
            .find(|a| a.labels.get("instance") == Some("a"))
            .unwrap()
            .state,
        AlertState::Firing
    );

    // Down for 10 minutes. After the restart the rule is evaluated twice, then restored.
    let now = T0 + 10 * MIN;
    let mut after = rule(hold, 0);
    after.set_restored(false);
    let all = res(&["a", "b", "d", "e"]);
    assert!(after.eval(&c.at(now - MIN), &all).unwrap().is_empty());
    assert!(after.eval(&c.at(now), &all).unwrap().is_empty());
    let n = after
        .restore_for_state(now, &opts, &mut db_lookup(&db))
        .unwrap();
    assert_eq!(n, 3);
    assert!(after.restored());
    let active_at = |i: &str| {
        after
            .alerts()
            .find(|a| a.labels.get("instance") == Some(i))
            .unwrap()
            .active_at
    };
    // a had already fired: its old active_at comes back and it fires at the next evaluation.
    assert_eq!(active_at("a"), T0 - 40 * MIN);
    // b had 5m of `for` left, less than the grace period: it fires one grace period from now.
    assert_eq!(active_at("b"), now + opts.for_grace_period - hold);
    // d had 25m left: the outage (T0 .. now) does not count.
    assert_eq!(active_at("d"), T0 - 5 * MIN + 10 * MIN);
    // e's last sample is a stale marker: it starts over.
    assert_eq!(active_at("e"), now - MIN);
    let out = after.eval(&c.at(now + MIN), &all).unwrap();
    let st = |r: &AlertingRule, i: &str| {
        r.alerts()
            .find(|a| a.labels.get("instance") == Some(i))
            .unwrap()
            .state
    };
    assert_eq!(st(&after, "a"), AlertState::Firing);
    assert_eq!(st(&after, "b"), AlertState::Pending);
    assert_eq!(
        out.len(),
        8,
        "ALERTS and ALERTS_FOR_STATE for four alerts once restored"
    );
    after
        .eval(&c.at(now + opts.for_grace_period), &all)
        .unwrap();
    assert_eq!(st(&after, "b"), AlertState::Firing);
}

#[test]
fn restore_details() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(
        dir.path(),
        Options {
            ..Options::default()
        },
    )
    .unwrap();
    let c = Ctx::new();
    let opts = RestoreOptions::default();
    // A `for` below the grace period is not restored from storage.
    let mut short = rule(5 * MIN, 0);
    short.set_restored(false);
    short.eval(&c.at(T0), &[(up("a"), 0.0)]).unwrap();
    let mut never = |_: &[strata_engine::Matcher],
                     _: i64,
                     _: i64|
     -> Result<Vec<(Labels, Vec<Sample>)>, strata_engine::Error> {
        panic!("short rules do not query storage")
    };
    assert_eq!(short.restore_for_state(T0, &opts, &mut never).unwrap(), 0);
    assert!(short.restored());
    // Samples older than the outage tolerance are not used.
    let mut old = rule(30 * MIN, 0);
    let s = old.eval(&c.at(T0), &[(up("a"), 0.0)]).unwrap();
    append(&db, s);
    let mut after = rule(30 * MIN, 0);
    after.set_restored(false);
    let now = T0 + 2 * 60 * MIN;
    after.eval(&c.at(now), &[(up("a"), 0.0)]).unwrap();
    assert_eq!(
        after
            .restore_for_state(now, &opts, &mut db_lookup(&db))
            .unwrap(),
        0
    );
    assert_eq!(after.alerts().next().unwrap().active_at, now);
    // Templated rule labels are left out of the matchers.
    let r = AlertingRule::new(AlertingRuleDef {
        name: "A".into(),
        labels: vec![
            ("sev".into(), "page".into()),
            ("x".into(), "{{ $value }}".into()),
        ],
        ..Default::default()
    })
    .unwrap();
    let m: Vec<String> = r
        .for_state_matchers()
        .iter()
        .map(|m| format!("{}={}", m.name, m.value))
        .collect();
    assert_eq!(m, ["__name__=ALERTS_FOR_STATE", "alertname=A", "sev=page"]);
    // A storage error still marks the rule restored.
    let mut failing = rule(30 * MIN, 0);
    failing.set_restored(false);
    let mut broken = |_: &[strata_engine::Matcher],
                      _: i64,
                      _: i64|
     -> Result<Vec<(Labels, Vec<Sample>)>, strata_engine::Error> {
        Err(strata_engine::Error::InvalidLabels("boom".into()))
    };
    assert!(failing.restore_for_state(T0, &opts, &mut broken).is_err());
    assert!(failing.restored());
}

#[test]
fn api_json_matches_prometheus() {
    let c = Ctx::new();
    let mut r = AlertingRule::new(AlertingRuleDef {
        name: "HighValue".into(),
        expr: "vector(0.073) > 0".into(),
        for_ms: 0,
        keep_firing_for_ms: 120_000,
        labels: vec![
            ("severity".into(), "page".into()),
            ("empty".into(), "".into()),
        ],
        annotations: vec![("summary".into(), "v={{ $value }} <b>".into())],
    })
    .unwrap();
    let t = 1_796_380_689_632;
    r.eval(&c.at(t), &[(Labels::empty(), 0.073)]).unwrap();
    // Shapes as Prometheus serves them (checked against Prometheus 2.42's /api/v1/rules and
    // /api/v1/alerts for the same rule), times at millisecond precision here.
    let alert = r#"{"labels":{"alertname":"HighValue","severity":"page"},"annotations":{"summary":"v=0.073 \u003cb\u003e"},"state":"firing","activeAt":"2026-12-04T10:38:09.632Z","value":"7.3e-02"}"#;
    let mut s = String::new();
    write_alert(&mut s, r.alerts().next().unwrap());
    assert_eq!(s, alert);
    let status = RuleStatus {
        health: Health::Ok,
        last_error: None,
        evaluation_seconds: 0.000374716,
        last_evaluation: Some(
            SystemTime::UNIX_EPOCH + Duration::from_nanos(1_796_380_692_634_349_104),
        ),
    };
    let mut s = String::new();
    write_alerting_rule(&mut s, &r, &status, false);
    assert_eq!(
        s,
        format!(
            r#"{{"state":"firing","name":"HighValue","query":"vector(0.073) \u003e 0","duration":0,"keepFiringFor":120,"labels":{{"empty":"","severity":"page"}},"annotations":{{"summary":"v={{{{ $value }}}} \u003cb\u003e"}},"alerts":[{alert}],"health":"ok","evaluationTime":0.000374716,"lastEvaluation":"2026-12-04T10:38:12.634349104Z","type":"alerting"}}"#
        )
    );
    let mut s = String::new();
    write_alerts_data(&mut s, [&r]);
    assert_eq!(s, format!(r#"{{"alerts":[{alert}]}}"#));
    // Before the first evaluation; with an error; with exclude_alerts; kept firing.
    let fresh = rule(10 * MIN, 0);
    let mut s = String::new();
    write_alerting_rule(&mut s, &fresh, &RuleStatus::default(), true);
    let v: serde_json::Value = serde_json::from_str(&s).unwrap();
    assert_eq!(v["state"], "unknown");
    assert_eq!(v["health"], "unknown");
    assert_eq!(v["duration"], 600);
    assert_eq!(v["alerts"], serde_json::Value::Null);
    assert_eq!(v["lastEvaluation"], "0001-01-01T00:00:00Z");
    assert!(v.get("lastError").is_none());
    let mut s = String::new();
    let err = RuleStatus {
        health: Health::Err,
        last_error: Some("exceeded limit of 1 with 2 alerts".into()),
        last_evaluation: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1)),
        ..Default::default()
    };
    write_alerting_rule(&mut s, &fresh, &err, false);
    let v: serde_json::Value = serde_json::from_str(&s).unwrap();
    assert_eq!(
        (v["state"].as_str(), v["health"].as_str()),
        (Some("inactive"), Some("err"))
    );
    assert_eq!(v["lastError"], "exceeded limit of 1 with 2 alerts");
    assert_eq!(v["alerts"], serde_json::json!([]));
    let mut k = rule(0, 5 * MIN);
    k.eval(&c.at(T0), &[(up("a"), 0.0)]).unwrap();
    k.eval(&c.at(T0 + MIN), &[]).unwrap();
    let mut s = String::new();
    write_alert(&mut s, k.alerts().next().unwrap());
    let v: serde_json::Value = serde_json::from_str(&s).unwrap();
    assert_eq!(v["keepFiringSince"], "2023-11-14T22:14:20Z");
    assert_eq!(v["value"], "0e+00");
}

#[test]
fn engine_query_runs_instant_queries() {
    let dir = tempfile::tempdir().unwrap();
    let db = std::sync::Arc::new(
        Db::open(
            dir.path(),
            Options {
                ..Options::default()
            },
        )
        .unwrap(),
    );
    append(
        &db,
        vec![
            (up("a"), Sample::new(T0, 0.0)),
            (up("b"), Sample::new(T0, 1.0)),
        ],
    );
    let engine = strata_query::Engine::new(db);
    let v = engine_query(&engine, "up == 0", T0).unwrap();
    assert_eq!(v, vec![(up("a"), 0.0)]);
    assert_eq!(
        engine_query(&engine, "1 + 1", T0).unwrap(),
        vec![(Labels::empty(), 2.0)]
    );
    assert_eq!(
        engine_query(&engine, "\"s\"", T0).unwrap_err().to_string(),
        "rule result is not a vector or scalar"
    );
    assert!(engine_query(&engine, "up[", T0).is_err());
}

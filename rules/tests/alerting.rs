//! Alerting rules run by a group: the alert state machine over real evaluations, `ALERTS`
//! and `ALERTS_FOR_STATE` appended and staled like recorded series, state kept across a
//! reload, `for` state restored after a restart, and `/api/v1/alerts` and `/api/v1/rules`
//! showing the alerts.

use std::collections::BTreeMap;
use std::sync::Arc;

use strata_engine::{is_stale, Batch, Db, Labels, Matcher, Options, Sample};
use strata_query::Engine;
use strata_rules::api::{rules_json, RulesQuery};
use strata_rules::file;
use strata_rules::group::{EvalContext, Group, GroupDef};
use strata_rules::manager::GroupView;
use strata_rules::metrics::GroupMetrics;
use strata_rules::schedule::Alignment;

const T0: i64 = 1_700_000_000_000;
const MIN: i64 = 60_000;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs).unwrap()
}

/// `temp{room="a"}` is hot (100) from minute 10 to 20, `temp{room="b"}` always cool (20);
/// both every 15 s for 40 minutes.
fn fill(db: &Db) {
    let mut b = Batch::new();
    for room in ["a", "b"] {
        let s = (0..160)
            .map(|k| {
                let t = T0 + k * 15_000 + 500;
                let hot = room == "a" && (40..80).contains(&k);
                Sample::new(t, if hot { 100.0 } else { 20.0 })
            })
            .collect();
        b.push(labels(&[("__name__", "temp"), ("room", room)]), s);
    }
    db.append(&b).unwrap();
}

const RULES: &str = "\
groups:
  - name: heat
    rules:
      - alert: Hot
        expr: temp > 50
        for: 2m
        labels: {severity: page}
        annotations:
          summary: \"room {{ $labels.room }} at {{ $value }}\"
";

fn def(text: &str) -> Arc<GroupDef> {
    let f = file::parse("/rules/heat.yml", text).unwrap();
    Arc::new(GroupDef::new(
        &f.path,
        &f.groups[0],
        MIN,
        Alignment::Prometheus3,
    ))
}

fn at(db: &Db, name: &str, t: i64) -> BTreeMap<Labels, f64> {
    db.querier(t, t)
        .select(&[Matcher::equal("__name__", name)])
        .unwrap()
        .into_iter()
        .filter_map(|s| {
            s.samples()
                .into_iter()
                .find(|x| x.t == t)
                .map(|x| (s.labels.clone(), x.v))
        })
        .collect()
}

fn alerts_series(state: &str) -> Labels {
    labels(&[
        ("__name__", "ALERTS"),
        ("alertname", "Hot"),
        ("alertstate", state),
        ("room", "a"),
        ("severity", "page"),
    ])
}

#[test]
fn pending_firing_resolved_with_alerts_series() {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Db::open(dir.path(), Options::default()).unwrap());
    fill(&db);
    let ctx = EvalContext::new(Engine::new(db.clone()));
    let mut g = Group::new(def(RULES), Arc::new(GroupMetrics::default()));
    let t = |m: i64| T0 + m * MIN;
    // Minute 9: nothing. 11: pending. 12: still pending. 13: firing (for 2m).
    g.eval(&ctx, t(9), &|| false);
    assert!(at(&db, "ALERTS", t(9)).is_empty());
    g.eval(&ctx, t(11), &|| false);
    assert_eq!(
        at(&db, "ALERTS", t(11)),
        BTreeMap::from([(alerts_series("pending"), 1.0)])
    );
    let fs = at(&db, "ALERTS_FOR_STATE", t(11));
    assert_eq!(
        fs.values().copied().collect::<Vec<_>>(),
        vec![(t(11) / 1000) as f64]
    );
    g.eval(&ctx, t(12), &|| false);
    assert_eq!(at(&db, "ALERTS", t(12))[&alerts_series("pending")], 1.0);
    g.eval(&ctx, t(13), &|| false);
    let a = at(&db, "ALERTS", t(13));
    assert_eq!(a[&alerts_series("firing")], 1.0);
    assert!(
        is_stale(a[&alerts_series("pending")]),
        "the pending series ends with a stale marker"
    );
    // The API shows it firing, with its expanded annotation.
    let views = vec![GroupView {
        def: g.def().clone(),
        status: g.status().lock().clone(),
        run_id: 1,
        alerts: g.alerts().clone(),
    }];
    let rules: serde_json::Value =
        serde_json::from_str(&rules_json(&views, &RulesQuery::default()).unwrap()).unwrap();
    let r = &rules["groups"][0]["rules"][0];
    assert_eq!(r["state"], "firing");
    assert_eq!(r["health"], "ok");
    assert_eq!(r["alerts"][0]["annotations"]["summary"], "room a at 100");
    assert_eq!(r["alerts"][0]["value"], "1e+02");
    // Minute 21: room a is cool again; the alert resolves and its series are staled.
    g.eval(&ctx, t(21), &|| false);
    let a = at(&db, "ALERTS", t(21));
    assert!(is_stale(a[&alerts_series("firing")]));
    assert!(g.alerts()[0]
        .as_ref()
        .unwrap()
        .lock()
        .active_alerts()
        .next()
        .is_none());
}

#[test]
fn reload_keeps_alerts_and_restart_restores_for_state() {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Db::open(dir.path(), Options::default()).unwrap());
    fill(&db);
    let ctx = EvalContext::new(Engine::new(db.clone()));
    let long = RULES.replace("for: 2m", "for: 30m");
    let mut g = Group::new(def(&long), Arc::new(GroupMetrics::default()));
    let t = |m: i64| T0 + m * MIN;
    g.eval(&ctx, t(11), &|| false);
    g.eval(&ctx, t(12), &|| false);
    // A reload that changes the group (another rule added) keeps the pending alert.
    let edited = format!("{long}      - record: x\n        expr: vector(1)\n");
    let mut g2 = Group::new(def(&edited), Arc::new(GroupMetrics::default()));
    g2.copy_state_from(g);
    g2.eval(&ctx, t(13), &|| false);
    let fs = at(&db, "ALERTS_FOR_STATE", t(13));
    assert_eq!(
        fs.values().copied().collect::<Vec<_>>(),
        vec![(t(11) / 1000) as f64]
    );

    // A restart: a fresh group whose alerts wait to be restored writes no ALERTS ...
    let mut g3 = Group::new(def(&long), Arc::new(GroupMetrics::default()));
    g3.set_needs_restore();
    g3.eval(&ctx, t(15), &|| false);
    assert!(at(&db, "ALERTS_FOR_STATE", t(15)).is_empty());
    // ... until restore reads ALERTS_FOR_STATE: the old active time, moved forward by the
    // two minutes the "server" was down (13 -> 15).
    assert_eq!(g3.restore(&ctx, t(15)), 1);
    assert!(!g3.needs_restore());
    g3.eval(&ctx, t(16), &|| false);
    let fs = at(&db, "ALERTS_FOR_STATE", t(16));
    assert_eq!(
        fs.values().copied().collect::<Vec<_>>(),
        vec![(t(13) / 1000) as f64]
    );
}

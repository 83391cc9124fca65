//! The manager with real threads and the wall clock: groups run on their slots, reloads keep
//! unchanged groups, restart changed ones, stale the series of removed ones, and a bad file
//! changes nothing. Intervals are short; every wait polls with a generous deadline (no
//! timing asserts).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use strata_engine::{is_stale, Db, Matcher, Options, Sample};
use strata_rules::{Manager, ManagerOptions};

fn samples(db: &Db, name: &str) -> Vec<Sample> {
    db.querier(i64::MIN, i64::MAX)
        .select(&[Matcher::equal("__name__", name)])
        .unwrap()
        .into_iter()
        .flat_map(|s| s.samples())
        .collect()
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

fn run_id(m: &Manager, name: &str) -> u64 {
    m.groups()
        .iter()
        .find(|g| g.def.name == name)
        .map(|g| g.run_id)
        .unwrap_or_else(|| panic!("no group {name}"))
}

#[test]
fn reloads_keep_restart_and_stale_groups() {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Db::open(dir.path().join("data"), Options::default()).unwrap());
    let rules = dir.path().join("rules.yml");
    write(
        &rules,
        "groups:\n- name: g1\n  rules:\n  - record: one\n    expr: vector(1)\n\
         - name: g2\n  rules:\n  - record: two\n    expr: vector(2)\n",
    );
    let m = Manager::new(db.clone(), ManagerOptions::default());
    let r = m.load(&[&rules], 150).unwrap();
    assert_eq!((r.started, r.unchanged, r.removed), (2, 0, 0));
    wait_for("first evaluations", || {
        samples(&db, "one").len() >= 2 && !samples(&db, "two").is_empty()
    });
    let (id1, id2) = (run_id(&m, "g1"), run_id(&m, "g2"));
    // Evaluations land on the group's slots, 150 ms apart.
    let one = samples(&db, "one");
    assert_eq!((one[1].t - one[0].t) % 150, 0, "{one:?}");

    // g1 unchanged, g2 changed, g3 new.
    write(
        &rules,
        "groups:\n- name: g1\n  rules:\n  - record: one\n    expr: vector(1)\n\
         - name: g2\n  rules:\n  - record: two\n    expr: vector(3)\n\
         - name: g3\n  rules:\n  - record: three\n    expr: vector(3)\n",
    );
    let r = m.load(&[&rules], 150).unwrap();
    assert_eq!((r.started, r.unchanged, r.removed), (2, 1, 0));
    assert_eq!(run_id(&m, "g1"), id1);
    assert_ne!(run_id(&m, "g2"), id2);
    wait_for("the changed rule", || {
        samples(&db, "two").iter().any(|s| s.v == 3.0)
    });

    // A bad file changes nothing.
    write(
        &rules,
        "groups:\n- name: g1\n  rules:\n  - record: one\n    expr: sum(\n",
    );
    let e = m.load(&[&rules], 150).unwrap_err().to_string();
    assert!(e.contains("could not parse expression"), "{e}");
    assert_eq!(m.len(), 3);
    assert_eq!(run_id(&m, "g1"), id1);

    // Removing g2: its series are marked stale two intervals later.
    write(
        &rules,
        "groups:\n- name: g1\n  rules:\n  - record: one\n    expr: vector(1)\n\
         - name: g3\n  rules:\n  - record: three\n    expr: vector(3)\n",
    );
    let r = m.load(&[&rules], 150).unwrap();
    assert_eq!((r.started, r.unchanged, r.removed), (0, 2, 1));
    wait_for("a stale marker on the removed group's series", || {
        samples(&db, "two").last().is_some_and(|s| is_stale(s.v))
    });
    let two = samples(&db, "two");
    assert_eq!(two.iter().filter(|s| is_stale(s.v)).count(), 1);

    let mut metrics = String::new();
    m.render_metrics(&mut metrics);
    let key = format!("{};g1", rules.display());
    assert!(
        metrics.contains(&format!(
            "prometheus_rule_group_rules{{rule_group=\"{key}\"}} 1\n"
        )),
        "{metrics}"
    );
    assert!(!metrics.contains(";g2\""), "removed groups leave /metrics");
    m.stop();
    // Stopped: no more evaluations, and updates are ignored.
    let n = samples(&db, "one").len();
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(samples(&db, "one").len(), n);
    assert_eq!(m.load(&[&rules], 150).unwrap().started, 0);
}

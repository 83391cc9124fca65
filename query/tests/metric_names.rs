//! Metric names over series whose labels the head interned (one shared allocation per
//! string, so that most series lead with the very same `__name__` label): the checks that
//! read a name per series (the "might not be a counter" info of `rate`, whether dropping
//! names can make two results collide) answer as they do over label sets read one by one,
//! also where `__name__` is not the first label (an upper-case label name sorts before it).

use std::sync::Arc;

use strata_engine::{Batch, Db, Labels, Options, Sample};
use strata_query::{Engine, Value};

const T0: i64 = 1_700_000_000_000;

fn engine(dir: &std::path::Path) -> Engine {
    let db = Arc::new(
        Db::open(
            dir,
            Options {
                background: false,
                retention: None,
                ..Options::default()
            },
        )
        .unwrap(),
    );
    let mut b = Batch::new();
    let mut add = |pairs: &[(&str, &str)]| {
        let samples = (0..20)
            .map(|k| Sample::new(T0 + k * 15_000, (k * 3) as f64))
            .collect();
        b.push(Labels::from_pairs(pairs).unwrap(), samples);
    };
    for pod in ["p0", "p1", "p2", "p3"] {
        add(&[("__name__", "c_total"), ("pod", pod)]);
    }
    // Sorted after every `c_total` series, and colliding with `c_total{pod="p0"}` once the
    // names are dropped.
    add(&[("__name__", "g"), ("pod", "p0")]);
    add(&[("__name__", "g"), ("pod", "r")]);
    // `A` sorts before `__name__`: the name is not the first label here.
    add(&[("A", "x"), ("__name__", "c_total"), ("pod", "q")]);
    add(&[("A", "x"), ("__name__", "g"), ("pod", "q")]);
    db.append(&b).unwrap();
    Engine::new(db)
}

const AT: i64 = T0 + 19 * 15_000;

fn series(v: Value) -> usize {
    match v {
        Value::Vector(v) => v.len(),
        other => panic!("expected a vector, got {other:?}"),
    }
}

#[test]
fn rate_notes_each_name_that_is_not_a_counter_once() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    let r = e.instant("rate(c_total[5m])", AT).unwrap();
    assert!(r.infos.is_empty(), "{:?}", r.infos);
    let r = e.instant(r#"rate({pod=~"p1|p2|p3"}[5m])"#, AT).unwrap();
    assert!(r.infos.is_empty(), "{:?}", r.infos);
    // A gauge after three counters that lead with the same interned label.
    let r = e
        .instant(
            r#"rate({__name__=~"c_total|g", pod=~"p1|p2|p3|r"}[5m])"#,
            AT,
        )
        .unwrap();
    assert_eq!(r.infos.len(), 1, "{:?}", r.infos);
    assert!(r.infos[0].contains("\"g\""), "{:?}", r.infos);
    // The same where the name is the second label.
    let r = e.instant(r#"rate({A="x", __name__="g"}[5m])"#, AT).unwrap();
    assert_eq!(r.infos.len(), 1, "{:?}", r.infos);
}

#[test]
fn dropping_different_names_that_collide_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    // One name: names dropped, nothing collides.
    let r = e.instant("rate(c_total[5m])", AT).unwrap();
    assert_eq!(series(r.value), 5);
    // `c_total{pod="p0"}` and `g{pod="p0"}` become the same label set.
    let err = e
        .instant(r#"rate({__name__=~"c_total|g", pod="p0"}[5m])"#, AT)
        .unwrap_err();
    assert!(err.to_string().contains("same labelset"), "{err}");
    let err = e
        .instant(r#"rate({__name__=~"c_total|g", pod=~"p.*"}[5m])"#, AT)
        .unwrap_err();
    assert!(err.to_string().contains("same labelset"), "{err}");
    // Where the name is not the first label.
    let err = e.instant(r#"rate({A="x"}[5m])"#, AT).unwrap_err();
    assert!(err.to_string().contains("same labelset"), "{err}");
    // Different names that do not collide once dropped.
    let r = e
        .instant(r#"rate({__name__=~"c_total|g", pod=~"p1|r"}[5m])"#, AT)
        .unwrap();
    assert_eq!(series(r.value), 2);
}

//! Group evaluation over generated data, against the same PromQL evaluated by hand with
//! `Engine::instant`: recorded values and labels, ordering within a group, stale markers,
//! state carried over a reload, failing rules, and missed iterations on a simulated clock.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use parking_lot::Mutex;
use strata_engine::{is_stale, Batch, Db, Labels, Matcher, Options, Sample};
use strata_query::{Engine, Value};
use strata_rules::file;
use strata_rules::group::{EvalContext, Group, GroupDef, Health};
use strata_rules::metrics::GroupMetrics;
use strata_rules::runner::{self, Clock, Stop};
use strata_rules::schedule::Alignment;

const T0: i64 = 1_700_000_000_000;
const MIN: i64 = 60_000;

fn open() -> (tempfile::TempDir, Arc<Db>) {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Db::open(dir.path(), Options::default()).unwrap());
    (dir, db)
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs).unwrap()
}

/// 40 minutes of a small fleet from T0: request counters by job, instance and status, a
/// latency histogram, and `up`. Instance `b-2` stops after 20 minutes.
fn fill(db: &Db) {
    let mut batch = Batch::new();
    let mut seed = 7u64;
    let mut rnd = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as f64 / (1u64 << 31) as f64
    };
    for (job, inst) in [("a", "a-1"), ("a", "a-2"), ("b", "b-1"), ("b", "b-2")] {
        let stop = if inst == "b-2" { 80 } else { 160 };
        let jitter: i64 = 137 + (inst.len() as i64 * 31) % 500;
        for (status, share) in [("200", 0.95), ("500", 0.05)] {
            let mut v = 1e5;
            let mut s = Vec::new();
            for k in 0..stop {
                v += (10.0 * share * (0.5 + rnd())).round();
                s.push(Sample::new(T0 + k * 15_000 + jitter, v));
            }
            batch.push(
                labels(&[
                    ("__name__", "http_requests_total"),
                    ("job", job),
                    ("instance", inst),
                    ("status", status),
                ]),
                s,
            );
        }
        let mut counts = [0.0f64; 3];
        let bounds = ["0.1", "0.5", "+Inf"];
        let mut per_bucket = vec![Vec::new(); 3];
        for k in 0..stop {
            for _ in 0..10 {
                let lat = rnd();
                for (i, b) in [0.1, 0.5, f64::INFINITY].iter().enumerate() {
                    if lat <= *b {
                        counts[i] += 1.0;
                    }
                }
            }
            for i in 0..3 {
                per_bucket[i].push(Sample::new(T0 + k * 15_000 + jitter, counts[i]));
            }
        }
        for (i, s) in per_bucket.into_iter().enumerate() {
            batch.push(
                labels(&[
                    ("__name__", "http_request_duration_seconds_bucket"),
                    ("job", job),
                    ("instance", inst),
                    ("le", bounds[i]),
                ]),
                s,
            );
        }
        let up: Vec<Sample> = (0..stop)
            .map(|k| Sample::new(T0 + k * 15_000 + jitter, 1.0))
            .collect();
        batch.push(
            labels(&[("__name__", "up"), ("job", job), ("instance", inst)]),
            up,
        );
    }
    db.append(&batch).unwrap();
}

const RULES: &str = "\
groups:
  - name: fleet
    labels: {source: rules}
    rules:
      - record: job:http_requests:rate5m
        expr: sum by (job) (rate(http_requests_total[5m]))
      - record: job:http_errors:ratio5m
        expr: |
          sum by (job) (rate(http_requests_total{status=~\"5..\"}[5m]))
            / on (job) job:http_requests:rate5m
        labels: {kind: ratio}
      - record: job:latency:p90
        expr: histogram_quantile(0.9, sum by (job, le) (rate(http_request_duration_seconds_bucket[5m])))
      - record: instance:up
        expr: up
      - record: job:doubled
        expr: job:http_requests:rate5m * 2
";

fn group_from(text: &str, interval_ms: i64) -> (Arc<GroupDef>, file::RuleFile) {
    let f = file::parse("/rules/fleet.yml", text).unwrap();
    let def = Arc::new(GroupDef::new(
        &f.path,
        &f.groups[0],
        interval_ms,
        Alignment::Prometheus3,
    ));
    (def, f)
}

/// Raw samples of the series named `name` with timestamp `t`, stale markers included.
fn recorded_at(db: &Db, name: &str, t: i64) -> BTreeMap<Labels, f64> {
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

fn by_hand(
    engine: &Engine,
    expr: &str,
    t: i64,
    name: &str,
    extra: &[(&str, &str)],
) -> BTreeMap<Labels, f64> {
    let Value::Vector(v) = engine.instant(expr, t).unwrap().value else {
        panic!("not a vector")
    };
    v.into_iter()
        .map(|s| {
            let mut l = s.labels.with("__name__", name);
            for (k, val) in extra {
                l = l.with(k, val);
            }
            (l, s.v)
        })
        .collect()
}

#[test]
fn recorded_series_equal_the_same_promql_by_hand() {
    let (_d, db) = open();
    fill(&db);
    let (def, _) = group_from(RULES, MIN);
    let ctx = EvalContext::new(Engine::new(db.clone()));
    let engine = Engine::new(db.clone());
    let mut g = Group::new(def.clone(), Arc::new(GroupMetrics::default()));
    let mut checked = 0;
    for k in 6..36 {
        let ts = T0 + k * MIN + 321;
        let n = g.eval(&ctx, ts, &|| false);
        assert!(n > 0);
        for rule in &def.rules {
            let mut extra: Vec<(&str, &str)> = vec![("source", "rules")];
            if rule.spec.name == "job:http_errors:ratio5m" {
                extra.push(("kind", "ratio"));
            }
            let want = by_hand(&engine, &rule.spec.expr_text, ts, &rule.spec.name, &extra);
            let got = recorded_at(&db, &rule.spec.name, ts);
            let got: BTreeMap<Labels, f64> =
                got.into_iter().filter(|(_, v)| !is_stale(*v)).collect();
            assert_eq!(got.len(), want.len(), "{} at {ts}", rule.spec.name);
            for (l, v) in &want {
                let g = got
                    .get(l)
                    .unwrap_or_else(|| panic!("{} missing {l} at {ts}", rule.spec.name));
                assert!(
                    g.to_bits() == v.to_bits(),
                    "{} {l}: {g} != {v}",
                    rule.spec.name
                );
                checked += 1;
            }
        }
        let st = g.status().lock().clone();
        assert!(st.rules.iter().all(|r| r.health == Health::Good), "{st:?}");
    }
    assert!(checked > 300, "{checked}");
    assert_eq!(
        g.metrics().evaluations_total.load(Ordering::Relaxed),
        30 * 5
    );
    assert_eq!(
        g.metrics()
            .evaluation_failures_total
            .load(Ordering::Relaxed),
        0
    );
}

#[test]
fn later_rules_see_earlier_results_at_the_same_timestamp() {
    let (_d, db) = open();
    fill(&db);
    let (def, _) = group_from(RULES, MIN);
    let ctx = EvalContext::new(Engine::new(db.clone()));
    let mut g = Group::new(def, Arc::new(GroupMetrics::default()));
    for k in [10, 11, 25] {
        let ts = T0 + k * MIN;
        g.eval(&ctx, ts, &|| false);
        let base = recorded_at(&db, "job:http_requests:rate5m", ts);
        let doubled = recorded_at(&db, "job:doubled", ts);
        assert_eq!(base.len(), 2);
        assert_eq!(
            doubled.len(),
            2,
            "the first evaluation already sees the first rule's output"
        );
        for (l, v) in base {
            let d = doubled[&l.with("__name__", "job:doubled")];
            assert_eq!(d, v * 2.0, "{l} at {ts}");
        }
    }
}

#[test]
fn disappearing_series_get_stale_markers() {
    let (_d, db) = open();
    fill(&db);
    let (def, _) = group_from(RULES, MIN);
    let ctx = EvalContext::new(Engine::new(db.clone()));
    let mut g = Group::new(def, Arc::new(GroupMetrics::default()));
    // b-2 stops at T0 + 20m (last sample just before); `up` looks back 5 minutes.
    let before = T0 + 24 * MIN;
    let after = T0 + 26 * MIN;
    g.eval(&ctx, before, &|| false);
    let b2 = labels(&[
        ("__name__", "instance:up"),
        ("instance", "b-2"),
        ("job", "b"),
        ("source", "rules"),
    ]);
    assert_eq!(recorded_at(&db, "instance:up", before).get(&b2), Some(&1.0));
    g.eval(&ctx, after, &|| false);
    let at = recorded_at(&db, "instance:up", after);
    assert!(is_stale(at[&b2]), "{at:?}");
    assert_eq!(at.values().filter(|v| !is_stale(**v)).count(), 3);
    // The stale marker ends it for queries too.
    let engine = Engine::new(db.clone());
    let Value::Vector(v) = engine.instant("instance:up", after + 1).unwrap().value else {
        panic!()
    };
    assert_eq!(v.len(), 3);
    // Only once: the next evaluation writes nothing for it.
    g.eval(&ctx, after + MIN, &|| false);
    assert!(!recorded_at(&db, "instance:up", after + MIN).contains_key(&b2));
}

#[test]
fn reload_carries_state_and_stales_removed_rules() {
    let (_d, db) = open();
    fill(&db);
    let ctx = EvalContext::new(Engine::new(db.clone()));
    let metrics = Arc::new(GroupMetrics::default());
    let (def, _) = group_from(RULES, MIN);
    let mut old = Group::new(def, metrics.clone());
    let t1 = T0 + 24 * MIN;
    old.eval(&ctx, t1, &|| false);
    // The new definition drops `job:doubled` and `instance:up`, keeps the others.
    let edited = RULES.split("      - record: instance:up").next().unwrap();
    let (new_def, _) = group_from(edited, MIN);
    assert!(!new_def.same_as(old.def()));
    let mut new = Group::new(new_def, metrics.clone());
    new.copy_state_from(old);
    let t2 = T0 + 26 * MIN;
    new.eval(&ctx, t2, &|| false);
    let up = recorded_at(&db, "instance:up", t2);
    assert_eq!(up.len(), 4, "{up:?}");
    assert!(up.values().all(|v| is_stale(*v)));
    let doubled = recorded_at(&db, "job:doubled", t2);
    assert_eq!(doubled.len(), 2);
    assert!(doubled.values().all(|v| is_stale(*v)));
    // Kept rules go on without stale markers.
    let rate = recorded_at(&db, "job:http_requests:rate5m", t2);
    assert_eq!(rate.len(), 2);
    assert!(rate.values().all(|v| !is_stale(*v)));
    // Counters are per key and survive the swap.
    assert_eq!(metrics.evaluations_total.load(Ordering::Relaxed), 5 + 3);
    // An unchanged definition is the same group.
    let (a, _) = group_from(RULES, MIN);
    let (b, _) = group_from(RULES, MIN);
    assert!(a.same_as(&b));
    let (c, _) = group_from(RULES, 30_000);
    assert!(!a.same_as(&c));
}

#[test]
fn failing_rules_are_reported_and_do_not_stop_the_group() {
    let (_d, db) = open();
    fill(&db);
    let text = "\
groups:
  - name: g
    limit: 3
    rules:
      - record: too_many
        expr: up
      - record: clash
        expr: up
        labels: {instance: same, job: same}
      - record: ok
        expr: sum(up)
      - record: matrix
        expr: up[5m]
";
    let (def, _) = group_from(text, MIN);
    let ctx = EvalContext::new(Engine::new(db.clone()));
    let mut g = Group::new(def, Arc::new(GroupMetrics::default()));
    let ts = T0 + 10 * MIN;
    g.eval(&ctx, ts, &|| false);
    let st = g.status().lock().clone();
    let errors: Vec<(Health, Option<String>)> = st
        .rules
        .iter()
        .map(|r| (r.health, r.last_error.clone()))
        .collect();
    assert_eq!(
        errors,
        vec![
            (
                Health::Bad,
                Some("exceeded limit of 3 with 4 series".into())
            ),
            (
                Health::Bad,
                Some(
                    "vector contains metrics with the same labelset after applying rule labels"
                        .into()
                )
            ),
            (Health::Good, None),
            (
                Health::Bad,
                Some("rule result is not a vector or scalar".into())
            ),
        ]
    );
    assert!(recorded_at(&db, "too_many", ts).is_empty());
    assert_eq!(recorded_at(&db, "ok", ts).len(), 1);
    assert_eq!(
        g.metrics()
            .evaluation_failures_total
            .load(Ordering::Relaxed),
        3
    );
    assert_eq!(
        g.rule_metrics()[0].failures_total.load(Ordering::Relaxed),
        1
    );
    assert!(st.rules.iter().all(|r| r.last_evaluation.is_some()));
}

/// A simulated clock: sleeping jumps to the deadline; every sleep after the first also
/// charges `cost_ns` for the evaluation that preceded it; after `sleeps` sleeps it reports a
/// stop.
struct FakeClock {
    now: Mutex<i64>,
    cost_ns: i64,
    sleeps: Mutex<(u32, u32)>,
}

impl Clock for FakeClock {
    fn now_ns(&self) -> i64 {
        *self.now.lock()
    }
    fn sleep_until(&self, deadline_ns: i64, _stop: &Stop) -> bool {
        let mut s = self.sleeps.lock();
        if s.0 == s.1 {
            return false;
        }
        let mut now = self.now.lock();
        if s.0 > 0 {
            *now += self.cost_ns;
        }
        s.0 += 1;
        *now = (*now).max(deadline_ns);
        true
    }
}

#[test]
fn slow_groups_count_missed_iterations_and_skip_slots() {
    let (_d, db) = open();
    let text =
        "groups:\n  - name: slow\n    rules:\n      - record: tick\n        expr: vector(1)\n";
    let interval_ms = 10_000;
    let (def, _) = group_from(text, interval_ms);
    let slots = def.slots();
    let i = slots.interval_ns;
    let start = slots.at_or_before(T0 * 1_000_000) + 1;
    let e1 = slots.first_after(start);
    let clock = FakeClock {
        now: Mutex::new(start),
        // Every evaluation "takes" two and a half intervals.
        cost_ns: i * 5 / 2,
        sleeps: Mutex::new((0, 4)),
    };
    let ctx = EvalContext::new(Engine::new(db.clone()));
    let g = Group::new(def, Arc::new(GroupMetrics::default()));
    let g = runner::run(g, &ctx, &clock, &Stop::default());
    // Evaluated at e1; woke at e1+2.5i: one slot missed, next e1+2i; woke at e1+5i: two
    // missed, next e1+5i; woke at e1+7.5i: one missed, next e1+7i.
    let expected: Vec<i64> = [0, 2, 5, 7]
        .iter()
        .map(|k| (e1 + k * i).div_euclid(1_000_000))
        .collect();
    let got: Vec<i64> = db
        .querier(i64::MIN, i64::MAX)
        .select(&[Matcher::equal("__name__", "tick")])
        .unwrap()[0]
        .samples()
        .iter()
        .map(|s| s.t)
        .collect();
    assert_eq!(got, expected);
    assert_eq!(
        g.metrics().iterations_missed_total.load(Ordering::Relaxed),
        4
    );
    assert_eq!(g.metrics().iterations_total.load(Ordering::Relaxed), 8);
    // Every evaluation is on a slot of the group.
    for t in got {
        let slot = slots.at_or_before(t * 1_000_000 + 999_999);
        assert_eq!(slot.div_euclid(1_000_000), t);
    }
}

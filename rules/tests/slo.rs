//! SLO values against the counts they come from: generated traffic with known request and
//! error counts, uneven over the day (busy hours with few errors, quiet hours with many),
//! evaluated by the rules an SLO file generates (a Sloth `prometheus/v1` SLO over 30 days
//! and a `strata/v1` SLO over 7 days) minute by minute while traffic arrives. At every
//! evaluation each recorded error ratio, burn rate and budget remaining must equal the
//! value computed directly from the counts in its window; the period ratio is therefore
//! the traffic-weighted one, which here differs from the mean of 5-minute ratios (what
//! Sloth's period rule computes) by more than tenfold. An error burst at the end fires the
//! page and ticket alerts, and `/api/v1/slos`'s document reports the same numbers.

use std::sync::Arc;

use strata_engine::{is_stale, Batch, Db, Labels, Matcher, Options, Sample};
use strata_query::Engine;
use strata_rules::group::{EvalContext, Group, GroupDef};
use strata_rules::manager::GroupView;
use strata_rules::metrics::GroupMetrics;
use strata_rules::schedule::Alignment;
use strata_rules::slo;

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;
const DAY: i64 = 24 * HOUR;
/// Midnight UTC.
const T0: i64 = 1_699_920_000_000;
/// Scrape offset within the minute.
const OFF: i64 = 7_000;
/// Evaluations run from here (09:00 on day 31) ...
const EVAL_FROM: i64 = T0 + 31 * DAY + 9 * HOUR;
/// ... for three hours; the burst covers the last 70 minutes.
const EVAL_MINUTES: i64 = 180;
const BURST_FROM: i64 = EVAL_FROM + (EVAL_MINUTES - 70) * MIN;

const SPEC: &str = r#"
version: "prometheus/v1"
service: shop
labels: {team: store}
slos:
  - name: avail-sloth
    objective: 99.9
    sli:
      events:
        error_query: sum(rate(req_errors_total[{{.window}}]))
        total_query: sum(rate(req_total[{{.window}}]))
    alerting:
      name: ShopBurn
      page_alert: {labels: {severity: page}}
      ticket_alert: {labels: {severity: ticket}}
---
version: strata/v1
service: shop
slos:
  - name: avail
    objective: 99.5
    period: 7d
    errors: req_errors_total
    total: req_total
"#;

/// Requests and errors of instance `inst` in minute `k` (from T0).
fn traffic(inst: usize, k: i64) -> (u64, u64) {
    let t = T0 + k * MIN;
    let hour = (t - T0).rem_euclid(DAY) / HOUR;
    let busy = (8..20).contains(&hour);
    let scale = if inst == 0 { 2 } else { 1 };
    let total = if busy { 500 * scale } else { 5 * scale };
    let every = if busy {
        4 * scale as i64
    } else {
        2 * scale as i64
    };
    let mut errors = u64::from(k % every == 0);
    if t >= BURST_FROM {
        errors = total * 3 / 10;
    }
    (total, errors)
}

/// Cumulative counts per instance, per minute: `counts[inst][k] = (total, errors)` at the
/// sample of minute `k`.
struct Counts {
    counts: [Vec<(u64, u64)>; 2],
}

impl Counts {
    fn new(minutes: i64) -> Counts {
        let mut counts = [Vec::new(), Vec::new()];
        for (inst, c) in counts.iter_mut().enumerate() {
            let (mut tot, mut err) = (0u64, 0u64);
            for k in 0..minutes {
                let (t, e) = traffic(inst, k);
                tot += t;
                err += e;
                c.push((tot, err));
            }
        }
        Counts { counts }
    }

    /// The error ratio over the window `(t - w, t]` straight from the counts: errors over
    /// requests between its first and last samples (all series share sample times, so
    /// Prometheus's extrapolation scales both sides alike).
    fn ratio(&self, t: i64, w: i64) -> f64 {
        let first = (t - w - OFF - T0).div_euclid(MIN) + 1;
        let last = (t - OFF - T0).div_euclid(MIN);
        let (mut dt, mut de) = (0u64, 0u64);
        for c in &self.counts {
            dt += c[last as usize].0 - c[first as usize].0;
            de += c[last as usize].1 - c[first as usize].1;
        }
        de as f64 / dt as f64
    }

    /// The mean of the 5-minute ratios at every minute of the window (Sloth's period
    /// value, had its 5m rule run every minute).
    fn mean_of_5m(&self, t: i64, w: i64) -> f64 {
        let n = w / MIN;
        (0..n)
            .map(|i| self.ratio(t - i * MIN, 5 * MIN))
            .sum::<f64>()
            / n as f64
    }
}

fn append_minutes(db: &Db, counts: &Counts, from: i64, to: i64) {
    let mut batch = Batch::new();
    for (inst, c) in counts.counts.iter().enumerate() {
        let i = format!("i{inst}");
        let mut tot = Vec::new();
        let mut err = Vec::new();
        for k in from..to {
            let t = T0 + k * MIN + OFF;
            tot.push(Sample::new(t, c[k as usize].0 as f64));
            err.push(Sample::new(t, c[k as usize].1 as f64));
        }
        let l = |n: &str| Labels::from_pairs(&[("__name__", n), ("instance", &i)]).unwrap();
        batch.push(l("req_total"), tot);
        batch.push(l("req_errors_total"), err);
    }
    assert_eq!(db.append(&batch).unwrap().rejected(), 0);
}

/// The value series `name` of SLO `id` recorded at `t`.
fn recorded(db: &Db, name: &str, id: &str, t: i64) -> Option<f64> {
    let s = db
        .querier(t, t)
        .select(&[
            Matcher::equal("__name__", name),
            Matcher::equal("sloth_id", id),
        ])
        .unwrap();
    assert!(s.len() <= 1, "{name}: {} series", s.len());
    s.first()?
        .samples()
        .into_iter()
        .find(|x| x.t == t && !is_stale(x.v))
        .map(|x| x.v)
}

fn close(got: f64, want: f64, what: &str) {
    assert!(
        (got - want).abs() <= 1e-12 * want.abs() + 1e-18,
        "{what}: got {got}, want {want}"
    );
}

fn alert_firing(db: &Db, alert: &str, severity: &str, t: i64) -> bool {
    db.querier(t, t)
        .select(&[
            Matcher::equal("__name__", "ALERTS"),
            Matcher::equal("alertname", alert),
            Matcher::equal("alertstate", "firing"),
            Matcher::equal("sloth_severity", severity),
        ])
        .unwrap()
        .iter()
        .any(|s| s.samples().iter().any(|x| x.t == t && x.v == 1.0))
}

#[test]
fn slo_values_equal_the_counts() {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Db::open(dir.path(), Options::default()).unwrap());
    let minutes = (EVAL_FROM - T0) / MIN + EVAL_MINUTES + 1;
    let counts = Counts::new(minutes);
    let first_eval_minute = (EVAL_FROM - T0) / MIN;
    append_minutes(&db, &counts, 0, first_eval_minute);

    let f = slo::parse("/slo/shop.yml", SPEC).unwrap();
    let ctx = EvalContext::new(Engine::new(db.clone()));
    let mut groups: Vec<Group> = f
        .rules
        .groups
        .iter()
        .map(|g| {
            let def = GroupDef::new(&f.path, g, MIN, Alignment::Prometheus3);
            Group::new(Arc::new(def), Arc::new(GroupMetrics::default()))
        })
        .collect();

    let mut checked = 0;
    let mut page_fired_at = None;
    for step in 0..EVAL_MINUTES {
        let k = first_eval_minute + step;
        append_minutes(&db, &counts, k, k + 1);
        let ts = T0 + k * MIN + 30_000;
        for g in &mut groups {
            g.eval(&ctx, ts, &|| false);
        }
        for s in &f.slos {
            let budget = 1.0 - s.objective / 100.0;
            let names = s.window_names();
            for (w_ms, w) in s.period.sli_windows().into_iter().zip(&names) {
                let got = recorded(&db, &format!("slo:sli_error:ratio_rate{w}"), &s.id, ts)
                    .unwrap_or_else(|| panic!("{} {w} not recorded at {ts}", s.id));
                close(got, counts.ratio(ts, w_ms), &format!("{} ratio {w}", s.id));
                checked += 1;
            }
            let r5 = counts.ratio(ts, 5 * MIN);
            let rp = counts.ratio(ts, s.period.ms());
            let get = |n: &str| recorded(&db, n, &s.id, ts).unwrap();
            close(
                get("slo:current_burn_rate:ratio"),
                r5 / budget,
                "current burn",
            );
            close(
                get("slo:period_burn_rate:ratio"),
                rp / budget,
                "period burn",
            );
            close(
                get("slo:period_error_budget_remaining:ratio"),
                1.0 - rp / budget,
                "budget remaining",
            );
            close(get("slo:error_budget:ratio"), budget, "budget");
            assert_eq!(get("slo:time_period:days"), s.period.days());
        }
        let page = alert_firing(&db, "ShopBurn", "page", ts);
        if page && page_fired_at.is_none() {
            page_fired_at = Some(ts);
        }
    }
    assert_eq!(checked, EVAL_MINUTES as usize * 16);

    // Uneven traffic: the weighted period ratio is far from the mean of 5m ratios.
    let end = T0 + (first_eval_minute + EVAL_MINUTES - 1) * MIN + 30_000;
    let before_burst = BURST_FROM - 30_000;
    let weighted = counts.ratio(before_burst, 30 * DAY);
    let mean = counts.mean_of_5m(before_burst, 30 * DAY);
    assert!(mean > 10.0 * weighted, "mean {mean} vs weighted {weighted}");

    // The burst pages within minutes, and opens a ticket.
    let fired = page_fired_at.expect("the page alert fired");
    assert!(
        fired > BURST_FROM && fired < BURST_FROM + 10 * MIN,
        "{fired}"
    );
    assert!(alert_firing(&db, "ShopBurn", "ticket", end));

    // The SLO status document has the same numbers.
    let views: Vec<GroupView> = groups
        .iter()
        .map(|g| GroupView {
            def: g.def().clone(),
            status: g.status().lock().clone(),
            run_id: 1,
            alerts: g.alerts().clone(),
        })
        .collect();
    let doc = slo::status::slos_json(&f.slos, &views, &db);
    let list = doc["slos"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    let s = &list[0];
    assert_eq!(s["id"], "shop-avail-sloth");
    assert_eq!(s["health"], "ok");
    assert_eq!(s["period"], "30d");
    assert_eq!(s["evaluationTimestamp"], end as f64 / 1000.0);
    let series = s["series"].as_array().unwrap();
    assert_eq!(series.len(), 1);
    let x = &series[0];
    assert_eq!(x["labels"], serde_json::json!({}));
    let rp = counts.ratio(end, 30 * DAY);
    close(x["sli"].as_f64().unwrap(), 1.0 - rp, "sli");
    close(x["errorRatio"]["30d"].as_f64().unwrap(), rp, "json ratio");
    close(
        x["burnRate"]["1h"].as_f64().unwrap(),
        counts.ratio(end, HOUR) / (1.0 - 0.999),
        "json burn 1h",
    );
    close(
        x["errorBudgetRemaining"].as_f64().unwrap(),
        1.0 - rp / (1.0 - 0.999),
        "json remaining",
    );
    let alerts = s["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 2);
    assert_eq!(alerts[0]["severity"], "page");
    assert_eq!(alerts[0]["state"], "firing");
    assert_eq!(list[1]["period"], "1w");
    assert_eq!(list[1]["alerts"], serde_json::json!([]));
    close(
        list[1]["series"][0]["errorRatio"]["1w"].as_f64().unwrap(),
        counts.ratio(end, 7 * DAY),
        "json 1w",
    );
}

//! SLOs in the real `strata` binary on a loopback port: `--slo` loads a Sloth
//! `prometheus/v1` spec and a `strata/v1` spec, their generated groups evaluate over
//! remote-written traffic, `/api/v1/slos` reports error ratios, burn rates and budget
//! remaining equal to the values computed from the written counts, the recorded series
//! answer `/api/v1/query`, an injected error burst takes the `strata/v1` page alert through
//! pending to firing (and fires Sloth's at once), `/metrics` shows the group's incremental
//! windows, and `strata check slo` / `strata slo generate` work on the same files.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use strata_ingest::encode::TimeSeries;
use strata_tests::server_harness::{now_ms, urlencode, Strata};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_strata"))
}

fn json(s: &Strata, path: &str) -> Value {
    let r = s.get(path).unwrap();
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    serde_json::from_slice(&r.body).unwrap()
}

fn query(s: &Strata, q: &str) -> Vec<Value> {
    let v = json(s, &format!("/api/v1/query?query={}", urlencode(q)));
    v["data"]["result"].as_array().unwrap().clone()
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

const SLOTH: &str = r#"version: "prometheus/v1"
service: shop
labels: {team: store}
slos:
  - name: avail-sloth
    objective: 99
    sli:
      events:
        error_query: sum(rate(req_errors_total[{{.window}}]))
        total_query: sum(rate(req_total[{{.window}}]))
    alerting:
      name: ShopSlothBurn
      page_alert: {labels: {severity: critical}}
      ticket_alert: {disable: true}
"#;

const STRATA: &str = r#"version: strata/v1
service: shop
slos:
  - name: avail
    objective: 99
    period: 7d
    errors: req_errors_total
    total: req_total
    alerts:
      name: ShopBurn
      page: {for: 4s}
      ticket: {disable: true}
"#;

/// The written samples: `(t, total, errors)`, shared by the two counters of one instance.
struct Written(Vec<(i64, f64, f64)>);

impl Written {
    /// Errors over requests between the first and last samples in `(t - w, t]`.
    fn ratio(&self, t: i64, w: i64) -> f64 {
        let inside: Vec<&(i64, f64, f64)> =
            self.0.iter().filter(|x| x.0 > t - w && x.0 <= t).collect();
        let (f, l) = (inside[0], inside[inside.len() - 1]);
        (l.2 - f.2) / (l.1 - f.1)
    }

    fn write(&self, s: &Strata, from: usize) {
        let pick = |i: usize| -> Vec<(i64, f64)> {
            self.0[from..]
                .iter()
                .map(|x| (x.0, if i == 0 { x.1 } else { x.2 }))
                .collect()
        };
        let series = vec![
            TimeSeries::new(&[("__name__", "req_total"), ("instance", "a")], &pick(0)),
            TimeSeries::new(
                &[("__name__", "req_errors_total"), ("instance", "a")],
                &pick(1),
            ),
        ];
        let r = s.write_v1(&series).unwrap();
        assert_eq!(r.status, 204, "{}", r.text());
    }
}

fn window_ms(w: &str) -> i64 {
    strata_rules::duration::parse(w).unwrap()
}

/// Checks every number of one SLO in `/api/v1/slos` against the written counts.
fn check_slo(slo: &Value, written: &Written) -> i64 {
    let ts = (slo["evaluationTimestamp"].as_f64().unwrap() * 1000.0).round() as i64;
    let budget = slo["errorBudget"].as_f64().unwrap();
    let series = &slo["series"][0];
    let close = |got: &Value, want: f64, what: &str| {
        let g = got.as_f64().unwrap_or_else(|| panic!("{what}: {got}"));
        assert!(
            (g - want).abs() <= 1e-9 * want.abs() + 1e-15,
            "{} {what}: got {g}, want {want} at {ts}",
            slo["id"]
        );
    };
    for w in slo["windows"].as_array().unwrap() {
        let w = w.as_str().unwrap();
        let want = written.ratio(ts, window_ms(w));
        close(&series["errorRatio"][w], want, w);
        close(&series["burnRate"][w], want / budget, w);
    }
    let period = slo["period"].as_str().unwrap();
    let rp = written.ratio(ts, window_ms(period));
    close(&series["sli"], 1.0 - rp, "sli");
    close(&series["periodBurnRate"], rp / budget, "period burn rate");
    close(
        &series["errorBudgetRemaining"],
        1.0 - rp / budget,
        "remaining",
    );
    close(
        &series["currentBurnRate"],
        written.ratio(ts, 300_000) / budget,
        "current burn rate",
    );
    ts
}

fn slos(s: &Strata) -> Vec<Value> {
    json(s, "/api/v1/slos")["data"]["slos"]
        .as_array()
        .unwrap()
        .clone()
}

fn alert_state(s: &Strata, name: &str) -> Option<String> {
    json(s, "/api/v1/alerts")["data"]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["labels"]["alertname"] == name)
        .map(|a| a["state"].as_str().unwrap().to_string())
}

#[test]
fn slos_run_report_and_alert() {
    let dir = tempfile::tempdir().unwrap();
    let sloth = dir.path().join("sloth.yml");
    let strata = dir.path().join("strata.yml");
    std::fs::write(&sloth, SLOTH).unwrap();
    std::fs::write(&strata, STRATA).unwrap();
    let (sloth_arg, strata_arg) = (sloth.to_str().unwrap(), strata.to_str().unwrap());

    // `strata check slo` and `strata slo generate` on the same files.
    let out = Command::new(bin())
        .args(["check", "slo", sloth_arg, strata_arg])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("SUCCESS: 1 SLOs found, 16 rules generated")
    );
    let out = Command::new(bin())
        .args(["slo", "generate", strata_arg])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("slo:sli_error:ratio_rate1w") && text.contains("sloth-slo-shop-avail"));
    let bad = dir.path().join("bad.yml");
    std::fs::write(&bad, "version: strata/v1\nservice: shop\nslos: []\n").unwrap();
    let out = Command::new(bin())
        .args(["slo", "generate", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least one SLO is required"));

    let s = Strata::start(
        bin(),
        &dir.path().join("data"),
        &[
            "--slo",
            sloth_arg,
            "--slo",
            strata_arg,
            "--evaluation-interval",
            "1s",
        ],
    )
    .unwrap();

    // Two hours of traffic at 15 s, 0.25 % errors; large starting values so that
    // Prometheus's extrapolation treats both counters alike.
    let t0 = now_ms() - 1_000;
    let mut written = Written(Vec::new());
    for i in 0..=480i64 {
        written.0.push((
            t0 - (480 - i) * 15_000,
            4e8 + 400.0 * i as f64,
            1e6 + i as f64,
        ));
    }
    written.write(&s, 0);
    // An evaluation that began before the write landed may have run some rules without the
    // data and others with it: only evaluations timed after the write are checked.
    let written_at = now_ms();

    wait_for("SLO values", || {
        slos(&s).iter().all(|x| {
            x["evaluationTimestamp"].as_f64().unwrap_or(0.0) * 1000.0 >= written_at as f64
                && x["series"].as_array().is_some_and(|a| !a.is_empty())
        })
    });
    let list = slos(&s);
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["id"], "shop-avail-sloth");
    assert_eq!(list[0]["spec"], "prometheus/v1");
    assert_eq!(list[0]["labels"]["team"], "store");
    assert_eq!(list[1]["id"], "shop-avail");
    assert_eq!(list[1]["period"], "1w");
    for slo in &list {
        assert_eq!(slo["health"], "ok", "{slo}");
        check_slo(slo, &written);
        assert_eq!(slo["alerts"][0]["state"], "inactive");
    }
    // The recorded series, as dashboards query them.
    let r = query(&s, "slo:sli_error:ratio_rate1h");
    assert_eq!(r.len(), 2, "{r:?}");
    assert!(r.iter().all(|x| x["metric"]["sloth_window"] == "1h"));
    let info = query(&s, "sloth_slo_info{sloth_id=\"shop-avail\"}");
    assert_eq!(info[0]["metric"]["sloth_spec"], "strata/v1");
    assert_eq!(info[0]["metric"]["sloth_objective"], "99");
    let r = query(
        &s,
        "slo:period_error_budget_remaining:ratio{sloth_id=\"shop-avail\"}",
    );
    let v: f64 = r[0]["value"][1].as_str().unwrap().parse().unwrap();
    assert!(v > 0.7 && v < 0.8, "{v}"); // 0.25 % errors of a 1 % budget

    // An error burst: half of a big batch of requests fail.
    let t1 = now_ms().max(t0 + 1);
    let (base_t, base_e) = (written.0[480].1, written.0[480].2);
    written.0.push((t1, base_t + 1e5, base_e + 5e4));
    written.0.push((t1 + 1, base_t + 2e5, base_e + 1e5));
    written.write(&s, 481);

    let mut seen_pending = false;
    wait_for("the page alert firing", || {
        match alert_state(&s, "ShopBurn").as_deref() {
            Some("pending") => seen_pending = true,
            Some("firing") => return true,
            _ => {}
        }
        false
    });
    assert!(seen_pending, "ShopBurn (for: 4s) was never pending");
    assert_eq!(alert_state(&s, "ShopSlothBurn").as_deref(), Some("firing"));
    let fired = query(&s, "ALERTS{alertname=\"ShopBurn\",alertstate=\"firing\"}");
    assert_eq!(fired[0]["metric"]["sloth_severity"], "page");
    let list = slos(&s);
    for slo in &list {
        let ts = check_slo(slo, &written);
        assert!(ts > t1, "values from after the burst");
        assert_eq!(slo["alerts"][0]["state"], "firing");
        assert_eq!(slo["alerts"][0]["severity"], "page");
    }
    assert!(list[1]["series"][0]["burnRate"]["5m"].as_f64().unwrap() > 14.4);

    // The SLO group keeps its long windows incrementally (1h, 2h, 6h, 1d, 3d, 1w).
    let m = s.get("/metrics").unwrap().text();
    let key = format!("rule_group=\"{strata_arg};sloth-slo-shop-avail\"");
    let line = |name: &str| -> f64 {
        m.lines()
            .find(|l| l.starts_with(name) && l.contains(&key))
            .unwrap_or_else(|| panic!("no {name} for {key}"))
            .rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(line("strata_rule_window_rules{"), 6.0);
    assert!(line("strata_rule_window_memory_bytes{") > 0.0);
    assert!(line("strata_rule_window_builds_total{") >= 6.0);
    s.terminate().unwrap();
}

/// The rules `strata slo generate` prints load in Prometheus: `promtool check rules` on the
/// output for the repository's example specs and this test's two specs. Runs only where
/// Prometheus's `promtool` is installed (`/usr/bin/promtool`, Debian's `prometheus`
/// package; `.ci/run` installs it); elsewhere it says so and checks nothing.
#[test]
fn generated_rules_pass_promtool() {
    let promtool = Path::new("/usr/bin/promtool");
    if !promtool.exists() {
        eprintln!("skipped: /usr/bin/promtool is not installed (apt-get install prometheus)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/slo");
    let mut specs: Vec<std::path::PathBuf> = std::fs::read_dir(&examples)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml"))
        .collect();
    specs.sort();
    assert!(specs.len() >= 2, "example specs in {}", examples.display());
    for (name, text) in [("sloth.yml", SLOTH), ("strata.yml", STRATA)] {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        specs.push(p);
    }
    for spec in &specs {
        let out = Command::new(bin())
            .arg("slo")
            .arg("generate")
            .arg(spec)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}: {out:?}", spec.display());
        let rules = dir.path().join("generated.yml");
        std::fs::write(&rules, &out.stdout).unwrap();
        let check = Command::new(promtool)
            .arg("check")
            .arg("rules")
            .arg(&rules)
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "promtool rejects the rules of {}:\n{}{}",
            spec.display(),
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
        let n: usize = String::from_utf8_lossy(&check.stdout)
            .split("SUCCESS: ")
            .nth(1)
            .and_then(|s| s.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        // At least the 8 ratios, 7 meta rules and an alert of each of the file's SLOs.
        assert!(n >= 16, "{}: promtool found {n} rules", spec.display());
    }
}

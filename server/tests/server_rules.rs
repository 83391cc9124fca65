//! Rules in the real `strata` binary on a loopback port: `--rules` loads a file, groups
//! evaluate over remote-written data, `/api/v1/rules` and `/metrics` show them, recorded
//! series answer `/api/v1/query`, `POST /-/reload` and SIGHUP pick up edits, a bad file on
//! reload answers 500 and keeps the old rules, and `strata check rules` reports errors.

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
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn rule_names(s: &Strata) -> Vec<String> {
    let v = json(s, "/api/v1/rules");
    v["data"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap().clone())
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect()
}

const RULES: &str = "\
groups:
  - name: fleet
    interval: 1s
    rules:
      - record: job:requests:sum
        expr: sum by (job) (requests_total)
      - record: job:requests:doubled
        expr: job:requests:sum * 2
      - alert: NoRequests
        expr: job:requests:sum == 0
        for: 1m
        labels: {severity: page}
      - alert: Busy
        expr: job:requests:sum > 15
        labels: {severity: ticket}
        annotations: {summary: \"{{ $labels.job }} at {{ $value }}\"}
";

#[test]
fn rules_evaluate_reload_and_report() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.yml");
    std::fs::write(&rules, RULES).unwrap();
    let rules_arg = rules.to_str().unwrap();
    let s = Strata::start(
        bin(),
        &dir.path().join("data"),
        &["--rules", rules_arg, "--evaluation-interval", "2s"],
    )
    .unwrap();
    let t = now_ms();
    let series: Vec<TimeSeries> = ["a", "b"]
        .iter()
        .enumerate()
        .map(|(i, job)| {
            TimeSeries::new(
                &[
                    ("__name__", "requests_total"),
                    ("job", job),
                    ("instance", "x"),
                ],
                &[
                    (t - 10_000, 10.0 * (i + 1) as f64),
                    (t + 600_000, 10.0 * (i + 1) as f64),
                ],
            )
        })
        .collect();
    let r = s.write_v1(&series).unwrap();
    assert_eq!(r.status, 204, "{}", r.text());

    wait_for("recorded series", || {
        query(&s, "job:requests:doubled").len() == 2
    });
    let got = query(&s, "job:requests:doubled{job=\"b\"}");
    assert_eq!(got[0]["value"][1], "40");
    assert_eq!(got[0]["metric"]["__name__"], "job:requests:doubled");

    let v = json(&s, "/api/v1/rules");
    assert_eq!(v["status"], "success");
    let g = &v["data"]["groups"][0];
    assert_eq!(g["name"], "fleet");
    assert_eq!(g["file"], rules_arg);
    assert_eq!(g["interval"], 1);
    assert_eq!(g["limit"], 0);
    let r0 = &g["rules"][0];
    assert_eq!(r0["type"], "recording");
    assert_eq!(r0["query"], "sum by (job) (requests_total)");
    assert_eq!(r0["health"], "ok");
    assert!(r0.get("labels").is_none());
    assert!(r0["lastEvaluation"].as_str().unwrap().ends_with('Z'));
    let a = &g["rules"][2];
    assert_eq!(a["type"], "alerting");
    assert_eq!(a["duration"], 60);
    assert_eq!(a["labels"]["severity"], "page");
    assert_eq!(a["state"], "inactive");
    assert_eq!(a["health"], "ok");
    // `Busy` fires at once for job b (for: 0s).
    wait_for("the alert", || {
        json(&s, "/api/v1/alerts")["data"]["alerts"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    });
    let alerts = json(&s, "/api/v1/alerts");
    let al = &alerts["data"]["alerts"][0];
    assert_eq!(al["labels"]["alertname"], "Busy");
    assert_eq!(al["labels"]["job"], "b");
    assert_eq!(al["state"], "firing");
    assert_eq!(al["annotations"]["summary"], "b at 20");
    assert_eq!(al["value"], "2e+01");
    let v = json(&s, "/api/v1/rules?type=alert&rule_name[]=Busy");
    assert_eq!(v["data"]["groups"][0]["rules"][0]["state"], "firing");
    wait_for("the ALERTS series", || {
        query(&s, "ALERTS{alertname=\"Busy\",alertstate=\"firing\"}").len() == 1
    });
    // Filters.
    let v = json(&s, "/api/v1/rules?type=record&rule_name[]=job:requests:sum");
    assert_eq!(v["data"]["groups"][0]["rules"].as_array().unwrap().len(), 1);
    let v = json(&s, "/api/v1/rules?rule_group[]=nope");
    assert_eq!(v["data"]["groups"], Value::Array(vec![]));
    let r = s.get("/api/v1/rules?type=x").unwrap();
    assert_eq!(r.status, 400);
    assert!(
        r.text()
            .contains("invalid parameter \\\"type\\\": not supported value \\\"x\\\""),
        "{}",
        r.text()
    );

    let m = s.get("/metrics").unwrap().text();
    let key = format!("{rules_arg};fleet");
    assert!(
        m.contains(&format!(
            "prometheus_rule_group_rules{{rule_group=\"{key}\"}} 4\n"
        )),
        "{m}"
    );
    assert!(m.contains(&format!(
        "prometheus_rule_group_iterations_total{{rule_group=\"{key}\"}}"
    )));
    assert!(m.contains(&format!(
        "prometheus_rule_evaluation_failures_total{{rule_group=\"{key}\"}} 0\n"
    )));

    // Reload after an edit: a new rule appears and runs.
    std::fs::write(
        &rules,
        format!(
            "{RULES}      - record: job:requests:tripled\n        expr: job:requests:sum * 3\n"
        ),
    )
    .unwrap();
    let r = s.post_form("/-/reload", "").unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, ""));
    assert!(rule_names(&s).contains(&"job:requests:tripled".to_string()));
    wait_for("the new rule's series", || {
        query(&s, "job:requests:tripled").len() == 2
    });
    assert_eq!(s.get("/-/reload").unwrap().status, 405);

    // A bad file: 500 with the error, the old rules stay.
    std::fs::write(
        &rules,
        "groups:\n- name: fleet\n  rules:\n  - record: x\n    expr: sum(\n",
    )
    .unwrap();
    let r = s.post_form("/-/reload", "").unwrap();
    assert_eq!(r.status, 500);
    let text = r.text();
    assert!(text.starts_with("failed to reload config: "), "{text}");
    assert!(text.contains("could not parse expression"), "{text}");
    assert_eq!(rule_names(&s).len(), 5);

    // SIGHUP reloads too.
    std::fs::write(
        &rules,
        RULES.replace("job:requests:doubled", "job:requests:twice"),
    )
    .unwrap();
    let ok = Command::new("kill")
        .args(["-HUP", &s.pid().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    wait_for("the SIGHUP reload", || {
        rule_names(&s).contains(&"job:requests:twice".to_string())
    });
    wait_for("the renamed rule's series", || {
        query(&s, "job:requests:twice").len() == 2
    });
    assert_eq!(s.terminate().unwrap().code(), Some(0));
}

#[test]
fn bad_rules_at_startup_and_check_rules() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yml");
    std::fs::write(
        &bad,
        "groups:\n- name: g\n  rules:\n  - record: a\n    expr: rate(x[5m]\n",
    )
    .unwrap();
    let good = dir.path().join("good.yml");
    std::fs::write(&good, RULES).unwrap();
    let out = Command::new(bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--rules")
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.yml:5:21: group \"g\", rule 1, \"a\", could not parse expression: 1:11:"),
        "{err}"
    );

    let out = Command::new(bin())
        .args(["check", "rules"])
        .arg(&good)
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains(&format!(
            "Checking {}\n  SUCCESS: 4 rules found\n",
            good.display()
        )),
        "{stdout}"
    );
    assert!(stderr.starts_with("  FAILED:\n"), "{stderr}");
    assert!(
        stderr.contains("rule 1, \"a\", could not parse expression: 1:"),
        "{stderr}"
    );
    let out = Command::new(bin())
        .args(["check", "rules"])
        .arg(&good)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    // A literal path that does not exist is an error at startup.
    let out = Command::new(bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .args(["--rules", "/nonexistent/rules.yml"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such file"));
}

use super::*;
use crate::file::RuleKind;

const SLOTH: &str = r#"
version: "prometheus/v1"
service: "myservice"
labels:
  owner: "myteam"
  tier: "2"
slos:
  - name: "requests-availability"
    objective: 99.9
    description: "Availability of HTTP responses."
    sli:
      events:
        error_query: sum(rate(http_request_duration_seconds_count{job="myservice",code=~"(5..|429)"}[{{.window}}]))
        total_query: sum(rate(http_request_duration_seconds_count{job="myservice"}[{{ .window }}]))
    alerting:
      name: MyServiceHighErrorRate
      labels:
        category: "availability"
      annotations:
        summary: "High error rate on 'myservice' requests responses"
      page_alert:
        labels:
          severity: pageteam
      ticket_alert:
        labels:
          severity: "slack"
  - name: "latency"
    objective: 99
    sli:
      raw:
        error_ratio_query: 1 - sum(rate(lat_bucket{le="0.5"}[{{.window}}])) / sum(rate(lat_count[{{.window}}]))
    alerting:
      name: Slow
      page_alert: {disable: true}
      ticket_alert: {disable: true}
"#;

fn rules_of(f: &SloFile, group: usize) -> Vec<(String, String, BTreeMap<String, String>)> {
    f.rules.groups[group]
        .rules
        .iter()
        .map(|r| (r.name.clone(), r.expr_text.clone(), r.labels.clone()))
        .collect()
}

use std::collections::BTreeMap;

#[test]
fn sloth_spec_generates_sloths_rules_in_one_group() {
    let f = parse("/slo/my.yml", SLOTH).unwrap();
    assert_eq!(f.slos.len(), 2);
    let s = &f.slos[0];
    assert_eq!(s.id, "myservice-requests-availability");
    assert_eq!(s.format, Format::Sloth);
    assert_eq!(s.period, Period::DEFAULT);
    assert_eq!(f.rules.groups.len(), 2);
    assert_eq!(
        f.rules.groups[0].name,
        "sloth-slo-myservice-requests-availability"
    );
    let rules = rules_of(&f, 0);
    let names: Vec<&str> = rules.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "slo:sli_error:ratio_rate5m",
            "slo:sli_error:ratio_rate30m",
            "slo:sli_error:ratio_rate1h",
            "slo:sli_error:ratio_rate2h",
            "slo:sli_error:ratio_rate6h",
            "slo:sli_error:ratio_rate1d",
            "slo:sli_error:ratio_rate3d",
            "slo:sli_error:ratio_rate30d",
            "slo:objective:ratio",
            "slo:error_budget:ratio",
            "slo:time_period:days",
            "slo:current_burn_rate:ratio",
            "slo:period_burn_rate:ratio",
            "slo:period_error_budget_remaining:ratio",
            "sloth_slo_info",
            "MyServiceHighErrorRate",
            "MyServiceHighErrorRate",
        ]
    );
    let (_, expr, labels) = &rules[0];
    assert_eq!(
        expr,
        "(sum(rate(http_request_duration_seconds_count{job=\"myservice\",code=~\"(5..|429)\"}[5m]))) / \
         (sum(rate(http_request_duration_seconds_count{job=\"myservice\"}[5m])))"
    );
    let want: BTreeMap<String, String> = [
        ("owner", "myteam"),
        ("sloth_id", "myservice-requests-availability"),
        ("sloth_service", "myservice"),
        ("sloth_slo", "requests-availability"),
        ("sloth_window", "5m"),
        ("tier", "2"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(labels, &want);
    // The period is the SLI's own ratio over 30 days (not Sloth's mean of 5m ratios).
    assert!(rules[7].1.contains("[30d]") && !rules[7].1.contains("sum_over_time"));
    assert_eq!(rules[7].2["sloth_window"], "30d");
    assert_eq!(rules[8].1, "vector(0.9990000000000001)");
    assert_eq!(rules[9].1, "vector(1-0.9990000000000001)");
    assert_eq!(rules[10].1, "vector(30)");
    let ids = "{sloth_id=\"myservice-requests-availability\", sloth_service=\"myservice\", sloth_slo=\"requests-availability\"}";
    assert_eq!(
        rules[12].1,
        format!("slo:sli_error:ratio_rate30d{ids} / on(sloth_id, sloth_slo, sloth_service) group_left slo:error_budget:ratio{ids}")
    );
    assert_eq!(rules[13].1, format!("1 - slo:period_burn_rate:ratio{ids}"));
    assert_eq!(rules[14].2["sloth_objective"], "99.9");
    assert_eq!(rules[14].2["sloth_spec"], "prometheus/v1");
    assert!(!rules[13].2.contains_key("sloth_window"));
    let page = &f.rules.groups[0].rules[15];
    assert_eq!(
        page.expr_text,
        format!(
            "(max(slo:sli_error:ratio_rate5m{ids} > (14.4 * 0.0009999999999999432)) without (sloth_window) \
             and max(slo:sli_error:ratio_rate1h{ids} > (14.4 * 0.0009999999999999432)) without (sloth_window)) \
             or (max(slo:sli_error:ratio_rate30m{ids} > (6 * 0.0009999999999999432)) without (sloth_window) \
             and max(slo:sli_error:ratio_rate6h{ids} > (6 * 0.0009999999999999432)) without (sloth_window))"
        )
    );
    assert_eq!(page.labels["severity"], "pageteam");
    assert_eq!(page.labels["category"], "availability");
    assert_eq!(page.labels["sloth_severity"], "page");
    let RuleKind::Alerting {
        for_ms,
        annotations,
        ..
    } = &page.kind
    else {
        panic!("not an alert")
    };
    assert_eq!(*for_ms, 0);
    assert_eq!(
        annotations["summary"],
        "High error rate on 'myservice' requests responses"
    );
    assert_eq!(
        annotations["title"],
        "(page) {{$labels.sloth_service}} {{$labels.sloth_slo}} SLO error budget burn rate is too fast."
    );
    let ticket = &f.rules.groups[0].rules[16];
    assert!(ticket.expr_text.contains("ratio_rate2h") && ticket.expr_text.contains("(3 * "));
    assert!(ticket.expr_text.contains("ratio_rate3d") && ticket.expr_text.contains("(1 * "));
    assert_eq!(ticket.labels["severity"], "slack");
    assert_eq!(ticket.labels["sloth_severity"], "ticket");

    // Raw SLI, both alerts disabled: recording rules only.
    let rules = rules_of(&f, 1);
    assert_eq!(rules.len(), 15);
    assert_eq!(
        rules[0].1,
        "(1 - sum(rate(lat_bucket{le=\"0.5\"}[5m])) / sum(rate(lat_count[5m])))"
    );
    assert_eq!(rules[8].1, "vector(0.99)");
    // The generated text loads as a rule file on its own.
    assert!(crate::file::parse("x.yml", &f.generated).is_ok());
}

const STRATA: &str = r#"
version: strata/v1
service: checkout
labels: {team: payments}
slos:
  - name: availability
    objective: 99.5
    period: 7d
    errors: http_requests_total{job="checkout",code=~"5.."}
    total: http_requests_total{job="checkout"}
    alerts:
      name: CheckoutBurn
      labels: {team: payments}
      page: {labels: {severity: page}, for: 2m}
      ticket: {disable: true}
  - name: latency
    objective: 99
    period: 28d
    good: lat_bucket{le="0.5"}
    total: lat_count
    by: [route]
---
version: strata/v1
service: search
slos:
  - name: availability
    objective: 99.9
    errors: req{code="500"}
    total: req
"#;

#[test]
fn strata_spec_generates_ratios_of_increases() {
    let f = parse("/slo/s.yml", STRATA).unwrap();
    assert_eq!(f.slos.len(), 3);
    let s = &f.slos[0];
    assert_eq!(
        (s.format, s.period.to_string()),
        (Format::Strata, "1w".into())
    );
    let rules = rules_of(&f, 0);
    assert_eq!(rules[7].0, "slo:sli_error:ratio_rate1w");
    assert_eq!(
        rules[7].1,
        "(sum(increase(http_requests_total{job=\"checkout\",code=~\"5..\"}[1w])) or 0 * \
         sum(increase(http_requests_total{job=\"checkout\"}[1w]))) / \
         sum(increase(http_requests_total{job=\"checkout\"}[1w]))"
    );
    assert_eq!(rules[10].1, "vector(7)");
    // One page alert, with its `for`, over the 7-day table.
    let g = &f.rules.groups[0];
    assert_eq!(g.rules.len(), 16);
    let page = &g.rules[15];
    assert!(matches!(
        page.kind,
        RuleKind::Alerting {
            for_ms: 120_000,
            ..
        }
    ));
    assert!(
        page.expr_text.contains("(13.44 * 0.005)"),
        "{}",
        page.expr_text
    );
    assert!(page.expr_text.contains("(3.5 * "));
    let rules = rules_of(&f, 1);
    assert_eq!(rules[7].0, "slo:sli_error:ratio_rate4w");
    assert!(rules[0]
        .1
        .starts_with("(sum by (route) (increase(lat_count[5m])) - "));
    assert_eq!(f.rules.groups[2].name, "sloth-slo-search-availability");
    assert_eq!(f.slos[2].period.to_string(), "30d");
}

fn errors(text: &str) -> Vec<String> {
    parse("/slo/bad.yml", text)
        .unwrap_err()
        .into_iter()
        .map(|d| d.to_string())
        .collect()
}

#[test]
fn bad_specs_report_every_problem_with_its_position() {
    let e = errors(
        r#"version: "prometheus/v1"
service: svc
slos:
  - name: a
    objective: 120
    sli:
      events:
        error_query: sum(rate(x[5m]))
        total_query: sum(rate(y[{{.window}}]
    alerting:
      name: A
  - name: "b c"
    objective: 99
  - name: d
    objective: 99
    sli: {plugin: {id: x}}
    alerting: {name: D}
  - name: e
    objective: 99
    labels: {sloth_id: x}
    errors: x
    sli: {raw: {error_ratio_query: "x[{{.window}}]"}}
"#,
    );
    let want = [
        "/slo/bad.yml:5:16: slo \"a\": objective must be > 0 and <= 100",
        "/slo/bad.yml:8:22: slo \"a\": sli.events.error_query: template must contain the {{ .window }} variable",
        "/slo/bad.yml:9:22: slo \"a\": sli.events.total_query: ",
        "/slo/bad.yml:12:11: invalid SLO name \"b c\"",
        "/slo/bad.yml:16:19: slo \"d\": SLI plugins are not supported",
        "/slo/bad.yml:20:13: slo \"e\": label \"sloth_id\" is set by the generated rules",
        "/slo/bad.yml:21:13: slo \"e\": field errors is part of strata/v1, not of prometheus/v1",
        "/slo/bad.yml:18:5: slo \"e\": alerting.name is required",
    ];
    for w in want {
        assert!(
            e.iter().any(|x| x.starts_with(w)),
            "missing {w:?} in {e:#?}"
        );
    }
    assert_eq!(e.len(), want.len(), "{e:#?}");

    let e = errors("version: v9\nservice: s\nslos: []\n");
    assert!(e[0].contains("unsupported version \"v9\""), "{e:?}");
    let e = errors("version: strata/v1\nservice: s\nslos: []\n");
    assert!(e[0].contains("at least one SLO is required"), "{e:?}");
    let e = errors("service: s\n");
    assert!(e[0].contains("needs version"), "{e:?}");
    let e =
        errors("version: strata/v1\nservice: s\nslos:\n  - {name: a, objective: 99, typo: 1}\n");
    assert!(e[0].starts_with("/slo/bad.yml:4:"), "{e:?}");
    assert!(e[0].contains("typo"), "{e:?}");
    let e = errors(
        "version: strata/v1\nservice: s\nslos:\n  - name: a\n    objective: 99\n    period: 14d\n    errors: rate(x[5m])\n    total: y\n    good: z\n",
    );
    assert!(
        e.iter()
            .any(|x| x.contains("unsupported SLO period \"14d\"")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|x| x.contains("errors must be a series selector")),
        "{e:?}"
    );
    let e = errors(
        "version: strata/v1\nservice: s\nslos:\n  - {name: a, objective: 99, errors: x, total: y}\n  - {name: a, objective: 99, errors: x, total: y}\n",
    );
    assert!(e[0].contains("\"s-a\" is defined twice"), "{e:?}");
    let e = errors(
        "version: strata/v1\nservice: s\nslos:\n  - {name: a, objective: 99, errors: x, total: y, alerts: {page: {for: soon}}}\n",
    );
    assert!(
        e.iter()
            .any(|x| x.contains("page.for: not a valid duration")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|x| x.contains("alert name (name) is required")),
        "{e:?}"
    );
    assert!(errors("").iter().any(|x| x.contains("no SLO spec")));
}

#[test]
fn load_all_rejects_an_slo_defined_in_two_files() {
    let d = tempfile::tempdir().unwrap();
    let a = d.path().join("a.yml");
    let b = d.path().join("b.yml");
    let spec = "version: strata/v1\nservice: s\nslos:\n  - {name: a, objective: 99, errors: x, total: y}\n";
    std::fs::write(&a, spec).unwrap();
    std::fs::write(&b, spec).unwrap();
    assert_eq!(load_all(&[&a, &a]).unwrap().len(), 1);
    let e = load_all(&[&a, &b]).unwrap_err().to_string();
    assert!(e.contains("also defined in another file"), "{e}");
    let e = load_all(&[d.path().join("missing.yml")])
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing.yml"), "{e}");
}

//! Loading and validation of rule files: both formats, and every error with its message and
//! position.

use super::*;

fn ok(text: &str) -> RuleFile {
    match parse("r.yml", text) {
        Ok(f) => f,
        Err(d) => panic!("unexpected errors: {d:#?}"),
    }
}

/// The diagnostics of an invalid file, rendered.
fn errs(text: &str) -> Vec<String> {
    match parse("r.yml", text) {
        Ok(f) => panic!("accepted: {f:#?}"),
        Err(d) => d.iter().map(ToString::to_string).collect(),
    }
}

fn one_err(text: &str) -> String {
    let e = errs(text);
    assert_eq!(e.len(), 1, "{e:#?}");
    e.into_iter().next().unwrap()
}

const FULL: &str = "\
groups:
  - name: canary
    interval: 30s
    limit: 10
    query_offset: 1m
    labels:
      team: web
    rules:
      - record: job:http_requests:rate5m
        expr: sum by (job) (rate(http_requests_total[5m]))
        labels:
          tier: \"1\"
      - alert: HighErrorRate
        expr: job:errors:ratio5m > 0.05
        for: 10m
        keep_firing_for: 5m
        labels: {severity: page, team: sre}
        annotations:
          summary: \"High errors on {{ $labels.job }}\"
  - name: other
    rules: []
";

#[test]
fn plain_file_with_every_field() {
    let f = ok(FULL);
    assert_eq!(f.path, "r.yml");
    assert_eq!(f.groups.len(), 2);
    let g = &f.groups[0];
    assert_eq!(g.name, "canary");
    assert_eq!(g.interval, Some(30_000));
    assert_eq!(g.limit, 10);
    assert_eq!(g.query_offset, Some(60_000));
    assert_eq!(g.pos, Pos { line: 2, col: 5 });
    assert_eq!(g.labels.get("team").map(String::as_str), Some("web"));
    let r = &g.rules[0];
    assert_eq!(r.name, "job:http_requests:rate5m");
    assert_eq!(r.kind, RuleKind::Recording);
    assert_eq!(r.pos, Pos { line: 9, col: 9 });
    assert_eq!(
        r.expr.to_string(),
        "sum by (job) (rate(http_requests_total[5m]))"
    );
    let a = &g.rules[1];
    assert_eq!(a.name, "HighErrorRate");
    assert!(a.is_alerting());
    let RuleKind::Alerting {
        for_ms,
        keep_firing_for_ms,
        annotations,
    } = &a.kind
    else {
        panic!("not alerting")
    };
    assert_eq!((*for_ms, *keep_firing_for_ms), (600_000, 300_000));
    assert_eq!(annotations["summary"], "High errors on {{ $labels.job }}");
    // Group labels under rule labels.
    let merged = g.rule_labels(1);
    assert_eq!(merged["team"], "sre");
    assert_eq!(merged["severity"], "page");
    assert_eq!(g.rule_labels(0)["team"], "web");
    assert_eq!(g.rule_labels(0)["tier"], "1");
    let o = &f.groups[1];
    assert_eq!((o.interval, o.query_offset, o.limit), (None, None, 0));
    assert!(o.rules.is_empty());
}

#[test]
fn empty_files_and_zero_interval() {
    assert!(ok("").groups.is_empty());
    assert!(ok("# only a comment\n").groups.is_empty());
    assert!(ok("groups: []\n").groups.is_empty());
    let f = ok("groups:\n- name: g\n  interval: 0s\n  rules:\n  - record: a\n    expr: \"1\"\n");
    assert_eq!(f.groups[0].interval, None);
    // Numbers and booleans are accepted as label values, as YAML strings.
    let f = ok(
        "groups:\n- name: g\n  rules:\n  - record: a\n    expr: 1\n    labels: {n: 1, b: true}\n",
    );
    assert_eq!(f.groups[0].rules[0].labels["n"], "1");
    assert_eq!(f.groups[0].rules[0].expr_text, "1");
}

const CRD: &str = "\
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: canary-rules
  namespace: monitoring
  labels: {release: prometheus}
spec:
  groups:
    - name: canary.rules
      partial_response_strategy: warn
      rules:
        - record: version:http_requests:rate5m
          expr: sum by (version) (rate(http_requests_total[5m]))
---
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata: {name: more}
spec:
  groups:
    - name: second
      rules:
        - alert: Down
          expr: up == 0
---
groups:
  - name: plain
    rules: []
";

#[test]
fn prometheus_rule_objects_and_several_documents() {
    let f = ok(CRD);
    let names: Vec<&str> = f.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["canary.rules", "second", "plain"]);
    assert_eq!(f.groups[0].rules[0].name, "version:http_requests:rate5m");
    assert_eq!(f.groups[1].pos, Pos { line: 20, col: 7 });
    assert!(f.groups[1].rules[0].is_alerting());
}

#[test]
fn yaml_errors_have_positions() {
    assert_eq!(
        one_err("groups:\n- name: a\n  rules:\n  - record: x\n    exr: up\n"),
        "r.yml:5:5: unknown field `exr`, expected one of record, alert, expr, for, \
         keep_firing_for, labels, annotations"
    );
    assert_eq!(
        one_err("groups:\n- name: a\n  name: b\n"),
        "r.yml:3:3: duplicate mapping key: name, set DuplicateKeyPolicy in Options if acceptable"
    );
    assert_eq!(
        one_err("groups:\n  - name: a\n    rules: [\n"),
        "r.yml:3:12: unclosed bracket '['"
    );
    assert_eq!(
        one_err("groups:\n- name: a\n  limit: x\n"),
        "r.yml:3:10: invalid i64"
    );
    assert_eq!(one_err("- a\n"), "r.yml:1:1: expected mapping start");
    assert_eq!(
        one_err("grops: []\n"),
        "r.yml:1:1: unknown field `grops`, expected one of groups, apiVersion, kind, \
         metadata, spec"
    );
}

#[test]
fn group_errors() {
    assert_eq!(
        one_err("groups:\n- name: \"\"\n  rules: []\n"),
        "r.yml:2:3: Groupname must not be empty"
    );
    assert_eq!(
        one_err("groups:\n- rules: []\n"),
        "r.yml:2:3: Groupname must not be empty"
    );
    assert_eq!(
        one_err("groups:\n- name: a\n- name: a\n"),
        "r.yml:3:3: groupname: \"a\" is repeated in the same file"
    );
    // Across documents of one file too.
    assert_eq!(
        one_err("groups:\n- name: a\n---\ngroups:\n- name: a\n"),
        "r.yml:5:3: groupname: \"a\" is repeated in the same file"
    );
    assert_eq!(
        one_err("groups:\n- name: a\n  interval: 30\n"),
        "r.yml:3:13: group \"a\", not a valid duration string: \"30\""
    );
    assert_eq!(
        one_err("groups:\n- name: a\n  query_offset: 1x\n"),
        "r.yml:3:17: group \"a\", unknown unit \"x\" in duration \"1x\""
    );
    assert_eq!(
        one_err("groups:\n- name: a\n  labels: {__name__: x}\n"),
        "r.yml:3:11: group \"a\", invalid label name: __name__"
    );
    assert_eq!(
        one_err("groups:\n- name: a\n  partial_response_strategy: warn\n"),
        "r.yml:3:30: group \"a\", field partial_response_strategy is only allowed in a \
         PrometheusRule object"
    );
}

#[test]
fn rule_errors() {
    let g = "groups:\n- name: g\n  rules:\n";
    assert_eq!(
        one_err(&format!("{g}  - record: a\n    alert: b\n    expr: up\n")),
        "r.yml:4:13: group \"g\", rule 1, \"b\", only one of 'record' and 'alert' must be set \
         (alert at 5:12)"
    );
    assert_eq!(
        one_err(&format!("{g}  - expr: up\n")),
        "r.yml:4:5: group \"g\", rule 1, \"\", one of 'record' or 'alert' must be set"
    );
    assert_eq!(
        one_err(&format!("{g}  - record: a\n")),
        "r.yml:4:5: group \"g\", rule 1, \"a\", field 'expr' must be set in rule"
    );
    assert_eq!(
        one_err(&format!("{g}  - record: a\n    expr: \"\"\n")),
        "r.yml:5:11: group \"g\", rule 1, \"a\", field 'expr' must be set in rule"
    );
    assert_eq!(
        one_err(&format!(
            "{g}  - record: a\n    expr: up\n    annotations: {{x: y}}\n"
        )),
        "r.yml:4:13: group \"g\", rule 1, \"a\", invalid field 'annotations' in recording rule"
    );
    assert_eq!(
        one_err(&format!("{g}  - record: a\n    expr: up\n    for: 5m\n")),
        "r.yml:4:13: group \"g\", rule 1, \"a\", invalid field 'for' in recording rule"
    );
    assert_eq!(
        one_err(&format!(
            "{g}  - record: a\n    expr: up\n    keep_firing_for: 5m\n"
        )),
        "r.yml:4:13: group \"g\", rule 1, \"a\", invalid field 'keep_firing_for' in recording rule"
    );
    // `for: 0s` on a recording rule is allowed, as in Prometheus.
    ok(&format!("{g}  - record: a\n    expr: up\n    for: 0s\n"));
    assert_eq!(
        one_err(&format!("{g}  - record: 'a{{b=\"c\"}}'\n    expr: up\n")),
        "r.yml:4:13: group \"g\", rule 1, \"a{b=\\\"c\\\"}\", braces present in the recording \
         rule name; should it be in expr?: a{b=\"c\"}"
    );
    assert_eq!(
        one_err(&format!(
            "{g}  - record: a\n    expr: up\n    labels: {{__name__: x}}\n"
        )),
        "r.yml:6:13: group \"g\", rule 1, \"a\", invalid label name: __name__"
    );
    assert_eq!(
        one_err(&format!(
            "{g}  - alert: A\n    expr: up\n    annotations: {{\"\": x}}\n"
        )),
        "r.yml:6:18: group \"g\", rule 1, \"A\", invalid annotation name: "
    );
    assert_eq!(
        one_err(&format!("{g}  - alert: A\n    expr: up\n    for: 5\n")),
        "r.yml:6:10: group \"g\", rule 1, \"A\", not a valid duration string: \"5\""
    );
    let e = one_err(&format!(
        "{g}  - alert: A\n    expr: up\n    annotations:\n      summary: \"{{{{ $labels.job \"\n"
    ));
    assert!(
        e.starts_with(
            "r.yml:7:7: group \"g\", rule 1, \"A\", annotation \"summary\": template: __alert_A:1:"
        ),
        "{e}"
    );
    // Templates of recording rules' labels are not templates.
    ok(&format!(
        "{g}  - record: a\n    expr: up\n    labels: {{x: \"{{{{ oops\"}}\n"
    ));
    // Several problems are all reported, in order.
    let e = errs(&format!(
        "{g}  - record: a\n    expr: up\n    for: 1m\n  - alert: B\n    expr: sum(\n"
    ));
    assert_eq!(e.len(), 2, "{e:#?}");
    assert!(
        e[0].contains("rule 1, \"a\", invalid field 'for'"),
        "{}",
        e[0]
    );
    assert!(
        e[1].contains("rule 2, \"B\", could not parse expression"),
        "{}",
        e[1]
    );
}

#[test]
fn expression_errors_point_into_the_file_and_the_expression() {
    let g = "groups:\n- name: g\n  rules:\n";
    // Plain scalar: the error at byte 9 of the expression is at column 11 + 9 of line 5.
    let text = format!("{g}  - record: a\n    expr: sum(rate(x[5m])) by\n");
    let d = parse("r.yml", &text).unwrap_err();
    assert_eq!(d.len(), 1);
    let expected_expr_pos = {
        let strata_query::Error::Parse { pos, .. } =
            strata_query::parser::parse("sum(rate(x[5m])) by").unwrap_err()
        else {
            panic!("not a parse error")
        };
        pos.0
    };
    assert_eq!(
        d[0].expr_pos,
        Some(Pos {
            line: 1,
            col: 1 + expected_expr_pos as u64
        })
    );
    assert_eq!(
        d[0].pos,
        Some(Pos {
            line: 5,
            col: 11 + expected_expr_pos as u64
        })
    );
    assert_eq!(d[0].group.as_deref(), Some("g"));
    assert_eq!(d[0].rule, Some((1, "a".to_string())));
    assert!(
        d[0].message.starts_with("could not parse expression: 1:"),
        "{}",
        d[0].message
    );
    // Literal block: the error on the expression's second line maps to the file's line 7.
    let text = format!("{g}  - record: a\n    expr: |\n      sum(\n        rate(x[5m]) +)\n");
    let d = parse("r.yml", &text).unwrap_err();
    let ep = d[0].expr_pos.unwrap();
    assert_eq!(ep.line, 2, "{:?}", d[0]);
    assert_eq!(
        d[0].pos,
        Some(Pos {
            line: 7,
            col: 6 + ep.col
        })
    );
    let shown = d[0].to_string();
    assert!(
        shown.starts_with(&format!("r.yml:7:{}: group \"g\", rule 1, \"a\", could not parse expression: 2:{}: parse error:", 6 + ep.col, ep.col)),
        "{shown}"
    );
}

#[test]
fn prometheus_rule_errors() {
    assert_eq!(
        one_err("apiVersion: v1\nkind: PrometheusRule\nspec: {groups: []}\n"),
        "r.yml:1:13: apiVersion \"v1\" is not supported, expected \"monitoring.coreos.com/v1\""
    );
    assert_eq!(
        one_err("apiVersion: monitoring.coreos.com/v1\nkind: ConfigMap\nspec: {groups: []}\n"),
        "r.yml:2:7: kind \"ConfigMap\" is not supported, expected \"PrometheusRule\""
    );
    assert_eq!(
        one_err("apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\n"),
        "r.yml: a PrometheusRule object needs a spec"
    );
    assert_eq!(
        one_err("kind: PrometheusRule\ngroups: []\n"),
        "r.yml:2:9: a document is either a rule file (groups) or a PrometheusRule object \
         (apiVersion, kind, metadata, spec), not both"
    );
    assert_eq!(
        one_err("apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nspec:\n  groups:\n  - name: a\n    bogus: 1\n"),
        "r.yml:6:5: unknown field `bogus`, expected one of name, interval, limit, \
         query_offset, labels, rules, partial_response_strategy"
    );
}

#[test]
fn load_all_reports_every_file() {
    let d = tempfile::tempdir().unwrap();
    let good = d.path().join("good.yml");
    let bad = d.path().join("bad.yml");
    std::fs::write(&good, FULL).unwrap();
    std::fs::write(&bad, "groups:\n- name: \"\"\n").unwrap();
    let missing = d.path().join("missing.yml");
    let files = load_all(&[&good]).unwrap();
    assert_eq!(files[0].groups.len(), 2);
    let Err(Error::Invalid(problems)) = load_all(&[&good, &bad, &missing]) else {
        panic!("expected problems")
    };
    assert_eq!(problems.len(), 2);
    assert_eq!(
        problems[0].to_string(),
        format!("{}:2:3: Groupname must not be empty", bad.display())
    );
    assert!(problems[1]
        .to_string()
        .starts_with(&format!("{}: No such file", missing.display())));
}

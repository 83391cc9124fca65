//! Table tests of template parsing and expansion.
//!
//! The alert tables' expected strings were produced by Prometheus itself: the same texts as
//! annotations of an alert over `{instance="foo.example.com:9100", job="node"}` with value
//! 1234567, evaluated by `promtool test rules` (Prometheus 2.42, with the 3.x type name of
//! the alert data struct, `Value interface {}`), and `promtool check rules` for parse errors.
//! The generic table is Prometheus 3.x's own `template/template_test.go`.

use std::rc::Rc;

use strata_engine::Labels;

use super::*;

/// The query backend of the alert tables: `up` has two series, in the order Prometheus's
/// head returned them; every other query is empty.
fn query(q: &str, _t: i64) -> Result<Vec<(Labels, f64)>, QueryError> {
    let up = |i: &str| Labels::from_pairs(&[("__name__", "up"), ("instance", i), ("job", "node")]);
    Ok(match q {
        "up" => vec![(up("b:1")?, 1.0), (up("a:1")?, 0.0)],
        _ => vec![],
    })
}

/// Expands `text` as Prometheus expands an annotation of the test alert.
fn alert(text: &str) -> String {
    let labels =
        Labels::from_pairs(&[("instance", "foo.example.com:9100"), ("job", "node")]).unwrap();
    let ext = Labels::from_pairs(&[("cluster", "c1")]).unwrap();
    let url = "http://testhost:9090/path/prefix";
    let data = AlertData {
        labels: &labels,
        external_labels: &ext,
        external_url: url,
        value: 1234567.0,
    };
    let q: &QueryFn<'_> = &query;
    let env = Env {
        ts_ms: 60_000,
        external_url: url,
        query: Some(q),
    };
    let res = Template::parse_alert("T", text).and_then(|t| t.expand_alert(&data, &env));
    match res {
        Ok(s) => s,
        Err(e) if e.kind == ErrorKind::Parse => e.message,
        Err(e) => format!("<error expanding template: {}>", e.prometheus_message()),
    }
}

#[test]
fn alert_templates_match_prometheus() {
    let table: &[(&str, &str)] = &[
    ("{{ $value }}", "1.234567e+06"),
    ("{{ $value | humanize }}", "1.235M"),
    ("{{ humanize1024 $value }}", "1.177Mi"),
    ("{{ $labels.instance }}|{{ .Labels.instance }}|{{ $labels.missing }}|", "foo.example.com:9100|foo.example.com:9100||"),
    ("{{ $externalLabels.cluster }}|{{ .ExternalURL }}|{{ $externalURL }}", "c1|http://testhost:9090/path/prefix|http://testhost:9090/path/prefix"),
    ("{{ printf \"%.2f\" $value }}|{{ printf \"%d\" 5 }}|{{ printf \"%s\" $labels.job }}", "1234567.00|5|node"),
    ("{{ printf \"%v|%q|%g|%x|%5.1f|%-6s|\" $value \"a\\\"b\" 0.00001 255 3.14159 \"ab\" }}", "1.234567e+06|\"a\\\"b\"|1e-05|ff|  3.1|ab    |"),
    ("{{ printf \"%d\" $value }}|{{ printf \"%d %d\" 1 }}|{{ printf \"%d\" 1 2 }}", "%!d(float64=1.234567e+06)|1 %!d(MISSING)|1%!(EXTRA int=2)"),
    ("{{ if gt $value 1000.0 }}big{{ else }}small{{ end }}", "big"),
    ("{{ if gt $value 1 }}big{{ end }}", "<error expanding template: error executing template __alert_T: template: __alert_T:1:118: executing \"__alert_T\" at <gt $value 1>: error calling gt: incompatible types for comparison>"),
    ("{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}", "instance=foo.example.com:9100;job=node;"),
    ("{{ with $labels.job }}job={{ . }}{{ else }}none{{ end }}|{{ with $labels.nope }}x{{ else }}none{{ end }}", "job=node|none"),
    ("{{ and 1 0 }} {{ or 0 \"\" \"x\" }} {{ not true }} {{ eq \"a\" \"b\" \"a\" }} {{ ne 1 2 }} {{ le 1.5 2.5 }} {{ and 1 2 }}", "0 x false true true true 2"),
    ("{{ len $labels }} {{ index $labels \"job\" }} {{ len \"h\u{e9}llo\" }}", "2 node 6"),
    ("a {{- /* c */ -}} b {{- 1 -}} c {{/* x */}}d", "ab1c d"),
    ("{{ \"tab\\there\\u00e9\\x41\" }}|{{ `raw\\n` }}", "tab\there\u{e9}A|raw\\n"),
    ("{{ 1.5 }} {{ 0x10 }} {{ 1e3 }} {{ 'a' }} {{ -0.22222 | humanizePercentage }} {{ 1.0 }} {{ 010 }}", "1.5 16 1000 97 -22.22% 1 8"),
    ("{{ humanizeDuration 0.5 }} {{ humanizeDuration 90061 }} {{ humanizeDuration 59.999 }} {{ humanizeDuration \"3600\" }}", "500ms 1d 1h 1m 1s 60s 1h 0m 0s"),
    ("{{ humanizeTimestamp 1435065584.128 }}|{{ humanizePercentage 0.1234567 }}|{{ humanize 0.000001234 }}|{{ humanize -1234 }}", "2015-06-23 13:19:44.128 +0000 UTC|12.35%|1.234u|-1.234k"),
    ("{{ toUpper \"aA bB\" }} {{ toLower \"aA bB\" }} {{ title \"hello world\" }}", "AA BB aa bb Hello World"),
    ("{{ match \"a+\" \"baaa\" }} {{ match \"^a+$\" \"baaa\" }} {{ reReplaceAll \"(a)b\" \"x$1\" \"abab\" }} {{ reReplaceAll \"l(?P<x>o)\" \"${x}0\" \"hello\" }}", "true false xaxa helo0"),
    ("{{ stripPort \"foo.example.com:9100\" }} {{ stripDomain \"foo.example.com:9100\" }} {{ stripPort \"[::1]:80\" }} {{ safeHtml \"<b>\" }}", "foo.example.com foo:9100 ::1 <b>"),
    ("{{ define \"x\" }}{{ .arg0 }}-{{ .arg1 }}{{ end }}{{ template \"x\" (args 1 \"two\") }}", "1-two"),
    ("{{ query \"up\" | first | value }}|{{ query \"up\" | first | label \"instance\" }}|{{ (query \"up\" | first).Labels.job }}", "1|b:1|node"),
    ("{{ range query \"up\" | sortByLabel \"instance\" }}{{ .Labels.instance }}:{{ .Value }} {{ end }}", "a:1:0 b:1:1 "),
    ("{{ with query \"nothing\" }}x{{ else }}empty{{ end }}", "empty"),
    ("{{ (1435065584.128 | toTime).Format \"2006-01-02 15:04:05.000 MST Mon Jan\" }}", "2015-06-23 13:19:44.128 UTC Tue Jun"),
    ("{{ query \"missing\" | first }}", "<error expanding template: error executing template __alert_T: template: __alert_T:1:133: executing \"__alert_T\" at <first>: error calling first: first() called on vector with no elements>"),
    ("{{ humanize \"one\" }}", "<error expanding template: error executing template __alert_T: template: __alert_T:1:115: executing \"__alert_T\" at <humanize \"one\">: error calling humanize: strconv.ParseFloat: parsing \"one\": invalid syntax>"),
    ("{{ $value | title }}", "<error expanding template: error executing template __alert_T: template: __alert_T:1:124: executing \"__alert_T\" at <title>: wrong type for value; expected string; got float64>"),
    ("{{ .Foo }}", "<error expanding template: error executing template __alert_T: template: __alert_T:1:115: executing \"__alert_T\" at <.Foo>: can't evaluate field Foo in type struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value interface {} }>"),
    ("{{ . }}", "{map[instance:foo.example.com:9100 job:node] map[cluster:c1] http://testhost:9090/path/prefix 1.234567e+06}"),
    ("{{ $labels }}", "map[instance:foo.example.com:9100 job:node]"),
    ("{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}", "2"),
    ("{{ range $i, $e := query \"up\" }}{{ if eq $i 1 }}{{ continue }}{{ end }}{{ $i }}{{ end }}|{{ range query \"up\" }}{{ break }}{{ end }}done", "0|done"),
    ("{{ print 1 2 \"a\" 3 }}|{{ println \"x\" 1 }}|", "1 2a3|x 1\n|"),
    ("{{ html \"<a&'b\\\">\" }}|{{ js \"it's <x>\" }}|{{ urlquery \"a b&c/d\" }}", "&lt;a&amp;&#39;b&#34;&gt;|it\\'s \\u003Cx\\u003E|a+b%26c%2Fd"),
    ("{{ block \"blk\" $labels.job }}[{{ . }}]{{ end }}", "[node]"),
    ("{{ index (query \"up\") 1 | value }}", "0"),
    ("{{ $value | printf \"%.3e\" }}", "1.235e+06"),
    ("{{ printf \"%08.3f|%+d|% d|%x|%X|%o|%b|%c|%U|%t\" 3.14159 5 7 \"hi\" 255 8 5 65 65 true }}", "0003.142|+5| 7|6869|FF|10|101|A|U+0041|true"),
    ("{{ printf \"%6.2f%%\" 12.3456 }}", " 12.35%"),
    ("{{ printf \"%s\" 1.5 }}|{{ printf \"%v\" $labels }}", "%!s(float64=1.5)|map[instance:foo.example.com:9100 job:node]"),
    ("{{ len (query \"up\") }}", "2"),
    ("{{ humanizePercentage \"0.5\" }}|{{ humanize 1000 }}|{{ humanize 999.95 }}|{{ humanize 0.0009999 }}", "50%|1k|1000|999.9u"),
    ("{{ 3 | printf \"%d-%s\" \"x\" }}", "%!d(string=x)-%!s(int=3)"),
    ("{{ \"x\" | len }}", "1"),
    ("{{ eq $value 1234567.0 }}", "true"),
    ("{{ if and (gt $value 1e6) (lt $value 2e6) }}mid{{ end }}", "mid"),
    ("{{ printf \"a\" | }}", "a"),
    ("line1\nline2 {{ .x | }}\n", "<error expanding template: error executing template __alert_T: template: __alert_T:2:9: executing \"__alert_T\" at <.x>: can't evaluate field x in type struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value interface {} }>"),
    ("{{ len 1 2 }}", "<error expanding template: error executing template __alert_T: template: __alert_T:1:115: executing \"__alert_T\" at <len>: wrong number of args for len: want 1 got 2>"),
    ("{{ printf }}", "<error expanding template: error executing template __alert_T: template: __alert_T:1:115: executing \"__alert_T\" at <printf>: wrong number of args for printf: want at least 1 got 0>"),
    ("{{ index $labels 1 }}", "<error expanding template: error executing template __alert_T: template: __alert_T:1:115: executing \"__alert_T\" at <index $labels 1>: error calling index: value has type int; should be string>"),
    ("{{ $labels.job.x }}", "<error expanding template: error executing template __alert_T: template: __alert_T:1:122: executing \"__alert_T\" at <$labels.job.x>: can't evaluate field x in type string>"),
    ("{{ nil }}", "<error expanding template: error executing template __alert_T: template: __alert_T:1:115: executing \"__alert_T\" at <nil>: nil is not a command>"),
    ("{{ $value.x }}", "<error expanding template: error executing template __alert_T: template: __alert_T:1:121: executing \"__alert_T\" at <$value.x>: can't evaluate field x in type float64>"),
    ("{{ \"a\" | printf \"%s%s\" \"b\" }}", "ba"),
    ("{{ humanize true }}", "<error expanding template: error executing template __alert_T: template: __alert_T:1:115: executing \"__alert_T\" at <humanize true>: error calling humanize: can't convert bool to float>"),
    ("{{ first 1 }}", "<error expanding template: error executing template __alert_T: template: __alert_T:1:121: executing \"__alert_T\" at <1>: can't handle 1 for arg of type template.queryResult>"),
    ("{{ with $v := $labels.job }}{{ $v }}{{ end }}", "node"),
    ("{{- range $i := query \"up\" -}} {{ $i.Value }} {{- end }}", "10"),
    ("{{ index $labels \"nope\" }}|", "|"),
    ("{{ $labels.job | len }}", "4"),
    ("{{ label \"x\" }}", "<error expanding template: error executing template __alert_T: template: __alert_T:1:115: executing \"__alert_T\" at <label>: wrong number of args for label: want 2 got 1>"),
    ("{{ toTime \"abc\" }}", "<error expanding template: error executing template __alert_T: template: __alert_T:1:115: executing \"__alert_T\" at <toTime \"abc\">: error calling toTime: strconv.ParseFloat: parsing \"abc\": invalid syntax>"),
    ("{{ eq $value nil }}", "false"),
    ("{{ lt \"a\" \"b\" }} {{ lt 1 2.0 }}", "<error expanding template: error executing template __alert_T: template: __alert_T:1:132: executing \"__alert_T\" at <lt 1 2.0>: error calling lt: incompatible types for comparison>"),
    ];
    for (text, want) in table {
        assert_eq!(alert(text), *want, "template {text:?}");
    }
}

#[test]
fn alert_parse_errors_match_promtool() {
    let table: &[(&str, &str)] = &[
        ("{{", "template: __alert_T:1: unclosed action"),
        (
            "ab{{ nope 1 }}",
            "template: __alert_T:1: function \"nope\" not defined",
        ),
        (
            "{{ $y }}",
            "template: __alert_T:1: undefined variable \"$y\"",
        ),
        ("{{ if 1 }}x", "template: __alert_T:1: unexpected EOF"),
        ("{{ end }}", "template: __alert_T:1: unexpected {{end}}"),
        ("{{ else }}", "template: __alert_T:1: unexpected {{else}}"),
        (
            "{{ break }}",
            "template: __alert_T:1: {{break}} outside {{range}}",
        ),
        (
            "{{ 1 | 2 }}",
            "template: __alert_T:1: non executable command in pipeline stage 2",
        ),
        ("{{ }}", "template: __alert_T:1: missing value for command"),
        (
            "{{ \"a\".x }}",
            "template: __alert_T:1: unexpected . after term \"\\\"a\\\"\"",
        ),
        (
            "{{ 1 ) }}",
            "template: __alert_T:1: unexpected \")\" in command",
        ),
        (
            "{{ 99999999999999999999 }}",
            "template: __alert_T:1: integer overflow: \"99999999999999999999\"",
        ),
        ("{{ \"\\q\" }}", "template: __alert_T:1: invalid syntax"),
        (
            "{{ .a# }}",
            "template: __alert_T:1: bad character U+0023 '#'",
        ),
        ("{{/* x }}", "template: __alert_T:1: unclosed comment"),
        (
            "{{ range $a, $b, $c := . }}{{ end }}",
            "template: __alert_T:1: too many declarations in range",
        ),
        (
            "{{ if true }}{{ else }}{{ else }}{{ end }}",
            "template: __alert_T:1: expected end; found {{else}}",
        ),
        (
            "{{ with $x := 1 }}{{ end }}{{ $x }}",
            "template: __alert_T:1: undefined variable \"$x\"",
        ),
        (
            "{{ 3x }}",
            "template: __alert_T:1: bad number syntax: \"3x\"",
        ),
        ("{{ (1 }}", "template: __alert_T:1: unclosed left paren"),
        (
            "{{ template }}",
            "template: __alert_T:1: unexpected \"}}\" in template clause",
        ),
        (
            "{{ \"abc }}",
            "template: __alert_T:1: unterminated quoted string",
        ),
    ];
    for (text, want) in table {
        assert_eq!(alert(text), *want, "template {text:?}");
    }
}

/// Expands a template named `test` over `data` at 1353755652000 ms, as Prometheus's template
/// tests do; errors are rendered as Prometheus's `Expand` returns them.
fn expand(text: &str, data: Value, result: Vec<(Labels, f64)>) -> Result<String, String> {
    let q = move |_: &str, _: i64| -> Result<Vec<(Labels, f64)>, QueryError> { Ok(result.clone()) };
    let q: &QueryFn<'_> = &q;
    let env = Env {
        ts_ms: 1353755652000,
        external_url: "http://testhost:9090/path/prefix",
        query: Some(q),
    };
    Template::parse("test", text)
        .and_then(|t| t.execute(data, &env))
        .map_err(|e| e.prometheus_message())
}

fn floats(v: &[f64]) -> Value {
    Value::List(Rc::new(v.iter().map(|f| Value::Float(*f)).collect()))
}
fn ints(v: &[i64]) -> Value {
    Value::List(Rc::new(v.iter().map(|i| Value::Int(*i)).collect()))
}
fn uints(v: &[u64]) -> Value {
    Value::List(Rc::new(v.iter().map(|i| Value::Uint(*i)).collect()))
}
fn strs(v: &[&str]) -> Value {
    Value::List(Rc::new(v.iter().map(|s| Value::str(s)).collect()))
}
fn metric(pairs: &[(&str, &str)], v: f64) -> (Labels, f64) {
    let mut all = vec![("__name__", "metric")];
    all.extend_from_slice(pairs);
    (Labels::from_pairs(&all).unwrap(), v)
}

#[test]
fn prometheus_template_tests() {
    let none = || Value::Invalid;
    let ok = |s: &str| Ok::<String, String>(s.to_string());
    let err = |s: &str| Err::<String, String>(s.to_string());
    let m11 = || vec![metric(&[("instance", "a")], 11.0)];
    type Case<'a> = (&'a str, Value, Vec<(Labels, f64)>, Result<String, String>);
    let cases: Vec<Case<'_>> = vec![
        ("plain text", none(), vec![], ok("plain text")),
        ("{{ 1 }}", none(), vec![], ok("1")),
        (
            "{{\u{a0}}}",
            none(),
            vec![],
            err("error parsing template test: template: test:1: unrecognized character in action: U+00A0"),
        ),
        ("{{ \"<b>\" }}", none(), vec![], ok("<b>")),
        (
            "{{define \"x\"}}{{.arg0}} {{.arg1}}{{end}}{{template \"x\" (args 1 \"2\")}}",
            none(),
            vec![],
            ok("1 2"),
        ),
        (
            "{{ query \"1.5\" | first | value }}",
            none(),
            vec![(Labels::empty(), 1.5)],
            ok("1.5"),
        ),
        ("{{ query \"metric{instance='a'}\" | first | value }}", none(), m11(), ok("11")),
        ("{{ query \"metric{instance='a'}\" | first | label \"instance\" }}", none(), m11(), ok("a")),
        (
            "{{ query \"metric{__value__='a'}\" | first | strvalue }}",
            none(),
            vec![metric(&[("__value__", "a")], 11.0)],
            ok("a"),
        ),
        ("{{ query \"metric{instance='a'}\" | first | label \"foo\" }}", none(), m11(), ok("")),
        ("{{ $x := query \"metric\" | first }}{{ $x.Labels.foo }}", none(), m11(), ok("")),
        (
            "{{ range query \"metric\" | sortByLabel \"instance\" }}{{.Labels.instance}}:{{.Value}}: {{end}}",
            none(),
            vec![metric(&[("instance", "b")], 21.0), metric(&[("instance", "a")], 11.0)],
            ok("a:11: b:21: "),
        ),
        ("{{ .Foo }}", none(), vec![], ok("<no value>")),
        (
            "{{",
            none(),
            vec![],
            err("error parsing template test: template: test:1: unclosed action"),
        ),
        (
            "{{ query \"missing\" | first }}",
            none(),
            vec![],
            err("error executing template test: template: test:1:21: executing \"test\" at <first>: error calling first: first() called on vector with no elements"),
        ),
        (
            "{{ (query \"missing\").banana }}",
            none(),
            vec![],
            err("error executing template test: template: test:1:10: executing \"test\" at <\"missing\">: can't evaluate field banana in type template.queryResult"),
        ),
        ("{{ reReplaceAll \"(a)b\" \"x$1\" \"ab\" }}", none(), vec![], ok("xa")),
        ("{{ range . }}{{ humanize . }}:{{ end }}", floats(&[0.0, 1.0, 1234567.0, 0.12]), vec![], ok("0:1:1.235M:120m:")),
        ("{{ range . }}{{ humanize . }}:{{ end }}", strs(&["0.0", "1.0", "1234567.0", ".12"]), vec![], ok("0:1:1.235M:120m:")),
        (
            "{{ humanize \"one\" }}",
            none(),
            vec![],
            err("error executing template test: template: test:1:3: executing \"test\" at <humanize \"one\">: error calling humanize: strconv.ParseFloat: parsing \"one\": invalid syntax"),
        ),
        ("{{ range . }}{{ humanize . }}:{{ end }}", ints(&[0, -1, 1, 1234567, i64::MAX]), vec![], ok("0:-1:1:1.235M:9.223E:")),
        ("{{ range . }}{{ humanize . }}:{{ end }}", uints(&[0, 1, 1234567, u64::MAX]), vec![], ok("0:1:1.235M:18.45E:")),
        ("{{ range . }}{{ humanize1024 . }}:{{ end }}", floats(&[0.0, 1.0, 1048576.0, 0.12]), vec![], ok("0:1:1Mi:0.12:")),
        ("{{ range . }}{{ humanize1024 . }}:{{ end }}", strs(&["0.0", "1.0", "1048576.0", ".12"]), vec![], ok("0:1:1Mi:0.12:")),
        ("{{ range . }}{{ humanize1024 . }}:{{ end }}", ints(&[0, -1, 1, 1234567, i64::MAX]), vec![], ok("0:-1:1:1.177Mi:8Ei:")),
        ("{{ range . }}{{ humanize1024 . }}:{{ end }}", uints(&[0, 1, 1234567, u64::MAX]), vec![], ok("0:1:1.177Mi:16Ei:")),
        (
            "{{ range . }}{{ humanizeDuration . }}:{{ end }}",
            floats(&[0.0, 1.0, 60.0, 3600.0, 86400.0, 86400.0 + 3600.0, -(86400.0 * 2.0 + 3600.0 * 3.0 + 60.0 * 4.0 + 5.0), 899.99]),
            vec![],
            ok("0s:1s:1m 0s:1h 0m 0s:1d 0h 0m 0s:1d 1h 0m 0s:-2d 3h 4m 5s:14m 59s:"),
        ),
        (
            "{{ range . }}{{ humanizeDuration . }}:{{ end }}",
            strs(&[".1", ".0001", ".12345", "60.1", "60.5", "1.2345", "12.345"]),
            vec![],
            ok("100ms:100us:123.5ms:1m 0s:1m 0s:1.234s:12.35s:"),
        ),
        ("{{ range . }}{{ humanizeDuration . }}:{{ end }}", ints(&[0, -1, 1, 1234567]), vec![], ok("0s:-1s:1s:14d 6h 56m 7s:")),
        (
            "{{ range . }}{{ humanize . }}:{{ humanize1024 . }}:{{ humanizeDuration . }}:{{humanizeTimestamp .}}:{{ end }}",
            floats(&[f64::INFINITY, f64::NEG_INFINITY, f64::NAN]),
            vec![],
            ok("+Inf:+Inf:+Inf:+Inf:-Inf:-Inf:-Inf:-Inf:NaN:NaN:NaN:NaN:"),
        ),
        (
            "{{ range . }}{{ humanize . }}:{{ humanize1024 . }}:{{ humanizeDuration . }}:{{humanizeTimestamp .}}:{{ end }}",
            strs(&["+Inf", "-Inf", "NaN"]),
            vec![],
            ok("+Inf:+Inf:+Inf:+Inf:-Inf:-Inf:-Inf:-Inf:NaN:NaN:NaN:NaN:"),
        ),
        (
            "{{ -0.22222 | humanizePercentage }}:{{ 0.0 | humanizePercentage }}:{{ 0.1234567 | humanizePercentage }}:{{ 1.23456 | humanizePercentage }}",
            none(),
            vec![],
            ok("-22.22%:0%:12.35%:123.5%"),
        ),
        ("{{ range . }}{{ humanizePercentage . }}:{{ end }}", ints(&[0, -1, 1, 1234567, i64::MAX]), vec![], ok("0%:-100%:100%:1.235e+08%:9.223e+20%:")),
        ("{{ range . }}{{ humanizePercentage . }}:{{ end }}", uints(&[0, 1, 1234567, u64::MAX]), vec![], ok("0%:100%:1.235e+08%:1.845e+21%:")),
        (
            "{{ \"one\" | humanizePercentage }}",
            none(),
            vec![],
            err("error executing template test: template: test:1:11: executing \"test\" at <humanizePercentage>: error calling humanizePercentage: strconv.ParseFloat: parsing \"one\": invalid syntax"),
        ),
        (
            "{{ range . }}{{ humanizeTimestamp . }}:{{ end }}",
            ints(&[0, -1, 1, 1234567, 9223372036]),
            vec![],
            ok("1970-01-01 00:00:00 +0000 UTC:1969-12-31 23:59:59 +0000 UTC:1970-01-01 00:00:01 +0000 UTC:1970-01-15 06:56:07 +0000 UTC:2262-04-11 23:47:16 +0000 UTC:"),
        ),
        (
            "{{ range . }}{{ humanizeTimestamp . }}:{{ end }}",
            ints(&[i64::MIN, i64::MAX]),
            vec![],
            err("error executing template test: template: test:1:16: executing \"test\" at <humanizeTimestamp .>: error calling humanizeTimestamp: -9.223372036854776e+18 cannot be represented as a nanoseconds timestamp since it overflows int64"),
        ),
        (
            "{{ range . }}{{ humanizeTimestamp . }}:{{ end }}",
            uints(&[u64::MAX]),
            vec![],
            err("error executing template test: template: test:1:16: executing \"test\" at <humanizeTimestamp .>: error calling humanizeTimestamp: 1.8446744073709552e+19 cannot be represented as a nanoseconds timestamp since it overflows int64"),
        ),
        ("{{ 1435065584.128 | humanizeTimestamp }}", none(), vec![], ok("2015-06-23 13:19:44.128 +0000 UTC")),
        ("{{ \"1435065584.128\" | humanizeTimestamp }}", none(), vec![], ok("2015-06-23 13:19:44.128 +0000 UTC")),
        ("{{ (1435065584.128 | toTime).Format \"2006\" }}", none(), vec![], ok("2015")),
        ("{{ (\"1435065584.128\" | toTime).Format \"2006\" }}", none(), vec![], ok("2015")),
        ("{{ (1800 | toDuration).String }}", none(), vec![], ok("30m0s")),
        ("{{ (\"1800\" | toDuration).String }}", none(), vec![], ok("30m0s")),
        ("{{ now }}", none(), vec![], ok("1.353755652e+09")),
        ("{{ (now | toTime).Format \"Mon Jan 2 15:04:05 2006\" }}", none(), vec![], ok("Sat Nov 24 11:14:12 2012")),
        ("{{ (\"-30m\" | parseDuration | toDuration | (now | toTime).Add).UnixMilli }}", none(), vec![], ok("1353753852000")),
        ("{{ \"aa bb CC\" | title }}", none(), vec![], ok("Aa Bb CC")),
        ("{{ \"aa bb CC\" | toUpper }}", none(), vec![], ok("AA BB CC")),
        ("{{ \"aA bB CC\" | toLower }}", none(), vec![], ok("aa bb cc")),
        ("{{ match \"a+\" \"aa\" }} {{ match \"a+\" \"b\" }}", none(), vec![], ok("true false")),
        ("{{ graphLink \"up\" }}", none(), vec![], ok("/graph?g0.expr=up&g0.tab=0")),
        ("{{ tableLink \"up\" }}", none(), vec![], ok("/graph?g0.expr=up&g0.tab=1")),
        ("{{ pathPrefix }}", none(), vec![], ok("/path/prefix")),
        ("{{ externalURL }}", none(), vec![], ok("http://testhost:9090/path/prefix")),
        ("{{ printf \"%0.2f\" (parseDuration \"1h2m10ms\") }}", none(), vec![], ok("3720.01")),
        ("{{ printf \"%0.2f\" (parseDuration \"-1h2m10ms\") }}", none(), vec![], ok("-3720.01")),
        ("{{ \"foo.example.com\" | stripDomain }}", none(), vec![], ok("foo")),
        ("{{ \"foo.example.com:12345\" | stripDomain }}", none(), vec![], ok("foo:12345")),
        ("{{ \"[2001:0DB8::1]:12345\" | stripPort }}", none(), vec![], ok("2001:0DB8::1")),
    ];
    for (text, data, result, want) in cases {
        assert_eq!(expand(text, data, result), want, "template {text:?}");
    }
}

#[test]
fn parse_errors_point_into_the_users_text() {
    let e = Template::parse_alert("A", "ok\nsecond {{ nope }}").unwrap_err();
    assert_eq!(e.kind, ErrorKind::Parse);
    assert_eq!((e.line, e.offset), (2, Some(13)));
    assert_eq!(
        e.message,
        "template: __alert_A:2: function \"nope\" not defined"
    );
    let e = Template::parse_alert("A", "{{ $value | nope }}").unwrap_err();
    assert_eq!((e.line, e.offset), (1, Some(12)));
    let e = Template::parse("t", "{{ 1 }}{{ len 1 2 }}")
        .unwrap()
        .execute(Value::Invalid, &Env::at(0))
        .unwrap_err();
    assert_eq!(
        (e.kind, e.line, e.column, e.offset),
        (ErrorKind::Exec, 1, 10, Some(10))
    );
}

#[test]
fn plain_text_and_variables() {
    assert!(Template::parse("t", "just text").unwrap().is_plain_text());
    assert!(!Template::parse("t", "a {{ 1 }}").unwrap().is_plain_text());
    assert!(!Template::parse_alert("t", "plain").unwrap().is_plain_text());
    let out = |s: &str| expand(s, Value::Invalid, vec![]).unwrap();
    assert_eq!(
        out("{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ $y := 3 }}{{ end }}{{ $x }}"),
        "2"
    );
    assert_eq!(
        out("{{ range $i, $e := args \"a\" \"b\" }}{{ $i }}={{ $e }};{{ end }}"),
        "arg0=a;arg1=b;"
    );
    assert_eq!(out("{{ range 3 }}{{ . }}{{ else }}none{{ end }}"), "012");
    assert_eq!(out("{{ range 0 }}{{ . }}{{ else }}none{{ end }}"), "none");
    assert_eq!(out("{{ with 0 }}x{{ else with 2 }}{{ . }}{{ end }}"), "2");
    assert_eq!(out("{{ if 0 }}a{{ else if 1 }}b{{ else }}c{{ end }}"), "b");
    assert_eq!(out("{{ block \"b\" 5 }}<{{ . }}>{{ end }}"), "<5>");
    assert_eq!(out("{{ or 0 (index (args 1) \"arg0\") }}"), "1");
    // and/or short-circuit: the failing call is never made.
    assert_eq!(
        out("{{ and 0 (first (query \"x\")) }}|{{ or 1 (first (query \"x\")) }}"),
        "0|1"
    );
    let deep = "{{ define \"r\" }}{{ template \"r\" . }}{{ end }}{{ template \"r\" . }}";
    let e = expand(deep, Value::Invalid, vec![]).unwrap_err();
    assert!(e.ends_with("exceeded maximum template depth (100)"), "{e}");
}

/// Random token soup never panics: every input parses or fails with an error, and every
/// parsed template executes or fails with an error.
#[test]
fn arbitrary_input_never_panics() {
    const PIECES: &[&str] = &[
        "{{",
        "}}",
        "{{- ",
        " -}}",
        " ",
        "$x",
        ":=",
        "=",
        "$",
        ".",
        ".a",
        "$labels",
        "$value",
        "|",
        "(",
        ")",
        "\"s\"",
        "`r`",
        "'c'",
        "1",
        "-2.5e3",
        "0x1f",
        "if",
        "else",
        "end",
        "range",
        "with",
        "define",
        "template",
        "block",
        "break",
        "continue",
        "nil",
        "true",
        "printf",
        "\"%d %s %v\"",
        "humanize",
        "len",
        "index",
        "eq",
        "lt",
        "and",
        "or",
        "not",
        "query",
        "first",
        "value",
        "label",
        "toTime",
        "now",
        ".Format",
        "\"2006\"",
        "/*",
        "*/",
        "\n",
        "x",
        ",",
        "\u{e9}",
        "\\",
        "\"",
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let labels = Labels::from_pairs(&[("a", "b")]).unwrap();
    let data = AlertData {
        labels: &labels,
        external_labels: &labels,
        external_url: "",
        value: 2.0,
    };
    let q = |_: &str, _: i64| -> Result<Vec<(Labels, f64)>, QueryError> {
        Ok(vec![(Labels::from_pairs(&[("a", "b")]).unwrap(), 1.0)])
    };
    let q: &QueryFn<'_> = &q;
    let env = Env {
        ts_ms: 0,
        external_url: "",
        query: Some(q),
    };
    let (mut parsed, mut executed) = (0, 0);
    for _ in 0..20_000 {
        let mut text = String::new();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let n = 1 + (seed % 12) as usize;
        for k in 0..n {
            let r = seed.rotate_left(5 * k as u32) as usize;
            text.push_str(PIECES[r % PIECES.len()]);
        }
        if let Ok(t) = Template::parse_alert("fuzz", &text) {
            parsed += 1;
            if t.expand_alert(&data, &env).is_ok() {
                executed += 1;
            }
        }
    }
    // The generator reaches both outcomes (a sanity check on the test itself).
    assert!(
        parsed > 100 && executed > 100,
        "parsed {parsed}, executed {executed}"
    );
}

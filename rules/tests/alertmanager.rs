//! End to end with a real Alertmanager: an alerting rule goes pending, fires, its alert is
//! posted by the notifier and shows up in Alertmanager's API with the right labels and
//! annotations; then it resolves and disappears from Alertmanager's active alerts.
//!
//! Needs a running Alertmanager whose base URL is in `STRATA_ALERTMANAGER_URL`
//! (`tests/e2e/alertmanager.sh` starts Debian's `prometheus-alertmanager` and sets it).
//! Without the variable the test prints why and returns.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use strata_engine::Labels;
use strata_rules::alert::{AlertState, AlertingRule, AlertingRuleDef, EvalContext};
use strata_rules::notifier::{Notifier, NotifierOptions};

const ENV: &str = "STRATA_ALERTMANAGER_URL";

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// `GET http://host:port/path`, returning the body (de-chunked).
fn get(base: &str, path: &str) -> String {
    let hostport = base
        .strip_prefix("http://")
        .expect("http:// URL")
        .trim_end_matches('/');
    let mut s = TcpStream::connect(hostport).expect("connect to Alertmanager");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {hostport}\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "GET {path}: {head}");
    if !head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return body.to_string();
    }
    let mut out = String::new();
    let mut rest = body;
    loop {
        let (size, after) = rest.split_once("\r\n").expect("chunk size");
        let n = usize::from_str_radix(size.trim(), 16).expect("hex chunk size");
        if n == 0 {
            return out;
        }
        out.push_str(&after[..n]);
        rest = &after[n + 2..];
    }
}

/// Alertmanager's active alerts named `name`.
fn active_alerts(base: &str, name: &str) -> Vec<serde_json::Value> {
    let filter = format!("alertname%3D%22{name}%22");
    let body = get(base, &format!("/api/v2/alerts?active=true&filter={filter}"));
    let v: serde_json::Value = serde_json::from_str(&body).expect("JSON from Alertmanager");
    v.as_array().expect("array of alerts").clone()
}

/// Polls until `cond` holds on Alertmanager's view, for at most 30 s.
fn wait_for(base: &str, name: &str, what: &str, cond: impl Fn(&[serde_json::Value]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let alerts = active_alerts(base, name);
        if cond(&alerts) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting until {what}; Alertmanager has {alerts:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn alerts_reach_alertmanager_and_resolve() {
    let Ok(base) = std::env::var(ENV) else {
        println!("skipped: {ENV} is not set (tests/e2e/alertmanager.sh sets it)");
        return;
    };
    let name = format!("StrataE2E{}", now_ms());
    let notifier = Notifier::start(NotifierOptions {
        alertmanagers: vec![base.clone()],
        external_labels: Labels::from_pairs(&[("cluster", "e2e")]).unwrap(),
        backoff_initial: Duration::from_millis(100),
        ..Default::default()
    })
    .expect("notifier");
    let mut rule = AlertingRule::new(AlertingRuleDef {
        name: name.clone(),
        expr: "up{job=\"node\"} == 0".into(),
        for_ms: 1000,
        labels: vec![("severity".into(), "page".into())],
        annotations: vec![(
            "summary".into(),
            "{{ $labels.instance }} down, value {{ $value | humanize }}".into(),
        )],
        ..Default::default()
    })
    .unwrap();
    rule.set_restored(true);
    let ext = Labels::from_pairs(&[("cluster", "e2e")]).unwrap();
    let url = "http://strata.test:9201";
    let ctx = |ts| EvalContext {
        ts,
        query_offset: 0,
        external_labels: &ext,
        external_url: url,
        query: None,
        limit: 0,
    };
    let down = vec![(
        Labels::from_pairs(&[("__name__", "up"), ("instance", "a:9100"), ("job", "node")]).unwrap(),
        0.0,
    )];
    let (interval, resend) = (1000, 60_000);

    // Pending: nothing is sent.
    let t0 = now_ms();
    rule.eval(&ctx(t0), &down).unwrap();
    assert_eq!(rule.state(), AlertState::Pending);
    let pending = rule.alerts_to_send(t0, resend, interval, url);
    assert!(pending.is_empty());

    // One `for` later it fires and is sent.
    std::thread::sleep(Duration::from_millis(1100));
    let t1 = now_ms();
    rule.eval(&ctx(t1), &down).unwrap();
    assert_eq!(rule.state(), AlertState::Firing);
    notifier.send(rule.alerts_to_send(t1, resend, interval, url));
    wait_for(&base, &name, "the alert is active", |a| a.len() == 1);
    let a = &active_alerts(&base, &name)[0];
    assert_eq!(
        a["labels"],
        serde_json::json!({
            "alertname": name,
            "cluster": "e2e",
            "instance": "a:9100",
            "job": "node",
            "severity": "page",
        })
    );
    assert_eq!(
        a["annotations"],
        serde_json::json!({"summary": "a:9100 down, value 0"})
    );
    assert_eq!(a["status"]["state"], "active");
    assert_eq!(
        a["generatorURL"],
        "http://strata.test:9201/graph?g0.expr=up%7Bjob%3D%22node%22%7D+%3D%3D+0&g0.tab=1"
    );

    // It resolves: the resolution is sent with endsAt = now and Alertmanager drops it.
    std::thread::sleep(Duration::from_millis(200));
    let t2 = now_ms();
    rule.eval(&ctx(t2), &[]).unwrap();
    assert_eq!(rule.state(), AlertState::Inactive);
    let resolved = rule.alerts_to_send(t2, resend, interval, url);
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0].ends_at, Some(t2));
    notifier.send(resolved);
    wait_for(&base, &name, "the alert is resolved", |a| a.is_empty());

    let m = &notifier.metrics().alertmanagers[0];
    // The sender counts a batch once it has read Alertmanager's answer, which may be just
    // after Alertmanager already shows the change.
    let deadline = Instant::now() + Duration::from_secs(10);
    while m.sent.load(Ordering::Relaxed) < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(m.sent.load(Ordering::Relaxed), 2);
    assert_eq!(m.errors.load(Ordering::Relaxed), 0);
    assert_eq!(m.dropped.load(Ordering::Relaxed), 0);
    notifier.stop();
    println!("alertmanager e2e: ok ({name} fired and resolved at {base})");
}

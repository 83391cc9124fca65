//! Notifier tests against a real HTTP listener on 127.0.0.1 that records requests, answers
//! with scripted statuses, and can hold its answers until released.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use strata_engine::Labels;

use super::*;
use crate::alert::{AlertingRule, AlertingRuleDef, EvalContext};

/// One recorded request.
#[derive(Clone, Debug)]
struct Request {
    path: String,
    headers: Vec<(String, String)>,
    body: serde_json::Value,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn alerts(&self) -> &Vec<serde_json::Value> {
        self.body.as_array().expect("body is a JSON array")
    }
}

#[derive(Default)]
struct ServerState {
    requests: Vec<Request>,
    /// Statuses for the next requests (200 once empty).
    script: VecDeque<u16>,
    /// While true, requests are recorded but not answered.
    hold: bool,
    stop: bool,
}

/// A tiny Alertmanager stand-in.
struct TestServer {
    addr: SocketAddr,
    state: Arc<(Mutex<ServerState>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    fn start(script: &[u16]) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new((
            Mutex::new(ServerState {
                script: script.iter().copied().collect(),
                ..Default::default()
            }),
            Condvar::new(),
        ));
        let st = Arc::clone(&state);
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                if st.0.lock().unwrap().stop {
                    return;
                }
                let st = Arc::clone(&st);
                std::thread::spawn(move || serve(conn, &st));
            }
        });
        TestServer {
            addr,
            state,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("http://{}/am-prefix", self.addr)
    }

    fn set_hold(&self, hold: bool) {
        self.state.0.lock().unwrap().hold = hold;
        self.state.1.notify_all();
    }

    fn requests(&self) -> Vec<Request> {
        self.state.0.lock().unwrap().requests.clone()
    }

    /// Waits (bounded) until at least `n` requests arrived.
    fn wait_requests(&self, n: usize) -> Vec<Request> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut st = self.state.0.lock().unwrap();
        while st.requests.len() < n {
            let left = deadline
                .checked_duration_since(Instant::now())
                .unwrap_or_else(|| panic!("only {} of {n} requests arrived", st.requests.len()));
            st = self.state.1.wait_timeout(st, left).unwrap().0;
        }
        st.requests.clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        {
            let mut st = self.state.0.lock().unwrap();
            st.stop = true;
            st.hold = false;
        }
        self.state.1.notify_all();
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(conn: TcpStream, st: &(Mutex<ServerState>, Condvar)) {
    let mut r = BufReader::new(conn.try_clone().unwrap());
    let mut line = String::new();
    if r.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
    let mut headers = Vec::new();
    let mut len = 0;
    loop {
        let mut h = String::new();
        r.read_line(&mut h).unwrap();
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (n, v) = h.split_once(':').unwrap();
        if n.eq_ignore_ascii_case("content-length") {
            len = v.trim().parse().unwrap();
        }
        headers.push((n.to_string(), v.trim().to_string()));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).unwrap();
    let body = serde_json::from_slice(&body).expect("notifier sent valid JSON");
    let status = {
        let mut s = st.0.lock().unwrap();
        s.requests.push(Request {
            path,
            headers,
            body,
        });
        st.1.notify_all();
        while s.hold {
            s = st.1.wait(s).unwrap();
        }
        s.script.pop_front().unwrap_or(200)
    };
    let mut conn = conn;
    let _ = write!(
        conn,
        "HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
    );
}

fn opts(urls: Vec<String>) -> NotifierOptions {
    NotifierOptions {
        alertmanagers: urls,
        backoff_initial: Duration::from_millis(10),
        backoff_max: Duration::from_millis(40),
        timeout: Duration::from_secs(10),
        external_labels: Labels::from_pairs(&[("cluster", "c1"), ("job", "ext")]).unwrap(),
        ..Default::default()
    }
}

fn alert(i: usize) -> Alert {
    Alert {
        labels: Labels::from_pairs(&[("alertname", "A"), ("job", "api"), ("i", &i.to_string())])
            .unwrap(),
        annotations: vec![("summary".into(), format!("alert {i} <b>"))],
        starts_at: Some(1_700_000_000_123),
        ends_at: Some(1_700_000_240_123),
        generator_url: "http://strata:9201/graph?g0.expr=up&g0.tab=1".into(),
    }
}

fn am(n: &Notifier) -> &AlertmanagerMetrics {
    &n.metrics().alertmanagers[0]
}

fn load(a: &std::sync::atomic::AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

/// Waits (bounded) until `cond` holds.
fn eventually(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn posts_batches_with_prometheus_payload() {
    let srv = TestServer::start(&[]);
    let n = Notifier::start(NotifierOptions {
        max_batch: 3,
        ..opts(vec![srv.url()])
    })
    .unwrap();
    // Hold the first request so the next eight alerts queue up behind it.
    srv.set_hold(true);
    n.send(vec![alert(0)]);
    srv.wait_requests(1);
    n.send((1..8).map(alert).collect());
    eventually("queued", || load(&am(&n).queue_length) == 7);
    srv.set_hold(false);
    let reqs = srv.wait_requests(4);
    let sizes: Vec<usize> = reqs.iter().map(|r| r.alerts().len()).collect();
    assert_eq!(sizes, [1, 3, 3, 1]);
    // Order is preserved across batches.
    let order: Vec<String> = reqs
        .iter()
        .flat_map(|r| {
            r.alerts()
                .iter()
                .map(|a| a["labels"]["i"].as_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(order, ["0", "1", "2", "3", "4", "5", "6", "7"]);
    let r = &reqs[0];
    assert_eq!(r.path, "/am-prefix/api/v2/alerts");
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(r.header("user-agent").unwrap().starts_with("Strata/"));
    assert_eq!(
        r.body,
        serde_json::json!([{
            "annotations": {"summary": "alert 0 <b>"},
            "endsAt": "2023-11-14T22:17:20.123Z",
            "startsAt": "2023-11-14T22:13:20.123Z",
            "generatorURL": "http://strata:9201/graph?g0.expr=up&g0.tab=1",
            // External labels are added only where the alert lacks them.
            "labels": {"alertname": "A", "cluster": "c1", "i": "0", "job": "api"},
        }])
    );
    eventually("sent counted", || load(&am(&n).sent) == 8);
    assert_eq!(load(&am(&n).errors), 0);
    assert_eq!(load(&am(&n).dropped), 0);
    assert_eq!(load(&am(&n).latency_count), 4);
    n.stop();
}

#[test]
fn retries_failed_batches_with_backoff() {
    let srv = TestServer::start(&[500, 503]);
    let n = Notifier::start(opts(vec![srv.url()])).unwrap();
    n.send(vec![alert(1), alert(2)]);
    let reqs = srv.wait_requests(3);
    eventually("sent", || load(&am(&n).sent) == 2);
    // Two failed attempts, each counting both alerts, then success; same body each time.
    assert_eq!(load(&am(&n).errors), 4);
    assert_eq!(load(&am(&n).dropped), 0);
    assert!(reqs.iter().all(|r| r.body == reqs[0].body));
    assert!(am(&n)
        .last_error
        .lock()
        .unwrap()
        .as_deref()
        .unwrap()
        .contains("bad response status 503"));
    n.stop();
    assert_eq!(srv.requests().len(), 3);
}

#[test]
fn drops_a_batch_after_the_last_retry_and_does_not_retry_4xx() {
    let srv = TestServer::start(&[500, 500, 500]);
    let n = Notifier::start(NotifierOptions {
        retries: 2,
        ..opts(vec![srv.url()])
    })
    .unwrap();
    n.send(vec![alert(1)]);
    eventually("dropped", || load(&am(&n).dropped) == 1);
    assert_eq!(load(&am(&n).errors), 3);
    assert_eq!(srv.requests().len(), 3);
    n.stop();

    let srv = TestServer::start(&[400]);
    let n = Notifier::start(opts(vec![srv.url()])).unwrap();
    n.send(vec![alert(1), alert(2)]);
    eventually("dropped", || load(&am(&n).dropped) == 2);
    assert_eq!(load(&am(&n).errors), 2);
    n.stop();
    assert_eq!(srv.requests().len(), 1, "a 400 is not retried");
}

#[test]
fn full_queue_drops_the_oldest_and_counts_them() {
    let srv = TestServer::start(&[]);
    let n = Notifier::start(NotifierOptions {
        queue_capacity: 5,
        ..opts(vec![srv.url()])
    })
    .unwrap();
    srv.set_hold(true);
    n.send(vec![alert(100)]);
    srv.wait_requests(1);
    // The sender is busy: 4 fit, then 8 more push out the 7 oldest of those 12.
    n.send((0..4).map(alert).collect());
    n.send((4..12).map(alert).collect());
    assert_eq!(load(&am(&n).dropped), 7);
    assert_eq!(load(&am(&n).queue_length), 5);
    // A single send larger than the capacity keeps its newest alerts.
    n.send((20..28).map(alert).collect());
    assert_eq!(load(&am(&n).dropped), 7 + 8);
    srv.set_hold(false);
    eventually("sent", || load(&am(&n).sent) == 6);
    let kept: Vec<String> = srv.requests()[1..]
        .iter()
        .flat_map(|r| {
            r.alerts()
                .iter()
                .map(|a| a["labels"]["i"].as_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(kept, ["23", "24", "25", "26", "27"]);
    let mut text = String::new();
    n.metrics().write_text(&mut text);
    assert!(text.contains(&format!(
        "prometheus_notifications_dropped_total{{alertmanager=\"http://{}/am-prefix/api/v2/alerts\"}} 15",
        srv.addr
    )));
    n.stop();
}

#[test]
fn sends_to_every_alertmanager_and_survives_a_dead_one() {
    let a = TestServer::start(&[]);
    let b = TestServer::start(&[]);
    // Nothing listens on the third: connections are refused.
    let dead = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let n = Notifier::start(NotifierOptions {
        retries: 1,
        ..opts(vec![a.url(), b.url(), format!("http://{dead}")])
    })
    .unwrap();
    n.send(vec![alert(1)]);
    a.wait_requests(1);
    b.wait_requests(1);
    let m = n.metrics();
    eventually("dead one dropped", || {
        load(&m.alertmanagers[2].dropped) == 1
    });
    assert_eq!(load(&m.alertmanagers[2].errors), 2);
    eventually("sent", || m.sent_total() == 2);
    assert_eq!(n.alertmanagers().len(), 3);
    n.stop();
}

#[test]
fn stop_drains_the_queue() {
    let srv = TestServer::start(&[]);
    let n = Notifier::start(NotifierOptions {
        max_batch: 2,
        ..opts(vec![srv.url()])
    })
    .unwrap();
    srv.set_hold(true);
    n.send(vec![alert(0)]);
    srv.wait_requests(1);
    n.send((1..6).map(alert).collect());
    let m = Arc::clone(n.metrics());
    let releaser = {
        let st = Arc::clone(&srv.state);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            st.0.lock().unwrap().hold = false;
            st.1.notify_all();
        })
    };
    n.stop();
    releaser.join().unwrap();
    assert_eq!(load(&m.alertmanagers[0].sent), 6);
    assert_eq!(srv.requests().len(), 4);
}

#[test]
fn invalid_urls_are_errors() {
    for u in ["https://am:9093", "am:9093", "http://am:x"] {
        let e = Notifier::start(opts(vec![u.to_string()])).err().unwrap();
        assert!(e.to_string().contains("invalid Alertmanager URL"), "{e}");
    }
}

/// The rule side and the notifier together: a firing alert is sent with `endsAt` in the
/// future; once resolved it is sent with `endsAt` = the resolution time.
#[test]
fn resolved_alerts_carry_ends_at() {
    let srv = TestServer::start(&[]);
    let n = Notifier::start(opts(vec![srv.url()])).unwrap();
    let mut rule = AlertingRule::new(AlertingRuleDef {
        name: "Down".into(),
        expr: "up == 0".into(),
        annotations: vec![("summary".into(), "{{ $labels.instance }} down".into())],
        ..Default::default()
    })
    .unwrap();
    let ext = Labels::empty();
    let ctx = |ts| EvalContext {
        ts,
        query_offset: 0,
        external_labels: &ext,
        external_url: "http://strata:9201",
        query: None,
        limit: 0,
    };
    let down = vec![(
        Labels::from_pairs(&[("__name__", "up"), ("instance", "a:1")]).unwrap(),
        0.0,
    )];
    let t0 = 1_700_000_000_000;
    rule.eval(&ctx(t0), &down).unwrap();
    n.send(rule.alerts_to_send(t0, 60_000, 15_000, "http://strata:9201"));
    let first = srv.wait_requests(1)[0].alerts()[0].clone();
    assert_eq!(first["startsAt"], "2023-11-14T22:13:20.000Z");
    // endsAt = ts + 4 * max(interval, resend delay) = t0 + 4m.
    assert_eq!(first["endsAt"], "2023-11-14T22:17:20.000Z");
    assert_eq!(first["annotations"]["summary"], "a:1 down");
    assert_eq!(
        first["generatorURL"],
        "http://strata:9201/graph?g0.expr=up+%3D%3D+0&g0.tab=1"
    );
    let t1 = t0 + 15_000;
    rule.eval(&ctx(t1), &[]).unwrap();
    n.send(rule.alerts_to_send(t1, 60_000, 15_000, "http://strata:9201"));
    let resolved = srv.wait_requests(2)[1].alerts()[0].clone();
    assert_eq!(resolved["startsAt"], "2023-11-14T22:13:20.000Z");
    assert_eq!(resolved["endsAt"], "2023-11-14T22:13:35.000Z");
    assert_eq!(
        resolved["labels"],
        serde_json::json!({"alertname": "Down", "instance": "a:1", "cluster": "c1", "job": "ext"})
    );
    n.stop();
}

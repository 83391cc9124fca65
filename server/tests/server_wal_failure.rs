//! A server whose WAL fails (as after a failed fsync) says so: `/-/ready` answers 503 with
//! the reason, writes get 503 with `Retry-After` instead of being half-applied, `/metrics`
//! shows `strata_wal_failed 1`, and the background recovery makes it ready and writable
//! again by itself, with the data acknowledged before intact. In-process server on a
//! loopback port; the failure is injected into its real WAL.

use std::time::{Duration, Instant};

use strata_ingest::encode::TimeSeries;
use strata_server::{Config, Server};
use strata_tests::server_harness::{http_request, Response};

fn get(addr: std::net::SocketAddr, path: &str) -> Response {
    http_request(addr, "GET", path, &[], b"").unwrap()
}

fn write(addr: std::net::SocketAddr, t: i64) -> Response {
    let body = strata_ingest::encode::snappy(&strata_ingest::encode::write_request_v1(&[
        TimeSeries::new(&[("__name__", "walfail"), ("job", "a")], &[(t, 1.0)]),
    ]));
    http_request(
        addr,
        "POST",
        "/api/v1/write",
        &[
            ("Content-Type", "application/x-protobuf"),
            ("Content-Encoding", "snappy"),
            ("X-Prometheus-Remote-Write-Version", "0.1.0"),
        ],
        &body,
    )
    .unwrap()
}

fn metric(addr: std::net::SocketAddr, name: &str) -> String {
    let text = get(addr, "/metrics").text();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")).map(str::to_string))
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

#[test]
fn failed_wal_turns_ready_503_and_recovers_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = rt.block_on(Server::bind(config)).unwrap();
    let addr = server.local_addr();
    let ready = server.ready();
    let handle = server.db_handle();
    let running = rt.spawn(server.run(async {
        let _ = stop_rx.await;
    }));
    assert!(rt.block_on(ready));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert_eq!(write(addr, now - 2000).status, 204);
    assert_eq!(metric(addr, "strata_wal_failed"), "0");

    handle
        .get()
        .unwrap()
        .inject_wal_failure("injected fsync error (EIO)");
    let r = get(addr, "/-/ready");
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(r.text().contains("EIO"), "{}", r.text());
    assert_eq!(get(addr, "/-/healthy").status, 200);
    let r = write(addr, now - 1000);
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(r.header("retry-after").is_some());
    // The worker's first recovery attempt comes a second after the failure.
    assert_eq!(metric(addr, "strata_wal_failed"), "1");

    let deadline = Instant::now() + Duration::from_secs(60);
    while get(addr, "/-/ready").status != 200 {
        assert!(Instant::now() < deadline, "never became ready again");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(metric(addr, "strata_wal_failed"), "0");
    assert_eq!(metric(addr, "strata_wal_recoveries_total"), "1");
    assert_eq!(write(addr, now).status, 204);
    let r = get(addr, "/api/v1/query?query=count_over_time(walfail[1m])");
    assert!(r.text().contains("\"2\""), "{}", r.text());

    let _ = stop_tx.send(());
    rt.block_on(running).unwrap().unwrap();
}

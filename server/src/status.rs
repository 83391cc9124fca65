//! `GET /api/v1/status/{runtimeinfo,flags,config}` and `GET /`: what the server runs with,
//! in the shapes Prometheus answers (Grafana and `promtool`-style tooling read them).
//!
//! `flags` lists Strata's own settings under its flag names; `config` renders the
//! configuration in force as the YAML the configuration file takes, secrets replaced by
//! `<secret>` as Prometheus does.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use crate::body::{json_ok, response, Resp};
use crate::config::{Config, WalConfig};
use crate::json;
use crate::router::State;

/// A duration as Prometheus prints one (`15d`, `1h30m`, `0s`).
pub fn prom_duration(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    const UNITS: [(&str, u128); 7] = [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    let mut out = String::new();
    for (name, size) in UNITS {
        if ms >= size {
            let _ = write!(out, "{}{name}", ms / size);
            ms %= size;
        }
    }
    out
}

fn rfc3339(t: SystemTime) -> String {
    strata_rules::api::rfc3339_nano(Some(t))
}

/// `/api/v1/status/runtimeinfo`, with Prometheus's keys (the Go runtime ones describe the
/// process as well as they can: threads for goroutines, cores for `GOMAXPROCS`).
pub fn runtimeinfo(state: &State) -> Resp {
    let cwd = std::env::current_dir()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let retention = match state.config.storage.retention {
        Some(r) => prom_duration(r),
        None => "0s".into(),
    };
    let mut d = String::from("{\"startTime\":");
    json::write_str(&mut d, &rfc3339(state.started));
    d.push_str(",\"CWD\":");
    json::write_str(&mut d, &cwd);
    d.push_str(",\"reloadConfigSuccess\":true,\"lastConfigTime\":");
    json::write_str(&mut d, &rfc3339(state.started));
    let corrupted = state
        .db
        .counters()
        .corrupted_blocks
        .load(std::sync::atomic::Ordering::Relaxed);
    let _ = write!(
        d,
        ",\"corruptionCount\":{corrupted},\"goroutineCount\":{},\"GOMAXPROCS\":{cores},\
         \"GOGC\":\"\",\"GODEBUG\":\"\",\"storageRetention\":",
        threads()
    );
    json::write_str(&mut d, &retention);
    d.push('}');
    json_ok(json::success(&d, &[], &[]))
}

/// Threads of this process (Linux), 0 if unknown.
fn threads() -> u64 {
    std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count() as u64)
}

/// The settings in force under their flag names, as strings.
fn flag_values(c: &Config) -> Vec<(&'static str, String)> {
    let opt = |v: Option<u64>| v.map_or_else(|| "0".to_string(), |n| n.to_string());
    vec![
        ("listen", c.listen.clone()),
        ("data-dir", c.data_dir.display().to_string()),
        (
            "config",
            c.config_file
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        ),
        ("rules", c.rules.patterns.join(",")),
        ("slo", c.rules.slo_patterns.join(",")),
        (
            "evaluation-interval",
            prom_duration(c.rules.evaluation_interval),
        ),
        ("alertmanager-url", c.rules.alertmanagers.join(",")),
        (
            "retention",
            c.storage.retention.map_or("0s".into(), prom_duration),
        ),
        ("retention-size", opt(c.storage.retention_size)),
        ("block-range", prom_duration(c.storage.block_range)),
        (
            "out-of-order-window",
            prom_duration(c.storage.out_of_order_window),
        ),
        ("enable-admin-api", c.storage.enable_admin_api.to_string()),
        ("max-series", opt(c.limits.max_series)),
        (
            "max-new-series-per-request",
            opt(c.limits.max_new_series_per_request),
        ),
    ]
}

/// `/api/v1/status/flags`: an object of flag name to value.
pub fn flags(c: &Config) -> Resp {
    let mut d = String::from("{");
    for (i, (k, v)) in flag_values(c).iter().enumerate() {
        if i > 0 {
            d.push(',');
        }
        json::write_str(&mut d, k);
        d.push(':');
        json::write_str(&mut d, v);
    }
    d.push('}');
    json_ok(json::success(&d, &[], &[]))
}

/// A YAML double-quoted scalar (JSON string syntax is valid YAML).
fn yq(s: &str) -> String {
    let mut o = String::new();
    json::write_str(&mut o, s);
    o
}

/// The configuration in force as configuration-file YAML.
pub fn config_yaml(c: &Config) -> String {
    let l = &c.limits;
    let mut y = String::new();
    let _ = writeln!(y, "listen: {}", yq(&c.listen));
    let _ = writeln!(y, "data_dir: {}", yq(&c.data_dir.display().to_string()));
    let _ = writeln!(y, "shutdown_timeout: {}", prom_duration(c.shutdown_timeout));
    y.push_str("limits:\n");
    let _ = writeln!(y, "  max_body_bytes: {}", l.max_body_bytes);
    let _ = writeln!(y, "  max_decoded_bytes: {}", l.max_decoded_bytes);
    let _ = writeln!(y, "  max_inflight_writes: {}", l.max_inflight_writes);
    let _ = writeln!(
        y,
        "  write_queue_wait: {}",
        prom_duration(l.write_queue_wait)
    );
    let _ = writeln!(y, "  max_queued_writes: {}", l.max_queued_writes);
    let _ = writeln!(y, "  max_form_bytes: {}", l.max_form_bytes);
    let _ = writeln!(y, "  body_timeout: {}", prom_duration(l.body_timeout));
    let _ = writeln!(y, "  max_labels_per_series: {}", l.max_labels_per_series);
    let _ = writeln!(y, "  max_label_name_bytes: {}", l.max_label_name_bytes);
    let _ = writeln!(y, "  max_label_value_bytes: {}", l.max_label_value_bytes);
    let _ = writeln!(y, "  max_future: {}", prom_duration(l.max_future));
    let _ = writeln!(y, "  max_series: {}", l.max_series.unwrap_or(0));
    let _ = writeln!(
        y,
        "  max_new_series_per_request: {}",
        l.max_new_series_per_request.unwrap_or(0)
    );
    y.push_str("wal:\n");
    match &c.wal {
        WalConfig::Always => y.push_str("  fsync: always\n"),
        WalConfig::Interval(d) => {
            let _ = writeln!(
                y,
                "  fsync: interval\n  fsync_interval: {}",
                prom_duration(*d)
            );
        }
    }
    let q = &c.query;
    y.push_str("query:\n");
    let _ = writeln!(y, "  timeout: {}", prom_duration(q.timeout));
    let _ = writeln!(y, "  max_concurrent: {}", q.max_concurrent);
    let _ = writeln!(y, "  max_samples: {}", q.max_samples);
    let _ = writeln!(y, "  lookback_delta: {}", prom_duration(q.lookback_delta));
    if c.auth.bearer_token.is_some() || c.auth.basic.is_some() {
        y.push_str("auth:\n");
        if c.auth.bearer_token.is_some() {
            y.push_str("  bearer_token: <secret>\n");
        }
        if let Some((user, _)) = &c.auth.basic {
            let _ = writeln!(y, "  username: {}\n  password: <secret>", yq(user));
        }
    }
    y.push_str("rule_files:");
    if c.rules.patterns.is_empty() {
        y.push_str(" []\n");
    } else {
        y.push('\n');
        for p in &c.rules.patterns {
            let _ = writeln!(y, "  - {}", yq(p));
        }
    }
    y.push_str("slo_files:");
    if c.rules.slo_patterns.is_empty() {
        y.push_str(" []\n");
    } else {
        y.push('\n');
        for p in &c.rules.slo_patterns {
            let _ = writeln!(y, "  - {}", yq(p));
        }
    }
    let _ = writeln!(
        y,
        "evaluation_interval: {}",
        prom_duration(c.rules.evaluation_interval)
    );
    let _ = writeln!(
        y,
        "rule_alignment: {}",
        match c.rules.alignment {
            strata_rules::schedule::Alignment::Prometheus3 => "prometheus3",
            strata_rules::schedule::Alignment::Prometheus2 => "prometheus2",
        }
    );
    y.push_str("alertmanager_urls:");
    if c.rules.alertmanagers.is_empty() {
        y.push_str(" []\n");
    } else {
        y.push('\n');
        for u in &c.rules.alertmanagers {
            let _ = writeln!(y, "  - {}", yq(u));
        }
    }
    y.push_str("storage:\n");
    let _ = writeln!(
        y,
        "  retention: {}",
        c.storage.retention.map_or("0s".into(), prom_duration)
    );
    if let Some(b) = c.storage.retention_size {
        let _ = writeln!(y, "  retention_size: {b}B");
    }
    let _ = writeln!(y, "  block_range: {}", prom_duration(c.storage.block_range));
    let _ = writeln!(
        y,
        "  out_of_order_window: {}",
        prom_duration(c.storage.out_of_order_window)
    );
    let _ = writeln!(y, "enable_admin_api: {}", c.storage.enable_admin_api);
    y
}

/// `/api/v1/status/config`: `{"yaml": ...}`.
pub fn config(c: &Config) -> Resp {
    let mut d = String::from("{\"yaml\":");
    json::write_str(&mut d, &config_yaml(c));
    d.push('}');
    json_ok(json::success(&d, &[], &[]))
}

/// `GET /`: a short plain-text page naming the server and its main endpoints.
pub fn root() -> Resp {
    let text = format!(
        "Strata {} - a Prometheus-compatible time-series store\n\n\
         PromQL:        /api/v1/query, /api/v1/query_range (Grafana: a Prometheus data source at this URL)\n\
         Remote write:  POST /api/v1/write\n\
         Text import:   POST /api/v1/import/prometheus\n\
         Rules, alerts: /api/v1/rules, /api/v1/alerts\n\
         Status:        /api/v1/status/{{buildinfo,runtimeinfo,flags,config,tsdb}}, /metrics, /-/ready\n",
        env!("CARGO_PKG_VERSION")
    );
    response(hyper::StatusCode::OK, "text/plain; charset=utf-8", text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_as_prometheus_prints_them() {
        let ms = |n: u64| prom_duration(Duration::from_millis(n));
        assert_eq!(ms(0), "0s");
        assert_eq!(ms(15 * 86_400_000), "2w1d");
        assert_eq!(ms(5_400_000), "1h30m");
        assert_eq!(ms(100), "100ms");
        assert_eq!(ms(30_000), "30s");
    }

    #[test]
    fn config_yaml_reads_back_as_the_same_config_with_secrets_hidden() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Config::default();
        c.limits.max_series = Some(1000);
        c.storage.retention_size = Some(1 << 30);
        c.rules.alertmanagers = vec!["http://127.0.0.1:9093".into()];
        c.auth.bearer_token = Some("hunter2".into());
        let y = config_yaml(&c);
        assert!(!y.contains("hunter2") && y.contains("<secret>"), "{y}");
        // Without the (redacted) auth section it is a valid configuration file that
        // parses back to the same settings.
        let plain: String = y
            .lines()
            .filter(|l| !l.starts_with("auth:") && !l.contains("<secret>"))
            .map(|l| format!("{l}\n"))
            .collect();
        let f = dir.path().join("strata.yml");
        std::fs::write(&f, &plain).unwrap();
        let back = Config::from_file(&f).unwrap();
        let mut expected = c.clone();
        expected.auth = Default::default();
        assert_eq!(config_yaml(&back), config_yaml(&expected));
        assert_eq!(back.limits.max_series, Some(1000));
        assert_eq!(back.storage.retention_size, Some(1 << 30));
    }
}

//! The notifier's counters, with Prometheus's metric names, as plain atomics the server
//! renders on `/metrics` ([`NotifierMetrics::write_text`]).
//!
//! Per Alertmanager (label `alertmanager`, the endpoint URL): alerts sent, alerts affected
//! by errors (counted per failed attempt), alerts dropped (queue overflow, or a batch that
//! failed all attempts, or left in the queue at shutdown), queue length, and send latency
//! (a summary's sum and count, and a histogram with Prometheus's buckets). Global: queue
//! capacity and the number of Alertmanagers.
//!
//! Invariant: counters only grow; `queue_length` is the queue's length after the last change.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (seconds) of `prometheus_notifications_latency_histogram_seconds`.
pub const LATENCY_BUCKETS: [f64; 4] = [0.01, 0.1, 1.0, 10.0];

/// Counters of one Alertmanager.
#[derive(Debug, Default)]
pub struct AlertmanagerMetrics {
    /// The `alertmanager` label value: the endpoint URL.
    pub url: String,
    /// `prometheus_notifications_sent_total`
    pub sent: AtomicU64,
    /// `prometheus_notifications_errors_total`
    pub errors: AtomicU64,
    /// `prometheus_notifications_dropped_total`
    pub dropped: AtomicU64,
    /// `prometheus_notifications_queue_length`
    pub queue_length: AtomicU64,
    /// Successful sends observed for latency.
    pub latency_count: AtomicU64,
    /// Sum of their latencies, nanoseconds.
    pub latency_sum_ns: AtomicU64,
    /// Cumulative histogram counts per [`LATENCY_BUCKETS`] bound.
    pub latency_buckets: [AtomicU64; 4],
    /// The last send error, for diagnostics (`None` until one happens).
    pub last_error: Mutex<Option<String>>,
}

impl AlertmanagerMetrics {
    /// Records one successful send's latency.
    pub fn observe_latency(&self, d: Duration) {
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_ns
            .fetch_add(d.as_nanos().min(u64::MAX as u128) as u64, Ordering::Relaxed);
        let secs = d.as_secs_f64();
        for (b, c) in LATENCY_BUCKETS.iter().zip(&self.latency_buckets) {
            if secs <= *b {
                c.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// All notifier counters.
#[derive(Debug, Default)]
pub struct NotifierMetrics {
    /// `prometheus_notifications_queue_capacity`
    pub queue_capacity: u64,
    /// One entry per Alertmanager (`prometheus_notifications_alertmanagers_discovered` is
    /// their number).
    pub alertmanagers: Vec<AlertmanagerMetrics>,
}

fn load(a: &AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

impl NotifierMetrics {
    /// Total alerts dropped over all Alertmanagers.
    pub fn dropped_total(&self) -> u64 {
        self.alertmanagers.iter().map(|m| load(&m.dropped)).sum()
    }

    /// Total alerts sent over all Alertmanagers.
    pub fn sent_total(&self) -> u64 {
        self.alertmanagers.iter().map(|m| load(&m.sent)).sum()
    }

    /// Appends the metrics in the Prometheus text format.
    pub fn write_text(&self, out: &mut String) {
        let header = |out: &mut String, name: &str, typ: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {typ}");
        };
        let label = |m: &AlertmanagerMetrics| format!("alertmanager=\"{}\"", escape(&m.url));
        header(
            out,
            "prometheus_notifications_latency_seconds",
            "summary",
            "Latency quantiles for sending alert notifications.",
        );
        for m in &self.alertmanagers {
            let l = label(m);
            let sum = load(&m.latency_sum_ns) as f64 / 1e9;
            let _ = writeln!(
                out,
                "prometheus_notifications_latency_seconds_sum{{{l}}} {sum}"
            );
            let _ = writeln!(
                out,
                "prometheus_notifications_latency_seconds_count{{{l}}} {}",
                load(&m.latency_count)
            );
        }
        let hist = "prometheus_notifications_latency_histogram_seconds";
        header(
            out,
            hist,
            "histogram",
            "Latency histogram for sending alert notifications.",
        );
        for m in &self.alertmanagers {
            let l = label(m);
            for (b, c) in LATENCY_BUCKETS.iter().zip(&m.latency_buckets) {
                let _ = writeln!(out, "{hist}_bucket{{{l},le=\"{b}\"}} {}", load(c));
            }
            let n = load(&m.latency_count);
            let _ = writeln!(out, "{hist}_bucket{{{l},le=\"+Inf\"}} {n}");
            let _ = writeln!(
                out,
                "{hist}_sum{{{l}}} {}",
                load(&m.latency_sum_ns) as f64 / 1e9
            );
            let _ = writeln!(out, "{hist}_count{{{l}}} {n}");
        }
        type Getter = fn(&AlertmanagerMetrics) -> &AtomicU64;
        let per_am: [(&str, &str, &str, Getter); 4] = [
            (
                "prometheus_notifications_errors_total",
                "counter",
                "Total number of sent alerts affected by errors.",
                |m| &m.errors,
            ),
            (
                "prometheus_notifications_sent_total",
                "counter",
                "Total number of alerts sent.",
                |m| &m.sent,
            ),
            (
                "prometheus_notifications_dropped_total",
                "counter",
                "Total number of alerts dropped due to errors when sending to Alertmanager.",
                |m| &m.dropped,
            ),
            (
                "prometheus_notifications_queue_length",
                "gauge",
                "The number of alert notifications in the queue.",
                |m| &m.queue_length,
            ),
        ];
        for (name, typ, help, get) in per_am {
            header(out, name, typ, help);
            for m in &self.alertmanagers {
                let _ = writeln!(out, "{name}{{{}}} {}", label(m), load(get(m)));
            }
        }
        let cap = "prometheus_notifications_queue_capacity";
        header(
            out,
            cap,
            "gauge",
            "The capacity of the alert notifications queue.",
        );
        let _ = writeln!(out, "{cap} {}", self.queue_capacity);
        let disc = "prometheus_notifications_alertmanagers_discovered";
        header(
            out,
            disc,
            "gauge",
            "The number of alertmanagers discovered and active.",
        );
        let _ = writeln!(out, "{disc} {}", self.alertmanagers.len());
    }
}

/// Escapes a label value for the text format.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_names() {
        let am = AlertmanagerMetrics {
            url: "http://127.0.0.1:9093/api/v2/alerts".into(),
            ..Default::default()
        };
        am.sent.fetch_add(3, Ordering::Relaxed);
        am.observe_latency(Duration::from_millis(50));
        let m = NotifierMetrics {
            queue_capacity: 10000,
            alertmanagers: vec![am],
        };
        let mut s = String::new();
        m.write_text(&mut s);
        let l = "{alertmanager=\"http://127.0.0.1:9093/api/v2/alerts\"}";
        for line in [
            format!("prometheus_notifications_sent_total{l} 3"),
            format!("prometheus_notifications_dropped_total{l} 0"),
            format!("prometheus_notifications_errors_total{l} 0"),
            format!("prometheus_notifications_queue_length{l} 0"),
            format!("prometheus_notifications_latency_seconds_count{l} 1"),
            "prometheus_notifications_latency_histogram_seconds_bucket{alertmanager=\"http://127.0.0.1:9093/api/v2/alerts\",le=\"0.01\"} 0".into(),
            "prometheus_notifications_latency_histogram_seconds_bucket{alertmanager=\"http://127.0.0.1:9093/api/v2/alerts\",le=\"0.1\"} 1".into(),
            "prometheus_notifications_queue_capacity 10000".into(),
            "prometheus_notifications_alertmanagers_discovered 1".into(),
        ] {
            assert!(s.lines().any(|x| x == line), "missing {line:?} in\n{s}");
        }
        assert_eq!(m.sent_total(), 3);
    }
}

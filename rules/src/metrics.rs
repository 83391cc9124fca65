//! Rule evaluation metrics, under the names Prometheus exposes them, rendered in the text
//! format for the server's `/metrics`.
//!
//! Per group (label `rule_group="<file>;<group>"`): `prometheus_rule_group_interval_seconds`,
//! `..._last_evaluation_timestamp_seconds`, `..._last_duration_seconds`,
//! `..._last_rule_duration_sum_seconds`, `..._last_evaluation_samples`, `..._rules`,
//! `..._iterations_total`, `..._iterations_missed_total`, `prometheus_rule_evaluations_total`
//! and `prometheus_rule_evaluation_failures_total`. Prometheus's two duration summaries are
//! exposed with their `_sum` and `_count` (no quantiles). Per rule, Strata adds
//! `strata_rule_evaluations_total`, `strata_rule_evaluation_failures_total` and
//! `strata_rule_last_duration_seconds` with `rule_group`, `rule` (name) and `index` (position
//! in the group, since names may repeat).
//!
//! Incremental windows (see [`crate::incremental`]), per group: gauges
//! `strata_rule_window_rules` (rules evaluated through them), `..._windows`, `..._series`
//! (series states summed over windows), `..._memory_bytes`, `..._max_series_bytes` (largest
//! state of one series in one window), and counters `..._evaluations_total`,
//! `..._builds_total` (windows read from storage: first evaluation, restart, reload of a
//! changed expression, time jumps), `..._replays_total` (series values recomputed from raw
//! samples), `..._samples_read_total` and `..._selects_total`.
//!
//! Group counters live as long as the group's key: a group changed by a reload keeps
//! counting; a removed group's series disappear.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::window::WindowStats;

/// An `f64` stored in an `AtomicU64`.
#[derive(Debug, Default)]
pub struct AtomicF64(AtomicU64);

impl AtomicF64 {
    /// Stores `v`.
    pub fn set(&self, v: f64) {
        self.0.store(v.to_bits(), Ordering::Relaxed);
    }
    /// Loads the value.
    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
    /// Adds `v` (not atomic as a read-modify-write across threads; each metric has one
    /// writer).
    pub fn add(&self, v: f64) {
        self.set(self.get() + v);
    }
}

/// Counters and gauges of one group key.
#[derive(Debug, Default)]
pub struct GroupMetrics {
    /// `prometheus_rule_group_interval_seconds`.
    pub interval_seconds: AtomicF64,
    /// `prometheus_rule_group_last_evaluation_timestamp_seconds` (wall clock at the start).
    pub last_evaluation_timestamp_seconds: AtomicF64,
    /// `prometheus_rule_group_last_duration_seconds`.
    pub last_duration_seconds: AtomicF64,
    /// `prometheus_rule_group_last_rule_duration_sum_seconds`.
    pub last_rule_duration_sum_seconds: AtomicF64,
    /// `prometheus_rule_group_last_evaluation_samples`.
    pub last_evaluation_samples: AtomicF64,
    /// `prometheus_rule_group_rules`.
    pub rules: AtomicU64,
    /// `prometheus_rule_group_iterations_total` (scheduled, executed or missed).
    pub iterations_total: AtomicU64,
    /// `prometheus_rule_group_iterations_missed_total`.
    pub iterations_missed_total: AtomicU64,
    /// `prometheus_rule_evaluations_total`.
    pub evaluations_total: AtomicU64,
    /// `prometheus_rule_evaluation_failures_total`.
    pub evaluation_failures_total: AtomicU64,
    /// The group's incremental windows.
    pub windows: WindowMetrics,
}

/// Incremental windows of one group's rules (`strata_rule_window_*`).
#[derive(Debug, Default)]
pub struct WindowMetrics {
    /// Rules evaluated through incremental windows.
    pub rules: AtomicU64,
    /// Windows kept.
    pub windows: AtomicU64,
    /// Series states, summed over windows.
    pub series: AtomicU64,
    /// Bytes held by the states.
    pub memory_bytes: AtomicU64,
    /// Largest state of one series in one window, bytes.
    pub max_series_bytes: AtomicU64,
    /// Window evaluations.
    pub evaluations_total: AtomicU64,
    /// Windows (re)built from storage.
    pub builds_total: AtomicU64,
    /// Series values recomputed from raw samples.
    pub replays_total: AtomicU64,
    /// Samples read from storage.
    pub samples_read_total: AtomicU64,
    /// Storage selects.
    pub selects_total: AtomicU64,
}

impl WindowMetrics {
    /// Records one iteration: `rules` incremental rules; `s` holds the gauges as they are and
    /// the counters' increase since the previous iteration.
    pub fn record(&self, rules: u64, s: &WindowStats) {
        let set = |a: &AtomicU64, v: usize| a.store(v as u64, Ordering::Relaxed);
        let add = |a: &AtomicU64, v: u64| {
            a.fetch_add(v, Ordering::Relaxed);
        };
        self.rules.store(rules, Ordering::Relaxed);
        set(&self.windows, s.windows);
        set(&self.series, s.series);
        set(&self.memory_bytes, s.bytes);
        set(&self.max_series_bytes, s.max_series_bytes);
        add(&self.evaluations_total, s.evaluations);
        add(&self.builds_total, s.builds);
        add(&self.replays_total, s.replayed);
        add(&self.samples_read_total, s.samples_read);
        add(&self.selects_total, s.selects);
    }
}

/// Counters of one rule.
#[derive(Debug, Default)]
pub struct RuleMetrics {
    /// Evaluations.
    pub evaluations_total: AtomicU64,
    /// Failed evaluations.
    pub failures_total: AtomicU64,
    /// Duration of the last evaluation.
    pub last_duration_seconds: AtomicF64,
}

/// A summary exposed as `_sum` and `_count`.
#[derive(Debug, Default)]
pub struct Summary {
    sum: AtomicF64,
    count: AtomicU64,
    lock: parking_lot::Mutex<()>,
}

impl Summary {
    /// Records one observation.
    pub fn observe(&self, v: f64) {
        let _g = self.lock.lock();
        self.sum.add(v);
        self.count.fetch_add(1, Ordering::Relaxed);
    }
    /// (sum, count).
    pub fn get(&self) -> (f64, u64) {
        let _g = self.lock.lock();
        (self.sum.get(), self.count.load(Ordering::Relaxed))
    }
}

/// What one group contributes to `/metrics`.
pub struct GroupSample<'a> {
    /// `<file>;<group>`.
    pub key: &'a str,
    /// Its metrics.
    pub metrics: &'a GroupMetrics,
    /// Rule names and their metrics, in group order.
    pub rules: Vec<(&'a str, &'a RuleMetrics)>,
}

/// Escapes a label value for the text format.
pub fn escape_label_value(v: &str) -> String {
    let mut o = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '"' => o.push_str("\\\""),
            '\n' => o.push_str("\\n"),
            c => o.push(c),
        }
    }
    o
}

/// A float in the text format (`+Inf`, `NaN`, shortest round-trip otherwise).
fn num(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

/// Renders the rule metrics of `groups` (sorted by key by the caller) and the two
/// summaries.
pub fn render(
    out: &mut String,
    groups: &[GroupSample<'_>],
    rule_eval: &Summary,
    group_eval: &Summary,
) {
    type Getter = fn(&GroupMetrics) -> f64;
    let families: [(&str, &str, &str, Getter); 10] = [
        (
            "prometheus_rule_group_interval_seconds",
            "gauge",
            "The interval of a rule group.",
            |m| m.interval_seconds.get(),
        ),
        (
            "prometheus_rule_group_last_evaluation_timestamp_seconds",
            "gauge",
            "The timestamp of the last rule group evaluation in seconds.",
            |m| m.last_evaluation_timestamp_seconds.get(),
        ),
        (
            "prometheus_rule_group_last_duration_seconds",
            "gauge",
            "The duration of the last rule group evaluation.",
            |m| m.last_duration_seconds.get(),
        ),
        (
            "prometheus_rule_group_last_rule_duration_sum_seconds",
            "gauge",
            "The sum of time in seconds it took to evaluate each rule in the group.",
            |m| m.last_rule_duration_sum_seconds.get(),
        ),
        (
            "prometheus_rule_group_last_evaluation_samples",
            "gauge",
            "The number of samples returned during the last rule group evaluation.",
            |m| m.last_evaluation_samples.get(),
        ),
        (
            "prometheus_rule_group_rules",
            "gauge",
            "The number of rules.",
            |m| m.rules.load(Ordering::Relaxed) as f64,
        ),
        (
            "prometheus_rule_group_iterations_total",
            "counter",
            "The total number of scheduled rule group evaluations, whether executed or missed.",
            |m| m.iterations_total.load(Ordering::Relaxed) as f64,
        ),
        (
            "prometheus_rule_group_iterations_missed_total",
            "counter",
            "The total number of rule group evaluations missed due to slow rule group evaluation.",
            |m| m.iterations_missed_total.load(Ordering::Relaxed) as f64,
        ),
        (
            "prometheus_rule_evaluations_total",
            "counter",
            "The total number of rule evaluations.",
            |m| m.evaluations_total.load(Ordering::Relaxed) as f64,
        ),
        (
            "prometheus_rule_evaluation_failures_total",
            "counter",
            "The total number of rule evaluation failures.",
            |m| m.evaluation_failures_total.load(Ordering::Relaxed) as f64,
        ),
    ];
    for (name, kind, help, get) in families {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for g in groups {
            let _ = writeln!(
                out,
                "{name}{{rule_group=\"{}\"}} {}",
                escape_label_value(g.key),
                num(get(g.metrics))
            );
        }
    }
    for (name, help, s) in [
        (
            "prometheus_rule_evaluation_duration_seconds",
            "The duration for a rule to execute.",
            rule_eval,
        ),
        (
            "prometheus_rule_group_duration_seconds",
            "The duration of rule group evaluations.",
            group_eval,
        ),
    ] {
        let (sum, count) = s.get();
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} summary\n{name}_sum {}\n{name}_count {count}",
            num(sum)
        );
    }
    type WindowGetter = fn(&WindowMetrics) -> &AtomicU64;
    let windows: [(&str, &str, &str, WindowGetter); 10] = [
        (
            "strata_rule_window_rules",
            "gauge",
            "Rules of the group evaluated through incremental windows.",
            |w| &w.rules,
        ),
        (
            "strata_rule_window_windows",
            "gauge",
            "Incremental windows kept for the group's rules.",
            |w| &w.windows,
        ),
        (
            "strata_rule_window_series",
            "gauge",
            "Series states held by the group's incremental windows, summed over windows.",
            |w| &w.series,
        ),
        (
            "strata_rule_window_memory_bytes",
            "gauge",
            "Bytes held by the group's incremental window states.",
            |w| &w.memory_bytes,
        ),
        (
            "strata_rule_window_max_series_bytes",
            "gauge",
            "Largest state of one series in one incremental window, bytes.",
            |w| &w.max_series_bytes,
        ),
        (
            "strata_rule_window_evaluations_total",
            "counter",
            "Evaluations of incremental windows.",
            |w| &w.evaluations_total,
        ),
        (
            "strata_rule_window_builds_total",
            "counter",
            "Incremental windows built from storage (first use, restart, changed rule).",
            |w| &w.builds_total,
        ),
        (
            "strata_rule_window_replays_total",
            "counter",
            "Series values of incremental windows recomputed from raw samples.",
            |w| &w.replays_total,
        ),
        (
            "strata_rule_window_samples_read_total",
            "counter",
            "Samples read from storage by incremental windows.",
            |w| &w.samples_read_total,
        ),
        (
            "strata_rule_window_selects_total",
            "counter",
            "Storage selects issued by incremental windows.",
            |w| &w.selects_total,
        ),
    ];
    for (name, kind, help, get) in windows {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for g in groups {
            let _ = writeln!(
                out,
                "{name}{{rule_group=\"{}\"}} {}",
                escape_label_value(g.key),
                get(&g.metrics.windows).load(Ordering::Relaxed)
            );
        }
    }
    type RuleGetter = fn(&RuleMetrics) -> f64;
    let per_rule: [(&str, &str, &str, RuleGetter); 3] = [
        (
            "strata_rule_evaluations_total",
            "counter",
            "Evaluations of one rule.",
            |m| m.evaluations_total.load(Ordering::Relaxed) as f64,
        ),
        (
            "strata_rule_evaluation_failures_total",
            "counter",
            "Failed evaluations of one rule.",
            |m| m.failures_total.load(Ordering::Relaxed) as f64,
        ),
        (
            "strata_rule_last_duration_seconds",
            "gauge",
            "Duration of the last evaluation of one rule.",
            |m| m.last_duration_seconds.get(),
        ),
    ];
    for (name, kind, help, get) in per_rule {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for g in groups {
            let key = escape_label_value(g.key);
            for (i, (rule, m)) in g.rules.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "{name}{{rule_group=\"{key}\",rule=\"{}\",index=\"{i}\"}} {}",
                    escape_label_value(rule),
                    num(get(m))
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_names() {
        let m = GroupMetrics::default();
        m.interval_seconds.set(60.0);
        m.iterations_total.fetch_add(3, Ordering::Relaxed);
        m.iterations_missed_total.fetch_add(1, Ordering::Relaxed);
        let r = RuleMetrics::default();
        r.evaluations_total.fetch_add(2, Ordering::Relaxed);
        let s = Summary::default();
        s.observe(0.5);
        s.observe(0.25);
        let mut out = String::new();
        render(
            &mut out,
            &[GroupSample {
                key: "/r.yml;g\"1",
                metrics: &m,
                rules: vec![("job:x", &r)],
            }],
            &s,
            &Summary::default(),
        );
        assert!(
            out.contains(
                "prometheus_rule_group_interval_seconds{rule_group=\"/r.yml;g\\\"1\"} 60\n"
            ),
            "{out}"
        );
        assert!(out
            .contains("prometheus_rule_group_iterations_total{rule_group=\"/r.yml;g\\\"1\"} 3\n"));
        assert!(out.contains(
            "prometheus_rule_group_iterations_missed_total{rule_group=\"/r.yml;g\\\"1\"} 1\n"
        ));
        assert!(out.contains("# TYPE prometheus_rule_evaluations_total counter\n"));
        assert!(out.contains("prometheus_rule_evaluation_duration_seconds_sum 0.75\nprometheus_rule_evaluation_duration_seconds_count 2\n"));
        assert!(out.contains("strata_rule_evaluations_total{rule_group=\"/r.yml;g\\\"1\",rule=\"job:x\",index=\"0\"} 2\n"));
        assert!(out.contains("# TYPE strata_rule_window_builds_total counter\n"));
        assert!(out.contains("strata_rule_window_memory_bytes{rule_group=\"/r.yml;g\\\"1\"} 0\n"));
    }
}

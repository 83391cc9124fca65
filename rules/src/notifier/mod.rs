//! Sending alerts to Alertmanager's v2 API (`POST <url>/api/v2/alerts`).
//!
//! [`Notifier::send`] adds the global external labels an alert does not already have and
//! queues a copy for every configured Alertmanager; it only takes a lock for the push, so
//! rule evaluation never waits on the network. One sender thread per Alertmanager takes up
//! to [`NotifierOptions::max_batch`] alerts (256, as Prometheus) at a time, posts them as
//! the JSON array of Alertmanager's `postableAlerts`, and retries a failed batch with
//! exponential backoff ([`NotifierOptions::retries`]); a batch that fails every attempt, or
//! is rejected with a 4xx, is dropped (the rule side re-sends firing alerts every resend
//! delay and resolved ones for 15 minutes, so a lost batch is repaired). Each queue is
//! bounded ([`NotifierOptions::queue_capacity`], 10000): when full the oldest alerts are
//! dropped. Every drop, error and send is counted in [`NotifierMetrics`].
//!
//! Prometheus itself does not retry a failed batch; the retries are Strata's addition and
//! can be turned off with `retries: 0`.
//!
//! Invariants: alerts reach each Alertmanager in the order they were queued (a batch is
//! complete before the next is taken); [`Notifier::stop`] (or drop) ends the threads after
//! at most one more attempt per queued batch when draining, immediately otherwise.

pub mod http;
pub mod metrics;
mod sendloop;

use std::sync::Arc;
use std::time::Duration;

use strata_engine::Labels;

use crate::alert::json::{write_labels, write_pairs, write_str};
use crate::error::Result;
use crate::template::gotime::GoTime;

pub use http::Endpoint;
pub use metrics::{AlertmanagerMetrics, NotifierMetrics};

/// An alert as Alertmanager receives it. Times are ms since the epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    /// Labels (must include `alertname`).
    pub labels: Labels,
    /// Annotations, sorted by name.
    pub annotations: Vec<(String, String)>,
    /// When the alert fired (`startsAt`).
    pub starts_at: Option<i64>,
    /// When it resolved, or until when it is valid unless re-sent (`endsAt`).
    pub ends_at: Option<i64>,
    /// Link back to the expression (`generatorURL`).
    pub generator_url: String,
}

/// Notifier settings; [`Default`] has Prometheus's defaults and no Alertmanager.
#[derive(Clone, Debug)]
pub struct NotifierOptions {
    /// Alertmanager base URLs (`http://host:port[/prefix]`).
    pub alertmanagers: Vec<String>,
    /// Alerts held per Alertmanager before the oldest are dropped (10000).
    pub queue_capacity: usize,
    /// Alerts per request (256).
    pub max_batch: usize,
    /// Time limit of one request (10 s).
    pub timeout: Duration,
    /// Retries of a failed batch after the first attempt (3).
    pub retries: u32,
    /// Wait before the first retry; doubled each time (500 ms).
    pub backoff_initial: Duration,
    /// Longest wait between retries (5 s).
    pub backoff_max: Duration,
    /// Global external labels, added to alerts that lack them.
    pub external_labels: Labels,
    /// Send what is queued when stopping (true), else drop it.
    pub drain_on_shutdown: bool,
    /// `User-Agent` header.
    pub user_agent: String,
}

impl Default for NotifierOptions {
    fn default() -> Self {
        NotifierOptions {
            alertmanagers: Vec::new(),
            queue_capacity: 10_000,
            max_batch: 256,
            timeout: Duration::from_secs(10),
            retries: 3,
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(5),
            external_labels: Labels::empty(),
            drain_on_shutdown: true,
            user_agent: format!("Strata/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// Sends alerts to the configured Alertmanagers from background threads.
pub struct Notifier {
    external_labels: Labels,
    loops: Vec<sendloop::SendLoop>,
    metrics: Arc<NotifierMetrics>,
}

impl Notifier {
    /// Validates the URLs and starts one sender thread per Alertmanager.
    pub fn start(opts: NotifierOptions) -> Result<Notifier> {
        let endpoints = opts
            .alertmanagers
            .iter()
            .map(|u| Endpoint::parse(u))
            .collect::<Result<Vec<_>>>()?;
        let metrics = Arc::new(NotifierMetrics {
            queue_capacity: opts.queue_capacity as u64,
            alertmanagers: endpoints
                .iter()
                .map(|e| AlertmanagerMetrics {
                    url: e.url(),
                    ..Default::default()
                })
                .collect(),
        });
        let opts = Arc::new(opts);
        let mut loops = Vec::with_capacity(endpoints.len());
        for (i, ep) in endpoints.into_iter().enumerate() {
            loops.push(sendloop::SendLoop::start(
                ep,
                i,
                Arc::clone(&opts),
                Arc::clone(&metrics),
            )?);
        }
        Ok(Notifier {
            external_labels: opts.external_labels.clone(),
            loops,
            metrics,
        })
    }

    /// Queues `alerts` for every Alertmanager, adding missing external labels. Never blocks
    /// on the network.
    pub fn send(&self, mut alerts: Vec<Alert>) {
        if alerts.is_empty() || self.loops.is_empty() {
            return;
        }
        for a in &mut alerts {
            for l in &self.external_labels {
                if a.labels.get(&l.name).is_none() {
                    a.labels = a.labels.with(&l.name, &l.value);
                }
            }
        }
        let (last, rest) = self.loops.split_last().expect("checked non-empty");
        for l in rest {
            l.add(alerts.clone());
        }
        last.add(alerts);
    }

    /// The counters.
    pub fn metrics(&self) -> &Arc<NotifierMetrics> {
        &self.metrics
    }

    /// The alerts endpoints, one per Alertmanager (for `/api/v1/alertmanagers`).
    pub fn alertmanagers(&self) -> Vec<String> {
        self.metrics
            .alertmanagers
            .iter()
            .map(|m| m.url.clone())
            .collect()
    }

    /// Stops the sender threads (draining the queues if configured) and waits for them.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        for l in &self.loops {
            l.request_stop();
        }
        for l in &mut self.loops {
            l.join();
        }
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The JSON body Alertmanager's `POST /api/v2/alerts` takes (field order as Prometheus's
/// client writes it; times RFC 3339 in UTC with milliseconds; empty annotations and
/// generator URL omitted).
pub fn encode_alerts(alerts: &[Alert]) -> String {
    let mut out = String::with_capacity(alerts.len() * 256);
    out.push('[');
    for (i, a) in alerts.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('{');
        if !a.annotations.is_empty() {
            out.push_str("\"annotations\":");
            write_pairs(&mut out, &a.annotations);
            out.push(',');
        }
        let time = |t: Option<i64>| {
            t.map_or(
                GoTime {
                    ns: -62_135_596_800 * 1_000_000_000,
                },
                GoTime::from_millis,
            )
            .rfc3339_millis()
        };
        out.push_str("\"endsAt\":");
        write_str(&mut out, &time(a.ends_at));
        out.push_str(",\"startsAt\":");
        write_str(&mut out, &time(a.starts_at));
        if !a.generator_url.is_empty() {
            out.push_str(",\"generatorURL\":");
            write_str(&mut out, &a.generator_url);
        }
        out.push_str(",\"labels\":");
        write_labels(&mut out, &a.labels);
        out.push('}');
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests;

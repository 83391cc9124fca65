//! One Alertmanager's bounded queue and the thread that empties it.
//!
//! Invariants: the queue never holds more than the capacity (the oldest alerts are dropped,
//! and counted, to make room); the thread holds the queue lock only to take a batch, never
//! while sending; waiting for a retry is cut short by a stop request.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::http::{post_json, Endpoint};
use super::{encode_alerts, Alert, NotifierMetrics, NotifierOptions};
use crate::error::{Error, Result};

struct State {
    queue: VecDeque<Alert>,
    stopping: bool,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub(super) struct SendLoop {
    shared: Arc<Shared>,
    index: usize,
    opts: Arc<NotifierOptions>,
    metrics: Arc<NotifierMetrics>,
    thread: Option<JoinHandle<()>>,
}

impl SendLoop {
    pub(super) fn start(
        ep: Endpoint,
        index: usize,
        opts: Arc<NotifierOptions>,
        metrics: Arc<NotifierMetrics>,
    ) -> Result<SendLoop> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                stopping: false,
            }),
            wake: Condvar::new(),
        });
        let worker = Worker {
            shared: Arc::clone(&shared),
            ep,
            index,
            opts: Arc::clone(&opts),
            metrics: Arc::clone(&metrics),
        };
        let url = metrics.alertmanagers[index].url.clone();
        let thread = std::thread::Builder::new()
            .name(format!("strata-notifier-{index}"))
            .spawn(move || worker.run())
            .map_err(|source| Error::NotifierStart { url, source })?;
        Ok(SendLoop {
            shared,
            index,
            opts,
            metrics,
            thread: Some(thread),
        })
    }

    /// Queues alerts, dropping the oldest ones beyond the capacity.
    pub(super) fn add(&self, mut alerts: Vec<Alert>) {
        let m = &self.metrics.alertmanagers[self.index];
        let cap = self.opts.queue_capacity;
        let mut st = self.shared.lock();
        if st.stopping {
            return;
        }
        let mut dropped = 0;
        if alerts.len() > cap {
            let d = alerts.len() - cap;
            alerts.drain(..d);
            dropped += d;
        }
        let over = (st.queue.len() + alerts.len()).saturating_sub(cap);
        if over > 0 {
            st.queue.drain(..over);
            dropped += over;
        }
        st.queue.extend(alerts);
        m.queue_length
            .store(st.queue.len() as u64, Ordering::Relaxed);
        m.dropped.fetch_add(dropped as u64, Ordering::Relaxed);
        drop(st);
        self.shared.wake.notify_all();
    }

    pub(super) fn request_stop(&self) {
        self.shared.lock().stopping = true;
        self.shared.wake.notify_all();
    }

    pub(super) fn join(&mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Worker {
    shared: Arc<Shared>,
    ep: Endpoint,
    index: usize,
    opts: Arc<NotifierOptions>,
    metrics: Arc<NotifierMetrics>,
}

impl Worker {
    fn run(self) {
        let m = &self.metrics.alertmanagers[self.index];
        loop {
            let (batch, stopping) = {
                let mut st = self.shared.lock();
                while st.queue.is_empty() && !st.stopping {
                    st = self.shared.wake.wait(st).unwrap_or_else(|e| e.into_inner());
                }
                if st.stopping && (st.queue.is_empty() || !self.opts.drain_on_shutdown) {
                    m.dropped
                        .fetch_add(st.queue.len() as u64, Ordering::Relaxed);
                    st.queue.clear();
                    m.queue_length.store(0, Ordering::Relaxed);
                    return;
                }
                let n = st.queue.len().min(self.opts.max_batch.max(1));
                let batch: Vec<Alert> = st.queue.drain(..n).collect();
                m.queue_length
                    .store(st.queue.len() as u64, Ordering::Relaxed);
                (batch, st.stopping)
            };
            self.send(&batch, stopping);
        }
    }

    /// Posts one batch, retrying with backoff (one attempt only when stopping).
    fn send(&self, batch: &[Alert], stopping: bool) {
        let m = &self.metrics.alertmanagers[self.index];
        let n = batch.len() as u64;
        let body = encode_alerts(batch);
        let mut backoff = self.opts.backoff_initial;
        let attempts = if stopping { 1 } else { self.opts.retries + 1 };
        for attempt in 1..=attempts {
            let start = Instant::now();
            match post_json(
                &self.ep,
                body.as_bytes(),
                &self.opts.user_agent,
                self.opts.timeout,
            ) {
                Ok(_) => {
                    m.sent.fetch_add(n, Ordering::Relaxed);
                    m.observe_latency(start.elapsed());
                    return;
                }
                Err(e) => {
                    m.errors.fetch_add(n, Ordering::Relaxed);
                    if let Ok(mut last) = m.last_error.lock() {
                        *last = Some(e.to_string());
                    }
                    if !e.retryable() || attempt == attempts || !self.pause(backoff) {
                        break;
                    }
                    backoff = (backoff * 2).min(self.opts.backoff_max);
                }
            }
        }
        m.dropped.fetch_add(n, Ordering::Relaxed);
    }

    /// Waits `d` unless a stop is requested first; false if stopping.
    fn pause(&self, d: Duration) -> bool {
        let deadline = Instant::now() + d;
        let mut st = self.shared.lock();
        loop {
            if st.stopping {
                return false;
            }
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return true;
            };
            st = self
                .shared
                .wake
                .wait_timeout(st, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

//! Strata's own metrics, exposed on `/metrics` in the Prometheus text format.
//!
//! Hand-written: a few atomic counters for the ingest path, and a mutex-guarded map of
//! per-handler request counts and latency histograms (one lock per request is cheap next to
//! the request itself). Series and sample gauges are read from the [`Db`] at scrape time.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use strata_engine::Db;

/// Upper bounds (seconds) of the request duration histogram buckets.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Why samples were rejected, as a `reason` label.
#[derive(Clone, Copy, Debug)]
pub enum Rejection {
    /// Older than the series' last sample.
    OutOfOrder,
    /// Same timestamp, other value.
    DuplicateTimestamp,
    /// Series with invalid labels.
    InvalidSeries,
    /// Whole request rejected (decode error, size, content type).
    BadRequest,
    /// Older than the head accepts (already in blocks, or too old for a new series).
    TooOld,
    /// A new series past the active series limit.
    SeriesLimit,
    /// A new series past the per-request new series limit.
    NewSeriesLimit,
}

impl Rejection {
    const ALL: [Rejection; 7] = [
        Rejection::OutOfOrder,
        Rejection::DuplicateTimestamp,
        Rejection::InvalidSeries,
        Rejection::BadRequest,
        Rejection::TooOld,
        Rejection::SeriesLimit,
        Rejection::NewSeriesLimit,
    ];
    fn name(self) -> &'static str {
        match self {
            Rejection::OutOfOrder => "out_of_order",
            Rejection::DuplicateTimestamp => "duplicate_timestamp",
            Rejection::InvalidSeries => "invalid_series",
            Rejection::BadRequest => "bad_request",
            Rejection::TooOld => "too_old",
            Rejection::SeriesLimit => "series_limit",
            Rejection::NewSeriesLimit => "new_series_limit",
        }
    }
}

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// The server's counters.
#[derive(Default)]
pub struct Metrics {
    samples_ingested: AtomicU64,
    ooo_ingested: AtomicU64,
    histograms_ingested: AtomicU64,
    exemplars_ingested: AtomicU64,
    rejected: [AtomicU64; Rejection::ALL.len()],
    write_requests_overloaded: AtomicU64,
    queries_canceled: AtomicU64,
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
    durations: Mutex<BTreeMap<&'static str, Histogram>>,
}

impl Metrics {
    /// Counts a query stopped because its client went away.
    pub fn query_canceled(&self) {
        self.queries_canceled.fetch_add(1, Ordering::Relaxed);
    }

    /// Renders the query concurrency gauges (`in_use` of `max` slots) and the count of
    /// cancelled queries.
    pub fn render_query_slots(&self, o: &mut String, in_use: usize, max: usize) {
        let _ = writeln!(
            o,
            "# HELP strata_query_slots_in_use Query slots held by running queries (a query \
             holds its slot until its evaluation has stopped).\n\
             # TYPE strata_query_slots_in_use gauge\nstrata_query_slots_in_use {in_use}\n\
             # HELP strata_query_slots_max Queries that may run at once (query.max_concurrent).\n\
             # TYPE strata_query_slots_max gauge\nstrata_query_slots_max {max}\n\
             # HELP strata_queries_canceled_total Queries stopped because their client went away.\n\
             # TYPE strata_queries_canceled_total counter\nstrata_queries_canceled_total {}",
            self.queries_canceled.load(Ordering::Relaxed)
        );
    }

    /// Renders the range-query result cache's counters (all zero when it is off).
    pub fn render_result_cache(&self, o: &mut String, c: Option<strata_query::CacheStats>) {
        let c = c.unwrap_or_default();
        let _ = writeln!(
            o,
            "# HELP strata_query_result_cache_hits_total Range queries and subqueries that reused \
             cached steps.\n\
             # TYPE strata_query_result_cache_hits_total counter\n\
             strata_query_result_cache_hits_total {}\n\
             # HELP strata_query_result_cache_misses_total Cacheable range queries and subqueries \
             that found no usable cached steps.\n\
             # TYPE strata_query_result_cache_misses_total counter\n\
             strata_query_result_cache_misses_total {}\n\
             # HELP strata_query_result_cache_bytes Estimated bytes held by the range-query \
             result cache (query.result_cache_size bounds it).\n\
             # TYPE strata_query_result_cache_bytes gauge\n\
             strata_query_result_cache_bytes {}\n\
             # HELP strata_query_result_cache_entries Entries of the range-query result cache.\n\
             # TYPE strata_query_result_cache_entries gauge\n\
             strata_query_result_cache_entries {}",
            c.hits, c.misses, c.bytes, c.entries
        );
    }

    /// Counts stored samples, histograms and exemplars.
    pub fn ingested(&self, samples: u64, histograms: u64, exemplars: u64) {
        self.samples_ingested.fetch_add(samples, Ordering::Relaxed);
        self.histograms_ingested
            .fetch_add(histograms, Ordering::Relaxed);
        self.exemplars_ingested
            .fetch_add(exemplars, Ordering::Relaxed);
    }

    /// Counts samples the out-of-order window stored (also counted as ingested).
    pub fn ingested_out_of_order(&self, n: u64) {
        self.ooo_ingested.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts rejected samples (or requests, for [`Rejection::BadRequest`]).
    pub fn rejected(&self, why: Rejection, n: u64) {
        self.rejected[why as usize].fetch_add(n, Ordering::Relaxed);
    }

    /// Counts a write turned away for lack of capacity.
    pub fn overloaded(&self) {
        self.write_requests_overloaded
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Records one finished request.
    pub fn request(&self, handler: &'static str, code: u16, took: Duration) {
        if let Ok(mut m) = self.requests.lock() {
            *m.entry((handler, code)).or_default() += 1;
        }
        if let Ok(mut m) = self.durations.lock() {
            let h = m.entry(handler).or_default();
            let secs = took.as_secs_f64();
            for (i, b) in BUCKETS.iter().enumerate() {
                if secs <= *b {
                    h.counts[i] += 1;
                }
            }
            h.count += 1;
            h.sum += secs;
        }
    }

    /// Renders everything in the text format, reading head gauges from `db`.
    pub fn render(&self, db: &Db) -> String {
        let mut o = String::with_capacity(4096);
        let counter = |o: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
        };
        counter(
            &mut o,
            "strata_ingest_samples_total",
            "Float samples stored by remote-write and import.",
            self.samples_ingested.load(Ordering::Relaxed),
        );
        counter(
            &mut o,
            "strata_ingest_out_of_order_samples_total",
            "Samples stored by the out-of-order window (older than their series' newest).",
            self.ooo_ingested.load(Ordering::Relaxed),
        );
        counter(
            &mut o,
            "strata_ingest_histograms_total",
            "Native histogram samples stored.",
            self.histograms_ingested.load(Ordering::Relaxed),
        );
        counter(
            &mut o,
            "strata_ingest_exemplars_total",
            "Exemplars stored.",
            self.exemplars_ingested.load(Ordering::Relaxed),
        );
        let _ = writeln!(
            o,
            "# HELP strata_ingest_rejected_total Samples (or, for reason=\"bad_request\", whole \
             requests) not stored, by reason.\n# TYPE strata_ingest_rejected_total counter"
        );
        for (r, c) in Rejection::ALL.iter().zip(&self.rejected) {
            let _ = writeln!(
                o,
                "strata_ingest_rejected_total{{reason=\"{}\"}} {}",
                r.name(),
                c.load(Ordering::Relaxed)
            );
        }
        counter(
            &mut o,
            "strata_write_requests_overloaded_total",
            "Write requests answered 503 because too many were in flight.",
            self.write_requests_overloaded.load(Ordering::Relaxed),
        );
        let _ = writeln!(
            o,
            "# HELP strata_http_requests_total HTTP requests by handler and status code.\n\
             # TYPE strata_http_requests_total counter"
        );
        if let Ok(m) = self.requests.lock() {
            for ((h, code), n) in m.iter() {
                let _ = writeln!(
                    o,
                    "strata_http_requests_total{{handler=\"{h}\",code=\"{code}\"}} {n}"
                );
            }
        }
        let _ = writeln!(
            o,
            "# HELP strata_http_request_duration_seconds HTTP request latency by handler.\n\
             # TYPE strata_http_request_duration_seconds histogram"
        );
        if let Ok(m) = self.durations.lock() {
            for (h, hist) in m.iter() {
                for (b, c) in BUCKETS.iter().zip(hist.counts) {
                    let _ = writeln!(
                        o,
                        "strata_http_request_duration_seconds_bucket{{handler=\"{h}\",le=\"{b}\"}} {c}"
                    );
                }
                let _ = writeln!(
                    o,
                    "strata_http_request_duration_seconds_bucket{{handler=\"{h}\",le=\"+Inf\"}} {}\n\
                     strata_http_request_duration_seconds_sum{{handler=\"{h}\"}} {}\n\
                     strata_http_request_duration_seconds_count{{handler=\"{h}\"}} {}",
                    hist.count, hist.sum, hist.count
                );
            }
        }
        let stats = db.stats();
        let gauge = |o: &mut String, name: &str, help: &str, v: String| {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        };
        gauge(
            &mut o,
            "strata_head_series",
            "Series in the head.",
            stats.series.to_string(),
        );
        gauge(
            &mut o,
            "strata_head_samples",
            "Samples in the head.",
            stats.samples.to_string(),
        );
        gauge(
            &mut o,
            "strata_head_out_of_order_samples",
            "Samples the out-of-order window stored that are still in the head.",
            stats.ooo_samples.to_string(),
        );
        gauge(
            &mut o,
            "strata_head_chunk_bytes",
            "Bytes of the head's sealed chunks (open chunks not counted).",
            stats.chunk_bytes.to_string(),
        );
        gauge(
            &mut o,
            "strata_head_chunk_files",
            "Files holding the head's sealed chunks (mapped, outside the heap).",
            stats.chunk_files.files.to_string(),
        );
        gauge(
            &mut o,
            "strata_head_chunk_file_bytes",
            "Bytes written into the head's chunk files.",
            stats.chunk_files.bytes.to_string(),
        );
        gauge(
            &mut o,
            "strata_head_symbols",
            "Distinct interned label strings in the head.",
            stats.symbols.to_string(),
        );
        let wal = db.wal_stats();
        let counter = |o: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
        };
        counter(
            &mut o,
            "strata_head_chunk_file_failures_total",
            "Sealed head chunks kept on the heap because their chunk file could not be written.",
            stats.chunk_files.failures,
        );
        counter(
            &mut o,
            "strata_wal_fsyncs_total",
            "WAL fsync rounds (one covers every write before it).",
            wal.sync_rounds,
        );
        counter(
            &mut o,
            "strata_wal_writes_total",
            "WAL write calls.",
            wal.writes,
        );
        counter(
            &mut o,
            "strata_wal_bytes_total",
            "Bytes appended to the WAL.",
            wal.bytes,
        );
        let replay = db.replay_report();
        gauge(
            &mut o,
            "strata_wal_replay_records",
            "WAL records replayed when the database was opened.",
            replay.records.to_string(),
        );
        gauge(
            &mut o,
            "strata_wal_replay_truncated_bytes",
            "Bytes of a torn or corrupt WAL tail cut off when the database was opened.",
            replay.truncated_bytes.to_string(),
        );
        let _ = writeln!(
            o,
            "# HELP strata_build_info Strata's version and the Prometheus API version it \
             reports.\n# TYPE strata_build_info gauge\n\
             strata_build_info{{version=\"{}\",prometheus_compat=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION"),
            crate::PROMETHEUS_COMPAT_VERSION
        );
        if let (Some(min), Some(max)) = (stats.min_time, stats.max_time) {
            gauge(
                &mut o,
                "strata_head_min_time_seconds",
                "Oldest sample in the head, Unix seconds.",
                (min as f64 / 1000.0).to_string(),
            );
            gauge(
                &mut o,
                "strata_head_max_time_seconds",
                "Newest sample in the head, Unix seconds.",
                (max as f64 / 1000.0).to_string(),
            );
        }
        o
    }
}

/// WAL replay progress and readiness (the whole page while the database opens).
pub fn render_starting(p: &strata_engine::ReplayProgress) -> String {
    use std::sync::atomic::Ordering::Relaxed;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# HELP strata_wal_replay_progress_percent Share of the WAL files (checkpoint and \
         segments) replayed by the open.\n# TYPE strata_wal_replay_progress_percent gauge\n\
         strata_wal_replay_progress_percent {}",
        p.percent()
    );
    let _ = writeln!(
        o,
        "# HELP strata_wal_replay_files WAL files replayed and to replay at open.\n\
         # TYPE strata_wal_replay_files gauge\n\
         strata_wal_replay_files{{state=\"done\"}} {}\nstrata_wal_replay_files{{state=\"total\"}} {}",
        p.files_done.load(Relaxed),
        p.files_total.load(Relaxed)
    );
    let _ = writeln!(
        o,
        "# HELP strata_ready 1 once the database is open and the server answers queries.\n\
         # TYPE strata_ready gauge\nstrata_ready {}",
        u8::from(p.ready.load(Relaxed))
    );
    o
}

/// Blocks, background work and damage counters of the storage engine (reads block stats;
/// call it off the async threads).
pub fn render_storage(db: &Db) -> String {
    use std::sync::atomic::Ordering::Relaxed;
    let mut o = String::with_capacity(2048);
    let st = db.stats();
    let gauge = |o: &mut String, name: &str, help: &str, v: String| {
        let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
    };
    let counter = |o: &mut String, name: &str, help: &str, v: u64| {
        let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
    };
    gauge(
        &mut o,
        "strata_blocks",
        "Blocks on disk.",
        st.blocks.to_string(),
    );
    gauge(
        &mut o,
        "strata_blocks_bytes",
        "Bytes of the blocks on disk.",
        st.block_bytes.to_string(),
    );
    gauge(
        &mut o,
        "strata_blocks_samples",
        "Samples in blocks.",
        st.block_samples.to_string(),
    );
    gauge(
        &mut o,
        "strata_wal_disk_bytes",
        "Bytes of WAL segments and checkpoint on disk.",
        st.wal_bytes.to_string(),
    );
    if let Some(t) = st.block_min_time {
        gauge(
            &mut o,
            "strata_lowest_timestamp_seconds",
            "Oldest time covered by a block, Unix seconds.",
            (t as f64 / 1000.0).to_string(),
        );
    }
    gauge(
        &mut o,
        "strata_wal_failed",
        "1 while the WAL refuses writes after a failed fsync or write (recovery is retried).",
        u8::from(db.wal_failure().is_some()).to_string(),
    );
    let c = db.counters();
    counter(
        &mut o,
        "strata_wal_recoveries_total",
        "Failed WALs recovered (fresh segment plus a checkpoint of the head).",
        c.wal_recoveries.load(Relaxed),
    );
    counter(
        &mut o,
        "strata_wal_recovery_failures_total",
        "Failed attempts to recover a failed WAL.",
        c.wal_recovery_failures.load(Relaxed),
    );
    counter(
        &mut o,
        "strata_head_cuts_total",
        "Blocks cut from the head.",
        c.head_cuts.load(Relaxed),
    );
    counter(
        &mut o,
        "strata_out_of_order_blocks_total",
        "Blocks of out-of-order samples written by head cuts (compaction merges them).",
        c.ooo_blocks.load(Relaxed),
    );
    counter(
        &mut o,
        "strata_head_cut_failures_total",
        "Failed head cuts (data stays in the head and WAL).",
        c.head_cut_failures.load(Relaxed),
    );
    counter(
        &mut o,
        "strata_wal_checkpoints_total",
        "WAL checkpoints written.",
        c.checkpoints.load(Relaxed),
    );
    counter(
        &mut o,
        "strata_wal_checkpoint_failures_total",
        "Failed WAL checkpoints.",
        c.checkpoint_failures.load(Relaxed),
    );
    counter(
        &mut o,
        "strata_compactions_total",
        "Compactions run.",
        c.compactions.load(Relaxed),
    );
    counter(
        &mut o,
        "strata_compaction_failures_total",
        "Failed compactions.",
        c.compaction_failures.load(Relaxed),
    );
    counter(
        &mut o,
        "strata_retention_deleted_blocks_total",
        "Blocks deleted by retention (time or size).",
        c.retention_deletions.load(Relaxed),
    );
    counter(
        &mut o,
        "strata_corrupted_blocks_total",
        "Blocks found damaged and moved to corrupted/.",
        c.corrupted_blocks.load(Relaxed),
    );
    counter(
        &mut o,
        "strata_head_series_removed_total",
        "Series removed from the head by truncation (churn).",
        c.series_removed.load(Relaxed),
    );
    let r = db.replay_report();
    gauge(
        &mut o,
        "strata_wal_replay_repairs",
        "WAL repairs (damaged files, missing segments) at open.",
        r.repairs.to_string(),
    );
    gauge(
        &mut o,
        "strata_wal_replay_unknown_series_samples",
        "Samples dropped at open because their series definition was lost with damaged WAL data.",
        c.replay_unknown_series_samples.load(Relaxed).to_string(),
    );
    o
}

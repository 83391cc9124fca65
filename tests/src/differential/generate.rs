//! The deterministic data set both servers receive: a small canary fleet scraped every 15 s.
//!
//! Targets are `job x instance`, each with a `version` (`v1`, or `v2` for the canaries). Per
//! target: `up`, `http_requests_total{job,instance,method,endpoint,status,version}`
//! (1-5 % `500`s, more on `v2`), `http_request_duration_seconds_{bucket,sum,count}`,
//! `process_resident_memory_bytes` and `inflight_requests`. Shapes that exercise the
//! evaluator: one target stops for good half way (staleness and lookback, no stale markers),
//! one canary starts late (series birth), one target restarts (counter resets on every
//! counter at the same scrape) and one is down for a few scrapes (a gap, with `up` = 0).
//!
//! Invariants the differential test relies on:
//! - every timestamp has a millisecond part in `50..=950`, never 0: scrape bases are whole
//!   seconds (multiples of 15 s since the epoch) plus a per-target offset and a small
//!   per-scrape jitter. All query times, ranges, offsets and steps are whole seconds, so no
//!   sample ever sits on a window edge, where Prometheus 2.x (closed windows) and 3.x
//!   (left-open) differ;
//! - all series of one target share each scrape's timestamp (buckets stay consistent);
//! - counters start high (about 1e6 s worth of their rate, at least 1e5), so the zero-point
//!   clamp of `rate`/`increase` never fires: its order relative to the extrapolation
//!   threshold changed during 2.x, and 2.42 has the old order;
//! - counter values are integers, so they are exact in `f64`;
//! - per series, samples are strictly increasing in time.

use strata_ingest::encode::TimeSeries;

/// Scrape interval in ms.
pub const INTERVAL_MS: i64 = 15_000;

/// Upper bounds of the latency histogram's buckets, as written in the `le` label.
pub const BUCKETS: [&str; 8] = ["0.01", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"];

/// A small, seeded, deterministic pseudo-random generator (SplitMix64).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform integer in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % ((hi - lo + 1) as u64)) as i64
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.unit().max(1e-12);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

/// What to generate.
#[derive(Clone, Debug)]
pub struct GenConfig {
    /// Seed of the pseudo-random generator.
    pub seed: u64,
    /// No sample is later than this (ms).
    pub end_ms: i64,
    /// Length of the data span (ms); keep it under an hour for Prometheus 2.42's head.
    pub span_ms: i64,
}

/// The generated series and the span they cover.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// Every series with its whole history, labels sorted by name.
    pub series: Vec<TimeSeries>,
    /// First scrape base (whole seconds, in ms).
    pub first_base_ms: i64,
    /// Last scrape base (whole seconds, in ms).
    pub last_base_ms: i64,
}

impl Dataset {
    /// Number of samples over all series.
    pub fn sample_count(&self) -> usize {
        self.series.iter().map(|s| s.samples.len()).sum()
    }

    /// Splits the data into remote-write batches in time order: each batch holds, for every
    /// series, its samples with timestamps in one `slice_ms` long slice. Sending the batches
    /// in order writes every series oldest-first.
    pub fn time_slices(&self, slice_ms: i64) -> Vec<Vec<TimeSeries>> {
        let mut out = self.time_slices_from(self.first_base_ms, slice_ms);
        out.retain(|b| !b.is_empty());
        out
    }

    /// One batch per `slice_ms` slice from `lo` on, empty batches included (so that two
    /// splits of one data set line up slice by slice).
    fn time_slices_from(&self, mut lo: i64, slice_ms: i64) -> Vec<Vec<TimeSeries>> {
        let slice_ms = slice_ms.max(1);
        let mut out: Vec<Vec<TimeSeries>> = Vec::new();
        while lo <= self.last_base_ms + INTERVAL_MS {
            let hi = lo + slice_ms;
            let batch: Vec<TimeSeries> = self
                .series
                .iter()
                .filter_map(|s| {
                    let samples: Vec<(i64, f64)> = s
                        .samples
                        .iter()
                        .copied()
                        .filter(|&(t, _)| t >= lo && t < hi)
                        .collect();
                    (!samples.is_empty()).then(|| TimeSeries {
                        labels: s.labels.clone(),
                        samples,
                    })
                })
                .collect();
            out.push(batch);
            lo = hi;
        }
        out
    }
}

/// How late [`Dataset::late_slices`] delivers held-back samples at most (ms): the
/// out-of-order window both servers need.
pub const LATE_WINDOW_MS: i64 = 30 * 60_000;

impl Dataset {
    /// [`Dataset::time_slices`] with every fourth sample of each series (by position) held
    /// back and delivered three slices later, in a batch of its own before that slice: an
    /// edge sender's late arrivals, up to four slices old, which the servers store only with
    /// an out-of-order window (of at least [`LATE_WINDOW_MS`] for 5-minute slices).
    pub fn late_slices(&self, slice_ms: i64) -> Vec<Vec<TimeSeries>> {
        let split = |keep: bool| -> Dataset {
            Dataset {
                series: self
                    .series
                    .iter()
                    .map(|s| TimeSeries {
                        labels: s.labels.clone(),
                        samples: s
                            .samples
                            .iter()
                            .enumerate()
                            .filter(|(i, _)| (i % 4 == 3) != keep)
                            .map(|(_, x)| *x)
                            .collect(),
                    })
                    .collect(),
                first_base_ms: self.first_base_ms,
                last_base_ms: self.last_base_ms,
            }
        };
        let on_time = split(true).time_slices_from(self.first_base_ms, slice_ms);
        let mut late = split(false).time_slices_from(self.first_base_ms, slice_ms);
        let mut out = Vec::new();
        for (i, batch) in on_time.into_iter().enumerate() {
            if i >= 3 {
                if let Some(b) = late.get_mut(i - 3) {
                    out.push(std::mem::take(b));
                }
            }
            out.push(batch);
        }
        // Those of the last three slices come after everything else.
        out.extend(late);
        out.retain(|b| !b.is_empty());
        out
    }
}

/// One scraped target and its life story, in scrape indexes.
struct Target {
    job: &'static str,
    instance: String,
    version: &'static str,
    endpoints: [&'static str; 2],
    /// First scrape with data.
    start: usize,
    /// First scrape without data, for good.
    stop: usize,
    /// Scrape at which the process restarted (counters begin again at 0).
    restart: Option<usize>,
    /// Scrapes during which the target is down: `up` = 0, nothing else.
    down: Option<(usize, usize)>,
    /// Share of requests answered with 500.
    err_ratio: f64,
    /// Median latency in seconds.
    latency: f64,
}

/// Per-series builder: labels and samples.
struct Builder {
    labels: Vec<(String, String)>,
    samples: Vec<(i64, f64)>,
}

impl Builder {
    fn new(name: &str, labels: &[(&str, &str)]) -> Builder {
        let mut l: Vec<(String, String)> = labels
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        l.push(("__name__".to_string(), name.to_string()));
        l.sort();
        Builder {
            labels: l,
            samples: Vec::new(),
        }
    }

    fn finish(self) -> TimeSeries {
        TimeSeries {
            labels: self.labels,
            samples: self.samples,
        }
    }
}

/// Generates the data set. Same config, same bytes.
pub fn generate(cfg: &GenConfig) -> Dataset {
    let mut rng = Rng::new(cfg.seed);
    let last_base = (cfg.end_ms - 1000).div_euclid(INTERVAL_MS) * INTERVAL_MS;
    let scrapes = (cfg.span_ms / INTERVAL_MS).max(8) as usize;
    let first_base = last_base - (scrapes as i64 - 1) * INTERVAL_MS;
    let at = |share: f64| ((scrapes as f64) * share) as usize;

    let mut targets = Vec::new();
    for (i, version) in ["v1", "v1", "v1", "v2"].into_iter().enumerate() {
        targets.push(Target {
            job: "api",
            instance: format!("10.0.1.{}:8080", i + 1),
            version,
            endpoints: ["/api/items", "/api/users"],
            // The canary is deployed a fifth of the way in.
            start: if i == 3 { at(0.2) } else { 0 },
            stop: scrapes,
            restart: None,
            down: None,
            err_ratio: if version == "v2" { 0.05 } else { 0.01 },
            latency: if version == "v2" { 0.12 } else { 0.08 },
        });
    }
    for (i, version) in ["v1", "v1", "v2"].into_iter().enumerate() {
        targets.push(Target {
            job: "web",
            instance: format!("10.0.2.{}:8080", i + 1),
            version,
            endpoints: ["/", "/login"],
            start: 0,
            stop: scrapes,
            restart: (i == 1).then(|| at(0.7)),
            down: (i == 2).then(|| (at(0.8), at(0.8) + 6)),
            err_ratio: if version == "v2" { 0.04 } else { 0.02 },
            latency: if version == "v2" { 0.3 } else { 0.2 },
        });
    }
    targets.push(Target {
        job: "batch",
        instance: "10.0.3.1:9100".to_string(),
        version: "v1",
        endpoints: ["/run", "/status"],
        start: 0,
        // Stops for good a little before half way.
        stop: at(0.45),
        restart: None,
        down: None,
        err_ratio: 0.03,
        latency: 0.5,
    });

    let mut series = Vec::new();
    for t in &targets {
        series.extend(target_series(t, &mut rng, first_base, scrapes));
    }
    Dataset {
        series,
        first_base_ms: first_base,
        last_base_ms: last_base,
    }
}

/// Expected request rate (per second) of one `(method, endpoint)` pair.
fn pair_rate(rng: &mut Rng) -> f64 {
    0.5 + 4.5 * rng.unit()
}

fn target_series(t: &Target, rng: &mut Rng, first_base: i64, scrapes: usize) -> Vec<TimeSeries> {
    let job = t.job;
    let inst = t.instance.as_str();
    let ver = t.version;
    // Fixed scrape offset of this target within the second (ms), away from 0 and 1000.
    let offset = rng.range(100, 900);

    let mut up = Builder::new("up", &[("job", job), ("instance", inst)]);
    let mut mem = Builder::new(
        "process_resident_memory_bytes",
        &[("job", job), ("instance", inst), ("version", ver)],
    );
    let mut inflight = Builder::new(
        "inflight_requests",
        &[("job", job), ("instance", inst), ("version", ver)],
    );

    // Request counters: (method, endpoint) x status.
    struct Pair {
        rate: f64,
        counters: [(Builder, f64); 3],
    }
    let statuses = ["200", "404", "500"];
    let mut pairs = Vec::new();
    for method in ["GET", "POST"] {
        for endpoint in t.endpoints {
            let rate = pair_rate(rng);
            let shares = [1.0 - t.err_ratio - 0.02, 0.02, t.err_ratio];
            let counters = [0, 1, 2].map(|k| {
                let b = Builder::new(
                    "http_requests_total",
                    &[
                        ("job", job),
                        ("instance", inst),
                        ("method", method),
                        ("endpoint", endpoint),
                        ("status", statuses[k]),
                        ("version", ver),
                    ],
                );
                (b, start_value(rate * shares[k]))
            });
            pairs.push(Pair { rate, counters });
        }
    }

    // Latency histogram.
    let hist_labels = [("job", job), ("instance", inst), ("version", ver)];
    let mut buckets: Vec<(Builder, f64)> = Vec::new();
    let total_rate: f64 = pairs.iter().map(|p| p.rate).sum();
    let bounds: Vec<f64> = BUCKETS
        .iter()
        .map(|b| b.parse::<f64>().unwrap_or(f64::INFINITY))
        .collect();
    for (b, bound) in BUCKETS.iter().zip(&bounds) {
        let mut labels = hist_labels.to_vec();
        labels.push(("le", b));
        let share = lognormal_cdf(*bound, t.latency).max(0.02);
        buckets.push((
            Builder::new("http_request_duration_seconds_bucket", &labels),
            start_value(total_rate * share),
        ));
    }
    let count0 = buckets.last().map_or(0.0, |b| b.1);
    let mut hsum = (
        Builder::new("http_request_duration_seconds_sum", &hist_labels),
        count0 * t.latency * 1.2,
    );
    let mut hcount = (
        Builder::new("http_request_duration_seconds_count", &hist_labels),
        count0,
    );

    let mut mem_value = 1.5e8 + 1e8 * rng.unit();
    for k in 0..scrapes {
        if k < t.start || k >= t.stop {
            continue;
        }
        let base = first_base + k as i64 * INTERVAL_MS;
        let ts = base + offset + rng.range(-50, 50);
        let is_down = t.down.is_some_and(|(a, b)| k >= a && k < b);
        up.samples.push((ts, if is_down { 0.0 } else { 1.0 }));
        if is_down {
            continue;
        }
        let restarted = t.restart == Some(k);
        if restarted {
            mem_value = 6e7 + 1e7 * rng.unit();
            for p in &mut pairs {
                for c in &mut p.counters {
                    c.1 = 0.0;
                }
            }
            for b in &mut buckets {
                b.1 = 0.0;
            }
            hsum.1 = 0.0;
            hcount.1 = 0.0;
        }
        let mut n_requests = 0.0;
        for p in &mut pairs {
            let n = (p.rate * 15.0 * (0.7 + 0.6 * rng.unit())).round();
            let n500 = (n * t.err_ratio + rng.unit() - 0.3).floor().max(0.0);
            let n404 = (n * 0.02 + rng.unit() - 0.5).floor().max(0.0);
            let n200 = (n - n500 - n404).max(0.0);
            p.counters[0].1 += n200;
            p.counters[1].1 += n404;
            p.counters[2].1 += n500;
            n_requests += n200 + n404 + n500;
        }
        // Each request's latency, log-normal around the target's median.
        for _ in 0..n_requests as usize {
            let latency = t.latency * (0.6 * rng.normal()).exp();
            for (v, bound) in buckets.iter_mut().map(|(_, v)| v).zip(&bounds) {
                if latency <= *bound {
                    *v += 1.0;
                }
            }
            hsum.1 += latency;
            hcount.1 += 1.0;
        }
        mem_value += (rng.unit() - 0.45) * 2e6;
        let inflight_value = (n_requests / 15.0 * t.latency * (0.5 + rng.unit()) * 10.0).round();

        for p in &mut pairs {
            for (b, v) in &mut p.counters {
                b.samples.push((ts, *v));
            }
        }
        for (b, v) in &mut buckets {
            b.samples.push((ts, *v));
        }
        hsum.0.samples.push((ts, hsum.1));
        hcount.0.samples.push((ts, hcount.1));
        mem.samples.push((ts, mem_value.round()));
        inflight.samples.push((ts, inflight_value));
    }

    let mut out = vec![up.finish(), mem.finish(), inflight.finish()];
    for p in pairs {
        out.extend(p.counters.into_iter().map(|(b, _)| b.finish()));
    }
    out.extend(buckets.into_iter().map(|(b, _)| b.finish()));
    out.push(hsum.0.finish());
    out.push(hcount.0.finish());
    out
}

/// Initial value of a counter growing at `rate` per second: about 1e6 seconds of history and
/// at least 1e5, an integer.
fn start_value(rate: f64) -> f64 {
    (rate * 1e6).max(1e5).round()
}

/// Share of a log-normal latency (median `median`, sigma 0.6) at or below `x`.
fn lognormal_cdf(x: f64, median: f64) -> f64 {
    if x.is_infinite() {
        return 1.0;
    }
    let z = (x / median).ln() / 0.6;
    0.5 * (1.0 + erf(z / std::f64::consts::SQRT_2))
}

/// Abramowitz-Stegun 7.1.26 approximation of erf (plenty for choosing start values).
fn erf(x: f64) -> f64 {
    let sign = if x < 0.0 { -1.0 } else { 1.0 };
    let x = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let y = 1.0
        - (((((1.061_405_429 * t - 1.453_152_027) * t) + 1.421_413_741) * t - 0.284_496_736) * t
            + 0.254_829_592)
            * t
            * (-x * x).exp();
    sign * y
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> GenConfig {
        GenConfig {
            seed: 42,
            end_ms: 1_700_000_000_000,
            span_ms: 50 * 60_000,
        }
    }

    fn label<'a>(s: &'a TimeSeries, name: &str) -> Option<&'a str> {
        s.labels
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn no_timestamp_on_a_whole_second() {
        let d = generate(&cfg());
        assert!(d.sample_count() > 10_000);
        for s in &d.series {
            for &(t, _) in &s.samples {
                let ms = t.rem_euclid(1000);
                assert!((50..=950).contains(&ms), "{:?} at {t}", s.labels);
            }
        }
    }

    #[test]
    fn deterministic_and_in_bounds() {
        let a = generate(&cfg());
        let b = generate(&cfg());
        assert_eq!(a.series, b.series);
        let c = generate(&GenConfig { seed: 43, ..cfg() });
        assert_ne!(a.series, c.series);
        assert!(
            a.series.len() >= 100 && a.series.len() <= 400,
            "{}",
            a.series.len()
        );
        assert_eq!(a.first_base_ms % 1000, 0);
        for s in &a.series {
            for w in s.samples.windows(2) {
                assert!(w[0].0 < w[1].0, "{:?}", s.labels);
            }
            for &(t, _) in &s.samples {
                assert!(t <= cfg().end_ms);
                assert!(t >= cfg().end_ms - cfg().span_ms - INTERVAL_MS);
            }
            let mut sorted = s.labels.clone();
            sorted.sort();
            assert_eq!(sorted, s.labels);
        }
    }

    #[test]
    fn fleet_shapes_are_present() {
        let d = generate(&cfg());
        let ups: Vec<&TimeSeries> = d
            .series
            .iter()
            .filter(|s| label(s, "__name__") == Some("up"))
            .collect();
        assert_eq!(ups.len(), 8);
        let full = ups.iter().map(|s| s.samples.len()).max().unwrap();
        // The batch target stops, the canary starts late, web-3 is down for a while.
        let batch = ups
            .iter()
            .find(|s| label(s, "job") == Some("batch"))
            .unwrap();
        assert!(batch.samples.len() < full * 6 / 10);
        let canary = ups
            .iter()
            .find(|s| label(s, "instance") == Some("10.0.1.4:8080"))
            .unwrap();
        assert!(canary.samples.len() < full);
        assert!(ups.iter().any(|s| s.samples.iter().any(|&(_, v)| v == 0.0)));
        // Counters start high, and one target's counters reset.
        let mut resets = 0;
        for s in d
            .series
            .iter()
            .filter(|s| label(s, "__name__") == Some("http_requests_total"))
        {
            assert!(s.samples[0].1 >= 1e5);
            assert!(s.samples.iter().all(|&(_, v)| v.fract() == 0.0));
            resets += s.samples.windows(2).filter(|w| w[1].1 < w[0].1).count();
        }
        assert_eq!(resets, 12);
        // Buckets are cumulative at every scrape.
        let inst = "10.0.1.1:8080";
        let mut b: Vec<&TimeSeries> = d
            .series
            .iter()
            .filter(|s| {
                label(s, "__name__") == Some("http_request_duration_seconds_bucket")
                    && label(s, "instance") == Some(inst)
            })
            .collect();
        assert_eq!(b.len(), BUCKETS.len());
        b.sort_by(|x, y| {
            let bx: f64 = label(x, "le").unwrap().parse().unwrap();
            let by: f64 = label(y, "le").unwrap().parse().unwrap();
            bx.total_cmp(&by)
        });
        for i in 0..b[0].samples.len() {
            for w in b.windows(2) {
                assert_eq!(w[0].samples[i].0, w[1].samples[i].0);
                assert!(w[0].samples[i].1 <= w[1].samples[i].1);
            }
        }
    }

    #[test]
    fn time_slices_keep_every_sample_once_in_order() {
        let d = generate(&cfg());
        let slices = d.time_slices(5 * 60_000);
        let n: usize = slices.iter().flatten().map(|s| s.samples.len()).sum();
        assert_eq!(n, d.sample_count());
        let mut last = std::collections::HashMap::new();
        for batch in &slices {
            for s in batch {
                let prev = last.insert(s.labels.clone(), s.samples.last().unwrap().0);
                if let Some(p) = prev {
                    assert!(p < s.samples[0].0);
                }
            }
        }
    }

    #[test]
    fn late_slices_deliver_every_sample_once_some_late_within_the_window() {
        let d = generate(&cfg());
        let slices = d.late_slices(5 * 60_000);
        type Times = Vec<(Vec<(String, String)>, Vec<i64>)>;
        let mut seen: std::collections::HashMap<Vec<(String, String)>, Vec<i64>> =
            std::collections::HashMap::new();
        let (mut late, mut newest) = (0usize, i64::MIN);
        for batch in &slices {
            let batch_newest = batch
                .iter()
                .flat_map(|s| s.samples.iter().map(|x| x.0))
                .max()
                .unwrap();
            for s in batch {
                let got = seen.entry(s.labels.clone()).or_default();
                for &(t, _) in &s.samples {
                    if got.iter().max().is_some_and(|&p| t < p) {
                        late += 1;
                        assert!(newest - t <= LATE_WINDOW_MS, "{} ms late", newest - t);
                    }
                    got.push(t);
                }
            }
            newest = newest.max(batch_newest);
        }
        assert!(
            late > d.sample_count() / 8,
            "{late} late samples of {}",
            d.sample_count()
        );
        let mut want: Times = d
            .series
            .iter()
            .map(|s| (s.labels.clone(), s.samples.iter().map(|x| x.0).collect()))
            .collect();
        let mut got: Times = seen
            .into_iter()
            .map(|(l, mut ts)| {
                ts.sort_unstable();
                (l, ts)
            })
            .collect();
        want.sort();
        got.sort();
        assert_eq!(got, want, "every sample exactly once");
    }
}

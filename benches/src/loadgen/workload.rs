//! The canary-fleet workload: what a Prometheus scraping a fleet of HTTP services would send.
//!
//! The fleet is `jobs x instances`, about one instance in ten running the canary version `v2`
//! (the rest `v1`). Every instance exposes the same [`SERIES_PER_INSTANCE`] series:
//!
//! - `up` (always 1);
//! - `http_requests_total{method,endpoint,status}`: integer counters, 1-5 % `5xx` depending on
//!   the endpoint, the canary somewhat worse;
//! - `http_request_duration_seconds_bucket{method,endpoint,le}` plus `_sum` and `_count`:
//!   a classic histogram whose observations are exactly the requests counted above;
//! - `process_resident_memory_bytes`, `http_requests_in_flight` (gauges) and
//!   `process_cpu_seconds_total` (a float counter).
//!
//! Every series is scraped every 15 s at its instance's fixed offset within the interval, with
//! a few ms of jitter; now and then a scrape is late by 1-4 s. Now and then an instance restarts:
//! its counters and histograms start again from zero (a counter reset, which `rate` must see).
//!
//! Invariants: one [`Fleet::round`] yields one sample per series; for each series the
//! timestamps strictly increase from one round to the next (the largest jitter plus lateness is
//! far below the interval). Everything is derived from a seed: the same spec gives the same
//! samples.

use std::f64::consts::SQRT_2;

/// Scrape interval in milliseconds.
pub const SCRAPE_INTERVAL_MS: i64 = 15_000;
/// Largest jitter, in ms, either side of an instance's scrape offset.
pub const MAX_JITTER_MS: i64 = 3;
/// Largest lateness of a late scrape, in ms.
pub const MAX_LATE_MS: i64 = 4_000;

/// (method, endpoint, relative popularity, base 5xx fraction, median latency in seconds).
const ROUTES: [(&str, &str, f64, f64, f64); 8] = [
    ("GET", "/api/v1/users", 8.0, 0.010, 0.030),
    ("POST", "/api/v1/users", 1.0, 0.030, 0.120),
    ("GET", "/api/v1/orders", 5.0, 0.015, 0.045),
    ("POST", "/api/v1/orders", 2.0, 0.050, 0.250),
    ("GET", "/api/v1/search", 4.0, 0.020, 0.180),
    ("POST", "/login", 1.5, 0.010, 0.080),
    ("GET", "/healthz", 0.5, 0.010, 0.002),
    ("GET", "/static", 6.0, 0.010, 0.008),
];

/// Response codes of `http_requests_total`.
const STATUSES: [&str; 5] = ["200", "400", "404", "500", "503"];

/// Upper bounds of the histogram buckets (the last one is `+Inf`).
const BUCKETS: [f64; 12] = [
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    f64::INFINITY,
];

/// Job names; past the end of the list jobs are numbered.
const JOB_NAMES: [&str; 12] = [
    "api-gateway",
    "checkout",
    "catalog",
    "payments",
    "auth",
    "search",
    "cart",
    "inventory",
    "shipping",
    "recommendations",
    "notifications",
    "billing",
];

const COUNTERS_PER_INSTANCE: usize = ROUTES.len() * STATUSES.len();
const HIST_SERIES_PER_ROUTE: usize = BUCKETS.len() + 2;

/// Series exposed by one instance.
pub const SERIES_PER_INSTANCE: usize =
    1 + COUNTERS_PER_INSTANCE + ROUTES.len() * HIST_SERIES_PER_ROUTE + 3;

/// A small deterministic PRNG (SplitMix64): fast, seedable, good enough for load shapes.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
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
    /// Uniform in `lo..=hi`.
    pub fn range_i64(&mut self, lo: i64, hi: i64) -> i64 {
        debug_assert!(lo <= hi);
        lo + (self.next_u64() % ((hi - lo) as u64 + 1)) as i64
    }
    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    /// Rounds `x >= 0` up or down at random so that the expectation is `x`.
    pub fn round_stochastic(&mut self, x: f64) -> u64 {
        let f = x.floor();
        f as u64 + u64::from(self.unit() < x - f)
    }
}

/// What to generate.
#[derive(Clone, Debug)]
pub struct FleetSpec {
    /// Total series (the last instance may expose only part of its series).
    pub series: usize,
    /// Seed of every random choice.
    pub seed: u64,
}

/// One series: its labels (sorted by name, `__name__` included) and what drives its values.
#[derive(Clone, Debug)]
pub struct SeriesDef {
    /// Label pairs sorted by name.
    pub labels: Vec<(String, String)>,
    /// Index of the instance exposing it.
    pub instance: usize,
    kind: Kind,
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Up,
    Requests { route: usize, status: usize },
    Bucket { route: usize, bucket: usize },
    HistSum { route: usize },
    HistCount { route: usize },
    Memory,
    InFlight,
    Cpu,
}

/// The per-instance state that evolves from round to round.
#[derive(Clone, Debug)]
struct Instance {
    /// Offset of this instance's scrapes within the interval, in ms.
    offset_ms: i64,
    canary: bool,
    /// Requests per second of the whole instance.
    rps: f64,
    /// Memory baseline in bytes.
    mem_base: f64,
    /// Rounds since the last restart.
    uptime_rounds: u64,
    /// Timestamp of the current round's scrape.
    t: i64,
    requests: [[u64; STATUSES.len()]; ROUTES.len()],
    /// Cumulative bucket counts per route.
    buckets: [[u64; BUCKETS.len()]; ROUTES.len()],
    sums: [f64; ROUTES.len()],
    in_flight: u64,
    cpu_seconds: f64,
    memory: f64,
}

/// The generated fleet: series definitions plus the state that produces each round.
#[derive(Debug)]
pub struct Fleet {
    series: Vec<SeriesDef>,
    instances: Vec<Instance>,
    /// Probability of each bucket (non-cumulative) per route, for v1 and v2.
    bucket_probs: [[[f64; BUCKETS.len()]; ROUTES.len()]; 2],
    rng: Rng,
    round: u64,
    start_ms: i64,
}

/// Standard normal CDF via the Abramowitz-Stegun erf approximation (error < 1.5e-7).
fn normal_cdf(x: f64) -> f64 {
    let z = x / SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * z.abs());
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-z * z).exp();
    let erf = if z < 0.0 { -erf } else { erf };
    0.5 * (1.0 + erf)
}

/// Non-cumulative bucket probabilities of a log-normal latency with the given median.
fn latency_probs(median: f64) -> [f64; BUCKETS.len()] {
    const SIGMA: f64 = 0.9;
    let mut out = [0.0; BUCKETS.len()];
    let mut prev = 0.0;
    for (i, le) in BUCKETS.iter().enumerate() {
        let cdf = if le.is_infinite() {
            1.0
        } else {
            normal_cdf((le / median).ln() / SIGMA)
        };
        out[i] = cdf - prev;
        prev = cdf;
    }
    out
}

fn job_name(j: usize) -> String {
    match JOB_NAMES.get(j) {
        Some(n) => (*n).to_string(),
        None => format!("service-{j:03}"),
    }
}

fn le_label(le: f64) -> String {
    if le.is_infinite() {
        "+Inf".to_string()
    } else {
        format!("{le}")
    }
}

impl Fleet {
    /// Builds the fleet's series with the first scrape round at about `start_ms`.
    pub fn new(spec: &FleetSpec, start_ms: i64) -> Fleet {
        let mut rng = Rng::new(spec.seed);
        let n_instances = spec.series.div_ceil(SERIES_PER_INSTANCE).max(1);
        let n_jobs = (n_instances / 12).clamp(1, 60);
        let mut instances = Vec::with_capacity(n_instances);
        let mut series = Vec::with_capacity(spec.series);
        let mut inst_labels = Vec::with_capacity(n_instances);
        for i in 0..n_instances {
            let job = i % n_jobs;
            let ordinal = i / n_jobs;
            let canary = ordinal % 10 == 1;
            let addr = format!("10.{}.{}.{}:8080", job % 250, ordinal / 250, ordinal % 250);
            inst_labels.push((job_name(job), addr, if canary { "v2" } else { "v1" }));
            instances.push(Instance {
                offset_ms: rng.range_i64(MAX_JITTER_MS, SCRAPE_INTERVAL_MS - 1 - MAX_JITTER_MS),
                canary,
                rps: 5.0 + 95.0 * rng.unit(),
                mem_base: (64.0 + 448.0 * rng.unit()) * 1024.0 * 1024.0,
                uptime_rounds: rng.range_i64(0, 10_000) as u64,
                t: 0,
                requests: [[0; STATUSES.len()]; ROUTES.len()],
                buckets: [[0; BUCKETS.len()]; ROUTES.len()],
                sums: [0.0; ROUTES.len()],
                in_flight: 0,
                cpu_seconds: 0.0,
                memory: 0.0,
            });
        }
        // Series order: instances by scrape offset, so that a request holds samples close in
        // time (as a sender's shard does) and the stream is roughly in time order.
        let mut order: Vec<usize> = (0..n_instances).collect();
        order.sort_by_key(|&i| instances[i].offset_ms);
        'outer: for &i in &order {
            let (job, addr, version) = &inst_labels[i];
            let base = |name: &str| -> Vec<(String, String)> {
                vec![
                    ("__name__".to_string(), name.to_string()),
                    ("instance".to_string(), addr.clone()),
                    ("job".to_string(), job.clone()),
                    ("version".to_string(), (*version).to_string()),
                ]
            };
            let mut defs: Vec<(Vec<(String, String)>, Kind)> =
                Vec::with_capacity(SERIES_PER_INSTANCE);
            defs.push((base("up"), Kind::Up));
            for (r, (method, endpoint, ..)) in ROUTES.iter().enumerate() {
                for (s, status) in STATUSES.iter().enumerate() {
                    let mut l = base("http_requests_total");
                    l.push(("method".into(), (*method).into()));
                    l.push(("endpoint".into(), (*endpoint).into()));
                    l.push(("status".into(), (*status).into()));
                    defs.push((
                        l,
                        Kind::Requests {
                            route: r,
                            status: s,
                        },
                    ));
                }
            }
            for (r, (method, endpoint, ..)) in ROUTES.iter().enumerate() {
                for (b, le) in BUCKETS.iter().enumerate() {
                    let mut l = base("http_request_duration_seconds_bucket");
                    l.push(("method".into(), (*method).into()));
                    l.push(("endpoint".into(), (*endpoint).into()));
                    l.push(("le".into(), le_label(*le)));
                    defs.push((
                        l,
                        Kind::Bucket {
                            route: r,
                            bucket: b,
                        },
                    ));
                }
                let mut l = base("http_request_duration_seconds_sum");
                l.push(("method".into(), (*method).into()));
                l.push(("endpoint".into(), (*endpoint).into()));
                defs.push((l, Kind::HistSum { route: r }));
                let mut l = base("http_request_duration_seconds_count");
                l.push(("method".into(), (*method).into()));
                l.push(("endpoint".into(), (*endpoint).into()));
                defs.push((l, Kind::HistCount { route: r }));
            }
            defs.push((base("process_resident_memory_bytes"), Kind::Memory));
            defs.push((base("http_requests_in_flight"), Kind::InFlight));
            defs.push((base("process_cpu_seconds_total"), Kind::Cpu));
            debug_assert_eq!(defs.len(), SERIES_PER_INSTANCE);
            for (mut labels, kind) in defs {
                if series.len() == spec.series {
                    break 'outer;
                }
                labels.sort();
                series.push(SeriesDef {
                    labels,
                    instance: i,
                    kind,
                });
            }
        }
        let mut bucket_probs = [[[0.0; BUCKETS.len()]; ROUTES.len()]; 2];
        for (r, route) in ROUTES.iter().enumerate() {
            bucket_probs[0][r] = latency_probs(route.4);
            bucket_probs[1][r] = latency_probs(route.4 * 1.25);
        }
        Fleet {
            series,
            instances,
            bucket_probs,
            rng,
            round: 0,
            start_ms,
        }
    }

    /// The series, in the order [`Fleet::round`] fills its output.
    pub fn series(&self) -> &[SeriesDef] {
        &self.series
    }

    /// Number of instances.
    pub fn num_instances(&self) -> usize {
        self.instances.len()
    }

    /// Advances one scrape interval and writes one `(timestamp, value)` per series into `out`
    /// (same order as [`Fleet::series`]).
    pub fn round(&mut self, out: &mut Vec<(i64, f64)>) {
        let round_start = self.start_ms + self.round as i64 * SCRAPE_INTERVAL_MS;
        let first = self.round == 0;
        self.round += 1;
        for idx in 0..self.instances.len() {
            self.step_instance(idx, round_start, first);
        }
        out.clear();
        out.reserve(self.series.len());
        for s in &self.series {
            let inst = &self.instances[s.instance];
            let v = match s.kind {
                Kind::Up => 1.0,
                Kind::Requests { route, status } => inst.requests[route][status] as f64,
                Kind::Bucket { route, bucket } => inst.buckets[route][bucket] as f64,
                Kind::HistSum { route } => inst.sums[route],
                Kind::HistCount { route } => inst.buckets[route][BUCKETS.len() - 1] as f64,
                Kind::Memory => inst.memory,
                Kind::InFlight => inst.in_flight as f64,
                Kind::Cpu => inst.cpu_seconds,
            };
            out.push((inst.t, v));
        }
    }

    fn step_instance(&mut self, idx: usize, round_start: i64, first: bool) {
        let rng = &mut self.rng;
        let inst = &mut self.instances[idx];
        let mut t = round_start + inst.offset_ms + rng.range_i64(-MAX_JITTER_MS, MAX_JITTER_MS);
        if rng.chance(0.002) {
            t += rng.range_i64(1_000, MAX_LATE_MS);
        }
        inst.t = t;
        // About one restart per instance every 6 hours.
        let restarted = !first && rng.chance(1.0 / 1440.0);
        if restarted {
            inst.requests = [[0; STATUSES.len()]; ROUTES.len()];
            inst.buckets = [[0; BUCKETS.len()]; ROUTES.len()];
            inst.sums = [0.0; ROUTES.len()];
            inst.cpu_seconds = 0.0;
            inst.uptime_rounds = 0;
        }
        inst.uptime_rounds += 1;
        // Diurnal-ish slow wave on the request rate.
        let phase = (round_start as f64 / 3.6e6 / 24.0) * std::f64::consts::TAU;
        let rate = inst.rps * (1.0 + 0.3 * (phase + inst.offset_ms as f64).sin());
        let popularity_total: f64 = ROUTES.iter().map(|r| r.2).sum();
        let probs = &self.bucket_probs[usize::from(inst.canary)];
        let mut total_new = 0u64;
        let mut busy_seconds = 0.0;
        for (r, route) in ROUTES.iter().enumerate() {
            let expected = rate * SCRAPE_INTERVAL_MS as f64 / 1000.0 * route.2 / popularity_total;
            // Observations per bucket (stochastic rounding keeps the expectation exact).
            let mut cum = 0u64;
            let mut sum_inc = 0.0;
            for (b, p) in probs[r].iter().enumerate() {
                let noise = 0.9 + 0.2 * rng.unit();
                let n = rng.round_stochastic(expected * p * noise);
                cum += n;
                let lo = if b == 0 { 0.0 } else { BUCKETS[b - 1] };
                let hi = if BUCKETS[b].is_infinite() {
                    lo * 2.0
                } else {
                    BUCKETS[b]
                };
                sum_inc += n as f64 * (lo + (hi - lo) * (0.3 + 0.4 * rng.unit()));
                // `cum` is this round's count of new observations <= this bucket's bound:
                // exactly the increment of the cumulative bucket, so buckets stay monotone
                // and `+Inf` equals `_count`.
                inst.buckets[r][b] += cum;
            }
            inst.sums[r] += sum_inc;
            busy_seconds += sum_inc;
            // Split the same requests by status.
            let errors5 = route.3 * if inst.canary { 1.8 } else { 1.0 };
            let shares = [
                1.0 - errors5 - 0.03,
                0.01,
                0.02,
                errors5 * 0.75,
                errors5 * 0.25,
            ];
            let mut left = cum;
            for (s, share) in shares.iter().enumerate().skip(1) {
                let n = rng.round_stochastic(cum as f64 * share).min(left);
                inst.requests[r][s] += n;
                left -= n;
            }
            inst.requests[r][0] += left;
            total_new += cum;
        }
        let noise = 0.5 + rng.unit();
        inst.in_flight = rng.round_stochastic(busy_seconds / 15.0 * noise);
        inst.cpu_seconds += 0.002 * total_new as f64 * (0.8 + 0.4 * rng.unit()) + 0.01;
        let growth = (inst.uptime_rounds as f64).sqrt() * 64.0 * 1024.0;
        let wobble = 1.0 + 0.05 * rng.unit();
        inst.memory = ((inst.mem_base * wobble + growth) / 4096.0).round() * 4096.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fleet(series: usize) -> Fleet {
        Fleet::new(&FleetSpec { series, seed: 7 }, 1_700_000_000_000)
    }

    #[test]
    fn exact_series_count_and_unique_sorted_labels() {
        let f = fleet(1000);
        assert_eq!(f.series().len(), 1000);
        let mut seen = std::collections::HashSet::new();
        for s in f.series() {
            assert!(
                s.labels.windows(2).all(|w| w[0].0 < w[1].0),
                "{:?}",
                s.labels
            );
            assert!(seen.insert(s.labels.clone()), "duplicate {:?}", s.labels);
        }
        assert!(f.num_instances() >= 1000 / SERIES_PER_INSTANCE);
        let versions: std::collections::HashSet<_> = f
            .series()
            .iter()
            .flat_map(|s| s.labels.iter().filter(|l| l.0 == "version"))
            .map(|l| l.1.clone())
            .collect();
        assert!(versions.contains("v1") && versions.contains("v2"));
    }

    #[test]
    fn per_series_time_strictly_increases() {
        let mut f = fleet(2 * SERIES_PER_INSTANCE * 10);
        let mut prev = Vec::new();
        let mut cur = Vec::new();
        f.round(&mut prev);
        for _ in 0..500 {
            f.round(&mut cur);
            for (a, b) in prev.iter().zip(&cur) {
                assert!(b.0 > a.0, "{} !> {}", b.0, a.0);
                assert!(b.0 - a.0 < 2 * SCRAPE_INTERVAL_MS);
            }
            std::mem::swap(&mut prev, &mut cur);
        }
    }

    #[test]
    fn histograms_cumulative_and_match_count() {
        let mut f = fleet(SERIES_PER_INSTANCE);
        let mut out = Vec::new();
        for _ in 0..50 {
            f.round(&mut out);
        }
        let series = f.series();
        for route in 0..ROUTES.len() {
            let buckets: Vec<f64> = series
                .iter()
                .zip(&out)
                .filter(|(s, _)| matches!(s.kind, Kind::Bucket { route: r, .. } if r == route))
                .map(|(_, v)| v.1)
                .collect();
            assert_eq!(buckets.len(), BUCKETS.len());
            assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
            let count = series
                .iter()
                .zip(&out)
                .find(|(s, _)| matches!(s.kind, Kind::HistCount { route: r } if r == route))
                .map(|(_, v)| v.1)
                .unwrap();
            assert_eq!(count, *buckets.last().unwrap());
            let requests: f64 = series
                .iter()
                .zip(&out)
                .filter(|(s, _)| matches!(s.kind, Kind::Requests { route: r, .. } if r == route))
                .map(|(_, v)| v.1)
                .sum();
            assert_eq!(requests, count);
        }
    }

    #[test]
    fn error_ratio_in_range_and_canary_worse() {
        let mut f = fleet(SERIES_PER_INSTANCE * 20);
        let mut out = Vec::new();
        for _ in 0..200 {
            f.round(&mut out);
        }
        let mut tot = [0.0f64; 2];
        let mut err = [0.0f64; 2];
        for (s, v) in f.series().iter().zip(&out) {
            if let Kind::Requests { status, .. } = s.kind {
                let c = usize::from(f.instances[s.instance].canary);
                tot[c] += v.1;
                if status >= 3 {
                    err[c] += v.1;
                }
            }
        }
        let r1 = err[0] / tot[0];
        let r2 = err[1] / tot[1];
        assert!((0.01..=0.05).contains(&r1), "v1 5xx ratio {r1}");
        assert!(r2 > r1 && r2 < 0.08, "v2 5xx ratio {r2} vs v1 {r1}");
    }

    #[test]
    fn deterministic() {
        let mut a = fleet(500);
        let mut b = fleet(500);
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for _ in 0..3 {
            a.round(&mut x);
            b.round(&mut y);
            assert_eq!(
                x.iter().map(|s| (s.0, s.1.to_bits())).collect::<Vec<_>>(),
                y.iter().map(|s| (s.0, s.1.to_bits())).collect::<Vec<_>>()
            );
        }
    }
}

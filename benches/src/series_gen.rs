//! Realistic metric series for benchmarks: what a Prometheus scrape of typical exporters
//! produces, one series at a time, deterministic for a given seed.
//!
//! Every series is scraped every 15 s. A scrape's timestamp is its slot on the 15 s grid
//! plus the target's fixed phase plus jitter: uniform 0..=4 ms, and for 0.5 % of scrapes a
//! slow scrape of 10..=250 ms. ([`Jitter::Aligned`] models Prometheus's timestamp
//! alignment, which replaces a timestamp within 2 ms of the expected one by the expected
//! one.)
//!
//! Series kinds ([`Kind`]), modelled on client libraries:
//! - `Counter`: integer counter (`http_requests_total`). Each series has a rate drawn
//!   log-uniformly from 0.01 to 1000 events/s; a scrape adds a Poisson-distributed count.
//!   Counters reset (process restart) with probability 1/8000 per scrape.
//! - `CpuSeconds`: `process_cpu_seconds_total`, clock ticks / 100, i.e. 2 decimals.
//! - `Bucket`, `HistSum`, `HistCount`: one classic histogram with 11 buckets
//!   (`le` = 0.005 .. 10, +Inf) of request latencies (log-normal, median 50 ms, measured to
//!   the nanosecond). Rates are log-uniform in 0.01..100 requests/s, so many buckets rarely
//!   move. `_sum` accumulates the float latencies exactly as the Go client does (a float64
//!   sum), so its values have full 53-bit mantissas.
//! - `GaugeInt`: heap bytes (random walk, steps of about 1 MB) or a small count (goroutines,
//!   queue length: 0..=200 with small moves).
//! - `GaugeFloat`: a ratio computed by division (CPU utilisation), full precision.
//! - `Constant`: `up`, `*_info` = 1, or configuration values.
//!
//! [`Gen::mix`] draws series in the proportions of a typical Kubernetes Prometheus (per 100
//! series): 44 buckets, 4 `_sum`, 4 `_count` (4 histograms), 20 counters, 2 CPU-seconds
//! counters, 8 integer gauges, 4 float gauges, 14 constants.

/// What a series measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Integer counter.
    Counter,
    /// `process_cpu_seconds_total` (2 decimals).
    CpuSeconds,
    /// Cumulative histogram bucket.
    Bucket,
    /// Histogram `_sum` (float counter).
    HistSum,
    /// Histogram `_count`.
    HistCount,
    /// Integer-valued gauge.
    GaugeInt,
    /// Full-precision float gauge.
    GaugeFloat,
    /// Constant value.
    Constant,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 8] = [
        Kind::Counter,
        Kind::CpuSeconds,
        Kind::Bucket,
        Kind::HistSum,
        Kind::HistCount,
        Kind::GaugeInt,
        Kind::GaugeFloat,
        Kind::Constant,
    ];

    /// A short name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::CpuSeconds => "cpu_seconds",
            Kind::Bucket => "bucket",
            Kind::HistSum => "hist_sum",
            Kind::HistCount => "hist_count",
            Kind::GaugeInt => "gauge_int",
            Kind::GaugeFloat => "gauge_float",
            Kind::Constant => "constant",
        }
    }
}

/// How scrape timestamps deviate from the 15 s grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Jitter {
    /// 0..=4 ms, plus rare slow scrapes of 10..=250 ms.
    Realistic,
    /// As `Realistic`, then aligned like Prometheus does by default
    /// (`--scrape.timestamp-tolerance=2ms`): a timestamp within 2 ms of the previous one plus
    /// the interval becomes exactly the previous one plus the interval.
    Aligned,
}

/// One generated series.
#[derive(Clone, Debug)]
pub struct Series {
    /// What it measures.
    pub kind: Kind,
    /// Millisecond timestamps, strictly increasing.
    pub ts: Vec<i64>,
    /// Values.
    pub vs: Vec<f64>,
}

/// Scrape interval in milliseconds.
pub const SCRAPE_MS: i64 = 15_000;

/// Upper bounds of the histogram buckets (the last is +Inf).
pub const BUCKETS: [f64; 11] = [
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    10.0,
    f64::INFINITY,
];

/// A small deterministic PRNG (SplitMix64) so that the generator needs no dependency.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    /// 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as i64
    }
    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }
    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u = self.f64().max(1e-300);
        let v = self.f64();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
    /// Log-uniform in `[lo, hi)`.
    pub fn log_uniform(&mut self, lo: f64, hi: f64) -> f64 {
        (lo.ln() + self.f64() * (hi.ln() - lo.ln())).exp()
    }
    /// Poisson with mean `m` (inversion for small means, normal approximation above 30).
    pub fn poisson(&mut self, m: f64) -> u64 {
        if m > 30.0 {
            return (m + m.sqrt() * self.normal()).round().max(0.0) as u64;
        }
        let l = (-m).exp();
        let mut k = 0;
        let mut p = self.f64();
        while p > l {
            k += 1;
            p *= self.f64();
        }
        k
    }
}

/// Series generator.
#[derive(Clone, Debug)]
pub struct Gen {
    rng: Rng,
    jitter: Jitter,
    /// Timestamp of the first scrape slot.
    pub start: i64,
}

impl Gen {
    /// A generator with realistic jitter.
    pub fn new(seed: u64) -> Gen {
        Gen::with_jitter(seed, Jitter::Realistic)
    }

    /// A generator with the given jitter model.
    pub fn with_jitter(seed: u64, jitter: Jitter) -> Gen {
        Gen {
            rng: Rng::new(seed),
            jitter,
            start: 1_700_000_000_000,
        }
    }

    /// `n` scrape timestamps of one target.
    pub fn timestamps(&mut self, n: usize) -> Vec<i64> {
        let phase = self.rng.range(0, SCRAPE_MS - 1);
        let mut out: Vec<i64> = Vec::with_capacity(n);
        for i in 0..n as i64 {
            let mut j: i64 = self.rng.range(0, 4);
            if self.rng.chance(0.005) {
                j = self.rng.range(10, 250);
            }
            let mut t = self.start + phase + i * SCRAPE_MS + j;
            if let (Jitter::Aligned, Some(&prev)) = (self.jitter, out.last()) {
                if (t - (prev + SCRAPE_MS)).abs() <= 2 {
                    t = prev + SCRAPE_MS;
                }
            }
            out.push(t);
        }
        out
    }

    /// One series of `kind` with `n` samples (a histogram kind gets a fresh histogram and
    /// returns one of its series).
    pub fn series(&mut self, kind: Kind, n: usize) -> Series {
        match kind {
            Kind::Bucket => {
                let h = self.histogram(n);
                let i = self.rng.range(0, BUCKETS.len() as i64 - 1) as usize;
                h.into_iter().nth(i).expect("bucket")
            }
            Kind::HistSum | Kind::HistCount => {
                let h = self.histogram(n);
                h.into_iter().find(|s| s.kind == kind).expect("series")
            }
            _ => {
                let ts = self.timestamps(n);
                let vs = self.values(kind, n);
                Series { kind, ts, vs }
            }
        }
    }

    fn values(&mut self, kind: Kind, n: usize) -> Vec<f64> {
        let r = &mut self.rng;
        match kind {
            Kind::Counter => {
                let rate = r.log_uniform(0.01, 1000.0);
                let mut c = r.range(0, 1_000_000) as u64;
                (0..n)
                    .map(|_| {
                        let inc = r.poisson(rate * 15.0);
                        c = if r.chance(1.0 / 8000.0) { inc } else { c + inc };
                        c as f64
                    })
                    .collect()
            }
            Kind::CpuSeconds => {
                let load = r.log_uniform(0.001, 2.0);
                let mut ticks = r.range(0, 10_000_000) as u64;
                (0..n)
                    .map(|_| {
                        ticks += r.poisson(load * 100.0 * 15.0);
                        ticks as f64 / 100.0
                    })
                    .collect()
            }
            Kind::GaugeInt => {
                if r.chance(0.5) {
                    let mut v = r.range(50_000_000, 500_000_000);
                    (0..n)
                        .map(|_| {
                            v = (v + (r.normal() * 1e6) as i64).max(1_000_000);
                            v as f64
                        })
                        .collect()
                } else {
                    let mut v = r.range(0, 200);
                    (0..n)
                        .map(|_| {
                            if r.chance(0.3) {
                                v = (v + r.range(-5, 5)).clamp(0, 200);
                            }
                            v as f64
                        })
                        .collect()
                }
            }
            Kind::GaugeFloat => {
                let level = r.f64();
                (0..n)
                    .map(|_| {
                        let busy = (level + 0.05 * r.normal()).clamp(0.0, 1.0) * 15.0;
                        busy / 15.0
                    })
                    .collect()
            }
            Kind::Constant => {
                let v = match r.range(0, 3) {
                    0 | 1 => 1.0,
                    2 => 0.0,
                    _ => r.range(1, 1 << 20) as f64,
                };
                vec![v; n]
            }
            Kind::Bucket | Kind::HistSum | Kind::HistCount => {
                unreachable!("histogram series come from Gen::histogram")
            }
        }
    }

    /// One classic histogram: its 11 `_bucket` series (in [`BUCKETS`] order), then `_sum`,
    /// then `_count`, sharing timestamps.
    pub fn histogram(&mut self, n: usize) -> Vec<Series> {
        let ts = self.timestamps(n);
        let r = &mut self.rng;
        let rate = r.log_uniform(0.01, 100.0);
        let mut counts = [0u64; BUCKETS.len()];
        let mut sum = 0.0f64;
        let mut cols: Vec<Vec<f64>> = vec![Vec::with_capacity(n); BUCKETS.len() + 2];
        for _ in 0..n {
            if r.chance(1.0 / 8000.0) {
                counts = [0; BUCKETS.len()];
                sum = 0.0;
            }
            for _ in 0..r.poisson(rate * 15.0) {
                let secs = (0.05f64.ln() + r.normal()).exp();
                let secs = (secs * 1e9).round() / 1e9;
                sum += secs;
                for (c, &le) in counts.iter_mut().zip(BUCKETS.iter()) {
                    if secs <= le {
                        *c += 1;
                    }
                }
            }
            for (col, &c) in cols.iter_mut().zip(counts.iter()) {
                col.push(c as f64);
            }
            cols[BUCKETS.len()].push(sum);
            cols[BUCKETS.len() + 1].push(counts[BUCKETS.len() - 1] as f64);
        }
        cols.into_iter()
            .enumerate()
            .map(|(i, vs)| Series {
                kind: match i {
                    i if i < BUCKETS.len() => Kind::Bucket,
                    i if i == BUCKETS.len() => Kind::HistSum,
                    _ => Kind::HistCount,
                },
                ts: ts.clone(),
                vs,
            })
            .collect()
    }

    /// 100 series of `n` samples in the proportions of a typical Kubernetes Prometheus (see
    /// the module documentation).
    pub fn mix(&mut self, n: usize) -> Vec<Series> {
        let mut out = Vec::with_capacity(100);
        for _ in 0..4 {
            out.extend(self.histogram(n));
        }
        for (kind, count) in [
            (Kind::Counter, 20),
            (Kind::CpuSeconds, 2),
            (Kind::GaugeInt, 8),
            (Kind::GaugeFloat, 4),
            (Kind::Constant, 14),
        ] {
            for _ in 0..count {
                out.push(self.series(kind, n));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_are_well_formed() {
        let mut g = Gen::new(7);
        let mix = g.mix(120);
        assert_eq!(mix.len(), 100);
        for s in &mix {
            assert_eq!(s.ts.len(), 120);
            assert_eq!(s.vs.len(), 120);
            assert!(s.ts.windows(2).all(|w| w[1] > w[0]), "{:?}", s.kind);
            let gap = s.ts[119] - s.ts[0];
            assert!((119 * SCRAPE_MS - 250..=119 * SCRAPE_MS + 250).contains(&gap));
        }
        let buckets = mix.iter().filter(|s| s.kind == Kind::Bucket).count();
        assert_eq!(buckets, 44);
        // Cumulative buckets: the +Inf bucket equals _count.
        let h = g.histogram(50);
        assert_eq!(h[10].vs, h[12].vs);
        assert!(h[0].vs.iter().zip(&h[10].vs).all(|(a, b)| a <= b));
    }
}

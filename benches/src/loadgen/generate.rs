//! `generate`: turns the [`workload`](super::workload) into remote-write request bodies (1.0,
//! or 2.0 with `protocol: 2`) on disk, the way one Prometheus remote-write shard would send
//! them: every scrape round is cut into requests of `batch_series` series with one sample
//! each, in time order.

use std::path::Path;

use strata_ingest::encode::{snappy, write_request_v1, write_request_v2, TimeSeries};

use super::payload::{Manifest, PayloadWriter};
use super::workload::{Fleet, FleetSpec, MAX_JITTER_MS, MAX_LATE_MS, SCRAPE_INTERVAL_MS};

/// What `generate` produces.
#[derive(Clone, Debug)]
pub struct GenerateSpec {
    /// Series in the fleet.
    pub series: usize,
    /// Hours of data.
    pub hours: f64,
    /// Largest timestamp allowed (ms); the data ends at or just before it.
    pub end_ms: i64,
    /// Series per request.
    pub batch_series: usize,
    /// Seed of the workload.
    pub seed: u64,
    /// Remote-write protocol of the bodies: 1 or 2.
    pub protocol: u8,
}

/// Writes `dir/payloads.bin` and `dir/manifest.json`; returns the manifest.
pub fn generate(spec: &GenerateSpec, dir: &Path) -> Result<Manifest, String> {
    if spec.series == 0 {
        return Err("--series must be at least 1".into());
    }
    if !matches!(spec.protocol, 1 | 2) {
        return Err(format!("--protocol {} is not 1 or 2", spec.protocol));
    }
    if spec.batch_series == 0 {
        return Err("--batch-series must be at least 1".into());
    }
    if !(spec.hours > 0.0 && spec.hours <= 24.0 * 365.0) {
        return Err(format!("--hours {} out of range (0, 8760]", spec.hours));
    }
    let rounds = ((spec.hours * 3.6e6) / SCRAPE_INTERVAL_MS as f64)
        .round()
        .max(1.0) as u64;
    let rounds_u32 = u32::try_from(rounds).map_err(|_| "too many rounds".to_string())?;
    // The last round's latest possible sample lands exactly at `end_ms`.
    let start_ms = spec.end_ms - rounds as i64 * SCRAPE_INTERVAL_MS - MAX_JITTER_MS - MAX_LATE_MS;
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut fleet = Fleet::new(
        &FleetSpec {
            series: spec.series,
            seed: spec.seed,
        },
        start_ms,
    );
    let mut writer =
        PayloadWriter::create(dir).map_err(|e| format!("cannot create payload file: {e}"))?;
    let mut m = Manifest {
        series: fleet.series().len() as u64,
        samples: 0,
        requests: 0,
        rounds,
        batch_series: spec.batch_series as u64,
        min_time: i64::MAX,
        max_time: i64::MIN,
        body_bytes: 0,
        seed: spec.seed,
        protocol: spec.protocol,
    };
    let mut values = Vec::new();
    let mut batch: Vec<TimeSeries> = Vec::with_capacity(spec.batch_series);
    for round in 0..rounds_u32 {
        fleet.round(&mut values);
        let defs = fleet.series();
        for start in (0..defs.len()).step_by(spec.batch_series) {
            let end = (start + spec.batch_series).min(defs.len());
            batch.clear();
            for (def, &(t, v)) in defs[start..end].iter().zip(&values[start..end]) {
                m.min_time = m.min_time.min(t);
                m.max_time = m.max_time.max(t);
                batch.push(TimeSeries {
                    labels: def.labels.clone(),
                    samples: vec![(t, v)],
                });
            }
            let body = snappy(&if spec.protocol == 2 {
                write_request_v2(&batch)
            } else {
                write_request_v1(&batch)
            });
            let n = (end - start) as u32;
            writer
                .write(round, n, &body)
                .map_err(|e| format!("cannot write payload: {e}"))?;
            m.samples += u64::from(n);
            m.requests += 1;
            m.body_bytes += body.len() as u64;
        }
    }
    writer
        .finish()
        .map_err(|e| format!("cannot finish payload file: {e}"))?;
    let manifest_path = dir.join(super::payload::MANIFEST_FILE);
    std::fs::write(&manifest_path, m.to_json() + "\n")
        .map_err(|e| format!("cannot write {}: {e}", manifest_path.display()))?;
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loadgen::payload::PayloadReader;

    #[test]
    fn generates_rounds_ending_before_end_time() {
        let dir = tempfile::tempdir().unwrap();
        let end = 1_700_000_000_000;
        let spec = GenerateSpec {
            series: 450,
            hours: 0.05, // 12 rounds
            end_ms: end,
            batch_series: 200,
            seed: 1,
            protocol: 1,
        };
        let m = generate(&spec, dir.path()).unwrap();
        assert_eq!(m.series, 450);
        assert_eq!(m.rounds, 12);
        assert_eq!(m.samples, 450 * 12);
        assert_eq!(m.requests, 3 * 12);
        assert!(m.max_time <= end);
        assert!(m.min_time >= end - 13 * SCRAPE_INTERVAL_MS - MAX_LATE_MS);
        assert_eq!(Manifest::load(dir.path()).unwrap(), m);
        let mut r = PayloadReader::open(dir.path()).unwrap();
        let mut rounds = 0;
        let mut samples = 0;
        while let Some(reqs) = r.next_round().unwrap() {
            assert_eq!(reqs.len(), 3);
            assert!(reqs.iter().all(|q| q.round == rounds));
            samples += reqs.iter().map(|q| u64::from(q.samples)).sum::<u64>();
            // Every body is a valid snappy block.
            for q in &reqs {
                snap::raw::Decoder::new().decompress_vec(&q.body).unwrap();
            }
            rounds += 1;
        }
        assert_eq!(rounds, 12);
        assert_eq!(samples, m.samples);
    }

    /// Every request body of `dir`, decoded as remote-write `proto`.
    fn decoded(dir: &Path, proto: strata_ingest::Protocol) -> Vec<String> {
        let mut r = PayloadReader::open(dir).unwrap();
        let mut out = Vec::new();
        while let Some(reqs) = r.next_round().unwrap() {
            for q in reqs {
                let limits = strata_ingest::Limits::default();
                let d = strata_ingest::decode(proto, &q.body, &limits, i64::MAX).unwrap();
                assert_eq!(d.num_samples(), q.samples as usize);
                out.extend(d.series.iter().map(|(l, s)| format!("{l} {s:?}")));
            }
        }
        out
    }

    #[test]
    fn protocol_2_bodies_hold_the_same_series_and_samples() {
        let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let spec = GenerateSpec {
            series: 300,
            hours: 0.02,
            end_ms: 1_700_000_000_000,
            batch_series: 70,
            seed: 5,
            protocol: 1,
        };
        let m1 = generate(&spec, one.path()).unwrap();
        let m2 = generate(
            &GenerateSpec {
                protocol: 2,
                ..spec.clone()
            },
            two.path(),
        )
        .unwrap();
        assert_eq!((m1.protocol, m2.protocol), (1, 2));
        assert_eq!(Manifest::load(two.path()).unwrap(), m2);
        assert_eq!((m1.samples, m1.requests), (m2.samples, m2.requests));
        let v1 = decoded(one.path(), strata_ingest::Protocol::V1);
        assert_eq!(v1.len() as u64, m1.samples);
        assert_eq!(decoded(two.path(), strata_ingest::Protocol::V2), v1);
    }

    #[test]
    fn bad_specs_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let ok = GenerateSpec {
            series: 10,
            hours: 1.0,
            end_ms: 0,
            batch_series: 10,
            seed: 1,
            protocol: 1,
        };
        for bad in [
            GenerateSpec {
                series: 0,
                ..ok.clone()
            },
            GenerateSpec {
                batch_series: 0,
                ..ok.clone()
            },
            GenerateSpec {
                hours: -1.0,
                ..ok.clone()
            },
            GenerateSpec {
                hours: f64::NAN,
                ..ok.clone()
            },
            GenerateSpec {
                protocol: 3,
                ..ok.clone()
            },
        ] {
            assert!(generate(&bad, dir.path()).is_err(), "{bad:?}");
        }
    }
}

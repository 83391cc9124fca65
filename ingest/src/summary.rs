//! What a write or import did: counts for the `X-Prometheus-Remote-Write-*-Written` headers
//! and the human-readable reasons for a 400 answer.

use strata_engine::AppendReport;

use crate::metadata::MetricMetadata;

/// At most this many problem lines are kept; the rest are summarised in one final line.
pub(crate) const MAX_PROBLEMS: usize = 10;

/// Outcome of [`crate::write`].
#[derive(Clone, Debug, Default)]
pub struct WriteSummary {
    /// Float samples stored, counting exact duplicates of stored samples (idempotent retries).
    pub samples_written: u64,
    /// Native histogram samples stored: always 0, Strata rejects native histograms.
    pub histograms_written: u64,
    /// Exemplars accepted on series that were stored. Strata has no exemplar storage yet, so
    /// they are dropped after validation, as Prometheus does with exemplar storage disabled.
    pub exemplars_written: u64,
    /// Series rejected as a whole (invalid labels); their samples count in `samples_rejected`.
    pub series_rejected: u64,
    /// Float samples not stored (rejected series, future timestamps, out of order, duplicate
    /// timestamps).
    pub samples_rejected: u64,
    /// Native histogram samples not stored.
    pub histograms_rejected: u64,
    /// The storage engine's report for the batch.
    pub append: AppendReport,
    /// Why things were rejected, one line each, at most about ten lines (the last one says how
    /// many more there were).
    pub problems: Vec<String>,
    /// Metric metadata carried by the request (v1 `metadata`, v2 per-series metadata), one
    /// entry per family, for `/api/v1/metadata`.
    pub metadata: Vec<MetricMetadata>,
}

impl WriteSummary {
    /// True when everything in the request was stored: the server answers 204. Otherwise it
    /// answers 400 with [`WriteSummary::problems`] joined.
    pub fn is_clean(&self) -> bool {
        self.series_rejected == 0
            && self.samples_rejected == 0
            && self.histograms_rejected == 0
            && self.problems.is_empty()
    }
}

/// Outcome of [`crate::import_text`].
#[derive(Clone, Debug, Default)]
pub struct ImportSummary {
    /// Samples stored, counting exact duplicates of stored samples.
    pub samples_imported: u64,
    /// Distinct series in the body.
    pub series: u64,
    /// Why samples were rejected (future timestamps, out of order, duplicate timestamps).
    pub problems: Vec<String>,
    /// The storage engine's report for the batch.
    pub append: AppendReport,
    /// Metadata from `TYPE`, `HELP` and `UNIT` lines, one entry per family.
    pub metadata: Vec<MetricMetadata>,
}

impl ImportSummary {
    /// True when every sample was stored.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Collects problem lines up to [`MAX_PROBLEMS`], counting the overflow.
#[derive(Debug, Default)]
pub(crate) struct Problems {
    lines: Vec<String>,
    dropped: u64,
}

impl Problems {
    pub(crate) fn push(&mut self, f: impl FnOnce() -> String) {
        if self.lines.len() < MAX_PROBLEMS {
            self.lines.push(f());
        } else {
            self.dropped += 1;
        }
    }

    /// Adds the engine's rejections (out of order, duplicate timestamp, out of bounds, series
    /// limits) and returns how many
    /// samples it rejected.
    pub(crate) fn add_append_report(&mut self, r: &AppendReport) -> u64 {
        let rejected = r.rejected();
        if rejected == 0 {
            return 0;
        }
        let first = match &r.first_rejection {
            Some((reason, labels, t)) => {
                format!("{}: series {labels} at timestamp {t}", reason.as_str())
            }
            None => "samples rejected by storage".to_string(),
        };
        self.push(|| {
            let mut counts = Vec::new();
            for (n, what) in [
                (r.out_of_order, "out of order"),
                (r.duplicate_timestamp, "duplicate timestamp"),
                (r.too_old, "out of bounds"),
                (r.series_limit, "over the series limit"),
                (r.new_series_limit, "over the new series per request limit"),
            ] {
                if n > 0 {
                    counts.push(format!("{n} {what}"));
                }
            }
            format!("{first} (samples rejected: {})", counts.join(", "))
        });
        rejected
    }

    pub(crate) fn finish(mut self) -> Vec<String> {
        if self.dropped > 0 {
            self.lines
                .push(format!("... and {} more problems", self.dropped));
        }
        self.lines
    }
}

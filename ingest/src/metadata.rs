//! Metric metadata (type, help, unit) carried by remote write (v1 `WriteRequest.metadata`, v2
//! `TimeSeries.metadata`) and by text-format `TYPE`/`HELP`/`UNIT` lines, handed to the server
//! for `/api/v1/metadata`. Metadata is best effort: entries with invalid UTF-8 or no family
//! name are skipped silently, and at most [`MAX_METADATA`] distinct families are kept per
//! request.

use std::collections::HashMap;

/// Most metadata entries kept from one request.
pub const MAX_METADATA: usize = 10_000;

/// A metric family's type, as in Prometheus's metadata API.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MetricType {
    /// No type given (`untyped` in text 0.0.4, `unknown` in OpenMetrics).
    #[default]
    Unknown,
    /// Monotonic counter.
    Counter,
    /// Gauge.
    Gauge,
    /// Classic or native histogram.
    Histogram,
    /// Gauge histogram.
    GaugeHistogram,
    /// Summary.
    Summary,
    /// Info metric.
    Info,
    /// State set.
    StateSet,
}

impl MetricType {
    /// The protobuf enum value (same numbering in v1 and v2).
    pub fn from_proto(v: u64) -> MetricType {
        match v {
            1 => MetricType::Counter,
            2 => MetricType::Gauge,
            3 => MetricType::Histogram,
            4 => MetricType::GaugeHistogram,
            5 => MetricType::Summary,
            6 => MetricType::Info,
            7 => MetricType::StateSet,
            _ => MetricType::Unknown,
        }
    }

    /// Parses a text-format `TYPE` word (`untyped` and `unknown` are both `Unknown`).
    pub fn from_text(s: &str) -> Option<MetricType> {
        Some(match s {
            "counter" => MetricType::Counter,
            "gauge" => MetricType::Gauge,
            "histogram" => MetricType::Histogram,
            "gaugehistogram" => MetricType::GaugeHistogram,
            "summary" => MetricType::Summary,
            "info" => MetricType::Info,
            "stateset" => MetricType::StateSet,
            "untyped" | "unknown" => MetricType::Unknown,
            _ => return None,
        })
    }

    /// The name used by Prometheus's `/api/v1/metadata`.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Unknown => "unknown",
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
        }
    }
}

/// Metadata of one metric family.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetricMetadata {
    /// The family name (`http_request_duration_seconds`, without `_bucket`/`_sum`/`_count`).
    pub metric_family_name: String,
    /// The family's type.
    pub metric_type: MetricType,
    /// The help text (unescaped).
    pub help: String,
    /// The unit, often empty.
    pub unit: String,
}

/// The family a series name belongs to, given the family type: the classic histogram and
/// summary suffixes are removed, other names are their own family.
pub(crate) fn family_name(series_name: &str, t: MetricType) -> &str {
    let suffixes: &[&str] = match t {
        MetricType::Histogram => &["_bucket", "_sum", "_count", "_created"],
        MetricType::GaugeHistogram => &["_bucket", "_gsum", "_gcount"],
        MetricType::Summary => &["_sum", "_count", "_created"],
        _ => &[],
    };
    suffixes
        .iter()
        .find_map(|s| series_name.strip_suffix(s).filter(|f| !f.is_empty()))
        .unwrap_or(series_name)
}

/// Collects metadata for one request, one entry per family (the last one seen wins).
#[derive(Debug, Default)]
pub(crate) struct MetadataSet {
    index: HashMap<String, usize>,
    entries: Vec<MetricMetadata>,
}

impl MetadataSet {
    /// Adds or replaces the entry for `m.metric_family_name`; ignored when the name is empty
    /// or the set is full.
    pub(crate) fn add(&mut self, m: MetricMetadata) {
        if m.metric_family_name.is_empty() {
            return;
        }
        if let Some(&i) = self.index.get(&m.metric_family_name) {
            self.entries[i] = m;
        } else if self.entries.len() < MAX_METADATA {
            self.index
                .insert(m.metric_family_name.clone(), self.entries.len());
            self.entries.push(m);
        }
    }

    /// Mutable access to the entry of `family`, created (with unknown type) if absent and the
    /// set is not full.
    pub(crate) fn entry(&mut self, family: &str) -> Option<&mut MetricMetadata> {
        if family.is_empty() {
            return None;
        }
        let i = match self.index.get(family) {
            Some(&i) => i,
            None if self.entries.len() < MAX_METADATA => {
                self.index.insert(family.to_string(), self.entries.len());
                self.entries.push(MetricMetadata {
                    metric_family_name: family.to_string(),
                    ..MetricMetadata::default()
                });
                self.entries.len() - 1
            }
            None => return None,
        };
        self.entries.get_mut(i)
    }

    /// True if `family` already has an entry.
    pub(crate) fn contains(&self, family: &str) -> bool {
        self.index.contains_key(family)
    }

    pub(crate) fn into_vec(self) -> Vec<MetricMetadata> {
        self.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families() {
        assert_eq!(family_name("rpc_bucket", MetricType::Histogram), "rpc");
        assert_eq!(family_name("rpc_count", MetricType::Summary), "rpc");
        assert_eq!(family_name("rpc_bucket", MetricType::Counter), "rpc_bucket");
        assert_eq!(family_name("_sum", MetricType::Summary), "_sum");
        assert_eq!(MetricType::from_proto(5).as_str(), "summary");
        assert_eq!(MetricType::from_proto(99), MetricType::Unknown);
        assert_eq!(MetricType::from_text("untyped"), Some(MetricType::Unknown));
        assert_eq!(MetricType::from_text("bogus"), None);
    }

    #[test]
    fn set_keeps_last_and_caps() {
        let mut s = MetadataSet::default();
        for i in 0..MAX_METADATA + 5 {
            s.add(MetricMetadata {
                metric_family_name: format!("m{i}"),
                ..Default::default()
            });
        }
        s.add(MetricMetadata {
            metric_family_name: "m0".into(),
            help: "h".into(),
            ..Default::default()
        });
        let v = s.into_vec();
        assert_eq!(v.len(), MAX_METADATA);
        assert_eq!(v[0].help, "h");
    }
}

//! Metric metadata (type, help, unit) received by remote-write and text import, kept in
//! memory for `GET /api/v1/metadata` (Grafana's metric browser and query hints read it).
//!
//! Invariants: at most [`MAX_FAMILIES`] families and [`MAX_VARIANTS`] distinct entries per
//! family are kept (metadata is best effort, as in Prometheus, which keeps what its targets
//! last exposed); a family's entries are distinct, newest last; the whole store is lost on
//! restart (senders re-send metadata periodically: Prometheus every minute by default).

use std::collections::HashMap;

use parking_lot::Mutex;
use strata_ingest::MetricMetadata;

use crate::error::{Error, Result};
use crate::json;
use crate::params::Params;

/// Most metric families kept; metadata of further families is dropped (and counted).
pub const MAX_FAMILIES: usize = 100_000;
/// Most distinct (type, help, unit) entries kept per family; older ones make room.
pub const MAX_VARIANTS: usize = 4;

/// One family's metadata as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    kind: &'static str,
    help: String,
    unit: String,
}

/// The metadata received so far.
#[derive(Debug, Default)]
pub struct MetadataStore {
    families: Mutex<HashMap<String, Vec<Entry>>>,
    dropped: std::sync::atomic::AtomicU64,
}

impl MetadataStore {
    /// Records a request's metadata.
    pub fn record(&self, items: &[MetricMetadata]) {
        if items.is_empty() {
            return;
        }
        let mut f = self.families.lock();
        for m in items {
            let e = Entry {
                kind: m.metric_type.as_str(),
                help: m.help.clone(),
                unit: m.unit.clone(),
            };
            let full = f.len() >= MAX_FAMILIES;
            match f.get_mut(&m.metric_family_name) {
                Some(v) => {
                    if v.last() != Some(&e) {
                        v.retain(|x| x != &e);
                        if v.len() >= MAX_VARIANTS {
                            v.remove(0);
                        }
                        v.push(e);
                    }
                }
                None if full => {
                    self.dropped
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                None => {
                    f.insert(m.metric_family_name.clone(), vec![e]);
                }
            }
        }
    }

    /// Metadata entries dropped because the store was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The `data` object of `/api/v1/metadata` for `limit`, `limit_per_metric` and `metric`
    /// (Prometheus's parameters: a negative or absent limit means none). Families are sorted
    /// by name, each family's entries newest first.
    pub fn api_data(&self, p: &Params) -> Result<String> {
        let limit = signed_limit(p, "limit")?;
        let per_metric = signed_limit(p, "limit_per_metric")?;
        let metric = p.get_nonempty("metric");
        let f = self.families.lock();
        let mut names: Vec<&String> = match metric {
            Some(m) => f.get_key_value(m).map(|(k, _)| k).into_iter().collect(),
            None => f.keys().collect(),
        };
        names.sort_unstable();
        if let Some(l) = limit {
            names.truncate(l);
        }
        let mut out = String::from("{");
        for (i, name) in names.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            json::write_str(&mut out, name);
            out.push_str(":[");
            let entries = &f[*name];
            let take = per_metric.unwrap_or(usize::MAX);
            for (j, e) in entries.iter().rev().take(take).enumerate() {
                if j > 0 {
                    out.push(',');
                }
                out.push_str("{\"type\":");
                json::write_str(&mut out, e.kind);
                out.push_str(",\"help\":");
                json::write_str(&mut out, &e.help);
                out.push_str(",\"unit\":");
                json::write_str(&mut out, &e.unit);
                out.push('}');
            }
            out.push(']');
        }
        out.push('}');
        Ok(out)
    }
}

/// A limit parameter as Prometheus reads it for metadata: absent or negative is no limit.
fn signed_limit(p: &Params, name: &str) -> Result<Option<usize>> {
    match p.get_nonempty(name) {
        None => Ok(None),
        Some(s) => {
            let n: i64 = s.trim().parse().map_err(|_| {
                Error::BadData(format!(
                    "invalid parameter {name:?}: strconv.Atoi: parsing {s:?}: invalid syntax"
                ))
            })?;
            Ok((n >= 0).then_some(n as usize))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_ingest::MetricType;

    fn md(name: &str, t: MetricType, help: &str) -> MetricMetadata {
        MetricMetadata {
            metric_family_name: name.into(),
            metric_type: t,
            help: help.into(),
            unit: String::new(),
        }
    }

    fn data(s: &MetadataStore, q: &str) -> serde_json::Value {
        let p = Params::parse(Some(q), None).unwrap();
        serde_json::from_str(&s.api_data(&p).unwrap()).unwrap()
    }

    #[test]
    fn keeps_distinct_entries_newest_first_with_limits() {
        let s = MetadataStore::default();
        s.record(&[
            md("b_total", MetricType::Counter, "B things."),
            md("a_seconds", MetricType::Histogram, "A \"quoted\"."),
        ]);
        s.record(&[md("b_total", MetricType::Counter, "B things.")]);
        s.record(&[md("b_total", MetricType::Counter, "B things, reworded.")]);
        let all = data(&s, "");
        assert_eq!(
            all,
            serde_json::json!({
                "a_seconds": [{"type": "histogram", "help": "A \"quoted\".", "unit": ""}],
                "b_total": [
                    {"type": "counter", "help": "B things, reworded.", "unit": ""},
                    {"type": "counter", "help": "B things.", "unit": ""}
                ]
            })
        );
        assert_eq!(data(&s, "limit=1").as_object().unwrap().len(), 1);
        assert_eq!(data(&s, "limit=-1").as_object().unwrap().len(), 2);
        assert_eq!(
            data(&s, "limit_per_metric=1")["b_total"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert_eq!(data(&s, "metric=b_total").as_object().unwrap().len(), 1);
        assert_eq!(data(&s, "metric=nope"), serde_json::json!({}));
        let p = Params::parse(Some("limit=x"), None).unwrap();
        assert!(s.api_data(&p).unwrap_err().to_string().contains("limit"));
    }

    #[test]
    fn bounded_variants() {
        let s = MetadataStore::default();
        for i in 0..10 {
            s.record(&[md("x", MetricType::Gauge, &format!("v{i}"))]);
        }
        let d = data(&s, "");
        let helps: Vec<&str> = d["x"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["help"].as_str().unwrap())
            .collect();
        assert_eq!(helps, ["v9", "v8", "v7", "v6"]);
    }
}

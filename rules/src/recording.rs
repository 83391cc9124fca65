//! Recording rules: a query result becomes the series to append.
//!
//! Prometheus's rules (reference rules.md section 3): a vector's samples keep their labels
//! with `__name__` set to the rule's name and the rule's labels set over them (a label with
//! an empty value removes the label); a scalar becomes one sample with only those labels;
//! any other result is an error. Two output samples with the same labels, or more samples
//! than a positive `limit`, fail the rule and nothing is written.

use std::collections::BTreeMap;

use strata_engine::{Labels, METRIC_NAME};
use strata_query::Value;

use crate::error::{Error, Result};

/// One output sample: labels and value (the timestamp is the evaluation's).
pub type OutputSample = (Labels, f64);

/// A query result as a list of samples, as Prometheus's rule query function returns it:
/// vectors as they are, a scalar as one sample with no labels.
pub fn as_vector(value: Value) -> Result<Vec<OutputSample>> {
    match value {
        Value::Vector(v) => Ok(v.into_iter().map(|s| (s.labels, s.v)).collect()),
        Value::Scalar { v, .. } => Ok(vec![(Labels::empty(), v)]),
        _ => Err(Error::Eval("rule result is not a vector or scalar".into())),
    }
}

/// Applies the rule's name and labels to a result, checking duplicates and the limit.
pub fn record(
    name: &str,
    labels: &BTreeMap<String, String>,
    result: Vec<OutputSample>,
    limit: i64,
) -> Result<Vec<OutputSample>> {
    let mut out: Vec<OutputSample> = result
        .into_iter()
        .map(|(l, v)| {
            let mut l = l.with(METRIC_NAME, name);
            for (k, val) in labels {
                l = l.with(k, val);
            }
            (l, v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    if out.windows(2).any(|w| w[0].0 == w[1].0) {
        return Err(Error::Eval(
            "vector contains metrics with the same labelset after applying rule labels".into(),
        ));
    }
    if limit > 0 && out.len() as i64 > limit {
        return Err(Error::Eval(format!(
            "exceeded limit of {limit} with {} series",
            out.len()
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_query::InstantSample;

    fn l(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs).unwrap()
    }

    fn vector(items: &[(&[(&str, &str)], f64)]) -> Value {
        Value::Vector(
            items
                .iter()
                .map(|(p, v)| InstantSample {
                    labels: l(p),
                    t: 0,
                    v: *v,
                })
                .collect(),
        )
    }

    #[test]
    fn names_and_labels_applied() {
        let v = as_vector(vector(&[
            (&[("__name__", "x"), ("job", "a"), ("tier", "old")], 1.0),
            (&[("job", "b")], 2.0),
        ]))
        .unwrap();
        let labels = BTreeMap::from([("tier".to_string(), "1".to_string())]);
        let out = record("job:x:sum", &labels, v, 0).unwrap();
        assert_eq!(
            out,
            vec![
                (
                    l(&[("__name__", "job:x:sum"), ("job", "a"), ("tier", "1")]),
                    1.0
                ),
                (
                    l(&[("__name__", "job:x:sum"), ("job", "b"), ("tier", "1")]),
                    2.0
                ),
            ]
        );
        // An empty rule label removes the label.
        let labels = BTreeMap::from([("job".to_string(), String::new())]);
        let v = as_vector(vector(&[(&[("job", "a"), ("x", "1")], 1.0)])).unwrap();
        let out = record("r", &labels, v, 0).unwrap();
        assert_eq!(out, vec![(l(&[("__name__", "r"), ("x", "1")]), 1.0)]);
    }

    #[test]
    fn scalars_become_one_sample() {
        let v = as_vector(Value::Scalar { t: 5, v: 3.5 }).unwrap();
        let out = record("r", &BTreeMap::new(), v, 0).unwrap();
        assert_eq!(out, vec![(l(&[("__name__", "r")]), 3.5)]);
    }

    #[test]
    fn errors_follow_prometheus() {
        let e = as_vector(Value::String {
            t: 0,
            s: "x".into(),
        })
        .unwrap_err();
        assert_eq!(e.to_string(), "rule result is not a vector or scalar");
        let v = as_vector(vector(&[(&[("job", "a")], 1.0), (&[("job", "b")], 2.0)])).unwrap();
        let labels = BTreeMap::from([("job".to_string(), "same".to_string())]);
        let e = record("r", &labels, v.clone(), 0).unwrap_err();
        assert_eq!(
            e.to_string(),
            "vector contains metrics with the same labelset after applying rule labels"
        );
        let e = record("r", &BTreeMap::new(), v.clone(), 1).unwrap_err();
        assert_eq!(e.to_string(), "exceeded limit of 1 with 2 series");
        assert_eq!(record("r", &BTreeMap::new(), v, 2).unwrap().len(), 2);
    }
}

//! The in-memory inverted index: label name -> label value -> postings (ascending series refs).
//!
//! Matcher resolution follows Prometheus: a matcher that does not accept the empty string
//! selects the union of the postings of the values it accepts; one that accepts the empty
//! string (and so also matches series lacking the label) is applied by subtracting the
//! postings of the values it rejects from the candidate set. Regex matchers scan only the value
//! list of their own label name.

pub mod postings;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::labels::Labels;
use crate::matcher::Matcher;
use postings::SeriesRef;

/// Label name -> value -> postings, plus the list of all series.
#[derive(Default)]
pub struct MemIndex {
    names: HashMap<Arc<str>, BTreeMap<Arc<str>, Vec<SeriesRef>>>,
    all: Vec<SeriesRef>,
}

impl MemIndex {
    /// Adds series `r` with `labels`.
    pub fn add(&mut self, r: SeriesRef, labels: &Labels) {
        postings::insert(&mut self.all, r);
        for l in labels {
            let values = self.names.entry(l.name.clone()).or_default();
            postings::insert(values.entry(l.value.clone()).or_default(), r);
        }
    }

    /// Every series, ascending.
    pub fn all(&self) -> &[SeriesRef] {
        &self.all
    }

    /// Series matching every matcher, ascending. No matchers selects every series.
    pub fn select(&self, matchers: &[Matcher]) -> Vec<SeriesRef> {
        let mut positive: Option<Vec<SeriesRef>> = None;
        let mut negative: Vec<Vec<SeriesRef>> = Vec::new();
        for m in matchers {
            let values = self.names.get(m.name.as_str());
            if m.matches_empty() {
                // Series without the label match; drop those whose value is rejected.
                if let Some(values) = values {
                    let rejected: Vec<&[SeriesRef]> = values
                        .iter()
                        .filter(|(v, _)| !m.matches(v))
                        .map(|(_, p)| p.as_slice())
                        .collect();
                    if !rejected.is_empty() {
                        negative.push(postings::union(&rejected));
                    }
                }
            } else {
                let Some(values) = values else {
                    return Vec::new();
                };
                let accepted: Vec<&[SeriesRef]> = match m.op {
                    crate::MatchOp::Equal => values
                        .get(m.value.as_str())
                        .map(|p| vec![p.as_slice()])
                        .unwrap_or_default(),
                    _ => values
                        .iter()
                        .filter(|(v, _)| m.matches(v))
                        .map(|(_, p)| p.as_slice())
                        .collect(),
                };
                let set = postings::union(&accepted);
                positive = Some(match positive {
                    None => set,
                    Some(p) => postings::intersect(&p, &set),
                });
                if positive.as_ref().is_some_and(|p| p.is_empty()) {
                    return Vec::new();
                }
            }
        }
        let mut result = positive.unwrap_or_else(|| self.all.clone());
        for n in &negative {
            result = postings::subtract(&result, n);
        }
        result
    }

    /// Label names, sorted.
    pub fn label_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.names.keys().map(|k| k.to_string()).collect();
        v.sort();
        v
    }

    /// Values of `name`, sorted.
    pub fn label_values(&self, name: &str) -> Vec<String> {
        self.names
            .get(name)
            .map(|vals| vals.keys().map(|k| k.to_string()).collect())
            .unwrap_or_default()
    }

    /// Number of distinct values per label name.
    pub fn value_counts(&self) -> Vec<(String, usize)> {
        self.names
            .iter()
            .map(|(n, v)| (n.to_string(), v.len()))
            .collect()
    }

    /// Number of series per value of `name`.
    pub fn postings_counts(&self, name: &str) -> Vec<(String, usize)> {
        self.names
            .get(name)
            .map(|vals| vals.iter().map(|(v, p)| (v.to_string(), p.len())).collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MatchOp;

    fn idx() -> MemIndex {
        let mut i = MemIndex::default();
        let l = |p: &[(&str, &str)]| Labels::from_pairs(p).unwrap();
        i.add(1, &l(&[("__name__", "up"), ("job", "api")]));
        i.add(
            2,
            &l(&[("__name__", "up"), ("job", "web"), ("env", "prod")]),
        );
        i.add(
            3,
            &l(&[("__name__", "req"), ("job", "api"), ("env", "dev")]),
        );
        i
    }

    fn sel(i: &MemIndex, ms: &[(MatchOp, &str, &str)]) -> Vec<u64> {
        let ms: Vec<Matcher> = ms
            .iter()
            .map(|(o, n, v)| Matcher::new(*o, *n, *v).unwrap())
            .collect();
        i.select(&ms)
    }

    #[test]
    fn matcher_resolution() {
        use MatchOp::*;
        let i = idx();
        assert_eq!(sel(&i, &[(Equal, "__name__", "up")]), vec![1, 2]);
        assert_eq!(
            sel(&i, &[(Equal, "__name__", "up"), (Equal, "env", "")]),
            vec![1]
        );
        assert_eq!(sel(&i, &[(NotEqual, "env", "prod")]), vec![1, 3]);
        assert_eq!(sel(&i, &[(Regex, "job", "a.*")]), vec![1, 3]);
        assert_eq!(sel(&i, &[(Regex, "job", "a")]), Vec::<u64>::new());
        assert_eq!(sel(&i, &[(NotRegex, "env", ".+")]), vec![1]);
        assert_eq!(sel(&i, &[(Regex, "env", ".*")]), vec![1, 2, 3]);
        assert_eq!(sel(&i, &[(Equal, "nope", "x")]), Vec::<u64>::new());
        assert_eq!(sel(&i, &[(Equal, "nope", "")]), vec![1, 2, 3]);
        assert_eq!(sel(&i, &[(NotRegex, "job", "api|web")]), Vec::<u64>::new());
        assert_eq!(sel(&i, &[]), vec![1, 2, 3]);
    }
}

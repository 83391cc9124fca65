//! Inverted indexes: the head's in-memory [`MemIndex`] (label name -> label value -> postings
//! of ascending series refs), a block's on-disk index ([`writer`], [`reader`]), and the
//! matcher resolution both share ([`select`]).
//!
//! Matcher resolution follows Prometheus: a matcher that does not accept the empty string
//! selects the union of the postings of the values it accepts; one that accepts the empty
//! string (and so also matches series lacking the label) is applied by subtracting the
//! postings of the values it rejects from the candidate set. Regex matchers scan only the value
//! list of their own label name.

pub mod postings;
pub mod reader;
pub mod writer;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use crate::chunk::ChunkSummary;
use crate::labels::{Labels, Sym};
use crate::matcher::Matcher;
use postings::{HeadPostings, SeriesRef};

/// Where a chunk lives in a block's chunk segments: `segment << 32 | offset`.
pub type ChunkRef = u64;

/// What a block's index records of one chunk.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChunkMeta {
    /// First sample's timestamp.
    pub min_time: i64,
    /// Last sample's timestamp.
    pub max_time: i64,
    /// Samples in the chunk, staleness markers included.
    pub num_samples: u32,
    /// Where the chunk's bytes are.
    pub chunk_ref: ChunkRef,
    /// Aggregates of the chunk's samples.
    pub summary: ChunkSummary,
}

/// A series' chunks of one block taken together (from a version 2 index entry with at least
/// [`writer::SERIES_SUMMARY_MIN_CHUNKS`] chunks).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SeriesSpan {
    /// First sample's timestamp.
    pub min_time: i64,
    /// Last sample's timestamp.
    pub max_time: i64,
    /// Samples of all the chunks, staleness markers included.
    pub num_samples: u32,
    /// [`ChunkSummary::fold`] of the chunks' summaries.
    pub summary: ChunkSummary,
}

/// A series' chunks as an index read hands them out.
#[derive(Clone, Debug, PartialEq)]
pub enum SeriesChunks {
    /// Each chunk overlapping the range.
    Chunks(Vec<ChunkMeta>),
    /// All of them as one (they lie inside the caller's span; see
    /// [`reader::IndexReader::series_within`]).
    Whole(SeriesSpan),
}

/// Label name -> value -> postings, plus the list of all series.
#[derive(Default)]
pub struct MemIndex {
    names: HashMap<Sym, BTreeMap<Sym, HeadPostings>>,
    all: HeadPostings,
}

impl MemIndex {
    /// Adds series `r` with `labels`.
    pub fn add(&mut self, r: SeriesRef, labels: &Labels) {
        self.all.insert(r);
        for l in labels {
            let values = self.names.entry(l.name.clone()).or_default();
            values.entry(l.value.clone()).or_default().insert(r);
        }
    }

    /// Every series, ascending.
    pub fn all(&self) -> Cow<'_, [SeriesRef]> {
        self.all.refs()
    }

    /// Series matching every matcher, ascending. No matchers selects every series.
    pub fn select(&self, matchers: &[Matcher]) -> Vec<SeriesRef> {
        match select(self, matchers) {
            Ok(v) => v,
            Err(e) => match e {},
        }
    }

    /// Removes series (with their labels) from every postings list, dropping values and names
    /// left without series. One pass per affected list, whatever the number of series.
    pub fn remove(&mut self, series: &[(SeriesRef, &Labels)]) {
        if series.is_empty() {
            return;
        }
        let gone: std::collections::HashSet<SeriesRef> = series.iter().map(|(r, _)| *r).collect();
        let mut pairs: std::collections::HashSet<(&str, &str)> = std::collections::HashSet::new();
        for (_, labels) in series {
            for l in labels.iter() {
                pairs.insert((&l.name, &l.value));
            }
        }
        for (name, value) in pairs {
            let Some(values) = self.names.get_mut(name) else {
                continue;
            };
            if let Some(p) = values.get_mut(value) {
                p.retain(|r| !gone.contains(&r));
                if p.is_empty() {
                    values.remove(value);
                }
            }
            if values.is_empty() {
                self.names.remove(name);
            }
        }
        self.all.retain(|r| !gone.contains(&r));
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

/// Which values of a label name a matcher asks postings for.
pub(crate) enum ValueFilter<'a> {
    /// Exactly this value.
    Equal(&'a str),
    /// The values the matcher accepts.
    Accepted(&'a Matcher),
    /// The values the matcher rejects.
    Rejected(&'a Matcher),
}

/// An inverted index the matcher resolution of [`select`] runs over: the in-memory head
/// index and a block's on-disk index.
pub(crate) trait LabelIndex {
    /// Error of reading the index (`Infallible` in memory).
    type Error;
    /// Every series, ascending.
    fn all_postings(&self) -> Result<Cow<'_, [SeriesRef]>, Self::Error>;
    /// `None` if no series has label `name`; otherwise the postings of the values of `name`
    /// that `filter` picks, one list per value.
    #[allow(clippy::type_complexity)]
    fn postings_of(
        &self,
        name: &str,
        filter: ValueFilter<'_>,
    ) -> Result<Option<Vec<Cow<'_, [SeriesRef]>>>, Self::Error>;
}

/// Series matching every matcher, ascending, with Prometheus's semantics: a matcher that does
/// not accept the empty string selects the union of the postings of the values it accepts;
/// one that does (and so also matches series lacking the label) subtracts the postings of the
/// values it rejects.
pub(crate) fn select<I: LabelIndex>(
    idx: &I,
    matchers: &[Matcher],
) -> Result<Vec<SeriesRef>, I::Error> {
    let mut positive: Option<Vec<SeriesRef>> = None;
    let mut negative: Vec<Vec<SeriesRef>> = Vec::new();
    for m in matchers {
        if m.matches_empty() {
            if let Some(rejected) = idx.postings_of(&m.name, ValueFilter::Rejected(m))? {
                if !rejected.is_empty() {
                    let lists: Vec<&[SeriesRef]> = rejected.iter().map(|c| c.as_ref()).collect();
                    negative.push(postings::union(&lists));
                }
            }
        } else {
            let filter = match m.op {
                crate::MatchOp::Equal => ValueFilter::Equal(&m.value),
                _ => ValueFilter::Accepted(m),
            };
            let Some(accepted) = idx.postings_of(&m.name, filter)? else {
                return Ok(Vec::new());
            };
            let lists: Vec<&[SeriesRef]> = accepted.iter().map(|c| c.as_ref()).collect();
            let set = postings::union(&lists);
            positive = Some(match positive {
                None => set,
                Some(p) => postings::intersect(&p, &set),
            });
            if positive.as_ref().is_some_and(|p| p.is_empty()) {
                return Ok(Vec::new());
            }
        }
    }
    let mut result = match positive {
        Some(p) => p,
        None => idx.all_postings()?.into_owned(),
    };
    for n in &negative {
        result = postings::subtract(&result, n);
    }
    Ok(result)
}

impl LabelIndex for MemIndex {
    type Error = std::convert::Infallible;
    fn all_postings(&self) -> Result<Cow<'_, [SeriesRef]>, Self::Error> {
        Ok(self.all.refs())
    }
    fn postings_of(
        &self,
        name: &str,
        filter: ValueFilter<'_>,
    ) -> Result<Option<Vec<Cow<'_, [SeriesRef]>>>, Self::Error> {
        let Some(values) = self.names.get(name) else {
            return Ok(None);
        };
        let picked = match filter {
            ValueFilter::Equal(v) => values.get(v).map(HeadPostings::refs).into_iter().collect(),
            ValueFilter::Accepted(m) => values
                .iter()
                .filter(|(v, _)| m.matches(v))
                .map(|(_, p)| p.refs())
                .collect(),
            ValueFilter::Rejected(m) => values
                .iter()
                .filter(|(v, _)| !m.matches(v))
                .map(|(_, p)| p.refs())
                .collect(),
        };
        Ok(Some(picked))
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
    fn removal_drops_empty_values_and_names() {
        let mut i = idx();
        let l3 =
            Labels::from_pairs(&[("__name__", "req"), ("job", "api"), ("env", "dev")]).unwrap();
        let l2 =
            Labels::from_pairs(&[("__name__", "up"), ("job", "web"), ("env", "prod")]).unwrap();
        i.remove(&[(3, &l3), (2, &l2)]);
        assert_eq!(i.all().as_ref(), &[1]);
        assert_eq!(i.label_names(), vec!["__name__", "job"]);
        assert_eq!(i.label_values("job"), vec!["api"]);
        assert_eq!(sel(&i, &[(MatchOp::Equal, "__name__", "up")]), vec![1]);
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

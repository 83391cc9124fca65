//! [`Reader`]: storage selects of one evaluation, shared between windows that read the same
//! time range of the same metric.
//!
//! An SLO ratio such as `sum(rate(x{code=~"5.."}[30d])) / sum(rate(x[30d]))` keeps two
//! windows over one metric whose reads cover the same time ranges. Selecting by the metric
//! name alone once, and matching each window's other matchers against the selected label
//! sets, replaces two storage selects by one (a select costs a walk over every matching
//! series' chunk list). Windows opt in with a share key (their `__name__` equality
//! matcher), given only when another window of the query has the same key, kind, range and
//! offset; a window without one selects with its own matchers.
//!
//! Invariant: [`Reader::select`] returns exactly the series `Querier::select` would return
//! for the window's matchers and range, in the same (label) order: local matching uses
//! [`Matcher::matches`] on the label's value or `""` when absent, as the index does.

use std::rc::Rc;

use strata_engine::{Db, Matcher, Series};
use strata_query::Result;

/// The series of one select: all of a shared select, or a subset of it.
pub struct Selected {
    all: Rc<Vec<Series>>,
    idx: Option<Vec<usize>>,
}

impl Selected {
    /// The series, in label order.
    pub fn series(&self) -> Vec<&Series> {
        match &self.idx {
            None => self.all.iter().collect(),
            Some(idx) => idx.iter().map(|&i| &self.all[i]).collect(),
        }
    }
}

/// Selects of one evaluation (not kept across evaluations: data changes between them).
pub struct Reader<'a> {
    db: &'a Db,
    shared: Vec<(i64, i64, Matcher, Rc<Vec<Series>>)>,
    /// Storage selects issued.
    pub selects: u64,
}

impl<'a> Reader<'a> {
    /// A reader over `db`.
    pub fn new(db: &'a Db) -> Reader<'a> {
        Reader {
            db,
            shared: Vec::new(),
            selects: 0,
        }
    }

    /// The database.
    pub fn db(&self) -> &'a Db {
        self.db
    }

    /// Series matching `matchers` with samples in `[mint, maxt]`, sorted by labels; with a
    /// `share` key, from one select by that matcher alone per range and key.
    pub fn select(
        &mut self,
        mint: i64,
        maxt: i64,
        matchers: &[Matcher],
        share: Option<&Matcher>,
    ) -> Result<Selected> {
        let Some(key) = share else {
            self.selects += 1;
            let all = self.db.querier(mint, maxt).select(matchers)?;
            return Ok(Selected {
                all: Rc::new(all),
                idx: None,
            });
        };
        let all = match self
            .shared
            .iter()
            .find(|(a, b, k, _)| *a == mint && *b == maxt && k == key)
        {
            Some((.., all)) => all.clone(),
            None => {
                self.selects += 1;
                let all = Rc::new(
                    self.db
                        .querier(mint, maxt)
                        .select(std::slice::from_ref(key))?,
                );
                self.shared.push((mint, maxt, key.clone(), all.clone()));
                all
            }
        };
        let idx = all
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                matchers
                    .iter()
                    .all(|m| m.matches(s.labels.get(&m.name).unwrap_or("")))
            })
            .map(|(i, _)| i)
            .collect();
        Ok(Selected {
            all,
            idx: Some(idx),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_engine::{Batch, Labels, MatchOp, Options, Sample};

    #[test]
    fn shared_selects_equal_direct_ones() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), Options::default()).unwrap();
        let mut b = Batch::new();
        for (name, code) in [("x", "200"), ("x", "500"), ("x", ""), ("y", "500")] {
            let mut pairs = vec![("__name__", name)];
            if !code.is_empty() {
                pairs.push(("code", code));
            }
            b.push(
                Labels::from_pairs(&pairs).unwrap(),
                vec![Sample::new(1, 1.0), Sample::new(100, 2.0)],
            );
        }
        db.append(&b).unwrap();
        let name = Matcher::equal("__name__", "x");
        let sets = [
            vec![
                name.clone(),
                Matcher::new(MatchOp::Regex, "code", "5..").unwrap(),
            ],
            vec![
                name.clone(),
                Matcher::new(MatchOp::NotRegex, "code", "5..").unwrap(),
            ],
            vec![name.clone(), Matcher::equal("code", "")],
            vec![name.clone()],
        ];
        let mut r = Reader::new(&db);
        for ms in &sets {
            for (mint, maxt) in [(0, 200), (50, 200), (101, 200)] {
                let got: Vec<Labels> = r
                    .select(mint, maxt, ms, Some(&name))
                    .unwrap()
                    .series()
                    .iter()
                    .map(|s| s.labels.clone())
                    .collect();
                let want: Vec<Labels> = db
                    .querier(mint, maxt)
                    .select(ms)
                    .unwrap()
                    .into_iter()
                    .map(|s| s.labels)
                    .collect();
                assert_eq!(got, want, "{ms:?} [{mint}, {maxt}]");
            }
        }
        assert_eq!(r.selects, 3, "one select per range");
    }
}

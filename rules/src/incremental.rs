//! How a rule's expression is evaluated inside its group: through an [`IncrementalQuery`]
//! when it has long-window calls the window module keeps incrementally, through the
//! ordinary engine otherwise.
//!
//! [`RuleQuery`] is the per-rule state a [`crate::group::Group`] carries between
//! iterations. It decides lazily, at the rule's first evaluation: if the expression has at
//! least one eligible call (`rate|increase|delta|*_over_time(sel[W])` with `W` of at least
//! [`IncrementalOptions::min_range`], see [`crate::window`]), an [`IncrementalQuery`] is
//! built and kept; its windows are read from storage at that first evaluation (after a
//! start, a restart or a reload that changed the expression) and updated incrementally
//! afterwards. A reload that keeps a rule's expression hands the query over to the new
//! group ([`crate::group::Group::copy_state_from`]), so its state survives.
//!
//! Invariant: both paths return what [`Engine::instant_expr`] returns for the expression at
//! the same time, bit for bit (the window module's guarantee); only the cost differs.
//! [`RuleQuery::publish`] reports the windows' [`WindowStats`] once per group iteration:
//! gauges as they are, counters as the increase since the previous report, so that the
//! group's `/metrics` counters stay monotonic when queries move between groups on reload.

use strata_query::parser::ast::Expr;
use strata_query::{Engine, QueryOptions, QueryResult, Result};

use crate::window::{IncrementalOptions, IncrementalQuery, WindowStats};

/// One rule's evaluation state.
#[derive(Default)]
pub struct RuleQuery {
    state: State,
}

#[derive(Default)]
enum State {
    /// Not evaluated yet: eligibility is decided at the first evaluation.
    #[default]
    Undecided,
    /// No eligible window, or incremental evaluation is off: the engine evaluates it.
    Full,
    /// Kept incrementally.
    Incremental {
        query: Box<IncrementalQuery>,
        /// The counters as of the last [`RuleQuery::publish`].
        published: WindowStats,
    },
}

impl RuleQuery {
    /// A rule not evaluated yet.
    pub fn new() -> RuleQuery {
        RuleQuery::default()
    }

    /// True when the rule is evaluated through an [`IncrementalQuery`].
    pub fn is_incremental(&self) -> bool {
        matches!(self.state, State::Incremental { .. })
    }

    /// Evaluates `expr` at `t` with `query` options; `incremental` says whether (and how)
    /// long windows are kept incrementally (`None`: never). The expression must be the
    /// same at every call (a changed rule gets a new `RuleQuery`).
    pub fn eval(
        &mut self,
        engine: &Engine,
        expr: &Expr,
        t: i64,
        query: &QueryOptions,
        incremental: Option<&IncrementalOptions>,
    ) -> Result<QueryResult> {
        if let State::Undecided = self.state {
            self.state = match incremental {
                Some(o) => {
                    let opts = IncrementalOptions {
                        query: query.clone(),
                        ..o.clone()
                    };
                    let q = IncrementalQuery::from_expr(expr.clone(), opts);
                    if q.stats().windows > 0 {
                        State::Incremental {
                            query: Box::new(q),
                            published: WindowStats::default(),
                        }
                    } else {
                        State::Full
                    }
                }
                None => State::Full,
            };
        }
        match &mut self.state {
            State::Incremental { query, .. } => query.eval(engine, t),
            _ => engine.instant_expr(expr, t, query),
        }
    }

    /// The windows' statistics now (`None` when not incremental).
    pub fn stats(&self) -> Option<WindowStats> {
        match &self.state {
            State::Incremental { query, .. } => Some(query.stats()),
            _ => None,
        }
    }

    /// What the rule's windows add to its group's metrics: the gauges (windows, series,
    /// bytes, max series bytes) as they are now, and in the counter fields the increase
    /// since the previous call (`None` when not incremental).
    pub fn publish(&mut self) -> Option<WindowStats> {
        let State::Incremental { query, published } = &mut self.state else {
            return None;
        };
        let now = query.stats();
        let delta = WindowStats {
            windows: now.windows,
            series: now.series,
            bytes: now.bytes,
            max_series_bytes: now.max_series_bytes,
            evaluations: now.evaluations.saturating_sub(published.evaluations),
            builds: now.builds.saturating_sub(published.builds),
            aggregated: now.aggregated.saturating_sub(published.aggregated),
            replayed: now.replayed.saturating_sub(published.replayed),
            samples_read: now.samples_read.saturating_sub(published.samples_read),
            served: now.served.saturating_sub(published.served),
            selects: now.selects.saturating_sub(published.selects),
        };
        *published = now;
        Some(delta)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use strata_engine::{Batch, Db, Labels, Options, Sample};

    use super::*;

    #[test]
    fn eligibility_is_decided_once_and_results_match() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(Db::open(dir.path(), Options::default()).unwrap());
        let t0 = 1_700_000_000_000i64;
        let mut b = Batch::new();
        b.push(
            Labels::from_pairs(&[("__name__", "x")]).unwrap(),
            (0..400)
                .map(|k| Sample::new(t0 + k * 15_000, k as f64))
                .collect(),
        );
        db.append(&b).unwrap();
        let engine = Engine::new(db);
        let opts = IncrementalOptions::default();
        let q = QueryOptions::default();
        let long = strata_query::parser::parse("rate(x[1h]) * 2").unwrap();
        let short = strata_query::parser::parse("rate(x[5m])").unwrap();
        let (mut a, mut b, mut off) = (RuleQuery::new(), RuleQuery::new(), RuleQuery::new());
        for step in 0..4 {
            let t = t0 + 90 * 60_000 + step * 30_000;
            let full = engine.instant_expr(&long, t, &q).unwrap();
            let got = a.eval(&engine, &long, t, &q, Some(&opts)).unwrap();
            assert_eq!(format!("{:?}", got.value), format!("{:?}", full.value));
            b.eval(&engine, &short, t, &q, Some(&opts)).unwrap();
            off.eval(&engine, &long, t, &q, None).unwrap();
        }
        assert!(a.is_incremental() && !b.is_incremental() && !off.is_incremental());
        let first = a.publish().unwrap();
        assert_eq!((first.windows, first.evaluations, first.builds), (1, 4, 1));
        assert!(first.series == 1 && first.bytes > 0);
        // Counters are reported as increases: nothing happened since.
        let again = a.publish().unwrap();
        assert_eq!((again.evaluations, again.builds, again.series), (0, 0, 1));
        assert!(b.publish().is_none() && b.stats().is_none());
    }
}

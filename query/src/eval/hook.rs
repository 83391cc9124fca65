//! The one extension point of the evaluator: [`RangeCallHook`], through which a caller may
//! supply the value of a range-function call instead of having the evaluator select and
//! scan the window.
//!
//! It exists for incremental evaluation of long windows (rule and SLO expressions such as
//! `sum(increase(x[30d]))` evaluated every minute): the caller keeps per-series partial
//! aggregates and hands the evaluator the per-series values of the call; everything around
//! the call (aggregations, binary operators, name dropping, label-set collision checks,
//! annotations) is evaluated as usual.
//!
//! When the hook is consulted (all must hold, otherwise the evaluator never calls it):
//! * the evaluation grid has exactly one step (an instant query, or a one-step inner grid);
//! * the function is one of [`HOOKABLE_FUNCTIONS`];
//! * its argument is a matrix selector (possibly in parentheses), not a subquery.
//!
//! Contract for an answer `Some(Ok(series))`: `series` lists, sorted by labels, every series
//! the selector would select with at least one sample (stale markers removed) in the
//! left-open window `(ref - range, ref]`, where `ref` is the step time minus the selector's
//! offset (or its `@` time), with the series' own labels (`__name__` included) and the
//! function's value, or `None` where the function gives no output for that window (`rate`
//! of a single sample). The value must be what the evaluator would compute; the evaluator
//! does not check it. `None` means "not known here": the evaluator evaluates normally.

use strata_engine::Labels;

use crate::error::Result;
use crate::parser::ast::MatrixSelector;

/// Functions whose per-series values a [`RangeCallHook`] may supply.
pub const HOOKABLE_FUNCTIONS: [&str; 8] = [
    "rate",
    "increase",
    "delta",
    "sum_over_time",
    "count_over_time",
    "avg_over_time",
    "min_over_time",
    "max_over_time",
];

/// Per-series results of one hooked call: labels as selected (`__name__` kept) and the
/// function's value, `None` for a series that is present but gives no output.
pub type HookedSeries = Vec<(Labels, Option<f64>)>;

/// Supplies precomputed values of range-function calls at one evaluation time; see the
/// module documentation for when it is consulted and what an answer must contain.
pub trait RangeCallHook {
    /// The per-series values of `func(sel)` evaluated at step time `t` (ms, before the
    /// selector's offset), or `None` to let the evaluator compute them.
    fn range_call(&self, func: &str, sel: &MatrixSelector, t: i64) -> Option<Result<HookedSeries>>;
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use strata_engine::Sample;

    use super::*;
    use crate::engine::{evaluate, evaluate_with_hook, EngineOptions, QueryOptions, Value};
    use crate::eval::{MemStorage, Steps};

    /// Answers `rate` calls over `[1h]` with fixed values and records every call it sees.
    struct Fixed {
        seen: RefCell<Vec<(String, i64, i64)>>,
    }

    impl RangeCallHook for Fixed {
        fn range_call(
            &self,
            func: &str,
            sel: &MatrixSelector,
            t: i64,
        ) -> Option<Result<HookedSeries>> {
            self.seen
                .borrow_mut()
                .push((func.to_string(), sel.range, t));
            if func != "rate" || sel.range != 3_600_000 {
                return None;
            }
            let l = |job: &str| Labels::from_pairs(&[("__name__", "x"), ("job", job)]).unwrap();
            Some(Ok(vec![
                (l("a"), Some(1.5)),
                (l("b"), None),
                (l("c"), Some(2.5)),
            ]))
        }
    }

    fn store() -> MemStorage {
        let mut st = MemStorage::new();
        for job in ["a", "b"] {
            let l = Labels::from_pairs(&[("__name__", "x"), ("job", job)]).unwrap();
            let s: Vec<Sample> = (0..10).map(|i| Sample::new(i * 60_000, i as f64)).collect();
            st.add(l, &s);
        }
        st
    }

    fn run(q: &str, hook: Option<&dyn RangeCallHook>, steps: Steps, instant: bool) -> Value {
        let e = crate::parser::parse(q).unwrap();
        let o = (EngineOptions::default(), QueryOptions::default());
        evaluate_with_hook(&store(), &e, steps, instant, &o.0, &o.1, hook)
            .unwrap()
            .value
    }

    #[test]
    fn hooked_values_flow_through_the_rest_of_the_expression() {
        let h = Fixed {
            seen: RefCell::new(Vec::new()),
        };
        let v = run(
            "sum(rate(x[1h])) * 2",
            Some(&h),
            Steps::instant(600_000),
            true,
        );
        assert_eq!(
            v,
            Value::Vector(vec![crate::InstantSample {
                labels: Labels::empty(),
                t: 600_000,
                v: 8.0
            }])
        );
        // Names are dropped as for the evaluator's own rate; `None` is no output.
        let Value::Vector(v) = run("rate((x[1h]))", Some(&h), Steps::instant(600_000), true) else {
            panic!("vector expected")
        };
        let got: Vec<String> = v.iter().map(|s| s.labels.to_string()).collect();
        assert_eq!(got, vec![r#"{job="a"}"#, r#"{job="c"}"#]);
        assert_eq!(
            h.seen.borrow().clone(),
            vec![
                ("rate".to_string(), 3_600_000, 600_000),
                ("rate".to_string(), 3_600_000, 600_000)
            ]
        );
    }

    #[test]
    fn declined_or_unasked_calls_are_evaluated_from_storage() {
        let h = Fixed {
            seen: RefCell::new(Vec::new()),
        };
        let q = "sum(increase(x[10m])) + count(rate(x[5m]))";
        let e = crate::parser::parse(q).unwrap();
        let o = (EngineOptions::default(), QueryOptions::default());
        let want = evaluate(&store(), &e, Steps::instant(540_000), true, &o.0, &o.1)
            .unwrap()
            .value;
        assert_eq!(run(q, Some(&h), Steps::instant(540_000), true), want);
        assert_eq!(h.seen.borrow().len(), 2, "both calls were offered");
        // Range queries (several steps) and subqueries' inner grids never consult it.
        h.seen.borrow_mut().clear();
        let steps = Steps {
            start: 0,
            end: 540_000,
            step: 60_000,
        };
        run("rate(x[1h])", Some(&h), steps, false);
        run(
            "max_over_time(rate(x[1h])[5m:1m])",
            Some(&h),
            Steps::instant(540_000),
            true,
        );
        run("irate(x[1h])", Some(&h), Steps::instant(540_000), true);
        assert!(h.seen.borrow().is_empty(), "{:?}", h.seen.borrow());
    }
}

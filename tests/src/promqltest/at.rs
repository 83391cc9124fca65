//! The `@` variant: pin every selector and subquery of an instant query to its evaluation
//! time, so that evaluating it at other times must not change the result.

use strata_query::parser::ast::{AtModifier, Expr};

/// Functions whose value depends on the evaluation time even when their arguments do not;
/// queries using them get no `@` variant (upstream's `AtModifierUnsafeFunctions`).
pub const TIME_DEPENDENT_FUNCTIONS: &[&str] = &[
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "days_in_month",
    "hour",
    "minute",
    "month",
    "predict_linear",
    "time",
    "timestamp",
    "year",
];

// ---------------------------------------------------------------------------------------------
// The `@` rewrite
// ---------------------------------------------------------------------------------------------

/// Adds `@ t` to every vector selector (also inside matrix selectors) and subquery that has
/// no `@` yet, without descending into subqueries (their inner selectors are pinned by the
/// subquery's own `@`), as upstream's runner does.
pub fn add_at_modifiers(expr: &mut Expr, t: i64) {
    match expr {
        Expr::Number(_) | Expr::String(_) => {}
        Expr::VectorSelector(vs) => {
            vs.at.get_or_insert(AtModifier::Timestamp(t));
        }
        Expr::MatrixSelector(ms) => {
            ms.selector.at.get_or_insert(AtModifier::Timestamp(t));
        }
        Expr::Subquery(sq) => {
            sq.at.get_or_insert(AtModifier::Timestamp(t));
        }
        Expr::Paren(e) | Expr::Unary(_, e) => add_at_modifiers(e, t),
        Expr::Binary(b) => {
            add_at_modifiers(&mut b.lhs, t);
            add_at_modifiers(&mut b.rhs, t);
        }
        Expr::Aggregate(a) => {
            add_at_modifiers(&mut a.expr, t);
            if let Some(p) = &mut a.param {
                add_at_modifiers(p, t);
            }
        }
        Expr::Call(c) => c.args.iter_mut().for_each(|a| add_at_modifiers(a, t)),
    }
}

/// True if `expr` calls a [`TIME_DEPENDENT_FUNCTIONS`] function outside any subquery (calls
/// inside a subquery are pinned by the subquery's `@` and do not count, as upstream).
pub fn has_time_dependent_call(expr: &Expr) -> bool {
    match expr {
        Expr::Number(_)
        | Expr::String(_)
        | Expr::VectorSelector(_)
        | Expr::MatrixSelector(_)
        | Expr::Subquery(_) => false,
        Expr::Paren(e) | Expr::Unary(_, e) => has_time_dependent_call(e),
        Expr::Binary(b) => has_time_dependent_call(&b.lhs) || has_time_dependent_call(&b.rhs),
        Expr::Aggregate(a) => {
            has_time_dependent_call(&a.expr)
                || a.param.as_deref().is_some_and(has_time_dependent_call)
        }
        Expr::Call(c) => {
            TIME_DEPENDENT_FUNCTIONS.contains(&c.func.name())
                || c.args.iter().any(has_time_dependent_call)
        }
    }
}

/// Times upstream evaluates the `@`-pinned query at, for an instant eval at `t`.
pub fn at_variant_times(t: i64) -> Vec<i64> {
    if t == 0 {
        vec![-1000, 0, 1000]
    } else {
        vec![-10 * t, 0, t / 5, t, 10 * t]
    }
}

/// Outcome of rewriting a query for the `@` variant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AtRewrite {
    /// The rewritten query text.
    Rewritten(String),
    /// The query uses a time-dependent function: no variant (as upstream).
    TimeDependent,
    /// Strata's parser rejects the query (the main evaluation reports that).
    ParseError(String),
}

/// Rewrites `query` with `@ t` on every selector and subquery lacking one, through
/// `strata_query::parser::parse` and the AST.
pub fn at_rewrite(query: &str, t: i64) -> AtRewrite {
    let mut expr = match strata_query::parser::parse(query) {
        Ok(e) => e,
        Err(e) => return AtRewrite::ParseError(e.to_string()),
    };
    if has_time_dependent_call(&expr) {
        return AtRewrite::TimeDependent;
    }
    add_at_modifiers(&mut expr, t);
    // Printed back with the AST's printer, as upstream does (`expr.String()`).
    AtRewrite::Rewritten(expr.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_query::parser::ast::{
        AggregateExpr, AggregateOp, BinaryExpr, BinaryOp, Call, MatrixSelector, SubqueryExpr,
        VectorSelector,
    };

    fn sel(at: Option<AtModifier>) -> VectorSelector {
        VectorSelector {
            name: Some("x".into()),
            matchers: Vec::new(),
            offset: 0,
            at,
        }
    }

    fn call(f: &str, args: Vec<Expr>) -> Expr {
        Expr::Call(Call {
            func: strata_query::parser::functions::Func::from_name(f).expect("known function"),
            args,
        })
    }

    fn bin(l: Expr, r: Expr) -> Expr {
        Expr::Binary(BinaryExpr {
            op: BinaryOp::Add,
            lhs: Box::new(l),
            rhs: Box::new(r),
            return_bool: false,
            matching: None,
        })
    }

    fn subquery(inner: Expr, at: Option<AtModifier>) -> Expr {
        Expr::Subquery(SubqueryExpr {
            expr: Box::new(inner),
            range: 600_000,
            step: None,
            offset: 0,
            at,
        })
    }

    #[test]
    fn pins_selectors_and_subqueries_but_not_their_insides() {
        // sum(rate(x[5m])) + x @ 10 + max_over_time(x[10m:]) + -(x)
        let mut e = bin(
            bin(
                Expr::Aggregate(AggregateExpr {
                    op: AggregateOp::Sum,
                    expr: Box::new(call(
                        "rate",
                        vec![Expr::MatrixSelector(MatrixSelector {
                            selector: sel(None),
                            range: 300_000,
                        })],
                    )),
                    param: None,
                    grouping: None,
                }),
                Expr::VectorSelector(sel(Some(AtModifier::Timestamp(10_000)))),
            ),
            bin(
                call(
                    "max_over_time",
                    vec![subquery(Expr::VectorSelector(sel(None)), None)],
                ),
                Expr::Unary(
                    strata_query::parser::ast::UnaryOp::Neg,
                    Box::new(Expr::Paren(Box::new(Expr::VectorSelector(sel(None))))),
                ),
            ),
        );
        add_at_modifiers(&mut e, 42);
        let t = Some(AtModifier::Timestamp(42));
        let Expr::Binary(top) = &e else { panic!() };
        let Expr::Binary(left) = &*top.lhs else {
            panic!()
        };
        let Expr::Aggregate(agg) = &*left.lhs else {
            panic!()
        };
        let Expr::Call(rate) = &*agg.expr else {
            panic!()
        };
        let Expr::MatrixSelector(ms) = &rate.args[0] else {
            panic!()
        };
        assert_eq!(ms.selector.at, t);
        let Expr::VectorSelector(kept) = &*left.rhs else {
            panic!()
        };
        assert_eq!(kept.at, Some(AtModifier::Timestamp(10_000)));
        let Expr::Binary(right) = &*top.rhs else {
            panic!()
        };
        let Expr::Call(mot) = &*right.lhs else {
            panic!()
        };
        let Expr::Subquery(sq) = &mot.args[0] else {
            panic!()
        };
        assert_eq!(sq.at, t);
        let Expr::VectorSelector(inner) = &*sq.expr else {
            panic!()
        };
        assert_eq!(inner.at, None, "selectors inside a subquery stay unpinned");
        let Expr::Unary(_, neg) = &*right.rhs else {
            panic!()
        };
        let Expr::Paren(p) = &**neg else { panic!() };
        let Expr::VectorSelector(vs) = &**p else {
            panic!()
        };
        assert_eq!(vs.at, t);
    }

    #[test]
    fn time_dependent_functions() {
        let x = || Expr::VectorSelector(sel(None));
        assert!(has_time_dependent_call(&call("time", vec![])));
        assert!(has_time_dependent_call(&bin(
            x(),
            call("timestamp", vec![x()])
        )));
        assert!(has_time_dependent_call(&call(
            "abs",
            vec![call("hour", vec![])]
        )));
        assert!(!has_time_dependent_call(&call("rate", vec![x()])));
        // Inside a subquery the call is pinned by the subquery's `@`.
        assert!(!has_time_dependent_call(&call(
            "max_over_time",
            vec![subquery(call("timestamp", vec![x()]), None)]
        )));
    }

    #[test]
    fn variant_times() {
        assert_eq!(at_variant_times(0), vec![-1000, 0, 1000]);
        assert_eq!(
            at_variant_times(3_000_000),
            vec![-30_000_000, 0, 600_000, 3_000_000, 30_000_000]
        );
    }

    /// Through Strata's parser and printer: the rewritten text parses back to the pinned AST.
    #[test]
    fn rewrite_round_trips_through_the_parser() {
        let q = "sum(rate(x[5m] offset 1m)) + y @ 100 + max_over_time(z[10m:1m])";
        let AtRewrite::Rewritten(text) = at_rewrite(q, 1_234_567) else {
            panic!("not rewritten")
        };
        let mut want = strata_query::parser::parse(q).unwrap();
        add_at_modifiers(&mut want, 1_234_567);
        assert_eq!(strata_query::parser::parse(&text).unwrap(), want, "{text}");
        assert_eq!(at_rewrite("time() - x", 5), AtRewrite::TimeDependent);
        assert!(matches!(at_rewrite("x{", 5), AtRewrite::ParseError(_)));
    }
}

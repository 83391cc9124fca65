//! Aggregation operators (`sum avg min max count group stddev stdvar topk bottomk quantile
//! count_values`, with `by`/`without`).
//!
//! Group membership depends only on labels, so it is computed once per input series; each
//! group is then folded step by step over the members that have a value at that step.
//! Output labels: `by (l...)` keeps only the listed labels (`__name__` only if listed);
//! `without (l...)` removes the listed labels and always `__name__`; no clause gives `{}`.
//! `topk`/`bottomk` keep their input series unchanged.

use super::hash::{map_with_capacity, FxHashMap, FxHasher};
use std::hash::Hasher;

use strata_engine::{Labels, METRIC_NAME};

use super::call::unwrap_parens;
use super::{Evaluator, StepSeries, Steps, Val};
use crate::error::{Error, Result};
use crate::parser::ast::{AggregateExpr, AggregateOp, Expr, Grouping};

pub use crate::functions::numeric::{format_float, kahan_inc, kahan_sum, mean, quantile, variance};

/// True if `a`'s result cannot depend on the `__name__` of its input's series and its input
/// is a function of a plain range selector (`sum by (job) (rate(x[5m]))`), which
/// evaluates no other function before it finishes: the function may then keep the names it
/// would drop ([`Evaluator::names_unused`]).
fn names_unused(a: &AggregateExpr) -> bool {
    use AggregateOp::*;
    let groups_only = matches!(
        a.op,
        Sum | Avg | Count | Group | Min | Max | Stddev | Stdvar | Quantile
    );
    let name_ignored = match &a.grouping {
        None | Some(Grouping::Without(_)) => true,
        Some(Grouping::By(names)) => !names.iter().any(|n| n == METRIC_NAME),
    };
    let plain_call = matches!(
        unwrap_parens(&a.expr),
        Expr::Call(c) if c.args.len() == 1
            && matches!(unwrap_parens(&c.args[0]), Expr::MatrixSelector(_))
    );
    groups_only && name_ignored && plain_call
}

/// The labels of `l` that its group keeps, in name order (what [`group_labels`] returns).
fn kept_labels<'a>(
    l: &'a Labels,
    grouping: &'a Option<Grouping>,
) -> impl Iterator<Item = &'a strata_engine::Label> + 'a {
    l.iter().filter(move |x| match grouping {
        None => false,
        Some(Grouping::By(names)) => names.iter().any(|n| *n == *x.name),
        Some(Grouping::Without(names)) => {
            *x.name != *METRIC_NAME && !names.iter().any(|n| *n == *x.name)
        }
    })
}

/// The group labels of `l` under `grouping`.
pub fn group_labels(l: &Labels, grouping: &Option<Grouping>) -> Labels {
    Labels::from_sorted_unchecked(kept_labels(l, grouping).cloned().collect())
}

fn float_cmp_desc_nan_last(a: f64, b: f64) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Equal,
        (true, false) => Greater,
        (false, true) => Less,
        _ => b.partial_cmp(&a).unwrap_or(Equal),
    }
}

fn float_cmp_asc_nan_last(a: f64, b: f64) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Equal,
        (true, false) => Greater,
        (false, true) => Less,
        _ => a.partial_cmp(&b).unwrap_or(Equal),
    }
}

/// Evaluates an aggregation.
pub fn eval_aggregate(ev: &Evaluator<'_>, a: &AggregateExpr, steps: &Steps) -> Result<Val> {
    let n = steps.len();
    let op = a.op;
    let mut scalar_param: Option<Vec<f64>> = None;
    let mut label_param: Option<String> = None;
    match op {
        AggregateOp::Topk | AggregateOp::Bottomk | AggregateOp::Quantile => {
            let p = a
                .param
                .as_ref()
                .ok_or_else(|| Error::Execution(format!("{} requires a parameter", op.as_str())))?;
            let v = ev.eval_scalar(p, steps)?;
            if op == AggregateOp::Quantile {
                if let Some(bad) = v.iter().find(|q| q.is_nan() || **q < 0.0 || **q > 1.0) {
                    ev.warn(format!(
                        "PromQL warning: quantile value should be between 0 and 1, got {}",
                        format_float(*bad)
                    ));
                }
            }
            if matches!(op, AggregateOp::Topk | AggregateOp::Bottomk) {
                for &k in &v {
                    if k.is_nan() {
                        return Err(Error::Execution("Parameter value is NaN".to_string()));
                    }
                    if !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&k) {
                        return Err(Error::Execution(format!(
                            "Scalar value {} overflows int64",
                            format_float(k)
                        )));
                    }
                }
            }
            scalar_param = Some(v);
        }
        AggregateOp::CountValues => {
            let p = a
                .param
                .as_ref()
                .ok_or_else(|| Error::Execution("count_values requires a parameter".to_string()))?;
            let l = ev.eval_string(p, steps)?;
            if !strata_engine::labels::is_valid_name(&l) {
                return Err(Error::Execution(format!("invalid label name {l:?}")));
            }
            label_param = Some(l);
        }
        _ => {}
    }
    let hint = names_unused(a);
    ev.names_unused.set(hint);
    let input = ev.eval_vector(&a.expr, steps);
    ev.names_unused.set(false);
    let input = input?;

    if let Some(label) = label_param {
        return count_values(ev, input, &label, &a.grouping, n);
    }

    // Groups, in first-seen order. A series' group is found by hashing the labels it keeps
    // in place; a label set is built only for a new group.
    let mut index: FxHashMap<u64, Vec<usize>> = map_with_capacity(0);
    let mut groups: Vec<(Labels, Vec<usize>)> = Vec::new();
    for (i, s) in input.iter().enumerate() {
        let kept = || kept_labels(&s.labels, &a.grouping);
        let mut h = FxHasher::default();
        for l in kept() {
            h.write(l.name.as_bytes());
            h.write_u8(0xff);
            h.write(l.value.as_bytes());
            h.write_u8(0xff);
        }
        let slot = index.entry(h.finish()).or_default();
        match slot.iter().find(|&&gi| groups[gi].0.iter().eq(kept())) {
            Some(&gi) => groups[gi].1.push(i),
            None => {
                slot.push(groups.len());
                groups.push((group_labels(&s.labels, &a.grouping), vec![i]));
            }
        }
    }

    if matches!(op, AggregateOp::Topk | AggregateOp::Bottomk) {
        let ks = scalar_param.unwrap_or_default();
        let mut out: Vec<Vec<Option<f64>>> = vec![vec![None; n]; input.len()];
        let mut order: Vec<usize> = Vec::new();
        let cmp = if op == AggregateOp::Topk {
            float_cmp_desc_nan_last
        } else {
            float_cmp_asc_nan_last
        };
        for (_, members) in &groups {
            ev.check_deadline()?;
            for step in 0..n {
                let k = ks[step];
                if k < 1.0 {
                    continue;
                }
                let k = k as usize;
                let mut present: Vec<(usize, f64)> = members
                    .iter()
                    .filter_map(|&m| input[m].vals[step].map(|v| (m, v)))
                    .collect();
                present.sort_by(|x, y| cmp(x.1, y.1));
                present.truncate(k);
                for (m, v) in present {
                    out[m][step] = Some(v);
                    if n == 1 {
                        order.push(m);
                    }
                }
            }
        }
        let mut input: Vec<Option<StepSeries>> = input.into_iter().map(Some).collect();
        let result: Vec<StepSeries> = if n == 1 {
            order
                .into_iter()
                .filter_map(|m| {
                    input[m].take().map(|s| StepSeries {
                        vals: std::mem::take(&mut out[m]),
                        ..s
                    })
                })
                .collect()
        } else {
            input
                .into_iter()
                .zip(out)
                .filter_map(|(s, vals)| {
                    let s = StepSeries { vals, ..s? };
                    (!s.is_empty()).then_some(s)
                })
                .collect()
        };
        return Ok(Val::Vector(result));
    }

    let mut result = Vec::with_capacity(groups.len());
    let mut buf: Vec<f64> = Vec::new();
    for (labels, members) in groups {
        ev.check_deadline()?;
        let mut vals = vec![None; n];
        for (step, slot) in vals.iter_mut().enumerate() {
            buf.clear();
            buf.extend(members.iter().filter_map(|&m| input[m].vals[step]));
            if buf.is_empty() {
                continue;
            }
            let v = match op {
                AggregateOp::Sum => kahan_sum(buf.iter().copied()),
                AggregateOp::Avg => mean(buf.iter().copied()),
                AggregateOp::Count => buf.len() as f64,
                AggregateOp::Group => 1.0,
                AggregateOp::Min => buf.iter().copied().fold(f64::NAN, |acc, x| {
                    if acc.is_nan() || x < acc {
                        x
                    } else {
                        acc
                    }
                }),
                AggregateOp::Max => buf.iter().copied().fold(f64::NAN, |acc, x| {
                    if acc.is_nan() || x > acc {
                        x
                    } else {
                        acc
                    }
                }),
                AggregateOp::Stdvar => variance(buf.iter().copied()),
                AggregateOp::Stddev => variance(buf.iter().copied()).sqrt(),
                AggregateOp::Quantile => {
                    let q = scalar_param.as_ref().map(|p| p[step]).unwrap_or(f64::NAN);
                    quantile(q, &mut buf)
                }
                AggregateOp::Topk | AggregateOp::Bottomk | AggregateOp::CountValues => {
                    unreachable!("handled above")
                }
            };
            *slot = Some(v);
        }
        // Delayed mode: a kept `by (__name__)` is dropped at the end if any member's was.
        let drop_name =
            labels.get(METRIC_NAME).is_some() && members.iter().any(|&m| input[m].drop_name);
        result.push(StepSeries {
            labels,
            vals,
            drop_name,
        });
    }
    result.retain(|s| !s.is_empty());
    Ok(Val::Vector(result))
}

fn count_values(
    ev: &Evaluator<'_>,
    input: Vec<StepSeries>,
    label: &str,
    grouping: &Option<Grouping>,
    n: usize,
) -> Result<Val> {
    let mut index: FxHashMap<Labels, usize> = map_with_capacity(0);
    let mut out: Vec<StepSeries> = Vec::new();
    for s in &input {
        ev.check_deadline()?;
        for (step, v) in s.vals.iter().enumerate() {
            let Some(v) = v else { continue };
            let with = s.labels.with(label, &format_float(*v));
            let key = match grouping {
                None => with.retain(|x| x == label),
                Some(Grouping::By(names)) => {
                    with.retain(|x| x == label || names.iter().any(|y| y == x))
                }
                Some(Grouping::Without(names)) => {
                    with.retain(|x| x != METRIC_NAME && !names.iter().any(|y| y == x))
                }
            };
            let i = match index.get(&key) {
                Some(&i) => i,
                None => {
                    index.insert(key.clone(), out.len());
                    out.push(StepSeries::new(key, vec![None; n]));
                    out.len() - 1
                }
            };
            if s.drop_name && out[i].labels.get(METRIC_NAME).is_some() {
                out[i].drop_name = true;
            }
            let slot = &mut out[i].vals[step];
            *slot = Some(slot.unwrap_or(0.0) + 1.0);
        }
    }
    Ok(Val::Vector(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kahan_is_compensated() {
        let v = [1.0, 1e100, 1.0, -1e100];
        assert_eq!(kahan_sum(v), 2.0);
        assert!(kahan_sum([f64::INFINITY, f64::NEG_INFINITY]).is_nan());
        assert!(kahan_sum([1.0, f64::NAN]).is_nan());
    }

    #[test]
    fn mean_survives_overflow() {
        let m = mean([f64::MAX, f64::MAX, f64::MAX]);
        assert_eq!(m, f64::MAX);
        assert_eq!(mean([1.0, 2.0, 3.0, 4.0]), 2.5);
        assert_eq!(mean([f64::INFINITY, 1.0]), f64::INFINITY);
        assert!(mean([f64::INFINITY, f64::NEG_INFINITY]).is_nan());
    }

    #[test]
    fn variance_is_population() {
        assert_eq!(variance([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]), 4.0);
        assert_eq!(variance([3.0]), 0.0);
        assert!(variance([1.0, f64::INFINITY]).is_nan());
    }

    #[test]
    fn quantile_interpolates() {
        let mut v = vec![4.0, 1.0, 3.0, 2.0];
        assert_eq!(quantile(0.5, &mut v), 2.5);
        assert_eq!(quantile(0.0, &mut v), 1.0);
        assert_eq!(quantile(1.0, &mut v), 4.0);
        assert_eq!(quantile(-1.0, &mut v), f64::NEG_INFINITY);
        assert_eq!(quantile(2.0, &mut v), f64::INFINITY);
        assert!(quantile(f64::NAN, &mut v).is_nan());
        assert!(quantile(0.5, &mut []).is_nan());
    }

    #[test]
    fn go_float_format() {
        assert_eq!(format_float(1.0), "1");
        assert_eq!(format_float(0.5), "0.5");
        assert_eq!(format_float(f64::INFINITY), "+Inf");
        assert_eq!(format_float(1e21), "1000000000000000000000");
    }

    fn eval_instant(q: &str) -> Vec<(String, f64)> {
        use crate::engine::{evaluate, EngineOptions, QueryOptions, Value};
        use crate::eval::MemStorage;
        use strata_engine::Sample;
        let mut st = MemStorage::new();
        for (i, v) in [3.0, 1.0, f64::NAN, 2.0, 1.0].iter().enumerate() {
            let id = i.to_string();
            let g = if i < 3 { "a" } else { "b" };
            let l = Labels::from_pairs(&[("__name__", "m"), ("g", g), ("i", id.as_str())]).unwrap();
            st.add(l, &[Sample::new(0, *v)]);
        }
        let e = crate::parser::parse(q).unwrap();
        let r = evaluate(
            &st,
            &e,
            Steps::instant(0),
            true,
            &EngineOptions::default(),
            &QueryOptions::default(),
        )
        .unwrap();
        let Value::Vector(v) = r.value else {
            panic!("vector expected")
        };
        v.into_iter().map(|s| (s.labels.to_string(), s.v)).collect()
    }

    #[test]
    fn topk_bottomk_order_and_nan_last() {
        let v = eval_instant("topk(2, m)");
        assert_eq!(v[0], (r#"m{g="a", i="0"}"#.to_string(), 3.0));
        assert_eq!(v[1].1, 2.0);
        let v = eval_instant("bottomk by (g) (5, m)");
        // Group a first (first seen), ascending, NaN last.
        assert_eq!(v.len(), 5);
        assert_eq!(v[0].1, 1.0);
        assert_eq!(v[1].1, 3.0);
        assert!(v[2].1.is_nan());
        assert!(eval_instant("topk(0, m)").is_empty());
    }

    #[test]
    fn count_values_and_quantile() {
        let v = eval_instant(r#"count_values by (g) ("val", m)"#);
        assert!(v.contains(&(r#"{g="a", val="1"}"#.to_string(), 1.0)));
        assert!(v.contains(&(r#"{g="b", val="1"}"#.to_string(), 1.0)));
        assert!(v.contains(&(r#"{g="a", val="NaN"}"#.to_string(), 1.0)));
        let v = eval_instant("quantile by (g) (0.5, m)");
        assert_eq!(
            v,
            vec![
                (r#"{g="a"}"#.to_string(), 1.0),
                (r#"{g="b"}"#.to_string(), 1.5)
            ]
        );
        let v = eval_instant("sum without (i) (m)");
        assert!(v[0].1.is_nan());
        assert_eq!(v[1], (r#"{g="b"}"#.to_string(), 3.0));
    }

    #[test]
    fn grouping_rules() {
        let l = Labels::from_pairs(&[("__name__", "x"), ("a", "1"), ("b", "2")]).unwrap();
        assert_eq!(
            group_labels(&l, &Some(Grouping::By(vec!["a".into()]))),
            Labels::from_pairs(&[("a", "1")]).unwrap()
        );
        assert_eq!(
            group_labels(&l, &Some(Grouping::Without(vec!["a".into()]))),
            Labels::from_pairs(&[("b", "2")]).unwrap()
        );
        assert!(group_labels(&l, &None).is_empty());
    }
}

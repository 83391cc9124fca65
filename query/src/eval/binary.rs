//! Binary operators: arithmetic, comparisons (filtering or `bool`), set operators, and
//! vector matching with `on`/`ignoring` and `group_left`/`group_right`.
//!
//! Match signatures depend only on labels, so they are computed once per series; matching
//! itself runs per step over the series present at that step, following Prometheus:
//! * the "one" side must have unique signatures at a step
//!   (`found duplicate series for the match group ...`);
//! * one-to-one: a second "many" element hitting the same signature is an error even if the
//!   comparison would have filtered it (`multiple matches for labels: many-to-one ...`);
//! * group_left/right: two results with the same labels at one step are an error
//!   (`multiple matches for labels: grouping labels must ensure unique results`).

use super::hash::{map_with_capacity, FxHashMap};

use strata_engine::{Labels, METRIC_NAME};

use super::{Collector, Evaluator, StepSeries, Steps, Val};
use crate::error::{Error, Result};
use crate::parser::ast::{BinaryExpr, BinaryOp, Cardinality, VectorMatching};

/// Applies `op` to two floats: `(value, keep)`. For comparisons `value` is `lhs` and `keep` is
/// the comparison's outcome; for arithmetic `keep` is always true.
pub fn elem_binop(op: BinaryOp, l: f64, r: f64) -> (f64, bool) {
    match op {
        BinaryOp::Add => (l + r, true),
        BinaryOp::Sub => (l - r, true),
        BinaryOp::Mul => (l * r, true),
        BinaryOp::Div => (l / r, true),
        BinaryOp::Mod => (l % r, true),
        BinaryOp::Pow => (l.powf(r), true),
        BinaryOp::Atan2 => (l.atan2(r), true),
        BinaryOp::Eql => (l, l == r),
        BinaryOp::Neq => (l, l != r),
        BinaryOp::Gtr => (l, l > r),
        BinaryOp::Lss => (l, l < r),
        BinaryOp::Gte => (l, l >= r),
        BinaryOp::Lte => (l, l <= r),
        BinaryOp::And | BinaryOp::Or | BinaryOp::Unless => (f64::NAN, false),
    }
}

fn drops_name(op: BinaryOp, return_bool: bool) -> bool {
    return_bool || !(op.is_comparison() || op.is_set())
}

/// Evaluates a binary expression.
pub fn eval_binary(ev: &Evaluator<'_>, b: &BinaryExpr, steps: &Steps) -> Result<Val> {
    let lhs = ev.eval(&b.lhs, steps)?;
    let rhs = ev.eval(&b.rhs, steps)?;
    let op = b.op;
    match (lhs, rhs) {
        (Val::Scalar(l), Val::Scalar(r)) => {
            if op.is_set() {
                return Err(Error::Execution(format!(
                    "set operator \"{}\" not allowed in binary scalar expression",
                    op.as_str()
                )));
            }
            if op.is_comparison() && !b.return_bool {
                return Err(Error::Execution(
                    "comparisons between scalars must use BOOL modifier".to_string(),
                ));
            }
            Ok(Val::Scalar(
                l.into_iter()
                    .zip(r)
                    .map(|(l, r)| {
                        let (v, keep) = elem_binop(op, l, r);
                        if op.is_comparison() {
                            if keep {
                                1.0
                            } else {
                                0.0
                            }
                        } else {
                            v
                        }
                    })
                    .collect(),
            ))
        }
        (Val::Vector(v), Val::Scalar(s)) => vector_scalar(ev, v, &s, op, b.return_bool, false),
        (Val::Scalar(s), Val::Vector(v)) => vector_scalar(ev, v, &s, op, b.return_bool, true),
        (Val::Vector(l), Val::Vector(r)) => {
            let default = VectorMatching {
                on: false,
                labels: Vec::new(),
                card: if op.is_set() {
                    Cardinality::ManyToMany
                } else {
                    Cardinality::OneToOne
                },
            };
            let m = b.matching.as_ref().unwrap_or(&default);
            if op.is_set() {
                set_op(op, l, r, m, steps.len())
            } else {
                vector_vector(ev, op, l, r, m, b.return_bool, steps.len())
            }
        }
        _ => Err(Error::Execution(
            "binary expression must contain only scalar and instant vector types".to_string(),
        )),
    }
}

fn vector_scalar(
    ev: &Evaluator<'_>,
    v: Vec<StepSeries>,
    s: &[f64],
    op: BinaryOp,
    return_bool: bool,
    scalar_left: bool,
) -> Result<Val> {
    if op.is_set() {
        return Err(Error::Execution(format!(
            "set operator \"{}\" not allowed in binary scalar expression",
            op.as_str()
        )));
    }
    let drop = drops_name(op, return_bool);
    let out: Vec<StepSeries> = v
        .into_iter()
        .map(|series| {
            let vals = series
                .vals
                .iter()
                .zip(s)
                .map(|(x, &sc)| {
                    let x = (*x)?;
                    let (l, r) = if scalar_left { (sc, x) } else { (x, sc) };
                    let (mut val, keep) = elem_binop(op, l, r);
                    if op.is_comparison() {
                        val = x;
                    }
                    if return_bool {
                        Some(if keep { 1.0 } else { 0.0 })
                    } else if keep {
                        Some(val)
                    } else {
                        None
                    }
                })
                .collect();
            StepSeries { vals, ..series }
        })
        .collect();
    if drop {
        Ok(Val::Vector(ev.drop_names(out)?))
    } else {
        Ok(Val::Vector(
            out.into_iter().filter(|s| !s.is_empty()).collect(),
        ))
    }
}

/// The match signature of `l`: the `on` labels, or all but the `ignoring` labels and
/// `__name__`.
pub fn signature(l: &Labels, m: &VectorMatching) -> String {
    let mut s = String::new();
    if m.on {
        for n in &m.labels {
            s.push_str(n);
            s.push('\u{1}');
            s.push_str(l.get(n).unwrap_or(""));
            s.push('\u{2}');
        }
    } else {
        for lb in l.iter() {
            if &*lb.name == METRIC_NAME || m.labels.iter().any(|x| *x == *lb.name) {
                continue;
            }
            s.push_str(&lb.name);
            s.push('\u{1}');
            s.push_str(&lb.value);
            s.push('\u{2}');
        }
    }
    s
}

fn match_labels(l: &Labels, m: &VectorMatching) -> Labels {
    if m.on {
        l.retain(|n| m.labels.iter().any(|x| x == n))
    } else {
        l.retain(|n| n != METRIC_NAME && !m.labels.iter().any(|x| x == n))
    }
}

/// Output labels of a match and whether its name is pending removal (delayed mode).
fn result_labels(
    many: &StepSeries,
    one: &Labels,
    op: BinaryOp,
    m: &VectorMatching,
    return_bool: bool,
    delayed: bool,
) -> (Labels, bool) {
    let drops = drops_name(op, return_bool);
    let mut l = if drops && !delayed {
        many.labels.without(METRIC_NAME)
    } else {
        many.labels.clone()
    };
    let flag = delayed && (drops || many.drop_name);
    match &m.card {
        Cardinality::OneToOne => {
            l = if m.on {
                l.retain(|n| m.labels.iter().any(|x| x == n))
            } else {
                l.retain(|n| !m.labels.iter().any(|x| x == n))
            };
        }
        Cardinality::ManyToOne(include) | Cardinality::OneToMany(include) => {
            for n in include {
                l = l.with(n, one.get(n).unwrap_or(""));
            }
        }
        Cardinality::ManyToMany => {}
    }
    let flag = flag && l.get(METRIC_NAME).is_some();
    (l, flag)
}

/// Assigns every series of both sides a match-group id: equal signatures share an id.
/// Signatures depend only on labels, so this hashes each series once per query instead of
/// once per step.
fn group_ids(
    lhs: &[StepSeries],
    rhs: &[StepSeries],
    m: &VectorMatching,
) -> (Vec<usize>, Vec<usize>, usize) {
    let mut ids: FxHashMap<String, usize> = map_with_capacity(0);
    let mut id = |s: &StepSeries| {
        let n = ids.len();
        *ids.entry(signature(&s.labels, m)).or_insert(n)
    };
    let l: Vec<usize> = lhs.iter().map(&mut id).collect();
    let r: Vec<usize> = rhs.iter().map(&mut id).collect();
    (l, r, ids.len())
}

fn vector_vector(
    ev: &Evaluator<'_>,
    op: BinaryOp,
    lhs: Vec<StepSeries>,
    rhs: Vec<StepSeries>,
    m: &VectorMatching,
    return_bool: bool,
    n: usize,
) -> Result<Val> {
    let swapped = matches!(m.card, Cardinality::OneToMany(_));
    let (many, one) = if swapped { (&rhs, &lhs) } else { (&lhs, &rhs) };
    let (many_g, one_g, ng) = group_ids(many, one, m);
    let mut one_members: Vec<Vec<usize>> = vec![Vec::new(); ng];
    for (i, &g) in one_g.iter().enumerate() {
        one_members[g].push(i);
    }
    let one_groups: Vec<usize> = (0..ng).filter(|&g| !one_members[g].is_empty()).collect();
    let one_to_one = m.card == Cardinality::OneToOne;
    // Per-group scratch, valid for the step whose marker (step + 1) it carries.
    let mut one_at: Vec<(usize, usize)> = vec![(0, 0); ng];
    let mut matched: Vec<usize> = vec![0; ng];
    let mut added: Vec<(usize, Vec<usize>)> = vec![(0, Vec::new()); ng];
    // Output slot per "many" series, valid while it matches the same "one" series.
    let mut cache: Vec<Option<(usize, usize, bool)>> = vec![None; many.len()];
    let mut out = Collector::new(n);
    for step in 0..n {
        ev.check_deadline()?;
        let mark = step + 1;
        if !many.iter().any(|s| s.vals[step].is_some())
            || !one.iter().any(|s| s.vals[step].is_some())
        {
            continue;
        }
        for &g in &one_groups {
            for &oi in &one_members[g] {
                if one[oi].vals[step].is_none() {
                    continue;
                }
                if one_at[g].0 == mark {
                    let prev = one_at[g].1;
                    let side = if swapped { "left" } else { "right" };
                    return Err(Error::Execution(format!(
                        "found duplicate series for the match group {} on the {side} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                        match_labels(&one[oi].labels, m),
                        one[prev].labels,
                        one[oi].labels
                    )));
                }
                one_at[g] = (mark, oi);
            }
        }
        for (mi, series) in many.iter().enumerate() {
            let Some(mv) = series.vals[step] else {
                continue;
            };
            let g = many_g[mi];
            if one_at[g].0 != mark {
                continue;
            }
            let oi = one_at[g].1;
            if one_to_one {
                if matched[g] == mark {
                    return Err(Error::Execution(
                        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".to_string(),
                    ));
                }
                matched[g] = mark;
            }
            let ov = one[oi].vals[step].unwrap_or(f64::NAN);
            let (l, r) = if swapped { (ov, mv) } else { (mv, ov) };
            let (mut v, keep) = elem_binop(op, l, r);
            if return_bool {
                v = if keep { 1.0 } else { 0.0 };
            } else if !keep {
                continue;
            }
            let (idx, flag) = match cache[mi] {
                Some((o, idx, flag)) if o == oi => (idx, flag),
                _ => {
                    let (labels, flag) = result_labels(
                        series,
                        &one[oi].labels,
                        op,
                        m,
                        return_bool,
                        ev.delayed_name_removal,
                    );
                    let idx = out.slot(&labels);
                    cache[mi] = Some((oi, idx, flag));
                    (idx, flag)
                }
            };
            if flag {
                out.mark_drop_name(idx);
            }
            if !one_to_one {
                let (gen, list) = &mut added[g];
                if *gen != mark {
                    *gen = mark;
                    list.clear();
                }
                if list.contains(&idx) {
                    return Err(Error::Execution(
                        "multiple matches for labels: grouping labels must ensure unique results"
                            .to_string(),
                    ));
                }
                list.push(idx);
            }
            out.set(idx, step, v)?;
        }
    }
    Ok(Val::Vector(out.finish()))
}

fn set_op(
    op: BinaryOp,
    lhs: Vec<StepSeries>,
    rhs: Vec<StepSeries>,
    m: &VectorMatching,
    n: usize,
) -> Result<Val> {
    let (lg, rg, ng) = group_ids(&lhs, &rhs, m);
    let mut out = Collector::new(n);
    let lslot: Vec<usize> = lhs.iter().map(|s| out.slot(&s.labels)).collect();
    let rslot: Vec<usize> = if op == BinaryOp::Or {
        rhs.iter().map(|s| out.slot(&s.labels)).collect()
    } else {
        Vec::new()
    };
    let mut seen: Vec<usize> = vec![0; ng];
    for step in 0..n {
        let mark = step + 1;
        match op {
            BinaryOp::And | BinaryOp::Unless => {
                for (i, s) in rhs.iter().enumerate() {
                    if s.vals[step].is_some() {
                        seen[rg[i]] = mark;
                    }
                }
                for (i, s) in lhs.iter().enumerate() {
                    let Some(v) = s.vals[step] else { continue };
                    let hit = seen[lg[i]] == mark;
                    if hit == (op == BinaryOp::And) {
                        out.set(lslot[i], step, v)?;
                        if s.drop_name {
                            out.mark_drop_name(lslot[i]);
                        }
                    }
                }
            }
            _ => {
                for (i, s) in lhs.iter().enumerate() {
                    let Some(v) = s.vals[step] else { continue };
                    seen[lg[i]] = mark;
                    out.set(lslot[i], step, v)?;
                    if s.drop_name {
                        out.mark_drop_name(lslot[i]);
                    }
                }
                for (i, s) in rhs.iter().enumerate() {
                    let Some(v) = s.vals[step] else { continue };
                    if seen[rg[i]] != mark {
                        out.set(rslot[i], step, v)?;
                        if s.drop_name {
                            out.mark_drop_name(rslot[i]);
                        }
                    }
                }
            }
        }
    }
    Ok(Val::Vector(out.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::MemStorage;

    fn s(pairs: &[(&str, &str)], vals: &[Option<f64>]) -> StepSeries {
        StepSeries::new(Labels::from_pairs(pairs).unwrap(), vals.to_vec())
    }

    fn on(labels: &[&str], card: Cardinality) -> VectorMatching {
        VectorMatching {
            on: true,
            labels: labels.iter().map(|x| x.to_string()).collect(),
            card,
        }
    }

    #[test]
    fn arithmetic_and_mod_follow_ieee() {
        assert_eq!(elem_binop(BinaryOp::Div, 1.0, 0.0).0, f64::INFINITY);
        assert!(elem_binop(BinaryOp::Mod, 1.0, 0.0).0.is_nan());
        assert_eq!(elem_binop(BinaryOp::Mod, -7.0, 3.0).0, -1.0);
        assert_eq!(elem_binop(BinaryOp::Pow, 2.0, 10.0).0, 1024.0);
        assert_eq!(elem_binop(BinaryOp::Gtr, 3.0, 2.0), (3.0, true));
    }

    #[test]
    fn one_to_one_drops_name_and_matches() {
        let st = MemStorage::new();
        let ev = Evaluator::new(&st, 0, 0);
        let l = vec![
            s(&[("__name__", "a"), ("x", "1")], &[Some(10.0)]),
            s(&[("__name__", "a"), ("x", "2")], &[Some(20.0)]),
        ];
        let r = vec![s(&[("__name__", "b"), ("x", "1")], &[Some(2.0)])];
        let m = VectorMatching {
            on: false,
            labels: vec![],
            card: Cardinality::OneToOne,
        };
        let Val::Vector(out) = vector_vector(&ev, BinaryOp::Div, l, r, &m, false, 1).unwrap()
        else {
            panic!()
        };
        assert_eq!(out, vec![s(&[("x", "1")], &[Some(5.0)])]);
    }

    #[test]
    fn many_to_one_needs_group_left() {
        let st = MemStorage::new();
        let ev = Evaluator::new(&st, 0, 0);
        let l = vec![
            s(&[("job", "a"), ("i", "1")], &[Some(1.0)]),
            s(&[("job", "a"), ("i", "2")], &[Some(2.0)]),
        ];
        let r = vec![s(&[("job", "a"), ("team", "t")], &[Some(10.0)])];
        let err = vector_vector(
            &ev,
            BinaryOp::Mul,
            l.clone(),
            r.clone(),
            &on(&["job"], Cardinality::OneToOne),
            false,
            1,
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("multiple matches for labels"));
        let Val::Vector(out) = vector_vector(
            &ev,
            BinaryOp::Mul,
            l,
            r,
            &on(&["job"], Cardinality::ManyToOne(vec!["team".into()])),
            false,
            1,
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].labels.get("team"), Some("t"));
        assert_eq!(out[1].vals, vec![Some(20.0)]);
    }

    #[test]
    fn duplicate_one_side_is_error() {
        let st = MemStorage::new();
        let ev = Evaluator::new(&st, 0, 0);
        let l = vec![s(&[("job", "a")], &[Some(1.0)])];
        let r = vec![
            s(&[("job", "a"), ("i", "1")], &[Some(1.0)]),
            s(&[("job", "a"), ("i", "2")], &[Some(2.0)]),
        ];
        let err = vector_vector(
            &ev,
            BinaryOp::Add,
            l,
            r,
            &on(&["job"], Cardinality::OneToOne),
            false,
            1,
        )
        .unwrap_err();
        assert!(err
            .to_string()
            .starts_with("found duplicate series for the match group {job=\"a\"} on the right"));
    }

    #[test]
    fn set_operators() {
        let l = vec![
            s(&[("a", "1")], &[Some(1.0), None]),
            s(&[("a", "2")], &[Some(2.0), Some(2.0)]),
        ];
        let r = vec![s(&[("a", "1")], &[Some(9.0), Some(9.0)])];
        let m = VectorMatching {
            on: false,
            labels: vec![],
            card: Cardinality::ManyToMany,
        };
        let Val::Vector(and) = set_op(BinaryOp::And, l.clone(), r.clone(), &m, 2).unwrap() else {
            panic!()
        };
        assert_eq!(and, vec![s(&[("a", "1")], &[Some(1.0), None])]);
        let Val::Vector(or) = set_op(BinaryOp::Or, l.clone(), r.clone(), &m, 2).unwrap() else {
            panic!()
        };
        assert_eq!(or[0], s(&[("a", "1")], &[Some(1.0), Some(9.0)]));
        let Val::Vector(unless) = set_op(BinaryOp::Unless, l, r, &m, 2).unwrap() else {
            panic!()
        };
        assert_eq!(unless, vec![s(&[("a", "2")], &[Some(2.0), Some(2.0)])]);
    }
}

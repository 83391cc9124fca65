//! Sorted postings lists (`SeriesRef`s in ascending order) and the set operations on them.
//!
//! Every function here takes and returns strictly ascending slices/vectors; that invariant is
//! what makes the merges linear.

/// A series reference.
pub type SeriesRef = u64;

/// Intersection of two ascending lists.
pub fn intersect(a: &[SeriesRef], b: &[SeriesRef]) -> Vec<SeriesRef> {
    let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    let mut out = Vec::with_capacity(small.len());
    // Galloping would help for very skewed sizes; a binary search per element of the small list
    // covers that case, a linear merge the balanced one.
    if small.len() * 16 < large.len() {
        let mut lo = 0;
        for &x in small {
            match large[lo..].binary_search(&x) {
                Ok(i) => {
                    out.push(x);
                    lo += i + 1;
                }
                Err(i) => lo += i,
            }
            if lo >= large.len() {
                break;
            }
        }
        return out;
    }
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

/// Union of any number of ascending lists.
pub fn union(lists: &[&[SeriesRef]]) -> Vec<SeriesRef> {
    match lists.len() {
        0 => Vec::new(),
        1 => lists[0].to_vec(),
        _ => {
            let mut out: Vec<SeriesRef> = lists.iter().flat_map(|l| l.iter().copied()).collect();
            out.sort_unstable();
            out.dedup();
            out
        }
    }
}

/// Elements of `a` not in `b`.
pub fn subtract(a: &[SeriesRef], b: &[SeriesRef]) -> Vec<SeriesRef> {
    let mut out = Vec::with_capacity(a.len());
    let mut j = 0;
    for &x in a {
        while j < b.len() && b[j] < x {
            j += 1;
        }
        if j < b.len() && b[j] == x {
            continue;
        }
        out.push(x);
    }
    out
}

/// Inserts `r` keeping the list ascending (a no-op if present). References are handed out in
/// ascending order, so this is almost always a push at the end.
pub fn insert(list: &mut Vec<SeriesRef>, r: SeriesRef) {
    match list.last() {
        None => list.push(r),
        Some(&last) if last < r => list.push(r),
        _ => {
            if let Err(i) = list.binary_search(&r) {
                list.insert(i, r);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn set(v: &[u64]) -> Vec<u64> {
        v.iter()
            .copied()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    }

    proptest! {
        #[test]
        fn ops_match_sets(a in proptest::collection::vec(0u64..200, 0..60),
                          b in proptest::collection::vec(0u64..200, 0..600)) {
            let (a, b) = (set(&a), set(&b));
            let sa: BTreeSet<_> = a.iter().copied().collect();
            let sb: BTreeSet<_> = b.iter().copied().collect();
            prop_assert_eq!(intersect(&a, &b), sa.intersection(&sb).copied().collect::<Vec<_>>());
            prop_assert_eq!(intersect(&b, &a), sa.intersection(&sb).copied().collect::<Vec<_>>());
            prop_assert_eq!(union(&[&a, &b]), sa.union(&sb).copied().collect::<Vec<_>>());
            prop_assert_eq!(subtract(&a, &b), sa.difference(&sb).copied().collect::<Vec<_>>());
            let mut c = a.clone();
            for &x in &b { insert(&mut c, x); }
            prop_assert_eq!(c, sa.union(&sb).copied().collect::<Vec<_>>());
        }
    }
}

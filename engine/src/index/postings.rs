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

/// A postings list of the in-memory (head) index: ascending references, four bytes each
/// while every one fits in 32 bits (a head hands them out from 1 up, so in practice always),
/// eight once one does not. Each series sits in one list per label: this is per-series
/// memory.
#[derive(Clone, Debug)]
pub enum HeadPostings {
    /// Every reference fits in 32 bits.
    Narrow(Vec<u32>),
    /// Some reference does not.
    Wide(Vec<SeriesRef>),
}

impl Default for HeadPostings {
    fn default() -> Self {
        HeadPostings::Narrow(Vec::new())
    }
}

impl HeadPostings {
    /// Inserts `r` keeping the list ascending (a no-op if present).
    pub fn insert(&mut self, r: SeriesRef) {
        match self {
            HeadPostings::Narrow(v) => match u32::try_from(r) {
                Ok(x) => insert(v, x),
                Err(_) => {
                    let mut w: Vec<SeriesRef> = v.iter().map(|&x| SeriesRef::from(x)).collect();
                    insert(&mut w, r);
                    *self = HeadPostings::Wide(w);
                }
            },
            HeadPostings::Wide(v) => insert(v, r),
        }
    }

    /// Keeps the references `keep` accepts.
    pub fn retain(&mut self, keep: impl Fn(SeriesRef) -> bool) {
        match self {
            HeadPostings::Narrow(v) => v.retain(|&x| keep(SeriesRef::from(x))),
            HeadPostings::Wide(v) => v.retain(|&x| keep(x)),
        }
    }

    /// Number of references.
    pub fn len(&self) -> usize {
        match self {
            HeadPostings::Narrow(v) => v.len(),
            HeadPostings::Wide(v) => v.len(),
        }
    }

    /// True if the list holds no reference.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The references as a slice of [`SeriesRef`] (a copy for a narrow list).
    pub fn refs(&self) -> std::borrow::Cow<'_, [SeriesRef]> {
        match self {
            HeadPostings::Narrow(v) => {
                std::borrow::Cow::Owned(v.iter().map(|&x| SeriesRef::from(x)).collect())
            }
            HeadPostings::Wide(v) => std::borrow::Cow::Borrowed(v),
        }
    }
}

/// Inserts `r` keeping the list ascending (a no-op if present). References are handed out in
/// ascending order, so this is almost always a push at the end.
pub fn insert<T: Ord + Copy>(list: &mut Vec<T>, r: T) {
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
        /// A head list holds the same ascending set as a plain one, narrow while every
        /// reference fits in 32 bits and wide from the first that does not.
        #[test]
        fn head_postings_hold_the_inserted_set(
            refs in proptest::collection::vec(
                prop_oneof![0u64..1000, (1u64 << 32) - 3..(1u64 << 32) + 3],
                0..80,
            ),
            gone in proptest::collection::vec(0u64..1000, 0..20),
        ) {
            let mut h = HeadPostings::default();
            let mut plain = Vec::new();
            for &r in &refs {
                h.insert(r);
                insert(&mut plain, r);
            }
            prop_assert_eq!(h.refs().to_vec(), plain.clone());
            prop_assert_eq!(h.len(), set(&refs).len());
            let wide = refs.iter().any(|&r| r > u64::from(u32::MAX));
            prop_assert_eq!(matches!(h, HeadPostings::Wide(_)), wide);
            h.retain(|r| !gone.contains(&r));
            plain.retain(|r| !gone.contains(r));
            prop_assert_eq!(h.refs().to_vec(), plain.clone());
            prop_assert_eq!(h.is_empty(), plain.is_empty());
        }

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

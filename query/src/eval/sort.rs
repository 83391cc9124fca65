//! Ordering functions: `sort`, `sort_desc` (by value, NaN last) and the experimental
//! `sort_by_label`, `sort_by_label_desc` (natural order of the named labels' values, ties
//! broken by the full label set). They only order a one-step result: a range query's matrix
//! is always sorted by labels.

use std::cmp::Ordering;

use strata_engine::Labels;

use crate::eval::StepSeries;

/// Orders by the value at step 0, ascending or descending, NaN (and absent) last.
pub fn by_value(v: &mut [StepSeries], desc: bool) {
    v.sort_by(|a, b| {
        let (x, y) = (a.vals[0].unwrap_or(f64::NAN), b.vals[0].unwrap_or(f64::NAN));
        match (x.is_nan(), y.is_nan()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            _ if desc => y.partial_cmp(&x).unwrap_or(Ordering::Equal),
            _ => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        }
    });
}

/// Natural string order: runs of ASCII digits compare by numeric value, the rest bytewise.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].is_ascii_digit() && b[j].is_ascii_digit() {
            let si = i;
            while i < a.len() && a[i].is_ascii_digit() {
                i += 1;
            }
            let sj = j;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let na = trim_zeros(&a[si..i]);
            let nb = trim_zeros(&b[sj..j]);
            let c = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
            if c != Ordering::Equal {
                return c;
            }
        } else {
            let c = a[i].cmp(&b[j]);
            if c != Ordering::Equal {
                return c;
            }
            i += 1;
            j += 1;
        }
    }
    (a.len() - i).cmp(&(b.len() - j))
}

fn trim_zeros(d: &[u8]) -> &[u8] {
    let k = d.iter().position(|&c| c != b'0').unwrap_or(d.len());
    &d[k..]
}

/// Orders by the values of `names` (natural order), then by the whole label set.
pub fn by_labels(v: &mut [StepSeries], names: &[String], desc: bool) {
    let key = |l: &Labels, a: &Labels| -> Ordering {
        for n in names {
            let c = natural_cmp(l.get(n).unwrap_or(""), a.get(n).unwrap_or(""));
            if c != Ordering::Equal {
                return c;
            }
        }
        l.cmp(a)
    };
    v.sort_by(|a, b| {
        let c = key(&a.labels, &b.labels);
        if desc {
            c.reverse()
        } else {
            c
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(inst: &str, v: f64) -> StepSeries {
        StepSeries::new(
            Labels::from_pairs(&[("instance", inst)]).unwrap(),
            vec![Some(v)],
        )
    }

    #[test]
    fn natural_order() {
        assert_eq!(natural_cmp("4m5", "4m600"), Ordering::Less);
        assert_eq!(natural_cmp("4m600", "4m1000"), Ordering::Less);
        assert_eq!(natural_cmp("1.11.3", "1.2.3"), Ordering::Greater);
        assert_eq!(natural_cmp("10", "9"), Ordering::Greater);
        assert_eq!(natural_cmp("a", "a"), Ordering::Equal);
        assert_eq!(natural_cmp("a", "ab"), Ordering::Less);
    }

    #[test]
    fn sorts() {
        let mut v = vec![s("10", 1.0), s("9", f64::NAN), s("2", 3.0)];
        by_value(&mut v, false);
        assert_eq!(v[0].vals[0], Some(1.0));
        assert!(v[2].vals[0].unwrap().is_nan());
        by_value(&mut v, true);
        assert_eq!(v[0].vals[0], Some(3.0));
        assert!(v[2].vals[0].unwrap().is_nan());
        by_labels(&mut v, &["instance".to_string()], false);
        let order: Vec<_> = v
            .iter()
            .map(|x| x.labels.get("instance").unwrap())
            .collect();
        assert_eq!(order, vec!["2", "9", "10"]);
        by_labels(&mut v, &["instance".to_string()], true);
        assert_eq!(v[0].labels.get("instance"), Some("10"));
    }
}

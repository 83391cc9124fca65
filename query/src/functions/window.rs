//! Sliding windows over one series' samples: the cursor walk every range function shares.
//!
//! Invariant: windows are left-open, `(end - range, end]`, `ends` is non-decreasing, and the
//! two cursors only move forward, whatever the number of steps. Each cursor moves by a
//! galloping search (1, 2, 4, ... samples ahead, then a binary search in the last gap), so
//! a step that moves a cursor by `d` samples costs `O(log d)`: one window over a whole
//! series (an instant query) does not walk its samples.

use strata_engine::Sample;

/// Calls `f(step, lo..hi)` for every step whose window `(ends[step] - range, ends[step]]`
/// holds at least one sample of `samples` (time-ordered), passing the window as an index range
/// into `samples`; steps with an empty window get `None`.
pub fn for_each_window_range(
    ends: &[i64],
    range: i64,
    samples: &[Sample],
    mut f: impl FnMut(usize, std::ops::Range<usize>) -> Option<f64>,
) -> Vec<Option<f64>> {
    let mut out = Vec::with_capacity(ends.len());
    let (mut lo, mut hi) = (0usize, 0usize);
    for (i, &end) in ends.iter().enumerate() {
        let start = end.saturating_sub(range);
        hi = gallop(samples, hi, end);
        lo = gallop(samples, lo, start);
        if lo < hi {
            out.push(f(i, lo..hi));
        } else {
            out.push(None);
        }
    }
    out
}

/// The first index at or after `from` whose sample is after `t` (`samples` time-ordered):
/// galloping from `from`.
fn gallop(samples: &[Sample], from: usize, t: i64) -> usize {
    let n = samples.len();
    if from >= n || samples[from].t > t {
        return from;
    }
    // samples[lo].t <= t throughout; the answer is in (lo, hi].
    let (mut lo, mut gap) = (from, 1usize);
    let mut hi = from + 1;
    while hi < n && samples[hi].t <= t {
        lo = hi;
        gap *= 2;
        hi = lo.saturating_add(gap);
    }
    let hi = hi.min(n);
    lo + 1 + samples[lo + 1..hi].partition_point(|x| x.t <= t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gallop_finds_the_first_later_sample_from_any_start() {
        // Timestamps with repeats at the edges of galloping gaps.
        let ts = [0, 1, 1, 2, 3, 5, 8, 8, 8, 13, 21, 34, 34, 55];
        let s: Vec<Sample> = ts.iter().map(|&t| Sample::new(t, 0.0)).collect();
        for from in 0..=s.len() {
            for t in -1..=60 {
                let want = from + s[from..].iter().take_while(|x| x.t <= t).count();
                assert_eq!(gallop(&s, from, t), want, "from {from}, t {t}");
            }
        }
        assert_eq!(gallop(&[], 0, 5), 0);
    }
}

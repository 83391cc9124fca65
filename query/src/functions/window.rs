//! Sliding windows over one series' samples: the cursor walk every range function shares.
//!
//! Invariant: windows are left-open, `(end - range, end]`, `ends` is non-decreasing, and each
//! sample is passed over once by each of the two cursors, whatever the number of steps.

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
        while hi < samples.len() && samples[hi].t <= end {
            hi += 1;
        }
        while lo < samples.len() && samples[lo].t <= start {
            lo += 1;
        }
        if lo < hi {
            out.push(f(i, lo..hi));
        } else {
            out.push(None);
        }
    }
    out
}

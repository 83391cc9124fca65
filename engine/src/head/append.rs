//! The append path's per-sample decision: store, ignore as an exact duplicate, or reject.

use crate::db::RejectReason;
use crate::Sample;

/// What to do with one incoming sample given the series' last sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Newer than the last sample: store it.
    Append,
    /// Same timestamp and identical value bits: nothing to do.
    Duplicate,
    /// Cannot be stored.
    Reject(RejectReason),
}

/// Decides the fate of `s` after `last`. Values compare by bits, so a stale marker at the
/// timestamp of a real value is a duplicate timestamp with another value.
pub fn verdict(last: Option<Sample>, s: Sample) -> Verdict {
    match last {
        None => Verdict::Append,
        Some(l) if s.t > l.t => Verdict::Append,
        Some(l) if s.t == l.t && s.v.to_bits() == l.v.to_bits() => Verdict::Duplicate,
        Some(l) if s.t == l.t => Verdict::Reject(RejectReason::DuplicateTimestamp),
        Some(_) => Verdict::Reject(RejectReason::OutOfOrder),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts() {
        let l = Some(Sample::new(10, 1.0));
        assert_eq!(verdict(None, Sample::new(0, 0.0)), Verdict::Append);
        assert_eq!(verdict(l, Sample::new(11, 0.0)), Verdict::Append);
        assert_eq!(verdict(l, Sample::new(10, 1.0)), Verdict::Duplicate);
        assert_eq!(
            verdict(l, Sample::new(10, 2.0)),
            Verdict::Reject(RejectReason::DuplicateTimestamp)
        );
        assert_eq!(
            verdict(l, Sample::new(10, crate::stale_nan())),
            Verdict::Reject(RejectReason::DuplicateTimestamp)
        );
        assert_eq!(
            verdict(l, Sample::new(9, 1.0)),
            Verdict::Reject(RejectReason::OutOfOrder)
        );
        let nan = Some(Sample::new(10, f64::NAN));
        assert_eq!(verdict(nan, Sample::new(10, f64::NAN)), Verdict::Duplicate);
    }
}

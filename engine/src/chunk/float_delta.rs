//! The `FloatDelta` encoding: for chunks of arbitrary floats that are not short decimals,
//! such as the `_sum` of a histogram (a float counter accumulating measured durations).
//!
//! Each value's IEEE-754 bit pattern is read as an `i64` and packed as an integer column.
//! For positive floats of one binade, the bit pattern is monotonic in the value and the
//! difference of two patterns is the distance in ulps, so the deltas of a float counter stay
//! near `log2(increment / ulp)` bits; this beats XOR's leading/trailing window, which pays
//! control bits on top of the same meaningful bits. Any bit pattern round-trips (NaN
//! payloads, -0.0, infinities, subnormals): there is no float arithmetic at all.
//!
//! Body (after the common header):
//!
//! ```text
//! column    timestamps as offsets t_i - min_time      (see column.rs)
//! column    value bit patterns as i64
//! ```

use super::column::{self, ColumnPlan};

/// The value column input: bit patterns as `i64`.
pub(crate) fn bit_patterns(vs: &[f64], out: &mut Vec<i64>) {
    out.clear();
    out.extend(vs.iter().map(|v| v.to_bits() as i64));
}

/// Appends a FloatDelta body.
pub(crate) fn encode_body(
    ts_plan: &ColumnPlan,
    us: &[i64],
    v_plan: &ColumnPlan,
    bits: &[i64],
    xs: &mut Vec<i64>,
    out: &mut Vec<u8>,
) {
    column::encode(ts_plan, us, xs, out);
    column::encode(v_plan, bits, xs, out);
}

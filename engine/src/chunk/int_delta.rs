//! The `IntDelta` encoding: for chunks whose values are integers or short decimals.
//!
//! Every value `v` is written as a decimal mantissa `m` with one chunk-wide scale `e`
//! (`0 ..= MAX_SCALE`) such that `m as f64 / 10^e` reproduces `v` **bit for bit** (for
//! `e = 0`, `m as f64 == v`). Integer counters, histogram buckets and `up` use `e = 0`; gauges
//! and counters exposed with a few decimals (`0.25`, `12.34`) use small `e`. The check is done
//! with the decoder's own arithmetic, so the encoding is lossless by construction: `-0.0`, NaN
//! and most floats fail it. A few values that fail (a staleness marker at the end of a
//! series, one odd value) are kept as *patches*: their index and raw 64 bits; their mantissa
//! slot repeats the previous mantissa so that the column stays smooth.
//!
//! Body (after the common header):
//!
//! ```text
//! column    timestamps as offsets t_i - min_time      (see column.rs)
//! u8        scale e
//! column    mantissas m_i
//! uvarint   number of patches
//! patches   (uvarint index gap, u64 LE raw value bits) each
//! ```

use super::column::{self, ColumnPlan};
use crate::encoding::{put_uvarint, uvarint_len};

/// Largest decimal scale.
pub(crate) const MAX_SCALE: usize = 18;

/// Powers of ten, all exactly representable as `f64`.
pub(crate) const POW10: [f64; MAX_SCALE + 1] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18,
];

/// The value a mantissa decodes to.
#[inline]
pub(crate) fn from_decimal(m: i64, scale: usize) -> f64 {
    if scale == 0 {
        m as f64
    } else {
        m as f64 / POW10[scale]
    }
}

/// The mantissa of `v` at `scale`, if `from_decimal` gives back exactly `v`.
#[inline]
fn to_decimal(v: f64, scale: usize) -> Option<i64> {
    let m = if scale == 0 {
        v as i64
    } else {
        let x = v * POW10[scale];
        if x.is_nan() || x.abs() >= 9.0e18 {
            return None;
        }
        x.round() as i64
    };
    (from_decimal(m, scale).to_bits() == v.to_bits()).then_some(m)
}

/// The largest scale at which `v`'s mantissa stays below 2^53 (where mantissas are exact).
fn top_scale(v: f64) -> usize {
    let a = v.abs();
    let mut s = 0;
    while s < MAX_SCALE && a * POW10[s + 1] < 9_007_199_254_740_992.0 {
        s += 1;
    }
    s
}

/// Finds the smallest common scale for `vs` and fills `ms` (one mantissa per value) and
/// `patches` (index, raw bits) for the values that need them. `None` if too many values
/// need patches for this encoding to pay.
pub(crate) fn decimal_mantissas(
    vs: &[f64],
    ms: &mut Vec<i64>,
    patches: &mut Vec<(usize, u64)>,
) -> Option<usize> {
    let limit = 1 + vs.len() / 16;
    let mut scale = 0;
    'restart: loop {
        ms.clear();
        patches.clear();
        let mut last = None;
        for (i, &v) in vs.iter().enumerate() {
            if let Some(m) = to_decimal(v, scale) {
                ms.push(m);
                last = Some(m);
                continue;
            }
            let top = top_scale(v);
            if top > scale && to_decimal(v, top).is_some() {
                // Some scale in (scale, top] works: take the smallest and start over.
                if let Some(s) = (scale + 1..=top).find(|&s| to_decimal(v, s).is_some()) {
                    scale = s;
                    continue 'restart;
                }
            }
            if patches.len() >= limit {
                return None;
            }
            patches.push((i, v.to_bits()));
            ms.push(last.unwrap_or(0));
        }
        break;
    }
    if patches.len() == vs.len() {
        return None;
    }
    // Leading patched slots copy the first real mantissa (index `lead` is not patched).
    let lead = patches
        .iter()
        .enumerate()
        .take_while(|(k, p)| p.0 == *k)
        .count();
    if lead > 0 {
        let first_real = ms[lead];
        ms[..lead].fill(first_real);
    }
    Some(scale)
}

/// Size of the patch list in bytes.
pub(crate) fn patches_len(patches: &[(usize, u64)]) -> usize {
    let mut last = 0;
    let mut len = uvarint_len(patches.len() as u64);
    for &(i, _) in patches {
        len += uvarint_len((i - last) as u64) + 8;
        last = i + 1;
    }
    len
}

/// Appends an IntDelta body.
#[allow(clippy::too_many_arguments)]
pub(crate) fn encode_body(
    ts_plan: &ColumnPlan,
    us: &[i64],
    scale: usize,
    v_plan: &ColumnPlan,
    ms: &[i64],
    patches: &[(usize, u64)],
    xs: &mut Vec<i64>,
    out: &mut Vec<u8>,
) {
    column::encode(ts_plan, us, xs, out);
    out.push(scale as u8);
    column::encode(v_plan, ms, xs, out);
    put_uvarint(out, patches.len() as u64);
    let mut last = 0;
    for &(i, bits) in patches {
        put_uvarint(out, (i - last) as u64);
        out.extend_from_slice(&bits.to_le_bytes());
        last = i + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_and_patches() {
        let vs = [0.25, 12.5, 3.0, 100.125];
        let (mut ms, mut p) = (Vec::new(), Vec::new());
        assert_eq!(decimal_mantissas(&vs, &mut ms, &mut p), Some(3));
        assert_eq!(ms, vec![250, 12500, 3000, 100125]);
        assert!(p.is_empty());

        let mut vs = vec![f64::NAN, 1.0, 2.0, 3.0, -0.0, 4.0];
        vs.extend((5..32).map(f64::from));
        assert_eq!(decimal_mantissas(&vs, &mut ms, &mut p), Some(0));
        assert_eq!(p.iter().map(|x| x.0).collect::<Vec<_>>(), vec![0, 4]);
        assert_eq!(ms[..6], [1, 1, 2, 3, 3, 4]);

        // Up to 16 significant digits is a decimal (1/3 prints as 0.3333333333333333)...
        let vs = [1.0 / 3.0, std::f64::consts::PI];
        let s = decimal_mantissas(&vs, &mut ms, &mut p).expect("16 digits");
        assert!(p.is_empty());
        assert_eq!(from_decimal(ms[0], s).to_bits(), vs[0].to_bits());
        // ...17 digits (0.30000000000000004) or NaN need patches, a few at most.
        let vs = [0.1 + 0.2, f64::NAN, 1.0];
        assert_eq!(decimal_mantissas(&vs, &mut ms, &mut p), None);

        for v in [0.1, 1e-15, 123456.789, -7.5, 1e18, 2f64.powi(60), 5e-324] {
            let (mut ms, mut p) = (Vec::new(), Vec::new());
            if let Some(s) = decimal_mantissas(&[v], &mut ms, &mut p) {
                if p.is_empty() {
                    assert_eq!(from_decimal(ms[0], s).to_bits(), v.to_bits(), "{v}");
                }
            }
        }
    }
}

//! Where the pieces of a window lie in time.
//!
//! Time is cut into **buckets** of width `B` aligned on multiples of `B` (Unix epoch), each
//! left-open like the window itself: bucket `k` is `(k B, (k + 1) B]`. A window
//! `(e, T]` (`e = T - range`) is then
//!
//! ```text
//!        bucket k_e (holds e)          buckets k_e+1 .. k_T-1        bucket k_T (holds T)
//!   ... |-------e=========|=====|=====|=====|=====|=====|=====|=====|======T    |
//!               ^ left part            the ring (whole buckets)      ^ open bucket
//! ```
//!
//! The **ring** holds one aggregate per bucket `k_e + 1 ..= k_T` (at most `slots` of them;
//! bucket `k` lives in slot `k mod slots`); the open bucket simply has no samples after
//! `T` yet. The **left part** `(e, (k_e + 1) B]` is covered by the binary subdivision of
//! bucket `k_e` into `2^levels` leaves: the leaf holding `e` is read raw (the "edge"), and
//! for each level `m = 1..=levels` the sibling block to the right of `e`'s ancestor, when
//! that ancestor is a left child, is one aggregate (the **detail**). So at most
//! `slots + levels` aggregates plus one leaf of raw samples describe any window exactly.
//!
//! Invariants: `B` is a multiple of `2^levels` (every block boundary is an integer
//! millisecond), `B >= range / slots` (the ring needs at most `slots` buckets),
//! `B <= range` (`e` and `T` are never in the same bucket), and `B < 2^32` ms (samples
//! store their offset in a block as `u32`).

/// Bucket width and subdivision depth for one window length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Window length, ms.
    pub range: i64,
    /// Bucket width `B`, ms.
    pub bucket: i64,
    /// Number of ring slots.
    pub slots: usize,
    /// Depth of the binary subdivision of the left bucket.
    pub levels: u32,
}

/// Smallest window length the layout supports, ms.
pub const MIN_RANGE: i64 = 64;

impl Layout {
    /// The layout for `range` with `slots` ring buckets and at most `max_levels` levels of
    /// subdivision, or `None` if `range` is too short or too long (a bucket would exceed
    /// `u32` milliseconds).
    pub fn new(range: i64, slots: usize, max_levels: u32) -> Option<Layout> {
        if range < MIN_RANGE || !(4..=64).contains(&slots) {
            return None;
        }
        let nb = slots as i64;
        let mut levels = max_levels.min(30);
        while levels > 0 && (1i64 << levels) * 4 * nb > range {
            levels -= 1;
        }
        let unit = 1i64 << levels;
        let raw = (range + nb - 1) / nb;
        let bucket = (raw + unit - 1) / unit * unit;
        if bucket > u32::MAX as i64 || bucket > range {
            return None;
        }
        Some(Layout {
            range,
            bucket,
            slots,
            levels,
        })
    }

    /// The bucket holding `t` (`t` in `(k B, (k + 1) B]`).
    pub fn bucket_of(&self, t: i64) -> i64 {
        (t - 1).div_euclid(self.bucket)
    }

    /// Start (exclusive) of bucket `k`.
    pub fn bucket_start(&self, k: i64) -> i64 {
        k * self.bucket
    }

    /// Ring slot of bucket `k`.
    pub fn slot(&self, k: i64) -> usize {
        k.rem_euclid(self.slots as i64) as usize
    }

    /// Width of a block at level `m` (level 0 is the whole bucket).
    pub fn width(&self, m: u32) -> i64 {
        self.bucket >> m
    }

    /// The leaf of bucket `k` holding `e` (`0 .. 2^levels`).
    pub fn leaf_of(&self, k: i64, e: i64) -> i64 {
        (e - 1 - self.bucket_start(k)).div_euclid(self.width(self.levels))
    }

    /// End (inclusive) of the level-`m` block of bucket `k` containing leaf `j`.
    pub fn block_end(&self, k: i64, j: i64, m: u32) -> i64 {
        let a = j >> (self.levels - m);
        self.bucket_start(k) + (a + 1) * self.width(m)
    }

    /// Start (exclusive) of the level-`m` sibling block right of leaf `j`'s ancestor, if that
    /// ancestor is a left child (`1 <= m <= levels`).
    pub fn sibling(&self, k: i64, j: i64, m: u32) -> Option<i64> {
        let a = j >> (self.levels - m);
        (a % 2 == 0).then(|| self.bucket_start(k) + (a + 1) * self.width(m))
    }

    /// The shallowest level whose ancestor differs between leaves `old` and `new` of one
    /// bucket (`levels + 1` if they are the same leaf): detail levels from there down must
    /// be rebuilt.
    pub fn first_changed_level(&self, old: i64, new: i64) -> u32 {
        let x = (old ^ new) as u64;
        let bits = 64 - x.leading_zeros();
        self.levels + 1 - bits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    #[test]
    fn layouts_respect_their_invariants() {
        for range in [
            64,
            100,
            1_000,
            60_000,
            300_000,
            3_600_000,
            DAY,
            7 * DAY,
            30 * DAY,
        ] {
            for (slots, max) in [(8, 7), (8, 12), (4, 0), (16, 3)] {
                let l = Layout::new(range, slots, max).unwrap();
                assert_eq!(l.bucket % (1 << l.levels), 0, "{l:?}");
                assert!(l.bucket * slots as i64 >= range, "{l:?}");
                assert!(l.bucket <= range, "{l:?}");
                assert!(l.levels <= max);
            }
        }
        assert_eq!(Layout::new(63, 8, 7), None);
        assert_eq!(Layout::new(400 * DAY, 8, 7), None);
        let l = Layout::new(30 * DAY, 8, 7).unwrap();
        assert_eq!(l.levels, 7);
        assert_eq!(l.width(7), l.bucket / 128);
    }

    #[test]
    fn buckets_are_left_open() {
        let l = Layout::new(8_000, 8, 0).unwrap();
        assert_eq!(l.bucket, 1_000);
        assert_eq!(l.bucket_of(1_000), 0);
        assert_eq!(l.bucket_of(1_001), 1);
        assert_eq!(l.bucket_of(0), -1);
        assert_eq!(l.bucket_of(-999), -1);
        assert_eq!(l.bucket_of(-1_000), -2);
        assert_eq!(l.slot(-1), 7);
    }

    #[test]
    fn left_part_is_the_edge_leaf_plus_siblings() {
        // Bucket 0 = (0, 1024], 3 levels, leaves of 128.
        let l = Layout {
            range: 8_192,
            bucket: 1_024,
            slots: 8,
            levels: 3,
        };
        for e in 1..=1_024 {
            let j = l.leaf_of(0, e);
            assert!(j * 128 < e && e <= (j + 1) * 128);
            // Pieces in time order: (e, leaf end], then siblings from level 3 up to 1.
            let mut covered = vec![(e, l.block_end(0, j, 3))];
            for m in (1..=3).rev() {
                if let Some(s) = l.sibling(0, j, m) {
                    covered.push((s, s + l.width(m)));
                }
            }
            for w in covered.windows(2) {
                assert_eq!(w[0].1, w[1].0, "contiguous at e={e}: {covered:?}");
            }
            assert_eq!(covered.last().unwrap().1, 1_024, "e={e}");
        }
        assert_eq!(l.first_changed_level(3, 3), 4);
        assert_eq!(l.first_changed_level(3, 4), 1);
        assert_eq!(l.first_changed_level(4, 5), 3);
        assert_eq!(l.first_changed_level(4, 6), 2);
    }
}

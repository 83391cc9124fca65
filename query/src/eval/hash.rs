//! A fast non-cryptographic hasher for the evaluator's grouping maps (label sets, match
//! signatures), in place of the default SipHash.
//!
//! This is the multiply-rotate "Fx" hash of rustc (`rustc-hash`), processing eight bytes at
//! a time. It is not DoS resistant; the maps it serves are built per query from label sets
//! already stored, and their iteration order is never observable (every user keeps its own
//! first-seen order in a `Vec`).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A `HashMap` using [`FxHasher`].
pub type FxHashMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// An empty [`FxHashMap`] with room for `n` entries.
pub fn map_with_capacity<K, V>(n: usize) -> FxHashMap<K, V> {
    FxHashMap::with_capacity_and_hasher(n, BuildHasherDefault::default())
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

/// The Fx hasher state.
#[derive(Clone, Copy, Debug, Default)]
pub struct FxHasher {
    hash: u64,
}

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            // The length keeps "a\0" and "a" apart.
            self.add(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::{BuildHasher, Hash};

    fn h<T: Hash>(v: &T) -> u64 {
        BuildHasherDefault::<FxHasher>::default().hash_one(v)
    }

    #[test]
    fn distinguishes_labels_and_strings() {
        assert_ne!(h(&"a"), h(&"b"));
        assert_ne!(h(&"ab"), h(&"a\0b"));
        assert_ne!(h(&("a", "bc")), h(&("ab", "c")));
        let mut m: FxHashMap<String, usize> = map_with_capacity(4);
        for (i, k) in ["x", "y", "xy", "abcdefghij"].iter().enumerate() {
            m.insert(k.to_string(), i);
        }
        assert_eq!(m.get("xy"), Some(&2));
        assert_eq!(m.get("abcdefghij"), Some(&3));
        assert_eq!(m.get("z"), None);
    }
}

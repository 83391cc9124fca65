//! Label sets: the identity of a series.
//!
//! A [`Labels`] is a set of `name="value"` pairs sorted by name with unique names; `__name__`
//! (the metric name) is an ordinary label. Strings are [`Sym`]s (shared, one pointer wide) so
//! that the head can intern them through a [`SymbolTable`]: a million series carrying
//! `job="api"` share one allocation, and each of their labels takes two words.
//!
//! Invariants of every `Labels` value: sorted by name (byte order), names unique and non-empty,
//! values non-empty (an empty value means "label absent", as in PromQL, and is dropped when a
//! set is built).

use std::collections::HashSet;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::error::{Error, Result};

/// The label that holds the metric name.
pub const METRIC_NAME: &str = "__name__";

/// A shared immutable string, one pointer wide (`Arc<str>` takes two words; a label holds
/// two strings and a head holds millions of labels). Cloning is a reference count; strings
/// interned by a [`SymbolTable`] share one allocation. Compares, orders and hashes as its
/// `str`.
#[derive(Clone)]
pub struct Sym(Arc<Box<str>>);

impl Sym {
    /// A new (not interned) string.
    pub fn new(s: &str) -> Sym {
        Sym(Arc::new(Box::from(s)))
    }

    /// The string.
    #[inline]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True if both are the same allocation (then they are equal).
    #[inline]
    pub fn ptr_eq(a: &Sym, b: &Sym) -> bool {
        Arc::ptr_eq(&a.0, &b.0)
    }

    /// Number of holders of this allocation.
    pub fn strong_count(s: &Sym) -> usize {
        Arc::strong_count(&s.0)
    }
}

impl std::ops::Deref for Sym {
    type Target = str;
    #[inline]
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Sym {
    #[inline]
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for Sym {
    #[inline]
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq for Sym {
    #[inline]
    fn eq(&self, other: &Sym) -> bool {
        Sym::ptr_eq(self, other) || self.as_str() == other.as_str()
    }
}

impl Eq for Sym {}

impl PartialEq<str> for Sym {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Sym {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialOrd for Sym {
    fn partial_cmp(&self, other: &Sym) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Sym {
    #[inline]
    fn cmp(&self, other: &Sym) -> std::cmp::Ordering {
        if Sym::ptr_eq(self, other) {
            std::cmp::Ordering::Equal
        } else {
            self.as_str().cmp(other.as_str())
        }
    }
}

impl std::hash::Hash for Sym {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl fmt::Display for Sym {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl fmt::Debug for Sym {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl From<&str> for Sym {
    fn from(s: &str) -> Sym {
        Sym::new(s)
    }
}

impl From<String> for Sym {
    fn from(s: String) -> Sym {
        Sym(Arc::new(s.into_boxed_str()))
    }
}

impl From<&String> for Sym {
    fn from(s: &String) -> Sym {
        Sym::new(s)
    }
}

/// One `name="value"` pair.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label {
    /// Label name.
    pub name: Sym,
    /// Label value (never empty inside a [`Labels`]).
    pub value: Sym,
}

impl Label {
    /// Builds a label from two strings.
    pub fn new(name: &str, value: &str) -> Label {
        Label {
            name: name.into(),
            value: value.into(),
        }
    }

    /// True if both name and value are the same allocations as `other`'s (interned
    /// strings): then the labels are equal, without reading a byte. False says nothing.
    #[inline]
    pub fn same_alloc(&self, other: &Label) -> bool {
        Sym::ptr_eq(&self.name, &other.name) && Sym::ptr_eq(&self.value, &other.value)
    }
}

impl fmt::Debug for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={:?}", self.name, self.value)
    }
}

/// A sorted set of labels; see the module docs for its invariants.
///
/// The labels live in one shared allocation: cloning a set (which every query does for every
/// series it selects, and again for each result) is one reference-count increment.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Labels(Arc<[Label]>);

impl Default for Labels {
    fn default() -> Labels {
        Labels::empty()
    }
}

impl Labels {
    /// The empty label set.
    pub fn empty() -> Labels {
        Labels(Arc::from(Vec::new()))
    }

    /// Builds a set from pairs in any order. Empty values are dropped; an empty name or a name
    /// given twice is an error.
    pub fn from_pairs<N: AsRef<str>, V: AsRef<str>>(pairs: &[(N, V)]) -> Result<Labels> {
        let labels = pairs
            .iter()
            .filter(|(_, v)| !v.as_ref().is_empty())
            .map(|(n, v)| Label::new(n.as_ref(), v.as_ref()))
            .collect();
        Labels::from_vec(labels)
    }

    /// Builds a set from labels in any order, with the same checks as [`Labels::from_pairs`].
    pub fn from_vec(mut labels: Vec<Label>) -> Result<Labels> {
        labels.retain(|l| !l.value.is_empty());
        labels.sort_by(|a, b| a.name.cmp(&b.name));
        for w in labels.windows(2) {
            if w[0].name == w[1].name {
                return Err(Error::InvalidLabels(format!(
                    "duplicate label name {:?}",
                    &*w[0].name
                )));
            }
        }
        if let Some(l) = labels.iter().find(|l| l.name.is_empty()) {
            return Err(Error::InvalidLabels(format!(
                "empty label name (value {:?})",
                &*l.value
            )));
        }
        Ok(Labels(labels.into()))
    }

    /// Builds a set from labels already sorted by unique, non-empty names with non-empty
    /// values. Panics in debug builds if they are not.
    pub fn from_sorted_unchecked(labels: Vec<Label>) -> Labels {
        debug_assert!(labels.windows(2).all(|w| w[0].name < w[1].name));
        debug_assert!(labels
            .iter()
            .all(|l| !l.name.is_empty() && !l.value.is_empty()));
        Labels(labels.into())
    }

    /// The value of `name`, or `None` if the label is absent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|l| (*l.name).cmp(name))
            .ok()
            .map(|i| &*self.0[i].value)
    }

    /// The metric name (`__name__`), if any.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    /// The `__name__` label if it is the first label (it sorts first unless a label name
    /// starts with an upper-case letter), read without a search. A set whose first label is
    /// the very same allocation ([`Label::same_alloc`]) has the same name.
    pub fn leading_name(&self) -> Option<&Label> {
        self.0.first().filter(|l| &*l.name == METRIC_NAME)
    }

    /// True if the first label is the very same allocation as `label` ([`Label::same_alloc`]):
    /// then this set leads with that label, known without reading a byte.
    pub fn leads_with(&self, label: &Label) -> bool {
        self.0.first().is_some_and(|l| l.same_alloc(label))
    }

    /// Iterates the labels in name order.
    pub fn iter(&self) -> std::slice::Iter<'_, Label> {
        self.0.iter()
    }

    /// The labels as a slice, in name order.
    pub fn as_slice(&self) -> &[Label] {
        &self.0
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True if there are no labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The sorted labels as a vector of their own (the strings stay shared).
    pub fn into_vec(self) -> Vec<Label> {
        self.0.to_vec()
    }

    /// Returns a copy with `name` set to `value` (removed if `value` is empty).
    pub fn with(&self, name: &str, value: &str) -> Labels {
        let mut v = self.0.to_vec();
        match v.binary_search_by(|l| (*l.name).cmp(name)) {
            Ok(i) if value.is_empty() => {
                v.remove(i);
            }
            Ok(i) => v[i].value = value.into(),
            Err(_) if value.is_empty() => {}
            Err(i) => v.insert(i, Label::new(name, value)),
        }
        Labels(v.into())
    }

    /// Returns a copy without the named label.
    pub fn without(&self, name: &str) -> Labels {
        match self.0.binary_search_by(|l| (*l.name).cmp(name)) {
            // One allocation of the exact size (a chain of two slices has a known length).
            Ok(i) => Labels(
                self.0[..i]
                    .iter()
                    .chain(&self.0[i + 1..])
                    .cloned()
                    .collect(),
            ),
            Err(_) => self.clone(),
        }
    }

    /// Returns a copy keeping only labels for which `keep` is true.
    pub fn retain(&self, mut keep: impl FnMut(&str) -> bool) -> Labels {
        Labels(self.0.iter().filter(|l| keep(&l.name)).cloned().collect())
    }

    /// True if the set equals the borrowed `(name, value)` pairs once pairs with an empty
    /// value are skipped (as building a set drops them). Pairs must be in name order to
    /// compare equal; nothing is allocated.
    pub fn eq_pairs(&self, pairs: &[(&str, &str)]) -> bool {
        let mut mine = self.0.iter();
        for &(n, v) in pairs {
            if v.is_empty() {
                continue;
            }
            match mine.next() {
                Some(l) if *l.name == *n && *l.value == *v => {}
                _ => return false,
            }
        }
        mine.next().is_none()
    }

    /// True if the set is exactly `pairs`: names and values as bytes, in name order, none
    /// empty (the form a writer has before checking that the bytes are UTF-8).
    pub fn eq_byte_pairs(&self, pairs: &[(&[u8], &[u8])]) -> bool {
        self.0.len() == pairs.len()
            && self
                .0
                .iter()
                .zip(pairs)
                .all(|(l, &(n, v))| l.name.as_bytes() == n && l.value.as_bytes() == v)
    }

    /// A stable 64-bit hash of the set (xxh3 over names and values with separators). Equal sets
    /// hash equally across processes and versions; it is safe to persist.
    pub fn stable_hash(&self) -> u64 {
        hash_pairs(self.0.iter().map(|l| (&*l.name, &*l.value)))
    }
}

/// The stable hash of sorted `(name, value)` pairs, equal to [`Labels::stable_hash`] of the same
/// set. Lets callers hash borrowed labels without building a [`Labels`].
///
/// The digest is xxh3 over `name 0xff value 0xff` for every pair. Label sets up to
/// [`HASH_STACK_BYTES`] bytes are laid out in a stack buffer and hashed in one shot (much
/// cheaper than streaming four small updates per label); longer ones are streamed. Both give
/// the same digest, since xxh3's streaming digest equals the one-shot hash of the
/// concatenated input.
pub fn hash_pairs<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> u64 {
    hash_byte_pairs(pairs.map(|(n, v)| (n.as_bytes(), v.as_bytes())))
}

/// [`hash_pairs`] of names and values given as bytes (the same digest for the same bytes).
pub fn hash_byte_pairs<'a>(mut pairs: impl Iterator<Item = (&'a [u8], &'a [u8])>) -> u64 {
    let mut buf = [0u8; HASH_STACK_BYTES];
    let mut len = 0;
    while let Some((n, v)) = pairs.next() {
        let end = len + n.len() + v.len() + 2;
        if end > HASH_STACK_BYTES {
            let mut h = xxhash_rust::xxh3::Xxh3::new();
            h.update(&buf[..len]);
            for (n, v) in std::iter::once((n, v)).chain(pairs) {
                h.update(n);
                h.update(&[0xff]);
                h.update(v);
                h.update(&[0xff]);
            }
            return h.digest();
        }
        buf[len..len + n.len()].copy_from_slice(n);
        len += n.len();
        buf[len] = 0xff;
        buf[len + 1..end - 1].copy_from_slice(v);
        buf[end - 1] = 0xff;
        len = end;
    }
    xxhash_rust::xxh3::xxh3_64(&buf[..len])
}

/// Label sets whose hashed form (names, values, two separators per label) fits in this many
/// bytes are hashed in one shot from the stack by [`hash_pairs`].
const HASH_STACK_BYTES: usize = 512;

impl PartialOrd for Labels {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Orders label sets the way Prometheus does: label by label, name first, then value; a
/// shorter set that is a prefix of a longer one sorts first.
impl Ord for Labels {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        for (a, b) in self.0.iter().zip(other.0.iter()) {
            let c = a.name.cmp(&b.name).then_with(|| a.value.cmp(&b.value));
            if c.is_ne() {
                return c;
            }
        }
        self.0.len().cmp(&other.0.len())
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = &'a Label;
    type IntoIter = std::slice::Iter<'a, Label>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Prints in PromQL notation: `name{a="b", c="d"}` (or `{...}` without a name).
impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.metric_name();
        if let Some(n) = name {
            f.write_str(n)?;
        }
        let rest: Vec<&Label> = self.0.iter().filter(|l| &*l.name != METRIC_NAME).collect();
        if rest.is_empty() && name.is_some() {
            return Ok(());
        }
        f.write_str("{")?;
        for (i, l) in rest.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}={:?}", l.name, &*l.value)?;
        }
        f.write_str("}")
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Checks a metric or label name under Prometheus 3's default (UTF-8) validation scheme: any
/// non-empty valid UTF-8 string. `&str` is UTF-8 by construction, so only emptiness is checked
/// here; callers holding bytes must check UTF-8 first.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
}

/// Checks a metric name against the legacy scheme `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_legacy_metric_name(name: &str) -> bool {
    let mut b = name.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_' || c == b':')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':')
}

/// Checks a label name against the legacy scheme `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_legacy_label_name(name: &str) -> bool {
    let mut b = name.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// Hasher of hash maps keyed by strings or by hashes (the head's series map, the symbol
/// table, the ingest paths' per-request intern maps): xxh3 keyed with a per-process random
/// seed, one round per `write`. Much cheaper than the default SipHash; the seed keeps
/// senders, who choose label sets and values and can compute unkeyed hashes offline, from
/// steering many keys into one probe sequence. Length prefixes and terminators (`usize`,
/// `u8`) are mixed in with one multiply instead of a second xxh3 round.
#[derive(Clone, Copy)]
pub struct KeyHasher(u64);

impl Default for KeyHasher {
    #[inline]
    fn default() -> Self {
        static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
        KeyHasher(*SEED.get_or_init(|| {
            use std::hash::BuildHasher;
            std::collections::hash_map::RandomState::new().hash_one(0x5354_5241_5441_u64)
        }))
    }
}

impl KeyHasher {
    #[inline]
    fn mix(&mut self, n: u64) {
        self.0 = (self.0 ^ n)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(29);
    }
}

impl Hasher for KeyHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        self.0 = xxhash_rust::xxh3::xxh3_64_with_seed(bytes, self.0);
    }
    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.write(&n.to_le_bytes());
    }
    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.mix(n as u64);
    }
    #[inline]
    fn write_u8(&mut self, n: u8) {
        self.mix(u64::from(n));
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

const SYMBOL_SHARDS: usize = 16;

/// Interned strings of one shard.
type Symbols = HashSet<Sym, BuildHasherDefault<KeyHasher>>;

/// Interns label strings so that equal strings share one allocation.
pub struct SymbolTable {
    shards: Vec<Mutex<Symbols>>,
}

impl Default for SymbolTable {
    fn default() -> Self {
        SymbolTable {
            shards: (0..SYMBOL_SHARDS)
                .map(|_| Mutex::new(Symbols::default()))
                .collect(),
        }
    }
}

impl SymbolTable {
    /// Returns the shared copy of `s`, adding it if new.
    pub fn intern(&self, s: &str) -> Sym {
        let shard = (xxhash_rust::xxh3::xxh3_64(s.as_bytes()) as usize) % SYMBOL_SHARDS;
        let mut set = self.shards[shard].lock();
        if let Some(a) = set.get(s) {
            return a.clone();
        }
        let a = Sym::new(s);
        set.insert(a.clone());
        a
    }

    /// Number of distinct strings held.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }

    /// True if no string is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every string that nothing but the table holds any more (after series left the
    /// head and blocks were deleted). Returns how many were dropped.
    pub fn gc(&self) -> usize {
        let mut dropped = 0;
        for shard in &self.shards {
            let mut set = shard.lock();
            let before = set.len();
            set.retain(|s| Sym::strong_count(s) > 1);
            dropped += before - set.len();
        }
        dropped
    }

    /// Interns every string of `labels`.
    pub fn intern_labels(&self, labels: &Labels) -> Labels {
        Labels(
            labels
                .iter()
                .map(|l| Label {
                    name: self.intern(&l.name),
                    value: self.intern(&l.value),
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syms_compare_order_and_hash_as_their_strings() {
        use std::hash::{BuildHasher, Hash};
        assert_eq!(
            std::mem::size_of::<Label>(),
            2 * std::mem::size_of::<usize>()
        );
        let (a, b, a2) = (
            Sym::new("api"),
            Sym::from("web".to_string()),
            Sym::new("api"),
        );
        assert!(a == a2 && !Sym::ptr_eq(&a, &a2));
        assert!(a < b && b > a2 && a.cmp(&a2).is_eq());
        assert!(a == "api" && a == *"api" && &*a == "api" && a.len() == 3);
        let h = std::hash::RandomState::new();
        let hash = |x: &dyn Fn(&mut std::hash::DefaultHasher)| {
            let mut s = h.build_hasher();
            x(&mut s);
            std::hash::Hasher::finish(&s)
        };
        assert_eq!(hash(&|s| a.hash(s)), hash(&|s| "api".hash(s)));
        let set: HashSet<Sym> = [a.clone(), b.clone()].into_iter().collect();
        assert!(set.contains("web") && !set.contains("db"));
        assert_eq!(format!("{a} {a:?}"), "api \"api\"");
    }

    #[test]
    fn sorts_drops_empty_and_rejects_duplicates() {
        let l = Labels::from_pairs(&[("b", "2"), ("a", "1"), ("c", "")]).unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(l.as_slice()[0].name.as_ref(), "a");
        assert_eq!(l.get("b"), Some("2"));
        assert_eq!(l.get("c"), None);
        assert!(Labels::from_pairs(&[("a", "1"), ("a", "2")]).is_err());
        assert!(Labels::from_pairs(&[("", "1")]).is_err());
    }

    #[test]
    fn hash_is_stable_and_order_independent() {
        let a = Labels::from_pairs(&[("b", "2"), ("a", "1")]).unwrap();
        let b = Labels::from_pairs(&[("a", "1"), ("b", "2")]).unwrap();
        assert_eq!(a.stable_hash(), b.stable_hash());
        // Separators keep ("ab","c") and ("a","bc") apart.
        let c = Labels::from_pairs(&[("ab", "c")]).unwrap();
        let d = Labels::from_pairs(&[("a", "bc")]).unwrap();
        assert_ne!(c.stable_hash(), d.stable_hash());
        // Pinned value: persisted hashes must not change between versions.
        assert_eq!(
            Labels::from_pairs(&[("__name__", "up")])
                .unwrap()
                .stable_hash(),
            hash_pairs([("__name__", "up")].into_iter())
        );
    }

    /// The streaming reference: what `hash_pairs` computed before the one-shot fast path.
    fn streamed(pairs: &[(&str, &str)]) -> u64 {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        for (n, v) in pairs {
            h.update(n.as_bytes());
            h.update(&[0xff]);
            h.update(v.as_bytes());
            h.update(&[0xff]);
        }
        h.digest()
    }

    #[test]
    fn one_shot_hash_equals_streamed_hash_at_every_length() {
        let long = "v".repeat(700);
        for len in [
            0usize, 1, 100, 250, 254, 255, 256, 300, 509, 510, 511, 512, 513, 700,
        ] {
            let v = "x".repeat(len);
            let sets: [Vec<(&str, &str)>; 3] = [
                vec![("__name__", "up"), ("a", &v)],
                vec![("__name__", &v), ("b", "1"), ("c", &long)],
                vec![("a", &v), ("b", &v), ("c", "z")],
            ];
            for p in &sets {
                assert_eq!(hash_pairs(p.iter().copied()), streamed(p), "len {len}");
            }
        }
        assert_eq!(hash_pairs(std::iter::empty()), streamed(&[]));
        // Pinned digest: persisted hashes must not change between versions.
        assert_eq!(
            hash_pairs([("__name__", "up")].into_iter()),
            xxhash_rust::xxh3::xxh3_64(b"__name__\xffup\xff")
        );
    }

    #[test]
    fn eq_pairs_skips_empty_values() {
        let l = Labels::from_pairs(&[("__name__", "up"), ("job", "api")]).unwrap();
        assert!(l.eq_pairs(&[("__name__", "up"), ("job", "api")]));
        assert!(l.eq_pairs(&[("__name__", "up"), ("a", ""), ("job", "api"), ("z", "")]));
        assert!(!l.eq_pairs(&[("__name__", "up")]));
        assert!(!l.eq_pairs(&[("__name__", "up"), ("job", "api"), ("k", "v")]));
        assert!(!l.eq_pairs(&[("job", "api"), ("__name__", "up")]));
        assert!(!l.eq_pairs(&[("__name__", "up"), ("job", "apI")]));
        assert!(Labels::empty().eq_pairs(&[("a", "")]));
    }

    #[test]
    fn with_and_display() {
        let l = Labels::from_pairs(&[("__name__", "up"), ("job", "api")]).unwrap();
        assert_eq!(l.to_string(), "up{job=\"api\"}");
        assert_eq!(l.without("__name__").to_string(), "{job=\"api\"}");
        assert_eq!(l.with("a", "x").get("a"), Some("x"));
        assert_eq!(l.with("job", "").len(), 1);
    }

    #[test]
    fn legacy_names() {
        assert!(is_legacy_metric_name("a:b_c9"));
        assert!(!is_legacy_metric_name("9a"));
        assert!(is_legacy_label_name("_a9"));
        assert!(!is_legacy_label_name("a:b"));
        assert!(!is_valid_name(""));
    }

    #[test]
    fn interning_shares() {
        let t = SymbolTable::default();
        let a = t.intern("job");
        let b = t.intern("job");
        assert!(Sym::ptr_eq(&a, &b));
        assert_eq!(t.len(), 1);
    }

    /// Many strings: each interned once, shared on every lookup, and dropped by `gc` once
    /// only the table holds it.
    #[test]
    fn interning_many_and_gc() {
        let t = SymbolTable::default();
        let held: Vec<Sym> = (0..5000).map(|i| t.intern(&format!("pod-{i}"))).collect();
        for i in (0..10_000).rev() {
            let s = format!("pod-{}", i % 5000);
            let a = t.intern(&s);
            assert_eq!(&*a, s.as_str());
            assert!(Sym::ptr_eq(&a, &held[i % 5000]));
        }
        for i in 0..1000 {
            drop(t.intern(&format!("gone-{i}")));
        }
        t.intern("");
        assert_eq!(t.len(), 6001);
        assert_eq!(t.gc(), 1001);
        assert_eq!(t.len(), 5000);
        assert!(Sym::ptr_eq(&t.intern("pod-42"), &held[42]));
        drop(held);
        assert_eq!(t.gc(), 5000);
        assert!(t.is_empty());
    }
}

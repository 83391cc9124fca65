//! Label validation shared by remote write v1/v2 and the text format: raw `(name, value)`
//! byte pairs borrowed from the request are checked and become `&str` pairs (or a reason why
//! the series is rejected).
//!
//! Rules (reference remote-write.md section 5): unsorted labels are sorted, not rejected;
//! duplicate names, empty names, a missing or empty `__name__`, invalid UTF-8 and oversized
//! names, values or label counts reject the series; empty values are dropped. Names follow
//! Prometheus 3's default UTF-8 validation scheme (any non-empty UTF-8 string).
//!
//! Remote write builds nothing to validate: [`check`] takes the raw pairs as they are, the
//! series is looked up by their bytes (`Db::lookup_bytes`: a series the database holds had
//! its labels validated when it was created), and only for a series it does not hold do
//! [`utf8_pairs`] check the bytes and yield `&str` pairs borrowed from the request, from
//! which [`Labels`] are built (or returned, by `decode`).

use std::fmt::Write as _;
use std::hash::{BuildHasherDefault, Hasher};

use strata_engine::{KeyHasher, METRIC_NAME};

use crate::limits::Limits;

/// Why a series was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reject {
    TooManyLabels {
        count: usize,
        limit: usize,
    },
    EmptyName,
    NameTooLong {
        len: usize,
        limit: usize,
    },
    ValueTooLong {
        name: String,
        len: usize,
        limit: usize,
    },
    InvalidUtf8Name,
    InvalidUtf8Value {
        name: String,
    },
    Duplicate(String),
    MissingName,
    /// Any other reason (v2 symbol references that do not resolve, empty series).
    Other(String),
}

impl std::fmt::Display for Reject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reject::TooManyLabels { count, limit } => {
                write!(f, "{count} labels, more than the limit of {limit}")
            }
            Reject::EmptyName => f.write_str("empty label name"),
            Reject::NameTooLong { len, limit } => {
                write!(
                    f,
                    "label name of {len} bytes is longer than the limit of {limit}"
                )
            }
            Reject::ValueTooLong { name, len, limit } => write!(
                f,
                "value of label {name:?} is {len} bytes, longer than the limit of {limit}"
            ),
            Reject::InvalidUtf8Name => f.write_str("invalid UTF-8 in label name"),
            Reject::InvalidUtf8Value { name } => {
                write!(f, "invalid UTF-8 in value of label {name:?}")
            }
            Reject::Duplicate(n) => write!(f, "duplicate label name {n:?}"),
            Reject::MissingName => f.write_str("missing metric name (__name__ label)"),
            Reject::Other(s) => f.write_str(s),
        }
    }
}

/// Builds the per-request intern maps' hashers: keys are attacker-chosen bytes, so an
/// unkeyed fast hash (FxHash) would let a crafted request collide every label value and
/// turn each lookup into a linear scan; [`KeyHasher`]'s secret seed prevents building such
/// collisions offline, at a few ns per short string.
pub(crate) type KeyedBuild = BuildHasherDefault<KeyHasher>;

/// A hasher for keys that already are keyed 64-bit hashes: passes the value through.
#[derive(Default, Clone, Copy)]
pub(crate) struct PrehashedHasher(u64);

impl Hasher for PrehashedHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys are hashed with this hasher; fold anything else in anyway.
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.0 ^= n;
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Builds [`PrehashedHasher`]s.
pub(crate) type PrehashedBuild = BuildHasherDefault<PrehashedHasher>;

/// One label as found on the wire: borrowed bytes, plus the v2 symbol refs they came from
/// (unused for v1 and text).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RawLabel<'a> {
    pub(crate) name: &'a [u8],
    pub(crate) value: &'a [u8],
    pub(crate) refs: (u32, u32),
}

impl<'a> RawLabel<'a> {
    /// A label without symbol refs.
    pub(crate) fn new(name: &'a [u8], value: &'a [u8]) -> Self {
        RawLabel {
            name,
            value,
            refs: (u32::MAX, u32::MAX),
        }
    }
}

/// The checks of a label set that need no string building: label count, empty and oversized
/// names and values, order (sorting `raw` in place if needed), duplicate names, and a
/// non-empty `__name__`. UTF-8 is checked by the callers, label by label in name order,
/// skipping empty values.
pub(crate) fn check(raw: &mut [RawLabel<'_>], count: usize, limits: &Limits) -> Result<(), Reject> {
    if count > limits.max_labels_per_series {
        return Err(Reject::TooManyLabels {
            count,
            limit: limits.max_labels_per_series,
        });
    }
    let mut sorted = true;
    let mut prev: &[u8] = b"";
    for (i, l) in raw.iter().enumerate() {
        if l.name.is_empty() {
            return Err(Reject::EmptyName);
        }
        if l.name.len() > limits.max_label_name_bytes {
            return Err(Reject::NameTooLong {
                len: l.name.len(),
                limit: limits.max_label_name_bytes,
            });
        }
        if l.value.len() > limits.max_label_value_bytes {
            return Err(Reject::ValueTooLong {
                name: String::from_utf8_lossy(l.name).into_owned(),
                len: l.value.len(),
                limit: limits.max_label_value_bytes,
            });
        }
        if i > 0 && !strictly_after(l.name, prev) {
            sorted = false;
        }
        prev = l.name;
    }
    if !sorted {
        raw.sort_unstable_by(|a, b| a.name.cmp(b.name));
        if let Some(w) = raw.windows(2).find(|w| w[0].name == w[1].name) {
            return Err(Reject::Duplicate(
                String::from_utf8_lossy(w[0].name).into_owned(),
            ));
        }
    }
    match raw.binary_search_by(|l| l.name.cmp(METRIC_NAME.as_bytes())) {
        Ok(i) if !raw[i].value.is_empty() => {}
        _ => return Err(Reject::MissingName),
    }
    Ok(())
}

/// Validates `raw` exactly as [`LabelBuilder::build`] does (same checks, same order, same
/// reasons) and, if valid, appends its labels to `out` as `&str` pairs borrowed from the
/// request, in name order, without the labels whose value is empty: what
/// `strata_engine::Db::resolve` takes. Nothing is allocated or interned. On error `out` is
/// left as it was. (Remote write runs its two steps apart: [`check`], then [`utf8_pairs`]
/// for series the database does not hold.)
#[cfg(test)]
pub(crate) fn validate_pairs<'a>(
    raw: &mut [RawLabel<'a>],
    count: usize,
    limits: &Limits,
    out: &mut Vec<(&'a str, &'a str)>,
) -> Result<(), Reject> {
    check(raw, count, limits)?;
    utf8_pairs(raw, out)
}

/// The UTF-8 part of [`validate_pairs`], for labels [`check`] accepted (and sorted): appends
/// them to `out` as `&str` pairs, without the labels whose value is empty; on error `out` is
/// left as it was.
pub(crate) fn utf8_pairs<'a>(
    raw: &[RawLabel<'a>],
    out: &mut Vec<(&'a str, &'a str)>,
) -> Result<(), Reject> {
    let start = out.len();
    for l in raw.iter() {
        if l.value.is_empty() {
            continue;
        }
        let Ok(name) = std::str::from_utf8(l.name) else {
            out.truncate(start);
            return Err(Reject::InvalidUtf8Name);
        };
        let Ok(value) = std::str::from_utf8(l.value) else {
            out.truncate(start);
            return Err(Reject::InvalidUtf8Value {
                name: name.to_string(),
            });
        };
        out.push((name, value));
    }
    Ok(())
}

/// `a > b` in byte order, deciding on the first byte when it differs (the common case for
/// label names) without a `memcmp` call.
#[inline]
fn strictly_after(a: &[u8], b: &[u8]) -> bool {
    match (a.first(), b.first()) {
        (Some(x), Some(y)) if x != y => x > y,
        _ => a > b,
    }
}

/// Renders raw pairs for an error message (`name{a="b", ...}`), lossily and truncated.
pub(crate) fn describe(raw: &[RawLabel<'_>], count: usize) -> String {
    const MAX: usize = 200;
    let mut s = String::new();
    if let Some(l) = raw.iter().find(|l| l.name == METRIC_NAME.as_bytes()) {
        s.push_str(&String::from_utf8_lossy(l.value));
    }
    s.push('{');
    let mut first = true;
    for &RawLabel {
        name: n, value: v, ..
    } in raw.iter().filter(|l| l.name != METRIC_NAME.as_bytes())
    {
        if s.len() > MAX {
            break;
        }
        if !first {
            s.push_str(", ");
        }
        first = false;
        let _ = write!(
            s,
            "{}={:?}",
            String::from_utf8_lossy(n),
            String::from_utf8_lossy(v)
        );
    }
    if s.len() > MAX || count > raw.len() {
        let mut cut = MAX.min(s.len());
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str(", ...");
    }
    s.push('}');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_engine::{Label, Labels};

    fn raw<'a>(pairs: &[(&'a [u8], &'a [u8])]) -> Vec<RawLabel<'a>> {
        pairs.iter().map(|&(n, v)| RawLabel::new(n, v)).collect()
    }

    /// Validates through [`validate_pairs`] (the steps `decode` and `write` run) and builds
    /// the label set the way `decode` does; on an error, `out` is left as it was.
    fn build(pairs: &[(&[u8], &[u8])]) -> Result<Labels, Reject> {
        let mut raw = raw(pairs);
        let n = raw.len();
        let mut out = vec![("before", "x")];
        match validate_pairs(&mut raw, n, &Limits::default(), &mut out) {
            Ok(()) => Ok(Labels::from_sorted_unchecked(
                out[1..].iter().map(|&(n, v)| Label::new(n, v)).collect(),
            )),
            Err(e) => {
                assert_eq!(out, vec![("before", "x")], "left as it was");
                Err(e)
            }
        }
    }

    #[test]
    fn sorts_and_drops_empty_values() {
        let l = build(&[(b"job", b"a"), (b"__name__", b"up"), (b"env", b"")]).unwrap();
        assert_eq!(l.to_string(), "up{job=\"a\"}");
        assert_eq!(l.len(), 2);
    }

    #[test]
    fn rejections() {
        assert_eq!(build(&[(b"job", b"a")]), Err(Reject::MissingName));
        assert_eq!(
            build(&[(b"__name__", b""), (b"job", b"a")]),
            Err(Reject::MissingName)
        );
        assert_eq!(
            build(&[(b"__name__", b"x"), (b"", b"a")]),
            Err(Reject::EmptyName)
        );
        assert_eq!(
            build(&[(b"__name__", b"x"), (b"a", b"1"), (b"a", b"2")]),
            Err(Reject::Duplicate("a".into()))
        );
        assert_eq!(
            build(&[(b"__name__", b"x"), (b"a\xff", b"1")]),
            Err(Reject::InvalidUtf8Name)
        );
        assert_eq!(
            build(&[(b"__name__", b"x"), (b"a", b"\xc3")]),
            Err(Reject::InvalidUtf8Value { name: "a".into() })
        );
        let long = vec![b'v'; 5000];
        assert!(matches!(
            build(&[(b"__name__", b"x"), (b"a", &long)]),
            Err(Reject::ValueTooLong { .. })
        ));
        let mut one = raw(&[(b"__name__", b"x")]);
        let e =
            validate_pairs(&mut one, 1_000_000, &Limits::default(), &mut Vec::new()).unwrap_err();
        assert!(e.to_string().contains("more than the limit of 128"), "{e}");
    }

    #[test]
    fn describe_is_bounded() {
        let v = vec![b'x'; 1000];
        let d = describe(&raw(&[(b"__name__", b"up"), (b"a", &v)]), 2);
        assert!(d.len() < 260, "{}", d.len());
        assert!(d.starts_with("up{a="));
    }
}

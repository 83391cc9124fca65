//! Label matchers with Prometheus semantics.
//!
//! - `=` / `!=` compare the whole value; `=~` / `!~` use a regex anchored at both ends
//!   (`^(?:re)$`), with `.` matching newlines as in Prometheus.
//! - A matcher on a label a series does not have sees the empty string, so `{a=""}` and
//!   `{a!~".+"}` match series without `a`, and `{a!="x"}` matches them too.

use std::collections::HashMap;
use std::fmt;

use regex::Regex;

use crate::error::{Error, Result};

/// The four matcher operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MatchOp {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~`
    Regex,
    /// `!~`
    NotRegex,
}

impl MatchOp {
    /// The operator as written in PromQL.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        }
    }
}

/// One label matcher, e.g. `job=~"api|web"`.
#[derive(Clone)]
pub struct Matcher {
    /// Label name.
    pub name: String,
    /// Operator.
    pub op: MatchOp,
    /// The value or the regex source as written (unanchored).
    pub value: String,
    re: Option<Regex>,
}

/// Compiled regexes kept for reuse: a query's matchers are built on every request (a
/// dashboard asks the same `status=~"5.."` again and again) and compiling one costs tens of
/// microseconds, more than answering a cached range query. A `Regex` clone shares the
/// compiled program. The map is cleared when it reaches [`REGEX_CACHE_ENTRIES`].
static REGEX_CACHE: std::sync::OnceLock<parking_lot::Mutex<HashMap<String, Regex>>> =
    std::sync::OnceLock::new();

/// Most regexes [`REGEX_CACHE`] holds.
const REGEX_CACHE_ENTRIES: usize = 1_024;

/// Longest regex source that is cached (longer ones, e.g. generated alternations of many
/// values, are compiled every time and not held).
const REGEX_CACHE_MAX_LEN: usize = 4_096;

/// The anchored regex of a matcher value, compiled or from [`REGEX_CACHE`].
fn compiled(value: &str) -> Result<Regex> {
    let cache = REGEX_CACHE.get_or_init(Default::default);
    if let Some(re) = cache.lock().get(value) {
        return Ok(re.clone());
    }
    let re = regex::RegexBuilder::new(&format!("^(?:{value})$"))
        .dot_matches_new_line(true)
        .build()
        .map_err(|e| Error::InvalidMatcher(format!("invalid regular expression {value:?}: {e}")))?;
    if value.len() <= REGEX_CACHE_MAX_LEN {
        let mut c = cache.lock();
        if c.len() >= REGEX_CACHE_ENTRIES {
            c.clear();
        }
        c.insert(value.to_string(), re.clone());
    }
    Ok(re)
}

impl Matcher {
    /// Builds a matcher; fails on an invalid regex.
    pub fn new(op: MatchOp, name: impl Into<String>, value: impl Into<String>) -> Result<Matcher> {
        let value = value.into();
        let re = match op {
            MatchOp::Regex | MatchOp::NotRegex => Some(compiled(&value)?),
            _ => None,
        };
        Ok(Matcher {
            name: name.into(),
            op,
            value,
            re,
        })
    }

    /// Shorthand for an `=` matcher.
    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Matcher {
        Matcher::new(MatchOp::Equal, name, value).expect("equality matchers cannot fail")
    }

    /// Does `value` (the empty string for an absent label) satisfy the matcher?
    pub fn matches(&self, value: &str) -> bool {
        match self.op {
            MatchOp::Equal => value == self.value,
            MatchOp::NotEqual => value != self.value,
            MatchOp::Regex => self.re.as_ref().is_some_and(|r| r.is_match(value)),
            MatchOp::NotRegex => !self.re.as_ref().is_some_and(|r| r.is_match(value)),
        }
    }

    /// True if the matcher accepts the empty string, i.e. also matches series that lack the
    /// label.
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }
}

impl PartialEq for Matcher {
    fn eq(&self, o: &Self) -> bool {
        self.name == o.name && self.op == o.op && self.value == o.value
    }
}

impl Eq for Matcher {}

impl fmt::Debug for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{:?}", self.name, self.op.as_str(), self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(op: MatchOp, v: &str) -> Matcher {
        Matcher::new(op, "a", v).unwrap()
    }

    #[test]
    fn semantics_table() {
        use MatchOp::*;
        // (op, pattern, value seen (""=absent), expected)
        let table: &[(MatchOp, &str, &str, bool)] = &[
            (Equal, "x", "x", true),
            (Equal, "x", "xy", false),
            (Equal, "", "", true),
            (Equal, "", "x", false),
            (NotEqual, "x", "x", false),
            (NotEqual, "x", "", true),
            (NotEqual, "", "", false),
            (NotEqual, "", "x", true),
            (Regex, "x", "x", true),
            (Regex, "x", "xx", false),
            (Regex, "x", "ax", false),
            (Regex, "a|b", "b", true),
            (Regex, "a|b", "ab", false),
            (Regex, ".*", "", true),
            (Regex, ".+", "", false),
            (Regex, "", "", true),
            (Regex, ".*", "a\nb", true),
            (NotRegex, ".+", "", true),
            (NotRegex, ".+", "x", false),
            (NotRegex, "x", "xx", true),
            (NotRegex, "a|b", "a", false),
            (Regex, "(?i)API", "api", true),
        ];
        for &(op, pat, val, want) in table {
            assert_eq!(m(op, pat).matches(val), want, "{op:?} {pat:?} on {val:?}");
        }
    }

    #[test]
    fn bad_regex_is_error() {
        assert!(Matcher::new(MatchOp::Regex, "a", "(").is_err());
        // Again, now that valid regexes around it were cached: still an error.
        assert!(Matcher::new(MatchOp::Regex, "a", "(").is_err());
    }

    #[test]
    fn cached_regexes_match_as_compiled_ones() {
        // The same source through the cache many times, and more sources than the cache
        // holds (it is cleared and refilled): every matcher matches as its own regex does.
        for round in 0..2 {
            for i in 0..(REGEX_CACHE_ENTRIES + 10) {
                let m = Matcher::new(MatchOp::Regex, "a", format!("v{i}|x")).unwrap();
                assert!(m.matches(&format!("v{i}")), "round {round}, {i}");
                assert!(m.matches("x"));
                assert!(!m.matches(&format!("v{}", i + 1)));
                let n = Matcher::new(MatchOp::NotRegex, "a", format!("v{i}|x")).unwrap();
                assert!(!n.matches("x"));
            }
        }
        assert!(REGEX_CACHE.get().unwrap().lock().len() <= REGEX_CACHE_ENTRIES);
    }

    #[test]
    fn display() {
        assert_eq!(m(MatchOp::NotRegex, "a.*").to_string(), "a!~\"a.*\"");
    }
}

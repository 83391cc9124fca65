//! Label matchers with Prometheus semantics.
//!
//! - `=` / `!=` compare the whole value; `=~` / `!~` use a regex anchored at both ends
//!   (`^(?:re)$`), with `.` matching newlines as in Prometheus.
//! - A matcher on a label a series does not have sees the empty string, so `{a=""}` and
//!   `{a!~".+"}` match series without `a`, and `{a!="x"}` matches them too.

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

impl Matcher {
    /// Builds a matcher; fails on an invalid regex.
    pub fn new(op: MatchOp, name: impl Into<String>, value: impl Into<String>) -> Result<Matcher> {
        let value = value.into();
        let re = match op {
            MatchOp::Regex | MatchOp::NotRegex => Some(
                regex::RegexBuilder::new(&format!("^(?:{value})$"))
                    .dot_matches_new_line(true)
                    .build()
                    .map_err(|e| {
                        Error::InvalidMatcher(format!("invalid regular expression {value:?}: {e}"))
                    })?,
            ),
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
    }

    #[test]
    fn display() {
        assert_eq!(m(MatchOp::NotRegex, "a.*").to_string(), "a!~\"a.*\"");
    }
}

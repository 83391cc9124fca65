//! The query list: one PromQL expression per line, blank lines and lines starting with `#`
//! ignored. `$AT` in a query is replaced by a whole-second Unix time inside the data (for
//! `@` modifiers), chosen by the runner.

use std::fmt;

/// One query of the list.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    /// Line number in the file (1-based).
    pub line: usize,
    /// The text, placeholders not yet substituted.
    pub text: String,
}

impl Query {
    /// The text with `$AT` replaced by `at` (Unix seconds).
    pub fn expand(&self, at: i64) -> String {
        self.text.replace("$AT", &at.to_string())
    }

    /// Whether an instant result's order is part of the answer: the whole expression is a
    /// call to `sort`/`sort_desc`, or an ungrouped `topk`/`bottomk`.
    pub fn ordered(&self) -> bool {
        match outer_call(self.text.trim()) {
            Some((name, rest)) => {
                rest.trim().is_empty() && matches!(name, "sort" | "sort_desc" | "topk" | "bottomk")
            }
            None => false,
        }
    }

    /// Whether the whole expression is a `topk`/`bottomk` (grouped or not): which of several
    /// tied series it keeps is unspecified, so the runner accepts answers that differ only
    /// by tied values.
    pub fn ranked(&self) -> bool {
        let q = self.text.trim();
        let name_len = ident_len(q);
        if !matches!(&q[..name_len], "topk" | "bottomk") {
            return false;
        }
        let mut rest = skip_grouping(q[name_len..].trim_start());
        if !rest.starts_with('(') {
            return false;
        }
        match after_parens(rest) {
            Some(r) => rest = r.trim_start(),
            None => return false,
        }
        let after = skip_grouping(rest);
        after.trim().is_empty() && (after.len() < rest.len() || rest.is_empty())
    }
}

/// Length of the identifier at the start of `q`.
fn ident_len(q: &str) -> usize {
    q.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(q.len())
}

/// Skips a leading `by (...)` or `without (...)` clause, if any.
fn skip_grouping(q: &str) -> &str {
    let n = ident_len(q);
    if matches!(&q[..n], "by" | "without") {
        let rest = q[n..].trim_start();
        if rest.starts_with('(') {
            if let Some(r) = after_parens(rest) {
                return r.trim_start();
            }
        }
    }
    q
}

/// A query file that cannot be used.
#[derive(Debug, PartialEq)]
pub struct QueryFileError(pub String);

impl fmt::Display for QueryFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for QueryFileError {}

/// Parses the query list.
pub fn parse_queries(text: &str) -> Result<Vec<Query>, QueryFileError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if out.iter().any(|q: &Query| q.text == t) {
            return Err(QueryFileError(format!(
                "line {}: duplicate query {t:?}",
                i + 1
            )));
        }
        out.push(Query {
            line: i + 1,
            text: t.to_string(),
        });
    }
    if out.is_empty() {
        return Err(QueryFileError("no queries".into()));
    }
    Ok(out)
}

/// If `q` starts with `name(`, returns the name and what follows the matching `)`.
fn outer_call(q: &str) -> Option<(&str, &str)> {
    let name_len = ident_len(q);
    let name = &q[..name_len];
    let rest = q[name_len..].trim_start();
    if name.is_empty() || !rest.starts_with('(') {
        return None;
    }
    Some((name, after_parens(rest)?))
}

/// `q` starts with `(`: returns what follows the matching `)`. Quotes (`"`, `'` with
/// backslash escapes, raw backticks) are skipped over.
fn after_parens(q: &str) -> Option<&str> {
    let bytes = q.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'(' => depth += 1,
            b')' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(&q[i + 1..]);
                }
            }
            quote @ (b'"' | b'\'' | b'`') => {
                i += 1;
                while i < bytes.len() && bytes[i] != quote {
                    if bytes[i] == b'\\' && quote != b'`' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(text: &str) -> Query {
        Query {
            line: 1,
            text: text.into(),
        }
    }

    #[test]
    fn parses_lines_and_comments() {
        let qs = parse_queries("# c\n\nup\n  rate(x[5m])  \n#x\n").unwrap();
        assert_eq!(qs.len(), 2);
        assert_eq!(qs[1], q("rate(x[5m])").clone_with_line(4));
        assert!(parse_queries("# nothing\n").is_err());
        assert!(parse_queries("up\nup\n").is_err());
    }

    impl Query {
        fn clone_with_line(mut self, line: usize) -> Query {
            self.line = line;
            self
        }
    }

    #[test]
    fn order_detection() {
        assert!(q("sort(up)").ordered());
        assert!(q("sort_desc (sum by (job) (up))").ordered());
        assert!(q("topk(3, rate(x[5m]))").ordered());
        assert!(q("bottomk(3, x{a=\")(\"})").ordered());
        assert!(!q("topk(3, x) by (job)").ordered());
        assert!(!q("topk by (job) (3, x)").ordered());
        assert!(!q("sort(up) + 1").ordered());
        assert!(!q("sum(up)").ordered());
        assert!(!q("up").ordered());
        assert!(!q("sort(up").ordered());
    }

    #[test]
    fn ranked_detection() {
        assert!(q("topk(3, x)").ranked());
        assert!(q("bottomk(3, x) by (job)").ranked());
        assert!(q("topk by (job) (1, x)").ranked());
        assert!(q("topk without (a) (1, sum by (a, b) (x))").ranked());
        assert!(!q("topk(3, x) + 1").ranked());
        assert!(!q("topk(3, x) by").ranked());
        assert!(!q("sort(x)").ranked());
        assert!(!q("sum(topk(3, x))").ranked());
    }

    #[test]
    fn at_placeholder() {
        assert_eq!(q("x @ $AT").expand(17), "x @ 17");
        assert_eq!(q("x").expand(17), "x");
    }
}

//! `label_replace` and `label_join`: label rewrites that keep `__name__`. Labels do not change
//! across steps, so each series is rewritten once; collisions are found by the caller.

use regex::Regex;
use strata_engine::Labels;

use crate::error::{Error, Result};

/// True if `name` is acceptable as a label name (UTF-8, non-empty, no replacement chars that
/// stand for invalid bytes in the query text).
pub fn valid_label_name(name: &str) -> bool {
    strata_engine::labels::is_valid_name(name) && !name.contains('\u{fffd}')
}

/// A compiled `label_replace` rule.
pub struct Replace {
    dst: String,
    replacement: String,
    src: String,
    re: Regex,
}

impl Replace {
    /// Validates and compiles the arguments.
    pub fn new(dst: &str, replacement: &str, src: &str, regex: &str) -> Result<Replace> {
        let re = Regex::new(&format!("^(?s:{regex})$")).map_err(|e| {
            Error::Execution(format!(
                "invalid regular expression in label_replace(): {regex}: {e}"
            ))
        })?;
        if !valid_label_name(dst) {
            return Err(Error::Execution(format!(
                "invalid destination label name in label_replace(): {dst}"
            )));
        }
        Ok(Replace {
            dst: dst.to_string(),
            replacement: replacement.to_string(),
            src: src.to_string(),
            re,
        })
    }

    /// Applies the rule to one label set.
    pub fn apply(&self, l: &Labels) -> Labels {
        let v = l.get(&self.src).unwrap_or("");
        match self.re.captures(v) {
            Some(caps) => {
                let mut out = String::new();
                caps.expand(&self.replacement, &mut out);
                l.with(&self.dst, &out)
            }
            None => l.clone(),
        }
    }
}

/// `label_join`: sets `dst` to the values of `srcs` joined by `sep` (missing labels are
/// empty strings; an empty result removes `dst`).
pub fn join(l: &Labels, dst: &str, sep: &str, srcs: &[String]) -> Labels {
    let joined = srcs
        .iter()
        .map(|s| l.get(s).unwrap_or(""))
        .collect::<Vec<_>>()
        .join(sep);
    l.with(dst, &joined)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_anchored_with_groups() {
        let l = Labels::from_pairs(&[("__name__", "m"), ("src", "source-value-10")]).unwrap();
        let r = Replace::new("dst", "destination-value-$1", "src", "source-value-(.*)").unwrap();
        assert_eq!(r.apply(&l).get("dst"), Some("destination-value-10"));
        // Not anchored partial match: no change.
        let r = Replace::new("dst", "x", "src", "value").unwrap();
        assert_eq!(r.apply(&l), l);
        // Empty result deletes dst.
        let r = Replace::new("src", "", "src", "(.*)").unwrap();
        assert_eq!(r.apply(&l).get("src"), None);
        assert!(Replace::new("dst", "", "src", "(.*").is_err());
        assert!(Replace::new("", "", "src", "(.*)").is_err());
    }

    #[test]
    fn join_values() {
        let l = Labels::from_pairs(&[("a", "1"), ("b", "2")]).unwrap();
        let j = join(&l, "d", "-", &["a".into(), "b".into(), "c".into()]);
        assert_eq!(j.get("d"), Some("1-2-"));
        let j = join(&l, "a", "", &[]);
        assert_eq!(j.get("a"), None);
    }
}

//! Expanding rule file patterns the way Prometheus does (`filepath.Glob`).
//!
//! Syntax, per path component: `*` matches any run of characters, `?` one character,
//! `[abc]`, `[a-z]` and `[^a-z]` a class, `\` escapes the next character. There is no `**`
//! and `*` never crosses a `/`. Matches come out sorted, component by component. Unlike
//! Prometheus, which silently ignores a listed file that does not exist, a pattern without
//! wildcards must name an existing file (a typo in `--rules` is an error, not an empty rule
//! set); a wildcard pattern that matches nothing is allowed and yields no files.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// True if `s` contains glob syntax.
pub fn has_meta(s: &str) -> bool {
    s.contains(['*', '?', '[', '\\'])
}

/// Expands one pattern into the paths it matches, sorted.
pub fn expand(pattern: &str) -> Result<Vec<PathBuf>> {
    let bad = |msg: &str| Error::Pattern {
        pattern: pattern.to_string(),
        msg: msg.to_string(),
    };
    if pattern.is_empty() {
        return Err(bad("empty pattern"));
    }
    if !has_meta(pattern) {
        let p = PathBuf::from(pattern);
        return if p.exists() {
            Ok(vec![p])
        } else {
            Err(bad("no such file"))
        };
    }
    let absolute = pattern.starts_with('/');
    let mut current: Vec<PathBuf> = vec![if absolute {
        PathBuf::from("/")
    } else {
        PathBuf::new()
    }];
    let parts: Vec<&str> = pattern.split('/').filter(|p| !p.is_empty()).collect();
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        // Check the component's syntax even if nothing is listed.
        component_match(part, "").map_err(|()| bad("syntax error in pattern"))?;
        let mut next = Vec::new();
        for dir in &current {
            if !has_meta(part) {
                let p = dir.join(unescape(part));
                if last && !p.exists() {
                    continue;
                }
                next.push(p);
                continue;
            }
            let list_dir: &Path = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            let Ok(entries) = std::fs::read_dir(list_dir) else {
                continue;
            };
            let mut names: Vec<String> = entries
                .filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .collect();
            names.sort();
            for name in names {
                if component_match(part, &name).map_err(|()| bad("syntax error in pattern"))? {
                    next.push(dir.join(&name));
                }
            }
        }
        current = next;
    }
    Ok(current)
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Matches one path component against one pattern component; `Err` on bad syntax.
fn component_match(pattern: &str, name: &str) -> std::result::Result<bool, ()> {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    check_syntax(&p)?;
    Ok(match_from(&p, &n))
}

fn check_syntax(p: &[char]) -> std::result::Result<(), ()> {
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '\\' => {
                if i + 1 >= p.len() {
                    return Err(());
                }
                i += 2;
            }
            '[' => i = class_end(p, i).ok_or(())?,
            _ => i += 1,
        }
    }
    Ok(())
}

/// Index just past the class starting at `p[start] == '['`, or None if unclosed or empty.
fn class_end(p: &[char], start: usize) -> Option<usize> {
    let mut i = start + 1;
    if p.get(i) == Some(&'^') {
        i += 1;
    }
    let first = i;
    while i < p.len() {
        match p[i] {
            ']' if i > first => return Some(i + 1),
            ']' => return None,
            '\\' => i += 2,
            _ => i += 1,
        }
    }
    None
}

fn class_matches(class: &[char], c: char) -> bool {
    let (negate, body) = match class.first() {
        Some('^') => (true, &class[1..]),
        _ => (false, class),
    };
    let mut i = 0;
    let mut hit = false;
    while i < body.len() {
        let mut lo = body[i];
        if lo == '\\' && i + 1 < body.len() {
            i += 1;
            lo = body[i];
        }
        let mut hi = lo;
        if i + 2 < body.len() && body[i + 1] == '-' {
            hi = body[i + 2];
            if hi == '\\' && i + 3 < body.len() {
                hi = body[i + 3];
                i += 1;
            }
            i += 2;
        }
        if lo <= c && c <= hi {
            hit = true;
        }
        i += 1;
    }
    hit != negate
}

fn match_from(p: &[char], n: &[char]) -> bool {
    let (mut pi, mut ni) = (0usize, 0usize);
    // Backtracking point for the last `*`: (pattern index after it, name index).
    let mut star: Option<(usize, usize)> = None;
    loop {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi + 1, ni));
                    pi += 1;
                    continue;
                }
                '?' if ni < n.len() => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                '[' if ni < n.len() => {
                    let end = class_end(p, pi).unwrap_or(p.len());
                    if class_matches(&p[pi + 1..end - 1], n[ni]) {
                        pi = end;
                        ni += 1;
                        continue;
                    }
                }
                '\\' if ni < n.len() && pi + 1 < p.len() && p[pi + 1] == n[ni] => {
                    pi += 2;
                    ni += 1;
                    continue;
                }
                c if c != '?' && c != '[' && c != '\\' && ni < n.len() && c == n[ni] => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                _ => {}
            }
        } else if ni == n.len() {
            return true;
        }
        match star {
            Some((sp, sn)) if sn < n.len() => {
                star = Some((sp, sn + 1));
                pi = sp;
                ni = sn + 1;
            }
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, n: &str) -> bool {
        component_match(p, n).unwrap()
    }

    #[test]
    fn matches_like_filepath_match() {
        assert!(m("*.yml", "a.yml"));
        assert!(m("*.yml", ".yml"));
        assert!(!m("*.yml", "a.yaml"));
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "ac"));
        assert!(m("[a-c]x", "bx"));
        assert!(!m("[^a-c]x", "bx"));
        assert!(m("[^a-c]x", "dx"));
        assert!(m("a\\*b", "a*b"));
        assert!(!m("a\\*b", "axb"));
        assert!(m("*a*b*", "xxaxxbxx"));
        assert!(!m("*a*b", "xxaxxbxx"));
        assert!(m("*", ""));
        assert!(component_match("[a-", "x").is_err());
        assert!(component_match("[]", "x").is_err());
        assert!(component_match("a\\", "x").is_err());
    }

    #[test]
    fn expands_sorted_and_checks_literals() {
        let d = tempfile::tempdir().unwrap();
        for f in ["b.yml", "a.yml", "c.yaml"] {
            std::fs::write(d.path().join(f), "groups: []\n").unwrap();
        }
        std::fs::create_dir(d.path().join("sub")).unwrap();
        std::fs::write(d.path().join("sub/x.yml"), "").unwrap();
        let root = d.path().to_str().unwrap();
        let got = expand(&format!("{root}/*.yml")).unwrap();
        assert_eq!(got, vec![d.path().join("a.yml"), d.path().join("b.yml")]);
        let got = expand(&format!("{root}/*/*.yml")).unwrap();
        assert_eq!(got, vec![d.path().join("sub/x.yml")]);
        assert!(expand(&format!("{root}/*.json")).unwrap().is_empty());
        assert_eq!(
            expand(&format!("{root}/a.yml")).unwrap(),
            vec![d.path().join("a.yml")]
        );
        let e = expand(&format!("{root}/nope.yml")).unwrap_err().to_string();
        assert!(e.ends_with("no such file"), "{e}");
        let e = expand(&format!("{root}/[a.yml")).unwrap_err().to_string();
        assert!(e.ends_with("syntax error in pattern"), "{e}");
    }
}

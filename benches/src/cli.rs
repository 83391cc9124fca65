//! Command-line option parsing shared by the benchmark binaries: `--name value` or
//! `--name=value` pairs, every option taking a value.

use std::collections::HashMap;

/// Parses `--name value` (or `--name=value`) pairs, accepting only `allowed` names, each once.
pub fn parse_opts(args: &[String], allowed: &[&str]) -> Result<HashMap<String, String>, String> {
    let mut out = HashMap::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let name = a
            .strip_prefix("--")
            .ok_or_else(|| format!("unexpected argument {a:?}"))?;
        let (name, value) = match name.split_once('=') {
            Some((n, v)) => (n.to_string(), v.to_string()),
            None => {
                let v = it.next().ok_or_else(|| format!("--{name} needs a value"))?;
                (name.to_string(), v.clone())
            }
        };
        if !allowed.contains(&name.as_str()) {
            return Err(format!("unknown option --{name}"));
        }
        if out.insert(name.clone(), value).is_some() {
            return Err(format!("--{name} given twice"));
        }
    }
    Ok(out)
}

/// The parsed value of option `name`, or `default`; an error if it is missing without a
/// default or does not parse.
pub fn opt<T: std::str::FromStr>(
    opts: &HashMap<String, String>,
    name: &str,
    default: Option<T>,
) -> Result<T, String> {
    match opts.get(name) {
        Some(v) => v
            .parse()
            .map_err(|_| format!("--{name}: invalid value {v:?}")),
        None => default.ok_or_else(|| format!("--{name} is required")),
    }
}

/// Reads a `--queries` file: lines `NAME PROMQL` (blank lines and `#` comments skipped);
/// an error if it holds none.
pub fn read_queries(path: &str) -> Result<Vec<(String, String)>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("--queries {path}: {e}"))?;
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, q) = line
            .split_once(char::is_whitespace)
            .ok_or_else(|| format!("--queries {path}: line {line:?} is not NAME PROMQL"))?;
        out.push((name.to_string(), q.trim().to_string()));
    }
    if out.is_empty() {
        return Err(format!("--queries {path}: no queries"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn options_parse_and_reject() {
        let o = parse_opts(&args("--series 10 --out=/tmp/x"), &["series", "out"]).unwrap();
        assert_eq!(opt::<usize>(&o, "series", None).unwrap(), 10);
        assert_eq!(
            opt::<PathBuf>(&o, "out", None).unwrap(),
            PathBuf::from("/tmp/x")
        );
        assert_eq!(opt::<usize>(&o, "batch-series", Some(2000)).unwrap(), 2000);
        assert!(opt::<usize>(&o, "hours", None).is_err());
        assert!(parse_opts(&args("--series"), &["series"]).is_err());
        assert!(parse_opts(&args("--bogus 1"), &["series"]).is_err());
        assert!(parse_opts(&args("--series 1 --series 2"), &["series"]).is_err());
        assert!(parse_opts(&args("series 1"), &["series"]).is_err());
        let o = parse_opts(&args("--series ten"), &["series"]).unwrap();
        assert!(opt::<usize>(&o, "series", None).is_err());
    }
}

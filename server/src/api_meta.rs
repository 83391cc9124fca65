//! Metadata endpoints: `/series`, `/labels`, `/label/<name>/values`, `/status/*`, and the
//! fixed answers Grafana needs (`/metadata`, `/rules`, `/alerts`, `/query_exemplars`).
//!
//! `match[]` selectors are parsed with the PromQL parser and must be plain vector selectors
//! with at least one matcher that does not match the empty string. Several `match[]` are a
//! union. `start`/`end` default to Prometheus's min/max time. Results are sorted and
//! de-duplicated; `limit` truncates them and adds the warning `results truncated due to limit`.
//! The union is collected into a set that never holds more than `limit + 1` entries (the
//! smallest so far), so the merged result is bounded by `limit` however many series match;
//! each `match[]` set itself is still listed whole by the engine.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::sync::Arc;

use strata_engine::{Labels, Matcher};
use strata_query::parser::ast::Expr;

use crate::body::{json_ok, Resp};
use crate::error::{Error, Result};
use crate::json;
use crate::params::{parse_limit, parse_time, Params, MAX_TIME_MS, MIN_TIME_MS};
use crate::router::{blocking, State};

/// The Prometheus version reported to clients (Grafana needs a semver >= 2.24.0 to use
/// `/labels?match[]`).
pub const PROMETHEUS_COMPAT_VERSION: &str = "2.53.0";

/// Prometheus's message for a `match[]` whose matchers all match the empty string.
const EMPTY_MATCHERS: &str = "match[] must contain at least one non-empty matcher";

/// The warning added when `limit` cut a result.
const TRUNCATED: &str = "results truncated due to limit";

/// A success reply with fixed `data`.
pub fn fixed(data: &str) -> Resp {
    json_ok(json::success(data, &[], &[]))
}

/// `/api/v1/status/buildinfo`. No `features` key: Grafana would take it for Mimir.
pub fn buildinfo() -> Resp {
    let mut d = String::from("{\"version\":");
    json::write_str(&mut d, PROMETHEUS_COMPAT_VERSION);
    d.push_str(",\"revision\":\"\",\"branch\":\"\",\"buildUser\":\"\",\"buildDate\":\"\",\"goVersion\":\"\",\"strataVersion\":");
    json::write_str(&mut d, env!("CARGO_PKG_VERSION"));
    d.push('}');
    fixed(&d)
}

/// `/api/v1/query_exemplars`: validates the parameters, returns no exemplars.
pub fn query_exemplars(p: Params) -> Result<Resp> {
    time_range(&p)?;
    if let Some(q) = p.get_nonempty("query") {
        strata_query::parser::parse(q).map_err(|e| Error::BadData(e.to_string()))?;
    }
    Ok(fixed("[]"))
}

/// An optional time parameter as Prometheus's `parseTimeParam` reads it: `default` when
/// absent, and errors worded `invalid parameter "start": invalid time value for 'start': ...`.
pub fn time_param(p: &Params, name: &str, default: i64) -> Result<i64> {
    match p.get_nonempty(name) {
        None => Ok(default),
        Some(v) => parse_time(v).map_err(|e| {
            invalid_param(
                name,
                Error::BadData(format!("invalid time value for '{name}': {e}")),
            )
        }),
    }
}

/// `invalid parameter "<name>": <err>`.
pub fn invalid_param(name: &str, e: Error) -> Error {
    Error::BadData(format!("invalid parameter {name:?}: {e}"))
}

pub(crate) fn time_range(p: &Params) -> Result<(i64, i64)> {
    let start = time_param(p, "start", MIN_TIME_MS)?;
    let end = time_param(p, "end", MAX_TIME_MS)?;
    Ok((start, end))
}

/// Parses one `match[]` value into matchers.
pub fn parse_selector(s: &str) -> Result<Vec<Matcher>> {
    let expr = strata_query::parser::parse(s).map_err(|e| {
        let msg = e.to_string();
        // Prometheus parses `match[]` without the expression checks, so an all-empty
        // selector reaches its own check and gets this wording.
        if msg.ends_with("vector selector must contain at least one non-empty matcher") {
            Error::BadData(EMPTY_MATCHERS.into())
        } else {
            Error::BadData(msg)
        }
    })?;
    let vs = match expr {
        Expr::VectorSelector(vs) if vs.offset == 0 && vs.at.is_none() => vs,
        _ => {
            return Err(Error::BadData(format!(
                "1:1: parse error: {s:?} is not a series selector"
            )))
        }
    };
    if vs.matchers.iter().all(|m| m.matches_empty()) {
        return Err(Error::BadData(EMPTY_MATCHERS.into()));
    }
    Ok(vs.matchers)
}

pub(crate) fn parse_selectors(p: &Params) -> Result<Vec<Vec<Matcher>>> {
    p.get_all("match[]")
        .into_iter()
        .map(parse_selector)
        .collect()
}

/// The smallest `limit + 1` distinct items seen (all of them with `limit` 0): enough to
/// answer with the first `limit` in order and to know whether more existed.
struct Smallest<T: Ord> {
    set: BTreeSet<T>,
    limit: usize,
}

impl<T: Ord> Smallest<T> {
    fn new(limit: usize) -> Smallest<T> {
        Smallest {
            set: BTreeSet::new(),
            limit,
        }
    }

    fn extend(&mut self, items: impl IntoIterator<Item = T>) {
        for x in items {
            if self.limit == 0 || self.set.len() <= self.limit {
                self.set.insert(x);
            } else if self.set.last().is_some_and(|m| x < *m) && self.set.insert(x) {
                self.set.pop_last();
            }
        }
    }

    /// The first `limit` items in order, with the truncation warning if there were more.
    fn finish(self, warnings: &mut Vec<String>) -> Vec<T> {
        let mut v: Vec<T> = self.set.into_iter().collect();
        if self.limit > 0 && v.len() > self.limit {
            v.truncate(self.limit);
            warnings.push(TRUNCATED.into());
        }
        v
    }
}

/// `/api/v1/series`.
pub async fn series(state: &Arc<State>, p: Params) -> Result<Resp> {
    if p.get_all("match[]").is_empty() {
        return Err(Error::BadData("no match[] parameter provided".into()));
    }
    let limit = parse_limit(&p)?;
    let (start, end) = time_range(&p)?;
    let sets = parse_selectors(&p)?;
    let db = state.db.clone();
    let mut warnings = Vec::new();
    let found: Smallest<Labels> = blocking(move || {
        let mut all = Smallest::new(limit);
        for m in &sets {
            all.extend(db.series_labels(m, start, end));
        }
        Ok(all)
    })
    .await?;
    let found = found.finish(&mut warnings);
    let mut d = String::with_capacity(found.len() * 64 + 2);
    d.push('[');
    for (i, l) in found.iter().enumerate() {
        if i > 0 {
            d.push(',');
        }
        json::write_labels(&mut d, l);
    }
    d.push(']');
    Ok(json_ok(json::success(&d, &warnings, &[])))
}

/// `/api/v1/labels`.
pub async fn labels(state: &Arc<State>, p: Params) -> Result<Resp> {
    let limit = parse_limit(&p)?;
    let (start, end) = time_range(&p)?;
    let sets = parse_selectors(&p)?;
    let db = state.db.clone();
    let names = blocking(move || {
        let mut all = Smallest::new(limit);
        if sets.is_empty() {
            all.extend(db.label_names(&[], start, end)?);
        }
        for m in &sets {
            all.extend(db.label_names(m, start, end)?);
        }
        Ok(all)
    })
    .await?;
    string_list(names)
}

/// `/api/v1/label/<name>/values`.
pub async fn label_values(state: &Arc<State>, path: &str, p: Params) -> Result<Resp> {
    let raw = path
        .strip_prefix("/api/v1/label/")
        .and_then(|r| r.strip_suffix("/values"))
        .unwrap_or("");
    let raw = crate::params::percent_decode(raw)?;
    let name = unescape_label_name(&raw);
    if name.is_empty() || name.contains('/') {
        return Err(Error::BadData(format!("invalid label name: {raw:?}")));
    }
    let limit = parse_limit(&p)?;
    let (start, end) = time_range(&p)?;
    let sets = parse_selectors(&p)?;
    let db = state.db.clone();
    let values = blocking(move || {
        let mut all = Smallest::new(limit);
        if sets.is_empty() {
            all.extend(db.label_values(&name, &[], start, end)?);
        }
        for m in &sets {
            all.extend(db.label_values(&name, m, start, end)?);
        }
        Ok(all)
    })
    .await?;
    string_list(values)
}

fn string_list(items: Smallest<String>) -> Result<Resp> {
    let mut warnings = Vec::new();
    let items = items.finish(&mut warnings);
    let mut d = String::new();
    json::write_str_array(&mut d, &items);
    Ok(json_ok(json::success(&d, &warnings, &[])))
}

/// Undoes the `U__` escaping of label names in URLs (http-api.md 2.3): after the prefix,
/// `__` is `_` and `_<hex>_` is the character with that code point (at most six hex digits).
/// As in Prometheus, a name without the prefix, or whose escaping is malformed, is taken
/// literally.
pub fn unescape_label_name(s: &str) -> String {
    unescape_values(s).unwrap_or_else(|| s.to_string())
}

fn unescape_values(s: &str) -> Option<String> {
    let rest = s.strip_prefix("U__")?;
    let mut out = String::with_capacity(rest.len());
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '_' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'_') {
            chars.next();
            out.push('_');
            continue;
        }
        let mut hex = String::new();
        loop {
            match chars.next() {
                Some('_') if !hex.is_empty() => break,
                Some(h) if h.is_ascii_hexdigit() && hex.len() < 6 => hex.push(h),
                _ => return None,
            }
        }
        let cp = u32::from_str_radix(&hex, 16).ok()?;
        out.push(char::from_u32(cp)?);
    }
    Some(out)
}

/// `/api/v1/status/tsdb`: head statistics and cardinality, computed from every series.
pub async fn tsdb_status(state: &Arc<State>, p: Params) -> Result<Resp> {
    let limit = match p.get_nonempty("limit") {
        None => 10,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=10_000).contains(&n) => n,
            _ => {
                return Err(Error::BadData(
                    "limit must be a positive number less than or equal to 10000".into(),
                ))
            }
        },
    };
    let db = state.db.clone();
    let data = blocking(move || {
        // Everything comes from the inverted index; no series or chunk is read.
        let stats = db.stats();
        let by_metric: HashMap<String, u64> = db
            .postings_counts("__name__")
            .into_iter()
            .map(|(v, n)| (v, n as u64))
            .collect();
        let value_counts: HashMap<String, u64> = db
            .label_value_counts()
            .into_iter()
            .map(|(name, n)| (name, n as u64))
            .collect();
        let mut memory: HashMap<String, u64> = HashMap::new();
        let mut by_pair: HashMap<String, u64> = HashMap::new();
        for name in value_counts.keys() {
            let counts = db.postings_counts(name);
            memory.insert(
                name.clone(),
                counts.iter().map(|(v, _)| v.len() as u64).sum(),
            );
            for (value, n) in counts {
                by_pair.insert(format!("{name}={value}"), n as u64);
            }
        }
        let mut d = String::new();
        let _ = write!(
            d,
            "{{\"headStats\":{{\"numSeries\":{},\"numLabelPairs\":{},\
             \"chunkCount\":{},\"minTime\":{},\"maxTime\":{}}}",
            stats.series,
            by_pair.len(),
            stats.chunks,
            stats.min_time.unwrap_or(i64::MAX),
            stats.max_time.unwrap_or(i64::MIN),
        );
        for (key, map) in [
            ("seriesCountByMetricName", &by_metric),
            ("labelValueCountByLabelName", &value_counts),
            ("memoryInBytesByLabelName", &memory),
            ("seriesCountByLabelValuePair", &by_pair),
        ] {
            let _ = write!(d, ",\"{key}\":");
            write_top(&mut d, map, limit);
        }
        d.push('}');
        Ok(d)
    })
    .await?;
    Ok(json_ok(json::success(&data, &[], &[])))
}

/// Writes the `limit` largest entries as `[{"name":..,"value":..}]`, largest first, ties by
/// name.
fn write_top(out: &mut String, map: &HashMap<String, u64>, limit: usize) {
    let mut v: Vec<(&String, &u64)> = map.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    v.truncate(limit);
    out.push('[');
    for (i, (name, value)) in v.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"name\":");
        json::write_str(out, name);
        let _ = write!(out, ",\"value\":{value}}}");
    }
    out.push(']');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_u_names() {
        assert_eq!(
            unescape_label_name("U__http_2e_status__code"),
            "http.status_code"
        );
        assert_eq!(unescape_label_name("U__a__b"), "a_b");
        assert_eq!(unescape_label_name("U___1f600_"), "\u{1f600}");
        assert_eq!(unescape_label_name("job"), "job");
        // Malformed escapes are taken literally, as Prometheus does.
        for bad in ["U__x_zz_", "U__x_2e", "U__x_110000_", "U__x__", "U__a_"] {
            let want = if bad == "U__x__" { "x_" } else { bad };
            assert_eq!(unescape_label_name(bad), want);
        }
    }

    #[test]
    fn smallest_keeps_the_first_limit_items_and_flags_more() {
        let items = [9, 3, 7, 3, 1, 8, 2, 5];
        for limit in 0..10 {
            let mut s = Smallest::new(limit);
            s.extend(items[..4].iter().copied());
            s.extend(items[4..].iter().copied());
            assert!(
                limit == 0 || s.set.len() <= limit + 1,
                "holds at most limit + 1"
            );
            let mut w = Vec::new();
            let got = s.finish(&mut w);
            let mut want: Vec<i32> = BTreeSet::from(items).into_iter().collect();
            let cut = limit > 0 && want.len() > limit;
            if cut {
                want.truncate(limit);
            }
            assert_eq!(got, want, "limit {limit}");
            assert_eq!(w.len(), usize::from(cut), "limit {limit}");
        }
    }

    #[test]
    fn top_is_sorted_and_limited() {
        let mut m = HashMap::new();
        m.insert("a".to_string(), 1);
        m.insert("b".to_string(), 3);
        m.insert("c".to_string(), 3);
        let mut s = String::new();
        write_top(&mut s, &m, 2);
        assert_eq!(s, r#"[{"name":"b","value":3},{"name":"c","value":3}]"#);
    }
}

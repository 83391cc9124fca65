//! Prometheus text exposition format (0.0.4) import, tolerating OpenMetrics 1.0 bodies.
//!
//! Grammar and rules: reference text-format.md. Behaviour chosen for an import endpoint:
//! - Every sample line is one sample of the series named by the *sample* name (`x_bucket`,
//!   `x_sum`, ...). Lines for the same series (for example a backfill with several
//!   timestamps) are appended in line order.
//! - Timestamps are integer milliseconds. If the body is OpenMetrics (its last non-empty line
//!   is `# EOF`), timestamps are seconds as OpenMetrics specifies (fractions allowed) and are
//!   rounded to the nearest millisecond. Samples without a timestamp get `default_ts_ms`.
//! - `le` labels of histogram families and `quantile` labels of summary families are
//!   normalised as Prometheus 3 does (`le="1"` is stored as `le="1.0"`).
//! - Any syntax error rejects the whole body with its 1-based line number; nothing is stored.
//!   Samples more than [`Limits::max_future_ms`] ahead of the clock and samples the engine
//!   rejects (out of order, duplicate timestamp) are reported in the summary instead.
//! - OpenMetrics exemplars (`# {...} v ts` after a sample) are skipped; `_created` samples
//!   are stored as ordinary series, as Prometheus historically did; `UNIT` lines and comments
//!   are ignored. HELP and TYPE are checked for syntax but metadata is not stored yet.

use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

use strata_engine::{Batch, Db, Label, Labels, Sample, Sym, METRIC_NAME};

use crate::error::{Error, Result};
use crate::limits::Limits;
use crate::metadata::{MetadataSet, MetricMetadata, MetricType};
use crate::remote_write::now_ms;
use crate::summary::{ImportSummary, Problems};
use crate::validate::{KeyedBuild, PrehashedBuild};

/// A parsed text-format body, ready to append.
#[derive(Debug, Default)]
pub struct ParsedText {
    /// Series and samples, series in order of first appearance, samples in line order.
    pub series: Vec<(Labels, Vec<Sample>)>,
    /// Samples dropped while parsing (too far in the future).
    pub samples_rejected: u64,
    /// Why samples were dropped.
    pub problems: Vec<String>,
    /// Metadata from `TYPE`, `HELP` and `UNIT` lines, one entry per family.
    pub metadata: Vec<MetricMetadata>,
}

/// Parses a text-format body. `now_ms` is the clock for the future-timestamp check.
///
/// Errors: [`Error::BodyTooLarge`] if `body` exceeds [`Limits::max_decoded_bytes`];
/// [`Error::Text`] with the first offending line for any syntax or label error.
pub fn parse_text(
    body: &[u8],
    default_ts_ms: i64,
    limits: &Limits,
    now_ms: i64,
) -> Result<ParsedText> {
    if body.len() > limits.max_decoded_bytes {
        return Err(Error::BodyTooLarge {
            what: "text body",
            size: body.len() as u64,
            limit: limits.max_decoded_bytes as u64,
        });
    }
    let text = std::str::from_utf8(body).map_err(|e| {
        let line = 1 + body[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        Error::Text {
            line,
            msg: "invalid UTF-8".into(),
        }
    })?;
    let openmetrics = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .is_some_and(|l| l.trim() == "# EOF");
    let max_t = now_ms.saturating_add(limits.max_future_ms);
    let mut p = Parser {
        limits,
        openmetrics,
        family: None,
        metadata: MetadataSet::default(),
        index: HashMap::default(),
        collisions: HashMap::default(),
        strings: HashSet::default(),
        series: Vec::new(),
    };
    let mut problems = Problems::default();
    let mut rejected = 0u64;
    let mut eof_line = None;
    for (i, raw) in text.split('\n').enumerate() {
        let line_no = i + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let t = line.trim_matches(WS);
        if t.is_empty() {
            continue;
        }
        if let Some(eof) = eof_line {
            return Err(Error::Text {
                line: line_no,
                msg: format!("content after \"# EOF\" on line {eof}"),
            });
        }
        let fail = |msg: String| Error::Text { line: line_no, msg };
        if let Some(rest) = t.strip_prefix('#') {
            if p.meta_line(rest).map_err(fail)? {
                eof_line = Some(line_no);
            }
            continue;
        }
        let (labels, sample) = p.sample_line(t, default_ts_ms).map_err(fail)?;
        if sample.t > max_t {
            rejected += 1;
            problems.push(|| {
                format!(
                    "line {line_no}: series {labels}: sample timestamp {} is too far in the \
                     future (limit {max_t})",
                    sample.t
                )
            });
            continue;
        }
        p.add(labels, sample);
    }
    Ok(ParsedText {
        metadata: p.metadata.into_vec(),
        series: p.series,
        samples_rejected: rejected,
        problems: problems.finish(),
    })
}

/// Imports a text-format body into `db`; see the module docs for the accepted format.
/// Samples without a timestamp get `default_ts_ms`.
///
/// Errors: size limit, any syntax error (nothing stored), or a storage failure. Rejected
/// samples are listed in [`ImportSummary::problems`].
pub fn import_text(
    db: &Db,
    body: &[u8],
    default_ts_ms: i64,
    limits: &Limits,
) -> Result<ImportSummary> {
    let parsed = parse_text(body, default_ts_ms, limits, now_ms())?;
    let mut out = ImportSummary {
        series: parsed.series.len() as u64,
        metadata: parsed.metadata,
        ..Default::default()
    };
    let mut problems = parsed.problems;
    if !parsed.series.is_empty() {
        let mut batch = Batch::new();
        for (l, s) in parsed.series {
            batch.push(l, s);
        }
        let report = db.append(&batch)?;
        let mut p = Problems::default();
        p.add_append_report(&report);
        problems.extend(p.finish());
        out.samples_imported = report.appended + report.duplicates;
        out.append = report;
    }
    out.problems = problems;
    Ok(out)
}

const WS: [char; 2] = [' ', '\t'];

struct Parser<'l> {
    limits: &'l Limits,
    openmetrics: bool,
    /// The family named by the last TYPE line and its type.
    family: Option<(String, MetricType)>,
    metadata: MetadataSet,
    /// Series index by keyed hash of the label set (cheap to rehash as it grows)...
    index: HashMap<u64, usize, PrehashedBuild>,
    /// ... and by label set for the (practically nonexistent) hash collisions.
    collisions: HashMap<Labels, usize, KeyedBuild>,
    /// Interned label strings (names and values repeat across lines).
    strings: HashSet<Sym, KeyedBuild>,
    series: Vec<(Labels, Vec<Sample>)>,
}

type LineResult<T> = std::result::Result<T, String>;

/// Splits off the first whitespace-separated token.
fn token(s: &str) -> (&str, &str) {
    let s = s.trim_start_matches(WS);
    match s.find(WS) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    }
}

fn is_metric_name(s: &str) -> bool {
    strata_engine::labels::is_legacy_metric_name(s)
}

impl Parser<'_> {
    /// Handles a line starting with `#` (given without it). Returns true for `# EOF`.
    fn meta_line(&mut self, rest: &str) -> LineResult<bool> {
        let (kw, after) = token(rest);
        match kw {
            "HELP" | "TYPE" | "UNIT" => {
                let after = after.trim_start_matches(WS);
                let (name, after): (Cow<'_, str>, &str) = if after.starts_with('"') {
                    // Text format 1.0: a quoted UTF-8 metric name.
                    let (n, end) = quoted_string(after, 0)?;
                    (n, &after[end..])
                } else {
                    let (n, a) = token(after);
                    if !n.is_empty() && !is_metric_name(n) {
                        return Err(format!("invalid metric name {n:?} in {kw} line"));
                    }
                    (Cow::Borrowed(n), a)
                };
                if name.is_empty() {
                    return Err(format!("{kw} line without a metric name"));
                }
                let name = &*name;
                match kw {
                    "TYPE" => {
                        let (word, extra) = token(after);
                        let Some(ty) = MetricType::from_text(word) else {
                            return Err(format!("unknown metric type {word:?} for {name}"));
                        };
                        if !extra.trim_matches(WS).is_empty() {
                            return Err(format!("unexpected text after the type of {name}"));
                        }
                        self.family = Some((name.to_string(), ty));
                        if let Some(m) = self.metadata.entry(name) {
                            m.metric_type = ty;
                        }
                    }
                    "HELP" => {
                        let help = unescape_help(after.trim_start_matches(WS));
                        if let Some(m) = self.metadata.entry(name) {
                            m.help = help;
                        }
                    }
                    _ => {
                        let (unit, _) = token(after);
                        if let Some(m) = self.metadata.entry(name) {
                            m.unit = unit.to_string();
                        }
                    }
                }
                Ok(false)
            }
            "EOF" if after.trim_matches(WS).is_empty() => Ok(true),
            _ => Ok(false), // A comment.
        }
    }

    /// Parses `name[{labels}] value [timestamp] [# exemplar]`.
    fn sample_line(&mut self, line: &str, default_ts: i64) -> LineResult<(Labels, Sample)> {
        let b = line.as_bytes();
        let mut i = 0;
        let mut pairs: Vec<(Cow<'_, str>, Cow<'_, str>)> = Vec::new();
        let mut name: Option<Cow<'_, str>> = None;
        if b[0] != b'{' {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b':') {
                i += 1;
            }
            let n = &line[..i];
            if !is_metric_name(n) {
                return Err(format!(
                    "invalid metric name at {:?}",
                    prefix(line, i.max(1) + 20)
                ));
            }
            name = Some(Cow::Borrowed(n));
        }
        if i < b.len() && b[i] == b'{' {
            i += 1;
            let mut first = true;
            loop {
                i = skip_ws(b, i);
                if i >= b.len() {
                    return Err("unterminated label set".into());
                }
                if b[i] == b'}' {
                    i += 1;
                    break;
                }
                if pairs.len() >= self.limits.max_labels_per_series {
                    return Err(format!(
                        "more than {} labels",
                        self.limits.max_labels_per_series
                    ));
                }
                let (lname, quoted, next) = if b[i] == b'"' {
                    let (s, n) = quoted_string(line, i)?;
                    (s, true, n)
                } else {
                    let start = i;
                    let mut j = i;
                    while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                        j += 1;
                    }
                    let n = &line[start..j];
                    if !strata_engine::labels::is_legacy_label_name(n) {
                        return Err(format!("invalid label name at offset {}", start + 1));
                    }
                    (Cow::Borrowed(n), false, j)
                };
                i = skip_ws(b, next);
                // `{"metric.name", a="b"}`: a quoted name alone is the metric name.
                if first && quoted && name.is_none() && i < b.len() && matches!(b[i], b',' | b'}') {
                    name = Some(lname);
                } else {
                    if i >= b.len() || b[i] != b'=' {
                        return Err(format!("expected '=' after label name {lname:?}"));
                    }
                    i = skip_ws(b, i + 1);
                    if i >= b.len() || b[i] != b'"' {
                        return Err(format!("expected '\"' to start the value of {lname:?}"));
                    }
                    let (value, n) = quoted_string(line, i)?;
                    pairs.push((lname, value));
                    i = skip_ws(b, n);
                }
                first = false;
                if i < b.len() && b[i] == b',' {
                    i += 1;
                } else if i >= b.len() || b[i] != b'}' {
                    return Err("expected ',' or '}' in label set".into());
                }
            }
        }
        let Some(name) = name else {
            return Err("missing metric name".into());
        };
        if i < b.len() && !matches!(b[i], b' ' | b'\t') {
            return Err(format!(
                "unexpected character {:?} after the metric name",
                line[i..].chars().next().unwrap_or(' ')
            ));
        }
        let (value_tok, rest) = token(&line[i..]);
        if value_tok.is_empty() {
            return Err(format!("missing value for {name}"));
        }
        let v = parse_float(value_tok).ok_or_else(|| format!("invalid value {value_tok:?}"))?;
        let (ts_tok, rest) = token(rest);
        let t = if ts_tok.is_empty() || ts_tok.starts_with('#') {
            default_ts
        } else {
            let t = self.parse_timestamp(ts_tok)?;
            let (extra, _) = token(rest);
            if !extra.is_empty() && !extra.starts_with('#') {
                return Err(format!("unexpected text {extra:?} after the timestamp"));
            }
            t
        };
        let labels = self.labels(name, pairs)?;
        Ok((labels, Sample { t, v }))
    }

    fn parse_timestamp(&self, tok: &str) -> LineResult<i64> {
        if self.openmetrics {
            let secs: f64 = tok
                .parse()
                .map_err(|_| format!("invalid timestamp {tok:?} (OpenMetrics: seconds)"))?;
            let ms = (secs * 1000.0).round();
            if !ms.is_finite() || ms.abs() >= 9.2e18 {
                return Err(format!("timestamp {tok:?} out of range"));
            }
            Ok(ms as i64)
        } else {
            tok.parse::<i64>()
                .map_err(|_| format!("invalid timestamp {tok:?} (expected integer milliseconds)"))
        }
    }

    /// Adds a sample to its series, creating the series on first sight.
    fn add(&mut self, labels: Labels, sample: Sample) {
        use std::hash::BuildHasher;
        let next = self.series.len();
        let h = KeyedBuild::default().hash_one(&labels);
        match self.index.entry(h) {
            Entry::Vacant(e) => {
                e.insert(next);
                self.series.push((labels, vec![sample]));
            }
            Entry::Occupied(e) if self.series[*e.get()].0 == labels => {
                self.series[*e.get()].1.push(sample);
            }
            Entry::Occupied(_) => match self.collisions.entry(labels) {
                Entry::Occupied(e) => self.series[*e.get()].1.push(sample),
                Entry::Vacant(e) => {
                    self.series.push((e.key().clone(), vec![sample]));
                    e.insert(next);
                }
            },
        }
    }

    /// The shared copy of `s`.
    fn intern(&mut self, s: &str) -> Sym {
        if let Some(a) = self.strings.get(s) {
            return a.clone();
        }
        let a = Sym::new(s);
        self.strings.insert(a.clone());
        a
    }

    fn labels(
        &mut self,
        name: Cow<'_, str>,
        pairs: Vec<(Cow<'_, str>, Cow<'_, str>)>,
    ) -> LineResult<Labels> {
        let lim = self.limits;
        if pairs.len() + 1 > lim.max_labels_per_series {
            return Err(format!("more than {} labels", lim.max_labels_per_series));
        }
        // Prometheus 3 normalises `le` of histogram and `quantile` of summary families.
        let normalise = match &self.family {
            Some((fam, MetricType::Histogram | MetricType::GaugeHistogram))
                if name.starts_with(fam.as_str()) =>
            {
                Some("le")
            }
            Some((fam, MetricType::Summary)) if name == fam.as_str() => Some("quantile"),
            _ => None,
        };
        let mut v = Vec::with_capacity(pairs.len() + 1);
        if name.len() > lim.max_label_value_bytes {
            return Err(format!(
                "metric name longer than {} bytes",
                lim.max_label_value_bytes
            ));
        }
        v.push(Label {
            name: self.intern(METRIC_NAME),
            value: self.intern(&name),
        });
        for (n, val) in pairs {
            if n.is_empty() {
                return Err("empty label name".into());
            }
            if n.len() > lim.max_label_name_bytes {
                return Err(format!(
                    "label name longer than {} bytes",
                    lim.max_label_name_bytes
                ));
            }
            if val.len() > lim.max_label_value_bytes {
                return Err(format!(
                    "value of label {n:?} longer than {} bytes",
                    lim.max_label_value_bytes
                ));
            }
            if Some(&*n) == normalise {
                if let Some(f) = parse_float(&val) {
                    v.push(Label {
                        name: self.intern(&n),
                        value: self.intern(&format_go_float(f)),
                    });
                    continue;
                }
            }
            v.push(Label {
                name: self.intern(&n),
                value: self.intern(&val),
            });
        }
        Labels::from_vec(v).map_err(|e| match e {
            strata_engine::Error::InvalidLabels(m) => m,
            other => other.to_string(),
        })
    }
}

/// Unescapes a HELP docstring: `\\` and `\n` are the only escapes.
fn unescape_help(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('\\') => out.push('\\'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// The first `n` bytes of `s`, shortened to a character boundary.
fn prefix(s: &str, n: usize) -> &str {
    let mut n = n.min(s.len());
    while !s.is_char_boundary(n) {
        n -= 1;
    }
    &s[..n]
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t') {
        i += 1;
    }
    i
}

/// Parses the quoted string starting at `line[start] == '"'`; returns it unescaped and the
/// index after the closing quote. `\\`, `\"` and `\n` are escapes; any other backslash
/// sequence is kept literally, as Prometheus's scrape parser does.
fn quoted_string(line: &str, start: usize) -> LineResult<(Cow<'_, str>, usize)> {
    let b = line.as_bytes();
    let mut i = start + 1;
    let body_start = i;
    let mut owned: Option<String> = None;
    let mut seg = i;
    while i < b.len() {
        match b[i] {
            b'"' => {
                let s = match owned {
                    None => Cow::Borrowed(&line[body_start..i]),
                    Some(mut o) => {
                        o.push_str(&line[seg..i]);
                        Cow::Owned(o)
                    }
                };
                return Ok((s, i + 1));
            }
            b'\\' if i + 1 < b.len() => {
                let o = owned.get_or_insert_with(String::new);
                o.push_str(&line[seg..i]);
                match b[i + 1] {
                    b'\\' => o.push('\\'),
                    b'"' => o.push('"'),
                    b'n' => o.push('\n'),
                    _ => {
                        // Keep the backslash; the next char is copied with the next segment.
                        o.push('\\');
                        seg = i + 1;
                        i += 1;
                        continue;
                    }
                }
                i += 2;
                seg = i;
            }
            _ => i += 1,
        }
    }
    Err("unterminated quoted string".into())
}

/// Parses a sample value with Go `ParseFloat` syntax: decimal, exponent, `NaN`, `Inf` with
/// optional sign, case-insensitive.
pub(crate) fn parse_float(s: &str) -> Option<f64> {
    // Rust's parser accepts the same decimal and special forms; it refuses hex floats and
    // underscores, which Go only accepts with a base prefix and exporters do not emit.
    s.parse::<f64>().ok()
}

/// Formats `f` as Go's `%v` does, with `.0` appended to integral results, which is how
/// Prometheus 3 renders normalised `le` and `quantile` values (`1` -> `1.0`,
/// `1000000` -> `1e+06`, `0.00001` -> `1e-05`).
pub(crate) fn format_go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    // `{:e}` gives the shortest round-trip digits: "-1.234e-5".
    let e = format!("{:e}", f);
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if !(-4..6).contains(&exp) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", exp.unsigned_abs()));
        return out;
    }
    if exp >= 0 {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            out.push_str(&digits);
            out.push_str(&"0".repeat(int_len - digits.len()));
            out.push_str(".0");
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    } else {
        out.push_str("0.");
        out.push_str(&"0".repeat((-exp - 1) as usize));
        out.push_str(&digits);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_712_000_000_000;

    fn parse(body: &str) -> Result<ParsedText> {
        parse_text(body.as_bytes(), 42, &Limits::default(), NOW)
    }

    fn line_err(body: &str) -> (usize, String) {
        match parse(body) {
            Err(Error::Text { line, msg }) => (line, msg),
            other => panic!("expected a text error, got {other:?}"),
        }
    }

    #[test]
    fn series_index_survives_hash_collisions() {
        use std::hash::BuildHasher;
        let limits = Limits::default();
        let mut p = Parser {
            limits: &limits,
            openmetrics: false,
            family: None,
            metadata: MetadataSet::default(),
            index: HashMap::default(),
            collisions: HashMap::default(),
            strings: HashSet::default(),
            series: Vec::new(),
        };
        let a = Labels::from_pairs(&[("__name__", "a")]).unwrap();
        let b = Labels::from_pairs(&[("__name__", "b")]).unwrap();
        p.add(a.clone(), Sample::new(1, 1.0));
        // Pretend `b` hashes like `a`.
        let hb = KeyedBuild::default().hash_one(&b);
        p.index.insert(hb, 0);
        p.add(b.clone(), Sample::new(2, 2.0));
        p.add(b.clone(), Sample::new(3, 3.0));
        p.add(a.clone(), Sample::new(4, 4.0));
        assert_eq!(p.series.len(), 2);
        assert_eq!(
            p.series[0],
            (a, vec![Sample::new(1, 1.0), Sample::new(4, 4.0)])
        );
        assert_eq!(
            p.series[1],
            (b, vec![Sample::new(2, 2.0), Sample::new(3, 3.0)])
        );
    }

    #[test]
    fn go_float_formatting() {
        for (f, s) in [
            (0.0, "0.0"),
            (0.001, "0.001"),
            (0.1, "0.1"),
            (1.0, "1.0"),
            (1.7, "1.7"),
            (10.0, "10.0"),
            (100000.0, "100000.0"),
            (1e6, "1e+06"),
            (1e-5, "1e-05"),
            (1.5e-5, "1.5e-05"),
            (1234567.0, "1.234567e+06"),
            (0.0001, "0.0001"),
            (0.25, "0.25"),
            (-2.5, "-2.5"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (1e21, "1e+21"),
            (123456.5, "123456.5"),
        ] {
            assert_eq!(format_go_float(f), s, "{f}");
        }
    }

    #[test]
    fn float_values() {
        assert_eq!(parse_float("+Inf"), Some(f64::INFINITY));
        assert_eq!(parse_float("-Inf"), Some(f64::NEG_INFINITY));
        assert!(parse_float("NaN").unwrap().is_nan());
        assert_eq!(parse_float("1e3"), Some(1000.0));
        assert_eq!(parse_float("abc"), None);
    }

    #[test]
    fn quoted_strings_and_escapes() {
        let (s, n) = quoted_string(r#""a\\b\"c\nd" rest"#, 0).unwrap();
        assert_eq!(s, "a\\b\"c\nd");
        assert_eq!(n, 12);
        let (s, _) = quoted_string(r#""x\ty""#, 0).unwrap();
        assert_eq!(s, "x\\ty");
        let (s, _) = quoted_string(r#""plain""#, 0).unwrap();
        assert!(matches!(s, Cow::Borrowed("plain")));
        assert!(quoted_string(r#""open"#, 0).is_err());
        assert!(quoted_string(r#""ends with \"#, 0).is_err());
    }

    #[test]
    fn utf8_quoted_metric_name() {
        let p = parse("{\"my.metric\", a=\"b\"} 1\n").unwrap();
        assert_eq!(p.series[0].0.to_string(), "my.metric{a=\"b\"}");
        let p2 = parse("{\"my.metric\"} 1\n").unwrap();
        assert_eq!(p2.series[0].0.metric_name(), Some("my.metric"));
        let (line, _) = line_err("{a=\"b\"} 1\n");
        assert_eq!(line, 1);
    }

    #[test]
    fn error_excerpts_respect_char_boundaries() {
        let (line, msg) =
            line_err("\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9} 1\n");
        assert_eq!(line, 1);
        assert!(msg.contains("invalid metric name"), "{msg}");
        let (_, msg) = line_err("m{a=\"\u{e9}\"} 1 \u{e9}\u{e9}\n");
        assert!(msg.contains("invalid timestamp"), "{msg}");
    }

    #[test]
    fn invalid_utf8_reports_line() {
        let mut body = b"a 1\nb 2\nc{x=\"".to_vec();
        body.extend_from_slice(&[0xff, b'"', b'}', b' ', b'1', b'\n']);
        match parse_text(&body, 0, &Limits::default(), NOW) {
            Err(Error::Text { line, .. }) => assert_eq!(line, 3),
            other => panic!("{other:?}"),
        }
    }
}

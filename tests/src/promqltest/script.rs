//! The promqltest script model and its parser: commands, series descriptions in load
//! notation, durations, numbers and quoted strings.
//!
//! Line numbers are 1-based and name the line in the file (comments and blank lines
//! included), so that an eval's line equals its row in `cases.tsv`.

use std::fmt;

use regex::Regex;
use strata_engine::Labels;

/// Largest repeat count accepted in `axn` notation (bounds allocations on bad input).
const MAX_REPEAT: u64 = 1_000_000;

// ---------------------------------------------------------------------------------------------
// Script model
// ---------------------------------------------------------------------------------------------

/// A parse error in a script, with its position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptError {
    /// File name as given to [`parse_script`].
    pub file: String,
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub msg: String,
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.msg)
    }
}

impl std::error::Error for ScriptError {}

/// One position of a value sequence in load notation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SeqValue {
    /// `_`: no sample at this step.
    Omitted,
    /// A float sample; the staleness marker keeps its exact bit pattern.
    Float(f64),
    /// A native histogram sample (`{{...}}`), which Strata does not support.
    Histogram,
}

/// A series description: labels and a value sequence.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesDesc {
    /// The series' labels (`__name__` included).
    pub labels: Labels,
    /// One value per step.
    pub values: Vec<SeqValue>,
}

/// A `load` or `load_with_nhcb` block.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadCmd {
    /// 1-based line of the `load` line.
    pub line: usize,
    /// Step between values, ms.
    pub interval: i64,
    /// `load_with_nhcb` (only the float series are loaded).
    pub with_nhcb: bool,
    /// The series, in file order; a series named twice keeps its last line.
    pub series: Vec<SeriesDesc>,
}

/// Instant or range evaluation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvalKind {
    /// `eval instant at <at>`.
    Instant {
        /// Evaluation time, ms.
        at: i64,
    },
    /// `eval range from <start> to <end> step <step>`.
    Range {
        /// First step, ms.
        start: i64,
        /// Last possible step, ms.
        end: i64,
        /// Step, ms.
        step: i64,
    },
}

/// How an expected error or annotation text is matched.
#[derive(Clone, Debug)]
pub enum TextMatch {
    /// Any text.
    Any,
    /// `msg: <text>`: exactly this text.
    Exact(String),
    /// `regex: <re>`: matches the regex (unanchored, as Go's `MatchString`).
    Regex(Regex),
}

impl TextMatch {
    /// True if `s` satisfies the expectation.
    pub fn matches(&self, s: &str) -> bool {
        match self {
            TextMatch::Any => true,
            TextMatch::Exact(m) => m == s,
            TextMatch::Regex(r) => r.is_match(s),
        }
    }
}

impl fmt::Display for TextMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TextMatch::Any => f.write_str("<any>"),
            TextMatch::Exact(m) => write!(f, "msg:{m}"),
            TextMatch::Regex(r) => write!(f, "regex:{}", r.as_str()),
        }
    }
}

/// Kinds of annotation expectations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnnotationKind {
    /// `expect warn`: at least one matching warning.
    Warn,
    /// `expect no_warn`: no warning.
    NoWarn,
    /// `expect info`: at least one matching info annotation.
    Info,
    /// `expect no_info`: no info annotation.
    NoInfo,
}

/// An expected result series.
#[derive(Clone, Debug, PartialEq)]
pub struct ExpectedSeries {
    /// 1-based position among the result lines (used by `expect ordered`).
    pub pos: usize,
    /// Labels and values.
    pub desc: SeriesDesc,
}

/// An `eval` command with everything it expects.
#[derive(Clone, Debug)]
pub struct EvalCmd {
    /// 1-based line of the eval line (the case's identity, as in `cases.tsv`).
    pub line: usize,
    /// The PromQL text.
    pub query: String,
    /// Instant or range.
    pub kind: EvalKind,
    /// `expect fail` (or `eval_fail`), with the optional message expectation.
    pub fail: Option<TextMatch>,
    /// `expect ordered` (or `eval_ordered`).
    pub ordered: bool,
    /// `expect warn/no_warn/info/no_info` lines.
    pub annotations: Vec<(AnnotationKind, TextMatch)>,
    /// `expect range vector from <start> to <end> step <step>`.
    pub range_vector: Option<(i64, i64, i64)>,
    /// `expect string "..."`.
    pub string: Option<String>,
    /// A bare-number result line.
    pub scalar: Option<f64>,
    /// Expected series, unique by labels (a repeated label set keeps its last line).
    pub series: Vec<ExpectedSeries>,
}

impl EvalCmd {
    /// True if any expected value is a native histogram.
    pub fn needs_native_histograms(&self) -> bool {
        self.series
            .iter()
            .any(|s| s.desc.values.contains(&SeqValue::Histogram))
    }

    /// The time an instant eval runs at: the end of `expect range vector` if given (as
    /// upstream does), the `at` time otherwise. `None` for range evals.
    pub fn instant_time(&self) -> Option<i64> {
        match self.kind {
            EvalKind::Instant { at } => Some(self.range_vector.map_or(at, |(_, end, _)| end)),
            EvalKind::Range { .. } => None,
        }
    }

    /// The grid on which expected matrix points sit: the range of a range eval, or the
    /// `expect range vector` range of an instant eval.
    pub(crate) fn grid(&self) -> Option<(i64, i64, i64)> {
        match self.kind {
            EvalKind::Range { start, end, step } => Some((start, end, step)),
            EvalKind::Instant { .. } => self.range_vector,
        }
    }

    /// Instant evals that upstream does not repeat as range queries.
    pub(crate) fn excluded_from_range_mode(&self) -> bool {
        self.range_vector.is_some() || self.string.is_some()
    }
}

/// One command of a script.
#[derive(Clone, Debug)]
pub enum Command {
    /// Load samples.
    Load(LoadCmd),
    /// Drop all data.
    Clear,
    /// Evaluate and compare.
    Eval(Box<EvalCmd>),
}

/// A parsed script.
#[derive(Clone, Debug)]
pub struct Script {
    /// File name (used in messages and skip lookups).
    pub file: String,
    /// Commands in file order.
    pub commands: Vec<Command>,
}

impl Script {
    /// The eval commands, in file order.
    pub fn evals(&self) -> impl Iterator<Item = &EvalCmd> {
        self.commands.iter().filter_map(|c| match c {
            Command::Eval(e) => Some(&**e),
            _ => None,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Lexical helpers
// ---------------------------------------------------------------------------------------------

/// Parses a Prometheus duration (`5m`, `1h30m`, `5m59s`, `1ms`, `0`) into milliseconds.
/// Units `y w d h m s ms` must appear in that order, each at most once.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    const UNITS: [(&str, i64); 7] = [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err("empty duration string".into());
    }
    let bad = || format!("not a valid duration string: {s:?}");
    let mut rest = s;
    let mut total: i64 = 0;
    let mut last_unit: Option<usize> = None;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let n: i64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..unit_len];
        let idx = UNITS.iter().position(|(u, _)| *u == unit).ok_or_else(bad)?;
        if last_unit.is_some_and(|l| idx <= l) {
            return Err(bad());
        }
        last_unit = Some(idx);
        total = n
            .checked_mul(UNITS[idx].1)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("duration out of range: {s:?}"))?;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

/// Splits off a number prefix: optional sign, then `Inf`/`NaN` (any case) or a decimal
/// float (`12`, `1.5`, `.5`, `1e3`, `2.5E-6`). Hexadecimal is not accepted: in load
/// notation `0x59` means "0 repeated".
fn lex_number(s: &str) -> Option<(f64, &str)> {
    let b = s.as_bytes();
    let mut i = 0;
    let neg = match b.first() {
        Some(b'+') => {
            i = 1;
            false
        }
        Some(b'-') => {
            i = 1;
            true
        }
        _ => false,
    };
    let sign = if neg { -1.0 } else { 1.0 };
    let word = |w: &str| {
        s.get(i..i + w.len())
            .is_some_and(|x| x.eq_ignore_ascii_case(w))
    };
    if word("inf") {
        return Some((sign * f64::INFINITY, &s[i + 3..]));
    }
    if word("nan") {
        return Some((f64::NAN, &s[i + 3..]));
    }
    let start = i;
    let int_digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    i += int_digits;
    let mut frac_digits = 0;
    if b.get(i) == Some(&b'.') {
        frac_digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if int_digits == 0 && frac_digits == 0 {
            return None;
        }
        i += 1 + frac_digits;
    }
    if int_digits == 0 && frac_digits == 0 {
        return None;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        let mut j = i + 1;
        if matches!(b.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        let exp_digits = b[j.min(b.len())..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if exp_digits > 0 {
            i = j + exp_digits;
        }
    }
    let v: f64 = s[start..i].parse().ok()?;
    Some((sign * v, &s[i..]))
}

/// Parses a whole string as one number the way upstream's runner reads a scalar result line
/// (integers also in `0x` hex, floats, `Inf`, `NaN`).
pub fn parse_number(s: &str) -> Option<f64> {
    let t = s.trim();
    let (neg, body) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        let v = i64::from_str_radix(hex, 16).ok()? as f64;
        return Some(if neg { -v } else { v });
    }
    match lex_number(t) {
        Some((v, "")) => Some(v),
        _ => None,
    }
}

fn parse_repeat(s: &str) -> Result<u64, String> {
    let n: u64 = s
        .parse()
        .map_err(|_| format!("invalid repeat count {s:?}"))?;
    if n > MAX_REPEAT {
        return Err(format!("repeat count {n} exceeds {MAX_REPEAT}"));
    }
    Ok(n)
}

/// Expands one token of load notation.
fn parse_value_token(tok: &str) -> Result<Vec<SeqValue>, String> {
    if tok == "_" {
        return Ok(vec![SeqValue::Omitted]);
    }
    if let Some(n) = tok.strip_prefix("_x") {
        return Ok(vec![SeqValue::Omitted; parse_repeat(n)? as usize]);
    }
    if tok == "stale" {
        return Ok(vec![SeqValue::Float(strata_engine::stale_nan())]);
    }
    if tok.starts_with("{{") {
        let close = tok
            .rfind("}}")
            .ok_or_else(|| format!("unterminated histogram {tok:?}"))?;
        let rest = &tok[close + 2..];
        return match rest.strip_prefix('x') {
            Some(n) => Ok(vec![SeqValue::Histogram; parse_repeat(n)? as usize + 1]),
            None if rest.is_empty() => Ok(vec![SeqValue::Histogram]),
            None => Err(format!("invalid histogram sequence {tok:?}")),
        };
    }
    let (first, rest) = lex_number(tok).ok_or_else(|| format!("invalid value {tok:?}"))?;
    if rest.is_empty() {
        return Ok(vec![SeqValue::Float(first)]);
    }
    if let Some(n) = rest.strip_prefix('x') {
        return Ok(vec![SeqValue::Float(first); parse_repeat(n)? as usize + 1]);
    }
    if rest.starts_with(['+', '-']) {
        let (delta, rest2) = lex_number(rest).ok_or_else(|| format!("invalid value {tok:?}"))?;
        let n = rest2
            .strip_prefix('x')
            .ok_or_else(|| format!("expected 'x<count>' in {tok:?}"))?;
        let n = parse_repeat(n)?;
        // Repeated addition, as upstream's series parser does (not a + i*b).
        let mut v = first;
        let mut out = Vec::with_capacity(n as usize + 1);
        for _ in 0..=n {
            out.push(SeqValue::Float(v));
            v += delta;
        }
        return Ok(out);
    }
    Err(format!("invalid value {tok:?}"))
}

/// Splits load-notation values on whitespace, keeping `{{ ... }}` histograms (which contain
/// spaces) in one token.
fn split_values(s: &str) -> Result<Vec<&str>, String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start: Option<usize> = None;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            _ => {}
        }
        if depth < 0 {
            return Err(format!("unbalanced '}}' in {s:?}"));
        }
        if c.is_whitespace() && depth == 0 {
            if let Some(st) = start.take() {
                out.push(&s[st..i]);
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if depth != 0 {
        return Err(format!("unbalanced '{{' in {s:?}"));
    }
    if let Some(st) = start {
        out.push(&s[st..]);
    }
    Ok(out)
}

/// Reads a quoted string (`"..."`, `'...'` with Go escapes, or raw `` `...` ``) at the start
/// of `s`; returns the text and the rest.
fn lex_quoted(s: &str) -> Result<(String, &str), String> {
    let mut chars = s.char_indices();
    let quote = match chars.next() {
        Some((_, q @ ('"' | '\'' | '`'))) => q,
        _ => return Err(format!("expected a quoted string at {s:?}")),
    };
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        if c == quote {
            return Ok((out, &s[i + c.len_utf8()..]));
        }
        if c != '\\' || quote == '`' {
            out.push(c);
            continue;
        }
        let (_, e) = chars
            .next()
            .ok_or_else(|| format!("unterminated string {s:?}"))?;
        let mut hex = |n: usize| -> Result<char, String> {
            let mut v: u32 = 0;
            for _ in 0..n {
                let (_, d) = chars.next().ok_or("truncated escape")?;
                v = v * 16 + d.to_digit(16).ok_or("invalid hex escape")?;
            }
            char::from_u32(v).ok_or_else(|| "invalid code point".to_string())
        };
        let c = match e {
            'a' => '\u{7}',
            'b' => '\u{8}',
            'f' => '\u{c}',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'v' => '\u{b}',
            '\\' | '"' | '\'' => e,
            'x' => hex(2)?,
            'u' => hex(4)?,
            'U' => hex(8)?,
            _ => return Err(format!("unknown escape \\{e} in {s:?}")),
        };
        out.push(c);
    }
    Err(format!("unterminated string {s:?}"))
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

fn lex_ident(s: &str) -> (&str, &str) {
    if !s.starts_with(is_ident_start) {
        return ("", s);
    }
    let n = s.find(|c| !is_ident_char(c)).unwrap_or(s.len());
    s.split_at(n)
}

/// Parses a series description `name{a="b", ...} <values>` (also `{__name__="x"}`,
/// `{"quoted.name"}` and `{}`) into labels and expanded values.
pub fn parse_series_desc(line: &str) -> Result<SeriesDesc, String> {
    let s = line.trim();
    let (name, mut rest) = lex_ident(s);
    let mut pairs: Vec<(String, String)> = Vec::new();
    if !name.is_empty() {
        pairs.push(("__name__".into(), name.into()));
    }
    if let Some(r) = rest.strip_prefix('{') {
        rest = r;
        loop {
            rest = rest.trim_start();
            if let Some(r) = rest.strip_prefix('}') {
                rest = r;
                break;
            }
            let label_name;
            if rest.starts_with(['"', '\'', '`']) {
                let (text, r) = lex_quoted(rest)?;
                let r = r.trim_start();
                if let Some(r) = r.strip_prefix('=') {
                    label_name = text;
                    rest = r;
                } else {
                    // A bare quoted string is the metric name.
                    pairs.push(("__name__".into(), text));
                    rest = r;
                    label_name = String::new();
                }
            } else {
                let (id, r) = lex_ident(rest);
                if id.is_empty() {
                    return Err(format!("expected a label name at {rest:?}"));
                }
                let r = r.trim_start();
                rest = r
                    .strip_prefix('=')
                    .ok_or_else(|| format!("expected '=' after label {id:?}"))?;
                label_name = id.to_string();
            }
            if !label_name.is_empty() {
                let (value, r) = lex_quoted(rest.trim_start())?;
                pairs.push((label_name, value));
                rest = r;
            }
            rest = rest.trim_start();
            if let Some(r) = rest.strip_prefix(',') {
                rest = r;
            } else if !rest.starts_with('}') {
                return Err(format!("expected ',' or '}}' at {rest:?}"));
            }
        }
    } else if name.is_empty() {
        return Err(format!("expected a metric name or '{{' at {s:?}"));
    }
    if !rest.is_empty() && !rest.starts_with(char::is_whitespace) {
        return Err(format!("unexpected {rest:?} after the series labels"));
    }
    let labels = Labels::from_pairs(&pairs).map_err(|e| e.to_string())?;
    let mut values = Vec::new();
    for tok in split_values(rest)? {
        values.extend(parse_value_token(tok)?);
    }
    Ok(SeriesDesc { labels, values })
}

// ---------------------------------------------------------------------------------------------
// Script parser
// ---------------------------------------------------------------------------------------------

fn parse_text_match(kind: &str, rest: &str) -> Result<TextMatch, String> {
    let rest = rest.trim();
    if rest.is_empty() {
        return Ok(TextMatch::Any);
    }
    if let Some(m) = rest.strip_prefix("msg:") {
        return Ok(TextMatch::Exact(m.trim().to_string()));
    }
    if let Some(r) = rest.strip_prefix("regex:") {
        let r = r.trim();
        return Regex::new(r)
            .map(TextMatch::Regex)
            .map_err(|e| format!("invalid regex {r:?} for {kind}: {e}"));
    }
    Err(format!(
        "invalid expect statement, must be `expect {kind} [msg:|regex:]<text>`"
    ))
}

fn parse_eval_header(head: &str) -> Result<(String, EvalKind, String), String> {
    let mut words = head.split_whitespace();
    let cmd = words.next().unwrap_or_default().to_ascii_lowercase();
    let modifier = match cmd.as_str() {
        "eval" => String::new(),
        "eval_fail" | "eval_warn" | "eval_ordered" | "eval_info" => cmd[5..].to_string(),
        _ => return Err(format!("invalid evaluation command {cmd:?}")),
    };
    // Re-split keeping the query text intact: take the leading words one by one.
    let mut rest = head.trim_start()[cmd.len()..].trim_start();
    let mut take = |what: &str| -> Result<String, String> {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let w = &rest[..end];
        if w.is_empty() {
            return Err(format!("missing {what}"));
        }
        rest = rest[end..].trim_start();
        Ok(w.to_string())
    };
    let kind = take("'instant' or 'range'")?;
    let eval_kind = match kind.as_str() {
        "instant" => {
            if take("'at'")? != "at" {
                return Err("expected `eval instant at <time> <query>`".into());
            }
            let at = take("time")?;
            let at = parse_duration(&at).map_err(|e| format!("invalid timestamp: {e}"))?;
            EvalKind::Instant { at }
        }
        "range" => {
            let mut kw = |k: &str| -> Result<String, String> {
                if take(k)? != k {
                    return Err(format!(
                        "expected `eval range from <start> to <end> step <step> <query>` ({k})"
                    ));
                }
                take("duration")
            };
            let start = parse_duration(&kw("from")?).map_err(|e| format!("invalid start: {e}"))?;
            let end = parse_duration(&kw("to")?).map_err(|e| format!("invalid end: {e}"))?;
            let step = parse_duration(&kw("step")?).map_err(|e| format!("invalid step: {e}"))?;
            if end < start {
                return Err("end timestamp is before start timestamp".into());
            }
            if step <= 0 {
                return Err("step must be positive".into());
            }
            EvalKind::Range { start, end, step }
        }
        other => return Err(format!("expected 'instant' or 'range', got {other:?}")),
    };
    if modifier == "ordered" && matches!(eval_kind, EvalKind::Range { .. }) {
        return Err("eval_ordered is only valid for instant queries".into());
    }
    if rest.is_empty() {
        return Err("missing query".into());
    }
    Ok((modifier, eval_kind, rest.to_string()))
}

fn parse_expect_range_vector(line: &str) -> Result<(i64, i64, i64), String> {
    let w: Vec<&str> = line.split_whitespace().collect();
    // expect range vector from <s> to <e> step <d>
    if w.len() != 9 || w[3] != "from" || w[5] != "to" || w[7] != "step" {
        return Err(format!("invalid range vector definition {line:?}"));
    }
    let s = parse_duration(w[4])?;
    let e = parse_duration(w[6])?;
    let d = parse_duration(w[8])?;
    if e < s {
        return Err("range vector end is before its start".into());
    }
    if d <= 0 {
        return Err("range vector step must be positive".into());
    }
    Ok((s, e, d))
}

/// Parses the body lines (after the eval line, up to the blank line) of one eval.
fn parse_eval_body(
    ev: &mut EvalCmd,
    body: &[(usize, &str)],
    err: &dyn Fn(usize, String) -> ScriptError,
) -> Result<(), ScriptError> {
    let mut pos = 0;
    let is_instant = matches!(ev.kind, EvalKind::Instant { .. });
    for &(ln, l) in body {
        if let Some(msg) = l.strip_prefix("expected_fail_message") {
            ev.fail = Some(TextMatch::Exact(msg.trim().to_string()));
            continue;
        }
        if let Some(re) = l.strip_prefix("expected_fail_regexp") {
            let re = Regex::new(re.trim()).map_err(|e| err(ln, e.to_string()))?;
            ev.fail = Some(TextMatch::Regex(re));
            continue;
        }
        if l.starts_with("expect range vector") {
            ev.range_vector = Some(parse_expect_range_vector(l).map_err(|e| err(ln, e))?);
            continue;
        }
        if let Some(s) = l.strip_prefix("expect string") {
            let s = s.trim();
            let (text, rest) = lex_quoted(s).map_err(|e| err(ln, e))?;
            if !rest.trim().is_empty() {
                return Err(err(ln, format!("trailing text after the string: {rest:?}")));
            }
            ev.string = Some(text);
            continue;
        }
        if l.split(' ').next() == Some("expect") {
            let rest = l["expect".len()..].trim_start();
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            let (kind, tail) = rest.split_at(end);
            let m = parse_text_match(kind, tail).map_err(|e| err(ln, e))?;
            match kind {
                "fail" => {
                    if ev.fail.is_some() {
                        return Err(err(ln, "multiple expect fail lines".into()));
                    }
                    ev.fail = Some(m);
                }
                "ordered" => ev.ordered = true,
                "warn" => ev.annotations.push((AnnotationKind::Warn, m)),
                "no_warn" => ev.annotations.push((AnnotationKind::NoWarn, m)),
                "info" => ev.annotations.push((AnnotationKind::Info, m)),
                "no_info" => ev.annotations.push((AnnotationKind::NoInfo, m)),
                _ => return Err(err(ln, format!("invalid expect type {kind:?}"))),
            }
            let has = |k| ev.annotations.iter().any(|(a, _)| *a == k);
            if has(AnnotationKind::Warn) && has(AnnotationKind::NoWarn)
                || has(AnnotationKind::Info) && has(AnnotationKind::NoInfo)
            {
                return Err(err(ln, "contradicting annotation expectations".into()));
            }
            continue;
        }
        if let Some(v) = parse_number(l) {
            if ev.scalar.is_some() || !ev.series.is_empty() {
                return Err(err(
                    ln,
                    "a scalar result must be the only result line".into(),
                ));
            }
            ev.scalar = Some(v);
            continue;
        }
        if ev.scalar.is_some() {
            return Err(err(
                ln,
                "a scalar result must be the only result line".into(),
            ));
        }
        let desc = parse_series_desc(l).map_err(|e| err(ln, e))?;
        if is_instant && ev.range_vector.is_none() && desc.values.len() > 1 {
            return Err(err(
                ln,
                "multiple values in an instant evaluation need `expect range vector`".into(),
            ));
        }
        pos += 1;
        let new = ExpectedSeries { pos, desc };
        match ev
            .series
            .iter_mut()
            .find(|s| s.desc.labels == new.desc.labels)
        {
            Some(old) => *old = new,
            None => ev.series.push(new),
        }
    }
    Ok(())
}

/// Parses a promqltest script. `file` names the script in errors.
pub fn parse_script(file: &str, text: &str) -> Result<Script, ScriptError> {
    let err = |line: usize, msg: String| ScriptError {
        file: file.to_string(),
        line,
        msg,
    };
    // Trimmed lines; comments count as blank lines. Index i is line i+1.
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| {
            let t = l.trim();
            if t.starts_with('#') {
                ""
            } else {
                t
            }
        })
        .collect();
    let mut commands = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        if l.is_empty() {
            i += 1;
            continue;
        }
        let ln = i + 1;
        // The block: following lines up to the next blank line.
        let mut j = i + 1;
        while j < lines.len() && !lines[j].is_empty() {
            j += 1;
        }
        let body: Vec<(usize, &str)> = (i + 1..j).map(|k| (k + 1, lines[k])).collect();
        let word = l
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if word == "clear" {
            if l.split_whitespace().count() != 1 {
                return Err(err(ln, format!("invalid command {l:?}")));
            }
            commands.push(Command::Clear);
            i += 1;
            continue;
        } else if word.starts_with("load") {
            let with_nhcb = match word.as_str() {
                "load" => false,
                "load_with_nhcb" => true,
                _ => return Err(err(ln, format!("invalid load command {l:?}"))),
            };
            let mut w = l.split_whitespace().skip(1);
            let interval = match (w.next(), w.next()) {
                (Some(d), None) => parse_duration(d).map_err(|e| err(ln, e))?,
                _ => {
                    return Err(err(
                        ln,
                        "invalid load command, expected `load <interval>`".into(),
                    ))
                }
            };
            let mut series: Vec<SeriesDesc> = Vec::new();
            for &(bl, b) in &body {
                let desc = parse_series_desc(b).map_err(|e| err(bl, e))?;
                match series.iter_mut().find(|s| s.labels == desc.labels) {
                    Some(old) => *old = desc,
                    None => series.push(desc),
                }
            }
            commands.push(Command::Load(LoadCmd {
                line: ln,
                interval,
                with_nhcb,
                series,
            }));
        } else if word.starts_with("eval") {
            let (modifier, kind, query) = parse_eval_header(l).map_err(|e| err(ln, e))?;
            let mut ev = EvalCmd {
                line: ln,
                query,
                kind,
                fail: None,
                ordered: modifier == "ordered",
                annotations: Vec::new(),
                range_vector: None,
                string: None,
                scalar: None,
                series: Vec::new(),
            };
            match modifier.as_str() {
                "fail" => ev.fail = Some(TextMatch::Any),
                "warn" => ev.annotations.push((AnnotationKind::Warn, TextMatch::Any)),
                "info" => ev.annotations.push((AnnotationKind::Info, TextMatch::Any)),
                _ => {}
            }
            parse_eval_body(&mut ev, &body, &err)?;
            commands.push(Command::Eval(Box::new(ev)));
        } else {
            return Err(err(ln, format!("invalid command {l:?}")));
        }
        i = j;
    }
    Ok(Script {
        file: file.to_string(),
        commands,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    fn floats(v: &[SeqValue]) -> Vec<f64> {
        v.iter()
            .map(|x| match x {
                SeqValue::Float(f) => *f,
                other => panic!("not a float: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("0"), Ok(0));
        assert_eq!(parse_duration("0s"), Ok(0));
        assert_eq!(parse_duration("1ms"), Ok(1));
        assert_eq!(parse_duration("5m59s"), Ok(359_000));
        assert_eq!(parse_duration("10s53ms"), Ok(10_053));
        assert_eq!(parse_duration("8000s"), Ok(8_000_000));
        assert_eq!(parse_duration("1h"), Ok(3_600_000));
        assert_eq!(parse_duration("1d2h"), Ok(93_600_000));
        assert_eq!(parse_duration("1w"), Ok(604_800_000));
        for bad in [
            "",
            "5",
            "m",
            "1s1m",
            "-1m",
            "1.5s",
            "1m1m",
            "1x",
            "99999999999999999999y",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn value_notation() {
        let p = |s: &str| parse_value_token(s).unwrap();
        assert_eq!(floats(&p("0+10x5")), vec![0., 10., 20., 30., 40., 50.]);
        assert_eq!(floats(&p("8000-10x3")), vec![8000., 7990., 7980., 7970.]);
        assert_eq!(floats(&p("-1+1x2")), vec![-1., 0., 1.]);
        assert_eq!(floats(&p("1.5+0.5x2")), vec![1.5, 2., 2.5]);
        assert_eq!(floats(&p("1x2")), vec![1., 1., 1.]);
        // Hexadecimal is not a thing in load notation: 0x59 is 0 repeated 60 times.
        assert_eq!(floats(&p("0x59")), vec![0.; 60]);
        assert_eq!(floats(&p(".03")), vec![0.03]);
        assert_eq!(floats(&p("1e3")), vec![1000.]);
        assert_eq!(floats(&p("12.34e-6")), vec![12.34e-6]);
        assert_eq!(
            floats(&p("9.988465674311579e+307")),
            vec!["9.988465674311579e307".parse::<f64>().unwrap()]
        );
        assert_eq!(floats(&p("-2.5")), vec![-2.5]);
        assert_eq!(floats(&p("Inf")), vec![f64::INFINITY]);
        assert_eq!(floats(&p("+Inf")), vec![f64::INFINITY]);
        assert_eq!(floats(&p("inf")), vec![f64::INFINITY]);
        assert_eq!(floats(&p("-Inf")), vec![f64::NEG_INFINITY]);
        assert!(floats(&p("NaN"))[0].is_nan());
        assert!(!strata_engine::is_stale(floats(&p("NaN"))[0]));
        assert!(strata_engine::is_stale(floats(&p("stale"))[0]));
        assert_eq!(p("_"), vec![SeqValue::Omitted]);
        assert_eq!(p("_x3"), vec![SeqValue::Omitted; 3]);
        assert_eq!(
            p("{{schema:0 sum:5 count:4 buckets:[1 2 1]}}"),
            vec![SeqValue::Histogram]
        );
        assert_eq!(p("{{count:0}}+{{count:1}}x4"), vec![SeqValue::Histogram; 5]);
        assert_eq!(p("{{count:1}}x2"), vec![SeqValue::Histogram; 3]);
        for bad in [
            "1x",
            "abc",
            "1+2",
            "1+2y3",
            "x3",
            "_xa",
            "1+x3",
            "{{a",
            "1x9999999999",
        ] {
            assert!(parse_value_token(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn series_descriptions() {
        let d = parse_series_desc(
            r#"http_requests{job="api-server", instance="0", group="production"} 0+10x10"#,
        )
        .unwrap();
        assert_eq!(
            d.labels.to_string(),
            r#"http_requests{group="production", instance="0", job="api-server"}"#
        );
        assert_eq!(d.values.len(), 11);

        let d = parse_series_desc(r#"{__name__="x", a='b',} 1 _ stale"#).unwrap();
        assert_eq!(d.labels.to_string(), r#"x{a="b"}"#);
        assert_eq!(d.values.len(), 3);

        let d = parse_series_desc("{} 0x59 60 60").unwrap();
        assert!(d.labels.is_empty());
        assert_eq!(d.values.len(), 62);

        let d = parse_series_desc("some_metric_with_stale_marker{} 1 _ 3").unwrap();
        assert_eq!(d.labels.to_string(), "some_metric_with_stale_marker");

        let d = parse_series_desc(r#"{"some.metric", "a b"="c\"d\\e"}	5"#).unwrap();
        assert_eq!(d.labels.metric_name(), Some("some.metric"));
        assert_eq!(d.labels.get("a b"), Some("c\"d\\e"));

        let d = parse_series_desc(
            "mixed {{schema:0 sum:5 count:4 buckets:[1 2 1]}} 1 2 {{schema:0 sum:5 count:4}}",
        )
        .unwrap();
        assert_eq!(
            d.values,
            vec![
                SeqValue::Histogram,
                SeqValue::Float(1.),
                SeqValue::Float(2.),
                SeqValue::Histogram
            ]
        );
        // Empty label values mean "absent".
        let d = parse_series_desc(r#"m{a=""} 1"#).unwrap();
        assert_eq!(d.labels.to_string(), "m");

        for bad in [
            r#"metric{a="b" 1"#,
            r#"metric{a=b} 1"#,
            r#"metric{a="1",a="2"} 1"#,
            r#"metric{a="1"}x 1"#,
            r#"metric{a!="1"} 1"#,
            r#"metric{a="1} 1"#,
            "1 2 3",
            "metric 1 }",
            "",
        ] {
            assert!(parse_series_desc(bad).is_err(), "{bad:?} should not parse");
        }
    }

    const SNIPPET: &str = r#"# A comment.
load 5m
  http_requests{job="api-server", instance="0"} 0+10x10
  http_requests{job="api-server", instance="1"} 0+20x10
  other 1 _ stale

eval instant at 50m SUM BY (job) (http_requests)
  {job="api-server"} 300

eval range from 0 to 10m step 5m sum(http_requests)
	{} 0 30 60

eval instant at 50m sort_desc(http_requests)
  expect ordered
  expect no_warn
  http_requests{job="api-server", instance="1"} 200
  http_requests{job="api-server", instance="0"} 100

eval instant at 50m count_values("a\xc5z", http_requests)
  expect fail msg:invalid label name "a\xc5z"

eval_fail instant at 0 label_replace(x, "idx", "same", "idx", ".*")

eval instant at 1m scalar(other)
  expect info regex: .*
  1

clear

load_with_nhcb 1m
  x_bucket{le="+Inf"} 1 2

eval instant at 1m x_bucket[1m]
  expect range vector from 10s to 1m step 10s
  x_bucket{le="+Inf"} _ _ _ _ _ 2

eval instant at 0 "Foo"
  expect string `Foo`

eval instant at 0 x
  x {{count:1}}
"#;

    #[test]
    fn parses_a_snippet() {
        let s = parse_script("snippet.test", SNIPPET).unwrap();
        let evals: Vec<&EvalCmd> = s.evals().collect();
        let lines: Vec<usize> = evals.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![7, 10, 13, 19, 22, 24, 33, 37, 40]);
        assert!(
            matches!(s.commands[0], Command::Load(ref l) if l.interval == 300_000
            && l.series.len() == 3 && !l.with_nhcb && l.line == 2)
        );
        assert!(matches!(
            s.commands
                .iter()
                .filter(|c| matches!(c, Command::Clear))
                .count(),
            1
        ));

        let e = evals[0];
        assert_eq!(e.query, "SUM BY (job) (http_requests)");
        assert_eq!(e.kind, EvalKind::Instant { at: 3_000_000 });
        assert_eq!(e.series.len(), 1);
        assert_eq!(e.series[0].desc.values, vec![SeqValue::Float(300.)]);

        let e = evals[1];
        assert_eq!(
            e.kind,
            EvalKind::Range {
                start: 0,
                end: 600_000,
                step: 300_000
            }
        );
        assert_eq!(e.series[0].desc.values.len(), 3);

        let e = evals[2];
        assert!(e.ordered);
        assert_eq!(e.annotations.len(), 1);
        assert_eq!(e.series[0].pos, 1);
        assert_eq!(e.series[1].pos, 2);
        assert_eq!(e.series[1].desc.labels.get("instance"), Some("0"));

        let e = evals[3];
        assert!(
            matches!(&e.fail, Some(TextMatch::Exact(m)) if m == r#"invalid label name "a\xc5z""#)
        );
        assert!(matches!(evals[4].fail, Some(TextMatch::Any)));

        let e = evals[5];
        assert_eq!(e.scalar, Some(1.0));
        assert!(matches!(
            e.annotations[0],
            (AnnotationKind::Info, TextMatch::Regex(_))
        ));

        let e = evals[6];
        assert_eq!(e.range_vector, Some((10_000, 60_000, 10_000)));
        assert_eq!(e.instant_time(), Some(60_000));
        assert_eq!(e.series[0].desc.values.len(), 6);
        assert!(matches!(s.commands[8], Command::Load(ref l) if l.with_nhcb));

        assert_eq!(evals[7].string.as_deref(), Some("Foo"));
        assert!(evals[8].needs_native_histograms());
        assert!(!evals[0].needs_native_histograms());
    }

    #[test]
    fn script_errors_carry_file_and_line() {
        let cases: &[(&str, usize)] = &[
            ("load 5m\n  a 1\n\nbogus command\n", 4),
            ("load 5m\n  a 1\n  b{ 2\n", 3),
            ("load five\n  a 1\n", 1),
            ("eval instant at 5x a\n", 1),
            ("eval instant 5m a\n", 1),
            ("eval range from 10m to 0 step 1m a\n", 1),
            ("eval range from 0 to 10m step 0 a\n", 1),
            ("eval instant at 5m\n", 1),
            ("\n\neval instant at 5m a\n  a 1 2\n", 4),
            ("eval instant at 5m a\n  expect fail\n  expect fail\n", 3),
            ("eval instant at 5m a\n  expect warn\n  expect no_warn\n", 3),
            ("eval instant at 5m a\n  expect sometimes\n", 2),
            ("eval instant at 5m a\n  expect fail regex: (\n", 2),
            ("eval instant at 5m a\n  expect string Foo\n", 2),
            ("eval instant at 5m a\n  1\n  2\n", 3),
            (
                "eval instant at 5m a\n  expect range vector from 1m to 0 step 1m\n",
                2,
            ),
            ("eval_ordered range from 0 to 1m step 1m a\n", 1),
        ];
        for (text, line) in cases {
            let e = parse_script("x.test", text).expect_err(text);
            assert_eq!(
                (e.file.as_str(), e.line),
                ("x.test", *line),
                "{text:?}: {e}"
            );
            assert!(e.to_string().starts_with(&format!("x.test:{line}: ")));
        }
    }

    fn conformance_root() -> PathBuf {
        let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance");
        assert!(
            p.join("promql").is_dir(),
            "conformance scripts not found at {}",
            p.display()
        );
        p
    }

    /// Every script parses; per file, the number of eval cases (and instant/range split)
    /// equals counts.md, and the eval lines equal the rows of cases.tsv.
    #[test]
    fn all_conformance_scripts_parse_with_expected_case_counts() {
        let root = conformance_root();
        let counts = std::fs::read_to_string(root.join("counts.md")).unwrap();
        let mut want: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new();
        for row in counts
            .lines()
            .filter(|l| l.starts_with("| ") && l.contains(".test"))
        {
            let c: Vec<&str> = row.split('|').map(str::trim).collect();
            let n = |i: usize| c[i].parse::<usize>().unwrap();
            want.insert(c[1].to_string(), (n(2), n(3), n(4)));
        }
        assert_eq!(want.len(), 14, "counts.md lists 14 files");
        let cases = std::fs::read_to_string(root.join("cases.tsv")).unwrap();
        let mut case_lines: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for row in cases.lines().skip(1) {
            let c: Vec<&str> = row.split('\t').collect();
            case_lines
                .entry(c[0].to_string())
                .or_default()
                .push(c[1].parse().unwrap());
        }
        let mut total = 0;
        for (file, (all, instant, range)) in &want {
            let text = std::fs::read_to_string(root.join("promql").join(file)).unwrap();
            let s = parse_script(file, &text).unwrap_or_else(|e| panic!("{e}"));
            let evals: Vec<&EvalCmd> = s.evals().collect();
            let n_inst = evals
                .iter()
                .filter(|e| matches!(e.kind, EvalKind::Instant { .. }))
                .count();
            assert_eq!(
                (evals.len(), n_inst, evals.len() - n_inst),
                (*all, *instant, *range),
                "{file}"
            );
            let lines: Vec<usize> = evals.iter().map(|e| e.line).collect();
            assert_eq!(
                &lines, &case_lines[file],
                "{file}: eval lines differ from cases.tsv"
            );
            total += evals.len();
        }
        assert_eq!(total, 1205);
    }

    /// Bad input is an `Err`, never a panic: many prefixes of every distinct line of the real
    /// scripts, as a command, a load line and an eval body line.
    #[test]
    fn truncated_lines_never_panic() {
        let dir = conformance_root().join("promql");
        let mut lines = std::collections::BTreeSet::new();
        for e in std::fs::read_dir(&dir).unwrap() {
            let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
            lines.extend(text.lines().map(|l| l.trim().to_string()));
        }
        let mut parsed = 0;
        for l in &lines {
            // Every 5th prefix and the last few (the whole line included).
            let cuts = l.char_indices().map(|(i, _)| i).chain([l.len()]);
            for i in cuts.filter(|&i| i % 5 == 0 || i + 5 > l.len()) {
                let p = &l[..i];
                for text in [
                    p.to_string(),
                    format!("load 1m\n  {p}\n"),
                    format!("eval instant at 1m x\n  {p}\n"),
                ] {
                    parsed += parse_script("x.test", &text).is_ok() as usize;
                }
            }
        }
        assert!(parsed > 0);
    }
}

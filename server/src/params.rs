//! Request parameters: URL query strings and form bodies, and Prometheus's time and duration
//! syntaxes (http-api.md sections 1.1 to 1.3).
//!
//! Parameters are merged the way Go's `Request.Form` merges them: form-body values come
//! first, then URL values, so for a single-valued parameter the body wins and a repeated one
//! (`match[]`) is the concatenation of both.

use crate::error::{Error, Result};

/// Prometheus's minimum time (`MinTime` in its API), in ms.
pub const MIN_TIME_MS: i64 = -9_223_309_901_257_974_000;
/// Prometheus's maximum time (`MaxTime` in its API), in ms.
pub const MAX_TIME_MS: i64 = 9_223_309_901_257_974_999;
/// RFC 3339 rendering of [`MIN_TIME_MS`] that clients send to mean "unbounded".
const MIN_TIME_TEXT: &str = "-292273086-05-16T16:47:06Z";
/// RFC 3339 rendering of [`MAX_TIME_MS`].
const MAX_TIME_TEXT: &str = "292277025-08-18T07:12:54.999999999Z";

/// Decoded request parameters, body values first.
#[derive(Clone, Debug, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Parses a URL query string and an optional form body.
    pub fn parse(url_query: Option<&str>, form_body: Option<&[u8]>) -> Result<Params> {
        let mut pairs = Vec::new();
        if let Some(body) = form_body {
            let text = std::str::from_utf8(body)
                .map_err(|_| Error::BadData("form body is not valid UTF-8".into()))?;
            parse_urlencoded(text, &mut pairs)?;
        }
        if let Some(q) = url_query {
            parse_urlencoded(q, &mut pairs)?;
        }
        Ok(Params { pairs })
    }

    /// The first value of `name`, if present (an empty value counts as present).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first non-empty value of `name` (Go's `FormValue` returns "" for absent, and
    /// Prometheus treats "" like absent for optional parameters).
    pub fn get_nonempty(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.is_empty())
    }

    /// All values of `name`, in order.
    pub fn get_all(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

fn parse_urlencoded(text: &str, out: &mut Vec<(String, String)>) -> Result<()> {
    for part in text.split('&') {
        if part.is_empty() {
            continue;
        }
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        out.push((percent_decode(k)?, percent_decode(v)?));
    }
    Ok(())
}

/// Decodes `application/x-www-form-urlencoded` text: `+` is a space, `%XX` a byte.
pub fn percent_decode(s: &str) -> Result<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = b.get(i + 1..i + 3).and_then(|h| {
                    let h = std::str::from_utf8(h).ok()?;
                    u8::from_str_radix(h, 16).ok()
                });
                match hex {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    None => {
                        return Err(Error::BadData(format!(
                            "invalid URL escape {:?}",
                            String::from_utf8_lossy(&b[i..b.len().min(i + 3)])
                        )))
                    }
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out)
        .map_err(|_| Error::BadData("parameter is not valid UTF-8 after URL decoding".into()))
}

/// Parses a Prometheus time parameter into ms: float Unix seconds (rounded to the
/// millisecond), RFC 3339, or the literal min/max time renderings.
pub fn parse_time(s: &str) -> Result<i64> {
    let err = || Error::BadData(format!("cannot parse {s:?} to a valid timestamp"));
    if let Some(secs) = parse_go_float(s) {
        if !secs.is_finite() {
            return Err(err());
        }
        let whole = secs.trunc();
        let frac_ms = ((secs - whole) * 1000.0).round();
        let ms = whole * 1000.0 + frac_ms;
        if ms >= i64::MAX as f64 || ms <= i64::MIN as f64 {
            return Err(err());
        }
        return Ok(ms as i64);
    }
    if s == MIN_TIME_TEXT {
        return Ok(MIN_TIME_MS);
    }
    if s == MAX_TIME_TEXT {
        return Ok(MAX_TIME_MS);
    }
    parse_rfc3339(s).ok_or_else(err)
}

/// Parses a float the way Go's `strconv.ParseFloat` accepts plain decimal input. Rust's
/// parser is close enough, but it also takes `inf`/`infinity`/`nan` in any case, which Go
/// takes too, so only the digits-and-exponent shape needs no extra check.
fn parse_go_float(s: &str) -> Option<f64> {
    if s.is_empty() || s.contains('_') {
        return None;
    }
    s.parse::<f64>().ok()
}

/// Parses a Prometheus duration parameter into ms: float seconds, or a duration string
/// like `1h30m`.
pub fn parse_duration(s: &str) -> Result<i64> {
    if let Some(secs) = parse_go_float(s) {
        let ns = secs * 1e9;
        if ns.is_nan() {
            return Err(Error::BadData(format!(
                "cannot parse {s:?} to a valid duration"
            )));
        }
        if ns >= i64::MAX as f64 || ns <= i64::MIN as f64 {
            return Err(Error::BadData(format!(
                "cannot parse {s:?} to a valid duration. It overflows int64"
            )));
        }
        return Ok((ns as i64) / 1_000_000);
    }
    parse_prom_duration(s)
        .ok_or_else(|| Error::BadData(format!("cannot parse {s:?} to a valid duration")))
}

/// `<int><unit>` pairs in descending unit order (y w d h m s ms), as Prometheus accepts.
pub fn parse_prom_duration(s: &str) -> Option<i64> {
    const UNITS: [(&str, i64); 7] = [
        ("y", 365 * 24 * 3_600_000),
        ("w", 7 * 24 * 3_600_000),
        ("d", 24 * 3_600_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    if s.is_empty() {
        return None;
    }
    let b = s.as_bytes();
    let mut i = 0;
    let mut total: i64 = 0;
    let mut next_unit = 0;
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
        let n: i64 = s[start..i].parse().ok()?;
        let ustart = i;
        while i < b.len() && b[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit = &s[ustart..i];
        let idx = UNITS[next_unit..].iter().position(|(u, _)| *u == unit)? + next_unit;
        total = total.checked_add(n.checked_mul(UNITS[idx].1)?)?;
        next_unit = idx + 1;
    }
    Some(total)
}

/// Parses RFC 3339 (`2015-07-01T20:10:51.781Z`, `...+02:00`) into ms since the epoch.
/// Sub-millisecond digits are truncated.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(r)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !(b[10] == b'T' || b[10] == b't') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, min, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || min > 59 || sec > 59 {
        return None;
    }
    let mut i = 19;
    let mut ms = 0i64;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
        for k in 0..3 {
            ms = ms * 10
                + b.get(start + k)
                    .filter(|_| start + k < i)
                    .map_or(0, |d| i64::from(d - b'0'));
        }
    }
    let offset_s = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        c @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let (oh, om) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let off = oh * 3600 + om * 60;
            if *c == b'+' {
                off
            } else {
                -off
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + min * 60 + sec - offset_s;
    Some(secs * 1000 + ms)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses a non-negative integer `limit` parameter; absent or empty means 0 (no limit).
/// Errors read as Prometheus's (`invalid parameter "limit": ...`).
pub fn parse_limit(p: &Params) -> Result<usize> {
    let Some(s) = p.get_nonempty("limit") else {
        return Ok(0);
    };
    let bad = |msg: String| Error::BadData(format!("invalid parameter \"limit\": {msg}"));
    let n: i64 = s.parse().map_err(|_| {
        // Go's strconv.Atoi wording, as Prometheus passes it through.
        bad(format!("strconv.Atoi: parsing {s:?}: invalid syntax"))
    })?;
    if n < 0 {
        return Err(bad("limit must be non-negative".into()));
    }
    Ok(n as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_seconds_round_to_ms() {
        assert_eq!(parse_time("1435781451.781").unwrap(), 1_435_781_451_781);
        assert_eq!(parse_time("1700000000").unwrap(), 1_700_000_000_000);
        assert_eq!(parse_time("1.0006").unwrap(), 1001);
        assert_eq!(parse_time("1.0004").unwrap(), 1000);
        assert_eq!(parse_time("-1.5").unwrap(), -1500);
        assert_eq!(parse_time("1e3").unwrap(), 1_000_000);
        // Grafana's exemplar probe sends ms; still a (large) valid time.
        assert_eq!(parse_time("1712000000000").unwrap(), 1_712_000_000_000_000);
    }

    #[test]
    fn rfc3339_forms() {
        assert_eq!(
            parse_time("2015-07-01T20:10:51.781Z").unwrap(),
            1_435_781_451_781
        );
        assert_eq!(
            parse_time("2015-07-01T22:10:51.781+02:00").unwrap(),
            1_435_781_451_781
        );
        assert_eq!(parse_time("1970-01-01T00:00:00Z").unwrap(), 0);
        assert_eq!(
            parse_time("2015-07-01T20:10:51Z").unwrap(),
            1_435_781_451_000
        );
        assert_eq!(
            parse_time("2015-07-01T20:10:51.781234567Z").unwrap(),
            1_435_781_451_781
        );
        assert_eq!(parse_time(MIN_TIME_TEXT).unwrap(), MIN_TIME_MS);
        assert_eq!(parse_time(MAX_TIME_TEXT).unwrap(), MAX_TIME_MS);
    }

    #[test]
    fn bad_times_are_errors() {
        for s in [
            "soon",
            "",
            "NaN",
            "Inf",
            "2015-13-01T00:00:00Z",
            "2015-02-29T00:00:00Z",
            "2015-07-01 20:10:51Z",
            "2015-07-01T20:10:51",
            "1e300",
        ] {
            let e = parse_time(s).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("cannot parse {s:?} to a valid timestamp")
            );
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("15").unwrap(), 15_000);
        assert_eq!(parse_duration("0.5").unwrap(), 500);
        assert_eq!(parse_duration("1e3").unwrap(), 1_000_000);
        assert_eq!(parse_duration("1h30m").unwrap(), 5_400_000);
        assert_eq!(parse_duration("5m").unwrap(), 300_000);
        assert_eq!(parse_duration("1d").unwrap(), 86_400_000);
        assert_eq!(parse_duration("1y2w").unwrap(), (365 + 14) * 86_400_000);
        assert_eq!(parse_duration("1s500ms").unwrap(), 1_500);
        assert!(parse_duration("30m1h").is_err());
        assert!(parse_duration("1x").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("").is_err());
        assert_eq!(
            parse_duration("1e20").unwrap_err().to_string(),
            "cannot parse \"1e20\" to a valid duration. It overflows int64"
        );
    }

    #[test]
    fn form_merging_body_first() {
        let p = Params::parse(
            Some("query=up&match%5B%5D=a&time=1"),
            Some(b"time=2&match[]=b&x=a+b%2Bc"),
        )
        .unwrap();
        assert_eq!(p.get("time"), Some("2"));
        assert_eq!(p.get_all("match[]"), vec!["b", "a"]);
        assert_eq!(p.get("x"), Some("a b+c"));
        assert_eq!(p.get("query"), Some("up"));
        assert!(Params::parse(Some("a=%zz"), None).is_err());
        assert!(Params::parse(Some("a=%ff"), None).is_err());
    }

    #[test]
    fn limits() {
        let p = Params::parse(Some("limit=-1"), None).unwrap();
        assert_eq!(
            parse_limit(&p).unwrap_err().to_string(),
            "invalid parameter \"limit\": limit must be non-negative"
        );
        let p = Params::parse(Some("limit=abc"), None).unwrap();
        assert_eq!(
            parse_limit(&p).unwrap_err().to_string(),
            "invalid parameter \"limit\": strconv.Atoi: parsing \"abc\": invalid syntax"
        );
        let p = Params::parse(Some("limit=5"), None).unwrap();
        assert_eq!(parse_limit(&p).unwrap(), 5);
    }
}

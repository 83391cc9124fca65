//! Go's `time.Time` and `time.Duration` as templates see them: `Time.String`, `Time.Format`
//! with Go reference layouts (`2006-01-02 15:04:05.000 -0700 MST`), `Duration.String`
//! (`1h2m0.01s`), and the RFC 3339 forms Prometheus's APIs and notifier print.
//!
//! Invariant: every time is UTC (Prometheus converts template times with `.UTC()`, and Strata
//! serves UTC everywhere), stored as nanoseconds since the Unix epoch in an `i128` so that
//! `Add` cannot overflow.

use std::fmt::Write as _;

/// A point in time, UTC, nanoseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct GoTime {
    /// Nanoseconds since 1970-01-01T00:00:00Z.
    pub ns: i128,
}

const NS_PER_SEC: i128 = 1_000_000_000;

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// Broken-down civil time.
struct Civil {
    year: i64,
    month: u32, // 1..=12
    day: u32,   // 1..=31
    yday: u32,  // 1..=366
    wday: usize,
    hour: u32,
    min: u32,
    sec: u32,
    nsec: u32,
}

/// (year, month, day) of a day count since 1970-01-01 (proleptic Gregorian calendar).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

impl GoTime {
    /// The time `ms` milliseconds after the epoch.
    pub fn from_millis(ms: i64) -> GoTime {
        GoTime {
            ns: ms as i128 * 1_000_000,
        }
    }

    /// Whole seconds since the epoch (floor), as Go's `Unix()`.
    pub fn unix(self) -> i64 {
        self.ns.div_euclid(NS_PER_SEC) as i64
    }

    /// Milliseconds since the epoch (floor), as Go's `UnixMilli()`.
    pub fn unix_milli(self) -> i64 {
        self.ns.div_euclid(1_000_000) as i64
    }

    fn civil(self) -> Civil {
        let secs = self.ns.div_euclid(NS_PER_SEC);
        let nsec = self.ns.rem_euclid(NS_PER_SEC) as u32;
        let days = secs.div_euclid(86_400) as i64;
        let sod = secs.rem_euclid(86_400) as u32;
        let (year, month, day) = civil_from_days(days);
        const CUM: [u32; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
        let mut yday = CUM[month as usize - 1] + day;
        if month > 2 && is_leap(year) {
            yday += 1;
        }
        Civil {
            year,
            month,
            day,
            yday,
            wday: (days + 4).rem_euclid(7) as usize,
            hour: sod / 3600,
            min: sod / 60 % 60,
            sec: sod % 60,
            nsec,
        }
    }

    /// Go's `Time.String()`: `2006-01-02 15:04:05.999999999 +0000 UTC`.
    pub fn go_string(self) -> String {
        self.format("2006-01-02 15:04:05.999999999 -0700 MST")
    }

    /// RFC 3339 with up to nine fraction digits, trailing zeros dropped (Go's
    /// `time.RFC3339Nano`, what `encoding/json` prints for a `time.Time`).
    pub fn rfc3339_nano(self) -> String {
        self.format("2006-01-02T15:04:05.999999999Z07:00")
    }

    /// RFC 3339 with exactly three fraction digits (go-openapi `strfmt.DateTime`, the
    /// Alertmanager API's time format).
    pub fn rfc3339_millis(self) -> String {
        self.format("2006-01-02T15:04:05.000Z07:00")
    }

    /// Go's `Time.Format(layout)` for a UTC time.
    pub fn format(self, layout: &str) -> String {
        let c = self.civil();
        let mut out = String::with_capacity(layout.len() + 10);
        let b = layout.as_bytes();
        let mut i = 0;
        // Start of the pending literal run.
        let mut lit = 0;
        while i < b.len() {
            let Some((len, std)) = std_at(b, i) else {
                i += layout[i..].chars().next().map_or(1, char::len_utf8);
                continue;
            };
            out.push_str(&layout[lit..i]);
            write_std(&mut out, &c, std);
            i += len;
            lit = i;
        }
        out.push_str(&layout[lit..]);
        out
    }
}

/// A layout element.
#[derive(Clone, Copy)]
enum Std {
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    UnderYearDay,
    ZeroYearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    LongYear,
    Year,
    PM(bool),
    /// Numeric zone: `Z` for UTC when true, then the text for a zero offset.
    Zone(bool, &'static str),
    ZoneName,
    /// Fraction of a second: separator, digit count (at most nine are printed), trailing
    /// zeros trimmed when true.
    Frac(char, usize, bool),
}

fn starts(b: &[u8], i: usize, s: &str) -> bool {
    b[i..].starts_with(s.as_bytes())
}

/// The layout element starting at `b[i]`, with its length, if any (Go's `nextStdChunk`).
fn std_at(b: &[u8], i: usize) -> Option<(usize, Std)> {
    let digit_at = |j: usize| b.get(j).is_some_and(u8::is_ascii_digit);
    // "Janet" and "Monkey" are not layout elements.
    let lower_at = |k: usize| b.get(i + k).is_some_and(u8::is_ascii_lowercase);
    Some(match b[i] {
        b'J' if starts(b, i, "January") => (7, Std::LongMonth),
        b'J' if starts(b, i, "Jan") && !lower_at(3) => (3, Std::Month),
        b'M' if starts(b, i, "Monday") => (6, Std::LongWeekDay),
        b'M' if starts(b, i, "Mon") && !lower_at(3) => (3, Std::WeekDay),
        b'M' if starts(b, i, "MST") => (3, Std::ZoneName),
        b'0' if starts(b, i, "002") => (3, Std::ZeroYearDay),
        b'0' if matches!(b.get(i + 1), Some(b'1'..=b'6')) => (
            2,
            match b[i + 1] {
                b'1' => Std::ZeroMonth,
                b'2' => Std::ZeroDay,
                b'3' => Std::ZeroHour12,
                b'4' => Std::ZeroMinute,
                b'5' => Std::ZeroSecond,
                _ => Std::Year,
            },
        ),
        b'1' if starts(b, i, "15") => (2, Std::Hour),
        b'1' => (1, Std::NumMonth),
        b'2' if starts(b, i, "2006") => (4, Std::LongYear),
        b'2' => (1, Std::Day),
        b'_' if starts(b, i, "_2") && !starts(b, i, "_2006") => (2, Std::UnderDay),
        b'_' if starts(b, i, "__2") => (3, Std::UnderYearDay),
        b'3' => (1, Std::Hour12),
        b'4' => (1, Std::Minute),
        b'5' => (1, Std::Second),
        b'P' if starts(b, i, "PM") => (2, Std::PM(true)),
        b'p' if starts(b, i, "pm") => (2, Std::PM(false)),
        b'-' | b'Z' => {
            let z = b[i] == b'Z';
            let forms: [(&str, &'static str); 5] = [
                ("070000", "+000000"),
                ("07:00:00", "+00:00:00"),
                ("0700", "+0000"),
                ("07:00", "+00:00"),
                ("07", "+00"),
            ];
            let (f, zero) = forms.iter().find(|(f, _)| starts(b, i + 1, f))?;
            (1 + f.len(), Std::Zone(z, zero))
        }
        b'.' | b',' if matches!(b.get(i + 1), Some(b'0' | b'9')) => {
            let ch = b[i + 1];
            let mut j = i + 1;
            while b.get(j) == Some(&ch) {
                j += 1;
            }
            if digit_at(j) {
                return None;
            }
            (j - i, Std::Frac(b[i] as char, j - i - 1, ch == b'9'))
        }
        _ => return None,
    })
}

fn write_std(out: &mut String, c: &Civil, std: Std) {
    let h12 = match c.hour % 12 {
        0 => 12,
        h => h,
    };
    match std {
        Std::LongMonth => out.push_str(MONTHS[c.month as usize - 1]),
        Std::Month => out.push_str(&MONTHS[c.month as usize - 1][..3]),
        Std::NumMonth => {
            let _ = write!(out, "{}", c.month);
        }
        Std::ZeroMonth => {
            let _ = write!(out, "{:02}", c.month);
        }
        Std::LongWeekDay => out.push_str(DAYS[c.wday]),
        Std::WeekDay => out.push_str(&DAYS[c.wday][..3]),
        Std::Day => {
            let _ = write!(out, "{}", c.day);
        }
        Std::UnderDay => {
            let _ = write!(out, "{:>2}", c.day);
        }
        Std::ZeroDay => {
            let _ = write!(out, "{:02}", c.day);
        }
        Std::UnderYearDay => {
            let _ = write!(out, "{:>3}", c.yday);
        }
        Std::ZeroYearDay => {
            let _ = write!(out, "{:03}", c.yday);
        }
        Std::Hour => {
            let _ = write!(out, "{:02}", c.hour);
        }
        Std::Hour12 => {
            let _ = write!(out, "{h12}");
        }
        Std::ZeroHour12 => {
            let _ = write!(out, "{h12:02}");
        }
        Std::Minute => {
            let _ = write!(out, "{}", c.min);
        }
        Std::ZeroMinute => {
            let _ = write!(out, "{:02}", c.min);
        }
        Std::Second => {
            let _ = write!(out, "{}", c.sec);
        }
        Std::ZeroSecond => {
            let _ = write!(out, "{:02}", c.sec);
        }
        Std::LongYear => {
            if c.year < 0 {
                let _ = write!(out, "-{:04}", -c.year);
            } else {
                let _ = write!(out, "{:04}", c.year);
            }
        }
        Std::Year => {
            let _ = write!(out, "{:02}", c.year.rem_euclid(100));
        }
        Std::PM(upper) => out.push_str(match (c.hour >= 12, upper) {
            (true, true) => "PM",
            (false, true) => "AM",
            (true, false) => "pm",
            (false, false) => "am",
        }),
        Std::Zone(z, zero) => out.push_str(if z { "Z" } else { zero }),
        Std::ZoneName => out.push_str("UTC"),
        Std::Frac(sep, n, trim) => {
            let digits = format!("{:09}", c.nsec);
            let mut d = &digits[..n.min(9)];
            if trim {
                d = d.trim_end_matches('0');
                if d.is_empty() {
                    return;
                }
            }
            out.push(sep);
            out.push_str(d);
        }
    }
}

/// Go's `Duration.String()` of `ns` nanoseconds: `72h3m0.5s`, `1.5ms`, `0s`.
pub fn duration_string(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let neg = ns < 0;
    let mut u = ns.unsigned_abs();
    let mut out = String::new();
    if u < 1_000_000_000 {
        let (unit, prec) = if u < 1_000 {
            ("ns", 0)
        } else if u < 1_000_000 {
            ("\u{b5}s", 3)
        } else {
            ("ms", 6)
        };
        let frac = frac_string(&mut u, prec);
        let _ = write!(out, "{u}{frac}{unit}");
    } else {
        let frac = frac_string(&mut u, 9);
        let secs = u % 60;
        u /= 60;
        if u > 0 {
            let mins = u % 60;
            u /= 60;
            if u > 0 {
                let _ = write!(out, "{u}h");
            }
            let _ = write!(out, "{mins}m");
        }
        let _ = write!(out, "{secs}{frac}s");
    }
    if neg {
        out.insert(0, '-');
    }
    out
}

/// Splits off the last `prec` decimal digits of `*v` as `.ddd` without trailing zeros (empty
/// when they are all zero) and leaves the integer part in `*v`.
fn frac_string(v: &mut u64, prec: u32) -> String {
    let p = 10u64.pow(prec);
    let f = *v % p;
    *v /= p;
    if f == 0 {
        return String::new();
    }
    let s = format!("{:0width$}", f, width = prec as usize);
    format!(".{}", s.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: f64) -> GoTime {
        GoTime {
            ns: (secs * 1e9).round() as i128,
        }
    }

    #[test]
    fn string_form() {
        // Expected strings from Prometheus's template tests (humanizeTimestamp).
        assert_eq!(t(0.0).go_string(), "1970-01-01 00:00:00 +0000 UTC");
        assert_eq!(t(-1.0).go_string(), "1969-12-31 23:59:59 +0000 UTC");
        assert_eq!(t(1234567.0).go_string(), "1970-01-15 06:56:07 +0000 UTC");
        assert_eq!(t(9223372036.0).go_string(), "2262-04-11 23:47:16 +0000 UTC");
        assert_eq!(
            GoTime::from_millis(1435065584128).go_string(),
            "2015-06-23 13:19:44.128 +0000 UTC"
        );
    }

    #[test]
    fn layouts() {
        let x = GoTime::from_millis(1353755652000);
        assert_eq!(
            x.format("Mon Jan 2 15:04:05 2006"),
            "Sat Nov 24 11:14:12 2012"
        );
        assert_eq!(x.format("2006"), "2012");
        assert_eq!(
            x.format("Monday, 02-Jan-06 15:04:05 MST"),
            "Saturday, 24-Nov-12 11:14:12 UTC"
        );
        assert_eq!(x.format("3:04PM _2 __2 002"), "11:14AM 24 329 329");
        let y = GoTime::from_millis(1_000_000_000_123);
        assert_eq!(y.rfc3339_nano(), "2001-09-09T01:46:40.123Z");
        assert_eq!(y.rfc3339_millis(), "2001-09-09T01:46:40.123Z");
        assert_eq!(
            GoTime::from_millis(1_000_000_000_000).rfc3339_nano(),
            "2001-09-09T01:46:40Z"
        );
        assert_eq!(
            GoTime::from_millis(1_000_000_000_000).rfc3339_millis(),
            "2001-09-09T01:46:40.000Z"
        );
        assert_eq!(
            y.format("15:04:05.000000 -07:00 Z0700"),
            "01:46:40.123000 +00:00 Z"
        );
        assert_eq!(
            GoTime::from_millis(-62135596800000).rfc3339_nano(),
            "0001-01-01T00:00:00Z"
        );
        // 2000 is a leap year: 1 March is day 61.
        assert_eq!(
            GoTime::from_millis(951868800000).format("2006-01-02 002"),
            "2000-03-01 061"
        );
    }

    #[test]
    fn durations() {
        let s = 1_000_000_000i64;
        assert_eq!(duration_string(1800 * s), "30m0s");
        assert_eq!(duration_string(3720 * s + 10_000_000), "1h2m0.01s");
        assert_eq!(duration_string(0), "0s");
        assert_eq!(duration_string(1_500_000), "1.5ms");
        assert_eq!(duration_string(1_500), "1.5\u{b5}s");
        assert_eq!(duration_string(7), "7ns");
        assert_eq!(duration_string(-90 * s), "-1m30s");
        assert_eq!(duration_string(100 * 3600 * s), "100h0m0s");
    }
}

//! Prometheus durations as rule files write them (`30s`, `5m`, `1h30m`, `1d`, `0`).
//!
//! The grammar is Prometheus's `model.Duration`: one or more `<digits><unit>` pairs with units
//! `y w d h m s ms` in that order, each at most once; a bare `0` is allowed. Values are kept in
//! milliseconds. The error texts are Prometheus's.

/// Unit, its length in ms, and its rank (units must appear in increasing rank).
const UNITS: [(&str, i64, u8); 7] = [
    ("y", 365 * 86_400_000, 1),
    ("w", 7 * 86_400_000, 2),
    ("d", 86_400_000, 3),
    ("h", 3_600_000, 4),
    ("m", 60_000, 5),
    ("s", 1_000, 6),
    ("ms", 1, 7),
];

/// Parses a duration into milliseconds.
pub fn parse(s: &str) -> Result<i64, String> {
    match s {
        "0" => return Ok(0),
        "" => return Err("empty duration string".into()),
        _ => {}
    }
    let invalid = || format!("not a valid duration string: {s:?}");
    let b = s.as_bytes();
    let (mut i, mut total, mut last_rank) = (0usize, 0i64, 0u8);
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return Err(invalid());
        }
        let n: i64 = s[start..i].parse().map_err(|_| invalid())?;
        let ustart = i;
        while i < b.len() && !b[i].is_ascii_digit() {
            i += 1;
        }
        if i == ustart {
            return Err(invalid());
        }
        let unit = &s[ustart..i];
        let Some(&(_, mult, rank)) = UNITS.iter().find(|(u, _, _)| *u == unit) else {
            return Err(format!("unknown unit {unit:?} in duration {s:?}"));
        };
        if rank <= last_rank {
            return Err(invalid());
        }
        last_rank = rank;
        total = n
            .checked_mul(mult)
            .and_then(|v| total.checked_add(v))
            .filter(|v| v.checked_mul(1_000_000).is_some())
            .ok_or_else(|| "duration out of range".to_string())?;
    }
    Ok(total)
}

/// Formats milliseconds the way Prometheus prints a duration (`1h30m`, `500ms`, `0s`):
/// years and weeks only when they divide the duration exactly (`30d`, not `4w2d`; `4w`).
pub fn format(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    let mut rest = ms;
    if rest < 0 {
        out.push('-');
        rest = -rest;
    }
    for (unit, mult, _) in UNITS {
        if matches!(unit, "y" | "w") && rest % mult != 0 {
            continue;
        }
        if rest >= mult {
            out.push_str(&format!("{}{unit}", rest / mult));
            rest %= mult;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prometheus_durations() {
        assert_eq!(parse("0"), Ok(0));
        assert_eq!(parse("30s"), Ok(30_000));
        assert_eq!(parse("1h30m"), Ok(5_400_000));
        assert_eq!(parse("1d"), Ok(86_400_000));
        assert_eq!(parse("2w"), Ok(14 * 86_400_000));
        assert_eq!(parse("1y"), Ok(365 * 86_400_000));
        assert_eq!(parse("1s500ms"), Ok(1_500));
        assert_eq!(parse("0s"), Ok(0));
    }

    #[test]
    fn rejects_what_prometheus_rejects() {
        assert_eq!(parse(""), Err("empty duration string".into()));
        assert_eq!(
            parse("30"),
            Err("not a valid duration string: \"30\"".into())
        );
        assert_eq!(parse("m"), Err("not a valid duration string: \"m\"".into()));
        assert_eq!(
            parse("1m1h"),
            Err("not a valid duration string: \"1m1h\"".into())
        );
        assert_eq!(
            parse("1s1s"),
            Err("not a valid duration string: \"1s1s\"".into())
        );
        assert_eq!(
            parse("1.5h"),
            Err("unknown unit \".\" in duration \"1.5h\"".into())
        );
        assert_eq!(
            parse("-1m"),
            Err("not a valid duration string: \"-1m\"".into())
        );
        assert_eq!(
            parse("5x"),
            Err("unknown unit \"x\" in duration \"5x\"".into())
        );
        assert_eq!(parse("99999999999y"), Err("duration out of range".into()));
    }

    #[test]
    fn formats_like_prometheus() {
        assert_eq!(format(0), "0s");
        assert_eq!(format(5_400_000), "1h30m");
        assert_eq!(format(1_500), "1s500ms");
        assert_eq!(format(86_400_000), "1d");
        assert_eq!(format(30 * 86_400_000), "30d");
        assert_eq!(format(28 * 86_400_000), "4w");
        assert_eq!(format(90 * 86_400_000), "90d");
        assert_eq!(format(366 * 86_400_000), "366d");
        for s in ["30s", "1h30m", "1d", "2w", "1y", "1s500ms"] {
            assert_eq!(format(parse(s).unwrap()), s);
        }
    }
}

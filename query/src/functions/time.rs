//! Date functions (UTC): `minute hour day_of_week day_of_month day_of_year days_in_month
//! month year`, on Unix seconds.

use crate::parser::functions::Func;

/// Civil date `(year, month 1-12, day 1-31)` of a day count since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
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
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// Applies the date function `name` to Unix seconds `v`; `None` if `name` is not one.
pub fn date_part(name: Func, v: f64) -> Option<f64> {
    if !matches!(
        name,
        Func::Minute
            | Func::Hour
            | Func::DayOfWeek
            | Func::DayOfMonth
            | Func::DayOfYear
            | Func::DaysInMonth
            | Func::Month
            | Func::Year
    ) {
        return None;
    }
    if !v.is_finite() {
        return Some(f64::NAN);
    }
    let secs = v.floor() as i64;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let r = match name {
        Func::Minute => (sod / 60 % 60) as f64,
        Func::Hour => (sod / 3600) as f64,
        Func::DayOfWeek => (days + 4).rem_euclid(7) as f64,
        Func::DayOfMonth => d as f64,
        Func::DayOfYear => {
            const CUM: [u32; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
            let leap = if m > 2 && is_leap(y) { 1 } else { 0 };
            (CUM[(m - 1) as usize] + d + leap) as f64
        }
        Func::DaysInMonth => {
            const DAYS: [u32; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
            let extra = if m == 2 && is_leap(y) { 1 } else { 0 };
            (DAYS[(m - 1) as usize] + extra) as f64
        }
        Func::Month => m as f64,
        Func::Year => y as f64,
        _ => return None,
    };
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_and_leap_days() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(date_part(Func::DayOfWeek, 0.0), Some(4.0)); // Thursday
                                                                // 2024-02-29 12:34:56 UTC = 1709210096
        let t = 1_709_210_096.0;
        assert_eq!(date_part(Func::Year, t), Some(2024.0));
        assert_eq!(date_part(Func::Month, t), Some(2.0));
        assert_eq!(date_part(Func::DayOfMonth, t), Some(29.0));
        assert_eq!(date_part(Func::DaysInMonth, t), Some(29.0));
        assert_eq!(date_part(Func::DayOfYear, t), Some(60.0));
        assert_eq!(date_part(Func::Hour, t), Some(12.0));
        assert_eq!(date_part(Func::Minute, t), Some(34.0));
        assert_eq!(date_part(Func::Year, -1.0), Some(1969.0));
        assert_eq!(date_part(Func::Rate, t), None);
    }
}

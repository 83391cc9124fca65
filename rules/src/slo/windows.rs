//! SLO periods and their multiwindow multi-burn-rate alert tables.
//!
//! Each period has four alert rows, (severity, short window, long window, share of the
//! period's error budget the row lets burn within its long window):
//!
//! | period | page 5m/1h | page 30m/6h | ticket 2h/1d | ticket 6h/3d |
//! |---|---|---|---|---|
//! | 30d, 28d | 2 % | 5 % | 10 % | 10 % |
//! | 7d | 8 % | 12.5 % | 20 % | 42 % |
//!
//! (30d and 28d are the SRE Workbook's table as Sloth ships it; 7d is Sloth's example for a
//! 7-day period, whose larger shares keep the thresholds meaningful.) A row's burn-rate
//! factor is `share * period_hours / 100 / long_hours`, computed in that order so that the
//! printed factors are Sloth's (`14.4`, `6`, `3`, `1` for 30 days). The SLI windows are the
//! rows' distinct windows, shortest first, then the period.

use std::fmt;

use crate::duration;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

/// How urgent an alert row is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// Fast burns: page someone.
    Page,
    /// Slow burns: open a ticket.
    Ticket,
}

impl Severity {
    /// `page` or `ticket` (the `sloth_severity` label).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Page => "page",
            Severity::Ticket => "ticket",
        }
    }
}

/// One multiwindow alert condition.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AlertWindow {
    /// Page or ticket.
    pub severity: Severity,
    /// Short window, ms.
    pub short: i64,
    /// Long window, ms.
    pub long: i64,
    /// Percent of the period's error budget spent within `long` at the threshold.
    pub budget_percent: f64,
}

/// An SLO period: 7, 28 or 30 days.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Period {
    ms: i64,
}

impl Period {
    /// The periods Strata has alert tables for.
    pub const SUPPORTED: [i64; 3] = [7 * DAY, 28 * DAY, 30 * DAY];

    /// Thirty days, the default (Sloth's too).
    pub const DEFAULT: Period = Period { ms: 30 * DAY };

    /// The period of `ms` milliseconds, if it is one of [`Period::SUPPORTED`].
    pub fn from_ms(ms: i64) -> Option<Period> {
        Period::SUPPORTED.contains(&ms).then_some(Period { ms })
    }

    /// Parses `7d`, `1w`, `28d`, `4w` or `30d`.
    pub fn parse(s: &str) -> Result<Period, String> {
        let ms = duration::parse(s)?;
        Period::from_ms(ms).ok_or_else(|| {
            format!(
                "unsupported SLO period {s:?}: use 7d, 28d or 30d (the periods with alert windows)"
            )
        })
    }

    /// Length, ms.
    pub fn ms(self) -> i64 {
        self.ms
    }

    /// Length in days.
    pub fn days(self) -> f64 {
        self.ms as f64 / DAY as f64
    }

    /// Length in hours.
    pub fn hours(self) -> f64 {
        self.ms as f64 / HOUR as f64
    }

    /// The four alert rows: page quick, page slow, ticket quick, ticket slow.
    pub fn alert_windows(self) -> [AlertWindow; 4] {
        let shares: [f64; 4] = if self.ms == 7 * DAY {
            [8.0, 12.5, 20.0, 42.0]
        } else {
            [2.0, 5.0, 10.0, 10.0]
        };
        let rows = [
            (Severity::Page, 5 * 60_000, HOUR),
            (Severity::Page, 30 * 60_000, 6 * HOUR),
            (Severity::Ticket, 2 * HOUR, DAY),
            (Severity::Ticket, 6 * HOUR, 3 * DAY),
        ];
        std::array::from_fn(|i| AlertWindow {
            severity: rows[i].0,
            short: rows[i].1,
            long: rows[i].2,
            budget_percent: shares[i],
        })
    }

    /// The burn-rate factor of `w` for this period (Sloth's arithmetic, see the module
    /// docs).
    pub fn burn_factor(self, w: &AlertWindow) -> f64 {
        let hours_to_spend = w.budget_percent * self.hours() / 100.0;
        hours_to_spend / (w.long as f64 / HOUR as f64)
    }

    /// Every window an SLI is recorded over: the alert rows' windows, shortest first, then
    /// the period.
    pub fn sli_windows(self) -> Vec<i64> {
        let mut w: Vec<i64> = self
            .alert_windows()
            .iter()
            .flat_map(|a| [a.short, a.long])
            .collect();
        w.sort_unstable();
        w.dedup();
        w.push(self.ms);
        w
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&window_name(self.ms))
    }
}

/// A window as Prometheus prints a duration (`5m`, `1d`, `30d`, `4w`), the form Sloth uses in
/// `sloth_window` and in record names.
pub fn window_name(ms: i64) -> String {
    duration::format(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thirty_days_is_the_workbook_table() {
        let p = Period::DEFAULT;
        let f: Vec<f64> = p.alert_windows().iter().map(|w| p.burn_factor(w)).collect();
        assert_eq!(f, vec![14.4, 6.0, 3.0, 1.0]);
        let names: Vec<String> = p.sli_windows().into_iter().map(window_name).collect();
        assert_eq!(names, ["5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d"]);
        assert_eq!(p.days(), 30.0);
    }

    #[test]
    fn other_periods() {
        let p = Period::parse("28d").unwrap();
        assert_eq!(p.to_string(), "4w");
        let f: Vec<f64> = p.alert_windows().iter().map(|w| p.burn_factor(w)).collect();
        assert!((f[0] - 13.44).abs() < 1e-12 && (f[1] - 5.6).abs() < 1e-12);
        assert!((f[2] - 2.8).abs() < 1e-12 && (f[3] - 0.9333333333333333).abs() < 1e-12);
        let p = Period::parse("1w").unwrap();
        assert_eq!((p.to_string(), p.days()), ("1w".to_string(), 7.0));
        let f: Vec<f64> = p.alert_windows().iter().map(|w| p.burn_factor(w)).collect();
        for (got, want) in f.iter().zip([13.44, 3.5, 1.4, 0.98]) {
            assert!((got - want).abs() < 1e-12, "{got} {want}");
        }
        assert!(Period::parse("14d").unwrap_err().contains("7d, 28d or 30d"));
        assert!(Period::parse("soon").is_err());
    }
}

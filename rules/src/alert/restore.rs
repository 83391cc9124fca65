//! Restoring the `for` state of alerts after a restart, from `ALERTS_FOR_STATE`
//! (Prometheus's `Group.RestoreForState`).
//!
//! The group runner calls [`AlertingRule::restore_for_state`] once, after the second
//! evaluation following startup (the first may run before recording rules and scrapes have
//! caught up), for every alerting rule of the group:
//!
//! * a rule whose `for` is below the grace period (`--rules.alert.for-grace-period`, 10 m)
//!   is simply marked restored: waiting `for` again costs less than the grace period;
//! * otherwise the latest `ALERTS_FOR_STATE` sample of each current alert within the outage
//!   tolerance (`--rules.alert.for-outage-tolerance`, 1 h) gives the old `active_at` (its
//!   value, Unix seconds) and the time Strata went down (its timestamp, whole seconds):
//!   - the alert had already fired (`for` elapsed before the outage): `active_at` is restored
//!     as it was, so it fires again at the next evaluation;
//!   - less than the grace period of `for` was left: `active_at` is moved so that the alert
//!     fires exactly one grace period from now;
//!   - otherwise `active_at` is moved forward by the downtime: the pending time already spent
//!     counts, the outage does not;
//!   - a stale marker as the latest sample means the alert was not active: nothing changes.
//!
//! Invariant: the rule is marked restored whatever happens (also on a storage error, which
//! is returned), so `ALERTS` series are written from the next evaluation on.

use std::collections::HashMap;

use strata_engine::{is_stale, Db, Labels, MatchOp, Matcher, Sample};

use super::AlertingRule;
use crate::error::{Error, Result};

/// Restoration settings (Prometheus's flag defaults in [`Default`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RestoreOptions {
    /// `--rules.alert.for-grace-period`, ms (10 m).
    pub for_grace_period: i64,
    /// `--rules.alert.for-outage-tolerance`, ms (1 h).
    pub outage_tolerance: i64,
}

impl Default for RestoreOptions {
    fn default() -> Self {
        RestoreOptions {
            for_grace_period: 10 * 60 * 1000,
            outage_tolerance: 60 * 60 * 1000,
        }
    }
}

/// What a [`SeriesLookup`] returns: each series' labels and its samples in the range.
pub type LookupResult = Result<Vec<(Labels, Vec<Sample>)>, strata_engine::Error>;

/// Selects series by matchers over `[mint, maxt]` (ms), returning each series' labels and
/// its samples in that range, oldest first.
pub type SeriesLookup<'a> = dyn FnMut(&[Matcher], i64, i64) -> LookupResult + 'a;

/// A [`SeriesLookup`] reading a database.
pub fn db_lookup(db: &Db) -> impl FnMut(&[Matcher], i64, i64) -> LookupResult + '_ {
    move |matchers, mint, maxt| {
        db.querier(mint, maxt)
            .select(matchers)?
            .into_iter()
            .map(|s| Ok((s.labels.clone(), s.try_samples()?)))
            .collect()
    }
}

impl AlertingRule {
    /// Matchers for all of this rule's `ALERTS_FOR_STATE` series: `__name__`, `alertname`
    /// and every rule label whose value is not a template.
    pub fn for_state_matchers(&self) -> Vec<Matcher> {
        self.series_labels(&Labels::empty(), None)
            .iter()
            .filter(|l| !l.value.contains("{{"))
            .filter_map(|l| Matcher::new(MatchOp::Equal, &*l.name, &*l.value).ok())
            .collect()
    }

    /// Restores `active_at` of the current alerts from storage at wall time `now` (ms); see
    /// the module docs. Returns how many alerts had their `active_at` restored.
    pub fn restore_for_state(
        &mut self,
        now: i64,
        opts: &RestoreOptions,
        lookup: &mut SeriesLookup<'_>,
    ) -> Result<usize> {
        let hold = self.def.for_ms;
        if hold < opts.for_grace_period {
            self.restored = true;
            return Ok(0);
        }
        let matchers = self.for_state_matchers();
        let series = lookup(&matchers, now - opts.outage_tolerance, now);
        self.restored = true;
        let series = series.map_err(|source| Error::Restore {
            rule: self.def.name.clone(),
            source,
        })?;
        let by_labels: HashMap<Labels, Vec<Sample>> = series
            .into_iter()
            .map(|(l, s)| (l.without(strata_engine::METRIC_NAME), s))
            .collect();
        let mut restored = 0;
        for a in self.active.values_mut() {
            let Some(last) = by_labels.get(&a.labels).and_then(|s| s.last()) else {
                continue;
            };
            if is_stale(last.v) || !last.v.is_finite() {
                continue;
            }
            // Go: time.Unix(t/1000, 0) and time.Unix(int64(v), 0), whole seconds.
            let down_at = last.t / 1000 * 1000;
            let old_active_at = (last.v as i64).saturating_mul(1000);
            let remaining = hold - (down_at - old_active_at);
            a.active_at = if remaining <= 0 {
                old_active_at
            } else if remaining < opts.for_grace_period {
                now + opts.for_grace_period - hold
            } else {
                old_active_at + (now - down_at)
            };
            restored += 1;
        }
        Ok(restored)
    }
}

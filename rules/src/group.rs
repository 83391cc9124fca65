//! A rule group at run time: its definition, its evaluation at one timestamp, and the state
//! that evaluation carries from one iteration to the next.
//!
//! [`Group::eval`] evaluates the rules in file order at one timestamp `ts` (each queried at
//! `ts - query_offset`, the instant its samples are stamped with). A recording rule's
//! samples are appended with [`strata_engine::Db::append`] before the next rule runs, so they
//! are in the WAL and visible to later rules of the group at the same timestamp. A rule that
//! fails (query error, wrong result type, duplicate series, over its limit) is marked
//! unhealthy, writes nothing (not even stale markers) and does not stop the group.
//!
//! Staleness: every series a rule wrote at its previous successful evaluation and not at
//! this one gets a stale marker at this evaluation's timestamp. After a reload,
//! [`Group::copy_state_from`] carries that memory over to the new definition, matching rules
//! by name and labels; the series of rules that no longer exist get their stale markers at
//! the new group's next evaluation.
//!
//! Alerting rules ([`RuleEval::Alerting`]) query the same way and hand the result to their
//! [`AlertingRule`] (the alert state machine of [`crate::alert`]); the `ALERTS` and
//! `ALERTS_FOR_STATE` samples it returns are appended and staled like recorded series, and
//! the alerts due for Alertmanager go to the notifier. The alert state is shared behind a
//! mutex so that the API can list alerts; it is locked only after the query has run. A group
//! loaded at startup has its alerting rules unrestored until [`Group::restore`] reads
//! `ALERTS_FOR_STATE` back (after its second iteration, as Prometheus does); groups added
//! later start restored.
//!
//! Expressions are evaluated through each rule's [`RuleQuery`]: rules with long windows keep
//! them incrementally ([`crate::incremental`]; identical results, cost independent of the
//! window), unless [`EvalContext::incremental`] is `None`. A reload that keeps a rule's
//! expression keeps its windows.
//!
//! Invariants: `prev.len() == queries.len() == def.rules.len()`; `status.rules.len() == def.rules.len()`; the
//! evaluation state is owned by whoever runs the group (one thread at a time), while the
//! status is shared behind a mutex held only to copy values in or out.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use strata_engine::{stale_nan, Batch, Labels, Sample};
use strata_query::{Engine, QueryOptions};

use crate::alert::restore::{db_lookup, RestoreOptions};
use crate::alert::{self, AlertingRule, AlertingRuleDef};
use crate::error::{Error, Result};
use crate::file::{GroupSpec, RuleKind, RuleSpec};
use crate::incremental::RuleQuery;
use crate::metrics::{GroupMetrics, RuleMetrics, Summary};
use crate::notifier::Notifier;
use crate::recording::{self, OutputSample};
use crate::schedule::{slot_ms, Alignment, Slots};
use crate::window::{IncrementalOptions, WindowStats};

/// A rule's health, as `/api/v1/rules` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    /// Not evaluated yet.
    Unknown,
    /// Last evaluation succeeded.
    Good,
    /// Last evaluation failed.
    Bad,
}

impl Health {
    /// Prometheus's word: `unknown`, `ok`, `err`.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Good => "ok",
            Health::Bad => "err",
        }
    }
}

/// How a rule is evaluated: the seam where alerting rules plug in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleEval {
    /// Record the result as new series.
    Recording,
    /// Feed the result to the rule's alert state machine.
    Alerting,
}

/// A rule's name and labels, which identify it across reloads.
type RuleIdentity = (String, Vec<(String, String)>);

/// One rule, ready to run.
#[derive(Clone, Debug)]
pub struct RuleDef {
    /// The rule as the file defines it.
    pub spec: RuleSpec,
    /// Group labels with the rule's labels over them.
    pub labels: BTreeMap<String, String>,
    /// The expression printed canonically (what `/api/v1/rules` shows as `query`).
    pub query: String,
    /// How it is evaluated.
    pub eval: RuleEval,
}

impl RuleDef {
    /// Prometheus's identity of a rule across reloads: name and labels.
    fn identity(&self) -> RuleIdentity {
        (
            self.spec.name.clone(),
            self.labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    }
}

/// A group's definition, immutable while it runs.
#[derive(Clone, Debug)]
pub struct GroupDef {
    /// The file the group comes from.
    pub file: String,
    /// The group's name.
    pub name: String,
    /// Evaluation interval, ms (the group's own or the global default).
    pub interval_ms: i64,
    /// `limit` (0 or less: none).
    pub limit: i64,
    /// `query_offset`, ms, if the group sets it.
    pub query_offset_ms: Option<i64>,
    /// Rules in order.
    pub rules: Vec<RuleDef>,
    /// Slot alignment.
    pub alignment: Alignment,
}

impl GroupDef {
    /// Builds a definition from a file's group.
    pub fn new(
        file: &str,
        spec: &GroupSpec,
        default_interval_ms: i64,
        alignment: Alignment,
    ) -> GroupDef {
        let rules = spec
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| RuleDef {
                spec: r.clone(),
                labels: spec.rule_labels(i),
                query: r.expr.to_string(),
                eval: match r.kind {
                    RuleKind::Recording => RuleEval::Recording,
                    RuleKind::Alerting { .. } => RuleEval::Alerting,
                },
            })
            .collect();
        GroupDef {
            file: file.to_string(),
            name: spec.name.clone(),
            interval_ms: spec.interval.unwrap_or(default_interval_ms).max(1),
            limit: spec.limit,
            query_offset_ms: spec.query_offset,
            rules,
            alignment,
        }
    }

    /// `<file>;<name>`, the key Prometheus identifies groups by.
    pub fn key(&self) -> String {
        format!("{};{}", self.file, self.name)
    }

    /// The query offset in force (0 unless the group sets one).
    pub fn query_offset(&self) -> i64 {
        self.query_offset_ms.unwrap_or(0)
    }

    /// The group's evaluation slots.
    pub fn slots(&self) -> Slots {
        Slots::new(&self.file, &self.name, self.interval_ms, self.alignment)
    }

    /// Prometheus's `Equals`: same name, file, interval, limit, query offset and rules
    /// (kind, name, printed expression, labels, `for`, `keep_firing_for`, annotations).
    pub fn same_as(&self, o: &GroupDef) -> bool {
        self.name == o.name
            && self.file == o.file
            && self.interval_ms == o.interval_ms
            && self.limit == o.limit
            && self.query_offset_ms == o.query_offset_ms
            && self.alignment == o.alignment
            && self.rules.len() == o.rules.len()
            && self.rules.iter().zip(&o.rules).all(|(a, b)| {
                a.spec.name == b.spec.name
                    && a.spec.kind == b.spec.kind
                    && a.query == b.query
                    && a.labels == b.labels
            })
    }
}

/// The last evaluation of one rule, for the API.
#[derive(Clone, Debug)]
pub struct RuleStatus {
    /// Health.
    pub health: Health,
    /// The last error, if the last evaluation failed.
    pub last_error: Option<String>,
    /// How long the last evaluation took.
    pub evaluation_time: Duration,
    /// Wall-clock start of the last evaluation.
    pub last_evaluation: Option<SystemTime>,
}

impl Default for RuleStatus {
    fn default() -> Self {
        RuleStatus {
            health: Health::Unknown,
            last_error: None,
            evaluation_time: Duration::ZERO,
            last_evaluation: None,
        }
    }
}

/// The last iteration of a group, for the API.
#[derive(Clone, Debug, Default)]
pub struct GroupStatus {
    /// How long the last iteration took.
    pub evaluation_time: Duration,
    /// Wall-clock start of the last iteration.
    pub last_evaluation: Option<SystemTime>,
    /// The timestamp (ms) the last evaluation queried at and stamped its samples with.
    pub timestamp_ms: Option<i64>,
    /// Per rule, in order.
    pub rules: Vec<RuleStatus>,
}

/// What rule evaluation needs from the outside.
pub struct EvalContext {
    /// The engine rules query (its database is where results are appended).
    pub engine: Engine,
    /// `prometheus_rule_evaluation_duration_seconds`.
    pub rule_durations: Summary,
    /// `prometheus_rule_group_duration_seconds`.
    pub group_durations: Summary,
    /// `$externalLabels` of alert templates (and added to notifications by the notifier).
    pub external_labels: Labels,
    /// `$externalURL`, and the base of alerts' `generatorURL`.
    pub external_url: String,
    /// How often a still-firing alert is re-sent, ms (Prometheus's 1 m).
    pub resend_delay_ms: i64,
    /// `for` state restoration settings.
    pub restore: RestoreOptions,
    /// Where alerts go; `None` keeps them in Strata (API and `ALERTS` only).
    pub notifier: Option<Arc<Notifier>>,
    /// How rules with long windows keep them incrementally (`None`: every rule is
    /// evaluated in full by the engine).
    pub incremental: Option<IncrementalOptions>,
}

impl EvalContext {
    /// A context over `engine` with Prometheus's alerting defaults and no notifier.
    pub fn new(engine: Engine) -> EvalContext {
        EvalContext {
            engine,
            rule_durations: Summary::default(),
            group_durations: Summary::default(),
            external_labels: Labels::empty(),
            external_url: String::new(),
            resend_delay_ms: alert::DEFAULT_RESEND_DELAY,
            restore: RestoreOptions::default(),
            notifier: None,
            incremental: Some(IncrementalOptions::default()),
        }
    }
}

/// Per rule, the alert state of an alerting rule (`None` for recording rules).
pub type AlertStates = Arc<Vec<Option<Arc<Mutex<AlertingRule>>>>>;

/// A group with its evaluation state.
pub struct Group {
    def: Arc<GroupDef>,
    status: Arc<Mutex<GroupStatus>>,
    metrics: Arc<GroupMetrics>,
    rule_metrics: Arc<Vec<RuleMetrics>>,
    /// Per rule: the series written at its last successful evaluation.
    prev: Vec<HashSet<Labels>>,
    /// Per rule: how its expression is evaluated (incremental windows).
    queries: Vec<RuleQuery>,
    /// Series of rules that no longer exist, to be marked stale at the next evaluation.
    stale: Vec<Labels>,
    /// Alert state of each alerting rule.
    alerts: AlertStates,
    /// Why an alerting rule could not be built (its templates), per rule.
    alert_errors: Vec<Option<String>>,
    /// Alerting rules still wait for their `for` state to be restored.
    needs_restore: bool,
}

impl Group {
    /// A fresh group (no evaluation yet); `metrics` may carry counters of an earlier group
    /// with the same key.
    pub fn new(def: Arc<GroupDef>, metrics: Arc<GroupMetrics>) -> Group {
        let n = def.rules.len();
        metrics.rules.store(n as u64, Ordering::Relaxed);
        metrics
            .interval_seconds
            .set(def.interval_ms as f64 / 1000.0);
        let mut alerts = Vec::with_capacity(n);
        let mut alert_errors = Vec::with_capacity(n);
        for r in &def.rules {
            let RuleKind::Alerting {
                for_ms,
                keep_firing_for_ms,
                annotations,
            } = &r.spec.kind
            else {
                alerts.push(None);
                alert_errors.push(None);
                continue;
            };
            let built = AlertingRule::new(AlertingRuleDef {
                name: r.spec.name.clone(),
                expr: r.query.clone(),
                for_ms: *for_ms,
                keep_firing_for_ms: *keep_firing_for_ms,
                labels: r
                    .labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                annotations: annotations
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            });
            match built {
                Ok(mut a) => {
                    a.set_restored(true);
                    alerts.push(Some(Arc::new(Mutex::new(a))));
                    alert_errors.push(None);
                }
                Err(e) => {
                    alerts.push(None);
                    alert_errors.push(Some(e.to_string()));
                }
            }
        }
        Group {
            alerts: Arc::new(alerts),
            alert_errors,
            needs_restore: false,
            status: Arc::new(Mutex::new(GroupStatus {
                rules: vec![RuleStatus::default(); n],
                ..GroupStatus::default()
            })),
            rule_metrics: Arc::new((0..n).map(|_| RuleMetrics::default()).collect()),
            prev: vec![HashSet::new(); n],
            queries: (0..n).map(|_| RuleQuery::new()).collect(),
            stale: Vec::new(),
            def,
            metrics,
        }
    }

    /// The definition.
    pub fn def(&self) -> &Arc<GroupDef> {
        &self.def
    }

    /// The shared status the API reads.
    pub fn status(&self) -> &Arc<Mutex<GroupStatus>> {
        &self.status
    }

    /// The group's counters.
    pub fn metrics(&self) -> &Arc<GroupMetrics> {
        &self.metrics
    }

    /// Per-rule counters, in rule order.
    pub fn rule_metrics(&self) -> &Arc<Vec<RuleMetrics>> {
        &self.rule_metrics
    }

    /// The alert state of each alerting rule, shared with the API.
    pub fn alerts(&self) -> &AlertStates {
        &self.alerts
    }

    /// Marks the alerting rules unrestored: no `ALERTS` series until [`Group::restore`]
    /// (for groups loaded when the server starts).
    pub fn set_needs_restore(&mut self) {
        self.needs_restore = true;
        for a in self.alerts.iter().flatten() {
            a.lock().set_restored(false);
        }
    }

    /// True until [`Group::restore`] ran for a group that needed it.
    pub fn needs_restore(&self) -> bool {
        self.needs_restore
    }

    /// Restores the `for` state of every alerting rule from `ALERTS_FOR_STATE` at wall time
    /// `now_ms` (Prometheus's `RestoreForState`). Returns the alerts restored; storage
    /// errors are reported on the rule's status.
    pub fn restore(&mut self, ctx: &EvalContext, now_ms: i64) -> usize {
        self.needs_restore = false;
        let db = ctx.engine.db().clone();
        let mut restored = 0;
        for (i, a) in self.alerts.iter().enumerate() {
            let Some(a) = a else { continue };
            let mut lookup = db_lookup(&db);
            match a
                .lock()
                .restore_for_state(now_ms, &ctx.restore, &mut lookup)
            {
                Ok(n) => restored += n,
                Err(e) => {
                    let mut s = self.status.lock();
                    s.rules[i].health = Health::Bad;
                    s.rules[i].last_error = Some(e.to_string());
                }
            }
        }
        restored
    }

    /// Every series this group would mark stale if it went away: those its rules wrote
    /// last, and those still waiting for a marker.
    pub fn written_series(&self) -> Vec<Labels> {
        let mut all: Vec<Labels> = self.prev.iter().flatten().cloned().collect();
        all.extend(self.stale.iter().cloned());
        all
    }

    /// Takes over the evaluation state of the group this one replaces (Prometheus's
    /// `CopyState`): last evaluation time, each matching rule's written series (rules are
    /// matched by name and labels, duplicates in order), and, as series to mark stale, those
    /// of rules that have no match.
    pub fn copy_state_from(&mut self, mut old: Group) {
        {
            let o = old.status.lock();
            let mut s = self.status.lock();
            s.evaluation_time = o.evaluation_time;
            s.last_evaluation = o.last_evaluation;
            s.timestamp_ms = o.timestamp_ms;
        }
        let mut by_identity: HashMap<RuleIdentity, Vec<usize>> = HashMap::new();
        for (i, r) in old.def.rules.iter().enumerate() {
            by_identity.entry(r.identity()).or_default().push(i);
        }
        for (i, r) in self.def.rules.iter().enumerate() {
            if let Some(list) = by_identity.get_mut(&r.identity()) {
                if !list.is_empty() {
                    let fi = list.remove(0);
                    self.prev[i] = std::mem::take(&mut old.prev[fi]);
                    // Same expression: its incremental windows stay valid.
                    if old.def.rules[fi].query == r.query {
                        self.queries[i] = std::mem::take(&mut old.queries[fi]);
                    }
                    if let (Some(new), Some(from)) = (&self.alerts[i], &old.alerts[fi]) {
                        new.lock().copy_state_from(&from.lock());
                    }
                }
            }
        }
        self.stale = std::mem::take(&mut old.stale);
        for list in by_identity.values() {
            for &fi in list {
                self.stale.extend(old.prev[fi].drain());
            }
        }
    }

    /// One scheduled iteration at slot `slot_ns`: evaluates, then records the iteration's
    /// duration and start time. Returns the number of samples the rules produced.
    pub fn iterate(
        &mut self,
        ctx: &EvalContext,
        slot_ns: i64,
        stopped: &dyn Fn() -> bool,
    ) -> usize {
        self.metrics
            .iterations_total
            .fetch_add(1, Ordering::Relaxed);
        let wall = SystemTime::now();
        let started = Instant::now();
        let n = self.eval(ctx, slot_ms(slot_ns), stopped);
        let took = started.elapsed();
        ctx.group_durations.observe(took.as_secs_f64());
        let m = &self.metrics;
        m.last_duration_seconds.set(took.as_secs_f64());
        m.last_evaluation_timestamp_seconds.set(unix_seconds(wall));
        m.last_rule_duration_sum_seconds.set(
            self.rule_metrics
                .iter()
                .map(|r| r.last_duration_seconds.get())
                .sum(),
        );
        m.last_evaluation_samples.set(n as f64);
        let mut s = self.status.lock();
        s.evaluation_time = took;
        s.last_evaluation = Some(wall);
        n
    }

    /// Evaluates every rule at `ts_ms` (queried and stamped at `ts_ms - query_offset`).
    /// `stopped` is checked between rules. Returns the number of samples produced.
    pub fn eval(&mut self, ctx: &EvalContext, ts_ms: i64, stopped: &dyn Fn() -> bool) -> usize {
        let t = ts_ms - self.def.query_offset();
        let mut samples = 0;
        for i in 0..self.def.rules.len() {
            if stopped() {
                return samples;
            }
            let def = self.def.clone();
            let rule = &def.rules[i];
            let wall = SystemTime::now();
            let started = Instant::now();
            self.metrics
                .evaluations_total
                .fetch_add(1, Ordering::Relaxed);
            self.rule_metrics[i]
                .evaluations_total
                .fetch_add(1, Ordering::Relaxed);
            let result = match rule.eval {
                RuleEval::Recording => self.eval_recording(ctx, i, t),
                RuleEval::Alerting => self.eval_alerting(ctx, i, ts_ms),
            };
            let took = started.elapsed();
            ctx.rule_durations.observe(took.as_secs_f64());
            self.rule_metrics[i]
                .last_duration_seconds
                .set(took.as_secs_f64());
            let (health, last_error) = match result {
                Ok(n) => {
                    samples += n;
                    (Health::Good, None)
                }
                Err(e) => {
                    self.metrics
                        .evaluation_failures_total
                        .fetch_add(1, Ordering::Relaxed);
                    self.rule_metrics[i]
                        .failures_total
                        .fetch_add(1, Ordering::Relaxed);
                    (Health::Bad, Some(e.to_string()))
                }
            };
            let mut s = self.status.lock();
            s.rules[i] = RuleStatus {
                health,
                last_error,
                evaluation_time: took,
                last_evaluation: Some(wall),
            };
        }
        self.publish_windows();
        self.status.lock().timestamp_ms = Some(t);
        if !self.stale.is_empty() {
            let mut batch = Batch::new();
            for l in &self.stale {
                batch.push(l.clone(), vec![Sample::new(t, stale_nan())]);
            }
            // Rejections (a newer sample from elsewhere) are expected and ignored.
            if ctx.engine.db().append(&batch).is_ok() {
                self.stale.clear();
            }
        }
        samples
    }

    /// Evaluates recording rule `i` at `t` and appends its samples and stale markers.
    fn eval_recording(&mut self, ctx: &EvalContext, i: usize, t: i64) -> Result<usize> {
        let def = self.def.clone();
        let rule = &def.rules[i];
        let res = self.query(ctx, i, t)?;
        let out: Vec<OutputSample> = recording::record(
            &rule.spec.name,
            &rule.labels,
            recording::as_vector(res.value)?,
            self.def.limit,
        )?;
        let samples = out
            .into_iter()
            .map(|(l, v)| (l, Sample::new(t, v)))
            .collect();
        self.write(ctx, i, t, samples)
    }

    /// Evaluates alerting rule `i` at group time `ts`: queries at `ts - query_offset`, runs
    /// the alert state machine, appends `ALERTS`/`ALERTS_FOR_STATE`, and queues the alerts
    /// due for Alertmanager.
    fn eval_alerting(&mut self, ctx: &EvalContext, i: usize, ts: i64) -> Result<usize> {
        let Some(state) = self.alerts[i].clone() else {
            let why = self.alert_errors[i].clone().unwrap_or_default();
            return Err(Error::Eval(why));
        };
        let t = ts - self.def.query_offset();
        let res = self.query(ctx, i, t)?;
        let vector = recording::as_vector(res.value)?;
        let query = |q: &str, at: i64| alert::engine_query(&ctx.engine, q, at);
        let actx = alert::EvalContext {
            ts,
            query_offset: self.def.query_offset(),
            external_labels: &ctx.external_labels,
            external_url: &ctx.external_url,
            query: Some(&query),
            limit: self.def.limit.max(0) as usize,
        };
        let (samples, to_send) = {
            let mut a = state.lock();
            let samples = a.eval(&actx, &vector)?;
            let to_send = a.alerts_to_send(
                ts,
                ctx.resend_delay_ms,
                self.def.interval_ms,
                &ctx.external_url,
            );
            (samples, to_send)
        };
        if let Some(n) = &ctx.notifier {
            n.send(to_send);
        }
        self.write(ctx, i, t, samples)
    }

    /// Evaluates rule `i`'s expression at `t`, through its incremental windows if it has
    /// any.
    fn query(&mut self, ctx: &EvalContext, i: usize, t: i64) -> Result<strata_query::QueryResult> {
        let expr = &self.def.rules[i].spec.expr;
        Ok(self.queries[i].eval(
            &ctx.engine,
            expr,
            t,
            &QueryOptions::default(),
            ctx.incremental.as_ref(),
        )?)
    }

    /// The incremental windows of every rule, summed (gauges now, counters since the
    /// group's queries were built).
    pub fn window_stats(&self) -> WindowStats {
        let mut st = WindowStats::default();
        for q in &self.queries {
            if let Some(s) = q.stats() {
                st.add(&s);
            }
        }
        st
    }

    /// Rules evaluated through incremental windows.
    pub fn incremental_rules(&self) -> usize {
        self.queries.iter().filter(|q| q.is_incremental()).count()
    }

    /// Reports the windows' gauges and counter increases to the group's metrics.
    fn publish_windows(&mut self) {
        let mut now = WindowStats::default();
        let mut rules = 0u64;
        for q in &mut self.queries {
            if let Some(d) = q.publish() {
                now.add(&d);
                rules += 1;
            }
        }
        self.metrics.windows.record(rules, &now);
    }

    /// Appends rule `i`'s samples, and stale markers at `t` for the series it wrote last
    /// time and not now. Rejected samples make the rule unhealthy; rejected stale markers do
    /// not (another writer may have gone on with the series).
    fn write(
        &mut self,
        ctx: &EvalContext,
        i: usize,
        t: i64,
        out: Vec<(Labels, Sample)>,
    ) -> Result<usize> {
        let n = out.len();
        let db = ctx.engine.db();
        let mut batch = Batch::with_capacity(n, n);
        let mut now: HashSet<Labels> = HashSet::with_capacity(n);
        for (labels, s) in out {
            batch.push(labels.clone(), vec![s]);
            now.insert(labels);
        }
        let report = db.append(&batch)?;
        // Series that disappeared: stale markers, whose rejection is not an error.
        let mut stale = Batch::new();
        for l in self.prev[i].iter().filter(|l| !now.contains(*l)) {
            stale.push(l.clone(), vec![Sample::new(t, stale_nan())]);
        }
        if !stale.is_empty() {
            let _ = db.append(&stale);
        }
        self.prev[i] = now;
        if let Some((why, labels, at)) = &report.first_rejection {
            return Err(Error::Eval(format!(
                "{}: {} sample(s) not stored, first {labels} at {at}",
                why.as_str(),
                report.rejected()
            )));
        }
        Ok(n)
    }
}

/// Seconds since the epoch of a wall-clock time.
pub fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

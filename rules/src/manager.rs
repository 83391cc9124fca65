//! The rule manager: the set of running groups, reloads, and what the API and `/metrics`
//! read.
//!
//! [`Manager::update`] installs the groups of a set of loaded rule files the way
//! Prometheus's manager does on reload:
//! - a group whose definition is unchanged (same file, name, interval, limit, query offset
//!   and rules) keeps running untouched, with all its state;
//! - a changed group is stopped (its current iteration finishes), its state is carried over
//!   to the new definition ([`Group::copy_state_from`]) and the new one starts on its slots;
//! - a removed group is stopped and, two of its intervals later (time for a renamed rule to
//!   take over its series), every series it wrote gets a stale marker stamped with the time
//!   it was stopped. Shutting the manager down cancels these: a server that stops does not
//!   mark its rules' series stale, as Prometheus does not.
//!
//! Loading happens before the lock is taken, so a file that fails to load leaves the running
//! groups as they were. Each group runs on its own thread ([`crate::runner`]); the manager's
//! lock is held only to swap groups and to copy status out.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use strata_engine::{stale_nan, Batch, Db, Labels, Sample};
use strata_query::{Engine, EngineOptions};

use crate::alert::restore::RestoreOptions;
use crate::error::{Error, Result};
use crate::file::{self, RuleFile};
use crate::group::{AlertStates, EvalContext, Group, GroupDef, GroupStatus};
use crate::metrics::{self, GroupMetrics, RuleMetrics};
use crate::notifier::Notifier;
use crate::runner::{self, Clock, Running, Stop, SystemClock};
use crate::schedule::Alignment;
use crate::slo::{self, Slo};
use crate::window::IncrementalOptions;

/// Settings of the manager.
#[derive(Clone)]
pub struct ManagerOptions {
    /// Interval of groups that set none, ms (Prometheus's `evaluation_interval`, 1 m).
    pub default_interval_ms: i64,
    /// Which Prometheus's evaluation slots to use.
    pub alignment: Alignment,
    /// Options of the engine rules query with.
    pub engine: EngineOptions,
    /// `$externalLabels` of alert templates.
    pub external_labels: Labels,
    /// `$externalURL` and the base of alerts' `generatorURL`.
    pub external_url: String,
    /// How often firing alerts are re-sent, ms (1 m).
    pub resend_delay_ms: i64,
    /// `for` state restoration at startup.
    pub restore: RestoreOptions,
    /// Where alerts are sent.
    pub notifier: Option<Arc<Notifier>>,
    /// How rules keep long windows incrementally (`None`: every rule is evaluated in full).
    pub incremental: Option<IncrementalOptions>,
}

impl Default for ManagerOptions {
    fn default() -> Self {
        ManagerOptions {
            default_interval_ms: 60_000,
            alignment: Alignment::default(),
            engine: EngineOptions::default(),
            external_labels: Labels::empty(),
            external_url: String::new(),
            resend_delay_ms: crate::alert::DEFAULT_RESEND_DELAY,
            restore: RestoreOptions::default(),
            notifier: None,
            incremental: Some(IncrementalOptions::default()),
        }
    }
}

/// A running group as the manager tracks it.
struct Entry {
    def: Arc<GroupDef>,
    status: Arc<Mutex<GroupStatus>>,
    metrics: Arc<GroupMetrics>,
    rule_metrics: Arc<Vec<RuleMetrics>>,
    alerts: AlertStates,
    running: Option<Running>,
    run_id: u64,
}

#[derive(Default)]
struct State {
    groups: BTreeMap<(String, String), Entry>,
    cleanups: Vec<std::thread::JoinHandle<()>>,
    next_run_id: u64,
    stopped: bool,
    /// Set after the first update: groups added later start with their alerts restored.
    loaded_once: bool,
    /// The SLOs whose generated groups are loaded, in load order.
    slos: Vec<Arc<Slo>>,
}

/// A group as the API sees it: definition and last status.
#[derive(Clone, Debug)]
pub struct GroupView {
    /// The definition.
    pub def: Arc<GroupDef>,
    /// The last iteration and each rule's last evaluation.
    pub status: GroupStatus,
    /// Identifies one run of the group: unchanged across reloads that keep the group,
    /// new when the group is (re)started.
    pub run_id: u64,
    /// Alert state of each alerting rule (locked to read).
    pub alerts: AlertStates,
}

/// What an update did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UpdateReport {
    /// Groups left running untouched.
    pub unchanged: usize,
    /// Groups started anew (new or changed).
    pub started: usize,
    /// Groups removed.
    pub removed: usize,
}

/// The rule manager.
pub struct Manager {
    ctx: Arc<EvalContext>,
    clock: Arc<dyn Clock>,
    opts: ManagerOptions,
    state: Mutex<State>,
    shutdown: Arc<Stop>,
}

impl Manager {
    /// A manager over `db`, with no groups yet.
    pub fn new(db: Arc<Db>, opts: ManagerOptions) -> Manager {
        Manager::with_clock(db, opts, Arc::new(SystemClock))
    }

    /// A manager whose groups run on `clock`.
    pub fn with_clock(db: Arc<Db>, opts: ManagerOptions, clock: Arc<dyn Clock>) -> Manager {
        let engine = Engine::with_options(db, opts.engine.clone());
        let mut ctx = EvalContext::new(engine);
        ctx.external_labels = opts.external_labels.clone();
        ctx.external_url = opts.external_url.clone();
        ctx.resend_delay_ms = opts.resend_delay_ms;
        ctx.restore = opts.restore;
        ctx.notifier = opts.notifier.clone();
        ctx.incremental = opts.incremental.clone();
        Manager {
            ctx: Arc::new(ctx),
            clock,
            opts,
            state: Mutex::new(State::default()),
            shutdown: Arc::new(Stop::default()),
        }
    }

    /// The options the manager was built with.
    pub fn options(&self) -> &ManagerOptions {
        &self.opts
    }

    /// Loads `paths` and installs their groups; on any loading error nothing changes.
    pub fn load(
        &self,
        paths: &[impl AsRef<Path>],
        default_interval_ms: i64,
    ) -> Result<UpdateReport> {
        let files = file::load_all(paths)?;
        self.update(&files, default_interval_ms)
    }

    /// Loads rule files `rules` and SLO files `slos` and installs all their groups (an SLO
    /// file contributes the rules [`crate::slo::generate`] writes for it); on any loading
    /// error, in either kind of file, nothing changes and every problem is reported.
    pub fn load_with_slos(
        &self,
        rules: &[impl AsRef<Path>],
        slos: &[impl AsRef<Path>],
        default_interval_ms: i64,
    ) -> Result<UpdateReport> {
        let (r, s) = (file::load_all(rules), slo::load_all(slos));
        let (mut files, slo_files) = match (r, s) {
            (Ok(r), Ok(s)) => (r, s),
            (Err(Error::Invalid(mut a)), Err(Error::Invalid(b))) => {
                a.extend(b);
                return Err(Error::Invalid(a));
            }
            (Err(e), _) | (_, Err(e)) => return Err(e),
        };
        files.extend(slo_files.iter().map(|f| f.rules.clone()));
        let report = self.update(&files, default_interval_ms)?;
        self.state.lock().slos = slo_files.into_iter().flat_map(|f| f.slos).collect();
        Ok(report)
    }

    /// The SLOs loaded by the last [`Manager::load_with_slos`].
    pub fn slos(&self) -> Vec<Arc<Slo>> {
        self.state.lock().slos.clone()
    }

    /// The `data` object of `/api/v1/slos` (see [`crate::slo::status`]).
    pub fn slos_json(&self) -> serde_json::Value {
        let slos = self.slos();
        let groups = self.groups();
        slo::status::slos_json(&slos, &groups, self.ctx.engine.db())
    }

    /// Installs the groups of `files` (see the module docs). `default_interval_ms` applies to
    /// groups that set no interval.
    pub fn update(&self, files: &[RuleFile], default_interval_ms: i64) -> Result<UpdateReport> {
        let mut defs = Vec::new();
        for f in files {
            for g in &f.groups {
                defs.push(Arc::new(GroupDef::new(
                    &f.path,
                    g,
                    default_interval_ms,
                    self.opts.alignment,
                )));
            }
        }
        let mut st = self.state.lock();
        if st.stopped {
            return Ok(UpdateReport::default());
        }
        let mut report = UpdateReport::default();
        let mut old = std::mem::take(&mut st.groups);
        // Stop every group that is replaced or removed first, then join them.
        let keep: Vec<bool> = defs
            .iter()
            .map(|d| {
                old.get(&(d.file.clone(), d.name.clone()))
                    .is_some_and(|e| e.def.same_as(d))
            })
            .collect();
        for (key, e) in old.iter() {
            let kept = defs.iter().zip(&keep).any(|(d, &k)| {
                k && (d.file.as_str(), d.name.as_str()) == (key.0.as_str(), key.1.as_str())
            });
            if !kept {
                if let Some(r) = &e.running {
                    r.stop.stop();
                }
            }
        }
        let mut new_groups = BTreeMap::new();
        for (def, kept) in defs.into_iter().zip(keep) {
            let key = (def.file.clone(), def.name.clone());
            let previous = old.remove(&key);
            if kept {
                if let Some(e) = previous {
                    report.unchanged += 1;
                    new_groups.insert(key, e);
                    continue;
                }
            }
            let metrics = previous
                .as_ref()
                .map_or_else(|| Arc::new(GroupMetrics::default()), |e| e.metrics.clone());
            let mut group = Group::new(def.clone(), metrics);
            if !st.loaded_once {
                group.set_needs_restore();
            }
            if let Some(prev) = previous.and_then(join) {
                group.copy_state_from(prev);
            }
            st.next_run_id += 1;
            let entry = Entry {
                def,
                status: group.status().clone(),
                metrics: group.metrics().clone(),
                rule_metrics: group.rule_metrics().clone(),
                alerts: group.alerts().clone(),
                running: None,
                run_id: st.next_run_id,
            };
            let running =
                runner::spawn(group, self.ctx.clone(), self.clock.clone()).map_err(|e| {
                    Error::Eval(format!("starting rule group {:?}: {e}", entry.def.name))
                })?;
            report.started += 1;
            new_groups.insert(
                key,
                Entry {
                    running: Some(running),
                    ..entry
                },
            );
        }
        // Removed groups: stale markers two intervals later, unless the manager stops first.
        for (_, e) in old {
            report.removed += 1;
            let interval = Duration::from_millis(e.def.interval_ms as u64);
            let offset = e.def.query_offset();
            let stopped_at = self.clock.now_ns().div_euclid(1_000_000);
            let Some(group) = join(e) else { continue };
            let series = group.written_series();
            if series.is_empty() {
                continue;
            }
            let shutdown = self.shutdown.clone();
            let ctx = self.ctx.clone();
            let cleanup = std::thread::Builder::new()
                .name("rules:stale".into())
                .spawn(move || {
                    if shutdown.wait(interval * 2) {
                        return;
                    }
                    let t = stopped_at - offset;
                    let mut batch = Batch::new();
                    for l in series {
                        batch.push(l, vec![Sample::new(t, stale_nan())]);
                    }
                    let _ = ctx.engine.db().append(&batch);
                });
            if let Ok(h) = cleanup {
                st.cleanups.push(h);
            }
        }
        st.cleanups.retain(|h| !h.is_finished());
        st.groups = new_groups;
        st.loaded_once = true;
        Ok(report)
    }

    /// Every group, sorted by file then name, with its last status.
    pub fn groups(&self) -> Vec<GroupView> {
        let st = self.state.lock();
        st.groups
            .values()
            .map(|e| GroupView {
                def: e.def.clone(),
                status: e.status.lock().clone(),
                run_id: e.run_id,
                alerts: e.alerts.clone(),
            })
            .collect()
    }

    /// The `data` object of `/api/v1/alerts`: every pending and firing alert.
    pub fn alerts_json(&self) -> String {
        let groups = self.groups();
        let guards: Vec<_> = groups
            .iter()
            .flat_map(|g| g.alerts.iter().flatten())
            .map(|a| a.lock())
            .collect();
        let mut out = String::new();
        crate::alert::api::write_alerts_data(&mut out, guards.iter().map(|g| &**g));
        out
    }

    /// Appends the rule metrics to a `/metrics` page.
    pub fn render_metrics(&self, out: &mut String) {
        let st = self.state.lock();
        let keys: Vec<String> = st.groups.values().map(|e| e.def.key()).collect();
        let mut samples: Vec<metrics::GroupSample<'_>> = st
            .groups
            .values()
            .zip(&keys)
            .map(|(e, key)| metrics::GroupSample {
                key,
                metrics: &e.metrics,
                rules: e
                    .def
                    .rules
                    .iter()
                    .map(|r| r.spec.name.as_str())
                    .zip(e.rule_metrics.iter())
                    .collect(),
            })
            .collect();
        samples.sort_by(|a, b| a.key.cmp(b.key));
        metrics::render(
            out,
            &samples,
            &self.ctx.rule_durations,
            &self.ctx.group_durations,
        );
        if let Some(n) = &self.ctx.notifier {
            n.metrics().write_text(out);
        }
    }

    /// Stops every group and pending stale-marking; later updates do nothing. Waits for
    /// evaluations in progress to finish their current rule.
    pub fn stop(&self) {
        let (entries, cleanups) = {
            let mut st = self.state.lock();
            st.stopped = true;
            self.shutdown.stop();
            (
                std::mem::take(&mut st.groups),
                std::mem::take(&mut st.cleanups),
            )
        };
        for e in entries.values() {
            if let Some(r) = &e.running {
                r.stop.stop();
            }
        }
        for (_, e) in entries {
            let _ = join(e);
        }
        for h in cleanups {
            let _ = h.join();
        }
    }

    /// Number of groups that are running.
    pub fn len(&self) -> usize {
        self.state.lock().groups.len()
    }

    /// True if no group is loaded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Each group's key and its metrics (for tests and diagnostics).
    pub fn group_metrics(&self) -> HashMap<String, Arc<GroupMetrics>> {
        self.state
            .lock()
            .groups
            .values()
            .map(|e| (e.def.key(), e.metrics.clone()))
            .collect()
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Stops an entry's thread (if still running) and returns its group.
fn join(e: Entry) -> Option<Group> {
    let r = e.running?;
    r.stop.stop();
    r.thread.join().ok()
}

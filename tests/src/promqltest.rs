//! A runner for Prometheus' `promqltest` scripts (the `*.test` files of
//! `../shared/conformance/promql`).
//!
//! What it owns:
//! - a parser for the scripting language ([`parse_script`]): `load`/`load_with_nhcb`, `clear`,
//!   `eval instant|range`, the legacy `eval_fail`/`eval_ordered`/`eval_warn`/`eval_info`
//!   forms, every `expect` line, series descriptions in load notation ([`parse_series_desc`]);
//! - result comparison with upstream's rules ([`compare_result`], [`almost_equal`]);
//! - the runner ([`run_dir`], [`run_script`]): one fresh [`strata_engine::Db`] per file and per
//!   `clear`, every eval run through [`strata_query::Engine`], plus the two variants upstream
//!   runs on instant evals (the same query as a range query around `t`, and the query with
//!   `@ t` added to every selector and subquery, evaluated at other times);
//! - the skip list ([`Skips`]): cases are skipped only by `file<TAB>line<TAB>reason` rows.
//!
//! Invariants:
//! - one eval line is one case; a case passes only if the main evaluation and all its variants
//!   pass, and it fails on the first variant that does not;
//! - a script that does not parse is a runner error carrying `file:line`, never a panic;
//! - a panic inside the store or the engine is caught and counted as a failure of the case
//!   (it never satisfies an `expect fail`).
//!
//! Layout: `promqltest/script.rs` (script model and parser), `promqltest/compare.rs` (result
//! comparison), `promqltest/at.rs` (the `@` rewrite on the AST), `promqltest/backend.rs` (the
//! store and engine behind a trait); this file holds the skip list, the runner and the report.
//!
//! Script semantics follow `../shared/conformance/README.md`; times are milliseconds since the
//! Unix epoch, as everywhere in Strata.

mod at;
mod backend;
mod compare;
mod script;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use regex::Regex;
use strata_engine::{Labels, Sample};
use strata_query::{QueryResult, Value};

pub use at::{
    add_at_modifiers, at_rewrite, at_variant_times, has_time_dependent_call, AtRewrite,
    TIME_DEPENDENT_FUNCTIONS,
};
pub use backend::{conformance_engine_options, Backend, QueryError, StrataBackend};
pub use compare::{
    almost_equal, check_annotations, compare_result, format_expected, format_value, DEFAULT_EPSILON,
};
pub use script::{
    parse_duration, parse_number, parse_script, parse_series_desc, AnnotationKind, Command,
    EvalCmd, EvalKind, ExpectedSeries, LoadCmd, Script, ScriptError, SeqValue, SeriesDesc,
    TextMatch,
};

// ---------------------------------------------------------------------------------------------
// Skip list
// ---------------------------------------------------------------------------------------------

/// The skip list: `file<TAB>line<TAB>reason` rows; `#` lines and blank lines are ignored.
#[derive(Clone, Debug, Default)]
pub struct Skips {
    map: HashMap<(String, usize), String>,
}

impl Skips {
    /// Parses the skip list text. `name` is used in error messages.
    pub fn parse(name: &str, text: &str) -> Result<Skips, ScriptError> {
        let mut map = HashMap::new();
        for (i, l) in text.lines().enumerate() {
            let err = |msg: String| ScriptError {
                file: name.to_string(),
                line: i + 1,
                msg,
            };
            if l.trim().is_empty() || l.starts_with('#') {
                continue;
            }
            let cols: Vec<&str> = l.split('\t').collect();
            if cols.len() != 3 || cols[2].trim().is_empty() {
                return Err(err("expected `file<TAB>line<TAB>reason`".into()));
            }
            let line: usize = cols[1]
                .parse()
                .map_err(|_| err(format!("invalid line number {:?}", cols[1])))?;
            if map
                .insert((cols[0].to_string(), line), cols[2].to_string())
                .is_some()
            {
                return Err(err(format!("duplicate entry {}:{}", cols[0], line)));
            }
        }
        Ok(Skips { map })
    }

    /// The skip reason of a case, if it is skipped.
    pub fn reason(&self, file: &str, line: usize) -> Option<&str> {
        self.map.get(&(file.to_string(), line)).map(String::as_str)
    }

    /// All entries, sorted by file and line.
    pub fn entries(&self) -> Vec<(&str, usize, &str)> {
        let mut v: Vec<_> = self
            .map
            .iter()
            .map(|((f, l), r)| (f.as_str(), *l, r.as_str()))
            .collect();
        v.sort();
        v
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True if there are no entries.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

// ---------------------------------------------------------------------------------------------
// Runner
// ---------------------------------------------------------------------------------------------

/// The outcome of one case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// The main evaluation and every variant passed.
    Passed,
    /// Skipped, with the skip list's reason.
    Skipped(String),
    /// Failed: which variant, and why.
    Failed {
        /// `instant`, `range`, `range mode of instant`, `@ variant at <t>: <query>`, ...
        variant: String,
        /// What differed, with expected and got.
        detail: String,
    },
}

/// One case's result.
#[derive(Clone, Debug)]
pub struct CaseResult {
    /// Script file name.
    pub file: String,
    /// Line of the eval.
    pub line: usize,
    /// The query.
    pub query: String,
    /// Outcome.
    pub status: Status,
    /// Informational notes (error-message mismatches of `expect fail` cases).
    pub notes: Vec<String>,
    /// The first annotation expectation the results did not meet (informational: it is
    /// reported only when the engine returns annotations at all, and never fails the case).
    pub annotation_mismatch: Option<String>,
    /// For a skipped case run anyway ([`RunOptions::run_skipped`]): `Ok` if it would pass,
    /// `Err(why)` if not. Informational; skipped cases never count as passed or failed.
    pub skipped_outcome: Option<Result<(), String>>,
}

/// Runner settings.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Also run the skipped cases and report, for each, whether it would pass (to trim the
    /// skip list with evidence). Counts are unaffected.
    pub run_skipped: bool,
    /// Run only this file (by name), and within it only the eval at this line if given.
    /// Every command of the file still runs in order; other evals are left out of the report.
    pub only: Option<(String, Option<usize>)>,
}

impl RunOptions {
    /// Parses a `<file>[:<line>]` filter, e.g. `functions.test:123`.
    pub fn parse_only(spec: &str) -> Result<(String, Option<usize>), String> {
        match spec.rsplit_once(':') {
            Some((f, l)) => l
                .parse()
                .map(|l| (f.to_string(), Some(l)))
                .map_err(|_| format!("invalid line in filter {spec:?}")),
            None => Ok((spec.to_string(), None)),
        }
    }
}

/// Results of one script.
#[derive(Clone, Debug, Default)]
pub struct FileReport {
    /// Script file name.
    pub file: String,
    /// One entry per eval, in file order.
    pub cases: Vec<CaseResult>,
    /// Problems outside any case (load rejections, clear failures).
    pub notes: Vec<String>,
    /// Instant cases whose `@` variants ran.
    pub at_variants_run: usize,
    /// Instant cases without `@` variants because they use a time-dependent function.
    pub at_time_dependent: usize,
    /// Queries that returned at least one annotation.
    pub annotated_queries: usize,
}

impl FileReport {
    fn count(&self, f: impl Fn(&Status) -> bool) -> usize {
        self.cases.iter().filter(|c| f(&c.status)).count()
    }
    /// Cases that passed.
    pub fn passed(&self) -> usize {
        self.count(|s| matches!(s, Status::Passed))
    }
    /// Cases that failed.
    pub fn failed(&self) -> usize {
        self.count(|s| matches!(s, Status::Failed { .. }))
    }
    /// Cases skipped.
    pub fn skipped(&self) -> usize {
        self.count(|s| matches!(s, Status::Skipped(_)))
    }
}

/// Results of a whole directory.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Per file, sorted by name.
    pub files: Vec<FileReport>,
    /// Skip-list entries that name no eval case (a stale skip list).
    pub unknown_skips: Vec<String>,
}

impl Report {
    /// All cases.
    pub fn cases(&self) -> impl Iterator<Item = &CaseResult> {
        self.files.iter().flat_map(|f| f.cases.iter())
    }
    /// Passed cases.
    pub fn passed(&self) -> usize {
        self.files.iter().map(FileReport::passed).sum()
    }
    /// Failed cases (stale skip-list entries count as failures too).
    pub fn failed(&self) -> usize {
        self.files.iter().map(FileReport::failed).sum::<usize>() + self.unknown_skips.len()
    }
    /// Skipped cases.
    pub fn skipped(&self) -> usize {
        self.files.iter().map(FileReport::skipped).sum()
    }
    /// The final line: `N passed, M failed, K skipped`.
    pub fn summary_line(&self) -> String {
        format!(
            "{} passed, {} failed, {} skipped",
            self.passed(),
            self.failed(),
            self.skipped()
        )
    }

    /// The full human-readable report: skips, per-file summary, failures, failures grouped
    /// by the functions and operators their queries use, notes, and the summary line last.
    pub fn render(&self) -> String {
        use std::fmt::Write;
        let mut o = String::new();
        let _ = writeln!(o, "== skipped cases");
        for c in self.cases() {
            if let Status::Skipped(r) = &c.status {
                let outcome = match &c.skipped_outcome {
                    None => String::new(),
                    Some(Ok(())) => " => would pass".into(),
                    Some(Err(e)) => format!(" => would fail: {e}"),
                };
                let _ = writeln!(
                    o,
                    "SKIP {}:{} ({}): {}{outcome}",
                    c.file, c.line, r, c.query
                );
            }
        }
        let mut by_reason: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        for c in self.cases() {
            if let (Status::Skipped(r), Some(out)) = (&c.status, &c.skipped_outcome) {
                let e = by_reason.entry(r.as_str()).or_default();
                if out.is_ok() {
                    e.0 += 1;
                } else {
                    e.1 += 1;
                }
            }
        }
        for (r, (pass, fail)) in &by_reason {
            let _ = writeln!(
                o,
                "skipped ({r}) run anyway: {pass} would pass, {fail} would fail"
            );
        }
        let _ = writeln!(o, "\n== failures");
        let mut n = 0;
        for c in self.cases() {
            if let Status::Failed { variant, detail } = &c.status {
                n += 1;
                let _ = writeln!(o, "FAIL {}:{}: {}", c.file, c.line, c.query);
                let _ = writeln!(o, "  [{variant}]");
                for l in detail.lines().take(14) {
                    let _ = writeln!(o, "  {l}");
                }
            }
        }
        for s in &self.unknown_skips {
            let _ = writeln!(o, "FAIL skip list: {s}");
        }
        if n == 0 && self.unknown_skips.is_empty() {
            let _ = writeln!(o, "(none)");
        }
        let _ = writeln!(o, "\n== failures by function/operator used in the query");
        let mut by_fn: BTreeMap<String, usize> = BTreeMap::new();
        for c in self.cases() {
            if matches!(c.status, Status::Failed { .. }) {
                for f in query_functions(&c.query) {
                    *by_fn.entry(f).or_default() += 1;
                }
            }
        }
        let mut by_fn: Vec<_> = by_fn.into_iter().collect();
        by_fn.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let line: Vec<String> = by_fn.iter().map(|(f, n)| format!("{f}:{n}")).collect();
        let _ = writeln!(
            o,
            "{}",
            if line.is_empty() {
                "(none)".to_string()
            } else {
                line.join(" ")
            }
        );
        let _ = writeln!(o, "\n== notes");
        for f in &self.files {
            for note in &f.notes {
                let _ = writeln!(o, "NOTE {}: {}", f.file, note);
            }
            for c in &f.cases {
                for note in &c.notes {
                    let _ = writeln!(o, "INFO {}:{}: {}", c.file, c.line, note);
                }
            }
        }
        let at_run: usize = self.files.iter().map(|f| f.at_variants_run).sum();
        let at_td: usize = self.files.iter().map(|f| f.at_time_dependent).sum();
        let _ = writeln!(
            o,
            "NOTE @ variants ran for {at_run} instant cases; {at_td} use a time-dependent \
             function and have none"
        );
        let annotated: usize = self.files.iter().map(|f| f.annotated_queries).sum();
        let mismatches: Vec<&CaseResult> = self
            .cases()
            .filter(|c| c.annotation_mismatch.is_some())
            .collect();
        if annotated == 0 {
            let _ = writeln!(
                o,
                "NOTE the engine returned no annotations: {} cases expecting warn/info \
                 annotations not checked",
                mismatches.len()
            );
        } else {
            for c in &mismatches {
                let m = c.annotation_mismatch.as_deref().unwrap_or_default();
                let _ = writeln!(o, "ANNOTATION {}:{}: {}: {m}", c.file, c.line, c.query);
            }
            let _ = writeln!(
                o,
                "NOTE annotation mismatches (informational, not failures): {} cases; {annotated} \
                 queries returned annotations",
                mismatches.len()
            );
        }
        let _ = writeln!(o, "\n== per file");
        for f in &self.files {
            let _ = writeln!(
                o,
                "{:<28} {:>4} passed {:>4} failed {:>4} skipped",
                f.file,
                f.passed(),
                f.failed(),
                f.skipped()
            );
        }
        let _ = writeln!(o, "\n{}", self.summary_line());
        o
    }
}

/// Names called in a query (functions and aggregations: identifiers followed by `(`),
/// deduplicated, for grouping failures.
pub fn query_functions(q: &str) -> Vec<String> {
    // Strip string literals so that label values are not mistaken for calls.
    let strings =
        Regex::new(r#""(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`"#).expect("static regex");
    let q = strings.replace_all(q, "\"\"");
    // `f(`, and aggregations written `sum by (a) (`.
    let call = Regex::new(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:(?:by|without)\s*\([^)]*\)\s*)?\(")
        .expect("static regex");
    let mut out: Vec<String> = call
        .captures_iter(&q)
        .map(|c| c[1].to_ascii_lowercase())
        .filter(|f| {
            !matches!(
                f.as_str(),
                "by" | "without" | "on" | "ignoring" | "group_left" | "group_right" | "bool"
            )
        })
        .collect();
    if out.is_empty() {
        out.push("(no call)".into());
    }
    out.sort();
    out.dedup();
    out
}

/// Turns a load block into per-series samples: omitted steps and histogram samples are
/// dropped (a float-only store loads the float samples of a `load_with_nhcb` block).
pub fn load_samples(load: &LoadCmd) -> Vec<(Labels, Vec<Sample>)> {
    load.series
        .iter()
        .map(|s| {
            let samples = s
                .values
                .iter()
                .enumerate()
                .filter_map(|(i, v)| match v {
                    SeqValue::Float(f) => Some(Sample::new(i as i64 * load.interval, *f)),
                    _ => None,
                })
                .collect();
            (s.labels.clone(), samples)
        })
        .collect()
}

struct CaseRun<'a> {
    backend: &'a dyn Backend,
    ev: &'a EvalCmd,
    notes: Vec<String>,
    annotated: usize,
    annotation_mismatch: Option<String>,
}

type Failure = (String, String);

impl CaseRun<'_> {
    fn fail_detail(&self, got: &str) -> String {
        format!("expected: {}\ngot: {}", format_expected(self.ev), got)
    }

    fn note_annotations(&mut self, variant: &str, res: &QueryResult) {
        if !res.warnings.is_empty() || !res.infos.is_empty() {
            self.annotated += 1;
        }
        if self.annotation_mismatch.is_none() {
            if let Err(e) = check_annotations(self.ev, res) {
                self.annotation_mismatch = Some(format!("[{variant}] {e}"));
            }
        }
    }

    /// Handles a query error: `Ok` if a failure was expected (the error text is only noted),
    /// `Err` (the case fails) otherwise or if the engine panicked.
    fn on_error(&mut self, variant: &str, e: QueryError) -> Result<(), Failure> {
        match (&self.ev.fail, e) {
            (Some(m), QueryError::Failed(msg)) => {
                if !m.matches(&msg) {
                    self.notes
                        .push(format!("error text differs: expected {m}, got {msg:?}"));
                }
                Ok(())
            }
            (_, e) => Err((
                variant.to_string(),
                format!("query failed: {e}\n{}", self.fail_detail(&e.to_string())),
            )),
        }
    }

    fn run(&mut self) -> Result<(), Failure> {
        match self.ev.kind {
            EvalKind::Range { start, end, step } => {
                match self.backend.range(&self.ev.query, start, end, step) {
                    Err(e) => self.on_error("range", e),
                    Ok(res) => self.check("range", &res),
                }
            }
            EvalKind::Instant { .. } => self.run_instant(),
        }
    }

    /// Checks a successful main/variant result: a failure was expected, or compare.
    fn check(&mut self, variant: &str, res: &QueryResult) -> Result<(), Failure> {
        if self.ev.fail.is_some() {
            return Err((
                variant.to_string(),
                format!(
                    "expected the query to fail, but it returned {}",
                    format_value(&res.value)
                ),
            ));
        }
        self.note_annotations(variant, res);
        compare_result(self.ev, &res.value).map_err(|d| {
            (
                variant.to_string(),
                format!("{d}\n{}", self.fail_detail(&format_value(&res.value))),
            )
        })
    }

    fn run_instant(&mut self) -> Result<(), Failure> {
        let t = self.ev.instant_time().unwrap_or_default();
        let query = self.ev.query.clone();
        self.run_instant_query("instant", &query, t)?;
        Ok(())
    }

    /// Runs one instant query (main or `@` variant) and its range-mode check.
    fn run_instant_query(&mut self, variant: &str, query: &str, t: i64) -> Result<(), Failure> {
        let res = match self.backend.instant(query, t) {
            Err(e) => return self.on_error(variant, e),
            Ok(r) => r,
        };
        self.check(variant, &res)?;
        if self.ev.excluded_from_range_mode() || uses_query_context_function(query) {
            return Ok(());
        }
        let rv = format!(
            "{variant}, as range query {}..{} step 1m",
            t - 60_000,
            t + 60_000
        );
        let range = self
            .backend
            .range(query, t - 60_000, t + 60_000, 60_000)
            .map_err(|e| {
                let d = self.fail_detail(&e.to_string());
                (rv.clone(), format!("query failed: {e}\n{d}"))
            })?;
        if self.ev.ordered {
            return Ok(());
        }
        let Value::Matrix(m) = &range.value else {
            return Err((
                rv,
                format!(
                    "a range query must return a matrix, got {}",
                    format_value(&range.value)
                ),
            ));
        };
        for w in m.windows(2) {
            if w[0].labels > w[1].labels {
                return Err((
                    rv,
                    format!(
                        "matrix is not sorted by labels: {} comes before {}",
                        w[0].labels, w[1].labels
                    ),
                ));
            }
        }
        let at_t: Vec<strata_query::InstantSample> = m
            .iter()
            .filter_map(|s| {
                let i = s.timestamps.iter().position(|&x| x == t)?;
                Some(strata_query::InstantSample {
                    labels: s.labels.clone(),
                    t,
                    v: *s.values.get(i)?,
                })
            })
            .collect();
        let value = if matches!(res.value, Value::Scalar { .. }) {
            match at_t.first() {
                Some(s) => Value::Scalar { t, v: s.v },
                None => {
                    return Err((
                        rv,
                        format!(
                            "scalar query has no point at t={t} in range mode: {}",
                            format_value(&range.value)
                        ),
                    ))
                }
            }
        } else {
            Value::Vector(at_t)
        };
        compare_result(self.ev, &value).map_err(|d| {
            (
                rv,
                format!(
                    "{d}\npoints at t={t}: {}\nrange result: {}",
                    format_value(&value),
                    format_value(&range.value)
                ),
            )
        })
    }
}

/// True if the query uses `start()`, `end()`, `range()` or `step()` (no range-mode check).
fn uses_query_context_function(q: &str) -> bool {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"(start|end|range|step)\(\)").expect("static regex"))
        .is_match(q)
}

/// Runs the `@` variants of an instant eval after its main evaluation passed.
fn run_at_variants(run: &mut CaseRun<'_>, rep: &mut FileReport) -> Result<(), Failure> {
    let Some(t) = run.ev.instant_time() else {
        return Ok(());
    };
    let rewritten = match run.backend.at_rewrite(&run.ev.query, t) {
        AtRewrite::Rewritten(q) => q,
        AtRewrite::TimeDependent => {
            rep.at_time_dependent += 1;
            return Ok(());
        }
        AtRewrite::ParseError(e) => {
            if run.ev.fail.is_some() {
                // Our parser rejects it and a failure was expected: nothing to vary.
                return Ok(());
            }
            return Err((
                "@ variant".into(),
                format!("Strata's parser rejects the query: {e}"),
            ));
        }
    };
    rep.at_variants_run += 1;
    for et in at_variant_times(t) {
        let variant = format!("@ variant at t={et}: {rewritten}");
        run.run_instant_query(&variant, &rewritten, et)?;
    }
    Ok(())
}

/// Runs one parsed script against a backend, skipping cases listed in `skips`.
pub fn run_script(script: &Script, backend: &mut dyn Backend, skips: &Skips) -> FileReport {
    run_script_with(script, backend, skips, &RunOptions::default())
}

/// [`run_script`] with [`RunOptions`].
pub fn run_script_with(
    script: &Script,
    backend: &mut dyn Backend,
    skips: &Skips,
    opts: &RunOptions,
) -> FileReport {
    let mut rep = FileReport {
        file: script.file.clone(),
        ..FileReport::default()
    };
    // A load or clear failure poisons the rest of the file: later cases fail with it.
    let mut broken: Option<String> = None;
    for cmd in &script.commands {
        match cmd {
            Command::Clear => {
                if let Err(e) = backend.clear() {
                    rep.notes.push(format!("clear: {e}"));
                    broken = Some(format!("store unavailable after clear: {e}"));
                } else {
                    broken = None;
                }
            }
            Command::Load(load) => {
                if broken.is_some() {
                    continue;
                }
                match backend.load(load_samples(load)) {
                    Ok(None) => {}
                    Ok(Some(note)) => rep
                        .notes
                        .push(format!("load at line {}: {note}", load.line)),
                    Err(e) => {
                        rep.notes.push(format!("load at line {}: {e}", load.line));
                        broken = Some(format!("load at line {} failed: {e}", load.line));
                    }
                }
            }
            Command::Eval(ev) => {
                if let Some((_, Some(line))) = &opts.only {
                    if ev.line != *line {
                        continue;
                    }
                }
                let mut case = CaseResult {
                    file: script.file.clone(),
                    line: ev.line,
                    query: ev.query.clone(),
                    status: Status::Passed,
                    notes: Vec::new(),
                    annotation_mismatch: None,
                    skipped_outcome: None,
                };
                let skip = skips.reason(&script.file, ev.line);
                if let Some(r) = skip {
                    case.status = Status::Skipped(r.to_string());
                }
                if skip.is_some() && !opts.run_skipped {
                    // Not run.
                } else if let Some(b) = &broken {
                    if skip.is_some() {
                        case.skipped_outcome = Some(Err(b.clone()));
                    } else {
                        case.status = Status::Failed {
                            variant: "setup".into(),
                            detail: b.clone(),
                        };
                    }
                } else {
                    let mut run = CaseRun {
                        backend: &*backend,
                        ev,
                        notes: Vec::new(),
                        annotated: 0,
                        annotation_mismatch: None,
                    };
                    let mut result = run.run();
                    if result.is_ok() && matches!(ev.kind, EvalKind::Instant { .. }) {
                        result = run_at_variants(&mut run, &mut rep);
                    }
                    if skip.is_some() {
                        case.skipped_outcome = Some(result.map_err(|(variant, detail)| {
                            let first = detail.lines().next().unwrap_or_default();
                            format!("[{variant}] {first}")
                        }));
                    } else {
                        if let Err((variant, detail)) = result {
                            case.status = Status::Failed { variant, detail };
                        }
                        rep.annotated_queries += run.annotated;
                        case.notes = run.notes;
                        case.annotation_mismatch = run.annotation_mismatch;
                    }
                }
                rep.cases.push(case);
            }
        }
    }
    rep
}

/// Errors that stop a whole run.
#[derive(Debug)]
pub enum RunError {
    /// The conformance directory or a script cannot be read.
    Io(PathBuf, std::io::Error),
    /// A script does not parse.
    Script(ScriptError),
    /// The backend cannot be created.
    Backend(String),
    /// No `*.test` file in the directory.
    NoScripts(PathBuf),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Io(p, e) => write!(f, "{}: {e}", p.display()),
            RunError::Script(e) => write!(f, "{e}"),
            RunError::Backend(e) => write!(f, "backend: {e}"),
            RunError::NoScripts(p) => write!(f, "no *.test files in {}", p.display()),
        }
    }
}

impl std::error::Error for RunError {}

/// Reads and parses every `*.test` file of `dir`, sorted by name.
pub fn parse_dir(dir: &Path) -> Result<Vec<Script>, RunError> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| RunError::Io(dir.to_path_buf(), e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    names.sort();
    if names.is_empty() {
        return Err(RunError::NoScripts(dir.to_path_buf()));
    }
    names
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).map_err(|e| RunError::Io(p.clone(), e))?;
            let file = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            parse_script(&file, &text).map_err(RunError::Script)
        })
        .collect()
}

/// Runs every script of `dir` against [`StrataBackend`]s (a fresh one per file).
pub fn run_dir(dir: &Path, skips: &Skips) -> Result<Report, RunError> {
    run_dir_with(dir, skips, &RunOptions::default())
}

/// [`run_dir`] with [`RunOptions`].
pub fn run_dir_with(dir: &Path, skips: &Skips, opts: &RunOptions) -> Result<Report, RunError> {
    let scripts = parse_dir(dir)?;
    let mut report = Report::default();
    if let Some((file, _)) = &opts.only {
        if !scripts.iter().any(|s| &s.file == file) {
            return Err(RunError::NoScripts(dir.join(file)));
        }
    }
    for s in &scripts {
        if opts.only.as_ref().is_some_and(|(f, _)| f != &s.file) {
            continue;
        }
        let mut backend = StrataBackend::new().map_err(RunError::Backend);
        let rep = match &mut backend {
            Ok(b) => run_script_with(s, b, skips, opts),
            Err(e) => {
                // No store at all: every non-skipped case of the file fails with the reason.
                let mut failing = FailingBackend(e.to_string());
                run_script_with(s, &mut failing, skips, opts)
            }
        };
        report.files.push(rep);
    }
    for (f, l, r) in skips.entries() {
        let known = scripts
            .iter()
            .any(|s| s.file == f && s.evals().any(|e| e.line == l));
        if !known {
            report
                .unknown_skips
                .push(format!("{f}:{l} ({r}) names no eval case"));
        }
    }
    Ok(report)
}

/// A backend whose store could not be created: everything fails with the reason.
struct FailingBackend(String);

impl Backend for FailingBackend {
    fn clear(&mut self) -> Result<(), String> {
        Err(self.0.clone())
    }
    fn load(&mut self, _: Vec<(Labels, Vec<Sample>)>) -> Result<Option<String>, String> {
        Err(self.0.clone())
    }
    fn instant(&self, _: &str, _: i64) -> Result<QueryResult, QueryError> {
        Err(QueryError::Panicked(self.0.clone()))
    }
    fn range(&self, _: &str, _: i64, _: i64, _: i64) -> Result<QueryResult, QueryError> {
        Err(QueryError::Panicked(self.0.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use strata_query::{InstantSample, RangeSeries};

    type Answer = Box<dyn Fn(&str, i64) -> Result<Value, QueryError>>;

    /// A backend answering from a function of (query, time); range queries are answered by
    /// calling it at each step, like an engine without range-specific bugs would.
    struct Fake {
        answer: Answer,
        rewrite: fn(&str, i64) -> AtRewrite,
        loads: RefCell<Vec<(Labels, Vec<Sample>)>>,
        clears: usize,
        range_override: Option<Value>,
    }

    impl Fake {
        fn new(answer: impl Fn(&str, i64) -> Result<Value, QueryError> + 'static) -> Fake {
            Fake {
                answer: Box::new(answer),
                rewrite: |_, _| AtRewrite::TimeDependent,
                loads: RefCell::new(Vec::new()),
                clears: 0,
                range_override: None,
            }
        }
    }

    fn result(value: Value) -> QueryResult {
        QueryResult {
            value,
            warnings: Vec::new(),
            infos: Vec::new(),
            stats: Default::default(),
        }
    }

    impl Backend for Fake {
        fn clear(&mut self) -> Result<(), String> {
            self.clears += 1;
            self.loads.borrow_mut().clear();
            Ok(())
        }
        fn load(&mut self, series: Vec<(Labels, Vec<Sample>)>) -> Result<Option<String>, String> {
            self.loads.borrow_mut().extend(series);
            Ok(None)
        }
        fn instant(&self, q: &str, t: i64) -> Result<QueryResult, QueryError> {
            (self.answer)(q, t).map(result)
        }
        fn range(&self, q: &str, s: i64, e: i64, step: i64) -> Result<QueryResult, QueryError> {
            if let Some(v) = &self.range_override {
                return Ok(result(v.clone()));
            }
            let mut series: Vec<RangeSeries> = Vec::new();
            let mut t = s;
            while t <= e {
                let points = match (self.answer)(q, t)? {
                    Value::Vector(v) => v.into_iter().map(|x| (x.labels, x.v)).collect(),
                    Value::Scalar { v, .. } => vec![(Labels::empty(), v)],
                    other => panic!("fake range over {other:?}"),
                };
                for (l, v) in points {
                    match series.iter_mut().find(|x| x.labels == l) {
                        Some(x) => {
                            x.timestamps.push(t);
                            x.values.push(v);
                        }
                        None => series.push(RangeSeries {
                            labels: l,
                            timestamps: vec![t],
                            values: vec![v],
                        }),
                    }
                }
                t += step;
            }
            series.sort_by(|a, b| a.labels.cmp(&b.labels));
            Ok(result(Value::Matrix(series)))
        }
        fn at_rewrite(&self, q: &str, t: i64) -> AtRewrite {
            (self.rewrite)(q, t)
        }
    }

    fn lbl(s: &str) -> Labels {
        parse_series_desc(&format!("{s} 0")).unwrap().labels
    }

    fn vec1(l: &str, v: f64) -> Value {
        Value::Vector(vec![InstantSample {
            labels: lbl(l),
            t: 0,
            v,
        }])
    }

    fn run(text: &str, fake: &mut Fake, skips: &Skips) -> FileReport {
        let s = parse_script("f.test", text).unwrap();
        run_script(&s, fake, skips)
    }

    const SCRIPT: &str =
        "load 1m\n  x{a=\"1\"} 1 _ 3 stale\n\neval instant at 2m x\n  x{a=\"1\"} 3\n";

    #[test]
    fn loads_samples_at_their_steps() {
        let mut fake = Fake::new(|_, _| Ok(vec1("x{a=\"1\"}", 3.0)));
        let rep = run(SCRIPT, &mut fake, &Skips::default());
        assert_eq!(rep.passed(), 1, "{:?}", rep.cases);
        let loads = fake.loads.borrow();
        assert_eq!(loads.len(), 1);
        let ts: Vec<i64> = loads[0].1.iter().map(|s| s.t).collect();
        assert_eq!(ts, vec![0, 120_000, 180_000]);
        assert!(strata_engine::is_stale(loads[0].1[2].v));
    }

    #[test]
    fn wrong_value_fails_with_details() {
        let mut fake = Fake::new(|_, _| Ok(vec1("x{a=\"1\"}", 4.0)));
        let rep = run(SCRIPT, &mut fake, &Skips::default());
        assert_eq!(rep.failed(), 1);
        let Status::Failed { variant, detail } = &rep.cases[0].status else {
            panic!()
        };
        assert_eq!(variant, "instant");
        assert!(detail.contains("expected 3"), "{detail}");
    }

    #[test]
    fn range_mode_must_agree_with_the_instant_result() {
        let mut fake = Fake::new(|_, _| Ok(vec1("x{a=\"1\"}", 3.0)));
        fake.range_override = Some(Value::Matrix(vec![RangeSeries {
            labels: lbl("x{a=\"1\"}"),
            timestamps: vec![60_000, 120_000, 180_000],
            values: vec![3.0, 5.0, 3.0],
        }]));
        let rep = run(SCRIPT, &mut fake, &Skips::default());
        let Status::Failed { variant, .. } = &rep.cases[0].status else {
            panic!("{:?}", rep.cases[0].status)
        };
        assert!(
            variant.contains("as range query 60000..180000"),
            "{variant}"
        );
    }

    #[test]
    fn at_variants_run_at_the_other_times() {
        let seen = std::rc::Rc::new(RefCell::new(Vec::new()));
        let s2 = seen.clone();
        let mut fake = Fake::new(move |q, t| {
            s2.borrow_mut().push((q.to_string(), t));
            // The pinned query answers the same at any time; the plain one only at 2m.
            if q.contains("@") || t == 120_000 {
                Ok(vec1("x{a=\"1\"}", 3.0))
            } else {
                Ok(Value::Vector(Vec::new()))
            }
        });
        fake.rewrite = |q, t| AtRewrite::Rewritten(format!("{q} @ {}", t as f64 / 1000.0));
        let rep = run(SCRIPT, &mut fake, &Skips::default());
        assert_eq!(rep.passed(), 1, "{:?}", rep.cases);
        assert_eq!(rep.at_variants_run, 1);
        let times: Vec<i64> = seen
            .borrow()
            .iter()
            .filter(|(q, _)| q == "x @ 120")
            .map(|(_, t)| *t)
            .collect();
        for t in [-1_200_000, 0, 24_000, 120_000, 1_200_000] {
            assert!(times.contains(&t), "no @ variant at {t}: {times:?}");
        }
        // A rewrite that changes the result fails the case.
        let mut bad = Fake::new(|q, t| {
            if q.contains("@") && t != 120_000 {
                Ok(Value::Vector(Vec::new()))
            } else {
                Ok(vec1("x{a=\"1\"}", 3.0))
            }
        });
        bad.rewrite = |q, _| AtRewrite::Rewritten(format!("{q} @ 120"));
        let rep = run(SCRIPT, &mut bad, &Skips::default());
        let Status::Failed { variant, .. } = &rep.cases[0].status else {
            panic!()
        };
        assert!(variant.starts_with("@ variant at t=-1200000"), "{variant}");
    }

    #[test]
    fn expected_failures() {
        let text = "load 1m\n  x 1\n\neval instant at 0 x\n  expect fail msg: boom\n";
        let mut ok = Fake::new(|_, _| Err(QueryError::Failed("other".into())));
        let rep = run(text, &mut ok, &Skips::default());
        assert_eq!(rep.passed(), 1);
        assert_eq!(rep.cases[0].notes.len(), 1, "message mismatch is noted");
        let mut panics = Fake::new(|_, _| Err(QueryError::Panicked("todo".into())));
        assert_eq!(run(text, &mut panics, &Skips::default()).failed(), 1);
        let mut succeeds = Fake::new(|_, _| Ok(vec1("x", 1.0)));
        assert_eq!(run(text, &mut succeeds, &Skips::default()).failed(), 1);
        // Range evals too.
        let text = "eval_fail range from 0 to 1m step 1m x\n";
        let mut ok = Fake::new(|_, _| Err(QueryError::Failed("bad".into())));
        assert_eq!(run(text, &mut ok, &Skips::default()).passed(), 1);
    }

    #[test]
    fn skips_by_file_and_line_and_reports_stale_entries() {
        let skips = Skips::parse("s.tsv", "# comment\nf.test\t4\tnative-histogram\n").unwrap();
        let mut fake = Fake::new(|_, _| Err(QueryError::Panicked("never called".into())));
        let rep = run(SCRIPT, &mut fake, &skips);
        assert_eq!(
            rep.cases[0].status,
            Status::Skipped("native-histogram".into())
        );
        assert_eq!((rep.passed(), rep.failed(), rep.skipped()), (0, 0, 1));
        assert!(Skips::parse("s.tsv", "f.test\t4\n").is_err());
        assert!(Skips::parse("s.tsv", "f.test\tx\tr\n").is_err());
        assert!(Skips::parse("s.tsv", "f.test\t4\tr\nf.test\t4\tr\n").is_err());
    }

    #[test]
    fn clear_starts_a_fresh_store_and_report_ends_with_the_summary() {
        let text = format!("{SCRIPT}\nclear\n\neval instant at 0 y\n\neval range from 0 to 1m step 1m y\n  y 1 1\n");
        let mut fake = Fake::new(|q, _| {
            if q == "y" {
                Ok(vec1("y", 1.0))
            } else {
                Ok(vec1("x{a=\"1\"}", 3.0))
            }
        });
        let rep = run(&text, &mut fake, &Skips::default());
        assert_eq!(fake.clears, 1);
        assert!(fake.loads.borrow().is_empty());
        // `eval instant at 0 y` expects nothing but gets y: a failure.
        assert_eq!((rep.passed(), rep.failed()), (2, 1));
        let report = Report {
            files: vec![rep],
            unknown_skips: vec![],
        };
        let text = report.render();
        assert!(text.contains("FAIL f.test:9: y"), "{text}");
        assert_eq!(text.lines().last(), Some("2 passed, 1 failed, 0 skipped"));
    }

    #[test]
    fn only_filter_runs_one_eval_after_all_earlier_commands() {
        assert_eq!(
            RunOptions::parse_only("functions.test:12"),
            Ok(("functions.test".to_string(), Some(12)))
        );
        assert_eq!(
            RunOptions::parse_only("a.test"),
            Ok(("a.test".into(), None))
        );
        assert!(RunOptions::parse_only("a.test:x").is_err());
        let text = format!("{SCRIPT}\neval instant at 0 y\n");
        let mut fake = Fake::new(|_, _| Ok(vec1("x{a=\"1\"}", 3.0)));
        let s = parse_script("f.test", &text).unwrap();
        let opts = RunOptions {
            only: Some(("f.test".into(), Some(4))),
            ..RunOptions::default()
        };
        let rep = run_script_with(&s, &mut fake, &Skips::default(), &opts);
        assert_eq!(rep.cases.len(), 1);
        assert_eq!((rep.cases[0].line, rep.passed()), (4, 1));
        assert_eq!(fake.loads.borrow().len(), 1);
    }

    #[test]
    fn query_function_names() {
        assert_eq!(
            query_functions(r#"sum by (a) (rate(x{a="f(1)"}[5m])) + on(a) abs(y)"#),
            vec!["abs", "rate", "sum"]
        );
        assert_eq!(query_functions("x + 1"), vec!["(no call)"]);
    }

    #[test]
    fn guarded_turns_panics_into_errors() {
        let r: Result<(), String> = backend_guarded_for_test(|| panic!("kaboom"));
        assert!(r.unwrap_err().contains("kaboom"));
        assert_eq!(backend_guarded_for_test(|| 7), Ok(7));
    }

    fn backend_guarded_for_test<T>(f: impl FnOnce() -> T) -> Result<T, String> {
        backend::guarded(f)
    }
}

//! Rules in the server: the running [`Manager`] (and its Alertmanager notifier), reloads,
//! `/api/v1/rules`, `/api/v1/alerts`, `/api/v1/slos`, `/-/reload`, `strata check rules`,
//! `strata check slo` and `strata slo generate`.
//!
//! Rule files come from the configuration file's `rule_files` and the `--rules` flags, SLO
//! specs from its `slo_files` and the `--slo` flags (files or globs, expanded at every
//! load); an SLO file runs the groups [`strata_rules::slo`] generates for it. A reload, on
//! SIGHUP or `POST /-/reload`, re-reads the configuration file for `rule_files`,
//! `slo_files` and `evaluation_interval` (command-line settings still win), expands the
//! patterns again and installs the groups; if anything
//! fails, the rules in force stay as they were and the error is returned (500 for
//! `/-/reload`, as Prometheus answers). Reloads are serialized. Other configuration changes
//! need a restart.

use std::path::PathBuf;
use std::sync::Arc;

use hyper::StatusCode;
use parking_lot::Mutex;
use strata_engine::Db;
use strata_rules::api::RulesQuery;
use strata_rules::file::glob;
use strata_rules::notifier::{Notifier, NotifierOptions};
use strata_rules::{Manager, ManagerOptions};

use crate::api_meta::{invalid_param, parse_selector};
use crate::body::{json_ok, response, Resp};
use crate::config::{Config, RulesConfig};
use crate::error::{Error, Result};
use crate::json;
use crate::params::Params;

/// The server's rules.
pub struct Rules {
    manager: Manager,
    config_file: Option<PathBuf>,
    /// The settings of the last successful load; also serializes reloads.
    current: Mutex<RulesConfig>,
}

/// Expands rule or SLO file patterns; a glob matching nothing is reported on stderr.
pub fn expand(patterns: &[String]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for p in patterns {
        let matched = glob::expand(p)?;
        if matched.is_empty() {
            eprintln!("strata: files {p:?} match no file");
        }
        files.extend(matched);
    }
    Ok(files)
}

impl Rules {
    /// Starts the rules of `config` over `db` for a server at `addr` (the base of alerts'
    /// `generatorURL`). Fails if a rule file does not load or an Alertmanager URL is bad.
    pub fn start(db: Arc<Db>, config: &Config, addr: std::net::SocketAddr) -> Result<Rules> {
        let notifier = if config.rules.alertmanagers.is_empty() {
            None
        } else {
            Some(Arc::new(Notifier::start(NotifierOptions {
                alertmanagers: config.rules.alertmanagers.clone(),
                ..NotifierOptions::default()
            })?))
        };
        // Incremental windows re-read what may still arrive late: at least the
        // out-of-order window.
        let incremental = strata_rules::window::IncrementalOptions::default();
        let incremental = strata_rules::window::IncrementalOptions {
            late_horizon: incremental
                .late_horizon
                .max(config.storage.out_of_order_window.as_millis() as i64),
            ..incremental
        };
        let opts = ManagerOptions {
            default_interval_ms: config.rules.evaluation_interval.as_millis() as i64,
            alignment: config.rules.alignment,
            engine: config.engine_options(),
            external_url: format!("http://{addr}"),
            notifier,
            incremental: Some(incremental),
            ..ManagerOptions::default()
        };
        let rules = Rules {
            manager: Manager::new(db, opts),
            config_file: config.config_file.clone(),
            current: Mutex::new(config.rules.clone()),
        };
        let files = expand(&config.rules.patterns)?;
        let slos = expand(&config.rules.slo_patterns)?;
        rules.manager.load_with_slos(
            &files,
            &slos,
            config.rules.evaluation_interval.as_millis() as i64,
        )?;
        Ok(rules)
    }

    /// Reloads: re-reads the configuration file, expands the patterns and installs the
    /// groups. On error nothing changes.
    pub fn reload(&self) -> Result<()> {
        let mut current = self.current.lock();
        let mut next = match &self.config_file {
            Some(path) => Config::from_file(path)?.rules,
            None => RulesConfig::default(),
        };
        next.apply_flags(current.flags.clone());
        let files = expand(&next.patterns)?;
        let slos = expand(&next.slo_patterns)?;
        self.manager
            .load_with_slos(&files, &slos, next.evaluation_interval.as_millis() as i64)?;
        *current = next;
        Ok(())
    }

    /// The manager.
    pub fn manager(&self) -> &Manager {
        &self.manager
    }

    /// Stops every group (no stale markers are written on shutdown).
    pub fn stop(&self) {
        self.manager.stop();
    }
}

/// `GET /api/v1/rules`.
pub fn api_rules(rules: &Rules, p: &Params) -> Result<Resp> {
    let get = |n: &str| p.get_all(n).into_iter().map(str::to_string).collect();
    let mut q =
        RulesQuery::from_params(&get).map_err(|e| invalid_param(e.param, Error::BadData(e.msg)))?;
    q.matchers = p
        .get_all("match[]")
        .into_iter()
        .map(parse_selector)
        .collect::<Result<_>>()?;
    let data = strata_rules::api::rules_json(&rules.manager.groups(), &q)
        .map_err(|e| invalid_param(e.param, Error::BadData(e.msg)))?;
    Ok(json_ok(json::success(&data, &[], &[])))
}

/// `GET /api/v1/alerts`: every pending and firing alert.
pub fn api_alerts(rules: &Rules) -> Resp {
    json_ok(json::success(&rules.manager.alerts_json(), &[], &[]))
}

/// `GET /api/v1/slos`: every loaded SLO with its latest values (see
/// [`strata_rules::slo::status`] for the document).
pub fn api_slos(rules: &Rules) -> Resp {
    let data = rules.manager.slos_json().to_string();
    json_ok(json::success(&data, &[], &[]))
}

/// `POST /-/reload`: 200 with an empty body, or 500 with the error, as Prometheus answers.
pub fn reload_response(result: Result<()>) -> Resp {
    match result {
        Ok(()) => response(StatusCode::OK, "text/plain; charset=utf-8", ""),
        Err(e) => response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain; charset=utf-8",
            format!("failed to reload config: {e}\n"),
        ),
    }
}

/// `strata check rules FILE...`, in `promtool check rules`'s shape: per file `Checking F`,
/// then `  SUCCESS: N rules found` or `  FAILED:` and every error on stderr. Returns false
/// if any file failed.
pub fn check_files(
    files: &[String],
    out: &mut dyn std::io::Write,
    err: &mut dyn std::io::Write,
) -> bool {
    let mut ok = true;
    for f in files {
        let _ = writeln!(out, "Checking {f}");
        match strata_rules::file::load(std::path::Path::new(f)) {
            Ok(rf) => {
                let n: usize = rf.groups.iter().map(|g| g.rules.len()).sum();
                let _ = writeln!(out, "  SUCCESS: {n} rules found");
            }
            Err(e) => {
                ok = false;
                let _ = writeln!(err, "  FAILED:");
                write_problems(e, err);
            }
        }
        let _ = writeln!(out);
    }
    let _ = out.flush();
    ok
}

/// Writes every problem of a failed load to `err`, one per line.
fn write_problems(e: strata_rules::Error, err: &mut dyn std::io::Write) {
    match e {
        strata_rules::Error::Invalid(list) => {
            for d in list {
                let _ = writeln!(err, "{d}");
            }
        }
        other => {
            let _ = writeln!(err, "{other}");
        }
    }
}

/// `strata check slo FILE...`: per file `Checking F`, then `  SUCCESS: N SLOs found, M
/// rules generated` or `  FAILED:` and every error on stderr. Returns false if any file
/// failed.
pub fn check_slo_files(
    files: &[String],
    out: &mut dyn std::io::Write,
    err: &mut dyn std::io::Write,
) -> bool {
    let mut ok = true;
    for f in files {
        let _ = writeln!(out, "Checking {f}");
        match strata_rules::slo::load(std::path::Path::new(f)) {
            Ok(sf) => {
                let n: usize = sf.rules.groups.iter().map(|g| g.rules.len()).sum();
                let _ = writeln!(
                    out,
                    "  SUCCESS: {} SLOs found, {n} rules generated",
                    sf.slos.len()
                );
            }
            Err(e) => {
                ok = false;
                let _ = writeln!(err, "  FAILED:");
                write_problems(e, err);
            }
        }
        let _ = writeln!(out);
    }
    let _ = out.flush();
    ok
}

/// `strata slo generate FILE...`: prints one Prometheus rule file with the groups of every
/// SLO of the files (what Strata runs for them). On invalid specs prints every problem on
/// stderr and returns false.
pub fn slo_generate(
    files: &[String],
    out: &mut dyn std::io::Write,
    err: &mut dyn std::io::Write,
) -> bool {
    match strata_rules::slo::load_all(files) {
        Ok(loaded) => {
            let slos: Vec<&strata_rules::slo::Slo> = loaded
                .iter()
                .flat_map(|f| f.slos.iter().map(|s| &**s))
                .collect();
            let text = strata_rules::slo::generate::rule_file(&slos, &files.join(", "));
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
            true
        }
        Err(e) => {
            write_problems(e, err);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_reports_like_promtool() {
        let d = tempfile::tempdir().unwrap();
        let good = d.path().join("good.yml");
        let bad = d.path().join("bad.yml");
        std::fs::write(
            &good,
            "groups:\n- name: g\n  rules:\n  - record: a\n    expr: up\n",
        )
        .unwrap();
        std::fs::write(
            &bad,
            "groups:\n- name: g\n  rules:\n  - record: a\n    expr: sum(up\n",
        )
        .unwrap();
        let files = vec![good.display().to_string(), bad.display().to_string()];
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert!(!check_files(&files, &mut out, &mut err));
        let out = String::from_utf8(out).unwrap();
        let err = String::from_utf8(err).unwrap();
        assert_eq!(
            out,
            format!(
                "Checking {}\n  SUCCESS: 1 rules found\n\nChecking {}\n\n",
                files[0], files[1]
            )
        );
        assert!(
            err.starts_with(&format!(
                "  FAILED:\n{}:5:17: group \"g\", rule 1, \"a\", could not parse expression: 1:7:",
                files[1]
            )),
            "{err}"
        );
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert!(check_files(&files[..1], &mut out, &mut err));
        assert!(err.is_empty());
    }

    #[test]
    fn check_and_generate_slo_files() {
        let d = tempfile::tempdir().unwrap();
        let good = d.path().join("good.yml");
        let bad = d.path().join("bad.yml");
        std::fs::write(
            &good,
            "version: strata/v1\nservice: s\nslos:\n  - {name: a, objective: 99, errors: e, total: t}\n",
        )
        .unwrap();
        std::fs::write(
            &bad,
            "version: strata/v1\nservice: s\nslos:\n  - {name: a, objective: 0, errors: e, total: t}\n",
        )
        .unwrap();
        let files = vec![good.display().to_string(), bad.display().to_string()];
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert!(!check_slo_files(&files, &mut out, &mut err));
        let out = String::from_utf8(out).unwrap();
        assert_eq!(
            out,
            format!(
                "Checking {}\n  SUCCESS: 1 SLOs found, 15 rules generated\n\nChecking {}\n\n",
                files[0], files[1]
            )
        );
        let err = String::from_utf8(err).unwrap();
        assert!(
            err.starts_with(&format!(
                "  FAILED:\n{}:4:26: slo \"a\": objective must be > 0",
                files[1]
            )),
            "{err}"
        );
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert!(slo_generate(&files[..1], &mut out, &mut err));
        let text = String::from_utf8(out).unwrap();
        let rf = strata_rules::file::parse("gen.yml", &text).unwrap();
        assert_eq!(rf.groups[0].name, "sloth-slo-s-a");
        assert!(err.is_empty());
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert!(!slo_generate(&files, &mut out, &mut err));
        assert!(out.is_empty() && !err.is_empty());
    }
}

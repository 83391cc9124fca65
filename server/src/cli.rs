//! The `strata` command line, parsed by hand (a handful of flags does not need a parser
//! crate).
//!
//! ```text
//! strata serve [--listen ADDR] [--data-dir DIR] [--config FILE] [--rules FILE_OR_GLOB]...
//!              [--slo FILE_OR_GLOB]... [--evaluation-interval DURATION]
//!              [--rule-alignment prometheus3|prometheus2] [--alertmanager-url URL]...
//!              [--retention DURATION] [--retention-size SIZE] [--enable-admin-api]
//!              [--block-range DURATION] [--max-series N] [--max-new-series-per-request N]
//!              [--out-of-order-window DURATION]
//!              [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]] [--cors-origin REGEX]
//!              [--query.result-cache-size SIZE]
//! strata check rules FILE...
//! strata check slo FILE...
//! strata slo generate FILE...
//! strata --help | --version
//! ```
//! Flags accept `--flag value` and `--flag=value`, and override the config file (`--rules`
//! adds to its `rule_files`, `--slo` to its `slo_files`).

use std::path::PathBuf;

use crate::config::{Config, RuleFlags};
use crate::error::{Error, Result};

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    /// Print usage.
    Help,
    /// Print the version.
    Version,
    /// Run the server with this configuration.
    Serve(Box<Config>),
    /// Validate rule files without a server (`strata check rules FILE...`).
    CheckRules(Vec<String>),
    /// Validate SLO files without a server (`strata check slo FILE...`).
    CheckSlo(Vec<String>),
    /// Print the Prometheus rules of SLO files (`strata slo generate FILE...`).
    SloGenerate(Vec<String>),
}

/// Usage text for `--help`.
pub const USAGE: &str = "\
strata - a time-series metrics store (Prometheus remote-write in, PromQL out)

Usage:
  strata serve [--listen ADDR] [--data-dir DIR] [--config FILE] [--rules FILE_OR_GLOB]...
               [--slo FILE_OR_GLOB]... [--evaluation-interval DURATION]
               [--rule-alignment prometheus3|prometheus2] [--alertmanager-url URL]...
               [--retention DURATION] [--retention-size SIZE] [--enable-admin-api]
               [--block-range DURATION] [--max-series N] [--max-new-series-per-request N]
               [--out-of-order-window DURATION]
               [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]] [--cors-origin REGEX]
               [--query.result-cache-size SIZE]
  strata check rules FILE...
  strata check slo FILE...
  strata slo generate FILE...
  strata --help
  strata --version

Options for serve:
  --listen ADDR     address to listen on (default 127.0.0.1:9201; port 0 picks a free port)
  --data-dir DIR    data directory (default ./data)
  --config FILE     YAML configuration file; flags override it
  --rules FILE_OR_GLOB
                    Prometheus rule file (plain or PrometheusRule YAML) to evaluate;
                    repeatable; globs as Prometheus expands them (`rules/*.yml`). Added to
                    the config file's rule_files. Reloaded on SIGHUP and POST /-/reload.
  --slo FILE_OR_GLOB
                    SLO spec (Sloth prometheus/v1 or strata/v1) whose rules to run:
                    error ratios over 5m..3d and the period, burn rates, budget remaining,
                    multiwindow multi-burn-rate alerts; GET /api/v1/slos reports them.
                    Repeatable; added to the config file's slo_files; reloaded with the rules.
  --evaluation-interval DURATION
                    interval of rule groups that set none (default 1m)
  --rule-alignment prometheus3|prometheus2
                    whose evaluation slots groups use (default prometheus3; prometheus2
                    evaluates at the same instants as a Prometheus 2.x server)
  --alertmanager-url URL
                    Alertmanager (http://host:port[/prefix]) that firing and resolved alerts
                    are sent to through its v2 API; repeatable

  --retention DURATION
                    delete data older than this before the newest sample, whole blocks at
                    a time (default 15d; 0 keeps everything)
  --retention-size SIZE
                    delete the oldest blocks while blocks plus WAL take more than SIZE
                    (512MB, 10GB, ...; default: no limit)
  --enable-admin-api
                    serve /api/v1/admin/tsdb/{delete_series,clean_tombstones,snapshot,flush}
                    (403 otherwise, as Prometheus without --web.enable-admin-api)
  --block-range DURATION
                    span of head data cut into one block (default 2h; for tests and
                    benchmarks)
  --out-of-order-window DURATION
                    store samples older than their series' newest (or than what the head
                    holds) if at most this much older than the newest sample received;
                    older ones are refused with 400 (default 0: off, as in
                    Prometheus's out_of_order_time_window)
  --tls-cert FILE --tls-key FILE
                    serve HTTPS with this PEM certificate chain and key (default: HTTP)
  --tls-client-ca FILE
                    with TLS, require client certificates signed by a CA in this PEM file
  --cors-origin REGEX
                    browser origins allowed to call /api/ from other sites (anchored regular
                    expression, e.g. 'https://grafana\\.example\\.com'; default: no CORS)
  --max-series N    most active series at once; samples of further new series are refused
                    with 400 (default 0: no limit)
  --max-new-series-per-request N
                    most new series one write request may create; the samples of further
                    new series in it are refused with 400 (default 0: no limit)
  --query.result-cache-size SIZE
                    bytes of range-query results kept for reuse: a repeated range query
                    (a dashboard refresh) evaluates only the steps past the cached ones;
                    data changed at old times invalidates it (default 64MB; 0: off;
                    `nocache=1` on /api/v1/query_range bypasses it per request)

check rules FILE...: validates rule files without a server; prints every error with its
  file, group, rule and line:col (and the position inside the expression); exit status 1
  on any error.
check slo FILE...: validates SLO specs the same way.
slo generate FILE...: prints the Prometheus rule file Strata runs for the SLO specs (load
  it in Prometheus, or compare it with Sloth's output); exit status 1 if a spec is invalid.

Configuration file keys (all optional):
  listen, data_dir, shutdown_timeout,
  limits: {max_body_bytes, max_decoded_bytes, max_inflight_writes, write_queue_wait,
           max_queued_writes, max_form_bytes, body_timeout, max_labels_per_series,
           max_label_name_bytes, max_label_value_bytes, max_future, max_series,
           max_new_series_per_request},
  wal: {fsync: always|interval, fsync_interval},
  query: {timeout, max_concurrent, max_samples, lookback_delta, result_cache_size},
  auth: {bearer_token | bearer_token_file, username, password},
  rule_files: [FILE_OR_GLOB, ...] (relative to the config file),
  slo_files: [FILE_OR_GLOB, ...] (relative to the config file), evaluation_interval,
  rule_alignment, alertmanager_urls: [URL, ...],
  storage: {retention, retention_size, block_range, out_of_order_window}, enable_admin_api,
  tls: {cert_file, key_file, client_ca_file} (relative to the config file), cors_origin
Durations use Prometheus syntax: 100ms, 30s, 2m, 1h.
";

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Command> {
    let mut it = args.iter();
    let Some(first) = it.next() else {
        return Err(Error::Config(format!("missing command\n\n{USAGE}")));
    };
    match first.as_str() {
        "-h" | "--help" | "help" => return Ok(Command::Help),
        "-V" | "--version" | "version" => return Ok(Command::Version),
        "serve" => {}
        "check" | "slo" => {
            let sub = it.next().map(String::as_str);
            let files: Vec<String> = it.cloned().collect();
            if files.iter().any(|f| f == "-h" || f == "--help") {
                return Ok(Command::Help);
            }
            let (what, cmd): (&str, fn(Vec<String>) -> Command) = match (first.as_str(), sub) {
                ("check", Some("rules")) => ("check rules", Command::CheckRules),
                ("check", Some("slo")) => ("check slo", Command::CheckSlo),
                ("slo", Some("generate")) => ("slo generate", Command::SloGenerate),
                ("check", _) => return Err(Error::Config(
                    "unknown check; try `strata check rules FILE...` or `strata check slo FILE...`"
                        .into(),
                )),
                _ => {
                    return Err(Error::Config(
                        "unknown slo command; try `strata slo generate FILE...`".into(),
                    ))
                }
            };
            return if files.is_empty() {
                Err(Error::Config(format!("{what} needs at least one file")))
            } else {
                Ok(cmd(files))
            };
        }
        other => {
            return Err(Error::Config(format!(
                "unknown command {other:?}; try `strata --help`"
            )))
        }
    }
    let mut listen = None;
    let mut data_dir = None;
    let mut config_file = None;
    let mut rules = RuleFlags::default();
    let mut retention = None;
    let mut retention_size = None;
    let mut block_range = None;
    let mut ooo_window = None;
    let mut admin = false;
    let mut max_series = None;
    let (mut tls_cert, mut tls_key, mut tls_ca) = (None, None, None);
    let mut cors = None;
    let mut max_new_series = None;
    let mut result_cache_size = None;
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        if matches!(flag, "-h" | "--help") {
            return Ok(Command::Help);
        }
        let mut value = || -> Result<String> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => it
                    .next()
                    .cloned()
                    .ok_or_else(|| Error::Config(format!("flag {flag} needs a value"))),
            }
        };
        match flag {
            "--enable-admin-api" => admin = true,
            "--retention" => {
                let v = value()?;
                retention = Some(crate::config::parse_retention(&v).ok_or_else(|| {
                    Error::Config(format!("--retention: cannot parse {v:?} as a duration"))
                })?);
            }
            "--retention-size" => {
                let v = value()?;
                retention_size = Some(crate::config::parse_bytes(&v).ok_or_else(|| {
                    Error::Config(format!("--retention-size: cannot parse {v:?} as a size"))
                })?);
            }
            "--query.result-cache-size" => {
                let v = value()?;
                result_cache_size = Some(crate::config::parse_bytes(&v).ok_or_else(|| {
                    Error::Config(format!(
                        "--query.result-cache-size: cannot parse {v:?} as a size"
                    ))
                })?);
            }
            "--block-range" => {
                let v = value()?;
                let ms = crate::params::parse_prom_duration(&v)
                    .filter(|&ms| ms > 0)
                    .ok_or_else(|| {
                        Error::Config(format!("--block-range: {v:?} is not a positive duration"))
                    })?;
                block_range = Some(std::time::Duration::from_millis(ms as u64));
            }
            "--out-of-order-window" => {
                let v = value()?;
                let ms = crate::params::parse_prom_duration(&v)
                    .filter(|&ms| ms >= 0)
                    .ok_or_else(|| {
                        Error::Config(format!("--out-of-order-window: {v:?} is not a duration"))
                    })?;
                ooo_window = Some(std::time::Duration::from_millis(ms as u64));
            }
            "--max-series" | "--max-new-series-per-request" => {
                let v = value()?;
                let n: u64 = v.parse().map_err(|_| {
                    Error::Config(format!("{flag}: {v:?} is not a non-negative integer"))
                })?;
                let n = (n > 0).then_some(n);
                if flag == "--max-series" {
                    max_series = Some(n);
                } else {
                    max_new_series = Some(n);
                }
            }
            "--cors-origin" => {
                let v = value()?;
                crate::config::cors_regex(&v)?;
                cors = Some(v);
            }
            "--tls-cert" => tls_cert = Some(PathBuf::from(value()?)),
            "--tls-key" => tls_key = Some(PathBuf::from(value()?)),
            "--tls-client-ca" => tls_ca = Some(PathBuf::from(value()?)),
            "--listen" => listen = Some(value()?),
            "--data-dir" => data_dir = Some(PathBuf::from(value()?)),
            "--config" => config_file = Some(PathBuf::from(value()?)),
            "--rules" => rules.patterns.push(value()?),
            "--slo" => rules.slo_patterns.push(value()?),
            "--alertmanager-url" => rules.alertmanagers.push(value()?),
            "--evaluation-interval" => {
                let v = value()?;
                let ms = strata_rules::duration::parse(&v)
                    .map_err(|e| Error::Config(format!("--evaluation-interval: {e}")))?;
                if ms <= 0 {
                    return Err(Error::Config("--evaluation-interval must be > 0".into()));
                }
                rules.evaluation_interval = Some(std::time::Duration::from_millis(ms as u64));
            }
            "--rule-alignment" => {
                let v = value()?;
                rules.alignment =
                    Some(strata_rules::schedule::Alignment::parse(&v).ok_or_else(|| {
                        Error::Config(format!(
                            "--rule-alignment: {v:?} is not prometheus3 or prometheus2"
                        ))
                    })?);
            }
            other => {
                return Err(Error::Config(format!(
                    "unknown flag {other:?}; try `strata --help`"
                )))
            }
        }
    }
    let mut config = match config_file {
        Some(f) => Config::from_file(&f)?,
        None => Config::default(),
    };
    if let Some(l) = listen {
        config.listen = l;
    }
    if let Some(d) = data_dir {
        config.data_dir = d;
    }
    config.rules.apply_flags(rules);
    if let Some(r) = retention {
        config.storage.retention = r;
    }
    if let Some(r) = retention_size {
        config.storage.retention_size = Some(r);
    }
    if let Some(b) = block_range {
        config.storage.block_range = b;
    }
    if let Some(w) = ooo_window {
        config.storage.out_of_order_window = w;
    }
    if let Some(n) = result_cache_size {
        config.query.result_cache_size = n;
    }
    config.storage.enable_admin_api |= admin;
    if cors.is_some() {
        config.cors_origin = cors;
    }
    match (tls_cert, tls_key) {
        (Some(cert_file), Some(key_file)) => {
            config.tls = Some(crate::tls::TlsConfig {
                cert_file,
                key_file,
                client_ca_file: tls_ca,
            })
        }
        (None, None) if tls_ca.is_none() => {}
        (None, None) => match &mut config.tls {
            Some(t) => t.client_ca_file = tls_ca,
            None => {
                return Err(Error::Config(
                    "--tls-client-ca needs --tls-cert and --tls-key".into(),
                ))
            }
        },
        _ => return Err(Error::Config("--tls-cert and --tls-key go together".into())),
    }
    if let Some(n) = max_series {
        config.limits.max_series = n;
    }
    if let Some(n) = max_new_series {
        config.limits.max_new_series_per_request = n;
    }
    Ok(Command::Serve(Box::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn serve_defaults_and_flags() {
        let Command::Serve(c) = parse(&args("serve")).unwrap() else {
            panic!("not serve")
        };
        assert_eq!(c.listen, "127.0.0.1:9201");
        let Command::Serve(c) =
            parse(&args("serve --listen 127.0.0.1:0 --data-dir=/tmp/d")).unwrap()
        else {
            panic!("not serve")
        };
        assert_eq!(c.listen, "127.0.0.1:0");
        assert_eq!(c.data_dir, PathBuf::from("/tmp/d"));
    }

    #[test]
    fn rule_flags_and_check() {
        let Command::Serve(c) = parse(&args(
            "serve --rules a.yml --rules=r/*.yml --evaluation-interval 15s --rule-alignment prometheus2 --alertmanager-url http://am:9093 --slo s.yml --slo=slo/*.yml",
        ))
        .unwrap() else {
            panic!("not serve")
        };
        assert_eq!(c.rules.patterns, vec!["a.yml", "r/*.yml"]);
        assert_eq!(c.rules.slo_patterns, vec!["s.yml", "slo/*.yml"]);
        assert_eq!(
            c.rules.evaluation_interval,
            std::time::Duration::from_secs(15)
        );
        assert_eq!(
            c.rules.alignment,
            strata_rules::schedule::Alignment::Prometheus2
        );
        assert_eq!(c.rules.alertmanagers, vec!["http://am:9093"]);
        assert!(parse(&args("serve --evaluation-interval 0s")).is_err());
        assert!(parse(&args("serve --evaluation-interval soon")).is_err());
        assert!(parse(&args("serve --rule-alignment x")).is_err());
        let Command::CheckRules(f) = parse(&args("check rules a.yml b.yml")).unwrap() else {
            panic!("not check")
        };
        assert_eq!(f, vec!["a.yml", "b.yml"]);
        assert!(parse(&args("check rules")).is_err());
        assert!(parse(&args("check config x")).is_err());
        let Command::CheckSlo(f) = parse(&args("check slo s.yml")).unwrap() else {
            panic!("not check slo")
        };
        assert_eq!(f, vec!["s.yml"]);
        let Command::SloGenerate(f) = parse(&args("slo generate a.yml b.yml")).unwrap() else {
            panic!("not slo generate")
        };
        assert_eq!(f, vec!["a.yml", "b.yml"]);
        assert!(parse(&args("slo generate")).is_err());
        assert!(parse(&args("slo frobnicate x")).is_err());
        assert!(USAGE.contains("--slo FILE_OR_GLOB"));
        assert!(USAGE.contains("--evaluation-interval"));
    }

    #[test]
    fn storage_flags() {
        let Command::Serve(c) = parse(&args("serve")).unwrap() else {
            panic!("not serve")
        };
        assert_eq!(
            c.storage.retention,
            Some(std::time::Duration::from_secs(15 * 86400))
        );
        assert!(!c.storage.enable_admin_api && c.storage.retention_size.is_none());
        let Command::Serve(c) = parse(&args(
            "serve --retention 30d --retention-size 10GB --enable-admin-api --block-range 1h",
        ))
        .unwrap() else {
            panic!("not serve")
        };
        assert_eq!(
            c.storage.retention,
            Some(std::time::Duration::from_secs(30 * 86400))
        );
        assert_eq!(c.storage.retention_size, Some(10 << 30));
        assert!(c.storage.enable_admin_api);
        let o = c.db_options();
        assert_eq!(
            (o.block_range, o.retention_size),
            (3_600_000, Some(10 << 30))
        );
        let Command::Serve(c) = parse(&args("serve --retention=0")).unwrap() else {
            panic!("not serve")
        };
        assert_eq!(c.storage.retention, None);
        assert!(parse(&args("serve --retention soon")).is_err());
        assert!(parse(&args("serve --retention-size 10XB")).is_err());
        assert!(parse(&args("serve --block-range 0s")).is_err());
        assert!(USAGE.contains("--enable-admin-api"));
        let Command::Serve(c) = parse(&args("serve --out-of-order-window 30m")).unwrap() else {
            panic!("not serve")
        };
        assert_eq!(c.db_options().out_of_order_window, 1_800_000);
        assert!(parse(&args("serve --out-of-order-window later")).is_err());
        assert_eq!(Config::default().db_options().out_of_order_window, 0);
    }

    #[test]
    fn result_cache_size_flag() {
        let serve = |a: &str| match parse(&args(a)).unwrap() {
            Command::Serve(c) => c,
            other => panic!("not serve: {other:?}"),
        };
        let c = serve("serve");
        assert_eq!(c.query.result_cache_size, 64 << 20);
        assert_eq!(c.engine_options().result_cache_bytes, 64 << 20);
        let c = serve("serve --query.result-cache-size 256MB");
        assert_eq!(c.engine_options().result_cache_bytes, 256 << 20);
        let c = serve("serve --query.result-cache-size=0");
        assert_eq!(c.engine_options().result_cache_bytes, 0);
        let err = parse(&args("serve --query.result-cache-size lots")).unwrap_err();
        assert!(
            err.to_string().contains("--query.result-cache-size"),
            "{err}"
        );
        let c = crate::config::Config::from_yaml("query:\n  result_cache_size: 1GB\n").unwrap();
        assert_eq!(c.query.result_cache_size, 1 << 30);
        assert!(crate::config::Config::from_yaml("query:\n  result_cache_size: big\n").is_err());
        assert!(USAGE.contains("--query.result-cache-size SIZE"));
    }

    #[test]
    fn help_version_and_errors() {
        assert!(matches!(parse(&args("--help")).unwrap(), Command::Help));
        assert!(matches!(parse(&args("serve -h")).unwrap(), Command::Help));
        assert!(matches!(
            parse(&args("--version")).unwrap(),
            Command::Version
        ));
        assert!(parse(&args("")).is_err());
        assert!(parse(&args("frobnicate")).is_err());
        assert!(parse(&args("serve --listen")).is_err());
        assert!(parse(&args("serve --bogus 1")).is_err());
        assert!(parse(&args("serve --config /nonexistent/strata.yml")).is_err());
    }
}

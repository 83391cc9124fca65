//! Server configuration: embedded defaults, an optional YAML file, then command-line flags.
//!
//! Every field has a default, so `strata serve` with no flags and no file gives a working
//! server (data in `./data`, listening on `127.0.0.1:9201`). Durations in the file use
//! Prometheus's syntax (`30s`, `2m`, `100ms`). Unknown keys in the file are an error, so a
//! typo does not silently fall back to a default.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::params::parse_prom_duration;

/// The complete server configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Address to listen on (`host:port`; port 0 picks a free one).
    pub listen: String,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Request limits.
    pub limits: Limits,
    /// WAL fsync policy.
    pub wal: WalConfig,
    /// Query settings.
    pub query: QueryConfig,
    /// How long shutdown waits for in-flight requests before closing anyway.
    pub shutdown_timeout: Duration,
    /// Required credentials (none by default).
    pub auth: AuthConfig,
    /// Serve HTTPS with this certificate (plain HTTP when `None`, the default).
    pub tls: Option<crate::tls::TlsConfig>,
    /// Browser origins (an anchored regular expression) allowed to call `/api/` from other
    /// sites (CORS); `None`, the default, sends no CORS headers.
    pub cors_origin: Option<String>,
    /// Recording and alerting rules.
    pub rules: RulesConfig,
    /// Blocks, retention and the admin API.
    pub storage: StorageConfig,
    /// The configuration file this was read from (re-read on reload for `rule_files`).
    pub config_file: Option<PathBuf>,
}

/// Persistent storage settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageConfig {
    /// Data older than this (before the newest sample) is deleted, whole blocks at a time;
    /// `None` keeps everything. Default 15 d, as Prometheus.
    pub retention: Option<Duration>,
    /// The oldest blocks are deleted while blocks plus WAL exceed this many bytes.
    pub retention_size: Option<u64>,
    /// Span of head data cut into one block (default 2 h); shorter only for tests.
    pub block_range: Duration,
    /// Serve `/api/v1/admin/tsdb/*` (delete_series, clean_tombstones, snapshot, flush).
    pub enable_admin_api: bool,
    /// How much older than the newest sample a late sample may be and still be stored
    /// (zero, the default, turns the out-of-order window off, as in Prometheus).
    pub out_of_order_window: Duration,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            retention: Some(Duration::from_millis(
                strata_engine::DEFAULT_RETENTION_MS as u64,
            )),
            retention_size: None,
            block_range: Duration::from_millis(strata_engine::DEFAULT_BLOCK_RANGE_MS as u64),
            enable_admin_api: false,
            out_of_order_window: Duration::ZERO,
        }
    }
}

/// Parses a byte size: a number with an optional unit (`B`, `KB`, `MB`, `GB`, `TB`, `PB`,
/// powers of 1024 as in Prometheus's `--storage.tsdb.retention.size`; `KiB`... accepted too).
pub fn parse_bytes(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "KB" | "KIB" | "K" => 1 << 10,
        "MB" | "MIB" | "M" => 1 << 20,
        "GB" | "GIB" | "G" => 1 << 30,
        "TB" | "TIB" | "T" => 1 << 40,
        "PB" | "PIB" | "P" => 1 << 50,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// Parses a retention time: a Prometheus duration, `0` meaning keep everything.
pub fn parse_retention(s: &str) -> Option<Option<Duration>> {
    if s.trim() == "0" {
        return Some(None);
    }
    let ms = parse_prom_duration(s.trim())?;
    Some((ms > 0).then(|| Duration::from_millis(ms as u64)))
}

/// Rule files and how they are evaluated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RulesConfig {
    /// `rule_files:` of the configuration file (relative ones resolved against its
    /// directory), then every `--rules` flag; files or globs.
    pub patterns: Vec<String>,
    /// `slo_files:` of the configuration file (relative ones resolved against its
    /// directory), then every `--slo` flag; SLO specs (Sloth `prometheus/v1` or
    /// `strata/v1`), files or globs.
    pub slo_patterns: Vec<String>,
    /// Interval of groups that set none (Prometheus's `evaluation_interval`, 1 m).
    pub evaluation_interval: Duration,
    /// Whose evaluation slots to use.
    pub alignment: strata_rules::schedule::Alignment,
    /// Alertmanager base URLs alerts are sent to (`alertmanager_urls:` and
    /// `--alertmanager-url`); read at startup only.
    pub alertmanagers: Vec<String>,
    /// What the command line set, re-applied over the file when it is re-read.
    pub flags: RuleFlags,
}

/// Rule settings given on the command line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleFlags {
    /// `--rules`, in order.
    pub patterns: Vec<String>,
    /// `--slo`, in order.
    pub slo_patterns: Vec<String>,
    /// `--evaluation-interval`.
    pub evaluation_interval: Option<Duration>,
    /// `--rule-alignment`.
    pub alignment: Option<strata_rules::schedule::Alignment>,
    /// `--alertmanager-url`, in order.
    pub alertmanagers: Vec<String>,
}

impl Default for RulesConfig {
    fn default() -> Self {
        RulesConfig {
            patterns: Vec::new(),
            slo_patterns: Vec::new(),
            evaluation_interval: Duration::from_secs(60),
            alignment: strata_rules::schedule::Alignment::default(),
            alertmanagers: Vec::new(),
            flags: RuleFlags::default(),
        }
    }
}

impl RulesConfig {
    /// Applies command-line settings: patterns are added after the file's, the others win.
    pub fn apply_flags(&mut self, flags: RuleFlags) {
        self.patterns.extend(flags.patterns.iter().cloned());
        self.slo_patterns.extend(flags.slo_patterns.iter().cloned());
        self.alertmanagers
            .extend(flags.alertmanagers.iter().cloned());
        if let Some(d) = flags.evaluation_interval {
            self.evaluation_interval = d;
        }
        if let Some(a) = flags.alignment {
            self.alignment = a;
        }
        self.flags = flags;
    }
}

/// Optional authentication; any configured credential is accepted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthConfig {
    /// Accept `Authorization: Bearer <token>`.
    pub bearer_token: Option<String>,
    /// Accept HTTP basic auth with this user name and password.
    pub basic: Option<(String, String)>,
}

/// Bounds on requests.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest accepted request body (compressed, as sent), bytes. Larger bodies get 413.
    pub max_body_bytes: u64,
    /// Largest accepted decompressed remote-write body, bytes.
    pub max_decoded_bytes: u64,
    /// Remote-write/import requests processed at once; more wait up to `write_queue_wait`,
    /// then get 503 with `Retry-After`. Default: twice the CPUs (decoding and appending are
    /// CPU-bound: more at once only adds memory and takes CPU from queries).
    pub max_inflight_writes: usize,
    /// How long a write may wait for a slot.
    pub write_queue_wait: Duration,
    /// Writes that may wait for a slot at once; a write arriving when this many already wait
    /// gets 503 with `Retry-After` at once (0: no waiting). Bounds the connections and
    /// buffers held by waiting writes under overload.
    pub max_queued_writes: usize,
    /// Largest accepted form body of an API request, bytes.
    pub max_form_bytes: u64,
    /// How long reading one request body may take; a stalled sender would otherwise hold a
    /// write slot forever. Past it the request fails with 408.
    pub body_timeout: Duration,
    /// Most labels one series may carry (ingest).
    pub max_labels_per_series: usize,
    /// Longest label name, bytes (ingest).
    pub max_label_name_bytes: usize,
    /// Longest label value, bytes (ingest).
    pub max_label_value_bytes: usize,
    /// How far ahead of the server's clock a sample may be (ingest).
    pub max_future: Duration,
    /// Most active series (in the head) at once; samples of further new series get 400.
    /// Default: no limit, as in Prometheus.
    pub max_series: Option<u64>,
    /// Most new series one write request may create; the samples of further new series in
    /// it get 400. Default: no limit.
    pub max_new_series_per_request: Option<u64>,
}

/// When the WAL is fsynced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WalConfig {
    /// fsync before every acknowledgement (group commit).
    Always,
    /// fsync in the background at this interval.
    Interval(Duration),
}

/// Query engine settings.
#[derive(Clone, Debug)]
pub struct QueryConfig {
    /// Server-wide query timeout; the `timeout` parameter can only lower it.
    pub timeout: Duration,
    /// Queries evaluated at once.
    pub max_concurrent: usize,
    /// Samples a query may hold in memory.
    pub max_samples: usize,
    /// Default lookback of instant selectors.
    pub lookback_delta: Duration,
    /// Bytes of range-query results kept for reuse (`strata_query::result_cache`); 0 turns
    /// the cache off. Default [`DEFAULT_RESULT_CACHE_BYTES`].
    pub result_cache_size: u64,
}

/// Default size of the range-query result cache: 64 MiB. A cached step costs 16 bytes per
/// series plus the series' labels, so this holds e.g. 40 dashboards of 20 panels of 20
/// series over 1 d at 60 s (2.3 M points, ~40 MiB with labels): the repeated refreshes of
/// a busy Grafana, for a quarter of the 255 MiB peak the long-window query benchmark
/// measured. Raise it for many dashboards with many series per panel.
pub const DEFAULT_RESULT_CACHE_BYTES: u64 = 64 << 20;

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:9201".into(),
            data_dir: PathBuf::from("./data"),
            limits: Limits::default(),
            wal: WalConfig::Interval(Duration::from_millis(100)),
            query: QueryConfig::default(),
            shutdown_timeout: Duration::from_secs(30),
            auth: AuthConfig::default(),
            rules: RulesConfig::default(),
            storage: StorageConfig::default(),
            config_file: None,
            tls: None,
            cors_origin: None,
        }
    }
}

/// Twice the CPUs the process may use (at least 2).
fn default_inflight_writes() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()) * 2
}

impl Default for Limits {
    fn default() -> Self {
        let ingest = strata_ingest::Limits::default();
        Limits {
            max_body_bytes: 32 << 20,
            max_decoded_bytes: 32 << 20,
            max_inflight_writes: default_inflight_writes(),
            write_queue_wait: Duration::from_secs(2),
            max_queued_writes: 64,
            max_form_bytes: 10 << 20,
            body_timeout: Duration::from_secs(60),
            max_labels_per_series: ingest.max_labels_per_series,
            max_label_name_bytes: ingest.max_label_name_bytes,
            max_label_value_bytes: ingest.max_label_value_bytes,
            max_future: Duration::from_millis(ingest.max_future_ms.max(0) as u64),
            max_series: None,
            max_new_series_per_request: None,
        }
    }
}

impl Default for QueryConfig {
    fn default() -> Self {
        QueryConfig {
            timeout: Duration::from_secs(120),
            max_concurrent: 20,
            max_samples: 50_000_000,
            lookback_delta: Duration::from_secs(300),
            result_cache_size: DEFAULT_RESULT_CACHE_BYTES,
        }
    }
}

/// The YAML file's shape; every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    shutdown_timeout: Option<String>,
    #[serde(default)]
    limits: FileLimits,
    #[serde(default)]
    wal: FileWal,
    #[serde(default)]
    query: FileQuery,
    #[serde(default)]
    auth: FileAuth,
    #[serde(default)]
    rule_files: Vec<String>,
    #[serde(default)]
    slo_files: Vec<String>,
    evaluation_interval: Option<String>,
    rule_alignment: Option<String>,
    #[serde(default)]
    alertmanager_urls: Vec<String>,
    #[serde(default)]
    storage: FileStorage,
    enable_admin_api: Option<bool>,
    tls: Option<FileTls>,
    cors_origin: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTls {
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    client_ca_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileStorage {
    retention: Option<String>,
    retention_size: Option<String>,
    block_range: Option<String>,
    out_of_order_window: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileAuth {
    bearer_token: Option<String>,
    bearer_token_file: Option<PathBuf>,
    username: Option<String>,
    password: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLimits {
    max_body_bytes: Option<u64>,
    max_decoded_bytes: Option<u64>,
    max_inflight_writes: Option<usize>,
    write_queue_wait: Option<String>,
    max_queued_writes: Option<usize>,
    max_form_bytes: Option<u64>,
    body_timeout: Option<String>,
    max_labels_per_series: Option<usize>,
    max_label_name_bytes: Option<usize>,
    max_label_value_bytes: Option<usize>,
    max_future: Option<String>,
    max_series: Option<u64>,
    max_new_series_per_request: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileWal {
    /// `always` or `interval`.
    fsync: Option<String>,
    fsync_interval: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileQuery {
    timeout: Option<String>,
    max_concurrent: Option<usize>,
    max_samples: Option<usize>,
    lookback_delta: Option<String>,
    result_cache_size: Option<String>,
}

fn duration(key: &str, s: &str) -> Result<Duration> {
    let ms = parse_prom_duration(s)
        .ok_or_else(|| Error::Config(format!("{key}: cannot parse {s:?} as a duration")))?;
    Ok(Duration::from_millis(ms as u64))
}

/// Compiles a CORS origin pattern, anchored at both ends as Prometheus anchors
/// `--web.cors.origin`.
pub fn cors_regex(pattern: &str) -> Result<regex::Regex> {
    regex::Regex::new(&format!("^(?:{pattern})$"))
        .map_err(|e| Error::Config(format!("cors_origin {pattern:?}: {e}")))
}

impl Config {
    /// Reads a YAML file over the defaults.
    pub fn from_file(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io("read", path, e))?;
        let mut c = Config::from_yaml(&text)
            .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        // Relative rule files are relative to the configuration file, as in Prometheus.
        let dir = path.parent().unwrap_or(Path::new(""));
        if let Some(t) = &mut c.tls {
            for p in [&mut t.cert_file, &mut t.key_file]
                .into_iter()
                .chain(t.client_ca_file.as_mut())
            {
                if p.is_relative() {
                    *p = dir.join(&*p);
                }
            }
        }
        for p in c.rules.patterns.iter_mut().chain(&mut c.rules.slo_patterns) {
            if Path::new(p.as_str()).is_relative() {
                *p = dir.join(p.as_str()).to_string_lossy().into_owned();
            }
        }
        c.config_file = Some(path.to_path_buf());
        Ok(c)
    }

    /// Parses YAML text over the defaults.
    pub fn from_yaml(text: &str) -> Result<Config> {
        let f: FileConfig = if text.trim().is_empty() {
            FileConfig::default()
        } else {
            let options = serde_saphyr::options! { with_snippet: false };
            serde_saphyr::from_str_with_options(text, options)
                .map_err(|e| Error::Config(e.to_string()))?
        };
        let mut c = Config::default();
        if let Some(l) = f.listen {
            c.listen = l;
        }
        if let Some(d) = f.data_dir {
            c.data_dir = d;
        }
        if let Some(s) = f.shutdown_timeout {
            c.shutdown_timeout = duration("shutdown_timeout", &s)?;
        }
        let l = &mut c.limits;
        if let Some(v) = f.limits.max_body_bytes {
            l.max_body_bytes = v;
        }
        if let Some(v) = f.limits.max_decoded_bytes {
            l.max_decoded_bytes = v;
        }
        if let Some(v) = f.limits.max_inflight_writes {
            if v == 0 {
                return Err(Error::Config(
                    "limits.max_inflight_writes must be > 0".into(),
                ));
            }
            l.max_inflight_writes = v;
        }
        if let Some(s) = f.limits.write_queue_wait {
            l.write_queue_wait = duration("limits.write_queue_wait", &s)?;
        }
        if let Some(v) = f.limits.max_queued_writes {
            l.max_queued_writes = v;
        }
        if let Some(v) = f.limits.max_form_bytes {
            l.max_form_bytes = v;
        }
        if let Some(s) = f.limits.body_timeout {
            l.body_timeout = duration("limits.body_timeout", &s)?;
        }
        if let Some(v) = f.limits.max_labels_per_series {
            l.max_labels_per_series = v;
        }
        if let Some(v) = f.limits.max_label_name_bytes {
            l.max_label_name_bytes = v;
        }
        if let Some(v) = f.limits.max_label_value_bytes {
            l.max_label_value_bytes = v;
        }
        if let Some(s) = f.limits.max_future {
            l.max_future = duration("limits.max_future", &s)?;
        }
        // 0 means no limit, as for the flags.
        if let Some(v) = f.limits.max_series {
            l.max_series = (v > 0).then_some(v);
        }
        if let Some(v) = f.limits.max_new_series_per_request {
            l.max_new_series_per_request = (v > 0).then_some(v);
        }
        let interval = match f.wal.fsync_interval {
            Some(s) => Some(duration("wal.fsync_interval", &s)?),
            None => None,
        };
        c.wal = match (f.wal.fsync.as_deref(), interval) {
            (None, None) => c.wal.clone(),
            (Some("always"), None) => WalConfig::Always,
            (None | Some("interval"), Some(d)) => WalConfig::Interval(d),
            (Some("interval"), None) => WalConfig::Interval(Duration::from_millis(100)),
            (Some("always"), Some(_)) => {
                return Err(Error::Config(
                    "wal.fsync_interval is set but wal.fsync is \"always\"".into(),
                ))
            }
            (Some(other), _) => {
                return Err(Error::Config(format!(
                    "wal.fsync: {other:?} is not \"always\" or \"interval\""
                )))
            }
        };
        let a = f.auth;
        c.auth.bearer_token = match (a.bearer_token, a.bearer_token_file) {
            (Some(_), Some(_)) => {
                return Err(Error::Config(
                    "auth: set bearer_token or bearer_token_file, not both".into(),
                ))
            }
            (Some(t), None) => Some(t),
            (None, Some(path)) => Some(
                std::fs::read_to_string(&path)
                    .map_err(|e| Error::io("read", path, e))?
                    .trim()
                    .to_string(),
            ),
            (None, None) => None,
        };
        if c.auth.bearer_token.as_deref() == Some("") {
            return Err(Error::Config("auth: the bearer token is empty".into()));
        }
        c.auth.basic = match (a.username, a.password) {
            (Some(u), Some(p)) if !u.is_empty() => Some((u, p)),
            (None, None) => None,
            _ => {
                return Err(Error::Config(
                    "auth: basic auth needs a non-empty username and a password".into(),
                ))
            }
        };
        let q = &mut c.query;
        if let Some(s) = f.query.timeout {
            q.timeout = duration("query.timeout", &s)?;
        }
        if let Some(v) = f.query.max_concurrent {
            if v == 0 {
                return Err(Error::Config("query.max_concurrent must be > 0".into()));
            }
            q.max_concurrent = v;
        }
        if let Some(v) = f.query.max_samples {
            q.max_samples = v;
        }
        if let Some(s) = f.query.lookback_delta {
            q.lookback_delta = duration("query.lookback_delta", &s)?;
        }
        if let Some(s) = f.query.result_cache_size {
            q.result_cache_size = parse_bytes(&s).ok_or_else(|| {
                Error::Config(format!(
                    "query.result_cache_size: cannot parse {s:?} as a size"
                ))
            })?;
        }
        c.rules.patterns = f.rule_files;
        c.rules.slo_patterns = f.slo_files;
        c.rules.alertmanagers = f.alertmanager_urls;
        if let Some(s) = f.evaluation_interval {
            c.rules.evaluation_interval = duration("evaluation_interval", &s)?;
        }
        if c.rules.evaluation_interval.is_zero() {
            return Err(Error::Config("evaluation_interval must be > 0".into()));
        }
        if let Some(r) = f.storage.retention {
            c.storage.retention = parse_retention(&r).ok_or_else(|| {
                Error::Config(format!(
                    "storage.retention: cannot parse {r:?} as a duration"
                ))
            })?;
        }
        if let Some(r) = f.storage.retention_size {
            c.storage.retention_size = Some(parse_bytes(&r).ok_or_else(|| {
                Error::Config(format!(
                    "storage.retention_size: cannot parse {r:?} as a size"
                ))
            })?);
        }
        if let Some(r) = f.storage.block_range {
            c.storage.block_range = duration("storage.block_range", &r)?;
            if c.storage.block_range.as_millis() == 0 {
                return Err(Error::Config("storage.block_range must be > 0".into()));
            }
        }
        if let Some(w) = f.storage.out_of_order_window {
            c.storage.out_of_order_window = duration("storage.out_of_order_window", &w)?;
        }
        if let Some(a) = f.enable_admin_api {
            c.storage.enable_admin_api = a;
        }
        if let Some(o) = f.cors_origin {
            cors_regex(&o)?;
            c.cors_origin = Some(o);
        }
        if let Some(t) = f.tls {
            match (t.cert_file, t.key_file) {
                (Some(cert_file), Some(key_file)) => {
                    c.tls = Some(crate::tls::TlsConfig {
                        cert_file,
                        key_file,
                        client_ca_file: t.client_ca_file,
                    })
                }
                _ => {
                    return Err(Error::Config(
                        "tls needs both cert_file and key_file".into(),
                    ))
                }
            }
        }
        if let Some(a) = f.rule_alignment {
            c.rules.alignment = strata_rules::schedule::Alignment::parse(&a).ok_or_else(|| {
                Error::Config(format!(
                    "rule_alignment: {a:?} is not \"prometheus3\" or \"prometheus2\""
                ))
            })?;
        }
        Ok(c)
    }

    /// The engine's options for this configuration.
    pub fn db_options(&self) -> strata_engine::Options {
        let mut o = strata_engine::Options {
            block_range: self.storage.block_range.as_millis() as i64,
            retention: self.storage.retention.map(|d| d.as_millis() as i64),
            retention_size: self.storage.retention_size,
            max_series: self.limits.max_series,
            max_new_series_per_append: self.limits.max_new_series_per_request,
            out_of_order_window: self.storage.out_of_order_window.as_millis() as i64,
            ..strata_engine::Options::default()
        };
        o.wal.sync = match self.wal {
            WalConfig::Always => strata_engine::wal::SyncPolicy::Always,
            WalConfig::Interval(d) => strata_engine::wal::SyncPolicy::Interval(d),
        };
        o
    }

    /// The ingest limits for this configuration.
    pub fn ingest_limits(&self) -> strata_ingest::Limits {
        strata_ingest::Limits {
            max_body_bytes: self.limits.max_body_bytes as usize,
            max_decoded_bytes: self.limits.max_decoded_bytes as usize,
            max_labels_per_series: self.limits.max_labels_per_series,
            max_label_name_bytes: self.limits.max_label_name_bytes,
            max_label_value_bytes: self.limits.max_label_value_bytes,
            max_future_ms: self.limits.max_future.as_millis() as i64,
        }
    }

    /// The query engine's options for this configuration.
    pub fn engine_options(&self) -> strata_query::EngineOptions {
        strata_query::EngineOptions {
            lookback_delta: self.query.lookback_delta.as_millis() as i64,
            max_samples: self.query.max_samples,
            timeout: self.query.timeout,
            max_concurrent: self.query.max_concurrent,
            result_cache_bytes: usize::try_from(self.query.result_cache_size).unwrap_or(usize::MAX),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_defaults() {
        let c = Config::from_yaml("").unwrap();
        let cpus = std::thread::available_parallelism().unwrap().get();
        assert_eq!(c.limits.max_inflight_writes, 2 * cpus);
        assert_eq!(c.limits.max_queued_writes, 64);
        assert_eq!(c.listen, "127.0.0.1:9201");
        assert_eq!(c.wal, WalConfig::Interval(Duration::from_millis(100)));
        let c = Config::from_yaml("wal:\n  fsync: always").unwrap();
        assert_eq!(c.wal, WalConfig::Always);
    }

    #[test]
    fn full_file() {
        let c = Config::from_yaml(
            "listen: 0.0.0.0:1234\ndata_dir: /tmp/x\nlimits:\n  max_body_bytes: 100\n\
             \x20 max_labels_per_series: 10\n  max_future: 1h\n  max_queued_writes: 3\n\
             wal:\n  fsync: interval\n  fsync_interval: 250ms\nquery:\n  timeout: 30s\n",
        )
        .unwrap();
        assert_eq!(c.listen, "0.0.0.0:1234");
        assert_eq!(c.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(c.limits.max_body_bytes, 100);
        assert_eq!(c.limits.max_queued_writes, 3);
        let il = c.ingest_limits();
        assert_eq!(il.max_labels_per_series, 10);
        assert_eq!(il.max_future_ms, 3_600_000);
        assert_eq!(il.max_body_bytes, 100);
        assert_eq!(c.wal, WalConfig::Interval(Duration::from_millis(250)));
        assert_eq!(c.query.timeout, Duration::from_secs(30));
    }

    #[test]
    fn rule_settings() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("strata.yml");
        std::fs::write(
            &path,
            "rule_files: [rules/*.yml, /abs/r.yml]\nevaluation_interval: 30s\n\
             rule_alignment: prometheus2\nslo_files: [slo.yml]\n",
        )
        .unwrap();
        let mut c = Config::from_file(&path).unwrap();
        let rel = dir
            .path()
            .join("rules/*.yml")
            .to_string_lossy()
            .into_owned();
        assert_eq!(
            c.rules.patterns,
            vec![rel.clone(), "/abs/r.yml".to_string()]
        );
        assert_eq!(c.rules.evaluation_interval, Duration::from_secs(30));
        assert_eq!(
            c.rules.alignment,
            strata_rules::schedule::Alignment::Prometheus2
        );
        assert_eq!(c.config_file.as_deref(), Some(path.as_path()));
        let slo = dir.path().join("slo.yml").to_string_lossy().into_owned();
        assert_eq!(c.rules.slo_patterns, vec![slo.clone()]);
        c.rules.apply_flags(RuleFlags {
            patterns: vec!["x.yml".into()],
            slo_patterns: vec!["s.yml".into()],
            evaluation_interval: Some(Duration::from_secs(5)),
            alignment: None,
            alertmanagers: vec!["http://127.0.0.1:9093".into()],
        });
        assert_eq!(c.rules.alertmanagers, vec!["http://127.0.0.1:9093"]);
        assert_eq!(
            c.rules.patterns,
            vec![rel, "/abs/r.yml".into(), "x.yml".into()]
        );
        assert_eq!(c.rules.evaluation_interval, Duration::from_secs(5));
        assert_eq!(c.rules.slo_patterns, vec![slo, "s.yml".into()]);
        assert!(Config::from_yaml("evaluation_interval: 0s").is_err());
        assert!(Config::from_yaml("rule_alignment: prometheus1").is_err());
        assert!(Config::from_yaml("rule_files: x.yml").is_err());
    }

    #[test]
    fn bad_files_are_errors() {
        assert!(Config::from_yaml("lisen: x").is_err());
        assert!(Config::from_yaml("query:\n  timeout: soon").is_err());
        assert!(Config::from_yaml("wal:\n  fsync: never").is_err());
        assert!(Config::from_yaml("limits: [1,2]").is_err());
        assert!(Config::from_yaml("auth:\n  username: u").is_err());
        assert!(Config::from_yaml("auth:\n  bearer_token: \"\"").is_err());
        let c =
            Config::from_yaml("auth:\n  bearer_token: t\n  username: u\n  password: p").unwrap();
        assert_eq!(c.auth.bearer_token.as_deref(), Some("t"));
        assert_eq!(c.auth.basic, Some(("u".into(), "p".into())));
    }
}

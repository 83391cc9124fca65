//! Shared server state and request routing.
//!
//! [`handle`] is the hyper service: it picks the handler from the path and method, turns the
//! handler's error into a response (JSON envelope for the API, plain text for remote-write)
//! and records the request in [`Metrics`]. Methods follow Prometheus: GET+POST endpoints
//! answer both, GET-only ones answer 405 to POST (Grafana then retries with GET), and
//! `OPTIONS` on `/api/v1/*` answers the CORS preflight.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Method, Request, StatusCode};
use strata_engine::Db;
use strata_query::Engine;
use tokio::sync::Semaphore;

use crate::auth::Auth;
use crate::body::{empty, json_error, response, text_error, Resp};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::params::Params;

/// Everything handlers share.
pub struct State {
    /// The database.
    pub db: Arc<Db>,
    /// The PromQL engine over `db`.
    pub engine: Engine,
    /// The configuration in force.
    pub config: Config,
    /// Counters for `/metrics`.
    pub metrics: Metrics,
    /// Slots for in-flight writes (bounds memory and CPU of the ingest path).
    pub write_slots: Semaphore,
    /// Writes waiting for a slot now (bounded by `limits.max_queued_writes`).
    pub write_waiters: std::sync::atomic::AtomicUsize,
    /// Slots for running queries; extra queries queue here, as in Prometheus. A running
    /// query's slot is owned by its evaluation (not by the request future), so it is freed
    /// when the evaluation stops.
    pub query_slots: Arc<Semaphore>,
    /// Credentials checked on every request.
    pub auth: Auth,
    /// Set when shutdown starts: `/-/ready` turns 503 and writes are refused.
    pub shutting_down: AtomicBool,
    /// WAL replay progress of the open (100 % by the time the state exists).
    pub progress: Arc<strata_engine::ReplayProgress>,
    /// Recording and alerting rules.
    pub rules: crate::rules::Rules,
    /// Metric metadata received from senders, for `/api/v1/metadata`.
    pub metadata: crate::metadata::MetadataStore,
    /// When the server state was built (`/api/v1/status/runtimeinfo`).
    pub started: std::time::SystemTime,
    /// Origins allowed by CORS (none unless configured).
    pub cors: Option<regex::Regex>,
    /// The threads that decode and append writes.
    pub write_pool: crate::write_pool::WritePool,
}

impl State {
    /// Builds the state over an open database with its running rules.
    pub fn new(
        db: Arc<Db>,
        config: Config,
        rules: crate::rules::Rules,
        progress: Arc<strata_engine::ReplayProgress>,
    ) -> State {
        let engine = Engine::with_options(db.clone(), config.engine_options());
        // Validated when the configuration was read.
        let cors = config
            .cors_origin
            .as_deref()
            .and_then(|o| crate::config::cors_regex(o).ok());
        let auth = Auth::new(
            config.auth.bearer_token.as_deref(),
            config
                .auth
                .basic
                .as_ref()
                .map(|(u, p)| (u.as_str(), p.as_str())),
        );
        State {
            auth,
            write_slots: Semaphore::new(config.limits.max_inflight_writes),
            write_waiters: Default::default(),
            query_slots: Arc::new(Semaphore::new(config.query.max_concurrent)),
            db,
            engine,
            config,
            metrics: Metrics::default(),
            shutting_down: AtomicBool::new(false),
            rules,
            progress,
            metadata: Default::default(),
            started: std::time::SystemTime::now(),
            cors,
            write_pool: crate::write_pool::WritePool::per_cpu(),
        }
    }

    /// True once shutdown has started.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Relaxed)
    }
}

/// Which methods a route answers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Methods {
    Get,
    GetPost,
    PostPut,
}

/// The hyper service function.
pub async fn handle(state: Arc<State>, req: Request<Incoming>) -> Result<Resp, Infallible> {
    let started = Instant::now();
    let path = req.uri().path().to_string();
    let origin = req
        .headers()
        .get("origin")
        .filter(|o| {
            state
                .cors
                .as_ref()
                .is_some_and(|re| o.to_str().is_ok_and(|o| re.is_match(o)))
        })
        .cloned();
    let authorized = req.method() == Method::OPTIONS
        || state.auth.allows(
            &path,
            req.headers()
                .get(hyper::header::AUTHORIZATION)
                .map(|v| v.as_bytes()),
        );
    let (name, mut resp) = if authorized {
        route(&state, &path, req).await
    } else {
        ("unauthorized", unauthorized(&state))
    };
    if let Some(o) = origin.filter(|_| path.starts_with("/api/")) {
        set_cors(&mut resp, o);
    }
    state
        .metrics
        .request(name, resp.status().as_u16(), started.elapsed());
    Ok(resp)
}

/// A plain-text 401, as Prometheus's web toolkit answers, with a basic-auth challenge when
/// basic auth is configured.
fn unauthorized(state: &State) -> Resp {
    let mut r = text_error(&Error::Unauthorized);
    if state.auth.has_basic() {
        r.headers_mut().insert(
            hyper::header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"strata\""),
        );
    }
    r
}

/// CORS headers as Prometheus sets them with its default `--web.cors.origin=.*`: only for
/// requests that carry an `Origin`, any origin allowed.
fn set_cors(resp: &mut Resp, origin: HeaderValue) {
    let h = resp.headers_mut();
    h.insert(
        "access-control-allow-headers",
        HeaderValue::from_static("Accept, Authorization, Content-Type, Origin"),
    );
    h.insert(
        "access-control-allow-methods",
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    h.insert("access-control-allow-origin", origin);
    h.insert(
        "access-control-expose-headers",
        HeaderValue::from_static("Date"),
    );
    h.insert("vary", HeaderValue::from_static("Origin"));
}

/// Finds the handler; returns the handler's metric name and its response.
async fn route(state: &Arc<State>, path: &str, req: Request<Incoming>) -> (&'static str, Resp) {
    use crate::{api_meta as meta, api_query as query, api_write as write};

    // Remote-write answers in plain text (senders log the body); import in JSON.
    let write_route = match path {
        "/api/v1/write" | "/api/v1/push" => Some("write"),
        "/api/v1/import/prometheus" => Some("import"),
        _ => None,
    };
    if let Some(name) = write_route {
        if req.method() != Method::POST {
            return (name, text_error(&Error::MethodNotAllowed));
        }
        let resp = if name == "write" {
            write::remote_write(state, req)
                .await
                .unwrap_or_else(|e| text_error(&e))
        } else {
            write::import_text(state, req)
                .await
                .unwrap_or_else(|e| json_error(&e))
        };
        return (name, resp);
    }

    let (name, methods) = match path {
        "/api/v1/query" => ("query", Methods::GetPost),
        "/api/v1/query_range" => ("query_range", Methods::GetPost),
        "/api/v1/format_query" => ("format_query", Methods::GetPost),
        "/api/v1/parse_query" => ("parse_query", Methods::GetPost),
        "/api/v1/series" => ("series", Methods::GetPost),
        "/api/v1/labels" => ("labels", Methods::GetPost),
        "/api/v1/query_exemplars" => ("query_exemplars", Methods::GetPost),
        "/api/v1/metadata" => ("metadata", Methods::Get),
        "/api/v1/rules" => ("rules", Methods::Get),
        "/api/v1/alerts" => ("alerts", Methods::Get),
        "/api/v1/slos" => ("slos", Methods::Get),
        "/api/v1/targets" => ("targets", Methods::Get),
        "/api/v1/status/buildinfo" => ("buildinfo", Methods::Get),
        "/api/v1/status/tsdb" => ("tsdb_status", Methods::Get),
        "/api/v1/status/runtimeinfo" => ("runtimeinfo", Methods::Get),
        "/api/v1/status/flags" => ("flags", Methods::Get),
        "/api/v1/status/config" => ("config", Methods::Get),
        "/" => ("root", Methods::Get),
        "/-/healthy" => ("healthy", Methods::Get),
        "/-/ready" => ("ready", Methods::Get),
        "/metrics" => ("metrics", Methods::Get),
        "/-/reload" => ("reload", Methods::PostPut),
        "/api/v1/admin/tsdb/delete_series" => ("admin_delete_series", Methods::PostPut),
        "/api/v1/admin/tsdb/clean_tombstones" => ("admin_clean_tombstones", Methods::PostPut),
        "/api/v1/admin/tsdb/snapshot" => ("admin_snapshot", Methods::PostPut),
        "/api/v1/admin/tsdb/flush" => ("admin_flush", Methods::PostPut),
        p if p.starts_with("/api/v1/label/") && p.ends_with("/values") => {
            ("label_values", Methods::Get)
        }
        p if p.starts_with("/api/v1/") => ("not_found", Methods::GetPost),
        _ => ("other", Methods::GetPost),
    };
    let json_api = path.starts_with("/api/");
    let method = req.method().clone();
    if json_api && method == Method::OPTIONS {
        return (name, empty(StatusCode::OK));
    }
    let allowed = match methods {
        Methods::Get => method == Method::GET || method == Method::HEAD,
        Methods::GetPost => {
            method == Method::GET || method == Method::HEAD || method == Method::POST
        }
        Methods::PostPut => method == Method::POST || method == Method::PUT,
    };
    let result = if name == "not_found" || name == "other" {
        Err(Error::NotFound)
    } else if !allowed {
        Err(Error::MethodNotAllowed)
    } else if name.starts_with("admin_") && !state.config.storage.enable_admin_api {
        Err(Error::AdminDisabled)
    } else {
        match name {
            "healthy" => Ok(response(
                StatusCode::OK,
                "text/plain; charset=utf-8",
                "Strata is Healthy.\n",
            )),
            "ready" if state.is_shutting_down() => Err(Error::ShuttingDown),
            "ready" if state.db.wal_failure().is_some() => {
                Err(Error::WalFailed(state.db.wal_failure().unwrap_or_default()))
            }
            "ready" => Ok(response(
                StatusCode::OK,
                "text/plain; charset=utf-8",
                "Strata is Ready.\n",
            )),
            "metrics" => {
                // Off the async threads: the storage stats list the WAL directory and sum block sizes
                // (head figures are counters kept as it changes, no series is locked).
                let st = state.clone();
                blocking(move || {
                    let mut page = st.metrics.render(&st.db);
                    let max = st.config.query.max_concurrent;
                    let in_use = max.saturating_sub(st.query_slots.available_permits());
                    st.metrics.render_query_slots(&mut page, in_use, max);
                    st.metrics
                        .render_result_cache(&mut page, st.engine.result_cache_stats());
                    page.push_str(&crate::metrics::render_storage(&st.db));
                    page.push_str(&crate::metrics::render_starting(&st.progress));
                    let in_use = st
                        .config
                        .limits
                        .max_inflight_writes
                        .saturating_sub(st.write_slots.available_permits());
                    let waiting = st.write_waiters.load(Ordering::Relaxed);
                    let _ = std::fmt::Write::write_fmt(
                        &mut page,
                        format_args!(
                            "# HELP strata_write_slots_in_use Write requests holding a slot \
                             (reading, decoding or appending).\n\
                             # TYPE strata_write_slots_in_use gauge\n\
                             strata_write_slots_in_use {in_use}\n\
                             # HELP strata_write_requests_waiting Write requests waiting for a \
                             slot (at most limits.max_queued_writes).\n\
                             # TYPE strata_write_requests_waiting gauge\n\
                             strata_write_requests_waiting {waiting}\n"
                        ),
                    );
                    st.rules.manager().render_metrics(&mut page);
                    Ok(page)
                })
                .await
                .map(|page| {
                    response(
                        StatusCode::OK,
                        "text/plain; version=0.0.4; charset=utf-8",
                        page,
                    )
                })
            }
            "reload" => {
                let st = state.clone();
                let result = blocking(move || st.rules.reload()).await;
                if let Err(e) = &result {
                    eprintln!("strata: reload failed: {e}");
                }
                Ok(crate::rules::reload_response(result))
            }
            _ => match read_params(state, req).await {
                Err(e) => Err(e),
                Ok(p) => match name {
                    "query" => query::instant(state, p).await,
                    "query_range" => query::range(state, p).await,
                    "format_query" => query::format_query(p),
                    "parse_query" => query::parse_query(p),
                    "series" => meta::series(state, p).await,
                    "labels" => meta::labels(state, p).await,
                    "label_values" => meta::label_values(state, path, p).await,
                    "query_exemplars" => meta::query_exemplars(p),
                    "metadata" => state.metadata.api_data(&p).map(|d| meta::fixed(&d)),
                    "runtimeinfo" => Ok(crate::status::runtimeinfo(state)),
                    "flags" => Ok(crate::status::flags(&state.config)),
                    "config" => Ok(crate::status::config(&state.config)),
                    "root" => Ok(crate::status::root()),
                    "rules" => {
                        let st = state.clone();
                        blocking(move || crate::rules::api_rules(&st.rules, &p)).await
                    }
                    "alerts" => {
                        let st = state.clone();
                        blocking(move || Ok(crate::rules::api_alerts(&st.rules))).await
                    }
                    "slos" => {
                        let st = state.clone();
                        blocking(move || Ok(crate::rules::api_slos(&st.rules))).await
                    }
                    "targets" => Ok(meta::fixed("{\"activeTargets\":[],\"droppedTargets\":[]}")),
                    "buildinfo" => Ok(meta::buildinfo()),
                    "tsdb_status" => meta::tsdb_status(state, p).await,
                    "admin_delete_series" => crate::api_admin::delete_series(state, p).await,
                    "admin_clean_tombstones" => crate::api_admin::clean_tombstones(state).await,
                    "admin_snapshot" => crate::api_admin::snapshot(state, p).await,
                    "admin_flush" => crate::api_admin::flush(state).await,
                    _ => Err(Error::NotFound),
                },
            },
        }
    };
    let resp = match result {
        Ok(r) => r,
        Err(e) if json_api => json_error(&e),
        Err(e) => text_error(&e),
    };
    (name, resp)
}

/// URL parameters plus, for a form POST, the body's.
async fn read_params(state: &State, req: Request<Incoming>) -> Result<Params> {
    let (parts, body) = req.into_parts();
    let query = parts.uri.query().map(str::to_string);
    let is_form = parts.method == Method::POST
        && parts
            .headers
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| {
                ct.split(';').next().is_some_and(|m| {
                    m.trim()
                        .eq_ignore_ascii_case("application/x-www-form-urlencoded")
                })
            });
    if is_form {
        let bytes = crate::body::read_bounded(
            body,
            &parts.headers,
            state.config.limits.max_form_bytes,
            state.config.limits.body_timeout,
        )
        .await?;
        Params::parse(query.as_deref(), Some(&bytes))
    } else {
        Params::parse(query.as_deref(), None)
    }
}

/// Runs CPU-bound or blocking work off the reactor.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal(format!("worker task failed: {e}")))?
}

//! `/api/v1/query`, `/api/v1/query_range`, `/api/v1/format_query`, `/api/v1/parse_query`.
//!
//! Parameters are validated in Prometheus's order with its messages (http-api.md 2.1, 2.2),
//! so the first bad parameter is the one reported. Evaluation runs on the blocking pool after
//! taking a query slot; queries beyond `query.max_concurrent` wait for a slot, as in
//! Prometheus. The effective timeout is the smaller of the `timeout` parameter and the
//! server's own.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use strata_query::{Cancel, QueryOptions, QueryResult, Value};

use crate::api_meta::{invalid_param, time_param};
use crate::body::{json_ok, json_pieces, Resp};
use crate::error::{Error, Result};
use crate::json::{self, Timings};
use crate::params::{parse_duration, parse_limit, parse_time, Params};
use crate::router::{blocking, State};

/// Most points per series a range query may ask for.
const MAX_POINTS: i64 = 11_000;

/// Now, in ms since the epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Parses `timeout` and `lookback_delta` into query options.
fn query_options(state: &State, p: &Params) -> Result<QueryOptions> {
    let mut o = QueryOptions::default();
    if let Some(t) = p.get_nonempty("timeout") {
        let ms = parse_duration(t).map_err(|e| invalid_param("timeout", e))?;
        let ms = ms.max(0) as u64;
        o.timeout = Some(Duration::from_millis(ms).min(state.config.query.timeout));
    }
    if let Some(l) = p.get_nonempty("lookback_delta") {
        let ms = parse_duration(l)
            .map_err(|e| Error::BadData(format!("error parsing lookback delta duration: {e}")))?;
        if ms > 0 {
            o.lookback_delta = Some(ms);
        }
    }
    Ok(o)
}

/// `nocache=1` (VictoriaMetrics' name): evaluate a query (a range query, or an instant
/// query's subqueries) without the result cache.
fn no_cache(p: &Params) -> Result<bool> {
    match p.get_nonempty("nocache") {
        None | Some("0") | Some("false") => Ok(false),
        Some("1") | Some("true") => Ok(true),
        Some(v) => Err(invalid_param(
            "nocache",
            Error::BadData(format!("cannot parse {v:?} as 0, 1, true or false")),
        )),
    }
}

fn query_text(p: &Params) -> String {
    p.get("query").unwrap_or("").to_string()
}

/// Whether `stats` asks for statistics (any non-empty value, as in Prometheus).
fn wants_stats(p: &Params) -> bool {
    p.get_nonempty("stats").is_some()
}

/// `/api/v1/query`.
pub async fn instant(state: &Arc<State>, p: Params) -> Result<Resp> {
    let limit = parse_limit(&p)?;
    let t = time_param(&p, "time", now_ms())?;
    let mut opts = query_options(state, &p)?;
    // Subqueries of an instant query reuse cached inner results unless told not to.
    opts.no_cache = no_cache(&p)?;
    let q = query_text(&p);
    let stats = wants_stats(&p);
    run(state, limit, stats, move |st, cancel| {
        let opts = QueryOptions {
            cancel: Some(cancel),
            ..opts
        };
        st.engine.instant_with(&q, t, &opts)
    })
    .await
}

/// `/api/v1/query_range`.
pub async fn range(state: &Arc<State>, p: Params) -> Result<Resp> {
    let limit = parse_limit(&p)?;
    let start = parse_time(p.get("start").unwrap_or("")).map_err(|e| invalid_param("start", e))?;
    let end = parse_time(p.get("end").unwrap_or("")).map_err(|e| invalid_param("end", e))?;
    if end < start {
        return Err(invalid_param(
            "end",
            Error::BadData("end timestamp must not be before start time".into()),
        ));
    }
    let step = parse_duration(p.get("step").unwrap_or("")).map_err(|e| invalid_param("step", e))?;
    if step <= 0 {
        return Err(invalid_param(
            "step",
            Error::BadData(
                "zero or negative query resolution step widths are not accepted. Try a positive integer"
                    .into(),
            ),
        ));
    }
    if (end as i128 - start as i128) / step as i128 > MAX_POINTS as i128 {
        return Err(Error::BadData(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"
                .into(),
        ));
    }
    let mut opts = query_options(state, &p)?;
    opts.no_cache = no_cache(&p)?;
    let q = query_text(&p);
    // Prometheus rejects a range query over a range vector or string when the query is
    // created, as a bad `query` parameter (400), before any evaluation.
    let expr = strata_query::parser::parse(&q).map_err(query_error)?;
    use strata_query::parser::ast::ValueType;
    let ty = expr.value_type();
    if !matches!(ty, ValueType::Scalar | ValueType::Vector) {
        return Err(invalid_param(
            "query",
            Error::BadData(format!(
                "invalid expression type {:?} for range query, must be Scalar or instant Vector",
                ty.name()
            )),
        ));
    }
    let stats = wants_stats(&p);
    // Every step in the result cache: answered here, without a query slot or a hop to the
    // blocking pool (the copy costs about what rendering it costs).
    let started = Instant::now();
    if let Some(res) = state.engine.cached_range(&expr, start, end, step, &opts) {
        let timings = stats.then(|| Timings {
            queue_seconds: 0.0,
            eval_seconds: started.elapsed().as_secs_f64(),
        });
        return Ok(reply(res, limit, timings));
    }
    run(state, limit, stats, move |st, cancel| {
        let opts = QueryOptions {
            cancel: Some(cancel),
            ..opts
        };
        st.engine.range_expr(&expr, start, end, step, &opts)
    })
    .await
}

/// Takes a query slot, evaluates on the blocking pool, and renders the reply.
///
/// Cancellation: if the request future is dropped before the evaluation returns (hyper
/// drops it when the client disconnects), the guard trips the query's [`Cancel`] token and
/// the evaluation stops at its next check. The slot is owned by the evaluation closure, so
/// it is released exactly when the evaluation stops, never while work goes on.
async fn run(
    state: &Arc<State>,
    limit: usize,
    stats: bool,
    eval: impl FnOnce(&State, Cancel) -> strata_query::Result<QueryResult> + Send + 'static,
) -> Result<Resp> {
    let queued = Instant::now();
    let slot = state
        .query_slots
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| Error::ShuttingDown)?;
    let queue_seconds = queued.elapsed().as_secs_f64();
    let st = state.clone();
    let cancel = Cancel::new();
    let guard = cancel.on_drop();
    let (res, eval_seconds) = blocking(move || {
        let _slot = slot;
        let started = Instant::now();
        let r = eval(&st, cancel);
        if let Err(e) = &r {
            if e.kind() == strata_query::ErrorKind::Canceled {
                st.metrics.query_canceled();
            }
        }
        let r = r.map_err(query_error)?;
        Ok((r, started.elapsed().as_secs_f64()))
    })
    .await?;
    guard.disarm();
    let timings = stats.then_some(Timings {
        queue_seconds,
        eval_seconds,
    });
    Ok(reply(res, limit, timings))
}

/// The reply to a query: its result cut to `limit` series (0: all) with a warning when
/// cut, and the timings if asked for.
fn reply(mut res: QueryResult, limit: usize, timings: Option<Timings>) -> Resp {
    if limit > 0 {
        let cut = match &mut res.value {
            Value::Vector(v) if v.len() > limit => {
                v.truncate(limit);
                true
            }
            Value::Matrix(m) if m.len() > limit => {
                m.truncate(limit);
                true
            }
            _ => false,
        };
        if cut {
            res.warnings.push("results truncated due to limit".into());
        }
    }
    if json::reply_size_hint(&res.value) > json::PIECES_ABOVE {
        return json_pieces(json::ReplyPieces::new(res, timings));
    }
    json_ok(json::query_reply(&res, timings))
}

/// Parse and type errors are reported as bad `query` parameters, as Prometheus does.
fn query_error(e: strata_query::Error) -> Error {
    if e.kind() == strata_query::ErrorKind::BadData {
        invalid_param("query", Error::BadData(e.to_string()))
    } else {
        Error::Query(e)
    }
}

/// `/api/v1/format_query`: parses and prints the query back in canonical form.
pub fn format_query(p: Params) -> Result<Resp> {
    let q = query_text(&p);
    let text = strata_query::parser::format_query(&q).map_err(query_error)?;
    let mut d = String::new();
    json::write_str(&mut d, &text);
    Ok(json_ok(json::success(&d, &[], &[])))
}

/// `/api/v1/parse_query`: the syntax tree as JSON, in the shape Prometheus's UI reads.
pub fn parse_query(p: Params) -> Result<Resp> {
    let q = query_text(&p);
    let expr = strata_query::parser::parse(&q).map_err(query_error)?;
    let d = strata_query::parser::json::to_json(&expr);
    Ok(json_ok(json::success(&d, &[], &[])))
}

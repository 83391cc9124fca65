//! `POST /api/v1/write` (and `/api/v1/push`) and `POST /api/v1/import/prometheus`.
//!
//! Order of work for a remote-write request, cheapest check first:
//! 1. negotiate the protocol from the headers (415 on anything unknown, before the body);
//! 2. take an in-flight write slot, waiting at most `limits.write_queue_wait` behind at most
//!    `limits.max_queued_writes` other waiting writes (else 503 with `Retry-After`, which
//!    every sender retries), so memory and CPU are bounded by `max_inflight_writes *
//!    (max_body_bytes + max_decoded_bytes)` plus the waiting writes' connection buffers;
//!    a refused request's body is read and discarded before the answer (bounded by
//!    `max_body_bytes` and `body_timeout`), so the sender reads the 503 on a connection it
//!    can keep, not a reset;
//! 3. read the body with the size bound (413), copying it once (see [`crate::body`]);
//! 4. decode, validate and append on a write thread ([`crate::write_pool`]), never on the
//!    reactor;
//! 5. answer 204 when everything was stored, 400 with the problems as text otherwise (the
//!    valid series of a partial write are stored), or the ingest error's status.
//!
//! Remote-write 2.0 replies always carry the three `X-Prometheus-Remote-Write-*-Written`
//! headers, also on errors (0 when nothing was stored).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_ENCODING, CONTENT_TYPE};
use hyper::{Request, StatusCode};
use strata_ingest::{Protocol, WriteSummary};

use crate::api_query::now_ms;
use crate::body::{discard, empty, read_bounded, response, text_error, Resp};
use crate::error::{Error, Result};
use crate::metrics::Rejection;
use crate::router::State;

fn header(req: &Request<Incoming>, name: hyper::header::HeaderName) -> Option<&str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// A write slot owned by whoever does the work: the request future while it reads the body,
/// then the write job that decodes and appends. A sender that times out and disconnects
/// drops the future, but an append already running keeps its slot until it ends, so retries
/// cannot pile up past `max_inflight_writes` behind work that still runs.
struct WriteSlot(Arc<State>);

impl Drop for WriteSlot {
    fn drop(&mut self) {
        self.0.write_slots.add_permits(1);
    }
}

/// Counts a write waiting for a slot in `State::write_waiters` while it lives.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Takes a write slot for the request whose body is `body`, or refuses the request (503
/// when overloaded) after discarding its body. Returns the body, still unread, with the slot.
async fn write_slot(
    state: &Arc<State>,
    body: Incoming,
    headers: &hyper::HeaderMap,
) -> Result<(WriteSlot, Incoming)> {
    match acquire_write_slot(state).await {
        Ok(permit) => {
            permit.forget();
            Ok((WriteSlot(state.clone()), body))
        }
        Err(e) => Err(refuse(state, body, headers, e).await),
    }
}

/// Discards the unread body of a request refused with `e`, and returns `e`.
async fn refuse(state: &State, body: Incoming, headers: &hyper::HeaderMap, e: Error) -> Error {
    let l = &state.config.limits;
    discard(body, headers, l.max_body_bytes, l.body_timeout).await;
    e
}

async fn acquire_write_slot(state: &State) -> Result<tokio::sync::SemaphorePermit<'_>> {
    if state.is_shutting_down() {
        return Err(Error::ShuttingDown);
    }
    if let Some(why) = state.db.wal_failure() {
        return Err(Error::WalFailed(why));
    }
    if let Ok(p) = state.write_slots.try_acquire() {
        return Ok(p);
    }
    let limits = &state.config.limits;
    // Join the queue only if it has room; the count is taken before waiting, so no more
    // than `max_queued_writes` writes ever wait at once.
    let queued = state.write_waiters.fetch_add(1, Ordering::Relaxed);
    let waiting = Waiting(&state.write_waiters);
    if queued >= limits.max_queued_writes {
        drop(waiting);
        state.metrics.overloaded();
        return Err(Error::Overloaded(
            "too many write requests in flight and waiting",
        ));
    }
    let acquired = tokio::time::timeout(limits.write_queue_wait, state.write_slots.acquire()).await;
    drop(waiting);
    match acquired {
        Ok(Ok(p)) => Ok(p),
        Ok(Err(_)) => Err(Error::ShuttingDown),
        Err(_) => {
            state.metrics.overloaded();
            Err(Error::Overloaded("too many write requests in flight"))
        }
    }
}

/// Handles a remote-write request.
pub async fn remote_write(state: &Arc<State>, req: Request<Incoming>) -> Result<Resp> {
    let proto = match strata_ingest::negotiate(
        header(&req, CONTENT_TYPE),
        header(&req, CONTENT_ENCODING),
    ) {
        Ok(p) => p,
        Err(e) => {
            state.metrics.rejected(Rejection::BadRequest, 1);
            // Without a known protocol there is no v2 to set headers for.
            let (parts, body) = req.into_parts();
            return Err(refuse(state, body, &parts.headers, Error::Ingest(e)).await);
        }
    };
    let outcome = write_inner(state, req, proto).await;
    let (mut resp, summary) = match outcome {
        Ok(summary) if summary.is_clean() => (empty(StatusCode::NO_CONTENT), Some(summary)),
        Ok(summary) => {
            let mut text = summary.problems.join("\n");
            if text.is_empty() {
                text = format!(
                    "{} series and {} samples rejected",
                    summary.series_rejected, summary.samples_rejected
                );
            }
            text.push('\n');
            (
                response(StatusCode::BAD_REQUEST, "text/plain; charset=utf-8", text),
                Some(summary),
            )
        }
        Err(e) => {
            if e.status().is_client_error() {
                state.metrics.rejected(Rejection::BadRequest, 1);
            }
            (text_error(&e), None)
        }
    };
    if let Some(s) = &summary {
        record(state, s);
        state.metadata.record(&s.metadata);
    }
    if proto == Protocol::V2 {
        let s = summary.unwrap_or_default();
        let h = resp.headers_mut();
        for (name, n) in [
            (
                "x-prometheus-remote-write-samples-written",
                s.samples_written,
            ),
            (
                "x-prometheus-remote-write-histograms-written",
                s.histograms_written,
            ),
            (
                "x-prometheus-remote-write-exemplars-written",
                s.exemplars_written,
            ),
        ] {
            h.insert(name, HeaderValue::from(n));
        }
    }
    Ok(resp)
}

async fn write_inner(
    state: &Arc<State>,
    req: Request<Incoming>,
    proto: Protocol,
) -> Result<WriteSummary> {
    let (parts, body) = req.into_parts();
    let (slot, body) = write_slot(state, body, &parts.headers).await?;
    let bytes = read_bounded(
        body,
        &parts.headers,
        state.config.limits.max_body_bytes,
        state.config.limits.body_timeout,
    )
    .await?;
    on_write_thread(state, slot, move |db, limits| {
        Ok(strata_ingest::write(db, proto, &bytes, limits)?)
    })
    .await
}

/// Runs `f` with the database and the ingest limits in force on a write thread
/// ([`crate::write_pool`]); `slot` is released when `f` ends, whether or not the client is
/// still there.
async fn on_write_thread<T: Send + 'static>(
    state: &Arc<State>,
    slot: WriteSlot,
    f: impl FnOnce(&strata_engine::Db, &strata_ingest::Limits) -> Result<T> + Send + 'static,
) -> Result<T> {
    let st = state.clone();
    state
        .write_pool
        .run(move || {
            let _slot = slot;
            f(&st.db, &st.config.ingest_limits())
        })
        .await
}

fn record(state: &State, s: &WriteSummary) {
    let m = &state.metrics;
    m.ingested(s.samples_written, s.histograms_written, s.exemplars_written);
    record_append(m, &s.append);
    let other = s.samples_rejected.saturating_sub(s.append.rejected());
    m.rejected(Rejection::InvalidSeries, other);
}

/// Counts the storage engine's rejections by reason.
fn record_append(m: &crate::metrics::Metrics, a: &strata_engine::AppendReport) {
    m.ingested_out_of_order(a.out_of_order_appended);
    m.rejected(Rejection::OutOfOrder, a.out_of_order);
    m.rejected(Rejection::DuplicateTimestamp, a.duplicate_timestamp);
    m.rejected(Rejection::TooOld, a.too_old);
    m.rejected(Rejection::SeriesLimit, a.series_limit);
    m.rejected(Rejection::NewSeriesLimit, a.new_series_limit);
}

/// The text import takes the Prometheus text format (`text/plain`), OpenMetrics
/// (`application/openmetrics-text`), no Content-Type, or curl's default for `--data-binary`
/// (`application/x-www-form-urlencoded`); anything else (a remote-write body sent to the wrong
/// endpoint, JSON) is refused with 415 before the body is read.
fn check_text_content_type(ct: Option<&str>) -> Result<()> {
    let Some(ct) = ct else { return Ok(()) };
    let media = ct.split(';').next().unwrap_or("").trim();
    let ok = [
        "text/plain",
        "application/openmetrics-text",
        "application/x-www-form-urlencoded",
    ]
    .iter()
    .any(|m| media.eq_ignore_ascii_case(m));
    if ok {
        return Ok(());
    }
    let hint = if media.eq_ignore_ascii_case("application/x-protobuf") {
        " (remote-write bodies go to /api/v1/write)"
    } else {
        ""
    };
    Err(Error::Ingest(strata_ingest::Error::UnsupportedMediaType(
        format!(
            "Content-Type {ct:?} is not a text exposition format: send text/plain or \
         application/openmetrics-text{hint}"
        ),
    )))
}

/// The checks of a text import before its body: the Content-Type, then the `timestamp`
/// parameter; returns the default timestamp (the parameter, or now).
fn import_checks(parts: &hyper::http::request::Parts) -> Result<i64> {
    let ct = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    check_text_content_type(ct)?;
    let Some(q) = parts.uri.query() else {
        return Ok(now_ms());
    };
    let p = crate::params::Params::parse(Some(q), None)?;
    match p.get_nonempty("timestamp") {
        Some(t) => t.parse::<i64>().map_err(|_| {
            Error::BadData(format!(
                "invalid parameter \"timestamp\": {t:?} is not an integer number of ms"
            ))
        }),
        None => Ok(now_ms()),
    }
}

/// Handles a text-format import. Samples without a timestamp get the `timestamp` parameter
/// (ms) or the current time. Replies with JSON counts: 200 when everything was stored, 400
/// (`bad_data`, the problems in `error`, the counts still in `data`) otherwise.
pub async fn import_text(state: &Arc<State>, req: Request<Incoming>) -> Result<Resp> {
    let (parts, body) = req.into_parts();
    let default_ts = match import_checks(&parts) {
        Ok(t) => t,
        Err(e) => return Err(refuse(state, body, &parts.headers, e).await),
    };
    let (slot, body) = write_slot(state, body, &parts.headers).await?;
    let bytes = read_bounded(
        body,
        &parts.headers,
        state.config.limits.max_body_bytes,
        state.config.limits.body_timeout,
    )
    .await?;
    let summary = on_write_thread(state, slot, move |db, limits| {
        Ok(strata_ingest::import_text(db, &bytes, default_ts, limits)?)
    })
    .await?;
    state.metrics.ingested(summary.samples_imported, 0, 0);
    record_append(&state.metrics, &summary.append);
    state.metadata.record(&summary.metadata);
    let data = format!(
        "{{\"samplesImported\":{},\"series\":{}}}",
        summary.samples_imported, summary.series
    );
    if summary.is_clean() {
        return Ok(crate::body::json_ok(crate::json::success(&data, &[], &[])));
    }
    let mut body = String::from("{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":");
    crate::json::write_str(&mut body, &summary.problems.join("\n"));
    body.push_str(",\"data\":");
    body.push_str(&data);
    body.push('}');
    Ok(response(StatusCode::BAD_REQUEST, "application/json", body))
}

//! `POST /api/v1/write` (and `/api/v1/push`) and `POST /api/v1/import/prometheus`.
//!
//! Order of work for a remote-write request, cheapest check first:
//! 1. negotiate the protocol from the headers (415 on anything unknown, before the body);
//! 2. take an in-flight write slot, waiting at most `limits.write_queue_wait` (then 503 with
//!    `Retry-After`, which every sender retries), so memory and CPU are bounded by
//!    `max_inflight_writes * max_body_bytes` plus decoding;
//! 3. read the body with the size bound (413);
//! 4. decode, validate and append on the blocking pool, never on the reactor;
//! 5. answer 204 when everything was stored, 400 with the problems as text otherwise (the
//!    valid series of a partial write are stored), or the ingest error's status.
//!
//! Remote-write 2.0 replies always carry the three `X-Prometheus-Remote-Write-*-Written`
//! headers, also on errors (0 when nothing was stored).

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_ENCODING, CONTENT_TYPE};
use hyper::{Request, StatusCode};
use strata_ingest::{Protocol, WriteSummary};

use crate::api_query::now_ms;
use crate::body::{empty, read_bounded, response, text_error, Resp};
use crate::error::{Error, Result};
use crate::metrics::Rejection;
use crate::router::{blocking, State};

fn header(req: &Request<Incoming>, name: hyper::header::HeaderName) -> Option<&str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// A write slot owned by whoever does the work: the request future while it reads the body,
/// then the blocking task that decodes and appends. A sender that times out and disconnects
/// drops the future, but an append already running keeps its slot until it ends, so retries
/// cannot pile up past `max_inflight_writes` behind work that still runs.
struct WriteSlot(Arc<State>);

impl Drop for WriteSlot {
    fn drop(&mut self) {
        self.0.write_slots.add_permits(1);
    }
}

/// Waits for a write slot or fails with 503.
async fn write_slot(state: &Arc<State>) -> Result<WriteSlot> {
    let permit = acquire_write_slot(state).await?;
    permit.forget();
    Ok(WriteSlot(state.clone()))
}

async fn acquire_write_slot(state: &State) -> Result<tokio::sync::SemaphorePermit<'_>> {
    if state.is_shutting_down() {
        return Err(Error::ShuttingDown);
    }
    if let Some(why) = state.db.wal_failure() {
        return Err(Error::WalFailed(why));
    }
    let wait = state.config.limits.write_queue_wait;
    match tokio::time::timeout(wait, state.write_slots.acquire()).await {
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
            return Err(Error::Ingest(e));
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
    let slot = write_slot(state).await?;
    let (parts, body) = req.into_parts();
    let bytes = read_bounded(
        body,
        &parts.headers,
        state.config.limits.max_body_bytes,
        state.config.limits.body_timeout,
    )
    .await?;
    let st = state.clone();
    blocking(move || {
        let _slot = slot;
        let limits = st.config.ingest_limits();
        Ok(strata_ingest::write(&st.db, proto, &bytes, &limits)?)
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

/// Handles a text-format import. Samples without a timestamp get the `timestamp` parameter
/// (ms) or the current time. Replies with JSON counts: 200 when everything was stored, 400
/// (`bad_data`, the problems in `error`, the counts still in `data`) otherwise.
pub async fn import_text(state: &Arc<State>, req: Request<Incoming>) -> Result<Resp> {
    check_text_content_type(header(&req, CONTENT_TYPE))?;
    let default_ts = match req.uri().query() {
        Some(q) => {
            let p = crate::params::Params::parse(Some(q), None)?;
            match p.get_nonempty("timestamp") {
                Some(t) => t.parse::<i64>().map_err(|_| {
                    Error::BadData(format!(
                        "invalid parameter \"timestamp\": {t:?} is not an integer number of ms"
                    ))
                })?,
                None => now_ms(),
            }
        }
        None => now_ms(),
    };
    let slot = write_slot(state).await?;
    let (parts, body) = req.into_parts();
    let bytes = read_bounded(
        body,
        &parts.headers,
        state.config.limits.max_body_bytes,
        state.config.limits.body_timeout,
    )
    .await?;
    let st = state.clone();
    let summary = blocking(move || {
        let _slot = slot;
        let limits = st.config.ingest_limits();
        Ok(strata_ingest::import_text(
            &st.db, &bytes, default_ts, &limits,
        )?)
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

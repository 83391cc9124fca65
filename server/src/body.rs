//! Reading request bodies with a size bound, and building responses.
//!
//! The bound is checked against `Content-Length` before anything is buffered and again as
//! frames arrive (chunked bodies have no length), so a client cannot make the server allocate
//! more than the bound. A rejected body is drained, up to a fixed cap and without keeping the
//! bytes, so the client can read the 413 instead of seeing a reset connection; so is the
//! body of a request refused before its body was read ([`discard`]).
//!
//! Copies: hyper hands the body over as frames sliced out of its connection read buffer
//! (no copy); [`read_bounded`] copies them once into one contiguous buffer (pre-sized from
//! `Content-Length`), which the decoder reads in place. So over plain HTTP a body is copied
//! exactly once between the socket read and snappy decompression (over TLS, rustls's
//! decryption writes the plaintext into hyper's buffer first).

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{HeaderMap, Response, StatusCode};

use crate::error::{Error, Result};
use crate::json::ReplyPieces;

/// The response type of every handler.
pub type Resp = Response<Body>;

/// A response body: bytes rendered in full, or a large query reply rendered piece by piece
/// as the connection takes it ([`ReplyPieces`]): the next piece is written while the client
/// reads the last one, and the reply is never held whole (a range result of millions of
/// points is tens of MB of JSON).
pub enum Body {
    /// The whole body (`None` once sent).
    Full(Option<Bytes>),
    /// A query reply rendered on demand.
    Pieces(Box<ReplyPieces>),
}

impl Body {
    /// A body of `b`.
    pub fn full(b: Bytes) -> Body {
        Body::Full((!b.is_empty()).then_some(b))
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<std::result::Result<Frame<Bytes>, Infallible>>> {
        let next = match self.get_mut() {
            Body::Full(b) => b.take(),
            Body::Pieces(p) => p.next_piece().map(Bytes::from),
        };
        Poll::Ready(next.map(|b| Ok(Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Full(b) => b.is_none(),
            Body::Pieces(p) => p.is_done(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Body::Pieces(_) => SizeHint::default(),
        }
    }
}

/// How many bytes of an oversized body are read and discarded before answering.
const DRAIN_CAP: u64 = 256 << 20;
/// How long draining an oversized body may take.
const DRAIN_TIME: Duration = Duration::from_secs(10);

/// The declared `Content-Length`, if present and numeric.
pub fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// Reads the whole body within `timeout`, failing with [`Error::BodyTooLarge`] past `limit`
/// bytes and [`Error::BodyTimeout`] when the sender stalls.
pub async fn read_bounded(
    body: Incoming,
    headers: &HeaderMap,
    limit: u64,
    timeout: Duration,
) -> Result<Bytes> {
    match tokio::time::timeout(timeout, read_bounded_inner(body, headers, limit)).await {
        Ok(r) => r,
        Err(_) => Err(Error::BodyTimeout(timeout)),
    }
}

async fn read_bounded_inner(mut body: Incoming, headers: &HeaderMap, limit: u64) -> Result<Bytes> {
    let declared = content_length(headers);
    if declared.is_some_and(|n| n > limit) {
        drain(body, 0).await;
        return Err(Error::BodyTooLarge { limit });
    }
    let mut buf = BytesMut::with_capacity(declared.unwrap_or(0).min(limit) as usize);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| Error::BodyRead(e.to_string()))?;
        if let Ok(data) = frame.into_data() {
            if buf.len() as u64 + data.len() as u64 > limit {
                let seen = buf.len() as u64 + data.len() as u64;
                drop(buf);
                drain(body, seen).await;
                return Err(Error::BodyTooLarge { limit });
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}

/// Reads and discards the rest of a body, within [`DRAIN_CAP`] and [`DRAIN_TIME`].
async fn drain(body: Incoming, seen: u64) {
    drain_within(body, seen, DRAIN_CAP, DRAIN_TIME).await;
}

/// Reads and discards a body, keeping none of it, up to `cap` bytes and `time`; true when
/// the body ended within both (the connection can then be kept alive).
async fn drain_within(mut body: Incoming, mut seen: u64, cap: u64, time: Duration) -> bool {
    let work = async {
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { return false };
            if let Ok(d) = frame.into_data() {
                seen += d.len() as u64;
                if seen > cap {
                    return false;
                }
            }
        }
        true
    };
    tokio::time::timeout(time, work).await.unwrap_or(false)
}

/// Discards the body of a request refused before its body was read (overloaded, shutting
/// down, unsupported media type), so the sender, still writing it, reads the answer instead
/// of a reset connection and its keep-alive connection stays usable. Bodies declared larger
/// than `limit`, not ended within `limit` bytes and `timeout`, or not sent yet (the sender
/// waits for `100 Continue`) are left unread: hyper then closes the connection after the
/// answer.
pub async fn discard(body: Incoming, headers: &HeaderMap, limit: u64, timeout: Duration) {
    // A sender waiting for `100 Continue` has not sent the body: reading would ask for it.
    let expects = headers
        .get(hyper::header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    if expects || content_length(headers).is_some_and(|n| n > limit) {
        return;
    }
    drain_within(body, 0, limit, timeout).await;
}

/// A response with a body and content type.
pub fn response(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Resp {
    let mut r = Response::new(Body::full(body.into()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// A `200 application/json` response.
pub fn json_ok(body: String) -> Resp {
    response(StatusCode::OK, "application/json", body)
}

/// A `200 application/json` query reply, rendered piece by piece as it is sent.
pub fn json_pieces(pieces: ReplyPieces) -> Resp {
    let mut r = Response::new(Body::Pieces(Box::new(pieces)));
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// An empty response with `status` (e.g. 204).
pub fn empty(status: StatusCode) -> Resp {
    let mut r = Response::new(Body::full(Bytes::new()));
    *r.status_mut() = status;
    r
}

/// A JSON API error response in Prometheus's envelope.
pub fn json_error(e: &Error) -> Resp {
    let mut r = response(
        e.status(),
        "application/json",
        crate::json::error(e.error_type(), &e.to_string()),
    );
    add_retry_after(&mut r, e);
    r
}

/// A plain-text error response (remote-write senders log the body verbatim).
pub fn text_error(e: &Error) -> Resp {
    let mut r = response(e.status(), "text/plain; charset=utf-8", format!("{e}\n"));
    add_retry_after(&mut r, e);
    r
}

fn add_retry_after(r: &mut Resp, e: &Error) {
    if let Some(s) = e.retry_after() {
        if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
            r.headers_mut().insert("retry-after", v);
        }
    }
}

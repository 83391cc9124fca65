//! A minimal blocking HTTP/1.1 client for posting alerts: one request per connection
//! (`Connection: close`), plain `http://` only (Alertmanager is reached over a trusted
//! network here; TLS is out of scope), an overall deadline per request.
//!
//! Invariants: a request never takes longer than its timeout (connect, write and read are
//! each bounded by what is left of it); response bodies are read up to [`MAX_BODY`] bytes and
//! only kept for error messages.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// Most response bytes read.
pub const MAX_BODY: usize = 64 * 1024;

/// Where alerts are posted: an Alertmanager's `/api/v2/alerts` endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// Host name or address as written (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Request path: the URL's path prefix plus `/api/v2/alerts`.
    pub path: String,
}

impl Endpoint {
    /// Parses an Alertmanager base URL, `http://host[:port][/prefix]`, into its alerts
    /// endpoint (Prometheus posts to `<url>/api/v2/alerts`).
    pub fn parse(url: &str) -> Result<Endpoint> {
        let bad = |reason: &str| Error::AlertmanagerUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let rest = match url.split_once("://") {
            Some(("http", rest)) => rest,
            Some(("https", _)) => return Err(bad("https is not supported (use http)")),
            Some((scheme, _)) => return Err(bad(&format!("unsupported scheme {scheme:?}"))),
            None => return Err(bad("missing http:// scheme")),
        };
        if rest.contains(['?', '#']) {
            return Err(bad("query strings and fragments are not supported"));
        }
        let (authority, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(bad("credentials in the URL are not supported"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
            match after {
                "" => (h, None),
                p => (h, Some(p.strip_prefix(':').ok_or_else(|| bad("bad port"))?)),
            }
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(bad("missing host"));
        }
        let port = match port {
            None => 80,
            Some(p) => p.parse::<u16>().map_err(|_| bad("bad port"))?,
        };
        let path = format!("{}/api/v2/alerts", prefix.trim_end_matches('/'));
        Ok(Endpoint {
            host: host.to_string(),
            port,
            path,
        })
    }

    /// The endpoint as a URL (the `alertmanager` label value of the notifier's metrics).
    pub fn url(&self) -> String {
        if self.host.contains(':') {
            format!("http://[{}]:{}{}", self.host, self.port, self.path)
        } else {
            format!("http://{}:{}{}", self.host, self.port, self.path)
        }
    }

    fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == 80 {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

/// Why a request failed.
#[derive(Debug)]
pub enum PostError {
    /// Connecting, writing or reading failed (or timed out).
    Io(std::io::Error),
    /// The server answered with a non-2xx status.
    Status {
        /// The HTTP status code.
        code: u16,
        /// The start of the response body.
        body: String,
    },
    /// The response was not HTTP.
    Malformed(String),
}

impl PostError {
    /// Whether trying again may succeed (network errors, 5xx, 429), as opposed to a request
    /// the server rejects (other 4xx).
    pub fn retryable(&self) -> bool {
        match self {
            PostError::Io(_) | PostError::Malformed(_) => true,
            PostError::Status { code, .. } => *code >= 500 || *code == 429,
        }
    }
}

impl std::fmt::Display for PostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PostError::Io(e) => write!(f, "{e}"),
            PostError::Status { code, body } => write!(f, "bad response status {code}: {body}"),
            PostError::Malformed(m) => write!(f, "malformed response: {m}"),
        }
    }
}

fn timed_out() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::TimedOut, "request timed out")
}

/// Posts `body` as JSON to `ep` within `timeout`; `Ok(status)` for a 2xx answer.
pub fn post_json(
    ep: &Endpoint,
    body: &[u8],
    user_agent: &str,
    timeout: Duration,
) -> std::result::Result<u16, PostError> {
    let deadline = Instant::now() + timeout;
    let left = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(timed_out)
    };
    let addrs: Vec<SocketAddr> = (ep.host.as_str(), ep.port)
        .to_socket_addrs()
        .map_err(PostError::Io)?
        .collect();
    let mut last_err = std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
    let mut stream = None;
    for a in addrs {
        match TcpStream::connect_timeout(&a, left().map_err(PostError::Io)?) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last_err = e,
        }
    }
    let mut s = stream.ok_or(PostError::Io(last_err))?;
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: {user_agent}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        ep.path,
        ep.host_header(),
        body.len()
    );
    let io = |r: std::io::Result<()>| r.map_err(PostError::Io);
    io(s.set_write_timeout(Some(left().map_err(PostError::Io)?)))?;
    io(s.write_all(head.as_bytes()))?;
    io(s.write_all(body))?;
    io(s.flush())?;
    let mut resp = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        io(s.set_read_timeout(Some(left().map_err(PostError::Io)?)))?;
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                resp.extend_from_slice(&buf[..n]);
                if resp.len() >= MAX_BODY {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock) => {
                return Err(PostError::Io(timed_out()))
            }
            Err(e) => return Err(PostError::Io(e)),
        }
    }
    parse_response(&resp)
}

/// The status of a raw HTTP/1.x response (1xx interim responses skipped).
fn parse_response(resp: &[u8]) -> std::result::Result<u16, PostError> {
    let mut rest = resp;
    loop {
        let end = find(rest, b"\r\n\r\n")
            .ok_or_else(|| PostError::Malformed("no complete header".into()))?;
        let head = String::from_utf8_lossy(&rest[..end]);
        let status_line = head.lines().next().unwrap_or("");
        let mut parts = status_line.split_whitespace();
        let proto = parts.next().unwrap_or("");
        let code: u16 = parts
            .next()
            .and_then(|c| c.parse().ok())
            .filter(|_| proto.starts_with("HTTP/1."))
            .ok_or_else(|| PostError::Malformed(format!("status line {status_line:?}")))?;
        rest = &rest[end + 4..];
        if (100..200).contains(&code) {
            continue;
        }
        if (200..300).contains(&code) {
            return Ok(code);
        }
        let body = String::from_utf8_lossy(&rest[..rest.len().min(256)])
            .trim()
            .to_string();
        return Err(PostError::Status { code, body });
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_alertmanager_urls() {
        let e = Endpoint::parse("http://127.0.0.1:9093").unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.path.as_str()),
            ("127.0.0.1", 9093, "/api/v2/alerts")
        );
        assert_eq!(e.url(), "http://127.0.0.1:9093/api/v2/alerts");
        let e = Endpoint::parse("http://am.example/prefix/").unwrap();
        assert_eq!((e.port, e.path.as_str()), (80, "/prefix/api/v2/alerts"));
        assert_eq!(e.host_header(), "am.example");
        let e = Endpoint::parse("http://[::1]:9093/x").unwrap();
        assert_eq!(
            (e.host.as_str(), e.url()),
            ("::1", "http://[::1]:9093/x/api/v2/alerts".into())
        );
        for bad in [
            "127.0.0.1:9093",
            "https://am:9093",
            "ftp://am",
            "http://:9093",
            "http://am:port",
            "http://am:99999",
            "http://u:p@am:9093",
            "http://am:9093/?x=1",
            "http://[::1:9093",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_responses() {
        assert_eq!(parse_response(b"HTTP/1.1 200 OK\r\n\r\n").unwrap(), 200);
        assert_eq!(
            parse_response(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\nA: b\r\n\r\n")
                .unwrap(),
            202
        );
        match parse_response(b"HTTP/1.1 400 Bad Request\r\n\r\n{\"error\":\"x\"}") {
            Err(e @ PostError::Status { code: 400, .. }) => {
                assert!(!e.retryable());
                assert!(e.to_string().contains("{\"error\":\"x\"}"));
            }
            other => panic!("{other:?}"),
        }
        assert!(parse_response(b"HTTP/1.1 503 x\r\n\r\n")
            .unwrap_err()
            .retryable());
        assert!(matches!(
            parse_response(b"garbage"),
            Err(PostError::Malformed(_))
        ));
        assert!(matches!(
            parse_response(b"SSH-2.0\r\n\r\n"),
            Err(PostError::Malformed(_))
        ));
    }
}

//! A minimal blocking HTTP/1.1 client over one keep-alive connection, shared by the load
//! generator (remote-write `POST`s) and the query benchmark (`GET`s).
//!
//! Responses may carry `Content-Length`, `Transfer-Encoding: chunked`, no body (204) or a body
//! up to EOF; interim 1xx responses are skipped; `Connection: close` is honoured. A request
//! that fails on a reused connection before any response byte arrived is retried once on a
//! fresh connection (the server may have closed an idle keep-alive connection). Responses are
//! bounded: headers to 64 KiB, bodies to 1 MiB kept by default (the rest is drained; see
//! [`Client::keep_body_up_to`]).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

const MAX_HEADER_BYTES: usize = 64 << 10;
const MAX_KEPT_BODY: usize = 1 << 20;

/// A parsed `http://host:port/path` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    /// `host:port` as written (for the `Host` header).
    pub authority: String,
    /// The path with its query, starting with `/`.
    pub path: String,
}

impl Url {
    /// Parses an `http://` URL (no TLS, no credentials).
    pub fn parse(s: &str) -> Result<Url, String> {
        let rest = s
            .strip_prefix("http://")
            .ok_or_else(|| format!("{s:?}: only http:// URLs are supported"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() || authority.contains('@') {
            return Err(format!("{s:?}: bad host"));
        }
        let authority = if authority.rsplit_once(':').is_some_and(|(_, p)| {
            !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && !authority.ends_with(']')
        }) {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        Ok(Url {
            authority,
            path: path.to_string(),
        })
    }

    /// Resolves the authority to a socket address.
    pub fn socket_addr(&self) -> Result<SocketAddr, String> {
        self.authority
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {}: {e}", self.authority))?
            .next()
            .ok_or_else(|| format!("{} resolves to nothing", self.authority))
    }
}

/// Percent-encodes everything but the RFC 3986 unreserved characters (for query strings).
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A response: status and (the first MiB of) the body.
#[derive(Clone, Debug)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// Body bytes (truncated to 1 MiB).
    pub body: Vec<u8>,
    /// The `Retry-After` header, if any.
    pub retry_after: Option<String>,
}

/// One keep-alive connection to a server.
pub struct Client {
    addr: SocketAddr,
    host: String,
    conn: Option<BufReader<TcpStream>>,
    timeout: Duration,
    max_kept_body: usize,
    /// Connections opened so far.
    pub connects: u64,
}

/// The extra headers of a remote-write 1.0 request.
pub const REMOTE_WRITE_HEADERS: &[(&str, &str)] = &[
    ("Content-Type", "application/x-protobuf"),
    ("Content-Encoding", "snappy"),
    ("X-Prometheus-Remote-Write-Version", "0.1.0"),
    ("User-Agent", "strata-loadgen/0.1"),
];

/// The extra headers of a remote-write 2.0 request.
pub const REMOTE_WRITE_2_HEADERS: &[(&str, &str)] = &[
    (
        "Content-Type",
        "application/x-protobuf;proto=io.prometheus.write.v2.Request",
    ),
    ("Content-Encoding", "snappy"),
    ("X-Prometheus-Remote-Write-Version", "2.0.0"),
    ("User-Agent", "strata-loadgen/0.1"),
];

/// The headers for request bodies of remote-write `protocol` (1 or 2, as in the manifest).
pub fn remote_write_headers(protocol: u8) -> &'static [(&'static str, &'static str)] {
    if protocol == 2 {
        REMOTE_WRITE_2_HEADERS
    } else {
        REMOTE_WRITE_HEADERS
    }
}

enum Failure {
    /// Failed before any response byte: safe to retry on a new connection.
    BeforeResponse(io::Error),
    /// Failed mid-response.
    Other(io::Error),
}

impl Client {
    /// A client for `url`'s server; connects lazily.
    pub fn new(url: &Url, timeout: Duration) -> Result<Client, String> {
        Ok(Client {
            addr: url.socket_addr()?,
            host: url.authority.clone(),
            conn: None,
            timeout,
            max_kept_body: MAX_KEPT_BODY,
            connects: 0,
        })
    }

    /// Keeps up to `n` bytes of each response body instead of 1 MiB.
    pub fn keep_body_up_to(mut self, n: usize) -> Client {
        self.max_kept_body = n;
        self
    }

    fn connect(&mut self) -> io::Result<()> {
        let s = TcpStream::connect_timeout(&self.addr, self.timeout)?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(self.timeout))?;
        s.set_write_timeout(Some(self.timeout))?;
        self.connects += 1;
        self.conn = Some(BufReader::with_capacity(16 << 10, s));
        Ok(())
    }

    /// POSTs `body` to `path` with `headers`; reconnects as needed.
    pub fn post(
        &mut self,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<Response> {
        self.request("POST", path, headers, body)
    }

    /// GETs `path` (with its query) with `headers`; reconnects as needed.
    pub fn get(&mut self, path: &str, headers: &[(&str, &str)]) -> io::Result<Response> {
        self.request("GET", path, headers, b"")
    }

    fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<Response> {
        let reused = self.conn.is_some();
        if !reused {
            self.connect()?;
        }
        match self.try_request(method, path, headers, body) {
            Ok(r) => Ok(r),
            Err(Failure::BeforeResponse(_)) if reused => {
                self.connect()?;
                self.try_request(method, path, headers, body)
                    .map_err(|f| match f {
                        Failure::BeforeResponse(e) | Failure::Other(e) => e,
                    })
            }
            Err(Failure::BeforeResponse(e)) | Err(Failure::Other(e)) => Err(e),
        }
    }

    fn try_request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Response, Failure> {
        let result = self.exchange(method, path, headers, body);
        if !matches!(result, Ok((_, true))) {
            self.conn = None;
        }
        result.map(|(r, _)| r)
    }

    /// Sends one request and reads its response; the bool says the connection may be reused.
    fn exchange(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<(Response, bool), Failure> {
        let conn = self
            .conn
            .as_mut()
            .ok_or_else(|| Failure::BeforeResponse(io::Error::other("not connected")))?;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n",
            self.host,
            body.len()
        );
        for (k, v) in headers {
            head.push_str(k);
            head.push_str(": ");
            head.push_str(v);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        let stream = conn.get_mut();
        stream
            .write_all(head.as_bytes())
            .and_then(|_| stream.write_all(body))
            .and_then(|_| stream.flush())
            .map_err(Failure::BeforeResponse)?;
        // Status line: an EOF here means the server closed an idle connection.
        let mut line = String::new();
        let n = conn.read_line(&mut line).map_err(Failure::BeforeResponse)?;
        if n == 0 {
            return Err(Failure::BeforeResponse(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed before the response",
            )));
        }
        read_response(conn, &line, self.max_kept_body).map_err(Failure::Other)
    }
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Parses the status line's version and code.
fn parse_status(status_line: &str) -> io::Result<(&str, u16)> {
    let mut parts = status_line.trim_end().splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") {
        return Err(invalid(format!("bad status line {status_line:?}")));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| invalid(format!("bad status line {status_line:?}")))?;
    Ok((version, status))
}

/// Reads one header line (without its line end); `budget` bounds all header bytes.
fn header_line<R: BufRead>(r: &mut R, budget: &mut usize) -> io::Result<String> {
    let mut line = String::new();
    let n = r.read_line(&mut line)?;
    if n == 0 {
        return Err(invalid("connection closed inside the headers"));
    }
    *budget = budget
        .checked_sub(n)
        .ok_or_else(|| invalid("response headers too large"))?;
    Ok(line.trim_end().to_string())
}

/// Parses the rest of a response whose status line is `status_line`, skipping interim 1xx
/// responses and keeping up to `max_kept` body bytes.
fn read_response<R: BufRead>(
    r: &mut R,
    status_line: &str,
    max_kept: usize,
) -> io::Result<(Response, bool)> {
    let mut budget = MAX_HEADER_BYTES.saturating_sub(status_line.len());
    let mut status_line = status_line.to_string();
    let (mut version, mut status) = parse_status(&status_line)?;
    while (100..200).contains(&status) {
        while !header_line(r, &mut budget)?.is_empty() {}
        status_line = header_line(r, &mut budget)?;
        (version, status) = parse_status(&status_line)?;
    }
    let mut keep_alive = version == "HTTP/1.1";
    let mut content_length: Option<u64> = None;
    let mut chunked = false;
    let mut retry_after = None;
    loop {
        let line = header_line(r, &mut budget)?;
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(invalid(format!("bad header line {line:?}")));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            content_length = Some(
                value
                    .parse()
                    .map_err(|_| invalid(format!("bad Content-Length {value:?}")))?,
            );
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        } else if name.eq_ignore_ascii_case("retry-after") {
            retry_after = Some(value.to_string());
        } else if name.eq_ignore_ascii_case("connection") {
            let v = value.to_ascii_lowercase();
            if v.contains("close") {
                keep_alive = false;
            } else if v.contains("keep-alive") {
                keep_alive = true;
            }
        }
    }
    let mut body = Vec::new();
    let no_body = status == 204 || status == 304;
    if no_body {
    } else if chunked {
        loop {
            let mut size_line = String::new();
            if r.read_line(&mut size_line)? == 0 {
                return Err(invalid("connection closed inside a chunked body"));
            }
            let size_str = size_line.trim().split(';').next().unwrap_or("");
            let size = u64::from_str_radix(size_str, 16)
                .map_err(|_| invalid(format!("bad chunk size {size_line:?}")))?;
            if size == 0 {
                // Trailers, then the empty line.
                loop {
                    let mut t = String::new();
                    if r.read_line(&mut t)? == 0 || t.trim_end().is_empty() {
                        break;
                    }
                }
                break;
            }
            read_body(r, size, &mut body, max_kept)?;
            let mut crlf = String::new();
            r.read_line(&mut crlf)?;
        }
    } else if let Some(len) = content_length {
        read_body(r, len, &mut body, max_kept)?;
    } else {
        // Body until EOF.
        keep_alive = false;
        let mut rest = Vec::new();
        r.take(max_kept as u64).read_to_end(&mut rest)?;
        body = rest;
        io::copy(r, &mut io::sink())?;
    }
    Ok((
        Response {
            status,
            body,
            retry_after,
        },
        keep_alive,
    ))
}

/// Reads exactly `len` bytes, keeping the body at most `max_kept` bytes long.
fn read_body<R: Read>(r: &mut R, len: u64, body: &mut Vec<u8>, max_kept: usize) -> io::Result<()> {
    let keep = (max_kept.saturating_sub(body.len()) as u64).min(len);
    let start = body.len();
    body.resize(start + keep as usize, 0);
    r.read_exact(&mut body[start..])?;
    let rest = len - keep;
    if rest > 0 {
        let copied = io::copy(&mut r.take(rest), &mut io::sink())?;
        if copied != rest {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed inside the body",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn parse(raw: &str) -> io::Result<(Response, bool)> {
        let mut r = io::BufReader::new(raw.as_bytes());
        let mut first = String::new();
        r.read_line(&mut first)?;
        read_response(&mut r, &first, MAX_KEPT_BODY)
    }

    #[test]
    fn trailers_interim_responses_and_limits() {
        let raw = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                   3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nX-T: 1\r\n\r\n";
        let (r, keep) = parse(raw).unwrap();
        assert_eq!((&r.body[..], keep), (&b"abcde"[..], true));
        let raw = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 NF\r\nContent-Length: 1\r\n\r\nx";
        assert_eq!(parse(raw).unwrap().0.status, 404);
        let raw = "HTTP/1.1 503 X\r\nretry-after: 1\r\nContent-Length: 1\r\n\r\nx";
        assert_eq!(parse(raw).unwrap().0.retry_after.as_deref(), Some("1"));
        assert_eq!(
            parse(raw.replace("retry-after: 1\r\n", "").as_str())
                .unwrap()
                .0
                .retry_after,
            None
        );
        assert!(parse("HTTP/1.1 200 OK\r\nno colon\r\n\r\n").is_err());
        let mut r = io::BufReader::new(&b"Content-Length: 5\r\n\r\nhello"[..]);
        let (resp, _) = read_response(&mut r, "HTTP/1.1 200 OK\r\n", 2).unwrap();
        assert_eq!(&resp.body[..], b"he");
    }

    #[test]
    fn url_parsing() {
        let u = Url::parse("http://127.0.0.1:9090/api/v1/write").unwrap();
        assert_eq!(u.authority, "127.0.0.1:9090");
        assert_eq!(u.path, "/api/v1/write");
        assert_eq!(
            Url::parse("http://localhost").unwrap().authority,
            "localhost:80"
        );
        assert!(Url::parse("https://x/").is_err());
        assert!(Url::parse("http:///x").is_err());
    }

    #[test]
    fn response_shapes() {
        let (r, ka) = parse("HTTP/1.1 204 No Content\r\nDate: x\r\n\r\n").unwrap();
        assert_eq!((r.status, r.body.len(), ka), (204, 0, true));
        let (r, ka) = parse(
            "HTTP/1.1 400 Bad Request\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
        )
        .unwrap();
        assert_eq!((r.status, &r.body[..], ka), (400, &b"hello"[..], false));
        let (r, ka) = parse(
            "HTTP/1.1 500 X\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!((r.status, &r.body[..], ka), (500, &b"abcde"[..], true));
        let (r, ka) = parse("HTTP/1.0 200 OK\r\n\r\nuntil eof").unwrap();
        assert_eq!((r.status, &r.body[..], ka), (200, &b"until eof"[..], false));
        assert!(parse("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort").is_err());
        assert!(parse("SSH-2.0 hi\r\n\r\n").is_err());
        assert!(parse("HTTP/1.1 abc OK\r\n\r\n").is_err());
        assert!(parse("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n").is_err());
        assert!(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").is_err());
    }

    /// A one-thread server answering `n` requests on one connection, then closing it.
    fn serve(
        listener: TcpListener,
        per_conn: usize,
        conns: usize,
    ) -> std::thread::JoinHandle<Vec<Vec<u8>>> {
        std::thread::spawn(move || {
            let mut bodies = Vec::new();
            for _ in 0..conns {
                let (s, _) = listener.accept().unwrap();
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut w = s;
                for _ in 0..per_conn {
                    let mut len = 0usize;
                    loop {
                        let mut line = String::new();
                        r.read_line(&mut line).unwrap();
                        let l = line.trim_end().to_ascii_lowercase();
                        if l.is_empty() {
                            break;
                        }
                        if let Some(v) = l.strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap();
                        }
                    }
                    let mut b = vec![0; len];
                    r.read_exact(&mut b).unwrap();
                    bodies.push(b);
                    w.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").unwrap();
                }
            }
            bodies
        })
    }

    #[test]
    fn keep_alive_and_reconnect_after_server_close() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = Url::parse(&format!("http://{}/w", l.local_addr().unwrap())).unwrap();
        let server = serve(l, 2, 2);
        let mut c = Client::new(&url, Duration::from_secs(10)).unwrap();
        for i in 0..4u8 {
            let r = c.post(&url.path, REMOTE_WRITE_HEADERS, &[i; 3]).unwrap();
            assert_eq!(r.status, 204);
        }
        assert_eq!(c.connects, 2);
        let bodies = server.join().unwrap();
        assert_eq!(bodies, vec![vec![0; 3], vec![1; 3], vec![2; 3], vec![3; 3]]);
    }
}

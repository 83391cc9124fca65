//! A tiny blocking HTTP/1.1 client over `std::net::TcpStream`, enough to talk to Prometheus
//! and Strata on loopback: one connection per request (`Connection: close`), the response
//! read to EOF, `Content-Length` and `Transfer-Encoding: chunked` bodies both understood.
//! Only `http://host:port` base URLs (no TLS, no redirects, no proxies).

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Read/write timeout of one request.
const IO_TIMEOUT: Duration = Duration::from_secs(120);
/// Largest response accepted (headers plus body).
const MAX_RESPONSE: usize = 256 << 20;

/// Why a request failed (transport or framing; HTTP error statuses are responses).
#[derive(Debug)]
pub enum HttpError {
    /// The base URL is not `http://host:port[/prefix]`.
    BadUrl(String),
    /// Connecting, writing or reading failed.
    Io(io::Error),
    /// The response could not be parsed.
    Malformed(String),
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::BadUrl(u) => write!(f, "bad base url {u:?} (want http://host:port)"),
            HttpError::Io(e) => write!(f, "i/o error: {e}"),
            HttpError::Malformed(m) => write!(f, "malformed http response: {m}"),
        }
    }
}

impl std::error::Error for HttpError {}

impl From<io::Error> for HttpError {
    fn from(e: io::Error) -> Self {
        HttpError::Io(e)
    }
}

/// One HTTP response.
#[derive(Clone, Debug, PartialEq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers in order, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl Response {
    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A client for one server, from a base URL such as `http://127.0.0.1:9090`.
#[derive(Clone, Debug)]
pub struct Client {
    /// `host:port`.
    authority: String,
    /// Path prefix without a trailing slash (usually empty).
    prefix: String,
}

impl Client {
    /// Parses `http://host:port[/prefix]`.
    pub fn new(base: &str) -> Result<Client, HttpError> {
        let rest = base
            .strip_prefix("http://")
            .ok_or_else(|| HttpError::BadUrl(base.to_string()))?;
        let (authority, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if authority.is_empty() || !authority.contains(':') {
            return Err(HttpError::BadUrl(base.to_string()));
        }
        Ok(Client {
            authority: authority.to_string(),
            prefix: prefix.to_string(),
        })
    }

    /// The `host:port` this client talks to.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// `GET path` (path includes the query string).
    pub fn get(&self, path: &str) -> Result<Response, HttpError> {
        self.request("GET", path, &[], &[])
    }

    /// `POST path` with a body and extra headers.
    pub fn post(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Response, HttpError> {
        self.request("POST", path, headers, body)
    }

    /// Sends one request on a fresh connection and reads the whole response.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Response, HttpError> {
        let addr = self
            .authority
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| HttpError::BadUrl(self.authority.clone()))?;
        let mut stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        let mut head = format!(
            "{method} {}{path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nUser-Agent: strata-differential\r\n",
            self.prefix, self.authority
        );
        for (n, v) in headers {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
        if method != "GET" || !body.is_empty() {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let mut req = head.into_bytes();
        req.extend_from_slice(body);
        stream.write_all(&req)?;
        stream.flush()?;
        let mut raw = Vec::new();
        (&mut stream)
            .take(MAX_RESPONSE as u64 + 1)
            .read_to_end(&mut raw)?;
        if raw.len() > MAX_RESPONSE {
            return Err(HttpError::Malformed(format!(
                "response larger than {MAX_RESPONSE} bytes"
            )));
        }
        parse_response(&raw)
    }
}

/// Parses a complete HTTP/1.1 response (status line, headers, body up to EOF).
pub fn parse_response(raw: &[u8]) -> Result<Response, HttpError> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| HttpError::Malformed("no end of headers".into()))?;
    let head = std::str::from_utf8(&raw[..end])
        .map_err(|_| HttpError::Malformed("headers are not utf-8".into()))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(HttpError::Malformed(format!("status line {status_line:?}")));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| HttpError::Malformed(format!("status line {status_line:?}")))?;
    let mut headers = Vec::new();
    for line in lines {
        let (n, v) = line
            .split_once(':')
            .ok_or_else(|| HttpError::Malformed(format!("header line {line:?}")))?;
        headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let rest = &raw[end + 4..];
    let mut resp = Response {
        status,
        headers,
        body: Vec::new(),
    };
    let chunked = resp
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    resp.body = if chunked {
        dechunk(rest)?
    } else if let Some(len) = resp.header("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| HttpError::Malformed(format!("content-length {len:?}")))?;
        if rest.len() < len {
            return Err(HttpError::Malformed(format!(
                "body has {} of {len} bytes",
                rest.len()
            )));
        }
        rest[..len].to_vec()
    } else {
        rest.to_vec()
    };
    Ok(resp)
}

/// Decodes a chunked body (extensions and trailers ignored).
fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, HttpError> {
    let mut out = Vec::new();
    loop {
        let eol = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| HttpError::Malformed("chunk size line without CRLF".into()))?;
        let line = std::str::from_utf8(&data[..eol])
            .map_err(|_| HttpError::Malformed("chunk size is not utf-8".into()))?;
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| HttpError::Malformed(format!("chunk size {size_text:?}")))?;
        data = &data[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size + 2 || &data[size..size + 2] != b"\r\n" {
            return Err(HttpError::Malformed("truncated chunk".into()));
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// Percent-encodes `s` for a URL query component (everything but unreserved characters).
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::net::TcpListener;
    use std::thread;

    /// Serves `responses` in order, one per connection, and returns the raw requests seen.
    fn serve(responses: Vec<Vec<u8>>) -> (String, thread::JoinHandle<Vec<Vec<u8>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let handle = thread::spawn(move || {
            let mut seen = Vec::new();
            for resp in responses {
                let (stream, _) = listener.accept().unwrap();
                let mut reader = BufReader::new(stream);
                let mut req = Vec::new();
                let mut content_length = 0usize;
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    req.extend_from_slice(line.as_bytes());
                    let lower = line.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        content_length = v.trim().parse().unwrap();
                    }
                    if line == "\r\n" || line.is_empty() {
                        break;
                    }
                }
                let mut body = vec![0u8; content_length];
                reader.read_exact(&mut body).unwrap();
                req.extend_from_slice(&body);
                seen.push(req);
                let mut stream = reader.into_inner();
                stream.write_all(&resp).unwrap();
            }
            seen
        });
        (format!("http://{addr}"), handle)
    }

    #[test]
    fn get_with_content_length() {
        let (base, h) = serve(vec![
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"a\":\"b\"}\n\nEXTRA"
                .to_vec(),
        ]);
        let c = Client::new(&base).unwrap();
        let r = c.get("/api/v1/query?query=up").unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("Content-Type"), Some("application/json"));
        assert_eq!(r.text(), "{\"a\":\"b\"}\n\n");
        let seen = h.join().unwrap();
        let req = String::from_utf8(seen[0].clone()).unwrap();
        assert!(
            req.starts_with("GET /api/v1/query?query=up HTTP/1.1\r\n"),
            "{req}"
        );
        assert!(req.contains("Connection: close\r\n"));
    }

    #[test]
    fn post_body_and_chunked_response() {
        let (base, h) = serve(vec![
            b"HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7;x=y\r\n, world\r\n0\r\n\r\n".to_vec(),
        ]);
        let c = Client::new(&base).unwrap();
        let r = c
            .post(
                "/api/v1/write",
                &[("Content-Encoding", "snappy")],
                b"\x00\x01binary",
            )
            .unwrap();
        assert_eq!(r.status, 400);
        assert_eq!(r.text(), "hello, world");
        let seen = h.join().unwrap();
        let req = &seen[0];
        assert!(req.ends_with(b"\r\n\r\n\x00\x01binary"));
        let text = String::from_utf8_lossy(req);
        assert!(text.contains("Content-Length: 8\r\n"), "{text}");
        assert!(text.contains("Content-Encoding: snappy\r\n"), "{text}");
    }

    #[test]
    fn body_until_eof_without_length() {
        let (base, h) = serve(vec![b"HTTP/1.0 204 No Content\r\n\r\n".to_vec()]);
        let r = Client::new(&base).unwrap().get("/").unwrap();
        assert_eq!(r.status, 204);
        assert!(r.body.is_empty());
        h.join().unwrap();
    }

    #[test]
    fn malformed_responses_are_errors() {
        assert!(parse_response(b"garbage").is_err());
        assert!(parse_response(b"SPDY 200 OK\r\n\r\n").is_err());
        assert!(parse_response(b"HTTP/1.1 abc OK\r\n\r\n").is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort").is_err());
        assert!(
            parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").is_err()
        );
        assert!(
            parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nabc")
                .is_err()
        );
    }

    #[test]
    fn bad_base_urls() {
        assert!(Client::new("https://x:1").is_err());
        assert!(Client::new("http://").is_err());
        assert!(Client::new("http://localhost").is_err());
        let c = Client::new("http://127.0.0.1:9090/prefix/").unwrap();
        assert_eq!(c.authority(), "127.0.0.1:9090");
        assert_eq!(c.prefix, "/prefix");
    }

    #[test]
    fn url_encoding() {
        assert_eq!(url_encode("a-b_c.d~"), "a-b_c.d~");
        assert_eq!(
            url_encode("sum(x{a=\"b c\"}[5m])"),
            "sum%28x%7Ba%3D%22b%20c%22%7D%5B5m%5D%29"
        );
        assert_eq!(url_encode("é+&"), "%C3%A9%2B%26");
    }
}

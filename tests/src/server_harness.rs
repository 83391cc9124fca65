//! Runs a real `strata` binary on a loopback port and talks HTTP to it.
//!
//! The harness builds nothing: callers pass the binary's path (in the server package's tests,
//! `env!("CARGO_BIN_EXE_strata")`). [`Strata::start`] runs `strata serve --listen
//! 127.0.0.1:0 --data-dir DIR`, reads the `listening on http://ADDR` line from its stdout and
//! returns once the server answers. Requests go through a tiny blocking HTTP/1.1 client over
//! `std::net::TcpStream` (one connection per request, `Connection: close`). The process is
//! stopped by its PID only: SIGTERM through the `kill` command, or SIGKILL through
//! [`std::process::Child::kill`]; a harness dropped while its server still runs kills it.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use strata_ingest::encode::{snappy, write_request_v1, write_request_v2, TimeSeries};

/// How long a start or a stop may take before the harness gives up.
const PROCESS_TIMEOUT: Duration = Duration::from_secs(60);
/// Read/write timeout of one HTTP request.
const IO_TIMEOUT: Duration = Duration::from_secs(60);

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A running `strata serve` child process.
pub struct Strata {
    child: Option<Child>,
    /// The address it listens on.
    pub addr: SocketAddr,
    /// Its data directory.
    pub data_dir: PathBuf,
}

/// One HTTP response.
#[derive(Clone, Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers, names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked).
    pub body: Vec<u8>,
}

impl Response {
    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Strata {
    /// Starts `bin serve --listen 127.0.0.1:0 --data-dir data_dir` plus `extra` arguments,
    /// and waits until it prints its address.
    pub fn start(bin: &Path, data_dir: &Path, extra: &[&str]) -> io::Result<Strata> {
        let mut child = Command::new(bin)
            .arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(data_dir)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("no stdout"))?;
        let (tx, rx) = mpsc::channel();
        // Reads the address line, then keeps draining stdout so the child never blocks on it.
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if !sent {
                    let addr = line
                        .strip_prefix("listening on http://")
                        .or_else(|| line.strip_prefix("listening on https://"));
                    if let Some(a) = addr {
                        let _ = tx.send(a.trim().to_string());
                        sent = true;
                    }
                }
            }
        });
        let addr = match rx.recv_timeout(PROCESS_TIMEOUT) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                let status = child.wait()?;
                return Err(io::Error::other(format!(
                    "strata did not print its address (exit status {status})"
                )));
            }
        };
        let addr: SocketAddr = addr
            .parse()
            .map_err(|e| io::Error::other(format!("bad address {addr:?}: {e}")))?;
        Ok(Strata {
            child: Some(child),
            addr,
            data_dir: data_dir.to_path_buf(),
        })
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Sends SIGTERM (by PID) and waits for the process to exit.
    pub fn terminate(self) -> io::Result<ExitStatus> {
        self.sigterm()?;
        self.wait()
    }

    /// Sends SIGTERM (by PID) without waiting; see [`Strata::wait`].
    pub fn sigterm(&self) -> io::Result<()> {
        let pid = self.pid();
        let ok = Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()?
            .success();
        if ok {
            Ok(())
        } else {
            Err(io::Error::other(format!("kill -TERM {pid} failed")))
        }
    }

    /// Waits for the process to exit by itself (after [`Strata::sigterm`]).
    pub fn wait(mut self) -> io::Result<ExitStatus> {
        let mut child = self
            .child
            .take()
            .ok_or_else(|| io::Error::other("already stopped"))?;
        wait_timeout(&mut child, PROCESS_TIMEOUT)
    }

    /// Kills the process with SIGKILL (no chance to flush) and reaps it.
    pub fn kill9(mut self) -> io::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// Sends a raw request with extra `headers`.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<Response> {
        http_request(self.addr, method, path, headers, body)
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> io::Result<Response> {
        self.request("GET", path, &[], &[])
    }

    /// The value of one sample of `/metrics`, named as printed with its labels
    /// (`strata_ingest_rejected_total{reason="too_old"}`). Panics if it is missing or not an
    /// integer.
    pub fn metric(&self, series: &str) -> u64 {
        let text = self.get("/metrics").expect("GET /metrics").text();
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{series} ")))
            .unwrap_or_else(|| panic!("no {series} in /metrics"))
            .parse()
            .unwrap_or_else(|e| panic!("{series}: {e}"))
    }

    /// `POST path` with a form-encoded body.
    pub fn post_form(&self, path: &str, form: &str) -> io::Result<Response> {
        self.request(
            "POST",
            path,
            &[("Content-Type", "application/x-www-form-urlencoded")],
            form.as_bytes(),
        )
    }

    /// Remote-write 1.0 of `series` to `/api/v1/write`.
    pub fn write_v1(&self, series: &[TimeSeries]) -> io::Result<Response> {
        self.write_raw("application/x-protobuf", &snappy(&write_request_v1(series)))
    }

    /// Remote-write 2.0 of `series` to `/api/v1/write`.
    pub fn write_v2(&self, series: &[TimeSeries]) -> io::Result<Response> {
        self.write_raw(
            "application/x-protobuf;proto=io.prometheus.write.v2.Request",
            &snappy(&write_request_v2(series)),
        )
    }

    /// Posts a remote-write body with the given content type and `Content-Encoding: snappy`.
    pub fn write_raw(&self, content_type: &str, body: &[u8]) -> io::Result<Response> {
        self.request(
            "POST",
            "/api/v1/write",
            &[
                ("Content-Type", content_type),
                ("Content-Encoding", "snappy"),
                ("X-Prometheus-Remote-Write-Version", "0.1.0"),
            ],
            body,
        )
    }
}

impl Drop for Strata {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn wait_timeout(child: &mut Child, timeout: Duration) -> io::Result<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(s) = child.try_wait()? {
            return Ok(s);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::other("process did not exit in time; killed"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Percent-encodes a query-string or form value.
pub fn urlencode(s: &str) -> String {
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

/// One HTTP/1.1 request on a fresh connection.
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<Response> {
    let mut s = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    // The server may answer (413) before reading the whole body; keep going to read it.
    let write_err = s.write_all(body).err();
    let mut raw = Vec::new();
    let read_res = s.read_to_end(&mut raw);
    if raw.is_empty() {
        if let Some(e) = write_err {
            return Err(e);
        }
        read_res?;
    }
    parse_response(&raw)
}

/// One keep-alive HTTP/1.1 connection, as a remote-write sender keeps one per shard. Every
/// error is returned, never retried: a reset or a closed connection is the caller's finding
/// (the overload test counts them). Responses must carry `Content-Length` or have no body
/// (204), which is how Strata answers.
pub struct KeepAlive {
    conn: BufReader<TcpStream>,
}

impl KeepAlive {
    /// Connects to `addr`.
    pub fn connect(addr: SocketAddr) -> io::Result<KeepAlive> {
        let s = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
        s.set_read_timeout(Some(IO_TIMEOUT))?;
        s.set_write_timeout(Some(IO_TIMEOUT))?;
        s.set_nodelay(true)?;
        Ok(KeepAlive {
            conn: BufReader::new(s),
        })
    }

    /// Sends one request and reads its response; the bool says the server keeps the
    /// connection open (no `Connection: close`).
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<(Response, bool)> {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: strata\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (n, v) in headers {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
        head.push_str("\r\n");
        let s = self.conn.get_mut();
        s.write_all(head.as_bytes())?;
        s.write_all(body)?;
        let mut raw = Vec::new();
        loop {
            let n = self.conn.read_until(b'\n', &mut raw)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed before the end of the response headers",
                ));
            }
            if raw.ends_with(b"\r\n\r\n") {
                break;
            }
            if raw.len() > 64 << 10 {
                return Err(io::Error::other("response headers too large"));
            }
        }
        let (status, headers) = parse_head(&raw[..raw.len() - 4])?;
        let mut r = Response {
            status,
            headers,
            body: Vec::new(),
        };
        if r.header("transfer-encoding").is_some() {
            return Err(io::Error::other(
                "chunked response on a keep-alive connection",
            ));
        }
        let len = match r.header("content-length") {
            Some(v) => v
                .parse::<usize>()
                .map_err(|_| io::Error::other(format!("bad Content-Length {v:?}")))?,
            None => 0,
        };
        let mut body = vec![0; len];
        self.conn.read_exact(&mut body)?;
        r.body = body;
        let open = !r
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        Ok((r, open))
    }
}

fn bad(m: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, m.to_string())
}

/// The status and headers (names lower-cased) of a response head without its final blank
/// line.
fn parse_head(head: &[u8]) -> io::Result<(u16, Vec<(String, String)>)> {
    let head = std::str::from_utf8(head).map_err(|_| bad("non-UTF-8 headers"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().ok_or_else(|| bad("no status line"))?;
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| bad("bad status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok((status, headers))
}

fn parse_response(raw: &[u8]) -> io::Result<Response> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let (status, headers) = parse_head(&raw[..end])?;
    let rest = &raw[end + 4..];
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        dechunk(rest).ok_or_else(|| bad("bad chunked body"))?
    } else if let Some(len) = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
    {
        rest.get(..len).ok_or_else(|| bad("short body"))?.to_vec()
    } else {
        rest.to_vec()
    };
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&b[..eol]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        b = &b[eol + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(..size)?);
        b = b.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_responses() {
        let r = parse_response(b"HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n").unwrap();
        assert_eq!(r.status, 204);
        assert_eq!(r.header("x-a"), Some("1"));
        let r = parse_response(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhiXX").unwrap();
        assert_eq!(r.body, b"hi");
        let r = parse_response(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nhi\r\n1\r\n!\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.body, b"hi!");
        assert!(parse_response(b"garbage").is_err());
    }

    #[test]
    fn encodes_urls() {
        assert_eq!(urlencode("up{a=\"b\"}"), "up%7Ba%3D%22b%22%7D");
    }
}

//! The load generator behind `strata-loadgen`: a canary-fleet workload, pre-built
//! remote-write payloads on disk, and a replayer that measures the receiving server.
//!
//! - [`workload`]: the fleet model (counters with resets, classic histograms, gauges, `up`,
//!   15 s scrapes with jitter and a few late scrapes).
//! - [`generate`]: the fleet as remote-write 1.0 request bodies, ~2000 series per request.
//! - [`payload`]: the on-disk format of those bodies and the manifest.
//! - [`http`]: a minimal blocking HTTP/1.1 keep-alive client.
//! - [`replay`]: sends the bodies round by round with C connections and measures.
//! - [`procstat`]: CPU time and RSS of a process from `/proc`.
//! - [`overload`]: finds the sustainable write rate, drives twice that open-loop, and
//!   checks shedding, queries, RSS and recovery.
//!
//! See `benches/README.md` for usage.

pub mod generate;
pub mod http;
pub mod overload;
pub mod payload;
pub mod procstat;
pub mod replay;
pub mod workload;

/// For the test servers of this module's tests.
#[cfg(test)]
pub(crate) mod test_http {
    use std::io::BufRead;

    /// Reads one HTTP/1.1 request (request line, headers, `Content-Length` body); `None` at
    /// the end of the connection or on a malformed request.
    pub fn read_request(r: &mut impl BufRead) -> Option<(String, Vec<u8>)> {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let mut len = 0usize;
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).ok()? == 0 {
                return None;
            }
            let h = h.trim_end().to_ascii_lowercase();
            if h.is_empty() {
                break;
            }
            if let Some(v) = h.strip_prefix("content-length:") {
                len = v.trim().parse().ok()?;
            }
        }
        let mut body = vec![0; len];
        r.read_exact(&mut body).ok()?;
        Some((line, body))
    }
}

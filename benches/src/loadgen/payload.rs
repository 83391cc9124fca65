//! Pre-built remote-write payloads on disk: `payloads.bin` plus `manifest.json`.
//!
//! `payloads.bin` is a sequence of records, each one remote-write request body exactly as a
//! sender puts it on the wire (snappy-compressed `WriteRequest`):
//!
//! ```text
//! u32 round      scrape round the request belongs to (non-decreasing through the file)
//! u32 samples    samples in the request
//! u32 len        body length in bytes
//! len bytes      the body
//! ```
//!
//! All integers are little-endian. `manifest.json` is one JSON object with the totals (see
//! [`Manifest`]). The reader checks every header against the file and the manifest and fails
//! with an error on any mismatch; it never trusts a length before checking it against a cap.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// Name of the data file inside a payload directory.
pub const DATA_FILE: &str = "payloads.bin";
/// Name of the manifest inside a payload directory.
pub const MANIFEST_FILE: &str = "manifest.json";
/// Format tag written into the manifest.
pub const FORMAT: &str = "strata-loadgen/1";
/// Largest request body the reader accepts (a sanity cap against corrupt headers).
pub const MAX_BODY: u32 = 64 << 20;

/// Totals of a payload directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    /// Distinct series.
    pub series: u64,
    /// Samples over all requests.
    pub samples: u64,
    /// Requests (records in the data file).
    pub requests: u64,
    /// Scrape rounds.
    pub rounds: u64,
    /// Series per request, as asked for.
    pub batch_series: u64,
    /// Smallest sample timestamp (ms).
    pub min_time: i64,
    /// Largest sample timestamp (ms).
    pub max_time: i64,
    /// Total bytes of request bodies.
    pub body_bytes: u64,
    /// Seed the workload was generated with.
    pub seed: u64,
    /// Remote-write protocol of the bodies: 1 (`prometheus.WriteRequest`) or 2
    /// (`io.prometheus.write.v2.Request`). Manifests without the field are 1.
    pub protocol: u8,
}

impl Manifest {
    /// The manifest as a single-line JSON object.
    pub fn to_json(&self) -> String {
        format!(
            "{{\"format\":\"{FORMAT}\",\"series\":{},\"samples\":{},\"requests\":{},\
             \"rounds\":{},\"batch_series\":{},\"min_time\":{},\"max_time\":{},\
             \"body_bytes\":{},\"seed\":{},\"protocol\":{}}}",
            self.series,
            self.samples,
            self.requests,
            self.rounds,
            self.batch_series,
            self.min_time,
            self.max_time,
            self.body_bytes,
            self.seed,
            self.protocol
        )
    }

    /// Parses a manifest written by [`Manifest::to_json`].
    pub fn from_json(text: &str) -> Result<Manifest, String> {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("manifest is not JSON: {e}"))?;
        if v.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
            return Err(format!("manifest format is not {FORMAT:?}"));
        }
        let u = |k: &str| {
            v.get(k)
                .and_then(|x| x.as_u64())
                .ok_or_else(|| format!("manifest: missing or invalid {k:?}"))
        };
        let i = |k: &str| {
            v.get(k)
                .and_then(|x| x.as_i64())
                .ok_or_else(|| format!("manifest: missing or invalid {k:?}"))
        };
        Ok(Manifest {
            series: u("series")?,
            samples: u("samples")?,
            requests: u("requests")?,
            rounds: u("rounds")?,
            batch_series: u("batch_series")?,
            min_time: i("min_time")?,
            max_time: i("max_time")?,
            body_bytes: u("body_bytes")?,
            seed: u("seed")?,
            protocol: match v.get("protocol") {
                None => 1,
                Some(p) => match p.as_u64() {
                    Some(1) => 1,
                    Some(2) => 2,
                    _ => return Err(format!("manifest: protocol {p} is not 1 or 2")),
                },
            },
        })
    }

    /// Reads `dir/manifest.json`.
    pub fn load(dir: &Path) -> Result<Manifest, String> {
        let path = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Manifest::from_json(&text)
    }
}

/// Appends records to a data file.
pub struct PayloadWriter {
    out: BufWriter<File>,
    path: PathBuf,
    last_round: u32,
}

impl PayloadWriter {
    /// Creates (truncating) `dir/payloads.bin`.
    pub fn create(dir: &Path) -> io::Result<PayloadWriter> {
        let path = dir.join(DATA_FILE);
        let f = File::create(&path)?;
        Ok(PayloadWriter {
            out: BufWriter::with_capacity(1 << 20, f),
            path,
            last_round: 0,
        })
    }

    /// Writes one request body of `round`. Rounds must not decrease.
    pub fn write(&mut self, round: u32, samples: u32, body: &[u8]) -> io::Result<()> {
        if round < self.last_round {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "payload rounds must not decrease",
            ));
        }
        let len = u32::try_from(body.len())
            .ok()
            .filter(|&l| l <= MAX_BODY)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "request body too big"))?;
        self.last_round = round;
        self.out.write_all(&round.to_le_bytes())?;
        self.out.write_all(&samples.to_le_bytes())?;
        self.out.write_all(&len.to_le_bytes())?;
        self.out.write_all(body)
    }

    /// Flushes and syncs the file.
    pub fn finish(mut self) -> io::Result<PathBuf> {
        self.out.flush()?;
        self.out.get_ref().sync_all()?;
        Ok(self.path)
    }
}

/// One request read back.
#[derive(Clone, Debug)]
pub struct Request {
    /// Its scrape round.
    pub round: u32,
    /// Samples it holds.
    pub samples: u32,
    /// The body to POST.
    pub body: Vec<u8>,
}

/// Reads a data file round by round.
pub struct PayloadReader<R> {
    inp: R,
    pending: Option<Request>,
    last_round: Option<u32>,
}

impl PayloadReader<BufReader<File>> {
    /// Opens `dir/payloads.bin`.
    pub fn open(dir: &Path) -> io::Result<Self> {
        let f = File::open(dir.join(DATA_FILE))?;
        Ok(PayloadReader::new(BufReader::with_capacity(1 << 20, f)))
    }
}

fn bad(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

impl<R: Read> PayloadReader<R> {
    /// Reads records from `inp`.
    pub fn new(inp: R) -> Self {
        PayloadReader {
            inp,
            pending: None,
            last_round: None,
        }
    }

    /// The next record, `None` at a clean end of file.
    fn next_request(&mut self) -> io::Result<Option<Request>> {
        let mut hdr = [0u8; 12];
        let mut got = 0;
        while got < hdr.len() {
            let n = self.inp.read(&mut hdr[got..])?;
            if n == 0 {
                if got == 0 {
                    return Ok(None);
                }
                return Err(bad(format!("truncated record header ({got} of 12 bytes)")));
            }
            got += n;
        }
        let word = |i: usize| u32::from_le_bytes([hdr[i], hdr[i + 1], hdr[i + 2], hdr[i + 3]]);
        let (round, samples, len) = (word(0), word(4), word(8));
        if len > MAX_BODY {
            return Err(bad(format!("record length {len} exceeds cap {MAX_BODY}")));
        }
        if let Some(last) = self.last_round {
            if round < last {
                return Err(bad(format!("round {round} after round {last}")));
            }
        }
        self.last_round = Some(round);
        let mut body = vec![0u8; len as usize];
        self.inp
            .read_exact(&mut body)
            .map_err(|e| bad(format!("truncated record body: {e}")))?;
        Ok(Some(Request {
            round,
            samples,
            body,
        }))
    }

    /// All requests of the next round, `None` at the end.
    pub fn next_round(&mut self) -> io::Result<Option<Vec<Request>>> {
        let first = match self.pending.take() {
            Some(r) => r,
            None => match self.next_request()? {
                Some(r) => r,
                None => return Ok(None),
            },
        };
        let round = first.round;
        let mut out = vec![first];
        loop {
            match self.next_request()? {
                Some(r) if r.round == round => out.push(r),
                Some(r) => {
                    self.pending = Some(r);
                    break;
                }
                None => break,
            }
        }
        Ok(Some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_round_trip() {
        let m = Manifest {
            series: 10,
            samples: 100,
            requests: 20,
            rounds: 10,
            batch_series: 2000,
            min_time: -5,
            max_time: 1_700_000_000_000,
            body_bytes: 12345,
            seed: 42,
            protocol: 2,
        };
        assert_eq!(Manifest::from_json(&m.to_json()).unwrap(), m);
        // Manifests written before the protocol field are remote write 1.0.
        let old = m.to_json().replace(",\"protocol\":2", "");
        assert!(!old.contains("protocol"));
        let back = Manifest::from_json(&old).unwrap();
        assert_eq!(back.protocol, 1);
        let bad = m.to_json().replace("\"protocol\":2", "\"protocol\":7");
        assert!(Manifest::from_json(&bad).is_err());
        assert!(Manifest::from_json("{}").is_err());
        assert!(Manifest::from_json("not json").is_err());
    }

    #[test]
    fn rounds_read_back_grouped() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = PayloadWriter::create(dir.path()).unwrap();
        w.write(0, 2, b"ab").unwrap();
        w.write(0, 1, b"c").unwrap();
        w.write(1, 3, b"").unwrap();
        w.write(3, 4, b"defg").unwrap();
        assert!(w.write(2, 1, b"x").is_err());
        w.finish().unwrap();
        let mut r = PayloadReader::open(dir.path()).unwrap();
        let shape = |v: Vec<Request>| -> Vec<(u32, u32, Vec<u8>)> {
            v.into_iter()
                .map(|r| (r.round, r.samples, r.body))
                .collect()
        };
        assert_eq!(
            shape(r.next_round().unwrap().unwrap()),
            vec![(0, 2, b"ab".to_vec()), (0, 1, b"c".to_vec())]
        );
        assert_eq!(
            shape(r.next_round().unwrap().unwrap()),
            vec![(1, 3, vec![])]
        );
        assert_eq!(
            shape(r.next_round().unwrap().unwrap()),
            vec![(3, 4, b"defg".to_vec())]
        );
        assert!(r.next_round().unwrap().is_none());
    }

    #[test]
    fn corrupt_files_are_errors() {
        let mut ok = Vec::new();
        ok.extend_from_slice(&0u32.to_le_bytes());
        ok.extend_from_slice(&1u32.to_le_bytes());
        ok.extend_from_slice(&3u32.to_le_bytes());
        ok.extend_from_slice(b"xyz");
        for cut in 1..ok.len() {
            let mut r = PayloadReader::new(&ok[..cut]);
            assert!(r.next_round().is_err(), "cut at {cut}");
        }
        let mut huge = ok.clone();
        huge[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(PayloadReader::new(&huge[..]).next_round().is_err());
        let mut backwards = ok.clone();
        backwards[0..4].copy_from_slice(&5u32.to_le_bytes());
        backwards.extend_from_slice(&ok);
        let mut r = PayloadReader::new(&backwards[..]);
        assert!(r.next_round().is_err());
    }
}

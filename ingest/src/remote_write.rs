//! Remote-write request decoding: snappy block, then `prometheus.WriteRequest` (v1) or
//! `io.prometheus.write.v2.Request` (v2), straight into a [`Batch`].
//!
//! Decoding borrows every label string from the decompressed buffer and keeps each valid
//! series as `&str` pairs plus a span of one shared sample buffer. [`write`] then looks the
//! series up with [`Db::lookup`], which finds an existing series without allocating; only new
//! series get an owned label set, and [`Db::append`] creates them within the engine's series
//! limits. [`decode`] (fuzzing, benchmarks, tools) runs the very same decoding and only then
//! builds one [`Labels`] and one sample vector per series, so what the fuzzer and the `ingest`
//! benchmark exercise is the server's path. The whole body is decoded before anything is
//! appended (or resolved), so a protobuf error anywhere stores nothing; series-level
//! problems (bad labels, native histograms, future timestamps) are collected and the valid
//! series are still stored. Metric metadata is collected for the server (best effort).
//!
//! Wire layout (field numbers from reference remote-write.md sections 4 and 8):
//!
//! ```text
//! v1 WriteRequest   1: TimeSeries*   3: MetricMetadata* (collected)
//!    TimeSeries     1: Label*  2: Sample*  3: Exemplar* (counted)  4: Histogram* (rejected)
//!    Label          1: name  2: value
//!    Sample         1: value (double)  2: timestamp (int64 ms)
//! v2 Request        4: symbols (string*, [0] = "")   5: TimeSeries*
//!    TimeSeries     1: labels_refs (uint32*, pairs)  2: Sample*  3: Histogram*  4: Exemplar*
//!                   5: Metadata (collected)  6: created_timestamp (skipped)
//!    Exemplar       1: labels_refs  2: value  3: timestamp
//!    Metadata       1: type  3: help_ref  4: unit_ref
//! ```
//!
//! Exemplars are validated (v2 symbol refs) and counted in `exemplars_written` but not stored:
//! Strata has no exemplar storage yet, and Prometheus itself acknowledges exemplars that its
//! disabled exemplar storage drops.

use std::time::{SystemTime, UNIX_EPOCH};

use strata_engine::{Batch, Db, Label, Labels, Sample, SeriesHandle};

use crate::error::{Error, Result};
use crate::limits::Limits;
use crate::metadata::{family_name, MetadataSet, MetricMetadata, MetricType};
use crate::negotiate::Protocol;
use crate::proto::{DResult, Kind, Reader, I64, LEN, VARINT};
use crate::summary::{Problems, WriteSummary};
use crate::validate::{check, describe, utf8_pairs, RawLabel, Reject};

/// The first bytes of a framed ("streaming") snappy body: a stream identifier chunk.
const FRAMED_SNAPPY_MAGIC: [u8; 10] = [0xff, 0x06, 0x00, 0x00, b's', b'N', b'a', b'P', b'p', b'Y'];

/// A decoded and validated request, ready to append.
#[derive(Debug, Default)]
pub struct DecodedWrite {
    /// The valid series and their samples, in request order (samples in the order sent).
    pub series: Vec<(Labels, Vec<Sample>)>,
    /// Counts and problems found while decoding (`append` is still empty).
    pub summary: WriteSummary,
}

impl DecodedWrite {
    /// Total samples in [`DecodedWrite::series`].
    pub fn num_samples(&self) -> usize {
        self.series.iter().map(|(_, s)| s.len()).sum()
    }

    /// Moves the series into an engine [`Batch`], returning it with the summary.
    pub fn into_batch(self) -> (Batch, WriteSummary) {
        let mut batch = Batch::new();
        for (l, s) in self.series {
            batch.push(l, s);
        }
        (batch, self.summary)
    }
}

/// Decompresses, decodes and validates a remote-write body without touching storage.
/// `now_ms` is the receiver's clock for the future-timestamp check.
///
/// Errors: [`Error::BodyTooLarge`] (checked before allocating), [`Error::Snappy`],
/// [`Error::Protobuf`]. Invalid series and samples are reported in the summary instead.
pub fn decode(proto: Protocol, body: &[u8], limits: &Limits, now_ms: i64) -> Result<DecodedWrite> {
    let buf = decompress(body, limits)?;
    let mut out = Collect(Vec::new());
    let mut sink = Sink::new(limits, now_ms, &mut out);
    run(proto, &buf, &mut sink)?;
    let summary = sink.finish();
    Ok(DecodedWrite {
        series: out.0,
        summary,
    })
}

/// [`decode`]'s output: every valid series with its labels built.
struct Collect(Vec<(Labels, Vec<Sample>)>);

impl SeriesOut for Collect {
    fn find(&mut self, _raw: &[(&[u8], &[u8])]) -> Option<SeriesHandle> {
        None
    }
    fn push_known(&mut self, series: SeriesHandle, samples: &[Sample]) {
        self.0.push((series.labels().clone(), samples.to_vec()));
    }
    fn push_new(&mut self, pairs: &[(&str, &str)], samples: &[Sample]) {
        self.0.push((labels_of(pairs), samples.to_vec()));
    }
}

/// [`write`]'s output: series the database holds are looked up as soon as they are decoded,
/// the others are pushed by labels for [`Db::append`] to create.
struct ToBatch<'d> {
    db: &'d Db,
    batch: Batch,
}

impl SeriesOut for ToBatch<'_> {
    fn find(&mut self, raw: &[(&[u8], &[u8])]) -> Option<SeriesHandle> {
        self.db.lookup_bytes(raw)
    }
    fn push_known(&mut self, series: SeriesHandle, samples: &[Sample]) {
        self.batch.push_series(series, samples);
    }
    fn push_new(&mut self, pairs: &[(&str, &str)], samples: &[Sample]) {
        // Already validated: sorted, unique, no empty name or value.
        self.batch.push(labels_of(pairs), samples.to_vec());
    }
}

/// Decodes and validates `buf` into `sink`.
fn run<'a>(proto: Protocol, buf: &'a [u8], sink: &mut Sink<'a, '_>) -> Result<()> {
    let res = match proto {
        Protocol::V1 => decode_v1(buf, sink),
        Protocol::V2 => decode_v2(buf, sink),
    };
    res.map_err(|e| Error::Protobuf(format!("{}: {e}", proto.message_name())))
}

/// Decompresses, decodes, validates and appends a remote-write body to `db`.
///
/// Returns `Err` only when nothing could be stored: size limits, snappy or protobuf errors,
/// or a storage failure. Partial problems are in the returned [`WriteSummary`]; check
/// [`WriteSummary::is_clean`].
pub fn write(db: &Db, proto: Protocol, body: &[u8], limits: &Limits) -> Result<WriteSummary> {
    let buf = decompress(body, limits)?;
    // Each valid series is looked up as soon as it is decoded, while its labels are at hand;
    // nothing is created before the whole body has decoded (`append` below creates the new
    // ones, within the series limits).
    let mut out = ToBatch {
        db,
        batch: Batch::new(),
    };
    let mut sink = Sink::new(limits, now_ms(), &mut out);
    run(proto, &buf, &mut sink)?;
    let mut summary = sink.finish();
    let batch = out.batch;
    if !batch.is_empty() {
        let report = db.append(&batch)?;
        let mut p = Problems::default();
        summary.samples_rejected += p.add_append_report(&report);
        summary.samples_written = report.appended + report.duplicates;
        summary.problems.extend(p.finish());
        summary.append = report;
    }
    Ok(summary)
}

/// Milliseconds since the Unix epoch by the system clock (0 if the clock is before 1970).
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn decompress(body: &[u8], limits: &Limits) -> Result<Vec<u8>> {
    if body.len() > limits.max_body_bytes {
        return Err(Error::BodyTooLarge {
            what: "request body",
            size: body.len() as u64,
            limit: limits.max_body_bytes as u64,
        });
    }
    if body.starts_with(&FRAMED_SNAPPY_MAGIC) {
        return Err(Error::Snappy(
            "body is framed (streaming) snappy; remote write requires the snappy block format"
                .into(),
        ));
    }
    let len = snap::raw::decompress_len(body).map_err(|e| Error::Snappy(e.to_string()))?;
    if len > limits.max_decoded_bytes {
        return Err(Error::BodyTooLarge {
            what: "decoded body",
            size: len as u64,
            limit: limits.max_decoded_bytes as u64,
        });
    }
    let mut out = vec![0u8; len];
    let n = snap::raw::Decoder::new()
        .decompress(body, &mut out)
        .map_err(|e| Error::Snappy(e.to_string()))?;
    out.truncate(n);
    Ok(out)
}

/// Per-series scratch space, reused across the series of one request.
struct Scratch<'a> {
    labels: Vec<RawLabel<'a>>,
    label_count: usize,
    refs: Vec<u32>,
    ref_count: usize,
    samples: Vec<Sample>,
    histograms: u64,
    exemplars: u64,
    bad_exemplar: Option<String>,
    /// v2 `TimeSeries.metadata`: (type, help_ref, unit_ref).
    meta: Option<(MetricType, u32, u32)>,
}

impl<'a> Scratch<'a> {
    fn new() -> Self {
        Scratch {
            labels: Vec::new(),
            label_count: 0,
            refs: Vec::new(),
            ref_count: 0,
            samples: Vec::new(),
            histograms: 0,
            exemplars: 0,
            bad_exemplar: None,
            meta: None,
        }
    }

    fn reset(&mut self) {
        self.labels.clear();
        self.label_count = 0;
        self.refs.clear();
        self.ref_count = 0;
        self.histograms = 0;
        self.exemplars = 0;
        self.bad_exemplar = None;
        self.meta = None;
        // `samples` is copied and cleared by `Sink::finish_series`.
    }
}

/// Where [`Sink`] hands each valid series, with its samples (borrowed for the call only).
trait SeriesOut {
    /// The series this output already holds whose labels are exactly `raw` (bytes, in name
    /// order, no empty value), if any. Its labels were checked when it was created, so the
    /// sink does not check that the request's bytes are UTF-8 again.
    fn find(&mut self, raw: &[(&[u8], &[u8])]) -> Option<SeriesHandle>;
    /// Samples of a series [`SeriesOut::find`] returned.
    fn push_known(&mut self, series: SeriesHandle, samples: &[Sample]);
    /// Samples of a series with these validated labels (in name order, unique, no empty
    /// value).
    fn push_new(&mut self, pairs: &[(&str, &str)], samples: &[Sample]);
}

/// Validates decoded series and hands the valid ones to its output one at a time, so a
/// request's labels are never all held at once.
struct Sink<'a, 'o> {
    limits: &'a Limits,
    max_t: i64,
    /// The labels of the series being finished, in name order, without empty values: as
    /// bytes, then (for a series the output does not hold) as checked UTF-8.
    raw: Vec<(&'a [u8], &'a [u8])>,
    pairs: Vec<(&'a str, &'a str)>,
    out: &'o mut (dyn SeriesOut + 'o),
    summary: WriteSummary,
    problems: Problems,
    metadata: MetadataSet,
}

impl<'a, 'o> Sink<'a, 'o> {
    fn new(limits: &'a Limits, now_ms: i64, out: &'o mut (dyn SeriesOut + 'o)) -> Self {
        Sink {
            limits,
            max_t: now_ms.saturating_add(limits.max_future_ms),
            raw: Vec::new(),
            pairs: Vec::new(),
            out,
            summary: WriteSummary::default(),
            problems: Problems::default(),
            metadata: MetadataSet::default(),
        }
    }

    /// The summary of the decoding (`append` still empty).
    fn finish(&mut self) -> WriteSummary {
        let mut summary = std::mem::take(&mut self.summary);
        summary.problems = std::mem::take(&mut self.problems).finish();
        summary.metadata = std::mem::take(&mut self.metadata).into_vec();
        summary
    }

    fn reject_series(&mut self, s: &mut Scratch<'a>, why: &Reject) {
        self.summary.series_rejected += 1;
        self.summary.samples_rejected += s.samples.len() as u64;
        self.summary.histograms_rejected += s.histograms;
        let d = describe(&s.labels, s.label_count);
        self.problems.push(|| format!("series {d} rejected: {why}"));
        s.samples.clear();
    }

    fn finish_series(&mut self, s: &mut Scratch<'a>, labels: std::result::Result<(), Reject>) {
        if let Err(why) = labels {
            self.reject_series(s, &why);
            return;
        }
        if let Err(why) = check(&mut s.labels, s.label_count, self.limits) {
            self.reject_series(s, &why);
            return;
        }
        self.raw.clear();
        self.raw.extend(
            s.labels
                .iter()
                .filter(|l| !l.value.is_empty())
                .map(|l| (l.name, l.value)),
        );
        // A series the output holds had its labels checked when it was created: only the
        // others have their bytes checked for UTF-8.
        let known = self.out.find(&self.raw);
        self.pairs.clear();
        if known.is_none() {
            if let Err(why) = utf8_pairs(&s.labels, &mut self.pairs) {
                self.reject_series(s, &why);
                return;
            }
        }
        let pairs = &self.pairs[..];
        let show = || match &known {
            Some(series) => series.labels().clone(),
            None => labels_of(pairs),
        };
        series_problems(&mut self.summary, &mut self.problems, s, self.max_t, &show);
        if !s.samples.is_empty() {
            match known {
                Some(series) => self.out.push_known(series, &s.samples),
                None => self.out.push_new(pairs, &s.samples),
            }
        }
        s.samples.clear();
    }
}

/// The label set of pairs that passed [`check`] and [`utf8_pairs`] (sorted by name, unique,
/// no empty values).
fn labels_of(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_sorted_unchecked(pairs.iter().map(|&(n, v)| Label::new(n, v)).collect())
}

/// The problems of a series with valid labels (shown by `labels`, called only for a message):
/// native histograms, a bad exemplar, samples too far in the future (removed from
/// `s.samples`).
fn series_problems(
    summary: &mut WriteSummary,
    problems: &mut Problems,
    s: &mut Scratch<'_>,
    max_t: i64,
    labels: &dyn Fn() -> Labels,
) {
    if s.histograms > 0 {
        summary.histograms_rejected += s.histograms;
        let n = s.histograms;
        problems.push(|| {
            format!(
                "series {}: native histograms are not supported ({n} histogram \
                 samples rejected)",
                labels()
            )
        });
    }
    if let Some(why) = s.bad_exemplar.take() {
        problems.push(|| format!("series {}: {why}", labels()));
    }
    summary.exemplars_written += s.exemplars;
    if s.samples.iter().any(|x| x.t > max_t) {
        let first = s.samples.iter().find(|x| x.t > max_t).map_or(0, |x| x.t);
        let before = s.samples.len();
        s.samples.retain(|x| x.t <= max_t);
        let n = (before - s.samples.len()) as u64;
        summary.samples_rejected += n;
        problems.push(|| {
            format!(
                "series {}: {n} samples too far in the future (first at timestamp \
                 {first}, limit {max_t})",
                labels()
            )
        });
    }
}

#[inline]
fn wrong_wire<T>(r: &Reader<'_>) -> DResult<T> {
    r.fail(Kind::WrongWireType)
}

/// Decodes a `Sample { double value = 1; int64 timestamp = 2; }`.
#[inline]
fn decode_sample(mut r: Reader<'_>) -> DResult<Sample> {
    let (mut t, mut v) = (0i64, 0f64);
    while !r.is_empty() {
        match r.key()? {
            (1, I64) => v = f64::from_bits(r.fixed64()?),
            (2, VARINT) => t = r.varint()? as i64,
            (1 | 2, _) => return wrong_wire(&r),
            (_, w) => r.skip(w)?,
        }
    }
    Ok(Sample { t, v })
}

fn decode_v1<'a>(buf: &'a [u8], sink: &mut Sink<'a, '_>) -> DResult<()> {
    let mut r = Reader::new(buf);
    let mut s = Scratch::new();
    let max_labels = sink.limits.max_labels_per_series;
    while !r.is_empty() {
        match r.key()? {
            (1, LEN) => {
                let mut ts = r.sub()?;
                s.reset();
                while !ts.is_empty() {
                    match ts.key()? {
                        (1, LEN) => {
                            let mut l = ts.sub()?;
                            let (mut name, mut value): (&[u8], &[u8]) = (b"", b"");
                            while !l.is_empty() {
                                match l.key()? {
                                    (1, LEN) => name = l.bytes()?,
                                    (2, LEN) => value = l.bytes()?,
                                    (1 | 2, _) => return wrong_wire(&l),
                                    (_, w) => l.skip(w)?,
                                }
                            }
                            s.label_count += 1;
                            // Past the limit the series is rejected anyway: stop collecting.
                            if s.label_count <= max_labels {
                                s.labels.push(RawLabel::new(name, value));
                            }
                        }
                        (2, LEN) => {
                            let sample = decode_sample(ts.sub()?)?;
                            s.samples.push(sample);
                        }
                        (3, LEN) => {
                            ts.sub()?;
                            s.exemplars += 1;
                        }
                        (4, LEN) => {
                            ts.sub()?;
                            s.histograms += 1;
                        }
                        (1..=4, _) => return wrong_wire(&ts),
                        (_, w) => ts.skip(w)?,
                    }
                }
                sink.finish_series(&mut s, Ok(()));
            }
            (3, LEN) => {
                if let Some(m) = decode_v1_metadata(r.sub()?)? {
                    sink.metadata.add(m);
                }
            }
            (1 | 3, _) => return wrong_wire(&r),
            // 2: reserved (Cortex `source`), anything else: skipped.
            (_, w) => r.skip(w)?,
        }
    }
    Ok(())
}

/// Decodes a v1 `MetricMetadata { type = 1; metric_family_name = 2; help = 4; unit = 5 }`;
/// `None` if a string is not UTF-8.
fn decode_v1_metadata(mut r: Reader<'_>) -> DResult<Option<MetricMetadata>> {
    let mut t = MetricType::Unknown;
    let (mut name, mut help, mut unit): (&[u8], &[u8], &[u8]) = (b"", b"", b"");
    while !r.is_empty() {
        match r.key()? {
            (1, VARINT) => t = MetricType::from_proto(r.varint()?),
            (2, LEN) => name = r.bytes()?,
            (4, LEN) => help = r.bytes()?,
            (5, LEN) => unit = r.bytes()?,
            (1 | 2 | 4 | 5, _) => return wrong_wire(&r),
            (_, w) => r.skip(w)?,
        }
    }
    let s = |b| std::str::from_utf8(b).ok().map(str::to_string);
    Ok(match (s(name), s(help), s(unit)) {
        (Some(metric_family_name), Some(help), Some(unit)) => Some(MetricMetadata {
            metric_family_name,
            metric_type: t,
            help,
            unit,
        }),
        _ => None,
    })
}

/// Decodes a v2 `Metadata { type = 1; help_ref = 3; unit_ref = 4 }`.
fn decode_v2_metadata(mut r: Reader<'_>) -> DResult<(MetricType, u32, u32)> {
    let (mut t, mut help, mut unit) = (MetricType::Unknown, 0u32, 0u32);
    while !r.is_empty() {
        match r.key()? {
            (1, VARINT) => t = MetricType::from_proto(r.varint()?),
            (3, VARINT) => help = r.varint()? as u32,
            (4, VARINT) => unit = r.varint()? as u32,
            (1 | 3 | 4, _) => return wrong_wire(&r),
            (_, w) => r.skip(w)?,
        }
    }
    Ok((t, help, unit))
}

/// Records a v2 series' metadata under its family name, once per family per request.
fn add_v2_metadata(s: &Scratch<'_>, symbols: &Symbols<'_>, set: &mut MetadataSet) {
    let Some((t, help_ref, unit_ref)) = s.meta else {
        return;
    };
    if t == MetricType::Unknown && help_ref == 0 && unit_ref == 0 {
        return;
    }
    let Some(name) = s
        .labels
        .iter()
        .find(|l| l.name == strata_engine::METRIC_NAME.as_bytes())
        .and_then(|l| std::str::from_utf8(l.value).ok())
    else {
        return;
    };
    let family = family_name(name, t);
    if set.contains(family) {
        return;
    }
    let text = |r: u32| symbols.get(r).and_then(|b| std::str::from_utf8(b).ok());
    let (Some(help), Some(unit)) = (text(help_ref), text(unit_ref)) else {
        return;
    };
    set.add(MetricMetadata {
        metric_family_name: family.to_string(),
        metric_type: t,
        help: help.to_string(),
        unit: unit.to_string(),
    });
}

/// Symbol table of a v2 request: `(offset, len)` into the decoded body (8 bytes per entry
/// instead of a 16-byte slice, since an attacker can pack a symbol into 2 wire bytes).
struct Symbols<'a> {
    buf: &'a [u8],
    spans: Vec<(u32, u32)>,
}

impl<'a> Symbols<'a> {
    #[inline]
    fn get(&self, i: u32) -> Option<&'a [u8]> {
        let &(o, l) = self.spans.get(i as usize)?;
        self.buf.get(o as usize..o as usize + l as usize)
    }

    fn len(&self) -> usize {
        self.spans.len()
    }
}

fn decode_v2<'a>(buf: &'a [u8], sink: &mut Sink<'a, '_>) -> DResult<()> {
    // Pass 1: the symbols table (fields may come in any order on the wire).
    let mut symbols = Symbols {
        buf,
        spans: Vec::new(),
    };
    let mut r = Reader::new(buf);
    let mut has_series = false;
    while !r.is_empty() {
        match r.key()? {
            (4, LEN) => {
                let start_len = r.offset();
                let b = r.bytes()?;
                let start = r.offset() - b.len();
                debug_assert!(start >= start_len);
                // Decoded bodies are bounded by `max_decoded_bytes`; refuse anything that
                // would not fit the compact span encoding rather than truncating it.
                let (Ok(o), Ok(l)) = (u32::try_from(start), u32::try_from(b.len())) else {
                    return r.fail(Kind::SymbolOffset);
                };
                symbols.spans.push((o, l));
            }
            (5, LEN) => {
                r.sub()?;
                has_series = true;
            }
            (4 | 5, _) => return wrong_wire(&r),
            (_, w) => r.skip(w)?,
        }
    }
    if let Some(first) = symbols.get(0) {
        if !first.is_empty() {
            return Reader::new(buf).fail(Kind::FirstSymbolNotEmpty);
        }
    }
    if !has_series {
        return Ok(());
    }
    // Pass 2: the series.
    let mut r = Reader::new(buf);
    let mut s = Scratch::new();
    let max_refs = sink.limits.max_labels_per_series.saturating_mul(2);
    while !r.is_empty() {
        let (f, w) = r.key()?;
        if (f, w) != (5, LEN) {
            r.skip(w)?;
            continue;
        }
        let mut ts = r.sub()?;
        s.reset();
        while !ts.is_empty() {
            match ts.key()? {
                (1, w @ (VARINT | LEN)) => {
                    let (refs, count) = (&mut s.refs, &mut s.ref_count);
                    ts.repeated_u32(w, |v| {
                        *count += 1;
                        if *count <= max_refs {
                            refs.push(v);
                        }
                        Ok(())
                    })?;
                }
                (2, LEN) => {
                    let sample = decode_sample(ts.sub()?)?;
                    s.samples.push(sample);
                }
                (3, LEN) => {
                    ts.sub()?;
                    s.histograms += 1;
                }
                (4, LEN) => {
                    let ex = ts.sub()?;
                    match check_exemplar(ex, symbols.len())? {
                        None => s.exemplars += 1,
                        Some(why) => {
                            s.bad_exemplar.get_or_insert(why);
                        }
                    }
                }
                (5, LEN) => s.meta = Some(decode_v2_metadata(ts.sub()?)?),
                (1..=5, _) => return wrong_wire(&ts),
                // 6: created timestamp, unknown: skipped.
                (_, w) => ts.skip(w)?,
            }
        }
        // A series may carry no samples (only metadata or exemplars, says the v2 proto):
        // that is accepted, it simply stores nothing.
        let resolved = resolve_refs(&mut s, &symbols);
        if resolved.is_ok() {
            add_v2_metadata(&s, &symbols, &mut sink.metadata);
        }
        sink.finish_series(&mut s, resolved);
    }
    Ok(())
}

/// Turns v2 label refs into raw label pairs in `s.labels`.
fn resolve_refs<'a>(s: &mut Scratch<'a>, symbols: &Symbols<'a>) -> std::result::Result<(), Reject> {
    s.label_count = s.ref_count.div_ceil(2);
    if s.ref_count % 2 == 1 {
        return Err(Reject::Other(format!(
            "odd number ({}) of labels_refs",
            s.ref_count
        )));
    }
    for pair in s.refs.chunks_exact(2) {
        let (Some(n), Some(v)) = (symbols.get(pair[0]), symbols.get(pair[1])) else {
            let bad = if symbols.get(pair[0]).is_none() {
                pair[0]
            } else {
                pair[1]
            };
            return Err(Reject::Other(format!(
                "label ref {bad} outside of the symbols table (size {})",
                symbols.len()
            )));
        };
        s.labels.push(RawLabel {
            name: n,
            value: v,
            refs: (pair[0], pair[1]),
        });
    }
    Ok(())
}

/// Checks a v2 exemplar's symbol refs; `Some(reason)` if it must be dropped.
fn check_exemplar(mut r: Reader<'_>, nsym: usize) -> DResult<Option<String>> {
    let mut bad = None;
    let mut count = 0usize;
    while !r.is_empty() {
        match r.key()? {
            (1, w @ (VARINT | LEN)) => r.repeated_u32(w, |v| {
                count += 1;
                if v as usize >= nsym && bad.is_none() {
                    bad = Some(v);
                }
                Ok(())
            })?,
            (_, w) => r.skip(w)?,
        }
    }
    Ok(match bad {
        Some(v) => Some(format!(
            "exemplar label ref {v} outside of the symbols table (size {nsym}), exemplar dropped"
        )),
        None if count % 2 == 1 => {
            Some("exemplar with an odd number of labels_refs, exemplar dropped".into())
        }
        None => None,
    })
}

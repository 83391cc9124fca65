//! The write-ahead log: every accepted sample is here before its append is acknowledged.
//!
//! The log is a directory of numbered segment files (`00000001`, `00000002`, ...), each an
//! 8-byte header followed by frames. A frame holds one record (a batch of series definitions
//! or a batch of samples) as `kind | len | crc32c | snappy(payload)`. The byte layout is drawn
//! in `docs/format/wal.md`.
//!
//! Invariants:
//! - **A record never spans segments**, and neither do the records of one [`Wal::write`]
//!   call: a write that does not fit in the current segment starts the next one (a write
//!   larger than `segment_size` gets a segment of its own).
//! - **Order**: records reach the file in the order of `write` calls (serialised by one
//!   lock) and, within a call, in slice order, and replay delivers them in that order. The
//!   caller writes a series record before any sample record that uses its reference.
//! - **Acknowledge after write + policy**: [`Wal::write`] returns once the bytes are in the
//!   OS; [`Wal::sync_to`] returns once they are durable as the [`SyncPolicy`] says. With
//!   `Always`, that is after an fsync that began after the write (group commit: one fsync
//!   covers every write done before it began, and concurrent callers wait for it). With
//!   `Interval(d)`, a background thread fsyncs every `d` and `sync_to` returns at once, so
//!   a machine crash (not a process crash) can lose up to `d` of acknowledged writes.
//! - **Damage drops only what is damaged**: replay stops reading a segment at the first
//!   frame that is short, fails its CRC or does not decode, truncates that segment there, and
//!   goes on with the next segment (see `repair.rs`); a segment with an unknown format
//!   version stops the open instead. Everything is reported in [`ReplayReport`] and on
//!   stderr. Bad bytes are never a panic.
//! - **Checkpoints** (`checkpoint.rs`) replace the segments before a cut with a compact copy
//!   of the head; replay reads the newest checkpoint, then the segments after it.
//! - After a failed fsync the WAL refuses further writes (the kernel may have dropped the
//!   unsynced pages, so retrying could claim durability falsely) until its owner recovers it
//!   with a fresh segment and a checkpoint of what it holds in memory (see `writer.rs`).
//!
//! Module map: record encodings live in `record.rs`, segment files in `segment.rs`,
//! frame scanning in `reader.rs`, replay and repair in `repair.rs`, and the append path with
//! group commit in `writer.rs`.

mod checkpoint;
mod reader;
mod record;
mod repair;
mod segment;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::Mutex;

use crate::error::{Error, Result};
use crate::labels::Labels;

pub use checkpoint::{checkpoint_path, list_checkpoints, CheckpointWriter};
pub use reader::{scan_segment_bytes, Damage, SegmentScan};
pub use record::{
    KIND_CHUNKS, KIND_DELETES, KIND_OOO_CHUNKS, KIND_OOO_SAMPLES, KIND_SAMPLES, KIND_SERIES,
    MAX_PAYLOAD_BYTES,
};
pub use segment::{segment_header, segment_name, SEGMENT_HEADER_LEN};

/// A series definition: the dense reference and its labels.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesRecord {
    /// Series reference.
    pub sref: u64,
    /// Its labels.
    pub labels: Labels,
}

/// One sample of one series.
#[derive(Clone, Copy, Debug)]
pub struct SampleRecord {
    /// Series reference (defined by an earlier series record).
    pub sref: u64,
    /// Timestamp, ms.
    pub t: i64,
    /// Value (bit-exact, stale markers included).
    pub v: f64,
}

/// Sealed chunks of one series (a checkpoint's copy of the head), oldest first, as encoded
/// chunk bytes (`docs/format/chunks.md`).
#[derive(Clone, Debug, PartialEq)]
pub struct ChunksRecord {
    /// Series reference (defined by an earlier series record).
    pub sref: u64,
    /// Encoded chunks.
    pub chunks: Vec<Vec<u8>>,
}

/// A range deleted from a head series: samples with `mint <= t <= maxt` written before this
/// record are gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeleteRecord {
    /// Series reference.
    pub sref: u64,
    /// First deleted timestamp (inclusive).
    pub mint: i64,
    /// Last deleted timestamp (inclusive).
    pub maxt: i64,
}

/// A WAL record.
#[derive(Clone, Debug)]
pub enum Record {
    /// Series definitions.
    Series(Vec<SeriesRecord>),
    /// Samples.
    Samples(Vec<SampleRecord>),
    /// Sealed head chunks (checkpoints only).
    Chunks(Vec<ChunksRecord>),
    /// Deleted ranges of head series.
    Deletes(Vec<DeleteRecord>),
    /// Samples the out-of-order window accepted (older than their series' newest, or
    /// below the head's bound).
    OooSamples(Vec<SampleRecord>),
    /// Out-of-order head chunks (checkpoints only).
    OooChunks(Vec<ChunksRecord>),
}

impl Record {
    /// Number of entries (series definitions or samples).
    pub fn len(&self) -> usize {
        match self {
            Record::Series(s) => s.len(),
            Record::Samples(s) | Record::OooSamples(s) => s.len(),
            Record::Chunks(c) | Record::OooChunks(c) => c.len(),
            Record::Deletes(d) => d.len(),
        }
    }

    /// The record's kind byte (`docs/format/wal.md`).
    pub fn kind(&self) -> u8 {
        match self {
            Record::Series(_) => record::KIND_SERIES,
            Record::Samples(_) => record::KIND_SAMPLES,
            Record::Chunks(_) => record::KIND_CHUNKS,
            Record::Deletes(_) => record::KIND_DELETES,
            Record::OooSamples(_) => record::KIND_OOO_SAMPLES,
            Record::OooChunks(_) => record::KIND_OOO_CHUNKS,
        }
    }

    /// True if the record has no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Equality with values compared by bit pattern (so NaN payloads and the stale marker
    /// compare equal to themselves), as the WAL stores them.
    pub fn same_as(&self, other: &Record) -> bool {
        match (self, other) {
            (Record::Series(a), Record::Series(b)) => a == b,
            (Record::Samples(a), Record::Samples(b))
            | (Record::OooSamples(a), Record::OooSamples(b)) => {
                a.len() == b.len()
                    && a.iter().zip(b).all(|(x, y)| {
                        x.sref == y.sref && x.t == y.t && x.v.to_bits() == y.v.to_bits()
                    })
            }
            (Record::Chunks(a), Record::Chunks(b))
            | (Record::OooChunks(a), Record::OooChunks(b)) => a == b,
            (Record::Deletes(a), Record::Deletes(b)) => a == b,
            _ => false,
        }
    }
}

/// When the WAL is fsynced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncPolicy {
    /// Every `sync_to` waits for an fsync covering its write (group commit).
    Always,
    /// A background thread fsyncs at this interval; `sync_to` returns at once.
    Interval(Duration),
}

/// WAL settings.
#[derive(Clone, Debug)]
pub struct WalOptions {
    /// Segment size in bytes before a new segment is started.
    pub segment_size: u64,
    /// fsync policy.
    pub sync: SyncPolicy,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            segment_size: 128 << 20,
            sync: SyncPolicy::Interval(Duration::from_millis(100)),
        }
    }
}

/// Where a write ended; pass to [`Wal::sync_to`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct WalPosition {
    /// Segment number.
    pub segment: u64,
    /// Byte offset just past the write.
    pub offset: u64,
}

/// What replay found.
#[derive(Clone, Debug, Default)]
pub struct ReplayReport {
    /// Good records replayed.
    pub records: u64,
    /// Segments read.
    pub segments: u64,
    /// Bytes dropped by repairs (0 if none).
    pub truncated_bytes: u64,
    /// Description of the first damage found, if any.
    pub damage: Option<String>,
    /// Number of repairs (damaged files, missing segments).
    pub repairs: u64,
    /// The checkpoint replay started from, if any.
    pub checkpoint: Option<u64>,
}

/// Counters since [`Wal::open`], for the server's own metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WalStats {
    /// Non-empty `write` calls.
    pub writes: u64,
    /// Bytes appended (frames).
    pub bytes: u64,
    /// fsync rounds run (each covers every write before it; with group commit this is
    /// usually far below the number of `sync_to` calls).
    pub sync_rounds: u64,
    /// Segments started by rotation or [`Wal::cut`].
    pub segments_created: u64,
}

/// The write-ahead log of one data directory. `Send + Sync`: share it by reference or `Arc`.
pub struct Wal {
    shared: Arc<writer::Shared>,
    policy: SyncPolicy,
    syncer: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Wal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal")
            .field("dir", &self.shared.dir)
            .field("policy", &self.policy)
            .field("end", &self.shared.end())
            .finish()
    }
}

impl Wal {
    /// Opens (creating if needed) the WAL in `dir`, replaying every good record into
    /// `on_record` in write order, and truncating a torn or corrupt tail.
    pub fn open(
        dir: &Path,
        opts: WalOptions,
        on_record: impl FnMut(Record),
    ) -> Result<(Wal, ReplayReport)> {
        Wal::open_with_progress(dir, opts, on_record, |_, _| {})
    }

    /// [`Wal::open`] reporting progress: `on_progress(files_done, files_total)` after the
    /// checkpoint and after each segment.
    pub fn open_with_progress(
        dir: &Path,
        opts: WalOptions,
        mut on_record: impl FnMut(Record),
        mut on_progress: impl FnMut(u64, u64),
    ) -> Result<(Wal, ReplayReport)> {
        let rec = repair::replay(dir, &mut on_record, &mut on_progress)?;
        let state = writer::WriterState {
            segment: rec.segment,
            file: Arc::new(rec.file),
            offset: rec.offset,
            unsynced: Vec::new(),
            dir_dirty: false,
            closed: false,
        };
        let shared = Arc::new(writer::Shared::new(dir, opts.segment_size, state));
        let syncer = match opts.sync {
            SyncPolicy::Always => None,
            SyncPolicy::Interval(every) => Some(writer::spawn_syncer(&shared, every)?),
        };
        let wal = Wal {
            shared,
            policy: opts.sync,
            syncer: Mutex::new(syncer),
        };
        Ok((wal, rec.report))
    }

    /// Writes records (in order) to the OS. Thread-safe; records of one call stay together.
    ///
    /// Encoding and compression happen before the WAL's lock is taken; under it there is one
    /// positioned write (and a segment rotation when the current one is full). A large record
    /// may be stored as several records of the same kind, in order.
    pub fn write(&self, records: &[Record]) -> Result<WalPosition> {
        let mut frames = Vec::new();
        record::encode_frames(&mut frames, records).map_err(|e| {
            Error::InvalidLabels(format!("record cannot be written to the WAL: {e}"))
        })?;
        self.shared.append(&frames)
    }

    /// Returns once `pos` is durable as the sync policy requires.
    pub fn sync_to(&self, pos: WalPosition) -> Result<()> {
        match self.policy {
            SyncPolicy::Always => self.shared.sync_to(pos),
            // The bytes are in the page cache; the syncer makes them durable within the
            // interval. A failed background fsync is still reported here.
            SyncPolicy::Interval(_) => self.shared.check_failed(&self.shared.dir),
        }
    }

    /// True if every acknowledged write is fsynced first ([`SyncPolicy::Always`]).
    pub fn syncs_each_write(&self) -> bool {
        matches!(self.policy, SyncPolicy::Always)
    }

    /// The failure that makes the WAL refuse writes, if any (a failed fsync, or a failed
    /// write that could not be cut off).
    pub fn failure(&self) -> Option<String> {
        self.shared.failure()
    }

    /// How long the WAL has been failed, if it is.
    pub fn failed_for(&self) -> Option<std::time::Duration> {
        self.shared.failed_for()
    }

    /// Starts recovering a failed WAL: later writes will go to a fresh segment. Writes stay
    /// refused until [`Wal::clear_failure`]; in between, the owner must write a checkpoint
    /// (cut, then [`Wal::checkpoint`] of everything before) standing for the failed segments.
    /// `Ok(false)` if the WAL has not failed.
    pub fn reset_after_failure(&self) -> Result<bool> {
        self.shared.reset_after_failure()
    }

    /// Ends recovery: writes are accepted again.
    pub fn clear_failure(&self) {
        self.shared.clear_failure()
    }

    /// Marks the WAL failed as a failed fsync would (tests of the failure path).
    #[doc(hidden)]
    pub fn inject_failure(&self, reason: &str) {
        self.shared.fail(&Error::io(
            "fsync",
            &self.shared.dir,
            std::io::Error::other(reason.to_string()),
        ));
    }

    /// Flushes, fsyncs and stops the background syncer. Later writes fail with
    /// [`Error::Closed`]; closing twice is a no-op.
    pub fn close(&self) -> Result<()> {
        {
            let mut st = self.shared.state.lock();
            if st.closed {
                return Ok(());
            }
            st.closed = true;
        }
        self.shared.stop_syncer();
        if let Some(h) = self.syncer.lock().take() {
            // The thread only ends by returning; a panic in it would be a bug, reported here.
            if h.join().is_err() {
                eprintln!("strata: WAL syncer thread panicked");
            }
        }
        self.shared.sync_all()
    }

    /// The directory of this WAL.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// The position just past the last write.
    pub fn end(&self) -> WalPosition {
        self.shared.end()
    }

    /// Counters since open.
    pub fn stats(&self) -> WalStats {
        use std::sync::atomic::Ordering::Relaxed;
        let s = &self.shared;
        WalStats {
            writes: s.writes.load(Relaxed),
            bytes: s.bytes.load(Relaxed),
            sync_rounds: s.sync_rounds.load(Relaxed),
            segments_created: s.segments_created.load(Relaxed),
        }
    }

    /// The segments on disk, ascending.
    pub fn segments(&self) -> Result<Vec<u64>> {
        segment::list_segments(&self.shared.dir)
    }

    /// The path of segment `n`.
    pub fn segment_path(&self, n: u64) -> PathBuf {
        segment::segment_path(&self.shared.dir, n)
    }

    /// Closes the current segment (if it holds any record) and starts the next one, e.g.
    /// before a checkpoint. Returns the number of the segment now written to; every record
    /// written before the call is in a lower-numbered segment unless the current one was empty.
    pub fn cut(&self) -> Result<u64> {
        let mut st = self.shared.state.lock();
        if st.closed {
            return Err(Error::Closed);
        }
        if st.offset > SEGMENT_HEADER_LEN {
            self.shared.rotate(&mut st)?;
        }
        Ok(st.segment)
    }

    /// Starts `checkpoint.N` in this WAL's directory, standing for segments `1..=N` (all of
    /// which must be closed: call [`Wal::cut`] first and use one less than its result).
    /// Finishing it deletes those segments.
    pub fn checkpoint(&self, n: u64) -> Result<CheckpointWriter> {
        if n >= self.shared.state.lock().segment {
            return Err(Error::InvalidArgument(format!(
                "checkpoint {n} would cover the segment being written"
            )));
        }
        CheckpointWriter::create(&self.shared.dir, n)
    }

    /// Replays the WAL in `dir` without taking it over: nothing is created, repaired or
    /// deleted (for reading a directory another process writes). Damage ends the replay of
    /// the damaged file and is reported.
    pub fn replay_read_only(dir: &Path, mut on_record: impl FnMut(Record)) -> Result<ReplayReport> {
        repair::replay_read_only(dir, &mut on_record)
    }

    /// Bytes of the segments and checkpoint on disk.
    pub fn disk_size(&self) -> u64 {
        std::fs::read_dir(&self.shared.dir)
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| e.metadata().ok())
                    .filter(|m| m.is_file())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    }

    /// Deletes every segment numbered below `segment` (never the one being written), once a
    /// checkpoint or block holds their data. Returns how many were deleted.
    pub fn truncate_before(&self, segment: u64) -> Result<usize> {
        let bound = segment.min(self.shared.state.lock().segment);
        let mut removed = 0;
        for n in segment::list_segments(&self.shared.dir)? {
            if n >= bound {
                break;
            }
            let p = segment::segment_path(&self.shared.dir, n);
            std::fs::remove_file(&p).map_err(|e| Error::io("remove", &p, e))?;
            removed += 1;
        }
        if removed > 0 {
            segment::sync_dir(&self.shared.dir)?;
        }
        Ok(removed)
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            eprintln!("strata: closing the WAL on drop failed: {e}");
        }
    }
}

/// Decodes one frame (header, CRC, snappy, payload) from `bytes`, which must hold exactly one
/// frame. For the fuzz target and tools; arbitrary input gives `Err`, never a panic.
pub fn decode_record(bytes: &[u8]) -> Result<Record> {
    record::decode_frame(bytes).map_err(|e| Error::CorruptWal {
        segment: 0,
        offset: 0,
        reason: e.0,
    })
}

/// Decodes an uncompressed record payload of kind [`KIND_SERIES`] or [`KIND_SAMPLES`]
/// (no frame, no CRC): the decoder that sits behind the checksum, for fuzzing.
pub fn decode_payload(kind: u8, payload: &[u8]) -> Result<Record> {
    record::decode_payload(kind, payload).map_err(|e| Error::CorruptWal {
        segment: 0,
        offset: 0,
        reason: e.0,
    })
}

/// Encodes the uncompressed payload of one record (the inverse of [`decode_payload`]),
/// returning its kind byte.
pub fn encode_payload(record: &Record) -> (u8, Vec<u8>) {
    record::encode_payload(record)
}

/// Encodes one record as frames exactly as [`Wal::write`] stores them (several frames if the
/// record is large).
pub fn encode_record(record: &Record) -> Result<Vec<u8>> {
    record::encode_record(record)
        .map_err(|e| Error::InvalidLabels(format!("record cannot be written to the WAL: {e}")))
}

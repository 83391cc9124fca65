//! The remote-write fuzz check shared by the v1 and v2 targets: arbitrary bytes as a snappy
//! body and as raw protobuf must decode to `Ok` or `Err`, never panic or allocate past the
//! limits. Whatever decodes is re-encoded and must decode again to the same series, bit for bit.
//! The same body also goes through `write`, the server's path (series looked up in a database
//! by their raw label bytes): it must fail exactly when `decode` fails and reject exactly the
//! series `decode` rejects, whatever the database already holds from earlier inputs.

use std::cell::RefCell;
use std::path::PathBuf;

use strata_engine::{Db, Options};
use strata_ingest::encode::{self, TimeSeries};
use strata_ingest::{decode, write, Limits, Protocol};

/// Writes into one database before it is replaced by a fresh one (bounds its disk and memory).
const WRITES_PER_DB: usize = 5000;

thread_local! {
    /// This process's database, its directory and the writes it has taken.
    static DB: RefCell<Option<(Db, PathBuf, usize)>> = const { RefCell::new(None) };
}

/// Runs `f` with this process's database, opening a fresh one in a temporary directory on
/// first use and after every [`WRITES_PER_DB`] writes.
fn with_db<R>(f: impl FnOnce(&Db) -> R) -> R {
    DB.with_borrow_mut(|slot| {
        if slot.as_ref().is_some_and(|(_, _, n)| *n >= WRITES_PER_DB) {
            if let Some((db, dir, _)) = slot.take() {
                drop(db);
                let _ = std::fs::remove_dir_all(dir);
            }
        }
        let (db, _, n) = slot.get_or_insert_with(|| {
            let dir = std::env::temp_dir().join(format!(
                "strata-fuzz-rw-{}-{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos())
            ));
            let _ = std::fs::remove_dir_all(&dir);
            let opts = Options {
                background: false,
                ..Options::default()
            };
            let db = Db::open(&dir, opts).expect("open a database in the temp dir");
            (db, dir, 0)
        });
        *n += 1;
        f(db)
    })
}

/// Runs the check for `proto`, re-encoding with `encode_request`.
pub fn check(proto: Protocol, encode_request: fn(&[TimeSeries]) -> Vec<u8>, data: &[u8]) {
    let limits = Limits {
        max_body_bytes: 1 << 20,
        max_decoded_bytes: 4 << 20,
        ..Limits::default()
    };
    // As a (possibly invalid) snappy block.
    let _ = decode(proto, data, &limits, 0);
    // As a protobuf body behind a valid snappy block; a clock at the end of time so that no
    // sample is "in the future" and every decoded sample takes part in the round trip.
    let body = encode::snappy(data);
    let decoded = decode(proto, &body, &limits, i64::MAX);
    // The server's path: the same verdict on the body, the same series rejected.
    let written = with_db(|db| write(db, proto, &body, &limits));
    assert_eq!(
        written.is_ok(),
        decoded.is_ok(),
        "write {:?} against decode {:?}",
        written.as_ref().err(),
        decoded.as_ref().err()
    );
    let Ok(first) = decoded else {
        return;
    };
    let w = written.expect("checked above");
    assert_eq!(
        w.series_rejected, first.summary.series_rejected,
        "write {:?} against decode {:?}",
        w.problems, first.summary.problems
    );
    let series: Vec<TimeSeries> = first
        .series
        .iter()
        .map(|(l, s)| TimeSeries {
            labels: l
                .iter()
                .map(|l| (l.name.to_string(), l.value.to_string()))
                .collect(),
            samples: s.iter().map(|x| (x.t, x.v)).collect(),
        })
        .collect();
    let again = decode(
        proto,
        &encode::snappy(&encode_request(&series)),
        &limits,
        i64::MAX,
    )
    .expect("re-encoded request must decode");
    assert!(again.summary.is_clean(), "{:?}", again.summary.problems);
    assert_eq!(again.series.len(), first.series.len());
    for (a, b) in again.series.iter().zip(&first.series) {
        assert_eq!(a.0, b.0);
        let bits = |s: &[strata_engine::Sample]| -> Vec<(i64, u64)> {
            s.iter().map(|x| (x.t, x.v.to_bits())).collect()
        };
        assert_eq!(bits(&a.1), bits(&b.1));
    }
}

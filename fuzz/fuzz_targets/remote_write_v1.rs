//! Remote-write 1.0 decoding under arbitrary bytes; see `common/remote_write.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_ingest::{encode, Protocol};

#[path = "common/remote_write.rs"]
mod remote_write;

fuzz_target!(|data: &[u8]| {
    remote_write::check(Protocol::V1, encode::write_request_v1, data);
});

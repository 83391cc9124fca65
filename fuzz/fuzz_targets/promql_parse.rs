//! Fuzz target: PromQL text -> parse -> print -> parse again -> compare.
//!
//! Invariants checked on arbitrary input (capped at 10 KiB, like Prometheus's `promql/fuzz.go`):
//! - parsing never panics (bad input is an `Err`);
//! - whatever parses prints to text that parses back to the same tree (compared through
//!   `Debug`, so that `NaN` literals compare equal), and printing is a fixed point.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_query::parser::parse;

const MAX_INPUT: usize = 10 * 1024;

fuzz_target!(|data: &[u8]| {
    if data.len() > MAX_INPUT {
        return;
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(expr) = parse(text) else {
        return;
    };
    let printed = expr.to_string();
    let again = match parse(&printed) {
        Ok(e) => e,
        Err(err) => panic!("{text:?} printed as {printed:?}, which does not parse: {err}"),
    };
    assert_eq!(
        format!("{expr:?}"),
        format!("{again:?}"),
        "{text:?} printed as {printed:?} parses differently"
    );
    assert_eq!(again.to_string(), printed, "printing is not a fixed point");
});

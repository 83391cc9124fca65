//! PromQL conformance: replays Prometheus' promqltest scripts against Strata.
//!
//! - Scripts: `$STRATA_CONFORMANCE_DIR`, default `<workspace>/../shared/conformance/promql`.
//!   A missing directory fails the test (it never passes by running nothing).
//! - Skips: only the cases listed in `tests/conformance-skips.tsv`; that list must equal the
//!   skip-tagged rows of `cases.tsv` next to the scripts (`skip_list_matches_cases_tsv`).
//! - `STRATA_CONFORMANCE_ALLOW_FAIL=1` prints the report without failing on failed cases.
//! - `STRATA_CONFORMANCE_RUN_SKIPPED=1` also runs the skipped cases and marks each
//!   `=> would pass` or `=> would fail: ...` (informational; counts do not change).
//! - `STRATA_CONFORMANCE_ONLY=<file>[:<line>]` runs one file, or one eval of it (all its
//!   load/clear commands still run in order), e.g. `functions.test:123`.
//!
//! Run with `cargo test -p strata-tests --test conformance -- --nocapture` to see the report;
//! its last line is `N passed, M failed, K skipped`.

use std::collections::BTreeSet;
use std::path::PathBuf;

use strata_tests::promqltest::{run_dir_with, RunOptions, Skips};

const SKIP_TAGS: &[&str] = &[
    "native-histogram",
    "experimental-function",
    "experimental-syntax",
];

fn conformance_dir() -> PathBuf {
    match std::env::var_os("STRATA_CONFORMANCE_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/promql"),
    }
}

fn skip_list_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("conformance-skips.tsv")
}

fn load_skips() -> Skips {
    let path = skip_list_path();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read the skip list {}: {e}", path.display()));
    Skips::parse("conformance-skips.tsv", &text).unwrap_or_else(|e| panic!("{e}"))
}

fn require_dir() -> PathBuf {
    let dir = conformance_dir();
    assert!(
        dir.is_dir(),
        "PromQL conformance scripts not found at {} (set STRATA_CONFORMANCE_DIR to the \
         directory holding the *.test files)",
        dir.display()
    );
    dir
}

#[test]
fn promql_conformance() {
    let dir = require_dir();
    let skips = load_skips();
    let only = std::env::var("STRATA_CONFORMANCE_ONLY").ok().map(|spec| {
        RunOptions::parse_only(&spec).unwrap_or_else(|e| panic!("STRATA_CONFORMANCE_ONLY: {e}"))
    });
    let opts = RunOptions {
        run_skipped: std::env::var("STRATA_CONFORMANCE_RUN_SKIPPED").is_ok_and(|v| v == "1"),
        only,
    };
    let report =
        run_dir_with(&dir, &skips, &opts).unwrap_or_else(|e| panic!("conformance runner: {e}"));
    println!("{}", report.render());
    let allow_fail = std::env::var("STRATA_CONFORMANCE_ALLOW_FAIL").is_ok_and(|v| v == "1");
    assert!(
        report.passed() + report.failed() + report.skipped() > 0,
        "no conformance case ran"
    );
    if report.failed() > 0 && !allow_fail {
        panic!(
            "{} PromQL conformance cases failed (see the report above; set \
             STRATA_CONFORMANCE_ALLOW_FAIL=1 to report without failing)",
            report.failed()
        );
    }
}

/// The checked-in skip list holds exactly the cases `cases.tsv` tags with a skip reason,
/// each with those tags as its reason.
#[test]
fn skip_list_matches_cases_tsv() {
    let dir = require_dir();
    let cases_path = dir.join("../cases.tsv");
    let cases = std::fs::read_to_string(&cases_path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", cases_path.display()));
    let mut want = BTreeSet::new();
    for (i, row) in cases.lines().enumerate().skip(1) {
        let cols: Vec<&str> = row.split('\t').collect();
        assert!(cols.len() >= 4, "cases.tsv line {}: too few columns", i + 1);
        let tags: Vec<&str> = cols[3]
            .split(',')
            .filter(|t| SKIP_TAGS.contains(t))
            .collect();
        if !tags.is_empty() {
            let line: usize = cols[1]
                .parse()
                .expect("cases.tsv line numbers are integers");
            want.insert((cols[0].to_string(), line, tags.join(",")));
        }
    }
    let skips = load_skips();
    let have: BTreeSet<(String, usize, String)> = skips
        .entries()
        .into_iter()
        .map(|(f, l, r)| (f.to_string(), l, r.to_string()))
        .collect();
    let missing: Vec<_> = want.difference(&have).collect();
    let extra: Vec<_> = have.difference(&want).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "skip list differs from cases.tsv: missing {missing:?}, extra {extra:?}"
    );
    // README: 397 cases carry a skip tag; the 29 tagged only delayed-name-removal run here.
    assert_eq!(have.len(), 397 - 29 + 1, "skip list size");
}

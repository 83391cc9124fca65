//! Runs the `block_size` binary as a user would, on a small fleet, and checks what it
//! reports against what it generated.

use std::process::Command;

fn run(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_block_size"))
        .args(args)
        .output()
        .expect("run block_size")
}

/// The value of `"key":` in the JSON summary line.
fn field(json: &str, key: &str) -> f64 {
    let at = json.find(&format!("\"{key}\":")).expect(key) + key.len() + 3;
    let rest = &json[at..];
    let end = rest.find([',', '}']).expect("end of field");
    rest[..end].parse().expect("number")
}

#[test]
fn small_fleet_reports_every_sample_and_consistent_sizes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let keep = dir.path().join("db");
    let keep = keep.to_str().expect("utf-8 path");
    // 2 instances' worth of series over 7 h: head cuts, then a flush that compacts.
    let out = run(&[
        "--series",
        "312",
        "--hours",
        "7",
        "--chunk-samples",
        "240",
        "--analyze",
        "1",
        "--keep",
        keep,
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = stdout.lines().last().expect("summary line");
    assert_eq!(field(json, "samples"), (312 * 7 * 240) as f64);
    let (all_in, segs, index, chunks) = (
        field(json, "all_in"),
        field(json, "chunk_segments"),
        field(json, "index"),
        field(json, "chunks_alone"),
    );
    // The fleet's series share records and timestamps, so the segments hold less than
    // the chunks they give back.
    assert!(chunks > 0.1 && segs < chunks && segs < all_in, "{json}");
    assert!((all_in - segs - index).abs() < 0.01, "{json}");
    assert!(
        stdout.contains("analysis: block-level timestamp column"),
        "{stdout}"
    );
    // The blocks stay where --keep put them, and a second run refuses to overwrite them.
    assert!(dir.path().join("db").join("blocks").is_dir());
    let again = run(&["--series", "10", "--hours", "1", "--keep", keep]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
}

#[test]
fn bad_options_are_refused() {
    for args in [
        &["--series", "0"][..],
        &["--hours", "-1"],
        &["--bogus", "1"],
        &["--series"],
    ] {
        let out = run(args);
        assert!(!out.status.success(), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("usage"));
    }
}

//! Prints the 5xx error ratio per `version` from a Strata data directory.
//!
//! ```text
//! cargo run -p strata-query --example error_ratio -- ./data [unix-seconds]
//! ```
//!
//! Opens the directory written by `strata serve` read-only (the server may keep running:
//! its blocks are read as they are, its WAL replayed into this process's memory), evaluates
//! the ratio at the given time (default: now) through the embedded [`Engine`], and walks
//! the typed result.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use strata_engine::Db;
use strata_query::{Engine, Value};

const QUERY: &str = r#"sum by (version) (rate(http_requests_total{status=~"5.."}[5m]))
  / sum by (version) (rate(http_requests_total[5m]))"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next() else {
        eprintln!("usage: error_ratio <data-dir> [unix-seconds]");
        std::process::exit(2);
    };
    let t_ms = match args.next() {
        Some(s) => (s.parse::<f64>()? * 1000.0) as i64,
        None => SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64,
    };
    let db = Arc::new(Db::open_read_only(&dir, true)?);
    let engine = Engine::new(db);
    let result = engine.instant(QUERY, t_ms)?;
    for w in &result.warnings {
        eprintln!("warning: {w}");
    }
    match result.value {
        Value::Vector(samples) if samples.is_empty() => {
            println!("no data: no http_requests_total samples in the 5m before t={t_ms}ms");
        }
        Value::Vector(samples) => {
            println!("{:<20} {:>12}", "version", "error ratio");
            for s in samples {
                let version = s.labels.get("version").unwrap_or("(none)");
                println!("{version:<20} {:>11.4}%", s.v * 100.0);
            }
        }
        other => println!("unexpected result type: {other:?}"),
    }
    Ok(())
}

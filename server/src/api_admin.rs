//! `/api/v1/admin/tsdb/*`: deleting series, cleaning tombstones, snapshots and flushing the
//! head into blocks. Served only with `--enable-admin-api` (otherwise 403, as Prometheus
//! refuses them without `--web.enable-admin-api`). Each runs on the blocking pool and holds
//! the database's maintenance lock, so it never races a head cut or a compaction.
//!
//! | endpoint | methods | parameters | answer |
//! |---|---|---|---|
//! | `delete_series` | POST, PUT | `match[]`+, `start`?, `end`? | 204 |
//! | `clean_tombstones` | POST, PUT | | 204 |
//! | `snapshot` | POST, PUT | `skip_head`? | `{"name": "<dir under snapshots/>"}` |
//! | `flush` (Strata's own) | POST, PUT | | counts of blocks written and compactions run |

use std::sync::Arc;

use hyper::StatusCode;

use crate::api_meta::{parse_selectors, time_range};
use crate::body::{empty, json_ok, Resp};
use crate::error::{Error, Result};
use crate::json;
use crate::params::Params;
use crate::router::{blocking, State};

/// `POST /api/v1/admin/tsdb/delete_series`.
pub async fn delete_series(state: &Arc<State>, p: Params) -> Result<Resp> {
    if p.get_all("match[]").is_empty() {
        return Err(Error::BadData("no match[] parameter provided".into()));
    }
    let (start, end) = time_range(&p)?;
    if end < start {
        return Err(Error::BadData(
            "end timestamp must not be before start time".into(),
        ));
    }
    let sets = parse_selectors(&p)?;
    let db = state.db.clone();
    blocking(move || {
        for m in &sets {
            db.delete_series(m, start, end)?;
        }
        Ok(())
    })
    .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// `POST /api/v1/admin/tsdb/clean_tombstones`.
pub async fn clean_tombstones(state: &Arc<State>) -> Result<Resp> {
    let db = state.db.clone();
    blocking(move || Ok(db.clean_tombstones()?)).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// `POST /api/v1/admin/tsdb/snapshot`: hard links of every block (and, unless
/// `skip_head=true`, the head written as a block) under `<data>/snapshots/<name>`.
pub async fn snapshot(state: &Arc<State>, p: Params) -> Result<Resp> {
    let skip_head = match p.get("skip_head") {
        None | Some("") | Some("false") | Some("0") => false,
        Some("true") | Some("1") => true,
        Some(other) => {
            return Err(Error::BadData(format!(
                "invalid parameter \"skip_head\": {other:?} is not a boolean"
            )))
        }
    };
    let db = state.db.clone();
    let dir = blocking(move || Ok(db.snapshot(None, !skip_head)?)).await?;
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut d = String::from("{\"name\":");
    json::write_str(&mut d, &name);
    d.push('}');
    Ok(json_ok(json::success(&d, &[], &[])))
}

/// `POST /api/v1/admin/tsdb/flush`: cuts the whole head into blocks and compacts to
/// completion before answering (for backups and benchmarks).
pub async fn flush(state: &Arc<State>) -> Result<Resp> {
    let db = state.db.clone();
    let r = blocking(move || Ok(db.flush()?)).await?;
    let d = format!(
        "{{\"headBlocks\":{},\"compactions\":{},\"deletedBlocks\":{}}}",
        r.head_blocks, r.compactions, r.deleted_blocks
    );
    Ok(json_ok(json::success(&d, &[], &[])))
}

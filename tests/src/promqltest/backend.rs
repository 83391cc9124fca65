//! What the runner evaluates against: the [`Backend`] trait and [`StrataBackend`], a real
//! [`Db`] in a temporary directory queried through an [`Engine`]. Panics in the store or the
//! engine are caught and returned as errors so that one broken function cannot stop a run.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Once};
use std::time::Duration;

use strata_engine::{Batch, Db, Labels, Sample};
use strata_query::{Engine, EngineOptions, QueryOptions, QueryResult};

use super::at::{at_rewrite, AtRewrite};

/// Per-query timeout the runner asks for.
const QUERY_TIMEOUT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------------
// Backends
// ---------------------------------------------------------------------------------------------

/// Why a query produced no result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryError {
    /// The engine returned an error (parse or execution); the text is its message.
    Failed(String),
    /// The store or the engine panicked; never satisfies `expect fail`.
    Panicked(String),
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueryError::Failed(m) => write!(f, "error: {m}"),
            QueryError::Panicked(m) => write!(f, "PANIC: {m}"),
        }
    }
}

/// What the runner needs from a store plus engine. [`StrataBackend`] is the real one; tests
/// of the runner itself use fakes.
pub trait Backend {
    /// Drops all data and starts an empty store.
    fn clear(&mut self) -> Result<(), String>;
    /// Appends samples (each series' samples in time order). Returns notes about rejected
    /// samples, if any.
    fn load(&mut self, series: Vec<(Labels, Vec<Sample>)>) -> Result<Option<String>, String>;
    /// Instant query at `t` (ms).
    fn instant(&self, query: &str, t: i64) -> Result<QueryResult, QueryError>;
    /// Range query.
    fn range(
        &self,
        query: &str,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<QueryResult, QueryError>;
    /// The `@` rewrite of `query` for an instant eval at `t` (see [`at_rewrite`]).
    fn at_rewrite(&self, query: &str, t: i64) -> AtRewrite {
        at_rewrite(query, t)
    }
}

thread_local! {
    static QUIET_PANICS: Cell<bool> = const { Cell::new(false) };
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

static PANIC_HOOK: Once = Once::new();

/// Runs `f`, turning a panic into `Err(message)`. While it runs, this thread's panics are not
/// printed (the message, with its location, is returned instead).
pub(crate) fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    PANIC_HOOK.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if QUIET_PANICS.with(Cell::get) {
                LAST_PANIC.with(|p| *p.borrow_mut() = Some(info.to_string()));
            } else {
                prev(info);
            }
        }));
    });
    let was = QUIET_PANICS.with(|q| q.replace(true));
    let r = catch_unwind(AssertUnwindSafe(f));
    QUIET_PANICS.with(|q| q.set(was));
    r.map_err(|payload| {
        LAST_PANIC
            .with(|p| p.borrow_mut().take())
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic with a non-string payload".into())
            .replace('\n', " ")
    })
}

/// Engine settings upstream's runner assumes: lookback 5m, default subquery step 1m,
/// at most 10000 samples per query.
pub fn conformance_engine_options() -> EngineOptions {
    EngineOptions {
        lookback_delta: 5 * 60 * 1000,
        default_subquery_step: 60 * 1000,
        max_samples: 10_000,
        // Upstream runs these scripts with delayed name removal, which
        // name_label_dropping.test is written for.
        delayed_name_removal: true,
        ..EngineOptions::default()
    }
}

/// A [`Db`] in a temporary directory (a fresh subdirectory per `clear`) queried through an
/// [`Engine`].
pub struct StrataBackend {
    root: tempfile::TempDir,
    generation: usize,
    db: Option<Arc<Db>>,
    engine: Option<Engine>,
}

impl StrataBackend {
    /// A backend with an empty store.
    pub fn new() -> Result<StrataBackend, String> {
        let root = tempfile::Builder::new()
            .prefix("strata-promqltest-")
            .tempdir()
            .map_err(|e| format!("creating a temporary directory: {e}"))?;
        let mut b = StrataBackend {
            root,
            generation: 0,
            db: None,
            engine: None,
        };
        b.clear()?;
        Ok(b)
    }

    fn db(&self) -> Result<&Arc<Db>, String> {
        self.db
            .as_ref()
            .ok_or_else(|| "no open database (an earlier open failed)".to_string())
    }

    fn close(&mut self) -> Result<(), String> {
        self.engine = None;
        if let Some(db) = self.db.take() {
            match Arc::try_unwrap(db) {
                Ok(db) => guarded(|| db.close())
                    .map_err(|p| format!("PANIC closing the database: {p}"))?
                    .map_err(|e| format!("closing the database: {e}"))?,
                Err(_) => return Err("the database is still referenced after the engine".into()),
            }
        }
        Ok(())
    }

    fn query(
        &self,
        f: impl FnOnce(&Engine) -> strata_query::Result<QueryResult>,
    ) -> Result<QueryResult, QueryError> {
        let engine = self
            .engine
            .as_ref()
            .ok_or_else(|| QueryError::Panicked("no engine (an earlier open failed)".into()))?;
        match guarded(|| f(engine)) {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => Err(QueryError::Failed(e.to_string())),
            Err(p) => Err(QueryError::Panicked(p)),
        }
    }
}

impl Drop for StrataBackend {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

impl Backend for StrataBackend {
    fn clear(&mut self) -> Result<(), String> {
        let closed = self.close();
        self.generation += 1;
        let dir = self.root.path().join(format!("db-{}", self.generation));
        // Test scripts load series one after the other, each over its whole time span: no
        // background head cut may run in between (it would refuse the next series' older
        // samples as out of bounds). Data still moves into blocks when the runner asks.
        let opts = strata_engine::Options {
            background: false,
            ..strata_engine::Options::default()
        };
        let db = guarded(|| Db::open(&dir, opts.clone()))
            .map_err(|p| format!("PANIC opening the database: {p}"))?
            .map_err(|e| format!("opening the database: {e}"))?;
        let db = Arc::new(db);
        self.engine = Some(Engine::with_options(
            db.clone(),
            conformance_engine_options(),
        ));
        self.db = Some(db);
        closed
    }

    fn load(&mut self, series: Vec<(Labels, Vec<Sample>)>) -> Result<Option<String>, String> {
        let db = self.db()?;
        let mut batch = Batch::new();
        for (labels, samples) in series {
            if !samples.is_empty() {
                batch.push(labels, samples);
            }
        }
        let rep = guarded(|| db.append(&batch))
            .map_err(|p| format!("PANIC appending: {p}"))?
            .map_err(|e| format!("appending: {e}"))?;
        if rep.out_of_order + rep.duplicate_timestamp > 0 {
            return Ok(Some(format!(
                "{} samples rejected as out of order, {} as duplicate timestamps (first: {:?})",
                rep.out_of_order, rep.duplicate_timestamp, rep.first_rejection
            )));
        }
        Ok(None)
    }

    fn instant(&self, query: &str, t: i64) -> Result<QueryResult, QueryError> {
        let o = QueryOptions {
            timeout: Some(QUERY_TIMEOUT),
            ..QueryOptions::default()
        };
        self.query(|e| e.instant_with(query, t, &o))
    }

    fn range(
        &self,
        query: &str,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<QueryResult, QueryError> {
        let o = QueryOptions {
            timeout: Some(QUERY_TIMEOUT),
            ..QueryOptions::default()
        };
        self.query(|e| e.range_with(query, start, end, step, &o))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_query::Value;

    fn labels(name: &str) -> Labels {
        Labels::from_pairs(&[("__name__", name)]).unwrap()
    }

    /// The real store and engine: samples loaded through the backend come back from queries,
    /// a stale marker ends the series, and `clear` empties the store.
    #[test]
    fn strata_backend_round_trip() {
        let mut b = StrataBackend::new().unwrap();
        let samples = vec![
            Sample::new(0, 0.0),
            Sample::new(10_000, 1.0),
            Sample::new(20_000, strata_engine::stale_nan()),
            Sample::new(30_000, 2.0),
        ];
        assert_eq!(b.load(vec![(labels("m"), samples)]), Ok(None));
        let at = |b: &StrataBackend, t| match b.instant("m", t).unwrap().value {
            Value::Vector(v) => v.iter().map(|s| s.v).collect::<Vec<f64>>(),
            other => panic!("{other:?}"),
        };
        assert_eq!(at(&b, 0), vec![0.0]);
        assert_eq!(at(&b, 15_000), vec![1.0]);
        assert_eq!(at(&b, 25_000), Vec::<f64>::new());
        assert_eq!(at(&b, 30_000), vec![2.0]);
        match b.range("m", 0, 30_000, 10_000).unwrap().value {
            Value::Matrix(m) => {
                assert_eq!(m.len(), 1);
                assert_eq!(m[0].timestamps, vec![0, 10_000, 30_000]);
                assert_eq!(m[0].values, vec![0.0, 1.0, 2.0]);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(b.instant("m{", 0), Err(QueryError::Failed(_))));
        b.clear().unwrap();
        assert_eq!(at(&b, 30_000), Vec::<f64>::new());
    }
}

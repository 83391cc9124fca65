//! The embedded query API: [`Engine::instant`] and [`Engine::range`] over a [`Db`].
//! (Interface fixed; implementation in progress.)

use std::sync::Arc;
use std::time::Duration;

use strata_engine::{Db, Labels};

use crate::error::Result;

/// Engine limits and defaults (Prometheus's defaults).
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// Lookback for instant selectors, ms (5 m).
    pub lookback_delta: i64,
    /// Step of `[range:]` subqueries, ms (1 m).
    pub default_subquery_step: i64,
    /// Maximum samples a query may hold in memory at once (50 M).
    pub max_samples: usize,
    /// Maximum points per series of a range query (11,000).
    pub max_points_per_series: usize,
    /// Query timeout (2 m).
    pub timeout: Duration,
    /// Maximum concurrently running queries (20).
    pub max_concurrent: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            lookback_delta: 5 * 60 * 1000,
            default_subquery_step: 60 * 1000,
            max_samples: 50_000_000,
            max_points_per_series: 11_000,
            timeout: Duration::from_secs(120),
            max_concurrent: 20,
        }
    }
}

/// Per-query overrides.
#[derive(Clone, Debug, Default)]
pub struct QueryOptions {
    /// Overrides [`EngineOptions::timeout`].
    pub timeout: Option<Duration>,
    /// Overrides [`EngineOptions::lookback_delta`] (ms).
    pub lookback_delta: Option<i64>,
}

/// One element of an instant vector.
#[derive(Clone, Debug, PartialEq)]
pub struct InstantSample {
    /// Series labels.
    pub labels: Labels,
    /// Evaluation timestamp, ms.
    pub t: i64,
    /// Value.
    pub v: f64,
}

/// One series of a matrix, stored column-wise.
#[derive(Clone, Debug, PartialEq)]
pub struct RangeSeries {
    /// Series labels.
    pub labels: Labels,
    /// Timestamps, ms, ascending.
    pub timestamps: Vec<i64>,
    /// Values, one per timestamp.
    pub values: Vec<f64>,
}

/// A query result value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A scalar at time `t`.
    Scalar {
        /// ms
        t: i64,
        /// value
        v: f64,
    },
    /// A string at time `t`.
    String {
        /// ms
        t: i64,
        /// value
        s: String,
    },
    /// An instant vector.
    Vector(Vec<InstantSample>),
    /// A range vector (instant query of `x[5m]`) or a range query's result, sorted by labels.
    Matrix(Vec<RangeSeries>),
}

/// Statistics of one query.
#[derive(Clone, Debug, Default)]
pub struct QueryStats {
    /// Samples read from storage.
    pub samples_loaded: u64,
    /// Peak samples held at once.
    pub peak_samples: u64,
}

/// The result of a query with its annotations.
#[derive(Clone, Debug)]
pub struct QueryResult {
    /// The value.
    pub value: Value,
    /// Warning annotations (Prometheus `warnings`).
    pub warnings: Vec<String>,
    /// Info annotations (Prometheus `infos`).
    pub infos: Vec<String>,
    /// Statistics.
    pub stats: QueryStats,
}

/// A PromQL engine over one database.
pub struct Engine {
    #[allow(dead_code)]
    db: Arc<Db>,
    #[allow(dead_code)]
    opts: EngineOptions,
}

impl Engine {
    /// An engine with default options.
    pub fn new(db: Arc<Db>) -> Engine {
        Engine::with_options(db, EngineOptions::default())
    }
    /// An engine with the given options.
    pub fn with_options(db: Arc<Db>, opts: EngineOptions) -> Engine {
        Engine { db, opts }
    }
    /// The engine's options.
    pub fn options(&self) -> &EngineOptions {
        &self.opts
    }
    /// Evaluates `query` at `t` (ms).
    pub fn instant(&self, query: &str, t: i64) -> Result<QueryResult> {
        self.instant_with(query, t, &QueryOptions::default())
    }
    /// Evaluates `query` at `t` (ms) with per-query options.
    pub fn instant_with(&self, _query: &str, _t: i64, _o: &QueryOptions) -> Result<QueryResult> {
        todo!()
    }
    /// Evaluates `query` at `start, start+step, ... <= end` (ms).
    pub fn range(&self, query: &str, start: i64, end: i64, step: i64) -> Result<QueryResult> {
        self.range_with(query, start, end, step, &QueryOptions::default())
    }
    /// Range query with per-query options.
    pub fn range_with(
        &self,
        _query: &str,
        _start: i64,
        _end: i64,
        _step: i64,
        _o: &QueryOptions,
    ) -> Result<QueryResult> {
        todo!()
    }
}

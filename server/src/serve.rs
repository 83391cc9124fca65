//! The accept loop and graceful shutdown.
//!
//! [`Server::bind`] opens the database and binds the listener, so when it returns the server
//! is ready to answer (the binary prints `listening on http://ADDR` only then, and tests wait
//! for that line). [`Server::run`] serves HTTP/1.1 connections until the shutdown future
//! completes, then:
//! 1. stops accepting and marks the server as shutting down (`/-/ready` answers 503, new
//!    writes get 503 so senders retry elsewhere or later);
//! 2. asks every connection to finish its in-flight request and close (idle keep-alive
//!    connections close at once), waiting at most `shutdown_timeout`;
//! 3. stops rule evaluation (without marking recorded series stale);
//! 4. waits for the last handler to release the database and closes it, which flushes and
//!    fsyncs the WAL and releases the directory lock.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use strata_engine::Db;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::router::{handle, State};

/// How long a client may take to send a request's headers (slow-loris bound).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// A bound, ready server.
pub struct Server {
    state: Arc<State>,
    listener: TcpListener,
    addr: SocketAddr,
}

impl Server {
    /// Opens the database in `config.data_dir` and binds `config.listen`. Must be called
    /// inside a tokio runtime.
    pub async fn bind(config: Config) -> Result<Server> {
        let dir = config.data_dir.clone();
        let opts = config.db_options();
        let db = tokio::task::spawn_blocking(move || Db::open(dir, opts))
            .await
            .map_err(|e| Error::Internal(format!("opening the database: {e}")))??;
        let db = Arc::new(db);
        let listener = match TcpListener::bind(&config.listen).await {
            Ok(l) => l,
            Err(e) => {
                close_db(db).await;
                return Err(Error::io("listen on", config.listen.clone(), e));
            }
        };
        let addr = listener
            .local_addr()
            .map_err(|e| Error::io("local address of", config.listen.clone(), e))?;
        let (db2, cfg) = (db.clone(), config.clone());
        let rules =
            tokio::task::spawn_blocking(move || crate::rules::Rules::start(db2, &cfg, addr))
                .await
                .map_err(|e| Error::Internal(format!("starting the rules: {e}")))?;
        let rules = match rules {
            Ok(r) => r,
            Err(e) => {
                close_db(db).await;
                return Err(e);
            }
        };
        Ok(Server {
            state: Arc::new(State::new(db, config, rules)),
            listener,
            addr,
        })
    }

    /// Something that reloads the rules, for a SIGHUP handler; valid while the server
    /// runs.
    pub fn reloader(&self) -> Reloader {
        Reloader(Arc::downgrade(&self.state))
    }

    /// The address actually bound (with the real port when `:0` was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `shutdown` completes, then shuts down gracefully and closes the database.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<()> {
        let Server {
            state, listener, ..
        } = self;
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut conns = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                accepted = listener.accept() => {
                    let (stream, _) = match accepted {
                        Ok(s) => s,
                        Err(e) => {
                            // EMFILE and friends: back off briefly instead of spinning.
                            eprintln!("strata: accept failed: {e}");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let _ = stream.set_nodelay(true);
                    let st = state.clone();
                    let mut stop = stop_rx.clone();
                    conns.spawn(async move {
                        let svc = service_fn(move |req| handle(st.clone(), req));
                        let conn = http1::Builder::new()
                            .keep_alive(true)
                            .timer(TokioTimer::new())
                            .header_read_timeout(HEADER_READ_TIMEOUT)
                            .serve_connection(TokioIo::new(stream), svc);
                        tokio::pin!(conn);
                        tokio::select! {
                            _ = conn.as_mut() => {}
                            _ = stop.changed() => {
                                conn.as_mut().graceful_shutdown();
                                let _ = conn.await;
                            }
                        }
                    });
                }
                // Reap finished connection tasks so the set does not grow without bound.
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
            }
        }
        drop(listener);
        state.shutting_down.store(true, Ordering::Relaxed);
        let _ = stop_tx.send(true);
        let grace = state.config.shutdown_timeout;
        let drained =
            tokio::time::timeout(grace, async { while conns.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            eprintln!(
                "strata: {} connections still open after {:?}, closing them",
                conns.len(),
                grace
            );
            conns.abort_all();
            while conns.join_next().await.is_some() {}
        }
        // Rule evaluations hold the database too: stop them (no stale markers) first.
        let st = state.clone();
        let _ = tokio::task::spawn_blocking(move || st.rules.stop()).await;
        let db = state.db.clone();
        drop(state);
        close_db_waiting(db, grace).await
    }
}

/// Reloads the rules of a running server (see [`crate::rules::Rules::reload`]). Holds the
/// state weakly, so it never keeps the database open past shutdown.
#[derive(Clone)]
pub struct Reloader(std::sync::Weak<State>);

impl Reloader {
    /// Reloads on the blocking pool; the error says why the old rules stay in force.
    pub async fn reload(&self) -> Result<()> {
        let st = self.0.upgrade().ok_or(Error::ShuttingDown)?;
        crate::router::blocking(move || st.rules.reload()).await
    }
}

/// Closes the database once no handler holds it; blocking work still running (a query that
/// outlived its connection) gets until `grace` to finish.
async fn close_db_waiting(mut db: Arc<Db>, grace: Duration) -> Result<()> {
    let deadline = Instant::now() + grace;
    loop {
        match Arc::try_unwrap(db) {
            Ok(db) => {
                return tokio::task::spawn_blocking(move || db.close())
                    .await
                    .map_err(|e| Error::Internal(format!("closing the database: {e}")))?
                    .map_err(Error::from)
            }
            Err(still_shared) => {
                if Instant::now() >= deadline {
                    return Err(Error::Internal(
                        "database still in use at shutdown; the WAL was written but not closed"
                            .into(),
                    ));
                }
                db = still_shared;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

async fn close_db(db: Arc<Db>) {
    if let Err(e) = close_db_waiting(db, Duration::from_secs(5)).await {
        eprintln!("strata: {e}");
    }
}

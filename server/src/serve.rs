//! The accept loop and graceful shutdown.
//!
//! [`Server::bind`] binds the listener and starts opening the database (WAL replay) in the
//! background, so the port answers at once: until the database is open, `/-/healthy` is 200,
//! `/-/ready` is 503, `/metrics` shows the replay's progress, and every other request gets 503
//! with `Retry-After`. [`Server::ready`] waits for the open. [`Server::run`] serves HTTP/1.1
//! connections (over TLS when configured: the handshake runs in the connection's task, bounded
//! by the header read timeout) until the shutdown future completes, then:
//! 1. stops accepting and marks the server as shutting down (`/-/ready` answers 503, new
//!    writes get 503 so senders retry elsewhere or later);
//! 2. asks every connection to finish its in-flight request and close (idle keep-alive
//!    connections close at once), waiting at most `shutdown_timeout`;
//! 3. stops rule evaluation (without marking recorded series stale);
//! 4. waits for the last handler to release the database and closes it, which flushes and
//!    fsyncs the WAL and releases the directory lock.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use strata_engine::{Db, ReplayProgress};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::body::{json_error, response, text_error, Resp};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::router::{handle, State};

/// How long a client may take to send a request's headers (slow-loris bound).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The most a connection's read buffer grows to (hyper's default is about 400 KiB): request
/// heads must fit, bodies stream through it. Under overload every open sender connection
/// keeps one, so this bounds their memory.
const CONN_READ_BUFFER: usize = 64 << 10;

/// What every connection dispatches through: the full state once the database is open.
struct Gate {
    state: OnceLock<Arc<State>>,
    progress: Arc<ReplayProgress>,
    /// Turns true when the database is open.
    ready: watch::Sender<bool>,
}

/// A bound server whose database may still be opening.
pub struct Server {
    gate: Arc<Gate>,
    listener: TcpListener,
    addr: SocketAddr,
    opening: Option<tokio::task::JoinHandle<Result<Arc<State>>>>,
    tls: Option<tokio_rustls::TlsAcceptor>,
}

/// Serves one connection until it ends or `stop` asks for a graceful close.
async fn serve_connection<IO>(io: IO, g: Arc<Gate>, mut stop: watch::Receiver<bool>)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = service_fn(move |req| handle_gated(g.clone(), req));
    let conn = http1::Builder::new()
        .keep_alive(true)
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(CONN_READ_BUFFER)
        .serve_connection(TokioIo::new(io), svc);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// Opens the database and starts the rules: everything [`State`] needs.
async fn open_state(
    config: Config,
    addr: SocketAddr,
    progress: Arc<ReplayProgress>,
) -> Result<Arc<State>> {
    let dir = config.data_dir.clone();
    let mut opts = config.db_options();
    opts.progress = Some(progress.clone());
    let started = Instant::now();
    let db = tokio::task::spawn_blocking(move || Db::open(dir, opts))
        .await
        .map_err(|e| Error::Internal(format!("opening the database: {e}")))??;
    let db = Arc::new(db);
    let (db2, cfg) = (db.clone(), config.clone());
    let rules = tokio::task::spawn_blocking(move || crate::rules::Rules::start(db2, &cfg, addr))
        .await
        .map_err(|e| Error::Internal(format!("starting the rules: {e}")))?;
    let rules = match rules {
        Ok(r) => r,
        Err(e) => {
            close_db(db).await;
            return Err(e);
        }
    };
    eprintln!("strata: ready after {:.2?}", started.elapsed());
    Ok(Arc::new(State::new(db, config, rules, progress)))
}

impl Server {
    /// Binds `config.listen` and starts opening the database in `config.data_dir` in the
    /// background. Must be called inside a tokio runtime.
    pub async fn bind(config: Config) -> Result<Server> {
        let tls = config.tls.as_ref().map(crate::tls::acceptor).transpose()?;
        let listener = TcpListener::bind(&config.listen)
            .await
            .map_err(|e| Error::io("listen on", config.listen.clone(), e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::io("local address of", config.listen.clone(), e))?;
        let progress = Arc::new(ReplayProgress::default());
        let opening = tokio::spawn(open_state(config, addr, progress.clone()));
        Ok(Server {
            gate: Arc::new(Gate {
                state: OnceLock::new(),
                progress,
                ready: watch::channel(false).0,
            }),
            listener,
            addr,
            opening: Some(opening),
            tls,
        })
    }

    /// A future that completes with `true` once the database is open (while [`Server::run`]
    /// serves), or `false` if the server stops first.
    pub fn ready(&self) -> impl Future<Output = bool> + Send + 'static {
        let mut rx = self.gate.ready.subscribe();
        async move { rx.wait_for(|r| *r).await.is_ok() }
    }

    /// Something that reloads the rules, for a SIGHUP handler; valid while the server
    /// runs.
    pub fn reloader(&self) -> Reloader {
        Reloader(Arc::downgrade(&self.gate))
    }

    /// The open database, once the server is ready (for embedding programs that also write
    /// or inspect it in-process; `None` while it opens or after the server stopped).
    pub fn db_handle(&self) -> DbHandle {
        DbHandle(Arc::downgrade(&self.gate))
    }

    /// The address actually bound (with the real port when `:0` was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `shutdown` completes, then shuts down gracefully and closes the database.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<()> {
        let Server {
            gate,
            listener,
            mut opening,
            tls,
            ..
        } = self;
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut conns = JoinSet::new();
        let mut failed = None;
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                opened = async { opening.as_mut().expect("guarded").await }, if opening.is_some() => {
                    opening = None;
                    match opened {
                        Ok(Ok(st)) => {
                            let _ = gate.state.set(st);
                            gate.ready.send_replace(true);
                        }
                        Ok(Err(e)) => {
                            failed = Some(e);
                            break;
                        }
                        Err(e) => {
                            failed = Some(Error::Internal(format!("opening the database: {e}")));
                            break;
                        }
                    }
                }
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
                    let g = gate.clone();
                    let stop = stop_rx.clone();
                    let tls = tls.clone();
                    conns.spawn(async move {
                        match tls {
                            None => serve_connection(stream, g, stop).await,
                            Some(acceptor) => {
                                let hs = tokio::time::timeout(
                                    HEADER_READ_TIMEOUT,
                                    acceptor.accept(stream),
                                );
                                // A failed handshake (plain HTTP, an unknown client
                                // certificate) only ends that connection.
                                if let Ok(Ok(tls_stream)) = hs.await {
                                    serve_connection(tls_stream, g, stop).await;
                                }
                            }
                        }
                    });
                }
                // Reap finished connection tasks so the set does not grow without bound.
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
            }
        }
        drop(listener);
        if let Some(st) = gate.state.get() {
            st.shutting_down.store(true, Ordering::Relaxed);
        }
        let _ = stop_tx.send(true);
        let grace = gate
            .state
            .get()
            .map_or(Duration::from_secs(5), |st| st.config.shutdown_timeout);
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
        // Still opening (shut down during WAL replay): let the open finish, then close.
        if let Some(h) = opening.take() {
            match h.await {
                Ok(Ok(st)) => {
                    let _ = gate.state.set(st);
                }
                Ok(Err(e)) => failed = failed.or(Some(e)),
                Err(e) => {
                    failed = failed.or(Some(Error::Internal(format!("opening the database: {e}"))))
                }
            }
        }
        let Some(state) = gate.state.get().cloned() else {
            return Err(
                failed.unwrap_or_else(|| Error::Internal("the database never opened".into()))
            );
        };
        drop(gate);
        // Rule evaluations hold the database too: stop them (no stale markers) first.
        let st = state.clone();
        let _ = tokio::task::spawn_blocking(move || st.rules.stop()).await;
        let db = state.db.clone();
        drop(state);
        let closed = close_db_waiting(db, grace).await;
        match failed {
            Some(e) => Err(e),
            None => closed,
        }
    }
}

/// The service: the router once the database is open; a small startup responder before.
async fn handle_gated(gate: Arc<Gate>, req: Request<Incoming>) -> Result<Resp, Infallible> {
    if let Some(st) = gate.state.get() {
        return handle(st.clone(), req).await;
    }
    let path = req.uri().path();
    let pct = gate.progress.percent();
    Ok(match path {
        "/-/healthy" => response(
            StatusCode::OK,
            "text/plain; charset=utf-8",
            "Strata is Healthy.\n",
        ),
        "/-/ready" => response(
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain; charset=utf-8",
            "Service Unavailable\n",
        ),
        "/metrics" => response(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            crate::metrics::render_starting(&gate.progress),
        ),
        p => {
            let e = Error::Starting(format!(
                "replaying the write-ahead log ({pct:.0}% of its files)"
            ));
            if p.starts_with("/api/") {
                json_error(&e)
            } else {
                text_error(&e)
            }
        }
    })
}

/// Reloads the rules of a running server (see [`crate::rules::Rules::reload`]). Holds the
/// server weakly, so it never keeps the database open past shutdown.
#[derive(Clone)]
pub struct Reloader(std::sync::Weak<Gate>);

/// Reaches the server's database while the server runs (see [`Server::db_handle`]).
pub struct DbHandle(std::sync::Weak<Gate>);

impl DbHandle {
    /// The database, if the server is ready and still running.
    pub fn get(&self) -> Option<Arc<Db>> {
        let gate = self.0.upgrade()?;
        let db = gate.state.get().map(|st| st.db.clone());
        db
    }
}

impl Reloader {
    /// Reloads on the blocking pool; the error says why the old rules stay in force.
    pub async fn reload(&self) -> Result<()> {
        let gate = self.0.upgrade().ok_or(Error::ShuttingDown)?;
        let st = gate
            .state
            .get()
            .cloned()
            .ok_or_else(|| Error::Starting("the database is still opening".into()))?;
        drop(gate);
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

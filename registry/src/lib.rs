//! `pqreg-registry`: an OCI distribution-spec v1.1 registry and pqreg's transparency log.
//!
//! The HTTP API is specified in `spec/api.md`; the route table is [`api::ROUTES`], the
//! error table [`error::CODES`], the on-disk layout is drawn in [`storage::fs`] and the
//! metadata tables in [`meta`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// Implements `From` for every redb error type on `$err`, boxed as `$err::$variant(Box<
/// redb::Error>)`: the metadata store and the log keep their own error enums over the same
/// kind of database. Defined before the modules so that both see it.
macro_rules! from_redb {
    ($err:ident :: $variant:ident) => {
        from_redb!(@each $err::$variant:
            redb::Error,
            redb::DatabaseError,
            redb::TransactionError,
            redb::TableError,
            redb::StorageError,
            redb::CommitError
        );
    };
    (@each $err:ident :: $variant:ident : $($t:ty),*) => {$(
        impl From<$t> for $err {
            fn from(e: $t) -> Self {
                $err::$variant(Box::new(e.into()))
            }
        }
    )*};
}

pub mod api;
pub mod auth;
pub mod config;
pub mod digest;
pub mod error;
pub mod gc;
pub mod limits;
pub mod manifest;
pub mod meta;
pub mod metrics;
pub mod names;
pub mod scrub;
pub mod state;
pub mod storage;
pub mod tlog;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::dev::{ServerHandle, Service};
use actix_web::middleware::DefaultHeaders;
use actix_web::{App, HttpServer, web};
use anyhow::Context;

use crate::config::Config;
use crate::meta::Meta;
use crate::state::AppState;
use crate::storage::BlobStore;
use crate::storage::fs::FsStore;

/// Opens the data directory: blob store, metadata, and removes upload files that belong
/// to no session (left by interrupted monolithic pushes; nothing else runs yet).
pub fn open_state(cfg: Config) -> anyhow::Result<AppState> {
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating data directory {}", cfg.data_dir.display()))?;
    let store = FsStore::open(&cfg.data_dir)
        .with_context(|| format!("opening blob store in {}", cfg.data_dir.display()))?;
    let meta = Meta::open(&cfg.data_dir.join("meta.redb")).with_context(|| {
        format!(
            "opening {} (is another pqreg-registry using this data directory?)",
            cfg.data_dir.join("meta.redb").display()
        )
    })?;
    let sessions: std::collections::HashSet<String> =
        meta.list_uploads()?.into_iter().map(|(id, _)| id).collect();
    for entry in std::fs::read_dir(cfg.data_dir.join("uploads"))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !sessions.contains(&name) {
            std::fs::remove_file(entry.path())?;
        }
    }
    let log = tlog::Log::open(&cfg.data_dir, &cfg.log_origin(), cfg.witness_keys()?)
        .with_context(|| format!("opening the log in {}", cfg.data_dir.display()))?;
    let auth = auth::Auth::open(&cfg.auth, &cfg.data_dir).context("setting up access control")?;
    let upload_sessions = Arc::new(limits::Sessions::new(
        cfg.limits.max_upload_sessions_per_client,
        Duration::from_secs(cfg.gc.upload_ttl_secs),
        cfg.limits.max_header_bytes,
    ));
    let streams = limits::Streams::new(cfg.limits.max_body_streams_per_client);
    let metrics = metrics::Metrics::new()?;
    let store = metrics::CountedStore::new(Arc::new(store), metrics.clone());
    Ok(AppState {
        upload_sessions,
        streams,
        auth: Arc::new(auth),
        log,
        cfg,
        store: Arc::new(store) as Arc<dyn BlobStore>,
        meta,
        sessions: Default::default(),
        gc_lock: Default::default(),
        metrics,
    })
}

/// Builds the HTTP server on an already opened state; returns it with its bound address.
pub fn build_server(
    state: AppState,
) -> anyhow::Result<(actix_web::dev::Server, SocketAddr, web::Data<AppState>)> {
    let listener = std::net::TcpListener::bind(&state.cfg.listen)
        .with_context(|| format!("listening on {}", state.cfg.listen))?;
    let addr = listener.local_addr()?;
    let workers = match state.cfg.workers {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    };
    let limits = state.cfg.limits.clone();
    // sendfile writes into plain TCP sockets only; TLS connections stream through rustls.
    let sendfile = state.cfg.sendfile && !state.cfg.tls.enabled();
    let data = web::Data::new(state);
    let app_data = data.clone();
    let mut server = HttpServer::new(move || {
        let metrics = app_data.metrics.clone();
        App::new()
            .app_data(app_data.clone())
            // Access is checked per route (api::configure); the header limit for every
            // request, matched or not.
            .wrap(actix_web::middleware::from_fn(
                auth::middleware::header_limit,
            ))
            .wrap(
                DefaultHeaders::new()
                    .add(("Docker-Distribution-API-Version", "registry/2.0"))
                    // Nothing the registry serves is a page: a browser must neither sniff
                    // a pushed manifest or blob into HTML nor run anything from this origin
                    // (spec/api.md "Response headers").
                    .add(("X-Content-Type-Options", "nosniff"))
                    .add(("Content-Security-Policy", api::CSP)),
            )
            .wrap_fn(move |req, srv| {
                let start = Instant::now();
                let method = req.method().to_string();
                let path = req.path().to_owned();
                let m = metrics.clone();
                let fut = srv.call(req);
                async move {
                    let res = fut.await?;
                    let route = res
                        .request()
                        .match_pattern()
                        .unwrap_or_else(|| "unmatched".into());
                    let status = res.status().as_u16();
                    let secs = start.elapsed().as_secs_f64();
                    m.observe(&route, &method, status, secs);
                    tracing::info!(%method, %path, status, %route, ms = secs * 1e3, "request");
                    Ok(res)
                }
            })
            .configure(api::configure)
    })
    .workers(workers)
    // Request/response traffic: never hold a small write back for the peer's ACK (Nagle
    // with delayed ACKs costs 40 ms per response, and sendfile sends headers and body as
    // two writes).
    .tcp_nodelay(true)
    .client_request_timeout(Duration::from_secs(limits.request_timeout_secs))
    .keep_alive(Duration::from_secs(limits.keep_alive_secs))
    .tls_handshake_timeout(Duration::from_secs(limits.tls_handshake_timeout_secs));
    // One connection hook (actix keeps only the last): the client certificate's name for
    // TLS, the socket for sendfile on plain TCP.
    #[cfg(target_os = "linux")]
    if sendfile {
        // Blob GETs write into the socket themselves (api::sendfile explains why that
        // needs a write buffer of 1).
        server = server
            .on_connect(|conn, ext| {
                tls::on_connect(conn, ext);
                api::sendfile::remember_socket(conn, ext);
            })
            .h1_write_buffer_size(api::sendfile::WRITE_BUFFER);
    } else {
        server = server.on_connect(tls::on_connect);
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = sendfile;
        server = server.on_connect(tls::on_connect);
    }
    let server = if data.cfg.tls.enabled() {
        let (config, resolver) = tls::server_config(&data.cfg.tls)?;
        tls::spawn_reloader(resolver, Duration::from_secs(data.cfg.tls.reload_secs));
        server.listen_rustls_0_23(listener, config)?
    } else {
        server.listen(listener)?
    }
    .run();
    Ok((server, addr, data))
}

/// Runs garbage collection every `gc.interval_secs` (if non-zero) until the process ends.
fn spawn_periodic_gc(data: web::Data<AppState>) {
    let every = data.cfg.gc.interval_secs;
    if every == 0 {
        return;
    }
    actix_web::rt::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(every));
        tick.tick().await; // the first tick is immediate
        loop {
            tick.tick().await;
            if let Err(e) = gc::collect(&data).await {
                tracing::error!(error = %e, "garbage collection failed");
            }
        }
    });
}

/// Scrubs the store every `gc.scrub_interval_secs` (if non-zero) until the process ends;
/// each corrupt blob is quarantined and logged (`crate::scrub`).
fn spawn_periodic_scrub(data: web::Data<AppState>) {
    let every = data.cfg.gc.scrub_interval_secs;
    if every == 0 {
        return;
    }
    actix_web::rt::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(every));
        tick.tick().await; // the first tick is immediate
        loop {
            tick.tick().await;
            match scrub::scrub(&data, false).await {
                Ok(r) => tracing::info!(
                    blobs = r.blobs_checked,
                    bytes = r.bytes_checked,
                    corrupt = r.corrupt.len(),
                    "scrub done"
                ),
                Err(e) => tracing::error!(error = %e, "scrub failed"),
            }
        }
    });
}

/// Serves until the process is told to stop (SIGINT/SIGTERM).
pub fn serve(cfg: Config) -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(async move {
        let (server, addr, data) = build_server(open_state(cfg)?)?;
        tracing::info!(%addr, data_dir = %data.cfg.data_dir.display(), read_only = data.cfg.read_only, "pqreg-registry listening");
        spawn_periodic_gc(data.clone());
        spawn_periodic_scrub(data);
        server.await?;
        Ok(())
    })
}

/// A registry running on its own thread (for tests and embedding).
pub struct Running {
    /// The address it listens on.
    pub addr: SocketAddr,
    handle: ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    /// Starts a registry with `cfg` (use `listen = "127.0.0.1:0"` for a free port).
    pub fn start(cfg: Config) -> anyhow::Result<Running> {
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let data = actix_web::rt::System::new().block_on(async move {
                let built = open_state(cfg).and_then(build_server);
                match built {
                    Ok((server, addr, data)) => {
                        let _ = tx.send(Ok((addr, server.handle())));
                        spawn_periodic_gc(data.clone());
                        spawn_periodic_scrub(data.clone());
                        let _ = server.await;
                        Some(data)
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        None
                    }
                }
            });
            // Worker threads drop their copies of the state as they wind down; wait for
            // them so that the data directory is closed when `stop` returns.
            if let Some(data) = data {
                let arc = data.into_inner();
                for _ in 0..500 {
                    if Arc::strong_count(&arc) == 1 {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        });
        let (addr, handle) = rx.recv().context("registry thread died")??;
        Ok(Running {
            addr,
            handle,
            thread: Some(thread),
        })
    }

    /// `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the server and waits until its stores are closed.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(t) = self.thread.take() {
            let h = self.handle.clone();
            actix_web::rt::System::new().block_on(h.stop(true));
            let _ = t.join();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown();
    }
}

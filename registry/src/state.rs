//! Shared server state: configuration, stores, upload-session locks, metrics.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use tokio::sync::{Mutex as AsyncMutex, RwLock, mpsc};

use crate::config::Config;
use crate::error::{ApiError, ApiResult, Code};
use crate::limits::BodyLimits;
use crate::meta::{Meta, MetaError};
use crate::metrics::Metrics;
use crate::storage::{Batch, BlobStore, BodyRx, CHUNK, DEPTH, MAX_PIECES, UploadState};

/// One upload session's lock and cached hash state (absent after a restart: the store
/// rehashes the session file then).
pub type SessionSlot = Arc<AsyncMutex<Option<UploadState>>>;

/// Everything a request handler needs.
pub struct AppState {
    /// The configuration in force.
    pub cfg: Config,
    /// The blob store.
    pub store: Arc<dyn BlobStore>,
    /// The metadata store.
    pub meta: Meta,
    /// Per-session locks, so two requests never append to one session at once.
    pub sessions: Mutex<HashMap<String, SessionSlot>>,
    /// Blob commits and mounts hold this shared; GC's file sweep holds it exclusively, so
    /// a blob is never deleted between "the file is there" and "the link is committed".
    pub gc_lock: RwLock<()>,
    /// Prometheus metrics.
    pub metrics: Metrics,
    /// The transparency log.
    pub log: crate::tlog::Log,
    /// Access control.
    pub auth: Arc<crate::auth::Auth>,
    /// Open upload sessions per client (the cap; counted by the upload handlers).
    pub upload_sessions: Arc<crate::limits::Sessions>,
    /// Request bodies streaming per client (the cap).
    pub streams: crate::limits::Streams,
}

impl AppState {
    /// Runs a blocking metadata operation off the async threads.
    pub async fn db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Meta) -> Result<T, MetaError> + Send + 'static,
    ) -> ApiResult<T> {
        let meta = self.meta.clone();
        tokio::task::spawn_blocking(move || f(&meta))
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::from)
    }

    /// Refuses writes in read-only mode (405 `UNSUPPORTED`, as distribution does by not
    /// registering its write handlers).
    pub fn writable(&self) -> ApiResult<()> {
        if self.cfg.read_only {
            Err(ApiError::new(Code::Unsupported).msg("registry is in read-only maintenance mode"))
        } else {
            Ok(())
        }
    }

    /// The lock slot of an upload session.
    pub fn session(&self, id: &str) -> SessionSlot {
        let mut map = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(id.to_owned()).or_default().clone()
    }

    /// Whether an upload (session or monolithic) is in flight in this process: its slot
    /// exists from before its file is created until after the file is committed or
    /// removed, so GC's sweep of orphan upload files leaves it alone.
    pub fn in_flight(&self, id: &str) -> bool {
        let map = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        map.contains_key(id)
    }

    /// The body limits of the configuration.
    pub fn body_limits(&self) -> BodyLimits {
        BodyLimits::of(&self.cfg.limits)
    }

    /// Forgets an upload session's slot.
    pub fn forget_session(&self, id: &str) {
        let mut map = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(id);
    }
}

/// How a request body ended (the future of [`pump_limited`] says).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyEnd {
    /// Every byte arrived.
    Complete,
    /// The client went away, or the store stopped reading.
    Gone,
    /// The client was too slow: the body was cut (the message says why).
    Stalled(String),
}

/// Why [`read_small_body`] got no body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmallBodyError {
    /// More than the limit arrived (the rest is not read).
    TooLarge,
    /// The body was cut (too slow, stalled) or ended early; the message says which.
    Cut(String),
}

/// Reads a whole small request body (a manifest, a log submission) of at most `limit`
/// bytes through [`pump_limited`] with the configured body limits, as upload bodies are:
/// an endless body is cut at the limit, a stalled or too slow one after
/// `limits.body_idle_timeout_secs` (spec/auth.md §8). Nothing past the limit is read.
pub async fn read_small_body(
    st: &AppState,
    payload: actix_web::web::Payload,
    limit: usize,
) -> Result<Vec<u8>, SmallBodyError> {
    let (rx, feed) = pump_limited(payload, st.metrics.clone(), Some(st.body_limits()));
    let (end, body) = tokio::join!(feed, crate::storage::collect_limited(rx, limit));
    match (body, end) {
        (Ok(Ok(b)), _) => Ok(b),
        (Ok(Err(())), _) => Err(SmallBodyError::TooLarge),
        (Err(_), BodyEnd::Stalled(why)) => Err(SmallBodyError::Cut(why)),
        (Err(_), _) => Err(SmallBodyError::Cut("request body ended early".into())),
    }
}

/// Moves a request body into a bounded channel in [`Batch`]es of about [`CHUNK`] bytes (or
/// [`MAX_PIECES`] pieces, if a client sends tiny ones).
/// Returns the receiver and the future that feeds it; poll both together (the payload is
/// bound to its worker thread). At most [`DEPTH`] batches wait in the channel.
///
/// With `limits`, a body that sends nothing for `idle`, or less than `min_rate` bytes a
/// second over an `idle`-long window, is cut: the receiver gets an error and the future
/// answers [`BodyEnd::Stalled`]. Reading is asynchronous throughout, so a slow body costs
/// a socket and a few buffers, never a thread.
pub fn pump_limited(
    mut payload: actix_web::web::Payload,
    metrics: Metrics,
    limits: Option<BodyLimits>,
) -> (BodyRx, impl std::future::Future<Output = BodyEnd>) {
    let (tx, rx) = mpsc::channel::<io::Result<Batch>>(DEPTH);
    let fut = async move {
        let mut batch = Batch::new();
        let mut held = 0usize;
        let mut window_start = tokio::time::Instant::now();
        let mut window_bytes = 0u64;
        loop {
            let item = match limits {
                None => payload.next().await,
                Some(l) => {
                    let window_end = window_start + l.idle;
                    match tokio::time::timeout(l.idle, payload.next()).await {
                        Ok(item) => {
                            if tokio::time::Instant::now() >= window_end {
                                let need = l.min_rate.saturating_mul(l.idle.as_secs());
                                if window_bytes < need {
                                    let why = format!(
                                        "request body too slow: {window_bytes} bytes in {} s, at least {} bytes/s required",
                                        l.idle.as_secs(),
                                        l.min_rate
                                    );
                                    let _ = tx.send(Err(io::Error::other(why.clone()))).await;
                                    return BodyEnd::Stalled(why);
                                }
                                window_start = tokio::time::Instant::now();
                                window_bytes = 0;
                            }
                            item
                        }
                        Err(_) => {
                            let why = format!(
                                "request body stalled: nothing received for {} s",
                                l.idle.as_secs()
                            );
                            // Keep what arrived: the session's Range will include it.
                            if !batch.is_empty() && tx.send(Ok(batch)).await.is_err() {
                                return BodyEnd::Gone;
                            }
                            let _ = tx.send(Err(io::Error::other(why.clone()))).await;
                            return BodyEnd::Stalled(why);
                        }
                    }
                }
            };
            let Some(item) = item else { break };
            match item {
                Ok(b) => {
                    metrics.bytes_in.inc_by(b.len() as u64);
                    held += b.len();
                    window_bytes += b.len() as u64;
                    batch.push(b);
                    if held >= CHUNK || batch.len() >= MAX_PIECES {
                        held = 0;
                        if tx.send(Ok(std::mem::take(&mut batch))).await.is_err() {
                            return BodyEnd::Gone;
                        }
                    }
                }
                Err(e) => {
                    // Keep what arrived: the session's Range will include it.
                    if !batch.is_empty() && tx.send(Ok(batch)).await.is_err() {
                        return BodyEnd::Gone;
                    }
                    let _ = tx.send(Err(io::Error::other(e.to_string()))).await;
                    return BodyEnd::Gone;
                }
            }
        }
        if !batch.is_empty() && tx.send(Ok(batch)).await.is_err() {
            return BodyEnd::Gone;
        }
        BodyEnd::Complete
    };
    (rx, fut)
}

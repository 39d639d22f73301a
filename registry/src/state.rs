//! Shared server state: configuration, stores, upload-session locks, metrics.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use tokio::sync::{Mutex as AsyncMutex, RwLock, mpsc};

use crate::config::Config;
use crate::error::{ApiError, ApiResult, Code};
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

    /// Forgets an upload session's slot.
    pub fn forget_session(&self, id: &str) {
        let mut map = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(id);
    }
}

/// Moves a request body into a bounded channel in [`Batch`]es of about [`CHUNK`] bytes (or
/// [`MAX_PIECES`] pieces, if a client sends tiny ones).
/// Returns the receiver and the future that feeds it; poll both together (the payload is
/// bound to its worker thread). At most [`DEPTH`] batches wait in the channel.
pub fn pump(
    mut payload: actix_web::web::Payload,
    metrics: Metrics,
) -> (BodyRx, impl std::future::Future<Output = ()>) {
    let (tx, rx) = mpsc::channel::<io::Result<Batch>>(DEPTH);
    let fut = async move {
        let mut batch = Batch::new();
        let mut held = 0usize;
        while let Some(item) = payload.next().await {
            match item {
                Ok(b) => {
                    metrics.bytes_in.inc_by(b.len() as u64);
                    held += b.len();
                    batch.push(b);
                    if held >= CHUNK || batch.len() >= MAX_PIECES {
                        held = 0;
                        if tx.send(Ok(std::mem::take(&mut batch))).await.is_err() {
                            return;
                        }
                    }
                }
                Err(e) => {
                    // Keep what arrived: the session's Range will include it.
                    if !batch.is_empty() && tx.send(Ok(batch)).await.is_err() {
                        return;
                    }
                    let _ = tx.send(Err(io::Error::other(e.to_string()))).await;
                    return;
                }
            }
        }
        if !batch.is_empty() {
            let _ = tx.send(Ok(batch)).await;
        }
    };
    (rx, fut)
}

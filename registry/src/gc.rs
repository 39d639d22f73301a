//! Online garbage collection.
//!
//! 1. **Links** (one metadata write transaction, so no manifest push interleaves): a blob
//!    link that no manifest of its repository references and that is older than the grace
//!    period is removed. Manifests are roots; tags and referrers point only at manifests.
//! 2. **Blobs**: a blob file that no repository links and that was not written or touched
//!    within the grace period is deleted, each under the exclusive GC lock, re-checking
//!    the links there. Pushes and mounts hold that lock shared from "the file is there"
//!    to "the link is committed", so GC never deletes a blob that is being linked. A pull
//!    that already opened a blob keeps reading it (the file stays alive while open).
//! 3. **Uploads**: sessions idle longer than `upload_ttl_secs` are purged with their
//!    data (never while a request holds them), and upload files with no session (left by
//!    an interrupted monolithic push) once older than the grace period, unless an upload
//!    of that id is in flight in this process ([`AppState::in_flight`]). A commit checks
//!    that its file is still linked anyway, so a swept file fails its push instead of
//!    becoming a blob.

use std::time::{Duration, SystemTime};

use crate::error::ApiResult;
use crate::meta::now;
use crate::state::AppState;
use crate::storage::upload_id_ok;

/// What one collection did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GcReport {
    /// Links removed.
    pub links_removed: u64,
    /// Blob files deleted.
    pub blobs_removed: u64,
    /// Bytes freed by those deletions.
    pub bytes_freed: u64,
    /// Upload sessions (and orphan upload files) purged.
    pub uploads_purged: u64,
}

/// Runs one collection with the grace period and upload TTL of the configuration.
pub async fn collect(st: &AppState) -> ApiResult<GcReport> {
    let grace = st.cfg.gc.grace_period_secs;
    let ttl = st.cfg.gc.upload_ttl_secs;
    let mut report = GcReport::default();
    let cutoff = now().saturating_sub(grace);
    let links = st.db(move |m| m.gc_links(cutoff)).await?;
    report.links_removed = links.removed;

    let old = SystemTime::now()
        .checked_sub(Duration::from_secs(grace))
        .unwrap_or(SystemTime::UNIX_EPOCH);
    for (digest, stat) in st.store.list().await? {
        if stat.modified > old {
            continue;
        }
        let _gc = st.gc_lock.write().await;
        let ds = digest.to_string();
        if st.db(move |m| m.blob_linked_anywhere(&ds)).await? {
            continue;
        }
        // Re-check the age: a push may have touched it before we took the lock.
        if let Some(s) = st.store.stat(&digest).await?
            && s.modified <= old
            && st.store.delete(&digest).await?
        {
            report.blobs_removed += 1;
            report.bytes_freed += s.size;
        }
    }

    let stale = now().saturating_sub(ttl);
    let sessions = st.db(|m| m.list_uploads()).await?;
    for (id, rec) in &sessions {
        if rec.updated >= stale {
            continue;
        }
        let slot = st.session(id);
        let Ok(_held) = slot.try_lock_owned() else {
            continue; // in use right now
        };
        st.store.abort(id).await?;
        let idc = id.clone();
        st.db(move |m| m.delete_upload(&idc)).await?;
        st.upload_sessions.closed(id);
        st.forget_session(id);
        report.uploads_purged += 1;
    }
    let known: std::collections::HashSet<&str> = sessions.iter().map(|(i, _)| i.as_str()).collect();
    for (id, modified) in st.store.list_uploads().await? {
        // An upload in flight (a monolithic push has no session row) is never swept,
        // however long its client has been silent: the body limits end a stalled one.
        if !known.contains(id.as_str())
            && modified <= old
            && upload_id_ok(&id)
            && !st.in_flight(&id)
        {
            st.store.abort(&id).await?;
            report.uploads_purged += 1;
        }
    }
    tracing::info!(?report, "garbage collection done");
    Ok(report)
}

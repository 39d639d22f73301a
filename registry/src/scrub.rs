//! `pqreg-registry scrub`: re-hashes every stored blob and moves each one whose bytes do not
//! hash to its name into quarantine, then reports which repositories, manifests and tags use
//! it (spec/api.md "Scrub").
//!
//! A blob that went bad on disk (a failing device, a restore from a bad backup, an operator
//! or an earlier bug writing into `blobs/`) is otherwise served as is: GET does not re-hash.
//! Clients that check digests refuse it, but every pull fails until someone notices. Scrub
//! finds them; after quarantine the blob is absent (GET answers `BLOB_UNKNOWN`, not wrong
//! bytes) until the genuine bytes are pushed again, which stores them afresh.
//!
//! It runs offline (`pqreg-registry scrub`, the server stopped, with a report) or online in
//! the server every `gc.scrub_interval_secs` (each corrupt blob logged as a warning). Each
//! mismatch is re-hashed under the exclusive GC lock before it is moved (pushes commit
//! under the shared lock), so a push of the genuine bytes that replaced the file meanwhile
//! is not quarantined.

use std::collections::HashSet;
use std::io::Read;

use serde::Serialize;

use crate::digest::BlobDigest;
use crate::error::{ApiError, ApiResult};
use crate::meta::BlobUse;
use crate::state::AppState;
use crate::storage::CHUNK;

/// Exit code of `pqreg-registry scrub` when corrupt blobs were found (and quarantined
/// unless `--keep` was given). 0 means every blob matched; 1 is an error; 2 a usage error.
pub const EXIT_CORRUPT: i32 = 3;

/// What a scrub found.
#[derive(Debug, Default, Clone, Serialize)]
pub struct ScrubReport {
    /// Blobs re-hashed.
    pub blobs_checked: u64,
    /// Their bytes.
    pub bytes_checked: u64,
    /// Blobs whose bytes do not hash to their name.
    pub corrupt: Vec<Corrupt>,
}

/// One blob whose bytes do not match its digest.
#[derive(Debug, Clone, Serialize)]
pub struct Corrupt {
    /// The digest it is stored under.
    pub digest: String,
    /// What its bytes hash to.
    pub actual: String,
    /// Its length.
    pub size: u64,
    /// Where it was moved (absent with `--keep`).
    pub quarantined_to: Option<String>,
    /// Repositories that link it or whose manifests reference it.
    pub used_by: Vec<BlobUse>,
}

/// Hashes a blob as stored, with its digest's algorithm; `None` if it is gone.
async fn hash_blob(st: &AppState, d: &BlobDigest) -> ApiResult<Option<BlobDigest>> {
    let mut h = d.hasher();
    if let Some(mut f) = st.store.local_file(d).await? {
        let h = tokio::task::spawn_blocking(move || -> std::io::Result<BlobDigest> {
            let mut buf = vec![0u8; CHUNK];
            loop {
                let n = f.read(&mut buf)?;
                if n == 0 {
                    return Ok(h.finalize());
                }
                h.update(&buf[..n]);
            }
        })
        .await
        .map_err(ApiError::internal)??;
        return Ok(Some(h));
    }
    let Some((_, mut stream)) = st.store.get(d, None).await? else {
        return Ok(None);
    };
    use futures_util::StreamExt as _;
    while let Some(piece) = stream.next().await {
        h.update(&piece?);
    }
    Ok(Some(h.finalize()))
}

/// Re-hashes every blob; quarantines mismatches unless `keep`. An error is the registry's
/// own ([`ApiError`], `UNKNOWN` or `STORAGE_FULL`); the cause is logged where it happened.
pub async fn scrub(st: &AppState, keep: bool) -> ApiResult<ScrubReport> {
    let mut report = ScrubReport::default();
    for (d, stat) in st.store.list().await? {
        let Some(actual) = hash_blob(st, &d).await? else {
            continue; // deleted meanwhile
        };
        report.blobs_checked += 1;
        report.bytes_checked += stat.size;
        if actual == d {
            continue;
        }
        let _gc = st.gc_lock.write().await;
        let actual = match hash_blob(st, &d).await? {
            Some(a) if a != d => a,
            _ => continue, // replaced by a good copy meanwhile
        };
        let quarantined_to = if keep {
            None
        } else {
            st.store.quarantine(&d).await?
        };
        tracing::warn!(
            digest = %d,
            %actual,
            ?quarantined_to,
            "blob does not match its digest; push the genuine bytes again to restore it"
        );
        report.corrupt.push(Corrupt {
            digest: d.to_string(),
            actual: actual.to_string(),
            size: stat.size,
            quarantined_to,
            used_by: Vec::new(),
        });
    }
    if !report.corrupt.is_empty() {
        let wanted: HashSet<String> = report.corrupt.iter().map(|c| c.digest.clone()).collect();
        let mut users = st.db(move |m| m.blob_users(&wanted)).await?;
        for c in &mut report.corrupt {
            c.used_by = users.remove(&c.digest).unwrap_or_default();
        }
    }
    Ok(report)
}

/// The report as text, one paragraph per corrupt blob and a summary line.
pub fn render_text(r: &ScrubReport) -> String {
    let mut out = String::new();
    for c in &r.corrupt {
        out.push_str(&format!(
            "CORRUPT {} ({} bytes) hashes to {}\n",
            c.digest, c.size, c.actual
        ));
        match &c.quarantined_to {
            Some(p) => out.push_str(&format!("  moved to {p}\n")),
            None => out.push_str("  left in place (--keep)\n"),
        }
        if c.used_by.is_empty() {
            out.push_str("  used by no repository\n");
        }
        for u in &c.used_by {
            out.push_str(&format!(
                "  repository {}{}\n",
                u.repository,
                if u.linked { " (linked)" } else { "" }
            ));
            for m in &u.manifests {
                let tags = if m.tags.is_empty() {
                    String::new()
                } else {
                    format!(" tags: {}", m.tags.join(", "))
                };
                out.push_str(&format!("    manifest {}{tags}\n", m.digest));
            }
        }
    }
    out.push_str(&format!(
        "checked {} blobs ({} bytes): {} corrupt{}\n",
        r.blobs_checked,
        r.bytes_checked,
        r.corrupt.len(),
        if r.corrupt.is_empty() {
            ""
        } else {
            "; push the genuine bytes again to restore each one"
        }
    ));
    out
}

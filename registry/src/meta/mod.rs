//! Metadata in redb: repositories, tags, manifests (bytes and media type), per-repository
//! blob links, the referrers index and upload sessions.
//!
//! Tables (keys are tuples so that one repository's rows sort together):
//!
//! | table | key | value |
//! |---|---|---|
//! | `repos` | name | creation time (unix seconds) |
//! | `tags` | (repo, tag) | manifest digest |
//! | `manifests` | (repo, digest) | [`ManifestRecord`] as JSON (the same bytes may have a row under each algorithm: one manifest, deleted together) |
//! | `manifest_bytes` | (repo, digest) | the manifest exactly as pushed |
//! | `links` | (blob digest, repo) | time linked (unix seconds) |
//! | `referrers` | (repo, subject digest, referrer digest) | descriptor JSON |
//! | `uploads` | session id | [`UploadRecord`] as JSON |
//!
//! Manifests live here rather than in the blob store: they are small (≤ 4 MiB), and
//! storing them in the same transaction as their tag and referrer rows makes a manifest
//! push atomic. Every mutation is one write transaction. Blob bytes are committed to the
//! blob store *before* the link that makes them visible, so a crash between the two leaves
//! only an unlinked blob, which garbage collection removes.

mod store;

pub use store::{BlobUse, GcLinks, ManifestUse, Meta, PutRefused, TagChange};

use serde::{Deserialize, Serialize};

/// Why a metadata operation failed (always a server-side fault).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetaError {
    /// The database failed.
    #[error("metadata store: {0}")]
    Db(#[source] Box<redb::Error>),
    /// A stored record did not decode.
    #[error("metadata record: {0}")]
    Record(#[from] serde_json::Error),
    /// A manifest record without its bytes (the two are written in one transaction).
    #[error("metadata store: manifest {0} has a record but no bytes")]
    NoBytes(String),
}

from_redb!(MetaError::Db);

/// What the registry keeps about a manifest besides its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestRecord {
    /// The `Content-Type` it was pushed with.
    pub media_type: String,
    /// Its length in bytes.
    pub size: u64,
    /// Blobs it references (config, layers), all linked in the repository when pushed.
    pub blobs: Vec<String>,
    /// Manifests it references (an index's children).
    pub children: Vec<String>,
    /// The manifest it refers to (`subject`), if any.
    pub subject: Option<String>,
    /// Push time (unix seconds).
    pub created: u64,
}

/// A resumable upload session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadRecord {
    /// The repository it uploads into.
    pub repo: String,
    /// Bytes durably received.
    pub offset: u64,
    /// Creation time (unix seconds).
    pub created: u64,
    /// Last append (unix seconds).
    pub updated: u64,
    /// The client that opened it (user name, or address when anonymous); only it may use
    /// the session. Empty in records written before owners were kept: nobody matches.
    #[serde(default)]
    pub owner: String,
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

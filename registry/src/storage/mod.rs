//! Blob storage: content-addressed bytes behind the [`BlobStore`] trait, and the upload
//! sessions that produce them.
//!
//! The store knows nothing of repositories: which repository may read which blob is the
//! metadata store's business (`crate::meta`, "links"). A blob appears under its digest
//! only after its bytes hashed to that digest and were made durable; a mismatch leaves
//! nothing behind.
//!
//! Bodies travel as channels of [`Bytes`] chunks of bounded size and count, so the memory
//! one upload or download holds is bounded whatever the blob's size.

pub mod fs;

use std::io;
use std::pin::Pin;
use std::time::SystemTime;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::stream::Stream;
use pqreg_spec::Digest;
use pqreg_spec::digest::Hasher;
use tokio::sync::mpsc;

/// Size of the pieces bodies are moved in (and of each read from disk).
pub const CHUNK: usize = 1 << 20;
/// How many pieces may wait between the network and the disk, per transfer.
pub const DEPTH: usize = 4;

/// A blob's size and the time it was last written or re-linked (for GC's grace period).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobStat {
    /// Length in bytes.
    pub size: u64,
    /// Last write or touch.
    pub modified: SystemTime,
}

/// A stream of body pieces.
pub type ByteStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

/// Pieces of a request body on their way to the store; an `Err` means the client went away.
pub type BodyRx = mpsc::Receiver<io::Result<Bytes>>;

/// What an upload session has received: its length and the running digest of its bytes.
#[derive(Clone)]
pub struct UploadState {
    /// Bytes received so far.
    pub offset: u64,
    /// SHA-256 of those bytes.
    pub hasher: Hasher,
}

/// How an append ended.
pub struct Appended {
    /// The state after the bytes that arrived were written.
    pub state: UploadState,
    /// Whether the body ended early (client disconnect); the bytes before that are kept.
    pub cut: bool,
}

/// How committing an upload ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Committed {
    /// The blob is stored under the expected digest (newly, or it already was).
    Stored {
        /// Its size.
        size: u64,
    },
    /// The bytes hash to something else; the upload's data is gone.
    Mismatch {
        /// The digest of what was received.
        actual: Digest,
    },
}

/// A content-addressed blob store with upload sessions.
///
/// Implementations must make [`BlobStore::commit`] atomic: after a crash the blob is either
/// fully present under its digest or absent.
pub trait BlobStore: Send + Sync + 'static {
    /// The size and modification time of a blob, if stored.
    fn stat<'a>(&'a self, digest: &'a Digest) -> BoxFuture<'a, io::Result<Option<BlobStat>>>;

    /// Opens a blob and streams bytes `start..=end` of it (the whole blob if `range` is
    /// `None`). Returns the blob's total size and the stream. The blob stays readable
    /// through the stream even if it is deleted meanwhile.
    fn get<'a>(
        &'a self,
        digest: &'a Digest,
        range: Option<(u64, u64)>,
    ) -> BoxFuture<'a, io::Result<Option<(u64, ByteStream)>>>;

    /// Deletes a blob; `false` if it was not there.
    fn delete<'a>(&'a self, digest: &'a Digest) -> BoxFuture<'a, io::Result<bool>>;

    /// Every stored blob (for garbage collection).
    fn list(&self) -> BoxFuture<'_, io::Result<Vec<(Digest, BlobStat)>>>;

    /// Marks a blob as just used, so garbage collection's grace period starts again.
    fn touch<'a>(&'a self, digest: &'a Digest) -> BoxFuture<'a, io::Result<bool>>;

    /// Appends a body to upload `id` at `offset` (creating it at offset 0). `state` is the
    /// running state if the caller kept it; without it the store re-reads what it has.
    /// Bytes past `offset` (left by a crash) are discarded first.
    fn append<'a>(
        &'a self,
        id: &'a str,
        offset: u64,
        state: Option<UploadState>,
        body: BodyRx,
    ) -> BoxFuture<'a, io::Result<Appended>>;

    /// Ends upload `id`: if its bytes hash to `expected`, makes them the blob `expected`
    /// durably and atomically; otherwise deletes them. Either way the upload is gone.
    fn commit<'a>(
        &'a self,
        id: &'a str,
        state: UploadState,
        expected: &'a Digest,
    ) -> BoxFuture<'a, io::Result<Committed>>;

    /// Discards upload `id` (no error if absent).
    fn abort<'a>(&'a self, id: &'a str) -> BoxFuture<'a, io::Result<()>>;

    /// Every upload's id and last modification time (for purging stale ones).
    fn list_uploads(&self) -> BoxFuture<'_, io::Result<Vec<(String, SystemTime)>>>;

    /// Total bytes of stored blobs (for `/metrics`), if cheap to know.
    fn total_size(&self) -> BoxFuture<'_, io::Result<u64>>;
}

/// A fresh upload-session id: 32 lowercase hex characters from the system CSPRNG.
pub fn new_upload_id() -> io::Result<String> {
    let mut b = [0u8; 16];
    aws_lc_rs::rand::fill(&mut b).map_err(|_| io::Error::other("system random failed"))?;
    Ok(hex::encode(b))
}

/// Whether `id` has the shape [`new_upload_id`] gives (so it is safe as a file name).
pub fn upload_id_ok(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Reads a whole body channel into memory, refusing more than `limit` bytes (for
/// manifests, which are small and bounded).
pub async fn collect_limited(mut rx: BodyRx, limit: usize) -> io::Result<Result<Vec<u8>, ()>> {
    let mut out = Vec::new();
    while let Some(piece) = rx.recv().await {
        let piece = piece?;
        if out.len() + piece.len() > limit {
            return Ok(Err(()));
        }
        out.extend_from_slice(&piece);
    }
    Ok(Ok(out))
}

//! Blob storage: content-addressed bytes behind the [`BlobStore`] trait, and the upload
//! sessions that produce them.
//!
//! The store knows nothing of repositories: which repository may read which blob is the
//! metadata store's business (`crate::meta`, "links"). A blob appears under its digest
//! only after its bytes hashed to that digest and were made durable; a mismatch leaves
//! nothing behind.
//!
//! Bodies travel as channels of bounded size and count, so the memory one upload or
//! download holds is bounded whatever the blob's size. Upload bodies move as [`Batch`]es:
//! the network buffers actix filled, passed on without copying.

pub mod fs;

use std::fs::File;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use futures_util::future::{BoxFuture, FutureExt};
use futures_util::stream::Stream;
use pqreg_spec::digest::Hasher;
use tokio::sync::mpsc;

use crate::digest::BlobDigest;

/// Size of the pieces bodies are moved in (and of each read from disk): large enough that
/// per-piece costs (channel hand-offs, syscalls) vanish against the bytes, small enough
/// that [`DEPTH`] of them per transfer cost little memory.
pub const CHUNK: usize = 1 << 20;
/// Most pieces in one [`Batch`]: Linux's `IOV_MAX`, so a batch is written with one
/// `writev`.
pub const MAX_PIECES: usize = 1024;
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

/// A run of request-body pieces, about [`CHUNK`] bytes in all, as the network delivered
/// them: batching makes the per-piece costs small without copying the bytes into one
/// buffer (which measurably cost ~15% of an upload's CPU).
pub type Batch = Vec<Bytes>;

/// Batches of a request body on their way to the store; an `Err` means the client went
/// away.
pub type BodyRx = mpsc::Receiver<io::Result<Batch>>;

/// What an upload session has received: its length, the running digest of its bytes and
/// the descriptor they were written through.
#[derive(Clone)]
pub struct UploadState {
    /// Bytes received so far.
    pub offset: u64,
    /// SHA-256 of those bytes (a commit to a SHA-512 digest re-reads them instead: uploads
    /// learn their digest only at the end, and SHA-512 ones are rare).
    pub hasher: Hasher,
    /// The file the hashed bytes were written into (filesystem backend). A commit makes
    /// *this* file the blob, never whatever the upload's path names by then: a file that
    /// was unlinked or replaced meanwhile is refused instead of recreated.
    pub file: Option<Arc<File>>,
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
        actual: BlobDigest,
    },
}

/// A content-addressed blob store with upload sessions.
///
/// Implementations must make [`BlobStore::commit`] atomic: after a crash the blob is either
/// fully present under its digest or absent.
pub trait BlobStore: Send + Sync + 'static {
    /// The size and modification time of a blob, if stored.
    fn stat<'a>(&'a self, digest: &'a BlobDigest) -> BoxFuture<'a, io::Result<Option<BlobStat>>>;

    /// Opens a blob and streams bytes `start..=end` of it (the whole blob if `range` is
    /// `None`). Returns the blob's total size and the stream. The blob stays readable
    /// through the stream even if it is deleted meanwhile.
    fn get<'a>(
        &'a self,
        digest: &'a BlobDigest,
        range: Option<(u64, u64)>,
    ) -> BoxFuture<'a, io::Result<Option<(u64, ByteStream)>>>;

    /// Opens a blob as a local file, for `sendfile`; `None` if it is absent or this
    /// backend does not keep blobs in local files (callers then use [`BlobStore::get`]).
    fn local_file<'a>(&'a self, digest: &'a BlobDigest) -> BoxFuture<'a, io::Result<Option<File>>> {
        let _ = digest;
        std::future::ready(Ok(None)).boxed()
    }

    /// Deletes a blob; `false` if it was not there.
    fn delete<'a>(&'a self, digest: &'a BlobDigest) -> BoxFuture<'a, io::Result<bool>>;

    /// Moves a blob aside so it is no longer served (for `pqreg-registry scrub`); returns
    /// where it went, or `None` if it was absent.
    fn quarantine<'a>(
        &'a self,
        digest: &'a BlobDigest,
    ) -> BoxFuture<'a, io::Result<Option<String>>>;

    /// Every stored blob (for garbage collection).
    fn list(&self) -> BoxFuture<'_, io::Result<Vec<(BlobDigest, BlobStat)>>>;

    /// Marks a blob as just used, so garbage collection's grace period starts again.
    fn touch<'a>(&'a self, digest: &'a BlobDigest) -> BoxFuture<'a, io::Result<bool>>;

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
    ///
    /// The blob becomes the very file whose bytes were hashed (`state.file`), checked for
    /// length; an upload whose file vanished or was replaced while in flight is an error,
    /// never an empty or zero-filled blob. A blob already stored under `expected` is not
    /// trusted: it is replaced by the bytes just hashed (a corrupted or poisoned copy heals
    /// when the genuine content is pushed again).
    fn commit<'a>(
        &'a self,
        id: &'a str,
        state: UploadState,
        expected: &'a BlobDigest,
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
    while let Some(batch) = rx.recv().await {
        for piece in batch? {
            if out.len() + piece.len() > limit {
                return Ok(Err(()));
            }
            out.extend_from_slice(&piece);
        }
    }
    Ok(Ok(out))
}

/// Writes a small secret file (a key) so that it is either absent or complete: mode 0600,
/// a temporary file in the same directory, fsync, rename, fsync of the directory.
pub fn write_private_file(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    fn sha(data: &[u8]) -> BlobDigest {
        pqreg_spec::Digest::sha256(data).into()
    }

    fn body(pieces: &[&[u8]]) -> BodyRx {
        let (tx, rx) = mpsc::channel(pieces.len().max(1));
        for p in pieces {
            tx.try_send(Ok(vec![Bytes::copy_from_slice(p)])).unwrap();
        }
        rx
    }

    async fn read_all(store: &dyn BlobStore, d: &BlobDigest, range: Option<(u64, u64)>) -> Vec<u8> {
        let (_, mut s) = store.get(d, range).await.unwrap().unwrap();
        let mut out = Vec::new();
        while let Some(p) = s.next().await {
            out.extend_from_slice(&p.unwrap());
        }
        out
    }

    /// The suite every [`BlobStore`] backend must pass (STYLE.md #4).
    pub async fn suite(store: &dyn BlobStore) {
        let data = b"hello, blob store";
        let d = sha(data);
        assert_eq!(store.stat(&d).await.unwrap(), None);
        // Two appends, the second without cached state (as after a restart).
        let id = new_upload_id().unwrap();
        let a = store
            .append(&id, 0, None, body(&[&data[..5]]))
            .await
            .unwrap();
        assert_eq!(a.state.offset, 5);
        let a = store
            .append(&id, 5, None, body(&[&data[5..9], &data[9..]]))
            .await
            .unwrap();
        assert!(!a.cut);
        assert_eq!(a.state.offset, data.len() as u64);
        assert_eq!(store.list_uploads().await.unwrap().len(), 1);
        let c = store.commit(&id, a.state, &d).await.unwrap();
        assert_eq!(
            c,
            Committed::Stored {
                size: data.len() as u64
            }
        );
        assert!(store.list_uploads().await.unwrap().is_empty());
        assert_eq!(
            store.stat(&d).await.unwrap().unwrap().size,
            data.len() as u64
        );
        assert_eq!(read_all(store, &d, None).await, data);
        assert_eq!(read_all(store, &d, Some((7, 11))).await, &data[7..12]);
        assert_eq!(store.list().await.unwrap().len(), 1);
        assert_eq!(store.total_size().await.unwrap(), data.len() as u64);
        assert!(store.touch(&d).await.unwrap());

        // Bytes past the recorded offset are discarded on resume.
        let id = new_upload_id().unwrap();
        let a = store
            .append(&id, 0, None, body(&[b"abcXYZ"]))
            .await
            .unwrap();
        assert_eq!(a.state.offset, 6);
        let a = store.append(&id, 3, None, body(&[b"def"])).await.unwrap();
        let c = store.commit(&id, a.state, &sha(b"abcdef")).await.unwrap();
        assert_eq!(c, Committed::Stored { size: 6 });

        // A mismatch stores nothing and leaves no upload.
        let id = new_upload_id().unwrap();
        let a = store.append(&id, 0, None, body(&[b"wrong"])).await.unwrap();
        let want = sha(b"right");
        let c = store.commit(&id, a.state, &want).await.unwrap();
        assert_eq!(
            c,
            Committed::Mismatch {
                actual: sha(b"wrong")
            }
        );
        assert_eq!(store.stat(&want).await.unwrap(), None);
        assert!(store.list_uploads().await.unwrap().is_empty());

        // An upload whose file was removed while in flight (as GC's orphan sweep once did)
        // fails its commit; nothing is stored under the digest, zeros least of all.
        let id = new_upload_id().unwrap();
        let a = store
            .append(&id, 0, None, body(&[b"in flight"]))
            .await
            .unwrap();
        store.abort(&id).await.unwrap();
        let want = sha(b"in flight");
        assert!(store.commit(&id, a.state, &want).await.is_err());
        assert_eq!(store.stat(&want).await.unwrap(), None);
        // Resuming such an upload fails too (its data is gone) instead of starting over.
        let id = new_upload_id().unwrap();
        let a = store.append(&id, 0, None, body(&[b"abc"])).await.unwrap();
        store.abort(&id).await.unwrap();
        let e = store
            .append(&id, 3, Some(a.state), body(&[b"def"]))
            .await
            .err()
            .expect("append to a removed upload");
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);

        // Abort and delete.
        let id = new_upload_id().unwrap();
        store.append(&id, 0, None, body(&[b"x"])).await.unwrap();
        store.abort(&id).await.unwrap();
        assert!(store.list_uploads().await.unwrap().is_empty());
        assert!(store.delete(&d).await.unwrap());
        assert!(!store.delete(&d).await.unwrap());
        assert!(!store.touch(&d).await.unwrap());
        assert!(store.get(&d, None).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn fs_store_passes_the_suite() {
        let dir = tempfile::tempdir().unwrap();
        let store = fs::FsStore::open(dir.path()).unwrap();
        suite(&store).await;

        // A stored copy that went bad is replaced, not kept, when the bytes are pushed again.
        let data = b"genuine bytes";
        let d = sha(data);
        for _ in 0..2 {
            let id = new_upload_id().unwrap();
            let a = store.append(&id, 0, None, body(&[data])).await.unwrap();
            store.commit(&id, a.state, &d).await.unwrap();
            let hex = d.hex();
            let path = dir.path().join("blobs/sha256").join(&hex[..2]).join(&hex);
            assert_eq!(std::fs::read(&path).unwrap(), data);
            std::fs::write(&path, vec![0u8; data.len()]).unwrap();
        }
        // And scrub's quarantine moves it aside.
        let moved = store.quarantine(&d).await.unwrap().unwrap();
        assert_eq!(std::fs::read(moved).unwrap(), vec![0u8; data.len()]);
        assert_eq!(store.stat(&d).await.unwrap(), None);
        assert_eq!(store.quarantine(&d).await.unwrap(), None);
    }

    #[test]
    fn upload_ids() {
        let id = new_upload_id().unwrap();
        assert!(upload_id_ok(&id));
        assert_ne!(id, new_upload_id().unwrap());
        assert!(!upload_id_ok("../x") && !upload_id_ok(&id.to_uppercase()) && !upload_id_ok(""));
    }

    /// Which SHA-256 to stream uploads through: `sha2` (pure Rust, runtime SHA-NI) or
    /// aws-lc-rs. Run: `cargo test -p pqreg-registry --lib sha256_speed -- --ignored --nocapture`.
    #[test]
    #[ignore = "measurement, not a check"]
    fn sha256_speed() {
        use std::time::Instant;
        let buf = vec![0x5au8; 1 << 20];
        let rounds = 512;
        for _ in 0..2 {
            let t = Instant::now();
            let mut h = pqreg_spec::digest::Hasher::new();
            for _ in 0..rounds {
                h.update(&buf);
            }
            let a = h.finalize();
            let sha2 = rounds as f64 / t.elapsed().as_secs_f64();
            let t = Instant::now();
            let mut c = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
            for _ in 0..rounds {
                c.update(&buf);
            }
            let b = c.finish();
            let awslc = rounds as f64 / t.elapsed().as_secs_f64();
            assert_eq!(a.as_bytes(), b.as_ref());
            println!("sha2 {sha2:.0} MiB/s, aws-lc-rs {awslc:.0} MiB/s");
        }
    }
}

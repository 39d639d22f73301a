//! The filesystem blob store, pqreg-registry's default.
//!
//! ```text
//! <data-dir>/
//! ├── meta.redb                      metadata (crate::meta): repositories, tags, manifests,
//! │                                  links, referrers, upload sessions
//! ├── blobs/
//! │   └── sha256/
//! │       └── ab/                    first two hex characters of the digest
//! │           └── ab34…ef            the blob, named by its 64 hex characters
//! └── uploads/
//!     └── 9f0c…31                    an upload in progress: the bytes received so far,
//!                                    named by its 32-hex session id
//! ```
//!
//! An upload streams into `uploads/<id>` while it is hashed; each append ends with
//! `fdatasync`. Committing checks the digest, `fsync`s the file, renames it to its place
//! under `blobs/` (same filesystem, so the rename is atomic) and `fsync`s the directory.
//! A digest mismatch deletes the upload file. So a blob file, once visible, is complete
//! and correct, whatever moment the process is killed at; an upload file is at least as
//! long as the offset the metadata recorded for it (longer is truncated on resume).
//!
//! An append hashes on one thread while another writes the network's buffers with `writev`
//! (no copy into a buffer of ours) and `fdatasync`s in the background every
//! `SYNC_EVERY` bytes. [`BlobStore::get`] reads on a blocking thread in [`CHUNK`]
//! pieces, at most [`DEPTH`] ahead of the socket; blob GETs over plain HTTP do not use it
//! but `sendfile` from [`BlobStore::local_file`] (`crate::api::sendfile`).

use std::fs::{self, File, OpenOptions};
use std::io::{self, IoSlice, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use futures_util::future::{BoxFuture, FutureExt};
use pqreg_spec::Digest;
use pqreg_spec::digest::Hasher;
use tokio::sync::mpsc;

use super::{
    Appended, Batch, BlobStat, BlobStore, BodyRx, ByteStream, CHUNK, Committed, DEPTH, MAX_PIECES,
    UploadState,
};

/// Bytes an upload writes between two background `fdatasync`s (see [`write_durably`]).
const SYNC_EVERY: usize = 64 << 20;

/// A [`BlobStore`] in a directory.
#[derive(Debug, Clone)]
pub struct FsStore {
    root: Arc<PathBuf>,
}

impl FsStore {
    /// Opens (creating if needed) the store under `root`.
    pub fn open(root: &Path) -> io::Result<Self> {
        fs::create_dir_all(root.join("blobs").join("sha256"))?;
        fs::create_dir_all(root.join("uploads"))?;
        Ok(FsStore {
            root: Arc::new(root.to_path_buf()),
        })
    }

    fn blob_path(&self, d: &Digest) -> PathBuf {
        let hex = d.hex();
        self.root
            .join("blobs")
            .join("sha256")
            .join(&hex[..2])
            .join(hex)
    }

    fn upload_path(&self, id: &str) -> PathBuf {
        self.root.join("uploads").join(id)
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| io::Error::other(format!("blocking task failed: {e}")))?
}

fn stat_of(meta: &fs::Metadata) -> BlobStat {
    BlobStat {
        size: meta.len(),
        modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
    }
}

fn not_found_none<T>(r: io::Result<T>) -> io::Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Hashes the first `len` bytes of `f`.
fn rehash(f: &mut File, len: u64) -> io::Result<Hasher> {
    let mut h = Hasher::new();
    f.seek(SeekFrom::Start(0))?;
    let mut take = (&*f).take(len);
    let mut buf = vec![0u8; CHUNK];
    let mut seen = 0u64;
    loop {
        let n = take.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        seen += n as u64;
    }
    if seen != len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "upload file shorter than its recorded offset",
        ));
    }
    Ok(h)
}

/// Writes every batch of `rx` to `f` at its position, then makes them durable.
///
/// `fdatasync` also runs every [`SYNC_EVERY`] bytes on a helper thread, so the disk
/// writes back while the transfer goes on and the final sync waits only for the tail
/// (measured: the final sync of a 1 GiB upload took 0.45 s of its 3.3 s). Both syncs'
/// errors are returned: a failed writeback is reported once per open file, so the helper's
/// error must not be lost.
fn write_durably(f: &File, rx: std::sync::mpsc::Receiver<Batch>) -> io::Result<()> {
    let (kick, kicked) = std::sync::mpsc::sync_channel::<()>(1);
    let mut kicked = Some(kicked);
    std::thread::scope(|scope| {
        let mut syncer = None;
        let mut unsynced = 0usize;
        let mut wrote = Ok(());
        for batch in rx {
            match write_all_vectored(f, &batch) {
                Ok(n) => unsynced += n,
                Err(e) => {
                    wrote = Err(e);
                    break;
                }
            }
            if unsynced >= SYNC_EVERY {
                unsynced = 0;
                if let Some(kicked) = kicked.take() {
                    syncer = Some(scope.spawn(move || -> io::Result<()> {
                        for () in kicked {
                            f.sync_data()?;
                        }
                        Ok(())
                    }));
                }
                let _ = kick.try_send(()); // if it is busy, its next round covers these
            }
        }
        drop(kick);
        let synced = match syncer {
            Some(s) => s
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("upload syncer panicked"))),
            None => Ok(()),
        };
        wrote?;
        synced?;
        f.sync_data()
    })
}

/// Writes all of `pieces` at `f`'s position with as few `writev` calls as the kernel
/// allows; returns the byte count.
fn write_all_vectored(mut f: &File, pieces: &[Bytes]) -> io::Result<usize> {
    let mut slices: Vec<IoSlice<'_>> = pieces.iter().map(|p| IoSlice::new(p)).collect();
    let total = slices.iter().map(|s| s.len()).sum();
    let mut rest = &mut slices[..];
    while !rest.is_empty() {
        let n = rest.len().min(MAX_PIECES);
        match f.write_vectored(&rest[..n]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut rest, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(total)
}

/// [`BlobStore::commit`]'s work: checks the digest, syncs, renames into place.
fn commit_file(
    src: &Path,
    dst: &Path,
    state: UploadState,
    expected: Digest,
) -> io::Result<Committed> {
    let actual = state.hasher.finalize();
    let size = state.offset;
    if actual != expected {
        let _ = not_found_none(fs::remove_file(src))?;
        return Ok(Committed::Mismatch { actual });
    }
    // The file may not exist yet for an empty blob that never got an append.
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(src)?;
    if f.metadata()?.len() != size {
        f.set_len(size)?;
    }
    f.sync_all()?;
    drop(f);
    let parent = dst.parent().map(Path::to_path_buf).unwrap_or_default();
    fs::create_dir_all(&parent)?;
    if dst.exists() {
        // Already stored (same digest, same bytes): keep the old file, restart its
        // grace period, drop ours.
        OpenOptions::new()
            .write(true)
            .open(dst)?
            .set_modified(SystemTime::now())?;
        fs::remove_file(src)?;
    } else {
        fs::rename(src, dst)?;
        sync_dir(&parent)?;
    }
    Ok(Committed::Stored { size })
}

impl BlobStore for FsStore {
    fn stat<'a>(&'a self, digest: &'a Digest) -> BoxFuture<'a, io::Result<Option<BlobStat>>> {
        let path = self.blob_path(digest);
        blocking(move || not_found_none(fs::metadata(path)).map(|m| m.as_ref().map(stat_of)))
            .boxed()
    }

    fn get<'a>(
        &'a self,
        digest: &'a Digest,
        range: Option<(u64, u64)>,
    ) -> BoxFuture<'a, io::Result<Option<(u64, ByteStream)>>> {
        let path = self.blob_path(digest);
        async move {
            let Some(file) = blocking(move || not_found_none(File::open(path))).await? else {
                return Ok(None);
            };
            let (file, size) = blocking(move || {
                let size = file.metadata()?.len();
                Ok((file, size))
            })
            .await?;
            let (start, end_excl) = match range {
                Some((s, e)) => (s, e.saturating_add(1).min(size)),
                None => (0, size),
            };
            let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(DEPTH);
            tokio::task::spawn_blocking(move || {
                let mut file = file;
                if let Err(e) = file.seek(SeekFrom::Start(start)) {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
                let mut pos = start;
                while pos < end_excl {
                    let want = usize::try_from(end_excl - pos).unwrap_or(CHUNK).min(CHUNK);
                    // `read_to_end` fills spare capacity without zeroing it first (a
                    // zeroed buffer cost a third of a GET's CPU, measured).
                    let mut buf = Vec::with_capacity(want);
                    match (&file).take(want as u64).read_to_end(&mut buf) {
                        Ok(0) => {
                            let _ = tx.blocking_send(Err(io::ErrorKind::UnexpectedEof.into()));
                            return;
                        }
                        Ok(n) => {
                            pos += n as u64;
                            if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                                return; // the client went away
                            }
                        }
                        Err(e) => {
                            let _ = tx.blocking_send(Err(e));
                            return;
                        }
                    }
                }
            });
            let stream = futures_util::stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|item| (item, rx))
            });
            Ok(Some((size, Box::pin(stream) as ByteStream)))
        }
        .boxed()
    }

    fn local_file<'a>(&'a self, digest: &'a Digest) -> BoxFuture<'a, io::Result<Option<File>>> {
        let path = self.blob_path(digest);
        blocking(move || not_found_none(File::open(path))).boxed()
    }

    fn delete<'a>(&'a self, digest: &'a Digest) -> BoxFuture<'a, io::Result<bool>> {
        let path = self.blob_path(digest);
        blocking(move || not_found_none(fs::remove_file(path)).map(|r| r.is_some())).boxed()
    }

    fn list(&self) -> BoxFuture<'_, io::Result<Vec<(Digest, BlobStat)>>> {
        let dir = self.root.join("blobs").join("sha256");
        blocking(move || {
            let mut out = Vec::new();
            for prefix in fs::read_dir(&dir)? {
                let prefix = prefix?;
                if !prefix.file_type()?.is_dir() {
                    continue;
                }
                for entry in fs::read_dir(prefix.path())? {
                    let entry = entry?;
                    let name = entry.file_name();
                    let Some(d) = name.to_str().and_then(|n| Digest::from_hex(n).ok()) else {
                        continue; // not ours
                    };
                    if let Some(m) = not_found_none(entry.metadata())? {
                        out.push((d, stat_of(&m)));
                    }
                }
            }
            Ok(out)
        })
        .boxed()
    }

    fn touch<'a>(&'a self, digest: &'a Digest) -> BoxFuture<'a, io::Result<bool>> {
        let path = self.blob_path(digest);
        blocking(move || {
            let Some(f) = not_found_none(OpenOptions::new().write(true).open(path))? else {
                return Ok(false);
            };
            f.set_modified(SystemTime::now())?;
            Ok(true)
        })
        .boxed()
    }

    fn append<'a>(
        &'a self,
        id: &'a str,
        offset: u64,
        state: Option<UploadState>,
        mut body: BodyRx,
    ) -> BoxFuture<'a, io::Result<Appended>> {
        let path = self.upload_path(id);
        blocking(move || {
            let mut f = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)?;
            let len = f.metadata()?.len();
            if len < offset {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "upload file shorter than its recorded offset",
                ));
            }
            if len > offset {
                // Bytes written after the last recorded offset (a crash or a failed
                // request): the client will send them again.
                f.set_len(offset)?;
            }
            let mut state = match state {
                Some(s) if s.offset == offset => s,
                _ => UploadState {
                    offset,
                    hasher: rehash(&mut f, offset)?,
                },
            };
            f.seek(SeekFrom::Start(offset))?;
            // Hash here and write on a second thread, so SHA-256 and the copy into the
            // page cache run in parallel; at most DEPTH batches wait between them.
            let (wtx, wrx) = std::sync::mpsc::sync_channel::<Batch>(DEPTH);
            let mut cut = false;
            let written = std::thread::scope(|scope| {
                let writer = scope.spawn(|| write_durably(&f, wrx));
                while let Some(batch) = body.blocking_recv() {
                    match batch {
                        Ok(batch) => {
                            for piece in &batch {
                                state.hasher.update(piece);
                                state.offset += piece.len() as u64;
                            }
                            if wtx.send(batch).is_err() {
                                break; // the writer failed; its error is returned below
                            }
                        }
                        Err(_) => {
                            cut = true;
                            break;
                        }
                    }
                }
                drop(wtx);
                writer
                    .join()
                    .unwrap_or_else(|_| Err(io::Error::other("upload writer panicked")))
            });
            if let Err(e) = written {
                // Give back the space (a full disk is the likely cause); the session's
                // recorded offset is unchanged, so its data up to there stays valid.
                let _ = f.set_len(offset);
                return Err(e);
            }
            Ok(Appended { state, cut })
        })
        .boxed()
    }

    fn commit<'a>(
        &'a self,
        id: &'a str,
        state: UploadState,
        expected: &'a Digest,
    ) -> BoxFuture<'a, io::Result<Committed>> {
        let src = self.upload_path(id);
        let dst = self.blob_path(expected);
        let expected = *expected;
        blocking(move || {
            let r = commit_file(&src, &dst, state, expected);
            if r.is_err() {
                // Gone either way (the trait's promise), and a full disk gets its space back.
                let _ = fs::remove_file(src);
            }
            r
        })
        .boxed()
    }

    fn abort<'a>(&'a self, id: &'a str) -> BoxFuture<'a, io::Result<()>> {
        let path = self.upload_path(id);
        blocking(move || not_found_none(fs::remove_file(path)).map(|_| ())).boxed()
    }

    fn list_uploads(&self) -> BoxFuture<'_, io::Result<Vec<(String, SystemTime)>>> {
        let dir = self.root.join("uploads");
        blocking(move || {
            let mut out = Vec::new();
            for entry in fs::read_dir(dir)? {
                let entry = entry?;
                if let (Some(name), Some(m)) = (
                    entry.file_name().to_str().map(str::to_owned),
                    not_found_none(entry.metadata())?,
                ) {
                    out.push((name, m.modified().unwrap_or(SystemTime::UNIX_EPOCH)));
                }
            }
            Ok(out)
        })
        .boxed()
    }

    fn total_size(&self) -> BoxFuture<'_, io::Result<u64>> {
        async move { Ok(self.list().await?.iter().map(|(_, s)| s.size).sum()) }.boxed()
    }
}

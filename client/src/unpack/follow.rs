//! What happens to the staged files while the chunks land.
//!
//! - [`flushing`]: a thread writes them back to disk as they fill, so the final `fsync` of
//!   each file waits for little.
//! - [`Follower`] (`--verify-plaintext`, spec/signing.md §7 step 9): each file is hashed in
//!   file order as soon as a contiguous prefix of it has been written, by whichever worker
//!   completes the chunk that extends the prefix, while the other workers go on fetching
//!   and decrypting. The bytes hashed are re-read from the staged file, so what is checked
//!   is exactly what was written.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, mpsc};

use pqreg_spec::Digest;
use pqreg_spec::digest::Hasher;

use super::UnpackError;
use crate::Error;

const BUF: usize = 1 << 20;

/// Bytes of a file reported written since its last `fdatasync` that make the flusher sync
/// it again.
const FLUSH_EVERY: u64 = 32 << 20;

/// Reports written bytes to the flusher of [`flushing`].
pub(crate) struct Flush {
    tx: mpsc::Sender<(usize, u64)>,
}

impl Flush {
    /// `len` more bytes of file `i` were written.
    pub fn written(&self, i: usize, len: u64) {
        // The flusher only stops once every `Flush` is gone.
        let _ = self.tx.send((i, len));
    }
}

/// Runs `f` while a thread `fdatasync`s each of the staged `paths` every [`FLUSH_EVERY`]
/// bytes that `f` reports written to it, and returns `f`'s result or else the first sync
/// error.
///
/// Without it the kernel starts writing back only at its dirty thresholds (gigabytes on
/// this machine), so the final fsync wrote the whole model after the last chunk landed.
/// The first version used `POSIX_FADV_DONTNEED` from the writing workers instead; measured
/// on a 1 GiB pull it cost 0.7 CPU seconds more (client/bench/README.md). A sync error is
/// returned, never dropped: Linux reports a writeback error once per open file, so one
/// swallowed here might not show in the final fsync.
pub(crate) fn flushing<T>(
    paths: &[PathBuf],
    f: impl FnOnce(&Flush) -> Result<T, Error>,
) -> Result<T, Error> {
    let (tx, rx) = mpsc::channel::<(usize, u64)>();
    std::thread::scope(|s| {
        let flusher = s.spawn(move || -> Result<(), Error> {
            let mut pending = vec![0u64; paths.len()];
            for (i, n) in rx {
                pending[i] += n;
                if pending[i] < FLUSH_EVERY {
                    continue;
                }
                pending[i] = 0;
                // Opened per sync (one open per 32 MiB), not kept: a model of thousands of
                // large files must not hold thousands of descriptors.
                let path = &paths[i];
                File::open(path)
                    .and_then(|f| f.sync_data())
                    .map_err(io_err(path))?;
            }
            Ok(())
        });
        // The `Flush` (and with it the channel) is dropped when `f` returns, which ends
        // the flusher's loop.
        let r = f(&Flush { tx });
        let flushed = flusher
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        let out = r?;
        flushed?;
        Ok(out)
    })
}

/// The progress of one file.
struct Progress {
    /// Written ranges not hashed yet: start -> end.
    written: BTreeMap<u64, u64>,
    /// Bytes `0..hashed` are hashed.
    hashed: u64,
    /// `None` while a worker hashes outside the lock.
    hasher: Option<Hasher>,
    /// A worker is hashing this file; others only record their ranges.
    busy: bool,
    digest: Option<Digest>,
}

/// Ordered hashing of the staged files of one pull (`--verify-plaintext`).
pub(crate) struct Follower {
    paths: Vec<PathBuf>,
    sizes: Vec<u64>,
    files: Vec<Mutex<Progress>>,
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| {
        UnpackError::Io {
            path: path.to_owned(),
            source,
        }
        .into()
    }
}

fn poisoned(path: &Path) -> Error {
    UnpackError::Io {
        path: path.to_owned(),
        source: std::io::Error::other("a worker panicked while hashing this file"),
    }
    .into()
}

impl Follower {
    /// A follower for the staged `paths` of files of `sizes` bytes (index order).
    pub fn new(paths: &[PathBuf], sizes: &[u64]) -> Self {
        let files = sizes
            .iter()
            .map(|&size| {
                Mutex::new(Progress {
                    written: BTreeMap::new(),
                    hashed: 0,
                    hasher: Some(Hasher::new()),
                    busy: false,
                    digest: (size == 0).then(|| Digest::sha256(b"")),
                })
            })
            .collect();
        Follower {
            paths: paths.to_vec(),
            sizes: sizes.to_vec(),
            files,
        }
    }

    /// Records that bytes `offset..offset + len` of file `i` are written, and hashes
    /// whatever prefix of the file that completes (unless another worker is already
    /// hashing this file: it picks the range up before it stops).
    pub fn written(&self, i: usize, offset: u64, len: u64) -> Result<(), Error> {
        let (path, slot) = (&self.paths[i], &self.files[i]);
        {
            let mut p = slot.lock().map_err(|_| poisoned(path))?;
            if len > 0 {
                let end = p.written.entry(offset).or_insert(offset + len);
                *end = (*end).max(offset + len);
            }
            if p.busy {
                return Ok(());
            }
            p.busy = true;
        }
        // Opened (with its buffer) only once there is something to hash.
        let mut reader: Option<(File, Vec<u8>)> = None;
        loop {
            // Take the contiguous run of written ranges that starts at `hashed`.
            let (start, end, mut hasher) = {
                let mut p = slot.lock().map_err(|_| poisoned(path))?;
                let start = p.hashed;
                let mut end = start;
                while let Some((&s, &e)) = p.written.range(..=end).next() {
                    p.written.remove(&s);
                    end = end.max(e);
                }
                let hasher = match p.hasher.take() {
                    Some(h) if end > start => h,
                    other => {
                        p.hasher = other;
                        p.busy = false;
                        return Ok(());
                    }
                };
                (start, end, hasher)
            };
            let r = match &mut reader {
                Some((file, buf)) => hash_range(file, path, start, end, &mut hasher, buf),
                None => File::open(path).map_err(io_err(path)).and_then(|file| {
                    let (file, buf) = reader.insert((file, vec![0u8; BUF]));
                    hash_range(file, path, start, end, &mut hasher, buf)
                }),
            };
            let mut p = slot.lock().map_err(|_| poisoned(path))?;
            if let Err(e) = r {
                p.busy = false;
                return Err(e);
            }
            p.hashed = end;
            if end >= self.sizes[i] {
                p.digest = Some(hasher.finalize());
                p.busy = false;
                return Ok(());
            }
            p.hasher = Some(hasher);
        }
    }

    /// The digest of file `i`, once all of it was hashed.
    pub fn digest(&self, i: usize) -> Option<Digest> {
        self.files[i].lock().ok().and_then(|p| p.digest)
    }
}

/// Hashes bytes `start..end` of `file`.
fn hash_range(
    file: &File,
    path: &Path,
    start: u64,
    end: u64,
    hasher: &mut Hasher,
    buf: &mut [u8],
) -> Result<(), Error> {
    let mut pos = start;
    while pos < end {
        let n = ((end - pos) as usize).min(buf.len());
        file.read_exact_at(&mut buf[..n], pos)
            .map_err(io_err(path))?;
        hasher.update(&buf[..n]);
        pos += n as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn flushing_returns_the_result_and_never_drops_a_sync_error() {
        let dir = tempfile::tempdir().unwrap();
        let (a, gone) = (dir.path().join("a"), dir.path().join("gone"));
        std::fs::write(&a, b"x").unwrap();
        // Fewer bytes than FLUSH_EVERY: no sync is tried, even for a missing file.
        let paths = [a.clone(), gone.clone()];
        let r = flushing(&paths, |f| {
            f.written(1, FLUSH_EVERY - 1);
            Ok(7)
        });
        assert_eq!(r.unwrap(), 7);
        // Enough to sync a file that exists: fine; one that does not: its error comes back.
        let r = flushing(&paths, |f| {
            f.written(0, FLUSH_EVERY);
            Ok(())
        });
        assert!(r.is_ok());
        let r = flushing(&paths, |f| {
            f.written(1, FLUSH_EVERY / 2);
            f.written(1, FLUSH_EVERY / 2);
            Ok(())
        });
        match r {
            Err(Error::Unpack(UnpackError::Io { path, .. })) => assert_eq!(path, gone),
            other => panic!("{other:?}"),
        }
        // The closure's own error wins over the flusher's.
        let r: Result<(), Error> = flushing(&paths, |f| {
            f.written(1, FLUSH_EVERY);
            Err(UnpackError::LogUnverified.into())
        });
        assert!(matches!(r, Err(Error::Unpack(UnpackError::LogUnverified))));
    }

    #[test]
    fn out_of_order_ranges_hash_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::File::create(&path)
            .unwrap()
            .write_all(&data)
            .unwrap();
        let empty = dir.path().join("e");
        std::fs::File::create(&empty).unwrap();
        let f = Follower::new(&[path, empty], &[data.len() as u64, 0]);
        assert_eq!(f.digest(1), Some(Digest::sha256(b"")));
        // Written out of order, with an overlap: nothing is hashed until the prefix is.
        f.written(0, 2_000_000, 1_000_000).unwrap();
        f.written(0, 1_000_000, 1_000_000).unwrap();
        assert_eq!(f.digest(0), None);
        f.written(0, 500_000, 600_000).unwrap();
        assert_eq!(f.digest(0), None, "0..500000 is still missing");
        f.written(0, 0, 500_000).unwrap();
        assert_eq!(f.digest(0), Some(Digest::sha256(&data)));
    }

    #[test]
    fn concurrent_writers_hash_each_byte_once_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..8_000_000u32).map(|i| (i * 13 % 241) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let f = Follower::new(&[path], &[data.len() as u64]);
        let chunk = 250_000u64;
        let n = data.len() as u64 / chunk;
        std::thread::scope(|s| {
            for t in 0..4u64 {
                let f = &f;
                s.spawn(move || {
                    // Each thread takes every 4th chunk, from the end backwards.
                    for k in (0..n).rev().filter(|k| k % 4 == t) {
                        f.written(0, k * chunk, chunk).unwrap();
                    }
                });
            }
        });
        assert_eq!(f.digest(0), Some(Digest::sha256(&data)));
    }
}

//! Reading blobs from an untrusted source: small blobs read whole with a size bound and
//! checked against their descriptor; chunk layers streamed through the segment opener
//! while the ciphertext is hashed (layer digest) and the plaintext is hashed (chunk
//! digest) and written at its offsets in the staged files.
//!
//! When opening a segment fails, the rest of the blob is still hashed: a blob that does
//! not match its digest is reported as a digest mismatch (exit 10, spec/signing.md step
//! 1) rather than as the decryption failure it also causes (14).

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use pqreg_spec::Digest;
use pqreg_spec::compress::{Layout, WeightCodec};
use pqreg_spec::digest::Hasher;
use pqreg_spec::oci::Descriptor;
use pqreg_spec::segment::{ChunkKey, OpenReader, SegmentError};

use super::{BlobSource, UnpackError};
use crate::Error;

const BUF: usize = 1 << 20;

/// A reader that hashes (unless the source already verified the blob) and counts what
/// passes through it.
pub(crate) struct HashingReader<R> {
    inner: R,
    /// `None`: the source checked this blob's digest itself ([`BlobSource::verified`]).
    hasher: Option<Hasher>,
    n: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R, verified: bool) -> Self {
        HashingReader {
            inner,
            hasher: (!verified).then(Hasher::new),
            n: 0,
        }
    }

    /// Reads the rest, then checks length and digest against `desc`. A read that fails
    /// is reported as what it is (a transfer or I/O error): nothing can be said about the
    /// digest of a blob that was not read to its end.
    pub(super) fn finish(mut self, what: &'static str, desc: &Descriptor) -> Result<(), Error> {
        let mut sink = io::sink();
        if let Err(e) = io::copy(&mut self, &mut sink) {
            return Err(match crate::transfer::BlobStream::transfer_error(e) {
                Ok(t) => t.into(),
                Err(source) => UnpackError::Io {
                    path: PathBuf::from(desc.digest.to_string()),
                    source,
                }
                .into(),
            });
        }
        let digest = self.hasher.map_or(desc.digest, Hasher::finalize);
        check(what, desc, self.n, digest)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(h) = &mut self.hasher {
            h.update(&buf[..n]);
        }
        self.n += n as u64;
        Ok(n)
    }
}

fn check(what: &'static str, desc: &Descriptor, n: u64, actual: Digest) -> Result<(), Error> {
    if n != desc.size {
        return Err(UnpackError::BlobSize {
            what,
            digest: desc.digest,
            expected: desc.size,
            actual: n,
        }
        .into());
    }
    if actual != desc.digest {
        return Err(UnpackError::BlobDigest {
            what,
            expected: desc.digest,
            actual,
        }
        .into());
    }
    Ok(())
}

/// Reads a whole small blob (at most `max` bytes) and checks it against `desc`.
pub(crate) fn read_small<S: BlobSource>(
    source: &S,
    what: &'static str,
    desc: &Descriptor,
    max: u64,
) -> Result<Vec<u8>, Error> {
    if desc.size > max {
        return Err(UnpackError::TooLarge {
            what,
            size: desc.size,
        }
        .into());
    }
    let r = source.open_blob(&desc.digest)?;
    let mut buf = Vec::with_capacity(desc.size as usize);
    // One byte more than promised reveals a longer blob.
    r.take(desc.size + 1)
        .read_to_end(&mut buf)
        .map_err(|source| UnpackError::Io {
            path: PathBuf::from(desc.digest.to_string()),
            source,
        })?;
    check(what, desc, buf.len() as u64, Digest::sha256(&buf))?;
    Ok(buf)
}

/// Opens a whole sealed (or framed) blob held in memory: the index layer. The plaintext
/// (which holds chunk keys) is zeroized when dropped; sized up front so that a stored
/// index, as spec/artifact.md §7 requires, is never reallocated (and copied) while read.
pub(crate) fn open_small(
    what: &'static str,
    desc: &Descriptor,
    blob: &[u8],
    key: Option<ChunkKey>,
) -> Result<zeroize::Zeroizing<Vec<u8>>, Error> {
    let mut r = OpenReader::with_codec(blob, key, stored_or_planes()?);
    let mut out = zeroize::Zeroizing::new(Vec::with_capacity(blob.len()));
    r.read_to_end(&mut out)
        .map_err(|e| decrypt_err(what, desc, e))?;
    Ok(out)
}

fn stored_or_planes() -> Result<WeightCodec, Error> {
    // Decoding reads each body's own layout; the one given here is not used.
    WeightCodec::new(Layout::Bytes).map_err(|e| Error::Spec(e.into()))
}

fn decrypt_err(what: &'static str, desc: &Descriptor, e: io::Error) -> Error {
    // A download that failed under the reader is a transfer error (its own exit code).
    let e = match crate::transfer::BlobStream::transfer_error(e) {
        Ok(t) => return t.into(),
        Err(e) => e,
    };
    match SegmentError::from_io(&e) {
        Some(se) => UnpackError::Decrypt {
            what,
            digest: desc.digest,
            source: se.clone(),
        }
        .into(),
        None => UnpackError::Io {
            path: PathBuf::from(desc.digest.to_string()),
            source: e,
        }
        .into(),
    }
}

/// One chunk layer to fetch, and where its plaintext goes.
#[derive(Debug, Clone)]
pub(crate) struct LayerJob {
    pub layer: Descriptor,
    pub chunk: Digest,
    /// The chunk's key from the index (`None` when unencrypted).
    pub key: Option<ChunkKey>,
    pub length: u64,
    /// Zero bytes sealed after the plaintext (spec/encryption.md §6.5): checked, never
    /// written.
    pub padding: u64,
    /// Every occurrence of the chunk.
    pub targets: Vec<Target>,
}

/// Where one occurrence of a chunk goes.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// The file's position in the index.
    pub file: usize,
    /// Its staged path.
    pub path: PathBuf,
    /// The chunk's offset in it.
    pub offset: u64,
}

/// Streams one chunk layer: ciphertext digest and size, segment tags, plaintext length
/// and plaintext digest (against the index's chunk digest); plaintext written to every
/// target. Returns the blob bytes read.
///
/// The plaintext is hashed here, as it is decrypted: the segment tags bind it only to
/// the chunk's key, which every recipient holds, so a recipient could seal other bytes
/// under it; the digest in the (committed, signed-for) index is what pins the chunk. The
/// staged files are renamed into place only after every chunk passed.
///
/// Writes to one file take `file_locks[file]`: two workers writing the same file at once
/// contend for its inode lock, and the kernel lets the waiter spin on the CPU while the
/// holder copies (10% of a pull's CPU in `rwsem_spin_on_owner` when the page cache had to
/// take fresh pages); waiting on our lock sleeps instead.
pub(crate) fn fetch_layer<S: BlobSource>(
    source: &S,
    job: &LayerJob,
    file_locks: &[std::sync::Mutex<()>],
) -> Result<u64, Error> {
    let key = job.key.clone();
    let raw = source.open_blob(&job.layer.digest)?;
    let verified = source.verified(&job.layer.digest);
    let counted = HashingReader::new(raw.take(job.layer.size + 1), verified);
    let mut opener = OpenReader::with_codec(counted, key, stored_or_planes()?);
    let files: Vec<File> = job
        .targets
        .iter()
        .map(|t| {
            OpenOptions::new()
                .write(true)
                .open(&t.path)
                .map_err(|source| UnpackError::Io {
                    path: t.path.clone(),
                    source,
                })
        })
        .collect::<Result<_, _>>()?;
    let mut buf = vec![0u8; BUF];
    let mut plain = Hasher::new();
    let mut pos = 0u64;
    let mut failure = None;
    // Sealed plaintext: `length` bytes of the chunk, then `padding` zero bytes.
    let sealed = job.length + job.padding;
    loop {
        match opener.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if pos + n as u64 > sealed {
                    failure = Some(Error::from(UnpackError::ChunkLength {
                        chunk: job.chunk,
                        expected: sealed,
                        actual: pos + n as u64,
                    }));
                    break;
                }
                // The part of this read that is the chunk; the rest is padding.
                let data = usize::try_from(job.length.saturating_sub(pos)).map_or(n, |d| d.min(n));
                if let Some(i) = buf[data..n].iter().position(|&b| b != 0) {
                    failure = Some(Error::from(UnpackError::ChunkPadding {
                        chunk: job.chunk,
                        offset: pos + (data + i) as u64,
                    }));
                    break;
                }
                plain.update(&buf[..data]);
                for (t, f) in job.targets.iter().zip(&files).filter(|_| data > 0) {
                    let io = |source| UnpackError::Io {
                        path: t.path.clone(),
                        source,
                    };
                    let _writing = file_locks[t.file].lock().map_err(|_| {
                        io(io::Error::other(
                            "a worker panicked while writing this file",
                        ))
                    })?;
                    f.write_all_at(&buf[..data], t.offset + pos).map_err(io)?;
                }
                pos += n as u64;
            }
            Err(e) => {
                failure = Some(decrypt_err("chunk", &job.layer, e));
                break;
            }
        }
    }
    let counted = opener.into_inner();
    let read = counted.n;
    // A failed download first (nothing can be said about the blob), then the digest: a
    // blob that is not what the manifest names is a digest mismatch.
    if let Some(Error::Transfer(e)) = failure {
        return Err(Error::Transfer(e));
    }
    counted.finish("chunk", &job.layer)?;
    if let Some(e) = failure {
        return Err(e);
    }
    if pos != sealed {
        return Err(UnpackError::ChunkLength {
            chunk: job.chunk,
            expected: sealed,
            actual: pos,
        }
        .into());
    }
    let _ = read;
    let actual = plain.finalize();
    if actual != job.chunk {
        return Err(UnpackError::ChunkDigest {
            expected: job.chunk,
            actual,
        }
        .into());
    }
    Ok(job.layer.size)
}

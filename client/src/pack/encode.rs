//! Pass 2 of packing: compress and seal each chunk the previous version does not have, on
//! worker threads, each under a fresh random key, while hashing the plaintext (it must be
//! what pass 1 hashed: what is sealed is what the index and the signature name) and the
//! ciphertext (the layer digest): into memory while the
//! packer's [`MemoryBudget`] has room for the chunk, else into a temporary file. Besides
//! the budget, a worker holds one read buffer and the sealer's two segment buffers: a few
//! MiB per thread whatever the chunk size.

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};

use pqreg_spec::Digest;
use pqreg_spec::compress::{Layout, WeightCodec};
use pqreg_spec::digest::Hasher;
use pqreg_spec::segment::{ChunkKey, SealWriter, SegmentCodec, Stored};
use tempfile::TempPath;

use super::PackError;
use super::scan::BUF;
use super::sink::{MemoryBudget, MemoryGrant};

/// One chunk to encode.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub path: PathBuf,
    pub offset: u64,
    pub len: u64,
    pub digest: Digest,
    pub layout: Layout,
    /// Zero bytes to seal after the plaintext (size padding, spec/encryption.md §6.5);
    /// `Some` seals every segment stored, uncompressed.
    pub padding: Option<u64>,
}

/// An encoded chunk.
pub(crate) struct Encoded {
    pub layer: Digest,
    pub size: u64,
    pub body: Body,
    /// The random key it was sealed under (`None` when unencrypted).
    pub key: Option<ChunkKey>,
}

/// Where an encoded chunk is.
pub(crate) enum Body {
    /// A temporary file.
    File(TempPath),
    /// Memory, and its share of the budget.
    Memory(Vec<u8>, MemoryGrant),
}

/// The most a chunk of `len` plaintext bytes seals to (spec/encryption.md §6.3: a body is
/// never longer than its segment, plus 22 bytes of record header and tag per segment).
fn sealed_bound(len: u64) -> u64 {
    len + 22
        * len
            .div_ceil(pqreg_spec::segment::SEGMENT_SIZE as u64)
            .max(1)
}

/// A writer that hashes and counts what passes through it.
pub(crate) struct HashingWriter<W> {
    pub inner: W,
    pub hasher: Hasher,
    pub n: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.n += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn encode(
    job: &Job,
    encrypted: bool,
    tmp: &Path,
    budget: &Arc<MemoryBudget>,
) -> Result<Encoded, PackError> {
    // A fresh key for this one sealing (spec/encryption.md §5): never derived again, so
    // whatever the encoder produces, no key and nonce ever seal two byte strings.
    let key = if encrypted {
        Some(ChunkKey::generate().map_err(|e| PackError::Random(e.to_string()))?)
    } else {
        None
    };
    let bound = sealed_bound(job.len + job.padding.unwrap_or(0));
    if let Some(grant) = budget.try_take(bound) {
        let out = budget.buffer(usize::try_from(bound).unwrap_or(0));
        let (layer, size, out) = seal(job, key.clone(), out)?;
        return Ok(Encoded {
            layer,
            size,
            body: Body::Memory(out, grant),
            key,
        });
    }
    let out = tempfile::NamedTempFile::new_in(tmp).map_err(|source| PackError::Io {
        path: tmp.to_owned(),
        source,
    })?;
    let (layer, size, out) = seal(job, key.clone(), BufWriter::with_capacity(BUF, out))?;
    let file = out
        .into_inner()
        .map_err(|e| PackError::Io {
            path: job.path.clone(),
            source: e.into_error(),
        })?
        .into_temp_path();
    Ok(Encoded {
        layer,
        size,
        body: Body::File(file),
        key,
    })
}

/// Reads the chunk, compresses and seals it into `out`: the layer digest, its size and
/// `out`. The plaintext read here is hashed too: if it is not what pass 1 hashed (the
/// file was rewritten in between), the chunk is refused. A padded chunk is stored
/// (compressed lengths are public in the record headers) and followed by its zeros.
fn seal<W: Write>(job: &Job, key: Option<ChunkKey>, out: W) -> Result<(Digest, u64, W), PackError> {
    if job.padding.is_some() {
        return seal_with(job, key, out, Stored);
    }
    let codec = WeightCodec::new(job.layout).map_err(|e| PackError::Compress(e.to_string()))?;
    seal_with(job, key, out, codec)
}

fn seal_with<W: Write, C: SegmentCodec>(
    job: &Job,
    key: Option<ChunkKey>,
    out: W,
    codec: C,
) -> Result<(Digest, u64, W), PackError> {
    let io = |source| PackError::Io {
        path: job.path.clone(),
        source,
    };
    let mut src = File::open(&job.path).map_err(io)?;
    src.seek(SeekFrom::Start(job.offset)).map_err(io)?;
    let sink = HashingWriter {
        inner: out,
        hasher: Hasher::new(),
        n: 0,
    };
    let mut w = SealWriter::with_codec(sink, key, codec);
    let mut buf = vec![0u8; BUF];
    let mut plain = Hasher::new();
    let mut left = job.len;
    while left > 0 {
        let n = (left as usize).min(BUF);
        src.read_exact(&mut buf[..n]).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                PackError::FileChanged(job.path.clone())
            } else {
                io(e)
            }
        })?;
        plain.update(&buf[..n]);
        w.write_all(&buf[..n]).map_err(io)?;
        left -= n as u64;
    }
    if plain.finalize() != job.digest {
        return Err(PackError::FileChanged(job.path.clone()));
    }
    let mut zeros = job.padding.unwrap_or(0);
    if zeros > 0 {
        buf.fill(0);
        while zeros > 0 {
            let n = (zeros as usize).min(BUF);
            w.write_all(&buf[..n]).map_err(io)?;
            zeros -= n as u64;
        }
    }
    let sink = w.finish().map_err(io)?;
    Ok((sink.hasher.finalize(), sink.n, sink.inner))
}

/// Encodes `jobs` on `threads` workers; `on_done` runs on the calling thread for each
/// result, in completion order (it hands blobs to the sink). The first error stops the
/// workers and is returned.
pub(crate) fn run<F>(
    jobs: &[Job],
    threads: usize,
    encrypted: bool,
    tmp: &Path,
    budget: &Arc<MemoryBudget>,
    mut on_done: F,
) -> Result<(), crate::Error>
where
    F: FnMut(usize, Encoded) -> Result<(), crate::Error>,
{
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let threads = threads.clamp(1, jobs.len().max(1));
    std::thread::scope(|s| {
        // A small bound: at most `threads` finished blobs wait for the sink.
        let (tx, rx) = mpsc::sync_channel::<(usize, Result<Encoded, PackError>)>(threads);
        for _ in 0..threads {
            let tx = tx.clone();
            let (next, stop) = (&next, &stop);
            s.spawn(move || {
                loop {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else { break };
                    let r = encode(job, encrypted, tmp, budget);
                    let failed = r.is_err();
                    if tx.send((i, r)).is_err() || failed {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut first_err = None;
        for (i, r) in rx {
            if first_err.is_some() {
                continue; // drain; temp files are deleted as results drop
            }
            let res = r.map_err(crate::Error::from).and_then(|e| on_done(i, e));
            if let Err(e) = res {
                stop.store(true, Ordering::Relaxed);
                first_err = Some(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    })
}

//! Pass 1 of packing: walk the model directory, plan each file's chunks and hash it in
//! one sequential read — the file's SHA-256 and each chunk's SHA-256 (two purposes,
//! each byte hashed once for each). Chunk keys derive from the chunk digests, so they
//! must be known before anything is sealed (pass 2, `encode.rs`).

use std::fs::{self, File};
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use pqreg_spec::Digest;
use pqreg_spec::artifact::{MODE_EXEC, MODE_FILE, check_path};
use pqreg_spec::compress::Layout;
use pqreg_spec::digest::Hasher;

use super::PackError;
use crate::chunker::{PlanParams, TensorPlan, plan_tensor_file};

/// Read buffer of pass 1 and pass 2: one segment.
pub(crate) const BUF: usize = 1 << 20;

/// A regular file found under the model directory.
#[derive(Debug, Clone)]
pub(crate) struct SourceFile {
    /// Relative `/`-separated path (checked by `artifact::check_path`).
    pub rel: String,
    /// Where it is.
    pub abs: PathBuf,
    /// `MODE_FILE` or `MODE_EXEC`.
    pub mode: u32,
    /// Length when walked.
    pub size: u64,
    /// Modification time when walked (to notice a file changing under the packer).
    pub mtime: Option<SystemTime>,
}

/// One planned, hashed chunk.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HashedChunk {
    pub offset: u64,
    pub len: u64,
    pub layout: Layout,
    pub digest: Digest,
}

/// A file after pass 1.
#[derive(Debug, Clone)]
pub(crate) struct ScannedFile {
    pub file: SourceFile,
    pub digest: Digest,
    pub chunks: Vec<HashedChunk>,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> PackError + '_ {
    move |source| PackError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Every regular file under `root`, sorted by relative path (bytewise). Symlinks are
/// refused unless `follow_symlinks` (then a link to a regular file is read as that file;
/// links to directories are refused either way, they can loop).
pub(crate) fn walk(root: &Path, follow_symlinks: bool) -> Result<Vec<SourceFile>, PackError> {
    let mut out = Vec::new();
    let mut stack = vec![(root.to_owned(), String::new())];
    while let Some((dir, prefix)) = stack.pop() {
        for entry in fs::read_dir(&dir).map_err(io(&dir))? {
            let entry = entry.map_err(io(&dir))?;
            let abs = entry.path();
            let name = entry
                .file_name()
                .into_string()
                .map_err(|_| PackError::NonUtf8Path(abs.clone()))?;
            let rel = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            let mut meta = fs::symlink_metadata(&abs).map_err(io(&abs))?;
            if meta.file_type().is_symlink() {
                if !follow_symlinks {
                    return Err(PackError::Symlink(abs));
                }
                meta = fs::metadata(&abs).map_err(io(&abs))?;
                if !meta.is_file() {
                    return Err(PackError::Symlink(abs));
                }
            }
            if meta.is_dir() {
                stack.push((abs, rel));
                continue;
            }
            if !meta.is_file() {
                return Err(PackError::NotRegular(abs));
            }
            check_path(&rel).map_err(|e| PackError::BadPath {
                path: rel.clone(),
                reason: e.to_string(),
            })?;
            let mode = if meta.permissions().mode() & 0o111 != 0 {
                MODE_EXEC
            } else {
                MODE_FILE
            };
            out.push(SourceFile {
                rel,
                abs,
                mode,
                size: meta.len(),
                mtime: meta.modified().ok(),
            });
        }
    }
    out.sort_by(|a, b| a.rel.as_bytes().cmp(b.rel.as_bytes()));
    Ok(out)
}

/// Pass 1 over one file: plan and hash.
pub(crate) fn scan_file(f: &SourceFile, params: &PlanParams) -> Result<ScannedFile, PackError> {
    let path = &f.abs;
    let mut file = File::open(path).map_err(io(path))?;
    let len = file.metadata().map_err(io(path))?.len();
    if len != f.size {
        return Err(PackError::FileChanged(path.clone()));
    }
    // spec/artifact.md section 6: safetensors and GGUF by the rule of
    // pqreg_spec::artifact::chunking (its plans tile the file exactly); a file the rule
    // refuses is an other file.
    if let TensorPlan::Planned(plan, _) =
        plan_tensor_file(BufReader::new(&mut file), path, len, params).map_err(io(path))?
    {
        let plan = plan.iter().map(|c| (c.offset, c.len, c.layout)).collect();
        file.seek(SeekFrom::Start(0)).map_err(io(path))?;
        return hash_planned(f, file, plan);
    }
    file.seek(SeekFrom::Start(0)).map_err(io(path))?;
    hash_cdc(f, file, params)
}

/// Files at least this large hash the whole file on a second thread, beside the chunk
/// hashes (each byte is still hashed once per purpose; the two passes run in parallel).
const PARALLEL_HASH_MIN: u64 = 8 << 20;

/// Buffers in flight between the reader and the whole-file hasher.
const HASH_BUFS: usize = 4;

fn hash_planned(
    f: &SourceFile,
    mut file: File,
    plan: Vec<(u64, u64, Layout)>,
) -> Result<ScannedFile, PackError> {
    std::thread::scope(|scope| {
        // The whole-file hash: inline for small files, else on its own thread, fed the
        // buffers the chunk hasher read (and handing them back for reuse).
        let (to_hasher, from_reader) = std::sync::mpsc::sync_channel::<Vec<u8>>(HASH_BUFS);
        let (give_back, free) = std::sync::mpsc::channel::<Vec<u8>>();
        let mut inline = None;
        let hasher = if f.size >= PARALLEL_HASH_MIN {
            Some(scope.spawn(move || {
                let mut whole = Hasher::new();
                for buf in from_reader {
                    whole.update(&buf);
                    if give_back.send(buf).is_err() {
                        break;
                    }
                }
                whole.finalize()
            }))
        } else {
            inline = Some(Hasher::new());
            None
        };
        let mut chunks = Vec::with_capacity(plan.len());
        let mut spare = 0;
        let mut reuse: Option<Vec<u8>> = None;
        for (offset, len, layout) in plan {
            let mut h = Hasher::new();
            let mut left = len;
            while left > 0 {
                let n = (left as usize).min(BUF);
                let mut buf = match reuse.take().map_or_else(|| free.try_recv(), Ok) {
                    Ok(b) => b,
                    Err(_) if spare < HASH_BUFS + 1 => {
                        spare += 1;
                        vec![0u8; BUF]
                    }
                    Err(_) => free.recv().unwrap_or_else(|_| vec![0u8; BUF]),
                };
                buf.resize(n, 0);
                file.read_exact(&mut buf).map_err(|e| {
                    if e.kind() == std::io::ErrorKind::UnexpectedEof {
                        PackError::FileChanged(f.abs.clone())
                    } else {
                        io(&f.abs)(e)
                    }
                })?;
                h.update(&buf);
                match &mut inline {
                    Some(whole) => {
                        whole.update(&buf);
                        reuse = Some(buf);
                    }
                    None => {
                        // The hasher thread only stops when this sender is dropped.
                        let _ = to_hasher.send(buf);
                    }
                }
                left -= n as u64;
            }
            chunks.push(HashedChunk {
                offset,
                len,
                layout,
                digest: h.finalize(),
            });
        }
        drop(to_hasher);
        let digest = match (inline, hasher) {
            (Some(whole), _) => whole.finalize(),
            (None, Some(t)) => t
                .join()
                .map_err(|_| PackError::FileChanged(f.abs.clone()))?,
            (None, None) => return Err(PackError::FileChanged(f.abs.clone())),
        };
        Ok(ScannedFile {
            file: f.clone(),
            digest,
            chunks,
        })
    })
}

/// A reader that hashes what passes through it.
struct HashingReader<R> {
    inner: R,
    hasher: Hasher,
    n: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.n += n as u64;
        Ok(n)
    }
}

fn hash_cdc(f: &SourceFile, file: File, params: &PlanParams) -> Result<ScannedFile, PackError> {
    let mut reader = HashingReader {
        inner: BufReader::with_capacity(BUF, file),
        hasher: Hasher::new(),
        n: 0,
    };
    let mut chunks = Vec::new();
    {
        let cdc = fastcdc::v2020::StreamCDC::new(
            &mut reader,
            params.cdc_min as usize,
            params.cdc_avg as usize,
            params.cdc_max as usize,
        );
        for c in cdc {
            let c = c.map_err(|e| io(&f.abs)(std::io::Error::from(e)))?;
            chunks.push(HashedChunk {
                offset: c.offset,
                len: c.length as u64,
                layout: Layout::Bytes,
                digest: Digest::sha256(&c.data),
            });
        }
    }
    if reader.n != f.size {
        return Err(PackError::FileChanged(f.abs.clone()));
    }
    Ok(ScannedFile {
        file: f.clone(),
        digest: reader.hasher.finalize(),
        chunks,
    })
}

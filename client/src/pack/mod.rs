//! Packing: a model directory becomes the blobs and manifests of spec/artifact.md,
//! signed as spec/signing.md says, handed to a [`BlobSink`]. No network here: the
//! transfer layer implements [`BlobSink`]; [`DirSink`] writes an OCI image layout.
//!
//! ```text
//!   walk dir (regular files, sorted)                                   scan.rs
//!   pass 1, per file, one sequential read: plan chunks (tensor-aligned or FastCDC),
//!           SHA-256 of the file and of each chunk
//!   dedup:  a chunk digest in the previous version's index reuses its layer and its
//!           key (never re-sealed: spec/encryption.md §9); equal chunks are encoded once
//!   pass 2, per new chunk, on worker threads: read the range, hash it again, compress
//!           per segment, seal under a fresh random key, hash the ciphertext  encode.rs
//!           (a chunk whose second read differs from the first is refused)
//!   index (with every chunk's key) -> sealed under HKDF(fresh content secret,
//!   "pqreg-index-key-v2") (layer 0); config with the key envelope;
//!   manifest; in-toto statement (files + manifest digest) -> DSSE (ML-DSA) -> bundle
//!   -> referrer manifest (subject = model manifest); optional classical bundle  sign.rs
//! ```
//!
//! Measured with `CARGO_PROFILE_DEV_OPT_LEVEL=2 cargo run -p pqreg --example pack_bench
//! -- --mib 256` (256 MiB bf16 ~N(0, 0.02), X-Wing recipient, 2 threads, on the shared
//! 2-core machine at load ~12, debug assertions on): chunk blobs 0.678x the model; pack
//! 90 MB/s, unpack (verify, decrypt, decompress, write, fsync) 131 MB/s; peak RSS
//! 19 MiB after pack, 20 MiB after unpack.

mod encode;
mod scan;
mod sign;
mod sink;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use pqreg_spec::Digest;
use pqreg_spec::artifact::{
    self, Algorithms, Chunk, Config, File as IndexFile, Index, ModelManifest,
};
use pqreg_spec::bundle::TlogEntry;
use pqreg_spec::compress::Layout;
use pqreg_spec::envelope::{ContentSecret, KeyEnvelope};
use pqreg_spec::keys::{KeyId, RecipientPublicKey, SigningKey};
use pqreg_spec::oci::Descriptor;
use pqreg_spec::segment::{ChunkKey, SealWriter};
use pqreg_spec::statement::FileEntry;

use crate::Error;
use crate::chunker::PlanParams;

pub use sign::{LogHook, LogRequest, SignOptions, SignedBundle, sign_model, sign_statement};
pub use sink::{BlobSink, DirSink, MemoryBudget, MemoryGrant, REF_NAME};

/// Default bytes of sealed chunks [`pack_model`] keeps in memory at once (see
/// [`MemoryBudget`]); with the few MiB each thread holds besides, a push stays well under
/// the 256 MiB the client promises, whatever the chunk size.
pub const MEMORY_BUDGET: u64 = 128 << 20;

/// Why packing failed. Every variant is exit code 1 (nothing was verified or trusted).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PackError {
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A symlink was found and the options do not allow them.
    #[error(
        "{0} is a symlink; pqreg packs regular files only (pass --follow-symlinks to read links to files as the files they point to)"
    )]
    Symlink(PathBuf),
    /// Neither a regular file nor a directory (socket, device, FIFO).
    #[error("{0} is not a regular file")]
    NotRegular(PathBuf),
    /// A file name is not UTF-8.
    #[error("{0} has a name that is not UTF-8; rename it before packing")]
    NonUtf8Path(PathBuf),
    /// A relative path breaks spec/artifact.md section 5.1.
    #[error("path {path:?} cannot be packed: {reason}; rename it before packing")]
    BadPath {
        /// The relative path.
        path: String,
        /// Why.
        reason: String,
    },
    /// A file changed length (or was replaced) while it was being packed.
    #[error("{0} changed while it was being packed; pack again when nothing writes to the model")]
    FileChanged(PathBuf),
    /// The directory holds no file: a statement needs at least one.
    #[error("the model directory contains no files")]
    EmptyModel,
    /// A layer of the previous version to be reused is not in the destination: it
    /// cannot be re-encoded (spec/encryption.md §9), so it must be copied there first.
    #[error(
        "layer {layer} (chunk {chunk}) of the previous version is missing from the destination; copy the previous version there first"
    )]
    ReusedLayerMissing {
        /// The chunk's plaintext digest.
        chunk: Digest,
        /// Its layer.
        layer: Digest,
    },
    /// The signing key is not an ML-DSA key (the pqreg bundle must be ML-DSA).
    #[error(
        "the signing key is {0}; pqreg bundles are signed with ML-DSA (use --classic-sign-key for ECDSA)"
    )]
    NotPostQuantum(&'static str),
    /// The classical key is not ECDSA P-256.
    #[error("the classical signing key is {0}; it must be ECDSA P-256")]
    NotClassical(&'static str),
    /// The system random number generator failed (drawing a key).
    #[error("the system random number generator failed: {0}")]
    Random(String),
    /// The compressor could not be set up.
    #[error("compression setup failed: {0}")]
    Compress(String),
    /// The log hook failed.
    #[error("log submission failed: {0}")]
    Log(String),
    /// Size padding was asked for a model without recipients.
    #[error(
        "--pad hides the sizes of encrypted chunks; an unencrypted model shows its sizes in its index: add --recipient, or drop --pad"
    )]
    PadUnencrypted,
}

/// Receives every chunk a pack stored ([`PackOptions::journal`]).
pub type ChunkJournal<'a> = dyn FnMut(&Chunk) -> Result<(), Error> + 'a;

/// What to pack and how.
pub struct PackOptions<'a> {
    /// The subject name of the statement (default: the directory's name).
    pub model_name: Option<String>,
    /// Recipients; none packs the model unencrypted (spec/artifact.md section 9). An
    /// encrypted pack always draws a fresh content secret (spec/encryption.md §3).
    pub recipients: &'a [RecipientPublicKey],
    /// The (verified) index of the previous version: a chunk it lists is reused with its
    /// layer and key, never re-sealed. Only chunks of the same mode (encrypted or not)
    /// are reused.
    pub previous: Option<&'a Index>,
    /// Chunks an interrupted push of this publisher sealed and uploaded
    /// ([`crate::resume`]): a chunk the model needs is taken from here, with its layer
    /// and key, when the sink still has its layer; otherwise it is sealed anew. Only
    /// chunks of the same mode (encrypted or not, padded or not) are taken.
    pub resume: &'a [Chunk],
    /// Called with every chunk this pack stored in the sink, once stored (the journal
    /// that makes an interrupted push resumable, [`crate::resume::Journal`]).
    pub journal: Option<&'a mut ChunkJournal<'a>>,
    /// Test hook: runs after every file was hashed and chunked (pass 1), before any
    /// chunk is read again and sealed (pass 2).
    #[doc(hidden)]
    pub between_passes: Option<&'a dyn Fn()>,
    /// The ML-DSA key that signs the statement.
    pub signing_key: &'a SigningKey,
    /// An optional ECDSA P-256 key for a second, classical bundle OMS tools verify.
    pub classic_key: Option<&'a SigningKey>,
    /// Called once per bundle to obtain its transparency-log entries; `None` leaves
    /// `tlogEntries` empty.
    pub log_hook: Option<&'a mut dyn LogHook>,
    /// Tag of the model manifest at the sink.
    pub tag: Option<String>,
    /// What the statement binds (spec/signing.md §3.1): repository, tag, version and
    /// signing time; `None` signs an unbound statement (pull refuses it).
    pub binding: Option<pqreg_spec::statement::Binding>,
    /// Manifest annotations (informational, spec/artifact.md section 3).
    pub annotations: Option<BTreeMap<String, String>>,
    /// Accept symlinks to regular files (read as the file they point to).
    pub follow_symlinks: bool,
    /// Pad every chunk and the index to their Padmé lengths, sealing chunks uncompressed
    /// (spec/encryption.md §6.5); encrypted models only.
    pub pad: bool,
    /// Chunk planning parameters.
    pub plan: PlanParams,
    /// Worker threads for hashing and encoding.
    pub threads: usize,
    /// Bytes of sealed chunks kept in memory at once ([`MemoryBudget`]; default
    /// [`MEMORY_BUDGET`]); 0 seals every chunk into a temporary file.
    pub memory_budget: u64,
    /// Receives the bytes hashed, then sealed and uploaded (`None`: nothing reported).
    pub progress: Option<&'a dyn crate::progress::Progress>,
}

impl<'a> PackOptions<'a> {
    /// Defaults: unencrypted unless `recipients` is set, 2 threads, default planning.
    pub fn new(signing_key: &'a SigningKey) -> Self {
        PackOptions {
            model_name: None,
            recipients: &[],
            previous: None,
            resume: &[],
            journal: None,
            between_passes: None,
            signing_key,
            classic_key: None,
            log_hook: None,
            tag: None,
            binding: None,
            annotations: None,
            follow_symlinks: false,
            pad: false,
            plan: PlanParams::default(),
            threads: 2,
            memory_budget: MEMORY_BUDGET,
            progress: None,
        }
    }
}

/// Counts of one pack.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackStats {
    /// Files packed.
    pub files: usize,
    /// Plaintext bytes of the model.
    pub model_bytes: u64,
    /// Chunks in the index.
    pub chunks: usize,
    /// Distinct chunks encoded by this pack.
    pub encoded_chunks: usize,
    /// Distinct chunks reused from the previous version.
    pub reused_chunks: usize,
    /// Distinct chunks taken from an interrupted push ([`PackOptions::resume`]).
    pub resumed_chunks: usize,
    /// Chunk blobs handed to the sink (it did not have them).
    pub new_chunk_blobs: usize,
    /// Bytes of those chunk blobs.
    pub new_chunk_bytes: u64,
    /// Bytes of all chunk layers of the manifest (what a fresh pull transfers, plus the
    /// small index, config and manifest).
    pub layer_bytes: u64,
    /// Every blob and manifest handed to the sink, in bytes.
    pub stored_bytes: u64,
}

/// The result of [`pack_model`].
#[derive(Debug)]
pub struct PackedModel {
    /// Digest of the model manifest.
    pub manifest_digest: Digest,
    /// The manifest bytes exactly as stored.
    pub manifest: Vec<u8>,
    /// The config.
    pub config: Config,
    /// The index (keep it as `previous` for the next push).
    pub index: Index,
    /// The content secret of this version (None when unencrypted).
    pub secret: Option<ContentSecret>,
    /// The ML-DSA bundle.
    pub bundle: SignedBundle,
    /// The classical bundle, when a classical key was given.
    pub classic_bundle: Option<SignedBundle>,
    /// Counts.
    pub stats: PackStats,
}

/// Packs the model in `dir` and stores it in `sink` (see the module docs).
pub fn pack_model(
    dir: &Path,
    opts: &mut PackOptions<'_>,
    sink: &mut impl BlobSink,
) -> Result<PackedModel, Error> {
    opts.plan.validate()?;
    signer(opts).check_keys()?;
    let files = scan::walk(dir, opts.follow_symlinks)?;
    if files.is_empty() {
        return Err(PackError::EmptyModel.into());
    }
    let progress = opts.progress;
    let total = files.iter().map(|f| f.size).sum();
    let scanned = crate::progress::in_phase(progress, "hashing", total, || {
        scan_all(&files, &opts.plan, opts.threads, progress)
    })?;
    let encrypted = !opts.recipients.is_empty();
    if opts.pad && !encrypted {
        return Err(PackError::PadUnencrypted.into());
    }
    // A fresh secret for every version: nothing links it to earlier ones, so a recipient
    // removed before this push learns nothing of it (spec/encryption.md §3, §4.4).
    let secret = if encrypted {
        Some(ContentSecret::generate().map_err(|e| Error::Spec(e.into()))?)
    } else {
        None
    };

    // Dedup: layers (and keys) known from the previous version, then new chunks, each
    // once. A chunk keeps the key it was sealed under; none is sealed twice.
    let mut known: HashMap<Digest, Known> = HashMap::new();
    let mut reused = HashSet::new();
    if let Some(prev) = opts.previous {
        for c in prev.files.iter().flat_map(|f| &f.chunks) {
            // Padded chunks only into a padded push, unpadded only into an unpadded one.
            if c.key.is_some() == encrypted && c.padding.is_some() == opts.pad {
                known.insert(
                    c.digest,
                    (c.layer, c.layer_size, c.layout, c.key.clone(), c.padding),
                );
            }
        }
    }
    // An interrupted push's chunks: what it uploaded, under its keys, if still there.
    let resumable: HashMap<Digest, &Chunk> = opts
        .resume
        .iter()
        .filter(|c| c.key.is_some() == encrypted && c.padding.is_some() == opts.pad)
        .map(|c| (c.digest, c))
        .collect();
    let mut resumed = HashSet::new();
    let mut jobs = Vec::new();
    let mut queued = HashSet::new();
    let mut stats = PackStats::default();
    let mut checked_layers = HashSet::new();
    for f in &scanned {
        stats.files += 1;
        stats.model_bytes += f.file.size;
        for c in &f.chunks {
            stats.chunks += 1;
            if !known.contains_key(&c.digest)
                && let Some(r) = resumable.get(&c.digest)
                && r.length == c.len
                && sink.has_blob(&r.layer)?
            {
                known.insert(
                    c.digest,
                    (r.layer, r.layer_size, r.layout, r.key.clone(), r.padding),
                );
                resumed.insert(c.digest);
                continue;
            }
            if resumed.contains(&c.digest) {
                continue;
            }
            if let Some(&(layer, ..)) = known.get(&c.digest) {
                if reused.insert(c.digest)
                    && checked_layers.insert(layer)
                    && !sink.has_blob(&layer)?
                {
                    return Err(PackError::ReusedLayerMissing {
                        chunk: c.digest,
                        layer,
                    }
                    .into());
                }
                continue;
            }
            if queued.insert(c.digest) {
                jobs.push(encode::Job {
                    path: f.file.abs.clone(),
                    offset: c.offset,
                    len: c.len,
                    digest: c.digest,
                    layout: c.layout,
                    padding: opts.pad.then(|| pqreg_spec::segment::padme(c.len) - c.len),
                });
            }
        }
    }
    stats.reused_chunks = reused.len();
    stats.resumed_chunks = resumed.len();
    stats.encoded_chunks = jobs.len();
    let mut journal = opts.journal.take();

    let chunk_media = if encrypted {
        artifact::media_types::CHUNK_ENCRYPTED
    } else {
        artifact::media_types::CHUNK
    };
    let tmp = sink.temp_dir().unwrap_or_else(std::env::temp_dir);
    let budget = MemoryBudget::new(opts.memory_budget);
    if let Some(hook) = opts.between_passes {
        hook();
    }
    let phase = if encrypted {
        "sealing and uploading"
    } else {
        "compressing and uploading"
    };
    if let Some(p) = progress {
        p.phase(phase, jobs.iter().map(|j| j.len).sum());
    }
    encode::run(&jobs, opts.threads, encrypted, &tmp, &budget, |i, enc| {
        let job = &jobs[i];
        crate::progress::advance(progress, job.len);
        if !sink.has_blob(&enc.layer)? {
            let desc = Descriptor::new(chunk_media, enc.layer, enc.size);
            match enc.body {
                encode::Body::File(path) => sink.put_blob_file(&desc, &path)?,
                encode::Body::Memory(bytes, grant) => sink.put_blob_vec(&desc, bytes, grant)?,
            }
            stats.new_chunk_blobs += 1;
            stats.new_chunk_bytes += enc.size;
            stats.stored_bytes += enc.size;
        }
        if let Some(j) = journal.as_mut() {
            j(&Chunk {
                offset: job.offset,
                length: job.len,
                digest: job.digest,
                layer: enc.layer,
                layer_size: enc.size,
                layout: job.layout,
                padding: job.padding,
                key: enc.key.clone(),
            })?;
        }
        known.insert(
            job.digest,
            (enc.layer, enc.size, job.layout, enc.key, job.padding),
        );
        Ok(())
    })?;
    if let Some(p) = progress {
        p.finish();
    }
    for f in &scanned {
        check_unchanged(&f.file)?;
    }

    let index = build_index(&scanned, &known)?;
    let (index_layer, config) = match &secret {
        Some(s) => {
            let sealed = seal_index(&index, s)?;
            let env = KeyEnvelope::seal(s, opts.recipients).map_err(|e| Error::Spec(e.into()))?;
            let config = Config {
                format_version: artifact::FORMAT_VERSION,
                algorithms: Algorithms::encrypted(),
                segment_size: artifact::SEGMENT_SIZE,
                key_envelope: Some(env),
            };
            (sealed, config)
        }
        None => {
            let config = Config {
                format_version: artifact::FORMAT_VERSION,
                algorithms: Algorithms::unencrypted(),
                segment_size: artifact::SEGMENT_SIZE,
                key_envelope: None,
            };
            (index.to_json(), config)
        }
    };
    let index_media = if encrypted {
        artifact::media_types::INDEX_ENCRYPTED
    } else {
        artifact::media_types::INDEX
    };
    let index_desc = Descriptor::of(index_media, &index_layer);
    let config_json = config.to_json();
    let chunk_layers: Vec<Descriptor> = index
        .layers()
        .into_iter()
        .map(|(d, size)| Descriptor::new(chunk_media, d, size))
        .collect();
    stats.layer_bytes = chunk_layers.iter().map(|d| d.size).sum();
    let model = ModelManifest::build(
        &config_json,
        encrypted,
        index_desc.clone(),
        chunk_layers,
        opts.annotations.clone(),
    );
    let manifest = model.manifest.to_json();
    let manifest_desc = Descriptor::of(pqreg_spec::oci::media_types::OCI_MANIFEST, &manifest);

    sink.put_blob_bytes(model.config(), &config_json)?;
    sink.put_blob_bytes(&index_desc, &index_layer)?;
    sink.put_manifest(&manifest_desc, &manifest, opts.tag.as_deref())?;
    stats.stored_bytes += (config_json.len() + index_layer.len() + manifest.len()) as u64;

    let model_name = opts.model_name.clone().unwrap_or_else(|| {
        dir.canonicalize()
            .ok()
            .and_then(|p| p.file_name().and_then(|n| n.to_str()).map(str::to_owned))
            .unwrap_or_else(|| "model".to_owned())
    });
    let entries: Vec<FileEntry> = scanned
        .iter()
        .map(|f| FileEntry {
            path: f.file.rel.clone(),
            digest: f.digest,
            size: f.file.size,
        })
        .collect();
    let signed = sign_model(
        &mut signer(opts),
        &model_name,
        &entries,
        &manifest_desc,
        sink,
    )?;
    stats.stored_bytes += signed.0.stored_bytes;
    if let Some(c) = &signed.1 {
        stats.stored_bytes += c.stored_bytes;
    }
    Ok(PackedModel {
        manifest_digest: manifest_desc.digest,
        manifest,
        config,
        index,
        secret,
        bundle: signed.0,
        classic_bundle: signed.1,
        stats,
    })
}

/// The signing part of `opts`.
fn signer<'s>(opts: &'s mut PackOptions<'_>) -> SignOptions<'s> {
    SignOptions {
        signing_key: opts.signing_key,
        classic_key: opts.classic_key,
        log_hook: match opts.log_hook.as_deref_mut() {
            Some(h) => Some(h),
            None => None,
        },
        binding: opts.binding.clone(),
    }
}

/// Pass 1 over every file, files spread over `threads` workers.
fn scan_all(
    files: &[scan::SourceFile],
    params: &PlanParams,
    threads: usize,
    progress: Option<&dyn crate::progress::Progress>,
) -> Result<Vec<scan::ScannedFile>, Error> {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<Option<Result<scan::ScannedFile, PackError>>>> =
        Mutex::new((0..files.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..threads.clamp(1, files.len().max(1)) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(f) = files.get(i) else { break };
                    let r = scan::scan_file(f, params);
                    crate::progress::advance(progress, f.size);
                    if let Ok(mut o) = out.lock() {
                        o[i] = Some(r);
                    }
                }
            });
        }
    });
    let out = out.into_inner().unwrap_or_default();
    out.into_iter()
        .zip(files)
        .map(|(r, f)| match r {
            Some(r) => r.map_err(Error::from),
            None => Err(PackError::FileChanged(f.abs.clone()).into()),
        })
        .collect()
}

fn check_unchanged(f: &scan::SourceFile) -> Result<(), PackError> {
    let meta = std::fs::metadata(&f.abs).map_err(|source| PackError::Io {
        path: f.abs.clone(),
        source,
    })?;
    if meta.len() != f.size || meta.modified().ok() != f.mtime {
        return Err(PackError::FileChanged(f.abs.clone()));
    }
    Ok(())
}

/// What is known of a chunk: its layer, the layer's size, its layout, its key and its
/// padding.
type Known = (Digest, u64, Layout, Option<ChunkKey>, Option<u64>);

/// The index sealed under the index key of `secret` (spec/encryption.md §5): the sealed
/// layer 0 of an encrypted model, and of a recipient removal's new version.
pub fn seal_index(index: &Index, secret: &ContentSecret) -> Result<Vec<u8>, Error> {
    // The JSON holds every chunk key: zeroized once sealed. A padded index is padded with
    // spaces to its Padmé length (spec/encryption.md §6.5).
    let mut json = zeroize::Zeroizing::new(index.to_json());
    if index.is_padded() {
        let n = json.len();
        let padded = usize::try_from(pqreg_spec::segment::padme(n as u64)).unwrap_or(n);
        // A new buffer of the final size: growing `json` in place could move it and leave
        // the old allocation (chunk keys) unzeroized.
        let mut grown = zeroize::Zeroizing::new(Vec::with_capacity(padded));
        grown.extend_from_slice(&json);
        grown.resize(padded, b' ');
        json = grown;
    }
    let mut w = SealWriter::new(Vec::new(), ChunkKey::index_key(secret));
    w.write_all(&json)
        .and_then(|()| w.finish())
        .map_err(|source| {
            PackError::Io {
                path: PathBuf::from("<index>"),
                source,
            }
            .into()
        })
}

fn build_index(
    scanned: &[scan::ScannedFile],
    layers: &HashMap<Digest, Known>,
) -> Result<Index, Error> {
    let mut files = Vec::with_capacity(scanned.len());
    for f in scanned {
        let mut chunks = Vec::with_capacity(f.chunks.len());
        for c in &f.chunks {
            // Every chunk was either known or encoded above.
            let Some((layer, layer_size, layout, key, padding)) = layers.get(&c.digest) else {
                return Err(PackError::FileChanged(f.file.abs.clone()).into());
            };
            chunks.push(Chunk {
                offset: c.offset,
                length: c.len,
                digest: c.digest,
                layer: *layer,
                layer_size: *layer_size,
                layout: *layout,
                padding: *padding,
                key: key.clone(),
            });
        }
        files.push(IndexFile {
            path: f.file.rel.clone(),
            size: f.file.size,
            mode: f.file.mode,
            digest: f.digest,
            chunks,
        });
    }
    let index = Index {
        format_version: artifact::FORMAT_VERSION,
        files,
    };
    index.validate().map_err(|e| Error::Spec(e.into()))?;
    Ok(index)
}

/// The key ID a recipient list would be sealed to, for messages.
pub fn recipient_ids(recipients: &[RecipientPublicKey]) -> Vec<KeyId> {
    recipients.iter().map(RecipientPublicKey::key_id).collect()
}

/// Log entries a hook returned, for [`SignedBundle`] users.
pub type LogEntries = Vec<TlogEntry>;

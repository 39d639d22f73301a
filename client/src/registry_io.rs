//! The pack and unpack pipelines over a registry: [`RegistrySink`] is a
//! [`BlobSink`] and [`RegistrySource`] a [`BlobSource`] for one repository of a
//! [`RegistryClient`].
//!
//! The chunk layers of a pull stream from the registry straight into the unpacker, which
//! hashes them (layer digest) while it decrypts, and never touch the disk; a transient
//! network failure resumes with `Range` in the same process
//! ([`RegistryClient::spawn_pull_blob_streams`]). Writing them to a cache first and
//! reading them back cost a page-cache write and read of every byte, and each layer was
//! decrypted only once all of it had arrived (client/bench/README.md).
//!
//! Other blobs, and chunk layers with [`RegistrySource::cache_layers`] (`pqreg pull
//! --cache`: an interrupted pull resumes in a later run, a second pull reads locally), go
//! to the content-addressed cache `$XDG_CACHE_HOME/pqreg/blobs/sha256/<hex>`
//! ([`crate::paths::Paths::cache`]): [`RegistryClient::pull_blob_to`] downloads into
//! `<hex>.partial` (resumed on the next pull) and renames only when the SHA-256 matches, so
//! a file in the cache is its digest's content when it was written. The cache is not
//! trusted and need not be durable (the CLI turns `fsync_downloads` off): a blob found
//! there from an earlier run is hashed before use, and deleted and downloaded again when
//! it does not match (torn by a crash, or edited). Blobs downloaded or re-hashed by this
//! source are reported by [`BlobSource::verified`], so the unpacker counts their bytes
//! without hashing them a second time (client/bench/README.md).
//!
//! A blob's size (needed for the download) comes from the descriptors this source has
//! already seen: the config and layers of every manifest fetched through it, and the
//! referrers listed. The unpacker only opens blobs named by manifests it fetched first.
//!
//! Both run transfers in parallel, up to `--concurrency` at once
//! ([`RegistryClient::spawn_push_blob`], [`RegistryClient::spawn_pull_blob_to`]): the sink
//! starts each chunk's upload as soon as it is sealed and waits for all of them before it
//! pushes a manifest; the source starts downloading every chunk layer when the unpacker
//! announces them ([`BlobSource::prefetch`]); `open_blob` hands out that blob's stream,
//! or (cached) waits for its download.

use std::collections::{HashMap, VecDeque};
use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use pqreg_spec::Digest;
use pqreg_spec::oci::{Descriptor, ImageIndex, ImageManifest, media_types};

use crate::Error;
use crate::pack::{BlobSink, PackError};
use crate::transfer::{BlobStream, Pending, PullStats, PushOutcome, RegistryClient, TransferError};
use crate::unpack::{BlobSource, UnpackError};

/// Counts of what a [`RegistrySink`] sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SinkStats {
    /// Blobs uploaded.
    pub uploaded_blobs: usize,
    /// Bytes of those blobs.
    pub uploaded_bytes: u64,
    /// Blobs the registry already had (not uploaded).
    pub skipped_blobs: usize,
    /// Manifests pushed.
    pub manifests: usize,
}

/// A repository of a registry as a [`BlobSink`]: `pqreg push`.
#[derive(Debug)]
pub struct RegistrySink<'c> {
    client: &'c RegistryClient,
    repo: String,
    temp: PathBuf,
    stats: SinkStats,
    /// Uploads started and not yet waited for, oldest first.
    pending: VecDeque<Pending<PushOutcome>>,
}

impl<'c> RegistrySink<'c> {
    /// A sink for `repo` (the repository path, without the host); packer temp files go to
    /// `temp_dir` (created if missing).
    pub fn new(client: &'c RegistryClient, repo: &str, temp_dir: &Path) -> Result<Self, Error> {
        fs::create_dir_all(temp_dir).map_err(|source| PackError::Io {
            path: temp_dir.to_owned(),
            source,
        })?;
        Ok(RegistrySink {
            client,
            repo: repo.to_owned(),
            temp: temp_dir.to_owned(),
            stats: SinkStats::default(),
            pending: VecDeque::new(),
        })
    }

    /// Waits for every upload started so far; the first failure is returned.
    pub fn flush(&mut self) -> Result<(), Error> {
        let mut first = None;
        while let Some(p) = self.pending.pop_front() {
            match self.client.wait(p) {
                Ok(o) => self.count(o),
                Err(e) => {
                    first.get_or_insert(e);
                }
            }
        }
        first.map_or(Ok(()), |e| Err(e.into()))
    }

    /// What was sent so far.
    pub fn stats(&self) -> SinkStats {
        self.stats
    }

    fn count(&mut self, outcome: PushOutcome) {
        match outcome {
            PushOutcome::Uploaded(n) => {
                self.stats.uploaded_blobs += 1;
                self.stats.uploaded_bytes += n;
            }
            PushOutcome::Skipped | PushOutcome::Mounted => self.stats.skipped_blobs += 1,
        }
    }
}

impl RegistrySink<'_> {
    /// Adds a started upload; bounds the open files and the sealed blobs waiting (on disk
    /// or, within the packer's memory budget, in memory) by waiting for the oldest.
    fn queue(&mut self, p: Pending<PushOutcome>) -> Result<(), Error> {
        self.pending.push_back(p);
        while self.pending.len() > 2 * self.client.concurrency() {
            if let Some(p) = self.pending.pop_front() {
                let o = self.client.wait(p)?;
                self.count(o);
            }
        }
        Ok(())
    }

    /// Makes a pushed manifest with a `subject` findable on registries without the
    /// referrers API (Debian's docker-registry, distribution 2.8): when the referrers list
    /// (which the client reads through the tag-schema fallback on such registries) does not
    /// show it, it is added to the referrers tag `sha256-<hex>` of the subject, an image
    /// index (distribution-spec v1.1, "Referrers Tag Schema").
    fn list_in_referrers_tag(&mut self, desc: &Descriptor, bytes: &[u8]) -> Result<(), Error> {
        let Ok(m) = ImageManifest::from_json(bytes) else {
            return Ok(());
        };
        let Some(subject) = &m.subject else {
            return Ok(());
        };
        let listed = self.client.referrers(&self.repo, &subject.digest, None)?;
        if listed.manifests.iter().any(|d| d.digest == desc.digest) {
            return Ok(());
        }
        let tag = format!("sha256-{}", subject.digest.hex());
        let mut index = match self.client.get_manifest(&self.repo, &tag) {
            Ok(f) => ImageIndex::from_json(&f.bytes).map_err(|e| TransferError::BadResponse {
                op: format!("read referrers tag {}:{tag}", self.repo),
                message: e.to_string(),
            })?,
            Err(TransferError::NotFound { .. }) => ImageIndex {
                schema_version: 2,
                media_type: Some(media_types::OCI_INDEX.to_owned()),
                artifact_type: None,
                manifests: Vec::new(),
                subject: None,
                annotations: None,
            },
            Err(e) => return Err(e.into()),
        };
        let mut entry = desc.clone();
        entry.artifact_type = Some(m.effective_artifact_type().to_owned());
        entry.annotations = m.annotations.clone();
        index.manifests.retain(|d| d.digest != desc.digest);
        index.manifests.push(entry);
        self.client
            .put_manifest(&self.repo, &tag, &index.to_json(), media_types::OCI_INDEX)?;
        self.stats.manifests += 1;
        Ok(())
    }
}

impl BlobSink for RegistrySink<'_> {
    fn has_blob(&mut self, digest: &Digest) -> Result<bool, Error> {
        Ok(self.client.has_blob(&self.repo, digest)?)
    }

    fn put_blob_file(&mut self, desc: &Descriptor, path: &Path) -> Result<(), Error> {
        // Opened now: the packer deletes its temp file when this returns.
        let file = File::open(path).map_err(|source| TransferError::Io {
            path: path.to_owned(),
            source,
        })?;
        let p =
            self.client
                .spawn_push_blob(&self.repo, desc.digest, desc.size, file, path.to_owned());
        self.queue(p)
    }

    fn put_blob_vec(
        &mut self,
        desc: &Descriptor,
        bytes: Vec<u8>,
        grant: crate::pack::MemoryGrant,
    ) -> Result<(), Error> {
        if bytes.len() as u64 != desc.size {
            return Err(TransferError::SizeMismatch {
                what: format!("blob {}", desc.digest),
                expected: desc.size,
                actual: bytes.len() as u64,
            }
            .into());
        }
        let p = self
            .client
            .spawn_push_blob_bytes(&self.repo, desc.digest, bytes.into(), |body| {
                grant.give_back(body)
            });
        self.queue(p)
    }

    fn put_blob_bytes(&mut self, desc: &Descriptor, bytes: &[u8]) -> Result<(), Error> {
        // The client streams uploads from files; small blobs take a temp file.
        let mut tmp =
            tempfile::NamedTempFile::new_in(&self.temp).map_err(|source| PackError::Io {
                path: self.temp.clone(),
                source,
            })?;
        tmp.write_all(bytes)
            .and_then(|()| tmp.flush())
            .map_err(|source| PackError::Io {
                path: tmp.path().to_owned(),
                source,
            })?;
        self.put_blob_file(desc, tmp.path())
    }

    fn put_manifest(
        &mut self,
        desc: &Descriptor,
        bytes: &[u8],
        tag: Option<&str>,
    ) -> Result<(), Error> {
        // A manifest goes after every blob it may name.
        self.flush()?;
        // The packer passes the tag for the model manifest only; referrers go by digest.
        let digest = desc.digest.to_string();
        let reference = tag.unwrap_or(&digest);
        let got = self
            .client
            .put_manifest(&self.repo, reference, bytes, &desc.media_type)?;
        if got != desc.digest {
            return Err(TransferError::DigestMismatch {
                what: "pushed manifest".into(),
                expected: desc.digest.to_string(),
                actual: got.to_string(),
            }
            .into());
        }
        self.stats.manifests += 1;
        if tag.is_none() {
            self.list_in_referrers_tag(desc, bytes)?;
        }
        Ok(())
    }

    fn temp_dir(&self) -> Option<PathBuf> {
        Some(self.temp.clone())
    }
}

/// SHA-256 of a cached file.
fn cached_digest(path: &Path) -> Result<Digest, Error> {
    let io = |source| UnpackError::Io {
        path: path.to_owned(),
        source,
    };
    let mut f = File::open(path).map_err(io)?;
    let mut h = pqreg_spec::digest::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = std::io::Read::read(&mut f, &mut buf).map_err(io)?;
        if n == 0 {
            return Ok(h.finalize());
        }
        h.update(&buf[..n]);
    }
}

/// A repository of a registry as a [`BlobSource`]: `pqreg pull` and `verify`.
#[derive(Debug)]
pub struct RegistrySource<'c> {
    client: &'c RegistryClient,
    repo: String,
    cache: PathBuf,
    /// Keep prefetched blobs in the cache (resumable across runs) instead of streaming
    /// them straight to their reader.
    cache_layers: bool,
    sizes: Mutex<HashMap<Digest, u64>>,
    downloaded: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Downloads to the cache started by [`BlobSource::prefetch`], not yet opened.
    prefetched: Mutex<HashMap<Digest, Pending<PullStats>>>,
    /// Streamed downloads started by [`BlobSource::prefetch`], not yet opened.
    streams: Mutex<HashMap<Digest, BlobStream>>,
    /// Blobs downloaded, hashed and renamed into the cache by this source.
    fetched: Mutex<std::collections::HashSet<Digest>>,
}

impl<'c> RegistrySource<'c> {
    /// A source for `repo`, caching blobs under `cache_dir/blobs/sha256/` (created if
    /// missing).
    pub fn new(client: &'c RegistryClient, repo: &str, cache_dir: &Path) -> Result<Self, Error> {
        let cache = cache_dir.join("blobs").join("sha256");
        fs::create_dir_all(&cache).map_err(|source| UnpackError::Io {
            path: cache.clone(),
            source,
        })?;
        Ok(RegistrySource {
            client,
            repo: repo.to_owned(),
            cache,
            cache_layers: false,
            sizes: Mutex::new(HashMap::new()),
            downloaded: Default::default(),
            prefetched: Mutex::new(HashMap::new()),
            streams: Mutex::new(HashMap::new()),
            fetched: Mutex::new(std::collections::HashSet::new()),
        })
    }

    /// With `true`, the blobs [`BlobSource::prefetch`] names are downloaded into the
    /// cache (`.partial` files that a later run resumes with `Range`) and read from there;
    /// with `false` (the default) those not cached yet are streamed from the registry
    /// straight into their reader, which hashes them, and never touch the disk.
    pub fn cache_layers(mut self, yes: bool) -> Self {
        self.cache_layers = yes;
        self
    }

    /// Bytes downloaded from the registry so far (blobs only; cache hits are not counted).
    pub fn downloaded_bytes(&self) -> u64 {
        self.downloaded.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn remember(&self, descs: impl IntoIterator<Item = (Digest, u64)>) {
        if let Ok(mut m) = self.sizes.lock() {
            m.extend(descs);
        }
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.cache.join(digest.hex())
    }

    fn add_downloaded(&self, digest: &Digest, stats: PullStats) {
        self.downloaded
            .fetch_add(stats.downloaded, std::sync::atomic::Ordering::Relaxed);
        self.mark_verified(digest);
    }

    fn mark_verified(&self, digest: &Digest) {
        if let Ok(mut f) = self.fetched.lock() {
            f.insert(*digest);
        }
    }

    fn size_of(&self, digest: &Digest) -> Result<u64, Error> {
        let size = self.sizes.lock().ok().and_then(|m| m.get(digest).copied());
        size.ok_or_else(|| {
            UnpackError::Io {
                path: PathBuf::from(digest.to_string()),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "blob not named by any manifest fetched from this repository",
                ),
            }
            .into()
        })
    }
}

/// A blob of a [`RegistrySource`]: a cached file, or a download streaming in.
#[derive(Debug)]
pub enum SourceReader {
    /// From the cache (its digest was checked).
    File(File),
    /// Straight from the registry (unchecked: the reader's consumer hashes it).
    Stream {
        /// The bytes.
        stream: BlobStream,
        /// The source's download counter.
        counter: std::sync::Arc<std::sync::atomic::AtomicU64>,
    },
}

impl std::io::Read for SourceReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            SourceReader::File(f) => f.read(buf),
            SourceReader::Stream { stream, counter } => {
                let n = stream.read(buf)?;
                counter.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
                Ok(n)
            }
        }
    }
}

impl BlobSource for RegistrySource<'_> {
    type Reader = SourceReader;

    fn get_manifest(&self, digest: &Digest) -> Result<Vec<u8>, Error> {
        let fetched = self.client.get_manifest(&self.repo, &digest.to_string())?;
        if let Ok(m) = ImageManifest::from_json(&fetched.bytes) {
            self.remember(
                std::iter::once(&m.config)
                    .chain(&m.layers)
                    .map(|d| (d.digest, d.size)),
            );
        }
        Ok(fetched.bytes)
    }

    fn open_blob(&self, digest: &Digest) -> Result<SourceReader, Error> {
        let stream = self.streams.lock().ok().and_then(|mut m| m.remove(digest));
        if let Some(stream) = stream {
            return Ok(SourceReader::Stream {
                stream,
                counter: std::sync::Arc::clone(&self.downloaded),
            });
        }
        let path = self.blob_path(digest);
        let pending = self
            .prefetched
            .lock()
            .ok()
            .and_then(|mut m| m.remove(digest));
        if let Some(p) = pending {
            let stats = self.client.wait(p)?;
            self.add_downloaded(digest, stats);
        } else if path.exists() && !self.verified(digest) {
            // Cached by an earlier run: hashed before use; a torn or altered file (the
            // cache need not be fsynced) is deleted and downloaded again.
            if cached_digest(&path)? == *digest {
                self.mark_verified(digest);
            } else {
                let _ = fs::remove_file(&path);
                let size = self.size_of(digest)?;
                let stats = self.client.pull_blob_to(&self.repo, digest, size, &path)?;
                self.add_downloaded(digest, stats);
            }
        } else if !path.exists() {
            let size = self.size_of(digest)?;
            let stats = self.client.pull_blob_to(&self.repo, digest, size, &path)?;
            self.add_downloaded(digest, stats);
        }
        File::open(&path)
            .map(SourceReader::File)
            .map_err(|source| UnpackError::Io { path, source }.into())
    }

    fn referrers(&self, subject: &Digest) -> Result<Vec<Descriptor>, Error> {
        let index = self.client.referrers(&self.repo, subject, None)?;
        self.remember(index.manifests.iter().map(|d| (d.digest, d.size)));
        Ok(index.manifests)
    }

    fn verified(&self, digest: &Digest) -> bool {
        self.fetched.lock().is_ok_and(|f| f.contains(digest))
    }

    fn prefetch(&self, blobs: &[Descriptor]) {
        let (Ok(mut m), Ok(mut streams)) = (self.prefetched.lock(), self.streams.lock()) else {
            return;
        };
        let mut to_stream = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for d in blobs {
            let path = self.blob_path(&d.digest);
            if m.contains_key(&d.digest) || streams.contains_key(&d.digest) || path.exists() {
                continue;
            }
            if self.cache_layers {
                let p = self
                    .client
                    .spawn_pull_blob_to(&self.repo, d.digest, d.size, path);
                m.insert(d.digest, p);
            } else if seen.insert(d.digest) {
                to_stream.push((d.digest, d.size));
            }
        }
        let readers = self.client.spawn_pull_blob_streams(&self.repo, &to_stream);
        streams.extend(to_stream.iter().map(|(d, _)| *d).zip(readers));
    }
}

//! Registry transfers: blobs, manifests, tags and referrers over the OCI
//! distribution-spec v1.1, with retries, resumable pulls and parallel streams.
//!
//! The blob and manifest protocol is [`oci_client`]'s (DESIGN.md, "Dependencies"); the
//! Docker/OCI bearer-token flow is run here (`token.rs`), because oci-client reads the
//! token service's answer whole, and its tokens are handed to oci-client. This module
//! adds what pqreg needs on top:
//!
//! - **Blocking facade.** [`RegistryClient`] owns a small tokio runtime and every method
//!   blocks on it, so the pack/unpack pipeline (which works with `std::io::Read`) and the
//!   CLI need no async code. Do not call it from inside another tokio runtime (tokio
//!   refuses to block a runtime thread), and drop it outside one.
//! - **Pushes stream from the file.** A blob is uploaded with one `POST` (open a session)
//!   and one `PUT ?digest=` whose body streams from the file in 1 MiB reads (our own
//!   requests, monolithic mode): no blob is held in memory, and the registry checks the
//!   digest. A blob the registry already has is not
//!   uploaded ([`PushOutcome::Skipped`]). A retry reopens the file and starts over.
//! - **Pulls resume and verify.** [`RegistryClient::pull_blob_to`] downloads into
//!   `<dest>.partial`, resumes from its length with `Range: bytes=<len>-`, hashes the
//!   resumed prefix once and every received byte once, and renames to `dest` only when the
//!   SHA-256 matches; on a mismatch the partial file is deleted and the error is
//!   [`TransferError::DigestMismatch`] (exit code 10).
//! - **Retries** ([`RetryPolicy`]): exponential backoff with full jitter on connection
//!   errors, timeouts, 5xx, 429 and bodies cut short; bounded attempts; a 4xx is never
//!   retried. A pull that made progress resets its attempt count (each retry resumes).
//! - **Parallel transfers**: [`RegistryClient::push_blobs`] / [`RegistryClient::pull_blobs`]
//!   run up to [`TransferOptions::concurrency`] blobs at once (`--concurrency`, default 4),
//!   each on its own task so hashing spreads over the cores.
//! - **Plain HTTP** only for loopback registries (`localhost`, `127.0.0.0/8`, `[::1]`) and
//!   those listed in [`TransferOptions::insecure_registries`]; HTTPS (rustls) otherwise.
//!
//! - **Bounded reads.** Manifests and referrers lists are fetched with our own request
//!   (`token.rs` gives the `Authorization` header) whose body is read with a
//!   limit, 4 MiB ([`pqreg_spec::oci::MAX_MANIFEST_LEN`]): oci-client would read an
//!   endless body whole first. Tags lists and catalog pages likewise, 1 MiB a page and
//!   at most 65,536 names in all (`pages.rs`); of an error answer (and of a DELETE's
//!   answer) at most 8 KiB is read, for its message. Blobs are read up to their
//!   descriptor's size; blob downloads and uploads are our own requests too, so that an
//!   error answer to them is read only for its message; so are manifest pushes and
//!   cross-repository mounts. oci-client still sends the `HEAD` of a blob (no body).
//!
//! The media type of a manifest is the body's `mediaType` field (which OCI requires to
//! equal the `Content-Type` it was pushed with), else sniffed from the structure
//! ([`pqreg_spec::oci::sniff_media_type`]).

mod blob;
mod bounded;
mod error;
mod housekeeping;
mod manifest;
mod pages;
mod retry;
mod token;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use oci_client::Reference as OciReference;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use pqreg_spec::Digest;
use pqreg_spec::oci::ImageIndex;

pub use blob::StreamItem;
pub use error::TransferError;
pub use manifest::FetchedManifest;
pub use retry::RetryPolicy;

use crate::auth::Credential;

/// Default number of blobs transferred at once (`--concurrency`).
pub const DEFAULT_CONCURRENCY: usize = 4;

/// How a [`RegistryClient`] connects and retries.
#[derive(Debug, Clone)]
pub struct TransferOptions {
    /// Registries (`host[:port]`, as in references) reached over plain HTTP. Loopback
    /// hosts always are.
    pub insecure_registries: Vec<String>,
    /// Retries of failed requests.
    pub retry: RetryPolicy,
    /// Blobs transferred at once by [`RegistryClient::push_blobs`] and
    /// [`RegistryClient::pull_blobs`] (at least 1).
    pub concurrency: usize,
    /// Time allowed to open a connection.
    pub connect_timeout: Duration,
    /// Time allowed between two reads of a response (a stalled transfer is retried).
    pub read_timeout: Duration,
    /// Whether a downloaded blob is fsynced (file, then directory after the rename) before
    /// [`RegistryClient::pull_blob_to`] returns. Default true. A caller that re-hashes
    /// what it finds from earlier runs, as [`crate::registry_io::RegistrySource`] does with its
    /// cache, can turn it off: a blob torn by a crash is then caught and fetched again.
    pub fsync_downloads: bool,
}

impl Default for TransferOptions {
    fn default() -> Self {
        TransferOptions {
            insecure_registries: Vec::new(),
            retry: RetryPolicy::default(),
            concurrency: DEFAULT_CONCURRENCY,
            connect_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(120),
            fsync_downloads: true,
        }
    }
}

/// One blob to push from, or pull to, a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobFile {
    /// Its digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// The file to upload, or the destination of a pull.
    pub path: PathBuf,
}

/// What [`RegistryClient::push_blob_file`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    /// The registry already had the blob in this repository: nothing was uploaded.
    Skipped,
    /// The blob was linked from another repository of the same registry (cross-repo
    /// mount): nothing was uploaded.
    Mounted,
    /// The blob was uploaded (this many bytes).
    Uploaded(u64),
}

/// What [`RegistryClient::pull_blob_to`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PullStats {
    /// Bytes already in `<dest>.partial` that were kept (hashed, not downloaded).
    pub resumed_from: u64,
    /// Bytes received from the registry.
    pub downloaded: u64,
}

/// A client of one registry host. Cheap methods block on an internal tokio runtime.
pub struct RegistryClient {
    rt: tokio::runtime::Runtime,
    inner: Arc<Inner>,
    /// Bounds the background transfers ([`RegistryClient::spawn_push_blob`],
    /// [`RegistryClient::spawn_pull_blob_to`]) to [`TransferOptions::concurrency`].
    background: Arc<tokio::sync::Semaphore>,
}

/// A transfer running in the background on the client's runtime; [`RegistryClient::wait`]
/// returns its result. Dropping it does not stop it (the runtime does, when the client is
/// dropped).
#[derive(Debug)]
pub struct Pending<T>(tokio::task::JoinHandle<Result<T, TransferError>>);

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryClient")
            .field("host", &self.inner.host)
            .field("plain_http", &self.inner.plain_http)
            .finish_non_exhaustive()
    }
}

/// The state the async tasks share.
pub(crate) struct Inner {
    pub(crate) oci: oci_client::Client,
    pub(crate) auth: RegistryAuth,
    pub(crate) host: String,
    pub(crate) plain_http: bool,
    pub(crate) opts: TransferOptions,
    /// Our own requests, whose bodies are read with a limit ([`bounded`]).
    pub(crate) http: reqwest::Client,
    /// The registry's challenge and our tokens (`token.rs`): oci-client fetches none itself.
    pub(crate) tokens: token::Tokens,
}

impl RegistryClient {
    /// A client of `registry_host` (`host[:port]`), with credentials from
    /// [`crate::auth::AuthEnv::lookup`] or none (anonymous; the bearer-token flow is still
    /// followed when the registry asks for it).
    pub fn new(
        registry_host: &str,
        auth: Option<Credential>,
        opts: TransferOptions,
    ) -> Result<Self, TransferError> {
        // Validate the host with the reference grammar (it goes into URLs).
        crate::reference::Reference::parse(&format!("{registry_host}/probe"))
            .map_err(|e| TransferError::BadReference(registry_host.to_owned(), e.to_string()))?;
        let auth = match auth {
            None => RegistryAuth::Anonymous,
            Some(Credential::Basic { username, password }) => {
                RegistryAuth::Basic(username, password)
            }
            Some(Credential::IdentityToken(_)) => {
                return Err(TransferError::UnsupportedCredential(
                    registry_host.to_owned(),
                ));
            }
        };
        let plain_http = is_loopback(registry_host)
            || opts.insecure_registries.iter().any(|r| r == registry_host);
        let protocol = if plain_http {
            ClientProtocol::Http
        } else {
            ClientProtocol::Https
        };
        let config = ClientConfig {
            protocol,
            use_monolithic_push: true,
            connect_timeout: Some(opts.connect_timeout),
            read_timeout: Some(opts.read_timeout),
            max_concurrent_upload: opts.concurrency.max(1),
            max_concurrent_download: opts.concurrency.max(1),
            user_agent: concat!("pqreg/", env!("CARGO_PKG_VERSION")),
            ..ClientConfig::default()
        };
        let oci = oci_client::Client::new(config);
        let http = reqwest::Client::builder()
            .connect_timeout(opts.connect_timeout)
            .read_timeout(opts.read_timeout)
            .user_agent(concat!("pqreg/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| TransferError::BadReference(registry_host.to_owned(), e.to_string()))?;
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .clamp(1, 8);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("pqreg-transfer")
            .enable_all()
            .build()
            .map_err(TransferError::Runtime)?;
        // oci-client gets the credentials with each token (token.rs), never before: with
        // none stored it never runs the token flow itself.
        Ok(RegistryClient {
            background: Arc::new(tokio::sync::Semaphore::new(opts.concurrency.max(1))),
            rt,
            inner: Arc::new(Inner {
                oci,
                auth,
                host: registry_host.to_owned(),
                plain_http,
                opts,
                http,
                tokens: token::Tokens::default(),
            }),
        })
    }

    /// The registry host this client talks to.
    pub fn host(&self) -> &str {
        &self.inner.host
    }

    /// How many transfers run at once ([`TransferOptions::concurrency`], at least 1).
    pub fn concurrency(&self) -> usize {
        self.inner.opts.concurrency.max(1)
    }

    /// Whether requests go over plain HTTP (loopback or configured insecure registry).
    pub fn is_plain_http(&self) -> bool {
        self.inner.plain_http
    }

    /// Whether `repo` has the blob `digest` (`HEAD`).
    pub fn has_blob(&self, repo: &str, digest: &Digest) -> Result<bool, TransferError> {
        self.rt.block_on(self.inner.has_blob(repo, digest))
    }

    /// Uploads the file at `path` as blob `digest` of `size` bytes, unless `repo` has it.
    pub fn push_blob_file(
        &self,
        repo: &str,
        digest: &Digest,
        size: u64,
        path: &Path,
    ) -> Result<PushOutcome, TransferError> {
        self.rt
            .block_on(self.inner.push_blob_file(repo, digest, size, path))
    }

    /// Links blob `digest` from `from_repo` into `repo` without uploading it (cross-repo
    /// mount). `Ok(false)` if the registry did not mount it (then upload it instead).
    pub fn mount_blob(
        &self,
        repo: &str,
        from_repo: &str,
        digest: &Digest,
    ) -> Result<bool, TransferError> {
        self.rt
            .block_on(self.inner.mount_blob(repo, from_repo, digest))
    }

    /// Downloads blob `digest` of `size` bytes to `dest`, through `<dest>.partial`
    /// (resumed if it exists); `dest` appears only if the content matches `digest`.
    pub fn pull_blob_to(
        &self,
        repo: &str,
        digest: &Digest,
        size: u64,
        dest: &Path,
    ) -> Result<PullStats, TransferError> {
        self.rt
            .block_on(self.inner.pull_blob_to(repo, digest, size, dest))
    }

    /// Starts uploading the blob in `file` (from its start; the file may be unlinked
    /// meanwhile; `path` names it in errors) in the background, at most [`TransferOptions::concurrency`] at a time.
    pub fn spawn_push_blob(
        &self,
        repo: &str,
        digest: Digest,
        size: u64,
        file: std::fs::File,
        path: PathBuf,
    ) -> Pending<PushOutcome> {
        let repo = repo.to_owned();
        self.spawn_bounded(move |inner| async move {
            inner
                .push_blob_open(&repo, &digest, size, file, &path)
                .await
        })
    }

    /// Starts uploading a blob held in memory in the background, at most
    /// [`TransferOptions::concurrency`] at a time; `done` gets the bytes back when the
    /// upload ends (e.g. to reuse the buffer, or give back its share of a budget).
    pub fn spawn_push_blob_bytes(
        &self,
        repo: &str,
        digest: Digest,
        bytes: bytes::Bytes,
        done: impl FnOnce(bytes::Bytes) + Send + 'static,
    ) -> Pending<PushOutcome> {
        let repo = repo.to_owned();
        self.spawn_bounded(move |inner| async move {
            let r = inner.push_blob_memory(&repo, &digest, bytes.clone()).await;
            done(bytes);
            r
        })
    }

    /// Starts [`RegistryClient::pull_blob_to`] in the background, at most
    /// [`TransferOptions::concurrency`] at a time, in the order they were started.
    pub fn spawn_pull_blob_to(
        &self,
        repo: &str,
        digest: Digest,
        size: u64,
        dest: PathBuf,
    ) -> Pending<PullStats> {
        let repo = repo.to_owned();
        self.spawn_bounded(move |inner| async move {
            inner.pull_blob_to(&repo, &digest, size, &dest).await
        })
    }

    /// Runs `task` on the runtime, holding one of the [`TransferOptions::concurrency`]
    /// background permits while it runs.
    fn spawn_bounded<T, F, Fut>(&self, task: F) -> Pending<T>
    where
        T: Send + 'static,
        F: FnOnce(Arc<Inner>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<T, TransferError>> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        let permits = Arc::clone(&self.background);
        Pending(self.rt.spawn(async move {
            let _permit = permits.acquire_owned().await;
            task(inner).await
        }))
    }

    /// Starts streaming `blobs` (digest, size) in the background, in this order, at most
    /// [`TransferOptions::concurrency`] at a time; each one's bytes arrive, in order,
    /// through its reader, which does NOT hash them: its consumer must check the digest.
    /// A transient failure resumes with `Range` within this process (nothing is written
    /// to disk); the error that ends a download is what its reader returns
    /// ([`BlobStream::transfer_error`] recovers it).
    ///
    /// Downloads start strictly in order (one task hands out the permits), and a stream
    /// runs at most [`STREAM_DEPTH`] pieces ahead of its reader: a consumer that reads
    /// the blobs in this order always finds its current one started, never stuck behind
    /// later ones that filled their buffers.
    pub fn spawn_pull_blob_streams(&self, repo: &str, blobs: &[(Digest, u64)]) -> Vec<BlobStream> {
        let mut readers = Vec::with_capacity(blobs.len());
        let mut queue = Vec::with_capacity(blobs.len());
        for &(digest, size) in blobs {
            let (tx, rx) = tokio::sync::mpsc::channel(STREAM_DEPTH);
            readers.push(BlobStream {
                rx,
                cur: bytes::Bytes::new(),
            });
            queue.push((digest, size, tx));
        }
        let inner = Arc::clone(&self.inner);
        let permits = Arc::clone(&self.background);
        let repo: Arc<str> = Arc::from(repo);
        self.rt.spawn(async move {
            for (digest, size, tx) in queue {
                let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
                    return;
                };
                if tx.is_closed() {
                    // Its reader is gone (the pull failed or ended): no request at all.
                    continue;
                }
                let (inner, repo) = (Arc::clone(&inner), Arc::clone(&repo));
                tokio::spawn(async move {
                    let _permit = permit;
                    inner.pull_blob_stream(&repo, &digest, size, tx).await
                });
            }
        });
        readers
    }

    /// Waits for a background transfer.
    pub fn wait<T>(&self, p: Pending<T>) -> Result<T, TransferError> {
        match self.rt.block_on(p.0) {
            Ok(r) => r,
            Err(e) => Err(TransferError::BadResponse {
                op: "background transfer".into(),
                message: e.to_string(),
            }),
        }
    }

    /// Pushes every blob of `blobs` (skipping those `repo` has), up to
    /// [`TransferOptions::concurrency`] at once. Results are in the order of `blobs`; the
    /// first error is returned (blobs already in flight are finished or abandoned).
    pub fn push_blobs(
        &self,
        repo: &str,
        blobs: &[BlobFile],
    ) -> Result<Vec<PushOutcome>, TransferError> {
        let tasks = blobs.iter().cloned().map(|b| {
            let inner = Arc::clone(&self.inner);
            let repo = repo.to_owned();
            async move {
                inner
                    .push_blob_file(&repo, &b.digest, b.size, &b.path)
                    .await
            }
        });
        self.rt.block_on(self.run_parallel(tasks))
    }

    /// Pulls every blob of `blobs` to its path (as [`Self::pull_blob_to`]), up to
    /// [`TransferOptions::concurrency`] at once. Results are in the order of `blobs`.
    pub fn pull_blobs(
        &self,
        repo: &str,
        blobs: &[BlobFile],
    ) -> Result<Vec<PullStats>, TransferError> {
        let tasks = blobs.iter().cloned().map(|b| {
            let inner = Arc::clone(&self.inner);
            let repo = repo.to_owned();
            async move { inner.pull_blob_to(&repo, &b.digest, b.size, &b.path).await }
        });
        self.rt.block_on(self.run_parallel(tasks))
    }

    /// Fetches a manifest by tag or digest (`reference` is a tag, or `sha256:<hex>`). By
    /// digest, the bytes are checked against it; by tag, their digest is computed.
    pub fn get_manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<FetchedManifest, TransferError> {
        self.rt.block_on(self.inner.get_manifest(repo, reference))
    }

    /// Pushes manifest bytes (exactly as given) with `media_type` under `reference` (a tag
    /// or `sha256:<hex>`); returns their digest.
    pub fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        bytes: &[u8],
        media_type: &str,
    ) -> Result<Digest, TransferError> {
        self.rt
            .block_on(self.inner.put_manifest(repo, reference, bytes, media_type))
    }

    /// The manifests in `repo` whose `subject` is `digest` (OCI 1.1 referrers API, with
    /// the referrers-tag fallback), optionally only those of `artifact_type`.
    pub fn referrers(
        &self,
        repo: &str,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<ImageIndex, TransferError> {
        self.rt
            .block_on(self.inner.referrers(repo, digest, artifact_type))
    }

    /// Every tag of `repo`, in the registry's order (all pages).
    pub fn list_tags(&self, repo: &str) -> Result<Vec<String>, TransferError> {
        self.rt.block_on(self.inner.list_tags(repo))
    }

    /// Runs `tasks` on the runtime, at most `concurrency` at once, results in order.
    async fn run_parallel<T, F>(
        &self,
        tasks: impl Iterator<Item = F>,
    ) -> Result<Vec<T>, TransferError>
    where
        T: Send + 'static,
        F: std::future::Future<Output = Result<T, TransferError>> + Send + 'static,
    {
        use futures_util::{StreamExt as _, TryStreamExt as _};
        let n = self.inner.opts.concurrency.max(1);
        futures_util::stream::iter(tasks.map(|t| {
            let handle = tokio::spawn(t);
            async move {
                match handle.await {
                    Ok(r) => r,
                    Err(e) => Err(TransferError::BadResponse {
                        op: "transfer task".into(),
                        message: e.to_string(),
                    }),
                }
            }
        }))
        .buffered(n)
        .try_collect()
        .await
    }
}

impl Inner {
    /// An oci-client reference to `repo` in this registry, at `tag`, or at `digest`.
    pub(crate) fn reference(
        &self,
        repo: &str,
        tag: Option<&str>,
        digest: Option<&Digest>,
    ) -> Result<OciReference, TransferError> {
        let text = match (tag, digest) {
            (_, Some(d)) => format!("{}/{repo}@{d}", self.host),
            (Some(t), None) => format!("{}/{repo}:{t}", self.host),
            (None, None) => format!("{}/{repo}", self.host),
        };
        // Our grammar is the OCI one; it keeps `?`, `#` and `..` out of URLs.
        crate::reference::Reference::parse(&text)
            .map_err(|e| TransferError::BadReference(text.clone(), e.to_string()))?;
        Ok(match (tag, digest) {
            (_, Some(d)) => {
                OciReference::with_digest(self.host.clone(), repo.to_owned(), d.to_string())
            }
            (Some(t), None) => {
                OciReference::with_tag(self.host.clone(), repo.to_owned(), t.to_owned())
            }
            (None, None) => OciReference::with_tag(
                self.host.clone(),
                repo.to_owned(),
                crate::reference::DEFAULT_TAG.to_owned(),
            ),
        })
    }
}

/// Body pieces (as the HTTP stack hands them, typically 16-64 KiB) a streamed download
/// may run ahead of its reader.
pub const STREAM_DEPTH: usize = 16;

/// The blocking reader of [`RegistryClient::spawn_pull_blob_streams`]. Call it from a
/// plain thread, never from inside the client's runtime.
#[derive(Debug)]
pub struct BlobStream {
    rx: tokio::sync::mpsc::Receiver<StreamItem>,
    cur: bytes::Bytes,
}

impl BlobStream {
    /// The transfer error inside an error this reader returned, if it is one.
    pub fn transfer_error(e: std::io::Error) -> Result<TransferError, std::io::Error> {
        if !e.get_ref().is_some_and(|i| i.is::<TransferError>()) {
            return Err(e);
        }
        match e.into_inner().map(|i| i.downcast::<TransferError>()) {
            Some(Ok(t)) => Ok(*t),
            Some(Err(other)) => Err(std::io::Error::other(other)),
            None => Err(std::io::Error::other("transfer failed")),
        }
    }
}

impl std::io::Read for BlobStream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                None => return Ok(0),
                Some(Ok(b)) => self.cur = b,
                Some(Err(e)) => return Err(std::io::Error::other(e)),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur.split_to(n));
        Ok(n)
    }
}

/// Loopback hosts (with or without a port) are reached over plain HTTP.
pub(crate) fn is_loopback(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    if name == "localhost" {
        return true;
    }
    name.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// `<dest>.partial`, beside `dest`.
pub fn partial_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    dest.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_detection() {
        for h in [
            "localhost",
            "localhost:5000",
            "127.0.0.1",
            "127.0.0.1:5000",
            "127.8.9.1:1",
            "[::1]:5000",
            "[::1]",
        ] {
            assert!(is_loopback(h), "{h}");
        }
        for h in [
            "example.com",
            "10.0.0.1:5000",
            "localhost.example.com",
            "[::2]:5000",
            "ghcr.io",
        ] {
            assert!(!is_loopback(h), "{h}");
        }
    }

    #[test]
    fn partial_is_beside_dest() {
        assert_eq!(
            partial_path(Path::new("/a/b/sha256-x")),
            PathBuf::from("/a/b/sha256-x.partial")
        );
    }

    #[test]
    fn identity_tokens_are_refused_clearly() {
        let e = RegistryClient::new(
            "reg.example",
            Some(Credential::IdentityToken("t".into())),
            TransferOptions::default(),
        )
        .unwrap_err();
        assert!(matches!(e, TransferError::UnsupportedCredential(_)));
    }

    #[test]
    fn bad_host_and_repo_are_refused() {
        assert!(matches!(
            RegistryClient::new("bad host", None, TransferOptions::default()),
            Err(TransferError::BadReference(..))
        ));
        let c = RegistryClient::new("127.0.0.1:1", None, TransferOptions::default()).unwrap();
        assert!(c.is_plain_http());
        assert!(matches!(
            c.list_tags("Bad/../repo"),
            Err(TransferError::BadReference(..))
        ));
        let https =
            RegistryClient::new("reg.example:443", None, TransferOptions::default()).unwrap();
        assert!(!https.is_plain_http());
    }
}

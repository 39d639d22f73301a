//! Blob existence, streaming upload from a file, and resumable verified download.

use std::path::Path;

use futures_util::{StreamExt as _, TryStreamExt as _};
use oci_client::RegistryOperation;
use oci_client::errors::OciDistributionError;
use pqreg_spec::Digest;
use pqreg_spec::digest::Hasher;
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _, AsyncWriteExt as _};

use reqwest::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, RANGE};

use super::bounded::{MAX_ERROR_BODY, error_message, transport};
use super::error::{Failure, TransferError, classify, classify_status};
use super::retry::retry;
use super::{Inner, PullStats, PushOutcome, partial_path};

/// Bytes read from a file per upload chunk, and per read when hashing a resumed prefix.
const READ_CHUNK: usize = 1 << 20;

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> TransferError + '_ {
    move |source| TransferError::Io {
        path: path.to_owned(),
        source,
    }
}

impl Inner {
    pub(crate) async fn has_blob(
        &self,
        repo: &str,
        digest: &Digest,
    ) -> Result<bool, TransferError> {
        let image = self.reference(repo, None, Some(digest))?;
        let op = format!("check blob {repo}@{digest}");
        let d = digest.to_string();
        retry(self.opts.retry, &op, |_| async {
            self.authorize(&image, RegistryOperation::Pull, false, &op)
                .await?;
            self.oci
                .blob_exists(&image, &d)
                .await
                .map_err(|e| classify(&op, &self.host, e))
        })
        .await
    }

    pub(crate) async fn mount_blob(
        &self,
        repo: &str,
        from_repo: &str,
        digest: &Digest,
    ) -> Result<bool, TransferError> {
        let image = self.reference(repo, None, Some(digest))?;
        let source = self.reference(from_repo, None, Some(digest))?;
        let op = format!("mount blob {digest} from {from_repo} into {repo}");
        // Our own request (oci-client would read an error answer whole).
        let url = format!(
            "{}/v2/{}/blobs/uploads/?mount={}&from={}",
            self.base_url(&image),
            image.repository(),
            super::manifest::percent_encode(&digest.to_string()),
            super::manifest::percent_encode(source.repository()),
        );
        let r = retry(self.opts.retry, &op, |_| async {
            let auth = self
                .authorization(&image, RegistryOperation::Push, &op, false)
                .await?;
            let mut req = self.http.post(&url).header(CONTENT_LENGTH, 0);
            if let Some(h) = auth {
                req = req.header(AUTHORIZATION, h);
            }
            let resp = req
                .send()
                .await
                .map_err(|e| transport(&op, &self.host, e))?;
            match resp.status().as_u16() {
                201 => Ok(true),
                // 202: the registry opened an upload session instead (the blob is not
                // visible in `from_repo`). The session is left to the registry's purge.
                202 => Ok(false),
                s => {
                    let message = error_message(resp, MAX_ERROR_BODY).await;
                    Err(classify_status(&op, &self.host, s, message))
                }
            }
        })
        .await?;
        Ok(r)
    }

    pub(crate) async fn push_blob_file(
        &self,
        repo: &str,
        digest: &Digest,
        size: u64,
        path: &Path,
    ) -> Result<PushOutcome, TransferError> {
        let file = std::fs::File::open(path).map_err(io_err(path))?;
        self.push_blob_open(repo, digest, size, file, path).await
    }

    /// [`Inner::push_blob_file`] from an open file (each attempt reads it from offset 0
    /// through a duplicate of the descriptor); `path` names it in errors.
    pub(crate) async fn push_blob_open(
        &self,
        repo: &str,
        digest: &Digest,
        size: u64,
        file: std::fs::File,
        path: &Path,
    ) -> Result<PushOutcome, TransferError> {
        if self.has_blob(repo, digest).await? {
            return Ok(PushOutcome::Skipped);
        }
        let len = file.metadata().map_err(io_err(path))?.len();
        if len != size {
            return Err(TransferError::SizeMismatch {
                what: path.display().to_string(),
                expected: size,
                actual: len,
            });
        }
        self.push_body(repo, digest, size, &path.display().to_string(), || async {
            // Each attempt streams the file from its start: a monolithic upload cannot
            // resume, and the registry discards a session whose digest check failed.
            let mut f = tokio::fs::File::from_std(file.try_clone().map_err(io_err(path))?);
            f.seek(std::io::SeekFrom::Start(0))
                .await
                .map_err(io_err(path))?;
            Ok(
                tokio_util::io::ReaderStream::with_capacity(f.take(size), READ_CHUNK)
                    .map_err(OciDistributionError::IoError)
                    .boxed(),
            )
        })
        .await
    }

    /// Uploads a blob held in memory (unless `repo` has it).
    pub(crate) async fn push_blob_memory(
        &self,
        repo: &str,
        digest: &Digest,
        bytes: bytes::Bytes,
    ) -> Result<PushOutcome, TransferError> {
        if self.has_blob(repo, digest).await? {
            return Ok(PushOutcome::Skipped);
        }
        let size = bytes.len() as u64;
        self.push_body(repo, digest, size, &format!("blob {digest}"), || {
            let bytes = bytes.clone();
            async move {
                // Pieces of the one buffer (no copies), as the file path reads them.
                let pieces = (0..bytes.len())
                    .step_by(READ_CHUNK)
                    .map(move |at| Ok(bytes.slice(at..(at + READ_CHUNK).min(bytes.len()))));
                Ok(futures_util::stream::iter(pieces.collect::<Vec<_>>()).boxed())
            }
        })
        .await
    }

    /// The upload of [`Inner::push_blob_open`] and [`Inner::push_blob_memory`], with
    /// retries: `body` makes each attempt's stream; `what` names the blob in errors.
    async fn push_body<F, Fut>(
        &self,
        repo: &str,
        digest: &Digest,
        size: u64,
        what: &str,
        body: F,
    ) -> Result<PushOutcome, TransferError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<
                Output = Result<
                    futures_util::stream::BoxStream<
                        'static,
                        Result<bytes::Bytes, OciDistributionError>,
                    >,
                    TransferError,
                >,
            >,
    {
        let image = self.reference(repo, None, Some(digest))?;
        let op = format!("push blob {repo}@{digest}");
        retry(self.opts.retry, &op, |_| async {
            let body = body().await?;
            self.upload(&image, body, digest, size, what, &op).await
        })
        .await?;
        Ok(PushOutcome::Uploaded(size))
    }

    pub(crate) async fn pull_blob_to(
        &self,
        repo: &str,
        digest: &Digest,
        size: u64,
        dest: &Path,
    ) -> Result<PullStats, TransferError> {
        let image = self.reference(repo, None, Some(digest))?;
        let partial = partial_path(dest);
        let (mut hasher, mut have) = hash_prefix(&partial, size).await?;
        let mut stats = PullStats {
            resumed_from: have,
            downloaded: 0,
        };
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&partial)
            .await
            .map_err(io_err(&partial))?;
        let mut to_file = Dest::File {
            file: &mut file,
            hasher: &mut hasher,
            partial: &partial,
        };
        let r = self
            .fetch_all(
                &image,
                digest,
                size,
                &mut to_file,
                &mut have,
                &mut stats.downloaded,
            )
            .await;
        if let Err(e) = r {
            if matches!(e, TransferError::SizeMismatch { .. }) {
                drop(file);
                let _ = tokio::fs::remove_file(&partial).await;
            }
            return Err(e);
        }
        file.flush().await.map_err(io_err(&partial))?;
        if self.opts.fsync_downloads {
            file.sync_all().await.map_err(io_err(&partial))?;
        }
        drop(file);
        let actual = hasher.finalize();
        if actual != *digest {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(TransferError::mismatch(
                format!("blob {repo}@{digest}"),
                digest,
                &actual,
            ));
        }
        tokio::fs::rename(&partial, dest)
            .await
            .map_err(io_err(dest))?;
        if self.opts.fsync_downloads
            && let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty())
            && let Ok(d) = tokio::fs::File::open(dir).await
        {
            // Make the rename durable; a failure here loses nothing but durability.
            let _ = d.sync_all().await;
        }
        Ok(stats)
    }

    /// Streams the blob to `tx` in order (with `Range` requests to resume after a
    /// transient failure, each byte sent once), for a reader that hashes and checks it.
    /// An error that ends the download is also sent, as the last item.
    pub(crate) async fn pull_blob_stream(
        &self,
        repo: &str,
        digest: &Digest,
        size: u64,
        tx: tokio::sync::mpsc::Sender<StreamItem>,
    ) -> PullStats {
        let mut stats = PullStats {
            resumed_from: 0,
            downloaded: 0,
        };
        let mut have = 0;
        let r = match self.reference(repo, None, Some(digest)) {
            Ok(image) => {
                self.fetch_all(
                    &image,
                    digest,
                    size,
                    &mut Dest::Channel(&tx),
                    &mut have,
                    &mut stats.downloaded,
                )
                .await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = r {
            let _ = tx.send(Err(e)).await;
        }
        stats
    }

    /// One monolithic upload (distribution-spec end-4a): `POST /v2/<name>/blobs/uploads/`
    /// for a session, then `PUT <location>?digest=` with the body. The requests are our own
    /// (oci-client would read an error answer whole): of an error answer at most
    /// [`MAX_ERROR_BODY`] bytes are read. The credentials go only to this registry: a
    /// session `Location` on another host gets none.
    async fn upload(
        &self,
        image: &oci_client::Reference,
        body: futures_util::stream::BoxStream<'static, Result<bytes::Bytes, OciDistributionError>>,
        digest: &Digest,
        size: u64,
        what: &str,
        op: &str,
    ) -> Result<(), Failure> {
        let auth = self
            .authorization(image, RegistryOperation::Push, op, false)
            .await?;
        let base = self.base_url(image);
        let mut req = self
            .http
            .post(format!("{base}/v2/{}/blobs/uploads/", image.repository()))
            .header(CONTENT_LENGTH, 0);
        if let Some(h) = &auth {
            req = req.header(AUTHORIZATION, h.clone());
        }
        let resp = req.send().await.map_err(|e| transport(op, &self.host, e))?;
        let status = resp.status().as_u16();
        if status != 202 {
            let message = error_message(resp, MAX_ERROR_BODY).await;
            return Err(classify_status(op, &self.host, status, message));
        }
        let location = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        drop(resp);
        let (url, ours) = if location.starts_with('/') && !location.starts_with("//") {
            (format!("{base}{location}"), true)
        } else if location.starts_with("https://") || location.starts_with("http://") {
            let ours = location
                .get(..base.len() + 1)
                .is_some_and(|p| p.eq_ignore_ascii_case(&format!("{base}/")));
            (location.clone(), ours)
        } else {
            return Err(Failure::Fatal(TransferError::BadResponse {
                op: op.to_owned(),
                message: format!("the upload session's Location {location:?} is not a URL"),
            }));
        };
        let sep = if url.contains('?') { '&' } else { '?' };
        let url = format!(
            "{url}{sep}digest={}",
            super::manifest::percent_encode(&digest.to_string())
        );
        let mut req = self
            .http
            .put(url)
            .header(CONTENT_LENGTH, size)
            .header(CONTENT_TYPE, "application/octet-stream")
            .body(reqwest::Body::wrap_stream(body));
        if ours && let Some(h) = auth {
            req = req.header(AUTHORIZATION, h);
        }
        let resp = req.send().await.map_err(|e| transport(op, &self.host, e))?;
        let status = resp.status().as_u16();
        if status == 201 {
            return Ok(());
        }
        let message = error_message(resp, MAX_ERROR_BODY).await;
        if status == 400 && message.contains("DIGEST_INVALID") {
            return Err(Failure::Fatal(TransferError::DigestMismatch {
                what: what.to_owned(),
                expected: digest.to_string(),
                actual: "a different digest (computed by the registry)".into(),
            }));
        }
        Err(classify_status(op, &self.host, status, message))
    }

    /// GETs with `Range: bytes=<have>-` until `have` reaches `size`, retrying transient
    /// failures (and bodies that end early) with backoff; `downloaded` counts the bytes
    /// received.
    async fn fetch_all(
        &self,
        image: &oci_client::Reference,
        digest: &Digest,
        size: u64,
        dest: &mut Dest<'_>,
        have: &mut u64,
        downloaded: &mut u64,
    ) -> Result<(), TransferError> {
        let op = format!("pull blob {}@{digest}", image.repository());
        let policy = self.opts.retry;
        let mut failures = 0u32;
        while *have < size {
            let before = *have;
            let r = self.fetch_from(&op, image, digest, size, dest, have).await;
            *downloaded += have.saturating_sub(before);
            match r {
                Ok(()) if *have == size => break,
                // The body ended early: resume from what arrived.
                Ok(()) => {
                    let m = format!("body ended after {have} of {size} bytes");
                    retry_or_fail(&op, &policy, &mut failures, *have > before, m).await?;
                }
                Err(Failure::Transient(m)) => {
                    retry_or_fail(&op, &policy, &mut failures, *have > before, m).await?;
                }
                Err(Failure::Fatal(e)) => return Err(e),
            }
        }
        Ok(())
    }

    /// One `GET` with `Range: bytes=<have>-`, handing what arrives to `dest`. A 200
    /// (range ignored) restarts a file from zero; a channel, whose reader already has
    /// the first `have` bytes, skips them. The request is our own (oci-client would read
    /// an error answer whole): of an answer other than 200 or 206 at most
    /// [`MAX_ERROR_BODY`] bytes are read, for the error message.
    async fn fetch_from(
        &self,
        op: &str,
        image: &oci_client::Reference,
        digest: &Digest,
        size: u64,
        dest: &mut Dest<'_>,
        have: &mut u64,
    ) -> Result<(), Failure> {
        let url = format!(
            "{}/v2/{}/blobs/{digest}",
            self.base_url(image),
            image.repository()
        );
        let mut req = self
            .http
            .get(&url)
            .header(RANGE, format!("bytes={}-", *have));
        if let Some(h) = self.pull_authorization(image, op, false).await? {
            req = req.header(AUTHORIZATION, h);
        }
        let resp = req.send().await.map_err(|e| transport(op, &self.host, e))?;
        let status = resp.status().as_u16();
        let full = match status {
            200 => true,
            206 => false,
            _ => {
                let body = error_message(resp, MAX_ERROR_BODY).await;
                return Err(classify_status(op, &self.host, status, body));
            }
        };
        let content_length = resp.content_length();
        let mut skip = 0u64;
        if full && *have > 0 {
            match dest {
                Dest::File {
                    file,
                    hasher,
                    partial,
                } => {
                    file.set_len(0).await.map_err(io_err(partial))?;
                    **hasher = Hasher::new();
                    *have = 0;
                }
                Dest::Channel(_) => skip = *have,
            }
        }
        let expected = size - *have + skip;
        if let Some(len) = content_length
            && len != expected
        {
            return Err(Failure::Fatal(TransferError::SizeMismatch {
                what: format!("blob {}@{digest} (bytes {}-)", image.repository(), *have),
                expected,
                actual: len,
            }));
        }
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let mut chunk = match chunk {
                Ok(c) => c,
                // All bytes arrived: our own digest check decides.
                Err(_) if *have == size => return Ok(()),
                Err(e) => return Err(transport(op, &self.host, e)),
            };
            if skip > 0 {
                let k = skip.min(chunk.len() as u64);
                let _ = chunk.split_to(k as usize);
                skip -= k;
            }
            let n = chunk.len() as u64;
            if *have + n > size {
                return Err(Failure::Fatal(TransferError::SizeMismatch {
                    what: format!("blob {}@{digest}", image.repository()),
                    expected: size,
                    actual: *have + n,
                }));
            }
            if n == 0 {
                continue;
            }
            dest.put(chunk, op).await?;
            *have += n;
        }
        Ok(())
    }
}

/// One item of a streamed download ([`super::RegistryClient::spawn_pull_blob_streams`]).
pub type StreamItem = Result<bytes::Bytes, TransferError>;

/// Where a download's bytes go.
enum Dest<'a> {
    /// Appended to a `.partial` file and hashed.
    File {
        file: &'a mut tokio::fs::File,
        hasher: &'a mut Hasher,
        partial: &'a Path,
    },
    /// Sent, in order, to a reader that hashes them.
    Channel(&'a tokio::sync::mpsc::Sender<StreamItem>),
}

impl Dest<'_> {
    /// Hands on the next piece of the body (`op` names the download in errors).
    async fn put(&mut self, chunk: bytes::Bytes, op: &str) -> Result<(), Failure> {
        match self {
            Dest::File {
                file,
                hasher,
                partial,
            } => {
                file.write_all(&chunk).await.map_err(io_err(partial))?;
                hasher.update(&chunk);
            }
            Dest::Channel(tx) => {
                if tx.send(Ok(chunk)).await.is_err() {
                    // The reader stopped (it failed or was dropped): nothing to do.
                    return Err(Failure::Fatal(TransferError::BadResponse {
                        op: op.to_owned(),
                        message: "the reader of the download went away".into(),
                    }));
                }
            }
        }
        Ok(())
    }
}

/// Counts a failed attempt (reset when it made progress) and sleeps before the next, or
/// gives up.
async fn retry_or_fail(
    op: &str,
    policy: &super::RetryPolicy,
    failures: &mut u32,
    progressed: bool,
    message: String,
) -> Result<(), TransferError> {
    if progressed {
        *failures = 0;
    }
    *failures += 1;
    if *failures >= policy.max_attempts.max(1) {
        return Err(TransferError::Unavailable {
            op: op.to_owned(),
            attempts: *failures,
            message,
        });
    }
    tokio::time::sleep(policy.delay(*failures - 1)).await;
    Ok(())
}

/// Hashes an existing `partial` file once (the resumed prefix); one longer than `size`
/// cannot be a prefix and is discarded.
async fn hash_prefix(partial: &Path, size: u64) -> Result<(Hasher, u64), TransferError> {
    let mut hasher = Hasher::new();
    let mut file = match tokio::fs::File::open(partial).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((hasher, 0)),
        Err(e) => return Err(io_err(partial)(e)),
    };
    let len = file.metadata().await.map_err(io_err(partial))?.len();
    if len > size {
        drop(file);
        tokio::fs::remove_file(partial)
            .await
            .map_err(io_err(partial))?;
        return Ok((hasher, 0));
    }
    let mut buf = vec![0u8; READ_CHUNK];
    let mut done = 0u64;
    while done < len {
        let n = file.read(&mut buf).await.map_err(io_err(partial))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        done += n as u64;
    }
    Ok((hasher, done))
}

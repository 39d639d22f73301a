//! The transfer layer against the real `pqreg-registry` binary on 127.0.0.1: pushes
//! (streamed, skipped when present), pulls (verified, resumed with `Range`), manifests,
//! tags, referrers, retries. Request counts come from the registry's `/metrics`.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use pqreg::transfer::{
    BlobFile, PushOutcome, RegistryClient, RetryPolicy, TransferError, TransferOptions,
    partial_path,
};
use pqreg_spec::Digest;
use pqreg_spec::oci::media_types;

use crate::registry_common::{Registry, start};

impl Registry {
    fn client(&self) -> RegistryClient {
        RegistryClient::new(&self.addr, None, TransferOptions::default()).unwrap()
    }

    fn counter(&self, name: &str) -> u64 {
        let m = self.metrics();
        m.lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
            .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
            .unwrap_or(0)
    }
}

/// Deterministic pseudo-random bytes.
fn data(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..len).map(|_| rng.u8(..)).collect()
}

fn write_blob(dir: &Path, name: &str, bytes: &[u8]) -> BlobFile {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    BlobFile {
        digest: Digest::sha256(bytes),
        size: bytes.len() as u64,
        path,
    }
}

fn manifest(config: &BlobFile, layers: &[&BlobFile], subject: Option<(&Digest, usize)>) -> Vec<u8> {
    let desc = |mt: &str, b: &BlobFile| serde_json::json!({"mediaType": mt, "digest": b.digest.to_string(), "size": b.size});
    let mut m = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_types::OCI_MANIFEST,
        "artifactType": "application/vnd.example.test",
        "config": desc("application/vnd.example.config.v1+json", config),
        "layers": layers.iter().map(|l| desc("application/octet-stream", l)).collect::<Vec<_>>(),
    });
    if let Some((d, size)) = subject {
        m["subject"] = serde_json::json!({"mediaType": media_types::OCI_MANIFEST, "digest": d.to_string(), "size": size});
    }
    serde_json::to_vec(&m).unwrap()
}

const BIG: usize = (5 << 20) + 12345;

#[test]
fn push_skip_pull_manifest_tags_referrers() {
    let reg = start();
    let c = reg.client();
    assert!(c.is_plain_http());
    let src = tempfile::tempdir().unwrap();
    let small = write_blob(src.path(), "small", &data(1, 1000));
    let big = write_blob(src.path(), "big", &data(2, BIG));
    let config = write_blob(src.path(), "config", br#"{"v":1}"#);
    let blobs = vec![small.clone(), big.clone(), config.clone()];
    let repo = "org/model";

    assert!(!c.has_blob(repo, &big.digest).unwrap());
    let out = c.push_blobs(repo, &blobs).unwrap();
    assert_eq!(
        out,
        blobs
            .iter()
            .map(|b| PushOutcome::Uploaded(b.size))
            .collect::<Vec<_>>()
    );
    assert!(c.has_blob(repo, &big.digest).unwrap());
    let posts = reg.requests("POST", "uploads", None);
    assert_eq!(posts, 3, "one upload session per blob");
    let bytes_in = reg.counter("pqreg_http_bytes_in_total");
    assert!(bytes_in >= (BIG + 1000) as u64, "{bytes_in}");

    // Pushing again uploads nothing: no session opened, no byte received.
    let again = c.push_blobs(repo, &blobs).unwrap();
    assert!(
        again.iter().all(|o| *o == PushOutcome::Skipped),
        "{again:?}"
    );
    assert_eq!(reg.requests("POST", "uploads", None), posts);
    assert_eq!(reg.counter("pqreg_http_bytes_in_total"), bytes_in);

    // Manifest by tag and by digest.
    let m = manifest(&config, &[&small, &big], None);
    let md = c
        .put_manifest(repo, "v1", &m, media_types::OCI_MANIFEST)
        .unwrap();
    assert_eq!(md, Digest::sha256(&m));
    let by_tag = c.get_manifest(repo, "v1").unwrap();
    assert_eq!(by_tag.bytes, m);
    assert_eq!(by_tag.digest, md);
    assert_eq!(by_tag.media_type, media_types::OCI_MANIFEST);
    let by_digest = c.get_manifest(repo, &md.to_string()).unwrap();
    assert_eq!(by_digest, by_tag);
    // Pushing by digest: the bytes must hash to it (checked before sending).
    let e = c
        .put_manifest(
            repo,
            &Digest::sha256(b"other").to_string(),
            &m,
            media_types::OCI_MANIFEST,
        )
        .unwrap_err();
    assert!(matches!(e, TransferError::DigestMismatch { .. }), "{e}");
    assert_eq!(e.exit_code().code, 10);
    c.put_manifest(repo, &md.to_string(), &m, media_types::OCI_MANIFEST)
        .unwrap();
    c.put_manifest(repo, "v2", &m, media_types::OCI_MANIFEST)
        .unwrap();
    assert_eq!(c.list_tags(repo).unwrap(), vec!["v1", "v2"]);

    // Unknown tag, digest, repository: NotFound, not retried into Unavailable.
    assert!(matches!(
        c.get_manifest(repo, "nope"),
        Err(TransferError::NotFound { .. })
    ));
    assert!(matches!(
        c.get_manifest(repo, &Digest::sha256(b"none").to_string()),
        Err(TransferError::NotFound { .. })
    ));
    assert!(matches!(
        c.list_tags("no/such"),
        Err(TransferError::NotFound { .. })
    ));

    // Referrers: a manifest whose subject is v1.
    let sig = write_blob(src.path(), "sig", b"signature bundle");
    c.push_blob_file(repo, &sig.digest, sig.size, &sig.path)
        .unwrap();
    let r = manifest(&config, &[&sig], Some((&md, m.len())));
    let rd = c
        .put_manifest(
            repo,
            &Digest::sha256(&r).to_string(),
            &r,
            media_types::OCI_MANIFEST,
        )
        .unwrap();
    let idx = c.referrers(repo, &md, None).unwrap();
    assert_eq!(idx.manifests.len(), 1);
    assert_eq!(idx.manifests[0].digest, rd);
    assert_eq!(
        c.referrers(repo, &md, Some("application/vnd.example.test"))
            .unwrap()
            .manifests
            .len(),
        1
    );
    assert!(
        c.referrers(repo, &md, Some("application/vnd.other"))
            .unwrap()
            .manifests
            .is_empty()
    );

    // Pull everything back, in parallel, verified.
    let dst = tempfile::tempdir().unwrap();
    let pulls: Vec<BlobFile> = blobs
        .iter()
        .map(|b| BlobFile {
            path: dst.path().join(b.digest.hex()),
            ..b.clone()
        })
        .collect();
    let out_before = reg.counter("pqreg_http_bytes_out_total");
    let stats = c.pull_blobs(repo, &pulls).unwrap();
    for (b, s) in blobs.iter().zip(&stats) {
        assert_eq!(s.resumed_from, 0);
        assert_eq!(s.downloaded, b.size);
        let got = std::fs::read(dst.path().join(b.digest.hex())).unwrap();
        assert_eq!(got, std::fs::read(&b.path).unwrap());
        assert!(!partial_path(&dst.path().join(b.digest.hex())).exists());
    }
    let total: u64 = blobs.iter().map(|b| b.size).sum();
    assert_eq!(
        reg.counter("pqreg_http_bytes_out_total") - out_before,
        total
    );
}

#[test]
fn pull_resumes_from_partial_with_range() {
    let reg = start();
    let c = reg.client();
    let src = tempfile::tempdir().unwrap();
    let bytes = data(3, BIG);
    let big = write_blob(src.path(), "big", &bytes);
    c.push_blob_file("r", &big.digest, big.size, &big.path)
        .unwrap();

    let dst = tempfile::tempdir().unwrap();
    let dest = dst.path().join("blob");
    let half = BIG / 2;
    std::fs::write(partial_path(&dest), &bytes[..half]).unwrap();
    let partials_before = reg.requests("GET", "blobs/{digest}", Some(206));
    let out_before = reg.counter("pqreg_http_bytes_out_total");
    let s = c.pull_blob_to("r", &big.digest, big.size, &dest).unwrap();
    assert_eq!(s.resumed_from, half as u64);
    assert_eq!(s.downloaded, (BIG - half) as u64);
    assert_eq!(
        reg.requests("GET", "blobs/{digest}", Some(206)),
        partials_before + 1,
        "one 206 answer"
    );
    assert_eq!(
        reg.counter("pqreg_http_bytes_out_total") - out_before,
        (BIG - half) as u64,
        "only the missing half was sent"
    );
    assert_eq!(std::fs::read(&dest).unwrap(), bytes);
    assert!(!partial_path(&dest).exists());

    // A complete .partial needs no request at all.
    let dest2 = dst.path().join("blob2");
    std::fs::write(partial_path(&dest2), &bytes).unwrap();
    let gets = reg.requests("GET", "blobs/{digest}", None);
    let s = c.pull_blob_to("r", &big.digest, big.size, &dest2).unwrap();
    assert_eq!((s.resumed_from, s.downloaded), (BIG as u64, 0));
    assert_eq!(reg.requests("GET", "blobs/{digest}", None), gets);
    assert_eq!(std::fs::read(&dest2).unwrap(), bytes);

    // A .partial longer than the blob cannot be a prefix: discarded, pulled whole.
    let dest3 = dst.path().join("blob3");
    std::fs::write(partial_path(&dest3), vec![0u8; BIG + 1]).unwrap();
    let s = c.pull_blob_to("r", &big.digest, big.size, &dest3).unwrap();
    assert_eq!((s.resumed_from, s.downloaded), (0, BIG as u64));
    assert_eq!(std::fs::read(&dest3).unwrap(), bytes);
}

#[test]
fn wrong_prefix_is_a_digest_mismatch_and_leaves_nothing() {
    let reg = start();
    let c = reg.client();
    let src = tempfile::tempdir().unwrap();
    let bytes = data(4, BIG);
    let big = write_blob(src.path(), "big", &bytes);
    c.push_blob_file("r", &big.digest, big.size, &big.path)
        .unwrap();
    let dst = tempfile::tempdir().unwrap();
    let dest = dst.path().join("blob");
    let mut prefix = bytes[..BIG / 2].to_vec();
    prefix[100] ^= 1;
    std::fs::write(partial_path(&dest), &prefix).unwrap();
    let e = c
        .pull_blob_to("r", &big.digest, big.size, &dest)
        .unwrap_err();
    assert!(matches!(e, TransferError::DigestMismatch { .. }), "{e}");
    assert_eq!(e.exit_code(), pqreg::exit::DIGEST_MISMATCH);
    assert!(!dest.exists());
    assert!(!partial_path(&dest).exists());
    assert_eq!(std::fs::read_dir(dst.path()).unwrap().count(), 0);

    // Asking for a size the blob does not have: the registry's Content-Length disagrees.
    let e = c
        .pull_blob_to("r", &big.digest, big.size + 1, &dest)
        .unwrap_err();
    assert!(matches!(e, TransferError::SizeMismatch { .. }), "{e}");
    assert_eq!(std::fs::read_dir(dst.path()).unwrap().count(), 0);

    // An unknown blob is NotFound (a 404 is not retried).
    let gets = reg.requests("GET", "blobs/{digest}", Some(404));
    let e = c
        .pull_blob_to("r", &Digest::sha256(b"nope"), 4, &dest)
        .unwrap_err();
    assert!(matches!(e, TransferError::NotFound { .. }), "{e}");
    assert_eq!(reg.requests("GET", "blobs/{digest}", Some(404)), gets + 1);
}

#[test]
fn push_of_a_file_that_does_not_match_is_refused_once() {
    let reg = start();
    let c = reg.client();
    let src = tempfile::tempdir().unwrap();
    let path = src.path().join("f");
    std::fs::write(&path, b"actual content").unwrap();
    let claimed = Digest::sha256(b"claimed content");
    let e = c.push_blob_file("r", &claimed, 14, &path).unwrap_err();
    assert!(matches!(e, TransferError::DigestMismatch { .. }), "{e}");
    // A 400 is final: exactly one upload session was opened.
    assert_eq!(reg.requests("POST", "uploads", None), 1);
    // A size that disagrees with the file is caught before any upload.
    let e = c.push_blob_file("r", &claimed, 15, &path).unwrap_err();
    assert!(matches!(e, TransferError::SizeMismatch { .. }), "{e}");
    assert_eq!(reg.requests("POST", "uploads", None), 1);
}

#[test]
fn cross_repo_mount() {
    let reg = start();
    let c = reg.client();
    let src = tempfile::tempdir().unwrap();
    let b = write_blob(src.path(), "b", &data(5, 4096));
    c.push_blob_file("a", &b.digest, b.size, &b.path).unwrap();
    let bytes_in = reg.counter("pqreg_http_bytes_in_total");
    assert!(c.mount_blob("b", "a", &b.digest).unwrap());
    assert!(c.has_blob("b", &b.digest).unwrap());
    assert_eq!(reg.counter("pqreg_http_bytes_in_total"), bytes_in);
    // Not in the source repository: not mounted.
    assert!(!c.mount_blob("c", "a", &Digest::sha256(b"x")).unwrap());
}

/// Three attempts with millisecond backoff, so a retried failure is quick to see.
fn fast_retry() -> TransferOptions {
    TransferOptions {
        retry: RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
        },
        ..TransferOptions::default()
    }
}

#[test]
fn unreachable_registry_is_retried_then_reported() {
    // A port nothing listens on: bind, read the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let opts = fast_retry();
    let c = RegistryClient::new(&format!("127.0.0.1:{port}"), None, opts).unwrap();
    let e = c.has_blob("r", &Digest::sha256(b"x")).unwrap_err();
    assert!(
        matches!(e, TransferError::Unavailable { attempts: 3, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("try again"), "{e}");
}

/// A TCP proxy to `upstream` that closes the first connection carrying a blob request once
/// it has carried about `cut_after` bytes of answer towards the client after that request
/// (mid-body of a large blob), and forwards everything else untouched. Returns its
/// address and, per connection, the bytes the client sent (its requests). A connection
/// may carry other requests first (the client's `/v2/` check), so the cut is decided by
/// what was asked, not by the connection's number.
fn cutting_proxy(
    upstream: String,
    cut_after: usize,
) -> (String, std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>) {
    use std::io::{Read, Write};
    use std::net::{Shutdown, TcpListener, TcpStream};
    use std::sync::{Arc, Mutex};
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let seen: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let log = Arc::clone(&seen);
    let cut_done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    std::thread::spawn(move || {
        for (n, conn) in l.incoming().enumerate() {
            let Ok(down) = conn else { return };
            let Ok(up) = TcpStream::connect(&upstream) else {
                return;
            };
            log.lock().unwrap().push(Vec::new());
            let (mut d2, mut u2) = (down.try_clone().unwrap(), up.try_clone().unwrap());
            let req_log = Arc::clone(&log);
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 16 << 10];
                while let Ok(k) = d2.read(&mut buf) {
                    if k == 0 {
                        break;
                    }
                    // Logged before it is forwarded, so before any answer to it can reach
                    // the client (and the test's check after the download).
                    req_log.lock().unwrap()[n].extend_from_slice(&buf[..k]);
                    if u2.write_all(&buf[..k]).is_err() {
                        break;
                    }
                }
                let _ = u2.shutdown(Shutdown::Write);
            });
            let (mut down, mut up) = (down, up);
            let (log, cut_done) = (Arc::clone(&log), Arc::clone(&cut_done));
            std::thread::spawn(move || {
                let mut limit = usize::MAX;
                let mut sent = 0usize;
                let mut buf = vec![0u8; 64 << 10];
                while sent < limit {
                    let k = match up.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(k) => k,
                    };
                    // Requests are logged before they are forwarded, so the one this
                    // answer belongs to is in the log by now.
                    if limit == usize::MAX
                        && is_blob_request(&log.lock().unwrap()[n])
                        && !cut_done.swap(true, std::sync::atomic::Ordering::SeqCst)
                    {
                        limit = sent + cut_after;
                    }
                    let k = k.min(limit - sent);
                    if down.write_all(&buf[..k]).is_err() {
                        break;
                    }
                    sent += k;
                }
                let _ = down.shutdown(Shutdown::Both);
                let _ = up.shutdown(Shutdown::Both);
            });
        }
    });
    (addr, seen)
}

fn is_blob_request(requests: &[u8]) -> bool {
    requests.windows(7).any(|w| w == b"/blobs/")
}

/// The `Range` header's start offset in a request.
fn range_start(request: &[u8]) -> Option<u64> {
    let text = String::from_utf8_lossy(request).to_ascii_lowercase();
    let v = text.split("range: bytes=").nth(1)?;
    v.split('-').next()?.trim().parse().ok()
}

#[test]
fn streamed_pull_resumes_with_range_after_a_cut_connection() {
    use std::io::Read;
    let reg = start();
    let src = tempfile::tempdir().unwrap();
    let bytes = data(9, BIG);
    let big = write_blob(src.path(), "big", &bytes);
    reg.client()
        .push_blob_file("r", &big.digest, big.size, &big.path)
        .unwrap();

    let (proxy, requests) = cutting_proxy(reg.addr.clone(), BIG / 3);
    let opts = fast_retry();
    let c = RegistryClient::new(&proxy, None, opts).unwrap();
    let mut readers = c.spawn_pull_blob_streams("r", &[(big.digest, big.size)]);
    let mut got = Vec::new();
    readers[0].read_to_end(&mut got).unwrap();
    assert_eq!(got.len(), BIG);
    assert!(got == bytes, "streamed bytes differ from the blob");
    // The first connection was cut; the download went on over a second one, asking only
    // for what had not arrived (at most what the proxy let through, headers included).
    let requests: Vec<Vec<u8>> = requests
        .lock()
        .unwrap()
        .iter()
        .filter(|r| is_blob_request(r))
        .cloned()
        .collect();
    assert_eq!(requests.len(), 2, "two connections asked for the blob");
    assert_eq!(
        range_start(&requests[0]),
        Some(0),
        "{}",
        String::from_utf8_lossy(&requests[0])
    );
    let resumed = range_start(&requests[1]).expect("the second request has a Range");
    assert!(
        resumed > 0 && resumed <= (BIG / 3) as u64,
        "resumed from {resumed}"
    );
}
#[test]
fn streamed_pull_of_an_unknown_blob_reports_the_registry_error() {
    use std::io::Read;
    let reg = start();
    let c = reg.client();
    let missing = Digest::sha256(b"never pushed");
    let mut readers = c.spawn_pull_blob_streams("r", &[(missing, 12)]);
    let mut got = Vec::new();
    let e = readers[0].read_to_end(&mut got).unwrap_err();
    let t = pqreg::transfer::BlobStream::transfer_error(e).unwrap();
    assert!(matches!(t, TransferError::NotFound { .. }), "{t}");
    assert!(got.is_empty());
}

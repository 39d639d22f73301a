//! OCI objects and flows the tests build from first principles: digests, deterministic
//! content, descriptors, image manifests, and the push steps every test repeats.

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::http::{Client, Response, with_query};

/// `application/vnd.oci.image.manifest.v1+json`.
pub const MT_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// `application/vnd.oci.image.index.v1+json`.
pub const MT_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// `application/vnd.oci.image.config.v1+json`.
pub const MT_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// `application/vnd.oci.image.layer.v1.tar`.
pub const MT_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
/// `application/vnd.oci.empty.v1+json`, the empty descriptor's media type (image-spec v1.1).
pub const MT_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// The content of the empty JSON blob, `{}`.
pub const EMPTY_JSON: &[u8] = b"{}";
/// Its digest, as given by image-spec v1.1 `manifest.md` (guidance for an empty descriptor).
pub const EMPTY_JSON_DIGEST: &str =
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

/// Every error code distribution-spec v1.1 defines (`spec.md`, "Error Codes").
pub const SPEC_ERROR_CODES: &[&str] = &[
    "BLOB_UNKNOWN",
    "BLOB_UPLOAD_INVALID",
    "BLOB_UPLOAD_UNKNOWN",
    "DIGEST_INVALID",
    "MANIFEST_BLOB_UNKNOWN",
    "MANIFEST_INVALID",
    "MANIFEST_UNKNOWN",
    "NAME_INVALID",
    "NAME_UNKNOWN",
    "SIZE_INVALID",
    "UNAUTHORIZED",
    "DENIED",
    "UNSUPPORTED",
    "TOOMANYREQUESTS",
];

/// `sha256:<hex>` of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// A small deterministic generator (SplitMix64): tests that pick "random" points or content
/// reproduce exactly from their seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `lo..hi` (`hi > lo`).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo)
    }

    /// `len` random bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            out.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        out.truncate(len);
        out
    }
}

/// `len` deterministic pseudo-random bytes from `seed`.
pub fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    Rng::new(seed).bytes(len)
}

/// A content descriptor.
#[derive(Debug, Clone)]
pub struct Desc {
    /// Media type.
    pub media_type: String,
    /// Digest of the content.
    pub digest: String,
    /// Size in bytes.
    pub size: usize,
}

impl Desc {
    /// The descriptor of `bytes` with this media type.
    pub fn of(media_type: &str, bytes: &[u8]) -> Self {
        Self {
            media_type: media_type.to_owned(),
            digest: sha256(bytes),
            size: bytes.len(),
        }
    }

    /// As JSON.
    pub fn json(&self) -> Value {
        json!({"mediaType": self.media_type, "digest": self.digest, "size": self.size})
    }
}

/// An image manifest (image-spec v1.1) as bytes: `extra` fields (e.g. `artifactType`,
/// `subject`, `annotations`) are merged in at the top level.
pub fn image_manifest(config: &Desc, layers: &[Desc], extra: Value) -> Vec<u8> {
    let mut m = json!({
        "schemaVersion": 2,
        "mediaType": MT_MANIFEST,
        "config": config.json(),
        "layers": layers.iter().map(Desc::json).collect::<Vec<_>>(),
    });
    if let (Some(obj), Value::Object(more)) = (m.as_object_mut(), extra) {
        obj.extend(more);
    }
    serde_json::to_vec(&m).expect("serialize manifest")
}

/// `/v2/<repo>/blobs/<digest>`.
pub fn blob_path(repo: &str, digest: &str) -> String {
    format!("/v2/{repo}/blobs/{digest}")
}

/// `/v2/<repo>/manifests/<reference>`.
pub fn manifest_path(repo: &str, reference: &str) -> String {
    format!("/v2/{repo}/manifests/{reference}")
}

/// `/v2/<repo>/blobs/uploads/`.
pub fn uploads_path(repo: &str) -> String {
    format!("/v2/{repo}/blobs/uploads/")
}

/// Opens an upload session (`POST`, expects 202 and a `Location`) and returns the location.
pub fn open_session(c: &Client, repo: &str) -> String {
    let r = c.must("POST", &uploads_path(repo), &[], b"");
    assert_eq!(r.status, 202, "POST {}: {}", uploads_path(repo), r.text());
    r.location()
        .expect("202 from POST uploads carries Location")
}

/// Uploads `bytes` with POST then PUT `?digest=` and returns the digest; asserts 201.
pub fn push_blob(c: &Client, repo: &str, bytes: &[u8]) -> String {
    let digest = sha256(bytes);
    let loc = open_session(c, repo);
    let r = c.must(
        "PUT",
        &with_query(&loc, "digest", &digest),
        &[("Content-Type", "application/octet-stream")],
        bytes,
    );
    assert_eq!(r.status, 201, "PUT blob {digest} to {repo}: {}", r.text());
    digest
}

/// PUTs a manifest with its media type as `Content-Type`.
pub fn put_manifest(
    c: &Client,
    repo: &str,
    reference: &str,
    media_type: &str,
    body: &[u8],
) -> Response {
    c.must(
        "PUT",
        &manifest_path(repo, reference),
        &[("Content-Type", media_type)],
        body,
    )
}

/// Pushes a small image (config + `n_layers` layers from `seed`) and tags it; returns the
/// manifest bytes and digest. Asserts every step succeeded.
pub fn push_image(
    c: &Client,
    repo: &str,
    tag: &str,
    seed: u64,
    n_layers: usize,
) -> (Vec<u8>, String) {
    let mut rng = Rng::new(seed);
    let config = serde_json::to_vec(&json!({"seed": seed, "architecture": "amd64", "os": "linux"}))
        .expect("serialize config");
    push_blob(c, repo, &config);
    let mut layers = Vec::new();
    for _ in 0..n_layers {
        let len = rng.range(100, 5000) as usize;
        let bytes = rng.bytes(len);
        push_blob(c, repo, &bytes);
        layers.push(Desc::of(MT_LAYER, &bytes));
    }
    let manifest = image_manifest(&Desc::of(MT_CONFIG, &config), &layers, json!({}));
    let r = put_manifest(c, repo, tag, MT_MANIFEST, &manifest);
    assert_eq!(r.status, 201, "PUT manifest {repo}:{tag}: {}", r.text());
    let digest = sha256(&manifest);
    (manifest, digest)
}

/// Asserts `r` has `status` and, when `code` is given, that the JSON error body names it.
#[track_caller]
pub fn assert_error(r: &Response, status: u16, code: Option<&str>) {
    assert_eq!(
        r.status,
        status,
        "expected {status}, got {}: {}",
        r.status,
        r.text()
    );
    if let Some(code) = code {
        let codes = r.error_codes();
        assert!(
            codes.iter().any(|c| c == code),
            "expected error code {code} in body, got {codes:?}: {}",
            r.text()
        );
    }
}

/// Asserts two byte strings are equal, reporting sizes, digests, the first differing offset
/// and the start of `got` instead of dumping megabytes.
#[track_caller]
pub fn assert_bytes(got: &[u8], want: &[u8], what: &str) {
    if got != want {
        let first = got
            .iter()
            .zip(want)
            .position(|(a, b)| a != b)
            .unwrap_or(got.len().min(want.len()));
        panic!(
            "{what}: got {} bytes ({}), want {} bytes ({}); first difference at {first}; got starts {:?}",
            got.len(),
            sha256(got),
            want.len(),
            sha256(want),
            String::from_utf8_lossy(&got[..got.len().min(300)])
        );
    }
}

/// An `Accept` header naming the manifest media types the tests push.
pub const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.manifest.v1+json, \
     application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json";

/// `GET /v2/<repo>/manifests/<reference>` with [`ACCEPT_MANIFESTS`], as real clients send.
pub fn get_manifest(c: &Client, repo: &str, reference: &str) -> Response {
    c.get_with(
        &manifest_path(repo, reference),
        &[("Accept", ACCEPT_MANIFESTS)],
    )
}

//! The tamper suite: a packed layout altered one way at a time. Each must fail with the
//! exit code of the check that catches it (spec/signing.md §7-8) and leave neither the
//! output directory nor a staging directory behind.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::fs;
use std::path::Path;

use crate::pack_common::*;
use pqreg::Error;
use pqreg::unpack::UnpackError;
use pqreg_spec::Digest;
use pqreg_spec::keys::{KemAlgorithm, RecipientPrivateKey, SignatureAlgorithm, SigningKey};
use pqreg_spec::oci::ImageManifest;
use serde_json::Value;

struct Fixture {
    _tmp: tempfile::TempDir,
    root: std::path::PathBuf,
    keys: Keys,
    manifest: Digest,
    model: ImageManifest,
    referrer: Digest,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_owned();
    let keys = Keys::new();
    let packed = pack(&tiny(), &root.join("pristine"), &keys, true);
    Fixture {
        model: ImageManifest::from_json(&packed.manifest).unwrap(),
        manifest: packed.manifest_digest,
        referrer: packed.bundle.referrer_digest,
        root,
        keys,
        _tmp: tmp,
    }
}

fn blob(layout: &Path, d: &Digest) -> std::path::PathBuf {
    layout.join("blobs/sha256").join(d.hex())
}

fn flip(path: &Path, at: usize) {
    let mut b = fs::read(path).unwrap();
    let i = at.min(b.len() - 1);
    b[i] ^= 0x01;
    fs::write(path, b).unwrap();
}

/// Runs `tamper` on a fresh copy of the layout, unpacks `target` (default: the model
/// manifest) and checks the exit code and that nothing is left behind.
fn case(f: &Fixture, name: &str, want: u8, tamper: impl FnOnce(&Path) -> Option<Digest>) -> Error {
    case_with(
        f,
        name,
        want,
        &f.keys.recipient,
        &policy_for(&f.keys.signer),
        tamper,
    )
}

fn case_with(
    f: &Fixture,
    name: &str,
    want: u8,
    identity: &RecipientPrivateKey,
    policy: &pqreg_spec::policy::Policy,
    tamper: impl FnOnce(&Path) -> Option<Digest>,
) -> Error {
    let dir = f.root.join(name);
    let layout = dir.join("layout");
    copy_dir(&f.root.join("pristine"), &layout);
    let target = tamper(&layout).unwrap_or(f.manifest);
    let out = dir.join("out");
    let src = pqreg::unpack::DirSource::open(&layout).unwrap();
    let mut opts = pqreg::unpack::UnpackOptions::new(REPO, policy);
    opts.identity = Some(identity);
    let err = pqreg::unpack::unpack_model(&src, &target, &opts, &out).unwrap_err();
    assert_eq!(err.exit_code().code, want, "{name}: {err}");
    assert!(!out.exists(), "{name}: output directory left behind");
    assert!(
        leftovers(&dir).is_empty(),
        "{name}: staging left: {:?}",
        leftovers(&dir)
    );
    err
}

/// Writes `bytes` as a blob and returns its digest.
fn put(layout: &Path, bytes: &[u8]) -> Digest {
    let d = Digest::sha256(bytes);
    fs::write(blob(layout, &d), bytes).unwrap();
    d
}

/// Replaces the index.json entry of `old` by a descriptor of `new` (same other fields).
fn repoint(layout: &Path, old: &Digest, new: &Digest, size: usize) {
    let p = layout.join("index.json");
    let mut v: Value = serde_json::from_slice(&fs::read(&p).unwrap()).unwrap();
    for m in v["manifests"].as_array_mut().unwrap() {
        if m["digest"] == old.to_string() {
            m["digest"] = Value::String(new.to_string());
            m["size"] = Value::from(size);
        }
    }
    fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
}

#[test]
fn every_chunk_blob_flipped() {
    let f = fixture();
    for (i, l) in f.model.layers.iter().enumerate().skip(1) {
        let err = case(&f, &format!("chunk{i}"), 10, |lay| {
            flip(&blob(lay, &l.digest), l.size as usize / 2);
            None
        });
        assert!(
            matches!(
                err,
                Error::Unpack(UnpackError::BlobDigest { what: "chunk", .. })
            ),
            "{err}"
        );
    }
}

#[test]
fn index_config_manifest_bundle_flipped() {
    let f = fixture();
    let err = case(&f, "index", 10, |lay| {
        flip(&blob(lay, &f.model.layers[0].digest), 100);
        None
    });
    assert!(
        matches!(
            err,
            Error::Unpack(UnpackError::BlobDigest { what: "index", .. })
        ),
        "{err}"
    );
    let err = case(&f, "config", 10, |lay| {
        flip(&blob(lay, &f.model.config.digest), 30);
        None
    });
    assert!(
        matches!(
            err,
            Error::Unpack(UnpackError::BlobDigest { what: "config", .. })
        ),
        "{err}"
    );
    let err = case(&f, "manifest", 10, |lay| {
        flip(&blob(lay, &f.manifest), 40);
        None
    });
    assert!(
        matches!(err, Error::Unpack(UnpackError::ManifestDigest { .. })),
        "{err}"
    );
    let err = case(&f, "bundle", 10, |lay| {
        let r: Value = serde_json::from_slice(&fs::read(blob(lay, &f.referrer)).unwrap()).unwrap();
        let b: Digest = r["layers"][0]["digest"].as_str().unwrap().parse().unwrap();
        flip(&blob(lay, &b), 500);
        None
    });
    assert!(
        matches!(
            err,
            Error::Unpack(UnpackError::BlobDigest { what: "bundle", .. })
        ),
        "{err}"
    );
}

#[test]
fn truncated_blob() {
    let f = fixture();
    let l = f.model.layers.last().unwrap().clone();
    let err = case(&f, "truncated", 10, |lay| {
        let p = blob(lay, &l.digest);
        let b = fs::read(&p).unwrap();
        fs::write(&p, &b[..b.len() - 7]).unwrap();
        None
    });
    assert!(
        matches!(err, Error::Unpack(UnpackError::BlobSize { .. })),
        "{err}"
    );
}

/// An attacker who controls the registry re-addresses a bundle whose signature bit it
/// flipped: every digest matches, the signature does not.
#[test]
fn forged_signature_with_consistent_digests() {
    let f = fixture();
    case(&f, "forged", 11, |lay| {
        let rp = blob(lay, &f.referrer);
        let mut r: Value = serde_json::from_slice(&fs::read(&rp).unwrap()).unwrap();
        let b: Digest = r["layers"][0]["digest"].as_str().unwrap().parse().unwrap();
        let mut bundle: Value = serde_json::from_slice(&fs::read(blob(lay, &b)).unwrap()).unwrap();
        let sig = bundle["dsseEnvelope"]["signatures"][0]["sig"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut raw = base64_decode(&sig);
        raw[10] ^= 0x01;
        bundle["dsseEnvelope"]["signatures"][0]["sig"] = Value::String(base64_encode(&raw));
        let nb = serde_json::to_vec(&bundle).unwrap();
        let nd = put(lay, &nb);
        r["layers"][0]["digest"] = Value::String(nd.to_string());
        r["layers"][0]["size"] = Value::from(nb.len());
        let nr = serde_json::to_vec(&r).unwrap();
        let nrd = put(lay, &nr);
        repoint(lay, &f.referrer, &nrd, nr.len());
        None
    });
}

/// Another model's manifest (signed by the same trusted key) served with this model's
/// bundle: the statement names the other manifest.
#[test]
fn swapped_manifest() {
    let f = fixture();
    let err = case(&f, "swap", 10, |lay| {
        let other = lay.parent().unwrap().join("other-model");
        fs::create_dir_all(&other).unwrap();
        fs::write(other.join("weights.bin"), b"another model entirely").unwrap();
        let b = pack(&other, lay, &f.keys, true);
        // Point a copy of our referrer at B, and drop B's own referrer.
        let mut r: Value =
            serde_json::from_slice(&fs::read(blob(lay, &f.referrer)).unwrap()).unwrap();
        r["subject"]["digest"] = Value::String(b.manifest_digest.to_string());
        r["subject"]["size"] = Value::from(b.manifest.len());
        let nr = serde_json::to_vec(&r).unwrap();
        let nrd = put(lay, &nr);
        repoint(lay, &b.bundle.referrer_digest, &nrd, nr.len());
        Some(b.manifest_digest)
    });
    assert!(err.to_string().contains("signed manifest digest"), "{err}");
    // And the other model's manifest bytes stored under this model's digest.
    let err = case(&f, "swap-bytes", 10, |lay| {
        let other = lay.parent().unwrap().join("other-model");
        fs::create_dir_all(&other).unwrap();
        fs::write(other.join("weights.bin"), b"another model entirely").unwrap();
        let b = pack(&other, lay, &f.keys, true);
        fs::write(blob(lay, &f.manifest), &b.manifest).unwrap();
        None
    });
    assert!(
        matches!(err, Error::Unpack(UnpackError::ManifestDigest { .. })),
        "{err}"
    );
}

#[test]
fn wrong_or_missing_identity() {
    let f = fixture();
    let other = RecipientPrivateKey::generate(KemAlgorithm::XWing).unwrap();
    let policy = policy_for(&f.keys.signer);
    case_with(&f, "wrong-identity", 14, &other, &policy, |_| None);
    let dir = f.root.join("no-identity");
    fs::create_dir_all(&dir).unwrap();
    let src = pqreg::unpack::DirSource::open(&f.root.join("pristine")).unwrap();
    let opts = pqreg::unpack::UnpackOptions::new(REPO, &policy);
    let err = pqreg::unpack::unpack_model(&src, &f.manifest, &opts, &dir.join("out")).unwrap_err();
    assert_eq!(err.exit_code().code, 14, "{err}");
    assert!(fs::read_dir(&dir).unwrap().next().is_none());
}

#[test]
fn untrusted_signer_and_log_required() {
    let f = fixture();
    let stranger = SigningKey::generate(SignatureAlgorithm::MlDsa65).unwrap();
    case_with(
        &f,
        "untrusted",
        12,
        &f.keys.recipient,
        &policy_for(&stranger),
        |_| None,
    );
    // A policy with no rule for the repository: no accepted key either.
    let other_repo =
        pqreg_spec::policy::Policy::from_toml("version = 1\nrequire_log = false\n").unwrap();
    case_with(&f, "no-rule", 12, &f.keys.recipient, &other_repo, |_| None);
    // The default policy requires the log; this bundle has no entry.
    let pem = f.keys.signer.verifying_key().to_pem().unwrap();
    let strict = pqreg_spec::policy::Policy::from_toml(&format!(
        "version = 1\n[[keys]]\nname = \"k\"\nalg = \"ml-dsa-65\"\npublic_key = \"\"\"\n{pem}\"\"\"\n[[rules]]\nrepositories = [\"registry.example/**\"]\nsigners = [\"k\"]\n"
    ))
    .unwrap();
    case_with(&f, "log", 13, &f.keys.recipient, &strict, |_| None);
}

#[test]
fn no_signature_at_all() {
    let f = fixture();
    case(&f, "unsigned", 11, |lay| {
        let p = lay.join("index.json");
        let mut v: Value = serde_json::from_slice(&fs::read(&p).unwrap()).unwrap();
        v["manifests"]
            .as_array_mut()
            .unwrap()
            .retain(|m| m["digest"] != f.referrer.to_string());
        fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
        None
    });
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// A hostile source: the layout's referrers behind `extra` bogus ML-DSA referrer
/// descriptors, counting the manifests it is asked for.
struct Flooding {
    inner: pqreg::unpack::DirSource,
    extra: usize,
    asked: std::sync::atomic::AtomicUsize,
}

impl pqreg::unpack::BlobSource for Flooding {
    type Reader = <pqreg::unpack::DirSource as pqreg::unpack::BlobSource>::Reader;
    fn get_manifest(&self, digest: &Digest) -> Result<Vec<u8>, Error> {
        self.asked
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.get_manifest(digest)
    }
    fn open_blob(&self, digest: &Digest) -> Result<Self::Reader, Error> {
        self.inner.open_blob(digest)
    }
    fn referrers(&self, subject: &Digest) -> Result<Vec<pqreg_spec::oci::Descriptor>, Error> {
        let mut out: Vec<_> = (0..self.extra)
            .map(|i| {
                let mut d = pqreg_spec::oci::Descriptor::new(
                    "application/vnd.oci.image.manifest.v1+json",
                    Digest::sha256(format!("bogus {i}").as_bytes()),
                    100,
                );
                d.artifact_type = Some(pqreg_spec::bundle::BUNDLE_MEDIA_TYPE.to_owned());
                d.annotations = Some(
                    [(
                        "dev.pqreg.signature.algorithm".to_owned(),
                        "ml-dsa-65".to_owned(),
                    )]
                    .into(),
                );
                d
            })
            .collect();
        out.extend(self.inner.referrers(subject)?);
        Ok(out)
    }
}

/// Issue 12 point 6: a source that lists many signature referrers makes the client fetch
/// at most `MAX_BUNDLES_TRIED` of them, and a list over `MAX_REFERRERS` is refused
/// before any is fetched.
#[test]
fn a_flood_of_referrers_is_bounded() {
    let f = fixture();
    let policy = policy_for(&f.keys.signer);
    let mut opts = pqreg::unpack::UnpackOptions::new(REPO, &policy);
    opts.identity = Some(&f.keys.recipient);
    let layout = f.root.join("pristine");
    for (extra, want_asked) in [
        (100, 1 + pqreg::unpack::MAX_BUNDLES_TRIED),
        (pqreg::unpack::MAX_REFERRERS + 1, 1),
    ] {
        let src = Flooding {
            inner: pqreg::unpack::DirSource::open(&layout).unwrap(),
            extra,
            asked: 0.into(),
        };
        let out = f.root.join(format!("flood-{extra}"));
        let err = pqreg::unpack::unpack_model(&src, &f.manifest, &opts, &out).unwrap_err();
        assert!(!out.exists(), "{err}");
        // The model manifest, then at most the bounded number of referrer manifests.
        assert_eq!(
            src.asked.load(std::sync::atomic::Ordering::Relaxed),
            want_asked,
            "{extra} referrers: {err}"
        );
    }
}

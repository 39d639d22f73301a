//! The tamper suite over the network: `pqreg pull` from a real registry process whose
//! on-disk store was altered one way at a time (both pqreg-registry and docker-registry
//! serve what is on disk, neither re-hashes on reads). Each case must exit with the code
//! of the check that catches it (client/EXIT_CODES.md), leave no output directory, no
//! staging directory, and no blob in the client's cache that does not match its digest.
//! An altered blob-cache entry is re-fetched (the pull succeeds and repairs it).
//! `client/tests/pack_tamper.rs` covers the same attacks offline (OCI layout, library
//! API); here the transfer layer (digest-checked cache, size checks, tag resolution, the
//! referrers API and the referrers tag) is in the path.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};

use crate::cli_common::{Home, exits, ok, policy, tiny};
use crate::registry_common;
use crate::registry_common::Registry;
use pqreg_spec::Digest;
use serde_json::Value;

fn get_json(url: &str) -> Value {
    let body = ureq::get(url)
        .header(
            "Accept",
            "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json",
        )
        .call()
        .unwrap()
        .body_mut()
        .read_to_vec()
        .unwrap();
    serde_json::from_slice(&body).unwrap()
}

fn digest_of(v: &Value) -> Digest {
    v["digest"].as_str().unwrap().parse().unwrap()
}

/// Where a registry keeps a blob's bytes on disk.
fn blob_file(reg: &Registry, docker: bool, d: &Digest) -> PathBuf {
    let hex = d.hex();
    if docker {
        reg.data_dir()
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(&hex)
            .join("data")
    } else {
        reg.data_dir()
            .join("blobs/sha256")
            .join(&hex[..2])
            .join(&hex)
    }
}

/// Replaces the bytes of `path` by `f(bytes)` for the duration of `check`, then restores.
fn altered(path: &Path, f: impl FnOnce(&mut Vec<u8>), check: impl FnOnce()) {
    let orig = fs::read(path).unwrap();
    let mut b = orig.clone();
    f(&mut b);
    fs::write(path, &b).unwrap();
    check();
    fs::write(path, &orig).unwrap();
}

fn flip_at(pos: usize) -> impl FnOnce(&mut Vec<u8>) {
    move |b: &mut Vec<u8>| {
        let i = pos.min(b.len() - 1);
        b[i] ^= 0x01;
    }
}

/// Pulls `reference` with an empty cache and asserts exit `want` and nothing left behind:
/// no output or staging directory, no cached blob that is not its digest's content, and
/// nothing (not even a resumable `.partial`) of the blob `tampered`.
fn pull_fails_on(
    h: &Home,
    reference: &str,
    identity: &str,
    want: i32,
    what: &str,
    tampered: Option<&Digest>,
) {
    let cache = h.path().join("cache");
    let _ = fs::remove_dir_all(&cache);
    let out = h.path().join("out");
    let o = h.pull(reference, "out", identity, &[]);
    exits(&o, want, what);
    assert!(!out.exists(), "{what}: output directory written");
    for e in fs::read_dir(h.path()).unwrap() {
        let n = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!n.contains("pqreg-partial"), "{what}: staging {n} left");
    }
    // Whatever is in the cache is the content of its name.
    let blobs = cache.join("pqreg/blobs/sha256");
    if blobs.exists() {
        for e in fs::read_dir(&blobs).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(t) = tampered {
                assert!(!name.starts_with(&t.hex()), "{what}: {name} left in cache");
            }
            // Other blobs' downloads cut short by the failure stay, to be resumed.
            if e.file_type().unwrap().is_file() && !name.ends_with(".partial") {
                let d = Digest::sha256(&fs::read(e.path()).unwrap());
                assert_eq!(d.hex(), name, "{what}: cached blob is not its digest");
            }
        }
    }
}

fn pull_fails(h: &Home, reference: &str, identity: &str, want: i32, what: &str) {
    pull_fails_on(h, reference, identity, want, what, None);
}

fn push(h: &Home, reference: &str, signer: &str) -> Digest {
    let o = ok(&h.push(&tiny(), reference, signer, &[]));
    let v: Value = serde_json::from_str(&o).unwrap();
    v["digest"].as_str().unwrap().parse().unwrap()
}

fn setup(reg: &Registry) -> (Home, Digest) {
    let h = Home::new();
    ok(&h.run(&["keygen", "--recipient", "--out", &h.p("stranger")]));
    policy(
        &h.path().join("trust.toml"),
        &h.path().join("signer.pub"),
        &format!("{}/models/*", reg.addr),
    );
    let d = push(&h, &format!("{}/models/tiny:v1", reg.addr), "signer.key");
    (h, d)
}

/// Every blob kind flipped, a truncated blob, a wrong recipient key and an untrusted
/// signer, against pqreg-registry's blob store.
#[test]
fn pqreg_registry_store_tampered() {
    let reg = registry_common::start();
    let (h, digest) = setup(&reg);
    let base = format!("http://{}/v2/models/tiny", reg.addr);
    let r = format!("{}/models/tiny:v1", reg.addr);
    let manifest = get_json(&format!("{base}/manifests/{digest}"));
    let layers = manifest["layers"].as_array().unwrap();
    assert!(layers.len() >= 2, "index and at least one chunk");
    let referrers = get_json(&format!("{base}/referrers/{digest}"));
    let referrer = digest_of(&referrers["manifests"][0]);
    let bundle = digest_of(&get_json(&format!("{base}/manifests/{referrer}"))["layers"][0]);

    let cases: Vec<(&str, Digest)> = std::iter::once(("config", digest_of(&manifest["config"])))
        .chain(std::iter::once(("index", digest_of(&layers[0]))))
        .chain(layers[1..].iter().map(|l| ("chunk", digest_of(l))))
        .chain(std::iter::once(("bundle", bundle)))
        .collect();
    for (what, d) in &cases {
        let path = blob_file(&reg, false, d);
        let len = fs::metadata(&path).unwrap().len() as usize;
        altered(&path, flip_at(len / 2), || {
            pull_fails(&h, &r, "rcpt.key", 10, &format!("{what} flipped"));
        });
    }
    let last = digest_of(layers.last().unwrap());
    altered(
        &blob_file(&reg, false, &last),
        |b| b.truncate(b.len() - 7),
        || {
            let what = "chunk truncated";
            pull_fails_on(&h, &r, "rcpt.key", 10, what, Some(&last));
        },
    );
    // A pristine store pulls (the cases above restored every byte); by default the chunk
    // layers stream into decryption and none of them lands in the cache.
    ok(&h.pull(&r, "good", "rcpt.key", &[]));
    let cached = h.path().join("cache/pqreg/blobs/sha256").join(last.hex());
    assert!(
        !cached.exists(),
        "a streamed layer was written to the cache"
    );
    // With --cache they are kept there.
    ok(&h.pull(&r, "good-cached", "rcpt.key", &["--cache"]));
    // The blob cache is not trusted either: a cached chunk changed on disk (or torn by a
    // crash: the cache is not fsynced) is hashed before use and downloaded again; the
    // pull succeeds with the registry's bytes and repairs the cache.
    let good = fs::read(&cached).unwrap();
    let mut bad = good.clone();
    flip_at(100)(&mut bad);
    fs::write(&cached, &bad).unwrap();
    let o = ok(&h.pull(&r, "from-cache", "rcpt.key", &["--cache"]));
    let v: Value = serde_json::from_str(&o).unwrap();
    assert_eq!(
        v["downloaded_bytes"],
        good.len(),
        "only the bad entry fetched"
    );
    assert_eq!(fs::read(&cached).unwrap(), good, "cache entry repaired");
    pull_fails(&h, &r, "stranger.key", 14, "wrong recipient key");
    // Signed by a key the policy does not list.
    let other = push(&h, &format!("{}/models/other:v1", reg.addr), "other.key");
    pull_fails(
        &h,
        &format!("{}/models/other@{other}", reg.addr),
        "rcpt.key",
        12,
        "untrusted signer",
    );
}

/// Manifests are blobs on docker-registry's disk: a flipped manifest, another model's
/// manifest behind this one's digest, and tags swapped between models.
#[test]
fn docker_registry_manifests_tampered() {
    let Some(reg) = registry_common::start_docker_registry() else {
        return;
    };
    let (h, digest) = setup(&reg);
    let r = format!("{}/models/tiny:v1", reg.addr);
    let pinned = format!("{}/models/tiny@{digest}", reg.addr);
    let mpath = blob_file(&reg, true, &digest);
    // docker-registry parses a manifest before serving it (a flipped JSON byte is a 500),
    // so the change keeps it valid: one hex digit of a layer digest.
    let flip_hex = |b: &mut Vec<u8>| {
        let s = String::from_utf8(b.clone()).unwrap();
        let i = s.rfind("sha256:").unwrap() + 7 + 10;
        b[i] = if b[i] == b'0' { b'1' } else { b'0' };
    };
    for reference in [&r, &pinned] {
        altered(&mpath, flip_hex, || {
            pull_fails(&h, reference, "rcpt.key", 10, "manifest flipped");
        });
    }
    // A second model, signed by the trusted key, and one signed by an untrusted key.
    let v2 = push(&h, &format!("{}/models/tiny:v2", reg.addr), "signer.key");
    let evil = push(&h, &format!("{}/models/tiny:evil", reg.addr), "other.key");
    // v2's manifest bytes served under v1's digest.
    let v2_bytes = fs::read(blob_file(&reg, true, &v2)).unwrap();
    altered(
        &mpath,
        |b| *b = v2_bytes,
        || pull_fails(&h, &pinned, "rcpt.key", 10, "manifest swapped"),
    );
    // Tag v1 moved to the untrusted model: its signer is refused.
    let link = reg
        .data_dir()
        .join("docker/registry/v2/repositories/models/tiny/_manifests/tags/v1/current/link");
    altered(
        &link,
        |b| *b = evil.to_string().into_bytes(),
        || pull_fails(&h, &r, "rcpt.key", 12, "tag swapped to untrusted"),
    );
    // Tag v1 moved to v2 (same trusted signer): v2's statement is bound to tag v2
    // (spec/signing.md §3.1), so pulling v1 refuses it (exit 15). A pinned reference
    // ignores the tag.
    altered(
        &link,
        |b| *b = v2.to_string().into_bytes(),
        || {
            let _ = fs::remove_dir_all(h.path().join("cache"));
            pull_fails(&h, &r, "rcpt.key", 15, "tag v1 moved to v2's version");
            let o = ok(&h.pull(&pinned, "pinned", "rcpt.key", &[]));
            let v: Value = serde_json::from_str(&o).unwrap();
            assert_eq!(v["digest"], digest.to_string());
        },
    );
}

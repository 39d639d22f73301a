//! Issue 12 point 1 (spec/signing.md §7.3): `pqreg push --identity` builds only on a tag
//! version that verifies under the pusher's trust policy or carries the pusher's own
//! signature. Attacks over real HTTP: the real `pqreg-registry` on 127.0.0.1 and the real
//! `pqreg` binary (the attacker's crafted manifest is built with the client library and
//! pushed over HTTP, as any OCI client could).
//!
//! - confidentiality: an attacker with push rights and the publisher's recipient PUBLIC
//!   key moves the tag to a dummy model encrypted to {publisher, attacker}; the
//!   publisher's next push must not adopt that secret (its key commitment differs, the
//!   attacker's identity does not open it) and says it started fresh;
//! - integrity: an unsigned manifest on the tag whose index maps a real chunk digest to a
//!   blob of the attacker's; the publisher's next push must not reference that blob.
//!
//! Both fail on the code before the gate (which reused whatever the tag named).
#![allow(clippy::unwrap_used)]

use std::path::Path;

use pqreg::pack::{BlobSink, MemoryGrant, PackOptions, pack_model};
use pqreg::registry_io::{RegistrySink, RegistrySource};
use pqreg::transfer::{RegistryClient, TransferOptions};
use pqreg::unpack::read_index;
use pqreg_spec::Digest;
use pqreg_spec::keys::{PrivateKey, RecipientPrivateKey, SigningKey};
use pqreg_spec::oci::Descriptor;
use serde_json::Value;

use crate::cli_common::{pqreg, tiny};
use crate::model_common::{Keys, json, policy, show};
use crate::registry_common::{Registry, start};

fn private(path: &str) -> PrivateKey {
    pqreg::keyfile::load_private(Path::new(path), None).unwrap()
}

fn recipient(path: &str) -> RecipientPrivateKey {
    match private(path) {
        PrivateKey::Recipient(k) => k,
        _ => panic!("{path} is not a recipient key"),
    }
}

fn signer(path: &str) -> SigningKey {
    match private(path) {
        PrivateKey::Signing(k) => k,
        _ => panic!("{path} is not a signing key"),
    }
}

/// The key envelope commitment in the config of `reference`'s manifest (a public field:
/// equal commitments mean equal secrets).
fn commitment(reg: &Registry, repo: &str, reference: &str) -> String {
    let c = RegistryClient::new(&reg.addr, None, TransferOptions::default()).unwrap();
    let m: Value = serde_json::from_slice(&c.get_manifest(repo, reference).unwrap().bytes).unwrap();
    let cfg = m["config"]["digest"].as_str().unwrap();
    let body = ureq::get(format!("http://{}/v2/{repo}/blobs/{cfg}", reg.addr))
        .call()
        .unwrap()
        .body_mut()
        .read_to_vec()
        .unwrap();
    let v: Value = serde_json::from_slice(&body).unwrap();
    let env = v
        .get("key_envelope")
        .or_else(|| v.get("keyEnvelope"))
        .unwrap_or_else(|| panic!("no key envelope in {v}"));
    env["commitment"].as_str().unwrap().to_owned()
}

fn layers(reg: &Registry, repo: &str, reference: &str) -> Vec<String> {
    let c = RegistryClient::new(&reg.addr, None, TransferOptions::default()).unwrap();
    let m: Value = serde_json::from_slice(&c.get_manifest(repo, reference).unwrap().bytes).unwrap();
    m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_owned())
        .collect()
}

/// The publisher's push of `dir` with `--identity a.key`, as JSON.
fn publisher_push(k: &Keys, dir: &Path, r: &str) -> Value {
    json(
        k.h(),
        &[
            "push",
            dir.to_str().unwrap(),
            r,
            "--recipient",
            &k.p("a.pub"),
            "--sign-key",
            &k.p("signer.key"),
            "--identity",
            &k.p("a.key"),
            "--policy",
            &k.p("trust.toml"),
        ],
    )
}

#[test]
fn push_does_not_adopt_a_secret_the_attacker_planted() {
    let reg = start();
    let k = Keys::new();
    policy(
        &k.h().join("trust.toml"),
        &k.h().join("signer.pub"),
        &[&reg],
    );
    let r = format!("{}/models/tiny:latest", reg.addr);

    // A verified previous version is reused (the gate lets the honest case through).
    publisher_push(&k, &tiny(), &r);
    let again = publisher_push(&k, &tiny(), &r);
    assert_eq!(again["previous"]["reused"], true, "{again}");
    assert_eq!(again["previous"]["verified_by"], "policy");
    assert!(again["reused_chunks"].as_u64().unwrap() > 0, "{again}");

    // The attacker: push rights, its own signing key ("other"), recipient key "b", and
    // the publisher's public recipient key: a dummy model to {a, b} on the tag.
    let dummy = tempfile::tempdir().unwrap();
    std::fs::write(dummy.path().join("weights.bin"), b"dummy").unwrap();
    let o = pqreg(
        k.h(),
        &[
            "-o",
            "json",
            "push",
            dummy.path().to_str().unwrap(),
            &r,
            "--recipient",
            &k.p("a.pub"),
            "--recipient",
            &k.p("b.pub"),
            "--sign-key",
            &k.p("other.key"),
        ],
    );
    assert!(o.status.success(), "{}", show(&o));
    let planted = commitment(&reg, "models/tiny", "latest");

    // The publisher's next push: not reused, and it says why.
    let o = pqreg(
        k.h(),
        &[
            "-o",
            "json",
            "push",
            tiny().to_str().unwrap(),
            &r,
            "--recipient",
            &k.p("a.pub"),
            "--sign-key",
            &k.p("signer.key"),
            "--identity",
            &k.p("a.key"),
            "--policy",
            &k.p("trust.toml"),
        ],
    );
    assert!(o.status.success(), "{}", show(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("nothing is reused"), "{stderr}");
    assert_eq!(v["previous"]["reused"], false, "{v}");
    assert!(
        v["previous"]["reason"]
            .as_str()
            .unwrap()
            .contains("no version verified"),
        "{v}"
    );
    assert_eq!(v["reused_chunks"], 0);
    // Another secret: the attacker's secret opens nothing of the new version.
    assert_ne!(commitment(&reg, "models/tiny", "latest"), planted);
    let o = k.pull(&r, "b", "out-b");
    assert_eq!(o.status.code(), Some(14), "{}", show(&o));
    let o = k.pull(&r, "a", "out-a");
    assert!(o.status.success(), "{}", show(&o));
}

/// Forwards everything to `inner` except referrer manifests: the model goes up unsigned.
struct Unsigned<'a, 'c>(&'a mut RegistrySink<'c>);

impl BlobSink for Unsigned<'_, '_> {
    fn has_blob(&mut self, d: &Digest) -> Result<bool, pqreg::Error> {
        self.0.has_blob(d)
    }
    fn put_blob_file(&mut self, desc: &Descriptor, path: &Path) -> Result<(), pqreg::Error> {
        self.0.put_blob_file(desc, path)
    }
    fn put_blob_bytes(&mut self, desc: &Descriptor, bytes: &[u8]) -> Result<(), pqreg::Error> {
        self.0.put_blob_bytes(desc, bytes)
    }
    fn put_blob_vec(
        &mut self,
        desc: &Descriptor,
        bytes: Vec<u8>,
        grant: MemoryGrant,
    ) -> Result<(), pqreg::Error> {
        self.0.put_blob_vec(desc, bytes, grant)
    }
    fn put_manifest(
        &mut self,
        desc: &Descriptor,
        bytes: &[u8],
        tag: Option<&str>,
    ) -> Result<(), pqreg::Error> {
        if desc.artifact_type.is_some() {
            return Ok(());
        }
        self.0.put_manifest(desc, bytes, tag)
    }
}

#[test]
fn push_does_not_reuse_a_chunk_the_attacker_mapped() {
    let reg = start();
    let k = Keys::new();
    policy(
        &k.h().join("trust.toml"),
        &k.h().join("signer.pub"),
        &[&reg],
    );
    let r = format!("{}/models/tiny:latest", reg.addr);
    // The publisher's version, encrypted to a (the publisher) and b (a recipient who
    // turned attacker and has push rights).
    let o = pqreg(
        k.h(),
        &[
            "-o",
            "json",
            "push",
            tiny().to_str().unwrap(),
            &r,
            "--recipient",
            &k.p("a.pub"),
            "--recipient",
            &k.p("b.pub"),
            "--sign-key",
            &k.p("signer.key"),
        ],
    );
    assert!(o.status.success(), "{}", show(&o));

    // The attacker opens the index with b, uploads a blob of its own, maps a real
    // chunk digest to it, and puts the resulting manifest on the tag, unsigned.
    let client = RegistryClient::new(&reg.addr, None, TransferOptions::default()).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let source = RegistrySource::new(&client, "models/tiny", cache.path()).unwrap();
    let current = client.get_manifest("models/tiny", "latest").unwrap().digest;
    let b = recipient(&k.p("b.key"));
    let (_, mut index, _) = read_index(&source, &current, Some(&b)).unwrap();
    // Same size as the real layer (the index ties a layer's size to its chunk's length).
    let size = usize::try_from(index.files[0].chunks[0].layer_size).unwrap();
    let evil: Vec<u8> = b"the attacker's bytes"
        .iter()
        .copied()
        .cycle()
        .take(size)
        .collect();
    let evil_digest = Digest::sha256(&evil);
    let evil_path = cache.path().join("evil");
    std::fs::write(&evil_path, &evil).unwrap();
    client
        .push_blob_file("models/tiny", &evil_digest, evil.len() as u64, &evil_path)
        .unwrap();
    let mut sink = RegistrySink::new(&client, "models/tiny", cache.path()).unwrap();
    let chunk = &mut index.files[0].chunks[0];
    chunk.layer = evil_digest;
    chunk.layer_size = evil.len() as u64;
    let other = signer(&k.p("other.key"));
    let rcpts = [
        recipient(&k.p("a.key")).public_key().unwrap(),
        b.public_key().unwrap(),
    ];
    let mut opts = PackOptions::new(&other);
    opts.recipients = &rcpts;
    opts.previous = Some(&index);
    opts.tag = Some("latest".into());
    let crafted = pack_model(&tiny(), &mut opts, &mut Unsigned(&mut sink)).unwrap();
    assert!(crafted.stats.reused_chunks > 0);
    assert!(
        layers(&reg, "models/tiny", "latest").contains(&evil_digest.to_string()),
        "the crafted manifest is on the tag and names the attacker's blob"
    );

    // The publisher's next push must not name the attacker's blob.
    let v = publisher_push(&k, &tiny(), &r);
    assert_eq!(v["previous"]["reused"], false, "{v}");
    assert!(
        !layers(&reg, "models/tiny", "latest").contains(&evil_digest.to_string()),
        "the publisher's new version references the attacker's blob"
    );
    let o = k.pull(&r, "a", "out");
    assert!(o.status.success(), "{}", show(&o));
}

/// `tiny` with `tokenizer.txt` changed, in a new directory under the home.
fn changed_tiny(k: &Keys, name: &str) -> std::path::PathBuf {
    let dir = k.h().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for e in std::fs::read_dir(tiny()).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
    }
    let mut t = std::fs::read(dir.join("tokenizer.txt")).unwrap();
    t.extend_from_slice(b"\nnew token\n");
    std::fs::write(dir.join("tokenizer.txt"), t).unwrap();
    dir
}

/// Issue 16, "reuse and resumption": a version pushed to a NEW tag builds on the newest
/// verified version of the repository, under any tag, and says which; a newer version
/// under another tag that does not verify (pushed by someone with push rights but not the
/// trusted key) is passed over; `--reuse-from` names the version to build on. Before,
/// push built only on the same tag's current version: `:v2` re-uploaded everything.
#[test]
fn push_to_a_new_tag_reuses_the_newest_verified_version() {
    let reg = start();
    let k = Keys::new();
    policy(
        &k.h().join("trust.toml"),
        &k.h().join("signer.pub"),
        &[&reg],
    );
    let repo = format!("{}/models/tiny", reg.addr);
    let v1 = publisher_push(&k, &tiny(), &format!("{repo}:v1"));
    // Newer, under another tag, but signed by a key the policy does not trust.
    let evil = json(
        k.h(),
        &[
            "push",
            tiny().to_str().unwrap(),
            &format!("{repo}:evil"),
            "--recipient",
            &k.p("a.pub"),
            "--sign-key",
            &k.p("other.key"),
        ],
    );
    let v2dir = changed_tiny(&k, "v2");
    let v2 = publisher_push(&k, &v2dir, &format!("{repo}:v2"));
    let chunks = v2["chunks"].as_u64().unwrap();
    assert_eq!(v2["previous"]["from"], "v1", "{v2:#}");
    assert_eq!(v2["previous"]["reused"], true, "{v2:#}");
    assert_eq!(v2["previous"]["digest"], v1["digest"], "{v2:#}");
    assert_ne!(v2["previous"]["digest"], evil["digest"]);
    // Only the changed file's chunk is new.
    assert_eq!(v2["reused_chunks"].as_u64().unwrap(), chunks - 1, "{v2:#}");
    assert_eq!(v2["new_chunk_blobs"], 1, "{v2:#}");

    // With no flag, v3 (the same files as v2) would build on v2, the newest; named, v1.
    let o = pqreg(
        k.h(),
        &[
            "-o",
            "json",
            "push",
            v2dir.to_str().unwrap(),
            &format!("{repo}:v3"),
            "--recipient",
            &k.p("a.pub"),
            "--sign-key",
            &k.p("signer.key"),
            "--identity",
            &k.p("a.key"),
            "--policy",
            &k.p("trust.toml"),
            "--reuse-from",
            "v1",
        ],
    );
    assert!(o.status.success(), "{}", show(&o));
    let v3: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v3["previous"]["from"], "v1", "{v3:#}");
    assert_eq!(v3["reused_chunks"].as_u64().unwrap(), chunks - 1, "{v3:#}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("reusing the chunks of models/tiny:v1"),
        "{err}"
    );
    let v4 = publisher_push(&k, &v2dir, &format!("{repo}:v4"));
    assert_eq!(v4["reused_chunks"].as_u64().unwrap(), chunks, "{v4:#}");
    assert_eq!(v4["new_chunk_blobs"], 0, "{v4:#}");
}

/// Issue 16: a publisher reuses its own versions with its own recipient key, without a
/// cluster's private key. `push --identity publisher.key` adds the publisher's public key
/// to the recipients, so the next push opens the previous version with it and uploads
/// only the changed chunk; the cluster's key still pulls. Before, v1 (encrypted to the
/// cluster only) could not be opened with the publisher's key, and v2 re-uploaded
/// everything.
#[test]
fn a_publisher_reuses_its_versions_with_its_own_key() {
    let reg = start();
    let k = Keys::new();
    policy(
        &k.h().join("trust.toml"),
        &k.h().join("signer.pub"),
        &[&reg],
    );
    let repo = format!("{}/models/tiny", reg.addr);
    // `c` plays the publisher's own key; `a` is the cluster's.
    let push = |dir: &Path, tag: &str| {
        json(
            k.h(),
            &[
                "push",
                dir.to_str().unwrap(),
                &format!("{repo}:{tag}"),
                "--recipient",
                &k.p("a.pub"),
                "--sign-key",
                &k.p("signer.key"),
                "--identity",
                &k.p("c.key"),
                "--policy",
                &k.p("trust.toml"),
            ],
        )
    };
    push(&tiny(), "v1");
    let inspect = json(k.h(), &["inspect", &format!("{repo}:v1")]);
    let listed = inspect.to_string();
    assert!(
        listed.contains(&k.key_id("c")),
        "publisher key not a recipient: {inspect:#}"
    );
    assert!(listed.contains(&k.key_id("a")), "{inspect:#}");
    let v2 = push(&changed_tiny(&k, "v2"), "v2");
    let chunks = v2["chunks"].as_u64().unwrap();
    assert_eq!(v2["previous"]["reused"], true, "{v2:#}");
    assert_eq!(v2["reused_chunks"].as_u64().unwrap(), chunks - 1, "{v2:#}");
    assert_eq!(v2["new_chunk_blobs"], 1, "{v2:#}");
    // The cluster reads it with its own key.
    let o = k.pull(&format!("{repo}:v2"), "a", "out");
    assert!(o.status.success(), "{}", show(&o));
}

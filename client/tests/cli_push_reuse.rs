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
    assert!(stderr.contains("a new lineage starts"), "{stderr}");
    assert_eq!(v["previous"]["reused"], false, "{v}");
    assert!(
        v["previous"]["reason"]
            .as_str()
            .unwrap()
            .contains("did not verify"),
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

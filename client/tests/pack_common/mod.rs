//! Shared fixtures of the pack/unpack tests: keys, a trust policy, layout copies.
#![allow(dead_code, clippy::unwrap_used)]

use std::fs;
use std::path::Path;

use pqreg::Error;
use pqreg::pack::{DirSink, PackOptions, PackedModel, pack_model};
use pqreg::unpack::{DirSource, UnpackOptions, UnpackReport, unpack_model};
use pqreg_spec::Digest;
use pqreg_spec::keys::{KemAlgorithm, RecipientPrivateKey, SignatureAlgorithm, SigningKey};
use pqreg_spec::policy::Policy;

pub const REPO: &str = "registry.example/models/tiny";

use crate::tools;
pub use tools::tiny;

pub struct Keys {
    pub signer: SigningKey,
    pub recipient: RecipientPrivateKey,
}

impl Keys {
    pub fn new() -> Self {
        Keys {
            signer: SigningKey::generate(SignatureAlgorithm::MlDsa65).unwrap(),
            recipient: RecipientPrivateKey::generate(KemAlgorithm::XWing).unwrap(),
        }
    }
}

/// A policy trusting `signer` for registry.example/models/*, log not required.
pub fn policy_for(signer: &SigningKey) -> Policy {
    let pem = signer.verifying_key().to_pem().unwrap();
    let text = format!(
        "version = 1\nrequire_log = false\n\n[[keys]]\nname = \"release\"\nalg = \"{}\"\npublic_key = \"\"\"\n{}\"\"\"\n\n[[rules]]\nrepositories = [\"registry.example/models/*\"]\nsigners = [\"release\"]\n",
        signer.alg().name(),
        pem
    );
    Policy::from_toml(&text).unwrap()
}

/// Packs `dir` into the layout at `layout` (encrypted to `keys.recipient` if `encrypted`).
pub fn pack(dir: &Path, layout: &Path, keys: &Keys, encrypted: bool) -> PackedModel {
    let rcpt = [keys.recipient.public_key().unwrap()];
    let mut opts = PackOptions::new(&keys.signer);
    opts.binding = Some(pqreg_spec::statement::Binding {
        repository: "registry.example/models/tiny".into(),
        tag: Some("v1".into()),
        version: 1,
        signed_at: 0,
    });
    if encrypted {
        opts.recipients = &rcpt;
    }
    opts.tag = Some("v1".into());
    let mut sink = DirSink::create(layout).unwrap();
    pack_model(dir, &mut opts, &mut sink).unwrap()
}

pub fn unpack(
    layout: &Path,
    manifest: &Digest,
    keys: &Keys,
    policy: &Policy,
    out: &Path,
) -> Result<UnpackReport, Error> {
    let src = DirSource::open(layout)?;
    let mut opts = UnpackOptions::new(REPO, policy);
    opts.identity = Some(&keys.recipient);
    unpack_model(&src, manifest, &opts, out)
}

/// Every regular file under `dir`, relative path -> bytes.
pub fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                out.push((rel, fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

/// Names in `parent` that look like a staging directory of `out`.
pub fn leftovers(parent: &Path) -> Vec<String> {
    fs::read_dir(parent)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("pqreg-partial"))
        .collect()
}

/// Blob file names in a layout.
pub fn blobs(layout: &Path) -> std::collections::BTreeSet<String> {
    fs::read_dir(layout.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

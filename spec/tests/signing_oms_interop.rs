//! Interop with OMS's own verifier: a classical (ECDSA P-256) bundle over pqreg's
//! statement, manifest annotation included, must pass `model_signing verify key`
//! (sigstore/model-transparency), and a tampered file must fail it.
//!
//! Needs the `model_signing` CLI: `$PQREG_TEST_MODEL_SIGNING` or `$MODEL_SIGNING`, else
//! the workspace's `.venv/bin/model_signing` (both set up by `.ci/setup`). Without it the
//! test is skipped with a message, except under `CI=true`, where it fails.
#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml covers #[test] fns only)

use std::path::Path;
use std::process::Command;

use pqreg_spec::Digest;
use pqreg_spec::bundle::{Bundle, oms_key_hint};
use pqreg_spec::dsse::Envelope;
use pqreg_spec::keys::{SignatureAlgorithm, SigningKey};
use pqreg_spec::statement::{FileEntry, PAYLOAD_TYPE, Statement};

const FILES: [(&str, &[u8]); 3] = [
    ("config.json", b"{\"hidden_size\": 64}\n"),
    (
        "weights/model.safetensors",
        b"0123456789abcdefghij0123456789",
    ),
    ("tokenizer.txt", b"a b c\n"),
];

/// The workspace root and third-party tools: one file for every crate.
#[path = "../../tests/src/tools.rs"]
mod tools;

fn model_signing(bin: &Path, dir: &Path, bundle: &[u8], pem: &str) -> bool {
    let sig = dir.with_extension("sig");
    let key = dir.with_extension("pub.pem");
    std::fs::write(&sig, bundle).unwrap();
    std::fs::write(&key, pem).unwrap();
    let out = Command::new(bin)
        .args(["verify", "key", "--signature"])
        .arg(&sig)
        .arg("--public_key")
        .arg(&key)
        .arg(dir)
        .output()
        .expect("run model_signing");
    eprintln!(
        "model_signing: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.status.success()
}

fn write_model(dir: &Path) {
    for (name, content) in FILES {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
}

fn classical_bundle(statement: &Statement, key: &SigningKey) -> Vec<u8> {
    let env = Envelope::sign(PAYLOAD_TYPE, statement.to_json(), &[key]).unwrap();
    let spki = key.verifying_key().to_spki_der();
    Bundle::new(oms_key_hint(&spki), env, vec![]).to_json()
}

#[test]
fn model_signing_verifies_pqreg_statement() {
    let Some(bin) = tools::model_signing() else {
        return;
    };
    let root = std::env::temp_dir().join(format!("pqreg-oms-interop-{}", std::process::id()));
    let key = SigningKey::generate(SignatureAlgorithm::EcdsaP256Sha256).unwrap();
    let pem = key.verifying_key().to_pem().unwrap();
    let manifest = Some(Digest::sha256(b"oci manifest"));

    // files method
    let dir = root.join("files-model");
    write_model(&dir);
    let files: Vec<FileEntry> = FILES
        .iter()
        .map(|(n, c)| FileEntry {
            path: (*n).into(),
            digest: Digest::sha256(c),
            size: c.len() as u64,
        })
        .collect();
    let st = Statement::from_files("files-model", &files, manifest).unwrap();
    let bundle = classical_bundle(&st, &key);
    assert!(
        model_signing(&bin, &dir, &bundle, &pem),
        "files statement rejected"
    );

    // Not checked: `shards` statements. model_signing 1.1.1 re-hashes the directory by
    // whole files when verifying and reports every shard missing, so pqreg signs with
    // `files` (spec/signing.md section 3).

    // A tampered file fails.
    std::fs::write(dir.join("config.json"), b"{\"hidden_size\": 65}\n").unwrap();
    assert!(
        !model_signing(&bin, &dir, &bundle, &pem),
        "tampered model accepted"
    );
    std::fs::remove_dir_all(&root).unwrap();
}

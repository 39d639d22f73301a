//! Log submissions the tests sign themselves (spec/transparency-log.md §8.5): an ML-DSA-65
//! key of their own, OMS statements bound to a manifest, DSSE envelopes.

use base64::Engine as _;
use pqreg_spec::Digest;
use pqreg_spec::dsse::Envelope;
use pqreg_spec::keys::{SignatureAlgorithm, SigningKey};
use pqreg_spec::statement::{FileEntry, PAYLOAD_TYPE, Statement};
use serde_json::{Value, json};

/// Signed submission bodies for `repo`'s manifest, one per statement.
pub fn signed_submissions(repo: &str, manifest: Digest, n: usize) -> Vec<Vec<u8>> {
    let key = SigningKey::generate(SignatureAlgorithm::MlDsa65).expect("keygen");
    let spki = base64::engine::general_purpose::STANDARD.encode(key.verifying_key().to_spki_der());
    (0..n)
        .map(|i| {
            let f = FileEntry {
                path: "model.safetensors".into(),
                digest: Digest::sha256(&(i as u64).to_be_bytes()),
                size: 8,
            };
            let payload = Statement::from_files("m", &[f], Some(manifest))
                .expect("statement")
                .to_json();
            let env = Envelope::sign(PAYLOAD_TYPE, payload, &[&key]).expect("sign");
            let env: Value = serde_json::from_slice(&env.to_json()).expect("envelope json");
            serde_json::to_vec(
                &json!({"repository": repo, "manifest": manifest.to_string(),
                "dsseEnvelope": env, "publicKey": spki}),
            )
            .expect("body")
        })
        .collect()
}

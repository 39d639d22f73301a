//! Signed log submissions (spec/transparency-log.md §8.5) and signature bundles
//! (spec/signing.md §4-5) built the way a publisher builds them, with real ML-DSA keys.

use base64::Engine as _;
use pqreg_spec::Digest;
use pqreg_spec::bundle::referrer::{Descriptor, ReferrerManifest};
use pqreg_spec::bundle::{
    Bundle, InclusionProof, PQREG_ENTRY_KIND, PQREG_ENTRY_VERSION, TlogEntry,
};
use pqreg_spec::dsse::Envelope;
use pqreg_spec::keys::{SignatureAlgorithm, SigningKey};
use pqreg_spec::merkle::api::B64Hash;
use pqreg_spec::statement::{FileEntry, PAYLOAD_TYPE, Statement};
use serde_json::{Value, json};

use super::{Resp, push_blob, put_manifest};

/// A publisher's signing key.
pub struct Publisher {
    pub key: SigningKey,
}

impl Publisher {
    pub fn new(alg: SignatureAlgorithm) -> Self {
        Publisher {
            key: SigningKey::generate(alg).unwrap(),
        }
    }

    pub fn spki_b64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.key.verifying_key().to_spki_der())
    }

    /// The statement payload of a one-file model `n` bound to `manifest`.
    pub fn statement(manifest: Option<Digest>, n: u64) -> Vec<u8> {
        let f = FileEntry {
            path: "model.safetensors".into(),
            digest: Digest::sha256(&n.to_be_bytes()),
            size: 8,
        };
        Statement::from_files("m", &[f], manifest)
            .unwrap()
            .to_json()
    }

    pub fn envelope(&self, payload: Vec<u8>) -> Envelope {
        Envelope::sign(PAYLOAD_TYPE, payload, &[&self.key]).unwrap()
    }

    /// A submission body.
    pub fn submission(
        &self,
        repo: &str,
        tag: Option<&str>,
        manifest: Digest,
        env: &Envelope,
    ) -> Vec<u8> {
        let env: Value = serde_json::from_slice(&env.to_json()).unwrap();
        let mut v = json!({"repository": repo, "manifest": manifest.to_string(),
            "dsseEnvelope": env, "publicKey": self.spki_b64()});
        if let Some(t) = tag {
            v["tag"] = json!(t);
        }
        serde_json::to_vec(&v).unwrap()
    }

    /// The PQ bundle for `env` with the log's answer to its submission.
    pub fn bundle(&self, env: &Envelope, answer: &Value, origin: &str) -> Bundle {
        let b = |v: &Value| B64Hash::parse(v.as_str().unwrap()).unwrap().0;
        let entry = answer["entry"].as_str().unwrap().as_bytes().to_vec();
        let time = pqreg_spec::logentry::LogEntry::parse(&entry).unwrap().time;
        let index = answer["index"].as_u64().unwrap();
        let te = TlogEntry {
            log_index: index,
            log_id: Digest::sha256(origin.as_bytes()).as_bytes().to_vec(),
            kind: PQREG_ENTRY_KIND.into(),
            version: PQREG_ENTRY_VERSION.into(),
            integrated_time: time,
            inclusion_promise: None,
            inclusion_proof: InclusionProof {
                log_index: index,
                root_hash: pqreg_spec::checkpoint::Checkpoint::parse_body(
                    pqreg_spec::note::Note::parse(
                        answer["checkpoint"].as_str().unwrap().as_bytes(),
                    )
                    .unwrap()
                    .text(),
                )
                .unwrap()
                .root,
                tree_size: answer["size"].as_u64().unwrap(),
                hashes: answer["proof"].as_array().unwrap().iter().map(b).collect(),
                checkpoint: answer["checkpoint"].as_str().unwrap().to_owned(),
            },
            canonicalized_body: entry,
        };
        Bundle::new(self.key.key_id().to_string(), env.clone(), vec![te])
    }
}

/// Pushes a small model manifest (config + one layer) tagged `tag`; returns its bytes.
pub fn push_model(a: &ureq::Agent, base: &str, repo: &str, tag: &str, seed: &[u8]) -> Vec<u8> {
    let cfg = b"{}";
    push_blob(a, base, repo, cfg);
    push_blob(a, base, repo, seed);
    let m = super::image_manifest(cfg, &[seed], None);
    assert_eq!(put_manifest(a, base, repo, tag, &m).status(), 201);
    m
}

/// Submits; returns the response.
pub fn submit(a: &ureq::Agent, base: &str, body: &[u8]) -> Resp {
    a.post(format!("{base}/log/v1/entries"))
        .header("Content-Type", "application/json")
        .send(body)
        .unwrap()
}

/// Submits and expects 200; returns the answer.
pub fn submit_ok(a: &ureq::Agent, base: &str, body: &[u8]) -> Value {
    let mut r = submit(a, base, body);
    let b = super::body(&mut r);
    assert_eq!(r.status(), 200, "{}", String::from_utf8_lossy(&b));
    serde_json::from_slice(&b).unwrap()
}

/// Pushes `bundle` as a referrer of `subject` (its manifest bytes) in `repo`.
pub fn push_bundle(
    a: &ureq::Agent,
    base: &str,
    repo: &str,
    subject: &[u8],
    bundle: &Bundle,
    alg: &str,
) -> Resp {
    let json = bundle.to_json();
    push_blob(a, base, repo, b"{}");
    push_blob(a, base, repo, &json);
    let desc = Descriptor {
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        digest: Digest::sha256(subject),
        size: subject.len() as u64,
    };
    let m = ReferrerManifest::new(&json, desc, alg).to_json();
    let d = Digest::sha256(&m);
    put_manifest(a, base, repo, &d.to_string(), &m)
}

/// The log's verifier (its two keys from `GET /log/v1/keys`), no witnesses.
pub fn log_verifier(base: &str, origin: &str) -> pqreg_spec::checkpoint::LogVerifier {
    let keys = String::from_utf8(super::body(
        &mut super::agent()
            .get(format!("{base}/log/v1/keys"))
            .call()
            .unwrap(),
    ))
    .unwrap();
    let log_keys: Vec<pqreg_spec::note::VerifierKey> = keys
        .lines()
        .map(|l| pqreg_spec::note::VerifierKey::parse(l).unwrap())
        .collect();
    assert_eq!(log_keys.len(), 2);
    pqreg_spec::checkpoint::LogVerifier {
        origin: origin.to_owned(),
        log_keys,
        witnesses: vec![],
        witness_quorum: 0,
    }
}

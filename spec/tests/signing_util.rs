//! Helpers shared by the `signing_*` tests: keys straight from aws-lc-rs (until the
//! `keys` module's types implement the DSSE traits), and the worked-example extractor
//! for spec/signing.md. Included with `mod signing_util;`.
#![allow(dead_code)]

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, KeyPair, PqdsaKeyPair, UnparsedPublicKey, VerificationAlgorithm,
};
use pqreg_spec::Digest;
use pqreg_spec::dsse::{Signer, SigningError, Verifier};
use pqreg_spec::keys::{KeyId, SignatureAlgorithm};

pub const SIGNING_MD: &str = include_str!("../signing.md");

/// The fenced block after `<!-- example: NAME -->` in spec/signing.md.
pub fn example(name: &str) -> String {
    let marker = format!("<!-- example: {name} -->");
    let start = SIGNING_MD
        .find(&marker)
        .unwrap_or_else(|| panic!("no example {name}"));
    let rest = &SIGNING_MD[start + marker.len()..];
    let open = rest.find("```").unwrap();
    let body_start = open + rest[open..].find('\n').unwrap() + 1;
    let close = rest[body_start..].find("\n```").unwrap();
    rest[body_start..body_start + close + 1].to_owned()
}

pub fn testdata(name: &str) -> serde_json::Value {
    let path = format!("{}/../testdata/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

/// A signing key from aws-lc-rs.
pub enum TestKey {
    MlDsa(PqdsaKeyPair, SignatureAlgorithm),
    Ecdsa(EcdsaKeyPair),
}

impl TestKey {
    pub fn ml_dsa_65() -> Self {
        TestKey::MlDsa(
            PqdsaKeyPair::generate(&signature::ML_DSA_65_SIGNING).unwrap(),
            SignatureAlgorithm::MlDsa65,
        )
    }
    pub fn ml_dsa_87() -> Self {
        TestKey::MlDsa(
            PqdsaKeyPair::generate(&signature::ML_DSA_87_SIGNING).unwrap(),
            SignatureAlgorithm::MlDsa87,
        )
    }
    pub fn ecdsa_p256() -> Self {
        TestKey::Ecdsa(EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_ASN1_SIGNING).unwrap())
    }
    pub fn spki_der(&self) -> Vec<u8> {
        match self {
            TestKey::MlDsa(k, _) => k.public_key().as_der().unwrap().as_ref().to_vec(),
            TestKey::Ecdsa(k) => k.public_key().as_der().unwrap().as_ref().to_vec(),
        }
    }
    pub fn verifier(&self) -> TestVerifier {
        match self {
            TestKey::MlDsa(k, alg) => TestVerifier {
                alg: *alg,
                raw: k.public_key().as_ref().to_vec(),
                id: KeyId(Digest::sha256(&self.spki_der())),
                fixed: false,
            },
            TestKey::Ecdsa(k) => TestVerifier {
                alg: SignatureAlgorithm::EcdsaP256Sha256,
                raw: k.public_key().as_ref().to_vec(),
                id: KeyId(Digest::sha256(&self.spki_der())),
                fixed: false,
            },
        }
    }
}

impl Signer for TestKey {
    fn key_id(&self) -> KeyId {
        KeyId(Digest::sha256(&self.spki_der()))
    }
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SigningError> {
        Ok(match self {
            TestKey::MlDsa(k, _) => {
                let mut sig = vec![0u8; 4627];
                let n = k.sign(message, &mut sig).unwrap();
                sig.truncate(n);
                sig
            }
            TestKey::Ecdsa(k) => k
                .sign(&SystemRandom::new(), message)
                .unwrap()
                .as_ref()
                .to_vec(),
        })
    }
}

/// A public key from raw bytes (SEC1 point for ECDSA, raw key for ML-DSA).
#[derive(Clone)]
pub struct TestVerifier {
    pub alg: SignatureAlgorithm,
    pub raw: Vec<u8>,
    pub id: KeyId,
    /// ECDSA signatures as fixed-width r||s (DSSE's own vector) instead of DER.
    pub fixed: bool,
}

impl TestVerifier {
    /// An ECDSA P-256 key from its SPKI DER (the SEC1 point is its last 65 bytes).
    pub fn ecdsa_p256(spki_der: &[u8], fixed: bool) -> Self {
        TestVerifier {
            alg: SignatureAlgorithm::EcdsaP256Sha256,
            raw: spki_der[spki_der.len() - 65..].to_vec(),
            id: KeyId(Digest::sha256(spki_der)),
            fixed,
        }
    }
}

impl Verifier for TestVerifier {
    fn key_id(&self) -> KeyId {
        self.id
    }
    fn algorithm(&self) -> SignatureAlgorithm {
        self.alg
    }
    fn verify(&self, message: &[u8], sig: &[u8]) -> bool {
        let alg: &dyn VerificationAlgorithm = match self.alg {
            SignatureAlgorithm::MlDsa65 => &signature::ML_DSA_65,
            SignatureAlgorithm::MlDsa87 => &signature::ML_DSA_87,
            SignatureAlgorithm::EcdsaP256Sha256 if self.fixed => {
                &signature::ECDSA_P256_SHA256_FIXED
            }
            SignatureAlgorithm::EcdsaP256Sha256 => &signature::ECDSA_P256_SHA256_ASN1,
            _ => return false,
        };
        UnparsedPublicKey::new(alg, &self.raw)
            .verify(message, sig)
            .is_ok()
    }
}

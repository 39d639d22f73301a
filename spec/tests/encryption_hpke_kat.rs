//! Full-suite HPKE known answers (spec/encryption.md §4.7, `testdata/hpke_full_suite_kat.json`,
//! written by `spec/examples/hpke_kat.rs`): for X-Wing and ML-KEM-1024 with HKDF-SHA256 and
//! AES-256-GCM, DeriveKeyPair, encapsulation from fixed randomness, decapsulation, every
//! key-schedule value, the first sealing and opening. Each value is checked through the
//! `hpke` calls pqreg's envelope makes AND recomputed from the §4.7 text alone
//! (`hpke_common`: SHAKE256 and HMAC-SHA256), so the text, the vectors and the code agree.
#![allow(clippy::unwrap_used)]

mod hpke_common;

use hpke::aead::AesGcm256;
use hpke::kdf::HkdfSha256;
use hpke::kem::{MlKem1024, XWing};
use hpke::{Deserializable, Kem, OpModeR, OpModeS, Serializable};
use pqreg_spec::envelope::HPKE_INFO;
use pqreg_spec::keys::{KemAlgorithm, RecipientPublicKey};
use serde_json::Value;

struct Fixed(Vec<u8>);

impl hpke::rand_core::TryRng for Fixed {
    type Error = std::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), Self::Error> {
        assert!(dest.len() <= self.0.len(), "fixed randomness exhausted");
        let rest = self.0.split_off(dest.len());
        dest.copy_from_slice(&self.0);
        self.0 = rest;
        Ok(())
    }
}

impl hpke::rand_core::TryCryptoRng for Fixed {}

fn h(c: &Value, k: &str) -> Vec<u8> {
    hex::decode(c[k].as_str().unwrap_or_else(|| panic!("field {k}"))).unwrap()
}

fn check<K: Kem>(c: &Value, alg: KemAlgorithm) {
    let name = c["name"].as_str().unwrap();
    assert_eq!(c["kem"], alg.name());
    assert_eq!(c["kem_id"], K::KEM_ID, "{name}");
    assert_eq!(
        (
            c["mode"].as_u64(),
            c["kdf_id"].as_u64(),
            c["aead_id"].as_u64()
        ),
        (Some(0), Some(1), Some(2))
    );
    let (ikm, info, aad, pt) = (h(c, "ikm"), h(c, "info"), h(c, "aad"), h(c, "plaintext"));
    // The vectors use the envelope's current info label.
    assert_eq!(
        info, HPKE_INFO,
        "{name}: regenerate with the hpke_kat example"
    );

    // DeriveKeyPair: the hpke crate and the §4.7 definition.
    let (sk, pk) = K::derive_keypair(&ikm);
    assert_eq!(sk.to_bytes().to_vec(), h(c, "sk"), "{name} sk");
    assert_eq!(pk.to_bytes().to_vec(), h(c, "pk"), "{name} pk");
    let sk_len = h(c, "sk").len();
    assert_eq!(
        hpke_common::labeled_derive(K::KEM_ID, &ikm, b"DeriveKeyPair", b"", sk_len),
        h(c, "sk"),
        "{name}: LabeledDerive"
    );
    // The private key is the seed pqreg's key files hold: it loads and names the same key.
    let key_id = RecipientPublicKey::from_raw(alg, &h(c, "pk"))
        .unwrap()
        .key_id();
    assert_eq!(key_id.to_string(), c["key_id"].as_str().unwrap());
    let mut want_aad = HPKE_INFO.to_vec();
    want_aad.push(0);
    want_aad.extend_from_slice(key_id.0.as_bytes());
    assert_eq!(aad, want_aad, "{name}: aad of §4.1");

    // Encapsulation from the fixed randomness, then the first sealing.
    let mut rng = Fixed(h(c, "encap_randomness"));
    let (enc, mut sctx) = hpke::setup_sender_with_rng::<AesGcm256, HkdfSha256, K>(
        &OpModeS::Base,
        &pk,
        &info,
        &mut rng,
    )
    .unwrap();
    assert!(rng.0.is_empty());
    assert_eq!(enc.to_bytes().to_vec(), h(c, "enc"), "{name} enc");
    assert_eq!(
        sctx.seal(&pt, &aad).unwrap(),
        h(c, "ciphertext"),
        "{name} seal"
    );

    // Decapsulation gives the shared secret, which enters the key schedule as is.
    let enc = K::EncappedKey::from_bytes(&h(c, "enc")).unwrap();
    let ss = K::decap(&sk, None, &enc).unwrap().0.to_vec();
    assert_eq!(ss, h(c, "shared_secret"), "{name} shared secret");
    let s = hpke_common::key_schedule(K::KEM_ID, &ss, &info);
    for (k, v) in [
        ("suite_id", &s.suite_id),
        ("psk_id_hash", &s.psk_id_hash),
        ("info_hash", &s.info_hash),
        ("key_schedule_context", &s.key_schedule_context),
        ("secret", &s.secret),
        ("key", &s.key),
        ("base_nonce", &s.base_nonce),
        ("exporter_secret", &s.exporter_secret),
    ] {
        assert_eq!(v, &h(c, k), "{name} {k}");
    }
    assert_eq!(
        hpke_common::seal_first(&s.key, &s.base_nonce, &aad, &pt),
        h(c, "ciphertext"),
        "{name}: AES-256-GCM under key and base_nonce"
    );

    // Opening, as the envelope does it (single-shot, base mode), and the exporter.
    let opened = hpke::single_shot_open::<AesGcm256, HkdfSha256, K>(
        &OpModeR::Base,
        &sk,
        &enc,
        &info,
        &h(c, "ciphertext"),
        &aad,
    )
    .unwrap();
    assert_eq!(opened, pt, "{name} open");
    let rctx =
        hpke::setup_receiver::<AesGcm256, HkdfSha256, K>(&OpModeR::Base, &sk, &enc, &info).unwrap();
    let mut export = [0u8; 32];
    rctx.export(b"", &mut export).unwrap();
    assert_eq!(
        export.to_vec(),
        h(c, "export_empty_context_32"),
        "{name} export"
    );
    // A flipped bit in the aad (another key ID) does not open.
    let mut bad = aad.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert!(
        hpke::single_shot_open::<AesGcm256, HkdfSha256, K>(
            &OpModeR::Base,
            &sk,
            &enc,
            &info,
            &h(c, "ciphertext"),
            &bad
        )
        .is_err()
    );
}

#[test]
fn full_suite_known_answers() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/hpke_full_suite_kat.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cases = doc["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    check::<XWing>(&cases[0], KemAlgorithm::XWing);
    check::<MlKem1024>(&cases[1], KemAlgorithm::MlKem1024);
}

/// §4.5's example key: the X-Wing DeriveKeyPair of 32 bytes 0x11 is the seed it names.
#[test]
fn worked_example_seed_is_derive_keypair_of_0x11() {
    let (sk, _) = XWing::derive_keypair(&[0x11; 32]);
    assert_eq!(
        hex::encode(sk.to_bytes()),
        "dd88d51c574c203e6b7353293fb9d7fe34d2d9546c0a1bef3c07210924d1b606"
    );
}

/// The worked examples of spec/encryption.md §4.7 are the vector file's values.
#[test]
fn doc_examples_are_the_vectors() {
    const DOC: &str = include_str!("../encryption.md");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/hpke_full_suite_kat.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for c in doc["cases"].as_array().unwrap() {
        let marker = format!("<!-- example: hpke-{} -->", c["name"].as_str().unwrap());
        let at = DOC.find(&marker).unwrap() + marker.len();
        let rest = &DOC[at..];
        let body = &rest[rest.find("```text\n").unwrap() + 8..];
        let block = &body[..body.find("```").unwrap()];
        let lines: Vec<(&str, &str)> = block.lines().map(|l| l.split_once(": ").unwrap()).collect();
        assert!(lines.len() >= 17, "{marker}");
        for (k, v) in lines {
            let want = match k.strip_suffix(" sha256") {
                Some(field) => {
                    let bytes = h(c, field);
                    pqreg_spec::Digest::sha256(&bytes).hex()
                }
                None => c[k.replace(' ', "_")].as_str().unwrap().to_owned(),
            };
            assert_eq!(v, want, "{marker} {k}");
        }
    }
}

//! X-Wing known answers (draft-connolly-cfrg-xwing-kem-10, Appendices C and D) through the
//! `hpke` crate's `XWing` KEM and pqreg's key encodings. Data: testdata/xwing_draft10_*.

#![allow(clippy::unwrap_used)] // test helpers: a panic is a test failure
use std::convert::Infallible;

use hpke::kem::XWing;
use hpke::rand_core::{TryCryptoRng, TryRng, utils};
use hpke::{Deserializable, Kem, Serializable};
use pqreg_spec::keys::{
    KemAlgorithm, RecipientPrivateKey, RecipientPublicKey, decode_private_pem, decode_public_pem,
};

/// Hands out fixed bytes: makes hpke's randomized encapsulation use the vector's eseed.
struct FixedRng(Vec<u8>);

impl TryRng for FixedRng {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        utils::next_word_via_fill(self)
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        utils::next_word_via_fill(self)
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), Infallible> {
        assert!(dest.len() <= self.0.len(), "vector randomness exhausted");
        dest.copy_from_slice(&self.0[..dest.len()]);
        self.0.drain(..dest.len());
        Ok(())
    }
}

impl TryCryptoRng for FixedRng {}

fn unhex(v: &serde_json::Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

#[test]
fn draft10_appendix_c_vectors() {
    let file: serde_json::Value =
        serde_json::from_str(include_str!("../../testdata/xwing_draft10_vectors.json")).unwrap();
    let vectors = file["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 3);
    for v in vectors {
        let (seed, pk, eseed, ct, ss) = (
            unhex(&v["seed"]),
            unhex(&v["pk"]),
            unhex(&v["eseed"]),
            unhex(&v["ct"]),
            unhex(&v["ss"]),
        );
        assert_eq!(unhex(&v["sk"]), seed);

        // seed -> public key, through pqreg's key type (which uses hpke's XWing).
        let sk = RecipientPrivateKey::from_seed(KemAlgorithm::XWing, &seed).unwrap();
        let ours = sk.public_key().unwrap();
        assert_eq!(ours.as_bytes(), pk.as_slice());
        RecipientPublicKey::from_raw(KemAlgorithm::XWing, &pk).unwrap();

        // Deterministic encapsulation with the vector's randomness.
        let hpk = <XWing as Kem>::PublicKey::from_bytes(&pk).unwrap();
        let mut rng = FixedRng(eseed);
        let (shared, enc) = XWing::encap_with_rng(&hpk, None, &mut rng).unwrap();
        assert!(rng.0.is_empty(), "encapsulation used all 64 bytes of eseed");
        assert_eq!(enc.to_bytes().as_slice(), ct.as_slice());
        assert_eq!(shared.0.as_slice(), ss.as_slice());

        // Decapsulation with the private key as pqreg stores it (the seed).
        let hsk = <XWing as Kem>::PrivateKey::from_bytes(sk.seed()).unwrap();
        let enc = <XWing as Kem>::EncappedKey::from_bytes(&ct).unwrap();
        let shared = XWing::decap(&hsk, None, &enc).unwrap();
        assert_eq!(shared.0.as_slice(), ss.as_slice());

        // A flipped ciphertext bit decapsulates (implicit rejection) to another secret.
        let mut bad = ct.clone();
        bad[0] ^= 1;
        let enc = <XWing as Kem>::EncappedKey::from_bytes(&bad).unwrap();
        let shared = XWing::decap(&hsk, None, &enc).unwrap();
        assert_ne!(shared.0.as_slice(), ss.as_slice());
    }
}

/// The PEM blocks of testdata/xwing_draft10_x509.txt, in order.
fn pem_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut cur: Option<String> = None;
    for line in text.lines() {
        if line.starts_with("-----BEGIN ") {
            cur = Some(String::new());
        }
        if let Some(b) = cur.as_mut() {
            b.push_str(line);
            b.push('\n');
        }
        if line.starts_with("-----END ") {
            blocks.push(cur.take().unwrap());
        }
    }
    blocks
}

#[test]
fn draft10_appendix_d_x509_encoding() {
    let blocks = pem_blocks(include_str!("../../testdata/xwing_draft10_x509.txt"));
    let [private_pem, public_pem] = blocks.as_slice() else {
        panic!("expected two PEM blocks");
    };
    let seed: Vec<u8> = (0u8..32).collect();

    let sk = RecipientPrivateKey::from_pem(private_pem).unwrap();
    assert_eq!(sk.alg(), KemAlgorithm::XWing);
    assert_eq!(sk.seed(), seed.as_slice());
    assert_eq!(sk.to_pem().unwrap().as_str(), private_pem.as_str());

    let pk = RecipientPublicKey::from_pem(public_pem).unwrap();
    assert_eq!(pk, sk.public_key().unwrap());
    assert_eq!(pk.to_pem().unwrap(), *public_pem);

    // The generic decoders agree.
    assert_eq!(decode_public_pem(public_pem).unwrap().key_id(), pk.key_id());
    assert_eq!(
        decode_private_pem(private_pem).unwrap().key_id().unwrap(),
        pk.key_id()
    );
}

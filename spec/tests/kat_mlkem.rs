//! ML-KEM (FIPS 203) known answers through the `hpke` crate's ML-KEM KEMs and pqreg's key
//! encodings.
//!
//! - testdata/mlkem_lamps_example_{1024,768}.txt: the draft-ietf-lamps-kyber-certificates
//!   example keys (seed 00..3f): seed -> encapsulation key, and pqreg's PKCS#8 / SPKI
//!   encodings are byte-identical to the draft's. ML-KEM-768 alone is not a pqreg recipient
//!   algorithm: its file must be refused with `UnknownAlgorithm`, and its key is checked
//!   through hpke directly (X-Wing's ML-KEM-768 half).
//! - testdata/mlkem_wycheproof_1024.json: Wycheproof ML-KEM-1024 (seed -> ek, Decaps(c) -> K
//!   on the implicit-rejection path).

#![allow(clippy::unwrap_used)] // test helpers: a panic is a test failure

use std::convert::Infallible;

use hpke::kem::{MlKem768, MlKem1024};
use hpke::rand_core::{TryCryptoRng, TryRng, utils};
use hpke::{Deserializable, Kem, Serializable};
use pqreg_spec::keys::{
    KemAlgorithm, KeyError, RecipientPrivateKey, RecipientPublicKey, decode_private_pem,
    decode_public_pem,
};

/// The PEM blocks of a testdata file, in order.
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

fn unhex(v: &serde_json::Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

/// Hands out fixed bytes, making hpke's randomized encapsulation deterministic.
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
        assert!(dest.len() <= self.0.len(), "fixed randomness exhausted");
        dest.copy_from_slice(&self.0[..dest.len()]);
        self.0.drain(..dest.len());
        Ok(())
    }
}

impl TryCryptoRng for FixedRng {}

#[test]
fn lamps_example_mlkem1024() {
    let blocks = pem_blocks(include_str!("../../testdata/mlkem_lamps_example_1024.txt"));
    let [private_pem, public_pem] = blocks.as_slice() else {
        panic!("expected two PEM blocks");
    };
    let seed: Vec<u8> = (0u8..64).collect();
    let sk = RecipientPrivateKey::from_pem(private_pem).unwrap();
    assert_eq!(sk.alg(), KemAlgorithm::MlKem1024);
    assert_eq!(sk.seed(), seed.as_slice());
    assert_eq!(sk.to_pem().unwrap().as_str(), private_pem.as_str());
    let pk = RecipientPublicKey::from_pem(public_pem).unwrap();
    assert_eq!(pk, sk.public_key().unwrap());
    assert_eq!(pk.to_pem().unwrap(), *public_pem);
    assert_eq!(decode_public_pem(public_pem).unwrap().key_id(), pk.key_id());

    // Encapsulate to the draft's key with fixed m, decapsulate with the seed.
    let hpk = <MlKem1024 as Kem>::PublicKey::from_bytes(pk.as_bytes()).unwrap();
    let (ss, enc) = MlKem1024::encap_with_rng(&hpk, None, &mut FixedRng(vec![7; 32])).unwrap();
    let hsk = <MlKem1024 as Kem>::PrivateKey::from_bytes(sk.seed()).unwrap();
    let back = MlKem1024::decap(&hsk, None, &enc).unwrap();
    assert_eq!(ss.0, back.0);
}

#[test]
fn lamps_example_mlkem768_is_not_a_pqreg_key() {
    let blocks = pem_blocks(include_str!("../../testdata/mlkem_lamps_example_768.txt"));
    let [private_pem, public_pem] = blocks.as_slice() else {
        panic!("expected two PEM blocks");
    };
    assert!(matches!(
        decode_public_pem(public_pem),
        Err(KeyError::UnknownAlgorithm(oid)) if oid == "2.16.840.1.101.3.4.4.2"
    ));
    assert!(matches!(
        decode_private_pem(private_pem),
        Err(KeyError::UnknownAlgorithm(_))
    ));
    // hpke's ML-KEM-768 (X-Wing's inner KEM) derives the draft's key from the seed. The
    // SPKI is a fixed 22-byte header followed by the 1184-byte key.
    let b64: String = public_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    use base64::Engine as _;
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    assert_eq!(der.len(), 22 + 1184);
    let seed: Vec<u8> = (0u8..64).collect();
    let sk = <MlKem768 as Kem>::PrivateKey::from_bytes(&seed).unwrap();
    assert_eq!(MlKem768::sk_to_pk(&sk).to_bytes().as_slice(), &der[22..]);
}

#[test]
fn wycheproof_mlkem1024_decaps() {
    let file: serde_json::Value =
        serde_json::from_str(include_str!("../../testdata/mlkem_wycheproof_1024.json")).unwrap();
    for t in file["tests"].as_array().unwrap() {
        assert_eq!(t["result"], "valid");
        let seed = unhex(&t["seed"]);
        let sk = RecipientPrivateKey::from_seed(KemAlgorithm::MlKem1024, &seed).unwrap();
        assert_eq!(
            sk.public_key().unwrap().as_bytes(),
            unhex(&t["ek"]).as_slice()
        );
        let hsk = <MlKem1024 as Kem>::PrivateKey::from_bytes(sk.seed()).unwrap();
        let enc = <MlKem1024 as Kem>::EncappedKey::from_bytes(&unhex(&t["c"])).unwrap();
        let k = MlKem1024::decap(&hsk, None, &enc).unwrap();
        assert_eq!(k.0.as_slice(), unhex(&t["K"]).as_slice());
    }
}

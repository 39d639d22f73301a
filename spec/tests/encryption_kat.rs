//! Known-answer tests of the primitives under spec/encryption.md, through the same
//! library calls the code makes: AES-256-GCM and HKDF-SHA256 via aws-lc-rs, the X-Wing
//! KEM via hpke. Vectors live in testdata/ with their sources.

// Test helpers panic on bad fixtures by design; clippy.toml only exempts #[test] fns.
#![allow(clippy::unwrap_used)]

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::hkdf::{HKDF_SHA256, KeyType, Salt};
use hpke::kem::XWing;
use hpke::{Deserializable, Kem, Serializable};
use pqreg_spec::keys::{KemAlgorithm, RecipientPrivateKey};

/// Parses `NAME: hex` blocks separated by blank lines; `#` lines are comments.
fn parse_blocks(text: &str) -> Vec<Vec<(String, String)>> {
    let mut blocks = vec![];
    let mut cur = vec![];
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        if line.is_empty() {
            if !cur.is_empty() {
                blocks.push(std::mem::take(&mut cur));
            }
            continue;
        }
        let (k, v) = line.split_once(':').unwrap();
        cur.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    if !cur.is_empty() {
        blocks.push(cur);
    }
    blocks
}

fn field(block: &[(String, String)], name: &str) -> Vec<u8> {
    let v = &block.iter().find(|(k, _)| k == name).unwrap().1;
    hex::decode(v).unwrap()
}

#[test]
fn aes_256_gcm_known_answers() {
    let blocks = parse_blocks(include_str!("../../testdata/segment_aes256gcm_kat.txt"));
    assert_eq!(blocks.len(), 3);
    for b in blocks {
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &field(&b, "KEY")).unwrap());
        let nonce = field(&b, "NONCE");
        let ad = field(&b, "AD");
        let mut buf = field(&b, "IN");
        let tag = key
            .seal_in_place_separate_tag(
                Nonce::try_assume_unique_for_key(&nonce).unwrap(),
                Aad::from(&ad),
                &mut buf,
            )
            .unwrap();
        assert_eq!(buf, field(&b, "CT"));
        assert_eq!(tag.as_ref(), field(&b, "TAG").as_slice());

        let mut sealed = [buf.clone(), field(&b, "TAG")].concat();
        let opened = key
            .open_in_place(
                Nonce::try_assume_unique_for_key(&nonce).unwrap(),
                Aad::from(&ad),
                &mut sealed,
            )
            .unwrap();
        assert_eq!(opened, field(&b, "IN").as_slice());

        let mut bad = [buf, field(&b, "TAG")].concat();
        let last = bad.len() - 1;
        bad[last] ^= 0x01;
        assert!(
            key.open_in_place(
                Nonce::try_assume_unique_for_key(&nonce).unwrap(),
                Aad::from(&ad),
                &mut bad,
            )
            .is_err()
        );
    }
}

struct Len(usize);

impl KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

#[test]
fn hkdf_sha256_rfc5869_case_1() {
    let blocks = parse_blocks(include_str!(
        "../../testdata/segment_hkdf_sha256_rfc5869.txt"
    ));
    let b = &blocks[0];
    let l: usize = b.iter().find(|(k, _)| k == "L").unwrap().1.parse().unwrap();
    let prk = Salt::new(HKDF_SHA256, &field(b, "SALT")).extract(&field(b, "IKM"));
    let info = field(b, "INFO");
    let info_parts: [&[u8]; 1] = [&info];
    let mut okm = vec![0u8; l];
    prk.expand(&info_parts, Len(l))
        .unwrap()
        .fill(&mut okm)
        .unwrap();
    assert_eq!(okm, field(b, "OKM"));
    // The chunk-key derivation asks for 32 bytes with HKDF_SHA256 as the length type.
    let mut first = [0u8; 32];
    prk.expand(&info_parts, HKDF_SHA256)
        .unwrap()
        .fill(&mut first)
        .unwrap();
    assert_eq!(first.as_slice(), &field(b, "OKM")[..32]);
}

#[test]
fn xwing_kem_known_answer() {
    let v: serde_json::Value =
        serde_json::from_str(include_str!("../../testdata/envelope_xwing_kem_kat.json")).unwrap();
    let h = |k: &str| hex::decode(v[k].as_str().unwrap()).unwrap();
    assert_eq!(v["kem_id"], XWing::KEM_ID);

    let (sk, pk) = XWing::derive_keypair(&h("ikmR"));
    assert_eq!(sk.to_bytes().as_slice(), h("skRm").as_slice());
    assert_eq!(pk.to_bytes().as_slice(), h("pkRm").as_slice());

    let enc = <XWing as Kem>::EncappedKey::from_bytes(&h("enc")).unwrap();
    let ss = XWing::decap(&sk, None, &enc).unwrap();
    assert_eq!(ss.0.as_slice(), h("shared_secret").as_slice());

    // The pqreg key types map the seed to the same public key.
    let identity = RecipientPrivateKey::from_seed(KemAlgorithm::XWing, &h("skRm")).unwrap();
    let public = identity.public_key().unwrap();
    assert_eq!(public.as_bytes(), h("pkRm").as_slice());

    // A flipped bit in the ciphertext changes the shared secret (implicit rejection).
    let mut bad = h("enc");
    bad[100] ^= 0x01;
    let enc = <XWing as Kem>::EncappedKey::from_bytes(&bad).unwrap();
    let ss = XWing::decap(&sk, None, &enc).unwrap();
    assert_ne!(ss.0.as_slice(), h("shared_secret").as_slice());
}

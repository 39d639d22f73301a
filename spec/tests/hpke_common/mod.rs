//! spec/encryption.md §4.7 written out: the SHAKE256 `LabeledDerive` of DeriveKeyPair and
//! RFC 9180's base-mode key schedule with HKDF-SHA256, from HMAC-SHA256 (aws-lc-rs), so
//! the known-answer test checks the `hpke` crate against a second, explicit computation.
//! Shared by `spec/tests/encryption_hpke_kat.rs` and `spec/examples/hpke_kat.rs`.
#![allow(dead_code, clippy::unwrap_used)]

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::hmac;
use shake::{ExtendableOutput, Update, XofReader};

/// `"HPKE-v1"`, RFC 9180 §4.
pub const VERSION: &[u8] = b"HPKE-v1";

/// KDF and AEAD ids of the suite (RFC 9180 §7.2, §7.3).
pub const KDF_HKDF_SHA256: u16 = 0x0001;
pub const AEAD_AES_256_GCM: u16 = 0x0002;

/// `"KEM" || I2OSP(kem_id, 2)` (RFC 9180 §4.1).
pub fn kem_suite_id(kem_id: u16) -> Vec<u8> {
    let mut s = b"KEM".to_vec();
    s.extend_from_slice(&kem_id.to_be_bytes());
    s
}

/// `"HPKE" || I2OSP(kem_id, 2) || I2OSP(kdf_id, 2) || I2OSP(aead_id, 2)` (RFC 9180 §5.1).
pub fn hpke_suite_id(kem_id: u16) -> Vec<u8> {
    let mut s = b"HPKE".to_vec();
    s.extend_from_slice(&kem_id.to_be_bytes());
    s.extend_from_slice(&KDF_HKDF_SHA256.to_be_bytes());
    s.extend_from_slice(&AEAD_AES_256_GCM.to_be_bytes());
    s
}

/// SHAKE256 `LabeledDerive(ikm, label, context, L)` with the KEM's suite id:
/// `SHAKE256(ikm || "HPKE-v1" || suite_id || I2OSP(len(label), 2) || label || I2OSP(L, 2) || context)`,
/// the first `L` bytes.
pub fn labeled_derive(
    kem_id: u16,
    ikm: &[u8],
    label: &[u8],
    context: &[u8],
    len: usize,
) -> Vec<u8> {
    let mut h = shake::Shake256::default();
    h.update(ikm);
    h.update(VERSION);
    h.update(&kem_suite_id(kem_id));
    h.update(&(label.len() as u16).to_be_bytes());
    h.update(label);
    h.update(&(len as u16).to_be_bytes());
    h.update(context);
    let mut out = vec![0u8; len];
    h.finalize_xof().read(&mut out);
    out
}

/// HKDF-Extract (RFC 5869 §2.2): HMAC-SHA256 keyed with the salt.
pub fn extract(salt: &[u8], ikm: &[u8]) -> Vec<u8> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, salt);
    hmac::sign(&key, ikm).as_ref().to_vec()
}

/// HKDF-Expand (RFC 5869 §2.3).
pub fn expand(prk: &[u8], info: &[u8], len: usize) -> Vec<u8> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, prk);
    let mut out = Vec::new();
    let mut t = Vec::new();
    let mut i = 1u8;
    while out.len() < len {
        let mut msg = t.clone();
        msg.extend_from_slice(info);
        msg.push(i);
        t = hmac::sign(&key, &msg).as_ref().to_vec();
        out.extend_from_slice(&t);
        i += 1;
    }
    out.truncate(len);
    out
}

/// `LabeledExtract(salt, label, ikm) = Extract(salt, "HPKE-v1" || suite_id || label || ikm)`.
pub fn labeled_extract(suite_id: &[u8], salt: &[u8], label: &[u8], ikm: &[u8]) -> Vec<u8> {
    let mut m = VERSION.to_vec();
    m.extend_from_slice(suite_id);
    m.extend_from_slice(label);
    m.extend_from_slice(ikm);
    extract(salt, &m)
}

/// `LabeledExpand(prk, label, info, L) = Expand(prk, I2OSP(L, 2) || "HPKE-v1" || suite_id || label || info, L)`.
pub fn labeled_expand(
    suite_id: &[u8],
    prk: &[u8],
    label: &[u8],
    info: &[u8],
    len: usize,
) -> Vec<u8> {
    let mut m = (len as u16).to_be_bytes().to_vec();
    m.extend_from_slice(VERSION);
    m.extend_from_slice(suite_id);
    m.extend_from_slice(label);
    m.extend_from_slice(info);
    expand(prk, &m, len)
}

/// RFC 9180 §5.1 `KeySchedule` in base mode (`psk` and `psk_id` empty) with the KEM's
/// shared secret entered as is, for HKDF-SHA256 and AES-256-GCM (`Nk` 32, `Nn` 12, `Nh` 32).
pub struct Schedule {
    pub suite_id: Vec<u8>,
    pub psk_id_hash: Vec<u8>,
    pub info_hash: Vec<u8>,
    pub key_schedule_context: Vec<u8>,
    pub secret: Vec<u8>,
    pub key: Vec<u8>,
    pub base_nonce: Vec<u8>,
    pub exporter_secret: Vec<u8>,
}

pub fn key_schedule(kem_id: u16, shared_secret: &[u8], info: &[u8]) -> Schedule {
    let suite_id = hpke_suite_id(kem_id);
    let psk_id_hash = labeled_extract(&suite_id, b"", b"psk_id_hash", b"");
    let info_hash = labeled_extract(&suite_id, b"", b"info_hash", info);
    let mut ctx = vec![0x00];
    ctx.extend_from_slice(&psk_id_hash);
    ctx.extend_from_slice(&info_hash);
    let secret = labeled_extract(&suite_id, shared_secret, b"secret", b"");
    let key = labeled_expand(&suite_id, &secret, b"key", &ctx, 32);
    let base_nonce = labeled_expand(&suite_id, &secret, b"base_nonce", &ctx, 12);
    let exporter_secret = labeled_expand(&suite_id, &secret, b"exp", &ctx, 32);
    Schedule {
        suite_id,
        psk_id_hash,
        info_hash,
        key_schedule_context: ctx,
        secret,
        key,
        base_nonce,
        exporter_secret,
    }
}

/// The first message's AES-256-GCM sealing (sequence number 0: the nonce is `base_nonce`).
pub fn seal_first(key: &[u8], base_nonce: &[u8], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let k = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).unwrap());
    let nonce = Nonce::try_assume_unique_for_key(base_nonce).unwrap();
    let mut buf = plaintext.to_vec();
    k.seal_in_place_append_tag(nonce, Aad::from(aad), &mut buf)
        .unwrap();
    buf
}

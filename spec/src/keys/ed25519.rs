//! Ed25519 (RFC 8032) through `aws-lc-rs`, and its private key encoding (RFC 8410:
//! `CurvePrivateKey ::= OCTET STRING` holding the 32-byte seed).

use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};

use super::{KeyError, SignatureAlgorithm};

/// The Ed25519 private key (seed) is 32 bytes (RFC 8032 §5.1.5).
pub(crate) const SEED_LEN: usize = 32;
/// Public key length.
pub(crate) const PUBLIC_KEY_LEN: usize = 32;
/// Signature length.
pub(crate) const SIGNATURE_LEN: usize = 64;

const NAME: &str = SignatureAlgorithm::Ed25519.name();
const SEED_TAG: [u8; 2] = [0x04, 0x20];

/// Builds a key pair from its seed.
pub(crate) fn keypair_from_seed(seed: &[u8]) -> Result<Ed25519KeyPair, KeyError> {
    if seed.len() != SEED_LEN {
        return Err(KeyError::BadLength {
            alg: NAME,
            got: seed.len(),
            want: SEED_LEN,
        });
    }
    Ed25519KeyPair::from_seed_unchecked(seed).map_err(|_| KeyError::InvalidKey { alg: NAME })
}

/// The raw public key.
pub(crate) fn public_key(kp: &Ed25519KeyPair) -> Vec<u8> {
    kp.public_key().as_ref().to_vec()
}

/// Signs `msg` (deterministic, RFC 8032).
pub(crate) fn sign(kp: &Ed25519KeyPair, msg: &[u8]) -> Result<Vec<u8>, KeyError> {
    kp.try_sign(msg)
        .map(|s| s.as_ref().to_vec())
        .map_err(|_| KeyError::Crypto("Ed25519 signing"))
}

/// Verifies an Ed25519 signature.
pub(crate) fn verify(public_key: &[u8], msg: &[u8], sig: &[u8]) -> Result<(), KeyError> {
    if sig.len() != SIGNATURE_LEN {
        return Err(KeyError::BadLength {
            alg: NAME,
            got: sig.len(),
            want: SIGNATURE_LEN,
        });
    }
    UnparsedPublicKey::new(&ED25519, public_key)
        .verify(msg, sig)
        .map_err(|_| KeyError::BadSignature { alg: NAME })
}

/// The contents of PKCS#8 `privateKey`: the DER of `CurvePrivateKey`.
pub(crate) fn private_key_field(seed: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(SEED_TAG.len() + seed.len());
    out.extend_from_slice(&SEED_TAG);
    out.extend_from_slice(seed);
    out
}

/// Extracts the seed from PKCS#8 `privateKey`.
pub(crate) fn seed_from_private_key_field(field: &[u8]) -> Result<&[u8], KeyError> {
    match field.split_at_checked(SEED_TAG.len()) {
        Some((tag, seed)) if tag == SEED_TAG && seed.len() == SEED_LEN => Ok(seed),
        _ => Err(KeyError::Der(
            "Ed25519 CurvePrivateKey is not a 32-byte OCTET STRING".into(),
        )),
    }
}

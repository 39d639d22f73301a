//! ML-DSA-44/65/87 (FIPS 204) through `aws-lc-rs`, and its private key encoding
//! (RFC 9881, the seed-only `ML-DSA-PrivateKey` choice).
//!
//! pqreg signs "pure" ML-DSA with the empty context string; domain separation lives in
//! the signed bytes (the DSSE pre-authentication encoding, spec/signing.md).

use aws_lc_rs::signature::{
    self, PqdsaKeyPair, PqdsaSigningAlgorithm, PqdsaVerificationAlgorithm, UnparsedPublicKey,
};

use super::{KeyError, SignatureAlgorithm};

/// The ML-DSA seed ξ is 32 bytes for every parameter set (FIPS 204 Algorithm 1).
pub(crate) const SEED_LEN: usize = 32;

/// The DER header of `seed [0] IMPLICIT OCTET STRING (SIZE (32))` (RFC 9881 §6).
const SEED_TAG: [u8; 2] = [0x80, 0x20];

fn signing_alg(alg: SignatureAlgorithm) -> &'static PqdsaSigningAlgorithm {
    match alg {
        SignatureAlgorithm::MlDsa44 => &signature::ML_DSA_44_SIGNING,
        SignatureAlgorithm::MlDsa87 => &signature::ML_DSA_87_SIGNING,
        _ => &signature::ML_DSA_65_SIGNING,
    }
}

fn verification_alg(alg: SignatureAlgorithm) -> &'static PqdsaVerificationAlgorithm {
    match alg {
        SignatureAlgorithm::MlDsa44 => &signature::ML_DSA_44,
        SignatureAlgorithm::MlDsa87 => &signature::ML_DSA_87,
        _ => &signature::ML_DSA_65,
    }
}

/// Public key length in bytes (FIPS 204 Table 2).
pub(crate) fn public_key_len(alg: SignatureAlgorithm) -> usize {
    match alg {
        SignatureAlgorithm::MlDsa44 => 1312,
        SignatureAlgorithm::MlDsa87 => 2592,
        _ => 1952,
    }
}

/// Signature length in bytes (FIPS 204 Table 2).
pub(crate) fn signature_len(alg: SignatureAlgorithm) -> usize {
    match alg {
        SignatureAlgorithm::MlDsa44 => 2420,
        SignatureAlgorithm::MlDsa87 => 4627,
        _ => 3309,
    }
}

/// Expands a seed into a key pair (FIPS 204 ML-DSA.KeyGen_internal).
pub(crate) fn keypair_from_seed(
    alg: SignatureAlgorithm,
    seed: &[u8],
) -> Result<PqdsaKeyPair, KeyError> {
    if seed.len() != SEED_LEN {
        return Err(KeyError::BadLength {
            alg: alg.name(),
            got: seed.len(),
            want: SEED_LEN,
        });
    }
    PqdsaKeyPair::from_seed(signing_alg(alg), seed)
        .map_err(|_| KeyError::InvalidKey { alg: alg.name() })
}

/// Signs `msg` (pure ML-DSA, empty context; hedged: aws-lc-rs mixes in fresh randomness).
pub(crate) fn sign(
    alg: SignatureAlgorithm,
    kp: &PqdsaKeyPair,
    msg: &[u8],
) -> Result<Vec<u8>, KeyError> {
    let mut sig = vec![0u8; signature_len(alg)];
    let n = kp
        .sign(msg, &mut sig)
        .map_err(|_| KeyError::Crypto("ML-DSA signing"))?;
    sig.truncate(n);
    Ok(sig)
}

/// Verifies a pure ML-DSA signature with the empty context.
pub(crate) fn verify(
    alg: SignatureAlgorithm,
    public_key: &[u8],
    msg: &[u8],
    sig: &[u8],
) -> Result<(), KeyError> {
    if sig.len() != signature_len(alg) {
        return Err(KeyError::BadLength {
            alg: alg.name(),
            got: sig.len(),
            want: signature_len(alg),
        });
    }
    UnparsedPublicKey::new(verification_alg(alg), public_key)
        .verify(msg, sig)
        .map_err(|_| KeyError::BadSignature { alg: alg.name() })
}

/// The contents of PKCS#8 `privateKey` for a seed: `[0] IMPLICIT OCTET STRING`.
pub(crate) fn private_key_field(seed: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(SEED_TAG.len() + seed.len());
    out.extend_from_slice(&SEED_TAG);
    out.extend_from_slice(seed);
    out
}

/// Extracts the seed from PKCS#8 `privateKey`, refusing the `expandedKey` and `both`
/// choices.
pub(crate) fn seed_from_private_key_field(
    alg: SignatureAlgorithm,
    field: &[u8],
) -> Result<&[u8], KeyError> {
    match field.split_at_checked(SEED_TAG.len()) {
        Some((tag, seed)) if tag == SEED_TAG && seed.len() == SEED_LEN => Ok(seed),
        Some((tag, _)) if tag[0] == 0x80 => Err(KeyError::Der(format!(
            "{} seed has the wrong length",
            alg.name()
        ))),
        _ => Err(KeyError::NotSeedForm { alg: alg.name() }),
    }
}

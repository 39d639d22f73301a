//! ML-KEM-1024 (FIPS 203) through the `hpke` crate's `MlKem1024` KEM. The private key is
//! the 64-byte seed d || z; in PKCS#8 it is the `seed [0] IMPLICIT OCTET STRING (SIZE
//! (64))` choice of `ML-KEM-PrivateKey` (draft-ietf-lamps-kyber-certificates).

use hpke::kem::MlKem1024;
use hpke::{Deserializable, Kem, Serializable};

use super::KeyError;

/// Seed length: d (32) || z (32).
pub(crate) const SEED_LEN: usize = 64;
/// Encapsulation key length (FIPS 203 Table 3).
pub(crate) const PUBLIC_KEY_LEN: usize = 1568;

const NAME: &str = "ml-kem-1024";
const SEED_TAG: [u8; 2] = [0x80, 0x40];

/// Derives the encapsulation key from d || z (FIPS 203 ML-KEM.KeyGen_internal).
pub(crate) fn public_from_seed(seed: &[u8]) -> Result<Vec<u8>, KeyError> {
    let sk = <MlKem1024 as Kem>::PrivateKey::from_bytes(seed).map_err(|_| KeyError::BadLength {
        alg: NAME,
        got: seed.len(),
        want: SEED_LEN,
    })?;
    Ok(MlKem1024::sk_to_pk(&sk).to_bytes().to_vec())
}

/// Checks an encapsulation key (length and the FIPS 203 §7.2 modulus check).
pub(crate) fn check_public_key(bytes: &[u8]) -> Result<(), KeyError> {
    <MlKem1024 as Kem>::PublicKey::from_bytes(bytes)
        .map(|_| ())
        .map_err(|_| KeyError::InvalidKey { alg: NAME })
}

/// The contents of PKCS#8 `privateKey`: `[0] IMPLICIT OCTET STRING` holding d || z.
pub(crate) fn private_key_field(seed: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(SEED_TAG.len() + seed.len());
    out.extend_from_slice(&SEED_TAG);
    out.extend_from_slice(seed);
    out
}

/// Extracts d || z from PKCS#8 `privateKey`, refusing the `expandedKey` and `both`
/// choices.
pub(crate) fn seed_from_private_key_field(field: &[u8]) -> Result<&[u8], KeyError> {
    match field.split_at_checked(SEED_TAG.len()) {
        Some((tag, seed)) if tag == SEED_TAG && seed.len() == SEED_LEN => Ok(seed),
        Some((tag, _)) if tag[0] == 0x80 => Err(KeyError::Der(
            "ml-kem-1024 seed has the wrong length".into(),
        )),
        _ => Err(KeyError::NotSeedForm { alg: NAME }),
    }
}

//! X-Wing (draft-connolly-cfrg-xwing-kem; X25519 + ML-KEM-768) through the `hpke` crate's
//! `XWing` KEM. The private key is the 32-byte seed; in PKCS#8 `privateKey` holds the
//! seed itself, with no inner ASN.1 (the draft's `X509-XWING-2024` module: "PRIVATE-KEY
//! no ASN.1 wrapping").

use hpke::kem::XWing;
use hpke::{Deserializable, Kem, Serializable};

use super::KeyError;

/// Seed length.
pub(crate) const SEED_LEN: usize = 32;
/// Encapsulation key length: ML-KEM-768 ek (1184) || X25519 public key (32).
pub(crate) const PUBLIC_KEY_LEN: usize = 1216;

const NAME: &str = "x-wing";

/// Derives the public key from the seed (X-Wing `expandDecapsulationKey`).
pub(crate) fn public_from_seed(seed: &[u8]) -> Result<Vec<u8>, KeyError> {
    let sk = <XWing as Kem>::PrivateKey::from_bytes(seed).map_err(|_| KeyError::BadLength {
        alg: NAME,
        got: seed.len(),
        want: SEED_LEN,
    })?;
    Ok(XWing::sk_to_pk(&sk).to_bytes().to_vec())
}

/// Checks an encapsulation key (length, and the ML-KEM-768 modulus check).
pub(crate) fn check_public_key(bytes: &[u8]) -> Result<(), KeyError> {
    <XWing as Kem>::PublicKey::from_bytes(bytes)
        .map(|_| ())
        .map_err(|_| KeyError::InvalidKey { alg: NAME })
}

/// The contents of PKCS#8 `privateKey`: the seed.
pub(crate) fn private_key_field(seed: &[u8]) -> Vec<u8> {
    seed.to_vec()
}

/// Extracts the seed from PKCS#8 `privateKey`.
pub(crate) fn seed_from_private_key_field(field: &[u8]) -> Result<&[u8], KeyError> {
    if field.len() != SEED_LEN {
        return Err(KeyError::BadLength {
            alg: NAME,
            got: field.len(),
            want: SEED_LEN,
        });
    }
    Ok(field)
}

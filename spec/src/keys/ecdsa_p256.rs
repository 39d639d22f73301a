//! ECDSA P-256 with SHA-256 (FIPS 186-5) through `aws-lc-rs`. Keys are encoded as RFC 5480
//! SPKI (id-ecPublicKey, namedCurve secp256r1, uncompressed point) and RFC 5915 inside
//! PKCS#8, which aws-lc-rs reads and writes itself; signatures are ASN.1 DER
//! `Ecdsa-Sig-Value` (RFC 3279), what Sigstore and OMS verify.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair, ParsedPublicKey,
    UnparsedPublicKey,
};

use super::{KeyError, SignatureAlgorithm};

/// Uncompressed SEC1 point: 0x04 || X || Y.
pub(crate) const PUBLIC_KEY_LEN: usize = 65;

const NAME: &str = SignatureAlgorithm::EcdsaP256Sha256.name();

/// SPKI DER of a P-256 key up to the point: SEQUENCE { SEQUENCE { id-ecPublicKey,
/// secp256r1 }, BIT STRING (66 bytes: 0 unused bits, then the point) }.
const SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// Generates a key pair and returns it with its PKCS#8 DER.
pub(crate) fn generate() -> Result<(EcdsaKeyPair, Vec<u8>), KeyError> {
    let kp = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING)
        .map_err(|_| KeyError::Crypto("P-256 key generation"))?;
    let der = kp
        .to_pkcs8v1()
        .map_err(|_| KeyError::Crypto("P-256 PKCS#8 encoding"))?;
    Ok((kp, der.as_ref().to_vec()))
}

/// Parses PKCS#8 DER (already checked for its algorithm identifier by the caller).
pub(crate) fn from_pkcs8(der: &[u8]) -> Result<EcdsaKeyPair, KeyError> {
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, der)
        .map_err(|_| KeyError::InvalidKey { alg: NAME })
}

/// The uncompressed public point.
pub(crate) fn public_key(kp: &EcdsaKeyPair) -> Vec<u8> {
    kp.public_key().as_ref().to_vec()
}

/// Signs SHA-256(`msg`); the signature is ASN.1 DER.
pub(crate) fn sign(kp: &EcdsaKeyPair, msg: &[u8]) -> Result<Vec<u8>, KeyError> {
    kp.sign(&SystemRandom::new(), msg)
        .map(|s| s.as_ref().to_vec())
        .map_err(|_| KeyError::Crypto("P-256 signing"))
}

/// Verifies an ASN.1 DER ECDSA P-256 SHA-256 signature.
pub(crate) fn verify(public_key: &[u8], msg: &[u8], sig: &[u8]) -> Result<(), KeyError> {
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, public_key)
        .verify(msg, sig)
        .map_err(|_| KeyError::BadSignature { alg: NAME })
}

/// Checks a raw public key is an uncompressed point on the curve.
pub(crate) fn check_public_key(bytes: &[u8]) -> Result<(), KeyError> {
    if bytes.len() != PUBLIC_KEY_LEN {
        return Err(KeyError::BadLength {
            alg: NAME,
            got: bytes.len(),
            want: PUBLIC_KEY_LEN,
        });
    }
    if bytes[0] != 0x04 {
        return Err(KeyError::InvalidKey { alg: NAME });
    }
    // Parsing checks the point is on the curve.
    ParsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, bytes)
        .map(|_| ())
        .map_err(|_| KeyError::InvalidKey { alg: NAME })
}

/// SPKI DER of an uncompressed point.
pub(crate) fn spki_der(point: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(SPKI_PREFIX.len() + point.len());
    out.extend_from_slice(&SPKI_PREFIX);
    out.extend_from_slice(point);
    out
}

//! Key types, PEM encodings and key IDs (spec/keys.md).
//!
//! (Skeleton: the types below are the contract other modules build on; the owner of
//! `keys` fills in generation, PEM and the algorithms, keeping these names.)

use crate::Digest;

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// A raw key had the wrong length for its algorithm.
    #[error("{alg} key has {got} bytes, expected {want}")]
    BadLength {
        /// The algorithm's name.
        alg: &'static str,
        /// Bytes given.
        got: usize,
        /// Bytes expected.
        want: usize,
    },
}

/// Key-encapsulation algorithms a recipient key can use (spec/encryption.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KemAlgorithm {
    /// X-Wing: X25519 + ML-KEM-768 (draft-connolly-cfrg-xwing-kem), the default.
    XWing,
    /// ML-KEM-1024 alone (FIPS 203), for CNSA 2.0 deployments.
    MlKem1024,
}

/// Signature algorithms (spec/signing.md, spec/transparency-log.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SignatureAlgorithm {
    /// ML-DSA-44 (FIPS 204): log checkpoints.
    MlDsa44,
    /// ML-DSA-65 (FIPS 204): model signatures, the default.
    MlDsa65,
    /// ML-DSA-87 (FIPS 204): model signatures for CNSA 2.0.
    MlDsa87,
    /// Ed25519 (RFC 8032): log checkpoints for today's verifiers.
    Ed25519,
    /// ECDSA P-256 with SHA-256 (FIPS 186-5): the optional classical OMS bundle.
    EcdsaP256Sha256,
}

/// A key ID: `sha256:<hex>` of the key's SPKI DER encoding (spec/keys.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub Digest);

impl std::fmt::Display for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A recipient's public key: an algorithm and its raw public key bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientPublicKey {
    alg: KemAlgorithm,
    bytes: Vec<u8>,
}

impl RecipientPublicKey {
    /// Wraps raw public key bytes, checking their length for `alg`.
    pub fn from_raw(alg: KemAlgorithm, bytes: &[u8]) -> Result<Self, KeyError> {
        let (name, want) = match alg {
            KemAlgorithm::XWing => ("x-wing", 1216),
            KemAlgorithm::MlKem1024 => ("ml-kem-1024", 1568),
        };
        if bytes.len() != want {
            return Err(KeyError::BadLength {
                alg: name,
                got: bytes.len(),
                want,
            });
        }
        Ok(Self {
            alg,
            bytes: bytes.to_vec(),
        })
    }

    /// The algorithm.
    pub fn alg(&self) -> KemAlgorithm {
        self.alg
    }

    /// The raw public key bytes (the encapsulation key).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// A recipient's private key (identity): an algorithm and its seed.
pub struct RecipientPrivateKey {
    alg: KemAlgorithm,
    seed: zeroize::Zeroizing<Vec<u8>>,
}

impl RecipientPrivateKey {
    /// Wraps a private seed (32 bytes for X-Wing, 64 bytes d||z for ML-KEM-1024).
    pub fn from_seed(alg: KemAlgorithm, seed: &[u8]) -> Result<Self, KeyError> {
        let (name, want) = match alg {
            KemAlgorithm::XWing => ("x-wing", 32),
            KemAlgorithm::MlKem1024 => ("ml-kem-1024", 64),
        };
        if seed.len() != want {
            return Err(KeyError::BadLength {
                alg: name,
                got: seed.len(),
                want,
            });
        }
        Ok(Self {
            alg,
            seed: zeroize::Zeroizing::new(seed.to_vec()),
        })
    }

    /// The algorithm.
    pub fn alg(&self) -> KemAlgorithm {
        self.alg
    }

    /// The private seed.
    pub fn seed(&self) -> &[u8] {
        &self.seed
    }
}

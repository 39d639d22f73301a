//! Key types, PEM encodings and key IDs (spec/keys.md).
//!
//! Two kinds of keys:
//!
//! - **signing keys** ([`SigningKey`], [`VerifyingKey`]): ML-DSA-44/65/87 (FIPS 204),
//!   Ed25519 (RFC 8032) and ECDSA P-256 with SHA-256 (FIPS 186-5), through `aws-lc-rs`;
//! - **recipient keys** ([`RecipientPrivateKey`], [`RecipientPublicKey`]): X-Wing and
//!   ML-KEM-1024 (FIPS 203), through the `hpke` crate's KEMs.
//!
//! Every key has one file format: a private key is a PKCS#8 `PRIVATE KEY` PEM in seed form
//! (optionally wrapped in a PBES2 `ENCRYPTED PRIVATE KEY`), a public key is an SPKI
//! `PUBLIC KEY` PEM, with the NIST/IETF object identifiers. A key's ID is the SHA-256 of
//! its SPKI DER ([`KeyId`]). One module per algorithm holds what is specific to it; the
//! PEM/DER plumbing they share lives in `pem`.
//!
//! Nothing here touches the disk: writing a private key file with mode 0600 is the client's
//! job.

use std::str::FromStr;

use crate::Digest;

mod ecdsa_p256;
mod ed25519;
mod mldsa;
mod mlkem1024;
mod pem;
mod recipient;
mod signing;
mod xwing;

pub use pem::{
    PrivateKey, PublicKey, ScryptCost, decode_private_pem, decode_private_pem_with_passphrase,
    decode_public_pem,
};
pub use recipient::{RecipientPrivateKey, RecipientPublicKey};
pub use signing::{SigningKey, VerifyingKey};

/// Errors of this module. Each check that can fail has its own variant, so a caller (and a
/// negative test) can tell *which* check refused a key, a file or a signature.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// A raw key, seed or signature had the wrong length for its algorithm.
    #[error("{alg}: {got} bytes where {want} were expected")]
    BadLength {
        /// The algorithm's name.
        alg: &'static str,
        /// Bytes given.
        got: usize,
        /// Bytes expected.
        want: usize,
    },
    /// The PEM armor is broken: missing or truncated boundaries, bad base64, bad line
    /// layout.
    #[error("malformed PEM: {0}")]
    PemMalformed(String),
    /// The PEM label is not the one this kind of key file uses.
    #[error("PEM label {got:?} where {want:?} was expected")]
    PemLabel {
        /// The label found.
        got: String,
        /// The label (or labels) expected.
        want: &'static str,
    },
    /// The DER inside the PEM is malformed (truncated, wrong tag, non-canonical).
    #[error("malformed key DER: {0}")]
    Der(String),
    /// The DER structure is followed by extra bytes.
    #[error("key DER has trailing data")]
    TrailingData,
    /// The AlgorithmIdentifier names an algorithm pqreg does not know.
    #[error("unknown key algorithm OID {0}")]
    UnknownAlgorithm(String),
    /// The AlgorithmIdentifier carries parameters where the algorithm forbids them, or
    /// lacks the ones it requires (the P-256 curve).
    #[error("{alg} AlgorithmIdentifier has wrong parameters")]
    BadParameters {
        /// The algorithm's name.
        alg: &'static str,
    },
    /// A private key is in a form other than the seed form spec/keys.md requires
    /// (e.g. the ML-DSA `expandedKey` or `both` choice).
    #[error("{alg} private key is not in seed form")]
    NotSeedForm {
        /// The algorithm's name.
        alg: &'static str,
    },
    /// A PKCS#8 key carries a public key that does not match the one its seed derives.
    #[error("{alg} private key carries a public key that does not match its seed")]
    PublicKeyMismatch {
        /// The algorithm's name.
        alg: &'static str,
    },
    /// The primitive refused the key material (not a valid point, bad encapsulation key).
    #[error("{alg} key material rejected")]
    InvalidKey {
        /// The algorithm's name.
        alg: &'static str,
    },
    /// A key of the other kind (signing vs. recipient) was found where one kind was
    /// expected.
    #[error("expected a {want} key, found a {got} key")]
    WrongKeyKind {
        /// What the caller asked for.
        want: &'static str,
        /// What the file holds.
        got: &'static str,
    },
    /// The signature did not verify.
    #[error("{alg} signature does not verify")]
    BadSignature {
        /// The algorithm's name.
        alg: &'static str,
    },
    /// The file is passphrase-protected and no passphrase was given.
    #[error("the private key is passphrase-protected; a passphrase is required")]
    PassphraseRequired,
    /// The passphrase does not decrypt the private key.
    #[error("wrong passphrase for the private key")]
    WrongPassphrase,
    /// The encrypted key uses a scheme or cost parameters pqreg does not accept.
    #[error("unsupported private key encryption: {0}")]
    UnsupportedEncryption(String),
    /// A key ID string is not `sha256:<64 lowercase hex>`.
    #[error("malformed key ID {0:?} (expected sha256:<64 lowercase hex>)")]
    KeyIdSyntax(String),
    /// The cryptographic library failed (random generator, internal error).
    #[error("{0}: cryptographic library failure")]
    Crypto(&'static str),
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

impl KemAlgorithm {
    /// Every recipient algorithm.
    pub const ALL: [KemAlgorithm; 2] = [KemAlgorithm::XWing, KemAlgorithm::MlKem1024];

    /// Parses a name as [`Self::name`] writes it.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The algorithm's name as spec/keys.md writes it (`x-wing`, `ml-kem-1024`).
    pub const fn name(self) -> &'static str {
        match self {
            KemAlgorithm::XWing => "x-wing",
            KemAlgorithm::MlKem1024 => "ml-kem-1024",
        }
    }
}

impl std::fmt::Display for KemAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
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

impl SignatureAlgorithm {
    /// Every signature algorithm.
    pub const ALL: [SignatureAlgorithm; 5] = [
        SignatureAlgorithm::MlDsa44,
        SignatureAlgorithm::MlDsa65,
        SignatureAlgorithm::MlDsa87,
        SignatureAlgorithm::Ed25519,
        SignatureAlgorithm::EcdsaP256Sha256,
    ];

    /// Parses a name as [`Self::name`] writes it.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    /// Whether this is ML-DSA (FIPS 204), the post-quantum signature a model's bundle
    /// must carry; the other two are for log checkpoints (Ed25519) and the optional
    /// classical OMS bundle (ECDSA P-256).
    pub const fn is_ml_dsa(self) -> bool {
        match self {
            SignatureAlgorithm::MlDsa44
            | SignatureAlgorithm::MlDsa65
            | SignatureAlgorithm::MlDsa87 => true,
            SignatureAlgorithm::Ed25519 | SignatureAlgorithm::EcdsaP256Sha256 => false,
        }
    }

    /// The algorithm's name as spec/keys.md writes it (`ml-dsa-65`, `ed25519`,
    /// `ecdsa-p256-sha256`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            SignatureAlgorithm::MlDsa44 => "ml-dsa-44",
            SignatureAlgorithm::MlDsa65 => "ml-dsa-65",
            SignatureAlgorithm::MlDsa87 => "ml-dsa-87",
            SignatureAlgorithm::Ed25519 => "ed25519",
            SignatureAlgorithm::EcdsaP256Sha256 => "ecdsa-p256-sha256",
        }
    }
}

impl std::fmt::Display for SignatureAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A key ID: `sha256:<hex>` of the key's SPKI DER encoding (spec/keys.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub Digest);

impl KeyId {
    /// The key ID of a public key given as its SPKI DER encoding.
    pub fn of_spki_der(spki_der: &[u8]) -> Self {
        KeyId(Digest::sha256(spki_der))
    }
}

impl std::fmt::Display for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for KeyId {
    type Err = KeyError;

    /// Parses `sha256:<64 lowercase hex>`.
    fn from_str(s: &str) -> Result<Self, KeyError> {
        Digest::from_str(s)
            .map(KeyId)
            .map_err(|_| KeyError::KeyIdSyntax(s.to_owned()))
    }
}

#[cfg(test)]
mod tests;

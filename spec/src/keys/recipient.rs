//! Recipient keys: [`RecipientPrivateKey`] (the seed) and [`RecipientPublicKey`] (the
//! encapsulation key) for X-Wing and ML-KEM-1024, with their PKCS#8/SPKI PEM files
//! (spec/keys.md).
//!
//! The HPKE layer (spec/encryption.md) turns them into `hpke` keys with
//! `hpke::Deserializable::from_bytes`: the public key from [`RecipientPublicKey::as_bytes`],
//! the private key from [`RecipientPrivateKey::seed`] (for both KEMs the `hpke` private key
//! *is* the seed).

use zeroize::Zeroizing;

use super::pem::{self, AnyAlg, LABEL_PRIVATE, LABEL_PUBLIC, ScryptCost};
use super::{KemAlgorithm, KeyError, KeyId, mlkem1024, xwing};

/// A recipient's public key: an algorithm and its raw public key bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecipientPublicKey {
    alg: KemAlgorithm,
    bytes: Vec<u8>,
}

impl RecipientPublicKey {
    /// Wraps raw public key bytes (1216 for X-Wing, 1568 for ML-KEM-1024), checking their
    /// length ([`KeyError::BadLength`]) and that they are a valid encapsulation key
    /// ([`KeyError::InvalidKey`]: the FIPS 203 modulus check).
    pub fn from_raw(alg: KemAlgorithm, bytes: &[u8]) -> Result<Self, KeyError> {
        let want = match alg {
            KemAlgorithm::XWing => xwing::PUBLIC_KEY_LEN,
            KemAlgorithm::MlKem1024 => mlkem1024::PUBLIC_KEY_LEN,
        };
        if bytes.len() != want {
            return Err(KeyError::BadLength {
                alg: alg.name(),
                got: bytes.len(),
                want,
            });
        }
        match alg {
            KemAlgorithm::XWing => xwing::check_public_key(bytes)?,
            KemAlgorithm::MlKem1024 => mlkem1024::check_public_key(bytes)?,
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

    /// The SPKI DER encoding.
    pub fn to_spki_der(&self) -> Vec<u8> {
        pem::spki_der(AnyAlg::Kem(self.alg), &self.bytes)
    }

    /// The key ID: `sha256:<hex>` of the SPKI DER.
    pub fn key_id(&self) -> KeyId {
        KeyId::of_spki_der(&self.to_spki_der())
    }

    /// Parses SPKI DER (strict).
    pub fn from_spki_der(der: &[u8]) -> Result<Self, KeyError> {
        match pem::parse_spki(der)? {
            (AnyAlg::Kem(alg), bytes) => Self::from_raw(alg, &bytes),
            (AnyAlg::Sig(_), _) => Err(KeyError::WrongKeyKind {
                want: "recipient",
                got: "signing",
            }),
        }
    }

    /// The `PUBLIC KEY` PEM.
    pub fn to_pem(&self) -> Result<String, KeyError> {
        pem::armor(LABEL_PUBLIC, &self.to_spki_der())
    }

    /// Parses a `PUBLIC KEY` PEM (strict).
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let (_, der) = pem::unarmor(pem, &[LABEL_PUBLIC], LABEL_PUBLIC)?;
        Self::from_spki_der(&der)
    }
}

/// A recipient's private key (identity): an algorithm and its seed.
pub struct RecipientPrivateKey {
    alg: KemAlgorithm,
    seed: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for RecipientPrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecipientPrivateKey")
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl RecipientPrivateKey {
    /// Wraps a private seed (32 bytes for X-Wing, 64 bytes d||z for ML-KEM-1024).
    pub fn from_seed(alg: KemAlgorithm, seed: &[u8]) -> Result<Self, KeyError> {
        let want = match alg {
            KemAlgorithm::XWing => xwing::SEED_LEN,
            KemAlgorithm::MlKem1024 => mlkem1024::SEED_LEN,
        };
        if seed.len() != want {
            return Err(KeyError::BadLength {
                alg: alg.name(),
                got: seed.len(),
                want,
            });
        }
        Ok(Self {
            alg,
            seed: Zeroizing::new(seed.to_vec()),
        })
    }

    /// Generates a fresh key: a uniformly random seed from the operating system's
    /// generator (X-Wing GenerateKeyPair; ML-KEM.KeyGen with random d and z).
    pub fn generate(alg: KemAlgorithm) -> Result<Self, KeyError> {
        let len = match alg {
            KemAlgorithm::XWing => xwing::SEED_LEN,
            KemAlgorithm::MlKem1024 => mlkem1024::SEED_LEN,
        };
        let mut seed = Zeroizing::new(vec![0u8; len]);
        aws_lc_rs::rand::fill(&mut seed).map_err(|_| KeyError::Crypto("random"))?;
        Self::from_seed(alg, &seed)
    }

    /// The algorithm.
    pub fn alg(&self) -> KemAlgorithm {
        self.alg
    }

    /// The private seed.
    pub fn seed(&self) -> &[u8] {
        &self.seed
    }

    /// The public key derived from the seed (through `hpke`'s KEM).
    pub fn public_key(&self) -> Result<RecipientPublicKey, KeyError> {
        let bytes = match self.alg {
            KemAlgorithm::XWing => xwing::public_from_seed(&self.seed)?,
            KemAlgorithm::MlKem1024 => mlkem1024::public_from_seed(&self.seed)?,
        };
        Ok(RecipientPublicKey {
            alg: self.alg,
            bytes,
        })
    }

    /// The key ID of the public key.
    pub fn key_id(&self) -> Result<KeyId, KeyError> {
        Ok(self.public_key()?.key_id())
    }

    /// The PKCS#8 DER encoding (seed form).
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let field = Zeroizing::new(match self.alg {
            KemAlgorithm::XWing => xwing::private_key_field(&self.seed),
            KemAlgorithm::MlKem1024 => mlkem1024::private_key_field(&self.seed),
        });
        pem::pkcs8_der(AnyAlg::Kem(self.alg), &field)
    }

    /// Parses PKCS#8 DER (strict: see spec/keys.md).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        let parsed = pem::parse_pkcs8(der)?;
        let AnyAlg::Kem(alg) = parsed.alg else {
            return Err(KeyError::WrongKeyKind {
                want: "recipient",
                got: "signing",
            });
        };
        let seed = match alg {
            KemAlgorithm::XWing => xwing::seed_from_private_key_field(parsed.private_key)?,
            KemAlgorithm::MlKem1024 => mlkem1024::seed_from_private_key_field(parsed.private_key)?,
        };
        let key = Self::from_seed(alg, seed)?;
        if let Some(pk) = parsed.public_key
            && pk != key.public_key()?.as_bytes()
        {
            return Err(KeyError::PublicKeyMismatch { alg: alg.name() });
        }
        Ok(key)
    }

    /// The `PRIVATE KEY` PEM (unencrypted; the caller writes it with mode 0600).
    pub fn to_pem(&self) -> Result<Zeroizing<String>, KeyError> {
        pem::armor(LABEL_PRIVATE, &self.to_pkcs8_der()?).map(Zeroizing::new)
    }

    /// The `ENCRYPTED PRIVATE KEY` PEM: PBES2, scrypt ([`ScryptCost::DEFAULT`]),
    /// AES-256-CBC.
    pub fn encrypt_pem(&self, passphrase: &[u8]) -> Result<String, KeyError> {
        self.encrypt_pem_with_cost(passphrase, ScryptCost::DEFAULT)
    }

    /// [`Self::encrypt_pem`] with an explicit scrypt cost (tests use a small one).
    pub fn encrypt_pem_with_cost(
        &self,
        passphrase: &[u8],
        cost: ScryptCost,
    ) -> Result<String, KeyError> {
        pem::encrypt_pkcs8_pem(&self.to_pkcs8_der()?, passphrase, cost)
    }

    /// Parses a `PRIVATE KEY` PEM; a passphrase-protected file is
    /// [`KeyError::PassphraseRequired`].
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        Self::from_pkcs8_der(&pem::private_der(pem)?)
    }

    /// Parses an `ENCRYPTED PRIVATE KEY` PEM (or an unencrypted `PRIVATE KEY` PEM).
    pub fn from_pem_with_passphrase(pem: &str, passphrase: &[u8]) -> Result<Self, KeyError> {
        Self::from_pkcs8_der(&pem::private_der_with_passphrase(pem, passphrase)?)
    }
}

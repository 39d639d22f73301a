//! Signing keys: [`SigningKey`] (private) and [`VerifyingKey`] (public) for ML-DSA-44/65/87,
//! Ed25519 and ECDSA P-256, with their PKCS#8/SPKI PEM files (spec/keys.md).

use aws_lc_rs::signature::{ED25519, ML_DSA_44, ML_DSA_65, ML_DSA_87};
use aws_lc_rs::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair, ParsedPublicKey, PqdsaKeyPair};
use zeroize::Zeroizing;

use super::pem::{self, AnyAlg, LABEL_PRIVATE, LABEL_PUBLIC, ScryptCost};
use super::{KeyError, KeyId, SignatureAlgorithm, ecdsa_p256, ed25519, mldsa};

/// A private signing key.
///
/// ML-DSA and Ed25519 keys are kept with their 32-byte seed, which is what the PKCS#8
/// file holds; ECDSA P-256 keys with their PKCS#8 (RFC 5915) encoding.
pub struct SigningKey {
    alg: SignatureAlgorithm,
    inner: Inner,
    public: VerifyingKey,
}

enum Inner {
    MlDsa {
        seed: Zeroizing<Vec<u8>>,
        kp: PqdsaKeyPair,
    },
    Ed25519 {
        seed: Zeroizing<Vec<u8>>,
        kp: Ed25519KeyPair,
    },
    P256 {
        pkcs8: Zeroizing<Vec<u8>>,
        kp: EcdsaKeyPair,
    },
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .field("key_id", &self.public.key_id())
            .finish_non_exhaustive()
    }
}

fn is_mldsa(alg: SignatureAlgorithm) -> bool {
    matches!(
        alg,
        SignatureAlgorithm::MlDsa44 | SignatureAlgorithm::MlDsa65 | SignatureAlgorithm::MlDsa87
    )
}

impl SigningKey {
    /// Generates a fresh key from the operating system's random generator.
    pub fn generate(alg: SignatureAlgorithm) -> Result<Self, KeyError> {
        if alg == SignatureAlgorithm::EcdsaP256Sha256 {
            let (kp, der) = ecdsa_p256::generate()?;
            return Ok(Self::from_p256(kp, Zeroizing::new(der)));
        }
        let mut seed = Zeroizing::new(vec![0u8; 32]);
        aws_lc_rs::rand::fill(&mut seed).map_err(|_| KeyError::Crypto("random"))?;
        Self::from_seed(alg, &seed)
    }

    /// Builds a key from its 32-byte seed: ML-DSA ξ (FIPS 204 Algorithm 6) or the Ed25519
    /// private key (RFC 8032). ECDSA P-256 keys have no seed form:
    /// [`KeyError::NotSeedForm`].
    pub fn from_seed(alg: SignatureAlgorithm, seed: &[u8]) -> Result<Self, KeyError> {
        let seed = Zeroizing::new(seed.to_vec());
        if is_mldsa(alg) {
            let kp = mldsa::keypair_from_seed(alg, &seed)?;
            let public = VerifyingKey {
                alg,
                bytes: kp.public_key().as_ref().to_vec(),
            };
            return Ok(Self {
                alg,
                inner: Inner::MlDsa { seed, kp },
                public,
            });
        }
        if alg == SignatureAlgorithm::Ed25519 {
            let kp = ed25519::keypair_from_seed(&seed)?;
            let public = VerifyingKey {
                alg,
                bytes: ed25519::public_key(&kp),
            };
            return Ok(Self {
                alg,
                inner: Inner::Ed25519 { seed, kp },
                public,
            });
        }
        Err(KeyError::NotSeedForm { alg: alg.name() })
    }

    fn from_p256(kp: EcdsaKeyPair, pkcs8: Zeroizing<Vec<u8>>) -> Self {
        let public = VerifyingKey {
            alg: SignatureAlgorithm::EcdsaP256Sha256,
            bytes: ecdsa_p256::public_key(&kp),
        };
        Self {
            alg: SignatureAlgorithm::EcdsaP256Sha256,
            inner: Inner::P256 { pkcs8, kp },
            public,
        }
    }

    /// The algorithm.
    pub fn alg(&self) -> SignatureAlgorithm {
        self.alg
    }

    /// The 32-byte seed (ML-DSA, Ed25519); `None` for ECDSA P-256.
    pub fn seed(&self) -> Option<&[u8]> {
        match &self.inner {
            Inner::MlDsa { seed, .. } | Inner::Ed25519 { seed, .. } => Some(seed),
            Inner::P256 { .. } => None,
        }
    }

    /// Signs `msg`.
    ///
    /// ML-DSA: pure ML-DSA (FIPS 204 Algorithm 2) with the empty context string, hedged
    /// (fresh randomness per signature, so two signatures of one message differ).
    /// Ed25519: RFC 8032 (64 bytes). ECDSA P-256: SHA-256 of `msg`, ASN.1 DER signature.
    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, KeyError> {
        match &self.inner {
            Inner::MlDsa { kp, .. } => mldsa::sign(self.alg, kp, msg),
            Inner::Ed25519 { kp, .. } => ed25519::sign(kp, msg),
            Inner::P256 { kp, .. } => ecdsa_p256::sign(kp, msg),
        }
    }

    /// The public key.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.public.clone()
    }

    /// The key ID of the public key.
    pub fn key_id(&self) -> KeyId {
        self.public.key_id()
    }

    /// The PKCS#8 DER encoding (seed form for ML-DSA and Ed25519).
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let alg = AnyAlg::Sig(self.alg);
        match &self.inner {
            Inner::MlDsa { seed, .. } => {
                pem::pkcs8_der(alg, &Zeroizing::new(mldsa::private_key_field(seed)))
            }
            Inner::Ed25519 { seed, .. } => {
                pem::pkcs8_der(alg, &Zeroizing::new(ed25519::private_key_field(seed)))
            }
            Inner::P256 { pkcs8, .. } => Ok(pkcs8.clone()),
        }
    }

    /// Parses PKCS#8 DER (strict: see spec/keys.md).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        let parsed = pem::parse_pkcs8(der)?;
        let AnyAlg::Sig(alg) = parsed.alg else {
            return Err(KeyError::WrongKeyKind {
                want: "signing",
                got: "recipient",
            });
        };
        let key = if is_mldsa(alg) {
            Self::from_seed(
                alg,
                mldsa::seed_from_private_key_field(alg, parsed.private_key)?,
            )?
        } else if alg == SignatureAlgorithm::Ed25519 {
            Self::from_seed(
                alg,
                ed25519::seed_from_private_key_field(parsed.private_key)?,
            )?
        } else {
            let kp = ecdsa_p256::from_pkcs8(der)?;
            return Ok(Self::from_p256(kp, Zeroizing::new(der.to_vec())));
        };
        if let Some(pk) = parsed.public_key
            && pk != key.public.as_bytes()
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

/// A public signature verification key: an algorithm and its raw public key bytes
/// (ML-DSA `pk`, the 32-byte Ed25519 key, the 65-byte uncompressed P-256 point).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VerifyingKey {
    alg: SignatureAlgorithm,
    bytes: Vec<u8>,
}

impl VerifyingKey {
    /// Wraps raw public key bytes, checking their length and that the library accepts
    /// them as a key of `alg`.
    pub fn from_raw(alg: SignatureAlgorithm, bytes: &[u8]) -> Result<Self, KeyError> {
        let (want, parse_alg): (
            usize,
            &'static dyn aws_lc_rs::signature::VerificationAlgorithm,
        ) = match alg {
            SignatureAlgorithm::MlDsa44 => (mldsa::public_key_len(alg), &ML_DSA_44),
            SignatureAlgorithm::MlDsa65 => (mldsa::public_key_len(alg), &ML_DSA_65),
            SignatureAlgorithm::MlDsa87 => (mldsa::public_key_len(alg), &ML_DSA_87),
            SignatureAlgorithm::Ed25519 => (ed25519::PUBLIC_KEY_LEN, &ED25519),
            SignatureAlgorithm::EcdsaP256Sha256 => {
                ecdsa_p256::check_public_key(bytes)?;
                return Ok(Self {
                    alg,
                    bytes: bytes.to_vec(),
                });
            }
        };
        if bytes.len() != want {
            return Err(KeyError::BadLength {
                alg: alg.name(),
                got: bytes.len(),
                want,
            });
        }
        ParsedPublicKey::new(parse_alg, bytes)
            .map_err(|_| KeyError::InvalidKey { alg: alg.name() })?;
        Ok(Self {
            alg,
            bytes: bytes.to_vec(),
        })
    }

    /// The algorithm.
    pub fn alg(&self) -> SignatureAlgorithm {
        self.alg
    }

    /// The raw public key bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Verifies `sig` over `msg`: [`KeyError::BadSignature`] if it does not verify,
    /// [`KeyError::BadLength`] if it cannot be a signature of this algorithm.
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> Result<(), KeyError> {
        match self.alg {
            SignatureAlgorithm::Ed25519 => ed25519::verify(&self.bytes, msg, sig),
            SignatureAlgorithm::EcdsaP256Sha256 => ecdsa_p256::verify(&self.bytes, msg, sig),
            alg => mldsa::verify(alg, &self.bytes, msg, sig),
        }
    }

    /// The SPKI DER encoding.
    pub fn to_spki_der(&self) -> Vec<u8> {
        pem::spki_der(AnyAlg::Sig(self.alg), &self.bytes)
    }

    /// The key ID: `sha256:<hex>` of the SPKI DER.
    pub fn key_id(&self) -> KeyId {
        KeyId::of_spki_der(&self.to_spki_der())
    }

    /// Parses SPKI DER (strict).
    pub fn from_spki_der(der: &[u8]) -> Result<Self, KeyError> {
        match pem::parse_spki(der)? {
            (AnyAlg::Sig(alg), bytes) => Self::from_raw(alg, &bytes),
            (AnyAlg::Kem(_), _) => Err(KeyError::WrongKeyKind {
                want: "signing",
                got: "recipient",
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

//! The key file formats of spec/keys.md: PEM armor, SPKI public keys, PKCS#8 private keys
//! (plain and PBES2-encrypted), and the generic decoders that dispatch on the algorithm
//! OID.
//!
//! Decoding is strict: one PEM block with the expected label, DER with nothing after it,
//! a known OID with exactly the parameters its standard prescribes, and key bytes of the
//! exact length.

use der::asn1::{BitStringRef, ObjectIdentifier};
use der::pem::LineEnding;
use der::{Decode, Encode};
use pkcs8::{EncryptedPrivateKeyInfo, PrivateKeyInfo};
use spki::{AlgorithmIdentifierRef, SubjectPublicKeyInfoRef};
use zeroize::Zeroizing;

use super::{
    KemAlgorithm, KeyError, KeyId, RecipientPrivateKey, RecipientPublicKey, SignatureAlgorithm,
    SigningKey, VerifyingKey, ecdsa_p256,
};

/// PEM label of an SPKI public key (RFC 7468 §13).
pub(crate) const LABEL_PUBLIC: &str = "PUBLIC KEY";
/// PEM label of a PKCS#8 private key (RFC 7468 §10).
pub(crate) const LABEL_PRIVATE: &str = "PRIVATE KEY";
/// PEM label of a PKCS#8 EncryptedPrivateKeyInfo (RFC 7468 §11).
pub(crate) const LABEL_ENCRYPTED: &str = "ENCRYPTED PRIVATE KEY";

/// id-ml-dsa-44 (NIST CSOR; RFC 9881).
pub(crate) const OID_ML_DSA_44: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.3.17");
/// id-ml-dsa-65 (NIST CSOR; RFC 9881).
pub(crate) const OID_ML_DSA_65: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.3.18");
/// id-ml-dsa-87 (NIST CSOR; RFC 9881).
pub(crate) const OID_ML_DSA_87: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.3.19");
/// id-alg-ml-kem-1024 (NIST CSOR; draft-ietf-lamps-kyber-certificates).
pub(crate) const OID_ML_KEM_1024: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.4.3");
/// id-XWing (draft-connolly-cfrg-xwing-kem, X509-XWING-2024 module).
pub(crate) const OID_XWING: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.62253.25722");
/// id-Ed25519 (RFC 8410).
pub(crate) const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
/// id-ecPublicKey (RFC 5480).
pub(crate) const OID_EC_PUBLIC_KEY: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// secp256r1 / prime256v1 (RFC 5480).
pub(crate) const OID_SECP256R1: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");

/// Every algorithm a key file can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AnyAlg {
    Sig(SignatureAlgorithm),
    Kem(KemAlgorithm),
}

/// The OID that identifies `alg` in SPKI and PKCS#8.
pub(crate) fn oid_of(alg: AnyAlg) -> ObjectIdentifier {
    match alg {
        AnyAlg::Sig(SignatureAlgorithm::MlDsa44) => OID_ML_DSA_44,
        AnyAlg::Sig(SignatureAlgorithm::MlDsa65) => OID_ML_DSA_65,
        AnyAlg::Sig(SignatureAlgorithm::MlDsa87) => OID_ML_DSA_87,
        AnyAlg::Sig(SignatureAlgorithm::Ed25519) => OID_ED25519,
        AnyAlg::Sig(SignatureAlgorithm::EcdsaP256Sha256) => OID_EC_PUBLIC_KEY,
        AnyAlg::Kem(KemAlgorithm::XWing) => OID_XWING,
        AnyAlg::Kem(KemAlgorithm::MlKem1024) => OID_ML_KEM_1024,
    }
}

/// Maps an AlgorithmIdentifier to the algorithm, checking its parameters: absent for
/// all algorithms but ECDSA, whose parameters must name the P-256 curve.
pub(crate) fn alg_of(id: &AlgorithmIdentifierRef<'_>) -> Result<AnyAlg, KeyError> {
    let alg = match id.oid {
        OID_ML_DSA_44 => AnyAlg::Sig(SignatureAlgorithm::MlDsa44),
        OID_ML_DSA_65 => AnyAlg::Sig(SignatureAlgorithm::MlDsa65),
        OID_ML_DSA_87 => AnyAlg::Sig(SignatureAlgorithm::MlDsa87),
        OID_ED25519 => AnyAlg::Sig(SignatureAlgorithm::Ed25519),
        OID_EC_PUBLIC_KEY => AnyAlg::Sig(SignatureAlgorithm::EcdsaP256Sha256),
        OID_XWING => AnyAlg::Kem(KemAlgorithm::XWing),
        OID_ML_KEM_1024 => AnyAlg::Kem(KemAlgorithm::MlKem1024),
        other => return Err(KeyError::UnknownAlgorithm(other.to_string())),
    };
    let params_ok = match alg {
        AnyAlg::Sig(SignatureAlgorithm::EcdsaP256Sha256) => {
            id.parameters_oid().ok() == Some(OID_SECP256R1)
        }
        _ => id.parameters.is_none(),
    };
    if !params_ok {
        return Err(KeyError::BadParameters { alg: alg_name(alg) });
    }
    Ok(alg)
}

/// The algorithm's name (for errors).
pub(crate) fn alg_name(alg: AnyAlg) -> &'static str {
    match alg {
        AnyAlg::Sig(s) => s.name(),
        AnyAlg::Kem(k) => k.name(),
    }
}

fn der_err(e: der::Error) -> KeyError {
    match e.kind() {
        der::ErrorKind::TrailingData { .. } => KeyError::TrailingData,
        _ => KeyError::Der(e.to_string()),
    }
}

/// Removes the PEM armor, checking the label is one of `want` (`want_desc` names them in
/// the error).
pub(crate) fn unarmor<'a>(
    pem: &'a str,
    want: &[&str],
    want_desc: &'static str,
) -> Result<(&'a str, Zeroizing<Vec<u8>>), KeyError> {
    let (label, der) =
        der::pem::decode_vec(pem.as_bytes()).map_err(|e| KeyError::PemMalformed(e.to_string()))?;
    let der = Zeroizing::new(der);
    if !want.contains(&label) {
        return Err(KeyError::PemLabel {
            got: label.to_owned(),
            want: want_desc,
        });
    }
    Ok((label, der))
}

/// Adds the PEM armor (64-column base64, LF line endings).
pub(crate) fn armor(label: &'static str, der: &[u8]) -> Result<String, KeyError> {
    der::pem::encode_string(label, LineEnding::LF, der)
        .map_err(|_| KeyError::Crypto("PEM encoding"))
}

/// SPKI DER of a public key with absent AlgorithmIdentifier parameters.
pub(crate) fn spki_der(alg: AnyAlg, public_key: &[u8]) -> Vec<u8> {
    if alg == AnyAlg::Sig(SignatureAlgorithm::EcdsaP256Sha256) {
        return ecdsa_p256::spki_der(public_key);
    }
    let bits = BitStringRef::from_bytes(public_key);
    let spki = bits.map(|subject_public_key| SubjectPublicKeyInfoRef {
        algorithm: AlgorithmIdentifierRef {
            oid: oid_of(alg),
            parameters: None,
        },
        subject_public_key,
    });
    // Encoding a well-formed structure of bounded size cannot fail; an empty vector would
    // only ever be produced by a bug and is refused by every decoder.
    spki.and_then(|s| s.to_der()).unwrap_or_default()
}

/// Parses SPKI DER into the algorithm and the raw public key bytes.
pub(crate) fn parse_spki(der: &[u8]) -> Result<(AnyAlg, Vec<u8>), KeyError> {
    let spki = SubjectPublicKeyInfoRef::from_der(der).map_err(der_err)?;
    let alg = alg_of(&spki.algorithm)?;
    let bytes = spki
        .subject_public_key
        .as_bytes()
        .ok_or_else(|| KeyError::Der("public key BIT STRING has unused bits".into()))?;
    Ok((alg, bytes.to_vec()))
}

/// PKCS#8 (RFC 5958 v1, no public key, no attributes) DER of a private key whose
/// `privateKey` OCTET STRING holds `private_key`, with absent parameters.
pub(crate) fn pkcs8_der(alg: AnyAlg, private_key: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let info = PrivateKeyInfo::new(
        AlgorithmIdentifierRef {
            oid: oid_of(alg),
            parameters: None,
        },
        private_key,
    );
    info.to_der()
        .map(Zeroizing::new)
        .map_err(|_| KeyError::Crypto("PKCS#8 encoding"))
}

/// A parsed PKCS#8 private key: its algorithm, the `privateKey` contents and the optional
/// `publicKey` (RFC 5958 v2).
pub(crate) struct ParsedPkcs8<'a> {
    pub alg: AnyAlg,
    pub private_key: &'a [u8],
    pub public_key: Option<&'a [u8]>,
}

/// Parses PKCS#8 DER strictly.
pub(crate) fn parse_pkcs8(der: &[u8]) -> Result<ParsedPkcs8<'_>, KeyError> {
    let info = PrivateKeyInfo::from_der(der).map_err(der_err)?;
    let alg = alg_of(&info.algorithm)?;
    Ok(ParsedPkcs8 {
        alg,
        private_key: info.private_key,
        public_key: info.public_key,
    })
}

/// scrypt cost for a passphrase-protected private key (RFC 7914): N = 2^`log_n`, r, p.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScryptCost {
    /// log2 of the CPU/memory cost N.
    pub log_n: u8,
    /// Block size r.
    pub r: u32,
    /// Parallelization p.
    pub p: u32,
}

impl ScryptCost {
    /// What [`SigningKey::encrypt_pem`] and [`RecipientPrivateKey::encrypt_pem`] use:
    /// N = 2^17, r = 8, p = 1 (128 MiB; seconds, not milliseconds, by design).
    pub const DEFAULT: ScryptCost = ScryptCost {
        log_n: 17,
        r: 8,
        p: 1,
    };
    /// The most a decoder accepts: 2^20 * 8 * 128 bytes = 1 GiB of memory. A file asking
    /// for more is refused, so a hostile key file cannot exhaust memory.
    pub const MAX_MEMORY: u64 = 1 << 30;
}

/// The highest PBKDF2 iteration count a decoder accepts (for PBES2/PBKDF2 files made by
/// other tools, e.g. OpenSSL's `pkcs8 -topk8 -v2 aes-256-cbc`).
const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;

/// Encrypts PKCS#8 DER as an `ENCRYPTED PRIVATE KEY` PEM: PBES2 with scrypt and
/// AES-256-CBC, a fresh 16-byte salt and IV.
pub(crate) fn encrypt_pkcs8_pem(
    pkcs8: &[u8],
    passphrase: &[u8],
    cost: ScryptCost,
) -> Result<String, KeyError> {
    let mut salt = [0u8; 16];
    let mut iv = [0u8; 16];
    aws_lc_rs::rand::fill(&mut salt).map_err(|_| KeyError::Crypto("random"))?;
    aws_lc_rs::rand::fill(&mut iv).map_err(|_| KeyError::Crypto("random"))?;
    let params = pkcs5::scrypt::Params::new(cost.log_n, cost.r, cost.p, 32)
        .map_err(|e| KeyError::UnsupportedEncryption(e.to_string()))?;
    let pbes2 = pkcs5::pbes2::Parameters::scrypt_aes256cbc(params, &salt, &iv)
        .map_err(|e| KeyError::UnsupportedEncryption(e.to_string()))?;
    let info = PrivateKeyInfo::from_der(pkcs8).map_err(der_err)?;
    let doc = info
        .encrypt_with_params(pbes2, passphrase)
        .map_err(|e| KeyError::UnsupportedEncryption(e.to_string()))?;
    armor(LABEL_ENCRYPTED, doc.as_bytes())
}

/// Checks the PBES2 parameters of an encrypted key against what pqreg accepts.
fn check_scheme(scheme: &pkcs5::EncryptionScheme<'_>) -> Result<(), KeyError> {
    let pkcs5::EncryptionScheme::Pbes2(params) = scheme else {
        return Err(KeyError::UnsupportedEncryption(
            "PBES1 (only PBES2 is accepted)".into(),
        ));
    };
    if let Some(s) = params.kdf.scrypt() {
        let memory = 128u64 * u64::from(s.block_size) * s.cost_parameter;
        if memory > ScryptCost::MAX_MEMORY || s.parallelization > 16 {
            return Err(KeyError::UnsupportedEncryption(format!(
                "scrypt N={} r={} p={} costs more than the 1 GiB / p<=16 limit",
                s.cost_parameter, s.block_size, s.parallelization
            )));
        }
    } else if let Some(p) = params.kdf.pbkdf2()
        && p.iteration_count > MAX_PBKDF2_ITERATIONS
    {
        return Err(KeyError::UnsupportedEncryption(format!(
            "PBKDF2 with {} iterations (limit {MAX_PBKDF2_ITERATIONS})",
            p.iteration_count
        )));
    }
    Ok(())
}

/// Decrypts an `ENCRYPTED PRIVATE KEY` DER to PKCS#8 DER.
///
/// A decryption failure (bad CBC padding) is [`KeyError::WrongPassphrase`]; so is a
/// plaintext that is not PKCS#8, which is what a wrong passphrase yields when the padding
/// happens to check (about 1 time in 256). A malformed outer structure is a `Der` error.
pub(crate) fn decrypt_pkcs8(der: &[u8], passphrase: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let info = EncryptedPrivateKeyInfo::from_der(der).map_err(der_err)?;
    check_scheme(&info.encryption_algorithm)?;
    // CBC ciphertext is a whole number of blocks; anything else is a malformed file, not a
    // wrong passphrase.
    if info.encrypted_data.is_empty() || info.encrypted_data.len() % 16 != 0 {
        return Err(KeyError::Der(
            "encrypted key is not a whole number of AES blocks".into(),
        ));
    }
    // pkcs5 0.7 reports a CBC padding failure on decryption as `EncryptFailed`.
    let doc = info.decrypt(passphrase).map_err(|e| match e {
        pkcs8::Error::EncryptedPrivateKey(
            pkcs5::Error::DecryptFailed | pkcs5::Error::EncryptFailed,
        ) => KeyError::WrongPassphrase,
        // The outer structure parsed above, so a DER error here is the decrypted plaintext's:
        // the padding checked by chance (1 in ~256 wrong passphrases) and the rest is noise.
        pkcs8::Error::Asn1(_) => KeyError::WrongPassphrase,
        other => KeyError::UnsupportedEncryption(other.to_string()),
    })?;
    let plain = Zeroizing::new(doc.as_bytes().to_vec());
    if PrivateKeyInfo::from_der(&plain).is_err() {
        return Err(KeyError::WrongPassphrase);
    }
    Ok(plain)
}

/// Any public key a pqreg key file can hold.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PublicKey {
    /// A signature verification key.
    Signing(VerifyingKey),
    /// A recipient's encapsulation key.
    Recipient(RecipientPublicKey),
}

impl PublicKey {
    /// The key ID (SHA-256 of the SPKI DER).
    pub fn key_id(&self) -> KeyId {
        match self {
            PublicKey::Signing(k) => k.key_id(),
            PublicKey::Recipient(k) => k.key_id(),
        }
    }

    /// The SPKI DER encoding.
    pub fn to_spki_der(&self) -> Vec<u8> {
        match self {
            PublicKey::Signing(k) => k.to_spki_der(),
            PublicKey::Recipient(k) => k.to_spki_der(),
        }
    }

    /// The `PUBLIC KEY` PEM.
    pub fn to_pem(&self) -> Result<String, KeyError> {
        armor(LABEL_PUBLIC, &self.to_spki_der())
    }

    /// Parses SPKI DER of any supported algorithm.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, KeyError> {
        let (alg, bytes) = parse_spki(der)?;
        match alg {
            AnyAlg::Sig(s) => Ok(PublicKey::Signing(VerifyingKey::from_raw(s, &bytes)?)),
            AnyAlg::Kem(k) => Ok(PublicKey::Recipient(RecipientPublicKey::from_raw(
                k, &bytes,
            )?)),
        }
    }
}

/// Any private key a pqreg key file can hold.
#[non_exhaustive]
pub enum PrivateKey {
    /// A signing key.
    Signing(SigningKey),
    /// A recipient's decapsulation key.
    Recipient(RecipientPrivateKey),
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PrivateKey::Signing(k) => f.debug_tuple("Signing").field(k).finish(),
            PrivateKey::Recipient(k) => f.debug_tuple("Recipient").field(k).finish(),
        }
    }
}

impl PrivateKey {
    /// The key ID of the matching public key.
    pub fn key_id(&self) -> Result<KeyId, KeyError> {
        match self {
            PrivateKey::Signing(k) => Ok(k.key_id()),
            PrivateKey::Recipient(k) => k.key_id(),
        }
    }

    /// The matching public key.
    pub fn public_key(&self) -> Result<PublicKey, KeyError> {
        match self {
            PrivateKey::Signing(k) => Ok(PublicKey::Signing(k.verifying_key())),
            PrivateKey::Recipient(k) => Ok(PublicKey::Recipient(k.public_key()?)),
        }
    }

    /// The `PRIVATE KEY` PEM of either kind (unencrypted; the caller writes it with mode
    /// 0600).
    pub fn to_pem(&self) -> Result<Zeroizing<String>, KeyError> {
        armor(LABEL_PRIVATE, &self.to_pkcs8_der()?).map(Zeroizing::new)
    }

    /// The `ENCRYPTED PRIVATE KEY` PEM of either kind: PBES2, scrypt
    /// ([`ScryptCost::DEFAULT`]), AES-256-CBC.
    pub fn encrypt_pem(&self, passphrase: &[u8]) -> Result<Zeroizing<String>, KeyError> {
        encrypt_pkcs8_pem(&self.to_pkcs8_der()?, passphrase, ScryptCost::DEFAULT)
            .map(Zeroizing::new)
    }

    /// Parses PKCS#8 DER of any supported algorithm.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        match parse_pkcs8(der)?.alg {
            AnyAlg::Sig(_) => Ok(PrivateKey::Signing(SigningKey::from_pkcs8_der(der)?)),
            AnyAlg::Kem(_) => Ok(PrivateKey::Recipient(RecipientPrivateKey::from_pkcs8_der(
                der,
            )?)),
        }
    }

    /// The PKCS#8 DER encoding (seed form).
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        match self {
            PrivateKey::Signing(k) => k.to_pkcs8_der(),
            PrivateKey::Recipient(k) => k.to_pkcs8_der(),
        }
    }
}

/// Decodes a `PUBLIC KEY` PEM of any supported algorithm.
pub fn decode_public_pem(pem: &str) -> Result<PublicKey, KeyError> {
    let (_, der) = unarmor(pem, &[LABEL_PUBLIC], LABEL_PUBLIC)?;
    PublicKey::from_spki_der(&der)
}

/// The PKCS#8 DER inside a `PRIVATE KEY` PEM. A passphrase-protected
/// (`ENCRYPTED PRIVATE KEY`) file is refused with [`KeyError::PassphraseRequired`].
pub(crate) fn private_der(pem: &str) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let (label, der) = unarmor(pem, &[LABEL_PRIVATE, LABEL_ENCRYPTED], LABEL_PRIVATE)?;
    if label == LABEL_ENCRYPTED {
        return Err(KeyError::PassphraseRequired);
    }
    Ok(der)
}

/// The PKCS#8 DER inside an `ENCRYPTED PRIVATE KEY` PEM, decrypted with `passphrase`; an
/// unencrypted `PRIVATE KEY` PEM is accepted as well (the passphrase is then not used).
pub(crate) fn private_der_with_passphrase(
    pem: &str,
    passphrase: &[u8],
) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let (label, der) = unarmor(
        pem,
        &[LABEL_PRIVATE, LABEL_ENCRYPTED],
        "ENCRYPTED PRIVATE KEY or PRIVATE KEY",
    )?;
    if label == LABEL_PRIVATE {
        return Ok(der);
    }
    decrypt_pkcs8(&der, passphrase)
}

/// Decodes a `PRIVATE KEY` PEM of any supported algorithm. A passphrase-protected
/// (`ENCRYPTED PRIVATE KEY`) file is refused with [`KeyError::PassphraseRequired`].
pub fn decode_private_pem(pem: &str) -> Result<PrivateKey, KeyError> {
    PrivateKey::from_pkcs8_der(&private_der(pem)?)
}

/// Decodes an `ENCRYPTED PRIVATE KEY` PEM with `passphrase`; an unencrypted
/// `PRIVATE KEY` PEM is accepted as well (the passphrase is then not used).
pub fn decode_private_pem_with_passphrase(
    pem: &str,
    passphrase: &[u8],
) -> Result<PrivateKey, KeyError> {
    PrivateKey::from_pkcs8_der(&private_der_with_passphrase(pem, passphrase)?)
}

//! The key envelope: a version's content secret wrapped for each recipient with HPKE
//! (spec/encryption.md, "Key envelope").
//!
//! Each recipient entry is one HPKE base-mode single-shot encryption (RFC 9180 §6.1) of
//! the 32-byte content secret, with the KEM of the recipient's key (X-Wing or
//! ML-KEM-1024), HKDF-SHA256 and AES-256-GCM:
//!
//! ```text
//!   info = "pqreg-envelope-v2"
//!   aad  = "pqreg-envelope-v2" || 0x00 || SHA-256 key ID of the recipient (32 bytes)
//! ```
//!
//! Each entry also carries the recipient's public key (its key ID must be that key's ID),
//! so whoever rotates the secret can seal a new envelope to the remaining recipients. The
//! envelope carries a commitment to the secret (spec/encryption.md §4.6), checked whenever
//! a secret is opened or wrapped into it, so every recipient of one envelope opens the
//! same secret.
//!
//! Parsing is strict: unknown fields, other versions or algorithms, non-canonical base64,
//! wrong lengths and a public key whose ID is not the entry's are refused, each with its
//! own [`EnvelopeError`] variant.

use std::collections::BTreeSet;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hpke::aead::AesGcm256;
use hpke::kdf::HkdfSha256;
use hpke::kem::{MlKem1024, XWing};
use hpke::{Deserializable, Kem, OpModeR, OpModeS, Serializable};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::Digest;
use crate::keys::{KemAlgorithm, KeyId, RecipientPrivateKey, RecipientPublicKey};

/// The envelope format version this code writes and reads.
pub const ENVELOPE_VERSION: u32 = 2;
/// HPKE `info` of every wrap, and the start of its AAD.
pub const HPKE_INFO: &[u8] = b"pqreg-envelope-v2";
/// Most recipients one envelope may list (bounds the work of opening a hostile one).
pub const MAX_RECIPIENTS: usize = 1024;
/// Bytes of a wrapped content secret: 32 bytes of secret and a 16-byte AES-GCM tag.
pub const WRAPPED_LEN: usize = 32 + 16;

/// HKDF-Expand `info` of the key commitment (spec/encryption.md §4.6).
pub const COMMITMENT_INFO: &[u8] = b"pqreg-secret-commitment-v2";

const KDF_NAME: &str = "hkdf-sha256";
const AEAD_NAME: &str = "aes-256-gcm";

/// Errors of this module.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// The system random number generator failed.
    #[error("the system random number generator failed")]
    Random,
    /// An envelope must have at least one recipient (unencrypted artifacts have none).
    #[error("a key envelope needs at least one recipient")]
    NoRecipients,
    /// More recipients than [`MAX_RECIPIENTS`].
    #[error("{0} recipients exceed the limit of {MAX_RECIPIENTS}")]
    TooManyRecipients(usize),
    /// Two entries (or an entry and a new recipient) have the same key ID.
    #[error("recipient {0} is listed twice")]
    DuplicateRecipient(KeyId),
    /// The key ID to remove is not in the envelope.
    #[error("recipient {0} is not in the envelope")]
    NotARecipient(KeyId),
    /// The envelope has no entry for this identity, and no entry opened with it.
    #[error("the envelope has no entry for key {0}")]
    NoEntry(KeyId),
    /// The entry for this identity did not open: decapsulation or AEAD failure (a
    /// corrupted entry, or a key that has the ID but not the private key).
    #[error("the entry for key {0} did not decrypt")]
    Unwrap(KeyId),
    /// The secret does not match the envelope's commitment: the entry that opened wraps
    /// another secret than the one the envelope commits to (a publisher giving
    /// recipients different secrets), or a writer passed the wrong secret.
    #[error("the content secret does not match the key envelope's commitment")]
    Commitment,
    /// An entry's public key does not have the entry's key ID (or is not a valid key of
    /// the entry's KEM): sealing to it would not reach the listed recipient.
    #[error("the public key listed for recipient {0} is not that recipient's key")]
    PublicKeyMismatch(KeyId),
    /// A recipient public key was refused by its KEM (e.g. an invalid X25519 point).
    #[error("recipient key {0} is not a valid public key for its KEM")]
    BadPublicKey(KeyId),
    /// A private key seed could not be used by its KEM.
    #[error("the private key is not valid for its KEM")]
    BadPrivateKey,
    /// HPKE failed to seal.
    #[error("HPKE sealing failed")]
    Seal,
    /// The JSON was not a key envelope (syntax, missing or unknown fields, types).
    #[error("malformed key envelope: {0}")]
    Malformed(String),
    /// The format version is not one this code reads.
    #[error("unsupported key envelope version {0}")]
    UnsupportedVersion(u64),
    /// An algorithm name is not one of version 1's.
    #[error("unsupported {field} algorithm {name:?}")]
    UnsupportedAlgorithm {
        /// Which field: `kem`, `kdf` or `aead`.
        field: &'static str,
        /// The name found.
        name: String,
    },
    /// A base64 field was not canonical standard base64 with padding.
    #[error("field {0} is not canonical base64")]
    BadBase64(&'static str),
    /// A decoded field had the wrong length for its algorithm.
    #[error("field {field} has {got} bytes, expected {want}")]
    BadLength {
        /// Which field: `enc`, `ciphertext`, `publicKey` or `commitment`.
        field: &'static str,
        /// Bytes found.
        got: usize,
        /// Bytes expected.
        want: usize,
    },
}

/// The random 256-bit secret of one version of a model (spec/encryption.md §3): a new one
/// for every push and every recipient removal. The index key and the key commitment
/// derive from it. Boxed (moves do not copy it around the stack), zeroized on drop,
/// never printed.
#[derive(Clone)]
pub struct ContentSecret(Box<Zeroizing<[u8; 32]>>);

impl PartialEq for ContentSecret {
    fn eq(&self, other: &Self) -> bool {
        // Constant time: the bytes are secret.
        aws_lc_rs::constant_time::verify_slices_are_equal(self.as_bytes(), other.as_bytes()).is_ok()
    }
}

impl Eq for ContentSecret {}

impl ContentSecret {
    /// A fresh secret from the system random number generator.
    pub fn generate() -> Result<Self, EnvelopeError> {
        let mut s = Self(Box::new(Zeroizing::new([0u8; 32])));
        aws_lc_rs::rand::fill(s.0.as_mut_slice()).map_err(|_| EnvelopeError::Random)?;
        Ok(s)
    }

    /// Copies raw secret bytes (known-answer tests, or a secret unwrapped elsewhere); the
    /// caller zeroizes its own copy.
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        let mut s = Self(Box::new(Zeroizing::new([0u8; 32])));
        s.0.copy_from_slice(bytes);
        s
    }

    /// The raw secret bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The commitment to this secret (spec/encryption.md §4.6).
    pub fn commitment(&self) -> [u8; 32] {
        // Public: the commitment is written into the envelope.
        *crate::segment::key::content_expand(self, COMMITMENT_INFO)
    }
}

impl std::fmt::Debug for ContentSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ContentSecret(..)")
    }
}

/// One recipient's wrapped copy of the content secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientEntry {
    /// The recipient key's ID (spec/keys.md): the ID of `public_key`.
    pub key_id: KeyId,
    /// The recipient key's KEM.
    pub kem: KemAlgorithm,
    /// The recipient's public key, so that a later version can be sealed to it.
    pub public_key: RecipientPublicKey,
    /// The HPKE encapsulated key (1120 bytes for X-Wing, 1568 for ML-KEM-1024).
    pub enc: Vec<u8>,
    /// The wrapped secret: AES-256-GCM ciphertext and tag, [`WRAPPED_LEN`] bytes.
    pub ciphertext: Vec<u8>,
}

/// The content secret wrapped for each recipient; carried in the artifact config.
///
/// Serializes to the JSON of spec/encryption.md; deserializing applies every check of
/// [`KeyEnvelope::from_json`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawEnvelope", into = "RawEnvelope")]
pub struct KeyEnvelope {
    commitment: [u8; 32],
    recipients: Vec<RecipientEntry>,
}

impl KeyEnvelope {
    /// Wraps `secret` for each of `recipients` (entries sorted by key ID).
    pub fn seal(
        secret: &ContentSecret,
        recipients: &[RecipientPublicKey],
    ) -> Result<Self, EnvelopeError> {
        if recipients.is_empty() {
            return Err(EnvelopeError::NoRecipients);
        }
        let mut env = Self {
            commitment: secret.commitment(),
            recipients: Vec::with_capacity(recipients.len()),
        };
        for pk in recipients {
            env.add_recipient(secret, pk)?;
        }
        Ok(env)
    }

    /// Adds an entry wrapping `secret` for `recipient`. The caller must pass the secret
    /// this envelope wraps (e.g. from [`KeyEnvelope::open`]); another one is refused
    /// ([`EnvelopeError::Commitment`]).
    pub fn add_recipient(
        &mut self,
        secret: &ContentSecret,
        recipient: &RecipientPublicKey,
    ) -> Result<(), EnvelopeError> {
        self.check_commitment(secret)?;
        let key_id = recipient.key_id();
        if self.recipients.iter().any(|e| e.key_id == key_id) {
            return Err(EnvelopeError::DuplicateRecipient(key_id));
        }
        if self.recipients.len() >= MAX_RECIPIENTS {
            return Err(EnvelopeError::TooManyRecipients(self.recipients.len() + 1));
        }
        let aad = wrap_aad(&key_id);
        let (enc, ciphertext) = match recipient.alg() {
            KemAlgorithm::XWing => {
                wrap::<XWing>(recipient.as_bytes(), secret.as_bytes(), &aad, key_id)?
            }
            KemAlgorithm::MlKem1024 => {
                wrap::<MlKem1024>(recipient.as_bytes(), secret.as_bytes(), &aad, key_id)?
            }
        };
        let entry = RecipientEntry {
            key_id,
            kem: recipient.alg(),
            public_key: recipient.clone(),
            enc,
            ciphertext,
        };
        let at = self.recipients.partition_point(|e| e.key_id < key_id);
        self.recipients.insert(at, entry);
        Ok(())
    }

    /// Removes the entry of `key_id`. This alone is not revocation (the removed key knows
    /// this secret): a recipient removal seals a new secret to [`Self::public_keys`] of
    /// what remains (spec/encryption.md §4.4).
    pub fn remove_recipient(&mut self, key_id: &KeyId) -> Result<(), EnvelopeError> {
        let Some(at) = self.recipients.iter().position(|e| e.key_id == *key_id) else {
            return Err(EnvelopeError::NotARecipient(*key_id));
        };
        if self.recipients.len() == 1 {
            return Err(EnvelopeError::NoRecipients);
        }
        self.recipients.remove(at);
        Ok(())
    }

    /// Unwraps the content secret with `identity` (its own entry by key ID if there is
    /// one, else every entry of the same KEM in turn) and checks it against the
    /// commitment.
    pub fn open(&self, identity: &RecipientPrivateKey) -> Result<ContentSecret, EnvelopeError> {
        let (key_id, opener) = Opener::new(identity)?;
        let secret = if let Some(entry) = self.recipients.iter().find(|e| e.key_id == key_id) {
            if entry.kem != identity.alg() {
                return Err(EnvelopeError::Unwrap(key_id));
            }
            opener.open(entry).ok_or(EnvelopeError::Unwrap(key_id))?
        } else {
            self.recipients
                .iter()
                .filter(|e| e.kem == identity.alg())
                .find_map(|e| opener.open(e))
                .ok_or(EnvelopeError::NoEntry(key_id))?
        };
        self.check_commitment(&secret)?;
        Ok(secret)
    }

    /// The commitment to the wrapped secret.
    pub fn commitment(&self) -> &[u8; 32] {
        &self.commitment
    }

    fn check_commitment(&self, secret: &ContentSecret) -> Result<(), EnvelopeError> {
        // A plain comparison: both sides are public (the commitment is in the config), so
        // its timing reveals nothing secret.
        if secret.commitment() == self.commitment {
            Ok(())
        } else {
            Err(EnvelopeError::Commitment)
        }
    }

    /// The entries, sorted by key ID.
    pub fn recipients(&self) -> &[RecipientEntry] {
        &self.recipients
    }

    /// The recipients' public keys, sorted by key ID: what a new envelope is sealed to
    /// when the secret rotates.
    pub fn public_keys(&self) -> Vec<RecipientPublicKey> {
        self.recipients
            .iter()
            .map(|e| e.public_key.clone())
            .collect()
    }

    /// The key IDs of the recipients, sorted.
    pub fn key_ids(&self) -> impl Iterator<Item = &KeyId> {
        self.recipients.iter().map(|e| &e.key_id)
    }

    /// Parses and checks the JSON form.
    pub fn from_json(json: &[u8]) -> Result<Self, EnvelopeError> {
        let raw: RawEnvelope =
            serde_json::from_slice(json).map_err(|e| EnvelopeError::Malformed(e.to_string()))?;
        Self::try_from(raw)
    }

    /// The JSON form (compact).
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing plain strings and numbers into a Vec cannot fail.
        serde_json::to_vec(&RawEnvelope::from(self.clone())).unwrap_or_default()
    }
}

fn wrap_aad(key_id: &KeyId) -> Vec<u8> {
    let mut aad = Vec::with_capacity(HPKE_INFO.len() + 1 + 32);
    aad.extend_from_slice(HPKE_INFO);
    aad.push(0);
    aad.extend_from_slice(key_id.0.as_bytes());
    aad
}

fn wrap<K: Kem>(
    pk: &[u8],
    secret: &[u8; 32],
    aad: &[u8],
    key_id: KeyId,
) -> Result<(Vec<u8>, Vec<u8>), EnvelopeError> {
    let pk = K::PublicKey::from_bytes(pk).map_err(|_| EnvelopeError::BadPublicKey(key_id))?;
    let (enc, ct) = hpke::single_shot_seal::<AesGcm256, HkdfSha256, K>(
        &OpModeS::Base,
        &pk,
        HPKE_INFO,
        secret,
        aad,
    )
    .map_err(|_| EnvelopeError::Seal)?;
    Ok((enc.to_bytes().to_vec(), ct))
}

/// A private key made ready for HPKE once, then tried against entries.
enum Opener {
    XWing(Box<<XWing as Kem>::PrivateKey>),
    MlKem1024(Box<<MlKem1024 as Kem>::PrivateKey>),
}

impl Opener {
    fn new(identity: &RecipientPrivateKey) -> Result<(KeyId, Self), EnvelopeError> {
        let seed = identity.seed();
        let bad = |_| EnvelopeError::BadPrivateKey;
        let (pk, opener) = match identity.alg() {
            KemAlgorithm::XWing => {
                let sk = <XWing as Kem>::PrivateKey::from_bytes(seed).map_err(bad)?;
                (
                    XWing::sk_to_pk(&sk).to_bytes().to_vec(),
                    Opener::XWing(Box::new(sk)),
                )
            }
            KemAlgorithm::MlKem1024 => {
                let sk = <MlKem1024 as Kem>::PrivateKey::from_bytes(seed).map_err(bad)?;
                (
                    MlKem1024::sk_to_pk(&sk).to_bytes().to_vec(),
                    Opener::MlKem1024(Box::new(sk)),
                )
            }
        };
        let pk = RecipientPublicKey::from_raw(identity.alg(), &pk)
            .map_err(|_| EnvelopeError::BadPrivateKey)?;
        Ok((pk.key_id(), opener))
    }

    fn open(&self, entry: &RecipientEntry) -> Option<ContentSecret> {
        let aad = wrap_aad(&entry.key_id);
        let pt = match self {
            Opener::XWing(sk) => unwrap::<XWing>(sk, entry, &aad),
            Opener::MlKem1024(sk) => unwrap::<MlKem1024>(sk, entry, &aad),
        }?;
        // Straight from the zeroized plaintext into the boxed secret: no stack copy.
        let bytes: &[u8; 32] = pt.as_slice().try_into().ok()?;
        Some(ContentSecret::from_bytes(bytes))
    }
}

fn unwrap<K: Kem>(
    sk: &K::PrivateKey,
    entry: &RecipientEntry,
    aad: &[u8],
) -> Option<Zeroizing<Vec<u8>>> {
    let enc = K::EncappedKey::from_bytes(&entry.enc).ok()?;
    hpke::single_shot_open::<AesGcm256, HkdfSha256, K>(
        &OpModeR::Base,
        sk,
        &enc,
        HPKE_INFO,
        &entry.ciphertext,
        aad,
    )
    .ok()
    .map(Zeroizing::new)
}

fn kem_enc_len(kem: KemAlgorithm) -> usize {
    match kem {
        KemAlgorithm::XWing => 1120,
        KemAlgorithm::MlKem1024 => 1568,
    }
}

fn kem_pk_len(kem: KemAlgorithm) -> usize {
    match kem {
        KemAlgorithm::XWing => 1216,
        KemAlgorithm::MlKem1024 => 1568,
    }
}

/// The JSON shape, before the checks.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnvelope {
    version: u64,
    kdf: String,
    aead: String,
    commitment: String,
    recipients: Vec<RawEntry>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawEntry {
    key_id: Digest,
    kem: String,
    public_key: String,
    enc: String,
    ciphertext: String,
}

fn decode_b64(field: &'static str, s: &str) -> Result<Vec<u8>, EnvelopeError> {
    let bytes = B64.decode(s).map_err(|_| EnvelopeError::BadBase64(field))?;
    // The engine already refuses bad padding and non-zero trailing bits; re-encoding
    // makes canonical form an explicit, tested property.
    if B64.encode(&bytes) != s {
        return Err(EnvelopeError::BadBase64(field));
    }
    Ok(bytes)
}

impl TryFrom<RawEnvelope> for KeyEnvelope {
    type Error = EnvelopeError;

    fn try_from(raw: RawEnvelope) -> Result<Self, EnvelopeError> {
        if raw.version != u64::from(ENVELOPE_VERSION) {
            return Err(EnvelopeError::UnsupportedVersion(raw.version));
        }
        if raw.kdf != KDF_NAME {
            return Err(EnvelopeError::UnsupportedAlgorithm {
                field: "kdf",
                name: raw.kdf,
            });
        }
        if raw.aead != AEAD_NAME {
            return Err(EnvelopeError::UnsupportedAlgorithm {
                field: "aead",
                name: raw.aead,
            });
        }
        let commitment = decode_b64("commitment", &raw.commitment)?;
        let commitment: [u8; 32] =
            commitment
                .as_slice()
                .try_into()
                .map_err(|_| EnvelopeError::BadLength {
                    field: "commitment",
                    got: commitment.len(),
                    want: 32,
                })?;
        if raw.recipients.is_empty() {
            return Err(EnvelopeError::NoRecipients);
        }
        if raw.recipients.len() > MAX_RECIPIENTS {
            return Err(EnvelopeError::TooManyRecipients(raw.recipients.len()));
        }
        let mut seen = BTreeSet::new();
        let mut recipients = Vec::with_capacity(raw.recipients.len());
        for e in raw.recipients {
            let kem = match e.kem.as_str() {
                n if n == KemAlgorithm::XWing.name() => KemAlgorithm::XWing,
                n if n == KemAlgorithm::MlKem1024.name() => KemAlgorithm::MlKem1024,
                _ => {
                    return Err(EnvelopeError::UnsupportedAlgorithm {
                        field: "kem",
                        name: e.kem,
                    });
                }
            };
            let key_id = KeyId(e.key_id);
            if !seen.insert(key_id) {
                return Err(EnvelopeError::DuplicateRecipient(key_id));
            }
            let pk = decode_b64("publicKey", &e.public_key)?;
            if pk.len() != kem_pk_len(kem) {
                return Err(EnvelopeError::BadLength {
                    field: "publicKey",
                    got: pk.len(),
                    want: kem_pk_len(kem),
                });
            }
            let public_key = RecipientPublicKey::from_raw(kem, &pk)
                .map_err(|_| EnvelopeError::PublicKeyMismatch(key_id))?;
            if public_key.key_id() != key_id {
                return Err(EnvelopeError::PublicKeyMismatch(key_id));
            }
            let enc = decode_b64("enc", &e.enc)?;
            if enc.len() != kem_enc_len(kem) {
                return Err(EnvelopeError::BadLength {
                    field: "enc",
                    got: enc.len(),
                    want: kem_enc_len(kem),
                });
            }
            let ciphertext = decode_b64("ciphertext", &e.ciphertext)?;
            if ciphertext.len() != WRAPPED_LEN {
                return Err(EnvelopeError::BadLength {
                    field: "ciphertext",
                    got: ciphertext.len(),
                    want: WRAPPED_LEN,
                });
            }
            recipients.push(RecipientEntry {
                key_id,
                kem,
                public_key,
                enc,
                ciphertext,
            });
        }
        // Order is not significant on input; keep ours canonical (sorted by key ID).
        recipients.sort_by_key(|e| e.key_id);
        Ok(Self {
            commitment,
            recipients,
        })
    }
}

impl From<KeyEnvelope> for RawEnvelope {
    fn from(env: KeyEnvelope) -> Self {
        Self {
            version: u64::from(ENVELOPE_VERSION),
            kdf: KDF_NAME.to_owned(),
            aead: AEAD_NAME.to_owned(),
            commitment: B64.encode(env.commitment),
            recipients: env
                .recipients
                .into_iter()
                .map(|e| RawEntry {
                    key_id: e.key_id.0,
                    kem: e.kem.name().to_owned(),
                    public_key: B64.encode(e.public_key.as_bytes()),
                    enc: B64.encode(&e.enc),
                    ciphertext: B64.encode(&e.ciphertext),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xwing_identity(ikm: u8) -> (RecipientPrivateKey, RecipientPublicKey) {
        let (sk, _) = XWing::derive_keypair(&[ikm; 32]);
        let sk = RecipientPrivateKey::from_seed(KemAlgorithm::XWing, &sk.to_bytes()).unwrap();
        let pk = sk.public_key().unwrap();
        (sk, pk)
    }

    fn mlkem_identity(ikm: u8) -> (RecipientPrivateKey, RecipientPublicKey) {
        let (sk, _) = MlKem1024::derive_keypair(&[ikm; 64]);
        let sk = RecipientPrivateKey::from_seed(KemAlgorithm::MlKem1024, &sk.to_bytes()).unwrap();
        let pk = sk.public_key().unwrap();
        (sk, pk)
    }

    #[test]
    fn seal_open_both_kems() {
        let secret = ContentSecret::from_bytes(&[9; 32]);
        let (a_sk, a_pk) = xwing_identity(1);
        let (b_sk, b_pk) = mlkem_identity(2);
        let env = KeyEnvelope::seal(&secret, &[a_pk, b_pk]).unwrap();
        assert_eq!(env.open(&a_sk).unwrap(), secret);
        assert_eq!(env.open(&b_sk).unwrap(), secret);
        let (c_sk, _) = xwing_identity(3);
        assert!(matches!(env.open(&c_sk), Err(EnvelopeError::NoEntry(_))));
    }
}

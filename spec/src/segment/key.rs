//! Keys of the AES-256-GCM records (spec/encryption.md §5): a random key per chunk
//! sealing, and the index key derived from the version's content secret.
//!
//! ```text
//!   chunk key = 32 bytes from the CSPRNG, fresh for every chunk the packer seals;
//!               carried in the chunk's (encrypted) index entry
//!   prk       = HKDF-Extract(salt = "pqreg-content-v2", ikm = content secret)
//!   index key = HKDF-Expand(prk, info = "pqreg-index-key-v2", 32)
//!   commitment = HKDF-Expand(prk, info = "pqreg-secret-commitment-v2", 32)  (envelope.rs)
//! ```
//!
//! A chunk key is drawn for one sealing and never derived again, and a content secret
//! (hence its index key) seals one index: every key seals exactly one byte string, which
//! is what makes the counter nonces safe whatever the encoder does.

use aws_lc_rs::aead::{AES_256_GCM, LessSafeKey, UnboundKey};
use aws_lc_rs::hkdf::{HKDF_SHA256, Salt};
use zeroize::Zeroizing;

use super::SegmentError;
use crate::envelope::ContentSecret;

/// HKDF-Extract salt of the content-secret PRK.
pub const CONTENT_SALT: &[u8] = b"pqreg-content-v2";
/// HKDF-Expand info of the index key.
pub const INDEX_KEY_INFO: &[u8] = b"pqreg-index-key-v2";

/// `HKDF-Expand(HKDF-Extract("pqreg-content-v2", secret), info, 32)`: the index key here,
/// the key commitment in [`ContentSecret::commitment`].
pub(crate) fn content_expand(secret: &ContentSecret, info: &[u8]) -> Zeroizing<[u8; 32]> {
    let prk = Salt::new(HKDF_SHA256, CONTENT_SALT).extract(secret.as_bytes());
    let mut out = Zeroizing::new([0u8; 32]);
    // Both calls fail only for outputs longer than 255 hash lengths; 32 bytes is one.
    match prk
        .expand(&[info], HKDF_SHA256)
        .and_then(|okm| okm.fill(out.as_mut()))
    {
        Ok(()) => out,
        Err(_) => unreachable!("HKDF-SHA256 refused a 32-byte output"),
    }
}

/// The AES-256-GCM key of one sealed byte string (a chunk, or the index). The raw bytes
/// are boxed, so moving the key does not leave copies on the stack, and zeroized on drop.
pub struct ChunkKey {
    bytes: Box<Zeroizing<[u8; 32]>>,
    aead: LessSafeKey,
}

impl ChunkKey {
    /// A fresh random key, for sealing one chunk (spec/encryption.md §5).
    pub fn generate() -> Result<Self, SegmentError> {
        let mut bytes = Box::new(Zeroizing::new([0u8; 32]));
        aws_lc_rs::rand::fill(bytes.as_mut_slice()).map_err(|_| SegmentError::Random)?;
        Ok(Self::from_boxed(bytes))
    }

    /// The key that seals the index of the version whose content secret is `secret`.
    pub fn index_key(secret: &ContentSecret) -> Self {
        let out = content_expand(secret, INDEX_KEY_INFO);
        Self::from_bytes(&out)
    }

    /// Copies raw key bytes (an index entry's `key`, known-answer tests); the caller
    /// zeroizes its own copy.
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        let mut boxed = Box::new(Zeroizing::new([0u8; 32]));
        boxed.copy_from_slice(bytes);
        Self::from_boxed(boxed)
    }

    fn from_boxed(bytes: Box<Zeroizing<[u8; 32]>>) -> Self {
        let aead = match UnboundKey::new(&AES_256_GCM, bytes.as_slice()) {
            Ok(k) => LessSafeKey::new(k),
            // AES-256-GCM accepts every 32-byte key; aws-lc-rs fails only on a length
            // mismatch, which the array type rules out.
            Err(_) => unreachable!("AES-256-GCM rejected a 32-byte key"),
        };
        Self { bytes, aead }
    }

    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    pub(crate) fn aead(&self) -> &LessSafeKey {
        &self.aead
    }
}

impl Clone for ChunkKey {
    fn clone(&self) -> Self {
        Self::from_bytes(&self.bytes)
    }
}

impl PartialEq for ChunkKey {
    fn eq(&self, other: &Self) -> bool {
        // Constant time: keys are secret.
        aws_lc_rs::constant_time::verify_slices_are_equal(self.as_bytes(), other.as_bytes()).is_ok()
    }
}

impl Eq for ChunkKey {}

impl std::fmt::Debug for ChunkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChunkKey(..)")
    }
}

//! Chunk keys: one AES-256-GCM key per distinct chunk plaintext of a lineage
//! (spec/encryption.md, "Chunk keys").
//!
//! ```text
//!   prk       = HKDF-Extract(salt = "pqreg-lineage-v1", ikm = lineage secret)
//!   chunk key = HKDF-Expand(prk, info = "pqreg-chunk-key-v1" || SHA-256(chunk plaintext), 32)
//! ```
//!
//! Equal chunks of one lineage get equal keys and, because nonces are the segment
//! counter, equal blobs (stored once); other lineages have other secrets, so nothing is
//! shared across them. A key seals exactly one plaintext, which is what makes the
//! counter nonce safe.

use aws_lc_rs::aead::{AES_256_GCM, LessSafeKey, UnboundKey};
use aws_lc_rs::hkdf::{HKDF_SHA256, Salt};
use zeroize::Zeroizing;

use crate::Digest;
use crate::envelope::LineageSecret;

/// HKDF-Extract salt of the lineage PRK.
pub const LINEAGE_SALT: &[u8] = b"pqreg-lineage-v1";
/// HKDF-Expand info prefix of a chunk key; the plaintext digest's 32 bytes follow.
pub const CHUNK_KEY_INFO: &[u8] = b"pqreg-chunk-key-v1";

/// `HKDF-Expand(HKDF-Extract("pqreg-lineage-v1", secret), info, 32)`, `info` the
/// concatenation of the parts: chunk keys here, the key commitment in
/// [`LineageSecret::commitment`].
pub(crate) fn lineage_expand(secret: &LineageSecret, info: &[&[u8]]) -> Zeroizing<[u8; 32]> {
    let prk = Salt::new(HKDF_SHA256, LINEAGE_SALT).extract(secret.as_bytes());
    let mut out = Zeroizing::new([0u8; 32]);
    // Both calls fail only for outputs longer than 255 hash lengths; 32 bytes is one.
    match prk
        .expand(info, HKDF_SHA256)
        .and_then(|okm| okm.fill(out.as_mut()))
    {
        Ok(()) => out,
        Err(_) => unreachable!("HKDF-SHA256 refused a 32-byte output"),
    }
}

/// The AES-256-GCM key of one chunk.
pub struct ChunkKey {
    bytes: Zeroizing<[u8; 32]>,
    aead: LessSafeKey,
}

impl ChunkKey {
    /// Derives the key of the chunk whose plaintext has SHA-256 `plaintext_digest`.
    pub fn derive(secret: &LineageSecret, plaintext_digest: &Digest) -> Self {
        let out = lineage_expand(secret, &[CHUNK_KEY_INFO, plaintext_digest.as_bytes()]);
        Self::from_bytes(*out)
    }

    /// Wraps raw key bytes (known-answer tests, or a key derived elsewhere).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        let bytes = Zeroizing::new(bytes);
        let aead = match UnboundKey::new(&AES_256_GCM, bytes.as_ref()) {
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
        Self::from_bytes(*self.bytes)
    }
}

impl std::fmt::Debug for ChunkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChunkKey(..)")
    }
}

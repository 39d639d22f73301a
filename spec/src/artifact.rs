//! pqreg's own documents (spec/artifact.md): the media types of a model artifact, the
//! config (plaintext JSON: versions, algorithms, the key envelope) and the index (the
//! file tree and each file's chunk list, encrypted in layer 0), and the checks that tie
//! them to the OCI manifest that carries them.
//!
//! Unlike OCI documents, these are strict: unknown fields are errors (a field this code
//! does not understand may change what the document means), and every document carries
//! `formatVersion`.

pub mod chunking;
pub mod gguf;
mod index;
mod model;
mod path;
pub mod safetensors;

use serde::{Deserialize, Serialize};

use crate::envelope::KeyEnvelope;
use crate::oci::{FormatError, json};

pub use index::{Chunk, File, Index, MAX_CHUNK_LEN, MAX_CHUNKS, MAX_FILES, MODE_EXEC, MODE_FILE};
pub use model::ModelManifest;
pub use path::check_path;

/// The only `formatVersion` this code reads and writes (of the config and the index).
/// Version 1 derived chunk keys from plaintext digests and named the index's plaintext
/// digest in the config; it is refused.
pub const FORMAT_VERSION: u32 = 2;

/// Plaintext bytes per segment (spec/encryption.md).
pub const SEGMENT_SIZE: u64 = crate::segment::SEGMENT_SIZE as u64;

/// Largest config document accepted, in bytes.
pub const MAX_CONFIG_LEN: usize = 1 << 20;

/// Largest index document accepted, in bytes.
pub const MAX_INDEX_LEN: usize = 64 << 20;

/// pqreg media types (spec/artifact.md, "Media types").
pub mod media_types {
    /// The manifest's `artifactType`.
    pub const MODEL: &str = "application/vnd.pqreg.model.v1";
    /// The config blob.
    pub const CONFIG: &str = "application/vnd.pqreg.config.v1+json";
    /// Layer 0 of an encrypted model: the index, compressed and sealed in segments.
    pub const INDEX_ENCRYPTED: &str = "application/vnd.pqreg.index.v1+json+aes256gcm";
    /// Layer 0 of an unencrypted model: the index JSON itself.
    pub const INDEX: &str = "application/vnd.pqreg.index.v1+json";
    /// A chunk of an encrypted model: segments compressed, then sealed.
    pub const CHUNK_ENCRYPTED: &str = "application/vnd.pqreg.chunk.v1+aes256gcm";
    /// A chunk of an unencrypted model: segments compressed, framed, not sealed.
    pub const CHUNK: &str = "application/vnd.pqreg.chunk.v1+zstd";
}

/// Algorithm identifiers (spec/artifact.md, "Config").
pub mod algorithms {
    /// SHA-256, the only digest.
    pub const DIGEST_SHA256: &str = "sha256";
    /// AES-256-GCM segment sealing (spec/encryption.md).
    pub const AEAD_AES256GCM: &str = "aes-256-gcm";
    /// HKDF-SHA-256: the index key and the key commitment (spec/encryption.md).
    pub const KDF_HKDF_SHA256: &str = "hkdf-sha256";
    /// No encryption (aead and kdf of an unencrypted model).
    pub const NONE: &str = "none";
    /// Weight-aware byte planes, each a zstd frame or raw (`compress.rs`).
    pub const COMPRESSION_PLANES_ZSTD: &str = "planes-zstd-v1";
}

/// The algorithms a model was packed with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Algorithms {
    /// Digest of plaintext and blobs: `sha256`.
    pub digest: String,
    /// Segment AEAD: `aes-256-gcm`, or `none` for an unencrypted model.
    pub aead: String,
    /// Index-key derivation: `hkdf-sha256`, or `none` for an unencrypted model.
    pub kdf: String,
    /// Segment compression: `planes-zstd-v1`.
    pub compression: String,
}

impl Algorithms {
    /// The algorithms of an encrypted model.
    pub fn encrypted() -> Self {
        Algorithms {
            digest: algorithms::DIGEST_SHA256.into(),
            aead: algorithms::AEAD_AES256GCM.into(),
            kdf: algorithms::KDF_HKDF_SHA256.into(),
            compression: algorithms::COMPRESSION_PLANES_ZSTD.into(),
        }
    }

    /// The algorithms of an unencrypted model.
    pub fn unencrypted() -> Self {
        Algorithms {
            aead: algorithms::NONE.into(),
            kdf: algorithms::NONE.into(),
            ..Self::encrypted()
        }
    }

    fn check(&self) -> Result<bool, FormatError> {
        let bad = |field, value: &String| FormatError::UnsupportedAlgorithm {
            field,
            value: value.clone(),
        };
        if self.digest != algorithms::DIGEST_SHA256 {
            return Err(bad("digest", &self.digest));
        }
        if self.compression != algorithms::COMPRESSION_PLANES_ZSTD {
            return Err(bad("compression", &self.compression));
        }
        let encrypted = match self.aead.as_str() {
            algorithms::AEAD_AES256GCM => true,
            algorithms::NONE => false,
            _ => return Err(bad("aead", &self.aead)),
        };
        let want_kdf = if encrypted {
            algorithms::KDF_HKDF_SHA256
        } else {
            algorithms::NONE
        };
        if self.kdf != want_kdf {
            return Err(bad("kdf", &self.kdf));
        }
        Ok(encrypted)
    }
}

/// The config blob (`application/vnd.pqreg.config.v1+json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Config {
    /// Always [`FORMAT_VERSION`].
    pub format_version: u32,
    /// The algorithms used.
    pub algorithms: Algorithms,
    /// Plaintext bytes per segment: [`SEGMENT_SIZE`].
    pub segment_size: u64,
    /// The version's content secret wrapped for each recipient; absent for an
    /// unencrypted model. (The config names nothing of the index: layer 0 is the index,
    /// bound by its descriptor or, encrypted, by its AEAD under the committed secret.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_envelope: Option<KeyEnvelope>,
}

impl Config {
    /// Parses and checks a config.
    pub fn from_json(bytes: &[u8]) -> Result<Self, FormatError> {
        let c: Config = json::parse(bytes, MAX_CONFIG_LEN)?;
        c.validate()?;
        Ok(c)
    }

    /// Encodes the config as compact JSON.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("config serialization cannot fail: string keys only")
    }

    /// Whether the model is encrypted.
    pub fn is_encrypted(&self) -> bool {
        self.key_envelope.is_some()
    }

    /// Checks version, algorithms, segment size, and that the envelope is present exactly
    /// when the algorithms say the model is encrypted.
    pub fn validate(&self) -> Result<(), FormatError> {
        if self.format_version != FORMAT_VERSION {
            return Err(FormatError::FormatVersion(self.format_version));
        }
        let encrypted = self.algorithms.check()?;
        if self.segment_size != SEGMENT_SIZE {
            return Err(FormatError::SegmentSize(self.segment_size));
        }
        match (encrypted, self.key_envelope.is_some()) {
            (true, false) => Err(FormatError::EncryptionMode(
                "aead is set but there is no keyEnvelope",
            )),
            (false, true) => Err(FormatError::EncryptionMode(
                "aead is none but there is a keyEnvelope",
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests;

//! The index (spec/artifact.md, "Index"): every file of the model, its plaintext
//! digest, and the ordered chunks that rebuild it.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::{FORMAT_VERSION, MAX_INDEX_LEN, SEGMENT_SIZE, check_path};
use crate::Digest;
use crate::compress::Layout;
use crate::oci::{FormatError, json};
use crate::segment::ChunkKey;

/// Mode of an ordinary file (`0644`).
pub const MODE_FILE: u32 = 0o644;
/// Mode of an executable file (`0755`).
pub const MODE_EXEC: u32 = 0o755;
/// Most files in one index.
pub const MAX_FILES: usize = 1 << 20;
/// Most chunks in one index.
pub const MAX_CHUNKS: usize = 1 << 22;
/// Longest chunk, in plaintext bytes (the packer targets ~64 MiB).
pub const MAX_CHUNK_LEN: u64 = 1 << 30;

/// Bytes each record adds in the clear (codec, flags, body length; spec/encryption.md).
const RECORD_HEADER: u64 = crate::segment::HEADER_LEN as u64;
/// Bytes of the AEAD tag of each sealed record (spec/encryption.md).
const RECORD_TAG: u64 = crate::segment::TAG_LEN as u64;

/// The index document (`application/vnd.pqreg.index.v1+json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Index {
    /// Always [`FORMAT_VERSION`].
    pub format_version: u32,
    /// The files, sorted by path (bytewise).
    pub files: Vec<File>,
}

/// One file of the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct File {
    /// Relative `/`-separated path ([`check_path`]).
    pub path: String,
    /// Length in bytes.
    pub size: u64,
    /// [`MODE_FILE`] or [`MODE_EXEC`].
    pub mode: u32,
    /// SHA-256 of the whole file.
    pub digest: Digest,
    /// The chunks, in file order, covering `0..size` exactly once.
    pub chunks: Vec<Chunk>,
}

/// One chunk: a piece of a file stored as one blob (layer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Chunk {
    /// Offset of the chunk in the file.
    pub offset: u64,
    /// Plaintext length.
    pub length: u64,
    /// SHA-256 of the chunk's plaintext: a puller checks every decrypted chunk against it.
    pub digest: Digest,
    /// Digest of the blob (the manifest layer) that holds the chunk.
    pub layer: Digest,
    /// Size of that blob.
    pub layer_size: u64,
    /// How the chunk's segments were split into planes.
    pub layout: Layout,
    /// Zero bytes sealed after the plaintext in the blob (size padding,
    /// spec/encryption.md §6.5): present, 0 included, on every chunk of a padded push;
    /// `None` (absent from the JSON) when the chunk is not padded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub padding: Option<u64>,
    /// The chunk's AES-256-GCM key (JSON: `key`, base64), drawn at random when the
    /// chunk was sealed (spec/encryption.md §5); absent in an unencrypted model.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "key_b64")]
    pub key: Option<ChunkKey>,
}

/// `key` as canonical padded base64 of exactly 32 bytes.
mod key_b64 {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as B64;
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};
    use zeroize::Zeroizing;

    use crate::segment::ChunkKey;

    pub(super) fn serialize<S: Serializer>(
        key: &Option<ChunkKey>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match key {
            Some(k) => s.serialize_str(&Zeroizing::new(B64.encode(k.as_bytes()))),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<ChunkKey>, D::Error> {
        let text = Zeroizing::new(String::deserialize(d)?);
        let bytes = Zeroizing::new(
            B64.decode(text.as_bytes())
                .map_err(|_| D::Error::custom("chunk key is not base64"))?,
        );
        let arr: &[u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| D::Error::custom("chunk key is not 32 bytes"))?;
        // Canonical form only: one encoding per key.
        if *Zeroizing::new(B64.encode(arr)) != *text {
            return Err(D::Error::custom("chunk key is not canonical base64"));
        }
        Ok(Some(ChunkKey::from_bytes(arr)))
    }
}

impl Index {
    /// Parses and checks an index.
    pub fn from_json(bytes: &[u8]) -> Result<Self, FormatError> {
        let idx: Index = json::parse(bytes, MAX_INDEX_LEN)?;
        idx.validate()?;
        Ok(idx)
    }

    /// Whether the index is padded (spec/encryption.md §6.5): its chunks carry `padding`.
    pub fn is_padded(&self) -> bool {
        self.files
            .iter()
            .flat_map(|f| &f.chunks)
            .any(|c| c.padding.is_some())
    }

    /// Encodes the index as compact JSON.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("index serialization cannot fail: string keys only")
    }

    /// Checks everything the index says about itself: version, counts, paths (valid,
    /// sorted, unique even ignoring ASCII case, no file under another file), modes, and
    /// that each file's chunks cover it exactly, with plausible layer sizes, that a chunk
    /// digest always names the same layer, length and key, and a layer one chunk digest.
    pub fn validate(&self) -> Result<(), FormatError> {
        if self.format_version != FORMAT_VERSION {
            return Err(FormatError::FormatVersion(self.format_version));
        }
        if self.files.len() > MAX_FILES {
            return Err(FormatError::TooMany {
                what: "files",
                count: self.files.len(),
                max: MAX_FILES,
            });
        }
        let chunks: usize = self.files.iter().map(|f| f.chunks.len()).sum();
        if chunks > MAX_CHUNKS {
            return Err(FormatError::TooMany {
                what: "chunks",
                count: chunks,
                max: MAX_CHUNKS,
            });
        }
        self.check_paths()?;
        // A chunk digest names one layer, length and key; a layer holds one chunk.
        type Seen = (Digest, u64, u64, Option<u64>, Option<ChunkKey>);
        let mut seen: HashMap<Digest, Seen> = HashMap::new();
        let mut layer_of: HashMap<Digest, Digest> = HashMap::new();
        for f in &self.files {
            if f.mode != MODE_FILE && f.mode != MODE_EXEC {
                return Err(FormatError::BadMode {
                    path: f.path.clone(),
                    mode: f.mode,
                });
            }
            f.check_chunks()?;
            for c in &f.chunks {
                let v = (c.layer, c.layer_size, c.length, c.padding, c.key.clone());
                if *seen.entry(c.digest).or_insert_with(|| v.clone()) != v
                    || *layer_of.entry(c.layer).or_insert(c.digest) != c.digest
                {
                    return Err(FormatError::ChunkConflict(c.digest.to_string()));
                }
            }
        }
        Ok(())
    }

    fn check_paths(&self) -> Result<(), FormatError> {
        let mut folded = HashSet::with_capacity(self.files.len());
        for (i, f) in self.files.iter().enumerate() {
            check_path(&f.path)?;
            if !folded.insert(f.path.to_ascii_lowercase()) {
                return Err(FormatError::DuplicatePath(f.path.clone()));
            }
            if i > 0 && self.files[i - 1].path.as_bytes() >= f.path.as_bytes() {
                return Err(FormatError::BadPath {
                    path: f.path.clone(),
                    reason: "files not sorted by path",
                });
            }
        }
        // No file may be a directory of another: "a" and "a/b" cannot both be files.
        for f in &self.files {
            let mut prefix = f.path.as_str();
            while let Some((dir, _)) = prefix.rsplit_once('/') {
                if folded.contains(&dir.to_ascii_lowercase()) {
                    return Err(FormatError::PathConflict(dir.to_owned()));
                }
                prefix = dir;
            }
        }
        Ok(())
    }

    /// The distinct layers the chunks live in, with their sizes, in first-use order.
    pub fn layers(&self) -> Vec<(Digest, u64)> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for c in self.files.iter().flat_map(|f| &f.chunks) {
            if seen.insert(c.layer) {
                out.push((c.layer, c.layer_size));
            }
        }
        out
    }
}

impl File {
    fn check_chunks(&self) -> Result<(), FormatError> {
        let mut at = 0u64;
        for c in &self.chunks {
            if c.offset > at {
                return Err(FormatError::ChunkGap {
                    path: self.path.clone(),
                    offset: c.offset,
                });
            }
            if c.offset < at {
                return Err(FormatError::ChunkOverlap {
                    path: self.path.clone(),
                    offset: c.offset,
                });
            }
            if c.length == 0 || c.length > MAX_CHUNK_LEN {
                return Err(FormatError::ChunkLength {
                    path: self.path.clone(),
                    offset: c.offset,
                    length: c.length,
                });
            }
            // `length` is at most 2^30 (checked above), so the sum cannot overflow.
            let sealed = c.length + c.padding.unwrap_or(0).min(MAX_CHUNK_LEN);
            if sealed > MAX_CHUNK_LEN {
                return Err(FormatError::Padding {
                    chunk: c.digest.to_string(),
                    reason: "length + padding is over 2^30",
                });
            }
            // A padded chunk is stored (spec/encryption.md §6.5): its size is exact.
            let exact =
                c.padding.is_none() || crate::segment::ciphertext_len(sealed) == Some(c.layer_size);
            if !exact || !layer_size_plausible(sealed, c.layer_size) {
                return Err(FormatError::LayerSize {
                    chunk: c.digest.to_string(),
                    length: c.length,
                    layer_size: c.layer_size,
                });
            }
            at = c.offset + c.length; // cannot overflow: both at most 2^30 past `at`
            if at > self.size {
                break;
            }
        }
        if at != self.size {
            return Err(FormatError::FileSizeMismatch {
                path: self.path.clone(),
                covered: at,
                size: self.size,
            });
        }
        Ok(())
    }
}

/// Whether a blob of `layer_size` bytes can hold `length` plaintext bytes in records:
/// each of the `ceil(length / 1 MiB)` records has a 6-byte header, at most a segment of
/// body (a body never exceeds its plaintext) and, when sealed, a 16-byte tag.
fn layer_size_plausible(length: u64, layer_size: u64) -> bool {
    let records = length.div_ceil(SEGMENT_SIZE);
    layer_size >= records * RECORD_HEADER
        && layer_size <= length + records * (RECORD_HEADER + RECORD_TAG)
}

//! [`FormatError`]: every way an OCI or pqreg JSON document can break spec/artifact.md.

use crate::digest::DigestError;

/// Why an OCI manifest, OCI index, pqreg config or pqreg index was refused.
///
/// One variant per check, so a negative test can assert which check fired.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    // --- JSON level -------------------------------------------------------------------
    /// Not JSON (syntax error, bad UTF-8, truncated).
    #[error("not valid JSON: {0}")]
    Json(String),
    /// Bytes other than whitespace follow the document.
    #[error("data after the JSON document at byte {offset}")]
    TrailingData {
        /// Offset of the first byte after the document that is not whitespace.
        offset: usize,
    },
    /// A key appears twice in one object.
    #[error("duplicate key {0:?}")]
    DuplicateKey(String),
    /// The document is larger than its limit.
    #[error("document is {len} bytes, the limit is {max}")]
    TooLarge {
        /// Length of the document.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A field pqreg's strict documents do not define.
    #[error("unknown field {0:?}")]
    UnknownField(String),
    /// A required field is missing.
    #[error("missing field {0:?}")]
    MissingField(String),
    /// A field has the wrong JSON type or an impossible value.
    #[error("document does not match its schema: {0}")]
    Schema(String),

    // --- OCI --------------------------------------------------------------------------
    /// `schemaVersion` is not 2.
    #[error("schemaVersion is {0}, must be 2")]
    SchemaVersion(String),
    /// A media type is not `type/subtype` per RFC 6838.
    #[error("media type {0:?} does not follow RFC 6838")]
    BadMediaType(String),
    /// The document's `mediaType` differs from the one it was pushed or parsed as.
    #[error("document mediaType {declared:?} differs from {expected:?}")]
    MediaTypeMismatch {
        /// What the document says.
        declared: String,
        /// What it was pushed or parsed as.
        expected: String,
    },
    /// A manifest media type this crate does not parse.
    #[error("unsupported manifest media type {0:?}")]
    UnsupportedMediaType(String),
    /// A manifest carries index fields or an index carries manifest fields.
    #[error("ambiguous document: {0}")]
    Ambiguous(&'static str),
    /// A descriptor's digest is malformed or not sha256.
    #[error("bad digest: {0}")]
    Digest(#[from] DigestError),
    /// A size is negative.
    #[error("size {0} is negative")]
    NegativeSize(i64),
    /// A size is not an integer in 0..=i64::MAX (or pqreg's own, tighter, limit).
    #[error("size {0} is out of range")]
    SizeOutOfRange(String),
    /// A descriptor URL is empty or contains whitespace or control characters.
    #[error("bad descriptor URL {0:?}")]
    BadUrl(String),
    /// Embedded `data` is not base64.
    #[error("descriptor data is not base64")]
    BadEmbeddedData,
    /// Embedded `data` does not match the descriptor's size or digest.
    #[error("descriptor data does not match its size and digest")]
    EmbeddedDataMismatch,
    /// The config is the empty descriptor but `artifactType` is missing.
    #[error("artifactType is required when config is the empty descriptor")]
    MissingArtifactType,

    // --- pqreg documents ----------------------------------------------------------------
    /// The manifest is not a pqreg model manifest (artifactType, config or layer types).
    #[error("not a pqreg model manifest: {0}")]
    NotModelManifest(String),
    /// `formatVersion` is not one this code reads.
    #[error("unsupported format version {0}")]
    FormatVersion(u32),
    /// An algorithm identifier this code does not know.
    #[error("unsupported algorithm {field}: {value:?}")]
    UnsupportedAlgorithm {
        /// Which field.
        field: &'static str,
        /// Its value.
        value: String,
    },
    /// Encrypted layers without a key envelope, or an envelope on an unencrypted model.
    #[error("encryption mode is inconsistent: {0}")]
    EncryptionMode(&'static str),
    /// `segmentSize` is not the one pqreg uses.
    #[error("segment size {0} is not supported")]
    SegmentSize(u64),
    /// A file path breaks the path rules (absolute, `..`, empty component, ...).
    #[error("bad path {path:?}: {reason}")]
    BadPath {
        /// The path.
        path: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// Two entries have the same path (compared case-insensitively).
    #[error("duplicate path {0:?}")]
    DuplicatePath(String),
    /// A path is both a file and a directory of another entry.
    #[error("path {0:?} is a file and a directory prefix of another file")]
    PathConflict(String),
    /// A file mode other than 0644 / 0755.
    #[error("file {path:?} has mode {mode:o}, allowed are 644 and 755")]
    BadMode {
        /// The path.
        path: String,
        /// The mode.
        mode: u32,
    },
    /// A chunk starts after the end of the previous one.
    #[error("file {path:?}: gap before the chunk at offset {offset}")]
    ChunkGap {
        /// The file.
        path: String,
        /// The chunk's offset.
        offset: u64,
    },
    /// A chunk starts before the end of the previous one.
    #[error("file {path:?}: chunk at offset {offset} overlaps the previous one")]
    ChunkOverlap {
        /// The file.
        path: String,
        /// The chunk's offset.
        offset: u64,
    },
    /// A chunk is empty or larger than the chunk limit.
    #[error("file {path:?}: chunk at offset {offset} has bad length {length}")]
    ChunkLength {
        /// The file.
        path: String,
        /// The chunk's offset.
        offset: u64,
        /// Its length.
        length: u64,
    },
    /// The chunks of a file do not add up to its size.
    #[error("file {path:?}: chunks cover {covered} bytes, the file has {size}")]
    FileSizeMismatch {
        /// The file.
        path: String,
        /// Bytes the chunks cover.
        covered: u64,
        /// The file's size.
        size: u64,
    },
    /// A chunk's ciphertext size cannot hold its plaintext in the segment framing.
    #[error("chunk {chunk}: layer size {layer_size} is impossible for {length} plaintext bytes")]
    LayerSize {
        /// The chunk digest.
        chunk: String,
        /// Plaintext length.
        length: u64,
        /// Layer (blob) size.
        layer_size: u64,
    },
    /// A chunk's size padding is impossible (spec/encryption.md §6.5).
    #[error("chunk {chunk}: bad padding: {reason}")]
    Padding {
        /// The chunk digest.
        chunk: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// One chunk digest maps to two different layers, lengths or keys, or one layer holds
    /// two chunk digests.
    #[error(
        "chunk {0} is listed with two different layers, lengths or keys, or shares a layer with another chunk"
    )]
    ChunkConflict(String),
    /// An index layer is not a layer of the manifest, or a manifest layer is unused.
    #[error("index and manifest disagree: {0}")]
    LayerMismatch(String),
    /// A chunk codec this code does not know.
    #[error("unknown chunk codec {0:?}")]
    UnknownCodec(String),
    /// A safetensors header could not be read for chunking (the packer falls back to
    /// content-defined chunking).
    #[error("not a usable safetensors file: {0}")]
    Safetensors(#[from] crate::artifact::safetensors::SafetensorsError),
    /// A GGUF header could not be read for chunking (the packer falls back to
    /// content-defined chunking).
    #[error("not a usable GGUF file: {0}")]
    Gguf(#[from] crate::artifact::gguf::GgufError),
    /// A limit on counts (files, chunks) was exceeded.
    #[error("too many {what}: {count} (limit {max})")]
    TooMany {
        /// What was counted.
        what: &'static str,
        /// The count.
        count: usize,
        /// The limit.
        max: usize,
    },
}

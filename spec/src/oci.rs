//! OCI image-spec v1.1 descriptors, image manifests and image indexes, the Docker v2
//! schema 2 forms a registry still receives, and the media types pqreg uses
//! (spec/artifact.md, "OCI documents").
//!
//! Parsing follows the image spec: `schemaVersion` must be 2, sizes are non-negative
//! int64, digests are checked (pqreg accepts `sha256` only), media types follow RFC 6838,
//! embedded `data` must match its descriptor, an image manifest whose config is the empty
//! descriptor must carry `artifactType`. Properties the spec does not define are ignored,
//! as the spec requires ("implementations MUST NOT generate an error if they encounter an
//! unknown property"), so any manifest skopeo, oras or docker pushes is accepted.
//! Duplicate keys and bytes after the document are refused: they let two parsers read one
//! manifest two ways.
//!
//! A manifest's identity is the SHA-256 of the exact bytes pushed ([`digest_of`]); these
//! types never re-encode a document to compute it.

mod error;
pub(crate) mod json;
mod refs;
mod wire;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Digest;

pub use error::FormatError;
pub use refs::{ManifestKind, ManifestRefs, references, sniff_media_type};

/// Largest manifest or index accepted, in bytes (the distribution spec asks registries to
/// accept at least 4 MiB).
pub const MAX_MANIFEST_LEN: usize = 4 << 20;

/// Well-known media types.
pub mod media_types {
    /// OCI image manifest (image-spec `manifest.md`).
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    /// OCI image index (image-spec `image-index.md`).
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    /// OCI image config.
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    /// OCI descriptor.
    pub const OCI_DESCRIPTOR: &str = "application/vnd.oci.descriptor.v1+json";
    /// The empty JSON object `{}` (image-spec v1.1 "Guidance for an Empty Descriptor").
    pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
    /// OCI tar layer.
    pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
    /// OCI gzip tar layer.
    pub const OCI_LAYER_TAR_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    /// OCI zstd tar layer.
    pub const OCI_LAYER_TAR_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
    /// Docker image manifest v2 schema 2.
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    /// Docker manifest list v2.
    pub const DOCKER_MANIFEST_LIST: &str =
        "application/vnd.docker.distribution.manifest.list.v2+json";
    /// Docker container config.
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    /// Docker gzip layer.
    pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    /// Docker foreign (non-distributable) layer, usually fetched from its `urls`.
    pub const DOCKER_FOREIGN_LAYER_GZIP: &str =
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
}

/// The bytes of the empty JSON object the empty descriptor points at.
pub const EMPTY_JSON: &[u8] = b"{}";

/// A content descriptor (image-spec `descriptor.md`), with the `platform` extension that
/// image-index entries may carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "wire::RawDescriptor")]
pub struct Descriptor {
    /// Media type of the referenced content (RFC 6838).
    pub media_type: String,
    /// Digest of the referenced content.
    pub digest: Digest,
    /// Size of the referenced content in bytes (at most `i64::MAX`).
    pub size: u64,
    /// URLs the content may also be fetched from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    /// Arbitrary string metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// The content itself, base64 (RFC 4648); checked against `digest` and `size`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// The artifact type of the referenced manifest, when it is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// Platform of the referenced manifest (image indexes only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

impl Descriptor {
    /// A descriptor with only the three required properties.
    pub fn new(media_type: impl Into<String>, digest: Digest, size: u64) -> Self {
        Descriptor {
            media_type: media_type.into(),
            digest,
            size,
            urls: None,
            annotations: None,
            data: None,
            artifact_type: None,
            platform: None,
        }
    }

    /// The descriptor of `content` under `media_type`.
    pub fn of(media_type: impl Into<String>, content: &[u8]) -> Self {
        Descriptor::new(media_type, Digest::sha256(content), content.len() as u64)
    }

    /// The empty descriptor: `application/vnd.oci.empty.v1+json`, pointing at `{}`, with the
    /// content embedded as image-spec v1.1 recommends.
    pub fn empty() -> Self {
        let mut d = Descriptor::of(media_types::OCI_EMPTY, EMPTY_JSON);
        d.data = Some("e30=".into());
        d
    }

    /// Whether this is the empty descriptor (media type and digest; `data` may be absent).
    pub fn is_empty_descriptor(&self) -> bool {
        self.media_type == media_types::OCI_EMPTY && self.digest == Digest::sha256(EMPTY_JSON)
    }
}

/// Platform of an index entry (image-spec `image-index.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// CPU architecture (`amd64`, `arm64`, ...).
    pub architecture: String,
    /// Operating system (`linux`, ...).
    pub os: String,
    /// Operating system version.
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    /// Required operating system features.
    #[serde(
        rename = "os.features",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_features: Option<Vec<String>>,
    /// CPU variant (`v8`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Reserved by the spec; carried as read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<Vec<String>>,
}

/// An image manifest (image-spec v1.1 `manifest.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "wire::RawManifest")]
pub struct ImageManifest {
    /// Always 2.
    pub schema_version: u32,
    /// `application/vnd.oci.image.manifest.v1+json` when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The artifact type; required when `config` is the empty descriptor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The config blob.
    pub config: Descriptor,
    /// The layer blobs, in order.
    pub layers: Vec<Descriptor>,
    /// The manifest this one refers to (referrers API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Arbitrary string metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

impl ImageManifest {
    /// Parses and checks an OCI image manifest (`mediaType` absent or the OCI one).
    pub fn from_json(bytes: &[u8]) -> Result<Self, FormatError> {
        let raw: wire::RawManifest = json::parse(bytes, MAX_MANIFEST_LEN)?;
        raw.check_media_type(media_types::OCI_MANIFEST, false)?;
        raw.try_into()
    }

    /// Encodes the manifest as compact JSON; push exactly these bytes and name them by
    /// [`digest_of`] them.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("manifest serialization cannot fail: string keys only")
    }

    /// The artifact type the referrers API reports: `artifactType`, else the config's
    /// media type (distribution-spec v1.1, "Listing Referrers").
    pub fn effective_artifact_type(&self) -> &str {
        self.artifact_type
            .as_deref()
            .unwrap_or(&self.config.media_type)
    }
}

/// An image index (image-spec v1.1 `image-index.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "wire::RawIndex")]
pub struct ImageIndex {
    /// Always 2.
    pub schema_version: u32,
    /// `application/vnd.oci.image.index.v1+json` when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The artifact type, if the index is an artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The child manifests.
    pub manifests: Vec<Descriptor>,
    /// The manifest this one refers to (referrers API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Arbitrary string metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

impl ImageIndex {
    /// Parses and checks an OCI image index (`mediaType` absent or the OCI one).
    pub fn from_json(bytes: &[u8]) -> Result<Self, FormatError> {
        let raw: wire::RawIndex = json::parse(bytes, MAX_MANIFEST_LEN)?;
        raw.check_media_type(media_types::OCI_INDEX, false)?;
        raw.try_into()
    }

    /// Encodes the index as compact JSON.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("index serialization cannot fail: string keys only")
    }
}

/// The digest of a document as pushed: SHA-256 of the exact bytes, never of a re-encoding.
pub fn digest_of(bytes: &[u8]) -> Digest {
    Digest::sha256(bytes)
}

/// Checks a media type against RFC 6838 section 4.2: `type/subtype`, each a
/// restricted-name of 1–127 characters starting with a letter or digit. Parameters are
/// not allowed where OCI stores media types.
pub fn check_media_type(mt: &str) -> Result<(), FormatError> {
    fn restricted_name(s: &str) -> bool {
        let b = s.as_bytes();
        !b.is_empty()
            && b.len() <= 127
            && b[0].is_ascii_alphanumeric()
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(c))
    }
    match mt.split_once('/') {
        Some((t, s)) if restricted_name(t) && restricted_name(s) => Ok(()),
        _ => Err(FormatError::BadMediaType(mt.to_owned())),
    }
}

#[cfg(test)]
mod tests;

//! What a pushed manifest points at, for the registry's referrers index and garbage
//! collector: [`references`] parses any manifest type a registry accepts and lists its
//! blobs, child manifests and subject.

use std::collections::BTreeMap;

use super::wire::{RawIndex, RawManifest};
use super::{
    Descriptor, FormatError, ImageIndex, ImageManifest, MAX_MANIFEST_LEN, json, media_types,
};
use crate::Digest;

/// Which kind of manifest a document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ManifestKind {
    /// `application/vnd.oci.image.manifest.v1+json`.
    OciManifest,
    /// `application/vnd.oci.image.index.v1+json`.
    OciIndex,
    /// `application/vnd.docker.distribution.manifest.v2+json`.
    DockerManifest,
    /// `application/vnd.docker.distribution.manifest.list.v2+json`.
    DockerManifestList,
}

impl ManifestKind {
    /// The kind a media type names, if it is a manifest media type this crate parses.
    pub fn from_media_type(mt: &str) -> Option<Self> {
        match mt {
            media_types::OCI_MANIFEST => Some(Self::OciManifest),
            media_types::OCI_INDEX => Some(Self::OciIndex),
            media_types::DOCKER_MANIFEST => Some(Self::DockerManifest),
            media_types::DOCKER_MANIFEST_LIST => Some(Self::DockerManifestList),
            _ => None,
        }
    }

    /// The media type of this kind.
    pub fn media_type(self) -> &'static str {
        match self {
            Self::OciManifest => media_types::OCI_MANIFEST,
            Self::OciIndex => media_types::OCI_INDEX,
            Self::DockerManifest => media_types::DOCKER_MANIFEST,
            Self::DockerManifestList => media_types::DOCKER_MANIFEST_LIST,
        }
    }

    /// Whether this kind lists child manifests (an index or list) rather than blobs.
    pub fn is_index(self) -> bool {
        matches!(self, Self::OciIndex | Self::DockerManifestList)
    }
}

/// Everything a registry needs from a manifest it stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestRefs {
    /// The kind of document.
    pub kind: ManifestKind,
    /// Digest of the exact bytes (the manifest's identity).
    pub digest: Digest,
    /// Length of the bytes.
    pub size: u64,
    /// The `artifactType` property, if present.
    pub artifact_type: Option<String>,
    /// The config descriptor (manifests only).
    pub config: Option<Descriptor>,
    /// The layer descriptors (manifests only), in order.
    pub layers: Vec<Descriptor>,
    /// The child manifest descriptors (indexes and lists only).
    pub manifests: Vec<Descriptor>,
    /// The `subject` descriptor, if present (OCI only).
    pub subject: Option<Descriptor>,
    /// The document's annotations (empty when absent).
    pub annotations: BTreeMap<String, String>,
}

impl ManifestRefs {
    /// The artifact type the referrers API reports for this manifest: `artifactType`,
    /// else the config media type for image manifests, else none
    /// (distribution-spec v1.1, "Listing Referrers").
    pub fn effective_artifact_type(&self) -> Option<&str> {
        self.artifact_type
            .as_deref()
            .or(self.config.as_ref().map(|c| c.media_type.as_str()))
    }

    /// The blobs this manifest keeps alive: config, then layers. Layers with `urls`
    /// (Docker foreign layers) are included; the registry may not hold them.
    pub fn blobs(&self) -> impl Iterator<Item = &Descriptor> {
        self.config.iter().chain(self.layers.iter())
    }
}

/// Parses a manifest of `media_type` (the `Content-Type` it was pushed with; parameters
/// such as `; charset=utf-8` are ignored) and lists what it references.
///
/// Accepts OCI image manifests and indexes (their `mediaType` property, when present,
/// must equal `media_type`) and Docker v2 schema 2 manifests and manifest lists (whose
/// `mediaType` property is required). Refuses anything else with
/// [`FormatError::UnsupportedMediaType`].
pub fn references(bytes: &[u8], media_type: &str) -> Result<ManifestRefs, FormatError> {
    let media_type = media_type.split(';').next().unwrap_or_default().trim();
    let kind = ManifestKind::from_media_type(media_type)
        .ok_or_else(|| FormatError::UnsupportedMediaType(media_type.to_owned()))?;
    let docker = matches!(
        kind,
        ManifestKind::DockerManifest | ManifestKind::DockerManifestList
    );
    let digest = Digest::sha256(bytes);
    let size = bytes.len() as u64;
    if kind.is_index() {
        let raw: RawIndex = json::parse(bytes, MAX_MANIFEST_LEN)?;
        raw.check_media_type(media_type, docker)?;
        let idx = ImageIndex::try_from(raw)?;
        if docker && (idx.subject.is_some() || idx.artifact_type.is_some()) {
            // Not in the Docker schema; an OCI-only property in a Docker list is refused
            // rather than half-honoured.
            return Err(FormatError::Ambiguous(
                "Docker manifest list with OCI-only properties",
            ));
        }
        Ok(ManifestRefs {
            kind,
            digest,
            size,
            artifact_type: idx.artifact_type,
            config: None,
            layers: Vec::new(),
            manifests: idx.manifests,
            subject: idx.subject,
            annotations: idx.annotations.unwrap_or_default(),
        })
    } else {
        let raw: RawManifest = json::parse(bytes, MAX_MANIFEST_LEN)?;
        raw.check_media_type(media_type, docker)?;
        let m = ImageManifest::try_from(raw)?;
        if docker && (m.subject.is_some() || m.artifact_type.is_some()) {
            return Err(FormatError::Ambiguous(
                "Docker manifest with OCI-only properties",
            ));
        }
        Ok(ManifestRefs {
            kind,
            digest,
            size,
            artifact_type: m.artifact_type,
            config: Some(m.config),
            layers: m.layers,
            manifests: Vec::new(),
            subject: m.subject,
            annotations: m.annotations.unwrap_or_default(),
        })
    }
}

/// Guesses the media type of a manifest pushed without a usable `Content-Type`: its
/// `mediaType` property if it names a manifest kind, else an OCI index if it has
/// `manifests`, else an OCI manifest if it has `config`. `None` if it is not a JSON
/// object or none of these hold.
pub fn sniff_media_type(bytes: &[u8]) -> Option<&'static str> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Probe {
        #[serde(default)]
        media_type: Option<String>,
        #[serde(default)]
        manifests: Option<serde::de::IgnoredAny>,
        #[serde(default)]
        config: Option<serde::de::IgnoredAny>,
    }
    if bytes.len() > MAX_MANIFEST_LEN {
        return None;
    }
    let p: Probe = serde_json::from_slice(bytes).ok()?;
    if let Some(kind) = p
        .media_type
        .as_deref()
        .and_then(ManifestKind::from_media_type)
    {
        return Some(kind.media_type());
    }
    match (p.manifests.is_some(), p.config.is_some()) {
        (true, false) => Some(media_types::OCI_INDEX),
        (false, true) => Some(media_types::OCI_MANIFEST),
        _ => None,
    }
}

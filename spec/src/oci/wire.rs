//! The OCI documents as they arrive, before checking: digests as strings, sizes and
//! `schemaVersion` as JSON numbers, so each failure becomes its own [`FormatError`]
//! instead of an opaque serde message. Unknown properties are ignored (image-spec).

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Number;

use super::{
    Descriptor, FormatError, ImageIndex, ImageManifest, Platform, check_media_type, media_types,
};
use crate::Digest;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawDescriptor {
    media_type: String,
    digest: String,
    size: Number,
    #[serde(default)]
    urls: Option<Vec<String>>,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
    #[serde(default)]
    data: Option<String>,
    #[serde(default)]
    artifact_type: Option<String>,
    #[serde(default)]
    platform: Option<Platform>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawManifest {
    schema_version: Number,
    #[serde(default)]
    pub(crate) media_type: Option<String>,
    #[serde(default)]
    artifact_type: Option<String>,
    #[serde(default)]
    config: Option<RawDescriptor>,
    #[serde(default)]
    layers: Option<Vec<RawDescriptor>>,
    #[serde(default)]
    subject: Option<RawDescriptor>,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
    /// An index field; present means the document is ambiguous.
    #[serde(default)]
    manifests: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawIndex {
    schema_version: Number,
    #[serde(default)]
    pub(crate) media_type: Option<String>,
    #[serde(default)]
    artifact_type: Option<String>,
    #[serde(default)]
    manifests: Option<Vec<RawDescriptor>>,
    #[serde(default)]
    subject: Option<RawDescriptor>,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
    /// Manifest fields; present means the document is ambiguous.
    #[serde(default)]
    config: Option<IgnoredAny>,
    #[serde(default)]
    layers: Option<IgnoredAny>,
}

/// Checks a JSON number is an int64 size that is not negative.
pub(crate) fn size(n: &Number) -> Result<u64, FormatError> {
    if let Some(u) = n.as_u64() {
        if u <= i64::MAX as u64 {
            return Ok(u);
        }
    } else if let Some(i) = n.as_i64() {
        return Err(FormatError::NegativeSize(i));
    }
    Err(FormatError::SizeOutOfRange(n.to_string()))
}

fn schema_version(n: &Number) -> Result<u32, FormatError> {
    match n.as_u64() {
        Some(2) => Ok(2),
        _ => Err(FormatError::SchemaVersion(n.to_string())),
    }
}

fn opt_media_type(mt: &Option<String>) -> Result<(), FormatError> {
    mt.as_deref().map_or(Ok(()), check_media_type)
}

fn check_doc_media_type(
    declared: &Option<String>,
    expected: &str,
    required: bool,
) -> Result<(), FormatError> {
    match declared {
        Some(d) if d != expected => Err(FormatError::MediaTypeMismatch {
            declared: d.clone(),
            expected: expected.to_owned(),
        }),
        None if required => Err(FormatError::MissingField("mediaType".into())),
        _ => Ok(()),
    }
}

impl TryFrom<RawDescriptor> for Descriptor {
    type Error = FormatError;

    fn try_from(r: RawDescriptor) -> Result<Self, FormatError> {
        check_media_type(&r.media_type)?;
        opt_media_type(&r.artifact_type)?;
        let digest: Digest = r.digest.parse()?;
        let size = size(&r.size)?;
        for url in r.urls.iter().flatten() {
            if url.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(FormatError::BadUrl(url.clone()));
            }
        }
        if let Some(data) = &r.data {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(data)
                .map_err(|_| FormatError::BadEmbeddedData)?;
            if raw.len() as u64 != size || Digest::sha256(&raw) != digest {
                return Err(FormatError::EmbeddedDataMismatch);
            }
        }
        Ok(Descriptor {
            media_type: r.media_type,
            digest,
            size,
            urls: r.urls,
            annotations: r.annotations,
            data: r.data,
            artifact_type: r.artifact_type,
            platform: r.platform,
        })
    }
}

impl RawManifest {
    /// Checks `mediaType` against what the document was pushed or parsed as.
    pub(crate) fn check_media_type(
        &self,
        expected: &str,
        required: bool,
    ) -> Result<(), FormatError> {
        check_doc_media_type(&self.media_type, expected, required)
    }
}

impl RawIndex {
    /// Checks `mediaType` against what the document was pushed or parsed as.
    pub(crate) fn check_media_type(
        &self,
        expected: &str,
        required: bool,
    ) -> Result<(), FormatError> {
        check_doc_media_type(&self.media_type, expected, required)
    }
}

impl TryFrom<RawManifest> for ImageManifest {
    type Error = FormatError;

    fn try_from(r: RawManifest) -> Result<Self, FormatError> {
        let schema_version = schema_version(&r.schema_version)?;
        if r.manifests.is_some() {
            return Err(FormatError::Ambiguous(
                "image manifest has a manifests field",
            ));
        }
        opt_media_type(&r.media_type)?;
        opt_media_type(&r.artifact_type)?;
        let config = r
            .config
            .ok_or_else(|| FormatError::MissingField("config".into()))?;
        let config = Descriptor::try_from(config)?;
        let layers = r
            .layers
            .ok_or_else(|| FormatError::MissingField("layers".into()))?
            .into_iter()
            .map(Descriptor::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        let subject = r.subject.map(Descriptor::try_from).transpose()?;
        // image-spec v1.1 manifest.md, artifactType: "This MUST be set when
        // config.mediaType is set to the empty value."
        if config.media_type == media_types::OCI_EMPTY && r.artifact_type.is_none() {
            return Err(FormatError::MissingArtifactType);
        }
        Ok(ImageManifest {
            schema_version,
            media_type: r.media_type,
            artifact_type: r.artifact_type,
            config,
            layers,
            subject,
            annotations: r.annotations,
        })
    }
}

impl TryFrom<RawIndex> for ImageIndex {
    type Error = FormatError;

    fn try_from(r: RawIndex) -> Result<Self, FormatError> {
        let schema_version = schema_version(&r.schema_version)?;
        if r.config.is_some() || r.layers.is_some() {
            return Err(FormatError::Ambiguous(
                "image index has a config or layers field",
            ));
        }
        opt_media_type(&r.media_type)?;
        opt_media_type(&r.artifact_type)?;
        let manifests = r
            .manifests
            .ok_or_else(|| FormatError::MissingField("manifests".into()))?
            .into_iter()
            .map(Descriptor::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        let subject = r.subject.map(Descriptor::try_from).transpose()?;
        Ok(ImageIndex {
            schema_version,
            media_type: r.media_type,
            artifact_type: r.artifact_type,
            manifests,
            subject,
            annotations: r.annotations,
        })
    }
}

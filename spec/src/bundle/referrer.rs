//! The OCI 1.1 referrer manifest that stores a bundle next to the model it signs
//! (spec/signing.md, "Storage as a referrer").
//!
//! The bundle JSON is the manifest's single layer; the config is the OCI empty descriptor;
//! `subject` points at the model manifest, so the registry lists the bundle in
//! `GET /v2/<name>/referrers/<digest>` and `oras discover` shows it. The annotations are
//! the ones cosign writes for bundles stored this way, plus the signature algorithm so a
//! puller can pick the ML-DSA bundle without downloading each one.

use serde::{Deserialize, Serialize};

use super::{BUNDLE_MEDIA_TYPE, BundleError};
use crate::Digest;
use crate::dsse::SigningError;
use crate::keys::SignatureAlgorithm;

/// OCI image manifest media type (both the referrer and the model manifest are one).
pub const OCI_MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// The OCI empty config media type.
pub const EMPTY_CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
/// Digest of the empty config `{}`.
pub const EMPTY_CONFIG_DIGEST: &str =
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
/// Annotation naming what the bundle holds (value [`CONTENT_DSSE`]).
pub const ANNOTATION_CONTENT: &str = "dev.sigstore.bundle.content";
/// Value of [`ANNOTATION_CONTENT`] for a DSSE bundle.
pub const CONTENT_DSSE: &str = "dsse-envelope";
/// Annotation carrying the statement's predicate type.
pub const ANNOTATION_PREDICATE_TYPE: &str = "dev.sigstore.bundle.predicateType";
/// Annotation carrying the signature algorithm name (spec/signing.md, "Algorithm names").
pub const ANNOTATION_ALGORITHM: &str = "dev.pqreg.signature.algorithm";
/// Annotation naming the tag the statement is bound to (spec/signing.md §5): a hint that
/// orders the bundles a pull by tag tries, never a check.
pub const ANNOTATION_TAG: &str = "dev.pqreg.signature.tag";

/// The signature algorithm of a bundle, as an entry of a referrers list announces it:
/// `None` unless the entry's `artifactType` is [`BUNDLE_MEDIA_TYPE`] and its
/// [`ANNOTATION_ALGORITHM`] names a known algorithm. The one rule for picking bundles out
/// of a referrers list (pull, `log proof`, `copy`, `--oms-signature`, `recipients`):
/// the ML-DSA ones are the signatures ([`is_ml_dsa_bundle`]), an ECDSA P-256 one is the
/// classical OMS bundle. The announcement only chooses what to download: the bundle's
/// own signature is what is verified.
pub fn bundle_algorithm(entry: &crate::oci::Descriptor) -> Option<SignatureAlgorithm> {
    if entry.artifact_type.as_deref() != Some(BUNDLE_MEDIA_TYPE) {
        return None;
    }
    entry
        .annotations
        .as_ref()
        .and_then(|a| a.get(ANNOTATION_ALGORITHM))
        .and_then(|a| SignatureAlgorithm::from_name(a))
}

/// The tag a bundle's entry in a referrers list announces ([`ANNOTATION_TAG`]), if any.
pub fn bundle_tag(entry: &crate::oci::Descriptor) -> Option<&str> {
    entry
        .annotations
        .as_ref()
        .and_then(|a| a.get(ANNOTATION_TAG))
        .map(String::as_str)
}

/// Whether an entry of a referrers list is an ML-DSA signature bundle (see
/// [`bundle_algorithm`]).
pub fn is_ml_dsa_bundle(entry: &crate::oci::Descriptor) -> bool {
    bundle_algorithm(entry).is_some_and(SignatureAlgorithm::is_ml_dsa)
}

/// A descriptor: media type, digest and size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// The media type.
    pub media_type: String,
    /// The content digest.
    pub digest: Digest,
    /// The content size in bytes.
    pub size: u64,
}

/// The referrer manifest of a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferrerManifest {
    /// The bundle blob (the manifest's only layer).
    pub bundle: Descriptor,
    /// The model manifest the bundle signs.
    pub subject: Descriptor,
    /// The signature algorithm name from [`ANNOTATION_ALGORITHM`], if present.
    pub algorithm: Option<String>,
    /// The tag from [`ANNOTATION_TAG`], if present.
    pub tag: Option<String>,
}

impl ReferrerManifest {
    /// The referrer for `bundle_json` (already serialized) signing `subject`, whose
    /// signature algorithm is named `algorithm`.
    pub fn new(bundle_json: &[u8], subject: Descriptor, algorithm: &str) -> Self {
        Self {
            bundle: Descriptor {
                media_type: BUNDLE_MEDIA_TYPE.to_owned(),
                digest: Digest::sha256(bundle_json),
                size: bundle_json.len() as u64,
            },
            subject,
            algorithm: Some(algorithm.to_owned()),
            tag: None,
        }
    }

    /// The manifest JSON to push (compact, fields in the order of spec/signing.md).
    pub fn to_json(&self) -> Vec<u8> {
        let mut annotations = std::collections::BTreeMap::new();
        annotations.insert(ANNOTATION_CONTENT.to_owned(), CONTENT_DSSE.to_owned());
        annotations.insert(
            ANNOTATION_PREDICATE_TYPE.to_owned(),
            crate::statement::OMS_PREDICATE_TYPE.to_owned(),
        );
        if let Some(a) = &self.algorithm {
            annotations.insert(ANNOTATION_ALGORITHM.to_owned(), a.clone());
        }
        if let Some(t) = &self.tag {
            annotations.insert(ANNOTATION_TAG.to_owned(), t.clone());
        }
        let wire = WireManifest {
            schema_version: 2,
            media_type: OCI_MANIFEST_MEDIA_TYPE.to_owned(),
            artifact_type: BUNDLE_MEDIA_TYPE.to_owned(),
            config: WireConfig {
                media_type: EMPTY_CONFIG_MEDIA_TYPE.to_owned(),
                digest: EMPTY_CONFIG_DIGEST.to_owned(),
                size: 2,
                data: Some("e30=".to_owned()),
            },
            layers: vec![self.bundle.clone()],
            subject: self.subject.clone(),
            annotations,
        };
        // Serializing owned strings cannot fail.
        serde_json::to_vec(&wire).unwrap_or_default()
    }

    /// Reads a referrer manifest and checks it is a bundle referrer: artifactType, the
    /// empty config, exactly one layer of the bundle media type, a subject. Unknown fields
    /// and other annotations are ignored: other tools (cosign) write bundles this way too.
    pub fn from_json(json: &[u8]) -> Result<Self, SigningError> {
        let w: WireManifestIn =
            serde_json::from_slice(json).map_err(|e| BundleError::Json(e.to_string()))?;
        let bad = |what: &'static str| BundleError::BadReferrer(what);
        if w.schema_version != 2 {
            return Err(bad("schemaVersion is not 2").into());
        }
        if w.media_type.as_deref() != Some(OCI_MANIFEST_MEDIA_TYPE) {
            return Err(bad("mediaType is not an OCI image manifest").into());
        }
        if w.artifact_type.as_deref() != Some(BUNDLE_MEDIA_TYPE) {
            return Err(bad("artifactType is not the bundle media type").into());
        }
        if w.config.media_type != EMPTY_CONFIG_MEDIA_TYPE {
            return Err(bad("config is not the empty descriptor").into());
        }
        let [layer] = <[Descriptor; 1]>::try_from(w.layers)
            .map_err(|_| bad("manifest must have exactly one layer"))?;
        if layer.media_type != BUNDLE_MEDIA_TYPE {
            return Err(bad("layer is not a bundle").into());
        }
        let subject = w.subject.ok_or(bad("subject is missing"))?;
        let mut annotations = w.annotations.unwrap_or_default();
        Ok(Self {
            bundle: layer,
            subject,
            algorithm: annotations.remove(ANNOTATION_ALGORITHM),
            tag: annotations.remove(ANNOTATION_TAG),
        })
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireManifest {
    schema_version: u32,
    media_type: String,
    artifact_type: String,
    config: WireConfig,
    layers: Vec<Descriptor>,
    subject: Descriptor,
    annotations: std::collections::BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireConfig {
    media_type: String,
    digest: String,
    size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    data: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireManifestIn {
    schema_version: u32,
    media_type: Option<String>,
    artifact_type: Option<String>,
    config: WireConfig,
    layers: Vec<Descriptor>,
    subject: Option<Descriptor>,
    annotations: Option<std::collections::BTreeMap<String, String>>,
}

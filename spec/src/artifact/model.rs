//! The OCI manifest of a model (spec/artifact.md, "The manifest"): artifactType, config,
//! index layer, chunk layers, and the cross-checks between them and the index.

use std::collections::{BTreeMap, HashMap};

use super::{Config, Index, media_types};
use crate::oci::{Descriptor, FormatError, ImageManifest};

/// A manifest checked to be a pqreg model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelManifest {
    /// The manifest as parsed.
    pub manifest: ImageManifest,
    /// Whether the layers are sealed (encrypted mode).
    pub encrypted: bool,
}

impl ModelManifest {
    /// Builds the manifest of a model from its config bytes, index layer and chunk layers
    /// (distinct, in first-use order).
    pub fn build(
        config: &[u8],
        encrypted: bool,
        index_layer: Descriptor,
        chunk_layers: Vec<Descriptor>,
        annotations: Option<BTreeMap<String, String>>,
    ) -> Self {
        let mut layers = Vec::with_capacity(chunk_layers.len() + 1);
        layers.push(index_layer);
        layers.extend(chunk_layers);
        ModelManifest {
            manifest: ImageManifest {
                schema_version: 2,
                media_type: Some(crate::oci::media_types::OCI_MANIFEST.into()),
                artifact_type: Some(media_types::MODEL.into()),
                config: Descriptor::of(media_types::CONFIG, config),
                layers,
                subject: None,
                annotations,
            },
            encrypted,
        }
    }

    /// Parses manifest bytes and checks they describe a pqreg model.
    pub fn from_json(bytes: &[u8]) -> Result<Self, FormatError> {
        Self::from_manifest(ImageManifest::from_json(bytes)?)
    }

    /// Checks that a parsed manifest describes a pqreg model: artifactType, config media
    /// type, an index at layer 0, chunks after it, all of one mode, no layer twice.
    pub fn from_manifest(manifest: ImageManifest) -> Result<Self, FormatError> {
        let not = |why: String| Err(FormatError::NotModelManifest(why));
        if manifest.artifact_type.as_deref() != Some(media_types::MODEL) {
            return not(format!("artifactType is {:?}", manifest.artifact_type));
        }
        if manifest.config.media_type != media_types::CONFIG {
            return not(format!(
                "config mediaType is {:?}",
                manifest.config.media_type
            ));
        }
        let Some(first) = manifest.layers.first() else {
            return not("no layers".into());
        };
        let (encrypted, chunk_type) = match first.media_type.as_str() {
            media_types::INDEX_ENCRYPTED => (true, media_types::CHUNK_ENCRYPTED),
            media_types::INDEX => (false, media_types::CHUNK),
            other => return not(format!("layer 0 mediaType is {other:?}")),
        };
        let mut seen = HashMap::new();
        for (i, l) in manifest.layers.iter().enumerate() {
            if i > 0 && l.media_type != chunk_type {
                return not(format!("layer {i} mediaType is {:?}", l.media_type));
            }
            if let Some(j) = seen.insert(l.digest, i) {
                return not(format!("layers {j} and {i} are the same blob"));
            }
        }
        Ok(ModelManifest {
            manifest,
            encrypted,
        })
    }

    /// The config descriptor.
    pub fn config(&self) -> &Descriptor {
        &self.manifest.config
    }

    /// The index layer (layer 0).
    pub fn index_layer(&self) -> &Descriptor {
        &self.manifest.layers[0]
    }

    /// The chunk layers (layers 1..).
    pub fn chunk_layers(&self) -> &[Descriptor] {
        &self.manifest.layers[1..]
    }

    /// Checks a config against this manifest: same encryption mode.
    pub fn check_config(&self, config: &Config) -> Result<(), FormatError> {
        if config.is_encrypted() != self.encrypted {
            return Err(FormatError::EncryptionMode(
                "config and layer media types disagree",
            ));
        }
        Ok(())
    }

    /// Checks an index against this manifest: every chunk carries a key exactly when the
    /// model is encrypted, and the index's distinct layers are exactly the chunk layers,
    /// in order, with the same sizes.
    pub fn check_index(&self, index: &Index) -> Result<(), FormatError> {
        for c in index.files.iter().flat_map(|f| &f.chunks) {
            match (self.encrypted, c.key.is_some()) {
                (true, false) => {
                    return Err(FormatError::EncryptionMode(
                        "a chunk of an encrypted model has no key",
                    ));
                }
                (false, true) => {
                    return Err(FormatError::EncryptionMode(
                        "a chunk of an unencrypted model has a key",
                    ));
                }
                _ => {}
            }
            if !self.encrypted && c.padding.is_some() {
                return Err(FormatError::Padding {
                    chunk: c.digest.to_string(),
                    reason: "an unencrypted model is not padded",
                });
            }
        }
        let used = index.layers();
        let have = self.chunk_layers();
        if used.len() != have.len() {
            return Err(FormatError::LayerMismatch(format!(
                "index uses {} layers, manifest has {} chunk layers",
                used.len(),
                have.len()
            )));
        }
        for (i, ((d, size), l)) in used.iter().zip(have).enumerate() {
            if *d != l.digest || *size != l.size {
                return Err(FormatError::LayerMismatch(format!(
                    "chunk layer {}: index says {d} ({size} bytes), manifest {} ({} bytes)",
                    i + 1,
                    l.digest,
                    l.size
                )));
            }
        }
        Ok(())
    }
}

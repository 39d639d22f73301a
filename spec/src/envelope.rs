//! The key envelope: the lineage secret wrapped for each recipient with HPKE
//! (spec/encryption.md).
//!
//! (Skeleton: filled in by its owner; `KeyEnvelope` is the type the artifact config embeds.)

use serde::{Deserialize, Serialize};

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// Placeholder until the module is implemented.
    #[error("not implemented")]
    Unimplemented,
}

/// The lineage secret wrapped for each recipient; carried in the artifact config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyEnvelope {}

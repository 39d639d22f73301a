//! The key envelope: the lineage secret wrapped for each recipient with HPKE
//! (spec/encryption.md, "Key envelope").

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// The system random number generator failed.
    #[error("the system random number generator failed")]
    Random,
}

/// The random 256-bit secret of one model lineage (repository); chunk keys derive from
/// it. Zeroized on drop; never printed.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct LineageSecret([u8; 32]);

impl LineageSecret {
    /// A fresh secret from the system random number generator.
    pub fn generate() -> Result<Self, EnvelopeError> {
        let mut bytes = [0u8; 32];
        aws_lc_rs::rand::fill(&mut bytes).map_err(|_| EnvelopeError::Random)?;
        Ok(Self(bytes))
    }

    /// Wraps raw secret bytes (known-answer tests, or a secret unwrapped elsewhere).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw secret bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for LineageSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LineageSecret(..)")
    }
}

/// The lineage secret wrapped for each recipient; carried in the artifact config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyEnvelope {}

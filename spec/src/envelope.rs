//! The key envelope: the lineage secret wrapped for each recipient with HPKE (spec/encryption.md).
//!
//! (Skeleton: filled in by its owner; see the module list in `lib.rs`.)

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// Placeholder until the module is implemented.
    #[error("not implemented")]
    Unimplemented,
}
